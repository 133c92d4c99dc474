//! Durability benchmarks (a plain `main`, not criterion: each figure is one
//! timed run over a large data set, which criterion's sampling does not fit).
//!
//! - `throughput`: acknowledged `POST .../input` per second over 64
//!   keep-alive loopback connections, against the real server with the
//!   SQLite journal, with `--durability normal` and `full`.
//! - `recovery`: 100,000 planned parties (about 1.1 M real events, copied
//!   from parties the real agents planned) written to a journal; a full
//!   replay; a compaction; and start-up from the snapshot.
//!
//! `cargo bench --bench durability [-- throughput[-off|-normal|-full]|append|recovery]`. Data lives in
//! a temporary directory that is removed afterwards.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partybus::app::{NewInput, NewParty};
use partybus::event::{Event, Payload};
use partybus::journal::{Durability, Journal, MemoryJournal, SqliteJournal};
use partybus::server::{serve, AuthMode, RateLimits, ServerConfig};
use partybus::{App, Config};

const API: &str = "/api/v1/event-driven";
const CONNECTIONS: usize = 64;
/// Parties each connection writes to in turn: a real load spreads over many
/// parties, and the scheduler re-reads a party's inputs on every change.
const PARTIES_PER_CONNECTION: usize = 16;
/// Notes a connection adds to one party before it moves on to a new party
/// (below the server's per-party input limit).
const NOTES_PER_PARTY: usize = 150;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
const PARTIES: usize = 100_000;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("partybus-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str| which.is_empty() || which.iter().any(|w| name.contains(w.as_str()));
    println!(
        "machine: {} cores (shared), partybus {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        env!("CARGO_PKG_VERSION")
    );
    for durability in [Durability::Off, Durability::Normal, Durability::Full] {
        if run(&format!("throughput-{}", durability.as_str())) {
            throughput(durability);
        }
    }
    if run("append") {
        append();
    }
    if run("recovery") {
        recovery();
    }
}

// ---- throughput ---------------------------------------------------------------

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// Sends a POST with a JSON body; returns the status and the body.
    fn post(&mut self, path: &str, body: &str) -> (u16, Vec<u8>) {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes()).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).expect("chunk size");
                let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut buf = vec![0; n + 2];
                self.reader.read_exact(&mut buf).expect("chunk");
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
        } else {
            body.resize(len, 0);
            self.reader.read_exact(&mut body).expect("body");
        }
        (status, body)
    }
}

fn throughput(durability: Durability) {
    let dir = temp_dir(&format!("tp-{}", durability.as_str()));
    let inner: Arc<dyn Journal> = if durability == Durability::Off {
        Arc::new(MemoryJournal::new())
    } else {
        Arc::new(SqliteJournal::open(&dir, durability).expect("journal"))
    };
    let timed = Arc::new(Timed {
        inner,
        commits: AtomicU64::new(0),
        events: AtomicU64::new(0),
        nanos: AtomicU64::new(0),
        max: AtomicU64::new(0),
    });
    let journal: Arc<dyn Journal> = timed.clone();
    let app = Arc::new(
        App::start_new(Config {
            journal,
            compact_threshold: None,
            ..Config::default()
        })
        .expect("app"),
    );
    let server = serve(
        app.clone(),
        ServerConfig {
            auth: AuthMode::Off,
            // One client IP sends everything; the per-IP limits would
            // measure the limiter.
            rate_limits: RateLimits::OFF,
            ..ServerConfig::default()
        },
    )
    .expect("serve");
    let addr = server.local_addr();
    // Parties planned once (theme, venue, budget, plan).
    for c in 0..CONNECTIONS * PARTIES_PER_CONNECTION {
        app.create_party(
            NewParty {
                party_id: Some(format!("tp{c}")),
                initial_inputs: vec![NewInput {
                    content: "jungle theme party for 40 guests".into(),
                    ..NewInput::default()
                }],
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    }
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (acked, failed, measuring, stop) = (
                acked.clone(),
                failed.clone(),
                measuring.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let path = |party: &str| format!("{API}/party/{party}/input");
                let mut paths: Vec<String> = (0..PARTIES_PER_CONNECTION)
                    .map(|k| path(&format!("tp{}", c * PARTIES_PER_CONNECTION + k)))
                    .collect();
                let mut notes = [0usize; PARTIES_PER_CONNECTION];
                let mut fresh = 0;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let slot = n as usize % PARTIES_PER_CONNECTION;
                    if notes[slot] == NOTES_PER_PARTY {
                        // Scheduling is not fair between connections: a fast
                        // one would fill its parties up to the per-party
                        // input limit (409). It moves on to a new party
                        // instead (not counted).
                        fresh += 1;
                        let party = format!("tp{c}-{fresh}");
                        let create = format!(
                            "{{\"party_id\": \"{party}\", \"initial_inputs\": [{{\"content\": \"jungle theme party for 40 guests\"}}]}}"
                        );
                        let (status, answer) = conn.post(&format!("{API}/party"), &create);
                        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
                        paths[slot] = path(&party);
                        notes[slot] = 0;
                    }
                    notes[slot] += 1;
                    let path = &paths[slot];
                    // Notes that change no agent's inputs: the figure is the
                    // write path (validate, commit, apply, answer), not the agents.
                    let body = format!("{{\"content\": \"noted {}\"}}", letters(n, c));
                    let (status, answer) = conn.post(path, &body);
                    if measuring.load(Ordering::Relaxed) {
                        if status == 201 {
                            acked.fetch_add(1, Ordering::Relaxed);
                        } else {
                            if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!(
                                    "first failure: {status} {}",
                                    String::from_utf8_lossy(&answer)
                                );
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(WARMUP);
    measuring.store(true, Ordering::SeqCst);
    let began = Instant::now();
    std::thread::sleep(MEASURE);
    measuring.store(false, Ordering::SeqCst);
    let elapsed = began.elapsed();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        let _ = c.join();
    }
    let n = acked.load(Ordering::Relaxed);
    let commits = timed.commits.load(Ordering::Relaxed).max(1);
    println!(
        "  journal: {commits} group commits, {:.1} events each, {:.0} µs each (max {:.1} ms)",
        timed.events.load(Ordering::Relaxed) as f64 / commits as f64,
        timed.nanos.load(Ordering::Relaxed) as f64 / commits as f64 / 1e3,
        timed.max.load(Ordering::Relaxed) as f64 / 1e6
    );
    println!(
        "acknowledged POST .../input, {CONNECTIONS} connections, durability {}: {:.0}/s ({n} in {elapsed:.2?}, {} not 201)",
        durability.as_str(),
        n as f64 / elapsed.as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    server.shutdown();
    app.stop();
    drop(app);
}

/// The journal alone: group commits of 64 real events.
fn append() {
    let templates = templates();
    for durability in [Durability::Normal, Durability::Full] {
        let dir = temp_dir(&format!("append-{}", durability.as_str()));
        let journal = SqliteJournal::open(&dir, durability).expect("journal");
        let mut seq = 0;
        let mut events = Vec::new();
        for p in 0..2_000 {
            events.extend(copy(
                &templates[p % templates.len()],
                &format!("ap{p}"),
                &mut seq,
            ));
        }
        let began = Instant::now();
        for chunk in events.chunks(64) {
            journal.append(chunk).expect("append");
        }
        let t = began.elapsed();
        println!(
            "journal append, batches of 64, durability {}: {:.0} events/s, {:.0} commits/s",
            durability.as_str(),
            events.len() as f64 / t.as_secs_f64(),
            events.len() as f64 / 64.0 / t.as_secs_f64()
        );
        drop(journal);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Counts and times appends.
struct Timed {
    inner: Arc<dyn Journal>,
    commits: AtomicU64,
    events: AtomicU64,
    nanos: AtomicU64,
    max: AtomicU64,
}

impl Timed {
    fn time(
        &self,
        events: &[Arc<Event>],
        append: impl FnOnce() -> Result<(), partybus::journal::JournalError>,
    ) -> Result<(), partybus::journal::JournalError> {
        let began = Instant::now();
        let r = append();
        let ns = began.elapsed().as_nanos() as u64;
        self.nanos.fetch_add(ns, Ordering::Relaxed);
        self.max.fetch_max(ns, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        r
    }
}

impl Journal for Timed {
    fn append(&self, events: &[Arc<Event>]) -> Result<(), partybus::journal::JournalError> {
        self.time(events, || self.inner.append(events))
    }

    fn stores_json(&self) -> bool {
        self.inner.stores_json()
    }

    fn append_encoded(
        &self,
        events: &[Arc<Event>],
        json: &[String],
    ) -> Result<(), partybus::journal::JournalError> {
        self.time(events, || self.inner.append_encoded(events, json))
    }

    fn replay(
        &self,
        after: u64,
        f: &mut dyn FnMut(&Arc<Event>),
    ) -> Result<u64, partybus::journal::JournalError> {
        self.inner.replay(after, f)
    }

    fn party_events(
        &self,
        party_id: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Event>>, partybus::journal::JournalError> {
        self.inner.party_events(party_id, since, limit)
    }
}

/// A word without digits, unique per client and request (digits would read
/// as guest counts or budgets and start a planning wave).
fn letters(n: u64, c: usize) -> String {
    let mut v = n * 64 + c as u64;
    let mut s = String::new();
    loop {
        s.push(char::from(b'a' + (v % 26) as u8));
        v /= 26;
        if v == 0 {
            return s;
        }
    }
}

// ---- recovery -----------------------------------------------------------------

/// Event sequences of parties the real agents planned, one per input set.
fn templates() -> Vec<Vec<Arc<Event>>> {
    let journal = Arc::new(MemoryJournal::new());
    let app = App::start_new(Config {
        journal: journal.clone(),
        compact_threshold: None,
        ..Config::default()
    })
    .expect("app");
    let sets: [&[&str]; 6] = [
        &[
            "jungle theme party for 75 guests",
            "chocolate cake, budget around $2000",
        ],
        &[
            "space party for 20 kids in Austin",
            "tacos and burritos",
            "a dj",
        ],
        &["princess party", "vegan cupcakes", "outdoor venue please"],
        &["pirate party for 30 guests", "budget $900"],
        &[
            "dinosaur party",
            "balloons and a magician",
            "pizza for everyone",
        ],
        &[
            "superhero party for 12 kids",
            "face painting",
            "budget around $600",
        ],
    ];
    let mut out = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        let id = format!("tpl{i}");
        let ack = app
            .create_party(
                NewParty {
                    party_id: Some(id.clone()),
                    initial_inputs: set
                        .iter()
                        .map(|t| NewInput {
                            content: t.to_string(),
                            ..NewInput::default()
                        })
                        .collect(),
                    ..NewParty::default()
                },
                None,
            )
            .expect("create");
        assert!(app.wait_settled(&id, ack.seq, Duration::from_secs(30)));
        out.push(app.events(&id, 0, 100_000).expect("events"));
    }
    app.stop();
    out
}

/// Copies a template's events for party `party`, from `seq` on.
fn copy(template: &[Arc<Event>], party: &str, seq: &mut u64) -> Vec<Arc<Event>> {
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut seqs: HashMap<u64, u64> = HashMap::new();
    template
        .iter()
        .map(|e| {
            *seq += 1;
            let id = format!("evt_{:012x}", *seq);
            ids.insert(&e.event_id, id.clone());
            seqs.insert(e.seq, *seq);
            let mut ev = (**e).clone();
            ev.event_id = id;
            ev.seq = *seq;
            ev.party_id = party.to_string();
            ev.causation_id = e.causation_id.as_deref().and_then(|c| ids.get(c).cloned());
            if let Payload::AgentShouldExecute(p) = &mut ev.payload {
                p.basis_seq = seqs.get(&p.basis_seq).copied().unwrap_or(0);
            }
            Arc::new(ev)
        })
        .collect()
}

fn recovery() {
    // PARTYBUS_BENCH_DIR keeps the data set between runs (for profiling).
    let keep = std::env::var_os("PARTYBUS_BENCH_DIR").map(PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| temp_dir("recovery"));
    if keep.is_some() && dir.join(partybus::journal::DB_FILE).exists() {
        println!("reusing {}", dir.display());
    } else {
        write_parties(&dir);
    }
    replay_compact_start(&dir);
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn write_parties(dir: &std::path::Path) {
    let templates = templates();
    let per_party: usize = templates.iter().map(Vec::len).sum::<usize>() / templates.len();
    println!(
        "writing {PARTIES} planned parties (about {} events each) ...",
        per_party
    );
    let began = Instant::now();
    let mut events_written = 0u64;
    {
        let journal = SqliteJournal::open(dir, Durability::Normal).expect("journal");
        let mut seq = 0u64;
        let mut batch = Vec::with_capacity(4096);
        for p in 0..PARTIES {
            let party = format!("fp2026{p:08X}");
            batch.extend(copy(&templates[p % templates.len()], &party, &mut seq));
            if batch.len() >= 4096 {
                journal.append(&batch).expect("append");
                events_written += batch.len() as u64;
                batch.clear();
            }
        }
        journal.append(&batch).expect("append");
        events_written += batch.len() as u64;
    }
    let size = std::fs::metadata(dir.join(partybus::journal::DB_FILE)).map_or(0, |m| m.len());
    println!(
        "wrote {events_written} events ({:.0} MB) in {:.1?}",
        size as f64 / 1e6,
        began.elapsed()
    );
}

fn replay_compact_start(dir: &std::path::Path) {
    let journal = SqliteJournal::open(dir, Durability::Normal).expect("journal");
    if journal.snapshot_meta().expect("meta").is_some() {
        println!(
            "(the data set is compacted already: the replay covers what follows the snapshot)"
        );
    }
    let began = Instant::now();
    let rebuilt = partybus::recovery::rebuild(&journal).expect("replay");
    let t = began.elapsed();
    println!(
        "replay of {} events into {} parties: {t:.2?} ({:.0} events/s; per 1,000,000 events: {:.2} s)",
        rebuilt.events_replayed,
        rebuilt.store.len(),
        rebuilt.events_replayed as f64 / t.as_secs_f64(),
        t.as_secs_f64() * 1e6 / rebuilt.events_replayed.max(1) as f64
    );
    drop(rebuilt);
    if std::env::var_os("PARTYBUS_BENCH_NO_COMPACT").is_some() {
        return;
    }
    let began = Instant::now();
    let report = if journal.snapshot_meta().expect("meta").is_some()
        && std::env::var_os("PARTYBUS_BENCH_RECOMPACT").is_none()
    {
        partybus::journal::CompactReport::default()
    } else {
        partybus::recovery::compact(&journal).expect("compact")
    };
    println!(
        "compaction: {} party snapshots in {:.2?}",
        report.parties,
        began.elapsed()
    );
    drop(journal);

    let journal = SqliteJournal::open(dir, Durability::Normal).expect("journal");
    let began = Instant::now();
    let rebuilt = partybus::recovery::rebuild(&journal).expect("rebuild");
    println!(
        "  of which loading {} snapshots: {:.2?}",
        rebuilt.snapshot_parties,
        began.elapsed()
    );
    drop(rebuilt);
    let began = Instant::now();
    let app = App::start_new(Config {
        journal: Arc::new(journal),
        compact_threshold: None,
        ..Config::default()
    })
    .expect("app");
    let t = began.elapsed();
    let parties = app.stats().expect("stats").total_parties;
    println!("  App::start in this process (allocator and page cache warm): {t:.2?}");
    // Restored results are decoded on first read: what the first reader of
    // each party pays (one thread).
    let began = Instant::now();
    let mut decoded = 0usize;
    for p in 0..PARTIES {
        if let Some(party) = app.party(&format!("fp2026{p:08X}")) {
            decoded += usize::from(party.final_plan.get().is_some());
            decoded += usize::from(party.budget.get().is_some());
            decoded += party
                .agents
                .values()
                .filter(|a| a.result.get().is_some())
                .count();
        }
    }
    let t = began.elapsed();
    println!(
        "  first read of every restored party's results ({decoded} values decoded, one thread): {t:.2?}, {:.1} µs per party",
        t.as_secs_f64() * 1e6 / PARTIES as f64
    );
    app.stop();
    drop(app);
    cold_start(dir, parties);
}

/// Start-up as an operator sees it: the `partybus` binary started afresh on
/// the compacted data, timed from spawn until it logs `ready` (its journal
/// opened, every party restored, agents running, `/readyz` answering 200).
/// A fresh process pays for its memory page by page, which a start-up
/// inside this process, after the rebuilds above, does not.
fn cold_start(dir: &std::path::Path, parties: usize) {
    const RUNS: usize = 3;
    let mut times = Vec::with_capacity(RUNS);
    let mut peak_kb = 0u64;
    for _ in 0..RUNS {
        let began = Instant::now();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_partybus"))
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--log-level",
                "info",
            ])
            .arg("--data-dir")
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn partybus");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut ready = None;
        for line in stderr.lines() {
            let line = line.expect("read the server's log");
            if line.ends_with("] ready") {
                ready = Some(began.elapsed());
                break;
            }
        }
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        peak_kb = peak_kb.max(
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0),
        );
        let _ = child.kill();
        let _ = child.wait();
        times.push(ready.expect("the server exited before it was ready"));
    }
    times.sort();
    println!(
        "start-up with {parties} parties after compaction: {:.2?} (median of {RUNS} fresh `partybus serve` processes, spawn to `ready`: {}; peak RSS {} MB)",
        times[RUNS / 2],
        times
            .iter()
            .map(|t| format!("{t:.2?}"))
            .collect::<Vec<_>>()
            .join(", "),
        peak_kb / 1024
    );
}
