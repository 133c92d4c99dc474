//! Live WebSocket streams: one dedicated thread per client (`ws-<party>-<n>`),
//! fed by a per-party bus subscription. Replays a party's events after
//! `since`, then streams live ones, each exactly once, in `seq` order.
//!
//! Must not hold party state; a client that cannot keep up is disconnected,
//! never allowed to slow the bus.

use std::sync::Arc;
use std::time::Duration;

use crate::App;

/// WebSocket limits and timers.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Clients across all parties.
    pub max_clients: usize,
    /// Clients per party.
    pub max_clients_per_party: usize,
    /// Idle time after which the server pings a client.
    pub ping_interval: Duration,
    /// A client that answers nothing for this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_clients: 10_000,
            max_clients_per_party: 1_000,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Why an upgrade was refused (the caller answers with a JSON error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// Too many clients in total or for the party.
    #[error("too many WebSocket clients")]
    TooManyClients,
    /// The request is not a valid WebSocket upgrade.
    #[error("not a WebSocket upgrade request: {0}")]
    BadUpgrade(String),
    /// The app is not running.
    #[error("partybus is not running")]
    NotRunning,
}

/// Owns every WebSocket client thread: counts them, closes them on shutdown
/// (code 1001) and joins them.
pub struct WsHub {
    _private: (),
}

impl WsHub {
    /// A hub.
    pub fn new(_config: WsConfig) -> Arc<WsHub> {
        todo!("ws helper")
    }

    /// Completes the upgrade of `request` (already authorised by the caller)
    /// and serves the client on its own thread. `since`: replay events with
    /// `seq > since` first. On refusal the request is handed back unanswered.
    #[allow(clippy::result_large_err)]
    pub fn upgrade(
        self: &Arc<Self>,
        _app: Arc<App>,
        _request: tiny_http::Request,
        _party_id: String,
        _since: Option<u64>,
    ) -> Result<(), (WsError, tiny_http::Request)> {
        todo!("ws helper")
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        todo!("ws helper")
    }

    /// Closes every client with 1001 (going away) and joins their threads,
    /// waiting at most `timeout`.
    pub fn shutdown(&self, _timeout: Duration) {
        todo!("ws helper")
    }
}
