//! Resident memory per party: plans 100,000 jungle parties in process (no
//! journal retention) and reports the growth of RSS divided by the parties.
//!
//! Run: `cargo bench --bench memory` (`PARTIES=20000` to shorten).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use partybus::app::{NewInput, NewParty};
use partybus::journal::NullJournal;
use partybus::{App, Config};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we ignore.
    let parties: u64 = std::env::var("PARTIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let app = Arc::new(
        App::start_new(Config {
            journal: Arc::new(NullJournal),
            ..Config::default()
        })
        .expect("app"),
    );
    // Warm up allocators and lazy tables.
    plan(&app, 1_000, 4);
    let before = rss_bytes();
    let started = Instant::now();
    plan(&app, parties, 16);
    let took = started.elapsed();
    let after = rss_bytes();
    let stats = app.stats().expect("stats");
    let per_party = (after.saturating_sub(before)) as f64 / parties as f64;
    println!(
        "memory: {} parties planned in {:.2?} ({:.0} parties/s); RSS {} MiB -> {} MiB; {:.0} bytes ({:.1} KiB) per party; store holds {} parties, {} inputs, {} agent results",
        parties,
        took,
        parties as f64 / took.as_secs_f64(),
        before >> 20,
        after >> 20,
        per_party,
        per_party / 1024.0,
        stats.total_parties,
        stats.total_inputs,
        stats.total_agent_results
    );
    app.stop();
}

fn plan(app: &Arc<App>, parties: u64, clients: u64) {
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let app = app.clone();
            thread::spawn(move || {
                for _ in 0..parties / clients {
                    let ack = app
                        .create_party(
                            NewParty {
                                initial_inputs: vec![NewInput {
                                    content: "jungle theme party for 75 guests".into(),
                                    ..NewInput::default()
                                }],
                                ..NewParty::default()
                            },
                            None,
                        )
                        .expect("create");
                    assert!(app.wait_settled(&ack.party_id, ack.seq, Duration::from_secs(60)));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
}
