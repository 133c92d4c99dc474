//! `GET /party/{id}/digest`'s work for a party of 200 inputs (the input
//! cap) added one at a time, each planned before the next (so its journal
//! holds every wave: a few thousand events): reading the party's events,
//! chaining them and digesting the folded state, as the route does; and
//! each part alone.
//!
//! Run: `cargo bench --bench digest`. Quick smoke:
//! `cargo bench --bench digest -- --quick --warm-up-time 1 --measurement-time 1`.

use std::time::Duration;

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use partybus::app::{NewInput, NewParty, DEFAULT_MAX_INPUTS_PER_PARTY};
use partybus::digest::{self, Chain};
use partybus::{App, Config};

fn digest_bench(c: &mut Criterion) {
    let app = App::start_new(Config::default()).expect("app");
    let ack = app
        .create_party(
            NewParty {
                initial_inputs: vec![NewInput {
                    content: "birthday party for 30 guests in Lakewood, budget $2000".into(),
                    ..NewInput::default()
                }],
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    let id = ack.party_id.clone();
    assert!(app.wait_settled(&id, ack.seq, Duration::from_secs(120)));
    for line in support::LINES
        .iter()
        .cycle()
        .take(DEFAULT_MAX_INPUTS_PER_PARTY - 1)
    {
        let ack = app
            .add_input(
                &id,
                NewInput {
                    content: (*line).to_string(),
                    ..NewInput::default()
                },
                None,
                None,
            )
            .expect("add");
        assert!(app.wait_settled(&id, ack.seq, Duration::from_secs(120)));
    }
    let party = app.party(&id).expect("party");
    assert_eq!(party.inputs.len(), DEFAULT_MAX_INPUTS_PER_PARTY);
    let events = app.events(&id, 0, usize::MAX).expect("events");
    eprintln!("digest bench: {} events", events.len());

    let mut g = c.benchmark_group("digest");
    g.bench_function("route_200_inputs", |bench| {
        bench.iter(|| {
            let events = app.events(&id, 0, usize::MAX).expect("events");
            let mut chain = Chain::new(id.as_str());
            for e in events.iter().take_while(|e| e.seq <= party.last_seq) {
                chain.push(e).expect("chain");
            }
            (chain.head(), digest::state_digest(&party).expect("state"))
        })
    });
    g.bench_function("chain_200_inputs", |bench| {
        bench.iter(|| {
            let mut chain = Chain::new(id.as_str());
            for e in &events {
                chain.push(e).expect("chain");
            }
            chain.head()
        })
    });
    g.bench_function("state_200_inputs", |bench| {
        bench.iter(|| digest::state_digest(&party).expect("state"))
    });
    g.bench_function("as_of_seq_200_inputs", |bench| {
        bench.iter(|| digest::party_digest(&id, &events, party.last_seq).expect("digest"))
    });
    g.finish();
    app.stop();
}

criterion_group!(benches, digest_bench);
criterion_main!(benches);
