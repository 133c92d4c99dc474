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
//! WebSocket stream) records are always written in full.
//!
//! A journaled event cites records the same way, by a key instead of an
//! index ([`citing_journal`], [`resolving_journal`]): the key is the first 63
//! bits of the SHA-256 of the record's tagged JSON ([`Entry`]), so it names
//! one record version in any journal and in any process, and a record is
//! stored once per journal (its `records` table) however many events cite
//! it. Encoding registers each cited record once in a process-wide
//! [`Registry`] (bounded: past [`MAX_JOURNAL_RECORDS`] records are written in
//! full); each journal stores the registry's new records in the transaction
//! of the next batch it appends ([`JournalRecords::unstored`]), so a stored
//! event never cites a record its journal lacks. A journal's records are
//! immutable: a changed catalog record is another version with another key,
//! and old events keep resolving to the version they were planned with.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// Records a process registers for journal citations, at most; later ones
/// are written in full. A catalog holds a few hundred records; this leaves
/// room for many catalog changes in one process (a few MB at most).
pub(crate) const MAX_JOURNAL_RECORDS: usize = 16_384;

/// One record of a snapshot's record table (or of a journal's `records`
/// table), tagged with its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let entries = entries.into_iter().map(Entry::interned).collect();
        Ok(RecordTable { entries })
    }
}

/// Where records are cited while encoding (the innermost scope wins).
#[derive(Clone)]
enum Citing {
    /// Into one snapshot's table, by index.
    Snapshot(Arc<Citations>),
    /// Into the process's [`Registry`], by key (a journaled event).
    Journal,
}

/// Where citations are resolved while decoding (the innermost scope wins).
#[derive(Clone)]
enum Resolving {
    /// A snapshot's table, by index.
    Snapshot(Arc<RecordTable>),
    /// A journal's records, by key.
    Journal(Arc<JournalRecords>),
}

thread_local! {
    static CITING: RefCell<Option<Citing>> = const { RefCell::new(None) };
    static RESOLVING: RefCell<Option<Resolving>> = const { RefCell::new(None) };
}

/// Runs `f` (which encodes snapshot rows) with records cited into `into`.
pub(crate) fn citing<R>(into: &Arc<Citations>, f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(&CITING, Citing::Snapshot(into.clone()));
    f()
}

/// Runs `f` (which encodes snapshot rows) with references resolved in `table`.
pub(crate) fn resolving<R>(table: &Arc<RecordTable>, f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(&RESOLVING, Resolving::Snapshot(table.clone()));
    f()
}

/// Runs `f` (which encodes an event for the journal) with records cited by
/// key, registered in the process's [`Registry`].
pub(crate) fn citing_journal<R>(f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(&CITING, Citing::Journal);
    f()
}

/// Runs `f` (which decodes stored events) with keys resolved in `records`.
pub(crate) fn resolving_journal<R>(records: &Arc<JournalRecords>, f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(&RESOLVING, Resolving::Journal(records.clone()));
    f()
}

/// Sets a thread-local for as long as it lives and restores the previous
/// value on drop, even if the closure panics: a pool thread that unwound
/// out of a snapshot must not keep citing in later work.
struct Scope<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    previous: Option<T>,
}

impl<T: 'static> Scope<T> {
    fn enter(key: &'static std::thread::LocalKey<RefCell<Option<T>>>, value: T) -> Self {
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

/// The reference citing `record`, when called inside [`citing`] (an index
/// into the snapshot's table) or [`citing_journal`] (a key); `None`
/// outside them, or when the journal registry is full.
pub(crate) fn cite<T: Record>(record: &Arc<T>) -> Option<u64> {
    let citing = CITING.with(|c| c.borrow().clone())?;
    let into = match citing {
        Citing::Journal => return registry().cite(record),
        Citing::Snapshot(into) => into,
    };
    let mut inner = into.inner.lock().unwrap_or_else(|e| e.into_inner());
    let key = Arc::as_ptr(record) as usize;
    if let Some(n) = inner.0.get(&key) {
        return Some(u64::from(*n));
    }
    let n = u32::try_from(inner.1.len()).ok()?;
    inner.1.push(T::entry(record));
    inner.0.insert(key, n);
    Some(u64::from(n))
}

/// The record `n` cites in the scope set by [`resolving`] (an index) or
/// [`resolving_journal`] (a key).
pub(crate) fn resolve<T: Record>(n: u64) -> Result<Arc<T>, String> {
    let resolving = RESOLVING.with(|c| c.borrow().clone());
    let entry = match resolving {
        None => return Err(format!("record_ref {n} outside a snapshot or journal")),
        Some(Resolving::Snapshot(table)) => usize::try_from(n)
            .ok()
            .and_then(|i| table.entries.get(i))
            .cloned()
            .ok_or_else(|| format!("record_ref {n} is not in the snapshot's record table"))?,
        Some(Resolving::Journal(records)) => records
            .get(n)
            .ok_or_else(|| format!("record_ref {n} is not in the journal's records"))?,
    };
    T::of_entry(&entry)
        .cloned()
        .ok_or_else(|| format!("record_ref {n} is a record of another kind"))
}

/// The key of a record in any journal: the first 63 bits of the SHA-256 of
/// its tagged JSON (63, so it is a positive SQLite integer).
fn record_key(json: &str) -> u64 {
    let digest = Sha256::digest(json.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 1
}

/// A record registered for journal citations.
#[derive(Clone)]
pub(crate) struct Registered {
    /// Its key.
    pub(crate) key: u64,
    /// The record (holding it keeps its address, the registry's fast key,
    /// from being reused).
    pub(crate) entry: Entry,
    /// Its tagged JSON, as a journal's `records` table stores it.
    pub(crate) json: Arc<str>,
}

/// The records cited by journaled events in this process, each once, in
/// the order they were first cited (journals store them in that order).
#[derive(Default)]
pub(crate) struct Registry {
    inner: RwLock<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    /// Key by the address of a shared copy (held in `log` or `aliases`).
    by_ptr: FxHashMap<usize, u64>,
    /// Index into `log` by key.
    by_key: FxHashMap<u64, usize>,
    /// Every registered record, append-only.
    log: Vec<Registered>,
    /// Other shared copies of registered records, held for their address.
    aliases: Vec<Entry>,
}

/// The process's registry.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, RegistryInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RegistryInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key of `record`, registering it if it is new; `None` if the
    /// registry is full (or, in theory, another record has its key).
    fn cite<T: Record>(&self, record: &Arc<T>) -> Option<u64> {
        let ptr = Arc::as_ptr(record) as usize;
        if let Some(key) = self.read().by_ptr.get(&ptr) {
            return Some(*key);
        }
        let entry = T::entry(record);
        let json: Arc<str> = serde_json::to_string(&entry).ok()?.into();
        self.register(Registered {
            key: record_key(&json),
            entry,
            json,
        })
    }

    /// Adds `r` (or, when an equal record is registered, `r`'s address as
    /// an alias of it). Returns the key that now names `r`'s record, `None`
    /// if the registry is full or holds another record under `r`'s key.
    fn register(&self, r: Registered) -> Option<u64> {
        let mut inner = self.write();
        let ptr = r.entry.ptr();
        if let Some(key) = inner.by_ptr.get(&ptr) {
            return Some(*key);
        }
        match inner.by_key.get(&r.key) {
            Some(&i) => {
                if inner.log[i].json != r.json || inner.aliases.len() >= MAX_JOURNAL_RECORDS {
                    return None;
                }
                inner.by_ptr.insert(ptr, r.key);
                inner.aliases.push(r.entry);
            }
            None => {
                if inner.log.len() >= MAX_JOURNAL_RECORDS {
                    return None;
                }
                let i = inner.log.len();
                inner.by_ptr.insert(ptr, r.key);
                inner.by_key.insert(r.key, i);
                inner.log.push(r);
            }
        }
        inner.by_ptr.get(&ptr).copied()
    }

    /// Records registered, in order, from the `from`-th on.
    fn since(&self, from: usize) -> Vec<Registered> {
        let inner = self.read();
        inner.log.get(from..).map_or_else(Vec::new, <[_]>::to_vec)
    }

    /// Records registered so far.
    fn len(&self) -> usize {
        self.read().log.len()
    }
}

impl Entry {
    /// The address of the shared copy.
    fn ptr(&self) -> usize {
        match self {
            Entry::Venue(r) => Arc::as_ptr(r) as usize,
            Entry::Bakery(r) => Arc::as_ptr(r) as usize,
            Entry::Caterer(r) => Arc::as_ptr(r) as usize,
            Entry::Vendor(r) => Arc::as_ptr(r) as usize,
        }
    }

    /// The shared copy of this record (see [`intern`]).
    fn interned(self) -> Entry {
        match self {
            Entry::Venue(r) => Entry::Venue(intern(Arc::unwrap_or_clone(r))),
            Entry::Bakery(r) => Entry::Bakery(intern(Arc::unwrap_or_clone(r))),
            Entry::Caterer(r) => Entry::Caterer(intern(Arc::unwrap_or_clone(r))),
            Entry::Vendor(r) => Entry::Vendor(intern(Arc::unwrap_or_clone(r))),
        }
    }
}

/// The records one journal holds (its `records` table), by key, and how far
/// it has stored the process's [`Registry`].
pub(crate) struct JournalRecords {
    /// Every record the journal's events may cite.
    by_key: RwLock<FxHashMap<u64, Entry>>,
    /// Registry records `0..stored` are in the journal (or were found
    /// there). Moved by the journal's one writer only.
    stored: Mutex<usize>,
}

/// A record of a journal's `records` table that does not decode, or whose
/// key is not its content's.
#[derive(Debug, thiserror::Error)]
#[error("journal record {key}: {reason}")]
pub(crate) struct BadRecord {
    /// The row's key.
    pub(crate) key: i64,
    /// What is wrong.
    pub(crate) reason: String,
}

impl JournalRecords {
    /// Records read back from a journal's `records` table (`(key, json)`
    /// rows); each is interned, and registered so this process cites it by
    /// the same key.
    pub(crate) fn load<'a>(
        rows: impl IntoIterator<Item = (i64, &'a str)>,
    ) -> Result<JournalRecords, BadRecord> {
        let mut by_key = FxHashMap::default();
        for (key, json) in rows {
            let bad = |reason: String| BadRecord { key, reason };
            let entry: Entry = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
            let k = u64::try_from(key).map_err(|_| bad("negative key".into()))?;
            if record_key(json) != k {
                return Err(bad("the key is not its content's".into()));
            }
            let entry = entry.interned();
            registry().register(Registered {
                key: k,
                entry: entry.clone(),
                json: json.into(),
            });
            by_key.insert(k, entry);
        }
        Ok(JournalRecords {
            by_key: RwLock::new(by_key),
            stored: Mutex::new(0),
        })
    }

    /// An empty set (a new journal, or one written before events cited
    /// records).
    pub(crate) fn empty() -> JournalRecords {
        JournalRecords {
            by_key: RwLock::new(FxHashMap::default()),
            stored: Mutex::new(0),
        }
    }

    /// The record with key `key`.
    fn get(&self, key: u64) -> Option<Entry> {
        self.by_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    /// Records held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_key.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The registry's records this journal lacks (to store with the next
    /// batch) and the registry position they reach; `Err` names a key
    /// whose record differs from the one this journal holds under it.
    /// Cheap when nothing is new: one lock each.
    pub(crate) fn unstored(&self) -> Result<(Vec<Registered>, usize), u64> {
        let stored = *self.stored.lock().unwrap_or_else(|e| e.into_inner());
        let reg = registry();
        if reg.len() <= stored {
            return Ok((Vec::new(), stored));
        }
        let new = reg.since(stored);
        let upto = stored + new.len();
        let by_key = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(new.len());
        for r in new {
            match by_key.get(&r.key) {
                Some(held) if *held == r.entry => {}
                Some(_) => return Err(r.key),
                None => out.push(r),
            }
        }
        Ok((out, upto))
    }

    /// The records of [`JournalRecords::unstored`] were committed.
    pub(crate) fn mark_stored(&self, records: Vec<Registered>, upto: usize) {
        let mut by_key = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        for r in records {
            by_key.insert(r.key, r.entry);
        }
        drop(by_key);
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        *stored = (*stored).max(upto);
    }
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

    #[test]
    fn journal_citations_are_keyed_by_content_and_resolve_in_the_journal() {
        let catalog = Catalog::embedded();
        let venue = catalog.venues[2].clone();
        assert_eq!(cite(&venue), None, "outside a scope records are inline");
        let key = citing_journal(|| cite(&venue)).expect("cited");
        // The same record in another allocation (a catalog loaded again)
        // has the same key; a changed one has another.
        let copy = Arc::new(venue.as_ref().clone());
        assert_eq!(citing_journal(|| cite(&copy)), Some(key));
        let mut changed = venue.as_ref().clone();
        changed.name.push_str(" (renamed)");
        let changed = Arc::new(changed);
        let other = citing_journal(|| cite(&changed)).expect("cited");
        assert_ne!(other, key);
        let json = serde_json::to_string(&Entry::Venue(venue.clone())).unwrap();
        assert_eq!(key, record_key(&json));
        assert!(key < 1 << 63);
        // A snapshot scope inside a journal scope cites by index.
        let citations = Arc::new(Citations::default());
        let inner = citing_journal(|| citing(&citations, || cite(&venue)));
        assert_eq!(inner, Some(0));

        // A journal learns the registry's records, stores them, and then
        // resolves their keys; before that it does not.
        let records = Arc::new(JournalRecords::empty());
        let unresolved = resolving_journal(&records, || resolve::<Venue>(key));
        assert!(unresolved.unwrap_err().contains("not in the journal"));
        let (new, upto) = records.unstored().expect("no conflict");
        assert!(new.iter().any(|r| r.key == key) && new.iter().any(|r| r.key == other));
        records.mark_stored(new, upto);
        assert_eq!(records.unstored().expect("nothing new").0.len(), 0);
        resolving_journal(&records, || {
            assert_eq!(*resolve::<Venue>(key).unwrap(), *venue);
            assert_eq!(*resolve::<Venue>(other).unwrap(), *changed);
            assert!(resolve::<Bakery>(key).unwrap_err().contains("another kind"));
        });

        // Read back from a table, records are checked against their keys,
        // interned, and keep their keys.
        let loaded = JournalRecords::load([(key as i64, json.as_str())]).expect("load");
        assert_eq!(loaded.len(), 1);
        let loaded = Arc::new(loaded);
        let back = resolving_journal(&loaded, || resolve::<Venue>(key)).unwrap();
        assert_eq!(*back, *venue);
        assert!(Arc::ptr_eq(&back, &intern(venue.as_ref().clone())));
        assert!(JournalRecords::load([(key as i64 ^ 1, json.as_str())]).is_err());
        assert!(JournalRecords::load([(key as i64, "{\"venue\": 1}")]).is_err());
    }
}
