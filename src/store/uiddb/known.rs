//! What this process has already read of a folder's UID database, so that numbering a few
//! names reads only the lines appended since. Without it, an IDLE session or an APPEND
//! into a folder of 100,000 messages reads the whole 6.6 MB file for every delivery.
//!
//! Why bytes read once need not be read again: every writer either replaces the file, or
//! appends to it in place. Courier replaces it whenever it writes (checked with 5.0.13:
//! the inode changes), and so do postern's rewrites. postern's appends, made under the
//! folder lock, overwrite the header in place with one of the same length and write lines
//! after the last one (see the parent module). So while the file is the one read — same
//! device, inode and birth time (a later replacement may reuse the inode number, not the
//! birth time) — and at least as long, the bytes between its header and the length read
//! are the ones read. As a guard against anything else (an editor writing in place), the
//! last bytes read are compared again with each tail.
//!
//! The names in the known part are kept in a Bloom filter, not as strings: a name it rules
//! out has no line there, and a name it does not rule out sends the caller to a full read.
//!
//! # Shared between processes: `postern-uidnames`
//!
//! Each connection is its own process, so what one process learned is also written beside
//! the database, for the next process that opens the folder (a SELECT right after a
//! delivery numbers it, and would otherwise read all of a 6.6 MB database at 100,000
//! messages for that). The file holds the identity, the known length, its last bytes and
//! highest UID, and the filter, with a checksum over all of it; it is written by the
//! process that read the database whole (building the filter costs about 4 ms at 100,000
//! names, paid once per database file), and again by one whose tail reads have grown the
//! known part by [`SAVE_AFTER`]. A reader takes it only when the checksum holds and it
//! describes the very file it opened (device, inode, birth time, length), and then the
//! tail read compares the guard bytes as for its own knowledge. Like `postern-index`, it
//! is a cache: written through tmp/ and a rename, so a reader finds a whole file or none,
//! never fsynced (a damaged one fails its checksum and costs one full read), and a claim
//! of the same standing as the database beside it: whoever can write one can write the
//! other. The filter's hash is postern's own ([`stable_hash`]) because it is part of
//! that format.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rustc_hash::FxHashMap as HashMap;

use crate::store::{fsutil, stable_hash};

/// Smaller files are read whole each time: that costs less than keeping a filter.
pub const KNOWN_FROM: u64 = 64 * 1024;

/// Bytes before the known length that a tail read compares again.
const GUARD: usize = 32;

/// Folders whose databases one process keeps track of at once.
const FOLDERS: usize = 8;

/// Beside the database: what a process knew of it, for the next one (module comment).
pub const SAVED: &str = "postern-uidnames";
const SAVED_MAGIC: &[u8; 8] = b"PSTNUN\0\x01";
/// The saved file's header: magic, identity (device, inode, birth seconds and
/// nanoseconds), highest UID, length, name count and capacity, the guard bytes, the
/// filter's length in words, and the checksum; then the filter's words.
const SAVED_HEADER: usize = 104;
const CHECKSUM_AT: usize = 96;

/// A process whose tail reads grew the known part by this much since it was last saved
/// saves it again, so later processes' tails stay short.
const SAVE_AFTER: u64 = 64 * 1024;

/// The file a [`Known`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    born: SystemTime,
}

impl Identity {
    /// None where the file system does not record a birth time.
    fn of(meta: &Metadata) -> Option<Identity> {
        Some(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            born: meta.created().ok()?,
        })
    }
}

/// The part of one database this process has read.
struct Known {
    identity: Identity,
    /// Bytes read, up to the end of a complete line.
    len: u64,
    /// The last [`GUARD`] bytes of those.
    last: [u8; GUARD],
    /// The highest UID of a line in them.
    max_uid: u32,
    /// Their names.
    names: Names,
    /// The length [`SAVED`] was written with by this process or read from, 0 for none.
    saved_len: u64,
    /// The UIDs of the names in lines this process read from tails or appended itself:
    /// the ones asked about again (the deliveries a STATUS poll sees waiting in new/
    /// each time), answered without a full read.
    recent: HashMap<String, u32>,
}

/// Names [`Known::recent`] holds at most (it starts over past that).
const RECENT: usize = 1024;

/// What the known part of a database says of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InKnown {
    /// No line for it there.
    Absent,
    /// Its line there has this UID.
    Numbered(u32),
    /// Perhaps a line: only a full read can tell.
    Unsure,
}

static KNOWN: Mutex<Option<HashMap<PathBuf, Known>>> = Mutex::new(None);

fn with_known<T>(f: impl FnOnce(&mut HashMap<PathBuf, Known>) -> T) -> T {
    let mut guard = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::default))
}

/// The lines of a database after its known part, read without the rest.
pub struct Tail {
    /// The header line with its `\n`.
    pub header: Vec<u8>,
    /// Whole lines from the end of the known part to the end of the file (possibly a torn
    /// last one: the caller checks).
    pub body: Vec<u8>,
    /// Where `body` starts in the file.
    pub from: u64,
    /// The highest UID of a line before `from`.
    pub max_uid: u32,
}

/// The header and the lines after the known part of `file` (the database at `path`,
/// `meta` its metadata), when this process knows the rest. None when it does not, or when
/// the file changed in any way but an append.
pub fn tail(path: &Path, file: &File, meta: &Metadata) -> io::Result<Option<Tail>> {
    let Some(identity) = Identity::of(meta).filter(|_| meta.len() >= KNOWN_FROM) else {
        return Ok(None);
    };
    let known = with_known(|all| {
        if all.get(path).is_none_or(|k| k.identity != identity) {
            let saved = load_saved(path, identity, meta.len())?;
            remember(all, path, saved);
        }
        let k = all.get(path)?;
        (k.identity == identity && k.len <= meta.len()).then_some((k.len, k.last, k.max_uid))
    });
    let Some((len, last, max_uid)) = known else {
        return Ok(None);
    };
    let mut head = [0u8; 64];
    let n = read_at_most(file, &mut head, 0)?;
    let Some(header_end) = memchr::memchr(b'\n', &head[..n]) else {
        return Ok(None);
    };
    let start = len - GUARD as u64;
    let mut bytes = vec![0u8; (meta.len() - start) as usize];
    let n = read_at_most(file, &mut bytes, start)?;
    bytes.truncate(n);
    if bytes.len() < GUARD || bytes[..GUARD] != last {
        forget(path);
        return Ok(None);
    }
    bytes.drain(..GUARD);
    Ok(Some(Tail {
        header: head[..=header_end].to_vec(),
        body: bytes,
        from: len,
        max_uid,
    }))
}

/// Reads into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// What the known part of the database at `path` says of `name`.
pub fn lookup(path: &Path, name: &str) -> InKnown {
    with_known(|all| {
        let Some(k) = all.get(path) else {
            return InKnown::Unsure;
        };
        if let Some(&uid) = k.recent.get(name) {
            return InKnown::Numbered(uid);
        }
        if k.names.may_contain(name.as_bytes()) {
            InKnown::Unsure
        } else {
            InKnown::Absent
        }
    })
}

/// After a full read of the database (`bytes`, complete lines with the header, as `meta`
/// describes the file) whose highest line UID is `max_uid`: remembers it, names included,
/// and saves it for other processes (module comment).
pub fn read_whole(path: &Path, meta: &Metadata, bytes: &[u8], header_len: usize, max_uid: u32) {
    let Some(identity) = Identity::of(meta) else {
        return;
    };
    if (bytes.len() as u64) < KNOWN_FROM || bytes.last() != Some(&b'\n') {
        forget(path);
        return;
    }
    let to_save = with_known(|all| {
        // Still the part read before, as a tail read would check: only the rest is new.
        if let Some(k) = all.get_mut(path)
            && k.identity == identity
            && k.len <= bytes.len() as u64
            && bytes[k.len as usize - GUARD..k.len as usize] == k.last
        {
            let from = k.len as usize;
            if !k.grow(&bytes[from..], max_uid) {
                all.remove(path);
                return None;
            }
            return k.bytes_to_save();
        }
        let body = &bytes[header_len..];
        let lines = memchr::memchr_iter(b'\n', body).count();
        let mut names = Names::with_capacity(lines + lines / 4 + 1024);
        each_line(body, |_, name| {
            names.insert(name);
        });
        let mut known = Known {
            identity,
            len: bytes.len() as u64,
            last: last_bytes(bytes),
            max_uid,
            names,
            saved_len: 0,
            recent: HashMap::default(),
        };
        let to_save = known.bytes_to_save();
        remember(all, path, known);
        to_save
    });
    save(path, to_save);
}

/// Keeps `known` for `path`, making room among [`FOLDERS`] when needed.
fn remember(all: &mut HashMap<PathBuf, Known>, path: &Path, known: Known) {
    if !all.contains_key(path) && all.len() >= FOLDERS {
        let smallest = all
            .iter()
            .min_by_key(|(_, k)| k.len)
            .map(|(p, _)| p.clone());
        if let Some(p) = smallest {
            all.remove(&p);
        }
    }
    all.insert(path.to_path_buf(), known);
}

/// After this process read `body` (whole lines) at `from` in the file `meta` describes,
/// or appended it there under the folder lock: the known part grows by it when it ended
/// at `from`. `max_uid` is the highest UID in `body`.
pub fn extend(path: &Path, meta: &Metadata, from: u64, body: &[u8], max_uid: u32) {
    let Some(identity) = Identity::of(meta) else {
        return;
    };
    if body.is_empty() {
        return;
    }
    let to_save = with_known(|all| {
        let k = all.get_mut(path)?;
        if k.identity != identity || k.len != from || !k.grow(body, max_uid) {
            all.remove(path);
            return None;
        }
        k.bytes_to_save()
    });
    save(path, to_save);
}

impl Known {
    /// Takes in `body`, whole lines that follow the known part, whose highest UID is
    /// `max_uid`. False when it cannot (not whole lines, or the filter is full): then the
    /// entry must go.
    fn grow(&mut self, body: &[u8], max_uid: u32) -> bool {
        if body.last() != Some(&b'\n') {
            return false;
        }
        if self.recent.len() >= RECENT {
            self.recent.clear();
        }
        let mut full = false;
        each_line(body, |uid, name| {
            full |= !self.names.insert(name);
            if let Ok(name) = std::str::from_utf8(name) {
                self.recent.insert(name.to_string(), uid);
            }
        });
        if full {
            return false;
        }
        let mut joined = self.last.to_vec();
        joined.extend_from_slice(body);
        self.last = last_bytes(&joined);
        self.len += body.len() as u64;
        self.max_uid = self.max_uid.max(max_uid);
        true
    }

    /// The bytes of [`SAVED`] when the known part grew by [`SAVE_AFTER`] since it was
    /// last saved (or never was), marking it saved.
    fn bytes_to_save(&mut self) -> Option<Vec<u8>> {
        if self.saved_len != 0 && self.len < self.saved_len + SAVE_AFTER {
            return None;
        }
        self.saved_len = self.len;
        let born = self
            .identity
            .born
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?;
        let mut out = Vec::with_capacity(SAVED_HEADER + self.names.bits.len() * 8);
        out.extend_from_slice(SAVED_MAGIC);
        out.extend_from_slice(&self.identity.dev.to_le_bytes());
        out.extend_from_slice(&self.identity.ino.to_le_bytes());
        out.extend_from_slice(&born.as_secs().to_le_bytes());
        out.extend_from_slice(&born.subsec_nanos().to_le_bytes());
        out.extend_from_slice(&self.max_uid.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&(self.names.count as u32).to_le_bytes());
        out.extend_from_slice(&(self.names.capacity as u32).to_le_bytes());
        out.extend_from_slice(&self.last);
        out.extend_from_slice(&(self.names.bits.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&[0; 8]);
        for w in &self.names.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = stable_hash::hash(&out);
        out[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        Some(out)
    }
}

/// Writes [`SAVED`] beside the database at `path` (a failure, such as a folder this
/// process may only read, costs the next process a full read: not reported).
fn save(path: &Path, bytes: Option<Vec<u8>>) {
    let (Some(bytes), Some(dir)) = (bytes, path.parent()) else {
        return;
    };
    if let Err(e) = fsutil::replace_cache(&dir.join("tmp"), &dir.join(SAVED), &bytes) {
        log::debug!("{}: cannot save {SAVED}: {e}", dir.display());
    }
}

/// What another process saved of the database at `path`, when it is whole and describes
/// the file `identity` names, `db_len` long. Read as any file in a folder others may
/// write to: not through a link, not a FIFO, and no larger than a filter for that
/// database can be (a filter takes under two bytes a line of at least four).
fn load_saved(path: &Path, identity: Identity, db_len: u64) -> Option<Known> {
    let most = SAVED_HEADER as u64 + db_len / 2 + 4096;
    let bytes = fsutil::read_own_file(&path.parent()?.join(SAVED), most)?;
    if bytes.len() < SAVED_HEADER || &bytes[..8] != SAVED_MAGIC {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    if stable_hash::checksum_without(&bytes, CHECKSUM_AT) != u64_at(CHECKSUM_AT) {
        return None;
    }
    let nanos = u32_at(32);
    if nanos >= 1_000_000_000 {
        return None;
    }
    let born = SystemTime::UNIX_EPOCH.checked_add(Duration::new(u64_at(24), nanos))?;
    let saved = Identity {
        dev: u64_at(8),
        ino: u64_at(16),
        born,
    };
    let (count, capacity, words) = (u32_at(48) as usize, u32_at(52) as usize, u32_at(88));
    let len = u64_at(40);
    let sound = saved == identity
        && len >= KNOWN_FROM
        && count <= capacity
        && words as usize == (capacity * 10).div_ceil(64)
        && bytes.len() == SAVED_HEADER + words as usize * 8;
    if !sound {
        return None;
    }
    let bits = bytes[SAVED_HEADER..]
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
        .collect();
    Some(Known {
        identity,
        len,
        last: bytes[56..56 + GUARD].try_into().unwrap(),
        max_uid: u32_at(36),
        names: Names {
            bits,
            count,
            capacity,
        },
        saved_len: len,
        recent: HashMap::default(),
    })
}

/// Drops what this process knew of the database at `path`.
pub fn forget(path: &Path) {
    with_known(|all| all.remove(path));
}

fn last_bytes(bytes: &[u8]) -> [u8; GUARD] {
    let mut last = [0u8; GUARD];
    last.copy_from_slice(&bytes[bytes.len() - GUARD..]);
    last
}

/// Calls `f` with the UID and name of each `<uid> <name>\n` line of `body`.
fn each_line(body: &[u8], mut f: impl FnMut(u32, &[u8])) {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', body) {
        let line = &body[start..end];
        if let (Some(uid), Some(space)) = (super::line_uid(line), memchr::memchr(b' ', line)) {
            f(uid, &line[space + 1..]);
        }
        start = end + 1;
    }
}

/// A Bloom filter of names: about ten bits and seven probes per name, so under 1% of the
/// names it never saw are taken for seen ones.
struct Names {
    bits: Vec<u64>,
    count: usize,
    capacity: usize,
}

const PROBES: u64 = 7;

impl Names {
    fn with_capacity(capacity: usize) -> Names {
        Names {
            bits: vec![0; (capacity * 10).div_ceil(64)],
            count: 0,
            capacity,
        }
    }

    /// The bits of `name`: double hashing of one 64-bit hash, each probe mapped onto the
    /// bits by a multiply (a division per probe would cost more than the hash).
    fn slots(&self, name: &[u8]) -> impl Iterator<Item = usize> + use<> {
        let h1 = stable_hash::hash(name);
        let h2 = h1.rotate_left(32) | 1;
        let m = self.bits.len() as u128 * 64;
        (0..PROBES).map(move |i| {
            let g = h1.wrapping_add(i.wrapping_mul(h2));
            ((u128::from(g) * m) >> 64) as usize
        })
    }

    /// False when the filter is full (its error rate would grow past its design).
    fn insert(&mut self, name: &[u8]) -> bool {
        if self.count >= self.capacity {
            return false;
        }
        self.count += 1;
        for s in self.slots(name) {
            self.bits[s / 64] |= 1 << (s % 64);
        }
        true
    }

    fn may_contain(&self, name: &[u8]) -> bool {
        self.slots(name)
            .all(|s| self.bits[s / 64] & (1 << (s % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_miss_a_name_they_hold_and_rarely_claim_others() {
        let mut names = Names::with_capacity(10_000);
        for i in 0..10_000 {
            assert!(names.insert(format!("{i}.M1P1.host").as_bytes()));
        }
        assert!(!names.insert(b"one too many"));
        for i in 0..10_000 {
            assert!(names.may_contain(format!("{i}.M1P1.host").as_bytes()));
        }
        let false_hits = (10_000..20_000)
            .filter(|i| names.may_contain(format!("{i}.M1P1.host").as_bytes()))
            .count();
        assert!(false_hits < 200, "{false_hits} false hits in 10,000");
    }
}
