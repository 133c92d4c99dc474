//! Caps, each with its own clear error: parties (503 `capacity`), inputs per
//! party (409 `too_many_inputs`), content length and tags (422 naming the
//! field), HTTP connections (503 `too_many_connections`) and header size
//! (431 `header_too_large`). Black-box over loopback.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;

use common::{read_response, request, TestServer, API, WAIT};
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
        ServerConfig {
            workers: 2,
            ..ServerConfig::default()
        },
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
        workers: 2,
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
fn connections_over_the_cap_get_503_without_a_thread() {
    let s = TestServer::with(ServerConfig {
        workers: 2,
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
    loop {
        let r = request(s.addr, "GET", "/livez", &[], None);
        if r.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
