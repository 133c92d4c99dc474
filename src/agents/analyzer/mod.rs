//! `input_analyzer`'s pure half: reads each input as people write it and
//! turns it into facts with their provenance, and decides which planning
//! areas the inputs ask for.
//!
//! Pure: no I/O, no clock, no randomness; same text, same answer. Never
//! panics on input-derived data.
//!
//! # Layout
//! - [`token`]: lowercased text → words with Snowball stems, numbers (digits
//!   or number words) and `$` signs; what separators mean. [`typo`]: the
//!   misspellings it reads as meant.
//! - [`phrase`]: the one matching rule (stems, word and phrase boundaries)
//!   every table uses: the classifier's, the fact vocabulary's and the theme
//!   agent's scoring.
//! - [`vocabulary`] and [`keywords`]: data only (the fact vocabulary, the
//!   themes, number words; the prototype's SPEC §6.1 keyword tables).
//! - [`classify`]: the prototype's per-category scores.
//! - [`facts`]: one text's facts, one pass a file (dates and times, ages,
//!   money, guests, setting and city, themes, intent).
//! - this file: the public API and the rules across inputs.
//!
//! # Across inputs
//! In input order: a single-valued fact stated by a later input replaces the
//! earlier one, and the plan says what it replaced ("40 guests; an earlier
//! input said 30"); lists are unions in first-mention order. The theme is the
//! most strongly stated one (named as the theme > loved > mentioned), the
//! latest among equals. A cake refused by a later input than any asking for
//! it is not planned. Removing an input removes what it stated and implied.
//!
//! # Areas
//! An area is planned when some input asks for it ([`Facts::areas`]): by
//! its words (the classifier's keywords) or by its facts (a guest count or a
//! setting plans a venue and catering; a city a venue; a birthday a cake
//! unless refused; money the budget). Tags add their categories.

mod classify;
mod facts;
mod keywords;
mod phrase;
mod token;
mod typo;
mod vocabulary;

use litemap::LiteMap;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use crate::agents::memo::{KeyedMemo, Memo};
use crate::domain::{AgentName, FactStatement, PlanFact};
use crate::store::Input;

pub use classify::{classify, classify_uncached, Category};
pub use facts::Strength;
pub use vocabulary::THEMES;

use facts::{City, CityPhrases, GuestCount, Stated, TextFacts, AREAS};

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
    pub provenance: BTreeMap<Fact, Provenance>,
}

/// The facts the plan shows, in the order it shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fact {
    /// The theme (a theme table name).
    Theme,
    /// The head count.
    Guests,
    /// Ages stated.
    Ages,
    /// A birthday.
    Birthday,
    /// The party's total budget.
    Budget,
    /// Money tied to the venue.
    VenueBudget,
    /// Money tied to the cake.
    CakeBudget,
    /// Money tied to the food.
    CateringBudget,
    /// The city as stated.
    City,
    /// The setting.
    Setting,
    /// The setting is a preference, not a need.
    SettingPreferred,
    /// Dietary needs.
    Dietary,
    /// The date.
    Date,
    /// The time.
    Time,
    /// Cake flavours.
    Flavors,
    /// Cuisines.
    Cuisines,
    /// Vendor categories.
    Vendors,
    /// The cake was refused.
    NoCake,
}

impl Fact {
    /// The name the plan shows it under (`final_plan.facts`).
    pub fn name(self) -> &'static str {
        match self {
            Fact::Theme => "theme",
            Fact::Guests => "guests",
            Fact::Ages => "ages",
            Fact::Birthday => "birthday",
            Fact::Budget => "budget",
            Fact::VenueBudget => "venue_budget",
            Fact::CakeBudget => "cake_budget",
            Fact::CateringBudget => "catering_budget",
            Fact::City => "city",
            Fact::Setting => "setting",
            Fact::SettingPreferred => "setting_preferred",
            Fact::Dietary => "dietary",
            Fact::Date => "date",
            Fact::Time => "time",
            Fact::Flavors => "flavors",
            Fact::Cuisines => "cuisines",
            Fact::Vendors => "vendors",
            Fact::NoCake => "no_cake",
        }
    }
}

/// Where one statement stands: which input, and which words of it. Kept as
/// positions (no text is copied while facts are folded); [`Source::words`]
/// reads them from the party's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Source {
    /// Index of the input in the inputs the facts were read from.
    pub input: usize,
    /// Byte range of the words in the input's content; `None` when
    /// lowercasing moved offsets (the whole content is shown then).
    pub from: Option<(usize, usize)>,
}

impl Source {
    /// The id of the input that stated it.
    pub fn input_id<'a>(&self, inputs: &'a [Input]) -> &'a str {
        inputs.get(self.input).map_or("", |i| i.input_id.as_str())
    }

    /// The exact words it was read from.
    pub fn words<'a>(&self, inputs: &'a [Input]) -> &'a str {
        let content = inputs.get(self.input).map_or("", |i| i.content.as_str());
        self.from
            .and_then(|(a, b)| content.get(a..b))
            .unwrap_or(content)
            .trim()
    }

    fn statement(&self, value: serde_json::Value, inputs: &[Input]) -> FactStatement {
        FactStatement {
            value,
            input_id: self.input_id(inputs).to_owned(),
            text: self.words(inputs).to_owned(),
        }
    }
}

/// Where one fact came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Provenance {
    /// The statement that set it (for a list: the first item's).
    pub source: Source,
    /// The earlier statement a later input replaced, with its value.
    pub replaced: Option<(FactValue, Source)>,
    /// For a list: the items other inputs added, with where.
    pub also_from: Vec<(Vec<String>, Source)>,
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
    pub fn values(&self) -> Vec<(Fact, FactValue)> {
        let mut out = Vec::new();
        let num = |v: Option<u64>| v.map(FactValue::Number);
        let text = |v: &Option<String>| v.clone().map(FactValue::Text);
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| FactValue::List(v.clone()));
        let flag = |v: bool| v.then_some(FactValue::Flag(true));
        let entries = [
            (Fact::Theme, text(&self.theme)),
            (Fact::Guests, num(self.guest_count.map(u64::from))),
            (
                Fact::Ages,
                (!self.ages.is_empty())
                    .then(|| FactValue::List(self.ages.iter().map(u32::to_string).collect())),
            ),
            (Fact::Birthday, flag(self.birthday)),
            (Fact::Budget, num(self.budget)),
            (Fact::VenueBudget, num(self.venue_budget)),
            (Fact::CakeBudget, num(self.cake_budget)),
            (Fact::CateringBudget, num(self.catering_budget)),
            (Fact::City, text(&self.city_stated)),
            (Fact::Setting, text(&self.setting)),
            (Fact::SettingPreferred, flag(self.setting_preferred)),
            (Fact::Dietary, list(&self.dietary)),
            (Fact::Date, text(&self.date)),
            (Fact::Time, text(&self.time)),
            (Fact::Flavors, list(&self.flavors)),
            (Fact::Cuisines, list(&self.cuisines)),
            (Fact::Vendors, list(&self.vendor_categories)),
            (Fact::NoCake, flag(self.cake_declined)),
        ];
        for (name, value) in entries {
            if let Some(v) = value {
                out.push((name, v));
            }
        }
        out
    }

    /// The facts as the plan shows them: value, input id and words of each.
    /// `inputs` are the inputs the facts were read from.
    pub fn plan_facts(&self, inputs: &[Input]) -> LiteMap<String, PlanFact> {
        self.values()
            .into_iter()
            .map(|(name, value)| {
                let p = self.provenance.get(&name).cloned().unwrap_or_default();
                let fact = PlanFact {
                    value: value.to_json(),
                    input_id: p.source.input_id(inputs).to_owned(),
                    text: p.source.words(inputs).to_owned(),
                    replaced: p
                        .replaced
                        .as_ref()
                        .map(|(v, src)| src.statement(v.to_json(), inputs)),
                    also_from: p
                        .also_from
                        .iter()
                        .map(|(items, src)| {
                            src.statement(serde_json::Value::from(items.clone()), inputs)
                        })
                        .collect(),
                };
                (name.name().to_string(), fact)
            })
            .collect()
    }
}

/// Largest guest count accepted; larger stated counts are capped to it.
pub const MAX_GUESTS: u32 = 10_000;

/// Oldest age accepted; a larger "N years old" is not an age of a guest of honour.
pub const MAX_AGE: u32 = 120;

/// Largest money amount accepted (dollars); anything larger is noise, not a budget.
pub const MAX_MONEY: f64 = 1e12;

/// One input's facts, as memoized: the facts and whether their byte ranges
/// index the original text (lowercasing kept every offset).
struct PerInput {
    facts: TextFacts,
    same_offsets: bool,
}

/// Analyzes one input's content (memoized on the text and the city list,
/// whose hash `salt` is).
fn per_input(content: &str, cities: &[String], salt: u64) -> std::sync::Arc<PerInput> {
    static MEMO: OnceLock<Memo<PerInput>> = OnceLock::new();
    let memo = MEMO.get_or_init(Memo::default);
    memo.get(content, &[], salt, || {
        analyze_text(content, &city_phrases_of(cities))
    })
}

fn analyze_text(content: &str, cities: &CityPhrases) -> PerInput {
    let lower = content.to_lowercase();
    let same_offsets = lower.len() == content.len();
    let toks = token::tokenize(&lower);
    let original = same_offsets.then_some(content);
    PerInput {
        facts: facts::analyze(&toks, original, cities),
        same_offsets,
    }
}

/// The catalog cities' words, kept for the last city list seen (a server
/// has one catalog): read once, not on every new input.
fn city_phrases_of(cities: &[String]) -> std::sync::Arc<CityPhrases> {
    static LAST: std::sync::Mutex<Option<(u64, std::sync::Arc<CityPhrases>)>> =
        std::sync::Mutex::new(None);
    let salt = cities_salt(cities);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    match &*last {
        Some((s, phrases)) if *s == salt => phrases.clone(),
        _ => {
            let phrases = std::sync::Arc::new(facts::city_phrases_of(cities));
            *last = Some((salt, phrases.clone()));
            phrases
        }
    }
}

/// Parses the facts of all inputs. `cities` are the catalog's lowercased city names.
///
/// Only `content` is read for facts (tags name areas, not facts). Each input
/// is parsed on its own; then, in input order, a single-valued fact stated by
/// an input replaces the earlier one and list facts are appended when new.
pub fn extract_facts(inputs: &[Input], cities: &[String]) -> Facts {
    let salt = cities_salt(cities);
    let per: Vec<std::sync::Arc<PerInput>> = inputs
        .iter()
        .map(|i| per_input(&i.content, cities, salt))
        .collect();
    merge(inputs, &per, cities)
}

/// Inputs whose contents add up to more than this (bytes) are not memoized
/// as a party: rare, and they would dominate the memo's memory.
const MAX_PARTY_KEY_BYTES: usize = 16 * 1024;

/// Parties whose facts are kept. A party's facts are read by the scheduler
/// and by each agent of one wave, within milliseconds, so this need only
/// cover the parties in flight; each entry holds the party's inputs and
/// facts with provenance (1 to 3 KiB).
const PARTY_MEMO_ENTRIES: usize = 512;

/// [`extract_facts`], memoized for the whole party: the scheduler and every
/// agent of a wave read the same inputs, and a hit costs one hash of them.
pub fn party_facts(inputs: &[Input], cities: &[String]) -> std::sync::Arc<Facts> {
    type Key = (Vec<(String, String, Vec<String>)>, u64);
    static MEMO: OnceLock<KeyedMemo<Key, Facts>> = OnceLock::new();
    let size: usize = inputs
        .iter()
        .map(|i| i.content.len() + i.input_id.len())
        .sum();
    if size > MAX_PARTY_KEY_BYTES {
        return std::sync::Arc::new(extract_facts(inputs, cities));
    }
    let salt = cities_salt(cities);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for i in inputs {
        (&i.input_id, &i.content, &i.tags).hash(&mut h);
    }
    salt.hash(&mut h);
    MEMO.get_or_init(|| KeyedMemo::holding(PARTY_MEMO_ENTRIES))
        .get(
            h.finish(),
            |(key, s)| {
                *s == salt
                    && key.len() == inputs.len()
                    && key
                        .iter()
                        .zip(inputs)
                        .all(|((id, c, t), i)| *id == i.input_id && *c == i.content && *t == i.tags)
            },
            || {
                let key = inputs
                    .iter()
                    .map(|i| (i.input_id.clone(), i.content.clone(), i.tags.clone()))
                    .collect();
                (key, salt)
            },
            || extract_facts(inputs, cities),
        )
}

fn cities_salt(cities: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    cities.hash(&mut h);
    h.finish()
}

/// [`extract_facts`] without the memo: every input is read afresh (what a
/// new input costs; for benchmarks and fuzzing).
pub fn extract_facts_uncached(inputs: &[Input], cities: &[String]) -> Facts {
    let phrases = city_phrases_of(cities);
    let per: Vec<std::sync::Arc<PerInput>> = inputs
        .iter()
        .map(|i| std::sync::Arc::new(analyze_text(&i.content, &phrases)))
        .collect();
    merge(inputs, &per, cities)
}

fn merge(inputs: &[Input], per: &[std::sync::Arc<PerInput>], cities: &[String]) -> Facts {
    let mut m = Merger::default();
    for (index, p) in per.iter().enumerate() {
        let t = &p.facts;
        let src = |s: (usize, usize)| Source {
            input: index,
            from: p.same_offsets.then_some(s),
        };
        let num = |s: &Option<Stated<u64>>| {
            s.as_ref()
                .map(|s| (FactValue::Number(s.value), src(s.from)))
        };
        if let Some(g) = &t.guests {
            let count = g.value.after(m.guests);
            m.guests = Some(count);
            let value = FactValue::Number(u64::from(count.value()));
            m.single(Fact::Guests, Some((value, src(g.from))));
        }
        m.single(Fact::Budget, num(&t.budget));
        // Which of the two the text stated last, for a later correction.
        let last_stated = match (&t.guests, &t.budget) {
            (Some(g), Some(b)) => Some(if g.from.0 > b.from.0 {
                Fact::Guests
            } else {
                Fact::Budget
            }),
            (Some(_), None) => Some(Fact::Guests),
            (None, Some(_)) => Some(Fact::Budget),
            (None, None) => None,
        };
        // A bare correction ("wait no, 35") corrects what the party stated
        // last, unless this text states that itself: then the other one.
        let target = match (m.last_number, &t.guests, &t.budget) {
            (Some(Fact::Guests), Some(_), _) => m.stated_budget.then_some(Fact::Budget),
            (Some(Fact::Budget), _, Some(_)) => m.guests.map(|_| Fact::Guests),
            (last, _, _) => last,
        };
        if let Some(name) = last_stated {
            m.last_number = Some(name);
        }
        if let (Some(target), Some(r)) = (target, &t.revision) {
            let stated = Some((FactValue::Number(u64::from(r.value)), src(r.from)));
            if target == Fact::Guests {
                m.guests = Some(GuestCount::Total(r.value));
            }
            m.single(target, stated);
        }
        m.stated_budget |= t.budget.is_some();
        m.single(Fact::CakeBudget, num(&t.cake_budget));
        m.single(Fact::CateringBudget, num(&t.catering_budget));
        m.single(Fact::VenueBudget, num(&t.venue_budget));
        if let Some(s) = &t.setting {
            m.single(
                Fact::Setting,
                Some((FactValue::Text(s.value.to_owned()), src(s.from))),
            );
            m.flag(Fact::SettingPreferred, t.setting_preferred, src(s.from));
        }
        if let Some(c) = &t.city {
            let name = match &c.value {
                City::Catalog(i) => cities.get(*i).map_or_else(String::new, |c| title_case(c)),
                City::Other(name) => name.clone(),
            };
            m.single(Fact::City, Some((FactValue::Text(name), src(c.from))));
            m.city = Some(match &c.value {
                City::Catalog(i) => cities.get(*i).map(|c| c.to_lowercase()),
                City::Other(_) => None,
            });
        }
        m.single(
            Fact::Date,
            t.date
                .as_ref()
                .map(|s| (FactValue::Text(s.value.clone()), src(s.from))),
        );
        m.single(
            Fact::Time,
            t.time
                .as_ref()
                .map(|s| (FactValue::Text(s.value.clone()), src(s.from))),
        );
        if let Some(b) = &t.birthday {
            m.single(Fact::Birthday, Some((FactValue::Flag(true), src(b.from))));
        }
        if let Some(c) = &t.cake {
            m.single(Fact::NoCake, Some((FactValue::Flag(!c.value), src(c.from))));
        }
        if let Some(a) = &t.ages {
            let items: Vec<String> = a.value.iter().map(u32::to_string).collect();
            m.list(Fact::Ages, &items, src(a.from));
        }
        for (name, list) in [
            (Fact::Dietary, &t.dietary),
            (Fact::Flavors, &t.flavors),
            (Fact::Cuisines, &t.cuisines),
            (Fact::Vendors, &t.vendor_categories),
        ] {
            if let Some(first) = list.first() {
                let last = list.iter().map(|s| s.from.1).max().unwrap_or(first.from.1);
                let items: Vec<String> = list.iter().map(|s| s.value.to_owned()).collect();
                m.list(name, &items, src((first.from.0, last)));
            }
        }
        // The most strongly named theme; the latest among equals.
        if let Some(best) = t.themes.iter().rev().max_by_key(|s| s.value.strength) {
            let stronger = m.theme_strength.is_none_or(|s| best.value.strength >= s);
            if stronger {
                m.theme_strength = Some(best.value.strength);
                let name = THEMES.get(best.value.theme).map_or("", |t| t.0).to_owned();
                m.single(Fact::Theme, Some((FactValue::Text(name), src(best.from))));
            }
        }
    }
    m.finish(inputs, per)
}

/// One slot per [`Fact`], by its discriminant: no allocation, no string
/// comparison while inputs are folded.
struct FactSlots<T>([Option<T>; FACTS]);

/// How many kinds of fact there are.
const FACTS: usize = Fact::NoCake as usize + 1;

impl<T> Default for FactSlots<T> {
    fn default() -> Self {
        FactSlots(std::array::from_fn(|_| None))
    }
}

impl<T> FactSlots<T> {
    fn get(&self, f: &Fact) -> Option<&T> {
        self.0[*f as usize].as_ref()
    }
    fn insert(&mut self, f: Fact, v: T) {
        self.0[f as usize] = Some(v);
    }
    fn remove(&mut self, f: &Fact) -> Option<T> {
        self.0[*f as usize].take()
    }
}

/// Folds the inputs' statements into [`Facts`].
#[derive(Default)]
struct Merger {
    values: FactSlots<FactValue>,
    provenance: BTreeMap<Fact, Provenance>,
    theme_strength: Option<Strength>,
    /// The latest stated city's catalog name (`Some(None)`: not in the catalog).
    city: Option<Option<String>>,
    /// The guests as stated so far (kids and adults kept apart when stated so).
    guests: Option<GuestCount>,
    /// Which of guests and budget was stated last, for a bare correction.
    last_number: Option<Fact>,
    /// Whether any input stated a budget.
    stated_budget: bool,
}

impl Merger {
    /// A single-valued fact: the latest statement wins and keeps what it replaced.
    fn single(&mut self, name: Fact, stated: Option<(FactValue, Source)>) {
        let Some((value, source)) = stated else {
            return;
        };
        let replaced = match self.values.get(&name) {
            Some(old) if *old != value => {
                self.provenance.get(&name).map(|p| (old.clone(), p.source))
            }
            // The same value stated again keeps what it replaced before.
            Some(_) => self.provenance.get(&name).and_then(|p| p.replaced.clone()),
            None => None,
        };
        self.values.insert(name, value);
        self.provenance.insert(
            name,
            Provenance {
                source,
                replaced,
                also_from: Vec::new(),
            },
        );
    }

    /// A flag that is stated with another fact (the setting's preference).
    fn flag(&mut self, name: Fact, on: bool, source: Source) {
        if on {
            self.single(name, Some((FactValue::Flag(true), source)));
        } else {
            self.values.remove(&name);
            self.provenance.remove(&name);
        }
    }

    /// A list: new items are appended, each input's with its words.
    fn list(&mut self, name: Fact, items: &[String], source: Source) {
        let mut list = match self.values.remove(&name) {
            Some(FactValue::List(l)) => l,
            _ => Vec::new(),
        };
        let new: Vec<String> = items
            .iter()
            .filter(|i| !list.contains(i))
            .cloned()
            .collect();
        if new.is_empty() {
            self.values.insert(name, FactValue::List(list));
            return;
        }
        list.extend(new.iter().cloned());
        self.values.insert(name, FactValue::List(list));
        match self.provenance.get_mut(&name) {
            Some(p) => p.also_from.push((new, source)),
            None => {
                self.provenance.insert(
                    name,
                    Provenance {
                        source,
                        replaced: None,
                        also_from: Vec::new(),
                    },
                );
            }
        }
    }

    fn finish(mut self, inputs: &[Input], per: &[std::sync::Arc<PerInput>]) -> Facts {
        // The values move into the facts: nothing is copied.
        let v = &mut self.values;
        let num = |v: &mut FactSlots<FactValue>, n: Fact| match v.remove(&n) {
            Some(FactValue::Number(x)) => Some(x),
            _ => None,
        };
        let text = |v: &mut FactSlots<FactValue>, n: Fact| match v.remove(&n) {
            Some(FactValue::Text(t)) => Some(t),
            _ => None,
        };
        let list = |v: &mut FactSlots<FactValue>, n: Fact| match v.remove(&n) {
            Some(FactValue::List(l)) => l,
            _ => Vec::new(),
        };
        let flag = |v: &mut FactSlots<FactValue>, n: Fact| {
            matches!(v.remove(&n), Some(FactValue::Flag(true)))
        };
        let cake_declined = flag(v, Fact::NoCake);
        let mut facts = Facts {
            guest_count: num(v, Fact::Guests).map(|g| u32::try_from(g).unwrap_or(MAX_GUESTS)),
            ages: list(v, Fact::Ages)
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            budget: num(v, Fact::Budget),
            cake_budget: num(v, Fact::CakeBudget),
            catering_budget: num(v, Fact::CateringBudget),
            venue_budget: num(v, Fact::VenueBudget),
            dietary: list(v, Fact::Dietary),
            setting: text(v, Fact::Setting),
            setting_preferred: flag(v, Fact::SettingPreferred),
            city: self.city.take().flatten(),
            city_stated: text(v, Fact::City),
            flavors: list(v, Fact::Flavors),
            cuisines: list(v, Fact::Cuisines),
            vendor_categories: list(v, Fact::Vendors),
            birthday: flag(v, Fact::Birthday),
            cake_declined,
            date: text(v, Fact::Date),
            time: text(v, Fact::Time),
            theme: text(v, Fact::Theme).filter(|t| !t.is_empty()),
            theme_explicit: self.theme_strength == Some(Strength::Named),
            areas: Vec::new(),
            provenance: BTreeMap::new(),
        };
        // "no_cake: false" (a cake asked for) is no fact to show.
        if !cake_declined {
            self.provenance.remove(&Fact::NoCake);
        }
        facts.provenance = std::mem::take(&mut self.provenance);
        let mut areas = [false; AREAS.len()];
        for (input, p) in inputs.iter().zip(per) {
            for a in input_areas(input, p, cake_declined) {
                if let Some(i) = AREAS.iter().position(|x| *x == a) {
                    areas[i] = true;
                }
            }
        }
        facts.areas = AREAS
            .iter()
            .zip(areas)
            .filter(|(_, on)| *on)
            .map(|(a, _)| *a)
            .collect();
        facts
    }
}

/// Areas one input asks for: its words' and facts' ([`facts`]), its tags'
/// categories, less the cake when the party refused it.
fn input_areas(input: &Input, p: &PerInput, cake_declined: bool) -> Vec<AgentName> {
    let mut out: Vec<AgentName> = p.facts.asks.clone();
    if !input.tags.is_empty() {
        let tags_only = classify("", &input.tags);
        for (cat, _) in tags_only {
            // A tag-less fallback (`Theme` for nothing) is not asked for.
            if input.tags.iter().any(|t| !t.trim().is_empty()) {
                let a = cat.agent();
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    if cake_declined {
        out.retain(|a| *a != AgentName::Cake);
    }
    // Every input counts for the theme: every party gets one ("general" at
    // worst, as the prototype's classifier gave), kept while any input is.
    if !out.contains(&AgentName::Theme) {
        out.push(AgentName::Theme);
    }
    out.sort();
    out
}

/// Areas each input asks for, by input id, given the party's facts.
pub fn areas_by_input(
    inputs: &[Input],
    facts: &Facts,
    cities: &[String],
) -> Vec<(String, Vec<AgentName>)> {
    let salt = cities_salt(cities);
    inputs
        .iter()
        .map(|i| {
            let p = per_input(&i.content, cities, salt);
            (i.input_id.clone(), input_areas(i, &p, facts.cake_declined))
        })
        .collect()
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The largest money amount stated in `text`, whatever it is for ("$2,000",
/// "2k", "$2.5k", "under 500 dollars", "budget of 1500"; the upper end of a
/// range). Per-unit prices ("$15 per person", "$200/hr") and numbers that
/// count guests or give ages are not money.
pub fn parse_money(text: &str) -> Option<u64> {
    let t = &analyze_text(text, &Vec::new()).facts;
    [
        &t.budget,
        &t.cake_budget,
        &t.catering_budget,
        &t.venue_budget,
    ]
    .into_iter()
    .flatten()
    .map(|s| s.value)
    .max()
}

/// The guest count stated in `text` ("75 guests", "party of 20",
/// "inviting 40", "for 30"), never an age ("for a 5 year old"); capped at
/// [`MAX_GUESTS`].
pub fn parse_guest_count(text: &str) -> Option<u32> {
    analyze_text(text, &Vec::new())
        .facts
        .guests
        .map(|s| s.value.value())
}

/// Theme points of one input's content: (theme index in [`THEMES`], points)
/// for each theme word that counts, by how strongly it is stated.
pub fn theme_points(content: &str) -> Vec<(usize, Strength)> {
    per_input(content, &[], cities_salt(&[]))
        .facts
        .themes
        .iter()
        .map(|s| (s.value.theme, s.value.strength))
        .collect()
}

/// Themes a tag names ("Dinosaur", "space theme").
pub fn tag_themes(tag: &str) -> Vec<usize> {
    let lower = tag.to_lowercase();
    let toks = token::tokenize(&lower);
    let mut out = Vec::new();
    theme_map().scan(&toks, |_, _, t| {
        if !out.contains(&t) {
            out.push(t);
        }
    });
    out
}

fn theme_map() -> &'static phrase::PhraseMap<usize> {
    static MAP: OnceLock<phrase::PhraseMap<usize>> = OnceLock::new();
    MAP.get_or_init(|| {
        phrase::PhraseMap::new(
            THEMES
                .iter()
                .enumerate()
                .flat_map(|(i, (name, strong, weak))| {
                    std::iter::once((*name, i))
                        .chain(strong.iter().map(move |w| (*w, i)))
                        .chain(weak.iter().map(move |w| (*w, i)))
                }),
        )
    })
}

#[cfg(test)]
mod tests;
