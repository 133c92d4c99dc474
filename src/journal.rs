//! The journal: the durable, ordered record of every event, and the source of
//! truth a restart replays.
//!
//! Only the bus dispatcher appends, and only start-up replays. Appends are
//! whole batches (one group commit each); a failed append must leave nothing
//! of its batch visible. [`MemoryJournal`] keeps everything in process (for
//! `--ephemeral`, tests and benches); it survives an `App` restart in the same
//! process but not the process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::event::Event;

/// Why the journal failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The storage failed; nothing of the batch was written.
    #[error("journal storage failed: {0}")]
    Storage(String),
    /// Stored data could not be decoded.
    #[error("journal data is corrupt: {0}")]
    Corrupt(String),
}

/// Durable, ordered event storage.
pub trait Journal: Send + Sync {
    /// Appends a batch atomically, in order.
    fn append(&self, events: &[Arc<Event>]) -> Result<(), JournalError>;

    /// Feeds every stored event, oldest first, to `f`; returns the last `seq` (0 if none).
    fn replay(&self, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError>;

    /// One party's events with `seq > since`, oldest first, at most `limit`.
    fn party_events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, JournalError>;
}

#[derive(Default)]
struct Memory {
    events: Vec<Arc<Event>>,
    by_party: HashMap<String, Vec<u32>>,
}

/// Everything in memory. Retains every event: use [`NullJournal`] for
/// unbounded benchmark runs.
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
        for e in events {
            let idx = u32::try_from(m.events.len())
                .map_err(|_| JournalError::Storage("memory journal is full".into()))?;
            m.events.push(e.clone());
            m.by_party.entry(e.party_id.clone()).or_default().push(idx);
        }
        Ok(())
    }

    fn replay(&self, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
        let m = self.inner.read().unwrap_or_else(|e| e.into_inner());
        for e in &m.events {
            f(e);
        }
        Ok(m.events.last().map_or(0, |e| e.seq))
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

    fn replay(&self, _f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
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
