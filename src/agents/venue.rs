//! `venue_agent`: searches venues that seat every guest, within the stated budget.
//!
//! Criteria come from the facts (guest count, the USER's stated total budget,
//! setting, city) and the upstream theme. Hard rules (D7, D8): a venue is never
//! recommended below the guest count nor above the stated budget (the whole
//! stated budget is the venue's hard price cap; the computed budget is never
//! used). Only the city is relaxed, with a note, when it leaves nothing.
//! Pure: no clock, no randomness.

use crate::catalog::VenueQuery;
use crate::domain::{VenueCriteria, VenueResult};

use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub const CONFIDENCE: f64 = 0.85;

/// Guests assumed when no input states a count.
pub const DEFAULT_GUESTS: u32 = 50;

/// Venues recommended at most.
const LIMIT: usize = 3;

/// Runs the agent.
pub fn run(input: &AgentInput<'_>) -> VenueResult {
    let facts = input.facts;
    let criteria = VenueCriteria {
        guest_count: facts.guest_count.unwrap_or(DEFAULT_GUESTS),
        guest_count_stated: facts.guest_count.is_some(),
        budget: facts.budget,
        theme: upstream_theme(input.party).map(str::to_string),
        location: facts.setting.clone(),
        city: facts.city.clone(),
    };
    let mut query = VenueQuery {
        guests: criteria.guest_count,
        max_price: criteria.budget,
        theme: criteria.theme.clone(),
        city: criteria.city.clone(),
        setting: criteria.location.clone(),
        limit: LIMIT,
    };
    let mut hits = input.catalog.search_venues(&query);
    let mut note = None;
    if hits.hits.is_empty() {
        if let Some(city) = query.city.take() {
            hits = input.catalog.search_venues(&query);
            if !hits.hits.is_empty() {
                note = Some(format!(
                    "No suitable venue in {city}; showing venues in other cities"
                ));
            }
        }
    }
    // Defence in depth: the hard constraints hold whatever the search returns.
    hits.hits.retain(|v| {
        v.record.capacity >= criteria.guest_count
            && criteria.budget.is_none_or(|b| v.record.daily_price <= b)
    });
    hits.hits.truncate(LIMIT);
    if hits.hits.is_empty() {
        note = Some(match criteria.budget {
            Some(b) => format!("No venue seats {} guests within ${b}", criteria.guest_count),
            None => format!("No venue seats {} guests", criteria.guest_count),
        });
    }
    VenueResult {
        total_matches: hits.total_matches.max(hits.hits.len()),
        recommended_venues: hits.hits,
        search_criteria: criteria,
        data_source: "catalog".to_string(),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party, set_result};
    use crate::domain::{AgentName, AgentOutput, ThemeResult};
    use std::collections::BTreeMap;

    fn run_with(f: &crate::agents::Facts) -> VenueResult {
        let p = party(&[("party", &[])]);
        let c = catalog();
        run(&agent_input(&p, f, &c))
    }

    #[test]
    fn never_below_guest_count_and_within_budget() {
        for guests in [
            None,
            Some(10),
            Some(40),
            Some(75),
            Some(120),
            Some(200),
            Some(300),
        ] {
            for budget in [
                None,
                Some(0),
                Some(300),
                Some(500),
                Some(1500),
                Some(2000),
                Some(10_000),
            ] {
                let r = run_with(&facts(guests, budget));
                let g = guests.unwrap_or(DEFAULT_GUESTS);
                assert_eq!(r.search_criteria.guest_count, g);
                assert_eq!(r.search_criteria.guest_count_stated, guests.is_some());
                assert_eq!(r.search_criteria.budget, budget);
                assert!(r.recommended_venues.len() <= LIMIT);
                for v in &r.recommended_venues {
                    assert!(v.record.capacity >= g, "{} below {g}", v.record.name);
                    if let Some(b) = budget {
                        assert!(v.record.daily_price <= b, "{} above ${b}", v.record.name);
                    }
                }
                assert_eq!(r.data_source, "catalog");
                if r.recommended_venues.is_empty() {
                    assert!(r.note.is_some());
                }
            }
        }
    }

    #[test]
    fn nothing_fits_explains() {
        let r = run_with(&facts(Some(900), Some(500)));
        assert!(r.recommended_venues.is_empty());
        assert_eq!(
            r.note.as_deref(),
            Some("No venue seats 900 guests within $500")
        );
        let r = run_with(&facts(Some(100_000), None));
        assert_eq!(r.note.as_deref(), Some("No venue seats 100000 guests"));
    }

    #[test]
    fn unknown_city_is_relaxed_with_note() {
        let mut f = facts(Some(20), None);
        f.city = Some("atlantis-nowhere".to_string());
        let r = run_with(&f);
        assert!(!r.recommended_venues.is_empty());
        assert!(r
            .note
            .as_deref()
            .is_some_and(|n| n.contains("atlantis-nowhere")));
        assert_eq!(r.search_criteria.city.as_deref(), Some("atlantis-nowhere"));
    }

    #[test]
    fn uses_upstream_theme_and_is_deterministic() {
        let mut p = party(&[("jungle theme party for 75 guests", &[])]);
        set_result(
            &mut p,
            AgentName::Theme,
            AgentOutput::Theme(ThemeResult {
                primary_theme: "jungle".into(),
                theme_scores: BTreeMap::from([("jungle".into(), 2)]),
                confidence: 0.2,
                colors: vec![],
                decorations: vec![],
                activities: vec![],
            }),
        );
        let f = facts(Some(75), Some(2000));
        let c = catalog();
        let a = run(&agent_input(&p, &f, &c));
        let b = run(&agent_input(&p, &f, &c));
        assert_eq!(a.search_criteria.theme.as_deref(), Some("jungle"));
        assert_eq!(
            serde_json::to_string(&a).ok(),
            serde_json::to_string(&b).ok()
        );
        assert!(!a.recommended_venues.is_empty());
    }
}
