//! Every topic's event survives a JSON round trip unchanged, using real
//! events produced by the pipeline (so every payload shape is covered), and
//! the wire format keeps the prototype's field names.

use std::collections::BTreeSet;
use std::sync::Arc;

use partybus::agents::runtime::RuntimeConfig;
use partybus::agents::{self};
use partybus::app::{NewInput, NewParty};
use partybus::domain::AgentName;
use partybus::event::{Event, Topic};
use partybus::{App, Config};

use crate::util::WAIT;

fn all_topics_events() -> Vec<Arc<Event>> {
    // The vendor agent panics once so that `party.agent.failed` appears too.
    let once = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let app = App::start_new(Config {
        runtime: RuntimeConfig {
            agent_fn: Arc::new(move |agent, input| {
                if agent == AgentName::Vendor
                    && once.swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    panic!("injected vendor failure");
                }
                agents::run(agent, input)
            }),
            ..RuntimeConfig::default()
        },
        ..Config::default()
    })
    .expect("start");
    let ack = app
        .create_party(
            NewParty {
                user_id: Some("ann".into()),
                initial_inputs: vec![
                    NewInput {
                        content: "jungle theme party for 75 guests, budget around $2000".into(),
                        tags: vec!["theme".into()],
                        ..NewInput::default()
                    },
                    NewInput {
                        content: "vegan chocolate cake".into(),
                        ..NewInput::default()
                    },
                    NewInput {
                        content: "tacos for dinner".into(),
                        ..NewInput::default()
                    },
                    NewInput {
                        content: "a dj and balloons".into(),
                        ..NewInput::default()
                    },
                ],
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled(&ack.party_id, ack.seq, WAIT));
    let removed = app
        .remove_input(&ack.party_id, &ack.input_ids[1], None, None)
        .expect("remove");
    assert!(app.wait_settled(&ack.party_id, removed.seq, WAIT));
    app.rotate_token(&ack.party_id, "0".repeat(64), None)
        .expect("rotate");
    let events = app.events(&ack.party_id, 0, 10_000).expect("events");
    app.delete_party(&ack.party_id, None, None).expect("delete");
    let mut all = events;
    let bus = app.bus().expect("bus");
    all.extend(
        bus.history(Some(&ack.party_id), removed.seq, 10_000)
            .into_iter()
            .filter(|e| e.topic() == Topic::PartyDeleted),
    );
    app.stop();
    all
}

#[test]
fn every_topic_round_trips_through_json() {
    let events = all_topics_events();
    let topics: BTreeSet<Topic> = events.iter().map(|e| e.topic()).collect();
    assert_eq!(
        topics.len(),
        Topic::ALL.len(),
        "missing topics: {:?}",
        Topic::ALL
            .iter()
            .filter(|t| !topics.contains(t))
            .collect::<Vec<_>>()
    );
    for e in &events {
        let json = serde_json::to_string(&**e).expect("serialize");
        let back: Event = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(&back, &**e, "round trip changed {json}");
        // Envelope fields, by their wire names.
        let v: serde_json::Value = serde_json::from_str(&json).expect("value");
        for key in [
            "event_id",
            "seq",
            "party_id",
            "event_type",
            "timestamp",
            "correlation_id",
            "causation_id",
            "source",
            "payload",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {json}");
        }
        assert_eq!(v["event_type"], e.topic().as_str());
        let id = v["event_id"].as_str().expect("id");
        assert!(
            id.starts_with("evt_")
                && id.len() == 16
                && id[4..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{id}"
        );
        let ts = v["timestamp"].as_str().expect("ts");
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
    }
}

#[test]
fn payloads_carry_real_values_where_the_prototype_left_nulls() {
    let events = all_topics_events();
    for e in &events {
        let v = serde_json::to_value(&**e).expect("json");
        let p = &v["payload"];
        match e.topic() {
            Topic::InputAdded => {
                assert!(p["metadata"].is_object());
                assert_eq!(p["added_by"], "ann");
                assert!(p["input_id"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("inp_")));
            }
            Topic::AgentShouldExecute => {
                assert!(p["reason"].as_str().is_some_and(|s| !s.is_empty()));
                assert!(p["wave"].as_u64().is_some_and(|w| w >= 1));
            }
            Topic::AgentStarted => {
                assert!(p["execution_id"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("exec_") && s.len() == 17));
                assert!(p["input_count"].as_u64().is_some_and(|n| n >= 1));
            }
            Topic::AgentFailed => {
                assert_eq!(p["error_type"], "internal");
                assert!(p["error"].as_str().is_some_and(|s| s.contains("injected")));
            }
            Topic::AgentDataRemoved => {
                assert_eq!(p["reason"], "no_relevant_inputs");
                assert!(p["removed_input_id"].is_string());
                assert!(e.causation_id.is_some());
            }
            Topic::PlanUpdated => {
                assert!(p["checklist_summary"]["total_tasks"].as_u64().is_some());
            }
            _ => {}
        }
        if e.topic() != Topic::PartyCreated && e.source != "api" {
            assert!(e.causation_id.is_some(), "{} has no causation", e.topic());
        }
    }
    // The second budget knows the first: previous_total and delta are filled.
    let budgets: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e.topic() == Topic::BudgetUpdated)
        .map(|e| serde_json::to_value(&**e).expect("json")["payload"].clone())
        .collect();
    assert!(budgets.len() >= 2);
    assert!(budgets[1]["previous_total"].is_object());
    assert!(budgets[1]["delta"].is_object());
}
