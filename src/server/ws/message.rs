//! What travels on a party's WebSocket: one JSON text message per forwarded
//! event, plus the few control messages (`connection`, `pong`).
//!
//! Owns the event → message mapping, the server's WebSocket framing of a
//! text message ([`text_frame`]) and the [`EncodeCache`] that lets every
//! client of a party share one encoded frame of each event. Pure apart from
//! the cache's locks; must not do I/O.
//!
//! Every event message carries SPEC §2's keys `type, agent, status, result,
//! message, error, timestamp, payload` (null when absent), plus `party_id`,
//! `seq`, `event_id` and `correlation_id`; `agent_completed` also carries
//! `confidence` and `execution_time_ms`. `timestamp` is the event's own.
//! `party.agent.should_execute` is internal scheduling and is not forwarded.

use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;

use crate::domain::{AgentOutput, Budget, FinalPlan};
use crate::event::{
    AgentDataRemoved, ErrorType, Event, ForkedFrom, InputAdded, InputRemoved, PartyDeleted,
    Payload, Topic, TopicSet,
};

/// Slots in the encode cache. Clients of one party receive an event within
/// moments of each other, so a small window of recent events is enough;
/// 1,024 slots bound the cache to about a thousand encoded messages.
pub(crate) const CACHE_SLOTS: usize = 1_024;

/// The extra data of agent run messages (kept in `payload`).
#[derive(Serialize)]
struct RunInfo<'a> {
    execution_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<ErrorType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_count: Option<u32>,
    /// A fork's reused result: the original's event it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    reused_from: Option<&'a str>,
}

/// `party_created`'s payload: never the token hash.
#[derive(Serialize)]
struct Created<'a> {
    created_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forked_from: Option<&'a ForkedFrom>,
}

/// The `payload` key, borrowed from the event.
#[derive(Serialize)]
#[serde(untagged)]
enum PayloadView<'a> {
    Run(RunInfo<'a>),
    Created(Created<'a>),
    Deleted(&'a PartyDeleted),
    InputAdded(&'a InputAdded),
    InputRemoved(&'a InputRemoved),
    DataRemoved(&'a AgentDataRemoved),
    Budget(&'a Budget),
    Plan(&'a FinalPlan),
}

/// One event message, borrowed from the event.
#[derive(Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    agent: Option<&'static str>,
    status: Option<&'static str>,
    result: Option<&'a AgentOutput>,
    message: String,
    error: Option<&'a str>,
    timestamp: &'a str,
    payload: Option<PayloadView<'a>>,
    party_id: &'a str,
    seq: u64,
    event_id: &'a str,
    correlation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_time_ms: Option<f64>,
}

/// Topics never forwarded to clients: internal scheduling and token
/// rotation. A client's subscription leaves them out, so the bus does not
/// wake a client's thread for a batch it would not write.
pub(crate) const NOT_FORWARDED: [Topic; 2] = [Topic::AgentShouldExecute, Topic::PartyTokenRotated];

/// The topics forwarded to clients: every topic but [`NOT_FORWARDED`].
pub(crate) const FORWARDED: TopicSet = TopicSet::ALL.without(&NOT_FORWARDED);

/// The WebSocket `type` an event is forwarded as, or `None` when the topic
/// is not forwarded ([`NOT_FORWARDED`]).
pub(crate) fn message_type(payload: &Payload) -> Option<&'static str> {
    Some(match payload {
        Payload::PartyCreated(_) => "party_created",
        Payload::PartyDeleted(_) => "party_deleted",
        Payload::InputAdded(_) => "input_added",
        Payload::InputRemoved(_) => "input_removed",
        Payload::AgentShouldExecute(_) | Payload::PartyTokenRotated(_) => return None,
        Payload::AgentStarted(_) => "agent_started",
        Payload::AgentCompleted(_) => "agent_completed",
        Payload::AgentFailed(_) => "agent_failed",
        Payload::AgentDataRemoved(_) => "agent_data_removed",
        Payload::BudgetUpdated(_) => "budget_updated",
        Payload::PlanUpdated(_) => "plan_updated",
    })
}

/// Encodes one event as its WebSocket message, or `None` when its topic is
/// not forwarded.
pub(crate) fn encode_event(ev: &Event) -> Option<String> {
    let kind = message_type(&ev.payload)?;
    let mut m = EventMessage {
        kind,
        agent: None,
        status: None,
        result: None,
        message: String::new(),
        error: None,
        timestamp: &ev.timestamp,
        payload: None,
        party_id: &ev.party_id,
        seq: ev.seq,
        event_id: &ev.event_id,
        correlation_id: &ev.correlation_id,
        confidence: None,
        execution_time_ms: None,
    };
    match &ev.payload {
        Payload::PartyCreated(p) => {
            m.message = match &p.forked_from {
                Some(f) => format!("Party forked from {} at seq {}", f.party_id, f.seq),
                None => "Party created".into(),
            };
            m.payload = Some(PayloadView::Created(Created {
                created_by: p.created_by.as_deref(),
                forked_from: p.forked_from.as_ref(),
            }));
        }
        Payload::PartyDeleted(p) => {
            m.message = "Party deleted".into();
            m.payload = Some(PayloadView::Deleted(p));
        }
        Payload::InputAdded(p) => {
            m.message = format!("Input {} added", p.input_id);
            m.payload = Some(PayloadView::InputAdded(p));
        }
        Payload::InputRemoved(p) => {
            m.message = format!("Input {} removed", p.input_id);
            m.payload = Some(PayloadView::InputRemoved(p));
        }
        Payload::AgentShouldExecute(_) | Payload::PartyTokenRotated(_) => return None,
        Payload::AgentStarted(p) => {
            let agent = p.agent_name.as_str();
            m.agent = Some(agent);
            m.status = Some("running");
            m.message = if p.message.is_empty() {
                format!("{agent} started")
            } else {
                p.message.clone()
            };
            m.payload = Some(PayloadView::Run(RunInfo {
                execution_id: &p.execution_id,
                input_count: Some(p.input_count),
                error_type: None,
                retry_count: None,
                reused_from: None,
            }));
        }
        Payload::AgentCompleted(p) => {
            let agent = p.agent_name.as_str();
            m.agent = Some(agent);
            m.status = Some("completed");
            m.result = Some(&p.result);
            m.message = match p.reused_from {
                Some(_) => format!("{agent} result reused: what it reads did not change"),
                None => format!("{agent} completed successfully"),
            };
            m.confidence = Some(p.confidence);
            m.execution_time_ms = Some(p.execution_time_ms);
            m.payload = Some(PayloadView::Run(RunInfo {
                execution_id: &p.execution_id,
                input_count: None,
                error_type: None,
                retry_count: None,
                reused_from: p.reused_from.as_deref(),
            }));
        }
        Payload::AgentFailed(p) => {
            let agent = p.agent_name.as_str();
            m.agent = Some(agent);
            m.status = Some("failed");
            m.error = Some(&p.error);
            m.message = format!("{agent} failed: {}", p.error);
            m.payload = Some(PayloadView::Run(RunInfo {
                execution_id: &p.execution_id,
                input_count: None,
                error_type: Some(p.error_type),
                retry_count: Some(p.retry_count),
                reused_from: None,
            }));
        }
        Payload::AgentDataRemoved(p) => {
            let agent = p.agent_name.as_str();
            m.agent = Some(agent);
            m.message = format!("{agent} data removed: {}", p.reason);
            m.payload = Some(PayloadView::DataRemoved(p));
        }
        Payload::BudgetUpdated(b) => {
            m.message = "Budget updated".into();
            m.payload = Some(PayloadView::Budget(b));
        }
        Payload::PlanUpdated(p) => {
            m.message = format!("Plan updated ({}% complete)", p.completion_percent);
            m.payload = Some(PayloadView::Plan(p));
        }
    }
    match serde_json::to_string(&m) {
        Ok(s) => Some(s),
        Err(e) => {
            // Only non-finite floats can fail here; an agent bug, not input.
            log::error!("cannot encode event {} for WebSocket: {e}", ev.event_id);
            None
        }
    }
}

/// The first message of every connection.
pub(crate) fn connection(party_id: &str, last_seq: u64) -> String {
    serde_json::json!({
        "type": "connection",
        "status": "connected",
        "party_id": party_id,
        "last_seq": last_seq,
    })
    .to_string()
}

/// The answer to a JSON `{"type":"ping"}`.
pub(crate) fn pong(timestamp: &str) -> String {
    serde_json::json!({"type": "pong", "timestamp": timestamp}).to_string()
}

/// Whether a client text is the JSON ping `{"type":"ping", …}`.
pub(crate) fn is_json_ping(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Probe<'_>>(text).is_ok_and(|p| p.kind.as_deref() == Some("ping"))
}

/// A server's WebSocket frame carrying `text` as one whole text message
/// (RFC 6455 §5.2: FIN set, opcode 1, no mask from a server).
pub(crate) fn text_frame(text: &str) -> Bytes {
    let len = text.len();
    let mut frame = Vec::with_capacity(len + 10);
    frame.push(0x81);
    if len < 126 {
        frame.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        frame.push(126);
        frame.extend_from_slice(&len.to_be_bytes());
    } else {
        frame.push(127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(text.as_bytes());
    Bytes::from(frame)
}

/// One slot: the latest event whose `seq` maps here, and its frame.
#[derive(Default)]
struct Slot {
    seq: u64,
    event_id: String,
    frame: Option<Bytes>,
}

/// Encodes and frames each event once for all the clients that receive it.
///
/// A fixed ring of slots indexed by `seq`; a slot's lock is held while its
/// event is encoded, so clients asking for the same event at the same time
/// wait for the one encoding instead of repeating it. Keyed by `seq` and
/// `event_id` together, so hubs shared by several apps never mix events up.
pub(crate) struct EncodeCache {
    slots: Box<[Mutex<Slot>]>,
}

impl Default for EncodeCache {
    fn default() -> Self {
        EncodeCache::new(CACHE_SLOTS)
    }
}

impl EncodeCache {
    /// A cache of `slots` slots (at least one).
    pub(crate) fn new(slots: usize) -> EncodeCache {
        EncodeCache {
            slots: (0..slots.max(1)).map(|_| Mutex::default()).collect(),
        }
    }

    /// The text frame of `ev`'s message (`None`: not forwarded), encoding it
    /// only if no client has yet. Clones share the bytes.
    pub(crate) fn frame(&self, ev: &Event) -> Option<Bytes> {
        let i = (ev.seq % self.slots.len() as u64) as usize;
        let mut slot = self.slots[i].lock().unwrap_or_else(|e| e.into_inner());
        if slot.seq != ev.seq || slot.event_id != ev.event_id {
            slot.frame = encode_event(ev).map(|text| text_frame(&text));
            slot.seq = ev.seq;
            slot.event_id.clone_from(&ev.event_id);
        }
        slot.frame.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgentName;
    use crate::event::{AgentFailed, AgentStarted, Draft, PartyCreated, ShouldExecute};
    use serde_json::Value;

    fn ev(seq: u64, payload: Payload) -> Event {
        Draft::command("p1", "corr_1", payload).stamp(seq, "2026-01-01T00:00:00.000000Z".into())
    }

    fn json(e: &Event) -> Value {
        serde_json::from_str(&encode_event(e).expect("forwarded")).expect("json")
    }

    const KEYS: [&str; 12] = [
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
    ];

    #[test]
    fn every_message_has_every_key() {
        let e = ev(
            7,
            Payload::AgentStarted(AgentStarted {
                agent_name: AgentName::Theme,
                execution_id: "exec_1".into(),
                input_count: 2,
                message: "Analyzing party theme...".into(),
            }),
        );
        let v = json(&e);
        for k in KEYS {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }
        assert_eq!(v["type"], "agent_started");
        assert_eq!(v["agent"], "theme_agent");
        assert_eq!(v["status"], "running");
        assert_eq!(v["message"], "Analyzing party theme...");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["timestamp"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(v["result"], Value::Null);
        assert_eq!(v["payload"]["execution_id"], "exec_1");
        assert!(v.get("confidence").is_none());
    }

    #[test]
    fn failed_message_names_the_error() {
        let v = json(&ev(
            1,
            Payload::AgentFailed(AgentFailed {
                agent_name: AgentName::Venue,
                execution_id: "exec_2".into(),
                error: "boom".into(),
                error_type: ErrorType::Internal,
                retry_count: 0,
            }),
        ));
        assert_eq!(v["type"], "agent_failed");
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"], "boom");
        assert_eq!(v["message"], "venue_agent failed: boom");
        assert_eq!(v["payload"]["error_type"], "internal");
    }

    #[test]
    fn created_never_shows_the_token_hash() {
        let v = json(&ev(
            1,
            Payload::PartyCreated(PartyCreated {
                forked_from: None,
                created_by: Some("ann".into()),
                token_sha256: Some("secret".into()),
            }),
        ));
        assert_eq!(v["type"], "party_created");
        assert_eq!(v["payload"], serde_json::json!({"created_by": "ann"}));
        assert!(!v.to_string().contains("secret"));
    }

    #[test]
    fn should_execute_is_not_forwarded() {
        let e = ev(
            1,
            Payload::AgentShouldExecute(ShouldExecute {
                agent_name: AgentName::Theme,
                execution_type: crate::event::ExecutionType::Start,
                input_ids: vec![],
                priority: 1,
                reason: String::new(),
                wave: 1,
                basis_seq: 0,
            }),
        );
        assert!(encode_event(&e).is_none());
        assert!(EncodeCache::new(4).frame(&e).is_none());
        assert!(!FORWARDED.contains(e.topic()));
    }

    #[test]
    fn clients_subscribe_to_every_topic_but_the_unforwarded_ones() {
        for t in Topic::ALL {
            assert_eq!(FORWARDED.contains(t), !NOT_FORWARDED.contains(&t), "{t}");
        }
    }

    #[test]
    fn cache_encodes_once_and_tells_events_apart() {
        let cache = EncodeCache::new(2);
        let a = ev(
            3,
            Payload::PartyDeleted(PartyDeleted {
                deleted_by: "u".into(),
            }),
        );
        let m1 = cache.frame(&a).expect("forwarded");
        let m2 = cache.frame(&a).expect("forwarded");
        // Same bytes, same allocation: the second call reused the encoding.
        assert_eq!(m1.as_ptr(), m2.as_ptr());
        // Same seq, another event (another app): encoded afresh.
        let b = ev(
            3,
            Payload::PartyCreated(PartyCreated {
                forked_from: None,
                created_by: None,
                token_sha256: None,
            }),
        );
        let m3 = cache.frame(&b).expect("forwarded");
        assert!(String::from_utf8_lossy(&m3).contains("party_created"));
    }

    /// Each length class of the header, checked against tungstenite's own
    /// frame parser.
    #[test]
    fn text_frames_parse_back_as_the_text() {
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        use tungstenite::protocol::frame::FrameHeader;
        for len in [0, 5, 125, 126, 65_535, 65_536, 70_000] {
            let text = "y".repeat(len);
            let frame = text_frame(&text);
            let mut cursor = std::io::Cursor::new(&frame[..]);
            let (header, payload_len) = FrameHeader::parse(&mut cursor)
                .expect("parses")
                .expect("a whole header");
            assert!(header.is_final);
            assert_eq!(header.opcode, OpCode::Data(Data::Text));
            assert!(header.mask.is_none());
            assert_eq!(payload_len, len as u64);
            let start = cursor.position() as usize;
            assert_eq!(&frame[start..], text.as_bytes());
        }
    }

    #[test]
    fn json_ping_is_recognised() {
        assert!(is_json_ping(r#"{"type":"ping"}"#));
        assert!(is_json_ping(r#"{"type":"ping","id":3}"#));
        assert!(!is_json_ping(r#"{"type":"pong"}"#));
        assert!(!is_json_ping("ping"));
        assert!(!is_json_ping("[1]"));
    }
}
