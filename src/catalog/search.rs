//! Deterministic search over the catalog: hard filters first, then a ranking
//! by capacity fit, theme fit, rating and price, ties broken by id.
//!
//! Never samples at random. Uses rayon when a category is large.
//!
//! # How every search works
//! 1. **Hard filters** drop records that cannot serve the party (too small,
//!    over budget, wrong city, missing a dietary need). Nothing that fails a
//!    hard filter is ever returned; when nothing passes, the hits are empty and
//!    the calling agent decides how to relax. `total_matches` counts survivors.
//! 2. **Score**: `match_score` is the weighted mean, over the criteria the
//!    query actually states, of per-criterion fits in `0..=1` (weights are the
//!    `W_*` constants below), rounded to 3 decimals so it serialises stably.
//!    Rating and price always count; theme, setting, flavours and cuisines
//!    count only when asked for. The theme `general` counts as no theme.
//! 3. **Order**: (venues with a preferred setting: matching venues first),
//!    `match_score` desc, rating desc, price asc, (vendors: review count
//!    desc), id asc, then position in the catalog, so the order is total and
//!    identical on the sequential and the rayon path.
//! 4. The first `limit` records (0 means [`DEFAULT_LIMIT`]) are returned with
//!    human-readable `match_reasons`, plus `min_price`: the lowest price among
//!    ALL survivors (what the budget allocation needs: the cheapest option
//!    that meets the hard constraints).
//!
//! Query words (theme, city, dietary needs, size, setting, category) are
//! compared trimmed and lowercased; dietary needs also map spaces and
//! underscores to `-` (`gluten free` is `gluten-free`).
//!
//! Must not mutate the catalog or depend on agents; reasons (strings) are
//! built only for the records returned.

use std::cmp::Ordering;
use std::sync::Arc;

use rayon::prelude::*;

use crate::domain::Scored;

use super::{Bakery, Catalog, Caterer, Vendor, Venue};

/// Hits returned when a query's `limit` is 0 (the agents show three).
pub const DEFAULT_LIMIT: usize = 3;

/// Collections longer than this are filtered and scored on rayon's pool.
/// Scoring one record takes well under a microsecond, so below a few thousand
/// records the fork/join overhead costs more than it saves; the embedded
/// catalog (tens of records per category) always takes the sequential path.
const PARALLEL_THRESHOLD: usize = 2_000;

// Venue weights: theme, capacity fit, setting, rating, price.
const W_VENUE_THEME: f64 = 0.30;
const W_VENUE_CAPACITY: f64 = 0.25;
const W_VENUE_SETTING: f64 = 0.15;
const W_VENUE_RATING: f64 = 0.20;
const W_VENUE_PRICE: f64 = 0.10;
/// Daily price at which an unbudgeted venue's price fit falls to 0.5.
const VENUE_PRICE_REFERENCE: f64 = 1_000.0;

// Bakery weights: theme, flavours, rating, price.
const W_BAKERY_THEME: f64 = 0.30;
const W_BAKERY_FLAVOR: f64 = 0.20;
const W_BAKERY_RATING: f64 = 0.30;
const W_BAKERY_PRICE: f64 = 0.20;
/// Cake price at which an unbudgeted bakery's price fit falls to 0.5.
const BAKERY_PRICE_REFERENCE: f64 = 200.0;

// Caterer weights: cuisine, theme, rating, price.
const W_CATERER_CUISINE: f64 = 0.30;
const W_CATERER_THEME: f64 = 0.15;
const W_CATERER_RATING: f64 = 0.30;
const W_CATERER_PRICE: f64 = 0.25;
/// Price per person at which an unbudgeted caterer's price fit falls to 0.5.
const CATERER_PRICE_REFERENCE: f64 = 25.0;

// Vendor weights: theme, rating, price, reviews.
const W_VENDOR_THEME: f64 = 0.35;
const W_VENDOR_RATING: f64 = 0.35;
const W_VENDOR_PRICE: f64 = 0.20;
const W_VENDOR_REVIEWS: f64 = 0.10;
/// Review count at which a vendor's review fit reaches 0.5.
const VENDOR_REVIEWS_REFERENCE: f64 = 50.0;
/// Average price at which an unbudgeted vendor's price fit falls to 0.5.
const VENDOR_PRICE_REFERENCE: f64 = 500.0;

/// The vendor categories the vendor agent plans.
pub const VENDOR_CATEGORIES: [&str; 4] = ["decorations", "entertainment", "photography", "rentals"];

/// Ranked hits plus how many records passed the hard filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Hits<T> {
    /// Best first, at most the query's limit.
    pub hits: Vec<Scored<T>>,
    /// How many records passed the hard filters.
    pub total_matches: usize,
    /// The lowest price among every record that passed the hard filters (not
    /// only the returned ones): venue daily price, bakery price of the size,
    /// caterer price PER PERSON, vendor average price. `None` when none passed.
    pub min_price: Option<u64>,
}

impl<T> Hits<T> {
    /// No hits.
    pub fn none() -> Hits<T> {
        Hits {
            hits: Vec::new(),
            total_matches: 0,
            min_price: None,
        }
    }
}

/// Venue search. Hard filters: capacity >= guests; daily_price <= max_price
/// (when given); city (when given); the setting when `setting_required` and
/// the setting is one of outdoor, indoor, park, hall ([`setting_filters`]).
/// Ranking: a setting that is not a filter is a preference, and venues that
/// match it come first; then theme fit, capacity fit, setting match, rating,
/// price, id.
///
/// Capacity fit prefers the smallest venue that fits: with
/// `waste = (capacity - guests) / guests`, a waste up to 0.5 is a good fit
/// (0.9..=1), beyond it the fit falls linearly to 0 at a waste of 3.5.
/// Settings: `outdoor`/`indoor` match [`Venue::outdoor`]; `park` matches an
/// outdoor venue whose type contains `park` (a trampoline park is not a
/// park); `hall` and `home` match when the venue type contains the word;
/// `downtown` when the address contains it (any case). Other setting words
/// are ignored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VenueQuery {
    /// Guests to seat. Never recommend a venue below this.
    pub guests: u32,
    /// The user's stated budget for the venue, if any (`Some(0)`: free only).
    pub max_price: Option<u64>,
    /// Theme name, e.g. `jungle`.
    pub theme: Option<String>,
    /// Lowercased city name.
    pub city: Option<String>,
    /// Setting word: outdoor, indoor, park, hall, home, downtown.
    pub setting: Option<String>,
    /// The setting is a need (hard filter) rather than a preference (matching
    /// venues first). Only outdoor, indoor, park and hall can filter; home and
    /// downtown always rank.
    pub setting_required: bool,
    /// How many hits to return.
    pub limit: usize,
}

/// Bakery search. Hard filters: price of `size` <= max_price (when given);
/// every dietary need offered; custom_designs when `themed`; city (when given).
/// Ranking: theme fit, share of `flavors` found in the specialties (substring,
/// any case), rating, price of the size, id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BakeryQuery {
    /// `small`, `medium` or `large`; anything else means `medium`.
    pub size: String,
    /// Cake budget, if stated.
    pub max_price: Option<u64>,
    /// Theme name.
    pub theme: Option<String>,
    /// Needs a custom design.
    pub themed: bool,
    /// Dietary needs, e.g. `vegan`.
    pub dietary: Vec<String>,
    /// Flavours mentioned (rank only).
    pub flavors: Vec<String>,
    /// Lowercased city name.
    pub city: Option<String>,
    /// How many hits.
    pub limit: usize,
}

/// Caterer search. Hard filters: min_guests <= guests <= max_guests; every
/// dietary need offered; price_per_person * guests <= max_total (when given);
/// city (when given). Ranking: share of `cuisines` matched by a cuisine type
/// (either contains the other, any case), theme fit, rating, price, id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatererQuery {
    /// Guests to feed.
    pub guests: u32,
    /// Budget for food, if stated.
    pub max_total: Option<u64>,
    /// Dietary needs.
    pub dietary: Vec<String>,
    /// Cuisine preferences (rank only).
    pub cuisines: Vec<String>,
    /// Theme name (rank only).
    pub theme: Option<String>,
    /// Lowercased city name.
    pub city: Option<String>,
    /// How many hits.
    pub limit: usize,
}

/// Vendor search within one category. Hard filters: category; avg_price <=
/// max_price (when given); city (when given). Ranking: theme fit, rating,
/// price, review count, id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VendorQuery {
    /// One of [`VENDOR_CATEGORIES`].
    pub category: String,
    /// Budget for this category, if any.
    pub max_price: Option<u64>,
    /// Theme name (rank only).
    pub theme: Option<String>,
    /// Lowercased city name.
    pub city: Option<String>,
    /// How many hits.
    pub limit: usize,
}

impl Catalog {
    /// Ranked venues. Never returns a venue seating fewer than `q.guests`.
    pub fn search_venues(&self, q: &VenueQuery) -> Hits<Venue> {
        self.venues_with(q, Exec::Auto)
    }

    /// Ranked bakeries.
    pub fn search_bakeries(&self, q: &BakeryQuery) -> Hits<Bakery> {
        self.bakeries_with(q, Exec::Auto)
    }

    /// Ranked caterers.
    pub fn search_caterers(&self, q: &CatererQuery) -> Hits<Caterer> {
        self.caterers_with(q, Exec::Auto)
    }

    /// Ranked vendors of one category.
    pub fn search_vendors(&self, q: &VendorQuery) -> Hits<Vendor> {
        self.vendors_with(q, Exec::Auto)
    }

    fn venues_with(&self, q: &VenueQuery, exec: Exec) -> Hits<Venue> {
        let theme = theme_word(q.theme.as_deref());
        let city = q.city.as_deref().map(word);
        let setting = q.setting.as_deref().and_then(Setting::parse);
        let filter = setting.filter(|s| q.setting_required && s.filters());
        let assess = |index: usize, v: &Venue| {
            if v.capacity < q.guests
                || q.max_price.is_some_and(|max| v.daily_price > max)
                || !city_matches(&v.city, city.as_deref())
                || filter.is_some_and(|s| !s.matches(v))
            {
                return None;
            }
            let theme_fit = theme.as_deref().map(|t| has_tag(&v.themes, t));
            let setting_fit = setting.map(|s| s.matches(v));
            let mut score = Score::default();
            if let Some(fit) = theme_fit {
                score.add(W_VENUE_THEME, f64::from(u8::from(fit)));
            }
            score.add(W_VENUE_CAPACITY, capacity_fit(v.capacity, q.guests));
            if let Some(fit) = setting_fit {
                score.add(W_VENUE_SETTING, f64::from(u8::from(fit)));
            }
            score.add(W_VENUE_RATING, v.rating / 5.0);
            score.add(
                W_VENUE_PRICE,
                price_fit(v.daily_price, q.max_price, VENUE_PRICE_REFERENCE),
            );
            Some(Candidate {
                index,
                tier: u8::from(setting_fit == Some(false)),
                score: score.finish(),
                rating: v.rating,
                price: v.daily_price,
                popularity: 0,
                id: v.id,
                facts: (theme_fit == Some(true), setting_fit == Some(true)),
            })
        };
        let reasons = |v: &Venue, &(theme_fit, setting_fit): &(bool, bool)| {
            let mut out = vec![format!("seats {} for {} guests", v.capacity, q.guests)];
            if let (true, Some(t)) = (theme_fit, theme.as_deref()) {
                out.push(format!("suits the {t} theme"));
            }
            out.push(match (v.daily_price, q.max_price) {
                (0, _) => "free to book".to_owned(),
                (p, Some(max)) => format!("within budget (${p} of ${max})"),
                (p, None) => format!("${p} per day"),
            });
            if let (true, Some(s)) = (setting_fit, setting) {
                out.push(s.reason().to_owned());
            }
            out.push(format!("rated {:.1}", v.rating));
            out
        };
        rank(&self.venues, q.limit, exec, assess, reasons)
    }

    fn bakeries_with(&self, q: &BakeryQuery, exec: Exec) -> Hits<Bakery> {
        let theme = theme_word(q.theme.as_deref());
        let city = q.city.as_deref().map(word);
        let dietary = tags(&q.dietary);
        let flavors: Vec<String> = q
            .flavors
            .iter()
            .map(|f| word(f))
            .filter(|f| !f.is_empty())
            .collect();
        let size = CakeSize::parse(&q.size);
        let assess = |index: usize, b: &Bakery| {
            let price = size.price(b);
            if q.max_price.is_some_and(|max| price > max)
                || !dietary.iter().all(|d| has_tag(&b.dietary_options, d))
                || (q.themed && !b.custom_designs)
                || !city_matches(&b.city, city.as_deref())
            {
                return None;
            }
            let theme_fit = theme.as_deref().map(|t| has_tag(&b.themes, t));
            let mut score = Score::default();
            if let Some(fit) = theme_fit {
                score.add(W_BAKERY_THEME, f64::from(u8::from(fit)));
            }
            if !flavors.is_empty() {
                let found = flavors.iter().filter(|f| makes_flavor(b, f)).count();
                score.add(W_BAKERY_FLAVOR, found as f64 / flavors.len() as f64);
            }
            score.add(W_BAKERY_RATING, b.rating / 5.0);
            score.add(
                W_BAKERY_PRICE,
                price_fit(price, q.max_price, BAKERY_PRICE_REFERENCE),
            );
            Some(Candidate {
                index,
                tier: 0,
                score: score.finish(),
                rating: b.rating,
                price,
                popularity: 0,
                id: b.id,
                facts: theme_fit == Some(true),
            })
        };
        let reasons = |b: &Bakery, &theme_fit: &bool| {
            let mut out = Vec::new();
            if let (true, Some(t)) = (theme_fit, theme.as_deref()) {
                out.push(format!("suits the {t} theme"));
            }
            let found: Vec<&str> = flavors
                .iter()
                .filter(|f| makes_flavor(b, f))
                .map(String::as_str)
                .collect();
            if !found.is_empty() {
                out.push(format!("makes {}", found.join(", ")));
            }
            if q.themed {
                out.push("makes custom designs".to_owned());
            }
            if !dietary.is_empty() {
                out.push(format!("offers {}", dietary.join(", ")));
            }
            let (name, price) = (size.name(), size.price(b));
            out.push(match q.max_price {
                Some(max) => format!("within budget (${price} of ${max} for a {name} cake)"),
                None => format!("{name} cake ${price}"),
            });
            out.push(format!("rated {:.1}", b.rating));
            out
        };
        rank(&self.bakeries, q.limit, exec, assess, reasons)
    }

    fn caterers_with(&self, q: &CatererQuery, exec: Exec) -> Hits<Caterer> {
        let theme = theme_word(q.theme.as_deref());
        let city = q.city.as_deref().map(word);
        let dietary = tags(&q.dietary);
        let cuisines: Vec<String> = q
            .cuisines
            .iter()
            .map(|c| word(c))
            .filter(|c| !c.is_empty())
            .collect();
        let total = |c: &Caterer| c.price_per_person.saturating_mul(u64::from(q.guests));
        let assess = |index: usize, c: &Caterer| {
            if q.guests < c.min_guests
                || q.guests > c.max_guests
                || !dietary.iter().all(|d| has_tag(&c.dietary_options, d))
                || q.max_total.is_some_and(|max| total(c) > max)
                || !city_matches(&c.city, city.as_deref())
            {
                return None;
            }
            let theme_fit = theme.as_deref().map(|t| has_tag(&c.themes, t));
            let mut score = Score::default();
            if !cuisines.is_empty() {
                let found = cuisines.iter().filter(|w| cooks(c, w)).count();
                score.add(W_CATERER_CUISINE, found as f64 / cuisines.len() as f64);
            }
            if let Some(fit) = theme_fit {
                score.add(W_CATERER_THEME, f64::from(u8::from(fit)));
            }
            score.add(W_CATERER_RATING, c.rating / 5.0);
            let price = match q.max_total {
                Some(max) => price_fit(total(c), Some(max), 0.0),
                None => price_fit(c.price_per_person, None, CATERER_PRICE_REFERENCE),
            };
            score.add(W_CATERER_PRICE, price);
            Some(Candidate {
                index,
                tier: 0,
                score: score.finish(),
                rating: c.rating,
                price: c.price_per_person,
                popularity: 0,
                id: c.id,
                facts: theme_fit == Some(true),
            })
        };
        let reasons = |c: &Caterer, &theme_fit: &bool| {
            let mut out = vec![format!(
                "serves {} guests ({}-{})",
                q.guests, c.min_guests, c.max_guests
            )];
            let found: Vec<&str> = cuisines
                .iter()
                .filter(|w| cooks(c, w))
                .map(String::as_str)
                .collect();
            if !found.is_empty() {
                out.push(format!("cooks {}", found.join(", ")));
            }
            if !dietary.is_empty() {
                out.push(format!("offers {}", dietary.join(", ")));
            }
            if let (true, Some(t)) = (theme_fit, theme.as_deref()) {
                out.push(format!("suits the {t} theme"));
            }
            let cost = total(c);
            out.push(match q.max_total {
                Some(max) => format!("within budget (${cost} of ${max})"),
                None => format!("${cost} for {} guests", q.guests),
            });
            out.push(format!("${} per person", c.price_per_person));
            out.push(format!("rated {:.1}", c.rating));
            out
        };
        rank(&self.caterers, q.limit, exec, assess, reasons)
    }

    fn vendors_with(&self, q: &VendorQuery, exec: Exec) -> Hits<Vendor> {
        let theme = theme_word(q.theme.as_deref());
        let city = q.city.as_deref().map(word);
        let category = word(&q.category);
        let assess = |index: usize, v: &Vendor| {
            if category.is_empty()
                || v.category != category
                || q.max_price.is_some_and(|max| v.avg_price > max)
                || !city_matches(&v.city, city.as_deref())
            {
                return None;
            }
            let theme_fit = theme.as_deref().map(|t| has_tag(&v.themes, t));
            let mut score = Score::default();
            if let Some(fit) = theme_fit {
                score.add(W_VENDOR_THEME, f64::from(u8::from(fit)));
            }
            score.add(W_VENDOR_RATING, v.rating / 5.0);
            score.add(
                W_VENDOR_PRICE,
                price_fit(v.avg_price, q.max_price, VENDOR_PRICE_REFERENCE),
            );
            let reviews = f64::from(v.review_count);
            score.add(
                W_VENDOR_REVIEWS,
                reviews / (reviews + VENDOR_REVIEWS_REFERENCE),
            );
            Some(Candidate {
                index,
                tier: 0,
                score: score.finish(),
                rating: v.rating,
                price: v.avg_price,
                popularity: v.review_count,
                id: v.id,
                facts: theme_fit == Some(true),
            })
        };
        let reasons = |v: &Vendor, &theme_fit: &bool| {
            let mut out = Vec::new();
            if let (true, Some(t)) = (theme_fit, theme.as_deref()) {
                out.push(format!("suits the {t} theme"));
            }
            out.push(match q.max_price {
                Some(max) => format!("within budget (${} of ${max})", v.avg_price),
                None => format!("typically ${}", v.avg_price),
            });
            out.push(format!(
                "rated {:.1} from {} reviews",
                v.rating, v.review_count
            ));
            out
        };
        rank(&self.vendors, q.limit, exec, assess, reasons)
    }
}

/// Which iterator runs the filter and score pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exec {
    /// Rayon above [`PARALLEL_THRESHOLD`] records, plain iterators otherwise.
    Auto,
    /// Always plain iterators (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Sequential,
    /// Always rayon (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Parallel,
}

impl Exec {
    fn parallel(self, len: usize) -> bool {
        match self {
            Exec::Auto => len > PARALLEL_THRESHOLD,
            Exec::Sequential => false,
            Exec::Parallel => true,
        }
    }
}

/// A record that passed the hard filters, with everything that orders it.
/// `facts` carries what the reasons need, so reasons (strings) are built only
/// for the records returned.
#[derive(Debug)]
struct Candidate<F> {
    /// Position in the collection: the last tie-breaker and the record's handle.
    index: usize,
    /// Lower first, before the score (venues: 1 when a preferred setting
    /// does not match; otherwise 0).
    tier: u8,
    /// Rounded `match_score`.
    score: f64,
    rating: f64,
    /// The price the query is about (lower first).
    price: u64,
    /// Higher first, after price (vendors: review count; otherwise 0).
    popularity: u32,
    id: u32,
    facts: F,
}

impl<F> Candidate<F> {
    /// Best first; a total order, so both paths give the same ranking.
    fn rank_order(a: &Self, b: &Self) -> Ordering {
        a.tier
            .cmp(&b.tier)
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| b.rating.total_cmp(&a.rating))
            .then_with(|| a.price.cmp(&b.price))
            .then_with(|| b.popularity.cmp(&a.popularity))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.index.cmp(&b.index))
    }
}

/// Filters and scores every record, keeps the best `limit` in rank order and
/// explains them.
fn rank<T, F, A, R>(records: &[Arc<T>], limit: usize, exec: Exec, assess: A, reasons: R) -> Hits<T>
where
    T: Send + Sync,
    F: Send,
    A: Fn(usize, &T) -> Option<Candidate<F>> + Sync,
    R: Fn(&T, &F) -> Vec<String>,
{
    let mut found: Vec<Candidate<F>> = if exec.parallel(records.len()) {
        records
            .par_iter()
            .enumerate()
            .filter_map(|(i, r)| assess(i, r))
            .collect()
    } else {
        records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| assess(i, r))
            .collect()
    };
    let total_matches = found.len();
    let min_price = found.iter().map(|c| c.price).min();
    let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
    if found.len() > limit {
        // Partition around the limit first: O(n) instead of sorting everything.
        found.select_nth_unstable_by(limit - 1, Candidate::rank_order);
        found.truncate(limit);
    }
    found.sort_unstable_by(Candidate::rank_order);
    // Not `found.into_iter().map(..).collect()`: that collect reuses
    // `found`'s buffer, sized for every candidate, and the hits live as long
    // as the party (3 KiB per party, benches/memory.rs).
    let mut hits = Vec::with_capacity(found.len());
    hits.extend(found.into_iter().map(|c| {
        let record = &records[c.index];
        Scored {
            record: Arc::clone(record),
            match_score: c.score,
            match_reasons: reasons(record, &c.facts),
        }
    }));
    Hits {
        hits,
        total_matches,
        min_price,
    }
}

/// Weighted mean of the criteria that apply, each fit clamped to `0..=1`.
#[derive(Debug, Default)]
struct Score {
    sum: f64,
    weight: f64,
}

impl Score {
    fn add(&mut self, weight: f64, fit: f64) {
        let fit = if fit.is_nan() {
            0.0
        } else {
            fit.clamp(0.0, 1.0)
        };
        self.sum += weight * fit;
        self.weight += weight;
    }

    /// The mean rounded to 3 decimals, so scores serialise stably.
    fn finish(self) -> f64 {
        if self.weight <= 0.0 {
            return 0.0;
        }
        ((self.sum / self.weight) * 1000.0).round() / 1000.0
    }
}

/// 1 for a snug fit; falls off once more than half the seats would be empty.
fn capacity_fit(capacity: u32, guests: u32) -> f64 {
    let guests = f64::from(guests.max(1));
    let waste = ((f64::from(capacity) - guests) / guests).max(0.0);
    if waste <= 0.5 {
        1.0 - 0.2 * waste
    } else {
        0.9 - 0.3 * (waste - 0.5)
    }
}

/// Cheaper is better: against the budget when there is one (free = 1, at the
/// budget = 0), otherwise `reference / (reference + price)`.
fn price_fit(price: u64, budget: Option<u64>, reference: f64) -> f64 {
    match budget {
        Some(max) if max > 0 => 1.0 - price as f64 / max as f64,
        _ if price == 0 => 1.0,
        _ => reference / (reference + price as f64),
    }
}

/// A query word, trimmed and lowercased.
fn word(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The query theme, or `None` for none, blank or `general`.
fn theme_word(theme: Option<&str>) -> Option<String> {
    theme.map(word).filter(|t| !t.is_empty() && t != "general")
}

/// Dietary needs as catalog tags (`Gluten Free` → `gluten-free`), blanks dropped.
fn tags(needs: &[String]) -> Vec<String> {
    needs
        .iter()
        .map(|n| {
            n.split(|c: char| c.is_whitespace() || c == '_' || c == '-')
                .filter(|part| !part.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join("-")
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// Whether a record's (validated, lowercase) tag list holds `tag`.
fn has_tag(list: &[String], tag: &str) -> bool {
    list.iter().any(|t| t == tag)
}

/// City filter: `None` passes everything; otherwise equal ignoring case.
fn city_matches(city: &str, wanted: Option<&str>) -> bool {
    match wanted {
        None => true,
        Some(w) => city
            .trim()
            .chars()
            .flat_map(char::to_lowercase)
            .eq(w.chars()),
    }
}

/// Whether any specialty mentions the (lowercased) flavour.
fn makes_flavor(b: &Bakery, flavor: &str) -> bool {
    b.specialties
        .iter()
        .any(|s| s.to_lowercase().contains(flavor))
}

/// Whether any cuisine type matches the (lowercased) preference, either way
/// round (`mexican` matches `mexican food` and vice versa).
fn cooks(c: &Caterer, cuisine: &str) -> bool {
    c.cuisine_types.iter().any(|t| {
        let t = t.to_lowercase();
        t.contains(cuisine) || cuisine.contains(&t)
    })
}

/// The venue setting a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    Outdoor,
    Indoor,
    /// `park`, `hall` or `home`: matched against the venue type.
    VenueType(&'static str),
    Downtown,
}

impl Setting {
    fn parse(text: &str) -> Option<Setting> {
        match word(text).as_str() {
            "outdoor" | "outdoors" => Some(Setting::Outdoor),
            "indoor" | "indoors" => Some(Setting::Indoor),
            "park" => Some(Setting::VenueType("park")),
            "hall" => Some(Setting::VenueType("hall")),
            "home" => Some(Setting::VenueType("home")),
            "downtown" => Some(Setting::Downtown),
            _ => None,
        }
    }

    fn matches(self, v: &Venue) -> bool {
        match self {
            Setting::Outdoor => v.outdoor,
            Setting::Indoor => !v.outdoor,
            Setting::VenueType("park") => v.outdoor && v.venue_type.to_lowercase().contains("park"),
            Setting::VenueType(kind) => v.venue_type.to_lowercase().contains(kind),
            Setting::Downtown => v.address.to_lowercase().contains("downtown"),
        }
    }

    /// Whether a required setting of this kind filters venues: outdoor,
    /// indoor, park and hall do; home (the person's own home needs no venue)
    /// and downtown (a part of town) only rank.
    fn filters(self) -> bool {
        matches!(
            self,
            Setting::Outdoor
                | Setting::Indoor
                | Setting::VenueType("park")
                | Setting::VenueType("hall")
        )
    }

    fn reason(self) -> &'static str {
        match self {
            Setting::Outdoor => "outdoor",
            Setting::Indoor => "indoor",
            Setting::VenueType("park") => "park setting",
            Setting::VenueType("hall") => "hall setting",
            Setting::VenueType(_) => "home setting",
            Setting::Downtown => "downtown",
        }
    }
}

/// Whether a stated setting word filters venues when it is a need (outdoor,
/// indoor, park, hall), as [`VenueQuery::setting_required`] applies it.
pub fn setting_filters(setting: &str) -> bool {
    Setting::parse(setting).is_some_and(Setting::filters)
}

/// Whether a venue is in the setting; `None` for a word that is no setting.
pub fn venue_in_setting(venue: &Venue, setting: &str) -> Option<bool> {
    Setting::parse(setting).map(|s| s.matches(venue))
}

/// The cake size whose price a bakery query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CakeSize {
    Small,
    Medium,
    Large,
}

impl CakeSize {
    /// `small`, `medium`, `large` (any case); anything else is medium.
    fn parse(text: &str) -> CakeSize {
        match word(text).as_str() {
            "small" => CakeSize::Small,
            "large" => CakeSize::Large,
            _ => CakeSize::Medium,
        }
    }

    fn price(self, b: &Bakery) -> u64 {
        match self {
            CakeSize::Small => b.price_range.small,
            CakeSize::Medium => b.price_range.medium,
            CakeSize::Large => b.price_range.large,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CakeSize::Small => "small",
            CakeSize::Medium => "medium",
            CakeSize::Large => "large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Arc<Catalog> {
        Catalog::embedded()
    }

    fn venue_query(guests: u32) -> VenueQuery {
        VenueQuery {
            guests,
            limit: 3,
            ..VenueQuery::default()
        }
    }

    fn names<T>(hits: &Hits<T>, name: impl Fn(&T) -> &str) -> Vec<String> {
        hits.hits
            .iter()
            .map(|h| name(&h.record).to_owned())
            .collect()
    }

    /// The embedded catalog cloned `copies` times with fresh ids, so every
    /// collection is above the rayon threshold.
    fn large_catalog(copies: u32) -> Catalog {
        let c = catalog();
        fn grow<T: Clone>(records: &[Arc<T>], copies: u32, set_id: fn(&mut T, u32)) -> Vec<T> {
            let mut out = Vec::new();
            let mut next = 1;
            for _ in 0..copies {
                for r in records {
                    let mut r = T::clone(r);
                    set_id(&mut r, next);
                    next += 1;
                    out.push(r);
                }
            }
            out
        }
        let large = Catalog::from_records(
            grow(&c.venues, copies, |r, id| r.id = id),
            grow(&c.bakeries, copies, |r, id| r.id = id),
            grow(&c.caterers, copies, |r, id| r.id = id),
            grow(&c.vendors, copies, |r, id| r.id = id),
        )
        .expect("grown catalog is valid");
        assert!(large.venues.len() > PARALLEL_THRESHOLD);
        assert!(large.bakeries.len() > PARALLEL_THRESHOLD);
        assert!(large.caterers.len() > PARALLEL_THRESHOLD);
        assert!(large.vendors.len() > PARALLEL_THRESHOLD);
        large
    }

    fn assert_scores_well_formed<T>(hits: &Hits<T>) {
        assert_scores_in_range(hits);
        assert!(hits
            .hits
            .windows(2)
            .all(|w| w[0].match_score >= w[1].match_score));
    }

    fn assert_scores_in_range<T>(hits: &Hits<T>) {
        assert!(hits.hits.len() <= hits.total_matches);
        for h in &hits.hits {
            assert!((0.0..=1.0).contains(&h.match_score), "{}", h.match_score);
            assert_eq!((h.match_score * 1000.0).round() / 1000.0, h.match_score);
            assert!(!h.match_reasons.is_empty());
        }
    }

    /// Venues with a preferred setting: matching venues first, then by score
    /// within each group.
    fn assert_venue_order(hits: &Hits<Venue>, setting: Option<&str>) {
        assert_scores_in_range(hits);
        let tier = |v: &Venue| {
            setting
                .and_then(|s| venue_in_setting(v, s))
                .is_some_and(|m| !m)
        };
        assert!(hits.hits.windows(2).all(|w| {
            let (a, b) = (tier(&w[0].record), tier(&w[1].record));
            (!a && b) || (a == b && w[0].match_score >= w[1].match_score)
        }));
    }

    #[test]
    fn venues_never_seat_fewer_than_the_guests() {
        let c = catalog();
        let settings = [None, Some("outdoor"), Some("hall"), Some("downtown")];
        for guests in 1..=500 {
            for (i, theme) in [None, Some("jungle"), Some("superhero")]
                .into_iter()
                .enumerate()
            {
                let q = VenueQuery {
                    theme: theme.map(str::to_owned),
                    setting: settings[(guests as usize + i) % settings.len()].map(str::to_owned),
                    limit: 100,
                    ..venue_query(guests)
                };
                let hits = c.search_venues(&q);
                assert!(
                    hits.hits.iter().all(|h| h.record.capacity >= guests),
                    "{guests} guests: {:?}",
                    names(&hits, |v| &v.name)
                );
                let fitting = c.venues.iter().filter(|v| v.capacity >= guests).count();
                assert_eq!(hits.total_matches, fitting);
                assert_eq!(hits.hits.len(), fitting.min(100));
                assert_venue_order(&hits, q.setting.as_deref());
            }
        }
    }

    #[test]
    fn a_required_setting_filters_a_preferred_one_ranks_first() {
        let c = catalog();
        for setting in ["outdoor", "indoor", "park", "hall", "home", "downtown"] {
            for guests in [10, 60, 150] {
                let q = VenueQuery {
                    setting: Some(setting.into()),
                    limit: 100,
                    ..venue_query(guests)
                };
                let preferred = c.search_venues(&q);
                assert_venue_order(&preferred, Some(setting));
                let required = c.search_venues(&VenueQuery {
                    setting_required: true,
                    ..q.clone()
                });
                let matching = |v: &Venue| venue_in_setting(v, setting) == Some(true);
                if setting_filters(setting) {
                    assert!(
                        required.hits.iter().all(|h| matching(&h.record)),
                        "{setting}"
                    );
                    let n = c
                        .venues
                        .iter()
                        .filter(|v| v.capacity >= guests && matching(v))
                        .count();
                    assert_eq!(required.total_matches, n, "{setting}");
                    // Preferred: the same venues lead.
                    assert_eq!(preferred.hits[..n], required.hits[..]);
                } else {
                    assert_eq!(required, preferred, "{setting} never filters");
                }
            }
        }
        // A trampoline park (indoor) is not a park.
        let tramp = c.venues.iter().find(|v| v.venue_type == "trampoline_park");
        let tramp = tramp.unwrap_or_else(|| panic!("catalog has a trampoline park"));
        assert_eq!(venue_in_setting(tramp, "park"), Some(false));
        assert_eq!(venue_in_setting(tramp, "nowhere"), None);
        assert!(!setting_filters("home") && !setting_filters("downtown"));
    }

    #[test]
    fn min_price_covers_every_survivor_not_only_the_returned() {
        let c = catalog();
        let hits = c.search_venues(&VenueQuery {
            theme: Some("superhero".into()),
            limit: 1,
            ..venue_query(30)
        });
        assert_eq!(hits.hits.len(), 1);
        assert_eq!(hits.min_price, Some(0));
        let hits = c.search_caterers(&CatererQuery {
            guests: 75,
            limit: 1,
            ..CatererQuery::default()
        });
        let cheapest = c
            .caterers
            .iter()
            .filter(|k| k.min_guests <= 75 && 75 <= k.max_guests)
            .map(|k| k.price_per_person)
            .min();
        assert_eq!(hits.min_price, cheapest);
        let none = c.search_venues(&venue_query(100_000));
        assert_eq!((none.min_price, none.total_matches), (None, 0));
    }

    #[test]
    fn seventy_five_guests_skip_the_sixty_seat_restaurant() {
        let c = catalog();
        let q = VenueQuery {
            theme: Some("superhero".into()),
            city: Some("springfield".into()),
            limit: 50,
            ..venue_query(75)
        };
        let hits = c.search_venues(&q);
        assert!(!hits.hits.is_empty());
        assert!(hits.hits.iter().all(|h| h.record.capacity >= 75));
        assert!(!names(&hits, |v| &v.name).contains(&"Fun Zone Restaurant".to_owned()));
    }

    #[test]
    fn venue_budget_is_a_hard_limit() {
        let c = catalog();
        for max in [0, 100, 300, 400, 1000, 2000, 5000] {
            let q = VenueQuery {
                max_price: Some(max),
                limit: 100,
                ..venue_query(40)
            };
            let hits = c.search_venues(&q);
            assert!(hits.hits.iter().all(|h| h.record.daily_price <= max));
            let passing = c
                .venues
                .iter()
                .filter(|v| v.daily_price <= max && v.capacity >= 40)
                .count();
            assert_eq!(hits.total_matches, passing, "budget {max}");
        }
        let free = c.search_venues(&VenueQuery {
            max_price: Some(0),
            ..venue_query(10)
        });
        assert!(free.total_matches >= 3);
        assert!(free.hits.iter().all(|h| h.record.daily_price == 0));
    }

    #[test]
    fn venue_search_is_deterministic() {
        let c = catalog();
        let q = VenueQuery {
            max_price: Some(2000),
            theme: Some("jungle".into()),
            setting: Some("outdoor".into()),
            limit: 10,
            ..venue_query(75)
        };
        let first = c.search_venues(&q);
        let second = c.search_venues(&q);
        assert_eq!(first, second);
        let json = |h: &Hits<Venue>| serde_json::to_string(&h.hits).expect("serialises");
        assert_eq!(json(&first), json(&second));
        assert_eq!(json(&first), json(&Catalog::embedded().search_venues(&q)));
    }

    #[test]
    fn venue_ranking_prefers_theme_fit_and_snug_capacity() {
        let c = catalog();
        let q = VenueQuery {
            max_price: Some(2000),
            theme: Some("jungle".into()),
            city: Some("springfield".into()),
            ..venue_query(75)
        };
        let hits = c.search_venues(&q);
        let top = &hits.hits[0];
        assert_eq!(top.record.name, "Sunshine Garden Park");
        assert_eq!(
            top.match_reasons,
            [
                "seats 100 for 75 guests",
                "suits the jungle theme",
                "free to book",
                "rated 4.7"
            ]
        );

        // Without a theme, a 100-seat venue beats a 400-seat one for 90 guests
        // at equal price, even rated lower.
        assert!(capacity_fit(100, 90) > capacity_fit(400, 90));
        let q = VenueQuery {
            max_price: Some(0),
            ..venue_query(90)
        };
        let free = c.search_venues(&q);
        assert_eq!(
            free.hits[0].record.capacity,
            100,
            "{:?}",
            names(&free, |v| &v.name)
        );

        let q = VenueQuery {
            setting: Some("Downtown".into()),
            max_price: Some(500),
            ..venue_query(50)
        };
        let hits = c.search_venues(&q);
        assert!(hits.hits[0].record.address.contains("Downtown"));
        assert!(hits.hits[0].match_reasons.contains(&"downtown".to_owned()));
        assert!(hits.hits.iter().all(|h| h.record.daily_price <= 500));
        let paid = hits.hits.iter().find(|h| h.record.daily_price > 0);
        let paid = paid.expect("a paid downtown venue within $500");
        let price = paid.record.daily_price;
        assert!(paid
            .match_reasons
            .contains(&format!("within budget (${price} of $500)")));
    }

    #[test]
    fn venue_city_filter_returns_nothing_for_unknown_cities() {
        let c = catalog();
        let q = VenueQuery {
            city: Some("atlantis".into()),
            ..venue_query(10)
        };
        let hits = c.search_venues(&q);
        assert_eq!((hits.hits.len(), hits.total_matches), (0, 0));
        let q = VenueQuery {
            city: Some(" Riverside ".into()),
            limit: 100,
            ..venue_query(10)
        };
        let hits = c.search_venues(&q);
        assert!(hits.total_matches > 0);
        assert!(hits.hits.iter().all(|h| h.record.city == "Riverside"));
    }

    #[test]
    fn limit_zero_means_three() {
        let c = catalog();
        assert_eq!(c.search_venues(&venue_query(10)).hits.len(), 3);
        let q = VenueQuery {
            limit: 0,
            ..venue_query(10)
        };
        assert_eq!(c.search_venues(&q).hits.len(), DEFAULT_LIMIT);
    }

    #[test]
    fn caterer_filters_hold() {
        let c = catalog();
        let q = CatererQuery {
            guests: 40,
            dietary: vec!["vegan".into(), "Gluten Free".into()],
            limit: 100,
            ..CatererQuery::default()
        };
        let hits = c.search_caterers(&q);
        assert!(hits.total_matches >= 3);
        for h in &hits.hits {
            let d = &h.record.dietary_options;
            assert!(d.contains(&"vegan".into()) && d.contains(&"gluten-free".into()));
            assert!(h.record.min_guests <= 40 && 40 <= h.record.max_guests);
        }
        assert!(hits.hits[0]
            .match_reasons
            .contains(&"offers vegan, gluten-free".to_owned()));

        for guests in [5, 10, 60, 150, 300, 400, 401] {
            let q = CatererQuery {
                guests,
                max_total: Some(1500),
                limit: 100,
                ..CatererQuery::default()
            };
            let hits = c.search_caterers(&q);
            for h in &hits.hits {
                let r = &h.record;
                assert!(r.min_guests <= guests && guests <= r.max_guests);
                assert!(r.price_per_person * u64::from(guests) <= 1500);
            }
            assert_scores_well_formed(&hits);
        }
    }

    #[test]
    fn caterer_ranking_follows_cuisine() {
        let c = catalog();
        let q = CatererQuery {
            guests: 50,
            cuisines: vec!["Mexican".into()],
            city: Some("springfield".into()),
            ..CatererQuery::default()
        };
        let hits = c.search_caterers(&q);
        assert_eq!(hits.hits[0].record.name, "Fiesta Flavors Catering");
        assert!(hits.hits[0]
            .match_reasons
            .contains(&"cooks mexican".to_owned()));
    }

    #[test]
    fn bakery_filters_hold() {
        let c = catalog();
        let q = BakeryQuery {
            size: "large".into(),
            max_price: Some(300),
            themed: true,
            dietary: vec!["vegan".into()],
            limit: 100,
            ..BakeryQuery::default()
        };
        let hits = c.search_bakeries(&q);
        assert!(hits.total_matches >= 2);
        for h in &hits.hits {
            assert!(h.record.dietary_options.contains(&"vegan".into()));
            assert!(h.record.custom_designs);
            assert!(h.record.price_range.large <= 300);
        }
        // Unknown sizes price the medium cake.
        let q = BakeryQuery {
            size: "enormous".into(),
            max_price: Some(100),
            limit: 100,
            ..BakeryQuery::default()
        };
        let hits = c.search_bakeries(&q);
        assert!(hits.total_matches > 0);
        assert!(hits.hits.iter().all(|h| h.record.price_range.medium <= 100));
        assert_eq!(
            hits.total_matches,
            c.bakeries
                .iter()
                .filter(|b| b.price_range.medium <= 100)
                .count()
        );
    }

    #[test]
    fn bakery_ranking_uses_theme_and_flavour() {
        let c = catalog();
        let q = BakeryQuery {
            size: "medium".into(),
            theme: Some("dinosaur".into()),
            themed: true,
            flavors: vec!["carrot".into()],
            city: Some("lakewood".into()),
            ..BakeryQuery::default()
        };
        let hits = c.search_bakeries(&q);
        let top = &hits.hits[0];
        assert_eq!(top.record.name, "Dino Bites Cakery");
        assert!(top
            .match_reasons
            .contains(&"suits the dinosaur theme".to_owned()));
        assert!(top.match_reasons.contains(&"makes carrot".to_owned()));
        assert_scores_well_formed(&hits);
    }

    #[test]
    fn vendor_search_stays_in_category() {
        let c = catalog();
        for category in VENDOR_CATEGORIES {
            let q = VendorQuery {
                category: category.to_uppercase(),
                max_price: Some(450),
                theme: Some("space".into()),
                limit: 100,
                ..VendorQuery::default()
            };
            let hits = c.search_vendors(&q);
            assert!(hits.total_matches >= 3, "{category}");
            assert!(hits
                .hits
                .iter()
                .all(|h| h.record.category == category && h.record.avg_price <= 450));
            assert_scores_well_formed(&hits);
        }
        let q = VendorQuery {
            category: "entertainment".into(),
            theme: Some("superhero".into()),
            ..VendorQuery::default()
        };
        assert_eq!(
            c.search_vendors(&q).hits[0].record.name,
            "SuperHero Entertainment"
        );
        let none = VendorQuery::default();
        assert_eq!(c.search_vendors(&none).total_matches, 0);
    }

    #[test]
    fn rayon_and_sequential_paths_agree() {
        let large = large_catalog(100);
        let all = 100_000;
        for guests in [1, 30, 75, 150, 399] {
            let q = VenueQuery {
                guests,
                max_price: Some(1500),
                theme: Some("ocean".into()),
                setting: Some("outdoor".into()),
                setting_required: guests % 2 == 1,
                city: None,
                limit: all,
            };
            let seq = large.venues_with(&q, Exec::Sequential);
            assert_eq!(seq, large.venues_with(&q, Exec::Parallel));
            assert_eq!(seq, large.search_venues(&q));
            assert!(seq.hits.iter().all(|h| h.record.capacity >= guests));
            let top = VenueQuery { limit: 3, ..q };
            assert_eq!(
                large.venues_with(&top, Exec::Sequential).hits[..],
                seq.hits[..3]
            );
            assert_eq!(
                large.venues_with(&top, Exec::Parallel).hits[..],
                seq.hits[..3]
            );
        }
        let q = BakeryQuery {
            size: "small".into(),
            theme: Some("unicorn".into()),
            flavors: vec!["strawberry".into()],
            dietary: vec!["vegetarian".into()],
            limit: all,
            ..BakeryQuery::default()
        };
        assert_eq!(
            large.bakeries_with(&q, Exec::Sequential),
            large.bakeries_with(&q, Exec::Parallel)
        );
        let q = CatererQuery {
            guests: 60,
            max_total: Some(1500),
            cuisines: vec!["american".into()],
            theme: Some("farm".into()),
            limit: 7,
            ..CatererQuery::default()
        };
        assert_eq!(
            large.caterers_with(&q, Exec::Sequential),
            large.caterers_with(&q, Exec::Parallel)
        );
        for category in VENDOR_CATEGORIES {
            let q = VendorQuery {
                category: category.into(),
                theme: Some("jungle".into()),
                limit: all,
                ..VendorQuery::default()
            };
            assert_eq!(
                large.vendors_with(&q, Exec::Sequential),
                large.vendors_with(&q, Exec::Parallel)
            );
        }
    }
}
