//! Durability of the SQLite journal: `kill -9` of the built binary in the
//! middle of concurrent writes, replay equivalence after a restart,
//! resumption of interrupted planning, idempotent retries across restarts,
//! compaction (then restart, then equivalence, and deleted parties gone from
//! the file), and refusal of foreign or corrupt files.
//!
//! Loopback only; every loop is bounded in count and time.

use crate::util::{self, Served, TempDir, API, BIN, WAIT};

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use partybus::app::{NewInput, NewParty};
use partybus::event::{Draft, InputAdded, Payload, SourceType};
use partybus::journal::{Durability, Journal, MemoryJournal, SqliteJournal, DB_FILE};
use partybus::server::{serve, AuthMode, ServerConfig};
use partybus::{App, Config};
use serde_json::{json, Value};

// ---- the binary -------------------------------------------------------------

/// `partybus serve` on `dir` (auth off), ready.
fn spawn_serve(dir: &Path, extra: &[&str]) -> Served {
    let dir = dir.to_str().expect("a UTF-8 temp dir");
    let args = [&["--port", "0", "--auth", "off", "--data-dir", dir], extra].concat();
    Served::start(&args, &[])
}

/// One request over a fresh connection; `Err` when the server is gone.
fn try_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), std::io::Error> {
    let body = body.map(|b| b.to_string());
    let mut headers = headers.to_vec();
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let r = util::try_request(
        addr,
        method,
        path,
        &headers,
        body.as_deref().map(str::as_bytes),
    )?;
    Ok((r.status, r.body))
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let (status, body) = try_call(addr, method, path, body, &[]).expect("request");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

// ---- kill -9 ----------------------------------------------------------------

/// Writers add inputs (each one event) and create parties with three initial
/// inputs (one atomic batch) until the server dies; the test kills it with
/// SIGKILL at a random moment, restarts it on the same data directory, and
/// checks that every acknowledged write is there and no batch is partial.
#[test]
fn kill_9_during_concurrent_writes_loses_nothing_acknowledged() {
    let dir = TempDir::new("durability-kill9");
    let began = Instant::now();
    const ROUNDS: usize = 5;
    const WRITERS: usize = 8;
    let acked_inputs: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let acked_parties: Arc<Mutex<Vec<String>>> = Arc::default();
    let attempted_parties: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..ROUNDS {
        let served = spawn_serve(&dir.0, &["--durability", "normal"]);
        let addr = served.addr;
        // Everything acknowledged so far (earlier rounds) is present.
        verify(addr, &acked_inputs, &acked_parties, &attempted_parties);
        let (status, _) = call(
            addr,
            "POST",
            &format!("{API}/party"),
            Some(
                &json!({"party_id": format!("r{round}"), "initial_inputs": [{"content": "jungle party for 20 kids"}]}),
            ),
        );
        assert_eq!(status, 201);
        acked_parties.lock().unwrap().push(format!("r{round}"));
        attempted_parties.lock().unwrap().push(format!("r{round}"));
        let stop = Arc::new(AtomicBool::new(false));
        // Each acknowledged input is also reported here, so that the kill can
        // wait for the writers' progress rather than for time to pass.
        let (acked_tx, acked_rx) = mpsc::channel::<()>();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (acked_inputs, acked_parties, attempted) = (
                    acked_inputs.clone(),
                    acked_parties.clone(),
                    attempted_parties.clone(),
                );
                let stop = stop.clone();
                let acked_tx = acked_tx.clone();
                std::thread::spawn(move || {
                    let deadline = Instant::now() + WAIT;
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                            return;
                        }
                        let ok = if n % 10 == 9 {
                            let party = format!("r{round}w{w}n{n}");
                            attempted.lock().unwrap().push(party.clone());
                            let body = json!({"party_id": party, "initial_inputs": [
                                {"content": "cake", "input_id": "a"},
                                {"content": "tacos", "input_id": "b"},
                                {"content": "dj", "input_id": "c"}]});
                            match try_call(addr, "POST", &format!("{API}/party"), Some(&body), &[]) {
                                Ok((201, _)) => {
                                    acked_parties.lock().unwrap().push(party);
                                    true
                                }
                                _ => false,
                            }
                        } else {
                            let id = format!("w{w}n{n}");
                            let body = json!({"content": format!("input {n} from writer {w}"), "input_id": id});
                            let path = format!("{API}/party/r{round}/input");
                            match try_call(addr, "POST", &path, Some(&body), &[]) {
                                Ok((201, _)) => {
                                    acked_inputs.lock().unwrap().push((format!("r{round}"), id));
                                    let _ = acked_tx.send(());
                                    true
                                }
                                _ => false,
                            }
                        };
                        if !ok {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop(acked_tx);
        // Kill at a pseudo-random point while the writers are busy: after
        // 11 to 40 acknowledged inputs of this round (so more than 50 over
        // the rounds), whatever the machine's speed.
        let nanos = Instant::now().elapsed().subsec_nanos() ^ began.elapsed().subsec_nanos();
        let kill_after = 11 + nanos % 30;
        for n in 0..kill_after {
            if let Err(e) = acked_rx.recv_timeout(WAIT) {
                panic!("round {round}: the writers stopped after {n} acknowledgements ({e})");
            }
        }
        drop(served); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
    }
    let served = spawn_serve(&dir.0, &[]);
    verify(
        served.addr,
        &acked_inputs,
        &acked_parties,
        &attempted_parties,
    );
    let n = acked_inputs.lock().unwrap().len();
    assert!(n > 50, "the writers got only {n} acknowledgements");
    // What the kill -9 rounds left replays to digests that agree; CI keeps
    // a copy (PARTYBUS_KEEP_DATA) and verifies it again.
    drop(served);
    crate::replay::assert_verifies(&dir.0);
    crate::replay::keep_data(&dir.0);
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "took {:?}",
        began.elapsed()
    );
}

fn verify(
    addr: SocketAddr,
    acked_inputs: &Mutex<Vec<(String, String)>>,
    acked_parties: &Mutex<Vec<String>>,
    attempted_parties: &Mutex<Vec<String>>,
) {
    let mut present: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for party in attempted_parties.lock().unwrap().iter() {
        let (status, v) = call(addr, "GET", &format!("{API}/party/{party}/status"), None);
        if status == 404 {
            assert!(
                !acked_parties.lock().unwrap().contains(party),
                "acknowledged party {party} is lost"
            );
            continue;
        }
        assert_eq!(status, 200, "{v}");
        let inputs: HashSet<String> = v["party"]["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| i["input_id"].as_str().unwrap_or_default().to_string())
            .collect();
        if party.contains('w') {
            // A creation is one batch: all three initial inputs or nothing.
            let want: HashSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
            assert_eq!(inputs, want, "party {party} is half-applied");
        }
        // The party's log and its state agree: one version per event.
        let (_, ev) = call(
            addr,
            "GET",
            &format!("{API}/party/{party}/events?limit=1000"),
            None,
        );
        let seqs: Vec<u64> = ev["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{party}: {seqs:?}");
        if !ev["has_more"].as_bool().unwrap_or(true) {
            // Agents may still be running: count what the status saw.
            let last = v["party"]["last_seq"].as_u64().unwrap_or(0);
            let seen = seqs.iter().filter(|s| **s <= last).count() as u64;
            assert_eq!(v["party"]["version"].as_u64(), Some(seen), "{party}");
        }
        present.insert(party.clone(), inputs);
    }
    for (party, id) in acked_inputs.lock().unwrap().iter() {
        assert!(
            present.get(party).is_some_and(|ids| ids.contains(id)),
            "acknowledged input {id} of {party} is lost"
        );
    }
}

// ---- in process ---------------------------------------------------------------

fn sqlite_app(dir: &Path) -> App {
    let journal = SqliteJournal::open(dir, Durability::Normal).expect("journal");
    App::start_new(Config {
        journal: Arc::new(journal),
        compact_threshold: None,
        ..Config::default()
    })
    .expect("app starts")
}

fn input(text: &str) -> NewInput {
    NewInput {
        content: text.to_string(),
        ..NewInput::default()
    }
}

/// Every party as JSON plus the store statistics.
fn state(app: &App) -> (BTreeMap<String, Value>, Value) {
    let stats = app.stats().expect("stats");
    let mut parties = BTreeMap::new();
    for id in ["jungle", "space", "pirates", "gone", "late"] {
        if let Some(p) = app.party(id) {
            parties.insert(id.to_string(), serde_json::to_value(&*p).expect("json"));
        }
    }
    (parties, serde_json::to_value(stats).expect("json"))
}

fn plan_some_parties(app: &App) {
    for (id, texts) in [
        (
            "jungle",
            vec!["jungle theme party for 75 guests", "chocolate cake"],
        ),
        (
            "space",
            vec!["space party for 20 kids in Austin", "budget $1500"],
        ),
        (
            "pirates",
            vec!["pirate party", "tacos for everyone", "a dj"],
        ),
        ("gone", vec!["secret-marker-7f3a9 princess party"]),
    ] {
        let ack = app
            .create_party(
                NewParty {
                    party_id: Some(id.to_string()),
                    initial_inputs: texts.into_iter().map(input).collect(),
                    ..NewParty::default()
                },
                None,
            )
            .expect("create");
        assert!(app.wait_settled(id, ack.seq, WAIT), "{id} settles");
    }
    let ack = app
        .add_input("jungle", input("outdoor venue please"), None, None)
        .expect("add");
    assert!(app.wait_settled("jungle", ack.seq, WAIT));
}

fn completed_runs(app: &App, party: &str) -> usize {
    app.events(party, 0, 100_000)
        .expect("events")
        .iter()
        .filter(|e| matches!(e.payload, Payload::AgentCompleted(_)))
        .count()
}

#[test]
fn a_restart_replays_to_the_same_state_without_rerunning_agents() {
    let dir = TempDir::new("durability-equivalence");
    let app = sqlite_app(&dir.0);
    plan_some_parties(&app);
    let before = state(&app);
    let runs = completed_runs(&app, "jungle");
    let last = app.stats().expect("stats").last_seq;
    app.stop();
    drop(app);

    let app = sqlite_app(&dir.0);
    assert!(state(&app) == before, "state after the restart differs");
    // No agent ran again: nothing new was journaled.
    assert!(app.wait_settled("jungle", last, WAIT));
    assert_eq!(app.stats().expect("stats").last_seq, last);
    assert_eq!(completed_runs(&app, "jungle"), runs);
    // And planning goes on from there: a new input runs only what it affects.
    let ack = app
        .add_input("jungle", input("vegan cupcakes too"), None, None)
        .expect("add");
    assert!(app.wait_settled("jungle", ack.seq, WAIT));
    let ran: Vec<String> = app
        .events("jungle", ack.seq, 1000)
        .expect("events")
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::AgentShouldExecute(p) => Some(p.agent_name.as_str().to_string()),
            _ => None,
        })
        .collect();
    assert!(!ran.contains(&"venue_agent".to_string()), "{ran:?}");
    assert!(ran.contains(&"cake_agent".to_string()), "{ran:?}");
}

/// A rotated token is journaled like any other event: after a restart, and
/// after a compaction folds it into a snapshot, the party holds the new
/// token's hash (the server checks presented tokens against it).
#[test]
fn a_rotated_token_survives_restart_and_compaction() {
    let (old, new) = ("a".repeat(64), "b".repeat(64));
    let hash = |app: &App| app.party("jungle").expect("party").token_sha256.clone();
    let dir = TempDir::new("durability-rotation");
    let app = sqlite_app(&dir.0);
    let created = app
        .create_party(
            NewParty {
                party_id: Some("jungle".into()),
                initial_inputs: vec![input("jungle theme party for 20 guests")],
                token_sha256: Some(old.clone()),
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled("jungle", created.seq, WAIT));
    app.rotate_token("jungle", new.clone(), None)
        .expect("rotate");
    assert_eq!(hash(&app), Some(new.clone()));
    app.stop();
    drop(app);

    let app = sqlite_app(&dir.0);
    assert_eq!(hash(&app), Some(new.clone()), "after a restart");
    app.compact().expect("compact");
    app.stop();
    drop(app);

    let app = sqlite_app(&dir.0);
    assert_eq!(hash(&app), Some(new), "after compaction and a restart");
    app.stop();
}

#[test]
fn planning_interrupted_by_a_crash_is_resumed_after_the_restart() {
    let dir = TempDir::new("durability-resume");
    let app = sqlite_app(&dir.0);
    plan_some_parties(&app);
    let theme_runs = |app: &App| {
        app.events("space", 0, 100_000)
            .expect("events")
            .iter()
            .filter(|e| {
                matches!(&e.payload, Payload::AgentCompleted(c) if c.agent_name.as_str() == "theme_agent")
            })
            .count()
    };
    let themes = theme_runs(&app);
    let last = app.stats().expect("stats").last_seq;
    app.stop();
    drop(app);
    // The crash: an input was committed, and nothing after it.
    {
        let journal = SqliteJournal::open(&dir.0, Durability::Normal).expect("journal");
        let draft = Draft::command(
            "space",
            "corr_crash",
            Payload::InputAdded(InputAdded {
                copied_from: None,
                input_id: "crash-1".into(),
                content: "we need a chocolate cake".into(),
                source_type: SourceType::Text,
                tags: vec![],
                added_by: "user".into(),
                metadata: Default::default(),
                image_url: None,
            }),
        );
        let ev = draft.stamp(last + 1, partybus::event::now_rfc3339());
        journal.append(&[Arc::new(ev)]).expect("append");
    }
    let app = sqlite_app(&dir.0);
    assert!(
        app.wait_settled("space", last + 1, WAIT),
        "resumed wave settles"
    );
    let p = app.party("space").expect("party");
    let cake = p
        .agents
        .iter()
        .find(|(a, _)| a.as_str() == "cake_agent")
        .map(|(_, s)| s.status);
    assert_eq!(
        cake.map(|s| s.as_str()),
        Some("completed"),
        "the cake agent ran"
    );
    let plan = p.final_plan.as_deref().expect("plan");
    assert!(!plan.missing_agents.contains(&"cake_agent".to_string()));
    assert_eq!(theme_runs(&app), themes, "the theme agent is not affected");
    // Another restart resumes nothing more.
    let last = app.stats().expect("stats").last_seq;
    app.stop();
    drop(app);
    let app = sqlite_app(&dir.0);
    assert!(app.wait_settled("space", last, WAIT));
    assert_eq!(app.stats().expect("stats").last_seq, last);
}

#[test]
fn a_fork_interrupted_by_a_crash_resumes_only_what_its_changes_need() {
    let dir = TempDir::new("durability-fork");
    let app = sqlite_app(&dir.0);
    plan_some_parties(&app);
    let forked = app
        .fork_party(
            "pirates",
            partybus::app::NewFork {
                party_id: Some("pirates-30".into()),
                changes: vec![partybus::app::ForkChange::Add(input("we expect 30 guests"))],
                ..Default::default()
            },
            None,
        )
        .expect("fork");
    assert!(app.wait_settled("pirates-30", forked.ack.seq, WAIT));
    let planned = app.party("pirates-30").expect("fork");
    let ran = |app: &App| -> BTreeMap<String, usize> {
        let mut ran = BTreeMap::new();
        for e in app
            .events("pirates-30", 0, usize::MAX)
            .expect("events")
            .iter()
        {
            if let Payload::AgentShouldExecute(p) = &e.payload {
                *ran.entry(p.agent_name.as_str().to_string()).or_default() += 1;
            }
        }
        ran
    };
    let uninterrupted = ran(&app);
    app.stop();
    drop(app);
    // The crash: the fork's batch was committed, and nothing after it.
    {
        let db = rusqlite::Connection::open(dir.0.join(DB_FILE)).expect("open");
        let cut = i64::try_from(forked.ack.seq).expect("seq");
        db.execute("DELETE FROM events WHERE seq > ?1", [cut])
            .expect("cut the journal");
        db.execute("DELETE FROM party_index WHERE seq > ?1", [cut])
            .expect("cut the index");
    }
    let app = sqlite_app(&dir.0);
    assert!(
        app.wait_settled("pirates-30", forked.ack.seq, WAIT),
        "resumed"
    );
    // The resumed wave runs exactly what the fork's own wave ran, each
    // once: the catering for the guest count, not the theme or the DJ.
    assert_eq!(ran(&app), uninterrupted);
    assert!(
        uninterrupted.contains_key("catering_agent"),
        "{uninterrupted:?}"
    );
    for reused in ["theme_agent", "vendor_agent"] {
        assert!(!uninterrupted.contains_key(reused), "{uninterrupted:?}");
    }
    let resumed = app.party("pirates-30").expect("fork");
    assert_eq!(
        resumed.final_plan.as_deref().map(|p| &p.facts),
        planned.final_plan.as_deref().map(|p| &p.facts)
    );
    assert!(resumed.agents.values().any(|a| a.reused_from.is_some()));
    // A compaction snapshot keeps what makes it a fork.
    app.compact().expect("compact");
    app.stop();
    drop(app);
    let app = sqlite_app(&dir.0);
    let restored = app.party("pirates-30").expect("fork");
    assert_eq!(restored.forked_from, resumed.forked_from);
    let reused = |p: &partybus::store::Party| -> Vec<Option<String>> {
        p.agents.values().map(|a| a.reused_from.clone()).collect()
    };
    assert_eq!(reused(&restored), reused(&resumed));
}

#[test]
fn compaction_then_restart_is_equivalent_and_deleted_parties_are_gone() {
    let dir = TempDir::new("durability-compact");
    let app = sqlite_app(&dir.0);
    plan_some_parties(&app);
    let ack = app.delete_party("gone", None, None).expect("delete");
    assert!(app.wait_settled("gone", ack.seq, WAIT));
    let report = app.compact().expect("compact");
    assert_eq!(report.parties, 3);
    assert!(report.events_deleted >= 5, "{report:?}");
    // Events after the snapshot are replayed on top of it.
    let ack = app
        .create_party(
            NewParty {
                party_id: Some("late".into()),
                initial_inputs: vec![input("dinosaur party")],
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled("late", ack.seq, WAIT));
    let ack = app
        .add_input("pirates", input("budget around $900"), None, None)
        .expect("add");
    assert!(app.wait_settled("pirates", ack.seq, WAIT));
    let before = state(&app);
    app.stop();
    drop(app);

    // A delete is a delete: nothing of the party is left in the files.
    for name in [DB_FILE.to_string(), format!("{DB_FILE}-wal")] {
        if let Ok(bytes) = std::fs::read(dir.0.join(&name)) {
            assert!(
                !bytes.windows(19).any(|w| w == b"secret-marker-7f3a9"),
                "{name} still holds the deleted party"
            );
        }
    }
    let app = sqlite_app(&dir.0);
    // Restored parties hold their results as the snapshot's JSON until
    // something reads them; reading decodes them once.
    let space = app.party("space").expect("space");
    assert!(space.final_plan.is_pending() && space.budget.is_pending());
    assert!(space.agents.values().all(|a| a.result.is_pending()));
    assert_eq!(state(&app), before, "state after compaction and restart");
    assert!(!space.final_plan.is_pending() && !space.budget.is_pending());
    assert!(app.party("gone").is_none());
    assert!(app.events("gone", 0, 100).expect("events").is_empty());
    // Compacting again, offline, gives the same state too.
    app.stop();
    drop(app);
    let out = Command::new(BIN)
        .args(["compact", "--data-dir"])
        .arg(&dir.0)
        .output()
        .expect("run compact");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The rows cite each catalog record once, by reference into the
    // snapshot's record table (its first row).
    {
        let db = rusqlite::Connection::open(dir.0.join(DB_FILE)).expect("open db");
        let generation: i64 = db
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'snapshot_generation'",
                [],
                |r| r.get(0),
            )
            .expect("generation");
        let rows: Vec<(String, String)> = db
            .prepare("SELECT party_id, json FROM snapshots WHERE generation = ?1 ORDER BY party_id")
            .and_then(|mut st| {
                st.query_map([generation], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .expect("rows");
        assert_eq!(rows[0].0, "#records");
        let table: Vec<Value> = serde_json::from_str(&rows[0].1).expect("record table");
        assert!(
            table.iter().any(|e| e.get("venue").is_some()),
            "the planned venues are in the table: {table:?}"
        );
        let cited: usize = rows[1..]
            .iter()
            .map(|(_, json)| json.matches("\"record_ref\"").count())
            .sum();
        assert!(
            cited >= table.len(),
            "{cited} citations of {} records",
            table.len()
        );
        assert!(rows[1..]
            .iter()
            .all(|(_, json)| !json.contains("\"daily_price\"")));
    }
    let app = sqlite_app(&dir.0);
    assert_eq!(state(&app), before, "state after the second compaction");
    // Planning goes on from results restored that way: the new wave's
    // budget adds the new vendor to the venue it restored.
    let space = app.party("space").expect("space");
    let ack = app
        .add_input("space", input("we also want a magician"), None, None)
        .expect("add");
    assert!(app.wait_settled("space", ack.seq, WAIT));
    let after = app.party("space").expect("space");
    let budget = serde_json::to_value(after.budget.as_deref().expect("budget")).expect("json");
    let based_on = budget["based_on_agents"].to_string();
    assert!(
        based_on.contains("venue_agent") && based_on.contains("vendor_agent"),
        "{budget}"
    );
    assert!(
        after
            .final_plan
            .as_deref()
            .expect("plan")
            .completion_percent
            >= space
                .final_plan
                .as_deref()
                .expect("plan")
                .completion_percent
    );
}

fn server_on(dir: &Path) -> (Arc<App>, partybus::server::ServerHandle) {
    let app = Arc::new(sqlite_app(dir));
    let handle = serve(
        app.clone(),
        ServerConfig {
            auth: AuthMode::Off,
            ..ServerConfig::default()
        },
    )
    .expect("serve");
    (app, handle)
}

#[test]
fn idempotent_retries_return_the_original_response_even_after_a_restart() {
    let dir = TempDir::new("durability-idempotency");
    let (app, handle) = server_on(&dir.0);
    let addr = handle.local_addr();
    let key = [("Idempotency-Key", "create-1")];
    let body = json!({"initial_inputs": [{"content": "robot party"}]});
    let first = try_call(addr, "POST", &format!("{API}/party"), Some(&body), &key).expect("post");
    assert_eq!(first.0, 201);
    let again = try_call(addr, "POST", &format!("{API}/party"), Some(&body), &key).expect("post");
    assert_eq!(again, first, "the retry gets the original response");
    let party: Value = serde_json::from_slice(&first.1).expect("json");
    let party = party["party_id"].as_str().expect("id").to_string();
    assert_eq!(app.stats().expect("stats").total_parties, 1);

    let path = format!("{API}/party/{party}/input");
    let add = json!({"content": "laser tag"});
    let ikey = [("Idempotency-Key", "input-1")];
    let a = try_call(addr, "POST", &path, Some(&add), &ikey).expect("post");
    let b = try_call(addr, "POST", &path, Some(&add), &ikey).expect("post");
    assert_eq!((a.0, &a.1), (b.0, &b.1));
    assert_eq!(app.party(&party).expect("party").inputs.len(), 2);
    // The same key on another route is a client error, and changes nothing.
    let other = try_call(addr, "POST", &path, Some(&add), &key).expect("post");
    assert_eq!(other.0, 422);
    assert_eq!(app.party(&party).expect("party").inputs.len(), 2);
    let bad = try_call(
        addr,
        "POST",
        &path,
        Some(&add),
        &[("Idempotency-Key", "a b")],
    );
    assert_eq!(bad.expect("post").0, 422);
    handle.shutdown();
    app.stop();
    util::poll_until(
        "the server to let go of the app",
        Instant::now() + WAIT,
        || Arc::strong_count(&app) == 1,
    );
    drop(app);

    // Keys are persisted: a retry after a restart still gets the original.
    let (app, handle) = server_on(&dir.0);
    let addr = handle.local_addr();
    let c = try_call(addr, "POST", &path, Some(&add), &ikey).expect("post");
    assert_eq!((c.0, &c.1), (a.0, &a.1));
    let again = try_call(addr, "POST", &format!("{API}/party"), Some(&body), &key).expect("post");
    assert_eq!(again, first);
    assert_eq!(app.stats().expect("stats").total_parties, 1);
    assert_eq!(app.party(&party).expect("party").inputs.len(), 2);
    handle.shutdown();
    app.stop();
}

#[test]
fn export_and_events_commands_read_the_data_directory() {
    let dir = TempDir::new("durability-export");
    let app = sqlite_app(&dir.0);
    plan_some_parties(&app);
    app.stop();
    drop(app);
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&dir.0)
            .output()
            .expect("run")
    };
    let out = run(&["export", "--party", "jungle"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["party_id"], "jungle");
    assert!(v["budget"].as_array().is_some_and(|b| !b.is_empty()), "{v}");
    assert!(
        v["checklist"].as_array().is_some_and(|c| !c.is_empty()),
        "{v}"
    );
    let out = run(&["export", "--party", "jungle", "--format", "csv"]);
    assert!(out.status.success());
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.starts_with("section,category,item,min,max,done,note\r\n"),
        "{csv}"
    );
    assert!(csv.contains("\r\nbudget,total,"), "{csv}");
    assert!(csv.contains("\r\nchecklist,"), "{csv}");
    let out = run(&["events", "--party", "jungle"]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["event_type"], "party.created");
    assert!(lines
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    let out = run(&["export", "--party", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
}

#[test]
fn a_foreign_or_corrupt_file_is_refused_and_left_untouched() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage",
            b"this is not a database, it is a shopping list\n".repeat(40),
        ),
        ("foreign", {
            let d = TempDir::new("durability-foreign-src");
            let path = d.0.join("other.db");
            let c = rusqlite::Connection::open(&path).expect("sqlite");
            c.execute_batch("CREATE TABLE invoices (id INTEGER, total REAL); INSERT INTO invoices VALUES (1, 9.5);")
                .expect("foreign db");
            drop(c);
            std::fs::read(&path).expect("bytes")
        }),
        ("truncated", {
            // A real journal whose header page was cut short.
            let d = TempDir::new("durability-trunc-src");
            drop(SqliteJournal::open(&d.0, Durability::Normal).expect("journal"));
            let mut bytes = std::fs::read(d.0.join(DB_FILE)).expect("bytes");
            bytes.truncate(60);
            bytes
        }),
    ];
    for (name, bytes) in cases {
        let dir = TempDir::new(name);
        let db = dir.0.join(DB_FILE);
        std::fs::write(&db, &bytes).expect("write");
        let out = Command::new(BIN)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(&dir.0)
            .env_remove("PARTYBUS_EPHEMERAL")
            .env_remove("PARTYBUS_DURABILITY")
            .output()
            .expect("run serve");
        assert!(!out.status.success(), "{name}: serve must refuse");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&db.display().to_string()), "{name}: {err}");
        assert!(err.contains("refusing"), "{name}: {err}");
        assert_eq!(
            std::fs::read(&db).expect("read"),
            bytes,
            "{name}: file changed"
        );
        assert!(!dir.0.join(format!("{DB_FILE}-wal")).exists(), "{name}");
    }
}

#[test]
fn one_server_per_data_directory() {
    let dir = TempDir::new("durability-lock");
    let _first = spawn_serve(&dir.0, &[]);
    let out = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&dir.0)
        .env_remove("PARTYBUS_EPHEMERAL")
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by another partybus process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readyz_and_the_recovery_log() {
    let dir = TempDir::new("durability-log");
    let served = spawn_serve(&dir.0, &["--durability", "full"]);
    let (s, _) = call(
        served.addr,
        "POST",
        &format!("{API}/party"),
        Some(&json!({"party_id": "x"})),
    );
    assert_eq!(s, 201);
    drop(served);
    let served = spawn_serve(&dir.0, &[]);
    // Recovery is logged before `ready`, so among the early lines.
    let recovered = |l: &String| l.contains("recovered 1 parties") && l.contains("events replayed");
    assert!(
        served.early.iter().any(recovered),
        "no recovery line: {:?}",
        served.early
    );
}

#[test]
fn the_server_compacts_by_itself_past_the_threshold() {
    let dir = TempDir::new("durability-auto");
    let journal = Arc::new(SqliteJournal::open(&dir.0, Durability::Normal).expect("journal"));
    let app = App::start_new(Config {
        journal: journal.clone(),
        compact_threshold: Some(10),
        ..Config::default()
    })
    .expect("app");
    plan_some_parties(&app);
    let before = state(&app);
    // The compaction thread looks every 5 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    util::poll_until("an automatic compaction", deadline, || {
        journal.snapshot_meta().expect("meta").is_some()
    });
    app.stop();
    drop(app);
    drop(journal);
    let app = sqlite_app(&dir.0);
    assert!(
        state(&app) == before,
        "state after automatic compaction differs"
    );
}

#[test]
fn readyz_is_503_until_the_journal_is_replayed() {
    let dir = TempDir::new("durability-readyz");
    let journal = SqliteJournal::open(&dir.0, Durability::Normal).expect("journal");
    let app = Arc::new(App::new(Config {
        journal: Arc::new(journal),
        compact_threshold: None,
        ..Config::default()
    }));
    // The binary starts listening before it replays, exactly like this.
    let handle = serve(
        app.clone(),
        ServerConfig {
            auth: AuthMode::Off,
            ..ServerConfig::default()
        },
    )
    .expect("serve");
    let addr = handle.local_addr();
    assert_eq!(call(addr, "GET", "/readyz", None).0, 503);
    assert_eq!(call(addr, "GET", "/livez", None).0, 200);
    let (status, body) = call(addr, "POST", &format!("{API}/party"), Some(&json!({})));
    assert_eq!(status, 503, "{body}");
    app.start().expect("start");
    assert_eq!(call(addr, "GET", "/readyz", None).0, 200);
    assert_eq!(
        call(addr, "POST", &format!("{API}/party"), Some(&json!({}))).0,
        201
    );
    handle.shutdown();
    app.stop();
}

// ---- an old journal ---------------------------------------------------------

/// `tests/fixtures/journal-v3`: a schema-3 journal (every event carries its
/// catalog records in full) written by `partybus serve` at 314f775, and what
/// that build's `events` and `export` printed from it. Party `jungle`: three
/// inputs, one removed, one added; party `gone`: created, then deleted.
const V3_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journal-v3");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(V3_FIXTURE).join(name)).expect("fixture")
}

fn run_on(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn a_journal_written_before_events_cited_records_reads_and_replays_as_before() {
    let dir = TempDir::new("durability-v3");
    std::fs::copy(Path::new(V3_FIXTURE).join(DB_FILE), dir.0.join(DB_FILE)).expect("copy");
    // Read-only, as the build that wrote it printed it.
    let jungle = fixture("events-jungle.jsonl");
    assert_eq!(run_on(&dir.0, &["events", "--party", "jungle"]), jungle);
    assert_eq!(
        run_on(&dir.0, &["events", "--party", "gone"]),
        fixture("events-gone.jsonl")
    );
    assert_eq!(
        run_on(&dir.0, &["export", "--party", "jungle"]),
        fixture("export-jungle.json")
    );

    // Opened for writing: migrated, replayed to the same party, and planning
    // goes on with events that cite records by reference.
    let app = sqlite_app(&dir.0);
    let status = app.party("jungle").expect("jungle replayed");
    assert!(app.party("gone").is_none());
    let old: Vec<Value> = jungle
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let replayed: Vec<Value> = app
        .events("jungle", 0, 10_000)
        .expect("events")
        .iter()
        .map(|e| serde_json::to_value(&**e).expect("json"))
        .collect();
    assert_eq!(replayed, old);
    let ack = app
        .add_input(
            "jungle",
            input("outdoor venue in Austin for 80"),
            None,
            None,
        )
        .expect("add");
    assert!(app.wait_settled("jungle", ack.seq, WAIT));
    let after = state(&app);
    assert_ne!(
        serde_json::to_value(&*status).expect("json"),
        after.0["jungle"]
    );
    app.stop();
    drop(app);
    {
        let c = rusqlite::Connection::open(dir.0.join(DB_FILE)).expect("raw");
        let version: i32 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, 4);
        let (records, citing): (i64, i64) = c
            .query_row(
                "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM events \
                 WHERE seq > ?1 AND json LIKE '%\"record_ref\":%')",
                [i64::try_from(ack.seq).expect("seq")],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts");
        assert!(
            records > 0 && citing > 0,
            "{records} records, {citing} citing events"
        );
    }
    // Old and new events together, as the tools print them: records in full.
    let printed = run_on(&dir.0, &["events", "--party", "jungle"]);
    assert!(printed.starts_with(&jungle));
    assert!(!printed.contains("record_ref"));
    assert!(printed.len() > jungle.len());
    // A restart, and a compaction then a restart, come back to the same state.
    let app = sqlite_app(&dir.0);
    assert!(state(&app) == after, "state after the restart differs");
    app.compact().expect("compact");
    app.stop();
    drop(app);
    let app = sqlite_app(&dir.0);
    assert!(state(&app) == after, "state after compaction differs");
}

#[test]
fn an_ephemeral_journal_compacts_deleted_parties_away_and_restarts_equivalent() {
    // `--ephemeral`: everything in memory, compacted as on disk, so memory
    // follows the live parties, not every party ever made.
    let journal = Arc::new(MemoryJournal::new());
    let start = || {
        App::start_new(Config {
            journal: journal.clone(),
            compact_threshold: None,
            ..Config::default()
        })
        .expect("app starts")
    };
    let app = start();
    plan_some_parties(&app);
    let before_delete = journal.len();
    let ack = app.delete_party("gone", None, None).expect("delete");
    assert!(app.wait_settled("gone", ack.seq, WAIT));
    let report = app.compact().expect("compact in memory");
    assert_eq!(report.parties, 3);
    assert!(report.events_deleted >= 5, "{report:?}");
    assert_eq!(journal.len() as u64, report.events_kept);
    assert!(
        journal.len() < before_delete,
        "the deleted party's events stay"
    );
    let ack = app
        .add_input("pirates", input("budget around $900"), None, None)
        .expect("add");
    assert!(app.wait_settled("pirates", ack.seq, WAIT));
    let before = state(&app);
    app.stop();
    drop(app);
    // Restarted in the same process: the snapshot, then what came after.
    let app = start();
    assert_eq!(state(&app), before, "state after compaction and restart");
    assert!(app.party("gone").is_none());
    assert!(app.events("gone", 0, 100).expect("events").is_empty());
    app.stop();
}
