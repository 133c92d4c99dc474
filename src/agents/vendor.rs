//! `vendor_agent`: decorations, entertainment, photography and rentals that
//! suit the theme and the budget.
//!
//! Categories are the ones the user asked for, or all four of
//! [`VENDOR_CATEGORIES`] when none was named. Per category the two best
//! vendors (catalog ranking, theme-aware) are kept. Price cap rule: when the
//! user stated a total budget, each category may take at most
//! [`CATEGORY_SHARE_PERCENT`] % of it (integer dollars, rounded down); the cap
//! is hard. Only the city is relaxed, with a note. The estimate is the sum,
//! over categories, of the top vendor's `avg_price` ±20 %
//! (`min = ⌊0.8 p⌋`, `max = ⌊1.2 p⌋` per category, as the budget agent computes it).
//! Pure: no clock, no randomness.

use std::collections::BTreeMap;

use crate::catalog::{VendorQuery, VENDOR_CATEGORIES};
use crate::domain::{Range, VendorResult};

use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub const CONFIDENCE: f64 = 0.85;

/// Vendors kept per category.
const PER_CATEGORY: usize = 2;

/// Share of the stated total budget one vendor category may take, percent.
/// Four categories at 15 % leave 40 % for venue, cake and food.
pub const CATEGORY_SHARE_PERCENT: u64 = 15;

/// The ±20 % range of a vendor's average price: `{⌊0.8 p⌋, ⌊1.2 p⌋}`.
pub fn price_range(avg_price: u64) -> Range {
    Range::new(avg_price * 8 / 10, avg_price * 12 / 10)
}

/// The per-category price cap for a stated total budget.
pub fn category_cap(budget: Option<u64>) -> Option<u64> {
    budget.map(|b| b * CATEGORY_SHARE_PERCENT / 100)
}

/// Runs the agent.
pub fn run(input: &AgentInput<'_>) -> VendorResult {
    let facts = input.facts;
    let mut categories: Vec<String> = Vec::new();
    for c in &facts.vendor_categories {
        let c = c.to_lowercase();
        if !categories.contains(&c) {
            categories.push(c);
        }
    }
    if categories.is_empty() {
        categories = VENDOR_CATEGORIES.iter().map(|c| c.to_string()).collect();
    }
    let cap = category_cap(facts.budget);
    let theme = upstream_theme(input.party).map(str::to_string);

    let mut by_category = BTreeMap::new();
    let mut relaxed_city = Vec::new();
    let mut unmatched = Vec::new();
    let (mut lo, mut hi) = (0u64, 0u64);
    for category in &categories {
        let mut query = VendorQuery {
            category: category.clone(),
            max_price: cap,
            theme: theme.clone(),
            city: facts.city.clone(),
            limit: PER_CATEGORY,
        };
        let mut hits = input.catalog.search_vendors(&query);
        if hits.hits.is_empty() && query.city.take().is_some() {
            let relaxed = input.catalog.search_vendors(&query);
            if !relaxed.hits.is_empty() {
                relaxed_city.push(category.as_str());
                hits = relaxed;
            }
        }
        // Defence in depth: the hard constraints hold whatever the search returns.
        hits.hits.retain(|v| {
            v.record.category.eq_ignore_ascii_case(category)
                && cap.is_none_or(|c| v.record.avg_price <= c)
        });
        hits.hits.truncate(PER_CATEGORY);
        match hits.hits.first() {
            Some(top) => {
                let r = price_range(top.record.avg_price);
                lo += r.min;
                hi += r.max;
            }
            None => unmatched.push(category.as_str()),
        }
        by_category.insert(category.clone(), hits.hits);
    }

    let mut notes = Vec::new();
    if let (false, Some(city)) = (relaxed_city.is_empty(), &facts.city) {
        notes.push(format!(
            "No {} vendor in {city}; showing vendors in other cities",
            relaxed_city.join(", ")
        ));
    }
    if !unmatched.is_empty() {
        let mut why = format!("No vendor found for {}", unmatched.join(", "));
        if let Some(c) = cap {
            why.push_str(&format!(
                " within ${c} ({CATEGORY_SHARE_PERCENT}% of your budget per category)"
            ));
        }
        notes.push(why);
    }
    VendorResult {
        vendors_by_category: by_category,
        categories_requested: categories,
        estimated_cost: Range::new(lo, hi),
        data_source: "catalog".to_string(),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party};
    use crate::agents::Facts;

    fn run_with(f: &Facts) -> VendorResult {
        let p = party(&[("vendors", &[])]);
        let c = catalog();
        run(&agent_input(&p, f, &c))
    }

    #[test]
    fn price_range_is_plus_minus_twenty_percent() {
        assert_eq!(price_range(500), Range::new(400, 600));
        assert_eq!(price_range(333), Range::new(266, 399));
        assert_eq!(category_cap(Some(2000)), Some(300));
        assert_eq!(category_cap(None), None);
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
        for vs in r.vendors_by_category.values() {
            for v in vs {
                assert!(v.record.avg_price <= 300);
            }
        }
        let mut f = facts(None, Some(10));
        f.vendor_categories = vec!["rentals".into()];
        let r = run_with(&f);
        assert!(r.vendors_by_category["rentals"].is_empty());
        assert_eq!(r.estimated_cost, Range::new(0, 0));
        assert_eq!(
            r.note.as_deref(),
            Some("No vendor found for rentals within $1 (15% of your budget per category)")
        );
    }
}
