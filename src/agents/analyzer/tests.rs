//! The analyzer's unit tests: classification, facts and their provenance.

use super::classify::{classifier, classify_uncached, SEEN_WORDS};
use super::*;
use crate::event::SourceType;

fn cats(content: &str, tags: &[&str]) -> Vec<Category> {
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    classify(content, &tags)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

fn classify_tags(content: &str, tags: &[&str]) -> Vec<(Category, f64)> {
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    classify(content, &tags)
}

fn score(content: &str, tags: &[&str], cat: Category) -> f64 {
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    classify(content, &tags)
        .into_iter()
        .find(|(c, _)| *c == cat)
        .map_or(0.0, |(_, s)| s)
}

fn input(i: usize, content: &str) -> Input {
    Input {
        input_id: format!("inp_{i}"),
        content: content.to_owned(),
        source_type: SourceType::Text,
        tags: Vec::new(),
        added_by: "user".to_owned(),
        added_at: "2024-01-01T00:00:00Z".to_owned(),
        metadata: serde_json::Map::new(),
        image_url: None,
    }
}

#[test]
fn memoized_answers_equal_fresh_ones_and_follow_the_city_list() {
    let texts = [
        "jungle theme party for 75 guests",
        "need a chocolate cake with animal decorations, vegan",
        "outdoor venue in Austin preferred, budget around $2000",
    ];
    for t in texts {
        let tags = vec!["Cake".to_owned()];
        for _ in 0..2 {
            assert_eq!(classify(t, &tags), classify_uncached(t, &tags));
            assert_eq!(classify(t, &[]), classify_uncached(t, &[]));
        }
    }
    let inputs = [input(0, texts[2])];
    let austin = ["austin".to_owned(), "boston".to_owned()];
    let boston = ["boston".to_owned()];
    for _ in 0..2 {
        assert_eq!(
            extract_facts(&inputs, &austin).city.as_deref(),
            Some("austin")
        );
        assert_eq!(extract_facts(&inputs, &boston).city, None);
    }
}

fn facts_of(contents: &[&str]) -> Facts {
    let inputs: Vec<Input> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| input(i, c))
        .collect();
    extract_facts(&inputs, &[])
}

/// The plan's facts (with their words) of these inputs.
fn plan_of(contents: &[&str]) -> litemap::LiteMap<String, crate::domain::PlanFact> {
    let inputs: Vec<Input> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| input(i, c))
        .collect();
    extract_facts(&inputs, &[]).plan_facts(&inputs)
}

fn facts(content: &str) -> Facts {
    facts_of(&[content])
}

use Category::*;

// ---- keyword tables ----

#[test]
fn tables_are_deduplicated_and_sized_as_the_prototype() {
    assert_eq!(keywords::theme_keywords().len(), 320);
    assert_eq!(keywords::VENUE.len(), 20);
    for cat in Category::ALL {
        let list = super::classify::keywords(cat);
        for (i, kw) in list.iter().enumerate() {
            assert!(!list[..i].contains(kw), "{cat:?} repeats {kw}");
        }
    }
    assert!(classifier().category.len() <= SEEN_WORDS * 64);
}

#[test]
fn every_keyword_matches_itself() {
    for cat in Category::ALL {
        for kw in super::classify::keywords(cat) {
            assert!(cats(kw, &[]).contains(&cat), "{kw} does not match {cat:?}");
        }
    }
}

// ---- classification examples ----

#[test]
fn jungle_party_is_theme_and_guest() {
    assert_eq!(
        cats("jungle theme party for 75 guests", &[]),
        vec![Theme, Guest]
    );
    assert_eq!(score("jungle theme party for 75 guests", &[], Theme), 4.0);
    assert_eq!(score("jungle theme party for 75 guests", &[], Guest), 2.0);
    assert_eq!(
        cats("jungle theme party for 75 guests", &["theme", "venue"]),
        vec![Theme, Venue, Guest]
    );
    assert_eq!(
        score(
            "jungle theme party for 75 guests",
            &["theme", "venue"],
            Venue
        ),
        3.0
    );
    assert_eq!(
        score(
            "jungle theme party for 75 guests",
            &["theme", "venue"],
            Theme
        ),
        7.0
    );
}

#[test]
fn prototype_examples() {
    assert_eq!(
        cats("outdoor venue preferred, budget around $2000", &[]),
        vec![Theme, Venue, Budget]
    );
    assert_eq!(
        score("outdoor venue preferred, budget around $2000", &[], Venue),
        2.0,
        "venue no longer double-counts"
    );
    assert_eq!(
        cats("princess castle theme party for 30 kids", &[]),
        vec![Theme]
    );
    assert_eq!(
        cats("need a chocolate cake with animal decorations", &[]),
        vec![Theme, Cake, Vendor]
    );
    assert_eq!(
        cats("galaxy-themed cake with planet decorations", &[]),
        vec![Theme, Cake, Vendor]
    );
    assert_eq!(
        cats("chocolate cake with rainbow frosting", &[]),
        vec![Theme, Cake]
    );
    assert_eq!(
        cats("pink vanilla cake with crown topper", &[]),
        vec![Theme, Cake]
    );
}

#[test]
fn nothing_matches_falls_back_to_theme() {
    assert_eq!(classify("", &[]), vec![(Theme, 1.0)]);
    assert_eq!(classify("hello there", &[]), vec![(Theme, 1.0)]);
    assert_eq!(classify("   !!! ", &[]), vec![(Theme, 1.0)]);
}

#[test]
fn no_substring_matches() {
    // party ⊅ art, price ⊅ ice, team ⊅ tea, start ⊅ star(s), season ⊅ sea.
    assert_eq!(classify("a party", &[]), vec![(Theme, 1.0)]); // fallback only
    assert_eq!(classify("startle", &[]), vec![(Theme, 1.0)]);
    assert_eq!(cats("what price", &[]), vec![Budget]);
    assert!(!cats("the price", &[]).contains(&Theme));
    assert_eq!(cats("our team", &[]), vec![Theme]); // team is a sports word
    assert_eq!(score("our team", &[], Theme), 2.0); // …but not also "tea"
    assert_eq!(classify("start now", &[]), vec![(Theme, 1.0)]);
    assert_eq!(classify("this season", &[]), vec![(Theme, 1.0)]);
    assert_eq!(
        classify("nice service", &[]),
        vec![(Catering, 2.0), (Vendor, 2.0)]
    );
    assert_eq!(classify("steakhouse", &[]), vec![(Theme, 1.0)]);
    // decorations is the vendor keyword decoration, inflected
    assert!(cats("decorations", &[]).contains(&Vendor));
    assert!(cats("decoration", &[]).contains(&Vendor));
}

#[test]
fn phrases_match_consecutive_words_only() {
    assert!(cats("a birthday cake", &[]).contains(&Cake));
    assert_eq!(score("birthday cake", &[], Cake), 4.0); // cake + birthday cake
    assert_eq!(score("tea party", &[], Theme), 4.0); // tea + tea party
    assert_eq!(cats("the number of people", &[]), vec![Guest]);
    assert_eq!(classify("number of the people", &[]), vec![(Guest, 2.0)]);
    // a comma breaks a phrase
    assert_eq!(score("tea, party", &[], Theme), 2.0);
    assert_eq!(classify("zip-code", &[]), vec![(Venue, 2.0)]);
}

#[test]
fn hyphens_and_dollars() {
    assert!(cats("galaxy-themed", &[]).contains(&Theme));
    assert_eq!(cats("a t-rex", &[]), vec![Theme]);
    assert_eq!(cats("T-Rex", &[]), vec![Theme]);
    assert_eq!(classify("multi-color", &[]), vec![(Theme, 4.0)]); // multi-color + color
    assert_eq!(classify("$2000", &[]), vec![(Budget, 2.0)]);
    assert_eq!(classify("2000 $", &[]), vec![(Budget, 2.0)]);
    assert_eq!(classify("US$ 20", &[]), vec![(Budget, 2.0)]);
    assert_eq!(classify("2000 dollars", &[]), vec![(Budget, 2.0)]); // "dollar", inflected
}

#[test]
fn case_and_tags() {
    assert_eq!(cats("JUNGLE", &[]), vec![Theme]);
    assert_eq!(classify_tags("", &["Venue"]), vec![(Venue, 3.0)]);
    assert_eq!(classify_tags("", &["venue", "venue"]), vec![(Venue, 6.0)]);
    assert_eq!(classify_tags("", &["venue location"]), vec![(Venue, 6.0)]);
    // Tags are matched on stems too: "venues" is "venue".
    assert_eq!(classify_tags("", &["venues"]), vec![(Venue, 3.0)]);
    assert_eq!(classify_tags("", &["party"]), vec![(Theme, 1.0)]);
    assert_eq!(classify_tags("", &[""]), vec![(Theme, 1.0)]);
}

#[test]
fn repeated_keywords_count_once() {
    assert_eq!(classify("cake cake cake", &[]), vec![(Cake, 2.0)]);
}

// ---- guests and ages ----

#[test]
fn guest_count_formats() {
    for (text, n) in [
        ("75 guests", 75),
        ("75 people", 75),
        ("75 persons", 75),
        ("75 attendees", 75),
        ("75 kids", 75),
        ("75 children", 75),
        ("30 adults", 30),
        ("for 30 kids", 30),
        ("party of 20", 20),
        ("a party of about 20", 20),
        ("inviting 40", 40),
        ("we're inviting around 40", 40),
        ("guest count 60", 60),
        ("guest count is 60", 60),
        ("guest count: 60", 60),
        ("party size 12", 12),
        ("number of guests: 45", 45),
        ("expecting 100 people", 100),
        ("expecting 100", 100),
        ("about 50 guests", 50),
        ("1,200 guests", 1200),
        ("75guests", 75),
        ("30 little kids", 30),
        ("for 30", 30),
        ("party for about 30.", 30),
        ("jungle theme party for 75 guests", 75),
        ("princess castle theme party for 30 kids", 30),
        ("50-75 guests", 75),
        ("between 50 and 75 guests", 75),
        ("20 kids and 10 adults", 30),
        ("75 guests including 50 kids", 75),
    ] {
        assert_eq!(facts(text).guest_count, Some(n), "{text}");
        assert_eq!(parse_guest_count(text), Some(n), "{text}");
    }
}

#[test]
fn guest_count_cap_and_zero() {
    assert_eq!(facts("50,000 guests").guest_count, Some(MAX_GUESTS));
    assert_eq!(facts("99999999999999999999999 guests").guest_count, None);
    assert_eq!(facts("0 guests").guest_count, None);
    assert_eq!(facts("2.5 guests").guest_count, None);
}

#[test]
fn ages_are_not_guests() {
    for (text, age) in [
        ("for a 5 year old", 5),
        ("party for 5 year old", 5),
        ("for my 7-year-old", 7),
        ("for my 7 yr old", 7),
        ("for my 7yo", 7),
        ("turning 6", 6),
        ("he is turning 6 soon", 6),
        ("5th birthday", 5),
        ("his 21st birthday", 21),
        ("age 8", 8),
        ("for 9 years old", 9),
    ] {
        let f = facts(text);
        assert_eq!(f.guest_count, None, "{text}");
        assert_eq!(f.ages, vec![age], "{text}");
    }
    let f = facts("5th birthday for 12 kids, ages 5-8");
    assert_eq!(f.ages, vec![5, 8]);
    assert_eq!(f.guest_count, Some(12));
    assert_eq!(facts("kids ages 4 to 6").ages, vec![4, 6]);
    let f = facts("my son is turning 6 and we are inviting 20 kids");
    assert_eq!((f.ages, f.guest_count), (vec![6], Some(20)));
    assert_eq!(facts("party for 5 year old").guest_count, None);
    // A bare ordinal is a date, not anything else.
    let f = facts("party on the 5th for 30");
    assert_eq!((f.ages.len(), f.guest_count), (0, Some(30)));
    // Months are neither.
    let f = facts("party for 18 month old");
    assert_eq!((f.ages.len(), f.guest_count), (0, None));
}

#[test]
fn age_ranges_and_spellings() {
    assert_eq!(facts("party for 5-8 year olds").ages, vec![5, 8]);
    assert_eq!(facts("party for 5 to 8 year olds").guest_count, None);
    assert_eq!(facts("for my 5 y/o").ages, vec![5]);
    assert_eq!(facts("for my 5 y/o").guest_count, None);
    let f = facts("my son is turning 6 and 20 kids are coming");
    assert_eq!((f.ages, f.guest_count), (vec![6], Some(20)));
    let f = facts("guests are 5 to 8 years old");
    assert_eq!((f.ages, f.guest_count), (vec![5, 8], None));
    assert_eq!(facts("age: 130").ages, Vec::<u32>::new());
    assert_eq!(facts("for 200 year old vampires").guest_count, None);
}

#[test]
fn bare_for_ranges() {
    assert_eq!(facts("table for 20-25").guest_count, Some(25));
    assert_eq!(facts("for 20 to 25").guest_count, Some(25));
    assert_eq!(facts("for 30 to 40 kids").guest_count, Some(40));
}

#[test]
fn bare_for_exclusions() {
    for text in [
        "for 30 minutes",
        "for 3 hours",
        "for 2 days",
        "for 30 dollars",
        "for 30 bucks",
        "for 30 $",
        "for 30%",
        "for 5:30",
        "for 2024",
        "for 5pm",
        "for 30th birthday",
        "for 2k",
        "for $30",
    ] {
        assert_eq!(facts(text).guest_count, None, "{text}");
    }
}

#[test]
fn latest_statement_wins() {
    let f = facts_of(&["75 guests", "budget $2000", "actually 60 guests", "vegan"]);
    assert_eq!(f.guest_count, Some(60));
    assert_eq!(f.budget, Some(2000));
    let f = facts_of(&["budget $2000", "budget is now $1500", "30 kids"]);
    assert_eq!(f.budget, Some(1500));
    let f = facts_of(&["outdoor party", "at the hall", "more balloons"]);
    assert_eq!(f.setting.as_deref(), Some("hall"));
    let f = facts_of(&["turning 6", "for a 7 year old", "age 6"]);
    assert_eq!(f.ages, vec![6, 7]);
}

// ---- money ----

#[test]
fn money_formats() {
    for (text, n) in [
        ("budget around $2000", 2000),
        ("$2,000", 2000),
        ("2k", 2000),
        ("2K total", 2000),
        ("$2.5k", 2500),
        ("under 500 dollars", 500),
        ("500 usd", 500),
        ("500 bucks", 500),
        ("budget of 1500", 1500),
        ("our budget is roughly 1,500", 1500),
        ("budget: 1500", 1500),
        ("max $800", 800),
        ("up to $3000", 3000),
        ("$ 900", 900),
        ("900$", 900),
        ("$1,234,567", 1_234_567),
        ("$19.99", 20),
        ("2 grand", 2000),
        ("$3 thousand", 3000),
        ("$1,500-$2,000", 2000),
        ("$1500 - 2000", 2000),
        ("500 to 800 dollars", 800),
        ("between $1000 and $2000", 2000),
        ("$2-3k", 3000),
        ("we can spend up to 900", 900),
        ("a 2000 budget", 2000),
        ("outdoor venue preferred, budget around $2000", 2000),
    ] {
        assert_eq!(facts(text).budget, Some(n), "{text}");
        assert_eq!(parse_money(text), Some(n), "{text}");
    }
}

#[test]
fn not_money() {
    for text in [
        "$15 per person",
        "$15/person",
        "$200/hr",
        "$10 a head",
        "$12 each",
        "$15 pp",
        "max 40",
        "under 500",
        "budget for 30",
        "budget for 30 guests",
        "75 guests",
        "$0",
        "for a 5 year old",
    ] {
        assert_eq!(parse_money(text), None, "{text}");
        assert_eq!(facts(text).budget, None, "{text}");
    }
    let f = facts("budget of 1500 for 30");
    assert_eq!((f.budget, f.guest_count), (Some(1500), Some(30)));
    let f = facts("budget $2000 for 75 guests, catering $15 per person");
    assert_eq!(f.budget, Some(2000));
    assert_eq!(f.catering_budget, None);
    assert_eq!(f.guest_count, Some(75));
}

#[test]
fn money_is_routed_to_cake_catering_or_total() {
    let f = facts("cake under $60");
    assert_eq!((f.budget, f.cake_budget), (None, Some(60)));
    let f = facts("need cupcakes, max $80");
    assert_eq!((f.budget, f.cake_budget), (None, Some(80)));
    let f = facts("bakery quote $120");
    assert_eq!(f.cake_budget, Some(120));
    let f = facts("catering under $600");
    assert_eq!((f.budget, f.catering_budget), (None, Some(600)));
    let f = facts("food for everyone, around 700 dollars");
    assert_eq!((f.budget, f.catering_budget), (None, Some(700)));
    let f = facts("cake for the party under $100");
    assert_eq!((f.budget, f.cake_budget), (Some(100), None));
    let f = facts("total budget $3000 including the cake");
    assert_eq!((f.budget, f.cake_budget), (Some(3000), None));
    let f = facts("budget around $2000, cake under $100");
    assert_eq!((f.budget, f.cake_budget), (Some(2000), Some(100)));
    let f = facts("We have a budget of $1,500 total. Need pizza, under $300");
    assert_eq!((f.budget, f.catering_budget), (Some(1500), Some(300)));
    // A sentence that counts guests is about the party, unless an item
    // stands right next to the amount.
    let f = facts("Retirement lunch for about 30 people downtown, under $600");
    assert_eq!((f.budget, f.catering_budget), (Some(600), None));
    let f = facts("Need pizza for 30 kids, pizza under $300");
    assert_eq!((f.budget, f.catering_budget), (None, Some(300)));
    let f = facts("3 tier cake, red velvet, serves 40, around $150");
    assert_eq!((f.cake_budget, f.guest_count), (Some(150), Some(40)));
    let f = facts("cake and food under $300");
    assert_eq!(f.budget, Some(300));
    let f = facts_of(&["budget $2000", "chocolate cake, $60 max"]);
    assert_eq!((f.budget, f.cake_budget), (Some(2000), Some(60)));
    // A number followed by guests is never money, even in a budget input.
    let f = facts("budget $1500 for 40 people");
    assert_eq!((f.budget, f.guest_count), (Some(1500), Some(40)));
}

// ---- vocabulary facts ----

#[test]
fn dietary_synonyms() {
    for (text, d) in [
        ("vegan please", "vegan"),
        ("vegetarian options", "vegetarian"),
        ("gluten-free", "gluten-free"),
        ("gluten free", "gluten-free"),
        ("no gluten", "gluten-free"),
        ("one guest has celiac", "gluten-free"),
        ("dairy-free", "dairy-free"),
        ("dairy free", "dairy-free"),
        ("lactose free", "dairy-free"),
        ("no dairy", "dairy-free"),
        ("nut-free", "nut-free"),
        ("nut free", "nut-free"),
        ("no nuts", "nut-free"),
        ("peanut allergy", "nut-free"),
        ("a nut allergy", "nut-free"),
        ("halal", "halal"),
        ("kosher", "kosher"),
    ] {
        assert_eq!(facts(text).dietary, vec![d.to_owned()], "{text}");
    }
    let f = facts_of(&["vegan and gluten free", "no nuts, vegan", "Kosher"]);
    assert_eq!(f.dietary, ["vegan", "gluten-free", "nut-free", "kosher"]);
    assert!(facts("nutella glutenous").dietary.is_empty());
    assert!(facts("vegan food").cuisines.is_empty());
}

#[test]
fn settings() {
    assert_eq!(facts("outdoors please").setting.as_deref(), Some("outdoor"));
    assert_eq!(facts("Indoor").setting.as_deref(), Some("indoor"));
    assert_eq!(facts("at a park").setting.as_deref(), Some("park"));
    assert_eq!(facts("party at our house").setting.as_deref(), Some("home"));
    assert_eq!(facts("at home").setting.as_deref(), Some("home"));
    assert_eq!(facts("downtown").setting.as_deref(), Some("downtown"));
    // Precedence within one input: outdoor > indoor > park > hall > home > downtown.
    assert_eq!(
        facts("hall downtown or a park, outdoor").setting.as_deref(),
        Some("outdoor")
    );
    assert_eq!(facts("parking at the mall").setting, None);
    assert_eq!(facts("homemade").setting, None);
}

#[test]
fn cities() {
    let cities = vec![
        "springfield".to_owned(),
        "lake view".to_owned(),
        "".to_owned(),
    ];
    let f = extract_facts(&[input(0, "a party in Lake View")], &cities);
    assert_eq!(f.city.as_deref(), Some("lake view"));
    let f = extract_facts(&[input(0, "lakeview")], &cities);
    assert_eq!(f.city, None);
    let f = extract_facts(&[input(0, "lake, view")], &cities);
    assert_eq!(f.city, None);
    let f = extract_facts(
        &[input(0, "Springfield"), input(1, "no, lake view instead")],
        &cities,
    );
    assert_eq!(f.city.as_deref(), Some("lake view"));
    let f = extract_facts(&[input(0, "springfield or lake view")], &cities);
    assert_eq!(f.city.as_deref(), Some("springfield"));
    // One letter off a catalog city is that city; two words are not.
    let f = extract_facts(&[input(0, "sprinfield")], &cities);
    assert_eq!(f.city.as_deref(), Some("springfield"));
    let f = extract_facts(&[input(0, "spring fields")], &cities);
    assert_eq!(f.city, None);
    // Longest name at one position wins.
    let cities = vec!["lake".to_owned(), "lake view".to_owned()];
    let f = extract_facts(&[input(0, "lake view")], &cities);
    assert_eq!(f.city.as_deref(), Some("lake view"));
}

#[test]
fn flavors_cuisines_vendors() {
    let f = facts("Red velvet and chocolate cake, vanilla frosting, lemony");
    assert_eq!(f.flavors, ["red velvet", "chocolate", "vanilla"]);
    let f = facts("Mexican or BBQ, maybe barbecue or thai; vegan");
    assert_eq!(f.cuisines, ["mexican", "bbq", "thai"]);
    let f = facts("need a DJ, balloons, a photo booth and a bouncy house; also a magician");
    assert_eq!(
        f.vendor_categories,
        ["entertainment", "decorations", "photography", "rentals"]
    );
    let f = facts("tables and chairs, photographer, florist");
    assert_eq!(
        f.vendor_categories,
        ["rentals", "photography", "decorations"]
    );
}

// ---- robustness ----

#[test]
fn empty_and_unicode_inputs() {
    // An empty input states nothing; like any input it gets a theme.
    assert_eq!(
        facts(""),
        Facts {
            areas: vec![AgentName::Theme],
            ..Facts::default()
        }
    );
    assert_eq!(extract_facts(&[], &[]), Facts::default());
    let weird = "🎉🦖 T‑Rex party für 30 Kinder — ¡budget $２０００! İİİ ß ﬃ 🎂 cake 5️⃣ guests";
    let _ = classify(weird, &[weird.to_owned()]);
    let f = facts(weird);
    assert_eq!(f.guest_count, None);
    assert!(
        cats("🦖 t‑rex", &[]).contains(&Theme),
        "non-breaking hyphen joins"
    );
    let f = facts("🎉 party for 30 kids 🎂 budget $500 🎈");
    assert_eq!((f.guest_count, f.budget), (Some(30), Some(500)));
}

#[test]
fn very_long_input() {
    let long = "jungle theme party for 75 guests, budget around $2000. ".repeat(5_000);
    assert_eq!(cats(&long, &[]), vec![Theme, Budget, Guest]);
    let f = facts(&long);
    assert_eq!((f.guest_count, f.budget), (Some(75), Some(2000)));
    let digits = "9".repeat(100_000);
    let _ = classify(&digits, &[]);
    assert_eq!(facts(&format!("${digits}")).budget, None);
    assert_eq!(facts(&format!("{digits} guests")).guest_count, None);
    let commas = "1,000".repeat(10_000);
    let _ = facts(&commas);
}

#[test]
fn deterministic() {
    let text = "jungle party for 30 kids, vegan, $500 budget, DJ and balloons";
    assert_eq!(classify(text, &[]), classify(text, &[]));
    assert_eq!(facts(text), facts(text));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_strings(s in "\\PC*", tag in "\\PC{0,12}") {
        let out = classify(&s, &[tag]);
        proptest::prop_assert!(!out.is_empty());
        let _ = extract_facts(&[input(0, &s)], std::slice::from_ref(&s));
        let _ = parse_money(&s);
        let _ = parse_guest_count(&s);
    }

    #[test]
    fn never_panics_on_number_soup(s in "[0-9$,.kK :/%\\-a-z ]{0,64}") {
        let _ = classify(&s, &[]);
        let f = extract_facts(&[input(0, &s)], &[]);
        proptest::prop_assert!(f.guest_count.is_none_or(|g| (1..=MAX_GUESTS).contains(&g)));
        proptest::prop_assert!(f.ages.iter().all(|a| (1..=MAX_AGE).contains(a)));
    }
}

// ---- requests as people write them (the plan-quality issue's list) ----

#[test]
fn guests_as_people_write_them() {
    for (text, want) in [
        ("30 kids", Some(30)),
        ("25 children", Some(25)),
        ("50 people", Some(50)),
        ("party of 20", Some(20)),
        ("twelve kids", Some(12)),
        ("a dozen kids", Some(12)),
        ("~40 guests", Some(40)),
        ("about 25 kids", Some(25)),
        ("20-25 kids", Some(25)),
        ("15 kids, 20 adults", Some(35)),
        ("15 kids and 20 adults", Some(35)),
        ("18 kids and their parents, so roughly 45 people", Some(45)),
        ("guest list is 18", Some(18)),
        ("party for my 5 year old", None),
        ("a 4-year-old", None),
        ("she is turning 6", None),
        ("his 10th birthday", None),
        ("twins who are turning 8", None),
        ("one kid is gluten free", None),
        ("two guests are vegan", None),
        ("3 kids have nut allergies", None),
        ("20 kids are coming", Some(20)),
    ] {
        assert_eq!(facts(text).guest_count, want, "{text}");
    }
}

#[test]
fn budgets_as_people_write_them() {
    for (text, want) in [
        ("$500", Some(500)),
        ("$1,000", Some(1000)),
        ("1.5k", Some(1500)),
        ("2k", Some(2000)),
        ("budget 800", Some(800)),
        ("under $600", Some(600)),
        ("$300 total", Some(300)),
        ("budget around $2000", Some(2000)),
        ("between $500 and $800", Some(800)),
        ("a $60 cake", None),
    ] {
        assert_eq!(facts(text).budget, want, "{text}");
    }
    let f = facts("party for 20 kids, budget $500, and a $60 cake");
    assert_eq!((f.budget, f.cake_budget), (Some(500), Some(60)));
}

#[test]
fn themes_as_people_write_them() {
    for (text, want) in [
        ("unicorns", "unicorn"),
        ("princesses", "princess"),
        ("dinosaurs", "dinosaur"),
        ("dino", "dinosaur"),
        ("T-Rex", "dinosaur"),
        ("t rex", "dinosaur"),
        ("superheroes", "superhero"),
        ("mermaids", "ocean"),
        ("astronauts", "space"),
        ("she loves unicorns", "unicorn"),
        ("obsessed with dinosaurs", "dinosaur"),
        ("space-themed", "space"),
        (
            "jungle themed party for 20 kids with a dinosaur cake",
            "jungle",
        ),
    ] {
        assert_eq!(facts(text).theme.as_deref(), Some(want), "{text}");
    }
    assert!(facts("unicorn party").theme_explicit);
    assert!(!facts("a unicorn cake").theme_explicit);
    assert_eq!(facts("a party for 20").theme, None);
    assert_eq!(facts("art supplies for a party").theme, None);
}

#[test]
fn cities_settings_diets_and_dates() {
    let cities = [
        "hillcrest".to_owned(),
        "lakewood".to_owned(),
        "springfield".to_owned(),
    ];
    let city = |texts: &[&str]| {
        let inputs: Vec<Input> = texts.iter().enumerate().map(|(i, c)| input(i, c)).collect();
        let f = extract_facts(&inputs, &cities);
        (f.city, f.city_stated)
    };
    assert_eq!(
        city(&["we're in Springfield"]),
        (Some("springfield".into()), Some("Springfield".into()))
    );
    assert_eq!(city(&["Lakewood area"]).0.as_deref(), Some("lakewood"));
    assert_eq!(
        city(&["unicorn party", "about 20 kids", "Hillcrest"])
            .0
            .as_deref(),
        Some("hillcrest")
    );
    assert_eq!(
        city(&["party in San Jose"]),
        (None, Some("San Jose".into()))
    );
    assert_eq!(
        city(&["party in Bellingham for 10"]),
        (None, Some("Bellingham".into()))
    );
    assert_eq!(city(&["a party in March"]), (None, None));

    for (text, setting, preferred) in [
        ("outdoor venue", Some("outdoor"), false),
        ("in the backyard", Some("home"), false),
        ("at a park", Some("park"), false),
        ("outdoors", Some("outdoor"), false),
        ("indoor please", Some("indoor"), false),
        ("outdoor venue preferred", Some("outdoor"), true),
        ("ideally outdoors", Some("outdoor"), true),
        ("parking for 10 cars", None, false),
    ] {
        let f = facts(text);
        assert_eq!(
            (f.setting.as_deref(), f.setting_preferred),
            (setting, preferred),
            "{text}"
        );
    }
    for (text, diet) in [
        ("nut free", "nut-free"),
        ("no nuts", "nut-free"),
        ("GF", "gluten-free"),
        ("one kid is gluten free", "gluten-free"),
    ] {
        assert_eq!(facts(text).dietary, [diet], "{text}");
    }
    let f = facts("March 15th from 2-5 PM for 20 kids");
    assert_eq!(
        (f.date.as_deref(), f.time.as_deref(), f.guest_count),
        (Some("March 15"), Some("2–5 PM"), Some(20))
    );
    assert_eq!(
        facts("this Saturday").date.as_deref(),
        Some("this Saturday")
    );
}

#[test]
fn birthdays_plan_a_cake_unless_refused() {
    let f = facts("turning 6, 20 kids");
    assert!(f.birthday);
    assert!(f.areas.contains(&AgentName::Cake));
    let f = facts_of(&["bday party for 20 kids", "no cake, grandma is baking one"]);
    assert!(f.birthday && f.cake_declined);
    assert!(!f.areas.contains(&AgentName::Cake));
    let f = facts("graduation party for 40 people");
    assert!(!f.areas.contains(&AgentName::Cake));
    let f = facts("a cake with no nuts please");
    assert!(!f.cake_declined && f.areas.contains(&AgentName::Cake));
}

#[test]
fn the_latest_statement_wins_and_says_what_it_replaced() {
    let texts = ["dinosaur party for 30 kids", "actually make it 40 guests"];
    let f = facts_of(&texts);
    assert_eq!(f.guest_count, Some(40));
    let plan = plan_of(&texts);
    let g = &plan.get("guests").unwrap();
    assert_eq!(
        (g.input_id.as_str(), g.text.as_str()),
        ("inp_1", "40 guests")
    );
    let r = g.replaced.as_ref().expect("replaced");
    assert_eq!(
        (r.value.clone(), r.input_id.as_str(), r.text.as_str()),
        (serde_json::json!(30), "inp_0", "30 kids")
    );
    let (old, _) = f.provenance[&Fact::Guests]
        .replaced
        .clone()
        .expect("replaced");
    assert_eq!(old, FactValue::Number(30));
    assert_eq!(plan.get("guests").unwrap().value, serde_json::json!(40));
    assert_eq!(
        plan.get("guests")
            .unwrap()
            .replaced
            .as_ref()
            .map(|r| r.value.clone()),
        Some(serde_json::json!(30))
    );
    // Removing the input that stated it brings the earlier statement back.
    let f = facts_of(&["dinosaur party for 30 kids"]);
    assert_eq!(f.guest_count, Some(30));
}

#[test]
fn provenance_names_the_words() {
    let text = "My daughter Lily loves princesses. She is turning 6. We're planning a party in \
         San Jose for 35 guests (15 kids, 20 adults) with a budget of $1000.";
    let f = facts(text);
    let plan = plan_of(&[text]);
    let words = |k: &str| plan.get(k).unwrap().text.clone();
    assert_eq!(words("guests"), "35 guests (15 kids, 20 adults)");
    assert_eq!(words("theme"), "loves princesses");
    assert_eq!(words("city"), "in San Jose");
    assert_eq!(words("budget"), "budget of $1000");
    assert_eq!(f.theme.as_deref(), Some("princess"));
    assert_eq!(f.city_stated.as_deref(), Some("San Jose"));
    assert_eq!((f.guest_count, f.budget), (Some(35), Some(1000)));
}

#[test]
fn counts_in_a_sentence_add_up_unless_one_is_everyone() {
    for (text, want) in [
        ("my 3 kids plus 10 friends", Some(13)),
        ("4 grandparents, 3 aunts, 2 uncles and 5 cousins", Some(14)),
        ("11 kids from his class and his 2 best friends", Some(13)),
        ("about 20 children and 15 mums and dads", Some(35)),
        ("a couple dozen kids plus 6 teachers", Some(30)),
        ("2 dozen kids", Some(24)),
        ("about fifteen or so people", Some(15)),
        ("40ish people", Some(40)),
        (
            "22 of us in the team but 3 can't make it, so 19 people",
            Some(19),
        ),
        (
            "150 employees plus families, so call it 300 people",
            Some(300),
        ),
        ("8 toddlers and their moms, so 16 total", Some(16)),
        ("50 people including 20 kids", Some(50)),
        ("12 kids, maybe 14", Some(14)),
        (
            "the guest list is 70, maybe 75 if the cousins come",
            Some(75),
        ),
        ("15 of them", Some(15)),
        ("12 kids confirmed and maybe 3 more", Some(15)),
        ("20 boys from his team + 4 coaches", Some(24)),
        ("about 12 little ones", Some(12)),
    ] {
        assert_eq!(facts(text).guest_count, want, "{text}");
    }
}

#[test]
fn later_inputs_correct_part_of_a_count_or_the_last_number() {
    let f = facts_of(&["12 kids + 8 adults", "actually make it 10 adults"]);
    assert_eq!(f.guest_count, Some(22));
    let f = facts_of(&["guests: 14 kids", "and about 10 adults"]);
    assert_eq!(f.guest_count, Some(24));
    let f = facts_of(&["space party", "40 ppl", "wait no, 35"]);
    assert_eq!(f.guest_count, Some(35));
    assert_eq!(
        plan_of(&["space party", "40 ppl", "wait no, 35"])
            .get("guests")
            .unwrap()
            .text,
        "35"
    );
    let f = facts_of(&["pirate party. 25 guests.", "sorry, 28 not 25"]);
    assert_eq!(f.guest_count, Some(28));
    let f = facts_of(&["40 people", "budget 700", "actually 650"]);
    assert_eq!((f.guest_count, f.budget), (Some(40), Some(650)));
    let f = facts_of(&[
        "Roughly 18 people",
        "Budget is $900",
        "Update: a few more signed up, 23 now and the budget went up to $1,100",
    ]);
    assert_eq!((f.guest_count, f.budget), (Some(23), Some(1100)));
}

#[test]
fn cakes_cities_days_and_themes_people_correct() {
    let f = facts("his dad is picking up the cake from costco so no cake needed");
    assert!(f.cake_declined);
    let f = facts("we want cupcakes, not a big cake");
    assert!(!f.cake_declined && f.areas.contains(&AgentName::Cake));
    let f = facts_of(&["jungle party", "actually, make it dinosaur"]);
    assert_eq!(f.theme.as_deref(), Some("dinosaur"));
    assert_eq!(facts("royal tea party").theme.as_deref(), Some("princess"));
    assert_eq!(facts("he's football mad").theme.as_deref(), Some("sports"));
    assert_eq!(facts("looking for a space for a party of 30").theme, None);
    assert_eq!(
        facts("UNDER THE SEA!!! SAT!!!").date.as_deref(),
        Some("Saturday")
    );
    assert_eq!(
        facts("this sat, park").date.as_deref(),
        Some("this Saturday")
    );
    assert_eq!(facts("we sat down to plan").date, None);
    assert_eq!(facts("at home, tmrw").date.as_deref(), Some("tomorrow"));
    let city = |t: &str| facts(t).city_stated;
    assert_eq!(
        city("80s party in downtown Chicago").as_deref(),
        Some("Chicago")
    );
    assert_eq!(
        city("Batman party, 20 guests, Chicago, May 9th").as_deref(),
        Some("Chicago")
    );
    assert_eq!(city("my daughter Madison loves unicorns"), None);
    assert!(facts("galaxy themed sweet 16").birthday);
    assert!(facts("it's my own 35th").birthday);
    assert!(facts("for my daughters 5th").birthday);
    assert!(!facts("our 10th anniversary").birthday);
    assert!(!facts("a science party for my 10-year-old's class").birthday);
    assert!(facts("balloons for my 5 year old's party").birthday);
    assert!(facts("No cake please, I hate cake.").cake_declined);
    // A theme word first in a correcting text (no words before it).
    assert_eq!(
        facts("dinosaurs instead").theme.as_deref(),
        Some("dinosaur")
    );
    let f = facts_of(&["Jungle party", "Actually, he now wants dinosaurs instead"]);
    assert_eq!(f.theme.as_deref(), Some("dinosaur"));
    assert_eq!(facts("11 girls and 2 leaders").guest_count, Some(13));
}
