//! The HTTP and WebSocket front end (`partybus serve`): an HTTP/1.1 server
//! whose connection threads (its pool, named `http-conn`) answer their own
//! requests, routing, JSON bodies and errors, limits, token auth, Prometheus
//! metrics, the OpenAPI document, and the WebSocket upgrade handed to
//! [`ws::WsHub`].
//!
//! # Layout
//! Listed from the edge inwards. The modules use one another, never this
//! one, and their `use` edges form no cycle.
//! - `http`: the only module that names the HTTP library: starts
//!   the listener, converts its requests to ours, writes our replies back,
//!   drains or abandons oversized bodies, switches WebSockets over.
//! - `dispatch`: one [`request::Request`] to an outcome: shutdown and rate
//!   limits, body limit, CORS preflights, routing misses (404/405), the
//!   WebSocket checks, the handler and its panics; response headers, metrics
//!   and the access log.
//! - `api`: the handlers, thin: validate, call the [`App`], shape the
//!   answer. Unit-tested on hand-built requests.
//! - [`request`] and `reply`: our own request and response types.
//! - `ctx`: the state every request shares, and the in-flight count.
//! - `config`: [`ServerConfig`], [`AuthMode`] and the named limits.
//! - [`routes`]: the route table and the router (one `match`).
//! - [`error`]: [`error::ApiError`] and its mapping to status and `code`.
//! - [`body`]: request bodies decoded and checked into commands (pure).
//! - [`views`]: response shapes built from store snapshots.
//! - `auth`: party and admin tokens (only hashes are kept).
//! - [`cors`]: allowed browser origins, CORS headers, the WebSocket `Origin`
//!   check.
//! - `proxy`: running behind a reverse proxy: the public URL, the trusted
//!   proxies, and the client, scheme and host they forward (pure).
//! - `metrics`: counters and the Prometheus text.
//! - `process`: the `process_*` metrics, read from `/proc/self`.
//! - `ratelimit`: per-IP token buckets ([`RateBudget`], [`RateLimits`]).
//! - `render_cache`: encoded status answers, reused while a party is
//!   unchanged.
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
mod config;
pub(crate) mod cors;
mod ctx;
mod dispatch;
pub mod error;
mod http;
mod metrics;
pub(crate) mod openapi;
mod process;
mod proxy;
mod ratelimit;
mod render_cache;
mod reply;
pub(crate) mod request;
pub mod routes;
pub mod views;
mod web;
pub mod ws;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use crate::bus::{Filter, SlowPolicy};
use crate::event::Topic;
use crate::App;
pub use config::{
    AuthMode, ServerConfig, LISTEN_BACKLOG, MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_HEADER_BYTES,
    READ_TIMEOUT, REQUEST_GRACE, REQUEST_TIMEOUT, WRITE_TIMEOUT, WS_GRACE,
};
pub use cors::{AllowedOrigin, CorsConfig};
use ctx::Ctx;
pub use dispatch::ACCESS_LOG_TARGET;
pub use http::LIBRARY_LOG_TARGET as HTTP_LIBRARY_LOG_TARGET;
pub use proxy::{Cidr, ProxyConfigError, PublicUrl, Scheme, TrustedProxies, UrlBase};
pub use ratelimit::{RateBudget, RateLimits};

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

/// A running server. Dropping it shuts it down like [`ServerHandle::shutdown`].
pub struct ServerHandle {
    /// Shared state; `ready` and `stopping` are flipped on shutdown.
    ctx: Arc<Ctx>,
    /// The listener; dropped last, which closes the listening socket.
    server: Option<http::Listener>,
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
    let ctx = Arc::new(Ctx::new(app, &config, local_addr));
    let server = http::start(listener, &config, &ctx).map_err(|e| bind_error(&e))?;
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
            mctx.metrics.follow_agents(sub, &stop_rx)
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
        .spawn(move || server.watch(&wctx));
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

/// A listening socket as `partybus serve` opens it: `TCP_NODELAY`, which
/// accepted connections inherit (without it, a response written in more
/// than one piece would wait for the client's delayed ACK, 40 ms), and a
/// backlog of [`LISTEN_BACKLOG`]. Public so that comparators (the bare
/// tiny_http example) listen exactly the same way.
pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
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

    /// Starts draining: `/readyz` (and only it) answers 503 from now on, so
    /// that a load balancer takes this node out of rotation while it still
    /// serves every request; [`ServerHandle::shutdown`] follows.
    pub fn drain(&self) {
        self.ctx.ready.store(false, Ordering::SeqCst);
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
