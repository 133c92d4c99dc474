//! Per-party digests: a *chain* over a party's events and a digest of its
//! folded *state*, so that a party's history and the state it folds to can
//! be compared across restarts, compactions and nodes by 32 bytes each.
//!
//! Owns the canonical byte form of events and parties and the two digest
//! rules. Pure: no I/O, no clock; it must not read the journal (callers hand
//! it events) nor keep digests anywhere (the hot path pays nothing; digests
//! are computed on demand, by the digest route, compaction and `verify`).
//!
//! # Canonical form
//! A value is written as the compact JSON of its [`serde_json::Value`]
//! (`to_value`; [`canonical`] writes the same bytes straight from serde,
//! without the tree), with
//! - object members sorted by key (bytewise), whatever map type or field
//!   order produced them;
//! - object members whose value is `null` left out, so an optional field
//!   added later (`Option`, absent or `None` in older events) hashes the
//!   same as before it existed, with or without `skip_serializing_if`;
//!   `null`s inside arrays are kept;
//! - numbers as serde_json writes them (integers as integers, floats in
//!   their shortest round-trip form; the journal reads them back exactly
//!   with `float_roundtrip`), strings with serde_json's escaping.
//!
//! Catalog records are written in full (never as a snapshot's or journal's
//! reference), so the form does not depend on how the bytes were stored.
//!
//! # Chain
//! `h_0 = SHA-256("partybus.chain.v1")` ([`CHAIN_DOMAIN`]), then
//! `h_n = SHA-256(h_{n-1} ‖ canonical(event_n))` over the party's events in
//! `seq` order. The event is the whole envelope, `seq` included: on one
//! machine an event's `seq` never changes (restart and compaction keep it),
//! and in a cluster the same event has the same partition `seq` on every
//! node, so including it binds each event to its place in the log. Ids and
//! timestamps are inputs to the events and part of the chain too.
//!
//! The chain covers the party's current life: a `party.deleted` ends a life
//! and the next `party.created` starts a new chain (compaction deletes the
//! events of earlier lives, so the chain is the same before and after it).
//! Events of a party that does not exist (a late result of a deleted one)
//! are not chained, as the read model ignores them.
//!
//! # State
//! `SHA-256(canonical(party))` of the folded [`Party`]. A party restored
//! from a compaction snapshot holds its results as raw JSON
//! ([`crate::deferred::Deferred`]); they serialize as the decoded values do,
//! so restored and folded parties digest the same.

mod canonical;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::event::{Event, Payload};
use crate::store::{Party, Store};

/// The domain string whose SHA-256 is the chain's start, `h_0`.
pub const CHAIN_DOMAIN: &[u8] = b"partybus.chain.v1";

/// Why a digest could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The value could not be serialized.
    #[error("encoding {what} for its digest: {source}")]
    Encode {
        /// What was encoded (`event evt_…`, `party fp…`).
        what: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The lowercase hex form.
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(DIGITS[usize::from(b >> 4)] as char);
            s.push(DIGITS[usize::from(b & 15)] as char);
        }
        s
    }

    /// Parses 64 hex digits.
    pub fn parse_hex(s: &str) -> Option<Hash32> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Hash32(out))
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash32::parse_hex(&s).ok_or_else(|| serde::de::Error::custom("a digest is 64 hex digits"))
    }
}

/// Appends the canonical form of `v` (see the module docs) to `out`.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> =
                map.iter().filter(|(_, v)| !v.is_null()).collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Most strings need no escape: copied whole (serde_json looks at them
    // byte by byte). Otherwise serde_json's escaping, so the bytes are
    // the same either way.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The canonical bytes of any serializable value.
pub fn canonical<T: Serialize + ?Sized>(
    v: &T,
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>, DigestError> {
    let mut out = Vec::with_capacity(512);
    canonical::write(v, &mut out).map_err(|source| DigestError::Encode {
        what: what(),
        source,
    })?;
    Ok(out)
}

/// `h_0`: SHA-256 of [`CHAIN_DOMAIN`].
pub fn chain_start() -> Hash32 {
    Hash32(Sha256::digest(CHAIN_DOMAIN).into())
}

/// `SHA-256(prev ‖ canonical(event))`.
pub fn chain_next(prev: &Hash32, event: &Event) -> Result<Hash32, DigestError> {
    let bytes = canonical(event, || format!("event {}", event.event_id))?;
    let mut h = Sha256::new();
    h.update(prev.0);
    h.update(&bytes);
    Ok(Hash32(h.finalize().into()))
}

/// SHA-256 of the canonical form of a party's state.
pub fn state_digest(party: &Party) -> Result<Hash32, DigestError> {
    let bytes = canonical(party, || format!("party {}", party.party_id))?;
    Ok(Hash32(Sha256::digest(&bytes).into()))
}

/// A party's chain, fed its events in `seq` order (other parties' events
/// are ignored). Follows the party's lives as [`Store::apply`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    party_id: String,
    alive: bool,
    head: Hash32,
    events: u64,
}

impl Chain {
    /// A chain before the party's first event.
    pub fn new(party_id: impl Into<String>) -> Chain {
        Chain {
            party_id: party_id.into(),
            alive: false,
            head: chain_start(),
            events: 0,
        }
    }

    /// A chain continued from a recorded head: the party existed, and its
    /// current life had `events` events chained to `head`.
    pub fn resume(party_id: impl Into<String>, head: Hash32, events: u64) -> Chain {
        Chain {
            party_id: party_id.into(),
            alive: true,
            head,
            events,
        }
    }

    /// Adds one event.
    pub fn push(&mut self, ev: &Event) -> Result<(), DigestError> {
        self.push_with(ev, || canonical(ev, || format!("event {}", ev.event_id)))
    }

    /// Adds one event whose canonical bytes `encode` gives (computed
    /// elsewhere, say in parallel, and only when the event is chained).
    pub fn push_with(
        &mut self,
        ev: &Event,
        encode: impl FnOnce() -> Result<Vec<u8>, DigestError>,
    ) -> Result<(), DigestError> {
        if ev.party_id != self.party_id {
            return Ok(());
        }
        match &ev.payload {
            Payload::PartyCreated(_) if !self.alive => {
                self.alive = true;
                self.head = chain_start();
                self.events = 0;
            }
            Payload::PartyDeleted(_) if self.alive => {
                self.alive = false;
                self.head = chain_start();
                self.events = 0;
                return Ok(());
            }
            _ if !self.alive => return Ok(()),
            _ => {}
        }
        let bytes = encode()?;
        let mut h = Sha256::new();
        h.update(self.head.0);
        h.update(&bytes);
        self.head = Hash32(h.finalize().into());
        self.events += 1;
        Ok(())
    }

    /// The current head, `h_n`.
    pub fn head(&self) -> Hash32 {
        self.head
    }

    /// `n`: events chained in the current life.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the party exists after the events pushed so far.
    pub fn alive(&self) -> bool {
        self.alive
    }
}

/// A party's digests as of one `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyDigest {
    /// The `seq` the digests are as of.
    pub seq: u64,
    /// Events in the chain.
    pub events: u64,
    /// The chain's head.
    pub chain: Hash32,
    /// The folded state's digest.
    pub state: Hash32,
}

/// Folds a party's events (any order of parties, `seq` order within) up to
/// `at` into its digests; `None` when the party does not exist at `at`.
pub fn party_digest(
    party_id: &str,
    events: &[Arc<Event>],
    at: u64,
) -> Result<Option<PartyDigest>, DigestError> {
    let mut chain = Chain::new(party_id);
    let mut store = Store::new();
    for e in events
        .iter()
        .filter(|e| e.seq <= at && e.party_id == party_id)
    {
        store.apply(e);
        chain.push(e)?;
    }
    let Some(party) = store.party(party_id) else {
        return Ok(None);
    };
    Ok(Some(PartyDigest {
        seq: at,
        events: chain.events(),
        chain: chain.head(),
        state: state_digest(&party)?,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::intern::RecordTable;
    use crate::deferred::Deferred;
    use crate::domain::{AgentName, AgentOutput, ThemeResult};
    use crate::event::{
        AgentCompleted, AgentStarted, Draft, InputAdded, PartyCreated, PartyDeleted, SourceType,
    };

    /// An event as a command makes it, stamped with `seq` (also for the
    /// tests of [`crate::verify`]).
    pub(crate) fn ev(seq: u64, party: &str, payload: Payload) -> Arc<Event> {
        let mut d = Draft::command(party, "corr_x", payload);
        d.event_id = format!("evt_{seq:012}");
        Arc::new(d.stamp(seq, format!("2026-01-01T00:00:{:02}.000000Z", seq % 60)))
    }

    pub(crate) fn created(seq: u64, party: &str) -> Arc<Event> {
        ev(
            seq,
            party,
            Payload::PartyCreated(PartyCreated {
                forked_from: None,
                created_by: None,
                token_sha256: None,
            }),
        )
    }

    pub(crate) fn added(seq: u64, party: &str, content: &str) -> Arc<Event> {
        ev(
            seq,
            party,
            Payload::InputAdded(InputAdded {
                copied_from: None,
                input_id: format!("inp_{seq}"),
                content: content.into(),
                source_type: SourceType::Text,
                tags: vec!["a".into()],
                added_by: "user".into(),
                metadata: Default::default(),
                image_url: None,
            }),
        )
    }

    fn theme() -> Arc<AgentOutput> {
        Arc::new(AgentOutput::Theme(ThemeResult {
            primary_theme: "jungle".into(),
            theme_scores: [("jungle".to_string(), 2), ("space".to_string(), 1)]
                .into_iter()
                .collect(),
            confidence: 0.2,
            colors: vec!["green".into()],
            decorations: vec![],
            activities: vec![],
        }))
    }

    fn history() -> Vec<Arc<Event>> {
        vec![
            created(1, "p"),
            added(2, "p", "jungle party for 30"),
            ev(
                3,
                "p",
                Payload::AgentStarted(AgentStarted {
                    agent_name: AgentName::Theme,
                    execution_id: "exec_1".into(),
                    input_count: 1,
                    message: "m".into(),
                }),
            ),
            ev(
                4,
                "p",
                Payload::AgentCompleted(AgentCompleted {
                    reused_from: None,
                    agent_name: AgentName::Theme,
                    execution_id: "exec_1".into(),
                    result: theme(),
                    confidence: 0.2,
                    execution_time_ms: 0.125,
                }),
            ),
        ]
    }

    #[test]
    fn canonical_sorts_keys_and_drops_null_members_only() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"y":null,"x":[null,2.5]},"c":null}"#)
            .expect("json");
        let mut out = Vec::new();
        write_canonical(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"a":{"x":[null,2.5]},"b":1}"#
        );
    }

    #[test]
    fn an_absent_optional_field_hashes_as_a_null_one() {
        let mut with_null = serde_json::to_value(history()[1].as_ref()).expect("value");
        with_null["payload"]["copied_from"] = Value::Null;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_canonical(&with_null, &mut a);
        write_canonical(
            &serde_json::to_value(history()[1].as_ref()).expect("v"),
            &mut b,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn the_chain_depends_on_every_byte_and_on_order() {
        let h = history();
        let fold = |events: &[Arc<Event>]| {
            let mut c = Chain::new("p");
            for e in events {
                c.push(e).expect("push");
            }
            (c.head(), c.events())
        };
        let (head, n) = fold(&h);
        assert_eq!(n, 4);
        assert_eq!(fold(&h), (head, 4), "deterministic");
        // One byte of one input changed.
        let mut changed = h.clone();
        changed[1] = added(2, "p", "jungle party for 31");
        assert_ne!(fold(&changed).0, head);
        // Two events swapped.
        let mut swapped = h.clone();
        swapped.swap(2, 3);
        assert_ne!(fold(&swapped).0, head);
        // The start is the domain's digest, and one step is SHA-256(prev ‖ event).
        let mut c = Chain::new("p");
        c.push(&h[0]).expect("push");
        let mut expected = Sha256::new();
        expected.update(Sha256::digest(CHAIN_DOMAIN));
        expected.update(canonical(h[0].as_ref(), String::new).expect("canonical"));
        assert_eq!(c.head().0, <[u8; 32]>::from(expected.finalize()));
        // Other parties' events do not count.
        let mut mixed = h.clone();
        mixed.insert(2, added(5, "q", "other"));
        assert_eq!(fold(&mixed), (head, 4));
    }

    #[test]
    fn a_new_life_starts_a_new_chain() {
        let mut h = history();
        let (old_head, _) = {
            let mut c = Chain::new("p");
            for e in &h {
                c.push(e).expect("push");
            }
            (c.head(), c.events())
        };
        h.push(ev(
            5,
            "p",
            Payload::PartyDeleted(PartyDeleted {
                deleted_by: "user".into(),
            }),
        ));
        h.push(added(6, "p", "ghost"));
        let new_life = vec![created(7, "p"), added(8, "p", "again")];
        h.extend(new_life.iter().cloned());
        let mut whole = Chain::new("p");
        for e in &h {
            whole.push(e).expect("push");
        }
        let mut only_new = Chain::new("p");
        for e in &new_life {
            only_new.push(e).expect("push");
        }
        assert_eq!(whole, only_new, "compaction may drop earlier lives");
        assert_ne!(whole.head(), old_head);
        assert!(party_digest("p", &h[..5], 5).expect("digest").is_none());
    }

    #[test]
    fn party_digest_is_as_of_a_seq() {
        let h = history();
        let at2 = party_digest("p", &h, 2).expect("digest").expect("party");
        let at4 = party_digest("p", &h, 4).expect("digest").expect("party");
        assert_eq!((at2.events, at4.events), (2, 4));
        assert_ne!(at2.chain, at4.chain);
        assert_ne!(at2.state, at4.state);
        assert_eq!(
            party_digest("p", &h[..2], 9).expect("d").map(|d| d.state),
            Some(at2.state)
        );
        assert!(party_digest("p", &h, 0).expect("digest").is_none());
    }

    #[test]
    fn a_restored_party_with_raw_results_digests_as_the_folded_one() {
        let mut store = Store::new();
        for e in history() {
            store.apply(&e);
        }
        let folded = store.party("p").expect("party");
        // The snapshot form: every result left as JSON, decoded on read.
        let mut restored = (*folded).clone();
        let table = Arc::new(RecordTable::default());
        for a in restored.agents.values_mut() {
            let json = serde_json::to_string(a.result.as_deref().expect("result")).expect("json");
            a.result = Deferred::raw(&json, a.agent_name, table.clone(), "p".into());
            assert!(a.result.is_pending());
        }
        let before = state_digest(&folded).expect("digest");
        let raw = state_digest(&restored).expect("digest");
        assert_eq!(before, raw);
        assert_ne!(
            before,
            state_digest(&Party {
                version: folded.version + 1,
                ..(*folded).clone()
            })
            .expect("digest")
        );
    }

    #[test]
    fn hex_round_trips() {
        let h = chain_start();
        assert_eq!(h.hex().len(), 64);
        assert_eq!(Hash32::parse_hex(&h.hex()), Some(h));
        assert_eq!(Hash32::parse_hex("zz"), None);
        let json = serde_json::to_string(&h).expect("json");
        assert_eq!(serde_json::from_str::<Hash32>(&json).expect("back"), h);
    }
}
