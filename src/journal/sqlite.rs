//! The durable journal: one SQLite database (`partybus.db`, WAL mode) in the
//! data directory, written through rusqlite with SQLite bundled.
//!
//! Owns the file format: the tables `events`, `party_index`, `snapshots`,
//! `idempotency` and `meta`, the `application_id`/`user_version` stamp, and
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

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::idempotency::{oldest_kept, IdempotencyStore, Stored};
use super::{CompactReport, Durability, Journal, JournalError, SnapshotMeta, SnapshotVisitor};
use crate::event::Event;

/// The database file inside the data directory.
pub const DB_FILE: &str = "partybus.db";
/// The lock file inside the data directory (held while a server runs).
pub const LOCK_FILE: &str = "partybus.lock";
/// `PRAGMA application_id` of a partybus journal: "PBUS".
pub const APPLICATION_ID: i32 = 0x5042_5553;
/// `PRAGMA user_version`: the schema this code writes and reads. Version 1
/// (an index on `events (party_id, seq)`) is migrated on open. Version 3
/// snapshots cite catalog records by reference (the `#records` row, see
/// [`super::RECORDS_ROW`]); a version-2 file (records inline, still
/// readable) is stamped 3 on open, so an older build refuses the file
/// rather than meet a snapshot it cannot read.
pub const SCHEMA_VERSION: i32 = 3;
/// Events appended before the party index catches up, in one batch. The
/// index is written in bulk, sorted by party: an index maintained per event
/// cost one random 4 KiB page per party per group commit, about a third of
/// the journal's write volume (create and add-input load ran 35-55 % faster
/// without it).
#[cfg(not(test))]
const INDEX_BATCH: u64 = 8_192;
#[cfg(test)]
const INDEX_BATCH: u64 = 4;
/// How long a connection waits on a busy database (another reader
/// checkpointing, an operator's sqlite3 shell) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows decoded per parallel chunk during replay: large enough to keep both
/// cores busy, small enough to bound memory (a few MB of JSON).
const REPLAY_CHUNK: usize = 8_192;
/// Snapshot rows (or purged parties' deletions) per transaction during
/// compaction: short transactions keep appends flowing meanwhile.
const SNAPSHOT_BATCH: usize = 1_000;
/// Bytes of snapshot rows per transaction, at most (beyond the first row):
/// a few milliseconds of writing, the longest a commit waits on compaction.
const SNAPSHOT_BATCH_BYTES: usize = 1 << 20;
/// The longest a background writer (compaction) waits between two of its
/// transactions for the appends queued behind it to go first.
const STEP_ASIDE_MAX: Duration = Duration::from_millis(100);
/// Old idempotency records are purged every this many stores.
const IDEMPOTENCY_PURGE_EVERY: u64 = 1_000;

/// `event_id` is not UNIQUE: ids are `evt_` + 48 random bits (the API's
/// format), so a journal of tens of millions of events holds two alike
/// sooner or later, and a constraint would turn that into a stopped bus.
/// Nothing looks events up by id; `seq` is the key.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    party_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    json       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS party_index (
    party_id TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (party_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    generation INTEGER NOT NULL,
    party_id   TEXT NOT NULL,
    json       TEXT NOT NULL,
    PRIMARY KEY (generation, party_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    key        TEXT PRIMARY KEY,
    route      TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

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
    /// The background checkpointer (writers only); stopped on drop.
    _checkpointer: Option<Checkpointer>,
}

/// How often the checkpointer copies the WAL into the database file. Off
/// the commit path: with SQLite's automatic checkpoints, the committing
/// connection (the bus dispatcher) would pay for them.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL size (frames, i.e. pages: 256 MiB) past which the checkpointer
/// starts the WAL over. Under a steady stream of commits a passive
/// checkpoint never copies the last frames, and SQLite reuses the WAL from
/// its start only once one has: without a restart the file grows without
/// bound. A restart holds commits up while it copies the last frames and
/// syncs the database (a few to 50 ms on a busy disk), so it is kept rare.
#[cfg(not(test))]
const CHECKPOINT_RESTART_PAGES: i64 = 65_536;
#[cfg(test)]
const CHECKPOINT_RESTART_PAGES: i64 = 64;
/// Frames left to copy below which the restart is tried.
const CHECKPOINT_RESTART_BACKLOG: i64 = 1_024;
/// How long a restart waits for a commit in progress to end (and for
/// readers to move on, holding commits up meanwhile) before giving up.
const RESTART_WAIT: Duration = Duration::from_millis(10);
/// Passive rounds in a row, at most, to bring the backlog down first.
const CHECKPOINT_CATCH_UP_ROUNDS: usize = 8;
/// The WAL file's size past which a restart also truncates it (SQLite's
/// `journal_size_limit`): a WAL grown past the restart point during a long
/// read (a compaction's replay keeps frames from being copied) gives the
/// space back.
#[cfg(not(test))]
const WAL_SIZE_LIMIT: i64 = 320 << 20;
#[cfg(test)]
const WAL_SIZE_LIMIT: i64 = 128 << 10;

/// The `journal-checkpoint` thread: its own connection runs a passive
/// checkpoint every [`CHECKPOINT_EVERY`], which never blocks the writer.
/// When the WAL has grown past [`CHECKPOINT_RESTART_PAGES`], it catches up
/// with further passive rounds and then restarts the WAL, waiting at most
/// [`RESTART_WAIT`]: a restart that waits (for a long read such as a
/// compaction's replay) holds up every commit meanwhile, so it gives up
/// soon and tries again next round.
struct Checkpointer {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path, durability: Durability) -> Result<Checkpointer, JournalError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(storage)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
        let sync = if durability == Durability::Full {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))
            .map_err(storage)?;
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let name = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn(move || loop {
                let last = !matches!(
                    rx.recv_timeout(CHECKPOINT_EVERY),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout)
                );
                if last {
                    if let Err(e) = checkpoint(&conn, "TRUNCATE") {
                        log::warn!("{name}: checkpoint failed: {e}");
                    }
                    return;
                }
                if let Err(e) = checkpoint_round(&conn) {
                    log::warn!("{name}: checkpoint failed: {e}");
                }
            })
            .map_err(storage)?;
        Ok(Checkpointer {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
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

/// Runs `PRAGMA wal_checkpoint(mode)`: (busy, frames in the WAL, frames
/// copied to the database).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(bool, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

/// One turn of the checkpointer (see [`Checkpointer`]).
fn checkpoint_round(conn: &Connection) -> rusqlite::Result<()> {
    let (_, mut wal, mut copied) = checkpoint(conn, "PASSIVE")?;
    if wal <= CHECKPOINT_RESTART_PAGES {
        return Ok(());
    }
    for _ in 0..CHECKPOINT_CATCH_UP_ROUNDS {
        if wal - copied <= CHECKPOINT_RESTART_BACKLOG {
            break;
        }
        (_, wal, copied) = checkpoint(conn, "PASSIVE")?;
    }
    if wal - copied > CHECKPOINT_RESTART_BACKLOG {
        // A reader holds old frames (or commits outpace copying): later.
        return Ok(());
    }
    conn.busy_timeout(RESTART_WAIT)?;
    let restarted = checkpoint(conn, "RESTART");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    match restarted {
        Ok((true, _, _)) => log::debug!("WAL not restarted: in use"),
        Ok(_) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            log::debug!("WAL not restarted: {e}");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("the journal checkpointer panicked");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn storage(e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage(e.to_string())
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
        std::fs::create_dir_all(dir).map_err(|e| {
            storage(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
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
        conn.busy_handler(Some(writer_busy)).map_err(storage)?;
        if existed {
            verify(&conn).map_err(foreign)?;
        } else {
            // Stamp the file before anything else, outside WAL, so the main
            // file's header carries our id from the first byte on disk.
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(storage)?;
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(storage)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(storage(format!(
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
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
        ))
        .map_err(storage)?;
        conn.execute_batch(SCHEMA).map_err(storage)?;
        let indexed = migrate(&conn, &path)?;
        if !existed {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?1), ('created_by', ?2)",
                params![crate::event::now_rfc3339(), concat!("partybus ", env!("CARGO_PKG_VERSION"))],
            )
            .map_err(storage)?;
        }
        let reader = open_reader(&path)?;
        let checkpointer = Checkpointer::start(&path, durability)?;
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
            _checkpointer: Some(checkpointer),
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
        let legacy_index = !has_table(&reader, "party_index").map_err(storage)?;
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
            _checkpointer: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> Result<MutexGuard<'_, Connection>, JournalError> {
        self.writer
            .as_ref()
            .map(lock)
            .ok_or_else(|| storage(format!("{} is open read-only", self.path.display())))
    }

    /// Waits (at most [`STEP_ASIDE_MAX`]) until no append is queued for the
    /// writing connection: called by background writers between their
    /// transactions, with the connection released.
    fn step_aside(&self) {
        let deadline = Instant::now() + STEP_ASIDE_MAX;
        while self.appends_waiting.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> JournalError {
        JournalError::Corrupt(format!("{}: {e}", self.path.display()))
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
    let conn = Connection::open(&path)
        .map_err(|e| storage(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::ZERO).map_err(storage)?;
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
        Err(e) => Err(storage(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// Checks the first 100 bytes of an existing, non-empty file: the SQLite
/// magic, our `application_id` and a schema we can read. Returns whether
/// the file exists with content (false means "create a new journal").
fn check_header(path: &Path) -> Result<bool, JournalError> {
    let foreign = |reason: String| JournalError::Foreign {
        path: path.display().to_string(),
        reason,
    };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(foreign(format!("cannot read: {e}"))),
    };
    let mut head = Vec::with_capacity(100);
    f.by_ref()
        .take(100)
        .read_to_end(&mut head)
        .map_err(|e| foreign(format!("cannot read: {e}")))?;
    if head.is_empty() {
        return Ok(false);
    }
    if head.len() < 100 || &head[..16] != b"SQLite format 3\0" {
        return Err(foreign("not an SQLite database".into()));
    }
    let be = |at: usize| i32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let app = be(68);
    if app != APPLICATION_ID {
        return Err(foreign(format!(
            "an SQLite database that is not a partybus journal (application_id {app:#x}, expected {APPLICATION_ID:#x})"
        )));
    }
    let version = be(60);
    if version > SCHEMA_VERSION {
        return Err(foreign(format!(
            "written by a newer partybus (schema {version}; this build reads up to {SCHEMA_VERSION})"
        )));
    }
    Ok(true)
}

/// Checks an open connection to an existing file: readable, ours, tables present.
fn verify(conn: &Connection) -> Result<(), String> {
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| format!("unreadable ({e})"))?;
    if app != APPLICATION_ID {
        return Err(format!("not a partybus journal (application_id {app:#x})"));
    }
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('events', 'meta')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| format!("unreadable ({e})"))?;
    if tables != 2 {
        return Err("a partybus stamp without partybus tables (damaged?)".into());
    }
    Ok(())
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
    conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
    // Bigger cache and memory-mapped reads make replay mostly memcpy.
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824;")
        .map_err(storage)?;
    Ok(conn)
}

fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Brings a version-1 file to the current schema (the per-event index on
/// `events (party_id, seq)` becomes the batched `party_index`), in one
/// transaction, and stamps a version-2 file; returns the `seq` the party
/// index covers.
fn migrate(conn: &Connection, path: &Path) -> Result<u64, JournalError> {
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage)?;
    if version >= SCHEMA_VERSION {
        return Ok(meta_u64(conn, "indexed_seq").map_err(storage)?.unwrap_or(0));
    }
    if version == 2 {
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(storage)?;
        log::info!(
            "{}: stamped schema {SCHEMA_VERSION} (its snapshot rows stay readable)",
            path.display()
        );
        return Ok(meta_u64(conn, "indexed_seq").map_err(storage)?.unwrap_or(0));
    }
    let began = std::time::Instant::now();
    // Files written before 27 Nov 2026 declared `event_id ... UNIQUE`: a
    // repeated random id would stop the bus. Such a table is rebuilt
    // without the constraint (a full copy, once).
    let unique_ids: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_index_list('events') WHERE \"unique\" = 1",
            [],
            |r| r.get(0),
        )
        .map_err(storage)?;
    let rebuild = if unique_ids > 0 {
        "CREATE TABLE events_v2 (
             seq        INTEGER PRIMARY KEY,
             party_id   TEXT NOT NULL,
             event_type TEXT NOT NULL,
             event_id   TEXT NOT NULL,
             timestamp  TEXT NOT NULL,
             json       TEXT NOT NULL
         );
         INSERT INTO events_v2 SELECT seq, party_id, event_type, event_id, timestamp, json
             FROM events ORDER BY seq;
         DROP TABLE events;
         ALTER TABLE events_v2 RENAME TO events;"
    } else {
        ""
    };
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         {rebuild}
         INSERT OR IGNORE INTO party_index (party_id, seq)
             SELECT party_id, seq FROM events ORDER BY party_id, seq;
         INSERT OR REPLACE INTO meta (key, value)
             SELECT 'indexed_seq', coalesce(max(seq), 0) FROM events;
         DROP INDEX IF EXISTS events_party_seq;
         PRAGMA user_version = {SCHEMA_VERSION};
         COMMIT;"
    ))
    .map_err(|e| {
        storage(format!(
            "{}: migrating schema {version} to {SCHEMA_VERSION}: {e}",
            path.display()
        ))
    })?;
    log::info!(
        "{}: migrated the journal from schema {version} to {SCHEMA_VERSION}{} in {:?}",
        path.display(),
        if unique_ids > 0 {
            " (events table rebuilt without the UNIQUE event_id)"
        } else {
            ""
        },
        began.elapsed()
    );
    Ok(meta_u64(conn, "indexed_seq").map_err(storage)?.unwrap_or(0))
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
            .map(|e| serde_json::to_string(&**e))
            .collect::<Result<_, _>>()
            .map_err(storage)?;
        self.append_encoded(events, &json)
    }

    fn stores_json(&self) -> bool {
        true
    }

    fn append_encoded(&self, events: &[Arc<Event>], json: &[String]) -> Result<(), JournalError> {
        if json.len() != events.len() {
            return Err(storage(format!(
                "{} events came with {} JSON texts",
                events.len(),
                json.len()
            )));
        }
        self.appends_waiting.fetch_add(1, Ordering::AcqRel);
        let conn = self.writer();
        self.appends_waiting.fetch_sub(1, Ordering::AcqRel);
        let mut conn = conn?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO events (seq, party_id, event_type, event_id, timestamp, json) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(storage)?;
            for (e, json) in events.iter().zip(json) {
                st.execute(params![
                    to_i64(e.seq)?,
                    e.party_id,
                    e.topic().as_str(),
                    e.event_id,
                    e.timestamp,
                    json
                ])
                .map_err(|err| {
                    // Name the event: a constraint failure stops the bus,
                    // and the operator needs to know which one it was.
                    storage(format!(
                        "{err} (event {} seq {}, {} of party {})",
                        e.event_id,
                        e.seq,
                        e.topic().as_str(),
                        e.party_id
                    ))
                })?;
            }
        }
        let indexed = self.indexed_seq.load(Ordering::Relaxed);
        let last = events.last().map_or(0, |e| e.seq);
        let reindexed = if last.saturating_sub(indexed) >= INDEX_BATCH {
            Some(index_tail(&tx, indexed).map_err(storage)?)
        } else {
            None
        };
        tx.commit().map_err(storage)?;
        if let Some(covered) = reindexed {
            self.indexed_seq.store(covered, Ordering::Relaxed);
        }
        self.since_snapshot
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(())
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
                                super::codec::decode(&buf[start..ends[i]])
                            })
                            .collect();
                        if to_apply.send(decoded).is_err() {
                            return;
                        }
                    }
                })
                .map_err(storage)?;
            let mut in_flight = 0usize;
            let mut apply = |decoded: Decoded| -> Result<(), JournalError> {
                for ev in decoded.map_err(|e| self.corrupt(format!("undecodable event: {e}")))? {
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
                    return Err(storage("the replay decoder stopped"));
                }
                in_flight += 1;
                // Keep one chunk decoding while the next one is read.
                if in_flight > 1 {
                    let decoded = apply_rx
                        .recv()
                        .map_err(|_| storage("the replay decoder stopped"))?;
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
            let ev = super::codec::decode(&bytes)
                .map_err(|e| self.corrupt(format!("undecodable event: {e}")))?;
            out.push(Arc::new(ev));
        }
        Ok(out)
    }

    fn snapshot_meta(&self) -> Result<Option<SnapshotMeta>, JournalError> {
        let conn = lock(&self.reader);
        let get = |k: &str| meta_u64(&conn, k).map_err(|e| self.corrupt(e));
        let Some(seq) = get("snapshot_seq")? else {
            return Ok(None);
        };
        Ok(Some(SnapshotMeta {
            seq,
            events_applied: get("events_applied")?.unwrap_or(0),
            deleted_parties: get("deleted_parties")?.unwrap_or(0),
        }))
    }

    fn read_snapshots(&self, f: SnapshotVisitor<'_>) -> Result<(), JournalError> {
        let conn = open_reader(&self.path)?;
        let generation = meta_u64(&conn, "snapshot_generation")
            .map_err(|e| self.corrupt(e))?
            .unwrap_or(0);
        let mut st = conn
            .prepare("SELECT party_id, json FROM snapshots WHERE generation = ?1 ORDER BY party_id")
            .map_err(|e| self.corrupt(e))?;
        let mut rows = st
            .query([to_i64(generation)?])
            .map_err(|e| self.corrupt(e))?;
        while let Some(row) = rows.next().map_err(|e| self.corrupt(e))? {
            let party = row
                .get_ref(0)
                .and_then(|v| v.as_str().map_err(Into::into))
                .map_err(|e| self.corrupt(e))?;
            let json = row
                .get_ref(1)
                .and_then(|v| v.as_bytes().map_err(Into::into))
                .map_err(|e| self.corrupt(e))?;
            f(party, json)?;
        }
        Ok(())
    }

    fn read_snapshot(&self, party_id: &str) -> Result<Option<Vec<u8>>, JournalError> {
        let conn = lock(&self.reader);
        conn.query_row(
            "SELECT json FROM snapshots WHERE party_id = ?1 AND generation = \
             (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'snapshot_generation')",
            [party_id],
            |r| {
                r.get_ref(0)
                    .and_then(|v| v.as_bytes().map_err(Into::into))
                    .map(<[u8]>::to_vec)
            },
        )
        .optional()
        .map_err(|e| self.corrupt(e))
    }

    /// Writes the new generation in short transactions of 1,000 rows (appends go on between them), switches to it
    /// in one small transaction, then deletes the old generation and the
    /// purged events, again in short transactions. A crash at any point
    /// leaves the previous snapshot in force (or the new one, once switched),
    /// and the next compaction removes the leftovers.
    fn write_snapshot(
        &self,
        meta: &SnapshotMeta,
        rows: &mut dyn Iterator<Item = (String, Vec<u8>)>,
        purge: &[(String, u64)],
    ) -> Result<CompactReport, JournalError> {
        let mut report = CompactReport {
            seq: meta.seq,
            ..CompactReport::default()
        };
        let current = {
            let conn = self.writer()?;
            meta_u64(&conn, "snapshot_generation")
                .map_err(storage)?
                .unwrap_or(0)
        };
        let generation = to_i64(current + 1)?;
        self.writer()?
            .execute("DELETE FROM snapshots WHERE generation >= ?1", [generation])
            .map_err(storage)?;
        let mut rows = rows.peekable();
        let mut batch = Vec::new();
        while rows.peek().is_some() {
            // The batch is taken from the iterator (which may encode) before
            // the writing connection is.
            let mut bytes = 0;
            while batch.len() < SNAPSHOT_BATCH && (batch.is_empty() || bytes < SNAPSHOT_BATCH_BYTES)
            {
                let Some((party, json)) = rows.next() else {
                    break;
                };
                bytes += json.len();
                batch.push((party, String::from_utf8(json).map_err(storage)?));
            }
            let mut conn = self.writer()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO snapshots (generation, party_id, json) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(storage)?;
                for (party, text) in batch.drain(..) {
                    st.execute(params![generation, party, text])
                        .map_err(storage)?;
                    if party != super::RECORDS_ROW {
                        report.parties += 1;
                    }
                }
            }
            tx.commit().map_err(storage)?;
            drop(conn);
            self.step_aside();
        }
        {
            let mut conn = self.writer()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            for (k, v) in [
                ("snapshot_seq", meta.seq),
                ("events_applied", meta.events_applied),
                ("deleted_parties", meta.deleted_parties),
                ("snapshot_generation", current + 1),
            ] {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![k, v.to_string()],
                )
                .map_err(storage)?;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('compacted_at', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [crate::event::now_rfc3339()],
            )
            .map_err(storage)?;
            tx.commit().map_err(storage)?;
        }
        loop {
            let n = self
                .writer()?
                .execute(
                    "DELETE FROM snapshots WHERE generation <> ?1 AND party_id IN \
                     (SELECT party_id FROM snapshots WHERE generation <> ?1 LIMIT ?2)",
                    params![generation, SNAPSHOT_BATCH as i64],
                )
                .map_err(storage)?;
            if n == 0 {
                break;
            }
            self.step_aside();
        }
        for group in purge.chunks(64) {
            let mut conn = self.writer()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            // Index the tail first: every event to delete is then found
            // through `party_index`.
            let covered =
                index_tail(&tx, self.indexed_seq.load(Ordering::Relaxed)).map_err(storage)?;
            {
                let mut del = tx
                    .prepare_cached(
                        "DELETE FROM events WHERE seq IN \
                         (SELECT seq FROM party_index WHERE party_id = ?1 AND seq <= ?2)",
                    )
                    .map_err(storage)?;
                let mut unindex = tx
                    .prepare_cached("DELETE FROM party_index WHERE party_id = ?1 AND seq <= ?2")
                    .map_err(storage)?;
                for (party, up_to) in group {
                    let up_to = to_i64((*up_to).min(meta.seq))?;
                    report.events_deleted +=
                        del.execute(params![party, up_to]).map_err(storage)? as u64;
                    unindex.execute(params![party, up_to]).map_err(storage)?;
                }
            }
            tx.commit().map_err(storage)?;
            self.indexed_seq.store(covered, Ordering::Relaxed);
            drop(conn);
            self.step_aside();
        }
        let (max, _) = self.max_and_snapshot_seq()?;
        self.since_snapshot
            .store(max.saturating_sub(meta.seq), Ordering::Relaxed);
        report.events_kept = self.count_events()?;
        Ok(report)
    }

    fn events_since_snapshot(&self) -> u64 {
        self.since_snapshot.load(Ordering::Relaxed)
    }

    fn idempotency(&self) -> Option<&dyn IdempotencyStore> {
        self.writer.as_ref().map(|_| self as &dyn IdempotencyStore)
    }
}

impl IdempotencyStore for SqliteJournal {
    fn get(&self, key: &str) -> Result<Option<Stored>, JournalError> {
        let conn = lock(&self.reader);
        let oldest = oldest_kept();
        conn.query_row(
            "SELECT route, status, body, created_at FROM idempotency WHERE key = ?1 AND created_at >= ?2",
            params![key, to_i64(oldest)?],
            |r| {
                Ok(Stored {
                    route: r.get(0)?,
                    status: u16::try_from(r.get::<_, i64>(1)?).unwrap_or(500),
                    body: r.get(2)?,
                    created_at: to_u64(r.get(3)?),
                })
            },
        )
        .optional()
        .map_err(|e| self.corrupt(e))
    }

    fn put(&self, key: &str, stored: &Stored) -> Result<(), JournalError> {
        let conn = self.writer()?;
        conn.execute(
            "INSERT INTO idempotency (key, route, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (key) DO UPDATE SET route = excluded.route, status = excluded.status, \
             body = excluded.body, created_at = excluded.created_at",
            params![
                key,
                stored.route,
                i64::from(stored.status),
                stored.body,
                to_i64(stored.created_at)?
            ],
        )
        .map_err(storage)?;
        if self.idem_puts.fetch_add(1, Ordering::Relaxed) + 1 >= IDEMPOTENCY_PURGE_EVERY {
            self.idem_puts.store(0, Ordering::Relaxed);
            let oldest = oldest_kept();
            let n = conn
                .execute(
                    "DELETE FROM idempotency WHERE created_at < ?1",
                    [to_i64(oldest)?],
                )
                .map_err(storage)?;
            if n > 0 {
                log::debug!("purged {n} expired idempotency keys");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Draft, InputAdded, PartyCreated, Payload, SourceType};

    #[test]
    fn the_wal_starts_over_while_appends_keep_coming() {
        // Commits keep coming, so a passive checkpoint alone never copies
        // the last frame and the WAL would only grow; the checkpointer must
        // restart it (and the size limit then shrinks the file).
        let dir = tmp("walrestart");
        let j = SqliteJournal::open(&dir, Durability::Normal).expect("open");
        let wal = dir.join(format!("{DB_FILE}-wal"));
        let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        let over = (CHECKPOINT_RESTART_PAGES as u64) * 4096;
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut seq, mut grew, mut shrank) = (0, false, false);
        while !shrank && Instant::now() < deadline && size() < 64 << 20 {
            seq += 1;
            j.append(&[ev(seq, "a")]).expect("append");
            // Paces the commits as a busy bus does (a group commit every few
            // hundred microseconds), leaving the gaps a restart needs.
            std::thread::sleep(Duration::from_micros(200));
            grew |= size() > over;
            shrank = grew && size() <= WAL_SIZE_LIMIT as u64;
        }
        assert!(shrank, "WAL at {} bytes after {seq} commits", size());
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "partybus-sqlite-{name}-{}-{}",
            std::process::id(),
            crate::event::new_input_id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn ev(seq: u64, party: &str) -> Arc<Event> {
        let payload = if seq % 2 == 1 {
            Payload::PartyCreated(PartyCreated {
                created_by: None,
                token_sha256: None,
            })
        } else {
            Payload::InputAdded(InputAdded {
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
    fn appends_replay_and_party_history_survive_reopening() {
        let dir = tmp("roundtrip");
        {
            let j = SqliteJournal::open(&dir, Durability::Normal).expect("open");
            j.append(&[ev(1, "a"), ev(2, "a"), ev(3, "b")])
                .expect("append");
            j.append(&[]).expect("empty batch");
            j.append(&[ev(4, "b")]).expect("append");
            assert!(matches!(
                SqliteJournal::open(&dir, Durability::Normal),
                Err(JournalError::Locked(_))
            ));
        }
        let j = SqliteJournal::open(&dir, Durability::Full).expect("reopen");
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
        assert!(j.append(&[ev(6, "c"), same_seq]).is_err());
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

    fn seqs(j: &SqliteJournal, party: &str, since: u64) -> Vec<u64> {
        j.party_events(party, since, 100)
            .expect("history")
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn party_history_spans_the_batched_index_and_its_tail() {
        let dir = tmp("index");
        let j = SqliteJournal::open(&dir, Durability::Normal).expect("open");
        // Batches of 3 (INDEX_BATCH is 4 under test): 1..=6 get indexed,
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
        let j = SqliteJournal::open(&dir, Durability::Normal).expect("reopen");
        assert_eq!(j.indexed_seq.load(Ordering::Relaxed), 9);
        assert_eq!(seqs(&j, "a", 0), vec![1, 2, 4, 5, 7, 8]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_version_1_file_is_migrated_on_open_and_readable_before() {
        let dir = tmp("v1");
        {
            let j = SqliteJournal::open(&dir, Durability::Normal).expect("open");
            j.append(&[ev(1, "a"), ev(2, "a"), ev(3, "b")])
                .expect("append");
        }
        // Turn it into what version 1 wrote: its first releases declared
        // `event_id` UNIQUE.
        {
            let c = Connection::open(dir.join(DB_FILE)).expect("raw");
            c.execute_batch(
                "DROP TABLE party_index; DELETE FROM meta WHERE key = 'indexed_seq';
                 CREATE TABLE v1 (seq INTEGER PRIMARY KEY, party_id TEXT NOT NULL,
                     event_type TEXT NOT NULL, event_id TEXT NOT NULL UNIQUE,
                     timestamp TEXT NOT NULL, json TEXT NOT NULL);
                 INSERT INTO v1 SELECT * FROM events; DROP TABLE events;
                 ALTER TABLE v1 RENAME TO events;
                 CREATE INDEX events_party_seq ON events (party_id, seq);
                 PRAGMA user_version = 1;",
            )
            .expect("downgrade");
        }
        let old = SqliteJournal::open_read_only(&dir).expect("read-only v1");
        assert_eq!(seqs(&old, "a", 0), vec![1, 2]);
        drop(old);
        let j = SqliteJournal::open(&dir, Durability::Normal).expect("migrate");
        assert_eq!(j.indexed_seq.load(Ordering::Relaxed), 3);
        assert_eq!(seqs(&j, "a", 0), vec![1, 2]);
        j.append(&[ev(4, "a")]).expect("append");
        assert_eq!(seqs(&j, "a", 1), vec![2, 4]);
        // A repeated event id no longer stops the bus.
        let again = Arc::new(Event {
            seq: 5,
            ..(*j.party_events("a", 0, 1).expect("first").remove(0)).clone()
        });
        j.append(&[again]).expect("a repeated id is stored");
        let mut all = Vec::new();
        j.replay(0, &mut |e| all.push(e.seq)).expect("replay");
        assert_eq!(all, vec![1, 2, 3, 4, 5]);
        let c = lock(&j.reader);
        let version: i32 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let old_index: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'events_party_seq'",
                [],
                |r| r.get(0),
            )
            .expect("index");
        assert_eq!(old_index, 0);
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_version_2_file_is_stamped_and_keeps_its_index() {
        let dir = tmp("v2");
        {
            let j = SqliteJournal::open(&dir, Durability::Normal).expect("open");
            j.append(&[ev(1, "a"), ev(2, "b"), ev(3, "a"), ev(4, "a"), ev(5, "b")])
                .expect("append");
        }
        let c = Connection::open(dir.join(DB_FILE)).expect("raw");
        c.execute_batch("PRAGMA user_version = 2;")
            .expect("downgrade");
        drop(c);
        let j = SqliteJournal::open(&dir, Durability::Normal).expect("stamp");
        assert_eq!(j.indexed_seq.load(Ordering::Relaxed), 5);
        assert_eq!(seqs(&j, "a", 0), vec![1, 3, 4]);
        let version: i32 = lock(&j.reader)
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn foreign_files_are_refused_untouched() {
        let dir = tmp("foreign");
        std::fs::create_dir_all(&dir).expect("dir");
        let db = dir.join(DB_FILE);
        std::fs::write(&db, b"hello, not a database at all").expect("write");
        let err = SqliteJournal::open(&dir, Durability::Normal)
            .err()
            .expect("refused");
        assert!(err.to_string().contains(DB_FILE), "{err}");
        assert_eq!(
            std::fs::read(&db).expect("read"),
            b"hello, not a database at all"
        );
        // Another application's SQLite database.
        std::fs::remove_file(&db).expect("rm");
        {
            let c = Connection::open(&db).expect("sqlite");
            c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                .expect("foreign db");
        }
        let before = std::fs::read(&db).expect("read");
        let err = SqliteJournal::open(&dir, Durability::Normal)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("not a partybus journal"), "{err}");
        assert_eq!(std::fs::read(&db).expect("read"), before);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snapshots_replace_and_purge() {
        let dir = tmp("snap");
        let j = SqliteJournal::open(&dir, Durability::Normal).expect("open");
        j.append(&[ev(1, "a"), ev(2, "a"), ev(3, "gone"), ev(4, "gone")])
            .expect("append");
        let meta = SnapshotMeta {
            seq: 4,
            events_applied: 4,
            deleted_parties: 1,
        };
        let rows = vec![("a".to_string(), b"{}".to_vec())];
        let r = j
            .write_snapshot(&meta, &mut rows.into_iter(), &[("gone".to_string(), 4)])
            .expect("snapshot");
        assert_eq!((r.parties, r.events_deleted, r.events_kept), (1, 2, 2));
        assert_eq!(j.snapshot_meta().expect("meta"), Some(meta));
        assert_eq!(j.read_snapshot("a").expect("row"), Some(b"{}".to_vec()));
        assert_eq!(j.events_since_snapshot(), 0);
        assert!(j.party_events("gone", 0, 10).expect("history").is_empty());
        // The highest seq survives the purge of the newest events.
        assert_eq!(j.replay(4, &mut |_| {}).expect("replay"), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
