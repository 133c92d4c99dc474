//! What a journal measures about itself for operators: how long each group
//! commit took, how many events it carried, and when the last compaction
//! ran and for how long.
//!
//! Owns the counters and nothing else: the journal records into them on its
//! commit path, the server's `/metrics` reads a [`StatsSnapshot`] at scrape
//! time. Recording is a handful of relaxed atomic adds, never a lock, so the
//! one committing thread is not slowed down by a scrape (a scrape may see a
//! commit's bucket before its sum; each figure on its own is exact).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Upper bounds of the commit latency buckets, nanoseconds (100 µs to 10 s,
/// the same bounds as the HTTP latency histogram: a commit is one part of a
/// write's answer time).
pub const COMMIT_BUCKETS_NANOS: [u64; 14] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Upper bounds of the group size buckets, events per commit: powers of
/// two up to the bus's largest batch ([`crate::bus::MAX_BATCH`], 4096).
pub const GROUP_BUCKETS: [u64; 13] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// A histogram of `u64` observations over fixed bucket bounds, updated with
/// atomics only.
#[derive(Debug)]
pub struct AtomicHistogram {
    /// Inclusive upper bounds, ascending.
    bounds: &'static [u64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: Box<[AtomicU64]>,
    /// Sum of the observations.
    sum: AtomicU64,
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Inclusive upper bounds, ascending (`+Inf` is implied).
    pub bounds: &'static [u64],
    /// Cumulative counts, one per bound, then the total (`+Inf`).
    pub cumulative: Vec<u64>,
    /// Sum of the observations.
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Observations counted.
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

impl AtomicHistogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [u64]) -> AtomicHistogram {
        AtomicHistogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A journal's own figures. Lives as long as the journal.
#[derive(Debug)]
pub struct JournalStats {
    /// Time from asking for the writing connection to the commit returning,
    /// per append (one group commit), nanoseconds.
    commit_nanos: AtomicHistogram,
    /// Events per append.
    group_events: AtomicHistogram,
    /// When the last compaction finished, milliseconds since the Unix
    /// epoch; 0 before the first.
    last_compaction_ms: AtomicU64,
    /// How long the last compaction took, nanoseconds.
    last_compaction_nanos: AtomicU64,
}

/// [`JournalStats`] as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSnapshot {
    /// Commit latency, nanoseconds.
    pub commit_nanos: HistogramSnapshot,
    /// Events per commit.
    pub group_events: HistogramSnapshot,
    /// The last compaction: when it finished (seconds since the Unix epoch)
    /// and how long it took (seconds); `None` before the first.
    pub last_compaction: Option<(f64, f64)>,
}

impl Default for JournalStats {
    fn default() -> Self {
        JournalStats::new()
    }
}

impl JournalStats {
    /// Nothing recorded yet.
    pub fn new() -> JournalStats {
        JournalStats {
            commit_nanos: AtomicHistogram::new(&COMMIT_BUCKETS_NANOS),
            group_events: AtomicHistogram::new(&GROUP_BUCKETS),
            last_compaction_ms: AtomicU64::new(0),
            last_compaction_nanos: AtomicU64::new(0),
        }
    }

    /// Records one committed append of `events` events that took `took`.
    pub fn record_commit(&self, took: Duration, events: usize) {
        self.commit_nanos
            .observe(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        self.group_events.observe(events as u64);
    }

    /// Records a compaction that finished at `at` and took `took`.
    pub fn record_compaction(&self, at: SystemTime, took: Duration) {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_compaction_nanos.store(nanos, Ordering::Relaxed);
        // Written last and read first: a reader that sees the new time sees
        // at least this duration (Release/Acquire).
        self.last_compaction_ms.store(ms.max(1), Ordering::Release);
    }

    /// The figures now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let ms = self.last_compaction_ms.load(Ordering::Acquire);
        let nanos = self.last_compaction_nanos.load(Ordering::Relaxed);
        StatsSnapshot {
            commit_nanos: self.commit_nanos.snapshot(),
            group_events: self.group_events.snapshot(),
            last_compaction: (ms > 0).then(|| (ms as f64 / 1000.0, nanos as f64 / 1e9)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = AtomicHistogram::new(&GROUP_BUCKETS);
        for v in [1, 2, 3, 4, 5, 4096, 5000] {
            h.observe(v);
        }
        let s = h.snapshot();
        // <=1: 1; <=2: 2; <=4: 3,4; <=8: 5; ...; <=4096: 4096; +Inf: 5000.
        assert_eq!(&s.cumulative[..4], &[1, 2, 4, 5]);
        assert_eq!(s.cumulative[GROUP_BUCKETS.len() - 1], 6);
        assert_eq!(s.count(), 7);
        assert_eq!(s.sum, 1 + 2 + 3 + 4 + 5 + 4096 + 5000);
    }

    #[test]
    fn commits_and_compactions_are_recorded() {
        let stats = JournalStats::new();
        assert_eq!(stats.snapshot().last_compaction, None);
        stats.record_commit(Duration::from_micros(300), 64);
        stats.record_commit(Duration::from_secs(20), 1);
        let s = stats.snapshot();
        assert_eq!(s.commit_nanos.count(), 2);
        // 300 µs is past 250 µs and within 500 µs (the third bound).
        assert_eq!(&s.commit_nanos.cumulative[..3], &[0, 0, 1]);
        assert_eq!(s.commit_nanos.cumulative[COMMIT_BUCKETS_NANOS.len() - 1], 1);
        assert_eq!(s.group_events.sum, 65);
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        stats.record_compaction(at, Duration::from_millis(1500));
        let (when, took) = stats.snapshot().last_compaction.expect("recorded");
        assert_eq!(when, 1_700_000_000.0);
        assert_eq!(took, 1.5);
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let stats = JournalStats::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        stats.record_commit(Duration::from_millis(1), 8);
                    }
                });
            }
        });
        let s = stats.snapshot();
        assert_eq!(s.commit_nanos.count(), 4000);
        assert_eq!(s.group_events.sum, 32_000);
    }
}
