//! The prototype's classifier (SPEC §6.1): scores an input per planning
//! category with the [`keywords`] tables, matched through the shared phrase
//! rule (stems, word and phrase boundaries).
//!
//! Owns the scores only; which agents an input starts is decided in
//! `analyzer::areas` from the scores and the facts. Keywords are deduplicated
//! on their stems, so spelling variants that match alike ("t-rex"/"t rex",
//! "cupcake"/"cupcakes") cannot double-count. +2.0 per distinct keyword in the
//! content, +3.0 per (tag, keyword) pair; nothing → `[(Theme, 1.0)]`.

use std::sync::OnceLock;

use super::keywords;
use super::phrase::{phrase_stems, PhraseMap};
use super::token::{tokenize, Tok};
use crate::agents::memo::Memo;
use crate::domain::AgentName;

/// Points per distinct keyword in the content (prototype).
const CONTENT_POINTS: f64 = 2.0;
/// Points per (tag, keyword) pair (prototype).
const TAG_POINTS: f64 = 3.0;
/// Score of the fallback category when nothing matches (prototype).
const FALLBACK_SCORE: f64 = 1.0;

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

/// [`classify`] without the memo (for benchmarks and fuzzing).
pub fn classify_uncached(content: &str, tags: &[String]) -> Vec<(Category, f64)> {
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

/// Bits for the keyword ids of one text; the tables hold ~430 keywords.
pub(super) const SEEN_WORDS: usize = 8;

/// Every category's keywords, each with a global id.
pub(super) struct Classifier {
    map: PhraseMap<u16>,
    /// Category of each keyword id.
    pub(super) category: Vec<Category>,
}

pub(super) fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| {
        let mut category = Vec::new();
        let mut entries = Vec::new();
        for cat in Category::ALL {
            // Deduplicate on the token sequence, so spelling variants that
            // tokenize alike ("t-rex"/"t rex") cannot double-count either.
            let mut seen: Vec<String> = Vec::new();
            for &kw in keywords(cat) {
                // An "-ing" entry matches other words than its stem's noun.
                let gerund = if kw.ends_with("ing") { " ing" } else { "" };
                let key = phrase_stems(kw).join(" ") + gerund;
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
        self.map.scan(toks, |_, _, id| {
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

/// Calls `f(first, last, category)` for every keyword occurrence in `toks`.
pub(super) fn keyword_hits(toks: &[Tok<'_>], mut f: impl FnMut(usize, usize, Category)) {
    let c = classifier();
    c.map.scan(toks, |first, last, id| {
        f(first, last, c.category[usize::from(id)])
    });
}

/// The keyword list of one category.
pub(super) fn keywords(category: Category) -> &'static [&'static str] {
    match category {
        Category::Theme => keywords::theme_keywords(),
        Category::Cake => keywords::CAKE,
        Category::Venue => keywords::VENUE,
        Category::Catering => keywords::CATERING,
        Category::Vendor => keywords::VENDOR,
        Category::Budget => keywords::BUDGET,
        Category::Guest => keywords::GUEST,
    }
}
