//! Fuzzes the input analyzer on arbitrary text: keyword classification and
//! the facts parsed from inputs (guest counts, ages, budgets, dietary needs,
//! setting, city), as the scheduler and the agents call them.
//!
//! The bytes are read as UTF-8 (lossily); up to the first NUL they are the
//! content, one input per line; after it, NUL-separated tags.
//!
//! Invariants: no panic; classification is non-empty, in category order,
//! deterministic, with whole-number positive scores, and `[(Theme, 1.0)]`
//! when nothing matched; guest counts, ages and money are within their
//! documented bounds; `parse_guest_count` / `parse_money` agree with
//! `extract_facts`; across inputs the latest statement of a single-valued
//! fact wins (guests and the budget only after some input stated them: a
//! later bare number or part may correct them) and lists are unions in
//! first-mention order.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use partybus::agents::analyzer::{
    classify, extract_facts, parse_guest_count, parse_money, Category, Facts, MAX_AGE, MAX_GUESTS,
    MAX_MONEY,
};
use partybus::catalog::Catalog;
use partybus::event::SourceType;
use partybus::store::Input;

fn cities() -> &'static [String] {
    static CITIES: OnceLock<Vec<String>> = OnceLock::new();
    CITIES.get_or_init(|| Catalog::embedded().cities.clone())
}

fn input(i: usize, content: &str) -> Input {
    Input {
        input_id: format!("inp_{i}"),
        content: content.to_string(),
        source_type: SourceType::Text,
        tags: Vec::new(),
        added_by: "fuzz".into(),
        added_at: "2026-01-01T00:00:00Z".into(),
        metadata: Default::default(),
        image_url: None,
    }
}

fn check_bounds(f: &Facts) {
    if let Some(g) = f.guest_count {
        assert!((1..=MAX_GUESTS).contains(&g), "guest count {g}");
    }
    assert!(
        f.ages.iter().all(|a| (1..=MAX_AGE).contains(a)),
        "{:?}",
        f.ages
    );
    for m in [f.budget, f.cake_budget, f.catering_budget]
        .into_iter()
        .flatten()
    {
        assert!(m >= 1 && m as f64 <= MAX_MONEY, "money {m}");
    }
}

fn union(lists: &[&Vec<String>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lists {
        for v in l.iter() {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let content = parts.next().unwrap_or("");
    let tags: Vec<String> = parts.map(str::to_string).collect();

    let scores = classify(content, &tags);
    assert!(!scores.is_empty());
    assert_eq!(scores, classify(content, &tags), "deterministic");
    let rank = |c: Category| Category::ALL.iter().position(|x| *x == c).expect("known");
    for w in scores.windows(2) {
        assert!(rank(w[0].0) < rank(w[1].0), "{scores:?}");
    }
    for (_, s) in &scores {
        assert!(s.is_finite() && *s > 0.0 && s.fract() == 0.0, "{scores:?}");
    }
    if scores
        .iter()
        .all(|(c, s)| *c == Category::Theme && *s == 1.0)
    {
        assert_eq!(scores.len(), 1);
    }

    let lines: Vec<&str> = content.split('\n').take(16).collect();
    let each: Vec<Facts> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let f = extract_facts(&[input(i, l)], cities());
            check_bounds(&f);
            assert_eq!(parse_guest_count(l), f.guest_count, "{l:?}");
            let money = [f.budget, f.cake_budget, f.catering_budget, f.venue_budget]
                .into_iter()
                .flatten()
                .max();
            assert_eq!(parse_money(l), money, "{l:?}");
            f
        })
        .collect();

    let inputs: Vec<Input> = lines.iter().enumerate().map(|(i, l)| input(i, l)).collect();
    let all = extract_facts(&inputs, cities());
    check_bounds(&all);
    assert_eq!(all, extract_facts(&inputs, cities()), "deterministic");
    let latest = |get: fn(&Facts) -> Option<u64>| each.iter().rev().find_map(get);
    // Guests and the budget can be corrected by a later bare number ("wait
    // no, 35") or, for guests, part by part ("actually 10 adults"), but only
    // after some input stated them.
    if each.iter().all(|f| f.guest_count.is_none()) {
        assert_eq!(all.guest_count, None);
    }
    if each.iter().all(|f| f.budget.is_none()) {
        assert_eq!(all.budget, None);
    }
    assert_eq!(all.cake_budget, latest(|f| f.cake_budget));
    assert_eq!(all.catering_budget, latest(|f| f.catering_budget));
    assert_eq!(
        all.setting,
        each.iter().rev().find_map(|f| f.setting.clone())
    );
    // The latest city stated wins, also one the catalog lacks (then no
    // catalog city is searched).
    let last_city = each.iter().rev().find(|f| f.city_stated.is_some());
    assert_eq!(all.city_stated, last_city.and_then(|f| f.city_stated.clone()));
    assert_eq!(all.city, last_city.and_then(|f| f.city.clone()));
    let lists: [fn(&Facts) -> &Vec<String>; 4] = [
        |f| &f.dietary,
        |f| &f.flavors,
        |f| &f.cuisines,
        |f| &f.vendor_categories,
    ];
    for get in lists {
        let per: Vec<&Vec<String>> = each.iter().map(get).collect();
        assert_eq!(get(&all), &union(&per));
    }
    let mut ages: Vec<u32> = Vec::new();
    for f in &each {
        for a in &f.ages {
            if !ages.contains(a) {
                ages.push(*a);
            }
        }
    }
    assert_eq!(all.ages, ages);
});
