//! The shared, partitioned log a cluster of nodes appends to and tails
//! (`--journal redis://…`): the storage side of scale-out.
//!
//! Parties are hashed into K partitions ([`partition_of`]); each partition is
//! one ordered log whose events carry a gap-free `seq` of their own (so a
//! party's `seq` only grows). Any node appends users' commands to any
//! partition; only the node holding a partition's lease may append the
//! events its scheduler and agents produce, and the log itself refuses them
//! from anyone else ([`Fence`]), so a node that lost its lease cannot add a
//! second result for one request.
//!
//! Owns the log's contract; must not decide who holds a lease or what an
//! event means (that is [`crate::cluster`]'s and the bus's).

use std::sync::Arc;
use std::time::Duration;

use crate::event::Event;

use super::JournalError;

/// The partition of a party among `partitions`: FNV-1a (64-bit) of the id,
/// modulo the count. Stable across builds, machines and versions, since
/// every node of a cluster must agree on it.
pub fn partition_of(party_id: &str, partitions: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in party_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    (h % u64::from(partitions.max(1))) as u32
}

/// The lease a node holds on a partition: its id and the epoch the lease
/// was granted at. The log appends internal events only while the
/// partition's current lease is exactly this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The node's id.
    pub node: String,
    /// The epoch of its lease (grows by one with every grant).
    pub epoch: u64,
}

/// What an appended event does to the partition's party index, checked and
/// applied in the same atomic step as the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `party.created`: the party must not exist yet (else
    /// [`LogError::Exists`] and nothing of the batch is appended).
    Create,
    /// `party.deleted`: the party leaves the index.
    Delete,
    /// Anything else.
    Other,
}

/// One event to append: its party, its effect on the index, and its stored
/// JSON less `seq` (a JSON object ending in `}`, with `timestamp` already
/// in it; the log inserts `,"seq":N` before the final `}`).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The event's party.
    pub party_id: String,
    /// Its effect on the party index.
    pub op: Op,
    /// The stored JSON without `seq`.
    pub json: String,
}

/// Why an append or a read failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The partition's lease is not (or no longer) the fence given: nothing
    /// was appended.
    #[error("partition {partition} is no longer leased to this node")]
    Fenced {
        /// The partition.
        partition: u32,
    },
    /// A `party.created` for a party that exists: nothing was appended.
    #[error("party {0} already exists")]
    Exists(String),
    /// The log could not be reached or failed; whether a batch was
    /// appended is unknown only if `maybe_applied` (retry it with the same
    /// batch id to find out: appends are idempotent per batch id).
    #[error("the shared log is unavailable")]
    Unavailable {
        /// The cause.
        #[source]
        source: JournalError,
        /// Whether the append may have taken effect.
        maybe_applied: bool,
    },
    /// Stored data could not be decoded.
    #[error(transparent)]
    Corrupt(JournalError),
}

impl From<LogError> for JournalError {
    fn from(e: LogError) -> JournalError {
        match e {
            LogError::Unavailable { source, .. } | LogError::Corrupt(source) => source,
            other => JournalError::Storage(other.to_string()),
        }
    }
}

/// Events read from the log's tail: `(partition, event, origin node id)`.
pub type Tailed = Vec<(u32, Arc<Event>, Arc<str>)>;

/// A partitioned, shared log (see the module docs).
pub trait Log: Send + Sync {
    /// K.
    fn partitions(&self) -> u32;

    /// This node's id.
    fn node_id(&self) -> &str;

    /// Appends `entries` (all of `partition`) atomically, in order, and
    /// returns the `seq` of the first. `batch_id` makes the append
    /// idempotent: the same batch id appended again (after an
    /// [`LogError::Unavailable`] with `maybe_applied`) returns the first
    /// append's `seq` and appends nothing. With `fence`, nothing is
    /// appended unless the partition's lease is that one.
    fn append(
        &self,
        partition: u32,
        fence: Option<&Fence>,
        batch_id: &str,
        entries: &[Entry],
    ) -> Result<u64, LogError>;

    /// Feeds every stored event of every partition to `f` (each partition's
    /// in order) and returns each partition's last `seq` fed (0 if none):
    /// where the tail continues. For start-up.
    fn replay_all(&self, f: &mut dyn FnMut(u32, Arc<Event>)) -> Result<Vec<u64>, LogError>;

    /// A reader of every partition's tail, on a connection of its own.
    fn tail(&self) -> Result<Box<dyn Tail>, LogError>;

    /// The `seq` of the `party.created` of a party that exists in the log,
    /// `None` if it does not (never created, or deleted).
    fn party_created_at(&self, party_id: &str) -> Result<Option<u64>, LogError>;
}

/// Reads every partition's new events.
pub trait Tail: Send {
    /// Events with `seq > after[p]` of every partition `p`, each partition's
    /// in order, at most about `max` in all; waits up to `block` for the
    /// first one (an empty answer after that).
    fn read(&mut self, after: &[u64], block: Duration, max: usize) -> Result<Tailed, LogError>;
}

/// What this node holds of each partition, as the cluster manager
/// ([`crate::cluster`]) keeps it and the bus and the agents read it.
///
/// A partition moves through three states here: not held; held (the lease
/// was granted, the node is catching up to where the log stood when it was,
/// and is not yet acting); active (the agents' runtime adopted it: its
/// scheduler and agents run that partition's waves).
pub struct Leases {
    node: String,
    slots: Vec<std::sync::Mutex<Option<Fence>>>,
    active: Vec<std::sync::atomic::AtomicBool>,
    /// Partitions to adopt (held and caught up) or to drop, in order.
    changes: std::sync::Mutex<Vec<LeaseChange>>,
}

/// A change the agents' runtime must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    /// Held and caught up: resume its interrupted waves, then act on it.
    Adopt(u32),
    /// Lost or released: stop acting on it.
    Drop(u32),
}

impl Leases {
    /// No partition held yet, for node `node` of a cluster of `partitions`.
    pub fn new(node: &str, partitions: u32) -> Leases {
        let k = partitions.max(1) as usize;
        Leases {
            node: node.to_string(),
            slots: (0..k).map(|_| std::sync::Mutex::new(None)).collect(),
            active: (0..k).map(|_| false.into()).collect(),
            changes: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// K.
    pub fn partitions(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The partition of a party.
    pub fn partition_of(&self, party_id: &str) -> u32 {
        partition_of(party_id, self.partitions())
    }

    /// The fence to append `partition`'s internal events with, while held.
    pub fn fence(&self, partition: u32) -> Option<Fence> {
        self.slot(partition).clone()
    }

    /// Whether the runtime acts on this party's partition.
    pub fn acts_on(&self, party_id: &str) -> bool {
        self.is_active(self.partition_of(party_id))
    }

    /// Whether the runtime acts on `partition`.
    pub fn is_active(&self, partition: u32) -> bool {
        self.active
            .get(partition as usize)
            .is_some_and(|a| a.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Partitions held, in order.
    pub fn held(&self) -> Vec<u32> {
        (0..self.partitions())
            .filter(|&p| self.slot(p).is_some())
            .collect()
    }

    /// Records a granted lease (not yet acted on).
    pub fn grant(&self, partition: u32, fence: Fence) {
        *self.slot(partition) = Some(fence);
    }

    /// Asks the runtime to adopt a held partition (once caught up).
    pub fn request_adopt(&self, partition: u32) {
        self.push(LeaseChange::Adopt(partition));
    }

    /// Forgets a lease (lost, expired or released): its internal events are
    /// no longer appended, and the runtime stops acting on it.
    pub fn revoke(&self, partition: u32) {
        if self.slot(partition).take().is_some() {
            self.push(LeaseChange::Drop(partition));
        }
    }

    /// The changes queued since the last call (the runtime's, on the bus's
    /// dispatcher thread); an adopted partition is active once its change
    /// is taken, unless it was revoked meanwhile.
    pub fn take_changes(&self) -> Vec<LeaseChange> {
        let changes = std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()));
        for c in &changes {
            match *c {
                LeaseChange::Adopt(p) => {
                    let held = self.slot(p).is_some();
                    self.set_active(p, held);
                }
                LeaseChange::Drop(p) => self.set_active(p, false),
            }
        }
        changes
    }

    fn set_active(&self, partition: u32, on: bool) {
        if let Some(a) = self.active.get(partition as usize) {
            a.store(on, std::sync::atomic::Ordering::Release);
        }
    }

    fn push(&self, change: LeaseChange) {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(change);
    }

    fn slot(&self, partition: u32) -> std::sync::MutexGuard<'_, Option<Fence>> {
        self.slots[(partition as usize).min(self.slots.len() - 1)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// The shared log in memory, for tests of its users: the contract of
/// [`Log`] (per-partition seqs, fences, the party index, idempotent batch
/// ids) without Redis. One `MemoryLog` is one cluster; every node's bus may
/// hold it.
#[cfg(test)]
pub(crate) mod memory {
    use std::collections::{HashMap, HashSet};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::journal::codec;

    #[derive(Default)]
    struct State {
        /// Per partition: (seq, stored JSON, origin).
        logs: Vec<Vec<(u64, String, String)>>,
        leases: Vec<Option<Fence>>,
        parties: HashSet<String>,
        batches: HashMap<String, u64>,
    }

    /// See the module docs.
    pub(crate) struct MemoryLog {
        node: String,
        state: Arc<(Mutex<State>, Condvar)>,
    }

    impl MemoryLog {
        /// A cluster of `partitions`, seen from node `node`.
        pub(crate) fn new(node: &str, partitions: u32) -> MemoryLog {
            let state = State {
                logs: vec![Vec::new(); partitions as usize],
                leases: vec![None; partitions as usize],
                ..State::default()
            };
            MemoryLog {
                node: node.to_string(),
                state: Arc::new((Mutex::new(state), Condvar::new())),
            }
        }

        /// The same cluster seen from another node.
        pub(crate) fn node(&self, node: &str) -> MemoryLog {
            MemoryLog {
                node: node.to_string(),
                state: self.state.clone(),
            }
        }

        /// Grants `partition`'s lease to `fence` (whoever held it loses it).
        pub(crate) fn lease(&self, partition: u32, fence: Option<Fence>) {
            self.state.0.lock().unwrap().leases[partition as usize] = fence;
        }

        /// Every stored event of `partition`, decoded, in order.
        pub(crate) fn events(&self, partition: u32) -> Vec<Event> {
            let s = self.state.0.lock().unwrap();
            s.logs[partition as usize]
                .iter()
                .map(|(_, json, _)| codec::decode(json.as_bytes()).expect("stored JSON decodes"))
                .collect()
        }
    }

    impl Log for MemoryLog {
        fn partitions(&self) -> u32 {
            self.state.0.lock().unwrap().logs.len() as u32
        }

        fn node_id(&self) -> &str {
            &self.node
        }

        fn append(
            &self,
            partition: u32,
            fence: Option<&Fence>,
            batch_id: &str,
            entries: &[Entry],
        ) -> Result<u64, LogError> {
            let (lock, cv) = &*self.state;
            let mut s = lock.lock().unwrap();
            if let Some(first) = s.batches.get(batch_id) {
                return Ok(*first);
            }
            if let Some(f) = fence {
                if s.leases[partition as usize].as_ref() != Some(f) {
                    return Err(LogError::Fenced { partition });
                }
            }
            for e in entries {
                if e.op == Op::Create && s.parties.contains(&e.party_id) {
                    return Err(LogError::Exists(e.party_id.clone()));
                }
            }
            let log = &s.logs[partition as usize];
            let first = log.last().map_or(1, |(seq, _, _)| seq + 1);
            let mut rows = Vec::new();
            for (seq, e) in (first..).zip(entries) {
                let json = format!("{},\"seq\":{seq}}}", &e.json[..e.json.len() - 1]);
                rows.push((seq, json, self.node.clone()));
            }
            for e in entries {
                match e.op {
                    Op::Create => {
                        s.parties.insert(e.party_id.clone());
                    }
                    Op::Delete => {
                        s.parties.remove(&e.party_id);
                    }
                    Op::Other => {}
                }
            }
            s.logs[partition as usize].extend(rows);
            s.batches.insert(batch_id.to_string(), first);
            cv.notify_all();
            Ok(first)
        }

        fn replay_all(&self, f: &mut dyn FnMut(u32, Arc<Event>)) -> Result<Vec<u64>, LogError> {
            let k = self.partitions();
            let mut heads = Vec::new();
            for p in 0..k {
                let events = self.events(p);
                heads.push(events.last().map_or(0, |e| e.seq));
                for e in events {
                    f(p, Arc::new(e));
                }
            }
            Ok(heads)
        }

        fn tail(&self) -> Result<Box<dyn Tail>, LogError> {
            Ok(Box::new(MemoryTail {
                state: self.state.clone(),
            }))
        }

        fn party_created_at(&self, party_id: &str) -> Result<Option<u64>, LogError> {
            let s = self.state.0.lock().unwrap();
            if !s.parties.contains(party_id) {
                return Ok(None);
            }
            let p = partition_of(party_id, s.logs.len() as u32) as usize;
            Ok(s.logs[p]
                .iter()
                .find(|(_, json, _)| json.contains(party_id) && json.contains("party.created"))
                .map(|(seq, _, _)| *seq))
        }
    }

    struct MemoryTail {
        state: Arc<(Mutex<State>, Condvar)>,
    }

    impl Tail for MemoryTail {
        fn read(&mut self, after: &[u64], block: Duration, max: usize) -> Result<Tailed, LogError> {
            let (lock, cv) = &*self.state;
            let mut s = lock.lock().unwrap();
            let newer = |s: &State| {
                s.logs
                    .iter()
                    .enumerate()
                    .any(|(p, log)| log.last().is_some_and(|(seq, _, _)| *seq > after[p]))
            };
            if !newer(&s) {
                s = cv.wait_timeout(s, block).unwrap().0;
            }
            let mut out = Vec::new();
            for (p, log) in s.logs.iter().enumerate() {
                for (seq, json, origin) in log.iter().filter(|(seq, _, _)| *seq > after[p]) {
                    if out.len() >= max {
                        break;
                    }
                    let mut ev = codec::decode(json.as_bytes()).map_err(|e| {
                        LogError::Corrupt(crate::journal::JournalError::Storage(e.to_string()))
                    })?;
                    ev.seq = *seq;
                    out.push((p as u32, Arc::new(ev), Arc::from(origin.as_str())));
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        // FNV-1a 64 test vectors: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c.
        assert_eq!(
            partition_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            partition_of("a", 1 << 16),
            (0xaf63_dc4c_8601_ec8cu64 % (1 << 16)) as u32
        );
        let mut seen = [0u32; 16];
        for i in 0..16_000 {
            seen[partition_of(&format!("fp2026{i:08x}"), 16) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(partition_of("anything", 1), 0);
    }
}
