//! Decoding stored events fast. The event's serde shape (a flattened,
//! adjacently tagged payload; untagged agent results) makes the derived
//! decoder buffer every event two or three times and try result variants in
//! turn. Replay decodes millions, so this reads the envelope with the
//! payload left raw, then decodes the payload as the type its `event_type`
//! (and, for results, its `agent_name`) names. Same values, one pass.
//!
//! Encoding is split the other way round: the bus stamps `seq` and
//! `timestamp` on its one dispatcher thread, so the bulk of an event (its
//! envelope and payload) is encoded by the publisher beforehand
//! ([`encode_body`]), and the dispatcher only appends the stamp
//! ([`finish`], into room the body's buffer keeps, so the event is not
//! copied there). The result has the derived `Serialize`'s keys and values
//! (the stored JSON is the event's wire JSON, readable with `json_extract`),
//! with `seq` and `timestamp` last (first in events stored before
//! 2026-12-03; the decoder takes keys in any order), except that catalog records inside
//! agent results are cited by key (`record_ref`, see
//! [`crate::catalog::intern`]): a venue result no longer carries every venue
//! it ranked in full. [`decode_stored`] resolves them in the journal's
//! records; the WebSocket stream and the API still carry full records.
//!
//! Owns the stored JSON's shape; never touches storage.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::catalog::intern::{self, JournalRecords};
use crate::domain::{AgentName, AgentOutput};
use crate::event::{AgentCompleted, Draft, Event, Payload, Topic};

/// A draft's stored JSON without its stamp: a JSON object missing `seq` and
/// `timestamp`, which [`finish`] adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

/// The envelope and payload as the derived `Serialize` writes them.
#[derive(Serialize)]
struct Unstamped<'a> {
    event_id: &'a str,
    party_id: &'a str,
    correlation_id: &'a str,
    causation_id: &'a Option<String>,
    source: &'a str,
    #[serde(flatten)]
    payload: &'a Payload,
}

/// Encodes everything of `draft` but the stamp (done by publishers, off the
/// dispatcher thread), citing catalog records by key.
pub fn encode_body(draft: &Draft) -> Result<Body, serde_json::Error> {
    intern::citing_journal(|| {
        serde_json::to_string(&Unstamped {
            event_id: &draft.event_id,
            party_id: &draft.party_id,
            correlation_id: &draft.correlation_id,
            causation_id: &draft.causation_id,
            source: &draft.source,
            payload: &draft.payload,
        })
    })
    .map(|mut json| {
        // Grown here, on the publisher's thread, not by `finish`.
        json.reserve_exact(STAMP_ROOM);
        Body(json)
    })
}

/// The stored JSON of a whole event (what [`finish`] makes of its body),
/// citing catalog records by key.
pub fn encode(event: &Event) -> Result<String, serde_json::Error> {
    intern::citing_journal(|| serde_json::to_string(event))
}

/// Decodes one stored event, resolving cited records in `records` (the
/// journal's); events stored with records in full decode as well.
pub(crate) fn decode_stored(
    bytes: &[u8],
    records: &Arc<JournalRecords>,
) -> Result<Event, serde_json::Error> {
    intern::resolving_journal(records, || decode(bytes))
}

/// Room [`encode_body`] leaves after a body for the stamp: `,"seq":` and
/// 20 digits, `,"timestamp":` and an RFC 3339 time with microseconds.
const STAMP_ROOM: usize = 72;

/// The stored JSON of the event `body`'s draft stamped with `seq` and
/// `timestamp`: the stamp goes last, into the room the body's buffer keeps
/// for it, so the event is not copied on the dispatcher thread.
pub fn finish(body: Body, seq: u64, timestamp: &str) -> String {
    // `body` is a JSON object with at least `event_id`: `{"event_id":...}`.
    let mut json = body.0;
    if json.ends_with('}') {
        json.pop();
    }
    let _ = write!(json, ",\"seq\":{seq}");
    push_timestamp(json, timestamp)
}

/// `body` with its `timestamp` but no `seq`: what a cluster node hands the
/// shared log, which inserts the partition's `seq` before the final `}`
/// (see [`crate::journal::log::Entry`]).
pub fn finish_timestamp(body: Body, timestamp: &str) -> String {
    let mut json = body.0;
    if json.ends_with('}') {
        json.pop();
    }
    push_timestamp(json, timestamp)
}

/// Appends `,"timestamp":"…"}` to an open JSON object.
fn push_timestamp(mut json: String, timestamp: &str) -> String {
    json.push_str(",\"timestamp\":");
    if timestamp
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        // An RFC 3339 time: nothing to escape.
        json.push('"');
        json.push_str(timestamp);
        json.push('"');
    } else {
        json.push_str(&serde_json::to_string(timestamp).unwrap_or_else(|_| "\"\"".into()));
    }
    json.push('}');
    json
}

#[derive(Deserialize)]
struct Envelope<'a> {
    event_id: String,
    seq: u64,
    party_id: String,
    timestamp: String,
    correlation_id: String,
    causation_id: Option<String>,
    source: String,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Deserialize)]
struct Completed<'a> {
    agent_name: AgentName,
    execution_id: String,
    #[serde(borrow)]
    result: &'a RawValue,
    confidence: f64,
    execution_time_ms: f64,
    #[serde(default)]
    reused_from: Option<String>,
}

fn unknown(topic: &str) -> serde_json::Error {
    serde::de::Error::custom(format!("unknown event_type {topic:?}"))
}

/// Decodes an agent's result as the type that agent produces (the derived,
/// untagged decoder would try each type in turn).
pub fn decode_result(agent: AgentName, raw: &str) -> Result<AgentOutput, serde_json::Error> {
    use serde_json::from_str;
    Ok(match agent {
        AgentName::Theme => AgentOutput::Theme(from_str(raw)?),
        AgentName::Venue => AgentOutput::Venue(from_str(raw)?),
        AgentName::Cake => AgentOutput::Cake(from_str(raw)?),
        AgentName::Catering => AgentOutput::Catering(from_str(raw)?),
        AgentName::Vendor => AgentOutput::Vendor(from_str(raw)?),
        _ => from_str(raw)?,
    })
}

/// Decodes one stored event (the JSON [`Event`] serialises to).
pub fn decode(bytes: &[u8]) -> Result<Event, serde_json::Error> {
    use serde_json::from_str;
    let env: Envelope<'_> = serde_json::from_slice(bytes)?;
    let p = env.payload.get();
    let topic = Topic::parse(&env.event_type).ok_or_else(|| unknown(&env.event_type))?;
    let payload = match topic {
        Topic::PartyCreated => Payload::PartyCreated(from_str(p)?),
        Topic::PartyDeleted => Payload::PartyDeleted(from_str(p)?),
        Topic::PartyTokenRotated => Payload::PartyTokenRotated(from_str(p)?),
        Topic::InputAdded => Payload::InputAdded(from_str(p)?),
        Topic::InputRemoved => Payload::InputRemoved(from_str(p)?),
        Topic::AgentShouldExecute => Payload::AgentShouldExecute(from_str(p)?),
        Topic::AgentStarted => Payload::AgentStarted(from_str(p)?),
        Topic::AgentFailed => Payload::AgentFailed(from_str(p)?),
        Topic::AgentDataRemoved => Payload::AgentDataRemoved(from_str(p)?),
        Topic::BudgetUpdated => Payload::BudgetUpdated(from_str(p)?),
        Topic::PlanUpdated => Payload::PlanUpdated(from_str(p)?),
        Topic::AgentCompleted => {
            let c: Completed<'_> = from_str(p)?;
            let result = decode_result(c.agent_name, c.result.get())?;
            Payload::AgentCompleted(AgentCompleted {
                reused_from: c.reused_from,
                agent_name: c.agent_name,
                execution_id: c.execution_id,
                result: Arc::new(result),
                confidence: c.confidence,
                execution_time_ms: c.execution_time_ms,
            })
        }
    };
    Ok(Event {
        event_id: env.event_id,
        seq: env.seq,
        party_id: env.party_id,
        timestamp: env.timestamp,
        correlation_id: env.correlation_id,
        causation_id: env.causation_id,
        source: env.source,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{NewInput, NewParty};
    use crate::{App, Config};
    use std::time::Duration;

    #[test]
    fn decodes_every_event_of_real_parties_exactly_as_the_derived_decoder() {
        let app = App::start_new(Config::default()).expect("app");
        let mut all = Vec::new();
        for (i, texts) in [
            &[
                "jungle theme party for 75 guests",
                "chocolate cake, budget around $2000",
            ][..],
            &[
                "tacos and burritos for 30",
                "a dj and balloons",
                "outdoor venue in Austin",
            ][..],
        ]
        .iter()
        .enumerate()
        {
            let id = format!("codec{i}");
            let ack = app
                .create_party(
                    NewParty {
                        party_id: Some(id.clone()),
                        initial_inputs: texts
                            .iter()
                            .map(|t| NewInput {
                                content: t.to_string(),
                                ..NewInput::default()
                            })
                            .collect(),
                        ..NewParty::default()
                    },
                    None,
                )
                .expect("create");
            assert!(app.wait_settled(&id, ack.seq, Duration::from_secs(20)));
            let first = ack.input_ids[0].clone();
            let removed = app.remove_input(&id, &first, None, None).expect("remove");
            assert!(app.wait_settled(&id, removed.seq, Duration::from_secs(20)));
            app.delete_party(&id, None, None).expect("delete");
            all.extend(app.events(&id, 0, 10_000).expect("events"));
        }
        let failed = crate::event::Draft::command(
            "codec0",
            "corr_x",
            Payload::AgentFailed(crate::event::AgentFailed {
                agent_name: AgentName::Venue,
                execution_id: "exec_1".into(),
                error: "boom \"quoted\"".into(),
                error_type: crate::event::ErrorType::Timeout,
                retry_count: 0,
            }),
        );
        all.push(Arc::new(failed.stamp(999, "2026-01-01T00:00:00Z".into())));
        let topics: std::collections::HashSet<Topic> = all.iter().map(|e| e.topic()).collect();
        assert_eq!(topics.len(), 11, "{topics:?}");
        // A journal that stored every record cited so far.
        let records = Arc::new(JournalRecords::empty());
        let mut cited = 0;
        for e in all {
            let bytes = serde_json::to_vec(&*e).expect("encode");
            let derived: Event = serde_json::from_slice(&bytes).expect("derived");
            assert_eq!(decode(&bytes).expect("decode"), derived);
            assert_eq!(derived, *e);
            // Encoded in two halves, the stored JSON holds the same keys
            // and values as the whole event's stored encoding, stamp last.
            let draft = Draft {
                event_id: e.event_id.clone(),
                party_id: e.party_id.clone(),
                correlation_id: e.correlation_id.clone(),
                causation_id: e.causation_id.clone(),
                source: e.source.clone(),
                payload: e.payload.clone(),
            };
            let split = finish(encode_body(&draft).expect("body"), e.seq, &e.timestamp);
            let whole = encode(&e).expect("encode");
            let as_value = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).expect("json");
            assert_eq!(as_value(split.as_bytes()), as_value(whole.as_bytes()));
            assert!(split.ends_with(&format!(
                ",\"seq\":{},\"timestamp\":\"{}\"}}",
                e.seq, e.timestamp
            )));
            // Catalog records are cited, not inline; outside a journal the
            // citations do not resolve.
            if split.contains("\"record_ref\":") {
                cited += 1;
                assert!(split.len() < bytes.len());
                assert!(decode(split.as_bytes()).is_err());
            }
            let (new, upto) = records.unstored().expect("no key conflict");
            records.mark_stored(new, upto);
            assert_eq!(
                decode_stored(split.as_bytes(), &records).expect("decode split"),
                *e
            );
            assert_eq!(decode_stored(&bytes, &records).expect("inline"), *e);
        }
        assert!(cited >= 4, "venue, cake, catering and vendor results cite");
        assert!(decode(br#"{"event_type": "nope"}"#).is_err());
    }
}
