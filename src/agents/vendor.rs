//! `vendor_agent`: decorations, entertainment, photography and rentals that
//! suit the theme and the budget.
//!
//! Categories are the ones the person asked for, or all four of
//! [`VENDOR_CATEGORIES`](crate::catalog::VENDOR_CATEGORIES) when none was named. Per category the two best
//! vendors (catalog ranking, theme-aware) are kept. Hard rules, never lifted
//! for `vendors_by_category`: the vendor is in the named catalog city and its
//! `avg_price` is within the category's cap: the category's part of the
//! vendors' share of the budget ([`allocation`]: the cheapest vendor of the
//! category plus an equal split of the vendors' slack). A category with no
//! vendor meeting them gets a note saying what to relax (the budget: by how
//! much, the city) and its nearest vendors in `nearest_by_category`. A city the
//! catalog lacks is named in the note with the cities shown. The estimate is
//! the sum, over categories, of the top vendor's `avg_price` ±20 %
//! (`min = ⌊0.8 p⌋`, `max = ⌊1.2 p⌋` per category, as the budget agent computes it).
//! Pure: no clock, no randomness.

use std::collections::BTreeMap;

use crate::catalog::{Vendor, VendorQuery};
use crate::domain::{AgentName, Range, VendorResult};

use super::allocation::{self, display_city};
use super::relax::{relax, Constraint};
use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub(crate) const CONFIDENCE: f64 = 0.85;

/// Vendors kept per category.
const PER_CATEGORY: usize = 2;

/// The ±20 % range of a vendor's average price: `{⌊0.8 p⌋, ⌊1.2 p⌋}`.
pub(crate) fn price_range(avg_price: u64) -> Range {
    Range::new(
        avg_price.saturating_mul(8) / 10,
        avg_price.saturating_mul(12) / 10,
    )
}

/// Runs the agent.
pub(crate) fn run(input: &AgentInput<'_>) -> VendorResult {
    let facts = input.facts;
    let catalog = input.catalog;
    let alloc = allocation::allocation(facts, catalog);
    let categories = allocation::vendor_categories(facts);
    let theme = upstream_theme(input.party).map(str::to_string);

    let mut by_category = BTreeMap::new();
    let mut nearest_by_category = BTreeMap::new();
    let mut relaxed_by_category = BTreeMap::new();
    let mut budget_caps = BTreeMap::new();
    let mut notes = Vec::new();
    let mut shown_cities: Vec<String> = Vec::new();
    let (mut lo, mut hi) = (0u64, 0u64);
    for category in &categories {
        let cap = alloc.vendor_cap(category);
        if let Some(c) = cap {
            budget_caps.insert(category.clone(), c);
        }
        let query = VendorQuery {
            max_price: cap,
            theme: theme.clone(),
            limit: PER_CATEGORY,
            ..allocation::vendor_query(facts, category)
        };
        let hits = catalog.search_vendors(&query);
        match hits.hits.first() {
            Some(top) => {
                let r = price_range(top.record.avg_price);
                lo = lo.saturating_add(r.min);
                hi = hi.saturating_add(r.max);
                shown_cities.extend(hits.hits.iter().map(|v| v.record.city.clone()));
            }
            None => {
                let mut keys = Vec::new();
                if cap.is_some() {
                    keys.push(Constraint::Budget);
                }
                if query.city.is_some() {
                    keys.push(Constraint::City);
                }
                let city_name = query.city.as_deref().map(|c| display_city(catalog, c));
                let r = relax(
                    &keys,
                    PER_CATEGORY,
                    |v: &Vendor| v.avg_price,
                    |lifted| {
                        catalog.search_vendors(&VendorQuery {
                            max_price: cap.filter(|_| !lifted.contains(&Constraint::Budget)),
                            city: query
                                .city
                                .clone()
                                .filter(|_| !lifted.contains(&Constraint::City)),
                            limit: catalog.vendors.len(),
                            ..query.clone()
                        })
                    },
                );
                let mut problem = format!("No {category} vendor");
                if let Some(city) = &city_name {
                    problem.push_str(&format!(" in {city}"));
                }
                if let Some(c) = cap {
                    problem.push_str(&format!(" within ${c}"));
                }
                notes.push(r.note(problem, "vendors", |c, price| match c {
                    Constraint::Budget => match (price, cap) {
                        (Some(p), Some(c)) => format!("allow ${p} for {category} (now ${c})"),
                        _ => "raise the vendor budget".to_string(),
                    },
                    Constraint::City => {
                        format!("look beyond {}", city_name.as_deref().unwrap_or("the city"))
                    }
                    _ => String::new(),
                }));
                if let Some(rel) = r.relaxed() {
                    relaxed_by_category.insert(category.clone(), rel);
                }
                if let Some((_, h)) = r.nearest {
                    shown_cities.extend(h.hits.iter().map(|v| v.record.city.clone()));
                    nearest_by_category.insert(category.clone(), h.hits);
                }
            }
        }
        by_category.insert(category.clone(), hits.hits);
    }
    if by_category.values().any(|v| !v.is_empty()) {
        if let Some(label) = allocation::over_share_note(&alloc, AgentName::Vendor, "vendors") {
            notes.push(label);
        }
    }
    if let Some(n) =
        allocation::missing_city_note(facts, "vendors", shown_cities.iter().map(String::as_str))
    {
        notes.insert(0, n);
    }
    VendorResult {
        vendors_by_category: by_category,
        categories_requested: categories,
        estimated_cost: Range::new(lo, hi),
        data_source: "catalog".to_string(),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        nearest_by_category,
        relaxed: relaxed_by_category,
        budget_caps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party};
    use crate::agents::Facts;
    use crate::catalog::VENDOR_CATEGORIES;
    use crate::domain::AgentName;

    fn run_with(f: &Facts) -> VendorResult {
        let p = party(&[("vendors", &[])]);
        let c = catalog();
        run(&agent_input(&p, f, &c))
    }

    #[test]
    fn price_range_is_plus_minus_twenty_percent() {
        assert_eq!(price_range(500), Range::new(400, 600));
        assert_eq!(price_range(333), Range::new(266, 399));
    }

    #[test]
    fn all_four_categories_by_default() {
        let r = run_with(&Facts::default());
        assert_eq!(r.categories_requested, VENDOR_CATEGORIES);
        assert_eq!(
            r.vendors_by_category.keys().collect::<Vec<_>>(),
            ["decorations", "entertainment", "photography", "rentals"]
        );
        let (mut lo, mut hi) = (0, 0);
        for (cat, vs) in &r.vendors_by_category {
            assert!(vs.len() <= PER_CATEGORY);
            assert!(!vs.is_empty(), "no {cat} vendor in the catalog");
            for v in vs {
                assert_eq!(&v.record.category, cat);
            }
            lo += vs[0].record.avg_price * 8 / 10;
            hi += vs[0].record.avg_price * 12 / 10;
        }
        assert_eq!(r.estimated_cost, Range::new(lo, hi));
        assert_eq!(r.note, None);
    }

    #[test]
    fn requested_categories_and_budget_cap() {
        let mut f = facts(None, Some(2000));
        f.vendor_categories = vec![
            "photography".into(),
            "decorations".into(),
            "photography".into(),
        ];
        let r = run_with(&f);
        assert_eq!(r.categories_requested, ["photography", "decorations"]);
        assert_eq!(r.vendors_by_category.len(), 2);
        assert_eq!(r.budget_caps.len(), 2);
        for (cat, vs) in &r.vendors_by_category {
            assert!(!vs.is_empty());
            for v in vs {
                assert!(v.record.avg_price <= r.budget_caps[cat]);
            }
        }
        // $10 fits no plan: the cheapest rentals vendor, labelled over its share.
        let mut f = facts(None, Some(10));
        f.vendor_categories = vec!["rentals".into()];
        let r = run_with(&f);
        let top = &r.vendors_by_category["rentals"][0].record;
        assert_eq!(top.avg_price, 250);
        assert_eq!(r.budget_caps["rentals"], 250);
        let note = r.note.unwrap_or_default();
        assert!(
            note.starts_with("No plan in the catalog fits your $10 budget"),
            "{note}"
        );
        assert!(note.ends_with("showing the cheapest vendors (the vendors share is $2)"));
    }

    #[test]
    fn a_category_missing_in_the_city_says_what_to_relax() {
        // Springfield's rentals vendor costs $325 and $400: with an item-less
        // $1000 budget on vendors only, each category gets its cheapest plus
        // an equal split of the slack, so both categories fit.
        let mut f = facts(Some(30), Some(1000));
        f.city = Some("springfield".into());
        f.areas = vec![AgentName::Vendor];
        f.vendor_categories = vec!["rentals".into(), "photography".into()];
        let r = run_with(&f);
        let total: u64 = r
            .vendors_by_category
            .values()
            .filter_map(|v| v.first().map(|t| t.record.avg_price))
            .sum();
        assert!(total <= 1000);
        assert!(r
            .vendors_by_category
            .values()
            .flatten()
            .all(|v| v.record.city == "Springfield"));
        // A city the catalog lacks: named, with the cities shown.
        let mut f = facts(Some(30), None);
        f.city_stated = Some("Austin".into());
        f.vendor_categories = vec!["rentals".into()];
        let r = run_with(&f);
        let note = r.note.unwrap_or_default();
        assert!(
            note.starts_with("No suppliers in Austin yet; showing vendors in "),
            "{note}"
        );
        for v in &r.vendors_by_category["rentals"] {
            assert!(note.contains(&v.record.city));
        }
    }
}
