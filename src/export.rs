//! A party's plan for taking away: the budget lines and the checklist, with
//! the plan's summary, as JSON or as CSV (RFC 4180: comma separated, CRLF
//! line ends, fields quoted when they hold a comma, quote or line break).
//!
//! Pure: a function of a [`Party`] snapshot. Used by
//! `GET .../party/{id}/export` and `partybus export`.

use serde::Serialize;

use crate::domain::{AgentOutput, Range};
use crate::store::Party;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object.
    Json,
    /// One CSV table.
    Csv,
}

impl Format {
    /// Parses `json` or `csv`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// One budget line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BudgetLine {
    /// Category (venue, cake, ...), or `total`.
    pub category: String,
    /// Low estimate, dollars.
    pub min: u64,
    /// High estimate, dollars.
    pub max: u64,
    /// Remark, if any.
    pub note: Option<String>,
}

/// One checklist task.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Task {
    /// Stable id.
    pub id: String,
    /// Area.
    pub category: String,
    /// What to do.
    pub task: String,
    /// Whether done.
    pub done: bool,
}

/// The exported plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Export {
    /// Party id.
    pub party_id: String,
    /// planning or ready.
    pub status: &'static str,
    /// Events applied to the party.
    pub version: u64,
    /// `seq` of its latest event.
    pub last_seq: u64,
    /// Primary theme, if chosen.
    pub theme: Option<String>,
    /// 0..=100.
    pub completion_percent: u8,
    /// The user's stated budget.
    pub stated_budget: Option<u64>,
    /// Whether the estimate exceeds it.
    pub over_budget: bool,
    /// Budget lines by category, then `total` (empty before a budget).
    pub budget: Vec<BudgetLine>,
    /// Checklist (empty before a plan).
    pub checklist: Vec<Task>,
    /// Next steps.
    pub next_steps: Vec<String>,
}

impl Export {
    /// Builds the export of a party.
    pub fn of(p: &Party) -> Export {
        let line = |category: &str, r: &Range| BudgetLine {
            category: category.to_string(),
            min: r.min,
            max: r.max,
            note: r.note.clone(),
        };
        let mut budget = Vec::new();
        if let Some(b) = p.budget.as_deref() {
            for (category, r) in &b.breakdown {
                budget.push(line(category, r));
            }
            budget.push(line("total", &b.total_budget));
        }
        let theme = p.agents.values().find_map(|a| match a.result.as_deref() {
            Some(AgentOutput::Theme(t)) => Some(t.primary_theme.clone()),
            _ => None,
        });
        let plan = p.final_plan.as_deref();
        Export {
            party_id: p.party_id.clone(),
            status: p.status.as_str(),
            version: p.version,
            last_seq: p.last_seq,
            theme,
            completion_percent: plan.map_or(0, |f| f.completion_percent),
            stated_budget: p.budget.as_deref().and_then(|b| b.stated_budget),
            over_budget: p.budget.as_deref().is_some_and(|b| b.over_budget),
            budget,
            checklist: plan
                .map(|f| {
                    f.checklist
                        .iter()
                        .map(|c| Task {
                            id: c.id.clone(),
                            category: c.category.clone(),
                            task: c.task.clone(),
                            done: c.done,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            next_steps: plan.map(|f| f.next_steps.clone()).unwrap_or_default(),
        }
    }

    /// As pretty JSON bytes (with a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_else(|_| b"{}".to_vec());
        v.push(b'\n');
        v
    }

    /// As one CSV table: `section,category,item,min,max,done,note`, with
    /// `budget` rows, `checklist` rows and `next_step` rows.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = String::new();
        let mut row = |fields: [&str; 7]| {
            let cells: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        };
        row(["section", "category", "item", "min", "max", "done", "note"]);
        for b in &self.budget {
            let (min, max) = (b.min.to_string(), b.max.to_string());
            row([
                "budget",
                &b.category,
                "",
                &min,
                &max,
                "",
                b.note.as_deref().unwrap_or(""),
            ]);
        }
        for t in &self.checklist {
            let done = if t.done { "true" } else { "false" };
            row(["checklist", &t.category, &t.task, "", "", done, &t.id]);
        }
        for s in &self.next_steps {
            row(["next_step", "", s, "", "", "", ""]);
        }
        out.into_bytes()
    }

    /// In the given format.
    pub fn render(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Json => self.to_json(),
            Format::Csv => self.to_csv(),
        }
    }
}

/// Quotes a CSV field when needed; neutralises a leading formula character
/// (`= + - @`) so spreadsheets do not evaluate user text.
fn csv_field(s: &str) -> String {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_guarded() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-5"), "-5");
    }
}
