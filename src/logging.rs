//! Logging to stderr for the binary: plain text (simplelog) or JSON lines
//! (`--log-format json`), the access log batched in both.
//!
//! Owns the log formats and the set-up of the global logger; decides
//! nothing about what is logged. Request-scoped lines (the access log,
//! errors while answering a request) carry `request_id` and `party_id` as
//! `log` key-values; the text format leaves them out (the access line names
//! the request id in its message), the JSON format makes them fields, and
//! an empty value means "not known" and is left out.
//!
//! The access log is written in batches (one `write` per batch rather than
//! per request, which was a tenth of the server's CPU under read load, with
//! the logger's lock held across each write), at most
//! [`ACCESS_LOG_FLUSH`] late; other lines are written at once, one `write`
//! each. Never panics on a bad record: a line that cannot be written is
//! dropped.

use std::fmt::Write as _;
use std::io::{BufWriter, LineWriter, Stderr, Write};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use log::kv::{self, Key, Value, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};

use crate::server::{ACCESS_LOG_TARGET, HTTP_LIBRARY_LOG_TARGET};

/// How long an access log line may wait in its buffer.
pub const ACCESS_LOG_FLUSH: Duration = Duration::from_millis(100);

/// The access log's buffer (written out when full, or by the flusher).
pub const ACCESS_LOG_BUFFER: usize = 64 * 1024;

/// The key-value naming a request's id.
pub const REQUEST_ID_KEY: &str = "request_id";

/// The key-value naming the party a request is about.
pub const PARTY_ID_KEY: &str = "party_id";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-12-03T13:00:00.123Z [INFO] message`, for people.
    #[default]
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `msg`, and
    /// `request_id` / `party_id` when known; for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// A logger was already installed in this process.
    #[error("a logger is already installed")]
    AlreadySet(#[from] log::SetLoggerError),
    /// The thread that flushes the access log did not start.
    #[error("starting the log flusher")]
    Flusher(#[source] std::io::Error),
}

/// Installs the process's logger at `level` in `format`, and the thread
/// that writes out the access log's batches.
pub fn init(level: LevelFilter, format: LogFormat) -> Result<(), LoggingError> {
    match format {
        LogFormat::Text => init_text(level)?,
        LogFormat::Json => {
            log::set_boxed_logger(Box::new(JsonLogger::new(level)))?;
            log::set_max_level(level);
        }
    }
    std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(|| loop {
            std::thread::sleep(ACCESS_LOG_FLUSH);
            log::logger().flush();
        })
        .map_err(LoggingError::Flusher)?;
    Ok(())
}

fn init_text(level: LevelFilter) -> Result<(), log::SetLoggerError> {
    let config = |access: bool| {
        let mut c = simplelog::ConfigBuilder::new();
        c.set_time_format_rfc3339()
            .set_thread_level(LevelFilter::Off)
            .set_target_level(LevelFilter::Off)
            .add_filter_ignore_str(HTTP_LIBRARY_LOG_TARGET);
        if access {
            c.add_filter_allow_str(ACCESS_LOG_TARGET);
        } else {
            c.add_filter_ignore_str(ACCESS_LOG_TARGET);
        }
        c.build()
    };
    // One write per line (simplelog writes a line in pieces).
    let stderr = LineWriter::new(std::io::stderr());
    // The access log: one write per batch, at most ACCESS_LOG_FLUSH late.
    let access = BufWriter::with_capacity(ACCESS_LOG_BUFFER, std::io::stderr());
    simplelog::CombinedLogger::init(vec![
        simplelog::WriteLogger::new(level, config(false), stderr),
        simplelog::WriteLogger::new(level, config(true), access),
    ])
}

/// The JSON lines logger: a line per record, written whole.
struct JsonLogger {
    /// Records above this are dropped.
    level: LevelFilter,
    /// Every line but the access log's, one `write` each.
    stderr: Mutex<Stderr>,
    /// The access log's batch.
    access: Mutex<BufWriter<Stderr>>,
}

impl JsonLogger {
    fn new(level: LevelFilter) -> JsonLogger {
        JsonLogger {
            level,
            stderr: Mutex::new(std::io::stderr()),
            access: Mutex::new(BufWriter::with_capacity(
                ACCESS_LOG_BUFFER,
                std::io::stderr(),
            )),
        }
    }
}

/// Whether `target` is `prefix` or inside it (`prefix::…`), as simplelog's
/// filters match.
fn under(target: &str, prefix: &str) -> bool {
    target.starts_with(prefix)
}

impl Log for JsonLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level && !under(metadata.target(), HTTP_LIBRARY_LOG_TARGET)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = json_line(record, SystemTime::now());
        // A poisoned lock only means another thread panicked mid-write:
        // keep logging.
        if under(record.target(), ACCESS_LOG_TARGET) {
            let mut w = self.access.lock().unwrap_or_else(|e| e.into_inner());
            let _ = w.write_all(line.as_bytes());
        } else {
            let mut w = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
            let _ = w.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        let mut w = self.access.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.flush();
    }
}

/// One record as a JSON object and a newline: `ts` (RFC 3339, UTC,
/// milliseconds), `level` (lowercase), `target`, `msg`, in that order, then
/// the record's key-values (strings, numbers and booleans as such, anything
/// else as its text; empty strings left out; a key-value named like a
/// fixed field, or twice, is left out).
pub fn json_line(record: &Record<'_>, at: SystemTime) -> String {
    let mut msg = String::new();
    let _ = write!(msg, "{}", record.args());
    let mut line = String::with_capacity(96 + msg.len());
    line.push('{');
    push_field(
        &mut line,
        "ts",
        &humantime::format_rfc3339_millis(at).to_string().into(),
    );
    push_field(
        &mut line,
        "level",
        &record.level().as_str().to_ascii_lowercase().into(),
    );
    push_field(&mut line, "target", &record.target().into());
    push_field(&mut line, "msg", &msg.into());
    let mut pairs = Pairs {
        line: &mut line,
        seen: Vec::new(),
    };
    let _ = record.key_values().visit(&mut pairs);
    line.push_str("}\n");
    line
}

/// Appends `"key":value` to an object being written (a comma first unless
/// it is the first field).
fn push_field(line: &mut String, key: &str, value: &serde_json::Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    // Writing JSON to a String cannot fail; an unwritable value is left out.
    if let (Ok(k), Ok(v)) = (serde_json::to_string(key), serde_json::to_string(value)) {
        line.push_str(&k);
        line.push(':');
        line.push_str(&v);
    }
}

/// Appends key-values to the line.
struct Pairs<'a> {
    line: &'a mut String,
    /// Keys written so far (a record has a handful).
    seen: Vec<String>,
}

impl<'kvs> VisitSource<'kvs> for Pairs<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        let key = key.as_str();
        if matches!(key, "ts" | "level" | "target" | "msg") || self.seen.iter().any(|k| k == key) {
            return Ok(());
        }
        let v: serde_json::Value = if let Some(s) = value.to_borrowed_str() {
            if s.is_empty() {
                return Ok(());
            }
            s.into()
        } else if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else if let Some(x) = value.to_f64() {
            x.into()
        } else {
            value.to_string().into()
        };
        push_field(self.line, key, &v);
        self.seen.push(key.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(record: &Record<'_>) -> serde_json::Value {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_766_800_123);
        let line = json_line(record, at);
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        serde_json::from_str(&line).expect("one JSON object")
    }

    #[test]
    fn a_line_has_time_level_target_and_message() {
        let v = line_of(
            &Record::builder()
                .args(format_args!("ready on {}", "127.0.0.1:9000"))
                .level(log::Level::Info)
                .target("partybus")
                .build(),
        );
        assert_eq!(
            v,
            serde_json::json!({
                "ts": "2025-12-03T13:00:00.123Z",
                "level": "info",
                "target": "partybus",
                "msg": "ready on 127.0.0.1:9000",
            })
        );
    }

    #[test]
    fn request_fields_come_from_key_values_and_are_escaped() {
        let kvs: &[(&str, &str)] = &[
            (REQUEST_ID_KEY, "abc"),
            (PARTY_ID_KEY, "p\"1\n"),
            ("msg", "cannot replace the message"),
        ];
        let v = line_of(
            &Record::builder()
                .args(format_args!("GET /x \"quoted\"\n{}", '\u{7}'))
                .level(log::Level::Warn)
                .target(ACCESS_LOG_TARGET)
                .key_values(&kvs)
                .build(),
        );
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["party_id"], "p\"1\n");
        assert_eq!(v["msg"], "GET /x \"quoted\"\n\u{7}");
        assert_eq!(v["level"], "warn");
    }

    #[test]
    fn unknown_fields_are_left_out_and_numbers_stay_numbers() {
        let kvs: &[(&str, u64)] = &[("status", 200)];
        let v = line_of(
            &Record::builder()
                .args(format_args!("x"))
                .key_values(&kvs)
                .build(),
        );
        assert_eq!(v["status"], 200);
        let empty: &[(&str, &str)] = &[(PARTY_ID_KEY, "")];
        let v = line_of(
            &Record::builder()
                .args(format_args!("x"))
                .key_values(&empty)
                .build(),
        );
        assert!(v.get(PARTY_ID_KEY).is_none(), "{v}");
    }

    #[test]
    fn fields_come_in_a_fixed_order() {
        let kvs: &[(&str, &str)] = &[(REQUEST_ID_KEY, "abc"), (REQUEST_ID_KEY, "again")];
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_766_800_123);
        let line = json_line(
            &Record::builder()
                .args(format_args!("hi"))
                .level(log::Level::Error)
                .target("t")
                .key_values(&kvs)
                .build(),
            at,
        );
        assert_eq!(
            line,
            "{\"ts\":\"2025-12-03T13:00:00.123Z\",\"level\":\"error\",\"target\":\"t\",\"msg\":\"hi\",\"request_id\":\"abc\"}\n"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!(" Text ".parse(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
