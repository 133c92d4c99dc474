//! `input_analyzer`'s pure half: classifies an input into planning categories
//! with the prototype's keyword tables (SPEC §6.1), matched on word and phrase
//! boundaries, and parses the facts the agents need: guest counts, ages,
//! budgets, dietary needs, settings and cities.
//!
//! Pure: no I/O, no clock.

use crate::domain::AgentName;
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
pub fn classify(_content: &str, _tags: &[String]) -> Vec<(Category, f64)> {
    todo!("analyzer helper")
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
}

/// Parses the facts of all inputs. `cities` are the catalog's lowercased city names.
pub fn extract_facts(_inputs: &[Input], _cities: &[String]) -> Facts {
    todo!("analyzer helper")
}
