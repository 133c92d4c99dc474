//! Per-client-IP rate limits: one token bucket per IP and class (reads, i.e.
//! GET, HEAD and OPTIONS, and writes, everything else), refilled continuously.
//!
//! Owns the buckets and nothing else; `dispatch` asks [`RateLimiter::check`]
//! before routing and answers 429 `rate_limited` with `Retry-After` on a
//! refusal. A small bucket of our own rather than the `governor` crate: it is
//! fifty lines, needs no clock abstraction, and keeps the dependency tree free
//! of the futures crates governor brings along. Buckets are sharded by IP so
//! connection threads rarely contend, and a shard forgets full buckets when
//! it grows past [`MAX_TRACKED_PER_SHARD`], so spoofed or many clients cannot
//! grow memory without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shards of the bucket table (a power of two).
pub(super) const SHARDS: usize = 16;

/// Buckets kept per shard before full ones are forgotten (16 × 4,096 IPs).
pub(super) const MAX_TRACKED_PER_SHARD: usize = 4_096;

/// One budget: a steady rate and a burst. A rate of 0 disables it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBudget {
    /// Requests per second, refilled continuously.
    pub per_second: f64,
    /// Bucket size: requests allowed at once after a quiet spell.
    pub burst: f64,
}

impl RateBudget {
    /// No limit.
    pub const OFF: RateBudget = RateBudget {
        per_second: 0.0,
        burst: 0.0,
    };

    fn enabled(&self) -> bool {
        self.per_second > 0.0 && self.burst >= 1.0
    }
}

/// The two budgets every client IP gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// GET, HEAD and OPTIONS (CORS preflights).
    pub reads: RateBudget,
    /// Every other method.
    pub writes: RateBudget,
}

impl RateLimits {
    /// No limits at all: for benchmarks and load runs from one IP, where
    /// the limiter would otherwise be what is measured.
    pub const OFF: RateLimits = RateLimits {
        reads: RateBudget::OFF,
        writes: RateBudget::OFF,
    };
}

impl Default for RateLimits {
    /// Generous: 50,000 reads/s (burst 100,000) and 1,000 writes/s (burst
    /// 2,000) per IP; enough for any real client and for the read benches
    /// on loopback, yet a single IP cannot flood the command path.
    fn default() -> Self {
        RateLimits {
            reads: RateBudget {
                per_second: 50_000.0,
                burst: 100_000.0,
            },
            writes: RateBudget {
                per_second: 1_000.0,
                burst: 2_000.0,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per (IP, class).
pub(super) struct RateLimiter {
    limits: RateLimits,
    shards: Vec<Mutex<HashMap<(IpAddr, bool), Bucket>>>,
}

impl RateLimiter {
    /// A limiter with these budgets.
    pub(super) fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `ip` (`read`: GET, HEAD or OPTIONS). `Err(wait)`: refused,
    /// a token will be available after `wait`.
    pub(super) fn check(&self, ip: IpAddr, read: bool, now: Instant) -> Result<(), Duration> {
        let budget = if read {
            self.limits.reads
        } else {
            self.limits.writes
        };
        if !budget.enabled() {
            return Ok(());
        }
        let shard = &self.shards[shard_of(ip)];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED_PER_SHARD && !map.contains_key(&(ip, read)) {
            map.retain(|(_, r), b| {
                let budget = if *r {
                    self.limits.reads
                } else {
                    self.limits.writes
                };
                refill(b, budget, now) < budget.burst
            });
            if map.len() >= MAX_TRACKED_PER_SHARD {
                // Every tracked client is mid-burst (a flood of addresses):
                // forget them all rather than grow; each gets a fresh burst.
                map.clear();
            }
        }
        let b = map.entry((ip, read)).or_insert(Bucket {
            tokens: budget.burst,
            last: now,
        });
        let tokens = refill(b, budget, now);
        if tokens >= 1.0 {
            b.tokens = tokens - 1.0;
            b.last = now;
            Ok(())
        } else {
            b.tokens = tokens;
            b.last = now;
            Err(Duration::from_secs_f64((1.0 - tokens) / budget.per_second))
        }
    }
}

fn refill(b: &Bucket, budget: RateBudget, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
    (b.tokens + elapsed * budget.per_second).min(budget.burst)
}

fn shard_of(ip: IpAddr) -> usize {
    let h = match ip {
        IpAddr::V4(a) => u32::from(a) as u64,
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    };
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate_and_classes_are_separate() {
        let l = RateLimiter::new(RateLimits {
            reads: RateBudget {
                per_second: 10.0,
                burst: 5.0,
            },
            writes: RateBudget {
                per_second: 1.0,
                burst: 2.0,
            },
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        assert!(l.check(ip, false, t).is_ok());
        assert!(l.check(ip, false, t).is_ok());
        let wait = l.check(ip, false, t).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        for _ in 0..5 {
            assert!(l.check(ip, true, t).is_ok());
        }
        assert!(l.check(ip, true, t).is_err());
        // Another IP has its own buckets.
        assert!(l.check("10.0.0.2".parse().unwrap(), false, t).is_ok());
        // A second later one more write is allowed.
        assert!(l.check(ip, false, t + Duration::from_secs(1)).is_ok());
        assert!(l.check(ip, false, t + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn off_never_refuses_and_the_table_stays_bounded() {
        let l = RateLimiter::new(RateLimits {
            reads: RateBudget::OFF,
            writes: RateBudget {
                per_second: 1.0,
                burst: 1.0,
            },
        });
        let t = Instant::now();
        let ip: IpAddr = "::1".parse().unwrap();
        for _ in 0..100 {
            assert!(l.check(ip, true, t).is_ok());
        }
        for i in 0..(SHARDS * MAX_TRACKED_PER_SHARD * 2) as u32 {
            let _ = l.check(IpAddr::V4(i.into()), false, t + Duration::from_secs(5));
        }
        let tracked: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= SHARDS * MAX_TRACKED_PER_SHARD + SHARDS);
    }
}
