//! What the planning benches share: a party of 200 inputs (the input cap),
//! made of lines a planner might write. Included by each bench with
//! `mod support;` (a folder, so cargo does not take it for a bench).

#![allow(dead_code)] // each bench uses part of it

use std::sync::Arc;
use std::time::Duration;

use partybus::app::{NewInput, NewParty, DEFAULT_MAX_INPUTS_PER_PARTY};
use partybus::store::Party;
use partybus::App;

/// Lines a planner might add, cycled to fill a party.
pub const LINES: [&str; 8] = [
    "jungle theme with lots of green balloons",
    "chocolate cake with animal decorations",
    "some guests are vegan and one is nut-free",
    "we would love a magician or face painting",
    "photos of the cake cutting please",
    "pizza and fruit for the kids",
    "rent a few tables and chairs",
    "the party is on a Saturday afternoon",
];

/// How long a bench waits for a party's planning to settle.
pub const SETTLE: Duration = Duration::from_secs(120);

/// The maximum number of inputs: `first`, then [`LINES`] cycled.
pub fn full_inputs(first: &str) -> Vec<NewInput> {
    std::iter::once(first.to_string())
        .chain(LINES.iter().cycle().map(|l| (*l).to_string()))
        .take(DEFAULT_MAX_INPUTS_PER_PARTY)
        .map(|content| NewInput {
            content,
            ..NewInput::default()
        })
        .collect()
}

/// A party created with `inputs` and planned (settled).
pub fn planned(app: &App, inputs: Vec<NewInput>) -> Arc<Party> {
    let ack = app
        .create_party(
            NewParty {
                initial_inputs: inputs,
                ..NewParty::default()
            },
            None,
        )
        .expect("create");
    assert!(app.wait_settled(&ack.party_id, ack.seq, SETTLE));
    app.party(&ack.party_id).expect("party")
}
