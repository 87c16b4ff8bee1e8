//! `postern-index.diff`: what changed in a folder since its `postern-index` was written,
//! so that a session which changed a few messages of a large folder leaves the index
//! exact by writing those few rows, not the whole index again (10 MB and an fsync at
//! 100,000 messages, for one flag).
//!
//! The file is one diff from one index file to the state it is valid for: the rows
//! removed since (by UID), the rows whose flags or file name changed (UID, flags, name)
//! and the rows added (whole records), with the folder figures a STATUS answers from
//! (count, unseen, UIDNEXT) and the `valid_for` times of that state, exactly as the index
//! header has them. Each writer writes the whole diff from the index it opened to the
//! rows it holds, so the file is replaced, never appended to: readers find the old diff
//! or the new one (tmp/ and a rename), never a mix.
//!
//! # Why a reader never acts on a wrong diff
//!
//! - It names its index: every index is written with a fresh random `base id` in its
//!   header, and a diff applies only to the index with its id. A diff left from before
//!   the index was written again is ignored (and a writer of a whole index removes it).
//! - Its state is checked like the index's: its `valid_for` takes the place of the
//!   index's, with the same rules (mailbox.rs), so a diff older than the folder is only a
//!   starting point reconciled with a listing, as a stale index is.
//! - Torn or damaged (it is not fsynced: it is a cache, and a lost one costs a listing):
//!   a checksum over the whole file, exact lengths, UIDs ascending within each part, and
//!   names that are file names. Rows it names that the index lacks make the open fall
//!   back to a full scan, as a damaged index does.
//! - Small by construction: past [`MAX_ROWS`] rows, or an eighth of the index, the writer
//!   writes the whole index instead.
//!
//! # Format (little-endian)
//!
//! ```text
//! header, 128 bytes:
//!   0 magic "PSTNID\0\1"   8 base id u64   16 uid_next u32   20 count u32   24 unseen u32
//!   28 removed u32   32 changed u32   36 added u32
//!   40 valid_for: 10 × i64 (as in the index header)   120 checksum u64
//! removed × (uid u32)
//! changed × (uid u32, flags u8, 0 u8, name length u16, name)
//! added × (uid u32, flags u8, 0 u8, name length u16, size u64, wire size u64
//!          (u64::MAX unknown), internal date i64 (i64::MIN unknown), name)
//! ```

use std::fs;
use std::io;
use std::path::Path;

use super::index::{Record, Validity};
use super::{Flags, fsutil, stable_hash};

pub const FILE: &str = "postern-index.diff";
const MAGIC: &[u8; 8] = b"PSTNID\0\x01";
const HEADER: usize = 128;
const CHECKSUM_AT: usize = 120;

/// The most rows a diff holds; past it (or an eighth of the index) the index is written
/// whole. Every open applies the diff, reaching a page or two of the index per row
/// (about 8 µs a row at 100,000 messages): 256 rows keep that near 2 ms, and a whole
/// write (about 70 ms at 100,000) once per 256 changed rows costs each under 0.3 ms.
pub const MAX_ROWS: usize = 256;

/// The changes from one index to a later state of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The `base id` of the index this applies to.
    pub base_id: u64,
    pub uid_next: u32,
    /// Messages in the state, and those without \Seen.
    pub count: u32,
    pub unseen: u32,
    pub valid_for: Validity,
    /// UIDs of the index's rows that are gone, ascending.
    pub removed: Vec<u32>,
    /// Index rows with other flags or another file name: (UID, flags, file name),
    /// ascending.
    pub changed: Vec<(u32, Flags, String)>,
    /// Rows after the index's, ascending.
    pub added: Vec<(Record, String)>,
}

impl Diff {
    /// Rows it names.
    pub fn rows(&self) -> usize {
        self.removed.len() + self.changed.len() + self.added.len()
    }
}

/// Writes the diff (a cache: tmp/ and a rename, no fsync).
pub fn save(folder_dir: &Path, diff: &Diff) -> io::Result<()> {
    let mut out = Vec::with_capacity(HEADER + diff.rows() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&diff.base_id.to_le_bytes());
    for n in [
        diff.uid_next,
        diff.count,
        diff.unseen,
        diff.removed.len() as u32,
        diff.changed.len() as u32,
        diff.added.len() as u32,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for v in diff.valid_for {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[0; 8]);
    for uid in &diff.removed {
        out.extend_from_slice(&uid.to_le_bytes());
    }
    let name_head = |out: &mut Vec<u8>, uid: u32, flags: Flags, name: &str| {
        out.extend_from_slice(&uid.to_le_bytes());
        out.extend_from_slice(&[flags.bits(), 0]);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    };
    for (uid, flags, name) in &diff.changed {
        name_head(&mut out, *uid, *flags, name);
        out.extend_from_slice(name.as_bytes());
    }
    for (r, name) in &diff.added {
        name_head(&mut out, r.uid, r.flags, name);
        out.extend_from_slice(&r.size.to_le_bytes());
        out.extend_from_slice(&r.wire_size.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(&r.internal_date.unwrap_or(i64::MIN).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    let sum = stable_hash::hash(&out);
    out[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
    fsutil::replace_cache(&folder_dir.join("tmp"), &folder_dir.join(FILE), &out)
}

/// Removes the diff (after the index was written whole); a missing one is fine.
pub fn remove(folder_dir: &Path) {
    match fs::remove_file(folder_dir.join(FILE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            log::debug!("{}: cannot remove {FILE}: {e}", folder_dir.display());
        }
        _ => {}
    }
}

/// The diff for the index whose base id is `base_id`, when there is a whole one. Read as
/// a file others may write: not through a link, not a FIFO, bounded.
pub fn load(folder_dir: &Path, base_id: u64) -> Option<Diff> {
    if base_id == 0 {
        return None;
    }
    let most = HEADER + MAX_ROWS * (36 + u16::MAX as usize);
    let bytes = fsutil::read_own_file(&folder_dir.join(FILE), most as u64)?;
    parse(&bytes, base_id)
}

fn parse(bytes: &[u8], base_id: u64) -> Option<Diff> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return None;
    }
    let mut r = Reader { bytes, at: 8 };
    if r.u64()? != base_id {
        return None;
    }
    let sum = u64::from_le_bytes(bytes[CHECKSUM_AT..CHECKSUM_AT + 8].try_into().ok()?);
    if stable_hash::checksum_without(bytes, CHECKSUM_AT) != sum {
        return None;
    }
    let (uid_next, count, unseen) = (r.u32()?, r.u32()?, r.u32()?);
    let (removed, changed, added) = (r.u32()? as usize, r.u32()? as usize, r.u32()? as usize);
    if removed + changed + added > MAX_ROWS {
        return None;
    }
    let mut valid_for = [0i64; 10];
    for v in &mut valid_for {
        *v = r.u64()? as i64;
    }
    r.at = HEADER;
    let mut diff = Diff {
        base_id,
        uid_next,
        count,
        unseen,
        valid_for,
        removed: Vec::with_capacity(removed),
        changed: Vec::with_capacity(changed),
        added: Vec::with_capacity(added),
    };
    for _ in 0..removed {
        diff.removed.push(r.u32()?);
    }
    for _ in 0..changed {
        let (uid, flags, len) = r.name_head()?;
        diff.changed.push((uid, flags, r.name(len)?));
    }
    for _ in 0..added {
        let (uid, flags, len) = r.name_head()?;
        let (size, wire, date) = (r.u64()?, r.u64()?, r.u64()? as i64);
        let record = Record {
            uid,
            flags,
            size,
            wire_size: (wire != u64::MAX).then_some(wire),
            internal_date: (date != i64::MIN).then_some(date),
        };
        diff.added.push((record, r.name(len)?));
    }
    let ascending = |uids: Vec<u32>| {
        uids.windows(2).all(|w| w[0] < w[1]) && uids.iter().all(|&u| u > 0 && u < uid_next)
    };
    let sound = r.at == bytes.len()
        && ascending(diff.removed.clone())
        && ascending(diff.changed.iter().map(|c| c.0).collect())
        && ascending(diff.added.iter().map(|a| a.0.uid).collect());
    sound.then_some(diff)
}

/// Reads the fields of a diff in order; None past the end or at a name that is not a
/// file name.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let b = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn name_head(&mut self) -> Option<(u32, Flags, usize)> {
        let uid = self.u32()?;
        let b = self.take(4)?;
        let len = u16::from_le_bytes([b[2], b[3]]) as usize;
        Some((uid, Flags::from_bits(b[0]), len))
    }

    fn name(&mut self, len: usize) -> Option<String> {
        let name = std::str::from_utf8(self.take(len)?).ok()?;
        let file_name = !name.is_empty() && !name.contains(['/', '\0']) && !name.starts_with('.');
        file_name.then(|| name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diff {
        Diff {
            base_id: 0x1234_5678_9abc_def0,
            uid_next: 40,
            count: 12,
            unseen: 3,
            valid_for: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            removed: vec![2, 7],
            changed: vec![(3, Flags::SEEN, "1700000003.M3P1.host:2,S".into())],
            added: vec![
                (
                    Record {
                        uid: 38,
                        flags: Flags::empty(),
                        size: 120,
                        wire_size: Some(124),
                        internal_date: None,
                    },
                    "1700000038.M9P1.host,S=120:2,".into(),
                ),
                (
                    Record {
                        uid: 39,
                        flags: Flags::FLAGGED,
                        size: 80,
                        wire_size: None,
                        internal_date: Some(1_700_000_039),
                    },
                    "1700000039.M9P2.host:2,F".into(),
                ),
            ],
        }
    }

    #[test]
    fn round_trip_and_what_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let diff = sample();
        save(d.path(), &diff).unwrap();
        assert_eq!(load(d.path(), diff.base_id), Some(diff.clone()));
        assert_eq!(
            load(d.path(), diff.base_id + 1),
            None,
            "another index's diff"
        );
        assert_eq!(load(d.path(), 0), None);

        let good = fs::read(d.path().join(FILE)).unwrap();
        // Every single-bit flip and every cut is refused.
        for at in [9, 17, 50, HEADER + 2, HEADER + 12, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert_eq!(parse(&bad, diff.base_id), None, "flip at {at}");
        }
        for len in [0, 7, HEADER - 1, HEADER + 3, good.len() - 1] {
            assert_eq!(parse(&good[..len], diff.base_id), None, "cut at {len}");
        }

        // Sound checksums over unsound contents: a name with a slash, UIDs out of order.
        for unsound in [
            Diff {
                changed: vec![(3, Flags::SEEN, "../x".into())],
                ..diff.clone()
            },
            Diff {
                removed: vec![7, 2],
                ..diff.clone()
            },
            Diff {
                removed: vec![2, 40],
                ..diff.clone()
            },
        ] {
            save(d.path(), &unsound).unwrap();
            assert_eq!(load(d.path(), diff.base_id), None, "{unsound:?}");
        }

        remove(d.path());
        assert!(!d.path().join(FILE).exists());
        remove(d.path());
    }
}
