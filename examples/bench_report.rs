//! Adds one benchmark run to `BENCHMARKS.md` (used by `scripts/bench.sh`): a
//! dated section with the machine (cores, CPU model), rustc and the git
//! commit, then one table of closed-loop `partybus loadgen` runs, one of
//! open-loop runs (`--rate`: the latency-vs-throughput curve), one of
//! criterion benchmarks and the summary lines of the benches with their own
//! `main`.
//!
//! Usage: `cargo run --release --example bench_report -- RUN_DIR OUT.md [SINCE_EPOCH_S]`
//! - `RUN_DIR/runs.tsv`: one line per loadgen run, `name<TAB>description`,
//!   with the run's `--json` output in `RUN_DIR/<name>.json` (a run whose
//!   `open_loop` is set goes to the open-loop table);
//! - criterion results under `$CRITERION_DIR/*/new/` (default
//!   `target/criterion`) whose files are newer than `SINCE_EPOCH_S` (all of
//!   them when it is absent);
//! - `RUN_DIR/extra.txt`, if present: the summary lines of the benches with
//!   their own `main` (memory, ws_clients), quoted as they are.
//!
//! `OUT.md` is a record of dated runs, newest first, and keeps every earlier
//! one: the new section goes right below its [`MARKER`] line. A missing
//! `OUT.md` is created with a header and the marker; an existing one without
//! the marker is refused, never overwritten.
//!
//! Reads files and runs `rustc --version`, `date` and `git`; writes only
//! `OUT.md` (never the README: it links to `BENCHMARKS.md`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The line of `BENCHMARKS.md` below which each new run is inserted.
const MARKER: &str = "<!-- scripts/bench.sh adds each new run below this line, newest first -->";

/// What a new `BENCHMARKS.md` starts with, above the marker.
const HEADER: &str = "# partybus benchmarks\n\n\
Dated benchmark runs, newest first. `scripts/bench.sh` adds a section for each run \
below the marker line; nothing above or below it is rewritten.\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(run_dir), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: bench_report RUN_DIR OUT.md [SINCE_EPOCH_S]");
        std::process::exit(2);
    };
    let since = args
        .get(2)
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let mut md = String::new();
    machine(&mut md);
    loadgen(&mut md, Path::new(run_dir));
    let criterion_dir = std::env::var_os("CRITERION_DIR")
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    criterion(&mut md, &criterion_dir, since);
    if let Ok(extra) = std::fs::read_to_string(Path::new(run_dir).join("extra.txt")) {
        if !extra.trim().is_empty() {
            let _ = writeln!(
                md,
                "\n### memory and WebSocket fan-out (`cargo bench --bench memory`, `--bench ws_clients`)\n"
            );
            let _ = writeln!(md, "```\n{}\n```", extra.trim());
        }
    }
    if let Err(e) = insert_run(Path::new(out), &md) {
        eprintln!("bench_report: {out}: {e}");
        std::process::exit(1);
    }
    println!("added the run to {out}");
}

/// Inserts `run` right below the marker line of `out`, creating the file
/// (header and marker) when it does not exist.
fn insert_run(out: &Path, run: &str) -> Result<(), String> {
    let text = match std::fs::read_to_string(out) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{HEADER}\n{MARKER}\n"),
        Err(e) => return Err(e.to_string()),
    };
    let Some(at) = text.find(MARKER) else {
        return Err(format!("no line {MARKER:?} to add the run below"));
    };
    let after = at + MARKER.len();
    let rest = text[after..].trim_start_matches('\n');
    let updated = format!(
        "{}\n\n{}\n{}{}",
        &text[..after],
        run.trim(),
        if rest.is_empty() { "" } else { "\n" },
        rest
    );
    std::fs::write(out, updated).map_err(|e| e.to_string())
}

fn command(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The run's heading (its date) and the machine it ran on.
fn machine(md: &mut String) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let nproc = std::thread::available_parallelism().map_or(1, usize::from);
    let commit = command("git", &["rev-parse", "--short=12", "HEAD"]);
    let dirty = !command("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let branch = command("git", &["rev-parse", "--abbrev-ref", "HEAD"]);
    let date = command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let _ = writeln!(md, "## {date}: `scripts/bench.sh`\n");
    let _ = writeln!(
        md,
        "Loadgen against a release `partybus serve --port 0` on the same machine (a \
         fresh server and journal per row, default durability `normal`), then the \
         criterion suite. Figures depend on the machine and on what else it was \
         running: each loadgen row gives the 1-minute load average before and after it.\n"
    );
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| machine | {nproc} cores, {cpu} |");
    let _ = writeln!(md, "| rustc | {} |", command("rustc", &["--version"]));
    let _ = writeln!(
        md,
        "| commit | `{commit}`{} ({branch}) |",
        if dirty { " + local changes" } else { "" }
    );
    let _ = writeln!(md);
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// The step that characterises a run's mode.
fn key_step(v: &Value) -> &'static str {
    match v["mode"].as_str() {
        Some("e2e") => "plan",
        Some("create") => "create",
        Some("read") => "status",
        Some("input") => "add_input",
        _ => "",
    }
}

/// A run's CPU use (`loadgen_cores` or `server_cores`), as a table cell.
fn cores(v: &Value, key: &str) -> String {
    v["cpu"][key]
        .as_f64()
        .map_or("n/a".to_string(), |c| format!("{c:.2} cores"))
}

/// A run's 1-minute load average (`load_before` or `load_after`).
fn load(v: &Value, key: &str) -> String {
    v["machine"][key][0]
        .as_f64()
        .map_or("n/a".to_string(), |l| format!("{l:.2}"))
}

fn loadgen(md: &mut String, dir: &Path) {
    let Ok(runs) = std::fs::read_to_string(dir.join("runs.tsv")) else {
        return;
    };
    // (description, JSON) of each run, in the order they ran.
    let runs: Vec<(&str, Option<Value>)> = runs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (name, what) = line.split_once('\t').unwrap_or((line, ""));
            let v = std::fs::read(dir.join(format!("{name}.json")))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            (what, v)
        })
        .collect();
    let _ = writeln!(md, "### partybus loadgen\n");
    let _ = writeln!(
        md,
        "| run | conc. | parties/s | req/s | step | p50 ms | p95 ms | p99 ms | max ms | errors | loadgen CPU | server CPU | load before → after |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (what, v) in &runs {
        let Some(v) = v else {
            let _ = writeln!(md, "| {what} | | | | | | | | | failed | | | |");
            continue;
        };
        if !v["open_loop"].is_null() {
            continue;
        }
        let step = key_step(v);
        let s = &v["steps"][step];
        let _ = writeln!(
            md,
            "| {what} | {} | {:.0} | {:.0} | {step} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} → {} |",
            v["concurrency"],
            num(v, "parties_per_s"),
            num(v, "requests_per_s"),
            num(s, "p50_ms"),
            num(s, "p95_ms"),
            num(s, "p99_ms"),
            num(s, "max_ms"),
            v["error_count"],
            cores(v, "loadgen_cores"),
            cores(v, "server_cores"),
            load(v, "load_before"),
            load(v, "load_after"),
        );
    }
    let _ = writeln!(
        md,
        "\n`plan` is the time from sending `POST /party` to receiving the wave's \
         `plan_updated` on the party's WebSocket (the first one with a `seq` above the \
         create acknowledgement's). Per-step figures of every run are in the JSON files \
         `scripts/bench.sh` leaves in `{}/`.",
        dir.display()
    );
    open_loop(md, &runs);
}

/// The open-loop runs (`--rate`), one row each: the latency-vs-throughput
/// curve.
fn open_loop(md: &mut String, runs: &[(&str, Option<Value>)]) {
    let open: Vec<(&str, &Value)> = runs
        .iter()
        .filter_map(|(what, v)| v.as_ref().map(|v| (*what, v)))
        .filter(|(_, v)| !v["open_loop"].is_null())
        .collect();
    if open.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n### partybus loadgen, open loop (latency vs throughput)\n"
    );
    let _ = writeln!(
        md,
        "| run | conc. | requested/s | achieved/s | step | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | behind at end ms | never sent | errors | loadgen CPU | server CPU | load before → after |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (what, v) in open {
        let step = key_step(v);
        let s = &v["steps"][step];
        let ol = &v["open_loop"];
        let kept_up = if ol["kept_up"].as_bool() == Some(false) {
            " (**not kept up**)"
        } else {
            ""
        };
        let _ = writeln!(
            md,
            "| {what}{kept_up} | {} | {:.1} | {:.1} | {step} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} → {} |",
            v["concurrency"],
            num(ol, "requested_per_s"),
            num(ol, "achieved_per_s"),
            num(s, "p50_ms"),
            num(s, "p90_ms"),
            num(s, "p99_ms"),
            num(s, "p999_ms"),
            num(s, "max_ms"),
            num(ol, "behind_at_end_ms"),
            ol["unsent"],
            v["error_count"],
            cores(v, "loadgen_cores"),
            cores(v, "server_cores"),
            load(v, "load_before"),
            load(v, "load_after"),
        );
    }
    let _ = writeln!(
        md,
        "\nOpen loop (`partybus loadgen --rate N`): units are started at a fixed rate \
         whatever the server does, and each is timed from its *scheduled* start, so \
         the time a unit waited for a free client counts (corrected for coordinated \
         omission, as wrk2 and oha do). `behind at end` is how late the last unit \
         started; `never sent` counts units due before the end that no client could \
         start. A run that left more than 1 % unsent did not keep up."
    );
}

/// Every `new/` directory under `root` (criterion's latest results).
fn result_dirs(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if p.file_name().is_some_and(|n| n == "new") {
            out.push(p);
        } else if p.file_name().is_some_and(|n| n != "base" && n != "report") {
            result_dirs(&p, out);
        }
    }
}

fn human_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn criterion(md: &mut String, root: &Path, since: Option<SystemTime>) {
    let mut dirs = Vec::new();
    result_dirs(root, &mut dirs);
    let mut rows = Vec::new();
    for d in dirs {
        let fresh = std::fs::metadata(d.join("estimates.json"))
            .and_then(|m| m.modified())
            .is_ok_and(|t| since.is_none_or(|s| t >= s));
        if !fresh {
            continue;
        }
        let read = |f: &str| {
            std::fs::read(d.join(f))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        };
        let (Some(bench), Some(est)) = (read("benchmark.json"), read("estimates.json")) else {
            continue;
        };
        let id = bench["full_id"].as_str().unwrap_or("?").to_string();
        let mean = est["mean"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
        let elements = bench["throughput"]["Elements"].as_f64();
        let thrpt = elements.map_or(String::new(), |n| format!("{:.0}/s", n / (mean / 1e9)));
        rows.push((id, mean, thrpt));
    }
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(md, "\n### criterion (`cargo bench`)\n");
    let _ = writeln!(md, "| benchmark | mean time per iteration | throughput |");
    let _ = writeln!(md, "|---|---|---|");
    for (id, mean, thrpt) in rows {
        let _ = writeln!(md, "| `{id}` | {} | {thrpt} |", human_time(mean));
    }
    let _ = writeln!(
        md,
        "\nThroughput is elements (events, parties, requests) per second of one \
         iteration; `e2e/create_to_plan/N` runs N clients at once, so its time is \
         that of N parties in parallel."
    );
}
