//! Domain vocabulary shared by events, the store and the agents: agent names,
//! money ranges, and the typed result of every agent.
//!
//! Owns plain data only. Must not do I/O, read the clock or hold logic beyond
//! small accessors; every type here is serialisable and round-trips through JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::{Bakery, Caterer, Vendor, Venue};

/// Every agent partybus runs, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AgentName {
    /// Classifies inputs and schedules the others (always running).
    #[serde(rename = "input_analyzer")]
    InputAnalyzer,
    /// Detects the party theme.
    #[serde(rename = "theme_agent")]
    Theme,
    /// Searches venues.
    #[serde(rename = "venue_agent")]
    Venue,
    /// Searches bakeries.
    #[serde(rename = "cake_agent")]
    Cake,
    /// Searches caterers.
    #[serde(rename = "catering_agent")]
    Catering,
    /// Searches decoration, entertainment, photography and rental vendors.
    #[serde(rename = "vendor_agent")]
    Vendor,
    /// Adds up the cost agents' results against the stated budget.
    #[serde(rename = "budget_agent")]
    Budget,
    /// Aggregates everything into the final plan.
    #[serde(rename = "final_planner")]
    FinalPlanner,
}

impl AgentName {
    /// All agents, in dependency order.
    pub const ALL: [AgentName; 8] = [
        AgentName::InputAnalyzer,
        AgentName::Theme,
        AgentName::Venue,
        AgentName::Cake,
        AgentName::Catering,
        AgentName::Vendor,
        AgentName::Budget,
        AgentName::FinalPlanner,
    ];

    /// The agents whose results carry a cost, in breakdown order.
    pub const COST_AGENTS: [AgentName; 4] = [
        AgentName::Venue,
        AgentName::Cake,
        AgentName::Catering,
        AgentName::Vendor,
    ];

    /// The domain agents that produce a `party.agent.completed` result.
    pub const DOMAIN: [AgentName; 5] = [
        AgentName::Theme,
        AgentName::Venue,
        AgentName::Cake,
        AgentName::Catering,
        AgentName::Vendor,
    ];

    /// The wire name, e.g. `theme_agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentName::InputAnalyzer => "input_analyzer",
            AgentName::Theme => "theme_agent",
            AgentName::Venue => "venue_agent",
            AgentName::Cake => "cake_agent",
            AgentName::Catering => "catering_agent",
            AgentName::Vendor => "vendor_agent",
            AgentName::Budget => "budget_agent",
            AgentName::FinalPlanner => "final_planner",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<AgentName> {
        AgentName::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The short name used for thread names, e.g. `theme`.
    pub fn short(self) -> &'static str {
        match self {
            AgentName::InputAnalyzer => "input_analyzer",
            AgentName::Theme => "theme",
            AgentName::Venue => "venue",
            AgentName::Cake => "cake",
            AgentName::Catering => "catering",
            AgentName::Vendor => "vendor",
            AgentName::Budget => "budget",
            AgentName::FinalPlanner => "final_planner",
        }
    }

    /// The prototype's priority for this agent (1 = highest).
    pub fn priority(self) -> u8 {
        match self {
            AgentName::InputAnalyzer | AgentName::Theme => 1,
            AgentName::Venue | AgentName::Cake => 2,
            AgentName::Catering | AgentName::Vendor => 3,
            AgentName::Budget => 4,
            AgentName::FinalPlanner => 5,
        }
    }

    /// The scheduling stage: an agent runs only after every agent of a lower
    /// stage in the same wave has finished.
    pub fn stage(self) -> u8 {
        match self {
            AgentName::InputAnalyzer => 0,
            AgentName::Theme => 1,
            AgentName::Venue | AgentName::Cake | AgentName::Catering | AgentName::Vendor => 2,
            AgentName::Budget => 3,
            AgentName::FinalPlanner => 4,
        }
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A range of whole dollars. Invariant: `min <= max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// Lower bound, dollars.
    pub min: u64,
    /// Upper bound, dollars.
    pub max: u64,
    /// Optional remark (e.g. "Free (permit may be required)").
    #[serde(default)]
    pub note: Option<String>,
}

impl Range {
    /// A range with `min <= max` guaranteed (bounds are swapped if needed).
    pub fn new(a: u64, b: u64) -> Range {
        Range {
            min: a.min(b),
            max: a.max(b),
            note: None,
        }
    }

    /// A single amount.
    pub fn exact(v: u64) -> Range {
        Range::new(v, v)
    }

    /// Attaches a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Range {
        self.note = Some(note.into());
        self
    }
}

/// Signed change between two ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Change of the lower bound.
    pub min: i64,
    /// Change of the upper bound.
    pub max: i64,
}

/// A catalog record with the score and reasons that ranked it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored<T> {
    /// The catalog record (shared with the catalog, never copied; decoded
    /// copies are shared through [`crate::catalog::intern`]).
    #[serde(flatten)]
    pub record: Arc<T>,
    /// Ranking score in 0..=1, higher is better. Deterministic.
    pub match_score: f64,
    /// Human-readable reasons for the rank ("seats 100 for 75 guests").
    pub match_reasons: Vec<String>,
}

impl<'de, T> Deserialize<'de> for Scored<T>
where
    T: crate::catalog::intern::Record + Deserialize<'de>,
{
    /// The same JSON as the derived decoder reads; the record is interned,
    /// so a journal or snapshot read back shares records as planning did.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire<T> {
            #[serde(flatten)]
            record: T,
            match_score: f64,
            match_reasons: Vec<String>,
        }
        let w = Wire::<T>::deserialize(d)?;
        Ok(Scored {
            record: crate::catalog::intern::intern(w.record),
            match_score: w.match_score,
            match_reasons: w.match_reasons,
        })
    }
}

/// Result of `theme_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThemeResult {
    /// Winning theme, or `general` when nothing matched.
    pub primary_theme: String,
    /// Score of every theme that scored.
    pub theme_scores: BTreeMap<String, u32>,
    /// `min(max_score / 10, 1.0)`; 0.5 for the `general` fallback.
    pub confidence: f64,
    /// Theme colours.
    pub colors: Vec<String>,
    /// Decoration ideas.
    pub decorations: Vec<String>,
    /// Activity ideas.
    pub activities: Vec<String>,
}

/// The criteria a venue search ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueCriteria {
    /// Guest count used for the capacity filter.
    pub guest_count: u32,
    /// Whether the guest count came from the inputs (false = default).
    pub guest_count_stated: bool,
    /// The user's stated total budget, if any (price filter).
    pub budget: Option<u64>,
    /// Upstream theme, if known.
    pub theme: Option<String>,
    /// Setting preference (outdoor, indoor, park, hall, home, downtown).
    pub location: Option<String>,
    /// Catalog city the user named.
    pub city: Option<String>,
}

/// Result of `venue_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueResult {
    /// Top venues, best first (at most 3).
    pub recommended_venues: Vec<Scored<Venue>>,
    /// How many venues met the hard constraints.
    pub total_matches: usize,
    /// The search criteria.
    pub search_criteria: VenueCriteria,
    /// Always `catalog`.
    pub data_source: String,
    /// Explanation when constraints had to be relaxed or nothing matched.
    #[serde(default)]
    pub note: Option<String>,
}

/// Result of `cake_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CakeResult {
    /// Top bakeries, best first (at most 3).
    pub recommended_bakeries: Vec<Scored<Bakery>>,
    /// How many bakeries met the hard constraints.
    pub total_matches: usize,
    /// `themed` or `traditional`.
    pub cake_style: String,
    /// Theme used, or `general`.
    pub theme: String,
    /// Cake decoration ideas.
    pub decorations: Vec<String>,
    /// Estimated price of the recommended size. `min <= max`.
    pub estimated_cost: Range,
    /// `small`, `medium` or `large`.
    pub size_recommendation: String,
    /// Flavours mentioned by the user.
    pub flavors: Vec<String>,
    /// Dietary needs the bakery must meet.
    pub dietary_needs: Vec<String>,
    /// Stated cake budget, if any.
    pub cake_budget: Option<u64>,
    /// Always `catalog`.
    pub data_source: String,
    /// Explanation when constraints had to be relaxed or nothing matched.
    #[serde(default)]
    pub note: Option<String>,
}

/// Result of `catering_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CateringResult {
    /// Top caterers, best first (at most 3).
    pub recommended_caterers: Vec<Scored<Caterer>>,
    /// How many caterers met the hard constraints.
    pub total_matches: usize,
    /// Guests to feed.
    pub guest_count: u32,
    /// Dietary needs every recommended caterer meets.
    pub dietary_needs: Vec<String>,
    /// Cuisine preferences mentioned.
    pub cuisine_preferences: Vec<String>,
    /// Estimated total: cheapest to dearest recommended caterer × guests.
    pub estimated_total_cost: Range,
    /// Always `catalog`.
    pub data_source: String,
    /// Explanation when constraints had to be relaxed or nothing matched.
    #[serde(default)]
    pub note: Option<String>,
}

/// Result of `vendor_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorResult {
    /// Best vendors per category (decorations, entertainment, photography, rentals).
    pub vendors_by_category: BTreeMap<String, Vec<Scored<Vendor>>>,
    /// Categories the user asked for (all four when unspecified).
    pub categories_requested: Vec<String>,
    /// Sum over categories of the top vendor's price, ±20 %.
    pub estimated_cost: Range,
    /// Always `catalog`.
    pub data_source: String,
    /// Explanation when constraints had to be relaxed or nothing matched.
    #[serde(default)]
    pub note: Option<String>,
}

/// The result of one domain agent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AgentOutput {
    /// `theme_agent`.
    Theme(ThemeResult),
    /// `venue_agent`.
    Venue(VenueResult),
    /// `cake_agent`.
    Cake(CakeResult),
    /// `catering_agent`.
    Catering(CateringResult),
    /// `vendor_agent`.
    Vendor(VendorResult),
}

/// A cheaper alternative the budget agent suggests when over budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swap {
    /// Breakdown category (venue, cake, catering, decorations, ...).
    pub category: String,
    /// What the plan has now.
    pub current: String,
    /// The cheaper alternative that still meets the constraints.
    pub alternative: String,
    /// Dollars saved at the upper bound.
    pub saves: u64,
}

/// The budget, as computed by `budget_agent` and carried by `party.budget.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Sum of the breakdown.
    pub total_budget: Range,
    /// The previous total, if a budget existed before.
    pub previous_total: Option<Range>,
    /// `total_budget - previous_total`, if a budget existed before.
    pub delta: Option<Delta>,
    /// Cost per category.
    pub breakdown: BTreeMap<String, Range>,
    /// Agents whose results fed the numbers, or `default_estimates`.
    pub based_on_agents: Vec<String>,
    /// Advice by total size and budget fit.
    pub recommendations: Vec<String>,
    /// Constant cost-saving tips.
    pub cost_saving_tips: Vec<String>,
    /// `actual_agent_results` or `default_estimates`.
    pub data_source: String,
    /// The user's stated total budget, if any.
    pub stated_budget: Option<u64>,
    /// True when the total's lower bound exceeds the stated budget.
    pub over_budget: bool,
    /// Cheaper alternatives, when over budget.
    pub swaps: Vec<Swap>,
}

/// Recommendation priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Nice to know.
    Low,
    /// Should act.
    Medium,
    /// Act soon.
    High,
    /// Blocks the party.
    Critical,
}

/// One recommendation of the final plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Theme, Venue, Cake, Catering, Vendors, Budget or General.
    pub category: String,
    /// How urgent.
    pub priority: Priority,
    /// The advice.
    pub description: String,
}

/// One concrete task of the plan's checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// Stable id within the plan, e.g. `book_venue`.
    pub id: String,
    /// Planning area.
    pub category: String,
    /// What to do, naming the chosen supplier where there is one.
    pub task: String,
    /// Whether the task is done.
    pub done: bool,
}

/// Counts over the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistSummary {
    /// All tasks.
    pub total_tasks: u32,
    /// Done tasks.
    pub completed_tasks: u32,
    /// Not yet done.
    pub pending_tasks: u32,
}

/// One planning area and whether it is planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    /// theme, venue, cake, catering, vendors, budget, guests.
    pub area: String,
    /// Weight in `completion_percent`; weights sum to 100.
    pub weight: u8,
    /// Whether the area is planned.
    pub done: bool,
}

/// The final plan, as computed by `final_planner` and carried by `party.plan.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalPlan {
    /// Sum of the weights of the planned areas, 0..=100.
    pub completion_percent: u8,
    /// Every area with its weight and state.
    pub areas: Vec<Area>,
    /// Recommendations, in area order.
    pub recommendations: Vec<Recommendation>,
    /// At most five next steps, each naming exactly what is missing.
    pub next_steps: Vec<String>,
    /// Completed agents.
    pub active_agents: Vec<String>,
    /// Domain agents without a result.
    pub missing_agents: Vec<String>,
    /// Concrete tasks.
    pub checklist: Vec<ChecklistItem>,
    /// Counts over `checklist`.
    pub checklist_summary: ChecklistSummary,
    /// True when every required area (theme, venue) is planned.
    pub ready: bool,
}
