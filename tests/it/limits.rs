//! Caps, each with its own clear error: parties (503 `capacity`), inputs per
//! party (409 `too_many_inputs`), content length and tags (422 naming the
//! field), HTTP connections (503 `too_many_connections`) and header size
//! (431 `header_too_large`). Black-box over loopback.

use std::io::{BufReader, Write};
use std::net::TcpStream;

use crate::util::{self, read_response, request, TestServer, API, WAIT};
use partybus::app::Limits;
use partybus::server::{AuthMode, ServerConfig};
use partybus::Config;
use serde_json::json;

fn small_limits() -> TestServer {
    TestServer::with_app(
        Config {
            limits: Limits {
                max_parties: 2,
                max_inputs_per_party: 3,
                ..Limits::default()
            },
            ..Config::default()
        },
        ServerConfig::default(),
    )
}

#[test]
fn the_party_cap_answers_503_capacity_and_frees_on_delete() {
    let s = small_limits();
    let (a, ta, _) = s.create(json!({}));
    s.create(json!({}));
    let r = s.call("POST", &format!("{API}/party"), None, Some(&json!({})));
    r.assert_error(503, "capacity");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("maximum of 2 parties"));
    let r = s.call("DELETE", &format!("{API}/party/{a}"), Some(&ta), None);
    assert_eq!(r.status, 200, "{}", r.text());
    s.create(json!({}));
}

#[test]
fn the_input_cap_answers_409_too_many_inputs() {
    let s = small_limits();
    let (p, t, _) = s.create(json!({"initial_inputs": [{"content": "a"}, {"content": "b"}]}));
    let path = format!("{API}/party/{p}/input");
    let r = s.call("POST", &path, Some(&t), Some(&json!({"content": "c"})));
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.call("POST", &path, Some(&t), Some(&json!({"content": "d"})));
    r.assert_error(409, "too_many_inputs");
    let inputs: Vec<_> = (0..4)
        .map(|i| json!({"content": format!("x{i}")}))
        .collect();
    let r = s.call(
        "POST",
        &format!("{API}/party"),
        None,
        Some(&json!({"initial_inputs": inputs})),
    );
    r.assert_error(409, "too_many_inputs");
    assert_eq!(s.app.stats().unwrap().total_parties, 1);
}

#[test]
fn content_and_tags_are_capped_with_the_field_named() {
    let s = TestServer::start();
    let (p, t, _) = s.create(json!({}));
    let path = format!("{API}/party/{p}/input");
    let ok = "é".repeat(4_000);
    let r = s.call("POST", &path, Some(&t), Some(&json!({"content": ok})));
    assert_eq!(r.status, 201, "{}", r.text());
    let cases = [
        (json!({"content": "x".repeat(4_001)}), "content"),
        (json!({"content": "x", "tags": vec!["t"; 21]}), "tags"),
        (
            json!({"content": "x", "tags": ["ok", "y".repeat(65)]}),
            "tags[1]",
        ),
    ];
    for (body, field) in cases {
        let r = s.call("POST", &path, Some(&t), Some(&body));
        r.assert_error(422, "validation_error");
        assert_eq!(r.json()["field"], field);
    }
    let r = s.call(
        "POST",
        &format!("{API}/party"),
        None,
        Some(&json!({"initial_inputs": [{"content": "a"}, {"content": "b".repeat(4_001)}]})),
    );
    r.assert_error(422, "validation_error");
    assert_eq!(r.json()["field"], "initial_inputs[1].content");
    assert_eq!(s.app.stats().unwrap().total_parties, 1);
}

#[test]
fn oversized_headers_get_431_json() {
    let s = TestServer::with(ServerConfig {
        max_header_bytes: 4096,
        ..ServerConfig::default()
    });
    let big = "a".repeat(5000);
    let r = request(s.addr, "GET", "/livez", &[("X-Big", &big)], None);
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.json()["code"], "header_too_large");
    let r = request(s.addr, "GET", "/livez", &[("X-Small", "b")], None);
    assert_eq!(r.status, 200);
}

#[test]
fn unreadable_request_heads_get_400_json_and_a_close() {
    let s = TestServer::start();
    for head in [
        &b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n"[..],
        b"GET /livez HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"NOT A REQUEST LINE\r\n\r\n",
    ] {
        let r = util::raw(s.addr, head);
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(r.json()["code"], "malformed_request", "{}", r.text());
        assert_eq!(r.json()["success"], false);
    }
    assert_eq!(s.get("/livez", None).status, 200);
}

#[test]
fn connections_over_the_cap_get_503_without_a_thread() {
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        max_connections: 3,
        ..ServerConfig::default()
    });
    // Three keep-alive connections, each proven accepted by one answer.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        c.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(c);
        assert_eq!(read_response(&mut r, false).status, 200);
        held.push(r);
    }
    let r = request(s.addr, "GET", "/livez", &[], None);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "too_many_connections");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Closing one frees a slot (the count drops once tiny_http sees EOF).
    drop(held.pop());
    let deadline = std::time::Instant::now() + WAIT;
    util::poll_until("a connection slot to be freed", deadline, || {
        request(s.addr, "GET", "/livez", &[], None).status == 200
    });
}

#[test]
fn connections_opened_together_are_each_answered_while_the_others_stay_open() {
    use std::time::{Duration, Instant};
    // Every connection holds a thread of its own until it closes. Opened in
    // one burst, several used to be queued for the same idle thread and
    // waited until another connection closed (here: never, since all stay
    // open; the server's read timeout is set far beyond the test's wait).
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        read_timeout: Duration::from_secs(60),
        ..ServerConfig::default()
    });
    // Busy threads keep the cores taken, so that woken connection threads
    // lag behind the accept loop as they do under load.
    let _busy = Busy::start(4);
    for round in 0..3 {
        let mut held: Vec<TcpStream> = (0..16)
            .map(|_| TcpStream::connect(s.addr).unwrap())
            .collect();
        let began = Instant::now();
        for c in &mut held {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
        }
        for (i, c) in held.iter().enumerate() {
            let mut r = BufReader::new(c);
            assert_eq!(
                read_response(&mut r, false).status,
                200,
                "round {round}, connection {i}"
            );
        }
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "round {round}: {:?}",
            began.elapsed()
        );
    }
}

/// Threads that spin until dropped (also when a test fails).
struct Busy(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
);

impl Busy {
    fn start(n: usize) -> Busy {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Busy(stop, threads)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_flooding_ip_gets_429_with_retry_after_and_reads_have_their_own_budget() {
    use partybus::server::{RateBudget, RateLimits};
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        rate_limits: RateLimits {
            reads: RateBudget {
                per_second: 0.5,
                burst: 5.0,
            },
            writes: RateBudget {
                per_second: 0.5,
                burst: 2.0,
            },
        },
        ..ServerConfig::default()
    });
    let create = || s.call("POST", &format!("{API}/party"), None, Some(&json!({})));
    assert_eq!(create().status, 201);
    assert_eq!(create().status, 201);
    let r = create();
    r.assert_error(429, "rate_limited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Reads still pass until their own bucket is empty.
    for _ in 0..5 {
        assert_eq!(s.get("/livez", None).status, 200);
    }
    s.get("/livez", None).assert_error(429, "rate_limited");
}

#[test]
fn a_slowloris_gets_408_and_never_holds_up_other_clients() {
    use std::time::Duration;
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        request_timeout: Duration::from_millis(300),
        // Far beyond the test: a stalled socket is never what ends it.
        read_timeout: WAIT * 2,
        ..ServerConfig::default()
    });
    // A head that trickles in, and a body that never completes.
    let mut slow_head = TcpStream::connect(s.addr).unwrap();
    slow_head
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut slow_body = TcpStream::connect(s.addr).unwrap();
    slow_body
        .write_all(b"POST /api/v1/event-driven/party HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    // Meanwhile other clients are answered, while both slow requests are
    // still pending: neither has been answered or closed yet. (Asserted as
    // an order of events, not a duration: a loaded machine may be slow.)
    for _ in 0..5 {
        assert_eq!(request(s.addr, "GET", "/livez", &[], None).status, 200);
    }
    for c in [&slow_head, &slow_body] {
        c.set_nonblocking(true).unwrap();
        let pending = c.peek(&mut [0; 1]).map_err(|e| e.kind());
        assert_eq!(pending, Err(std::io::ErrorKind::WouldBlock));
        c.set_nonblocking(false).unwrap();
    }
    // Each keeps trickling until the server gives up on it: the next piece
    // past the request timeout gets 408 and a close.
    for (c, piece) in [
        (&mut slow_head, &b"X-Trickle: 1\r\n"[..]),
        (&mut slow_body, b" "),
    ] {
        let got = trickle_until_answered(c, piece);
        assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    }
}

#[test]
fn a_request_that_stalls_mid_way_gets_408_not_a_silent_close() {
    use std::io::Read;
    use std::time::Duration;
    let s = TestServer::with(ServerConfig {
        auth: AuthMode::Off,
        // The socket's read timeout, not the request deadline, ends these.
        read_timeout: Duration::from_millis(300),
        request_timeout: WAIT * 2,
        ..ServerConfig::default()
    });
    for start in [
        &b"GET /livez HTTP/1.1\r\nHost: x\r\n"[..],
        b"POST /api/v1/event-driven/party HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    ] {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(start).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).expect("an answer, then a close");
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    }
    // An idle keep-alive connection (no byte of a request) is closed quietly.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    idle.read_to_end(&mut got).expect("a close");
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
}

/// Writes `piece` every [`TRICKLE_EVERY`], as a slowloris does, until the
/// server answers; returns what it sent before closing. Fails after
/// [`WAIT`], or when the server closes without a word.
fn trickle_until_answered(c: &mut TcpStream, piece: &[u8]) -> String {
    use std::io::{ErrorKind, Read};
    let deadline = std::time::Instant::now() + WAIT;
    // Waiting for an answer between two pieces is the slowloris's own
    // pause: the point of the test, not a wait for something to happen.
    c.set_read_timeout(Some(TRICKLE_EVERY)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 512];
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no answer to a slowloris within {WAIT:?}"
        );
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if got.is_empty() {
                    c.write_all(piece).expect("trickle");
                }
            }
            // A piece the server never read turns its close into a reset.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !got.is_empty() => break,
            Err(e) => panic!("reading the answer to a slowloris: {e} (got {got:?})"),
        }
    }
    assert!(
        !got.is_empty(),
        "the server closed a slowloris without an answer"
    );
    String::from_utf8_lossy(&got).into_owned()
}

/// A slowloris's pause between two pieces of its request (the server's
/// request timeout in the test is 300 ms).
const TRICKLE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

#[test]
fn rotating_the_token_closes_the_streams_it_let_in_but_not_the_admins() {
    let s = TestServer::with(ServerConfig {
        admin_token: Some("admin-secret".into()),
        ..ServerConfig::default()
    });
    let (p, old, _) = s.create(json!({}));
    let ws = |token: &str| {
        let mut ws = util::Ws::connect(&format!("ws://{}{API}/ws/{p}?token={token}", s.addr))
            .expect("connect");
        assert_eq!(ws.next_json()["type"], "connection");
        ws
    };
    let mut owner = ws(&old);
    let mut admin = ws("admin-secret");
    let r = s.call("POST", &format!("{API}/party/{p}/token"), Some(&old), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let new = r.json()["party_token"].as_str().unwrap().to_string();
    let (_, close) = owner.until_close();
    let close = close.expect("a close frame");
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (1008, "token rotated")
    );
    // The admin's stream goes on, and so does one opened with the new token.
    let mut fresh = ws(&new);
    s.call(
        "POST",
        &format!("{API}/party/{p}/input"),
        Some(&new),
        Some(&json!({"content": "jungle theme for 20 kids"})),
    );
    for w in [&mut admin, &mut fresh] {
        let evs = w.events_until(|e| e["type"] == "input_added");
        assert!(!evs.is_empty());
    }
}

#[test]
fn rotating_the_token_invalidates_the_old_one() {
    let s = TestServer::start();
    let (p, old, _) = s.create(json!({}));
    let path = format!("{API}/party/{p}/token");
    s.call("POST", &path, None, None)
        .assert_error(401, "unauthorized");
    let r = s.call("POST", &path, Some(&old), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let new = r.json()["party_token"].as_str().unwrap().to_string();
    assert_eq!(new.len(), 32);
    assert_ne!(new, old);
    let status = format!("{API}/party/{p}/status");
    s.get(&status, Some(&old)).assert_error(403, "forbidden");
    assert_eq!(s.get(&status, Some(&new)).status, 200);
    s.call("POST", &path, Some(&old), None)
        .assert_error(403, "forbidden");
    // The rotation is an event like any other, replayable into equal state.
    let events = s.get(&format!("{API}/party/{p}/events"), Some(&new)).json();
    let topics: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert!(topics.contains(&"party.token.rotated"), "{topics:?}");
}
