//! A bounded, process-wide memo for pure per-input functions (classification,
//! fact parsing, theme points). Every wave re-reads all of a party's inputs,
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
/// Entries per shard; when full an arbitrary entry makes room.
const PER_SHARD: usize = 256;
/// Texts longer than this (content plus tags, bytes) are computed every time:
/// they are rare, and they would dominate the memo's memory.
pub const MAX_KEY_BYTES: usize = 2_048;

struct Entry<V> {
    content: Box<str>,
    tags: Box<[String]>,
    salt: u64,
    value: Arc<V>,
}

/// One memoized function of `(content, tags, salt)`; `salt` stands for any
/// other argument the function reads (a catalog's city list, say).
pub struct Memo<V> {
    shards: Vec<Mutex<HashMap<u64, Entry<V>>>>,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl<V> Memo<V> {
    /// The value for this key, computing (outside any lock) and keeping it
    /// on a miss.
    pub fn get(
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
        let hash = h.finish();
        let shard = &self.shards[(hash as usize) % SHARDS];
        let same = |e: &Entry<V>| *e.content == *content && *e.tags == *tags && e.salt == salt;
        if let Some(e) = lock(shard).get(&hash) {
            if same(e) {
                return e.value.clone();
            }
        }
        let value = Arc::new(compute());
        let mut map = lock(shard);
        if map.len() >= PER_SHARD && !map.contains_key(&hash) {
            if let Some(&victim) = map.keys().next() {
                map.remove(&victim);
            }
        }
        // A colliding different key keeps its slot; this one is just not kept.
        if map.get(&hash).is_none_or(same) {
            map.insert(
                hash,
                Entry {
                    content: content.into(),
                    tags: tags.into(),
                    salt,
                    value: value.clone(),
                },
            );
        }
        value
    }

    /// Entries held (all shards).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}
