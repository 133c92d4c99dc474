//! Compaction snapshot storage: the generations of `snapshots` rows, the
//! snapshot's coverage in `meta`, and the purge of deleted parties' events.
//!
//! Owns how a snapshot is written so that a crash at any point leaves the
//! previous one (or the new one, once switched) in force. Must not interpret
//! the blobs, nor decide when to compact or what to purge: that policy is
//! [`crate::recovery`]'s. Writes in short transactions and steps aside for
//! appends between them.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{index_tail, lock, meta_u64, open_reader, sqlite, to_i64, SqliteJournal};
use crate::journal::{CompactReport, JournalError, SnapshotMeta, SnapshotVisitor, RECORDS_ROW};

/// Snapshot rows (or purged parties' deletions) per transaction during
/// compaction: short transactions keep appends flowing meanwhile.
const SNAPSHOT_BATCH: usize = 1_000;
/// Bytes of snapshot rows per transaction, at most (beyond the first row):
/// a few milliseconds of writing, the longest a commit waits on compaction.
const SNAPSHOT_BATCH_BYTES: usize = 1 << 20;
/// The longest a background writer (compaction) waits between two of its
/// transactions for the appends queued behind it to go first.
const STEP_ASIDE_MAX: Duration = Duration::from_millis(100);

impl SqliteJournal {
    /// Waits (at most [`STEP_ASIDE_MAX`]) until no append is queued for the
    /// writing connection: called by background writers between their
    /// transactions, with the connection released.
    fn step_aside(&self) {
        let deadline = Instant::now() + STEP_ASIDE_MAX;
        while self.appends_waiting.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// [`crate::journal::Journal::snapshot_meta`].
    pub(super) fn read_snapshot_meta(&self) -> Result<Option<SnapshotMeta>, JournalError> {
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

    /// [`crate::journal::Journal::read_snapshots`].
    pub(super) fn read_snapshot_rows(&self, f: SnapshotVisitor<'_>) -> Result<(), JournalError> {
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

    /// [`crate::journal::Journal::read_snapshot`].
    pub(super) fn read_snapshot_row(
        &self,
        party_id: &str,
    ) -> Result<Option<Vec<u8>>, JournalError> {
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
    pub(super) fn write_snapshot_rows(
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
                .map_err(sqlite("writing a snapshot"))?
                .unwrap_or(0)
        };
        let generation = to_i64(current + 1)?;
        self.writer()?
            .execute("DELETE FROM snapshots WHERE generation >= ?1", [generation])
            .map_err(sqlite("writing a snapshot"))?;
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
                let text = String::from_utf8(json).map_err(|source| JournalError::Encode {
                    context: format!("snapshot row of party {party} is not UTF-8"),
                    source: Box::new(source),
                })?;
                batch.push((party, text));
            }
            let mut conn = self.writer()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("writing a snapshot"))?;
            {
                let mut st = tx
                    .prepare_cached(
                        "INSERT INTO snapshots (generation, party_id, json) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(sqlite("writing a snapshot"))?;
                for (party, text) in batch.drain(..) {
                    st.execute(params![generation, party, text])
                        .map_err(sqlite("writing a snapshot"))?;
                    if party != RECORDS_ROW {
                        report.parties += 1;
                    }
                }
            }
            tx.commit().map_err(sqlite("writing a snapshot"))?;
            drop(conn);
            self.step_aside();
        }
        {
            let mut conn = self.writer()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("writing a snapshot"))?;
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
                .map_err(sqlite("writing a snapshot"))?;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('compacted_at', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [crate::event::now_rfc3339()],
            )
            .map_err(sqlite("writing a snapshot"))?;
            tx.commit().map_err(sqlite("writing a snapshot"))?;
        }
        loop {
            let n = self
                .writer()?
                .execute(
                    "DELETE FROM snapshots WHERE generation <> ?1 AND party_id IN \
                     (SELECT party_id FROM snapshots WHERE generation <> ?1 LIMIT ?2)",
                    params![generation, SNAPSHOT_BATCH as i64],
                )
                .map_err(sqlite("deleting the previous snapshot"))?;
            if n == 0 {
                break;
            }
            self.step_aside();
        }
        for group in purge.chunks(64) {
            let mut conn = self.writer()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("purging deleted parties' events"))?;
            // Index the tail first: every event to delete is then found
            // through `party_index`.
            let covered = index_tail(&tx, self.indexed_seq.load(Ordering::Relaxed))
                .map_err(sqlite("purging deleted parties' events"))?;
            {
                let mut del = tx
                    .prepare_cached(
                        "DELETE FROM events WHERE seq IN \
                         (SELECT seq FROM party_index WHERE party_id = ?1 AND seq <= ?2)",
                    )
                    .map_err(sqlite("purging deleted parties' events"))?;
                let mut unindex = tx
                    .prepare_cached("DELETE FROM party_index WHERE party_id = ?1 AND seq <= ?2")
                    .map_err(sqlite("purging deleted parties' events"))?;
                for (party, up_to) in group {
                    let up_to = to_i64((*up_to).min(meta.seq))?;
                    report.events_deleted += del
                        .execute(params![party, up_to])
                        .map_err(sqlite("purging deleted parties' events"))?
                        as u64;
                    unindex
                        .execute(params![party, up_to])
                        .map_err(sqlite("purging deleted parties' events"))?;
                }
            }
            tx.commit()
                .map_err(sqlite("purging deleted parties' events"))?;
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
}

#[cfg(test)]
mod tests {
    use crate::journal::sqlite::tests::{ev, open, tmp};
    use crate::journal::{Durability, Journal, SnapshotMeta};

    #[test]
    fn snapshots_replace_and_purge() {
        let dir = tmp("snap");
        let j = open(&dir, Durability::Normal);
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
