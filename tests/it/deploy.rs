//! What operators watch: the Grafana dashboard (`deploy/grafana/partybus.json`)
//! and the Prometheus alerts (`deploy/prometheus/alerts.yml`) use only metrics
//! a real server exposes; the answers the connection layer writes itself are
//! JSON errors, counted in `/metrics` and written to the access log; refusals
//! before routing keep their route label.
//!
//! Metric names are read out of every PromQL expression of both files:
//! identifiers that are not functions, keywords or label names (label
//! matchers, `by (...)` lists, strings and range selectors are dropped
//! first). A histogram's `_bucket`, `_sum` and `_count` count as exposed
//! only when the family without the suffix is declared a histogram.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use partybus::server::{AuthMode, RateBudget, RateLimits, ServerConfig};
use serde_json::{json, Value};

use crate::util::{self, raw, read_response, request, Served, TempDir, TestServer, API, WAIT};

/// Series Prometheus writes itself for every scrape target (its
/// documentation, "Jobs and instances"), never exposed by a target.
const SCRAPE_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// PromQL words that are not metric names: binary operators and
/// modifiers, aggregation operators (which may be followed by `by (...)`
/// rather than `(`), and the number literals `Inf` and `NaN`.
const KEYWORDS: [&str; 28] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
    "atan2",
];

/// The metric names a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Strings first (a label value may hold braces or brackets), then label
    // matchers and range selectors.
    let mut plain = String::with_capacity(expr.len());
    let mut quote = None;
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut chars = expr.chars();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == '\\' {
                chars.next();
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            _ => plain.push(c),
        }
        if matches!(c, '{' | '}' | '[' | ']') {
            plain.push(' ');
        }
    }
    // Then tokens: an identifier followed by `(` is a function; after a
    // grouping keyword, the parenthesised list holds label names.
    let bytes = plain.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':'))
            {
                i += 1;
            }
            let word = &plain[start..i];
            let next = plain[i..].trim_start().chars().next();
            let lower = word.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) {
                skip_list = next == Some('(');
            } else if next == Some('(') || KEYWORDS.contains(&lower.as_str()) {
                // a function or an operator
            } else {
                names.insert(word.to_string());
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (`6h`, `1e9`): one token.
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric() || bytes[i] == b'.')
            {
                i += 1;
            }
        } else if c == '(' && skip_list {
            skip_list = false;
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    names
}

/// The expressions of a Prometheus rules file: each `expr:` value (one line
/// each, as the file promises, or a `|`/`>` block).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let item = line.trim_start();
        let item = item.strip_prefix("- ").unwrap_or(item);
        let Some(value) = item.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            // The key's column: block lines sit deeper than it.
            let indent = line.len() - item.len();
            let mut block = String::new();
            while i < lines.len()
                && (lines[i].trim().is_empty()
                    || lines[i].len() - lines[i].trim_start().len() > indent)
            {
                block.push_str(lines[i].trim());
                block.push(' ');
                i += 1;
            }
            exprs.push(block);
        } else {
            exprs.push(value.to_string());
        }
    }
    exprs
}

/// Every PromQL expression of a Grafana dashboard: each target's `expr`, and
/// the metric of each `label_values(metric, label)` variable query.
fn dashboard_exprs(dash: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(e.clone()),
                        ("query" | "definition", Value::String(q)) => {
                            if let Some(inner) = q
                                .trim()
                                .strip_prefix("label_values(")
                                .and_then(|r| r.strip_suffix(')'))
                            {
                                let metric = inner.split(',').next().unwrap_or_default();
                                out.push(metric.to_string());
                            }
                        }
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dash, &mut out);
    out
}

/// The families a scrape declares (`# TYPE name kind`).
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// Whether `name` can be queried from a scrape declaring `families`.
fn exposed(families: &BTreeMap<String, String>, name: &str) -> bool {
    for (suffix, kinds) in [
        ("_bucket", &["histogram"][..]),
        ("_sum", &["histogram", "summary"][..]),
        ("_count", &["histogram", "summary"][..]),
    ] {
        if let Some(base) = name.strip_suffix(suffix) {
            if families
                .get(base)
                .is_some_and(|k| kinds.contains(&k.as_str()))
            {
                return true;
            }
        }
    }
    families
        .get(name)
        .is_some_and(|k| k != "histogram" && k != "summary")
}

/// The `partybus_cluster_*` names a cluster node exposes, read from the
/// source of the function that writes them (`render_cluster` in
/// src/server/metrics.rs): on one machine it is never called.
fn cluster_node_names() -> BTreeSet<String> {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/metrics.rs"),
    )
    .expect("src/server/metrics.rs");
    let start = src
        .find("fn render_cluster(")
        .expect("render_cluster in metrics.rs");
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").expect("the end of render_cluster")];
    body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("partybus_cluster_"))
        .map(str::to_string)
        .collect()
}

fn read_deploy(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn promql_names_are_told_from_functions_keywords_and_labels() {
    let e = r#"histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{route=~"x}[y", le!="1"}[5m]))) > 1 and on(job) b offset 6h or time() - c:rule * 1e9"#;
    let want: BTreeSet<String> = ["a_bucket", "b", "c:rule"].map(String::from).into();
    assert_eq!(metric_names(e), want);
    let e = "sum(rate(x_total[$__rate_interval])) without (pod) / ignoring(le) y";
    let want: BTreeSet<String> = ["x_total", "y"].map(String::from).into();
    assert_eq!(metric_names(e), want);
    let families: BTreeMap<String, String> = [
        ("h".to_string(), "histogram".to_string()),
        ("g".to_string(), "gauge".to_string()),
    ]
    .into();
    assert!(exposed(&families, "h_bucket") && exposed(&families, "h_count"));
    assert!(!exposed(&families, "h"), "a histogram has no bare series");
    assert!(exposed(&families, "g") && !exposed(&families, "g_bucket"));
    let yaml = "groups:\n  - rules:\n      - expr: up == 0\n      - expr: |\n          a\n          / b\n        for: 1m\n";
    assert_eq!(rule_exprs(yaml), ["up == 0", "a / b "]);
}

#[test]
fn every_metric_the_dashboard_and_the_alerts_use_is_exposed() {
    let dir = TempDir::new("deploy-metrics");
    let data = dir.0.to_string_lossy().into_owned();
    let served = Served::start(&["--port", "0", "--auth", "off", "--data-dir", &data], &[]);
    // A little traffic: a write (a journal commit), reads, a miss, a refusal.
    let body = json!({"user_id": "ops", "initial_inputs": [{"content": "a jungle party for 10"}]});
    let body = serde_json::to_vec(&body).unwrap();
    let r = request(
        served.addr,
        "POST",
        &format!("{API}/party"),
        &[("Content-Type", "application/json")],
        Some(&body),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let party = r.json()["party_id"].as_str().expect("party_id").to_string();
    let r = request(
        served.addr,
        "GET",
        &format!("{API}/party/{party}/status"),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        request(served.addr, "GET", "/nowhere", &[], None).status,
        404
    );
    assert_eq!(raw(served.addr, b"GET /livez HTTP/2.0\r\n\r\n").status, 505);
    let scrape = request(served.addr, "GET", "/metrics", &[], None);
    assert_eq!(scrape.status, 200, "{}", scrape.text());
    let text = scrape.text();
    let families = families(&text);
    assert!(
        text.contains("\npartybus_cluster_enabled 0\n"),
        "one machine says it is not a cluster node: {text}"
    );
    assert!(
        text.contains("partybus_journal_commit_seconds_count ")
            && !text.contains("partybus_journal_commit_seconds_count 0\n"),
        "the write was committed and timed: {text}"
    );
    let cluster = cluster_node_names();
    assert!(
        cluster.contains("partybus_cluster_partition_lag"),
        "{cluster:?}"
    );

    let alerts = read_deploy("deploy/prometheus/alerts.yml");
    let dashboard: Value =
        serde_json::from_str(&read_deploy("deploy/grafana/partybus.json")).expect("dashboard JSON");
    let mut used: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let sources = [
        ("alerts.yml", rule_exprs(&alerts)),
        ("partybus.json", dashboard_exprs(&dashboard)),
    ];
    for (file, exprs) in &sources {
        assert!(
            exprs.len() >= 5,
            "{file}: only {} expressions found",
            exprs.len()
        );
        for e in exprs {
            let names = metric_names(e);
            assert!(!names.is_empty(), "{file}: no metric in {e:?}");
            for n in names {
                used.entry(n).or_default().insert(file);
            }
        }
    }
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| {
            !exposed(&families, name)
                && !SCRAPE_SERIES.contains(&name.as_str())
                && !cluster.contains(name.as_str())
        })
        .map(|(name, files)| format!("{name} (in {files:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "used but not exposed by /metrics: {missing:#?}\nexposed: {:?}",
        families.keys().collect::<Vec<_>>()
    );
    // The files cover what the brief asks operators to watch.
    for want in [
        "partybus_http_request_duration_seconds_bucket",
        "partybus_journal_commit_seconds_bucket",
        "partybus_journal_commit_events_bucket",
        "partybus_journal_wal_bytes",
        "process_open_fds",
        "process_resident_memory_bytes",
        "partybus_cluster_partition_lag",
    ] {
        assert!(used.contains_key(want), "{want} is watched nowhere");
    }
}

/// The body of a refusal: the API's error shape, as JSON.
fn assert_refusal(r: &util::Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    let v = r.json();
    assert_eq!(
        (v["success"].clone(), v["code"].clone()),
        (json!(false), json!(code))
    );
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
}

/// A counter's value in `/metrics` (0 when absent).
fn counter(s: &TestServer, series: &str) -> u64 {
    let text = s.get("/metrics", None).text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().expect("a number"))
}

fn refused(reason: &str, status: u16) -> String {
    format!("partybus_http_refused_total{{reason=\"{reason}\",status=\"{status}\"}}")
}

#[test]
fn refusals_of_the_connection_layer_are_json_and_counted() {
    let s = TestServer::open();
    let big = "x".repeat(ServerConfig::default().max_header_bytes + 1);
    let r = request(s.addr, "GET", "/livez", &[("X-Big", &big)], None);
    assert_refusal(&r, 431, "header_too_large");
    assert_refusal(&raw(s.addr, b"NOT HTTP\r\n\r\n"), 400, "malformed_request");
    let expect = format!(
        "POST {API}/party HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n"
    );
    assert_refusal(&raw(s.addr, expect.as_bytes()), 417, "expectation_failed");
    let r = raw(s.addr, b"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n");
    assert_refusal(&r, 505, "http_version_not_supported");
    // A second server, capped at three connections: three keep-alive
    // connections, each proven accepted by one answer, then a fourth.
    let capped = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        max_connections: 3,
        ..ServerConfig::default()
    });
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(capped.addr).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        c.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(c);
        assert_eq!(read_response(&mut r, false).status, 200);
        held.push(r);
    }
    let r = request(capped.addr, "GET", "/livez", &[], None);
    assert_refusal(&r, 503, "too_many_connections");
    drop(held);
    let deadline = Instant::now() + WAIT;
    util::poll_until("a connection slot to be freed", deadline, || {
        util::try_request(capped.addr, "GET", "/livez", &[], None).is_ok_and(|r| r.status == 200)
    });
    let too_many = refused("too_many_connections", 503);
    assert!(counter(&capped, &too_many) >= 1);
    assert_eq!(counter(&s, &too_many), 0);
    for (reason, status) in [
        ("header_too_large", 431),
        ("malformed_request", 400),
        ("expectation_failed", 417),
        ("http_version_not_supported", 505),
        ("request_timeout", 408),
    ] {
        let want = u64::from(reason != "request_timeout");
        assert_eq!(counter(&s, &refused(reason, status)), want, "{reason}");
    }
}

#[test]
fn a_stalled_request_gets_a_json_408_that_is_counted() {
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        read_timeout: Duration::from_millis(300),
        request_timeout: WAIT * 2,
        ..ServerConfig::default()
    });
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n").unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("an answer, then a close");
    let r = read_response(&mut BufReader::new(&got[..]), false);
    assert_refusal(&r, 408, "request_timeout");
    assert_eq!(counter(&s, &refused("request_timeout", 408)), 1);
}

#[test]
fn a_refusal_is_written_to_the_access_log() {
    let served = Served::start(&["--port", "0", "--auth", "off", "--ephemeral"], &[]);
    let r = raw(served.addr, b"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 505);
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = served
            .lines
            .recv_timeout(left)
            .expect("an access log line for the refusal");
        if line.contains("refused:http_version_not_supported") {
            assert!(
                line.contains("127.0.0.1 - - 505 - refused:"),
                "the client, then the access log's fields: {line}"
            );
            break;
        }
    }
}

#[test]
fn a_rate_limited_request_is_counted_under_its_route() {
    let one = RateBudget {
        per_second: 0.001,
        burst: 1.0,
    };
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        // Writes are limited; reads (the scrape) are not.
        rate_limits: RateLimits {
            reads: RateBudget::OFF,
            writes: one,
        },
        ..ServerConfig::default()
    });
    let url = format!("{API}/party/nope");
    assert_eq!(s.call("DELETE", &url, None, None).status, 404);
    s.call("DELETE", &url, None, None)
        .assert_error(429, "rate_limited");
    let route = "/api/v1/event-driven/party/{party_id}";
    let series = |status: u16| {
        format!("partybus_http_requests_total{{route=\"{route}\",method=\"DELETE\",status=\"{status}\"}}")
    };
    assert_eq!(counter(&s, &series(404)), 1);
    assert_eq!(counter(&s, &series(429)), 1);
    let unmatched =
        "partybus_http_requests_total{route=\"unmatched\",method=\"DELETE\",status=\"429\"}";
    assert_eq!(counter(&s, unmatched), 0);
}
