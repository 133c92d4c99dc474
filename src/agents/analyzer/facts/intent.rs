//! Intent: whether the party is a birthday, whether a cake is wanted or
//! refused, and which areas the text asks to plan.
//!
//! - Birthday: "birthday", "bday", "turning 6", "5th birthday", "for my 5
//!   year old" (one child's age).
//! - Cake: a cake word ("cake", "cupcakes", "bakery") asks for one, unless a
//!   refusal stands before it in its clause ("no cake", "we don't need a
//!   cake", "bringing our own cake", "skip the cake") or right after ("cake
//!   not needed").
//! - Areas: the classifier's keywords (SPEC §6.1) name areas, except a few
//!   that say nothing about an area on their own ("service", "where", a
//!   venue word inside a theme: "space party"); facts imply the rest: a guest
//!   count or a setting plans a venue and catering, a city a venue, a
//!   birthday a cake, any money the budget, a cuisine the food.

use super::super::classify::{keyword_hits, Category};
use super::super::token::Tok;
use super::age::Ages;
use super::{Scan, Stated, TextFacts};
use crate::domain::AgentName;

/// Keywords of the classifier's tables that name no area on their own.
const SAYS_NO_AREA: &[&str] = &[
    "service",
    "where",
    "area",
    "room",
    "setting",
    "space",
    "sweet",
    "tier",
    "look",
    "feel",
    "idea",
    "concept",
    "inspiration",
    "style",
    "design",
    "professional",
    "estimate",
];
/// How far before a cake word a refusal reaches ("we do not need a cake").
const REFUSAL_REACH: usize = 6;
/// Words that may stand between a refusal and the cake word ("no birthday
/// cake", "don't need a cake", "bringing our own cake"); any other word ends
/// the refusal ("no nuts in the cake" refuses nuts, not the cake).
const REFUSAL_FILLERS: &[&str] = &[
    "a",
    "an",
    "the",
    "any",
    "need",
    "needs",
    "needed",
    "want",
    "wants",
    "birthday",
    "big",
    "fancy",
    "our",
    "my",
    "own",
    "bring",
    "bringing",
    "bake",
    "baking",
    "make",
    "making",
    "buy",
    "buying",
    "get",
    "getting",
    "order",
    "ordering",
    "have",
    "having",
    "we",
    "i",
    "t",
    "do",
    "really",
    "will",
    "ll",
    "d",
    "s",
    "separate",
    "store",
    "bought",
    "homemade",
    "custom",
    "for",
    "us",
    "of",
    "be",
    "providing",
    "provide",
    "handle",
    "handling",
    "covered",
];

/// Reads the birthday, the cake stance and the areas asked for.
pub(super) fn read(toks: &[Tok<'_>], scan: &Scan, ages: &Ages, out: &mut TextFacts) {
    let said = scan
        .birthday_at
        .iter()
        .find(|(first, _)| !denied(toks, scan, *first));
    if let Some(&(first, last)) = said {
        out.birthday = Some(Stated::new((), toks, first, last));
    } else if let Some((_, first, last, true)) = ages {
        out.birthday = Some(Stated::new((), toks, *first, *last));
    }
    out.cake = cake_stance(toks, scan);

    let mut asks = [false; 6];
    let mut ask = |a: AgentName| {
        if let Some(i) = AREAS.iter().position(|x| *x == a) {
            asks[i] = true;
        }
    };
    let in_theme = |k: usize| {
        scan.theme_words
            .iter()
            .any(|&(f, l, _, _)| (f..=l).contains(&k))
    };
    keyword_hits(toks, |first, _, cat| {
        if SAYS_NO_AREA.contains(&toks[first].text) {
            return;
        }
        match cat {
            Category::Venue if in_theme(first) => {}
            // A guest word without a count ("what do people do") plans
            // nothing; counts are facts.
            Category::Guest => {}
            Category::Cake => {} // decided by the cake stance below
            Category::Theme => ask(AgentName::Theme),
            _ => ask(cat.agent()),
        }
    });
    if !out.themes.is_empty() {
        ask(AgentName::Theme);
    }
    if out.guests.is_some() || out.setting.is_some() {
        ask(AgentName::Venue);
        ask(AgentName::Catering);
    }
    if out.city.is_some() || out.venue_budget.is_some() {
        ask(AgentName::Venue);
    }
    if out.catering_budget.is_some() || !out.cuisines.is_empty() {
        ask(AgentName::Catering);
    }
    let cake_refused = out.cake.as_ref().is_some_and(|c| !c.value);
    if !cake_refused
        && (out.cake.is_some()
            || out.birthday.is_some()
            || out.cake_budget.is_some()
            || !out.flavors.is_empty())
    {
        ask(AgentName::Cake);
    }
    if !out.vendor_categories.is_empty() {
        ask(AgentName::Vendor);
    }
    if out.budget.is_some()
        || out.cake_budget.is_some()
        || out.catering_budget.is_some()
        || out.venue_budget.is_some()
    {
        ask(AgentName::Budget);
    }
    out.asks = AREAS
        .iter()
        .zip(asks)
        .filter(|(_, on)| *on)
        .map(|(a, _)| *a)
        .collect();
}

/// Words before "birthday" that say the party is not one ("nothing to do
/// with a birthday", "not a birthday").
const NOT_A: &[&str] = &["not", "nothing", "isn", "no", "without"];
/// How far before "birthday" such a word reaches.
const NOT_A_REACH: usize = 5;

/// True when the birthday word at `at` is denied in its clause ("not a
/// birthday party"), but not when a cake is refused ("no birthday cake").
fn denied(toks: &[Tok<'_>], scan: &Scan, at: usize) -> bool {
    let clause = scan.clause[at];
    let cake_next = scan
        .domain_at
        .get(at + 1)
        .is_some_and(|d| d & super::super::vocabulary::DOMAIN_CAKE != 0);
    !cake_next
        && (at.saturating_sub(NOT_A_REACH)..at)
            .any(|k| scan.clause[k] == clause && NOT_A.contains(&toks[k].text))
}

/// The areas a text can ask for, in dependency order.
pub(in crate::agents::analyzer) const AREAS: [AgentName; 6] = AgentName::AREAS;

/// The cake stance: wanted when any cake word is ("cupcakes, not a big
/// cake"), refused when every one is ("no cake, grandma bakes one").
fn cake_stance(toks: &[Tok<'_>], scan: &Scan) -> Option<Stated<bool>> {
    // Per word (stem): its latest stance ("picking up the cake… so no cake
    // needed" refuses the cake); one word wanted while another is refused is
    // wanted ("cupcakes, not a big cake").
    let mut stances: Vec<(&str, Stated<bool>)> = Vec::new();
    for (k, d) in scan.domain_at.iter().enumerate() {
        if d & super::super::vocabulary::DOMAIN_CAKE == 0 {
            continue;
        }
        let clause = scan.clause[k];
        let refused_before = scan
            .negation_at
            .iter()
            .find(|&&n| {
                n < k
                    && k - n <= REFUSAL_REACH
                    && scan.clause[n] == clause
                    && toks[n + 1..k]
                        .iter()
                        .all(|t| REFUSAL_FILLERS.contains(&t.text))
            })
            .copied();
        let refused_after = scan
            .negation_at
            .iter()
            .any(|&n| n > k && n - k <= 2 && scan.clause[n] == clause && toks[n].text == "not");
        let this = match (refused_before, refused_after) {
            (Some(n), _) => Stated::new(false, toks, n, k),
            (None, true) => Stated::new(false, toks, k, k + 2),
            (None, false) => Stated::new(true, toks, k, k),
        };
        let stem = toks[k].stem.as_ref();
        match stances.iter_mut().find(|(s, _)| *s == stem) {
            Some((_, old)) => *old = this,
            None => stances.push((stem, this)),
        }
    }
    let wanted = stances.iter().find(|(_, s)| s.value);
    wanted.or(stances.last()).map(|(_, s)| s.clone())
}
