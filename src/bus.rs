//! The event bus: stamps every event with a global, gap-free `seq`, hands each
//! batch to the journal and the read model, then fans it out to subscribers
//! over bounded crossbeam channels, in `seq` order.
//!
//! Owns topic routing, subscriptions, the bounded history, dead letters and
//! metrics. Never blocks a publisher past its admission check, never lets a
//! slow subscriber grow memory without bound, and knows nothing of HTTP or of
//! what agents compute. One dispatcher thread (`bus-dispatch`) does all
//! journal, apply and fan-out work, so order is the order of `seq`.
//!
//! In a cluster ([`Bus::start_cluster`]) the shared log stamps instead: a
//! writer thread (`bus-append`) appends what is published to its party's
//! partition (commands at once; the scheduler's and agents' events only
//! under this node's lease on that partition), and the dispatcher tails
//! every partition, applying and fanning out what any node appended, each
//! partition in its own `seq` order. A command is answered, as on one
//! machine, once this node has applied it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{
    bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError,
};
use serde::Serialize;

use crate::event::{Draft, Event, Topic, TopicSet};
use crate::journal::codec::{self, Body};
use crate::journal::log::{Entry, Leases, Log, LogError, Op, Tail};
use crate::journal::{Journal, JournalError, StorageFault};

/// Default number of events kept in the in-memory history.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Default cap on events waiting for the dispatcher that user commands may
/// fill; beyond it commands are refused as overloaded (internal events from
/// agents are always admitted: they are bounded by the admitted commands).
pub const DEFAULT_INTAKE: usize = 65_536;
/// Most events the dispatcher takes in one batch (one journal group commit).
pub const MAX_BATCH: usize = 4_096;
/// Batches a subscriber channel holds before the subscriber counts as full.
pub const SUBSCRIBER_BATCHES: usize = 1_024;
/// How long the dispatcher waits on a full blocking subscriber before the
/// delivery is dead-lettered.
pub const DEFAULT_DELIVERY_DEADLINE: Duration = Duration::from_secs(1);
/// Dead letters kept for inspection (older ones are counted, not kept).
pub const DEAD_LETTERS_KEPT: usize = 1_000;

/// Bus settings.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Events kept in the history ring.
    pub history: usize,
    /// Cap on pending command events.
    pub intake: usize,
    /// Deadline for deliveries to blocking subscribers.
    pub delivery_deadline: Duration,
    /// Channel capacity per subscriber, in batches.
    pub subscriber_batches: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            history: DEFAULT_HISTORY,
            intake: DEFAULT_INTAKE,
            delivery_deadline: DEFAULT_DELIVERY_DEADLINE,
            subscriber_batches: SUBSCRIBER_BATCHES,
        }
    }
}

/// How a publish is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A user command: refused with [`PublishError::Overloaded`] when the
    /// intake is full.
    Command,
    /// Caused by another event (agents, scheduler): always admitted.
    Internal,
}

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The bus is not running.
    #[error("the bus is shut down")]
    Closed,
    /// Too many command events are waiting.
    #[error("the bus is overloaded")]
    Overloaded,
    /// The shared log (cluster mode) could not be reached: nothing was
    /// appended, unless the message says it may have been.
    #[error("the shared log is unavailable: {0}")]
    Unavailable(String),
    /// The shared log (cluster mode) already holds a party with this id.
    #[error("party {0} already exists")]
    Exists(String),
    /// The journal cannot be written (disk full, read-only, ...): nothing
    /// of the command was written, and commands are refused until a write
    /// succeeds again.
    #[error("{0}")]
    Unwritable(StorageFault),
}

/// What a subscriber does when its channel is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowPolicy {
    /// Wait up to the delivery deadline, then dead-letter (agents).
    Block,
    /// Disconnect the subscriber at once (WebSocket clients).
    Disconnect,
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Topics.
    pub topics: TopicSet,
    /// Only this party, if set.
    pub party: Option<String>,
    /// Only agent events about this agent name (wire name), if set.
    pub agent: Option<crate::domain::AgentName>,
}

impl Filter {
    /// Every event of the given topics.
    pub fn topics(topics: &[Topic]) -> Filter {
        Filter {
            topics: TopicSet::of(topics),
            party: None,
            agent: None,
        }
    }

    /// Every event of one party.
    pub fn party(party_id: &str) -> Filter {
        Filter {
            topics: TopicSet::ALL,
            party: Some(party_id.to_string()),
            agent: None,
        }
    }

    fn matches(&self, ev: &Event) -> bool {
        self.topics.contains(ev.topic())
            && self.party.as_deref().is_none_or(|p| p == ev.party_id)
            && self.agent.is_none_or(|a| ev.payload.agent() == Some(a))
    }
}

/// A delivery that could not be made.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The event's `seq`.
    pub seq: u64,
    /// The event's id.
    pub event_id: String,
    /// The event's party.
    pub party_id: String,
    /// The event's topic.
    pub topic: &'static str,
    /// The subscriber that missed it.
    pub subscriber: String,
    /// Why.
    pub reason: String,
}

/// Bus metrics, with the prototype's names plus ours.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Events stamped.
    pub total_published: u64,
    /// Event deliveries made to subscribers.
    pub total_delivered: u64,
    /// Event deliveries that failed (dead-lettered or subscriber dropped).
    pub failed_deliveries: u64,
    /// Topics with at least one subscriber.
    pub active_topics: usize,
    /// Subscribers.
    pub total_subscribers: usize,
    /// Dead letters recorded.
    pub dead_letters: u64,
    /// Events waiting for the dispatcher.
    pub intake_depth: usize,
    /// Events waiting in each subscriber's channel, by subscriber name.
    pub queue_depths: HashMap<String, usize>,
    /// Events kept in the history.
    pub history_len: usize,
    /// `seq` of the latest event applied.
    pub applied_seq: u64,
    /// Published events per topic.
    pub published_by_topic: HashMap<&'static str, u64>,
}

type Batch = Arc<Vec<Arc<Event>>>;

/// Called by the dispatcher after it hands a batch to a subscriber, and when
/// the subscriber's channel disconnects, for a subscriber that waits on
/// something other than its channel (a poll loop's waker). Must not block.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// What the bus and the subscriber's end share (never the sender: dropping
/// the registry's [`Sub`] must disconnect the channel).
struct SubState {
    id: u64,
    party: Option<String>,
    depth: AtomicUsize,
    lagged: AtomicBool,
    /// The parties a [`Bus::subscribe_parties`] subscriber follows (`None`
    /// for the other kinds).
    followed: Option<Mutex<HashSet<String>>>,
}

struct Sub {
    name: String,
    filter: Filter,
    policy: SlowPolicy,
    tx: Sender<Batch>,
    state: Arc<SubState>,
    notify: Option<Notify>,
}

impl Drop for Sub {
    /// The channel disconnects: tell a subscriber that waits elsewhere.
    fn drop(&mut self) {
        if let Some(notify) = &self.notify {
            notify();
        }
    }
}

impl Sub {
    fn id(&self) -> u64 {
        self.state.id
    }
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    global: Vec<Arc<Sub>>,
    by_party: HashMap<String, Vec<Arc<Sub>>>,
    /// [`Bus::subscribe_parties`] subscribers, also listed under each party
    /// they follow (kept here while they follow none).
    followers: Vec<Arc<Sub>>,
}

struct Pending {
    draft: Draft,
    seq: u64,
    at: SystemTime,
    admission: Admission,
    /// Cluster mode: the last event of a command carries its publisher's
    /// wait for the `seq` the log gave it.
    reply: Option<Reply>,
    /// The draft's stored JSON less the stamp, encoded by its publisher
    /// when the journal stores JSON (`None` otherwise, or if that failed).
    body: Option<Body>,
}

#[derive(Default)]
struct Intake {
    next_seq: u64,
    queue: Vec<Pending>,
    commands: usize,
    closed: bool,
    /// Bumped each time a failed append sends what was queued back (and
    /// gives its `seq`s out again): a publish's [`Receipt`] names the
    /// generation its `seq` belongs to.
    generation: u64,
    /// Set while the journal cannot be written: commands are refused at
    /// once, with this fault.
    refusing: Option<StorageFault>,
}

/// The applied watermark of each partition (one on a single machine) and
/// the publishers waiting for it, each with its own wake-up, so one batch
/// never wakes every waiting thread.
struct Applied {
    seq: Vec<u64>,
    waiters: Vec<std::collections::BTreeMap<u64, Vec<Arc<Wakeup>>>>,
    stopped: bool,
    /// The latest failed appends (one machine): `(generation, from)` says
    /// that when generation `generation - 1` ended, every event from `seq`
    /// `from` on was not written (commands refused, internal events given
    /// new `seq`s). Bounded: see [`REFUSALS_KEPT`].
    refusals: VecDeque<(u64, u64, StorageFault)>,
}

/// Failed appends remembered for publishers that had not yet started to
/// wait when theirs failed (a publisher waits right after publishing, so a
/// few would do).
const REFUSALS_KEPT: usize = 64;

/// How an awaited publish ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Journaled and applied.
    Applied,
    /// Not written: the journal failed, with this fault.
    Refused(StorageFault),
    /// Not applied within the timeout, or the bus stopped first.
    Pending,
}

impl Applied {
    fn new(seq: Vec<u64>) -> Applied {
        Applied {
            waiters: seq.iter().map(|_| Default::default()).collect(),
            seq,
            stopped: false,
            refusals: VecDeque::new(),
        }
    }

    /// Records that generation `generation - 1`'s events from `from` on
    /// were not written, and wakes who waited for them.
    fn refuse(&mut self, generation: u64, from: u64, fault: &StorageFault) {
        if self.refusals.len() >= REFUSALS_KEPT {
            self.refusals.pop_front();
        }
        self.refusals.push_back((generation, from, fault.clone()));
        let Some(waiters) = self.waiters.get_mut(0) else {
            return;
        };
        for w in waiters.split_off(&from).into_values().flatten() {
            w.fire(Wakeup::REFUSED);
        }
    }

    /// Whether `seq` of generation `generation` was refused: only the
    /// first failure after that generation can have refused it (every
    /// `seq` before its `from` was written). `Err` when that failure is no
    /// longer kept: unknown.
    fn refusal_of(&self, generation: u64, seq: u64) -> Result<Option<StorageFault>, ()> {
        match self.refusals.iter().find(|(g, _, _)| *g == generation + 1) {
            Some((_, from, fault)) => Ok((seq >= *from).then(|| fault.clone())),
            None if self.refusals.iter().all(|(g, _, _)| *g <= generation) => Ok(None),
            None => Err(()),
        }
    }

    /// Moves `partition`'s watermark to `seq` and wakes who waited for it.
    fn advance(&mut self, partition: usize, seq: u64) {
        let Some(w) = self.seq.get_mut(partition) else {
            return;
        };
        *w = (*w).max(seq);
        let waiters = &mut self.waiters[partition];
        let later = waiters.split_off(&(seq + 1));
        let due = std::mem::replace(waiters, later);
        for w in due.into_values().flatten() {
            w.fire(Wakeup::APPLIED);
        }
    }

    /// Wakes every waiter with "the bus stopped".
    fn stop_all(&mut self) {
        self.stopped = true;
        for w in self
            .waiters
            .iter_mut()
            .flat_map(|w| std::mem::take(w).into_values().flatten())
        {
            w.fire(Wakeup::STOPPED);
        }
    }
}

/// A one-shot wake-up of a thread waiting for its events to be applied.
/// The thread parks at once. (A channel's receive spins and yields first:
/// with dozens of writers waiting for one group commit, their yields took
/// CPU from the dispatcher they were waiting for.)
struct Wakeup {
    state: std::sync::atomic::AtomicU8,
    thread: std::thread::Thread,
}

impl Wakeup {
    const PENDING: u8 = 0;
    const APPLIED: u8 = 1;
    const STOPPED: u8 = 2;
    const REFUSED: u8 = 3;

    fn fire(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        self.thread.unpark();
    }
}

/// Called by the dispatcher for each committed batch, before fan-out (the
/// store's `apply`).
pub type ApplyFn = Box<dyn FnMut(&[Arc<Event>]) + Send>;

/// Called by the dispatcher for each committed and applied batch (in the
/// history, the applied watermark past it), before fan-out; the drafts it returns are published as internal events, after
/// everything already queued (see [`Bus::set_reactor`]).
pub type ReactFn = Box<dyn FnMut(&[Arc<Event>]) -> Vec<Draft> + Send>;

/// Cluster mode: called by the dispatcher, before `apply`, with each event
/// another node appended (the app keeps its command index current with it).
pub type RemoteFn = Box<dyn FnMut(&Event) + Send>;

/// What the bus of a cluster node shares with its threads.
struct ClusterSide {
    log: Arc<dyn Log>,
    leases: Arc<Leases>,
    /// Why the log is unreachable, while it is.
    down: Mutex<Option<String>>,
    /// Internal events dropped because this node no longer held their
    /// partition's lease.
    fenced: AtomicU64,
    /// Set once the writer has drained the intake at shutdown.
    tail_stop: AtomicBool,
}

/// How long the dispatcher of a cluster node waits on the log's tail before
/// it shows the reactor an empty batch (lease changes are taken then).
const TAIL_BLOCK: Duration = Duration::from_millis(100);

/// Longest pause between two attempts to reach the shared log.
const LOG_RETRY_MAX: Duration = Duration::from_secs(1);

/// How long a command waits for the writer to hear back from the log.
const APPEND_WAIT: Duration = Duration::from_secs(30);

struct Inner {
    config: BusConfig,
    intake: Mutex<Intake>,
    intake_cv: Condvar,
    applied: Mutex<Applied>,
    registry: RwLock<Registry>,
    history: Mutex<VecDeque<Arc<Event>>>,
    dead: Mutex<VecDeque<DeadLetter>>,
    published: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dead_count: AtomicU64,
    by_topic: [AtomicU64; Topic::ALL.len()],
    journal_error: Mutex<Option<JournalError>>,
    /// Why the journal cannot be written, from a failed append until a
    /// write succeeds again (one machine).
    fault: Mutex<Option<StorageFault>>,
    /// Appends (and probes) that failed.
    failed_appends: AtomicU64,
    /// Commands refused, queued or at once, because the journal could not
    /// be written.
    refused_commands: AtomicU64,
    /// The journal stores JSON: publishers encode their drafts' bodies.
    encode: bool,
    /// The reactor, once installed; only the dispatcher calls it.
    reactor: Mutex<Option<ReactFn>>,
    /// Per partition, the highest `seq` the history may miss: events after
    /// it that this node applied are all in the history.
    evicted: Mutex<Vec<u64>>,
    /// Cluster mode only.
    cluster: Option<ClusterSide>,
}

/// The bus. Cheap to clone; all clones share one dispatcher.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
    /// The dispatcher, and in cluster mode the writer before it.
    dispatcher: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// A publish's answer to come: the `seq` of its last event once known
/// (at once on one machine; after the shared log's reply in a cluster).
pub struct Ticket(TicketState);

enum TicketState {
    Ready(Receipt),
    Waiting(Receiver<Result<u64, PublishError>>),
}

/// Where a publish's last event stands in the order: its `seq`, and (on one
/// machine) the generation that `seq` was given out in, which tells whether
/// a failed append refused it ([`Bus::wait_settled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The `seq` of the publish's last event.
    pub seq: u64,
    generation: u64,
}

impl Ticket {
    /// The `seq` of the publish's last event, or why it was not appended.
    pub fn wait(self) -> Result<u64, PublishError> {
        self.receipt().map(|r| r.seq)
    }

    /// [`Ticket::wait`], with what [`Bus::wait_settled`] needs.
    pub fn receipt(self) -> Result<Receipt, PublishError> {
        match self.0 {
            TicketState::Ready(receipt) => Ok(receipt),
            TicketState::Waiting(rx) => match rx.recv_timeout(APPEND_WAIT) {
                Ok(r) => r.map(|seq| Receipt { seq, generation: 0 }),
                Err(RecvTimeoutError::Timeout) => Err(PublishError::Unavailable(
                    "no answer from the shared log in time; the command may or may not have been applied".into(),
                )),
                Err(RecvTimeoutError::Disconnected) => Err(PublishError::Closed),
            },
        }
    }
}

impl Bus {
    /// Starts the dispatcher. `first_seq` is the `seq` the next event gets
    /// (one past the journal's last). Every committed batch goes to
    /// `journal.append`, then to `apply`, then to subscribers.
    pub fn start(
        config: BusConfig,
        first_seq: u64,
        journal: Arc<dyn Journal>,
        apply: ApplyFn,
    ) -> Bus {
        let inner = Arc::new(Inner::new(
            config,
            vec![first_seq.max(1) - 1],
            journal.stores_json(),
            None,
        ));
        lock(&inner.intake).next_seq = first_seq.max(1);
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("bus-dispatch".into())
            .spawn(move || dispatch_loop(&worker, journal, apply))
            .expect("spawn bus dispatcher");
        Bus {
            inner,
            dispatcher: Arc::new(Mutex::new(vec![handle])),
        }
    }

    /// Starts a cluster node's bus on the shared `log`: `after[p]` is the
    /// last `seq` of partition `p` already applied (by start-up replay),
    /// where tailing continues. `leases` says which partitions' internal
    /// events this node may append; `remote` sees every event another node
    /// appended, before `apply`.
    pub fn start_cluster(
        config: BusConfig,
        after: Vec<u64>,
        log: Arc<dyn Log>,
        leases: Arc<Leases>,
        apply: ApplyFn,
        remote: RemoteFn,
    ) -> Bus {
        let side = ClusterSide {
            log,
            leases,
            down: Mutex::new(None),
            fenced: AtomicU64::new(0),
            tail_stop: AtomicBool::new(false),
        };
        let inner = Arc::new(Inner::new(config, after.clone(), true, Some(side)));
        let writer = inner.clone();
        let append = std::thread::Builder::new()
            .name("bus-append".into())
            .spawn(move || append_loop(&writer))
            .expect("spawn bus writer");
        let tailer = inner.clone();
        let dispatch = std::thread::Builder::new()
            .name("bus-dispatch".into())
            .spawn(move || tail_loop(&tailer, after, apply, remote))
            .expect("spawn bus dispatcher");
        Bus {
            inner,
            dispatcher: Arc::new(Mutex::new(vec![append, dispatch])),
        }
    }

    /// Stamps and enqueues the drafts as one contiguous run of `seq`s and
    /// returns the `seq` of the last one. The events are applied and fanned
    /// out later by the dispatcher; use [`Bus::wait_applied`] to wait.
    ///
    /// In a cluster, a command waits here for the shared log's answer, and
    /// internal events return 0 at once; see [`Bus::submit`].
    pub fn publish(&self, drafts: Vec<Draft>, admission: Admission) -> Result<u64, PublishError> {
        self.submit(drafts, admission)?.wait()
    }

    /// [`Bus::publish`] in two steps: admits the drafts (refusing them when
    /// the bus is closed or, for commands, overloaded) and returns the
    /// ticket that gives their `seq`, so a caller can let go of its own
    /// locks before waiting on a cluster's log.
    pub fn submit(&self, drafts: Vec<Draft>, admission: Admission) -> Result<Ticket, PublishError> {
        publish(&self.inner, drafts, admission, true)
    }

    /// Whether this bus runs on a cluster's shared log.
    pub fn is_cluster(&self) -> bool {
        self.inner.cluster.is_some()
    }

    /// The partition of a party (0 on one machine).
    pub fn partition_of(&self, party_id: &str) -> u32 {
        self.inner
            .cluster
            .as_ref()
            .map_or(0, |c| c.leases.partition_of(party_id))
    }

    /// Cluster mode: why the shared log is unreachable, while it is.
    pub fn log_down(&self) -> Option<String> {
        self.inner
            .cluster
            .as_ref()
            .and_then(|c| lock(&c.down).clone())
    }

    /// Cluster mode: internal events dropped because the lease of their
    /// partition had moved to another node.
    pub fn fenced_events(&self) -> u64 {
        self.inner
            .cluster
            .as_ref()
            .map_or(0, |c| c.fenced.load(Ordering::Relaxed))
    }

    /// The applied watermark of every partition (one on a single machine).
    pub fn applied_positions(&self) -> Vec<u64> {
        lock(&self.inner.applied).seq.clone()
    }
}

impl Inner {
    fn new(
        config: BusConfig,
        applied: Vec<u64>,
        encode: bool,
        cluster: Option<ClusterSide>,
    ) -> Inner {
        Inner {
            config,
            intake: Mutex::new(Intake::default()),
            intake_cv: Condvar::new(),
            evicted: Mutex::new(applied.clone()),
            applied: Mutex::new(Applied::new(applied)),
            registry: RwLock::new(Registry::default()),
            history: Mutex::new(VecDeque::new()),
            dead: Mutex::new(VecDeque::new()),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dead_count: AtomicU64::new(0),
            by_topic: Default::default(),
            journal_error: Mutex::new(None),
            fault: Mutex::new(None),
            failed_appends: AtomicU64::new(0),
            refused_commands: AtomicU64::new(0),
            encode,
            reactor: Mutex::new(None),
            cluster,
        }
    }
}

impl Bus {
    /// Installs the reactor: a function the dispatcher thread calls with
    /// every batch once it is journaled, applied and in the history (before
    /// fan-out), whose drafts it publishes itself. A pure reaction to events (the agents'
    /// scheduler) costs no thread hand-off this way: no subscriber to wake,
    /// no publisher to wake the dispatcher back. Batches dispatched before it
    /// is installed are not shown to it; a second call replaces it.
    pub fn set_reactor(&self, reactor: ReactFn) {
        *lock(&self.inner.reactor) = Some(reactor);
    }

    /// Publishes and waits until the events are applied to the read model.
    pub fn publish_and_wait(
        &self,
        drafts: Vec<Draft>,
        admission: Admission,
        timeout: Duration,
    ) -> Result<Option<u64>, PublishError> {
        let seq = self.publish(drafts, admission)?;
        Ok(self.wait_applied(seq, timeout).then_some(seq))
    }

    /// Waits until every event up to `seq` is applied; false on timeout or
    /// when the bus stops first. On one machine; see
    /// [`Bus::wait_applied_for`].
    pub fn wait_applied(&self, seq: u64, timeout: Duration) -> bool {
        self.wait_applied_in(0, seq, timeout)
    }

    /// Waits until every event of `party_id`'s partition up to `seq` is
    /// applied (every event up to `seq`, on one machine).
    pub fn wait_applied_for(&self, party_id: &str, seq: u64, timeout: Duration) -> bool {
        self.wait_applied_in(self.partition_of(party_id), seq, timeout)
    }

    /// Waits until every event of `partition` up to `seq` is applied.
    pub fn wait_applied_in(&self, partition: u32, seq: u64, timeout: Duration) -> bool {
        self.settle_in(partition, seq, None, timeout) == Settled::Applied
    }

    /// Waits until a publish of `party_id`'s is applied, or refused by a
    /// failed append (one machine: see [`Receipt`]).
    pub fn wait_settled(&self, party_id: &str, receipt: Receipt, timeout: Duration) -> Settled {
        let generation = (!self.is_cluster()).then_some(receipt.generation);
        self.settle_in(
            self.partition_of(party_id),
            receipt.seq,
            generation,
            timeout,
        )
    }

    fn settle_in(
        &self,
        partition: u32,
        seq: u64,
        generation: Option<u64>,
        timeout: Duration,
    ) -> Settled {
        let deadline = std::time::Instant::now() + timeout;
        let wakeup = Arc::new(Wakeup {
            state: Wakeup::PENDING.into(),
            thread: std::thread::current(),
        });
        // First whether a failed append refused it: its `seq` may since
        // have been given to another event, and applied.
        let refused = |applied: &Applied| match generation {
            None => Ok(None),
            Some(g) => applied.refusal_of(g, seq),
        };
        {
            let mut applied = lock(&self.inner.applied);
            match refused(&applied) {
                Ok(Some(fault)) => return Settled::Refused(fault),
                Ok(None) => {}
                Err(()) => return Settled::Pending,
            }
            let p = partition as usize;
            match applied.seq.get(p) {
                None => return Settled::Pending,
                Some(&s) if s >= seq => return Settled::Applied,
                Some(_) if applied.stopped => return Settled::Pending,
                Some(_) => {}
            }
            applied.waiters[p]
                .entry(seq)
                .or_default()
                .push(wakeup.clone());
        }
        loop {
            match wakeup.state.load(Ordering::Acquire) {
                Wakeup::APPLIED => return Settled::Applied,
                Wakeup::STOPPED => return Settled::Pending,
                Wakeup::REFUSED => {
                    return match refused(&lock(&self.inner.applied)) {
                        Ok(Some(fault)) => Settled::Refused(fault),
                        _ => Settled::Pending,
                    }
                }
                _ => {}
            }
            // Spurious and stale unparks just loop.
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Settled::Pending;
            }
            std::thread::park_timeout(left);
        }
    }

    /// `seq` of the latest event applied to the read model (in a cluster,
    /// the highest of any partition).
    pub fn applied_seq(&self) -> u64 {
        lock(&self.inner.applied)
            .seq
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Why the journal cannot be written, while it cannot: commands are
    /// refused ([`PublishError::Unwritable`]) until a write succeeds again.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        lock(&self.inner.fault).clone()
    }

    /// Appends that failed, and commands refused because of them.
    pub fn storage_failures(&self) -> (u64, u64) {
        (
            self.inner.failed_appends.load(Ordering::Relaxed),
            self.inner.refused_commands.load(Ordering::Relaxed),
        )
    }

    /// The last journal failure, if the dispatcher has stopped on one.
    pub fn journal_error(&self) -> Option<String> {
        lock(&self.inner.journal_error)
            .as_ref()
            .map(|e| crate::journal::Chain(e).to_string())
    }

    /// Subscribes. `name` labels the subscriber in metrics and dead letters.
    pub fn subscribe(&self, name: &str, filter: Filter, policy: SlowPolicy) -> Subscription {
        let (tx, rx) = bounded(self.inner.config.subscriber_batches);
        let mut reg = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        reg.next_id += 1;
        let state = Arc::new(SubState {
            id: reg.next_id,
            party: filter.party.clone(),
            depth: AtomicUsize::new(0),
            lagged: AtomicBool::new(false),
            followed: None,
        });
        let sub = Arc::new(Sub {
            name: name.to_string(),
            filter,
            policy,
            tx,
            state: state.clone(),
            notify: None,
        });
        match &sub.filter.party {
            Some(p) => reg.by_party.entry(p.clone()).or_default().push(sub.clone()),
            None => reg.global.push(sub.clone()),
        }
        Subscription {
            rx,
            buf: VecDeque::new(),
            state,
            bus: Arc::downgrade(&self.inner),
            sub: Arc::downgrade(&sub),
        }
    }

    /// Subscribes to `topics` of the parties added later with
    /// [`Subscription::follow`] (none at first), on a channel of `capacity`
    /// batches: one subscriber serving many parties' clients. The
    /// dispatcher calls `notify` after each batch it hands over and when
    /// the channel disconnects (shutdown, or dropped as too slow).
    pub fn subscribe_parties(
        &self,
        name: &str,
        topics: TopicSet,
        policy: SlowPolicy,
        capacity: usize,
        notify: Notify,
    ) -> Subscription {
        let (tx, rx) = bounded(capacity.max(1));
        let mut reg = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        reg.next_id += 1;
        let state = Arc::new(SubState {
            id: reg.next_id,
            party: None,
            depth: AtomicUsize::new(0),
            lagged: AtomicBool::new(false),
            followed: Some(Mutex::new(HashSet::new())),
        });
        let sub = Arc::new(Sub {
            name: name.to_string(),
            filter: Filter {
                topics,
                party: None,
                agent: None,
            },
            policy,
            tx,
            state: state.clone(),
            notify: Some(notify),
        });
        reg.followers.push(sub.clone());
        Subscription {
            rx,
            buf: VecDeque::new(),
            state,
            bus: Arc::downgrade(&self.inner),
            sub: Arc::downgrade(&sub),
        }
    }

    /// Events of the history with `seq > since`, optionally of one party,
    /// oldest first, at most `limit`.
    ///
    /// In a cluster, `seq`s are per partition: `since` means the party's
    /// (its partition's) `seq`; without a party, each event's own.
    pub fn history(&self, party: Option<&str>, since: u64, limit: usize) -> Vec<Arc<Event>> {
        let h = lock(&self.inner.history);
        let start = if self.inner.cluster.is_some() {
            0
        } else {
            h.partition_point(|e| e.seq <= since)
        };
        h.range(start..)
            .filter(|e| e.seq > since && party.is_none_or(|p| p == e.party_id))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Whether the history holds every event of `party_id` with a `seq`
    /// above `since` that this node has applied (else read the journal).
    pub fn history_covers(&self, party_id: &str, since: u64) -> bool {
        let p = self.partition_of(party_id) as usize;
        let _h = lock(&self.inner.history);
        lock(&self.inner.evicted)
            .get(p)
            .is_some_and(|&evicted| evicted <= since)
    }

    /// `seq` of the oldest event the history still holds (0 if empty).
    pub fn history_floor(&self) -> u64 {
        lock(&self.inner.history).front().map_or(0, |e| e.seq)
    }

    /// The most recent dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.inner.dead).iter().cloned().collect()
    }

    /// A metrics snapshot.
    pub fn metrics(&self) -> Metrics {
        let reg = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut topics = TopicSet::default();
        let mut queue_depths = HashMap::new();
        let mut total = 0;
        let mut seen = HashSet::new();
        let all = reg
            .global
            .iter()
            .chain(&reg.followers)
            .chain(reg.by_party.values().flatten());
        // A subscriber following several parties is listed under each.
        for s in all.filter(|s| seen.insert(s.id())) {
            total += 1;
            topics = topics.union(s.filter.topics);
            *queue_depths.entry(s.name.clone()).or_insert(0) +=
                s.state.depth.load(Ordering::Relaxed);
        }
        drop(reg);
        let mut published_by_topic = HashMap::new();
        for t in Topic::ALL {
            published_by_topic.insert(
                t.as_str(),
                self.inner.by_topic[t as usize].load(Ordering::Relaxed),
            );
        }
        Metrics {
            total_published: self.inner.published.load(Ordering::Relaxed),
            total_delivered: self.inner.delivered.load(Ordering::Relaxed),
            failed_deliveries: self.inner.failed.load(Ordering::Relaxed),
            active_topics: Topic::ALL.iter().filter(|t| topics.contains(**t)).count(),
            total_subscribers: total,
            dead_letters: self.inner.dead_count.load(Ordering::Relaxed),
            intake_depth: lock(&self.inner.intake).queue.len(),
            queue_depths,
            history_len: lock(&self.inner.history).len(),
            applied_seq: self.applied_seq(),
            published_by_topic,
        }
    }

    /// Stops accepting events, lets the dispatcher finish what was admitted,
    /// then disconnects every subscriber and joins the dispatcher. Idempotent.
    pub fn shutdown(&self) {
        {
            let mut intake = lock(&self.inner.intake);
            intake.closed = true;
        }
        self.inner.intake_cv.notify_all();
        let handles = std::mem::take(&mut *lock(&self.dispatcher));
        for (i, h) in handles.into_iter().enumerate() {
            // A cluster's writer (first) has drained the intake: the
            // dispatcher may stop tailing.
            if i == 1 {
                if let Some(c) = &self.inner.cluster {
                    c.tail_stop.store(true, Ordering::Release);
                }
            }
            if h.join().is_err() {
                log::error!("bus dispatcher panicked");
            }
        }
        let mut reg = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        reg.global.clear();
        reg.by_party.clear();
        reg.followers.clear();
    }

    /// Whether the bus accepts events.
    pub fn is_open(&self) -> bool {
        !lock(&self.inner.intake).closed
    }
}

/// [`Bus::publish`]; `notify` is false on the dispatcher's own thread,
/// which needs no wake-up to find what it queued.
fn publish(
    inner: &Inner,
    drafts: Vec<Draft>,
    admission: Admission,
    notify: bool,
) -> Result<Ticket, PublishError> {
    if drafts.is_empty() {
        return Ok(Ticket(TicketState::Ready(Receipt {
            seq: 0,
            generation: 0,
        })));
    }
    let at = SystemTime::now();
    let n = drafts.len();
    // Encoded here, on the publisher's thread, not on the dispatcher's.
    let mut bodies: Vec<Option<Body>> = if inner.encode {
        drafts.iter().map(|d| codec::encode_body(d).ok()).collect()
    } else {
        Vec::new()
    };
    bodies.resize(n, None);
    let mut intake = lock(&inner.intake);
    if intake.closed {
        return Err(PublishError::Closed);
    }
    if admission == Admission::Command {
        if let Some(fault) = &intake.refusing {
            inner.refused_commands.fetch_add(1, Ordering::Relaxed);
            return Err(PublishError::Unwritable(fault.clone()));
        }
    }
    if admission == Admission::Command && intake.commands + n > inner.config.intake {
        return Err(PublishError::Overloaded);
    }
    if admission == Admission::Command {
        intake.commands += n;
    }
    // In a cluster the log gives the seqs; a command waits for them.
    let (reply, ticket) = match (&inner.cluster, admission) {
        (None, _) => (None, None),
        (Some(_), Admission::Internal) => (
            None,
            Some(Ticket(TicketState::Ready(Receipt {
                seq: 0,
                generation: 0,
            }))),
        ),
        (Some(_), Admission::Command) => {
            let (tx, rx) = bounded(1);
            (Some(tx), Some(Ticket(TicketState::Waiting(rx))))
        }
    };
    let was_empty = intake.queue.is_empty();
    let mut reply = reply;
    for (i, (draft, body)) in drafts.into_iter().zip(bodies).enumerate() {
        let seq = intake.next_seq;
        intake.next_seq += 1;
        intake.queue.push(Pending {
            draft,
            seq,
            at,
            admission,
            reply: if i + 1 == n { reply.take() } else { None },
            body,
        });
    }
    let last = intake.next_seq - 1;
    let generation = intake.generation;
    drop(intake);
    if was_empty && (notify || inner.cluster.is_some()) {
        inner.intake_cv.notify_one();
    }
    Ok(ticket.unwrap_or(Ticket(TicketState::Ready(Receipt {
        seq: last,
        generation,
    }))))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The next batch from the intake, waiting for one; `None` once the bus
/// is closed and the intake drained.
fn next_batch(inner: &Inner) -> Option<Vec<Pending>> {
    let mut intake = lock(&inner.intake);
    while intake.queue.is_empty() && !intake.closed {
        intake = inner
            .intake_cv
            .wait(intake)
            .unwrap_or_else(|e| e.into_inner());
    }
    if intake.queue.is_empty() {
        return None;
    }
    let take = intake.queue.len().min(MAX_BATCH);
    let rest = intake.queue.split_off(take);
    let batch = std::mem::replace(&mut intake.queue, rest);
    let commands = batch
        .iter()
        .filter(|p| p.admission == Admission::Command)
        .count();
    intake.commands = intake.commands.saturating_sub(commands);
    Some(batch)
}

/// The first pause after a failed append before the journal is probed.
const STALL_RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest pause between two probes of a journal that cannot be
/// written: how long writes may stay refused after the fault is fixed.
pub const STALL_RETRY_MAX: Duration = Duration::from_secs(2);

fn dispatch_loop(inner: &Inner, journal: Arc<dyn Journal>, mut apply: ApplyFn) {
    // Kept across failures, reset by a written batch: a failure the probe
    // does not see (a batch the journal refuses for what it holds) backs
    // off as a full disk does.
    let mut pause = STALL_RETRY_MIN;
    loop {
        let Some(pending) = next_batch(inner) else {
            lock(&inner.applied).stop_all();
            return;
        };
        let mut events: Vec<Arc<Event>> = Vec::with_capacity(pending.len());
        let mut bodies = Vec::with_capacity(pending.len());
        let mut kinds = Vec::with_capacity(pending.len());
        for p in pending {
            let ts = humantime::format_rfc3339_micros(p.at).to_string();
            events.push(Arc::new(p.draft.stamp(p.seq, ts)));
            bodies.push(p.body);
            kinds.push((p.admission, p.at));
        }
        let Some(last) = events.last().map(|e| e.seq) else {
            continue;
        };
        let appended = if inner.encode {
            events
                .iter()
                .zip(bodies)
                .map(|(e, body)| stored_json(e, body))
                .collect::<Result<Vec<String>, _>>()
                .and_then(|json| journal.append_encoded(&events, &json))
        } else {
            journal.append(&events)
        };
        if let Err(e) = appended {
            // Nothing of the batch was written: its commands are refused,
            // its internal events go back to be written once the journal
            // can be (nobody has seen them), and commands are refused
            // until then.
            if !stall(inner, journal.as_ref(), events, kinds, e, &mut pause) {
                lock(&inner.applied).stop_all();
                return;
            }
            continue;
        }
        pause = STALL_RETRY_MIN;
        apply(&events);
        record(inner, &events, |_| 0);
        lock(&inner.applied).advance(0, last);
        // After the history and the watermark: whoever the reactor lets go
        // (a caller waiting for a party to settle) finds the batch there.
        react(inner, &events);
        fan_out(inner, &events);
    }
}

/// A failed append on one machine. Nothing of the batch was written: its
/// commands, and every queued command, are refused (their publishers hear
/// [`Settled::Refused`]); its internal events, then the queued ones, get
/// `seq`s again from the batch's first (nobody has seen them), to be
/// written once the journal can be. Commands are refused at once until
/// then. Probes the journal, backing off up to [`STALL_RETRY_MAX`], until a
/// write succeeds (true), or the bus is closed (false: what is queued is not
/// written, and a restart resumes the waves it belonged to).
fn stall(
    inner: &Inner,
    journal: &dyn Journal,
    events: Vec<Arc<Event>>,
    kinds: Vec<(Admission, SystemTime)>,
    error: JournalError,
    pause: &mut Duration,
) -> bool {
    let mut fault = journal.fault_of(&error);
    inner.failed_appends.fetch_add(1, Ordering::Relaxed);
    let from = events.first().map_or(0, |e| e.seq);
    let mut refused = 0u64;
    let kept_count = {
        let mut intake = lock(&inner.intake);
        let queued = std::mem::take(&mut intake.queue);
        let mut kept = Vec::with_capacity(events.len() + queued.len());
        for (event, (admission, at)) in events.into_iter().zip(kinds) {
            if admission == Admission::Command {
                refused += 1;
                continue;
            }
            kept.push(Pending {
                draft: Draft::from_event(Arc::unwrap_or_clone(event)),
                seq: 0,
                at,
                admission,
                reply: None,
                body: None,
            });
        }
        for p in queued {
            match p.admission {
                Admission::Command => refused += 1,
                Admission::Internal => kept.push(p),
            }
        }
        for (i, p) in kept.iter_mut().enumerate() {
            p.seq = from + i as u64;
        }
        intake.next_seq = from + kept.len() as u64;
        let kept_count = kept.len();
        intake.queue = kept;
        intake.commands = 0;
        intake.generation += 1;
        intake.refusing = Some(fault.clone());
        *lock(&inner.fault) = Some(fault.clone());
        // Under the intake's lock: no publish sees the new generation
        // before its refusal is recorded.
        lock(&inner.applied).refuse(intake.generation, from, &fault);
        kept_count
    };
    inner.refused_commands.fetch_add(refused, Ordering::Relaxed);
    log::error!(
        "journal append failed ({refused} commands refused, {kept_count} events of agents kept); \
         commands are refused until the journal can be written: {}",
        fault.message
    );
    let since = std::time::Instant::now();
    loop {
        let deadline = std::time::Instant::now() + *pause;
        *pause = (*pause * 2).min(STALL_RETRY_MAX);
        {
            let mut intake = lock(&inner.intake);
            while !intake.closed {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                intake = inner
                    .intake_cv
                    .wait_timeout(intake, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if intake.closed {
                log::error!(
                    "stopping while the journal cannot be written: {} queued events of agents \
                     are not written; the next start resumes their waves",
                    intake.queue.len()
                );
                return false;
            }
        }
        match journal.probe() {
            Ok(()) => {
                lock(&inner.intake).refusing = None;
                *lock(&inner.fault) = None;
                log::warn!(
                    "journal: writes succeed again after {:.1?}; accepting commands",
                    since.elapsed()
                );
                return true;
            }
            Err(e) => {
                inner.failed_appends.fetch_add(1, Ordering::Relaxed);
                let now = journal.fault_of(&e);
                if now != fault {
                    log::error!("journal still cannot be written: {}", now.message);
                    fault = now;
                    lock(&inner.intake).refusing = Some(fault.clone());
                    *lock(&inner.fault) = Some(fault.clone());
                }
            }
        }
    }
}

/// Counts an applied batch and keeps it in the history; `partition` gives
/// an event's partition (for what the history has evicted).
fn record(inner: &Inner, events: &[Arc<Event>], partition: impl Fn(&Event) -> usize) {
    inner
        .published
        .fetch_add(events.len() as u64, Ordering::Relaxed);
    for e in events {
        inner.by_topic[e.topic() as usize].fetch_add(1, Ordering::Relaxed);
    }
    let mut h = lock(&inner.history);
    let mut evicted = lock(&inner.evicted);
    for e in events {
        if h.len() >= inner.config.history.max(1) {
            if let Some(old) = h.pop_front() {
                if let Some(slot) = evicted.get_mut(partition(&old)) {
                    *slot = (*slot).max(old.seq);
                }
            }
        }
        h.push_back(e.clone());
    }
}

/// A cluster node's writer: appends what is published to the shared log,
/// one atomic append per partition (and kind) per batch.
fn append_loop(inner: &Inner) {
    let Some(side) = &inner.cluster else {
        return;
    };
    while let Some(batch) = next_batch(inner) {
        // Grouped by partition and kind, each group in publish order.
        let mut groups: Vec<(u32, Admission, Vec<Pending>)> = Vec::new();
        for p in batch {
            let partition = side.leases.partition_of(&p.draft.party_id);
            match groups
                .iter_mut()
                .find(|(g, a, _)| *g == partition && *a == p.admission)
            {
                Some((_, _, items)) => items.push(p),
                None => groups.push((partition, p.admission, vec![p])),
            }
        }
        for (partition, admission, items) in groups {
            match admission {
                Admission::Internal => append_internal(inner, side, partition, items),
                Admission::Command => append_commands(inner, side, partition, items),
            }
        }
    }
}

/// What the log stores of a pending event: its JSON less `seq`.
/// Where a command's publisher waits for its `seq` (cluster mode).
type Reply = Sender<Result<u64, PublishError>>;

fn entry(p: Pending) -> Result<(Entry, Option<Reply>), String> {
    let ts = humantime::format_rfc3339_micros(p.at).to_string();
    let body = match p.body {
        Some(b) => b,
        None => codec::encode_body(&p.draft).map_err(|e| e.to_string())?,
    };
    let op = match p.draft.payload {
        crate::event::Payload::PartyCreated(_) => Op::Create,
        crate::event::Payload::PartyDeleted(_) => Op::Delete,
        _ => Op::Other,
    };
    Ok((
        Entry {
            party_id: p.draft.party_id.clone(),
            op,
            json: codec::finish_timestamp(body, &ts),
        },
        p.reply,
    ))
}

/// Notes whether the log answered.
fn log_state(side: &ClusterSide, down: Option<&LogError>) {
    let mut d = lock(&side.down);
    match down {
        None => *d = None,
        Some(e) => {
            let why = crate::journal::Chain(e).to_string();
            if d.as_deref() != Some(why.as_str()) {
                log::warn!("shared log: {why}");
            }
            *d = Some(why);
        }
    }
}

/// Appends the scheduler's and agents' events of a partition, under this
/// node's lease; retried until the log answers (the same batch id: at most
/// once), dropped once the lease is gone.
fn append_internal(inner: &Inner, side: &ClusterSide, partition: u32, items: Vec<Pending>) {
    let n = items.len() as u64;
    let Some(fence) = side.leases.fence(partition) else {
        side.fenced.fetch_add(n, Ordering::Relaxed);
        return;
    };
    let entries: Vec<Entry> = items
        .into_iter()
        .filter_map(|p| match entry(p) {
            Ok((e, _)) => Some(e),
            Err(e) => {
                log::error!("an internal event could not be encoded: {e}");
                None
            }
        })
        .collect();
    let batch_id = uuid::Uuid::new_v4().simple().to_string();
    let mut pause = Duration::from_millis(20);
    loop {
        match side
            .log
            .append(partition, Some(&fence), &batch_id, &entries)
        {
            Ok(_) => return log_state(side, None),
            Err(LogError::Fenced { .. }) => {
                log_state(side, None);
                log::info!(
                    "partition {partition}'s lease moved on: {n} events of this node's runs dropped"
                );
                side.fenced.fetch_add(n, Ordering::Relaxed);
                side.leases.revoke(partition);
                return;
            }
            Err(e @ LogError::Unavailable { .. }) => {
                log_state(side, Some(&e));
                // Keep trying while the lease may still be ours; at
                // shutdown, a few seconds, then leave the wave to whoever
                // takes the partition (it resumes from the log).
                if side.leases.fence(partition).as_ref() != Some(&fence)
                    || (lock(&inner.intake).closed && pause >= LOG_RETRY_MAX)
                {
                    side.fenced.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(LOG_RETRY_MAX);
            }
            Err(e) => {
                log::error!(
                    "the shared log refused {n} events of partition {partition}: {}",
                    crate::journal::Chain(&e)
                );
                return;
            }
        }
    }
}

/// Appends users' commands of one partition in one step; if the log
/// refuses one (a party that exists), each command on its own, so only
/// that one is refused.
fn append_commands(inner: &Inner, side: &ClusterSide, partition: u32, items: Vec<Pending>) {
    let _ = inner;
    // Split into commands: each ends with the event carrying the reply.
    let mut commands: Vec<(Vec<Entry>, Option<Reply>)> = Vec::new();
    let mut current = Vec::new();
    for p in items {
        let last = p.reply.is_some();
        match entry(p) {
            Ok((e, reply)) => {
                current.push(e);
                if last {
                    commands.push((std::mem::take(&mut current), reply));
                }
            }
            Err(e) => log::error!("a command's event could not be encoded: {e}"),
        }
    }
    if !current.is_empty() {
        commands.push((current, None));
    }
    let all: Vec<Entry> = commands
        .iter()
        .flat_map(|(e, _)| e.iter().cloned())
        .collect();
    match append_once(side, partition, &all) {
        Ok(first) => {
            let mut seq = first;
            for (entries, reply) in commands {
                seq += entries.len() as u64;
                if let Some(r) = reply {
                    let _ = r.send(Ok(seq - 1));
                }
            }
        }
        Err(PublishError::Exists(_)) if commands.len() > 1 => {
            for (entries, reply) in commands {
                let outcome = append_once(side, partition, &entries)
                    .map(|first| first + entries.len() as u64 - 1);
                if let Some(r) = reply {
                    let _ = r.send(outcome);
                }
            }
        }
        Err(e) => {
            for (_, reply) in commands {
                if let Some(r) = reply {
                    let _ = r.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One append of commands, retried once on a fresh connection when the
/// first attempt's outcome is unknown (the same batch id: at most once).
fn append_once(side: &ClusterSide, partition: u32, entries: &[Entry]) -> Result<u64, PublishError> {
    let batch_id = uuid::Uuid::new_v4().simple().to_string();
    let mut tries = 0;
    loop {
        tries += 1;
        match side.log.append(partition, None, &batch_id, entries) {
            Ok(first) => {
                log_state(side, None);
                return Ok(first);
            }
            Err(LogError::Exists(party)) => {
                log_state(side, None);
                return Err(PublishError::Exists(party));
            }
            Err(e @ LogError::Unavailable { maybe_applied, .. }) => {
                log_state(side, Some(&e));
                if tries < 2 {
                    continue;
                }
                let why = crate::journal::Chain(&e).to_string();
                return Err(PublishError::Unavailable(if maybe_applied {
                    format!("{why} (the command may have been applied: retry it with the same Idempotency-Key)")
                } else {
                    why
                }));
            }
            Err(e) => {
                return Err(PublishError::Unavailable(
                    crate::journal::Chain(&e).to_string(),
                ))
            }
        }
    }
}

/// A cluster node's dispatcher: tails every partition of the shared log and
/// applies, records, reacts to and fans out what it reads, in each
/// partition's order.
fn tail_loop(inner: &Inner, mut after: Vec<u64>, mut apply: ApplyFn, mut remote: RemoteFn) {
    let Some(side) = &inner.cluster else {
        return;
    };
    let node = side.leases.node().to_string();
    let mut tail: Option<Box<dyn Tail>> = None;
    let mut pause = Duration::from_millis(20);
    while !side.tail_stop.load(Ordering::Acquire) {
        let t = match &mut tail {
            Some(t) => t,
            None => match side.log.tail() {
                Ok(t) => tail.insert(t),
                Err(e) => {
                    log_state(side, Some(&e));
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(LOG_RETRY_MAX);
                    react(inner, &[]);
                    continue;
                }
            },
        };
        let tailed = match t.read(&after, TAIL_BLOCK, MAX_BATCH) {
            Ok(tailed) => {
                pause = Duration::from_millis(20);
                tailed
            }
            Err(e) => {
                log_state(side, Some(&e));
                tail = None;
                std::thread::sleep(pause);
                pause = (pause * 2).min(LOG_RETRY_MAX);
                react(inner, &[]);
                continue;
            }
        };
        let mut events = Vec::with_capacity(tailed.len());
        let mut partitions = Vec::with_capacity(tailed.len());
        for (p, ev, origin) in tailed {
            let Some(cursor) = after.get_mut(p as usize) else {
                continue;
            };
            if ev.seq <= *cursor {
                continue;
            }
            *cursor = ev.seq;
            if *origin != *node {
                remote(&ev);
            }
            partitions.push(p as usize);
            events.push(ev);
        }
        if events.is_empty() {
            react(inner, &[]);
            continue;
        }
        apply(&events);
        record(inner, &events, |e| {
            side.leases.partition_of(&e.party_id) as usize
        });
        {
            let mut applied = lock(&inner.applied);
            for (p, &seq) in after.iter().enumerate() {
                if applied.seq.get(p).is_some_and(|&s| s < seq) {
                    applied.advance(p, seq);
                }
            }
        }
        react(inner, &events);
        fan_out(inner, &events);
    }
    lock(&inner.applied).stop_all();
}

/// Shows the batch to the reactor, if any, and queues what it returns.
fn react(inner: &Inner, events: &[Arc<Event>]) {
    let drafts = match lock(&inner.reactor).as_mut() {
        Some(reactor) => reactor(events),
        None => return,
    };
    if drafts.is_empty() {
        return;
    }
    if let Err(e) = publish(inner, drafts, Admission::Internal, false) {
        log::debug!("the reactor's events were not published: {e}");
    }
}

/// The JSON the journal stores for `ev`: its publisher's body with the
/// stamp, or (if the publisher could not encode it) the whole event.
fn stored_json(ev: &Event, body: Option<Body>) -> Result<String, JournalError> {
    match body {
        Some(body) => Ok(codec::finish(body, ev.seq, &ev.timestamp)),
        None => serde_json::to_string(ev).map_err(|e| JournalError::Encode {
            context: format!("event {}", ev.event_id),
            source: Box::new(e),
        }),
    }
}

/// A party subscriber and the events of one batch it receives.
type PartyDelivery = (Arc<Sub>, Vec<Arc<Event>>);

fn fan_out(inner: &Inner, events: &[Arc<Event>]) {
    let (global, parties): (Vec<Arc<Sub>>, Vec<PartyDelivery>) = {
        let reg = inner.registry.read().unwrap_or_else(|e| e.into_inner());
        let global = reg.global.clone();
        let mut parties: Vec<PartyDelivery> = Vec::new();
        if !reg.by_party.is_empty() {
            let mut groups: HashMap<&str, Vec<Arc<Event>>> = HashMap::new();
            for e in events {
                if reg.by_party.contains_key(e.party_id.as_str()) {
                    groups
                        .entry(e.party_id.as_str())
                        .or_default()
                        .push(e.clone());
                }
            }
            for (party, evs) in groups {
                for s in reg.by_party.get(party).into_iter().flatten() {
                    let mine: Vec<Arc<Event>> = evs
                        .iter()
                        .filter(|e| s.filter.matches(e))
                        .cloned()
                        .collect();
                    if !mine.is_empty() {
                        parties.push((s.clone(), mine));
                    }
                }
            }
        }
        (global, parties)
    };
    let mut gone = Vec::new();
    for s in &global {
        let mine: Vec<Arc<Event>> = events
            .iter()
            .filter(|e| s.filter.matches(e))
            .cloned()
            .collect();
        if !mine.is_empty() && !deliver(inner, s, mine) {
            gone.push(s.id());
        }
    }
    for (s, mine) in parties {
        if !deliver(inner, &s, mine) {
            gone.push(s.id());
        }
    }
    if !gone.is_empty() {
        let mut reg = inner.registry.write().unwrap_or_else(|e| e.into_inner());
        reg.global.retain(|s| !gone.contains(&s.id()));
        reg.followers.retain(|s| !gone.contains(&s.id()));
        reg.by_party.retain(|_, subs| {
            subs.retain(|s| !gone.contains(&s.id()));
            !subs.is_empty()
        });
    }
}

/// Sends one batch; false when the subscriber must be removed.
fn deliver(inner: &Inner, s: &Sub, events: Vec<Arc<Event>>) -> bool {
    let n = events.len();
    let batch: Batch = Arc::new(events);
    s.state.depth.fetch_add(n, Ordering::Relaxed);
    let outcome = match s.policy {
        SlowPolicy::Block => match s.tx.send_timeout(batch, inner.config.delivery_deadline) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(b)) => {
                Err((b, false, "inbox full past the delivery deadline"))
            }
            Err(SendTimeoutError::Disconnected(b)) => Err((b, true, "")),
        },
        SlowPolicy::Disconnect => match s.tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(b)) => Err((b, true, "subscriber too slow; disconnected")),
            Err(TrySendError::Disconnected(b)) => Err((b, true, "")),
        },
    };
    match outcome {
        Ok(()) => {
            inner.delivered.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(notify) = &s.notify {
                notify();
            }
            true
        }
        Err((batch, remove, reason)) => {
            s.state.depth.fetch_sub(n, Ordering::Relaxed);
            if reason.is_empty() {
                // The receiver went away: an unsubscribe, not a failure.
                return !remove;
            }
            if remove {
                s.state.lagged.store(true, Ordering::Relaxed);
            }
            inner.failed.fetch_add(n as u64, Ordering::Relaxed);
            let mut dead = lock(&inner.dead);
            for e in batch.iter() {
                inner.dead_count.fetch_add(1, Ordering::Relaxed);
                if dead.len() >= DEAD_LETTERS_KEPT {
                    dead.pop_front();
                }
                dead.push_back(DeadLetter {
                    seq: e.seq,
                    event_id: e.event_id.clone(),
                    party_id: e.party_id.clone(),
                    topic: e.topic().as_str(),
                    subscriber: s.name.clone(),
                    reason: reason.to_string(),
                });
            }
            log::warn!("{} deliveries to {} failed: {reason}", batch.len(), s.name);
            !remove
        }
    }
}

/// A subscriber's end: events in `seq` order. Dropping it unsubscribes.
pub struct Subscription {
    rx: Receiver<Batch>,
    buf: VecDeque<Arc<Event>>,
    state: Arc<SubState>,
    bus: Weak<Inner>,
    /// The registry's entry, for [`Subscription::follow`] (weak: the bus
    /// drops the entry to disconnect the channel).
    sub: Weak<Sub>,
}

/// Why no event was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing arrived in time.
    Timeout,
    /// The bus shut down, or dropped this subscriber for being too slow
    /// (see [`Subscription::lagged`]).
    Disconnected,
}

impl Subscription {
    /// The next event, blocking.
    pub fn recv(&mut self) -> Result<Arc<Event>, RecvError> {
        if let Some(e) = self.buf.pop_front() {
            return Ok(e);
        }
        let batch = self.rx.recv().map_err(|_| RecvError::Disconnected)?;
        self.take(batch);
        self.buf.pop_front().ok_or(RecvError::Timeout)
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Arc<Event>, RecvError> {
        if let Some(e) = self.buf.pop_front() {
            return Ok(e);
        }
        let batch = self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => RecvError::Timeout,
            RecvTimeoutError::Disconnected => RecvError::Disconnected,
        })?;
        self.take(batch);
        self.buf.pop_front().ok_or(RecvError::Timeout)
    }

    /// The next whole batch (as fanned out), waiting at most `timeout`.
    /// Buffered single events come first.
    pub fn recv_batch(&mut self, timeout: Duration) -> Result<Vec<Arc<Event>>, RecvError> {
        if !self.buf.is_empty() {
            return Ok(self.buf.drain(..).collect());
        }
        let batch = self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => RecvError::Timeout,
            RecvTimeoutError::Disconnected => RecvError::Disconnected,
        })?;
        self.state.depth.fetch_sub(batch.len(), Ordering::Relaxed);
        Ok(Arc::try_unwrap(batch).unwrap_or_else(|b| (*b).clone()))
    }

    /// The next event if one is already here, without blocking.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        if self.buf.is_empty() {
            if let Ok(batch) = self.rx.try_recv() {
                self.take(batch);
            }
        }
        self.buf.pop_front()
    }

    /// Whether an event is waiting (buffered or in the channel).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || !self.rx.is_empty()
    }

    /// Everything already received, without blocking.
    pub fn drain(&mut self) -> Vec<Arc<Event>> {
        while let Ok(batch) = self.rx.try_recv() {
            self.take(batch);
        }
        self.buf.drain(..).collect()
    }

    /// The channel, for `select!` (yields whole batches; call
    /// [`Subscription::accept`] with what it yields).
    pub fn receiver(&self) -> &Receiver<Arc<Vec<Arc<Event>>>> {
        &self.rx
    }

    /// Takes a batch received through [`Subscription::receiver`] and returns its events.
    pub fn accept(&mut self, batch: Arc<Vec<Arc<Event>>>) -> Vec<Arc<Event>> {
        self.state.depth.fetch_sub(batch.len(), Ordering::Relaxed);
        Arc::try_unwrap(batch).unwrap_or_else(|b| (*b).clone())
    }

    /// True when the bus dropped this subscriber for not keeping up.
    pub fn lagged(&self) -> bool {
        self.state.lagged.load(Ordering::Relaxed)
    }

    /// Adds `party` to what a [`Bus::subscribe_parties`] subscriber
    /// receives: every batch fanned out after this returns. False when the
    /// subscriber is not of that kind or is no longer subscribed.
    pub fn follow(&self, party: &str) -> bool {
        let (Some(followed), Some(inner)) = (&self.state.followed, self.bus.upgrade()) else {
            return false;
        };
        let mut reg = inner.registry.write().unwrap_or_else(|e| e.into_inner());
        // Upgraded under the lock: the dispatcher cannot drop it meanwhile.
        let Some(sub) = self.sub.upgrade() else {
            return false;
        };
        if lock(followed).insert(party.to_string()) {
            reg.by_party.entry(party.to_string()).or_default().push(sub);
        }
        true
    }

    /// Stops receiving `party`'s events (see [`Subscription::follow`]).
    pub fn unfollow(&self, party: &str) {
        let (Some(followed), Some(inner)) = (&self.state.followed, self.bus.upgrade()) else {
            return;
        };
        let mut reg = inner.registry.write().unwrap_or_else(|e| e.into_inner());
        if lock(followed).remove(party) {
            remove_from_party(&mut reg, party, self.state.id);
        }
    }

    fn take(&mut self, batch: Batch) {
        self.state.depth.fetch_sub(batch.len(), Ordering::Relaxed);
        self.buf.extend(batch.iter().cloned());
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(inner) = self.bus.upgrade() else {
            return;
        };
        let mut reg = inner.registry.write().unwrap_or_else(|e| e.into_inner());
        let id = self.state.id;
        if let Some(followed) = &self.state.followed {
            for p in std::mem::take(&mut *lock(followed)) {
                remove_from_party(&mut reg, &p, id);
            }
            reg.followers.retain(|s| s.id() != id);
            return;
        }
        match &self.state.party {
            Some(p) => remove_from_party(&mut reg, p, id),
            None => reg.global.retain(|s| s.id() != id),
        }
    }
}

/// Takes subscriber `id` off `party`'s list.
fn remove_from_party(reg: &mut Registry, party: &str, id: u64) {
    if let Some(subs) = reg.by_party.get_mut(party) {
        subs.retain(|s| s.id() != id);
        if subs.is_empty() {
            reg.by_party.remove(party);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{InputRemoved, Payload, RemovalReason};
    use crate::journal::{MemoryJournal, NullJournal};
    use std::time::Instant;

    fn draft(party: &str, n: usize) -> Draft {
        Draft::command(
            party,
            "corr_test",
            Payload::InputRemoved(InputRemoved {
                input_id: format!("inp_{n}"),
                removed_by: "user".into(),
                reason: RemovalReason::UserAction,
            }),
        )
    }

    fn bus(config: BusConfig) -> Bus {
        Bus::start(config, 1, Arc::new(NullJournal), Box::new(|_| {}))
    }

    const WAIT: Duration = Duration::from_secs(5);

    /// A journal in memory whose writes fail, as a full disk's do, while
    /// `full` is set.
    #[derive(Default)]
    struct FullableJournal {
        inner: MemoryJournal,
        full: AtomicBool,
        probes: AtomicU64,
    }

    impl FullableJournal {
        fn refuse(&self) -> Result<(), JournalError> {
            match self.full.load(Ordering::SeqCst) {
                true => Err(JournalError::Io {
                    context: "appending events".into(),
                    source: std::io::Error::from_raw_os_error(28),
                }),
                false => Ok(()),
            }
        }
    }

    impl Journal for FullableJournal {
        fn append(&self, events: &[Arc<Event>]) -> Result<(), JournalError> {
            self.refuse()?;
            self.inner.append(events)
        }
        fn probe(&self) -> Result<(), JournalError> {
            self.probes.fetch_add(1, Ordering::SeqCst);
            self.refuse()
        }
        fn replay(&self, after: u64, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
            self.inner.replay(after, f)
        }
        fn party_events(
            &self,
            party_id: &str,
            since: u64,
            limit: usize,
        ) -> Result<Vec<Arc<Event>>, JournalError> {
            self.inner.party_events(party_id, since, limit)
        }
    }

    #[test]
    fn a_full_journal_refuses_commands_keeps_internal_events_and_recovers() {
        let journal = Arc::new(FullableJournal::default());
        let bus = Bus::start(BusConfig::default(), 1, journal.clone(), Box::new(|_| {}));
        let command = |n| {
            let receipt = bus
                .submit(vec![draft("p", n)], Admission::Command)?
                .receipt()?;
            Ok::<_, PublishError>(bus.wait_settled("p", receipt, WAIT))
        };
        assert_eq!(command(0), Ok(Settled::Applied));
        journal.full.store(true, Ordering::SeqCst);
        // The command that meets the full disk is refused, nothing of it
        // written; the next is refused at once; readiness knows why.
        let Ok(Settled::Refused(fault)) = command(1) else {
            panic!("the first command on a full disk must be refused");
        };
        assert_eq!(fault.kind, crate::journal::FaultKind::Full);
        assert!(matches!(command(2), Err(PublishError::Unwritable(_))));
        assert_eq!(
            bus.storage_fault().map(|f| f.kind),
            Some(crate::journal::FaultKind::Full)
        );
        // An agent's result published meanwhile is kept, not lost.
        let mut internal = draft("p", 3);
        internal.source = "agent".into();
        let kept_id = internal.event_id.clone();
        bus.publish(vec![internal], Admission::Internal)
            .expect("internal events are admitted");
        // The probe is retried (backing off) while the disk stays full.
        let deadline = Instant::now() + WAIT;
        while journal.probes.load(Ordering::SeqCst) < 2 {
            assert!(
                Instant::now() < deadline,
                "the journal was not probed again"
            );
            std::thread::yield_now();
        }
        assert_eq!(journal.inner.len(), 1, "nothing written while full");
        // Space is freed: commands are accepted again by themselves.
        journal.full.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + WAIT;
        let applied = loop {
            match command(4) {
                Ok(Settled::Applied) => break true,
                Err(PublishError::Unwritable(_)) | Ok(Settled::Refused(_)) => {
                    assert!(Instant::now() < deadline, "writes did not resume");
                    std::thread::yield_now();
                }
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!(applied);
        assert_eq!(bus.storage_fault(), None);
        // Written: the first command, the kept internal event, the last
        // command; `seq` gap-free, the refused commands nowhere.
        let mut stored = Vec::new();
        journal
            .replay(0, &mut |e| stored.push((e.seq, e.event_id.clone())))
            .expect("replay");
        assert_eq!(
            stored.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(stored[1].1, kept_id);
        let (failed, refused) = bus.storage_failures();
        assert!(failed >= 2 && refused >= 1, "{failed} {refused}");
        bus.shutdown();
    }

    #[test]
    fn a_waiter_is_woken_by_its_batch_or_by_shutdown_and_times_out_otherwise() {
        let bus = Arc::new(bus(BusConfig::default()));
        // Applied already: no wait at all.
        let seq = bus
            .publish(vec![draft("p", 0)], Admission::Internal)
            .expect("publish");
        assert!(bus.wait_applied(seq, WAIT));
        // Never published: the timeout.
        assert!(!bus.wait_applied(seq + 10, Duration::from_millis(20)));
        // Published after the waiter parked: woken by its batch.
        let waiting = |target: u64| {
            let waiter = bus.clone();
            let (tx, rx) = crossbeam_channel::bounded(1);
            std::thread::spawn(move || {
                tx.send(waiter.wait_applied(target, Duration::from_secs(60)))
            });
            while !lock(&bus.inner.applied).waiters[0].contains_key(&target) {
                std::thread::yield_now();
            }
            rx
        };
        let rx = waiting(seq + 1);
        bus.publish(vec![draft("p", 1)], Admission::Internal)
            .expect("publish");
        assert_eq!(rx.recv_timeout(WAIT), Ok(true));
        // Stopped before its seq came: woken at once with false.
        let rx = waiting(seq + 100);
        bus.shutdown();
        assert_eq!(rx.recv_timeout(WAIT), Ok(false));
    }

    #[test]
    fn seq_is_gap_free_and_fan_out_is_in_order() {
        let bus = bus(BusConfig::default());
        let mut subs: Vec<Subscription> = (0..6)
            .map(|i| {
                bus.subscribe(
                    &format!("s{i}"),
                    Filter::topics(&Topic::ALL),
                    SlowPolicy::Block,
                )
            })
            .collect();
        let publishers: Vec<_> = (0..4)
            .map(|p| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    for n in 0..250 {
                        bus.publish(vec![draft(&format!("p{p}"), n)], Admission::Internal)
                            .expect("publish");
                    }
                })
            })
            .collect();
        for p in publishers {
            p.join().expect("publisher");
        }
        for sub in &mut subs {
            for expected in 1..=1000u64 {
                let ev = sub.recv_timeout(WAIT).expect("event");
                assert_eq!(ev.seq, expected);
            }
        }
        assert!(bus.wait_applied(1000, WAIT));
        let m = bus.metrics();
        assert_eq!(m.total_published, 1000);
        assert_eq!(m.total_delivered, 6000);
        assert_eq!(m.failed_deliveries, 0);
        assert_eq!(m.total_subscribers, 6);
        assert_eq!(m.active_topics, Topic::ALL.len());
        bus.shutdown();
    }

    #[test]
    fn filters_by_party_topic_and_agent() {
        let bus = bus(BusConfig::default());
        let mut only_a = bus.subscribe("a", Filter::party("a"), SlowPolicy::Block);
        let mut created = bus.subscribe(
            "c",
            Filter::topics(&[Topic::PartyCreated]),
            SlowPolicy::Block,
        );
        bus.publish(vec![draft("b", 1), draft("a", 2)], Admission::Command)
            .expect("publish");
        let ev = only_a.recv_timeout(WAIT).expect("event for a");
        assert_eq!(ev.party_id, "a");
        assert_eq!(ev.seq, 2);
        assert_eq!(
            created.recv_timeout(Duration::from_millis(50)).err(),
            Some(RecvError::Timeout)
        );
        bus.shutdown();
    }

    #[test]
    fn blocking_subscriber_that_stalls_is_dead_lettered_not_waited_on_forever() {
        let bus = bus(BusConfig {
            subscriber_batches: 1,
            delivery_deadline: Duration::from_millis(20),
            ..BusConfig::default()
        });
        let stalled = bus.subscribe("stalled", Filter::topics(&Topic::ALL), SlowPolicy::Block);
        let mut healthy = bus.subscribe("healthy", Filter::topics(&Topic::ALL), SlowPolicy::Block);
        let mut last = 0;
        for n in 0..5 {
            last = bus
                .publish(vec![draft("p", n)], Admission::Internal)
                .expect("publish");
            // Drain the healthy one as we go so only `stalled` is full.
            assert!(bus.wait_applied(last, WAIT));
            while healthy.recv_timeout(Duration::from_millis(200)).is_ok() {
                if healthy.buf.is_empty() && healthy.rx.is_empty() {
                    break;
                }
            }
        }
        assert!(bus.wait_applied(last, WAIT));
        // Wait (bounded) for the dispatcher to give up on the stalled inbox.
        let deadline = Instant::now() + WAIT;
        while bus.metrics().dead_letters == 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let dead = bus.dead_letters();
        assert!(!dead.is_empty(), "expected dead letters");
        assert!(dead.iter().all(|d| d.subscriber == "stalled"));
        assert!(bus.metrics().failed_deliveries >= 1);
        drop(stalled);
        bus.shutdown();
    }

    #[test]
    fn slow_disconnect_subscriber_is_dropped_and_flagged() {
        let bus = bus(BusConfig {
            subscriber_batches: 1,
            ..BusConfig::default()
        });
        let mut slow = bus.subscribe("ws", Filter::party("p"), SlowPolicy::Disconnect);
        let mut seq = 0;
        for n in 0..4 {
            seq = bus
                .publish(vec![draft("p", n)], Admission::Internal)
                .expect("publish");
            assert!(bus.wait_applied(seq, WAIT));
        }
        // Its one buffered batch is still readable, then it is disconnected.
        let deadline = Instant::now() + WAIT;
        loop {
            match slow.recv_timeout(Duration::from_millis(100)) {
                Ok(_) => continue,
                Err(RecvError::Disconnected) => break,
                Err(RecvError::Timeout) => assert!(Instant::now() < deadline, "not dropped"),
            }
        }
        assert!(slow.lagged());
        assert!(seq >= 4);
        assert_eq!(bus.metrics().total_subscribers, 0);
        bus.shutdown();
    }

    #[test]
    fn a_party_follower_gets_exactly_the_parties_it_follows_and_is_notified() {
        let bus = bus(BusConfig::default());
        let notified = Arc::new(AtomicUsize::new(0));
        let n = notified.clone();
        let notify: Notify = Arc::new(move || {
            n.fetch_add(1, Ordering::SeqCst);
        });
        let mut sub =
            bus.subscribe_parties("ws-0", TopicSet::ALL, SlowPolicy::Disconnect, 16, notify);
        // Sees every event once its fan-out has begun: the fan-out's view
        // of the subscribers is taken by then, so a follow made afterwards
        // applies to later events only (being applied is not enough: the
        // fan-out comes after).
        let mut witness = bus.subscribe(
            "witness",
            Filter {
                topics: TopicSet::ALL,
                party: None,
                agent: None,
            },
            SlowPolicy::Block,
        );
        let mut publish = |party: &str, n: usize| {
            let seq = bus
                .publish(vec![draft(party, n)], Admission::Internal)
                .expect("publish");
            let seen = witness.recv_timeout(WAIT).expect("witnessed");
            assert_eq!(seen.seq, seq);
            seq
        };
        // Following nothing: nothing arrives, yet it is a subscriber.
        publish("a", 0);
        assert_eq!(bus.metrics().total_subscribers, 2);
        assert!(sub.follow("a"));
        assert!(sub.follow("b"));
        assert!(sub.follow("b"), "following twice is following once");
        assert_eq!(bus.metrics().total_subscribers, 2);
        let a = publish("a", 1);
        let b = publish("b", 2);
        publish("c", 3);
        sub.unfollow("a");
        publish("a", 4);
        let b2 = publish("b", 5);
        let got: Vec<u64> = (0..4)
            .map_while(|_| sub.recv_timeout(Duration::from_millis(200)).ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(got, vec![a, b, b2]);
        assert_eq!(notified.load(Ordering::SeqCst), 3);
        // Dropped: unsubscribed from every party it followed.
        drop(sub);
        drop(witness);
        assert_eq!(bus.metrics().total_subscribers, 0);
        assert!(bus
            .inner
            .registry
            .read()
            .expect("registry")
            .by_party
            .is_empty());
        bus.shutdown();
    }

    #[test]
    fn a_party_follower_is_notified_when_shutdown_disconnects_it() {
        let bus = bus(BusConfig::default());
        let notified = Arc::new(AtomicUsize::new(0));
        let n = notified.clone();
        let notify: Notify = Arc::new(move || {
            n.fetch_add(1, Ordering::SeqCst);
        });
        let mut sub =
            bus.subscribe_parties("ws-0", TopicSet::ALL, SlowPolicy::Disconnect, 16, notify);
        assert!(sub.follow("a"));
        bus.shutdown();
        assert!(notified.load(Ordering::SeqCst) >= 1);
        assert_eq!(sub.recv_timeout(WAIT).err(), Some(RecvError::Disconnected));
        assert!(!sub.follow("b"), "nothing to follow after shutdown");
    }

    #[test]
    fn history_is_bounded_and_queryable_by_party_and_since() {
        let bus = bus(BusConfig {
            history: 10,
            ..BusConfig::default()
        });
        let mut last = 0;
        for n in 0..25 {
            let party = if n % 2 == 0 { "even" } else { "odd" };
            last = bus
                .publish(vec![draft(party, n)], Admission::Internal)
                .expect("publish");
        }
        assert!(bus.wait_applied(last, WAIT));
        let all = bus.history(None, 0, 100);
        assert_eq!(all.len(), 10);
        assert_eq!(all[0].seq, 16);
        assert_eq!(bus.history_floor(), 16);
        let odd = bus.history(Some("odd"), 19, 100);
        assert!(odd.iter().all(|e| e.party_id == "odd" && e.seq > 19));
        assert_eq!(
            odd.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![20, 22, 24]
        );
        bus.shutdown();
    }

    #[test]
    fn commands_are_refused_when_the_intake_is_full_and_after_shutdown() {
        let journal = Arc::new(MemoryJournal::new());
        let bus = Bus::start(
            BusConfig {
                intake: 2,
                ..BusConfig::default()
            },
            1,
            journal.clone(),
            Box::new(|_| std::thread::sleep(Duration::from_millis(1))),
        );
        let mut refused = 0;
        for n in 0..200 {
            match bus.publish(vec![draft("p", n), draft("p", n)], Admission::Command) {
                Ok(_) => {}
                Err(PublishError::Overloaded) => refused += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(refused > 0, "a tiny intake must refuse some commands");
        bus.shutdown();
        // Everything admitted was journaled before shutdown returned.
        assert_eq!(journal.len() as u64 % 2, 0);
        assert_eq!(
            bus.publish(vec![draft("p", 0)], Admission::Internal),
            Err(PublishError::Closed)
        );
    }

    #[test]
    fn shutdown_disconnects_subscribers() {
        let bus = bus(BusConfig::default());
        let mut sub = bus.subscribe("s", Filter::topics(&Topic::ALL), SlowPolicy::Block);
        bus.shutdown();
        bus.shutdown();
        assert_eq!(sub.recv_timeout(WAIT).err(), Some(RecvError::Disconnected));
    }

    mod cluster {
        use super::*;
        use crate::event::PartyCreated;
        use crate::journal::log::memory::MemoryLog;
        use crate::journal::log::{partition_of, Fence};

        const K: u32 = 4;

        fn created(party: &str) -> Draft {
            Draft::command(
                party,
                "corr_test",
                Payload::PartyCreated(PartyCreated {
                    forked_from: None,
                    created_by: None,
                    token_sha256: None,
                }),
            )
        }

        /// A node's bus on `log`: what it applied, and what it saw as
        /// appended by other nodes.
        struct Node {
            bus: Bus,
            leases: Arc<Leases>,
            applied: Arc<Mutex<Vec<Arc<Event>>>>,
            remote: Arc<Mutex<Vec<String>>>,
        }

        fn node(log: &MemoryLog, id: &str) -> Node {
            let log = Arc::new(log.node(id));
            let leases = Arc::new(Leases::new(id, K));
            let applied: Arc<Mutex<Vec<Arc<Event>>>> = Arc::default();
            let remote: Arc<Mutex<Vec<String>>> = Arc::default();
            let (a, r) = (applied.clone(), remote.clone());
            let bus = Bus::start_cluster(
                BusConfig::default(),
                vec![0; K as usize],
                log,
                leases.clone(),
                Box::new(move |evs| a.lock().unwrap().extend(evs.iter().cloned())),
                Box::new(move |ev| r.lock().unwrap().push(ev.event_id.clone())),
            );
            Node {
                bus,
                leases,
                applied,
                remote,
            }
        }

        #[test]
        fn each_partition_is_numbered_on_its_own_and_every_node_applies_every_write() {
            let log = MemoryLog::new("a", K);
            let (a, b) = (node(&log, "a"), node(&log, "b"));
            let parties = ["p1", "p2", "p3", "p4", "p5", "p6"];
            let mut acks = Vec::new();
            for (i, party) in parties.iter().enumerate() {
                let on = if i % 2 == 0 { &a } else { &b };
                let seq = on
                    .bus
                    .publish(vec![created(party), draft(party, i)], Admission::Command)
                    .expect("appended");
                // Answered once this node applied it.
                assert!(on.bus.wait_applied_for(party, seq, WAIT));
                acks.push((party, seq));
            }
            for n in [&a, &b] {
                for (party, seq) in &acks {
                    assert!(n.bus.wait_applied_for(party, *seq, WAIT));
                }
                let applied = n.applied.lock().unwrap();
                assert_eq!(applied.len(), 2 * parties.len());
                // Per partition: 1, 2, 3, … in the order applied.
                for p in 0..K {
                    let seqs: Vec<u64> = applied
                        .iter()
                        .filter(|e| partition_of(&e.party_id, K) == p)
                        .map(|e| e.seq)
                        .collect();
                    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
                }
            }
            // Each node saw the other's events as remote, and only those.
            let (ra, rb) = (
                a.remote.lock().unwrap().len(),
                b.remote.lock().unwrap().len(),
            );
            assert_eq!((ra, rb), (6, 6));
            // A party that exists anywhere cannot be created again.
            let again = b.bus.publish(vec![created("p1")], Admission::Command);
            assert_eq!(again, Err(PublishError::Exists("p1".into())));
            a.bus.shutdown();
            b.bus.shutdown();
        }

        #[test]
        fn internal_events_are_appended_only_under_this_nodes_lease() {
            let log = MemoryLog::new("a", K);
            let a = node(&log, "a");
            let party = "fenced-party";
            let p = partition_of(party, K);
            let internal = |n: usize| {
                a.bus
                    .publish(vec![draft(party, n)], Admission::Internal)
                    .expect("admitted");
                // The writer takes batches in order: once a later command is
                // applied, the internal batch before it was handled.
                let seq = a
                    .bus
                    .publish(vec![created(&format!("marker{n}"))], Admission::Command)
                    .expect("marker");
                assert!(a.bus.wait_applied_for(&format!("marker{n}"), seq, WAIT));
            };
            // Not held: dropped, counted, not in the log.
            internal(0);
            assert_eq!(a.bus.fenced_events(), 1);
            assert!(log.events(p).iter().all(|e| e.party_id != party));
            // Held: appended.
            let fence = Fence {
                node: "a".into(),
                epoch: 1,
            };
            log.lease(p, Some(fence.clone()));
            a.leases.grant(p, fence);
            internal(1);
            assert_eq!(
                log.events(p).iter().filter(|e| e.party_id == party).count(),
                1
            );
            // Taken over by another node while this one still thinks it
            // holds it: the log refuses, the node drops it and lets go.
            log.lease(
                p,
                Some(Fence {
                    node: "b".into(),
                    epoch: 2,
                }),
            );
            internal(2);
            assert_eq!(
                log.events(p).iter().filter(|e| e.party_id == party).count(),
                1
            );
            assert_eq!(a.bus.fenced_events(), 2);
            assert_eq!(a.leases.fence(p), None);
            a.bus.shutdown();
        }
    }
}
