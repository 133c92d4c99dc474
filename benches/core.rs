//! Core benchmarks: thread hand-offs, bus fan-out, store apply, and the full
//! in-process pipeline (create a party with the jungle input → final plan
//! applied).
//!
//! Run: `cargo bench --bench core`. Quick smoke: `cargo bench --bench core -- --quick`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use partybus::app::{NewInput, NewParty};
use partybus::bus::{Admission, Bus, BusConfig, Filter, SlowPolicy};
use partybus::event::{Draft, InputRemoved, Payload, RemovalReason, Topic};
use partybus::journal::NullJournal;
use partybus::store::Store;
use partybus::{App, Config};

fn draft(party: &str, n: u64) -> Draft {
    Draft::command(
        party,
        "corr_bench",
        Payload::InputRemoved(InputRemoved {
            input_id: format!("inp_{n}"),
            removed_by: "user".into(),
            reason: RemovalReason::UserAction,
        }),
    )
}

/// A bus with no journal and no read model: only the dispatcher's own work.
fn bare_bus() -> Bus {
    Bus::start(
        BusConfig::default(),
        1,
        Arc::new(NullJournal),
        Box::new(|_| {}),
    )
}

/// What one hand-off between threads costs on this machine: the floor under
/// every step of a change wave, which crosses threads at each stage.
/// `thread_ping_pong`: two threads bounce a token over crossbeam channels
/// (two wake-ups per round trip). `bus_stage_round_trip`: one wave stage
/// with an agent that does no work: publish, the dispatcher delivers to a
/// subscriber thread, it publishes a reply, the dispatcher delivers it back
/// (four wake-ups).
fn handoff(c: &mut Criterion) {
    const TRIPS: u64 = 2_000;
    let mut g = c.benchmark_group("handoff");
    g.throughput(Throughput::Elements(TRIPS));
    g.bench_function("thread_ping_pong", |b| {
        b.iter_custom(|iters| {
            let (to_peer, peer_rx) = crossbeam_channel::bounded::<u64>(1);
            let (to_main, main_rx) = crossbeam_channel::bounded::<u64>(1);
            let peer = thread::spawn(move || {
                while let Ok(n) = peer_rx.recv() {
                    if to_main.send(n).is_err() {
                        return;
                    }
                }
            });
            let start = Instant::now();
            for n in 0..iters * TRIPS {
                to_peer.send(n).expect("send");
                assert_eq!(main_rx.recv().expect("recv"), n);
            }
            let took = start.elapsed();
            drop(to_peer);
            peer.join().expect("peer");
            took
        })
    });
    g.bench_function("bus_stage_round_trip", |b| {
        b.iter_custom(|iters| {
            let bus = bare_bus();
            let mut asks = bus.subscribe("agent", Filter::party("ask"), SlowPolicy::Block);
            let mut answers = bus.subscribe("caller", Filter::party("answer"), SlowPolicy::Block);
            let agent_bus = bus.clone();
            let agent = thread::spawn(move || {
                let mut n = 0;
                while let Ok(batch) = asks.recv_batch(Duration::from_secs(30)) {
                    for _ in batch {
                        n += 1;
                        let reply = vec![draft("answer", n)];
                        if agent_bus.publish(reply, Admission::Internal).is_err() {
                            return;
                        }
                    }
                }
            });
            let start = Instant::now();
            for n in 0..iters * TRIPS {
                bus.publish(vec![draft("ask", n)], Admission::Internal)
                    .expect("publish");
                let reply = answers
                    .recv_timeout(Duration::from_secs(30))
                    .expect("reply");
                assert_eq!(reply.party_id, "answer");
            }
            let took = start.elapsed();
            bus.shutdown();
            agent.join().expect("agent");
            took
        })
    });
    g.finish();
}

/// Publishes one event at a time; six subscriber threads drain.
fn bus_fan_out(c: &mut Criterion) {
    const EVENTS: u64 = 20_000;
    let mut g = c.benchmark_group("bus");
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("publish_to_6_subscribers", |b| {
        b.iter_custom(|iters| {
            let bus = bare_bus();
            let total = iters * EVENTS;
            let readers: Vec<_> = (0..6)
                .map(|i| {
                    let mut sub = bus.subscribe(
                        &format!("s{i}"),
                        Filter::topics(&Topic::ALL),
                        SlowPolicy::Block,
                    );
                    thread::spawn(move || loop {
                        match sub.recv_batch(Duration::from_secs(30)) {
                            Ok(batch) => {
                                if batch.last().is_some_and(|e| e.seq >= total) {
                                    return;
                                }
                            }
                            Err(_) => return,
                        }
                    })
                })
                .collect();
            let drafts: Vec<Draft> = (0..total).map(|n| draft("p", n)).collect();
            let start = Instant::now();
            for d in drafts {
                bus.publish(vec![d], Admission::Internal).expect("publish");
            }
            for r in readers {
                r.join().expect("reader");
            }
            let took = start.elapsed();
            bus.shutdown();
            took
        })
    });
    g.finish();
}

/// The events of one planned jungle party, as the pipeline produces them.
fn jungle_party_events() -> Vec<Arc<partybus::event::Event>> {
    let app = App::start_new(Config::default()).expect("app");
    let ack = app.create_party(jungle_party(), None).expect("create");
    assert!(app.wait_settled(&ack.party_id, ack.seq, Duration::from_secs(10)));
    let events = app.events(&ack.party_id, 0, 1000).expect("events");
    app.stop();
    events
}

/// Applies a realistic party event stream to the store.
fn store_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    g.bench_function("apply_party_stream", |b| {
        let events = jungle_party_events();
        b.iter(|| {
            let mut s = Store::new();
            for e in &events {
                s.apply(e);
            }
            s
        })
    });
    g.finish();
}

fn jungle_party() -> NewParty {
    NewParty {
        initial_inputs: vec![NewInput {
            content: "jungle theme party for 75 guests".into(),
            ..NewInput::default()
        }],
        ..NewParty::default()
    }
}

/// Parties planned per second, end to end in process, with `clients`
/// concurrent creators each waiting for its plan.
fn pipeline(c: &mut Criterion) {
    const PARTIES: u64 = 2_000;
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(PARTIES));
    g.sample_size(10);
    for clients in [1usize, 32] {
        g.bench_with_input(
            BenchmarkId::new("jungle_party_to_plan", clients),
            &clients,
            |b, &clients| {
                let app = Arc::new(
                    App::start_new(Config {
                        journal: Arc::new(NullJournal),
                        ..Config::default()
                    })
                    .expect("app"),
                );
                b.iter_custom(|iters| {
                    let per_client = iters * PARTIES / clients as u64;
                    let start = Instant::now();
                    let workers: Vec<_> = (0..clients)
                        .map(|_| {
                            let app = app.clone();
                            thread::spawn(move || {
                                for _ in 0..per_client {
                                    let ack =
                                        app.create_party(jungle_party(), None).expect("create");
                                    assert!(app.wait_settled(
                                        &ack.party_id,
                                        ack.seq,
                                        Duration::from_secs(30)
                                    ));
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.join().expect("worker");
                    }
                    start.elapsed()
                });
                app.stop();
            },
        );
    }
    g.finish();
}

/// Throughput with creation and planning overlapped: `clients` threads each
/// create their share of parties (each acknowledged once applied), then wait
/// until every one of them has its final plan.
fn pipeline_overlapped(c: &mut Criterion) {
    const PARTIES: u64 = 4_000;
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(PARTIES));
    g.sample_size(10);
    let clients = 8usize;
    g.bench_with_input(
        BenchmarkId::new("jungle_party_to_plan_overlapped", clients),
        &clients,
        |b, &clients| {
            b.iter_custom(|iters| {
                // A fresh App per sample: one App across all samples would
                // collect every party ever created and hit the party limit.
                let app = Arc::new(
                    App::start_new(Config {
                        journal: Arc::new(NullJournal),
                        ..Config::default()
                    })
                    .expect("app"),
                );
                let per_client = iters * PARTIES / clients as u64;
                let start = Instant::now();
                let workers: Vec<_> = (0..clients)
                    .map(|_| {
                        let app = app.clone();
                        thread::spawn(move || {
                            let acks: Vec<_> = (0..per_client)
                                .map(|_| app.create_party(jungle_party(), None).expect("create"))
                                .collect();
                            for ack in acks {
                                assert!(app.wait_settled(
                                    &ack.party_id,
                                    ack.seq,
                                    Duration::from_secs(60)
                                ));
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    w.join().expect("worker");
                }
                let took = start.elapsed();
                app.stop();
                took
            });
        },
    );
    g.finish();
}

criterion_group!(
    benches,
    handoff,
    bus_fan_out,
    store_apply,
    pipeline,
    pipeline_overlapped
);
criterion_main!(benches);
