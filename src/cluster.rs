//! A cluster node's part in the cluster: who holds which partition.
//!
//! One thread (`cluster-lease`) per node keeps the node's heartbeat in
//! Redis, renews the leases it holds, takes free partitions up to its fair
//! share (K divided by the nodes alive, rounded up), gives back what it
//! holds beyond that share when nodes join, and hands each partition it
//! takes to the agents' runtime once this node has applied that partition
//! up to where the log stood at the grant ([`Leases::request_adopt`]). A
//! lease it cannot renew in time is dropped here first: its events are no
//! longer appended, and the log refuses them anyway once another node holds
//! it. It also purges the events of deleted parties that every node has
//! applied, so Redis's memory follows the live parties, and keeps the
//! cluster's status for `/system/status` and `/metrics`.
//!
//! Owns the lease policy; must not compute plans or touch sockets other
//! than the log's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use serde::{Deserialize, Serialize};

use crate::bus::Bus;
use crate::journal::log::{Fence, Leases};
use crate::journal::redis::RedisLog;

/// How long a lease lasts unless renewed; a dead node's partitions move to
/// the others after at most this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);

/// How often the manager looks at the cluster (leases are renewed every
/// third of their time to live).
const TICK: Duration = Duration::from_millis(200);

/// How often deleted parties' events are purged.
const PURGE_EVERY: Duration = Duration::from_secs(10);

/// Settings of the cluster manager.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Lease time to live.
    pub lease_ttl: Duration,
    /// The URL this node serves (shown to other nodes and in the status),
    /// once it listens.
    pub url: Arc<std::sync::OnceLock<String>>,
}

/// What a node tells the others (its heartbeat).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's id.
    pub node_id: String,
    /// Where it serves.
    pub url: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Partitions it holds.
    pub partitions: Vec<u32>,
    /// Its applied `seq` per partition.
    pub applied: Vec<u64>,
}

/// One partition as this node sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: u32,
    /// The node holding its lease, if any.
    pub owner: Option<String>,
    /// The lease's epoch.
    pub epoch: u64,
    /// The log's last `seq` in it.
    pub head: u64,
    /// The last `seq` this node applied.
    pub applied: u64,
    /// `head - applied`.
    pub lag: u64,
}

/// The cluster as this node last saw it (refreshed every tick).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ClusterStatus {
    /// This node.
    pub node_id: String,
    /// K.
    pub partitions: u32,
    /// Nodes alive (heartbeat within the lease time), by id.
    pub nodes: Vec<NodeInfo>,
    /// Partitions this node holds.
    pub held: Vec<u32>,
    /// Every partition.
    pub partition_status: Vec<PartitionStatus>,
    /// Whether the last look at Redis succeeded.
    pub redis_reachable: bool,
    /// Redis's `used_memory`, bytes.
    pub redis_used_memory: u64,
    /// Events of deleted parties purged from the log by this node.
    pub purged_events: u64,
    /// Internal events dropped because their lease had moved on.
    pub fenced_events: u64,
}

/// The running manager; dropping it does not stop it: call [`Manager::stop`].
pub struct Manager {
    status: Arc<Mutex<ClusterStatus>>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Manager {
    /// Starts the manager thread.
    pub fn start(
        log: Arc<RedisLog>,
        leases: Arc<Leases>,
        bus: Bus,
        config: ClusterConfig,
    ) -> std::io::Result<Manager> {
        let status = Arc::new(Mutex::new(ClusterStatus {
            node_id: leases.node().to_string(),
            partitions: leases.partitions(),
            ..ClusterStatus::default()
        }));
        let (stop, stopped) = bounded::<()>(0);
        let mut state = State {
            log,
            leases,
            bus,
            config,
            status: status.clone(),
            held: BTreeMap::new(),
            catching_up: BTreeMap::new(),
            last_renew: Instant::now(),
            last_purge: Instant::now(),
            purged: 0,
            started_at: crate::event::now_rfc3339(),
        };
        let thread = std::thread::Builder::new()
            .name("cluster-lease".into())
            .spawn(move || {
                loop {
                    state.tick();
                    match stopped.recv_timeout(TICK) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
                state.leave();
            })?;
        Ok(Manager {
            status,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The cluster as last seen.
    pub fn status(&self) -> ClusterStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Gives every lease back (so other nodes take the partitions over at
    /// once, not after the lease time) and stops the thread. Call before
    /// the bus shuts down.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("the cluster manager panicked");
            }
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many partitions a node should hold: K over the nodes alive, rounded
/// up; but only K over the nodes rounded down while another node holds less
/// than that (a node that just joined), so the partitions given back go to
/// it and not back to their old holders. `others`: how many each other
/// node alive holds. A node holding more gives the excess back; one
/// holding less takes free partitions up to it.
fn fair_share(k: usize, alive: usize, others: &[usize]) -> usize {
    let alive = alive.max(1);
    let floor = k / alive;
    if others.iter().any(|&n| n < floor) {
        floor
    } else {
        k.div_ceil(alive)
    }
}

struct State {
    log: Arc<RedisLog>,
    leases: Arc<Leases>,
    bus: Bus,
    config: ClusterConfig,
    status: Arc<Mutex<ClusterStatus>>,
    /// Leases held, as granted.
    held: BTreeMap<u32, Fence>,
    /// Held partitions not yet adopted: the log's `seq` at the grant.
    catching_up: BTreeMap<u32, u64>,
    /// Last time every held lease was renewed.
    last_renew: Instant,
    last_purge: Instant,
    purged: u64,
    started_at: String,
}

impl State {
    fn tick(&mut self) {
        let ttl = self.config.lease_ttl;
        // Leases the runtime gave back (a take-over that failed).
        let dropped: Vec<u32> = self
            .held
            .keys()
            .copied()
            .filter(|&p| self.leases.fence(p).is_none())
            .collect();
        for p in dropped {
            if let Some(f) = self.held.remove(&p) {
                self.catching_up.remove(&p);
                let _ = self.log.release(p, &f);
            }
        }
        let reachable = self.renew(ttl) && self.heartbeat(ttl);
        if reachable {
            self.rebalance(ttl);
        }
        // Caught up: the runtime takes the partition over.
        let applied = self.bus.applied_positions();
        let ready: Vec<u32> = self
            .catching_up
            .iter()
            .filter(|(&p, &head)| applied.get(p as usize).is_some_and(|&a| a >= head))
            .map(|(&p, _)| p)
            .collect();
        for p in ready {
            self.catching_up.remove(&p);
            self.leases.request_adopt(p);
        }
        if reachable && self.last_purge.elapsed() >= PURGE_EVERY {
            self.last_purge = Instant::now();
            self.purge();
        }
        self.refresh_status(reachable);
    }

    /// Renews every lease held (every third of the time to live); a lease
    /// not renewed for nearly its whole time to live is dropped here.
    fn renew(&mut self, ttl: Duration) -> bool {
        if self.held.is_empty() {
            self.last_renew = Instant::now();
            return true;
        }
        if self.last_renew.elapsed() < ttl / 3 {
            return true;
        }
        let mut ok = true;
        let mut lost = Vec::new();
        for (&p, fence) in &self.held {
            match self.log.renew(p, fence, ttl) {
                Ok(true) => {}
                Ok(false) => lost.push(p),
                // Unreachable (or hung: each call waits out its timeout):
                // the other leases would fail alike.
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            self.last_renew = Instant::now();
        } else if self.last_renew.elapsed() + TICK * 2 >= ttl {
            // Redis may already have let them expire: act as if it had.
            log::warn!(
                "leases could not be renewed in time: this node stops scheduling its partitions"
            );
            lost.extend(self.held.keys().copied());
        }
        for p in lost {
            log::info!("partition {p}: lease lost");
            self.held.remove(&p);
            self.catching_up.remove(&p);
            self.leases.revoke(p);
        }
        ok
    }

    fn heartbeat(&self, ttl: Duration) -> bool {
        let info = NodeInfo {
            node_id: self.leases.node().to_string(),
            url: self.config.url.get().cloned().unwrap_or_default(),
            started_at: self.started_at.clone(),
            partitions: self.held.keys().copied().collect(),
            applied: self.bus.applied_positions(),
        };
        let json = serde_json::to_string(&info).unwrap_or_default();
        self.log.heartbeat(&json, ttl).is_ok()
    }

    /// Takes free partitions up to the fair share (K / nodes, rounded up);
    /// gives back what exceeds it, and one beyond K / nodes rounded down
    /// while another node holds less than that (so a node that joins gets
    /// its part). The highest-numbered partitions leave first.
    fn rebalance(&mut self, ttl: Duration) {
        let nodes: Vec<NodeInfo> = match self.log.nodes() {
            Ok(nodes) => nodes
                .into_iter()
                .filter_map(|(_, json)| serde_json::from_str(&json).ok())
                .collect(),
            Err(_) => return,
        };
        let alive = nodes.len().max(1);
        let k = self.leases.partitions() as usize;
        let others: Vec<usize> = nodes
            .iter()
            .filter(|n| n.node_id != self.leases.node())
            .map(|n| n.partitions.len())
            .collect();
        let share = fair_share(k, alive, &others);
        if self.held.len() > share {
            let extra: Vec<u32> = self
                .held
                .keys()
                .rev()
                .copied()
                .take(self.held.len() - share)
                .collect();
            for p in extra {
                if let Some(f) = self.held.remove(&p) {
                    self.catching_up.remove(&p);
                    self.leases.revoke(p);
                    let _ = self.log.release(p, &f);
                    log::info!("partition {p}: given back ({alive} nodes share {k} partitions)");
                }
            }
            return;
        }
        if self.held.len() >= share {
            return;
        }
        let leases = match self.log.leases() {
            Ok(l) => l,
            Err(_) => return,
        };
        // Start at a node-specific partition, so nodes starting together
        // do not all race for partition 0.
        let start = crate::journal::log::partition_of(self.leases.node(), k as u32) as usize;
        for i in 0..k {
            if self.held.len() >= share {
                break;
            }
            let p = ((start + i) % k) as u32;
            if self.held.contains_key(&p) || leases.get(p as usize).is_some_and(|l| l.is_some()) {
                continue;
            }
            match self.log.acquire(p, ttl) {
                Ok(Some((fence, head))) => {
                    log::info!(
                        "partition {p}: lease granted (epoch {}), catching up to seq {head}",
                        fence.epoch
                    );
                    self.leases.grant(p, fence.clone());
                    self.held.insert(p, fence);
                    self.catching_up.insert(p, head);
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
    }

    /// Purges deleted parties' events every node has applied.
    fn purge(&mut self) {
        let nodes: Vec<NodeInfo> = match self.log.nodes() {
            Ok(n) => n
                .into_iter()
                .filter_map(|(_, json)| serde_json::from_str(&json).ok())
                .collect(),
            Err(_) => return,
        };
        for (&p, fence) in &self.held {
            if self.catching_up.contains_key(&p) {
                continue;
            }
            let upto = nodes
                .iter()
                .map(|n| n.applied.get(p as usize).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            if upto == 0 {
                continue;
            }
            match self.log.purge_deleted(p, fence, upto) {
                Ok(n) => self.purged += n,
                Err(e) => {
                    log::debug!("partition {p}: purge failed: {e}");
                    return;
                }
            }
        }
    }

    fn refresh_status(&self, reachable: bool) {
        let k = self.leases.partitions();
        let applied = self.bus.applied_positions();
        let mut status = ClusterStatus {
            node_id: self.leases.node().to_string(),
            partitions: k,
            held: self.held.keys().copied().collect(),
            redis_reachable: reachable,
            purged_events: self.purged,
            fenced_events: self.bus.fenced_events(),
            ..ClusterStatus::default()
        };
        if reachable {
            if let Ok(nodes) = self.log.nodes() {
                status.nodes = nodes
                    .into_iter()
                    .filter_map(|(_, json)| serde_json::from_str(&json).ok())
                    .collect();
            }
            let leases = self.log.leases().unwrap_or_default();
            let heads = self.log.heads().unwrap_or_default();
            status.redis_used_memory = self.log.memory_used().unwrap_or(0);
            status.partition_status = (0..k)
                .map(|p| {
                    let i = p as usize;
                    let lease = leases.get(i).cloned().flatten();
                    let head = heads.get(i).copied().unwrap_or(0);
                    let applied = applied.get(i).copied().unwrap_or(0);
                    PartitionStatus {
                        partition: p,
                        owner: lease.as_ref().map(|l| l.node.clone()),
                        epoch: lease.as_ref().map_or(0, |l| l.epoch),
                        head,
                        applied,
                        lag: head.saturating_sub(applied),
                    }
                })
                .collect();
        } else {
            let old = self.status.lock().unwrap_or_else(|e| e.into_inner());
            status.nodes = old.nodes.clone();
            status.partition_status = old.partition_status.clone();
            status.redis_used_memory = old.redis_used_memory;
        }
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// Gives every lease back and leaves the node list. Stops talking to
    /// Redis at its first failure (each call could wait out its timeout, and
    /// shutdown has a deadline): the leases left then expire by themselves.
    fn leave(&mut self) {
        let mut reachable = true;
        for (p, fence) in std::mem::take(&mut self.held) {
            self.leases.revoke(p);
            if reachable {
                reachable = self.log.release(p, &fence).is_ok();
            }
        }
        if reachable {
            let _ = self.log.leave();
        }
    }
}

/// What an app needs to run as a cluster node ([`crate::Config::cluster`]).
#[derive(Clone)]
pub struct ClusterSetup {
    /// The shared log (also the app's journal).
    pub log: Arc<RedisLog>,
    /// The manager's settings.
    pub config: ClusterConfig,
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    /// Every node applies `fair_share` in turn (give back, then take free
    /// ones up to the share) until nothing moves; returns the holdings.
    fn settle(k: usize, mut held: Vec<usize>) -> Vec<usize> {
        for _ in 0..100 {
            let before = held.clone();
            for me in 0..held.len() {
                let others: Vec<usize> = (0..held.len())
                    .filter(|&o| o != me)
                    .map(|o| held[o])
                    .collect();
                let share = fair_share(k, held.len(), &others);
                held[me] = held[me].min(share);
                let free = k - held.iter().sum::<usize>();
                if held[me] < share {
                    held[me] += free.min(share - held[me]);
                }
            }
            if held == before {
                return held;
            }
        }
        panic!("no fixed point: {held:?}");
    }

    #[test]
    fn every_node_gets_its_part_and_every_partition_an_owner() {
        // The 2/2/0 split three nodes reached on 4 partitions before the
        // starved rule: now 2/1/1.
        let mut h = settle(4, vec![2, 2, 0]);
        h.sort();
        assert_eq!(h, vec![1, 1, 2]);
        for (k, start) in [
            (16, vec![16, 0, 0]),
            (16, vec![8, 8, 0, 0]),
            (6, vec![6, 0, 0, 0, 0, 0, 0]),
            (3, vec![3, 0, 0, 0, 0]),
        ] {
            let n = start.len();
            let h = settle(k, start);
            assert_eq!(h.iter().sum::<usize>(), k, "{h:?}");
            assert!(
                h.iter().all(|&x| x >= k / n && x <= k.div_ceil(n)),
                "{k} over {n}: {h:?}"
            );
        }
    }

    #[test]
    fn a_lone_node_takes_everything() {
        assert_eq!(fair_share(16, 1, &[]), 16);
        assert_eq!(fair_share(16, 2, &[0]), 8);
        assert_eq!(fair_share(4, 3, &[2, 1]), 2);
        assert_eq!(fair_share(4, 3, &[2, 0]), 1);
    }
}
