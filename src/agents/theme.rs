//! `theme_agent`: the party's theme, its colours, decorations and activities.
//!
//! Owns the theme table (colours, decorations, activities per theme) and the
//! scoring rule. The words that name each theme, and how strongly an input
//! names one, are the analyzer's (`analyzer::THEMES`, one matcher for the
//! facts and this agent): rows here are in the same order, one per theme.
//! Pure: reads only the party's inputs and facts; no clock, no randomness.
//!
//! Scoring, over every input: +2 per theme word mentioned, +6 when loved
//! ("loves unicorns"), +8 when named as the theme ("unicorn party", "jungle
//! theme", "dinosaur-themed"); +3 per (tag, theme) pair where the tag names
//! the theme. The primary theme is the analyzer's theme fact (the most
//! strongly stated, the latest among equals); without one, the highest score
//! (ties to the theme that first scored). `confidence = min(score, 10) / 10`
//! of the primary theme, an exact tenth. With nothing at all the result is the
//! `general` fallback: confidence 0.5, `theme_scores {"general": 5}`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::domain::ThemeResult;
use crate::store::Input;

use super::analyzer::{tag_themes, theme_points, Strength};
use super::memo::Memo;
use super::AgentInput;

/// Points for a theme word mentioned in an input's content.
const MENTION_POINTS: u32 = 2;
/// Points for a theme the input says is loved ("loves unicorns").
const LOVED_POINTS: u32 = 6;
/// Points for a theme named as the theme ("unicorn party").
const NAMED_POINTS: u32 = 8;
/// Points for a theme named in one of an input's tags.
const TAG_POINTS: u32 = 3;
/// The score at which confidence reaches 1.0.
const FULL_CONFIDENCE_SCORE: u32 = 10;
/// Name of the fallback theme.
pub(crate) const GENERAL: &str = "general";

/// One row of the theme table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThemeSpec {
    /// Theme name.
    pub name: &'static str,
    /// Colour palette.
    pub colors: &'static [&'static str],
    /// Decoration ideas.
    pub decorations: &'static [&'static str],
    /// Activity ideas.
    pub activities: &'static [&'static str],
}

/// The SPEC §6.2 table, in tie-break order.
pub(crate) const THEMES: [ThemeSpec; 12] = [
    ThemeSpec {
        name: "jungle",
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
        colors: &["pink", "purple", "gold", "white"],
        decorations: &["crowns", "castle backdrop", "magic wands", "tulle draping"],
        activities: &["crown decorating", "castle building", "royal tea party"],
    },
    ThemeSpec {
        name: "superhero",
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
        colors: &["red", "yellow", "green", "brown"],
        decorations: &[
            "hay bales",
            "barn decorations",
            "animal cutouts",
            "red checkered tablecloths",
        ],
        activities: &["animal feeding game", "tractor races", "farm crafts"],
    },
    ThemeSpec {
        name: "pirate",
        colors: &["red", "black", "gold", "white"],
        decorations: &[
            "treasure chests",
            "pirate flags",
            "ship's wheel",
            "gold coins",
        ],
        activities: &["treasure hunt", "walk the plank", "pirate hat making"],
    },
    ThemeSpec {
        name: "sports",
        colors: &["red", "blue", "white", "green"],
        decorations: &[
            "team pennants",
            "ball balloons",
            "scoreboard banner",
            "trophy centerpieces",
        ],
        activities: &["relay races", "penalty shootout", "medal ceremony"],
    },
    ThemeSpec {
        name: "science",
        colors: &["green", "blue", "purple", "white"],
        decorations: &[
            "beaker centerpieces",
            "periodic table banner",
            "lab coats",
            "bubbling potions",
        ],
        activities: &["slime making", "volcano experiment", "mad scientist lab"],
    },
    ThemeSpec {
        name: "art",
        colors: &["red", "yellow", "blue", "rainbow"],
        decorations: &[
            "paint palettes",
            "easels",
            "splatter backdrop",
            "crayon garlands",
        ],
        activities: &["canvas painting", "clay modelling", "collage station"],
    },
];

/// The fallback row used when no theme scores.
pub(crate) const GENERAL_THEME: ThemeSpec = ThemeSpec {
    name: GENERAL,
    colors: &["blue", "white", "silver"],
    decorations: &["balloons", "streamers", "banners"],
    activities: &["party games", "crafts", "dancing"],
};

/// The table row of a theme name (the `general` row for unknown names).
#[cfg(test)]
pub(crate) fn spec(name: &str) -> &'static ThemeSpec {
    THEMES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or(&GENERAL_THEME)
}

/// Scores every input and picks the primary theme.
pub(crate) fn run(input: &AgentInput<'_>) -> ThemeResult {
    score(input.party.inputs.iter(), input.facts.theme.as_deref())
}

/// One input's points per theme (index into [`THEMES`]).
fn input_points(content: &str, tags: &[String]) -> [u32; THEMES.len()] {
    let mut out = [0; THEMES.len()];
    for (idx, strength) in theme_points(content) {
        if let Some(p) = out.get_mut(idx) {
            *p += match strength {
                Strength::Mentioned => MENTION_POINTS,
                Strength::Loved => LOVED_POINTS,
                Strength::Named => NAMED_POINTS,
            };
        }
    }
    for tag in tags {
        for idx in tag_themes(tag) {
            if let Some(p) = out.get_mut(idx) {
                *p += TAG_POINTS;
            }
        }
    }
    out
}

/// The scoring rule of the module docs; `stated` is the analyzer's theme fact.
fn score<'a>(inputs: impl Iterator<Item = &'a Input>, stated: Option<&str>) -> ThemeResult {
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
    let stated = stated.and_then(|name| THEMES.iter().position(|t| t.name == name));
    let Some(best) = stated.filter(|i| scores[*i] > 0).or(best) else {
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
        let facts = crate::agents::analyzer::extract_facts(&p.inputs, &[]);
        score(p.inputs.iter(), facts.theme.as_deref())
    }

    #[test]
    fn rows_follow_the_analyzers_themes() {
        let names: Vec<&str> = THEMES.iter().map(|t| t.name).collect();
        let analyzer: Vec<&str> = crate::agents::analyzer::THEMES
            .iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(names, analyzer);
    }

    #[test]
    fn a_named_theme_is_confident() {
        let r = scored(&[("jungle theme party for 75 guests", &[])]);
        assert_eq!(r.primary_theme, "jungle");
        assert_eq!(r.confidence, 0.8);
        assert_eq!(r.theme_scores, BTreeMap::from([("jungle".to_string(), 8)]));
        assert_eq!(r.colors, ["green", "brown", "yellow", "orange"]);
        let r = scored(&[(
            "Superhero birthday for 30 kids, outdoor park, budget $500",
            &[],
        )]);
        assert_eq!((r.primary_theme.as_str(), r.confidence), ("superhero", 0.8));
    }

    #[test]
    fn inflections_and_variants_count() {
        for (text, theme) in [
            ("she loves princesses", "princess"),
            ("unicorns everywhere please", "unicorn"),
            ("he is obsessed with dinosaurs", "dinosaur"),
            ("a T-Rex cake", "dinosaur"),
            ("a t rex cake", "dinosaur"),
            ("superheroes party", "superhero"),
            ("mermaids and shells", "ocean"),
            ("astronauts!", "space"),
            ("dinosaur-themed bash", "dinosaur"),
        ] {
            assert_eq!(scored(&[(text, &[])]).primary_theme, theme, "{text}");
        }
        // "party" holds no "art"; a space for guests is no space party.
        assert_eq!(scored(&[("a party for 20", &[])]).primary_theme, "general");
        assert_eq!(
            scored(&[("we need a space for 30 people", &[])]).primary_theme,
            "general"
        );
    }

    #[test]
    fn the_theme_named_as_the_theme_wins() {
        let r = scored(&[("jungle themed party for 20 kids with a dinosaur cake", &[])]);
        assert_eq!(r.primary_theme, "jungle");
        assert_eq!(r.theme_scores["dinosaur"], 2);
        let r = scored(&[("he loves dinosaurs but wants a space party", &[])]);
        assert_eq!(r.primary_theme, "space");
    }

    #[test]
    fn tags_score_three_and_confidence_caps() {
        let r = scored(&[(
            "dino t-rex fossil jurassic party",
            &["dinosaur", "prehistoric"],
        )]);
        assert_eq!(r.primary_theme, "dinosaur");
        assert_eq!(r.confidence, 1.0);
        assert!(r.theme_scores["dinosaur"] >= 10);
    }

    #[test]
    fn without_a_stated_theme_the_first_scored_wins_ties() {
        let r = score(
            [input("a", "x", &["farm"]), input("b", "y", &["ocean"])].iter(),
            None,
        );
        assert_eq!(r.primary_theme, "farm");
    }

    #[test]
    fn general_fallback() {
        let r = scored(&[("a birthday party", &[])]);
        assert_eq!(r.primary_theme, "general");
        assert_eq!(r.confidence, 0.5);
        assert_eq!(r.theme_scores, BTreeMap::from([("general".to_string(), 5)]));
        assert_eq!(r.colors, ["blue", "white", "silver"]);
        let none = score(std::iter::empty(), None);
        assert_eq!(none, r);
    }

    #[test]
    fn deterministic() {
        let inputs = [input("a", "Space ROCKET and a Princess crown", &["Royal"])];
        assert_eq!(score(inputs.iter(), None), score(inputs.iter(), None));
    }
}
