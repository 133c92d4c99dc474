//! `POST /party/{id}/fork` against the built binary: a what-if ("50 guests
//! instead of 30") that re-runs only the agents the change concerns, over
//! HTTP and the fork's WebSocket stream; who may fork; bad bodies; and a
//! fork that outlives its original across a restart.

use serde_json::{json, Value};

use crate::util::{self, exit_within, signal, Resp, Served, TempDir, Ws, API, WAIT};

fn post(served: &Served, path: &str, token: Option<&str>, body: &Value) -> Resp {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b));
    }
    util::request(
        served.addr,
        "POST",
        path,
        &headers,
        Some(body.to_string().as_bytes()),
    )
}

fn get(served: &Served, path: &str, token: &str) -> Resp {
    let bearer = format!("Bearer {token}");
    util::request(
        served.addr,
        "GET",
        path,
        &[("Authorization", &bearer)],
        None,
    )
}

/// Forks `party` on `served` and follows the fork's stream until its plan
/// is made; returns the fork's answer and the stream's events.
pub(crate) fn fork_and_follow(
    served: &Served,
    party: &str,
    token: &str,
    body: &Value,
) -> (Value, Vec<Value>) {
    let r = post(
        served,
        &format!("{API}/party/{party}/fork"),
        Some(token),
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let forked = r.json();
    let (id, fork_token) = (
        forked["party_id"].as_str().expect("party_id"),
        forked["party_token"].as_str().expect("party_token"),
    );
    let mut ws = Ws::connect(&format!(
        "ws://{}{API}/ws/{id}?since=0&token={fork_token}",
        served.addr
    ))
    .expect("connect");
    // With changes, the fork's own wave ends with a second plan (the first
    // is the copied one).
    let mut plans = 0;
    let wanted = if body["changes"].as_array().is_some_and(|c| !c.is_empty()) {
        2
    } else {
        1
    };
    let events = ws.events_until(|e| {
        plans += usize::from(e["type"] == "plan_updated");
        plans == wanted
    });
    (forked, events)
}

fn ran(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent_started")
        .filter_map(|e| e["agent"].as_str().map(str::to_string))
        .collect()
}

pub(crate) fn reused(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "agent_completed" && e["payload"]["reused_from"].is_string())
        .filter_map(|e| e["agent"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_what_if_fork_reruns_only_what_changed_and_diffs_against_its_original() {
    let data = TempDir::new("fork");
    let dir = data.0.join("d");
    let dir = dir.to_str().expect("utf-8 path");
    let mut served = Served::start(&["--port", "0", "--data-dir", dir], &[]);
    let create = json!({"initial_inputs": [
        {"content": "dinosaur theme birthday party"},
        {"content": "30 guests in Austin"},
        {"content": "a chocolate cake"},
        {"content": "we need a photographer"},
    ]});
    let r = post(&served, &format!("{API}/party"), None, &create);
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let party = created["party_id"].as_str().expect("id").to_string();
    let token = created["party_token"].as_str().expect("token").to_string();
    let thirty = created["input_ids"][1]
        .as_str()
        .expect("input id")
        .to_string();
    let mut ws = Ws::connect(&format!(
        "ws://{}{API}/ws/{party}?since=0&token={token}",
        served.addr
    ))
    .expect("connect");
    ws.events_until(|e| e["type"] == "plan_updated");

    // What if 50 came instead of 30?
    let (forked, events) = fork_and_follow(
        &served,
        &party,
        &token,
        &json!({"changes": [
            {"remove": thirty},
            {"add": {"content": "50 guests in Austin"}},
        ]}),
    );
    let fork = forked["party_id"].as_str().expect("fork id").to_string();
    let fork_token = forked["party_token"].as_str().expect("token").to_string();
    assert_ne!(fork, party);
    assert_ne!(fork_token, token, "a fork has its own token");
    assert_eq!(forked["forked_from"]["party_id"], json!(party));
    assert!(forked["forked_from"]["seq"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(forked["input_ids"].as_array().map(Vec::len), Some(1));
    // The stream tells the copy from the new work.
    let created = events
        .iter()
        .find(|e| e["type"] == "party_created")
        .expect("party_created");
    assert_eq!(created["payload"]["forked_from"]["party_id"], json!(party));
    let copied = events
        .iter()
        .filter(|e| e["type"] == "input_added" && e["payload"]["copied_from"].is_string())
        .count();
    assert_eq!(copied, 4);
    let (rerun, reuse) = (ran(&events), reused(&events));
    for agent in ["venue_agent", "cake_agent", "catering_agent"] {
        assert!(
            rerun.iter().any(|a| a == agent),
            "{agent} did not run: {rerun:?}"
        );
    }
    for agent in ["theme_agent", "vendor_agent"] {
        assert!(
            !rerun.iter().any(|a| a == agent),
            "{agent} ran again: {rerun:?}"
        );
        assert!(
            reuse.iter().any(|a| a == agent),
            "{agent} not reused: {reuse:?}"
        );
    }

    // The fork's status says where it came from and what it reused.
    let status = get(&served, &format!("{API}/party/{fork}/status"), &fork_token).json();
    assert_eq!(status["party"]["forked_from"]["party_id"], json!(party));
    assert!(status["party"]["agents"]["theme_agent"]["reused_from"].is_string());
    assert!(status["party"]["agents"]["venue_agent"]["reused_from"].is_null());

    // The difference: the guests, and what they change.
    let bearer = format!("Bearer {token}");
    let d = util::request(
        served.addr,
        "GET",
        &format!("{API}/party/{party}/diff/{fork}"),
        &[("Authorization", &bearer), ("X-Other-Token", &fork_token)],
        None,
    );
    assert_eq!(d.status, 200, "{}", d.text());
    let guests = d.json()["facts"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["fact"] == "guests").cloned())
        .unwrap_or_else(|| panic!("no guests fact: {}", d.text()));
    assert_eq!(
        (guests["a"].as_u64(), guests["b"].as_u64()),
        (Some(30), Some(50))
    );

    // Deleting the original leaves the fork whole, across a restart too.
    let r = util::request(
        served.addr,
        "DELETE",
        &format!("{API}/party/{party}"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let before = get(&served, &format!("{API}/party/{fork}/plan"), &fork_token);
    assert_eq!(before.status, 200);
    signal(served.pid(), "-TERM");
    assert!(exit_within(served.take(), WAIT).success());
    let served = Served::start(&["--port", "0", "--data-dir", dir], &[]);
    let after = get(&served, &format!("{API}/party/{fork}/plan"), &fork_token);
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(after.json(), before.json());
    // And it forks again: a fork of the fork, with nothing to re-run.
    let (again, events) = fork_and_follow(&served, &fork, &fork_token, &json!({}));
    assert_eq!(again["forked_from"]["party_id"], json!(fork));
    assert_eq!(ran(&events), Vec::<String>::new());
}

#[test]
fn forks_need_the_party_token_and_a_valid_body() {
    let served = Served::start(&["--port", "0", "--ephemeral"], &[]);
    let (party, token, seq) = util::plan_on(&served, "pirate party for 12 kids");
    let path = format!("{API}/party/{party}/fork");
    post(&served, &path, None, &json!({})).assert_error(401, "unauthorized");
    post(
        &served,
        &path,
        Some("0123456789abcdef0123456789abcdef"),
        &json!({}),
    )
    .assert_error(403, "forbidden");
    post(
        &served,
        &format!("{API}/party/nope/fork"),
        Some(&token),
        &json!({}),
    )
    .assert_error(404, "party_not_found");
    let bad = [
        json!({"changes": {"add": {"content": "x"}}}),
        json!({"changes": [{"add": {"content": "x"}, "remove": "a"}]}),
        json!({"changes": [{"replace": "a"}]}),
        json!({"changes": [{"remove": "no such input"}]}),
        json!({"changes": [{"remove": "inp_nope"}]}),
        json!({"changes": [{"add": {"tags": ["no content"]}}]}),
        json!({"at_seq": -1}),
        json!({"at_seq": "3"}),
        json!({"at_seq": seq + 1_000_000}),
        json!({"at_seq": 0}),
        json!({"party_id": "not a valid id"}),
    ];
    for body in bad {
        let r = post(&served, &path, Some(&token), &body);
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        let v = r.json();
        assert_eq!(v["success"], false, "{v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    }
    post(&served, &path, Some(&token), &json!({"party_id": party})).assert_error(409, "conflict");
    let r = post(
        &served,
        &path,
        Some(&token),
        &json!({"party_id": "my-what-if"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["party_id"], "my-what-if");
}
