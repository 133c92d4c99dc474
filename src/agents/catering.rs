//! `catering_agent`: searches caterers that feed every guest and meet every dietary need.
//!
//! Hard rules, never relaxed: the caterer serves the guest count (its
//! min..=max guests), offers every dietary need, and `price_per_person ×
//! guests` stays within the stated catering budget. Only the city is relaxed,
//! with a note. The estimated total spans the cheapest to the dearest
//! recommended caterer × guests; with no caterer it is the prototype's default
//! {300, 800} (capped by the catering budget) with a note.
//! Pure: no clock, no randomness.

use crate::catalog::CatererQuery;
use crate::domain::{CateringResult, Range};

use super::cake::meets_dietary;
use super::venue::DEFAULT_GUESTS;
use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub const CONFIDENCE: f64 = 0.85;

/// Caterers recommended at most.
const LIMIT: usize = 3;

/// Default catering estimate when no caterer matches (SPEC §6.5 defaults).
const FALLBACK: (u64, u64) = (300, 800);

/// Runs the agent.
pub fn run(input: &AgentInput<'_>) -> CateringResult {
    let facts = input.facts;
    let guests = facts.guest_count.unwrap_or(DEFAULT_GUESTS);
    let mut query = CatererQuery {
        guests,
        max_total: facts.catering_budget,
        dietary: facts.dietary.clone(),
        cuisines: facts.cuisines.clone(),
        theme: upstream_theme(input.party).map(str::to_string),
        city: facts.city.clone(),
        limit: LIMIT,
    };
    let mut notes = Vec::new();
    let mut hits = input.catalog.search_caterers(&query);
    if hits.hits.is_empty() {
        if let Some(city) = query.city.take() {
            let relaxed = input.catalog.search_caterers(&query);
            if !relaxed.hits.is_empty() {
                notes.push(format!(
                    "No suitable caterer in {city}; showing caterers in other cities"
                ));
                hits = relaxed;
            }
        }
    }
    // Defence in depth: the hard constraints hold whatever the search returns.
    hits.hits.retain(|c| {
        let c = &c.record;
        c.min_guests <= guests
            && guests <= c.max_guests
            && meets_dietary(&c.dietary_options, &facts.dietary)
            && facts
                .catering_budget
                .is_none_or(|max| c.price_per_person * u64::from(guests) <= max)
    });
    hits.hits.truncate(LIMIT);

    let per_person = hits.hits.iter().map(|c| c.record.price_per_person);
    let estimated_total_cost = match (per_person.clone().min(), per_person.max()) {
        (Some(lo), Some(hi)) => Range::new(lo * u64::from(guests), hi * u64::from(guests)),
        _ => {
            let hi = facts
                .catering_budget
                .map_or(FALLBACK.1, |b| b.min(FALLBACK.1));
            Range::new(FALLBACK.0.min(hi), hi).with_note("Default estimate: no caterer matched")
        }
    };
    if hits.hits.is_empty() {
        let mut why = format!("No caterer serves {guests} guests");
        if !facts.dietary.is_empty() {
            why.push_str(&format!(" with {} options", facts.dietary.join(", ")));
        }
        if let Some(b) = facts.catering_budget {
            why.push_str(&format!(" within ${b}"));
        }
        notes.push(why);
    }
    CateringResult {
        total_matches: hits.total_matches.max(hits.hits.len()),
        recommended_caterers: hits.hits,
        guest_count: guests,
        dietary_needs: facts.dietary.clone(),
        cuisine_preferences: facts.cuisines.clone(),
        estimated_total_cost,
        data_source: "catalog".to_string(),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            Some("No caterer serves 50 guests within $5")
        );
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
