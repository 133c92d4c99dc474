//! Shows how far a journal replay has got (start-up recovery, `partybus
//! compact`): on a terminal one line redrawn in place, otherwise a log line
//! every [`LOG_EVERY`], and the systemd `STATUS=` either way.
//!
//! Owns when and how progress is shown; the counting happens in
//! [`crate::recovery`], which calls [`ReplayReporter::report`] at most every
//! [`crate::recovery::PROGRESS_INTERVAL`]. Decides from the reports' own
//! elapsed times (no clock of its own), so it is tested without waiting.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::notify::Notifier;
use crate::recovery::ReplayProgress;

/// Time between two progress log lines when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// Time between two `STATUS=` notifications.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Shows replay progress; install with
/// [`crate::recovery::set_progress_observer`].
#[derive(Debug)]
pub struct ReplayReporter {
    /// What is being done, e.g. `replaying journal`.
    label: String,
    /// Redraw one line on stderr (a terminal) rather than log.
    terminal: bool,
    /// Where `STATUS=` goes (disabled outside systemd).
    notifier: Arc<Notifier>,
    /// What was shown so far, for the current replay.
    shown: Mutex<Shown>,
}

/// When each kind of output last went out (elapsed time of that report).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Shown {
    line_drawn: bool,
    last_log: Option<Duration>,
    last_status: Option<Duration>,
}

/// What one report shows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Show {
    draw: bool,
    end_line: bool,
    log: bool,
    status: bool,
}

impl ReplayReporter {
    /// A reporter labelling its lines `label`; `terminal` when stderr is one
    /// (and the logs are text).
    pub fn new(label: &str, terminal: bool, notifier: Arc<Notifier>) -> ReplayReporter {
        ReplayReporter {
            label: label.to_string(),
            terminal,
            notifier,
            shown: Mutex::new(Shown::default()),
        }
    }

    /// Shows `p` as due.
    pub fn report(&self, p: &ReplayProgress) {
        let show = {
            let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            let show = decide(&mut shown, self.terminal, p);
            if p.finished {
                // The next replay (a later compaction) starts afresh.
                *shown = Shown::default();
            }
            show
        };
        let text = line(&self.label, p);
        if show.draw {
            let mut err = std::io::stderr().lock();
            let end = if show.end_line { "\n" } else { "" };
            // `\x1b[K` clears what a longer previous line left behind.
            let _ = write!(err, "\r{text}\x1b[K{end}");
            let _ = err.flush();
        }
        if show.log {
            log::info!("{text}");
        }
        if show.status {
            self.notifier.status(&status(&self.label, p));
        }
    }
}

/// What to show for `p`, given what was shown, and records it.
fn decide(shown: &mut Shown, terminal: bool, p: &ReplayProgress) -> Show {
    let due = |last: Option<Duration>, every: Duration| match last {
        None => p.elapsed >= every,
        Some(at) => p.elapsed.saturating_sub(at) >= every,
    };
    let mut show = Show::default();
    if terminal {
        // A replay that ended before a line was drawn shows nothing.
        show.draw = !p.finished || shown.line_drawn;
        show.end_line = p.finished && shown.line_drawn;
        shown.line_drawn |= show.draw;
    } else if p.finished {
        // The last line only closes a replay that logged its progress.
        show.log = shown.last_log.is_some();
    } else if due(shown.last_log, LOG_EVERY) {
        show.log = true;
        shown.last_log = Some(p.elapsed);
    }
    if p.finished || shown.last_status.is_none() || due(shown.last_status, STATUS_EVERY) {
        show.status = true;
        shown.last_status = Some(p.elapsed);
    }
    show
}

/// `replaying journal: 120000/400000 events (30%), 2.1 s`; without a known
/// total `replaying journal: 120000 events, 2.1 s`; at the end `replaying
/// journal: done, 400000 events in 7.0 s`.
pub fn line(label: &str, p: &ReplayProgress) -> String {
    let secs = p.elapsed.as_secs_f64();
    if p.finished {
        return format!("{label}: done, {} events in {secs:.1} s", p.done);
    }
    match (p.total, p.percent()) {
        (Some(total), Some(pct)) => format!(
            "{label}: {}/{total} events ({pct}%), {secs:.1} s",
            p.done.min(total)
        ),
        _ => format!("{label}: {} events, {secs:.1} s", p.done),
    }
}

/// The short `STATUS=` text: `replaying journal 40%`.
fn status(label: &str, p: &ReplayProgress) -> String {
    match (p.finished, p.percent()) {
        (true, _) => format!("{label}: done, {} events", p.done),
        (false, Some(pct)) => format!("{label} {pct}%"),
        (false, None) => format!("{label}: {} events", p.done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, done: u64, finished: bool) -> ReplayProgress {
        ReplayProgress {
            done,
            total: Some(400_000),
            elapsed: Duration::from_secs(secs),
            finished,
        }
    }

    #[test]
    fn lines_say_how_far_and_how_long() {
        let mut p = at(2, 120_000, false);
        p.elapsed = Duration::from_millis(2_100);
        assert_eq!(
            line("replaying journal", &p),
            "replaying journal: 120000/400000 events (30%), 2.1 s"
        );
        assert_eq!(status("replaying journal", &p), "replaying journal 30%");
        p.total = None;
        assert_eq!(
            line("replaying journal", &p),
            "replaying journal: 120000 events, 2.1 s"
        );
        assert_eq!(
            line("replaying journal", &at(7, 400_000, true)),
            "replaying journal: done, 400000 events in 7.0 s"
        );
    }

    #[test]
    fn off_a_terminal_a_line_is_logged_every_five_seconds() {
        let mut shown = Shown::default();
        let logged: Vec<u64> = (0..=12)
            .filter(|s| decide(&mut shown, false, &at(*s, s * 1000, false)).log)
            .collect();
        assert_eq!(logged, [5, 10]);
        assert!(decide(&mut shown, false, &at(13, 13_000, true)).log);
        // A replay too short to log anything logs no last line either.
        let mut quiet = Shown::default();
        assert!(!decide(&mut quiet, false, &at(1, 10, false)).log);
        assert!(!decide(&mut quiet, false, &at(1, 20, true)).log);
    }

    #[test]
    fn on_a_terminal_the_line_is_redrawn_and_ended_once() {
        let mut shown = Shown::default();
        let first = decide(&mut shown, true, &at(0, 10, false));
        assert!(first.draw && !first.end_line && !first.log);
        let last = decide(&mut shown, true, &at(1, 20, true));
        assert!(last.draw && last.end_line);
        let mut quick = Shown::default();
        assert_eq!(
            decide(&mut quick, true, &at(0, 0, true)),
            Show {
                status: true,
                ..Show::default()
            }
        );
    }

    #[test]
    fn status_goes_out_first_then_every_second_and_at_the_end() {
        let mut shown = Shown::default();
        let mut sent = Vec::new();
        for ms in [0u64, 250, 500, 1_000, 1_250, 2_100] {
            let mut p = at(0, ms, false);
            p.elapsed = Duration::from_millis(ms);
            if decide(&mut shown, false, &p).status {
                sent.push(ms);
            }
        }
        assert_eq!(sent, [0, 1_000, 2_100]);
        assert!(decide(&mut shown, false, &at(2, 1, true)).status);
    }
}
