//! CORS and the WebSocket `Origin` check, black-box over loopback: by default
//! nothing beyond same-origin (no `Access-Control-*` headers, preflights
//! refused); allowed origins get preflights answered from the route table
//! and their responses readable; preflights need no token and are not
//! writes; WebSocket handshakes from other sites are refused.

use crate::util::{request, Resp, TestServer, API};
use partybus::server::{CorsConfig, RateBudget, RateLimits, ServerConfig};
use serde_json::json;

/// The origin the tests allow.
const APP: &str = "https://planner.example.com";
/// An origin nobody allows.
const EVIL: &str = "https://evil.example";

fn server_allowing(origins: &[&str]) -> TestServer {
    TestServer::with(ServerConfig {
        cors: CorsConfig::allowing(origins).expect("valid origins"),
        ..ServerConfig::default()
    })
}

/// A CORS preflight for `method` at `path` from `origin`, as a browser sends
/// it (no token).
fn preflight(s: &TestServer, origin: &str, method: &str, path: &str) -> Resp {
    request(
        s.addr,
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
        ],
        None,
    )
}

/// A WebSocket handshake, with an `Origin` if given.
fn ws_handshake(s: &TestServer, path: &str, origin: Option<&str>) -> Resp {
    let mut headers = vec![
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    if let Some(o) = origin {
        headers.push(("Origin", o));
    }
    request(s.addr, "GET", path, &headers, None)
}

fn access_control_headers(r: &Resp) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .map(|(k, _)| k.as_str())
        .collect()
}

fn assert_readable_by(r: &Resp, origin: &str) {
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(origin),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    let exposed = r
        .header("access-control-expose-headers")
        .expect("exposed headers");
    for h in ["X-Request-Id", "Retry-After", "ETag", "Location"] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
    assert!(r.header("access-control-allow-credentials").is_none());
}

#[test]
fn by_default_nothing_beyond_same_origin() {
    let s = TestServer::start();
    let create = format!("{API}/party");
    // Preflights are refused, whatever the origin, with the JSON error shape.
    for origin in [APP, EVIL, &format!("http://{}", s.addr)] {
        let r = preflight(&s, origin, "POST", &create);
        r.assert_error(403, "cors_origin_not_allowed");
        assert!(r.json()["detail"].as_str().unwrap().contains(origin));
        assert!(access_control_headers(&r).is_empty(), "{:?}", r.headers);
    }
    // Actual requests work as before and carry no CORS header at all.
    let r = request(s.addr, "GET", "/livez", &[("Origin", APP)], None);
    assert_eq!(r.status, 200);
    assert!(access_control_headers(&r).is_empty(), "{:?}", r.headers);
    assert!(r.header("vary").is_none());
    // The planning page's own POSTs (browsers send Origin on them) work.
    let same = format!("http://{}", s.addr);
    let r = request(
        s.addr,
        "POST",
        &create,
        &[("Origin", &same), ("Content-Type", "application/json")],
        Some(b"{}"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(access_control_headers(&r).is_empty());
    // An OPTIONS that is not a preflight is routed as before: 405.
    let r = request(s.addr, "OPTIONS", &create, &[("Origin", APP)], None);
    r.assert_error(405, "method_not_allowed");
}

#[test]
fn an_allowed_origins_preflight_lists_the_methods_its_path_serves() {
    let s = server_allowing(&[APP]);
    for (method, path, allow) in [
        ("POST", format!("{API}/party"), "POST"),
        ("POST", format!("{API}/party/p1/input"), "POST"),
        ("DELETE", format!("{API}/party/p1/input/inp_1"), "DELETE"),
        ("DELETE", format!("{API}/party/p1"), "DELETE"),
        ("GET", format!("{API}/party/p1/status"), "GET, HEAD"),
        ("HEAD", "/livez".to_string(), "GET, HEAD"),
    ] {
        let r = preflight(&s, APP, method, &path);
        assert_eq!(r.status, 204, "{method} {path}: {}", r.text());
        assert!(r.body.is_empty());
        assert_eq!(r.header("access-control-allow-methods"), Some(allow));
        let headers = r
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase();
        for h in [
            "authorization",
            "content-type",
            "idempotency-key",
            "x-other-token",
            "x-partybus-after",
            "x-request-id",
        ] {
            assert!(headers.contains(h), "{h} not allowed: {headers}");
        }
        assert_eq!(r.header("access-control-max-age"), Some("7200"));
        assert_readable_by(&r, APP);
    }
}

#[test]
fn preflights_of_unknown_paths_and_unserved_methods_answer_like_the_request() {
    let s = server_allowing(&[APP]);
    let r = preflight(&s, APP, "GET", "/nope");
    r.assert_error(404, "not_found");
    assert!(r.json()["detail"].as_str().unwrap().contains("GET /nope"));
    assert_readable_by(&r, APP);
    let r = preflight(&s, APP, "PUT", &format!("{API}/party/p1"));
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("DELETE"));
    assert!(r.json()["detail"].as_str().unwrap().contains("PUT"));
    assert!(r.header("access-control-allow-methods").is_none());
}

#[test]
fn actual_responses_to_an_allowed_origin_are_readable_by_it_only() {
    let s = server_allowing(&[APP, "http://localhost:3000"]);
    let r = request(
        s.addr,
        "POST",
        &format!("{API}/party"),
        &[("Origin", APP), ("Content-Type", "application/json")],
        Some(json!({"party_id": "cors-party"}).to_string().as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_readable_by(&r, APP);
    assert!(r.header("location").is_some());
    let token = r.json()["party_token"].as_str().unwrap().to_string();
    let status = format!("{API}/party/cors-party/status");
    let auth = format!("Bearer {token}");
    let r = request(
        s.addr,
        "GET",
        &status,
        &[
            ("Origin", "http://localhost:3000"),
            ("Authorization", &auth),
        ],
        None,
    );
    assert_eq!(r.status, 200);
    assert_readable_by(&r, "http://localhost:3000");
    // Errors too, so a page can read the JSON error.
    let r = request(s.addr, "GET", &status, &[("Origin", APP)], None);
    r.assert_error(401, "unauthorized");
    assert_readable_by(&r, APP);
    // Another origin's request is answered (the browser withholds it from
    // the page), without CORS headers; responses vary by Origin.
    let r = request(
        s.addr,
        "GET",
        &status,
        &[("Origin", EVIL), ("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(access_control_headers(&r).is_empty(), "{:?}", r.headers);
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = request(s.addr, "GET", "/livez", &[], None);
    assert!(access_control_headers(&r).is_empty());
    assert_eq!(r.header("vary"), Some("Origin"));
}

#[test]
fn a_disallowed_origins_preflight_is_refused() {
    let s = server_allowing(&[APP]);
    for origin in [EVIL, "http://planner.example.com", "null"] {
        let r = preflight(&s, origin, "POST", &format!("{API}/party"));
        r.assert_error(403, "cors_origin_not_allowed");
        assert!(r.header("access-control-allow-origin").is_none());
        assert!(r.header("access-control-allow-methods").is_none());
    }
}

#[test]
fn star_allows_any_origin_and_echoes_it() {
    let s = server_allowing(&["*"]);
    let r = preflight(&s, EVIL, "GET", "/health");
    assert_eq!(r.status, 204);
    assert_readable_by(&r, EVIL);
}

#[test]
fn preflights_need_no_token_and_are_not_writes() {
    // One write at once, refilled once in 1,000 s; creating the party uses
    // it up, so a preflight counted as a write would get 429.
    let s = TestServer::with(ServerConfig {
        cors: CorsConfig::allowing([APP]).unwrap(),
        rate_limits: RateLimits {
            writes: RateBudget {
                per_second: 0.001,
                burst: 1.0,
            },
            ..RateLimits::default()
        },
        ..ServerConfig::default()
    });
    let (id, token, _) = s.create(json!({}));
    for path in [
        format!("{API}/party/{id}/input"),
        format!("{API}/party/{id}/token"),
    ] {
        for _ in 0..5 {
            let r = preflight(&s, APP, "POST", &path);
            assert_eq!(r.status, 204, "{path}: {}", r.text());
        }
    }
    let r = preflight(&s, APP, "DELETE", &format!("{API}/party/{id}"));
    assert_eq!(r.status, 204, "{}", r.text());
    // The write budget really is spent; the page can read why.
    let auth = format!("Bearer {token}");
    let r = request(
        s.addr,
        "POST",
        &format!("{API}/party/{id}/input"),
        &[
            ("Origin", APP),
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"content": "chocolate cake"}"#),
    );
    r.assert_error(429, "rate_limited");
    assert_readable_by(&r, APP);
}

#[test]
fn websocket_handshakes_from_other_sites_are_refused() {
    let s = TestServer::start();
    let (id, token, _) = s.create(json!({}));
    let path = format!("{API}/ws/{id}?token={token}");
    let own = format!("http://{}", s.addr);
    assert_eq!(ws_handshake(&s, &path, None).status, 101, "no Origin");
    assert_eq!(
        ws_handshake(&s, &path, Some(&own)).status,
        101,
        "same origin"
    );
    for origin in [APP, EVIL, "null"] {
        let r = ws_handshake(&s, &path, Some(origin));
        r.assert_error(403, "cors_origin_not_allowed");
    }
    // The check comes before the token's: a foreign page learns nothing.
    let r = ws_handshake(&s, &format!("{API}/ws/{id}"), Some(EVIL));
    r.assert_error(403, "cors_origin_not_allowed");

    let s = server_allowing(&[APP]);
    let (id, token, _) = s.create(json!({}));
    let path = format!("{API}/ws/{id}?token={token}");
    let own = format!("http://{}", s.addr);
    assert_eq!(ws_handshake(&s, &path, None).status, 101);
    assert_eq!(ws_handshake(&s, &path, Some(&own)).status, 101);
    assert_eq!(ws_handshake(&s, &path, Some(APP)).status, 101, "allowed");
    ws_handshake(&s, &path, Some(EVIL)).assert_error(403, "cors_origin_not_allowed");
    // The token is still required from an allowed origin.
    ws_handshake(&s, &format!("{API}/ws/{id}"), Some(APP)).assert_error(401, "unauthorized");
}
