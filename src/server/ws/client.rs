//! One client's connection once upgraded: its socket, its WebSocket state,
//! its pending output ([`Outbox`]), its watermark and its timers, driven by
//! the worker thread that polls it (see the design in [`super`]).
//!
//! Owns the client's protocol steps: the `connection` message, replay
//! pages, live events above the watermark, answers to the client's pings,
//! our pings and the close handshake. Never blocks: every socket call is
//! non-blocking and whatever the socket does not take waits in the outbox.
//! Also checks that a request is a WebSocket handshake ([`handshake_key`]),
//! on our own request type.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mio::net::TcpStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

use super::{message, Slot, WsConfig, MAX_CLIENT_MESSAGE, READ_BUFFER, REPLAY_PAGE};
use crate::event::{Event, Topic};
use crate::server::request::Request;
use crate::App;

/// Frames read per readiness event before the worker turns to its other
/// clients (the rest are read on its next round), so a chatty client
/// cannot starve them.
pub(super) const MAX_FRAMES_PER_READ: usize = 64;
/// Frames read after our close frame while waiting for the client's; a
/// client that keeps talking past them is dropped.
pub(super) const MAX_FRAMES_AFTER_CLOSE: usize = 64;
/// Replay pages are fetched only while less than this is pending, so a
/// replay never fills the outbox past its bound.
pub(super) const REPLAY_LOW_WATER: usize = 64 * 1024;
/// Buffers written to the socket in one vectored write.
const MAX_IOVECS: usize = 64;

/// Why a client is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Send a close frame with this code and reason, then wait (bounded)
    /// for the client's.
    Close(CloseCode, &'static str),
    /// The client closed or the socket failed: drop it now.
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

/// Output waiting for the socket: whole frames, shared where they can be
/// (an event's frame is one allocation for all its clients), written with
/// vectored writes. Empty, it holds no allocation.
#[derive(Default)]
pub(super) struct Outbox {
    chunks: VecDeque<Bytes>,
    /// Bytes of the first chunk already written.
    offset: usize,
    /// Bytes not yet written.
    len: usize,
}

impl Outbox {
    /// Bytes waiting.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Writes as much as the socket takes; true when everything is out.
    fn write_to(&mut self, w: &mut impl Write) -> io::Result<bool> {
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut n = 0;
            for (i, c) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                slices[i] = IoSlice::new(if i == 0 { &c[self.offset..] } else { c });
                n += 1;
            }
            let written = match w.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        // Let go of a grown queue once it is empty: idle clients hold nothing.
        if self.chunks.capacity() > 16 {
            self.chunks = VecDeque::new();
        }
        Ok(true)
    }

    fn consume(&mut self, mut written: usize) {
        self.len -= written;
        while written > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left = front.len() - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.chunks.pop_front();
        }
    }
}

/// The socket as tungstenite sees it: reads come from the socket, writes
/// (its automatic pongs and close frames) go to the outbox, so every byte
/// leaves in the order it was queued.
struct Io<'a> {
    sock: &'a mut TcpStream,
    out: &'a mut Outbox,
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.push(Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a readiness event left to do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reading {
    /// Everything readable was read.
    Drained,
    /// The frame budget ran out first: read again on the next round.
    More,
}

/// One client, owned by its worker.
pub(super) struct Client {
    /// The client's slot (its place in the limits); released when the close
    /// starts, so a closing client no longer counts.
    pub(super) slot: Option<Slot>,
    /// The party streamed.
    pub(super) party: Arc<str>,
    /// The socket, non-blocking, registered with the worker's poll.
    pub(super) sock: TcpStream,
    /// WebSocket state: the reading side, control frames and the close
    /// handshake (tungstenite).
    ws: WebSocketContext,
    /// Output not yet taken by the socket.
    pub(super) out: Outbox,
    /// Whether the socket is registered for writability (only while output
    /// is pending).
    pub(super) writable: bool,
    /// The last `seq` sent (or deliberately skipped): the dedupe watermark.
    pub(super) sent: u64,
    /// Replaying history after `sent` (live batches are skipped meanwhile:
    /// the pages will carry them).
    pub(super) replaying: bool,
    /// Payload of the ping we await, and when it was sent.
    ping: Option<(u64, Instant)>,
    /// Pings sent so far (each one's payload).
    pings: u64,
    /// When the next ping is due (once the last one is answered).
    next_ping: Instant,
    /// Set once our close frame is queued: when the client is dropped at
    /// the latest, and the frames it may still send.
    pub(super) closing: Option<(Instant, usize)>,
    /// SHA-256 of the party token that let the client in (`None`: the
    /// admin token, or auth off).
    pub(super) party_token: Option<String>,
}

impl Client {
    /// A client on an upgraded socket; `buffered`: bytes it sent after the
    /// handshake that the HTTP layer already read.
    pub(super) fn new(
        slot: Slot,
        party: Arc<str>,
        sock: TcpStream,
        buffered: Vec<u8>,
        config: &WsConfig,
    ) -> Client {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            // Our outbox is the write buffer: tungstenite hands every frame
            // straight to it.
            .write_buffer_size(0)
            .max_message_size(Some(MAX_CLIENT_MESSAGE))
            .max_frame_size(Some(MAX_CLIENT_MESSAGE));
        Client {
            slot: Some(slot),
            party,
            sock,
            ws: WebSocketContext::from_partially_read(buffered, Role::Server, Some(ws_config)),
            out: Outbox::default(),
            writable: false,
            sent: 0,
            replaying: false,
            ping: None,
            pings: 0,
            next_ping: Instant::now() + config.ping_interval,
            closing: None,
            party_token: None,
        }
    }

    /// Sends the `connection` message; then either replays from `since`
    /// (see [`Client::replay`]) or starts live at `last_seq`.
    pub(super) fn hello(&mut self, last_seq: u64, since: Option<u64>) {
        let hello = message::connection(&self.party, last_seq);
        self.out.push(message::text_frame(&hello));
        match since {
            Some(since) => {
                self.sent = since;
                self.replaying = true;
            }
            None => self.sent = last_seq,
        }
    }

    /// Queues history pages while the outbox is below its low-water mark.
    pub(super) fn replay(&mut self, app: &App, cache: &message::EncodeCache) -> Result<(), End> {
        while self.replaying && self.out.len() < REPLAY_LOW_WATER {
            let page = app
                .events(&self.party, self.sent, REPLAY_PAGE)
                .map_err(|_| End::Close(CloseCode::Away, "server shutting down"))?;
            let before = self.sent;
            for ev in &page {
                self.push_event(ev, cache, usize::MAX)?;
            }
            // An empty page (or one of events already sent): caught up.
            if self.sent == before {
                self.replaying = false;
            }
        }
        Ok(())
    }

    /// Whether a party whose token hash is now `current` no longer lets
    /// this client in (it came in with the party's previous token).
    pub(super) fn revoked_by(&self, current: Option<&str>) -> bool {
        self.party_token
            .as_deref()
            .is_some_and(|mine| current != Some(mine))
    }

    /// Queues `ev` if it is above the watermark. Closes with 1013 when the
    /// outbox would pass `max_pending`, and with 1000 after `party_deleted`.
    pub(super) fn push_event(
        &mut self,
        ev: &Event,
        cache: &message::EncodeCache,
        max_pending: usize,
    ) -> Result<(), End> {
        if ev.seq <= self.sent {
            return Ok(());
        }
        if let Some(frame) = cache.frame(ev) {
            if self.out.len().saturating_add(frame.len()) > max_pending {
                return Err(End::Close(CloseCode::Again, "too slow"));
            }
            self.out.push(frame);
        }
        self.sent = ev.seq;
        if ev.topic() == Topic::PartyDeleted {
            return Err(End::Close(CloseCode::Normal, "party deleted"));
        }
        Ok(())
    }

    /// Writes what the socket takes; true when nothing is left pending.
    pub(super) fn flush(&mut self) -> Result<bool, End> {
        self.out.write_to(&mut self.sock).map_err(|e| {
            log::debug!("WebSocket client dropped: {e}");
            End::Gone
        })
    }

    /// Reads and answers the client's frames, at most
    /// [`MAX_FRAMES_PER_READ`] of them.
    pub(super) fn read(&mut self, now: Instant, config: &WsConfig) -> Result<Reading, End> {
        for _ in 0..MAX_FRAMES_PER_READ {
            let msg = {
                let mut io = Io {
                    sock: &mut self.sock,
                    out: &mut self.out,
                };
                match self.ws.read(&mut io) {
                    Ok(msg) => msg,
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.queue_replies();
                        return Ok(Reading::Drained);
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some((_, left)) = self.closing.as_mut() {
                // Waiting for the client's close: count what comes first.
                if matches!(msg, Message::Close(_)) || *left == 0 {
                    return Err(End::Gone);
                }
                *left -= 1;
                continue;
            }
            self.handle(msg, now, config)?;
        }
        self.queue_replies();
        Ok(Reading::More)
    }

    /// Moves tungstenite's pending replies (pongs, a close echo) to the
    /// outbox.
    fn queue_replies(&mut self) {
        let mut io = Io {
            sock: &mut self.sock,
            out: &mut self.out,
        };
        let _ = self.ws.flush(&mut io);
    }

    /// Answers one client frame.
    fn handle(&mut self, msg: Message, now: Instant, config: &WsConfig) -> Result<(), End> {
        match msg {
            Message::Text(text) => {
                let text = text.as_str();
                if text.trim() == "ping" {
                    self.out.push(message::text_frame("pong"));
                } else if message::is_json_ping(text) {
                    let now = crate::event::now_rfc3339();
                    self.out.push(message::text_frame(&message::pong(&now)));
                } else {
                    log::debug!("ignoring a WebSocket message of {} bytes", text.len());
                }
            }
            Message::Pong(payload) => {
                let awaited = self.ping.map(|(n, _)| n.to_be_bytes());
                if awaited.is_some_and(|p| payload.as_ref() == p) {
                    self.ping = None;
                    self.next_ping = now + config.ping_interval;
                }
            }
            // tungstenite has queued the reply (in the outbox); it goes out
            // before the socket is dropped if the socket takes it.
            Message::Close(_) => {
                self.queue_replies();
                let _ = self.flush();
                return Err(End::Gone);
            }
            // Protocol pings are answered by tungstenite (into the outbox).
            Message::Binary(_) | Message::Ping(_) | Message::Frame(_) => {}
        }
        Ok(())
    }

    /// The client's timers at `now`: the idle timeout (1008) and the next
    /// ping. Returns the client's next deadline.
    pub(super) fn tick(&mut self, now: Instant, config: &WsConfig) -> Result<Instant, End> {
        if let Some((deadline, _)) = self.closing {
            return if now >= deadline {
                Err(End::Gone)
            } else {
                Ok(deadline)
            };
        }
        match self.ping {
            Some((_, at)) => {
                if now.duration_since(at) > config.idle_timeout {
                    return Err(End::Close(CloseCode::Policy, "ping timeout"));
                }
                Ok(at + config.idle_timeout)
            }
            None if now >= self.next_ping => {
                self.pings += 1;
                let payload = self.pings.to_be_bytes().to_vec();
                let mut io = Io {
                    sock: &mut self.sock,
                    out: &mut self.out,
                };
                self.ws.write(&mut io, Message::Ping(payload.into()))?;
                self.ping = Some((self.pings, now));
                Ok(now + config.idle_timeout)
            }
            None => Ok(self.next_ping),
        }
    }

    /// Queues our close frame (past any bound: it is the last frame) and
    /// starts the wait for the client's.
    pub(super) fn close(&mut self, code: CloseCode, reason: &'static str, config: &WsConfig) {
        self.slot = None;
        self.replaying = false;
        if self.closing.is_some() {
            return;
        }
        self.closing = Some((
            Instant::now() + config.close_timeout,
            MAX_FRAMES_AFTER_CLOSE,
        ));
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let mut io = Io {
            sock: &mut self.sock,
            out: &mut self.out,
        };
        if let Err(e) = self.ws.close(&mut io, Some(frame)) {
            log::debug!("WebSocket close not queued: {e}");
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
