//! A blocking WebSocket client for one party's stream (tungstenite over a
//! std [`TcpStream`]), with a deadline on every wait.
//!
//! Owns the connection and the rule that decides when a change wave's plan
//! has arrived ([`PlanRule`]). Decodes only the few keys it needs from each
//! message (`type`, `seq`), so following a stream costs the load generator
//! little CPU. Answers the server's pings (tungstenite queues the pong and
//! sends it on the next read).

use std::borrow::Cow;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Why a WebSocket step failed; the load generator counts each under a
/// short stable name (`ws_handshake`, `ws_closed`, `plan_timeout`,
/// `ws_error`).
#[derive(Debug, thiserror::Error)]
pub enum WsClientError {
    /// TCP connect or the HTTP upgrade failed.
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    /// The server closed the stream.
    #[error("WebSocket closed by the server")]
    Closed,
    /// No plan (or message) arrived before the deadline.
    #[error("timed out waiting on the WebSocket")]
    Timeout,
    /// Reading failed.
    #[error("WebSocket: {0}")]
    Failed(String),
}

impl WsClientError {
    /// A short stable name for error tables (`ws_handshake`, `ws_closed`,
    /// `plan_timeout`, `ws_error`).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            WsClientError::Handshake(_) => "ws_handshake",
            WsClientError::Closed => "ws_closed",
            WsClientError::Timeout => "plan_timeout",
            WsClientError::Failed(_) => "ws_error",
        }
    }
}

/// When a change wave's plan counts as arrived.
///
/// partybus runs one change wave per command and its final planner last in
/// the wave, once, and stamps every message with the event's `seq`; so the
/// wave caused by a command acknowledged at `seq = S` is complete at the
/// first `plan_updated` with `seq > S` ([`PlanRule::AfterSeq`]). A server
/// whose messages carry no `seq` (the prototype) gets the first
/// `plan_updated` read after the command was sent ([`PlanRule::Next`]),
/// which is approximate when its planner runs more than once per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanRule {
    /// The first `plan_updated` whose `seq` is above this.
    AfterSeq(u64),
    /// The next `plan_updated`.
    Next,
}

/// The keys read from each message; the rest is skipped unparsed.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
}

/// One party's stream.
pub struct WsClient {
    /// The connection; its TCP read timeout is set per wait.
    ws: WebSocket<TcpStream>,
    /// Text messages read so far (the `connection` greeting included).
    messages: u64,
}

impl WsClient {
    /// Connects to `addr` and upgrades `path` (with its query string), then
    /// reads the server's first message (the `connection` greeting) within
    /// `timeout`.
    pub fn connect(
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<WsClient, WsClientError> {
        let deadline = Instant::now() + timeout;
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| WsClientError::Handshake(format!("connecting: {e}")))?;
        let setup = stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(timeout)))
            .and_then(|()| stream.set_write_timeout(Some(timeout)));
        setup.map_err(|e| WsClientError::Handshake(e.to_string()))?;
        let url = format!("ws://{addr}{path}");
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (ws, _) = tungstenite::client::client_with_config(url.as_str(), stream, Some(config))
            .map_err(|e| WsClientError::Handshake(e.to_string()))?;
        let mut client = WsClient { ws, messages: 0 };
        client.next_text(deadline, |_, _| true)?;
        Ok(client)
    }

    /// Waits until the plan the rule describes arrives; returns its `seq`
    /// (0 for a server without `seq`).
    pub fn wait_plan(&mut self, rule: PlanRule, timeout: Duration) -> Result<u64, WsClientError> {
        let deadline = Instant::now() + timeout;
        self.next_text(deadline, |kind, seq| {
            kind == Some("plan_updated")
                && match rule {
                    PlanRule::AfterSeq(after) => seq.is_none_or(|s| s > after),
                    PlanRule::Next => true,
                }
        })
        .map(|seq| seq.unwrap_or(0))
    }

    /// Text messages read so far.
    pub(crate) fn messages(&self) -> u64 {
        self.messages
    }

    /// Sends a close frame and drops the connection without waiting for
    /// the server's answer.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }

    /// Reads until a text message for which `done(type, seq)` holds;
    /// returns its `seq`.
    fn next_text(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(Option<&str>, Option<u64>) -> bool,
    ) -> Result<Option<u64>, WsClientError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WsClientError::Timeout);
            }
            self.ws
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(|e| WsClientError::Failed(e.to_string()))?;
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    self.messages += 1;
                    let (kind, seq) = match serde_json::from_str::<Head>(t.as_str()) {
                        Ok(h) => (h.kind, h.seq),
                        // The prototype's `pong` is plain text.
                        Err(_) => (None, None),
                    };
                    if done(kind.as_deref(), seq) {
                        return Ok(seq);
                    }
                }
                Ok(Message::Close(_)) => return Err(WsClientError::Closed),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Err(WsClientError::Closed)
                }
                Err(e) => return Err(WsClientError::Failed(e.to_string())),
            }
        }
    }
}
