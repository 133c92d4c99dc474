//! The documentation is executable: the served OpenAPI document and the
//! router agree both ways (CORS preflights included, which the document
//! describes once as cross-cutting), and every curl example in README.md, docs/api.md and
//! docs/operations.md runs against a real server and returns the status the
//! example promises.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::util::{output_within, request, TestServer, WAIT};
use partybus::server::routes::{sample_path, ROUTES};
use partybus::server::{CorsConfig, ServerConfig};
use serde_json::Value;

/// The origin the README's CORS examples allow (`--cors-origin`).
const README_ORIGIN: &str = "https://planner.example.com";

/// A server as the README's examples assume it: defaults, plus the allowed
/// origin of its CORS example.
fn readme_server() -> TestServer {
    TestServer::with(ServerConfig {
        cors: CorsConfig::allowing([README_ORIGIN]).expect("valid origin"),
        ..ServerConfig::default()
    })
}

#[test]
fn openapi_document_and_router_agree_both_ways() {
    let s = readme_server();
    let r = s.get("/openapi.json", None);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");

    // Documented → served: each documented operation reaches a route (no
    // routing 404 or 405), and the router's Allow header for the path lists
    // exactly the documented methods.
    let mut documented: BTreeSet<(String, String)> = BTreeSet::new();
    let mut by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            documented.insert((method.clone(), path.clone()));
            by_path
                .entry(path.clone())
                .or_default()
                .insert(method.clone());
            let r = request(s.addr, &method, &sample_path(path), &[], None);
            if r.status == 404 || r.status == 405 {
                let code = r.json()["code"].clone();
                assert!(
                    code != "not_found" && code != "method_not_allowed",
                    "documented {method} {path} is not routed: {}",
                    r.text()
                );
            }
            let op = &ops[method.to_ascii_lowercase()];
            assert!(
                op["responses"].as_object().unwrap().len() >= 2,
                "{method} {path}"
            );
        }
    }
    for (path, methods) in &by_path {
        let r = request(s.addr, "PUT", &sample_path(path), &[], None);
        if methods.contains("PUT") {
            continue;
        }
        assert_eq!(r.status, 405, "PUT {path}");
        let allowed: BTreeSet<String> = r
            .header("allow")
            .unwrap()
            .split(", ")
            .filter(|m| *m != "HEAD")
            .map(str::to_string)
            .collect();
        assert_eq!(&allowed, methods, "Allow of {path}");
    }

    // CORS preflights are cross-cutting: described once in the document, not
    // as an operation per path, and answered on every documented path with
    // exactly the documented methods.
    let description = doc["info"]["description"].as_str().unwrap();
    for needle in ["preflight", "--cors-origin", "cors_origin_not_allowed"] {
        assert!(description.contains(needle), "description lacks {needle}");
    }
    for (path, methods) in &by_path {
        assert!(!methods.contains("OPTIONS"), "{path} documents OPTIONS");
        for method in methods {
            let r = request(
                s.addr,
                "OPTIONS",
                &sample_path(path),
                &[
                    ("Origin", README_ORIGIN),
                    ("Access-Control-Request-Method", method),
                ],
                None,
            );
            assert_eq!(r.status, 204, "preflight {method} {path}: {}", r.text());
            let allowed: BTreeSet<String> = r
                .header("access-control-allow-methods")
                .unwrap()
                .split(", ")
                .filter(|m| *m != "HEAD")
                .map(str::to_string)
                .collect();
            assert_eq!(&allowed, methods, "preflight of {path}");
        }
    }

    // Served → documented: every route of the router's table is in the document.
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .collect();
    assert_eq!(served, documented);

    // Every error code a response can carry is in the Error schema.
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "invalid_json",
        "unauthorized",
        "forbidden",
        "party_not_found",
        "input_not_found",
        "not_found",
        "method_not_allowed",
        "conflict",
        "payload_too_large",
        "unsupported_media_type",
        "validation_error",
        "overloaded",
        "not_ready",
        "too_many_clients",
        "bad_upgrade",
        "cors_origin_not_allowed",
        "internal_error",
    ] {
        assert!(codes.contains(c), "{c} undocumented");
    }
}

/// One curl example from the README.
#[derive(Debug)]
struct Example {
    expect: u16,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    text: String,
}

/// The `sh` blocks of README.md, docs/api.md and docs/operations.md that
/// call curl.
fn readme_examples() -> Vec<(String, u16)> {
    let readme = concat!(
        include_str!("../../README.md"),
        include_str!("../../docs/api.md"),
        include_str!("../../docs/operations.md")
    );
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (&mut block, line.trim_start()) {
            (None, "```sh") => block = Some(Vec::new()),
            (Some(lines), "```") => {
                let text = lines.join("\n");
                let expect = lines
                    .iter()
                    .find_map(|l| l.trim().strip_prefix("# expect:"))
                    .and_then(|v| v.trim().parse().ok());
                if let Some(expect) = expect {
                    out.push((text, expect));
                }
                block = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    out
}

/// Splits a shell command into words: single quotes are literal, double quotes
/// expand `$VAR`, a backslash-newline joins lines.
fn shell_words(cmd: &str, vars: &HashMap<&str, String>) -> Vec<String> {
    let cmd = cmd.replace("\\\n", " ");
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars().peekable();
    let expand = |chars: &mut std::iter::Peekable<std::str::Chars>, cur: &mut String| {
        let mut name = String::new();
        while let Some(c) = chars.peek() {
            if c.is_ascii_alphanumeric() || *c == '_' {
                name.push(*c);
                chars.next();
            } else {
                break;
            }
        }
        match vars.get(name.as_str()) {
            Some(v) => cur.push_str(v),
            None => panic!("README uses undefined variable ${name}"),
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '$' => expand(&mut chars, &mut cur),
                        _ => cur.push(c),
                    }
                }
            }
            '$' => {
                in_word = true;
                expand(&mut chars, &mut cur);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn parse_curl(text: &str, expect: u16, vars: &HashMap<&str, String>) -> Example {
    let cmd: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let words = shell_words(&cmd, vars);
    assert_eq!(words.first().map(String::as_str), Some("curl"), "{text}");
    let mut ex = Example {
        expect,
        method: String::new(),
        path: String::new(),
        headers: Vec::new(),
        body: None,
        text: text.to_string(),
    };
    let mut it = words.into_iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-s" | "-i" | "-N" | "-S" | "--http1.1" | "--include" | "--silent" => {}
            "--max-time" => {
                it.next();
            }
            "-X" | "--request" => ex.method = it.next().expect("method"),
            "-H" | "--header" => {
                let h = it.next().expect("header");
                let (k, v) = h.split_once(':').expect("header has a colon");
                ex.headers
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
            "-d" | "--data" | "--data-raw" => ex.body = Some(it.next().expect("data")),
            url if url.starts_with("http://localhost:9000") => {
                ex.path = url["http://localhost:9000".len()..].to_string();
            }
            other => panic!("the README test does not know curl option {other:?}: {text}"),
        }
    }
    if ex.method.is_empty() {
        ex.method = if ex.body.is_some() { "POST" } else { "GET" }.to_string();
    }
    // curl's default for -d.
    if ex.body.is_some()
        && !ex
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        ex.headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    assert!(!ex.path.is_empty(), "no URL in {text}");
    ex
}

#[test]
fn every_readme_curl_example_runs_and_returns_its_status() {
    let examples = readme_examples();
    assert!(
        examples.len() >= 15,
        "found only {} examples",
        examples.len()
    );
    let s = readme_server();
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("TOKEN", String::new());
    let mut routes_hit = BTreeSet::new();
    for (text, expect) in examples {
        let ex = parse_curl(&text, expect, &vars);
        let headers: Vec<(&str, &str)> = ex
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = request(
            s.addr,
            &ex.method,
            &ex.path,
            &headers,
            ex.body.as_deref().map(str::as_bytes),
        );
        assert_eq!(r.status, ex.expect, "{}\n→ {}", ex.text, r.text());
        let path_only = ex.path.split('?').next().unwrap_or("");
        if let Ok((spec, _)) = partybus::server::routes::resolve(&ex.method, path_only) {
            routes_hit.insert(spec.path);
        }
        // A create (201) or a token rotation (200) hands out the token.
        if matches!(r.status, 200 | 201) && r.body.starts_with(b"{") {
            let v: Value = r.json();
            if let (Some("jungle-bash"), Some(token)) =
                (v["party_id"].as_str(), v["party_token"].as_str())
            {
                vars.insert("TOKEN", token.to_string());
                if r.status == 201 {
                    s.settle("jungle-bash", v["seq"].as_u64().unwrap());
                }
            }
        }
    }
    let all: BTreeSet<&str> = ROUTES.iter().map(|r| r.path).collect();
    assert_eq!(routes_hit, all, "the README has an example for every route");
}

/// The README's JavaScript example, run by Node.js against a real server.
#[test]
fn readme_javascript_example_runs_under_node() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
        .expect("docs/api.md");
    let start = readme.find("```js\n").expect("a ```js block in api.md") + 6;
    let len = readme[start..].find("```").expect("end of the js block");
    let s = TestServer::start();
    let script =
        readme[start..start + len].replace("http://localhost:9000", &format!("http://{}", s.addr));
    let dir = std::env::temp_dir().join(format!("partybus-js-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("example.mjs");
    std::fs::write(&file, script).expect("write script");
    let child = std::process::Command::new("node")
        .arg("--experimental-websocket")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node (Node.js 20+) must be installed to run the README's JavaScript example");
    let out = output_within(child, "the JavaScript example", WAIT);
    let status = out.status;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "node failed: {stdout}\n{stderr}");
    assert!(stdout.contains("done:"), "{stdout}");
    assert!(stdout.contains("plan_updated"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
