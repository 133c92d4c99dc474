//! Writes the seed corpus of the fuzz targets (`fuzz/corpus/<target>/`):
//! real request bodies (the README's examples and their near misses), real
//! inputs (the README's and SPEC's scenarios, number formats the analyzer
//! documents), and real encoded events (one per topic and agent, made by
//! running the wired [`partybus::App`] in memory on those inputs).
//!
//! Usage: `cargo run --example fuzz_seeds [-- DIR]` (default `fuzz/corpus`).
//! Rewrites only the files it names; other corpus files (crash inputs kept
//! as regressions, entries merged by `scripts/fuzz.sh --update-corpus`) stay.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use partybus::app::{NewInput, NewParty};
use partybus::domain::AgentName;
use partybus::event::{AgentFailed, Draft, ErrorType, Event, Payload};
use partybus::{App, Config};

/// `POST /party` and `POST …/input` bodies.
const BODIES: &[(&str, &str)] = &[
    ("create-empty", "{}"),
    (
        "create-readme-quickstart",
        r#"{"initial_inputs": [{"content": "jungle theme party for 75 guests"}]}"#,
    ),
    (
        "create-readme-jungle-bash",
        r#"{"party_id": "jungle-bash", "user_id": "ana", "initial_inputs": [{"content": "jungle theme party for 75 guests", "tags": ["theme"]}]}"#,
    ),
    (
        "create-three-inputs",
        r#"{"initial_inputs": [{"content": "jungle theme party for 75 guests"}, {"content": "need a chocolate cake with animal decorations"}, {"content": "outdoor venue preferred, budget around $2000"}]}"#,
    ),
    (
        "create-null-fields",
        r#"{"party_id": null, "user_id": null, "initial_inputs": null}"#,
    ),
    ("create-bad-party-id", r#"{"party_id": "a b"}"#),
    (
        "create-inputs-not-array",
        r#"{"initial_inputs": {"content": "a"}}"#,
    ),
    (
        "create-bad-source-type",
        r#"{"initial_inputs": [{"content": "a"}, {"content": "b", "source_type": "video"}]}"#,
    ),
    (
        "create-duplicate-input-ids",
        r#"{"initial_inputs": [{"content": "a", "input_id": "x"}, {"content": "b", "input_id": "x"}]}"#,
    ),
    ("create-user-control-char", "{\"user_id\": \"ann\\u0007\"}"),
    (
        "create-unicode",
        r#"{"party_id": "fête_2026", "user_id": "Zoë 🎉", "initial_inputs": [{"content": "🦖 T‑Rex party für 30 Kinder — ¡budget $２０００!"}]}"#,
    ),
    (
        "input-readme-cake",
        r#"{"content": "chocolate cake with animal decorations, budget around $2000", "input_id": "cake-1", "tags": ["cake"]}"#,
    ),
    (
        "input-readme-video",
        r#"{"content": "a video", "source_type": "video"}"#,
    ),
    (
        "input-readme-balloons",
        r#"{"content": "lots of balloons"}"#,
    ),
    (
        "input-all-fields",
        r#"{"content": "outdoor venue in Austin", "source_type": "url", "tags": ["venue", "austin"], "metadata": {"k": 1, "nested": {"a": [1, 2.5, null, true]}}, "image_url": "http://example.com/a.png", "input_id": "inp-1"}"#,
    ),
    ("input-content-number", r#"{"content": 1}"#),
    (
        "input-tag-not-string",
        r#"{"content": "x", "tags": ["a", 2]}"#,
    ),
    (
        "input-metadata-array",
        r#"{"content": "x", "metadata": []}"#,
    ),
    (
        "input-escapes",
        r#"{"content": "line\nbreak \"quoted\" \u00e9 \ud83c\udf89", "tags": ["\t"]}"#,
    ),
    (
        "input-duplicate-keys",
        r#"{"content": "a", "content": "b"}"#,
    ),
    ("not-an-object", r#""text""#),
    ("array", "[1, 2, 3]"),
    ("truncated", r#"{"content": "jungle"#),
    (
        "deep",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ),
];

/// Inputs as users type them; a NUL separates tags, a newline inputs.
const TEXTS: &[(&str, &str)] = &[
    ("jungle", "jungle theme party for 75 guests"),
    (
        "jungle-cake",
        "need a chocolate cake with animal decorations",
    ),
    (
        "jungle-outdoor",
        "outdoor venue preferred, budget around $2000",
    ),
    ("princess", "princess castle theme party for 30 kids"),
    ("princess-cake", "pink vanilla cake with crown topper"),
    ("space", "space and astronaut theme party for 50 people"),
    ("space-cake", "galaxy-themed cake with planet decorations"),
    (
        "readme-cake-budget",
        "chocolate cake with animal decorations, budget around $2000",
    ),
    ("tacos", "tacos and burritos for 30"),
    ("dj", "a dj and balloons"),
    ("austin", "outdoor venue in Austin"),
    ("ages-not-guests", "party for a 5 year old"),
    ("ages-range", "party for 5 to 8 year olds"),
    ("age-ordinal", "his 7th birthday, turning 7"),
    ("two-k", "2k budget, 40 guests"),
    ("grand", "spend up to 3 grand on everything"),
    ("money-range", "$1,500-$2,500 total"),
    ("per-unit", "catering at $15 per person for 60"),
    ("cake-budget", "cake under $60, food budget 400 dollars"),
    ("kids-adults", "20 kids and 15 adults"),
    ("party-of", "party of 20, guest count 60"),
    ("capped", "50,000 guests"),
    (
        "huge",
        "99999999999999999999999 guests and $99999999999999999999",
    ),
    ("decimal", "2.5k and $2.50 and 1,200.75 dollars"),
    (
        "dietary",
        "vegan, gluten-free and nut free please, halal meat",
    ),
    (
        "unicode",
        "🎉🦖 T‑Rex party für 30 Kinder — ¡budget $２０００! İİİ ß ﬃ 🎂 cake 5️⃣ guests",
    ),
    ("with-tags", "dinosaur party\u{0}theme\u{0}cake"),
    (
        "several-lines",
        "jungle theme party for 75 guests\nactually 120 guests\nbudget $3000\nvegan cake",
    ),
    ("empty", ""),
    (
        "number-soup",
        "1,000,000.5.5 $$ 5k-10k 3-4-5 for 20-25 :30 10% 2pm",
    ),
    (
        "long-paragraph",
        "Hi! We're planning a surprise jungle safari party for my son's 6th birthday \
         (he's turning 6 on the 15th). Expecting about 40 kids and 25 adults, maybe 70 people \
         in total, so a venue for 60-80 guests. Outdoor would be great, a park in Austin or a \
         hall downtown if it rains. Budget: around $2,500 overall, but no more than 3k. For the \
         cake, chocolate or red velvet, nut-free and gluten-free please, under $150, serves 70. \
         Food: tacos, pizza and a BBQ buffet, vegetarian and halal options, $15 per person, \
         about $1,200 for catering. We'd love a DJ, balloons, a photographer ($200/hr for 2 \
         hours) and table rentals. Party of 70 on Saturday at 2pm, 2024. Thanks!",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".to_string());
    let dir = Path::new(&dir);
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(name), bytes)
    };
    for (name, body) in BODIES {
        write("request_body", &format!("{name}.json"), body.as_bytes())?;
    }
    for (name, text) in TEXTS {
        write("classify_input", &format!("{name}.txt"), text.as_bytes())?;
    }
    let events = real_events()?;
    for (name, ev) in &events {
        write(
            "event_decode",
            &format!("{name}.json"),
            &serde_json::to_vec(ev)?,
        )?;
    }
    println!(
        "wrote {} bodies, {} texts, {} events under {}",
        BODIES.len(),
        TEXTS.len(),
        events.len(),
        dir.display()
    );
    Ok(())
}

/// One event per distinct (topic, agent), from real parties.
fn real_events() -> Result<BTreeMap<String, Arc<Event>>, Box<dyn std::error::Error>> {
    let app = App::start_new(Config::default())?;
    let wait = Duration::from_secs(30);
    let mut all: Vec<Arc<Event>> = Vec::new();
    let scenarios: [&[&str]; 3] = [
        &[
            "jungle theme party for 75 guests",
            "need a chocolate cake with animal decorations",
            "outdoor venue preferred, budget around $2000",
        ],
        &[
            "tacos and burritos for dinner for 30 guests, vegan",
            "a dj and balloons",
            "outdoor venue in Austin, budget $5,000",
        ],
        &["princess castle theme party for 30 kids"],
    ];
    for (i, texts) in scenarios.iter().enumerate() {
        let id = format!("seed{i}");
        let ack = app.create_party(
            NewParty {
                party_id: Some(id.clone()),
                user_id: Some("ana".into()),
                initial_inputs: texts
                    .iter()
                    .map(|t| NewInput {
                        content: t.to_string(),
                        tags: vec!["seed".into()],
                        ..NewInput::default()
                    })
                    .collect(),
                token_sha256: Some("ab".repeat(32)),
            },
            None,
        )?;
        if !app.wait_settled(&id, ack.seq, wait) {
            return Err(format!("{id} did not settle").into());
        }
        let removed = app.remove_input(&id, &ack.input_ids[0], None, None)?;
        if !app.wait_settled(&id, removed.seq, wait) {
            return Err(format!("{id} did not settle after a removal").into());
        }
        app.rotate_token(&id, "cd".repeat(32), None)?;
        app.delete_party(&id, None, None)?;
        all.extend(app.events(&id, 0, 10_000)?);
    }
    let failed = Draft::command(
        "seed0",
        "corr_seed",
        Payload::AgentFailed(AgentFailed {
            agent_name: AgentName::Venue,
            execution_id: "exec_000000000001".into(),
            error: "agent exceeded its deadline of 5000 ms".into(),
            error_type: ErrorType::Timeout,
            retry_count: 0,
        }),
    );
    all.push(Arc::new(
        failed.stamp(999_999, "2026-01-01T00:00:00.000000Z".into()),
    ));
    let mut out = BTreeMap::new();
    for ev in all {
        let mut name = ev.topic().as_str().to_string();
        if let Some(agent) = ev.payload.agent() {
            name = format!("{name}-{}", agent.short());
        }
        if let Payload::AgentShouldExecute(p) = &ev.payload {
            name = format!("{name}-{:?}", p.execution_type).to_lowercase();
        }
        out.entry(name).or_insert(ev);
    }
    Ok(out)
}
