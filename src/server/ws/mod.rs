//! Live WebSocket streams: one dedicated thread per client (`ws-<party>-<n>`),
//! fed by its own bus subscription to the party. Replays a party's events
//! after `since`, then streams live ones, each exactly once, in `seq` order.
//!
//! Owns the WebSocket handshake checks, the per-client threads, their accounting
//! (limits, [`WsHub::clients`]) and their shutdown. Must not hold party state:
//! everything comes from the [`App`] (its bus and its event history). A client
//! that cannot keep up is disconnected, never allowed to slow the bus. Must
//! not name the HTTP library: the connection to switch comes in as an
//! [`Upgrade`], which the HTTP layer implements.
//!
//! # Design
//! - **Handshake.** [`WsHub::upgrade`] validates the request, reserves a slot
//!   (total and per-party limits), subscribes to the party's forwarded
//!   topics on the bus ([`SlowPolicy::Disconnect`]; a batch of topics it
//!   never forwards wakes no client) and spawns the client's thread, which writes
//!   the `101` and then speaks WebSocket over the upgraded stream. Any refusal
//!   happens before anything is written, so the request is handed back.
//! - **Exactly once, in order.** The subscription exists before the party's
//!   `last_seq` is read and before history is replayed (the bus journals an
//!   event before it fans it out, so nothing falls between the two). The
//!   thread keeps a watermark, the last `seq` sent, and drops any event at or
//!   below it: replay pages first, then live batches. Without `since` the
//!   watermark starts at the `last_seq` of the `connection` message.
//! - **One thread per client, taking turns.** The HTTP layer hands back the
//!   upgraded connection as a single [`Stream`]: no socket to clone,
//!   no read timeout, and a blocked `read` cannot be interrupted. Two threads
//!   would have to share it behind a lock that a blocked reader never
//!   releases, so one thread does both, and only reads when the client owes
//!   it a frame. It spends its time waiting on the subscription (and the
//!   hub's stop channel) and writes each drained batch with one flush. Every
//!   *turn* (`ping_interval`, clamped to [`MIN_TURN_INTERVAL`]..=
//!   [`MAX_TURN_INTERVAL`]) it sends a protocol Ping and reads until the
//!   matching Pong, answering whatever the client sent before it (`ping`,
//!   `{"type":"ping"}`, protocol pings, close). A live client answers within a
//!   round trip, so reads never stall writes for longer than that; events
//!   arriving meanwhile wait in the subscription's channel. A client's own
//!   messages are therefore answered within one turn interval.
//! - **Slow and dead clients.** A client that stops reading stops answering
//!   pings and its TCP window fills: the thread blocks, its channel fills, and
//!   the bus drops the subscription at once ([`crate::bus::Subscription::lagged`]).
//!   When the thread runs again it closes with 1013 "too slow" (reconnect with
//!   `since` to resume). A client that keeps sending but never answers pings
//!   for `idle_timeout` is closed with 1008.
//! - **Encoding once.** Messages come from the hub's [`message::EncodeCache`],
//!   so N clients of a party share one encoding of each event.
//! - **Shutdown.** [`WsHub::shutdown`] drops the stop channel's sender; every
//!   waiting thread wakes, sends 1001 "server shutting down" and exits; the
//!   hub joins them against the deadline.
//!
//! # Messages
//! See [`message`]: one JSON object per event with SPEC §2's keys plus
//! `party_id`, `seq`, `event_id` and `correlation_id`. `should_execute` is
//! internal scheduling and is not forwarded; `party_deleted` is followed by a
//! close (1000, "party deleted").
//!
//! # Limits
//! A blocked socket read or write cannot be cut short through the HTTP
//! layer's upgraded stream, so a peer that keeps its TCP connection open but never
//! reads nor answers holds its thread (and its slot) until it goes away; a
//! vanished peer is reaped by TCP's retransmission timeout (a ping is always
//! in flight when the thread blocks in a read). A client that disconnects is
//! noticed at its next write or turn. Such threads are not waited for past
//! the shutdown deadline. The HTTP library also keeps one of its own pool
//! threads per upgraded connection until it closes. The bus is never affected.

mod client;
pub(crate) mod message;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::bus::{Filter, SlowPolicy};
use crate::server::request::Request;
use crate::App;

/// The longest a client goes without a read turn (a ping and the reads up to
/// its pong): how late a client's own `ping` may be answered.
pub const MAX_TURN_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest turn interval, so a tiny `ping_interval` cannot make a
/// thread spin on pings.
pub const MIN_TURN_INTERVAL: Duration = Duration::from_millis(5);
/// Events per replay page (one flush each).
pub const REPLAY_PAGE: usize = 256;
/// Stack of a client thread: JSON encoding and framing are shallow.
pub const CLIENT_STACK: usize = 256 * 1024;
/// Read buffer per client: clients send only small control messages.
pub const READ_BUFFER: usize = 4 * 1024;
/// Bytes buffered before tungstenite writes to the socket mid-batch.
pub const WRITE_BUFFER: usize = 64 * 1024;
/// Largest message a client may send; anything bigger closes the connection.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// WebSocket limits and timers.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Clients across all parties.
    pub max_clients: usize,
    /// Clients per party.
    pub max_clients_per_party: usize,
    /// How often the server pings a client; each ping opens the client's
    /// read turn, so the interval is clamped to
    /// [`MIN_TURN_INTERVAL`]..=[`MAX_TURN_INTERVAL`].
    pub ping_interval: Duration,
    /// A client that leaves a ping unanswered this long is dropped (1008);
    /// see the module's limits for peers that go entirely silent.
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

impl WsConfig {
    /// How often a client gets a read turn.
    fn turn_interval(&self) -> Duration {
        self.ping_interval
            .clamp(MIN_TURN_INTERVAL, MAX_TURN_INTERVAL)
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

/// A byte stream a WebSocket runs over: an upgraded HTTP connection.
pub trait Stream: Read + Write + Send {}

impl<T: Read + Write + Send + ?Sized> Stream for T {}

/// The HTTP side of an upgrade: a request still waiting for its answer, on a
/// connection that can be switched to WebSocket. The HTTP layer implements
/// it for its own request type; nothing is written before [`Upgrade::switch`].
pub trait Upgrade: Send + Sized + 'static {
    /// The request's head, for the handshake checks.
    fn request(&self) -> Request;

    /// Answers `101 Switching Protocols` with `Upgrade: websocket` and
    /// `Sec-WebSocket-Accept: accept`, and returns the connection.
    fn switch(self, accept: &str) -> Box<dyn Stream>;
}

/// Client accounting, under one lock held for microseconds.
#[derive(Default)]
struct Registry {
    /// Clients holding a slot (from reservation until their thread ends).
    total: usize,
    /// Slots per party; a party leaves the map at zero.
    per_party: HashMap<String, usize>,
    /// Number for the next client's thread name.
    next_id: u64,
    /// Ids of clients whose slot is still held.
    alive: HashSet<u64>,
    /// Threads not joined yet (finished ones are reaped on each upgrade).
    threads: Vec<(u64, JoinHandle<()>)>,
}

/// Owns every WebSocket client thread: counts them, closes them on shutdown
/// (code 1001) and joins them.
pub struct WsHub {
    /// Limits and timers.
    config: WsConfig,
    /// Slots and thread handles.
    registry: Mutex<Registry>,
    /// Signalled whenever a client releases its slot.
    released: Condvar,
    /// Set by [`WsHub::shutdown`]: no new clients.
    closing: AtomicBool,
    /// Dropped by [`WsHub::shutdown`] so that every client wakes.
    stop_tx: Mutex<Option<Sender<()>>>,
    /// Cloned into every client; disconnects when `stop_tx` is dropped.
    stop_rx: Receiver<()>,
    /// One encoding per event for all clients.
    cache: message::EncodeCache,
}

/// A reserved client slot; released (and the hub told) when dropped, which
/// the client thread does as its very last act, even when it panics.
struct Slot {
    hub: Arc<WsHub>,
    id: u64,
    party_id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut reg = self.hub.registry();
        reg.total = reg.total.saturating_sub(1);
        if let Some(n) = reg.per_party.get_mut(&self.party_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                reg.per_party.remove(&self.party_id);
            }
        }
        reg.alive.remove(&self.id);
        drop(reg);
        self.hub.released.notify_all();
    }
}

impl WsHub {
    /// A hub.
    pub fn new(config: WsConfig) -> Arc<WsHub> {
        let (stop_tx, stop_rx) = bounded(0);
        Arc::new(WsHub {
            config,
            registry: Mutex::new(Registry::default()),
            released: Condvar::new(),
            closing: AtomicBool::new(false),
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
            cache: message::EncodeCache::default(),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes the upgrade of `request` (already authorised by the caller)
    /// and serves the client on its own thread. `since`: replay events with
    /// `seq > since` first. On refusal the request is handed back unanswered.
    #[allow(clippy::result_large_err)]
    pub fn upgrade<U: Upgrade>(
        self: &Arc<Self>,
        app: Arc<App>,
        request: U,
        party_id: String,
        since: Option<u64>,
    ) -> Result<(), (WsError, U)> {
        let key = match client::handshake_key(&request.request()) {
            Ok(key) => key,
            Err(why) => return Err((WsError::BadUpgrade(why), request)),
        };
        if !crate::event::is_valid_id(&party_id) {
            let why = "party id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'";
            return Err((WsError::BadUpgrade(why.into()), request));
        }
        if self.closing.load(Ordering::Acquire) {
            return Err((WsError::NotRunning, request));
        }
        let bus = match app.bus() {
            Ok(bus) if bus.is_open() => bus,
            _ => return Err((WsError::NotRunning, request)),
        };
        let Some(slot) = self.reserve(&party_id) else {
            return Err((WsError::TooManyClients, request));
        };
        let name = format!("ws-{party_id}-{}", slot.id);
        let id = slot.id;
        // Subscribed before the thread reads `last_seq` or any history.
        let filter = Filter {
            topics: message::FORWARDED,
            ..Filter::party(&party_id)
        };
        let sub = bus.subscribe(&name, filter, SlowPolicy::Disconnect);
        let (handoff_tx, handoff_rx) = bounded::<U>(1);
        let conn = client::Conn {
            hub: self.clone(),
            app,
            party_id,
            since,
            key,
            sub,
            stop: self.stop_rx.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(name)
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                let _slot = slot;
                if let Ok(request) = handoff_rx.recv() {
                    conn.serve(request);
                }
            });
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => {
                // The closure (slot and subscription) is dropped: released.
                log::error!("cannot spawn a WebSocket thread: {e}");
                return Err((WsError::TooManyClients, request));
            }
        };
        if let Err(e) = handoff_tx.send(request) {
            // The thread is gone before taking the request (it panicked).
            return Err((WsError::NotRunning, e.into_inner()));
        }
        let mut reg = self.registry();
        reap(&mut reg);
        reg.threads.push((id, handle));
        Ok(())
    }

    /// Reserves a slot for a client of `party_id`, within the limits.
    fn reserve(self: &Arc<Self>, party_id: &str) -> Option<Slot> {
        let mut reg = self.registry();
        let of_party = reg.per_party.get(party_id).copied().unwrap_or(0);
        if reg.total >= self.config.max_clients || of_party >= self.config.max_clients_per_party {
            return None;
        }
        reg.total += 1;
        *reg.per_party.entry(party_id.to_string()).or_insert(0) += 1;
        reg.next_id += 1;
        let id = reg.next_id;
        reg.alive.insert(id);
        Some(Slot {
            hub: self.clone(),
            id,
            party_id: party_id.to_string(),
        })
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.registry().total
    }

    /// Closes every client with 1001 (going away) and joins their threads,
    /// waiting at most `timeout`.
    pub fn shutdown(&self, timeout: Duration) {
        self.closing.store(true, Ordering::Release);
        drop(
            self.stop_tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let deadline = Instant::now() + timeout;
        let mut reg = self.registry();
        while reg.total > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            reg = self
                .released
                .wait_timeout(reg, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let threads = std::mem::take(&mut reg.threads);
        let stuck = reg.alive.clone();
        drop(reg);
        for (id, handle) in threads {
            if stuck.contains(&id) {
                // Blocked on a peer that neither reads nor closes; detached.
                continue;
            }
            // Its slot is released: the thread is returning.
            if handle.join().is_err() {
                log::error!("a WebSocket thread panicked");
            }
        }
        if !stuck.is_empty() {
            log::warn!(
                "{} WebSocket clients did not close within {timeout:?}; left behind",
                stuck.len()
            );
        }
    }
}

/// Joins the threads that have finished.
fn reap(reg: &mut Registry) {
    let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut reg.threads)
        .into_iter()
        .partition(|(_, h)| h.is_finished());
    reg.threads = running;
    for (_, h) in done {
        if h.join().is_err() {
            log::error!("a WebSocket thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_interval_is_clamped() {
        let mut c = WsConfig::default();
        assert_eq!(c.turn_interval(), MAX_TURN_INTERVAL);
        c.ping_interval = Duration::from_millis(1);
        assert_eq!(c.turn_interval(), MIN_TURN_INTERVAL);
        c.ping_interval = Duration::from_millis(200);
        assert_eq!(c.turn_interval(), Duration::from_millis(200));
    }
}
