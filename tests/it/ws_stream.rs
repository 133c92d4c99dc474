//! The WebSocket stream over real sockets: the connection message, message
//! fields, replay then live under concurrent publishing (exactly once, in
//! order, no gap), 200 clients on one party, deletion, and parties that do
//! not exist yet.

use std::collections::HashSet;
use std::sync::mpsc;

use crate::util::hub::{self, is_input, seq, Harness};

#[test]
fn connection_message_reports_the_party_last_seq() {
    let h = Harness::start();
    h.create("p-conn");
    let last = h.add("p-conn", "i1", "jungle theme party for 75 guests");
    let party_last = h.app.party("p-conn").expect("party").last_seq;
    assert!(party_last >= last);
    let (_c, hello) = h.connect("p-conn", None);
    assert!(hello["last_seq"].as_u64().expect("last_seq") >= last);

    let (_c2, hello) = h.connect("nobody-yet", None);
    assert_eq!(hello["last_seq"], 0);
}

#[test]
fn live_messages_carry_every_field_and_the_event_timestamp() {
    let h = Harness::start();
    h.create("p-live");
    let (mut c, _) = h.connect("p-live", None);
    let s = h.add("p-live", "in-1", "pink vanilla cake with crown topper");
    let msgs = c.events_until(|v| is_input(v, "in-1"));
    let v = msgs.last().expect("one message");
    for key in [
        "type",
        "agent",
        "status",
        "result",
        "message",
        "error",
        "timestamp",
        "payload",
        "party_id",
        "seq",
        "event_id",
        "correlation_id",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    let ev = h
        .app
        .events("p-live", s - 1, 1)
        .expect("events")
        .pop()
        .expect("the input event");
    assert_eq!(seq(v), s);
    assert_eq!(v["party_id"], "p-live");
    assert_eq!(v["event_id"], ev.event_id.as_str());
    assert_eq!(v["correlation_id"], ev.correlation_id.as_str());
    assert_eq!(v["timestamp"], ev.timestamp.as_str());
    assert_eq!(
        v["payload"]["content"],
        "pink vanilla cake with crown topper"
    );
    assert_eq!(v["agent"], serde_json::Value::Null);
}

#[test]
fn replay_then_live_is_exactly_once_in_order_under_concurrent_publishing() {
    const N: usize = 300;
    // More inputs than the default per-party cap, to make a long history.
    let h = Harness::with(
        partybus::Config {
            limits: partybus::app::Limits {
                max_inputs_per_party: N,
                ..Default::default()
            },
            ..hub::config()
        },
        Default::default(),
    );
    h.create("p-race");
    let (started_tx, started_rx) = mpsc::channel();
    let publisher = {
        let app = h.app.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                app.add_input(
                    "p-race",
                    partybus::app::NewInput {
                        input_id: Some(format!("in-{i}")),
                        content: format!("input number {i}"),
                        ..Default::default()
                    },
                    None,
                    None,
                )
                .expect("add input");
                if i == 20 {
                    let _ = started_tx.send(());
                }
            }
        })
    };
    started_rx.recv().expect("publisher runs");
    // Two clients connect mid-stream: one replays everything, one from a
    // point in the middle of the history.
    let (mut all, _) = h.connect("p-race", Some(0));
    let mid = h.forwarded("p-race", 0, u64::MAX)[10];
    let (mut half, _) = h.connect("p-race", Some(mid));
    let last = format!("in-{}", N - 1);
    let got_all = all.events_until(|v| is_input(v, &last));
    let got_half = half.events_until(|v| is_input(v, &last));
    publisher.join().expect("publisher");

    for (since, got) in [(0, got_all), (mid, got_half)] {
        let seqs: Vec<u64> = got.iter().map(seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "not strictly increasing"
        );
        let until = *seqs.last().expect("events");
        assert_eq!(
            seqs,
            h.forwarded("p-race", since, until),
            "since={since}: every event exactly once, none missing"
        );
    }
}

#[test]
fn two_hundred_clients_each_receive_every_event() {
    let h = Harness::start();
    h.create("p-crowd");
    let mut clients: Vec<_> = (0..200).map(|_| h.connect("p-crowd", None)).collect();
    assert_eq!(h.hub.clients(), 200);
    const N: usize = 20;
    for i in 0..N {
        h.add(
            "p-crowd",
            &format!("in-{i}"),
            &format!("guest list part {i}"),
        );
    }
    let last = format!("in-{}", N - 1);
    for (c, hello) in &mut clients {
        let from = hello["last_seq"].as_u64().expect("last_seq");
        let got = c.events_until(|v| is_input(v, &last));
        let seqs: Vec<u64> = got.iter().map(seq).collect();
        let until = *seqs.last().expect("events");
        assert_eq!(seqs, h.forwarded("p-crowd", from, until));
        let inputs = got.iter().filter(|v| v["type"] == "input_added").count();
        assert_eq!(inputs, N);
    }
}

#[test]
fn party_deletion_sends_party_deleted_then_a_normal_close() {
    let h = Harness::start();
    h.create("p-del");
    let (mut c, _) = h.connect("p-del", None);
    h.app
        .delete_party("p-del", None, None)
        .expect("delete party");
    let (msgs, frame) = c.until_close();
    let last = msgs.last().expect("messages before the close");
    assert_eq!(last["type"], "party_deleted");
    assert_eq!(last["message"], "Party deleted");
    let frame = frame.expect("close frame");
    assert_eq!(u16::from(frame.code), 1000);
    assert_eq!(frame.reason.as_str(), "party deleted");
    // The slot is released once the client's thread ends.
    drop(c);
    let deadline = std::time::Instant::now() + crate::util::WAIT;
    crate::util::poll_until("the client to be released", deadline, || {
        h.hub.clients() == 0
    });
}

#[test]
fn a_client_may_wait_for_a_party_that_does_not_exist_yet() {
    let h = Harness::start();
    let (mut c, hello) = h.connect("p-later", None);
    assert_eq!(hello["last_seq"], 0);
    h.app
        .create_party(
            partybus::app::NewParty {
                party_id: Some("p-later".into()),
                initial_inputs: vec![partybus::app::NewInput {
                    input_id: Some("first".into()),
                    content: "space theme".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            None,
        )
        .expect("create");
    let got = c.events_until(|v| is_input(v, "first"));
    let types: Vec<&str> = got.iter().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(types, ["party_created", "input_added"]);
    let ids: HashSet<&str> = got.iter().filter_map(|v| v["event_id"].as_str()).collect();
    assert_eq!(ids.len(), 2);
}

#[test]
fn an_agent_run_streams_in_the_prototype_message_shapes() {
    let h = Harness::start();
    h.create("p-run");
    let (mut c, hello) = h.connect("p-run", None);
    let from = hello["last_seq"].as_u64().expect("last_seq");
    let s = h.add(
        "p-run",
        "i1",
        "jungle theme party for 75 guests with a chocolate cake, budget $2000",
    );
    assert!(h
        .app
        .wait_settled("p-run", s, std::time::Duration::from_secs(10)));
    let last = h.app.party("p-run").expect("party").last_seq;
    let got = c.events_until(|v| seq(v) >= last);
    let seqs: Vec<u64> = got.iter().map(seq).collect();
    assert_eq!(seqs, h.forwarded("p-run", from, last));

    let of = |t: &'static str| got.iter().filter(move |v| v["type"] == t);
    assert!(of("agent_started").count() > 0);
    for v in of("agent_started") {
        assert_eq!(v["status"], "running");
        assert!(v["agent"].as_str().is_some_and(|a| a.ends_with("_agent")));
    }
    for v in of("agent_completed") {
        let agent = v["agent"].as_str().expect("agent");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["message"], format!("{agent} completed successfully"));
        assert!(v["result"].is_object());
        assert!(v["confidence"].is_number() && v["execution_time_ms"].is_number());
    }
    for v in of("agent_failed") {
        let agent = v["agent"].as_str().expect("agent");
        let error = v["error"].as_str().expect("error");
        assert_eq!(v["status"], "failed");
        assert_eq!(v["message"], format!("{agent} failed: {error}"));
    }
    for v in of("budget_updated") {
        assert_eq!(v["message"], "Budget updated");
        for k in ["total_budget", "breakdown", "based_on_agents"] {
            assert!(v["payload"].get(k).is_some(), "{k} missing from {v}");
        }
    }
    let plan = of("plan_updated").next_back().expect("a plan update");
    let pct = plan["payload"]["completion_percent"]
        .as_u64()
        .expect("completion_percent");
    assert_eq!(plan["message"], format!("Plan updated ({pct}% complete)"));
    for k in [
        "recommendations",
        "next_steps",
        "active_agents",
        "missing_agents",
    ] {
        assert!(plan["payload"].get(k).is_some(), "{k} missing from {plan}");
    }
    assert!(got.iter().all(|v| v["type"] != "agent_scheduled"));
}
