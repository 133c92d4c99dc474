//! The wired system: journal, bus, store, agents and catalog, started and
//! stopped as one. The binary, the tests and the benches all start exactly
//! this.
//!
//! Owns command validation: a command is checked against the command index
//! (which parties and inputs exist, counting events admitted but not yet
//! applied), published, and answered once its events are applied. A rejected
//! command publishes nothing. Holds no party state of its own beyond that
//! index; reads come from the store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use serde::Serialize;

use crate::agents::runtime::{RunStats, Runtime, RuntimeConfig, Settle};
use crate::bus::{Admission, Bus, BusConfig, PublishError, Settled};
use crate::catalog::Catalog;
use crate::domain::AgentName;
use crate::event::{
    self, Draft, Event, ForkedFrom, InputAdded, InputRemoved, PartyCreated, PartyDeleted,
    PartyTokenRotated, Payload, RemovalReason, SourceType,
};
use crate::idempotency::Idempotency;
use crate::journal::{Chain, CompactReport, Journal, JournalError, MemoryJournal};
use crate::recovery::{self, RecoveryError};
use crate::store::{Party, Stats, Store};

/// How long a command waits for its events to be applied before it reports
/// a timeout (the events stay admitted and will still be applied).
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Events appended past the last snapshot that trigger an automatic
/// compaction: replaying this many takes well under a second, so start-up
/// stays fast, and compaction stays rare.
pub const DEFAULT_COMPACT_THRESHOLD: u64 = 250_000;

/// How often the compaction thread looks at the journal.
const COMPACT_CHECK: Duration = Duration::from_secs(5);

/// How long `stop` waits for a compaction in progress (shutdown promises 5 s).
const COMPACT_STOP_GRACE: Duration = Duration::from_secs(1);

/// Parties kept at once. A planned party costs about 15 KiB of read model
/// (`benches/memory.rs`), so the default bounds it near 750 MiB; beyond it
/// `create_party` answers [`AppError::Capacity`] instead of exhausting memory.
pub const DEFAULT_MAX_PARTIES: usize = 50_000;
/// Inputs per party: a real party has a handful; every input reruns agents
/// and grows the party's state, so hundreds are abuse.
pub const DEFAULT_MAX_INPUTS_PER_PARTY: usize = 200;
/// Characters of one input's content: a description, not a document; the
/// analyzer's cost grows with it.
pub const DEFAULT_MAX_CONTENT_CHARS: usize = 4_000;
/// Tags per input.
pub const DEFAULT_MAX_TAGS: usize = 20;
/// Characters per tag.
pub const DEFAULT_MAX_TAG_CHARS: usize = 64;

/// Caps every command is checked against before anything is published, so
/// they hold for every caller (HTTP, CLI, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Parties kept at once ([`AppError::Capacity`] beyond).
    pub max_parties: usize,
    /// Inputs per party ([`AppError::TooManyInputs`] beyond).
    pub max_inputs_per_party: usize,
    /// Characters of an input's content.
    pub max_content_chars: usize,
    /// Tags per input.
    pub max_tags: usize,
    /// Characters per tag.
    pub max_tag_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_parties: DEFAULT_MAX_PARTIES,
            max_inputs_per_party: DEFAULT_MAX_INPUTS_PER_PARTY,
            max_content_chars: DEFAULT_MAX_CONTENT_CHARS,
            max_tags: DEFAULT_MAX_TAGS,
            max_tag_chars: DEFAULT_MAX_TAG_CHARS,
        }
    }
}

impl Limits {
    /// Checks a party to create before anything is published: a
    /// client-chosen party id well formed, at most `max_inputs_per_party`
    /// inputs, each within [`Limits::check_input`], client-chosen input ids
    /// well formed and distinct. Returns those input ids.
    pub fn check_party(&self, cmd: &NewParty) -> Result<HashSet<String>, AppError> {
        if let Some(id) = &cmd.party_id {
            if !event::is_valid_id(id) {
                return Err(AppError::InvalidId { field: "party_id" });
            }
        }
        if cmd.initial_inputs.len() > self.max_inputs_per_party {
            return Err(AppError::TooManyInputs {
                party_id: cmd.party_id.clone().unwrap_or_default(),
                max: self.max_inputs_per_party,
            });
        }
        for (n, i) in cmd.initial_inputs.iter().enumerate() {
            self.check_input(i, &format!("initial_inputs[{n}]"))?;
        }
        let mut seen = HashSet::new();
        for i in &cmd.initial_inputs {
            if let Some(id) = &i.input_id {
                if !event::is_valid_id(id) {
                    return Err(AppError::InvalidId { field: "input_id" });
                }
                if !seen.insert(id.clone()) {
                    return Err(AppError::DuplicateInput(id.clone()));
                }
            }
        }
        Ok(seen)
    }

    /// Checks one input to add: a client-chosen id well formed, then
    /// [`Limits::check_input`].
    pub fn check_new_input(&self, input: &NewInput) -> Result<(), AppError> {
        if let Some(id) = &input.input_id {
            if !event::is_valid_id(id) {
                return Err(AppError::InvalidId { field: "input_id" });
            }
        }
        self.check_input(input, "")
    }

    /// Checks one input's content and tags; `prefix` names the input in the
    /// error's field (empty for a lone input, `initial_inputs[2]` otherwise).
    pub fn check_input(&self, input: &NewInput, prefix: &str) -> Result<(), AppError> {
        let name = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        let chars = input.content.chars().count();
        if chars > self.max_content_chars {
            let field = name("content");
            return Err(AppError::InvalidInput {
                message: format!(
                    "{field} is {chars} characters; at most {} are allowed",
                    self.max_content_chars
                ),
                field,
            });
        }
        if input.tags.len() > self.max_tags {
            let field = name("tags");
            return Err(AppError::InvalidInput {
                message: format!(
                    "{field} has {} tags; at most {} are allowed",
                    input.tags.len(),
                    self.max_tags
                ),
                field,
            });
        }
        for (i, tag) in input.tags.iter().enumerate() {
            if tag.chars().count() > self.max_tag_chars {
                let field = format!("{}[{i}]", name("tags"));
                return Err(AppError::InvalidInput {
                    message: format!("{field} is longer than {} characters", self.max_tag_chars),
                    field,
                });
            }
        }
        Ok(())
    }
}

/// Everything needed to start an [`App`].
#[derive(Clone)]
pub struct Config {
    /// Supplier catalog.
    pub catalog: Arc<Catalog>,
    /// Bus settings.
    pub bus: BusConfig,
    /// Agent runtime settings.
    pub runtime: RuntimeConfig,
    /// Where events are kept.
    pub journal: Arc<dyn Journal>,
    /// How long a command waits for its events to be applied.
    pub ack_timeout: Duration,
    /// Compact automatically once this many events were appended past the
    /// last snapshot; `None` never does.
    pub compact_threshold: Option<u64>,
    /// Caps on parties, inputs, content and tags.
    pub limits: Limits,
    /// Run as a node of a cluster on this shared log (`journal` must be the
    /// same log); `None`: one machine.
    pub cluster: Option<crate::cluster::ClusterSetup>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            catalog: Catalog::embedded(),
            bus: BusConfig::default(),
            runtime: RuntimeConfig::default(),
            journal: Arc::new(MemoryJournal::new()),
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            compact_threshold: Some(DEFAULT_COMPACT_THRESHOLD),
            limits: Limits::default(),
            cluster: None,
        }
    }
}

/// Why a command or query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The app is not running (not started, stopping or stopped).
    #[error("partybus is not running")]
    NotRunning,
    /// No such party.
    #[error("Party {0} not found")]
    PartyNotFound(String),
    /// No such input in the party.
    #[error("Input {input_id} not found in party {party_id}")]
    InputNotFound {
        /// Party.
        party_id: String,
        /// Input.
        input_id: String,
    },
    /// A party with that id exists.
    #[error("Party {0} already exists")]
    DuplicateParty(String),
    /// An input with that id exists in the party.
    #[error("Input {0} already exists in this party")]
    DuplicateInput(String),
    /// A client-chosen id is malformed.
    #[error("{field} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")]
    InvalidId {
        /// Which field.
        field: &'static str,
    },
    /// Too many commands are waiting.
    #[error("partybus is overloaded; retry shortly")]
    Overloaded,
    /// The cluster's shared log cannot be reached; the message says whether
    /// the command may have been applied anyway.
    #[error("the cluster's shared log is unavailable: {0}")]
    Unavailable(String),
    /// The events were admitted but not applied in time.
    #[error("the command was accepted but not applied within {0:?}")]
    Timeout(Duration),
    /// The journal cannot be written (disk full, read-only, ...): nothing
    /// of the command was written.
    #[error("the command was not written: {0}")]
    Unwritable(crate::journal::StorageFault),
    /// The journal failed; its error is the source.
    #[error(transparent)]
    Journal(JournalFailure),
    /// The app already holds its maximum number of parties.
    #[error("partybus holds its maximum of {max} parties; delete one or retry later")]
    Capacity {
        /// The cap.
        max: usize,
    },
    /// The party already has its maximum number of inputs.
    #[error("party {party_id} already has its maximum of {max} inputs; remove one first")]
    TooManyInputs {
        /// The party.
        party_id: String,
        /// The cap.
        max: usize,
    },
    /// An input's content or tags exceed their caps.
    #[error("{message}")]
    InvalidInput {
        /// The offending field, e.g. `initial_inputs[1].content`.
        field: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl From<PublishError> for AppError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Closed => AppError::NotRunning,
            PublishError::Overloaded => AppError::Overloaded,
            PublishError::Unavailable(why) => AppError::Unavailable(why),
            PublishError::Exists(party) => AppError::DuplicateParty(party),
            PublishError::Unwritable(fault) => AppError::Unwritable(fault),
        }
    }
}

impl From<JournalError> for AppError {
    fn from(e: JournalError) -> Self {
        AppError::Journal(JournalFailure::from(e))
    }
}

impl From<RecoveryError> for AppError {
    fn from(e: RecoveryError) -> Self {
        AppError::Journal(JournalFailure::from(e))
    }
}

/// A journal failure as [`AppError::Journal`] carries it: the journal's (or
/// recovery's) error, shared so that an `AppError` stays `Clone`. Displays
/// as that error and hands on its source, so the chain reads
/// `journal storage failed: appending events: disk I/O error`.
///
/// Two are equal when they display alike: a storage error has no identity
/// beyond what it says.
#[derive(Debug, Clone)]
pub struct JournalFailure(Arc<FailureCause>);

/// What [`JournalFailure`] holds.
#[derive(Debug, thiserror::Error)]
enum FailureCause {
    /// The journal's error.
    #[error(transparent)]
    Journal(JournalError),
    /// Recovery's (or compaction's) error.
    #[error(transparent)]
    Recovery(RecoveryError),
    /// Only the message is known (the bus reports its stopping error as
    /// text).
    #[error("{0}")]
    Reported(String),
}

impl JournalFailure {
    /// The journal's error, when it was one (and not recovery's, or a
    /// message only).
    pub fn journal_error(&self) -> Option<&JournalError> {
        match &*self.0 {
            FailureCause::Journal(e) | FailureCause::Recovery(RecoveryError::Journal(e)) => Some(e),
            _ => None,
        }
    }
}

impl std::fmt::Display for JournalFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JournalFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for JournalFailure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for JournalFailure {}

impl From<JournalError> for JournalFailure {
    fn from(e: JournalError) -> Self {
        JournalFailure(Arc::new(FailureCause::Journal(e)))
    }
}

impl From<RecoveryError> for JournalFailure {
    fn from(e: RecoveryError) -> Self {
        JournalFailure(Arc::new(FailureCause::Recovery(e)))
    }
}

impl From<String> for JournalFailure {
    fn from(message: String) -> Self {
        JournalFailure(Arc::new(FailureCause::Reported(message)))
    }
}

impl From<&str> for JournalFailure {
    fn from(message: &str) -> Self {
        JournalFailure::from(message.to_string())
    }
}

/// An input to add.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewInput {
    /// Client-chosen id (validated), or `None` for `inp_` + 8 hex.
    pub input_id: Option<String>,
    /// Text, stored verbatim.
    pub content: String,
    /// Where it came from.
    pub source_type: Option<SourceType>,
    /// Tags.
    pub tags: Vec<String>,
    /// Client metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Image URL.
    pub image_url: Option<String>,
}

/// A party to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewParty {
    /// Client-chosen id (validated), or `None` for `fp` + year + 8 hex.
    pub party_id: Option<String>,
    /// The creating user; also `added_by` of the initial inputs.
    pub user_id: Option<String>,
    /// Inputs added with the party, in order.
    pub initial_inputs: Vec<NewInput>,
    /// Hex SHA-256 of the access token.
    pub token_sha256: Option<String>,
}

/// One change a fork makes to the inputs it starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum ForkChange {
    /// Add an input.
    Add(NewInput),
    /// Remove the input with this id.
    Remove(String),
}

/// A fork to create (see [`crate::fork`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewFork {
    /// Client-chosen id for the fork, or `None` for a new one.
    pub party_id: Option<String>,
    /// The forking user; also `added_by` of the inputs the changes add.
    pub user_id: Option<String>,
    /// The original's state to start from: its events up to this `seq`
    /// (`None`: its latest).
    pub at_seq: Option<u64>,
    /// Changes, applied in order after the copy.
    pub changes: Vec<ForkChange>,
    /// Hex SHA-256 of the fork's access token.
    pub token_sha256: Option<String>,
}

/// The outcome of a fork.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forked {
    /// The fork (`input_ids`: the inputs its changes added).
    pub ack: Ack,
    /// The original and the `seq` the fork started from.
    pub forked_from: ForkedFrom,
    /// Agents whose results were copied from the original; those that the
    /// changes concern run again.
    pub copied_results: Vec<AgentName>,
}

/// The outcome of a write command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ack {
    /// The party.
    pub party_id: String,
    /// Ids of inputs the command added.
    pub input_ids: Vec<String>,
    /// `seq` of the command's last event.
    pub seq: u64,
}

/// Whether a node has applied what a client saw ([`App::caught_up`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaughtUp {
    /// It has.
    Yes,
    /// Not within the wait (a cluster node behind another).
    Behind,
    /// One machine: no event has that `seq` yet (`last` is the latest).
    NoSuchSeq {
        /// The latest `seq`.
        last: u64,
    },
}

/// A system-wide snapshot for `/system/status`.
#[derive(Debug, Clone, Serialize)]
pub struct SystemStatus {
    /// Store statistics.
    pub state_store: Stats,
    /// Bus metrics.
    pub event_bus: crate::bus::Metrics,
    /// Agent run counters.
    pub agent_runs: RunStats,
    /// Parties with planning in progress.
    pub parties_planning_now: usize,
    /// Whether the app runs.
    pub running: bool,
}

struct Running {
    bus: Bus,
    store: Arc<RwLock<Store>>,
    runtime: Mutex<Runtime>,
    settle: Arc<Settle>,
    /// Dropping it stops the compaction thread.
    compact_stop: Mutex<Option<Sender<()>>>,
    /// The compaction thread (`journal-compact`), if one runs.
    compactor: Mutex<Option<JoinHandle<()>>>,
    /// Disconnects when the compaction thread has ended.
    compact_done: Mutex<Option<Receiver<()>>>,
    /// A cluster node's lease manager.
    manager: Mutex<Option<crate::cluster::Manager>>,
}

impl Running {
    /// A started system (no compaction thread yet).
    fn new(
        bus: Bus,
        store: Arc<RwLock<Store>>,
        runtime: Runtime,
        manager: Option<crate::cluster::Manager>,
    ) -> Running {
        Running {
            bus,
            store,
            settle: runtime.settle(),
            runtime: Mutex::new(runtime),
            compact_stop: Mutex::new(None),
            compactor: Mutex::new(None),
            compact_done: Mutex::new(None),
            manager: Mutex::new(manager),
        }
    }
}

/// The command side's view: which parties and inputs exist, including events
/// admitted but not yet applied.
#[derive(Default)]
struct CommandIndex {
    parties: HashMap<String, HashSet<String>>,
}

impl CommandIndex {
    /// The id for a party to create: `requested` if it is free, else a new
    /// one; refused when the index holds `max` parties already.
    fn new_party(&self, requested: Option<&str>, max: usize) -> Result<String, AppError> {
        match requested {
            Some(id) if self.parties.contains_key(id) => {
                Err(AppError::DuplicateParty(id.to_string()))
            }
            _ if self.parties.len() >= max => Err(AppError::Capacity { max }),
            Some(id) => Ok(id.to_string()),
            None => Ok(loop {
                let id = event::new_party_id();
                if !self.parties.contains_key(&id) {
                    break id;
                }
            }),
        }
    }

    /// A cluster node: notes a command another node appended.
    fn observe_remote(&mut self, ev: &Event) {
        match &ev.payload {
            Payload::PartyCreated(_) => {
                self.parties.entry(ev.party_id.clone()).or_default();
            }
            Payload::PartyDeleted(_) => {
                self.parties.remove(&ev.party_id);
            }
            Payload::InputAdded(p) => {
                if let Some(inputs) = self.parties.get_mut(&ev.party_id) {
                    inputs.insert(p.input_id.clone());
                }
            }
            Payload::InputRemoved(p) => {
                if let Some(inputs) = self.parties.get_mut(&ev.party_id) {
                    inputs.remove(&p.input_id);
                }
            }
            _ => {}
        }
    }
}

/// The wired system. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct App {
    config: Config,
    running: RwLock<Option<Arc<Running>>>,
    commands: Arc<Mutex<CommandIndex>>,
    lifecycle: Mutex<()>,
    /// Idempotency records (in the journal's database, or in memory).
    idempotency: Idempotency,
    /// Serialises compactions (automatic and on demand): two at once could
    /// let an older snapshot replace a newer one after the newer one purged.
    compacting: Arc<Mutex<()>>,
}

impl App {
    /// An app that is not started yet.
    pub fn new(config: Config) -> App {
        App {
            idempotency: Idempotency::new(config.journal.clone()),
            config,
            running: RwLock::new(None),
            commands: Arc::new(Mutex::new(CommandIndex::default())),
            lifecycle: Mutex::new(()),
            compacting: Arc::new(Mutex::new(())),
        }
    }

    /// Creates and starts an app.
    pub fn start_new(config: Config) -> Result<App, AppError> {
        let app = App::new(config);
        app.start()?;
        Ok(app)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Rebuilds the store from the journal (snapshot, then the events after
    /// it), starts bus and agents, and resumes planning that a crash
    /// interrupted. Idempotent: starting a running app does nothing.
    pub fn start(&self) -> Result<(), AppError> {
        let _guard = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        if self.running().is_some() {
            return Ok(());
        }
        if let Some(setup) = &self.config.cluster {
            return self.start_cluster(setup);
        }
        let began = Instant::now();
        let rebuilt = recovery::rebuild(self.config.journal.as_ref())?;
        // Two passes over every party, independent of each other: on a
        // second core while the other runs (100,000 parties: ~0.2 s each).
        let (resume, index) = std::thread::scope(|scope| {
            let index = scope.spawn(|| {
                let mut index = CommandIndex::default();
                for p in rebuilt.store.parties() {
                    index.parties.insert(
                        p.party_id.clone(),
                        p.inputs.iter().map(|i| i.input_id.clone()).collect(),
                    );
                }
                index
            });
            let resume = recovery::plan_resume(&rebuilt, self.config.journal.as_ref());
            (resume, index.join())
        });
        let resume = resume?;
        let index = index.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let last = rebuilt.last_seq;
        let store = rebuilt.store;
        let parties = store.len();
        *self.commands.lock().unwrap_or_else(|e| e.into_inner()) = index;
        let store = Arc::new(RwLock::new(store));
        let apply_store = store.clone();
        let bus = Bus::start(
            self.config.bus.clone(),
            last + 1,
            self.config.journal.clone(),
            Box::new(move |events| {
                let mut s = apply_store.write().unwrap_or_else(|e| e.into_inner());
                for e in events {
                    s.apply(e);
                }
            }),
        );
        let resumed = resume.resume.len();
        let runtime = Runtime::start_recovered(
            &bus,
            store.clone(),
            self.config.catalog.clone(),
            self.config.runtime.clone(),
            resume,
        );
        let running = Arc::new(Running::new(bus, store, runtime, None));
        *self.running.write().unwrap_or_else(|e| e.into_inner()) = Some(running.clone());
        log::info!(
            "partybus started: recovered {parties} parties ({} from the snapshot at seq {}, then {} events replayed; last seq {last}) in {:?}; resuming {resumed} interrupted",
            rebuilt.snapshot_parties,
            rebuilt.snapshot_seq,
            rebuilt.events_replayed,
            began.elapsed()
        );
        if let Some(threshold) = self.config.compact_threshold {
            self.start_compactor(&running, threshold);
        }
        Ok(())
    }

    /// [`App::start`] of a cluster node: the read model from every
    /// partition of the shared log, then the bus on the log's tail, the
    /// agents (acting on the partitions this node will hold) and the lease
    /// manager.
    fn start_cluster(&self, setup: &crate::cluster::ClusterSetup) -> Result<(), AppError> {
        use crate::journal::log::{Leases, Log};
        let began = Instant::now();
        let (rebuilt, after) = recovery::rebuild_from_log(setup.log.as_ref())?;
        let mut index = CommandIndex::default();
        for p in rebuilt.store.parties() {
            index.parties.insert(
                p.party_id.clone(),
                p.inputs.iter().map(|i| i.input_id.clone()).collect(),
            );
        }
        *self.commands.lock().unwrap_or_else(|e| e.into_inner()) = index;
        let parties = rebuilt.store.len();
        let replayed = rebuilt.events_replayed;
        let store = Arc::new(RwLock::new(rebuilt.store));
        let tracker = Arc::new(Mutex::new(rebuilt.tracker));
        let leases = Arc::new(Leases::new(setup.log.node_id(), setup.log.partitions()));
        let apply = {
            let store = store.clone();
            let tracker = tracker.clone();
            Box::new(move |events: &[Arc<Event>]| {
                let mut s = store.write().unwrap_or_else(|e| e.into_inner());
                let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
                for e in events {
                    s.apply(e);
                    t.observe(e, &s);
                }
            })
        };
        let remote = {
            let commands = self.commands.clone();
            Box::new(move |ev: &Event| {
                let mut index = commands.lock().unwrap_or_else(|e| e.into_inner());
                index.observe_remote(ev);
            })
        };
        let log: Arc<dyn Log> = setup.log.clone();
        let bus = Bus::start_cluster(
            self.config.bus.clone(),
            after,
            log,
            leases.clone(),
            apply,
            remote,
        );
        let journal: Arc<dyn Journal> = setup.log.clone();
        let runtime = Runtime::start_cluster(
            &bus,
            store.clone(),
            self.config.catalog.clone(),
            self.config.runtime.clone(),
            crate::agents::runtime::ClusterRole {
                leases: leases.clone(),
                tracker,
                journal,
            },
        );
        let manager = match crate::cluster::Manager::start(
            setup.log.clone(),
            leases,
            bus.clone(),
            setup.config.clone(),
        ) {
            Ok(m) => m,
            Err(source) => {
                bus.shutdown();
                let mut runtime = runtime;
                runtime.stop();
                return Err(AppError::from(JournalError::Io {
                    context: "starting the cluster manager".into(),
                    source,
                }));
            }
        };
        let running = Arc::new(Running::new(bus, store, runtime, Some(manager)));
        *self.running.write().unwrap_or_else(|e| e.into_inner()) = Some(running);
        log::info!(
            "partybus started as cluster node {}: {parties} parties from {replayed} events of {} partitions in {:?}",
            setup.log.node_id(),
            setup.log.partitions(),
            began.elapsed()
        );
        Ok(())
    }

    fn start_compactor(&self, running: &Running, threshold: u64) {
        let (tx, rx) = bounded::<()>(0);
        let (done_tx, done_rx) = bounded::<()>(0);
        let journal = self.config.journal.clone();
        let compacting = self.compacting.clone();
        let spawned = std::thread::Builder::new()
            .name("journal-compact".into())
            .spawn(move || loop {
                let _done = &done_tx;
                match rx.recv_timeout(COMPACT_CHECK) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let pending = journal.events_since_snapshot();
                if pending < threshold {
                    continue;
                }
                let began = Instant::now();
                let _one = compacting.lock().unwrap_or_else(|e| e.into_inner());
                match recovery::compact(journal.as_ref()) {
                    Ok(r) => log::info!(
                        "compacted the journal at seq {}: {} party snapshots, {} events of deleted parties removed, {} events kept, in {:?}",
                        r.seq,
                        r.parties,
                        r.events_deleted,
                        r.events_kept,
                        began.elapsed()
                    ),
                    Err(RecoveryError::Journal(JournalError::Unsupported(_))) => return,
                    Err(e) => log::error!("automatic compaction failed: {}", Chain(&e)),
                }
            });
        match spawned {
            Ok(h) => {
                *running
                    .compact_stop
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(tx);
                *running.compactor.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                *running
                    .compact_done
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(done_rx);
            }
            Err(e) => log::warn!("no automatic compaction: cannot start its thread: {e}"),
        }
    }

    /// Compacts the journal now: writes a snapshot of every live party and
    /// physically deletes the events of deleted parties.
    pub fn compact(&self) -> Result<CompactReport, AppError> {
        let _one = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        Ok(recovery::compact(self.config.journal.as_ref())?)
    }

    /// Idempotency records.
    pub fn idempotency(&self) -> &Idempotency {
        &self.idempotency
    }

    /// Stops accepting commands, lets admitted events finish dispatching,
    /// disconnects every subscriber and joins every thread. Idempotent.
    pub fn stop(&self) {
        let _guard = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = self
            .running
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        running
            .compact_stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = running
            .compactor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            // A compaction in progress is not waited for past the grace: it
            // is crash-safe (the old snapshot stays in force until the new
            // one is complete), so shutdown keeps its deadline.
            let done = running
                .compact_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            // Disconnects when the thread returns (it holds the sender); the
            // thread may not count as finished for a moment after that, so
            // its return, not `is_finished`, tells whether it is still busy.
            let returned = match done {
                Some(done) => matches!(
                    done.recv_timeout(COMPACT_STOP_GRACE),
                    Err(RecvTimeoutError::Disconnected)
                ),
                None => h.is_finished(),
            };
            if !returned {
                log::warn!(
                    "leaving a compaction in progress behind; it resumes from scratch next time"
                );
            } else if h.join().is_err() {
                log::error!("the compaction thread panicked");
            }
        }
        // A cluster node gives its leases back first: the others take its
        // partitions over at once, and its own late events are refused.
        if let Some(mut m) = running
            .manager
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            m.stop();
        }
        running.bus.shutdown();
        running
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop();
    }

    /// Whether the app is running.
    pub fn is_running(&self) -> bool {
        self.running().is_some()
    }

    fn running(&self) -> Option<Arc<Running>> {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn live(&self) -> Result<Arc<Running>, AppError> {
        self.running().ok_or(AppError::NotRunning)
    }

    /// The bus (to subscribe, read history or metrics).
    pub fn bus(&self) -> Result<Bus, AppError> {
        Ok(self.live()?.bus.clone())
    }

    /// A snapshot of one party.
    ///
    /// A cluster node that does not hold the party yet looks in the shared
    /// log whether it was just created through another node, and if so
    /// waits (at most the ack timeout) until it has applied it.
    pub fn party(&self, party_id: &str) -> Option<Arc<Party>> {
        let r = self.running()?;
        let found = r
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .party(party_id);
        if found.is_some() || self.config.cluster.is_none() {
            return found;
        }
        self.catch_up(&r, party_id).ok()?;
        let s = r.store.read().unwrap_or_else(|e| e.into_inner());
        s.party(party_id)
    }

    /// Store statistics.
    pub fn stats(&self) -> Result<Stats, AppError> {
        let r = self.live()?;
        let s = r.store.read().unwrap_or_else(|e| e.into_inner());
        Ok(s.stats())
    }

    /// Everything `/system/status` shows.
    pub fn system_status(&self) -> Result<SystemStatus, AppError> {
        let r = self.live()?;
        let state_store = r.store.read().unwrap_or_else(|e| e.into_inner()).stats();
        let agent_runs = r.runtime.lock().unwrap_or_else(|e| e.into_inner()).stats();
        Ok(SystemStatus {
            state_store,
            event_bus: r.bus.metrics(),
            agent_runs,
            parties_planning_now: r.settle.busy(),
            running: true,
        })
    }

    /// One party's events with `seq > since`, oldest first, at most `limit`:
    /// from the bus history when it still holds every event after `since`
    /// (the common case: a WebSocket resuming or just opened), else from the
    /// journal, else from the history (a journal that keeps none).
    pub fn events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, AppError> {
        let r = self.live()?;
        if r.bus.history_covers(party_id, since) {
            return Ok(r.bus.history(Some(party_id), since, limit));
        }
        let from_journal = self.config.journal.party_events(party_id, since, limit)?;
        if !from_journal.is_empty() {
            return Ok(from_journal);
        }
        Ok(r.bus.history(Some(party_id), since, limit))
    }

    /// Waits until the party's planning has settled after `after_seq`
    /// (every wave finished); false on timeout.
    pub fn wait_settled(&self, party_id: &str, after_seq: u64, timeout: Duration) -> bool {
        match self.running() {
            Some(r) => r.settle.wait(party_id, after_seq, timeout),
            None => false,
        }
    }

    /// Creates a party with its initial inputs; answers once applied.
    pub fn create_party(
        &self,
        cmd: NewParty,
        correlation_id: Option<&str>,
    ) -> Result<Ack, AppError> {
        let r = self.live()?;
        let limits = &self.config.limits;
        let seen = limits.check_party(&cmd)?;
        let correlation = correlation_id
            .map(str::to_string)
            .unwrap_or_else(event::new_correlation_id);
        let added_by = cmd.user_id.clone().unwrap_or_else(|| "user".to_string());
        let (ticket, ack) = {
            let mut index = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let party_id = index.new_party(cmd.party_id.as_deref(), limits.max_parties)?;
            let mut drafts = vec![Draft::command(
                &party_id,
                &correlation,
                Payload::PartyCreated(PartyCreated {
                    forked_from: None,
                    created_by: cmd.user_id.clone(),
                    token_sha256: cmd.token_sha256.clone(),
                }),
            )];
            let mut ids = Vec::new();
            for input in cmd.initial_inputs {
                let (id, draft) = input_draft(&party_id, &correlation, &added_by, input, &seen);
                ids.push(id);
                drafts.push(draft);
            }
            let ticket = r.bus.submit(drafts, Admission::Command)?;
            index
                .parties
                .insert(party_id.clone(), ids.iter().cloned().collect());
            let ack = Ack {
                party_id,
                input_ids: ids,
                seq: 0,
            };
            (ticket, ack)
        };
        let party = ack.party_id.clone();
        self.settle(&r, ticket, ack, move |index| {
            index.parties.remove(&party);
        })
    }

    /// Forks `original` (see [`crate::fork`]): a new party with the
    /// original's inputs as of `cmd.at_seq`, its results reused where the
    /// changes do not concern them, then `cmd.changes`. One batch: the fork
    /// exists whole or not at all. Answers once applied; its planning goes
    /// on, like a new party's.
    pub fn fork_party(
        &self,
        original: &str,
        cmd: NewFork,
        correlation_id: Option<&str>,
    ) -> Result<Forked, AppError> {
        let r = self.live()?;
        let limits = &self.config.limits;
        if let Some(id) = &cmd.party_id {
            if !event::is_valid_id(id) {
                return Err(AppError::InvalidId { field: "party_id" });
            }
        }
        for (n, change) in cmd.changes.iter().enumerate() {
            if let ForkChange::Add(input) = change {
                if input
                    .input_id
                    .as_deref()
                    .is_some_and(|id| !event::is_valid_id(id))
                {
                    return Err(AppError::InvalidId { field: "input_id" });
                }
                limits.check_input(input, &format!("changes[{n}].add"))?;
            }
        }
        self.catch_up(&r, original)?;
        let live = self
            .party(original)
            .ok_or_else(|| AppError::PartyNotFound(original.to_string()))?;
        let latest = r.store.read().unwrap_or_else(|e| e.into_inner()).last_seq();
        if let Some(seq) = cmd.at_seq {
            if seq > latest {
                return Err(AppError::InvalidInput {
                    field: "at_seq".into(),
                    message: format!("at_seq {seq} is after the latest event (seq {latest})"),
                });
            }
        }
        let history = self.events(original, 0, usize::MAX)?;
        let base = crate::fork::base(original, &history, cmd.at_seq, Some(&live)).map_err(|e| {
            AppError::InvalidInput {
                field: "at_seq".into(),
                message: e.to_string(),
            }
        })?;
        let correlation = correlation_id
            .map(str::to_string)
            .unwrap_or_else(event::new_correlation_id);
        let added_by = cmd.user_id.clone().unwrap_or_else(|| "user".to_string());
        let forked_from = ForkedFrom {
            party_id: original.to_string(),
            seq: base.seq,
        };
        let copied_results: Vec<AgentName> = base.reused.iter().map(|c| c.agent_name).collect();
        let (ticket, ack) = {
            let mut index = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let party_id = index.new_party(cmd.party_id.as_deref(), limits.max_parties)?;
            let created = Draft::command(
                &party_id,
                &correlation,
                Payload::PartyCreated(PartyCreated {
                    created_by: cmd.user_id.clone(),
                    token_sha256: cmd.token_sha256.clone(),
                    forked_from: Some(forked_from.clone()),
                }),
            );
            // The copy: caused by the creation, from the fork itself.
            let copy = |payload| {
                let mut d = Draft::command(&party_id, &correlation, payload);
                d.causation_id = Some(created.event_id.clone());
                d.source = "fork".to_string();
                d
            };
            let mut drafts = Vec::new();
            for (input, _) in &base.copied {
                drafts.push(copy(Payload::InputAdded(input.clone())));
            }
            for reused in &base.reused {
                drafts.push(copy(Payload::AgentCompleted(reused.clone())));
            }
            if let Some(budget) = &base.budget {
                drafts.push(copy(Payload::BudgetUpdated(budget.clone())));
            }
            if let Some(plan) = &base.plan {
                drafts.push(copy(Payload::PlanUpdated(plan.clone())));
            }
            // Then the changes: planning the original had under way at
            // `seq`, then the client's.
            let mut inputs: HashSet<String> = base.input_ids().into_iter().collect();
            for id in &base.catch_up_removed {
                drafts.push(removal(&party_id, &correlation, id, "fork"));
            }
            for input in &base.catch_up_added {
                drafts.push(Draft::command(
                    &party_id,
                    &correlation,
                    Payload::InputAdded(input.clone()),
                ));
            }
            let mut ids = Vec::new();
            for (n, change) in cmd.changes.into_iter().enumerate() {
                match change {
                    ForkChange::Remove(id) => {
                        if !inputs.remove(&id) {
                            return Err(AppError::InvalidInput {
                                field: format!("changes[{n}].remove"),
                                message: format!(
                                    "changes[{n}].remove: the fork has no input {id} (inputs of {original} as of seq {})",
                                    base.seq
                                ),
                            });
                        }
                        drafts.push(removal(&party_id, &correlation, &id, &added_by));
                    }
                    ForkChange::Add(input) => {
                        if inputs.len() >= limits.max_inputs_per_party {
                            return Err(AppError::TooManyInputs {
                                party_id: party_id.clone(),
                                max: limits.max_inputs_per_party,
                            });
                        }
                        if let Some(id) = &input.input_id {
                            if inputs.contains(id) {
                                return Err(AppError::DuplicateInput(id.clone()));
                            }
                        }
                        let (id, draft) =
                            input_draft(&party_id, &correlation, &added_by, input, &inputs);
                        inputs.insert(id.clone());
                        ids.push(id);
                        drafts.push(draft);
                    }
                }
            }
            drafts.insert(0, created);
            let ticket = r.bus.submit(drafts, Admission::Command)?;
            index.parties.insert(party_id.clone(), inputs);
            let ack = Ack {
                party_id,
                input_ids: ids,
                seq: 0,
            };
            (ticket, ack)
        };
        let party = ack.party_id.clone();
        let ack = self.settle(&r, ticket, ack, move |index| {
            index.parties.remove(&party);
        })?;
        Ok(Forked {
            ack,
            forked_from,
            copied_results,
        })
    }

    /// Adds an input; answers once applied.
    pub fn add_input(
        &self,
        party_id: &str,
        input: NewInput,
        added_by: Option<&str>,
        correlation_id: Option<&str>,
    ) -> Result<Ack, AppError> {
        let r = self.live()?;
        let limits = &self.config.limits;
        limits.check_new_input(&input)?;
        let correlation = correlation_id
            .map(str::to_string)
            .unwrap_or_else(event::new_correlation_id);
        self.catch_up(&r, party_id)?;
        let (ticket, ack) = {
            let mut index = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let inputs = index
                .parties
                .get_mut(party_id)
                .ok_or_else(|| AppError::PartyNotFound(party_id.to_string()))?;
            if inputs.len() >= limits.max_inputs_per_party {
                return Err(AppError::TooManyInputs {
                    party_id: party_id.to_string(),
                    max: limits.max_inputs_per_party,
                });
            }
            if let Some(id) = &input.input_id {
                if inputs.contains(id) {
                    return Err(AppError::DuplicateInput(id.clone()));
                }
            }
            let (id, draft) = input_draft(
                party_id,
                &correlation,
                added_by.unwrap_or("user"),
                input,
                inputs,
            );
            let ticket = r.bus.submit(vec![draft], Admission::Command)?;
            inputs.insert(id.clone());
            let ack = Ack {
                party_id: party_id.to_string(),
                input_ids: vec![id],
                seq: 0,
            };
            (ticket, ack)
        };
        let (party, id) = (ack.party_id.clone(), ack.input_ids[0].clone());
        self.settle(&r, ticket, ack, move |index| {
            if let Some(inputs) = index.parties.get_mut(&party) {
                inputs.remove(&id);
            }
        })
    }

    /// Removes an input; answers once applied.
    pub fn remove_input(
        &self,
        party_id: &str,
        input_id: &str,
        removed_by: Option<&str>,
        correlation_id: Option<&str>,
    ) -> Result<Ack, AppError> {
        let r = self.live()?;
        let correlation = correlation_id
            .map(str::to_string)
            .unwrap_or_else(event::new_correlation_id);
        self.catch_up(&r, party_id)?;
        let (ticket, ack) = {
            let mut index = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let inputs = index
                .parties
                .get_mut(party_id)
                .ok_or_else(|| AppError::PartyNotFound(party_id.to_string()))?;
            if !inputs.contains(input_id) {
                return Err(AppError::InputNotFound {
                    party_id: party_id.to_string(),
                    input_id: input_id.to_string(),
                });
            }
            let draft = removal(
                party_id,
                &correlation,
                input_id,
                removed_by.unwrap_or("user"),
            );
            let ticket = r.bus.submit(vec![draft], Admission::Command)?;
            inputs.remove(input_id);
            let ack = Ack {
                party_id: party_id.to_string(),
                input_ids: Vec::new(),
                seq: 0,
            };
            (ticket, ack)
        };
        let (party, id) = (party_id.to_string(), input_id.to_string());
        self.settle(&r, ticket, ack, move |index| {
            if let Some(inputs) = index.parties.get_mut(&party) {
                inputs.insert(id);
            }
        })
    }

    /// Replaces the party's token hash (`party.token.rotated`); the old token
    /// stops granting access once this returns.
    pub fn rotate_token(
        &self,
        party_id: &str,
        token_sha256: String,
        correlation_id: Option<&str>,
    ) -> Result<Ack, AppError> {
        let r = self.live()?;
        let correlation = correlation_id
            .map(str::to_string)
            .unwrap_or_else(event::new_correlation_id);
        self.catch_up(&r, party_id)?;
        let ticket = {
            let index = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            if !index.parties.contains_key(party_id) {
                return Err(AppError::PartyNotFound(party_id.to_string()));
            }
            let draft = Draft::command(
                party_id,
                &correlation,
                Payload::PartyTokenRotated(PartyTokenRotated { token_sha256 }),
            );
            r.bus.submit(vec![draft], Admission::Command)?
        };
        let ack = Ack {
            party_id: party_id.to_string(),
            input_ids: Vec::new(),
            seq: 0,
        };
        self.settle(&r, ticket, ack, |_| {})
    }

    /// Deletes a party; answers once applied.
    pub fn delete_party(
        &self,
        party_id: &str,
        deleted_by: Option<&str>,
        correlation_id: Option<&str>,
    ) -> Result<Ack, AppError> {
        let r = self.live()?;
        let correlation = correlation_id
            .map(str::to_string)
            .unwrap_or_else(event::new_correlation_id);
        self.catch_up(&r, party_id)?;
        let (ticket, inputs) = {
            let mut index = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            if !index.parties.contains_key(party_id) {
                return Err(AppError::PartyNotFound(party_id.to_string()));
            }
            let draft = Draft::command(
                party_id,
                &correlation,
                Payload::PartyDeleted(PartyDeleted {
                    deleted_by: deleted_by.unwrap_or("user").to_string(),
                }),
            );
            let ticket = r.bus.submit(vec![draft], Admission::Command)?;
            (ticket, index.parties.remove(party_id))
        };
        let party = party_id.to_string();
        let ack = Ack {
            party_id: party_id.to_string(),
            input_ids: Vec::new(),
            seq: 0,
        };
        self.settle(&r, ticket, ack, move |index| {
            if let Some(inputs) = inputs {
                index.parties.insert(party, inputs);
            }
        })
    }

    /// Answers a submitted command once it is applied, with the `seq` it
    /// got. If it was refused (by the shared log, or by a failed append:
    /// nothing of it was written), `undo` puts the command index back as it
    /// was.
    fn settle(
        &self,
        r: &Running,
        ticket: crate::bus::Ticket,
        ack: Ack,
        undo: impl FnOnce(&mut CommandIndex),
    ) -> Result<Ack, AppError> {
        let undo = |e: AppError| {
            undo(&mut self.commands.lock().unwrap_or_else(|e| e.into_inner()));
            e
        };
        let receipt = match ticket.receipt() {
            Ok(receipt) => receipt,
            Err(e) => return Err(undo(e.into())),
        };
        match r
            .bus
            .wait_settled(&ack.party_id, receipt, self.config.ack_timeout)
        {
            Settled::Applied => Ok(Ack {
                seq: receipt.seq,
                ..ack
            }),
            Settled::Refused(fault) => Err(undo(AppError::Unwritable(fault))),
            Settled::Pending => match r.bus.journal_error() {
                Some(e) => Err(AppError::Journal(JournalFailure::from(e))),
                None => Err(AppError::Timeout(self.config.ack_timeout)),
            },
        }
    }

    /// A cluster node: before a command on a party it does not know, looks
    /// in the shared log whether the party exists (created through another
    /// node a moment ago) and, if so, waits until it has applied it.
    fn catch_up(&self, r: &Running, party_id: &str) -> Result<(), AppError> {
        let Some(setup) = &self.config.cluster else {
            return Ok(());
        };
        let known = self
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .parties
            .contains_key(party_id);
        if known {
            return Ok(());
        }
        use crate::journal::log::Log;
        match setup.log.party_created_at(party_id) {
            Ok(Some(seq)) => {
                r.bus
                    .wait_applied_for(party_id, seq, self.config.ack_timeout);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(AppError::Unavailable(e.to_string())),
        }
    }

    /// Read your writes (`X-Partybus-After`): whether this node has applied
    /// every event of the party's partition up to `seq`. A cluster node waits
    /// for it (at most `timeout`: a write made through another node may not
    /// have reached it yet); one machine has applied every `seq` it ever
    /// answered with, so a later one names no write and is refused at once.
    pub fn caught_up(&self, party_id: &str, seq: u64, timeout: Duration) -> CaughtUp {
        let Some(r) = self.running() else {
            return CaughtUp::Behind;
        };
        if r.bus.is_cluster() {
            return match r.bus.wait_applied_for(party_id, seq, timeout) {
                true => CaughtUp::Yes,
                false => CaughtUp::Behind,
            };
        }
        let last = r.bus.applied_seq();
        if seq <= last {
            CaughtUp::Yes
        } else {
            CaughtUp::NoSuchSeq { last }
        }
    }

    /// Whether the app can serve writes now, and if not, why.
    pub fn readiness(&self) -> Result<(), String> {
        let r = self.running().ok_or("not running")?;
        if !r.bus.is_open() {
            return Err(r
                .bus
                .journal_error()
                .unwrap_or_else(|| "the bus is stopped".to_string()));
        }
        if let Some(fault) = r.bus.storage_fault() {
            return Err(format!(
                "the journal cannot be written, so commands are refused until it can \
                 (probed every {}s at most): {fault}",
                crate::bus::STALL_RETRY_MAX.as_secs()
            ));
        }
        if let Some(why) = r.bus.log_down() {
            return Err(format!("the cluster's shared log is unreachable: {why}"));
        }
        Ok(())
    }

    /// A cluster node's view of the cluster (`None` on one machine).
    pub fn cluster_status(&self) -> Option<crate::cluster::ClusterStatus> {
        let r = self.running()?;
        let m = r.manager.lock().unwrap_or_else(|e| e.into_inner());
        m.as_ref().map(|m| m.status())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A user's removal of `input_id`.
fn removal(party_id: &str, correlation: &str, input_id: &str, removed_by: &str) -> Draft {
    Draft::command(
        party_id,
        correlation,
        Payload::InputRemoved(InputRemoved {
            input_id: input_id.to_string(),
            removed_by: removed_by.to_string(),
            reason: RemovalReason::UserAction,
        }),
    )
}

fn input_draft(
    party_id: &str,
    correlation: &str,
    added_by: &str,
    input: NewInput,
    existing: &HashSet<String>,
) -> (String, Draft) {
    let id = input.input_id.unwrap_or_else(|| loop {
        let id = event::new_input_id();
        if !existing.contains(&id) {
            break id;
        }
    });
    let draft = Draft::command(
        party_id,
        correlation,
        Payload::InputAdded(InputAdded {
            copied_from: None,
            input_id: id.clone(),
            content: input.content,
            source_type: input.source_type.unwrap_or(SourceType::Text),
            tags: input.tags,
            added_by: added_by.to_string(),
            metadata: input.metadata,
            image_url: input.image_url,
        }),
    );
    (id, draft)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_journal_failure_keeps_its_cause_and_stays_comparable() {
        let io = std::io::Error::other("disk on fire");
        let e = AppError::from(JournalError::Io {
            context: "starting the replay decoder".into(),
            source: io,
        });
        assert_eq!(
            e.to_string(),
            "journal storage failed: starting the replay decoder"
        );
        let AppError::Journal(failure) = &e else {
            panic!("{e:?}");
        };
        assert!(matches!(
            failure.journal_error(),
            Some(JournalError::Io { .. })
        ));
        let cause = e.source().expect("the OS error is the source");
        assert_eq!(cause.to_string(), "disk on fire");
        assert!(cause.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(
            Chain(&e).to_string(),
            "journal storage failed: starting the replay decoder: disk on fire"
        );
        assert_eq!(e.clone(), e);
        assert_eq!(
            AppError::Journal("journal storage failed: starting the replay decoder".into()),
            e
        );
        let recovery = AppError::from(RecoveryError::Journal(JournalError::Unsupported(
            "compaction",
        )));
        assert_eq!(
            recovery.to_string(),
            "this journal does not support compaction"
        );
    }
}
