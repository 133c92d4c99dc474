//! What the load generator measures: a latency histogram per step
//! (hdrhistogram, microseconds, 3 significant digits), in open loop how late
//! each unit started against its schedule, errors by kind, and the process's
//! CPU time from `/proc`. Every percentile comes from a histogram, never from
//! a sorted sample or a running mean.
//!
//! Each worker thread records into its own [`LoadStats`]; they are merged once
//! at the end, so recording takes no lock. Owns no I/O beyond reading
//! `/proc/self/stat`, `/proc/<pid>/stat` and `/proc/loadavg`.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency recorded, in microseconds (60 s): anything slower is
/// clamped; every wait in the load generator times out before that.
pub(crate) const MAX_LATENCY_US: u64 = 60_000_000;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every
/// Linux architecture this runs on).
pub(crate) const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// One measured step of a client's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Step {
    /// `POST /party`.
    Create,
    /// The WebSocket upgrade plus its `connection` greeting.
    WsConnect,
    /// From sending the create request to the wave's `plan_updated`.
    Plan,
    /// `POST /party/{id}/input`.
    AddInput,
    /// From sending the input to its wave's `plan_updated`.
    AddPlan,
    /// `DELETE /party/{id}/input/{input_id}`.
    RemoveInput,
    /// From sending the removal to its wave's `plan_updated`.
    RemovePlan,
    /// `GET /party/{id}/status`.
    Status,
    /// One whole e2e iteration (create to status).
    Party,
}

impl Step {
    /// Every step, in table order.
    pub(crate) const ALL: [Step; 9] = [
        Step::Create,
        Step::WsConnect,
        Step::Plan,
        Step::AddInput,
        Step::AddPlan,
        Step::RemoveInput,
        Step::RemovePlan,
        Step::Status,
        Step::Party,
    ];

    /// The step's name in tables and JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::WsConnect => "ws_connect",
            Step::Plan => "plan",
            Step::AddInput => "add_input",
            Step::AddPlan => "add_plan",
            Step::RemoveInput => "remove_input",
            Step::RemovePlan => "remove_plan",
            Step::Status => "status",
            Step::Party => "party",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One worker's (or the merged) measurements: named apart from the
/// server's own metrics, which count from the inside.
pub(crate) struct LoadStats {
    /// Latency per step, microseconds; indexed by [`Step`].
    steps: Vec<Histogram<u64>>,
    /// Open loop: how long each unit waited past its scheduled start for a
    /// free client, microseconds (empty in closed loop).
    late: Histogram<u64>,
    /// Errors by kind.
    errors: BTreeMap<String, u64>,
}

impl Default for LoadStats {
    fn default() -> Self {
        LoadStats::new()
    }
}

impl LoadStats {
    /// No samples and no errors yet.
    pub(crate) fn new() -> LoadStats {
        let histogram = || {
            Histogram::new_with_max(MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
        };
        LoadStats {
            steps: Step::ALL.iter().map(|_| histogram()).collect(),
            late: histogram(),
            errors: BTreeMap::new(),
        }
    }

    /// Records one step's latency.
    pub(crate) fn record(&mut self, step: Step, took: Duration) {
        self.steps[step.index()].saturating_record(micros(took).max(1));
    }

    /// Records how late (past its scheduled start) an open-loop unit began;
    /// zero when a client was free in time.
    pub(crate) fn record_late(&mut self, late: Duration) {
        self.late.saturating_record(micros(late));
    }

    /// Counts one error of this kind.
    pub(crate) fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another worker's measurements.
    pub(crate) fn merge(&mut self, other: &LoadStats) {
        // Same bounds on both sides, so adding cannot fail.
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            let _ = mine.add(theirs);
        }
        let _ = self.late.add(&other.late);
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
    }

    /// The summary of one step, if it was recorded at all.
    pub(crate) fn summary(&self, step: Step) -> Option<StepSummary> {
        summarise(&self.steps[step.index()])
    }

    /// One step's histogram (microseconds), if it was recorded at all.
    pub(crate) fn histogram(&self, step: Step) -> Option<&Histogram<u64>> {
        let h = &self.steps[step.index()];
        (!h.is_empty()).then_some(h)
    }

    /// The summary of the open-loop lateness, if any unit was scheduled.
    pub(crate) fn late_summary(&self) -> Option<StepSummary> {
        summarise(&self.late)
    }

    /// Errors by kind.
    pub(crate) fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// Total errors.
    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// A duration in whole microseconds, clamped at [`MAX_LATENCY_US`].
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_LATENCY_US)
        .min(MAX_LATENCY_US)
}

/// Percentiles of one histogram in milliseconds; `None` when it is empty.
pub(crate) fn summarise(h: &Histogram<u64>) -> Option<StepSummary> {
    if h.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Some(StepSummary {
        count: h.len(),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    })
}

/// Latency figures of one step, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepSummary {
    /// Times the step completed; a failed step is counted as an error,
    /// not timed.
    pub count: u64,
    /// Mean latency.
    pub mean_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// 99.9th percentile latency.
    pub p999_ms: f64,
    /// Slowest sample (clamped at 60 s, the histogram's top).
    pub max_ms: f64,
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat`; `None`
/// where `/proc` is not available.
pub(crate) fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS_PER_SEC))
}

/// utime + stime (fields 14 and 15) from a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (3), ppid (4), ... utime is field 14: index 11 here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
pub(crate) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_merge() {
        let mut a = LoadStats::new();
        let mut b = LoadStats::new();
        for ms in 1..=100u64 {
            a.record(Step::Create, Duration::from_millis(ms));
        }
        b.record(Step::Create, Duration::from_secs(3600));
        b.error("http_503");
        b.error("http_503");
        a.merge(&b);
        let s = a.summary(Step::Create).expect("recorded");
        assert_eq!(s.count, 101);
        assert!((s.p50_ms - 51.0).abs() < 0.1, "{s:?}");
        assert!((s.p90_ms - 91.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 100.0).abs() < 0.1, "{s:?}");
        // The 101st sample is the clamped hour: it is the 99.9th percentile.
        assert!((s.p999_ms - 60_000.0).abs() < 60.0, "{s:?}");
        assert!((s.max_ms - 60_000.0).abs() < 60.0, "clamped: {s:?}");
        assert!(a.summary(Step::Status).is_none());
        assert!(a.late_summary().is_none());
        b = LoadStats::new();
        b.record_late(Duration::ZERO);
        b.record_late(Duration::from_millis(7));
        a.merge(&b);
        let late = a.late_summary().expect("recorded");
        assert_eq!(late.count, 2);
        assert_eq!(late.p50_ms, 0.0);
        assert!((late.max_ms - 7.0).abs() < 0.01, "{late:?}");
        assert_eq!(a.errors().get("http_503"), Some(&2));
        assert_eq!(a.error_count(), 2);
    }

    #[test]
    fn proc_stat_times() {
        let line = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(line), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(cpu_time(None).is_some());
        assert!(load_average().is_some());
    }
}
