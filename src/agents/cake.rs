//! `cake_agent`: searches bakeries for the cake.
//! Pure.

use crate::domain::CakeResult;

use super::AgentInput;

/// Confidence reported for this agent's results.
pub const CONFIDENCE: f64 = 0.85;

/// Runs the agent.
pub fn run(_input: &AgentInput<'_>) -> CakeResult {
    todo!("agents helper")
}
