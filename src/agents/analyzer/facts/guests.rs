//! Guests: counts with a guest noun ("75 guests", "a dozen kids", "15 of
//! them") or a lead ("party of 20", "inviting 40", "guest list is 18"). In a
//! sentence counts add up ("15 kids and 20 adults" → 35, "my 3 kids plus 10
//! friends" → 13) unless one is stated as everyone ("18 kids and their
//! parents, so roughly 45 people" → 45) or is a breakdown of another ("35
//! guests (15 kids, 20 adults)" → 35). A later sentence replaces an earlier
//! one, kids and adults part by part. Without counts, a bare "for N" not
//! followed by a unit, "$", "%" or a time. Ranges and offered upper bounds
//! count their upper end ("20-25 kids", "12 kids, maybe 14"). A bare number in
//! a correction ("wait no, 35") is reported apart: it corrects whatever the
//! party stated last. Capped at [`MAX_GUESTS`].

use super::super::token::{adjacent, joinable, soft, Kind, Tok};
use super::super::vocabulary::{
    guest_class, GuestClass, GUEST_COUNT_LEADS, GUEST_FILLERS, GUEST_LEADS, GUEST_NOUN_LEADS,
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
    let class = guest_class;
    let w = unit_after(toks, end)?;
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
    // The noun, across at most a few fillers ("30 little kids", "fifteen or
    // so people", "2 best friends", "40ish people").
    let mut k = end;
    for _ in 0..MAX_FILLERS {
        let w = unit_after(toks, k)?;
        if let Some(c) = class(w) {
            return Some((c, k + 1));
        }
        if w == "or" && word(toks, k + 2) == Some("so") {
            k += 2;
        } else if GUEST_FILLERS.contains(&w) {
            k += 1;
        } else {
            return None;
        }
    }
    None
}

/// Fillers a count may stand from its noun.
const MAX_FILLERS: usize = 3;

/// What one text says about the guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuestCount {
    /// Everyone: "75 guests", "party of 20", "so 45 people in total".
    Total(u32),
    /// Kids and adults counted apart ("12 kids + 8 adults"); a later
    /// statement of one part keeps the other ("actually 10 adults").
    Parts {
        /// Children.
        kids: Option<u32>,
        /// Grown-ups.
        adults: Option<u32>,
    },
}

impl GuestCount {
    /// The head count.
    pub(crate) fn value(self) -> u32 {
        match self {
            GuestCount::Total(v) => v,
            GuestCount::Parts { kids, adults } => kids
                .unwrap_or(0)
                .saturating_add(adults.unwrap_or(0))
                .min(MAX_GUESTS),
        }
    }

    /// `self` stated after `earlier`: a total replaces; a part replaces its
    /// own part and keeps the other when the earlier statement had parts.
    pub(crate) fn after(self, earlier: Option<GuestCount>) -> GuestCount {
        match (earlier, self) {
            (
                Some(GuestCount::Parts {
                    kids: k0,
                    adults: a0,
                }),
                GuestCount::Parts { kids, adults },
            ) => GuestCount::Parts {
                kids: kids.or(k0),
                adults: adults.or(a0),
            },
            (_, later) => later,
        }
    }
}

/// One count with a noun or a lead.
#[derive(Debug, Clone, Copy)]
struct Count {
    value: u32,
    class: GuestClass,
    first: usize,
    last: usize,
    /// Stated as everyone ("so 45 people", "party of 20", "16 total").
    total: bool,
    /// A breakdown of an earlier count ("(15 kids, 20 adults)", "including
    /// 10 kids", "10 of them"): not added.
    breakdown: bool,
}

/// Words right before a count that make it everyone ("so 45 people", "call
/// it 300", "that's 19 people", "in all 30").
const TOTAL_LEADS: &[&str] = &["so", "total", "altogether", "overall", "everyone", "all"];
/// Words right before a count that make it a breakdown of an earlier one.
const BREAKDOWN_LEADS: &[&str] = &["including", "incl", "inc", "includes", "include"];
/// Words that offer an upper bound right after a count ("12 kids, maybe 14").
const UPPER_LEADS: &[&str] = &["maybe", "possibly", "perhaps", "or", "to", "up"];
/// Words an offered upper bound may stand from its count.
const UPPER_REACH: usize = 4;
/// Words that may lead to "N more" after a count ("12 kids confirmed and
/// maybe 3 more", "20 plus 5 more").
const MORE_LEADS: &[&str] = &["and", "plus", "confirmed"];

/// The guest count of one text and a bare number that corrects an earlier
/// count or budget ("wait no, 35"). Within a sentence, counts add up ("15
/// kids and 20 adults", "my 3 kids plus 10 friends") unless one is stated as
/// everyone ("…, so roughly 45 people") or is a breakdown ("35 guests (15
/// kids, 20 adults)"); a later sentence replaces an earlier one, part by part
/// for kids and adults.
pub(super) fn read(
    toks: &[Tok<'_>],
    role: &[Role],
    scan: &Scan,
) -> (Option<Stated<GuestCount>>, Option<Stated<u32>>) {
    let mut counts: Vec<Count> = Vec::new();
    let mut taken = vec![false; toks.len()];
    let mut bare: Option<(u32, usize, usize)> = None;
    let mut correction: Option<(u32, usize)> = None;
    // Sentences holding a correction word ("actually", "wait", "update").
    let mut correcting = vec![false; scan.sentence.last().map_or(1, |s| s + 1)];
    for (k, t) in toks.iter().enumerate() {
        if CORRECTIONS.contains(&t.text) {
            correcting[scan.sentence[k]] = true;
        }
    }
    for i in 0..toks.len() {
        if toks[i].kind != Kind::Num || role[i] != Role::Free || taken[i] {
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
        let sentence = scan.sentence[i];
        // The latest count of this sentence that is not itself a breakdown.
        let earlier = counts
            .iter()
            .rev()
            .take_while(|c| scan.sentence[c.first] == sentence)
            .find(|c| !c.breakdown)
            .copied();
        if let Some((class, noun)) = guest_noun_at(toks, end) {
            if some_of_them(toks, scan, noun) {
                continue;
            }
            let (value, last) = upper_bound(toks, role, scan, noun, v, &mut taken);
            let lead = lead_before(toks, i, &[HEDGES]).map(|j| toks[j].text);
            let of_them = toks
                .get(noun)
                .is_some_and(|t| matches!(t.text, "them" | "us"));
            counts.push(Count {
                value,
                class,
                first: lead_start(toks, i),
                last,
                total: lead.is_some_and(|w| TOTAL_LEADS.contains(&w))
                    || called_it(toks, i)
                    || everyone_after(toks, noun)
                    || matches!(toks[noun].text, "total" | "altogether"),
                breakdown: earlier.is_some()
                    && (lead.is_some_and(|w| BREAKDOWN_LEADS.contains(&w))
                        || of_them
                        || in_parens_after(toks, earlier.map_or(i, |c| c.last), i)),
            });
            continue;
        }
        if mult != 1 {
            continue; // "2k" without a guest noun is not a count.
        }
        if let Some(lead) = strong_guest_lead(toks, i) {
            let (value, last) = upper_bound(toks, role, scan, i, v, &mut taken);
            counts.push(Count {
                value,
                class: GuestClass::Generic,
                first: lead,
                last,
                total: true,
                breakdown: false,
            });
        } else if bare.is_none() && bare_for(toks, i, v) {
            // "for 20-25" / "for 20 to 25": the upper end.
            let upper = range_partner(toks, i)
                .filter(|&k| role[k] == Role::Free)
                .and_then(|k| int_value(&toks[k]))
                .and_then(|u| u32::try_from(u.min(u64::from(MAX_GUESTS))).ok());
            let last = range_partner(toks, i).unwrap_or(i);
            bare = Some((upper.map_or(v, |u| u.max(v)), i.saturating_sub(1), last));
        } else if correction.is_none() && correcting[sentence] && bare_number(toks, i) {
            correction = Some((v, i));
        }
    }
    let revision = correction.map(|(v, i)| Stated::new(v, toks, i, i));
    if counts.is_empty() {
        let statement =
            bare.map(|(v, first, last)| Stated::new(GuestCount::Total(v), toks, first, last));
        return (statement, revision.filter(|_| bare.is_none()));
    }
    // One statement per sentence, folded in order.
    let mut state: Option<(GuestCount, usize, usize)> = None;
    let mut k = 0;
    while k < counts.len() {
        let sentence = scan.sentence[counts[k].first.max(counts[k].last.min(counts[k].first))];
        let group: Vec<Count> = counts[k..]
            .iter()
            .take_while(|c| scan.sentence[c.first] == sentence)
            .copied()
            .collect();
        k += group.len().max(1);
        let kept: Vec<&Count> = group.iter().filter(|c| !c.breakdown).collect();
        let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
            continue;
        };
        let span = (first.first, last.last);
        let statement = if let Some(t) = kept.iter().rev().find(|c| c.total) {
            (GuestCount::Total(t.value), t.first, t.last)
        } else if kept.iter().all(|c| c.class != GuestClass::Generic) {
            let sum = |class: GuestClass| {
                kept.iter()
                    .filter(|c| c.class == class)
                    .map(|c| c.value)
                    .reduce(|a, b| a.saturating_add(b))
            };
            (
                GuestCount::Parts {
                    kids: sum(GuestClass::Kids),
                    adults: sum(GuestClass::Adults),
                },
                span.0,
                span.1,
            )
        } else {
            let total = kept
                .iter()
                .map(|c| c.value)
                .fold(0_u32, u32::saturating_add)
                .min(MAX_GUESTS);
            (GuestCount::Total(total), span.0, span.1)
        };
        let earlier = state.map(|(g, _, _)| g);
        let merged = statement.0.after(earlier);
        let first = match (earlier, merged) {
            (Some(GuestCount::Parts { .. }), GuestCount::Parts { .. }) => {
                state.map_or(statement.1, |(_, f, _)| f)
            }
            _ => statement.1,
        };
        state = Some((merged, first, statement.2));
    }
    let statement = state.map(|(g, first, last)| {
        let end = closing_paren(toks, last);
        let mut stated = Stated::new(g, toks, first, end);
        if end != last {
            // The ")" stands in the separator after the last word.
            if let Some(next) = toks.get(end + 1) {
                if let Some(at) = next.sep.find(')') {
                    stated.from.1 = toks[end].end() + at + 1;
                }
            }
        }
        stated
    });
    (statement, None)
}

/// "call it 300", "that's 19 people": `i` is stated as everyone.
fn called_it(toks: &[Tok<'_>], i: usize) -> bool {
    let before = |k: usize| i.checked_sub(k).and_then(|j| word(toks, j));
    matches!(
        (before(2), before(1)),
        (Some("call"), Some("it")) | (Some("that"), Some("s")) | (Some("in"), Some("all"))
    ) || before(1) == Some("thats")
}

/// "16 total", "20 in total", "30 altogether" after the noun at `noun`.
fn everyone_after(toks: &[Tok<'_>], noun: usize) -> bool {
    match word(toks, noun + 1) {
        Some("total" | "altogether" | "overall") => true,
        Some("in") => matches!(word(toks, noun + 2), Some("total" | "all")),
        _ => false,
    }
}

/// True when count `i` stands inside a parenthesis opened after `earlier`.
fn in_parens_after(toks: &[Tok<'_>], earlier: usize, i: usize) -> bool {
    let opened = toks[earlier + 1..=i].iter().any(|t| t.sep.contains('('));
    let closed = toks[earlier + 1..=i].iter().any(|t| t.sep.contains(')'));
    opened && !closed
}

/// An upper bound offered right after the count ending at `end` ("12 kids,
/// maybe 14", "70, maybe 75", "20 or 25 kids"): (the larger value, last token).
fn upper_bound(
    toks: &[Tok<'_>],
    role: &[Role],
    scan: &Scan,
    end: usize,
    v: u32,
    taken: &mut [bool],
) -> (u32, usize) {
    let sentence = scan.sentence[end];
    let mut k = end + 1;
    let mut led = false;
    let mut led_more = false;
    while k < toks.len() && k <= end + UPPER_REACH && scan.sentence[k] == sentence {
        match toks[k].kind {
            Kind::Word if UPPER_LEADS.contains(&toks[k].text) || toks[k].text == "if" => {
                led |= toks[k].text != "if";
                k += 1;
            }
            Kind::Word if MORE_LEADS.contains(&toks[k].text) => {
                led_more = true;
                k += 1;
            }
            Kind::Num if (led || led_more) && role[k] == Role::Free => {
                let unit = unit_after(toks, k);
                // "12 kids confirmed and maybe 3 more": more on top.
                if unit == Some("more") {
                    let more = int_value(&toks[k]).and_then(|u| u32::try_from(u).ok());
                    if let Some(more) = more.filter(|m| *m <= MAX_GUESTS) {
                        taken[k] = true;
                        return (v.saturating_add(more).min(MAX_GUESTS), k + 1);
                    }
                }
                let same_kind =
                    unit.is_none_or(|w| guest_noun_after(toks, k).is_some() || w == "if");
                let value = int_value(&toks[k]).and_then(|u| u32::try_from(u).ok());
                return match value {
                    Some(u) if led && same_kind && u > v && u <= MAX_GUESTS => {
                        taken[k] = true;
                        let last = if guest_noun_after(toks, k).is_some() {
                            k + 1
                        } else {
                            k
                        };
                        (u, last)
                    }
                    _ => (v, end),
                };
            }
            _ => break,
        }
    }
    (v, end)
}

/// Words that make a bare number in their text a correction of an earlier
/// count or budget ("wait no, 35", "actually 650", "23 now", "make it 25").
const CORRECTIONS: &[&str] = &[
    "actually",
    "wait",
    "correction",
    "sorry",
    "update",
    "updated",
    "now",
    "instead",
    "make",
    "scratch",
    "change",
    "changed",
    "closer",
    "bump",
    "oops",
];

/// A bare number: no unit or noun right after it ("35", "23 now", "28 not
/// 25"), and not the one a correction rejects ("not 25").
fn bare_number(toks: &[Tok<'_>], i: usize) -> bool {
    let rejected = i.checked_sub(1).and_then(|j| word(toks, j)) == Some("not");
    !rejected && unit_after(toks, i).is_none_or(|w| matches!(w, "now" | "instead" | "not"))
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
