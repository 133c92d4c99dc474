//! Scale-out on Redis Streams: several `partybus serve --journal redis://…`
//! nodes (the built binary) on one `redis-server` of the test's own
//! ([`Redis`]). Same API on every node, one agent run per request while
//! nodes die, nothing acknowledged lost while nodes or Redis die, and a late
//! node folding the same read model.
//!
//! Each test skips (with a line saying so) where `redis-server` is not
//! installed, unless `PARTYBUS_REQUIRE_REDIS` is set, as CI sets it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use crate::util::redis::Redis;
use crate::util::{
    bin_command, output_within, poll, poll_until, request, signal, try_request, Served, Ws, API,
    WAIT,
};

const ADMIN: &str = "cluster-admin-token";

/// A node of the cluster on `redis`, with `partitions` partitions and short
/// leases (a dead node's partitions move on within a second).
fn node(redis: &Redis, id: &str, partitions: u32) -> Served {
    let extra = [
        "--lease-ttl-ms",
        "1000",
        "--admin-token",
        ADMIN,
        "--log-level",
        "info",
    ];
    redis.node(id, partitions, &extra)
}

/// One HTTP call; `headers` beyond the token and JSON type.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let bytes = body.map(|b| b.to_string().into_bytes());
    if bytes.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let r = request(addr, method, path, &headers, bytes.as_deref());
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn create(addr: SocketAddr, content: &str) -> (String, String, u64) {
    let (status, v) = call(
        addr,
        "POST",
        &format!("{API}/party"),
        None,
        Some(&json!({"initial_inputs": [{"content": content}]})),
        &[],
    );
    assert_eq!(status, 201, "{v}");
    (
        v["party_id"].as_str().unwrap().to_string(),
        v["party_token"].as_str().unwrap().to_string(),
        v["seq"].as_u64().unwrap(),
    )
}

/// The party's status on `addr` once that node has applied `after`.
fn status_after(addr: SocketAddr, party: &str, token: &str, after: u64) -> Value {
    let after = after.to_string();
    let (status, v) = call(
        addr,
        "GET",
        &format!("{API}/party/{party}/status"),
        Some(token),
        None,
        &[("X-Partybus-After", &after)],
    );
    assert_eq!(status, 200, "{v}");
    v["party"].clone()
}

/// Waits until the party's planning is done (status `ready`) on `addr`,
/// having applied at least `after`; returns its status.
fn planned(addr: SocketAddr, party: &str, token: &str, after: u64) -> Value {
    let mut last = Value::Null;
    let done = poll(Instant::now() + WAIT, || {
        last = status_after(addr, party, token, after);
        last["status"] == "ready" && last["final_plan"].is_object()
    });
    let brief = json!({
        "status": last["status"],
        "last_seq": last["last_seq"],
        "inputs": last["inputs"].as_array().map(Vec::len),
        "agents": last["agents"].as_object().map(|a| a.iter().map(|(k, v)| (k.clone(), v["status"].clone())).collect::<BTreeMap<_, _>>()),
    });
    assert!(
        done,
        "party {party} not planned on {addr} after seq {after}: {brief}"
    );
    last
}

/// Every event of a party, through `addr`'s events route.
fn events(addr: SocketAddr, party: &str, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        let (status, v) = call(
            addr,
            "GET",
            &format!("{API}/party/{party}/events?since={since}&limit=1000"),
            Some(token),
            None,
            &[],
        );
        assert_eq!(status, 200, "{v}");
        let page = v["events"].as_array().cloned().unwrap_or_default();
        all.extend(page);
        if v["has_more"] != true {
            return all;
        }
        since = v["next_since"].as_u64().unwrap();
    }
}

/// Asserts a party's events are in strictly increasing `seq` order and no
/// agent answered one request twice (one `completed` or `failed` per
/// `should_execute`).
fn assert_ordered_and_once(party: &str, evs: &[Value]) {
    let seqs: Vec<u64> = evs.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "party {party}: seqs out of order: {seqs:?}"
    );
    let mut answers: HashMap<String, usize> = HashMap::new();
    for e in evs {
        let t = e["event_type"].as_str().unwrap_or("");
        if t == "party.agent.completed" || t == "party.agent.failed" {
            let cause = e["causation_id"].as_str().unwrap_or("").to_string();
            *answers.entry(cause).or_default() += 1;
        }
    }
    let twice: Vec<_> = answers.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "party {party}: requests answered twice: {twice:?}"
    );
}

/// Where two JSON values differ: the first few paths.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 8 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(va, vb, &format!("{path}/{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(va, vb, &format!("{path}/{i}"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// Waits until every node shows every acknowledged party in the same
/// state, byte for byte (each folds the same log; a node may be a few
/// events behind for a moment); names the differences if they stay.
fn converge(nodes: &[SocketAddr], acked: &Acked) {
    let acked = acked.lock().unwrap().clone();
    let states = |addr: SocketAddr| -> BTreeMap<String, Value> {
        acked
            .iter()
            .map(|(party, (token, _, seq))| (party.clone(), status_after(addr, party, token, *seq)))
            .collect()
    };
    let mut out = Vec::new();
    let same = poll(Instant::now() + WAIT, || {
        out.clear();
        let first = states(nodes[0]);
        for &addr in &nodes[1..] {
            let other = states(addr);
            for (party, va) in &first {
                differences(
                    va,
                    other.get(party).unwrap_or(&Value::Null),
                    party,
                    &mut out,
                );
            }
        }
        out.is_empty()
    });
    assert!(same, "nodes disagree: {out:#?}");
}

fn cluster_status(addr: SocketAddr) -> Value {
    let (status, v) = call(
        addr,
        "GET",
        &format!("{API}/system/status"),
        Some(ADMIN),
        None,
        &[],
    );
    assert_eq!(status, 200, "{v}");
    v["status"]["cluster"].clone()
}

/// Waits until `addr` sees `nodes` nodes alive and every partition held.
fn wait_balanced(addr: SocketAddr, nodes: usize) -> Value {
    let mut last = Value::Null;
    let balanced = poll(Instant::now() + WAIT, || {
        last = cluster_status(addr);
        let alive = last["nodes"].as_array().map_or(0, Vec::len);
        let parts = last["partition_status"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let owners: BTreeSet<&str> = parts.iter().filter_map(|p| p["owner"].as_str()).collect();
        alive == nodes
            && !parts.is_empty()
            && parts.iter().all(|p| p["owner"].is_string())
            && owners.len() == nodes
    });
    assert!(
        balanced,
        "{nodes} nodes did not share every partition: {last:#}"
    );
    last
}

#[test]
fn a_party_made_on_one_node_is_read_changed_and_streamed_on_another() {
    let Some(redis) = Redis::start() else {
        return eprintln!("skipped: redis-server not installed");
    };
    let n1 = node(&redis, "n1", 4);
    let n2 = node(&redis, "n2", 4);
    let n3 = node(&redis, "n3", 4);
    let status = wait_balanced(n1.addr, 3);
    assert_eq!(status["partitions"], 4);

    let (party, token, seq) = create(n1.addr, "birthday for 20 kids in Austin, superhero theme");
    // Node 2 streams it from the start, with the token node 1 issued.
    let mut ws = Ws::connect(&format!(
        "ws://{}{API}/ws/{party}?since=0&token={token}",
        n2.addr
    ))
    .expect("connect to node 2");
    let first = ws.events_until(|e| e["type"] == "plan_updated");
    let first: Vec<Value> = first.into_iter().filter(|e| e["seq"].is_u64()).collect();
    assert_eq!(first[0]["type"], "party_created", "{first:?}");
    assert_eq!(first[0]["seq"], json!(seq - 1));
    let plan = planned(n3.addr, &party, &token, seq);
    assert_eq!(plan["inputs"].as_array().unwrap().len(), 1);

    // Changed through node 3; node 2's stream sees it and the new plan.
    let (status, v) = call(
        n3.addr,
        "POST",
        &format!("{API}/party/{party}/input"),
        Some(&token),
        Some(&json!({"content": "budget $800, vegetarian food"})),
        &[],
    );
    assert_eq!(status, 201, "{v}");
    let added = v["seq"].as_u64().unwrap();
    let more = ws.events_until(|e| e["type"] == "plan_updated" && e["seq"].as_u64() > Some(added));
    assert!(more.iter().any(|e| e["type"] == "input_added"), "{more:?}");
    // In order, nothing twice, across the two nodes' writes.
    let seqs: Vec<u64> = first
        .iter()
        .chain(&more)
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_ordered_and_once(&party, &events(n2.addr, &party, &token));

    // Read your writes on node 1, naming the seq node 3 answered.
    let p1 = status_after(n1.addr, &party, &token, added);
    assert_eq!(p1["inputs"].as_array().unwrap().len(), 2);
    // The same party, the same state, on every node.
    let p = planned(n1.addr, &party, &token, added);
    assert_eq!(planned(n2.addr, &party, &token, added), p);
    assert_eq!(planned(n3.addr, &party, &token, added), p);
    // A seq no node has reached: a bounded wait, then a clear 503.
    let far = (added + 1_000_000).to_string();
    let (status, v) = call(
        n2.addr,
        "GET",
        &format!("{API}/party/{party}/status"),
        Some(&token),
        None,
        &[("X-Partybus-After", &far)],
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("catching_up")),
        "{v}"
    );
    // A retry through another node gets the first answer (Idempotency-Key).
    let key = [("Idempotency-Key", "cluster-retry-1")];
    let body = json!({"content": "a piñata, please"});
    let path = format!("{API}/party/{party}/input");
    let (s1, first) = call(n1.addr, "POST", &path, Some(&token), Some(&body), &key);
    let (s2, again) = call(n2.addr, "POST", &path, Some(&token), Some(&body), &key);
    assert_eq!((s1, s2), (201, 201), "{first} / {again}");
    assert_eq!(first, again);
    let added = first["seq"].as_u64().unwrap();
    let p = planned(n3.addr, &party, &token, added);
    assert_eq!(
        p["inputs"].as_array().unwrap().len(),
        3,
        "one input, not two"
    );
    // A duplicate client-chosen id is refused cluster-wide.
    let body = json!({"party_id": "same-id-everywhere"});
    let (a, _) = call(
        n1.addr,
        "POST",
        &format!("{API}/party"),
        None,
        Some(&body),
        &[],
    );
    let (b, v) = call(
        n2.addr,
        "POST",
        &format!("{API}/party"),
        None,
        Some(&body),
        &[],
    );
    assert_eq!((a, b), (201, 409), "{v}");
    // A token rotated through node 1 closes the streams it let in on node 3.
    let mut old = Ws::connect(&format!(
        "ws://{}{API}/ws/{party}?since={added}&token={token}",
        n3.addr
    ))
    .expect("connect to node 3");
    let (status, v) = call(
        n1.addr,
        "POST",
        &format!("{API}/party/{party}/token"),
        Some(&token),
        None,
        &[],
    );
    assert_eq!(status, 200, "{v}");
    let (_, code) = old.until_close_code();
    assert_eq!(code, Some(1008));
    let token = v["party_token"].as_str().unwrap().to_string();
    // Deleted through node 2: gone on node 1 too.
    let (status, v) = call(
        n2.addr,
        "DELETE",
        &format!("{API}/party/{party}"),
        Some(&token),
        None,
        &[],
    );
    assert_eq!(status, 200, "{v}");
    let gone = v["seq"].as_u64().unwrap().to_string();
    let (status, _) = call(
        n1.addr,
        "GET",
        &format!("{API}/party/{party}/status"),
        Some(&token),
        None,
        &[("X-Partybus-After", &gone)],
    );
    assert_eq!(status, 404);
}

/// Parties and inputs acknowledged by the writers, by party: (token,
/// input ids, highest seq acknowledged).
type Acked = Arc<Mutex<BTreeMap<String, (String, BTreeSet<String>, u64)>>>;

/// Writes to the nodes in turn until `stop`: a new party every few
/// requests, else an input to one of its parties; records what was
/// acknowledged. A node that does not answer (killed) is skipped.
fn writer(nodes: Vec<SocketAddr>, acked: Acked, stop: Arc<std::sync::atomic::AtomicBool>, n: u64) {
    let mut mine: Vec<String> = Vec::new();
    let mut i = n;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        i += 1;
        let addr = nodes[(i as usize) % nodes.len()];
        if mine.is_empty() || i.is_multiple_of(4) {
            let body = json!({"initial_inputs": [{"content": format!("party {i}: 15 guests in Denver, budget $600")}]});
            let bytes = body.to_string().into_bytes();
            let Ok(r) = try_request(
                addr,
                "POST",
                &format!("{API}/party"),
                &[("Content-Type", "application/json")],
                Some(&bytes),
            ) else {
                continue;
            };
            if r.status != 201 {
                continue;
            }
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let id = v["party_id"].as_str().unwrap().to_string();
            let inputs: BTreeSet<String> = v["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            acked.lock().unwrap().insert(
                id.clone(),
                (
                    v["party_token"].as_str().unwrap().to_string(),
                    inputs,
                    v["seq"].as_u64().unwrap(),
                ),
            );
            mine.push(id);
        } else {
            let party = mine[(i as usize) % mine.len()].clone();
            let token = acked.lock().unwrap()[&party].0.clone();
            let auth = format!("Bearer {token}");
            let body = json!({"content": format!("add {i}: vegetarian cake please")});
            let bytes = body.to_string().into_bytes();
            let Ok(r) = try_request(
                addr,
                "POST",
                &format!("{API}/party/{party}/input"),
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", &auth),
                ],
                Some(&bytes),
            ) else {
                continue;
            };
            if r.status != 201 {
                continue;
            }
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let mut a = acked.lock().unwrap();
            let entry = a.get_mut(&party).unwrap();
            entry.1.insert(v["input_id"].as_str().unwrap().to_string());
            entry.2 = entry.2.max(v["seq"].as_u64().unwrap());
        }
    }
}

/// `n` [`writer`]s over `nodes`, until [`Writers::stop`].
struct Writers {
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    fn start(n: u64, nodes: &[SocketAddr]) -> Writers {
        let acked: Acked = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..n)
            .map(|w| {
                let (nodes, acked, stop) = (nodes.to_vec(), acked.clone(), stop.clone());
                std::thread::spawn(move || writer(nodes, acked, stop, w * 1_000_000))
            })
            .collect();
        Writers {
            acked,
            stop,
            threads,
        }
    }

    /// Stops the writers and waits for them.
    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

/// Checks every acknowledged party and input is on `addr`, each party's
/// planning completes there, and no request was answered twice.
fn verify(addr: SocketAddr, acked: &Acked) {
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "nothing was acknowledged");
    for (party, (token, inputs, seq)) in &acked {
        let p = planned(addr, party, token, *seq);
        let have: BTreeSet<String> = p["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["input_id"].as_str().unwrap().to_string())
            .collect();
        assert!(
            inputs.is_subset(&have),
            "party {party}: acknowledged inputs missing: {:?}",
            inputs.difference(&have).collect::<Vec<_>>()
        );
        assert_ordered_and_once(party, &events(addr, party, token));
    }
}

#[test]
fn kill_9_of_a_node_mid_wave_loses_nothing_and_runs_each_request_once() {
    let Some(redis) = Redis::start() else {
        return eprintln!("skipped: redis-server not installed");
    };
    let n1 = node(&redis, "n1", 6);
    let mut n2 = node(&redis, "n2", 6);
    let n3 = node(&redis, "n3", 6);
    wait_balanced(n1.addr, 3);
    let writers = Writers::start(4, &[n1.addr, n2.addr, n3.addr]);
    let acked = writers.acked.clone();
    // Killed once a random number of writes were acknowledged: mid-wave.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let kill_after = 5 + nanos % 10;
    poll_until("parties acknowledged", Instant::now() + WAIT, || {
        acked.lock().unwrap().len() >= kill_after
    });
    signal(n2.pid(), "-KILL");
    let _ = n2.take().wait();
    // The survivors take node 2's partitions over and keep accepting.
    wait_balanced(n1.addr, 2);
    let before = acked.lock().unwrap().len();
    poll_until("writes after the kill", Instant::now() + WAIT, || {
        acked.lock().unwrap().len() >= before + 5
    });
    writers.stop();
    verify(n1.addr, &acked);
    verify(n3.addr, &acked);
    // A node joining late folds the same read model.
    let n4 = node(&redis, "n4", 6);
    verify(n4.addr, &acked);
    converge(&[n1.addr, n3.addr, n4.addr], &acked);
}

#[test]
fn redis_restarted_mid_run_with_aof_loses_nothing_acknowledged() {
    let Some(mut redis) = Redis::start_with(true) else {
        return eprintln!("skipped: redis-server not installed");
    };
    let n1 = node(&redis, "n1", 4);
    let n2 = node(&redis, "n2", 4);
    wait_balanced(n1.addr, 2);
    let writers = Writers::start(3, &[n1.addr, n2.addr]);
    let acked = writers.acked.clone();
    poll_until("writes acknowledged", Instant::now() + WAIT, || {
        acked.lock().unwrap().len() >= 8
    });
    redis.kill();
    // Without Redis: not ready, and writes refused with a clear code.
    poll_until("readyz 503 without Redis", Instant::now() + WAIT, || {
        request(n1.addr, "GET", "/readyz", &[], None).status == 503
    });
    let (status, v) = call(
        n1.addr,
        "POST",
        &format!("{API}/party"),
        None,
        Some(&json!({})),
        &[],
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("journal_unavailable")),
        "{v}"
    );
    let during = acked.lock().unwrap().len();
    redis.restart();
    // Back by itself.
    poll_until("readyz 200 with Redis back", Instant::now() + WAIT, || {
        request(n1.addr, "GET", "/readyz", &[], None).status == 200
            && request(n2.addr, "GET", "/readyz", &[], None).status == 200
    });
    poll_until("writes after Redis is back", Instant::now() + WAIT, || {
        acked.lock().unwrap().len() >= during + 5
    });
    writers.stop();
    verify(n1.addr, &acked);
    verify(n2.addr, &acked);
    converge(&[n1.addr, n2.addr], &acked);
}

#[test]
fn a_node_refuses_another_partition_count_and_full_durability_without_aof() {
    let Some(redis) = Redis::start() else {
        return eprintln!("skipped: redis-server not installed");
    };
    let _n1 = node(&redis, "n1", 4);
    let run = |args: &[&str]| {
        let url = redis.url();
        let mut all = vec!["serve", "--port", "0", "--journal", &url];
        all.extend_from_slice(args);
        let child = bin_command(&all, &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        output_within(child, "serve", WAIT)
    };
    let out = run(&["--partitions", "8"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 partitions") && err.contains("--partitions 8"),
        "{err}"
    );
    let out = run(&["--partitions", "4", "--durability", "full"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("appendonly"), "{err}");
}

#[test]
fn deleted_parties_leave_redis_once_every_node_applied_them() {
    let Some(redis) = Redis::start() else {
        return eprintln!("skipped: redis-server not installed");
    };
    let n1 = node(&redis, "n1", 2);
    let n2 = node(&redis, "n2", 2);
    wait_balanced(n1.addr, 2);
    let keep = create(n1.addr, "keep me: 10 guests in Austin");
    for i in 0..6 {
        let (party, token, seq) = create(n2.addr, &format!("party {i}: 12 guests in Denver"));
        planned(n2.addr, &party, &token, seq);
        let (status, v) = call(
            n1.addr,
            "DELETE",
            &format!("{API}/party/{party}"),
            Some(&token),
            None,
            &[],
        );
        assert_eq!(status, 200, "{v}");
    }
    let kept = planned(n1.addr, &keep.0, &keep.1, keep.2);
    let kept_events = events(n1.addr, &keep.0, &keep.1).len();
    let stored = || -> u64 {
        (0..2)
            .map(|p| {
                redis
                    .cli(&["XLEN", &format!("pb:{{p{p}}}:log")])
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    // Purged by the partitions' owners (every few lease periods).
    poll_until("deleted parties purged", Instant::now() + WAIT, || {
        stored() == kept_events as u64
    });
    // What is left is the live party, whole, on a fresh node too.
    let n3 = node(&redis, "n3", 2);
    assert_eq!(planned(n3.addr, &keep.0, &keep.1, keep.2), kept);
}
