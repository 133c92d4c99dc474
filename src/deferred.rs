//! [`Deferred`]: a party's result that may still be the JSON a compaction
//! snapshot stored, decoded the first time something reads it.
//!
//! Start-up restores every party from the snapshot, but most parties are not
//! read again soon after; decoding every agent result, budget and plan up
//! front was most of start-up's time and memory. This module owns only the
//! slot and its decode-once rule. It must not know the snapshot format (the
//! caller hands it the JSON and the record table the JSON cites) or do I/O.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::catalog::intern::{self, RecordTable};

/// A type a [`Deferred`] can decode from snapshot JSON.
pub trait FromSnapshot: Sized + Send + Sync + 'static {
    /// What decoding needs besides the JSON (for an agent result: which agent).
    type Ctx: Copy + fmt::Debug + Send + Sync + 'static;

    /// Decodes the value (catalog records it cites are resolved by the caller).
    fn from_snapshot(ctx: Self::Ctx, json: &str) -> Result<Self, serde_json::Error>;
}

/// An optional shared value (like `Option<Arc<T>>`), which may be held as
/// snapshot JSON until first read.
///
/// Clones share the JSON and the decoded value: a party copied on its next
/// event decodes each result at most once. Reading decodes under the record
/// table the snapshot's rows cite. JSON that does not decode (a file edited
/// by hand, or written by a build with another schema) is logged with the
/// party it belongs to and reads as absent.
pub struct Deferred<T: FromSnapshot>(Slot<T>);

enum Slot<T: FromSnapshot> {
    Absent,
    Ready(Arc<T>),
    Raw(Arc<Raw<T>>),
}

struct Raw<T: FromSnapshot> {
    /// The JSON, until it is decoded (then freed).
    json: Mutex<Option<Box<str>>>,
    ctx: T::Ctx,
    table: Arc<RecordTable>,
    party: Arc<str>,
    decoded: OnceLock<Option<Arc<T>>>,
}

impl<T: FromSnapshot> Deferred<T> {
    /// No value.
    pub const fn absent() -> Deferred<T> {
        Deferred(Slot::Absent)
    }

    /// A decoded value.
    pub fn ready(value: Arc<T>) -> Deferred<T> {
        Deferred(Slot::Ready(value))
    }

    /// `json`, decoded on first read with `ctx` under `table`; `party` names
    /// the party in a decoding error.
    pub fn raw(json: &str, ctx: T::Ctx, table: Arc<RecordTable>, party: Arc<str>) -> Deferred<T> {
        Deferred(Slot::Raw(Arc::new(Raw {
            json: Mutex::new(Some(json.into())),
            ctx,
            table,
            party,
            decoded: OnceLock::new(),
        })))
    }

    /// The value, decoding it first if it is still JSON.
    pub fn get(&self) -> Option<&Arc<T>> {
        match &self.0 {
            Slot::Absent => None,
            Slot::Ready(v) => Some(v),
            Slot::Raw(raw) => raw.decoded.get_or_init(|| raw.decode()).as_ref(),
        }
    }

    /// The value by reference.
    pub fn as_deref(&self) -> Option<&T> {
        self.get().map(|v| &**v)
    }

    /// Whether there is a value (still-undecoded JSON counts, without
    /// decoding it).
    pub fn is_some(&self) -> bool {
        !matches!(self.0, Slot::Absent)
    }

    /// Whether there is no value.
    pub fn is_none(&self) -> bool {
        !self.is_some()
    }

    /// Whether the value is still undecoded JSON.
    pub fn is_pending(&self) -> bool {
        matches!(&self.0, Slot::Raw(raw) if raw.decoded.get().is_none())
    }
}

impl<T: FromSnapshot> Raw<T> {
    fn decode(&self) -> Option<Arc<T>> {
        let json = self.json.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        match intern::resolving(&self.table, || T::from_snapshot(self.ctx, &json)) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                log::error!(
                    "party {}: the snapshot's {} ({:?}) does not decode, so it reads as absent: {e}",
                    self.party,
                    std::any::type_name::<T>().rsplit("::").next().unwrap_or("value"),
                    self.ctx,
                );
                None
            }
        }
    }
}

impl<T: FromSnapshot> Default for Deferred<T> {
    fn default() -> Self {
        Deferred::absent()
    }
}

impl<T: FromSnapshot> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        Deferred(match &self.0 {
            Slot::Absent => Slot::Absent,
            Slot::Ready(v) => Slot::Ready(v.clone()),
            Slot::Raw(raw) => Slot::Raw(raw.clone()),
        })
    }
}

impl<T: FromSnapshot> From<Option<Arc<T>>> for Deferred<T> {
    fn from(v: Option<Arc<T>>) -> Self {
        v.map_or_else(Deferred::absent, Deferred::ready)
    }
}

impl<T: FromSnapshot + PartialEq> PartialEq for Deferred<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_deref() == other.as_deref()
    }
}

impl<T: FromSnapshot + fmt::Debug> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_deref().fmt(f)
    }
}

/// Written as `Option<T>` is: the value, or `null`.
impl<T: FromSnapshot + Serialize> Serialize for Deferred<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_deref().serialize(s)
    }
}

/// Read as `Option<T>` is, decoded at once.
impl<'de, T: FromSnapshot + Deserialize<'de>> Deserialize<'de> for Deferred<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<Arc<T>>::deserialize(d)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DECODES: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
    }

    impl FromSnapshot for Note {
        type Ctx = u8;
        fn from_snapshot(ctx: u8, json: &str) -> Result<Self, serde_json::Error> {
            DECODES.fetch_add(1, Ordering::SeqCst);
            let mut n: Note = serde_json::from_str(json)?;
            n.text.push_str(&format!("/{ctx}"));
            Ok(n)
        }
    }

    fn raw(json: &str) -> Deferred<Note> {
        Deferred::raw(json, 7, Arc::default(), "p1".into())
    }

    #[test]
    fn raw_json_decodes_once_on_first_read_and_clones_share_it() {
        let before = DECODES.load(Ordering::SeqCst);
        let a = raw(r#"{"text":"hi"}"#);
        let b = a.clone();
        assert!(a.is_some() && a.is_pending());
        assert_eq!(
            DECODES.load(Ordering::SeqCst),
            before,
            "no decode before a read"
        );
        assert_eq!(b.as_deref().map(|n| n.text.as_str()), Some("hi/7"));
        assert!(!a.is_pending());
        assert!(Arc::ptr_eq(a.get().unwrap(), b.get().unwrap()));
        assert_eq!(DECODES.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn undecodable_json_reads_as_absent_but_counts_as_present_until_read() {
        let d = raw(r#"{"txt":1}"#);
        assert!(d.is_some());
        assert!(d.get().is_none());
        assert!(d.get().is_none(), "a failed decode is not retried");
    }

    #[test]
    fn serializes_and_compares_as_option() {
        let ready = Deferred::ready(Arc::new(Note { text: "x/7".into() }));
        let pending = raw(r#"{"text":"x"}"#);
        assert_eq!(ready, pending);
        assert_eq!(
            serde_json::to_string(&pending).unwrap(),
            r#"{"text":"x/7"}"#
        );
        let none: Deferred<Note> = Deferred::absent();
        assert_eq!(serde_json::to_string(&none).unwrap(), "null");
        let back: Deferred<Note> = serde_json::from_str(r#"{"text":"y"}"#).unwrap();
        assert_eq!(back.as_deref().map(|n| n.text.as_str()), Some("y"));
        let back: Deferred<Note> = serde_json::from_str("null").unwrap();
        assert!(back.is_none());
    }
}
