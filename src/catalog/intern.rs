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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::{Bakery, Caterer, Vendor, Venue};

/// Record ids remembered per type.
pub const MAX_IDS: usize = 16_384;

/// Distinct versions remembered per id (catalogs that changed over time).
pub const MAX_VERSIONS: usize = 4;

/// A catalog record type whose decoded copies are shared.
pub trait Record: PartialEq + Sized + 'static {
    /// The record's id, unique within its type in one catalog.
    fn record_id(&self) -> u32;
    /// The table for this type.
    fn table() -> &'static Table<Self>;
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
pub fn intern<T: Record>(record: T) -> Arc<T> {
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
    ($t:ty) => {
        impl Record for $t {
            fn record_id(&self) -> u32 {
                self.id
            }
            fn table() -> &'static Table<Self> {
                static TABLE: OnceLock<Table<$t>> = OnceLock::new();
                TABLE.get_or_init(Table::new)
            }
        }
    };
}

record!(Venue);
record!(Bakery);
record!(Caterer);
record!(Vendor);

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
}
