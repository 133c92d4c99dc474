//! The fact vocabulary: what each word or phrase tells about a party
//! (dietary needs, settings, flavours, cuisines, vendor categories, money
//! domains, themes, birthdays, preferences, refusals) and the number words
//! the fact passes read around numbers.
//!
//! Owns data only; matching is [`super::phrase`]'s rule and reading is the
//! fact passes' (`facts/`). Entries are matched on stems, so one spelling
//! per word is enough ("unicorn" also matches "unicorns").

use std::sync::OnceLock;

use super::phrase::PhraseMap;

/// The themes the analyzer knows, in tie-break order: (name, words that
/// name it on their own, words that name it only when named as the theme).
/// The theme agent's table (colours, decorations, activities) has one row per
/// name, in the same order.
pub const THEMES: &[(&str, &[&str], &[&str])] = &[
    (
        "jungle",
        &[
            "jungle",
            "safari",
            "zoo",
            "wild animals",
            "wildlife",
            "rainforest",
            "lion king",
        ],
        &[
            "animal", "wild", "nature", "lion", "tiger", "monkey", "giraffe", "elephant",
        ],
    ),
    (
        "space",
        &[
            "outer space",
            "astronaut",
            "galaxy",
            "planet",
            "rocket",
            "solar system",
            "nasa",
            "spaceship",
            "space ship",
            "alien",
            "star wars",
        ],
        &["space", "star", "moon", "stars"],
    ),
    (
        "princess",
        &[
            "princess",
            "cinderella",
            "tiara",
            "castle",
            "disney princess",
            "fairy tale",
            "fairytale",
            "frozen",
            "elsa",
            "anna and elsa",
            "rapunzel",
            "belle",
            "ariel",
            "moana",
        ],
        &[
            "royal", "crown", "magic", "fairy", "queen", "king", "prince",
        ],
    ),
    (
        "superhero",
        &[
            "superhero",
            "super hero",
            "batman",
            "spiderman",
            "spider man",
            "superman",
            "avengers",
            "marvel",
            "wonder woman",
            "hulk",
            "captain america",
            "iron man",
            "black panther",
            "justice league",
            "dc comics",
        ],
        &["hero", "cape", "powers"],
    ),
    (
        "unicorn",
        &["unicorn", "rainbow", "sparkle", "glitter", "pegasus"],
        &["magical"],
    ),
    (
        "dinosaur",
        &[
            "dinosaur",
            "dino",
            "dinos",
            "prehistoric",
            "fossil",
            "jurassic",
            "t rex",
            "trex",
            "tyrannosaurus",
            "triceratops",
            "raptor",
            "velociraptor",
            "stegosaurus",
        ],
        &[],
    ),
    (
        "ocean",
        &[
            "ocean",
            "mermaid",
            "underwater",
            "under the sea",
            "shark",
            "sea creatures",
            "little mermaid",
            "sea life",
            "marine life",
            "whales",
            "dolphin",
            "octopus",
        ],
        &["sea", "fish", "beach", "pool", "splash"],
    ),
    (
        "farm",
        &[
            "farm",
            "barnyard",
            "barn",
            "tractor",
            "farmer",
            "old macdonald",
            "petting zoo",
        ],
        &["cow", "pig", "horse", "pony", "chicken"],
    ),
    (
        "pirate",
        &[
            "pirate",
            "pirates",
            "treasure hunt",
            "treasure map",
            "shipwreck",
        ],
        &["treasure", "ship"],
    ),
    (
        "sports",
        &[
            "sports",
            "sport",
            "soccer",
            "football",
            "basketball",
            "baseball",
            "hockey",
            "volleyball",
            "tennis",
            "gymnastics",
        ],
        &["ball", "game day"],
    ),
    (
        "science",
        &[
            "science",
            "scientist",
            "mad scientist",
            "experiments",
            "stem",
            "chemistry",
        ],
        &["lab", "experiment"],
    ),
    (
        "art",
        &[
            "paint party",
            "painting party",
            "artist",
            "arts and crafts",
            "art party",
        ],
        &["art", "crafts", "craft"],
    ),
];

/// Settings in precedence order: within one input the first listed wins.
pub(super) const SETTINGS: [&str; 6] = ["outdoor", "indoor", "park", "hall", "home", "downtown"];

/// What a phrase of the fact vocabulary tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Term {
    Diet(&'static str),
    /// Index into [`SETTINGS`].
    Setting(usize),
    Flavor(&'static str),
    Cuisine(&'static str),
    Vendor(&'static str),
    /// A money-routing keyword (one of the `DOMAIN_*` bits).
    Domain(u8),
    /// A theme word: index into [`THEMES`], and whether it names the theme
    /// on its own (a weak word such as "space" or "star" counts only when
    /// named as the theme: "space party", "loves space").
    Theme(u8, bool),
    /// A birthday word ("birthday", "bday").
    Birthday,
    /// A preference marker ("ideally", "preferred", "if possible").
    Prefer,
    /// A word that makes an area's mention a refusal ("no", "without", "skip").
    Negation,
    /// Something to keep out of the food ("nuts", "dairy"): a dietary need
    /// when refused ("nothing with nuts or dairy").
    Allergen(&'static str),
}

/// The clause/input speaks about the whole party ("budget", "total", "party").
pub(super) const DOMAIN_TOTAL: u8 = 1;
/// The clause/input speaks about the cake.
pub(super) const DOMAIN_CAKE: u8 = 2;
/// The clause/input speaks about food.
pub(super) const DOMAIN_CATERING: u8 = 4;
/// The clause/input speaks about the venue.
pub(super) const DOMAIN_VENUE: u8 = 8;

pub(super) fn vocabulary() -> &'static PhraseMap<Term> {
    static VOCAB: OnceLock<PhraseMap<Term>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut e: Vec<(&'static str, Term)> = Vec::new();
        let mut add = |words: &[&'static str], t: Term| e.extend(words.iter().map(|w| (*w, t)));

        add(&["vegan", "vegans", "plant based"], Term::Diet("vegan"));
        add(
            &["vegetarian", "vegetarians", "veggie", "no meat", "meatless"],
            Term::Diet("vegetarian"),
        );
        add(
            &[
                "gluten free",
                "gf",
                "can t have gluten",
                "cannot have gluten",
                "can t eat gluten",
                "allergic to gluten",
                "avoid gluten",
                "gluten friendly",
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
                "can t have dairy",
                "allergic to dairy",
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
                "nutfree",
                "tree nut allergy",
                "allergic to nuts",
                "allergic to peanuts",
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

        add(
            &["outdoor", "outdoors", "outside", "open air", "al fresco"],
            Term::Setting(0),
        );
        add(&["indoor", "indoors", "inside"], Term::Setting(1));
        add(&["park"], Term::Setting(2));
        add(
            &["hall", "banquet hall", "community hall"],
            Term::Setting(3),
        );
        add(
            &[
                "at home",
                "our home",
                "my home",
                "our house",
                "my house",
                "our place",
                "my place",
                "backyard",
                "back yard",
                "her house",
                "his house",
                "their house",
                "her place",
                "his place",
                "their place",
                "her home",
                "their home",
                "grandma s house",
                "house party",
                "garden at home",
            ],
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
                "bouncy castle",
                "bounce castle",
                "jumping castle",
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
                "event",
                "celebration",
                "shower",
                "retirement",
                "graduation",
                "reunion",
                "gathering",
                "get together",
                "bash",
                "housewarming",
                "anniversary",
                "fundraiser",
                "festival",
                "picnic",
                "birthday",
                "bday",
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
        add(
            &[
                "venue", "venues", "hall", "room", "location", "place", "space",
            ],
            Term::Domain(DOMAIN_VENUE),
        );
        add(&["birthday", "bday", "b day", "birthdays"], Term::Birthday);
        add(
            &[
                "preferred",
                "prefer",
                "preferably",
                "ideally",
                "if possible",
                "would be nice",
                "would be great",
                "nice to have",
                "hopefully",
                "would love",
                "we'd love",
                "bonus",
                "if we can",
            ],
            Term::Prefer,
        );
        add(
            &[
                "no", "not", "without", "skip", "dont", "don't", "do not", "won't", "wont",
                "don t", "won t", "own", "hate", "hates", "dislike", "dislikes",
            ],
            Term::Negation,
        );
        add(
            &["nuts", "nut", "peanuts", "peanut", "tree nuts"],
            Term::Allergen("nut-free"),
        );
        add(
            &["dairy", "milk", "lactose", "cheese"],
            Term::Allergen("dairy-free"),
        );
        add(&["gluten", "wheat"], Term::Allergen("gluten-free"));
        add(&["meat"], Term::Allergen("vegetarian"));
        for (t, (_, strong, weak)) in THEMES.iter().enumerate() {
            let t = u8::try_from(t).expect("fewer than 256 themes");
            add(strong, Term::Theme(t, true));
            add(weak, Term::Theme(t, false));
        }
        PhraseMap::new(e)
    })
}

// Number vocabulary

/// Units that make the number before them an age ("5 year old", "7yo").
pub(super) const AGE_UNITS: &[&str] = &["year", "years", "yr", "yrs", "yo"];
/// Units that make a number neither an age nor guests ("18 months old").
pub(super) const SMALL_AGE_UNITS: &[&str] =
    &["month", "months", "mo", "mos", "week", "weeks", "wk", "wks"];
/// Ordinal suffixes glued to a number ("5th").
pub(super) const ORDINALS: &[&str] = &["th", "st", "nd", "rd"];
/// Words after an ordinal that make it an age ("5th birthday").
pub(super) const BIRTHDAY: &[&str] = &["birthday", "birthdays", "bday"];
/// Words before a number that make it an age ("turning 6", "age 8", "ages 5-8").
pub(super) const AGE_LEADS: &[&str] =
    &["turning", "turns", "turn", "turned", "age", "aged", "ages"];

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
    ("ppl", GuestClass::Generic),
    ("folks", GuestClass::Generic),
    ("members", GuestClass::Generic),
    ("colleagues", GuestClass::Generic),
    ("coworkers", GuestClass::Generic),
    ("employees", GuestClass::Generic),
    ("staff", GuestClass::Generic),
    ("relatives", GuestClass::Generic),
    ("cousins", GuestClass::Generic),
    ("women", GuestClass::Generic),
    ("men", GuestClass::Generic),
    ("ladies", GuestClass::Generic),
    ("couples", GuestClass::Generic),
    ("clients", GuestClass::Generic),
    ("customers", GuestClass::Generic),
    ("volunteers", GuestClass::Adults),
    ("leaders", GuestClass::Adults),
    ("counselors", GuestClass::Adults),
    ("instructors", GuestClass::Adults),
    ("coaches", GuestClass::Adults),
    ("chaperones", GuestClass::Adults),
    ("helpers", GuestClass::Adults),
    ("mothers", GuestClass::Adults),
    ("fathers", GuestClass::Adults),
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
    ("classmates", GuestClass::Kids),
    ("players", GuestClass::Kids),
    ("scouts", GuestClass::Kids),
    ("campers", GuestClass::Kids),
    ("kiddos", GuestClass::Kids),
    ("preschoolers", GuestClass::Kids),
    ("teammates", GuestClass::Kids),
    ("nieces", GuestClass::Kids),
    ("nephews", GuestClass::Kids),
    ("siblings", GuestClass::Kids),
    ("lads", GuestClass::Kids),
    ("girlfriends", GuestClass::Generic),
    ("buddies", GuestClass::Generic),
    ("tweens", GuestClass::Kids),
    ("babies", GuestClass::Kids),
    ("childrens", GuestClass::Kids),
    ("ones", GuestClass::Kids),
    ("grandkids", GuestClass::Kids),
    ("grandchildren", GuestClass::Kids),
    ("adult", GuestClass::Adults),
    ("adults", GuestClass::Adults),
    ("parents", GuestClass::Adults),
    ("grownups", GuestClass::Adults),
    ("mums", GuestClass::Adults),
    ("aunts", GuestClass::Adults),
    ("uncles", GuestClass::Adults),
    ("grandmas", GuestClass::Adults),
    ("grandpas", GuestClass::Adults),
    ("neighbors", GuestClass::Adults),
    ("neighbours", GuestClass::Adults),
    ("teachers", GuestClass::Adults),
    ("moms", GuestClass::Adults),
    ("dads", GuestClass::Adults),
    ("grandparents", GuestClass::Adults),
];
/// Adjectives allowed between a number and its guest noun ("30 little kids").
pub(super) const GUEST_FILLERS: &[&str] = &[
    "little", "young", "small", "hungry", "happy", "excited", "total", "family", "close", "other",
    "more", "extra", "adult", "ish", "best", "special",
];
/// Hedges skipped when looking back from a number for its lead word.
pub(super) const HEDGES: &[&str] = &[
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
pub(super) const LINKS: &[&str] = &[
    "is", "are", "will", "be", "of", "should", "would", "was", "s",
];
/// Lead words that make the next number a guest count ("inviting 40").
pub(super) const GUEST_LEADS: &[&str] = &[
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
pub(super) const GUEST_OF_LEADS: &[&str] = &["party", "group", "class", "team", "crew", "total"];
/// "<x> count/size N" leads ("guest count 60", "party size 20", "head count 12").
pub(super) const GUEST_COUNT_LEADS: &[&str] = &["guest", "party", "group", "head"];
/// Nouns a count may follow ("guests: 60", "number of people is 40").
pub(super) const GUEST_NOUN_LEADS: &[&str] = &["guests", "people", "attendees"];
/// Words after "for N" that make N something other than guests.
pub(super) const NOT_GUEST_UNITS: &[&str] = &[
    "year", "years", "yr", "yrs", "yo", "month", "months", "mo", "mos", "week", "weeks", "day",
    "days", "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "night", "nights",
    "am", "pm", "o", "dollars", "dollar", "usd", "bucks", "grand", "k", "percent", "th", "st",
    "nd", "rd", "x",
];

/// Words after a number that make it money ("500 dollars").
pub(super) const MONEY_WORDS: &[&str] = &["dollars", "dollar", "usd", "bucks"];
/// Words before a bare number that make it money ("budget of 1500").
pub(super) const MONEY_LEADS: &[&str] = &[
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
pub(super) const MONEY_SKIPS: &[&str] = &[
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
    "went",
    "goes",
    "increased",
    "raised",
    "now",
    "changed",
    "updated",
    "new",
    "roughly",
];
/// Words after an amount that make it a per-unit price ("$15 per person").
pub(super) const PER_UNIT_NOUNS: &[&str] = &[
    "head", "person", "plate", "guest", "kid", "child", "adult", "hour", "hr", "day", "night",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GuestClass {
    Generic,
    Kids,
    Adults,
}

/// The guest class of a noun ("kids" → kids), by one hash look-up.
pub(super) fn guest_class(noun: &str) -> Option<GuestClass> {
    static MAP: OnceLock<rustc_hash::FxHashMap<&'static str, GuestClass>> = OnceLock::new();
    MAP.get_or_init(|| GUEST_NOUNS.iter().copied().collect())
        .get(noun)
        .copied()
}
