//! The tokenizer: lowercased text → words (with their Snowball stems),
//! numbers (digits or number words) and `$` signs.
//!
//! Owns splitting, the separators' meaning (phrase joins, clause and sentence
//! breaks), number values and stemming. Must not know any vocabulary beyond
//! number words. Pure apart from a bounded per-thread stem cache.
//!
//! - A word is a maximal run of letters; a number is digits with `,ddd`
//!   groups and one decimal part (`1,200`, `2.5`), or a run of number words
//!   ("twelve", "twenty-five", "a hundred and twenty", "two dozen"). "one"
//!   alone is not a number ("one kid is gluten free"), nor is "a" ("a cake").
//! - Everything else separates. Letters glued to digits are separate words
//!   ("5th" = `5` + `th`, "2k" = `2` + `k`).
//! - Every word carries its Snowball English stem, so "princesses",
//!   "unicorns" and "superheroes" meet "princess", "unicorn" and
//!   "superhero" in a phrase table, while "party" never holds "art".
//! - A long word one edit from a word people often misspell ("dinosuar",
//!   "prinsess", "birtday") takes that word's stem.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

use super::typo::typo_target;

/// Kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A maximal run of alphabetic characters.
    Word,
    /// Digits (with `,ddd` groups and one `.d+` part) or number words.
    Num,
    /// A `$` sign.
    Dollar,
    /// Sentinel after the last token; its `sep` is the trailing text.
    End,
}

/// One token of lowercased text.
#[derive(Debug, Clone)]
pub(super) struct Tok<'a> {
    pub kind: Kind,
    /// The token's text ("" for [`Kind::End`]).
    pub text: &'a str,
    /// The word's Snowball stem (the text itself for other kinds).
    pub stem: Stem<'a>,
    /// The raw text between the previous token and this one ("" when glued,
    /// as "k" in "2k" or "th" in "5th").
    pub sep: &'a str,
    /// Byte offset of `text` in the tokenized string.
    pub start: usize,
    /// A number's value.
    pub value: Option<f64>,
    /// True when the number was written in words.
    pub spelled: bool,
}

impl Tok<'_> {
    /// Byte offset just past the token.
    pub(super) fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// A word's stem: the word itself, or the stem the thread's cache holds
/// (shared, so a token costs no allocation).
#[derive(Debug, Clone)]
pub(super) enum Stem<'a> {
    /// The word is its own stem.
    Same(&'a str),
    /// Another stem, from the cache.
    Cached(Rc<str>),
}

impl Deref for Stem<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Stem::Same(s) => s,
            Stem::Cached(s) => s,
        }
    }
}

impl AsRef<str> for Stem<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

/// Distinct words whose stems one thread keeps; past it the cache starts
/// over, so memory stays bounded whatever text arrives.
const STEM_CACHE_WORDS: usize = 20_000;
/// Words longer than this are not stemmed (no keyword is that long).
const MAX_STEM_LEN: usize = 32;

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// The Snowball English stem of a lowercased word (a misspelt word's:
/// the word it misspells).
pub(super) fn stem(word: &str) -> Stem<'_> {
    thread_local! {
        static CACHE: RefCell<HashMap<Box<str>, Option<Rc<str>>>> = RefCell::new(HashMap::new());
    }
    if word.len() <= 3 || word.len() > MAX_STEM_LEN {
        return Stem::Same(word);
    }
    let cached = CACHE.with(|c| c.borrow().get(word).cloned());
    let stemmed: Option<Rc<str>> = match cached {
        Some(s) => s,
        None => {
            let s = match typo_target(word) {
                Some(target) => stemmer().stem(target),
                None => stemmer().stem(word),
            };
            let s: Option<Rc<str>> = (s != word).then(|| Rc::from(s.as_ref()));
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() >= STEM_CACHE_WORDS {
                    c.clear();
                }
                c.insert(Box::from(word), s.clone());
            });
            s
        }
    };
    match stemmed {
        Some(s) => Stem::Cached(s),
        None => Stem::Same(word),
    }
}

/// Splits `s` (lowercased) into words, numbers and `$` signs; everything
/// else separates. Always ends with one [`Kind::End`] token.
pub(super) fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut toks: Vec<Tok<'_>> = Vec::with_capacity(s.len() / 4 + 2);
    let mut i = 0;
    let mut prev_end = 0;
    while let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) {
        let start = i;
        let kind = if c.is_ascii_digit() {
            i = scan_number(b, i);
            Kind::Num
        } else if c.is_alphabetic() {
            i += c.len_utf8();
            while let Some(d) = s.get(i..).and_then(|rest| rest.chars().next()) {
                if !d.is_alphabetic() {
                    break;
                }
                i += d.len_utf8();
            }
            Kind::Word
        } else if c == '$' {
            i += 1;
            Kind::Dollar
        } else {
            i += c.len_utf8();
            continue;
        };
        let text = &s[start..i];
        toks.push(Tok {
            kind,
            text,
            stem: match kind {
                Kind::Word => stem(text),
                _ => Stem::Same(text),
            },
            sep: &s[prev_end..start],
            start,
            value: match kind {
                Kind::Num => num_value(text),
                _ => None,
            },
            spelled: false,
        });
        prev_end = i;
    }
    toks.push(Tok {
        kind: Kind::End,
        text: "",
        stem: Stem::Same(""),
        sep: &s[prev_end..],
        start: s.len(),
        value: None,
        spelled: false,
    });
    join_number_words(s, toks)
}

/// Value of a number word on its own ("one" only counts inside a larger
/// number, see [`join_number_words`]).
fn unit_word(w: &str) -> Option<u32> {
    Some(match w {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn tens_word(w: &str) -> Option<u32> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// Replaces each run of number words by one [`Kind::Num`] token spanning it:
/// "twelve", "twenty-five", "a hundred and twenty", "two dozen", "a dozen",
/// "half a dozen". A lone "one" stays a word.
fn join_number_words<'a>(s: &'a str, toks: Vec<Tok<'a>>) -> Vec<Tok<'a>> {
    if !toks
        .iter()
        .any(|t| t.kind == Kind::Word && is_number_word(t.text))
    {
        return toks;
    }
    let mut out: Vec<Tok<'a>> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        // "2 dozen": digits times a dozen.
        if toks[i].kind == Kind::Word && toks[i].text == "dozen" && joinable(toks[i].sep) {
            if let Some(prev) = out.last_mut().filter(|p| p.kind == Kind::Num && !p.spelled) {
                if let Some(v) = prev.value {
                    let end = toks[i].end();
                    prev.text = &s[prev.start..end];
                    prev.stem = Stem::Same(prev.text);
                    prev.value = Some(v * 12.0);
                    prev.spelled = true;
                    i += 1;
                    continue;
                }
            }
        }
        match read_number_words(&toks, i) {
            Some((value, last)) => {
                let first = &toks[i];
                let end = toks[last].end();
                out.push(Tok {
                    kind: Kind::Num,
                    text: &s[first.start..end],
                    stem: Stem::Same(&s[first.start..end]),
                    sep: first.sep,
                    start: first.start,
                    value: Some(f64::from(value)),
                    spelled: true,
                });
                i = last + 1;
            }
            None => {
                out.push(toks[i].clone());
                i += 1;
            }
        }
    }
    out
}

fn is_number_word(w: &str) -> bool {
    unit_word(w).is_some() || tens_word(w).is_some() || matches!(w, "dozen" | "hundred")
}

/// Reads number words starting at token `i`: (value, index of the last token).
fn read_number_words(toks: &[Tok<'_>], i: usize) -> Option<(u32, usize)> {
    let word = |k: usize| {
        toks.get(k)
            .filter(|t| t.kind == Kind::Word && (k == i || joinable(t.sep)))
            .map(|t| t.text)
    };
    // "half a dozen", "a dozen", "dozen".
    if word(i) == Some("half") && word(i + 1) == Some("a") && word(i + 2) == Some("dozen") {
        return Some((6, i + 2));
    }
    if word(i) == Some("dozen") {
        return Some((12, i));
    }
    // "a couple dozen", "a few dozen".
    if word(i + 1) == Some("dozen") {
        match word(i) {
            Some("couple") => return Some((24, i + 1)),
            Some("few") => return Some((36, i + 1)),
            _ => {}
        }
    }
    let mut value: u32 = 0;
    let mut k = i;
    // Hundreds: "a hundred", "two hundred".
    if let Some(u) = word(k).and_then(unit_word) {
        if word(k + 1) == Some("hundred") {
            value = u * 100;
            k += 2;
        }
    } else if word(k) == Some("hundred") {
        value = 100;
        k += 1;
    }
    if value > 0
        && word(k) == Some("and")
        && word(k + 1).is_some_and(|w| tens_word(w).is_some() || unit_word(w).is_some())
    {
        k += 1;
    }
    let mut rest = 0;
    let mut took_rest = false;
    if let Some(t) = word(k).and_then(tens_word) {
        rest = t;
        k += 1;
        took_rest = true;
        if let Some(u) = word(k).and_then(unit_word).filter(|u| *u < 10) {
            rest += u;
            k += 1;
        }
    } else if let Some(u) = word(k).and_then(unit_word) {
        // A lone "one" is an article-like word, not a count.
        if !(value == 0 && u == 1) {
            rest = u;
            k += 1;
            took_rest = true;
        }
    }
    if value == 0 && !took_rest {
        return None;
    }
    value += rest;
    // "two dozen".
    if word(k) == Some("dozen") {
        return Some((value * 12, k));
    }
    Some((value, k - 1))
}

/// End of the number starting at `i` (an ASCII digit): digits, then
/// `,ddd` groups (exactly three digits each), then at most one `.d+`.
fn scan_number(b: &[u8], mut i: usize) -> usize {
    let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
    while digit(i) {
        i += 1;
    }
    while b.get(i) == Some(&b',') && digit(i + 1) && digit(i + 2) && digit(i + 3) && !digit(i + 4) {
        i += 4;
    }
    if b.get(i) == Some(&b'.') && digit(i + 1) {
        i += 1;
        while digit(i) {
            i += 1;
        }
    }
    i
}

/// Separator that keeps two words in one phrase: whitespace and hyphens only.
pub(super) fn joinable(sep: &str) -> bool {
    !sep.is_empty()
        && sep.chars().all(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '-' | '\u{2010}' | '\u{2011}' | '\u{2013}' | '\'' | '\u{2019}'
                )
        })
}

/// Separator between a number and its unit: glued, whitespace or hyphen.
pub(super) fn adjacent(sep: &str) -> bool {
    sep.is_empty() || joinable(sep)
}

/// Separator a lead word may be read across ("budget: 1500", "count ~60").
pub(super) fn soft(sep: &str) -> bool {
    sep.chars()
        .all(|c| c.is_whitespace() || matches!(c, ':' | '~' | '-' | '=' | '(' | '"' | '\u{2013}'))
}

/// Separator that ends a clause (for routing money to cake/catering/total).
pub(super) fn clause_break(sep: &str) -> bool {
    sep.contains([',', '(', ')']) || sentence_break(sep)
}

/// Separator that ends a sentence.
pub(super) fn sentence_break(sep: &str) -> bool {
    sep.chars()
        .any(|c| matches!(c, '.' | ';' | '!' | '?' | '\n'))
}

/// Value of a number token (commas ignored); `None` if not finite.
pub(super) fn num_value(text: &str) -> Option<f64> {
    let mut v = 0.0_f64;
    let mut scale: Option<f64> = None;
    for c in text.bytes() {
        match c {
            b'0'..=b'9' => {
                let d = f64::from(c - b'0');
                match scale.as_mut() {
                    None => v = v * 10.0 + d,
                    Some(s) => {
                        *s /= 10.0;
                        v += d * *s;
                    }
                }
            }
            b'.' => scale = Some(1.0),
            _ => {}
        }
    }
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(s: &str) -> Vec<f64> {
        tokenize(s)
            .iter()
            .filter(|t| t.kind == Kind::Num)
            .filter_map(|t| t.value)
            .collect()
    }

    #[test]
    fn number_words_become_numbers() {
        assert_eq!(nums("twelve kids"), [12.0]);
        assert_eq!(nums("a dozen kids"), [12.0]);
        assert_eq!(nums("two dozen kids"), [24.0]);
        assert_eq!(nums("half a dozen kids"), [6.0]);
        assert_eq!(nums("2 dozen kids"), [24.0]);
        assert_eq!(nums("a couple dozen kids"), [24.0]);
        assert_eq!(nums("twenty-five guests"), [25.0]);
        assert_eq!(nums("twenty five guests"), [25.0]);
        assert_eq!(nums("a hundred and twenty people"), [120.0]);
        assert_eq!(nums("one hundred people"), [100.0]);
        assert_eq!(nums("one kid is gluten free"), Vec::<f64>::new());
        assert_eq!(nums("1,200 and 2.5"), [1200.0, 2.5]);
    }

    #[test]
    fn words_carry_their_stems() {
        let t = tokenize("princesses unicorns superheroes party art");
        let stems: Vec<&str> = t.iter().map(|t| t.stem.as_ref()).collect();
        assert_eq!(
            stems,
            ["princess", "unicorn", "superhero", "parti", "art", ""]
        );
    }

    #[test]
    fn offsets_point_into_the_text() {
        let s = "for 30 kids, $500";
        for t in tokenize(s) {
            assert_eq!(&s[t.start..t.end()], t.text);
        }
    }
}
