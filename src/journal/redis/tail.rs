//! The tail of every partition: one blocking XREAD over all K streams, on
//! a connection of its own (a blocking read must not hold a pooled
//! connection, nor wait behind one).
//!
//! Owns that connection and its reconnection; decodes with the log's
//! records ([`super::Shared::decode_all`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::{Connection, Value};

use super::{stream_entry, Failure, Shared, IO_TIMEOUT};
use crate::journal::log::{LogError, Tail, Tailed};

/// A reader of every partition's new events.
pub(super) struct RedisTail {
    shared: Arc<Shared>,
    /// The dedicated connection; `None` after a failure (the next read
    /// connects again).
    conn: Option<Connection>,
    /// Its read timeout as set: the block time plus [`IO_TIMEOUT`].
    read_timeout: Duration,
    /// Partition by stream key, to place each reply's stream.
    partition_of_key: HashMap<Vec<u8>, u32>,
    /// Origin node ids seen, shared (a handful of nodes, millions of
    /// events).
    origins: HashMap<Vec<u8>, Arc<str>>,
}

impl RedisTail {
    pub(super) fn new(shared: Arc<Shared>) -> Result<RedisTail, LogError> {
        let partition_of_key = shared
            .keys
            .iter()
            .enumerate()
            .map(|(p, k)| (k.log.clone().into_bytes(), p as u32))
            .collect();
        let mut tail = RedisTail {
            shared,
            conn: None,
            read_timeout: IO_TIMEOUT,
            partition_of_key,
            origins: HashMap::new(),
        };
        tail.connection(IO_TIMEOUT)?;
        Ok(tail)
    }

    /// The connection, (re)opened if needed, with a read timeout of at
    /// least `read_timeout`.
    fn connection(&mut self, read_timeout: Duration) -> Result<&mut Connection, LogError> {
        if self.conn.is_none() {
            let conn = self.shared.connect(read_timeout).map_err(|e| {
                self.shared
                    .unavailable("tailing the log", Failure::Connect(e))
            })?;
            self.read_timeout = read_timeout;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected above");
        if self.read_timeout != read_timeout {
            if let Err(e) = conn.set_read_timeout(Some(read_timeout)) {
                self.conn = None;
                return Err(self
                    .shared
                    .unavailable("tailing the log", Failure::Connect(e)));
            }
            self.read_timeout = read_timeout;
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    fn origin(&mut self, node: Option<Vec<u8>>) -> Arc<str> {
        let node = node.unwrap_or_default();
        if let Some(o) = self.origins.get(&node) {
            return o.clone();
        }
        let o: Arc<str> = String::from_utf8_lossy(&node).into();
        if self.origins.len() < 1024 {
            self.origins.insert(node, o.clone());
        }
        o
    }
}

impl Tail for RedisTail {
    fn read(&mut self, after: &[u64], block: Duration, max: usize) -> Result<Tailed, LogError> {
        let k = self.shared.keys.len();
        // COUNT is per stream: share `max` among them (one busy partition
        // still gets a useful slice per round trip).
        let count = max.div_ceil(k.max(1)).max(1);
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(count);
        // BLOCK 0 would wait forever: a zero block is a plain read.
        let block_ms = if block.is_zero() {
            None
        } else {
            Some(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1))
        };
        if let Some(ms) = block_ms {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS");
        for keys in &self.shared.keys {
            cmd.arg(&keys.log);
        }
        for p in 0..k {
            cmd.arg(format!("{}-0", after.get(p).copied().unwrap_or(0)));
        }
        let timeout = IO_TIMEOUT + block_ms.map_or(Duration::ZERO, Duration::from_millis);
        // A connection Redis dropped since the last read fails at once:
        // reading is harmless to repeat, so once more on a new one.
        let mut reply = None;
        for attempt in 0..2 {
            let fresh = self.conn.is_none();
            let conn = self.connection(timeout)?;
            match cmd.query::<Value>(conn) {
                Ok(v) => {
                    reply = Some(v);
                    break;
                }
                Err(e) => {
                    self.conn = None;
                    if fresh || attempt == 1 || !e.is_connection_dropped() {
                        return Err(self.shared.unavailable("tailing the log", Failure::Call(e)));
                    }
                }
            }
        }
        let Some(reply) = reply else {
            return Err(self.malformed());
        };
        let streams = match reply {
            Value::Nil => return Ok(Vec::new()),
            Value::Array(streams) => streams,
            _ => return Err(self.malformed()),
        };
        let mut out = Vec::new();
        for stream in streams {
            let Value::Array(mut parts) = stream else {
                return Err(self.malformed());
            };
            let (Some(Value::Array(entries)), Some(Value::BulkString(key))) =
                (parts.pop(), parts.pop())
            else {
                return Err(self.malformed());
            };
            let p = *self
                .partition_of_key
                .get(&key)
                .ok_or_else(|| self.malformed())?;
            let mut texts = Vec::with_capacity(entries.len());
            let mut origins = Vec::with_capacity(entries.len());
            for entry in entries {
                let (_, e, n) = stream_entry(entry).ok_or_else(|| self.malformed())?;
                texts.push(e);
                origins.push(self.origin(n));
            }
            let events = self.shared.decode_all(&texts)?;
            out.extend(
                events
                    .into_iter()
                    .zip(origins)
                    .map(|(e, o)| (p, Arc::new(e), o)),
            );
        }
        Ok(out)
    }
}

impl RedisTail {
    fn malformed(&self) -> LogError {
        LogError::Corrupt(crate::journal::JournalError::Corrupt {
            context: format!("{}: unexpected XREAD reply", self.shared.url),
            source: None,
        })
    }
}
