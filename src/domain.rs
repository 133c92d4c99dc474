//! Domain vocabulary shared by events, the store and the agents: agent names,
//! money ranges, and the typed result of every agent.
//!
//! Owns plain data only. Must not do I/O, read the clock or hold logic beyond
//! small accessors; every type here is serialisable and round-trips through JSON.

use std::collections::BTreeMap;

use litemap::LiteMap;
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

    /// The agents that plan an area of a party, which inputs ask for and the
    /// scheduler runs (all but the analyzer and the final planner).
    pub const AREAS: [AgentName; 6] = [
        AgentName::Theme,
        AgentName::Venue,
        AgentName::Cake,
        AgentName::Catering,
        AgentName::Vendor,
        AgentName::Budget,
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
///
/// JSON: the record's fields, then `match_score` and `match_reasons`. Inside
/// a compaction snapshot or a journaled event the record is cited instead,
/// as `record_ref` (see [`crate::catalog::intern`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<T> {
    /// The catalog record (shared with the catalog, never copied; decoded
    /// copies are shared through [`crate::catalog::intern`]).
    pub record: Arc<T>,
    /// Ranking score in 0..=1, higher is better. Deterministic.
    pub match_score: f64,
    /// Human-readable reasons for the rank ("seats 100 for 75 guests").
    pub match_reasons: Vec<String>,
}

impl<T> Serialize for Scored<T>
where
    T: crate::catalog::intern::Record + Serialize,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Inline<'a, T> {
            #[serde(flatten)]
            record: &'a T,
            match_score: f64,
            match_reasons: &'a [String],
        }
        #[derive(Serialize)]
        struct Cited<'a> {
            record_ref: u64,
            match_score: f64,
            match_reasons: &'a [String],
        }
        match crate::catalog::intern::cite(&self.record) {
            Some(record_ref) => Cited {
                record_ref,
                match_score: self.match_score,
                match_reasons: &self.match_reasons,
            }
            .serialize(s),
            None => Inline {
                record: &*self.record,
                match_score: self.match_score,
                match_reasons: &self.match_reasons,
            }
            .serialize(s),
        }
    }
}

impl<'de, T> Deserialize<'de> for Scored<T>
where
    T: crate::catalog::intern::Record + Deserialize<'de>,
{
    /// The same JSON as a derived, flattened decoder reads, in one pass: the
    /// record's own decoder reads the object while `match_score` and
    /// `match_reasons` are taken out of its way (a flattened field would
    /// buffer the whole object first). The record is interned, so a journal
    /// or snapshot read back shares records as planning did.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(scored_de::ScoredVisitor(std::marker::PhantomData))
    }
}

/// The streaming decoder of [`Scored`].
mod scored_de {
    use std::borrow::Cow;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
    use serde::Deserialize;

    use super::Scored;
    use crate::catalog::intern::{self, Record};

    pub(super) struct ScoredVisitor<T>(pub PhantomData<T>);

    impl<'de, T: Record + Deserialize<'de>> Visitor<'de> for ScoredVisitor<T> {
        type Value = Scored<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a catalog record with match_score and match_reasons")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scored<T>, A::Error> {
            let first = map.next_key::<Key<'de>>()?;
            let mut rest = Rest {
                map,
                pending: None,
                match_score: None,
                match_reasons: None,
            };
            let record = match first {
                Some(Key(k)) if k == "record_ref" => {
                    // Cited in a snapshot or the journal: the record is in
                    // its table.
                    let n: u64 = rest.map.next_value()?;
                    let record = intern::resolve::<T>(n).map_err(de::Error::custom)?;
                    while let Some(Key(k)) = rest.map.next_key::<Key<'de>>()? {
                        match &*k {
                            "match_score" => rest.match_score = Some(rest.map.next_value()?),
                            "match_reasons" => rest.match_reasons = Some(rest.map.next_value()?),
                            _ => {
                                rest.map.next_value::<de::IgnoredAny>()?;
                            }
                        }
                    }
                    record
                }
                first => {
                    rest.pending = first;
                    intern::intern(T::deserialize(&mut rest)?)
                }
            };
            Ok(Scored {
                record,
                match_score: rest
                    .match_score
                    .ok_or_else(|| de::Error::missing_field("match_score"))?,
                match_reasons: rest
                    .match_reasons
                    .ok_or_else(|| de::Error::missing_field("match_reasons"))?,
            })
        }
    }

    /// The object as the record's decoder sees it: every key but ours.
    struct Rest<'de, A> {
        map: A,
        /// A key read before the record's decoder started.
        pending: Option<Key<'de>>,
        match_score: Option<f64>,
        match_reasons: Option<Vec<String>>,
    }

    impl<'de, A: MapAccess<'de>> de::Deserializer<'de> for &mut Rest<'de, A> {
        type Error = A::Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
            visitor.visit_map(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for &mut Rest<'de, A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, A::Error> {
            loop {
                let key = match self.pending.take() {
                    Some(Key(key)) => key,
                    None => match self.map.next_key::<Key<'de>>()? {
                        Some(Key(key)) => key,
                        None => return Ok(None),
                    },
                };
                match &*key {
                    "match_score" => self.match_score = Some(self.map.next_value()?),
                    "match_reasons" => self.match_reasons = Some(self.map.next_value()?),
                    other => return seed.deserialize(other.into_deserializer()).map(Some),
                }
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, A::Error> {
            self.map.next_value_seed(seed)
        }
    }

    /// A key, borrowed from the input when it can be.
    struct Key<'de>(Cow<'de, str>);

    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl<'de> Visitor<'de> for KeyVisitor {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a field name")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v.to_string())))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v)))
                }
            }
            d.deserialize_str(KeyVisitor)
        }
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
    /// The user's stated total budget, if any. The venue's price filter is
    /// its part of it, `VenueResult::budget_cap`.
    pub budget: Option<u64>,
    /// Upstream theme, if known.
    pub theme: Option<String>,
    /// Setting preference (outdoor, indoor, park, hall, home, downtown).
    pub location: Option<String>,
    /// Catalog city the user named.
    pub city: Option<String>,
    /// True when the setting is a need (a hard filter), false when it is a
    /// preference (matching venues ranked first) or absent.
    #[serde(default)]
    pub setting_required: bool,
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
    /// When no venue meets every hard constraint: the nearest options, with
    /// the constraints named in `relaxed` lifted. Never a recommendation.
    #[serde(default)]
    pub nearest: Vec<Scored<Venue>>,
    /// What `nearest` relaxed (e.g. `setting`, `budget and city`).
    #[serde(default)]
    pub relaxed: Option<String>,
    /// The price cap the venue search applied: the venue's part of the
    /// shared budget (see `agents::allocation`) or the stated venue budget.
    #[serde(default)]
    pub budget_cap: Option<u64>,
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
    /// When no bakery meets every hard constraint: the nearest options, with
    /// the constraints named in `relaxed` lifted. Never a recommendation.
    #[serde(default)]
    pub nearest: Vec<Scored<Bakery>>,
    /// What `nearest` relaxed (e.g. `dietary needs`, `city`).
    #[serde(default)]
    pub relaxed: Option<String>,
    /// The price cap for the cake: its part of the shared budget or the
    /// stated cake budget.
    #[serde(default)]
    pub budget_cap: Option<u64>,
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
    /// When no caterer meets every hard constraint: the nearest options,
    /// with the constraints named in `relaxed` lifted. Never a recommendation.
    #[serde(default)]
    pub nearest: Vec<Scored<Caterer>>,
    /// What `nearest` relaxed (e.g. `budget`, `city`).
    #[serde(default)]
    pub relaxed: Option<String>,
    /// The cap on `price_per_person × guests`: catering's part of the shared
    /// budget or the stated catering budget.
    #[serde(default)]
    pub budget_cap: Option<u64>,
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
    /// Per category with no vendor meeting every hard constraint: the
    /// nearest options, with the constraints named in `relaxed` lifted.
    #[serde(default)]
    pub nearest_by_category: BTreeMap<String, Vec<Scored<Vendor>>>,
    /// What `nearest_by_category` relaxed, per category.
    #[serde(default)]
    pub relaxed: BTreeMap<String, String>,
    /// The price cap per category: its part of the vendors' share.
    #[serde(default)]
    pub budget_caps: BTreeMap<String, u64>,
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
    #[serde(serialize_with = "as_map")]
    pub breakdown: LiteMap<String, Range>,
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
    /// With a stated budget: how it is shared across the cost areas and
    /// whether any combination in the catalog fits it.
    #[serde(default)]
    pub fit: Option<BudgetFit>,
}

/// How the stated budget is shared across the active cost areas (see
/// `agents::allocation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetFit {
    /// The stated total budget.
    pub budget: u64,
    /// Σ over the active areas of the cheapest option meeting their needs.
    pub cheapest_total: u64,
    /// `cheapest_total <= budget`: some combination fits.
    pub fits: bool,
    /// `cheapest_total − budget` when nothing fits, else 0.
    pub overrun: u64,
    /// When nothing fits: the area whose cheapest option exceeds its share
    /// the most (venue, cake, catering, vendors).
    pub cut_area: Option<String>,
    /// Every active cost area.
    pub areas: Vec<AreaShare>,
}

/// One cost area's share of the stated budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaShare {
    /// venue, cake, catering or vendors.
    pub area: String,
    /// Weight in sharing the budget, percent.
    pub weight_percent: u64,
    /// The cheapest option meeting the area's needs, if any.
    pub min: Option<u64>,
    /// `budget × weight / Σ weights`.
    pub share: u64,
    /// The price cap the area's agent applied.
    pub cap: Option<u64>,
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
    /// What the plan understood from the inputs, each fact with where it came
    /// from: `guests`, `budget`, `theme`, `city`, `setting`, `dietary`, `date`,
    /// ... (absent when not stated).
    #[serde(default, serialize_with = "as_map")]
    pub facts: LiteMap<String, PlanFact>,
}

/// One statement of a fact: its value, the input that stated it and the
/// exact words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactStatement {
    /// The value as the planner uses it (a number, a string, a list or a bool).
    pub value: serde_json::Value,
    /// The input that stated it.
    pub input_id: String,
    /// The words of that input the value was read from.
    pub text: String,
}

/// A fact of the plan with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFact {
    /// The value as the planner uses it (a number, a string, a list or a bool).
    pub value: serde_json::Value,
    /// The input that stated it (for a list: the first item's input).
    pub input_id: String,
    /// The words of that input the value was read from.
    pub text: String,
    /// For a single-valued fact stated again: the earlier statement it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<FactStatement>,
    /// For a list: items added by other inputs, each statement with its items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_from: Vec<FactStatement>,
}

/// Writes a [`LiteMap`] as a JSON object, empty or not. (litemap's own
/// `Serialize` writes an empty map as `[]`: it cannot tell from no first
/// key that keys are strings.)
fn as_map<V: Serialize, S: serde::Serializer>(
    map: &LiteMap<String, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(map.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn flat_maps_are_json_objects_even_when_empty() {
        #[derive(Serialize)]
        struct FlatMaps {
            #[serde(serialize_with = "as_map")]
            facts: LiteMap<String, PlanFact>,
        }
        let mut maps = FlatMaps {
            facts: LiteMap::new(),
        };
        assert_eq!(serde_json::to_string(&maps).unwrap(), r#"{"facts":{}}"#);
        maps.facts.insert(
            "guests".into(),
            PlanFact {
                value: serde_json::json!(20),
                input_id: "inp_1".into(),
                text: "20 kids".into(),
                replaced: None,
                also_from: Vec::new(),
            },
        );
        assert_eq!(
            serde_json::to_string(&maps).unwrap(),
            r#"{"facts":{"guests":{"value":20,"input_id":"inp_1","text":"20 kids"}}}"#
        );
    }

    #[test]
    fn scored_records_decode_in_one_pass_whatever_the_key_order() {
        let catalog = Catalog::embedded();
        let scored = Scored {
            record: catalog.venues[0].clone(),
            match_score: 0.661,
            match_reasons: vec!["seats 50 for 50 guests".into()],
        };
        let json = serde_json::to_string(&scored).unwrap();
        let back: Scored<Venue> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, scored);
        // Our keys first, an escaped key, and through a `Value`.
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&json).unwrap();
        let mut reordered = serde_json::Map::new();
        for k in ["match_reasons", "match_score"] {
            reordered.insert(k.into(), v.remove(k).unwrap());
        }
        reordered.extend(v);
        let text = serde_json::to_string(&reordered)
            .unwrap()
            .replace("\"name\"", "\"n\\u0061me\"");
        let back: Scored<Venue> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, scored);
        let value = serde_json::Value::Object(reordered);
        assert_eq!(
            serde_json::from_value::<Scored<Venue>>(value).unwrap(),
            scored
        );
        // Equal records decoded twice share one allocation.
        let again: Scored<Venue> = serde_json::from_str(&json).unwrap();
        assert!(Arc::ptr_eq(&back.record, &again.record));
    }

    #[test]
    fn a_scored_record_without_its_score_or_fields_is_an_error() {
        let catalog = Catalog::embedded();
        let mut v = serde_json::to_value(Scored {
            record: catalog.venues[0].clone(),
            match_score: 0.5,
            match_reasons: vec![],
        })
        .unwrap();
        let mut missing_score = v.clone();
        missing_score.as_object_mut().unwrap().remove("match_score");
        let e = serde_json::from_value::<Scored<Venue>>(missing_score).unwrap_err();
        assert!(e.to_string().contains("match_score"), "{e}");
        v.as_object_mut().unwrap().remove("capacity");
        let e = serde_json::from_value::<Scored<Venue>>(v).unwrap_err();
        assert!(e.to_string().contains("capacity"), "{e}");
        assert!(serde_json::from_str::<Scored<Venue>>("[1, 2]").is_err());
    }
}
