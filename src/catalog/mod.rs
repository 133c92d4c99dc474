//! The supplier catalog: venues, bakeries, caterers and vendors. Owns the
//! embedded default data set (`data/catalog.json`, compiled in), loading and
//! validating a user's own file with the same schema, and deterministic search.
//!
//! Must not depend on agents, the bus or the store. Never samples at random:
//! the same query over the same catalog gives the same ranking, byte for byte.

mod search;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use search::{BakeryQuery, CatererQuery, Hits, VendorQuery, VenueQuery, VENDOR_CATEGORIES};

/// The embedded default data set.
pub const DEFAULT_CATALOG_JSON: &str = include_str!("../../data/catalog.json");

/// A place to hold the party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Venue {
    /// Unique within venues.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// park, banquet_hall, restaurant, community_center, hotel, ...
    #[serde(rename = "type")]
    pub venue_type: String,
    /// City (one of the catalog's cities).
    pub city: String,
    /// Street address.
    pub address: String,
    /// Maximum guests.
    pub capacity: u32,
    /// Amenities.
    pub amenities: Vec<String>,
    /// Price per day, dollars (0 = free).
    pub daily_price: u64,
    /// Price per hour, dollars.
    pub hourly_price: u64,
    /// Phone or e-mail.
    pub contact: String,
    /// 0..=5.
    pub rating: f64,
    /// Image URLs.
    pub images: Vec<String>,
    /// Free text.
    pub description: String,
    /// Themes it suits (theme names of the theme agent's table).
    pub themes: Vec<String>,
    /// Whether it is outdoors.
    pub outdoor: bool,
}

/// Bakery price per cake size, dollars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceRange {
    /// Small cake (under 20 guests).
    pub small: u64,
    /// Medium cake (20–49 guests).
    pub medium: u64,
    /// Large cake (50+ guests).
    pub large: u64,
}

/// A bakery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bakery {
    /// Unique within bakeries.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// City.
    pub city: String,
    /// Specialties.
    pub specialties: Vec<String>,
    /// Price per size.
    pub price_range: PriceRange,
    /// Phone or e-mail.
    pub contact: String,
    /// 0..=5.
    pub rating: f64,
    /// Image URLs.
    pub portfolio_images: Vec<String>,
    /// Whether it makes custom (themed) designs.
    pub custom_designs: bool,
    /// Free text.
    pub description: String,
    /// Themes it suits.
    pub themes: Vec<String>,
    /// vegan, gluten-free, nut-free, dairy-free, halal, kosher, vegetarian.
    pub dietary_options: Vec<String>,
}

/// A caterer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caterer {
    /// Unique within caterers.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// City.
    pub city: String,
    /// Cuisines.
    pub cuisine_types: Vec<String>,
    /// Menu items.
    pub menu_items: Vec<String>,
    /// Dietary options offered.
    pub dietary_options: Vec<String>,
    /// Dollars per guest.
    pub price_per_person: u64,
    /// Smallest party served.
    pub min_guests: u32,
    /// Largest party served.
    pub max_guests: u32,
    /// Phone or e-mail.
    pub contact: String,
    /// 0..=5.
    pub rating: f64,
    /// Free text.
    pub description: String,
    /// Themes it suits.
    pub themes: Vec<String>,
}

/// A vendor: decorations, entertainment, photography or rentals (or planning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vendor {
    /// Unique within vendors.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// City.
    pub city: String,
    /// decorations, entertainment, photography, rentals, planning.
    pub category: String,
    /// Services.
    pub services: Vec<String>,
    /// Phone or e-mail.
    pub contact: String,
    /// 0..=5.
    pub rating: f64,
    /// Typical price per party, dollars.
    pub avg_price: u64,
    /// Number of reviews.
    pub review_count: u32,
    /// Free text.
    pub description: String,
    /// Image URLs.
    pub portfolio_images: Vec<String>,
    /// Themes it suits.
    pub themes: Vec<String>,
}

/// A validated catalog. Records are shared (`Arc`) with agent results.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Venues.
    pub venues: Vec<Arc<Venue>>,
    /// Bakeries.
    pub bakeries: Vec<Arc<Bakery>>,
    /// Caterers.
    pub caterers: Vec<Arc<Caterer>>,
    /// Vendors.
    pub vendors: Vec<Arc<Vendor>>,
    /// Distinct cities, lowercased, sorted.
    pub cities: Vec<String>,
}

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read catalog {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The JSON does not match the schema; names the record and field.
    #[error("invalid catalog: {0}")]
    Invalid(String),
}

impl Catalog {
    /// The embedded default catalog.
    pub fn embedded() -> Arc<Catalog> {
        // The embedded file is checked by a unit test; failing here is a build defect.
        Arc::new(Catalog::from_json(DEFAULT_CATALOG_JSON).expect("embedded catalog is valid"))
    }

    /// Loads and validates a user's catalog file.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Catalog::from_json(&text)
    }

    /// Parses and validates catalog JSON. Errors name the record and the field,
    /// e.g. `venues[3] (id 4, "Community Center Hall"): capacity must be > 0`.
    pub fn from_json(_text: &str) -> Result<Catalog, CatalogError> {
        todo!("catalog helper")
    }
}
