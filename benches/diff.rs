//! `diff::diff` on two parties of 200 inputs each (the input cap), planned
//! through the real pipeline once: a what-if that changes the guest count
//! (30 → 50) and the city, so facts, suppliers, reasons, budget lines and
//! the summary all have work to do. Then the JSON encoding the route adds.
//!
//! Run: `cargo bench --bench diff`. Quick smoke:
//! `cargo bench --bench diff -- --quick --warm-up-time 1 --measurement-time 1`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use partybus::app::{NewInput, NewParty, DEFAULT_MAX_INPUTS_PER_PARTY};
use partybus::store::Party;
use partybus::{App, Config};

/// Lines a planner might add, cycled to fill a party.
const LINES: [&str; 8] = [
    "jungle theme with lots of green balloons",
    "chocolate cake with animal decorations",
    "some guests are vegan and one is nut-free",
    "we would love a magician or face painting",
    "photos of the cake cutting please",
    "pizza and fruit for the kids",
    "rent a few tables and chairs",
    "the party is on a Saturday afternoon",
];

/// A party of the maximum number of inputs: `first`, then [`LINES`] cycled.
fn planned(app: &App, first: &str) -> Arc<Party> {
    let inputs = std::iter::once(first.to_string())
        .chain(LINES.iter().cycle().map(|l| (*l).to_string()))
        .take(DEFAULT_MAX_INPUTS_PER_PARTY)
        .map(|content| NewInput {
            content,
            ..NewInput::default()
        })
        .collect();
    let ack = app
        .create_party(
            NewParty {
                initial_inputs: inputs,
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled(&ack.party_id, ack.seq, Duration::from_secs(120)));
    app.party(&ack.party_id).expect("party")
}

fn diff_bench(c: &mut Criterion) {
    let app = App::start_new(Config::default()).expect("app");
    let a = planned(
        &app,
        "birthday party for 30 guests in Lakewood, budget $2000",
    );
    let b = planned(
        &app,
        "birthday party for 50 guests in Fairview, budget $2500",
    );
    app.stop();
    assert_eq!(a.inputs.len(), DEFAULT_MAX_INPUTS_PER_PARTY);
    let d = partybus::diff::diff(&a, &b);
    assert!(!d.is_empty(), "the what-if differs");

    let mut g = c.benchmark_group("diff");
    g.bench_function("diff_200_inputs", |bench| {
        bench.iter(|| partybus::diff::diff(&a, &b))
    });
    g.bench_function("diff_200_inputs_json", |bench| {
        bench.iter(|| serde_json::to_vec(&partybus::diff::diff(&a, &b)).map(|v| v.len()))
    });
    g.finish();
}

criterion_group!(benches, diff_bench);
criterion_main!(benches);
