//! What an operator relies on, against the built binary: exit codes a
//! supervisor can act on, tokens kept out of `ps`, a scraper's token that
//! reads `/metrics` only, and a drain before a graceful stop.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::util::{
    bin_command, exit_within, output_within, poll_until, request, signal, Served, TempDir, API,
    WAIT,
};

/// The exit code of `partybus <args>` that fails at once.
fn exit_code(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let child = bin_command(args, env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = output_within(child, "a failing start", WAIT);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("an exit code"), err)
}

#[test]
fn each_kind_of_start_failure_has_its_own_exit_code() {
    // 2: the command line does not parse (clap).
    assert_eq!(exit_code(&["serve", "--port", "x"], &[]).0, 2);
    // 3: a configuration error.
    let (code, err) = exit_code(&["serve", "--port", "0", "--cors-origin", "nope"], &[]);
    assert_eq!(code, 3, "{err}");
    let (code, err) = exit_code(
        &["serve", "--port", "0", "--catalog", "/nonexistent/c.json"],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    let (code, err) = exit_code(
        &[
            "serve",
            "--port",
            "0",
            "--admin-token-file",
            "/nonexistent/token",
        ],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("/nonexistent/token"), "{err}");
    // 4: the port is taken.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let data = TempDir::new("exit-codes");
    let dir = data.0.join("d");
    let (code, err) = exit_code(
        &[
            "serve",
            "--port",
            &port,
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 4, "{err}");
    // 5: another partybus holds the data directory.
    let holder = Served::start(&["--port", "0", "--data-dir", dir.to_str().unwrap()], &[]);
    let (code, err) = exit_code(
        &["serve", "--port", "0", "--data-dir", dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("in use by another partybus process"), "{err}");
    drop(holder);
    // 6: the data directory cannot be used (here: it is a file).
    let file = data.0.join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let (code, err) = exit_code(
        &["serve", "--port", "0", "--data-dir", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 6, "{err}");
    // 6 too: an offline command pointed at a directory without a journal.
    let empty = data.0.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (code, err) = exit_code(&["compact", "--data-dir", empty.to_str().unwrap()], &[]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("no journal in"), "{err}");
}

/// `/proc/<pid>/cmdline`, arguments joined by spaces.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> u16 {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request(addr, "GET", path, &headers, None).status
}

#[test]
fn tokens_come_from_files_and_the_metrics_token_reads_metrics_only() {
    let dir = TempDir::new("tokens");
    let admin_file = dir.0.join("admin");
    let metrics_file = dir.0.join("metrics");
    std::fs::write(&admin_file, "admin-secret-1\n").expect("write");
    std::fs::write(&metrics_file, "scrape-secret-2\n").expect("write");
    let served = Served::start(
        &[
            "--port",
            "0",
            "--ephemeral",
            "--admin-token-file",
            admin_file.to_str().unwrap(),
        ],
        &[(
            "PARTYBUS_METRICS_TOKEN_FILE",
            metrics_file.to_str().unwrap(),
        )],
    );
    let addr = served.addr;
    // The tokens are nowhere on the command line.
    let line = cmdline(served.pid());
    assert!(line.contains("--admin-token-file"), "{line}");
    assert!(!line.contains("admin-secret-1") && !line.contains("scrape-secret-2"));
    // The admin token (the file's first line, trimmed) opens admin routes
    // and /metrics.
    let status = format!("{API}/system/status");
    assert_eq!(get(addr, &status, Some("admin-secret-1")), 200);
    assert_eq!(get(addr, "/metrics", Some("admin-secret-1")), 200);
    // The metrics token reads /metrics and nothing else.
    assert_eq!(get(addr, "/metrics", Some("scrape-secret-2")), 200);
    assert_eq!(get(addr, &status, Some("scrape-secret-2")), 403);
    assert_eq!(get(addr, "/metrics", Some("wrong")), 403);
    assert_eq!(get(addr, "/metrics", None), 401);
    drop(served);
    // A flag and its file together are a usage error.
    let (code, _) = exit_code(
        &[
            "serve",
            "--admin-token",
            "x",
            "--admin-token-file",
            admin_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2);
    // An empty file is a configuration error, named.
    std::fs::write(&admin_file, "\n").expect("write");
    let (code, err) = exit_code(
        &[
            "serve",
            "--port",
            "0",
            "--ephemeral",
            "--admin-token-file",
            admin_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("first line is empty"), "{err}");
}

#[test]
fn sigterm_with_a_shutdown_delay_drains_readiness_first() {
    let delay = Duration::from_secs(2);
    let mut served = Served::start(
        &["--port", "0", "--ephemeral", "--shutdown-delay", "2s"],
        &[],
    );
    let addr = served.addr;
    let began = Instant::now();
    signal(served.pid(), "-TERM");
    // Readiness goes first...
    poll_until("/readyz answers 503", began + WAIT, || {
        get(addr, "/readyz", None) == 503
    });
    // ...while everything else is still served.
    assert_eq!(get(addr, "/livez", None), 200);
    let body = br#"{"user_id":"drain"}"#;
    let r = request(
        addr,
        "POST",
        &format!("{API}/party"),
        &[("Content-Type", "application/json")],
        Some(body),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Then the graceful stop, not before the delay.
    let status = exit_within(served.take(), WAIT);
    assert!(status.success(), "{status:?}");
    assert!(
        began.elapsed() >= delay,
        "stopped after {:?}",
        began.elapsed()
    );
}
