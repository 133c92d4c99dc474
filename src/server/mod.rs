//! The HTTP and WebSocket front end (`partybus serve`): a tiny_http server
//! whose connection threads (its pool, named `http-conn`) answer their own
//! requests, routing, JSON bodies and errors, limits, token auth, Prometheus
//! metrics, the OpenAPI document, and the WebSocket upgrade handed to
//! [`ws::WsHub`].
//!
//! # Layout
//! - [`routes`]: the route table and the router (one `match`).
//! - [`error`]: [`error::ApiError`] and its mapping to status and `code`.
//! - `http`: one request from tiny_http to a reply: request ids, body
//!   limits, responses, in-flight accounting, access log.
//! - `api`: the handlers, thin: validate, call the [`App`], shape the answer.
//! - [`body`]: request bodies decoded and checked into commands (pure).
//! - [`views`]: response shapes built from store snapshots.
//! - `auth`: party and admin tokens (only hashes are kept).
//! - [`cors`]: allowed browser origins, CORS headers, the WebSocket `Origin`
//!   check.
//! - `metrics`: counters and the Prometheus text.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the route table.
//! - `web`: the embedded planning page and API reference (`GET /`, `/docs`).
//! - [`ws`]: live WebSocket streams.
//!
//! Holds no party state of its own: every read comes from the [`App`], every
//! write is a command to it. [`serve`] starts it; [`ServerHandle::shutdown`]
//! stops it gracefully (readyz → 503, stop accepting, finish in-flight
//! requests, close WebSockets with 1001, join every thread).

mod api;
mod auth;
pub mod body;
pub mod cors;
pub mod error;
mod http;
mod metrics;
pub mod openapi;
mod ratelimit;
mod render_cache;
pub mod routes;
pub mod views;
mod web;
pub mod ws;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use crate::bus::{Filter, SlowPolicy};
use crate::event::Topic;
use crate::App;
pub use cors::{AllowedOrigin, CorsConfig};
pub use ratelimit::{RateBudget, RateLimits};

/// The rate limiter's budget under its old name, kept only until the
/// integration tests say [`RateBudget`]; remove then.
pub type Budget = RateBudget;
use ws::{WsConfig, WsHub};

/// Largest request body accepted (64 KiB): party inputs are short texts; a
/// bigger body is a mistake or abuse and gets 413 without being read whole.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long shutdown waits for in-flight requests to finish. With the
/// WebSocket grace below it keeps the whole shutdown under 5 s.
pub const REQUEST_GRACE: Duration = Duration::from_secs(3);

/// How long shutdown waits for WebSocket clients to take their close frame.
pub const WS_GRACE: Duration = Duration::from_secs(1);

/// Pending connections the kernel queues before `accept`.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Open HTTP connections (WebSocket ones included) at once. tiny_http gives
/// each connection a thread, which also answers its requests; beyond the cap a connection gets 503
/// `too_many_connections` and is closed without one. Above the WebSocket
/// client cap (10,000) so those hit their own, clearer limit first.
pub const MAX_CONNECTIONS: usize = 12_000;

/// Per-read socket timeout: an idle keep-alive connection is closed after
/// it, and a stalled read (headers, body, a WebSocket pong) fails, so a
/// silent peer holds no thread for longer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-write socket timeout: a peer that stops reading (a response or a
/// WebSocket stream) makes the write fail instead of pinning its thread.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// From a request's first byte until its head and body (up to the body
/// limit) have arrived; a slowloris gets 408 and is closed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of request line plus headers: real requests send well under 2 KiB;
/// more is a mistake or an attempt to exhaust memory (431 `header_too_large`).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Whether party routes and the WebSocket require the party's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Tokens required (the default).
    On,
    /// The prototype's open behaviour, for local demos; loopback hosts only.
    Off,
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host name or IP to bind.
    pub host: String,
    /// Port; 0 picks a free one (see [`ServerHandle::local_addr`]).
    pub port: u16,
    /// Token checks on or off.
    pub auth: AuthMode,
    /// Admin token guarding `/system/status` and `/metrics` (and granting
    /// access to every party), if set.
    pub admin_token: Option<String>,
    /// WebSocket limits and timers.
    pub ws: WsConfig,
    /// Request body limit, bytes.
    pub max_body: usize,
    /// Open HTTP connections at once (503 `too_many_connections` beyond).
    pub max_connections: usize,
    /// Bytes of request line plus headers (431 `header_too_large` beyond).
    pub max_header_bytes: usize,
    /// Per-client-IP request budgets (429 `rate_limited` beyond).
    pub rate_limits: RateLimits,
    /// Per-read socket timeout (also the keep-alive idle timeout).
    pub read_timeout: Duration,
    /// Per-write socket timeout.
    pub write_timeout: Duration,
    /// Time for a whole request (head and body) to arrive.
    pub request_timeout: Duration,
    /// Browser origins allowed besides the server's own (none by default).
    pub cors: CorsConfig,
}

impl Default for ServerConfig {
    /// 127.0.0.1 on an ephemeral port, auth on.
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 0,
            auth: AuthMode::On,
            admin_token: None,
            ws: WsConfig::default(),
            max_body: MAX_BODY_BYTES,
            max_connections: MAX_CONNECTIONS,
            max_header_bytes: MAX_HEADER_BYTES,
            rate_limits: RateLimits::default(),
            read_timeout: READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            cors: CorsConfig::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The host does not resolve to an address.
    #[error("invalid listen address {0}")]
    InvalidAddress(String),
    /// Binding failed (port taken, no permission, ...).
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// `--auth off` on a non-loopback host.
    #[error("refusing --auth off on non-loopback host {0}: anyone on the network could read and change every party; use --auth on or bind to 127.0.0.1")]
    AuthOffNotLoopback(String),
    /// The app is not started.
    #[error("the app is not running")]
    NotRunning,
    /// A thread could not be started.
    #[error("cannot start thread: {0}")]
    Spawn(String),
}

/// Shared by every connection thread: the app, the hub, settings and counters.
pub(crate) struct Ctx {
    /// The core.
    pub app: Arc<App>,
    /// WebSocket clients.
    pub hub: Arc<WsHub>,
    /// Token checks.
    pub auth: AuthMode,
    /// SHA-256 of the admin token, if one is set.
    pub admin_sha256: Option<String>,
    /// Body limit.
    pub max_body: usize,
    /// Time for a whole request to arrive (bounds chunked body reads).
    pub request_timeout: Duration,
    /// Bound address (fallback for URLs when a request has no Host).
    pub local_addr: SocketAddr,
    /// False while starting, after an accept failure and while shutting down.
    pub ready: AtomicBool,
    /// Set when shutdown begins: later requests get 503.
    pub stopping: AtomicBool,
    /// Requests being handled right now.
    pub in_flight: http::InFlight,
    /// Oversized bodies being drained (bounded: each is buffered whole).
    pub draining: AtomicUsize,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// Per-IP token buckets.
    pub limiter: ratelimit::RateLimiter,
    /// The OpenAPI document, serialised once.
    pub openapi: Vec<u8>,
    /// Encoded `GET …/status` answers, reused while a party is unchanged.
    pub status_cache: render_cache::RenderCache,
    /// Allowed browser origins.
    pub cors: CorsConfig,
    /// The listener, for its connection count (weak: the listener's
    /// connection threads hold this context).
    pub listener: std::sync::OnceLock<Weak<tiny_http::Server>>,
}

impl Ctx {
    /// Open HTTP connections (WebSocket ones included).
    pub fn open_connections(&self) -> usize {
        self.listener
            .get()
            .and_then(Weak::upgrade)
            .map_or(0, |s| s.num_connections())
    }
}

/// A running server. Dropping it shuts it down like [`ServerHandle::shutdown`].
pub struct ServerHandle {
    /// Shared state; `ready` and `stopping` are flipped on shutdown.
    ctx: Arc<Ctx>,
    /// The listener; dropped last, which closes the listening socket.
    server: Option<Arc<tiny_http::Server>>,
    /// Watches the listener for accept failures; joined on shutdown.
    watcher: Option<JoinHandle<()>>,
    /// Dropping it stops the metrics thread.
    metrics_stop: Option<Sender<()>>,
    /// The agent-metrics subscriber thread.
    metrics_thread: Option<JoinHandle<()>>,
    /// Whether shutdown already ran.
    stopped: bool,
}

/// How often the metrics thread checks whether a starting app runs yet.
const APP_START_POLL: Duration = Duration::from_millis(20);

/// Starts the server for `app`, which may still be starting (replaying its
/// journal): until it runs, `/readyz` and every party route answer 503.
/// Returns once it accepts requests.
pub fn serve(app: Arc<App>, config: ServerConfig) -> Result<ServerHandle, ServeError> {
    let addr = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ServeError::InvalidAddress(format!("{}:{}", config.host, config.port)))?;
    if config.auth == AuthMode::Off && !addr.ip().is_loopback() {
        return Err(ServeError::AuthOffNotLoopback(config.host));
    }
    let bind_error = |e: &dyn std::fmt::Display| ServeError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let listener = listen(addr).map_err(|e| bind_error(&e))?;
    let local_addr = listener.local_addr().unwrap_or(addr);
    let ctx = Arc::new(Ctx {
        app,
        hub: WsHub::new(config.ws.clone()),
        auth: config.auth,
        admin_sha256: config.admin_token.as_deref().map(auth::sha256_hex),
        max_body: config.max_body,
        request_timeout: config.request_timeout,
        local_addr,
        ready: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        in_flight: http::InFlight::default(),
        draining: AtomicUsize::new(0),
        metrics: metrics::Metrics::new(),
        limiter: ratelimit::RateLimiter::new(config.rate_limits),
        openapi: openapi::document_bytes(),
        status_cache: render_cache::RenderCache::new(render_cache::DEFAULT_CAPACITY),
        cors: config.cors.clone(),
        listener: std::sync::OnceLock::new(),
    });

    let hctx = ctx.clone();
    let handler: tiny_http::Handler = Arc::new(move |rq| http::serve_one(&hctx, rq));
    let server = tiny_http::Server::from_listener_with_handler(
        listener,
        None,
        http::connection_limits(&config),
        Some(handler),
    )
    .map_err(|e| bind_error(&e))?;
    let server = Arc::new(server);
    let _ = ctx.listener.set(Arc::downgrade(&server));
    let (metrics_stop, stop_rx) = bounded::<()>(0);
    let mctx = ctx.clone();
    let subscribe = |bus: crate::bus::Bus| {
        bus.subscribe(
            "http-metrics",
            Filter::topics(&[Topic::AgentCompleted, Topic::AgentFailed]),
            SlowPolicy::Block,
        )
    };
    // Subscribed here when the app runs already, so that no agent run
    // after the server is up goes uncounted (the thread used to subscribe
    // once it was scheduled, and under load missed the first runs).
    let running = ctx.app.bus().ok().map(subscribe);
    let metrics_thread = std::thread::Builder::new()
        .name("http-metrics".into())
        .spawn(move || {
            let sub = match running {
                Some(sub) => sub,
                // The app is still replaying its journal (readyz answers
                // 503 meanwhile): subscribe once it runs.
                None => loop {
                    if let Ok(bus) = mctx.app.bus() {
                        break subscribe(bus);
                    }
                    match stop_rx.recv_timeout(APP_START_POLL) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                },
            };
            http::metrics_loop(&mctx, sub, &stop_rx)
        })
        .map_err(|e| ServeError::Spawn(e.to_string()))?;

    let mut handle = ServerHandle {
        ctx: ctx.clone(),
        server: Some(server.clone()),
        watcher: None,
        metrics_stop: Some(metrics_stop),
        metrics_thread: Some(metrics_thread),
        stopped: false,
    };
    let wctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("http-listener".into())
        .spawn(move || http::watch_listener(&server, &wctx));
    match spawned {
        Ok(h) => handle.watcher = Some(h),
        Err(e) => {
            handle.stop();
            return Err(ServeError::Spawn(e.to_string()));
        }
    }
    if config.auth == AuthMode::Off {
        log::warn!(
            "authentication is OFF (--auth off): every party is readable and writable without a token; use only for local demos"
        );
    }
    if ctx.cors.is_enabled() {
        let origins: Vec<String> = ctx
            .cors
            .allowed_origins
            .iter()
            .map(ToString::to_string)
            .collect();
        log::info!("CORS: allowing origins {}", origins.join(", "));
    }
    ctx.ready.store(true, Ordering::SeqCst);
    log::info!(
        "listening on http://{local_addr} (auth {})",
        if config.auth == AuthMode::On {
            "on"
        } else {
            "off"
        }
    );
    Ok(handle)
}

/// A listening socket with `TCP_NODELAY`, which accepted connections
/// inherit: tiny_http writes a response's head and body separately, and with
/// Nagle's algorithm the body would wait for the client's delayed ACK (40 ms).
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

impl ServerHandle {
    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.ctx.local_addr
    }

    /// Connected WebSocket clients.
    pub fn ws_clients(&self) -> usize {
        self.ctx.hub.clients()
    }

    /// Open HTTP connections (WebSocket ones included).
    pub fn connections(&self) -> usize {
        self.ctx.open_connections()
    }

    /// Stops gracefully: readyz and any new request answer 503, requests
    /// already being handled finish, the listener closes, WebSocket clients
    /// get a 1001 close, and the server's own threads are joined (within
    /// [`REQUEST_GRACE`] + [`WS_GRACE`]). The app keeps running; stop it
    /// separately.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let began = Instant::now();
        self.ctx.ready.store(false, Ordering::SeqCst);
        self.ctx.stopping.store(true, Ordering::SeqCst);
        let left = self.ctx.in_flight.wait_idle(REQUEST_GRACE);
        if left > 0 {
            log::warn!(
                "{left} requests still in flight after {REQUEST_GRACE:?}; not waiting for them"
            );
        }
        if let Some(server) = &self.server {
            server.unblock();
        }
        if let Some(w) = self.watcher.take() {
            if w.join().is_err() {
                log::error!("the listener watcher panicked");
            }
        }
        // The last reference: dropping it closes the listening socket.
        // Idle keep-alive connections stay until their read timeout; a
        // request on one gets 503.
        self.server.take();
        self.ctx.hub.shutdown(WS_GRACE);
        self.metrics_stop.take();
        if let Some(t) = self.metrics_thread.take() {
            if t.join().is_err() {
                log::error!("the metrics thread panicked");
            }
        }
        log::info!("server stopped in {:?}", began.elapsed());
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
