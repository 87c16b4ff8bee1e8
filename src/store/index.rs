//! `postern-index`: a folder's message list as a complete scan saw it, in fixed-width
//! records that sessions map read-only, so opening a large folder reads no directory and
//! parses no UID database, and the bytes are shared page cache rather than per-session
//! heap. Courier ignores the file; postern rebuilds it whenever it is missing or wrong.
//!
//! # Format (little-endian)
//!
//! ```text
//! header, 128 bytes:
//!   0  magic "PSTNIX\0\3"            8  uid_validity u32     12  uid_next u32
//!   16 count u32                     20 names_len u32
//!   24 valid_for: 10 × i64 (mtimes of new/, cur/, courierimapkeywords/ as (s, ns),
//!      size and mtime (s, ns) of courierimapuiddb, and a slot of two 32-bit digests
//!      of ctimes: new/'s and the database's, then cur/'s and the keyword directory's)
//!   104 unseen u32 (messages without \Seen)
//!   108 first unseen u32 (the record number of the first message without \Seen,
//!       u32::MAX when there is none)
//!   112 base id u64 (random, new with each file: what a `postern-index.diff` names,
//!       see index_diff.rs; zero in files from before it)        120..128 reserved (zero)
//! count records, 40 bytes each, ascending UIDs:
//!   0 uid u32   4 name_offset u32   8 name_len u16   10 flags u8   11 reserved u8
//!   12 reserved u32 (a keyword-set or modseq reference can go here without a new record)
//!   16 size u64 (bytes on disk)   24 wire size u64 (CRLF size, u64::MAX unknown)
//!   32 internal date i64 (unix seconds, i64::MIN unknown)
//! names_len bytes: the file names (with their `:2,` info) the records point into.
//! ```
//!
//! # Why a reader never acts on a stale or torn index
//!
//! - Torn: the file is written whole in `tmp/`, fsynced and renamed over the old one, so a
//!   reader sees the old file or the new one, never a mix; a mapping keeps the inode it was
//!   made from even when the file is replaced. [`Mapped::open`] checks the magic and that
//!   the length is exactly header + records + names.
//! - Damaged (by anything but postern's writer: the owner's tools, a restore gone wrong):
//!   every record must be sound before a session shows any of them, because the answer
//!   to a damaged index is a full scan, and that must be chosen before EXISTS is sent (a
//!   record found bad later could only show as a vanished message). Sound means UIDs
//!   ascending and below uid_next, and names inside the names area, UTF-8, without `/`
//!   or a leading dot ([`Mapped::sound`]). That check reads the whole file, so it is made
//!   once per index file rather than per open: a session that made it records the file's
//!   identity (inode, size, mtime and ctime) in `postern-index.checked`
//!   ([`Mapped::vouch`]), and later opens that find the same identity skip it
//!   ([`Mapped::vouched`]). Any write to the index file moves its ctime, which no tool
//!   can set back; a ctime within the file system's clock tick of the check could be
//!   shared by a write right after it, so only a settled one is recorded (as for the
//!   folder times below; a read-only session checks but records nothing). The mark is a
//!   claim of the same standing as the index itself: whoever can write one can write
//!   the other. Each name is still checked again when it is read
//!   ([`Mapped::file_name`]): should the check mark be wrong all the same, a damaged name
//!   reads as a message whose file has vanished, never as a path outside the folder.
//! - Stale: `valid_for` records the state the list was taken from. Every change to the
//!   folder moves one of those times (a delivery or a move out of new/ changes new/'s
//!   mtime, a flag rename or an expunge cur/'s, a keyword change the keyword directory's,
//!   a new UID the database's size and mtime), and the ctimes beside them cannot be put
//!   back by a tool that restores mtimes. A session trusts the list as complete only
//!   when all of them equal what it finds on disk and they are older than the file
//!   system's clock tick when they were read (see `DirStamp::settled` in mailbox.rs).
//!   When only new/ (and the database) moved and cur/ and the keyword directory are still
//!   as the index saw them, and settled, the index is complete for cur/ and only new/ is
//!   listed. Otherwise the list is only a starting point, reconciled with a listing of
//!   both directories. Either way the UIDs in the index stay right, because a basename's UID
//!   never changes while UIDVALIDITY (checked against the database's header) is the same.
//! - A session's own changes: a session that changes a large folder watches it with
//!   inotify from before its first change, starting from rows exact for a settled state
//!   still on disk, so the events name every file that moved, its own renames included.
//!   An open that moves deliveries out of new/ (which changes cur/) sets the watch before
//!   the stamp its listing goes by, or before it checks that cur/ is as the index has it.
//!   Rows kept up by the events are exact for a stamp taken after the events were read
//!   when no further event was queued by then; when the session ends it waits out the
//!   clock tick, checks that the times and the event queue are still the same, and
//!   saves the index for that state. A delivery that lands meanwhile stays in new/, and
//!   the index leaves new/ unknown, so the next opener lists new/ alone. LOGOUT closes
//!   the folder (settle and save included) before its tagged OK, holding the folder's
//!   rebuild lock, so a session opening the folder meanwhile waits for that index.
//!   A large folder listed whole for want of an index is not watched: when the session's
//!   own changes after that look kept its rows from becoming the index, the session
//!   lists the folder once more when it closes it, under a settled stamp, and saves the
//!   rows only if that listing finds exactly them and the stamp still holds.
//!
//! A SELECT of a folder the index is exactly valid for takes its figures from the header
//! (EXISTS from count, UNSEEN from the first unseen record, corrected by what the session
//! changed) and a binary search of the UIDs (\Recent), and reads the rows in place (see
//! `table.rs`): it touches a few pages whatever the folder's size.
//!
//! When a session's rows differ from the index it opened in a few rows only, it writes
//! those as `postern-index.diff` instead (see index_diff.rs): the diff's `valid_for`
//! then stands for the index's, under the same rules.
//!
//! The index is only a cache: losing it, or finding it damaged, costs one full scan.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::Flags;
use crate::mapped::ReadOnlyMap;

pub const FILE: &str = "postern-index";
const MAGIC: &[u8; 8] = b"PSTNIX\0\x03";
/// Beside the index: which index file was checked whole and found sound (see
/// [`Mapped::vouched`]).
pub const CHECKED_FILE: &str = "postern-index.checked";
const CHECKED_MAGIC: &[u8; 8] = b"PSTNIC\0\x01";
const HEADER: usize = 128;
const RECORD: usize = 40;

/// What an index is valid for: the directory times (new/, cur/, keywords) and the UID
/// database's size and modification time.
pub type Validity = [i64; 10];

/// One message as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub uid: u32,
    pub flags: Flags,
    /// Bytes on disk.
    pub size: u64,
    /// CRLF size, when known.
    pub wire_size: Option<u64>,
    /// INTERNALDATE, when known.
    pub internal_date: Option<i64>,
}

/// The list a writer hands to [`save`].
pub struct Snapshot<'a, I: ExactSizeIterator<Item = (Record, &'a str)>> {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub valid_for: Validity,
    pub messages: I,
}

/// Size and modification time of the UID database, and its change time (zeros when
/// it is missing).
pub fn uiddb_signature(folder_dir: &Path) -> ([i64; 3], (i64, i64)) {
    match fs::metadata(folder_dir.join(super::uiddb::FILE)) {
        Ok(m) => (
            [m.len() as i64, m.mtime(), m.mtime_nsec()],
            (m.ctime(), m.ctime_nsec()),
        ),
        Err(_) => ([0; 3], (0, 0)),
    }
}

/// A mapped index whose header and length are right; records are checked as read.
#[derive(Debug)]
pub struct Mapped {
    map: ReadOnlyMap,
    count: usize,
    /// Inode, size, mtime and ctime (s, ns) of the mapped file.
    identity: [i64; 6],
}

/// How much older than now a file time must be before it vouches for itself: 25 ms
/// where the file system keeps nanoseconds (the kernel's coarse clock ticks every 1 to 10
/// ms), 2 s where it keeps whole seconds (as `margin` in mailbox.rs).
fn settled_time(secs: i64, ns: i64) -> bool {
    let margin: i128 = if ns == 0 { 2_000_000_000 } else { 25_000_000 };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    secs as i128 * 1_000_000_000 + (ns as i128) < now - margin
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Mapped {
    /// Maps the folder's index; `None` when it is missing or its shape is wrong.
    pub fn open(folder_dir: &Path) -> Option<Mapped> {
        let (file, m) = super::fsutil::open_own_file(&folder_dir.join(FILE))?;
        let identity = [
            m.ino() as i64,
            m.len() as i64,
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ];
        let map = ReadOnlyMap::new(&file).ok()?;
        if map.len() < HEADER || &map[..8] != MAGIC {
            return None;
        }
        let count = u32_at(&map, 16) as usize;
        let names = u32_at(&map, 20) as usize;
        if map.len() as u64 != (HEADER + count * RECORD) as u64 + names as u64 {
            return None;
        }
        Some(Mapped {
            map,
            count,
            identity,
        })
    }

    pub fn uid_validity(&self) -> u32 {
        u32_at(&self.map, 8)
    }

    pub fn uid_next(&self) -> u32 {
        u32_at(&self.map, 12)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn valid_for(&self) -> Validity {
        let mut v = [0i64; 10];
        for (i, slot) in v.iter_mut().enumerate() {
            *slot = u64_at(&self.map, 24 + 8 * i) as i64;
        }
        v
    }

    pub fn unseen(&self) -> u32 {
        u32_at(&self.map, 104)
    }

    /// What a `postern-index.diff` made from this file names (zero: none can).
    pub fn base_id(&self) -> u64 {
        u64_at(&self.map, 112)
    }

    /// The record number of the first message without \Seen, as the writer counted.
    pub fn first_unseen(&self) -> Option<usize> {
        let at = u32_at(&self.map, 108) as usize;
        (at < self.count).then_some(at)
    }

    /// Whether `postern-index.checked` says this very file was found [`Mapped::sound`].
    pub fn vouched(&self, folder_dir: &Path) -> bool {
        let Some(b) = super::fsutil::read_own_file(&folder_dir.join(CHECKED_FILE), 64) else {
            return false;
        };
        b.len() == 8 + 6 * 8
            && &b[..8] == CHECKED_MAGIC
            && (0..6).all(|i| u64_at(&b, 8 + 8 * i) as i64 == self.identity[i])
    }

    /// Records that this file was found sound (call only after [`Mapped::sound`] said
    /// so), when its times have settled; a cache like the index (no fsync: a lost
    /// mark costs one check).
    pub fn vouch(&self, folder_dir: &Path) {
        let [.., ms, mns, cs, cns] = self.identity;
        if !settled_time(ms, mns) || !settled_time(cs, cns) {
            return;
        }
        let mut out = CHECKED_MAGIC.to_vec();
        for v in self.identity {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let target = folder_dir.join(CHECKED_FILE);
        if let Err(e) = super::fsutil::replace_cache(&folder_dir.join("tmp"), &target, &out) {
            log::debug!("{}: {e}", target.display());
        }
    }

    /// Whether every record is sound: UIDs ascending, above 0 and below UIDNEXT, names
    /// that are file names ([`Mapped::names_valid`]). Reads the whole file.
    pub fn sound(&self) -> bool {
        let mut last = 0;
        let next = self.uid_next();
        let uids_ok = (0..self.count).all(|i| {
            let uid = u32_at(self.raw(i), 0);
            let ok = uid > last && uid < next;
            last = uid;
            ok
        });
        uids_ok && self.names_valid()
    }

    fn raw(&self, i: usize) -> &[u8] {
        &self.map[HEADER + i * RECORD..HEADER + (i + 1) * RECORD]
    }

    /// Record `i` (`i < len()`).
    pub fn record(&self, i: usize) -> Record {
        let r = self.raw(i);
        let wire = u64_at(r, 24);
        let date = u64_at(r, 32) as i64;
        Record {
            uid: u32_at(r, 0),
            flags: Flags::from_bits(r[10]),
            size: u64_at(r, 16),
            wire_size: (wire != u64::MAX).then_some(wire),
            internal_date: (date != i64::MIN).then_some(date),
        }
    }

    /// How many records have a UID below `uid` (records ascend by UID): a binary search
    /// that reads a few records.
    pub fn records_below(&self, uid: u32) -> usize {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if u32_at(self.raw(mid), 0) < uid {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Lets go of the pages read so far (see [`ReadOnlyMap::release_pages`]): a session
    /// that has copied the records keeps its rows, not the file.
    pub fn release_pages(&self) {
        self.map.release_pages();
    }

    /// Whether every record's name is a file name, checked in two passes over the names
    /// area as a whole (UTF-8, no `/` or NUL) and one over the records (bounds, character
    /// boundaries, no leading dot) rather than name by name: an open that takes the rows
    /// pays this once, and a damaged index costs a full scan instead of a lost message.
    pub fn names_valid(&self) -> bool {
        let names = &self.map[HEADER + self.count * RECORD..];
        let Ok(text) = std::str::from_utf8(names) else {
            return false;
        };
        if memchr::memchr2(b'/', 0, names).is_some() {
            return false;
        }
        (0..self.count).all(|i| {
            let r = self.raw(i);
            let off = u32_at(r, 4) as usize;
            let end = off + u16::from_le_bytes([r[8], r[9]]) as usize;
            end <= names.len()
                && off < end
                && names[off] != b'.'
                && text.is_char_boundary(off)
                && text.is_char_boundary(end)
        })
    }

    /// The file name of record `i`; `None` when the record points outside the names or
    /// at bytes that are not a file name.
    pub fn file_name(&self, i: usize) -> Option<&str> {
        let r = self.raw(i);
        let (off, len) = (
            u32_at(r, 4) as usize,
            u16::from_le_bytes([r[8], r[9]]) as usize,
        );
        let names = &self.map[HEADER + self.count * RECORD..];
        let name = std::str::from_utf8(names.get(off..off.checked_add(len)?)?).ok()?;
        (!name.is_empty() && !name.contains('/') && !name.starts_with('.')).then_some(name)
    }
}

/// Writes the index via tmp/, fsync and rename. Names that a record cannot hold (longer
/// than 64 KiB) leave the folder without an index.
pub fn save<'a, I>(folder_dir: &Path, snapshot: Snapshot<'a, I>) -> io::Result<()>
where
    I: ExactSizeIterator<Item = (Record, &'a str)>,
{
    let count = snapshot.messages.len();
    let mut records = Vec::with_capacity(count * RECORD);
    let mut names: Vec<u8> = Vec::with_capacity(count * 48);
    let mut unseen = 0u32;
    let mut first_unseen = u32::MAX;
    for (r, name) in snapshot.messages {
        let (Ok(len), Ok(off)) = (u16::try_from(name.len()), u32::try_from(names.len())) else {
            return Ok(());
        };
        if !r.flags.contains(Flags::SEEN) {
            if unseen == 0 {
                first_unseen = (records.len() / RECORD) as u32;
            }
            unseen += 1;
        }
        records.extend_from_slice(&r.uid.to_le_bytes());
        records.extend_from_slice(&off.to_le_bytes());
        records.extend_from_slice(&len.to_le_bytes());
        records.extend_from_slice(&[r.flags.bits(), 0, 0, 0, 0, 0]);
        records.extend_from_slice(&r.size.to_le_bytes());
        records.extend_from_slice(&r.wire_size.unwrap_or(u64::MAX).to_le_bytes());
        records.extend_from_slice(&r.internal_date.unwrap_or(i64::MIN).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
    }
    let Ok(names_len) = u32::try_from(names.len()) else {
        return Ok(());
    };
    let mut out = Vec::with_capacity(HEADER + records.len() + names.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&snapshot.uid_validity.to_le_bytes());
    out.extend_from_slice(&snapshot.uid_next.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&names_len.to_le_bytes());
    for v in snapshot.valid_for {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&unseen.to_le_bytes());
    out.extend_from_slice(&first_unseen.to_le_bytes());
    out.extend_from_slice(&fresh_base_id().to_le_bytes());
    out.resize(HEADER, 0);
    out.extend_from_slice(&records);
    out.extend_from_slice(&names);
    super::fsutil::replace_synced(&folder_dir.join("tmp"), &folder_dir.join(FILE), &out)?;
    // A diff names the index it was made from, so it no longer applies; gone, it takes
    // no room.
    super::index_diff::remove(folder_dir);
    Ok(())
}

/// A base id no other index file of the folder has had: random, never zero.
fn fresh_base_id() -> u64 {
    use std::hash::BuildHasher;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((now, std::process::id())) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: u32, flags: Flags, size: u64) -> Record {
        Record {
            uid,
            flags,
            size,
            wire_size: None,
            internal_date: None,
        }
    }

    /// Whoever may write the folder could put a FIFO or a link where the index and its
    /// check mark belong: neither is waited on or followed.
    #[test]
    fn a_fifo_or_a_link_is_no_index() {
        let d = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&d.path().join(FILE), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(Mapped::open(d.path()).is_none());
        fs::remove_file(d.path().join(FILE)).unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir(elsewhere.path().join("tmp")).unwrap();
        let snapshot = Snapshot {
            uid_validity: 1,
            uid_next: 2,
            valid_for: [0; 10],
            messages: [(record(1, Flags::SEEN, 3), "1.M1P1.h:2,S")].into_iter(),
        };
        save(elsewhere.path(), snapshot).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join(FILE), d.path().join(FILE)).unwrap();
        assert!(Mapped::open(d.path()).is_none());
        assert!(Mapped::open(elsewhere.path()).is_some());
    }

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut one = record(1, Flags::SEEN, 80);
        one.wire_size = Some(83);
        one.internal_date = Some(-5);
        let list = [
            (one, "1700000000.M1P1.host,S=80:2,S"),
            (
                record(3, Flags::empty(), 12),
                "1700000001.M2P2.host odd name:2,",
            ),
        ];
        let snapshot = Snapshot {
            uid_validity: 795868689,
            uid_next: 4,
            valid_for: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            messages: list.iter().copied(),
        };
        save(d.path(), snapshot).unwrap();
        let m = Mapped::open(d.path()).unwrap();
        assert_eq!((m.uid_validity(), m.uid_next(), m.len()), (795868689, 4, 2));
        assert_eq!(m.valid_for(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!((m.unseen(), m.first_unseen()), (1, Some(1)));
        assert!(m.sound());
        assert!(!m.vouched(d.path()));
        for (i, (r, name)) in list.iter().enumerate() {
            assert_eq!(m.record(i), *r);
            assert_eq!(m.file_name(i), Some(*name));
        }
        let path = d.path().join(FILE);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        assert!(Mapped::open(d.path()).is_none(), "torn");
        let mut bad = bytes.clone();
        bad[0] = b'X';
        fs::write(&path, &bad).unwrap();
        assert!(Mapped::open(d.path()).is_none(), "magic");
        let mut bad = bytes.clone();
        bad[HEADER + 8] = 200; // name length beyond the names area
        fs::write(&path, &bad).unwrap();
        assert_eq!(Mapped::open(d.path()).unwrap().file_name(0), None);
        fs::write(&path, "postern-index 1 1 2 3\n").unwrap();
        assert!(Mapped::open(d.path()).is_none(), "the old text format");
        let mut v2 = bytes.clone();
        v2[7] = 2;
        fs::write(&path, &v2).unwrap();
        assert!(
            Mapped::open(d.path()).is_none(),
            "version 2 (no first unseen)"
        );
    }

    #[test]
    fn a_check_mark_names_one_file() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let list = [(record(1, Flags::SEEN, 8), "1700000000.M1P1.host:2,S")];
        let snapshot = || Snapshot {
            uid_validity: 7,
            uid_next: 2,
            valid_for: [0; 10],
            messages: list.iter().copied(),
        };
        save(d.path(), snapshot()).unwrap();
        let m = Mapped::open(d.path()).unwrap();
        assert_eq!(m.first_unseen(), None);
        m.vouch(d.path());
        assert!(!m.vouched(d.path()), "not while its ctime is fresh");
        std::thread::sleep(std::time::Duration::from_millis(30));
        m.vouch(d.path());
        assert!(m.vouched(d.path()));
        assert!(Mapped::open(d.path()).unwrap().vouched(d.path()));
        // The same bytes written again (in place, or a new file): not the file checked.
        let bytes = fs::read(d.path().join(FILE)).unwrap();
        fs::write(d.path().join(FILE), &bytes).unwrap();
        assert!(!Mapped::open(d.path()).unwrap().vouched(d.path()));
        save(d.path(), snapshot()).unwrap();
        assert!(!Mapped::open(d.path()).unwrap().vouched(d.path()));
    }
}
