//! The built binary: `--help`, `--version`, `plan` (text and JSON), `serve`
//! flags and environment fallbacks, refusals, and graceful exit on SIGTERM
//! and SIGINT. Waits are channel receives with deadlines (log lines, a
//! child's exit): see [`util::Served`].

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{self, exit_within, signal, Served};

/// How long shutdown may take (the contract says 5 s).
const STOP: Duration = Duration::from_secs(5);

/// Every child here keeps its journal in memory.
const EPHEMERAL: (&str, &str) = ("PARTYBUS_EPHEMERAL", "true");

fn run(args: &[&str]) -> std::process::Output {
    util::bin_command(args, &[EPHEMERAL])
        .output()
        .expect("run partybus")
}

#[test]
fn help_and_version() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("plan"), "{text}");
    let out = run(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--host",
        "--port",
        "--log-level",
        "--catalog",
        "--auth",
        "--admin-token",
        "API_HOST",
        "API_PORT",
        "LOG_LEVEL",
        "PARTYBUS_ADMIN_TOKEN",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}");
    }
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("partybus {}", partybus::build_info::long_version())
    );
    let out = run(&["plan"]);
    assert!(!out.status.success(), "plan needs at least one input");
}

#[test]
fn plan_prints_json_with_a_plan() {
    let out = run(&[
        "plan",
        "jungle theme party for 75 guests",
        "chocolate cake",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["inputs"][0]["content"],
        "jungle theme party for 75 guests"
    );
    assert!(v["final_plan"]["completion_percent"].is_u64(), "{v}");
    assert!(v["final_plan"]["next_steps"].is_array());
    assert!(v["budget"]["total_budget"]["max"].is_u64());
    assert_eq!(
        v["agents"]["theme_agent"]["result"]["primary_theme"],
        "jungle"
    );
}

#[test]
fn plan_prints_readable_text() {
    let out = run(&["plan", "jungle theme party for 75 guests"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Party fp",
        "% complete",
        "Theme: jungle",
        "Budget: $",
        "Next steps",
        "Checklist (",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

/// `partybus serve <args>`, in memory, ready.
fn spawn_serve(args: &[&str], env: &[(&str, &str)]) -> Served {
    Served::start(args, &[&[EPHEMERAL], env].concat())
}

fn stops_gracefully_on(sig: &str) {
    let mut s = spawn_serve(&["--port", "0"], &[]);
    let r = util::request(s.addr, "GET", "/readyz", &[], None);
    assert_eq!(r.status, 200);
    let body = json!({"initial_inputs": [{"content": "space party for 20 kids"}]}).to_string();
    let r = util::request(
        s.addr,
        "POST",
        "/api/v1/event-driven/party",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201);
    let mut ws = util::Ws::connect(&format!(
        "ws://{}/api/v1/event-driven/ws/{}?token={}",
        s.addr,
        r.json()["party_id"].as_str().unwrap(),
        r.json()["party_token"].as_str().unwrap()
    ))
    .unwrap();
    assert_eq!(ws.next_json()["type"], "connection");
    let began = Instant::now();
    signal(s.pid(), sig);
    let (_, code) = ws.until_close_code();
    assert_eq!(code, Some(1001), "WebSockets are closed with 1001");
    let status = exit_within(s.take(), STOP);
    assert!(status.success(), "exit status {status:?}");
    assert!(began.elapsed() < STOP);
    let log: Vec<String> = s.lines.try_iter().collect();
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:?}");
    assert!(std::net::TcpStream::connect(s.addr).is_err());
}

#[test]
fn serve_exits_0_on_sigterm() {
    stops_gracefully_on("-TERM");
}

#[test]
fn serve_exits_0_on_sigint() {
    stops_gracefully_on("-INT");
}

#[test]
fn serve_reads_its_settings_from_the_environment() {
    let mut s = spawn_serve(
        &[],
        &[
            ("API_HOST", "127.0.0.1"),
            ("API_PORT", "0"),
            ("PARTYBUS_AUTH", "off"),
            ("PARTYBUS_ADMIN_TOKEN", "adm"),
            ("LOG_LEVEL", "info"),
        ],
    );
    let r = util::request(
        s.addr,
        "POST",
        "/api/v1/event-driven/party",
        &[("Content-Type", "application/json")],
        Some(br#"{"party_id": "env-party"}"#),
    );
    assert_eq!(r.status, 201);
    let r = util::request(
        s.addr,
        "GET",
        "/api/v1/event-driven/party/env-party/status",
        &[],
        None,
    );
    assert_eq!(r.status, 200, "auth is off: no token needed");
    let r = util::request(s.addr, "GET", "/metrics", &[], None);
    assert_eq!(r.status, 401, "the admin token still guards /metrics");
    let r = util::request(
        s.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer adm")],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(
        s.early
            .iter()
            .any(|l| l.contains("[WARN]") && l.contains("authentication is OFF")),
        "auth off is logged as a warning: {:?}",
        s.early
    );
    signal(s.pid(), "-TERM");
    assert!(exit_within(s.take(), STOP).success());
}

#[test]
fn auth_off_on_a_public_host_is_refused() {
    let out = run(&["serve", "--auth", "off", "--host", "0.0.0.0", "--port", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing --auth off"), "{err}");
}

#[test]
fn cors_origins_come_from_the_flag_or_the_environment_and_are_validated() {
    for (bad, says) in [
        ("https://app.example.com/", "without a trailing /"),
        ("app.example.com", "has no scheme"),
        ("https://*.example.com", "wildcards"),
    ] {
        let out = run(&["serve", "--port", "0", "--cors-origin", bad]);
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid --cors-origin") && err.contains(bad) && err.contains(says),
            "{err}"
        );
    }
    let mut s = spawn_serve(
        &["--port", "0", "--cors-origin", "https://a.example"],
        &[(
            "PARTYBUS_CORS_ORIGINS",
            "https://b.example, http://localhost:3000",
        )],
    );
    let preflight = |origin: &str| cors_preflight(s.addr, origin);
    // The flag wins over the environment, as for every flag.
    assert_eq!(preflight("https://a.example"), 204);
    assert_eq!(preflight("https://b.example"), 403);
    signal(s.pid(), "-TERM");
    assert!(exit_within(s.take(), STOP).success());

    let mut s = spawn_serve(
        &["--port", "0"],
        &[(
            "PARTYBUS_CORS_ORIGINS",
            "https://b.example, http://localhost:3000,",
        )],
    );
    let preflight = |origin: &str| cors_preflight(s.addr, origin);
    assert_eq!(preflight("https://b.example"), 204);
    assert_eq!(preflight("http://localhost:3000"), 204);
    assert_eq!(preflight("https://a.example"), 403);
    signal(s.pid(), "-TERM");
    assert!(exit_within(s.take(), STOP).success());
}

#[test]
fn a_bad_catalog_is_a_clear_error() {
    let out = run(&[
        "serve",
        "--port",
        "0",
        "--catalog",
        "/nonexistent/catalog.json",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/catalog.json"), "{err}");

    let dir = std::env::temp_dir().join(format!("partybus-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"venues\": 7}").unwrap();
    let out = run(&["plan", "x", "--catalog", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("catalog"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status of a CORS preflight for creating a party, from `origin`.
fn cors_preflight(addr: std::net::SocketAddr, origin: &str) -> u16 {
    util::request(
        addr,
        "OPTIONS",
        "/api/v1/event-driven/party",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    )
    .status
}
