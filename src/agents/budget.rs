//! `budget_agent`: adds up the cost agents' results (SPEC §6.5 arithmetic),
//! holds the total against the user's stated budget, and suggests cheaper swaps.
//! Pure.

use crate::domain::Budget;

use super::AgentInput;

/// Computes the budget.
pub fn run(_input: &AgentInput<'_>) -> Budget {
    todo!("agents helper")
}
