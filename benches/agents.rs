//! Each agent's pure function on a planned jungle party (SPEC §9.2 scenario
//! 1: three inputs, every upstream result present), plus the analyzer's two
//! halves (classification and fact extraction), memoized and afresh. No threads, no bus: the
//! cost of the domain logic alone, to compare with the pipeline benches.
//!
//! Run: `cargo bench --bench agents`. Quick smoke:
//! `cargo bench --bench agents -- --quick --warm-up-time 1 --measurement-time 1`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use partybus::agents::analyzer::{
    classify, classify_uncached, extract_facts, extract_facts_uncached,
};
use partybus::agents::{self, AgentInput};
use partybus::app::{NewInput, NewParty};
use partybus::catalog::Catalog;
use partybus::domain::AgentName;
use partybus::{App, Config};

const JUNGLE: [&str; 3] = [
    "jungle theme party for 75 guests",
    "need a chocolate cake with animal decorations",
    "outdoor venue preferred, budget around $2000",
];

/// A typical one-line request.
const NEW_LINE_INPUT: &str =
    "Superhero birthday for 30 kids in Fairview, outdoor park, budget $500";

fn agents_bench(c: &mut Criterion) {
    // Plan the party through the real pipeline once, then keep its snapshot.
    let app = App::start_new(Config::default()).expect("app");
    let ack = app
        .create_party(
            NewParty {
                initial_inputs: JUNGLE
                    .iter()
                    .map(|t| NewInput {
                        content: (*t).to_string(),
                        ..NewInput::default()
                    })
                    .collect(),
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled(&ack.party_id, ack.seq, Duration::from_secs(30)));
    let party = app.party(&ack.party_id).expect("party");
    app.stop();
    let catalog = Catalog::embedded();
    let facts = extract_facts(&party.inputs, &catalog.cities);
    let input = AgentInput {
        party: &party,
        facts: &facts,
        catalog: &catalog,
    };

    let mut g = c.benchmark_group("agents");
    g.bench_function("analyzer_classify", |b| {
        b.iter(|| {
            party
                .inputs
                .iter()
                .map(|i| classify(&i.content, &i.tags).len())
                .sum::<usize>()
        })
    });
    g.bench_function("analyzer_extract_facts", |b| {
        b.iter(|| extract_facts(&party.inputs, &catalog.cities))
    });
    // What the scheduler and every agent of a wave call: one hash of the inputs.
    g.bench_function("analyzer_party_facts", |b| {
        b.iter(|| partybus::agents::analyzer::party_facts(&party.inputs, &catalog.cities))
    });
    // A new one-line input, read afresh (no memo): the areas it asks for
    // (the classifier's keywords and the facts) and every fact with its
    // words, which is all the pipeline reads of a new input. Target
    // (plan-quality issue): <= 5 us.
    let line = NEW_LINE_INPUT.to_string();
    let one = [partybus::store::Input {
        content: line.clone(),
        ..party.inputs[0].clone()
    }];
    g.bench_function("analyzer_one_line_uncached", |b| {
        b.iter(|| extract_facts_uncached(&one, &catalog.cities).guest_count)
    });
    // The prototype's per-category scores alone (no longer on the pipeline's
    // path; tags still use them).
    g.bench_function("analyzer_classify_uncached", |b| {
        b.iter(|| classify_uncached(&line, &[]).len())
    });
    for agent in AgentName::ALL {
        if agent == AgentName::InputAnalyzer {
            continue;
        }
        let name = agent.as_str();
        assert!(agents::run(agent, &input).is_some(), "{name} runs");
        g.bench_function(name, |b| b.iter(|| agents::run(agent, &input)));
    }
    g.finish();
}

criterion_group!(benches, agents_bench);
criterion_main!(benches);
