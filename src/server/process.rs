//! The `process_*` metrics under the Prometheus client libraries' standard
//! names (CPU time, memory, file descriptors, threads, start time), read
//! from `/proc/self` at scrape time.
//!
//! Owns reading and parsing those files and nothing else: no counters, no
//! state. The parsers are pure functions over the files' text so they are
//! tested on fixtures; a file that cannot be read or parsed (another OS, a
//! locked-down `/proc`) leaves its metrics out rather than failing the
//! scrape.

use std::fmt::Write as _;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`). The kernel
/// reports these fields in USER_HZ, fixed at 100 on every Linux
/// architecture as part of its user-space ABI (the Prometheus Go client
/// assumes the same), so no `sysconf` call (and no unsafe code) is needed.
const USER_HZ: f64 = 100.0;

/// The figures of `/proc/self/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// User plus system CPU time, clock ticks.
    cpu_ticks: u64,
    /// When the process started, clock ticks after boot.
    start_ticks: u64,
    /// Virtual memory size, bytes.
    vsize: u64,
}

/// The figures of `/proc/self/status` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Status {
    /// Resident set size, bytes (`VmRSS`).
    rss_bytes: Option<u64>,
    /// Threads (`Threads`).
    threads: Option<u64>,
}

/// `/proc/<pid>/stat`: fields 14 and 15 (`utime`, `stime`), 22
/// (`starttime`) and 23 (`vsize`). The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // `rest` starts at field 3 (state): field n is rest's (n - 3)th.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
    })
}

/// `/proc/<pid>/status`: `VmRSS:` (kB) and `Threads:`.
fn parse_status(text: &str) -> Status {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut words = value.split_whitespace();
        let number = words.next().and_then(|w| w.parse::<u64>().ok());
        match key {
            "VmRSS" => status.rss_bytes = number.and_then(|kb| kb.checked_mul(1024)),
            "Threads" => status.threads = number,
            _ => {}
        }
    }
    status
}

/// `/proc/<pid>/limits`: the soft limit of `Max open files` (`None` when
/// unlimited or missing).
fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `/proc/stat`: `btime`, the boot time in seconds since the Unix epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Appends the `process_*` metrics read from `/proc` now; leaves out any it
/// cannot read.
pub(super) fn render(out: &mut String) {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let stat = read("/proc/self/stat").as_deref().and_then(parse_stat);
    let status = read("/proc/self/status")
        .as_deref()
        .map(parse_status)
        .unwrap_or_default();
    if let Some(stat) = stat {
        metric(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            stat.cpu_ticks as f64 / USER_HZ,
        );
        metric(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            stat.vsize as f64,
        );
        if let Some(boot) = read("/proc/stat").as_deref().and_then(parse_boot_time) {
            metric(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                boot as f64 + stat.start_ticks as f64 / USER_HZ,
            );
        }
    }
    if let Some(rss) = status.rss_bytes {
        metric(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    if let Some(threads) = status.threads {
        metric(
            out,
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            threads as f64,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        // Counts the descriptor read_dir itself holds open too, as the
        // Prometheus clients do.
        metric(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = read("/proc/self/limits").as_deref().and_then(parse_max_fds) {
        metric(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, v: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `/proc/<pid>/stat` line, with a command name holding spaces
    /// and a `)`.
    const STAT: &str = "4242 (partybus (x) y) S 1 4242 4242 0 -1 4194560 2931 0 0 0 \
        1234 567 0 0 20 0 37 0 98765 1596223488 5123 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17410 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    const STATUS: &str = "Name:\tpartybus\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t 1600000 kB\nVmSize:\t 1558812 kB\nVmRSS:\t   20492 kB\n\
        RssAnon:\t    9000 kB\nThreads:\t37\nSigQ:\t0/63432\n";

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 1048576              files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_stat(STAT).expect("parses");
        assert_eq!(
            s,
            Stat {
                cpu_ticks: 1234 + 567,
                start_ticks: 98765,
                vsize: 1596223488,
            }
        );
        assert_eq!(parse_stat("4242 (partybus) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn status_gives_rss_in_bytes_and_threads() {
        let s = parse_status(STATUS);
        assert_eq!(s.rss_bytes, Some(20492 * 1024));
        assert_eq!(s.threads, Some(37));
        assert_eq!(parse_status("Name:\tx\n"), Status::default());
    }

    #[test]
    fn limits_give_the_soft_open_files_limit() {
        assert_eq!(parse_max_fds(LIMITS), Some(1024));
        let unlimited = LIMITS.replace("1024                 1048576", "unlimited unlimited");
        assert_eq!(parse_max_fds(&unlimited), None);
        assert_eq!(parse_max_fds(""), None);
    }

    #[test]
    fn boot_time_comes_from_btime() {
        let stat = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1764700000\nprocesses 7\n";
        assert_eq!(parse_boot_time(stat), Some(1_764_700_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_described() {
        let mut out = String::new();
        render(&mut out);
        for name in [
            "process_cpu_seconds_total",
            "process_virtual_memory_bytes",
            "process_start_time_seconds",
            "process_resident_memory_bytes",
            "process_threads",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(out.contains(&format!("\n{name} ")), "{name} missing: {out}");
        }
    }
}
