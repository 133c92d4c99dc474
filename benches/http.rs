//! HTTP and WebSocket benchmarks over loopback, against an [`App`] and its
//! server started in this process on 127.0.0.1:0 (auth on), with the load
//! generator's own keep-alive client:
//!
//! - `http/get_status`: `GET /party/{id}/status` of a planned party.
//! - `http/post_input`: `POST /party/{id}/input` (a fresh party every
//!   [`INPUTS_PER_PARTY`] inputs, created off the clock, so the party does
//!   not grow without bound).
//! - `e2e/create_to_plan/{clients}`: `POST /party` → WebSocket (token,
//!   `since`) → the wave's `plan_updated`, one after another per client.
//!
//! Run: `cargo bench --bench http`. Quick smoke:
//! `cargo bench --bench http -- --quick --warm-up-time 1 --measurement-time 1`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use loadgen::client::HttpClient;
use loadgen::ws::{PlanRule, WsClient};
use partybus::journal::NullJournal;
use partybus::server::{serve, RateLimits, ServerConfig, ServerHandle};
use partybus::{App, Config};
use serde_json::Value;

const API: &str = "/api/v1/event-driven";

/// Inputs posted to one party before the bench moves to a fresh one.
const INPUTS_PER_PARTY: u64 = 32;

/// How long a plan may take before the bench gives up.
const PLAN_WAIT: Duration = Duration::from_secs(30);

const JUNGLE: &str = r#"{"initial_inputs":[{"content":"jungle theme party for 75 guests"},{"content":"need a chocolate cake with animal decorations"},{"content":"outdoor venue preferred, budget around $2000"}]}"#;

/// The app and its server, stopped on drop.
struct Bench {
    app: Arc<App>,
    addr: SocketAddr,
    server: Option<ServerHandle>,
}

impl Bench {
    fn start() -> Bench {
        let app = Arc::new(
            App::start_new(Config {
                journal: Arc::new(NullJournal),
                ..Config::default()
            })
            .expect("app"),
        );
        // One client IP sends everything: the per-IP rate limits would
        // measure the limiter (429s), so they are off.
        let config = ServerConfig {
            rate_limits: RateLimits::OFF,
            ..ServerConfig::default()
        };
        let server = serve(app.clone(), config).expect("server");
        let addr = server.local_addr();
        Bench {
            app,
            addr,
            server: Some(server),
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        self.app.stop();
    }
}

/// A created party: id, token and the create acknowledgement's `seq`.
fn create(c: &mut HttpClient) -> (String, String, u64) {
    let r = c
        .request(
            "POST",
            &format!("{API}/party"),
            &[],
            Some(JUNGLE.as_bytes()),
        )
        .expect("create");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    (
        v["party_id"].as_str().expect("id").to_string(),
        v["party_token"].as_str().expect("token").to_string(),
        v["seq"].as_u64().expect("seq"),
    )
}

fn get_status(c: &mut Criterion) {
    let bench = Bench::start();
    let mut client = HttpClient::new(bench.addr);
    let (id, token, seq) = create(&mut client);
    assert!(bench.app.wait_settled(&id, seq, PLAN_WAIT));
    let path = format!("{API}/party/{id}/status");
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_status", |b| {
        b.iter(|| {
            let r = client.get(&path, Some(&token)).expect("status");
            assert_eq!(r.status, 200);
            r
        })
    });
    g.finish();
}

fn post_input(c: &mut Criterion) {
    let bench = Bench::start();
    let mut client = HttpClient::new(bench.addr);
    let body = br#"{"content":"budget around $3500, add a face painter","tags":["bench"]}"#;
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("post_input", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            let mut party = None;
            for n in 0..iters {
                if n % INPUTS_PER_PARTY == 0 {
                    let (id, token, _) = create(&mut client);
                    party = Some((format!("{API}/party/{id}/input"), format!("Bearer {token}")));
                }
                let (path, auth) = party.as_ref().expect("a party");
                let start = Instant::now();
                let r = client
                    .request("POST", path, &[("Authorization", auth)], Some(body))
                    .expect("input");
                took += start.elapsed();
                assert_eq!(r.status, 201);
            }
            took
        })
    });
    g.finish();
}

/// Creates a party, follows its WebSocket to the wave's plan.
fn create_to_plan(client: &mut HttpClient, addr: SocketAddr) {
    let (id, token, seq) = create(client);
    let mut ws = WsClient::connect(
        addr,
        &format!("{API}/ws/{id}?token={token}&since={seq}"),
        PLAN_WAIT,
    )
    .expect("ws");
    ws.wait_plan(PlanRule::AfterSeq(seq), PLAN_WAIT)
        .expect("plan");
    ws.close();
}

fn e2e(c: &mut Criterion) {
    let bench = Bench::start();
    let mut g = c.benchmark_group("e2e");
    g.sample_size(10);
    for clients in [1usize, 32] {
        g.throughput(Throughput::Elements(clients as u64));
        g.bench_with_input(
            BenchmarkId::new("create_to_plan", clients),
            &clients,
            |b, &clients| {
                let addr = bench.addr;
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    let workers: Vec<_> = (0..clients)
                        .map(|_| {
                            thread::spawn(move || {
                                let mut client = HttpClient::new(addr);
                                for _ in 0..iters {
                                    create_to_plan(&mut client, addr);
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.join().expect("worker");
                    }
                    start.elapsed()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, get_status, post_input, e2e);
criterion_main!(benches);
