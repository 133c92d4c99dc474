//! The journal: the durable, ordered record of every event, and the source of
//! truth a restart replays.
//!
//! Only the bus dispatcher appends events; start-up and compaction (both in
//! [`crate::recovery`]) replay; history reads serve the events route and
//! WebSocket replays; the idempotency records ([`idempotency`], used by
//! [`crate::idempotency`] on top) share the database. Appends are whole
//! batches (one group commit each); a failed append must leave nothing of
//! its batch visible. [`MemoryJournal`] keeps everything in process (for
//! `--ephemeral`, tests and benches); it survives an `App` restart in the
//! same process but not the process. [`SqliteJournal`] is the durable
//! default.
//!
//! Besides events, a journal may keep a compaction snapshot: opaque per-party
//! state blobs written by [`crate::recovery`], covering every event up to
//! [`SnapshotMeta::seq`], so start-up replays only what came after. The
//! journal stores those blobs; it never interprets them.
//!
//! Storage at the bottom: this module and its children import nothing of
//! the policies above them ([`crate::recovery`], [`crate::idempotency`],
//! the app); those depend on the journal, never the other way round.
//!
//! # Layout
//! - [`codec`]: the stored JSON of an event, encoded off the dispatcher.
//! - [`log`]: the shared, partitioned log of a cluster (its contract).
//! - [`idempotency`]: idempotency records as storage, and the in-memory
//!   store.
//! - [`redis`]: the shared log on Redis Streams (cluster mode).
//! - [`sqlite`]: the durable journal (schema, checkpointer, snapshots,
//!   idempotency rows).
//! - [`stats`]: a journal's figures for operators (commit latency, group
//!   size, last compaction), recorded with atomics.

pub mod codec;
pub(crate) mod idempotency;
pub mod log;
pub mod redis;
pub(crate) mod sqlite;
pub mod stats;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::event::Event;

pub use sqlite::{SqliteJournal, SqliteOptions, DB_FILE, LOCK_FILE};

/// How hard a commit tries to reach the disk (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `synchronous=FULL`: every group commit is fsynced before it is
    /// acknowledged; survives power loss and OS crashes.
    Full,
    /// `synchronous=NORMAL` in WAL mode: a commit reaches the OS before it is
    /// acknowledged, fsync happens at checkpoints; survives a process crash
    /// or `kill -9`, may lose the latest commits on power loss.
    Normal,
    /// No journal on disk (`--ephemeral`): everything is lost with the process.
    Off,
}

impl Durability {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
            Durability::Off => "off",
        }
    }
}

/// An underlying error of any kind, for [`JournalError`]'s sources.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the journal failed. The display is short and says what the journal
/// was doing; the underlying error (SQLite's, the file system's, the
/// decoder's), when there is one, is the [`std::error::Error::source`]:
/// print the whole chain ([`Chain`]) to see it.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An SQLite call failed; nothing of the batch was written.
    #[error("journal storage failed: {context}")]
    Sqlite {
        /// What the journal was doing, e.g. `appending events`.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file-system call or a thread start failed.
    #[error("journal storage failed: {context}")]
    Io {
        /// What the journal was doing, e.g. `cannot create data directory ...`.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Data to store could not be encoded; nothing of the batch was written.
    #[error("journal storage failed: {context}")]
    Encode {
        /// What was being encoded.
        context: String,
        /// The encoder's error.
        #[source]
        source: BoxError,
    },
    /// The journal refused on its own account (read-only, full, a value
    /// that does not fit); nothing of the batch was written.
    #[error("journal storage failed: {0}")]
    Storage(String),
    /// Stored data could not be read or decoded.
    #[error("journal data is corrupt: {context}")]
    Corrupt {
        /// Where (the database file, and what was read).
        context: String,
        /// The reader's or decoder's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The database file is not a partybus journal (or is damaged); it was
    /// left untouched.
    #[error("{path}: {reason}; refusing to use it (the file was not modified)")]
    Foreign {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("{0} is in use by another partybus process")]
    Locked(String),
    /// The journal cannot do this (e.g. compaction in memory).
    #[error("this journal does not support {0}")]
    Unsupported(&'static str),
}

/// What kind of storage fault stopped a write: what an operator must fix,
/// and what a client is told (`insufficient_storage`, `journal_read_only`,
/// `journal_unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The disk (or a quota) is full.
    Full,
    /// The data directory or the file system is read-only, or the database
    /// file may not be written.
    ReadOnly,
    /// Any other failure to write.
    Failed,
}

/// A write the journal could not make, as the bus reports it while it
/// refuses commands: its kind and the whole error chain as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StorageFault {
    /// What kind of fault.
    pub kind: FaultKind,
    /// The journal's error with its causes, e.g. `journal storage failed:
    /// appending events: database or disk is full`.
    pub message: String,
}

impl StorageFault {
    /// The fault a journal error reports.
    pub fn of(e: &JournalError) -> StorageFault {
        StorageFault {
            kind: e.fault_kind(),
            message: Chain(e).to_string(),
        }
    }
}

impl JournalError {
    /// What kind of storage fault this is, from SQLite's result code or the
    /// OS error beneath it.
    pub fn fault_kind(&self) -> FaultKind {
        use rusqlite::ErrorCode;
        match self {
            JournalError::Sqlite { source, .. } => match source.sqlite_error_code() {
                Some(ErrorCode::DiskFull) => FaultKind::Full,
                Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) => {
                    FaultKind::ReadOnly
                }
                _ => FaultKind::Failed,
            },
            JournalError::Io { source, .. } => FaultKind::of_io(source),
            _ => FaultKind::Failed,
        }
    }
}

impl FaultKind {
    /// The kind of fault an OS error is.
    pub fn of_io(e: &std::io::Error) -> FaultKind {
        // Linux errno values: ENOSPC, EDQUOT; EROFS, EACCES, EPERM.
        const FULL: [i32; 2] = [28, 122];
        const READ_ONLY: [i32; 3] = [30, 13, 1];
        match e.raw_os_error() {
            Some(n) if FULL.contains(&n) => FaultKind::Full,
            Some(n) if READ_ONLY.contains(&n) => FaultKind::ReadOnly,
            _ => FaultKind::Failed,
        }
    }
}

/// Displays an error followed by its sources, `": "`-separated, as a log
/// line should: `journal storage failed: appending events: disk I/O error`.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// The key of the snapshot row that holds the records the party rows cite
/// (see [`crate::catalog::intern`]); no party id can take it. It sorts
/// before every party id, so it is read first.
pub const RECORDS_ROW: &str = "#records";

/// Receives snapshot rows: party id and state blob.
pub type SnapshotVisitor<'a> = &'a mut dyn FnMut(&str, &[u8]) -> Result<(), JournalError>;

/// What a compaction snapshot covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// Every event with `seq <= seq` is reflected in the snapshot rows.
    pub seq: u64,
    /// The store's `events_applied` at `seq`.
    pub events_applied: u64,
    /// The store's `deleted_parties` at `seq`.
    pub deleted_parties: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CompactReport {
    /// `seq` the new snapshot covers.
    pub seq: u64,
    /// Party snapshots written.
    pub parties: u64,
    /// Events physically deleted (those of deleted parties).
    pub events_deleted: u64,
    /// Events that remain stored.
    pub events_kept: u64,
}

/// Durable, ordered event storage.
pub trait Journal: Send + Sync {
    /// Appends a batch atomically, in order.
    fn append(&self, events: &[Arc<Event>]) -> Result<(), JournalError>;

    /// Whether this journal stores each event's JSON. The bus then has every
    /// publisher encode its drafts ([`codec::encode_body`]) on its own
    /// thread and appends with [`Journal::append_encoded`], so the encoding
    /// stays off the one dispatcher thread.
    fn stores_json(&self) -> bool {
        false
    }

    /// [`Journal::append`] with each event's stored JSON already encoded:
    /// `json[i]` is `events[i]`'s, as [`codec::finish`] makes it.
    fn append_encoded(&self, events: &[Arc<Event>], json: &[String]) -> Result<(), JournalError> {
        let _ = json;
        self.append(events)
    }

    /// Whether a write can be made now: after a failed append the bus
    /// refuses commands and calls this, backing off, until it succeeds. A
    /// real, small write that leaves nothing a reader sees (a journal in
    /// memory always can).
    fn probe(&self) -> Result<(), JournalError> {
        Ok(())
    }

    /// What a failed write tells an operator: its kind and message. A
    /// journal on disk may look closer than its error does (SQLite reports
    /// a file system remounted read-only as "disk I/O error").
    fn fault_of(&self, e: &JournalError) -> StorageFault {
        StorageFault::of(e)
    }

    /// Feeds every stored event with `seq > after`, oldest first, to `f`;
    /// returns the highest `seq` ever stamped that the journal knows of
    /// (0 if none), which may exceed the last event fed after a compaction
    /// removed the newest events.
    fn replay(&self, after: u64, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError>;

    /// One party's events with `seq > since`, oldest first, at most `limit`.
    fn party_events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, JournalError>;

    /// The compaction snapshot's coverage, if one was written.
    fn snapshot_meta(&self) -> Result<Option<SnapshotMeta>, JournalError> {
        Ok(None)
    }

    /// Feeds every snapshot row (party id, state blob) to `f`.
    fn read_snapshots(&self, _f: SnapshotVisitor<'_>) -> Result<(), JournalError> {
        Ok(())
    }

    /// One party's snapshot blob, if it has one.
    fn read_snapshot(&self, _party_id: &str) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(None)
    }

    /// Replaces the snapshot atomically with `rows` covering `meta.seq`, and
    /// physically deletes, for each `(party, up_to)` in `purge`, that party's
    /// events with `seq <= up_to` (parties deleted by then).
    fn write_snapshot(
        &self,
        _meta: &SnapshotMeta,
        _rows: &mut dyn Iterator<Item = (String, Vec<u8>)>,
        _purge: &[(String, u64)],
    ) -> Result<CompactReport, JournalError> {
        Err(JournalError::Unsupported("compaction"))
    }

    /// Events appended since the last snapshot (drives automatic compaction).
    fn events_since_snapshot(&self) -> u64 {
        0
    }

    /// About how many events [`Journal::replay`] from `after` would feed
    /// (an upper bound is fine), for progress reports; `None` when the
    /// journal cannot tell cheaply.
    fn replay_estimate(&self, after: u64) -> Option<u64> {
        let _ = after;
        None
    }

    /// The journal's store for idempotency records (see [`idempotency`]);
    /// `None` from a journal that keeps none, so the caller keeps them in
    /// memory.
    fn idempotency(&self) -> Option<&dyn idempotency::IdempotencyStore> {
        None
    }

    /// The journal's own figures (commit latency, group size, last
    /// compaction); `None` from a journal that keeps none.
    fn stats(&self) -> Option<&stats::JournalStats> {
        None
    }

    /// Bytes in the journal's write-ahead log file right now (0 when there
    /// is none); `None` from a journal without one.
    fn wal_bytes(&self) -> Option<u64> {
        None
    }
}

#[derive(Default)]
struct Memory {
    events: Vec<Arc<Event>>,
    by_party: HashMap<String, Vec<u32>>,
    /// The highest `seq` ever appended (a compaction may remove the newest
    /// events, those of a party deleted last).
    last_seq: u64,
    /// The compaction snapshot: its coverage and rows, by party id (the
    /// records row, `#…`, sorts first).
    snapshot: Option<(SnapshotMeta, std::collections::BTreeMap<String, Vec<u8>>)>,
    /// Events appended since the snapshot.
    since_snapshot: u64,
}

impl Memory {
    /// Rebuilds the per-party index after events were removed.
    fn reindex(&mut self) {
        self.by_party.clear();
        for (i, e) in self.events.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            self.by_party.entry(e.party_id.clone()).or_default().push(i);
        }
    }
}

/// Everything in memory (`--ephemeral`). Compaction works as on disk: a
/// snapshot of the live parties, and the events of deleted parties dropped,
/// so memory follows the live parties, not every party ever made. Use
/// [`NullJournal`] for benchmark runs that must keep nothing.
#[derive(Default)]
pub struct MemoryJournal {
    inner: RwLock<Memory>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> MemoryJournal {
        MemoryJournal::default()
    }

    /// Number of stored events.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Journal for MemoryJournal {
    fn append(&self, events: &[Arc<Event>]) -> Result<(), JournalError> {
        let mut m = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if u32::try_from(m.events.len() + events.len()).is_err() {
            return Err(JournalError::Storage("memory journal is full".into()));
        }
        for e in events {
            let idx = m.events.len() as u32;
            m.events.push(e.clone());
            m.by_party.entry(e.party_id.clone()).or_default().push(idx);
            m.last_seq = m.last_seq.max(e.seq);
        }
        m.since_snapshot += events.len() as u64;
        Ok(())
    }

    fn replay(&self, after: u64, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let start = m.events.partition_point(|e| e.seq <= after);
        for e in &m.events[start..] {
            f(e);
        }
        Ok(m.last_seq)
    }

    fn snapshot_meta(&self) -> Result<Option<SnapshotMeta>, JournalError> {
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Ok(m.snapshot.as_ref().map(|(meta, _)| *meta))
    }

    fn read_snapshots(&self, f: SnapshotVisitor<'_>) -> Result<(), JournalError> {
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, rows)) = &m.snapshot {
            for (party, blob) in rows {
                f(party, blob)?;
            }
        }
        Ok(())
    }

    fn read_snapshot(&self, party_id: &str) -> Result<Option<Vec<u8>>, JournalError> {
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Ok(m.snapshot
            .as_ref()
            .and_then(|(_, rows)| rows.get(party_id).cloned()))
    }

    fn write_snapshot(
        &self,
        meta: &SnapshotMeta,
        rows: &mut dyn Iterator<Item = (String, Vec<u8>)>,
        purge: &[(String, u64)],
    ) -> Result<CompactReport, JournalError> {
        // Encoded before the lock is taken: appends wait only for the swap.
        let rows: std::collections::BTreeMap<String, Vec<u8>> = rows.collect();
        let parties = rows.keys().filter(|k| k.as_str() != RECORDS_ROW).count() as u64;
        let purge: HashMap<&str, u64> = purge.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let mut m = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let before = m.events.len();
        m.events.retain(|e| {
            purge
                .get(e.party_id.as_str())
                .is_none_or(|&up_to| e.seq > up_to)
        });
        let events_deleted = (before - m.events.len()) as u64;
        if events_deleted > 0 {
            m.events.shrink_to_fit();
            m.reindex();
        }
        m.since_snapshot = m.events.iter().filter(|e| e.seq > meta.seq).count() as u64;
        m.snapshot = Some((*meta, rows));
        Ok(CompactReport {
            seq: meta.seq,
            parties,
            events_deleted,
            events_kept: m.events.len() as u64,
        })
    }

    fn events_since_snapshot(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .since_snapshot
    }

    fn party_events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, JournalError> {
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let Some(idx) = m.by_party.get(party_id) else {
            return Ok(Vec::new());
        };
        let start = idx.partition_point(|&i| m.events[i as usize].seq <= since);
        Ok(idx[start..]
            .iter()
            .take(limit)
            .map(|&i| m.events[i as usize].clone())
            .collect())
    }
}

/// Keeps nothing: for benchmarks that must not grow. History queries are then
/// served by the bus's bounded ring only.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullJournal;

impl Journal for NullJournal {
    fn append(&self, _events: &[Arc<Event>]) -> Result<(), JournalError> {
        Ok(())
    }

    fn replay(&self, _after: u64, _f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
        Ok(0)
    }

    fn party_events(
        &self,
        _party_id: &str,
        _since: u64,
        _limit: usize,
    ) -> Result<Vec<Arc<Event>>, JournalError> {
        Ok(Vec::new())
    }
}
