//! `venue_agent`: searches venues that honour everything the person stated.
//!
//! Hard constraints (never relaxed for `recommended_venues`): capacity >= the
//! guest count; `daily_price` <= the venue's price cap (its part of the
//! shared budget from [`allocation`], or the stated venue budget); the
//! catalog city, when named; the setting when it is a need
//! (`setting_preferred == false`: outdoor, indoor, park, hall). A preferred
//! setting only ranks: matching venues come first.
//!
//! When nothing meets them all, `recommended_venues` is empty, the note says
//! which constraint to relax (the setting, the budget: by how much, the
//! city), and `nearest` holds the nearest options with `relaxed` naming what
//! they lift. Capacity is never lifted: a venue too small is no option.
//! A city the catalog lacks (`city_stated` without `city`) is named in the
//! note with the cities shown instead. When no combination fits the budget,
//! the cheapest venues are recommended, labelled as over the venue's share.
//! Pure: no clock, no randomness.

use crate::catalog::{Venue, VenueQuery};
use crate::domain::{AgentName, VenueCriteria, VenueResult};

use super::allocation::{self, display_city};
use super::relax::{relax, Constraint};
use super::{upstream_theme, AgentInput};

/// Confidence reported for this agent's results.
pub(crate) const CONFIDENCE: f64 = 0.85;

/// Venues recommended at most.
const LIMIT: usize = 3;

/// Runs the agent.
pub(crate) fn run(input: &AgentInput<'_>) -> VenueResult {
    let facts = input.facts;
    let catalog = input.catalog;
    let alloc = allocation::allocation(facts, catalog);
    let cap = alloc.cap(AgentName::Venue, facts);
    let required = allocation::setting_required(facts);
    let criteria = VenueCriteria {
        guest_count: allocation::guests(facts),
        guest_count_stated: facts.guest_count.is_some(),
        budget: facts.budget,
        theme: upstream_theme(input.party).map(str::to_string),
        location: facts.setting.clone(),
        city: facts.city.clone(),
        setting_required: required,
    };
    let query = VenueQuery {
        max_price: cap,
        theme: criteria.theme.clone(),
        limit: LIMIT,
        ..allocation::venue_query(facts)
    };
    let hits = catalog.search_venues(&query);
    let mut notes = Vec::new();
    let (mut nearest, mut relaxed) = (Vec::new(), None);
    let largest = catalog.venues.iter().map(|v| v.capacity).max().unwrap_or(0);
    if hits.hits.is_empty() && largest < criteria.guest_count {
        notes.push(format!(
            "No venue in the catalog seats {} guests (the largest seats {largest})",
            criteria.guest_count
        ));
    } else if hits.hits.is_empty() {
        let mut keys = Vec::new();
        if required {
            keys.push(Constraint::Setting);
        }
        if cap.is_some() {
            keys.push(Constraint::Budget);
        }
        if query.city.is_some() {
            keys.push(Constraint::City);
        }
        let r = relax(
            &keys,
            LIMIT,
            |v: &Venue| v.daily_price,
            |lifted| {
                catalog.search_venues(&VenueQuery {
                    setting_required: required && !lifted.contains(&Constraint::Setting),
                    max_price: cap.filter(|_| !lifted.contains(&Constraint::Budget)),
                    city: query
                        .city
                        .clone()
                        .filter(|_| !lifted.contains(&Constraint::City)),
                    limit: catalog.venues.len(),
                    ..query.clone()
                })
            },
        );
        let setting = facts.setting.as_deref().unwrap_or_default();
        let city_name = query.city.as_deref().map(|c| display_city(catalog, c));
        let mut problem = String::from("No ");
        if required {
            problem.push_str(&format!("{setting} "));
        }
        problem.push_str("venue");
        if let Some(city) = &city_name {
            problem.push_str(&format!(" in {city}"));
        }
        problem.push_str(&format!(" seats {} guests", criteria.guest_count));
        if let Some(c) = cap {
            problem.push_str(&format!(" within ${c}"));
        }
        notes.push(r.note(problem, "venues", |c, price| match c {
            Constraint::Setting => match setting {
                "outdoor" => "relax the setting to see indoor venues".to_string(),
                "indoor" => "relax the setting to see outdoor venues".to_string(),
                _ => format!("relax the setting to see venues other than a {setting}"),
            },
            Constraint::Budget => match (price, cap) {
                (Some(p), Some(c)) => format!("allow ${p} for the venue (now ${c})"),
                _ => "raise the venue budget".to_string(),
            },
            Constraint::City => {
                format!("look beyond {}", city_name.as_deref().unwrap_or("the city"))
            }
            Constraint::Dietary => String::new(),
        }));
        relaxed = r.relaxed();
        if let Some((_, h)) = r.nearest {
            nearest = h.hits;
        }
    } else if let Some(label) = allocation::over_share_note(&alloc, AgentName::Venue, "venues") {
        notes.push(label);
    }
    allocation::lead_with_missing_city(&mut notes, facts, "venues", &hits.hits, &nearest, |r| {
        r.city.as_str()
    });
    VenueResult {
        total_matches: hits.total_matches.max(hits.hits.len()),
        recommended_venues: hits.hits,
        search_criteria: criteria,
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
    use crate::domain::{AgentOutput, ThemeResult};
    use std::collections::BTreeMap;

    fn run_with(f: &Facts) -> VenueResult {
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
                let g = guests.unwrap_or(crate::agents::allocation::DEFAULT_GUESTS);
                assert_eq!(r.search_criteria.guest_count, g);
                assert_eq!(r.search_criteria.guest_count_stated, guests.is_some());
                assert_eq!(r.search_criteria.budget, budget);
                assert!(r.recommended_venues.len() <= LIMIT);
                for v in &r.recommended_venues {
                    assert!(v.record.capacity >= g, "{} below {g}", v.record.name);
                    if let Some(b) = budget {
                        assert!(v.record.daily_price <= b, "{} above ${b}", v.record.name);
                    }
                    if let Some(cap) = r.budget_cap {
                        assert!(
                            v.record.daily_price <= cap,
                            "{} above ${cap}",
                            v.record.name
                        );
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
        assert!(r.recommended_venues.is_empty() && r.nearest.is_empty());
        assert_eq!(
            r.note.as_deref(),
            Some("No venue in the catalog seats 900 guests (the largest seats 400)")
        );
        let r = run_with(&facts(Some(100_000), None));
        assert_eq!(
            r.note.as_deref(),
            Some("No venue in the catalog seats 100000 guests (the largest seats 400)")
        );
    }

    fn with(mut f: Facts, edit: impl FnOnce(&mut Facts)) -> Facts {
        edit(&mut f);
        f
    }

    #[test]
    fn a_city_where_nothing_fits_names_the_constraint_and_shows_the_nearest() {
        // Hillcrest has no outdoor venue for 300; Maplewood's park seats 400.
        let f = with(facts(Some(300), Some(500)), |f| {
            f.city = Some("hillcrest".into());
            f.setting = Some("outdoor".into());
            f.areas = vec![AgentName::Venue];
        });
        let r = run_with(&f);
        assert!(r.recommended_venues.is_empty());
        assert_eq!(r.total_matches, 0);
        assert_eq!(
            r.note.as_deref(),
            Some(
                "No outdoor venue in Hillcrest seats 300 guests within $500: look beyond \
                 Hillcrest; showing the nearest venues (city relaxed)"
            )
        );
        assert_eq!(r.relaxed.as_deref(), Some("city"));
        assert!(!r.nearest.is_empty());
        for v in &r.nearest {
            assert!(v.record.outdoor && v.record.capacity >= 300 && v.record.daily_price <= 500);
        }
        // A venue budget under every option: the note says how much to allow.
        let f = with(facts(Some(100), None), |f| {
            f.city = Some("springfield".into());
            f.setting = Some("indoor".into());
            f.venue_budget = Some(100);
        });
        let r = run_with(&f);
        assert!(r.recommended_venues.is_empty());
        let note = r.note.unwrap_or_default();
        assert!(
            note.starts_with(
                "No indoor venue in Springfield seats 100 guests within $100: relax the \
                 setting to see outdoor venues, or allow $300 for the venue (now $100)"
            ),
            "{note}"
        );
        assert_eq!(r.relaxed.as_deref(), Some("setting"));
        assert!(r.nearest.iter().all(|v| v.record.daily_price == 0));
    }

    fn superhero_party() -> crate::store::Party {
        let mut p = party(&[(
            "Superhero birthday for 30 kids, outdoor park, budget $500",
            &[],
        )]);
        set_result(
            &mut p,
            AgentName::Theme,
            AgentOutput::Theme(ThemeResult {
                primary_theme: "superhero".into(),
                theme_scores: BTreeMap::from([("superhero".into(), 2)]),
                confidence: 0.2,
                colors: vec![],
                decorations: vec![],
                activities: vec![],
            }),
        );
        p
    }

    #[test]
    fn superhero_outdoor_park_on_500_ranks_the_free_park_first() {
        let c = catalog();
        let p = superhero_party();
        for areas in [
            vec![],
            vec![AgentName::Theme, AgentName::Venue, AgentName::Budget],
            vec![AgentName::Venue, AgentName::Cake, AgentName::Catering],
        ] {
            let f = with(facts(Some(30), Some(500)), |f| {
                f.setting = Some("outdoor".into());
                f.setting_preferred = false;
                f.birthday = true;
                f.areas = areas.clone();
            });
            let r = run(&agent_input(&p, &f, &c));
            assert!(r.search_criteria.setting_required);
            let top = &r.recommended_venues[0].record;
            assert!(top.outdoor && top.daily_price == 0, "{}", top.name);
            assert!(top.venue_type.contains("park"), "{}", top.name);
            for v in &r.recommended_venues {
                assert!(v.record.outdoor, "indoor {} recommended", v.record.name);
                assert!(v.record.capacity >= 30);
                assert!(r.budget_cap.is_some_and(|cap| v.record.daily_price <= cap));
            }
            // "at a park" is a park, not a trampoline park.
            let f = with(f.clone(), |f| f.setting = Some("park".into()));
            let r = run(&agent_input(&p, &f, &c));
            for v in &r.recommended_venues {
                assert!(v.record.outdoor && v.record.venue_type.contains("park"));
            }
        }
    }

    #[test]
    fn a_preferred_setting_ranks_first_a_required_one_filters() {
        let base = with(facts(Some(100), Some(10_000)), |f| {
            f.city = Some("springfield".into());
            f.setting = Some("outdoor".into());
            f.areas = vec![AgentName::Venue];
        });
        let preferred = run_with(&with(base.clone(), |f| f.setting_preferred = true));
        assert!(!preferred.search_criteria.setting_required);
        let outdoor: Vec<bool> = preferred
            .recommended_venues
            .iter()
            .map(|v| v.record.outdoor)
            .collect();
        // Springfield has two outdoor venues for 100: both first, then indoor.
        assert_eq!(outdoor, [true, true, false]);
        let required = run_with(&base);
        assert!(required.search_criteria.setting_required);
        assert_eq!(required.recommended_venues.len(), 2);
        assert!(required.recommended_venues.iter().all(|v| v.record.outdoor));
        assert_eq!(required.total_matches, 2);
        // Home and downtown never filter.
        let home = run_with(&with(base, |f| f.setting = Some("home".into())));
        assert!(!home.search_criteria.setting_required);
        assert_eq!(home.recommended_venues.len(), 3);
    }

    #[test]
    fn a_city_the_catalog_lacks_is_named_with_the_cities_shown() {
        let f = with(facts(Some(75), None), |f| {
            f.city_stated = Some("Austin".into());
        });
        let r = run_with(&f);
        assert!(!r.recommended_venues.is_empty());
        let mut cities: Vec<String> = Vec::new();
        for v in &r.recommended_venues {
            if !cities.contains(&v.record.city) {
                cities.push(v.record.city.clone());
            }
        }
        let note = r.note.unwrap_or_default();
        assert_eq!(
            note,
            format!(
                "No suppliers in Austin yet; showing venues in {}",
                crate::agents::allocation::join_and(&cities)
            )
        );
        // A catalog city: no such note.
        let f = with(facts(Some(75), None), |f| {
            f.city_stated = Some("Riverside".into());
            f.city = Some("riverside".into());
        });
        assert_eq!(run_with(&f).note, None);
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
