//! What happened *when* during a run: per interval (one second, wider for
//! long runs) the units completed and failed, a histogram of the mode's key
//! step, and (from a sampler thread) the CPU the servers and the load
//! generator used. The HTML report draws throughput, p99 and CPU over time
//! from it.
//!
//! Memory is bounded whatever the run's length: a run has at most
//! [`MAX_INTERVALS`] intervals (the width grows with `--duration`), each
//! histogram has two significant digits and grows only to the largest value
//! it holds. Workers record into their own current interval and merge it
//! into the shared timeline (one short lock) when they move on to the next
//! interval and when they end, so recording a sample takes no lock.
//!
//! Must not time anything itself: the workers hand it the latencies they
//! measured; it only files them by when they were recorded.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use hdrhistogram::Histogram;

use crate::stats::{self, MAX_LATENCY_US};

/// Most intervals in one run: a 10-minute run gets one-second intervals,
/// longer runs wider ones, so memory stays bounded.
pub(crate) const MAX_INTERVALS: usize = 600;

/// Significant digits of the per-interval histograms: 1 % resolution is
/// plenty for a p99 drawn on a log axis, at a tenth of the memory of three.
pub(crate) const INTERVAL_SIGFIG: u8 = 2;

/// The interval width for a run of `duration`: one second, or wider so
/// the run has at most [`MAX_INTERVALS`] of them.
pub(crate) fn interval_width(duration: Duration) -> Duration {
    let secs = (duration.as_secs_f64() / MAX_INTERVALS as f64).ceil();
    Duration::from_secs((secs as u64).max(1))
}

/// One interval's figures.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Units completed without error in the interval.
    pub units: u64,
    /// Units that failed in the interval.
    pub errors: u64,
    /// The key step's latencies recorded in the interval, microseconds.
    pub latency: Histogram<u64>,
}

impl Interval {
    fn new() -> Interval {
        let mut latency = Histogram::new_with_max(MAX_LATENCY_US, INTERVAL_SIGFIG)
            .expect("static histogram bounds are valid");
        // Grow only as far as the values need (a few KiB for milliseconds).
        latency.auto(true);
        Interval {
            units: 0,
            errors: 0,
            latency,
        }
    }

    fn is_empty(&self) -> bool {
        self.units == 0 && self.errors == 0 && self.latency.is_empty()
    }

    fn add(&mut self, other: &Interval) {
        self.units += other.units;
        self.errors += other.errors;
        // Same precision on both sides; auto-resize takes any range.
        let _ = self.latency.add(&other.latency);
    }
}

/// The run's intervals, shared by the workers (behind a lock they take
/// once per interval each).
#[derive(Debug, Clone)]
pub struct Timeline {
    /// When interval 0 began (the measured phase's start).
    start: Instant,
    /// Each interval's length.
    width: Duration,
    /// Interval `i` covers `start + i * width ..`; grows to the last one
    /// used, at most [`MAX_INTERVALS`].
    intervals: Vec<Interval>,
}

impl Timeline {
    /// An empty timeline starting now-ish at `start`.
    pub(crate) fn new(start: Instant, width: Duration) -> Timeline {
        Timeline {
            start,
            width,
            intervals: Vec::new(),
        }
    }

    /// The interval width, seconds.
    pub fn width_s(&self) -> f64 {
        self.width.as_secs_f64()
    }

    /// Every interval from the start to the last one used.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    fn merge(&mut self, index: usize, interval: &Interval) {
        if self.intervals.len() <= index {
            self.intervals.resize_with(index + 1, Interval::new);
        }
        self.intervals[index].add(interval);
    }
}

/// The interval `at` falls in, for a timeline starting at `start`.
fn interval_index(start: Instant, width: Duration, at: Instant) -> usize {
    let n = at.saturating_duration_since(start).as_nanos() / width.as_nanos().max(1);
    usize::try_from(n).map_or(MAX_INTERVALS - 1, |n| n.min(MAX_INTERVALS - 1))
}

/// One worker's side of the timeline: its current interval, merged into
/// the shared one when the worker moves on and when it ends ([`flush`]).
///
/// [`flush`]: TimelineRecorder::flush
pub(crate) struct TimelineRecorder {
    shared: Arc<Mutex<Timeline>>,
    start: Instant,
    width: Duration,
    /// The index of `interval`.
    current: usize,
    interval: Interval,
}

impl TimelineRecorder {
    pub(crate) fn new(shared: Arc<Mutex<Timeline>>) -> TimelineRecorder {
        let (start, width) = {
            let t = shared.lock().unwrap_or_else(PoisonError::into_inner);
            (t.start, t.width)
        };
        TimelineRecorder {
            shared,
            start,
            width,
            current: 0,
            interval: Interval::new(),
        }
    }

    /// The interval for now, merging the previous one first if time moved on.
    fn now(&mut self) -> &mut Interval {
        let i = interval_index(self.start, self.width, Instant::now());
        if i != self.current {
            self.flush();
            self.current = i;
        }
        &mut self.interval
    }

    /// Files one latency of the key step.
    pub(crate) fn latency(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(MAX_LATENCY_US);
        self.now()
            .latency
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Files the end of one unit, completed or failed.
    pub(crate) fn unit(&mut self, ok: bool) {
        let i = self.now();
        if ok {
            i.units += 1;
        } else {
            i.errors += 1;
        }
    }

    /// Merges the current interval into the shared timeline.
    pub(crate) fn flush(&mut self) {
        if self.interval.is_empty() {
            return;
        }
        let mut t = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        t.merge(self.current, &self.interval);
        drop(t);
        self.interval.units = 0;
        self.interval.errors = 0;
        self.interval.latency.reset();
    }
}

/// CPU use over one interval, in cores (CPU seconds per wall second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSample {
    /// Seconds from the start of the run to the middle of the sampled
    /// span (where the charts draw it).
    pub at_s: f64,
    /// The servers' summed cores (`--server-pid`); `None` if unreadable.
    pub server_cores: Option<f64>,
    /// The load generator's own cores.
    pub loadgen_cores: Option<f64>,
}

/// Samples CPU time once per `width` until `stop` is dropped: the servers'
/// (`pids`, summed) and the load generator's. At most [`MAX_INTERVALS`]
/// samples (one per interval).
pub(crate) fn sample_cpu(
    start: Instant,
    width: Duration,
    pids: &[u32],
    stop: &Receiver<()>,
) -> Vec<CpuSample> {
    let server = || -> Option<Duration> {
        pids.iter()
            .map(|&p| stats::cpu_time(Some(p)))
            .sum::<Option<Duration>>()
    };
    let mut samples = Vec::new();
    let (mut last_at, mut last_server, mut last_self) = (start, server(), stats::cpu_time(None));
    for n in 1..=MAX_INTERVALS as u32 {
        let due = start + width * n;
        match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
        let now = Instant::now();
        let (server_now, self_now) = (server(), stats::cpu_time(None));
        let wall = now.duration_since(last_at).as_secs_f64().max(1e-9);
        let cores = |a: Option<Duration>, b: Option<Duration>| {
            Some(b?.saturating_sub(a?).as_secs_f64() / wall)
        };
        samples.push(CpuSample {
            at_s: (last_at.duration_since(start) + now.duration_since(start)).as_secs_f64() / 2.0,
            server_cores: cores(last_server, server_now),
            loadgen_cores: cores(last_self, self_now),
        });
        (last_at, last_server, last_self) = (now, server_now, self_now);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_bound_the_number_of_intervals() {
        assert_eq!(
            interval_width(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            interval_width(Duration::from_secs(600)),
            Duration::from_secs(1)
        );
        assert_eq!(
            interval_width(Duration::from_secs(601)),
            Duration::from_secs(2)
        );
        assert_eq!(
            interval_width(Duration::from_secs(3600)),
            Duration::from_secs(6)
        );
        let start = Instant::now();
        let w = Duration::from_secs(1);
        assert_eq!(interval_index(start, w, start), 0);
        assert_eq!(
            interval_index(start, w, start + Duration::from_millis(2500)),
            2
        );
        assert_eq!(
            interval_index(start, w, start + Duration::from_secs(100_000)),
            MAX_INTERVALS - 1
        );
    }

    #[test]
    fn recorders_merge_into_the_shared_timeline() {
        // A start in the past puts "now" in interval 3.
        let start = Instant::now() - Duration::from_millis(3500);
        let shared = Arc::new(Mutex::new(Timeline::new(start, Duration::from_secs(1))));
        let mut a = TimelineRecorder::new(shared.clone());
        let mut b = TimelineRecorder::new(shared.clone());
        for ms in [1, 2, 3] {
            a.latency(Duration::from_millis(ms));
            a.unit(true);
        }
        b.latency(Duration::from_millis(100));
        b.unit(false);
        a.flush();
        b.flush();
        b.flush(); // nothing left: no double count
        let t = shared.lock().expect("lock");
        let i = t.intervals();
        assert!(i.len() >= 4, "{}", i.len());
        let third = &i[3];
        assert_eq!((third.units, third.errors), (3, 1));
        assert_eq!(third.latency.len(), 4);
        let p99_ms = third.latency.value_at_quantile(0.99) as f64 / 1000.0;
        assert!((p99_ms - 100.0).abs() < 1.0, "{p99_ms}");
        assert!(i[..3].iter().all(Interval::is_empty));
    }
}
