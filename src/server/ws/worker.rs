//! One WebSocket worker thread (`ws-<n>`): a readiness poll (mio, epoll)
//! over its clients' sockets, plus one bus subscription carrying the
//! events of every party its clients follow (see the design in [`super`]).
//!
//! Owns its clients, its subscription and its poll; shares nothing with
//! other workers except the hub's encode cache and slots. Never blocks on
//! a socket, and never on the bus: it only drains its own channel, woken
//! through its [`Waker`] when the dispatcher hands it a batch.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::protocol::frame::coding::CloseCode;

use super::client::{Client, End, Reading};
use super::{message, Slot, WsConfig, WORKER_BATCHES};
use crate::bus::{Notify, SlowPolicy, Subscription};
use crate::event::{Event, Payload, Topic, TopicSet};
use crate::App;

/// The waker's token; clients get the tokens after it.
const WAKE: Token = Token(0);
/// Readiness events taken per poll.
const EVENTS: usize = 1_024;

/// A client handed over by the hub, its `101` already written.
pub(super) struct NewClient {
    pub(super) slot: Slot,
    pub(super) party: Arc<str>,
    pub(super) since: Option<u64>,
    pub(super) stream: std::net::TcpStream,
    pub(super) buffered: Vec<u8>,
    /// SHA-256 of the party token that let the client in (`None`: the
    /// admin token, or auth off): a rotation away from it closes the client.
    pub(super) party_token: Option<String>,
}

/// What the hub tells a worker.
pub(super) enum Command {
    /// Serve this client.
    Serve(NewClient),
    /// Close every client with 1001 and exit once they are gone, or at
    /// this deadline.
    Stop(Instant),
}

/// Wakes a worker's poll, at most once per round: the flag is cleared by
/// the worker before it drains, so a wake-up is never lost and a burst of
/// batches costs one.
#[derive(Clone)]
pub(super) struct Wake {
    waker: Arc<Waker>,
    pending: Arc<AtomicBool>,
}

impl Wake {
    pub(super) fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake a WebSocket worker: {e}");
            }
        }
    }

    fn clear(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

/// A worker's state, owned by its thread.
pub(super) struct Worker {
    /// Its number, for its thread and subscription names.
    id: usize,
    /// Limits and timers.
    config: WsConfig,
    /// The hub's encode cache.
    cache: Arc<message::EncodeCache>,
    /// History and party snapshots.
    app: Arc<App>,
    poll: Poll,
    wake: Wake,
    /// Commands from the hub.
    inbox: Receiver<Command>,
    /// The events of the parties its clients follow (`None` once the bus
    /// has shut down).
    sub: Option<Subscription>,
    /// Clients by token.
    clients: HashMap<Token, Client>,
    /// Clients of each party (live or replaying; closing ones leave).
    by_party: HashMap<Arc<str>, Vec<Token>>,
    /// The token for the next client.
    next_token: usize,
    /// Clients to read again next round (their frame budget ran out).
    again: Vec<Token>,
    /// Set by [`Command::Stop`]: the deadline to exit by.
    stopping: Option<Instant>,
    /// When the timers are next checked.
    next_tick: Instant,
}

impl Worker {
    /// A worker whose poll and waker are ready; its thread runs
    /// [`Worker::run`].
    pub(super) fn new(
        id: usize,
        config: WsConfig,
        cache: Arc<message::EncodeCache>,
        app: Arc<App>,
        inbox: Receiver<Command>,
    ) -> io::Result<(Worker, Wake)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let wake = Wake {
            waker,
            pending: Arc::new(AtomicBool::new(false)),
        };
        let mut worker = Worker {
            id,
            config,
            cache,
            app,
            poll,
            wake: wake.clone(),
            inbox,
            sub: None,
            clients: HashMap::new(),
            by_party: HashMap::new(),
            next_token: WAKE.0 + 1,
            again: Vec::new(),
            stopping: None,
            next_tick: Instant::now(),
        };
        worker.subscribe();
        Ok((worker, wake))
    }

    /// (Re)subscribes to the bus, following no party yet.
    fn subscribe(&mut self) {
        self.sub = None;
        let Ok(bus) = self.app.bus() else {
            return;
        };
        if !bus.is_open() {
            return;
        }
        let wake = self.wake.clone();
        let notify: Notify = Arc::new(move || wake.wake());
        self.sub = Some(bus.subscribe_parties(
            &format!("ws-{}", self.id),
            // Rotations are not forwarded, but close the clients they revoke.
            message::FORWARDED.union(TopicSet::of(&[Topic::PartyTokenRotated])),
            SlowPolicy::Disconnect,
            WORKER_BATCHES,
            notify,
        ));
    }

    /// The poll loop, until stopped and every client is gone (or the stop
    /// deadline passes).
    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        let mut ready: Vec<(Token, bool, bool)> = Vec::new();
        loop {
            let now = Instant::now();
            if let Some(deadline) = self.stopping {
                if self.clients.is_empty() || now >= deadline {
                    break;
                }
            }
            let timeout = if self.again.is_empty() {
                let until = match self.stopping {
                    Some(d) => self.next_tick.min(d),
                    None => self.next_tick,
                };
                until.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("WebSocket worker {} cannot poll: {e}", self.id);
                    break;
                }
            }
            let mut woken = false;
            ready.clear();
            for ev in events.iter() {
                if ev.token() == WAKE {
                    woken = true;
                } else {
                    let read = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    let write = ev.is_writable() || ev.is_write_closed();
                    ready.push((ev.token(), read, write));
                }
            }
            for t in std::mem::take(&mut self.again) {
                ready.push((t, true, false));
            }
            if woken {
                self.wake.clear();
                self.take_commands();
                self.take_events();
            }
            let now = Instant::now();
            for &(token, read, write) in &ready {
                self.on_ready(token, read, write, now);
            }
            if now >= self.next_tick {
                self.tick(now);
            }
        }
        let left = self.clients.len();
        if left > 0 {
            log::warn!(
                "WebSocket worker {}: {left} clients did not close in time; dropped",
                self.id
            );
        }
    }

    /// Takes the hub's commands.
    fn take_commands(&mut self) {
        loop {
            match self.inbox.try_recv() {
                Ok(Command::Serve(new)) => self.serve(new),
                Ok(Command::Stop(deadline)) => self.stop(deadline),
                Err(TryRecvError::Empty) => return,
                // The hub is gone: as good as a stop now.
                Err(TryRecvError::Disconnected) => {
                    if self.stopping.is_none() {
                        self.stop(Instant::now() + self.config.close_timeout);
                    }
                    return;
                }
            }
        }
    }

    /// Closes every client with 1001 and exits when they are gone.
    fn stop(&mut self, deadline: Instant) {
        self.stopping = Some(deadline);
        let tokens: Vec<Token> = self.clients.keys().copied().collect();
        for t in tokens {
            self.end(t, End::Close(CloseCode::Away, "server shutting down"));
        }
    }

    /// Starts serving a new client: follows its party, sends the
    /// `connection` message, then its replay or nothing.
    fn serve(&mut self, new: NewClient) {
        let token = Token(self.next_token);
        self.next_token += 1;
        if let Err(e) = new.stream.set_nonblocking(true) {
            log::debug!("WebSocket client dropped: {e}");
            return;
        }
        let mut sock = TcpStream::from_std(new.stream);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, token, Interest::READABLE)
        {
            log::error!("cannot register a WebSocket client: {e}");
            return;
        }
        let config = &self.config;
        let mut client = Client::new(new.slot, new.party.clone(), sock, new.buffered, config);
        client.party_token = new.party_token;
        if self.stopping.is_some() {
            self.clients.insert(token, client);
            self.end(token, End::Close(CloseCode::Away, "server shutting down"));
            return;
        }
        // Followed before `last_seq` is read: every later event arrives
        // live, every earlier one is at or below the watermark.
        if self.sub.is_none() {
            self.subscribe();
        }
        let followed = self.sub.as_ref().is_some_and(|s| s.follow(&new.party));
        self.clients.insert(token, client);
        if !followed {
            self.end(token, End::Close(CloseCode::Away, "server shutting down"));
            return;
        }
        self.by_party
            .entry(new.party.clone())
            .or_default()
            .push(token);
        let party = self.app.party(&new.party);
        let last_seq = party.as_ref().map_or(0, |p| p.last_seq);
        if let Some(c) = self.clients.get_mut(&token) {
            // Rotated between the token check and now: the rotation may
            // not come live any more.
            if c.revoked_by(party.as_ref().and_then(|p| p.token_sha256.as_deref())) {
                self.end(token, End::Close(CloseCode::Policy, "token rotated"));
                return;
            }
            c.hello(last_seq, new.since);
        }
        self.pump(token);
    }

    /// Queues replay pages and writes, until the socket is full or the
    /// replay is done.
    fn pump(&mut self, token: Token) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        let outcome = loop {
            if let Err(end) = c.replay(&self.app, &self.cache) {
                break Err(end);
            }
            match c.flush() {
                Ok(true) if c.replaying => continue,
                Ok(drained) => break Ok(drained),
                Err(end) => break Err(end),
            }
        };
        match outcome {
            Ok(drained) => self.want_write(token, !drained),
            Err(end) => self.end(token, end),
        }
    }

    /// Registers or drops write interest for `token`'s socket.
    fn want_write(&mut self, token: Token, pending: bool) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        if c.writable == pending {
            return;
        }
        let interest = if pending {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        match self
            .poll
            .registry()
            .reregister(&mut c.sock, token, interest)
        {
            Ok(()) => c.writable = pending,
            Err(e) => {
                log::debug!("WebSocket client dropped: {e}");
                self.end(token, End::Gone);
            }
        }
    }

    /// Drains the bus channel and queues each event for the clients of its
    /// party, then writes each client touched once.
    fn take_events(&mut self) {
        let Some(sub) = self.sub.as_mut() else {
            return;
        };
        let mut events: Vec<Arc<Event>> = Vec::new();
        let mut lost = false;
        loop {
            match sub.receiver().try_recv() {
                Ok(batch) => events.extend(sub.accept(batch)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    lost = true;
                    break;
                }
            }
        }
        let mut touched: Vec<Token> = Vec::new();
        let max_pending = self.config.max_pending_bytes;
        for ev in &events {
            let Some(tokens) = self.by_party.get(ev.party_id.as_str()) else {
                continue;
            };
            let mut ended = Vec::new();
            for &t in tokens {
                let Some(c) = self.clients.get_mut(&t) else {
                    continue;
                };
                if let Payload::PartyTokenRotated(r) = &ev.payload {
                    if c.revoked_by(Some(&r.token_sha256)) {
                        ended.push((t, End::Close(CloseCode::Policy, "token rotated")));
                        continue;
                    }
                }
                if c.replaying {
                    continue;
                }
                let before = c.out.len();
                match c.push_event(ev, &self.cache, max_pending) {
                    Ok(()) => {
                        if c.out.len() > before && !touched.contains(&t) {
                            touched.push(t);
                        }
                    }
                    Err(end) => ended.push((t, end)),
                }
            }
            for (t, end) in ended {
                self.end(t, end);
                touched.retain(|x| *x != t);
            }
        }
        for t in touched {
            self.pump(t);
        }
        if lost {
            let lagged = self.sub.as_ref().is_some_and(Subscription::lagged);
            let end = if lagged {
                log::warn!(
                    "WebSocket worker {} fell behind the bus; its clients are closed (1013)",
                    self.id
                );
                End::Close(CloseCode::Again, "too slow")
            } else {
                End::Close(CloseCode::Away, "server shutting down")
            };
            let tokens: Vec<Token> = self.by_party.values().flatten().copied().collect();
            for t in tokens {
                self.end(t, end);
            }
            self.sub = None;
            if lagged {
                self.subscribe();
            }
        }
    }

    /// A socket is readable, writable or closed.
    fn on_ready(&mut self, token: Token, read: bool, write: bool, now: Instant) {
        if write {
            let replaying = self.clients.get(&token).is_some_and(|c| c.replaying);
            if replaying {
                self.pump(token);
            } else if let Some(c) = self.clients.get_mut(&token) {
                match c.flush() {
                    Ok(drained) => self.want_write(token, !drained),
                    Err(end) => return self.end(token, end),
                }
            }
        }
        if read {
            let config = &self.config;
            let Some(c) = self.clients.get_mut(&token) else {
                return;
            };
            match c.read(now, config) {
                Ok(more) => {
                    if more == Reading::More {
                        self.again.push(token);
                    }
                    if c.out.len() > 0 {
                        self.pump(token);
                    }
                }
                Err(end) => self.end(token, end),
            }
        }
    }

    /// Checks every client's timers and sets the next tick.
    fn tick(&mut self, now: Instant) {
        let config = &self.config;
        let mut ended = Vec::new();
        let mut pinged = Vec::new();
        for (&t, c) in self.clients.iter_mut() {
            let before = c.out.len();
            match c.tick(now, config) {
                Ok(_) => {
                    if c.out.len() > before {
                        pinged.push(t);
                    }
                }
                Err(end) => ended.push((t, end)),
            }
        }
        for (t, end) in ended {
            self.end(t, end);
        }
        for t in pinged {
            self.pump(t);
        }
        self.next_tick = now + self.config.tick_interval();
    }

    /// Ends a client: either starts the close handshake (the client stays
    /// until the client answers, stops talking or times out) or drops it.
    fn end(&mut self, token: Token, end: End) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        let party = c.party.clone();
        let closing = c.closing.is_some();
        match end {
            End::Close(code, reason) if !closing => {
                c.close(code, reason, &self.config);
                if let Ok(drained) = c.flush() {
                    self.leave_party(&party, token);
                    self.want_write(token, !drained);
                    return;
                }
            }
            End::Close(..) => return,
            End::Gone => {}
        }
        self.leave_party(&party, token);
        if let Some(mut c) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.sock);
        }
    }

    /// Takes `token` off its party's list; unfollows the party when it was
    /// the last one.
    fn leave_party(&mut self, party: &Arc<str>, token: Token) {
        let Some(tokens) = self.by_party.get_mut(party) else {
            return;
        };
        tokens.retain(|t| *t != token);
        if tokens.is_empty() {
            self.by_party.remove(party);
            if let Some(sub) = &self.sub {
                sub.unfollow(party);
            }
        }
    }
}
