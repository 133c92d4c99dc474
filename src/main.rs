//! The `partybus` binary: parses the command line (clap, every flag with an
//! environment fallback), sets up logging to stderr, and runs a command:
//!
//! - `partybus serve`: the HTTP API and WebSocket stream until SIGINT or
//!   SIGTERM, then a graceful shutdown and exit 0.
//! - `partybus plan "text" ...`: the whole pipeline in process; prints the
//!   plan as text, or as JSON with `--json`.
//! - `partybus compact`: snapshots the data directory's journal (the server
//!   must be stopped; a running server compacts by itself).
//! - `partybus export --party ID` / `partybus events --party ID`: read a
//!   party's plan or event log straight from the data directory.
//! - `partybus diff A B`: what differs from party A's plan to party B's
//!   (facts, suppliers and why, budget, completion), from the data directory.
//! - `partybus healthcheck`: one GET of a running server's `/readyz`; exit
//!   0 on 2xx, else 1 saying why (the Docker image's HEALTHCHECK).
//! - `partybus loadgen --url ...`: drives a running server with concurrent
//!   clients, closed loop or at a fixed `--rate` (open loop), and prints
//!   throughput and latency per step; `--sweep 50,80,95` prints a
//!   latency-vs-throughput curve (see the `loadgen` crate).
//!
//! Owns configuration, signals and presentation only; everything a test
//! needs lives in the library. `anyhow` is used here and nowhere else.
#![deny(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use log::LevelFilter;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use partybus::app::{Limits, NewInput, NewParty, DEFAULT_ACK_TIMEOUT, DEFAULT_COMPACT_THRESHOLD};
use partybus::bus::BusConfig;
use partybus::catalog::Catalog;
use partybus::domain::{AgentOutput, Range};
use partybus::export::{Export, Format};
use partybus::journal::{Durability, Journal, MemoryJournal, SqliteJournal};
use partybus::logging::LogFormat;
use partybus::notify::Notifier;
use partybus::progress::ReplayReporter;
use partybus::server::views::PartyView;
use partybus::server::ws::WsConfig;
use partybus::server::{self, AuthMode, CorsConfig, RateBudget, RateLimits, ServerConfig};
use partybus::store::{AgentStatus, Party};
use partybus::{App, Config};

/// How long `plan` waits for the agents to settle.
const PLAN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(
    name = "partybus",
    version = partybus::build_info::long_version(),
    about = "Plans parties with a team of event-driven agents and streams every step live",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API and the live WebSocket stream.
    Serve(Box<ServeArgs>),
    /// Plan a party in process from one or more text inputs and print the plan.
    Plan(PlanArgs),
    /// Measure plan quality: plan every request of a labelled corpus and
    /// print the accuracy per field (see docs/plan-quality.md).
    Eval(EvalArgs),
    /// Snapshot the journal so start-up replays less, and physically delete
    /// the events of deleted parties (stop the server first).
    Compact(CompactArgs),
    /// Print a party's plan (budget lines and checklist) from the data directory.
    Export(ExportArgs),
    /// Print a party's event log from the data directory, one JSON event per line.
    Events(EventsArgs),
    /// Print what differs from one party's plan to another's (facts,
    /// suppliers and why, budget, completion), from the data directory.
    Diff(DiffArgs),
    /// Replay the whole journal offline and check every party's chain and
    /// state digests; exit 1 if any differ (stop the server first).
    Verify(VerifyArgs),
    /// Load a running server with concurrent clients; print throughput and latency.
    Loadgen(LoadgenArgs),
    /// Check that a running server is ready (GET /readyz): exit 0 on 2xx, 1 otherwise.
    Healthcheck(HealthcheckArgs),
    /// Import suppliers from a spreadsheet (CSV) into catalog JSON for
    /// `serve --catalog`, or check a file (docs/catalog.md).
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormatArg {
    /// Plain text lines, for people.
    Text,
    /// One JSON object per line (ts, level, target, msg, request_id, party_id).
    Json,
}

#[derive(Debug, Args)]
struct HealthcheckArgs {
    /// The server, http://HOST[:PORT][/PATH] [default: --host and --port].
    #[arg(long)]
    url: Option<String>,
    /// The route to check [default: the URL's path, else /readyz].
    #[arg(long)]
    path: Option<String>,
    /// Time for the whole check, connect to last byte (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The host `serve` listens on, read as `serve` reads it; a wildcard
    /// (0.0.0.0, ::) is checked on loopback.
    #[arg(long, env = "API_HOST", default_value = "127.0.0.1")]
    host: String,
    /// The port `serve` listens on.
    #[arg(long, env = "API_PORT", default_value_t = 9000)]
    port: u16,
}

/// Durability of acknowledged writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
    /// fsync every group commit: survives power loss.
    Full,
    /// WAL with synchronous=NORMAL: survives a crash or kill -9 of the process.
    Normal,
    /// Nothing on disk (same as --ephemeral).
    Off,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Directory holding the journal (partybus.db).
    #[arg(long, env = "PARTYBUS_DATA_DIR", default_value = "partybus-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct CompactArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, env = "LOG_LEVEL", default_value = "warn")]
    log_level: LevelFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// One JSON object.
    Json,
    /// One CSV table.
    Csv,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The party.
    #[arg(long)]
    party: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    format: FormatArg,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormatArg {
    /// The JSON `GET /party/{a}/diff/{b}` answers.
    Json,
    /// The summary and a compact table, for people.
    Text,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The first party (the plan compared from).
    a: String,
    /// The second party (the plan compared to).
    b: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormatArg::Json)]
    format: DiffFormatArg,
    #[command(flatten)]
    data: DataArgs,
}

/// Output of `partybus verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VerifyFormatArg {
    /// A summary line, or one line per differing party.
    Text,
    /// One JSON object: counts, `agree`, and the differing parties.
    Json,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormatArg::Text)]
    format: VerifyFormatArg,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct EventsArgs {
    /// The party.
    #[arg(long)]
    party: String,
    /// Only events with a greater seq.
    #[arg(long, default_value_t = 0)]
    since: u64,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    /// Party routes and WebSockets require the party token.
    On,
    /// No token checks (local demos only; refused unless the host is loopback).
    Off,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Host or IP address to listen on.
    #[arg(long, env = "API_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one (the log line tells which).
    #[arg(long, env = "API_PORT", default_value_t = 9000)]
    port: u16,
    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: LevelFilter,
    /// Log line format (docs/operations.md, "Logs").
    #[arg(long, env = "PARTYBUS_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,
    /// No longer used: each connection's own thread answers its requests.
    /// Accepted (with a warning) so existing scripts keep working.
    #[arg(long, env = "PARTYBUS_WORKERS", hide = true)]
    workers: Option<String>,
    /// A catalog JSON file to use instead of the embedded one.
    #[arg(long, env = "PARTYBUS_CATALOG")]
    catalog: Option<PathBuf>,
    /// Token checks on party routes and WebSockets.
    #[arg(long, env = "PARTYBUS_AUTH", value_enum, default_value_t = Auth::On)]
    auth: Auth,
    /// Token guarding /system/status and /metrics (and opening every party).
    /// Visible in `ps`: prefer --admin-token-file (or the environment).
    #[arg(long, env = "PARTYBUS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A file holding the admin token (its first line; kept out of `ps`).
    #[arg(
        long,
        env = "PARTYBUS_ADMIN_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "admin_token"
    )]
    admin_token_file: Option<PathBuf>,
    /// Token that reads /metrics and nothing else (for a Prometheus scraper).
    #[arg(long, env = "PARTYBUS_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// A file holding the metrics token (its first line).
    #[arg(
        long,
        env = "PARTYBUS_METRICS_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "metrics_token"
    )]
    metrics_token_file: Option<PathBuf>,
    /// On SIGTERM, how long to keep serving while /readyz already answers
    /// 503, so a load balancer takes the node out first (e.g. 5s).
    #[arg(long, env = "PARTYBUS_SHUTDOWN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    shutdown_delay: Duration,
    /// A browser origin (scheme://host[:port]) allowed to call the API and
    /// open WebSockets cross-origin; repeat it or separate with commas; `*`
    /// allows any. None: same-origin only (docs/api.md, "CORS").
    #[arg(
        long = "cors-origin",
        env = "PARTYBUS_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// The URL clients reach this server at when a proxy is in front, e.g.
    /// https://party.example.com or https://example.com/partybus: every URL
    /// the API hands out is built from it (https gives wss:// WebSockets; a
    /// path is kept in front of the API paths). See docs/operations.md,
    /// "Behind a reverse proxy".
    #[arg(long, env = "PARTYBUS_PUBLIC_URL", value_name = "URL")]
    public_url: Option<server::PublicUrl>,
    /// A proxy (IP address or CIDR range, e.g. 10.0.0.0/8) whose
    /// X-Forwarded-For/-Proto/-Host and Forwarded headers are believed, for
    /// the client's IP and the scheme and host of handed-out URLs; repeat it
    /// or separate with commas. None: those headers are ignored.
    #[arg(
        long = "trusted-proxy",
        env = "PARTYBUS_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_trusted_proxy
    )]
    trusted_proxies: Vec<Option<server::Cidr>>,
    #[command(flatten)]
    data: DataArgs,
    /// What an acknowledged write survives (see docs/operations.md, "Durability").
    #[arg(long, env = "PARTYBUS_DURABILITY", value_enum, default_value_t = DurabilityArg::Normal)]
    durability: DurabilityArg,
    /// Keep nothing on disk: the journal lives in memory (--durability off).
    #[arg(long, env = "PARTYBUS_EPHEMERAL")]
    ephemeral: bool,
    /// Where events are kept: `sqlite` (in --data-dir), or
    /// `redis://HOST:PORT[/DB]` to run as one node of a cluster: every node
    /// pointed at the same Redis is one cluster (docs/cluster.md).
    #[arg(long, env = "PARTYBUS_JOURNAL", default_value = "sqlite")]
    journal: String,
    /// Partitions of a cluster (K), fixed when the cluster is first created;
    /// a node started with another K refuses to start.
    #[arg(long, env = "PARTYBUS_PARTITIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    partitions: u32,
    /// This node's id in a cluster (default: host:port).
    #[arg(long, env = "PARTYBUS_NODE_ID")]
    node_id: Option<String>,
    /// How long a cluster node's lease on a partition lasts unless renewed:
    /// a dead node's partitions move on after at most this long.
    #[arg(long, env = "PARTYBUS_LEASE_TTL_MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(300..=600_000))]
    lease_ttl_ms: u64,
    /// Compact automatically once this many events were written since the
    /// last snapshot; 0 never does.
    #[arg(long, env = "PARTYBUS_COMPACT_THRESHOLD", default_value_t = DEFAULT_COMPACT_THRESHOLD)]
    compact_threshold: u64,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Caps, each answered with its own error code (docs/operations.md, "Limits").
#[derive(Debug, Args)]
struct LimitArgs {
    /// Parties kept at once; creating one more answers 503 `capacity`.
    #[arg(long, env = "PARTYBUS_MAX_PARTIES", default_value_t = partybus::app::DEFAULT_MAX_PARTIES)]
    max_parties: usize,
    /// Inputs per party; one more answers 409 `too_many_inputs`.
    #[arg(long, env = "PARTYBUS_MAX_INPUTS", default_value_t = partybus::app::DEFAULT_MAX_INPUTS_PER_PARTY)]
    max_inputs_per_party: usize,
    /// Characters of an input's content (422 beyond).
    #[arg(long, env = "PARTYBUS_MAX_CONTENT_CHARS", default_value_t = partybus::app::DEFAULT_MAX_CONTENT_CHARS)]
    max_content_chars: usize,
    /// Tags per input (422 beyond).
    #[arg(long, env = "PARTYBUS_MAX_TAGS", default_value_t = partybus::app::DEFAULT_MAX_TAGS)]
    max_tags: usize,
    /// Characters per tag (422 beyond).
    #[arg(long, env = "PARTYBUS_MAX_TAG_CHARS", default_value_t = partybus::app::DEFAULT_MAX_TAG_CHARS)]
    max_tag_chars: usize,
    /// Open HTTP connections (503 `too_many_connections` beyond); WebSockets count under `--ws-max-clients`.
    #[arg(long, env = "PARTYBUS_MAX_CONNECTIONS", default_value_t = server::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Bytes of request line plus headers (431 `header_too_large` beyond).
    #[arg(long, env = "PARTYBUS_MAX_HEADER_BYTES", default_value_t = server::MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// WebSocket clients in total (503 `too_many_clients` beyond).
    #[arg(long, env = "PARTYBUS_WS_MAX_CLIENTS", default_value_t = WsConfig::default().max_clients)]
    ws_max_clients: usize,
    /// Reads (GET, HEAD, OPTIONS) per second per client IP; 0 turns the limit off (429 beyond).
    #[arg(long, env = "PARTYBUS_RATE_READS", default_value_t = RateLimits::default().reads.per_second)]
    rate_reads: f64,
    /// Burst of reads per client IP.
    #[arg(long, env = "PARTYBUS_RATE_READ_BURST", default_value_t = RateLimits::default().reads.burst)]
    rate_read_burst: f64,
    /// Writes (every other method) per second per client IP; 0 turns the limit off.
    #[arg(long, env = "PARTYBUS_RATE_WRITES", default_value_t = RateLimits::default().writes.per_second)]
    rate_writes: f64,
    /// Burst of writes per client IP.
    #[arg(long, env = "PARTYBUS_RATE_WRITE_BURST", default_value_t = RateLimits::default().writes.burst)]
    rate_write_burst: f64,
    /// Per-read socket timeout, also the keep-alive idle timeout (e.g. 10s).
    #[arg(long, env = "PARTYBUS_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    read_timeout: Duration,
    /// Per-write socket timeout: a peer that stops reading is dropped after it.
    #[arg(long, env = "PARTYBUS_WRITE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    write_timeout: Duration,
    /// Time for a whole request (head and body) to arrive; slower gets 408.
    #[arg(long, env = "PARTYBUS_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// WebSocket clients per party (503 `too_many_clients` beyond).
    #[arg(long, env = "PARTYBUS_WS_MAX_CLIENTS_PER_PARTY", default_value_t = WsConfig::default().max_clients_per_party)]
    ws_max_clients_per_party: usize,
    /// WebSocket worker threads, each serving many clients (default: one per core).
    #[arg(long, env = "PARTYBUS_WS_THREADS", default_value_t = partybus::server::ws::default_threads(), value_parser = clap::value_parser!(usize))]
    ws_threads: usize,
}

impl LimitArgs {
    fn app_limits(&self) -> Limits {
        Limits {
            max_parties: self.max_parties,
            max_inputs_per_party: self.max_inputs_per_party,
            max_content_chars: self.max_content_chars,
            max_tags: self.max_tags,
            max_tag_chars: self.max_tag_chars,
        }
    }
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// What the party should be, one input per argument.
    #[arg(required = true, value_name = "TEXT")]
    inputs: Vec<String>,
    /// Print the party's full state as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// A catalog JSON file to use instead of the embedded one.
    #[arg(long, env = "PARTYBUS_CATALOG")]
    catalog: Option<PathBuf>,
    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, env = "LOG_LEVEL", default_value = "warn")]
    log_level: LevelFilter,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// A labelled corpus, JSON Lines (data/eval/corpus.jsonl is ours).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Also list every request with a wrong field.
    #[arg(long)]
    misses: bool,
    /// Exit with status 1 when a field's accuracy is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    min_field: Option<f64>,
    /// Exit with status 1 when the share of fully right requests is below this.
    #[arg(long, value_name = "PERCENT")]
    min_fully_right: Option<f64>,
    /// A catalog JSON file to use instead of the embedded one.
    #[arg(long, env = "PARTYBUS_CATALOG")]
    catalog: Option<PathBuf>,
    /// Log level: off, error, warn, info, debug or trace.
    #[arg(long, env = "LOG_LEVEL", default_value = "warn")]
    log_level: LevelFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoadMode {
    /// Create, follow the WebSocket to the plan, add and remove an input, read status.
    E2e,
    /// POST /party only.
    Create,
    /// GET status over a pool of pre-created parties.
    Read,
    /// POST input to a pool of pre-created parties (each client removes its
    /// oldest input once it has added 40 to a party).
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoadScenario {
    /// Jungle party for 75 guests.
    Jungle,
    /// Princess castle party for 30 kids.
    Princess,
    /// Space party for 50 people.
    Space,
    /// The three in turn.
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoadTokens {
    /// Use the party_token of create responses when there is one.
    Auto,
    /// No tokens; open the WebSocket before creating the party (the prototype's way).
    None,
}

#[derive(Debug, Args)]
struct LoadgenArgs {
    /// The server, http://host:port; several (comma-separated or repeated)
    /// are loaded one after another with the same settings and compared
    /// (or all at once with --spread).
    #[arg(
        long,
        env = "PARTYBUS_URL",
        default_value = "http://127.0.0.1:9000",
        value_delimiter = ','
    )]
    url: Vec<String>,
    /// Concurrent clients (one thread and one keep-alive connection each).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    concurrency: u16,
    /// How long to run, e.g. 10s or 1m [default: 10s, or up to 5m with --parties].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many parties (e2e, create) or requests (read, input).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    parties: Option<u64>,
    /// Which party the clients plan.
    #[arg(long, value_enum, default_value_t = LoadScenario::Jungle)]
    scenario: LoadScenario,
    /// What each client does.
    #[arg(long, value_enum, default_value_t = LoadMode::E2e)]
    mode: LoadMode,
    /// Also write every figure to this JSON file (an array with several --url).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Token use: auto (partybus) or none (auth off, or the prototype).
    #[arg(long, value_enum, default_value_t = LoadTokens::Auto)]
    token_mode: LoadTokens,
    /// Also report this server process's CPU use (Linux /proc; one --url,
    /// or with --spread one pid per node, comma-separated or repeated, in
    /// any order: their summed CPU).
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// One load over all the --url servers at once (the nodes of a
    /// cluster): client i sends its requests to url[i % n] and, in e2e
    /// mode, opens its WebSocket on url[(i+1) % n], so every party is
    /// created on one node and streamed from another (the cross-node
    /// path). One report for the whole run. Needs at least two --url.
    #[arg(long)]
    spread: bool,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
    /// Exit with status 1 when any request or party failed.
    #[arg(long)]
    fail_on_errors: bool,
    /// Open loop: start this many parties (e2e, create) or requests (read,
    /// input) per second whatever the server does, spread over the clients,
    /// and time each from its scheduled start (corrected for coordinated
    /// omission). Without it, each client starts its next unit when its
    /// last one ends (closed loop).
    #[arg(long, value_name = "PER_SECOND", conflicts_with = "sweep")]
    rate: Option<f64>,
    /// A latency-vs-throughput curve: a closed-loop run to find the
    /// maximum, then an open-loop run at each of these percentages of it
    /// (e.g. 50,80,95), each --duration long, then one table.
    #[arg(
        long,
        value_name = "PERCENTS",
        value_delimiter = ',',
        conflicts_with = "parties"
    )]
    sweep: Vec<f64>,
    /// Also write a self-contained HTML report (inline SVG charts, no
    /// script): latency percentile curves per step, throughput, p99 and
    /// CPU over time, errors and the run's parameters.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Also write one HdrHistogram percentile distribution file (.hgrm,
    /// milliseconds) per step (and per URL or sweep point) into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    hist: Option<PathBuf>,
    /// Keep the parties the run created (by default they are deleted
    /// once the measured phase ends, with their own tokens).
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Turn a CSV of suppliers into catalog JSON (to stdout or -o); the
    /// counts per kind go to stderr. Exit 1, writing nothing, on any error.
    Import(CatalogImportArgs),
    /// Check a supplier CSV or a catalog JSON file (by extension or
    /// content): every error by row and column, then the counts per kind.
    Check(CatalogCheckArgs),
}

#[derive(Debug, Args)]
struct CatalogImportArgs {
    /// The CSV file (UTF-8, with or without a byte order mark).
    #[arg(value_name = "CSV")]
    file: PathBuf,
    /// Write the catalog JSON to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Debug, Args)]
struct CatalogCheckArgs {
    /// A supplier CSV or a catalog JSON file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Debug, Args)]
struct CsvArgs {
    /// The CSV's field delimiter: one character, or `tab` [default: the most
    /// frequent of `,` `;` and tab in the header row].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// The kind of every row whose `kind` cell is empty (or of every row,
    /// when the file has no `kind` column): venue, bakery, caterer, vendor,
    /// or a vendor category (decorations, entertainment, photography,
    /// rentals, planning).
    #[arg(long)]
    kind: Option<partybus::catalog::import::Kind>,
}

fn parse_delimiter(text: &str) -> std::result::Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ => match text.as_bytes() {
            [b] if b.is_ascii() && !b.is_ascii_alphanumeric() && *b != b'"' => Ok(*b),
            _ => Err(format!(
                "{text:?} is not a delimiter (one punctuation character, or `tab`)"
            )),
        },
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Plan(args) => plan(args),
        Command::Eval(args) => eval(args),
        Command::Compact(args) => compact(args),
        Command::Export(args) => export(args),
        Command::Events(args) => events(args),
        Command::Diff(args) => diff(args),
        Command::Verify(args) => verify(args),
        Command::Loadgen(args) => loadgen(args),
        Command::Healthcheck(args) => healthcheck(args),
        Command::Catalog(command) => catalog(command),
    };
    // The access log is written in batches: write out the last one.
    log::logger().flush();
    if let Err(e) = result {
        eprintln!("partybus: error: {e:#}");
        std::process::exit(exit_code(&e) as i32);
    }
}

/// Why `partybus` exits non-zero: its exit code, so that a supervisor can
/// tell a fault worth a restart from one that needs a person
/// (docs/operations.md, "Exit codes"). 2 is clap's, for a command line it
/// cannot parse; 130 a second signal during shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Anything else (a failure at run time, an unreachable Redis, ...).
    Failure = 1,
    /// A flag, environment value or file named by one is invalid or
    /// inconsistent.
    Config = 3,
    /// The address cannot be listened on (port in use, no permission).
    Listen = 4,
    /// Another partybus process holds the data directory.
    DataLocked = 5,
    /// The data directory or its journal cannot be read, created or
    /// written, or is not (or no longer) a valid journal.
    DataDir = 6,
}

/// A configuration error (exits [`Exit::Config`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConfigError(String);

/// A data directory that cannot be used (exits [`Exit::DataDir`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DataDirError(String);

fn config_error(message: impl Into<String>) -> anyhow::Error {
    ConfigError(message.into()).into()
}

/// The exit code of a failed command: the first cause in its chain that
/// names one.
fn exit_code(e: &anyhow::Error) -> Exit {
    use partybus::journal::JournalError;
    use partybus::server::ServeError;
    for cause in e.chain() {
        if cause.is::<ConfigError>() || cause.is::<partybus::catalog::CatalogError>() {
            return Exit::Config;
        }
        if cause.is::<DataDirError>() {
            return Exit::DataDir;
        }
        if let Some(s) = cause.downcast_ref::<ServeError>() {
            return match s {
                ServeError::Bind { .. } => Exit::Listen,
                ServeError::InvalidAddress(_) | ServeError::AuthOffNotLoopback(_) => Exit::Config,
                ServeError::NotRunning | ServeError::Spawn(_) => Exit::Failure,
            };
        }
        if let Some(j) = cause.downcast_ref::<JournalError>() {
            return match j {
                JournalError::Locked(_) => Exit::DataLocked,
                _ => Exit::DataDir,
            };
        }
    }
    Exit::Failure
}

/// A token from its flag (or variable) or from the first line of the file
/// its `-file` flag names; blank is none.
fn token_arg(what: &str, value: Option<String>, file: Option<&Path>) -> Result<Option<String>> {
    let Some(path) = file else {
        return Ok(value.filter(|t| !t.trim().is_empty()));
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        config_error(format!(
            "--{what}-token-file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(config_error(format!(
            "--{what}-token-file {}: the file's first line is empty",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o004 != 0 {
                log::warn!(
                    "--{what}-token-file {} is readable by every user; chmod 600 it",
                    path.display()
                );
            }
        }
    }
    Ok(Some(token))
}

/// Text logs to stderr, for the commands other than `serve`.
fn init_logging(level: LevelFilter) -> Result<()> {
    partybus::logging::init(level, LogFormat::Text).context("setting up logging")
}

/// Shows journal replays' progress (start-up recovery, `compact`) on
/// stderr and in systemd's status line.
fn report_replays(label: &str, format: LogFormat, notifier: &Arc<Notifier>) {
    use std::io::IsTerminal as _;
    let terminal = format == LogFormat::Text && std::io::stderr().is_terminal();
    let reporter = ReplayReporter::new(label, terminal, notifier.clone());
    partybus::recovery::set_progress_observer(Box::new(move |p| reporter.report(p)));
}

fn app_config(catalog: Option<&Path>, journal: Arc<dyn Journal>) -> Result<Config> {
    let catalog = match catalog {
        Some(path) => Arc::new(
            Catalog::load(path).with_context(|| format!("loading catalog {}", path.display()))?,
        ),
        None => Catalog::embedded(),
    };
    Ok(Config {
        catalog,
        bus: BusConfig::default(),
        runtime: Default::default(),
        journal,
        ack_timeout: DEFAULT_ACK_TIMEOUT,
        compact_threshold: None,
        limits: Limits::default(),
        cluster: None,
    })
}

/// A cluster node's shared log (`--journal redis://…`), checked against
/// `--durability` and `--partitions`.
fn open_cluster(
    args: &ServeArgs,
    url: &str,
) -> Result<(Arc<partybus::journal::redis::RedisLog>, String)> {
    use partybus::journal::redis::{RedisLog, RedisOptions};
    if args.ephemeral || args.durability == DurabilityArg::Off {
        return Err(config_error(format!("--ephemeral (or --durability off) cannot be combined with --journal {url}: a cluster keeps its events in Redis")));
    }
    let node_id = args
        .node_id
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| match args.port {
            0 => format!("{}-{}", args.host, &uuid_hex()[..8]),
            port => format!("{}:{port}", args.host),
        });
    let log = RedisLog::open(&RedisOptions {
        url: url.to_string(),
        partitions: args.partitions,
        node_id: node_id.clone(),
        prefix: "pb".to_string(),
    })
    .with_context(|| format!("opening the cluster's log at {url}"))?;
    if args.durability == DurabilityArg::Full {
        let aof = log
            .aof_enabled()
            .with_context(|| format!("asking {url} about its persistence"))?;
        if !aof {
            return Err(config_error(format!("--durability full needs Redis to run with appendonly yes (and appendfsync always to survive power loss); {url} has AOF off. Use --durability normal, or turn AOF on (docs/cluster.md)")));
        }
    }
    Ok((Arc::new(log), node_id))
}

fn uuid_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// One `--trusted-proxy` value; a blank one (an empty variable, a trailing
/// comma) is none.
fn parse_trusted_proxy(s: &str) -> Result<Option<server::Cidr>, server::ProxyConfigError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.parse().map(Some)
}

/// The trusted proxies of `serve`, logged; trusting every address is
/// allowed but warned about.
fn trusted_proxies(given: &[Option<server::Cidr>]) -> server::TrustedProxies {
    let ranges: Vec<server::Cidr> = given.iter().flatten().copied().collect();
    if ranges.iter().any(server::Cidr::is_everything) {
        log::warn!("--trusted-proxy trusts every address: any client can claim any IP, scheme and host in X-Forwarded-* and Forwarded");
    }
    if !ranges.is_empty() {
        let list: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        log::info!("trusting forwarding headers from {}", list.join(", "));
    }
    server::TrustedProxies::new(ranges)
}

/// The journal `serve` uses: SQLite in the data directory, or memory.
fn open_journal(args: &ServeArgs) -> Result<(Arc<dyn Journal>, Durability)> {
    let durability = match (args.ephemeral, args.durability) {
        (true, _) | (_, DurabilityArg::Off) => Durability::Off,
        (false, DurabilityArg::Full) => Durability::Full,
        (false, DurabilityArg::Normal) => Durability::Normal,
    };
    if durability == Durability::Off {
        log::warn!("durability off: events are kept in memory only and lost on exit");
        return Ok((Arc::new(MemoryJournal::new()), durability));
    }
    let journal = SqliteJournal::open(&args.data.data_dir, durability)
        .with_context(|| format!("opening the journal in {}", args.data.data_dir.display()))?;
    Ok((Arc::new(journal), durability))
}

fn serve(args: ServeArgs) -> Result<()> {
    let log_format = match args.log_format {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    };
    partybus::logging::init(args.log_level, log_format).context("setting up logging")?;
    // systemd's readiness protocol (a no-op unless NOTIFY_SOCKET is set).
    let notifier = Arc::new(Notifier::from_env());
    report_replays("replaying journal", log_format, &notifier);
    // Installed first, so a signal during start-up is not lost.
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
    // Blank entries (an empty PARTYBUS_CORS_ORIGINS, a trailing comma) are none.
    let cors = CorsConfig::allowing(args.cors_origins.iter().filter(|o| !o.trim().is_empty()))
        .map_err(|e| {
            config_error(format!(
                "invalid --cors-origin (or PARTYBUS_CORS_ORIGINS): {e}"
            ))
        })?;
    let cluster_url = Some(args.journal.trim())
        .filter(|j| j.starts_with("redis://") || j.starts_with("rediss://"))
        .map(str::to_string);
    if cluster_url.is_none() && args.journal.trim() != "sqlite" {
        return Err(config_error(format!(
            "--journal must be `sqlite` or a redis://HOST:PORT[/DB] URL, not {:?}",
            args.journal
        )));
    }
    let public_url = Arc::new(std::sync::OnceLock::<String>::new());
    let mut config = match &cluster_url {
        None => {
            let (journal, _durability) = open_journal(&args)?;
            app_config(args.catalog.as_deref(), journal)?
        }
        Some(url) => {
            let (log, node_id) = open_cluster(&args, url)?;
            log::info!(
                "cluster node {node_id} on {url} ({} partitions)",
                args.partitions
            );
            let mut config = app_config(args.catalog.as_deref(), log.clone())?;
            config.cluster = Some(partybus::cluster::ClusterSetup {
                log,
                config: partybus::cluster::ClusterConfig {
                    lease_ttl: Duration::from_millis(args.lease_ttl_ms),
                    url: public_url.clone(),
                },
            });
            config
        }
    };
    config.limits = args.limits.app_limits();
    config.compact_threshold = Some(args.compact_threshold).filter(|n| *n > 0);
    // The server listens while the journal replays: /readyz answers 503
    // until the app runs.
    let app = Arc::new(App::new(config));
    if args.workers.is_some() {
        log::warn!("--workers (PARTYBUS_WORKERS) is ignored: each connection's own thread answers its requests");
    }
    let server_config = ServerConfig {
        host: args.host,
        port: args.port,
        auth: match args.auth {
            Auth::On => AuthMode::On,
            Auth::Off => AuthMode::Off,
        },
        admin_token: token_arg("admin", args.admin_token, args.admin_token_file.as_deref())?,
        metrics_token: token_arg(
            "metrics",
            args.metrics_token,
            args.metrics_token_file.as_deref(),
        )?,
        cors,
        public_url: args
            .public_url
            .inspect(|u| log::info!("handing out URLs under {u}")),
        trusted_proxies: trusted_proxies(&args.trusted_proxies),
        max_connections: args.limits.max_connections,
        max_header_bytes: args.limits.max_header_bytes,
        read_timeout: args.limits.read_timeout,
        write_timeout: args.limits.write_timeout,
        request_timeout: args.limits.request_timeout,
        rate_limits: RateLimits {
            reads: RateBudget {
                per_second: args.limits.rate_reads,
                burst: args.limits.rate_read_burst,
            },
            writes: RateBudget {
                per_second: args.limits.rate_writes,
                burst: args.limits.rate_write_burst,
            },
        },
        ws: WsConfig {
            max_clients: args.limits.ws_max_clients,
            max_clients_per_party: args.limits.ws_max_clients_per_party,
            threads: args.limits.ws_threads.max(1),
            ..WsConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = server::serve(app.clone(), server_config).context("starting the server")?;
    let _ = public_url.set(format!("http://{}", server.local_addr()));
    notifier.status(&format!(
        "listening on {}; recovering from the journal",
        server.local_addr()
    ));
    if let Err(e) = app.start() {
        server.shutdown();
        return Err(e).context("recovering from the journal");
    }
    log::info!("ready");
    // Recovery has finished and the listener accepts: /readyz answers 200.
    notifier.ready(&format!("serving on http://{}", server.local_addr()));
    let signal = signals.forever().next();
    log::info!(
        "received {}; shutting down",
        match signal {
            Some(SIGINT) => "SIGINT",
            Some(SIGTERM) => "SIGTERM",
            _ => "a signal",
        }
    );
    notifier.stopping("shutting down: finishing requests in flight");
    // A second signal ends the process at once.
    let handle = signals.handle();
    let watcher = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                eprintln!("partybus: second signal; exiting now");
                std::process::exit(130);
            }
        })
        .context("starting the signal watcher")?;
    if !args.shutdown_delay.is_zero() {
        // Readiness goes first; everything else is served as before until
        // the delay is over (a second signal ends it, and the process).
        server.drain();
        log::info!(
            "draining: /readyz answers 503; serving on for {}",
            humantime::format_duration(args.shutdown_delay)
        );
        std::thread::sleep(args.shutdown_delay);
    }
    server.shutdown();
    app.stop();
    handle.close();
    let _ = watcher.join();
    log::info!("bye");
    Ok(())
}

fn loadgen(args: LoadgenArgs) -> Result<()> {
    use loadgen::{LoadConfig, Mode, Scenario, TokenMode};
    loadgen_check_outputs(&args)?;
    // The first SIGINT or SIGTERM ends the run early, with its report and
    // the deletion of its parties; a second one exits at once.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .context("installing signal handlers")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    if args.spread && args.url.len() < 2 {
        bail!("--spread needs at least two --url (it spreads the clients over them)");
    }
    if !args.spread && !args.server_pid.is_empty() && args.url.len() > 1 {
        bail!("--server-pid needs a single --url (or --spread)");
    }
    if !args.spread && !args.sweep.is_empty() && args.url.len() > 1 {
        bail!("--sweep needs a single --url (or --spread)");
    }
    let scenario = match args.scenario {
        LoadScenario::Jungle => Scenario::Jungle,
        LoadScenario::Princess => Scenario::Princess,
        LoadScenario::Space => Scenario::Space,
        LoadScenario::Mixed => Scenario::Mixed,
    };
    let mode = match args.mode {
        LoadMode::E2e => Mode::E2e,
        LoadMode::Create => Mode::Create,
        LoadMode::Read => Mode::Read,
        LoadMode::Input => Mode::Input,
    };
    let token_mode = match args.token_mode {
        LoadTokens::Auto => TokenMode::Auto,
        LoadTokens::None => TokenMode::None,
    };
    // Validate every URL before loading any server. With --spread, one run
    // over all of them.
    let urls: Vec<&String> = if args.spread {
        args.url.iter().take(1).collect()
    } else {
        args.url.iter().collect()
    };
    let configs = urls
        .into_iter()
        .map(|url| {
            let mut c = LoadConfig::new(
                url,
                usize::from(args.concurrency),
                args.duration,
                args.parties,
                scenario,
                mode,
                token_mode,
            )?;
            if args.spread {
                c = c.spread(&args.url)?;
            }
            c.progress = !args.quiet;
            c.keep = args.keep;
            c.stop = Some(stop.clone());
            c.server_pids.clone_from(&args.server_pid);
            match args.rate {
                Some(rate) => Ok(c.open_loop(rate)?),
                None => Ok(c),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    if let [config] = configs.as_slice() {
        if !args.sweep.is_empty() {
            return loadgen_sweep(config, &args);
        }
    }
    let mut reports = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let report = loadgen::run(config).with_context(|| format!("loading {}", config.url))?;
        let mut out = std::io::stdout().lock();
        if i > 0 {
            let _ = writeln!(out);
        }
        out.write_all(report.table().as_bytes())
            .context("writing the report")?;
        reports.push(report);
    }
    if reports.len() > 1 {
        let text = format!("\n{}", loadgen::comparison(&reports));
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the comparison")?;
    }
    if let Some(path) = &args.json {
        let text = match reports.as_slice() {
            [one] => serde_json::to_string_pretty(one)?,
            many => serde_json::to_string_pretty(many)?,
        } + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    loadgen_files(&reports.iter().collect::<Vec<_>>(), &args)?;
    let errors: u64 = reports.iter().map(|r| r.error_count).sum();
    if args.fail_on_errors && errors > 0 {
        bail!("{errors} errors during the run");
    }
    Ok(())
}

/// Fails before any load when `--html` or `--hist` could not be written
/// afterwards (a missing directory), so a long run is not lost to a typo.
fn loadgen_check_outputs(args: &LoadgenArgs) -> Result<()> {
    if let Some(path) = &args.html {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            bail!("--html {}: no such directory", path.display());
        }
    }
    if let Some(dir) = &args.hist {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--hist: creating {}", dir.display()))?;
    }
    Ok(())
}

/// `partybus loadgen --html` and `--hist`: the report and the histogram files.
fn loadgen_files(reports: &[&loadgen::Report], args: &LoadgenArgs) -> Result<()> {
    if let Some(path) = &args.html {
        std::fs::write(path, loadgen::html_report(reports))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &args.hist {
        loadgen::write_hist_dir(reports, dir)
            .with_context(|| format!("writing histograms to {}", dir.display()))?;
    }
    Ok(())
}

/// `partybus loadgen --sweep`: every run's table as it ends, then the curve.
fn loadgen_sweep(config: &loadgen::LoadConfig, args: &LoadgenArgs) -> Result<()> {
    let mut first = true;
    let sweep = loadgen::sweep(config, &args.sweep, |report| {
        let mut out = std::io::stdout().lock();
        if !first {
            let _ = writeln!(out);
        }
        first = false;
        let _ = out.write_all(report.table().as_bytes());
    })
    .with_context(|| format!("sweeping {}", config.url))?;
    let text = format!("\n{}", sweep.table());
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the curve")?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&sweep.reports())? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    loadgen_files(&sweep.reports(), args)?;
    let errors: u64 = sweep.reports().iter().map(|r| r.error_count).sum();
    if args.fail_on_errors && errors > 0 {
        bail!("{errors} errors during the sweep");
    }
    Ok(())
}

fn plan(args: PlanArgs) -> Result<()> {
    init_logging(args.log_level)?;
    let config = app_config(args.catalog.as_deref(), Arc::new(MemoryJournal::new()))?;
    let app = App::start_new(config).context("starting partybus")?;
    let cmd = NewParty {
        user_id: Some("cli".to_string()),
        initial_inputs: args
            .inputs
            .into_iter()
            .map(|content| NewInput {
                content,
                ..NewInput::default()
            })
            .collect(),
        ..NewParty::default()
    };
    let ack = app.create_party(cmd, None).context("creating the party")?;
    if !app.wait_settled(&ack.party_id, ack.seq, PLAN_TIMEOUT) {
        bail!("planning did not finish within {PLAN_TIMEOUT:?}");
    }
    let party = app
        .party(&ack.party_id)
        .context("the party disappeared while planning")?;
    let text = if args.json {
        serde_json::to_string_pretty(&PartyView::from(party.as_ref()))? + "\n"
    } else {
        render(&party)
    };
    app.stop();
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the plan")?;
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    init_logging(args.log_level)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let entries = partybus::eval::parse_corpus(&text)
        .with_context(|| format!("reading the corpus {}", args.file.display()))?;
    let config = app_config(args.catalog.as_deref(), Arc::new(MemoryJournal::new()))?;
    let app = App::start_new(config).context("starting partybus")?;
    let report = partybus::eval::run(&app, &entries).context("planning the corpus")?;
    app.stop();
    let mut out = format!(
        "{} requests from {}\n\n",
        report.total(),
        args.file.display()
    );
    out.push_str(&report.table());
    if args.misses {
        out.push('\n');
        out.push_str(&report.misses());
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing the report")?;
    let low_field = args.min_field.and_then(|min| {
        partybus::eval::FIELDS
            .iter()
            .find(|f| report.accuracy(f) < min)
            .map(|f| format!("{f} is {:.1} % (< {min} %)", report.accuracy(f)))
    });
    let low_full = args
        .min_fully_right
        .filter(|min| report.fully_right_percent() < *min)
        .map(|min| {
            format!(
                "fully right is {:.1} % (< {min} %)",
                report.fully_right_percent()
            )
        });
    if let Some(why) = low_field.or(low_full) {
        bail!("below the floor: {why}");
    }
    Ok(())
}

fn compact(args: CompactArgs) -> Result<()> {
    init_logging(args.log_level)?;
    report_replays(
        "compacting: replaying journal",
        LogFormat::Text,
        &Arc::new(Notifier::disabled()),
    );
    let dir = &args.data.data_dir;
    if !dir.join(partybus::journal::DB_FILE).exists() {
        return Err(DataDirError(format!(
            "no journal in {} (is --data-dir right?)",
            dir.display()
        ))
        .into());
    }
    let journal = SqliteJournal::open(dir, Durability::Full)
        .with_context(|| format!("opening the journal in {}", dir.display()))?;
    let began = std::time::Instant::now();
    let r = partybus::recovery::compact(&journal).context("compacting")?;
    println!(
        "compacted {} at seq {}: {} party snapshots written, {} events of deleted parties removed, {} events kept ({:.2?})",
        journal.path().display(),
        r.seq,
        r.parties,
        r.events_deleted,
        r.events_kept,
        began.elapsed()
    );
    Ok(())
}

/// `partybus healthcheck`: exit 0 when the server answers 2xx in time.
fn healthcheck(args: HealthcheckArgs) -> Result<()> {
    use partybus::healthcheck::{check, Target};
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    let target = match &args.url {
        Some(url) => Target::parse(url, args.path.as_deref())?,
        None => Target::for_listener(&args.host, args.port, args.path.as_deref().unwrap_or("")),
    };
    let status = check(&target, args.timeout).context("healthcheck failed")?;
    println!("{} answered {status}", target.url());
    Ok(())
}

fn export(args: ExportArgs) -> Result<()> {
    let dir = &args.data.data_dir;
    let journal = SqliteJournal::open_read_only(dir)
        .with_context(|| format!("opening the journal in {}", dir.display()))?;
    let party = partybus::recovery::party_from_journal(&journal, &args.party)
        .context("reading the party")?
        .with_context(|| format!("party {} not found in {}", args.party, dir.display()))?;
    let format = match args.format {
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    };
    std::io::stdout()
        .lock()
        .write_all(&Export::of(&party).render(format))
        .context("writing the export")?;
    Ok(())
}

fn diff(args: DiffArgs) -> Result<()> {
    let dir = &args.data.data_dir;
    let journal = SqliteJournal::open_read_only(dir)
        .with_context(|| format!("opening the journal in {}", dir.display()))?;
    let read = |id: &str| {
        partybus::recovery::party_from_journal(&journal, id)
            .with_context(|| format!("reading party {id}"))?
            .with_context(|| format!("party {id} not found in {}", dir.display()))
    };
    let (a, b) = (read(&args.a)?, read(&args.b)?);
    let d = partybus::diff::diff(&a, &b);
    let mut out = match args.format {
        DiffFormatArg::Json => serde_json::to_vec(&d).context("encoding the diff")?,
        DiffFormatArg::Text => partybus::diff::render_text(&d).into_bytes(),
    };
    if args.format == DiffFormatArg::Json {
        out.push(b'\n');
    }
    std::io::stdout()
        .lock()
        .write_all(&out)
        .context("writing the diff")?;
    Ok(())
}

/// `partybus verify`: exit 0 when every digest agrees, 1 when any party
/// differs (after printing which), 5 when a server holds the directory, 6
/// when the journal cannot be read.
fn verify(args: VerifyArgs) -> Result<()> {
    use partybus::recovery::RecoveryError;
    use partybus::verify::VerifyError;
    let dir = &args.data.data_dir;
    if !dir.join(partybus::journal::DB_FILE).exists() {
        return Err(DataDirError(format!(
            "no journal in {} (is --data-dir right?)",
            dir.display()
        ))
        .into());
    }
    let journal = match SqliteJournal::open_read_only_locked(dir) {
        Err(e @ partybus::journal::JournalError::Locked(_)) => {
            return Err(anyhow::Error::from(e)
                .context("verify reads the journal offline: stop the server (or verify a copy of the directory)"));
        }
        r => r.with_context(|| format!("opening the journal in {}", dir.display()))?,
    };
    let report = match partybus::verify::verify(&journal) {
        Ok(r) => r,
        Err(VerifyError::Recovery(RecoveryError::Journal(e))) => {
            return Err(anyhow::Error::from(e).context("verifying"))
        }
        Err(e) => return Err(DataDirError(format!("verifying: {e}")).into()),
    };
    let out = match args.format {
        VerifyFormatArg::Text => report.render_text(),
        VerifyFormatArg::Json => {
            let mut s = serde_json::to_string(&report).context("encoding the report")?;
            s.push('\n');
            s
        }
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing the report")?;
    if !report.agree {
        bail!(
            "{} of {} parties have digests that differ",
            report.differences.len(),
            report.parties
        );
    }
    Ok(())
}

fn events(args: EventsArgs) -> Result<()> {
    let dir = &args.data.data_dir;
    let journal = SqliteJournal::open_read_only(dir)
        .with_context(|| format!("opening the journal in {}", dir.display()))?;
    let events = journal
        .party_events(&args.party, args.since, usize::MAX)
        .context("reading the events")?;
    if events.is_empty() && args.since == 0 {
        bail!("no events for party {} in {}", args.party, dir.display());
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for e in &events {
        serde_json::to_writer(&mut out, e.as_ref())?;
        out.write_all(b"\n")?;
    }
    out.flush().context("writing the events")?;
    Ok(())
}

/// `partybus catalog import|check`: errors (and warnings) on stderr, one a
/// line, by file, row and column; exit 1 when there is any error.
fn catalog(command: CatalogCommand) -> Result<()> {
    use partybus::catalog::import::{self, CsvOptions, Format};
    let csv_options = |csv: &CsvArgs| CsvOptions {
        delimiter: csv.delimiter,
        kind: csv.kind,
    };
    match command {
        CatalogCommand::Import(args) => {
            let name = args.file.display().to_string();
            let bytes = read_catalog_input(&args.file)?;
            if import::detect_format(&name, &bytes) == Format::Json {
                bail!("{name} is catalog JSON already: `partybus catalog check {name}` checks it, `partybus serve --catalog {name}` uses it");
            }
            let imported = import::import_csv(&bytes, &csv_options(&args.csv))
                .map_err(|e| report_catalog_errors(&name, e, "; nothing written"))?;
            print_catalog_problems(&name, &imported.warnings, "warning: ");
            let mut json = import::to_json(&imported.catalog);
            json.push('\n');
            match &args.output {
                Some(path) => {
                    // Written whole, then renamed: never a half-written catalog.
                    let tmp = path.with_extension("json.tmp");
                    std::fs::write(&tmp, &json)
                        .with_context(|| format!("writing {}", tmp.display()))?;
                    std::fs::rename(&tmp, path)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                None => std::io::stdout()
                    .lock()
                    .write_all(json.as_bytes())
                    .context("writing the catalog to stdout")?,
            }
            eprintln!("{name}: {}", import::summary(&imported.catalog));
            Ok(())
        }
        CatalogCommand::Check(args) => {
            let name = args.file.display().to_string();
            let bytes = read_catalog_input(&args.file)?;
            let checked = import::check(&name, &bytes, &csv_options(&args.csv))
                .map_err(|e| report_catalog_errors(&name, e, ""))?;
            print_catalog_problems(&name, &checked.warnings, "warning: ");
            println!("{name}: ok, {}", import::summary(&checked.catalog));
            Ok(())
        }
    }
}

/// The file's bytes, refusing one larger than the import reads.
fn read_catalog_input(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let limit = partybus::catalog::import::MAX_INPUT_BYTES;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > limit {
        bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(bytes)
}

fn print_catalog_problems(
    name: &str,
    problems: &[partybus::catalog::import::Problem],
    prefix: &str,
) {
    let mut err = std::io::stderr().lock();
    for p in problems {
        let _ = writeln!(err, "{prefix}{}", p.in_file(name));
    }
}

/// Prints every error and returns the one-line failure for `main`.
fn report_catalog_errors(
    name: &str,
    e: partybus::catalog::import::ImportError,
    then: &str,
) -> anyhow::Error {
    print_catalog_problems(name, &e.warnings, "warning: ");
    print_catalog_problems(name, &e.errors, "");
    let total = e.errors.len() + e.omitted;
    if e.omitted > 0 {
        eprintln!("{name}: ... and {} more errors", e.omitted);
    }
    let plural = if total == 1 { "error" } else { "errors" };
    anyhow::anyhow!("{name}: {total} {plural}{then}")
}

fn money(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

fn range(r: &Range) -> String {
    let base = if r.min == r.max {
        money(r.min)
    } else {
        format!("{}–{}", money(r.min), money(r.max))
    };
    match &r.note {
        Some(n) => format!("{base} ({n})"),
        None => base,
    }
}

/// The plan as readable text: the inputs, what the plan understood from them
/// (each fact with the words it was read from), every agent's result and
/// note, the budget and the plan. Missing provenance is left out, never shown
/// as empty quotes.
fn render(p: &Party) -> String {
    use serde_json::Value;

    /// Fact names in the order they read best, with their labels; names not
    /// listed here follow in name order.
    const FACT_ORDER: [(&str, &str); 18] = [
        ("theme", "Theme"),
        ("guests", "Guests"),
        ("ages", "Ages"),
        ("birthday", "Birthday"),
        ("date", "Date"),
        ("time", "Time"),
        ("city", "City"),
        ("setting", "Setting"),
        ("setting_preferred", "Setting is a preference"),
        ("budget", "Budget"),
        ("venue_budget", "Venue budget"),
        ("cake_budget", "Cake budget"),
        ("catering_budget", "Catering budget"),
        ("dietary", "Dietary needs"),
        ("flavors", "Cake flavors"),
        ("cuisines", "Cuisines"),
        ("vendors", "Vendors wanted"),
        ("no_cake", "No cake"),
    ];

    /// User words on one line: whitespace runs (newlines too) become one
    /// space, control characters go.
    fn one_line(s: &str) -> String {
        s.split_whitespace()
            .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A fact's value as a person reads it: dollars for the budgets, lists
    /// comma-joined, booleans as yes or no.
    fn fact_value(name: &str, v: &Value) -> String {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(d) if name.ends_with("budget") => money(d),
                _ => n.to_string(),
            },
            Value::String(s) => one_line(s),
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            Value::Array(items) => items
                .iter()
                .map(|i| fact_value(name, i))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Null => "unknown".to_string(),
            Value::Object(_) => v.to_string(),
        }
    }

    /// `from "words"`, or `from input ID` without words, or nothing.
    fn source(input_id: &str, text: &str) -> Option<String> {
        let text = one_line(text);
        if !text.is_empty() {
            Some(format!("from \"{text}\""))
        } else if !input_id.trim().is_empty() {
            Some(format!("from input {}", one_line(input_id)))
        } else {
            None
        }
    }

    /// One line of "What we understood".
    fn fact_line(name: &str, label: &str, f: &partybus::domain::PlanFact) -> String {
        let mut line = format!("{label}: {}", fact_value(name, &f.value));
        let mut sources: Vec<String> = source(&f.input_id, &f.text).into_iter().collect();
        for also in &f.also_from {
            if let Some(from) = source(&also.input_id, &also.text) {
                sources.push(format!("{} {from}", fact_value(name, &also.value)));
            }
        }
        if !sources.is_empty() {
            let _ = write!(line, " — {}", sources.join("; "));
        }
        if let Some(r) = &f.replaced {
            let _ = write!(line, " (replaces {}", fact_value(name, &r.value));
            if let Some(from) = source(&r.input_id, &r.text) {
                let _ = write!(line, " {from}");
            }
            line.push(')');
        }
        line
    }

    /// An agent's note, under its section.
    fn note(o: &mut String, note: Option<&String>) {
        if let Some(n) = note.map(|n| one_line(n)).filter(|n| !n.is_empty()) {
            let _ = writeln!(o, "  Note: {n}");
        }
    }

    let mut o = String::new();
    let pct = p.final_plan.as_deref().map_or(0, |f| f.completion_percent);
    let _ = writeln!(
        o,
        "Party {} — {} ({pct}% complete)\n",
        p.party_id,
        p.status.as_str()
    );
    let _ = writeln!(o, "Inputs");
    for i in &p.inputs {
        let _ = writeln!(o, "  {}  {}", i.input_id, i.content);
    }
    let facts = p.final_plan.as_deref().map(|f| &f.facts);
    if let Some(facts) = facts.filter(|f| !f.is_empty()) {
        let _ = writeln!(o, "\nWhat we understood");
        for (name, label) in FACT_ORDER {
            if let Some(f) = facts.get(name) {
                let _ = writeln!(o, "  {}", fact_line(name, label, f));
            }
        }
        for (name, f) in facts {
            if FACT_ORDER.iter().all(|(known, _)| known != name) {
                let mut label = name.replace('_', " ");
                if let Some(first) = label.get(..1).map(str::to_uppercase) {
                    label.replace_range(..1, &first);
                }
                let _ = writeln!(o, "  {}", fact_line(name, &label, f));
            }
        }
    }
    for state in p.agents.values() {
        if state.status == AgentStatus::Failed {
            let err = state.error.as_ref().map_or("unknown error", |e| &e.error);
            let _ = writeln!(o, "\n{} failed: {err}", state.agent_name);
            continue;
        }
        let Some(result) = state.result.as_deref() else {
            continue;
        };
        match result {
            AgentOutput::Theme(t) => {
                let _ = writeln!(
                    o,
                    "\nTheme: {} (confidence {:.2})",
                    t.primary_theme, t.confidence
                );
                let _ = writeln!(o, "  Colors: {}", t.colors.join(", "));
                let _ = writeln!(o, "  Decorations: {}", t.decorations.join(", "));
                let _ = writeln!(o, "  Activities: {}", t.activities.join(", "));
            }
            AgentOutput::Venue(v) => {
                let _ = writeln!(o, "\nVenues ({} matching)", v.total_matches);
                for (n, s) in v.recommended_venues.iter().enumerate() {
                    let r = &s.record;
                    let _ = writeln!(
                        o,
                        "  {}. {} — {}, {}, seats {}, {}/day, rating {:.1}",
                        n + 1,
                        r.name,
                        r.venue_type,
                        r.city,
                        r.capacity,
                        money(r.daily_price),
                        r.rating
                    );
                }
                note(&mut o, v.note.as_ref());
            }
            AgentOutput::Cake(c) => {
                let _ = writeln!(
                    o,
                    "\nCake: {} {} cake, {} (about {})",
                    c.size_recommendation,
                    c.cake_style,
                    c.theme,
                    range(&c.estimated_cost)
                );
                for (n, s) in c.recommended_bakeries.iter().enumerate() {
                    let _ = writeln!(
                        o,
                        "  {}. {} — {}, rating {:.1}",
                        n + 1,
                        s.record.name,
                        s.record.city,
                        s.record.rating
                    );
                }
                note(&mut o, c.note.as_ref());
            }
            AgentOutput::Catering(c) => {
                let _ = writeln!(
                    o,
                    "\nCatering for {} guests (about {})",
                    c.guest_count,
                    range(&c.estimated_total_cost)
                );
                for (n, s) in c.recommended_caterers.iter().enumerate() {
                    let _ = writeln!(
                        o,
                        "  {}. {} — {}/person, rating {:.1}",
                        n + 1,
                        s.record.name,
                        money(s.record.price_per_person),
                        s.record.rating
                    );
                }
                note(&mut o, c.note.as_ref());
            }
            AgentOutput::Vendor(v) => {
                let _ = writeln!(o, "\nVendors (about {})", range(&v.estimated_cost));
                for (category, list) in &v.vendors_by_category {
                    if let Some(s) = list.first() {
                        let _ = writeln!(
                            o,
                            "  {category}: {} — {}, rating {:.1}",
                            s.record.name,
                            money(s.record.avg_price),
                            s.record.rating
                        );
                    }
                }
                note(&mut o, v.note.as_ref());
            }
        }
    }
    if let Some(b) = p.budget.as_deref() {
        let _ = writeln!(o, "\nBudget: {}", range(&b.total_budget));
        if let Some(stated) = b.stated_budget {
            let verdict = if b.over_budget { "over" } else { "within" };
            let _ = writeln!(o, "  Stated budget {}: {verdict}", money(stated));
        }
        for (category, r) in &b.breakdown {
            let _ = writeln!(o, "  {category}: {}", range(r));
        }
        for s in &b.swaps {
            let _ = writeln!(
                o,
                "  Swap {}: {} → {} (saves {})",
                s.category,
                s.current,
                s.alternative,
                money(s.saves)
            );
        }
    }
    if let Some(f) = p.final_plan.as_deref() {
        if !f.recommendations.is_empty() {
            let _ = writeln!(o, "\nRecommendations");
            for r in &f.recommendations {
                let priority = serde_json::to_value(r.priority)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let _ = writeln!(o, "  [{priority}] {}: {}", r.category, r.description);
            }
        }
        let _ = writeln!(o, "\nNext steps");
        for (n, s) in f.next_steps.iter().enumerate() {
            let _ = writeln!(o, "  {}. {s}", n + 1);
        }
        let _ = writeln!(
            o,
            "\nChecklist ({}/{} done)",
            f.checklist_summary.completed_tasks, f.checklist_summary.total_tasks
        );
        for item in &f.checklist {
            let mark = if item.done { "x" } else { " " };
            let _ = writeln!(o, "  [{mark}] {}", item.task);
        }
    } else {
        let _ = writeln!(o, "\nNo plan yet.");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_thousands_separators() {
        assert_eq!(money(0), "$0");
        assert_eq!(money(999), "$999");
        assert_eq!(money(2000), "$2,000");
        assert_eq!(money(1234567), "$1,234,567");
        assert_eq!(range(&Range::new(80, 200)), "$80–$200");
    }

    /// A party as the store would hold it: two inputs, the given agent
    /// results (wire name to result JSON) and a plan with these facts.
    fn party_with(facts: serde_json::Value, results: serde_json::Value) -> Party {
        let input = |id: &str, content: &str| {
            serde_json::json!({
                "input_id": id, "content": content, "source_type": "text", "tags": [],
                "added_by": "cli", "added_at": "2026-01-01T00:00:00Z", "metadata": {},
                "image_url": null
            })
        };
        let mut agents = serde_json::Map::new();
        for (name, result) in results.as_object().expect("results by agent") {
            let state = serde_json::json!({
                "agent_name": name, "status": "completed", "result": result,
                "confidence": 0.9, "execution_time_ms": 1.0, "execution_id": "exec_1",
                "started_at": "2026-01-01T00:00:00Z", "completed_at": "2026-01-01T00:00:00Z",
                "error": null, "runs": 1
            });
            agents.insert(name.clone(), state);
        }
        let plan = serde_json::json!({
            "completion_percent": 40, "areas": [], "recommendations": [], "next_steps": [],
            "active_agents": [], "missing_agents": [], "checklist": [],
            "checklist_summary": {"total_tasks": 0, "completed_tasks": 0, "pending_tasks": 0},
            "ready": false, "facts": facts
        });
        serde_json::from_value(serde_json::json!({
            "party_id": "p1", "status": "planning",
            "inputs": [input("inp_1", "budget $800"), input("inp_2", "35 guests, budget of $1000")],
            "agents": agents, "budget": null, "final_plan": plan, "created_by": null,
            "token_sha256": null, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "version": 5, "last_seq": 5
        }))
        .expect("a well-formed party")
    }

    /// The lines of one section of the rendered plan (after its title, up to
    /// the blank line that ends it).
    fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
        text.lines()
            .skip_while(|l| *l != title)
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn the_plan_says_what_it_understood_and_from_which_words() {
        let facts = serde_json::json!({
            "guests": {"value": 35, "input_id": "inp_2", "text": "35 guests (15 kids, 20 adults)"},
            "budget": {"value": 1000, "input_id": "inp_2", "text": "budget of $1000",
                       "replaced": {"value": 800, "input_id": "inp_1", "text": "budget $800"}},
            "theme": {"value": "princess", "input_id": "inp_2", "text": "loves princesses"},
            "city": {"value": "San Jose", "input_id": "inp_2", "text": "in San\nJose"},
            "dietary": {"value": ["vegan", "nut-free"], "input_id": "inp_2", "text": "vegan",
                        "also_from": [{"value": ["nut-free"], "input_id": "inp_1", "text": "no nuts"}]},
            "cake_budget": {"value": 60, "input_id": "inp_1", "text": ""},
            "birthday": {"value": true, "input_id": "", "text": ""},
            "date": {"value": "March 15", "input_id": "", "text": ""},
            "party_size_hint": {"value": "small", "input_id": "", "text": ""}
        });
        let text = render(&party_with(facts, serde_json::json!({})));
        assert_eq!(
            section(&text, "What we understood"),
            [
                "  Theme: princess — from \"loves princesses\"",
                "  Guests: 35 — from \"35 guests (15 kids, 20 adults)\"",
                "  Birthday: yes",
                "  Date: March 15",
                "  City: San Jose — from \"in San Jose\"",
                "  Budget: $1,000 — from \"budget of $1000\" (replaces $800 from \"budget $800\")",
                "  Cake budget: $60 — from input inp_1",
                "  Dietary needs: vegan, nut-free — from \"vegan\"; nut-free from \"no nuts\"",
                "  Party size hint: small",
            ],
            "{text}"
        );
        // The section sits between the inputs and the agents' results.
        let inputs = text.find("\nInputs\n").expect("inputs");
        let understood = text.find("\nWhat we understood\n").expect("facts");
        let plan = text.find("\nNext steps\n").expect("plan");
        assert!(inputs < understood && understood < plan, "{text}");
    }

    #[test]
    fn a_plan_without_facts_has_no_understood_section() {
        let text = render(&party_with(serde_json::json!({}), serde_json::json!({})));
        assert!(!text.contains("What we understood"), "{text}");
    }

    #[test]
    fn every_supplier_agent_shows_its_note() {
        let cost = serde_json::json!({"min": 0, "max": 0, "note": null});
        let results = serde_json::json!({
            "venue_agent": {
                "recommended_venues": [], "total_matches": 0, "data_source": "catalog",
                "search_criteria": {"guest_count": 35, "guest_count_stated": true, "budget": null,
                                    "theme": null, "location": null, "city": null},
                "note": "No suppliers in Austin yet; showing venues in Springfield"
            },
            "cake_agent": {
                "recommended_bakeries": [], "total_matches": 0, "cake_style": "themed",
                "theme": "princess", "decorations": [], "estimated_cost": cost,
                "size_recommendation": "medium", "flavors": [], "dietary_needs": [],
                "cake_budget": null, "data_source": "catalog",
                "note": "No bakery within $60; showing the cheapest"
            },
            "catering_agent": {
                "recommended_caterers": [], "total_matches": 0, "guest_count": 35,
                "dietary_needs": ["vegan"], "cuisine_preferences": [],
                "estimated_total_cost": cost, "data_source": "catalog",
                "note": "No vegan caterer in Austin"
            },
            "vendor_agent": {
                "vendors_by_category": {}, "categories_requested": ["photography"],
                "estimated_cost": cost, "data_source": "catalog",
                "note": "  "
            }
        });
        let text = render(&party_with(serde_json::json!({}), results));
        for (title, note) in [
            (
                "Venues (0 matching)",
                "  Note: No suppliers in Austin yet; showing venues in Springfield",
            ),
            (
                "Cake: medium themed cake, princess (about $0)",
                "  Note: No bakery within $60; showing the cheapest",
            ),
            (
                "Catering for 35 guests (about $0)",
                "  Note: No vegan caterer in Austin",
            ),
        ] {
            assert_eq!(section(&text, title), [note], "{text}");
        }
        assert!(
            section(&text, "Vendors (about $0)").is_empty(),
            "a blank note is not shown: {text}"
        );
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
