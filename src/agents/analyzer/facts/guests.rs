//! Guests: a count with a generic noun or lead ("75 guests", "party of
//! 20", "inviting 40", "guest list is 18", "a dozen kids") wins; else the
//! kids count plus the adults count ("15 kids, 20 adults" → 35); else a bare
//! "for N" not followed by a unit, "$", "%" or a time, and not a year. A
//! range counts its upper end ("20-25 kids" → 25). Capped at [`MAX_GUESTS`].

use super::super::token::{adjacent, joinable, soft, Kind, Tok};
use super::super::vocabulary::{
    GuestClass, GUEST_COUNT_LEADS, GUEST_FILLERS, GUEST_LEADS, GUEST_NOUNS, GUEST_NOUN_LEADS,
    GUEST_OF_LEADS, HEDGES, LINKS, NOT_GUEST_UNITS,
};

use super::{
    int_value, lead_before, multiplier, range_partner, unit_after, word, Role, Scan, Stated,
};
use crate::agents::analyzer::MAX_GUESTS;

/// The guest class of the noun after the amount ending at `end`, if any
/// ("75 guests", "30 little kids").
pub(super) fn guest_noun_after(toks: &[Tok<'_>], end: usize) -> Option<GuestClass> {
    guest_noun_at(toks, end).map(|(c, _)| c)
}

/// The guest class of the noun after the amount ending at `end`, and the
/// noun's token.
fn guest_noun_at(toks: &[Tok<'_>], end: usize) -> Option<(GuestClass, usize)> {
    let class = |w: &str| GUEST_NOUNS.iter().find(|(n, _)| *n == w).map(|(_, c)| *c);
    let w = unit_after(toks, end)?;
    if let Some(c) = class(w) {
        return Some((c, end + 1));
    }
    // "16 total", "15 of them", "20 in total": a count of everyone.
    let dollar = |k: usize| toks.get(k).is_some_and(|t| t.kind == Kind::Dollar);
    let priced = (end >= 1 && dollar(end - 1)) || (end >= 2 && dollar(end - 2));
    let ends_clause = toks
        .get(end + 2)
        .is_none_or(|t| t.kind == Kind::End || super::super::token::clause_break(t.sep));
    let plain = toks.get(end).is_some_and(|t| t.kind == Kind::Num);
    if matches!(w, "total" | "altogether") && plain && !priced && ends_clause {
        return Some((GuestClass::Generic, end + 1));
    }
    if w == "of" && matches!(word(toks, end + 2), Some("them" | "us")) {
        return Some((GuestClass::Generic, end + 2));
    }
    if GUEST_FILLERS.contains(&w) {
        return unit_after(toks, end + 1)
            .and_then(class)
            .map(|c| (c, end + 2));
    }
    None
}

/// The guest count of one text: the first count with a generic noun or lead
/// ("75 guests", "party of 20", "inviting 40"); else the sum of the first
/// kids and first adults counts ("20 kids and 10 adults" → 30); else a bare
/// "for N" ("table for 30").
pub(super) fn read(toks: &[Tok<'_>], role: &[Role], scan: &Scan) -> Option<Stated<u32>> {
    let mut generic: Option<(u32, usize, usize)> = None;
    let mut kids: Option<(u32, usize, usize)> = None;
    let mut adults: Option<(u32, usize, usize)> = None;
    let mut bare: Option<(u32, usize, usize)> = None;
    for i in 0..toks.len() {
        if toks[i].kind != Kind::Num || role[i] != Role::Free {
            continue;
        }
        let (mult, end, _) = multiplier(toks, i);
        let Some(v) = int_value(&toks[i]).and_then(|v| v.checked_mul(u64::from(mult))) else {
            continue;
        };
        if v == 0 {
            continue;
        }
        let v = u32::try_from(v.min(u64::from(MAX_GUESTS))).unwrap_or(MAX_GUESTS);
        if let Some((class, noun)) = guest_noun_at(toks, end) {
            if some_of_them(toks, scan, noun) {
                continue;
            }
            let slot = match class {
                GuestClass::Generic => &mut generic,
                GuestClass::Kids => &mut kids,
                GuestClass::Adults => &mut adults,
            };
            // Several generic counts: the largest is the total the others
            // are parts of ("150 employees plus families, so 300 people");
            // of kids or adults, the first.
            let replace = match class {
                GuestClass::Generic => slot.is_none_or(|(old, _, _)| old < v),
                GuestClass::Kids | GuestClass::Adults => slot.is_none(),
            };
            if replace {
                *slot = Some((v, lead_start(toks, i), noun));
            }
            continue;
        }
        if mult != 1 {
            continue; // "2k" without a guest noun is not a count.
        }
        if let Some(lead) = strong_guest_lead(toks, i) {
            generic.get_or_insert((v, lead, i));
        } else if bare.is_none() && (bare_for(toks, i, v) || revised(toks, i)) {
            // "for 20-25" / "for 20 to 25": the upper end.
            let upper = range_partner(toks, i)
                .filter(|&k| role[k] == Role::Free)
                .and_then(|k| int_value(&toks[k]))
                .and_then(|u| u32::try_from(u.min(u64::from(MAX_GUESTS))).ok());
            let last = range_partner(toks, i).unwrap_or(i);
            bare = Some((upper.map_or(v, |u| u.max(v)), i.saturating_sub(1), last));
        }
    }
    let parts = match (kids, adults) {
        (None, None) => None,
        (Some(k), None) => Some(k),
        (None, Some(a)) => Some(a),
        (Some((k, kf, kl)), Some((a, af, al))) => {
            Some((k.saturating_add(a).min(MAX_GUESTS), kf.min(af), kl.max(al)))
        }
    };
    let (v, first, last) = generic.or(parts).or(bare)?;
    let end = closing_paren(toks, last);
    let mut stated = Stated::new(v, toks, first, end);
    if end != last {
        // The ")" stands in the separator after the last word.
        if let Some(next) = toks.get(end + 1) {
            if let Some(at) = next.sep.find(')') {
                stated.from.1 = toks[end].end() + at + 1;
            }
        }
    }
    Some(stated)
}

/// Verbs after a count's noun that describe some of the guests ("two
/// guests are vegan", "3 kids have nut allergies").
const DESCRIBING: &[&str] = &[
    "are", "is", "have", "has", "need", "needs", "who", "can", "cannot", "don", "eat", "eats",
];

/// True when the count ending at `noun` describes some guests' diet rather
/// than counting everyone: a describing verb, then a dietary word in the clause.
fn some_of_them(toks: &[Tok<'_>], scan: &Scan, noun: usize) -> bool {
    let clause = scan.clause[noun];
    word(toks, noun + 1).is_some_and(|w| DESCRIBING.contains(&w))
        && scan
            .diet_at
            .iter()
            .any(|&d| d > noun && scan.clause[d] == clause)
}

/// A "~" or hedge right before a count belongs to its words ("about 25 kids").
fn lead_start(toks: &[Tok<'_>], i: usize) -> usize {
    match i.checked_sub(1).and_then(|j| word(toks, j)) {
        Some(w) if HEDGES.contains(&w) && soft(toks[i].sep) => i - 1,
        _ => i,
    }
}

/// Extends a count's words over a parenthesis right after it: "35 guests
/// (15 kids, 20 adults)".
fn closing_paren(toks: &[Tok<'_>], last: usize) -> usize {
    if !toks.get(last + 1).is_some_and(|t| t.sep.contains('(')) {
        return last;
    }
    let mut k = last + 1;
    while k + 1 < toks.len() && !toks[k + 1].sep.contains(')') && toks[k + 1].kind != Kind::End {
        k += 1;
    }
    if toks.get(k + 1).is_some_and(|t| t.sep.contains(')')) {
        k
    } else {
        last
    }
}

/// "inviting 40", "expecting about 100", "party of 20", "guest count 60",
/// "party size: 20", "guests: 60", "number of people is 40".
fn strong_guest_lead(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    if let Some(j) = lead_before(toks, i, &[HEDGES]) {
        let w = toks[j].text;
        if GUEST_LEADS.contains(&w) {
            return Some(j);
        }
        if w == "of"
            && soft(toks[j].sep)
            && j > 0
            && word(toks, j - 1).is_some_and(|p| GUEST_OF_LEADS.contains(&p))
        {
            return Some(j - 1);
        }
    }
    if let Some(j) = lead_before(toks, i, &[HEDGES, LINKS]) {
        let w = toks[j].text;
        if GUEST_LEADS.contains(&w) || GUEST_NOUN_LEADS.contains(&w) {
            return Some(j);
        }
        if matches!(w, "count" | "size" | "list" | "number" | "total")
            && j > 0
            && joinable(toks[j].sep)
            && word(toks, j - 1).is_some_and(|p| GUEST_COUNT_LEADS.contains(&p))
        {
            return Some(j - 1);
        }
    }
    None
}

/// Phrases that revise an earlier count: "make it 25", "closer to 60",
/// "more like 40" (read as guests only when nothing else claims the number).
fn revised(toks: &[Tok<'_>], i: usize) -> bool {
    let before = |k: usize| i.checked_sub(k).and_then(|j| word(toks, j));
    let next_is_unit = unit_after(toks, i).is_some_and(|w| NOT_GUEST_UNITS.contains(&w));
    !next_is_unit
        && toks.get(i).is_some_and(|t| soft(t.sep))
        && matches!(
            (before(2), before(1)),
            (Some("make"), Some("it" | "that"))
                | (Some("closer"), Some("to"))
                | (Some("more"), Some("like"))
                | (Some("up"), Some("to"))
                | (Some("bump"), Some("to"))
        )
}

/// A bare "for N" that counts guests: not followed by a unit, "$", "%", a
/// time or date (":30", "/4"), and not a year.
fn bare_for(toks: &[Tok<'_>], i: usize, v: u32) -> bool {
    let led = lead_before(toks, i, &[HEDGES]).is_some_and(|j| toks[j].text == "for");
    if !led || (1900..=2100).contains(&v) {
        return false;
    }
    let Some(next) = toks.get(i + 1) else {
        return true;
    };
    if next.sep.starts_with('%')
        || (next.kind == Kind::Num && next.sep.starts_with([':', '/', '.']))
    {
        return false;
    }
    match next.kind {
        Kind::Dollar => !next.sep.trim().is_empty(),
        Kind::Word => !(adjacent(next.sep) && NOT_GUEST_UNITS.contains(&next.text)),
        Kind::Num | Kind::End => true,
    }
}
