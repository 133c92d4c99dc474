//! What packaging relies on, through the built binary: `--version`, the
//! commit on `/health` and `/metrics`, `partybus healthcheck` (the Docker
//! HEALTHCHECK), systemd's readiness protocol (`NOTIFY_SOCKET`: READY=1,
//! STOPPING=1) and `--log-format json`. Waits are receives with deadlines
//! (a datagram, a log line, a child's exit).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{self, exit_within, output_within, signal, Served, TempDir, API, WAIT};

/// Every child here keeps its journal in memory.
const EPHEMERAL: (&str, &str) = ("PARTYBUS_EPHEMERAL", "true");

/// How long shutdown may take (the contract says 5 s).
const STOP: Duration = Duration::from_secs(5);

/// `partybus healthcheck <args>` with `env`: exit code, stdout, stderr.
fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let child = util::bin_command(&[&["healthcheck"], args].concat(), env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn healthcheck");
    let out = output_within(child, "healthcheck", WAIT);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_health_and_metrics_name_the_commit() {
    let out = util::bin_command(&["--version"], &[])
        .output()
        .expect("run partybus");
    let text = String::from_utf8_lossy(&out.stdout);
    let commit = partybus::build_info::COMMIT;
    assert!(out.status.success());
    assert_eq!(
        text.trim(),
        format!("partybus {}", partybus::build_info::long_version())
    );
    assert!(
        text.starts_with(&format!("partybus {} ({commit}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let s = Served::start(&["--port", "0", "--admin-token", "adm"], &[EPHEMERAL]);
    let health = util::request(s.addr, "GET", "/health", &[], None);
    assert_eq!(health.json()["commit"], commit);
    let metrics = util::request(
        s.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer adm")],
        None,
    );
    assert_eq!(metrics.status, 200);
    let series = format!(
        "partybus_build_info{{version=\"{}\",commit=\"{commit}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        metrics.text().lines().any(|l| l == series),
        "{series} missing"
    );
}

#[test]
fn healthcheck_passes_against_a_ready_server_and_says_why_it_fails() {
    let s = Served::start(&["--port", "0"], &[EPHEMERAL]);
    let port = s.addr.port().to_string();
    // The defaults read serve's own environment; a wildcard host is
    // checked on loopback (the Docker image sets API_HOST=0.0.0.0).
    let (code, out, err) = healthcheck(&[], &[("API_HOST", "0.0.0.0"), ("API_PORT", &port)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("/readyz answered 200"), "{out}");
    let url = format!("http://{}", s.addr);
    let (code, _, err) = healthcheck(&["--url", &url, "--timeout", "5s"], &[]);
    assert_eq!(code, Some(0), "{err}");
    // Not 2xx: the status and the JSON error body.
    let (code, _, err) = healthcheck(&["--url", &url, "--path", "/nowhere"], &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("answered 404") && err.contains("not_found"),
        "{err}"
    );
    drop(s);

    // A port nothing listens on (the server above is gone).
    let (code, _, err) = healthcheck(&["--url", &url], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("refused"), "{err}");
    let (code, _, err) = healthcheck(&["--url", "https://example.test"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("only http://"), "{err}");
}

/// The manager's end of `NOTIFY_SOCKET`.
struct Manager {
    socket: UnixDatagram,
    _dir: TempDir,
    path: String,
}

impl Manager {
    fn new() -> Manager {
        let dir = TempDir::new("notify");
        let path = dir.0.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        Manager {
            socket,
            path: path.to_string_lossy().into_owned(),
            _dir: dir,
        }
    }

    /// Notifications until one contains `line` (all of them, in order),
    /// within `WAIT`.
    fn until(&self, line: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {line:?} within {WAIT:?}; got {got:?}");
            self.socket.set_read_timeout(Some(left)).expect("timeout");
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!("no {line:?} ({e}); got {got:?}"),
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = message.lines().any(|l| l == line);
            got.push(message);
            if done {
                return got;
            }
        }
    }
}

#[test]
fn systemd_is_told_ready_after_recovery_and_stopping_on_sigterm() {
    let manager = Manager::new();
    let mut child = Kid(Some(
        util::bin_command(
            &["serve", "--port", "0"],
            &[EPHEMERAL, ("NOTIFY_SOCKET", &manager.path)],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve"),
    ));
    let got = manager.until("READY=1");
    // The status said what start-up was doing before READY=1.
    assert!(
        got.iter()
            .any(|m| m.contains("recovering from the journal")),
        "{got:?}"
    );
    let ready = got.last().expect("READY=1");
    let addr: SocketAddr = ready
        .split("serving on http://")
        .nth(1)
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {ready:?}"));
    // READY=1 came only once /readyz answers.
    let r = util::request(addr, "GET", "/readyz", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    signal(child.id(), "-TERM");
    let got = manager.until("STOPPING=1");
    assert!(!got.iter().any(|m| m.contains("READY=1")), "{got:?}");
    let status = exit_within(child.take(), STOP);
    assert!(status.success(), "{status:?}");
}

/// A spawned child, killed if a test fails before taking it back.
struct Kid(Option<Child>);

impl Kid {
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    fn take(&mut self) -> Child {
        self.0.take().expect("child still owned")
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `partybus serve --log-format json` child: its address (from its
/// `listening on` line) and every later stderr line, each parsed.
fn serve_json(args: &[&str]) -> (Kid, SocketAddr, mpsc::Receiver<Value>) {
    let mut child = Kid(Some(
        util::bin_command(
            &[&["serve", "--log-format", "json", "--port", "0"], args].concat(),
            &[EPHEMERAL],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve"),
    ));
    let stderr = child
        .0
        .as_mut()
        .and_then(|c| c.stderr.take())
        .expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v = serde_json::from_str::<Value>(&line)
                .unwrap_or_else(|e| json!({"unparseable": line, "error": e.to_string()}));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut addr = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("serve --log-format json was not ready: {e}"));
        assert!(line.get("unparseable").is_none(), "not JSON: {line}");
        let msg = line["msg"].as_str().unwrap_or_default();
        if let Some(rest) = msg.strip_prefix("listening on http://") {
            addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
        }
        if msg == "ready" {
            let addr = addr.expect("a listening line before ready");
            return (child, addr, rx);
        }
    }
}

#[test]
fn json_logs_carry_request_and_party_ids() {
    let (mut child, addr, lines) = serve_json(&["--auth", "off"]);
    let body = json!({"initial_inputs": [{"content": "space party for 20 kids"}]}).to_string();
    let created = util::request(
        addr,
        "POST",
        &format!("{API}/party"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let party = created.json()["party_id"]
        .as_str()
        .expect("party_id")
        .to_string();
    let r = util::request(
        addr,
        "GET",
        &format!("{API}/party/{party}/status"),
        &[("X-Request-Id", "abc")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("abc"));
    // The access log is written in batches, within 100 ms. A line is
    // logged after its answer is sent, so the create's line may come after
    // the status read's: both are awaited, in either order.
    let is_create = |l: &Value| {
        l["target"] == "partybus::access"
            && l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("127.0.0.1 POST "))
    };
    let deadline = Instant::now() + WAIT;
    let mut seen: Vec<Value> = Vec::new();
    let mut access = None;
    while access.is_none() || !seen.iter().any(is_create) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|e| {
            panic!("no access lines for abc and the create ({e}); saw {access:#?} and {seen:#?}")
        });
        assert!(line.get("unparseable").is_none(), "not JSON: {line}");
        if line["request_id"] == "abc" {
            access = Some(line);
        } else {
            seen.push(line);
        }
    }
    let access = access.expect("the status read's line");
    assert_eq!(access["target"], "partybus::access", "{access}");
    assert_eq!(access["party_id"], party.as_str(), "{access}");
    assert_eq!(access["level"], "info");
    let msg = access["msg"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("127.0.0.1 GET ") && msg.contains(" 200 "),
        "{access}"
    );
    assert_eq!(access["client"], "127.0.0.1", "{access}");
    let ts = access["ts"].as_str().unwrap_or_default();
    assert!(
        humantime::parse_rfc3339(ts).is_ok() && ts.ends_with('Z'),
        "{access}"
    );
    // The create's line has a request id but no party id in its path.
    assert!(
        seen.iter()
            .any(|l| is_create(l) && l["request_id"].is_string() && l.get("party_id").is_none()),
        "{seen:#?}"
    );
    signal(child.id(), "-TERM");
    let status = exit_within(child.take(), STOP);
    assert!(status.success(), "{status:?}");
}
