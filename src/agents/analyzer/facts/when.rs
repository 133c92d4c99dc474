//! When: the date and the time, kept as stated (nothing is booked) and
//! normalised for display.
//!
//! - Dates: "March 15th", "15th of March", "mar 15", "3/15", "3/15/2027"
//!   → "March 15"; "this Saturday", "next Sunday", "on Saturday" →
//!   "this Saturday", "next Sunday", "Saturday"; "tomorrow", "today",
//!   "this weekend", "next weekend".
//! - Times: "2-5 PM", "from 2 to 5pm", "11am-2pm", "3:30 p.m.", "noon" →
//!   "2–5 PM", "11 AM–2 PM", "3:30 PM", "noon". A bare "from 2 to 5" is no
//!   time (it could be ages).
//!
//! Numbers read as dates or times are never guests, ages or money.

use super::super::token::{joinable, Kind, Tok};
use super::{int_value, word, Role, Scan, Stated, TextFacts};

const MONTHS: [(&str, &str); 12] = [
    ("january", "January"),
    ("february", "February"),
    ("march", "March"),
    ("april", "April"),
    ("may", "May"),
    ("june", "June"),
    ("july", "July"),
    ("august", "August"),
    ("september", "September"),
    ("october", "October"),
    ("november", "November"),
    ("december", "December"),
];

const WEEKDAYS: [(&str, &str); 7] = [
    ("monday", "Monday"),
    ("tuesday", "Tuesday"),
    ("wednesday", "Wednesday"),
    ("thursday", "Thursday"),
    ("friday", "Friday"),
    ("saturday", "Saturday"),
    ("sunday", "Sunday"),
];

/// A month's index from its name or a common abbreviation.
fn month(w: &str) -> Option<usize> {
    let abbr = match w {
        "jan" => Some(0),
        "feb" => Some(1),
        "mar" => Some(2),
        "apr" => Some(3),
        "jun" => Some(5),
        "jul" => Some(6),
        "aug" => Some(7),
        "sep" | "sept" => Some(8),
        "oct" => Some(9),
        "nov" => Some(10),
        "dec" => Some(11),
        _ => None,
    };
    abbr.or_else(|| MONTHS.iter().position(|(m, _)| *m == w))
}

fn weekday(w: &str) -> Option<usize> {
    let w = w.strip_suffix('s').unwrap_or(w);
    WEEKDAYS.iter().position(|(d, _)| *d == w)
}

/// A weekday's abbreviation ("sat", "thurs"); read only after "this",
/// "next", "on", "coming", or as a text's last word ("SAT!!!"), since "sat",
/// "sun" and "wed" are words too.
fn weekday_abbreviation(w: &str) -> Option<usize> {
    Some(match w {
        "mon" => 0,
        "tue" | "tues" => 1,
        "wed" | "weds" => 2,
        "thu" | "thur" | "thurs" => 3,
        "fri" => 4,
        "sat" => 5,
        "sun" => 6,
        _ => return None,
    })
}

fn day_of(t: &Tok<'_>) -> Option<u64> {
    int_value(t).filter(|d| (1..=31).contains(d))
}

/// A glued ordinal suffix after token `i` ("15th"): its index.
fn ordinal_after(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    toks.get(i + 1)
        .filter(|t| t.sep.is_empty() && matches!(t.text, "th" | "st" | "nd" | "rd"))
        .map(|_| i + 1)
}

/// Reads the first date and the first time; marks their numbers.
pub(super) fn read(toks: &[Tok<'_>], role: &mut [Role], scan: &Scan, out: &mut TextFacts) {
    // Every date is marked (never a count); the party's is the one said most
    // clearly (a month and day, or "this/next/on" a weekday, over a bare
    // weekday as in "Sunday school"), in a sentence about the party over
    // one about something else ("she's getting married on June 14"), the
    // last among equals.
    let mut best: Option<(u8, Stated<String>)> = None;
    let mut i = 0;
    while i < toks.len() {
        if let Some((date, first, last)) = date_at(toks, i) {
            for r in role.iter_mut().take(last + 1).skip(first) {
                *r = Role::Other;
            }
            let clear = toks[first].kind == Kind::Num
                || MONTHS.iter().any(|(_, m)| date.starts_with(m))
                || date.contains(' ')
                || matches!(date.as_str(), "tomorrow" | "today" | "tonight");
            let about_party = scan.event_sentences.contains(&scan.sentence[first]);
            let score = u8::from(clear) * 2 + u8::from(about_party);
            if best.as_ref().is_none_or(|(s, _)| score >= *s) {
                best = Some((score, Stated::new(date, toks, first, last)));
            }
            i = last + 1;
            continue;
        }
        i += 1;
    }
    out.date = best.map(|(_, d)| d);
    for i in 0..toks.len() {
        if out.time.is_none() {
            if let Some((time, first, last)) = time_at(toks, i) {
                for r in role.iter_mut().take(last + 1).skip(first) {
                    *r = Role::Other;
                }
                out.time = Some(Stated::new(time, toks, first, last));
            }
        }
    }
}

/// A date starting at token `i`: (normalised, first, last token).
fn date_at(toks: &[Tok<'_>], i: usize) -> Option<(String, usize, usize)> {
    let t = &toks[i];
    match t.kind {
        Kind::Word => {
            if let Some(m) = month(t.text) {
                // "March 15th", "March 15, 2027".
                let d = toks
                    .get(i + 1)
                    .filter(|n| n.kind == Kind::Num && joinable(n.sep))?;
                let day = day_of(d)?;
                let mut last = ordinal_after(toks, i + 1).unwrap_or(i + 1);
                if let Some(y) = toks.get(last + 1) {
                    if y.kind == Kind::Num
                        && y.sep.trim() == ","
                        && int_value(y).is_some_and(|v| (1900..=2100).contains(&v))
                    {
                        last += 1;
                    }
                }
                return Some((format!("{} {day}", MONTHS[m].1), i, last));
            }
            let prefixed = i
                .checked_sub(1)
                .and_then(|j| word(toks, j))
                .is_some_and(|w| matches!(w, "this" | "next" | "on" | "coming"));
            let last_word = toks.get(i + 1).is_none_or(|n| n.kind == Kind::End);
            let day = weekday(t.text)
                .or_else(|| weekday_abbreviation(t.text).filter(|_| prefixed || last_word));
            if let Some(d) = day {
                let prefix = i
                    .checked_sub(1)
                    .and_then(|j| word(toks, j).filter(|_| joinable(t.sep)).map(|w| (j, w)));
                let (first, label) = match prefix {
                    Some((j, "this" | "coming")) => (j, "this "),
                    Some((j, "next")) => (j, "next "),
                    Some((j, "on")) => (j, ""),
                    _ => (i, ""),
                };
                return Some((format!("{label}{}", WEEKDAYS[d].1), first, i));
            }
            match t.text {
                "tomorrow" | "today" | "tonight" => Some((t.text.to_owned(), i, i)),
                "tmrw" | "tmr" | "tomorow" | "tommorow" | "tommorrow" => {
                    Some(("tomorrow".to_owned(), i, i))
                }
                "weekend" => {
                    let j = i.checked_sub(1)?;
                    let w = word(toks, j).filter(|w| matches!(*w, "this" | "next"))?;
                    Some((format!("{w} weekend"), j, i))
                }
                _ => None,
            }
        }
        Kind::Num => {
            let day = day_of(t);
            // "15th of March", "15 March".
            if let Some(day) = day {
                let after = ordinal_after(toks, i).unwrap_or(i);
                let mut k = after + 1;
                if word(toks, k) == Some("of") {
                    k += 1;
                }
                if let Some(m) = word(toks, k).and_then(month) {
                    if joinable(toks[k].sep) && (after > i || k > after + 1 || m != 4) {
                        return Some((format!("{} {day}", MONTHS[m].1), i, k));
                    }
                }
            }
            // "3/15", "3/15/2027" (US order).
            let m = int_value(t).filter(|m| (1..=12).contains(m))?;
            if i > 0 && toks[i - 1].kind == Kind::Dollar {
                return None;
            }
            let d = toks
                .get(i + 1)
                .filter(|n| n.kind == Kind::Num && n.sep == "/")?;
            let day = day_of(d)?;
            let mut last = i + 1;
            if toks
                .get(i + 2)
                .is_some_and(|y| y.kind == Kind::Num && y.sep == "/")
            {
                last += 1;
            }
            let m = usize::try_from(m - 1).ok()?;
            Some((format!("{} {day}", MONTHS[m].1), i, last))
        }
        _ => None,
    }
}

/// "am"/"pm" after token `i` ("2pm", "2 pm", "2 p.m."): (marker, last token).
fn meridiem(toks: &[Tok<'_>], i: usize) -> Option<(&'static str, usize)> {
    let n = toks
        .get(i + 1)
        .filter(|n| n.kind == Kind::Word && super::super::token::adjacent(n.sep))?;
    match n.text {
        "am" => Some(("AM", i + 1)),
        "pm" => Some(("PM", i + 1)),
        "a" | "p" => {
            let m = toks.get(i + 2).filter(|m| m.text == "m" && m.sep == ".")?;
            let _ = m;
            Some((if n.text == "a" { "AM" } else { "PM" }, i + 2))
        }
        _ => None,
    }
}

/// A clock time at number `i`: ("3" or "3:30", last token before any am/pm).
fn clock(toks: &[Tok<'_>], i: usize) -> Option<(String, usize)> {
    let h = int_value(&toks[i]).filter(|h| (1..=12).contains(h))?;
    if i > 0 && toks[i - 1].kind == Kind::Dollar {
        return None;
    }
    match toks.get(i + 1) {
        Some(m) if m.kind == Kind::Num && m.sep == ":" && m.text.len() == 2 => {
            Some((format!("{h}:{}", m.text), i + 1))
        }
        _ => Some((h.to_string(), i)),
    }
}

/// A time starting at token `i`: (normalised, first, last token).
fn time_at(toks: &[Tok<'_>], i: usize) -> Option<(String, usize, usize)> {
    let t = &toks[i];
    if t.kind == Kind::Word {
        return matches!(t.text, "noon" | "midday")
            .then(|| ("noon".to_owned(), i, i))
            .or_else(|| (t.text == "midnight").then(|| ("midnight".to_owned(), i, i)));
    }
    if t.kind != Kind::Num || t.spelled {
        return None;
    }
    let (start, end1) = clock(toks, i)?;
    let start_mark = meridiem(toks, end1);
    let after_start = start_mark.map_or(end1, |(_, l)| l);
    // A range: "2-5 pm", "2 to 5pm", "11am-2pm".
    let next = after_start + 1;
    let range_from = match toks.get(next) {
        Some(n) if n.kind == Kind::Num && n.sep.trim() == "-" || n.sep.trim() == "\u{2013}" => {
            Some(next)
        }
        Some(n) if n.kind == Kind::Word && matches!(n.text, "to" | "until" | "till") => toks
            .get(next + 1)
            .filter(|m| m.kind == Kind::Num)
            .map(|_| next + 1),
        _ => None,
    };
    if let Some(k) = range_from {
        if let Some((end, end2)) = clock(toks, k) {
            if let Some((mark, last)) = meridiem(toks, end2) {
                let text = match start_mark {
                    Some((m0, _)) if m0 != mark => format!("{start} {m0}–{end} {mark}"),
                    _ => format!("{start}–{end} {mark}"),
                };
                return Some((text, i, last));
            }
        }
    }
    let (mark, last) = start_mark?;
    Some((format!("{start} {mark}"), i, last))
}
