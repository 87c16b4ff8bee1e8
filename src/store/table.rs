//! The messages of an open folder as one session holds them: a row of 24 bytes per
//! message and no heap object per message. File names stay in the mapped folder index
//! (see [`super::index`]) until a message is renamed or arrives after the index was
//! written; only those names are owned by the session. Keywords are kept only for the
//! messages that have some.

use hashbrown::HashTable;
// Keys are file names from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap};
use std::hash::BuildHasher;

use super::Flags;
use super::filename::split_info;
use super::index::Mapped;

/// The file is in new/ (a read-only view lists new/ without moving anything).
pub(super) const IN_NEW: u8 = 1;
/// The file vanished; the expunge is not reported yet.
pub(super) const GONE: u8 = 2;
/// \Recent in this session.
pub(super) const RECENT: u8 = 4;
/// Set in [`Row::name`] for a name in `own` rather than in the index.
const OWN: u32 = 1 << 31;
const NO_RECORD: u32 = u32::MAX;
/// What [`Table::file_name`] gives for an index record whose name is damaged.
const DAMAGED_NAME: &str = ".damaged-index-name";

#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub uid: u32,
    /// Index record number, or `OWN | n` for `own[n]`.
    name: u32,
    /// The index record this message came from (for what it knows: sizes, dates).
    pub record: u32,
    pub size: u64,
    pub flags: Flags,
    pub state: u8,
}

impl Row {
    pub fn has(&self, bit: u8) -> bool {
        self.state & bit != 0
    }

    /// What the folder index knew of this message.
    pub fn record_in(&self, base: Option<&Mapped>) -> Option<super::index::Record> {
        (self.record != NO_RECORD).then(|| base.map(|b| b.record(self.record as usize)))?
    }

    pub fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.state |= bit;
        } else {
            self.state &= !bit;
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Table {
    base: Option<Mapped>,
    rows: Vec<Row>,
    own: Vec<Box<str>>,
    /// Basename -> row, built on first need and dropped when rows move.
    lookup: Option<HashTable<u32>>,
    /// Keywords by UID, only for messages that have some.
    keywords: HashMap<u32, Vec<String>>,
}

static NO_KEYWORDS: Vec<String> = Vec::new();

fn hash(basename: &str) -> u64 {
    FxBuildHasher.hash_one(basename)
}

impl Table {
    /// The rows of a mapped index, when every record is sound: UIDs ascending and below
    /// UIDNEXT, names that are file names. `None` sends the caller to a full scan.
    pub fn from_index(base: Mapped) -> Option<Table> {
        if !base.names_valid() {
            return None;
        }
        let mut rows = Vec::with_capacity(base.len());
        let mut last = 0;
        for i in 0..base.len() {
            let r = base.record(i);
            if r.uid <= last || r.uid >= base.uid_next() {
                return None;
            }
            last = r.uid;
            rows.push(Row {
                uid: r.uid,
                name: i as u32,
                record: i as u32,
                size: r.size,
                flags: r.flags,
                state: 0,
            });
        }
        // The rows are copied and the names checked: the pass touched the whole file.
        base.release_pages();
        Some(Table {
            base: Some(base),
            rows,
            ..Table::default()
        })
    }

    pub fn base(&self) -> Option<&Mapped> {
        self.base.as_ref()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn row_mut(&mut self, i: usize) -> &mut Row {
        &mut self.rows[i]
    }

    pub fn file_name(&self, i: usize) -> &str {
        let name = self.rows[i].name;
        if name & OWN != 0 {
            return &self.own[(name & !OWN) as usize];
        }
        // Checked by `from_index`; should the map change under us all the same, a name
        // no Maildir holds (dot files are not messages): the message reads as vanished.
        self.base
            .as_ref()
            .and_then(|b| b.file_name(name as usize))
            .unwrap_or(DAMAGED_NAME)
    }

    pub fn basename(&self, i: usize) -> &str {
        split_info(self.file_name(i)).0
    }

    /// The message's file is now called `file_name` (same basename).
    pub fn rename(&mut self, i: usize, file_name: String) {
        if self.file_name(i) == file_name {
            return;
        }
        let name = self.rows[i].name;
        if name & OWN != 0 {
            self.own[(name & !OWN) as usize] = file_name.into();
        } else {
            self.rows[i].name = OWN | self.own.len() as u32;
            self.own.push(file_name.into());
        }
    }

    /// Appends a message (UIDs must keep ascending, or [`Table::sort`] follows).
    pub fn push(&mut self, uid: u32, file_name: String, size: u64, flags: Flags, state: u8) {
        let at = self.rows.len() as u32;
        let h = hash(split_info(&file_name).0);
        self.rows.push(Row {
            uid,
            name: OWN | self.own.len() as u32,
            record: NO_RECORD,
            size,
            flags,
            state,
        });
        self.own.push(file_name.into());
        if let Some(mut lookup) = self.lookup.take() {
            lookup.insert_unique(h, at, |&r| hash(self.basename(r as usize)));
            self.lookup = Some(lookup);
        }
    }

    /// The row of the message with this basename.
    pub fn find(&mut self, basename: &str) -> Option<usize> {
        if self.lookup.is_none() {
            let mut lookup = HashTable::with_capacity(self.rows.len());
            for i in 0..self.rows.len() {
                lookup.insert_unique(hash(self.basename(i)), i as u32, |&r| {
                    hash(self.basename(r as usize))
                });
            }
            self.lookup = Some(lookup);
        }
        let lookup = self.lookup.as_ref().expect("just built");
        lookup
            .find(hash(basename), |&r| self.basename(r as usize) == basename)
            .map(|&r| r as usize)
    }

    /// Keeps the rows `keep` says yes to (in order); row numbers change.
    pub fn retain(&mut self, mut keep: impl FnMut(&Row) -> bool) {
        let keywords = &mut self.keywords;
        self.rows.retain(|r| {
            let k = keep(r);
            if !k {
                keywords.remove(&r.uid);
            }
            k
        });
        self.lookup = None;
    }

    /// Puts the rows in UID order (after a reconciliation added messages out of order).
    pub fn sort(&mut self) {
        if !self.rows.is_sorted_by_key(|r| r.uid) {
            self.rows.sort_by_key(|r| r.uid);
            self.lookup = None;
        }
    }

    pub fn keywords(&self, i: usize) -> &[String] {
        self.keywords.get(&self.rows[i].uid).unwrap_or(&NO_KEYWORDS)
    }

    pub fn set_keywords(&mut self, i: usize, keywords: Vec<String>) {
        let uid = self.rows[i].uid;
        if keywords.is_empty() {
            self.keywords.remove(&uid);
        } else {
            self.keywords.insert(uid, keywords);
        }
    }

    /// The rows that have keywords.
    pub fn with_keywords(&self) -> impl Iterator<Item = &Vec<String>> {
        self.keywords.values()
    }

    pub fn index_of_uid(&self, uid: u32) -> Option<usize> {
        self.rows.binary_search_by_key(&uid, |r| r.uid).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_lookup_and_retain() {
        let mut t = Table::default();
        t.push(1, "a:2,S".into(), 10, Flags::SEEN, 0);
        t.push(2, "b:2,".into(), 20, Flags::empty(), RECENT);
        assert_eq!(t.find("b"), Some(1));
        t.push(3, "c".into(), 30, Flags::empty(), IN_NEW);
        assert_eq!(t.find("c"), Some(2), "pushed after the lookup was built");
        t.rename(1, "b:2,T".into());
        assert_eq!((t.file_name(1), t.basename(1)), ("b:2,T", "b"));
        t.set_keywords(0, vec!["$Junk".into()]);
        t.retain(|r| r.uid != 2);
        assert_eq!(t.find("c"), Some(1));
        assert_eq!(t.find("b"), None);
        assert_eq!(t.keywords(0), ["$Junk".to_string()]);
        assert_eq!(std::mem::size_of::<Row>(), 24);
    }
}
