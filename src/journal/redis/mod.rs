//! The shared, partitioned log of a cluster on Redis Streams
//! (`--journal redis://HOST:PORT[/DB]`): [`RedisLog`] implements
//! [`Log`] (appends, replay, tail) and [`Journal`] (history reads,
//! idempotency records), plus the lease and membership operations the
//! cluster manager runs.
//!
//! Owns the Redis key layout and the scripts that keep it consistent. Must
//! not decide who should hold a lease or what an event means (that is
//! [`crate::cluster`]'s and the bus's), nor interpret the stored JSON
//! beyond inserting `seq` and decoding it with [`codec`].
//!
//! # Keys
//! For partition `p` (the `{p<p>}` hash tag keeps one partition's keys in
//! one Redis Cluster slot, so its scripts stay single-slot):
//! - `{prefix}:{p<p>}:log`: the stream; entry id `<seq>-0`, fields `e`
//!   (the stored JSON, `seq` included) and `n` (the origin node's id).
//! - `{prefix}:{p<p>}:seq`: the partition's last `seq` (a counter).
//! - `{prefix}:{p<p>}:parties`: party id -> `seq` of its `party.created`,
//!   for parties that exist.
//! - `{prefix}:{p<p>}:deleted`: party id -> `seq` of its `party.deleted`,
//!   until [`RedisLog::purge_deleted`] removes its events.
//! - `{prefix}:{p<p>}:pe:<party>`: the party's seqs, ascending (history).
//! - `{prefix}:{p<p>}:lease`: hash `node`, `epoch`; expires (PEXPIRE).
//! - `{prefix}:{p<p>}:epoch`: the last lease epoch granted (never expires).
//! - `{prefix}:{p<p>}:batch:<batch id>`: first seq of an applied batch
//!   ([`BATCH_TTL`]): a retried append finds it and appends nothing.
//!
//! Global: `{prefix}:meta` (hash `partitions`, `created_at`, `format`),
//! `{prefix}:records` (catalog record key -> JSON, see
//! [`crate::catalog::intern`]), `{prefix}:nodes` (set of node ids),
//! `{prefix}:node:<id>` (a node's heartbeat JSON, expiring) and
//! `{prefix}:idem:<key>` (idempotency records, expiring).
//!
//! # Invariants
//! - One append is one script run: the batch is wholly in the stream, the
//!   counter, the party index and the history lists, or nothing of it is
//!   (every refusal — fence, existing party — happens before any write).
//! - A partition's seqs are gap-free from 1 and equal to its stream ids
//!   (until a purge removes a deleted party's entries).
//! - Every catalog record a stored event cites is in `{prefix}:records`
//!   before the event is appended (records are content-keyed, written with
//!   HSETNX, never changed).
//! - Every Redis call is bounded: [`CONNECT_TIMEOUT`] to connect,
//!   [`IO_TIMEOUT`] for each read or write (the tail's blocking read: its
//!   block time plus [`IO_TIMEOUT`]).
//!
//! # Layout
//! - this file: options, opening, the connection pool, keys, appends,
//!   replay, history and decoding.
//! - `tail.rs`: [`Tail`] over XREAD on a dedicated connection.
//! - `cluster.rs`: leases, heads, node heartbeats, purging deleted
//!   parties, and status figures.
//! - `idempotency.rs`: idempotency records ([`RedisIdempotency`]).
//! - `*.lua`: the scripts (each documents its keys and arguments).

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rayon::prelude::*;
use redis::{Client, Connection, ErrorKind, RedisError, Script, Value};

use super::idempotency::IdempotencyStore;
use super::log::{partition_of, Entry, Fence, Log, LogError, Op, Tail};
use super::{codec, Journal, JournalError};
use crate::catalog::intern::JournalRecords;
use crate::event::Event;

mod cluster;
mod idempotency;
mod tail;
#[cfg(test)]
mod tests;

pub use cluster::{LeaseInfo, PURGE_PARTIES_PER_CALL};
pub use idempotency::RedisIdempotency;

/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one read or write on a connection may take: a Redis that does
/// not answer within it counts as unavailable (appends are small scripts
/// that run in well under a millisecond).
pub const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an applied batch id is remembered: a retry after an
/// [`LogError::Unavailable`] comes within seconds; ten minutes covers a
/// Redis restart and reconnection.
pub const BATCH_TTL: Duration = Duration::from_secs(600);
/// Idle connections kept for reuse (the dispatcher, history reads, the
/// cluster manager and the idempotency store at once, with room).
const POOL_MAX: usize = 8;
/// Stream entries read per XRANGE during replay: a few hundred KB of JSON.
const REPLAY_CHUNK: usize = 1_000;
/// The key layout's version, kept in `{prefix}:meta`.
const FORMAT: u32 = 1;

/// How to reach and lay out the shared log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[:password@]HOST:PORT[/DB]`.
    pub url: String,
    /// K, the partition count: fixed when a cluster is first opened.
    pub partitions: u32,
    /// This node's id (the origin of its appends, the holder of its leases).
    pub node_id: String,
    /// The prefix of every key (default `pb`): several clusters may share
    /// one Redis under different prefixes.
    pub prefix: String,
}

impl RedisOptions {
    /// Options for `url`, `partitions` and `node_id`, with the default
    /// prefix.
    pub fn new(url: &str, partitions: u32, node_id: &str) -> RedisOptions {
        RedisOptions {
            url: url.to_string(),
            partitions,
            node_id: node_id.to_string(),
            prefix: "pb".to_string(),
        }
    }
}

/// The keys of one partition.
#[derive(Debug, Clone)]
struct PartitionKeys {
    log: String,
    seq: String,
    parties: String,
    deleted: String,
    lease: String,
    epoch: String,
    /// `pe:` with the partition's tag: the party id follows.
    pe: String,
    /// `batch:` with the partition's tag: the batch id follows.
    batch: String,
}

impl PartitionKeys {
    fn new(prefix: &str, p: u32) -> PartitionKeys {
        let base = format!("{prefix}:{{p{p}}}:");
        let key = |s: &str| format!("{base}{s}");
        PartitionKeys {
            log: key("log"),
            seq: key("seq"),
            parties: key("parties"),
            deleted: key("deleted"),
            lease: key("lease"),
            epoch: key("epoch"),
            pe: key("pe:"),
            batch: key("batch:"),
        }
    }
}

/// The scripts, loaded once per process (EVALSHA, falling back to EVAL on
/// NOSCRIPT: the redis crate's [`Script`] does it).
struct Scripts {
    append: Script,
    party_events: Script,
    acquire: Script,
    renew: Script,
    release: Script,
    purge: Script,
    meta: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            append: Script::new(include_str!("append.lua")),
            party_events: Script::new(include_str!("party_events.lua")),
            acquire: Script::new(include_str!("acquire.lua")),
            renew: Script::new(include_str!("renew.lua")),
            release: Script::new(include_str!("release.lua")),
            purge: Script::new(include_str!("purge.lua")),
            meta: Script::new(include_str!("meta.lua")),
        }
    }
}

/// Why a pooled call failed: before anything was sent (no connection), or
/// during the call (it may have taken effect).
enum Failure {
    Connect(RedisError),
    Call(RedisError),
}

impl Failure {
    fn error(&self) -> &RedisError {
        match self {
            Failure::Connect(e) | Failure::Call(e) => e,
        }
    }

    fn into_error(self) -> RedisError {
        match self {
            Failure::Connect(e) | Failure::Call(e) => e,
        }
    }

    /// Whether the call may have reached Redis.
    fn maybe_sent(&self) -> bool {
        matches!(self, Failure::Call(_))
    }
}

/// What the log, its tails and its idempotency store share.
struct Shared {
    /// The URL without its password, for messages.
    url: String,
    /// Opens connections.
    client: Client,
    /// Idle connections: taken for one call, put back after it unless it
    /// failed on the connection (then dropped, and the next call connects
    /// anew).
    pool: Mutex<Vec<Connection>>,
    /// The key prefix.
    prefix: String,
    /// Every partition's keys, by partition.
    keys: Vec<PartitionKeys>,
    /// The catalog records stored events cite: loaded on open, grown by
    /// appends, and reloaded when an event cites one another node stored
    /// since (replaced whole, so decoders holding the old set finish with
    /// it).
    records: RwLock<Arc<JournalRecords>>,
    scripts: Scripts,
}

impl Shared {
    /// A new connection with the timeouts set.
    fn connect(&self, read_timeout: Duration) -> Result<Connection, RedisError> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(read_timeout))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on a pooled connection (a new one if none is idle).
    ///
    /// A pooled connection Redis dropped while it sat idle (a Redis
    /// restart, a `CLIENT KILL`, an idle timeout) fails at once: then the
    /// pool is emptied (its other connections went the same way) and `f`
    /// runs once more on a new connection. Every `f` here may run twice:
    /// appends are idempotent per batch id, the other writes are
    /// idempotent or, for a lease grant, end as "not granted" (the lease
    /// expires). A timeout is not retried: Redis may be busy, and a retry
    /// would double the wait.
    fn call<T>(&self, f: impl Fn(&mut Connection) -> Result<T, RedisError>) -> Result<T, Failure> {
        let idle = self.pool().pop();
        let pooled = idle.is_some();
        let conn = match idle {
            Some(c) => c,
            None => self.connect(IO_TIMEOUT).map_err(Failure::Connect)?,
        };
        match self.call_on(conn, &f) {
            Err(e) if pooled && e.is_connection_dropped() => {
                self.pool().clear();
                let conn = self.connect(IO_TIMEOUT).map_err(Failure::Connect)?;
                self.call_on(conn, &f).map_err(Failure::Call)
            }
            out => out.map_err(Failure::Call),
        }
    }

    /// Runs `f` on `conn`, and puts `conn` back in the pool unless the
    /// call failed on the connection.
    fn call_on<T>(
        &self,
        mut conn: Connection,
        f: &impl Fn(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, RedisError> {
        let out = f(&mut conn);
        // A reply Redis sent as an error leaves the connection in step;
        // anything else (I/O, a timeout, a reply that did not parse) may
        // not.
        let reusable = match &out {
            Ok(_) => true,
            Err(e) => matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension),
        };
        if reusable {
            let mut pool = self.pool();
            if pool.len() < POOL_MAX {
                pool.push(conn);
            }
        }
        out
    }

    /// A failed call as a [`JournalError`], naming the URL and what was
    /// being done.
    fn failed(&self, doing: &str, e: RedisError) -> JournalError {
        JournalError::Io {
            context: format!("{}: {doing}", self.url),
            source: std::io::Error::other(e),
        }
    }

    /// A failed call as [`LogError::Unavailable`].
    fn unavailable(&self, doing: &str, f: Failure) -> LogError {
        let maybe_applied = f.maybe_sent();
        LogError::Unavailable {
            source: self.failed(doing, f.into_error()),
            maybe_applied,
        }
    }

    fn records(&self) -> Arc<JournalRecords> {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads `{prefix}:records` into a new set and makes it current.
    fn reload_records(&self) -> Result<Arc<JournalRecords>, LogError> {
        let rows: Vec<(String, String)> = self
            .call(|c| {
                redis::cmd("HGETALL")
                    .arg(format!("{}:records", self.prefix))
                    .query(c)
            })
            .map_err(|f| self.unavailable("reading the catalog records", f))?;
        let mut parsed = Vec::with_capacity(rows.len());
        for (key, json) in &rows {
            let key: i64 = key.parse().map_err(|_| {
                LogError::Corrupt(JournalError::Corrupt {
                    context: format!("{}: catalog record key {key:?}", self.url),
                    source: None,
                })
            })?;
            parsed.push((key, json.as_str()));
        }
        let records = JournalRecords::load(parsed).map_err(|e| {
            LogError::Corrupt(JournalError::Corrupt {
                context: format!("{}: reading the catalog records", self.url),
                source: Some(Box::new(e)),
            })
        })?;
        let records = Arc::new(records);
        *self.records.write().unwrap_or_else(|e| e.into_inner()) = records.clone();
        Ok(records)
    }

    /// Decodes stored events (in parallel when there are many); when one
    /// cites a record this node has not loaded, reloads the records and
    /// tries once more.
    fn decode_all(&self, texts: &[Vec<u8>]) -> Result<Vec<Event>, LogError> {
        let decode = |records: &Arc<JournalRecords>| -> Result<Vec<Event>, serde_json::Error> {
            if texts.len() < 64 {
                texts
                    .iter()
                    .map(|t| codec::decode_stored(t, records))
                    .collect()
            } else {
                texts
                    .par_iter()
                    .map(|t| codec::decode_stored(t, records))
                    .collect()
            }
        };
        match decode(&self.records()) {
            Ok(events) => Ok(events),
            Err(_) => {
                let records = self.reload_records()?;
                decode(&records).map_err(|e| {
                    LogError::Corrupt(JournalError::Corrupt {
                        context: format!("{}: undecodable event", self.url),
                        source: Some(Box::new(e)),
                    })
                })
            }
        }
    }

    /// Stores the catalog records cited since the last append (HSETNX:
    /// idempotent, content-keyed).
    fn store_records(&self) -> Result<(), LogError> {
        let records = self.records();
        let (new, upto) = records.unstored().map_err(|key| {
            LogError::Corrupt(JournalError::Storage(format!(
                "{}: catalog record key {key} names another record in this log",
                self.url
            )))
        })?;
        if !new.is_empty() {
            let key = format!("{}:records", self.prefix);
            let mut pipe = redis::pipe();
            for r in &new {
                pipe.cmd("HSETNX")
                    .arg(&key)
                    .arg(r.key)
                    .arg(&*r.json)
                    .ignore();
            }
            self.call(|c| pipe.query::<()>(c))
                .map_err(|f| LogError::Unavailable {
                    // Records alone change nothing a reader sees.
                    maybe_applied: false,
                    source: self.failed("storing catalog records", f.into_error()),
                })?;
        }
        records.mark_stored(new, upto);
        Ok(())
    }
}

/// The shared log on Redis (see the module docs).
pub struct RedisLog {
    /// What tails and the idempotency store share with the log.
    shared: Arc<Shared>,
    /// K.
    partitions: u32,
    /// This node's id.
    node_id: String,
    /// Idempotency records, under `{prefix}:idem:`.
    idem: RedisIdempotency,
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

/// An integer in a reply (an integer, or a string holding one).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// The seq of a stream entry id `<seq>-0`.
fn seq_of_id(id: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(id).ok()?;
    s.split_once('-')?.0.parse().ok()
}

/// A stream entry `[id, [field, value, ...]]`: its seq, `e` and `n`.
fn stream_entry(v: Value) -> Option<(u64, Vec<u8>, Option<Vec<u8>>)> {
    let Value::Array(mut parts) = v else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let fields = parts.pop()?;
    let Value::BulkString(id) = parts.pop()? else {
        return None;
    };
    let seq = seq_of_id(&id)?;
    let Value::Array(fields) = fields else {
        return None;
    };
    let (mut e, mut n) = (None, None);
    let mut it = fields.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Value::BulkString(k), Value::BulkString(v)) = (k, v) {
            match k.as_slice() {
                b"e" => e = Some(v),
                b"n" => n = Some(v),
                _ => {}
            }
        }
    }
    Some((seq, e?, n))
}

impl RedisLog {
    /// Connects, checks Redis answers, and reads (creating on first use)
    /// the cluster's meta hash: a cluster created with another partition
    /// count is refused. Loads the catalog records stored events cite.
    pub fn open(opts: &RedisOptions) -> Result<RedisLog, JournalError> {
        let url = redact(&opts.url);
        if opts.partitions == 0 {
            return Err(JournalError::Storage(
                "--partitions must be at least 1".into(),
            ));
        }
        if opts.node_id.is_empty() || opts.node_id.contains(char::is_whitespace) {
            return Err(JournalError::Storage(format!(
                "node id {:?} must be non-empty, without spaces",
                opts.node_id
            )));
        }
        if opts.prefix.is_empty()
            || opts
                .prefix
                .contains(|c: char| c == '{' || c == '}' || c.is_whitespace())
        {
            // Braces would change the keys' hash tags (their cluster slot).
            return Err(JournalError::Storage(format!(
                "key prefix {:?} must be non-empty, without braces or spaces",
                opts.prefix
            )));
        }
        let client = Client::open(opts.url.as_str()).map_err(|e| JournalError::Io {
            context: format!("{url}: not a usable Redis URL"),
            source: std::io::Error::other(e),
        })?;
        let shared = Shared {
            url: url.clone(),
            client,
            pool: Mutex::new(Vec::new()),
            prefix: opts.prefix.clone(),
            keys: (0..opts.partitions)
                .map(|p| PartitionKeys::new(&opts.prefix, p))
                .collect(),
            records: RwLock::new(Arc::new(JournalRecords::empty())),
            scripts: Scripts::new(),
        };
        let reach = |f: Failure| {
            let doing = if matches!(f, Failure::Connect(_)) {
                "cannot connect to Redis"
            } else {
                "Redis did not answer"
            };
            shared.failed(doing, f.into_error())
        };
        shared
            .call(|c| redis::cmd("PING").query::<String>(c))
            .map_err(reach)?;
        let (partitions, format): (Option<String>, Option<String>) = shared
            .call(|c| {
                shared
                    .scripts
                    .meta
                    .key(format!("{}:meta", opts.prefix))
                    .arg(opts.partitions)
                    .arg(crate::event::now_rfc3339())
                    .arg(FORMAT)
                    .invoke(c)
            })
            .map_err(|f| shared.failed("reading the cluster's meta hash", f.into_error()))?;
        if format.as_deref() != Some(&FORMAT.to_string()) {
            return Err(JournalError::Storage(format!(
                "{url}: {}:meta has format {}, this build knows {FORMAT}",
                opts.prefix,
                format.as_deref().unwrap_or("(none)")
            )));
        }
        let stored: Option<u32> = partitions.as_deref().and_then(|s| s.parse().ok());
        match stored {
            Some(k) if k == opts.partitions => {}
            Some(k) => {
                return Err(JournalError::Storage(format!(
                    "this cluster has {k} partitions (fixed when it was created); \
                     this node was started with --partitions {}",
                    opts.partitions
                )))
            }
            None => {
                return Err(JournalError::Storage(format!(
                    "{url}: {}:meta has no valid partition count ({partitions:?})",
                    opts.prefix
                )))
            }
        }
        // Best effort (CONFIG may be disabled): an evicting Redis drops
        // events when it fills up.
        let policy = shared.call(|c| {
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .query::<Vec<String>>(c)
        });
        if let Ok([_, policy]) = policy.as_deref() {
            if policy != "noeviction" {
                log::warn!(
                    "{url} has maxmemory-policy {policy}: it may evict the shared log's keys \
                     when full (set noeviction)"
                );
            }
        }
        let shared = Arc::new(shared);
        shared.reload_records().map_err(|e| match e {
            LogError::Unavailable { source, .. } | LogError::Corrupt(source) => source,
            other => JournalError::Storage(other.to_string()),
        })?;
        log::info!(
            "shared log {url} opened (prefix {}, {} partitions, node {})",
            opts.prefix,
            opts.partitions,
            opts.node_id
        );
        Ok(RedisLog {
            idem: RedisIdempotency::new(shared.clone()),
            shared,
            partitions: opts.partitions,
            node_id: opts.node_id.clone(),
        })
    }

    fn keys(&self, partition: u32) -> Result<&PartitionKeys, LogError> {
        self.shared.keys.get(partition as usize).ok_or_else(|| {
            LogError::Corrupt(JournalError::Storage(format!(
                "partition {partition} out of range (the cluster has {})",
                self.partitions
            )))
        })
    }

    /// The URL (without password), for status and messages.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Every event of partition `p`, oldest first, in chunks; returns the
    /// last seq fed (0 if none).
    fn replay_partition(
        &self,
        p: u32,
        f: &mut dyn FnMut(u32, Arc<Event>),
    ) -> Result<u64, LogError> {
        let key = &self.keys(p)?.log;
        let mut start = "-".to_string();
        let mut last = 0;
        loop {
            let reply: Value = self
                .shared
                .call(|c| {
                    redis::cmd("XRANGE")
                        .arg(key)
                        .arg(&start)
                        .arg("+")
                        .arg("COUNT")
                        .arg(REPLAY_CHUNK)
                        .query(c)
                })
                .map_err(|e| self.shared.unavailable("replaying the log", e))?;
            let Value::Array(entries) = reply else {
                return Err(self.malformed("XRANGE"));
            };
            let n = entries.len();
            let mut texts = Vec::with_capacity(n);
            for entry in entries {
                let (seq, e, _) = stream_entry(entry).ok_or_else(|| self.malformed("XRANGE"))?;
                last = seq;
                texts.push(e);
            }
            for ev in self.shared.decode_all(&texts)? {
                f(p, Arc::new(ev));
            }
            if n < REPLAY_CHUNK {
                return Ok(last);
            }
            start = format!("({last}-0");
        }
    }

    /// A reply of an unexpected shape.
    fn malformed(&self, what: &str) -> LogError {
        LogError::Corrupt(JournalError::Corrupt {
            context: format!("{}: unexpected {what} reply", self.shared.url),
            source: None,
        })
    }
}

impl Log for RedisLog {
    fn partitions(&self) -> u32 {
        self.partitions
    }

    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn append(
        &self,
        partition: u32,
        fence: Option<&Fence>,
        batch_id: &str,
        entries: &[Entry],
    ) -> Result<u64, LogError> {
        let keys = self.keys(partition)?;
        for e in entries {
            if partition_of(&e.party_id, self.partitions) != partition {
                return Err(LogError::Corrupt(JournalError::Storage(format!(
                    "party {} is not in partition {partition}",
                    e.party_id
                ))));
            }
            if !e.json.ends_with('}') {
                return Err(LogError::Corrupt(JournalError::Storage(format!(
                    "an event of party {} is not a JSON object",
                    e.party_id
                ))));
            }
        }
        self.shared.store_records()?;
        let mut call = self.shared.scripts.append.prepare_invoke();
        call.key(&keys.log)
            .key(&keys.seq)
            .key(&keys.parties)
            .key(&keys.deleted)
            .key(&keys.lease)
            .key(format!("{}{batch_id}", keys.batch));
        for e in entries {
            call.key(format!("{}{}", keys.pe, e.party_id));
        }
        call.arg(&self.node_id);
        match fence {
            Some(f) => call.arg(&f.node).arg(f.epoch),
            None => call.arg("").arg(""),
        };
        call.arg(BATCH_TTL.as_secs());
        for e in entries {
            let op = match e.op {
                Op::Create => "c",
                Op::Delete => "d",
                Op::Other => "o",
            };
            call.arg(&e.party_id).arg(op).arg(&e.json);
        }
        match self.shared.call(|c| call.invoke::<u64>(c)) {
            Ok(first) => Ok(first),
            Err(f) => {
                let e = f.error();
                match e.code() {
                    Some("FENCED") => Err(LogError::Fenced { partition }),
                    Some("EXISTS") => Err(LogError::Exists(
                        e.detail().unwrap_or_default().trim().to_string(),
                    )),
                    _ => Err(self
                        .shared
                        .unavailable(&format!("appending to partition {partition}"), f)),
                }
            }
        }
    }

    /// Returns, per partition, the last seq fed or, if higher, the
    /// partition's head as read before the replay: a purge may have
    /// removed the newest events (a deleted party's), and a tail that
    /// continues from the head misses nothing, since every event up to it
    /// was stored, or purged, before the replay read the stream. (With the
    /// last seq fed alone, a caller waiting to reach the head would wait
    /// for events that no longer exist.)
    fn replay_all(&self, f: &mut dyn FnMut(u32, Arc<Event>)) -> Result<Vec<u64>, LogError> {
        let heads = self.heads()?;
        (0..self.partitions)
            .map(|p| {
                let fed = self.replay_partition(p, f)?;
                Ok(fed.max(heads.get(p as usize).copied().unwrap_or(0)))
            })
            .collect()
    }

    fn tail(&self) -> Result<Box<dyn Tail>, LogError> {
        Ok(Box::new(tail::RedisTail::new(self.shared.clone())?))
    }

    fn party_created_at(&self, party_id: &str) -> Result<Option<u64>, LogError> {
        let keys = self.keys(partition_of(party_id, self.partitions))?;
        self.shared
            .call(|c| redis::cmd("HGET").arg(&keys.parties).arg(party_id).query(c))
            .map_err(|f| self.shared.unavailable("reading the party index", f))
    }
}

/// A [`LogError`] as a [`JournalError`] (for the [`Journal`] methods).
fn journal_error(e: LogError) -> JournalError {
    match e {
        LogError::Unavailable { source, .. } | LogError::Corrupt(source) => source,
        other => JournalError::Storage(other.to_string()),
    }
}

impl Journal for RedisLog {
    fn append(&self, _events: &[Arc<Event>]) -> Result<(), JournalError> {
        Err(JournalError::Unsupported(
            "direct appends (the cluster appends through its log)",
        ))
    }

    fn append_encoded(&self, _events: &[Arc<Event>], _json: &[String]) -> Result<(), JournalError> {
        Err(JournalError::Unsupported(
            "direct appends (the cluster appends through its log)",
        ))
    }

    /// Every partition's events, partition by partition (each in order):
    /// seqs are per partition, so only `after == 0` (everything) has a
    /// meaning; any other `after` is refused. Returns the highest seq any
    /// partition has stamped.
    fn replay(&self, after: u64, f: &mut dyn FnMut(&Arc<Event>)) -> Result<u64, JournalError> {
        if after != 0 {
            return Err(JournalError::Unsupported(
                "replaying after a seq (seqs are per partition: replay everything)",
            ));
        }
        self.replay_all(&mut |_, e| f(&e)).map_err(journal_error)?;
        let heads = self.heads().map_err(journal_error)?;
        Ok(heads.into_iter().max().unwrap_or(0))
    }

    fn party_events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, JournalError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self
            .keys(partition_of(party_id, self.partitions))
            .map_err(journal_error)?;
        let texts: Vec<Vec<u8>> = self
            .shared
            .call(|c| {
                self.shared
                    .scripts
                    .party_events
                    .key(format!("{}{party_id}", keys.pe))
                    .key(&keys.log)
                    .arg(since)
                    .arg(u64::try_from(limit).unwrap_or(u64::MAX).min(1 << 52))
                    .invoke(c)
            })
            .map_err(|f| {
                self.shared
                    .failed("reading a party's history", f.into_error())
            })?;
        let events = self.shared.decode_all(&texts).map_err(journal_error)?;
        Ok(events.into_iter().map(Arc::new).collect())
    }

    fn idempotency(&self) -> Option<&dyn IdempotencyStore> {
        Some(&self.idem)
    }
}
