//! The REST API over real sockets: every route, its success shape and its
//! errors, token checks, auth-off mode, request ids as correlation ids, body
//! limits, and the rule that a rejected request changes nothing.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;

use crate::util::{self, poll, raw, request, Resp, TestServer, Ws, API, WAIT};
use partybus::server::{serve, AuthMode, ServeError, ServerConfig};
use partybus::{App, Config};
use serde_json::{json, Value};

const JUNGLE: &str = "jungle theme party for 75 guests";

/// The party's (version, last_seq) once its planning has settled.
fn version(s: &TestServer, party: &str, token: &str) -> (u64, u64) {
    s.settle(party, s.app.bus().unwrap().applied_seq());
    let v = s.status(party, token);
    (
        v["party"]["version"].as_u64().unwrap(),
        v["party"]["last_seq"].as_u64().unwrap(),
    )
}

#[test]
fn create_party_returns_201_with_token_ids_and_urls_from_the_host_header() {
    let s = TestServer::start();
    let body = json!({"initial_inputs": [{"content": JUNGLE}, {"content": "chocolate cake", "tags": ["cake"]}], "user_id": "ana"});
    let r = request(
        s.addr,
        "POST",
        &format!("{API}/party"),
        &[
            ("Host", "party.example:8080"),
            ("Content-Type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["success"], true);
    assert_eq!(v["message"], "Party created successfully");
    let id = v["party_id"].as_str().unwrap();
    assert!(id.starts_with("fp") && id.len() == 14, "{id}");
    assert!(id[2..6].bytes().all(|b| b.is_ascii_digit()));
    assert!(id[6..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
    let token = v["party_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        v["websocket_url"],
        format!("ws://party.example:8080{API}/ws/{id}")
    );
    assert_eq!(
        v["status_url"],
        format!("http://party.example:8080{API}/party/{id}/status")
    );
    assert_eq!(
        r.header("location"),
        Some(format!("{API}/party/{id}/status").as_str())
    );
    let ids: Vec<&str> = v["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let st = s.status(id, token);
    let stored: Vec<&str> = st["party"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["input_id"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ids, "returned ids are the stored ids (D4)");
    assert_eq!(st["party"]["inputs"][0]["added_by"], "ana");
    assert_eq!(st["party"]["created_by"], "ana");
    // The token is never stored or shown in clear, nor its hash.
    assert!(!st.to_string().contains(token));
    assert!(!st.to_string().contains("token_sha256"));
}

#[test]
fn an_empty_body_creates_a_party_and_custom_ids_are_checked() {
    let s = TestServer::start();
    let r = request(s.addr, "POST", &format!("{API}/party"), &[], None);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["input_ids"], json!([]));

    let (id, _, _) = s.create(json!({"party_id": "jungle-bash_1"}));
    assert_eq!(id, "jungle-bash_1");
    let dup = s.call(
        "POST",
        &format!("{API}/party"),
        None,
        Some(&json!({"party_id": "jungle-bash_1"})),
    );
    dup.assert_error(409, "conflict");
    for bad in [
        json!("has space"),
        json!("x".repeat(65)),
        json!("ü"),
        json!(7),
    ] {
        let r = s.call(
            "POST",
            &format!("{API}/party"),
            None,
            Some(&json!({ "party_id": bad })),
        );
        r.assert_error(422, "validation_error");
        assert_eq!(r.json()["field"], "party_id");
    }
}

#[test]
fn an_invalid_initial_input_rejects_the_whole_party() {
    let s = TestServer::start();
    let before = s.app.system_status().unwrap().state_store.total_parties;
    let r = s.call(
        "POST",
        &format!("{API}/party"),
        None,
        Some(&json!({"party_id": "half-made", "initial_inputs": [{"content": "ok"}, {"content": "x", "source_type": "video"}]})),
    );
    r.assert_error(422, "validation_error");
    assert_eq!(r.json()["field"], "initial_inputs[1].source_type");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("text, image, url, upload"));
    assert!(
        s.app.party("half-made").is_none(),
        "nothing was stored (D5)"
    );
    assert_eq!(
        s.app.system_status().unwrap().state_store.total_parties,
        before
    );
    for (body, field) in [
        (json!({"initial_inputs": "jungle"}), "initial_inputs"),
        (
            json!({"initial_inputs": [{"tags": []}]}),
            "initial_inputs[0].content",
        ),
        (json!({"initial_inputs": [7]}), "initial_inputs[0]"),
        (json!({"user_id": 5}), "user_id"),
        (json!([]), "body"),
    ] {
        let r = s.call("POST", &format!("{API}/party"), None, Some(&body));
        r.assert_error(422, "validation_error");
        assert_eq!(r.json()["field"], field, "{body}");
    }
}

#[test]
fn add_input_stores_content_verbatim_and_validates_first() {
    let s = TestServer::start();
    let (id, token, _) = s.create(json!({}));
    let content = "  Chocolate CAKE with  rainbow frosting!  ";
    let r = s.call(
        "POST",
        &format!("{API}/party/{id}/input"),
        Some(&token),
        Some(&json!({"content": content, "source_type": "text", "tags": ["cake"], "metadata": {"from": "test"}, "image_url": "http://img/x.png"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["success"], true);
    assert_eq!(v["message"], "Input added successfully");
    let input_id = v["input_id"].as_str().unwrap().to_string();
    assert!(input_id.starts_with("inp_") && input_id.len() == 12);
    assert!(v["seq"].as_u64().unwrap() > 0);
    let st = s.status(&id, &token);
    let input = &st["party"]["inputs"][0];
    assert_eq!(input["content"], content, "stored verbatim (D1)");
    assert_eq!(input["input_id"], input_id.as_str());
    assert_eq!(input["tags"], json!(["cake"]));
    assert_eq!(input["metadata"], json!({"from": "test"}));
    assert_eq!(input["image_url"], "http://img/x.png");
    assert_eq!(input["added_by"], "user");

    let before = version(&s, &id, &token);
    for (body, field) in [
        (
            json!({"content": "x", "source_type": "video"}),
            "source_type",
        ),
        (
            json!({"content": "x", "source_type": null, "tags": "cake"}),
            "tags",
        ),
        (json!({"content": "x", "tags": ["a", 1]}), "tags[1]"),
        (json!({"content": "x", "metadata": "m"}), "metadata"),
        (json!({"source_type": "text"}), "content"),
        (json!({"content": null}), "content"),
        (json!({"content": ["x"]}), "content"),
        (json!({"content": "x", "input_id": "a/b"}), "input_id"),
        (json!(["content"]), "body"),
    ] {
        let r = s.call(
            "POST",
            &format!("{API}/party/{id}/input"),
            Some(&token),
            Some(&body),
        );
        r.assert_error(422, "validation_error");
        assert_eq!(r.json()["field"], field, "{body}");
    }
    // No body at all: content is missing.
    let r = request(
        s.addr,
        "POST",
        &format!("{API}/party/{id}/input"),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    r.assert_error(422, "validation_error");
    assert_eq!(
        version(&s, &id, &token),
        before,
        "rejected requests change nothing"
    );

    // A client-chosen input id; a duplicate is a conflict.
    let body = json!({"content": "outdoor venue", "input_id": "venue-1"});
    let r = s.call(
        "POST",
        &format!("{API}/party/{id}/input"),
        Some(&token),
        Some(&body),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["input_id"], "venue-1");
    let r = s.call(
        "POST",
        &format!("{API}/party/{id}/input"),
        Some(&token),
        Some(&body),
    );
    r.assert_error(409, "conflict");
}

#[test]
fn remove_input_then_unknown_input_is_404() {
    let s = TestServer::start();
    let (id, token, v) =
        s.create(json!({"initial_inputs": [{"content": JUNGLE}, {"content": "chocolate cake"}]}));
    let first = v["input_ids"][0].as_str().unwrap();
    let path = format!("{API}/party/{id}/input/{first}");
    let r = s.call("DELETE", &path, Some(&token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["success"], true);
    assert_eq!(r.json()["message"], "Input removed successfully");
    let st = s.status(&id, &token);
    assert_eq!(st["party"]["inputs"].as_array().unwrap().len(), 1);
    let before = version(&s, &id, &token);
    s.call("DELETE", &path, Some(&token), None)
        .assert_error(404, "input_not_found");
    s.call(
        "DELETE",
        &format!("{API}/party/{id}/input/nope"),
        Some(&token),
        None,
    )
    .assert_error(404, "input_not_found");
    assert_eq!(version(&s, &id, &token), before);
}

#[test]
fn status_has_the_prototype_fields_plus_version_results_and_errors() {
    let s = TestServer::start();
    let (id, token, v) = s.create(json!({"initial_inputs": [{"content": JUNGLE}]}));
    s.settle(&id, v["seq"].as_u64().unwrap());
    let st = s.status(&id, &token);
    assert_eq!(st["success"], true);
    assert_eq!(st["message"], Value::Null);
    let p = &st["party"];
    for key in [
        "party_id",
        "status",
        "created_at",
        "updated_at",
        "version",
        "last_seq",
        "inputs",
        "agents",
        "budget",
        "final_plan",
    ] {
        assert!(p.get(key).is_some(), "missing {key} in {p}");
    }
    let input = &p["inputs"][0];
    for key in [
        "input_id",
        "content",
        "source_type",
        "tags",
        "added_at",
        "added_by",
    ] {
        assert!(input.get(key).is_some(), "missing input {key}");
    }
    let theme = &p["agents"]["theme_agent"];
    assert_eq!(theme["status"], "completed", "{theme}");
    assert_eq!(theme["result_summary"]["theme"], "jungle");
    assert!(theme["result_summary"]["colors"].as_array().unwrap().len() <= 3);
    assert_eq!(theme["result"]["primary_theme"], "jungle");
    assert!(theme.get("error").is_some());
    for agent in p["agents"].as_object().unwrap().values() {
        for key in [
            "status",
            "confidence",
            "execution_time_ms",
            "result_summary",
            "result",
            "error",
        ] {
            assert!(agent.get(key).is_some(), "agent lacks {key}: {agent}");
        }
    }
    assert!(p["final_plan"].is_object());
    assert!(p["version"].as_u64().unwrap() >= 2);

    let plan = s.get(&format!("{API}/party/{id}/plan"), Some(&token));
    assert_eq!(plan.status, 200);
    let plan = plan.json();
    assert_eq!(plan["success"], true);
    assert_eq!(plan["party_id"], id.as_str());
    assert_eq!(plan["final_plan"], p["final_plan"]);
    assert_eq!(plan["budget"], p["budget"]);
    assert!(plan.get("inputs").is_none(), "the plan alone");
}

#[test]
fn events_are_paged_in_seq_order() {
    let s = TestServer::start();
    let (id, token, v) =
        s.create(json!({"initial_inputs": [{"content": JUNGLE}, {"content": "chocolate cake"}]}));
    s.settle(&id, v["seq"].as_u64().unwrap());
    let all = s
        .get(&format!("{API}/party/{id}/events?limit=1000"), Some(&token))
        .json();
    let all_seqs: Vec<u64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(all_seqs.len() > 4, "{all}");
    assert!(all_seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all["has_more"], false);
    assert_eq!(all["events"][0]["event_type"], "party.created");
    assert_eq!(all["last_seq"], *all_seqs.last().unwrap());

    let mut since = 0;
    let mut paged = Vec::new();
    loop {
        let page = s
            .get(
                &format!("{API}/party/{id}/events?since={since}&limit=3"),
                Some(&token),
            )
            .json();
        let evs = page["events"].as_array().unwrap();
        assert!(evs.len() <= 3);
        paged.extend(evs.iter().map(|e| e["seq"].as_u64().unwrap()));
        since = page["next_since"].as_u64().unwrap();
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!(paged, all_seqs);
    let default = s
        .get(&format!("{API}/party/{id}/events"), Some(&token))
        .json();
    assert_eq!(default["events"], all["events"]);

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("since=-1", "since"),
        ("since=abc", "since"),
    ] {
        let r = s.get(&format!("{API}/party/{id}/events?{q}"), Some(&token));
        r.assert_error(422, "validation_error");
        assert_eq!(r.json()["field"], field);
    }
}

#[test]
fn delete_party_then_every_route_is_404_and_websockets_are_closed() {
    let s = TestServer::start();
    let (id, token, _) = s.create(json!({"initial_inputs": [{"content": JUNGLE}]}));
    let mut ws = Ws::connect(&format!("ws://{}{API}/ws/{id}?token={token}", s.addr)).unwrap();
    assert_eq!(ws.next_json()["type"], "connection");
    let r = s.call("DELETE", &format!("{API}/party/{id}"), Some(&token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["success"], true);
    let (msgs, code) = ws.until_close_code();
    assert!(
        msgs.iter().any(|m| m["type"] == "party_deleted"),
        "{msgs:?}"
    );
    assert!(code.is_some());
    for (method, path) in [
        ("GET", format!("{API}/party/{id}/status")),
        ("GET", format!("{API}/party/{id}/plan")),
        ("GET", format!("{API}/party/{id}/events")),
        ("POST", format!("{API}/party/{id}/input")),
        ("DELETE", format!("{API}/party/{id}/input/x")),
        ("DELETE", format!("{API}/party/{id}")),
    ] {
        let body = (method == "POST").then(|| json!({"content": "x"}));
        s.call(method, &path, Some(&token), body.as_ref())
            .assert_error(404, "party_not_found");
    }
    let r = ws_handshake(&s, &format!("{API}/ws/{id}?token={token}"));
    r.assert_error(404, "party_not_found");
}

#[test]
fn tokens_are_required_and_checked() {
    let s = TestServer::with(ServerConfig {
        admin_token: Some("admin-secret".into()),
        ..ServerConfig::default()
    });
    let (a, ta, _) = s.create(json!({}));
    let (_b, tb, _) = s.create(json!({}));
    let path = format!("{API}/party/{a}/status");
    let r = s.get(&path, None);
    r.assert_error(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    s.get(&path, Some("0123456789abcdef0123456789abcdef"))
        .assert_error(403, "forbidden");
    s.get(&path, Some(&tb)).assert_error(403, "forbidden");
    assert_eq!(s.get(&path, Some(&ta)).status, 200);
    assert_eq!(s.get(&format!("{path}?token={ta}"), None).status, 200);
    assert_eq!(
        s.get(&path, Some("admin-secret")).status,
        200,
        "admin opens every party"
    );
    // A non-Bearer scheme counts as no token.
    let r = request(
        s.addr,
        "GET",
        &path,
        &[("Authorization", &format!("Basic {ta}"))],
        None,
    );
    r.assert_error(401, "unauthorized");
    // Writes too, and a refused write changes nothing.
    let before = version(&s, &a, &ta);
    s.call(
        "POST",
        &format!("{API}/party/{a}/input"),
        Some(&tb),
        Some(&json!({"content": "x"})),
    )
    .assert_error(403, "forbidden");
    s.call("DELETE", &format!("{API}/party/{a}"), None, None)
        .assert_error(401, "unauthorized");
    assert_eq!(version(&s, &a, &ta), before);
    // Unknown parties are 404 whatever the token.
    s.get(&format!("{API}/party/nope/status"), Some(&ta))
        .assert_error(404, "party_not_found");
    // Admin routes.
    for p in [format!("{API}/system/status"), "/metrics".to_string()] {
        s.get(&p, None).assert_error(401, "unauthorized");
        s.get(&p, Some(&ta)).assert_error(403, "forbidden");
        assert_eq!(s.get(&p, Some("admin-secret")).status, 200, "{p}");
        assert_eq!(s.get(&format!("{p}?token=admin-secret"), None).status, 200);
    }
    // WebSocket: missing 401, wrong 403, right 101.
    ws_handshake(&s, &format!("{API}/ws/{a}")).assert_error(401, "unauthorized");
    ws_handshake(&s, &format!("{API}/ws/{a}?token={tb}")).assert_error(403, "forbidden");
    ws_handshake(&s, &format!("{API}/ws/nope?token={ta}")).assert_error(404, "party_not_found");
    assert_eq!(
        ws_handshake(&s, &format!("{API}/ws/{a}?token={ta}")).status,
        101
    );
}

#[test]
fn auth_off_is_open_and_lets_websockets_wait_for_a_party() {
    let s = TestServer::open();
    let mut ws = Ws::connect(&format!("ws://{}{API}/ws/not-yet", s.addr)).unwrap();
    let hello = ws.next_json();
    assert_eq!(hello["type"], "connection");
    let (id, _, _) =
        s.create(json!({"party_id": "not-yet", "initial_inputs": [{"content": JUNGLE}]}));
    let first = ws.next_json();
    assert_eq!(first["party_id"], id.as_str());
    let st = s.get(&format!("{API}/party/{id}/status"), None);
    assert_eq!(st.status, 200);
    let r = s.call(
        "POST",
        &format!("{API}/party/{id}/input"),
        None,
        Some(&json!({"content": "cake"})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.get(&format!("{API}/system/status"), None).status, 200);
    s.get(&format!("{API}/party/other/status"), None)
        .assert_error(404, "party_not_found");
    ws_handshake(&s, &format!("{API}/ws/bad%20id")).assert_error(404, "party_not_found");
}

#[test]
fn auth_off_is_refused_on_a_non_loopback_host() {
    let app = Arc::new(App::start_new(Config::default()).unwrap());
    let r = serve(
        app.clone(),
        ServerConfig {
            host: "0.0.0.0".into(),
            auth: AuthMode::Off,
            ..ServerConfig::default()
        },
    );
    assert!(matches!(r, Err(ServeError::AuthOffNotLoopback(_))));
    app.stop();
}

#[test]
fn system_routes_and_probes() {
    let s = TestServer::start();
    let (id, _, v) = s.create(json!({"initial_inputs": [{"content": JUNGLE}]}));
    s.settle(&id, v["seq"].as_u64().unwrap());
    let st = s.get(&format!("{API}/system/status"), None);
    assert_eq!(st.status, 200, "{}", st.text());
    let st = st.json();
    assert_eq!(st["success"], true);
    let status = &st["status"];
    for key in [
        "orchestrator",
        "event_bus",
        "state_store",
        "agents",
        "agent_runs",
        "dead_letters",
        "queue_depths",
        "uptime_seconds",
        "connections",
    ] {
        assert!(status.get(key).is_some(), "missing {key}");
    }
    assert_eq!(status["orchestrator"]["running"], true);
    assert!(status["event_bus"]["total_published"].as_u64().unwrap() > 0);
    assert_eq!(status["agents"]["theme_agent"], true);
    assert!(status["state_store"]["total_parties"].as_u64().unwrap() >= 1);
    assert!(status["dead_letters"]["total"].is_u64());
    assert!(status["connections"]["websocket_clients"].is_u64());
    // This very request is in flight on an open connection.
    assert!(status["connections"]["http_in_flight"].as_u64().unwrap() >= 1);
    assert!(status["connections"]["http_open"].as_u64().unwrap() >= 1);

    let h = s.get(&format!("{API}/system/health"), None);
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "healthy");
    assert_eq!(h.json()["running"], true);
    assert_eq!(s.get("/livez", None).json()["status"], "alive");
    assert_eq!(s.get("/readyz", None).json()["status"], "ready");
    let health = s.get("/health", None).json();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let head = request(s.addr, "HEAD", "/livez", &[], None);
    assert_eq!(head.status, 200);

    // With the core stopped, readiness and health say so.
    s.app.stop();
    s.get("/readyz", None).assert_error(503, "not_ready");
    s.get(&format!("{API}/system/health"), None)
        .assert_error(503, "not_ready");
    s.get(&format!("{API}/party/{id}/status"), None)
        .assert_error(503, "not_ready");
    assert_eq!(s.get("/livez", None).status, 200);
}

/// An upgraded WebSocket is handed over whole: the HTTP layer neither keeps
/// a thread for it nor counts it as an open HTTP connection.
#[test]
fn websocket_clients_leave_the_http_layer() {
    let s = TestServer::start();
    let (id, token, _) = s.create(json!({}));
    let _clients: Vec<Ws> = (0..3)
        .map(|_| Ws::connect(&format!("ws://{}{API}/ws/{id}?token={token}", s.addr)).unwrap())
        .collect();
    let mut last = Value::Null;
    let settled = poll(std::time::Instant::now() + WAIT, || {
        let st = s.get(&format!("{API}/system/status"), None).json();
        last = st["status"]["connections"].clone();
        // This very request's connection is the only HTTP one.
        last["websocket_clients"] == 3 && last["http_open"] == 1
    });
    assert!(settled, "connections: {last}");
}

#[test]
fn metrics_are_prometheus_text_by_route_and_status() {
    let s = TestServer::start();
    let (id, token, v) = s.create(json!({"initial_inputs": [{"content": JUNGLE}]}));
    s.settle(&id, v["seq"].as_u64().unwrap());
    s.get(&format!("{API}/party/{id}/status"), Some(&token));
    s.get("/nope", None);
    let _ws = Ws::connect(&format!("ws://{}{API}/ws/{id}?token={token}", s.addr)).unwrap();
    let needles = [
        "partybus_http_requests_total{route=\"/api/v1/event-driven/party\",method=\"POST\",status=\"201\"} 1",
        "partybus_http_requests_total{route=\"/api/v1/event-driven/party/{party_id}/status\",method=\"GET\",status=\"200\"} 1",
        "partybus_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "# TYPE partybus_http_request_duration_seconds histogram",
        "partybus_http_request_duration_seconds_bucket{route=\"/api/v1/event-driven/party\",method=\"POST\",status=\"201\",le=\"+Inf\"} 1",
        "partybus_events_published_total{topic=\"party.created\"} 1",
        "partybus_agent_runs_total{agent=\"theme_agent\",outcome=\"completed\"}",
        "partybus_agent_run_duration_seconds_count{agent=\"theme_agent\"}",
        "partybus_websocket_clients 1",
        "partybus_dead_letters_total 0",
        "partybus_ready 1",
    ];
    // A request is counted after its answer is written, so the client can
    // ask for /metrics (on another connection) before the count lands; the
    // assertions below name whatever is still missing at the deadline.
    poll(std::time::Instant::now() + WAIT, || {
        let m = s.get("/metrics", None).text();
        needles.iter().all(|n| m.contains(n))
    });
    let r = s.get("/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let m = r.text();
    for needle in needles {
        assert!(m.contains(needle), "missing {needle:?} in\n{m}");
    }
    // Every sample line is `name{labels} value` with a numeric value.
    for line in m.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample {line:?}");
    }
}

#[test]
fn request_ids_are_echoed_and_become_correlation_ids() {
    let s = TestServer::start();
    let body = json!({"initial_inputs": [{"content": JUNGLE}]}).to_string();
    let r = request(
        s.addr,
        "POST",
        &format!("{API}/party"),
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "req-create-42"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-request-id"), Some("req-create-42"));
    let v = r.json();
    let (id, token) = (
        v["party_id"].as_str().unwrap(),
        v["party_token"].as_str().unwrap(),
    );
    s.settle(id, v["seq"].as_u64().unwrap());
    let add = request(
        s.addr,
        "POST",
        &format!("{API}/party/{id}/input"),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {token}")),
            ("X-Request-Id", "req-add-43"),
        ],
        Some(br#"{"content": "chocolate cake"}"#),
    );
    assert_eq!(add.status, 201);
    s.settle(id, add.json()["seq"].as_u64().unwrap());
    let events = s
        .get(&format!("{API}/party/{id}/events?limit=1000"), Some(token))
        .json();
    let by = |corr: &str| -> Vec<String> {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["correlation_id"] == corr)
            .map(|e| e["event_type"].as_str().unwrap().to_string())
            .collect()
    };
    let created = by("req-create-42");
    assert!(created.contains(&"party.created".to_string()));
    assert!(created.contains(&"party.input.added".to_string()));
    assert!(
        created.contains(&"party.agent.completed".to_string()),
        "{created:?}"
    );
    let added = by("req-add-43");
    assert_eq!(added.first().map(String::as_str), Some("party.input.added"));
    assert!(
        added.len() > 1,
        "agent events carry the request id too: {added:?}"
    );

    // Without one, or with an unusable one, an id is generated.
    let r = s.get("/livez", None);
    assert!(r.header("x-request-id").unwrap().starts_with("corr_"));
    let r = request(
        s.addr,
        "GET",
        "/livez",
        &[("X-Request-Id", "has space")],
        None,
    );
    assert!(r.header("x-request-id").unwrap().starts_with("corr_"));
    let r = request(s.addr, "GET", "/nope", &[("X-Request-Id", "err-1")], None);
    assert_eq!(r.header("x-request-id"), Some("err-1"));
}

fn ws_handshake(s: &TestServer, path: &str) -> Resp {
    request(
        s.addr,
        "GET",
        path,
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        None,
    )
}

#[test]
fn bad_bodies_get_json_errors_and_change_nothing() {
    let s = TestServer::start();
    let (id, token, _) = s.create(json!({"initial_inputs": [{"content": JUNGLE}]}));
    let before = version(&s, &id, &token);
    let path = format!("{API}/party/{id}/input");
    let auth = format!("Bearer {token}");
    let json_ct = ("Content-Type", "application/json");
    // 400 malformed JSON.
    for body in [
        &b"{\"content\": "[..],
        b"not json",
        b"{\"content\": \"x\"} trailing",
    ] {
        request(
            s.addr,
            "POST",
            &path,
            &[json_ct, ("Authorization", &auth)],
            Some(body),
        )
        .assert_error(400, "invalid_json");
    }
    // 415 not JSON.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonp",
    ] {
        request(
            s.addr,
            "POST",
            &path,
            &[("Content-Type", ct), ("Authorization", &auth)],
            Some(br#"{"content":"x"}"#),
        )
        .assert_error(415, "unsupported_media_type");
    }
    request(
        s.addr,
        "POST",
        &path,
        &[("Authorization", &auth)],
        Some(br#"{"content":"x"}"#),
    )
    .assert_error(415, "unsupported_media_type");
    assert_eq!(
        version(&s, &id, &token),
        before,
        "400 and 415 change nothing"
    );
    // A charset parameter is fine.
    let ok = request(
        s.addr,
        "POST",
        &path,
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Authorization", &auth),
        ],
        Some(br#"{"content":"fine"}"#),
    );
    assert_eq!(ok.status, 201, "{}", ok.text());
    let before = version(&s, &id, &token);
    // 413 by Content-Length, without the body being read.
    let big = vec![b' '; 70 * 1024];
    request(
        s.addr,
        "POST",
        &path,
        &[json_ct, ("Authorization", &auth)],
        Some(&big),
    )
    .assert_error(413, "payload_too_large");
    // 413 for a chunked body that grows past the limit.
    let mut chunked = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 4096).as_bytes());
        chunked.extend_from_slice(&[b' '; 4096]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    raw(s.addr, &chunked).assert_error(413, "payload_too_large");
    // 413 for an absurd declared length: answered at once, server unharmed.
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{{"
    )
    .unwrap();
    // tiny_http would allocate the declared size to discard it, so the
    // connection is abandoned after the answer: read the head only.
    let head = util::read_head(&mut BufReader::new(stream));
    assert_eq!(head.status, 413);
    assert!(head.header("x-request-id").is_some());
    assert_eq!(s.get("/livez", None).status, 200);
    assert_eq!(
        version(&s, &id, &token),
        before,
        "rejected requests change nothing"
    );
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let s = TestServer::start();
    // `/` is the planning page (the `web_ui` module); nothing else at the root is.
    for path in [
        "/index.html",
        "/nope",
        "/api/v1/event-driven",
        "/api/v1/event-driven/party/x/unknown",
        "/livez/",
        "/api/v1/event-driven/party//status",
    ] {
        s.get(path, None).assert_error(404, "not_found");
    }
    for (method, path, allow) in [
        ("PUT", format!("{API}/party/x"), "DELETE"),
        ("GET", format!("{API}/party"), "POST"),
        ("POST", "/livez".to_string(), "GET, HEAD"),
        ("DELETE", format!("{API}/party/x/status"), "GET, HEAD"),
        ("PATCH", "/metrics".to_string(), "GET, HEAD"),
        ("OPTIONS", "/openapi.json".to_string(), "GET, HEAD"),
    ] {
        let r = request(s.addr, method, &path, &[], None);
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    // A WebSocket route without the upgrade handshake.
    let (id, token, _) = s.create(json!({}));
    s.get(&format!("{API}/ws/{id}?token={token}"), None)
        .assert_error(400, "bad_upgrade");
    ws_handshake(&s, &format!("{API}/ws/{id}?token={token}&since=x"))
        .assert_error(422, "validation_error");
}

#[test]
fn websocket_first_message_and_live_events() {
    let s = TestServer::start();
    let (id, token, v) = s.create(json!({"initial_inputs": [{"content": JUNGLE}]}));
    s.settle(&id, v["seq"].as_u64().unwrap());
    let mut ws = Ws::connect(&format!(
        "ws://{}{API}/ws/{id}?token={token}&since=0",
        s.addr
    ))
    .unwrap();
    let hello = ws.next_json();
    assert_eq!(hello["type"], "connection");
    assert_eq!(hello["status"], "connected");
    assert_eq!(hello["party_id"], id.as_str());
    let last = hello["last_seq"].as_u64().unwrap();
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let m = ws.next_json();
        for key in ["party_id", "seq", "event_id", "correlation_id", "timestamp"] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        seqs.push(m["seq"].as_u64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let r = s.call(
        "POST",
        &format!("{API}/party/{id}/input"),
        Some(&token),
        Some(&json!({"content": "chocolate cake"})),
    );
    assert_eq!(r.status, 201);
    let m = ws.next_json();
    assert_eq!(m["type"], "input_added");
    assert_eq!(m["seq"], r.json()["seq"]);
}

#[test]
fn shutdown_closes_websockets_and_stops_accepting() {
    let mut s = TestServer::start();
    let (id, token, _) = s.create(json!({}));
    let mut ws = Ws::connect(&format!("ws://{}{API}/ws/{id}?token={token}", s.addr)).unwrap();
    assert_eq!(ws.next_json()["type"], "connection");
    let addr = s.addr;
    s.shutdown();
    let (_, code) = ws.until_close_code();
    assert_eq!(code, Some(1001));
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    assert!(s.app.is_running(), "the app is the caller's to stop");
}

#[test]
fn after_shutdown_a_kept_alive_connection_gets_503() {
    let mut s = TestServer::start();
    let stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let get = format!("GET /livez HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
    writer.write_all(get.as_bytes()).unwrap();
    assert_eq!(util::read_response(&mut reader, false).status, 200);
    s.shutdown();
    // The connection outlives the listener; its next request is refused
    // with a JSON answer, not left hanging or dropped.
    writer.write_all(get.as_bytes()).unwrap();
    util::read_response(&mut reader, false).assert_error(503, "not_ready");
}

#[test]
fn concurrent_creates_all_succeed_with_distinct_ids() {
    let s = TestServer::start();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    s.create(json!({"initial_inputs": [{"content": format!("party {i}")}]}))
                        .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 16);
}

#[test]
fn x_partybus_after_on_one_machine_serves_known_seqs_and_refuses_later_ones() {
    let s = TestServer::start();
    let (party, token, v) = s.create(json!({"initial_inputs": [{"content": "a picnic"}]}));
    let seq = v["seq"].as_u64().unwrap();
    let auth = format!("Bearer {token}");
    let status = |after: &str| {
        request(
            s.addr,
            "GET",
            &format!("{API}/party/{party}/status"),
            &[("Authorization", &auth), ("X-Partybus-After", after)],
            None,
        )
    };
    assert_eq!(status(&seq.to_string()).status, 200);
    // No write ever answered with a later seq: refused at once, not waited on.
    let far = status("999999999");
    far.assert_error(422, "validation_error");
    assert_eq!(far.json()["field"], "X-Partybus-After");
    status("soon").assert_error(422, "validation_error");
    let query = s.get(
        &format!("{API}/party/{party}/plan?after={seq}"),
        Some(&token),
    );
    assert_eq!(query.status, 200);
}
