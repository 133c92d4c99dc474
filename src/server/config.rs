//! How the server runs: [`ServerConfig`], [`AuthMode`] and the named limits
//! behind their defaults.
//!
//! Owns settings and their defaults only: it reads no environment, opens no
//! socket and holds no state. The binary fills a [`ServerConfig`] from its
//! flags; tests set the fields they need.

use std::time::Duration;

use super::cors::CorsConfig;
use super::proxy::{PublicUrl, TrustedProxies};
use super::ratelimit::RateLimits;
use super::ws::WsConfig;

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

/// Open HTTP connections at once. The HTTP layer gives each connection a
/// thread, which also answers its requests; beyond the cap a connection gets
/// 503 `too_many_connections` and is closed without one. An upgraded
/// WebSocket leaves the HTTP layer (no thread, not counted here): its limit
/// is the WebSocket client cap.
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
    /// Port; 0 picks a free one (see `ServerHandle::local_addr`).
    pub port: u16,
    /// Token checks on or off.
    pub auth: AuthMode,
    /// Admin token guarding `/system/status` and `/metrics` (and granting
    /// access to every party), if set.
    pub admin_token: Option<String>,
    /// A token that reads `/metrics` and nothing else (a scraper's), if
    /// set; the admin token reads it too.
    pub metrics_token: Option<String>,
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
    /// Where clients reach us (behind a proxy): every URL handed out is
    /// built from it. `None`: from the request's (forwarded) scheme and host.
    pub public_url: Option<PublicUrl>,
    /// Proxies whose forwarding headers are believed (none by default).
    pub trusted_proxies: TrustedProxies,
}

impl Default for ServerConfig {
    /// 127.0.0.1 on an ephemeral port, auth on.
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 0,
            auth: AuthMode::On,
            admin_token: None,
            metrics_token: None,
            ws: WsConfig::default(),
            max_body: MAX_BODY_BYTES,
            max_connections: MAX_CONNECTIONS,
            max_header_bytes: MAX_HEADER_BYTES,
            rate_limits: RateLimits::default(),
            read_timeout: READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            cors: CorsConfig::default(),
            public_url: None,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}
