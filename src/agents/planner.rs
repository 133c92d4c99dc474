//! `final_planner`: aggregates every result into the final plan.
//! Pure.

use crate::domain::FinalPlan;

use super::AgentInput;

/// Computes the plan.
pub fn run(_input: &AgentInput<'_>) -> FinalPlan {
    todo!("agents helper")
}
