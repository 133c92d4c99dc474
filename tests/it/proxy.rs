//! Behind a reverse proxy, through the built binary: `--public-url` as the
//! base of every handed-out URL; `--trusted-proxy` making the forwarding
//! headers count for the client (rate limits, the access log, the WebSocket
//! origin check) and for the URLs' scheme and host; the same headers
//! ignored from any other peer; bad values refused at start-up. The
//! "proxy" is the test itself, on 127.0.0.1, sending the headers a proxy
//! would. Log lines are waited for with [`WAIT`].

use serde_json::Value;

use crate::util::{self, request, Resp, Served, API, WAIT};

/// Every child here keeps its journal in memory.
const EPHEMERAL: (&str, &str) = ("PARTYBUS_EPHEMERAL", "true");

/// Writes per client: one, then 429 for a long while (no refill within a
/// test), so a second write tells whether two requests share a bucket.
const ONE_WRITE: [&str; 4] = ["--rate-writes", "0.001", "--rate-write-burst", "1"];

/// `partybus serve --port 0 <args>` in memory, logging requests.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Served {
    let args = [&["--port", "0", "--log-level", "info"], args].concat();
    Served::start(&args, &[&[EPHEMERAL], env].concat())
}

/// `POST …/party` with `headers` (an empty body: a party without inputs).
fn create(s: &Served, headers: &[(&str, &str)]) -> Resp {
    request(s.addr, "POST", &format!("{API}/party"), headers, None)
}

/// The created party's JSON (asserting 201).
fn created(s: &Served, headers: &[(&str, &str)]) -> Value {
    let r = create(s, headers);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The first log line holding every one of `needles`, among those up to
/// `ready` and then as they come (within [`WAIT`]); later searches start
/// after the line found.
fn log_line(s: &Served, needles: &[&str]) -> String {
    let holds = |line: &str| needles.iter().all(|n| line.contains(n));
    if let Some(line) = s.early.iter().find(|l| holds(l)) {
        return line.clone();
    }
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match s.lines.recv_timeout(left) {
            Ok(line) if holds(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needles:?}: {e}"),
        }
    }
}

/// A WebSocket handshake for `path` with `headers` besides the upgrade's.
fn ws_handshake(s: &Served, path: &str, headers: &[(&str, &str)]) -> Resp {
    let upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    request(s.addr, "GET", path, &[&upgrade[..], headers].concat(), None)
}

/// The headers a TLS-terminating proxy sends for client `ip`.
fn forwarded_by_proxy(ip: &str) -> [(&str, &str); 3] {
    [
        ("X-Forwarded-For", ip),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "party.example.com"),
    ]
}

#[test]
fn a_public_url_is_the_base_of_every_url_handed_out() {
    for (args, env) in [
        (
            vec!["--public-url", "https://example.com/partybus/"],
            vec![],
        ),
        (
            vec![],
            vec![("PARTYBUS_PUBLIC_URL", "https://example.com/partybus")],
        ),
    ] {
        let s = serve(&args, &env);
        let r = create(&s, &[]);
        assert_eq!(r.status, 201, "{}", r.text());
        let v = r.json();
        let id = str_of(&v, "party_id");
        let ws = str_of(&v, "websocket_url");
        assert_eq!(ws, format!("wss://example.com/partybus{API}/ws/{id}"));
        let status = format!("/partybus{API}/party/{id}/status");
        assert_eq!(
            str_of(&v, "status_url"),
            format!("https://example.com{status}")
        );
        assert_eq!(r.header("location"), Some(status.as_str()));
        // Behind the prefix is the real path: the proxy strips the prefix
        // and the stream opens.
        let real = ws.replace("wss://example.com/partybus", &format!("ws://{}", s.addr));
        let token = str_of(&v, "party_token");
        let mut client = util::Ws::connect(&format!("{real}?token={token}")).expect("connects");
        assert_eq!(client.next_json()["type"], "connection");
        log_line(&s, &["handing out URLs under https://example.com/partybus"]);
        // A page served through the public URL may open the stream, though
        // the proxy rewrote `Host` and forwarded none; another site may not.
        let path = format!("{API}/ws/{id}?token={token}");
        let page = ws_handshake(&s, &path, &[("Origin", "https://example.com")]);
        assert_eq!(page.status, 101, "{}", page.text());
        let other = ws_handshake(&s, &path, &[("Origin", "https://evil.example")]);
        assert_eq!(other.status, 403, "{}", other.text());
    }
}

#[test]
fn bad_proxy_settings_stop_start_up_with_the_reason() {
    for (flag, bad, says) in [
        (
            "--public-url",
            "ftp://example.com",
            "scheme must be http or https",
        ),
        ("--public-url", "example.com", "is not a URL"),
        (
            "--public-url",
            "https://example.com/?x=1",
            "query or fragment",
        ),
        (
            "--public-url",
            "https://user@example.com",
            "user information",
        ),
        ("--trusted-proxy", "10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ("--trusted-proxy", "10.0.0.0/33", "prefix length"),
        (
            "--trusted-proxy",
            "proxy.local",
            "not an IP address or CIDR range",
        ),
    ] {
        let out = util::bin_command(&["serve", "--port", "0", flag, bad], &[EPHEMERAL])
            .output()
            .expect("run partybus");
        assert_eq!(out.status.code(), Some(2), "{flag} {bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag) && err.contains(bad) && err.contains(says),
            "{flag} {bad}: {err}"
        );
    }
    let env = [("PARTYBUS_TRUSTED_PROXIES", "127.0.0.1, nope")];
    let out = util::bin_command(
        &["serve", "--port", "0"],
        &[&[EPHEMERAL], &env[..]].concat(),
    )
    .output()
    .expect("run partybus");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nope\""));
}

#[test]
fn a_trusted_proxy_forwards_the_client_the_scheme_and_the_host() {
    let s = serve(
        &[
            &["--trusted-proxy", "10.0.0.0/8,127.0.0.1/32"],
            &ONE_WRITE[..],
        ]
        .concat(),
        &[],
    );
    log_line(
        &s,
        &["trusting forwarding headers from 10.0.0.0/8, 127.0.0.1/32"],
    );
    let v = created(&s, &forwarded_by_proxy("192.0.2.1"));
    let id = str_of(&v, "party_id");
    assert_eq!(
        str_of(&v, "websocket_url"),
        format!("wss://party.example.com{API}/ws/{id}")
    );
    assert_eq!(
        str_of(&v, "status_url"),
        format!("https://party.example.com{API}/party/{id}/status")
    );
    log_line(&s, &["192.0.2.1 POST /api/v1/event-driven/party 201"]);

    // Each forwarded client has its own bucket; a trusted hop in between
    // is skipped, a spoofed entry left of the real client is not believed.
    create(&s, &forwarded_by_proxy("192.0.2.1")).assert_error(429, "rate_limited");
    log_line(&s, &["192.0.2.1 POST /api/v1/event-driven/party 429"]);
    let chain = [("X-Forwarded-For", "192.0.2.1, 192.0.2.2, 10.1.2.3")];
    created(&s, &chain);
    log_line(&s, &["192.0.2.2 POST /api/v1/event-driven/party 201"]);

    // RFC 7239 Forwarded wins over X-Forwarded-*, IPv6 and all.
    let both = [
        ("X-Forwarded-For", "192.0.2.1"),
        ("X-Forwarded-Proto", "http"),
        (
            "Forwarded",
            r#"for="[2001:db8::5]:4711";proto=https;host="f.example:8443""#,
        ),
    ];
    let v = created(&s, &both);
    let ws = str_of(&v, "websocket_url");
    assert!(ws.starts_with("wss://f.example:8443/api/"), "{ws}");
    log_line(&s, &["2001:db8::5 POST /api/v1/event-driven/party 201"]);

    // Garbage never fails a request: the client falls back to the peer.
    let v = created(
        &s,
        &[
            ("X-Forwarded-For", "unknown"),
            ("X-Forwarded-Proto", "gopher"),
        ],
    );
    assert!(str_of(&v, "websocket_url").starts_with("ws://"), "{v}");
    log_line(&s, &["127.0.0.1 POST /api/v1/event-driven/party 201"]);

    // The WebSocket handshake: a page on the forwarded host is same-origin,
    // and the upgrade is logged for the forwarded client.
    let token = str_of(&v, "party_token");
    let path = format!("{API}/ws/{}?token={token}", str_of(&v, "party_id"));
    let page = [
        ("Origin", "https://party.example.com"),
        ("X-Forwarded-For", "198.51.100.4"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "party.example.com"),
    ];
    assert_eq!(ws_handshake(&s, &path, &page).status, 101);
    log_line(&s, &["198.51.100.4 GET /api/v1/event-driven/ws/", " 101 "]);
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    for trusted in [&[][..], &["--trusted-proxy", "10.0.0.0/8"][..]] {
        let s = serve(&[trusted, &ONE_WRITE[..]].concat(), &[]);
        let v = created(&s, &forwarded_by_proxy("192.0.2.1"));
        let id = str_of(&v, "party_id");
        let host = s.addr.to_string();
        assert_eq!(
            str_of(&v, "websocket_url"),
            format!("ws://{host}{API}/ws/{id}"),
            "{trusted:?}"
        );
        assert_eq!(
            str_of(&v, "status_url"),
            format!("http://{host}{API}/party/{id}/status")
        );
        log_line(&s, &["127.0.0.1 POST /api/v1/event-driven/party 201"]);
        // One bucket for everyone on the peer's address.
        let other = forwarded_by_proxy("192.0.2.2");
        create(&s, &other).assert_error(429, "rate_limited");
        let forged = [("Forwarded", "for=192.0.2.3")];
        create(&s, &forged).assert_error(429, "rate_limited");
        log_line(&s, &["127.0.0.1 POST /api/v1/event-driven/party 429"]);
        // A forged host does not make a foreign page same-origin.
        let token = str_of(&v, "party_token");
        let path = format!("{API}/ws/{id}?token={token}");
        let page = [
            ("Origin", "https://party.example.com"),
            ("X-Forwarded-Host", "party.example.com"),
        ];
        ws_handshake(&s, &path, &page).assert_error(403, "cors_origin_not_allowed");
    }
}
