//! Property tests of the read model: on random, well-formed event sequences
//! over a few parties (created, inputs added and removed, agents started,
//! completed, failed and stripped of their data, budget and plan updates,
//! token rotations, deletions, and events for parties that do not exist or
//! no longer do), a store fed event by event equals
//! - the store [`recovery::rebuild`] makes from a journal of the same events;
//! - the store rebuilt from a compaction snapshot plus the events after it
//!   (SQLite journal, compacted at a random point, sometimes twice);
//!
//! and per-party `version` / `last_seq`, the inputs and the statistics agree
//! with a separate reference count. The planning tracks recovery keeps for
//! resuming interrupted waves survive the snapshot too.

use crate::util::TempDir;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use partybus::agents::{self, AgentInput, Product};
use partybus::catalog::Catalog;
use partybus::domain::{AgentName, AgentOutput, Budget, FinalPlan};
use partybus::event::{
    AgentCompleted, AgentDataRemoved, AgentFailed, AgentStarted, Draft, ErrorType, Event,
    ExecutionType, InputAdded, InputRemoved, PartyCreated, PartyDeleted, PartyTokenRotated,
    Payload, RemovalReason, ShouldExecute, SourceType,
};
use partybus::journal::{Durability, Journal, MemoryJournal, SqliteJournal};
use partybus::recovery::{self, Tracker};
use partybus::store::{Party, PartyStatus, Store};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Parties the generator picks from; the last one is rarely created, so many
/// of its events hit a party that does not exist.
const PARTIES: u8 = 4;
/// Input ids per party the generator picks from (collisions on purpose).
const INPUTS: u8 = 4;

const TEXTS: [&str; 6] = [
    "jungle theme party for 75 guests",
    "chocolate cake, vegan please",
    "tacos and burritos for dinner, budget around $2,000",
    "a dj and balloons",
    "outdoor venue in Austin",
    "",
];

/// Real agent results, made once by the pure agents from real inputs.
struct Results {
    outputs: BTreeMap<AgentName, Arc<AgentOutput>>,
    budget: Arc<Budget>,
    plan: Arc<FinalPlan>,
}

fn results() -> &'static Results {
    static RESULTS: OnceLock<Results> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let catalog = Catalog::embedded();
        let mut store = Store::new();
        let mut seq = 0;
        let mut push = |store: &mut Store, payload: Payload| {
            seq += 1;
            store.apply(&Draft::command("r", "corr_r", payload).stamp(seq, stamp(seq)));
        };
        push(
            &mut store,
            Payload::PartyCreated(PartyCreated {
                forked_from: None,
                created_by: None,
                token_sha256: None,
            }),
        );
        for (i, t) in TEXTS.iter().enumerate() {
            push(&mut store, added(&format!("inp_{i}"), t));
        }
        let mut outputs = BTreeMap::new();
        let mut budget = None;
        let mut plan = None;
        for agent in [
            AgentName::Theme,
            AgentName::Venue,
            AgentName::Cake,
            AgentName::Catering,
            AgentName::Vendor,
            AgentName::Budget,
            AgentName::FinalPlanner,
        ] {
            let party = store.party("r").expect("party");
            let facts = agents::analyzer::extract_facts(&party.inputs, &catalog.cities);
            let input = AgentInput {
                party: &party,
                facts: &facts,
                catalog: &catalog,
            };
            let payload = match agents::run(agent, &input).expect("runnable") {
                Product::Output(result, confidence) => {
                    let result = Arc::new(result);
                    outputs.insert(agent, result.clone());
                    Payload::AgentCompleted(AgentCompleted {
                        reused_from: None,
                        agent_name: agent,
                        execution_id: "exec_r".into(),
                        result,
                        confidence,
                        execution_time_ms: 0.25,
                    })
                }
                Product::Budget(b) => {
                    let b = Arc::new(b);
                    budget = Some(b.clone());
                    Payload::BudgetUpdated(b)
                }
                Product::Plan(p) => {
                    let p = Arc::new(p);
                    plan = Some(p.clone());
                    Payload::PlanUpdated(p)
                }
            };
            push(&mut store, payload);
        }
        Results {
            outputs,
            budget: budget.expect("budget"),
            plan: plan.expect("plan"),
        }
    })
}

fn stamp(seq: u64) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:06}Z",
        seq / 3600 % 24,
        seq / 60 % 60,
        seq % 60,
        seq
    )
}

fn added(id: &str, text: &str) -> Payload {
    Payload::InputAdded(InputAdded {
        copied_from: None,
        input_id: id.into(),
        content: text.into(),
        source_type: SourceType::Text,
        tags: if text.is_empty() {
            vec!["theme".into()]
        } else {
            vec![]
        },
        added_by: "ann".into(),
        metadata: [("n".to_string(), serde_json::json!(text.len()))]
            .into_iter()
            .collect(),
        image_url: None,
    })
}

/// One generated event, before it is stamped.
#[derive(Debug, Clone)]
enum Op {
    Create,
    Add(u8, u8),
    Remove(u8),
    Started(u8),
    Completed(u8),
    Failed(u8),
    DataRemoved(u8),
    Budget,
    Plan(bool),
    Rotate(u8),
    ShouldExecute(u8),
    Delete,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Create),
        5 => (0..INPUTS, 0..TEXTS.len() as u8).prop_map(|(i, t)| Op::Add(i, t)),
        3 => (0..INPUTS).prop_map(Op::Remove),
        2 => (0..5u8).prop_map(Op::Started),
        4 => (0..5u8).prop_map(Op::Completed),
        2 => (0..7u8).prop_map(Op::Failed),
        2 => (0..5u8).prop_map(Op::DataRemoved),
        2 => Just(Op::Budget),
        2 => any::<bool>().prop_map(Op::Plan),
        1 => any::<u8>().prop_map(Op::Rotate),
        1 => (0..7u8).prop_map(Op::ShouldExecute),
        1 => Just(Op::Delete),
    ]
}

/// A party index, skewed so the last party is seldom created.
fn arb_party_op() -> impl Strategy<Value = (u8, Op)> {
    (0..PARTIES, arb_op()).prop_filter("the last party is rarely created", |(p, op)| {
        *p + 1 < PARTIES || !matches!(op, Op::Create)
    })
}

const DOMAIN: [AgentName; 5] = AgentName::DOMAIN;
const ALL_RUN: [AgentName; 7] = [
    AgentName::Theme,
    AgentName::Venue,
    AgentName::Cake,
    AgentName::Catering,
    AgentName::Vendor,
    AgentName::Budget,
    AgentName::FinalPlanner,
];

fn events(ops: &[(u8, Op)]) -> Vec<Arc<Event>> {
    let r = results();
    ops.iter()
        .enumerate()
        .map(|(i, (party, op))| {
            let seq = i as u64 + 1;
            let payload = match op {
                Op::Create => Payload::PartyCreated(PartyCreated {
                    forked_from: None,
                    created_by: seq.is_multiple_of(2).then(|| "ann".to_string()),
                    token_sha256: Some(format!("{seq:064x}")),
                }),
                Op::Add(id, t) => added(&format!("inp_{id}"), TEXTS[*t as usize]),
                Op::Remove(id) => Payload::InputRemoved(InputRemoved {
                    input_id: format!("inp_{id}"),
                    removed_by: "user".into(),
                    reason: RemovalReason::UserAction,
                }),
                Op::Started(a) => Payload::AgentStarted(AgentStarted {
                    agent_name: DOMAIN[*a as usize],
                    execution_id: format!("exec_{seq}"),
                    input_count: 1,
                    message: "Working...".into(),
                }),
                Op::Completed(a) => {
                    let agent = DOMAIN[*a as usize];
                    Payload::AgentCompleted(AgentCompleted {
                        reused_from: None,
                        agent_name: agent,
                        execution_id: format!("exec_{seq}"),
                        result: r.outputs[&agent].clone(),
                        confidence: 0.85,
                        execution_time_ms: seq as f64 / 7.0,
                    })
                }
                Op::Failed(a) => Payload::AgentFailed(AgentFailed {
                    agent_name: ALL_RUN[*a as usize],
                    execution_id: format!("exec_{seq}"),
                    error: "boom".into(),
                    error_type: ErrorType::Timeout,
                    retry_count: 0,
                }),
                Op::DataRemoved(a) => Payload::AgentDataRemoved(AgentDataRemoved {
                    agent_name: DOMAIN[*a as usize],
                    reason: "no_relevant_inputs".into(),
                    removed_input_id: None,
                }),
                Op::Budget => Payload::BudgetUpdated(r.budget.clone()),
                Op::Plan(ready) => {
                    let mut plan = (*r.plan).clone();
                    plan.ready = *ready;
                    Payload::PlanUpdated(Arc::new(plan))
                }
                Op::Rotate(n) => Payload::PartyTokenRotated(PartyTokenRotated {
                    token_sha256: format!("{n:064x}"),
                }),
                Op::ShouldExecute(a) => Payload::AgentShouldExecute(ShouldExecute {
                    agent_name: ALL_RUN[*a as usize],
                    execution_type: ExecutionType::Start,
                    input_ids: vec![],
                    priority: 1,
                    reason: "test".into(),
                    wave: seq,
                    basis_seq: seq - 1,
                }),
                Op::Delete => Payload::PartyDeleted(PartyDeleted {
                    deleted_by: "user".into(),
                }),
            };
            let mut d = Draft::command(format!("p{party}"), "corr_x", payload);
            d.event_id = format!("evt_{seq:012}");
            Arc::new(d.stamp(seq, stamp(seq)))
        })
        .collect()
}

/// Everything a store shows: every party, and the statistics.
fn dump(s: &Store) -> (Vec<Arc<Party>>, partybus::store::Stats) {
    let parties = s
        .party_ids()
        .iter()
        .map(|id| s.party(id).expect("listed party"))
        .collect();
    (parties, s.stats())
}

/// What a party should look like, counted without the store.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    version: u64,
    last_seq: u64,
    inputs: Vec<String>,
}

fn reference(events: &[Arc<Event>]) -> (BTreeMap<String, Expected>, usize) {
    let mut live: BTreeMap<String, Expected> = BTreeMap::new();
    let mut deleted = 0;
    for e in events {
        match &e.payload {
            Payload::PartyCreated(_) => {
                live.entry(e.party_id.clone()).or_insert(Expected {
                    version: 1,
                    last_seq: e.seq,
                    inputs: vec![],
                });
            }
            Payload::PartyDeleted(_) => {
                if live.remove(&e.party_id).is_some() {
                    deleted += 1;
                }
            }
            other => {
                if let Some(p) = live.get_mut(&e.party_id) {
                    p.version += 1;
                    p.last_seq = e.seq;
                    match other {
                        Payload::InputAdded(a) => p.inputs.push(a.input_id.clone()),
                        Payload::InputRemoved(r) => p.inputs.retain(|i| *i != r.input_id),
                        _ => {}
                    }
                }
            }
        }
    }
    (live, deleted)
}

fn check_invariants(store: &Store, events: &[Arc<Event>]) -> Result<(), TestCaseError> {
    let (expected, deleted) = reference(events);
    let ids: Vec<String> = expected.keys().cloned().collect();
    prop_assert_eq!(store.party_ids(), ids);
    for (id, want) in &expected {
        let p = store.party(id).expect("live party");
        let got = Expected {
            version: p.version,
            last_seq: p.last_seq,
            inputs: p.inputs.iter().map(|i| i.input_id.clone()).collect(),
        };
        prop_assert_eq!(&got, want, "party {}", id);
        prop_assert!(p.last_seq <= store.last_seq());
        prop_assert_eq!(&p.updated_at, &stamp(p.last_seq));
    }
    let st = store.stats();
    let n = events.len() as u64;
    prop_assert_eq!(st.events_applied, n);
    prop_assert_eq!(st.last_seq, n);
    prop_assert_eq!(st.deleted_parties, deleted);
    prop_assert_eq!(st.total_parties, expected.len());
    let parties: Vec<Arc<Party>> = store.parties().cloned().collect();
    let inputs: usize = parties.iter().map(|p| p.inputs.len()).sum();
    let results: usize = parties
        .iter()
        .map(|p| p.agents.values().filter(|a| a.result.is_some()).count())
        .sum();
    let ready = parties
        .iter()
        .filter(|p| p.status == PartyStatus::Ready)
        .count();
    prop_assert_eq!(st.total_inputs, inputs);
    prop_assert_eq!(st.total_agent_results, results);
    prop_assert_eq!(st.status_counts.get("ready").copied(), Some(ready));
    prop_assert_eq!(
        st.status_counts.get("planning").copied(),
        Some(expected.len() - ready)
    );
    Ok(())
}

/// Applies the events one by one, as the bus does; also follows the waves.
fn live(events: &[Arc<Event>]) -> (Store, Tracker) {
    let mut store = Store::new();
    let mut tracker = Tracker::default();
    for e in events {
        store.apply(e);
        tracker.observe(e, &store);
    }
    (store, tracker)
}

fn tracks(store: &Store, tracker: &Tracker) -> HashMap<String, Option<recovery::Track>> {
    store
        .party_ids()
        .into_iter()
        .map(|id| {
            let t = tracker.track(&id).cloned();
            (id, t)
        })
        .collect()
}

/// Appends `events` in batches of the given sizes (cycled), as group commits.
fn append(journal: &dyn Journal, events: &[Arc<Event>], batches: &[usize]) {
    let mut rest = events;
    let mut sizes = batches.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        journal.append(&rest[..n]).expect("append");
        rest = &rest[n..];
    }
}

fn arb_ops(max: usize) -> impl Strategy<Value = Vec<(u8, Op)>> {
    proptest::collection::vec(arb_party_op(), 0..max)
}

/// `cases` per property. Failures are kept in `store_replay.proptest-regressions`
/// beside this file and replayed first (proptest's default would look in
/// `tests/proptest-regressions/`, beside `main.rs`'s directory).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Incremental apply equals a replay of the journal, and both agree
    /// with the reference count.
    #[test]
    fn apply_and_replay_give_equal_state(
        ops in arb_ops(120),
        batches in proptest::collection::vec(1usize..8, 1..4),
    ) {
        let events = events(&ops);
        let (a, tracker) = live(&events);
        check_invariants(&a, &events)?;

        let journal = MemoryJournal::new();
        append(&journal, &events, &batches);
        let rebuilt = recovery::rebuild(&journal).expect("rebuild");
        prop_assert_eq!(rebuilt.last_seq, events.len() as u64);
        prop_assert_eq!(rebuilt.events_replayed, events.len() as u64);
        prop_assert_eq!(dump(&rebuilt.store), dump(&a));
        prop_assert_eq!(tracks(&rebuilt.store, &rebuilt.tracker), tracks(&a, &tracker));

        // Replaying from any point onto the state at that point also agrees.
        let cut = events.len() / 2;
        let (mut b, _) = live(&events[..cut]);
        for e in &events[cut..] {
            b.apply(e);
        }
        prop_assert_eq!(dump(&b), dump(&a));
    }
}

proptest! {
    // Each case opens a SQLite journal on disk: fewer cases.
    #![proptest_config(config(48))]

    /// A store rebuilt from a compaction snapshot plus the events after it
    /// equals the store fed live, whatever the point(s) of compaction.
    #[test]
    fn snapshot_and_tail_give_equal_state(
        ops in arb_ops(80),
        cuts in proptest::collection::vec(0.0f64..=1.0, 1..3),
        batches in proptest::collection::vec(1usize..8, 1..4),
    ) {
        let events = events(&ops);
        let (a, tracker) = live(&events);
        let dir = TempDir::new("store-replay");
        let journal = SqliteJournal::open(&dir.0, Durability::Off).expect("open");
        let mut cuts: Vec<usize> = cuts
            .iter()
            .map(|c| (c * events.len() as f64) as usize)
            .collect();
        cuts.sort_unstable();
        let mut done = 0;
        for cut in cuts {
            append(&journal, &events[done..cut], &batches);
            done = cut;
            recovery::compact(&journal).expect("compact");
        }
        append(&journal, &events[done..], &batches);
        let rebuilt = recovery::rebuild(&journal).expect("rebuild");
        prop_assert_eq!(rebuilt.last_seq, events.len() as u64);
        prop_assert_eq!(dump(&rebuilt.store), dump(&a));
        prop_assert_eq!(tracks(&rebuilt.store, &rebuilt.tracker), tracks(&a, &tracker));
        check_invariants(&rebuilt.store, &events)?;
        // Every live party's own history is still there to serve.
        for id in a.party_ids() {
            let history = journal.party_events(&id, 0, usize::MAX).expect("history");
            let want = events.iter().filter(|e| e.party_id == id).count();
            prop_assert!(history.len() <= want);
            prop_assert_eq!(
                history.last().map(|e| e.seq),
                events.iter().rev().find(|e| e.party_id == id).map(|e| e.seq)
            );
        }
        drop(journal);
        // And a restart after that rebuild's snapshot is the same again.
        let journal = SqliteJournal::open(&dir.0, Durability::Off).expect("reopen");
        recovery::compact(&journal).expect("compact");
        let again = recovery::rebuild(&journal).expect("rebuild");
        prop_assert_eq!(dump(&again.store), dump(&a));
    }
}
