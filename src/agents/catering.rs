//! `catering_agent`: searches caterers that feed every guest and meet every dietary need.
//!
//! Hard rules, never lifted for `recommended_caterers`: the caterer serves
//! the guest count (its min..=max guests), offers every dietary need, is in
//! the named catalog city, and `price_per_person × guests` stays within
//! catering's cap (its part of the shared budget from [`allocation`], or the
//! stated catering budget). When nothing meets them, the note says which to
//! relax (the budget: by how much, the city, the dietary needs) and `nearest`
//! holds the nearest caterers with `relaxed` naming what they lift; the guest
//! range is never lifted. A city the catalog lacks is named in the note with
//! the cities shown. The estimated total spans the cheapest to the dearest
//! recommended caterer × guests; with no caterer it is the prototype's default
//! {300, 800} (capped by the cap) with a note.
//! Pure: no clock, no randomness.

use crate::catalog::{Caterer, CatererQuery};
use crate::domain::{AgentName, CateringResult, Range};

use super::allocation::{self, display_city};
use super::relax::{relax, Constraint};
use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub(crate) const CONFIDENCE: f64 = 0.85;

/// Caterers recommended at most.
const LIMIT: usize = 3;

/// Default catering estimate when no caterer matches (SPEC §6.5 defaults).
const FALLBACK: (u64, u64) = (300, 800);

/// Runs the agent.
pub(crate) fn run(input: &AgentInput<'_>) -> CateringResult {
    let facts = input.facts;
    let catalog = input.catalog;
    let alloc = allocation::allocation(facts, catalog);
    let cap = alloc.cap(AgentName::Catering, facts);
    let guests = allocation::guests(facts);
    let query = CatererQuery {
        max_total: cap,
        cuisines: facts.cuisines.clone(),
        theme: upstream_theme(input.party).map(str::to_string),
        limit: LIMIT,
        ..allocation::caterer_query(facts)
    };
    let mut notes = Vec::new();
    let hits = catalog.search_caterers(&query);
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
            |c: &Caterer| c.price_per_person,
            |lifted| {
                catalog.search_caterers(&CatererQuery {
                    max_total: cap.filter(|_| !lifted.contains(&Constraint::Budget)),
                    city: query
                        .city
                        .clone()
                        .filter(|_| !lifted.contains(&Constraint::City)),
                    dietary: if lifted.contains(&Constraint::Dietary) {
                        Vec::new()
                    } else {
                        query.dietary.clone()
                    },
                    limit: catalog.caterers.len(),
                    ..query.clone()
                })
            },
        );
        let mut problem = String::from("No caterer");
        if let Some(city) = &city_name {
            problem.push_str(&format!(" in {city}"));
        }
        problem.push_str(&format!(" serves {guests} guests"));
        if !facts.dietary.is_empty() {
            problem.push_str(&format!(" with {} options", facts.dietary.join(", ")));
        }
        if let Some(b) = cap {
            problem.push_str(&format!(" within ${b}"));
        }
        let largest = catalog
            .caterers
            .iter()
            .map(|c| c.max_guests)
            .max()
            .unwrap_or(0);
        let smallest = catalog
            .caterers
            .iter()
            .map(|c| c.min_guests)
            .min()
            .unwrap_or(0);
        if largest < guests {
            problem.push_str(&format!(" (the largest caterer serves {largest})"));
        } else if guests < smallest {
            problem.push_str(&format!(
                " (the smallest party a caterer serves is {smallest})"
            ));
        }
        notes.push(r.note(problem, "caterers", |c, price| match c {
            Constraint::Budget => match (price, cap) {
                (Some(p), Some(c)) => format!(
                    "allow ${} for catering (now ${c})",
                    p.saturating_mul(u64::from(guests))
                ),
                _ => "raise the catering budget".to_string(),
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
    } else if let Some(label) = allocation::over_share_note(&alloc, AgentName::Catering, "caterers")
    {
        notes.push(label);
    }
    allocation::lead_with_missing_city(&mut notes, facts, "caterers", &hits.hits, &nearest, |r| {
        r.city.as_str()
    });

    let per_person = hits.hits.iter().map(|c| c.record.price_per_person);
    let g = u64::from(guests);
    let estimated_total_cost = match (per_person.clone().min(), per_person.max()) {
        (Some(lo), Some(hi)) => Range::new(lo.saturating_mul(g), hi.saturating_mul(g)),
        _ => {
            let hi = cap.map_or(FALLBACK.1, |b| b.min(FALLBACK.1));
            Range::new(FALLBACK.0.min(hi), hi).with_note("Default estimate: no caterer matched")
        }
    };
    CateringResult {
        total_matches: hits.total_matches.max(hits.hits.len()),
        recommended_caterers: hits.hits,
        guest_count: guests,
        dietary_needs: facts.dietary.clone(),
        cuisine_preferences: facts.cuisines.clone(),
        estimated_total_cost,
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
    use crate::agents::cake::meets_dietary;
    use crate::agents::testutil::{agent_input, catalog, facts, party};
    use crate::agents::Facts;

    fn run_with(f: &Facts) -> CateringResult {
        let p = party(&[("food", &[])]);
        let c = catalog();
        run(&agent_input(&p, f, &c))
    }

    #[test]
    fn dietary_is_never_relaxed() {
        let needs = [
            vec![],
            vec!["vegan".to_string()],
            vec!["gluten-free".to_string()],
            vec!["vegetarian".to_string(), "nut-free".to_string()],
            vec![
                "halal".to_string(),
                "kosher".to_string(),
                "vegan".to_string(),
            ],
        ];
        for dietary in needs {
            for guests in [None, Some(10), Some(75), Some(300)] {
                let mut f = facts(guests, None);
                f.dietary = dietary.clone();
                let r = run_with(&f);
                assert_eq!(r.dietary_needs, dietary);
                assert!(r.estimated_total_cost.min <= r.estimated_total_cost.max);
                for c in &r.recommended_caterers {
                    assert!(
                        meets_dietary(&c.record.dietary_options, &dietary),
                        "{}",
                        c.record.name
                    );
                    assert!(
                        c.record.min_guests <= r.guest_count
                            && r.guest_count <= c.record.max_guests
                    );
                }
                if r.recommended_caterers.is_empty() {
                    assert!(r.note.is_some());
                }
            }
        }
    }

    #[test]
    fn total_is_per_person_times_guests() {
        let r = run_with(&facts(Some(40), None));
        assert_eq!(r.guest_count, 40);
        assert!(!r.recommended_caterers.is_empty());
        let ppp: Vec<u64> = r
            .recommended_caterers
            .iter()
            .map(|c| c.record.price_per_person)
            .collect();
        let lo = ppp.iter().min().copied().unwrap_or(0);
        let hi = ppp.iter().max().copied().unwrap_or(0);
        assert_eq!(r.estimated_total_cost, Range::new(lo * 40, hi * 40));
        assert_eq!(r.data_source, "catalog");
    }

    #[test]
    fn catering_budget_caps_total() {
        let mut f = facts(Some(50), None);
        f.catering_budget = Some(700);
        let r = run_with(&f);
        for c in &r.recommended_caterers {
            assert!(c.record.price_per_person * 50 <= 700);
        }
        assert!(r.estimated_total_cost.max <= 700);
        f.catering_budget = Some(5);
        let r = run_with(&f);
        assert!(r.recommended_caterers.is_empty());
        assert_eq!(
            r.note.as_deref(),
            Some(
                "No caterer serves 50 guests within $5: allow $400 for catering (now $5); \
                 showing the nearest caterers (budget relaxed)"
            )
        );
        assert!(!r.nearest.is_empty());
        assert_eq!(
            (r.estimated_total_cost.min, r.estimated_total_cost.max),
            (5, 5)
        );
    }

    #[test]
    fn default_guests() {
        let r = run_with(&Facts::default());
        assert_eq!(r.guest_count, 50);
    }
}
