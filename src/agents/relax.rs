//! Relaxing a search agent's hard constraints when nothing meets them all:
//! which single constraint would help (and, for money, by how much), which
//! options come nearest, and the note that says so.
//!
//! Owns only the order of attempts and the wording frame; each agent names
//! its constraints and phrases each fix. Nearest options are never
//! recommendations: agents keep them in a separate field.
//! Pure: no clock, no randomness; attempts run in a fixed order.

use crate::catalog::Hits;

/// A hard constraint a search agent may lift to show nearest options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Constraint {
    /// A required venue setting (outdoor, indoor, park, hall).
    Setting,
    /// The price cap (the area's part of the budget, or an item budget).
    Budget,
    /// The catalog city the person named.
    City,
    /// Dietary needs (lifted last: they may be allergies).
    Dietary,
}

impl Constraint {
    /// How `relaxed` names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Constraint::Setting => "setting",
            Constraint::Budget => "budget",
            Constraint::City => "city",
            Constraint::Dietary => "dietary needs",
        }
    }
}

/// What relaxing found.
#[derive(Debug)]
pub(crate) struct Relaxation<T> {
    /// Each constraint that, lifted alone, finds options, with the lowest
    /// price among them (in the order the agent listed its constraints).
    pub singles: Vec<(Constraint, Option<u64>)>,
    /// The first set of constraints (fewest first, then in the listed order)
    /// whose lifting finds options, and those options (cheapest first when
    /// the budget is lifted, else in search rank), at most `limit`.
    pub nearest: Option<(Vec<Constraint>, Hits<T>)>,
}

impl<T> Relaxation<T> {
    /// `relaxed` as the results show it, e.g. `setting and budget`.
    pub(crate) fn relaxed(&self) -> Option<String> {
        self.nearest.as_ref().map(|(set, _)| {
            let names: Vec<String> = set.iter().map(|c| c.name().to_string()).collect();
            super::allocation::join_and(&names)
        })
    }

    /// The note: `problem: fix, or fix` (single fixes), else the fixes of the
    /// nearest set joined with "and", then what the nearest options relax.
    pub(crate) fn note(
        &self,
        problem: String,
        what: &str,
        fix: impl Fn(Constraint, Option<u64>) -> String,
    ) -> String {
        let mut out = problem;
        if !self.singles.is_empty() {
            let fixes: Vec<String> = self.singles.iter().map(|(c, p)| fix(*c, *p)).collect();
            out.push_str(": ");
            out.push_str(&fixes.join(", or "));
        } else if let Some((set, hits)) = &self.nearest {
            let fixes: Vec<String> = set.iter().map(|c| fix(*c, hits.min_price)).collect();
            out.push_str(": ");
            out.push_str(&super::allocation::join_and(&fixes));
        }
        if let Some(relaxed) = self.relaxed() {
            out.push_str(&format!("; showing the nearest {what} ({relaxed} relaxed)"));
        }
        out
    }
}

/// Constraints one relaxation considers at most: 2^4 − 1 = 15 searches of a
/// catalog collection in the worst case, which only runs when nothing fits.
/// Agents list at most three (setting or dietary, budget, city).
const MAX_RELAXABLE: usize = 4;

/// Tries lifting every non-empty subset of `keys` (the first
/// [`MAX_RELAXABLE`]): singles first,
/// then pairs, ...; `search(lifted)` runs the agent's search with those
/// constraints lifted. `price` orders nearest options when the budget is
/// lifted, so the cheapest above the cap come first.
pub(crate) fn relax<T>(
    keys: &[Constraint],
    limit: usize,
    price: impl Fn(&T) -> u64,
    search: impl Fn(&[Constraint]) -> Hits<T>,
) -> Relaxation<T> {
    let n = keys.len().min(MAX_RELAXABLE);
    let mut masks: Vec<u32> = (1..(1u32 << n)).collect();
    // Fewest constraints first; among equals, the earlier-listed first.
    masks.sort_by_key(|m| {
        let idx: Vec<u32> = (0..n as u32).filter(|i| m & (1 << i) != 0).collect();
        (m.count_ones(), idx)
    });
    let mut singles = Vec::new();
    let mut nearest = None;
    for mask in masks {
        let set: Vec<Constraint> = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| keys[i])
            .collect();
        if set.len() > 1 && nearest.is_some() {
            break;
        }
        let mut hits = search(&set);
        if hits.hits.is_empty() {
            continue;
        }
        if set.len() == 1 {
            singles.push((set[0], hits.min_price));
        }
        if nearest.is_none() {
            if set.contains(&Constraint::Budget) {
                hits.hits.sort_by_key(|h| price(&h.record));
            }
            hits.hits.truncate(limit);
            nearest = Some((set, hits));
        }
    }
    Relaxation { singles, nearest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scored;
    use std::sync::Arc;

    fn hits(prices: &[u64]) -> Hits<u64> {
        Hits {
            hits: prices
                .iter()
                .map(|p| Scored {
                    record: Arc::new(*p),
                    match_score: 0.5,
                    match_reasons: vec![],
                })
                .collect(),
            total_matches: prices.len(),
            min_price: prices.iter().min().copied(),
        }
    }

    #[test]
    fn singles_then_pairs_and_cheapest_first_when_budget_lifted() {
        use Constraint::*;
        let r = relax(
            &[Setting, Budget, City],
            2,
            |p| *p,
            |set| match set {
                [Budget] => hits(&[900, 800, 850]),
                [City] => hits(&[100]),
                _ => Hits::none(),
            },
        );
        assert_eq!(r.singles, [(Budget, Some(800)), (City, Some(100))]);
        let (set, h) = r.nearest.as_ref().unwrap_or_else(|| panic!("found"));
        assert_eq!(set, &[Budget]);
        let prices: Vec<u64> = h.hits.iter().map(|s| *s.record).collect();
        assert_eq!(prices, [800, 850]);
        let note = r.note("No venue".into(), "venues", |c, p| {
            format!("{} {}", c.name(), p.unwrap_or(0))
        });
        assert_eq!(
            note,
            "No venue: budget 800, or city 100; showing the nearest venues (budget relaxed)"
        );

        let r = relax(
            &[Setting, City],
            3,
            |p| *p,
            |set| match set {
                [Setting, City] => hits(&[5]),
                _ => Hits::none(),
            },
        );
        assert!(r.singles.is_empty());
        assert_eq!(r.relaxed().as_deref(), Some("setting and city"));

        let r = relax(&[Setting], 3, |p| *p, |_| Hits::<u64>::none());
        assert!(r.nearest.is_none());
        assert_eq!(
            r.note("Nothing".into(), "venues", |_, _| String::new()),
            "Nothing"
        );
    }
}
