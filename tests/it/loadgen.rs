//! `partybus loadgen` against a real server on 127.0.0.1:0: every mode for
//! a short bounded run, with auth on (tokens from create responses) and
//! with auth off and `--token-mode none` (subscribe before create, the
//! prototype's way). Open loop (`--rate`) and the latency-vs-throughput
//! sweep (`--sweep`) through the binary. Asserts zero errors, the counts,
//! and the JSON shape; never timings (an achieved rate only within a wide
//! bound, at a rate far below what the server can do). `--spread`: one
//! load over two independent servers at once (create and read modes), and
//! e2e across the two nodes of a Redis cluster where `redis-server` exists.
//! The run's parties are deleted at its end unless `--keep` (counted on
//! the server's `/metrics`); `--html` writes one self-contained report and
//! `--hist` HdrHistogram `.hgrm` files that parse.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::util::redis::Redis;
use crate::util::{poll, Served, TempDir, TestServer, WAIT};
use loadgen::{LoadConfig, Mode, Report, Scenario, TokenMode};
use serde_json::Value;

/// Units per run: small, so the suite stays fast on two shared cores.
const UNITS: u64 = 20;

fn config(server: &TestServer, mode: Mode, tokens: TokenMode, scenario: Scenario) -> LoadConfig {
    let mut c = LoadConfig::new(
        &format!("http://{}", server.addr),
        4,
        Some(Duration::from_secs(60)),
        Some(UNITS),
        scenario,
        mode,
        tokens,
    )
    .expect("valid config");
    c.progress = false;
    c
}

fn run(server: &TestServer, mode: Mode, tokens: TokenMode, scenario: Scenario) -> Report {
    run_config(&config(server, mode, tokens, scenario))
}

fn run_config(config: &LoadConfig) -> Report {
    let report = loadgen::run(config).expect("loadgen runs");
    assert_eq!(report.error_count, 0, "errors: {:?}", report.errors);
    assert!(report.errors.is_empty());
    report
}

/// The server's live parties, as its `/metrics` counts them.
fn live_parties(server: &TestServer) -> u64 {
    let text = server.get("/metrics", None).text();
    text.lines()
        .find_map(|l| l.strip_prefix("partybus_parties "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no partybus_parties in\n{text}")) as u64
}

/// Waits until the server has no live party (deletes are acknowledged
/// before every view has caught up); fails the test after [`WAIT`].
fn assert_no_parties_left(server: &TestServer) {
    let gone = poll(Instant::now() + WAIT, || live_parties(server) == 0);
    assert!(gone, "{} parties left", live_parties(server));
}

/// Every party the run created was deleted, none failed.
fn assert_cleaned(report: &Report, created: u64) {
    let c = &report.cleanup;
    assert!(!c.kept);
    assert_eq!(
        (c.parties, c.deleted, c.failed),
        (created, created, 0),
        "{c:?}"
    );
    assert!(c.errors.is_empty(), "{c:?}");
}

/// The steps a mode measures, each with exactly `UNITS` samples.
fn assert_steps(report: &Report, steps: &[&str]) {
    let got: Vec<&str> = report.steps.keys().copied().collect();
    let mut want = steps.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    for s in steps {
        assert_eq!(report.steps[s].count, UNITS, "step {s}");
    }
}

const E2E_STEPS: [&str; 9] = [
    "create",
    "ws_connect",
    "plan",
    "add_input",
    "add_plan",
    "remove_input",
    "remove_plan",
    "status",
    "party",
];

fn assert_e2e(report: &Report) {
    assert_eq!(report.parties, UNITS);
    assert_eq!(report.requests, 4 * UNITS);
    assert_steps(report, &E2E_STEPS);
    // At least the greeting, the agents' messages and three plans each.
    assert!(report.ws_messages >= 5 * UNITS, "{}", report.ws_messages);
}

#[test]
fn e2e_with_auth_on() {
    let server = TestServer::start();
    let report = run(&server, Mode::E2e, TokenMode::Auto, Scenario::Jungle);
    assert_e2e(&report);
    // Every party, plus the probe that found tokens on, was created and
    // then deleted with its own token.
    assert_cleaned(&report, UNITS + 1);
    assert_no_parties_left(&server);
    assert_eq!(report.token_mode, TokenMode::Auto);
}

#[test]
fn keep_leaves_the_runs_parties_on_the_server() {
    let server = TestServer::start();
    let mut c = config(&server, Mode::E2e, TokenMode::Auto, Scenario::Jungle);
    c.keep = true;
    let report = run_config(&c);
    assert!(report.cleanup.kept);
    assert_eq!(report.cleanup.parties, UNITS + 1);
    assert_eq!(report.cleanup.deleted, 0);
    assert_eq!(live_parties(&server), UNITS + 1);
    assert!(report
        .table()
        .contains("kept the 21 parties created (--keep)"));
}

#[test]
fn e2e_with_auth_off_subscribing_before_create() {
    let server = TestServer::open();
    let report = run(&server, Mode::E2e, TokenMode::None, Scenario::Mixed);
    assert_e2e(&report);
    // No tokens: deleted without one, as auth off allows.
    assert_cleaned(&report, UNITS);
    assert_no_parties_left(&server);
}

#[test]
fn create_mode() {
    for (server, tokens) in [
        (TestServer::start(), TokenMode::Auto),
        (TestServer::open(), TokenMode::None),
    ] {
        let report = run(&server, Mode::Create, tokens, Scenario::Princess);
        assert_eq!((report.parties, report.requests), (UNITS, UNITS));
        // Deleting is not measured: still one sample per create.
        assert_steps(&report, &["create"]);
        assert_cleaned(&report, UNITS);
        assert_no_parties_left(&server);
    }
}

#[test]
fn read_mode() {
    for (server, tokens) in [
        (TestServer::start(), TokenMode::Auto),
        (TestServer::open(), TokenMode::None),
    ] {
        let report = run(&server, Mode::Read, tokens, Scenario::Space);
        assert_eq!((report.parties, report.requests), (0, UNITS));
        assert_steps(&report, &["status"]);
        // The pool goes too.
        assert!(report.cleanup.parties >= 16, "{:?}", report.cleanup);
        assert_cleaned(&report, report.cleanup.parties);
        assert_no_parties_left(&server);
    }
}

#[test]
fn input_mode() {
    for (server, tokens) in [
        (TestServer::start(), TokenMode::Auto),
        (TestServer::open(), TokenMode::None),
    ] {
        let before = server.app.stats().expect("stats");
        let mut c = config(&server, Mode::Input, tokens, Scenario::Jungle);
        c.keep = true;
        let report = run_config(&c);
        assert_eq!(report.requests, UNITS);
        assert_steps(&report, &["add_input"]);
        let after = server.app.stats().expect("stats");
        // The pool's parties came with the jungle scenario's three inputs each.
        let pool = after.total_parties - before.total_parties;
        assert!(pool >= 16, "{pool}");
        let added = after.total_inputs - before.total_inputs - 3 * pool;
        assert_eq!(added as u64, UNITS);
    }
}

#[test]
fn a_wrong_token_mode_is_reported_as_errors_not_a_crash() {
    // Auth on, but no tokens sent: every party fails at its first
    // authorised step, and the table names the error.
    let server = TestServer::start();
    let report = loadgen::run(&config(
        &server,
        Mode::E2e,
        TokenMode::None,
        Scenario::Jungle,
    ))
    .expect("loadgen runs");
    assert_eq!(report.parties, 0);
    assert_eq!(report.error_count, UNITS);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let kind = report.errors.keys().next().expect("one kind");
    assert!(kind.starts_with("ws_handshake"), "{kind}");
}

#[test]
fn an_unreachable_server_fails_fast() {
    // Bind and drop, so the port is (almost certainly) closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let c = LoadConfig::new(
        &format!("http://{addr}"),
        1,
        None,
        Some(1),
        Scenario::Jungle,
        Mode::Create,
        TokenMode::Auto,
    )
    .expect("config");
    let err = loadgen::run(&c).expect_err("nothing listens");
    assert!(err.to_string().contains("does not answer"), "{err}");
}

/// The binary: the table on stdout and every figure in `--json`.
#[test]
fn the_binary_writes_the_table_and_json() {
    let server = TestServer::start();
    let args = [
        "--concurrency",
        "3",
        "--parties",
        "9",
        "--scenario",
        "mixed",
        "--fail-on-errors",
    ];
    let (ok, stdout, stderr, v) = loadgen_binary(&url(&server), &args);
    assert!(ok, "{stdout}\n{stderr}");
    for word in ["parties 9", "p99 ms", "plan", "remove_plan", "cpu: loadgen"] {
        assert!(stdout.contains(word), "{word:?} missing from\n{stdout}");
    }
    let v = v.expect("json written");
    assert_eq!(v["mode"], "e2e");
    assert_eq!(v["scenario"], "mixed");
    assert_eq!(v["token_mode"], "auto");
    assert_eq!(v["concurrency"], 3);
    assert_eq!(v["parties"], 9);
    assert_eq!(v["requests"], 36);
    assert_eq!(v["error_count"], 0);
    assert_eq!(v["units"], 9);
    assert!(v["open_loop"].is_null(), "closed loop: {}", v["open_loop"]);
    assert!(v["errors"].as_object().is_some_and(|e| e.is_empty()));
    for key in [
        "units_per_s",
        "elapsed_s",
        "parties_per_s",
        "requests_per_s",
        "ws_messages",
    ] {
        assert!(v[key].is_number(), "{key}: {v}");
    }
    for step in E2E_STEPS {
        let s = &v["steps"][step];
        assert_eq!(s["count"], 9, "{step}");
        for k in [
            "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
        ] {
            assert!(s[k].as_f64().is_some_and(|x| x > 0.0), "{step}.{k}: {s}");
        }
    }
    assert!(v["cpu"]["loadgen_s"].is_number());
    assert!(v["cpu"]["loadgen_cores"].is_number());
    assert!(v["cpu"]["server_s"].is_null());
    assert!(v["machine"]["nproc"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(
        v["machine"]["load_before"].as_array().map(Vec::len),
        Some(3)
    );
}

/// Two servers in one command line, loaded one after the other with the
/// same settings: a table each, a comparison, and a JSON array.
#[test]
fn the_binary_compares_servers_side_by_side() {
    let on = TestServer::start();
    let off = TestServer::open();
    let both = format!("{},{}", url(&on), url(&off));
    let args = [
        "--concurrency",
        "2",
        "--parties",
        "6",
        "--quiet",
        "--fail-on-errors",
    ];
    let (ok, stdout, stderr, v) = loadgen_binary(&both, &args);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches("partybus loadgen: e2e mode").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("server"), "{stdout}");
    let v = v.expect("json written");
    let runs = v.as_array().expect("an array of runs");
    assert_eq!(runs.len(), 2);
    for (run, server) in runs.iter().zip([&on, &off]) {
        assert_eq!(run["url"], format!("http://{}", server.addr));
        assert_eq!(run["parties"], 6);
        assert_eq!(run["error_count"], 0);
    }
}

/// The server's base URL, as `--url` takes it.
fn url(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

/// Runs the binary with `args` against `url` (one or several, comma
/// separated), writing `--json` to a temporary file; the exit status,
/// stdout, stderr and the parsed JSON (if written).
fn loadgen_binary(url: &str, args: &[&str]) -> (bool, String, String, Option<Value>) {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "partybus-loadgen-{}-run{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("out.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_partybus"))
        .args(["loadgen", "--url", url])
        .args(args)
        .arg("--json")
        .arg(&json)
        .env_remove("PARTYBUS_URL")
        .output()
        .expect("runs");
    let v = std::fs::read(&json)
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("JSON"));
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        v,
    )
}

/// Open loop at a rate far below what the server can do: every scheduled
/// party is started, each timed from its scheduled start, and the run says
/// how well it kept to the schedule.
#[test]
fn the_binary_runs_open_loop_at_a_fixed_rate() {
    let server = TestServer::start();
    let (ok, stdout, stderr, v) = loadgen_binary(
        &url(&server),
        &[
            "--rate",
            "20",
            "--duration",
            "2s",
            "--concurrency",
            "4",
            "--quiet",
            "--fail-on-errors",
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("open loop: requested 20.0/s"), "{stdout}");
    let v = v.expect("json written");
    let ol = &v["open_loop"];
    assert_eq!(ol["requested_per_s"], 20.0);
    // Due at 0, 50 ms, ..., 1950 ms: 40 parties in 2 s.
    assert_eq!(ol["scheduled"], 40);
    assert_eq!(ol["started"].as_u64(), v["parties"].as_u64());
    assert_eq!(
        ol["started"]
            .as_u64()
            .zip(ol["unsent"].as_u64())
            .map(|(s, u)| s + u),
        Some(40)
    );
    let achieved = ol["achieved_per_s"].as_f64().expect("achieved");
    assert!((10.0..=30.0).contains(&achieved), "achieved {achieved}/s");
    assert!(ol["behind_at_end_ms"].as_f64().is_some_and(|b| b >= 0.0));
    assert!(ol["kept_up"].is_boolean());
    assert!(ol["percent_of_max"].is_null());
    let late = &ol["late"];
    assert_eq!(late["count"], ol["started"]);
    assert_eq!(v["steps"]["plan"]["count"], v["parties"]);
    assert!(v["steps"]["plan"]["p999_ms"]
        .as_f64()
        .is_some_and(|p| p > 0.0));
}

/// One command gives the curve: a closed-loop run, then open loop at the
/// given shares of its maximum, a table each, the curve, and a JSON array.
#[test]
fn the_binary_sweeps_a_latency_vs_throughput_curve() {
    let server = TestServer::start();
    let (ok, stdout, stderr, v) = loadgen_binary(
        &url(&server),
        &[
            "--mode",
            "create",
            "--sweep",
            "25,50",
            "--duration",
            "1s",
            "--concurrency",
            "2",
            "--quiet",
            "--fail-on-errors",
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches("partybus loadgen: create mode").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("latency vs throughput"), "{stdout}");
    assert!(stdout.contains("50 % of max"), "{stdout}");
    let v = v.expect("json written");
    let runs = v.as_array().expect("an array of runs");
    assert_eq!(runs.len(), 3);
    assert!(runs[0]["open_loop"].is_null());
    let max = runs[0]["units_per_s"].as_f64().expect("max");
    assert!(max > 0.0);
    for (run, pct) in runs[1..].iter().zip([25.0, 50.0]) {
        let ol = &run["open_loop"];
        assert_eq!(ol["percent_of_max"], pct);
        let requested = ol["requested_per_s"].as_f64().expect("rate");
        assert!(
            (requested - max * pct / 100.0).abs() < 1e-6,
            "{requested} vs {max}"
        );
        assert_eq!(run["error_count"], 0);
    }
}

#[test]
fn the_binary_refuses_bad_rates_sweeps_and_report_paths() {
    let server = TestServer::start();
    for (args, word) in [
        (&["--rate", "0"][..], "--rate"),
        (&["--rate=-3"][..], "--rate"),
        (&["--rate", "10", "--sweep", "50"][..], "--sweep"),
        (&["--sweep", "50,0"][..], "--sweep"),
        (&["--sweep", "50", "--parties", "10"][..], "--parties"),
        (&["--html", "/nonexistent-dir/r.html"][..], "--html"),
    ] {
        let (ok, stdout, stderr, v) = loadgen_binary(&url(&server), args);
        assert!(!ok, "{args:?} was accepted: {stdout}");
        assert!(stderr.contains(word), "{args:?}: {stderr}");
        assert!(v.is_none(), "{args:?} wrote a report");
    }
    // Refused before any load.
    assert_eq!(live_parties(&server), 0);
}

/// `--spread` over two independent servers: one run, one table naming both,
/// one JSON report; the clients take the servers in turn, so both get
/// parties and together exactly the count asked for.
#[test]
fn the_binary_spreads_one_load_over_two_servers() {
    let a = TestServer::start();
    let b = TestServer::start();
    let both = format!("{},{}", url(&a), url(&b));
    let args = [
        "--spread",
        "--mode",
        "create",
        "--concurrency",
        "4",
        "--parties",
        "20",
        "--keep",
        "--quiet",
        "--fail-on-errors",
    ];
    let (ok, stdout, stderr, v) = loadgen_binary(&both, &args);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches("partybus loadgen: create mode").count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("spread over 2 servers"), "{stdout}");
    assert!(
        stdout.contains(&url(&a)) && stdout.contains(&url(&b)),
        "{stdout}"
    );
    let v = v.expect("json written");
    assert!(v.is_object(), "one report, not an array: {v}");
    assert_eq!(v["urls"], serde_json::json!([url(&a), url(&b)]));
    assert_eq!(v["parties"], 20);
    assert_eq!(v["error_count"], 0);
    let created = |s: &TestServer| s.app.stats().expect("stats").total_parties as u64;
    let (on_a, on_b) = (created(&a), created(&b));
    assert!(on_a > 0 && on_b > 0, "a {on_a}, b {on_b}");
    assert_eq!(on_a + on_b, 20);
}

/// Read mode spread over independent servers: each client reads the pool
/// parties created on its own server, so nothing crosses and nothing fails.
#[test]
fn spread_read_mode_keeps_each_client_on_its_own_servers_pool() {
    let a = TestServer::start();
    let b = TestServer::open();
    let mut c = config(&a, Mode::Read, TokenMode::Auto, Scenario::Space);
    c.keep = true;
    c = c.spread(&[url(&a), url(&b)]).expect("spread");
    let report = loadgen::run(&c).expect("loadgen runs");
    assert_eq!(report.error_count, 0, "errors: {:?}", report.errors);
    assert_eq!(report.requests, UNITS);
    assert_eq!(report.urls.len(), 2);
    // The pool (16 parties at 4 clients) is split between the two.
    for s in [&a, &b] {
        assert!(s.app.stats().expect("stats").total_parties >= 8);
    }
}

#[test]
fn the_binary_refuses_spread_with_one_url() {
    let server = TestServer::start();
    let (ok, stdout, stderr, v) = loadgen_binary(&url(&server), &["--spread", "--quiet"]);
    assert!(!ok, "accepted: {stdout}");
    assert!(
        stderr.contains("--spread needs at least two --url"),
        "{stderr}"
    );
    assert!(v.is_none());
}

/// e2e spread over two cluster nodes on one Redis: every party is created
/// on one node and streamed from the other, and the nodes' CPU is summed
/// from both pids. Skips where `redis-server` is not installed.
#[test]
fn the_binary_spreads_e2e_over_a_cluster_across_nodes() {
    let Some(redis) = Redis::start() else {
        return eprintln!("skipped: redis-server not installed");
    };
    let node = |id: &str| redis.node(id, 4, &[]);
    let (n1, n2) = (node("n1"), node("n2"));
    let both = format!("http://{},http://{}", n1.addr, n2.addr);
    let pids = format!("{},{}", n2.pid(), n1.pid());
    let args = [
        "--spread",
        "--concurrency",
        "4",
        "--parties",
        "8",
        "--server-pid",
        &pids,
        "--quiet",
        "--fail-on-errors",
    ];
    let (ok, stdout, stderr, v) = loadgen_binary(&both, &args);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("each WebSocket on the next one"),
        "{stdout}"
    );
    assert!(stdout.contains("2 servers"), "{stdout}");
    let v = v.expect("json written");
    assert_eq!(v["parties"], 8);
    assert_eq!(v["error_count"], 0);
    assert_eq!(v["steps"]["plan"]["count"], 8);
    assert_eq!(v["cpu"]["server_pids"], 2);
    assert!(
        v["cpu"]["server_s"].as_f64().is_some_and(|s| s > 0.0),
        "{v}"
    );
}

/// A `.hgrm` file, checked: the header, rows whose percentiles, values and
/// counts never go down and end at 100 %, and the footer. Returns the
/// footer's total count.
fn parse_hgrm(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).expect("hgrm written");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"],
        "{}",
        path.display()
    );
    assert_eq!(lines.next(), Some(""));
    let mut rows: Vec<(f64, f64, u64)> = Vec::new();
    let mut footer = Vec::new();
    for line in lines {
        if line.starts_with("#[") {
            footer.push(line);
            continue;
        }
        assert!(footer.is_empty(), "a row after the footer: {line}");
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() == 4 || f.len() == 3, "{line}");
        let num = |i: usize| f[i].parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        rows.push((num(0), num(1), num(2) as u64));
    }
    assert!(rows.len() >= 2, "{text}");
    for w in rows.windows(2) {
        assert!(w[0].0 <= w[1].0, "values go down: {w:?}");
        assert!(w[0].1 <= w[1].1, "percentiles go down: {w:?}");
        assert!(w[0].2 <= w[1].2, "counts go down: {w:?}");
    }
    let last = rows.last().expect("rows");
    assert_eq!(last.1, 1.0, "the last row is 100 %");
    assert_eq!(footer.len(), 3, "{text}");
    assert!(footer[0].starts_with("#[Mean    = ") && footer[0].contains("StdDeviation"));
    assert!(footer[2].starts_with("#[Buckets = ") && footer[2].contains("SubBuckets"));
    let total: u64 = footer[1]
        .split("Total count    =")
        .nth(1)
        .and_then(|t| t.trim().trim_end_matches(']').trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", footer[1]));
    assert_eq!(last.2, total, "the 100 % row counts every sample");
    total
}

/// The HTML report stands alone: SVG charts, no script, nothing loaded from
/// the network, every step named.
fn assert_self_contained_html(html: &str, steps: &[&str]) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80]);
    assert!(html.contains("<svg"), "no chart");
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script");
    for attr in ["src=", "href=", "url(", "@import"] {
        for quote in ["", "\"", "'"] {
            for scheme in ["http:", "https:", "//"] {
                let load = format!("{attr}{quote}{scheme}");
                assert!(!lower.contains(&load), "a network load: {load}");
            }
        }
    }
    assert!(!lower.contains("<link"), "a linked resource");
    for step in steps {
        assert!(html.contains(&format!(">{step}<")), "step {step} not named");
    }
}

/// `--html` and `--hist` on one e2e run: a report naming every step, and
/// one `.hgrm` per step whose count is the step's.
#[test]
fn the_binary_writes_an_html_report_and_hgrm_files() {
    let server = TestServer::start();
    let dir = TempDir::new("loadgen-html");
    let html = dir.0.join("report.html");
    let hist = dir.0.join("hist");
    let (ok, stdout, stderr, v) = loadgen_binary(
        &url(&server),
        &[
            "--concurrency",
            "2",
            "--parties",
            "6",
            "--quiet",
            "--fail-on-errors",
            "--html",
            html.to_str().expect("utf-8 path"),
            "--hist",
            hist.to_str().expect("utf-8 path"),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let v = v.expect("json written");
    let text = std::fs::read_to_string(&html).expect("html written");
    assert_self_contained_html(&text, &E2E_STEPS);
    for word in [
        "Latency by percentile",
        "99%",
        "throughput",
        "Errors",
        "cleanup",
    ] {
        assert!(text.contains(word), "{word:?} missing");
    }
    // The server's version, as /health reports it, and the cleanup.
    assert_eq!(v["server_version"], env!("CARGO_PKG_VERSION"));
    assert!(text.contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(v["cleanup"]["deleted"], 7);
    assert!(text.contains("deleted 7 of 7 parties"), "cleanup not shown");
    for step in E2E_STEPS {
        let total = parse_hgrm(&hist.join(format!("{step}.hgrm")));
        assert_eq!(Some(total), v["steps"][step]["count"].as_u64(), "{step}");
    }
    let files = std::fs::read_dir(&hist).expect("hist dir").count();
    assert_eq!(files, E2E_STEPS.len());
}

/// Two servers compared: one report with a line per URL, `.hgrm` files per
/// URL and step; with `--server-pid`, the CPU chart.
#[test]
fn the_binary_reports_several_servers_and_sweeps_in_one_html_file() {
    let on = TestServer::start();
    let off = TestServer::open();
    let dir = TempDir::new("loadgen-html2");
    let html = dir.0.join("compare.html");
    let hist = dir.0.join("hist");
    let both = format!("{},{}", url(&on), url(&off));
    let (ok, stdout, stderr, v) = loadgen_binary(
        &both,
        &[
            "--mode",
            "create",
            "--concurrency",
            "2",
            "--parties",
            "5",
            "--quiet",
            "--fail-on-errors",
            "--html",
            html.to_str().expect("utf-8 path"),
            "--hist",
            hist.to_str().expect("utf-8 path"),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(v.expect("json").as_array().map(Vec::len), Some(2));
    let text = std::fs::read_to_string(&html).expect("html written");
    assert_self_contained_html(&text, &["create"]);
    // Each run is named by its server, in the legend and the tables.
    assert!(
        text.contains("<figcaption class=\"legend\"><span>"),
        "no legend"
    );
    for s in [&on, &off] {
        assert!(text.contains(&url(s)), "{} not named", url(s));
    }
    let mut names: Vec<String> = std::fs::read_dir(&hist)
        .expect("hist dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("run1-") && names[0].ends_with("-create.hgrm"));
    assert!(names[1].starts_with("run2-") && names[1].ends_with("-create.hgrm"));
    for n in &names {
        assert_eq!(parse_hgrm(&hist.join(n)), 5, "{n}");
    }

    // A sweep against one server, with its pid: the runs named by load,
    // and the CPU chart.
    let server = Served::start(
        &["--port", "0", "--auth", "off"],
        &[("PARTYBUS_EPHEMERAL", "true")],
    );
    let sweep_html = dir.0.join("sweep.html");
    let pid = server.pid().to_string();
    let (ok, stdout, stderr, _) = loadgen_binary(
        &format!("http://{}", server.addr),
        &[
            "--mode",
            "create",
            "--token-mode",
            "none",
            "--sweep",
            "50",
            "--duration",
            "1s",
            "--concurrency",
            "2",
            "--server-pid",
            &pid,
            "--quiet",
            "--fail-on-errors",
            "--html",
            sweep_html.to_str().expect("utf-8 path"),
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&sweep_html).expect("html written");
    assert_self_contained_html(&text, &["create"]);
    for word in ["closed loop", "50 % of max", "CPU (cores)"] {
        assert!(text.contains(word), "{word:?} missing");
    }
}

/// Spread over two servers, without `--keep`: each party is deleted on
/// the server it was created on, with its token where it had one.
#[test]
fn the_binary_deletes_its_parties_on_every_server_it_spread_over() {
    let a = TestServer::start();
    let b = TestServer::open();
    let both = format!("{},{}", url(&a), url(&b));
    let args = [
        "--spread",
        "--mode",
        "create",
        "--concurrency",
        "4",
        "--parties",
        "20",
        "--quiet",
        "--fail-on-errors",
    ];
    let (ok, stdout, stderr, v) = loadgen_binary(&both, &args);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("cleanup: deleted 20 of 20 parties"),
        "{stdout}"
    );
    let v = v.expect("json written");
    assert_eq!(v["cleanup"]["deleted"], 20);
    assert_eq!(v["cleanup"]["failed"], 0);
    assert_eq!(v["cleanup"]["kept"], false);
    assert_no_parties_left(&a);
    assert_no_parties_left(&b);
}

/// A server whose party cap is below the read pool: the pool cannot be
/// filled, the run fails saying so, and the parties it did create are
/// deleted on the way out, so the server is usable again.
#[test]
fn a_pool_that_hits_the_party_cap_fails_and_leaves_no_party_behind() {
    let server = TestServer::with_app(
        partybus::Config {
            limits: partybus::app::Limits {
                max_parties: 10,
                ..partybus::app::Limits::default()
            },
            ..partybus::Config::default()
        },
        partybus::server::ServerConfig::default(),
    );
    // Four clients want a pool of 16.
    let err = loadgen::run(&config(
        &server,
        Mode::Read,
        TokenMode::Auto,
        Scenario::Jungle,
    ))
    .expect_err("the pool does not fit under the cap");
    assert!(err.to_string().contains("capacity"), "{err}");
    assert_no_parties_left(&server);
}

/// Ctrl-C (SIGINT) during a long run: loadgen stops starting units,
/// prints its report marked as interrupted, deletes what it created and
/// exits 0, well before its minute is up.
#[test]
fn an_interrupted_run_still_reports_and_deletes_its_parties() {
    let server = TestServer::start();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_partybus"))
        .args(["loadgen", "--url", &url(&server)])
        .args([
            "--mode",
            "create",
            "--concurrency",
            "2",
            "--duration",
            "60s",
        ])
        .arg("--quiet")
        .env_remove("PARTYBUS_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("loadgen starts");
    let began = Instant::now();
    // Interrupt once the run is under way.
    let running = poll(Instant::now() + WAIT, || live_parties(&server) >= 5);
    assert!(running, "no party created");
    crate::util::signal(child.id(), "-INT");
    let out = crate::util::output_within(child, "interrupted loadgen", WAIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(began.elapsed() < Duration::from_secs(55), "ran to its end");
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    assert!(stdout.contains("cleanup: deleted"), "{stdout}");
    assert_no_parties_left(&server);
}
