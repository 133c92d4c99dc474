//! Themes: every theme word of a text, with how strongly it names the theme.
//!
//! - `Named`: named as the theme: "unicorn party", "jungle theme",
//!   "dinosaur-themed", "superhero birthday", "theme: space".
//! - `Loved`: "loves princesses", "obsessed with dinosaurs", "is into space".
//! - `Mentioned`: any other mention of a word that names a theme on its own
//!   ("a T-Rex cake"). Weak words ("space", "star", "sea") count only when
//!   named or loved, so "a space for 30 people" is no space party.

use super::super::token::{joinable, Kind, Tok};
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
/// Words before a theme word that say it is wanted ("he wants pirates"):
/// they lift only words that name a theme on their own ("we want a space for
/// 30" is no space party).
const WANTING: &[&str] = &[
    "wants",
    "want",
    "wanted",
    "requested",
    "asked",
    "chose",
    "picked",
];
/// Words after a theme word that say it is loved ("football mad", "dino
/// obsessed", "a huge Marvel fan").
const LOVING_AFTER: &[&str] = &["mad", "obsessed", "crazy", "fan", "lover", "nut", "fanatic"];
/// Word pairs before a theme word that name it as the new theme ("make it
/// dinosaur", "switch to pirates").
const RENAMING: &[(&str, &str)] = &[
    ("make", "it"),
    ("make", "that"),
    ("change", "to"),
    ("switch", "to"),
    ("changed", "to"),
    ("switched", "to"),
    ("go", "with"),
    ("going", "with"),
];
/// Words that make a sentence a correction of the plan ("actually…
/// instead").
const CORRECTING: &[&str] = &["instead", "actually", "changed", "switched", "rather"];
/// Words that may stand between a theme word and its naming word: other
/// theme words ("princess castle theme") and joiners ("space and astronaut").
const NAMING_GAP: &[&str] = &["and", "or", "&"];
/// Words that never stand inside a theme's name ("a space for a party").
const FUNCTION_WORDS: &[&str] = &[
    "for", "a", "an", "the", "with", "at", "in", "on", "of", "to", "my", "our", "his", "her",
    "their", "this", "that", "is", "are", "was", "be", "we", "i", "you", "it", "from", "by",
    "about", "next", "some", "any", "no",
];
/// Words a naming word may stand from its theme word ("princess castle theme").
const NAMING_REACH: usize = 3;
/// Words a loving word may stand before its theme word ("loves all things space").
const LOVING_REACH: usize = 4;

/// Every theme mention that counts, in text order.
pub(super) fn read(toks: &[Tok<'_>], scan: &Scan) -> Vec<Stated<ThemeMention>> {
    let mut out = Vec::new();
    // Sentences that correct the plan.
    let mut correcting = vec![false; scan.sentence.last().map_or(1, |s| s + 1)];
    for (k, t) in toks.iter().enumerate() {
        if CORRECTING.contains(&t.text) {
            correcting[scan.sentence[k]] = true;
        }
    }
    let mut theme_word = vec![false; toks.len()];
    for &(first, last, _, _) in &scan.theme_words {
        for w in theme_word.iter_mut().take(last + 1).skip(first) {
            *w = true;
        }
    }
    for &(first, last, theme, strong) in &scan.theme_words {
        let clause = scan.clause[first];
        let in_clause = |k: usize| scan.clause.get(k) == Some(&clause);
        let is_theme_word = |k: usize| theme_word.get(k).copied().unwrap_or(false);
        // Up to the naming word, only other theme words, joiners and one
        // other content word may stand ("royal tea party", "sea life party";
        // not "a space for a party").
        let mut named_after = None;
        let mut others = 0;
        for k in last + 1..=last + NAMING_REACH {
            if !(in_clause(k) && toks.get(k).is_some_and(|t| joinable(t.sep))) {
                break;
            }
            let w = toks[k].text;
            if NAMING_AFTER.contains(&w) {
                named_after = Some(k);
                break;
            }
            if NAMING_GAP.contains(&w) || is_theme_word(k) {
                continue;
            }
            others += 1;
            if others > 1 || FUNCTION_WORDS.contains(&w) || toks[k].kind != Kind::Word {
                break;
            }
        }
        // "make it dinosaur": the words from "make"; "actually, he now wants
        // dinosaurs instead" (a theme word in a sentence that corrects the
        // plan names the new theme): the theme word's.
        let renamed = if first >= 2
            && RENAMING.contains(&(toks[first - 2].text, toks[first - 1].text))
            && in_clause(first - 2)
        {
            Some(first - 2)
        } else {
            (strong && correcting[scan.sentence[first]]).then_some(first)
        };
        let loved_after = toks
            .get(last + 1)
            .is_some_and(|t| joinable(t.sep) && LOVING_AFTER.contains(&t.text));
        let named_before = (first.saturating_sub(NAMING_REACH)..first)
            .rev()
            .take_while(|&k| in_clause(k))
            .find(|&k| NAMING_BEFORE.contains(&toks[k].text));
        let loved = (first.saturating_sub(LOVING_REACH)..first)
            .rev()
            .take_while(|&k| in_clause(k))
            .find(|&k| {
                LOVING.contains(&toks[k].text) || (strong && WANTING.contains(&toks[k].text))
            });
        let (strength, from, to) = if let Some(k) = named_after {
            (Strength::Named, first, k)
        } else if let Some(from) = renamed {
            (Strength::Named, from, last)
        } else if let Some(k) = named_before {
            (Strength::Named, k, last)
        } else if let Some(k) = loved {
            (Strength::Loved, k, last)
        } else if loved_after {
            (Strength::Loved, first, last + 1)
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
