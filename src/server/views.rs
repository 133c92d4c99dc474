//! Response shapes built from store snapshots: the party status (SPEC §1.5
//! plus version, last_seq, each input's `added_by`, and every agent's full
//! result and error), the plan view, and the prototype's agent summaries.
//!
//! Owns those shapes only. Views borrow from the snapshot and are serialised
//! straight to bytes; they do no I/O and never expose the party's token
//! hash. Public so `partybus plan --json`
//! prints exactly what `GET .../status` returns.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::{AgentName, AgentOutput, Budget, FinalPlan};
use crate::event::{ForkedFrom, SourceType};
use crate::store::{AgentError, AgentState, AgentStatus, Input, Party};

/// One input as the API shows it.
#[derive(Debug, Serialize)]
pub struct InputView<'a> {
    /// Id.
    pub input_id: &'a str,
    /// Verbatim text.
    pub content: &'a str,
    /// text, image, url or upload.
    pub source_type: SourceType,
    /// Tags.
    pub tags: &'a [String],
    /// When it was added.
    pub added_at: &'a str,
    /// Who added it.
    pub added_by: &'a str,
    /// Client metadata.
    pub metadata: &'a serde_json::Map<String, Value>,
    /// Image, if any.
    pub image_url: Option<&'a str>,
}

impl<'a> From<&'a Input> for InputView<'a> {
    fn from(i: &'a Input) -> Self {
        InputView {
            input_id: &i.input_id,
            content: &i.content,
            source_type: i.source_type,
            tags: &i.tags,
            added_at: &i.added_at,
            added_by: &i.added_by,
            metadata: &i.metadata,
            image_url: i.image_url.as_deref(),
        }
    }
}

/// One agent's state as the API shows it.
#[derive(Debug, Serialize)]
pub struct AgentView<'a> {
    /// running, completed or failed.
    pub status: AgentStatus,
    /// Confidence of the result (0 while nothing is known).
    pub confidence: f64,
    /// Execution time of the run that produced the result.
    pub execution_time_ms: f64,
    /// The prototype's short summary (SPEC §1.5).
    pub result_summary: Value,
    /// The full result, if any.
    pub result: Option<&'a AgentOutput>,
    /// The error of the last run, if it failed.
    pub error: Option<&'a AgentError>,
    /// Current or last run.
    pub execution_id: &'a str,
    /// When the current or last run started.
    pub started_at: &'a str,
    /// When the last run ended.
    pub completed_at: Option<&'a str>,
    /// Completed runs so far.
    pub runs: u32,
    /// In a fork: the original's event whose result this is (not run here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<&'a str>,
}

impl<'a> From<&'a AgentState> for AgentView<'a> {
    fn from(a: &'a AgentState) -> Self {
        let result = a.result.as_deref();
        AgentView {
            status: a.status,
            confidence: a.confidence,
            execution_time_ms: a.execution_time_ms,
            result_summary: summary(a.agent_name, result),
            result,
            error: a.error.as_ref(),
            execution_id: &a.execution_id,
            started_at: &a.started_at,
            completed_at: a.completed_at.as_deref(),
            runs: a.runs,
            reused_from: a.reused_from.as_deref(),
        }
    }
}

/// The prototype's result summary of one agent (SPEC §1.5): theme
/// `{theme, confidence, colors (first 3)}`, venue `{venue_count, top_venue}`,
/// cake `{bakery_count, estimated_cost}`, any other `{has_result}`.
pub fn summary(agent: AgentName, result: Option<&AgentOutput>) -> Value {
    match (agent, result) {
        (_, Some(AgentOutput::Theme(t))) => json!({
            "theme": t.primary_theme,
            "confidence": t.confidence,
            "colors": t.colors.iter().take(3).collect::<Vec<_>>(),
        }),
        (AgentName::Theme, _) => json!({"theme": null, "confidence": null, "colors": []}),
        (_, Some(AgentOutput::Venue(v))) => json!({
            "venue_count": v.recommended_venues.len(),
            "top_venue": v.recommended_venues.first().map(|s| s.record.name.as_str()),
        }),
        (AgentName::Venue, _) => json!({"venue_count": 0, "top_venue": null}),
        (_, Some(AgentOutput::Cake(c))) => json!({
            "bakery_count": c.recommended_bakeries.len(),
            "estimated_cost": c.estimated_cost,
        }),
        (AgentName::Cake, _) => json!({"bakery_count": 0, "estimated_cost": null}),
        (_, r) => json!({"has_result": r.is_some()}),
    }
}

/// A party's full state (`GET .../status`).
#[derive(Debug, Serialize)]
pub struct PartyView<'a> {
    /// Id.
    pub party_id: &'a str,
    /// planning or ready.
    pub status: &'static str,
    /// Creation time.
    pub created_at: &'a str,
    /// Time of the latest event.
    pub updated_at: &'a str,
    /// Events applied to this party.
    pub version: u64,
    /// `seq` of the party's latest event.
    pub last_seq: u64,
    /// The creating user, if named.
    pub created_by: Option<&'a str>,
    /// For a fork: the party and `seq` it was forked from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<&'a ForkedFrom>,
    /// Inputs in the order added.
    pub inputs: Vec<InputView<'a>>,
    /// Agents by name, in dependency order.
    pub agents: BTreeMap<AgentName, AgentView<'a>>,
    /// Latest budget.
    pub budget: Option<&'a Budget>,
    /// Latest plan.
    pub final_plan: Option<&'a FinalPlan>,
}

impl<'a> From<&'a Party> for PartyView<'a> {
    fn from(p: &'a Party) -> Self {
        PartyView {
            party_id: &p.party_id,
            status: p.status.as_str(),
            created_at: &p.created_at,
            updated_at: &p.updated_at,
            version: p.version,
            last_seq: p.last_seq,
            created_by: p.created_by.as_deref(),
            forked_from: p.forked_from.as_ref(),
            inputs: p.inputs.iter().map(InputView::from).collect(),
            agents: p
                .agents
                .iter()
                .map(|(k, v)| (*k, AgentView::from(v)))
                .collect(),
            budget: p.budget.as_deref(),
            final_plan: p.final_plan.as_deref(),
        }
    }
}

/// The plan alone (`GET .../plan`).
#[derive(Debug, Serialize)]
pub struct PlanView<'a> {
    /// Always true.
    pub success: bool,
    /// Id.
    pub party_id: &'a str,
    /// planning or ready.
    pub status: &'static str,
    /// Events applied to this party.
    pub version: u64,
    /// `seq` of the party's latest event.
    pub last_seq: u64,
    /// Latest plan, or null before the first one.
    pub final_plan: Option<&'a FinalPlan>,
    /// Latest budget, or null before the first one.
    pub budget: Option<&'a Budget>,
}

impl<'a> From<&'a Party> for PlanView<'a> {
    fn from(p: &'a Party) -> Self {
        PlanView {
            success: true,
            party_id: &p.party_id,
            status: p.status.as_str(),
            version: p.version,
            last_seq: p.last_seq,
            final_plan: p.final_plan.as_deref(),
            budget: p.budget.as_deref(),
        }
    }
}
