//! `cake_agent`: searches bakeries for the cake.
//!
//! Size by guests (SPEC §6.4: < 20 small, < 50 medium, else large; unknown →
//! 50 → large). A cake is `themed` when the upstream theme is known and is
//! not `general`; themed cakes want a bakery with custom designs (a wish:
//! dropped with a note when no such bakery fits). Hard rules, never lifted
//! for `recommended_bakeries`: every dietary need is met, the bakery is in the
//! named catalog city, and the price of the chosen size stays within the
//! cake's cap (its part of the shared budget from [`allocation`], or the
//! stated cake budget). When nothing meets them, the note says which to relax
//! (the budget: by how much, the city, the dietary needs, in that order) and
//! `nearest` holds the nearest bakeries with `relaxed` naming what they lift.
//! A city the catalog lacks is named in the note with the cities shown. The
//! estimated cost spans the recommended bakeries' prices for the chosen size,
//! so `min <= max` always holds (D8).
//! Pure: no clock, no randomness.

use crate::catalog::{Bakery, BakeryQuery};
use crate::domain::{AgentName, CakeResult, Range};

use super::allocation::{self, display_city};
use super::relax::{relax, Constraint};
use super::theme::GENERAL;
use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub(crate) const CONFIDENCE: f64 = 0.85;

/// Bakeries recommended at most.
const LIMIT: usize = 3;

/// Cost assumed when no bakery matches: the prototype's {80, 300}.
const FALLBACK_MIN: u64 = 80;
/// Upper bound of the fallback cost when no cake budget is stated.
const FALLBACK_MAX: u64 = 300;

/// Cake size for a guest count (SPEC §6.4).
pub(crate) fn size_for(guests: u32) -> &'static str {
    if guests < 20 {
        "small"
    } else if guests < 50 {
        "medium"
    } else {
        "large"
    }
}

/// A bakery's price for a size name (`large` for anything unknown).
pub(crate) fn price_for(bakery: &Bakery, size: &str) -> u64 {
    match size {
        "small" => bakery.price_range.small,
        "medium" => bakery.price_range.medium,
        _ => bakery.price_range.large,
    }
}

/// Cake decoration ideas per theme (SPEC §6.4).
pub(crate) fn decorations_for(theme: &str) -> [&'static str; 3] {
    match theme {
        "jungle" => ["animal figurines", "leaf patterns", "safari colors"],
        "space" => ["planet toppers", "star sprinkles", "galaxy frosting"],
        "princess" => ["crown topper", "pink frosting", "sparkles"],
        "superhero" => ["superhero figurines", "cityscape design", "cape details"],
        "unicorn" => ["unicorn horn", "rainbow layers", "magical sprinkles"],
        "dinosaur" => ["dino topper", "volcano design", "prehistoric colors"],
        "ocean" => ["mermaid topper", "blue waves", "seashell decorations"],
        "farm" => ["barn cake", "animal toppers", "tractor design"],
        _ => ["basic decorations", "colored frosting", "birthday message"],
    }
}

/// Whether a supplier offers every dietary need. Names are compared trimmed,
/// lowercased, with spaces and underscores read as `-` (`Gluten Free` is
/// `gluten-free`), as the catalog search compares them.
pub(crate) fn meets_dietary(offered: &[String], needs: &[String]) -> bool {
    let canon = |s: &str| s.trim().to_lowercase().replace([' ', '_'], "-");
    needs
        .iter()
        .all(|n| offered.iter().any(|o| canon(o) == canon(n)))
}

/// Runs the agent.
pub(crate) fn run(input: &AgentInput<'_>) -> CakeResult {
    let facts = input.facts;
    let catalog = input.catalog;
    let alloc = allocation::allocation(facts, catalog);
    let cap = alloc.cap(AgentName::Cake, facts);
    let base = allocation::bakery_query(facts);
    let size = size_for(allocation::guests(facts));
    let theme = upstream_theme(input.party).map(str::to_string);
    let themed = theme.as_deref().is_some_and(|t| t != GENERAL);
    let query = BakeryQuery {
        max_price: cap,
        theme: theme.clone(),
        themed,
        flavors: facts.flavors.clone(),
        limit: LIMIT,
        ..base
    };
    let mut notes: Vec<String> = Vec::new();
    let mut hits = catalog.search_bakeries(&query);
    if hits.hits.is_empty() && themed {
        // Custom designs are a wish, not a need: relaxed with a note.
        let plain = catalog.search_bakeries(&BakeryQuery {
            themed: false,
            ..query.clone()
        });
        if !plain.hits.is_empty() {
            notes.push(
                "No bakery with custom designs matched; showing bakeries without custom designs"
                    .to_string(),
            );
            hits = plain;
        }
    }
    let (mut nearest, mut relaxed) = (Vec::new(), None);
    if hits.hits.is_empty() {
        let mut keys = Vec::new();
        if cap.is_some() {
            keys.push(Constraint::Budget);
        }
        if query.city.is_some() {
            keys.push(Constraint::City);
        }
        if !facts.dietary.is_empty() {
            keys.push(Constraint::Dietary);
        }
        let city_name = query.city.as_deref().map(|c| display_city(catalog, c));
        let r = relax(
            &keys,
            LIMIT,
            |b: &Bakery| price_for(b, size),
            |lifted| {
                catalog.search_bakeries(&BakeryQuery {
                    themed: false,
                    max_price: cap.filter(|_| !lifted.contains(&Constraint::Budget)),
                    city: query
                        .city
                        .clone()
                        .filter(|_| !lifted.contains(&Constraint::City)),
                    dietary: if lifted.contains(&Constraint::Dietary) {
                        Vec::new()
                    } else {
                        query.dietary.clone()
                    },
                    limit: catalog.bakeries.len(),
                    ..query.clone()
                })
            },
        );
        let mut problem = String::from("No bakery");
        if let Some(city) = &city_name {
            problem.push_str(&format!(" in {city}"));
        }
        problem.push_str(&format!(" makes a {size} cake"));
        if !facts.dietary.is_empty() {
            problem.push_str(&format!(" that is {}", facts.dietary.join(", ")));
        }
        if let Some(b) = cap {
            problem.push_str(&format!(" within ${b}"));
        }
        notes.push(r.note(problem, "bakeries", |c, price| match c {
            Constraint::Budget => match (price, cap) {
                (Some(p), Some(c)) => format!("allow ${p} for the cake (now ${c})"),
                _ => "raise the cake budget".to_string(),
            },
            Constraint::City => {
                format!("look beyond {}", city_name.as_deref().unwrap_or("the city"))
            }
            Constraint::Dietary => "relax the dietary needs".to_string(),
            Constraint::Setting => String::new(),
        }));
        relaxed = r.relaxed();
        if let Some((_, h)) = r.nearest {
            nearest = h.hits;
        }
    } else if let Some(label) = allocation::over_share_note(&alloc, AgentName::Cake, "bakeries") {
        notes.push(label);
    }
    allocation::lead_with_missing_city(&mut notes, facts, "bakeries", &hits.hits, &nearest, |r| {
        r.city.as_str()
    });

    let prices = hits.hits.iter().map(|b| price_for(&b.record, size));
    let estimated_cost = match (prices.clone().min(), prices.max()) {
        (Some(lo), Some(hi)) => Range::new(lo, hi),
        _ => {
            let hi = cap.unwrap_or(FALLBACK_MAX);
            Range::new(FALLBACK_MIN.min(hi), hi).with_note("Estimate: no bakery matched")
        }
    };
    let theme_name = theme.unwrap_or_else(|| GENERAL.to_string());
    CakeResult {
        total_matches: hits.total_matches.max(hits.hits.len()),
        recommended_bakeries: hits.hits,
        cake_style: if themed { "themed" } else { "traditional" }.to_string(),
        decorations: decorations_for(&theme_name)
            .iter()
            .map(|s| s.to_string())
            .collect(),
        theme: theme_name,
        estimated_cost,
        size_recommendation: size.to_string(),
        flavors: facts.flavors.clone(),
        dietary_needs: facts.dietary.clone(),
        cake_budget: facts.cake_budget,
        data_source: "catalog".to_string(),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        nearest,
        relaxed,
        budget_cap: cap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party, set_result};
    use crate::agents::Facts;
    use crate::domain::{AgentName, AgentOutput, ThemeResult};
    use std::collections::BTreeMap;

    fn themed_party(theme: Option<&str>) -> crate::store::Party {
        let mut p = party(&[("cake", &[])]);
        if let Some(t) = theme {
            set_result(
                &mut p,
                AgentName::Theme,
                AgentOutput::Theme(ThemeResult {
                    primary_theme: t.into(),
                    theme_scores: BTreeMap::new(),
                    confidence: 0.5,
                    colors: vec![],
                    decorations: vec![],
                    activities: vec![],
                }),
            );
        }
        p
    }

    fn run_with(theme: Option<&str>, f: &Facts) -> CakeResult {
        let p = themed_party(theme);
        let c = catalog();
        run(&agent_input(&p, f, &c))
    }

    #[test]
    fn dietary_names_are_canonical() {
        let offered = vec!["Gluten-Free".to_string(), "vegan".to_string()];
        assert!(meets_dietary(
            &offered,
            &["gluten free".into(), "VEGAN".into()]
        ));
        assert!(meets_dietary(&offered, &[]));
        assert!(!meets_dietary(&offered, &["nut-free".into()]));
    }

    #[test]
    fn sizes() {
        assert_eq!(size_for(0), "small");
        assert_eq!(size_for(19), "small");
        assert_eq!(size_for(20), "medium");
        assert_eq!(size_for(49), "medium");
        assert_eq!(size_for(50), "large");
        assert_eq!(
            run_with(None, &Facts::default()).size_recommendation,
            "large"
        );
    }

    #[test]
    fn style_theme_and_decorations() {
        let r = run_with(Some("space"), &facts(Some(50), None));
        assert_eq!(r.cake_style, "themed");
        assert_eq!(r.theme, "space");
        assert_eq!(
            r.decorations,
            ["planet toppers", "star sprinkles", "galaxy frosting"]
        );
        for b in &r.recommended_bakeries {
            assert!(b.record.custom_designs || r.note.is_some());
        }
        let r = run_with(Some("general"), &facts(Some(10), None));
        assert_eq!(r.cake_style, "traditional");
        assert_eq!(r.theme, "general");
        assert_eq!(
            r.decorations,
            ["basic decorations", "colored frosting", "birthday message"]
        );
        let r = run_with(None, &facts(Some(10), None));
        assert_eq!(r.cake_style, "traditional");
        assert_eq!(r.theme, "general");
    }

    #[test]
    fn estimated_cost_min_le_max_always() {
        for theme in [None, Some("jungle"), Some("general")] {
            for guests in [None, Some(5), Some(30), Some(80)] {
                for budget in [
                    None,
                    Some(0),
                    Some(10),
                    Some(60),
                    Some(100),
                    Some(200),
                    Some(5000),
                ] {
                    for dietary in [
                        vec![],
                        vec!["vegan".to_string()],
                        vec!["gluten-free".to_string(), "nut-free".to_string()],
                    ] {
                        let mut f = facts(guests, None);
                        f.cake_budget = budget;
                        f.dietary = dietary.clone();
                        let r = run_with(theme, &f);
                        assert!(r.estimated_cost.min <= r.estimated_cost.max, "{r:?}");
                        if let Some(b) = budget {
                            assert!(r.estimated_cost.max <= b, "{r:?}");
                        }
                        let size = r.size_recommendation.clone();
                        for bk in &r.recommended_bakeries {
                            assert!(meets_dietary(&bk.record.dietary_options, &dietary));
                            if let Some(b) = budget {
                                assert!(price_for(&bk.record, &size) <= b);
                            }
                        }
                        if r.recommended_bakeries.is_empty() {
                            assert!(r.note.is_some());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fallback_cost_when_nothing_fits() {
        let mut f = facts(Some(80), None);
        f.cake_budget = Some(1);
        let r = run_with(None, &f);
        assert!(r.recommended_bakeries.is_empty());
        assert_eq!((r.estimated_cost.min, r.estimated_cost.max), (1, 1));
        assert_eq!(
            r.note.as_deref(),
            Some(
                "No bakery makes a large cake within $1: allow $115 for the cake (now $1); \
                 showing the nearest bakeries (budget relaxed)"
            )
        );
        assert_eq!(r.relaxed.as_deref(), Some("budget"));
        // Nearest: the cheapest large cakes first.
        let prices: Vec<u64> = r
            .nearest
            .iter()
            .map(|b| b.record.price_range.large)
            .collect();
        assert_eq!(prices.first(), Some(&115));
        assert!(prices.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn cost_spans_recommended_prices() {
        let r = run_with(Some("jungle"), &facts(Some(75), None));
        assert!(!r.recommended_bakeries.is_empty());
        let prices: Vec<u64> = r
            .recommended_bakeries
            .iter()
            .map(|b| b.record.price_range.large)
            .collect();
        assert_eq!(r.estimated_cost.min, *prices.iter().min().unwrap_or(&0));
        assert_eq!(r.estimated_cost.max, *prices.iter().max().unwrap_or(&0));
        assert_eq!(r.data_source, "catalog");
    }
}
