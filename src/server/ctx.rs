//! [`Ctx`], the state every request shares (the app, the WebSocket hub,
//! settings and counters), and [`InFlight`], the count of requests being
//! answered that shutdown waits on.
//!
//! Owns no party state (that is the [`App`]'s) and no socket: the listener's
//! connection count comes in through [`OpenConnections`], which the HTTP
//! layer implements, so handlers and their tests never see the HTTP library.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::auth;
use super::config::{AuthMode, ServerConfig};
use super::cors::CorsConfig;
use super::metrics::Metrics;
use super::openapi;
use super::proxy::{PublicUrl, TrustedProxies};
use super::ratelimit::RateLimiter;
use super::render_cache::{self, RenderCache};
use super::ws::WsHub;
use crate::App;

/// Something that counts open HTTP connections: the listener.
pub(crate) trait OpenConnections: Send + Sync {
    /// Open HTTP connections (WebSocket ones included).
    fn open_connections(&self) -> usize;
}

/// Shared by every connection thread: the app, the hub, settings and counters.
/// Built once by [`Ctx::new`] before the listener starts; lives until the
/// last connection thread lets go of it.
pub(crate) struct Ctx {
    /// The core.
    pub app: Arc<App>,
    /// WebSocket clients.
    pub hub: Arc<WsHub>,
    /// Token checks.
    pub auth: AuthMode,
    /// SHA-256 of the admin token, if one is set.
    pub admin_sha256: Option<String>,
    /// SHA-256 of the metrics token (reads `/metrics` only), if one is set.
    pub metrics_sha256: Option<String>,
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
    pub in_flight: InFlight,
    /// Oversized bodies being drained (bounded: each is buffered whole).
    pub draining: AtomicUsize,
    /// Counters.
    pub metrics: Metrics,
    /// Per-IP token buckets.
    pub limiter: RateLimiter,
    /// The OpenAPI document, serialised once.
    pub openapi: Vec<u8>,
    /// Encoded `GET …/status` answers, reused while a party is unchanged.
    pub status_cache: RenderCache,
    /// Allowed browser origins.
    pub cors: CorsConfig,
    /// Where clients reach us, when configured: the base of handed-out URLs.
    pub public_url: Option<PublicUrl>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// The listener, for its connection count; set once it runs (weak: the
    /// listener's connection threads hold this context).
    pub listener: OnceLock<Weak<dyn OpenConnections>>,
}

impl Ctx {
    /// The shared state for `app` served as `config` says on `local_addr`:
    /// not ready yet, nothing in flight, no listener attached.
    pub(crate) fn new(app: Arc<App>, config: &ServerConfig, local_addr: SocketAddr) -> Ctx {
        Ctx {
            app,
            hub: WsHub::new(config.ws.clone()),
            auth: config.auth,
            admin_sha256: config.admin_token.as_deref().map(auth::sha256_hex),
            metrics_sha256: config.metrics_token.as_deref().map(auth::sha256_hex),
            max_body: config.max_body,
            request_timeout: config.request_timeout,
            local_addr,
            ready: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            in_flight: InFlight::default(),
            draining: AtomicUsize::new(0),
            metrics: Metrics::new(),
            limiter: RateLimiter::new(config.rate_limits),
            openapi: openapi::document_bytes(),
            status_cache: RenderCache::new(render_cache::DEFAULT_CAPACITY),
            cors: config.cors.clone(),
            public_url: config.public_url.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            listener: OnceLock::new(),
        }
    }

    /// Open HTTP connections (WebSocket ones included); 0 before the
    /// listener runs and after it is gone.
    pub(crate) fn open_connections(&self) -> usize {
        self.listener
            .get()
            .and_then(Weak::upgrade)
            .map_or(0, |s| s.open_connections())
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
    pub(crate) fn get(&self) -> usize {
        *lock(&self.count)
    }

    /// Counts a request until the guard drops.
    pub(crate) fn enter(&self) -> InFlightGuard<'_> {
        *lock(&self.count) += 1;
        InFlightGuard(self)
    }

    /// Waits until no request is in flight or `grace` has passed; returns
    /// how many still are.
    pub(crate) fn wait_idle(&self, grace: Duration) -> usize {
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
pub(crate) struct InFlightGuard<'a>(&'a InFlight);

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

#[cfg(test)]
impl Ctx {
    /// A ready context over a fresh, started in-memory app, without a
    /// listener: for handler tests. Stop the app when done.
    pub(crate) fn for_tests(config: &ServerConfig) -> Ctx {
        let app = App::start_new(crate::app::Config::default()).expect("the app starts");
        let ctx = Ctx::new(
            Arc::new(app),
            config,
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        );
        ctx.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        ctx
    }
}
