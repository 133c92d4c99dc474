//! Typos people make in the words that matter most: a word of six or more
//! letters one edit from a theme word or "birthday" ("dinosuar",
//! "prinsess", "birtday") is read as that word.
//!
//! Owns the list and the rule; used by the tokenizer when it stems a word
//! (the answer is cached with the stem). Uses `strsim` (the crate clap uses
//! for its suggestions) for the optimal-string-alignment distance.

/// Words a typo is corrected to when a word of six or more letters is one
/// edit from one of them (and no word of the tables itself): themes people
/// misspell and "birthday".
const TYPO_TARGETS: &[&str] = &[
    "birthday",
    "dinosaur",
    "princess",
    "unicorn",
    "superhero",
    "mermaid",
    "astronaut",
    "pirate",
    "jungle",
    "safari",
    "galaxy",
    "spiderman",
    "batman",
    "rainbow",
    "tractor",
    "science",
    "jurassic",
    "catering",
    "decorations",
    "vegetarian",
    "vegan",
    "gluten",
    "balloons",
    "magician",
    "photographer",
    "budget",
    "guests",
    "children",
];

/// Shortest word a typo is corrected in; shorter words are too often other
/// real words one edit away.
const MIN_TYPO_LEN: usize = 6;

/// The word of [`TYPO_TARGETS`] that `word` misspells by one edit (a
/// letter added, dropped, changed, or two swapped; never the first letter).
pub(super) fn typo_target(word: &str) -> Option<&'static str> {
    if word.len() < MIN_TYPO_LEN {
        return None;
    }
    let first = word.chars().next()?;
    TYPO_TARGETS.iter().copied().find(|t| {
        t.starts_with(first)
            && t.len().abs_diff(word.len()) <= 1
            && *t != word
            && strsim::osa_distance(t, word) == 1
    })
}
