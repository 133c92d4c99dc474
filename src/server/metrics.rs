//! Prometheus metrics: HTTP requests and latency by route, method and status;
//! the connection layer's own refusals by reason; agent runs, failures and
//! latency (fed by a bus subscriber thread); and, at scrape time, events by
//! topic, dead letters, queue depths, parties and WebSocket clients from the
//! app and the hub, the journal's commit latency, group size, WAL size and
//! last compaction, and the `process_*` figures ([`super::process`]).
//!
//! Owns counters only. Label values come from fixed sets (route templates,
//! known methods, agent and topic names), never from raw request text, so
//! cardinality is bounded. Locks are held only to bump a counter; the HTTP
//! counters are sharded by thread (each connection thread bumps its own
//! shard, a scrape adds them up), so request threads rarely share a lock.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use super::error::Code;
use super::process;
use crate::bus::Subscription;
use crate::domain::AgentName;
use crate::event::{Event, Payload};
use crate::App;

/// Upper bounds of the latency buckets, seconds.
pub(super) const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// Route label for requests that matched no route.
pub(super) const UNMATCHED: &str = "unmatched";

/// The answers the connection layer writes itself, before any route is
/// known: `partybus_http_refused_total`'s `reason` label (the error code).
const REFUSALS: [Code; 6] = [
    Code::TooManyConnections,
    Code::HeaderTooLarge,
    Code::RequestTimeout,
    Code::MalformedRequest,
    Code::ExpectationFailed,
    Code::HttpVersionNotSupported,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i];
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct AgentSeries {
    completed: u64,
    failed: BTreeMap<&'static str, u64>,
    latency: Histogram,
}

type HttpKey = (&'static str, &'static str, u16);

/// Shards of the HTTP counters: about one per busy connection thread on a
/// small machine, so a thread preempted while bumping its shard seldom holds
/// up another (one shared lock had every request thread queue on it).
const HTTP_SHARDS: usize = 16;

/// The HTTP counter shard of the calling thread, picked on its first request.
fn http_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % HTTP_SHARDS;
    }
    SHARD.with(|s| *s)
}

/// The server's counters.
#[derive(Debug)]
pub(super) struct Metrics {
    /// Requests by route, method and status, in [`HTTP_SHARDS`] shards.
    http: Vec<Mutex<HashMap<HttpKey, Histogram>>>,
    agents: Mutex<BTreeMap<AgentName, AgentSeries>>,
    /// The connection layer's refusals, by [`REFUSALS`] index (bumped on
    /// the accept thread under a flood of connections: an atomic, no lock).
    refused: [AtomicU64; REFUSALS.len()],
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A fixed label for a request method.
pub(super) fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Empty counters; uptime counts from now.
    pub(super) fn new() -> Metrics {
        Metrics {
            http: (0..HTTP_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            agents: Mutex::new(BTreeMap::new()),
            refused: Default::default(),
            started: Instant::now(),
        }
    }

    /// Time since the server started.
    pub(super) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts one answered request.
    pub(super) fn observe_request(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let mut http = self.http[http_shard()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        http.entry((route, method, status))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an answer the connection layer wrote itself; a code that is
    /// not one of [`REFUSALS`] is not counted (and never comes).
    pub(super) fn observe_refusal(&self, code: Code) {
        if let Some(i) = REFUSALS.iter().position(|c| *c == code) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Feeds agent completions and failures from `sub` to the counters until
    /// `stop` disconnects (or the bus drops the subscription).
    pub(super) fn follow_agents(&self, mut sub: Subscription, stop: &Receiver<()>) {
        let rx = sub.receiver().clone();
        loop {
            select! {
                recv(rx) -> batch => match batch {
                    Ok(batch) => {
                        for ev in sub.accept(batch) {
                            self.observe_agent_event(&ev);
                        }
                    }
                    Err(_) => return,
                },
                recv(stop) -> _ => return,
            }
        }
    }

    /// Counts an agent's completed or failed run.
    pub(super) fn observe_agent_event(&self, ev: &Event) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        match &ev.payload {
            Payload::AgentCompleted(p) => {
                let s = agents.entry(p.agent_name).or_default();
                s.completed += 1;
                s.latency.observe(p.execution_time_ms / 1000.0);
            }
            Payload::AgentFailed(p) => {
                let kind = match p.error_type {
                    crate::event::ErrorType::Timeout => "timeout",
                    crate::event::ErrorType::Validation => "validation",
                    crate::event::ErrorType::ExternalApi => "external_api",
                    crate::event::ErrorType::Internal => "internal",
                };
                *agents
                    .entry(p.agent_name)
                    .or_default()
                    .failed
                    .entry(kind)
                    .or_default() += 1;
            }
            _ => {}
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(super) fn render(&self, app: &App, ws_clients: usize, ready: bool) -> String {
        let mut out = String::with_capacity(16 * 1024);
        gauge(
            &mut out,
            "partybus_up",
            "Whether the core is running (1) or not (0).",
            u64::from(app.is_running()),
        );
        gauge(
            &mut out,
            "partybus_ready",
            "Whether the server accepts traffic (readyz).",
            u64::from(ready),
        );
        let _ = writeln!(
            out,
            "# HELP partybus_uptime_seconds Seconds since the server started.\n\
             # TYPE partybus_uptime_seconds gauge\npartybus_uptime_seconds {}",
            self.uptime().as_secs_f64()
        );
        gauge(
            &mut out,
            "partybus_websocket_clients",
            "Connected WebSocket clients.",
            ws_clients as u64,
        );
        render_build_info(&mut out);
        self.render_http(&mut out);
        self.render_refused(&mut out);
        self.render_agents(&mut out);
        let cluster = app.cluster_status();
        gauge(
            &mut out,
            "partybus_cluster_enabled",
            "Whether this node runs as a cluster node (1) or on one machine (0); the other partybus_cluster_* series exist only on cluster nodes.",
            u64::from(cluster.is_some()),
        );
        if let Some(c) = cluster {
            render_cluster(&mut out, &c);
        }
        render_journal(&mut out, app.config().journal.as_ref());
        if let Ok(bus) = app.bus() {
            let (failed, refused) = bus.storage_failures();
            gauge(
                &mut out,
                "partybus_journal_writable",
                "Whether the journal takes writes (0 while a full or read-only disk has writes refused; docs/operations.md, Faults).",
                u64::from(bus.storage_fault().is_none()),
            );
            counter(
                &mut out,
                "partybus_journal_write_failures_total",
                "Journal appends and probes that failed (disk full, read-only, I/O error).",
                failed,
            );
            counter(
                &mut out,
                "partybus_journal_refused_commands_total",
                "Commands refused, nothing of them written, because the journal could not be written.",
                refused,
            );
        }
        process::render(&mut out);
        if let Ok(status) = app.system_status() {
            let bus = &status.event_bus;
            let _ = writeln!(
                out,
                "# HELP partybus_events_published_total Events published, by topic.\n\
                 # TYPE partybus_events_published_total counter"
            );
            let mut topics: Vec<_> = bus.published_by_topic.iter().collect();
            topics.sort();
            for (topic, n) in topics {
                let _ = writeln!(
                    out,
                    "partybus_events_published_total{{topic=\"{topic}\"}} {n}"
                );
            }
            counter(
                &mut out,
                "partybus_events_delivered_total",
                "Event deliveries made to subscribers.",
                bus.total_delivered,
            );
            counter(
                &mut out,
                "partybus_delivery_failures_total",
                "Event deliveries that failed.",
                bus.failed_deliveries,
            );
            counter(
                &mut out,
                "partybus_dead_letters_total",
                "Deliveries dead-lettered.",
                bus.dead_letters,
            );
            gauge(
                &mut out,
                "partybus_bus_intake_depth",
                "Events waiting for the dispatcher.",
                bus.intake_depth as u64,
            );
            gauge(
                &mut out,
                "partybus_bus_subscribers",
                "Bus subscribers.",
                bus.total_subscribers as u64,
            );
            let _ = writeln!(
                out,
                "# HELP partybus_subscriber_queue_depth Events waiting per subscriber.\n\
                 # TYPE partybus_subscriber_queue_depth gauge"
            );
            let mut depths: Vec<_> = bus.queue_depths.iter().collect();
            depths.sort();
            for (name, n) in depths {
                let _ = writeln!(
                    out,
                    "partybus_subscriber_queue_depth{{subscriber=\"{}\"}} {n}",
                    escape(name)
                );
            }
            gauge(
                &mut out,
                "partybus_parties",
                "Live parties.",
                status.state_store.total_parties as u64,
            );
            gauge(
                &mut out,
                "partybus_inputs",
                "Inputs over all live parties.",
                status.state_store.total_inputs as u64,
            );
            gauge(
                &mut out,
                "partybus_parties_planning",
                "Parties with planning in progress.",
                status.parties_planning_now as u64,
            );
            counter(
                &mut out,
                "partybus_agent_timeouts_total",
                "Agent runs that exceeded their deadline.",
                status.agent_runs.timeouts,
            );
        }
        out
    }

    fn render_http(&self, out: &mut String) {
        let mut http: HashMap<HttpKey, Histogram> = HashMap::new();
        for shard in &self.http {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (k, h) in shard.iter() {
                http.entry(*k).or_default().add(h);
            }
        }
        let mut keys: Vec<&HttpKey> = http.keys().collect();
        keys.sort();
        let _ = writeln!(
            out,
            "# HELP partybus_http_requests_total HTTP requests answered, by route, method and status.\n\
             # TYPE partybus_http_requests_total counter"
        );
        for k in &keys {
            let _ = writeln!(
                out,
                "partybus_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}",
                k.0, k.1, k.2, http[*k].count
            );
        }
        let _ = writeln!(
            out,
            "# HELP partybus_http_request_duration_seconds Time to answer, by route, method and status.\n\
             # TYPE partybus_http_request_duration_seconds histogram"
        );
        for k in &keys {
            let labels = format!("route=\"{}\",method=\"{}\",status=\"{}\"", k.0, k.1, k.2);
            http[*k].render(out, "partybus_http_request_duration_seconds", &labels);
        }
    }

    fn render_refused(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP partybus_http_refused_total Answers the connection layer wrote itself before any route was known, by reason (error code) and status.\n\
             # TYPE partybus_http_refused_total counter"
        );
        for (code, n) in REFUSALS.iter().zip(&self.refused) {
            let _ = writeln!(
                out,
                "partybus_http_refused_total{{reason=\"{}\",status=\"{}\"}} {}",
                code.as_str(),
                code.status(),
                n.load(Ordering::Relaxed)
            );
        }
    }

    fn render_agents(&self, out: &mut String) {
        let agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP partybus_agent_runs_total Agent runs finished, by agent and outcome.\n\
             # TYPE partybus_agent_runs_total counter"
        );
        for (agent, s) in agents.iter() {
            let failed: u64 = s.failed.values().sum();
            let _ = writeln!(
                out,
                "partybus_agent_runs_total{{agent=\"{agent}\",outcome=\"completed\"}} {}\n\
                 partybus_agent_runs_total{{agent=\"{agent}\",outcome=\"failed\"}} {failed}",
                s.completed
            );
        }
        let _ = writeln!(
            out,
            "# HELP partybus_agent_failures_total Failed agent runs, by agent and error type.\n\
             # TYPE partybus_agent_failures_total counter"
        );
        for (agent, s) in agents.iter() {
            for (kind, n) in &s.failed {
                let _ = writeln!(
                    out,
                    "partybus_agent_failures_total{{agent=\"{agent}\",error_type=\"{kind}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP partybus_agent_run_duration_seconds Execution time of completed agent runs.\n\
             # TYPE partybus_agent_run_duration_seconds histogram"
        );
        for (agent, s) in agents.iter() {
            s.latency.render(
                out,
                "partybus_agent_run_duration_seconds",
                &format!("agent=\"{agent}\""),
            );
        }
    }
}

/// The journal's figures, when it keeps them (the SQLite journal does; an
/// in-memory one and a cluster's shared log do not).
fn render_journal(out: &mut String, journal: &dyn crate::journal::Journal) {
    if let Some(stats) = journal.stats() {
        let s = stats.snapshot();
        let _ = writeln!(
            out,
            "# HELP partybus_journal_commit_seconds Time of each journal group commit, from asking for the writing connection to the commit returning.\n\
             # TYPE partybus_journal_commit_seconds histogram"
        );
        render_snapshot(out, "partybus_journal_commit_seconds", &s.commit_nanos, 1e9);
        let _ = writeln!(
            out,
            "# HELP partybus_journal_commit_events Events per journal group commit.\n\
             # TYPE partybus_journal_commit_events histogram"
        );
        render_snapshot(out, "partybus_journal_commit_events", &s.group_events, 1.0);
        let (at, took) = s.last_compaction.unwrap_or((0.0, 0.0));
        let _ = writeln!(
            out,
            "# HELP partybus_journal_last_compaction_timestamp_seconds When the last compaction since start finished (Unix time; 0: none yet).\n\
             # TYPE partybus_journal_last_compaction_timestamp_seconds gauge\n\
             partybus_journal_last_compaction_timestamp_seconds {at}\n\
             # HELP partybus_journal_last_compaction_duration_seconds How long the last compaction since start took (0: none yet).\n\
             # TYPE partybus_journal_last_compaction_duration_seconds gauge\n\
             partybus_journal_last_compaction_duration_seconds {took}"
        );
    }
    if let Some(bytes) = journal.wal_bytes() {
        gauge(
            out,
            "partybus_journal_wal_bytes",
            "Size of the journal's write-ahead log file (partybus.db-wal).",
            bytes,
        );
    }
}

/// A journal histogram in the exposition format; observations are divided
/// by `scale` (nanoseconds to seconds: 1e9).
fn render_snapshot(
    out: &mut String,
    name: &str,
    h: &crate::journal::stats::HistogramSnapshot,
    scale: f64,
) {
    for (le, n) in h.bounds.iter().zip(&h.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {n}", *le as f64 / scale);
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum {}", h.sum as f64 / scale);
    let _ = writeln!(out, "{name}_count {}", h.count());
}

/// A cluster node's view of the cluster.
fn render_cluster(out: &mut String, c: &crate::cluster::ClusterStatus) {
    gauge(
        out,
        "partybus_cluster_nodes_alive",
        "Cluster nodes with a live heartbeat.",
        c.nodes.len() as u64,
    );
    gauge(
        out,
        "partybus_cluster_partitions",
        "Partitions of the cluster (K).",
        u64::from(c.partitions),
    );
    gauge(
        out,
        "partybus_cluster_partitions_held",
        "Partitions whose lease this node holds.",
        c.held.len() as u64,
    );
    gauge(
        out,
        "partybus_cluster_redis_reachable",
        "Whether this node's last look at Redis succeeded.",
        u64::from(c.redis_reachable),
    );
    gauge(
        out,
        "partybus_cluster_redis_used_memory_bytes",
        "Redis used_memory as last read.",
        c.redis_used_memory,
    );
    counter(
        out,
        "partybus_cluster_purged_events_total",
        "Events of deleted parties this node purged from the log.",
        c.purged_events,
    );
    counter(
        out,
        "partybus_cluster_fenced_events_total",
        "This node's internal events dropped because their lease had moved on.",
        c.fenced_events,
    );
    let _ = writeln!(
        out,
        "# HELP partybus_cluster_partition_lag Events of a partition the log holds that this node has not applied yet.\n\
         # TYPE partybus_cluster_partition_lag gauge"
    );
    for p in &c.partition_status {
        let _ = writeln!(
            out,
            "partybus_cluster_partition_lag{{partition=\"{}\",owner=\"{}\"}} {}",
            p.partition,
            escape(p.owner.as_deref().unwrap_or("")),
            p.lag
        );
    }
}

/// `partybus_build_info{version,commit} 1`: which build is running (the
/// commit as `build.rs` recorded it, `unknown` without git).
fn render_build_info(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP partybus_build_info The running build: package version and git commit.\n\
         # TYPE partybus_build_info gauge\n\
         partybus_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        escape(crate::build_info::VERSION),
        escape(crate::build_info::COMMIT)
    );
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf_bucket() {
        let mut h = Histogram::default();
        h.observe(0.0002);
        h.observe(0.003);
        h.observe(100.0);
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.00025\"} 1\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 2\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"10\"} 2\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("x_count{a=\"b\"} 3\n"));
    }

    #[test]
    fn requests_counted_on_many_threads_are_added_up() {
        let m = Metrics::new();
        std::thread::scope(|s| {
            for t in 0..(2 * HTTP_SHARDS) {
                let m = &m;
                s.spawn(move || {
                    let status = if t % 2 == 0 { 200 } else { 404 };
                    for _ in 0..10 {
                        m.observe_request("/r", "GET", status, Duration::from_micros(300));
                    }
                });
            }
        });
        let mut out = String::new();
        m.render_http(&mut out);
        let labels = |status| format!("route=\"/r\",method=\"GET\",status=\"{status}\"");
        for status in [200, 404] {
            let l = labels(status);
            let total = format!("partybus_http_requests_total{{{l}}} {}\n", HTTP_SHARDS * 10);
            assert!(out.contains(&total), "{out}");
            let bucket = format!(
                "partybus_http_request_duration_seconds_bucket{{{l},le=\"0.0005\"}} {}\n",
                HTTP_SHARDS * 10
            );
            assert!(out.contains(&bucket), "{out}");
        }
    }

    #[test]
    fn build_info_names_the_version_and_commit() {
        let mut out = String::new();
        render_build_info(&mut out);
        let sample = format!(
            "partybus_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
            crate::build_info::VERSION,
            crate::build_info::COMMIT
        );
        assert!(out.ends_with(&sample), "{out}");
        assert!(out.contains("# TYPE partybus_build_info gauge\n"), "{out}");
    }

    #[test]
    fn refusals_are_counted_by_reason_from_zero() {
        let m = Metrics::new();
        m.observe_refusal(Code::TooManyConnections);
        m.observe_refusal(Code::TooManyConnections);
        m.observe_refusal(Code::RequestTimeout);
        m.observe_refusal(Code::NotFound);
        let mut out = String::new();
        m.render_refused(&mut out);
        let line = |reason: &str, status: u16, n: u64| {
            format!("partybus_http_refused_total{{reason=\"{reason}\",status=\"{status}\"}} {n}\n")
        };
        assert!(out.contains(&line("too_many_connections", 503, 2)), "{out}");
        assert!(out.contains(&line("request_timeout", 408, 1)), "{out}");
        assert!(out.contains(&line("expectation_failed", 417, 0)), "{out}");
        assert!(!out.contains("not_found"), "{out}");
        assert_eq!(
            out.lines().filter(|l| !l.starts_with('#')).count(),
            REFUSALS.len()
        );
    }

    #[test]
    fn journal_figures_are_rendered_in_seconds() {
        let dir =
            std::env::temp_dir().join(format!("partybus-metrics-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let journal = crate::journal::SqliteJournal::open(&dir, crate::journal::Durability::Normal)
            .expect("journal");
        let mut out = String::new();
        render_journal(&mut out, &journal);
        assert!(
            out.contains("partybus_journal_commit_seconds_count 0\n"),
            "{out}"
        );
        assert!(
            out.contains("partybus_journal_last_compaction_timestamp_seconds 0\n"),
            "{out}"
        );
        assert!(out.contains("\npartybus_journal_wal_bytes "), "{out}");
        let stats = crate::journal::Journal::stats(&journal).expect("stats");
        stats.record_commit(Duration::from_micros(700), 3);
        stats.record_compaction(
            std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Duration::from_millis(250),
        );
        let mut out = String::new();
        render_journal(&mut out, &journal);
        for want in [
            "partybus_journal_commit_seconds_bucket{le=\"0.0005\"} 0\n",
            "partybus_journal_commit_seconds_bucket{le=\"0.001\"} 1\n",
            "partybus_journal_commit_seconds_bucket{le=\"+Inf\"} 1\n",
            "partybus_journal_commit_seconds_sum 0.0007\n",
            "partybus_journal_commit_events_bucket{le=\"4\"} 1\n",
            "partybus_journal_commit_events_sum 3\n",
            "partybus_journal_last_compaction_timestamp_seconds 1700000000\n",
            "partybus_journal_last_compaction_duration_seconds 0.25\n",
        ] {
            assert!(out.contains(want), "{want} missing: {out}");
        }
        let mut out = String::new();
        render_journal(&mut out, &crate::journal::MemoryJournal::new());
        assert_eq!(out, "");
        drop(journal);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("BREW"), "OTHER");
        assert_eq!(method_label("GET"), "GET");
    }
}
