//! The semantic difference of two parties' plans (issue 20, what-if forks):
//! which facts differ (guests 30 → 50), which suppliers were swapped per
//! area and why (capacity, city, price, theme, dietary, setting), the budget
//! delta per category and in total, areas gained or lost, and completion.
//!
//! Owns [`diff`] and the [`PlanDiff`] it returns. Pure: it reads two
//! [`Party`] values and nothing else; it must not touch the bus, the store,
//! the journal or HTTP, read the clock or guess. Every reason it gives is
//! derived from the two parties' data, and `other` is given only when none
//! of the known causes applies. Deterministic: every list has a fixed order
//! (plan area order, then names sorted), so the same two parties always give
//! byte-identical JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::{
    AgentName, AgentOutput, Budget, CakeResult, CateringResult, Delta, FinalPlan, PlanFact,
    VendorResult, VenueResult,
};
use crate::store::{Party, PartyStatus};

/// The plan's area that holds every vendor category; its categories are
/// listed as their own areas, `vendors/<category>`.
const VENDORS_AREA: &str = "vendors";

/// Why an area's supplier changed from one plan to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// One side's supplier cannot hold (or serve) the other side's guests.
    Capacity,
    /// The parties are in different cities, and so are the suppliers.
    City,
    /// One side's supplier does not fit the other side's price cap.
    Price,
    /// The themes differ and the first supplier does not suit the second theme.
    Theme,
    /// One side's supplier does not meet the other side's dietary needs.
    Dietary,
    /// The venue setting asked for (outdoor, indoor, ...) differs.
    Setting,
    /// None of the above: ranking among suppliers that fit both parties.
    Other,
}

impl Reason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Capacity => "capacity",
            Reason::City => "city",
            Reason::Price => "price",
            Reason::Theme => "theme",
            Reason::Dietary => "dietary",
            Reason::Setting => "setting",
            Reason::Other => "other",
        }
    }
}

/// How an area (or a budget category) differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Planned the same way on both sides (or on neither).
    Same,
    /// Planned on both sides, differently.
    Changed,
    /// Planned in `b` only.
    Gained,
    /// Planned in `a` only.
    Lost,
}

/// Where a fact's value was stated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactSource {
    /// The input that stated it.
    pub input_id: String,
    /// Its words.
    pub text: String,
}

/// One fact whose value differs (or that one side lacks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactDiff {
    /// The fact's name in `final_plan.facts` (guests, city, budget, ...).
    pub fact: String,
    /// Its value in `a`, null when `a` does not state it.
    pub a: serde_json::Value,
    /// Its value in `b`, null when `b` does not state it.
    pub b: serde_json::Value,
    /// Where `a` stated it.
    pub a_source: Option<FactSource>,
    /// Where `b` stated it.
    pub b_source: Option<FactSource>,
}

/// The top supplier of an area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supplier {
    /// Catalog id (unique within its kind).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// City.
    pub city: String,
    /// Guests it holds (venue) or serves at most (caterer); null otherwise.
    pub capacity: Option<u32>,
    /// The price the plan counts for it, dollars (venue per day, caterer for
    /// all guests, cake at the recommended size, vendor per party).
    pub price: u64,
}

/// One side of an area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaSide {
    /// Whether the plan counts the area as planned.
    pub done: bool,
    /// The top supplier, for supplier areas.
    pub supplier: Option<Supplier>,
    /// The area's value where it has one instead of a supplier and is
    /// planned (theme: the theme; guests: the count; budget: the total).
    pub value: Option<String>,
}

/// How one planning area differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaDiff {
    /// theme, venue, guests, cake, catering, vendors, `vendors/<category>`, budget.
    pub area: String,
    /// same, changed, gained or lost.
    pub change: Change,
    /// The area in `a`.
    pub a: AreaSide,
    /// The area in `b`.
    pub b: AreaSide,
    /// Why it changed (sorted, distinct); empty unless `changed`.
    pub reasons: Vec<Reason>,
}

/// A money range, whole dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Lower bound.
    pub min: u64,
    /// Upper bound.
    pub max: u64,
}

/// One budget category's delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryDiff {
    /// Breakdown category (venue, cake, catering, decorations, ...).
    pub category: String,
    /// same, changed, gained or lost.
    pub change: Change,
    /// Its cost in `a`.
    pub a: Option<Money>,
    /// Its cost in `b`.
    pub b: Option<Money>,
    /// `b − a` (a missing side counts as 0).
    pub delta: Delta,
}

/// How the budgets differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetDiff {
    /// Total of `a`, null without a budget.
    pub a_total: Option<Money>,
    /// Total of `b`, null without a budget.
    pub b_total: Option<Money>,
    /// `b_total − a_total` (a missing total counts as 0).
    pub delta: Delta,
    /// The stated budget of `a`.
    pub a_stated: Option<u64>,
    /// The stated budget of `b`.
    pub b_stated: Option<u64>,
    /// Every category of either side, sorted by name.
    pub categories: Vec<CategoryDiff>,
    /// Categories only `b` has, sorted.
    pub gained: Vec<String>,
    /// Categories only `a` has, sorted.
    pub lost: Vec<String>,
}

/// How far each plan is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionDiff {
    /// `completion_percent` of `a` (0 without a plan).
    pub a: u8,
    /// `completion_percent` of `b`.
    pub b: u8,
    /// `b − a`, percentage points.
    pub delta: i16,
    /// Lifecycle of `a`.
    pub a_status: PartyStatus,
    /// Lifecycle of `b`.
    pub b_status: PartyStatus,
}

/// The semantic difference of two parties' plans, `a` → `b`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDiff {
    /// The first party.
    pub a: String,
    /// The second party.
    pub b: String,
    /// Facts that differ, sorted by name.
    pub facts: Vec<FactDiff>,
    /// Every area, in plan order.
    pub areas: Vec<AreaDiff>,
    /// The budgets.
    pub budget: BudgetDiff,
    /// Completion and status.
    pub completion: CompletionDiff,
    /// A few sentences for people.
    pub summary: Vec<String>,
}

impl PlanDiff {
    /// Whether the plans differ at all (facts, areas, budget, completion).
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
            && self.areas.iter().all(|a| a.change == Change::Same)
            && self
                .budget
                .categories
                .iter()
                .all(|c| c.change == Change::Same)
            && self.budget.delta == Delta { min: 0, max: 0 }
            && self.completion.delta == 0
            && self.completion.a_status == self.completion.b_status
    }
}

/// What one party's plan holds, read once (through the `Deferred` accessors).
struct View<'a> {
    party: &'a Party,
    plan: Option<&'a FinalPlan>,
    budget: Option<&'a Budget>,
    venue: Option<&'a VenueResult>,
    cake: Option<&'a CakeResult>,
    catering: Option<&'a CateringResult>,
    vendor: Option<&'a VendorResult>,
    theme: Option<&'a str>,
}

impl<'a> View<'a> {
    fn of(party: &'a Party) -> View<'a> {
        let result = |agent| party.result(agent);
        View {
            party,
            plan: party.final_plan.as_deref(),
            budget: party.budget.as_deref(),
            venue: match result(AgentName::Venue) {
                Some(AgentOutput::Venue(v)) => Some(v),
                _ => None,
            },
            cake: match result(AgentName::Cake) {
                Some(AgentOutput::Cake(c)) => Some(c),
                _ => None,
            },
            catering: match result(AgentName::Catering) {
                Some(AgentOutput::Catering(c)) => Some(c),
                _ => None,
            },
            vendor: match result(AgentName::Vendor) {
                Some(AgentOutput::Vendor(v)) => Some(v),
                _ => None,
            },
            theme: match result(AgentName::Theme) {
                Some(AgentOutput::Theme(t)) => Some(t.primary_theme.as_str()),
                _ => None,
            },
        }
    }

    fn fact(&self, name: &str) -> Option<&'a PlanFact> {
        self.plan.and_then(|p| p.facts.get(name))
    }

    /// The guest count planned for: stated, else the one the searches used.
    fn guests(&self) -> Option<u32> {
        self.fact("guests")
            .and_then(|f| f.value.as_u64())
            .and_then(|g| u32::try_from(g).ok())
            .or_else(|| self.venue.map(|v| v.search_criteria.guest_count))
            .or_else(|| self.catering.map(|c| c.guest_count))
    }

    /// The stated city, lowercased.
    fn city(&self) -> Option<String> {
        self.fact("city")
            .and_then(|f| f.value.as_str())
            .map(str::to_lowercase)
    }

    /// Dietary needs (from the catering or cake search, else the fact).
    fn dietary(&self) -> BTreeSet<String> {
        let mut needs: BTreeSet<String> = BTreeSet::new();
        if let Some(c) = self.catering {
            needs.extend(c.dietary_needs.iter().cloned());
        }
        if let Some(c) = self.cake {
            needs.extend(c.dietary_needs.iter().cloned());
        }
        if needs.is_empty() {
            if let Some(list) = self.fact("dietary").and_then(|f| f.value.as_array()) {
                needs.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
            }
        }
        needs
    }

    fn area_done(&self, area: &str) -> bool {
        self.plan
            .and_then(|p| p.areas.iter().find(|a| a.area == area))
            .is_some_and(|a| a.done)
    }

    fn status(&self) -> PartyStatus {
        self.party.status
    }
}

/// The top supplier of an area and what is needed to explain a swap.
struct Pick {
    supplier: Supplier,
    themes: Vec<String>,
    dietary: Option<Vec<String>>,
    /// Guests it can serve: (min, max).
    serves: Option<(u32, u32)>,
    /// Price at a guest count (catering scales with guests; cake by size).
    price_for: PriceRule,
}

#[derive(Clone, Copy)]
enum PriceRule {
    Fixed(u64),
    PerPerson(u64),
    Cake { small: u64, medium: u64, large: u64 },
}

impl PriceRule {
    fn at(self, guests: Option<u32>) -> u64 {
        match self {
            PriceRule::Fixed(p) => p,
            PriceRule::PerPerson(p) => p.saturating_mul(u64::from(guests.unwrap_or(0))),
            // The cake agent's sizes: small under 20 guests, medium under
            // 50, and an unknown count is sized as 50.
            PriceRule::Cake {
                small,
                medium,
                large,
            } => match guests.unwrap_or(50) {
                0..20 => small,
                20..50 => medium,
                _ => large,
            },
        }
    }
}

/// Context of one side for judging the other side's supplier.
struct Needs {
    guests: Option<u32>,
    city: Option<String>,
    theme: Option<String>,
    dietary: BTreeSet<String>,
    cap: Option<u64>,
    setting: Option<String>,
}

fn venue_pick(v: &VenueResult) -> Option<Pick> {
    let top = v.recommended_venues.first()?;
    let r = &top.record;
    Some(Pick {
        supplier: Supplier {
            id: r.id,
            name: r.name.clone(),
            city: r.city.clone(),
            capacity: Some(r.capacity),
            price: r.daily_price,
        },
        themes: r.themes.clone(),
        dietary: None,
        serves: Some((0, r.capacity)),
        price_for: PriceRule::Fixed(r.daily_price),
    })
}

fn cake_pick(c: &CakeResult, guests: Option<u32>) -> Option<Pick> {
    let top = c.recommended_bakeries.first()?;
    let r = &top.record;
    let rule = PriceRule::Cake {
        small: r.price_range.small,
        medium: r.price_range.medium,
        large: r.price_range.large,
    };
    Some(Pick {
        supplier: Supplier {
            id: r.id,
            name: r.name.clone(),
            city: r.city.clone(),
            capacity: None,
            price: rule.at(guests),
        },
        themes: r.themes.clone(),
        dietary: Some(r.dietary_options.clone()),
        serves: None,
        price_for: rule,
    })
}

fn catering_pick(c: &CateringResult) -> Option<Pick> {
    let top = c.recommended_caterers.first()?;
    let r = &top.record;
    let rule = PriceRule::PerPerson(r.price_per_person);
    Some(Pick {
        supplier: Supplier {
            id: r.id,
            name: r.name.clone(),
            city: r.city.clone(),
            capacity: Some(r.max_guests),
            price: rule.at(Some(c.guest_count)),
        },
        themes: r.themes.clone(),
        dietary: Some(r.dietary_options.clone()),
        serves: Some((r.min_guests, r.max_guests)),
        price_for: rule,
    })
}

fn vendor_pick(v: &VendorResult, category: &str) -> Option<Pick> {
    let top = v.vendors_by_category.get(category)?.first()?;
    let r = &top.record;
    Some(Pick {
        supplier: Supplier {
            id: r.id,
            name: r.name.clone(),
            city: r.city.clone(),
            capacity: None,
            price: r.avg_price,
        },
        themes: r.themes.clone(),
        dietary: None,
        serves: None,
        price_for: PriceRule::Fixed(r.avg_price),
    })
}

/// Why `pick` (one side's supplier) was not kept by the other side, whose
/// needs are `other`; `own` are the needs `pick` was chosen for.
fn misfits(pick: &Pick, own: &Needs, other: &Needs, out: &mut BTreeSet<Reason>) {
    if let (Some((lo, hi)), Some(g)) = (pick.serves, other.guests) {
        if g < lo || g > hi {
            out.insert(Reason::Capacity);
        }
    }
    if let Some(city) = &other.city {
        if own.city.as_ref() != Some(city) && !pick.supplier.city.eq_ignore_ascii_case(city) {
            out.insert(Reason::City);
        }
    }
    if let Some(cap) = other.cap {
        if pick.price_for.at(other.guests) > cap {
            out.insert(Reason::Price);
        }
    }
    if let Some(theme) = &other.theme {
        if own.theme.as_ref() != Some(theme) && !pick.themes.iter().any(|t| t == theme) {
            out.insert(Reason::Theme);
        }
    }
    if let Some(offered) = &pick.dietary {
        if other.dietary.iter().any(|need| !offered.contains(need)) {
            out.insert(Reason::Dietary);
        }
    }
    if own.setting != other.setting {
        out.insert(Reason::Setting);
    }
}

/// Builds one supplier area's diff.
fn supplier_area(
    area: String,
    (a_done, b_done): (bool, bool),
    (a_pick, b_pick): (Option<Pick>, Option<Pick>),
    (a_needs, b_needs): (&Needs, &Needs),
) -> AreaDiff {
    let a_done = a_done && a_pick.is_some();
    let b_done = b_done && b_pick.is_some();
    let mut reasons = BTreeSet::new();
    let change = match (a_done, b_done, &a_pick, &b_pick) {
        (true, true, Some(pa), Some(pb)) if pa.supplier.id != pb.supplier.id => {
            misfits(pa, a_needs, b_needs, &mut reasons);
            misfits(pb, b_needs, a_needs, &mut reasons);
            if reasons.is_empty() {
                reasons.insert(Reason::Other);
            }
            Change::Changed
        }
        (false, true, ..) => Change::Gained,
        (true, false, ..) => Change::Lost,
        _ => Change::Same,
    };
    AreaDiff {
        area,
        change,
        a: AreaSide {
            done: a_done,
            supplier: a_pick.map(|p| p.supplier),
            value: None,
        },
        b: AreaSide {
            done: b_done,
            supplier: b_pick.map(|p| p.supplier),
            value: None,
        },
        reasons: reasons.into_iter().collect(),
    }
}

/// Builds one value area's diff (theme, guests, budget).
/// A side's value is shown only where the area is planned.
fn value_area(area: &str, a: (bool, Option<String>), b: (bool, Option<String>)) -> AreaDiff {
    let a = (a.0, a.1.filter(|_| a.0));
    let b = (b.0, b.1.filter(|_| b.0));
    let change = match (a.0, b.0) {
        (true, true) if a.1 != b.1 => Change::Changed,
        (false, true) => Change::Gained,
        (true, false) => Change::Lost,
        _ => Change::Same,
    };
    AreaDiff {
        area: area.to_string(),
        change,
        a: AreaSide {
            done: a.0,
            supplier: None,
            value: a.1,
        },
        b: AreaSide {
            done: b.0,
            supplier: None,
            value: b.1,
        },
        reasons: Vec::new(),
    }
}

/// The semantic difference of `a`'s plan and `b`'s plan.
pub fn diff(a: &Party, b: &Party) -> PlanDiff {
    let va = View::of(a);
    let vb = View::of(b);
    let facts = facts(&va, &vb);
    let areas = areas(&va, &vb);
    let budget = budget(va.budget, vb.budget);
    let completion = completion(&va, &vb);
    let mut d = PlanDiff {
        a: a.party_id.clone(),
        b: b.party_id.clone(),
        facts,
        areas,
        budget,
        completion,
        summary: Vec::new(),
    };
    d.summary = summary(&d);
    d
}

fn source(f: &PlanFact) -> FactSource {
    FactSource {
        input_id: f.input_id.clone(),
        text: f.text.clone(),
    }
}

fn facts(a: &View<'_>, b: &View<'_>) -> Vec<FactDiff> {
    let none = Default::default();
    let fa = a.plan.map_or(&none, |p| &p.facts);
    let fb = b.plan.map_or(&none, |p| &p.facts);
    let names: BTreeSet<&String> = fa.iter().chain(fb.iter()).map(|(k, _)| k).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (x, y) = (fa.get(name), fb.get(name));
            if x.map(|f| &f.value) == y.map(|f| &f.value) {
                return None;
            }
            Some(FactDiff {
                fact: name.clone(),
                a: x.map_or(serde_json::Value::Null, |f| f.value.clone()),
                b: y.map_or(serde_json::Value::Null, |f| f.value.clone()),
                a_source: x.map(source),
                b_source: y.map(source),
            })
        })
        .collect()
}

fn needs(v: &View<'_>, cap: Option<u64>, setting: Option<String>) -> Needs {
    Needs {
        guests: v.guests(),
        city: v.city(),
        theme: v.theme.map(str::to_string),
        dietary: v.dietary(),
        cap,
        setting,
    }
}

/// Plan areas in plan order (`a`'s, then any only `b` has), with the
/// vendors area followed by one area per vendor category.
fn areas(a: &View<'_>, b: &View<'_>) -> Vec<AreaDiff> {
    let mut names: Vec<&str> = Vec::new();
    for p in [a.plan, b.plan].into_iter().flatten() {
        for area in &p.areas {
            if !names.contains(&area.area.as_str()) {
                names.push(&area.area);
            }
        }
    }
    let mut out = Vec::new();
    for name in names {
        let done = (a.area_done(name), b.area_done(name));
        match name {
            "venue" => {
                let setting =
                    |v: &View<'_>| v.venue.and_then(|r| r.search_criteria.location.clone());
                let na = needs(a, a.venue.and_then(|v| v.budget_cap), setting(a));
                let nb = needs(b, b.venue.and_then(|v| v.budget_cap), setting(b));
                out.push(supplier_area(
                    name.to_string(),
                    done,
                    (a.venue.and_then(venue_pick), b.venue.and_then(venue_pick)),
                    (&na, &nb),
                ));
            }
            "cake" => {
                let na = needs(a, a.cake.and_then(|c| c.budget_cap), None);
                let nb = needs(b, b.cake.and_then(|c| c.budget_cap), None);
                out.push(supplier_area(
                    name.to_string(),
                    done,
                    (
                        a.cake.and_then(|c| cake_pick(c, na.guests)),
                        b.cake.and_then(|c| cake_pick(c, nb.guests)),
                    ),
                    (&na, &nb),
                ));
            }
            "catering" => {
                let na = needs(a, a.catering.and_then(|c| c.budget_cap), None);
                let nb = needs(b, b.catering.and_then(|c| c.budget_cap), None);
                out.push(supplier_area(
                    name.to_string(),
                    done,
                    (
                        a.catering.and_then(catering_pick),
                        b.catering.and_then(catering_pick),
                    ),
                    (&na, &nb),
                ));
            }
            VENDORS_AREA => vendor_areas(a, b, done, &mut out),
            "theme" => out.push(value_area(
                name,
                (done.0, a.theme.map(str::to_string)),
                (done.1, b.theme.map(str::to_string)),
            )),
            "guests" => out.push(value_area(
                name,
                (done.0, a.guests().filter(|_| done.0).map(|g| g.to_string())),
                (done.1, b.guests().filter(|_| done.1).map(|g| g.to_string())),
            )),
            "budget" => {
                let total = |v: &View<'_>| v.budget.map(|x| money_text(money(&x.total_budget)));
                out.push(value_area(name, (done.0, total(a)), (done.1, total(b))));
            }
            other => out.push(value_area(other, (done.0, None), (done.1, None))),
        }
    }
    out
}

/// The vendors area (its change summing up its categories'), then each
/// category of either side, sorted.
fn vendor_areas(a: &View<'_>, b: &View<'_>, done: (bool, bool), out: &mut Vec<AreaDiff>) {
    let categories: BTreeSet<&String> = [a.vendor, b.vendor]
        .into_iter()
        .flatten()
        .flat_map(|v| v.vendors_by_category.iter())
        .filter(|(_, list)| !list.is_empty())
        .map(|(k, _)| k)
        .collect();
    let cap = |v: &View<'_>, c: &str| v.vendor.and_then(|r| r.budget_caps.get(c).copied());
    let mut per = Vec::new();
    for category in categories {
        let na = needs(a, cap(a, category), None);
        let nb = needs(b, cap(b, category), None);
        let pa = a.vendor.and_then(|v| vendor_pick(v, category));
        let pb = b.vendor.and_then(|v| vendor_pick(v, category));
        per.push(supplier_area(
            format!("{VENDORS_AREA}/{category}"),
            (pa.is_some(), pb.is_some()),
            (pa, pb),
            (&na, &nb),
        ));
    }
    let mut whole = value_area(VENDORS_AREA, (done.0, None), (done.1, None));
    if whole.change == Change::Same && done.0 && done.1 {
        let reasons: BTreeSet<Reason> =
            per.iter().flat_map(|c| c.reasons.iter().copied()).collect();
        if per.iter().any(|c| c.change != Change::Same) {
            whole.change = Change::Changed;
            whole.reasons = reasons.into_iter().collect();
        }
    }
    out.push(whole);
    out.extend(per);
}

fn money(r: &crate::domain::Range) -> Money {
    Money {
        min: r.min,
        max: r.max,
    }
}

fn delta(a: Option<Money>, b: Option<Money>) -> Delta {
    let (a, b) = (
        a.unwrap_or(Money { min: 0, max: 0 }),
        b.unwrap_or(Money { min: 0, max: 0 }),
    );
    let sub = |x: u64, y: u64| {
        i64::try_from(x)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(y).unwrap_or(i64::MAX))
    };
    Delta {
        min: sub(b.min, a.min),
        max: sub(b.max, a.max),
    }
}

fn budget(a: Option<&Budget>, b: Option<&Budget>) -> BudgetDiff {
    let lines = |x: Option<&Budget>| -> BTreeMap<String, Money> {
        x.map(|x| {
            x.breakdown
                .iter()
                .map(|(k, r)| (k.clone(), money(r)))
                .collect()
        })
        .unwrap_or_default()
    };
    let (la, lb) = (lines(a), lines(b));
    let names: BTreeSet<&String> = la.keys().chain(lb.keys()).collect();
    let mut categories = Vec::new();
    let (mut gained, mut lost) = (Vec::new(), Vec::new());
    for name in names {
        let (x, y) = (la.get(name).copied(), lb.get(name).copied());
        let change = match (x, y) {
            (Some(x), Some(y)) if x == y => Change::Same,
            (Some(_), Some(_)) => Change::Changed,
            (None, _) => {
                gained.push(name.clone());
                Change::Gained
            }
            (Some(_), None) => {
                lost.push(name.clone());
                Change::Lost
            }
        };
        categories.push(CategoryDiff {
            category: name.clone(),
            change,
            a: x,
            b: y,
            delta: delta(x, y),
        });
    }
    let a_total = a.map(|x| money(&x.total_budget));
    let b_total = b.map(|x| money(&x.total_budget));
    BudgetDiff {
        a_total,
        b_total,
        delta: delta(a_total, b_total),
        a_stated: a.and_then(|x| x.stated_budget),
        b_stated: b.and_then(|x| x.stated_budget),
        categories,
        gained,
        lost,
    }
}

fn completion(a: &View<'_>, b: &View<'_>) -> CompletionDiff {
    let pct = |v: &View<'_>| v.plan.map_or(0, |p| p.completion_percent);
    let (pa, pb) = (pct(a), pct(b));
    CompletionDiff {
        a: pa,
        b: pb,
        delta: i16::from(pb) - i16::from(pa),
        a_status: a.status(),
        b_status: b.status(),
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `$1,200–$1,800`, or `$500` for an exact amount.
fn money_text(m: Money) -> String {
    if m.min == m.max {
        format!("${}", thousands(m.min))
    } else {
        format!("${}–${}", thousands(m.min), thousands(m.max))
    }
}

/// `+$450`, `−$120`, `$0`.
fn signed(n: i64) -> String {
    let sign = match n.signum() {
        1 => "+",
        -1 => "−",
        _ => "",
    };
    format!("{sign}${}", thousands(n.unsigned_abs()))
}

/// `+$450–$600` (one sign when both bounds moved the same way), `−$50–+$20`
/// otherwise, or `+$450` when both bounds moved alike.
pub fn delta_text(d: &Delta) -> String {
    if d.min == d.max {
        signed(d.min)
    } else if d.min.signum() == d.max.signum() {
        format!("{}–${}", signed(d.min), thousands(d.max.unsigned_abs()))
    } else {
        format!("{}–{}", signed(d.min), signed(d.max))
    }
}

/// A fact value for people: strings bare, lists comma-separated, absent as `none`.
fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "none".to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_text).collect();
            parts.join(", ")
        }
        other => other.to_string(),
    }
}

/// `Maple Street Party House (capacity 30, Springfield)`.
fn supplier_text(s: &Supplier) -> String {
    match s.capacity {
        Some(c) => format!("{} (capacity {c}, {})", s.name, s.city),
        None => format!("{} ({}, ${})", s.name, s.city, thousands(s.price)),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn summary(d: &PlanDiff) -> Vec<String> {
    let mut out = Vec::new();
    let facts: Vec<String> = d
        .facts
        .iter()
        .map(|f| {
            format!(
                "{} {} → {}",
                capitalized(&f.fact.replace('_', " ")),
                value_text(&f.a),
                value_text(&f.b)
            )
        })
        .collect();
    let swaps: Vec<String> = d
        .areas
        .iter()
        .filter(|a| a.change == Change::Changed)
        .filter_map(|a| {
            let (Some(x), Some(y)) = (&a.a.supplier, &a.b.supplier) else {
                return None;
            };
            let why: Vec<&str> = a.reasons.iter().map(|r| r.as_str()).collect();
            Some(format!(
                "the {} changed from {} to {} ({})",
                a.area,
                supplier_text(x),
                supplier_text(y),
                why.join(", ")
            ))
        })
        .collect();
    match (facts.is_empty(), swaps.is_empty()) {
        (false, false) => out.push(format!("{}: {}.", facts.join("; "), swaps.join("; "))),
        (false, true) => out.push(format!("{}.", facts.join("; "))),
        (true, false) => out.push(format!("{}.", capitalized(&swaps.join("; ")))),
        (true, true) => {}
    }
    let of = |c: Change| -> Vec<&str> {
        d.areas
            .iter()
            .filter(|a| a.change == c)
            .map(|a| a.area.as_str())
            .collect()
    };
    let (gained, lost) = (of(Change::Gained), of(Change::Lost));
    if !gained.is_empty() {
        out.push(format!("Planned only in {}: {}.", d.b, gained.join(", ")));
    }
    if !lost.is_empty() {
        out.push(format!("Planned only in {}: {}.", d.a, lost.join(", ")));
    }
    let b = &d.budget;
    if let (Some(x), Some(y)) = (b.a_total, b.b_total) {
        if x != y {
            out.push(format!(
                "Budget {} ({} → {}).",
                delta_text(&b.delta),
                money_text(x),
                money_text(y)
            ));
        }
    } else if let Some(y) = b.b_total {
        out.push(format!("Budget {} only in {}.", money_text(y), d.b));
    } else if let Some(x) = b.a_total {
        out.push(format!("Budget {} only in {}.", money_text(x), d.a));
    }
    let c = &d.completion;
    if c.delta != 0 || c.a_status != c.b_status {
        out.push(format!(
            "Completion {}% → {}% ({} → {}).",
            c.a,
            c.b,
            c.a_status.as_str(),
            c.b_status.as_str()
        ));
    }
    if out.is_empty() {
        out.push("No differences: the two plans are the same.".to_string());
    }
    out
}

/// The diff for people: the summary, then one line per fact, area and
/// budget category that differs (`partybus diff --format text`).
pub fn render_text(d: &PlanDiff) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{} → {}", d.a, d.b);
    for line in &d.summary {
        let _ = writeln!(s, "{line}");
    }
    if !d.facts.is_empty() {
        let _ = writeln!(s, "\n{:<20} {:<24} b", "fact", "a");
        for f in &d.facts {
            let _ = writeln!(
                s,
                "{:<20} {:<24} {}",
                f.fact,
                value_text(&f.a),
                value_text(&f.b)
            );
        }
    }
    let _ = writeln!(s, "\n{:<20} {:<8} {:<40} b", "area", "change", "a");
    for a in &d.areas {
        let side = |x: &AreaSide| match (&x.supplier, &x.value) {
            (Some(s), _) => format!("{} #{}", s.name, s.id),
            (None, Some(v)) => v.clone(),
            (None, None) if x.done => "planned".to_string(),
            (None, None) => "-".to_string(),
        };
        let why: Vec<&str> = a.reasons.iter().map(|r| r.as_str()).collect();
        let change = match a.change {
            Change::Same => "same",
            Change::Changed => "changed",
            Change::Gained => "gained",
            Change::Lost => "lost",
        };
        let _ = writeln!(
            s,
            "{:<20} {:<8} {:<40} {}{}",
            a.area,
            change,
            side(&a.a),
            side(&a.b),
            if why.is_empty() {
                String::new()
            } else {
                format!("  [{}]", why.join(", "))
            }
        );
    }
    let b = &d.budget;
    let total = |m: Option<Money>| m.map_or_else(|| "-".to_string(), money_text);
    let _ = writeln!(s, "\n{:<20} {:<24} {:<24} delta", "budget", "a", "b");
    for c in &b.categories {
        let _ = writeln!(
            s,
            "{:<20} {:<24} {:<24} {}",
            c.category,
            total(c.a),
            total(c.b),
            delta_text(&c.delta)
        );
    }
    let _ = writeln!(
        s,
        "{:<20} {:<24} {:<24} {}",
        "total",
        total(b.a_total),
        total(b.b_total),
        delta_text(&b.delta)
    );
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::app::{NewInput, NewParty};
    use crate::{App, Config};

    /// Longest a party may take to settle (only a failing test waits it).
    const SETTLE: Duration = Duration::from_secs(30);

    /// Plans a party with these inputs through the real pipeline.
    fn plan(app: &App, texts: &[&str]) -> Arc<Party> {
        let ack = app
            .create_party(
                NewParty {
                    initial_inputs: texts
                        .iter()
                        .map(|t| NewInput {
                            content: (*t).to_string(),
                            ..NewInput::default()
                        })
                        .collect(),
                    ..NewParty::default()
                },
                None,
            )
            .expect("create");
        assert!(app.wait_settled(&ack.party_id, ack.seq, SETTLE));
        app.party(&ack.party_id).expect("party")
    }

    fn area<'a>(d: &'a PlanDiff, name: &str) -> &'a AreaDiff {
        d.areas
            .iter()
            .find(|a| a.area == name)
            .unwrap_or_else(|| panic!("no area {name} in {d:#?}"))
    }

    #[test]
    fn more_guests_than_the_small_venue_holds_is_a_capacity_swap() {
        let app = App::start_new(Config::default()).expect("app");
        let small = plan(
            &app,
            &["birthday party for 30 guests in Lakewood, indoor venue"],
        );
        let big = plan(
            &app,
            &["birthday party for 50 guests in Lakewood, indoor venue"],
        );
        app.stop();
        let d = diff(&small, &big);
        let guests = d.facts.iter().find(|f| f.fact == "guests");
        let guests = guests.unwrap_or_else(|| panic!("no guests fact in {:#?}", d.facts));
        assert_eq!((&guests.a, &guests.b), (&30.into(), &50.into()));
        assert!(guests
            .a_source
            .as_ref()
            .is_some_and(|s| s.text.contains("30")));
        let venue = area(&d, "venue");
        assert_eq!(venue.change, Change::Changed, "{venue:#?}");
        let before = venue.a.supplier.as_ref().expect("a venue");
        let after = venue.b.supplier.as_ref().expect("b venue");
        assert!(before.capacity.is_some_and(|c| c < 50), "{before:?}");
        assert!(after.capacity.is_some_and(|c| c >= 50), "{after:?}");
        assert!(venue.reasons.contains(&Reason::Capacity), "{venue:?}");
        assert!(!venue.reasons.contains(&Reason::City), "{venue:?}");
        assert!(!venue.reasons.contains(&Reason::Other), "{venue:?}");
        assert!(
            d.summary[0].starts_with("Guests 30 → 50: ")
                && d.summary[0].contains(&format!("from {}", before.name)),
            "{:?}",
            d.summary
        );
        // The other way round: the same swap, a and b exchanged.
        let back = diff(&big, &small);
        let venue = area(&back, "venue");
        assert!(venue.reasons.contains(&Reason::Capacity), "{venue:?}");
        assert_eq!(back.budget.delta.min, -d.budget.delta.min);
        assert_eq!(back.completion.delta, -d.completion.delta);
    }

    #[test]
    fn another_city_is_a_city_swap_for_every_supplier() {
        let app = App::start_new(Config::default()).expect("app");
        let here = plan(&app, &["party for 40 guests in Springfield"]);
        let there = plan(&app, &["party for 40 guests in Fairview"]);
        app.stop();
        let d = diff(&here, &there);
        assert!(d.facts.iter().any(|f| f.fact == "city"), "{:#?}", d.facts);
        assert!(d.facts.iter().all(|f| f.fact != "guests"), "{:#?}", d.facts);
        let venue = area(&d, "venue");
        assert_eq!(venue.change, Change::Changed, "{venue:#?}");
        assert!(venue.reasons.contains(&Reason::City), "{venue:?}");
        assert_eq!(
            venue.b.supplier.as_ref().map(|s| s.city.as_str()),
            Some("Fairview")
        );
        for a in d.areas.iter().filter(|a| a.change == Change::Changed) {
            assert!(!a.reasons.is_empty(), "{a:?}");
        }
    }

    #[test]
    fn identical_inputs_differ_in_nothing_and_the_json_is_deterministic() {
        let app = App::start_new(Config::default()).expect("app");
        let texts = [
            "jungle theme party for 75 guests",
            "need a chocolate cake with animal decorations",
            "outdoor venue preferred, budget around $2000",
        ];
        let a = plan(&app, &texts);
        let b = plan(&app, &texts);
        let other = plan(&app, &["space party for 20 kids, budget $600"]);
        app.stop();
        let d = diff(&a, &b);
        assert!(d.is_empty(), "{d:#?}");
        assert!(d.facts.is_empty());
        assert!(d
            .areas
            .iter()
            .all(|x| x.change == Change::Same && x.reasons.is_empty()));
        assert!(d
            .areas
            .iter()
            .any(|x| x.area == "venue" && x.a.supplier.is_some() && x.a == x.b));
        assert_eq!(d.budget.delta, Delta { min: 0, max: 0 });
        assert!(d.budget.gained.is_empty() && d.budget.lost.is_empty());
        assert_eq!(d.summary, ["No differences: the two plans are the same."]);
        // Same inputs, same bytes; and a real difference is stable too.
        let json = |x: &Party, y: &Party| serde_json::to_string(&diff(x, y)).expect("json");
        assert_eq!(json(&a, &b), json(&a, &b));
        assert_eq!(json(&a, &other), json(&a, &other));
        let back: PlanDiff = serde_json::from_str(&json(&a, &other)).expect("round trip");
        assert_eq!(back, diff(&a, &other));
        assert!(!back.is_empty());
    }

    #[test]
    fn an_empty_party_against_a_planned_one_gains_every_area() {
        let app = App::start_new(Config::default()).expect("app");
        let empty = plan(&app, &[]);
        let full = plan(
            &app,
            &["jungle party for 30 kids in Springfield, budget $1500"],
        );
        app.stop();
        let d = diff(&empty, &full);
        assert_eq!(area(&d, "venue").change, Change::Gained);
        assert_eq!(area(&d, "theme").change, Change::Gained);
        assert!(d.budget.b_total.is_some(), "{:#?}", d.budget);
        assert!(d.completion.delta > 0);
        let lost = diff(&full, &empty);
        assert_eq!(area(&lost, "venue").change, Change::Lost);
        assert!(
            lost.facts.iter().all(|f| f.b.is_null()),
            "{:#?}",
            lost.facts
        );
        assert!(render_text(&d).contains("venue"));
    }

    /// `p` with its top venue replaced by the catalog venue `name` and the
    /// venue's price cap set to `cap`.
    fn with_venue(p: &Party, name: &str, cap: Option<u64>) -> Party {
        let catalog = crate::catalog::Catalog::embedded();
        let record = catalog
            .venues
            .iter()
            .find(|v| v.name == name)
            .expect("venue");
        let mut q = p.clone();
        let state = q.agents.get_mut(&AgentName::Venue).expect("venue state");
        let Some(AgentOutput::Venue(mut v)) = state.result.as_deref().cloned() else {
            panic!("no venue result")
        };
        v.recommended_venues[0].record = record.clone();
        v.budget_cap = cap;
        state.result = crate::deferred::Deferred::ready(Arc::new(AgentOutput::Venue(v)));
        q
    }

    #[test]
    fn a_supplier_over_the_other_cap_is_a_price_swap_and_nothing_known_is_other() {
        let app = App::start_new(Config::default()).expect("app");
        let base = plan(&app, &["party for 40 guests in Springfield"]);
        app.stop();
        // Both hold 40 guests, both in Springfield, no theme: only the cap.
        let a = with_venue(&base, "Fun Zone Restaurant", None);
        let b = with_venue(&base, "Community Center Hall", Some(350));
        let venue = area(&diff(&a, &b), "venue").clone();
        assert_eq!(venue.change, Change::Changed);
        assert_eq!(venue.reasons, [Reason::Price], "{venue:#?}");
        assert_eq!(venue.a.supplier.as_ref().map(|s| s.price), Some(400));
        // No cap: nothing known explains the swap.
        let c = with_venue(&base, "Community Center Hall", None);
        assert_eq!(area(&diff(&a, &c), "venue").reasons, [Reason::Other]);
        // The same venue on both sides is the same, whatever the caps.
        let d = with_venue(&base, "Fun Zone Restaurant", Some(10));
        assert_eq!(area(&diff(&a, &d), "venue").change, Change::Same);
    }

    #[test]
    fn money_is_written_with_signs_and_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(delta_text(&Delta { min: 450, max: 600 }), "+$450–$600");
        assert_eq!(delta_text(&Delta { min: -50, max: 20 }), "−$50–+$20");
        assert_eq!(
            delta_text(&Delta {
                min: -1200,
                max: -1200
            }),
            "−$1,200"
        );
        assert_eq!(delta_text(&Delta { min: 0, max: 0 }), "$0");
        assert_eq!(money_text(Money { min: 5, max: 5 }), "$5");
    }
}
