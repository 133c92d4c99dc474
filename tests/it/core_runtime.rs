//! The wired core, black-box: commands in, events and state out. Covers the
//! runtime's guarantees: dependency order, panics and deadlines turned into
//! `party.agent.failed`, restart equivalence, determinism and concurrency.
//! No sleeps: every wait is on a channel or condition with a deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use partybus::agents::runtime::RuntimeConfig;
use partybus::agents::{self, Product};
use partybus::app::{NewInput, NewParty};
use partybus::bus::{Filter, SlowPolicy};
use partybus::domain::AgentName;
use partybus::event::{ErrorType, Event, Payload, Topic};
use partybus::journal::MemoryJournal;
use partybus::{App, AppError, Config};

use crate::util::WAIT;

fn input(text: &str) -> NewInput {
    NewInput {
        content: text.to_string(),
        ..NewInput::default()
    }
}

fn party(texts: &[&str]) -> NewParty {
    NewParty {
        initial_inputs: texts.iter().map(|t| input(t)).collect(),
        ..NewParty::default()
    }
}

fn settle(app: &App, party_id: &str, seq: u64) {
    assert!(
        app.wait_settled(party_id, seq, WAIT),
        "party {party_id} did not settle"
    );
}

fn events(app: &App, party_id: &str) -> Vec<Arc<Event>> {
    app.events(party_id, 0, 10_000).expect("events")
}

/// Index of the first event matching `f`.
fn pos(evs: &[Arc<Event>], f: impl Fn(&Event) -> bool) -> Option<usize> {
    evs.iter().position(|e| f(e))
}

fn completed(agent: AgentName) -> impl Fn(&Event) -> bool {
    move |e| matches!(&e.payload, Payload::AgentCompleted(p) if p.agent_name == agent)
}

fn started(agent: AgentName) -> impl Fn(&Event) -> bool {
    move |e| matches!(&e.payload, Payload::AgentStarted(p) if p.agent_name == agent)
}

#[test]
fn seq_is_gap_free_and_agents_run_in_dependency_order() {
    let app = App::start_new(Config::default()).expect("start");
    let ack = app
        .create_party(
            party(&[
                "jungle theme party for 75 guests",
                "need a chocolate cake with animal decorations",
                "pizza and snacks for lunch, some guests are vegetarian",
                "we want a magician and balloons",
            ]),
            None,
        )
        .expect("create");
    settle(&app, &ack.party_id, ack.seq);
    let evs = events(&app, &ack.party_id);
    let theme_done = pos(&evs, completed(AgentName::Theme)).expect("theme completed");
    for agent in [
        AgentName::Venue,
        AgentName::Cake,
        AgentName::Catering,
        AgentName::Vendor,
    ] {
        let s = pos(&evs, started(agent)).unwrap_or_else(|| panic!("{agent} started"));
        assert!(s > theme_done, "{agent} started before the theme completed");
    }
    let last_cost = [
        AgentName::Venue,
        AgentName::Cake,
        AgentName::Catering,
        AgentName::Vendor,
    ]
    .into_iter()
    .filter_map(|a| pos(&evs, completed(a)))
    .max()
    .expect("cost agents completed");
    let budget = pos(&evs, |e| e.topic() == Topic::BudgetUpdated).expect("budget");
    let plan = pos(&evs, |e| e.topic() == Topic::PlanUpdated).expect("plan");
    assert!(budget > last_cost && plan > budget);
    // One wave: every agent ran exactly once.
    let mut runs: HashMap<String, usize> = HashMap::new();
    for e in &evs {
        if let Payload::AgentShouldExecute(p) = &e.payload {
            *runs.entry(p.agent_name.to_string()).or_default() += 1;
        }
    }
    assert!(runs.values().all(|&n| n == 1), "{runs:?}");
    assert_eq!(runs.len(), 7, "{runs:?}");
    // Party events: seqs strictly increase; all events form a gap-free sequence.
    assert!(evs.windows(2).all(|w| w[0].seq < w[1].seq));
    let bus = app.bus().expect("bus");
    let all = bus.history(None, 0, 100_000);
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(all.first().map(|e| e.seq), Some(1));
    // Correlation flows from the command through every event it caused.
    let corr = &evs[0].correlation_id;
    assert!(evs.iter().all(|e| &e.correlation_id == corr));
    assert!(evs[1..]
        .iter()
        .all(|e| e.causation_id.is_some() || e.source == "api"));
    let p = app.party(&ack.party_id).expect("party");
    assert_eq!(p.status.as_str(), "ready");
    assert_eq!(p.version, evs.len() as u64);
    assert_eq!(p.last_seq, evs.last().map(|e| e.seq).unwrap_or(0));
}

#[test]
fn a_panicking_agent_fails_its_run_and_the_wave_goes_on() {
    let app = App::start_new(Config {
        runtime: RuntimeConfig {
            agent_fn: Arc::new(|agent, input| {
                if agent == AgentName::Venue {
                    panic!("venue database exploded");
                }
                agents::run(agent, input)
            }),
            ..RuntimeConfig::default()
        },
        ..Config::default()
    })
    .expect("start");
    let ack = app
        .create_party(party(&["jungle theme party for 75 guests"]), None)
        .expect("create");
    settle(&app, &ack.party_id, ack.seq);
    let evs = events(&app, &ack.party_id);
    let failed = evs
        .iter()
        .find_map(|e| match &e.payload {
            Payload::AgentFailed(f) => Some(f.clone()),
            _ => None,
        })
        .expect("failed event");
    assert_eq!(failed.agent_name, AgentName::Venue);
    assert_eq!(failed.error_type, ErrorType::Internal);
    assert!(failed.error.contains("venue database exploded"));
    assert!(pos(&evs, |e| e.topic() == Topic::PlanUpdated).is_some());
    let p = app.party(&ack.party_id).expect("party");
    let venue = &p.agents[&AgentName::Venue];
    assert_eq!(venue.status.as_str(), "failed");
    assert!(venue.error.is_some());
    let plan = p.final_plan.as_deref().expect("plan");
    assert!(plan.missing_agents.contains(&"venue_agent".to_string()));
    assert_eq!(p.status.as_str(), "planning");
}

#[test]
fn an_overdue_agent_times_out_and_its_replacement_keeps_serving() {
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let release_rx = Arc::new(release_rx);
    let hang_once = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let app = App::start_new(Config {
        runtime: RuntimeConfig {
            deadline: Duration::from_millis(100),
            agent_fn: Arc::new(move |agent, input| {
                if agent == AgentName::Theme
                    && hang_once.swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    // Stuck until the test ends (the channel closes).
                    let _ = release_rx.recv();
                }
                agents::run(agent, input)
            }),
            ..RuntimeConfig::default()
        },
        ..Config::default()
    })
    .expect("start");
    let first = app
        .create_party(party(&["jungle theme party for 75 guests"]), None)
        .expect("create");
    settle(&app, &first.party_id, first.seq);
    let evs = events(&app, &first.party_id);
    let failed = evs
        .iter()
        .find_map(|e| match &e.payload {
            Payload::AgentFailed(f) => Some(f.clone()),
            _ => None,
        })
        .expect("timeout failure");
    assert_eq!(failed.agent_name, AgentName::Theme);
    assert_eq!(failed.error_type, ErrorType::Timeout);
    // The theme agent still serves the next party (a replacement thread took over).
    let second = app
        .create_party(party(&["space theme party for 20 guests"]), None)
        .expect("create");
    settle(&app, &second.party_id, second.seq);
    let p = app.party(&second.party_id).expect("party");
    assert_eq!(p.agents[&AgentName::Theme].status.as_str(), "completed");
    drop(release_tx);
    app.stop();
}

#[test]
fn a_slow_run_shows_started_while_it_runs_and_a_fast_one_with_its_result() {
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let release_rx = Arc::new(release_rx);
    let app = App::start_new(Config {
        runtime: RuntimeConfig {
            agent_fn: Arc::new(move |agent, input| {
                if agent == AgentName::Theme {
                    // Runs until the test has seen its `agent.started`.
                    let _ = release_rx.recv_timeout(WAIT);
                }
                agents::run(agent, input)
            }),
            ..RuntimeConfig::default()
        },
        ..Config::default()
    })
    .expect("start");
    let bus = app.bus().expect("bus");
    let mut sub = bus.subscribe(
        "test",
        Filter::topics(&[Topic::AgentStarted, Topic::AgentCompleted]),
        SlowPolicy::Block,
    );
    let ack = app
        .create_party(party(&["jungle theme party for 75 guests"]), None)
        .expect("create");
    let first = sub.recv_timeout(WAIT).expect("an agent event");
    match &first.payload {
        Payload::AgentStarted(s) => assert_eq!(s.agent_name, AgentName::Theme),
        other => panic!("expected the theme's started while it runs, got {other:?}"),
    }
    release_tx.send(()).expect("release");
    settle(&app, &ack.party_id, ack.seq);
    // Every run's `started` precedes its result; the fast ones' arrive in
    // the same batch as their result (one hand-off each).
    let evs = events(&app, &ack.party_id);
    for e in &evs {
        if let Payload::AgentCompleted(c) = &e.payload {
            let started = pos(&evs, |s| {
                matches!(&s.payload, Payload::AgentStarted(st) if st.execution_id == c.execution_id)
            })
            .expect("started");
            let done = pos(&evs, |d| d.event_id == e.event_id).expect("completed");
            assert!(
                started < done,
                "{} started after it completed",
                c.agent_name
            );
            if c.agent_name != AgentName::Theme {
                assert_eq!(evs[started].seq + 1, evs[done].seq, "{}", c.agent_name);
            }
        }
    }
    app.stop();
}

#[test]
fn restart_replays_to_the_same_state_and_start_stop_are_idempotent() {
    let journal = Arc::new(MemoryJournal::new());
    let config = Config {
        journal: journal.clone(),
        ..Config::default()
    };
    let app = App::new(config);
    app.start().expect("start");
    app.start().expect("start again is a no-op");
    let a = app
        .create_party(party(&["princess castle theme party for 30 kids"]), None)
        .expect("create");
    let b = app
        .create_party(
            party(&["space and astronaut theme party for 50 people"]),
            None,
        )
        .expect("create");
    settle(&app, &a.party_id, a.seq);
    settle(&app, &b.party_id, b.seq);
    let added = app
        .add_input(
            &a.party_id,
            input("pink vanilla cake with crown topper"),
            None,
            None,
        )
        .expect("add");
    settle(&app, &a.party_id, added.seq);
    let removed = app.delete_party(&b.party_id, None, None).expect("delete");
    let before: Vec<String> = [&a.party_id, &b.party_id]
        .iter()
        .filter_map(|id| app.party(id))
        .map(|p| serde_json::to_string(&*p).expect("json"))
        .collect();
    let stats_before = app.stats().expect("stats");
    let last_before = journal.len() as u64;
    app.stop();
    app.stop();
    assert!(!app.is_running());
    assert_eq!(
        app.add_input(&a.party_id, input("x"), None, None),
        Err(AppError::NotRunning)
    );
    app.start().expect("restart");
    let after: Vec<String> = [&a.party_id, &b.party_id]
        .iter()
        .filter_map(|id| app.party(id))
        .map(|p| serde_json::to_string(&*p).expect("json"))
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        stats_before.total_parties,
        app.stats().expect("stats").total_parties
    );
    assert!(app.party(&b.party_id).is_none());
    // New events continue the sequence without a gap.
    let next = app
        .add_input(&a.party_id, input("budget around $500"), None, None)
        .expect("add after restart");
    assert_eq!(next.seq, last_before + 1);
    assert!(next.seq > removed.seq);
    settle(&app, &a.party_id, next.seq);
}

/// Strips what legitimately differs between runs (ids, times).
fn plan_fingerprint(app: &App, party_id: &str) -> serde_json::Value {
    let p = app.party(party_id).expect("party");
    let mut v = serde_json::json!({
        "final_plan": p.final_plan,
        "budget": p.budget,
        "results": p.agents.iter().map(|(k, a)| (k.to_string(), serde_json::to_value(&a.result).expect("json"))).collect::<HashMap<_, _>>(),
    });
    strip_times(&mut v);
    v
}

fn strip_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("execution_time_ms");
            // Input ids are new for every party; the plan's facts name them.
            m.remove("input_id");
            for x in m.values_mut() {
                strip_times(x);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}

#[test]
fn the_same_inputs_give_the_same_plan_byte_for_byte() {
    let texts = [
        "jungle theme party for 75 guests",
        "need a chocolate cake with animal decorations",
        "outdoor venue preferred, budget around $2000",
    ];
    let run = || {
        let app = App::start_new(Config::default()).expect("start");
        let ack = app.create_party(party(&texts), None).expect("create");
        settle(&app, &ack.party_id, ack.seq);
        let v = plan_fingerprint(&app, &ack.party_id);
        app.stop();
        serde_json::to_string(&v).expect("json")
    };
    assert_eq!(run(), run());
}

#[test]
fn many_parties_plan_concurrently() {
    let app = Arc::new(App::start_new(Config::default()).expect("start"));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let app = app.clone();
            std::thread::spawn(move || {
                for n in 0..25 {
                    let text = if (w + n) % 2 == 0 {
                        "dinosaur party for 40 guests with a vegan cake"
                    } else {
                        "space theme party for 20 guests"
                    };
                    let ack = app.create_party(party(&[text]), None).expect("create");
                    settle(&app, &ack.party_id, ack.seq);
                    let p = app.party(&ack.party_id).expect("party");
                    assert!(p.final_plan.is_some());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let stats = app.stats().expect("stats");
    assert_eq!(stats.total_parties, 200);
    let status = app.system_status().expect("status");
    assert_eq!(status.event_bus.failed_deliveries, 0);
    assert_eq!(status.agent_runs.failures, 0);
}

#[test]
fn commands_validate_before_publishing() {
    let app = App::start_new(Config::default()).expect("start");
    let ack = app
        .create_party(
            NewParty {
                party_id: Some("my-party_1".into()),
                ..party(&["jungle theme party for 75 guests"])
            },
            Some("req-123"),
        )
        .expect("create");
    assert_eq!(ack.party_id, "my-party_1");
    let before = app.bus().expect("bus").metrics().total_published;
    let dup = app.create_party(
        NewParty {
            party_id: Some("my-party_1".into()),
            ..NewParty::default()
        },
        None,
    );
    assert_eq!(dup, Err(AppError::DuplicateParty("my-party_1".into())));
    let bad = app.create_party(
        NewParty {
            party_id: Some("no spaces/allowed".into()),
            ..NewParty::default()
        },
        None,
    );
    assert_eq!(bad, Err(AppError::InvalidId { field: "party_id" }));
    assert!(matches!(
        app.remove_input("my-party_1", "inp_nope", None, None),
        Err(AppError::InputNotFound { .. })
    ));
    assert!(matches!(
        app.add_input("nope", input("x"), None, None),
        Err(AppError::PartyNotFound(_))
    ));
    assert!(matches!(
        app.add_input(
            "my-party_1",
            NewInput {
                input_id: Some(ack.input_ids[0].clone()),
                ..input("x")
            },
            None,
            None
        ),
        Err(AppError::DuplicateInput(_))
    ));
    // Settle first so agent events do not race the count below.
    settle(&app, "my-party_1", ack.seq);
    let after_settle = app.bus().expect("bus").metrics().total_published;
    assert!(after_settle >= before);
    let evs = events(&app, "my-party_1");
    assert_eq!(evs[0].correlation_id, "req-123");
    assert!(matches!(evs[0].payload, Payload::PartyCreated(_)));
    let del = app.delete_party("my-party_1", None, None).expect("delete");
    assert!(app.party("my-party_1").is_none());
    assert!(matches!(
        app.add_input("my-party_1", input("x"), None, None),
        Err(AppError::PartyNotFound(_))
    ));
    assert!(del.seq > ack.seq);
}

#[test]
fn a_custom_agent_result_shape_is_carried_to_the_store() {
    // The runtime is agnostic of what agents compute: a stub planner's plan lands as is.
    let app = App::start_new(Config {
        runtime: RuntimeConfig {
            agent_fn: Arc::new(|agent, input| match agents::run(agent, input) {
                Some(Product::Plan(mut p)) => {
                    p.next_steps = vec!["stubbed".into()];
                    Some(Product::Plan(p))
                }
                other => other,
            }),
            ..RuntimeConfig::default()
        },
        ..Config::default()
    })
    .expect("start");
    let ack = app
        .create_party(party(&["space theme party for 20 guests"]), None)
        .expect("create");
    settle(&app, &ack.party_id, ack.seq);
    let p = app.party(&ack.party_id).expect("party");
    assert_eq!(
        p.final_plan.as_deref().map(|f| f.next_steps.clone()),
        Some(vec!["stubbed".to_string()])
    );
}

#[test]
fn party_events_come_from_the_history_when_it_covers_since_else_from_the_journal() {
    // A history of 16 events: the first party's early events fall out of
    // it, so reading them needs the journal; recent ones come from memory.
    let journal = Arc::new(MemoryJournal::new());
    let app = App::start_new(Config {
        journal: journal.clone(),
        bus: partybus::bus::BusConfig {
            history: 16,
            ..partybus::bus::BusConfig::default()
        },
        ..Config::default()
    })
    .expect("start");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let ack = app
            .create_party(party(&["jungle theme party for 40 guests"]), None)
            .expect("create");
        settle(&app, &ack.party_id, ack.seq);
        ids.push(ack.party_id);
    }
    use partybus::journal::Journal as _;
    for id in &ids {
        let stored = journal.party_events(id, 0, usize::MAX).expect("journal");
        let seqs = |v: &[Arc<Event>]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&events(&app, id)), seqs(&stored), "{id} from 0");
        for e in &stored {
            let since = e.seq;
            let want: Vec<u64> = seqs(&stored).into_iter().filter(|s| *s > since).collect();
            assert_eq!(
                seqs(&app.events(id, since, 10_000).expect("events")),
                want,
                "{id} since {since}"
            );
        }
    }
    app.stop();
}
