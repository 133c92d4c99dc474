//! Deleting the parties a run created once its measured phase is over, so
//! long runs against a real server do not fill its party cap (`--max-parties`,
//! 503 `capacity` for real users). `DELETE …/party/{id}` with the party's
//! own token (none where the server handed out none), on the server the
//! party was created on, by as many threads as the run had clients, within
//! [`CLEANUP_TIMEOUT`].
//!
//! Times nothing the report's latencies hold: it runs after the clock
//! stopped, on its own connections. A party it could not delete is counted
//! and named by error kind, never retried past the deadline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::HttpClient;
use crate::{Target, API_PREFIX};

/// How long deleting a run's parties may take in all: a server that
/// deletes a few thousand parties a second clears a full default cap
/// (50,000) well within it; what is left is reported, not waited for.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A party the run created (its create was acknowledged), to delete.
#[derive(Debug, Clone)]
pub(crate) struct Owned {
    /// Index into the run's targets: the server it was created on.
    pub target: usize,
    pub id: String,
    /// The `party_token` of its create response, if the server gave one.
    pub token: Option<String>,
}

/// What the cleanup did (the report's `cleanup`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupReport {
    /// `--keep`: nothing was deleted.
    pub kept: bool,
    /// Parties the run created (acknowledged creates, the pool and the
    /// token probe included).
    pub parties: u64,
    /// Parties deleted (200).
    pub deleted: u64,
    /// Deletes that failed (any other answer, or no answer).
    pub failed: u64,
    /// Parties not tried before the deadline.
    pub not_attempted: u64,
    /// Failed deletes by kind (`http_<status>[_<code>]`, `timeout`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Wall time of the cleanup, seconds.
    pub elapsed_s: f64,
}

impl CleanupReport {
    /// `--keep`: the run's parties stay.
    pub(crate) fn kept(parties: u64) -> CleanupReport {
        CleanupReport {
            kept: true,
            parties,
            ..CleanupReport::default()
        }
    }

    /// One line for the text report.
    pub fn summary(&self) -> String {
        if self.kept {
            return format!("kept the {} parties created (--keep)", self.parties);
        }
        let mut s = format!(
            "deleted {} of {} parties created in {:.2} s",
            self.deleted, self.parties, self.elapsed_s
        );
        if self.failed > 0 {
            let kinds: Vec<String> = self
                .errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            s += &format!("; {} failed ({})", self.failed, kinds.join(", "));
        }
        if self.not_attempted > 0 {
            s += &format!("; {} not tried before the deadline", self.not_attempted);
        }
        s
    }
}

/// Deletes `parties` with up to `threads` threads until `timeout` passes.
pub(crate) fn delete_parties(
    targets: &[Target],
    parties: &[Owned],
    threads: usize,
    timeout: Duration,
) -> CleanupReport {
    let began = Instant::now();
    let deadline = began + timeout;
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, parties.len().max(1));
    let results: Vec<(u64, BTreeMap<String, u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // One keep-alive connection per server, opened on use.
                    let mut clients: Vec<Option<HttpClient>> =
                        targets.iter().map(|_| None).collect();
                    let (mut deleted, mut errors) = (0u64, BTreeMap::new());
                    while Instant::now() < deadline {
                        let Some(p) = parties.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let Some(slot) = clients.get_mut(p.target) else {
                            *errors.entry("unknown_target".to_string()).or_insert(0) += 1;
                            continue;
                        };
                        let client =
                            slot.get_or_insert_with(|| HttpClient::new(targets[p.target].addr));
                        match delete_one(client, p) {
                            Ok(()) => deleted += 1,
                            Err(kind) => *errors.entry(kind).or_insert(0) += 1,
                        }
                    }
                    (deleted, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| (0, BTreeMap::from([("cleanup_panic".to_string(), 1)])))
            })
            .collect()
    });
    let mut report = CleanupReport {
        parties: parties.len() as u64,
        ..CleanupReport::default()
    };
    for (deleted, errors) in results {
        report.deleted += deleted;
        for (k, n) in errors {
            report.failed += n;
            *report.errors.entry(k).or_insert(0) += n;
        }
    }
    report.not_attempted = report
        .parties
        .saturating_sub(report.deleted + report.failed);
    report.elapsed_s = began.elapsed().as_secs_f64();
    report
}

/// `DELETE …/party/{id}`; the error kind when it is not a 2xx.
fn delete_one(client: &mut HttpClient, p: &Owned) -> Result<(), String> {
    let auth = p.token.as_deref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let resp = client
        .request(
            "DELETE",
            &format!("{API_PREFIX}/party/{}", p.id),
            &headers,
            None,
        )
        .map_err(|e| e.kind().to_string())?;
    if resp.is_success() {
        Ok(())
    } else {
        Err(crate::failure_kind(&resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_say_what_was_left() {
        assert_eq!(
            CleanupReport::kept(7).summary(),
            "kept the 7 parties created (--keep)"
        );
        let r = CleanupReport {
            parties: 10,
            deleted: 7,
            failed: 2,
            not_attempted: 1,
            errors: BTreeMap::from([("http_404_party_not_found".to_string(), 2)]),
            elapsed_s: 0.5,
            kept: false,
        };
        assert_eq!(
            r.summary(),
            "deleted 7 of 10 parties created in 0.50 s; 2 failed (http_404_party_not_found 2); 1 not tried before the deadline"
        );
    }

    #[test]
    fn nothing_to_delete_is_no_work() {
        let r = delete_parties(&[], &[], 8, Duration::from_secs(1));
        assert_eq!(
            (r.parties, r.deleted, r.failed, r.not_attempted),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn an_unreachable_server_counts_failures_not_hangs() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port");
        let targets = [Target {
            url: format!("http://{addr}"),
            addr,
        }];
        let parties: Vec<Owned> = (0..3)
            .map(|i| Owned {
                target: 0,
                id: format!("p{i}"),
                token: None,
            })
            .collect();
        let r = delete_parties(&targets, &parties, 2, Duration::from_secs(5));
        assert_eq!((r.deleted, r.failed), (0, 3), "{r:?}");
        assert_eq!(r.errors.get("connect"), Some(&3), "{r:?}");
    }
}
