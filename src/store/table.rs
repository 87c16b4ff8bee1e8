//! The messages of an open folder as one session holds them. The rows of the messages
//! in the mapped folder index (see [`super::index`]) are read from its records when asked
//! for, not copied: the session keeps only what it changed (a row it touched, in a sparse
//! map by row number), the rows that arrived after the index was written (a tail), and
//! the names of messages renamed or added since (`own`), and the index rows expunged
//! since (a short sorted list of record numbers). Opening a large settled folder thus
//! costs no per-message work or memory. Past [`MAX_REMOVED`] expunged index rows, or an
//! eighth of them changed, the rows become one owned list of 24 bytes per message, as
//! are rows without an index. Keywords are kept only for the messages that have some.

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
/// How many index rows may be expunged before the rows are owned (each mapped row's
/// record number is found past the removed ones, one by one).
const MAX_REMOVED: usize = 64;
/// Up to this many rows changed or added, [`Table::find`] looks among them before it
/// builds the lookup of every row.
const FEW_TOUCHED: usize = 64;
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

/// What [`Table::since_base`] finds.
#[derive(Debug)]
pub(super) struct SinceBase {
    /// Record numbers of the index's messages that are gone, ascending.
    pub gone: Vec<u32>,
    /// Records whose flags or file name changed, with their rows, ascending.
    pub changed: Vec<(u32, usize)>,
    /// The rows from here on are not in the index.
    pub added_from: usize,
}

#[derive(Debug, Default)]
pub(super) struct Table {
    base: Option<Mapped>,
    /// Rows `0..mapped` are the index's records in order, but the `removed` ones (and
    /// as `changed` has them); the rows after them are `tail`.
    mapped: usize,
    /// Record numbers of expunged index rows, ascending.
    removed: Vec<u32>,
    /// The mapped rows whose UID is this or above are \Recent (but those in `changed`).
    recent_from: u32,
    /// Mapped rows as this session changed them, by record number.
    changed: HashMap<u32, Row>,
    tail: Vec<Row>,
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
    /// UIDNEXT, names that are file names (checked once per index file, see
    /// [`Mapped::vouched`]; `vouch` records a check this open made). `None` sends the
    /// caller to a full scan.
    pub fn from_index(base: Mapped, folder_dir: &std::path::Path, vouch: bool) -> Option<Table> {
        if !base.vouched(folder_dir) {
            let sound = base.sound();
            // The check read the whole file; the session keeps none of it.
            base.release_pages();
            if !sound {
                return None;
            }
            if vouch {
                base.vouch(folder_dir);
            }
        }
        Some(Table {
            mapped: base.len(),
            recent_from: u32::MAX,
            base: Some(base),
            ..Table::default()
        })
    }

    pub fn base(&self) -> Option<&Mapped> {
        self.base.as_ref()
    }

    pub fn len(&self) -> usize {
        self.mapped + self.tail.len()
    }

    /// The record of mapped row `i`: `i` past the removed records before it.
    fn record_of(&self, i: usize) -> usize {
        let mut r = i;
        for &x in &self.removed {
            if x as usize <= r {
                r += 1;
            } else {
                break;
            }
        }
        r
    }

    /// The row of (unremoved) record `r`, or of the first unremoved one after it.
    fn row_of_record(&self, r: usize) -> usize {
        r - self.removed.partition_point(|&x| (x as usize) < r)
    }

    /// How many records the mapped rows are taken from (removed ones included).
    fn records(&self) -> usize {
        self.mapped + self.removed.len()
    }

    /// Record `i` as a row, as the index has it.
    fn mapped_row(&self, i: usize) -> Row {
        let r = self
            .base
            .as_ref()
            .expect("mapped rows come from an index")
            .record(i);
        Row {
            uid: r.uid,
            name: i as u32,
            record: i as u32,
            size: r.size,
            flags: r.flags,
            state: if r.uid >= self.recent_from { RECENT } else { 0 },
        }
    }

    /// Row `i` (`i < len()`).
    pub fn row(&self, i: usize) -> Row {
        if i < self.mapped {
            let r = self.record_of(i);
            match self.changed.get(&(r as u32)) {
                Some(row) => *row,
                None => self.mapped_row(r),
            }
        } else {
            self.tail[i - self.mapped]
        }
    }

    /// Every row, in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    pub fn last(&self) -> Option<Row> {
        self.len().checked_sub(1).map(|i| self.row(i))
    }

    pub fn row_mut(&mut self, i: usize) -> &mut Row {
        if i < self.mapped
            && !self.changed.contains_key(&(self.record_of(i) as u32))
            && self.changed.len() >= self.mapped / 8
        {
            // Past an eighth of the rows changed, owning them all costs less.
            self.materialize();
        }
        if i < self.mapped {
            let r = self.record_of(i) as u32;
            if !self.changed.contains_key(&r) {
                let row = self.mapped_row(r as usize);
                self.changed.insert(r, row);
            }
            self.changed.get_mut(&r).expect("just inserted")
        } else {
            &mut self.tail[i - self.mapped]
        }
    }

    /// The rows this session changed or added: where any state other than the index's
    /// can be (row numbers, ascending).
    fn touched(&self) -> impl Iterator<Item = (usize, Row)> + '_ {
        let mut changed: Vec<(usize, Row)> = (self.changed.iter())
            .map(|(&r, row)| (self.row_of_record(r as usize), *row))
            .collect();
        changed.sort_unstable_by_key(|c| c.0);
        changed.into_iter().chain(
            self.tail
                .iter()
                .enumerate()
                .map(|(i, r)| (self.mapped + i, *r)),
        )
    }

    /// Whether any row's file is still in new/ (a read-only session's, or one whose move
    /// to cur/ failed), without a pass over the mapped rows: they never are, the index is
    /// written without such rows.
    pub fn any_in_new(&self) -> bool {
        self.changed
            .values()
            .chain(&self.tail)
            .any(|r| r.has(IN_NEW))
    }

    /// Whether some row is [`GONE`] (without a pass over the mapped rows).
    pub fn any_gone(&self) -> bool {
        self.changed.values().chain(&self.tail).any(|r| r.has(GONE))
    }

    /// The rows that are [`GONE`], ascending.
    pub fn gone(&self) -> Vec<usize> {
        self.touched()
            .filter(|(_, r)| r.has(GONE))
            .map(|(i, _)| i)
            .collect()
    }

    /// How many rows are \Recent: a binary search of the mapped rows, and the rows this
    /// session touched.
    pub fn recent_count(&self) -> usize {
        let mut n = self.mapped - self.partition_mapped(self.recent_from);
        for (i, r) in &self.changed {
            let default = self.mapped_row(*i as usize).has(RECENT);
            n = n + usize::from(r.has(RECENT)) - usize::from(default);
        }
        n + self.tail.iter().filter(|r| r.has(RECENT)).count()
    }

    /// Marks the rows from `from` on \Recent when their UID is `first` or above, and the
    /// others not.
    pub fn set_recent_from(&mut self, from: usize, first: u32) {
        if from < self.mapped {
            if from > 0 {
                // Not asked for (only an open settles the mapped rows), but kept right.
                for i in from..self.mapped {
                    let row = self.row_mut(i);
                    row.set(RECENT, row.uid >= first);
                }
            } else {
                self.recent_from = first;
                for r in self.changed.values_mut() {
                    r.set(RECENT, r.uid >= first);
                }
            }
        }
        let skip = from.saturating_sub(self.mapped);
        for r in self.tail.iter_mut().skip(skip) {
            r.set(RECENT, r.uid >= first);
        }
    }

    /// The first row whose message has no \Seen: from the index's header and the rows
    /// this session touched, reading on only past rows it marked seen.
    pub fn first_unseen(&self) -> Option<usize> {
        let unseen = |r: &Row| !r.flags.contains(Flags::SEEN);
        let touched = self.touched().find(|(_, r)| unseen(r)).map(|(i, _)| i);
        let limit = touched.unwrap_or(self.len()).min(self.mapped);
        if let Some(from) = (self.base.as_ref())
            .and_then(|b| b.first_unseen())
            .filter(|&r| r < self.records())
        {
            // The header's answer, unless the row was changed or removed since: then
            // read on.
            for i in self.row_of_record(from)..limit {
                if unseen(&self.row(i)) {
                    return Some(i);
                }
            }
        }
        touched
    }

    /// How many mapped rows have a UID below `uid` (records ascend).
    fn partition_mapped(&self, uid: u32) -> usize {
        let Some(base) = &self.base else { return 0 };
        // Records ascend, so those below `uid` among the first `records()` are a prefix.
        self.row_of_record(base.records_below(uid).min(self.records()))
    }

    /// How many rows have a UID below `uid` (rows ascend by UID).
    pub fn partition_uid(&self, uid: u32) -> usize {
        let m = self.partition_mapped(uid);
        if m < self.mapped {
            return m;
        }
        self.mapped + self.tail.partition_point(|r| r.uid < uid)
    }

    pub fn file_name(&self, i: usize) -> &str {
        let name = self.row(i).name;
        if name & OWN != 0 {
            return &self.own[(name & !OWN) as usize];
        }
        // Checked when the index was taken; should the file be damaged all the same, a
        // name no Maildir holds (dot files are not messages): the message reads as
        // vanished.
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
        let name = self.row(i).name;
        if name & OWN != 0 {
            self.own[(name & !OWN) as usize] = file_name.into();
        } else {
            let own = OWN | self.own.len() as u32;
            self.own.push(file_name.into());
            self.row_mut(i).name = own;
        }
    }

    /// Appends a message (UIDs must keep ascending, or [`Table::sort`] follows).
    pub fn push(&mut self, uid: u32, file_name: String, size: u64, flags: Flags, state: u8) {
        let at = self.len() as u32;
        let h = hash(split_info(&file_name).0);
        self.tail.push(Row {
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
        if self.lookup.is_none() && self.changed.len() + self.tail.len() <= FEW_TOUCHED {
            // The rows this session changed or added first: the watch reports its own
            // flag changes by name, and the lookup table reads every row's name (about
            // 10 ms at 100,000 messages, for one STORE).
            let touched = (self.changed.keys())
                .map(|&r| self.row_of_record(r as usize))
                .chain(self.mapped..self.len());
            for i in touched.collect::<Vec<_>>() {
                if self.basename(i) == basename {
                    return Some(i);
                }
            }
        }
        if self.lookup.is_none() {
            let mut lookup = HashTable::with_capacity(self.len());
            for i in 0..self.len() {
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

    /// Makes every row owned (24 bytes each; names stay in the index).
    fn materialize(&mut self) {
        if self.mapped == 0 {
            return;
        }
        let mut rows: Vec<Row> = Vec::with_capacity(self.len());
        rows.extend((0..self.mapped).map(|i| self.row(i)));
        rows.append(&mut self.tail);
        self.tail = rows;
        self.mapped = 0;
        self.removed = Vec::new();
        self.changed = HashMap::default();
    }

    /// Drops the rows that are [`GONE`] (in order); row numbers change.
    pub fn remove_gone(&mut self) {
        let mut gone: Vec<u32> = (self.changed.iter())
            .filter(|(_, row)| row.has(GONE))
            .map(|(&r, _)| r)
            .collect();
        if self.removed.len() + gone.len() > MAX_REMOVED {
            self.materialize();
        } else if !gone.is_empty() {
            for r in &gone {
                let row = self.changed.remove(r).expect("a changed row");
                self.keywords.remove(&row.uid);
            }
            self.mapped -= gone.len();
            gone.extend_from_slice(&self.removed);
            gone.sort_unstable();
            self.removed = gone;
            self.lookup = None;
        }
        let keywords = &mut self.keywords;
        let before = self.tail.len();
        self.tail.retain(|r| {
            let k = !r.has(GONE);
            if !k {
                keywords.remove(&r.uid);
            }
            k
        });
        if self.tail.len() != before {
            self.lookup = None;
        }
    }

    /// Puts the rows in UID order (after a reconciliation added messages out of order).
    pub fn sort(&mut self) {
        let last_mapped = self.mapped.checked_sub(1).map(|i| self.row(i).uid);
        let in_order = self.tail.is_sorted_by_key(|r| r.uid)
            && match (last_mapped, self.tail.first()) {
                (Some(m), Some(t)) => m < t.uid,
                _ => true,
            };
        if !in_order {
            self.materialize();
            self.tail.sort_by_key(|r| r.uid);
            self.lookup = None;
        }
    }

    /// Whether any row has a keyword.
    pub fn has_keywords(&self) -> bool {
        !self.keywords.is_empty()
    }

    pub fn keywords(&self, i: usize) -> &[String] {
        if self.keywords.is_empty() {
            return &NO_KEYWORDS;
        }
        self.keywords.get(&self.row(i).uid).unwrap_or(&NO_KEYWORDS)
    }

    pub fn set_keywords(&mut self, i: usize, keywords: Vec<String>) {
        let uid = self.row(i).uid;
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

    /// What differs from the index the rows were taken from (see index_diff.rs), when
    /// they still refer to it: its records that are gone, those changed (record number
    /// and row), and the rows added after them (from a row number on). None once the
    /// rows are owned whole, without an index, or when more of its records are gone than
    /// rows taken from it may leave out.
    pub fn since_base(&self) -> Option<SinceBase> {
        let base = self.base.as_ref()?;
        if self.records() != base.len() {
            return None;
        }
        let mut since = SinceBase {
            gone: self.removed.clone(),
            changed: Vec::new(),
            added_from: self.mapped,
        };
        for (&r, row) in &self.changed {
            if row.has(GONE) {
                since.gone.push(r);
                continue;
            }
            let was = self.mapped_row(r as usize);
            if row.flags != was.flags || row.name != was.name {
                since.changed.push((r, self.row_of_record(r as usize)));
            }
        }
        if since.gone.len() > MAX_REMOVED {
            // Rows taken with more removed than this are owned whole at once: each
            // session opening the folder would pay for that until the index is written.
            return None;
        }
        since.gone.sort_unstable();
        since.changed.sort_unstable();
        Some(since)
    }

    /// Brings rows just taken from an index to the state a diff of it describes. False
    /// when the diff does not fit these rows (a row it names is missing, or has another
    /// name; added rows not above the rest): the caller must not use them.
    pub fn apply_diff(&mut self, diff: &super::index_diff::Diff) -> bool {
        for (uid, flags, file_name) in &diff.changed {
            let Some(i) = self.index_of_uid(*uid) else {
                return false;
            };
            if split_info(file_name).0 != self.basename(i) {
                return false;
            }
            self.row_mut(i).flags = *flags;
            self.rename(i, file_name.clone());
        }
        for uid in &diff.removed {
            let Some(i) = self.index_of_uid(*uid) else {
                return false;
            };
            self.row_mut(i).set(GONE, true);
        }
        self.remove_gone();
        let last = self.last().map_or(0, |r| r.uid);
        if diff.added.first().is_some_and(|(r, _)| r.uid <= last) {
            return false;
        }
        for (r, file_name) in &diff.added {
            self.push(r.uid, file_name.clone(), r.size, r.flags, 0);
        }
        true
    }

    pub fn index_of_uid(&self, uid: u32) -> Option<usize> {
        let i = self.partition_uid(uid);
        (i < self.len() && self.row(i).uid == uid).then_some(i)
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
        t.row_mut(1).set(GONE, true);
        assert_eq!(t.gone(), [1]);
        t.remove_gone();
        assert_eq!(t.find("c"), Some(1));
        assert_eq!(t.find("b"), None);
        assert_eq!(t.keywords(0), ["$Junk".to_string()]);
        assert_eq!(std::mem::size_of::<Row>(), 24);
    }

    /// An index of `n` messages, UIDs 2, 4, ..., all \Seen but message `unseen`, and
    /// the table over it.
    fn indexed(n: usize, unseen: usize) -> (tempfile::TempDir, Table) {
        use super::super::index::{Record, Snapshot, save};
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("tmp")).unwrap();
        let names: Vec<String> = (0..n).map(|i| format!("{i}.M1P1.h:2,")).collect();
        let list: Vec<(Record, &str)> = (0..n)
            .map(|i| {
                let flags = if i == unseen {
                    Flags::empty()
                } else {
                    Flags::SEEN
                };
                let r = Record {
                    uid: 2 * (i as u32 + 1),
                    flags,
                    size: i as u64,
                    wire_size: None,
                    internal_date: None,
                };
                (r, names[i].as_str())
            })
            .collect();
        let snapshot = Snapshot {
            uid_validity: 1,
            uid_next: 2 * n as u32 + 2,
            valid_for: [0; 10],
            messages: list.into_iter(),
        };
        save(d.path(), snapshot).unwrap();
        let base = Mapped::open(d.path()).unwrap();
        let table = Table::from_index(base, d.path(), false).unwrap();
        (d, table)
    }

    /// A session's own flag change comes back from the watch by name: the row is found
    /// among the rows it touched, without a lookup of every row's name; other names
    /// still are found, through the lookup.
    #[test]
    fn own_changed_rows_are_found_without_the_lookup() {
        let (_d, mut t) = indexed(1000, 3);
        t.row_mut(500).flags = Flags::FLAGGED;
        t.rename(500, "500.M1P1.h:2,F".into());
        t.push(5000, "new.M2P2.h:2,".into(), 1, Flags::empty(), 0);
        assert_eq!(t.find("500.M1P1.h"), Some(500));
        assert_eq!(t.find("new.M2P2.h"), Some(1000));
        assert!(t.lookup.is_none(), "the lookup of every row was built");
        assert_eq!(t.find("7.M1P1.h"), Some(7));
        assert!(t.lookup.is_some());
        assert_eq!(t.find("missing"), None);
    }

    #[test]
    fn index_rows_are_read_in_place() {
        let (_d, mut t) = indexed(100, 40);
        assert_eq!((t.len(), t.mapped, t.changed.len()), (100, 100, 0));
        assert_eq!((t.row(7).uid, t.file_name(7)), (16, "7.M1P1.h:2,"));
        assert_eq!(t.first_unseen(), Some(40));
        assert_eq!((t.index_of_uid(16), t.index_of_uid(17)), (Some(7), None));
        assert_eq!((t.partition_uid(17), t.partition_uid(1000)), (8, 100));
        // A STORE of a few messages: only those rows are the session's.
        t.row_mut(40).flags = Flags::SEEN;
        t.rename(40, "40.M1P1.h:2,S".into());
        t.row_mut(90).flags = Flags::empty();
        assert_eq!((t.mapped, t.changed.len()), (100, 2));
        assert_eq!(
            (t.file_name(40), t.basename(40)),
            ("40.M1P1.h:2,S", "40.M1P1.h")
        );
        assert_eq!(
            t.first_unseen(),
            Some(90),
            "the header's row was marked seen"
        );
        t.row_mut(3).flags = Flags::empty();
        assert_eq!(t.first_unseen(), Some(3));
        // \Recent by UID, for the mapped rows and the added ones.
        t.push(300, "new.M1P1.h:2,".into(), 1, Flags::empty(), 0);
        t.set_recent_from(0, 190);
        assert_eq!(t.recent_count(), 6 + 1);
        assert!(t.row(94).has(RECENT) && !t.row(93).has(RECENT));
        assert_eq!(t.find("new.M1P1.h"), Some(100));
        assert_eq!(t.find("12.M1P1.h"), Some(12));
        // A vanished added row goes without owning the index's rows...
        t.row_mut(100).set(GONE, true);
        assert!(t.any_gone());
        t.remove_gone();
        assert_eq!((t.len(), t.mapped), (100, 100));
        // ... and so does an index row's: the rows after it move down.
        t.row_mut(5).set(GONE, true);
        assert_eq!(t.gone(), [5]);
        t.remove_gone();
        assert_eq!((t.len(), t.mapped, t.changed.len()), (99, 99, 3));
        assert_eq!(t.removed, [5]);
        check_after_removal(&mut t);
        t.materialize();
        assert_eq!((t.len(), t.mapped, t.changed.len()), (99, 0, 0));
        check_after_removal(&mut t);
        // Owned now: a removal is a removal from the list.
        t.row_mut(0).set(GONE, true);
        t.remove_gone();
        assert_eq!((t.len(), t.row(0).uid), (98, 4));
    }

    fn check_after_removal(t: &mut Table) {
        assert_eq!(t.row(4).uid, 10);
        assert_eq!(
            (t.row(5).uid, t.file_name(39), t.row(39).flags),
            (14, "40.M1P1.h:2,S", Flags::SEEN)
        );
        assert_eq!(t.recent_count(), 6);
        assert_eq!(t.first_unseen(), Some(3));
        assert_eq!(t.find("12.M1P1.h"), Some(11));
        assert_eq!((t.index_of_uid(12), t.index_of_uid(14)), (None, Some(5)));
        assert_eq!((t.partition_uid(12), t.partition_uid(15)), (5, 6));
        assert_eq!(t.gone(), Vec::<usize>::new());
    }

    #[test]
    fn many_removed_rows_are_owned() {
        let (_d, mut t) = indexed(2000, 41);
        for round in 0..3 {
            // Every other row of the first 60: 30 a round.
            for i in 0..30 {
                t.row_mut(i * 2).set(GONE, true);
            }
            let expected: Vec<u32> = (t.rows()).filter(|r| !r.has(GONE)).map(|r| r.uid).collect();
            t.remove_gone();
            assert_eq!(t.rows().map(|r| r.uid).collect::<Vec<_>>(), expected);
            let by_pass = t.rows().position(|r| !r.flags.contains(Flags::SEEN));
            assert_eq!(t.first_unseen(), by_pass, "round {round}");
            assert_eq!(t.index_of_uid(expected[70]), Some(70));
            assert_eq!(t.mapped > 0, round < 2, "round {round}");
        }
        assert_eq!(t.mapped, 0, "past {MAX_REMOVED} removed");
    }

    #[test]
    fn many_changed_rows_are_owned() {
        let (_d, mut t) = indexed(80, 0);
        for i in 0..20 {
            t.row_mut(i).flags = Flags::DELETED;
        }
        assert_eq!(t.mapped, 0, "past an eighth of the rows changed");
        assert!((0..20).all(|i| t.row(i).flags == Flags::DELETED));
        assert_eq!(t.row(20).flags, Flags::SEEN);
    }
}
