//! `input_analyzer`'s pure half: classifies an input into planning categories
//! with the prototype's keyword tables (SPEC §6.1), matched on word and phrase
//! boundaries, and parses the facts the agents need: guest counts, ages,
//! budgets, dietary needs, settings and cities.
//!
//! Pure: no I/O, no clock, no randomness; same text, same answer. Never panics
//! on input-derived data.
//!
//! # Tokens
//! Text is lowercased and split once into words (runs of letters), numbers
//! (digits with `,ddd` groups and one decimal part: `1,200`, `2.5`) and `$`
//! signs; everything else separates. A hyphen separates too, so
//! "galaxy-themed" holds the word `galaxy`, and a hyphenated keyword is a
//! phrase (`t-rex` = `t rex`, `gluten-free` = `gluten free`). A phrase matches
//! consecutive words joined only by spaces or hyphens (a comma breaks it).
//! Letters glued to digits are separate words ("5th" = `5` + `th`).
//!
//! # Classification
//! Keywords are indexed by first word ([`keywords`] tables, deduplicated), so
//! a text costs one map look-up per token. +2.0 per distinct keyword in the
//! content, +3.0 per (tag, keyword) pair; categories with score > 0 in
//! [`Category::ALL`] order; nothing → `[(Theme, 1.0)]`.
//!
//! # Facts, per input
//! Numbers are read in three passes; a number taken by one pass is skipped
//! by the later ones:
//! 1. **Ages**: "5 year old", "7-year-old", "7yo", "5 y/o", "5th birthday",
//!    "turning 6", "age 8", "ages 5-8", "5 to 8 year olds" (1..=120). Other
//!    ordinals ("the 15th") and "18 months" are nothing.
//! 2. **Money**: a number with "$" before/after, "dollars/usd/bucks", a "k"
//!    or "grand" suffix, "budget" after, or a money lead before ("budget of
//!    1500", "spend up to 900"); never a number followed by a guest noun. A
//!    range takes its upper end. Per-unit prices ("$15 per person", "$200/hr",
//!    "$10 a head", "$12 each") are dropped. Each amount goes to cake or
//!    catering when the narrowest scope naming a domain (clause, then
//!    sentence, then input) names only cake words or only food words; a total
//!    word (budget, total, overall, party, everything…) or both domains, or
//!    none, make it the total budget. Several amounts for one slot: the max.
//! 3. **Guests**: a count with a generic noun or lead ("75 guests", "party of
//!    20", "inviting 40", "guest count 60", "serves 40") wins; else the first
//!    kids count plus the first adults count; else a bare "for N" not followed
//!    by a unit, "$", "%" or a time, and not a year. Capped at [`MAX_GUESTS`].
//!
//! Vocabulary facts (dietary synonyms, setting, flavours, cuisines, vendor
//! categories, cities) are phrases found on word boundaries, in text order.
//! Within one input the setting is the first of outdoor, indoor, park, hall,
//! home, downtown that occurs; a city is the first mentioned (longest name
//! at one position).
//!
//! # Across inputs
//! In input order: a single-valued fact stated by an input replaces the
//! earlier one (latest statement wins); lists are unions in first-mention
//! order. Number words ("twenty") are not read.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use super::keywords;
use super::memo::Memo;
use crate::domain::{AgentName, FactStatement, PlanFact};
use crate::store::Input;

/// A planning category of the prototype's classifier, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Theme and decor.
    Theme,
    /// Cake and desserts.
    Cake,
    /// Venue and location.
    Venue,
    /// Food.
    Catering,
    /// Vendors (decorations, entertainment, photography, rentals).
    Vendor,
    /// Money.
    Budget,
    /// Guest count.
    Guest,
}

impl Category {
    /// Every category, in the prototype's order.
    pub const ALL: [Category; 7] = [
        Category::Theme,
        Category::Cake,
        Category::Venue,
        Category::Catering,
        Category::Vendor,
        Category::Budget,
        Category::Guest,
    ];

    /// The agent that plans this category (guest counts size the venue).
    pub fn agent(self) -> AgentName {
        match self {
            Category::Theme => AgentName::Theme,
            Category::Cake => AgentName::Cake,
            Category::Venue | Category::Guest => AgentName::Venue,
            Category::Catering => AgentName::Catering,
            Category::Vendor => AgentName::Vendor,
            Category::Budget => AgentName::Budget,
        }
    }
}

/// Scores of one input per category (score > 0 only), in category order.
/// An input that matches nothing is `[(Theme, 1.0)]`, as in the prototype.
///
/// Content and tags are lowercased and tokenized; a keyword counts when its
/// words occur as consecutive tokens (word and phrase boundaries, never
/// substrings). +2.0 per distinct keyword found in the content, +3.0 per
/// (tag, keyword) pair where the keyword occurs in the tag.
pub fn classify(content: &str, tags: &[String]) -> Vec<(Category, f64)> {
    static MEMO: OnceLock<Memo<Vec<(Category, f64)>>> = OnceLock::new();
    MEMO.get_or_init(Memo::default)
        .get(content, tags, 0, || classify_uncached(content, tags))
        .to_vec()
}

fn classify_uncached(content: &str, tags: &[String]) -> Vec<(Category, f64)> {
    let classifier = classifier();
    let mut scores = [0.0_f64; Category::ALL.len()];

    let lower = content.to_lowercase();
    classifier.score(&tokenize(&lower), CONTENT_POINTS, &mut scores);
    for tag in tags {
        let lower = tag.to_lowercase();
        classifier.score(&tokenize(&lower), TAG_POINTS, &mut scores);
    }

    let out: Vec<(Category, f64)> = Category::ALL
        .iter()
        .zip(scores)
        .filter(|(_, s)| *s > 0.0)
        .map(|(c, s)| (*c, s))
        .collect();
    if out.is_empty() {
        vec![(Category::Theme, FALLBACK_SCORE)]
    } else {
        out
    }
}

/// Facts parsed from all inputs of a party. Later inputs override earlier ones
/// for single-valued facts (the latest statement wins); lists are unions in
/// first-mention order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Facts {
    /// Guests ("75 guests", "for 30 kids", "party of 20"); never an age.
    pub guest_count: Option<u32>,
    /// Ages mentioned ("for a 5 year old").
    pub ages: Vec<u32>,
    /// Stated total budget in dollars ("budget around $2000", "$2,000", "2k",
    /// "under 500 dollars"), from an input that is not about one item only.
    pub budget: Option<u64>,
    /// Money stated in a cake input ("cake under $60").
    pub cake_budget: Option<u64>,
    /// Money stated in a catering input.
    pub catering_budget: Option<u64>,
    /// Canonical dietary needs: vegan, vegetarian, gluten-free, dairy-free,
    /// nut-free, halal, kosher.
    pub dietary: Vec<String>,
    /// Setting: outdoor, indoor, park, hall, home, downtown.
    pub setting: Option<String>,
    /// A catalog city named by the user (lowercased).
    pub city: Option<String>,
    /// Cake flavours: chocolate, vanilla, strawberry, red velvet, lemon, carrot.
    pub flavors: Vec<String>,
    /// Cuisines mentioned (e.g. mexican, italian, bbq).
    pub cuisines: Vec<String>,
    /// Vendor categories asked for: decorations, entertainment, photography, rentals.
    pub vendor_categories: Vec<String>,
    /// Money tied to the venue ("a venue under $300").
    pub venue_budget: Option<u64>,
    /// True when the setting was stated as a preference ("ideally outdoors",
    /// "outdoor preferred"): rank it first, do not filter. False: a need.
    pub setting_preferred: bool,
    /// The city as the person wrote it, also one the catalog lacks ("San
    /// Jose"). `city` is set only when the catalog has suppliers there.
    pub city_stated: Option<String>,
    /// The party is a birthday ("birthday", "bday", "turning 6").
    pub birthday: bool,
    /// The person said there is no cake ("no cake", "we'll bake our own").
    pub cake_declined: bool,
    /// The date as stated, normalised ("March 15", "this Saturday").
    pub date: Option<String>,
    /// The time as stated, normalised ("2–5 PM", "noon").
    pub time: Option<String>,
    /// The theme the inputs name (a theme table name), if any.
    pub theme: Option<String>,
    /// True when the theme was named as the theme ("unicorn party",
    /// "jungle theme", "dinosaur-themed"), not only mentioned.
    pub theme_explicit: bool,
    /// Areas the inputs ask to plan, as the agents that plan them, in
    /// dependency order (theme, venue, cake, catering, vendor, budget).
    pub areas: Vec<AgentName>,
    /// Where each stated fact came from, by fact name (`guests`, `budget`, ...).
    pub provenance: BTreeMap<&'static str, Provenance>,
}

/// Where one fact came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Provenance {
    /// The input that stated it (for a list: the first item's input).
    pub input_id: String,
    /// The exact words the fact was read from.
    pub text: String,
    /// The earlier statement a later input replaced: (value, input id, words).
    pub replaced: Option<(FactValue, String, String)>,
    /// For a list: the items other inputs added, with their input id and words.
    pub also_from: Vec<(Vec<String>, String, String)>,
}

/// A fact's value, as shown in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FactValue {
    /// A count or an amount of dollars.
    Number(u64),
    /// A word or a phrase.
    Text(String),
    /// A list of words.
    List(Vec<String>),
    /// Yes or no.
    Flag(bool),
}

impl FactValue {
    fn to_json(&self) -> serde_json::Value {
        match self {
            FactValue::Number(n) => serde_json::Value::from(*n),
            FactValue::Text(t) => serde_json::Value::from(t.as_str()),
            FactValue::List(l) => serde_json::Value::from(l.clone()),
            FactValue::Flag(b) => serde_json::Value::from(*b),
        }
    }
}

impl Facts {
    /// Every stated fact's value, by the name the plan shows it under, in a
    /// fixed order.
    pub fn values(&self) -> Vec<(&'static str, FactValue)> {
        let mut out = Vec::new();
        let num = |v: Option<u64>| v.map(FactValue::Number);
        let text = |v: &Option<String>| v.clone().map(FactValue::Text);
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| FactValue::List(v.clone()));
        let flag = |v: bool| v.then_some(FactValue::Flag(true));
        let entries = [
            ("theme", text(&self.theme)),
            ("guests", num(self.guest_count.map(u64::from))),
            (
                "ages",
                (!self.ages.is_empty())
                    .then(|| FactValue::List(self.ages.iter().map(u32::to_string).collect())),
            ),
            ("birthday", flag(self.birthday)),
            ("budget", num(self.budget)),
            ("venue_budget", num(self.venue_budget)),
            ("cake_budget", num(self.cake_budget)),
            ("catering_budget", num(self.catering_budget)),
            ("city", text(&self.city_stated)),
            ("setting", text(&self.setting)),
            ("setting_preferred", flag(self.setting_preferred)),
            ("dietary", list(&self.dietary)),
            ("date", text(&self.date)),
            ("time", text(&self.time)),
            ("flavors", list(&self.flavors)),
            ("cuisines", list(&self.cuisines)),
            ("vendors", list(&self.vendor_categories)),
            ("no_cake", flag(self.cake_declined)),
        ];
        for (name, value) in entries {
            if let Some(v) = value {
                out.push((name, v));
            }
        }
        out
    }

    /// The facts as the plan shows them: value, input id and words of each.
    pub fn plan_facts(&self) -> BTreeMap<String, PlanFact> {
        let statement = |(value, input_id, text): &(FactValue, String, String)| FactStatement {
            value: value.to_json(),
            input_id: input_id.clone(),
            text: text.clone(),
        };
        self.values()
            .into_iter()
            .map(|(name, value)| {
                let p = self.provenance.get(name).cloned().unwrap_or_default();
                let fact = PlanFact {
                    value: value.to_json(),
                    input_id: p.input_id,
                    text: p.text,
                    replaced: p.replaced.as_ref().map(statement),
                    also_from: p
                        .also_from
                        .iter()
                        .map(|(items, input_id, text)| FactStatement {
                            value: serde_json::Value::from(items.clone()),
                            input_id: input_id.clone(),
                            text: text.clone(),
                        })
                        .collect(),
                };
                (name.to_string(), fact)
            })
            .collect()
    }
}

/// Parses the facts of all inputs. `cities` are the catalog's lowercased city names.
///
/// Only `content` is read (tags name categories, not facts). Each input is
/// parsed on its own; then, in input order, a single-valued fact stated by an
/// input replaces the earlier one and list facts are appended when new.
pub fn extract_facts(inputs: &[Input], cities: &[String]) -> Facts {
    /// One input's facts and the index of its city in `cities`.
    type PerInput = (TextFacts, Option<usize>);
    static MEMO: OnceLock<Memo<PerInput>> = OnceLock::new();
    let memo = MEMO.get_or_init(Memo::default);
    let salt = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        cities.hash(&mut h);
        h.finish()
    };
    // Built on the first miss only: a warm memo needs no tokenized cities.
    let mut city_phrases: Option<Vec<(usize, Vec<String>)>> = None;

    let mut facts = Facts::default();
    for input in inputs {
        let per_input = memo.get(&input.content, &[], salt, || {
            let phrases = city_phrases.get_or_insert_with(|| city_phrases_of(cities));
            let lower = input.content.to_lowercase();
            let toks = tokenize(&lower);
            (analyze(&toks), find_city(&toks, phrases))
        });
        let (t, city) = &*per_input;

        if t.guest_count.is_some() {
            facts.guest_count = t.guest_count;
        }
        for age in &t.ages {
            if !facts.ages.contains(age) {
                facts.ages.push(*age);
            }
        }
        if t.budget.is_some() {
            facts.budget = t.budget;
        }
        if t.cake_budget.is_some() {
            facts.cake_budget = t.cake_budget;
        }
        if t.catering_budget.is_some() {
            facts.catering_budget = t.catering_budget;
        }
        if let Some(s) = t.setting {
            facts.setting = Some(s.to_owned());
        }
        union_into(&mut facts.dietary, &t.dietary);
        union_into(&mut facts.flavors, &t.flavors);
        union_into(&mut facts.cuisines, &t.cuisines);
        union_into(&mut facts.vendor_categories, &t.vendor_categories);
        if let Some(city) = city.and_then(|i| cities.get(i)) {
            facts.city = Some(city.to_lowercase());
        }
    }
    facts
}

/// Each city's index in `cities` and its lowercased words.
fn city_phrases_of(cities: &[String]) -> Vec<(usize, Vec<String>)> {
    cities
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let lower = c.to_lowercase();
            let words = tokenize(&lower)
                .iter()
                .filter(|t| t.kind != Kind::End)
                .map(|t| t.text.to_owned())
                .collect();
            (i, words)
        })
        .filter(|(_, words): &(usize, Vec<String>)| !words.is_empty())
        .collect()
}

/// The largest money amount stated in `text`, whatever it is for ("$2,000",
/// "2k", "$2.5k", "under 500 dollars", "budget of 1500"; the upper end of a
/// range). Per-unit prices ("$15 per person", "$200/hr") and numbers that
/// count guests or give ages are not money.
pub fn parse_money(text: &str) -> Option<u64> {
    let lower = text.to_lowercase();
    let t = analyze(&tokenize(&lower));
    [t.budget, t.cake_budget, t.catering_budget]
        .into_iter()
        .flatten()
        .max()
}

/// The guest count stated in `text` ("75 guests", "party of 20",
/// "inviting 40", "for 30"), never an age ("for a 5 year old"); capped at
/// [`MAX_GUESTS`].
pub fn parse_guest_count(text: &str) -> Option<u32> {
    let lower = text.to_lowercase();
    analyze(&tokenize(&lower)).guest_count
}

/// Largest guest count accepted; larger stated counts are capped to it.
pub const MAX_GUESTS: u32 = 10_000;

/// Oldest age accepted; a larger "N years old" is not an age of a guest of honour.
pub const MAX_AGE: u32 = 120;

/// Largest money amount accepted (dollars); anything larger is noise, not a budget.
pub const MAX_MONEY: f64 = 1e12;

/// How far back (in words) a number looks for a lead word like "budget".
const LOOKBEHIND_WORDS: usize = 5;

/// Points per distinct keyword in the content (prototype).
const CONTENT_POINTS: f64 = 2.0;
/// Points per (tag, keyword) pair (prototype).
const TAG_POINTS: f64 = 3.0;
/// Score of the fallback category when nothing matches (prototype).
const FALLBACK_SCORE: f64 = 1.0;

fn union_into(list: &mut Vec<String>, new: &[&str]) {
    for item in new {
        if !list.iter().any(|x| x == item) {
            list.push((*item).to_owned());
        }
    }
}

/// The first-mentioned city of `toks` (the longest at one position), as its
/// index in the city list, if any.
fn find_city(toks: &[Tok<'_>], cities: &[(usize, Vec<String>)]) -> Option<usize> {
    let mut best: Option<(usize, usize, usize)> = None; // (position, words, index)
    for &(index, ref words) in cities {
        let Some(first) = words.first() else {
            continue;
        };
        let Some(pos) = (0..toks.len()).find(|&i| {
            toks[i].text == first
                && words[1..].iter().enumerate().all(|(k, w)| {
                    toks.get(i + 1 + k)
                        .is_some_and(|t| t.text == w && joinable(t.sep))
                })
        }) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((p, n, _)) => pos < p || (pos == p && words.len() > n),
        };
        if better {
            best = Some((pos, words.len(), index));
        }
    }
    best.map(|(_, _, index)| index)
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/// Kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A maximal run of alphabetic characters.
    Word,
    /// Digits, with `,ddd` thousands groups and one `.d+` decimal part.
    Num,
    /// A `$` sign.
    Dollar,
    /// Sentinel after the last token; its `sep` is the trailing text.
    End,
}

/// One token of lowercased text.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    /// The raw text between the previous token and this one ("" when glued,
    /// as "k" in "2k" or "th" in "5th").
    sep: &'a str,
}

/// Splits `s` into words, numbers and `$` signs; everything else separates.
/// Always ends with one [`Kind::End`] token.
fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut toks = Vec::with_capacity(s.len() / 4 + 2);
    let mut i = 0;
    let mut prev_end = 0;
    while let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) {
        let start = i;
        let kind = if c.is_ascii_digit() {
            i = scan_number(b, i);
            Kind::Num
        } else if c.is_alphabetic() {
            i += c.len_utf8();
            while let Some(d) = s.get(i..).and_then(|rest| rest.chars().next()) {
                if !d.is_alphabetic() {
                    break;
                }
                i += d.len_utf8();
            }
            Kind::Word
        } else if c == '$' {
            i += 1;
            Kind::Dollar
        } else {
            i += c.len_utf8();
            continue;
        };
        toks.push(Tok {
            kind,
            text: &s[start..i],
            sep: &s[prev_end..start],
        });
        prev_end = i;
    }
    toks.push(Tok {
        kind: Kind::End,
        text: "",
        sep: &s[prev_end..],
    });
    toks
}

/// End of the number starting at `i` (an ASCII digit): digits, then
/// `,ddd` groups (exactly three digits each), then at most one `.d+`.
fn scan_number(b: &[u8], mut i: usize) -> usize {
    let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
    while digit(i) {
        i += 1;
    }
    while b.get(i) == Some(&b',') && digit(i + 1) && digit(i + 2) && digit(i + 3) && !digit(i + 4) {
        i += 4;
    }
    if b.get(i) == Some(&b'.') && digit(i + 1) {
        i += 1;
        while digit(i) {
            i += 1;
        }
    }
    i
}

/// Separator that keeps two words in one phrase: whitespace and hyphens only.
fn joinable(sep: &str) -> bool {
    !sep.is_empty()
        && sep
            .chars()
            .all(|c| c.is_whitespace() || matches!(c, '-' | '\u{2010}' | '\u{2011}' | '\u{2013}'))
}

/// Separator between a number and its unit: glued, whitespace or hyphen.
fn adjacent(sep: &str) -> bool {
    sep.is_empty() || joinable(sep)
}

/// Separator a lead word may be read across ("budget: 1500", "count ~60").
fn soft(sep: &str) -> bool {
    sep.chars()
        .all(|c| c.is_whitespace() || matches!(c, ':' | '~' | '-' | '=' | '(' | '"' | '\u{2013}'))
}

/// Separator that ends a clause (for routing money to cake/catering/total).
fn clause_break(sep: &str) -> bool {
    sep.contains(',') || sentence_break(sep)
}

/// Separator that ends a sentence.
fn sentence_break(sep: &str) -> bool {
    sep.chars()
        .any(|c| matches!(c, '.' | ';' | '!' | '?' | '\n'))
}

/// Value of a number token (commas ignored); `None` if not finite.
fn num_value(text: &str) -> Option<f64> {
    let mut v = 0.0_f64;
    let mut scale: Option<f64> = None;
    for c in text.bytes() {
        match c {
            b'0'..=b'9' => {
                let d = f64::from(c - b'0');
                match scale.as_mut() {
                    None => v = v * 10.0 + d,
                    Some(s) => {
                        *s /= 10.0;
                        v += d * *s;
                    }
                }
            }
            b'.' => scale = Some(1.0),
            _ => {}
        }
    }
    v.is_finite().then_some(v)
}

// ---------------------------------------------------------------------------
// Phrase matching
// ---------------------------------------------------------------------------

/// Phrases indexed by their first word, so a text is matched with one map
/// look-up per token rather than one scan per keyword.
struct PhraseMap<V> {
    by_first: HashMap<&'static str, Vec<(Vec<&'static str>, V)>>,
}

impl<V: Copy> PhraseMap<V> {
    fn new(entries: impl IntoIterator<Item = (&'static str, V)>) -> Self {
        let mut by_first: HashMap<&'static str, Vec<(Vec<&'static str>, V)>> = HashMap::new();
        for (phrase, v) in entries {
            let words: Vec<&'static str> = tokenize(phrase)
                .iter()
                .filter(|t| t.kind != Kind::End)
                .map(|t| t.text)
                .collect();
            if let Some((first, rest)) = words.split_first() {
                by_first.entry(*first).or_default().push((rest.to_vec(), v));
            }
        }
        Self { by_first }
    }

    /// Calls `f(position, value)` for every phrase occurrence, in text order.
    fn scan(&self, toks: &[Tok<'_>], mut f: impl FnMut(usize, V)) {
        for (i, t) in toks.iter().enumerate() {
            if !matches!(t.kind, Kind::Word | Kind::Dollar) {
                continue;
            }
            let Some(candidates) = self.by_first.get(t.text) else {
                continue;
            };
            for (rest, v) in candidates {
                let hit = rest.iter().enumerate().all(|(k, w)| {
                    toks.get(i + 1 + k)
                        .is_some_and(|n| n.kind == Kind::Word && n.text == *w && joinable(n.sep))
                });
                if hit {
                    f(i, *v);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

/// Bits for the keyword ids of one text; the tables hold ~430 keywords.
const SEEN_WORDS: usize = 8;

/// Every category's keywords, each with a global id.
struct Classifier {
    map: PhraseMap<u16>,
    /// Category of each keyword id.
    category: Vec<Category>,
}

fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| {
        let mut category = Vec::new();
        let mut entries = Vec::new();
        for cat in Category::ALL {
            // Deduplicate on the token sequence, so spelling variants that
            // tokenize alike ("t-rex"/"t rex") cannot double-count either.
            let mut seen: Vec<String> = Vec::new();
            for &kw in keywords::keywords(cat) {
                let key = tokenize(kw)
                    .iter()
                    .map(|t| t.text)
                    .collect::<Vec<_>>()
                    .join(" ");
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let id = u16::try_from(category.len()).expect("keyword tables fit u16 ids");
                category.push(cat);
                entries.push((kw, id));
            }
        }
        assert!(
            category.len() <= SEEN_WORDS * 64,
            "keyword tables outgrew the seen-bitset"
        );
        Classifier {
            map: PhraseMap::new(entries),
            category,
        }
    })
}

impl Classifier {
    /// Adds `points` per distinct keyword of `toks` to its category's score.
    fn score(&self, toks: &[Tok<'_>], points: f64, scores: &mut [f64; Category::ALL.len()]) {
        let mut seen = [0_u64; SEEN_WORDS];
        self.map.scan(toks, |_, id| {
            let id = usize::from(id);
            seen[id / 64] |= 1 << (id % 64);
        });
        for (w, bits) in seen.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let id = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                scores[self.category[id] as usize] += points;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Fact vocabulary
// ---------------------------------------------------------------------------

/// Settings in precedence order: within one input the first listed wins.
const SETTINGS: [&str; 6] = ["outdoor", "indoor", "park", "hall", "home", "downtown"];

/// What a phrase of the fact vocabulary tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Diet(&'static str),
    /// Index into [`SETTINGS`].
    Setting(usize),
    Flavor(&'static str),
    Cuisine(&'static str),
    Vendor(&'static str),
    /// A money-routing keyword (one of the `DOMAIN_*` bits).
    Domain(u8),
}

/// The clause/input speaks about the whole party ("budget", "total", "party").
const DOMAIN_TOTAL: u8 = 1;
/// The clause/input speaks about the cake.
const DOMAIN_CAKE: u8 = 2;
/// The clause/input speaks about food.
const DOMAIN_CATERING: u8 = 4;

fn vocabulary() -> &'static PhraseMap<Term> {
    static VOCAB: OnceLock<PhraseMap<Term>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut e: Vec<(&'static str, Term)> = Vec::new();
        let mut add = |words: &[&'static str], t: Term| e.extend(words.iter().map(|w| (*w, t)));

        add(&["vegan", "vegans"], Term::Diet("vegan"));
        add(&["vegetarian", "vegetarians"], Term::Diet("vegetarian"));
        add(
            &[
                "gluten free",
                "no gluten",
                "without gluten",
                "celiac",
                "coeliac",
                "gluten allergy",
                "gluten intolerant",
                "gluten intolerance",
            ],
            Term::Diet("gluten-free"),
        );
        add(
            &[
                "dairy free",
                "lactose free",
                "no dairy",
                "without dairy",
                "lactose intolerant",
                "lactose intolerance",
                "dairy allergy",
                "milk allergy",
            ],
            Term::Diet("dairy-free"),
        );
        add(
            &[
                "nut free",
                "peanut free",
                "no nuts",
                "no peanuts",
                "without nuts",
                "nut allergy",
                "nut allergies",
                "peanut allergy",
                "peanut allergies",
            ],
            Term::Diet("nut-free"),
        );
        add(&["halal"], Term::Diet("halal"));
        add(&["kosher"], Term::Diet("kosher"));

        add(&["outdoor", "outdoors"], Term::Setting(0));
        add(&["indoor", "indoors"], Term::Setting(1));
        add(&["park"], Term::Setting(2));
        add(&["hall"], Term::Setting(3));
        add(
            &["home", "our house", "my house", "our place", "backyard"],
            Term::Setting(4),
        );
        add(&["downtown"], Term::Setting(5));

        for f in [
            "chocolate",
            "vanilla",
            "strawberry",
            "red velvet",
            "lemon",
            "carrot",
        ] {
            add(&[f], Term::Flavor(f));
        }

        for c in [
            "mexican",
            "italian",
            "bbq",
            "chinese",
            "indian",
            "japanese",
            "mediterranean",
            "american",
            "thai",
        ] {
            add(&[c], Term::Cuisine(c));
        }
        add(&["barbecue", "barbeque"], Term::Cuisine("bbq"));

        add(
            &[
                "decoration",
                "decorations",
                "decor",
                "balloon",
                "balloons",
                "florist",
                "flowers",
                "banner",
                "banners",
            ],
            Term::Vendor("decorations"),
        );
        add(
            &[
                "dj",
                "music",
                "magician",
                "clown",
                "entertainer",
                "entertainment",
                "performer",
                "face painting",
                "face painter",
            ],
            Term::Vendor("entertainment"),
        );
        add(
            &[
                "photographer",
                "photography",
                "photo booth",
                "photos",
                "videographer",
            ],
            Term::Vendor("photography"),
        );
        add(
            &[
                "rental",
                "rentals",
                "tables",
                "chairs",
                "tent",
                "tents",
                "bouncy house",
                "bounce house",
                "inflatable",
                "inflatables",
            ],
            Term::Vendor("rentals"),
        );

        add(
            &[
                "budget",
                "total",
                "overall",
                "party",
                "everything",
                "entire",
                "altogether",
            ],
            Term::Domain(DOMAIN_TOTAL),
        );
        add(
            &[
                "cake", "cakes", "cupcake", "cupcakes", "bakery", "bakeries", "baker",
            ],
            Term::Domain(DOMAIN_CAKE),
        );
        add(
            &[
                "food",
                "catering",
                "caterer",
                "caterers",
                "menu",
                "meal",
                "meals",
                "lunch",
                "dinner",
                "breakfast",
                "snacks",
                "appetizers",
                "buffet",
                "refreshments",
                "drinks",
                "beverages",
                "cuisine",
                "dishes",
                "pizza",
            ],
            Term::Domain(DOMAIN_CATERING),
        );
        PhraseMap::new(e)
    })
}

// ---------------------------------------------------------------------------
// Number vocabulary
// ---------------------------------------------------------------------------

/// Units that make the number before them an age ("5 year old", "7yo").
const AGE_UNITS: &[&str] = &["year", "years", "yr", "yrs", "yo"];
/// Units that make a number neither an age nor guests ("18 months old").
const SMALL_AGE_UNITS: &[&str] = &["month", "months", "mo", "mos", "week", "weeks", "wk", "wks"];
/// Ordinal suffixes glued to a number ("5th").
const ORDINALS: &[&str] = &["th", "st", "nd", "rd"];
/// Words after an ordinal that make it an age ("5th birthday").
const BIRTHDAY: &[&str] = &["birthday", "birthdays", "bday"];
/// Words before a number that make it an age ("turning 6", "age 8", "ages 5-8").
const AGE_LEADS: &[&str] = &["turning", "turns", "turn", "age", "aged", "ages"];

/// Nouns that make the number before them a guest count: (noun, class).
const GUEST_NOUNS: &[(&str, GuestClass)] = &[
    ("guest", GuestClass::Generic),
    ("guests", GuestClass::Generic),
    ("people", GuestClass::Generic),
    ("person", GuestClass::Generic),
    ("persons", GuestClass::Generic),
    ("attendee", GuestClass::Generic),
    ("attendees", GuestClass::Generic),
    ("visitors", GuestClass::Generic),
    ("invitees", GuestClass::Generic),
    ("friends", GuestClass::Generic),
    ("pax", GuestClass::Generic),
    ("kid", GuestClass::Kids),
    ("kids", GuestClass::Kids),
    ("child", GuestClass::Kids),
    ("children", GuestClass::Kids),
    ("toddlers", GuestClass::Kids),
    ("teens", GuestClass::Kids),
    ("teenagers", GuestClass::Kids),
    ("boys", GuestClass::Kids),
    ("girls", GuestClass::Kids),
    ("students", GuestClass::Kids),
    ("adult", GuestClass::Adults),
    ("adults", GuestClass::Adults),
    ("parents", GuestClass::Adults),
    ("grownups", GuestClass::Adults),
];
/// Adjectives allowed between a number and its guest noun ("30 little kids").
const GUEST_FILLERS: &[&str] = &[
    "little", "young", "small", "hungry", "happy", "excited", "total",
];
/// Hedges skipped when looking back from a number for its lead word.
const HEDGES: &[&str] = &[
    "about",
    "around",
    "approximately",
    "approx",
    "roughly",
    "maybe",
    "nearly",
    "almost",
    "over",
    "under",
    "up",
    "to",
    "at",
    "least",
    "most",
    "like",
    "some",
    "only",
    "just",
    "exactly",
    "than",
    "more",
    "less",
    "no",
    "max",
    "maximum",
    "estimated",
    "expected",
    "probably",
    "perhaps",
];
/// Linking words also skipped before "count"/"guests" ("guest count is 60").
const LINKS: &[&str] = &[
    "is", "are", "will", "be", "of", "should", "would", "was", "s",
];
/// Lead words that make the next number a guest count ("inviting 40").
const GUEST_LEADS: &[&str] = &[
    "inviting",
    "invite",
    "invited",
    "invites",
    "expecting",
    "expect",
    "hosting",
    "headcount",
    "serves",
    "serve",
    "serving",
    "feeds",
    "feed",
    "feeding",
    "seating",
    "seats",
];
/// "<x> of N" leads ("party of 20", "group of 15").
const GUEST_OF_LEADS: &[&str] = &["party", "group"];
/// "<x> count/size N" leads ("guest count 60", "party size 20", "head count 12").
const GUEST_COUNT_LEADS: &[&str] = &["guest", "party", "group", "head"];
/// Nouns a count may follow ("guests: 60", "number of people is 40").
const GUEST_NOUN_LEADS: &[&str] = &["guests", "people", "attendees"];
/// Words after "for N" that make N something other than guests.
const NOT_GUEST_UNITS: &[&str] = &[
    "year", "years", "yr", "yrs", "yo", "month", "months", "mo", "mos", "week", "weeks", "day",
    "days", "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "night", "nights",
    "am", "pm", "o", "dollars", "dollar", "usd", "bucks", "grand", "k", "percent", "th", "st",
    "nd", "rd", "x",
];

/// Words after a number that make it money ("500 dollars").
const MONEY_WORDS: &[&str] = &["dollars", "dollar", "usd", "bucks"];
/// Words before a bare number that make it money ("budget of 1500").
const MONEY_LEADS: &[&str] = &[
    "budget",
    "budgeted",
    "budgeting",
    "spend",
    "spending",
    "cost",
    "costs",
    "price",
    "pay",
    "paying",
    "afford",
];
/// Words skipped between a money lead and its number ("budget is around 1500").
const MONEY_SKIPS: &[&str] = &[
    "is",
    "of",
    "be",
    "will",
    "would",
    "can",
    "could",
    "should",
    "we",
    "i",
    "to",
    "up",
    "set",
    "our",
    "my",
    "the",
    "a",
    "an",
    "total",
    "overall",
    "max",
    "maximum",
    "limit",
    "cap",
    "s",
    "it",
    "like",
    "want",
    "only",
    "just",
    "around",
    "about",
    "approximately",
    "approx",
    "roughly",
    "under",
    "below",
    "over",
    "at",
    "most",
    "less",
    "than",
    "no",
    "more",
    "not",
    "exceed",
    "somewhere",
    "near",
    "maybe",
    "between",
    "from",
    "are",
    "was",
    "tops",
];
/// Words after an amount that make it a per-unit price ("$15 per person").
const PER_UNIT_NOUNS: &[&str] = &[
    "head", "person", "plate", "guest", "kid", "child", "adult", "hour", "hr", "day", "night",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuestClass {
    Generic,
    Kids,
    Adults,
}

/// What a number token was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Free,
    Age,
    Money,
    /// Ordinals, times, month ages: never guests or money.
    Other,
}

// ---------------------------------------------------------------------------
// Per-text analysis
// ---------------------------------------------------------------------------

/// Facts of one text.
#[derive(Debug, Default)]
struct TextFacts {
    guest_count: Option<u32>,
    ages: Vec<u32>,
    budget: Option<u64>,
    cake_budget: Option<u64>,
    catering_budget: Option<u64>,
    dietary: Vec<&'static str>,
    setting: Option<&'static str>,
    flavors: Vec<&'static str>,
    cuisines: Vec<&'static str>,
    vendor_categories: Vec<&'static str>,
}

fn push_unique(list: &mut Vec<&'static str>, v: &'static str) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// Parses the facts of one tokenized text (see the module docs for the rules).
fn analyze(toks: &[Tok<'_>]) -> TextFacts {
    let mut out = TextFacts::default();

    // Clause and sentence ids, and the money domains each one names.
    let mut clause = Vec::with_capacity(toks.len());
    let mut sentence = Vec::with_capacity(toks.len());
    let (mut c, mut s) = (0_usize, 0_usize);
    for t in toks {
        c += usize::from(clause_break(t.sep));
        s += usize::from(sentence_break(t.sep));
        clause.push(c);
        sentence.push(s);
    }
    let mut clause_domain = vec![0_u8; c + 1];
    let mut sentence_domain = vec![0_u8; s + 1];

    let mut best_setting: Option<usize> = None;
    vocabulary().scan(toks, |pos, term| match term {
        Term::Diet(d) => push_unique(&mut out.dietary, d),
        Term::Setting(s) => best_setting = Some(best_setting.map_or(s, |b| b.min(s))),
        Term::Flavor(f) => push_unique(&mut out.flavors, f),
        Term::Cuisine(c) => push_unique(&mut out.cuisines, c),
        Term::Vendor(v) => push_unique(&mut out.vendor_categories, v),
        Term::Domain(d) => {
            clause_domain[clause[pos]] |= d;
            sentence_domain[sentence[pos]] |= d;
        }
    });
    out.setting = best_setting.map(|s| SETTINGS[s]);
    let input_domain = clause_domain.iter().fold(0, |a, d| a | d);

    let mut role = vec![Role::Free; toks.len()];
    read_ages(toks, &mut role, &mut out.ages);
    read_money(toks, &mut role, |pos, amount| {
        // The narrowest scope that names a domain decides: clause, then
        // sentence, then the whole input; an amount with no context is total.
        let dest = route(clause_domain[clause[pos]])
            .or(route(sentence_domain[sentence[pos]]))
            .or(route(input_domain))
            .unwrap_or(DOMAIN_TOTAL);
        let slot = match dest {
            DOMAIN_CAKE => &mut out.cake_budget,
            DOMAIN_CATERING => &mut out.catering_budget,
            _ => &mut out.budget,
        };
        // Several amounts for one destination in one text: the largest is the
        // total the others are parts of.
        *slot = Some(slot.map_or(amount, |a| a.max(amount)));
    });
    out.guest_count = read_guests(toks, &role);
    out
}

/// Where money of a clause/input with these domain bits goes, if decided:
/// any total word, or both cake and food → total; cake only → cake; food only
/// → catering.
fn route(domain: u8) -> Option<u8> {
    if domain == 0 {
        None
    } else if domain & DOMAIN_TOTAL != 0 || domain == DOMAIN_CAKE | DOMAIN_CATERING {
        Some(DOMAIN_TOTAL)
    } else {
        Some(domain)
    }
}

fn word<'a>(toks: &[Tok<'a>], i: usize) -> Option<&'a str> {
    toks.get(i).filter(|t| t.kind == Kind::Word).map(|t| t.text)
}

/// The word right after token `i`, when glued or separated by spaces/hyphens.
fn unit_after<'a>(toks: &[Tok<'a>], i: usize) -> Option<&'a str> {
    toks.get(i + 1)
        .filter(|t| t.kind == Kind::Word && adjacent(t.sep))
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

fn int_value(t: &Tok<'_>) -> Option<u64> {
    if t.kind != Kind::Num || t.text.contains('.') {
        return None;
    }
    t.text
        .bytes()
        .filter(u8::is_ascii_digit)
        .try_fold(0_u64, |v, d| {
            v.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
}

/// The number token that ends a range starting at number `i` ("5-8",
/// "5 to 8"), if any.
fn range_partner(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let next = toks.get(i + 1)?;
    if next.kind == Kind::Num && next.sep.contains(['-', '\u{2013}']) && soft(next.sep) {
        return Some(i + 1);
    }
    (word(toks, i + 1) == Some("to") && joinable(next.sep))
        .then_some(i + 2)
        .filter(|&k| {
            toks.get(k)
                .is_some_and(|t| t.kind == Kind::Num && joinable(t.sep))
        })
}

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

/// Marks ages ("5 year old", "7-year-old", "5th birthday", "turning 6",
/// "age 8", "ages 5-8") and the numbers that are never guests nor money
/// (other ordinals, "18 months").
fn read_ages(toks: &[Tok<'_>], role: &mut [Role], ages: &mut Vec<u32>) {
    let mut add = |v: u32| {
        if !ages.contains(&v) {
            ages.push(v);
        }
    };
    for i in 0..toks.len() {
        if toks[i].kind != Kind::Num {
            continue;
        }
        if age_unit_after(toks, i)
            || range_partner(toks, i).is_some_and(|k| age_unit_after(toks, k))
        {
            // "5 year old", and the lower end of "5-8 year olds".
            role[i] = Role::Other;
            if let Some(v) = age_value(&toks[i]) {
                role[i] = Role::Age;
                add(v);
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
                if unit_after(toks, i + 1).is_some_and(|w| BIRTHDAY.contains(&w)) {
                    if let Some(v) = age_value(&toks[i]) {
                        role[i] = Role::Age;
                        add(v);
                    }
                }
                continue;
            }
        }
        let Some(v) = age_value(&toks[i]) else {
            continue;
        };
        let led =
            i > 0 && soft(toks[i].sep) && word(toks, i - 1).is_some_and(|w| AGE_LEADS.contains(&w));
        // The upper end of an age range: "ages 5-8", "ages 5 to 8".
        let range_end =
            ((i >= 1 && role[i - 1] == Role::Age && range_partner(toks, i - 1) == Some(i))
                || (i >= 2 && role[i - 2] == Role::Age && range_partner(toks, i - 2) == Some(i)))
                && guest_noun_after(toks, i).is_none();
        if led || range_end {
            role[i] = Role::Age;
            add(v);
        }
    }
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
        _ => (1, i, false),
    }
}

/// The guest class of the noun after the amount ending at `end`, if any
/// ("75 guests", "30 little kids").
fn guest_noun_after(toks: &[Tok<'_>], end: usize) -> Option<GuestClass> {
    let class = |w: &str| GUEST_NOUNS.iter().find(|(n, _)| *n == w).map(|(_, c)| *c);
    let w = unit_after(toks, end)?;
    class(w).or_else(|| {
        GUEST_FILLERS
            .contains(&w)
            .then(|| unit_after(toks, end + 1).and_then(class))
            .flatten()
    })
}

/// The amount starting at number token `i`: (value, last token), with a "$"
/// or money word after it included in the span.
fn amount_at(toks: &[Tok<'_>], i: usize) -> Option<(f64, usize, bool)> {
    let v = num_value(toks[i].text)?;
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

/// Reads money amounts and reports (position, dollars) for each total or
/// item amount; per-unit prices are marked but not reported.
fn read_money(toks: &[Tok<'_>], role: &mut [Role], mut report: impl FnMut(usize, u64)) {
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
        if !(dollar || suffix_money || led || budget_after) {
            continue;
        }
        role[i] = Role::Money;
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
            report(i, rounded as u64);
        }
    }
}

/// The guest count of one text: the first count with a generic noun or lead
/// ("75 guests", "party of 20", "inviting 40"); else the sum of the first
/// kids and first adults counts ("20 kids and 10 adults" → 30); else a bare
/// "for N" ("table for 30").
fn read_guests(toks: &[Tok<'_>], role: &[Role]) -> Option<u32> {
    let mut generic = None;
    let mut kids = None;
    let mut adults = None;
    let mut bare = None;
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
        if let Some(class) = guest_noun_after(toks, end) {
            let slot = match class {
                GuestClass::Generic => &mut generic,
                GuestClass::Kids => &mut kids,
                GuestClass::Adults => &mut adults,
            };
            slot.get_or_insert(v);
            continue;
        }
        if mult != 1 {
            continue; // "2k" without a guest noun is not a count.
        }
        if strong_guest_lead(toks, i) {
            generic.get_or_insert(v);
        } else if bare.is_none() && bare_for(toks, i, v) {
            // "for 20-25" / "for 20 to 25": the upper end.
            let upper = range_partner(toks, i)
                .filter(|&k| role[k] == Role::Free)
                .and_then(|k| int_value(&toks[k]))
                .and_then(|u| u32::try_from(u.min(u64::from(MAX_GUESTS))).ok());
            bare = Some(upper.map_or(v, |u| u.max(v)));
        }
    }
    generic
        .or(match (kids, adults) {
            (None, None) => None,
            (k, a) => Some(
                k.unwrap_or(0)
                    .saturating_add(a.unwrap_or(0))
                    .min(MAX_GUESTS),
            ),
        })
        .or(bare)
}

/// "inviting 40", "expecting about 100", "party of 20", "guest count 60",
/// "party size: 20", "guests: 60", "number of people is 40".
fn strong_guest_lead(toks: &[Tok<'_>], i: usize) -> bool {
    if let Some(j) = lead_before(toks, i, &[HEDGES]) {
        let w = toks[j].text;
        if GUEST_LEADS.contains(&w) {
            return true;
        }
        if w == "of"
            && soft(toks[j].sep)
            && j > 0
            && word(toks, j - 1).is_some_and(|p| GUEST_OF_LEADS.contains(&p))
        {
            return true;
        }
    }
    if let Some(j) = lead_before(toks, i, &[HEDGES, LINKS]) {
        let w = toks[j].text;
        if GUEST_LEADS.contains(&w) || GUEST_NOUN_LEADS.contains(&w) {
            return true;
        }
        if matches!(w, "count" | "size")
            && j > 0
            && joinable(toks[j].sep)
            && word(toks, j - 1).is_some_and(|p| GUEST_COUNT_LEADS.contains(&p))
        {
            return true;
        }
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SourceType;

    fn cats(content: &str, tags: &[&str]) -> Vec<Category> {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        classify(content, &tags)
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }

    fn classify_tags(content: &str, tags: &[&str]) -> Vec<(Category, f64)> {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        classify(content, &tags)
    }

    fn score(content: &str, tags: &[&str], cat: Category) -> f64 {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        classify(content, &tags)
            .into_iter()
            .find(|(c, _)| *c == cat)
            .map_or(0.0, |(_, s)| s)
    }

    fn input(i: usize, content: &str) -> Input {
        Input {
            input_id: format!("inp_{i}"),
            content: content.to_owned(),
            source_type: SourceType::Text,
            tags: Vec::new(),
            added_by: "user".to_owned(),
            added_at: "2024-01-01T00:00:00Z".to_owned(),
            metadata: serde_json::Map::new(),
            image_url: None,
        }
    }

    #[test]
    fn memoized_answers_equal_fresh_ones_and_follow_the_city_list() {
        let texts = [
            "jungle theme party for 75 guests",
            "need a chocolate cake with animal decorations, vegan",
            "outdoor venue in Austin preferred, budget around $2000",
        ];
        for t in texts {
            let tags = vec!["Cake".to_owned()];
            for _ in 0..2 {
                assert_eq!(classify(t, &tags), classify_uncached(t, &tags));
                assert_eq!(classify(t, &[]), classify_uncached(t, &[]));
            }
        }
        let inputs = [input(0, texts[2])];
        let austin = ["austin".to_owned(), "boston".to_owned()];
        let boston = ["boston".to_owned()];
        for _ in 0..2 {
            assert_eq!(
                extract_facts(&inputs, &austin).city.as_deref(),
                Some("austin")
            );
            assert_eq!(extract_facts(&inputs, &boston).city, None);
        }
    }

    fn facts_of(contents: &[&str]) -> Facts {
        let inputs: Vec<Input> = contents
            .iter()
            .enumerate()
            .map(|(i, c)| input(i, c))
            .collect();
        extract_facts(&inputs, &[])
    }

    fn facts(content: &str) -> Facts {
        facts_of(&[content])
    }

    use Category::*;

    // ---- keyword tables ----

    #[test]
    fn tables_are_deduplicated_and_sized_as_the_prototype() {
        assert_eq!(keywords::theme_keywords().len(), 320);
        assert_eq!(keywords::VENUE.len(), 20);
        for cat in Category::ALL {
            let list = keywords::keywords(cat);
            for (i, kw) in list.iter().enumerate() {
                assert!(!list[..i].contains(kw), "{cat:?} repeats {kw}");
            }
        }
        assert!(classifier().category.len() <= SEEN_WORDS * 64);
    }

    #[test]
    fn every_keyword_matches_itself() {
        for cat in Category::ALL {
            for kw in keywords::keywords(cat) {
                assert!(cats(kw, &[]).contains(&cat), "{kw} does not match {cat:?}");
            }
        }
    }

    // ---- classification examples ----

    #[test]
    fn jungle_party_is_theme_and_guest() {
        assert_eq!(
            cats("jungle theme party for 75 guests", &[]),
            vec![Theme, Guest]
        );
        assert_eq!(score("jungle theme party for 75 guests", &[], Theme), 4.0);
        assert_eq!(score("jungle theme party for 75 guests", &[], Guest), 2.0);
        assert_eq!(
            cats("jungle theme party for 75 guests", &["theme", "venue"]),
            vec![Theme, Venue, Guest]
        );
        assert_eq!(
            score(
                "jungle theme party for 75 guests",
                &["theme", "venue"],
                Venue
            ),
            3.0
        );
        assert_eq!(
            score(
                "jungle theme party for 75 guests",
                &["theme", "venue"],
                Theme
            ),
            7.0
        );
    }

    #[test]
    fn prototype_examples() {
        assert_eq!(
            cats("outdoor venue preferred, budget around $2000", &[]),
            vec![Theme, Venue, Budget]
        );
        assert_eq!(
            score("outdoor venue preferred, budget around $2000", &[], Venue),
            2.0,
            "venue no longer double-counts"
        );
        assert_eq!(
            cats("princess castle theme party for 30 kids", &[]),
            vec![Theme]
        );
        assert_eq!(
            cats("need a chocolate cake with animal decorations", &[]),
            vec![Theme, Cake]
        );
        assert_eq!(
            cats("galaxy-themed cake with planet decorations", &[]),
            vec![Theme, Cake]
        );
        assert_eq!(
            cats("chocolate cake with rainbow frosting", &[]),
            vec![Theme, Cake]
        );
        assert_eq!(
            cats("pink vanilla cake with crown topper", &[]),
            vec![Theme, Cake]
        );
    }

    #[test]
    fn nothing_matches_falls_back_to_theme() {
        assert_eq!(classify("", &[]), vec![(Theme, 1.0)]);
        assert_eq!(classify("hello there", &[]), vec![(Theme, 1.0)]);
        assert_eq!(classify("   !!! ", &[]), vec![(Theme, 1.0)]);
    }

    #[test]
    fn no_substring_matches() {
        // party ⊅ art, price ⊅ ice, team ⊅ tea, start ⊅ star(s), season ⊅ sea.
        assert_eq!(classify("a party", &[]), vec![(Theme, 1.0)]); // fallback only
        assert_eq!(classify("artful", &[]), vec![(Theme, 1.0)]);
        assert_eq!(cats("what price", &[]), vec![Budget]);
        assert!(!cats("the price", &[]).contains(&Theme));
        assert_eq!(cats("our team", &[]), vec![Theme]); // team is a sports word
        assert_eq!(score("our team", &[], Theme), 2.0); // …but not also "tea"
        assert_eq!(classify("start now", &[]), vec![(Theme, 1.0)]);
        assert_eq!(classify("this season", &[]), vec![(Theme, 1.0)]);
        assert_eq!(
            classify("nice service", &[]),
            vec![(Catering, 2.0), (Vendor, 2.0)]
        );
        assert_eq!(classify("steakhouse", &[]), vec![(Theme, 1.0)]);
        // decorations is not the vendor keyword decoration
        assert!(!cats("decorations", &[]).contains(&Vendor));
        assert!(cats("decoration", &[]).contains(&Vendor));
    }

    #[test]
    fn phrases_match_consecutive_words_only() {
        assert!(cats("a birthday cake", &[]).contains(&Cake));
        assert_eq!(score("birthday cake", &[], Cake), 4.0); // cake + birthday cake
        assert_eq!(score("tea party", &[], Theme), 4.0); // tea + tea party
        assert_eq!(cats("the number of people", &[]), vec![Guest]);
        assert_eq!(classify("number of the people", &[]), vec![(Guest, 2.0)]);
        // a comma breaks a phrase
        assert_eq!(score("tea, party", &[], Theme), 2.0);
        assert_eq!(classify("zip-code", &[]), vec![(Venue, 2.0)]);
    }

    #[test]
    fn hyphens_and_dollars() {
        assert!(cats("galaxy-themed", &[]).contains(&Theme));
        assert_eq!(cats("a t-rex", &[]), vec![Theme]);
        assert_eq!(cats("T-Rex", &[]), vec![Theme]);
        assert_eq!(classify("multi-color", &[]), vec![(Theme, 4.0)]); // multi-color + color
        assert_eq!(classify("$2000", &[]), vec![(Budget, 2.0)]);
        assert_eq!(classify("2000 $", &[]), vec![(Budget, 2.0)]);
        assert_eq!(classify("US$ 20", &[]), vec![(Budget, 2.0)]);
        assert_eq!(classify("2000 dollars", &[]), vec![(Theme, 1.0)]); // "dollar" only
    }

    #[test]
    fn case_and_tags() {
        assert_eq!(cats("JUNGLE", &[]), vec![Theme]);
        assert_eq!(classify_tags("", &["Venue"]), vec![(Venue, 3.0)]);
        assert_eq!(classify_tags("", &["venue", "venue"]), vec![(Venue, 6.0)]);
        assert_eq!(classify_tags("", &["venue location"]), vec![(Venue, 6.0)]);
        assert_eq!(classify_tags("", &["venues"]), vec![(Theme, 1.0)]);
        assert_eq!(classify_tags("", &["party"]), vec![(Theme, 1.0)]);
        assert_eq!(classify_tags("", &[""]), vec![(Theme, 1.0)]);
    }

    #[test]
    fn repeated_keywords_count_once() {
        assert_eq!(classify("cake cake cake", &[]), vec![(Cake, 2.0)]);
    }

    // ---- guests and ages ----

    #[test]
    fn guest_count_formats() {
        for (text, n) in [
            ("75 guests", 75),
            ("75 people", 75),
            ("75 persons", 75),
            ("75 attendees", 75),
            ("75 kids", 75),
            ("75 children", 75),
            ("30 adults", 30),
            ("for 30 kids", 30),
            ("party of 20", 20),
            ("a party of about 20", 20),
            ("inviting 40", 40),
            ("we're inviting around 40", 40),
            ("guest count 60", 60),
            ("guest count is 60", 60),
            ("guest count: 60", 60),
            ("party size 12", 12),
            ("number of guests: 45", 45),
            ("expecting 100 people", 100),
            ("expecting 100", 100),
            ("about 50 guests", 50),
            ("1,200 guests", 1200),
            ("75guests", 75),
            ("30 little kids", 30),
            ("for 30", 30),
            ("party for about 30.", 30),
            ("jungle theme party for 75 guests", 75),
            ("princess castle theme party for 30 kids", 30),
            ("50-75 guests", 75),
            ("between 50 and 75 guests", 75),
            ("20 kids and 10 adults", 30),
            ("75 guests including 50 kids", 75),
        ] {
            assert_eq!(facts(text).guest_count, Some(n), "{text}");
            assert_eq!(parse_guest_count(text), Some(n), "{text}");
        }
    }

    #[test]
    fn guest_count_cap_and_zero() {
        assert_eq!(facts("50,000 guests").guest_count, Some(MAX_GUESTS));
        assert_eq!(facts("99999999999999999999999 guests").guest_count, None);
        assert_eq!(facts("0 guests").guest_count, None);
        assert_eq!(facts("2.5 guests").guest_count, None);
    }

    #[test]
    fn ages_are_not_guests() {
        for (text, age) in [
            ("for a 5 year old", 5),
            ("party for 5 year old", 5),
            ("for my 7-year-old", 7),
            ("for my 7 yr old", 7),
            ("for my 7yo", 7),
            ("turning 6", 6),
            ("he is turning 6 soon", 6),
            ("5th birthday", 5),
            ("his 21st birthday", 21),
            ("age 8", 8),
            ("for 9 years old", 9),
        ] {
            let f = facts(text);
            assert_eq!(f.guest_count, None, "{text}");
            assert_eq!(f.ages, vec![age], "{text}");
        }
        let f = facts("5th birthday for 12 kids, ages 5-8");
        assert_eq!(f.ages, vec![5, 8]);
        assert_eq!(f.guest_count, Some(12));
        assert_eq!(facts("kids ages 4 to 6").ages, vec![4, 6]);
        let f = facts("my son is turning 6 and we are inviting 20 kids");
        assert_eq!((f.ages, f.guest_count), (vec![6], Some(20)));
        assert_eq!(facts("party for 5 year old").guest_count, None);
        // A bare ordinal is a date, not anything else.
        let f = facts("party on the 5th for 30");
        assert_eq!((f.ages.len(), f.guest_count), (0, Some(30)));
        // Months are neither.
        let f = facts("party for 18 month old");
        assert_eq!((f.ages.len(), f.guest_count), (0, None));
    }

    #[test]
    fn age_ranges_and_spellings() {
        assert_eq!(facts("party for 5-8 year olds").ages, vec![5, 8]);
        assert_eq!(facts("party for 5 to 8 year olds").guest_count, None);
        assert_eq!(facts("for my 5 y/o").ages, vec![5]);
        assert_eq!(facts("for my 5 y/o").guest_count, None);
        let f = facts("my son is turning 6 and 20 kids are coming");
        assert_eq!((f.ages, f.guest_count), (vec![6], Some(20)));
        let f = facts("guests are 5 to 8 years old");
        assert_eq!((f.ages, f.guest_count), (vec![5, 8], None));
        assert_eq!(facts("age: 130").ages, Vec::<u32>::new());
        assert_eq!(facts("for 200 year old vampires").guest_count, None);
    }

    #[test]
    fn bare_for_ranges() {
        assert_eq!(facts("table for 20-25").guest_count, Some(25));
        assert_eq!(facts("for 20 to 25").guest_count, Some(25));
        assert_eq!(facts("for 30 to 40 kids").guest_count, Some(40));
    }

    #[test]
    fn bare_for_exclusions() {
        for text in [
            "for 30 minutes",
            "for 3 hours",
            "for 2 days",
            "for 30 dollars",
            "for 30 bucks",
            "for 30 $",
            "for 30%",
            "for 5:30",
            "for 2024",
            "for 5pm",
            "for 30th birthday",
            "for 2k",
            "for $30",
        ] {
            assert_eq!(facts(text).guest_count, None, "{text}");
        }
    }

    #[test]
    fn latest_statement_wins() {
        let f = facts_of(&["75 guests", "budget $2000", "actually 60 guests", "vegan"]);
        assert_eq!(f.guest_count, Some(60));
        assert_eq!(f.budget, Some(2000));
        let f = facts_of(&["budget $2000", "budget is now $1500", "30 kids"]);
        assert_eq!(f.budget, Some(1500));
        let f = facts_of(&["outdoor party", "at the hall", "more balloons"]);
        assert_eq!(f.setting.as_deref(), Some("hall"));
        let f = facts_of(&["turning 6", "for a 7 year old", "age 6"]);
        assert_eq!(f.ages, vec![6, 7]);
    }

    // ---- money ----

    #[test]
    fn money_formats() {
        for (text, n) in [
            ("budget around $2000", 2000),
            ("$2,000", 2000),
            ("2k", 2000),
            ("2K total", 2000),
            ("$2.5k", 2500),
            ("under 500 dollars", 500),
            ("500 usd", 500),
            ("500 bucks", 500),
            ("budget of 1500", 1500),
            ("our budget is roughly 1,500", 1500),
            ("budget: 1500", 1500),
            ("max $800", 800),
            ("up to $3000", 3000),
            ("$ 900", 900),
            ("900$", 900),
            ("$1,234,567", 1_234_567),
            ("$19.99", 20),
            ("2 grand", 2000),
            ("$3 thousand", 3000),
            ("$1,500-$2,000", 2000),
            ("$1500 - 2000", 2000),
            ("500 to 800 dollars", 800),
            ("between $1000 and $2000", 2000),
            ("$2-3k", 3000),
            ("we can spend up to 900", 900),
            ("a 2000 budget", 2000),
            ("outdoor venue preferred, budget around $2000", 2000),
        ] {
            assert_eq!(facts(text).budget, Some(n), "{text}");
            assert_eq!(parse_money(text), Some(n), "{text}");
        }
    }

    #[test]
    fn not_money() {
        for text in [
            "$15 per person",
            "$15/person",
            "$200/hr",
            "$10 a head",
            "$12 each",
            "$15 pp",
            "max 40",
            "under 500",
            "budget for 30",
            "budget for 30 guests",
            "75 guests",
            "$0",
            "for a 5 year old",
        ] {
            assert_eq!(parse_money(text), None, "{text}");
            assert_eq!(facts(text).budget, None, "{text}");
        }
        let f = facts("budget of 1500 for 30");
        assert_eq!((f.budget, f.guest_count), (Some(1500), Some(30)));
        let f = facts("budget $2000 for 75 guests, catering $15 per person");
        assert_eq!(f.budget, Some(2000));
        assert_eq!(f.catering_budget, None);
        assert_eq!(f.guest_count, Some(75));
    }

    #[test]
    fn money_is_routed_to_cake_catering_or_total() {
        let f = facts("cake under $60");
        assert_eq!((f.budget, f.cake_budget), (None, Some(60)));
        let f = facts("need cupcakes, max $80");
        assert_eq!((f.budget, f.cake_budget), (None, Some(80)));
        let f = facts("bakery quote $120");
        assert_eq!(f.cake_budget, Some(120));
        let f = facts("catering under $600");
        assert_eq!((f.budget, f.catering_budget), (None, Some(600)));
        let f = facts("food for everyone, around 700 dollars");
        assert_eq!((f.budget, f.catering_budget), (None, Some(700)));
        let f = facts("cake for the party under $100");
        assert_eq!((f.budget, f.cake_budget), (Some(100), None));
        let f = facts("total budget $3000 including the cake");
        assert_eq!((f.budget, f.cake_budget), (Some(3000), None));
        let f = facts("budget around $2000, cake under $100");
        assert_eq!((f.budget, f.cake_budget), (Some(2000), Some(100)));
        let f = facts("We have a budget of $1,500 total. Need pizza for 30 kids, under $300");
        assert_eq!((f.budget, f.catering_budget), (Some(1500), Some(300)));
        let f = facts("3 tier cake, red velvet, serves 40, around $150");
        assert_eq!((f.cake_budget, f.guest_count), (Some(150), Some(40)));
        let f = facts("cake and food under $300");
        assert_eq!(f.budget, Some(300));
        let f = facts_of(&["budget $2000", "chocolate cake, $60 max"]);
        assert_eq!((f.budget, f.cake_budget), (Some(2000), Some(60)));
        // A number followed by guests is never money, even in a budget input.
        let f = facts("budget $1500 for 40 people");
        assert_eq!((f.budget, f.guest_count), (Some(1500), Some(40)));
    }

    // ---- vocabulary facts ----

    #[test]
    fn dietary_synonyms() {
        for (text, d) in [
            ("vegan please", "vegan"),
            ("vegetarian options", "vegetarian"),
            ("gluten-free", "gluten-free"),
            ("gluten free", "gluten-free"),
            ("no gluten", "gluten-free"),
            ("one guest has celiac", "gluten-free"),
            ("dairy-free", "dairy-free"),
            ("dairy free", "dairy-free"),
            ("lactose free", "dairy-free"),
            ("no dairy", "dairy-free"),
            ("nut-free", "nut-free"),
            ("nut free", "nut-free"),
            ("no nuts", "nut-free"),
            ("peanut allergy", "nut-free"),
            ("a nut allergy", "nut-free"),
            ("halal", "halal"),
            ("kosher", "kosher"),
        ] {
            assert_eq!(facts(text).dietary, vec![d.to_owned()], "{text}");
        }
        let f = facts_of(&["vegan and gluten free", "no nuts, vegan", "Kosher"]);
        assert_eq!(f.dietary, ["vegan", "gluten-free", "nut-free", "kosher"]);
        assert!(facts("nutella glutenous").dietary.is_empty());
        assert!(facts("vegan food").cuisines.is_empty());
    }

    #[test]
    fn settings() {
        assert_eq!(facts("outdoors please").setting.as_deref(), Some("outdoor"));
        assert_eq!(facts("Indoor").setting.as_deref(), Some("indoor"));
        assert_eq!(facts("at a park").setting.as_deref(), Some("park"));
        assert_eq!(facts("party at our house").setting.as_deref(), Some("home"));
        assert_eq!(facts("at home").setting.as_deref(), Some("home"));
        assert_eq!(facts("downtown").setting.as_deref(), Some("downtown"));
        // Precedence within one input: outdoor > indoor > park > hall > home > downtown.
        assert_eq!(
            facts("hall downtown or a park, outdoor").setting.as_deref(),
            Some("outdoor")
        );
        assert_eq!(facts("parking at the mall").setting, None);
        assert_eq!(facts("homemade").setting, None);
    }

    #[test]
    fn cities() {
        let cities = vec![
            "springfield".to_owned(),
            "lake view".to_owned(),
            "".to_owned(),
        ];
        let f = extract_facts(&[input(0, "a party in Lake View")], &cities);
        assert_eq!(f.city.as_deref(), Some("lake view"));
        let f = extract_facts(&[input(0, "lakeview")], &cities);
        assert_eq!(f.city, None);
        let f = extract_facts(&[input(0, "lake, view")], &cities);
        assert_eq!(f.city, None);
        let f = extract_facts(
            &[input(0, "Springfield"), input(1, "no, lake view instead")],
            &cities,
        );
        assert_eq!(f.city.as_deref(), Some("lake view"));
        let f = extract_facts(&[input(0, "springfield or lake view")], &cities);
        assert_eq!(f.city.as_deref(), Some("springfield"));
        let f = extract_facts(&[input(0, "springfields")], &cities);
        assert_eq!(f.city, None);
        // Longest name at one position wins.
        let cities = vec!["lake".to_owned(), "lake view".to_owned()];
        let f = extract_facts(&[input(0, "lake view")], &cities);
        assert_eq!(f.city.as_deref(), Some("lake view"));
    }

    #[test]
    fn flavors_cuisines_vendors() {
        let f = facts("Red velvet and chocolate cake, vanilla frosting, lemony");
        assert_eq!(f.flavors, ["red velvet", "chocolate", "vanilla"]);
        let f = facts("Mexican or BBQ, maybe barbecue or thai; vegan");
        assert_eq!(f.cuisines, ["mexican", "bbq", "thai"]);
        let f = facts("need a DJ, balloons, a photo booth and a bouncy house; also a magician");
        assert_eq!(
            f.vendor_categories,
            ["entertainment", "decorations", "photography", "rentals"]
        );
        let f = facts("tables and chairs, photographer, florist");
        assert_eq!(
            f.vendor_categories,
            ["rentals", "photography", "decorations"]
        );
    }

    // ---- robustness ----

    #[test]
    fn empty_and_unicode_inputs() {
        assert_eq!(facts(""), Facts::default());
        assert_eq!(extract_facts(&[], &[]), Facts::default());
        let weird = "🎉🦖 T‑Rex party für 30 Kinder — ¡budget $２０００! İİİ ß ﬃ 🎂 cake 5️⃣ guests";
        let _ = classify(weird, &[weird.to_owned()]);
        let f = facts(weird);
        assert_eq!(f.guest_count, None);
        assert!(
            cats("🦖 t‑rex", &[]).contains(&Theme),
            "non-breaking hyphen joins"
        );
        let f = facts("🎉 party for 30 kids 🎂 budget $500 🎈");
        assert_eq!((f.guest_count, f.budget), (Some(30), Some(500)));
    }

    #[test]
    fn very_long_input() {
        let long = "jungle theme party for 75 guests, budget around $2000. ".repeat(5_000);
        assert_eq!(cats(&long, &[]), vec![Theme, Budget, Guest]);
        let f = facts(&long);
        assert_eq!((f.guest_count, f.budget), (Some(75), Some(2000)));
        let digits = "9".repeat(100_000);
        let _ = classify(&digits, &[]);
        assert_eq!(facts(&format!("${digits}")).budget, None);
        assert_eq!(facts(&format!("{digits} guests")).guest_count, None);
        let commas = "1,000".repeat(10_000);
        let _ = facts(&commas);
    }

    #[test]
    fn deterministic() {
        let text = "jungle party for 30 kids, vegan, $500 budget, DJ and balloons";
        assert_eq!(classify(text, &[]), classify(text, &[]));
        assert_eq!(facts(text), facts(text));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(s in "\\PC*", tag in "\\PC{0,12}") {
            let out = classify(&s, &[tag]);
            proptest::prop_assert!(!out.is_empty());
            let _ = extract_facts(&[input(0, &s)], std::slice::from_ref(&s));
            let _ = parse_money(&s);
            let _ = parse_guest_count(&s);
        }

        #[test]
        fn never_panics_on_number_soup(s in "[0-9$,.kK :/%\\-a-z ]{0,64}") {
            let _ = classify(&s, &[]);
            let f = extract_facts(&[input(0, &s)], &[]);
            proptest::prop_assert!(f.guest_count.is_none_or(|g| (1..=MAX_GUESTS).contains(&g)));
            proptest::prop_assert!(f.ages.iter().all(|a| (1..=MAX_AGE).contains(a)));
        }
    }
}
