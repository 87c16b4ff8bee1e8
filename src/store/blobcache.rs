//! `postern-cache.<kind>`: per-folder caches of bytes derived from a message file (the
//! protocol layer decides what: e.g. a serialized ENVELOPE). A message file never
//! changes, so an entry never goes stale; the file is only a cache, rebuilt by reading
//! the messages again when it is lost or broken. Courier ignores these files.
//!
//! The file is mapped read-only and searched in place, so a session that wants ten
//! entries of a 100,000-message folder touches a few pages instead of reading (and
//! keeping) the whole file. Format (little-endian):
//!
//! ```text
//! magic "PSTNBC\0\x02" (8)   count u32   reserved u32
//! count + 1 offsets u64: where entry i starts; the last one is the file's length
//! entries, ascending by basename: name_len u16, the basename, then the bytes up to
//! the next entry
//! ```
//!
//! Written whole in tmp/ and renamed into place (never changed in place, so a mapping
//! stays sound); every offset is checked when it is read, so a damaged file reads as
//! missing entries, never as a crash.

use std::io;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap as HashMap;

use crate::mapped::ReadOnlyMap;

const MAGIC: &[u8; 8] = b"PSTNBC\0\x02";
const HEADER: usize = 16;
/// Past this many bytes of new entries, they are merged into the file before more come:
/// the first FETCH 1:* ENVELOPE of a large folder then holds a few MB, not all of them.
const SPILL_AT: usize = 4 << 20;

/// One kind of cached bytes for one folder, mapped on first use.
#[derive(Debug)]
pub struct BlobCache {
    path: PathBuf,
    /// The file as last mapped (`Some(None)`: looked, none usable).
    disk: Option<Option<Disk>>,
    /// Entries this session made and has not saved yet.
    ours: HashMap<String, Vec<u8>>,
    /// Their size in bytes.
    ours_bytes: usize,
    /// Whether this session may write the file (not a read-only one: EXAMINE).
    writes: bool,
}

impl BlobCache {
    /// `kind` names the file: letters, digits and `-` only.
    pub fn new(folder_dir: &Path, kind: &str) -> BlobCache {
        debug_assert!(kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        BlobCache {
            path: folder_dir.join(format!("postern-cache.{kind}")),
            disk: None,
            ours: HashMap::default(),
            ours_bytes: 0,
            writes: true,
        }
    }

    /// The same cache for a session that writes nothing (EXAMINE): past the spill
    /// threshold, what it made is dropped instead of merged into the file.
    pub fn without_writes(mut self) -> BlobCache {
        self.writes = false;
        self
    }

    pub fn get(&mut self, basename: &str) -> Option<&[u8]> {
        if let Some(bytes) = self.ours.get(basename) {
            return Some(bytes);
        }
        let path = &self.path;
        self.disk
            .get_or_insert_with(|| Disk::open(path))
            .as_ref()?
            .find(basename)
    }

    /// Lets go of the file's pages this process has read (a FETCH 1:* ENVELOPE reads
    /// them all); they stay in the page cache, and come back on the next lookup.
    pub fn release_pages(&self) {
        if let Some(Some(disk)) = &self.disk {
            disk.map.release_pages();
        }
    }

    pub fn put(&mut self, basename: &str, bytes: Vec<u8>) {
        self.ours_bytes += basename.len() + bytes.len();
        self.ours.insert(basename.to_string(), bytes);
        // Each spill rewrites the whole file: with a fixed threshold, filling a large cache
        // would write it over and over (quadratic). Spilling at an eighth of the file's
        // size keeps the total written within about nine times the final file, and what is
        // held in memory within an eighth of it.
        let on_disk = match &self.disk {
            Some(Some(disk)) => disk.map.len(),
            _ => 0,
        };
        if self.ours_bytes >= SPILL_AT.max(on_disk / 8) {
            if !self.writes {
                // Built again if asked; the heap is given back after the command.
                self.forget_unsaved_over(0);
                crate::heap::give_back_after_command();
                return;
            }
            // Nothing is pruned here (the caller's save knows which files are gone).
            if let Err(e) = self.save(&|_| true) {
                log::warn!("{}: cannot save: {e}", self.path.display());
            }
        }
    }

    /// Drops the unsaved entries when they hold more than `most` bytes (a session that
    /// may not write the file must not keep a whole folder's worth); true if it did.
    pub fn forget_unsaved_over(&mut self, most: usize) -> bool {
        if self.ours_bytes <= most {
            return false;
        }
        self.ours = HashMap::default();
        self.ours_bytes = 0;
        true
    }

    /// Whether entries were added since the last save.
    pub fn has_unsaved(&self) -> bool {
        !self.ours.is_empty()
    }

    /// Writes what was added, merged with what the file holds now (another session may
    /// have saved meanwhile), keeping only entries for `present` files; via tmp/ and
    /// rename, no fsync (a cache).
    pub fn save(&mut self, present: &dyn Fn(&str) -> bool) -> io::Result<()> {
        if self.ours.is_empty() {
            return Ok(());
        }
        let ours = std::mem::take(&mut self.ours);
        self.ours_bytes = 0;
        let mut added: Vec<(&str, &[u8])> = ours
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        added.sort_unstable_by_key(|e| e.0);
        let now = Disk::open(&self.path);
        let old: Vec<(&str, &[u8])> = now.as_ref().map_or_else(Vec::new, |d| d.entries());
        let merged = merge(&old, &added, present);
        let out = encode(&merged);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let written = super::fsutil::replace_cache(&dir.join("tmp"), &self.path, &out);
        // Mapped again on the next get: the new file has what this session made.
        self.disk = None;
        written
    }
}

/// Both sorted lists in one, ascending, one entry per name (the file's wins: an entry
/// never goes stale), only names `present` says are still there.
fn merge<'a>(
    old: &[(&'a str, &'a [u8])],
    added: &[(&'a str, &'a [u8])],
    present: &dyn Fn(&str) -> bool,
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = Vec::with_capacity(old.len() + added.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < added.len() {
        let take_old = j == added.len() || (i < old.len() && old[i].0 <= added[j].0);
        let e = if take_old {
            if j < added.len() && old[i].0 == added[j].0 {
                j += 1;
            }
            i += 1;
            old[i - 1]
        } else {
            j += 1;
            added[j - 1]
        };
        if present(e.0) {
            out.push(e);
        }
    }
    out
}

fn encode(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let table = HEADER + 8 * (entries.len() + 1);
    let body: usize = entries.iter().map(|(n, b)| 2 + n.len() + b.len()).sum();
    let mut out = Vec::with_capacity(table + body);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut at = table as u64;
    for (n, b) in entries {
        out.extend_from_slice(&at.to_le_bytes());
        at += (2 + n.len() + b.len()) as u64;
    }
    out.extend_from_slice(&at.to_le_bytes());
    for (n, b) in entries {
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b);
    }
    out
}

/// A cache file, mapped.
#[derive(Debug)]
struct Disk {
    map: ReadOnlyMap,
    count: usize,
}

impl Disk {
    fn open(path: &Path) -> Option<Disk> {
        let (file, _) = super::fsutil::open_own_file(path)?;
        let map = ReadOnlyMap::new(&file).ok()?;
        if map.len() < HEADER || &map[..8] != MAGIC {
            return None;
        }
        let count = u32::from_le_bytes(map[8..12].try_into().ok()?) as usize;
        let table_end = HEADER.checked_add(count.checked_add(1)?.checked_mul(8)?)?;
        if table_end > map.len() {
            return None;
        }
        Some(Disk { map, count })
    }

    fn offset(&self, i: usize) -> usize {
        let at = HEADER + 8 * i;
        u64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes")) as usize
    }

    /// Entry `i` (`i < count`): its name and bytes; None when its offsets are damaged.
    fn entry(&self, i: usize) -> Option<(&str, &[u8])> {
        let (name, bytes) = self.raw_entry(i)?;
        Some((std::str::from_utf8(name).ok()?, bytes))
    }

    /// Entry `i` with its name as bytes: what a lookup compares (UTF-8 orders as its
    /// bytes do), so a SORT's 100,000 lookups check no name's UTF-8 17 times over.
    fn raw_entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let (start, end) = (self.offset(i), self.offset(i + 1));
        let e = self.map.get(start..end)?;
        let name_len = u16::from_le_bytes([*e.first()?, *e.get(1)?]) as usize;
        Some((e.get(2..2 + name_len)?, &e[2 + name_len..]))
    }

    fn find(&self, name: &str) -> Option<&[u8]> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (n, bytes) = self.raw_entry(mid)?;
            match n.cmp(name.as_bytes()) {
                std::cmp::Ordering::Equal => return Some(bytes),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }

    /// Every entry in order, up to the first damaged or out-of-order one.
    fn entries(&self) -> Vec<(&str, &[u8])> {
        let mut out: Vec<(&str, &[u8])> = Vec::with_capacity(self.count);
        for i in 0..self.count {
            match self.entry(i) {
                Some(e) if out.last().is_none_or(|l| l.0 < e.0) => out.push(e),
                _ => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn round_trip_merge_and_damage() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut a = BlobCache::new(d.path(), "envelope");
        assert!(a.get("1.M1.h").is_none());
        a.put("1.M1.h", b"(\"x\"\n{3}\r\nabc)".to_vec());
        a.put("3.M3.h", b"three".to_vec());
        a.save(&|_| true).unwrap();
        assert_eq!(a.get("3.M3.h"), Some(&b"three"[..]));
        let mut b = BlobCache::new(d.path(), "envelope");
        b.put("2.M2.h", b"".to_vec());
        b.put("0.gone", b"x".to_vec());
        b.save(&|n| n != "0.gone").unwrap();
        let mut c = BlobCache::new(d.path(), "envelope");
        assert_eq!(c.get("1.M1.h"), Some(&b"(\"x\"\n{3}\r\nabc)"[..]));
        assert_eq!(c.get("2.M2.h"), Some(&b""[..]));
        assert_eq!(c.get("3.M3.h"), Some(&b"three"[..]));
        assert!(c.get("0.gone").is_none() && c.get("4.M4.h").is_none());
        // Damage: every cut and a few byte flips read as missing entries, never a panic.
        let path = d.path().join("postern-cache.envelope");
        let whole = fs::read(&path).unwrap();
        for cut in 0..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            let mut e = BlobCache::new(d.path(), "envelope");
            for n in ["1.M1.h", "2.M2.h", "3.M3.h"] {
                let _ = e.get(n);
            }
        }
        for at in 0..whole.len() {
            let mut bad = whole.clone();
            bad[at] ^= 0xa5;
            fs::write(&path, &bad).unwrap();
            let mut e = BlobCache::new(d.path(), "envelope");
            e.put("5.M5.h", b"five".to_vec());
            for n in ["1.M1.h", "2.M2.h", "3.M3.h"] {
                let _ = e.get(n);
            }
            e.save(&|_| true).unwrap();
            assert_eq!(e.get("5.M5.h"), Some(&b"five"[..]), "flip at {at}");
        }
        // The old text format is not this one: read as empty, then replaced.
        fs::write(&path, b"postern-cache 1\n1.M1.h\n1\nx\n").unwrap();
        let mut f = BlobCache::new(d.path(), "envelope");
        assert!(f.get("1.M1.h").is_none());
    }

    /// A session that makes more than [`SPILL_AT`] of new entries merges them into the
    /// file as it goes; the last save still drops the entries of files that are gone.
    #[test]
    fn large_batches_spill_into_the_file() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut a = BlobCache::new(d.path(), "envelope");
        let blob = vec![b'e'; 64 << 10];
        let n = SPILL_AT / blob.len() + 8;
        for i in 0..n {
            a.put(&format!("{i:05}.M.h"), blob.clone());
        }
        assert!(a.ours_bytes < SPILL_AT, "nothing was spilled");
        let mut other = BlobCache::new(d.path(), "envelope");
        assert_eq!(other.get("00000.M.h").map(<[u8]>::len), Some(blob.len()));
        a.save(&|name| name != "00001.M.h").unwrap();
        let mut c = BlobCache::new(d.path(), "envelope");
        assert!(c.get("00001.M.h").is_none());
        for i in (0..n).filter(|&i| i != 1) {
            assert!(c.get(&format!("{i:05}.M.h")).is_some(), "{i}");
        }
    }

    /// A read-only session's cache never writes the file, however much it makes, and
    /// holds no more than the spill threshold.
    #[test]
    fn a_cache_without_writes_drops_instead_of_spilling() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut a = BlobCache::new(d.path(), "envelope").without_writes();
        let blob = vec![b'e'; 64 << 10];
        for i in 0..SPILL_AT / blob.len() + 8 {
            a.put(&format!("{i:05}.M.h"), blob.clone());
            assert!(a.ours_bytes < SPILL_AT, "{i}: {} held", a.ours_bytes);
        }
        assert!(!d.path().join("postern-cache.envelope").exists());
        assert_eq!(a.get("00000.M.h"), None, "the first entries were dropped");
        assert!(
            a.get(&format!("{:05}.M.h", SPILL_AT / blob.len() + 7))
                .is_some()
        );
    }

    #[test]
    fn merge_keeps_one_entry_per_name_in_order() {
        let old = [("a", &b"1"[..]), ("c", &b"3"[..]), ("e", &b"5"[..])];
        let added = [("b", &b"2"[..]), ("c", &b"x"[..]), ("f", &b"6"[..])];
        let m = merge(&old, &added, &|n| n != "e");
        assert_eq!(
            m,
            [
                ("a", &b"1"[..]),
                ("b", &b"2"[..]),
                ("c", &b"3"[..]),
                ("f", &b"6"[..])
            ]
        );
    }
}
