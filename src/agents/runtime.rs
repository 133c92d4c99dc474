//! The thin runtime around the pure agents: one named OS thread per agent
//! (`agent-theme`, ...) and a watchdog (`agent-watchdog`). The scheduler
//! (`input_analyzer`'s deciding half, a pure state machine) has no thread: it
//! is the bus's reactor ([`Bus::set_reactor`]), called on the dispatcher
//! thread with each applied batch, so starting a wave's next stage costs no
//! hand-off between threads (before: the dispatcher woke the scheduler's
//! thread, which woke the dispatcher back with the stage's events).
//!
//! Each run's `agent.started` is held back and published with its result,
//! one hand-off to the dispatcher per run instead of two; a run still going
//! after [`SHOW_STARTED_AFTER`] has its `started` published by the watchdog,
//! so a slow agent still shows progress live. Every topic reaches clients.
//!
//! It publishes started/completed/failed, measures `execution_time_ms`, turns
//! a panic into `party.agent.failed` (`internal`) and enforces a per-agent
//! deadline (`timeout`): the watchdog fails an overdue run, retires its
//! thread and starts a replacement, so one stuck run never stalls an agent.
//! Owns no party state; reads snapshots from the store and talks only to the bus.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::bus::{Admission, Bus, Filter, SlowPolicy, Subscription};
use crate::catalog::Catalog;
use crate::domain::AgentName;
use crate::event::{
    new_execution_id, AgentCompleted, AgentFailed, AgentStarted, Draft, ErrorType, Event, Payload,
    Topic, TopicSet,
};
use crate::journal::log::{LeaseChange, Leases};
use crate::journal::Journal;
use crate::recovery::{Recovery, Tracker};
use crate::store::Store;

use super::analyzer::party_facts;
use super::scheduler::Scheduler;
use super::{AgentInput, Product};

/// The function an agent thread runs: [`super::run`] in production; tests
/// inject faults through it.
pub type AgentFn = Arc<dyn Fn(AgentName, &AgentInput<'_>) -> Option<Product> + Send + Sync>;

/// Default per-run deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// Runtime settings.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Per-run deadline; an overdue run fails with `timeout`.
    pub deadline: Duration,
    /// Threads per agent (each agent has its own; default 1).
    pub threads_per_agent: usize,
    /// The agents' function.
    pub agent_fn: AgentFn,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            deadline: DEFAULT_DEADLINE,
            threads_per_agent: 1,
            agent_fn: Arc::new(super::run),
        }
    }
}

/// Lets callers wait until the scheduler has settled a party. Waiters are
/// woken one by one, never all at once: a waiter for a busy party is kept
/// with its party (looked at when a batch touches it), one for an idle party
/// by the `seq` it waits for (looked at when processing passes it, whether
/// or not a batch touches its party).
#[derive(Default)]
pub struct Settle {
    state: Mutex<SettleState>,
}

/// A waiting caller: the `seq` it waits for, and its wake-up.
type Waiter = (u64, Sender<()>);

#[derive(Default)]
struct SettleState {
    processed_seq: u64,
    busy: HashSet<String>,
    /// Waiters for busy parties.
    waiters: HashMap<String, Vec<Waiter>>,
    /// Waiters for idle parties, by the `seq` they wait for.
    by_seq: BTreeMap<u64, Vec<(String, Sender<()>)>>,
    stopped: bool,
}

impl SettleState {
    /// Files a waiter: with its party while the party is busy, else by `seq`.
    fn file(&mut self, party: &str, after: u64, tx: Sender<()>) {
        if self.busy.contains(party) {
            self.waiters
                .entry(party.to_string())
                .or_default()
                .push((after, tx));
        } else {
            self.by_seq
                .entry(after)
                .or_default()
                .push((party.to_string(), tx));
        }
    }
}

impl Settle {
    /// Waits until the scheduler has seen every event up to `after_seq` and
    /// the party has no wave running or waiting; false on timeout or stop.
    pub fn wait(&self, party_id: &str, after_seq: u64, timeout: Duration) -> bool {
        let rx = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.processed_seq >= after_seq && !s.busy.contains(party_id) {
                return true;
            }
            if s.stopped {
                return false;
            }
            let (tx, rx) = bounded(1);
            s.file(party_id, after_seq, tx);
            rx
        };
        rx.recv_timeout(timeout).is_ok()
    }

    /// Parties with a wave running or waiting.
    pub fn busy(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .busy
            .len()
    }

    /// Records a processed batch: `touched` parties with whether each is idle.
    fn processed(&self, last_seq: u64, touched: &[(&str, bool)]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.processed_seq = s.processed_seq.max(last_seq);
        let processed = s.processed_seq;
        for &(party, idle) in touched {
            if !idle {
                s.busy.insert(party.to_string());
                continue;
            }
            s.busy.remove(party);
            // Its party is idle now: woken, or filed by seq (a later batch
            // need not touch the party again).
            for (after, tx) in s.waiters.remove(party).unwrap_or_default() {
                if after <= processed {
                    let _ = tx.try_send(());
                } else {
                    s.file(party, after, tx);
                }
            }
        }
        // Processing passed these waiters' seq: woken, or filed with their
        // party if it is busy meanwhile.
        while let Some(first) = s.by_seq.first_entry() {
            if *first.key() > processed {
                break;
            }
            let (after, list) = first.remove_entry();
            for (party, tx) in list {
                if s.busy.contains(&party) {
                    s.file(&party, after, tx);
                } else {
                    let _ = tx.try_send(());
                }
            }
        }
    }

    /// A tracker that has seen every event up to `seq` (the journal's end
    /// at start-up), so waits for older events return at once.
    fn at(seq: u64) -> Settle {
        let settle = Settle::default();
        settle
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .processed_seq = seq;
        settle
    }

    fn stop(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.stopped = true;
        // Dropping the senders wakes every waiter with a failure.
        s.waiters.clear();
        s.by_seq.clear();
    }
}

/// What the runtime of a cluster node needs besides a single machine's:
/// which partitions it acts on, and what taking one over reads.
#[derive(Clone)]
pub struct ClusterRole {
    /// This node's leases.
    pub leases: Arc<Leases>,
    /// Every party's waves, kept current by the app as events are applied.
    pub tracker: Arc<Mutex<Tracker>>,
    /// The shared log, for the history of a party whose wave resumes.
    pub journal: Arc<dyn Journal>,
}

struct Shared {
    cluster: Option<ClusterRole>,
    bus: Bus,
    store: Arc<RwLock<Store>>,
    catalog: Arc<Catalog>,
    config: RuntimeConfig,
    inflight: Mutex<HashMap<u64, InFlight>>,
    next_run: AtomicU64,
    threads: Mutex<Vec<(Arc<AtomicBool>, JoinHandle<()>)>>,
    runs: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
}

struct InFlight {
    agent: Arc<Worker>,
    cause: Arc<Event>,
    execution_id: String,
    /// When the run began.
    began: Instant,
    deadline: Instant,
    retired: Arc<AtomicBool>,
    /// The run's `agent.started`, held back so that a fast run publishes it
    /// with its result (one hand-off to the dispatcher, not two); the
    /// watchdog publishes it once the run has taken [`SHOW_STARTED_AFTER`].
    started: Option<Draft>,
}

/// How long a run may go before its `agent.started` is published on its
/// own, so that a slow agent shows progress live. Runs take microseconds;
/// a run this slow is rare, and its clients see `started` this late at most
/// (plus one watchdog tick).
pub const SHOW_STARTED_AFTER: Duration = Duration::from_millis(25);

/// One agent's inbox, shared by its thread(s) and any replacement.
struct Worker {
    agent: AgentName,
    inbox: Mutex<Subscription>,
}

/// Counters over all agent runs.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RunStats {
    /// Runs finished (completed or failed).
    pub runs: u64,
    /// Runs that failed (panics and timeouts included).
    pub failures: u64,
    /// Runs that exceeded their deadline.
    pub timeouts: u64,
}

/// The running agents. Dropping it does not stop them: call [`Runtime::stop`].
pub struct Runtime {
    shared: Arc<Shared>,
    settle: Arc<Settle>,
    stop_tx: Option<Sender<()>>,
}

impl Runtime {
    /// Subscribes every agent and starts its threads. Subscriptions exist
    /// before this returns, so no event published afterwards is missed.
    pub fn start(
        bus: &Bus,
        store: Arc<RwLock<Store>>,
        catalog: Arc<Catalog>,
        config: RuntimeConfig,
    ) -> Runtime {
        Runtime::start_recovered(bus, store, catalog, config, Recovery::default())
    }

    /// Like [`Runtime::start`], after a restart: the scheduler is seeded with
    /// the recovered parties and first resumes the interrupted ones.
    pub fn start_recovered(
        bus: &Bus,
        store: Arc<RwLock<Store>>,
        catalog: Arc<Catalog>,
        config: RuntimeConfig,
        recovery: Recovery,
    ) -> Runtime {
        Runtime::start_inner(bus, store, catalog, config, recovery, None)
    }

    /// Starts a cluster node's agents: they act on the partitions this node
    /// holds once it has adopted them (their interrupted waves resumed, as
    /// after a restart), and on nothing else.
    pub fn start_cluster(
        bus: &Bus,
        store: Arc<RwLock<Store>>,
        catalog: Arc<Catalog>,
        config: RuntimeConfig,
        role: ClusterRole,
    ) -> Runtime {
        Runtime::start_inner(bus, store, catalog, config, Recovery::default(), Some(role))
    }

    fn start_inner(
        bus: &Bus,
        store: Arc<RwLock<Store>>,
        catalog: Arc<Catalog>,
        config: RuntimeConfig,
        recovery: Recovery,
        cluster: Option<ClusterRole>,
    ) -> Runtime {
        let shared = Arc::new(Shared {
            cluster,
            bus: bus.clone(),
            store,
            catalog,
            config,
            inflight: Mutex::new(HashMap::new()),
            next_run: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        });
        let settle = Arc::new(Settle::at(bus.applied_seq()));
        // Resumed parties count as busy from the start, so a wait for them
        // does not return before the scheduler has resumed them.
        let resuming: Vec<(&str, bool)> = recovery
            .resume
            .iter()
            .map(|r| (r.party_id.as_str(), false))
            .collect();
        settle.processed(0, &resuming);

        for agent in AgentName::ALL.into_iter().skip(1) {
            let sub = bus.subscribe(
                agent.as_str(),
                Filter {
                    topics: TopicSet::of(&[Topic::AgentShouldExecute]),
                    party: None,
                    agent: Some(agent),
                },
                SlowPolicy::Block,
            );
            let worker = Arc::new(Worker {
                agent,
                inbox: Mutex::new(sub),
            });
            for _ in 0..shared.config.threads_per_agent.max(1) {
                spawn_worker(&shared, worker.clone());
            }
        }

        // The scheduler reacts on the bus's dispatcher thread. Installed
        // after the agents subscribed (a wave it starts reaches them) and
        // before the resumed waves are published (it sees their answers).
        let mut scheduler = Scheduler::new(shared.catalog.cities.clone());
        scheduler.restore(recovery.baseline);
        let resumed = resume(&shared, &mut scheduler, &recovery.resume);
        let touched: Vec<(&str, bool)> = recovery
            .resume
            .iter()
            .map(|r| (r.party_id.as_str(), scheduler.is_idle(&r.party_id)))
            .collect();
        {
            let store = shared.store.clone();
            let settle = settle.clone();
            let shared2 = shared.clone();
            bus.set_reactor(Box::new(move |batch| match &shared2.cluster {
                None => react(&mut scheduler, &store, &settle, batch),
                Some(role) => react_cluster(&shared2, role, &mut scheduler, &settle, batch),
            }));
        }
        if !resumed.is_empty() {
            if let Err(e) = bus.publish(resumed, Admission::Internal) {
                log::warn!("could not resume interrupted planning: {e}");
            }
        }
        settle.processed(0, &touched);

        let (stop_tx, stop_rx) = bounded::<()>(0);
        {
            let shared2 = shared.clone();
            spawn(
                &shared,
                "agent-watchdog",
                Arc::new(AtomicBool::new(false)),
                move || watchdog_loop(&shared2, &stop_rx),
            );
        }
        Runtime {
            shared,
            settle,
            stop_tx: Some(stop_tx),
        }
    }

    /// The settle tracker.
    pub fn settle(&self) -> Arc<Settle> {
        self.settle.clone()
    }

    /// Run counters.
    pub fn stats(&self) -> RunStats {
        RunStats {
            runs: self.shared.runs.load(Ordering::Relaxed),
            failures: self.shared.failures.load(Ordering::Relaxed),
            timeouts: self.shared.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Joins every thread. Call after the bus has shut down (which
    /// disconnects the inboxes); retired threads stuck in a run are left
    /// behind rather than waited for.
    pub fn stop(&mut self) {
        self.stop_tx.take();
        self.settle.stop();
        let threads = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for (retired, handle) in threads {
            if retired.load(Ordering::Relaxed) && !handle.is_finished() {
                continue;
            }
            if handle.join().is_err() {
                log::error!("an agent thread panicked outside a run");
            }
        }
    }
}

fn spawn(shared: &Shared, name: &str, retired: Arc<AtomicBool>, f: impl FnOnce() + Send + 'static) {
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("spawn agent thread");
    shared
        .threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((retired, handle));
}

fn spawn_worker(shared: &Arc<Shared>, worker: Arc<Worker>) {
    let retired = Arc::new(AtomicBool::new(false));
    let shared2 = shared.clone();
    let retired2 = retired.clone();
    let name = format!("agent-{}", worker.agent.short());
    spawn(shared, &name, retired, move || {
        worker_loop(&shared2, &worker, &retired2)
    });
}

/// The waves that a crash interrupted, to publish once the scheduler is
/// installed.
fn resume(
    shared: &Shared,
    scheduler: &mut Scheduler,
    interrupted: &[crate::recovery::Resume],
) -> Vec<Draft> {
    let mut drafts = Vec::new();
    let mut resumed = 0;
    for r in interrupted {
        let party = shared
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .party(&r.party_id);
        if let Some(party) = party {
            let d = scheduler.resume(&party, &r.cause, r.before.as_deref(), r.waves);
            if !d.is_empty() {
                resumed += 1;
                drafts.extend(d);
            }
        }
    }
    if !interrupted.is_empty() {
        log::info!(
            "resuming interrupted planning of {resumed} parties ({} events)",
            drafts.len()
        );
    }
    drafts
}

/// The scheduler's turn on the dispatcher thread: one applied batch in, the
/// waves' next events out. The store was written by this same thread a
/// moment ago, so its read lock waits only for HTTP readers.
fn react(
    scheduler: &mut Scheduler,
    store: &RwLock<Store>,
    settle: &Settle,
    batch: &[Arc<Event>],
) -> Vec<Draft> {
    let mut drafts = Vec::new();
    // Seeded per process: clients choose party ids.
    let mut touched: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
    {
        let store = store.read().unwrap_or_else(|e| e.into_inner());
        for ev in batch {
            if !SCHEDULED.contains(ev.topic()) {
                continue;
            }
            let party = store.party(&ev.party_id);
            drafts.extend(scheduler.on_event(ev, party.as_deref()));
            touched.insert(ev.party_id.as_str());
        }
        scheduler.end_batch(|id| store.party(id));
    }
    let last = batch.last().map_or(0, |e| e.seq);
    let touched: Vec<(&str, bool)> = touched
        .into_iter()
        .map(|p| (p, scheduler.is_idle(p)))
        .collect();
    settle.processed(last, &touched);
    drafts
}

/// [`react`] on a cluster node: first the lease changes (a partition taken
/// over resumes its interrupted waves from the log; one lost is forgotten),
/// then the batch's events of the partitions this node acts on.
fn react_cluster(
    shared: &Shared,
    role: &ClusterRole,
    scheduler: &mut Scheduler,
    settle: &Settle,
    batch: &[Arc<Event>],
) -> Vec<Draft> {
    let mut drafts = Vec::new();
    let mut adopted = Vec::new();
    for change in role.leases.take_changes() {
        match change {
            LeaseChange::Adopt(p) => {
                // The read model already holds this batch: the take-over
                // covers it, so it is not reacted to twice.
                adopted.push(p);
                drafts.extend(adopt(shared, role, scheduler, p));
            }
            LeaseChange::Drop(p) => {
                adopted.retain(|&a| a != p);
                scheduler.forget(|id| role.leases.partition_of(id) == p);
                log::info!("partition {p}: no longer scheduled here");
            }
        }
    }
    let mine: Vec<Arc<Event>> = batch
        .iter()
        .filter(|e| {
            let p = role.leases.partition_of(&e.party_id);
            role.leases.is_active(p) && !adopted.contains(&p)
        })
        .cloned()
        .collect();
    if !mine.is_empty() {
        drafts.extend(react(scheduler, &shared.store, settle, &mine));
    }
    drafts
}

/// Takes partition `p` over: its parties' waves as the log tells them, the
/// interrupted ones resumed (as a restart resumes them).
fn adopt(shared: &Shared, role: &ClusterRole, scheduler: &mut Scheduler, p: u32) -> Vec<Draft> {
    let began = Instant::now();
    let plan = {
        let store = shared.store.read().unwrap_or_else(|e| e.into_inner());
        let tracker = role.tracker.lock().unwrap_or_else(|e| e.into_inner());
        crate::recovery::plan_resume_of(&store, &tracker, role.journal.as_ref(), |id| {
            role.leases.partition_of(id) == p
        })
    };
    match plan {
        Ok(recovery) => {
            let parties = recovery.baseline.len() + recovery.resume.len();
            scheduler.adopt(recovery.baseline);
            let drafts = resume(shared, scheduler, &recovery.resume);
            log::info!(
                "partition {p}: scheduled here now ({parties} parties, {} interrupted waves resumed) in {:?}",
                recovery.resume.len(),
                began.elapsed()
            );
            drafts
        }
        Err(e) => {
            log::warn!(
                "partition {p}: could not take it over ({}); its lease goes back",
                crate::journal::Chain(&e)
            );
            role.leases.revoke(p);
            Vec::new()
        }
    }
}

/// The topics the scheduler reacts to.
const SCHEDULED: TopicSet = TopicSet::NONE.with(&[
    Topic::PartyCreated,
    Topic::PartyDeleted,
    Topic::InputAdded,
    Topic::InputRemoved,
    Topic::AgentCompleted,
    Topic::AgentFailed,
    Topic::BudgetUpdated,
    Topic::PlanUpdated,
]);

fn worker_loop(shared: &Arc<Shared>, worker: &Arc<Worker>, retired: &Arc<AtomicBool>) {
    loop {
        if retired.load(Ordering::Relaxed) {
            return;
        }
        let next = {
            let mut inbox = worker.inbox.lock().unwrap_or_else(|e| e.into_inner());
            inbox.recv()
        };
        match next {
            Ok(ev) => {
                // Under a burst, results go out in one publish per burst (one
                // dispatcher wake-up), each run's `started` just before its
                // result; a slow run's `started` goes out early (watchdog).
                let mut out = Vec::new();
                let mut ev = ev;
                loop {
                    run_one(shared, worker, retired, &ev, &mut out);
                    if retired.load(Ordering::Relaxed) || out.len() >= MAX_OUT || !has_more(worker)
                    {
                        break;
                    }
                    let more = worker
                        .inbox
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .try_recv();
                    match more {
                        Some(next) => ev = next,
                        None => break,
                    }
                }
                publish_all(shared, out);
            }
            Err(crate::bus::RecvError::Timeout) => continue,
            Err(crate::bus::RecvError::Disconnected) => return,
        }
    }
}

/// Most result events an agent thread holds back before publishing.
const MAX_OUT: usize = 256;

fn has_more(worker: &Worker) -> bool {
    worker
        .inbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .has_pending()
}

fn start_message(agent: AgentName) -> &'static str {
    match agent {
        AgentName::Theme => "Analyzing party theme...",
        AgentName::Venue => "Searching for venues...",
        AgentName::Cake => "Searching for bakeries...",
        AgentName::Catering => "Searching for caterers...",
        AgentName::Vendor => "Searching for vendors...",
        AgentName::Budget => "Calculating budget...",
        AgentName::FinalPlanner | AgentName::InputAnalyzer => "Updating plan...",
    }
}

fn run_one(
    shared: &Arc<Shared>,
    worker: &Arc<Worker>,
    retired: &Arc<AtomicBool>,
    ev: &Arc<Event>,
    out: &mut Vec<Draft>,
) {
    let Payload::AgentShouldExecute(req) = &ev.payload else {
        return;
    };
    if let Some(role) = &shared.cluster {
        // Another node holds this party's partition: its agents run it.
        if !role.leases.acts_on(&ev.party_id) {
            return;
        }
    }
    let agent = worker.agent;
    let party = shared
        .store
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .party(&ev.party_id);
    let execution_id = new_execution_id();
    let Some(party) = party else {
        // Deleted meanwhile: tell the scheduler this run is over.
        publish(
            shared,
            fail(
                ev,
                agent,
                &execution_id,
                "party no longer exists",
                ErrorType::Validation,
            ),
        );
        return;
    };
    let started_event = AgentName::DOMAIN.contains(&agent).then(|| {
        Draft::caused_by(
            ev,
            agent.as_str(),
            Payload::AgentStarted(AgentStarted {
                agent_name: agent,
                execution_id: execution_id.clone(),
                input_count: u32::try_from(req.input_ids.len()).unwrap_or(u32::MAX),
                message: start_message(agent).to_string(),
            }),
        )
    });
    let run_id = shared.next_run.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    shared
        .inflight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            run_id,
            InFlight {
                agent: worker.clone(),
                cause: ev.clone(),
                execution_id: execution_id.clone(),
                began: started,
                deadline: started + shared.config.deadline,
                retired: retired.clone(),
                started: started_event,
            },
        );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let facts = party_facts(&party.inputs, &shared.catalog.cities);
        let input = AgentInput {
            party: &party,
            facts: &facts,
            catalog: &shared.catalog,
        };
        (shared.config.agent_fn)(agent, &input)
    }));
    let elapsed = started.elapsed();
    let Some(run) = shared
        .inflight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&run_id)
    else {
        // The watchdog already failed this run; its result is discarded.
        return;
    };
    out.extend(run.started);
    shared.runs.fetch_add(1, Ordering::Relaxed);
    let execution_time_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    let draft = if elapsed > shared.config.deadline {
        shared.timeouts.fetch_add(1, Ordering::Relaxed);
        shared.failures.fetch_add(1, Ordering::Relaxed);
        fail(
            ev,
            agent,
            &execution_id,
            &deadline_message(shared),
            ErrorType::Timeout,
        )
    } else {
        match outcome {
            Ok(Some(Product::Output(result, confidence))) => Draft::caused_by(
                ev,
                agent.as_str(),
                Payload::AgentCompleted(AgentCompleted {
                    reused_from: None,
                    agent_name: agent,
                    execution_id,
                    result: Arc::new(result),
                    confidence,
                    execution_time_ms,
                }),
            ),
            Ok(Some(Product::Budget(b))) => {
                Draft::caused_by(ev, agent.as_str(), Payload::BudgetUpdated(Arc::new(b)))
            }
            Ok(Some(Product::Plan(p))) => {
                Draft::caused_by(ev, agent.as_str(), Payload::PlanUpdated(Arc::new(p)))
            }
            Ok(None) => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                fail(
                    ev,
                    agent,
                    &execution_id,
                    "agent has nothing to run",
                    ErrorType::Internal,
                )
            }
            Err(panic) => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                log::error!("{agent} panicked on party {}: {msg}", ev.party_id);
                fail(
                    ev,
                    agent,
                    &execution_id,
                    &format!("agent panicked: {msg}"),
                    ErrorType::Internal,
                )
            }
        }
    };
    out.push(draft);
}

fn deadline_message(shared: &Shared) -> String {
    format!(
        "agent exceeded its deadline of {} ms",
        shared.config.deadline.as_millis()
    )
}

fn fail(
    ev: &Event,
    agent: AgentName,
    execution_id: &str,
    error: &str,
    error_type: ErrorType,
) -> Draft {
    Draft::caused_by(
        ev,
        agent.as_str(),
        Payload::AgentFailed(AgentFailed {
            agent_name: agent,
            execution_id: execution_id.to_string(),
            error: error.to_string(),
            error_type,
            retry_count: 0,
        }),
    )
}

fn publish(shared: &Shared, draft: Draft) {
    publish_all(shared, vec![draft]);
}

fn publish_all(shared: &Shared, drafts: Vec<Draft>) {
    if drafts.is_empty() {
        return;
    }
    if let Err(e) = shared.bus.publish(drafts, Admission::Internal) {
        log::debug!("agent results dropped at shutdown: {e}");
    }
}

fn watchdog_loop(shared: &Arc<Shared>, stop: &Receiver<()>) {
    let tick = (shared.config.deadline / 4)
        .clamp(Duration::from_millis(5), Duration::from_millis(250))
        .min(SHOW_STARTED_AFTER);
    loop {
        match stop.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let now = Instant::now();
        let overdue: Vec<InFlight> = {
            let mut inflight = shared.inflight.lock().unwrap_or_else(|e| e.into_inner());
            // Published under the lock: the run cannot finish (and publish
            // its result) before its `started` is queued.
            let slow: Vec<Draft> = inflight
                .values_mut()
                .filter(|f| f.began + SHOW_STARTED_AFTER <= now && f.deadline > now)
                .filter_map(|f| f.started.take())
                .collect();
            publish_all(shared, slow);
            let ids: Vec<u64> = inflight
                .iter()
                .filter(|(_, f)| f.deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| inflight.remove(&id))
                .collect()
        };
        for run in overdue {
            shared.runs.fetch_add(1, Ordering::Relaxed);
            shared.failures.fetch_add(1, Ordering::Relaxed);
            shared.timeouts.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "{} overran its deadline on party {}; retiring its thread",
                run.agent.agent,
                run.cause.party_id
            );
            let failed = fail(
                &run.cause,
                run.agent.agent,
                &run.execution_id,
                &deadline_message(shared),
                ErrorType::Timeout,
            );
            publish_all(shared, run.started.into_iter().chain([failed]).collect());
            run.retired.store(true, Ordering::Relaxed);
            spawn_worker(shared, run.agent.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (polling, with a deadline) until `n` callers are waiting.
    fn until_waiting(settle: &Settle, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let waiting = {
                let s = settle.state.lock().unwrap_or_else(|e| e.into_inner());
                s.waiters.values().map(Vec::len).sum::<usize>()
                    + s.by_seq.values().map(Vec::len).sum::<usize>()
            };
            if waiting >= n {
                return;
            }
            assert!(Instant::now() < deadline, "no waiter registered");
            std::thread::yield_now();
        }
    }

    fn waiter(settle: &Arc<Settle>, party: &'static str, seq: u64) -> JoinHandle<bool> {
        let settle = settle.clone();
        std::thread::spawn(move || settle.wait(party, seq, Duration::from_secs(10)))
    }

    /// A caller waiting for a `seq` that only other parties' batches reach
    /// used to wait until its timeout (`tests/it/http_api.rs` waited for the
    /// bus's latest seq on an idle party and failed under load).
    #[test]
    fn an_idle_party_settles_when_processing_passes_its_seq() {
        let settle = Arc::new(Settle::default());
        let w = waiter(&settle, "a", 5);
        until_waiting(&settle, 1);
        settle.processed(4, &[("b", true)]);
        settle.processed(5, &[("b", true)]);
        assert!(w.join().expect("waiter"));

        // Busy when the caller starts waiting, idle before its seq is
        // reached, and not touched again.
        settle.processed(6, &[("c", false)]);
        let w = waiter(&settle, "c", 8);
        until_waiting(&settle, 1);
        settle.processed(7, &[("c", true)]);
        settle.processed(8, &[("d", true)]);
        assert!(w.join().expect("waiter"));

        // Idle when the caller starts waiting, busy when its seq is reached:
        // it waits for the party's wave.
        let w = waiter(&settle, "e", 9);
        until_waiting(&settle, 1);
        settle.processed(9, &[("e", false)]);
        assert!(!w.is_finished());
        settle.processed(10, &[("e", true)]);
        assert!(w.join().expect("waiter"));
    }
}
