//! Idempotency records as storage: the [`Stored`] row, the
//! [`IdempotencyStore`] a journal offers ([`super::Journal::idempotency`]),
//! and [`MemoryIdempotency`], the store used when the journal keeps none
//! (`--ephemeral`).
//!
//! Owns how records are kept and how long ([`RETENTION`]). Must not decide
//! what a key means: reserving keys in flight, matching routes and
//! replaying responses is [`crate::idempotency`]'s, which sits on top of
//! this module and is never imported by it.
//!
//! Invariant: a store never returns a record older than [`RETENTION`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::JournalError;

/// Records are kept at least this long, then deleted (the promise is at
/// least 24 h; the slack keeps a record through a day-boundary retry).
pub(crate) const RETENTION: Duration = Duration::from_secs(48 * 3600);

/// Most records [`MemoryIdempotency`] keeps by default: about 100 bytes of
/// key and route plus the response body each, so tens of MB at most; past
/// it the oldest record is dropped (ephemeral mode only).
pub(crate) const MEMORY_CAP: usize = 100_000;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Method and path the key was first used with, e.g. `POST /api/.../party`.
    pub route: String,
    /// Status code.
    pub status: u16,
    /// Body bytes (JSON).
    pub body: Vec<u8>,
    /// Unix seconds when stored.
    pub created_at: u64,
}

/// Where records are kept.
pub trait IdempotencyStore: Send + Sync {
    /// The record for `key`, unless it is older than [`RETENTION`].
    fn get(&self, key: &str) -> Result<Option<Stored>, JournalError>;
    /// Stores (or replaces) the record for `key`.
    fn put(&self, key: &str, stored: &Stored) -> Result<(), JournalError>;

    /// Marks `key` as in flight beyond this process (a cluster's nodes
    /// share it); false if another holder has it. Within one process the
    /// caller already keeps its own keys in flight, so by default: true.
    fn reserve(&self, _key: &str) -> Result<bool, JournalError> {
        Ok(true)
    }

    /// Ends a [`IdempotencyStore::reserve`]; errors are the holder's to
    /// ignore (a reservation also expires by itself).
    fn release(&self, _key: &str) {}
}

/// Records in memory, for `--ephemeral`: at most `cap` of them, the oldest
/// dropped first. Each `put` costs O(1) amortized, however full the store.
pub(crate) struct MemoryIdempotency {
    inner: Mutex<MemoryRecords>,
}

/// The records and their insertion order.
///
/// `order` lists `(key, serial)` oldest first; an entry is live while
/// `records[key]` still carries its serial, and stale once the key was
/// replaced or evicted. Stale entries are skipped when met at the front and
/// swept whenever they outnumber the live ones, so `order` stays below
/// twice the records plus one.
struct MemoryRecords {
    /// The most records kept.
    cap: usize,
    /// Serial of the latest `put`.
    serial: u64,
    /// Record and serial of its `put`, by key.
    records: HashMap<Arc<str>, (u64, Stored)>,
    /// Keys in the order they were stored.
    order: VecDeque<(Arc<str>, u64)>,
}

impl Default for MemoryIdempotency {
    fn default() -> Self {
        MemoryIdempotency::with_cap(MEMORY_CAP)
    }
}

impl MemoryIdempotency {
    /// A store that keeps at most `cap` records (at least one).
    pub(crate) fn with_cap(cap: usize) -> MemoryIdempotency {
        MemoryIdempotency {
            inner: Mutex::new(MemoryRecords {
                cap: cap.max(1),
                serial: 0,
                records: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Records kept (expired ones included until they are dropped).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().records.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryRecords> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryRecords {
    fn is_live(&self, key: &str, serial: u64) -> bool {
        self.records.get(key).is_some_and(|(s, _)| *s == serial)
    }

    /// Drops records from the front of `order` while the store is over its
    /// cap or the oldest record has expired (`created_at < oldest`).
    fn evict(&mut self, oldest: u64) {
        while let Some((key, serial)) = self.order.front() {
            let drop_it = match self.records.get(key) {
                Some((s, stored)) if s == serial => {
                    self.records.len() > self.cap || stored.created_at < oldest
                }
                _ => true, // stale: the key was replaced since
            };
            if !drop_it {
                break;
            }
            if let Some((key, serial)) = self.order.pop_front() {
                if self.is_live(&key, serial) {
                    self.records.remove(&key);
                }
            }
        }
        if self.order.len() > 2 * self.records.len() + 1 {
            let records = &self.records;
            self.order
                .retain(|(k, s)| records.get(k).is_some_and(|(live, _)| live == s));
        }
    }
}

impl IdempotencyStore for MemoryIdempotency {
    fn get(&self, key: &str) -> Result<Option<Stored>, JournalError> {
        let oldest = oldest_kept();
        Ok(self
            .lock()
            .records
            .get(key)
            .map(|(_, s)| s)
            .filter(|s| s.created_at >= oldest)
            .cloned())
    }

    fn put(&self, key: &str, stored: &Stored) -> Result<(), JournalError> {
        let mut m = self.lock();
        m.serial += 1;
        let (serial, key): (u64, Arc<str>) = (m.serial, Arc::from(key));
        m.records.insert(key.clone(), (serial, stored.clone()));
        m.order.push_back((key, serial));
        m.evict(oldest_kept());
        Ok(())
    }
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `created_at` of the oldest record still kept.
pub(crate) fn oldest_kept() -> u64 {
    now_secs().saturating_sub(RETENTION.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(created_at: u64) -> Stored {
        Stored {
            route: "POST /a".into(),
            status: 201,
            body: b"{}".to_vec(),
            created_at,
        }
    }

    #[test]
    fn the_memory_store_stays_bounded_and_evicts_the_oldest() {
        let store = MemoryIdempotency::with_cap(3);
        let now = now_secs();
        for k in ["k1", "k2", "k3"] {
            store.put(k, &stored(now)).expect("put");
        }
        // Replacing a key refreshes it: k1 is now the newest.
        store.put("k1", &stored(now)).expect("put");
        store.put("k4", &stored(now)).expect("put");
        assert_eq!(store.len(), 3);
        assert_eq!(store.get("k2").expect("get"), None, "the oldest goes");
        for k in ["k1", "k3", "k4"] {
            assert!(store.get(k).expect("get").is_some(), "{k} is kept");
        }
        // Many more puts (and replacements) never grow it past the cap,
        // nor its order queue past twice the records.
        for i in 0..10_000 {
            store
                .put(&format!("n{}", i % 50), &stored(now))
                .expect("put");
            let m = store.lock();
            assert!(m.records.len() <= 3);
            assert!(m.order.len() <= 2 * m.records.len() + 1);
        }
        assert!(store.get("n9999").expect("get").is_none());
        assert!(store.get("n49").expect("get").is_some());
        assert!(store.get("n48").expect("get").is_some());
        assert!(store.get("n47").expect("get").is_some());
    }

    #[test]
    fn expired_records_are_not_returned_and_are_dropped_first() {
        let store = MemoryIdempotency::with_cap(10);
        let expired = oldest_kept().saturating_sub(10);
        store.put("old", &stored(expired)).expect("put");
        assert_eq!(store.get("old").expect("get"), None);
        store.put("new", &stored(now_secs())).expect("put");
        assert_eq!(store.len(), 1, "the expired record was dropped");
        assert!(store.get("new").expect("get").is_some());
    }

    #[test]
    fn a_full_default_store_evicts_in_constant_time() {
        // At the default cap every further put evicts one record: 100,000
        // more puts must take about as long as the first 100,000 (the old
        // store scanned every record twice per put once full).
        let store = MemoryIdempotency::default();
        let now = now_secs();
        let began = std::time::Instant::now();
        for i in 0..2 * MEMORY_CAP {
            store.put(&format!("k{i}"), &stored(now)).expect("put");
        }
        assert_eq!(store.len(), MEMORY_CAP);
        assert!(store.get("k0").expect("get").is_none());
        assert!(store
            .get(&format!("k{}", 2 * MEMORY_CAP - 1))
            .expect("get")
            .is_some());
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "{:?}",
            began.elapsed()
        );
    }
}
