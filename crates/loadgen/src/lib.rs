//! The load generator behind `partybus loadgen`: a synchronous,
//! multi-threaded client for any server that speaks the party API (partybus
//! with auth on or off, or the prototype), driving it as real clients do.
//!
//! Its own crate because it is a client of the API only: it shares no code
//! with the server, so it cannot lean on server internals, and it measures
//! the server from the outside. It must not depend on the `partybus`
//! library; the binary parses the flags and calls [`LoadConfig::new`],
//! [`LoadConfig::open_loop`], [`run`], [`sweep`] and [`comparison`].
//!
//! # Layout
//! - [`client`]: a keep-alive HTTP/1.1 client over a std `TcpStream` (also
//!   used by partybus's HTTP benches).
//! - [`ws`]: a blocking WebSocket client and the rule for "the plan arrived"
//!   (also used by the benches).
//! - `stats`: latency histograms per step, errors by kind, CPU time
//!   ([`StepSummary`] is what a [`Report`] carries per step).
//! - [`timeline`]: per-interval throughput, errors, key-step latency and
//!   CPU, for the charts over time.
//! - [`cleanup`]: deletes the run's parties once the clock has stopped
//!   (unless [`LoadConfig::keep`]).
//! - [`html`] (with `chart`'s SVG line charts) and [`hgrm`]: the `--html`
//!   report and the `--hist` percentile distribution files
//!   ([`html_report`], [`write_hist_dir`]).
//! - this file: the validated [`LoadConfig`], the modes, the open-loop
//!   schedule, the worker threads, the live progress line, the final
//!   [`Report`] and the latency-vs-throughput [`Sweep`].
//!
//! # Model
//! `concurrency` worker threads, each with its own keep-alive connection
//! (and, in e2e mode, one WebSocket at a time), no async runtime. Work is
//! handed out one *unit* at a time from a shared budget that ends at the
//! deadline (`--duration`) or after `--parties` units, whichever comes
//! first; every wait has its own timeout, so a run is bounded in count and
//! time. A unit is a party in `e2e` and `create` modes and a request in
//! `read` and `input` modes.
//!
//! # Spreading over several servers
//! [`LoadConfig::spread`] runs one load over the nodes of a cluster at once:
//! client `i` sends its HTTP requests to `urls[i % n]` and, in e2e mode,
//! opens its WebSocket on `urls[(i + 1) % n]`, so every e2e party is
//! created on one node and streamed on another (the cluster's cross-node
//! path). In `read` and `input` modes each client uses the pool parties
//! created on its own node, so independent servers can be loaded too.
//! See [`client_target`] and [`ws_target`].
//!
//! # Closed and open loop
//! Without a rate (closed loop) each worker starts its next unit as soon as
//! its last one ends, so a slow server is offered less load and its stalls
//! hide behind the requests that were never sent (coordinated omission).
//! With [`LoadConfig::open_loop`] unit `n` is *due* at `start + n / rate`,
//! whatever the server does; a worker claims the next unit, sleeps until it
//! is due, and when no worker was free in time the unit starts late and
//! that wait counts in its latency: the unit's first request, the `plan`
//! and the `party` steps are timed from the scheduled start, as wrk2 and
//! oha do. (A worker that slept until the due time is not charged its
//! timer's overshoot.) The run still ends at the deadline; units due before
//! it that no worker could start are reported as never sent, with how far
//! behind schedule the last one started, so a server that cannot keep up
//! is named as such instead of showing the rate it managed.
//!
//! # Modes
//! - `e2e`: create a party with the scenario's inputs, follow its WebSocket
//!   until the wave's plan arrives (see [`ws::PlanRule`]), add an input and
//!   wait for its plan, remove it and wait again, read the status.
//! - `create`: `POST /party` only.
//! - `read`: `GET /party/{id}/status` over a pool of parties created (and
//!   planned) before the clock starts.
//! - `input`: `POST /party/{id}/input` to a pool of pre-created parties.
//!
//! # Tokens
//! `auto` creates the party first, then uses the `party_token` of the
//! response and opens the WebSocket with `since=<seq>` of the create
//! acknowledgement, so no event is missed. `none` sends no token and follows
//! the prototype's way: it opens the WebSocket for a client-chosen
//! `party_id` *before* creating the party with that id (`partybus serve
//! --auth off` allows the same). In e2e mode, `auto` first creates one probe
//! party; a server that hands out no token (the prototype) is then driven
//! as with `none`, so one command line can load both servers.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod chart;
pub mod cleanup;
pub mod client;
pub mod hgrm;
pub mod html;
mod stats;
pub mod timeline;
pub mod ws;

pub use cleanup::{CleanupReport, CLEANUP_TIMEOUT};
pub use html::html_report;
pub use stats::StepSummary;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use cleanup::Owned;
use client::{ClientError, HttpClient, Response};
use hdrhistogram::Histogram;
use stats::{LoadStats, Step};
use timeline::{CpuSample, Timeline, TimelineRecorder};
use ws::{PlanRule, WsClient, WsClientError};

/// The API prefix of every party route.
pub(crate) const API_PREFIX: &str = "/api/v1/event-driven";

/// How long one wave's plan may take to arrive before the party counts as
/// failed (`plan_timeout`).
pub(crate) const PLAN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a WebSocket handshake may take.
pub(crate) const WS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The run length when neither `--duration` nor `--parties` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The longest run with `--parties` alone, so a stuck server cannot hold a
/// run forever.
pub const MAX_RUN: Duration = Duration::from_secs(300);

/// Most worker threads: beyond this, threads measure the scheduler rather
/// than the server.
pub const MAX_CONCURRENCY: usize = 4096;

/// Highest open-loop rate, units per second: well above what one machine
/// can serve, low enough that the schedule's arithmetic stays exact.
pub const MAX_RATE: f64 = 1_000_000.0;

/// An open-loop run *kept up* when at least this share of the units due
/// before the deadline were started; below it the report says the server
/// fell behind. (Not 1.0: a millisecond of jitter at the very end of a
/// run would otherwise leave one unit unsent and condemn the whole run.)
pub const KEPT_UP_SHARE: f64 = 0.99;

/// Highest `--sweep` percentage of the closed-loop maximum (above 100 the
/// server is overloaded on purpose).
pub const MAX_SWEEP_PERCENT: f64 = 200.0;

/// Pool parties per worker in `read` and `input` modes (at least
/// [`MIN_POOL`], at most [`MAX_POOL`]): enough that workers rarely touch
/// the same party at once.
pub(crate) const POOL_PER_WORKER: usize = 4;
/// Input mode: inputs a worker keeps on one party before it removes its
/// oldest (well under the server's default limit of 200 per party).
pub(crate) const KEEP_ADDED: usize = 40;
/// Smallest pool: below this, a handful of workers would still collide on
/// the same parties.
pub(crate) const MIN_POOL: usize = 16;
/// Largest pool: bounds the setup phase, which creates and plans every pool
/// party before the clock starts.
pub(crate) const MAX_POOL: usize = 4096;

/// How long the pool's parties may take to be planned before the run.
pub(crate) const POOL_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What each worker does per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Create → plan on the WebSocket → add input → plan → remove → plan → status.
    E2e,
    /// `POST /party` only.
    Create,
    /// `GET /party/{id}/status` over a pool.
    Read,
    /// `POST /party/{id}/input` over a pool.
    Input,
}

impl Mode {
    /// The step that characterises the mode in comparisons and sweeps.
    fn key_step(self) -> Step {
        match self {
            Mode::E2e => Step::Plan,
            Mode::Create => Step::Create,
            Mode::Read => Step::Status,
            Mode::Input => Step::AddInput,
        }
    }

    /// Units of the mode, plural, for the report's axes.
    pub(crate) fn units_name(self) -> &'static str {
        match self {
            Mode::E2e | Mode::Create => "parties",
            Mode::Read | Mode::Input => "requests",
        }
    }

    /// What one unit of the mode is, for messages.
    fn unit_name(self) -> &'static str {
        match self {
            Mode::E2e | Mode::Create => "party",
            Mode::Read | Mode::Input => "request",
        }
    }

    /// The name the report table and `--mode` use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::E2e => "e2e",
            Mode::Create => "create",
            Mode::Read => "read",
            Mode::Input => "input",
        }
    }
}

/// Which party the clients plan (SPEC §9.2's scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Jungle party for 75 guests, chocolate cake, outdoor venue, $2,000.
    Jungle,
    /// Princess castle party for 30 kids, pink vanilla cake.
    Princess,
    /// Space party for 50 people, galaxy cake.
    Space,
    /// The three in turn.
    Mixed,
}

impl Scenario {
    /// The name the report table and `--scenario` use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Jungle => "jungle",
            Scenario::Princess => "princess",
            Scenario::Space => "space",
            Scenario::Mixed => "mixed",
        }
    }

    /// The concrete scenario of the `n`-th party.
    fn pick(self, n: u64) -> &'static Script {
        let i = match self {
            Scenario::Jungle => 0,
            Scenario::Princess => 1,
            Scenario::Space => 2,
            Scenario::Mixed => (n % 3) as usize,
        };
        &SCRIPTS[i]
    }
}

/// One party's inputs: created with `initial`, then `extra` added and removed.
struct Script {
    initial: &'static [&'static str],
    /// Inputs added later, in turn; each changes a fact the agents read
    /// (the budget), so each causes a wave with a new plan.
    extra: &'static [&'static str],
}

const SCRIPTS: [Script; 3] = [
    Script {
        initial: &[
            "jungle theme party for 75 guests",
            "need a chocolate cake with animal decorations",
            "outdoor venue preferred, budget around $2000",
        ],
        extra: &[
            "budget around $3500, add a face painter",
            "budget around $2800 and a magician",
        ],
    },
    Script {
        initial: &[
            "princess castle theme party for 30 kids",
            "pink vanilla cake with crown topper",
        ],
        extra: &[
            "budget around $1500 with a magician",
            "budget around $900, add balloons",
        ],
    },
    Script {
        initial: &[
            "space and astronaut theme party for 50 people",
            "galaxy-themed cake with planet decorations",
        ],
        extra: &[
            "budget around $2500, indoor venue for 60 guests",
            "budget around $4000 with a photographer",
        ],
    },
];

/// Whether to use party tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenMode {
    /// Use the `party_token` of create responses when present; create first.
    Auto,
    /// No tokens; subscribe before create with client-chosen ids.
    None,
}

impl TokenMode {
    /// The name the report table and `--token-mode` use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TokenMode::Auto => "auto",
            TokenMode::None => "none",
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The URL is not `http://host:port`.
    #[error("invalid url {0:?}: expected http://host[:port]")]
    BadUrl(String),
    /// The URL's host does not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The server does not answer `/livez` (or `/health`).
    #[error("the server at {addr} does not answer: {reason}")]
    Unreachable {
        /// The address the URL resolved to.
        addr: SocketAddr,
        /// The connection error or the status the probe got, as text.
        reason: String,
    },
    /// The pool for `read`/`input` could not be prepared.
    #[error("preparing the party pool: {0}")]
    Pool(String),
    /// A thread could not be started.
    #[error("cannot start thread: {0}")]
    Spawn(String),
}

/// A validated run description.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The URL as given, for the report and error messages.
    pub url: String,
    /// The address `url` resolved to, once, before the run.
    pub addr: SocketAddr,
    /// Worker threads (1..=[`MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// Stop after this long (the units in flight finish).
    pub duration: Duration,
    /// Stop after this many units.
    pub units: Option<u64>,
    /// Which party every create (and every added input) describes.
    pub scenario: Scenario,
    /// What each unit of work is.
    pub mode: Mode,
    /// Whether to use party tokens, and so whether to create before or
    /// after subscribing.
    pub token_mode: TokenMode,
    /// Print the live progress line on stderr once per second.
    pub progress: bool,
    /// Server processes whose summed CPU time to report (from
    /// `/proc/<pid>/stat`): one, or one per node of a spread run.
    pub server_pids: Vec<u32>,
    /// Every server the clients are spread over ([`LoadConfig::spread`]),
    /// in the order given; empty when all clients use `url`.
    pub spread: Vec<Target>,
    /// Open loop: units due per second (set through
    /// [`LoadConfig::open_loop`]); `None` runs closed loop.
    pub rate: Option<f64>,
    /// Keep the parties the run created (`--keep`); by default they are
    /// deleted once the measured phase ends (see [`cleanup`]).
    pub keep: bool,
    /// How long deleting them may take ([`CLEANUP_TIMEOUT`]).
    pub cleanup_timeout: Duration,
    /// Ends the run early once set (the binary sets it on SIGINT and
    /// SIGTERM): no unit starts after it, the units in flight finish, and
    /// the report is made and the parties deleted as at the deadline.
    pub stop: Option<Arc<AtomicBool>>,
}

impl LoadConfig {
    /// Validates the settings: resolves `url` (`http://host[:port]`, port
    /// 80 by default), and bounds the run (`duration` defaults to
    /// [`DEFAULT_DURATION`] without `units`, and to [`MAX_RUN`] with them).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        url: &str,
        concurrency: usize,
        duration: Option<Duration>,
        units: Option<u64>,
        scenario: Scenario,
        mode: Mode,
        token_mode: TokenMode,
    ) -> Result<LoadConfig, LoadgenError> {
        let addr = parse_url(url)?;
        if concurrency == 0 || concurrency > MAX_CONCURRENCY {
            return Err(LoadgenError::Invalid(format!(
                "concurrency must be 1..={MAX_CONCURRENCY}"
            )));
        }
        if units == Some(0) {
            return Err(LoadgenError::Invalid("--parties must be at least 1".into()));
        }
        let duration = match (duration, units) {
            (Some(d), _) if d.is_zero() => {
                return Err(LoadgenError::Invalid("--duration must be positive".into()))
            }
            (Some(d), _) => d.min(MAX_RUN),
            (None, Some(_)) => MAX_RUN,
            (None, None) => DEFAULT_DURATION,
        };
        Ok(LoadConfig {
            url: url.to_string(),
            addr,
            concurrency,
            duration,
            units,
            scenario,
            mode,
            token_mode,
            progress: true,
            server_pids: Vec::new(),
            spread: Vec::new(),
            rate: None,
            keep: false,
            cleanup_timeout: CLEANUP_TIMEOUT,
            stop: None,
        })
    }

    /// The same run with its clients spread over `urls` (at least two) at
    /// once: client `i` sends its requests to `urls[i % n]` and opens its
    /// e2e WebSocket on `urls[(i + 1) % n]`. `url` becomes the list,
    /// comma-separated. Needs at least one client per URL.
    pub fn spread(mut self, urls: &[String]) -> Result<LoadConfig, LoadgenError> {
        if urls.len() < 2 {
            return Err(LoadgenError::Invalid(
                "--spread needs at least two --url (it spreads the clients over them)".into(),
            ));
        }
        if self.concurrency < urls.len() {
            return Err(LoadgenError::Invalid(format!(
                "--spread over {} URLs needs --concurrency of at least {}",
                urls.len(),
                urls.len()
            )));
        }
        self.spread = urls
            .iter()
            .map(|url| {
                Ok(Target {
                    url: url.clone(),
                    addr: parse_url(url)?,
                })
            })
            .collect::<Result<_, LoadgenError>>()?;
        self.url = urls.join(",");
        self.addr = self.spread[0].addr;
        Ok(self)
    }

    /// Every server of the run: the spread list, or `url` alone.
    pub fn targets(&self) -> Vec<Target> {
        if self.spread.is_empty() {
            vec![Target {
                url: self.url.clone(),
                addr: self.addr,
            }]
        } else {
            self.spread.clone()
        }
    }

    /// The same run in open loop: `rate` units due per second
    /// (0 < rate <= [`MAX_RATE`]), spread over the workers.
    pub fn open_loop(mut self, rate: f64) -> Result<LoadConfig, LoadgenError> {
        check_rate(rate)?;
        self.rate = Some(rate);
        Ok(self)
    }
}

/// One server of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The address it resolved to.
    pub addr: SocketAddr,
}

/// The server (index into the run's targets) client `index` sends its HTTP
/// requests to, of `n` servers: `index % n`.
pub fn client_target(index: usize, n: usize) -> usize {
    index % n.max(1)
}

/// The server client `index` opens its e2e WebSocket on, of `n` servers:
/// the next one after its HTTP server, `(index + 1) % n`, so with several
/// servers no party is streamed from the node that created it.
pub fn ws_target(index: usize, n: usize) -> usize {
    (index + 1) % n.max(1)
}

/// A rate `--rate` accepts.
fn check_rate(rate: f64) -> Result<(), LoadgenError> {
    if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE {
        Ok(())
    } else {
        Err(LoadgenError::Invalid(format!(
            "--rate must be above 0 and at most {MAX_RATE}, got {rate}"
        )))
    }
}

/// `http://host[:port][/]` → the first address it resolves to.
pub(crate) fn parse_url(url: &str) -> Result<SocketAddr, LoadgenError> {
    let bad = || LoadgenError::BadUrl(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(bad());
    }
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_string()
    };
    with_port
        .to_socket_addrs()
        .map_err(|_| LoadgenError::Resolve(authority.to_string()))?
        .next()
        .ok_or_else(|| LoadgenError::Resolve(authority.to_string()))
}

/// All the figures of a run (what `--json` writes).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The server's URL as given (spread: every URL, comma-separated).
    pub url: String,
    /// Every server loaded at once (one unless spread).
    pub urls: Vec<String>,
    /// What each unit of work was.
    pub mode: Mode,
    /// Which party the clients planned.
    pub scenario: Scenario,
    /// Token use (in e2e mode, what `auto` resolved to).
    pub token_mode: TokenMode,
    /// Worker threads, each with its own keep-alive connection.
    pub concurrency: usize,
    /// Wall time of the measured phase, seconds.
    pub elapsed_s: f64,
    /// Parties that went through their whole unit (e2e: planned, changed
    /// twice and read; create: created).
    pub parties: u64,
    /// `parties` per second of `elapsed_s`.
    pub parties_per_s: f64,
    /// HTTP requests sent (answered or not).
    pub requests: u64,
    /// `requests` per second of `elapsed_s`.
    pub requests_per_s: f64,
    /// Units (parties or requests, as the mode has them) that completed
    /// without error.
    pub units: u64,
    /// `units` per second of `elapsed_s`: what a sweep takes as the
    /// closed-loop maximum.
    pub units_per_s: f64,
    /// Open loop only (`null` in closed loop): the schedule and how well
    /// the server kept to it.
    pub open_loop: Option<OpenLoopReport>,
    /// WebSocket text messages received.
    pub ws_messages: u64,
    /// Failed units (each counted once, under its first error).
    pub error_count: u64,
    /// Errors by kind (`http_<status>[_<code>]`, `timeout`, `plan_timeout`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Latency per step (only the steps the mode has).
    pub steps: BTreeMap<&'static str, StepSummary>,
    /// CPU used during the measured phase.
    pub cpu: CpuReport,
    /// The machine and its load.
    pub machine: MachineReport,
    /// When the measured phase started, UTC, RFC 3339.
    pub started_at: String,
    /// The `version` the server reports on `GET /health` (the
    /// first server of a spread run); `null` when it reports none.
    pub server_version: Option<String>,
    /// Whether the run was stopped before its end ([`LoadConfig::stop`]:
    /// SIGINT or SIGTERM); its figures are of the part that ran.
    pub interrupted: bool,
    /// What happened to the parties the run created.
    pub cleanup: CleanupReport,
    /// Histograms and the timeline, for [`html_report`] and
    /// [`write_hist_dir`] (not in the JSON).
    #[serde(skip)]
    pub detail: Arc<Detail>,
}

/// The raw measurements behind a [`Report`]'s figures.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Latency per step recorded, microseconds, in table order.
    histograms: Vec<(&'static str, Histogram<u64>)>,
    /// Units, errors and the key step's latency per interval.
    timeline: Option<Timeline>,
    /// CPU per interval (the servers' only with `--server-pid`).
    cpu: Vec<CpuSample>,
    /// The step the timeline's latencies are of (the mode's key step).
    key_step: &'static str,
}

impl Detail {
    /// One step's latency histogram (microseconds), if it was recorded.
    pub fn histogram(&self, step: &str) -> Option<&Histogram<u64>> {
        self.histograms
            .iter()
            .find(|(s, _)| *s == step)
            .map(|(_, h)| h)
    }

    /// The steps recorded, in table order.
    pub fn steps(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.histograms.iter().map(|(s, _)| *s)
    }
}

/// How an open-loop run kept to its schedule. Latencies in the report's
/// `steps` are from each unit's scheduled start.
#[derive(Debug, Clone, Serialize)]
pub struct OpenLoopReport {
    /// Units due per second (`--rate`).
    pub requested_per_s: f64,
    /// Units started (completed or failed) per second of `elapsed_s`, or
    /// of the schedule's span (`scheduled / requested_per_s`) when that is
    /// longer.
    pub achieved_per_s: f64,
    /// Units due before the deadline (or the `--parties` count).
    pub scheduled: u64,
    /// Units a worker started.
    pub started: u64,
    /// Units due that no worker started before the deadline: the server
    /// (or too few clients) fell behind by that many.
    pub unsent: u64,
    /// How late the last unit started against its schedule, ms.
    pub behind_at_end_ms: f64,
    /// How long units waited past their due time for a free client (zero
    /// when one was free); `null` when no unit started.
    pub late: Option<StepSummary>,
    /// Whether at least [`KEPT_UP_SHARE`] of the scheduled units started.
    pub kept_up: bool,
    /// In a sweep: `requested_per_s` as a percentage of the closed-loop
    /// maximum.
    pub percent_of_max: Option<f64>,
}

/// CPU time used during the measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    /// The load generator's user + system time, seconds.
    pub loadgen_s: Option<f64>,
    /// `loadgen_s` in cores (CPU seconds per wall second).
    pub loadgen_cores: Option<f64>,
    /// The servers' summed user + system time, seconds, when their pids
    /// were given (`--server-pid`); `null` when one could not be read.
    pub server_s: Option<f64>,
    /// How many server processes `server_s` sums.
    pub server_pids: usize,
    /// `server_s` in cores.
    pub server_cores: Option<f64>,
}

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct MachineReport {
    /// Cores available to this process.
    pub nproc: usize,
    /// 1/5/15-minute load averages before the run.
    pub load_before: Option<[f64; 3]>,
    /// 1/5/15-minute load averages after the run.
    pub load_after: Option<[f64; 3]>,
}

impl Report {
    /// The human-readable summary table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let servers = if self.urls.len() > 1 {
            let ws = if self.mode == Mode::E2e {
                "; each WebSocket on the next one"
            } else {
                ""
            };
            format!(
                "spread over {} servers ({}{ws})",
                self.urls.len(),
                self.urls.join(", ")
            )
        } else {
            self.url.clone()
        };
        let _ = writeln!(
            o,
            "partybus loadgen: {} mode, {} scenario, token-mode {}, concurrency {}, {} ({:.2} s)",
            self.mode.name(),
            self.scenario.name(),
            self.token_mode.name(),
            self.concurrency,
            servers,
            self.elapsed_s
        );
        let _ = writeln!(
            o,
            "parties {} ({:.0}/s)   requests {} ({:.0}/s)   ws messages {}   errors {}",
            self.parties,
            self.parties_per_s,
            self.requests,
            self.requests_per_s,
            self.ws_messages,
            self.error_count
        );
        if let Some(ol) = &self.open_loop {
            o.push_str(&ol.lines());
        }
        let _ = writeln!(
            o,
            "\n{:<13} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "step",
            "count",
            "mean ms",
            "p50 ms",
            "p90 ms",
            "p95 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms"
        );
        for step in Step::ALL {
            if let Some(s) = self.steps.get(step.name()) {
                let _ = writeln!(
                    o,
                    "{:<13} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    step.name(),
                    s.count,
                    s.mean_ms,
                    s.p50_ms,
                    s.p90_ms,
                    s.p95_ms,
                    s.p99_ms,
                    s.p999_ms,
                    s.max_ms
                );
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(o, "\nerrors");
            for (k, n) in &self.errors {
                let _ = writeln!(o, "  {k:<40} {n}");
            }
        }
        let cores = |c: Option<f64>| c.map_or("n/a".to_string(), |c| format!("{c:.2} cores"));
        let _ = write!(o, "\ncpu: loadgen {}", cores(self.cpu.loadgen_cores));
        match self.cpu.server_pids {
            0 => {}
            1 => {
                let _ = write!(o, ", server {}", cores(self.cpu.server_cores));
            }
            n => {
                let _ = write!(o, ", {n} servers {}", cores(self.cpu.server_cores));
            }
        }
        let load = |l: Option<[f64; 3]>| {
            l.map_or("n/a".to_string(), |l| {
                format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
            })
        };
        let _ = writeln!(
            o,
            "   machine: {} cores, load before {}, after {}",
            self.machine.nproc,
            load(self.machine.load_before),
            load(self.machine.load_after)
        );
        if self.interrupted {
            let _ = writeln!(
                o,
                "INTERRUPTED: stopped before its end; figures are of the part that ran"
            );
        }
        let _ = writeln!(o, "cleanup: {}", self.cleanup.summary());
        o
    }

    /// The steps measured, in table order.
    pub(crate) fn ordered_steps(&self) -> Vec<(&'static str, &StepSummary)> {
        Step::ALL
            .iter()
            .filter_map(|s| self.steps.get(s.name()).map(|sum| (s.name(), sum)))
            .collect()
    }
}

/// Writes one HdrHistogram percentile distribution file ([`hgrm`]) per
/// step of each report into `dir` (created if missing): `STEP.hgrm` for one
/// report, `runN-LABEL-STEP.hgrm` for several (each URL or sweep point).
/// Returns the paths written.
pub fn write_hist_dir(reports: &[&Report], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let labels = html::run_labels(reports);
    let mut written = Vec::new();
    for (i, (r, label)) in reports.iter().zip(&labels).enumerate() {
        for (step, h) in &r.detail.histograms {
            let name = if reports.len() == 1 {
                format!("{step}.hgrm")
            } else {
                format!("run{}-{}-{step}.hgrm", i + 1, file_slug(label))
            };
            let path = dir.join(name);
            std::fs::write(&path, hgrm::percentile_distribution(h))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// `label` reduced to `[A-Za-z0-9._]` runs joined by `_`, for a file name.
fn file_slug(label: &str) -> String {
    let mut s = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_matches('_');
    let s: String = s.chars().take(60).collect();
    if s.is_empty() {
        "run".to_string()
    } else {
        s
    }
}

impl OpenLoopReport {
    /// The schedule lines of the text report (and the warning when the
    /// server fell behind).
    fn lines(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "open loop: requested {:.1}/s, achieved {:.1}/s; {} of {} scheduled units started ({} never sent); last one {:.1} ms behind schedule",
            self.requested_per_s,
            self.achieved_per_s,
            self.started,
            self.scheduled,
            self.unsent,
            self.behind_at_end_ms
        );
        if let Some(l) = &self.late {
            let _ = writeln!(
                o,
                "waiting for a free client: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (included in the latencies below)",
                l.p50_ms, l.p99_ms, l.max_ms
            );
        }
        if !self.kept_up {
            let _ = writeln!(
                o,
                "NOT KEPT UP: the server (or --concurrency) could not sustain {:.1}/s: {} units due were never sent; latencies below are of the units that were",
                self.requested_per_s, self.unsent
            );
        }
        o
    }
}

/// The headline figures of several runs (one per server), one row each, so
/// servers loaded with the same settings can be compared side by side.
pub fn comparison(reports: &[Report]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<32} {:>6} {:>10} {:>10} {:>11} {:>9} {:>9} {:>7}",
        "server", "tokens", "parties/s", "req/s", "step", "p50 ms", "p99 ms", "errors"
    );
    for r in reports {
        let step = r.mode.key_step();
        let (p50, p99) = r
            .steps
            .get(step.name())
            .map_or((f64::NAN, f64::NAN), |s| (s.p50_ms, s.p99_ms));
        let _ = writeln!(
            o,
            "{:<32} {:>6} {:>10.0} {:>10.0} {:>11} {:>9.3} {:>9.3} {:>7}",
            r.url,
            r.token_mode.name(),
            r.parties_per_s,
            r.requests_per_s,
            step.name(),
            p50,
            p99,
            r.error_count
        );
    }
    o
}

/// Counters the progress line reads while workers run.
#[derive(Default)]
struct Live {
    requests: AtomicU64,
    parties: AtomicU64,
    /// Units completed without error.
    units: AtomicU64,
    errors: AtomicU64,
    ws_messages: AtomicU64,
    /// Open loop: how late the most recently started unit began, µs.
    late_us: AtomicU64,
}

/// Hands out units of work until the deadline or the count runs out
/// (not a party's money budget: this one budgets load).
/// Shared by every worker of one run (or of the pool setup) and dropped with
/// it.
struct LoadBudget {
    /// No unit is handed out at or after this instant.
    deadline: Instant,
    /// At most this many units, when the run is bounded by count.
    units: Option<u64>,
    /// Units handed out so far (may overshoot `units` by the number of
    /// workers; the overshoot is never handed out).
    claimed: AtomicU64,
    /// Open loop: when each unit is due; `None` in closed loop.
    schedule: Option<Schedule>,
    /// Once set, no unit is handed out ([`LoadConfig::stop`]).
    stop: Option<Arc<AtomicBool>>,
    /// When a worker first saw `stop` set: the run's early end.
    stopped: OnceLock<Instant>,
}

/// The open-loop timetable: unit `n` is due at `start + n / rate`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    /// Units per second (validated by [`check_rate`]).
    rate: f64,
}

impl Schedule {
    /// When unit `n` is due.
    fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.rate)
    }

    /// How many units are due strictly before `end`.
    fn due_before(&self, end: Instant) -> u64 {
        let secs = end.saturating_duration_since(self.start).as_secs_f64();
        (secs * self.rate).ceil() as u64
    }
}

/// One unit of work handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unit {
    /// The unit's number in the run (picks its scenario and ids).
    n: u64,
    /// Open loop: when it is due.
    due: Option<Instant>,
}

impl LoadBudget {
    /// The next unit, or `None` when the run is over: at the deadline,
    /// after `units`, or (open loop) when the next unit is due at or after
    /// the deadline.
    fn claim(&self) -> Option<Unit> {
        if Instant::now() >= self.deadline {
            return None;
        }
        if self
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            let _ = self.stopped.set(Instant::now());
            return None;
        }
        let n = self.claimed.fetch_add(1, Ordering::Relaxed);
        if self.units.is_some_and(|max| n >= max) {
            return None;
        }
        let due = self.schedule.map(|s| s.due(n));
        if due.is_some_and(|d| d >= self.deadline) {
            return None;
        }
        Some(Unit { n, due })
    }

    /// Open loop: the units due before the run's end (capped by `units`).
    fn scheduled(&self) -> Option<u64> {
        let s = self.schedule?;
        let due = s.due_before(self.end());
        Some(self.units.map_or(due, |max| due.min(max)))
    }

    /// The deadline, or the moment the run was stopped before it.
    fn end(&self) -> Instant {
        self.stopped
            .get()
            .map_or(self.deadline, |&t| t.min(self.deadline))
    }
}

/// Open loop: waits until `due` if it is still ahead and returns how late
/// the unit starts, zero when it was not yet due (the sleep's own overshoot
/// is the generator's timer, not the server, and is not charged).
fn wait_until_due(due: Instant) -> Duration {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
        Duration::ZERO
    } else {
        now - due
    }
}

/// A party the workers share in `read` and `input` modes.
#[derive(Debug, Clone)]
struct PoolParty {
    id: String,
    token: Option<String>,
}

/// What every worker shares.
struct Shared {
    config: LoadConfig,
    budget: LoadBudget,
    live: Live,
    /// The pool parties of `read` and `input` modes, by the server they
    /// were created on (one list per target).
    pool: Vec<Vec<PoolParty>>,
    /// Every server of the run (`config.targets()`).
    targets: Vec<Target>,
    /// Makes client-chosen party ids unique to this run.
    run_tag: String,
    /// Per-interval figures; workers merge theirs in once per interval.
    timeline: Arc<Mutex<Timeline>>,
}

/// Why a unit failed, named for the error table.
struct Failure(String);

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure(e.kind().to_string())
    }
}

impl From<WsClientError> for Failure {
    fn from(e: WsClientError) -> Failure {
        Failure(e.kind().to_string())
    }
}

/// The fields of a create response the client uses.
#[derive(Deserialize)]
struct Created {
    party_id: String,
    #[serde(default)]
    party_token: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
}

/// The fields of a write acknowledgement the client uses.
#[derive(Deserialize)]
struct Acked {
    #[serde(default)]
    input_id: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
}

/// An error body's stable `code`, if it has one.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
}

/// One worker thread's state.
struct Worker {
    shared: Arc<Shared>,
    index: usize,
    /// The target this worker sends its HTTP requests to.
    target: usize,
    /// Where this worker opens its WebSockets.
    ws_addr: SocketAddr,
    http: HttpClient,
    stats: LoadStats,
    /// Units done by this worker (spreads pool access).
    done: u64,
    /// Input mode: the inputs this worker added, oldest first, per party.
    added: HashMap<String, VecDeque<String>>,
    /// Open loop: how late the current unit started against its schedule
    /// (zero in closed loop); added to the steps timed from the unit's
    /// start.
    late: Duration,
    /// `late` until the unit's first timed request or handshake takes it.
    first_late: Option<Duration>,
    /// The parties this worker created (acknowledged), to delete after
    /// the run. Bounded by the server's own party cap: nothing is deleted
    /// during the run, so creates past the cap fail and are not kept here.
    created: Vec<Owned>,
    /// This worker's current interval of the run's timeline.
    timeline: TimelineRecorder,
}

impl Worker {
    fn new(shared: Arc<Shared>, index: usize) -> Worker {
        let n = shared.targets.len();
        let target = client_target(index, n);
        Worker {
            http: HttpClient::new(shared.targets[target].addr),
            ws_addr: shared.targets[ws_target(index, n)].addr,
            timeline: TimelineRecorder::new(shared.timeline.clone()),
            created: Vec::new(),
            shared,
            index,
            target,
            stats: LoadStats::new(),
            done: 0,
            added: HashMap::new(),
            late: Duration::ZERO,
            first_late: None,
        }
    }

    /// Files one step's latency: in the step's histogram and, for the
    /// mode's key step, in the timeline.
    fn record(&mut self, step: Step, took: Duration) {
        self.stats.record(step, took);
        if step == self.shared.config.mode.key_step() {
            self.timeline.latency(took);
        }
    }

    /// Runs units until the budget ends; the measurements and the parties
    /// created.
    fn run(mut self) -> (LoadStats, Vec<Owned>) {
        while let Some(Unit { n, due }) = self.shared.budget.claim() {
            self.late = due.map_or(Duration::ZERO, wait_until_due);
            if due.is_some() {
                self.stats.record_late(self.late);
                let us = u64::try_from(self.late.as_micros()).unwrap_or(u64::MAX);
                self.shared.live.late_us.store(us, Ordering::Relaxed);
            }
            self.first_late = Some(self.late);
            let began = Instant::now();
            let result = match self.shared.config.mode {
                Mode::E2e => self.e2e(n),
                Mode::Create => self.create(n).map(|_| ()),
                Mode::Read => self.read(),
                Mode::Input => self.input(n),
            };
            match result {
                Ok(()) => {
                    if matches!(self.shared.config.mode, Mode::E2e | Mode::Create) {
                        self.shared.live.parties.fetch_add(1, Ordering::Relaxed);
                    }
                    self.shared.live.units.fetch_add(1, Ordering::Relaxed);
                    if self.shared.config.mode == Mode::E2e {
                        self.record(Step::Party, began.elapsed() + self.late);
                    }
                    self.timeline.unit(true);
                }
                Err(Failure(kind)) => {
                    self.stats.error(&kind);
                    self.shared.live.errors.fetch_add(1, Ordering::Relaxed);
                    self.timeline.unit(false);
                }
            }
            self.done += 1;
        }
        self.timeline.flush();
        (self.stats, self.created)
    }

    /// One HTTP request; a 2xx answer records `step`'s latency (from the
    /// scheduled start when it is the unit's first), anything else is a
    /// failure named by status and `code`.
    fn call(
        &mut self,
        step: Step,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response, Failure> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        self.shared.live.requests.fetch_add(1, Ordering::Relaxed);
        let late = self.first_late.take().unwrap_or_default();
        let began = Instant::now();
        let resp = self.http.request(method, path, &headers, body)?;
        if !resp.is_success() {
            return Err(Failure(failure_kind(&resp)));
        }
        self.record(step, began.elapsed() + late);
        Ok(resp)
    }

    /// A party id unique to this run (for `--token-mode none`).
    fn chosen_id(&self, n: u64) -> String {
        format!("lg{}-{}", self.shared.run_tag, n)
    }

    /// `POST /party` with the scenario's inputs; `party_id` when given.
    fn create(&mut self, n: u64) -> Result<Created, Failure> {
        let script = self.shared.config.scenario.pick(n);
        let party_id = match self.shared.config.token_mode {
            TokenMode::None => Some(self.chosen_id(n)),
            TokenMode::Auto => None,
        };
        self.create_with(script, party_id)
    }

    fn create_with(
        &mut self,
        script: &Script,
        party_id: Option<String>,
    ) -> Result<Created, Failure> {
        let inputs: Vec<_> = script
            .initial
            .iter()
            .map(|c| json!({"content": c, "source_type": "text"}))
            .collect();
        let mut body = json!({"initial_inputs": inputs, "user_id": "loadgen"});
        if let Some(id) = party_id {
            body["party_id"] = json!(id);
        }
        let bytes = body.to_string().into_bytes();
        let resp = self.call(
            Step::Create,
            "POST",
            &format!("{API_PREFIX}/party"),
            None,
            Some(&bytes),
        )?;
        let created = serde_json::from_slice::<Created>(&resp.body)
            .map_err(|_| Failure("bad_body".into()))?;
        self.created.push(Owned {
            target: self.target,
            id: created.party_id.clone(),
            token: created.party_token.clone(),
        });
        Ok(created)
    }

    /// The WebSocket path of a party.
    fn ws_path(party_id: &str, token: Option<&str>, since: Option<u64>) -> String {
        let mut path = format!("{API_PREFIX}/ws/{party_id}");
        let mut sep = '?';
        if let Some(t) = token {
            let _ = write!(path, "{sep}token={t}");
            sep = '&';
        }
        if let Some(s) = since {
            let _ = write!(path, "{sep}since={s}");
        }
        path
    }

    fn ws_connect(&mut self, path: &str) -> Result<WsClient, Failure> {
        let late = self.first_late.take().unwrap_or_default();
        let began = Instant::now();
        let ws = WsClient::connect(self.ws_addr, path, WS_CONNECT_TIMEOUT)?;
        self.record(Step::WsConnect, began.elapsed() + late);
        Ok(ws)
    }

    /// One e2e party: create → plan → add → plan → remove → plan → status.
    fn e2e(&mut self, n: u64) -> Result<(), Failure> {
        let script = self.shared.config.scenario.pick(n);
        let mut ws_messages = 0;
        let result = self.e2e_steps(n, script, &mut ws_messages);
        self.shared
            .live
            .ws_messages
            .fetch_add(ws_messages, Ordering::Relaxed);
        result
    }

    fn e2e_steps(&mut self, n: u64, script: &Script, ws_messages: &mut u64) -> Result<(), Failure> {
        let began = Instant::now();
        let (created, mut ws) = match self.shared.config.token_mode {
            TokenMode::None => {
                // The prototype's way: subscribe, then create with that id.
                let id = self.chosen_id(n);
                let ws = self.ws_connect(&Self::ws_path(&id, None, None))?;
                let began = Instant::now();
                let created = self.create_with(script, Some(id));
                (created.map(|c| (c, began)), ws)
            }
            TokenMode::Auto => {
                let created = self.create_with(script, None)?;
                let path = Self::ws_path(
                    &created.party_id,
                    created.party_token.as_deref(),
                    created.seq,
                );
                let ws = self.ws_connect(&path)?;
                (Ok((created, began)), ws)
            }
        };
        let outcome = (|| {
            let (created, began) = created?;
            let token = created.party_token.clone();
            let token = token.as_deref();
            let party = created.party_id.as_str();
            ws.wait_plan(rule(created.seq), PLAN_TIMEOUT)?;
            self.record(Step::Plan, began.elapsed() + self.late);

            let began = Instant::now();
            let (input_id, seq) = self.add_input(script, n, party, token)?;
            ws.wait_plan(rule(seq), PLAN_TIMEOUT)?;
            self.record(Step::AddPlan, began.elapsed());

            let began = Instant::now();
            let seq = self.remove_input(party, token, &input_id)?;
            ws.wait_plan(rule(seq), PLAN_TIMEOUT)?;
            self.record(Step::RemovePlan, began.elapsed());

            self.call(
                Step::Status,
                "GET",
                &format!("{API_PREFIX}/party/{party}/status"),
                token,
                None,
            )?;
            Ok(())
        })();
        *ws_messages += ws.messages();
        ws.close();
        outcome
    }

    /// The pool party for this worker's next request, among those created
    /// on its own server (workers on the same server take turns).
    fn pool_party(&self) -> PoolParty {
        let n = self.shared.targets.len();
        let pool = &self.shared.pool[self.target];
        // Workers target, target + n, ...: this one is the `local`-th of `peers`.
        let local = (self.index / n) as u64;
        let peers = self
            .shared
            .config
            .concurrency
            .saturating_sub(self.target)
            .div_ceil(n) as u64;
        let i = (local + self.done * peers.max(1)) % pool.len() as u64;
        pool[i as usize].clone()
    }

    fn read(&mut self) -> Result<(), Failure> {
        let p = self.pool_party();
        self.call(
            Step::Status,
            "GET",
            &format!("{API_PREFIX}/party/{}/status", p.id),
            p.token.as_deref(),
            None,
        )
        .map(|_| ())
    }

    /// Adds an input to a pool party; once this worker has
    /// [`KEEP_ADDED`] inputs on that party it also removes its oldest one,
    /// as a user editing a party does, so a run of any length stays under
    /// the server's per-party input limit.
    fn input(&mut self, n: u64) -> Result<(), Failure> {
        let p = self.pool_party();
        let script = self.shared.config.scenario.pick(n);
        let (input_id, _) = self.add_input(script, n, &p.id, p.token.as_deref())?;
        let mine = self.added.entry(p.id.clone()).or_default();
        mine.push_back(input_id);
        if mine.len() <= KEEP_ADDED {
            return Ok(());
        }
        let Some(oldest) = mine.pop_front() else {
            return Ok(());
        };
        self.remove_input(&p.id, p.token.as_deref(), &oldest)
            .map(|_| ())
    }

    /// `POST …/input` with the script's `n`th extra text; the new input's id
    /// and the acknowledgement's `seq`.
    fn add_input(
        &mut self,
        script: &Script,
        n: u64,
        party: &str,
        token: Option<&str>,
    ) -> Result<(String, Option<u64>), Failure> {
        let extra = script.extra[(n % script.extra.len() as u64) as usize];
        let body = json!({"content": extra, "source_type": "text", "tags": ["loadgen"]})
            .to_string()
            .into_bytes();
        let resp = self.call(
            Step::AddInput,
            "POST",
            &format!("{API_PREFIX}/party/{party}/input"),
            token,
            Some(&body),
        )?;
        let added = acked(&resp)?;
        let input_id = added.input_id.ok_or_else(|| Failure("bad_body".into()))?;
        Ok((input_id, added.seq))
    }

    /// `DELETE …/input/{id}`; the acknowledgement's `seq`.
    fn remove_input(
        &mut self,
        party: &str,
        token: Option<&str>,
        input_id: &str,
    ) -> Result<Option<u64>, Failure> {
        let resp = self.call(
            Step::RemoveInput,
            "DELETE",
            &format!("{API_PREFIX}/party/{party}/input/{input_id}"),
            token,
            None,
        )?;
        Ok(acked(&resp)?.seq)
    }
}

/// The error-table name of a non-2xx answer: `http_<status>_<code>` with
/// the body's stable `code`, or `http_<status>`.
pub(crate) fn failure_kind(resp: &Response) -> String {
    let code = serde_json::from_slice::<ErrorBody>(&resp.body)
        .ok()
        .and_then(|b| b.code);
    match code {
        Some(c) => format!("http_{}_{c}", resp.status),
        None => format!("http_{}", resp.status),
    }
}

/// A command's acknowledgement body.
fn acked(resp: &Response) -> Result<Acked, Failure> {
    serde_json::from_slice(&resp.body).map_err(|_| Failure("bad_body".into()))
}

/// The plan rule for a command acknowledged with this `seq` (if any).
fn rule(seq: Option<u64>) -> PlanRule {
    seq.map_or(PlanRule::Next, PlanRule::AfterSeq)
}

/// Checks that the server answers at all, so a wrong URL fails fast
/// instead of filling the error table.
fn probe(addr: SocketAddr) -> Result<(), LoadgenError> {
    let mut c = HttpClient::new(addr);
    let unreachable = |reason: String| LoadgenError::Unreachable { addr, reason };
    let r = c
        .get("/livez", None)
        .map_err(|e| unreachable(e.to_string()))?;
    if r.is_success() {
        return Ok(());
    }
    // The prototype has /health but no /livez.
    let r = c
        .get("/health", None)
        .map_err(|e| unreachable(e.to_string()))?;
    if r.is_success() {
        Ok(())
    } else {
        Err(unreachable(format!(
            "/livez and /health answer {}",
            r.status
        )))
    }
}

/// Whether the server hands out party tokens: creates one probe party
/// (`user_id` `loadgen-probe`) and looks for `party_token` in the answer.
/// The probe party comes back too, to be deleted with the run's.
fn issues_tokens(addr: SocketAddr) -> Result<(bool, Option<Owned>), LoadgenError> {
    let mut c = HttpClient::new(addr);
    let body = br#"{"user_id":"loadgen-probe"}"#;
    let r = c
        .request("POST", &format!("{API_PREFIX}/party"), &[], Some(body))
        .map_err(|e| LoadgenError::Unreachable {
            addr,
            reason: e.to_string(),
        })?;
    if !r.is_success() {
        return Err(LoadgenError::Unreachable {
            addr,
            reason: format!("POST {API_PREFIX}/party answers {}", r.status),
        });
    }
    let created = serde_json::from_slice::<Created>(&r.body).ok();
    let tokens = created
        .as_ref()
        .and_then(|c| c.party_token.as_deref())
        .is_some_and(|t| !t.is_empty());
    let probe = created.map(|c| Owned {
        target: 0,
        id: c.party_id,
        token: c.party_token,
    });
    Ok((tokens, probe))
}

/// The `version` a server reports on `GET /health`, if any.
fn server_version(addr: SocketAddr) -> Option<String> {
    #[derive(Deserialize)]
    struct Health {
        version: Option<String>,
    }
    let r = HttpClient::new(addr).get("/health", None).ok()?;
    if !r.is_success() {
        return None;
    }
    serde_json::from_slice::<Health>(&r.body).ok()?.version
}

/// Creates the pool for `read` and `input` modes (with the workers'
/// concurrency) and waits until each party has a plan.
/// Pool thread `i` creates units `i`, `i + threads`, ... on its worker's
/// server, so with one thread per worker every server gets its share; the
/// parties come back by server. Every party created, even when the pool
/// then fails, is added to `owned` (to be deleted).
fn prepare_pool(
    config: &LoadConfig,
    targets: &[Target],
    run_tag: &str,
    owned: &mut Vec<Owned>,
) -> Result<Vec<Vec<PoolParty>>, LoadgenError> {
    let size = (config.concurrency * POOL_PER_WORKER).clamp(MIN_POOL, MAX_POOL);
    let threads = config.concurrency.min(size);
    let deadline = Instant::now() + POOL_SETTLE_TIMEOUT;
    let shared = Arc::new(Shared {
        config: config.clone(),
        budget: LoadBudget {
            deadline,
            units: Some(size as u64),
            claimed: AtomicU64::new(0),
            schedule: None,
            stop: None,
            stopped: OnceLock::new(),
        },
        live: Live::default(),
        pool: Vec::new(),
        targets: targets.to_vec(),
        run_tag: format!("{run_tag}p"),
        timeline: Arc::new(Mutex::new(Timeline::new(
            Instant::now(),
            POOL_SETTLE_TIMEOUT,
        ))),
    });
    type PoolResult = Result<(usize, Vec<PoolParty>), String>;
    let results: Vec<(PoolResult, Vec<Owned>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|index| {
                let shared = shared.clone();
                s.spawn(move || {
                    let mut w = Worker::new(shared.clone(), index);
                    let mut fill = || -> PoolResult {
                        let mut mine = Vec::new();
                        for n in (index..size).step_by(threads) {
                            if Instant::now() >= deadline {
                                break;
                            }
                            let c = w.create(n as u64).map_err(|f| f.0)?;
                            let token = c.party_token.clone();
                            w.settle(&c.party_id, token.as_deref(), deadline)?;
                            mine.push(PoolParty {
                                id: c.party_id,
                                token,
                            });
                        }
                        Ok((w.target, mine))
                    };
                    let result = fill();
                    (result, std::mem::take(&mut w.created))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (Err("a pool thread panicked".into()), Vec::new()))
            })
            .collect()
    });
    let mut pool = vec![Vec::new(); targets.len()];
    let mut failed = None;
    for (r, created) in results {
        owned.extend(created);
        match r {
            Ok((target, mine)) => pool[target].extend(mine),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        return Err(LoadgenError::Pool(e));
    }
    let created: usize = pool.iter().map(Vec::len).sum();
    if created < size || pool.iter().any(Vec::is_empty) {
        return Err(LoadgenError::Pool(format!(
            "only {created} of {size} parties were created in time"
        )));
    }
    Ok(pool)
}

impl Worker {
    /// Polls the party's status until it has a final plan (pool setup only).
    fn settle(
        &mut self,
        party: &str,
        token: Option<&str>,
        deadline: Instant,
    ) -> Result<(), String> {
        /// The plan's key in the status document.
        #[derive(Deserialize)]
        struct StatusDoc {
            party: PartyDoc,
        }
        #[derive(Deserialize)]
        struct PartyDoc {
            #[serde(default)]
            final_plan: Option<serde::de::IgnoredAny>,
        }
        loop {
            let r = self
                .call(
                    Step::Status,
                    "GET",
                    &format!("{API_PREFIX}/party/{party}/status"),
                    token,
                    None,
                )
                .map_err(|f| format!("status of {party}: {}", f.0))?;
            let planned = serde_json::from_slice::<StatusDoc>(&r.body)
                .map_err(|e| format!("status of {party}: {e}"))?
                .party
                .final_plan
                .is_some();
            if planned {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{party} was not planned in time"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Runs the load and returns its figures. Prints the live progress line on
/// stderr when `config.progress` is set.
pub fn run(config: &LoadConfig) -> Result<Report, LoadgenError> {
    if let Some(rate) = config.rate {
        check_rate(rate)?;
    }
    let targets = config.targets();
    for t in &targets {
        probe(t.addr)?;
    }
    let server_version = server_version(config.addr);
    let mut config = config.clone();
    // Every party the run creates, to delete at the end.
    let mut owned: Vec<Owned> = Vec::new();
    if config.mode == Mode::E2e && config.token_mode == TokenMode::Auto {
        let (tokens, probe) = issues_tokens(config.addr)?;
        owned.extend(probe);
        if !tokens {
            // A server without tokens (the prototype) has no replay either,
            // so its clients must subscribe before they create.
            config.token_mode = TokenMode::None;
        }
    }
    let config = &config;
    let run_tag = run_tag();
    let pool = match config.mode {
        Mode::Read | Mode::Input => {
            match prepare_pool(config, &targets, &run_tag, &mut owned) {
                Ok(pool) => pool,
                Err(e) => {
                    // Leave nothing behind on the way out either.
                    if !config.keep {
                        cleanup::delete_parties(
                            &targets,
                            &owned,
                            config.concurrency,
                            config.cleanup_timeout,
                        );
                    }
                    return Err(e);
                }
            }
        }
        Mode::E2e | Mode::Create => Vec::new(),
    };
    let load_before = stats::load_average();
    let cpu_before = stats::cpu_time(None);
    let server_before = servers_cpu(&config.server_pids);
    let started_at = rfc3339_now();
    let started = Instant::now();
    let width = timeline::interval_width(config.duration);
    let shared = Arc::new(Shared {
        config: config.clone(),
        budget: LoadBudget {
            deadline: started + config.duration,
            units: config.units,
            claimed: AtomicU64::new(0),
            schedule: config.rate.map(|rate| Schedule {
                start: started,
                rate,
            }),
            stop: config.stop.clone(),
            stopped: OnceLock::new(),
        },
        live: Live::default(),
        pool,
        targets: targets.clone(),
        run_tag,
        timeline: Arc::new(Mutex::new(Timeline::new(started, width))),
    });

    let (stop_sampler, sampler_rx) = bounded::<()>(0);
    let sampler = {
        let pids = config.server_pids.clone();
        std::thread::Builder::new()
            .name("loadgen-cpu".into())
            .spawn(move || timeline::sample_cpu(started, width, &pids, &sampler_rx))
            .map_err(|e| LoadgenError::Spawn(e.to_string()))?
    };
    let (stop_progress, progress_rx) = bounded::<()>(0);
    let progress = if config.progress {
        let shared = shared.clone();
        let h = std::thread::Builder::new()
            .name("loadgen-progress".into())
            .spawn(move || progress_loop(&shared, started, &progress_rx))
            .map_err(|e| LoadgenError::Spawn(e.to_string()))?;
        Some(h)
    } else {
        None
    };

    let mut handles = Vec::with_capacity(config.concurrency);
    let mut spawn_error = None;
    for index in 0..config.concurrency {
        let worker = Worker::new(shared.clone(), index);
        let spawned = std::thread::Builder::new()
            .name(format!("loadgen-{index}"))
            .stack_size(512 * 1024)
            .spawn(move || worker.run());
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                spawn_error = Some(e.to_string());
                break;
            }
        }
    }
    let mut total = LoadStats::new();
    for h in handles {
        match h.join() {
            Ok((s, created)) => {
                total.merge(&s);
                owned.extend(created);
            }
            Err(_) => total.error("worker_panic"),
        }
    }
    let elapsed = started.elapsed();
    drop(stop_progress);
    drop(stop_sampler);
    if let Some(h) = progress {
        let _ = h.join();
    }
    let cpu_samples = sampler.join().unwrap_or_default();
    // The clock has stopped: deleting is not measured.
    let cleanup = if config.keep {
        CleanupReport::kept(owned.len() as u64)
    } else {
        if config.progress && !owned.is_empty() {
            eprintln!("loadgen: deleting the {} parties created", owned.len());
        }
        cleanup::delete_parties(&targets, &owned, config.concurrency, config.cleanup_timeout)
    };
    if let Some(e) = spawn_error {
        return Err(LoadgenError::Spawn(e));
    }

    let secs = elapsed.as_secs_f64().max(1e-9);
    let cpu_used = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b).as_secs_f64()),
        _ => None,
    };
    let loadgen_s = cpu_used(cpu_before, stats::cpu_time(None));
    let server_s = cpu_used(server_before, servers_cpu(&config.server_pids));
    let timeline = shared
        .timeline
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let live = &shared.live;
    let parties = live.parties.load(Ordering::Relaxed);
    let requests = live.requests.load(Ordering::Relaxed);
    let units = live.units.load(Ordering::Relaxed);
    let open_loop = config.rate.map(|rate| {
        // Every unit handed out ran to its end (each wait has a timeout),
        // as a success or as one error.
        let started = units + total.error_count();
        let budget = &shared.budget;
        let scheduled = budget.scheduled().unwrap_or(started).max(started);
        let last_late = Duration::from_micros(live.late_us.load(Ordering::Relaxed));
        // Units are handed out in order, so the first one never sent is
        // number `started`: at the deadline it was that far behind.
        let behind = match budget.schedule {
            Some(s) if scheduled > started => {
                last_late.max(budget.end().saturating_duration_since(s.due(started)))
            }
            _ => last_late,
        };
        OpenLoopReport {
            requested_per_s: rate,
            // Over the schedule's span at least: the last unit is due one
            // interval before the span ends, so units / elapsed alone would
            // read a little above the rate on a short run that kept up.
            achieved_per_s: started as f64 / secs.max(scheduled as f64 / rate),
            scheduled,
            started,
            unsent: scheduled - started,
            behind_at_end_ms: behind.as_secs_f64() * 1000.0,
            late: total.late_summary(),
            kept_up: started as f64 >= KEPT_UP_SHARE * scheduled as f64,
            percent_of_max: None,
        }
    });
    Ok(Report {
        url: config.url.clone(),
        urls: targets.iter().map(|t| t.url.clone()).collect(),
        mode: config.mode,
        scenario: config.scenario,
        token_mode: config.token_mode,
        concurrency: config.concurrency,
        elapsed_s: secs,
        parties,
        parties_per_s: parties as f64 / secs,
        requests,
        requests_per_s: requests as f64 / secs,
        units,
        units_per_s: units as f64 / secs,
        open_loop,
        ws_messages: live.ws_messages.load(Ordering::Relaxed),
        error_count: total.error_count(),
        errors: total.errors().clone(),
        steps: Step::ALL
            .iter()
            .filter_map(|s| total.summary(*s).map(|sum| (s.name(), sum)))
            .collect(),
        cpu: CpuReport {
            loadgen_s,
            loadgen_cores: loadgen_s.map(|c| c / secs),
            server_s,
            server_cores: server_s.map(|c| c / secs),
            server_pids: config.server_pids.len(),
        },
        machine: MachineReport {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            load_before,
            load_after: stats::load_average(),
        },
        started_at,
        server_version,
        interrupted: shared.budget.stopped.get().is_some(),
        cleanup,
        detail: Arc::new(Detail {
            histograms: Step::ALL
                .iter()
                .filter_map(|s| total.histogram(*s).map(|h| (s.name(), h.clone())))
                .collect(),
            timeline: Some(timeline),
            cpu: cpu_samples,
            key_step: config.mode.key_step().name(),
        }),
    })
}

/// Now, UTC, as RFC 3339 to the second (`2026-12-03T13:00:35Z`).
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the Unix epoch as RFC 3339 UTC (proleptic Gregorian,
/// Howard Hinnant's `civil_from_days`).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The summed CPU time of these processes; `None` without pids or when
/// one cannot be read (it exited, or this is not Linux).
fn servers_cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|&p| stats::cpu_time(Some(p)))
        .sum::<Option<Duration>>()
}

/// A latency-vs-throughput curve: a closed-loop run to find the maximum,
/// then open-loop runs at percentages of it.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The closed-loop run; its `units_per_s` is the maximum.
    pub closed: Report,
    /// One open-loop run per percentage, in the order given.
    pub open: Vec<Report>,
}

/// Runs `config` closed loop (ignoring its rate), then open loop at each of
/// `percents` of the units per second it reached, against the same server
/// and with the same settings. `each` sees every report as it is done (to
/// print it). Fails if the closed-loop run completed no unit.
pub fn sweep(
    config: &LoadConfig,
    percents: &[f64],
    mut each: impl FnMut(&Report),
) -> Result<Sweep, LoadgenError> {
    if percents.is_empty() {
        return Err(LoadgenError::Invalid("--sweep needs a percentage".into()));
    }
    if let Some(p) = percents
        .iter()
        .find(|p| !(p.is_finite() && **p > 0.0 && **p <= MAX_SWEEP_PERCENT))
    {
        return Err(LoadgenError::Invalid(format!(
            "--sweep percentages must be above 0 and at most {MAX_SWEEP_PERCENT}, got {p}"
        )));
    }
    let mut closed_config = config.clone();
    closed_config.rate = None;
    let closed = run(&closed_config)?;
    each(&closed);
    let max = closed.units_per_s;
    if closed.units == 0 || !max.is_finite() {
        return Err(LoadgenError::Invalid(format!(
            "the closed-loop run completed no {} (errors: {:?}): no maximum to sweep from",
            config.mode.unit_name(),
            closed.errors
        )));
    }
    let mut open = Vec::with_capacity(percents.len());
    for &pct in percents {
        if config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            break;
        }
        let c = config
            .clone()
            .open_loop((max * pct / 100.0).min(MAX_RATE))?;
        let mut r = run(&c)?;
        if let Some(ol) = &mut r.open_loop {
            ol.percent_of_max = Some(pct);
        }
        each(&r);
        open.push(r);
    }
    Ok(Sweep { closed, open })
}

impl Sweep {
    /// Every report, the closed-loop one first (what `--json` writes).
    pub fn reports(&self) -> Vec<&Report> {
        std::iter::once(&self.closed).chain(&self.open).collect()
    }

    /// The curve: one row per run, the mode's key step's percentiles.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let step = self.closed.mode.key_step();
        let _ = writeln!(
            o,
            "latency vs throughput: {} mode, concurrency {}, {}; step {}, open loop timed from each unit's scheduled start",
            self.closed.mode.name(),
            self.closed.concurrency,
            self.closed.url,
            step.name(),
        );
        let _ = writeln!(
            o,
            "{:<12} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7} {:>8}",
            "load",
            "requested/s",
            "achieved/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "behind ms",
            "errors",
            "kept up"
        );
        for r in self.reports() {
            let s = r.steps.get(step.name());
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
            let (load, requested, achieved, behind, kept) = match &r.open_loop {
                None => (
                    "closed loop".to_string(),
                    "-".to_string(),
                    r.units_per_s,
                    "-".to_string(),
                    "-",
                ),
                Some(ol) => (
                    ol.percent_of_max
                        .map_or("open loop".to_string(), |p| format!("{p} % of max")),
                    format!("{:.1}", ol.requested_per_s),
                    ol.achieved_per_s,
                    format!("{:.1}", ol.behind_at_end_ms),
                    if ol.kept_up { "yes" } else { "NO" },
                ),
            };
            let _ = writeln!(
                o,
                "{:<12} {:>11} {:>11.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7} {:>8}",
                load,
                requested,
                achieved,
                f(s.map(|s| s.p50_ms)),
                f(s.map(|s| s.p90_ms)),
                f(s.map(|s| s.p99_ms)),
                f(s.map(|s| s.p999_ms)),
                f(s.map(|s| s.max_ms)),
                behind,
                r.error_count,
                kept
            );
        }
        o
    }
}

/// A short tag making this run's client-chosen ids unique (process id and
/// start time, hex).
fn run_tag() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{:x}{:x}", std::process::id(), millis & 0xff_ffff)
}

/// Prints `requests, rps, parties, errors` on stderr once per second until
/// the sender is dropped.
fn progress_loop(shared: &Shared, started: Instant, stop: &crossbeam_channel::Receiver<()>) {
    let tty = std::io::stderr().is_terminal();
    let (mut last_requests, mut last_parties, mut last_at) = (0u64, 0u64, started);
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_secs(1)) {
        let now = Instant::now();
        let dt = now.duration_since(last_at).as_secs_f64().max(1e-9);
        let live = &shared.live;
        let requests = live.requests.load(Ordering::Relaxed);
        let parties = live.parties.load(Ordering::Relaxed);
        let errors = live.errors.load(Ordering::Relaxed);
        let mut line = format!(
            "loadgen {:>4.0}s  requests {requests} ({:.0}/s)  parties {parties} ({:.0}/s)  errors {errors}",
            now.duration_since(started).as_secs_f64(),
            (requests - last_requests) as f64 / dt,
            (parties - last_parties) as f64 / dt,
        );
        if shared.config.rate.is_some() {
            let behind = live.late_us.load(Ordering::Relaxed) as f64 / 1000.0;
            let _ = write!(line, "  behind schedule {behind:.1} ms");
        }
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        (last_requests, last_parties, last_at) = (requests, parties, now);
    }
    if tty {
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_302_835), "2026-12-03T13:00:35Z");
        assert_eq!(file_slug("50 % of max (120/s)"), "50_of_max_120_s");
        assert_eq!(file_slug("http://127.0.0.1:9000"), "http_127.0.0.1_9000");
        assert_eq!(file_slug("///"), "run");
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:9000").ok(),
            Some("127.0.0.1:9000".parse().expect("addr"))
        );
        assert_eq!(
            parse_url("http://127.0.0.1/").ok(),
            Some("127.0.0.1:80".parse().expect("addr"))
        );
        assert!(parse_url("https://127.0.0.1:9000").is_err());
        assert!(parse_url("http://127.0.0.1:9000/api").is_err());
        assert!(parse_url("http://").is_err());
    }

    #[test]
    fn configs_are_bounded() {
        let c = |d, u| {
            LoadConfig::new(
                "http://127.0.0.1:1",
                4,
                d,
                u,
                Scenario::Jungle,
                Mode::E2e,
                TokenMode::Auto,
            )
        };
        assert_eq!(
            c(None, None).map(|c| c.duration).ok(),
            Some(DEFAULT_DURATION)
        );
        assert_eq!(c(None, Some(5)).map(|c| c.duration).ok(), Some(MAX_RUN));
        assert!(c(Some(Duration::ZERO), None).is_err());
        assert!(c(None, Some(0)).is_err());
        assert!(LoadConfig::new(
            "http://127.0.0.1:1",
            0,
            None,
            None,
            Scenario::Jungle,
            Mode::E2e,
            TokenMode::Auto
        )
        .is_err());
    }

    fn budget(deadline: Instant, units: Option<u64>, schedule: Option<Schedule>) -> LoadBudget {
        LoadBudget {
            deadline,
            units,
            claimed: AtomicU64::new(0),
            schedule,
            stop: None,
            stopped: OnceLock::new(),
        }
    }

    #[test]
    fn a_stopped_budget_hands_out_nothing_and_ends_its_schedule_there() {
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut b = budget(
            start + Duration::from_secs(60),
            None,
            Some(Schedule {
                start,
                rate: 1000.0,
            }),
        );
        b.stop = Some(stop.clone());
        assert!(b.claim().is_some());
        stop.store(true, Ordering::Relaxed);
        assert_eq!(b.claim(), None);
        // Scheduled up to the stop, not the deadline a minute away.
        let scheduled = b.scheduled().expect("open loop");
        assert!(scheduled < 10_000, "{scheduled}");
        assert!(b.end() < start + Duration::from_secs(60));
    }

    #[test]
    fn budgets_end_on_count_and_time() {
        let b = budget(Instant::now() + Duration::from_secs(60), Some(2), None);
        let n = |b: &LoadBudget| b.claim().map(|u| u.n);
        assert_eq!((n(&b), n(&b), n(&b)), (Some(0), Some(1), None));
        assert_eq!(b.scheduled(), None);
        let b = budget(Instant::now(), None, None);
        assert_eq!(b.claim(), None);
    }

    #[test]
    fn open_loop_units_are_due_at_a_fixed_rate_until_the_deadline() {
        let start = Instant::now();
        let s = Schedule { start, rate: 4.0 };
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(2), start + Duration::from_millis(500));
        assert_eq!(s.due_before(start + Duration::from_secs(1)), 4);
        assert_eq!(s.due_before(start + Duration::from_millis(1010)), 5);
        assert_eq!(s.due_before(start), 0);

        // Three units fit before a deadline 1 s out at 3/s (due at 0, 1/3
        // and 2/3 s); the fourth would be due at the deadline itself.
        let deadline = start + Duration::from_secs(1);
        let b = budget(deadline, None, Some(Schedule { start, rate: 3.0 }));
        let units: Vec<Unit> = std::iter::from_fn(|| b.claim()).collect();
        assert_eq!(units.iter().map(|u| u.n).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(units.iter().all(|u| u.due.is_some_and(|d| d < deadline)));
        assert_eq!(b.scheduled(), Some(3));
        // A count caps the schedule.
        let b = budget(deadline, Some(2), Some(Schedule { start, rate: 3.0 }));
        assert_eq!(b.scheduled(), Some(2));
        assert_eq!(std::iter::from_fn(|| b.claim()).count(), 2);
    }

    #[test]
    fn a_unit_due_in_the_past_starts_late_and_one_ahead_is_waited_for() {
        let past = Instant::now() - Duration::from_millis(30);
        assert!(wait_until_due(past) >= Duration::from_millis(30));
        let ahead = Instant::now() + Duration::from_millis(5);
        assert_eq!(wait_until_due(ahead), Duration::ZERO);
        assert!(Instant::now() >= ahead);
    }

    #[test]
    fn rates_are_validated() {
        let c = || {
            LoadConfig::new(
                "http://127.0.0.1:1",
                1,
                None,
                None,
                Scenario::Jungle,
                Mode::Create,
                TokenMode::Auto,
            )
            .expect("config")
        };
        assert_eq!(c().open_loop(250.0).ok().and_then(|c| c.rate), Some(250.0));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_RATE * 2.0] {
            assert!(c().open_loop(bad).is_err(), "{bad}");
        }
        assert!(sweep(&c(), &[], |_| ()).is_err());
        assert!(sweep(&c(), &[50.0, 0.0], |_| ()).is_err());
        assert!(sweep(&c(), &[MAX_SWEEP_PERCENT + 1.0], |_| ()).is_err());
    }

    /// A fake party server that answers `/livez` and `POST /party`, one
    /// request at a time server-wide (as a process paused by a collector or
    /// a full disk would), and holds the `stall_at`-th create for `stall`.
    fn stalling_server(stall_at: u64, stall: Duration) -> SocketAddr {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::Mutex;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let one_at_a_time = Arc::new(Mutex::new(0u64));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let gate = one_at_a_time.clone();
                std::thread::spawn(move || {
                    let Ok(read_half) = conn.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(read_half);
                    loop {
                        let mut head = String::new();
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            match reader.read_line(&mut line) {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            head.push_str(&line);
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let answer = {
                            let mut creates = gate.lock().expect("gate");
                            if head.starts_with("POST") {
                                *creates += 1;
                                if *creates == stall_at {
                                    std::thread::sleep(stall);
                                }
                                format!(r#"{{"party_id":"p{}","seq":1}}"#, *creates)
                            } else {
                                "{}".to_string()
                            }
                        };
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if conn.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn create_run(addr: SocketAddr, rate: Option<f64>, duration: Duration) -> Report {
        let mut c = LoadConfig::new(
            &format!("http://{addr}"),
            2,
            Some(duration),
            None,
            Scenario::Jungle,
            Mode::Create,
            TokenMode::Auto,
        )
        .expect("config");
        c.progress = false;
        if let Some(r) = rate {
            c = c.open_loop(r).expect("rate");
        }
        run(&c).expect("runs")
    }

    /// Coordinated omission: the server stalls for `STALL` early in the run.
    /// Closed loop, the two clients wait with it and send nothing, so only
    /// two samples are slow and p90 hides the stall. Open loop, every
    /// create due during the stall is timed from when it was due, so the
    /// upper percentiles show it.
    #[test]
    fn open_loop_latencies_include_a_stall_for_every_unit_due_during_it() {
        const STALL: Duration = Duration::from_millis(500);
        let closed = create_run(stalling_server(10, STALL), None, Duration::from_secs(1));
        let c = closed.steps["create"];
        assert_eq!(closed.error_count, 0, "{:?}", closed.errors);
        assert!(c.max_ms >= 0.9 * STALL.as_secs_f64() * 1e3, "{c:?}");
        assert!(c.p90_ms < 0.5 * STALL.as_secs_f64() * 1e3, "{c:?}");
        assert!(closed.open_loop.is_none());

        // 100/s for 1 s: about 50 of the 100 creates fall due during the stall.
        let open = create_run(
            stalling_server(10, STALL),
            Some(100.0),
            Duration::from_secs(1),
        );
        let o = open.steps["create"];
        assert_eq!(open.error_count, 0, "{:?}", open.errors);
        assert!(o.p90_ms >= 0.5 * STALL.as_secs_f64() * 1e3, "{o:?}");
        assert!(o.p99_ms >= 0.8 * STALL.as_secs_f64() * 1e3, "{o:?}");
        let ol = open.open_loop.as_ref().expect("open loop");
        assert_eq!((ol.scheduled, ol.started, ol.unsent), (100, 100, 0));
        assert!(ol.kept_up);
        // Never above the rate asked for: the span is at least the schedule's.
        assert!(ol.achieved_per_s <= 100.0 + 1e-9, "{ol:?}");
        let late = ol.late.expect("lateness recorded");
        assert_eq!(late.count, 100);
        // The units queued behind the stall waited for a free client.
        assert!(late.max_ms >= 0.5 * STALL.as_secs_f64() * 1e3, "{late:?}");
        assert_eq!(open.units, 100);
        assert!(open.table().contains("open loop: requested 100.0/s"));
    }

    /// A server that cannot keep up is named: the run still ends at its
    /// deadline, with the units it never sent and how far behind it was.
    #[test]
    fn a_server_that_falls_behind_is_reported_not_hidden() {
        // Stalls on the 5th create for longer than the run lasts.
        let r = create_run(
            stalling_server(5, Duration::from_millis(1500)),
            Some(100.0),
            Duration::from_secs(1),
        );
        let ol = r.open_loop.as_ref().expect("open loop");
        assert_eq!(ol.scheduled, 100);
        assert!(ol.unsent >= 50, "{ol:?}");
        assert_eq!(ol.started + ol.unsent, ol.scheduled);
        assert!(!ol.kept_up);
        assert!(ol.behind_at_end_ms >= 500.0, "{ol:?}");
        assert!(ol.achieved_per_s < 60.0, "{ol:?}");
        assert!(r.table().contains("NOT KEPT UP"), "{}", r.table());
    }

    #[test]
    fn spread_clients_take_the_urls_in_turn_and_stream_from_the_next() {
        // Three servers, seven clients: HTTP on i % 3, WebSocket on (i + 1) % 3.
        let http: Vec<usize> = (0..7).map(|i| client_target(i, 3)).collect();
        let ws: Vec<usize> = (0..7).map(|i| ws_target(i, 3)).collect();
        assert_eq!(http, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(ws, [1, 2, 0, 1, 2, 0, 1]);
        // With several servers no client streams from the one it writes to.
        for n in 2..6 {
            for i in 0..20 {
                assert_ne!(client_target(i, n), ws_target(i, n), "{i} of {n}");
            }
        }
        // One server: everything on it.
        assert!((0..5).all(|i| client_target(i, 1) == 0 && ws_target(i, 1) == 0));
    }

    #[test]
    fn spread_needs_two_urls_and_a_client_each() {
        let c = |concurrency| {
            LoadConfig::new(
                "http://127.0.0.1:1",
                concurrency,
                None,
                None,
                Scenario::Jungle,
                Mode::E2e,
                TokenMode::Auto,
            )
            .expect("config")
        };
        let urls =
            |n: u16| -> Vec<String> { (1..=n).map(|p| format!("http://127.0.0.1:{p}")).collect() };
        let one = c(4).spread(&urls(1)).expect_err("one url");
        assert!(one.to_string().contains("at least two --url"), "{one}");
        assert!(c(2).spread(&urls(3)).is_err());
        assert!(c(3)
            .spread(&["http://127.0.0.1:1".into(), "ftp://x".into()])
            .is_err());
        let s = c(3).spread(&urls(3)).expect("spread");
        assert_eq!(
            s.url,
            "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3"
        );
        assert_eq!(s.addr, "127.0.0.1:1".parse().expect("addr"));
        let t = s.targets();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].addr, "127.0.0.1:3".parse().expect("addr"));
        assert_eq!(c(1).targets().len(), 1);
    }

    #[test]
    fn ws_paths_and_ids() {
        assert_eq!(
            Worker::ws_path("p1", Some("t"), Some(3)),
            "/api/v1/event-driven/ws/p1?token=t&since=3"
        );
        assert_eq!(
            Worker::ws_path("p1", None, None),
            "/api/v1/event-driven/ws/p1"
        );
        assert_eq!(
            Worker::ws_path("p1", None, Some(0)),
            "/api/v1/event-driven/ws/p1?since=0"
        );
        let tag = run_tag();
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()) && tag.len() <= 16);
        for s in [Scenario::Jungle, Scenario::Princess, Scenario::Space] {
            assert!(!s.pick(0).initial.is_empty() && !s.pick(0).extra.is_empty());
        }
        assert!(!std::ptr::eq(
            Scenario::Mixed.pick(0),
            Scenario::Mixed.pick(1)
        ));
    }
}
