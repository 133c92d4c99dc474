//! The event envelope, the eleven topics and one typed payload per topic,
//! plus the id and timestamp formats every event uses.
//!
//! Owns data and formats only. Must not do I/O. The clock and the random
//! generator are read only by the `new_*` id helpers and [`now_rfc3339`],
//! which the bus calls when it stamps an event; nothing else here has effects.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::domain::{AgentName, AgentOutput, Budget, FinalPlan};

/// A topic name. The prototype's nine plus `party.created`, `party.deleted` and
/// `party.token.rotated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Topic {
    /// A party came into being.
    #[serde(rename = "party.created")]
    PartyCreated,
    /// A party was deleted.
    #[serde(rename = "party.deleted")]
    PartyDeleted,
    /// A party's access token was replaced.
    #[serde(rename = "party.token.rotated")]
    PartyTokenRotated,
    /// An input was added.
    #[serde(rename = "party.input.added")]
    InputAdded,
    /// An input was removed.
    #[serde(rename = "party.input.removed")]
    InputRemoved,
    /// The scheduler asks an agent to run.
    #[serde(rename = "party.agent.should_execute")]
    AgentShouldExecute,
    /// An agent run started.
    #[serde(rename = "party.agent.started")]
    AgentStarted,
    /// An agent run completed with a result.
    #[serde(rename = "party.agent.completed")]
    AgentCompleted,
    /// An agent run failed.
    #[serde(rename = "party.agent.failed")]
    AgentFailed,
    /// An agent lost its result because no input is relevant to it any more.
    #[serde(rename = "party.agent.data_removed")]
    AgentDataRemoved,
    /// The budget was recomputed.
    #[serde(rename = "party.budget.updated")]
    BudgetUpdated,
    /// The final plan was recomputed.
    #[serde(rename = "party.plan.updated")]
    PlanUpdated,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 12] = [
        Topic::PartyCreated,
        Topic::PartyDeleted,
        Topic::PartyTokenRotated,
        Topic::InputAdded,
        Topic::InputRemoved,
        Topic::AgentShouldExecute,
        Topic::AgentStarted,
        Topic::AgentCompleted,
        Topic::AgentFailed,
        Topic::AgentDataRemoved,
        Topic::BudgetUpdated,
        Topic::PlanUpdated,
    ];

    /// The wire name, e.g. `party.input.added`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::PartyCreated => "party.created",
            Topic::PartyDeleted => "party.deleted",
            Topic::PartyTokenRotated => "party.token.rotated",
            Topic::InputAdded => "party.input.added",
            Topic::InputRemoved => "party.input.removed",
            Topic::AgentShouldExecute => "party.agent.should_execute",
            Topic::AgentStarted => "party.agent.started",
            Topic::AgentCompleted => "party.agent.completed",
            Topic::AgentFailed => "party.agent.failed",
            Topic::AgentDataRemoved => "party.agent.data_removed",
            Topic::BudgetUpdated => "party.budget.updated",
            Topic::PlanUpdated => "party.plan.updated",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A bit for topic sets ([`TopicSet`]).
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of topics, as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicSet(u16);

impl TopicSet {
    /// Every topic.
    pub const ALL: TopicSet = TopicSet(0x0fff);
    /// No topic.
    pub const NONE: TopicSet = TopicSet(0);

    /// The set of the given topics.
    pub fn of(topics: &[Topic]) -> TopicSet {
        TopicSet(topics.iter().fold(0, |m, t| m | t.bit()))
    }

    /// Both sets together.
    pub fn union(self, other: TopicSet) -> TopicSet {
        TopicSet(self.0 | other.0)
    }

    /// This set and the given topics.
    pub const fn with(self, topics: &[Topic]) -> TopicSet {
        let mut bits = self.0;
        let mut i = 0;
        while i < topics.len() {
            bits |= 1 << (topics[i] as u16);
            i += 1;
        }
        TopicSet(bits)
    }

    /// This set less the given topics.
    pub const fn without(self, topics: &[Topic]) -> TopicSet {
        let mut bits = self.0;
        let mut i = 0;
        while i < topics.len() {
            bits &= !(1 << (topics[i] as u16));
            i += 1;
        }
        TopicSet(bits)
    }

    /// Whether `t` is in the set.
    pub fn contains(self, t: Topic) -> bool {
        self.0 & t.bit() != 0
    }
}

/// Where an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    /// Typed text.
    Text,
    /// An image (its URL or description in `content`).
    Image,
    /// A link.
    Url,
    /// An uploaded file.
    Upload,
}

impl SourceType {
    /// The accepted wire names.
    pub const NAMES: [&'static str; 4] = ["text", "image", "url", "upload"];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<SourceType> {
        match s {
            "text" => Some(SourceType::Text),
            "image" => Some(SourceType::Image),
            "url" => Some(SourceType::Url),
            "upload" => Some(SourceType::Upload),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Text => "text",
            SourceType::Image => "image",
            SourceType::Url => "url",
            SourceType::Upload => "upload",
        }
    }
}

/// `party.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyCreated {
    /// The creating user, if the client named one.
    pub created_by: Option<String>,
    /// Hex SHA-256 of the party's access token (never the token itself).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// For a fork: the party and `seq` it was forked from. Its copied
    /// inputs and reused results follow in the same batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
}

/// Where a fork came from (`party.created` of a fork).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForkedFrom {
    /// The original party.
    pub party_id: String,
    /// The original's state the fork started from: its events up to this
    /// `seq`.
    pub seq: u64,
}

/// `party.token.rotated`: the party's token was replaced; the old one no
/// longer grants access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyTokenRotated {
    /// Hex SHA-256 of the new token (never the token itself).
    pub token_sha256: String,
}

/// `party.deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyDeleted {
    /// Who deleted it.
    pub deleted_by: String,
}

/// `party.input.added`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputAdded {
    /// `inp_` + 8 hex, or the client's own id.
    pub input_id: String,
    /// The text, verbatim.
    pub content: String,
    /// Where it came from.
    pub source_type: SourceType,
    /// Client tags.
    pub tags: Vec<String>,
    /// The user, or `user`.
    pub added_by: String,
    /// Client metadata (an object, possibly empty).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Image to analyse, if any.
    #[serde(default)]
    pub image_url: Option<String>,
    /// In a fork: the `event_id` of the original's `party.input.added` this
    /// input was copied from. A copied input is the state the fork starts
    /// from, not a change: it starts no planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
}

/// Why an input went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// The user removed it.
    UserAction,
    /// It duplicated another input.
    Duplicate,
    /// It was invalid.
    Invalid,
    /// Its party was deleted.
    PartyDeleted,
}

/// `party.input.removed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRemoved {
    /// The removed input.
    pub input_id: String,
    /// Who removed it.
    pub removed_by: String,
    /// Why.
    pub reason: RemovalReason,
}

/// How an agent is asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionType {
    /// First run.
    Start,
    /// Its own inputs changed.
    Rerun,
    /// An upstream result changed.
    Recalculate,
}

/// `party.agent.should_execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShouldExecute {
    /// Which agent.
    pub agent_name: AgentName,
    /// Start, rerun or recalculate.
    pub execution_type: ExecutionType,
    /// The inputs relevant to this agent.
    pub input_ids: Vec<String>,
    /// 1 (highest) ..= 5.
    pub priority: u8,
    /// Why it runs, in words.
    pub reason: String,
    /// The change wave (per party, counting from 1).
    pub wave: u64,
    /// `last_seq` of the party state the wave was planned from: every input
    /// change up to it is covered by this wave. Recovery uses it to tell
    /// finished planning from interrupted planning (0 in journals written
    /// before the field existed).
    #[serde(default)]
    pub basis_seq: u64,
}

/// `party.agent.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStarted {
    /// Which agent.
    pub agent_name: AgentName,
    /// `exec_` + 12 hex.
    pub execution_id: String,
    /// How many inputs the run sees.
    pub input_count: u32,
    /// Human message, e.g. "Analyzing party theme...".
    pub message: String,
}

/// `party.agent.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCompleted {
    /// Which agent.
    pub agent_name: AgentName,
    /// `exec_` + 12 hex.
    pub execution_id: String,
    /// The typed result.
    pub result: Arc<AgentOutput>,
    /// 0..=1.
    pub confidence: f64,
    /// Wall time of the pure computation.
    pub execution_time_ms: f64,
    /// In a fork: the `event_id` of the original's `party.agent.completed`
    /// whose result this is. The agent did not run again: what it reads
    /// had not changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// Kind of agent failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// Exceeded its deadline.
    Timeout,
    /// Bad input for the agent.
    Validation,
    /// An external service failed.
    ExternalApi,
    /// A bug: the agent panicked.
    Internal,
}

/// `party.agent.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentFailed {
    /// Which agent.
    pub agent_name: AgentName,
    /// `exec_` + 12 hex.
    pub execution_id: String,
    /// What went wrong.
    pub error: String,
    /// Kind.
    pub error_type: ErrorType,
    /// How many times this run was retried before failing.
    pub retry_count: u32,
}

/// `party.agent.data_removed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDataRemoved {
    /// Which agent lost its result.
    pub agent_name: AgentName,
    /// Always `no_relevant_inputs`.
    pub reason: String,
    /// The removal that caused it, if one did.
    pub removed_input_id: Option<String>,
}

/// The typed payload, tagged by `event_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum Payload {
    /// `party.created`.
    #[serde(rename = "party.created")]
    PartyCreated(PartyCreated),
    /// `party.deleted`.
    #[serde(rename = "party.deleted")]
    PartyDeleted(PartyDeleted),
    /// `party.token.rotated`.
    #[serde(rename = "party.token.rotated")]
    PartyTokenRotated(PartyTokenRotated),
    /// `party.input.added`.
    #[serde(rename = "party.input.added")]
    InputAdded(InputAdded),
    /// `party.input.removed`.
    #[serde(rename = "party.input.removed")]
    InputRemoved(InputRemoved),
    /// `party.agent.should_execute`.
    #[serde(rename = "party.agent.should_execute")]
    AgentShouldExecute(ShouldExecute),
    /// `party.agent.started`.
    #[serde(rename = "party.agent.started")]
    AgentStarted(AgentStarted),
    /// `party.agent.completed`.
    #[serde(rename = "party.agent.completed")]
    AgentCompleted(AgentCompleted),
    /// `party.agent.failed`.
    #[serde(rename = "party.agent.failed")]
    AgentFailed(AgentFailed),
    /// `party.agent.data_removed`.
    #[serde(rename = "party.agent.data_removed")]
    AgentDataRemoved(AgentDataRemoved),
    /// `party.budget.updated`.
    #[serde(rename = "party.budget.updated")]
    BudgetUpdated(Arc<Budget>),
    /// `party.plan.updated`.
    #[serde(rename = "party.plan.updated")]
    PlanUpdated(Arc<FinalPlan>),
}

impl Payload {
    /// The payload's topic.
    pub fn topic(&self) -> Topic {
        match self {
            Payload::PartyCreated(_) => Topic::PartyCreated,
            Payload::PartyDeleted(_) => Topic::PartyDeleted,
            Payload::PartyTokenRotated(_) => Topic::PartyTokenRotated,
            Payload::InputAdded(_) => Topic::InputAdded,
            Payload::InputRemoved(_) => Topic::InputRemoved,
            Payload::AgentShouldExecute(_) => Topic::AgentShouldExecute,
            Payload::AgentStarted(_) => Topic::AgentStarted,
            Payload::AgentCompleted(_) => Topic::AgentCompleted,
            Payload::AgentFailed(_) => Topic::AgentFailed,
            Payload::AgentDataRemoved(_) => Topic::AgentDataRemoved,
            Payload::BudgetUpdated(_) => Topic::BudgetUpdated,
            Payload::PlanUpdated(_) => Topic::PlanUpdated,
        }
    }

    /// The agent an agent-topic payload is about.
    pub fn agent(&self) -> Option<AgentName> {
        match self {
            Payload::AgentShouldExecute(p) => Some(p.agent_name),
            Payload::AgentStarted(p) => Some(p.agent_name),
            Payload::AgentCompleted(p) => Some(p.agent_name),
            Payload::AgentFailed(p) => Some(p.agent_name),
            Payload::AgentDataRemoved(p) => Some(p.agent_name),
            Payload::BudgetUpdated(_) => Some(AgentName::Budget),
            Payload::PlanUpdated(_) => Some(AgentName::FinalPlanner),
            _ => None,
        }
    }
}

/// A published event: envelope plus payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` + 12 hex.
    pub event_id: String,
    /// Global, gap-free sequence number stamped by the bus (first event = 1).
    pub seq: u64,
    /// The party.
    pub party_id: String,
    /// RFC 3339 UTC with `Z`, stamped by the bus.
    pub timestamp: String,
    /// Traces one user request through every event it caused.
    pub correlation_id: String,
    /// The event that caused this one; `None` for user commands.
    pub causation_id: Option<String>,
    /// Who published it: `api`, an agent name, `scheduler`, ...
    pub source: String,
    /// Topic and payload (`event_type` + `payload` on the wire).
    #[serde(flatten)]
    pub payload: Payload,
}

impl Event {
    /// The topic.
    pub fn topic(&self) -> Topic {
        self.payload.topic()
    }
}

/// An event before the bus stamps `seq` and `timestamp`. Its id is chosen
/// when the draft is made, so a publisher knows it before publishing.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// See [`Event::event_id`].
    pub event_id: String,
    /// The party.
    pub party_id: String,
    /// See [`Event::correlation_id`].
    pub correlation_id: String,
    /// See [`Event::causation_id`].
    pub causation_id: Option<String>,
    /// See [`Event::source`].
    pub source: String,
    /// The payload.
    pub payload: Payload,
}

impl Draft {
    /// A draft for a user command (no causation).
    pub fn command(
        party_id: impl Into<String>,
        correlation_id: impl Into<String>,
        payload: Payload,
    ) -> Draft {
        Draft {
            event_id: new_event_id(),
            party_id: party_id.into(),
            correlation_id: correlation_id.into(),
            causation_id: None,
            source: "api".to_string(),
            payload,
        }
    }

    /// A draft caused by `cause`, inheriting its party and correlation.
    pub fn caused_by(cause: &Event, source: impl Into<String>, payload: Payload) -> Draft {
        Draft {
            event_id: new_event_id(),
            party_id: cause.party_id.clone(),
            correlation_id: cause.correlation_id.clone(),
            causation_id: Some(cause.event_id.clone()),
            source: source.into(),
            payload,
        }
    }

    /// The draft an event was stamped from (its `seq` and timestamp
    /// dropped): the bus gives an event that could not be written a new
    /// `seq`.
    pub fn from_event(e: Event) -> Draft {
        Draft {
            event_id: e.event_id,
            party_id: e.party_id,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            source: e.source,
            payload: e.payload,
        }
    }

    /// Stamps the draft into an event.
    pub fn stamp(self, seq: u64, timestamp: String) -> Event {
        Event {
            event_id: self.event_id,
            seq,
            party_id: self.party_id,
            timestamp,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            source: self.source,
            payload: self.payload,
        }
    }
}

fn hex_id(prefix: &str, len: usize) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    s.push_str(&hex[..len]);
    s
}

/// `evt_` + 12 lowercase hex.
pub fn new_event_id() -> String {
    hex_id("evt_", 12)
}

/// `corr_` + 12 lowercase hex.
pub fn new_correlation_id() -> String {
    hex_id("corr_", 12)
}

/// `exec_` + 12 lowercase hex.
pub fn new_execution_id() -> String {
    hex_id("exec_", 12)
}

/// `inp_` + 8 lowercase hex.
pub fn new_input_id() -> String {
    hex_id("inp_", 8)
}

/// `fp` + current UTC year + 8 uppercase hex, e.g. `fp2026A1B2C3D4`.
pub fn new_party_id() -> String {
    let now = now_rfc3339();
    let year = &now[..4];
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("fp{year}{}", &hex[..8])
}

/// The current time as RFC 3339 UTC with microseconds and `Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// Whether `id` is an acceptable client-chosen id: 1–64 of `[A-Za-z0-9_-]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
