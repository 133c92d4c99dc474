//! Prometheus metrics: HTTP requests and latency by route, method and status;
//! agent runs, failures and latency (fed by a bus subscriber thread); and, at
//! scrape time, events by topic, dead letters, queue depths, parties and
//! WebSocket clients from the app and the hub.
//!
//! Owns counters only. Label values come from fixed sets (route templates,
//! known methods, agent and topic names), never from raw request text, so
//! cardinality is bounded. Locks are held only to bump a counter; the HTTP
//! counters are sharded by thread (each connection thread bumps its own
//! shard, a scrape adds them up), so request threads rarely share a lock.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

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
        self.render_agents(&mut out);
        if let Some(c) = app.cluster_status() {
            render_cluster(&mut out, &c);
        }
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
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("BREW"), "OTHER");
        assert_eq!(method_label("GET"), "GET");
    }
}
