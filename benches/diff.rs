//! `diff::diff` on two parties of 200 inputs each (the input cap), planned
//! through the real pipeline once: a what-if that changes the guest count
//! (30 → 50) and the city, so facts, suppliers, reasons, budget lines and
//! the summary all have work to do. Then the JSON encoding the route adds.
//!
//! Run: `cargo bench --bench diff`. Quick smoke:
//! `cargo bench --bench diff -- --quick --warm-up-time 1 --measurement-time 1`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use partybus::app::DEFAULT_MAX_INPUTS_PER_PARTY;
use partybus::{App, Config};
use support::{full_inputs, planned};

fn diff_bench(c: &mut Criterion) {
    let app = App::start_new(Config::default()).expect("app");
    let a = planned(
        &app,
        full_inputs("birthday party for 30 guests in Lakewood, budget $2000"),
    );
    let b = planned(
        &app,
        full_inputs("birthday party for 50 guests in Fairview, budget $2500"),
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
