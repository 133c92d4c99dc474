//! Suppliers from a spreadsheet: turns a CSV export (one row per supplier, a
//! `kind` column saying which collection it joins) into a validated
//! [`Catalog`], and checks a CSV or a catalog JSON file, collecting every
//! problem (up to [`MAX_PROBLEMS`]) located as a person sees it in their
//! spreadsheet: `suppliers.csv:14: column "capacity": "a hundred" is not a
//! whole number` (the header is row 1).
//!
//! Owns the CSV format (docs/catalog.md): header names and their aliases,
//! list, number and yes/no syntax, defaults of optional columns, id
//! assignment and delimiter detection. Must not change the catalog's JSON
//! format or its rules: every record it builds goes through the catalog's own
//! validation, and an imported catalog is the result of loading its own JSON
//! text with [`Catalog::from_json`] (what `serve --catalog` runs), so it is
//! guaranteed to load. Does no I/O: callers hand it bytes and print what it
//! returns.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{
    describe_record_error, record_label, validate_bakery, validate_caterer, validate_vendor,
    validate_venue, Bakery, Catalog, CatalogError, Caterer, PriceRange, Record, Vendor, Venue,
    COLLECTIONS,
};

/// Problems reported per file; the rest are counted, not listed. A file with
/// this many is wrong in a way the first ones already show (a shifted column,
/// the wrong delimiter), and a screenful is what a person reads.
pub const MAX_PROBLEMS: usize = 50;

/// Largest file read, bytes. A business's supplier list is a few hundred
/// rows (kilobytes); the catalog is held in memory by every server.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Separators of items inside a list cell (`;` or `|`: commas are common
/// inside the items themselves, e.g. "mac and cheese, large tray").
pub const LIST_SEPARATORS: [char; 2] = [';', '|'];

/// Delimiters detected from the header line when none is given: a comma,
/// Excel's `;` (locales with a decimal comma) and tab.
pub const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Vendor categories an import accepts: the ones the vendor agent searches
/// ([`super::VENDOR_CATEGORIES`]) plus `planning`, which the embedded
/// catalog also carries.
pub const CATEGORIES: [&str; 5] = [
    "decorations",
    "entertainment",
    "photography",
    "rentals",
    "planning",
];

/// Which collection a row joins: the `kind` column (or `--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A venue (`venues`).
    Venue,
    /// A bakery (`bakeries`).
    Bakery,
    /// A caterer (`caterers`).
    Caterer,
    /// A vendor (`vendors`), with its category when the kind names one
    /// (`decorator`, `photography`, ...); `vendor` alone leaves it to the
    /// `category` column.
    Vendor(Option<&'static str>),
}

/// What the `kind` column accepts, for error messages.
const KIND_WORDS: &str =
    "venue, bakery, caterer, vendor, decorations, entertainment, photography, rentals, planning";

impl Kind {
    /// Parses a kind as people write it: `venue`, `Bakery`, `cakes`,
    /// `catering`, `vendor`, or a vendor category or its trade
    /// (`decorator`, `entertainer`, `photographer`, `rental`, `planner`).
    pub fn parse(text: &str) -> Option<Kind> {
        let word = normalize(text);
        Some(match word.as_str() {
            "venue" | "venues" => Kind::Venue,
            "bakery" | "bakeries" | "baker" | "cake" | "cakes" => Kind::Bakery,
            "caterer" | "caterers" | "catering" => Kind::Caterer,
            "vendor" | "vendors" => Kind::Vendor(None),
            _ => Kind::Vendor(Some(category(&word)?)),
        })
    }

    fn collection(self) -> Collection {
        match self {
            Kind::Venue => Collection::Venues,
            Kind::Bakery => Collection::Bakeries,
            Kind::Caterer => Collection::Caterers,
            Kind::Vendor(_) => Collection::Vendors,
        }
    }

    /// "a venue", for messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::Venue => "a venue",
            Kind::Bakery => "a bakery",
            Kind::Caterer => "a caterer",
            Kind::Vendor(_) => "a vendor",
        }
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::parse(s).ok_or_else(|| format!("{s:?} is not a kind ({KIND_WORDS})"))
    }
}

/// A vendor category from its name or its trade (`decorator`).
fn category(word: &str) -> Option<&'static str> {
    Some(match normalize(word).as_str() {
        "decorations" | "decoration" | "decor" | "decorator" | "decorators" => "decorations",
        "entertainment" | "entertainer" | "entertainers" => "entertainment",
        "photography" | "photographer" | "photographers" | "photo" | "photos" => "photography",
        "rentals" | "rental" => "rentals",
        "planning" | "planner" | "planners" => "planning",
        _ => return None,
    })
}

/// How to read a CSV file.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// The field delimiter; `None` detects it from the header line
    /// (the most frequent of [`DELIMITERS`], else a comma).
    pub delimiter: Option<u8>,
    /// The kind of rows whose `kind` cell is empty, or of every row when
    /// the file has no `kind` column.
    pub kind: Option<Kind>,
}

/// One thing wrong (or suspicious) in a file, located as its author sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The spreadsheet row (the header is row 1); `None` for the whole file
    /// (and for catalog JSON, whose messages name the record instead).
    pub row: Option<usize>,
    /// The column as the header spells it (or its catalog name when the
    /// file has no such column).
    pub column: Option<String>,
    /// What is wrong, e.g. `"a hundred" is not a whole number`.
    pub message: String,
}

impl Problem {
    fn file(message: impl Into<String>) -> Problem {
        Problem {
            row: None,
            column: None,
            message: message.into(),
        }
    }

    /// The problem prefixed with the file's name, the way compilers do:
    /// `suppliers.csv:14: column "capacity": "a hundred" is not a whole number`.
    pub fn in_file<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        InFile {
            file,
            problem: self,
        }
    }
}

struct InFile<'a> {
    file: &'a str,
    problem: &'a Problem,
}

impl fmt::Display for InFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(row) = self.problem.row {
            write!(f, ":{row}")?;
        }
        if let Some(column) = &self.problem.column {
            write!(f, ": column {column:?}")?;
        }
        write!(f, ": {}", self.problem.message)
    }
}

/// A catalog read from a file, valid, and what looked odd on the way.
#[derive(Debug)]
pub struct Imported {
    /// The catalog, loaded from its own JSON text ([`to_json`]).
    pub catalog: Catalog,
    /// Things ignored (unknown columns, extra empty cells); not errors.
    pub warnings: Vec<Problem>,
}

/// Why a file is not a valid catalog: every problem found, up to
/// [`MAX_PROBLEMS`].
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s)", self.errors.len() + self.omitted)]
pub struct ImportError {
    /// The first [`MAX_PROBLEMS`] errors, in file order.
    pub errors: Vec<Problem>,
    /// Errors found beyond those.
    pub omitted: usize,
    /// Warnings found on the way (see [`Imported::warnings`]).
    pub warnings: Vec<Problem>,
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A supplier spreadsheet export.
    Csv,
    /// A catalog JSON file (the format of `data/catalog.json`).
    Json,
}

/// Tells a catalog JSON file from a CSV: by the name's extension, else by
/// the content (JSON starts with `{`).
pub fn detect_format(name: &str, bytes: &[u8]) -> Format {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        return Format::Json;
    }
    if [".csv", ".tsv", ".txt"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return Format::Csv;
    }
    match strip_bom(bytes).iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Format::Json,
        _ => Format::Csv,
    }
}

/// Checks a file of either format (see [`detect_format`]).
pub fn check(name: &str, bytes: &[u8], options: &CsvOptions) -> Result<Imported, ImportError> {
    match detect_format(name, bytes) {
        Format::Csv => import_csv(bytes, options),
        Format::Json => check_json(bytes),
    }
}

/// The catalog as pretty-printed JSON, in the catalog file's format.
pub fn to_json(catalog: &Catalog) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        venues: &'a [Arc<Venue>],
        bakeries: &'a [Arc<Bakery>],
        caterers: &'a [Arc<Caterer>],
        vendors: &'a [Arc<Vendor>],
    }
    let file = File {
        venues: &catalog.venues,
        bakeries: &catalog.bakeries,
        caterers: &catalog.caterers,
        vendors: &catalog.vendors,
    };
    // Plain records of strings, numbers and finite floats always serialise.
    serde_json::to_string_pretty(&file).expect("catalog records serialise to JSON")
}

/// One line of counts: `16 suppliers: 4 venues, 3 bakeries, 3 caterers,
/// 6 vendors (decorations 2, entertainment 2, photography 1, rentals 1)`.
pub fn summary(catalog: &Catalog) -> String {
    let counts = [
        (catalog.venues.len(), "venue", "venues"),
        (catalog.bakeries.len(), "bakery", "bakeries"),
        (catalog.caterers.len(), "caterer", "caterers"),
        (catalog.vendors.len(), "vendor", "vendors"),
    ];
    let total: usize = counts.iter().map(|c| c.0).sum();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!(
        "{}: {}",
        plural(total, "supplier", "suppliers"),
        counts
            .iter()
            .map(|&(n, one, many)| plural(n, one, many))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &catalog.vendors {
        *categories.entry(v.category.as_str()).or_default() += 1;
    }
    if !categories.is_empty() {
        let parts: Vec<String> = categories.iter().map(|(c, n)| format!("{c} {n}")).collect();
        line.push_str(&format!(" ({})", parts.join(", ")));
    }
    line
}

/// Collects problems, listing the first [`MAX_PROBLEMS`].
#[derive(Debug, Default)]
struct Problems {
    errors: Vec<Problem>,
    omitted: usize,
    warnings: Vec<Problem>,
}

impl Problems {
    fn error(&mut self, problem: Problem) {
        if self.errors.len() < MAX_PROBLEMS {
            self.errors.push(problem);
        } else {
            self.omitted += 1;
        }
    }

    fn warn(&mut self, problem: Problem) {
        if self.warnings.len() < MAX_PROBLEMS {
            self.warnings.push(problem);
        }
    }

    fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.omitted == 0
    }

    fn into_error(self) -> ImportError {
        ImportError {
            errors: self.errors,
            omitted: self.omitted,
            warnings: self.warnings,
        }
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Lowercase, with every run of other characters than letters and digits
/// turned into one `_`, trimmed: `Price per person ($)` → `price_per_person`.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

// ---------------------------------------------------------------------------
// Catalog JSON

/// Checks catalog JSON, reporting every bad record rather than the first.
/// What it accepts is exactly what [`Catalog::from_json`] accepts; its
/// messages are the loader's (`venues[3] (id 4, "Hall"): capacity must be > 0`).
pub fn check_json(bytes: &[u8]) -> Result<Imported, ImportError> {
    let mut problems = Problems::default();
    if bytes.len() > MAX_INPUT_BYTES {
        problems.error(too_big(bytes.len()));
        return Err(problems.into_error());
    }
    let Ok(text) = std::str::from_utf8(strip_bom(bytes)) else {
        problems.error(Problem::file("not UTF-8 text"));
        return Err(problems.into_error());
    };
    match Catalog::from_json(text) {
        Ok(catalog) => Ok(Imported {
            catalog,
            warnings: Vec::new(),
        }),
        Err(first) => {
            every_json_problem(text, &mut problems);
            if problems.is_clean() {
                // The loader's own word, should the walk above miss a rule.
                problems.error(Problem::file(loader_message(first)));
            }
            Err(problems.into_error())
        }
    }
}

fn loader_message(err: CatalogError) -> String {
    match err {
        CatalogError::Invalid(msg) => msg,
        other => other.to_string(),
    }
}

/// Every record the loader would reject, in file order. A file whose shape
/// is wrong (not an object, a collection missing or not an array) gets the
/// loader's one message: nothing below it can be read.
fn every_json_problem(text: &str, problems: &mut Problems) {
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let shape_ok = root.keys().all(|k| COLLECTIONS.contains(&k.as_str()))
        && COLLECTIONS
            .iter()
            .all(|c| root.get(*c).is_some_and(Value::is_array));
    if !shape_ok {
        return;
    }
    let items = |key: &str| root[key].as_array().map_or(&[][..], Vec::as_slice);
    json_records::<Venue>("venues", items("venues"), validate_venue, problems);
    json_records::<Bakery>("bakeries", items("bakeries"), validate_bakery, problems);
    json_records::<Caterer>("caterers", items("caterers"), validate_caterer, problems);
    json_records::<Vendor>("vendors", items("vendors"), validate_vendor, problems);
}

fn json_records<T: DeserializeOwned + Record>(
    collection: &str,
    items: &[Value],
    validate: fn(&T) -> Result<(), String>,
    problems: &mut Problems,
) {
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let id = item.get("id").and_then(Value::as_u64);
        let name = item.get("name").and_then(Value::as_str);
        let label = record_label(collection, index, id, name);
        match T::deserialize(item) {
            Err(err) => {
                let detail = describe_record_error::<T>(item, &err);
                problems.error(Problem::file(format!("{label}: {detail}")));
            }
            Ok(record) => {
                if let Some(first) = seen.insert(record.id(), index) {
                    problems.error(Problem::file(format!(
                        "{label}: id {} is already used by {collection}[{first}]",
                        record.id()
                    )));
                }
                if let Err(problem) = validate(&record) {
                    problems.error(Problem::file(format!("{label}: {problem}")));
                }
            }
        }
    }
}

fn too_big(len: usize) -> Problem {
    Problem::file(format!(
        "the file is {len} bytes; the most a catalog file may be is {MAX_INPUT_BYTES}"
    ))
}

// ---------------------------------------------------------------------------
// CSV

/// The catalog collections, as a bit set of which ones a column applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    Venues = 1,
    Bakeries = 2,
    Caterers = 4,
    Vendors = 8,
}

const VENUES: u8 = Collection::Venues as u8;
const BAKERIES: u8 = Collection::Bakeries as u8;
const CATERERS: u8 = Collection::Caterers as u8;
const VENDORS: u8 = Collection::Vendors as u8;
const ALL: u8 = VENUES | BAKERIES | CATERERS | VENDORS;

/// A column of the CSV format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    Kind,
    Id,
    Name,
    City,
    Contact,
    Rating,
    Description,
    Themes,
    VenueType,
    Address,
    Capacity,
    Amenities,
    DailyPrice,
    HourlyPrice,
    Images,
    Outdoor,
    Specialties,
    PriceSmall,
    PriceMedium,
    PriceLarge,
    CustomDesigns,
    DietaryOptions,
    CuisineTypes,
    MenuItems,
    PricePerPerson,
    MinGuests,
    MaxGuests,
    Category,
    Services,
    AvgPrice,
    ReviewCount,
}

/// A column: its name (the JSON field's, normalised), other obvious names
/// for it, and the collections it applies to.
struct Column {
    field: Field,
    name: &'static str,
    aliases: &'static [&'static str],
    applies_to: u8,
}

/// The CSV format's columns (docs/catalog.md lists them per kind).
const COLUMNS: &[Column] = &[
    col(
        Field::Kind,
        "kind",
        &["supplier_kind", "supplier_type"],
        ALL,
    ),
    col(Field::Id, "id", &[], ALL),
    col(Field::Name, "name", &["supplier", "supplier_name"], ALL),
    col(Field::City, "city", &["town"], ALL),
    col(
        Field::Contact,
        "contact",
        &["phone", "email", "e_mail"],
        ALL,
    ),
    col(Field::Rating, "rating", &["stars"], ALL),
    col(Field::Description, "description", &["notes", "about"], ALL),
    col(Field::Themes, "themes", &["theme"], ALL),
    col(Field::VenueType, "type", &["venue_type"], VENUES),
    col(Field::Address, "address", &["street_address"], VENUES),
    col(
        Field::Capacity,
        "capacity",
        &["max_capacity", "seats"],
        VENUES,
    ),
    col(Field::Amenities, "amenities", &["amenity"], VENUES),
    col(
        Field::DailyPrice,
        "daily_price",
        &["price_per_day", "day_rate", "daily_rate"],
        VENUES,
    ),
    col(
        Field::HourlyPrice,
        "hourly_price",
        &["price_per_hour", "hourly_rate"],
        VENUES,
    ),
    col(
        Field::Images,
        "images",
        &[
            "image",
            "portfolio_images",
            "portfolio",
            "photo_urls",
            "image_urls",
        ],
        VENUES | BAKERIES | VENDORS,
    ),
    col(Field::Outdoor, "outdoor", &["outdoors"], VENUES),
    col(
        Field::Specialties,
        "specialties",
        &["specialities", "specialty"],
        BAKERIES,
    ),
    col(
        Field::PriceSmall,
        "price_small",
        &["small", "small_price", "price_range_small", "small_cake"],
        BAKERIES,
    ),
    col(
        Field::PriceMedium,
        "price_medium",
        &[
            "medium",
            "medium_price",
            "price_range_medium",
            "medium_cake",
        ],
        BAKERIES,
    ),
    col(
        Field::PriceLarge,
        "price_large",
        &["large", "large_price", "price_range_large", "large_cake"],
        BAKERIES,
    ),
    col(
        Field::CustomDesigns,
        "custom_designs",
        &["custom_design", "custom"],
        BAKERIES,
    ),
    col(
        Field::DietaryOptions,
        "dietary_options",
        &["dietary", "diets", "dietary_option"],
        BAKERIES | CATERERS,
    ),
    col(
        Field::CuisineTypes,
        "cuisine_types",
        &["cuisine", "cuisines", "cuisine_type"],
        CATERERS,
    ),
    col(
        Field::MenuItems,
        "menu_items",
        &["menu", "menu_item"],
        CATERERS,
    ),
    col(
        Field::PricePerPerson,
        "price_per_person",
        &["price_per_guest", "per_person", "per_guest"],
        CATERERS,
    ),
    col(
        Field::MinGuests,
        "min_guests",
        &["minimum_guests", "min_guest"],
        CATERERS,
    ),
    col(
        Field::MaxGuests,
        "max_guests",
        &["maximum_guests", "max_guest"],
        CATERERS,
    ),
    col(Field::Category, "category", &["vendor_category"], VENDORS),
    col(Field::Services, "services", &["service"], VENDORS),
    col(
        Field::AvgPrice,
        "avg_price",
        &["average_price", "typical_price", "price_per_party"],
        VENDORS,
    ),
    col(
        Field::ReviewCount,
        "review_count",
        &["reviews", "number_of_reviews"],
        VENDORS,
    ),
];

const fn col(
    field: Field,
    name: &'static str,
    aliases: &'static [&'static str],
    applies_to: u8,
) -> Column {
    Column {
        field,
        name,
        aliases,
        applies_to,
    }
}

fn column_of(field: Field) -> &'static Column {
    COLUMNS
        .iter()
        .find(|c| c.field == field)
        .expect("every field has a column")
}

/// The column a header names, if any.
fn column_named(header: &str) -> Option<&'static Column> {
    let key = normalize(header);
    COLUMNS
        .iter()
        .find(|c| c.name == key || c.aliases.contains(&key.as_str()))
}

/// The column a misspelt header probably meant (one or two edits away).
fn suggestion(header: &str) -> Option<&'static str> {
    let key = normalize(header);
    COLUMNS
        .iter()
        .flat_map(|c| {
            std::iter::once(&c.name)
                .chain(c.aliases)
                .map(move |n| (c.name, *n))
        })
        .map(|(name, n)| (strsim::osa_distance(&key, n), name))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// The header row, resolved: which cell holds which field.
struct Header {
    /// Field → (cell index, the header as the file spells it).
    at: HashMap<Field, (usize, String)>,
    /// Cells in the header row.
    width: usize,
}

/// Picks the most frequent of [`DELIMITERS`] in the first line (outside
/// quotes); a comma when there is none.
fn detect_delimiter(bytes: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..DELIMITERS.len()).max_by_key(|&i| (counts[i], usize::MAX - i));
    match best {
        Some(i) if counts[i] > 0 => DELIMITERS[i],
        _ => b',',
    }
}

/// Excel's optional first line `sep=;` names the delimiter; Excel does not
/// show it as a row, so neither do we: the file's rest and the delimiter.
fn excel_separator_line(bytes: &[u8]) -> (&[u8], Option<u8>) {
    match bytes {
        [b's', b'e', b'p', b'=', d, rest @ ..] if *d != b'\n' && *d != b'\r' => {
            let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
            match rest.strip_prefix(b"\n") {
                Some(rest) => (rest, Some(*d)),
                None if rest.is_empty() => (rest, Some(*d)),
                None => (bytes, None),
            }
        }
        _ => (bytes, None),
    }
}

/// Records waiting for their ids: the row they came from and the id the
/// file gave (ids are assigned once every row is read).
struct Pending<T> {
    row: usize,
    id: Option<u32>,
    record: T,
}

#[derive(Default)]
struct Rows {
    venues: Vec<Pending<Venue>>,
    bakeries: Vec<Pending<Bakery>>,
    caterers: Vec<Pending<Caterer>>,
    vendors: Vec<Pending<Vendor>>,
}

/// Reads a supplier CSV (see docs/catalog.md) into a valid catalog, or
/// reports every problem found (up to [`MAX_PROBLEMS`]) by row and column.
pub fn import_csv(bytes: &[u8], options: &CsvOptions) -> Result<Imported, ImportError> {
    let mut problems = Problems::default();
    if bytes.len() > MAX_INPUT_BYTES {
        problems.error(too_big(bytes.len()));
        return Err(problems.into_error());
    }
    let (bytes, declared) = excel_separator_line(strip_bom(bytes));
    let delimiter = options
        .delimiter
        .or(declared)
        .unwrap_or_else(|| detect_delimiter(bytes));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut records = reader.byte_records();

    let header = match records.next() {
        None => {
            problems.error(Problem::file("the file is empty (expected a header row)"));
            return Err(problems.into_error());
        }
        Some(Err(err)) => {
            problems.error(csv_problem(1, &err));
            return Err(problems.into_error());
        }
        Some(Ok(record)) => read_header(&record, options, &mut problems),
    };
    let Some(header) = header else {
        return Err(problems.into_error());
    };

    let mut rows = Rows::default();
    for (index, record) in records.enumerate() {
        // The spreadsheet's row: the header is row 1.
        let row = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                problems.error(csv_problem(row, &err));
                continue;
            }
        };
        let mut cells = Vec::with_capacity(record.len());
        for (i, cell) in record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(text) => cells.push(text.trim().to_owned()),
                Err(_) => {
                    problems.error(Problem {
                        row: Some(row),
                        column: header_name(&header, i),
                        message: "not UTF-8 text (save the file as \"CSV UTF-8\")".to_owned(),
                    });
                    cells.push(String::new());
                }
            }
        }
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if let Some(extra) = cells[header.width.min(cells.len())..]
            .iter()
            .position(|c| !c.is_empty())
        {
            problems.error(Problem {
                row: Some(row),
                column: None,
                message: format!(
                    "cell {} has a value but the header has only {} columns",
                    header.width + extra + 1,
                    header.width
                ),
            });
            continue;
        }
        read_row(row, &cells, &header, options, &mut rows, &mut problems);
    }
    if problems.is_clean()
        && rows.venues.is_empty()
        && rows.bakeries.is_empty()
        && rows.caterers.is_empty()
        && rows.vendors.is_empty()
    {
        problems.warn(Problem::file("no suppliers: the catalog is empty"));
    }

    // Rows that read cleanly are checked further (ids, the catalog's own
    // rules) even when others did not: one run reports everything.
    let venues = assign_ids(rows.venues, &header, validate_venue, &mut problems);
    let bakeries = assign_ids(rows.bakeries, &header, validate_bakery, &mut problems);
    let caterers = assign_ids(rows.caterers, &header, validate_caterer, &mut problems);
    let vendors = assign_ids(rows.vendors, &header, validate_vendor, &mut problems);
    if !problems.is_clean() {
        return Err(problems.into_error());
    }
    // The guarantee: what is returned is what `serve --catalog` loads.
    let built = Catalog::from_records(venues, bakeries, caterers, vendors)
        .and_then(|catalog| Catalog::from_json(&to_json(&catalog)));
    match built {
        Ok(catalog) => Ok(Imported {
            catalog,
            warnings: problems.warnings,
        }),
        Err(err) => {
            problems.error(Problem::file(loader_message(err)));
            Err(problems.into_error())
        }
    }
}

fn csv_problem(row: usize, err: &csv::Error) -> Problem {
    Problem {
        row: Some(row),
        column: None,
        message: format!("unreadable CSV: {err}"),
    }
}

fn header_name(header: &Header, index: usize) -> Option<String> {
    header
        .at
        .values()
        .find(|(i, _)| *i == index)
        .map(|(_, name)| name.clone())
}

/// Resolves the header row; `None` when rows cannot be read under it.
fn read_header(
    record: &csv::ByteRecord,
    options: &CsvOptions,
    problems: &mut Problems,
) -> Option<Header> {
    let mut at: HashMap<Field, (usize, String)> = HashMap::new();
    let at_row_1 = |column: Option<String>, message: String| Problem {
        row: Some(1),
        column,
        message,
    };
    for (index, cell) in record.iter().enumerate() {
        let Ok(text) = std::str::from_utf8(cell) else {
            problems.error(at_row_1(
                None,
                format!(
                    "header cell {} is not UTF-8 text (save the file as \"CSV UTF-8\")",
                    index + 1
                ),
            ));
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match column_named(text) {
            Some(column) => {
                if let Some((_, first)) = at.get(&column.field) {
                    problems.error(at_row_1(
                        Some(text.to_owned()),
                        format!("names the same field as column {first:?} ({})", column.name),
                    ));
                } else {
                    at.insert(column.field, (index, text.to_owned()));
                }
            }
            None => {
                let hint = suggestion(text)
                    .map(|name| format!(" (did you mean {name:?}?)"))
                    .unwrap_or_default();
                problems.warn(at_row_1(
                    Some(text.to_owned()),
                    format!("not a catalog column; ignored{hint}"),
                ));
            }
        }
    }
    if !at.contains_key(&Field::Name) {
        problems.error(at_row_1(
            None,
            "no \"name\" column (is this the header row, and the right delimiter?)".to_owned(),
        ));
    }
    if !at.contains_key(&Field::Kind) && options.kind.is_none() {
        problems.error(at_row_1(
            None,
            format!("no \"kind\" column: add one ({KIND_WORDS}) or pass --kind"),
        ));
    }
    problems.is_clean().then_some(Header {
        at,
        width: record.len(),
    })
}

/// One data row being read: its cells and the problems found in it.
struct Row<'a> {
    number: usize,
    cells: &'a [String],
    header: &'a Header,
    kind: Kind,
    /// Each with its column's place in the header (absent columns last),
    /// to be reported left to right.
    problems: Vec<(usize, Problem)>,
}

impl<'a> Row<'a> {
    /// The column's name for messages: as the header spells it.
    fn column(&self, field: Field) -> String {
        self.header
            .at
            .get(&field)
            .map_or_else(|| column_of(field).name.to_owned(), |(_, h)| h.clone())
    }

    /// The trimmed cell, `None` when empty or the column is absent.
    fn cell(&self, field: Field) -> Option<&'a str> {
        let (index, _) = self.header.at.get(&field)?;
        let cells: &'a [String] = self.cells;
        cells
            .get(*index)
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }

    fn fail(&mut self, field: Field, message: String) {
        let place = self.header.at.get(&field).map_or(usize::MAX, |(i, _)| *i);
        let problem = Problem {
            row: Some(self.number),
            column: Some(self.column(field)),
            message,
        };
        self.problems.push((place, problem));
    }

    /// The cell, or an error saying this kind needs it.
    fn required(&mut self, field: Field) -> Option<&'a str> {
        let cell = self.cell(field);
        if cell.is_none() {
            let message = if self.header.at.contains_key(&field) {
                format!("empty; {} needs one", self.kind.noun())
            } else {
                format!("missing; {} needs this column", self.kind.noun())
            };
            self.fail(field, message);
        }
        cell
    }

    fn text(&mut self, field: Field) -> String {
        self.cell(field).unwrap_or_default().to_owned()
    }

    fn required_text(&mut self, field: Field) -> String {
        self.required(field).unwrap_or_default().to_owned()
    }

    /// A whole number in `min..=max`: `default` when empty (required when
    /// `None`). Takes `$1,500` and `1500.00` as spreadsheets format them.
    fn whole(&mut self, field: Field, default: Option<u64>, min: u64, max: u64) -> u64 {
        let cell = match default {
            Some(d) => match self.cell(field) {
                Some(cell) => cell,
                None => return d,
            },
            None => match self.required(field) {
                Some(cell) => cell,
                None => return min,
            },
        };
        match parse_whole(cell) {
            None => self.fail(field, format!("{cell:?} is not a whole number")),
            Some(n) if n < min => self.fail(field, format!("{n} is too small (at least {min})")),
            Some(n) if n > max => self.fail(field, format!("{n} is too large (at most {max})")),
            Some(n) => return n,
        }
        min
    }

    fn whole_u32(&mut self, field: Field, default: Option<u32>, min: u32) -> u32 {
        let n = self.whole(
            field,
            default.map(u64::from),
            u64::from(min),
            u64::from(u32::MAX),
        );
        u32::try_from(n).unwrap_or(min)
    }

    /// A rating in `0..=5` (`4.5`, or `4,5` with a decimal comma); 0 when empty.
    fn rating(&mut self) -> f64 {
        let Some(cell) = self.cell(Field::Rating) else {
            return 0.0;
        };
        let text = if cell.contains('.') {
            cell.to_owned()
        } else {
            cell.replacen(',', ".", 1)
        };
        match text.parse::<f64>() {
            Ok(r) if r.is_finite() && (0.0..=5.0).contains(&r) => r,
            _ => {
                self.fail(
                    Field::Rating,
                    format!("{cell:?} is not a number between 0 and 5"),
                );
                0.0
            }
        }
    }

    /// Yes or no (`yes`, `no`, `true`, `false`, `y`, `n`, `1`, `0`, `x`);
    /// no when empty.
    fn flag(&mut self, field: Field) -> bool {
        let Some(cell) = self.cell(field) else {
            return false;
        };
        match normalize(cell).as_str() {
            "yes" | "y" | "true" | "t" | "1" | "x" => true,
            "no" | "n" | "false" | "f" | "0" => false,
            _ => {
                self.fail(field, format!("{cell:?} is not yes or no"));
                false
            }
        }
    }

    /// Items separated by [`LIST_SEPARATORS`], trimmed, empty ones dropped.
    fn list(&mut self, field: Field) -> Vec<String> {
        self.cell(field)
            .map(|cell| {
                cell.split(LIST_SEPARATORS)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A list of tag words (themes, dietary options): lowercased. A comma
    /// inside an item is taken for a wrong separator: `jungle, farm` would
    /// otherwise become one theme nothing matches.
    fn words(&mut self, field: Field) -> Vec<String> {
        let items = self.list(field);
        if let Some(bad) = items.iter().find(|i| i.contains(',')) {
            let bad = bad.clone();
            self.fail(
                field,
                format!("{bad:?}: separate the items with \";\" or \"|\", not commas"),
            );
        }
        items.into_iter().map(|i| i.to_lowercase()).collect()
    }
}

/// `1500`, `$1,500`, `1 500`, `1500.00` → 1500; anything else is `None`.
fn parse_whole(cell: &str) -> Option<u64> {
    let text = cell.trim().strip_prefix('$').unwrap_or(cell.trim()).trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if !frac.chars().all(|c| c == '0') {
        return None;
    }
    let grouped = int.contains([',', ' ']);
    if grouped {
        // Thousands separators only between groups of three digits.
        let mut groups = int.split([',', ' ']);
        let first = groups.next()?;
        if first.is_empty() || first.len() > 3 || !groups.all(|g| g.len() == 3) {
            return None;
        }
    }
    let digits: String = int.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads one data row into `rows`, or its problems into `problems`.
fn read_row(
    number: usize,
    cells: &[String],
    header: &Header,
    options: &CsvOptions,
    rows: &mut Rows,
    problems: &mut Problems,
) {
    let kind_cell = header
        .at
        .get(&Field::Kind)
        .and_then(|(i, name)| cells.get(*i).filter(|c| !c.is_empty()).map(|c| (c, name)));
    let kind = match (kind_cell, options.kind) {
        (Some((cell, name)), _) => match Kind::parse(cell) {
            Some(kind) => kind,
            None => {
                problems.error(Problem {
                    row: Some(number),
                    column: Some(name.clone()),
                    message: format!("{cell:?} is not a kind ({KIND_WORDS})"),
                });
                return;
            }
        },
        (None, Some(kind)) => kind,
        (None, None) => {
            problems.error(Problem {
                row: Some(number),
                column: Some(column_of(Field::Kind).name.to_owned()),
                message: format!("empty; say which kind of supplier ({KIND_WORDS})"),
            });
            return;
        }
    };
    let mut row = Row {
        number,
        cells,
        header,
        kind,
        problems: Vec::new(),
    };
    // A value in a column this kind does not have is a mistake (a shifted
    // cell, or a row of the wrong kind), not something to drop silently.
    let collection = kind.collection() as u8;
    let mut misplaced: Vec<(usize, Field)> = header
        .at
        .iter()
        .filter(|(field, _)| column_of(**field).applies_to & collection == 0)
        .filter(|(field, _)| row.cell(**field).is_some())
        .map(|(field, (index, _))| (*index, *field))
        .collect();
    misplaced.sort_unstable_by_key(|&(index, _)| index);
    for (_, field) in misplaced {
        let value = row.cell(field).unwrap_or_default();
        row.fail(
            field,
            format!(
                "{value:?}: {} has no {} (leave it empty)",
                kind.noun(),
                column_of(field).name
            ),
        );
    }

    let id = row
        .cell(Field::Id)
        .is_some()
        .then(|| row.whole_u32(Field::Id, Some(0), 0));
    let name = row.required_text(Field::Name);
    let city = row.required_text(Field::City);
    let contact = row.text(Field::Contact);
    let rating = row.rating();
    let description = row.text(Field::Description);
    let themes = row.words(Field::Themes);

    match kind {
        Kind::Venue => {
            let venue_type = match row.cell(Field::VenueType) {
                Some(t) => normalize(t),
                None => DEFAULT_VENUE_TYPE.to_owned(),
            };
            let record = Venue {
                id: 0,
                name,
                venue_type,
                city,
                address: row.text(Field::Address),
                capacity: row.whole_u32(Field::Capacity, None, 1),
                amenities: row.list(Field::Amenities),
                daily_price: row.whole(Field::DailyPrice, None, 0, u64::MAX),
                hourly_price: row.whole(Field::HourlyPrice, Some(0), 0, u64::MAX),
                contact,
                rating,
                images: row.list(Field::Images),
                description,
                themes,
                outdoor: row.flag(Field::Outdoor),
            };
            finish(row, id, record, &mut rows.venues, problems);
        }
        Kind::Bakery => {
            let small = row.whole(Field::PriceSmall, None, 0, u64::MAX);
            let medium = row.whole(Field::PriceMedium, None, 0, u64::MAX);
            let large = row.whole(Field::PriceLarge, None, 0, u64::MAX);
            if row.problems.is_empty() {
                if medium < small {
                    row.fail(
                        Field::PriceMedium,
                        format!("{medium} is less than the small price ({small}); prices rise with size"),
                    );
                }
                if large < medium {
                    row.fail(
                        Field::PriceLarge,
                        format!("{large} is less than the medium price ({medium}); prices rise with size"),
                    );
                }
            }
            let record = Bakery {
                id: 0,
                name,
                city,
                specialties: row.list(Field::Specialties),
                price_range: PriceRange {
                    small,
                    medium,
                    large,
                },
                contact,
                rating,
                portfolio_images: row.list(Field::Images),
                custom_designs: row.flag(Field::CustomDesigns),
                description,
                themes,
                dietary_options: row.words(Field::DietaryOptions),
            };
            finish(row, id, record, &mut rows.bakeries, problems);
        }
        Kind::Caterer => {
            let min_guests = row.whole_u32(Field::MinGuests, Some(DEFAULT_MIN_GUESTS), 1);
            let max_guests = row.whole_u32(Field::MaxGuests, None, 1);
            if row.problems.is_empty() && min_guests > max_guests {
                row.fail(
                    Field::MinGuests,
                    format!("{min_guests} is more than the most guests ({max_guests})"),
                );
            }
            let record = Caterer {
                id: 0,
                name,
                city,
                cuisine_types: row.words(Field::CuisineTypes),
                menu_items: row.list(Field::MenuItems),
                dietary_options: row.words(Field::DietaryOptions),
                price_per_person: row.whole(Field::PricePerPerson, None, 0, u64::MAX),
                min_guests,
                max_guests,
                contact,
                rating,
                description,
                themes,
            };
            finish(row, id, record, &mut rows.caterers, problems);
        }
        Kind::Vendor(from_kind) => {
            let category = vendor_category(&mut row, from_kind);
            let record = Vendor {
                id: 0,
                name,
                city,
                category,
                services: row.list(Field::Services),
                contact,
                rating,
                avg_price: row.whole(Field::AvgPrice, None, 0, u64::MAX),
                review_count: row.whole_u32(Field::ReviewCount, Some(0), 0),
                description,
                portfolio_images: row.list(Field::Images),
                themes,
            };
            finish(row, id, record, &mut rows.vendors, problems);
        }
    }
}

/// A venue's type when the `type` cell is empty: the catalog's general one.
const DEFAULT_VENUE_TYPE: &str = "event_space";

/// A caterer's smallest party when `min_guests` is empty.
const DEFAULT_MIN_GUESTS: u32 = 1;

/// The vendor's category: from the `category` cell, else from the kind
/// (`decorator`); the two must agree when both are given.
fn vendor_category(row: &mut Row<'_>, from_kind: Option<&'static str>) -> String {
    let cell = row.cell(Field::Category);
    let from_cell = match cell {
        None => None,
        Some(text) => match category(text) {
            Some(c) => Some(c),
            None => {
                row.fail(
                    Field::Category,
                    format!(
                        "{text:?} is not a vendor category ({})",
                        CATEGORIES.join(", ")
                    ),
                );
                return String::new();
            }
        },
    };
    match (from_kind, from_cell) {
        (Some(k), Some(c)) if k != c => {
            row.fail(
                Field::Category,
                format!("{c:?} disagrees with the kind ({k:?})"),
            );
            String::new()
        }
        (Some(c), _) | (None, Some(c)) => c.to_owned(),
        (None, None) => {
            row.fail(
                Field::Category,
                format!(
                    "empty; a vendor needs one ({}), or put it in the kind column",
                    CATEGORIES.join(", ")
                ),
            );
            String::new()
        }
    }
}

/// Keeps the record when its row had no problem.
fn finish<T>(
    row: Row<'_>,
    id: Option<u32>,
    record: T,
    into: &mut Vec<Pending<T>>,
    problems: &mut Problems,
) {
    if row.problems.is_empty() {
        into.push(Pending {
            row: row.number,
            id,
            record,
        });
    } else {
        let mut found = row.problems;
        found.sort_by_key(|(place, _)| *place);
        found.into_iter().for_each(|(_, p)| problems.error(p));
    }
}

/// Gives every record without an id the lowest one not taken in its
/// collection (in row order), rejects an id given twice, and runs the
/// catalog's own validation on each record, naming its row.
fn assign_ids<T: Record + IdMut>(
    pending: Vec<Pending<T>>,
    header: &Header,
    validate: fn(&T) -> Result<(), String>,
    problems: &mut Problems,
) -> Vec<T> {
    let id_column = || {
        Some(
            header
                .at
                .get(&Field::Id)
                .map_or("id", |(_, h)| h.as_str())
                .to_owned(),
        )
    };
    let mut taken: HashMap<u32, usize> = HashMap::new();
    for p in &pending {
        let Some(id) = p.id else { continue };
        if let Some(first) = taken.get(&id) {
            problems.error(Problem {
                row: Some(p.row),
                column: id_column(),
                message: format!("{id} is already the id of row {first}"),
            });
        } else {
            taken.insert(id, p.row);
        }
    }
    let mut next = 1u32;
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        let mut record = p.record;
        let id = match p.id {
            Some(id) => id,
            None => {
                while taken.contains_key(&next) {
                    next += 1;
                }
                taken.insert(next, p.row);
                next
            }
        };
        record.set_id(id);
        if let Err(message) = validate(&record) {
            problems.error(Problem {
                row: Some(p.row),
                column: None,
                message,
            });
        }
        out.push(record);
    }
    out
}

/// Setting the id once it is assigned.
trait IdMut {
    fn set_id(&mut self, id: u32);
}

macro_rules! impl_id_mut {
    ($($t:ty),*) => {$(
        impl IdMut for $t {
            fn set_id(&mut self, id: u32) {
                self.id = id;
            }
        }
    )*};
}
impl_id_mut!(Venue, Bakery, Caterer, Vendor);

#[cfg(test)]
mod tests {
    use super::*;

    /// A small file over every kind, with lists, quotes and a comma inside
    /// a quoted field.
    const GOOD: &str = "\
kind,name,city,capacity,daily price,themes,price small,price medium,price large,price per person,max guests,category,avg price,rating,address
venue,Barn,Brookside,80,650,farm; jungle,,,,,,,,4.5,\"12 Mill Road, Brookside\"
bakery,Crumbs,Brookside,,,unicorn|space,60,110,220,,,,,,
caterer,Little Chefs,Brookside,,,,,,,14,120,,,4,
decorator,Balloon Bros,Brookside,,,,,,,,,,350,,
vendor,Snap,Brookside,,,,,,,,,photography,400,,
";

    fn import(text: &str) -> Result<Imported, ImportError> {
        import_csv(text.as_bytes(), &CsvOptions::default())
    }

    fn errors_of(text: &str) -> Vec<String> {
        errors_with(text, &CsvOptions::default())
    }

    fn errors_with(text: &str, options: &CsvOptions) -> Vec<String> {
        match import_csv(text.as_bytes(), options) {
            Ok(imported) => panic!("expected errors, got {}", summary(&imported.catalog)),
            Err(e) => e
                .errors
                .iter()
                .map(|p| p.in_file("s.csv").to_string())
                .collect(),
        }
    }

    #[test]
    fn a_good_file_imports_every_kind_with_lists_and_defaults() {
        let c = import(GOOD).expect("valid").catalog;
        assert_eq!(
            summary(&c),
            "5 suppliers: 1 venue, 1 bakery, 1 caterer, 2 vendors (decorations 1, photography 1)"
        );
        let v = &c.venues[0];
        assert_eq!(
            (v.id, v.name.as_str(), v.capacity, v.daily_price),
            (1, "Barn", 80, 650)
        );
        assert_eq!(v.themes, ["farm", "jungle"]);
        assert_eq!(v.address, "12 Mill Road, Brookside");
        // Optional columns absent from the file get their defaults.
        assert_eq!((v.hourly_price, v.outdoor), (0, false));
        assert_eq!(v.venue_type, DEFAULT_VENUE_TYPE);
        assert!(v.amenities.is_empty() && v.images.is_empty() && v.contact.is_empty());
        let b = &c.bakeries[0];
        assert_eq!(b.themes, ["unicorn", "space"]);
        assert_eq!((b.price_range.small, b.price_range.large), (60, 220));
        assert_eq!(b.rating, 0.0, "no rating: unrated");
        let k = &c.caterers[0];
        assert_eq!(
            (k.min_guests, k.max_guests, k.rating),
            (DEFAULT_MIN_GUESTS, 120, 4.0)
        );
        assert_eq!(c.vendors[0].category, "decorations");
        assert_eq!(c.vendors[1].category, "photography");
        assert_eq!((c.vendors[0].id, c.vendors[1].id), (1, 2));
        assert_eq!(c.cities, ["brookside"]);
        // What was imported is what the loader reads back.
        let again = Catalog::from_json(&to_json(&c)).expect("loads");
        assert_eq!(to_json(&again), to_json(&c));
    }

    #[test]
    fn bom_and_semicolon_delimiter_are_handled() {
        let text = "\u{feff}Kind;Name;City;Capacity;Daily price;Rating;Themes\n\
                    venue;Barn;Brookside;80;650;4,5;\"farm;jungle\"\n";
        let c = import(text).expect("valid").catalog;
        assert_eq!(c.venues[0].name, "Barn");
        assert_eq!(c.venues[0].rating, 4.5, "decimal comma");
        assert_eq!(c.venues[0].themes, ["farm", "jungle"]);
        assert_eq!(detect_delimiter(b"a;b;\"c,d,e\"\n1,2,3,4"), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter(b"name"), b',');

        // Excel's `sep=` line names the delimiter and is not a row.
        let text = "sep=;\r\nkind;name;city;capacity;daily price\r\nvenue;Barn;X;80;abc\r\n";
        assert_eq!(
            errors_of(text),
            [r#"s.csv:2: column "daily price": "abc" is not a whole number"#]
        );
        assert_eq!(
            excel_separator_line(b"sep=kind,name"),
            (&b"sep=kind,name"[..], None)
        );

        // An explicit delimiter wins over detection.
        let text = "kind|name|city|capacity|daily_price\nvenue|Barn|Brookside|80|650\n";
        let options = CsvOptions {
            delimiter: Some(b'|'),
            kind: None,
        };
        assert_eq!(
            import_csv(text.as_bytes(), &options)
                .expect("valid")
                .catalog
                .venues
                .len(),
            1
        );
    }

    #[test]
    fn headers_ignore_case_and_spacing_and_take_aliases() {
        for header in [
            "Kind,NAME,City,Cuisine,Per Person,Maximum Guests,Min_Guests,Dietary",
            " kind , name , city , cuisine types , Price per person ($) , max-guests , minimum guests , dietary options ",
        ] {
            let text = format!("{header}\ncaterer,Chefs,Brookside,Indian | Thai,22,200,20,Vegan;Halal\n");
            let c = import(&text).unwrap_or_else(|e| panic!("{header}: {:?}", e.errors)).catalog;
            let k = &c.caterers[0];
            assert_eq!(k.cuisine_types, ["indian", "thai"]);
            assert_eq!((k.price_per_person, k.min_guests, k.max_guests), (22, 20, 200));
            assert_eq!(k.dietary_options, ["vegan", "halal"]);
        }
        assert_eq!(normalize("Price per person ($)"), "price_per_person");
        assert_eq!(
            column_named("Portfolio Images").map(|c| c.name),
            Some("images")
        );
        assert_eq!(column_named("Phone").map(|c| c.name), Some("contact"));
    }

    #[test]
    fn unknown_columns_are_warnings_with_a_suggestion() {
        let text = "kind,name,city,capacity,daily price,amenites,internal notes id\nvenue,Barn,Brookside,80,650,x,y\n";
        let imported = import(text).expect("valid");
        let warnings: Vec<String> = imported
            .warnings
            .iter()
            .map(|w| w.in_file("s.csv").to_string())
            .collect();
        assert_eq!(
            warnings,
            [
                r#"s.csv:1: column "amenites": not a catalog column; ignored (did you mean "amenities"?)"#,
                r#"s.csv:1: column "internal notes id": not a catalog column; ignored"#,
            ]
        );
    }

    #[test]
    fn kind_comes_from_the_option_when_the_file_has_none() {
        let text = "name,city,services,avg price\nComet Shows,Brookside,magic; slime,300\n";
        let options = CsvOptions {
            delimiter: None,
            kind: Some(Kind::parse("Entertainers").expect("a kind")),
        };
        let c = import_csv(text.as_bytes(), &options)
            .expect("valid")
            .catalog;
        assert_eq!(c.vendors[0].category, "entertainment");
        assert_eq!(c.vendors[0].services, ["magic", "slime"]);

        assert_eq!(
            errors_of(text),
            [
                r#"s.csv:1: no "kind" column: add one (venue, bakery, caterer, vendor, decorations, entertainment, photography, rentals, planning) or pass --kind"#
            ]
        );
        assert!("florist".parse::<Kind>().is_err());
        assert_eq!("Cakes".parse::<Kind>(), Ok(Kind::Bakery));
    }

    #[test]
    fn every_bad_cell_names_its_row_and_column() {
        let text = "\
kind,name,city,capacity,daily price,rating,outdoor,themes,price small,price medium,price large,min guests,max guests,price per person,category,avg price,id
venue,Barn,Brookside,a hundred,650,,,,,,,,,,,,
venue,Hall,Brookside,0,$12.50,7,maybe,\"jungle, farm\",,,,,,,,,
bakery,Crumbs,Brookside,,,,,,100,90,200,,,,,,
caterer,Chefs,Brookside,,,,,,,,,50,20,14,,,
vendor,Zoo,Brookside,,,,,,,,,,,,florist,300,
photographer,Sam,Brookside,,,,,,,,,,,,rentals,300,
florist,Rosa,Brookside,,,,,,,,,,,,,,
bakery,Crumbs 2,Brookside,80,,,,,,,,,,,,,
venue,,,70,100,,,,,,,,,,,,
venue,A,Brookside,70,100,,,,,,,,,,,,4
venue,B,Brookside,70,100,,,,,,,,,,,,4
";
        assert_eq!(
            errors_of(text),
            [
                r#"s.csv:2: column "capacity": "a hundred" is not a whole number"#,
                r#"s.csv:3: column "capacity": 0 is too small (at least 1)"#,
                r#"s.csv:3: column "daily price": "$12.50" is not a whole number"#,
                r#"s.csv:3: column "rating": "7" is not a number between 0 and 5"#,
                r#"s.csv:3: column "outdoor": "maybe" is not yes or no"#,
                r#"s.csv:3: column "themes": "jungle, farm": separate the items with ";" or "|", not commas"#,
                r#"s.csv:4: column "price medium": 90 is less than the small price (100); prices rise with size"#,
                r#"s.csv:5: column "min guests": 50 is more than the most guests (20)"#,
                r#"s.csv:6: column "category": "florist" is not a vendor category (decorations, entertainment, photography, rentals, planning)"#,
                r#"s.csv:7: column "category": "rentals" disagrees with the kind ("photography")"#,
                r#"s.csv:8: column "kind": "florist" is not a kind (venue, bakery, caterer, vendor, decorations, entertainment, photography, rentals, planning)"#,
                r#"s.csv:9: column "capacity": "80": a bakery has no capacity (leave it empty)"#,
                r#"s.csv:9: column "price small": empty; a bakery needs one"#,
                r#"s.csv:9: column "price medium": empty; a bakery needs one"#,
                r#"s.csv:9: column "price large": empty; a bakery needs one"#,
                r#"s.csv:10: column "name": empty; a venue needs one"#,
                r#"s.csv:10: column "city": empty; a venue needs one"#,
                // Ids are checked over the rows that read cleanly, after them.
                r#"s.csv:12: column "id": 4 is already the id of row 11"#,
            ],
        );
        let dup = "kind,name,city,capacity,daily price,id\nvenue,A,X,70,100,4\nvenue,B,X,70,100,4\nvenue,C,X,70,100,\n";
        assert_eq!(
            errors_of(dup),
            [r#"s.csv:3: column "id": 4 is already the id of row 2"#]
        );
    }

    #[test]
    fn missing_required_columns_and_bad_headers_are_reported() {
        assert_eq!(
            errors_of("kind,name,city\nvenue,Barn,Brookside\n"),
            [
                r#"s.csv:2: column "capacity": missing; a venue needs this column"#,
                r#"s.csv:2: column "daily_price": missing; a venue needs this column"#,
            ]
        );
        assert_eq!(
            errors_of("kind,city\nvenue,Brookside\n"),
            [r#"s.csv:1: no "name" column (is this the header row, and the right delimiter?)"#]
        );
        assert_eq!(
            errors_of("kind,name,Images,portfolio images\n"),
            [
                r#"s.csv:1: column "portfolio images": names the same field as column "Images" (images)"#
            ]
        );
        assert_eq!(
            errors_of(""),
            ["s.csv: the file is empty (expected a header row)"]
        );
        assert_eq!(
            errors_of("kind,name\nvenue,Barn,Brookside,extra\n"),
            ["s.csv:2: cell 3 has a value but the header has only 2 columns"]
        );
        assert_eq!(
            errors_of("kind,name,city,capacity,daily price\n,Barn,Brookside,80,650\n"),
            [
                r#"s.csv:2: column "kind": empty; say which kind of supplier (venue, bakery, caterer, vendor, decorations, entertainment, photography, rentals, planning)"#
            ]
        );
    }

    #[test]
    fn ids_are_kept_or_assigned_per_collection() {
        let text = "kind,name,city,capacity,daily price,avg price,category,id\n\
                    venue,A,X,10,1,,,2\nvenue,B,X,10,1,,,\nvenue,C,X,10,1,,,\nrentals,D,X,,,5,,\n";
        let c = import(text).expect("valid").catalog;
        let ids: Vec<u32> = c.venues.iter().map(|v| v.id).collect();
        assert_eq!(ids, [2, 1, 3]);
        assert_eq!(c.vendors[0].id, 1);
    }

    #[test]
    fn numbers_take_spreadsheet_formatting() {
        for (cell, want) in [
            ("1500", Some(1500)),
            ("$1,500", Some(1500)),
            ("1 500", Some(1500)),
            ("1500.00", Some(1500)),
            ("12,34", None),
            ("12.5", None),
            ("-3", None),
            ("", None),
            ("a hundred", None),
        ] {
            assert_eq!(parse_whole(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn errors_stop_being_listed_at_the_limit() {
        let mut text = String::from("kind,name,city,capacity,daily price\n");
        for i in 0..MAX_PROBLEMS + 7 {
            text.push_str(&format!("venue,V{i},X,lots,1\n"));
        }
        let e = import(&text).expect_err("bad");
        assert_eq!((e.errors.len(), e.omitted), (MAX_PROBLEMS, 7));
    }

    #[test]
    fn not_utf8_names_the_cell() {
        let bytes = b"kind,name,city,capacity,daily price\nvenue,Caf\xE9,X,10,1\n";
        let e = import_csv(bytes, &CsvOptions::default()).expect_err("latin-1");
        assert_eq!(
            e.errors[0].in_file("s.csv").to_string(),
            r#"s.csv:2: column "name": not UTF-8 text (save the file as "CSV UTF-8")"#
        );
    }

    #[test]
    fn json_is_checked_with_every_bad_record() {
        let mut v: Value = serde_json::from_str(super::super::DEFAULT_CATALOG_JSON).expect("json");
        v["venues"][3]["capacity"] = 0.into();
        v["caterers"][0]["min_guests"] = 0.into();
        v["vendors"][1]["rating"] = "great".into();
        let e = check_json(v.to_string().as_bytes()).expect_err("bad");
        let got: Vec<String> = e
            .errors
            .iter()
            .map(|p| p.in_file("c.json").to_string())
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got[0],
            r#"c.json: venues[3] (id 4, "Community Center Hall"): capacity must be > 0"#
        );
        assert!(
            got[1].starts_with("c.json: caterers[0] (id 1, ")
                && got[1].ends_with("min_guests must be > 0"),
            "{got:?}"
        );
        assert!(
            got[2].starts_with("c.json: vendors[1] (id 2, ") && got[2].contains("rating"),
            "{got:?}"
        );

        let e = check_json(br#"{"venues": 7}"#).expect_err("bad shape");
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].message, "venues must be an array");

        let ok = check_json(super::super::DEFAULT_CATALOG_JSON.as_bytes()).expect("embedded");
        assert!(summary(&ok.catalog).contains("venues"));
    }

    #[test]
    fn format_is_told_by_extension_then_content() {
        assert_eq!(detect_format("c.JSON", b"kind,name"), Format::Json);
        assert_eq!(detect_format("s.csv", b"{"), Format::Csv);
        assert_eq!(
            detect_format("catalog", b"\xEF\xBB\xBF  {\"venues\": []}"),
            Format::Json
        );
        assert_eq!(detect_format("suppliers", b"kind,name"), Format::Csv);
    }
}
