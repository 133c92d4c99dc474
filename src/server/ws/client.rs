//! One client's thread: the `101`, the `connection` message, the replay, then
//! the live loop that alternates between writing batches and short read
//! turns (see the design in [`super`]).
//!
//! Owns the client's socket, subscription and watermark; nothing here is
//! shared with other clients except the hub's encode cache. Must not block
//! the bus: it only drains its own subscription. Also checks that a request
//! is a WebSocket handshake ([`handshake_key`]), on our own request type.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::{
    message, Stream, Upgrade, WsHub, MAX_CLIENT_MESSAGE, READ_BUFFER, REPLAY_PAGE, WRITE_BUFFER,
};
use crate::bus::Subscription;
use crate::event::{Event, Topic};
use crate::server::request::Request;
use crate::App;

/// Frames read in one turn before the thread goes back to writing, so a
/// chatty client cannot starve its own event stream.
const MAX_FRAMES_PER_TURN: usize = 64;
/// Frames read after our close frame while waiting for the client's.
const MAX_FRAMES_AFTER_CLOSE: usize = 64;

type Socket = WebSocket<Box<dyn Stream>>;

/// Why the connection ends.
enum End {
    /// Close with this code and reason.
    Close(CloseCode, &'static str),
    /// The client closed or the socket failed: nothing more to say.
    Gone,
}

impl From<tungstenite::Error> for End {
    fn from(e: tungstenite::Error) -> End {
        match e {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {}
            e => log::debug!("WebSocket client dropped: {e}"),
        }
        End::Gone
    }
}

/// Checks that `request` is a WebSocket upgrade and returns its key.
pub(super) fn handshake_key(request: &Request) -> Result<String, String> {
    let header = |name: &'static str| request.header(name).map(str::trim);
    let has_token = |value: Option<&str>, token: &str| {
        value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if request.method() != "GET" {
        return Err("the method must be GET".into());
    }
    if request.http_version() < (1, 1) {
        return Err("HTTP/1.1 or later is required".into());
    }
    if !has_token(header("Upgrade"), "websocket") {
        return Err("the Upgrade header must be websocket".into());
    }
    if !has_token(header("Connection"), "upgrade") {
        return Err("the Connection header must include upgrade".into());
    }
    if header("Sec-WebSocket-Version") != Some("13") {
        return Err("Sec-WebSocket-Version must be 13".into());
    }
    match header("Sec-WebSocket-Key") {
        Some(key) if !key.is_empty() && key.len() <= 64 => Ok(key.to_string()),
        _ => Err("Sec-WebSocket-Key is missing".into()),
    }
}

/// Everything a client thread needs, built by [`WsHub::upgrade`].
pub(super) struct Conn {
    /// Config, encode cache, stop channel.
    pub(super) hub: Arc<WsHub>,
    /// History and party snapshots.
    pub(super) app: Arc<App>,
    /// The party streamed.
    pub(super) party_id: String,
    /// Replay events after this `seq` first.
    pub(super) since: Option<u64>,
    /// The client's `Sec-WebSocket-Key`.
    pub(super) key: String,
    /// The party's events, subscribed before anything was read.
    pub(super) sub: Subscription,
    /// Disconnects when the hub shuts down.
    pub(super) stop: Receiver<()>,
}

/// The connection once upgraded.
struct Session {
    conn: Conn,
    ws: Socket,
    /// The last `seq` sent (or deliberately skipped): the dedupe watermark.
    sent: u64,
    /// Payload of the ping we await, and when it was sent.
    ping: Option<(u64, Instant)>,
    /// Pings sent so far (each one's payload).
    pings: u64,
}

impl Conn {
    /// Writes the `101`, then serves the client until it ends.
    pub(super) fn serve(self, request: impl Upgrade) {
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let stream = request.switch(&accept);
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_message_size(Some(MAX_CLIENT_MESSAGE))
            .max_frame_size(Some(MAX_CLIENT_MESSAGE));
        let ws = WebSocket::from_raw_socket(stream, Role::Server, Some(config));
        let mut session = Session {
            conn: self,
            ws,
            sent: 0,
            ping: None,
            pings: 0,
        };
        let end = session.run().err().unwrap_or(End::Gone);
        if let End::Close(code, reason) = end {
            session.close(code, reason);
        }
        log::debug!("WebSocket client of {} ends", session.conn.party_id);
    }
}

impl Session {
    /// The whole conversation; returns how it ends.
    fn run(&mut self) -> Result<(), End> {
        // The subscription exists already, so every event after `last_seq`
        // arrives live or is in the history read below.
        let last_seq = self
            .conn
            .app
            .party(&self.conn.party_id)
            .map_or(0, |p| p.last_seq);
        let hello = message::connection(&self.conn.party_id, last_seq);
        self.ws.write(Message::text(hello))?;
        self.ws.flush()?;
        match self.conn.since {
            Some(since) => self.replay(since)?,
            None => self.sent = last_seq,
        }
        self.live()
    }

    /// Sends the party's history after `since`, page by page.
    fn replay(&mut self, since: u64) -> Result<(), End> {
        self.sent = since;
        loop {
            let page = self
                .conn
                .app
                .events(&self.conn.party_id, self.sent, REPLAY_PAGE)
                .map_err(|_| End::Close(CloseCode::Away, "server shutting down"))?;
            if page.is_empty() {
                return Ok(());
            }
            let before = self.sent;
            self.write_events(&page)?;
            self.ws.flush()?;
            if self.sent == before {
                // No progress (a page of already-sent events): done.
                return Ok(());
            }
        }
    }

    /// Streams live batches, with a read turn at least every turn interval.
    fn live(&mut self) -> Result<(), End> {
        let every = self.conn.hub.config.turn_interval();
        let events = self.conn.sub.receiver().clone();
        let stop = self.conn.stop.clone();
        let mut next_turn = Instant::now() + every;
        loop {
            if Instant::now() >= next_turn {
                // A turn cut short (a chatty client) resumes right after the
                // next write opportunity; a finished one waits a full interval.
                let finished = self.read_turn()?;
                next_turn = Instant::now() + if finished { every } else { Duration::ZERO };
            }
            let wait = next_turn.saturating_duration_since(Instant::now());
            select! {
                recv(events) -> batch => match batch {
                    Ok(batch) => {
                        let mut batch = self.conn.sub.accept(batch);
                        batch.extend(self.conn.sub.drain());
                        self.write_events(&batch)?;
                        self.ws.flush()?;
                    }
                    Err(_) if self.conn.sub.lagged() => {
                        return Err(End::Close(CloseCode::Again, "too slow"));
                    }
                    Err(_) => return Err(End::Close(CloseCode::Away, "server shutting down")),
                },
                recv(stop) -> _ => {
                    return Err(End::Close(CloseCode::Away, "server shutting down"));
                }
                default(wait) => {}
            }
        }
    }

    /// Writes the events above the watermark (without flushing). Closes
    /// with 1000 after `party_deleted`.
    fn write_events(&mut self, events: &[Arc<Event>]) -> Result<(), End> {
        for ev in events {
            if ev.seq <= self.sent {
                continue;
            }
            self.sent = ev.seq;
            if let Some(text) = self.conn.hub.cache.message(ev) {
                self.ws.write(Message::Text(text))?;
            }
            if ev.topic() == Topic::PartyDeleted {
                return Err(End::Close(CloseCode::Normal, "party deleted"));
            }
        }
        Ok(())
    }

    /// Sends a ping (unless one is awaited) and reads until its pong,
    /// answering the client's own messages on the way. False when the turn
    /// ended on its frame budget before the pong.
    fn read_turn(&mut self) -> Result<bool, End> {
        let now = Instant::now();
        match self.ping {
            Some((_, at)) if now.duration_since(at) > self.conn.hub.config.idle_timeout => {
                return Err(End::Close(CloseCode::Policy, "ping timeout"));
            }
            Some(_) => {}
            None => {
                self.pings += 1;
                let payload = self.pings.to_be_bytes().to_vec();
                self.ws.write(Message::Ping(payload.into()))?;
                self.ws.flush()?;
                self.ping = Some((self.pings, now));
            }
        }
        let mut ponged = false;
        for _ in 0..MAX_FRAMES_PER_TURN {
            let msg = self.ws.read()?;
            ponged = self.handle(msg)?;
            if ponged {
                break;
            }
        }
        // Replies (and tungstenite's automatic pongs) go out now.
        self.ws.flush()?;
        Ok(ponged)
    }

    /// Handles one client frame; true when it is the pong the turn awaits.
    fn handle(&mut self, msg: Message) -> Result<bool, End> {
        match msg {
            Message::Text(text) => {
                let text = text.as_str();
                if text.trim() == "ping" {
                    self.ws.write(Message::text("pong"))?;
                } else if message::is_json_ping(text) {
                    let now = crate::event::now_rfc3339();
                    self.ws.write(Message::text(message::pong(&now)))?;
                } else {
                    log::debug!("ignoring a WebSocket message of {} bytes", text.len());
                }
                Ok(false)
            }
            Message::Pong(payload) => {
                let awaited = self.ping.map(|(n, _)| n.to_be_bytes());
                if awaited.is_some_and(|p| payload.as_ref() == p) {
                    self.ping = None;
                    return Ok(true);
                }
                Ok(false)
            }
            Message::Close(_) => {
                // tungstenite has queued the reply; send it and stop.
                let _ = self.ws.flush();
                Err(End::Gone)
            }
            Message::Binary(_) | Message::Ping(_) | Message::Frame(_) => Ok(false),
        }
    }

    /// Sends a close frame and waits (a bounded number of frames) for the
    /// client's, so the close frame is not lost to a reset.
    fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if self.ws.close(Some(frame)).is_err() {
            return;
        }
        for _ in 0..MAX_FRAMES_AFTER_CLOSE {
            if self.ws.read().is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(method: &str, headers: &[(&str, &str)]) -> Result<String, String> {
        let (req, _) = Request::fake_http(method, "/ws/p1", headers, b"");
        handshake_key(&req)
    }

    const UPGRADE: [(&str, &str); 4] = [
        ("Upgrade", "WebSocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", " dGhlIHNhbXBsZSBub25jZQ== "),
    ];

    #[test]
    fn a_valid_handshake_yields_its_key() {
        assert_eq!(
            key_of("GET", &UPGRADE),
            Ok("dGhlIHNhbXBsZSBub25jZQ==".to_string())
        );
    }

    #[test]
    fn each_missing_piece_is_named() {
        assert_eq!(
            key_of("POST", &UPGRADE),
            Err("the method must be GET".into())
        );
        for (i, why) in [
            "the Upgrade header must be websocket",
            "the Connection header must include upgrade",
            "Sec-WebSocket-Version must be 13",
            "Sec-WebSocket-Key is missing",
        ]
        .into_iter()
        .enumerate()
        {
            let mut headers = UPGRADE.to_vec();
            headers.remove(i);
            assert_eq!(key_of("GET", &headers), Err(why.to_string()));
        }
    }

    #[test]
    fn http_1_0_is_refused() {
        let headers = UPGRADE
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = Request::new("GET", "/ws/p1", (1, 0), headers, None, None);
        assert_eq!(
            handshake_key(&req),
            Err("HTTP/1.1 or later is required".into())
        );
    }
}
