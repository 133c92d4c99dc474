//! Ages: "5 year old", "7-year-old", "7yo", "5 y/o", "5th birthday", "sixth
//! birthday", "turning 6", "age 8", "ages 5-8", "5 to 8 year olds" (1..=120).
//! Other ordinals ("the 15th") and "18 months" are marked as never guests nor
//! money. An age is never a guest count.

use super::super::token::{soft, Kind, Tok};
use super::super::vocabulary::{AGE_LEADS, AGE_UNITS, BIRTHDAY, ORDINALS, SMALL_AGE_UNITS};
use super::guests::guest_noun_after;
use super::{int_value, range_partner, unit_after, word, Role};
use crate::agents::analyzer::MAX_AGE;

/// Ordinals written as words, for "sixth birthday".
const ORDINAL_WORDS: &[&str] = &[
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
];

/// Ages read from a text: (ages, first token, last token, whether one is
/// the guest of honour's: "turning 6", "5th birthday", "my 5 year old").
pub(super) type Ages = Option<(Vec<u32>, usize, usize, bool)>;

/// True when number `i` is followed by an age unit ("5 year", "5-year",
/// "5yo", "5 y/o").
fn age_unit_after(toks: &[Tok<'_>], i: usize) -> bool {
    match unit_after(toks, i) {
        Some("y") => toks
            .get(i + 2)
            .is_some_and(|t| t.text == "o" && t.sep == "/"),
        Some(u) => AGE_UNITS.contains(&u),
        None => false,
    }
}

fn age_value(t: &Tok<'_>) -> Option<u32> {
    int_value(t)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| (1..=MAX_AGE).contains(v))
}

/// Words after "my wife's 40th" that make the ordinal something else than
/// a birthday ("our 10th anniversary", "my 3rd graders", "her 2nd year").
const ORDINAL_NOUNS: &[&str] = &[
    "anniversary",
    "anniversaries",
    "grade",
    "grader",
    "graders",
    "street",
    "floor",
    "day",
    "days",
    "time",
    "times",
    "year",
    "years",
    "place",
    "century",
    "of",
    "class",
    "season",
    "wedding",
    "reunion",
    "annual",
    "edition",
    "game",
    "round",
    "child",
    "kid",
    "baby",
    "week",
    "month",
    "attempt",
    "try",
];
/// Family words that own an ordinal even without an apostrophe ("my
/// daughters 5th").
const FAMILY: &[&str] = &[
    "daughters",
    "sons",
    "wifes",
    "husbands",
    "moms",
    "dads",
    "mums",
    "kids",
    "sisters",
    "brothers",
    "bros",
    "grandmas",
    "grandpas",
    "nieces",
    "nephews",
];

/// "my wife's 40th", "her 50th", "my own 35th", "my bro's 21st": an ordinal
/// after a possessive is someone's birthday, unless a noun makes it another
/// ordinal.
fn someones_ordinal(toks: &[Tok<'_>], i: usize) -> bool {
    let possessive = match i.checked_sub(1).and_then(|j| toks.get(j)) {
        Some(p) if p.text == "s" && p.sep.contains(['\'', '\u{2019}']) => true,
        Some(p) => {
            matches!(
                p.text,
                "my" | "his" | "her" | "their" | "our" | "your" | "own"
            ) || FAMILY.contains(&p.text)
        }
        None => false,
    };
    let other = unit_after(toks, i + 1).is_some_and(|w| ORDINAL_NOUNS.contains(&w));
    possessive && !other
}

/// Marks ages and the numbers that are never guests nor money; returns the ages.
pub(super) fn read(toks: &[Tok<'_>], role: &mut [Role]) -> Ages {
    let mut ages: Vec<u32> = Vec::new();
    let mut span: Option<(usize, usize)> = None;
    let mut honour = false;
    let mut add = |v: u32, first: usize, last: usize| {
        if !ages.contains(&v) {
            ages.push(v);
        }
        span = Some(span.map_or((first, last), |(f, l)| (f.min(first), l.max(last))));
    };
    for i in 0..toks.len() {
        if toks[i].kind == Kind::Word {
            // "sixth birthday".
            if let Some(n) = ORDINAL_WORDS.iter().position(|w| *w == toks[i].text) {
                if unit_after(toks, i).is_some_and(|w| BIRTHDAY.contains(&w)) {
                    add(u32::try_from(n + 1).unwrap_or(1), i, i + 1);
                    honour = true;
                }
            }
            continue;
        }
        if toks[i].kind != Kind::Num || role[i] != Role::Free {
            continue;
        }
        let ranged = range_partner(toks, i).is_some_and(|k| age_unit_after(toks, k));
        if age_unit_after(toks, i) || ranged {
            // "5 year old", and the lower end of "5-8 year olds".
            role[i] = Role::Other;
            if let Some(v) = age_value(&toks[i]) {
                role[i] = Role::Age;
                let old = toks.get(i + 2).map(|t| t.text);
                add(v, i, i + 1 + usize::from(old.is_some_and(|w| w == "old")));
                // A singular "5 year old" is one child's age: the guest of
                // honour's, unless the party is for that child's group ("my
                // 10-year-old's class").
                let owns = toks
                    .get(i + 3)
                    .is_some_and(|t| t.text == "s" && t.sep.contains(['\'', '\u{2019}']))
                    && unit_after(toks, i + 3)
                        .is_some_and(|w| !matches!(w, "party" | "birthday" | "bday" | "bash"));
                honour |= !ranged && old == Some("old") && !owns;
            }
            continue;
        }
        if let Some(u) = unit_after(toks, i) {
            if SMALL_AGE_UNITS.contains(&u) {
                role[i] = Role::Other;
                continue;
            }
            if ORDINALS.contains(&u) && toks.get(i + 1).is_some_and(|t| t.sep.is_empty()) {
                role[i] = Role::Other;
                let birthday = unit_after(toks, i + 1).is_some_and(|w| BIRTHDAY.contains(&w));
                if birthday || someones_ordinal(toks, i) {
                    if let Some(v) = age_value(&toks[i]) {
                        role[i] = Role::Age;
                        add(v, i, i + 1 + usize::from(birthday));
                        honour = true;
                    }
                }
                continue;
            }
        }
        let Some(v) = age_value(&toks[i]) else {
            continue;
        };
        let lead = (i > 0 && soft(toks[i].sep))
            .then(|| word(toks, i - 1))
            .flatten()
            .filter(|w| AGE_LEADS.contains(w));
        // The upper end of an age range: "ages 5-8", "ages 5 to 8".
        let range_end =
            ((i >= 1 && role[i - 1] == Role::Age && range_partner(toks, i - 1) == Some(i))
                || (i >= 2 && role[i - 2] == Role::Age && range_partner(toks, i - 2) == Some(i)))
                && guest_noun_after(toks, i).is_none();
        // "sweet 16": a sixteenth birthday.
        if i >= 1 && word(toks, i - 1) == Some("sweet") && v == 16 {
            role[i] = Role::Age;
            add(v, i - 1, i);
            honour = true;
            continue;
        }
        // "he'll be 4", "she will be 6": someone's coming age.
        let will_be = i >= 2
            && word(toks, i - 1) == Some("be")
            && matches!(word(toks, i - 2), Some("ll" | "will" | "gonna"))
            && guest_noun_after(toks, i).is_none()
            && unit_after(toks, i).is_none_or(|w| !matches!(w, "pm" | "am" | "o"));
        if will_be {
            role[i] = Role::Age;
            add(v, i - 1, i);
            honour = true;
            continue;
        }
        if lead.is_some() || range_end {
            role[i] = Role::Age;
            add(v, i.saturating_sub(usize::from(lead.is_some())), i);
            honour |= matches!(lead, Some("turning" | "turns" | "turn" | "turned"));
        }
    }
    let (first, last) = span?;
    Some((ages, first, last, honour))
}
