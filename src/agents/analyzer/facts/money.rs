//! Money: a number with "$" before/after, "dollars/usd/bucks", a "k" or
//! "grand" suffix, "budget" after, or a money lead before ("budget of 1500",
//! "spend up to 900"); never a number followed by a guest noun. A range takes
//! its upper end ("between $500 and $800" → 800). Per-unit prices ("$15 per
//! person", "$200/hr", "$10 a head") are dropped.
//!
//! Each amount goes to one budget: the item named right next to it ("a $60
//! cake", "venue under $300", "$300 total", "budget $500"), else the narrowest
//! scope naming a domain (clause, then sentence and input unless they count
//! guests) decides; a total word, or several items, or nothing, make it the
//! party's total budget. Several
//! amounts for one budget in one text: the largest.

use super::super::token::{joinable, soft, Kind, Tok};
use super::super::vocabulary::{
    guest_class, DOMAIN_CAKE, DOMAIN_CATERING, DOMAIN_TOTAL, DOMAIN_VENUE, HEDGES, MONEY_LEADS,
    MONEY_SKIPS, MONEY_WORDS, PER_UNIT_NOUNS,
};
use super::guests::guest_noun_after;
use super::{lead_before, multiplier, route, unit_after, word, Role, Scan, Stated, TextFacts};
use crate::agents::analyzer::MAX_MONEY;

/// How many words an item noun may stand from its amount ("a $60 birthday
/// cake", "cake for about $60").
const ITEM_REACH: usize = 3;

/// Reads every amount into the budget it belongs to.
pub(super) fn read(toks: &[Tok<'_>], role: &mut [Role], scan: &Scan, out: &mut TextFacts) {
    let mut clause_domain = vec![0_u8; scan.clause.last().map_or(1, |c| c + 1)];
    let mut sentence_domain = vec![0_u8; scan.sentence.last().map_or(1, |s| s + 1)];
    for (pos, d) in scan.domain_at.iter().enumerate() {
        clause_domain[scan.clause[pos]] |= d;
        sentence_domain[scan.sentence[pos]] |= d;
    }
    let input_domain = clause_domain.iter().fold(0, |a, d| a | d);
    // A sentence or text that counts guests is about the party: an amount
    // there is the party's unless an item stands right next to it.
    let mut counts_guests = vec![false; sentence_domain.len()];
    for (k, t) in toks.iter().enumerate() {
        if t.kind == Kind::Word && guest_class(t.text).is_some() {
            counts_guests[scan.sentence[k]] = true;
        }
    }
    let text_counts_guests = counts_guests.iter().any(|c| *c);
    read_amounts(toks, role, |first, last, amount| {
        let sentence = scan.sentence[first];
        let dest = item_next_to(toks, scan, first, last)
            .or(route(clause_domain[scan.clause[first]]))
            .or_else(|| {
                (!counts_guests[sentence])
                    .then(|| route(sentence_domain[sentence]))
                    .flatten()
            })
            .or_else(|| (!text_counts_guests).then(|| route(input_domain)).flatten())
            .unwrap_or(DOMAIN_TOTAL);
        let slot = match dest {
            DOMAIN_CAKE => &mut out.cake_budget,
            DOMAIN_CATERING => &mut out.catering_budget,
            DOMAIN_VENUE => &mut out.venue_budget,
            _ => &mut out.budget,
        };
        if slot.as_ref().is_none_or(|s| s.value < amount) {
            *slot = Some(Stated::new(amount, toks, first, last));
        }
    });
    // "budget 800" keeps its lead word in the words shown.
    if let Some(b) = out.budget.as_mut() {
        widen_to_lead(toks, scan, b);
    }
}

/// Includes a money lead ("budget of", "budget around") in a budget's words.
fn widen_to_lead(toks: &[Tok<'_>], scan: &Scan, b: &mut Stated<u64>) {
    let Some(first) = toks.iter().position(|t| t.start == b.from.0) else {
        return;
    };
    if let Some(j) = lead_before(toks, first, &[MONEY_SKIPS]) {
        if scan.clause[j] == scan.clause[first] && toks[j].text == "budget" {
            b.from.0 = toks[j].start;
        }
    }
}

/// The item domain of a noun standing right next to an amount, in its
/// clause: after it ("$60 cake", "$300 for the venue") or right before it
/// across hedges ("cake under $60", "venue budget $300"). A noun joined to
/// another by "and"/"or" ("cake and food under $300") names no single item.
fn item_next_to(toks: &[Tok<'_>], scan: &Scan, first: usize, last: usize) -> Option<u8> {
    let clause = scan.clause[first];
    let domain = |k: usize| {
        scan.domain_at
            .get(k)
            .copied()
            .filter(|d| *d != 0 && scan.clause.get(k) == Some(&clause))
    };
    let coordinated = |k: usize| {
        k.checked_sub(1)
            .and_then(|j| word(toks, j))
            .is_some_and(|w| matches!(w, "and" | "or" | "plus"))
            || word(toks, k + 1).is_some_and(|w| matches!(w, "and" | "or" | "plus"))
    };
    for k in last + 1..=last + ITEM_REACH {
        if let Some(d) = domain(k) {
            return if coordinated(k) { None } else { route(d) };
        }
        if !word(toks, k).is_some_and(|w| ITEM_FILLERS.contains(&w)) {
            break;
        }
    }
    let mut k = first;
    for _ in 0..ITEM_REACH {
        k = k.checked_sub(1)?;
        if let Some(d) = domain(k) {
            // "catering budget is $2,500": the budget of the item before it.
            if toks[k].text == "budget" {
                let item = k
                    .checked_sub(1)
                    .and_then(domain)
                    .filter(|d| *d & DOMAIN_TOTAL == 0);
                if let Some(item) = item {
                    return if coordinated(k - 1) {
                        None
                    } else {
                        route(item)
                    };
                }
            }
            return if coordinated(k) { None } else { route(d) };
        }
        let w = word(toks, k)?;
        if !(HEDGES.contains(&w) || ITEM_LINKS.contains(&w)) {
            return None;
        }
    }
    None
}

/// Words between an amount and the item after it ("$60 birthday cake", "$300
/// for the venue").
const ITEM_FILLERS: &[&str] = &[
    "for",
    "the",
    "a",
    "an",
    "on",
    "birthday",
    "custom",
    "big",
    "small",
    "themed",
    "tier",
    "layer",
    "sheet",
    "chocolate",
    "vanilla",
    "strawberry",
];
/// Words between an item and its amount ("cake for $60", "venue budget $300").
const ITEM_LINKS: &[&str] = &["for", "budget", "of", "is", "costs", "cost", "max", "tops"];

/// The amount starting at number token `i`: (value, last token), with a "$"
/// or money word after it included in the span.
fn amount_at(toks: &[Tok<'_>], i: usize) -> Option<(f64, usize, bool)> {
    let v = toks[i].value?;
    let (mult, mut end, mut money) = multiplier(toks, i);
    let money_after = toks.get(end + 1).is_some_and(|t| {
        (t.kind == Kind::Dollar && t.sep.trim().is_empty())
            || (t.kind == Kind::Word && joinable(t.sep) && MONEY_WORDS.contains(&t.text))
    });
    if money_after {
        end += 1;
        money = true;
    }
    Some((v * f64::from(mult), end, money))
}

/// True when a "$" sign sits right before token `i`.
fn dollar_before(toks: &[Tok<'_>], i: usize) -> bool {
    i > 0 && toks[i - 1].kind == Kind::Dollar && toks[i].sep.trim().is_empty()
}

/// True when the amount ending at `end` is a per-unit price ("$15 per
/// person", "$15 each", "$200/hr", "$10 a head", "$15 pp").
fn per_unit_after(toks: &[Tok<'_>], end: usize) -> bool {
    let Some(t) = toks.get(end + 1) else {
        return false;
    };
    if t.kind != Kind::Word {
        return false;
    }
    if t.sep.contains('/') {
        return true;
    }
    match t.text {
        "per" | "each" | "pp" | "apiece" => true,
        "a" | "an" => word(toks, end + 2).is_some_and(|w| PER_UNIT_NOUNS.contains(&w)),
        _ => false,
    }
}

/// "we spent $1,100 on a fridge", "paid $300 for", "$900 in repairs".
fn spent_elsewhere(toks: &[Tok<'_>], lead_from: usize, end: usize) -> bool {
    let before = (lead_from.saturating_sub(2)..lead_from)
        .any(|k| matches!(word(toks, k), Some("spent" | "paid")));
    let after = word(toks, end + 1) == Some("in") && word(toks, end + 2) == Some("repairs");
    before || after
}

/// A bare number after a cap ("no more than 450", "450 max", "450 tops"):
/// money when it has no unit and is too large for a head count of a party
/// people cap this way.
fn capped_amount(toks: &[Tok<'_>], lead_from: usize, end: usize, value: f64) -> bool {
    let no_unit = unit_after(toks, end).is_none_or(|w| matches!(w, "max" | "tops" | "maximum"));
    let before = |k: usize| lead_from.checked_sub(k).and_then(|j| word(toks, j));
    let cap_before = matches!(
        (before(3), before(2), before(1)),
        (Some("no"), Some("more"), Some("than"))
    ) || matches!(before(1), Some("max" | "maximum"));
    let cap_after = matches!(unit_after(toks, end), Some("max" | "tops" | "maximum"));
    no_unit && (cap_before || cap_after) && value >= MIN_CAPPED_AMOUNT
}

/// Smallest bare capped number read as money ("no more than 450"); below it
/// "no more than 20" is more likely a head count.
const MIN_CAPPED_AMOUNT: f64 = 100.0;

/// Reads money amounts and reports (position, dollars) for each total or
/// item amount; per-unit prices are marked but not reported.
fn read_amounts(toks: &[Tok<'_>], role: &mut [Role], mut report: impl FnMut(usize, usize, u64)) {
    for i in 0..toks.len() {
        if toks[i].kind != Kind::Num || role[i] != Role::Free {
            continue;
        }
        let Some((first, mut end, suffix_money)) = amount_at(toks, i) else {
            continue;
        };
        // A number followed by guests/people is never money.
        if guest_noun_after(toks, i).is_some() || guest_noun_after(toks, end).is_some() {
            continue;
        }
        let dollar = dollar_before(toks, i);
        let budget_after = unit_after(toks, end) == Some("budget");
        let lead_from = if dollar { i - 1 } else { i };
        let led = lead_before(toks, lead_from, &[MONEY_SKIPS])
            .and_then(|j| word(toks, j))
            .is_some_and(|w| MONEY_LEADS.contains(&w));
        let capped = capped_amount(toks, lead_from, end, first);
        if !(dollar || suffix_money || led || budget_after || capped) {
            continue;
        }
        role[i] = Role::Money;
        // Money spent on something else ("we spent $1,100 on a new fridge",
        // "$900 in repairs") is no budget.
        if spent_elsewhere(toks, lead_from, end) {
            continue;
        }
        let mut amount = first;

        // The upper end of a range: "$1,500-$2,000", "500 to 800 dollars",
        // "between $1000 and $2000".
        let between = lead_before(toks, lead_from, &[HEDGES]).and_then(|j| word(toks, j))
            == Some("between")
            || (lead_from > 0 && word(toks, lead_from - 1) == Some("between"));
        let mut k = end + 1;
        let hyphen = toks
            .get(k)
            .is_some_and(|t| t.sep.contains(['-', '\u{2013}']) && soft(t.sep));
        let joiner = match word(toks, k) {
            Some("to") => true,
            Some("and") => between,
            _ => false,
        };
        if joiner {
            k += 1;
        }
        if hyphen || joiner {
            if toks.get(k).is_some_and(|t| t.kind == Kind::Dollar) {
                k += 1;
            }
            if toks
                .get(k)
                .is_some_and(|t| t.kind == Kind::Num && role[k] == Role::Free)
            {
                if let Some((second, end2, _)) = amount_at(toks, k) {
                    if guest_noun_after(toks, end2).is_none() {
                        role[k] = Role::Money;
                        amount = amount.max(second);
                        end = end2;
                    }
                }
            }
        }

        if per_unit_after(toks, end) {
            continue;
        }
        let rounded = amount.round();
        if (1.0..=MAX_MONEY).contains(&rounded) {
            // In range, so the cast is exact.
            report(if dollar { i - 1 } else { i }, end, rounded as u64);
        }
    }
}
