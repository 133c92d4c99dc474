//! The journal's file format: the tables, the `application_id` and
//! `user_version` stamp, the checks that refuse a file that is not ours, and
//! the migrations of older schemas.
//!
//! Owns what a `partybus.db` looks like on disk. Must not write to a file
//! before [`check_header`] and [`verify`] accepted it, and must not change
//! what an existing version's tables mean: old data directories keep opening.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rusqlite::Connection;

use super::{meta_u64, sqlite};
use crate::journal::JournalError;

/// `PRAGMA application_id` of a partybus journal: "PBUS".
pub(crate) const APPLICATION_ID: i32 = 0x5042_5553;
/// `PRAGMA user_version`: the schema this code writes and reads. Version 1
/// (an index on `events (party_id, seq)`) is migrated on open. Version 3
/// snapshots cite catalog records by reference (the `#records` row, see
/// [`crate::journal::RECORDS_ROW`]); a version-2 file (records inline, still
/// readable) is stamped 3 on open, so an older build refuses the file
/// rather than meet a snapshot it cannot read. Version 4 events cite
/// catalog records by key, stored once in `records` (see
/// [`crate::catalog::intern`]); a version-2 or -3 file (records inline in
/// every event, still readable) gets the table and is stamped 4 on open.
pub(crate) const SCHEMA_VERSION: i32 = 4;
/// `event_id` is not UNIQUE: ids are `evt_` + 48 random bits (the API's
/// format), so a journal of tens of millions of events holds two alike
/// sooner or later, and a constraint would turn that into a stopped bus.
/// Nothing looks events up by id; `seq` is the key.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    party_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    json       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    key  INTEGER PRIMARY KEY,
    json TEXT NOT NULL
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

/// Checks the first 100 bytes of an existing, non-empty file: the SQLite
/// magic, our `application_id` and a schema we can read. Returns whether
/// the file exists with content (false means "create a new journal").
pub(super) fn check_header(path: &Path) -> Result<bool, JournalError> {
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
pub(super) fn verify(conn: &Connection) -> Result<(), String> {
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

pub(super) fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Brings a version-1 file to the current schema (the per-event index on
/// `events (party_id, seq)` becomes the batched `party_index`), in one
/// transaction, and stamps a version-2 or -3 file (whose events keep their
/// records inline; [`SCHEMA`] added the empty `records` table); returns the
/// `seq` the party index covers.
pub(super) fn migrate(conn: &Connection, path: &Path) -> Result<u64, JournalError> {
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite("reading the schema version"))?;
    if version >= SCHEMA_VERSION {
        return Ok(meta_u64(conn, "indexed_seq")
            .map_err(sqlite("reading the party index's coverage"))?
            .unwrap_or(0));
    }
    if version == 2 || version == 3 {
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(sqlite("stamping the schema version"))?;
        log::info!(
            "{}: stamped schema {SCHEMA_VERSION} (its events and snapshot rows stay readable)",
            path.display()
        );
        return Ok(meta_u64(conn, "indexed_seq")
            .map_err(sqlite("reading the party index's coverage"))?
            .unwrap_or(0));
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
        .map_err(sqlite("reading the schema"))?;
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
    .map_err(|source| JournalError::Sqlite {
        context: format!(
            "{}: migrating schema {version} to {SCHEMA_VERSION}",
            path.display()
        ),
        source,
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
    Ok(meta_u64(conn, "indexed_seq")
        .map_err(sqlite("reading the party index's coverage"))?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::event::Event;
    use crate::journal::sqlite::tests::{ev, open, seqs, tmp};
    use crate::journal::sqlite::{lock, SqliteJournal, DB_FILE};
    use crate::journal::{Durability, Journal};

    #[test]
    fn a_version_1_file_is_migrated_on_open_and_readable_before() {
        let dir = tmp("v1");
        {
            let j = open(&dir, Durability::Normal);
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
        let j = open(&dir, Durability::Normal);
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
            let j = open(&dir, Durability::Normal);
            j.append(&[ev(1, "a"), ev(2, "b"), ev(3, "a"), ev(4, "a"), ev(5, "b")])
                .expect("append");
        }
        let c = Connection::open(dir.join(DB_FILE)).expect("raw");
        c.execute_batch("PRAGMA user_version = 2;")
            .expect("downgrade");
        drop(c);
        let j = open(&dir, Durability::Normal);
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
}
