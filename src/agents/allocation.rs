//! The budget allocation: how the stated total budget is shared across the
//! active cost areas (venue, cake, catering, vendors), so that the cost agents
//! (which run in parallel and never see each other's results) agree on price
//! caps whose sum fits the budget.
//!
//! Owns the per-area constraint queries (guests, city, required setting,
//! dietary needs, vendor categories) that both the allocation and the agents
//! search with, and [`allocation`], one pure function of `(facts, catalog)`.
//! Every cost agent calls it with the same inputs and so gets the same caps.
//! Must not read party results, the clock or randomness.
//!
//! # The rule
//! 1. **Active areas**: the cost agents in `facts.areas`. Facts that name no
//!    cost area (e.g. built before the analyzer filled `areas`) count all four
//!    (the cake only when it was not declined): more areas only tighten caps,
//!    so the plan still fits whatever subset runs.
//! 2. **Minimum per area**: the cheapest option that meets the area's hard
//!    constraints, ignoring money: venue = `daily_price` (capacity, city,
//!    required setting); cake = the price of the recommended size (dietary,
//!    city); catering = `price_per_person × guests` (min/max guests, dietary,
//!    city); vendors = Σ over requested categories of the cheapest vendor
//!    (city). `None` when nothing meets them.
//! 3. **Fit**: with a stated budget `B` and `M` = Σ of the minimums, some
//!    combination fits iff `M <= B`. Then the slack `B − M` is shared by the
//!    [`SHARES`] weights, renormalised over the active areas:
//!    `cap = min + ⌊slack × w / Σw⌋`. Vendors split their slack equally
//!    across their categories (`cap_c = min_c + ⌊slack_v / n⌋`). So Σ caps
//!    <= B, and since each agent's top pick costs at most its cap, Σ top
//!    picks <= B.
//! 4. **No fit** (`M > B`): every cap is the area's minimum: agents show
//!    their cheapest options, labelled as over the area's share. The area to
//!    cut is the one whose minimum exceeds its share (`B × w / Σw`) the most
//!    ([`Allocation::cut_area`]).
//! 5. An area with no minimum (nothing meets its needs: its agent shows
//!    nearest options, never a recommendation) keeps its part of the slack
//!    as cap (`⌊slack × w / Σw⌋`; its share `B × w / Σw` when nothing fits),
//!    so a default estimate within that cap keeps the budget's total within
//!    B too. An item budget (`venue_budget`,
//!    `cake_budget`, `catering_budget`) caps its area too: `min(cap, item)`.
//!    An active area not in `facts.areas` is never shared into (its cap is the
//!    item budget alone). Without a stated total budget, caps are the item
//!    budgets.
//!
//! Arithmetic is in `u128` then saturated, so no stated amount overflows.

use std::hash::{Hash, Hasher};

use crate::catalog::{
    BakeryQuery, Catalog, CatererQuery, VendorQuery, VenueQuery, VENDOR_CATEGORIES,
};
use crate::domain::{AgentName, AreaShare, BudgetFit};

use super::cake::size_for;
use super::Facts;

/// Guests assumed when no input states a count.
pub(crate) const DEFAULT_GUESTS: u32 = 50;

/// Weight of each cost area in sharing the slack, percent of the total.
/// Venue and food are the big tickets of a party; vendors (four categories)
/// come next; a cake rarely costs more than a few hundred dollars.
pub(crate) const SHARES: [(AgentName, u64); 4] = [
    (AgentName::Venue, 35),
    (AgentName::Cake, 10),
    (AgentName::Catering, 35),
    (AgentName::Vendor, 20),
];

/// The name of a cost area as the budget shows it.
pub(crate) fn area_name(area: AgentName) -> &'static str {
    match area {
        AgentName::Venue => "venue",
        AgentName::Cake => "cake",
        AgentName::Catering => "catering",
        AgentName::Vendor => "vendors",
        other => other.short(),
    }
}

/// Guests to plan for.
pub(crate) fn guests(facts: &Facts) -> u32 {
    facts.guest_count.unwrap_or(DEFAULT_GUESTS)
}

/// Vendor categories to plan: the requested ones (lowercased, deduplicated,
/// in order), or all of [`VENDOR_CATEGORIES`] when none was named.
pub(crate) fn vendor_categories(facts: &Facts) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &facts.vendor_categories {
        let c = c.trim().to_lowercase();
        if !c.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        out = VENDOR_CATEGORIES.iter().map(|c| c.to_string()).collect();
    }
    out
}

/// Whether the stated setting is a need that filters venues.
pub(crate) fn setting_required(facts: &Facts) -> bool {
    !facts.setting_preferred
        && facts
            .setting
            .as_deref()
            .is_some_and(crate::catalog::setting_filters)
}

/// The venue query of the hard constraints (no price cap, no theme, limit 1).
pub(crate) fn venue_query(facts: &Facts) -> VenueQuery {
    VenueQuery {
        guests: guests(facts),
        max_price: None,
        theme: None,
        city: facts.city.clone(),
        setting: facts.setting.clone(),
        setting_required: setting_required(facts),
        limit: 1,
    }
}

/// The bakery query of the hard constraints (size, dietary, city).
pub(crate) fn bakery_query(facts: &Facts) -> BakeryQuery {
    BakeryQuery {
        size: size_for(guests(facts)).to_string(),
        max_price: None,
        theme: None,
        themed: false,
        dietary: facts.dietary.clone(),
        flavors: Vec::new(),
        city: facts.city.clone(),
        limit: 1,
    }
}

/// The caterer query of the hard constraints (guests, dietary, city).
pub(crate) fn caterer_query(facts: &Facts) -> CatererQuery {
    CatererQuery {
        guests: guests(facts),
        max_total: None,
        dietary: facts.dietary.clone(),
        cuisines: Vec::new(),
        theme: None,
        city: facts.city.clone(),
        limit: 1,
    }
}

/// The vendor query of one category's hard constraints (category, city).
pub(crate) fn vendor_query(facts: &Facts, category: &str) -> VendorQuery {
    VendorQuery {
        category: category.to_string(),
        max_price: None,
        theme: None,
        city: facts.city.clone(),
        limit: 1,
    }
}

/// The active cost areas, in [`SHARES`] order (see rule 1).
pub(crate) fn active_areas(facts: &Facts) -> Vec<AgentName> {
    let listed: Vec<AgentName> = SHARES
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| facts.areas.contains(a))
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    SHARES
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| *a != AgentName::Cake || !facts.cake_declined)
        .collect()
}

/// The item budget stated for one area, if any.
pub(crate) fn item_budget(facts: &Facts, area: AgentName) -> Option<u64> {
    match area {
        AgentName::Venue => facts.venue_budget,
        AgentName::Cake => facts.cake_budget,
        AgentName::Catering => facts.catering_budget,
        _ => None,
    }
}

/// Feeds everything [`allocation`] reads from the facts into a hasher, so a
/// scheduler can re-run every cost agent when any of it changes.
pub(crate) fn hash_inputs<H: Hasher>(facts: &Facts, h: &mut H) {
    (
        facts.guest_count,
        facts.budget,
        facts.venue_budget,
        facts.cake_budget,
        facts.catering_budget,
        &facts.city,
        &facts.setting,
        facts.setting_preferred,
        &facts.dietary,
        &facts.vendor_categories,
        &facts.areas,
        facts.cake_declined,
    )
        .hash(h);
}

/// One vendor category's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartAllocation {
    /// The category.
    pub category: String,
    /// Its cheapest vendor meeting the constraints.
    pub min: Option<u64>,
    /// Price cap for the category's pick.
    pub cap: Option<u64>,
}

/// One cost area's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AreaAllocation {
    /// The cost agent.
    pub area: AgentName,
    /// Weight from [`SHARES`], percent.
    pub weight: u64,
    /// The cheapest option meeting the area's hard constraints.
    pub min: Option<u64>,
    /// `B × w / Σw` over the active areas, with a stated budget.
    pub share: Option<u64>,
    /// Price cap for the area's pick (see the module rules); `None`: no cap.
    pub cap: Option<u64>,
    /// Vendors only: per category.
    pub parts: Vec<PartAllocation>,
}

/// The caps every cost agent filters by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allocation {
    /// The stated total budget.
    pub budget: Option<u64>,
    /// Active areas, in [`SHARES`] order.
    pub areas: Vec<AreaAllocation>,
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn part_of(amount: u64, weight: u64, total_weight: u64) -> u64 {
    if total_weight == 0 {
        return 0;
    }
    saturate(u128::from(amount) * u128::from(weight) / u128::from(total_weight))
}

fn weight_of(area: AgentName) -> u64 {
    SHARES
        .iter()
        .find(|(a, _)| *a == area)
        .map_or(0, |(_, w)| *w)
}

fn opt_min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Computes the caps (see the module rules).
pub(crate) fn allocation(facts: &Facts, catalog: &Catalog) -> Allocation {
    let guests = u64::from(guests(facts));
    let mut areas: Vec<AreaAllocation> = active_areas(facts)
        .into_iter()
        .map(|area| {
            let mut parts = Vec::new();
            let min = match area {
                AgentName::Venue => catalog.search_venues(&venue_query(facts)).min_price,
                AgentName::Cake => catalog.search_bakeries(&bakery_query(facts)).min_price,
                AgentName::Catering => catalog
                    .search_caterers(&caterer_query(facts))
                    .min_price
                    .map(|p| p.saturating_mul(guests)),
                _ => {
                    for category in vendor_categories(facts) {
                        let min = catalog
                            .search_vendors(&vendor_query(facts, &category))
                            .min_price;
                        parts.push(PartAllocation {
                            category,
                            min,
                            cap: None,
                        });
                    }
                    let found: Vec<u64> = parts.iter().filter_map(|p| p.min).collect();
                    (!found.is_empty())
                        .then(|| found.iter().fold(0u64, |a, b| a.saturating_add(*b)))
                }
            };
            AreaAllocation {
                area,
                weight: weight_of(area),
                min,
                share: None,
                cap: None,
                parts,
            }
        })
        .collect();

    if let Some(budget) = facts.budget {
        let all_weight: u64 = areas.iter().map(|a| a.weight).sum();
        let total_min = areas
            .iter()
            .filter_map(|a| a.min)
            .fold(0u64, u64::saturating_add);
        let slack = budget.checked_sub(total_min);
        for a in &mut areas {
            let share = part_of(budget, a.weight, all_weight);
            a.share = Some(share);
            a.cap = Some(match (a.min, slack) {
                (Some(min), Some(slack)) => {
                    min.saturating_add(part_of(slack, a.weight, all_weight))
                }
                (Some(min), None) => min,
                (None, Some(slack)) => part_of(slack, a.weight, all_weight),
                (None, None) => share,
            });
        }
    }
    for a in &mut areas {
        a.cap = opt_min(a.cap, item_budget(facts, a.area));
        if a.parts.is_empty() {
            continue;
        }
        let n = a.parts.len() as u64;
        let slack = a.cap.map(|cap| cap.saturating_sub(a.min.unwrap_or(0)));
        for p in &mut a.parts {
            p.cap = slack.map(|slack| p.min.unwrap_or(0).saturating_add(part_of(slack, 1, n)));
        }
    }
    Allocation {
        budget: facts.budget,
        areas,
    }
}

impl Allocation {
    /// The allocation of one area, when it is active.
    pub(crate) fn area(&self, area: AgentName) -> Option<&AreaAllocation> {
        self.areas.iter().find(|a| a.area == area)
    }

    /// The price cap of an area: its allocated cap when active, else the item
    /// budget (passed in, since the allocation does not keep the facts).
    pub(crate) fn cap(&self, area: AgentName, facts: &Facts) -> Option<u64> {
        match self.area(area) {
            Some(a) => a.cap,
            None => item_budget(facts, area),
        }
    }

    /// The cap of one vendor category (`None`: uncapped).
    pub(crate) fn vendor_cap(&self, category: &str) -> Option<u64> {
        self.area(AgentName::Vendor)
            .and_then(|a| a.parts.iter().find(|p| p.category == category))
            .and_then(|p| p.cap)
    }

    /// Σ of the per-area minimums (areas with no option count nothing).
    pub(crate) fn cheapest_total(&self) -> u64 {
        self.areas
            .iter()
            .filter_map(|a| a.min)
            .fold(0, u64::saturating_add)
    }

    /// With a stated budget: whether some combination fits.
    pub(crate) fn fits(&self) -> Option<bool> {
        self.budget.map(|b| self.cheapest_total() <= b)
    }

    /// With a stated budget that no combination meets: by how much the
    /// cheapest combination exceeds it.
    pub(crate) fn overrun(&self) -> Option<u64> {
        self.budget
            .and_then(|b| self.cheapest_total().checked_sub(b))
            .filter(|o| *o > 0)
    }

    /// When nothing fits: the area whose minimum exceeds its share the most
    /// (ties: the larger minimum, then [`SHARES`] order).
    pub(crate) fn cut_area(&self) -> Option<AgentName> {
        self.overrun()?;
        let mut best: Option<(&AreaAllocation, u64, u64)> = None;
        for a in &self.areas {
            let Some(min) = a.min else { continue };
            let excess = min.saturating_sub(a.share.unwrap_or(0));
            if best.is_none_or(|(_, e, m)| (excess, min) > (e, m)) {
                best = Some((a, excess, min));
            }
        }
        best.map(|(a, _, _)| a.area)
    }

    /// Whether an area's options are over its share because nothing fits.
    pub(crate) fn over_share(&self, area: AgentName) -> bool {
        self.fits() == Some(false) && self.area(area).is_some_and(|a| a.min.is_some())
    }

    /// The allocation as the budget result shows it.
    pub(crate) fn to_fit(&self) -> Option<BudgetFit> {
        let budget = self.budget?;
        Some(BudgetFit {
            budget,
            cheapest_total: self.cheapest_total(),
            fits: self.cheapest_total() <= budget,
            overrun: self.overrun().unwrap_or(0),
            cut_area: self.cut_area().map(|a| area_name(a).to_string()),
            areas: self
                .areas
                .iter()
                .map(|a| AreaShare {
                    area: area_name(a.area).to_string(),
                    weight_percent: a.weight,
                    min: a.min,
                    share: a.share.unwrap_or(0),
                    cap: a.cap,
                })
                .collect(),
        })
    }
}

/// "a", "a and b", "a, b and c".
pub(crate) fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A catalog city as records spell it ("hillcrest" → "Hillcrest").
pub(crate) fn display_city(catalog: &Catalog, city: &str) -> String {
    let wanted = city.trim().to_lowercase();
    catalog
        .venues
        .iter()
        .map(|v| v.city.as_str())
        .chain(catalog.bakeries.iter().map(|b| b.city.as_str()))
        .chain(catalog.caterers.iter().map(|c| c.city.as_str()))
        .chain(catalog.vendors.iter().map(|v| v.city.as_str()))
        .find(|c| c.trim().to_lowercase() == wanted)
        .map_or_else(|| city.trim().to_string(), |c| c.trim().to_string())
}

/// Rule 2 of the issue: when the person named a city the catalog lacks,
/// the note every search agent leads with: "No suppliers in Austin yet;
/// showing venues in Springfield and Fairview" (the cities of the records
/// shown, in order of first appearance).
pub(crate) fn missing_city_note<'a>(
    facts: &Facts,
    what: &str,
    shown_cities: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if facts.city.is_some() {
        return None;
    }
    let stated = facts.city_stated.as_deref()?.trim();
    if stated.is_empty() {
        return None;
    }
    let mut cities: Vec<String> = Vec::new();
    for c in shown_cities {
        let c = c.trim().to_string();
        if !cities.contains(&c) {
            cities.push(c);
        }
    }
    Some(if cities.is_empty() {
        format!("No suppliers in {stated} yet; no {what} to show elsewhere either")
    } else {
        format!(
            "No suppliers in {stated} yet; showing {what} in {}",
            join_and(&cities)
        )
    })
}

/// Puts the missing-city note ([`missing_city_note`]) first among `notes`,
/// naming the cities of the records shown: the hits, or the nearest options
/// when nothing meets every need.
pub(crate) fn lead_with_missing_city<T>(
    notes: &mut Vec<String>,
    facts: &Facts,
    what: &str,
    hits: &[crate::domain::Scored<T>],
    nearest: &[crate::domain::Scored<T>],
    city: impl Fn(&T) -> &str,
) {
    let shown = if hits.is_empty() { nearest } else { hits };
    if let Some(n) = missing_city_note(facts, what, shown.iter().map(|s| city(&s.record))) {
        notes.insert(0, n);
    }
}

/// The label on a search agent's note when no combination fits the budget.
pub(crate) fn over_share_note(alloc: &Allocation, area: AgentName, what: &str) -> Option<String> {
    if !alloc.over_share(area) {
        return None;
    }
    let a = alloc.area(area)?;
    let budget = alloc.budget?;
    Some(format!(
        "No plan in the catalog fits your ${budget} budget (the cheapest costs ${}); \
         showing the cheapest {what} (the {} share is ${})",
        alloc.cheapest_total(),
        area_name(area),
        a.share.unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{catalog, facts};

    fn with_areas(mut f: Facts, areas: &[AgentName]) -> Facts {
        f.areas = areas.to_vec();
        f
    }

    #[test]
    fn shares_sum_to_100() {
        assert_eq!(SHARES.iter().map(|s| s.1).sum::<u64>(), 100);
    }

    #[test]
    fn active_areas_default_to_all_costs() {
        assert_eq!(active_areas(&Facts::default()).len(), 4);
        let f = Facts {
            cake_declined: true,
            ..Facts::default()
        };
        assert!(!active_areas(&f).contains(&AgentName::Cake));
        let f = with_areas(
            Facts::default(),
            &[AgentName::Theme, AgentName::Cake, AgentName::Venue],
        );
        assert_eq!(active_areas(&f), [AgentName::Venue, AgentName::Cake]);
    }

    #[test]
    fn caps_share_the_slack_and_sum_within_the_budget() {
        let c = catalog();
        let f = with_areas(
            facts(Some(40), Some(3000)),
            &[AgentName::Venue, AgentName::Catering],
        );
        let a = allocation(&f, &c);
        assert_eq!(a.areas.len(), 2);
        let v = &a.areas[0];
        let k = &a.areas[1];
        let (vm, km) = (v.min.unwrap_or(0), k.min.unwrap_or(0));
        let slack = 3000 - vm - km;
        // Venue and catering weigh 35 each: half the slack each.
        assert_eq!(v.cap, Some(vm + slack / 2));
        assert_eq!(k.cap, Some(km + slack / 2));
        assert_eq!(a.fits(), Some(true));
        assert_eq!((a.overrun(), a.cut_area()), (None, None));
        let caps: u64 = a.areas.iter().filter_map(|x| x.cap).sum();
        assert!(caps <= 3000);
    }

    #[test]
    fn item_budget_caps_its_area() {
        let c = catalog();
        let mut f = with_areas(facts(Some(40), Some(3000)), &[AgentName::Cake]);
        f.cake_budget = Some(90);
        assert_eq!(allocation(&f, &c).cap(AgentName::Cake, &f), Some(90));
        // Inactive area: the item budget alone.
        assert_eq!(allocation(&f, &c).cap(AgentName::Catering, &f), None);
        f.catering_budget = Some(400);
        assert_eq!(allocation(&f, &c).cap(AgentName::Catering, &f), Some(400));
    }

    #[test]
    fn no_fit_caps_at_the_minimum_and_names_the_area_to_cut() {
        let c = catalog();
        let f = facts(Some(30), Some(500));
        let a = allocation(&f, &c);
        assert_eq!(a.fits(), Some(false));
        for x in &a.areas {
            assert_eq!(x.cap, x.min, "{:?}", x.area);
        }
        assert_eq!(a.overrun(), Some(a.cheapest_total() - 500));
        // Vendors: four categories, far above their $100 share.
        assert_eq!(a.cut_area(), Some(AgentName::Vendor));
        let fit = a.to_fit().unwrap_or_else(|| panic!("budget stated"));
        assert_eq!(fit.cut_area.as_deref(), Some("vendors"));
        assert!(!fit.fits);
    }

    #[test]
    fn vendor_parts_split_the_vendor_slack() {
        let c = catalog();
        let mut f = with_areas(facts(Some(30), Some(2000)), &[AgentName::Vendor]);
        f.vendor_categories = vec!["photography".into(), "decorations".into()];
        let a = allocation(&f, &c);
        let v = a
            .area(AgentName::Vendor)
            .unwrap_or_else(|| panic!("active"));
        assert_eq!(v.parts.len(), 2);
        let caps: u64 = v.parts.iter().filter_map(|p| p.cap).sum();
        assert!(caps <= 2000);
        assert!(caps >= 1999);
        assert_eq!(a.vendor_cap("photography"), v.parts[0].cap);
    }

    #[test]
    fn huge_amounts_do_not_overflow() {
        let c = catalog();
        let mut f = facts(Some(u32::MAX), Some(u64::MAX));
        f.catering_budget = Some(u64::MAX);
        let a = allocation(&f, &c);
        assert_eq!(a.area(AgentName::Venue).and_then(|x| x.min), None);
        assert_eq!(a.fits(), Some(true));
        let _ = a.to_fit();
    }

    #[test]
    fn notes() {
        assert_eq!(join_and(&["a".into()]), "a");
        assert_eq!(
            join_and(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
        let c = catalog();
        assert_eq!(display_city(&c, "hillcrest"), "Hillcrest");
        let mut f = Facts {
            city_stated: Some("Austin".into()),
            ..Facts::default()
        };
        assert_eq!(
            missing_city_note(&f, "venues", ["Springfield", "Fairview", "Springfield"]).as_deref(),
            Some("No suppliers in Austin yet; showing venues in Springfield and Fairview")
        );
        f.city = Some("austin".into());
        assert_eq!(missing_city_note(&f, "venues", ["Springfield"]), None);
    }
}
#[cfg(test)]
mod plan_tests {
    //! The whole stage: the four cost agents on the real embedded catalog,
    //! then the budget agent, held against the allocation.
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party, set_result};
    use crate::agents::{budget, cake, catering, planner, vendor, venue};
    use crate::catalog::{BakeryQuery, CatererQuery, VendorQuery, VenueQuery};
    use crate::domain::{AgentOutput, Priority};
    use crate::store::Party;

    /// Runs the active cost agents (each on the same snapshot, as one
    /// stage), then the budget agent.
    fn stage(f: &Facts) -> Party {
        let c = catalog();
        let mut p = party(&[("party", &[])]);
        let snapshot = p.clone();
        let i = agent_input(&snapshot, f, &c);
        for area in active_areas(f) {
            let out = match area {
                AgentName::Venue => AgentOutput::Venue(venue::run(&i)),
                AgentName::Cake => AgentOutput::Cake(cake::run(&i)),
                AgentName::Catering => AgentOutput::Catering(catering::run(&i)),
                _ => AgentOutput::Vendor(vendor::run(&i)),
            };
            set_result(&mut p, area, out);
        }
        let b = budget::run(&agent_input(&p, f, &c));
        crate::agents::testutil::set_budget(&mut p, b);
        p
    }

    /// Σ of the top picks of the active areas.
    fn picks_total(p: &Party, f: &Facts) -> u64 {
        let active: Vec<&str> = active_areas(f).into_iter().map(area_name).collect();
        budget::top_picks(p)
            .into_iter()
            .filter(|(area, _)| active.contains(area))
            .map(|(_, price)| price)
            .sum()
    }

    #[test]
    fn a_shared_allocation_fits_where_independent_picks_do_not() {
        let c = catalog();
        let f = facts(Some(100), Some(2000));
        // Before: each agent alone under the whole budget (vendors 15 % per
        // category) picked its best match; together they cost more than $2000.
        let g = 100;
        let venue = c.search_venues(&VenueQuery {
            guests: g,
            max_price: Some(2000),
            limit: 1,
            ..VenueQuery::default()
        });
        let bakery = c.search_bakeries(&BakeryQuery {
            size: "large".into(),
            limit: 1,
            ..BakeryQuery::default()
        });
        let caterer = c.search_caterers(&CatererQuery {
            guests: g,
            limit: 1,
            ..CatererQuery::default()
        });
        let mut independent = venue.hits[0].record.daily_price
            + bakery.hits[0].record.price_range.large
            + caterer.hits[0].record.price_per_person * u64::from(g);
        for category in crate::catalog::VENDOR_CATEGORIES {
            let v = c.search_vendors(&VendorQuery {
                category: category.into(),
                max_price: Some(300),
                limit: 1,
                ..VendorQuery::default()
            });
            independent += v.hits.first().map_or(0, |h| h.record.avg_price);
        }
        assert!(independent > 2000, "{independent}");
        // Now: the cheapest combination ($1940) fits, so the picks do.
        let a = allocation(&f, &c);
        assert_eq!((a.cheapest_total(), a.fits()), (1940, Some(true)));
        let p = stage(&f);
        let total = picks_total(&p, &f);
        assert!(total <= 2000, "{total}");
        let b = p.budget.as_deref().unwrap_or_else(|| panic!("budget"));
        assert!(!b.over_budget);
        let fit = b.fit.as_ref().unwrap_or_else(|| panic!("fit"));
        assert!(fit.fits && fit.overrun == 0 && fit.cut_area.is_none());
        assert_eq!(fit.areas.len(), 4);
        assert!(b.recommendations.iter().any(|r| r.starts_with(&format!(
            "Your top picks total ${total}, within your $2000 budget (shares: venue up to $"
        ))));
    }

    #[test]
    fn a_budget_no_combination_meets_names_the_overrun_and_the_area_to_cut() {
        let c = catalog();
        // Superhero birthday, 30 kids, outdoor, $500: all four areas.
        let mut f = facts(Some(30), Some(500));
        f.setting = Some("outdoor".into());
        let a = allocation(&f, &c);
        let cheapest = a.cheapest_total();
        assert!(cheapest > 500);
        let p = stage(&f);
        // Every agent still recommends its cheapest option, labelled.
        assert_eq!(picks_total(&p, &f), cheapest);
        if let Some(AgentOutput::Venue(v)) = p.result(AgentName::Venue) {
            let note = v.note.clone().unwrap_or_default();
            assert!(
                note.starts_with("No plan in the catalog fits your $500 budget"),
                "{note}"
            );
            assert!(v.recommended_venues.iter().all(|x| x.record.outdoor));
        }
        let b = p.budget.as_deref().unwrap_or_else(|| panic!("budget"));
        let fit = b.fit.as_ref().unwrap_or_else(|| panic!("fit"));
        assert_eq!((fit.fits, fit.overrun), (false, cheapest - 500));
        assert_eq!(fit.cut_area.as_deref(), Some("vendors"));
        assert!(b.over_budget);
        let line = format!(
            "No combination in the catalog fits your $500 budget: the cheapest plan costs \
             ${cheapest}, ${} over; cut the vendors first",
            cheapest - 500
        );
        assert!(
            b.recommendations.iter().any(|r| r.starts_with(&line)),
            "{:?}",
            b.recommendations
        );
        // The plan says it too.
        let plan = planner::run(&agent_input(&p, &f, &c));
        assert!(plan
            .recommendations
            .iter()
            .any(|r| r.priority == Priority::Critical
                && r.description
                    == format!(
                        "No combination in the catalog fits your $500 budget: the cheapest plan \
                     costs ${cheapest}, ${} over; cut the vendors first or raise the budget",
                        cheapest - 500
                    )));
        assert!(plan.next_steps.iter().any(|s| s
            == &format!(
                "Cut the vendors or raise the budget by ${} so the plan fits",
                cheapest - 500
            )));
    }

    #[test]
    fn a_city_the_catalog_lacks_is_named_by_every_search_agent() {
        let mut f = facts(Some(75), Some(4000));
        f.city_stated = Some("Austin".into());
        let p = stage(&f);
        let notes: Vec<(&str, Option<String>, Vec<String>)> = vec![
            match p.result(AgentName::Venue) {
                Some(AgentOutput::Venue(v)) => (
                    "venues",
                    v.note.clone(),
                    v.recommended_venues
                        .iter()
                        .map(|x| x.record.city.clone())
                        .collect(),
                ),
                _ => panic!("venue"),
            },
            match p.result(AgentName::Cake) {
                Some(AgentOutput::Cake(v)) => (
                    "bakeries",
                    v.note.clone(),
                    v.recommended_bakeries
                        .iter()
                        .map(|x| x.record.city.clone())
                        .collect(),
                ),
                _ => panic!("cake"),
            },
            match p.result(AgentName::Catering) {
                Some(AgentOutput::Catering(v)) => (
                    "caterers",
                    v.note.clone(),
                    v.recommended_caterers
                        .iter()
                        .map(|x| x.record.city.clone())
                        .collect(),
                ),
                _ => panic!("catering"),
            },
            match p.result(AgentName::Vendor) {
                Some(AgentOutput::Vendor(v)) => (
                    "vendors",
                    v.note.clone(),
                    v.vendors_by_category
                        .values()
                        .flatten()
                        .map(|x| x.record.city.clone())
                        .collect(),
                ),
                _ => panic!("vendor"),
            },
        ];
        for (what, note, cities) in notes {
            assert!(!cities.is_empty(), "{what}");
            let mut distinct: Vec<String> = Vec::new();
            for c in cities {
                if !distinct.contains(&c) {
                    distinct.push(c);
                }
            }
            let expected = format!(
                "No suppliers in Austin yet; showing {what} in {}",
                join_and(&distinct)
            );
            assert_eq!(
                note.as_deref()
                    .map(|n| n.split("; ").take(2).collect::<Vec<_>>().join("; ")),
                Some(expected)
            );
        }
    }

    /// Property over the real catalog: whenever the per-area minimums sum
    /// within the budget, the top picks do too; and every area that has an
    /// option recommends one.
    #[test]
    fn top_picks_fit_whenever_some_combination_does() {
        let c = catalog();
        let area_sets: [&[AgentName]; 6] = [
            &[],
            &[AgentName::Venue, AgentName::Catering],
            &[AgentName::Venue, AgentName::Cake],
            &[AgentName::Vendor],
            &[AgentName::Cake, AgentName::Catering, AgentName::Vendor],
            &[
                AgentName::Theme,
                AgentName::Venue,
                AgentName::Cake,
                AgentName::Catering,
                AgentName::Vendor,
                AgentName::Budget,
            ],
        ];
        let cities = [
            None,
            Some("springfield"),
            Some("hillcrest"),
            Some("maplewood"),
            Some("fairview"),
        ];
        let (mut checked, mut fitting, mut not_fitting) = (0, 0, 0);
        for guests in [8u32, 25, 45, 75, 120, 220] {
            for budget in [300u64, 900, 1600, 2400, 3500, 6000] {
                for city in cities {
                    for (k, areas) in area_sets.iter().enumerate() {
                        let mut f = facts(Some(guests), Some(budget));
                        f.city = city.map(str::to_string);
                        f.areas = areas.to_vec();
                        if (guests as usize + k).is_multiple_of(3) {
                            f.setting = Some("outdoor".into());
                        }
                        if (budget as usize / 100 + k).is_multiple_of(4) {
                            f.dietary = vec!["vegetarian".into()];
                        }
                        if k % 2 == 1 {
                            f.vendor_categories =
                                vec!["decorations".into(), "entertainment".into()];
                        }
                        let a = allocation(&f, &c);
                        let p = stage(&f);
                        let total = picks_total(&p, &f);
                        checked += 1;
                        let ctx = format!("{guests} guests ${budget} {city:?} {areas:?}: picks ${total}, cheapest ${}", a.cheapest_total());
                        if a.fits() == Some(true) {
                            fitting += 1;
                            assert!(total <= budget, "{ctx}");
                            let b = p.budget.as_deref().unwrap_or_else(|| panic!("budget"));
                            assert!(!b.over_budget, "{ctx}");
                        } else {
                            not_fitting += 1;
                            assert_eq!(total, a.cheapest_total(), "{ctx}");
                        }
                        // Every area with an option recommends one.
                        let picked: Vec<&str> =
                            budget::top_picks(&p).into_iter().map(|(n, _)| n).collect();
                        for x in &a.areas {
                            if x.min.is_some() {
                                assert!(picked.contains(&area_name(x.area)), "{ctx}: {:?}", x.area);
                            }
                        }
                    }
                }
            }
        }
        assert!(
            fitting > 100 && not_fitting > 100,
            "{checked}: {fitting} fit, {not_fitting} do not"
        );
    }
}
