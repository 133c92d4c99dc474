//! The durable journal: one SQLite database (`partybus.db`, WAL mode) in the
//! data directory, written through rusqlite with SQLite bundled.
//!
//! Owns the file format: the tables `events`, `records`, `party_index`,
//! `snapshots`, `idempotency` and `meta`, the `application_id`/`user_version` stamp, and
//! the data directory's lock file. Must not interpret events beyond their envelope,
//! nor snapshot blobs at all.
//!
//! Invariants:
//! - One `append` is one transaction: a batch is wholly committed or wholly
//!   absent, and it is committed under the configured [`Durability`] before
//!   `append` returns (the bus acknowledges only after that).
//! - A file that is not ours (wrong header, wrong `application_id`, newer
//!   schema, unreadable) is refused with an error naming it and is never
//!   written to: nothing is written before the checks pass.
//! - One process per data directory (an exclusive lock on `partybus.lock`);
//!   read-only openers ([`SqliteJournal::open_read_only`]) need no lock.
//! - `party_index` holds exactly the events with `seq <= meta.indexed_seq`;
//!   both move in the same transaction, and a party's history is the index
//!   plus a scan of the events past it.
//! - Every catalog record a stored event cites (`record_ref`, see
//!   [`crate::catalog::intern`]) is in `records`, committed no later than
//!   the event: each append stores the records registered since the last
//!   one in its own transaction. Rows of `records` are never changed or
//!   deleted (each is one record version, keyed by its content).
//!
//! # Layout
//! - this file: opening and locking the data directory, the connections,
//!   appending events (with the batched party index), replay and history.
//! - `schema.rs`: the tables, the file stamp, the checks that refuse a
//!   foreign file, and migrations.
//! - `checkpoint.rs`: the background WAL checkpointer.
//! - `snapshot.rs`: compaction snapshot rows and the purge of deleted
//!   parties' events.
//! - `idempotency.rs`: idempotency record rows.
//!
//! Tuning a test needs (smaller batches, an earlier WAL restart) is passed as
//! [`SqliteOptions`]; its [`Default`] is the production setting.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::idempotency::IdempotencyStore;
use super::stats::JournalStats;
use super::{
    codec, BoxError, CompactReport, Durability, FaultKind, Journal, JournalError, SnapshotMeta,
    SnapshotVisitor, StorageFault,
};
use crate::catalog::intern::JournalRecords;
use crate::event::Event;

mod checkpoint;
mod idempotency;
mod schema;
mod snapshot;

pub(crate) use checkpoint::{CHECKPOINT_RESTART_PAGES, WAL_SIZE_LIMIT};
pub(crate) use schema::{APPLICATION_ID, SCHEMA_VERSION};

use checkpoint::Checkpointer;
use idempotency::IDEMPOTENCY_PURGE_EVERY;
use schema::{check_header, has_table, migrate, verify, SCHEMA};

/// The database file inside the data directory.
pub const DB_FILE: &str = "partybus.db";
/// The lock file inside the data directory (held while a server runs).
pub const LOCK_FILE: &str = "partybus.lock";
/// Events appended before the party index catches up, in one batch. The
/// index is written in bulk, sorted by party: an index maintained per event
/// cost one random 4 KiB page per party per group commit, about a third of
/// the journal's write volume (create and add-input load ran 35-55 % faster
/// without it). The default of [`SqliteOptions::index_batch`].
pub(crate) const INDEX_BATCH: u64 = 8_192;
/// How long a connection waits on a busy database (another reader
/// checkpointing, an operator's sqlite3 shell) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows decoded per parallel chunk during replay: large enough to keep both
/// cores busy, small enough to bound memory (a few MB of JSON).
const REPLAY_CHUNK: usize = 8_192;

/// Tuning of a [`SqliteJournal`], fixed when it is opened. [`Default`] gives
/// the production values (the named constants, which say why); tests shrink
/// them to reach a batch or checkpoint boundary within a few events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Events appended past the party index before it catches up, in one
    /// batch ([`INDEX_BATCH`]).
    pub index_batch: u64,
    /// WAL size in frames (pages) past which the checkpointer restarts the
    /// WAL ([`CHECKPOINT_RESTART_PAGES`]).
    pub checkpoint_restart_pages: i64,
    /// WAL file size in bytes past which a restart also truncates it
    /// (SQLite's `journal_size_limit`, [`WAL_SIZE_LIMIT`]).
    pub wal_size_limit: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            index_batch: INDEX_BATCH,
            checkpoint_restart_pages: CHECKPOINT_RESTART_PAGES,
            wal_size_limit: WAL_SIZE_LIMIT,
        }
    }
}

/// The SQLite journal. `Sync` by wrapping each connection in a mutex: the
/// writer (appends, snapshots, idempotency stores) and a read-only reader
/// (replay, party history, idempotency look-ups), so reads never wait for a
/// commit's fsync.
pub struct SqliteJournal {
    /// The database file, for messages.
    path: PathBuf,
    /// The writing connection; `None` when opened read-only.
    writer: Option<Mutex<Connection>>,
    /// The reading connection.
    reader: Mutex<Connection>,
    /// The data directory's lock (an SQLite file held in an exclusive
    /// transaction), held for the journal's lifetime; the OS releases it
    /// when the process dies.
    _lock: Option<Mutex<Connection>>,
    /// Events appended past the snapshot (approximate after a restart:
    /// `max(seq) - snapshot seq`).
    since_snapshot: AtomicU64,
    /// Idempotency records stored since the last purge.
    idem_puts: AtomicU64,
    /// `party_index` covers every event up to this `seq` (writers only).
    indexed_seq: AtomicU64,
    /// Appends waiting for the writing connection. A background writer
    /// (compaction) lets them go first between its transactions
    /// ([`SqliteJournal::step_aside`]): the mutex is not fair, and the
    /// thread that releases it would otherwise take it again at once.
    appends_waiting: AtomicUsize,
    /// A version-1 file opened read-only: `events (party_id, seq)` is
    /// indexed and there is no `party_index`.
    legacy_index: bool,
    /// The catalog records stored events cite, loaded on open and grown
    /// by appends.
    records: Arc<JournalRecords>,
    /// Tuning, as opened.
    options: SqliteOptions,
    /// The background checkpointer (writers only); stopped on drop.
    _checkpointer: Option<Checkpointer>,
    /// Commit latency, group sizes and the last compaction, for `/metrics`.
    stats: JournalStats,
}

/// Busy waits of the writing connection, in [`WRITER_BUSY_PAUSE`] steps.
const WRITER_BUSY_ATTEMPTS: i32 = (BUSY_TIMEOUT.as_micros() / WRITER_BUSY_PAUSE.as_micros()) as i32;
/// How long the writing connection pauses before trying a busy database
/// again. SQLite's default handler sleeps 1, 2, 5, 10, ... up to 100 ms at a
/// time: a commit held up for a few milliseconds by a checkpoint slept
/// 78-103 ms.
const WRITER_BUSY_PAUSE: Duration = Duration::from_micros(250);

/// The writing connection's busy handler: try again after
/// [`WRITER_BUSY_PAUSE`], for [`BUSY_TIMEOUT`] in all.
fn writer_busy(attempts: i32) -> bool {
    if attempts >= WRITER_BUSY_ATTEMPTS {
        return false;
    }
    std::thread::sleep(WRITER_BUSY_PAUSE);
    true
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Maps an SQLite error met while doing `context` to
/// [`JournalError::Sqlite`].
fn sqlite(context: &'static str) -> impl Fn(rusqlite::Error) -> JournalError {
    move |source| JournalError::Sqlite {
        context: context.to_string(),
        source,
    }
}

/// Maps an OS error met while doing `context` to [`JournalError::Io`].
fn io(context: &'static str) -> impl Fn(std::io::Error) -> JournalError {
    move |source| JournalError::Io {
        context: context.to_string(),
        source,
    }
}

fn to_i64(v: u64) -> Result<i64, JournalError> {
    i64::try_from(v).map_err(|_| JournalError::Storage(format!("{v} does not fit SQLite")))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal in `dir` for writing, with the
    /// given durability, and takes the directory's lock. A foreign or
    /// damaged `partybus.db` is refused untouched.
    pub fn open(dir: &Path, durability: Durability) -> Result<SqliteJournal, JournalError> {
        SqliteJournal::open_with(dir, durability, SqliteOptions::default())
    }

    /// [`SqliteJournal::open`] with the given tuning.
    pub fn open_with(
        dir: &Path,
        durability: Durability,
        options: SqliteOptions,
    ) -> Result<SqliteJournal, JournalError> {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            context: format!("cannot create data directory {}", dir.display()),
            source,
        })?;
        let lock = lock_dir(dir)?;
        let path = dir.join(DB_FILE);
        let existed = check_header(&path)?;
        let foreign = |reason: String| JournalError::Foreign {
            path: path.display().to_string(),
            reason,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| foreign(format!("cannot open: {e}")))?;
        conn.busy_handler(Some(writer_busy))
            .map_err(sqlite("setting up the writing connection"))?;
        if existed {
            verify(&conn).map_err(foreign)?;
        } else {
            // Stamp the file before anything else, outside WAL, so the main
            // file's header carries our id from the first byte on disk.
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(sqlite("stamping a new journal"))?;
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sqlite("switching to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Storage(format!(
                "{}: cannot switch to WAL mode (got {mode})",
                path.display()
            )));
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal | Durability::Off => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync}; PRAGMA secure_delete = ON; PRAGMA foreign_keys = OFF; \
             PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0; \
             PRAGMA journal_size_limit = {};",
            options.wal_size_limit
        ))
        .map_err(sqlite("setting up the writing connection"))?;
        conn.execute_batch(SCHEMA)
            .map_err(sqlite("creating the tables"))?;
        let indexed = migrate(&conn, &path)?;
        if !existed {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?1), ('created_by', ?2)",
                params![crate::event::now_rfc3339(), concat!("partybus ", env!("CARGO_PKG_VERSION"))],
            )
            .map_err(sqlite("recording the journal's creation"))?;
        }
        let reader = open_reader(&path)?;
        let records = Arc::new(load_records(&reader, &path)?);
        let checkpointer =
            Checkpointer::start(&path, durability, options.checkpoint_restart_pages)?;
        let j = SqliteJournal {
            path,
            writer: Some(Mutex::new(conn)),
            reader: Mutex::new(reader),
            _lock: Some(Mutex::new(lock)),
            since_snapshot: AtomicU64::new(0),
            idem_puts: AtomicU64::new(IDEMPOTENCY_PURGE_EVERY),
            indexed_seq: AtomicU64::new(indexed),
            appends_waiting: AtomicUsize::new(0),
            legacy_index: false,
            records,
            options,
            _checkpointer: Some(checkpointer),
            stats: JournalStats::new(),
        };
        let (max, snap) = j.max_and_snapshot_seq()?;
        j.since_snapshot
            .store(max.saturating_sub(snap), Ordering::Relaxed);
        log::info!(
            "journal {} opened (durability {})",
            j.path.display(),
            durability.as_str()
        );
        Ok(j)
    }

    /// Opens an existing journal read-only, without the directory lock (a
    /// running server may hold it): for `partybus export` and `events`.
    pub fn open_read_only(dir: &Path) -> Result<SqliteJournal, JournalError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(JournalError::Storage(format!(
                "no journal at {} (is --data-dir right?)",
                path.display()
            )));
        }
        check_header(&path)?;
        let reader = open_reader(&path)?;
        verify(&reader).map_err(|reason| JournalError::Foreign {
            path: path.display().to_string(),
            reason,
        })?;
        let legacy_index =
            !has_table(&reader, "party_index").map_err(sqlite("reading the schema"))?;
        let records = Arc::new(load_records(&reader, &path)?);
        Ok(SqliteJournal {
            path,
            writer: None,
            reader: Mutex::new(reader),
            _lock: None,
            since_snapshot: AtomicU64::new(0),
            idem_puts: AtomicU64::new(0),
            indexed_seq: AtomicU64::new(0),
            appends_waiting: AtomicUsize::new(0),
            legacy_index,
            records,
            options: SqliteOptions::default(),
            _checkpointer: None,
            stats: JournalStats::new(),
        })
    }

    /// [`SqliteJournal::open_read_only`], holding the directory lock for as
    /// long as the journal is open, so no server writes (or compacts) while
    /// it is read: for `partybus verify`. [`JournalError::Locked`] when a
    /// server holds the directory.
    pub fn open_read_only_locked(dir: &Path) -> Result<SqliteJournal, JournalError> {
        let mut j = SqliteJournal::open_read_only(dir)?;
        j._lock = Some(Mutex::new(lock_dir(dir)?));
        Ok(j)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> Result<MutexGuard<'_, Connection>, JournalError> {
        self.writer.as_ref().map(lock).ok_or_else(|| {
            JournalError::Storage(format!("{} is open read-only", self.path.display()))
        })
    }

    /// A failed read of the database file.
    fn corrupt(&self, source: impl Into<BoxError>) -> JournalError {
        JournalError::Corrupt {
            context: self.path.display().to_string(),
            source: Some(source.into()),
        }
    }

    /// A stored event that does not decode.
    fn undecodable(&self, source: serde_json::Error) -> JournalError {
        JournalError::Corrupt {
            context: format!("{}: undecodable event", self.path.display()),
            source: Some(Box::new(source)),
        }
    }

    fn max_and_snapshot_seq(&self) -> Result<(u64, u64), JournalError> {
        let conn = lock(&self.reader);
        let max: Option<i64> = conn
            .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
            .map_err(|e| self.corrupt(e))?;
        let snap = meta_u64(&conn, "snapshot_seq").map_err(|e| self.corrupt(e))?;
        Ok((max.map_or(0, to_u64), snap.unwrap_or(0)))
    }

    /// Number of stored events.
    pub fn count_events(&self) -> Result<u64, JournalError> {
        let conn = lock(&self.reader);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(|e| self.corrupt(e))?;
        Ok(to_u64(n))
    }
}

/// Takes the data directory's lock: `partybus.lock`, a small SQLite file
/// kept in an exclusive transaction (portable, and no unsafe code).
fn lock_dir(dir: &Path) -> Result<Connection, JournalError> {
    let path = dir.join(LOCK_FILE);
    let conn = Connection::open(&path).map_err(|source| JournalError::Sqlite {
        context: format!("cannot open {}", path.display()),
        source,
    })?;
    conn.busy_timeout(Duration::ZERO)
        .map_err(sqlite("setting up the lock"))?;
    let taken = conn.execute_batch(
        "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; \
         CREATE TABLE IF NOT EXISTS holder (note TEXT);",
    );
    match taken {
        Ok(()) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Err(JournalError::Locked(dir.display().to_string()))
        }
        Err(source) => Err(JournalError::Sqlite {
            context: format!("cannot lock {}", path.display()),
            source,
        }),
    }
}

fn open_reader(path: &Path) -> Result<Connection, JournalError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| JournalError::Foreign {
        path: path.display().to_string(),
        reason: format!("cannot open: {e}"),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite("setting up a reading connection"))?;
    // Bigger cache and memory-mapped reads make replay mostly memcpy.
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824;")
        .map_err(sqlite("setting up a reading connection"))?;
    Ok(conn)
}

/// Indexes every event past `after` (in the caller's transaction) and
/// records the new coverage; returns it.
fn index_tail(conn: &Connection, after: u64) -> rusqlite::Result<u64> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO party_index (party_id, seq) \
         SELECT party_id, seq FROM events WHERE seq > ?1 ORDER BY party_id, seq",
    )?
    .execute([after])?;
    let covered: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq), ?1) FROM events")?
        .query_row([after], |r| r.get(0))?;
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed_seq', ?1)")?
        .execute([covered.to_string()])?;
    Ok(to_u64(covered))
}

/// The `records` table (absent before schema 4: nothing cites then).
fn load_records(conn: &Connection, path: &Path) -> Result<JournalRecords, JournalError> {
    let corrupt = |source: BoxError| JournalError::Corrupt {
        context: format!("{}: reading the records table", path.display()),
        source: Some(source),
    };
    if !has_table(conn, "records").map_err(|e| corrupt(e.into()))? {
        return Ok(JournalRecords::empty());
    }
    let mut st = conn
        .prepare("SELECT key, json FROM records")
        .map_err(|e| corrupt(e.into()))?;
    let rows: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(|e| corrupt(e.into()))?;
    JournalRecords::load(rows.iter().map(|(k, j)| (*k, j.as_str()))).map_err(|e| corrupt(e.into()))
}

/// Writes (and removes) a small file in `dir`, to see why the disk refuses
/// writes.
fn try_write(dir: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = dir.join(".partybus-write-test");
    let written = std::fs::File::create(&path).and_then(|mut f| {
        f.write_all(&[0u8; 4096])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&path);
    written
}

fn meta_u64(conn: &Connection, key: &str) -> rusqlite::Result<Option<u64>> {
    let v: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|s| s.parse().ok()))
}

impl Journal for SqliteJournal {
    fn append(&self, events: &[Arc<Event>]) -> Result<(), JournalError> {
        let json: Vec<String> = events
            .iter()
            .map(|e| codec::encode(e))
            .collect::<Result<_, _>>()
            .map_err(|source| JournalError::Encode {
                context: "encoding events".into(),
                source: Box::new(source),
            })?;
        self.append_encoded(events, &json)
    }

    fn stores_json(&self) -> bool {
        true
    }

    fn append_encoded(&self, events: &[Arc<Event>], json: &[String]) -> Result<(), JournalError> {
        if json.len() != events.len() {
            return Err(JournalError::Storage(format!(
                "{} events came with {} JSON texts",
                events.len(),
                json.len()
            )));
        }
        let began = Instant::now();
        self.appends_waiting.fetch_add(1, Ordering::AcqRel);
        let conn = self.writer();
        self.appends_waiting.fetch_sub(1, Ordering::AcqRel);
        let mut conn = conn?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite("appending events"))?;
        // Records cited since the last append go first, in the same
        // transaction: the events that cite them were encoded after they
        // were registered.
        let (new_records, upto) = self.records.unstored().map_err(|key| {
            JournalError::Storage(format!(
                "{}: catalog record key {key} names another record in this journal",
                self.path.display()
            ))
        })?;
        if !new_records.is_empty() {
            let mut st = tx
                .prepare_cached("INSERT OR IGNORE INTO records (key, json) VALUES (?1, ?2)")
                .map_err(sqlite("storing catalog records"))?;
            for r in &new_records {
                st.execute(params![to_i64(r.key)?, &*r.json])
                    .map_err(sqlite("storing catalog records"))?;
            }
        }
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO events (seq, party_id, event_type, event_id, timestamp, json) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sqlite("appending events"))?;
            for (e, json) in events.iter().zip(json) {
                st.execute(params![
                    to_i64(e.seq)?,
                    e.party_id,
                    e.topic().as_str(),
                    e.event_id,
                    e.timestamp,
                    json
                ])
                .map_err(|source| {
                    // Name the event: a constraint failure stops the bus,
                    // and the operator needs to know which one it was.
                    JournalError::Sqlite {
                        context: format!(
                            "appending event {} seq {}, {} of party {}",
                            e.event_id,
                            e.seq,
                            e.topic().as_str(),
                            e.party_id
                        ),
                        source,
                    }
                })?;
            }
        }
        let indexed = self.indexed_seq.load(Ordering::Relaxed);
        let last = events.last().map_or(0, |e| e.seq);
        let reindexed = if last.saturating_sub(indexed) >= self.options.index_batch {
            Some(index_tail(&tx, indexed).map_err(sqlite("indexing events"))?)
        } else {
            None
        };
        tx.commit().map_err(sqlite("appending events"))?;
        self.stats.record_commit(began.elapsed(), events.len());
        self.records.mark_stored(new_records, upto);
        if let Some(covered) = reindexed {
            self.indexed_seq.store(covered, Ordering::Relaxed);
        }
        self.since_snapshot
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn replay_estimate(&self, after: u64) -> Option<u64> {
        // Seqs are dense but deleted parties' events may be gone: an upper bound.
        let (max, _) = self.max_and_snapshot_seq().ok()?;
        Some(max.saturating_sub(after))
    }

    fn replay(&self, after: u64, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
        let (max, snap) = self.max_and_snapshot_seq()?;
        // A connection of its own: a long replay (compaction while serving)
        // must not hold up history reads on the shared reader.
        let conn = open_reader(&self.path)?;
        let mut st = conn
            .prepare("SELECT json FROM events WHERE seq > ?1 ORDER BY seq")
            .map_err(|e| self.corrupt(e))?;
        let mut rows = st.query([to_i64(after)?]).map_err(|e| self.corrupt(e))?;
        // Three stages overlap: this thread reads rows (packed into one
        // buffer per chunk, no allocation per row) and applies decoded
        // chunks in order; a `journal-decode` thread decodes each chunk in
        // parallel (rayon) meanwhile.
        type Chunk = (Vec<u8>, Vec<usize>);
        type Decoded = Result<Vec<Event>, serde_json::Error>;
        std::thread::scope(|scope| -> Result<(), JournalError> {
            // Owned by this closure: an early return drops them, which
            // stops the decoder before the scope joins it.
            let (to_decode, decode_rx) = crossbeam_channel::bounded::<Chunk>(2);
            let (to_apply, apply_rx) = crossbeam_channel::bounded::<Decoded>(2);
            std::thread::Builder::new()
                .name("journal-decode".into())
                .spawn_scoped(scope, move || {
                    for (buf, ends) in decode_rx {
                        let decoded: Decoded = (0..ends.len())
                            .into_par_iter()
                            .map(|i| {
                                let start = if i == 0 { 0 } else { ends[i - 1] };
                                codec::decode_stored(&buf[start..ends[i]], &self.records)
                            })
                            .collect();
                        if to_apply.send(decoded).is_err() {
                            return;
                        }
                    }
                })
                .map_err(io("starting the replay decoder"))?;
            let mut in_flight = 0usize;
            let mut apply = |decoded: Decoded| -> Result<(), JournalError> {
                for ev in decoded.map_err(|e| self.undecodable(e))? {
                    f(&Arc::new(ev));
                }
                Ok(())
            };
            let mut buf: Vec<u8> = Vec::with_capacity(REPLAY_CHUNK * 1024);
            let mut ends: Vec<usize> = Vec::with_capacity(REPLAY_CHUNK);
            let mut more = true;
            while more {
                match rows.next().map_err(|e| self.corrupt(e))? {
                    Some(row) => {
                        let bytes = row
                            .get_ref(0)
                            .and_then(|v| v.as_bytes().map_err(Into::into))
                            .map_err(|e| self.corrupt(e))?;
                        buf.extend_from_slice(bytes);
                        ends.push(buf.len());
                        if ends.len() < REPLAY_CHUNK {
                            continue;
                        }
                    }
                    None => more = false,
                }
                if ends.is_empty() {
                    continue;
                }
                let chunk = (
                    std::mem::replace(&mut buf, Vec::with_capacity(REPLAY_CHUNK * 1024)),
                    std::mem::replace(&mut ends, Vec::with_capacity(REPLAY_CHUNK)),
                );
                if to_decode.send(chunk).is_err() {
                    return Err(JournalError::Storage("the replay decoder stopped".into()));
                }
                in_flight += 1;
                // Keep one chunk decoding while the next one is read.
                if in_flight > 1 {
                    let decoded = apply_rx
                        .recv()
                        .map_err(|_| JournalError::Storage("the replay decoder stopped".into()))?;
                    in_flight -= 1;
                    apply(decoded)?;
                }
            }
            drop(to_decode);
            for decoded in apply_rx.iter() {
                apply(decoded)?;
            }
            Ok(())
        })?;
        Ok(max.max(snap))
    }

    fn party_events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, JournalError> {
        let conn = lock(&self.reader);
        // One statement, so the index and the unindexed tail are read from
        // one snapshot: indexed events by their seqs, the rest by a scan of
        // the (short) tail past `indexed_seq`.
        let sql = if self.legacy_index {
            "SELECT json FROM events WHERE party_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        } else {
            "SELECT json FROM (
                 SELECT seq, json FROM events WHERE seq IN
                     (SELECT seq FROM party_index WHERE party_id = ?1 AND seq > ?2)
                 UNION ALL
                 SELECT seq, json FROM events WHERE party_id = ?1 AND seq > max(?2,
                     (SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM meta
                      WHERE key = 'indexed_seq'))
             ) ORDER BY seq LIMIT ?3"
        };
        let mut st = conn.prepare_cached(sql).map_err(|e| self.corrupt(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![party_id, to_i64(since)?, limit], |r| {
                r.get_ref(0)
                    .and_then(|v| v.as_bytes().map_err(Into::into))
                    .map(<[u8]>::to_vec)
            })
            .map_err(|e| self.corrupt(e))?;
        let mut out = Vec::new();
        for row in rows {
            let bytes = row.map_err(|e| self.corrupt(e))?;
            let ev =
                codec::decode_stored(&bytes, &self.records).map_err(|e| self.undecodable(e))?;
            out.push(Arc::new(ev));
        }
        Ok(out)
    }

    fn snapshot_meta(&self) -> Result<Option<SnapshotMeta>, JournalError> {
        self.read_snapshot_meta()
    }

    fn read_snapshots(&self, f: SnapshotVisitor<'_>) -> Result<(), JournalError> {
        self.read_snapshot_rows(f)
    }

    fn read_snapshot(&self, party_id: &str) -> Result<Option<Vec<u8>>, JournalError> {
        self.read_snapshot_row(party_id)
    }

    /// Short transactions; see `snapshot.rs`.
    fn write_snapshot(
        &self,
        meta: &SnapshotMeta,
        rows: &mut dyn Iterator<Item = (String, Vec<u8>)>,
        purge: &[(String, u64)],
    ) -> Result<CompactReport, JournalError> {
        self.write_snapshot_rows(meta, rows, purge)
    }

    fn events_since_snapshot(&self) -> u64 {
        self.since_snapshot.load(Ordering::Relaxed)
    }

    fn fault_of(&self, e: &JournalError) -> StorageFault {
        let mut fault = StorageFault::of(e);
        if fault.kind != FaultKind::Failed {
            return fault;
        }
        // SQLite reports a file system remounted read-only (and some full
        // disks) as "disk I/O error": ask the directory itself.
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if let Err(io) = try_write(dir) {
            fault.kind = FaultKind::of_io(&io);
            fault.message = format!(
                "{}; writing a file in {}: {io}",
                fault.message,
                dir.display()
            );
        }
        fault
    }

    fn probe(&self) -> Result<(), JournalError> {
        // One meta row rewritten with a new value: a committed page in the
        // WAL, as an append would write (a full disk or a read-only file
        // system refuses it the same way).
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite("probing the journal"))?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?1)",
            [crate::event::now_rfc3339()],
        )
        .map_err(sqlite("probing the journal"))?;
        tx.commit().map_err(sqlite("probing the journal"))
    }

    fn stats(&self) -> Option<&JournalStats> {
        Some(&self.stats)
    }

    /// The size of `partybus.db-wal` (0 when SQLite has removed it).
    fn wal_bytes(&self) -> Option<u64> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        match std::fs::metadata(&wal) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(0),
            Err(e) => {
                log::debug!("cannot read the size of {}: {e}", Path::new(&wal).display());
                None
            }
        }
    }

    fn idempotency(&self) -> Option<&dyn IdempotencyStore> {
        self.writer.as_ref().map(|_| self as &dyn IdempotencyStore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Draft, InputAdded, PartyCreated, Payload, SourceType};

    /// Options that reach every boundary within a few events.
    pub(super) const SMALL: SqliteOptions = SqliteOptions {
        index_batch: 4,
        checkpoint_restart_pages: 64,
        wal_size_limit: 128 << 10,
    };

    /// Opens `dir` with [`SMALL`] options.
    pub(super) fn open(dir: &Path, durability: Durability) -> SqliteJournal {
        SqliteJournal::open_with(dir, durability, SMALL).expect("open")
    }

    pub(super) fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "partybus-sqlite-{name}-{}-{}",
            std::process::id(),
            crate::event::new_input_id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    pub(super) fn ev(seq: u64, party: &str) -> Arc<Event> {
        let payload = if seq % 2 == 1 {
            Payload::PartyCreated(PartyCreated {
                forked_from: None,
                created_by: None,
                token_sha256: None,
            })
        } else {
            Payload::InputAdded(InputAdded {
                copied_from: None,
                input_id: format!("inp_{seq}"),
                content: "jungle party".into(),
                source_type: SourceType::Text,
                tags: vec![],
                added_by: "user".into(),
                metadata: Default::default(),
                image_url: None,
            })
        };
        Arc::new(Draft::command(party, "corr_t", payload).stamp(seq, "2026-01-01T00:00:00Z".into()))
    }

    #[test]
    fn commits_are_timed_and_counted_and_the_wal_is_measured() {
        let dir = tmp("stats");
        let j = open(&dir, Durability::Normal);
        let before = j.stats().expect("stats").snapshot();
        assert_eq!(before.commit_nanos.count(), 0);
        j.append(&[ev(1, "a"), ev(2, "a"), ev(3, "b")])
            .expect("append");
        j.append(&[ev(4, "b")]).expect("append");
        let s = j.stats().expect("stats").snapshot();
        assert_eq!(s.commit_nanos.count(), 2);
        assert!(s.commit_nanos.sum > 0);
        assert_eq!((s.group_events.count(), s.group_events.sum), (2, 4));
        // One event fits the first group bucket (<= 1); three the third (<= 4).
        assert_eq!(&s.group_events.cumulative[..3], &[1, 1, 2]);
        assert!(j.wal_bytes().expect("a WAL journal") > 0);
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn appends_replay_and_party_history_survive_reopening() {
        let dir = tmp("roundtrip");
        {
            let j = open(&dir, Durability::Normal);
            j.append(&[ev(1, "a"), ev(2, "a"), ev(3, "b")])
                .expect("append");
            j.append(&[]).expect("empty batch");
            j.append(&[ev(4, "b")]).expect("append");
            assert!(matches!(
                SqliteJournal::open(&dir, Durability::Normal),
                Err(JournalError::Locked(_))
            ));
        }
        let j = open(&dir, Durability::Full);
        let mut seen = Vec::new();
        let last = j.replay(1, &mut |e| seen.push(e.seq)).expect("replay");
        assert_eq!((last, seen), (4, vec![2, 3, 4]));
        let b = j.party_events("b", 3, 10).expect("history");
        assert_eq!(b.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4]);
        assert_eq!(b[0].party_id, "b");
        // A batch that breaks an invariant (a seq already stored) is
        // refused whole: it leaves nothing.
        let dup = j.party_events("a", 1, 1).expect("history").remove(0);
        let same_seq = Arc::new(Event {
            event_id: "evt_000000000001".into(),
            ..(*dup).clone()
        });
        let err = j
            .append(&[ev(6, "c"), same_seq])
            .expect_err("a repeated seq is refused");
        // The error names the event and keeps SQLite's as its source.
        let JournalError::Sqlite { ref source, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert_eq!(
            err.to_string(),
            "journal storage failed: appending event evt_000000000001 seq 2, party.input.added of party a"
        );
        let chain = crate::journal::Chain(&err).to_string();
        assert!(
            chain.contains("of party a: UNIQUE constraint failed: events.seq"),
            "{chain}"
        );
        assert_eq!(j.count_events().expect("count"), 4);
        // Event ids are 48 random bits: a long-lived journal will see two
        // alike, and that must not stop the bus. They are stored.
        let same_id = Arc::new(Event {
            seq: 7,
            ..(*dup).clone()
        });
        j.append(&[ev(6, "c"), same_id])
            .expect("a repeated event id is kept");
        assert_eq!(j.count_events().expect("count"), 6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    pub(super) fn seqs(j: &SqliteJournal, party: &str, since: u64) -> Vec<u64> {
        j.party_events(party, since, 100)
            .expect("history")
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn party_history_spans_the_batched_index_and_its_tail() {
        let dir = tmp("index");
        let j = open(&dir, Durability::Normal);
        // Batches of 3 (the index batch is 4 in SMALL): 1..=6 get indexed,
        // 7..=9 stay in the tail.
        for start in [1, 4, 7] {
            let batch: Vec<_> = (start..start + 3)
                .map(|seq| ev(seq, if seq % 3 == 0 { "b" } else { "a" }))
                .collect();
            j.append(&batch).expect("append");
        }
        assert_eq!(j.indexed_seq.load(Ordering::Relaxed), 6);
        assert_eq!(seqs(&j, "a", 0), vec![1, 2, 4, 5, 7, 8]);
        assert_eq!(seqs(&j, "b", 0), vec![3, 6, 9]);
        assert_eq!(seqs(&j, "a", 4), vec![5, 7, 8]);
        assert_eq!(seqs(&j, "a", 7), vec![8]);
        assert_eq!(
            j.party_events("a", 0, 3).expect("limit").len(),
            3,
            "the limit applies across both parts"
        );
        // A purge reaches tail events too.
        let meta = SnapshotMeta {
            seq: 9,
            events_applied: 9,
            deleted_parties: 1,
        };
        let r = j
            .write_snapshot(&meta, &mut std::iter::empty(), &[("b".to_string(), 9)])
            .expect("purge");
        assert_eq!(r.events_deleted, 3);
        assert!(seqs(&j, "b", 0).is_empty());
        assert_eq!(seqs(&j, "a", 0), vec![1, 2, 4, 5, 7, 8]);
        drop(j);
        let j = open(&dir, Durability::Normal);
        assert_eq!(j.indexed_seq.load(Ordering::Relaxed), 9);
        assert_eq!(seqs(&j, "a", 0), vec![1, 2, 4, 5, 7, 8]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cited_records_are_stored_once_and_checked_against_their_keys() {
        use crate::app::{NewInput, NewParty};
        let dir = tmp("records");
        let plan = |app: &crate::App, id: &str| {
            let ack = app
                .create_party(
                    NewParty {
                        party_id: Some(id.into()),
                        initial_inputs: vec![NewInput {
                            content: "jungle party for 75 guests with a chocolate cake".into(),
                            ..NewInput::default()
                        }],
                        ..NewParty::default()
                    },
                    None,
                )
                .expect("create");
            assert!(app.wait_settled(id, ack.seq, Duration::from_secs(20)));
        };
        let start = || {
            let journal = SqliteJournal::open(&dir, Durability::Normal).expect("open");
            crate::App::start_new(crate::Config {
                journal: Arc::new(journal),
                compact_threshold: None,
                ..crate::Config::default()
            })
            .expect("app")
        };
        let count = |sql: &str| -> i64 {
            let c = Connection::open(dir.join(DB_FILE)).expect("raw");
            c.query_row(sql, [], |r| r.get(0)).expect("count")
        };
        let app = start();
        plan(&app, "a");
        let cited = app.party("a").expect("a");
        app.stop();
        drop(app);
        let records = count("SELECT count(*) FROM records");
        assert!(records >= 6, "venues and bakeries: {records}");
        assert!(count("SELECT count(*) FROM events WHERE json LIKE '%\"record_ref\":%'") >= 2);
        // The same plan again cites the same records: none is added.
        let app = start();
        assert_eq!(app.party("a").expect("replayed"), cited);
        plan(&app, "b");
        app.stop();
        drop(app);
        assert_eq!(count("SELECT count(*) FROM records"), records);
        // A record that is not what its key says is refused on open.
        Connection::open(dir.join(DB_FILE))
            .expect("raw")
            .execute_batch(
                "UPDATE records SET json = replace(json, '\"rating\":', '\"rating\": ') \
                 WHERE rowid = (SELECT min(rowid) FROM records)",
            )
            .expect("tamper");
        let err = SqliteJournal::open(&dir, Durability::Normal)
            .err()
            .expect("refused");
        assert!(
            matches!(err, JournalError::Corrupt { .. }),
            "{}",
            crate::journal::Chain(&err)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
