//! Encoded responses of a party's read routes, reused while the party is
//! unchanged. Clients poll `GET …/status` (the prototype's clients did, and
//! the planning page does after each reconnect); encoding a planned party is
//! most of such a request's cost, and the answer only changes when one of
//! the party's events is applied.
//!
//! An entry is keyed by party id and stamped with the party's `last_seq`:
//! `seq` is global and gap-free, so a party whose `last_seq` is unchanged is
//! unchanged, and a deleted and re-created party (whose `version` starts over)
//! can never match an old entry. Owns the bounded map only: what is encoded
//! is the caller's business, and nothing here decides access.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept in all (a planned party's status is about 10 KB, so about
/// 10 MB at most).
pub(super) const DEFAULT_CAPACITY: usize = 1024;

/// Shards, so threads reading different parties rarely share a lock.
const SHARDS: usize = 16;

type Shard = Mutex<HashMap<String, (u64, Arc<[u8]>)>>;

/// A bounded map from party id to the bytes last encoded for it.
pub(super) struct RenderCache {
    shards: Vec<Shard>,
    per_shard: usize,
}

impl RenderCache {
    /// A cache holding at most about `capacity` entries (at least one per shard).
    pub(crate) fn new(capacity: usize) -> RenderCache {
        RenderCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, party_id: &str) -> &Shard {
        // FNV-1a: cheap, and ids are short.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in party_id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// The bytes for `party_id` at `last_seq`: cached ones if they were
    /// encoded at that `last_seq`, else `encode()`'s, which replace them.
    /// The lock is not held while encoding.
    pub(crate) fn get_or_encode<E>(
        &self,
        party_id: &str,
        last_seq: u64,
        encode: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<[u8]>, E> {
        let shard = self.shard(party_id);
        {
            let map = shard.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((seq, bytes)) = map.get(party_id) {
                if *seq == last_seq {
                    return Ok(bytes.clone());
                }
            }
        }
        let bytes: Arc<[u8]> = encode()?.into();
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(party_id) {
            // Keep whichever was encoded at the later seq (another thread
            // may have raced ahead with a newer party).
            Some(entry) if entry.0 >= last_seq => {}
            Some(entry) => *entry = (last_seq, bytes.clone()),
            None => {
                if map.len() >= self.per_shard {
                    // Any entry will do: a popular party comes straight back.
                    if let Some(victim) = map.keys().next().cloned() {
                        map.remove(&victim);
                    }
                }
                map.insert(party_id.to_string(), (last_seq, bytes.clone()));
            }
        }
        Ok(bytes)
    }

    /// Entries held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether nothing is cached.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn encode(calls: &Cell<u32>, text: &str) -> Result<Vec<u8>, ()> {
        calls.set(calls.get() + 1);
        Ok(text.as_bytes().to_vec())
    }

    #[test]
    fn reuses_bytes_while_last_seq_is_unchanged_and_re_encodes_after() {
        let cache = RenderCache::new(8);
        let calls = Cell::new(0);
        let a = cache
            .get_or_encode("p", 5, || encode(&calls, "v5"))
            .unwrap();
        let b = cache
            .get_or_encode("p", 5, || encode(&calls, "other"))
            .unwrap();
        assert_eq!((&*a, &*b, calls.get()), (&b"v5"[..], &b"v5"[..], 1));
        let c = cache
            .get_or_encode("p", 9, || encode(&calls, "v9"))
            .unwrap();
        assert_eq!((&*c, calls.get()), (&b"v9"[..], 2));
    }

    #[test]
    fn an_older_encoding_never_replaces_a_newer_one() {
        let cache = RenderCache::new(8);
        let calls = Cell::new(0);
        cache
            .get_or_encode("p", 9, || encode(&calls, "v9"))
            .unwrap();
        // A worker holding an older snapshot still answers with its own bytes…
        let old = cache
            .get_or_encode("p", 5, || encode(&calls, "v5"))
            .unwrap();
        assert_eq!(&*old, b"v5");
        // …but the cache keeps the newer ones.
        let now = cache.get_or_encode("p", 9, || encode(&calls, "x")).unwrap();
        assert_eq!(&*now, b"v9");
    }

    #[test]
    fn stays_bounded() {
        let cache = RenderCache::new(32);
        for i in 0..1000 {
            let id = format!("party-{i}");
            cache
                .get_or_encode(&id, 1, || Ok::<_, ()>(vec![0; 4]))
                .unwrap();
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        assert!(!cache.is_empty());
    }

    #[test]
    fn an_encoding_error_is_returned_and_nothing_is_cached() {
        let cache = RenderCache::new(8);
        assert_eq!(
            cache.get_or_encode("p", 1, || Err::<Vec<u8>, _>("no")),
            Err("no")
        );
        assert!(cache.is_empty());
    }
}
