//! Many WebSocket clients on one server: starts the release binary
//! (`partybus serve --port 0 --auth off`), connects `CLIENTS` (default 1,000)
//! WebSocket clients to one party, adds an input, checks that every client
//! receives every event of the resulting plan, and reports the server's RSS
//! and the fan-out latency. Loopback only; bounded in count and time.
//!
//! Run: `cargo bench --bench ws_clients` (`CLIENTS=200` to shorten).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

const DEADLINE: Duration = Duration::from_secs(60);

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn post(addr: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// Reads one HTTP response (status line, headers, Content-Length body).
fn read_response(r: &mut BufReader<TcpStream>) {
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("response line");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
}

fn main() {
    let clients: usize = std::env::var("CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let bin = env!("CARGO_BIN_EXE_partybus");
    let mut server = Command::new(bin)
        .args([
            "serve",
            "--port",
            "0",
            "--auth",
            "off",
            "--log-level",
            "info",
            // Fan-out is measured here, not the journal (and nothing is
            // left behind in the working directory).
            "--ephemeral",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start partybus");
    let pid = server.id();
    let mut lines = BufReader::new(server.stderr.take().expect("stderr")).lines();
    let mut addr = None;
    // The server listens before it is ready: wait for both log lines.
    loop {
        let line = lines.next().expect("server exited").expect("read log");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = Some(rest.split_whitespace().next().expect("address").to_string());
        }
        if line.ends_with("] ready") {
            break;
        }
    }
    let addr = addr.expect("a listening line before the ready line");
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let rss_idle = rss_kib(pid);

    let party = "ws-bench";
    let url = format!("ws://{addr}/api/v1/event-driven/ws/{party}");
    let started = Instant::now();
    let mut sockets: Vec<tungstenite::WebSocket<MaybeTlsStream<TcpStream>>> = (0..clients)
        .map(|_| {
            let (mut ws, _) = tungstenite::connect(&url).expect("ws connect");
            if let MaybeTlsStream::Plain(s) = ws.get_ref() {
                s.set_read_timeout(Some(DEADLINE)).expect("timeout");
            }
            let first = ws.read().expect("connection message");
            assert!(first.to_text().unwrap_or("").contains("\"connection\""));
            ws
        })
        .collect();
    let connect_time = started.elapsed();
    let rss_connected = rss_kib(pid);

    // Subscribed before the party exists (auth off), as the prototype allows.
    let t0 = Instant::now();
    let resp = post(
        &addr,
        "/api/v1/event-driven/party",
        &format!(
            r#"{{"party_id":"{party}","initial_inputs":[{{"content":"jungle theme party for 75 guests"}}]}}"#
        ),
    );
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let mut last_plan = Vec::with_capacity(clients);
    for ws in &mut sockets {
        let mut seen = 0u32;
        loop {
            match ws.read().expect("event") {
                Message::Text(t) => {
                    seen += 1;
                    if t.contains("\"plan_updated\"") {
                        break;
                    }
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        last_plan.push((t0.elapsed(), seen));
    }
    let rss_after = rss_kib(pid);
    let counts: std::collections::BTreeSet<u32> = last_plan.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        counts.len(),
        1,
        "every client must see the same events: {counts:?}"
    );
    let slowest = last_plan.iter().map(|(d, _)| *d).max().unwrap_or_default();
    println!(
        "ws_clients: {clients} clients connected in {connect_time:.2?}; server RSS idle {} MiB, with clients {} MiB ({:.0} KiB per client), after the plan {} MiB; \
         every client got all {} events, the last one {slowest:.2?} after the create",
        rss_idle / 1024,
        rss_connected / 1024,
        (rss_connected.saturating_sub(rss_idle)) as f64 / clients as f64,
        rss_after / 1024,
        counts.iter().next().copied().unwrap_or(0),
    );
    drop(sockets);

    // Latency: create a party, then wait for its plan on an already open
    // WebSocket; one party after another over a keep-alive HTTP connection.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut http = TcpStream::connect(&addr).expect("connect");
    http.set_nodelay(true).expect("nodelay");
    let mut reader = BufReader::new(http.try_clone().expect("clone"));
    let mut lat = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let id = format!("lat-{n}");
        let (mut ws, _) =
            tungstenite::connect(format!("ws://{addr}/api/v1/event-driven/ws/{id}")).expect("ws");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(DEADLINE)).expect("timeout");
            s.set_nodelay(true).expect("nodelay");
        }
        ws.read().expect("connection message");
        let body = format!(
            r#"{{"party_id":"{id}","initial_inputs":[{{"content":"jungle theme party for 75 guests"}}]}}"#
        );
        let t0 = Instant::now();
        write!(
            http,
            "POST /api/v1/event-driven/party HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        read_response(&mut reader);
        loop {
            if let Message::Text(t) = ws.read().expect("event") {
                if t.contains("\"plan_updated\"") {
                    break;
                }
            }
        }
        lat.push(t0.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "e2e_latency: create party -> plan_updated on the WebSocket, {rounds} parties one after another: p50 {:.2?}, p95 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(0.50),
        pct(0.95),
        pct(0.99),
        lat[lat.len() - 1]
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
}
