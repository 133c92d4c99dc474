//! The read-path ceiling: a bare tiny_http server that answers
//! `GET …/party/{id}/status` with the same bytes partybus answers, and
//! nothing else that partybus does (no routing table, no token check, no
//! store, no metrics, no access log). `scripts/read_ceiling.sh` runs it beside
//! partybus under `partybus loadgen --mode read`, so the read target (issue
//! 17: partybus ≥ 0.8 × this) is measured against it in the same run.
//!
//! Same HTTP layer as `partybus serve`: the vendored tiny_http, started with
//! `Server::from_listener_with_handler` (each request answered on its
//! connection's own thread), the same [`tiny_http::ConnectionLimits`] values,
//! and a listening socket with `TCP_NODELAY` and the same backlog. Each
//! answer is a `Response::from_data` with the headers partybus writes, in its
//! order (`Content-Type`, `X-Request-Id`, `Cache-Control`,
//! `X-Content-Type-Options`); tiny_http adds `Server`, `Date` and
//! `Content-Length` to both alike.
//!
//! What loadgen's read mode needs besides the status: `GET /livez` (its
//! probe) and `POST …/party` (its pool), answered with a canned create
//! response naming a fresh party id and a token; any other request gets 404.
//!
//! ```text
//! cargo run --release --example bare_http -- STATUS_BODY_FILE [PORT]
//! ```
//! `STATUS_BODY_FILE` holds a status body as partybus answered it (the
//! script fetches one from a planned party); it prints
//! `listening on http://ADDR` on stderr like `partybus serve`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use partybus::server::{
    MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_HEADER_BYTES, READ_TIMEOUT, REQUEST_TIMEOUT, WRITE_TIMEOUT,
};
use tiny_http::{Header, Response};

/// The route prefix partybus serves its API under.
const API_PREFIX: &str = "/api/v1/event-driven";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let body_file = args
        .next()
        .ok_or("usage: bare_http STATUS_BODY_FILE [PORT]")?;
    let port: u16 = args.next().map_or(Ok(0), |p| p.parse())?;
    let status_body: Arc<[u8]> = std::fs::read(&body_file)?.into();
    // The socket exactly as `partybus serve` opens it.
    let listener = partybus::server::listen(SocketAddr::from(([127, 0, 0, 1], port)))?;
    let addr = listener.local_addr()?;
    let limits = tiny_http::ConnectionLimits {
        max_connections: MAX_CONNECTIONS,
        refused_response:
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_vec(),
        max_header_bytes: MAX_HEADER_BYTES,
        header_too_large_body: Vec::new(),
        bad_request_body: Vec::new(),
        read_timeout: Some(READ_TIMEOUT),
        write_timeout: Some(WRITE_TIMEOUT),
        request_timeout: Some(REQUEST_TIMEOUT),
        prebuffer_body: MAX_BODY_BYTES,
        ..tiny_http::ConnectionLimits::default()
    };
    let counter = Arc::new(AtomicU64::new(1));
    let handler: tiny_http::Handler = Arc::new(move |rq: tiny_http::Request| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let response = answer(&rq, n, &status_body, addr);
        let _ = rq.respond(response);
    });
    let server =
        tiny_http::Server::from_listener_with_handler(listener, None, limits, Some(handler))
            .map_err(|e| e.to_string())?;
    eprintln!("listening on http://{addr}");
    // Requests never reach `recv` with a handler; it returns on an accept error.
    loop {
        if let Err(e) = server.recv() {
            return Err(e.into());
        }
    }
}

/// The answer to one request; `n` numbers it (request ids, party ids).
fn answer(
    rq: &tiny_http::Request,
    n: u64,
    status_body: &[u8],
    addr: SocketAddr,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let url = rq.url();
    let (status, body) = match rq.method().as_str() {
        "GET" if url.starts_with(API_PREFIX) && url.contains("/status") => {
            (200, status_body.to_vec())
        }
        "GET" if url == "/livez" => (200, br#"{"status":"alive"}"#.to_vec()),
        "POST" if url == format!("{API_PREFIX}/party") => {
            let id = format!("fp2026{n:08X}");
            let created = format!(
                r#"{{"success":true,"party_id":"{id}","party_token":"{n:032x}","input_ids":[],"message":"Party created successfully","websocket_url":"ws://{addr}{API_PREFIX}/ws/{id}","status_url":"http://{addr}{API_PREFIX}/party/{id}/status","seq":{n}}}"#
            );
            (201, created.into_bytes())
        }
        _ => (404, br#"{"success":false,"code":"not_found"}"#.to_vec()),
    };
    let headers = [
        ("Content-Type", "application/json".to_string()),
        // The same shape and length as partybus's generated ids.
        ("X-Request-Id", format!("corr_{n:012x}")),
        ("Cache-Control", "no-store".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
    ];
    let mut response = Response::from_data(body).with_status_code(status);
    for (name, value) in headers {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    response
}
