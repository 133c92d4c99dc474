//! Phrase tables: phrases indexed by their first word's stem, so a text is
//! matched with one map look-up per token rather than one scan per phrase.
//!
//! Owns the one matching rule every vocabulary of the analyzer (and the
//! theme agent's scoring) uses: a phrase matches when its words' stems
//! occur as consecutive tokens joined only by spaces or hyphens ("t-rex" =
//! "t rex"; a comma breaks a phrase). Never a substring match: "party" does
//! not hold "art". An "-ing" word matches only an "-ing" entry ("parking"
//! is no "park").

use rustc_hash::FxHashMap;

use super::token::{joinable, tokenize, Kind, Tok};

/// A phrase table from phrases to values of type `V`.
pub(super) struct PhraseMap<V> {
    /// By first stem: the rest's stems, whether the first word is itself an
    /// "-ing" form, and the value.
    by_first: FxHashMap<String, Vec<(Vec<String>, bool, V)>>,
}

/// The stems of a phrase's words.
pub(super) fn phrase_stems(phrase: &str) -> Vec<String> {
    let lower = phrase.to_lowercase();
    tokenize(&lower)
        .iter()
        .filter(|t| t.kind != Kind::End)
        .map(|t| t.stem.to_string())
        .collect()
}

impl<V: Copy> PhraseMap<V> {
    /// A table of `(phrase, value)` entries; a phrase may map to several values.
    pub(super) fn new<'p>(entries: impl IntoIterator<Item = (&'p str, V)>) -> Self {
        let mut by_first: FxHashMap<String, Vec<(Vec<String>, bool, V)>> = FxHashMap::default();
        for (phrase, v) in entries {
            let words = phrase_stems(phrase);
            let gerund = phrase
                .split([' ', '-'])
                .next()
                .is_some_and(|w| w.ends_with("ing"));
            if let Some((first, rest)) = words.split_first() {
                by_first
                    .entry(first.clone())
                    .or_default()
                    .push((rest.to_vec(), gerund, v));
            }
        }
        Self { by_first }
    }

    /// Calls `f(first token, last token, value)` for every phrase
    /// occurrence, in text order.
    pub(super) fn scan(&self, toks: &[Tok<'_>], mut f: impl FnMut(usize, usize, V)) {
        for (i, t) in toks.iter().enumerate() {
            if !matches!(t.kind, Kind::Word | Kind::Dollar) {
                continue;
            }
            let Some(candidates) = self.by_first.get(&*t.stem) else {
                continue;
            };
            // An "-ing" form is a verb, not an inflection of a noun: "parking"
            // is no park, "fishing" no fish.
            let gerund = t.text.len() > 4 && t.text.ends_with("ing");
            for (rest, kw_gerund, v) in candidates {
                if gerund && !kw_gerund {
                    continue;
                }
                let hit = rest.iter().enumerate().all(|(k, w)| {
                    toks.get(i + 1 + k).is_some_and(|n| {
                        n.kind == Kind::Word && &*n.stem == w.as_str() && joinable(n.sep)
                    })
                });
                if hit {
                    f(i, i + rest.len(), *v);
                }
            }
        }
    }
}
