//! What the load generator measures: a latency histogram per step
//! (hdrhistogram, microseconds, 3 significant digits), errors by kind, and
//! the process's CPU time from `/proc`.
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
        LoadStats {
            steps: Step::ALL
                .iter()
                .map(|_| {
                    Histogram::new_with_max(MAX_LATENCY_US, 3)
                        .expect("static histogram bounds are valid")
                })
                .collect(),
            errors: BTreeMap::new(),
        }
    }

    /// Records one step's latency.
    pub(crate) fn record(&mut self, step: Step, took: Duration) {
        let us = u64::try_from(took.as_micros())
            .unwrap_or(MAX_LATENCY_US)
            .clamp(1, MAX_LATENCY_US);
        self.steps[step.index()].saturating_record(us);
    }

    /// Counts one error of this kind.
    pub(crate) fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another worker's measurements.
    pub(crate) fn merge(&mut self, other: &LoadStats) {
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = mine.add(theirs);
        }
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
    }

    /// The summary of one step, if it was recorded at all.
    pub(crate) fn summary(&self, step: Step) -> Option<StepSummary> {
        let h = &self.steps[step.index()];
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(StepSummary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        })
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
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
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
        assert!((s.max_ms - 60_000.0).abs() < 60.0, "clamped: {s:?}");
        assert!(a.summary(Step::Status).is_none());
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
