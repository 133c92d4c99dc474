//! Facts of one text, each with the words it was read from.
//!
//! Owns the per-text reading order and the helpers the passes share. One
//! pass a file: `when` (dates and times), `age`, `money`, `guests`, `place`
//! (setting and city), `theme`, `intent` (birthday, cake wanted or refused,
//! areas asked for). Numbers are read in that order and a number taken by one
//! pass is skipped by the later ones (its [`Role`]).
//!
//! Pure: same text, same facts. Never panics on input-derived data.

mod age;
mod guests;
mod intent;
mod money;
mod place;
mod theme;
mod when;

use super::token::{clause_break, joinable, sentence_break, soft, Kind, Tok};
use super::vocabulary::{
    vocabulary, Term, DOMAIN_CAKE, DOMAIN_CATERING, DOMAIN_TOTAL, DOMAIN_VENUE, SETTINGS,
};
use crate::domain::AgentName;

pub(super) use guests::GuestCount;
pub(super) use intent::AREAS;
pub(super) use place::{city_phrases_of, CityPhrases};
pub use theme::Strength;

/// How far back (in words) a number looks for a lead word like "budget".
const LOOKBEHIND_WORDS: usize = 5;

/// A value and the byte range of the words it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stated<T> {
    pub value: T,
    pub from: (usize, usize),
}

impl<T> Stated<T> {
    fn new(value: T, toks: &[Tok<'_>], first: usize, last: usize) -> Stated<T> {
        let start = toks.get(first).map_or(0, |t| t.start);
        let end = toks.get(last).map_or(start, Tok::end).max(start);
        Stated {
            value,
            from: (start, end),
        }
    }
}

/// A city named in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum City {
    /// Index into the catalog's city list.
    Catalog(usize),
    /// A city the catalog has no supplier in, as written ("San Jose").
    Other(String),
}

/// A theme mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ThemeMention {
    /// Index into [`super::vocabulary::THEMES`].
    pub theme: usize,
    pub strength: Strength,
}

/// Facts of one text.
#[derive(Debug, Default)]
pub(super) struct TextFacts {
    pub guests: Option<Stated<GuestCount>>,
    /// A bare number correcting whatever was stated last ("wait no, 35").
    pub revision: Option<Stated<u32>>,
    pub ages: Option<Stated<Vec<u32>>>,
    pub budget: Option<Stated<u64>>,
    pub cake_budget: Option<Stated<u64>>,
    pub catering_budget: Option<Stated<u64>>,
    pub venue_budget: Option<Stated<u64>>,
    pub dietary: Vec<Stated<&'static str>>,
    pub setting: Option<Stated<&'static str>>,
    pub setting_preferred: bool,
    pub city: Option<Stated<City>>,
    pub flavors: Vec<Stated<&'static str>>,
    pub cuisines: Vec<Stated<&'static str>>,
    pub vendor_categories: Vec<Stated<&'static str>>,
    pub birthday: Option<Stated<()>>,
    /// `true`: a cake is asked for; `false`: refused ("no cake").
    pub cake: Option<Stated<bool>>,
    pub date: Option<Stated<String>>,
    pub time: Option<Stated<String>>,
    /// Every theme mention, in text order.
    pub themes: Vec<Stated<ThemeMention>>,
    /// Areas the text asks to plan, by its own words (not counting what
    /// the party's other inputs say).
    pub asks: Vec<AgentName>,
}

/// What a number token was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Free,
    Age,
    Money,
    /// Ordinals, dates, times, month ages: never guests or money.
    Other,
}

/// Clause and sentence ids of every token, and the vocabulary hits.
pub(super) struct Scan {
    pub clause: Vec<usize>,
    pub sentence: Vec<usize>,
    /// Money domains named at each token (`DOMAIN_*` bits).
    pub domain_at: Vec<u8>,
    /// Preference markers' positions.
    pub prefer_at: Vec<usize>,
    /// Refusal words' positions ("no", "without", "own").
    pub negation_at: Vec<usize>,
    /// Birthday words' (first, last) tokens.
    pub birthday_at: Vec<(usize, usize)>,
    /// Theme words: (first, last, theme, names it on its own).
    pub theme_words: Vec<(usize, usize, u8, bool)>,
    /// Settings: (first, last, index into SETTINGS).
    pub settings: Vec<(usize, usize, usize)>,
    /// Dietary words' positions ("vegan", "gluten free", "nuts").
    pub diet_at: Vec<usize>,
    /// Sentences that speak of the party ("party", "shower", "birthday").
    pub event_sentences: Vec<usize>,
}

/// Parses the facts of one tokenized text. `original` is the text before
/// lowercasing (for proper names; `None` when lowercasing changed offsets).
pub(super) fn analyze(toks: &[Tok<'_>], original: Option<&str>, cities: &CityPhrases) -> TextFacts {
    let mut out = TextFacts::default();

    let mut clause = Vec::with_capacity(toks.len());
    let mut sentence = Vec::with_capacity(toks.len());
    let (mut c, mut s) = (0_usize, 0_usize);
    for t in toks {
        c += usize::from(clause_break(t.sep));
        s += usize::from(sentence_break(t.sep));
        clause.push(c);
        sentence.push(s);
    }
    let mut scan = Scan {
        clause,
        sentence,
        domain_at: vec![0; toks.len()],
        prefer_at: Vec::new(),
        negation_at: Vec::new(),
        birthday_at: Vec::new(),
        theme_words: Vec::new(),
        settings: Vec::new(),
        diet_at: Vec::new(),
        event_sentences: Vec::new(),
    };
    let mut allergens: Vec<(usize, usize, &'static str)> = Vec::new();
    vocabulary().scan(toks, |first, last, term| match term {
        Term::Diet(d) => {
            scan.diet_at.push(first);
            push_unique(&mut out.dietary, d, toks, first, last);
        }
        Term::Setting(s) => scan.settings.push((first, last, s)),
        Term::Flavor(f) => push_unique(&mut out.flavors, f, toks, first, last),
        Term::Cuisine(c) => push_unique(&mut out.cuisines, c, toks, first, last),
        Term::Vendor(v) => push_unique(&mut out.vendor_categories, v, toks, first, last),
        Term::Domain(d) => {
            scan.domain_at[first] |= d;
            if d == DOMAIN_TOTAL && !matches!(toks[first].text, "budget" | "total") {
                scan.event_sentences.push(scan.sentence[first]);
            }
        }
        Term::Theme(t, strong) => scan.theme_words.push((first, last, t, strong)),
        Term::Birthday => scan.birthday_at.push((first, last)),
        Term::Prefer => scan.prefer_at.push(first),
        Term::Negation => scan.negation_at.push(first),
        Term::Allergen(d) => {
            scan.diet_at.push(first);
            allergens.push((first, last, d));
        }
    });
    for (first, last, diet) in allergens {
        if refused(toks, &scan, first, last) {
            push_unique(&mut out.dietary, diet, toks, first, last);
        }
    }

    let mut role = vec![Role::Free; toks.len()];
    when::read(toks, &mut role, &scan, &mut out);
    let ages = age::read(toks, &mut role);
    money::read(toks, &mut role, &scan, &mut out);
    (out.guests, out.revision) = guests::read(toks, &role, &scan);
    place::read_setting(toks, &scan, &mut out);
    out.city = place::read_city(toks, original, cities);
    out.themes = theme::read(toks, &scan);
    intent::read(toks, &scan, &ages, &mut out);
    if let Some((values, first, last, _)) = ages {
        out.ages = Some(Stated::new(values, toks, first, last));
    }
    out
}

/// Words before an allergen that keep it out ("nothing with nuts", "no
/// nuts or dairy", "allergic to milk", "can't have gluten").
const KEEP_OUT_BEFORE: &[&str] = &[
    "no",
    "nothing",
    "without",
    "avoid",
    "avoiding",
    "allergic",
    "allergy",
    "allergies",
    "cannot",
    "t",
    "zero",
    "skip",
    "free",
];
/// Words after an allergen that keep it out ("nut and dairy free").
const KEEP_OUT_AFTER: &[&str] = &["free", "allergy", "allergies", "allergic", "intolerance"];
/// How far a keep-out word reaches ("no peanuts, tree nuts or dairy").
const KEEP_OUT_REACH: usize = 5;

/// True when the allergen at `first..=last` is kept out of the food.
fn refused(toks: &[Tok<'_>], scan: &Scan, first: usize, last: usize) -> bool {
    let sentence = scan.sentence[first];
    let before = (first.saturating_sub(KEEP_OUT_REACH)..first)
        .any(|k| scan.sentence[k] == sentence && KEEP_OUT_BEFORE.contains(&toks[k].text));
    let after = (last + 1..=last + 3).any(|k| {
        toks.get(k)
            .is_some_and(|t| scan.sentence[k] == sentence && KEEP_OUT_AFTER.contains(&t.text))
    });
    before || after
}

fn push_unique(
    list: &mut Vec<Stated<&'static str>>,
    v: &'static str,
    toks: &[Tok<'_>],
    first: usize,
    last: usize,
) {
    if !list.iter().any(|s| s.value == v) {
        list.push(Stated::new(v, toks, first, last));
    }
}

/// Where money of a scope naming these domains goes, if decided: any total
/// word → total; exactly one item domain → that item; several → total.
fn route(domain: u8) -> Option<u8> {
    let items = domain & (DOMAIN_CAKE | DOMAIN_CATERING | DOMAIN_VENUE);
    if domain == 0 {
        None
    } else if domain & DOMAIN_TOTAL != 0 || items.count_ones() != 1 {
        Some(DOMAIN_TOTAL)
    } else {
        Some(items)
    }
}

fn word<'a>(toks: &[Tok<'a>], i: usize) -> Option<&'a str> {
    toks.get(i).filter(|t| t.kind == Kind::Word).map(|t| t.text)
}

/// The word right after token `i`, when glued or separated by spaces/hyphens.
fn unit_after<'a>(toks: &[Tok<'a>], i: usize) -> Option<&'a str> {
    toks.get(i + 1)
        .filter(|t| t.kind == Kind::Word && super::token::adjacent(t.sep))
        .map(|t| t.text)
}

/// Index of the nearest word before `i` reachable across soft separators,
/// skipping words in `skip` (at most [`LOOKBEHIND_WORDS`] words).
fn lead_before(toks: &[Tok<'_>], i: usize, skip: &[&[&str]]) -> Option<usize> {
    let mut j = i;
    for _ in 0..LOOKBEHIND_WORDS {
        if j == 0 || !soft(toks[j].sep) {
            return None;
        }
        j -= 1;
        let w = word(toks, j)?;
        if !skip.iter().any(|s| s.contains(&w)) {
            return Some(j);
        }
    }
    None
}

/// A whole number's value (digits without a decimal part, or number words).
fn int_value(t: &Tok<'_>) -> Option<u64> {
    if t.kind != Kind::Num || t.text.contains('.') {
        return None;
    }
    let v = t.value?;
    // Whole and in range, so the cast is exact.
    ((0.0..=1e15).contains(&v) && v.fract() == 0.0).then_some(v as u64)
}

/// The number token that ends a range starting at number `i` ("5-8",
/// "5 to 8"), if any.
fn range_partner(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let next = toks.get(i + 1)?;
    if next.kind == Kind::Num && next.sep.contains(['-', '\u{2013}']) && soft(next.sep) {
        return Some(i + 1);
    }
    (matches!(word(toks, i + 1), Some("to" | "or")) && super::token::joinable(next.sep))
        .then_some(i + 2)
        .filter(|&k| {
            toks.get(k)
                .is_some_and(|t| t.kind == Kind::Num && super::token::joinable(t.sep))
        })
}

/// SETTINGS index → name.
fn setting_name(i: usize) -> &'static str {
    SETTINGS.get(i).copied().unwrap_or("outdoor")
}

/// A number's multiplier suffix: glued "k" ("2k", "$2.5k"), or a following
/// "thousand"/"grand". Returns (multiplier, last token of the amount, is money).
fn multiplier(toks: &[Tok<'_>], i: usize) -> (u32, usize, bool) {
    match toks.get(i + 1) {
        Some(t) if t.kind == Kind::Word && t.sep.is_empty() && t.text == "k" => (1000, i + 1, true),
        Some(t) if t.kind == Kind::Word && joinable(t.sep) && t.text == "thousand" => {
            (1000, i + 1, false)
        }
        Some(t) if t.kind == Kind::Word && joinable(t.sep) && t.text == "grand" => {
            (1000, i + 1, true)
        }
        Some(t) if t.kind == Kind::Word && joinable(t.sep) && t.text == "dozen" => {
            (12, i + 1, false)
        }
        _ => (1, i, false),
    }
}
