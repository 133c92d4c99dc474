//! WebSocket control over real sockets: ping/pong in all three forms, a slow
//! client dropped without slowing the bus or a fast client, shutdown with
//! 1001, client limits and refused upgrades.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::hub::{config, seq, Harness};
use crate::util::{poll_until, WAIT};
use partybus::bus::Admission;
use partybus::domain::AgentName;
use partybus::event::{AgentStarted, Draft, Payload};
use partybus::server::ws::WsConfig;
use tungstenite::Message;

fn fast_pings() -> WsConfig {
    WsConfig {
        ping_interval: Duration::from_millis(20),
        ..WsConfig::default()
    }
}

#[test]
fn text_json_and_protocol_pings_are_answered_and_the_server_pings() {
    let h = Harness::with(config(), fast_pings());
    let (mut c, _) = h.connect("p-ping", None);
    let mut server_pings = 0;

    c.send_text("ping");
    loop {
        match c.recv() {
            Message::Text(t) => {
                assert_eq!(t.as_str(), "pong");
                break;
            }
            Message::Ping(_) => server_pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }

    c.send_text(r#"{"type":"ping"}"#);
    let pong = c.next_json();
    assert_eq!(pong["type"], "pong");
    assert!(pong["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));

    c.ws.send(Message::Ping(b"hi".to_vec().into()))
        .expect("send ping");
    loop {
        match c.recv() {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"hi");
                break;
            }
            Message::Ping(_) => server_pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }

    while server_pings == 0 {
        if let Message::Ping(_) = c.recv() {
            server_pings += 1;
        }
    }
}

/// A synthetic `party.agent.started` with a large message: forwarded to
/// WebSocket clients, ignored by the scheduler, so each publish is exactly
/// one event in one batch.
fn publish_big(h: &Harness, party: &str, body: &str) -> u64 {
    let draft = Draft::command(
        party,
        "corr_slowtest",
        Payload::AgentStarted(AgentStarted {
            agent_name: AgentName::Theme,
            execution_id: "exec_slowtest".into(),
            input_count: 0,
            message: body.into(),
        }),
    );
    h.app
        .bus()
        .expect("bus")
        .publish(vec![draft], Admission::Command)
        .expect("the bus accepts the event")
}

#[test]
fn a_slow_client_is_dropped_while_a_fast_one_and_the_bus_keep_going() {
    let ws = WsConfig {
        max_pending_bytes: 256 * 1024,
        ..fast_pings()
    };
    let h = Harness::with(config(), ws);
    h.create("p-slow");
    let (mut fast, _) = h.connect("p-slow", None);
    let (mut slow, _) = h.connect("p-slow", None);
    assert_eq!(h.hub.clients(), 2);
    let body = "x".repeat(32 * 1024);
    let started = Instant::now();
    let mut fast_seqs = Vec::new();
    // Publish in lockstep with the fast client until the hub gives up on
    // the slow one (it never reads, so its TCP window and then its outbox
    // fill).
    let mut published = 0;
    while h.hub.clients() == 2 {
        assert!(
            started.elapsed() < WAIT,
            "the slow client was never dropped"
        );
        assert!(published < 5_000, "the slow client was never dropped");
        let s = publish_big(&h, "p-slow", &body);
        published += 1;
        let got = fast.events_until(|v| seq(v) == s);
        fast_seqs.extend(got.iter().map(seq));
    }
    // The bus and the fast client carry on.
    for _ in 0..20 {
        let s = publish_big(&h, "p-slow", "after");
        let got = fast.events_until(|v| seq(v) == s);
        fast_seqs.extend(got.iter().map(seq));
    }
    let last = *fast_seqs.last().expect("events");
    let from = h.forwarded("p-slow", 0, u64::MAX)[0];
    assert_eq!(fast_seqs, h.forwarded("p-slow", from, last));
    assert_eq!(h.app.bus().expect("bus").metrics().failed_deliveries, 0);

    // The slow client, once it reads, gets a gap-free prefix and 1013.
    let (msgs, frame) = slow.until_close();
    let frame = frame.expect("close frame");
    assert_eq!(u16::from(frame.code), 1013);
    assert_eq!(frame.reason.as_str(), "too slow");
    let slow_seqs: Vec<u64> = msgs.iter().map(seq).collect();
    assert!(slow_seqs.len() < fast_seqs.len());
    assert_eq!(slow_seqs, fast_seqs[..slow_seqs.len()]);
}

#[test]
fn a_client_that_goes_away_is_noticed_from_its_socket_not_a_timer() {
    // No ping, idle or tick timer can release a client within WAIT: only
    // the socket's own close can.
    let ws = WsConfig {
        ping_interval: WAIT * 4,
        idle_timeout: WAIT * 4,
        ..WsConfig::default()
    };
    let h = Harness::with(config(), ws);
    let (a, _) = h.connect("p-gone", None);
    let (mut b, _) = h.connect("p-gone", None);
    assert_eq!(h.hub.clients(), 2);
    // A clean TCP close (FIN) without a close frame.
    drop(a);
    poll_until(
        "the closed client to be released",
        Instant::now() + WAIT,
        || h.hub.clients() == 1,
    );
    // A reset (RST): the socket closes with linger zero.
    b.send_text("ping");
    let tcp = match b.ws.get_ref() {
        tungstenite::stream::MaybeTlsStream::Plain(s) => s.try_clone().expect("clone"),
        _ => unreachable!("plain TCP only"),
    };
    socket2::SockRef::from(&tcp)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(b);
    drop(tcp);
    poll_until(
        "the reset client to be released",
        Instant::now() + WAIT,
        || h.hub.clients() == 0,
    );
}

#[test]
fn shutdown_closes_every_client_with_1001_and_joins() {
    let h = Harness::start();
    h.create("p-shut");
    let mut clients: Vec<_> = (0..3).map(|_| h.connect("p-shut", None).0).collect();
    let (mut other, _) = h.connect("p-elsewhere", None);
    assert_eq!(h.hub.clients(), 4);
    let hub = h.hub.clone();
    let shutdown = std::thread::spawn(move || {
        let t = Instant::now();
        hub.shutdown(Duration::from_secs(5));
        t.elapsed()
    });
    for c in clients.iter_mut().chain([&mut other]) {
        let (_, frame) = c.until_close();
        let frame = frame.expect("close frame");
        assert_eq!(u16::from(frame.code), 1001);
        assert_eq!(frame.reason.as_str(), "server shutting down");
    }
    let took = shutdown.join().expect("shutdown");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_eq!(h.hub.clients(), 0);
    // No new clients afterwards.
    assert!(h.try_connect("p-shut", None).is_err());
}

fn refused_status(h: &Harness, party: &str) -> u16 {
    match h.try_connect(party, None) {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the upgrade of {party} was accepted"),
    }
}

#[test]
fn client_limits_are_enforced_per_party_and_in_total() {
    let ws = WsConfig {
        max_clients: 3,
        max_clients_per_party: 2,
        ..fast_pings()
    };
    let h = Harness::with(config(), ws);
    let (a1, _) = h.connect("p-a", None);
    let (_a2, _) = h.connect("p-a", None);
    assert_eq!(refused_status(&h, "p-a"), 503);
    let (_b1, _) = h.connect("p-b", None);
    assert_eq!(refused_status(&h, "p-b"), 503);
    assert_eq!(h.hub.clients(), 3);
    drop(a1);
    poll_until("the slot to be released", Instant::now() + WAIT, || {
        h.hub.clients() <= 2
    });
    let (_a3, _) = h.connect("p-a", None);
}

#[test]
fn requests_that_are_not_websocket_upgrades_are_refused() {
    let h = Harness::start();
    // A plain GET on the WebSocket route.
    let mut s = TcpStream::connect(h.addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        s,
        "GET /api/v1/event-driven/ws/p-x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("not a WebSocket upgrade request"), "{resp}");
    // A malformed party id.
    assert_eq!(refused_status(&h, "bad.id"), 400);
    assert_eq!(h.hub.clients(), 0);
}

#[test]
fn a_client_that_never_answers_pings_is_dropped_after_the_idle_timeout() {
    let ws = WsConfig {
        idle_timeout: Duration::from_millis(100),
        ..fast_pings()
    };
    let h = Harness::with(config(), ws);
    let (mut c, _) = h.connect("p-idle", None);
    // It keeps talking but never reads, so it never answers a ping.
    let started = Instant::now();
    while c.ws.send(Message::text("hello")).is_ok() {
        assert!(started.elapsed() < WAIT, "the client was never dropped");
    }
    poll_until("the slot to be released", Instant::now() + WAIT, || {
        h.hub.clients() == 0
    });
}
