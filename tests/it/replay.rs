//! Replay that proves itself: `GET /party/{id}/digest` against the built
//! binary gives the same chain and state digests before and after a
//! restart, `partybus compact` and the server's own compaction; `partybus
//! verify` agrees on a healthy data directory (and on the one the kill -9
//! test leaves, see `durability.rs`), and exits 1 naming the party whose
//! event was altered in the SQLite file.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use partybus::journal::{Journal, SqliteJournal, DB_FILE};
use serde_json::Value;

use crate::util::{
    self, bin_command, exit_within, output_within, signal, Resp, Served, TempDir, API, WAIT,
};

const ADMIN: &str = "replay-admin-secret";

fn serve(dir: &str, extra: &[&str]) -> Served {
    Served::start(
        &[&["--port", "0", "--data-dir", dir], extra].concat(),
        &[("PARTYBUS_ADMIN_TOKEN", ADMIN)],
    )
}

fn stop(mut served: Served) {
    signal(served.pid(), "-TERM");
    assert!(exit_within(served.take(), WAIT).success());
}

fn digest(served: &Served, party: &str, query: &str, token: &str) -> Resp {
    util::request(
        served.addr,
        "GET",
        &format!("{API}/party/{party}/digest{query}"),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
}

/// The digests of every (party, query), as the route answers them.
fn digests(served: &Served, asks: &[(String, String)]) -> Vec<Value> {
    asks.iter()
        .map(|(party, query)| {
            let r = digest(served, party, query, ADMIN);
            assert_eq!(r.status, 200, "{party}{query}: {}", r.text());
            r.json()
        })
        .collect()
}

/// The `seq` of a party's first event.
fn first_seq(served: &Served, party: &str) -> u64 {
    let r = util::request(
        served.addr,
        "GET",
        &format!("{API}/party/{party}/events?limit=1"),
        &[("Authorization", &format!("Bearer {ADMIN}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["events"][0]["seq"]
        .as_u64()
        .expect("a first event")
}

/// `partybus <args> --data-dir dir`: its exit status and stdout.
fn run(args: &[&str], dir: &Path) -> (ExitStatus, String, String) {
    let dir = dir.to_str().expect("utf-8 path");
    let child = bin_command(&[args, &["--data-dir", dir]].concat(), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = output_within(child, "partybus", WAIT);
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts `partybus verify` finds every digest in agreement.
pub fn assert_verifies(dir: &Path) {
    let (status, out, err) = run(&["verify"], dir);
    assert_eq!(status.code(), Some(0), "verify: {out}\n{err}");
    assert!(out.contains("all digests agree"), "{out}");
}

/// With `PARTYBUS_KEEP_DATA=DIR`, copies the data directory `dir` (its
/// server stopped) to `DIR`, for CI to run `partybus verify` on it.
pub fn keep_data(dir: &Path) {
    let Some(to) = std::env::var_os("PARTYBUS_KEEP_DATA") else {
        return;
    };
    let to = Path::new(&to);
    std::fs::create_dir_all(to).expect("create PARTYBUS_KEEP_DATA");
    for entry in std::fs::read_dir(dir).expect("read data dir") {
        let entry = entry.expect("entry");
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn digests_survive_restart_compaction_and_the_servers_own_compaction() {
    let data = TempDir::new("replay-digest");
    let dir = data.0.join("d");
    let dir_s = dir.to_str().expect("utf-8 path");
    let served = serve(dir_s, &["--compact-threshold", "0"]);
    let (a, ta, planned_a) = util::plan_on(
        &served,
        "birthday party for 30 guests in Lakewood, indoor venue",
    );
    let (b, _, _) = util::plan_on(&served, "jungle party for 20 kids, pizza and a cake");

    // The route: 200 with the party's own token, hex digests, the latest
    // seq by default.
    let r = digest(&served, &a, "", &ta);
    assert_eq!(r.status, 200, "{}", r.text());
    let latest = r.json();
    assert_eq!(latest["success"], true);
    assert_eq!(latest["party_id"], a.as_str());
    assert!(latest["seq"].as_u64().is_some_and(|s| s >= planned_a));
    assert!(latest["events"].as_u64().is_some_and(|n| n > 3), "{latest}");
    for field in ["chain", "state"] {
        assert!(
            latest[field]
                .as_str()
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit())),
            "{latest}"
        );
    }
    // As of the latest seq, named: the same digests.
    let named = digest(&served, &a, &format!("?seq={}", latest["seq"]), &ta).json();
    assert_eq!(named, latest);
    // As of its creation: one event, another chain and state.
    let (first, first_b) = (first_seq(&served, &a), first_seq(&served, &b));
    let at_start = digests(&served, &[(a.clone(), format!("?seq={first}"))]);
    assert_eq!(at_start[0]["events"], 1, "{}", at_start[0]);
    assert_ne!(at_start[0]["chain"], latest["chain"]);
    assert_ne!(at_start[0]["state"], latest["state"]);

    // Bad requests: clear JSON errors.
    digest(&served, &a, "?seq=x", &ta).assert_error(422, "validation_error");
    digest(&served, &a, "?seq=-1", &ta).assert_error(422, "validation_error");
    let r = digest(&served, &a, "?seq=99999999", &ta);
    r.assert_error(422, "validation_error");
    assert!(r.text().contains("past the latest event"), "{}", r.text());
    digest(&served, "nobody", "", ADMIN).assert_error(404, "party_not_found");
    // b did not exist yet.
    digest(&served, &b, &format!("?seq={}", first_b - 1), ADMIN)
        .assert_error(404, "party_not_found");
    util::request(
        served.addr,
        "GET",
        &format!("{API}/party/{a}/digest"),
        &[],
        None,
    )
    .assert_error(401, "unauthorized");

    let asks: Vec<(String, String)> = vec![
        (a.clone(), String::new()),
        (b.clone(), String::new()),
        (a.clone(), format!("?seq={first}")),
        (a.clone(), format!("?seq={planned_a}")),
    ];
    let before = digests(&served, &asks);

    // A restart.
    stop(served);
    let served = serve(dir_s, &["--compact-threshold", "0"]);
    assert_eq!(digests(&served, &asks), before, "after a restart");
    stop(served);
    assert_verifies(&dir);

    // `partybus compact`, then a restart: the parties now come from the
    // snapshot (results as raw JSON until read).
    let (status, out, err) = run(&["compact"], &dir);
    assert!(status.success(), "{out}\n{err}");
    assert_verifies(&dir);
    let served = serve(dir_s, &["--compact-threshold", "0"]);
    assert_eq!(digests(&served, &asks), before, "after compact");

    // The server's own compaction, past a threshold of a few events.
    stop(served);
    let served = serve(dir_s, &["--compact-threshold", "5"]);
    let (c, _, _) = util::plan_on(&served, "garden wedding for 80 guests");
    let seq_before = SqliteJournal::open_read_only(&dir)
        .expect("journal")
        .snapshot_meta()
        .expect("meta")
        .map_or(0, |m| m.seq);
    // The compaction thread looks every 5 s.
    util::poll_until(
        "the server's own compaction",
        Instant::now() + Duration::from_secs(20),
        || {
            SqliteJournal::open_read_only(&dir)
                .ok()
                .and_then(|j| j.snapshot_meta().ok().flatten())
                .is_some_and(|m| m.seq > seq_before)
        },
    );
    let with_c: Vec<(String, String)> = asks
        .iter()
        .cloned()
        .chain([(c.clone(), String::new())])
        .collect();
    let after_own = digests(&served, &with_c);
    assert_eq!(
        after_own[..asks.len()],
        before[..],
        "after the server's compaction"
    );
    stop(served);
    let served = serve(dir_s, &["--compact-threshold", "0"]);
    assert_eq!(digests(&served, &with_c), after_own, "restarted after it");
    stop(served);
    let (status, out, _) = run(&["verify", "--format", "json"], &dir);
    assert_eq!(status.code(), Some(0), "{out}");
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["agree"], true, "{report}");
    assert_eq!(report["parties"], 3, "{report}");
    assert_eq!(report["recorded"], 3, "{report}");
}

#[test]
fn verify_exits_1_naming_the_party_whose_event_was_altered() {
    let data = TempDir::new("replay-tamper");
    let dir = data.0.join("d");
    let dir_s = dir.to_str().expect("utf-8 path");
    let served = serve(dir_s, &["--compact-threshold", "0"]);
    let (a, _, _) = util::plan_on(&served, "birthday party for 30 guests in Lakewood");
    let (b, _, _) = util::plan_on(&served, "jungle party for 20 kids");

    // A server holds the directory: verify refuses (exit 5), changing nothing.
    let (status, out, err) = run(&["verify"], &dir);
    assert_eq!(status.code(), Some(5), "{out}\n{err}");
    assert!(err.contains("stop the server"), "{err}");
    stop(served);

    let (status, out, err) = run(&["compact"], &dir);
    assert!(status.success(), "{out}\n{err}");
    assert_verifies(&dir);

    // One event's payload altered in the file: a's input says 31 guests.
    {
        let db = rusqlite::Connection::open(dir.join(DB_FILE)).expect("open db");
        let n = db
            .execute(
                "UPDATE events SET json = replace(json, 'for 30 guests', 'for 31 guests') \
                 WHERE party_id = ?1 AND event_type = 'party.input.added'",
                [&a],
            )
            .expect("update");
        assert_eq!(n, 1);
    }
    let (status, out, err) = run(&["verify"], &dir);
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("party {a}: "))
            && l.contains("chain differs at snapshot seq")),
        "{out}"
    );
    assert!(!out.contains(&format!("party {b}")), "{out}");
    assert!(out.contains("1 parties differ"), "{out}");
    let (status, out, _) = run(&["verify", "--format", "json"], &dir);
    assert_eq!(status.code(), Some(1));
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["agree"], false);
    assert_eq!(report["differences"][0]["party_id"], a.as_str(), "{report}");
    assert_eq!(report["differences"].as_array().map(Vec::len), Some(1));

    // Not a data directory: 6; a format it does not know: 2 (clap).
    let empty = data.0.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (status, _, err) = run(&["verify"], &empty);
    assert_eq!(status.code(), Some(6), "{err}");
    let (status, _, _) = run(&["verify", "--format", "xml"], &dir);
    assert_eq!(status.code(), Some(2));
}

/// Two cluster nodes on one Redis answer the same digests for a party
/// planned through one of them, as of the same `seq` (each waits until it
/// applied it); and for a what-if fork of it made through the other node,
/// which reuses the original's results across nodes.
#[test]
fn cluster_nodes_agree_on_a_partys_digests_and_its_forks() {
    let Some(redis) = crate::util::redis::Redis::start() else {
        return eprintln!("skipped: redis-server not installed");
    };
    let node = |id: &str| redis.node(id, 2, &["--lease-ttl-ms", "1000", "--admin-token", ADMIN]);
    let (n1, n2) = (node("n1"), node("n2"));
    let (party, token, planned) = util::plan_on(&n1, "jungle party for 20 kids in Austin");
    let on = |served: &Served, party: &str, seq: u64, token: &str| {
        let query = format!("?seq={seq}");
        let mut last = None;
        // A node that has not applied the seq yet answers 503 catching_up.
        util::poll_until("the node applies the plan", Instant::now() + WAIT, || {
            let r = digest(served, party, &query, token);
            if r.status == 200 {
                last = Some(r.json());
                return true;
            }
            assert_eq!(r.status, 503, "{}", r.text());
            false
        });
        last.expect("a digest")
    };
    let (d1, d2) = (
        on(&n1, &party, planned, &token),
        on(&n2, &party, planned, &token),
    );
    assert_eq!(d1["seq"], planned);
    assert!(d1["events"].as_u64().is_some_and(|n| n > 3), "{d1}");
    assert_eq!(d1, d2, "both nodes fold the same events");

    // The fork is made on the other node, which must have applied the
    // original (it has: its digest answered above).
    let change = serde_json::json!({"changes": [{"add": {"content": "what if 40 kids come"}}]});
    let (forked, events) = crate::fork::fork_and_follow(&n2, &party, &token, &change);
    assert_eq!(
        forked["forked_from"]["party_id"],
        party.as_str(),
        "{forked}"
    );
    assert!(
        !crate::fork::reused(&events).is_empty(),
        "the fork reuses results made on the other node: {events:?}"
    );
    let (fork, fork_token) = (
        forked["party_id"].as_str().expect("party_id"),
        forked["party_token"].as_str().expect("party_token"),
    );
    let fork_planned = events
        .iter()
        .rev()
        .find_map(|e| e["seq"].as_u64())
        .expect("the fork's plan has a seq");
    let (f1, f2) = (
        on(&n1, fork, fork_planned, fork_token),
        on(&n2, fork, fork_planned, fork_token),
    );
    assert_eq!(f1, f2, "both nodes fold the fork the same");
    assert_ne!(f1["state"], d1["state"], "the fork planned for 40 kids");
}
