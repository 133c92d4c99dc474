//! Idempotency keys: a client that retries a POST with the same
//! `Idempotency-Key` gets the original response (status and body) and
//! nothing new happens.
//!
//! Owns the policy: the keys in flight, the route a key is bound to, and
//! which response is replayed. The records themselves are storage, kept by
//! the journal ([`crate::journal::idempotency`]): in its database when it
//! keeps one ([`crate::journal::Journal::idempotency`]), in memory otherwise
//! (`--ephemeral`); they live at least 24 hours (see
//! [`crate::journal::idempotency::RETENTION`]). This module depends on the
//! journal, never the other way round. Knows nothing of HTTP beyond a status
//! code and body bytes.
//!
//! In a cluster the records and the keys in flight are in Redis, so a
//! retry sent to another node is answered the same way.
//!
//! Limits of the promise: the record is stored right after the command is
//! acknowledged, in its own commit; a crash in the microseconds between the
//! command's commit and the record's lets a retry run the command again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::journal::idempotency::now_secs;
use crate::journal::{Journal, JournalError};

pub(crate) use crate::journal::idempotency::{IdempotencyStore, MemoryIdempotency, Stored};

/// Longest key accepted (a UUID is 36).
pub(crate) const MAX_KEY_LEN: usize = 255;

/// What to do with a request that carries a key.
pub enum Begin<'a> {
    /// Answer with the stored response.
    Replay(Stored),
    /// A request with this key is being handled right now.
    InProgress,
    /// The key was used with another route (which is returned).
    Mismatch(String),
    /// First use: handle the request, then [`Pending::finish`].
    Proceed(Pending<'a>),
}

/// A key being handled; dropping it without `finish` releases the key so a
/// retry may run.
pub struct Pending<'a> {
    owner: &'a Idempotency,
    key: String,
    route: String,
    /// Whether the store reserved the key (and must release it).
    reserved: bool,
}

impl Pending<'_> {
    /// Stores the response for later retries.
    pub fn finish(self, status: u16, body: &[u8]) -> Result<(), JournalError> {
        let stored = Stored {
            route: self.route.clone(),
            status,
            body: body.to_vec(),
            created_at: now_secs(),
        };
        self.owner.store().put(&self.key, &stored)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.reserved {
            self.owner.store().release(&self.key);
        }
        self.owner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// The idempotency front: the store plus the keys in flight.
pub struct Idempotency {
    journal: Arc<dyn Journal>,
    memory: MemoryIdempotency,
    in_flight: Mutex<HashSet<String>>,
}

impl Idempotency {
    /// Keeps records in `journal` when it can, else in memory.
    pub fn new(journal: Arc<dyn Journal>) -> Idempotency {
        Idempotency {
            journal,
            memory: MemoryIdempotency::default(),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    fn store(&self) -> &dyn IdempotencyStore {
        match self.journal.idempotency() {
            Some(s) => s,
            None => &self.memory,
        }
    }

    /// Looks the key up for `route` and, on first use, reserves it.
    pub fn begin(&self, key: &str, route: &str) -> Result<Begin<'_>, JournalError> {
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string())
        {
            return Ok(Begin::InProgress);
        }
        let mut pending = Pending {
            owner: self,
            key: key.to_string(),
            route: route.to_string(),
            reserved: false,
        };
        // Another cluster node handling the same key right now.
        if !self.store().reserve(key)? {
            return Ok(Begin::InProgress);
        }
        pending.reserved = true;
        match self.store().get(key)? {
            Some(s) if s.route == route => Ok(Begin::Replay(s)),
            Some(s) => Ok(Begin::Mismatch(s.route)),
            None => Ok(Begin::Proceed(pending)),
        }
    }
}

/// Whether a key is acceptable: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::MemoryJournal;

    #[test]
    fn first_use_proceeds_then_replays_and_checks_the_route() {
        let idem = Idempotency::new(Arc::new(MemoryJournal::new()));
        let Ok(Begin::Proceed(p)) = idem.begin("k1", "POST /a") else {
            panic!("first use proceeds");
        };
        assert!(matches!(idem.begin("k1", "POST /a"), Ok(Begin::InProgress)));
        p.finish(201, b"{\"x\":1}").expect("store");
        match idem.begin("k1", "POST /a") {
            Ok(Begin::Replay(s)) => assert_eq!((s.status, s.body), (201, b"{\"x\":1}".to_vec())),
            _ => panic!("replays"),
        }
        assert!(matches!(idem.begin("k1", "POST /b"), Ok(Begin::Mismatch(r)) if r == "POST /a"));
        // A dropped (failed) attempt releases the key.
        let Ok(Begin::Proceed(p)) = idem.begin("k2", "POST /a") else {
            panic!("proceeds");
        };
        drop(p);
        assert!(matches!(idem.begin("k2", "POST /a"), Ok(Begin::Proceed(_))));
    }

    #[test]
    fn keys_are_validated() {
        assert!(valid_key("4f1c2a9e-6a5b-4c1d-9e8f-0a1b2c3d4e5f"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"x".repeat(256)));
    }
}
