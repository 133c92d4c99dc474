//! Tests against a real Redis: each test starts its own `redis-server` on a
//! free loopback port ([`RedisServer`]). Without `redis-server` on PATH a
//! test prints a skip line and passes, unless `PARTYBUS_REQUIRE_REDIS` is
//! set (CI sets it), in which case it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::{Client, Connection};

// Not `Journal`: its `append` would shadow `Log::append` here; its methods
// are called by path.
use super::{
    codec, partition_of, redact, Entry, Event, Fence, JournalError, Log, LogError, Op, RedisLog,
    RedisOptions, CONNECT_TIMEOUT, IO_TIMEOUT, PURGE_PARTIES_PER_CALL,
};
use crate::event::{Draft, InputAdded, PartyCreated, PartyDeleted, Payload, SourceType};
use crate::journal::idempotency::{now_secs, Stored};

/// How long a started server may take to answer PING.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// The timestamp every test event carries.
const TS: &str = "2026-12-03T10:00:00.000001Z";

/// A `redis-server` of the test's own: a free port, a scratch directory,
/// no persistence; killed (and its directory removed) on drop.
struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server, or `None` (after a skip line) when `redis-server`
    /// is not installed and `PARTYBUS_REQUIRE_REDIS` is not set.
    fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// [`RedisServer::start`] with more `redis-server` arguments (later
    /// ones override the defaults).
    fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("PARTYBUS_REQUIRE_REDIS").is_none(),
                "PARTYBUS_REQUIRE_REDIS is set but redis-server is not on PATH \
                 (install Redis 7, e.g. apt-get install redis-server)"
            );
            eprintln!("skipped: redis-server is not on PATH");
            return None;
        }
        // A free port: bound by the OS, then released for the server.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "partybus-redis-{}-{}",
            std::process::id(),
            crate::event::new_input_id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let server = RedisServer { child, port, dir };
        // An external process: nothing signals when it is ready, so poll
        // PING at short intervals, bounded by a deadline.
        let began = Instant::now();
        let client = Client::open(server.url()).expect("url");
        loop {
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return Some(server);
            }
            assert!(
                began.elapsed() < START_DEADLINE,
                "redis-server on port {} did not answer PING within {START_DEADLINE:?}: {pong:?}",
                server.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends the server a signal (`STOP`, `CONT`, `KILL`).
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig}");
    }

    /// Kills the server and waits for it to exit.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too: no need to continue it.
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn open(server: &RedisServer, partitions: u32, node: &str) -> RedisLog {
    RedisLog::open(&RedisOptions::new(&server.url(), partitions, node)).expect("open")
}

/// A party id that falls in partition `p` of `k`.
fn party_in(p: u32, k: u32, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}{i}"))
        .find(|id| partition_of(id, k) == p)
        .expect("some id falls in every partition")
}

fn created(party: &str) -> Draft {
    Draft::command(
        party,
        "corr_t",
        Payload::PartyCreated(PartyCreated {
            forked_from: None,
            created_by: None,
            token_sha256: None,
        }),
    )
}

fn input(party: &str, text: &str) -> Draft {
    Draft::command(
        party,
        "corr_t",
        Payload::InputAdded(InputAdded {
            copied_from: None,
            input_id: crate::event::new_input_id(),
            content: text.into(),
            source_type: SourceType::Text,
            tags: vec!["a \"quoted\" tag".into()],
            added_by: "user".into(),
            metadata: Default::default(),
            image_url: None,
        }),
    )
}

fn deleted(party: &str) -> Draft {
    Draft::command(
        party,
        "corr_t",
        Payload::PartyDeleted(PartyDeleted {
            deleted_by: "user".into(),
        }),
    )
}

/// The stored JSON of `draft` without seq, as the bus hands it to the log:
/// the body and the timestamp.
fn json_of(draft: &Draft) -> String {
    let body = codec::encode_body(draft).expect("encode");
    let mut json = codec::finish(body, 0, TS);
    let at = json
        .rfind(",\"seq\":0,\"timestamp\":")
        .expect("the stamp is last");
    json.replace_range(at..at + ",\"seq\":0".len(), "");
    json
}

fn entry(draft: &Draft) -> Entry {
    let op = match draft.payload {
        Payload::PartyCreated(_) => Op::Create,
        Payload::PartyDeleted(_) => Op::Delete,
        _ => Op::Other,
    };
    Entry {
        party_id: draft.party_id.clone(),
        op,
        json: json_of(draft),
    }
}

fn entries(drafts: &[Draft]) -> Vec<Entry> {
    drafts.iter().map(entry).collect()
}

/// The events `drafts` become when appended from `first` on.
fn stamped(drafts: &[Draft], first: u64) -> Vec<Event> {
    drafts
        .iter()
        .zip(first..)
        .map(|(d, seq)| d.clone().stamp(seq, TS.into()))
        .collect()
}

fn replayed(log: &RedisLog) -> (Vec<(u32, Event)>, Vec<u64>) {
    let mut seen = Vec::new();
    let last = log
        .replay_all(&mut |p, e| seen.push((p, (*e).clone())))
        .expect("replay");
    (seen, last)
}

fn batch_id() -> String {
    crate::event::new_event_id()
}

#[test]
fn appends_are_contiguous_per_partition_and_read_back_in_order() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const K: u32 = 4;
    let log = open(&server, K, "node-a");
    let (a, b) = (party_in(1, K, "a"), party_in(2, K, "b"));
    let a1 = vec![created(&a), input(&a, "jungle party for 75 guests")];
    let a2 = vec![
        input(&a, "a chocolate cake, budget $2,000"),
        input(&a, "ünïcødé ✓"),
    ];
    let b1 = vec![created(&b)];
    assert_eq!(
        log.append(1, None, &batch_id(), &entries(&a1)).expect("a1"),
        1
    );
    assert_eq!(
        log.append(2, None, &batch_id(), &entries(&b1)).expect("b1"),
        1
    );
    assert_eq!(
        log.append(1, None, &batch_id(), &entries(&a2)).expect("a2"),
        3
    );
    assert_eq!(log.heads().expect("heads"), vec![0, 4, 1, 0]);
    assert_eq!(log.stream_lengths().expect("lengths"), vec![0, 4, 1, 0]);

    let mut want: Vec<(u32, Event)> = Vec::new();
    want.extend(stamped(&a1, 1).into_iter().map(|e| (1, e)));
    want.extend(stamped(&a2, 3).into_iter().map(|e| (1, e)));
    want.extend(stamped(&b1, 1).into_iter().map(|e| (2, e)));
    let (seen, last) = replayed(&log);
    assert_eq!(seen, want);
    assert_eq!(last, vec![0, 4, 1, 0]);

    // Through the Journal trait: every event, the highest seq.
    let mut all = 0;
    assert_eq!(
        crate::journal::Journal::replay(&log, 0, &mut |_| all += 1).expect("replay"),
        4
    );
    assert_eq!(all, 5);
    assert!(crate::journal::Journal::replay(&log, 1, &mut |_| ()).is_err());
    assert!(matches!(
        crate::journal::Journal::append(&log, &[]),
        Err(JournalError::Unsupported(_))
    ));

    // The tail, from the start and from part-way, with the origin.
    let other = open(&server, K, "node-b");
    let mut tail = other.tail().expect("tail");
    let got = tail
        .read(&[0; K as usize], Duration::from_millis(100), 100)
        .expect("tail");
    let got: Vec<(u32, Event, String)> = got
        .into_iter()
        .map(|(p, e, o)| (p, (*e).clone(), o.to_string()))
        .collect();
    let mut by_partition = got.clone();
    by_partition.sort_by_key(|(p, e, _)| (*p, e.seq));
    assert_eq!(by_partition, got, "each partition's events in order");
    assert_eq!(
        got.iter()
            .map(|(p, e, _)| (*p, e.clone()))
            .collect::<Vec<_>>(),
        want
    );
    assert!(got.iter().all(|(_, _, o)| o == "node-a"));
    let part = tail.read(&[0, 2, 0, 0], Duration::ZERO, 100).expect("tail");
    assert_eq!(
        part.iter().map(|(p, e, _)| (*p, e.seq)).collect::<Vec<_>>(),
        vec![(1, 3), (1, 4), (2, 1)]
    );
    // Nothing new: a zero block answers at once, a short block after it.
    let began = Instant::now();
    assert!(tail
        .read(&[0, 4, 1, 0], Duration::ZERO, 10)
        .expect("tail")
        .is_empty());
    assert!(began.elapsed() < Duration::from_secs(1));
    let began = Instant::now();
    assert!(tail
        .read(&[0, 4, 1, 0], Duration::from_millis(150), 10)
        .expect("tail")
        .is_empty());
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(140) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    // A blocked read wakes up for an append.
    let appender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let c = party_in(3, K, "c");
        log.append(3, None, &batch_id(), &entries(&[created(&c)]))
            .expect("append")
    });
    let began = Instant::now();
    let woke = tail
        .read(&[0, 4, 1, 0], Duration::from_secs(5), 10)
        .expect("tail");
    assert_eq!(appender.join().expect("appender"), 1);
    assert_eq!(woke.len(), 1);
    assert_eq!((woke[0].0, woke[0].1.seq), (3, 1));
    assert!(began.elapsed() < Duration::from_secs(2));
    // `max` bounds a read (about: shared among the partitions).
    let c = party_in(3, K, "c");
    let many: Vec<Draft> = (0..20).map(|i| input(&c, &format!("input {i}"))).collect();
    log_append(&other, 3, &many);
    let first = tail.read(&[0, 4, 1, 1], Duration::ZERO, 8).expect("tail");
    assert_eq!(first.len(), 2, "ceil(8 / 4) per partition");
}

fn log_append(log: &RedisLog, p: u32, drafts: &[Draft]) -> u64 {
    log.append(p, None, &batch_id(), &entries(drafts))
        .expect("append")
}

#[test]
fn a_retried_batch_is_appended_once() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let log = open(&server, 2, "node-a");
    let a = party_in(0, 2, "a");
    let batch = entries(&[created(&a), input(&a, "x")]);
    assert_eq!(log.append(0, None, "batch-1", &batch).expect("first"), 1);
    assert_eq!(log.append(0, None, "batch-1", &batch).expect("retry"), 1);
    // Even a retry that would now be refused returns the first result.
    assert_eq!(log.append(0, None, "batch-1", &batch).expect("retry"), 1);
    assert_eq!(log.heads().expect("heads"), vec![2, 0]);
    assert_eq!(log.stream_lengths().expect("lengths"), vec![2, 0]);
    assert_eq!(
        log.append(0, None, "batch-2", &entries(&[input(&a, "y")]))
            .expect("next"),
        3
    );
}

#[test]
fn a_stale_fence_appends_nothing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let log = open(&server, 2, "node-a");
    let a = party_in(1, 2, "a");
    log_append(&log, 1, &[created(&a)]);
    let (fence, head) = log
        .acquire(1, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    assert_eq!((fence.node.as_str(), fence.epoch, head), ("node-a", 1, 1));
    let stale = Fence {
        node: "node-a".into(),
        epoch: 0,
    };
    let other = Fence {
        node: "node-b".into(),
        epoch: 1,
    };
    for f in [&stale, &other] {
        let err = log
            .append(1, Some(f), &batch_id(), &entries(&[input(&a, "x")]))
            .expect_err("fenced");
        assert!(matches!(err, LogError::Fenced { partition: 1 }), "{err:?}");
    }
    // Another partition's lease is not this one's.
    let z = party_in(0, 2, "z");
    let err = log
        .append(0, Some(&fence), &batch_id(), &entries(&[input(&z, "x")]))
        .expect_err("fenced");
    assert!(matches!(err, LogError::Fenced { partition: 0 }), "{err:?}");
    // An entry of another partition is refused.
    let err = log
        .append(0, None, &batch_id(), &entries(&[input(&a, "x")]))
        .expect_err("misrouted");
    assert!(matches!(err, LogError::Corrupt(_)), "{err:?}");
    assert_eq!(log.heads().expect("heads"), vec![0, 1]);
    assert_eq!(
        log.append(1, Some(&fence), &batch_id(), &entries(&[input(&a, "x")]))
            .expect("fenced append"),
        2
    );
    log.release(1, &fence).expect("release");
    let err = log
        .append(1, Some(&fence), &batch_id(), &entries(&[input(&a, "y")]))
        .expect_err("released");
    assert!(matches!(err, LogError::Fenced { partition: 1 }), "{err:?}");
    assert_eq!(log.heads().expect("heads"), vec![0, 2]);
}

#[test]
fn a_party_is_created_once_and_again_after_its_delete() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const K: u32 = 2;
    let log = open(&server, K, "node-a");
    let (a, b) = (party_in(0, K, "a"), party_in(0, K, "b"));
    assert_eq!(log.party_created_at(&a).expect("index"), None);
    log_append(&log, 0, &[created(&a), input(&a, "x")]);
    assert_eq!(log.party_created_at(&a).expect("index"), Some(1));
    // A create of an existing party refuses the whole batch.
    let err = log
        .append(0, None, &batch_id(), &entries(&[created(&b), created(&a)]))
        .expect_err("exists");
    assert!(matches!(&err, LogError::Exists(p) if *p == a), "{err:?}");
    // So does a batch creating one party twice.
    let err = log
        .append(0, None, &batch_id(), &entries(&[created(&b), created(&b)]))
        .expect_err("twice");
    assert!(matches!(&err, LogError::Exists(p) if *p == b), "{err:?}");
    assert_eq!(log.heads().expect("heads")[0], 2);
    assert_eq!(log.party_created_at(&b).expect("index"), None);
    // Deleted, it can be created again (also within one batch).
    log_append(&log, 0, &[deleted(&a)]);
    assert_eq!(log.party_created_at(&a).expect("index"), None);
    assert_eq!(log_append(&log, 0, &[created(&a)]), 4);
    assert_eq!(log.party_created_at(&a).expect("index"), Some(4));
    log_append(&log, 0, &[deleted(&a), created(&a)]);
    assert_eq!(log.party_created_at(&a).expect("index"), Some(6));
    assert_eq!(log.stream_lengths().expect("lengths")[0], 6);
}

#[test]
fn party_history_honours_since_and_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const K: u32 = 2;
    let log = open(&server, K, "node-a");
    let (a, b) = (party_in(1, K, "a"), party_in(1, K, "b"));
    let da = [created(&a), input(&a, "1")];
    let db = [created(&b)];
    let da2 = [input(&a, "2"), input(&a, "3")];
    log_append(&log, 1, &da);
    log_append(&log, 1, &db);
    log_append(&log, 1, &da2);
    let seqs = |since, limit| -> Vec<u64> {
        crate::journal::Journal::party_events(&log, &a, since, limit)
            .expect("history")
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs(0, 100), vec![1, 2, 4, 5]);
    assert_eq!(seqs(2, 100), vec![4, 5]);
    assert_eq!(seqs(1, 2), vec![2, 4]);
    assert_eq!(seqs(0, 0), Vec::<u64>::new());
    assert_eq!(seqs(5, 10), Vec::<u64>::new());
    let all = crate::journal::Journal::party_events(&log, &a, 0, usize::MAX).expect("history");
    let mut want = stamped(&da, 1);
    want.extend(stamped(&da2, 4));
    assert_eq!(all.iter().map(|e| (**e).clone()).collect::<Vec<_>>(), want);
    assert!(crate::journal::Journal::party_events(&log, "nobody", 0, 10)
        .expect("history")
        .is_empty());
}

#[test]
fn a_cluster_keeps_the_partition_count_it_was_created_with() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    drop(open(&server, 16, "node-a"));
    drop(open(&server, 16, "node-b"));
    let err = RedisLog::open(&RedisOptions::new(&server.url(), 8, "node-c"))
        .err()
        .expect("refused");
    assert!(matches!(err, JournalError::Storage(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "journal storage failed: this cluster has 16 partitions (fixed when it was created); \
         this node was started with --partitions 8"
    );
    // Another prefix is another cluster.
    let mut opts = RedisOptions::new(&server.url(), 8, "node-c");
    opts.prefix = "other".into();
    RedisLog::open(&opts).expect("another prefix");
    // Options that cannot work are refused before connecting.
    for (k, node, prefix) in [
        (0, "n", "pb"),
        (8, "", "pb"),
        (8, "a b", "pb"),
        (8, "n", "p{x}"),
    ] {
        let mut opts = RedisOptions::new(&server.url(), k, node);
        opts.prefix = prefix.into();
        assert!(
            matches!(RedisLog::open(&opts), Err(JournalError::Storage(_))),
            "{opts:?}"
        );
    }
}

#[test]
fn leases_are_granted_renewed_released_and_expire() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = open(&server, 2, "node-a");
    let b = open(&server, 2, "node-b");
    assert_eq!(a.leases().expect("leases"), vec![None, None]);
    let (fa, head) = a
        .acquire(0, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    assert_eq!((fa.epoch, head), (1, 0));
    assert_eq!(
        b.acquire(0, Duration::from_secs(30)).expect("acquire"),
        None
    );
    // Not even its holder is granted it again (a restart with the same id).
    assert_eq!(
        a.acquire(0, Duration::from_secs(30)).expect("acquire"),
        None
    );
    let leases = b.leases().expect("leases");
    let info = leases[0].clone().expect("held");
    assert_eq!((info.node.as_str(), info.epoch), ("node-a", 1));
    assert!(info.ttl_ms > 25_000 && info.ttl_ms <= 30_000, "{info:?}");
    assert_eq!(leases[1], None);
    assert!(a.renew(0, &fa, Duration::from_secs(60)).expect("renew"));
    assert!(
        b.leases().expect("leases")[0]
            .as_ref()
            .expect("held")
            .ttl_ms
            > 55_000
    );
    // Released, another node gets it at the next epoch.
    a.release(0, &fa).expect("release");
    let (fb, _) = b
        .acquire(0, Duration::from_secs(1))
        .expect("acquire")
        .expect("free");
    assert_eq!((fb.node.as_str(), fb.epoch), ("node-b", 2));
    assert!(
        !a.renew(0, &fa, Duration::from_secs(1)).expect("renew"),
        "not a's any more"
    );
    a.release(0, &fa)
        .expect("releasing another's lease does nothing");
    assert!(b.leases().expect("leases")[0].is_some());
    // Unrenewed, it expires.
    let began = Instant::now();
    while b.leases().expect("leases")[0].is_some() {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the lease did not expire"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!b.renew(0, &fb, Duration::from_secs(1)).expect("renew"));
    let (fa2, _) = a
        .acquire(0, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    assert_eq!(fa2.epoch, 3);
    // The head comes with the lease.
    let p = party_in(0, 2, "p");
    log_append(&a, 0, &[created(&p), input(&p, "x")]);
    a.release(0, &fa2).expect("release");
    let (_, head) = b
        .acquire(0, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    assert_eq!(head, 2);
}

#[test]
fn purging_removes_a_deleted_partys_events_and_keeps_the_rest() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const K: u32 = 2;
    let log = open(&server, K, "node-a");
    let (a, b, c) = (
        party_in(0, K, "a"),
        party_in(0, K, "b"),
        party_in(0, K, "c"),
    );
    log_append(&log, 0, &[created(&a), input(&a, "1"), created(&b)]); // 1..=3
    log_append(&log, 0, &[input(&b, "2"), deleted(&a)]); // 4, 5
    log_append(&log, 0, &[created(&c), deleted(&c)]); // 6, 7
    log_append(&log, 0, &[created(&a), input(&a, "again")]); // 8, 9
    let (fence, _) = log
        .acquire(0, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    let stale = Fence {
        node: "node-a".into(),
        epoch: 7,
    };
    assert!(matches!(
        log.purge_deleted(0, &stale, 100),
        Err(LogError::Fenced { partition: 0 })
    ));
    // Up to seq 5: a's first life (1, 2, 5) goes; c (deleted at 7) stays.
    assert_eq!(log.purge_deleted(0, &fence, 5).expect("purge"), 3);
    assert_eq!(log.purge_deleted(0, &fence, 5).expect("purge"), 0);
    let (seen, _) = replayed(&log);
    let seqs: Vec<u64> = seen.iter().map(|(_, e)| e.seq).collect();
    assert_eq!(seqs, vec![3, 4, 6, 7, 8, 9]);
    // A purge of the newest events leaves the replay's position at the
    // head (the tail continues past what was purged).
    let d = party_in(1, K, "d");
    log_append(&log, 1, &[created(&d), deleted(&d)]);
    let (f1, _) = log
        .acquire(1, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    assert_eq!(log.purge_deleted(1, &f1, 2).expect("purge"), 2);
    assert_eq!(replayed(&log).1, vec![9, 2]);
    let history = |p: &str| -> Vec<u64> {
        crate::journal::Journal::party_events(&log, p, 0, 100)
            .expect("history")
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(history(&a), vec![8, 9], "a's second life is kept");
    assert_eq!(history(&b), vec![3, 4]);
    assert_eq!(log.party_created_at(&a).expect("index"), Some(8));
    assert_eq!(log.purge_deleted(0, &fence, 100).expect("purge"), 2);
    assert!(history(&c).is_empty());
    assert_eq!(log.stream_lengths().expect("lengths"), vec![4, 0]);
    // The head does not move back: new events keep counting.
    assert_eq!(log_append(&log, 0, &[input(&b, "3")]), 10);
}

#[test]
fn purging_is_bounded_per_call() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let log = open(&server, 1, "node-a");
    let n = PURGE_PARTIES_PER_CALL as usize + 50;
    let drafts: Vec<Draft> = (0..n)
        .flat_map(|i| {
            let p = format!("p{i}");
            [created(&p), deleted(&p)]
        })
        .collect();
    log_append(&log, 0, &drafts);
    let (fence, _) = log
        .acquire(0, Duration::from_secs(30))
        .expect("acquire")
        .expect("free");
    let first = log.purge_deleted(0, &fence, u64::MAX >> 12).expect("purge");
    assert_eq!(first, 2 * u64::from(PURGE_PARTIES_PER_CALL));
    assert_eq!(
        log.purge_deleted(0, &fence, u64::MAX >> 12).expect("purge"),
        100
    );
    assert_eq!(
        log.purge_deleted(0, &fence, u64::MAX >> 12).expect("purge"),
        0
    );
    assert_eq!(log.stream_lengths().expect("lengths"), vec![0]);
}

#[test]
fn idempotency_records_roundtrip() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let log = open(&server, 1, "node-a");
    let store = crate::journal::Journal::idempotency(&log).expect("a store");
    assert_eq!(store.get("k1").expect("get"), None);
    let stored = Stored {
        route: "POST /api/v1/event-driven/party".into(),
        status: 201,
        body: br#"{"party_id":"p1","note":"\u00e9 \"q\""}"#.to_vec(),
        created_at: now_secs(),
    };
    store.put("k1", &stored).expect("put");
    assert_eq!(store.get("k1").expect("get"), Some(stored.clone()));
    // Seen from another node.
    let other = open(&server, 1, "node-b");
    let seen = crate::journal::Journal::idempotency(&other)
        .expect("a store")
        .get("k1");
    assert_eq!(seen.expect("get"), Some(stored.clone()));
    // Replaced; and an expired record is not returned.
    let newer = Stored {
        status: 200,
        body: Vec::new(),
        ..stored.clone()
    };
    store.put("k1", &newer).expect("put");
    assert_eq!(store.get("k1").expect("get"), Some(newer));
    let old = Stored {
        created_at: crate::journal::idempotency::oldest_kept() - 10,
        ..stored
    };
    store.put("k2", &old).expect("put");
    assert_eq!(store.get("k2").expect("get"), None);
    // Redis expires the record itself.
    let ttl: i64 = server_conn(&server)
        .and_then(|mut c| redis::cmd("TTL").arg("pb:idem:k1").query(&mut c))
        .expect("ttl");
    let retention = crate::journal::idempotency::RETENTION.as_secs() as i64;
    assert!(ttl > retention - 10 && ttl <= retention, "{ttl}");
}

fn server_conn(server: &RedisServer) -> redis::RedisResult<Connection> {
    Client::open(server.url())?.get_connection_with_timeout(Duration::from_secs(2))
}

#[test]
fn nodes_heartbeat_and_expire_and_status_figures_read() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = open(&server, 3, "node-a");
    let b = open(&server, 3, "node-b");
    assert!(a.nodes().expect("nodes").is_empty());
    b.heartbeat(r#"{"id":"node-b"}"#, Duration::from_secs(30))
        .expect("heartbeat");
    a.heartbeat(r#"{"id":"node-a"}"#, Duration::from_secs(1))
        .expect("heartbeat");
    assert_eq!(
        b.nodes().expect("nodes"),
        vec![
            ("node-a".to_string(), r#"{"id":"node-a"}"#.to_string()),
            ("node-b".to_string(), r#"{"id":"node-b"}"#.to_string()),
        ]
    );
    let began = Instant::now();
    while b.nodes().expect("nodes").len() > 1 {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "a's heartbeat did not expire"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let members: Vec<String> = server_conn(&server)
        .and_then(|mut c| redis::cmd("SMEMBERS").arg("pb:nodes").query(&mut c))
        .expect("members");
    assert_eq!(
        members,
        vec!["node-b".to_string()],
        "the expired one was dropped"
    );
    b.leave().expect("leave");
    assert!(a.nodes().expect("nodes").is_empty());

    a.ping().expect("ping");
    assert!(
        !a.aof_enabled().expect("aof"),
        "the test server runs without AOF"
    );
    assert!(a.memory_used().expect("memory") > 100_000);
    assert_eq!(a.heads().expect("heads"), vec![0, 0, 0]);
    assert_eq!(a.stream_lengths().expect("lengths"), vec![0, 0, 0]);
}

#[test]
fn aof_is_reported_with_config_and_without() {
    let Some(server) = RedisServer::start_with(&["--appendonly", "yes"]) else {
        return;
    };
    assert!(open(&server, 1, "node-a").aof_enabled().expect("aof"));
    drop(server);
    // A managed Redis that disables CONFIG: read from INFO.
    let Some(server) =
        RedisServer::start_with(&["--appendonly", "yes", "--rename-command", "CONFIG", ""])
    else {
        return;
    };
    let config = server_conn(&server).and_then(|mut c| {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query::<Vec<String>>(&mut c)
    });
    assert!(config.is_err(), "CONFIG is disabled: {config:?}");
    assert!(open(&server, 1, "node-a").aof_enabled().expect("aof"));
}

#[test]
fn an_unreachable_redis_is_unavailable_not_a_hang() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let log = open(&server, 2, "node-a");
    let a = party_in(0, 2, "a");
    log_append(&log, 0, &[created(&a)]);

    // Frozen (SIGSTOP): the append is sent, Redis does not answer, the
    // read times out; the batch may have been applied.
    server.signal("STOP");
    let batch = entries(&[input(&a, "while frozen")]);
    let began = Instant::now();
    let err = log.append(0, None, "frozen-1", &batch).expect_err("frozen");
    let took = began.elapsed();
    assert!(
        matches!(
            err,
            LogError::Unavailable {
                maybe_applied: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(took >= IO_TIMEOUT - Duration::from_millis(100), "{took:?}");
    assert!(took < IO_TIMEOUT + Duration::from_secs(2), "{took:?}");
    // The error says where and what.
    let chain = crate::journal::Chain(&err).to_string();
    assert!(
        chain.contains(&server.url()) && chain.contains("appending to partition 0"),
        "{chain}"
    );
    // Back, the retry with the same batch id finds it applied once.
    server.signal("CONT");
    assert_eq!(log.append(0, None, "frozen-1", &batch).expect("retry"), 2);
    assert_eq!(log.heads().expect("heads"), vec![2, 0]);

    // Gone: every call fails fast, nothing was sent.
    server.kill();
    let began = Instant::now();
    let err = log
        .append(0, None, &batch_id(), &entries(&[input(&a, "x")]))
        .expect_err("down");
    assert!(matches!(err, LogError::Unavailable { .. }), "{err:?}");
    let err = log
        .append(0, None, &batch_id(), &entries(&[input(&a, "x")]))
        .expect_err("down");
    assert!(
        matches!(
            err,
            LogError::Unavailable {
                maybe_applied: false,
                ..
            }
        ),
        "no connection, nothing sent: {err:?}"
    );
    assert!(log.tail().is_err());
    assert!(log.ping().is_err());
    assert!(crate::journal::Journal::party_events(&log, &a, 0, 10).is_err());
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    // Opening fails with the URL named.
    let began = Instant::now();
    let err = RedisLog::open(&RedisOptions::new(&server.url(), 2, "node-b"))
        .err()
        .expect("down");
    let chain = crate::journal::Chain(&err).to_string();
    assert!(
        chain.contains(&server.url()) && chain.contains("cannot connect"),
        "{chain}"
    );
    assert!(began.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(1));
}

#[test]
fn connections_redis_dropped_are_replaced_without_a_failure() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let log = open(&server, 1, "node-a");
    let mut tail = log.tail().expect("tail");
    log.ping().expect("ping");
    // Drop every client connection (the tail's and the pool's).
    let killed: i64 = server_conn(&server)
        .and_then(|mut c| {
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("normal")
                .query(&mut c)
        })
        .expect("client kill");
    assert!(killed >= 2, "{killed}");
    log_append(&log, 0, &[created("p0")]);
    let got = tail.read(&[0], Duration::ZERO, 10).expect("reconnected");
    assert!(!got.is_empty());
}

#[test]
fn urls_lose_their_password_in_messages() {
    assert_eq!(
        redact("redis://:secret@host:6379/2"),
        "redis://***@host:6379/2"
    );
    assert_eq!(redact("redis://user:pw@host"), "redis://***@host");
    assert_eq!(redact("redis://host:6379/0"), "redis://host:6379/0");
    assert_eq!(redact("host"), "host");
}

/// Real events (agent results cite catalog records by key) appended by one
/// node decode on another that opened before the records were stored: it
/// reloads them.
#[test]
fn events_citing_catalog_records_decode_on_every_node() {
    use crate::app::{NewInput, NewParty};
    let Some(server) = RedisServer::start() else {
        return;
    };
    const K: u32 = 2;
    let reader = open(&server, K, "node-r");
    let writer = open(&server, K, "node-w");
    let app = crate::App::start_new(crate::Config::default()).expect("app");
    let id = "cites1";
    let ack = app
        .create_party(
            NewParty {
                party_id: Some(id.into()),
                initial_inputs: vec![NewInput {
                    content: "jungle party for 75 guests in Austin, chocolate cake, tacos".into(),
                    ..NewInput::default()
                }],
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled(id, ack.seq, Duration::from_secs(20)));
    let events = app.events(id, 0, 10_000).expect("events");
    app.stop();
    let drafts: Vec<Draft> = events
        .iter()
        .map(|e| Draft {
            event_id: e.event_id.clone(),
            party_id: e.party_id.clone(),
            correlation_id: e.correlation_id.clone(),
            causation_id: e.causation_id.clone(),
            source: e.source.clone(),
            payload: e.payload.clone(),
        })
        .collect();
    let batch = entries(&drafts);
    assert!(
        batch
            .iter()
            .filter(|e| e.json.contains("\"record_ref\":"))
            .count()
            >= 2,
        "results cite records"
    );
    let p = partition_of(id, K);
    assert_eq!(
        writer.append(p, None, &batch_id(), &batch).expect("append"),
        1
    );
    let want = stamped(&drafts, 1);
    let mut tail = reader.tail().expect("tail");
    let got: Vec<Event> = tail
        .read(&[0; K as usize], Duration::ZERO, 10_000)
        .expect("tail")
        .into_iter()
        .map(|(_, e, _)| (*e).clone())
        .collect();
    assert_eq!(got, want);
    // A node opened afterwards loads them on open.
    let late = open(&server, K, "node-l");
    assert_eq!(
        replayed(&late)
            .0
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>(),
        want
    );
    let records: i64 = server_conn(&server)
        .and_then(|mut c| redis::cmd("HLEN").arg("pb:records").query(&mut c))
        .expect("hlen");
    assert!(records >= 2, "{records}");
}

/// Figures, not a check: `cargo test --release --lib journal::redis::tests::figures -- --ignored --nocapture`.
/// One append of 20 events (mean of 1,000), one of 1 event, then the tail
/// and the replay reading everything back.
#[test]
#[ignore = "prints figures; run by hand in release"]
fn figures() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const K: u32 = 16;
    let log = open(&server, K, "node-a");
    let parties: Vec<String> = (0..K).map(|p| party_in(p, K, "fig")).collect();
    for (p, party) in parties.iter().enumerate() {
        log_append(&log, p as u32, &[created(party)]);
    }
    let batch = |party: &str| -> Vec<Entry> {
        entries(
            &(0..20)
                .map(|i| {
                    input(
                        party,
                        &format!("jungle theme party for 75 guests, item {i}"),
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    let batches: Vec<(u32, Vec<Entry>)> = (0..1_000u32)
        .map(|i| (i % K, batch(&parties[(i % K) as usize])))
        .collect();
    let bytes: usize = batches[0].1.iter().map(|e| e.json.len()).sum();
    let mut took = Vec::with_capacity(batches.len());
    let began = Instant::now();
    for (p, entries) in &batches {
        let t = Instant::now();
        log.append(*p, None, &batch_id(), entries).expect("append");
        took.push(t.elapsed());
    }
    let total = began.elapsed();
    took.sort();
    eprintln!(
        "append 20 events ({bytes} B of JSON): mean {:?}, p50 {:?}, p99 {:?} over 1,000 ({:.0} events/s)",
        total / 1_000,
        took[500],
        took[990],
        20_000.0 / total.as_secs_f64()
    );
    let one: Vec<Entry> = entries(&[input(&parties[0], "one more")]);
    let began = Instant::now();
    for _ in 0..1_000 {
        log.append(0, None, &batch_id(), &one).expect("append");
    }
    eprintln!(
        "append 1 event: mean {:?} over 1,000",
        began.elapsed() / 1_000
    );
    let stored: u64 = log.heads().expect("heads").iter().sum();

    let mut tail = log.tail().expect("tail");
    let mut after = vec![0u64; K as usize];
    let (mut n, began) = (0u64, Instant::now());
    loop {
        let got = tail.read(&after, Duration::ZERO, 1_000).expect("tail");
        if got.is_empty() {
            break;
        }
        for (p, e, _) in &got {
            after[*p as usize] = e.seq;
        }
        n += got.len() as u64;
    }
    let t = began.elapsed();
    assert_eq!(n, stored);
    eprintln!(
        "tail (max 1,000 per read): {n} events in {t:?} ({:.0} events/s)",
        n as f64 / t.as_secs_f64()
    );
    let began = Instant::now();
    let mut m = 0u64;
    log.replay_all(&mut |_, _| m += 1).expect("replay");
    let t = began.elapsed();
    assert_eq!(m, stored);
    eprintln!(
        "replay_all: {m} events in {t:?} ({:.0} events/s)",
        m as f64 / t.as_secs_f64()
    );
    let began = Instant::now();
    for _ in 0..1_000 {
        let h = crate::journal::Journal::party_events(&log, &parties[1], 0, 100).expect("history");
        assert_eq!(h.len(), 100);
    }
    eprintln!(
        "party_events (100 of 1,250): mean {:?} over 1,000",
        began.elapsed() / 1_000
    );
    let info = log.memory_used().expect("memory");
    eprintln!(
        "redis used_memory: {:.1} MB for {stored} events",
        info as f64 / 1e6
    );
}
