//! The edge between the HTTP library (tiny_http, vendored) and our types: the
//! only module that names it. Starts the listener, turns each tiny_http
//! request into our [`Request`] and [`Body`], hands them to
//! [`dispatch::dispatch`], and writes the [`Outcome`] back: a [`Reply`] as a
//! tiny_http response, an oversized body drained or its connection
//! abandoned, a WebSocket request switched over to the hub (through
//! [`ws::Upgrade`], implemented here).
//!
//! Must not decide anything a handler or the dispatcher can: no routing, no
//! authorisation, no status codes of its own beyond the connection layer's
//! refusals ([`connection_limits`]). [`serve_one`] runs on the request's own
//! connection thread (tiny_http's `http-conn` pool), which has already read
//! the head and body: no hand-off to another thread and no thread per
//! request. It is counted in flight from the start, so shutdown either waits
//! for it or it sees shutdown begun and answers 503.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use tiny_http::{Header, Response};

use super::api;
use super::config::ServerConfig;
use super::ctx::{Ctx, OpenConnections};
use super::dispatch::{self, Outcome};
use super::error::Code;
use super::reply::{Reply, ReplyBody};
use super::request::{Body, BodySource, Request};
use super::ws;

/// The HTTP library's log target, which the binary quiets.
pub const LIBRARY_LOG_TARGET: &str = "tiny_http";

/// A declared body above this is never drained: tiny_http would allocate the
/// whole remainder to discard it, so the connection is abandoned instead.
pub(super) const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Oversized bodies drained at once (each buffered whole by tiny_http);
/// beyond it the connection is abandoned. Bounds memory under abuse.
pub(super) const MAX_DRAINING: usize = 16;

/// The running listener. Cloning shares it; the listening socket closes
/// when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Listener {
    server: Arc<tiny_http::Server>,
}

impl OpenConnections for tiny_http::Server {
    fn open_connections(&self) -> usize {
        self.num_connections()
    }
}

/// Starts serving `ctx` on `listener`: each connection gets a thread of the
/// library's pool, which answers its requests with [`serve_one`]. Attaches
/// the listener to `ctx` for its connection count.
pub(crate) fn start(
    listener: TcpListener,
    config: &ServerConfig,
    ctx: &Arc<Ctx>,
) -> std::io::Result<Listener> {
    let hctx = ctx.clone();
    let handler: tiny_http::Handler = Arc::new(move |rq| serve_one(&hctx, rq));
    let server = tiny_http::Server::from_listener_with_handler(
        listener,
        None,
        connection_limits(config, ctx),
        Some(handler),
    )
    .map_err(std::io::Error::other)?;
    let server = Arc::new(server);
    let weak: Weak<dyn OpenConnections> = Arc::downgrade(&server) as Weak<tiny_http::Server>;
    let _ = ctx.listener.set(weak);
    Ok(Listener { server })
}

impl Listener {
    /// Wakes [`Listener::watch`] so that it returns (once `ctx.stopping`).
    pub(super) fn unblock(&self) {
        self.server.unblock();
    }

    /// Watches the listener until shutdown unblocks it: requests never
    /// reach `Server::recv` (the connection threads answer them), but an
    /// accept failure does. Then nothing new will arrive: report not ready
    /// so an orchestrator restarts us, and keep serving the open connections.
    pub(super) fn watch(&self, ctx: &Arc<Ctx>) {
        loop {
            match self.server.recv() {
                Ok(rq) => serve_one(ctx, rq),
                Err(e) => {
                    if ctx.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    log::error!("the listener failed and accepts no more connections: {e}");
                    ctx.ready.store(false, Ordering::SeqCst);
                }
            }
        }
    }
}

/// The connection layer's limits (enforced inside tiny_http, before a request
/// reaches [`serve_one`]), with its refusals rendered as our JSON errors and
/// each one counted and logged ([`dispatch::record_refusal`]).
fn connection_limits(config: &ServerConfig, ctx: &Arc<Ctx>) -> tiny_http::ConnectionLimits {
    let json = |code: Code, detail: &str| {
        serde_json::to_vec(&serde_json::json!({
            "success": false,
            "detail": detail,
            "code": code.as_str(),
        }))
        .unwrap_or_default()
    };
    let refused = json(
        Code::TooManyConnections,
        &format!(
            "too many open connections (limit {}); retry shortly",
            config.max_connections
        ),
    );
    let response_503 = |body: Vec<u8>| {
        let mut response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        response
    };
    let refused_response = response_503(refused);
    // Out of file descriptors, the connection limit is not what was hit.
    let exhausted_response = response_503(json(
        Code::TooManyConnections,
        "the server has no file descriptor free for another connection; retry shortly",
    ));
    let hctx = ctx.clone();
    let on_refusal = tiny_http::RefusalHook(Arc::new(move |refusal, peer| {
        dispatch::record_refusal(&hctx, refusal_code(refusal), peer);
    }));
    tiny_http::ConnectionLimits {
        max_connections: config.max_connections,
        refused_response,
        exhausted_response,
        max_header_bytes: config.max_header_bytes,
        header_too_large_body: json(
            Code::HeaderTooLarge,
            &format!(
                "the request line and headers exceed {} bytes",
                config.max_header_bytes
            ),
        ),
        bad_request_body: json(
            Code::MalformedRequest,
            "the request line or a header cannot be read: it must be ASCII, and each header `name: value`",
        ),
        request_timeout_body: json(
            Code::RequestTimeout,
            &format!(
                "the request did not arrive within {:?} of its first byte, or stalled; the connection is closed",
                config.request_timeout
            ),
        ),
        expectation_failed_body: json(
            Code::ExpectationFailed,
            "the only `Expect` served is `100-continue`; the connection is closed",
        ),
        version_not_supported_body: json(
            Code::HttpVersionNotSupported,
            "only HTTP/1.0 and HTTP/1.1 are served",
        ),
        on_refusal: Some(on_refusal),
        read_timeout: Some(config.read_timeout),
        write_timeout: Some(config.write_timeout),
        request_timeout: Some(config.request_timeout),
        prebuffer_body: config.max_body,
    }
}

/// The error code of an answer tiny_http wrote itself.
fn refusal_code(refusal: tiny_http::Refusal) -> Code {
    match refusal {
        tiny_http::Refusal::TooManyConnections => Code::TooManyConnections,
        tiny_http::Refusal::HeaderTooLarge => Code::HeaderTooLarge,
        tiny_http::Refusal::RequestTimeout => Code::RequestTimeout,
        tiny_http::Refusal::BadRequest => Code::MalformedRequest,
        tiny_http::Refusal::ExpectationFailed => Code::ExpectationFailed,
        tiny_http::Refusal::VersionNotSupported => Code::HttpVersionNotSupported,
    }
}

/// Our request from tiny_http's: the head only (the body stays with it).
/// Its client is the peer until [`Request::behind`] resolves it.
fn request_of(rq: &tiny_http::Request) -> Request {
    let headers = rq
        .headers()
        .iter()
        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let version = rq.http_version();
    Request::new(
        rq.method().as_str(),
        rq.url(),
        (version.0, version.1),
        headers,
        rq.remote_addr().copied(),
        rq.body_length(),
    )
}

/// The body of a tiny_http request; opening it sends `100 Continue` to a
/// client that asked for one.
impl BodySource for tiny_http::Request {
    fn open(&mut self) -> &mut dyn std::io::Read {
        self.as_reader()
    }
}

impl ws::Upgrade for tiny_http::Request {
    fn request(&self) -> Request {
        request_of(self)
    }

    fn can_switch(&mut self) -> bool {
        self.can_upgrade_raw()
    }

    fn switch(self, accept: &str) -> std::io::Result<ws::Switched> {
        let mut response = Response::empty(101);
        if let Ok(h) = Header::from_bytes(&b"Sec-WebSocket-Accept"[..], accept.as_bytes()) {
            response.add_header(h);
        }
        let raw = self.upgrade_raw("websocket", response)?;
        Ok(ws::Switched {
            stream: raw.stream,
            buffered: raw.buffered,
        })
    }
}

/// Answers one request, on its connection's thread.
pub(crate) fn serve_one(ctx: &Arc<Ctx>, mut rq: tiny_http::Request) {
    let started = Instant::now();
    let _in_flight = ctx.in_flight.enter();
    let req = request_of(&rq).behind(&ctx.trusted_proxies);
    let outcome = {
        let mut body = Body::new(&mut rq);
        dispatch::dispatch(ctx, &req, &mut body, started)
    };
    match outcome {
        Outcome::Reply { label, reply } => finish(ctx, rq, &req, label, reply, started),
        Outcome::Oversized {
            label,
            reply,
            declared,
        } => {
            reject_oversized(ctx, rq, &req, label, reply, declared, started);
        }
        Outcome::WebSocket {
            label,
            party_id,
            since,
            party_token,
        } => match ctx
            .hub
            .upgrade(ctx.app.clone(), rq, party_id, since, party_token)
        {
            Ok(()) => dispatch::record(ctx, &req, label, 101, started.elapsed()),
            Err((e, rq)) => {
                let reply = Reply::error(&api::ws_error(e));
                finish(ctx, rq, &req, label, reply, started);
            }
        },
    }
}

/// Writes the reply, counts it and logs the access line.
fn finish(
    ctx: &Ctx,
    rq: tiny_http::Request,
    req: &Request,
    label: &'static str,
    reply: Reply,
    started: Instant,
) {
    let status = reply.status;
    if let Err(e) = rq.respond(to_response(ctx, reply, req)) {
        log::debug!("request {}: client went away: {e}", req.id());
    }
    dispatch::record(ctx, req, label, status, started.elapsed());
}

/// 413 for a declared body over the limit, without reading it. tiny_http
/// discards an unread body when the request is dropped, by reading (and
/// allocating) all of it; that is done (on this connection's own thread) for
/// moderate sizes and a bounded number at once, and never for absurd ones,
/// whose connection is abandoned after the answer.
fn reject_oversized(
    ctx: &Ctx,
    rq: tiny_http::Request,
    req: &Request,
    label: &'static str,
    reply: Reply,
    declared: usize,
    started: Instant,
) {
    let status = reply.status;
    let response = to_response(ctx, reply, req);
    let draining = ctx.draining.fetch_add(1, Ordering::SeqCst);
    if declared <= MAX_DRAIN_BYTES && draining < MAX_DRAINING {
        if let Err(e) = rq.respond(response) {
            log::debug!("request {}: client went away: {e}", req.id());
        }
    } else {
        // Answer, then keep the stream alive for good rather than let
        // tiny_http allocate the declared size to discard it. Costs one
        // socket and one tiny_http thread; logged.
        log::warn!(
            "request {}: body of {declared} bytes declared; connection abandoned after 413",
            req.id()
        );
        let stream = rq.upgrade("close", response);
        std::mem::forget(stream);
    }
    ctx.draining.fetch_sub(1, Ordering::SeqCst);
    dispatch::record(ctx, req, label, status, started.elapsed());
}

/// The tiny_http response: the reply with every header
/// [`dispatch::wire_headers`] gives it (a header tiny_http cannot carry is
/// left out).
/// The body is not copied: a body shared with a cache is read from where it
/// is.
fn to_response(ctx: &Ctx, reply: Reply, req: &Request) -> Response<std::io::Cursor<ReplyBody>> {
    let headers = dispatch::wire_headers(ctx, &reply, req);
    let len = reply.body.len();
    let mut response = Response::new(
        reply.status.into(),
        Vec::new(),
        std::io::Cursor::new(reply.body),
        Some(len),
        None,
    );
    for (name, value) in headers {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_code_of_its_status() {
        for r in tiny_http::Refusal::ALL {
            assert_eq!(refusal_code(r).status(), r.status(), "{r:?}");
        }
    }
}
