//! Fuzzes request-body decoding exactly as the server runs it: the bytes of
//! a `POST /party`, `POST …/input` or `POST …/fork` body through
//! `server::body` (JSON, then
//! every field), then the app's pre-publish checks (`Limits`).
//!
//! Invariants: no panic; a refused body is a 400 or 422 naming a field, and
//! a refused command a 4xx; an accepted command has well-formed ids and a
//! bounded `user_id`, and encoding it back as a body decodes to the same
//! command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partybus::app::{ForkChange, Limits, NewFork, NewInput, NewParty};
use partybus::event::is_valid_id;
use partybus::server::body::{self, MAX_USER_ID};
use partybus::server::error::ApiError;
use serde_json::{json, Map, Value};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    match body::create_party(Some(data)) {
        Ok(cmd) => {
            if let Some(id) = &cmd.party_id {
                assert!(is_valid_id(id), "party_id {id:?}");
            }
            if let Some(user) = &cmd.user_id {
                assert!(!user.is_empty() && user.chars().count() <= MAX_USER_ID);
                assert!(!user.chars().any(char::is_control));
            }
            cmd.initial_inputs.iter().for_each(check_input);
            let again = body::create_party(Some(&encode_party(&cmd))).expect("re-encoded body");
            assert_eq!(again, cmd);
            if let Err(e) = limits.check_party(&cmd) {
                let status = ApiError::from_app(e, "fuzz").status();
                assert!((400..500).contains(&status), "{status}");
            }
        }
        Err(e) => refused(&e),
    }
    match body::add_input(Some(data)) {
        Ok(input) => {
            check_input(&input);
            let again = body::add_input(Some(&encode_input(&input))).expect("re-encoded body");
            assert_eq!(again, input);
            if let Err(e) = limits.check_new_input(&input) {
                let status = ApiError::from_app(e, "fuzz").status();
                assert!((400..500).contains(&status), "{status}");
            }
        }
        Err(e) => refused(&e),
    }
    match body::fork_party(Some(data)) {
        Ok(cmd) => {
            if let Some(id) = &cmd.party_id {
                assert!(is_valid_id(id), "party_id {id:?}");
            }
            for change in &cmd.changes {
                match change {
                    ForkChange::Add(input) => check_input(input),
                    ForkChange::Remove(id) => assert!(is_valid_id(id), "remove {id:?}"),
                }
            }
            let again = body::fork_party(Some(&encode_fork(&cmd))).expect("re-encoded body");
            assert_eq!(again, cmd);
        }
        Err(e) => refused(&e),
    }
});

fn encode_fork(f: &NewFork) -> Vec<u8> {
    let changes: Vec<Value> = f
        .changes
        .iter()
        .map(|c| match c {
            ForkChange::Add(i) => json!({"add": input_value(i)}),
            ForkChange::Remove(id) => json!({"remove": id}),
        })
        .collect();
    let v = json!({
        "party_id": f.party_id,
        "user_id": f.user_id,
        "at_seq": f.at_seq,
        "changes": changes,
    });
    serde_json::to_vec(&v).expect("encode")
}

fn refused(e: &ApiError) {
    match e {
        ApiError::InvalidJson(_) => assert_eq!(e.status(), 400),
        ApiError::Validation { field, message } => {
            assert_eq!(e.status(), 422);
            assert!(!field.is_empty() && !message.is_empty());
        }
        other => panic!("a body decoder answered {other:?}"),
    }
}

fn check_input(input: &NewInput) {
    if let Some(id) = &input.input_id {
        assert!(is_valid_id(id), "input_id {id:?}");
    }
}

fn encode_input(i: &NewInput) -> Vec<u8> {
    serde_json::to_vec(&input_value(i)).expect("encode")
}

fn input_value(i: &NewInput) -> Value {
    let mut o = Map::new();
    o.insert("content".into(), json!(i.content));
    if let Some(s) = i.source_type {
        o.insert("source_type".into(), json!(s.as_str()));
    }
    o.insert("tags".into(), json!(i.tags));
    o.insert("metadata".into(), Value::Object(i.metadata.clone()));
    if let Some(u) = &i.image_url {
        o.insert("image_url".into(), json!(u));
    }
    if let Some(id) = &i.input_id {
        o.insert("input_id".into(), json!(id));
    }
    Value::Object(o)
}

fn encode_party(p: &NewParty) -> Vec<u8> {
    let v = json!({
        "party_id": p.party_id,
        "user_id": p.user_id,
        "initial_inputs": p.initial_inputs.iter().map(input_value).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&v).expect("encode")
}
