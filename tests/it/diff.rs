//! `GET /party/{a}/diff/{b}` and `partybus diff` against the built binary:
//! who may compare two parties (both tokens, or the admin token), what the
//! diff says about a what-if (more guests than the venue holds), and the
//! same JSON read offline from the data directory once the server stopped.

use serde_json::{json, Value};

use crate::util::{
    self, bin_command, exit_within, output_within, signal, Resp, Served, TempDir, API, WAIT,
};

const ADMIN: &str = "diff-admin-secret";

/// A party planned on `served` from one input; returns (id, token), once
/// its plan is made (waiting on its WebSocket stream).
fn planned(served: &Served, request: &str) -> (String, String) {
    let (party, token, _) = util::plan_on(served, request);
    (party, token)
}

fn get_diff(served: &Served, a: &str, b: &str, headers: &[(&str, &str)]) -> Resp {
    util::request(
        served.addr,
        "GET",
        &format!("{API}/party/{a}/diff/{b}"),
        headers,
        None,
    )
}

#[test]
fn the_diff_route_and_command_agree_on_a_what_if() {
    let data = TempDir::new("diff");
    let dir = data.0.join("d");
    let dir = dir.to_str().expect("utf-8 path");
    let mut served = Served::start(
        &["--port", "0", "--data-dir", dir],
        &[("PARTYBUS_ADMIN_TOKEN", ADMIN)],
    );
    let (a, ta) = planned(
        &served,
        "birthday party for 30 guests in Lakewood, indoor venue",
    );
    let (b, tb) = planned(
        &served,
        "birthday party for 50 guests in Lakewood, indoor venue",
    );
    let (bearer_a, bearer_b) = (format!("Bearer {ta}"), format!("Bearer {tb}"));
    let admin = format!("Bearer {ADMIN}");

    // a's token and b's in X-Other-Token.
    let r = get_diff(
        &served,
        &a,
        &b,
        &[("Authorization", &bearer_a), ("X-Other-Token", &tb)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let from_route = r.json();
    assert_eq!(
        (from_route["a"].as_str(), from_route["b"].as_str()),
        (Some(&*a), Some(&*b))
    );
    let guests = from_route["facts"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["fact"] == "guests"))
        .unwrap_or_else(|| panic!("no guests fact: {from_route}"));
    assert_eq!(
        (guests["a"].as_u64(), guests["b"].as_u64()),
        (Some(30), Some(50))
    );
    let venue = from_route["areas"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["area"] == "venue"))
        .unwrap_or_else(|| panic!("no venue area: {from_route}"));
    assert_eq!(venue["change"], "changed", "{venue}");
    assert!(
        venue["a"]["supplier"]["capacity"]
            .as_u64()
            .is_some_and(|c| c < 50),
        "{venue}"
    );
    assert!(
        venue["reasons"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("capacity"))),
        "{venue}"
    );
    assert!(from_route["summary"][0]
        .as_str()
        .is_some_and(|s| s.starts_with("Guests 30 → 50: the venue changed from ")));

    // Without b's token: 401; with a wrong one, or a's token for both: 403.
    get_diff(&served, &a, &b, &[("Authorization", &bearer_a)]).assert_error(401, "unauthorized");
    get_diff(
        &served,
        &a,
        &b,
        &[("Authorization", &bearer_a), ("X-Other-Token", "nope")],
    )
    .assert_error(403, "forbidden");
    get_diff(
        &served,
        &a,
        &b,
        &[("Authorization", &bearer_a), ("X-Other-Token", &ta)],
    )
    .assert_error(403, "forbidden");
    // Without a's token: 401; with b's: 403.
    get_diff(&served, &a, &b, &[("X-Other-Token", &tb)]).assert_error(401, "unauthorized");
    get_diff(
        &served,
        &a,
        &b,
        &[("Authorization", &bearer_b), ("X-Other-Token", &tb)],
    )
    .assert_error(403, "forbidden");
    // An unknown party on either side: 404 naming it.
    let r = get_diff(&served, &a, "nobody", &[("Authorization", &bearer_a)]);
    r.assert_error(404, "party_not_found");
    assert!(r.json()["detail"]
        .as_str()
        .is_some_and(|d| d.contains("nobody")));
    let r = get_diff(&served, "nobody", &b, &[("X-Other-Token", &tb)]);
    r.assert_error(404, "party_not_found");
    // The admin token opens both: the same bytes as with both tokens.
    let r = get_diff(&served, &a, &b, &[("Authorization", &admin)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), from_route);

    // Offline, once the server stopped: the same JSON, and a text form.
    let pid = served.pid();
    signal(pid, "-TERM");
    assert!(exit_within(served.take(), WAIT).success());
    let run = |args: &[&str]| {
        let child = bin_command(&[&["diff"], args, &["--data-dir", dir]].concat(), &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn diff");
        output_within(child, "partybus diff", WAIT)
    };
    let out = run(&[&a, &b]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(offline, from_route);
    let out = run(&[&a, &b, "--format", "text"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Guests 30 → 50: the venue changed"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("venue") && l.contains("changed")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("total")), "{text}");
    // Unknown party: exit 1 naming it.
    let out = run(&[&a, "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
}
