//! Idempotency record rows: the `idempotency` table behind
//! [`IdempotencyStore`], and the purge of expired rows.
//!
//! Owns storing, reading and expiring rows. Must not decide what a key means
//! (that is [`crate::idempotency`]'s, on top); reads go through the reading
//! connection, stores through the writing one like any commit.

use std::sync::atomic::Ordering;

use rusqlite::{params, OptionalExtension};

use super::{lock, sqlite, to_i64, to_u64, SqliteJournal};
use crate::journal::idempotency::{oldest_kept, IdempotencyStore, Stored};
use crate::journal::JournalError;

/// Old idempotency records are purged every this many stores.
pub(super) const IDEMPOTENCY_PURGE_EVERY: u64 = 1_000;

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
        .map_err(sqlite("storing an idempotency record"))?;
        if self.idem_puts.fetch_add(1, Ordering::Relaxed) + 1 >= IDEMPOTENCY_PURGE_EVERY {
            self.idem_puts.store(0, Ordering::Relaxed);
            let oldest = oldest_kept();
            let n = conn
                .execute(
                    "DELETE FROM idempotency WHERE created_at < ?1",
                    [to_i64(oldest)?],
                )
                .map_err(sqlite("purging expired idempotency records"))?;
            if n > 0 {
                log::debug!("purged {n} expired idempotency keys");
            }
        }
        Ok(())
    }
}
