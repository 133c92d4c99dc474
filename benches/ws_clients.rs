//! Many WebSocket clients on one server: starts the release binary
//! (`partybus serve --port 0 --auth off`, or the binary named by
//! `PARTYBUS_BIN`, e.g. a baseline build), connects `CLIENTS` (default
//! 1,000) WebSocket clients spread over parties of at most `PER_PARTY`
//! (default 1,000, the server's per-party limit), creates each party,
//! checks that every client receives every event of its plan, and reports
//! the server's RSS (idle, with the clients, after the plans) and the
//! fan-out latency. Loopback only; bounded in count and time.
//!
//! Run: `cargo bench --bench ws_clients` (`CLIENTS=200` to shorten,
//! `CLIENTS=10000` for the 10,000-client target; `ROUNDS=0` skips the
//! latency part). Each client is a file descriptor in this process and in
//! the server: `ulimit -n` must exceed `CLIENTS` (checked up front).

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

fn threads_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
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

/// The soft limit on open files of this process (`ulimit -n`).
fn open_files_limit() -> Option<usize> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let clients = env_usize("CLIENTS", 1_000);
    let per_party = env_usize("PER_PARTY", 1_000).max(1);
    if let Some(limit) = open_files_limit() {
        assert!(
            limit > clients + 64,
            "ulimit -n is {limit}: too low for {clients} clients (raise it, e.g. `ulimit -n {}`)",
            clients + 1024
        );
    }
    let bin =
        std::env::var("PARTYBUS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_partybus").into());
    let max = clients.max(1).to_string();
    let mut server = Command::new(&bin)
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
            "--ws-max-clients",
            &max,
            // The bench's own connections come from one IP.
            "--rate-reads",
            "0",
            "--rate-writes",
            "0",
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

    let parties: Vec<String> = (0..clients.div_ceil(per_party))
        .map(|i| format!("ws-bench-{i}"))
        .collect();
    // Small client buffers: this process holds every client too.
    let config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let started = Instant::now();
    let mut sockets: Vec<tungstenite::WebSocket<MaybeTlsStream<TcpStream>>> = (0..clients)
        .map(|i| {
            let url = format!(
                "ws://{addr}/api/v1/event-driven/ws/{}",
                parties[i / per_party]
            );
            let (mut ws, _) = tungstenite::client::connect_with_config(&url, Some(config), 0)
                .expect("ws connect");
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

    // Subscribed before the parties exist (auth off), as the prototype allows.
    let t0 = Instant::now();
    for party in &parties {
        let resp = post(
            &addr,
            "/api/v1/event-driven/party",
            &format!(
                r#"{{"party_id":"{party}","initial_inputs":[{{"content":"jungle theme party for 75 guests"}}]}}"#
            ),
        );
        assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    }
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
    let threads = threads_of(pid);
    // Every client of a party sees the same events.
    let by_party: std::collections::BTreeSet<(usize, u32)> = last_plan
        .iter()
        .enumerate()
        .map(|(i, (_, n))| (i / per_party, *n))
        .collect();
    assert_eq!(
        by_party.len(),
        parties.len(),
        "every client of a party must see the same events: {by_party:?}"
    );
    let counts: std::collections::BTreeSet<u32> = by_party.iter().map(|(_, n)| *n).collect();
    let slowest = last_plan.iter().map(|(d, _)| *d).max().unwrap_or_default();
    println!(
        "ws_clients: {clients} clients ({} parties) connected in {connect_time:.2?}; server RSS idle {} MiB, with clients {} MiB ({:.0} KiB per client), after the plan {} MiB; \
         {threads} server threads; every client got all {:?} events of its party, the last one {slowest:.2?} after the first create",
        parties.len(),
        rss_idle / 1024,
        rss_connected / 1024,
        (rss_connected.saturating_sub(rss_idle)) as f64 / clients as f64,
        rss_after / 1024,
        counts,
    );
    drop(sockets);

    // Latency: create a party, then wait for its plan on an already open
    // WebSocket; one party after another over a keep-alive HTTP connection.
    let rounds = env_usize("ROUNDS", 500);
    if rounds == 0 {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let _ = server.wait();
        return;
    }
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
