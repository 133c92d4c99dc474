//! `vendor_agent`: decorations, entertainment, photography and rentals that suit the theme and the budget.
//! Pure.

use crate::domain::VendorResult;

use super::AgentInput;

/// Confidence reported for this agent's results.
pub const CONFIDENCE: f64 = 0.85;

/// Runs the agent.
pub fn run(_input: &AgentInput<'_>) -> VendorResult {
    todo!("agents helper")
}
