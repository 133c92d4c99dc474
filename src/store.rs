//! The read model: every party's state as a fold of its events.
//!
//! `Store::apply` is pure and deterministic: it reads nothing but the event
//! (no clock, no randomness), so replaying the same events from empty gives
//! identical state. Must not spawn threads or do I/O; the runtime wraps it in
//! a lock. Party values are `Arc`-shared so readers take cheap snapshots and
//! `apply` copies on write.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::deferred::Deferred;
use crate::domain::{AgentName, AgentOutput, Budget, FinalPlan};
use crate::event::{ErrorType, Event, ForkedFrom, InputAdded, Payload, SourceType};

/// Lifecycle of a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyStatus {
    /// Some required area (theme, venue) is not planned yet, or inputs changed.
    Planning,
    /// Every required area is planned and the plan reflects the latest inputs.
    Ready,
}

impl PartyStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyStatus::Planning => "planning",
            PartyStatus::Ready => "ready",
        }
    }
}

/// One input of a party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Id, unique within the party.
    pub input_id: String,
    /// Verbatim text.
    pub content: String,
    /// Where it came from.
    pub source_type: SourceType,
    /// Tags.
    pub tags: Vec<String>,
    /// Who added it.
    pub added_by: String,
    /// When (event timestamp).
    pub added_at: String,
    /// Client metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Image, if any.
    pub image_url: Option<String>,
}

/// Run state of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// A run is in progress (the previous result, if any, is kept).
    Running,
    /// The last run completed.
    Completed,
    /// The last run failed.
    Failed,
}

impl AgentStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Running => "running",
            AgentStatus::Completed => "completed",
            AgentStatus::Failed => "failed",
        }
    }
}

/// The error of a failed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentError {
    /// Message.
    pub error: String,
    /// Kind.
    pub error_type: ErrorType,
}

/// What the store knows about one domain agent of one party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// Which agent.
    pub agent_name: AgentName,
    /// Current state.
    pub status: AgentStatus,
    /// Latest result (kept while a re-run is in progress; dropped on failure).
    pub result: Deferred<AgentOutput>,
    /// Confidence of `result`.
    pub confidence: f64,
    /// Execution time of the run that produced `result`.
    pub execution_time_ms: f64,
    /// Current or last run.
    pub execution_id: String,
    /// When the current or last run started.
    pub started_at: String,
    /// When the last run ended.
    pub completed_at: Option<String>,
    /// Error of the last run, when it failed.
    pub error: Option<AgentError>,
    /// Completed runs so far.
    pub runs: u32,
    /// In a fork: the original's `party.agent.completed` event whose result
    /// this is (the agent did not run here). Cleared when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// One party's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    /// Id.
    pub party_id: String,
    /// Lifecycle.
    pub status: PartyStatus,
    /// Inputs, in the order added.
    pub inputs: Vec<Input>,
    /// Domain agents that have run (keyed by name, in dependency order).
    pub agents: BTreeMap<AgentName, AgentState>,
    /// Latest budget.
    pub budget: Deferred<Budget>,
    /// Latest plan.
    pub final_plan: Deferred<FinalPlan>,
    /// Creator, if named.
    pub created_by: Option<String>,
    /// Hex SHA-256 of the access token.
    pub token_sha256: Option<String>,
    /// Timestamp of `party.created`.
    pub created_at: String,
    /// Timestamp of the latest event.
    pub updated_at: String,
    /// For a fork: the party and `seq` it was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
    /// Number of events applied to this party (the creation is version 1).
    pub version: u64,
    /// `seq` of the latest event applied to this party.
    pub last_seq: u64,
}

impl Input {
    /// The input a `party.input.added` event adds, at the event's time.
    pub fn added(p: &InputAdded, timestamp: &str) -> Input {
        Input {
            input_id: p.input_id.clone(),
            content: p.content.clone(),
            source_type: p.source_type,
            tags: p.tags.clone(),
            added_by: p.added_by.clone(),
            added_at: timestamp.to_string(),
            metadata: p.metadata.clone(),
            image_url: p.image_url.clone(),
        }
    }
}

impl Party {
    /// The input with this id.
    pub fn input(&self, input_id: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.input_id == input_id)
    }

    /// The completed result of an agent, if any.
    pub fn result(&self, agent: AgentName) -> Option<&AgentOutput> {
        self.agents
            .get(&agent)
            .filter(|a| a.status != AgentStatus::Failed)
            .and_then(|a| a.result.as_deref())
    }
}

/// Store statistics, with the prototype's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Live parties.
    pub total_parties: usize,
    /// Inputs over all live parties.
    pub total_inputs: usize,
    /// Agent results over all live parties.
    pub total_agent_results: usize,
    /// Parties per status.
    pub status_counts: BTreeMap<String, usize>,
    /// Parties deleted since start (or replay).
    pub deleted_parties: usize,
    /// Events applied.
    pub events_applied: u64,
    /// `seq` of the latest applied event.
    pub last_seq: u64,
}

/// Every party, folded from events.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// By party id. Clients may choose ids, so the hasher is seeded per
    /// process (foldhash: hashbrown's own, several times cheaper than std's
    /// SipHash on short keys, and no one can compute colliding ids offline).
    parties: HashMap<String, Arc<Party>, foldhash::fast::RandomState>,
    total_inputs: usize,
    total_agent_results: usize,
    ready: usize,
    deleted: usize,
    applied: u64,
    last_seq: u64,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// A snapshot of one party.
    pub fn party(&self, party_id: &str) -> Option<Arc<Party>> {
        self.parties.get(party_id).cloned()
    }

    /// Whether the party exists.
    pub fn contains(&self, party_id: &str) -> bool {
        self.parties.contains_key(party_id)
    }

    /// Number of live parties.
    pub fn len(&self) -> usize {
        self.parties.len()
    }

    /// Whether there are no parties.
    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }

    /// `seq` of the latest applied event.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Ids of all parties, sorted.
    pub fn party_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.parties.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Statistics.
    pub fn stats(&self) -> Stats {
        let mut status_counts = BTreeMap::new();
        status_counts.insert("planning".to_string(), self.parties.len() - self.ready);
        status_counts.insert("ready".to_string(), self.ready);
        Stats {
            total_parties: self.parties.len(),
            total_inputs: self.total_inputs,
            total_agent_results: self.total_agent_results,
            status_counts,
            deleted_parties: self.deleted,
            events_applied: self.applied,
            last_seq: self.last_seq,
        }
    }

    /// Every party, in no particular order.
    pub fn parties(&self) -> impl Iterator<Item = &Arc<Party>> {
        self.parties.values()
    }

    /// Inserts a party as a compaction snapshot recorded it (replacing any
    /// party with its id), keeping the statistics right. Used only when
    /// rebuilding from a snapshot; live changes go through [`Store::apply`].
    pub fn restore(&mut self, party: Arc<Party>) {
        if let Some(old) = self.parties.remove(&party.party_id) {
            self.total_inputs -= old.inputs.len();
            self.total_agent_results -= count_results(&old);
            if old.status == PartyStatus::Ready {
                self.ready -= 1;
            }
        }
        self.total_inputs += party.inputs.len();
        self.total_agent_results += count_results(&party);
        if party.status == PartyStatus::Ready {
            self.ready += 1;
        }
        self.last_seq = self.last_seq.max(party.last_seq);
        self.parties.insert(party.party_id.clone(), party);
    }

    /// Sets the counters a compaction snapshot carries: events applied and
    /// parties deleted up to `last_seq`.
    pub fn restore_counters(&mut self, events_applied: u64, deleted_parties: usize, last_seq: u64) {
        self.applied = events_applied;
        self.deleted = deleted_parties;
        self.last_seq = self.last_seq.max(last_seq);
    }

    /// Applies one event. Pure: the new state depends only on the old state and
    /// the event. Events for unknown parties (other than `party.created`) and
    /// duplicate creations are ignored, so applying is total.
    pub fn apply(&mut self, ev: &Event) {
        self.applied += 1;
        self.last_seq = self.last_seq.max(ev.seq);
        match &ev.payload {
            Payload::PartyCreated(p) => {
                if self.parties.contains_key(&ev.party_id) {
                    return;
                }
                let party = Party {
                    party_id: ev.party_id.clone(),
                    status: PartyStatus::Planning,
                    inputs: Vec::new(),
                    agents: BTreeMap::new(),
                    budget: Deferred::absent(),
                    final_plan: Deferred::absent(),
                    created_by: p.created_by.clone(),
                    token_sha256: p.token_sha256.clone(),
                    forked_from: p.forked_from.clone(),
                    created_at: ev.timestamp.clone(),
                    updated_at: ev.timestamp.clone(),
                    version: 1,
                    last_seq: ev.seq,
                };
                self.parties.insert(ev.party_id.clone(), Arc::new(party));
            }
            Payload::PartyDeleted(_) => {
                if let Some(old) = self.parties.remove(&ev.party_id) {
                    self.total_inputs -= old.inputs.len();
                    self.total_agent_results -= count_results(&old);
                    if old.status == PartyStatus::Ready {
                        self.ready -= 1;
                    }
                    self.deleted += 1;
                }
            }
            _ => self.apply_to_party(ev),
        }
    }

    fn apply_to_party(&mut self, ev: &Event) {
        let Some(slot) = self.parties.get_mut(&ev.party_id) else {
            return;
        };
        let party = Arc::make_mut(slot);
        let inputs_before = party.inputs.len();
        let results_before = count_results(party);
        let was_ready = party.status == PartyStatus::Ready;
        party.version += 1;
        party.last_seq = ev.seq;
        party.updated_at = ev.timestamp.clone();
        match &ev.payload {
            Payload::InputAdded(p) => {
                party.inputs.push(Input::added(p, &ev.timestamp));
                party.status = PartyStatus::Planning;
            }
            Payload::InputRemoved(p) => {
                let before = party.inputs.len();
                party.inputs.retain(|i| i.input_id != p.input_id);
                if party.inputs.len() != before {
                    party.status = PartyStatus::Planning;
                }
            }
            Payload::AgentStarted(p) => {
                let entry = party
                    .agents
                    .entry(p.agent_name)
                    .or_insert_with(|| AgentState {
                        agent_name: p.agent_name,
                        status: AgentStatus::Running,
                        result: Deferred::absent(),
                        confidence: 0.0,
                        execution_time_ms: 0.0,
                        execution_id: String::new(),
                        started_at: String::new(),
                        completed_at: None,
                        error: None,
                        runs: 0,
                        reused_from: None,
                    });
                entry.status = AgentStatus::Running;
                entry.execution_id = p.execution_id.clone();
                entry.started_at = ev.timestamp.clone();
                entry.error = None;
                entry.reused_from = None;
            }
            // A result counts only for the run this party started (same
            // `execution_id`): a run of a deleted party that finishes after
            // a party with the same id was created must not land in it.
            Payload::AgentCompleted(p) => match party.agents.get_mut(&p.agent_name) {
                Some(entry) if entry.execution_id == p.execution_id => {
                    entry.status = AgentStatus::Completed;
                    entry.result = Deferred::ready(p.result.clone());
                    entry.confidence = p.confidence;
                    entry.execution_time_ms = p.execution_time_ms;
                    entry.completed_at = Some(ev.timestamp.clone());
                    entry.error = None;
                    entry.runs += 1;
                }
                // A fork's reused result: the run was the original's.
                _ if p.reused_from.is_some() => {
                    party.agents.insert(
                        p.agent_name,
                        AgentState {
                            agent_name: p.agent_name,
                            status: AgentStatus::Completed,
                            result: Deferred::ready(p.result.clone()),
                            confidence: p.confidence,
                            execution_time_ms: p.execution_time_ms,
                            execution_id: p.execution_id.clone(),
                            started_at: ev.timestamp.clone(),
                            completed_at: Some(ev.timestamp.clone()),
                            error: None,
                            runs: 0,
                            reused_from: p.reused_from.clone(),
                        },
                    );
                }
                _ => {}
            },
            Payload::AgentFailed(p) if p.agent_name.stage() == 1 || p.agent_name.stage() == 2 => {
                match party.agents.get_mut(&p.agent_name) {
                    Some(entry) if entry.execution_id == p.execution_id => {
                        entry.status = AgentStatus::Failed;
                        entry.result = Deferred::absent();
                        entry.confidence = 0.0;
                        entry.completed_at = Some(ev.timestamp.clone());
                        entry.error = Some(AgentError {
                            error: p.error.clone(),
                            error_type: p.error_type,
                        });
                    }
                    _ => {}
                }
            }
            // Failures of the later stages are not agent states (the
            // budget and the plan carry their own).
            Payload::AgentFailed(_) => {}
            Payload::AgentDataRemoved(p) => {
                party.agents.remove(&p.agent_name);
            }
            Payload::BudgetUpdated(b) => {
                party.budget = Deferred::ready(b.clone());
            }
            Payload::PartyTokenRotated(t) => {
                party.token_sha256 = Some(t.token_sha256.clone());
            }
            Payload::PlanUpdated(plan) => {
                party.status = if plan.ready {
                    PartyStatus::Ready
                } else {
                    PartyStatus::Planning
                };
                party.final_plan = Deferred::ready(plan.clone());
            }
            Payload::AgentShouldExecute(_)
            | Payload::PartyCreated(_)
            | Payload::PartyDeleted(_) => {}
        }
        let inputs_after = party.inputs.len();
        let results_after = count_results(party);
        let is_ready = party.status == PartyStatus::Ready;
        self.total_inputs = self.total_inputs + inputs_after - inputs_before;
        self.total_agent_results = self.total_agent_results + results_after - results_before;
        match (was_ready, is_ready) {
            (false, true) => self.ready += 1,
            (true, false) => self.ready -= 1,
            _ => {}
        }
    }
}

fn count_results(p: &Party) -> usize {
    p.agents.values().filter(|a| a.result.is_some()).count()
}

/// Unit tests; the replay properties (apply = journal replay = snapshot +
/// tail, on random event sequences) are in `tests/it/store_replay.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentOutput, ThemeResult};
    use crate::event::{
        AgentCompleted, AgentDataRemoved, AgentFailed, AgentStarted, Draft, ErrorType, InputAdded,
        InputRemoved, PartyCreated, PartyDeleted, RemovalReason,
    };

    fn ev(seq: u64, party: &str, payload: Payload) -> Event {
        let mut d = Draft::command(party, "corr_x", payload);
        d.event_id = format!("evt_{seq:012}");
        d.stamp(seq, format!("2026-01-01T00:00:{:02}.000000Z", seq % 60))
    }

    fn created(seq: u64, party: &str) -> Event {
        ev(
            seq,
            party,
            Payload::PartyCreated(PartyCreated {
                forked_from: None,
                created_by: Some("ann".into()),
                token_sha256: None,
            }),
        )
    }

    fn added(seq: u64, party: &str, id: &str) -> Event {
        ev(
            seq,
            party,
            Payload::InputAdded(InputAdded {
                copied_from: None,
                input_id: id.into(),
                content: "jungle theme party for 75 guests".into(),
                source_type: SourceType::Text,
                tags: vec![],
                added_by: "ann".into(),
                metadata: Default::default(),
                image_url: None,
            }),
        )
    }

    fn theme_started(seq: u64, party: &str) -> Event {
        ev(
            seq,
            party,
            Payload::AgentStarted(AgentStarted {
                agent_name: AgentName::Theme,
                execution_id: "exec_1".into(),
                input_count: 1,
                message: "Analyzing party theme...".into(),
            }),
        )
    }

    fn theme_done(seq: u64, party: &str) -> Event {
        ev(
            seq,
            party,
            Payload::AgentCompleted(AgentCompleted {
                reused_from: None,
                agent_name: AgentName::Theme,
                execution_id: "exec_1".into(),
                result: Arc::new(AgentOutput::Theme(ThemeResult {
                    primary_theme: "jungle".into(),
                    theme_scores: [("jungle".to_string(), 2)].into_iter().collect(),
                    confidence: 0.2,
                    colors: vec![],
                    decorations: vec![],
                    activities: vec![],
                })),
                confidence: 0.2,
                execution_time_ms: 0.1,
            }),
        )
    }

    #[test]
    fn folds_a_party_lifecycle() {
        let mut s = Store::new();
        s.apply(&created(1, "p"));
        s.apply(&added(2, "p", "inp_1"));
        s.apply(&theme_started(3, "p"));
        assert_eq!(
            s.party("p").map(|p| p.agents[&AgentName::Theme].status),
            Some(AgentStatus::Running)
        );
        s.apply(&theme_done(4, "p"));
        let p = s.party("p").expect("party");
        assert_eq!(p.version, 4);
        assert_eq!(p.last_seq, 4);
        assert_eq!(p.inputs[0].added_by, "ann");
        assert_eq!(p.inputs[0].added_at, "2026-01-01T00:00:02.000000Z");
        assert!(p.result(AgentName::Theme).is_some());
        let st = s.stats();
        assert_eq!(
            (st.total_parties, st.total_inputs, st.total_agent_results),
            (1, 1, 1)
        );

        s.apply(&ev(
            5,
            "p",
            Payload::AgentDataRemoved(AgentDataRemoved {
                agent_name: AgentName::Theme,
                reason: "no_relevant_inputs".into(),
                removed_input_id: Some("inp_1".into()),
            }),
        ));
        s.apply(&ev(
            6,
            "p",
            Payload::InputRemoved(InputRemoved {
                input_id: "inp_1".into(),
                removed_by: "user".into(),
                reason: RemovalReason::UserAction,
            }),
        ));
        let p = s.party("p").expect("party");
        assert!(p.inputs.is_empty() && p.agents.is_empty());
        assert_eq!(p.version, 6);
        s.apply(&ev(
            7,
            "p",
            Payload::PartyDeleted(PartyDeleted {
                deleted_by: "user".into(),
            }),
        ));
        assert!(s.party("p").is_none());
        let st = s.stats();
        assert_eq!(
            (st.total_parties, st.total_inputs, st.deleted_parties),
            (0, 0, 1)
        );
    }

    #[test]
    fn ignores_events_of_unknown_parties_and_duplicate_creation() {
        let mut s = Store::new();
        s.apply(&added(1, "ghost", "inp_1"));
        assert!(s.is_empty());
        s.apply(&created(2, "p"));
        s.apply(&added(3, "p", "inp_1"));
        s.apply(&created(4, "p"));
        assert_eq!(s.party("p").map(|p| p.inputs.len()), Some(1));
    }

    #[test]
    fn a_run_of_a_deleted_party_does_not_land_in_its_successor() {
        let mut s = Store::new();
        s.apply(&created(1, "p"));
        s.apply(&added(2, "p", "inp_1"));
        s.apply(&theme_started(3, "p"));
        s.apply(&ev(
            4,
            "p",
            Payload::PartyDeleted(PartyDeleted {
                deleted_by: "user".into(),
            }),
        ));
        s.apply(&created(5, "p"));
        // exec_1 (the old party's run) finishes now: it is not this party's.
        s.apply(&theme_done(6, "p"));
        let p = s.party("p").expect("party");
        assert!(p.agents.is_empty(), "{:?}", p.agents.keys());
        assert_eq!(s.stats().total_agent_results, 0);
        // A failure of it neither.
        s.apply(&ev(
            7,
            "p",
            Payload::AgentFailed(AgentFailed {
                agent_name: AgentName::Theme,
                execution_id: "exec_1".into(),
                error: "late".into(),
                error_type: ErrorType::Timeout,
                retry_count: 0,
            }),
        ));
        assert!(s.party("p").expect("party").agents.is_empty());
    }

    #[test]
    fn snapshots_are_not_changed_by_later_events() {
        let mut s = Store::new();
        s.apply(&created(1, "p"));
        let before = s.party("p").expect("party");
        s.apply(&added(2, "p", "inp_1"));
        assert!(before.inputs.is_empty());
        assert_eq!(s.party("p").map(|p| p.inputs.len()), Some(1));
    }
}
