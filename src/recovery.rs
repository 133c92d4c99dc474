//! Recovery and compaction: rebuilding the read model from a journal (the
//! compaction snapshot, then every event after it), finding the planning
//! work a crash interrupted, and writing snapshots.
//!
//! Owns the snapshot row format (a party's [`Party`] plus its [`Track`],
//! citing catalog records by reference into the snapshot's `#records` row,
//! see [`crate::catalog::intern`]) and the rule for "interrupted". Pure apart from the journal calls: no
//! threads of its own (it uses rayon to decode), no clock but for timing.
//!
//! A party's planning was interrupted when its latest wave did not finish
//! (a wave finishes with `party.plan.updated`, or the final planner's
//! failure), or an input changed after the state its last wave was planned
//! from (`basis_seq` of the wave's `should_execute`). Its scheduler is then
//! seeded with exactly the state its last finished wave was planned from, so
//! the resumed wave runs what the scheduler would have run had it not
//! stopped (at least once), and nothing when the change affected no agent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::catalog::intern::{self, Citations, RecordTable};
use crate::deferred::{Deferred, FromSnapshot};
use crate::digest::{self, Chain, PartyDigest};
use crate::domain::{AgentName, AgentOutput, Budget, FinalPlan};
use crate::event::{Event, ForkedFrom, Payload};
use crate::journal::log::Log;
use crate::journal::{codec, CompactReport, Journal, JournalError, SnapshotMeta, RECORDS_ROW};
use crate::store::{AgentError, AgentState, AgentStatus, Input, Party, PartyStatus, Store};

/// Snapshot rows decoded per parallel chunk.
const SNAPSHOT_CHUNK: usize = 4_096;

/// Events replayed between two looks at the clock for a progress report:
/// keeps the replay loop's cost to a counter and a modulo.
pub const PROGRESS_EVERY: u64 = 8_192;

/// Shortest time between two progress reports (the observer decides how
/// often it shows them).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// How far a journal replay has got, for progress reports (start-up
/// recovery and `partybus compact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Events replayed so far.
    pub done: u64,
    /// About how many there are in all (an upper bound), if the journal can
    /// tell.
    pub total: Option<u64>,
    /// Since the replay began (snapshot loading included).
    pub elapsed: Duration,
    /// The last report of this replay.
    pub finished: bool,
}

impl ReplayProgress {
    /// Percent done, when the total is known (100 once finished).
    pub fn percent(&self) -> Option<u64> {
        if self.finished {
            return Some(100);
        }
        let total = self.total.filter(|t| *t > 0)?;
        Some((self.done.min(total) * 100) / total)
    }
}

/// Receives progress reports of every replay in the process.
pub type ProgressObserver = Box<dyn Fn(&ReplayProgress) + Send + Sync>;

/// The process's progress observer: the binary installs one; library users
/// and tests get none unless they ask.
static PROGRESS_OBSERVER: OnceLock<ProgressObserver> = OnceLock::new();

/// Installs the observer every [`rebuild`] and [`rebuild_from_log`] reports
/// to (once per process; `false` if one was already installed).
pub fn set_progress_observer(observer: ProgressObserver) -> bool {
    PROGRESS_OBSERVER.set(observer).is_ok()
}

/// Reports to the installed observer, if any.
fn to_observer(p: &ReplayProgress) {
    if let Some(o) = PROGRESS_OBSERVER.get() {
        o(p);
    }
}

/// Counts replayed events and reports every [`PROGRESS_INTERVAL`] (looking
/// at the clock every [`PROGRESS_EVERY`] events).
struct Progress<'a> {
    report: &'a mut dyn FnMut(&ReplayProgress),
    began: Instant,
    last: Instant,
    total: Option<u64>,
    done: u64,
}

impl<'a> Progress<'a> {
    fn new(report: &'a mut dyn FnMut(&ReplayProgress), began: Instant, total: Option<u64>) -> Self {
        Progress {
            report,
            began,
            last: began,
            total,
            done: 0,
        }
    }

    #[inline]
    fn tick(&mut self) {
        self.done += 1;
        if self.done.is_multiple_of(PROGRESS_EVERY) {
            let now = Instant::now();
            if now.duration_since(self.last) >= PROGRESS_INTERVAL {
                self.last = now;
                self.emit(false);
            }
        }
    }

    fn emit(&mut self, finished: bool) {
        (self.report)(&ReplayProgress {
            done: self.done,
            total: self.total,
            elapsed: self.began.elapsed(),
            finished,
        });
    }
}

/// Why recovery or compaction failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A snapshot row could not be decoded.
    #[error("snapshot of party {party} is corrupt: {reason}")]
    Snapshot {
        /// The party.
        party: String,
        /// Why.
        reason: String,
    },
}

/// What the journal tells about one party's planning waves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// `seq` of the latest input change.
    pub last_change: u64,
    /// Input changes not older than the current wave's trigger: (event id, seq).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<(String, u64)>,
    /// Highest wave number seen.
    pub wave: u64,
    /// `last_seq` of the state the latest wave was planned from (0: unknown).
    pub current_basis: u64,
    /// Whether the latest wave finished.
    pub current_done: bool,
    /// `last_seq` of the state the latest finished wave was planned from
    /// (0: none).
    pub done_basis: u64,
}

impl Track {
    /// Whether planning was interrupted (see the module docs).
    pub fn interrupted(&self) -> bool {
        self.last_change > self.done_basis || (self.wave > 0 && !self.current_done)
    }

    fn observe(&mut self, ev: &Event) {
        match &ev.payload {
            // A fork's creation, copied inputs and reused results are the
            // state it starts from, as if a wave planned from it had
            // finished: its changes (after them) are what it plans for.
            Payload::PartyCreated(p) if p.forked_from.is_some() => self.copied(ev.seq),
            Payload::InputAdded(p) if p.copied_from.is_some() => self.copied(ev.seq),
            Payload::AgentCompleted(p) if p.reused_from.is_some() => self.copied(ev.seq),
            Payload::InputAdded(_) | Payload::InputRemoved(_) => {
                self.last_change = ev.seq;
                self.pending.push((ev.event_id.clone(), ev.seq));
            }
            Payload::AgentShouldExecute(p) if p.wave > self.wave => {
                self.wave = p.wave;
                // Journals from before `basis_seq`: the triggering change
                // is a lower bound of what the wave saw.
                let trigger = || {
                    ev.causation_id.as_deref().and_then(|c| {
                        self.pending
                            .iter()
                            .find(|(id, _)| id == c)
                            .map(|(_, seq)| *seq)
                    })
                };
                // Unknown: 0, so a resume re-runs everything.
                self.current_basis = if p.basis_seq > 0 {
                    p.basis_seq
                } else {
                    trigger().unwrap_or(0)
                };
                self.current_done = false;
                let basis = self.current_basis;
                self.pending.retain(|(_, seq)| *seq > basis);
            }
            Payload::PlanUpdated(_) => self.finish(),
            Payload::AgentFailed(p) if p.agent_name == AgentName::FinalPlanner => self.finish(),
            _ => {}
        }
    }

    fn copied(&mut self, seq: u64) {
        self.current_basis = seq;
        self.done_basis = seq;
        self.current_done = true;
    }

    fn finish(&mut self) {
        if !self.current_done {
            self.current_done = true;
            self.done_basis = self.current_basis;
        }
    }
}

/// Follows every party's waves while events are applied.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Live parties.
    tracks: HashMap<String, Track>,
    /// Parties with events in the replayed range that were deleted (or never
    /// existed) as of their latest event: id → that event's `seq`.
    gone: HashMap<String, u64>,
}

impl Tracker {
    /// Notes `ev`, after it was applied to `store`.
    pub fn observe(&mut self, ev: &Event, store: &Store) {
        match &ev.payload {
            Payload::PartyDeleted(_) => {
                self.tracks.remove(&ev.party_id);
            }
            Payload::PartyCreated(_) => {
                self.tracks.entry(ev.party_id.clone()).or_default();
            }
            _ => {}
        }
        if !store.contains(&ev.party_id) {
            let seq = self.gone.entry(ev.party_id.clone()).or_insert(0);
            *seq = (*seq).max(ev.seq);
            return;
        }
        if let Some(t) = self.tracks.get_mut(&ev.party_id) {
            t.observe(ev);
        }
    }

    /// One party's track.
    pub fn track(&self, party_id: &str) -> Option<&Track> {
        self.tracks.get(party_id)
    }
}

/// One snapshot row: the party and its track.
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    party: Arc<Party>,
    track: Track,
    /// The party's chain and state digests as of the snapshot's `seq`, for
    /// `partybus verify` (absent in snapshots written before digests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<PartyDigest>,
}

/// A snapshot row as read: agent results left raw, then decoded as the
/// type their agent produces (see [`crate::journal::codec`]).
#[derive(Deserialize)]
struct RowIn<'a> {
    #[serde(borrow)]
    party: PartyIn<'a>,
    track: Track,
    /// Decoded only for a compaction ([`DigestBasis`]).
    #[serde(default, borrow)]
    digest: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PartyIn<'a> {
    party_id: String,
    status: PartyStatus,
    inputs: Vec<Input>,
    #[serde(borrow)]
    agents: BTreeMap<AgentName, AgentIn<'a>>,
    #[serde(borrow)]
    budget: Option<&'a RawValue>,
    #[serde(borrow)]
    final_plan: Option<&'a RawValue>,
    created_by: Option<String>,
    token_sha256: Option<String>,
    #[serde(default)]
    forked_from: Option<ForkedFrom>,
    created_at: String,
    updated_at: String,
    version: u64,
    last_seq: u64,
}

#[derive(Deserialize)]
struct AgentIn<'a> {
    agent_name: AgentName,
    status: AgentStatus,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    confidence: f64,
    execution_time_ms: f64,
    execution_id: String,
    started_at: String,
    completed_at: Option<String>,
    error: Option<AgentError>,
    runs: u32,
    #[serde(default)]
    reused_from: Option<String>,
}

/// The record table of a snapshot (none in snapshots written before rows
/// cited records by reference).
fn record_table(json: Option<&[u8]>) -> Result<RecordTable, RecoveryError> {
    json.map_or_else(
        || Ok(RecordTable::default()),
        |json| {
            RecordTable::from_json(json).map_err(|e| RecoveryError::Snapshot {
                party: RECORDS_ROW.to_string(),
                reason: e.to_string(),
            })
        },
    )
}

impl FromSnapshot for AgentOutput {
    type Ctx = AgentName;
    fn from_snapshot(agent: AgentName, json: &str) -> Result<Self, serde_json::Error> {
        codec::decode_result(agent, json)
    }
}

impl FromSnapshot for Budget {
    type Ctx = ();
    fn from_snapshot((): (), json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

impl FromSnapshot for FinalPlan {
    type Ctx = ();
    fn from_snapshot((): (), json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// Decodes a snapshot row. Agent results, the budget and the plan stay JSON
/// (syntax checked) until first read: see [`Deferred`].
fn decode_row(
    json: &[u8],
    table: &Arc<RecordTable>,
    with_digest: bool,
) -> Result<Row, serde_json::Error> {
    let row: RowIn<'_> = serde_json::from_slice(json)?;
    let digest = match row.digest {
        Some(raw) if with_digest => Some(serde_json::from_str::<PartyDigest>(raw.get())?),
        _ => None,
    };
    let p = row.party;
    let id: Arc<str> = p.party_id.as_str().into();
    fn deferred<T: FromSnapshot>(
        raw: Option<&RawValue>,
        ctx: T::Ctx,
        table: &Arc<RecordTable>,
        id: &Arc<str>,
    ) -> Deferred<T> {
        raw.map_or_else(Deferred::absent, |raw| {
            Deferred::raw(raw.get(), ctx, table.clone(), id.clone())
        })
    }
    let budget = deferred(p.budget, (), table, &id);
    let final_plan = deferred(p.final_plan, (), table, &id);
    let mut agents = BTreeMap::new();
    for (name, a) in p.agents {
        let result = deferred(a.result, a.agent_name, table, &id);
        agents.insert(
            name,
            AgentState {
                agent_name: a.agent_name,
                status: a.status,
                result,
                confidence: a.confidence,
                execution_time_ms: a.execution_time_ms,
                execution_id: a.execution_id,
                started_at: a.started_at,
                completed_at: a.completed_at,
                error: a.error,
                runs: a.runs,
                reused_from: a.reused_from,
            },
        );
    }
    Ok(Row {
        party: Arc::new(Party {
            party_id: p.party_id,
            status: p.status,
            inputs: p.inputs,
            agents,
            budget,
            final_plan,
            created_by: p.created_by,
            token_sha256: p.token_sha256,
            forked_from: p.forked_from,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            last_seq: p.last_seq,
        }),
        track: row.track,
        digest,
    })
}

/// The read model rebuilt from a journal.
pub struct Rebuilt {
    /// Every live party.
    pub store: Store,
    /// Their waves.
    pub tracker: Tracker,
    /// The highest `seq` ever stamped (the bus continues after it).
    pub last_seq: u64,
    /// The snapshot's `seq` (0 without one).
    pub snapshot_seq: u64,
    /// Parties loaded from the snapshot.
    pub snapshot_parties: u64,
    /// Events replayed after the snapshot.
    pub events_replayed: u64,
    /// How long it took.
    pub elapsed: Duration,
    /// What a compaction needs to record digests (only from
    /// [`rebuild_for_compaction`]).
    pub digest_basis: Option<DigestBasis>,
}

/// What a compaction needs to record every party's chain without reading
/// its whole history again: the chains the snapshot recorded, continued
/// over the events replayed after it.
#[derive(Debug, Default)]
pub struct DigestBasis {
    /// The digests the snapshot's rows recorded, by party.
    pub recorded: HashMap<String, PartyDigest>,
    /// Parties restored from snapshot rows that recorded none (written
    /// before digests): their chains are computed from all their events.
    pub unrecorded: HashSet<String>,
    /// The chains of the parties with events after the snapshot, continued
    /// over them (parties in `unrecorded` have none here).
    pub chains: HashMap<String, Chain>,
}

/// Events chained per batch: their canonical forms are encoded in parallel
/// (the costly part), then hashed into their chains in order. Bounds what
/// a compaction's replay holds besides the read model.
const CHAIN_BATCH: usize = 4_096;

impl DigestBasis {
    /// Chains a batch of replayed events (in `seq` order) and empties it.
    fn chain(&mut self, batch: &mut Vec<Arc<Event>>) -> Result<(), RecoveryError> {
        let encoded: Vec<Result<Vec<u8>, digest::DigestError>> = batch
            .par_iter()
            .map(|e| digest::canonical(e.as_ref(), || format!("event {}", e.event_id)))
            .collect();
        for (e, bytes) in batch.drain(..).zip(encoded) {
            if self.unrecorded.contains(&e.party_id) {
                continue;
            }
            let chain = match self.chains.get_mut(&e.party_id) {
                Some(c) => c,
                None => {
                    let c = match self.recorded.get(&e.party_id) {
                        Some(d) => Chain::resume(e.party_id.as_str(), d.chain, d.events),
                        None => Chain::new(e.party_id.as_str()),
                    };
                    self.chains.entry(e.party_id.clone()).or_insert(c)
                }
            };
            chain
                .push_with(&e, || bytes)
                .map_err(|err| RecoveryError::Snapshot {
                    party: e.party_id.clone(),
                    reason: err.to_string(),
                })?;
        }
        Ok(())
    }
}

/// Snapshot rows packed into one buffer: party ids and JSON back to back.
#[derive(Default)]
struct Packed {
    buf: Vec<u8>,
    /// (end of the party id, end of the JSON), per row.
    ends: Vec<(usize, usize)>,
}

impl Packed {
    fn push(&mut self, party: &[u8], json: &[u8]) {
        self.buf.extend_from_slice(party);
        let p = self.buf.len();
        self.buf.extend_from_slice(json);
        self.ends.push((p, self.buf.len()));
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> (&[u8], &[u8]) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].1 };
        let (p, j) = self.ends[i];
        (&self.buf[start..p], &self.buf[p..j])
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }
}

/// Loads the snapshot, then replays every later event, reporting progress
/// to the process's observer ([`set_progress_observer`]).
pub fn rebuild(journal: &dyn Journal) -> Result<Rebuilt, RecoveryError> {
    rebuild_reporting(journal, &mut to_observer)
}

/// [`rebuild`], reporting progress to `report`.
pub fn rebuild_reporting(
    journal: &dyn Journal,
    report: &mut dyn FnMut(&ReplayProgress),
) -> Result<Rebuilt, RecoveryError> {
    rebuild_inner(journal, report, false)
}

/// [`rebuild`], also keeping the [`DigestBasis`] a compaction records
/// digests from.
pub fn rebuild_for_compaction(journal: &dyn Journal) -> Result<Rebuilt, RecoveryError> {
    rebuild_inner(journal, &mut to_observer, true)
}

fn rebuild_inner(
    journal: &dyn Journal,
    report: &mut dyn FnMut(&ReplayProgress),
    with_digests: bool,
) -> Result<Rebuilt, RecoveryError> {
    let began = Instant::now();
    let mut basis = with_digests.then(DigestBasis::default);
    let mut store = Store::new();
    let mut tracker = Tracker::default();
    let meta = journal.snapshot_meta()?;
    let mut snapshot_parties = 0;
    if let Some(meta) = meta {
        // The journal's rows are read on this thread while a
        // `snapshot-decode` thread decodes the previous chunk in parallel;
        // decoded chunks are restored here, in order, as they come back.
        type Decoded = Vec<Result<Row, RecoveryError>>;
        // The records the rows cite: the first row (set before any chunk is
        // sent); absent in snapshots that stored records inline.
        let table: OnceLock<Arc<RecordTable>> = OnceLock::new();
        let table = &table;
        std::thread::scope(|scope| -> Result<(), RecoveryError> {
            let (to_decode, decode_rx) = crossbeam_channel::bounded::<Packed>(2);
            let (to_restore, restore_rx) = crossbeam_channel::unbounded::<(Decoded, Packed)>();
            std::thread::Builder::new()
                .name("snapshot-decode".into())
                .spawn_scoped(scope, move || {
                    for chunk in decode_rx {
                        let table = table.get().cloned().unwrap_or_default();
                        let rows: Decoded = (0..chunk.len())
                            .into_par_iter()
                            .map(|i| {
                                let (party, json) = chunk.get(i);
                                let row = decode_row(json, &table, with_digests);
                                row.map_err(|e| RecoveryError::Snapshot {
                                    party: String::from_utf8_lossy(party).into_owned(),
                                    reason: e.to_string(),
                                })
                            })
                            .collect();
                        // The buffers go back for reuse (no page faults
                        // for a fresh multi-megabyte buffer per chunk).
                        if to_restore.send((rows, chunk)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|source| {
                    RecoveryError::Journal(JournalError::Io {
                        context: "starting the snapshot decoder".into(),
                        source,
                    })
                })?;
            let mut spare: Vec<Packed> = Vec::new();
            let mut restore = |rows: Decoded| -> Result<(), RecoveryError> {
                for row in rows {
                    let row = row?;
                    if let Some(b) = basis.as_mut() {
                        let id = row.party.party_id.clone();
                        match row.digest {
                            Some(d) => {
                                b.recorded.insert(id, d);
                            }
                            None => {
                                b.unrecorded.insert(id);
                            }
                        }
                    }
                    tracker.tracks.insert(row.party.party_id.clone(), row.track);
                    store.restore(row.party);
                    snapshot_parties += 1;
                }
                Ok(())
            };
            let mut failed: Option<RecoveryError> = None;
            let mut chunk = Packed::default();
            let read = journal.read_snapshots(&mut |party, json| {
                if party == RECORDS_ROW {
                    match record_table(Some(json)) {
                        Ok(t) => {
                            let _ = table.set(Arc::new(t));
                            return Ok(());
                        }
                        Err(e) => {
                            failed = Some(e);
                            return Err(JournalError::Corrupt {
                                context: "snapshot".into(),
                                source: None,
                            });
                        }
                    }
                }
                chunk.push(party.as_bytes(), json);
                if chunk.len() >= SNAPSHOT_CHUNK {
                    while let Ok((rows, mut used)) = restore_rx.try_recv() {
                        used.clear();
                        spare.push(used);
                        if let Err(e) = restore(rows) {
                            failed = Some(e);
                            return Err(JournalError::Corrupt {
                                context: "snapshot".into(),
                                source: None,
                            });
                        }
                    }
                    let full = std::mem::replace(&mut chunk, spare.pop().unwrap_or_default());
                    if to_decode.send(full).is_err() {
                        return Err(JournalError::Storage("the snapshot decoder stopped".into()));
                    }
                }
                Ok(())
            });
            if let Some(e) = failed {
                return Err(e);
            }
            read?;
            if chunk.len() > 0 && to_decode.send(chunk).is_err() {
                return Err(RecoveryError::Journal(JournalError::Storage(
                    "the snapshot decoder stopped".into(),
                )));
            }
            drop(to_decode);
            for (rows, _) in restore_rx.iter() {
                restore(rows)?;
            }
            Ok(())
        })?;
        store.restore_counters(
            meta.events_applied,
            usize::try_from(meta.deleted_parties).unwrap_or(usize::MAX),
            meta.seq,
        );
    }
    let snapshot_seq = meta.map_or(0, |m| m.seq);
    let mut progress = Progress::new(report, began, journal.replay_estimate(snapshot_seq));
    let mut batch: Vec<Arc<Event>> = Vec::new();
    let mut chain_failed: Option<RecoveryError> = None;
    let last = journal.replay(snapshot_seq, &mut |e| {
        store.apply(e);
        tracker.observe(e, &store);
        if let Some(b) = basis.as_mut() {
            batch.push(e.clone());
            if batch.len() >= CHAIN_BATCH && chain_failed.is_none() {
                chain_failed = b.chain(&mut batch).err();
            }
        }
        progress.tick();
    })?;
    if let Some(b) = basis.as_mut() {
        if chain_failed.is_none() {
            chain_failed = b.chain(&mut batch).err();
        }
    }
    if let Some(e) = chain_failed {
        return Err(e);
    }
    progress.emit(true);
    let events_replayed = progress.done;
    Ok(Rebuilt {
        last_seq: last.max(store.last_seq()).max(snapshot_seq),
        store,
        tracker,
        snapshot_seq,
        snapshot_parties,
        events_replayed,
        elapsed: began.elapsed(),
        digest_basis: basis,
    })
}

/// Rebuilds a cluster node's read model from every partition of the shared
/// log; also returns each partition's last `seq`, where the node's tail
/// continues.
pub fn rebuild_from_log(log: &dyn Log) -> Result<(Rebuilt, Vec<u64>), RecoveryError> {
    let began = Instant::now();
    let mut store = Store::new();
    let mut tracker = Tracker::default();
    let mut report = to_observer;
    let mut progress = Progress::new(&mut report, began, None);
    let after = log
        .replay_all(&mut |_, e| {
            store.apply(&e);
            tracker.observe(&e, &store);
            progress.tick();
        })
        .map_err(|e| RecoveryError::Journal(JournalError::from(e)))?;
    progress.emit(true);
    let events_replayed = progress.done;
    let rebuilt = Rebuilt {
        last_seq: after.iter().copied().max().unwrap_or(0),
        store,
        tracker,
        snapshot_seq: 0,
        snapshot_parties: 0,
        events_replayed,
        elapsed: began.elapsed(),
        digest_basis: None,
    };
    Ok((rebuilt, after))
}

/// A party whose planning resumes after a restart.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The party.
    pub party_id: String,
    /// Its latest input change (the resumed wave's cause).
    pub cause: Arc<Event>,
    /// The party as its last finished wave saw it (`None`: no wave finished).
    pub before: Option<Arc<Party>>,
    /// Waves so far (the resumed one gets the next number).
    pub waves: u64,
}

/// What the agent runtime needs to continue where the journal ends.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Parties to resume planning for, at start.
    pub resume: Vec<Resume>,
    /// Every other live party as of the restart, with its wave count: the
    /// scheduler's baseline when its next change arrives.
    pub baseline: HashMap<String, (Arc<Party>, u64)>,
}

/// Splits the live parties into interrupted ones (with what resuming them
/// needs, read from the journal) and the baseline of the others.
pub fn plan_resume(rebuilt: &Rebuilt, journal: &dyn Journal) -> Result<Recovery, RecoveryError> {
    plan_resume_of(&rebuilt.store, &rebuilt.tracker, journal, |_| true)
}

/// [`plan_resume`] for the parties `select` picks, from a live read model
/// and its tracker (a cluster node taking a partition over).
pub fn plan_resume_of(
    store: &Store,
    tracker: &Tracker,
    journal: &dyn Journal,
    select: impl Fn(&str) -> bool,
) -> Result<Recovery, RecoveryError> {
    let mut out = Recovery::default();
    for party in store.parties() {
        if !select(&party.party_id) {
            continue;
        }
        let track = tracker.track(&party.party_id).cloned().unwrap_or_default();
        if !track.interrupted() {
            out.baseline
                .insert(party.party_id.clone(), (party.clone(), track.wave));
            continue;
        }
        let history = journal.party_events(&party.party_id, 0, usize::MAX)?;
        let cause = history
            .iter()
            .rev()
            .find(|e| matches!(e.payload, Payload::InputAdded(_) | Payload::InputRemoved(_)))
            .cloned();
        let Some(cause) = cause else {
            // A wave without any input change: nothing to resume from.
            out.baseline
                .insert(party.party_id.clone(), (party.clone(), track.wave));
            continue;
        };
        let before = if track.done_basis == 0 {
            None
        } else {
            let mut s = Store::new();
            for e in history.iter().take_while(|e| e.seq <= track.done_basis) {
                s.apply(e);
            }
            s.party(&party.party_id)
        };
        out.resume.push(Resume {
            party_id: party.party_id.clone(),
            cause,
            before,
            waves: track.wave,
        });
    }
    out.resume.sort_by(|a, b| a.party_id.cmp(&b.party_id));
    Ok(out)
}

/// Writes a snapshot of `rebuilt` (every live party and its track) and
/// deletes the events of parties deleted by then.
pub fn write_snapshot(
    journal: &dyn Journal,
    rebuilt: &Rebuilt,
) -> Result<CompactReport, RecoveryError> {
    let store = &rebuilt.store;
    let seq = store.last_seq().max(rebuilt.snapshot_seq);
    let parties: Vec<&Arc<Party>> = store.parties().collect();
    // Rows cite catalog records by reference into one table, written as the
    // first row: a record cited by thousands of plans is stored once.
    let citations = Arc::new(Citations::default());
    let chains = match &rebuilt.digest_basis {
        Some(basis) => chains_from(journal, &parties, basis, rebuilt.snapshot_seq, seq)?,
        None => chains_at(journal, &parties, seq)?,
    };
    let mut rows: Vec<(String, Vec<u8>)> = parties
        .par_iter()
        .map(|p| {
            let digest = match chains.get(&p.party_id) {
                Some(c) => Some(PartyDigest {
                    seq,
                    events: c.events(),
                    chain: c.head(),
                    state: digest::state_digest(p).map_err(|e| RecoveryError::Snapshot {
                        party: p.party_id.clone(),
                        reason: e.to_string(),
                    })?,
                }),
                None => None,
            };
            let row = Row {
                party: Arc::clone(p),
                track: rebuilt
                    .tracker
                    .track(&p.party_id)
                    .cloned()
                    .unwrap_or_default(),
                digest,
            };
            intern::citing(&citations, || serde_json::to_vec(&row))
                .map(|json| (p.party_id.clone(), json))
                .map_err(|e| RecoveryError::Snapshot {
                    party: p.party_id.clone(),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    let table = citations.to_json().map_err(|e| RecoveryError::Snapshot {
        party: RECORDS_ROW.to_string(),
        reason: e.to_string(),
    })?;
    rows.insert(0, (RECORDS_ROW.to_string(), table));
    let purge: Vec<(String, u64)> = rebuilt
        .tracker
        .gone
        .iter()
        .map(|(party, at)| {
            if store.contains(party) {
                // Deleted and created again: only the old life goes.
                (party.clone(), *at)
            } else {
                (party.clone(), seq)
            }
        })
        .collect();
    let stats = store.stats();
    let meta = SnapshotMeta {
        seq,
        events_applied: stats.events_applied,
        deleted_parties: stats.deleted_parties as u64,
    };
    Ok(journal.write_snapshot(&meta, &mut rows.into_iter(), &purge)?)
}

/// Each party's chain over its events up to `seq` (a snapshot records it;
/// a live party's events are never deleted, so it is computed afresh).
fn chains_at(
    journal: &dyn Journal,
    parties: &[&Arc<Party>],
    seq: u64,
) -> Result<HashMap<String, Chain>, RecoveryError> {
    let mut out = HashMap::with_capacity(parties.len());
    for p in parties {
        let mut chain = Chain::new(p.party_id.as_str());
        for e in journal.party_events(&p.party_id, 0, usize::MAX)? {
            if e.seq > seq {
                break;
            }
            chain.push(&e).map_err(|e| RecoveryError::Snapshot {
                party: p.party_id.clone(),
                reason: e.to_string(),
            })?;
        }
        if chain.alive() {
            out.insert(p.party_id.clone(), chain);
        }
    }
    Ok(out)
}

/// [`chains_at`] from what the compaction's replay chained: the chains the
/// previous snapshot recorded, continued over the events after it; parties
/// whose row recorded none are chained from all their events.
fn chains_from(
    journal: &dyn Journal,
    parties: &[&Arc<Party>],
    basis: &DigestBasis,
    snapshot_seq: u64,
    seq: u64,
) -> Result<HashMap<String, Chain>, RecoveryError> {
    // In the snapshot without a usable recorded chain.
    let from_scratch = |id: &str| {
        basis.unrecorded.contains(id)
            || basis
                .recorded
                .get(id)
                .is_some_and(|d| d.seq != snapshot_seq)
    };
    let scratch: Vec<&Arc<Party>> = parties
        .iter()
        .copied()
        .filter(|p| from_scratch(&p.party_id))
        .collect();
    let mut out = chains_at(journal, &scratch, seq)?;
    for p in parties.iter().filter(|p| !from_scratch(&p.party_id)) {
        let id = p.party_id.as_str();
        // Events after the snapshot: chained in the replay; none: as
        // recorded. (A party not in the snapshot has all its events there.)
        let chain = match (basis.chains.get(id), basis.recorded.get(id)) {
            (Some(c), _) => c.clone(),
            (None, Some(d)) => Chain::resume(id, d.chain, d.events),
            (None, None) => continue,
        };
        if chain.alive() {
            out.insert(id.to_string(), chain);
        }
    }
    Ok(out)
}

/// The digests every party's snapshot row recorded, with the snapshot's
/// coverage (`None`, and no digests, without a snapshot).
pub fn snapshot_digests(
    journal: &dyn Journal,
) -> Result<(Option<SnapshotMeta>, HashMap<String, PartyDigest>), RecoveryError> {
    #[derive(Deserialize)]
    struct DigestOnly {
        #[serde(default)]
        digest: Option<PartyDigest>,
    }
    let Some(meta) = journal.snapshot_meta()? else {
        return Ok((None, HashMap::new()));
    };
    let mut out = HashMap::new();
    journal.read_snapshots(&mut |party, json| {
        if party == RECORDS_ROW {
            return Ok(());
        }
        let row: DigestOnly = serde_json::from_slice(json).map_err(|e| JournalError::Corrupt {
            context: format!("snapshot row of party {party}"),
            source: Some(Box::new(e)),
        })?;
        if let Some(d) = row.digest {
            out.insert(party.to_string(), d);
        }
        Ok(())
    })?;
    Ok((Some(meta), out))
}

/// Compacts a journal: rebuilds from it, then writes the snapshot.
pub fn compact(journal: &dyn Journal) -> Result<CompactReport, RecoveryError> {
    let began = std::time::Instant::now();
    let rebuilt = rebuild_for_compaction(journal)?;
    let report = write_snapshot(journal, &rebuilt)?;
    if let Some(stats) = journal.stats() {
        stats.record_compaction(std::time::SystemTime::now(), began.elapsed());
    }
    Ok(report)
}

/// One party's state read straight from a journal (snapshot row, else its
/// events): for `partybus export`.
pub fn party_from_journal(
    journal: &dyn Journal,
    party_id: &str,
) -> Result<Option<Arc<Party>>, RecoveryError> {
    let history = journal.party_events(party_id, 0, usize::MAX)?;
    let mut s = Store::new();
    if history.is_empty() {
        if let Some(json) = journal.read_snapshot(party_id)? {
            let table = Arc::new(record_table(
                journal.read_snapshot(RECORDS_ROW)?.as_deref(),
            )?);
            let row = decode_row(&json, &table, false).map_err(|e| RecoveryError::Snapshot {
                party: party_id.to_string(),
                reason: e.to_string(),
            })?;
            return Ok(Some(row.party));
        }
    }
    for e in &history {
        s.apply(e);
    }
    Ok(s.party(party_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::MemoryJournal;

    #[test]
    fn progress_is_reported_at_most_every_interval_and_once_at_the_end() {
        let mut seen = Vec::new();
        let mut report = |p: &ReplayProgress| seen.push(*p);
        // Began long enough ago that the first look at the clock reports.
        let now = Instant::now();
        let began = now.checked_sub(PROGRESS_INTERVAL * 4).unwrap_or(now);
        let mut progress = Progress::new(&mut report, began, Some(4 * PROGRESS_EVERY));
        for _ in 0..3 * PROGRESS_EVERY {
            progress.tick();
        }
        progress.emit(true);
        let reported_early = began != now;
        let early: Vec<_> = seen.iter().filter(|p| !p.finished).collect();
        // One look per PROGRESS_EVERY events, but the two after the first
        // come within PROGRESS_INTERVAL of it.
        if reported_early {
            assert_eq!(early.len(), 1, "{seen:?}");
            assert_eq!(early[0].done, PROGRESS_EVERY);
            assert_eq!(early[0].percent(), Some(25));
        }
        let last = seen.last().expect("a final report");
        assert!(last.finished);
        assert_eq!(last.done, 3 * PROGRESS_EVERY);
        assert_eq!(last.percent(), Some(100));
    }

    #[test]
    fn an_empty_replay_reports_that_it_finished() {
        let mut seen = Vec::new();
        let rebuilt =
            rebuild_reporting(&MemoryJournal::new(), &mut |p| seen.push(*p)).expect("rebuild");
        assert_eq!(rebuilt.events_replayed, 0);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].finished && seen[0].done == 0 && seen[0].total.is_none());
    }

    #[test]
    fn percent_needs_a_total() {
        let p = |done, total| ReplayProgress {
            done,
            total,
            elapsed: Duration::ZERO,
            finished: false,
        };
        assert_eq!(p(5, None).percent(), None);
        assert_eq!(p(5, Some(0)).percent(), None);
        assert_eq!(p(30, Some(100)).percent(), Some(30));
        assert_eq!(p(300, Some(100)).percent(), Some(100));
    }
}
