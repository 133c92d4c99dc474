//! Test helpers for the pure agents: hand-built parties, inputs, facts and
//! agent states, so agent tests depend neither on the analyzer nor on the bus.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::deferred::Deferred;
use crate::domain::{AgentName, AgentOutput, Budget};
use crate::event::SourceType;
use crate::store::{AgentState, AgentStatus, Input, Party, PartyStatus};

use super::{AgentInput, Facts};

/// One text input with tags.
pub(crate) fn input(id: &str, content: &str, tags: &[&str]) -> Input {
    Input {
        input_id: id.to_string(),
        content: content.to_string(),
        source_type: SourceType::Text,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        added_by: "tester".to_string(),
        added_at: "2025-01-01T00:00:00Z".to_string(),
        metadata: serde_json::Map::new(),
        image_url: None,
    }
}

/// A party with these inputs (content, tags) and no results.
pub(crate) fn party(inputs: &[(&str, &[&str])]) -> Party {
    Party {
        party_id: "fp2025TEST0001".to_string(),
        status: PartyStatus::Planning,
        inputs: inputs
            .iter()
            .enumerate()
            .map(|(i, (c, t))| input(&format!("inp_{i}"), c, t))
            .collect(),
        agents: BTreeMap::new(),
        budget: Deferred::absent(),
        final_plan: Deferred::absent(),
        created_by: None,
        token_sha256: None,
        forked_from: None,
        created_at: "2025-01-01T00:00:00Z".to_string(),
        updated_at: "2025-01-01T00:00:00Z".to_string(),
        version: 1,
        last_seq: 1,
    }
}

/// Stores a completed result for `agent`.
pub(crate) fn set_result(party: &mut Party, agent: AgentName, result: AgentOutput) {
    party.agents.insert(
        agent,
        AgentState {
            agent_name: agent,
            status: AgentStatus::Completed,
            result: Deferred::ready(Arc::new(result)),
            confidence: 0.85,
            execution_time_ms: 1.0,
            execution_id: format!("exec_{}", agent.short()),
            started_at: "2025-01-01T00:00:00Z".to_string(),
            completed_at: Some("2025-01-01T00:00:01Z".to_string()),
            error: None,
            runs: 1,
            reused_from: None,
        },
    );
}

/// Stores a budget.
pub(crate) fn set_budget(party: &mut Party, budget: Budget) {
    party.budget = Deferred::ready(Arc::new(budget));
}

/// The embedded catalog, parsed once per test binary.
pub(crate) fn catalog() -> Arc<Catalog> {
    static CATALOG: std::sync::OnceLock<Arc<Catalog>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(Catalog::embedded).clone()
}

/// Facts with a guest count and a stated budget.
pub(crate) fn facts(guests: Option<u32>, budget: Option<u64>) -> Facts {
    Facts {
        guest_count: guests,
        budget,
        ..Facts::default()
    }
}

/// Builds the agent input.
pub(crate) fn agent_input<'a>(
    party: &'a Party,
    facts: &'a Facts,
    catalog: &'a Catalog,
) -> AgentInput<'a> {
    AgentInput {
        party,
        facts,
        catalog,
    }
}
