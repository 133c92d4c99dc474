//! Forks of a 200-input party (the input cap), planned through the real
//! pipeline: the time from `fork_party` to the fork's settled plan when
//! nothing changes (everything reused), when the guest count changes (the
//! searches that read it run again), and, for comparison, planning a new
//! party with the fork's inputs from scratch; and the pure part alone
//! (`fork::base` over the original's events). First, once, the memory a
//! fork adds against a new party with the same inputs (live heap bytes, counted
//! by the global allocator, over 200 of each).
//!
//! Run: `cargo bench --bench fork`. Quick smoke:
//! `cargo bench --bench fork -- --quick --warm-up-time 1 --measurement-time 1`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use partybus::app::{ForkChange, NewFork, NewInput, DEFAULT_MAX_INPUTS_PER_PARTY};
use partybus::journal::{Durability, SqliteJournal};
use partybus::store::Party;
use partybus::{App, Config};
use support::{full_inputs, planned, SETTLE as WAIT};

const GUESTS: &str = "30 guests in Lakewood";

/// Forks `original` with `changes`; returns the fork's id once its plan is
/// settled.
fn fork(app: &App, original: &str, changes: Vec<ForkChange>) -> String {
    let forked = app
        .fork_party(
            original,
            NewFork {
                changes,
                ..NewFork::default()
            },
            None,
        )
        .expect("fork");
    assert!(app.wait_settled(&forked.ack.party_id, forked.ack.seq, WAIT));
    forked.ack.party_id
}

fn guests_changed(original: &Party) -> Vec<ForkChange> {
    vec![
        ForkChange::Remove(original.inputs[0].input_id.clone()),
        ForkChange::Add(NewInput {
            content: "50 guests in Lakewood".into(),
            ..NewInput::default()
        }),
    ]
}

/// The system allocator, counting the bytes live on the heap: unlike RSS,
/// exact, and blind to what the allocator keeps for reuse.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only counts are
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes added per party by `make`, over `n` parties (each planned
/// and settled before the count is read).
fn heap_per(n: usize, mut make: impl FnMut() -> String) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..n {
        make();
    }
    let after = LIVE.load(Ordering::Relaxed);
    (after - before) as f64 / n as f64
}

fn memory_per_fork() {
    // On disk, as served: the heap then holds the read model (and bounded caches),
    // not a journal held in memory, which copies every event either way.
    let dir = std::env::temp_dir().join(format!("partybus-bench-fork-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let journal = SqliteJournal::open(&dir, Durability::Normal).expect("journal");
    let app = App::start_new(Config {
        journal: Arc::new(journal),
        compact_threshold: None,
        ..Config::default()
    })
    .expect("app");
    let original = planned(&app, full_inputs(GUESTS));
    // Warm the allocator and lazy tables.
    let warm: Vec<String> = (0..20)
        .map(|_| fork(&app, &original.party_id, Vec::new()))
        .collect();
    warm.iter()
        .for_each(|id| drop(app.delete_party(id, None, None)));
    let n = 200;
    let fresh = heap_per(n, || planned(&app, full_inputs(GUESTS)).party_id.clone());
    let copy = heap_per(n, || fork(&app, &original.party_id, Vec::new()));
    let changed = heap_per(n, || {
        fork(&app, &original.party_id, guests_changed(&original))
    });
    println!(
        "fork memory, {n} parties of {} inputs each (live heap, SQLite journal): new party {:.0} KiB, \
         fork without changes {:.0} KiB, fork with the guests changed {:.0} KiB",
        DEFAULT_MAX_INPUTS_PER_PARTY,
        fresh / 1024.0,
        copy / 1024.0,
        changed / 1024.0
    );
    app.stop();
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

fn fork_bench(c: &mut Criterion) {
    // `FORK_BENCH_MEMORY=0` skips the memory count (for profiling the rest).
    if std::env::var("FORK_BENCH_MEMORY").as_deref() != Ok("0") {
        memory_per_fork();
    }
    // No automatic compaction: it would run in the background of the
    // measurements (thousands of parties are planned here).
    let app = App::start_new(Config {
        compact_threshold: None,
        ..Config::default()
    })
    .expect("app");
    let original = planned(&app, full_inputs(GUESTS));
    let id = original.party_id.clone();
    // Measured: the call and the wait for the settled plan; the fork is
    // deleted afterwards, outside the clock, so memory stays flat.
    let timed = |iters: u64, make: &dyn Fn() -> String| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let started = Instant::now();
            let made = make();
            total += started.elapsed();
            app.delete_party(&made, None, None).expect("delete");
        }
        total
    };
    let mut g = c.benchmark_group("fork");
    g.sample_size(20);
    // The pure part: what the fork copies, from the original's events.
    let history = app.events(&id, 0, usize::MAX).expect("history");
    g.bench_function("base_200_inputs", |b| {
        b.iter(|| partybus::fork::base(&id, &history, None, Some(&original)).map(|b| b.seq))
    });
    g.bench_function("read_history_200_inputs", |b| {
        b.iter(|| app.events(&id, 0, usize::MAX).map(|h| h.len()))
    });
    g.bench_function("fork_200_inputs_no_change", |b| {
        b.iter_custom(|iters| timed(iters, &|| fork(&app, &id, Vec::new())))
    });
    g.bench_function("fork_200_inputs_guests_changed", |b| {
        b.iter_custom(|iters| timed(iters, &|| fork(&app, &id, guests_changed(&original))))
    });
    g.bench_function("new_party_200_inputs_same_as_the_fork", |b| {
        b.iter_custom(|iters| {
            timed(iters, &|| {
                let mut changed = full_inputs("50 guests in Lakewood");
                changed.rotate_left(1);
                planned(&app, changed).party_id.clone()
            })
        })
    });
    g.finish();
    app.stop();
}

criterion_group!(benches, fork_bench);
criterion_main!(benches);
