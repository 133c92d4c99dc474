//! Helpers for the HTTP tests: a server started in process on 127.0.0.1:0
//! with the real [`App`], a minimal HTTP/1.1 client over `std::net`, and a
//! blocking WebSocket client whose reads have deadlines. Every wait is a
//! blocking read or receive with a deadline, except [`poll_until`], for
//! conditions that nothing signals.
#![allow(dead_code)]

pub mod hub;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partybus::server::{serve, AuthMode, ServerConfig, ServerHandle};
use partybus::{App, Config};
use serde_json::Value;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long any single response or message may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// Interval between two checks of [`poll_until`].
pub const POLL_EVERY: Duration = Duration::from_millis(10);

/// Checks `ready` until it holds, panicking with `what` once `deadline`
/// passes. Only for conditions nothing signals (another process's readiness,
/// a thread letting go of an `Arc`, a timer inside the server).
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
        // Nothing signals these conditions: pause between checks (this
        // file's only sleep), bounded by the deadline.
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
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream.write_all(&bytes).expect("write request");
    read_response(&mut BufReader::new(stream), method == "HEAD")
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
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header line");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Resp {
        status,
        headers,
        body: Vec::new(),
    }
}

/// Reads one response from a buffered stream (`head`: the request was HEAD,
/// so there is no body).
pub fn read_response<R: Read>(r: &mut BufReader<R>, head: bool) -> Resp {
    let mut resp = read_head(r);
    if head || resp.status == 101 || resp.status == 204 || resp.status == 304 {
        return resp;
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).expect("chunk");
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
        r.read_exact(&mut body).expect("body");
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body).expect("body to EOF");
    }
    resp
}

/// A WebSocket client whose every read has a deadline.
pub struct Ws {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects to `url` (ws://...).
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

    /// The next frame, within [`WAIT`].
    pub fn recv(&mut self) -> Message {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for a WebSocket message");
            self.tcp().set_read_timeout(Some(left)).expect("timeout");
            match self.ws.read() {
                Ok(m) => return m,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("WebSocket read failed: {e}"),
            }
        }
    }

    /// The next text message as JSON (control frames skipped).
    pub fn next_json(&mut self) -> Value {
        loop {
            match self.recv() {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Messages until the close frame; the messages and the close code.
    pub fn until_close(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut got = Vec::new();
        loop {
            match self.recv() {
                Message::Text(t) => got.push(serde_json::from_str(t.as_str()).expect("JSON")),
                Message::Close(frame) => {
                    let _ = self.ws.flush();
                    return (got, frame.map(|f| u16::from(f.code)));
                }
                _ => {}
            }
        }
    }
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
