//! A bounded, process-wide memo for pure per-input functions (classification,
//! fact parsing, theme points) and per-party ones (the party's facts). Every wave re-reads all of a party's inputs,
//! and a long-lived party holds dozens; without the memo each wave would
//! re-tokenize every one of them in the scheduler and in each agent.
//!
//! Owns only the cache. Must not change any answer: a value is stored with
//! the exact text it was computed from and handed out only for that text
//! (a 64-bit hash finds the slot; the full key is compared). Memory is
//! bounded by entry count and by skipping long texts.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Shards (independent locks): the scheduler and seven agent threads look up
/// at once.
const SHARDS: usize = 16;
/// Entries per shard by default; when full an arbitrary entry makes room.
const PER_SHARD: usize = 256;
/// Texts longer than this (content plus tags, bytes) are computed every time:
/// they are rare, and they would dominate the memo's memory.
pub(crate) const MAX_KEY_BYTES: usize = 2_048;

/// A bounded memo whose key type `K` the caller chooses: the caller hashes
/// the key (without building it) and says how to compare a stored key with
/// the one it looks up, so a hit allocates nothing.
pub(crate) struct KeyedMemo<K, V> {
    shards: Vec<Shard<K, V>>,
    per_shard: usize,
}

/// One lock's share of a [`KeyedMemo`]: entries by key hash.
type Shard<K, V> = Mutex<HashMap<u64, (K, Arc<V>)>>;

/// A [`Memo`]'s key: content, tags and salt.
type TextKey = (Box<str>, Box<[String]>, u64);

impl<K, V> Default for KeyedMemo<K, V> {
    fn default() -> Self {
        KeyedMemo::holding(SHARDS * PER_SHARD)
    }
}

impl<K, V> KeyedMemo<K, V> {
    /// A memo holding at most `entries` (rounded up to a multiple of the
    /// shard count).
    pub(crate) fn holding(entries: usize) -> Self {
        KeyedMemo {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: entries.div_ceil(SHARDS).max(1),
        }
    }

    /// The value kept under `hash` when `same` accepts its key; else
    /// computed (outside any lock) and kept with the key `key()` builds.
    pub(crate) fn get(
        &self,
        hash: u64,
        same: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        compute: impl FnOnce() -> V,
    ) -> Arc<V> {
        let shard = &self.shards[(hash as usize) % SHARDS];
        if let Some((k, v)) = lock(shard).get(&hash) {
            if same(k) {
                return v.clone();
            }
        }
        let value = Arc::new(compute());
        let mut map = lock(shard);
        if map.len() >= self.per_shard && !map.contains_key(&hash) {
            if let Some(&victim) = map.keys().next() {
                map.remove(&victim);
            }
        }
        // A colliding different key keeps its slot; this one is just not kept.
        if map.get(&hash).is_none_or(|(k, _)| same(k)) {
            map.insert(hash, (key(), value.clone()));
        }
        value
    }

    /// Entries held (all shards).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

/// One memoized function of `(content, tags, salt)`; `salt` stands for any
/// other argument the function reads (a catalog's city list, say).
pub(crate) struct Memo<V> {
    inner: KeyedMemo<TextKey, V>,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo {
            inner: KeyedMemo::default(),
        }
    }
}

impl<V> Memo<V> {
    /// The value for this key, computing (outside any lock) and keeping it
    /// on a miss.
    pub(crate) fn get(
        &self,
        content: &str,
        tags: &[String],
        salt: u64,
        compute: impl FnOnce() -> V,
    ) -> Arc<V> {
        let size = content.len() + tags.iter().map(String::len).sum::<usize>();
        if size > MAX_KEY_BYTES {
            return Arc::new(compute());
        }
        let mut h = DefaultHasher::new();
        (content, tags, salt).hash(&mut h);
        self.inner.get(
            h.finish(),
            |(c, t, s)| **c == *content && **t == *tags && *s == salt,
            || (content.into(), tags.into(), salt),
            compute,
        )
    }

    /// Entries held (all shards).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn computes_once_per_key_and_distinguishes_tags_and_salt() {
        let memo: Memo<usize> = Memo::default();
        let calls = Cell::new(0);
        let f = |v: usize| {
            calls.set(calls.get() + 1);
            v
        };
        assert_eq!(*memo.get("cake", &[], 0, || f(1)), 1);
        assert_eq!(*memo.get("cake", &[], 0, || f(99)), 1, "kept");
        assert_eq!(*memo.get("cake", &["x".into()], 0, || f(2)), 2);
        assert_eq!(*memo.get("cake", &[], 7, || f(3)), 3);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn stays_bounded_and_skips_long_texts() {
        let memo: Memo<usize> = Memo::default();
        for i in 0..SHARDS * PER_SHARD * 3 {
            memo.get(&format!("input {i}"), &[], 0, || i);
        }
        assert!(memo.len() <= SHARDS * PER_SHARD);
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        let before = memo.len();
        assert_eq!(*memo.get(&long, &[], 0, || 5), 5);
        assert_eq!(memo.len(), before);
    }

    #[test]
    fn a_keyed_memo_holds_what_it_was_sized_for() {
        let memo: KeyedMemo<u64, u64> = KeyedMemo::holding(40);
        for i in 0..1_000u64 {
            let got = memo.get(
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                |k| *k == i,
                || i,
                || i * 2,
            );
            assert_eq!(*got, i * 2);
        }
        assert!(memo.len() <= 48, "{} held", memo.len());
    }
}
