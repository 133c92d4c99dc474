//! Sharing decoded catalog records. Agents rank records the catalog holds
//! and keep an `Arc` to them ([`crate::domain::Scored`]), so a running
//! process stores each record once however many plans cite it. A result read
//! back from the journal or a snapshot decodes its records afresh; interning
//! them here makes every equal copy share one allocation again, so a restart
//! does not multiply memory (100,000 planned parties cite about 1.5 million
//! records, drawn from a catalog of a few hundred).
//!
//! Owns the per-type tables and nothing else. A record is shared only with
//! an *equal* one (same id and every field equal): a result planned against
//! an older catalog keeps its own copy. Bounded ([`MAX_IDS`] ids of
//! [`MAX_VERSIONS`] versions per type); beyond that copies stay separate.
//!
//! # Citing by reference
//! A compaction snapshot cites each record once: while a row is encoded
//! inside [`citing`], a [`crate::domain::Scored`] writes `record_ref` (an
//! index into the snapshot's [`Citations`]) instead of the record's fields,
//! and while a row is decoded inside [`resolving`], a `record_ref` is looked
//! up in the snapshot's [`RecordTable`]. Outside those scopes (the API, the
//! journal's events) records are always written in full.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::{Bakery, Caterer, Vendor, Venue};

/// Record ids remembered per type.
pub(crate) const MAX_IDS: usize = 16_384;

/// Distinct versions remembered per id (catalogs that changed over time).
pub(crate) const MAX_VERSIONS: usize = 4;

/// A catalog record type whose decoded copies are shared.
pub trait Record: PartialEq + Sized + 'static {
    /// The record's id, unique within its type in one catalog.
    fn record_id(&self) -> u32;
    /// The table for this type.
    fn table() -> &'static Table<Self>;
    /// The record as an entry of a snapshot's record table.
    fn entry(record: &Arc<Self>) -> Entry;
    /// The record in `entry`, if it is of this type.
    fn of_entry(entry: &Entry) -> Option<&Arc<Self>>;
}

/// One record of a snapshot's record table, tagged with its type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// A venue.
    Venue(Arc<Venue>),
    /// A bakery.
    Bakery(Arc<Bakery>),
    /// A caterer.
    Caterer(Arc<Caterer>),
    /// A vendor.
    Vendor(Arc<Vendor>),
}

/// The records cited while encoding one snapshot (shared by the threads
/// encoding its rows), each once, by the address of its shared copy.
#[derive(Default)]
pub(crate) struct Citations {
    inner: Mutex<(HashMap<usize, u32>, Vec<Entry>)>,
}

impl Citations {
    /// The record table to store beside the rows (a JSON array of entries).
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_vec(&inner.1)
    }

    /// Records cited so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).1.len()
    }
}

/// A snapshot's record table, as read back.
#[derive(Debug, Default)]
pub struct RecordTable {
    entries: Vec<Entry>,
}

impl RecordTable {
    /// Decodes a table written by [`Citations::to_json`]; records are
    /// interned.
    pub fn from_json(json: &[u8]) -> Result<RecordTable, serde_json::Error> {
        let entries: Vec<Entry> = serde_json::from_slice(json)?;
        let entries = entries
            .into_iter()
            .map(|e| match e {
                Entry::Venue(r) => Entry::Venue(intern(Arc::unwrap_or_clone(r))),
                Entry::Bakery(r) => Entry::Bakery(intern(Arc::unwrap_or_clone(r))),
                Entry::Caterer(r) => Entry::Caterer(intern(Arc::unwrap_or_clone(r))),
                Entry::Vendor(r) => Entry::Vendor(intern(Arc::unwrap_or_clone(r))),
            })
            .collect();
        Ok(RecordTable { entries })
    }
}

thread_local! {
    static CITING: RefCell<Option<Arc<Citations>>> = const { RefCell::new(None) };
    static RESOLVING: RefCell<Option<Arc<RecordTable>>> = const { RefCell::new(None) };
}

/// Runs `f` (which encodes snapshot rows) with records cited into `into`.
pub(crate) fn citing<R>(into: &Arc<Citations>, f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(&CITING, into.clone());
    f()
}

/// Runs `f` (which decodes snapshot rows) with references resolved in `table`.
pub(crate) fn resolving<R>(table: &Arc<RecordTable>, f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(&RESOLVING, table.clone());
    f()
}

/// Sets a thread-local for as long as it lives and restores the previous
/// value on drop, even if the closure panics: a pool thread that unwound
/// out of a snapshot must not keep citing in later work.
struct Scope<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<Arc<T>>>>,
    previous: Option<Arc<T>>,
}

impl<T: 'static> Scope<T> {
    fn enter(key: &'static std::thread::LocalKey<RefCell<Option<Arc<T>>>>, value: Arc<T>) -> Self {
        let previous = key.with(|c| c.replace(Some(value)));
        Scope { key, previous }
    }
}

impl<T: 'static> Drop for Scope<T> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        self.key.with(|c| *c.borrow_mut() = previous);
    }
}

/// The index citing `record`, when called inside [`citing`].
pub(crate) fn cite<T: Record>(record: &Arc<T>) -> Option<u32> {
    let into = CITING.with(|c| c.borrow().clone())?;
    let mut inner = into.inner.lock().unwrap_or_else(|e| e.into_inner());
    let key = Arc::as_ptr(record) as usize;
    if let Some(n) = inner.0.get(&key) {
        return Some(*n);
    }
    let n = u32::try_from(inner.1.len()).ok()?;
    inner.1.push(T::entry(record));
    inner.0.insert(key, n);
    Some(n)
}

/// The record `n` of the table set by [`resolving`].
pub(crate) fn resolve<T: Record>(n: u32) -> Result<Arc<T>, String> {
    RESOLVING.with(|c| {
        let table = c.borrow();
        let table = table
            .as_ref()
            .ok_or_else(|| format!("record_ref {n} outside a snapshot"))?;
        let entry = usize::try_from(n)
            .ok()
            .and_then(|i| table.entries.get(i))
            .ok_or_else(|| format!("record_ref {n} is not in the snapshot's record table"))?;
        T::of_entry(entry)
            .cloned()
            .ok_or_else(|| format!("record_ref {n} is a record of another kind"))
    })
}

/// Interned records of one type: by id, the equal copies seen so far (more
/// than one only when catalogs changed between plans).
pub struct Table<T> {
    by_id: Mutex<HashMap<u32, Vec<Arc<T>>>>,
}

impl<T: Record> Table<T> {
    fn new() -> Table<T> {
        Table {
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// Distinct records held.
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Vec<Arc<T>>>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The shared copy of `record`: an equal one seen before, else `record`
/// itself (kept for later copies while the table has room).
pub(crate) fn intern<T: Record>(record: T) -> Arc<T> {
    let mut map = T::table().lock();
    let id = record.record_id();
    if let Some(same) = map
        .get(&id)
        .and_then(|versions| versions.iter().find(|r| ***r == record))
    {
        return same.clone();
    }
    let record = Arc::new(record);
    let room = map.len() < MAX_IDS;
    match map.get_mut(&id) {
        Some(versions) if versions.len() < MAX_VERSIONS => versions.push(record.clone()),
        None if room => {
            map.insert(id, vec![record.clone()]);
        }
        _ => {}
    }
    record
}

macro_rules! record {
    ($t:ty, $variant:ident) => {
        impl Record for $t {
            fn record_id(&self) -> u32 {
                self.id
            }
            fn table() -> &'static Table<Self> {
                static TABLE: OnceLock<Table<$t>> = OnceLock::new();
                TABLE.get_or_init(Table::new)
            }
            fn entry(record: &Arc<Self>) -> Entry {
                Entry::$variant(record.clone())
            }
            fn of_entry(entry: &Entry) -> Option<&Arc<Self>> {
                match entry {
                    Entry::$variant(r) => Some(r),
                    _ => None,
                }
            }
        }
    };
}

record!(Venue, Venue);
record!(Bakery, Bakery);
record!(Caterer, Caterer);
record!(Vendor, Vendor);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn equal_records_share_one_allocation_and_different_ones_do_not() {
        let catalog = Catalog::embedded();
        let v = catalog.venues[0].as_ref().clone();
        let a = intern(v.clone());
        let b = intern(v.clone());
        assert!(Arc::ptr_eq(&a, &b));
        let mut changed = v;
        changed.name.push_str(" (renamed)");
        let c = intern(changed.clone());
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, changed);
        assert!(Arc::ptr_eq(&c, &intern(changed)));
    }

    #[test]
    fn records_are_cited_once_and_resolved_only_inside_a_snapshot() {
        let catalog = Catalog::embedded();
        let (venue, bakery) = (catalog.venues[1].clone(), catalog.bakeries[0].clone());
        assert_eq!(cite(&venue), None, "outside a snapshot records are inline");
        let citations = Arc::new(Citations::default());
        let refs = citing(&citations, || {
            [cite(&venue), cite(&bakery), cite(&venue)].map(Option::unwrap)
        });
        assert_eq!(refs, [0, 1, 0]);
        assert_eq!(citations.len(), 2);
        let table = Arc::new(RecordTable::from_json(&citations.to_json().unwrap()).unwrap());
        resolving(&table, || {
            assert_eq!(*resolve::<Venue>(0).unwrap(), *venue);
            assert_eq!(*resolve::<Bakery>(1).unwrap(), *bakery);
            assert!(resolve::<Bakery>(0).unwrap_err().contains("another kind"));
            assert!(resolve::<Venue>(7).unwrap_err().contains("not in"));
        });
        assert!(resolve::<Venue>(0).unwrap_err().contains("outside"));
        // A panic inside the scope does not leave the thread citing.
        let unwound = std::panic::catch_unwind(|| citing(&citations, || panic!("mid-row")));
        assert!(unwound.is_err());
        assert_eq!(cite(&venue), None);
    }
}
