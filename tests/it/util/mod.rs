//! The harness every integration test shares: the one wait constant
//! ([`WAIT`]) and the one helper for conditions nothing signals
//! ([`poll_until`]); the real server in process on 127.0.0.1:0
//! ([`TestServer`]); the built binary serving on a loopback port
//! ([`Served`]); one HTTP/1.1 client over `std::net` ([`request`],
//! [`try_request`], [`raw`]); one WebSocket client whose every read has a
//! deadline ([`Ws`]); child processes waited for with deadlines
//! ([`exit_within`], [`output_within`]); temp dirs ([`TempDir`]). [`hub`] is a
//! WebSocket hub behind a one-route server, for the hub's own tests.
//!
//! Every wait is a blocking read or receive with a deadline (a response, a
//! WebSocket message, a log line, a child's exit), except [`poll_until`],
//! for conditions that nothing signals. It must not assert timings: a test
//! asserts behaviour, and [`WAIT`] only bounds how long a failure takes.
#![allow(dead_code)]

pub mod hub;
pub mod redis;

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use partybus::server::{serve, AuthMode, ServerConfig, ServerHandle};
use partybus::{App, Config};
use serde_json::Value;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long anything a test waits for may take: a response, a message, a
/// party settling, a child starting or exiting, a page condition in the
/// browser. Generous, since the whole suite shares two busy cores; only a
/// failing test ever waits this long.
pub const WAIT: Duration = Duration::from_secs(30);

/// Interval between two checks of [`poll_until`].
pub const POLL_EVERY: Duration = Duration::from_millis(10);

/// Checks `ready` until it holds, panicking with `what` once `deadline`
/// passes. Only for conditions nothing signals (a thread letting go of an
/// `Arc`, a count inside tiny_http, a timer inside the server).
pub fn poll_until(what: &str, deadline: Instant, ready: impl FnMut() -> bool) {
    assert!(poll(deadline, ready), "timed out waiting: {what}");
}

/// Checks `ready` until it holds or `deadline` passes; returns whether it
/// held (for a caller whose own assertions say better what is missing).
pub fn poll(deadline: Instant, mut ready: impl FnMut() -> bool) -> bool {
    while !ready() {
        if Instant::now() >= deadline {
            return false;
        }
        // Nothing signals these conditions: pause between checks (the
        // suite's only sleep), bounded by the deadline.
        std::thread::sleep(POLL_EVERY);
    }
    true
}

/// The prefix of the party API.
pub const API: &str = "/api/v1/event-driven";

/// A running app and server.
pub struct TestServer {
    /// The app behind the server.
    pub app: Arc<App>,
    /// The bound address.
    pub addr: SocketAddr,
    handle: Option<ServerHandle>,
}

impl TestServer {
    /// Auth on, no admin token.
    pub fn start() -> TestServer {
        TestServer::with(ServerConfig::default())
    }

    /// A server with the given configuration (host and port forced to 127.0.0.1:0).
    pub fn with(config: ServerConfig) -> TestServer {
        TestServer::with_app(Config::default(), config)
    }

    /// A server over an app started with `app_config`.
    pub fn with_app(app_config: Config, config: ServerConfig) -> TestServer {
        let app = Arc::new(App::start_new(app_config).expect("app starts"));
        let handle = serve(
            app.clone(),
            ServerConfig {
                host: "127.0.0.1".into(),
                port: 0,
                ..config
            },
        )
        .expect("server starts");
        let addr = handle.local_addr();
        TestServer {
            app,
            addr,
            handle: Some(handle),
        }
    }

    /// Auth off.
    pub fn open() -> TestServer {
        TestServer::with(ServerConfig {
            auth: AuthMode::Off,
            ..ServerConfig::default()
        })
    }

    /// Shuts the server down (graceful), leaving the app running.
    pub fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }

    /// A request; `token` goes into `Authorization: Bearer`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let bytes = body.map(|b| b.to_string().into_bytes());
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        request(self.addr, method, path, &headers, bytes.as_deref())
    }

    /// GET with a token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, None)
    }

    /// Creates a party; returns (party_id, token, response JSON).
    pub fn create(&self, body: Value) -> (String, String, Value) {
        let r = self.call("POST", &format!("{API}/party"), None, Some(&body));
        assert_eq!(r.status, 201, "{}", r.text());
        let v = r.json();
        (
            v["party_id"].as_str().expect("party_id").to_string(),
            v["party_token"].as_str().expect("token").to_string(),
            v,
        )
    }

    /// The party's status JSON (asserting 200).
    pub fn status(&self, party: &str, token: &str) -> Value {
        let r = self.get(&format!("{API}/party/{party}/status"), Some(token));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Waits until the party's planning has settled after `seq`.
    pub fn settle(&self, party: &str, seq: u64) {
        assert!(
            self.app.wait_settled(party, seq, WAIT),
            "party {party} did not settle"
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
        self.app.stop();
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the DESIGN.md error shape with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let v = self.json();
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["code"], code, "{v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
        assert!(self.header("x-request-id").is_some());
        assert!(self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")));
    }
}

/// Sends one request (with `Connection: close`) and reads the response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
}

/// Like [`request`], but a refused connection or a response cut short (the
/// server died) is an `Err` rather than a panic.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Resp> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !has("Host") {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    if !has("Connection") {
        head.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.write_all(&bytes)?;
    try_read_response(&mut BufReader::new(stream), method == "HEAD")
}

/// Sends raw bytes and reads one response (status line, headers, and a body
/// delimited by Content-Length or chunked encoding; none for 101).
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream.write_all(bytes).expect("write request");
    read_response(&mut BufReader::new(stream), false)
}

/// Reads a response's status line and headers.
pub fn read_head<R: Read>(r: &mut BufReader<R>) -> Resp {
    try_read_head(r).unwrap_or_else(|e| panic!("reading a response head: {e}"))
}

/// Reads one response from a buffered stream (`head`: the request was HEAD,
/// so there is no body).
pub fn read_response<R: Read>(r: &mut BufReader<R>, head: bool) -> Resp {
    try_read_response(r, head).unwrap_or_else(|e| panic!("reading a response: {e}"))
}

fn try_read_head<R: Read>(r: &mut BufReader<R>) -> io::Result<Resp> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "head cut short"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Resp {
        status,
        headers,
        body: Vec::new(),
    })
}

fn try_read_response<R: Read>(r: &mut BufReader<R>, head: bool) -> io::Result<Resp> {
    let mut resp = try_read_head(r)?;
    if head || resp.status == 101 || resp.status == 204 || resp.status == 304 {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// The one WebSocket client: blocking, and every read has a deadline.
pub struct Ws {
    /// The socket, for tests that send frames of their own.
    pub ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects to `url` (ws://...); the handshake error when refused.
    pub fn connect(url: &str) -> Result<Ws, tungstenite::Error> {
        let (ws, _) = tungstenite::connect(url)?;
        Ok(Ws { ws })
    }

    fn tcp(&self) -> &TcpStream {
        match self.ws.get_ref() {
            MaybeTlsStream::Plain(s) => s,
            _ => unreachable!("plain TCP only"),
        }
    }

    /// The next frame of any kind (pings included), within `within`.
    pub fn recv_within(&mut self, within: Duration) -> Message {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for a WebSocket message");
            self.tcp()
                .set_read_timeout(Some(left))
                .expect("set read timeout");
            match self.ws.read() {
                Ok(m) => return m,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("WebSocket read failed: {e}"),
            }
        }
    }

    /// The next frame of any kind, within [`WAIT`].
    pub fn recv(&mut self) -> Message {
        self.recv_within(WAIT)
    }

    /// The next text message as JSON, skipping pings and pongs.
    pub fn next_json(&mut self) -> Value {
        loop {
            match self.recv() {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Reads messages until `stop` says so; returns them all.
    pub fn events_until(&mut self, mut stop: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let v = self.next_json();
            let done = stop(&v);
            got.push(v);
            if done {
                return got;
            }
        }
    }

    /// Reads (and returns) messages until the close frame; returns both.
    pub fn until_close(&mut self) -> (Vec<Value>, Option<CloseFrame>) {
        let mut got = Vec::new();
        loop {
            match self.recv() {
                Message::Text(t) => got.push(serde_json::from_str(t.as_str()).expect("JSON")),
                Message::Close(frame) => {
                    // Send tungstenite's queued close reply.
                    let _ = self.ws.flush();
                    return (got, frame);
                }
                _ => {}
            }
        }
    }

    /// Messages until the close frame, and the close code.
    pub fn until_close_code(&mut self) -> (Vec<Value>, Option<u16>) {
        let (got, frame) = self.until_close();
        (got, frame.map(|f| u16::from(f.code)))
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }
}

/// The built binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_partybus");

/// The settings `partybus` reads from the environment: removed from every
/// child, so that a test sets exactly the ones it means.
const BIN_ENV: &[&str] = &[
    "API_HOST",
    "API_PORT",
    "LOG_LEVEL",
    "PARTYBUS_LOG_FORMAT",
    "NOTIFY_SOCKET",
    "PARTYBUS_AUTH",
    "PARTYBUS_ADMIN_TOKEN",
    "PARTYBUS_ADMIN_TOKEN_FILE",
    "PARTYBUS_METRICS_TOKEN",
    "PARTYBUS_METRICS_TOKEN_FILE",
    "PARTYBUS_SHUTDOWN_DELAY",
    "PARTYBUS_CORS_ORIGINS",
    "PARTYBUS_PUBLIC_URL",
    "PARTYBUS_TRUSTED_PROXIES",
    "PARTYBUS_DURABILITY",
    "PARTYBUS_EPHEMERAL",
    "PARTYBUS_JOURNAL",
    "PARTYBUS_PARTITIONS",
    "PARTYBUS_NODE_ID",
    "PARTYBUS_LEASE_TTL_MS",
];

/// Removes the settings `partybus` reads from the environment (so a test
/// sets exactly the ones it means), and asks for no backtraces.
pub fn clear_bin_env(cmd: &mut Command) {
    cmd.env("RUST_BACKTRACE", "0");
    for k in BIN_ENV {
        cmd.env_remove(k);
    }
}

/// `partybus <args>` with a clean environment plus `env`.
pub fn bin_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    clear_bin_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A `partybus serve` child on a loopback port, ready. Dropping it (a test
/// failed midway) kills the child, so no server outlives its test.
pub struct Served {
    /// The child, until a test takes it to wait for its exit.
    child: Option<Child>,
    /// The address it logged.
    pub addr: SocketAddr,
    /// Log lines up to and including `ready`.
    pub early: Vec<String>,
    /// Later log lines, as the server writes them.
    pub lines: mpsc::Receiver<String>,
}

impl Served {
    /// Starts `partybus serve <args>` (the caller picks `--port 0` or its
    /// environment twin) and waits, within [`WAIT`], for its `listening on`
    /// line (the address) and then its `ready` line (the journal is
    /// replayed: `/readyz` answers 200, which is checked).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Served {
        Served::spawn(bin_command(&[&["serve"], args].concat(), env))
    }

    /// [`Served::start`] for a `partybus serve` command the caller made
    /// (e.g. under `prlimit`).
    pub fn spawn(mut cmd: Command) -> Served {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + WAIT;
        let mut early = Vec::new();
        let mut addr = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("serve was not ready ({e}); its log: {early:#?}");
                }
            };
            if let Some(rest) = line.split("listening on http://").nth(1) {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            let ready = line.trim_end().ends_with(" ready");
            early.push(line);
            if let (true, Some(addr)) = (ready, addr) {
                let r = request(addr, "GET", "/readyz", &[], None);
                assert_eq!(r.status, 200, "/readyz after `ready`: {}", r.text());
                return Served {
                    child: Some(child),
                    addr,
                    early,
                    lines: rx,
                };
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Takes the child out (its exit is then the caller's to wait for).
    pub fn take(&mut self) -> Child {
        self.child.take().expect("child still owned")
    }
}

impl Drop for Served {
    /// Stops the child. When a test fails, prints what the server logged
    /// and how it ended, so that a failure in CI says what the server saw.
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let ended = c.try_wait().ok().flatten();
        let _ = c.kill();
        let _ = c.wait();
        if std::thread::panicking() {
            // The child is gone: its stderr reader ends at EOF.
            let mut later = Vec::new();
            while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                later.push(line);
            }
            eprintln!(
                "--- the server at {} ({}) logged:\n{}\n{}\n---",
                self.addr,
                ended.map_or("still running when the test failed".into(), |s| {
                    format!("it had exited: {s}")
                }),
                self.early.join("\n"),
                later.join("\n"),
            );
        }
    }
}

/// Sends `sig` (`-TERM`, `-KILL`, ...) to a process with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
}

/// Waits for the child's exit, at most `within`; kills it and fails otherwise.
pub fn exit_within(mut child: Child, within: Duration) -> ExitStatus {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(within) {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            signal(pid, "-KILL");
            panic!("pid {pid} did not exit within {within:?}");
        }
    }
}

/// Waits for the child's exit and collects its piped output, at most
/// `within`; kills it and fails with `what` and its output otherwise.
pub fn output_within(child: Child, what: &str, within: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.expect("wait for output"),
        Err(_) => {
            signal(pid, "-KILL");
            let out = rx.recv_timeout(WAIT).ok().and_then(Result::ok);
            let (stdout, stderr) = out.map_or((String::new(), String::new()), |o| {
                (
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            });
            panic!("{what} did not finish within {within:?}:\n{stdout}\n{stderr}");
        }
    }
}

/// Creates a party from one input `request` on `served` and waits, on the
/// party's WebSocket stream, until its plan is made; returns its id, its
/// token and the `seq` of that `plan_updated` event.
pub fn plan_on(served: &Served, request: &str) -> (String, String, u64) {
    let body = serde_json::json!({"initial_inputs": [{"content": request}]}).to_string();
    let r = request_json(served.addr, "POST", &format!("{API}/party"), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let party = created["party_id"].as_str().expect("party_id").to_string();
    let token = created["party_token"]
        .as_str()
        .expect("party_token")
        .to_string();
    let mut ws = Ws::connect(&format!(
        "ws://{}{API}/ws/{party}?since=0&token={token}",
        served.addr
    ))
    .expect("connect");
    // One input: one plan. Each receive fails the test after WAIT.
    let planned = ws.events_until(|e| e["type"] == "plan_updated");
    let seq = planned
        .last()
        .and_then(|e| e["seq"].as_u64())
        .expect("plan_updated has a seq");
    (party, token, seq)
}

/// A JSON request body sent with its content type.
fn request_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `partybus-<name>-<pid>-<random>`, created empty.
    pub fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "partybus-{name}-{}-{}",
            std::process::id(),
            partybus::event::new_input_id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
