//! What the cluster manager asks of the shared log besides events:
//! partition leases (granted, renewed and released atomically by small
//! scripts), each partition's head, node heartbeats, purging deleted
//! parties' events, and figures for status and metrics.
//!
//! Owns those keys' handling; must not decide which node should hold what
//! (that is [`crate::cluster`]'s).

use std::time::Duration;

use redis::Value;

use super::{int, Failure, RedisLog};
use crate::journal::log::{Fence, LogError};

/// Parties a [`RedisLog::purge_deleted`] call purges at most: bounds the
/// time one script holds Redis (each party's events are a few dozen XDELs).
pub const PURGE_PARTIES_PER_CALL: u32 = 200;

/// A partition's current lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The holder's node id.
    pub node: String,
    /// The epoch it was granted at.
    pub epoch: u64,
    /// Milliseconds until it expires (-1: no expiry, which a lease never
    /// has unless set by hand).
    pub ttl_ms: i64,
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisLog {
    /// Grants this node `partition`'s lease for `ttl` if nobody holds it:
    /// returns the fence to append with and the partition's current seq
    /// (0 if none), or `None` if the lease is held.
    ///
    /// A lease held under this node's own id (this node restarted with the
    /// same id before its old lease expired) is not taken over: the old
    /// process may still have appends in flight under the old epoch, and
    /// continuing its lease would let them through the fence. It expires,
    /// and the next call is granted a new epoch.
    pub fn acquire(&self, partition: u32, ttl: Duration) -> Result<Option<(Fence, u64)>, LogError> {
        let keys = self.keys(partition)?;
        let got: Option<(u64, u64)> = self
            .shared
            .call(|c| {
                self.shared
                    .scripts
                    .acquire
                    .key(&keys.lease)
                    .key(&keys.epoch)
                    .key(&keys.seq)
                    .arg(&self.node_id)
                    .arg(millis(ttl))
                    .invoke(c)
            })
            .map_err(|f| self.shared.unavailable("acquiring a lease", f))?;
        Ok(got.map(|(epoch, seq)| {
            (
                Fence {
                    node: self.node_id.clone(),
                    epoch,
                },
                seq,
            )
        }))
    }

    /// Extends the lease `fence` for `ttl` from now; `false` if it is no
    /// longer the partition's lease (expired, or granted to another).
    pub fn renew(&self, partition: u32, fence: &Fence, ttl: Duration) -> Result<bool, LogError> {
        let keys = self.keys(partition)?;
        let n: i64 = self
            .shared
            .call(|c| {
                self.shared
                    .scripts
                    .renew
                    .key(&keys.lease)
                    .arg(&fence.node)
                    .arg(fence.epoch)
                    .arg(millis(ttl))
                    .invoke(c)
            })
            .map_err(|f| self.shared.unavailable("renewing a lease", f))?;
        Ok(n == 1)
    }

    /// Gives up the lease `fence` if it is still the partition's (another
    /// node can then be granted it at once).
    pub fn release(&self, partition: u32, fence: &Fence) -> Result<(), LogError> {
        let keys = self.keys(partition)?;
        self.shared
            .call(|c| {
                self.shared
                    .scripts
                    .release
                    .key(&keys.lease)
                    .arg(&fence.node)
                    .arg(fence.epoch)
                    .invoke::<i64>(c)
            })
            .map_err(|f| self.shared.unavailable("releasing a lease", f))?;
        Ok(())
    }

    /// Every partition's current lease (`None`: nobody holds it), read in
    /// one transaction.
    pub fn leases(&self) -> Result<Vec<Option<LeaseInfo>>, LogError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for keys in &self.shared.keys {
            pipe.cmd("HMGET").arg(&keys.lease).arg("node").arg("epoch");
            pipe.cmd("PTTL").arg(&keys.lease);
        }
        let replies: Vec<Value> = self
            .shared
            .call(|c| pipe.query(c))
            .map_err(|f| self.shared.unavailable("reading the leases", f))?;
        let mut out = Vec::with_capacity(self.shared.keys.len());
        for pair in replies.chunks(2) {
            let [Value::Array(fields), ttl] = pair else {
                return Err(self.malformed("HMGET/PTTL"));
            };
            let info = match fields.as_slice() {
                [Value::BulkString(node), epoch] => Some(LeaseInfo {
                    node: String::from_utf8_lossy(node).into_owned(),
                    epoch: int(epoch).and_then(|e| u64::try_from(e).ok()).unwrap_or(0),
                    ttl_ms: int(ttl).unwrap_or(-2),
                }),
                _ => None,
            };
            out.push(info);
        }
        Ok(out)
    }

    /// Every partition's last seq stamped (0 if none), in one MGET.
    pub fn heads(&self) -> Result<Vec<u64>, LogError> {
        let mut cmd = redis::cmd("MGET");
        for keys in &self.shared.keys {
            cmd.arg(&keys.seq);
        }
        let heads: Vec<Option<u64>> = self
            .shared
            .call(|c| cmd.query(c))
            .map_err(|f| self.shared.unavailable("reading the partitions' heads", f))?;
        Ok(heads.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn node_key(&self, id: &str) -> String {
        format!("{}:node:{id}", self.shared.prefix)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.shared.prefix)
    }

    /// Publishes this node's status JSON for `ttl` and lists it as a member.
    pub fn heartbeat(&self, info_json: &str, ttl: Duration) -> Result<(), LogError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.node_key(&self.node_id))
            .arg(info_json)
            .arg("PX")
            .arg(millis(ttl))
            .ignore()
            .cmd("SADD")
            .arg(self.nodes_key())
            .arg(&self.node_id)
            .ignore();
        self.shared
            .call(|c| pipe.query::<()>(c))
            .map_err(|f| self.shared.unavailable("publishing a heartbeat", f))
    }

    /// The live nodes, `(id, status JSON)`, sorted by id; members whose
    /// heartbeat expired are dropped from the set.
    pub fn nodes(&self) -> Result<Vec<(String, String)>, LogError> {
        let mut ids: Vec<String> = self
            .shared
            .call(|c| redis::cmd("SMEMBERS").arg(self.nodes_key()).query(c))
            .map_err(|f| self.shared.unavailable("listing the nodes", f))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        let mut cmd = redis::cmd("MGET");
        for id in &ids {
            cmd.arg(self.node_key(id));
        }
        let infos: Vec<Option<String>> = self
            .shared
            .call(|c| cmd.query(c))
            .map_err(|f| self.shared.unavailable("reading the nodes", f))?;
        let mut live = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for (id, info) in ids.into_iter().zip(infos) {
            match info {
                Some(json) => live.push((id, json)),
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            // A node that comes back re-adds itself with its next heartbeat.
            self.shared
                .call(|c| {
                    redis::cmd("SREM")
                        .arg(self.nodes_key())
                        .arg(&gone)
                        .query::<i64>(c)
                })
                .map_err(|f| self.shared.unavailable("dropping expired nodes", f))?;
        }
        Ok(live)
    }

    /// Removes this node's heartbeat and membership (a clean shutdown).
    pub fn leave(&self) -> Result<(), LogError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(self.node_key(&self.node_id))
            .ignore()
            .cmd("SREM")
            .arg(self.nodes_key())
            .arg(&self.node_id)
            .ignore();
        self.shared
            .call(|c| pipe.query::<()>(c))
            .map_err(|f| self.shared.unavailable("leaving the cluster", f))
    }

    /// Removes from `partition`'s stream the events of parties deleted at
    /// a seq `<= upto_seq` (each party's events up to its delete; a party
    /// created again keeps its later ones), fenced like an append; at most
    /// [`PURGE_PARTIES_PER_CALL`] parties per call. Returns the events
    /// removed: call again while it returns more than 0.
    pub fn purge_deleted(
        &self,
        partition: u32,
        fence: &Fence,
        upto_seq: u64,
    ) -> Result<u64, LogError> {
        let keys = self.keys(partition)?;
        let got: Result<(u64, u64, u64), Failure> = self.shared.call(|c| {
            self.shared
                .scripts
                .purge
                .key(&keys.log)
                .key(&keys.deleted)
                .key(&keys.lease)
                .arg(&fence.node)
                .arg(fence.epoch)
                .arg(upto_seq)
                .arg(PURGE_PARTIES_PER_CALL)
                .arg(&keys.pe)
                .invoke(c)
        });
        match got {
            Ok((removed, _parties, _more)) => Ok(removed),
            Err(f) if f.error().code() == Some("FENCED") => Err(LogError::Fenced { partition }),
            Err(f) => Err(self.shared.unavailable("purging deleted parties", f)),
        }
    }

    /// Whether Redis appends every write to its AOF (`appendonly yes`):
    /// without it a Redis crash loses the writes since its last snapshot.
    /// Read with CONFIG GET, or from INFO where CONFIG is disabled.
    pub fn aof_enabled(&self) -> Result<bool, LogError> {
        let config: Result<Vec<String>, Failure> = self
            .shared
            .call(|c| redis::cmd("CONFIG").arg("GET").arg("appendonly").query(c));
        match config {
            Ok(kv) if kv.len() == 2 => Ok(kv[1].eq_ignore_ascii_case("yes")),
            Ok(_) | Err(Failure::Call(_)) => {
                let info = self.info("persistence")?;
                Ok(info_field(&info, "aof_enabled").is_some_and(|v| v == "1"))
            }
            Err(f) => Err(self.shared.unavailable("reading Redis's configuration", f)),
        }
    }

    /// Checks Redis answers.
    pub fn ping(&self) -> Result<(), LogError> {
        self.shared
            .call(|c| redis::cmd("PING").query::<String>(c))
            .map(drop)
            .map_err(|f| self.shared.unavailable("pinging Redis", f))
    }

    /// Redis's `used_memory` (bytes).
    pub fn memory_used(&self) -> Result<u64, LogError> {
        let info = self.info("memory")?;
        info_field(&info, "used_memory")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| self.malformed("INFO memory"))
    }

    /// Every partition's stream length (entries stored), in one pipeline.
    pub fn stream_lengths(&self) -> Result<Vec<u64>, LogError> {
        let mut pipe = redis::pipe();
        for keys in &self.shared.keys {
            pipe.cmd("XLEN").arg(&keys.log);
        }
        self.shared
            .call(|c| pipe.query(c))
            .map_err(|f| self.shared.unavailable("reading the streams' lengths", f))
    }

    fn info(&self, section: &str) -> Result<String, LogError> {
        self.shared
            .call(|c| redis::cmd("INFO").arg(section).query(c))
            .map_err(|f| self.shared.unavailable("reading Redis's INFO", f))
    }
}

/// The value of `name:value` in an INFO reply.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == name).then(|| v.trim())
    })
}
