//! Everything between a tiny_http request and a handler: request ids,
//! routing misses (404/405), CORS preflights and headers (rules in
//! [`super::cors`]), body limits and JSON decoding, building responses, panic
//! capture, in-flight accounting, metrics and the access log.
//!
//! [`serve_one`] runs on the request's own connection thread (tiny_http's
//! `http-conn` pool), which has already read the head and body: no hand-off
//! to another thread and no thread per request. A handler panic becomes a
//! JSON 500 and the connection goes on. The access log has one line per
//! request and never the query string (it may carry a token).

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use serde::Serialize;
use tiny_http::{Header, Request, Response};

use super::error::{ApiError, Code};
use super::routes::{self, Miss, RouteId, RouteSpec};
use super::{api, cors, metrics, Ctx};
use crate::bus::Subscription;

/// Longest client-supplied `X-Request-Id` kept; longer ones are replaced.
pub const MAX_REQUEST_ID: usize = 128;

/// A declared body above this is never drained: tiny_http would allocate the
/// whole remainder to discard it, so the connection is abandoned instead.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Oversized bodies drained at once (each buffered whole by tiny_http);
/// beyond it the connection is abandoned. Bounds memory under abuse.
pub const MAX_DRAINING: usize = 16;

/// The connection layer's limits (enforced inside tiny_http, before a request
/// reaches [`serve_one`]), with its refusals rendered as our JSON errors.
pub(crate) fn connection_limits(config: &super::ServerConfig) -> tiny_http::ConnectionLimits {
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
    let mut refused_response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        refused.len()
    )
    .into_bytes();
    refused_response.extend_from_slice(&refused);
    tiny_http::ConnectionLimits {
        max_connections: config.max_connections,
        refused_response,
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
        read_timeout: Some(config.read_timeout),
        write_timeout: Some(config.write_timeout),
        request_timeout: Some(config.request_timeout),
        prebuffer_body: config.max_body,
    }
}

/// What the handlers need to know about a request besides its body.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    /// Request id: the client's `X-Request-Id` if acceptable, else generated.
    pub id: String,
    /// Method as sent.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// `Host` header, if acceptable.
    pub host: Option<String>,
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// `If-None-Match` header (conditional requests for the web assets).
    pub if_none_match: Option<String>,
    /// `Origin` header: sent by browsers on cross-origin requests, on
    /// same-origin ones other than GET and HEAD, and on WebSocket handshakes.
    pub origin: Option<String>,
    /// `Access-Control-Request-Method` header: the method a CORS preflight
    /// asks about.
    pub preflight_method: Option<String>,
}

impl Req {
    fn new(rq: &Request) -> Req {
        let url = rq.url();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let id = header(rq, "X-Request-Id")
            .filter(|v| valid_request_id(v))
            .map_or_else(crate::event::new_correlation_id, str::to_string);
        Req {
            id,
            method: rq.method().as_str().to_string(),
            path: path.to_string(),
            query: parse_query(query),
            host: header(rq, "Host")
                .filter(|h| valid_host(h))
                .map(str::to_string),
            authorization: header(rq, "Authorization").map(str::to_string),
            idempotency_key: header(rq, "Idempotency-Key").map(str::to_string),
            if_none_match: header(rq, "If-None-Match").map(str::to_string),
            origin: header(rq, "Origin").map(str::to_string),
            preflight_method: header(rq, "Access-Control-Request-Method").map(str::to_string),
        }
    }

    /// The origin and the method asked about, when this is a CORS preflight
    /// (`OPTIONS` with `Origin` and `Access-Control-Request-Method`). Any
    /// other `OPTIONS` is routed like any other method, i.e. gets 405.
    fn preflight(&self) -> Option<(&str, &str)> {
        if self.method != "OPTIONS" {
            return None;
        }
        Some((self.origin.as_deref()?, self.preflight_method.as_deref()?))
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response before it is written.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Content type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A JSON reply.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                body,
                content_type: "application/json",
                headers: Vec::new(),
            },
            Err(e) => {
                log::error!("cannot serialise a response: {e}");
                Reply::error(&ApiError::Internal("-".to_string()))
            }
        }
    }

    /// A JSON reply from bytes encoded earlier.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    /// A reply without a body (and without `Content-Type`).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Vec::new(),
            content_type: "",
            headers: Vec::new(),
        }
    }

    /// A plain-text reply.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            body: body.into_bytes(),
            content_type,
            headers: Vec::new(),
        }
    }

    /// The JSON error reply.
    pub fn error(e: &ApiError) -> Reply {
        let mut r = Reply::json(e.status(), &e.body());
        r.status = e.status();
        r.headers = e.headers();
        r
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// Watches the listener until shutdown unblocks it: requests never reach
/// `Server::recv` (the connection threads answer them), but an accept
/// failure does. Then nothing new will arrive: report not ready so an
/// orchestrator restarts us, and keep serving the open connections.
pub(crate) fn watch_listener(server: &tiny_http::Server, ctx: &Arc<Ctx>) {
    loop {
        match server.recv() {
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

/// Feeds agent completions and failures to the metrics until stopped.
pub(crate) fn metrics_loop(ctx: &Ctx, mut sub: Subscription, stop: &Receiver<()>) {
    let rx = sub.receiver().clone();
    loop {
        select! {
            recv(rx) -> batch => match batch {
                Ok(batch) => {
                    for ev in sub.accept(batch) {
                        ctx.metrics.observe_agent_event(&ev);
                    }
                }
                Err(_) => return,
            },
            recv(stop) -> _ => return,
        }
    }
}

/// Requests being handled right now, and a way to wait until none are.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    /// Requests being handled.
    pub fn get(&self) -> usize {
        *lock(&self.count)
    }

    /// Counts a request until the guard drops.
    fn enter(&self) -> InFlightGuard<'_> {
        *lock(&self.count) += 1;
        InFlightGuard(self)
    }

    /// Waits until no request is in flight or `grace` has passed; returns
    /// how many still are.
    pub fn wait_idle(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut count = lock(&self.count);
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            count = match self.idle.wait_timeout(count, left) {
                Ok((c, _)) => c,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *count
    }
}

/// Counts one request in flight for as long as it lives.
struct InFlightGuard<'a>(&'a InFlight);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut count = lock(&self.0.count);
        *count -= 1;
        if *count == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// Locks `m` even if a panicking thread poisoned it (a count stays valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Answers one request, on its connection's thread. Counted in flight from
/// the start, so shutdown either waits for it or it sees shutdown begun and
/// answers 503.
pub(crate) fn serve_one(ctx: &Arc<Ctx>, mut rq: Request) {
    let started = Instant::now();
    let _in_flight = ctx.in_flight.enter();
    let req = Req::new(&rq);
    if ctx.stopping.load(Ordering::SeqCst) {
        let e = ApiError::NotReady("the server is shutting down".to_string());
        return finish(ctx, rq, &req, metrics::UNMATCHED, Reply::error(&e), started);
    }
    if let Some(ip) = rq.remote_addr().map(|a| a.ip()) {
        // OPTIONS (CORS preflights) changes nothing: it is a read.
        let read = matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        if let Err(wait) = ctx.limiter.check(ip, read, started) {
            let e = ApiError::RateLimited {
                class: if read { "read" } else { "write" },
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
            return finish(ctx, rq, &req, metrics::UNMATCHED, Reply::error(&e), started);
        }
    }
    if let Some(n) = rq.body_length().filter(|n| *n > ctx.max_body) {
        let reply = Reply::error(&ApiError::PayloadTooLarge {
            limit: ctx.max_body,
        });
        return reject_oversized(ctx, rq, &req, reply, n, started);
    }
    if let Some((origin, method)) = req.preflight() {
        let (label, reply) = preflight(ctx, origin, method, &req.path);
        return finish(ctx, rq, &req, label, reply, started);
    }
    let (label, reply) = match routes::resolve(&req.method, &req.path) {
        Err(miss) => (
            metrics::UNMATCHED,
            Reply::error(&miss_error(miss, &req.method, &req.path)),
        ),
        Ok((spec, params)) if spec.id == RouteId::WebSocket => {
            return websocket(ctx, rq, &req, spec, params, started);
        }
        Ok((spec, params)) => {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                api::handle(ctx, spec.id, &params, &mut rq, &req)
            }));
            let reply = match outcome {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => Reply::error(&e),
                Err(_) => {
                    log::error!("request {}: handler panicked", req.id);
                    Reply::error(&ApiError::Internal(req.id.clone()))
                }
            };
            (spec.path, reply)
        }
    };
    finish(ctx, rq, &req, label, reply, started);
}

fn miss_error(miss: Miss, method: &str, path: &str) -> ApiError {
    match miss {
        Miss::NotFound => ApiError::NotFound {
            method: method.to_string(),
            path: path.to_string(),
        },
        Miss::MethodNotAllowed(allow) => ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow,
        },
    }
}

/// Answers a CORS preflight for `method` at `path` from `origin`: 403 for an
/// origin that is not allowed; otherwise the request it announces is routed,
/// so an unknown path gets 404 and a method the path does not serve 405 with
/// `Allow`, just as the request itself would; a routable one gets 204 with
/// the methods the path serves. No token is needed (browsers send none on a
/// preflight) and nothing reaches the app.
fn preflight(ctx: &Ctx, origin: &str, method: &str, path: &str) -> (&'static str, Reply) {
    if !ctx.cors.allows(origin) {
        let e = ApiError::CorsOriginNotAllowed(cors::quoted(origin));
        return (metrics::UNMATCHED, Reply::error(&e));
    }
    match routes::resolve(method, path) {
        Err(miss) => (
            metrics::UNMATCHED,
            Reply::error(&miss_error(miss, method, path)),
        ),
        Ok((spec, _)) => {
            let mut reply = Reply::empty(204);
            let allow = routes::allowed_methods(path).unwrap_or_default();
            reply.headers = cors::preflight_headers(&allow);
            (spec.path, reply)
        }
    }
}

fn websocket(
    ctx: &Ctx,
    rq: Request,
    req: &Req,
    spec: &'static RouteSpec,
    params: routes::Params,
    started: Instant,
) {
    // CORS does not cover WebSockets: refuse pages of other sites here.
    if !ctx
        .cors
        .allows_websocket(req.origin.as_deref(), req.host.as_deref())
    {
        let origin = cors::quoted(req.origin.as_deref().unwrap_or_default());
        let e = ApiError::CorsOriginNotAllowed(origin);
        return finish(ctx, rq, req, spec.path, Reply::error(&e), started);
    }
    let checked = catch_unwind(AssertUnwindSafe(|| api::authorize_ws(ctx, &params, req)));
    let (party_id, since) = match checked {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => return finish(ctx, rq, req, spec.path, Reply::error(&e), started),
        Err(_) => {
            let e = ApiError::Internal(req.id.clone());
            return finish(ctx, rq, req, spec.path, Reply::error(&e), started);
        }
    };
    match ctx.hub.upgrade(ctx.app.clone(), rq, party_id, since) {
        Ok(()) => record(ctx, req, spec.path, 101, started),
        Err((e, rq)) => {
            let e = api::ws_error(e);
            finish(ctx, rq, req, spec.path, Reply::error(&e), started);
        }
    }
}

/// Writes the reply, counts it and logs the access line.
fn finish(ctx: &Ctx, rq: Request, req: &Req, label: &'static str, reply: Reply, started: Instant) {
    let status = reply.status;
    if let Err(e) = rq.respond(to_response(ctx, reply, req)) {
        log::debug!("request {}: client went away: {e}", req.id);
    }
    record(ctx, req, label, status, started);
}

fn record(ctx: &Ctx, req: &Req, label: &'static str, status: u16, started: Instant) {
    let elapsed = started.elapsed();
    ctx.metrics
        .observe_request(label, metrics::method_label(&req.method), status, elapsed);
    log::info!(
        target: "partybus::access",
        "{} {} {} {:.3}ms {}",
        printable(&req.method),
        printable(&req.path),
        status,
        elapsed.as_secs_f64() * 1000.0,
        req.id
    );
}

/// 413 for a declared body over the limit, without reading it. tiny_http
/// discards an unread body when the request is dropped, by reading (and
/// allocating) all of it; that is done (on this connection's own thread) for
/// moderate sizes and a bounded number at once, and never for absurd ones,
/// whose connection is abandoned after the answer.
fn reject_oversized(
    ctx: &Ctx,
    rq: Request,
    req: &Req,
    reply: Reply,
    declared: usize,
    started: Instant,
) {
    let status = reply.status;
    let response = to_response(ctx, reply, req);
    let draining = ctx.draining.fetch_add(1, Ordering::SeqCst);
    if declared <= MAX_DRAIN_BYTES && draining < MAX_DRAINING {
        if let Err(e) = rq.respond(response) {
            log::debug!("request {}: client went away: {e}", req.id);
        }
    } else {
        // Answer, then keep the stream alive for good rather than let
        // tiny_http allocate the declared size to discard it. Costs one
        // socket and one tiny_http thread; logged.
        log::warn!(
            "request {}: body of {declared} bytes declared; connection abandoned after 413",
            req.id
        );
        let stream = rq.upgrade("close", response);
        std::mem::forget(stream);
    }
    ctx.draining.fetch_sub(1, Ordering::SeqCst);
    record(ctx, req, metrics::UNMATCHED, status, started);
}

/// The tiny_http response: the reply, the request id, the headers every
/// response carries and the CORS headers for the request's origin.
fn to_response(ctx: &Ctx, reply: Reply, req: &Req) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_data(reply.body).with_status_code(reply.status);
    let mut add = |name: &str, value: &str| {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    };
    if !reply.content_type.is_empty() {
        add("Content-Type", reply.content_type);
    }
    add("X-Request-Id", &req.id);
    if !reply.headers.iter().any(|(k, _)| *k == "Cache-Control") {
        add("Cache-Control", "no-store");
    }
    add("X-Content-Type-Options", "nosniff");
    for (name, value) in &reply.headers {
        add(name, value);
    }
    for (name, value) in ctx.cors.response_headers(req.origin.as_deref()) {
        add(name, &value);
    }
    response
}

/// Reads a JSON body's bytes: 413 over the limit (by header, then while
/// reading, so it is never read whole), 415 unless `application/json` (or
/// `+json`). `None` when there is no body at all. Decoding (400 when
/// malformed) is [`super::body`]'s.
pub(crate) fn read_body(
    rq: &mut Request,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Option<Vec<u8>>, ApiError> {
    let declared = rq.body_length();
    if let Some(n) = declared {
        if n > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if n == 0 {
            return Ok(None);
        }
    } else if header(rq, "Transfer-Encoding").is_none() {
        return Ok(None);
    }
    let content_type = header(rq, "Content-Type").unwrap_or("");
    if !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType(if content_type.is_empty() {
            "(none)".to_string()
        } else {
            content_type.chars().take(100).collect()
        }));
    }
    // A body with a Content-Length is already buffered (see
    // `connection_limits`); a chunked one is read here, against a deadline
    // on top of the socket's per-read timeout.
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    let mut reader = rq.as_reader().take(limit as u64 + 1);
    let mut chunk = [0u8; 8192];
    loop {
        let n = reader
            .read(&mut chunk)
            .map_err(|e| ApiError::InvalidJson(format!("cannot read the body: {e}")))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if Instant::now() > deadline {
            return Err(ApiError::InvalidJson(format!(
                "the body did not arrive within {timeout:?}"
            )));
        }
    }
    if buf.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if buf.is_empty() {
        return Ok(None);
    }
    Ok(Some(buf))
}

fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// The value of the first header named `name`.
pub(crate) fn header<'a>(rq: &'a Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// `s` with control characters replaced, so a request cannot forge or
/// garble log lines.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_REQUEST_ID
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'))
}

/// Splits and percent-decodes a query string (`+` is a space).
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_decoded() {
        let q = parse_query("token=a%2Bb&since=5&x&e=%zz&sp=a+b&t=%41");
        assert_eq!(q[0], ("token".into(), "a+b".into()));
        assert_eq!(q[1], ("since".into(), "5".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
        assert_eq!(q[3], ("e".into(), "%zz".into()));
        assert_eq!(q[4], ("sp".into(), "a b".into()));
        assert_eq!(q[5], ("t".into(), "A".into()));
        assert_eq!(parse_query("a=%4"), vec![("a".into(), "%4".into())]);
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn log_fields_lose_control_characters() {
        assert_eq!(printable("/a\x1b[31m\nb"), "/a?[31m?b");
        assert_eq!(printable("/plain"), "/plain");
    }

    #[test]
    fn request_ids_are_restricted() {
        assert!(valid_request_id("abc-123_x.y:z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id(&"a".repeat(MAX_REQUEST_ID + 1)));
    }
}
