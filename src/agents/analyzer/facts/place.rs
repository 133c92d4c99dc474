//! Where: the setting and the city.
//!
//! - Setting: the first of outdoor, indoor, park, hall, home, downtown
//!   (that precedence) the text names; a preference marker in its clause
//!   ("ideally", "preferred", "if possible") makes it a preference, else a need.
//! - City: the first city named, the longest at one position: a catalog city
//!   anywhere ("we're in Springfield", "Lakewood area", "Hillcrest"); else a
//!   well-known city the catalog lacks ("San Jose", "Austin"); else a
//!   capitalised name after "in", "near" or "around" ("party in Bellingham").
//!   A city the catalog lacks is kept as written.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use super::super::token::{clause_break, joinable, Kind, Tok};
use super::{setting_name, City, Scan, Stated, TextFacts};

/// Each catalog city's index and its lowercased words.
pub(in crate::agents::analyzer) type CityPhrases = Vec<(usize, Vec<String>)>;

/// Cities people name that the embedded catalog has no suppliers in (the
/// largest US cities and a few more). Lowercased; matched on word boundaries.
const OTHER_CITIES: &[&str] = &[
    "new york",
    "nyc",
    "los angeles",
    "chicago",
    "houston",
    "phoenix",
    "philadelphia",
    "san antonio",
    "san diego",
    "dallas",
    "san jose",
    "austin",
    "jacksonville",
    "fort worth",
    "columbus",
    "charlotte",
    "san francisco",
    "indianapolis",
    "seattle",
    "denver",
    "washington dc",
    "boston",
    "el paso",
    "nashville",
    "detroit",
    "oklahoma city",
    "portland",
    "las vegas",
    "memphis",
    "louisville",
    "baltimore",
    "milwaukee",
    "albuquerque",
    "tucson",
    "fresno",
    "sacramento",
    "kansas city",
    "mesa",
    "atlanta",
    "omaha",
    "colorado springs",
    "raleigh",
    "long beach",
    "virginia beach",
    "miami",
    "oakland",
    "minneapolis",
    "tulsa",
    "tampa",
    "arlington",
    "new orleans",
    "wichita",
    "cleveland",
    "bakersfield",
    "aurora",
    "anaheim",
    "honolulu",
    "santa ana",
    "riverside county",
    "corpus christi",
    "lexington",
    "stockton",
    "henderson",
    "saint paul",
    "st paul",
    "st louis",
    "saint louis",
    "cincinnati",
    "pittsburgh",
    "greensboro",
    "anchorage",
    "plano",
    "lincoln",
    "orlando",
    "irvine",
    "newark",
    "toledo",
    "durham",
    "chula vista",
    "fort wayne",
    "jersey city",
    "st petersburg",
    "laredo",
    "madison",
    "chandler",
    "buffalo",
    "lubbock",
    "scottsdale",
    "reno",
    "glendale",
    "gilbert",
    "winston salem",
    "north las vegas",
    "norfolk",
    "chesapeake",
    "garland",
    "irving",
    "hialeah",
    "fremont",
    "boise",
    "richmond",
    "baton rouge",
    "spokane",
    "des moines",
    "tacoma",
    "san bernardino",
    "modesto",
    "fontana",
    "santa clarita",
    "birmingham",
    "oxnard",
    "fayetteville",
    "moreno valley",
    "rochester",
    "glendale",
    "huntington beach",
    "salt lake city",
    "grand rapids",
    "amarillo",
    "yonkers",
    "aurora",
    "montgomery",
    "akron",
    "little rock",
    "huntsville",
    "augusta",
    "columbus",
    "grand prairie",
    "shreveport",
    "overland park",
    "tallahassee",
    "mobile",
    "knoxville",
    "worcester",
    "providence",
    "fort lauderdale",
    "chattanooga",
    "tempe",
    "brooklyn",
    "queens",
    "bronx",
    "manhattan",
    "palo alto",
    "mountain view",
    "sunnyvale",
    "santa clara",
    "cupertino",
    "berkeley",
    "pasadena",
    "ann arbor",
    "boulder",
    "savannah",
    "charleston",
    "asheville",
    "toronto",
    "vancouver",
    "montreal",
    "london",
    "manchester",
    "dublin",
    "sydney",
    "melbourne",
    "auckland",
];

/// Words that start a place name after "in"/"near" but are not a city.
const NOT_PLACES: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "the",
    "our",
    "my",
    "a",
    "an",
    "i",
    "we",
    "it",
    "this",
    "that",
    "spring",
    "summer",
    "fall",
    "autumn",
    "winter",
    "mind",
    "total",
    "addition",
    "advance",
    "person",
    "case",
    "general",
    "town",
    "front",
    "time",
    "lieu",
    "order",
    "between",
    "there",
    "here",
    "english",
    "spanish",
];

/// Lead words before a place name.
const PLACE_LEADS: &[&str] = &["in", "near", "around", "at"];

/// Each catalog city's index in `cities` and its lowercased words.
pub(in crate::agents::analyzer) fn city_phrases_of(cities: &[String]) -> CityPhrases {
    cities
        .iter()
        .enumerate()
        .map(|(i, c)| (i, words_of(c)))
        .filter(|(_, words)| !words.is_empty())
        .collect()
}

fn words_of(phrase: &str) -> Vec<String> {
    let lower = phrase.to_lowercase();
    super::super::token::tokenize(&lower)
        .iter()
        .filter(|t| t.kind != Kind::End)
        .map(|t| t.text.to_owned())
        .collect()
}

/// The well-known cities by first word: each city's words.
fn other_cities() -> &'static FxHashMap<String, Vec<Vec<String>>> {
    static OTHER: OnceLock<FxHashMap<String, Vec<Vec<String>>>> = OnceLock::new();
    OTHER.get_or_init(|| {
        let mut map: FxHashMap<String, Vec<Vec<String>>> = FxHashMap::default();
        for words in OTHER_CITIES.iter().map(|c| words_of(c)) {
            if let Some(first) = words.first() {
                map.entry(first.clone()).or_default().push(words);
            }
        }
        map
    })
}

/// Each well-known city the text names: (position, its words), in text order.
fn other_cities_in(toks: &[Tok<'_>]) -> Vec<(usize, &'static [String])> {
    let map = other_cities();
    let mut out = Vec::new();
    for (pos, t) in toks.iter().enumerate() {
        let Some(candidates) = (t.kind == Kind::Word).then(|| map.get(t.text)).flatten() else {
            continue;
        };
        for words in candidates {
            let rest_matches = words[1..].iter().enumerate().all(|(k, w)| {
                toks.get(pos + 1 + k)
                    .is_some_and(|n| n.text == w && joinable(n.sep))
            });
            if rest_matches {
                out.push((pos, words.as_slice()));
            }
        }
    }
    out
}

/// Reads the setting and whether it is a preference.
pub(super) fn read_setting(toks: &[Tok<'_>], scan: &Scan, out: &mut TextFacts) {
    let Some(&(first, last, s)) = scan.settings.iter().min_by_key(|(f, _, s)| (*s, *f)) else {
        return;
    };
    out.setting = Some(Stated::new(setting_name(s), toks, first, last));
    let clause = scan.clause[first];
    out.setting_preferred = scan
        .prefer_at
        .iter()
        .any(|&p| scan.clause.get(p) == Some(&clause));
}

/// Where the words `words` first occur in `toks` (raw lowercase text).
fn find(toks: &[Tok<'_>], words: &[String]) -> Option<usize> {
    let first = words.first()?;
    (0..toks.len()).find(|&i| {
        toks[i].kind == Kind::Word
            && toks[i].text == first
            && words[1..].iter().enumerate().all(|(k, w)| {
                toks.get(i + 1 + k)
                    .is_some_and(|t| t.text == w && joinable(t.sep))
            })
    })
}

/// Reads the first city the text names.
pub(super) fn read_city(
    toks: &[Tok<'_>],
    original: Option<&str>,
    cities: &CityPhrases,
) -> Option<Stated<City>> {
    // (position, words, city).
    let mut best: Option<(usize, usize, City)> = None;
    // The first-mentioned, the longest at one position.
    let consider = |best: &mut Option<(usize, usize, City)>, pos: usize, len: usize, city| {
        let better = match best {
            None => true,
            Some((p, n, _)) => pos < *p || (pos == *p && len > *n),
        };
        if better {
            *best = Some((pos, len, city));
        }
    };
    for (index, words) in cities {
        if let Some(pos) = find(toks, words) {
            consider(&mut best, pos, words.len(), City::Catalog(*index));
        }
    }
    // A catalog city anywhere wins; then a well-known city (a one-word name
    // only after "in", "near"… or alone: "Madison" may be a person); then a
    // catalog city misspelt by one letter ("Sprinfield"); then a capitalised
    // name after "in"/"near".
    if best.is_none() {
        for (pos, words) in other_cities_in(toks) {
            // A catalog city of the same name wins (a user's catalog may have it).
            if cities.iter().any(|(_, c)| c.as_slice() == words) {
                continue;
            }
            let led = pos.checked_sub(1).is_some_and(|j| {
                PLACE_LEADS.contains(&toks[j].text)
                    || matches!(toks[j].text, "from" | "to" | "downtown" | "outside")
            });
            let end = pos + words.len();
            let starts_clause = pos == 0 || clause_break(toks[pos].sep);
            let ends_clause = toks
                .get(end)
                .is_none_or(|t| t.kind == Kind::End || clause_break(t.sep) || t.text == "area");
            if words.len() > 1 || led || (starts_clause && ends_clause) {
                let name = display(toks, original, pos, pos + words.len() - 1);
                consider(&mut best, pos, words.len(), City::Other(name));
            }
        }
    }
    if best.is_none() {
        best =
            misspelt_catalog_city(toks, cities).map(|(pos, index)| (pos, 1, City::Catalog(index)));
    }
    if best.is_none() {
        if let Some((pos, last)) = original.and_then(|o| capitalised_place(toks, o)) {
            let name = display(toks, original, pos, last);
            best = Some((pos, last + 1 - pos, City::Other(name)));
        }
    }
    let (pos, len, city) = best?;
    let first = match pos.checked_sub(1).and_then(|j| toks.get(j)) {
        Some(t) if PLACE_LEADS.contains(&t.text) && joinable(toks[pos].sep) => pos - 1,
        _ => pos,
    };
    Some(Stated::new(city, toks, first, pos + len - 1))
}

/// Shortest catalog city name read with a typo ("Sprinfield", "lakewod").
const MIN_MISSPELT_CITY: usize = 6;

/// The first word one edit from a one-word catalog city: (position, index).
fn misspelt_catalog_city(toks: &[Tok<'_>], cities: &CityPhrases) -> Option<(usize, usize)> {
    toks.iter().enumerate().find_map(|(pos, t)| {
        if t.kind != Kind::Word || t.text.len() < MIN_MISSPELT_CITY {
            return None;
        }
        cities.iter().find_map(|(index, words)| {
            let [name] = words.as_slice() else {
                return None;
            };
            (name.len() >= MIN_MISSPELT_CITY
                && name.len().abs_diff(t.text.len()) <= 1
                && name.starts_with(t.text.get(..1)?)
                && strsim::osa_distance(name, t.text) == 1)
                .then_some((pos, *index))
        })
    })
}

/// A run of one to three capitalised words after "in"/"near"/"around" that
/// is no month, weekday or common word: (first, last) token.
fn capitalised_place(toks: &[Tok<'_>], original: &str) -> Option<(usize, usize)> {
    let capital = |i: usize| {
        toks.get(i).is_some_and(|t| {
            t.kind == Kind::Word
                && t.text.len() > 1
                && original
                    .get(t.start..)
                    .and_then(|s| s.chars().next())
                    .is_some_and(char::is_uppercase)
        })
    };
    for i in 1..toks.len() {
        let lead = &toks[i - 1];
        if !(lead.kind == Kind::Word
            && matches!(lead.text, "in" | "near" | "around")
            && joinable(toks[i].sep)
            && capital(i)
            && !NOT_PLACES.contains(&toks[i].text))
        {
            continue;
        }
        let mut last = i;
        while last < i + 2 && capital(last + 1) && joinable(toks[last + 1].sep) {
            last += 1;
        }
        // "in Lily's class": a possessive is a person, not a place.
        let possessive = toks
            .get(last + 1)
            .is_some_and(|t| t.text == "s" && t.sep.contains(['\'', '\u{2019}']));
        if possessive {
            continue;
        }
        return Some((i, last));
    }
    None
}

/// The words of tokens `first..=last` as written, each capitalised.
fn display(toks: &[Tok<'_>], original: Option<&str>, first: usize, last: usize) -> String {
    let mut out = String::new();
    for t in toks.iter().take(last + 1).skip(first) {
        if !out.is_empty() {
            out.push(' ');
        }
        let written = original
            .and_then(|o| o.get(t.start..t.end()))
            .unwrap_or(t.text);
        let mut chars = written.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.len() <= 4 && out.chars().all(|c| c.is_alphabetic()) && first == last {
        // "nyc" → "NYC".
        if out.eq_ignore_ascii_case("nyc") {
            return "NYC".to_owned();
        }
    }
    out
}
