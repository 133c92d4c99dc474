//! Idempotency records in Redis, shared by every node of a cluster: one
//! hash per key, `{prefix}:idem:<key>` with fields `route`, `status`,
//! `body` (the JSON bytes, as stored) and `created_at`, expiring after
//! [`RETENTION`] (Redis deletes them; no purge pass).
//!
//! Owns storing and reading records; what a key means is
//! [`crate::idempotency`]'s.

use std::sync::Arc;

use redis::Value;

use super::Shared;
use crate::journal::idempotency::{oldest_kept, IdempotencyStore, Stored, RETENTION};
use crate::journal::JournalError;

/// The cluster's idempotency records.
pub struct RedisIdempotency {
    shared: Arc<Shared>,
}

impl RedisIdempotency {
    pub(super) fn new(shared: Arc<Shared>) -> RedisIdempotency {
        RedisIdempotency { shared }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.shared.prefix)
    }
}

impl IdempotencyStore for RedisIdempotency {
    fn get(&self, key: &str) -> Result<Option<Stored>, JournalError> {
        let fields: Vec<Value> = self
            .shared
            .call(|c| {
                redis::cmd("HMGET")
                    .arg(self.key(key))
                    .arg("route")
                    .arg("status")
                    .arg("body")
                    .arg("created_at")
                    .query(c)
            })
            .map_err(|f| {
                self.shared
                    .failed("reading an idempotency record", f.into_error())
            })?;
        let text = |v: &Value| match v {
            Value::BulkString(b) => Some(b.clone()),
            _ => None,
        };
        let number = |v: &Value| {
            text(v)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse::<u64>().ok())
        };
        let [route, status, body, created_at] = fields.as_slice() else {
            return Err(self.corrupt(key));
        };
        let Some(route) = text(route) else {
            return Ok(None); // no such record
        };
        let stored = (|| {
            Some(Stored {
                route: String::from_utf8(route).ok()?,
                status: u16::try_from(number(status)?).ok()?,
                body: text(body)?,
                created_at: number(created_at)?,
            })
        })()
        .ok_or_else(|| self.corrupt(key))?;
        Ok((stored.created_at >= oldest_kept()).then_some(stored))
    }

    fn put(&self, key: &str, stored: &Stored) -> Result<(), JournalError> {
        let k = self.key(key);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&k)
            .ignore()
            .cmd("HSET")
            .arg(&k)
            .arg("route")
            .arg(&stored.route)
            .arg("status")
            .arg(stored.status)
            .arg("body")
            .arg(&stored.body)
            .arg("created_at")
            .arg(stored.created_at)
            .ignore()
            .cmd("EXPIRE")
            .arg(&k)
            .arg(RETENTION.as_secs())
            .ignore();
        self.shared.call(|c| pipe.query::<()>(c)).map_err(|f| {
            self.shared
                .failed("storing an idempotency record", f.into_error())
        })
    }

    fn reserve(&self, key: &str) -> Result<bool, JournalError> {
        let k = self.lock_key(key);
        let set: Option<String> = self
            .shared
            .call(|c| {
                redis::cmd("SET")
                    .arg(&k)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(IN_FLIGHT_TTL.as_millis() as u64)
                    .query(c)
            })
            .map_err(|f| {
                self.shared
                    .failed("reserving an idempotency key", f.into_error())
            })?;
        Ok(set.is_some())
    }

    fn release(&self, key: &str) {
        let k = self.lock_key(key);
        let _ = self
            .shared
            .call(|c| redis::cmd("DEL").arg(&k).query::<()>(c));
    }
}

/// How long a key stays reserved by a node that handles it (longer than any
/// command takes; a node that dies holding one frees it this late).
const IN_FLIGHT_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl RedisIdempotency {
    fn lock_key(&self, key: &str) -> String {
        format!("{}:idem-lock:{key}", self.shared.prefix)
    }

    fn corrupt(&self, key: &str) -> JournalError {
        JournalError::Corrupt {
            context: format!("{}: idempotency record {}", self.shared.url, self.key(key)),
            source: None,
        }
    }
}
