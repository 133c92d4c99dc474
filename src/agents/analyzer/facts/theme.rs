//! Themes: every theme word of a text, with how strongly it names the theme.
//!
//! - `Named`: named as the theme: "unicorn party", "jungle theme",
//!   "dinosaur-themed", "superhero birthday", "theme: space".
//! - `Loved`: "loves princesses", "obsessed with dinosaurs", "is into space".
//! - `Mentioned`: any other mention of a word that names a theme on its own
//!   ("a T-Rex cake"). Weak words ("space", "star", "sea") count only when
//!   named or loved, so "a space for 30 people" is no space party.

use super::super::token::{joinable, Tok};
use super::{Scan, Stated, ThemeMention};

/// How strongly a text names a theme; the stronger statement wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strength {
    /// Mentioned in passing ("a dinosaur cake").
    Mentioned,
    /// Loved ("loves unicorns", "obsessed with dinosaurs").
    Loved,
    /// Named as the theme ("unicorn party", "jungle theme").
    Named,
}

/// Words after a theme word that name it as the party's theme.
const NAMING_AFTER: &[&str] = &[
    "theme",
    "themed",
    "themes",
    "party",
    "parties",
    "bash",
    "birthday",
    "bday",
    "celebration",
    "extravaganza",
    "style",
];
/// Words before a theme word that name it as the theme ("theme is space").
const NAMING_BEFORE: &[&str] = &["theme", "themed"];
/// Words before a theme word that say it is loved.
const LOVING: &[&str] = &[
    "love",
    "loves",
    "loved",
    "loving",
    "obsessed",
    "into",
    "crazy",
    "fan",
    "adores",
    "adore",
    "favorite",
    "favourite",
    "likes",
    "mad",
];
/// Words a naming word may stand from its theme word ("princess castle theme").
const NAMING_REACH: usize = 3;
/// Words a loving word may stand before its theme word ("loves all things space").
const LOVING_REACH: usize = 4;

/// Every theme mention that counts, in text order.
pub(super) fn read(toks: &[Tok<'_>], scan: &Scan) -> Vec<Stated<ThemeMention>> {
    let mut out = Vec::new();
    for &(first, last, theme, strong) in &scan.theme_words {
        let clause = scan.clause[first];
        let in_clause = |k: usize| scan.clause.get(k) == Some(&clause);
        let named_after = (last + 1..=last + NAMING_REACH)
            .take_while(|&k| in_clause(k) && toks.get(k).is_some_and(|t| joinable(t.sep)))
            .find(|&k| NAMING_AFTER.contains(&toks[k].text));
        let named_before = (first.saturating_sub(NAMING_REACH)..first)
            .rev()
            .take_while(|&k| in_clause(k))
            .find(|&k| NAMING_BEFORE.contains(&toks[k].text));
        let loved = (first.saturating_sub(LOVING_REACH)..first)
            .rev()
            .take_while(|&k| in_clause(k))
            .find(|&k| LOVING.contains(&toks[k].text));
        let (strength, from, to) = if let Some(k) = named_after {
            (Strength::Named, first, k)
        } else if let Some(k) = named_before {
            (Strength::Named, k, last)
        } else if let Some(k) = loved {
            (Strength::Loved, k, last)
        } else if strong {
            (Strength::Mentioned, first, last)
        } else {
            continue;
        };
        out.push(Stated::new(
            ThemeMention {
                theme: usize::from(theme),
                strength,
            },
            toks,
            from,
            to,
        ));
    }
    out
}
