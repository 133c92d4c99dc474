//! The agents: each domain agent is a pure function from a party snapshot
//! (plus the facts parsed from its inputs and the catalog) to a typed result.
//! `scheduler` decides which agents run and in what order (pure state machine);
//! `runtime` gives each agent its own named OS thread, deadlines and panic
//! capture, and publishes started/completed/failed.
//!
//! Pure parts must not touch sockets, files, the clock or randomness; only
//! `runtime` talks to the bus and the store.

pub(crate) mod allocation;
pub mod analyzer;
pub(crate) mod budget;
pub(crate) mod cake;
pub(crate) mod catering;
pub(crate) mod memo;
pub(crate) mod planner;
mod relax;
pub mod runtime;
pub(crate) mod scheduler;
#[cfg(test)]
mod testutil;
pub(crate) mod theme;
pub(crate) mod vendor;
pub(crate) mod venue;

use crate::catalog::Catalog;
use crate::domain::{AgentName, AgentOutput, Budget, FinalPlan};
use crate::store::Party;

pub use analyzer::Facts;

/// Everything a pure agent may read.
#[derive(Debug, Clone, Copy)]
pub struct AgentInput<'a> {
    /// Snapshot of the party, upstream results included.
    pub party: &'a Party,
    /// Facts parsed from all of the party's inputs.
    pub facts: &'a Facts,
    /// Supplier catalog.
    pub catalog: &'a Catalog,
}

/// What one agent run produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Product {
    /// A domain agent's result and its confidence (→ `party.agent.completed`).
    Output(AgentOutput, f64),
    /// The budget (→ `party.budget.updated`).
    Budget(Budget),
    /// The plan (→ `party.plan.updated`).
    Plan(FinalPlan),
}

/// Runs one agent's pure function. `InputAnalyzer` is not runnable here
/// (it is the scheduler) and yields `None`.
pub fn run(agent: AgentName, input: &AgentInput<'_>) -> Option<Product> {
    Some(match agent {
        AgentName::InputAnalyzer => return None,
        AgentName::Theme => {
            let r = theme::run(input);
            let c = r.confidence;
            Product::Output(AgentOutput::Theme(r), c)
        }
        AgentName::Venue => {
            Product::Output(AgentOutput::Venue(venue::run(input)), venue::CONFIDENCE)
        }
        AgentName::Cake => Product::Output(AgentOutput::Cake(cake::run(input)), cake::CONFIDENCE),
        AgentName::Catering => Product::Output(
            AgentOutput::Catering(catering::run(input)),
            catering::CONFIDENCE,
        ),
        AgentName::Vendor => {
            Product::Output(AgentOutput::Vendor(vendor::run(input)), vendor::CONFIDENCE)
        }
        AgentName::Budget => Product::Budget(budget::run(input)),
        AgentName::FinalPlanner => Product::Plan(planner::run(input)),
    })
}

/// The primary theme of the party's completed theme result, if any.
pub fn upstream_theme(party: &Party) -> Option<&str> {
    match party.result(AgentName::Theme) {
        Some(AgentOutput::Theme(t)) => Some(t.primary_theme.as_str()),
        _ => None,
    }
}
