//! Live WebSocket streams: a few worker threads (`ws-<n>`, about one per
//! core), each serving many clients through readiness polling, fed by one
//! bus subscription per worker. Replays a party's events after `since`,
//! then streams live ones, each exactly once, in `seq` order.
//!
//! Owns the WebSocket handshake checks, the workers, the clients'
//! accounting (limits, [`WsHub::clients`]) and their shutdown. Must not hold
//! party state: everything comes from the [`App`] (its bus and its event
//! history). A client that cannot keep up is disconnected, never allowed to
//! slow the bus or the other clients. Must not name the HTTP library: the
//! connection to switch comes in as an [`Upgrade`], which the HTTP layer
//! implements.
//!
//! # Design
//! - **Handshake.** [`WsHub::upgrade`] validates the request and reserves a
//!   slot (total and per-party limits) on the HTTP connection's thread,
//!   then [`Upgrade::switch`] writes the `101` and hands back the socket
//!   itself (plus any bytes the client sent after its request): the HTTP
//!   layer keeps no thread for it. The client goes to the worker its party
//!   hashes to (all clients of a party share one worker). Any refusal
//!   happens before anything is written, so the request is handed back.
//! - **Workers.** Each worker polls its clients' non-blocking sockets
//!   (mio: epoll) and a [`mio::Waker`]. It never blocks on a socket: what a
//!   socket does not take waits in the client's outbox, and the socket is
//!   registered for writability only while output is pending. A client's
//!   own messages (`ping`, `{"type":"ping"}`, protocol pings) are answered
//!   as soon as they arrive; its close, FIN or reset is seen at once.
//! - **Events.** Each worker has ONE bus subscription
//!   ([`crate::bus::Bus::subscribe_parties`]) that follows exactly the
//!   parties of its clients and carries only the forwarded topics. The
//!   dispatcher wakes the worker through its waker, at most once per round
//!   however many batches arrive; the worker drains the channel, queues
//!   each event for the clients of its party (one shared frame per event
//!   from the hub's [`message::EncodeCache`]) and then writes each client
//!   touched once: one socket write per drained batch per client.
//! - **Exactly once, in order.** A worker follows a client's party before
//!   it reads the party's `last_seq` or any history (the bus journals and
//!   applies an event before it fans it out, so nothing falls between the
//!   two). Each client keeps a watermark, the last `seq` sent, and drops
//!   any event at or below it. Without `since` the watermark starts at the
//!   `last_seq` of the `connection` message. With `since`, history pages
//!   are queued while the outbox is below `REPLAY_LOW_WATER` (64 KiB)
//!   (more as the socket drains); live batches are skipped meanwhile,
//!   since every event they carry is already in the history the next page
//!   reads, and an empty page ends the replay.
//! - **Slow and dead clients.** A client's outbox is bounded
//!   ([`WsConfig::max_pending_bytes`]): an event that would pass the bound
//!   is not queued; the client gets the close frame 1013 "too slow" after
//!   what it had (reconnect with `since` to resume). A client that leaves
//!   a ping unanswered for `idle_timeout` is closed with 1008. A worker
//!   that falls [`WORKER_BATCHES`] batches behind the bus is dropped by it;
//!   it then closes its clients with 1013 and subscribes afresh.
//! - **Closing.** A close (ours or the client's) releases the client's
//!   slot at once; the socket stays until the client's close frame comes,
//!   `MAX_FRAMES_AFTER_CLOSE` (64) other frames come first, or
//!   `close_timeout` passes.
//! - **Shutdown.** [`WsHub::shutdown`] tells every worker to stop: each
//!   sends 1001 "server shutting down" to all its clients and exits once
//!   they are gone or at the deadline; the hub joins the workers against
//!   the same deadline.
//!
//! # Messages
//! See [`message`]: one JSON object per event with SPEC §2's keys plus
//! `party_id`, `seq`, `event_id` and `correlation_id`. `should_execute` is
//! internal scheduling and is not forwarded; `party_deleted` is followed by a
//! close (1000, "party deleted").
//!
//! # Limits
//! - Memory per idle client is its socket, its WebSocket state (a read
//!   buffer of [`READ_BUFFER`]) and a few hundred bytes of bookkeeping;
//!   pending output is bounded per client by `max_pending_bytes`.
//! - Workers: [`WsConfig::threads`] (default: one per core, at most
//!   [`MAX_DEFAULT_THREADS`]). A party's clients all share one worker, so
//!   one very busy party is served by one core.
//! - Timers (pings, idle and close timeouts) are checked every
//!   [`WsConfig::tick_interval`], so they fire up to that late.
//! - Replay pages are read from the history on the worker's thread; a
//!   slow journal read delays that worker's other clients for its length.
//! - The hub serves the [`App`] of its first upgrade; an upgrade for
//!   another app is refused as not running.

mod client;
pub(crate) mod message;
mod worker;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::server::request::Request;
use crate::App;

use worker::{Command, NewClient, Wake, Worker};

/// Most worker threads by default, whatever the core count: a worker
/// serves thousands of clients.
pub const MAX_DEFAULT_THREADS: usize = 8;
/// Events per replay page.
pub const REPLAY_PAGE: usize = 256;
/// Read buffer per client: clients send only small control messages.
pub const READ_BUFFER: usize = 4 * 1024;
/// Largest message a client may send; anything bigger closes the connection.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Default bound on a client's pending output: a few seconds of a busy
/// party's events; past it the client is closed with 1013.
pub const MAX_PENDING_BYTES: usize = 1024 * 1024;
/// Batches a worker's bus channel holds. A worker drains it on every
/// wake-up, so it only fills when the worker is starved of CPU for long.
pub const WORKER_BATCHES: usize = 4_096;
/// How often a worker checks its clients' timers at most, and at least.
pub const MIN_TICK: Duration = Duration::from_millis(5);
/// See [`MIN_TICK`].
pub const MAX_TICK: Duration = Duration::from_millis(250);
/// How long a closing client may take to send its close frame.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// WebSocket limits and timers.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Clients across all parties.
    pub max_clients: usize,
    /// Clients per party.
    pub max_clients_per_party: usize,
    /// How long after a client answered our last ping the next one is sent.
    pub ping_interval: Duration,
    /// A client that leaves a ping unanswered this long is dropped (1008).
    pub idle_timeout: Duration,
    /// Bytes a client may have pending before it is closed (1013).
    pub max_pending_bytes: usize,
    /// How long a closing client may take to send its close frame.
    pub close_timeout: Duration,
    /// Worker threads (at least one).
    pub threads: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_clients: 10_000,
            max_clients_per_party: 1_000,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_pending_bytes: MAX_PENDING_BYTES,
            close_timeout: CLOSE_TIMEOUT,
            threads: default_threads(),
        }
    }
}

/// One worker per core, at most [`MAX_DEFAULT_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, MAX_DEFAULT_THREADS)
}

impl WsConfig {
    /// How often a worker checks its clients' timers: a quarter of the
    /// shortest timer, within [`MIN_TICK`]..=[`MAX_TICK`].
    pub fn tick_interval(&self) -> Duration {
        (self.ping_interval.min(self.idle_timeout) / 4).clamp(MIN_TICK, MAX_TICK)
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

/// The socket of an upgraded connection.
#[derive(Debug)]
pub struct Switched {
    /// The connection's socket (the worker makes it non-blocking).
    pub stream: std::net::TcpStream,
    /// Bytes the client sent after its request that the HTTP layer had
    /// already read: the start of its WebSocket stream.
    pub buffered: Vec<u8>,
}

/// The HTTP side of an upgrade: a request still waiting for its answer, on a
/// connection that can be switched to WebSocket. The HTTP layer implements
/// it for its own request type; nothing is written before [`Upgrade::switch`].
pub trait Upgrade: Send + Sized + 'static {
    /// The request's head, for the handshake checks.
    fn request(&self) -> Request;

    /// Whether [`Upgrade::switch`] can hand the socket over (a plain TCP
    /// connection); checked before anything is written.
    fn can_switch(&mut self) -> bool;

    /// Answers `101 Switching Protocols` with `Upgrade: websocket` and
    /// `Sec-WebSocket-Accept: accept`, and hands the socket over: the HTTP
    /// layer lets go of the connection.
    fn switch(self, accept: &str) -> std::io::Result<Switched>;
}

/// Client accounting, under one lock held for microseconds.
#[derive(Default)]
struct Registry {
    /// Clients holding a slot (from reservation until their close begins).
    total: usize,
    /// Slots per party; a party leaves the map at zero.
    per_party: HashMap<String, usize>,
    /// Number of the next slot.
    next_id: u64,
    /// Ids of slots still held.
    alive: HashSet<u64>,
}

/// The running workers, started by the first upgrade.
struct Workers {
    /// The app they serve.
    app: Arc<App>,
    /// Each worker's inbox and waker.
    inboxes: Vec<(Sender<Command>, Wake)>,
    /// Their threads, joined at shutdown.
    threads: Vec<JoinHandle<()>>,
    /// Disconnects once every worker has returned.
    exited: Receiver<()>,
}

impl Drop for Workers {
    /// Never shut down: the workers see their inboxes disconnect.
    fn drop(&mut self) {
        for (tx, wake) in std::mem::take(&mut self.inboxes) {
            drop(tx);
            wake.wake();
        }
    }
}

/// Owns the WebSocket workers and the client slots: counts clients, closes
/// them on shutdown (code 1001) and joins the workers.
pub struct WsHub {
    /// Limits and timers.
    config: WsConfig,
    /// Slots.
    registry: Mutex<Registry>,
    /// Signalled whenever a client releases its slot.
    released: Condvar,
    /// Set by [`WsHub::shutdown`]: no new clients.
    closing: AtomicBool,
    /// The workers, once started.
    workers: Mutex<Option<Workers>>,
    /// One encoding per event for all clients.
    cache: Arc<message::EncodeCache>,
}

/// A reserved client slot; released (and the hub told) when dropped, which
/// happens when the client's close begins or it is dropped.
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
    /// A hub; its workers start with the first upgrade.
    pub fn new(config: WsConfig) -> Arc<WsHub> {
        Arc::new(WsHub {
            config,
            registry: Mutex::new(Registry::default()),
            released: Condvar::new(),
            closing: AtomicBool::new(false),
            workers: Mutex::new(None),
            cache: Arc::default(),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn workers(&self) -> MutexGuard<'_, Option<Workers>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes the upgrade of `request` (already authorised by the caller)
    /// and hands the client to its worker. `since`: replay events with
    /// `seq > since` first. On refusal the request is handed back unanswered.
    #[allow(clippy::result_large_err)]
    pub fn upgrade<U: Upgrade>(
        self: &Arc<Self>,
        app: Arc<App>,
        mut request: U,
        party_id: String,
        since: Option<u64>,
        party_token: Option<String>,
    ) -> Result<(), (WsError, U)> {
        let key = match client::handshake_key(&request.request()) {
            Ok(key) => key,
            Err(why) => return Err((WsError::BadUpgrade(why), request)),
        };
        if !crate::event::is_valid_id(&party_id) {
            let why = "party id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'";
            return Err((WsError::BadUpgrade(why.into()), request));
        }
        if !request.can_switch() {
            let why = "the connection cannot be switched to WebSocket";
            return Err((WsError::BadUpgrade(why.into()), request));
        }
        if self.closing.load(Ordering::Acquire) {
            return Err((WsError::NotRunning, request));
        }
        match app.bus() {
            Ok(bus) if bus.is_open() => {}
            _ => return Err((WsError::NotRunning, request)),
        }
        let Some(inbox) = self.worker_for(&app, &party_id) else {
            return Err((WsError::NotRunning, request));
        };
        let Some(slot) = self.reserve(&party_id) else {
            return Err((WsError::TooManyClients, request));
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let switched = match request.switch(&accept) {
            Ok(s) => s,
            Err(e) => {
                // The client went away mid-answer; its slot is released.
                log::debug!("WebSocket upgrade of {party_id} failed: {e}");
                return Ok(());
            }
        };
        let (tx, wake) = inbox;
        let new = NewClient {
            slot,
            party: party_id.into(),
            since,
            stream: switched.stream,
            buffered: switched.buffered,
            party_token,
        };
        // A worker gone (shutdown under way) drops the client: its socket
        // closes and its slot is released.
        if tx.send(Command::Serve(new)).is_ok() {
            wake.wake();
        }
        Ok(())
    }

    /// The inbox of the worker for `party_id`, starting the workers on
    /// first use. `None` when `app` is not the app they serve or they
    /// cannot start.
    fn worker_for(
        self: &Arc<Self>,
        app: &Arc<App>,
        party_id: &str,
    ) -> Option<(Sender<Command>, Wake)> {
        let mut workers = self.workers();
        if workers.is_none() {
            *workers = Some(self.start_workers(app)?);
        }
        let w = workers.as_ref()?;
        if !Arc::ptr_eq(&w.app, app) {
            log::error!("a WebSocket hub serves one app; upgrade for another refused");
            return None;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        party_id.hash(&mut h);
        let i = (h.finish() % w.inboxes.len() as u64) as usize;
        Some(w.inboxes[i].clone())
    }

    fn start_workers(self: &Arc<Self>, app: &Arc<App>) -> Option<Workers> {
        let (exit_tx, exited) = crossbeam_channel::bounded::<()>(0);
        let mut inboxes = Vec::new();
        let mut threads = Vec::new();
        for id in 0..self.config.threads.max(1) {
            let (tx, rx) = unbounded();
            let (worker, wake) =
                match Worker::new(id, self.config.clone(), self.cache.clone(), app.clone(), rx) {
                    Ok(w) => w,
                    Err(e) => {
                        log::error!("cannot start a WebSocket worker: {e}");
                        break;
                    }
                };
            let exit = exit_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ws-{id}"))
                .spawn(move || {
                    let _exit = exit;
                    worker.run();
                });
            match spawned {
                Ok(t) => {
                    threads.push(t);
                    inboxes.push((tx, wake));
                }
                Err(e) => {
                    log::error!("cannot spawn a WebSocket worker: {e}");
                    break;
                }
            }
        }
        if inboxes.is_empty() {
            return None;
        }
        Some(Workers {
            app: app.clone(),
            inboxes,
            threads,
            exited,
        })
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

    /// Connected clients (a closing one no longer counts).
    pub fn clients(&self) -> usize {
        self.registry().total
    }

    /// Closes every client with 1001 (going away) and joins the workers,
    /// waiting at most `timeout`.
    pub fn shutdown(&self, timeout: Duration) {
        self.closing.store(true, Ordering::Release);
        let deadline = Instant::now() + timeout;
        let Some(mut workers) = self.workers().take() else {
            return;
        };
        for (tx, wake) in &workers.inboxes {
            if tx.send(Command::Stop(deadline)).is_ok() {
                wake.wake();
            }
        }
        let threads = std::mem::take(&mut workers.threads);
        let exited = workers.exited.clone();
        drop(workers);
        // Every worker drops its end of `exited` as it returns.
        let _ = exited.recv_deadline(deadline);
        let mut stuck = 0;
        for t in threads {
            if !t.is_finished() {
                stuck += 1;
                continue;
            }
            if t.join().is_err() {
                log::error!("a WebSocket worker panicked");
            }
        }
        if stuck > 0 {
            log::warn!("{stuck} WebSocket workers did not finish within {timeout:?}; left behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_interval_is_a_quarter_of_the_shortest_timer_within_bounds() {
        let mut c = WsConfig::default();
        assert_eq!(c.tick_interval(), MAX_TICK);
        c.ping_interval = Duration::from_millis(1);
        assert_eq!(c.tick_interval(), MIN_TICK);
        c.ping_interval = Duration::from_millis(200);
        assert_eq!(c.tick_interval(), Duration::from_millis(50));
        c.idle_timeout = Duration::from_millis(100);
        assert_eq!(c.tick_interval(), Duration::from_millis(25));
    }

    #[test]
    fn default_threads_are_bounded() {
        let n = default_threads();
        assert!((1..=MAX_DEFAULT_THREADS).contains(&n));
    }
}
