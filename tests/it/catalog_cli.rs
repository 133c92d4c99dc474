//! `partybus catalog import` and `partybus catalog check`, run as the built
//! binary: the shipped example imports to JSON that `check` accepts and that
//! `serve --catalog` starts and plans with; broken files exit 1 naming the
//! row and the column; usage errors exit 2. Waits are the plan's WebSocket
//! events, with the harness's deadline.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{self, Served, TempDir, API};

/// The example shipped in the repository.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/suppliers.csv")
}

fn run(args: &[&str]) -> Output {
    util::bin_command(&[&["catalog"], args].concat(), &[])
        .output()
        .expect("run partybus catalog")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// The example's summary line.
const EXAMPLE_COUNTS: &str = "16 suppliers: 4 venues, 3 bakeries, 3 caterers, 6 vendors \
     (decorations 1, entertainment 2, photography 1, planning 1, rentals 1)";

#[test]
fn the_example_imports_checks_and_serves_a_plan_with_its_suppliers() {
    let dir = TempDir::new("catalog-import");
    let out_file = dir.0.join("catalog.json");
    let csv = example();

    let out = run(&["import", path(&csv), "-o", path(&out_file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "-o: nothing on stdout");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(EXAMPLE_COUNTS), "{stderr}");
    let written = std::fs::read_to_string(&out_file).expect("catalog written");
    let catalog: Value = serde_json::from_str(&written).expect("JSON");
    let names = |collection: &str| -> Vec<String> {
        catalog[collection]
            .as_array()
            .expect("a collection")
            .iter()
            .map(|r| r["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(
        names("venues"),
        [
            "Willow Creek Barn",
            "Stardust Planetarium Hall",
            "Lakeside Pavilion",
            "The Castle Room at Hotel Marigold"
        ]
    );
    assert_eq!(catalog["venues"][3]["daily_price"], 1800, "\"1,800\"");
    assert_eq!(
        catalog["caterers"][0]["menu_items"][1], "mac and cheese, family tray",
        "a comma inside a quoted list item"
    );

    // Without -o the same JSON goes to stdout.
    let out = run(&["import", path(&csv)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), written);

    // `check` accepts both the CSV and the JSON made from it.
    for file in [path(&out_file), path(&csv)] {
        let out = run(&["check", file]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim(),
            format!("{file}: ok, {EXAMPLE_COUNTS}")
        );
    }

    // The server starts with it and plans with its suppliers only.
    let served = Served::start(
        &["--port", "0", "--catalog", path(&out_file)],
        &[("PARTYBUS_EPHEMERAL", "true")],
    );
    let plan = plan(&served, "space party for 50 kids in Brookside");
    let venues = plan["agents"]["venue_agent"]["result"]["recommended_venues"]
        .as_array()
        .unwrap_or_else(|| panic!("no venues: {plan}"))
        .clone();
    assert_eq!(
        venues[0]["name"], "Stardust Planetarium Hall",
        "the one space venue seating 50 comes first: {venues:?}"
    );
    let caterers = plan["agents"]["catering_agent"]["result"]["recommended_caterers"]
        .as_array()
        .unwrap_or_else(|| panic!("no caterers: {plan}"))
        .clone();
    let imported = names("caterers");
    assert!(!caterers.is_empty());
    for c in &caterers {
        let name = c["name"].as_str().expect("name");
        assert!(imported.iter().any(|n| n == name), "{name} is not imported");
    }
    let steps = plan["final_plan"].to_string();
    assert!(steps.contains("Stardust Planetarium Hall"), "{steps}");
}

/// Creates a party from `request` on `served` and returns its state once
/// the plan is made, waiting on the party's WebSocket stream.
fn plan(served: &Served, request: &str) -> Value {
    let (party, token, seq) = util::plan_on(served, request);
    let seq = seq.to_string();
    let bearer = format!("Bearer {token}");
    let r = util::request(
        served.addr,
        "GET",
        &format!("{API}/party/{party}/status"),
        // Read the state with that event applied.
        &[("Authorization", &bearer), ("X-Partybus-After", &seq)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let status = r.json()["party"].clone();
    assert_eq!(status["status"], "ready", "{status}");
    assert!(status["final_plan"].is_object(), "{status}");
    status
}

#[test]
fn a_broken_csv_exits_1_naming_rows_and_columns_and_writes_nothing() {
    let dir = TempDir::new("catalog-broken");
    let csv = dir.0.join("suppliers.csv");
    std::fs::write(
        &csv,
        "\u{feff}Kind;Name;City;Capacity;Daily price;Themes\n\
         venue;Barn;Brookside;a hundred;650;farm\n\
         venue;Hall;Brookside;80;650;\"jungle, farm\"\n\
         florist;Rosa;Brookside;;;\n",
    )
    .expect("write csv");
    let out_file = dir.0.join("catalog.json");
    let out = run(&["import", path(&csv), "-o", path(&out_file)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let name = path(&csv);
    for line in [
        format!(r#"{name}:2: column "Capacity": "a hundred" is not a whole number"#),
        format!(
            r#"{name}:3: column "Themes": "jungle, farm": separate the items with ";" or "|", not commas"#
        ),
        format!(r#"{name}:4: column "Kind": "florist" is not a kind"#),
        format!("partybus: error: {name}: 3 errors; nothing written"),
    ] {
        assert!(stderr.contains(&line), "missing {line:?} in\n{stderr}");
    }
    assert!(!out_file.exists(), "nothing written on error");
    assert!(out.stdout.is_empty());

    let out = run(&["check", path(&csv)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(r#":2: column "Capacity""#));
}

#[test]
fn a_broken_catalog_json_is_checked_record_by_record() {
    let dir = TempDir::new("catalog-json");
    let file = dir.0.join("catalog.json");
    let mut v: Value =
        serde_json::from_str(partybus::catalog::DEFAULT_CATALOG_JSON).expect("embedded");
    v["venues"][3]["capacity"] = 0.into();
    v["bakeries"][0]["price_range"]["small"] = 999.into();
    std::fs::write(&file, v.to_string()).expect("write");
    let out = run(&["check", path(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(r#"venues[3] (id 4, "Community Center Hall"): capacity must be > 0"#),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"bakeries[0] (id 1, "Sweet Dreams Bakery"): price_range must ascend"#),
        "{stderr}"
    );
    // `import` refuses JSON rather than reading it as a CSV.
    let out = run(&["import", path(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is catalog JSON already"));
}

#[test]
fn usage_errors_exit_2() {
    let csv = example();
    for args in [
        vec!["import"],
        vec!["import", path(&csv), "--delimiter", "ab"],
        vec!["import", path(&csv), "--kind", "florist"],
        vec!["check"],
    ] {
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&["import", "/nonexistent/suppliers.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/suppliers.csv"));
}
