//! `budget_agent`: adds up the cost agents' results (SPEC §6.5 arithmetic),
//! holds the total against the user's stated budget, and suggests cheaper swaps.
//!
//! Breakdown, from the cost agents that have a result:
//! - venue: the top venue's `daily_price` exactly; a free venue is
//!   `{0, 0, note "Free (permit may be required)"}`;
//! - cake: the cake result's `estimated_cost`;
//! - catering: the catering result's `estimated_total_cost`;
//! - vendors: per category, the first vendor's `avg_price` p → `{⌊0.8p⌋, ⌊1.2p⌋}`.
//!
//! When nothing contributed, the SPEC defaults apply (total {1030, 3500},
//! `based_on_agents ["default_estimates"]`); `data_source` is
//! `actual_agent_results` exactly when the breakdown came from results.
//! The stated budget is the user's (`facts.budget`), never a computed one.
//! A total whose upper bound exceeds the stated budget gets a warning first.
//! Over budget (`total.min > stated`) adds a recommendation and, per category,
//! the cheapest catalog alternative that still meets the hard constraints
//! (guests, size, dietary needs, category, the named city, a required
//! setting), saving `current max − alternative max`.
//!
//! # Fit
//! With a stated budget, `fit` is the shared allocation the cost agents
//! filtered by ([`allocation`]): each active area's cheapest option, share and
//! cap, and whether any combination fits. The recommendations lead with it:
//! when some combination fits, the top picks' total against the budget and
//! each area's cap; when none does, by how much the cheapest combination
//! exceeds the budget and which area to cut (its minimum exceeds its share
//! the most).
//! Pure: no clock, no randomness.

use litemap::LiteMap;

use crate::catalog::{BakeryQuery, CatererQuery, Hits, VendorQuery, VenueQuery};
use crate::domain::{AgentName, AgentOutput, Budget, BudgetFit, Delta, Range, Swap};

use super::allocation::{self, area_name};
use super::cake::price_for;
use super::vendor::price_range;
use super::AgentInput;

/// Note on a free venue's cost.
pub(crate) const FREE_VENUE_NOTE: &str = "Free (permit may be required)";

/// The constant cost-saving tips (SPEC §6.5).
pub(crate) const COST_SAVING_TIPS: [&str; 6] = [
    "Book vendors 2-3 months in advance for early-bird discounts",
    "Consider weekday parties for 20-30% lower rates",
    "DIY decorations add personal touch and save money",
    "Digital invitations are free and eco-friendly",
    "Buy bulk supplies from wholesale stores",
    "Reuse and repurpose decorations from previous parties",
];

/// Default estimates when no cost agent contributed (SPEC §6.5).
const DEFAULTS: [(&str, u64, u64); 6] = [
    ("venue", 200, 1000),
    ("cake", 80, 300),
    ("catering", 300, 800),
    ("decorations", 100, 400),
    ("entertainment", 200, 600),
    ("photography", 150, 400),
];

/// Advice by the total's upper bound (SPEC §6.5).
fn recommendations_for(total_max: u64) -> Vec<String> {
    let list: &[&str] = if total_max > 2000 {
        &[
            "Consider DIY decorations to reduce costs",
            "Look for venue/catering package deals",
            "Book vendors 2-3 months in advance for discounts",
        ]
    } else if total_max > 1000 {
        &[
            "Compare quotes from multiple vendors",
            "Consider off-peak timing for better rates",
            "Limit guest count if budget is tight",
        ]
    } else {
        &[
            "Focus on essential items first",
            "Consider home venue to save costs",
            "DIY entertainment and decorations",
            "Potluck-style catering option",
        ]
    };
    list.iter().map(|s| s.to_string()).collect()
}

/// Computes the budget.
pub(crate) fn run(input: &AgentInput<'_>) -> Budget {
    let party = input.party;
    let mut breakdown: LiteMap<String, Range> = LiteMap::new();
    let mut based_on: Vec<String> = Vec::new();

    if let Some(AgentOutput::Venue(v)) = party.result(AgentName::Venue) {
        if let Some(top) = v.recommended_venues.first() {
            let p = top.record.daily_price;
            let r = if p > 0 {
                Range::exact(p)
            } else {
                Range::exact(0).with_note(FREE_VENUE_NOTE)
            };
            breakdown.insert("venue".into(), r);
            based_on.push(AgentName::Venue.as_str().into());
        }
    }
    if let Some(AgentOutput::Cake(c)) = party.result(AgentName::Cake) {
        breakdown.insert("cake".into(), c.estimated_cost.clone());
        based_on.push(AgentName::Cake.as_str().into());
    }
    if let Some(AgentOutput::Catering(c)) = party.result(AgentName::Catering) {
        breakdown.insert("catering".into(), c.estimated_total_cost.clone());
        based_on.push(AgentName::Catering.as_str().into());
    }
    if let Some(AgentOutput::Vendor(v)) = party.result(AgentName::Vendor) {
        let mut any = false;
        for (category, vendors) in &v.vendors_by_category {
            if let Some(top) = vendors.first().filter(|t| t.record.avg_price > 0) {
                breakdown.insert(category.clone(), price_range(top.record.avg_price));
                any = true;
            }
        }
        if any {
            based_on.push(AgentName::Vendor.as_str().into());
        }
    }

    let data_source = if breakdown.is_empty() {
        for (k, lo, hi) in DEFAULTS {
            breakdown.insert(k.into(), Range::new(lo, hi));
        }
        based_on = vec!["default_estimates".into()];
        "default_estimates"
    } else {
        "actual_agent_results"
    };

    let total = Range::new(
        breakdown.values().map(|r| r.min).sum(),
        breakdown.values().map(|r| r.max).sum(),
    );
    let stated = input.facts.budget;
    let over_budget = stated.is_some_and(|s| total.min > s);
    let mut recommendations = recommendations_for(total.max);
    let fit = allocation::allocation(input.facts, input.catalog).to_fit();
    if let Some(line) = fit.as_ref().and_then(|f| fit_line(f, &top_picks(party))) {
        recommendations.insert(0, line);
    }
    let mut swaps = Vec::new();
    if let (true, Some(s)) = (over_budget, stated) {
        recommendations.insert(
            0,
            format!("Over your ${s} budget by ${} at the low end", total.min - s),
        );
        swaps = find_swaps(input);
    } else if let Some(s) = stated.filter(|s| total.max > *s) {
        recommendations.insert(
            0,
            format!(
                "Within your ${s} budget at the low end, but up to ${} over at the high end",
                total.max - s
            ),
        );
    }

    let (previous_total, delta) = match party.budget.as_deref() {
        Some(old) => {
            let old = old.total_budget.clone();
            let delta = Delta {
                min: signed(total.min) - signed(old.min),
                max: signed(total.max) - signed(old.max),
            };
            (Some(old), Some(delta))
        }
        None => (None, None),
    };

    Budget {
        total_budget: total,
        previous_total,
        delta,
        breakdown,
        based_on_agents: based_on,
        recommendations,
        cost_saving_tips: COST_SAVING_TIPS.iter().map(|s| s.to_string()).collect(),
        data_source: data_source.into(),
        stated_budget: stated,
        over_budget,
        swaps,
        fit,
    }
}

/// The price of each cost agent's top pick, by area name, from the results
/// the party has (vendors: the sum over categories).
pub(crate) fn top_picks(party: &crate::store::Party) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    if let Some(AgentOutput::Venue(v)) = party.result(AgentName::Venue) {
        if let Some(top) = v.recommended_venues.first() {
            out.push((area_name(AgentName::Venue), top.record.daily_price));
        }
    }
    if let Some(AgentOutput::Cake(c)) = party.result(AgentName::Cake) {
        if let Some(top) = c.recommended_bakeries.first() {
            out.push((
                area_name(AgentName::Cake),
                price_for(&top.record, &c.size_recommendation),
            ));
        }
    }
    if let Some(AgentOutput::Catering(c)) = party.result(AgentName::Catering) {
        if let Some(top) = c.recommended_caterers.first() {
            out.push((
                area_name(AgentName::Catering),
                top.record
                    .price_per_person
                    .saturating_mul(u64::from(c.guest_count)),
            ));
        }
    }
    if let Some(AgentOutput::Vendor(v)) = party.result(AgentName::Vendor) {
        let tops: Vec<u64> = v
            .vendors_by_category
            .values()
            .filter_map(|l| l.first().map(|t| t.record.avg_price))
            .collect();
        if !tops.is_empty() {
            out.push((
                area_name(AgentName::Vendor),
                tops.iter().fold(0, |a, b| a.saturating_add(*b)),
            ));
        }
    }
    out
}

/// The recommendation on the fit: the top picks against the budget and the
/// caps, or the overrun and the area to cut.
fn fit_line(fit: &BudgetFit, picks: &[(&str, u64)]) -> Option<String> {
    let b = fit.budget;
    if !fit.fits {
        let cut = fit
            .areas
            .iter()
            .find(|a| Some(&a.area) == fit.cut_area.as_ref());
        let mut line = format!(
            "No combination in the catalog fits your ${b} budget: the cheapest plan costs ${}, ${} over",
            fit.cheapest_total, fit.overrun
        );
        if let Some(a) = cut {
            line.push_str(&format!(
                "; cut the {} first (its cheapest option costs ${}, its share is ${})",
                a.area,
                a.min.unwrap_or(0),
                a.share
            ));
        }
        return Some(line);
    }
    let caps: Vec<String> = fit
        .areas
        .iter()
        .filter_map(|a| a.cap.map(|c| format!("{} up to ${c}", a.area)))
        .collect();
    let caps = if caps.is_empty() {
        String::new()
    } else {
        format!(" (shares: {})", caps.join(", "))
    };
    if picks.is_empty() {
        return Some(format!("Your ${b} budget is shared across the plan{caps}"));
    }
    let total = picks.iter().fold(0u64, |a, (_, p)| a.saturating_add(*p));
    Some(if total <= b {
        format!("Your top picks total ${total}, within your ${b} budget{caps}")
    } else {
        format!(
            "Your top picks total ${total}, ${} over your ${b} budget{caps}",
            total - b
        )
    })
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The cheapest record of `hits` by `price` (ties: best ranked first).
fn cheapest<T>(hits: &Hits<T>, price: impl Fn(&T) -> u64) -> Option<(&T, u64)> {
    hits.hits
        .iter()
        .map(|h| (h.record.as_ref(), price(&h.record)))
        .reduce(|best, x| if x.1 < best.1 { x } else { best })
}

/// Cheaper alternatives, largest saving first.
fn find_swaps(input: &AgentInput<'_>) -> Vec<Swap> {
    let party = input.party;
    let catalog = input.catalog;
    let city = &input.facts.city;
    let mut swaps = Vec::new();

    if let Some(AgentOutput::Venue(v)) = party.result(AgentName::Venue) {
        if let Some(top) = v
            .recommended_venues
            .first()
            .filter(|t| t.record.daily_price > 0)
        {
            let p = top.record.daily_price;
            let hits = catalog.search_venues(&VenueQuery {
                guests: v.search_criteria.guest_count,
                max_price: Some(p - 1),
                theme: v.search_criteria.theme.clone(),
                city: v.search_criteria.city.clone(),
                setting: v.search_criteria.location.clone(),
                setting_required: v.search_criteria.setting_required,
                limit: catalog.venues.len(),
            });
            let guests = v.search_criteria.guest_count;
            let hits = Hits {
                hits: hits
                    .hits
                    .into_iter()
                    .filter(|h| h.record.capacity >= guests && h.record.daily_price < p)
                    .collect(),
                total_matches: 0,
                min_price: None,
            };
            if let Some((alt, a)) = cheapest(&hits, |r| r.daily_price) {
                swaps.push(Swap {
                    category: "venue".into(),
                    current: format!("{} (${p})", top.record.name),
                    alternative: format!("{} (${a}, seats {})", alt.name, alt.capacity),
                    saves: p - a,
                });
            }
        }
    }

    if let Some(AgentOutput::Cake(c)) = party.result(AgentName::Cake) {
        let size = c.size_recommendation.as_str();
        let dearest = c
            .recommended_bakeries
            .iter()
            .map(|b| (b.record.as_ref(), price_for(&b.record, size)))
            .reduce(|best, x| if x.1 > best.1 { x } else { best });
        if let Some((cur, cm)) = dearest.filter(|d| d.1 > 0) {
            let hits = catalog.search_bakeries(&BakeryQuery {
                size: size.to_string(),
                max_price: Some(cm - 1),
                theme: Some(c.theme.clone()),
                themed: c.cake_style == "themed" && cur.custom_designs,
                dietary: c.dietary_needs.clone(),
                flavors: c.flavors.clone(),
                city: city.clone(),
                limit: catalog.bakeries.len(),
            });
            let found = cheapest(&hits, |b| price_for(b, size)).filter(|(b, a)| {
                *a < cm && super::cake::meets_dietary(&b.dietary_options, &c.dietary_needs)
            });
            if let Some((alt, a)) = found {
                swaps.push(Swap {
                    category: "cake".into(),
                    current: format!("{} ({size}, ${cm})", cur.name),
                    alternative: format!("{} ({size}, ${a})", alt.name),
                    saves: cm - a,
                });
            }
        }
    }

    if let Some(AgentOutput::Catering(c)) = party.result(AgentName::Catering) {
        let guests = u64::from(c.guest_count);
        let dearest = c
            .recommended_caterers
            .iter()
            .map(|r| (r.record.as_ref(), r.record.price_per_person * guests))
            .reduce(|best, x| if x.1 > best.1 { x } else { best });
        if let Some((cur, cm)) = dearest.filter(|d| d.1 > 0) {
            let hits = catalog.search_caterers(&CatererQuery {
                guests: c.guest_count,
                max_total: Some(cm - 1),
                dietary: c.dietary_needs.clone(),
                cuisines: c.cuisine_preferences.clone(),
                theme: None,
                city: city.clone(),
                limit: catalog.caterers.len(),
            });
            let found = cheapest(&hits, |r| r.price_per_person * guests).filter(|(r, a)| {
                *a < cm
                    && r.min_guests <= c.guest_count
                    && c.guest_count <= r.max_guests
                    && super::cake::meets_dietary(&r.dietary_options, &c.dietary_needs)
            });
            if let Some((alt, a)) = found {
                swaps.push(Swap {
                    category: "catering".into(),
                    current: format!("{} (${cm} for {guests} guests)", cur.name),
                    alternative: format!("{} (${a} for {guests} guests)", alt.name),
                    saves: cm - a,
                });
            }
        }
    }

    if let Some(AgentOutput::Vendor(v)) = party.result(AgentName::Vendor) {
        for (category, vendors) in &v.vendors_by_category {
            let Some(top) = vendors.first().filter(|t| t.record.avg_price > 0) else {
                continue;
            };
            let p = top.record.avg_price;
            let hits = catalog.search_vendors(&VendorQuery {
                category: category.clone(),
                max_price: Some(p - 1),
                theme: None,
                city: city.clone(),
                limit: catalog.vendors.len(),
            });
            let found = cheapest(&hits, |r| r.avg_price)
                .filter(|(r, a)| *a < p && r.category.eq_ignore_ascii_case(category));
            if let Some((alt, a)) = found {
                let saves = price_range(p).max - price_range(a).max;
                if saves > 0 {
                    swaps.push(Swap {
                        category: category.clone(),
                        current: format!("{} (${p})", top.record.name),
                        alternative: format!("{} (${a})", alt.name),
                        saves,
                    });
                }
            }
        }
    }

    swaps.sort_by(|a, b| {
        b.saves
            .cmp(&a.saves)
            .then_with(|| a.category.cmp(&b.category))
    });
    swaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party, set_budget, set_result};
    use crate::agents::{cake, catering, vendor, venue, Facts};
    use crate::catalog::Catalog;
    use crate::domain::{CakeResult, Scored, VenueCriteria, VenueResult};
    use crate::store::Party;
    use std::sync::Arc;

    fn venue_named(c: &Catalog, name: &str, guests: u32) -> AgentOutput {
        let record = c
            .venues
            .iter()
            .find(|v| v.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("catalog has no venue {name}"));
        AgentOutput::Venue(VenueResult {
            recommended_venues: vec![Scored {
                record,
                match_score: 1.0,
                match_reasons: vec![],
            }],
            total_matches: 1,
            search_criteria: VenueCriteria {
                guest_count: guests,
                guest_count_stated: true,
                budget: None,
                theme: None,
                location: None,
                city: None,
                setting_required: false,
            },
            data_source: "catalog".into(),
            note: None,
            nearest: vec![],
            relaxed: None,
            budget_cap: None,
        })
    }

    fn cake_with_cost(lo: u64, hi: u64) -> AgentOutput {
        AgentOutput::Cake(CakeResult {
            recommended_bakeries: vec![],
            total_matches: 0,
            cake_style: "traditional".into(),
            theme: "general".into(),
            decorations: vec![],
            estimated_cost: Range::new(lo, hi),
            size_recommendation: "large".into(),
            flavors: vec![],
            dietary_needs: vec![],
            cake_budget: None,
            data_source: "catalog".into(),
            note: None,
            nearest: vec![],
            relaxed: None,
            budget_cap: None,
        })
    }

    fn budget_of(p: &Party, f: &Facts) -> Budget {
        let c = catalog();
        run(&agent_input(p, f, &c))
    }

    #[test]
    fn defaults_when_no_cost_agent() {
        let p = party(&[("party", &[])]);
        let b = budget_of(&p, &Facts::default());
        assert_eq!(b.total_budget, Range::new(1030, 3500));
        assert_eq!(b.based_on_agents, ["default_estimates"]);
        assert_eq!(b.data_source, "default_estimates");
        assert_eq!(b.breakdown.len(), 6);
        assert_eq!(*b.breakdown.get("catering").unwrap(), Range::new(300, 800));
        assert_eq!(
            b.recommendations,
            [
                "Consider DIY decorations to reduce costs",
                "Look for venue/catering package deals",
                "Book vendors 2-3 months in advance for discounts"
            ]
        );
        assert_eq!(b.cost_saving_tips.len(), 6);
        assert_eq!(
            b.cost_saving_tips[1],
            "Consider weekday parties for 20-30% lower rates"
        );
        assert_eq!((b.previous_total.clone(), b.delta.clone()), (None, None));
        assert!(!b.over_budget);
        assert!(b.swaps.is_empty());
    }

    #[test]
    fn grand_hotel_plus_cake_estimate() {
        let c = catalog();
        let mut p = party(&[("party", &[])]);
        set_result(
            &mut p,
            AgentName::Venue,
            venue_named(&c, "Grand Hotel Conference Center", 75),
        );
        set_result(&mut p, AgentName::Cake, cake_with_cost(80, 200));
        let b = budget_of(&p, &Facts::default());
        let hotel = c
            .venues
            .iter()
            .find(|v| v.name == "Grand Hotel Conference Center")
            .map(|v| v.daily_price)
            .unwrap_or(0);
        assert_eq!(*b.breakdown.get("venue").unwrap(), Range::exact(hotel));
        assert_eq!(*b.breakdown.get("cake").unwrap(), Range::new(80, 200));
        assert_eq!(b.total_budget, Range::new(hotel + 80, hotel + 200));
        assert_eq!(b.based_on_agents, ["venue_agent", "cake_agent"]);
        assert_eq!(b.data_source, "actual_agent_results");
    }

    #[test]
    fn spec_arithmetic_with_prototype_prices() {
        // Grand Hotel at $2000 + the prototype's default cake {80, 200} → {2080, 2200}.
        let c = catalog();
        let mut p = party(&[("party", &[])]);
        let mut hotel = venue_named(&c, "Grand Hotel Conference Center", 75);
        if let AgentOutput::Venue(v) = &mut hotel {
            let mut rec = (*v.recommended_venues[0].record).clone();
            rec.daily_price = 2000;
            v.recommended_venues[0].record = Arc::new(rec);
        }
        set_result(&mut p, AgentName::Venue, hotel);
        set_result(&mut p, AgentName::Cake, cake_with_cost(80, 200));
        let b = budget_of(&p, &Facts::default());
        assert_eq!(b.total_budget, Range::new(2080, 2200));
        assert_eq!(
            b.recommendations[0],
            "Consider DIY decorations to reduce costs"
        );
    }

    #[test]
    fn free_venue_and_recommendation_tiers() {
        let c = catalog();
        let free = c
            .venues
            .iter()
            .find(|v| v.daily_price == 0)
            .map(|v| v.name.clone());
        let Some(free) = free else { return };
        let mut p = party(&[("party", &[])]);
        set_result(&mut p, AgentName::Venue, venue_named(&c, &free, 10));
        let b = budget_of(&p, &Facts::default());
        assert_eq!(
            *b.breakdown.get("venue").unwrap(),
            Range::exact(0).with_note(FREE_VENUE_NOTE)
        );
        assert_eq!(b.total_budget, Range::new(0, 0));
        assert_eq!(b.recommendations.len(), 4);
        assert_eq!(b.recommendations[0], "Focus on essential items first");
        set_result(&mut p, AgentName::Cake, cake_with_cost(900, 1500));
        let b = budget_of(&p, &Facts::default());
        assert_eq!(b.recommendations[0], "Compare quotes from multiple vendors");
    }

    #[test]
    fn high_end_warning_when_only_the_upper_bound_is_over() {
        let mut p = party(&[("party", &[])]);
        set_result(&mut p, AgentName::Cake, cake_with_cost(100, 300));
        let b = budget_of(&p, &facts(None, Some(250)));
        assert!(!b.over_budget);
        assert!(b.swaps.is_empty());
        assert_eq!(
            b.recommendations[0],
            "Within your $250 budget at the low end, but up to $50 over at the high end"
        );
        let b = budget_of(&p, &facts(None, Some(300)));
        // The fit leads: no plan of all four areas fits $300.
        assert!(b.recommendations[0].starts_with("No combination in the catalog fits your $300"));
        assert_eq!(b.recommendations[1], "Focus on essential items first");
    }

    #[test]
    fn previous_total_and_delta() {
        let p0 = party(&[("party", &[])]);
        let first = budget_of(&p0, &Facts::default());
        let mut p = p0.clone();
        set_budget(&mut p, first);
        set_result(&mut p, AgentName::Cake, cake_with_cost(80, 300));
        let b = budget_of(&p, &Facts::default());
        assert_eq!(b.previous_total, Some(Range::new(1030, 3500)));
        assert_eq!(
            b.delta,
            Some(Delta {
                min: 80 - 1030,
                max: 300 - 3500
            })
        );
    }

    /// A party whose cost agents all ran on the real catalog.
    fn full_party(f: &Facts) -> Party {
        let c = catalog();
        let mut p = party(&[("party", &[])]);
        for (agent, out) in [
            (
                AgentName::Venue,
                AgentOutput::Venue(venue::run(&agent_input(&p, f, &c))),
            ),
            (
                AgentName::Cake,
                AgentOutput::Cake(cake::run(&agent_input(&p, f, &c))),
            ),
            (
                AgentName::Catering,
                AgentOutput::Catering(catering::run(&agent_input(&p, f, &c))),
            ),
            (
                AgentName::Vendor,
                AgentOutput::Vendor(vendor::run(&agent_input(&p, f, &c))),
            ),
        ] {
            set_result(&mut p, agent, out);
        }
        p
    }

    #[test]
    fn vendor_and_catering_arithmetic() {
        let f = facts(Some(40), None);
        let p = full_party(&f);
        let b = budget_of(&p, &f);
        if let Some(AgentOutput::Vendor(v)) = p.result(AgentName::Vendor) {
            for (cat, vs) in &v.vendors_by_category {
                if let Some(top) = vs.first() {
                    let pr = top.record.avg_price;
                    assert_eq!(
                        *b.breakdown.get(cat).unwrap(),
                        Range::new(pr * 8 / 10, pr * 12 / 10)
                    );
                }
            }
        }
        if let Some(AgentOutput::Catering(cr)) = p.result(AgentName::Catering) {
            assert_eq!(
                *b.breakdown.get("catering").unwrap(),
                cr.estimated_total_cost
            );
        }
        let sum_min: u64 = b.breakdown.values().map(|r| r.min).sum();
        let sum_max: u64 = b.breakdown.values().map(|r| r.max).sum();
        assert_eq!(b.total_budget, Range::new(sum_min, sum_max));
        assert_eq!(
            b.based_on_agents,
            [
                "venue_agent",
                "cake_agent",
                "catering_agent",
                "vendor_agent"
            ]
        );
    }

    #[test]
    fn over_budget_flag_recommendation_and_swaps() {
        // A generous hypothetical plan (no stated budget), then hold it to a tight one.
        let c = catalog();
        let f_search = facts(Some(75), None);
        let mut p = full_party(&f_search);
        let dearest = c
            .venues
            .iter()
            .filter(|v| v.capacity >= 75)
            .max_by_key(|v| v.daily_price)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        set_result(&mut p, AgentName::Venue, venue_named(&c, &dearest, 75));
        let tight = facts(Some(75), Some(500));
        let b = budget_of(&p, &tight);
        assert!(b.over_budget);
        assert_eq!(b.stated_budget, Some(500));
        assert_eq!(
            b.recommendations[0],
            format!(
                "Over your $500 budget by ${} at the low end",
                b.total_budget.min - 500
            )
        );
        assert!(!b.swaps.is_empty());
        let venue_swap = b.swaps.iter().find(|s| s.category == "venue");
        let vs = venue_swap.unwrap_or_else(|| panic!("no venue swap in {:?}", b.swaps));
        assert!(vs.current.starts_with(&dearest));
        assert!(vs.saves > 0);
        for w in b.swaps.windows(2) {
            assert!(w[0].saves >= w[1].saves);
        }
        // The swapped-in venue seats the guests and is cheaper.
        let alt = c
            .venues
            .iter()
            .find(|v| vs.alternative.starts_with(&v.name));
        let alt = alt.unwrap_or_else(|| panic!("unknown alternative {}", vs.alternative));
        assert!(alt.capacity >= 75);
        // Deterministic.
        assert_eq!(b, budget_of(&p, &tight));
        // Within budget: no flag, no swaps.
        let rich = facts(Some(75), Some(1_000_000));
        let b = budget_of(&p, &rich);
        assert!(!b.over_budget);
        assert!(b.swaps.is_empty());
    }
}
