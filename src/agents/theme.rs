//! `theme_agent`: detects the party theme with the SPEC §6.2 table.
//!
//! Owns the theme table (keywords, colours, decorations, activities) and the
//! scoring rule. Pure: reads only the party's inputs; no clock, no randomness.
//!
//! Scoring, per input whose classification includes [`Category::Theme`]:
//! - +2 for every theme keyword found in the lowercased content on word
//!   boundaries (a keyword counts once per input, however often it occurs;
//!   any non-alphanumeric character, hyphens included, is a boundary, so
//!   "galaxy-themed" contains "galaxy" and "t-rex" matches "t-rex" but
//!   "stars" does not contain "star");
//! - +3 for every (tag, keyword) pair where the keyword is found in the
//!   lowercased tag on word boundaries.
//!
//! Scores are summed over inputs. The primary theme has the highest score;
//! ties go to the theme that first received a score (input order, then table
//! order). `confidence = min(max_score / 10, 1.0)`, computed as
//! `min(max_score, 10) / 10` so it is an exact tenth. With no match at all the
//! result is the `general` fallback: confidence 0.5, `theme_scores {"general": 5}`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::domain::ThemeResult;
use crate::store::Input;

use super::analyzer::{classify, Category};
use super::memo::Memo;
use super::AgentInput;

/// Points for a keyword found in an input's content.
const CONTENT_POINTS: u32 = 2;
/// Points for a keyword found in one of an input's tags.
const TAG_POINTS: u32 = 3;
/// The score at which confidence reaches 1.0.
const FULL_CONFIDENCE_SCORE: u32 = 10;
/// Name of the fallback theme.
pub const GENERAL: &str = "general";

/// One row of the theme table.
#[derive(Debug, Clone, Copy)]
pub struct ThemeSpec {
    /// Theme name.
    pub name: &'static str,
    /// Words that vote for it.
    pub keywords: &'static [&'static str],
    /// Colour palette.
    pub colors: &'static [&'static str],
    /// Decoration ideas.
    pub decorations: &'static [&'static str],
    /// Activity ideas.
    pub activities: &'static [&'static str],
}

/// The SPEC §6.2 table, in tie-break order.
pub const THEMES: [ThemeSpec; 8] = [
    ThemeSpec {
        name: "jungle",
        keywords: &["jungle", "safari", "animal", "wild", "nature", "zoo"],
        colors: &["green", "brown", "yellow", "orange"],
        decorations: &[
            "animal balloons",
            "leaf garlands",
            "safari props",
            "vine decorations",
        ],
        activities: &["animal charades", "safari hunt", "jungle obstacle course"],
    },
    ThemeSpec {
        name: "space",
        keywords: &["space", "astronaut", "galaxy", "planet", "rocket", "star"],
        colors: &["blue", "purple", "silver", "black"],
        decorations: &[
            "planet decorations",
            "star lights",
            "rocket props",
            "galaxy backdrop",
        ],
        activities: &["planet making", "rocket building", "space exploration game"],
    },
    ThemeSpec {
        name: "princess",
        keywords: &["princess", "castle", "royal", "crown", "magic", "fairy"],
        colors: &["pink", "purple", "gold", "white"],
        decorations: &["crowns", "castle backdrop", "magic wands", "tulle draping"],
        activities: &["crown decorating", "castle building", "royal tea party"],
    },
    ThemeSpec {
        name: "superhero",
        keywords: &[
            "superhero",
            "batman",
            "spiderman",
            "superman",
            "hero",
            "marvel",
        ],
        colors: &["red", "blue", "yellow", "black"],
        decorations: &[
            "capes",
            "masks",
            "cityscape backdrop",
            "comic book decorations",
        ],
        activities: &["cape decorating", "superhero training", "city rescue game"],
    },
    ThemeSpec {
        name: "unicorn",
        keywords: &[
            "unicorn", "rainbow", "magical", "sparkle", "fairy", "glitter",
        ],
        colors: &["pink", "purple", "rainbow", "white"],
        decorations: &[
            "unicorn horns",
            "rainbow streamers",
            "sparkles",
            "cloud decorations",
        ],
        activities: &["horn making", "rainbow crafts", "magical story time"],
    },
    ThemeSpec {
        name: "dinosaur",
        keywords: &[
            "dinosaur",
            "dino",
            "prehistoric",
            "fossil",
            "jurassic",
            "t-rex",
        ],
        colors: &["green", "brown", "orange", "yellow"],
        decorations: &[
            "dino balloons",
            "fossil props",
            "volcano backdrop",
            "jungle plants",
        ],
        activities: &["fossil digging", "dino dance", "prehistoric crafts"],
    },
    ThemeSpec {
        name: "ocean",
        keywords: &["ocean", "sea", "mermaid", "fish", "underwater", "beach"],
        colors: &["blue", "teal", "white", "aqua"],
        decorations: &[
            "fish decorations",
            "seaweed",
            "treasure chest",
            "bubble machines",
        ],
        activities: &["fish craft", "treasure hunt", "underwater dance"],
    },
    ThemeSpec {
        name: "farm",
        keywords: &["farm", "barn", "tractor", "cow", "pig", "farmer"],
        colors: &["red", "yellow", "green", "brown"],
        decorations: &[
            "hay bales",
            "barn decorations",
            "animal cutouts",
            "red checkered tablecloths",
        ],
        activities: &["animal feeding game", "tractor races", "farm crafts"],
    },
];

/// The fallback row used when no theme scores.
pub const GENERAL_THEME: ThemeSpec = ThemeSpec {
    name: GENERAL,
    keywords: &[],
    colors: &["blue", "white", "silver"],
    decorations: &["balloons", "streamers", "banners"],
    activities: &["party games", "crafts", "dancing"],
};

/// The table row of a theme name (the `general` row for unknown names).
pub fn spec(name: &str) -> &'static ThemeSpec {
    THEMES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or(&GENERAL_THEME)
}

/// Whether `needle` occurs in `haystack` with a non-alphanumeric character (or
/// the end of the text) on both sides. Both must already be lowercased.
pub(crate) fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    haystack.match_indices(needle).any(|(at, m)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Whether the analyzer classifies this input as theme-relevant.
fn is_theme_input(input: &Input) -> bool {
    classify(&input.content, &input.tags)
        .iter()
        .any(|(c, _)| *c == Category::Theme)
}

/// Scores theme-relevant inputs and picks the primary theme.
pub fn run(input: &AgentInput<'_>) -> ThemeResult {
    score(input.party.inputs.iter().filter(|i| is_theme_input(i)))
}

/// One input's points per theme (index into [`THEMES`]).
fn input_points(content: &str, tags: &[String]) -> [u32; THEMES.len()] {
    let content = content.to_lowercase();
    let tags: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
    let mut out = [0; THEMES.len()];
    for (idx, theme) in THEMES.iter().enumerate() {
        for kw in theme.keywords {
            if contains_word(&content, kw) {
                out[idx] += CONTENT_POINTS;
            }
            out[idx] += TAG_POINTS * tags.iter().filter(|t| contains_word(t, kw)).count() as u32;
        }
    }
    out
}

/// The scoring rule of the module docs over already-filtered inputs.
fn score<'a>(inputs: impl Iterator<Item = &'a Input>) -> ThemeResult {
    let mut scores = [0u32; THEMES.len()];
    // Theme indexes in the order they first received points (tie-break order).
    let mut first_scored: Vec<usize> = Vec::new();
    static MEMO: OnceLock<Memo<[u32; THEMES.len()]>> = OnceLock::new();
    let memo = MEMO.get_or_init(Memo::default);
    for inp in inputs {
        let points = memo.get(&inp.content, &inp.tags, 0, || {
            input_points(&inp.content, &inp.tags)
        });
        for (idx, &points) in points.iter().enumerate() {
            if points > 0 {
                if scores[idx] == 0 {
                    first_scored.push(idx);
                }
                scores[idx] += points;
            }
        }
    }

    // Strictly greater wins, so the earliest-scored theme keeps ties.
    let mut best: Option<usize> = None;
    for &idx in &first_scored {
        match best {
            Some(b) if scores[idx] <= scores[b] => {}
            _ => best = Some(idx),
        }
    }
    let Some(best) = best else {
        return result(
            &GENERAL_THEME,
            BTreeMap::from([(GENERAL.to_string(), 5)]),
            0.5,
        );
    };
    let theme_scores = first_scored
        .iter()
        .map(|&i| (THEMES[i].name.to_string(), scores[i]))
        .collect();
    let confidence = f64::from(scores[best].min(FULL_CONFIDENCE_SCORE)) / 10.0;
    result(&THEMES[best], theme_scores, confidence)
}

fn result(spec: &ThemeSpec, theme_scores: BTreeMap<String, u32>, confidence: f64) -> ThemeResult {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ThemeResult {
        primary_theme: spec.name.to_string(),
        theme_scores,
        confidence,
        colors: owned(spec.colors),
        decorations: owned(spec.decorations),
        activities: owned(spec.activities),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{input, party};

    fn scored(inputs: &[(&str, &[&str])]) -> ThemeResult {
        let p = party(inputs);
        score(p.inputs.iter())
    }

    #[test]
    fn word_boundaries() {
        assert!(contains_word("galaxy-themed cake", "galaxy"));
        assert!(contains_word("a t-rex cake", "t-rex"));
        assert!(contains_word("t-rex", "t-rex"));
        assert!(!contains_word("lots of stars", "star"));
        assert!(!contains_word("seasonal", "sea"));
        assert!(contains_word("by the sea.", "sea"));
        assert!(!contains_word("", "sea"));
        assert!(!contains_word("sea", ""));
    }

    #[test]
    fn jungle_single_input() {
        let r = scored(&[("jungle theme party for 75 guests", &[])]);
        assert_eq!(r.primary_theme, "jungle");
        assert_eq!(r.confidence, 0.2);
        assert_eq!(r.theme_scores, BTreeMap::from([("jungle".to_string(), 2)]));
        assert_eq!(r.colors, ["green", "brown", "yellow", "orange"]);
    }

    #[test]
    fn jungle_with_cake() {
        let r = scored(&[
            ("jungle theme party for 75 guests", &["theme", "venue"]),
            ("need a chocolate cake with animal decorations", &[]),
        ]);
        assert_eq!(r.primary_theme, "jungle");
        assert_eq!(r.confidence, 0.4);
    }

    #[test]
    fn princess() {
        let r = scored(&[
            ("princess castle theme party for 30 kids", &[]),
            ("pink vanilla cake with crown topper", &[]),
        ]);
        assert_eq!(r.primary_theme, "princess");
        assert_eq!(r.confidence, 0.6);
        assert_eq!(r.theme_scores["princess"], 6);
    }

    #[test]
    fn space() {
        let r = scored(&[
            ("space and astronaut theme party for 50 people", &[]),
            ("galaxy-themed cake with planet decorations", &[]),
        ]);
        assert_eq!(r.primary_theme, "space");
        assert_eq!(r.confidence, 0.8);
        assert_eq!(r.decorations[0], "planet decorations");
    }

    #[test]
    fn tags_score_three_and_confidence_caps() {
        let r = scored(&[(
            "dino t-rex fossil jurassic party",
            &["dinosaur", "prehistoric"],
        )]);
        // content: dino, fossil, jurassic, t-rex = 8; tags: dinosaur, prehistoric = 6.
        assert_eq!(r.theme_scores["dinosaur"], 14);
        assert_eq!(r.confidence, 1.0);
    }

    #[test]
    fn tie_goes_to_first_scored_theme() {
        // farm scores first (input 1), ocean ties later: farm wins.
        let r = scored(&[("a barn party", &[]), ("by the sea", &[])]);
        assert_eq!(r.primary_theme, "farm");
        // Same input: table order decides (jungle before space).
        let r = scored(&[("a space zoo", &[])]);
        assert_eq!(r.primary_theme, "jungle");
        // "fairy" votes for princess and unicorn; princess is first in the table.
        let r = scored(&[("fairy party", &[])]);
        assert_eq!(r.primary_theme, "princess");
    }

    #[test]
    fn general_fallback() {
        let r = scored(&[("a birthday party", &[])]);
        assert_eq!(r.primary_theme, "general");
        assert_eq!(r.confidence, 0.5);
        assert_eq!(r.theme_scores, BTreeMap::from([("general".to_string(), 5)]));
        assert_eq!(r.colors, ["blue", "white", "silver"]);
        let none = score(std::iter::empty());
        assert_eq!(none, r);
    }

    fn run_on(inputs: &[(&str, &[&str])]) -> ThemeResult {
        let p = party(inputs);
        let f = crate::agents::Facts::default();
        let c = crate::catalog::Catalog::default();
        run(&crate::agents::testutil::agent_input(&p, &f, &c))
    }

    #[test]
    fn run_scores_the_four_examples() {
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a str, f64);
        let cases: [Case; 4] = [
            (
                &[("jungle theme party for 75 guests", &["theme", "venue"])],
                "jungle",
                0.2,
            ),
            (
                &[
                    ("jungle theme party for 75 guests", &[]),
                    ("need a chocolate cake with animal decorations", &[]),
                ],
                "jungle",
                0.4,
            ),
            (
                &[
                    ("princess castle theme party for 30 kids", &[]),
                    ("pink vanilla cake with crown topper", &[]),
                ],
                "princess",
                0.6,
            ),
            (
                &[
                    ("space and astronaut theme party for 50 people", &[]),
                    ("galaxy-themed cake with planet decorations", &[]),
                ],
                "space",
                0.8,
            ),
        ];
        for (inputs, theme, confidence) in cases {
            let r = run_on(inputs);
            assert_eq!(
                (r.primary_theme.as_str(), r.confidence),
                (theme, confidence)
            );
        }
    }

    #[test]
    fn run_skips_inputs_not_classified_as_theme() {
        // "sparkle" is a unicorn keyword, but the input is about food only.
        let content = "vegan food menu with sparkle drinks";
        let p = party(&[(content, &[])]);
        assert!(!is_theme_input(&p.inputs[0]));
        assert_eq!(score(p.inputs.iter()).primary_theme, "unicorn");
        assert_eq!(run_on(&[(content, &[])]).primary_theme, "general");
    }

    #[test]
    fn deterministic() {
        let inputs = [input("a", "Space ROCKET and a Princess crown", &["Royal"])];
        assert_eq!(score(inputs.iter()), score(inputs.iter()));
        assert_eq!(score(inputs.iter()).primary_theme, "princess");
    }
}
