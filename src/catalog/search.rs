//! Deterministic search over the catalog: hard filters first, then a ranking
//! by capacity fit, theme fit, rating and price, ties broken by id.
//!
//! Never samples at random. Uses rayon when a category is large.

use crate::domain::Scored;

use super::{Bakery, Catalog, Caterer, Vendor, Venue};

/// The vendor categories the vendor agent plans.
pub const VENDOR_CATEGORIES: [&str; 4] = ["decorations", "entertainment", "photography", "rentals"];

/// Ranked hits plus how many records passed the hard filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Hits<T> {
    /// Best first, at most the query's limit.
    pub hits: Vec<Scored<T>>,
    /// How many records passed the hard filters.
    pub total_matches: usize,
}

/// Venue search. Hard filters: capacity >= guests; daily_price <= max_price
/// (when given); city (when given). Ranking: theme fit, capacity fit, setting
/// (outdoor/indoor/venue type) match, rating, price, id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VenueQuery {
    /// Guests to seat. Never recommend a venue below this.
    pub guests: u32,
    /// The user's stated budget for the venue, if any.
    pub max_price: Option<u64>,
    /// Theme name, e.g. `jungle`.
    pub theme: Option<String>,
    /// Lowercased city name.
    pub city: Option<String>,
    /// Setting word: outdoor, indoor, park, hall, home, downtown.
    pub setting: Option<String>,
    /// How many hits to return.
    pub limit: usize,
}

/// Bakery search. Hard filters: price of `size` <= max_price (when given);
/// every dietary need offered; custom_designs when `themed`; city (when given).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BakeryQuery {
    /// `small`, `medium` or `large`.
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
/// city (when given).
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
/// max_price (when given); city (when given).
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
    /// Ranked venues.
    pub fn search_venues(&self, _q: &VenueQuery) -> Hits<Venue> {
        todo!("catalog helper")
    }

    /// Ranked bakeries.
    pub fn search_bakeries(&self, _q: &BakeryQuery) -> Hits<Bakery> {
        todo!("catalog helper")
    }

    /// Ranked caterers.
    pub fn search_caterers(&self, _q: &CatererQuery) -> Hits<Caterer> {
        todo!("catalog helper")
    }

    /// Ranked vendors of one category.
    pub fn search_vendors(&self, _q: &VendorQuery) -> Hits<Vendor> {
        todo!("catalog helper")
    }
}
