//! `partybus verify`: replays a whole journal offline and checks, for every
//! party, that its digests ([`crate::digest`]) agree however they are
//! computed.
//!
//! For every party it compares
//! - **state**: the party as the server rebuilds it at start (compaction
//!   snapshot, then the events after it: [`recovery::rebuild`]) against the
//!   party folded from all its events from scratch; and
//! - **snapshot**: the chain, event count and state digest the compaction
//!   snapshot recorded for the party at its `seq` against the ones its
//!   events give at that `seq` (an event altered or lost before the
//!   snapshot shows here).
//!
//! Owns the comparison and its report only; reading is the journal's and
//! rebuilding recovery's. Must not write: the caller opens the journal
//! read-only (and keeps a server off it).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::digest::{self, Chain, DigestError, Hash32};
use crate::event::Event;
use crate::journal::Journal;
use crate::recovery::{self, RecoveryError};
use crate::store::Store;

/// Why verification could not run (a difference is not an error: see
/// [`Report::differences`]).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading or rebuilding the journal failed.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// A digest could not be computed.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// One party whose digests do not agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The party.
    pub party_id: String,
    /// What differs, one sentence each.
    pub what: Vec<String>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Parties checked (live now, or recorded in the snapshot).
    pub parties: u64,
    /// Events replayed.
    pub events: u64,
    /// The compaction snapshot's `seq` (0: none).
    pub snapshot_seq: u64,
    /// Parties whose snapshot row recorded digests.
    pub recorded: u64,
    /// Whether every digest agrees.
    pub agree: bool,
    /// The parties that differ, by id.
    pub differences: Vec<Difference>,
}

impl Report {
    /// The text form: one summary line, or one line per differing party.
    pub fn render_text(&self) -> String {
        if self.agree {
            return format!(
                "verified {} parties, {} events: all digests agree\n",
                self.parties, self.events
            );
        }
        let mut out = String::new();
        for d in &self.differences {
            out.push_str(&format!("party {}: {}\n", d.party_id, d.what.join("; ")));
        }
        out.push_str(&format!(
            "verified {} parties, {} events: {} parties differ\n",
            self.parties,
            self.events,
            self.differences.len()
        ));
        out
    }
}

/// Events encoded per parallel batch while replaying.
const BATCH: usize = 4_096;

/// A party's digests at the snapshot's `seq`, from its events.
struct AtSnapshot {
    chain: Hash32,
    events: u64,
    state: Option<Hash32>,
}

/// Replays `journal` and compares every party's digests (see the module
/// docs).
pub fn verify(journal: &dyn Journal) -> Result<Report, VerifyError> {
    let (meta, recorded) = recovery::snapshot_digests(journal)?;
    let snapshot_seq = meta.map_or(0, |m| m.seq);
    let rebuilt = recovery::rebuild(journal)?;

    // Every party folded from its events alone, with its chain; the chains
    // and states of the parties the snapshot recorded are taken as the
    // replay passes its `seq`.
    let mut folded = Store::new();
    let mut chains: HashMap<String, Chain> = HashMap::new();
    let mut at_snapshot: Option<HashMap<String, AtSnapshot>> = None;
    let mut failed: Option<DigestError> = None;
    let mut events = 0u64;
    let capture = |folded: &Store, chains: &HashMap<String, Chain>| {
        let mut out = HashMap::new();
        for id in recorded.keys() {
            let Some(chain) = chains.get(id).filter(|c| c.alive()) else {
                continue;
            };
            let state = folded
                .party(id)
                .map(|p| digest::state_digest(&p))
                .transpose()?;
            out.insert(
                id.clone(),
                AtSnapshot {
                    chain: chain.head(),
                    events: chain.events(),
                    state,
                },
            );
        }
        Ok::<_, DigestError>(out)
    };
    // Events are encoded in parallel a batch at a time (the costly part),
    // then folded and chained in order.
    let mut batch: Vec<Arc<Event>> = Vec::with_capacity(BATCH);
    let mut flush = |batch: &mut Vec<Arc<Event>>| -> Result<(), DigestError> {
        let encoded: Vec<Result<Vec<u8>, DigestError>> = batch
            .par_iter()
            .map(|e| digest::canonical(e.as_ref(), || format!("event {}", e.event_id)))
            .collect();
        for (e, bytes) in batch.drain(..).zip(encoded) {
            if at_snapshot.is_none() && snapshot_seq > 0 && e.seq > snapshot_seq {
                at_snapshot = Some(capture(&folded, &chains)?);
            }
            events += 1;
            folded.apply(&e);
            chains
                .entry(e.party_id.clone())
                .or_insert_with(|| Chain::new(e.party_id.as_str()))
                .push_with(&e, || bytes)?;
        }
        Ok(())
    };
    journal
        .replay(0, &mut |e| {
            if failed.is_some() {
                return;
            }
            batch.push(e.clone());
            if batch.len() >= BATCH {
                failed = flush(&mut batch).err();
            }
        })
        .map_err(RecoveryError::from)?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    flush(&mut batch)?;
    let at_snapshot = match at_snapshot {
        Some(a) => a,
        None => capture(&folded, &chains)?,
    };

    let ids: BTreeSet<String> = rebuilt
        .store
        .party_ids()
        .into_iter()
        .chain(folded.party_ids())
        .chain(recorded.keys().cloned())
        .collect();
    // Both states of every party, digested in parallel.
    let states: Vec<(Option<Hash32>, Option<Hash32>)> = ids
        .par_iter()
        .map(|id| {
            let of = |p: Option<Arc<crate::store::Party>>| {
                p.map(|p| digest::state_digest(&p)).transpose()
            };
            Ok((of(rebuilt.store.party(id))?, of(folded.party(id))?))
        })
        .collect::<Result<_, DigestError>>()?;
    let mut differences = Vec::new();
    for (id, state) in ids.iter().zip(states) {
        let mut what = Vec::new();
        match state {
            (Some(r), Some(f)) => {
                if r != f {
                    what.push(format!(
                        "state differs: snapshot + events give {r}, its events alone give {f}"
                    ));
                }
            }
            (Some(_), None) => what.push(
                "exists in the snapshot + events rebuild but not when folded from its events"
                    .to_string(),
            ),
            (None, Some(_)) => what.push(
                "exists when folded from its events but not in the snapshot + events rebuild"
                    .to_string(),
            ),
            (None, None) => {}
        }
        if let Some(rec) = recorded.get(id) {
            match at_snapshot.get(id) {
                None => what.push(format!(
                    "the snapshot recorded it at seq {}, but its events do not create it",
                    rec.seq
                )),
                Some(now) => {
                    if now.chain != rec.chain || now.events != rec.events {
                        what.push(format!(
                            "chain differs at snapshot seq {}: recorded {} over {} events, its events give {} over {}",
                            rec.seq, rec.chain, rec.events, now.chain, now.events
                        ));
                    }
                    if now.state != Some(rec.state) {
                        what.push(format!(
                            "state at snapshot seq {} differs: recorded {}, its events give {}",
                            rec.seq,
                            rec.state,
                            now.state.map_or("no party".to_string(), |s| s.hex())
                        ));
                    }
                }
            }
        }
        if !what.is_empty() {
            differences.push(Difference {
                party_id: id.clone(),
                what,
            });
        }
    }
    Ok(Report {
        parties: ids.len() as u64,
        events,
        snapshot_seq,
        recorded: recorded.len() as u64,
        agree: differences.is_empty(),
        differences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::tests::{added, created, ev};
    use crate::event::Payload;
    use crate::journal::MemoryJournal;

    #[test]
    fn a_healthy_journal_agrees_before_and_after_compaction() {
        let j = MemoryJournal::new();
        j.append(&[created(1, "a"), added(2, "a", "x"), created(3, "b")])
            .expect("append");
        let r = verify(&j).expect("verify");
        assert!(r.agree, "{r:?}");
        assert_eq!((r.parties, r.events, r.recorded), (2, 3, 0));
        recovery::compact(&j).expect("compact");
        j.append(&[added(4, "b", "y")]).expect("append");
        let r = verify(&j).expect("verify");
        assert!(r.agree, "{r:?}");
        assert_eq!((r.snapshot_seq, r.recorded), (3, 2));
        assert!(r
            .render_text()
            .contains("verified 2 parties, 4 events: all digests agree"));
    }

    fn theme_run(seq: u64, party: &str, exec: &str) -> [Arc<Event>; 2] {
        use crate::domain::{AgentName, AgentOutput, ThemeResult};
        use crate::event::{AgentCompleted, AgentStarted};
        [
            ev(
                seq,
                party,
                Payload::AgentStarted(AgentStarted {
                    agent_name: AgentName::Theme,
                    execution_id: exec.into(),
                    input_count: 1,
                    message: "m".into(),
                }),
            ),
            ev(
                seq + 1,
                party,
                Payload::AgentCompleted(AgentCompleted {
                    reused_from: None,
                    agent_name: AgentName::Theme,
                    execution_id: exec.into(),
                    result: Arc::new(AgentOutput::Theme(ThemeResult {
                        primary_theme: "jungle".into(),
                        theme_scores: [("jungle".to_string(), 2)].into_iter().collect(),
                        confidence: 0.1 + 0.2,
                        colors: vec!["green".into()],
                        decorations: vec![],
                        activities: vec![],
                    })),
                    confidence: 0.1 + 0.2,
                    execution_time_ms: 1.0 / 3.0,
                }),
            ),
        ]
    }

    /// The snapshot's rows with their recorded digests taken out, as a
    /// build before digests wrote them.
    fn strip_digests(j: &MemoryJournal) {
        let mut rows = Vec::new();
        j.read_snapshots(&mut |p, json| {
            let mut v: serde_json::Value = serde_json::from_slice(json).expect("row");
            if let Some(o) = v.as_object_mut() {
                o.remove("digest");
            }
            rows.push((p.to_string(), serde_json::to_vec(&v).expect("json")));
            Ok(())
        })
        .expect("rows");
        let meta = j.snapshot_meta().expect("meta").expect("a snapshot");
        j.write_snapshot(&meta, &mut rows.into_iter(), &[])
            .expect("write");
    }

    #[test]
    fn chains_continue_over_compactions_and_old_snapshots() {
        let j = MemoryJournal::new();
        j.append(&[created(1, "a"), added(2, "a", "x"), created(3, "b")])
            .expect("append");
        j.append(&theme_run(4, "a", "exec_1")).expect("append");
        recovery::compact(&j).expect("compact");
        // Results now restored as raw JSON: the same state digests.
        let r = verify(&j).expect("verify");
        assert!(r.agree && r.recorded == 2, "{r:?}");
        // More events, a deletion and a new life, then compaction again:
        // the chains continue from the recorded ones.
        j.append(&theme_run(6, "b", "exec_2")).expect("append");
        j.append(&[
            ev(
                8,
                "a",
                Payload::PartyDeleted(crate::event::PartyDeleted {
                    deleted_by: "user".into(),
                }),
            ),
            created(9, "a"),
            added(10, "a", "again"),
            created(11, "c"),
        ])
        .expect("append");
        recovery::compact(&j).expect("compact");
        let r = verify(&j).expect("verify");
        assert!(r.agree && r.recorded == 3 && r.snapshot_seq == 11, "{r:?}");
        // A snapshot without recorded digests (an older build's): the next
        // compaction chains those parties from all their events.
        strip_digests(&j);
        let r = verify(&j).expect("verify");
        assert!(r.agree && r.recorded == 0, "{r:?}");
        j.append(&[added(12, "c", "z")]).expect("append");
        recovery::compact(&j).expect("compact");
        let r = verify(&j).expect("verify");
        assert!(r.agree && r.recorded == 3, "{r:?}");
        let (_, recorded) = recovery::snapshot_digests(&j).expect("digests");
        let events = j.party_events("a", 0, usize::MAX).expect("events");
        let fresh = digest::party_digest("a", &events, 12)
            .expect("digest")
            .expect("party");
        assert_eq!(recorded["a"], fresh);
        assert_eq!(fresh.events, 2, "the new life only");
    }

    #[test]
    fn a_snapshot_that_disagrees_with_the_events_names_the_party() {
        // Two journals with the same history but one input's text: the
        // snapshot of the first, the events of the second.
        let good = MemoryJournal::new();
        good.append(&[created(1, "a"), added(2, "a", "x"), created(3, "b")])
            .expect("append");
        recovery::compact(&good).expect("compact");
        let bad = MemoryJournal::new();
        bad.append(&[created(1, "a"), added(2, "a", "tampered"), created(3, "b")])
            .expect("append");
        let mut rows = Vec::new();
        good.read_snapshots(&mut |p, json| {
            rows.push((p.to_string(), json.to_vec()));
            Ok(())
        })
        .expect("rows");
        let meta = good.snapshot_meta().expect("meta").expect("a snapshot");
        bad.write_snapshot(&meta, &mut rows.into_iter(), &[])
            .expect("write");
        let r = verify(&bad).expect("verify");
        assert!(!r.agree);
        assert_eq!(r.differences.len(), 1, "{r:?}");
        let d = &r.differences[0];
        assert_eq!(d.party_id, "a");
        let all = d.what.join("; ");
        assert!(all.contains("chain differs at snapshot seq 3"), "{all}");
        assert!(all.contains("state differs"), "{all}");
        assert!(r.render_text().starts_with("party a: "));
    }
}
