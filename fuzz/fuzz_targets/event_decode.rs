//! Fuzzes the journal's event decoder (`journal::codec::decode`, what replay
//! and history reads run on every stored event) on arbitrary bytes, then
//! does with a decoded event what replay does: applies it to the store and
//! shows it to the recovery tracker.
//!
//! Invariants: no panic; a decoded event encodes (with records in full, the
//! derived `Serialize`: the stored JSON of an event that cites no catalog
//! record; `decode` also reads events stored with records in full) and
//! decodes back to itself, and the derived decoder
//! reads that JSON as the same event; applying it keeps the store's counters
//! consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partybus::event::{Draft, Event, PartyCreated, Payload};
use partybus::journal::codec::decode;
use partybus::recovery::Tracker;
use partybus::store::Store;

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = decode(data) else {
        return;
    };
    let bytes = serde_json::to_vec(&ev).expect("a decoded event encodes");
    let again = decode(&bytes).expect("an encoded event decodes");
    assert_eq!(again, ev);
    let derived: Event = serde_json::from_slice(&bytes).expect("the derived decoder reads it");
    assert_eq!(derived, ev);

    // Replay: the event lands on a party that exists (and on one that does not).
    let mut store = Store::new();
    let mut tracker = Tracker::default();
    let created = Draft::command(
        ev.party_id.clone(),
        "corr_fuzz",
        Payload::PartyCreated(PartyCreated {
            forked_from: None,
            created_by: None,
            token_sha256: None,
        }),
    )
    .stamp(ev.seq.saturating_sub(1), ev.timestamp.clone());
    for e in [&created, &ev, &ev] {
        store.apply(e);
        tracker.observe(e, &store);
    }
    let stats = store.stats();
    let inputs: usize = store.parties().map(|p| p.inputs.len()).sum();
    assert_eq!(stats.total_inputs, inputs);
    assert_eq!(stats.events_applied, 3);
    assert_eq!(stats.last_seq, ev.seq.max(ev.seq.saturating_sub(1)));
    let mut empty = Store::new();
    empty.apply(&ev);
    assert!(empty.len() <= 1);
});
