//! `postern-sortkeys`: the SORT and THREAD keys of a folder's messages in UID order, one
//! fixed-width record per message, mapped read-only. A warm SORT walks it once beside the
//! folder's own list (also in UID order) instead of looking every message up by name in
//! `postern-cache.sortkeys-1`: sequential pages, no string search per message, and the
//! key strings compared where they lie in the mapping.
//!
//! Only a cache, never the truth: a record counts only for the message whose UID it
//! carries *and* whose basename hashes to the record's hash, under the UIDVALIDITY in the
//! header, so a reused UID (new UID database) or a file another program wrote reads as a
//! miss, never as another message's keys. Messages that are new (delivery, APPEND, COPY)
//! or missing are derived again by the caller, which then writes the whole file anew
//! (old records of messages still there + the new ones) via `tmp/` and rename; records
//! of expunged messages are dropped at that rewrite. Courier ignores the file.
//!
//! The store does not know what the keys mean: a record holds a signed 64-bit number, a
//! few bit flags and a list of byte strings, which `imap/sort.rs` fills. Format
//! (little-endian):
//!
//! ```text
//! magic "PSTNSK\0\x01" (8)   uid_validity u32   count u32
//! count records of 32 bytes, ascending by UID:
//!   uid u32   bits u32   name_hash u64   number i64   strings_at u32   strings_len u32
//! the strings area: per record, its strings as (len u16, bytes)
//! ```
//!
//! Every offset is checked when read: a damaged file reads as misses, never as a crash.

use std::io;
use std::path::{Path, PathBuf};

use crate::mapped::ReadOnlyMap;

const MAGIC: &[u8; 8] = b"PSTNSK\0\x01";
const HEADER: usize = 16;
const RECORD: usize = 32;
/// The file's name in the folder directory.
pub const FILE_NAME: &str = "postern-sortkeys";

/// A stable 64-bit hash of a basename (FNV-1a): what ties a record to its message file.
pub fn name_hash(basename: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in basename.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One message's keys as the file holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<S> {
    pub uid: u32,
    pub name_hash: u64,
    pub bits: u32,
    pub number: i64,
    pub strings: Vec<S>,
}

/// A record in the mapping.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub uid: u32,
    pub bits: u32,
    pub name_hash: u64,
    pub number: i64,
    strings: &'a [u8],
}

impl<'a> Record<'a> {
    /// String `i` of the record; `None` when the record has fewer or is damaged.
    pub fn string(&self, i: usize) -> Option<&'a [u8]> {
        let mut rest = self.strings;
        for _ in 0..i {
            let len = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
            rest = rest.get(2 + len..)?;
        }
        let len = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        rest.get(2..2 + len)
    }

    /// All the record's strings, in order; `None` when damaged.
    pub fn strings(&self) -> Option<Vec<&'a [u8]>> {
        let mut out = Vec::new();
        let mut rest = self.strings;
        while !rest.is_empty() {
            let len = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
            out.push(rest.get(2..2 + len)?);
            rest = &rest[2 + len..];
        }
        Some(out)
    }

    /// The record as an entry, for copying into a new file.
    fn as_entry(&self) -> Option<Entry<&'a [u8]>> {
        Some(Entry {
            uid: self.uid,
            name_hash: self.name_hash,
            bits: self.bits,
            number: self.number,
            strings: self.strings()?,
        })
    }
}

/// The folder's file, mapped; absent or unusable files are simply empty.
#[derive(Debug)]
pub struct SortFile {
    path: PathBuf,
    map: Option<ReadOnlyMap>,
    count: usize,
}

impl SortFile {
    /// The file of the folder at `folder_dir`, when it is there, whole, for
    /// `uid_validity` and with its records in strictly ascending UID order.
    pub fn open(folder_dir: &Path, uid_validity: u32) -> SortFile {
        let path = folder_dir.join(FILE_NAME);
        let mut file = SortFile {
            path,
            map: None,
            count: 0,
        };
        let Some((f, _)) = super::fsutil::open_own_file(&file.path) else {
            return file;
        };
        let Ok(map) = ReadOnlyMap::new(&f) else {
            return file;
        };
        if map.len() < HEADER || &map[..8] != MAGIC || le32(&map[8..]) != uid_validity {
            return file;
        }
        let count = le32(&map[12..]) as usize;
        if count
            .checked_mul(RECORD)
            .and_then(|n| n.checked_add(HEADER))
            .is_none_or(|end| end > map.len())
        {
            return file;
        }
        let ascending = (1..count)
            .all(|i| le32(&map[HEADER + (i - 1) * RECORD..]) < le32(&map[HEADER + i * RECORD..]));
        if !ascending {
            return file;
        }
        file.map = Some(map);
        file.count = count;
        file
    }

    /// No file: every lookup misses (a SORT that needs no header key).
    pub fn empty() -> SortFile {
        SortFile {
            path: PathBuf::new(),
            map: None,
            count: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn uid_at(&self, i: usize) -> u32 {
        let map = self.map.as_deref().unwrap_or_default();
        le32(&map[HEADER + i * RECORD..])
    }

    /// Record `i` (`i < len()`).
    pub fn record(&self, i: usize) -> Record<'_> {
        let map = self.map.as_deref().unwrap_or_default();
        let r = &map[HEADER + i * RECORD..HEADER + (i + 1) * RECORD];
        let area = &map[HEADER + self.count * RECORD..];
        let (at, len) = (le32(&r[24..]) as usize, le32(&r[28..]) as usize);
        let strings = at
            .checked_add(len)
            .and_then(|end| area.get(at..end))
            // A damaged range: a record without strings (its lookups fail).
            .unwrap_or(&[0xff]);
        Record {
            uid: le32(r),
            bits: le32(&r[4..]),
            name_hash: u64::from_le_bytes(r[8..16].try_into().unwrap_or_default()),
            number: i64::from_le_bytes(r[16..24].try_into().unwrap_or_default()),
            strings,
        }
    }

    /// The position of the record for `uid`, searching from `*from` (where the last
    /// lookup ended: a pass in UID order costs one step per message), which is moved on.
    pub fn find(&self, uid: u32, from: &mut usize) -> Option<Record<'_>> {
        let mut at = *from;
        if at < self.count && self.uid_at(at) < uid {
            // Usually the very next one; else a binary search over the rest.
            at += 1;
            if at < self.count && self.uid_at(at) < uid {
                let (mut lo, mut hi) = (at, self.count);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if self.uid_at(mid) < uid {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                at = lo;
            }
        } else if at > 0 && at <= self.count && self.uid_at(at - 1) >= uid {
            // Asked out of order: start over.
            *from = 0;
            return self.find(uid, from);
        }
        *from = at;
        (at < self.count && self.uid_at(at) == uid).then(|| self.record(at))
    }

    /// Writes the file anew: the records of this file that `keep` (uid, name_hash) still
    /// wants, and `fresh` (ascending by UID; a fresh entry replaces a record of its UID).
    /// Through `tmp/` and rename, no fsync (a cache).
    pub fn rewrite<S: AsRef<[u8]>>(
        &self,
        uid_validity: u32,
        keep: &dyn Fn(u32, u64) -> bool,
        fresh: &[Entry<S>],
    ) -> io::Result<()> {
        let mut old = Vec::with_capacity(self.count);
        for i in 0..self.count {
            let r = self.record(i);
            if keep(r.uid, r.name_hash)
                && let Some(e) = r.as_entry()
            {
                old.push(e);
            }
        }
        let out = encode(uid_validity, &old, fresh);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        super::fsutil::replace_cache(&dir.join("tmp"), &self.path, &out)
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The file's bytes for two lists ascending by UID, merged (`fresh` wins a tie).
/// Strings longer than 65,535 bytes are cut (they are only sort keys).
fn encode<A: AsRef<[u8]>, B: AsRef<[u8]>>(
    uid_validity: u32,
    old: &[Entry<A>],
    fresh: &[Entry<B>],
) -> Vec<u8> {
    type View<'x> = (u32, u64, u32, i64, Vec<&'x [u8]>);
    fn view<S: AsRef<[u8]>>(e: &Entry<S>) -> View<'_> {
        let strings = e.strings.iter().map(|s| s.as_ref()).collect();
        (e.uid, e.name_hash, e.bits, e.number, strings)
    }
    let mut merged: Vec<View<'_>> = Vec::with_capacity(old.len() + fresh.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < fresh.len() {
        let take_fresh = match (old.get(i), fresh.get(j)) {
            (Some(a), Some(b)) => {
                if a.uid == b.uid {
                    i += 1;
                }
                b.uid <= a.uid
            }
            (None, Some(_)) => true,
            _ => false,
        };
        if take_fresh {
            merged.push(view(&fresh[j]));
            j += 1;
        } else {
            merged.push(view(&old[i]));
            i += 1;
        }
    }
    let mut records = Vec::with_capacity(HEADER + merged.len() * RECORD);
    records.extend_from_slice(MAGIC);
    records.extend_from_slice(&uid_validity.to_le_bytes());
    records.extend_from_slice(&(merged.len() as u32).to_le_bytes());
    let mut area = Vec::new();
    for (uid, hash, bits, number, strings) in &merged {
        let at = area.len();
        for s in strings {
            let s = &s[..s.len().min(u16::MAX as usize)];
            area.extend_from_slice(&(s.len() as u16).to_le_bytes());
            area.extend_from_slice(s);
        }
        records.extend_from_slice(&uid.to_le_bytes());
        records.extend_from_slice(&bits.to_le_bytes());
        records.extend_from_slice(&hash.to_le_bytes());
        records.extend_from_slice(&number.to_le_bytes());
        records.extend_from_slice(&(at as u32).to_le_bytes());
        records.extend_from_slice(&((area.len() - at) as u32).to_le_bytes());
    }
    records.extend_from_slice(&area);
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: u32, name: &str, strings: &[&str]) -> Entry<Vec<u8>> {
        Entry {
            uid,
            name_hash: name_hash(name),
            bits: uid % 2,
            number: -i64::from(uid),
            strings: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
        }
    }

    #[test]
    fn written_records_read_back_and_merge_by_uid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let empty = SortFile::open(dir.path(), 7);
        assert!(empty.is_empty());
        let first = [entry(3, "c", &["S3", "", "x"]), entry(9, "i", &["S9"])];
        empty.rewrite(7, &|_, _| true, &first).unwrap();
        let f = SortFile::open(dir.path(), 7);
        assert_eq!(f.len(), 2);
        let mut at = 0;
        assert!(f.find(1, &mut at).is_none());
        let r = f.find(3, &mut at).unwrap();
        assert_eq!((r.uid, r.bits, r.number), (3, 1, -3));
        assert_eq!(r.name_hash, name_hash("c"));
        assert_eq!(r.string(0), Some(&b"S3"[..]));
        assert_eq!(r.string(1), Some(&b""[..]));
        assert_eq!(r.string(2), Some(&b"x"[..]));
        assert_eq!(r.string(3), None);
        assert!(f.find(5, &mut at).is_none());
        assert_eq!(f.find(9, &mut at).unwrap().string(0), Some(&b"S9"[..]));
        // Out of order still finds.
        assert_eq!(f.find(3, &mut at).unwrap().uid, 3);
        // Another UIDVALIDITY: nothing.
        assert!(SortFile::open(dir.path(), 8).is_empty());
        // Expunge 3, add 5 and 12, replace 9.
        let fresh = [
            entry(5, "e", &["S5"]),
            entry(9, "i2", &["new"]),
            entry(12, "l", &[]),
        ];
        f.rewrite(7, &|uid, _| uid != 3, &fresh).unwrap();
        let g = SortFile::open(dir.path(), 7);
        let uids: Vec<u32> = (0..g.len()).map(|i| g.record(i).uid).collect();
        assert_eq!(uids, [5, 9, 12]);
        assert_eq!(g.record(1).string(0), Some(&b"new"[..]));
        assert_eq!(g.record(2).strings().unwrap().len(), 0);
    }

    #[test]
    fn damaged_files_read_as_misses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let f = SortFile::open(dir.path(), 1);
        f.rewrite(
            1,
            &|_, _| true,
            &[entry(1, "a", &["x"]), entry(2, "b", &["y"])],
        )
        .unwrap();
        let path = dir.path().join(FILE_NAME);
        let good = std::fs::read(&path).unwrap();
        // Cut anywhere: either refused whole or every lookup bounded.
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            let f = SortFile::open(dir.path(), 1);
            for i in 0..f.len() {
                let r = f.record(i);
                let _ = r.strings();
                let _ = r.string(0);
            }
        }
        // Records out of order: refused.
        let mut swapped = good.clone();
        swapped[HEADER..HEADER + 4].copy_from_slice(&5u32.to_le_bytes());
        std::fs::write(&path, &swapped).unwrap();
        assert!(SortFile::open(dir.path(), 1).is_empty());
        // A string range past the end: that record has no strings.
        let mut bad = good;
        bad[HEADER + 28..HEADER + 32].copy_from_slice(&1000u32.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let f = SortFile::open(dir.path(), 1);
        assert_eq!(f.record(0).string(0), None);
        assert_eq!(f.record(1).string(0), Some(&b"y"[..]));
    }
}
