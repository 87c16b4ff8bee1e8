//! The view of one open folder: messages in UID order, taken from the folder index when it
//! can be trusted and otherwise from a scan of new/ and cur/ plus the UID database, and
//! everything a session does to it. Per message the session holds one 24-byte row (see
//! [`table`](super::table)); names, sizes and dates stay in the mapped index.

use std::cell::{Cell, RefCell};
// Keys are file names and keywords from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::blobcache::BlobCache;
use super::filename::{UniqueName, size_from_name, split_info, wire_size_from_name};
use super::keyword_writer::{self, KeywordWriter};
use super::table::{GONE, IN_NEW, RECENT, Row, Table};
use super::watch::{Sub, Watcher};
use super::{
    Flags, Maildir, Result, StoreError, fsutil, index, index_diff, keywords, modseq, quota, recent,
    sizecache, uiddb,
};

/// One message of an open folder, as the session sees it now (a view: cheap to make,
/// borrowed from the [`Mailbox`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageEntry<'a> {
    pub uid: u32,
    /// The file name without the `:2,` info.
    pub basename: &'a str,
    pub flags: Flags,
    pub keywords: &'a [String],
    /// Bytes on disk: from `,S=` when present, else stat.
    pub size: u64,
    /// \Recent in this session: claimed by it in `postern-recent` (see [`recent`]), or,
    /// for a read-only view, claimed by no session yet.
    pub recent: bool,
    file_name: &'a str,
    gone: bool,
}

impl<'a> MessageEntry<'a> {
    /// The file's current name inside cur/ (or new/).
    pub fn file_name(&self) -> &'a str {
        self.file_name
    }

    /// True when the file has vanished and the expunge was not reported yet.
    pub fn is_gone(&self) -> bool {
        self.gone
    }
}

/// What [`Mailbox::refresh`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Original sequence numbers, descending.
    pub expunged: Vec<u32>,
    /// This many messages were appended at the end.
    pub new: usize,
    /// Indexes (after the expunges) whose flags or keywords changed.
    pub flags_changed: Vec<usize>,
}

/// What [`Mailbox::copy_to`] did, for COPYUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    pub uid_validity: u32,
    /// (source uid, target uid)
    pub uids: Vec<(u32, u32)>,
    /// The copies' basenames in the target, in the order of `uids` (SMAP's COPY names
    /// them: its message ids are file names).
    pub names: Vec<String>,
}

/// A change to one message's flags and keywords, applied to what is on disk when it is
/// made, not to what the session saw earlier: two sessions changing different flags of
/// one message at once both get their change (RFC 3501 §6.4.6 describes STORE as adding,
/// removing or replacing flags, not as writing a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagChange {
    pub add: Flags,
    pub remove: Flags,
    pub add_keywords: Vec<String>,
    pub remove_keywords: Vec<String>,
    /// The whole keyword set (STORE FLAGS); `add_keywords`/`remove_keywords` are ignored.
    pub keywords: Option<Vec<String>>,
}

impl FlagChange {
    /// The change that turns (`flags`, `keywords`) into (`to_flags`, `to_keywords`).
    pub fn between(
        flags: Flags,
        keywords: &[String],
        to_flags: Flags,
        to_keywords: &[String],
    ) -> FlagChange {
        let missing = |from: &[String], to: &[String]| -> Vec<String> {
            to.iter()
                .filter(|k| !from.iter().any(|f| f.eq_ignore_ascii_case(k)))
                .cloned()
                .collect()
        };
        FlagChange {
            add: to_flags.without(flags),
            remove: flags.without(to_flags),
            add_keywords: missing(keywords, to_keywords),
            remove_keywords: missing(to_keywords, keywords),
            keywords: None,
        }
    }

    fn apply_flags(&self, flags: Flags) -> Flags {
        flags.without(self.remove) | self.add
    }

    fn touches_keywords(&self) -> bool {
        self.keywords.is_some() || !self.add_keywords.is_empty() || !self.remove_keywords.is_empty()
    }

    fn apply_keywords(&self, keywords: &[String]) -> Vec<String> {
        if let Some(all) = &self.keywords {
            return all.clone();
        }
        let mut out: Vec<String> = keywords
            .iter()
            .filter(|k| {
                !self
                    .remove_keywords
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(k))
            })
            .cloned()
            .collect();
        for k in &self.add_keywords {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                out.push(k.clone());
            }
        }
        out
    }

    /// The same change with validated, de-duplicated keywords.
    fn cleaned(&self) -> Result<FlagChange> {
        Ok(FlagChange {
            add: self.add,
            remove: self.remove,
            add_keywords: keywords::clean(&self.add_keywords)?,
            remove_keywords: keywords::clean(&self.remove_keywords)?,
            keywords: self.keywords.as_deref().map(keywords::clean).transpose()?,
        })
    }
}

/// How often a flag change looks for a message file that others keep renaming before it
/// gives up (each retry means another process changed the flags meanwhile).
const RENAME_TRIES: usize = 32;

/// Bytes of cache entries a read-only session keeps unsaved between commands.
const READ_ONLY_KEEP: usize = 256 << 10;

/// One open folder: sequence number n is `message(n-1)`; UIDs ascend.
#[derive(Debug)]
pub struct Mailbox {
    root: PathBuf,
    dir: PathBuf,
    name: String,
    read_only: bool,
    uid_validity: u32,
    uid_next: u32,
    table: Table,
    /// The folder's state when the session last looked at all of it (taken before the
    /// look): what the rows are exact for, and what a saved index would be valid for.
    looked: Option<DirStamp>,
    /// `looked` once it is older than the clock tick: while the folder still shows these
    /// times, nothing changed and a refresh need not look.
    stamp: Option<DirStamp>,
    /// CRLF sizes of messages without `,W=` (`postern-sizes`), loaded on first need.
    wire_sizes: NumberCache,
    /// INTERNALDATEs (`postern-dates`), loaded on first need; interior mutability because
    /// reading a date is a `&self` question.
    internal_dates: RefCell<NumberCache>,
    /// INTERNALDATEs this session knows, by UID.
    dates: RefCell<HashMap<u32, i64>>,
    /// Derived bytes the protocol layer keeps per message (see [`Mailbox::cached`]).
    blob_caches: Vec<(&'static str, BlobCache)>,
    /// Changes keyword sets (keeps a listing of `courierimapkeywords/` between changes).
    keyword_writer: KeywordWriter,
    /// inotify on the folder once [`Mailbox::watch`] asked for it (IDLE): refreshes then
    /// apply the files its events name instead of listing the folder.
    watcher: Option<Watcher>,
    /// The events cover every change since the rows were last exact (a full look was
    /// taken after the watch began).
    events_trusted: bool,
    /// [`Mailbox::watch_own_changes`] asked for a watch once already (it is not asked
    /// again when inotify refused: a per-user limit).
    own_watch_tried: bool,
    /// Taken by [`Mailbox::retire`] for the index the drop will save; released after it,
    /// as the field is dropped after [`Drop::drop`].
    retiring: Option<RebuildLock>,
    /// A private copy of a filesystem-shared folder ([`super::fs_shared`]): its messages
    /// are links into the sharable folder, an EXPUNGE removes the message there, and no
    /// quota is charged. Holds the sharable folder, which each refresh syncs from.
    fs_shared: Option<PathBuf>,
    /// How many times cur/ was listed whole since the open (the open's own listing
    /// included): what the index and the stamps exist to avoid, counted so that tests
    /// and benchmarks can tell a listing from an answer out of the index.
    cur_listings: u32,
    /// No message is shown as recent ([`Mailbox::hide_recent`]).
    recent_hidden: bool,
    /// UIDs up to here that a refresh skipped over were looked for in cur/ already
    /// (see [`Mailbox::find_skipped`]).
    skipped_checked_through: u32,
    /// Mod-sequences, once the session asked for them ([`Mailbox::track_modseqs`]).
    modseqs: Option<ModseqView>,
    /// The UIDs the last expunge or refresh removed from the rows, ascending (QRESYNC
    /// reports expunges by UID).
    last_expunged: Vec<u32>,
    /// A message's date was changed ([`Mailbox::set_internal_date`]): the index must be
    /// written again even where the one on disk would otherwise still do.
    dates_changed: bool,
    /// The state the index on disk (with its diff) is valid for, as this session last
    /// read or wrote it.
    index_valid_for: Cell<Option<index::Validity>>,
    /// new/ and cur/, opened at the first flag change ([`SubDirs`]).
    subdirs: std::cell::OnceCell<Option<SubDirs>>,
    /// A large folder listed whole whose rows could not become the index at the open
    /// ([`Mailbox::save_index_after_own_changes`]).
    check_rows_at_close: bool,
}

/// The folder's new/ and cur/ as descriptors (O_PATH): a flag change renames by name
/// within them instead of walking the folder's whole path twice per message (a seventh
/// of a STORE 1:* on 10,000 messages; the rest is the file system's rename). They are
/// the directories the paths named when they were opened: links are followed as a
/// rename by path would follow them.
#[derive(Debug)]
struct SubDirs {
    new: std::os::fd::OwnedFd,
    cur: std::os::fd::OwnedFd,
}

impl SubDirs {
    fn open(dir: &Path) -> Option<SubDirs> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |sub: &str| {
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_PATH | nix::libc::O_DIRECTORY)
                .open(dir.join(sub))
                .ok()
                .map(std::os::fd::OwnedFd::from)
        };
        Some(SubDirs {
            new: open("new")?,
            cur: open("cur")?,
        })
    }
}

/// The MODSEQ of each row as of the last [`modseq::sync`], and the folder's state then.
#[derive(Debug)]
struct ModseqView {
    /// One per row when `synced`.
    values: Vec<u64>,
    highest: u64,
    /// How many expunged UIDs `postern-modseq` remembers.
    memory: usize,
    /// The rows did not move since `values` was taken (a flag change leaves it true:
    /// the values are then only old until the next sync).
    synced: bool,
    /// This session changed flags since `values` was taken.
    flags_changed: bool,
}

/// One of the folder's number caches (see `sizecache`): loaded on first use, saved when
/// something was added.
#[derive(Debug)]
struct NumberCache {
    kind: sizecache::Kind,
    map: Option<HashMap<String, i64>>,
    unsaved: bool,
}

impl NumberCache {
    fn new(kind: sizecache::Kind) -> NumberCache {
        NumberCache {
            kind,
            map: None,
            unsaved: false,
        }
    }

    fn get(&mut self, dir: &Path, basename: &str) -> Option<i64> {
        let kind = self.kind;
        self.map
            .get_or_insert_with(|| sizecache::load(dir, kind))
            .get(basename)
            .copied()
    }

    /// Only what is already loaded (for the index writer, which must not load it).
    fn peek(&self, basename: &str) -> Option<i64> {
        self.map.as_ref()?.get(basename).copied()
    }

    fn put(&mut self, basename: String, value: i64) {
        if let Some(map) = self.map.as_mut() {
            map.insert(basename, value);
            self.unsaved = true;
        }
    }

    /// A failure costs only time, so it is logged, not returned.
    fn save(&mut self, dir: &Path, present: &dyn Fn(&str) -> bool) {
        if !self.unsaved {
            return;
        }
        self.unsaved = false;
        if let Some(map) = &self.map
            && let Err(e) = sizecache::save(dir, self.kind, map, present)
        {
            log::warn!("{}: cannot save {}: {e}", dir.display(), self.kind.file());
        }
    }
}

/// Modification times of `new/`, `cur/` and `courierimapkeywords/`, and the UID
/// database's size and time: every delivery, flag change, expunge, keyword update and new
/// UID changes one of them, so when none moved a rescan would find nothing — and NOOP or
/// IDLE on a 100k-message folder stays cheap.
///
/// Two stamps are equal when the times are; when each was taken does not count.
#[derive(Debug, Clone, Copy)]
struct DirStamp {
    /// Modification times of new/, cur/ and courierimapkeywords/ (the slots below).
    dirs: [(i64, i64); 3],
    /// Change times of the same three and of the UID database (slot [`UIDDB`]): a tool
    /// that puts an mtime back with utimes() (a restore, rsync -t) cannot put the ctime
    /// back, so a stamp that also holds them is not fooled by restored times.
    ctimes: [(i64, i64); 4],
    uiddb: [i64; 3],
    /// When the stamp was taken (ns since the epoch).
    taken: i128,
}

impl PartialEq for DirStamp {
    fn eq(&self, other: &DirStamp) -> bool {
        (self.dirs, self.ctimes, self.uiddb) == (other.dirs, other.ctimes, other.uiddb)
    }
}

impl Eq for DirStamp {}

/// A file time as ns since the epoch.
pub(super) fn nanos((secs, ns): (i64, i64)) -> i128 {
    secs as i128 * 1_000_000_000 + ns as i128
}

/// How much older than the stamp a time must be to vouch for itself (see
/// [`DirStamp::settled`]): 25 ms where the file system keeps nanoseconds (the kernel's
/// coarse clock ticks every 1 to 10 ms, by CONFIG_HZ), 2 s where it keeps whole seconds.
/// The purge's record of a quiet folder goes by the same rule.
pub(super) fn margin((_, ns): (i64, i64)) -> i128 {
    if ns == 0 { 2_000_000_000 } else { 25_000_000 }
}

/// A folder with at least this many messages in its index is listed whole by one session
/// at a time ([`RebuildLock`]), under a stamp it waited to settle ([`DirStamp::settle`]).
const LARGE: usize = 5_000;

/// How long an open waits for another session's listing of the same folder before it
/// lists the folder itself.
const REBUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// An flock() on the folder's cur/ directory (an inode that outlives every rename inside
/// it, unlike postern-index): held by the session that lists a large folder whole to save
/// its index. Only postern takes it, and the kernel drops it with a killed process.
#[derive(Debug)]
struct RebuildLock {
    _cur: File,
}

impl RebuildLock {
    /// The lock when it is free now.
    fn try_acquire(dir: &Path) -> Option<RebuildLock> {
        let cur = File::open(dir.join("cur")).ok()?;
        cur.try_lock().ok()?;
        Some(RebuildLock { _cur: cur })
    }

    /// None when the lock cannot be had within [`REBUILD_WAIT`] (or at all): the caller
    /// then lists the folder on its own, as it would without the lock.
    fn acquire(dir: &Path) -> Option<RebuildLock> {
        let cur = File::open(dir.join("cur")).ok()?;
        let deadline = std::time::Instant::now() + REBUILD_WAIT;
        loop {
            match cur.try_lock() {
                Ok(()) => return Some(RebuildLock { _cur: cur }),
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => return None,
            }
        }
    }
}

/// Slots of [`DirStamp::dirs`].
const NEW: usize = 0;
const CUR: usize = 1;
const KEYWORDS: usize = 2;
/// The UID database's slot in [`DirStamp::ctimes`].
const UIDDB: usize = 3;

/// A 32-bit digest of change times (FNV-1a), for the one spare slot of the index's
/// validity: equal ctimes give equal digests, and a differing digest means a change.
fn ctime_digest(times: &[(i64, i64)]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for (s, ns) in times {
        for b in s.to_le_bytes().into_iter().chain(ns.to_le_bytes()) {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

impl DirStamp {
    fn take(dir: &Path) -> Option<DirStamp> {
        let mut dirs = [(0, 0); 3];
        let mut ctimes = [(0, 0); 4];
        for (slot, sub) in ["new", "cur", "courierimapkeywords"]
            .into_iter()
            .enumerate()
        {
            match std::fs::metadata(dir.join(sub)) {
                Ok(md) => {
                    dirs[slot] = (md.mtime(), md.mtime_nsec());
                    ctimes[slot] = (md.ctime(), md.ctime_nsec());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => return None,
            }
        }
        let (uiddb, uiddb_ctime) = index::uiddb_signature(dir);
        ctimes[UIDDB] = uiddb_ctime;
        let taken = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Some(DirStamp {
            dirs,
            ctimes,
            uiddb,
            taken,
        })
    }

    /// File system clocks are coarse: the kernel stamps changes with a clock that ticks
    /// every few milliseconds, so a change made within the same tick as the last one, after
    /// the stamp was taken, can leave the same times. Only times already older than that
    /// window when the stamp was taken may vouch for "nothing changed since" (the margins
    /// of [`margin`]); this stamp is then settled, whenever it is asked.
    fn settled(self) -> Option<DirStamp> {
        let times = self
            .dirs
            .iter()
            .copied()
            .chain([(self.uiddb[1], self.uiddb[2])]);
        times
            .clone()
            .all(|t| nanos(t) < self.taken - margin(t))
            .then_some(self)
    }

    /// A stamp taken when `stamp`'s times will have settled: right away when they have
    /// already, else after sleeping out what is left of the margin (25 ms at most on a
    /// nanosecond file system; a whole-second one is not waited for). A full listing of a
    /// large folder taken under a settled stamp can be saved as the index at once, so the
    /// sessions that open the folder after a change do not all list it again.
    fn settle(dir: &Path, stamp: Option<DirStamp>) -> Option<DirStamp> {
        let mut stamp = stamp?;
        for _ in 0..3 {
            if stamp.settled().is_some() {
                break;
            }
            let times = stamp
                .dirs
                .iter()
                .copied()
                .chain([(stamp.uiddb[1], stamp.uiddb[2])]);
            let ready = times.map(|t| nanos(t) + margin(t)).max().unwrap_or(0);
            let wait = ready - stamp.taken;
            if !(0..=25_000_000).contains(&wait) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_nanos(wait as u64 + 1_000_000));
            stamp = DirStamp::take(dir)?;
        }
        Some(stamp)
    }

    /// Whether the times of the `slots` of [`DirStamp::dirs`] were settled when the stamp
    /// was taken (see [`DirStamp::settled`]).
    fn slots_settled(self, slots: &[usize]) -> bool {
        slots.iter().all(|&i| {
            let t = self.dirs[i];
            nanos(t) < self.taken - margin(t)
        })
    }

    /// Whether cur/ and the keyword directory are as an index valid for `valid_for` saw
    /// them, and settled: only new/ can hold what that index lacks.
    fn cur_as_in(self, valid_for: index::Validity) -> bool {
        let [_, _, c0, c1, k0, k1, .., digests] = valid_for;
        self.dirs[CUR] == (c0, c1)
            && self.dirs[KEYWORDS] == (k0, k1)
            && self.cur_and_keywords_digest() == digests as u32
            && self.slots_settled(&[CUR, KEYWORDS])
    }

    /// This stamp with new/ unknown: the state of rows exact for everything but
    /// deliveries left waiting in new/. No time on disk equals it, so an index written for
    /// it always sends an opener to list new/ (and only new/, while the rest still
    /// matches); no real new/ time could stand for the rows without the deliveries.
    fn without_new(self) -> DirStamp {
        let mut stamp = self;
        stamp.dirs[NEW] = (0, 0);
        stamp.ctimes[NEW] = (0, 0);
        stamp
    }

    /// Whether the folder, stamped `now`, is still in this state (new/ aside when this
    /// stamp leaves it unknown, see [`DirStamp::without_new`]).
    fn holds_at(self, now: DirStamp) -> bool {
        if self.dirs[NEW] == (0, 0) && self.ctimes[NEW] == (0, 0) {
            now.same_but_new(self)
        } else {
            now == self
        }
    }

    /// Whether everything but new/ is as it was in `other`.
    fn same_but_new(self, other: DirStamp) -> bool {
        self.same_cur_and_keywords(other)
            && self.uiddb == other.uiddb
            && self.ctimes[UIDDB] == other.ctimes[UIDDB]
    }

    /// Whether cur/ and the keyword directory are as they were in `other`.
    fn same_cur_and_keywords(self, other: DirStamp) -> bool {
        self.dirs[CUR] == other.dirs[CUR]
            && self.dirs[KEYWORDS] == other.dirs[KEYWORDS]
            && self.ctimes[CUR] == other.ctimes[CUR]
            && self.ctimes[KEYWORDS] == other.ctimes[KEYWORDS]
    }

    /// The digest of cur/'s and the keyword directory's ctimes (the low half of the
    /// validity's last slot).
    fn cur_and_keywords_digest(self) -> u32 {
        ctime_digest(&[self.ctimes[CUR], self.ctimes[KEYWORDS]])
    }

    /// What a postern-index written for this state is valid for. Slot 9 holds the ctime
    /// digests: new/'s and the UID database's in the high half, cur/'s and the keyword
    /// directory's in the low half (compared alone when only new/ may have changed).
    fn validity(self) -> index::Validity {
        let [n, c, k] = self.dirs;
        let [db_len, db_s, db_ns] = self.uiddb;
        let high = ctime_digest(&[self.ctimes[0], self.ctimes[UIDDB]]);
        let digests = (u64::from(high) << 32 | u64::from(self.cur_and_keywords_digest())) as i64;
        [n.0, n.1, c.0, c.1, k.0, k.1, db_len, db_s, db_ns, digests]
    }
}

struct Found {
    file_name: String,
    in_new: bool,
}

/// Lists the folder. When `move_new`, new/ files go to cur/ with `:2,` appended and their
/// basenames are returned as recent; otherwise new/ files are listed where they are. cur/
/// is listed only `with_cur` (a moved file may then be listed twice).
fn scan(dir: &Path, move_new: bool, with_cur: bool) -> io::Result<(Vec<Found>, HashSet<String>)> {
    if with_cur {
        CUR_LISTINGS.with(|n| n.set(n.get() + 1));
    }
    let mut found = Vec::new();
    let mut recent = HashSet::default();
    for n in fsutil::list_names(&dir.join("new"))? {
        found.extend(take_from_new(dir, n, move_new, &mut recent));
    }
    if with_cur {
        for n in fsutil::list_names(&dir.join("cur"))? {
            found.push(Found {
                file_name: n,
                in_new: false,
            });
        }
    }
    Ok((found, recent))
}

thread_local! {
    /// Listings of a cur/ by this thread (see [`cur_listings_by_this_thread`]).
    static CUR_LISTINGS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times this thread listed a folder's cur/, for tests and benchmarks that show
/// an answer came without one (a mailbox counts its own in [`Mailbox::cur_listings`]).
pub fn cur_listings_by_this_thread() -> u64 {
    CUR_LISTINGS.with(|n| n.get())
}

/// A file found in new/: moved to cur/ with `:2,` appended when `move_new`, else left
/// where it is; either way its basename joins `recent`. None when another process took
/// it first (its arrival in cur/ is then someone else's listing or event).
fn take_from_new(
    dir: &Path,
    n: String,
    move_new: bool,
    recent: &mut HashSet<String>,
) -> Option<Found> {
    let base = split_info(&n).0.to_string();
    let found = if move_new {
        let target = if n.contains(':') {
            n.clone()
        } else {
            format!("{n}:2,")
        };
        match fs::rename(dir.join("new").join(&n), dir.join("cur").join(&target)) {
            Ok(()) => Found {
                file_name: target,
                in_new: false,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                log::warn!("{}: cannot move {n} to cur/: {e}", dir.display());
                Found {
                    file_name: n,
                    in_new: true,
                }
            }
        }
    } else {
        Found {
            file_name: n,
            in_new: true,
        }
    };
    recent.insert(base);
    Some(found)
}

/// What a reconcile goes by: a listing of the folder, or of what changed.
struct Look {
    listing: Vec<Found>,
    /// Basenames this session took out of new/ (see [`take_from_new`]).
    recent: HashSet<String>,
    /// cur/ was listed: a row whose file is not in `listing` is gone.
    whole: bool,
    /// new/ was listed: a row in new/ whose file is not in `listing` is gone.
    new_listed: bool,
    /// courierimapkeywords/ may have changed.
    keywords: bool,
    /// Files in new/ were left out (see [`NewMail::Leave`]).
    left_in_new: bool,
}

/// What a refresh from events does with deliveries into new/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewMail {
    /// Moves them to cur/ and gives them rows, as every refresh a client sees does.
    Take,
    /// Leaves them where they are, for the next opener (a session that is ending).
    Leave,
}

impl Look {
    fn scan(dir: &Path, move_new: bool, with_cur: bool) -> io::Result<Look> {
        let (listing, recent) = scan(dir, move_new, with_cur)?;
        Ok(Look {
            listing,
            recent,
            whole: with_cur,
            new_listed: true,
            keywords: true,
            left_in_new: false,
        })
    }
}

/// A listing keyed by basename (a later entry for the same basename wins).
fn by_basename(listing: Vec<Found>) -> HashMap<String, Found> {
    listing
        .into_iter()
        .map(|f| (split_info(&f.file_name).0.to_string(), f))
        .collect()
}

/// Finds a message's file by basename, wherever it is and whatever its flags now are.
fn locate(dir: &Path, basename: &str) -> io::Result<Option<Found>> {
    for (sub, in_new) in [("cur", false), ("new", true)] {
        for n in fsutil::list_names(&dir.join(sub))? {
            if split_info(&n).0 == basename {
                return Ok(Some(Found {
                    file_name: n,
                    in_new,
                }));
            }
        }
    }
    Ok(None)
}

fn flags_of(file_name: &str) -> Flags {
    split_info(file_name)
        .1
        .map(Flags::from_info)
        .unwrap_or_default()
}

/// The size of a message on disk: from `,S=` in its name, else from a stat, which also
/// gives its INTERNALDATE. Through a link only when `links` (see `fsutil::open_message`).
fn size_and_date(dir: &Path, basename: &str, f: &Found, links: bool) -> (u64, Option<i64>) {
    if let Some(size) = size_from_name(basename) {
        return (size, None);
    }
    let sub = if f.in_new { "new" } else { "cur" };
    match message_metadata(&dir.join(sub).join(&f.file_name), links) {
        Ok(m) => (m.len(), Some(m.mtime())),
        // Renamed or removed meanwhile: the next refresh sorts it out.
        Err(_) => (0, None),
    }
}

fn rescan_closure(dir: &Path) -> impl FnMut() -> io::Result<Vec<String>> + '_ {
    move || fsutil::list_basenames(dir)
}

/// Keyword sets compare without regard to order or case.
fn same_keywords(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|k| b.iter().any(|l| l.eq_ignore_ascii_case(k)))
}

/// STATUS: counts without moving anything from new/; from the folder index alone when it
/// is valid for the folder as it is now.
pub(crate) fn status(dir: &Path) -> Result<super::FolderStatus> {
    if let Some(st) = status_from_index(dir)? {
        return Ok(st);
    }
    let (listing, recent) = scan(dir, false, true)?;
    let found = by_basename(listing);
    let present: HashSet<&str> = found.keys().map(|s| s.as_str()).collect();
    let assigned = uiddb::sync(dir, &present, Some(&mut rescan_closure(dir)))?;
    let mut st = super::FolderStatus {
        messages: 0,
        recent: 0,
        unseen: 0,
        uid_next: assigned.next_uid,
        uid_validity: assigned.uid_validity,
    };
    let unclaimed = recent::peek(dir, assigned.uid_validity);
    for (base, f) in &found {
        let Some(&uid) = assigned.uids.get(base) else {
            continue;
        };
        st.messages += 1;
        let is_recent = match unclaimed {
            Some(first) => uid >= first,
            None => recent.contains(base),
        };
        if is_recent {
            st.recent += 1;
        }
        if !flags_of(&f.file_name).contains(Flags::SEEN) {
            st.unseen += 1;
        }
    }
    Ok(st)
}

/// STATUS SIZE (RFC 8438) and DELETED (RFC 9051 §6.3.11): the messages' CRLF sizes summed
/// and the `\Deleted` ones counted, without moving anything from new/. A size comes from
/// `,W=` in the name, else the folder's size cache (`postern-sizes`), else from reading the
/// message once, which the cache then keeps: on a warm folder no message is read.
/// `links`: the folder's messages may be links (see [`fsutil::open_message`]).
pub(crate) fn usage(dir: &Path, links: bool) -> Result<super::FolderUsage> {
    let (listing, _) = scan(dir, false, true)?;
    let found = by_basename(listing);
    let mut cache = sizecache::load(dir, sizecache::Kind::WireSize);
    let mut measured = false;
    let mut usage = super::FolderUsage::default();
    for (base, f) in &found {
        let known = wire_size_from_name(base).or_else(|| cache.get(base).map(|&w| w as u64));
        let size = match known {
            Some(w) => w,
            None => {
                let sub = if f.in_new { "new" } else { "cur" };
                match fsutil::open_message(&dir.join(sub).join(&f.file_name), links) {
                    Ok(mut file) => {
                        let w = super::measure::measure_file(&mut file)?.wire_size;
                        cache.insert(base.clone(), w as i64);
                        measured = true;
                        w
                    }
                    // Expunged or flagged by another session since the scan.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        usage.size += size;
        if flags_of(&f.file_name).contains(Flags::DELETED) {
            usage.deleted += 1;
        }
    }
    if measured
        && let Err(e) = sizecache::save(dir, sizecache::Kind::WireSize, &cache, &|b| {
            found.contains_key(b)
        })
    {
        log::warn!("{}: cannot save the size cache: {e}", dir.display());
    }
    Ok(usage)
}

/// STATUS from the folder's index, without listing cur/: counts from its header and
/// \Recent by a binary search for the first unclaimed UID when the index is exactly
/// valid (settled times equal to its own); when it still describes cur/ and the keywords
/// while new/ holds deliveries it does not know (the common case between two sessions),
/// those figures plus new/'s files, numbered as the full path numbers them (at 100,000
/// messages a listing of cur/ is most of a second). None, for the full path, when
/// anything but new/ moved, or a delivery's name may be in cur/ as well.
fn status_from_index(dir: &Path) -> Result<Option<super::FolderStatus>> {
    let Some(before) = DirStamp::take(dir) else {
        return Ok(None);
    };
    let Some(ix) = index::Mapped::open(dir) else {
        return Ok(None);
    };
    let diff = index_diff::load(dir, ix.base_id());
    let valid_for = diff.as_ref().map_or(ix.valid_for(), |d| d.valid_for);
    let exact = before.settled().is_some_and(|s| s.validity() == valid_for);
    if !exact && !before.cur_as_in(valid_for) {
        return Ok(None);
    }
    let unclaimed = recent::peek(dir, ix.uid_validity());
    // Messages from `first` on: the index's, less those the diff removed, and the ones
    // it added.
    let from = |first: u32| {
        let indexed = ix.len() - ix.records_below(first);
        diff.as_ref().map_or(indexed, |d| {
            let removed = d.removed.len() - d.removed.partition_point(|&u| u < first);
            let added = d.added.iter().filter(|(r, _)| r.uid >= first).count();
            indexed - removed + added
        })
    };
    let mut st = super::FolderStatus {
        messages: from(0) as u32,
        // Nobody claimed anything yet: no row is recent (an index is only written while
        // new/ is empty), only what waits in new/.
        recent: unclaimed.map_or(0, from) as u32,
        unseen: diff.as_ref().map_or(ix.unseen(), |d| d.unseen),
        uid_next: diff.as_ref().map_or(ix.uid_next(), |d| d.uid_next),
        uid_validity: ix.uid_validity(),
    };
    if exact {
        return Ok(Some(st));
    }
    let mut waiting: HashMap<String, String> = HashMap::default();
    for name in fsutil::list_names(&dir.join("new"))? {
        waiting.insert(split_info(&name).0.to_string(), name);
    }
    let present: HashSet<&str> = waiting.keys().map(|b| b.as_str()).collect();
    let assigned = uiddb::sync(dir, &present, None)?;
    // The index's rows are the folder's only while cur/ stayed as it was throughout (a
    // delivery moved to cur/ meanwhile would be in neither).
    let still = DirStamp::take(dir).is_some_and(|after| after.same_cur_and_keywords(before));
    if !still || assigned.uid_validity != ix.uid_validity() {
        return Ok(None);
    }
    let indexed_last = ix.len().checked_sub(1).map_or(0, |i| ix.record(i).uid);
    let added_last = diff
        .as_ref()
        .and_then(|d| d.added.last())
        .map(|(r, _)| r.uid);
    let last = indexed_last.max(added_last.unwrap_or(0));
    st.uid_next = st.uid_next.max(assigned.next_uid);
    for (base, name) in &waiting {
        let Some(&uid) = assigned.uids.get(base) else {
            return Ok(None);
        };
        if uid <= last {
            return Ok(None);
        }
        st.messages += 1;
        // As in `status`: unclaimed, everything in new/ is recent.
        if unclaimed.is_none_or(|first| uid >= first) {
            st.recent += 1;
        }
        if !flags_of(name).contains(Flags::SEEN) {
            st.unseen += 1;
        }
    }
    Ok(Some(st))
}

/// Whether the folder's postern-index is valid for the folder as it is now (its times
/// and change times equal the ones the index was saved for); None without a usable
/// index. For tests and tools that check an index was saved and is current.
pub fn index_is_current(folder_dir: &Path) -> Option<bool> {
    let ix = index::Mapped::open(folder_dir)?;
    let valid_for =
        index_diff::load(folder_dir, ix.base_id()).map_or(ix.valid_for(), |d| d.valid_for);
    Some(DirStamp::take(folder_dir).is_some_and(|s| s.validity() == valid_for))
}

impl Mailbox {
    pub(crate) fn open(
        root: PathBuf,
        dir: PathBuf,
        name: String,
        read_only: bool,
    ) -> Result<Mailbox> {
        let stamp = DirStamp::take(&dir);
        let mut mailbox = Mailbox {
            root,
            dir,
            name,
            read_only,
            uid_validity: 0,
            uid_next: 1,
            table: Table::default(),
            looked: None,
            stamp: None,
            wire_sizes: NumberCache::new(sizecache::Kind::WireSize),
            internal_dates: RefCell::new(NumberCache::new(sizecache::Kind::InternalDate)),
            dates: RefCell::new(HashMap::default()),
            blob_caches: Vec::new(),
            keyword_writer: KeywordWriter::default(),
            watcher: None,
            events_trusted: false,
            own_watch_tried: false,
            retiring: None,
            fs_shared: None,
            cur_listings: 0,
            recent_hidden: false,
            skipped_checked_through: 0,
            modseqs: None,
            last_expunged: Vec::new(),
            dates_changed: false,
            index_valid_for: Cell::new(None),
            subdirs: std::cell::OnceCell::new(),
            check_rows_at_close: false,
        };
        if !read_only {
            super::purge::stale_tmp(&mailbox.dir, std::time::SystemTime::now());
        }
        if !mailbox.open_from_index(stamp)? {
            mailbox.open_by_scan(stamp)?;
        }
        mailbox.settle_recent(0);
        Ok(mailbox)
    }

    /// [`Mailbox::open`] for the private copy of a filesystem-shared folder.
    /// `source` is the sharable folder it links to.
    pub(crate) fn open_fs_shared(
        root: PathBuf,
        dir: PathBuf,
        name: String,
        read_only: bool,
        source: PathBuf,
    ) -> Result<Mailbox> {
        let mut mailbox = Mailbox::open(root, dir, name, read_only)?;
        mailbox.fs_shared = Some(source);
        Ok(mailbox)
    }

    /// Takes the rows from `postern-index` when it belongs to this UIDVALIDITY. When it is
    /// valid for the folder as it is now (settled times equal to its own), that is all;
    /// otherwise the rows are reconciled with a listing of the folder (only of new/ when
    /// cur/ did not change), which is what a refresh does. False: no usable index.
    fn open_from_index(&mut self, stamp: Option<DirStamp>) -> Result<bool> {
        self.open_from_index_as(stamp, None)
    }

    /// [`Self::open_from_index`]; `rebuilding` is the lock of [`RebuildLock`] once this
    /// session holds it.
    fn open_from_index_as(
        &mut self,
        stamp: Option<DirStamp>,
        rebuilding: Option<&RebuildLock>,
    ) -> Result<bool> {
        let Some(ix) = index::Mapped::open(&self.dir) else {
            return Ok(false);
        };
        let diff = index_diff::load(&self.dir, ix.base_id());
        let valid_for = diff.as_ref().map_or(ix.valid_for(), |d| d.valid_for);
        let uid_next = diff.as_ref().map_or(ix.uid_next(), |d| d.uid_next);
        let uid_validity = ix.uid_validity();
        let settled = stamp.and_then(DirStamp::settled);
        let exact = settled.is_some_and(|s| s.validity() == valid_for);
        if !exact && uiddb::header(&self.dir).map(|(v, _)| v) != Some(uid_validity) {
            return Ok(false);
        }
        let Some(mut table) = Table::from_index(ix, &self.dir, !self.read_only) else {
            return Ok(false);
        };
        if let Some(diff) = &diff {
            if !table.apply_diff(diff) {
                return Ok(false);
            }
            let mut dates = self.dates.borrow_mut();
            for (r, _) in &diff.added {
                if let Some(date) = r.internal_date {
                    dates.insert(r.uid, date);
                }
            }
        }
        self.table = table;
        self.index_valid_for.set(Some(valid_for));
        (self.uid_validity, self.uid_next) = (uid_validity, uid_next);
        if exact {
            let mut kw = keywords::read(&self.dir, None)?;
            // Stops once every keyword set found its message: most folders have none.
            for i in 0..self.table.len() {
                if kw.is_empty() {
                    break;
                }
                if let Some(k) = kw.remove(self.table.basename(i)) {
                    self.table.set_keywords(i, k);
                }
            }
            (self.looked, self.stamp) = (stamp, settled);
            return Ok(true);
        }
        // cur/ and the keywords as the index saw them, and settled: only new/ can hold
        // what it lacks (a delivery since), so only new/ is listed.
        let cur_known = stamp.is_some_and(|s| s.cur_as_in(valid_for));
        let large = self.table.len() >= LARGE;
        if cur_known && large && !self.read_only {
            self.watch_from_index(valid_for);
        }
        if !cur_known && large && rebuilding.is_none() && !self.read_only {
            // One session lists a large folder and saves its index; the others that open
            // it meanwhile wait for that index instead of all listing it at once.
            if let Some(lock) = RebuildLock::acquire(&self.dir) {
                let again = DirStamp::take(&self.dir);
                return self.open_from_index_as(again, Some(&lock));
            }
        }
        // New mail is moved to cur/ as it is numbered, as by any listing: Courier numbers
        // whatever it finds in new/ afresh, whatever the UID database says.
        // Watched from before the stamp the listing goes by: the moves out of new/ change
        // cur/ after that stamp, and the events let the session leave an exact index all
        // the same (see `settle_own_changes`).
        let watched = !cur_known && large && !self.read_only && self.start_watch();
        let stamp = if watched {
            DirStamp::settle(&self.dir, DirStamp::take(&self.dir))
        } else if !cur_known && large {
            DirStamp::settle(&self.dir, stamp)
        } else {
            stamp
        };
        self.cur_listings += u32::from(!cur_known);
        let look = Look::scan(&self.dir, !self.read_only, !cur_known)?;
        self.reconcile(stamp, Reconcile::Open, look)?;
        self.events_trusted |= watched;
        if !cur_known && !self.read_only {
            // A whole listing is where the UID database loses the entries of files that
            // are gone (a refresh only adds), as at a scan without an index; when there
            // are none, this is one read of the database.
            let dir = self.dir.clone();
            let present: HashSet<&str> = (0..self.table.len())
                .map(|i| self.table.basename(i))
                .collect();
            uiddb::sync(&dir, &present, Some(&mut rescan_closure(&dir)))?;
        }
        // Right away rather than when the session ends: others are opening it too.
        self.save_index();
        Ok(true)
    }

    /// Lists the whole folder and builds the rows from the listing and the UID database
    /// (which this also prunes of files that are gone), then writes the index.
    fn open_by_scan(&mut self, stamp: Option<DirStamp>) -> Result<()> {
        let dir = self.dir.clone();
        self.cur_listings += 1;
        let (listing, recent) = scan(&dir, !self.read_only, true)?;
        let found = by_basename(listing);
        let present: HashSet<&str> = found.keys().map(|s| s.as_str()).collect();
        let assigned = uiddb::sync(&dir, &present, Some(&mut rescan_closure(&dir)))?;
        let mut kw = keywords::read(&dir, if self.read_only { None } else { Some(&present) })?;
        let mut listed: Vec<(u32, &String, &Found)> = found
            .iter()
            .filter_map(|(base, f)| Some((*assigned.uids.get(base)?, base, f)))
            .collect();
        listed.sort_unstable_by_key(|l| l.0);
        self.table = Table::default();
        self.index_valid_for.set(None);
        for (uid, base, f) in listed {
            self.add_row(uid, base, f, recent.contains(base));
            if let Some(k) = kw.remove(base) {
                self.table.set_keywords(self.table.len() - 1, k);
            }
        }
        (self.uid_validity, self.uid_next) = (assigned.uid_validity, assigned.next_uid);
        self.looked = stamp;
        self.stamp = stamp.and_then(DirStamp::settled);
        if assigned.persistent {
            self.save_index();
            self.check_rows_at_close =
                self.index_valid_for.get().is_none() && self.table.len() >= LARGE;
        }
        Ok(())
    }

    /// When the session lets go of a large folder it listed whole for want of an index,
    /// and its own changes since that look (deliveries it moved out of new/, the UID
    /// database or keyword directory it made) kept [`Mailbox::save_index`] from vouching
    /// for the rows: a second listing under a settled stamp checks them, and they become
    /// the index when they are still what the folder holds. Without it, a folder that
    /// gets mail before every login was listed whole by every session, never leaving an
    /// index. At the close, not the open: the open's answer does not wait for it.
    fn save_index_after_own_changes(&mut self) {
        if !self.check_rows_at_close || self.index_valid_for.get().is_some() {
            return;
        }
        self.table.remove_gone();
        if self.read_only || self.table.any_in_new() {
            return;
        }
        let Some(stamp) =
            DirStamp::settle(&self.dir, DirStamp::take(&self.dir)).and_then(DirStamp::settled)
        else {
            return;
        };
        let Ok((listing, _)) = scan(&self.dir, false, true) else {
            return;
        };
        let found = by_basename(listing);
        let same = found.len() == self.table.len()
            && (0..self.table.len()).all(|i| {
                found
                    .get(self.table.basename(i))
                    .is_some_and(|f| !f.in_new && f.file_name == self.table.file_name(i))
            });
        if same {
            (self.looked, self.stamp) = (Some(stamp), Some(stamp));
            self.save_index();
        }
    }

    /// Appends the row of a listed message.
    fn add_row(&mut self, uid: u32, basename: &str, f: &Found, recent: bool) {
        let (size, date) = size_and_date(&self.dir, basename, f, self.fs_shared.is_some());
        if let Some(date) = date {
            self.dates.borrow_mut().insert(uid, date);
        }
        let mut state = if recent { RECENT } else { 0 };
        if f.in_new {
            state |= IN_NEW;
        }
        let flags = flags_of(&f.file_name);
        self.table
            .push(uid, f.file_name.clone(), size, flags, state);
    }

    /// Decides which of the messages from `from` on are \Recent in this session: a
    /// writable session claims those no session has claimed yet (RFC 3501 §2.3.2), a
    /// read-only one only looks (§6.3.2: EXAMINE must not take \Recent away). When the
    /// claim state is unknown or cannot be written, the scan's answer stays: the messages
    /// this session moved out of new/ itself, which no other session can have moved.
    fn settle_recent(&mut self, from: usize) {
        let Some(last) = self.table.last() else {
            return;
        };
        let up_to = last.uid.saturating_add(1);
        let first = if self.read_only {
            recent::peek(&self.dir, self.uid_validity)
        } else {
            match recent::claim(&self.dir, self.uid_validity, up_to) {
                Ok(first) => first,
                Err(e) => {
                    log::warn!("{}: cannot claim \\Recent: {e}", self.dir.display());
                    None
                }
            }
        };
        if let Some(first) = first {
            self.table.set_recent_from(from, first);
        }
    }

    /// Writes postern-index for the rows, when they are exact for a settled state of the
    /// folder that is still the state on disk and the index does not already say so. A
    /// failure costs only time: logged, not returned.
    fn save_index(&self) {
        let Some(looked) = self.looked else {
            return;
        };
        // The cheap tests first: a session that changed nothing reads no row here.
        if looked.settled().is_none() || self.index_says(looked) {
            return;
        }
        if DirStamp::take(&self.dir).is_some_and(|now| looked.holds_at(now)) {
            self.write_index(looked);
        }
    }

    /// The index on disk is already the one [`Mailbox::write_index`] would write for
    /// `at`.
    fn index_says(&self, at: DirStamp) -> bool {
        !self.dates_changed && self.index_valid_for.get() == Some(at.validity())
    }

    /// Writes postern-index for the rows, which the caller knows to be exact for the
    /// settled state `at`: as a diff of the index they were taken from when few rows
    /// differ from it (see index_diff.rs), else whole.
    fn write_index(&self, looked: DirStamp) {
        if self.read_only || self.table.any_in_new() {
            return;
        }
        if !self.dates_changed && self.write_index_diff(looked) {
            self.index_valid_for.set(Some(looked.validity()));
            return;
        }
        let present: Vec<(usize, Row)> = self
            .table
            .rows()
            .enumerate()
            .filter(|(_, r)| !r.has(GONE))
            .collect();
        let messages = present
            .iter()
            .map(|&(i, row)| (self.index_record(i, row), self.table.file_name(i)));
        let snapshot = index::Snapshot {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            valid_for: looked.validity(),
            messages,
        };
        match index::save(&self.dir, snapshot) {
            Ok(()) => self.index_valid_for.set(Some(looked.validity())),
            Err(e) => log::warn!("{}: cannot save {}: {e}", self.dir.display(), index::FILE),
        }
    }

    /// Row `i` as an index record: what this session knows of its sizes and date.
    fn index_record(&self, i: usize, row: Row) -> index::Record {
        let basename = self.table.basename(i);
        let known = row.record_in(self.table.base());
        index::Record {
            uid: row.uid,
            flags: row.flags,
            size: row.size,
            wire_size: wire_size_from_name(basename)
                .or(known.and_then(|k| k.wire_size))
                .or(self.wire_sizes.peek(basename).map(|w| w as u64)),
            internal_date: (self.dates.borrow().get(&row.uid).copied())
                .or(known.and_then(|k| k.internal_date))
                .or(self.internal_dates.borrow().peek(basename)),
        }
    }

    /// [`Mailbox::write_index`] as a diff of the index the rows were taken from, when
    /// that index is still the one on disk and few rows differ from it. False: the
    /// index is to be written whole.
    fn write_index_diff(&self, looked: DirStamp) -> bool {
        let Some(base) = self.table.base() else {
            return false;
        };
        if base.base_id() == 0 || base.uid_validity() != self.uid_validity {
            return false;
        }
        let Some(since) = self.table.since_base() else {
            return false;
        };
        let added: Vec<usize> = (since.added_from..self.table.len())
            .filter(|&i| !self.table.row(i).has(GONE))
            .collect();
        let rows = since.gone.len() + since.changed.len() + added.len();
        if rows > index_diff::MAX_ROWS || rows > base.len() / 8 {
            return false;
        }
        if index::Mapped::open(&self.dir).map(|ix| ix.base_id()) != Some(base.base_id()) {
            return false;
        }
        let added: Vec<(index::Record, String)> = (added.iter())
            .map(|&i| {
                let record = self.index_record(i, self.table.row(i));
                (record, self.table.file_name(i).to_string())
            })
            .collect();
        // The index header's count of messages without \Seen, brought up to date.
        let unseen = |f: Flags| i64::from(!f.contains(Flags::SEEN));
        let mut unseen_count = i64::from(base.unseen());
        for &r in &since.gone {
            unseen_count -= unseen(base.record(r as usize).flags);
        }
        for &(r, i) in &since.changed {
            unseen_count += unseen(self.table.row(i).flags) - unseen(base.record(r as usize).flags);
        }
        for (r, _) in &added {
            unseen_count += unseen(r.flags);
        }
        let diff = index_diff::Diff {
            base_id: base.base_id(),
            uid_next: self.uid_next,
            count: (base.len() - since.gone.len() + added.len()) as u32,
            unseen: unseen_count.max(0) as u32,
            valid_for: looked.validity(),
            removed: (since.gone.iter())
                .map(|&r| base.record(r as usize).uid)
                .collect(),
            changed: (since.changed.iter())
                .map(|&(_, i)| {
                    let row = self.table.row(i);
                    (row.uid, row.flags, self.table.file_name(i).to_string())
                })
                .collect(),
            added,
        };
        match index_diff::save(&self.dir, &diff) {
            Ok(()) => true,
            Err(e) => {
                log::warn!(
                    "{}: cannot save {}: {e}",
                    self.dir.display(),
                    index_diff::FILE
                );
                false
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many times cur/ was listed since the open, the open's listing included (zero
    /// for an open answered from the index alone or after new/ alone).
    pub fn cur_listings(&self) -> u32 {
        self.cur_listings
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    pub fn uid_next(&self) -> u32 {
        self.uid_next
    }

    /// How many messages the session sees (the highest sequence number).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Message `index` (sequence number `index + 1`). Panics past the end, like indexing.
    pub fn message(&self, index: usize) -> MessageEntry<'_> {
        let row = self.table.row(index);
        let file_name = self.table.file_name(index);
        MessageEntry {
            uid: row.uid,
            basename: split_info(file_name).0,
            flags: row.flags,
            keywords: self.table.keywords(index),
            size: row.size,
            recent: row.has(RECENT) && !self.recent_hidden,
            file_name,
            gone: row.has(GONE),
        }
    }

    /// Every message in sequence order.
    pub fn messages(&self) -> impl ExactSizeIterator<Item = MessageEntry<'_>> + '_ {
        (0..self.table.len()).map(|i| self.message(i))
    }

    /// The UID of the last message, 0 when there is none.
    pub fn last_uid(&self) -> u32 {
        self.table.last().map_or(0, |r| r.uid)
    }

    /// When the UIDs `a` gave the `fresh` files skip over some above `last` (the last
    /// row's), looks for the skipped ones in cur/ and adds what it finds to both. Another
    /// session's APPEND or COPY places its file in cur/ and then numbers it; if that
    /// happened between this refresh's look and its numbering, the file has a UID below
    /// the ones numbered now, and shown after them it would break UID order: it would
    /// stay hidden until the next SELECT. A skipped UID whose line the UID database no
    /// longer has was expunged before this session looked (as when a client moves new
    /// mail out at once): cur/ is listed only for one that still has a line, and once.
    fn find_skipped(
        &mut self,
        last: u32,
        fresh: &mut HashMap<String, Found>,
        a: &mut uiddb::Assigned,
    ) -> Result<()> {
        let from = last.max(self.skipped_checked_through);
        let mut above: Vec<u32> = fresh
            .keys()
            .filter_map(|b| a.uids.get(b).copied())
            .filter(|&u| u > from)
            .collect();
        above.sort_unstable();
        above.dedup();
        let Some(&top) = above.last() else {
            return Ok(());
        };
        self.skipped_checked_through = top;
        if (top - from) as usize == above.len() {
            return Ok(());
        }
        // A message expunged already (another client moving new mail out at once, as a
        // spam filter does) has no line left in the database: no listing for it.
        let lines = uiddb::uids_between(&self.dir, from, top)?;
        if lines.iter().all(|u| above.binary_search(u).is_ok()) {
            return Ok(());
        }
        self.cur_listings += 1;
        CUR_LISTINGS.with(|n| n.set(n.get() + 1));
        let mut unlisted: HashMap<String, Found> = HashMap::default();
        for file_name in fsutil::list_names(&self.dir.join("cur"))? {
            let base = split_info(&file_name).0.to_string();
            if !fresh.contains_key(&base) && self.table.find(&base).is_none() {
                let in_new = false;
                unlisted.insert(base, Found { file_name, in_new });
            }
        }
        if unlisted.is_empty() {
            return Ok(());
        }
        let names: HashSet<&str> = unlisted.keys().map(|s| s.as_str()).collect();
        let more = uiddb::sync(&self.dir, &names, None)?;
        if more.uid_validity != a.uid_validity {
            return Ok(());
        }
        a.next_uid = a.next_uid.max(more.next_uid);
        a.uids.extend(more.uids);
        fresh.extend(unlisted);
        Ok(())
    }

    /// How many messages are \Recent in this session.
    pub fn recent_count(&self) -> usize {
        if self.recent_hidden {
            return 0;
        }
        self.table.recent_count()
    }

    /// The index of the first message without \Seen (SELECT's UNSEEN): from the folder
    /// index's header and the rows this session changed, without a pass over the rest.
    pub fn first_unseen(&self) -> Option<usize> {
        self.table.first_unseen()
    }

    /// From now on no message of this view is recent: for a client that has no \Recent
    /// (IMAP4rev2). The claims on recent messages are still taken, so another session
    /// does not see them as recent either.
    pub fn hide_recent(&mut self) {
        self.recent_hidden = true;
    }

    /// [`Self::hide_recent`] was called.
    pub fn recent_hidden(&self) -> bool {
        self.recent_hidden
    }

    /// The index of the first message whose UID is `uid` or above (`len()` when none is):
    /// where a UID range starts.
    pub fn first_index_from_uid(&self, uid: u32) -> usize {
        self.table.partition_uid(uid)
    }

    pub fn index_of_uid(&self, uid: u32) -> Option<usize> {
        self.table.index_of_uid(uid)
    }

    /// So IDLE can watch it.
    pub fn folder_dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, index: usize) -> PathBuf {
        let sub = if self.table.row(index).has(IN_NEW) {
            "new"
        } else {
            "cur"
        };
        self.dir.join(sub).join(self.table.file_name(index))
    }

    fn check(&self, index: usize) -> Result<()> {
        if index < self.table.len() {
            Ok(())
        } else {
            Err(StoreError::NoSuchMessage)
        }
    }

    /// INTERNALDATE: the file's mtime (APPEND and COPY set it in tmp/, before the file
    /// shows up in cur/), read once and kept in the folder index and `postern-dates`.
    ///
    /// Another session may rename the file (a flag change) between our look at the
    /// directory and the stat; that is not the message going away, so the file is looked
    /// for again. Only a message that is really gone gets the delivery time from its name,
    /// and that stand-in is neither kept for this session nor written to the cache: a
    /// date, once answered from the file, never changes.
    pub fn internal_date(&self, index: usize) -> i64 {
        let Some(row) = (index < self.table.len()).then(|| self.table.row(index)) else {
            return 0;
        };
        if let Some(date) = self.dates.borrow().get(&row.uid) {
            return *date;
        }
        if let Some(date) = row
            .record_in(self.table.base())
            .and_then(|r| r.internal_date)
        {
            return date;
        }
        let basename = self.table.basename(index);
        let mut file_dates = self.internal_dates.borrow_mut();
        let date = match file_dates.get(&self.dir, basename) {
            Some(date) => date,
            None => match self.file_mtime(index) {
                Some(date) => {
                    file_dates.put(basename.to_string(), date);
                    date
                }
                None => return super::filename::leading_number(basename) as i64,
            },
        };
        self.dates.borrow_mut().insert(row.uid, date);
        date
    }

    /// Gives a message another INTERNALDATE, as SMAP's `STORE INTERNALDATE=` does in
    /// Courier's imapd: the file's access and modification times both become `unix`.
    ///
    /// The one change to a message's date there is, so the caches that take dates to be
    /// fixed are told: this session's, `postern-dates`, and the folder index (removed
    /// now, written again when this mailbox is dropped). Another session that has the
    /// folder open keeps the date it already read (IMAP's INTERNALDATE does not change
    /// under a client).
    pub fn set_internal_date(&mut self, index: usize, unix: i64) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        self.check(index)?;
        let row = self.table.row(index);
        if row.has(GONE) {
            return Err(StoreError::NoSuchMessage);
        }
        let uid = row.uid;
        let when = if unix >= 0 {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64)
        } else {
            std::time::UNIX_EPOCH - std::time::Duration::from_secs(unix.unsigned_abs())
        };
        let times = fs::FileTimes::new().set_accessed(when).set_modified(when);
        self.open_message(index)?.set_times(times)?;
        self.dates.borrow_mut().insert(uid, unix);
        let basename = self.table.basename(index).to_string();
        let mut file_dates = self.internal_dates.borrow_mut();
        file_dates.get(&self.dir, &basename);
        file_dates.put(basename, unix);
        drop(file_dates);
        match fs::remove_file(self.dir.join(index::FILE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        self.dates_changed = true;
        Ok(())
    }

    /// The mtime of a message's file wherever it is now; None when it is gone. A rename
    /// by another process can slip in between finding the name and the stat, so a
    /// vanished name is looked for again a few times.
    fn file_mtime(&self, index: usize) -> Option<i64> {
        let links = self.fs_shared.is_some();
        if let Ok(md) = message_metadata(&self.path_of(index), links) {
            return Some(md.mtime());
        }
        let basename = self.table.basename(index);
        for _ in 0..8 {
            let found = locate(&self.dir, basename).ok()??;
            let sub = if found.in_new { "new" } else { "cur" };
            match message_metadata(&self.dir.join(sub).join(&found.file_name), links) {
                Ok(md) => return Some(md.mtime()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// Opens a message file, finding it even if another process renamed it meanwhile.
    pub fn open_message(&self, index: usize) -> Result<File> {
        self.check(index)?;
        let links = self.fs_shared.is_some();
        match fsutil::open_message(&self.path_of(index), links) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
        }
        let Some(f) = locate(&self.dir, self.table.basename(index))? else {
            return Err(StoreError::NoSuchMessage);
        };
        let sub = if f.in_new { "new" } else { "cur" };
        match fsutil::open_message(&self.dir.join(sub).join(&f.file_name), links) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NoSuchMessage),
            Err(e) => Err(e.into()),
        }
    }

    /// The message's size with CRLF line ends (IMAP RFC822.SIZE): from `,W=` in the name,
    /// else from the folder index or size cache, else by reading the file once.
    pub fn wire_size(&mut self, index: usize) -> Result<u64> {
        if let Some(w) = self.wire_size_known(index) {
            return Ok(w);
        }
        // One open gives the date too (from the same descriptor): FETCH RFC822.SIZE
        // INTERNALDATE of an unmeasured folder reads each file once, not stat then read.
        let measured = super::measure::measure_file(&mut self.open_message(index)?)?;
        let basename = self.table.basename(index).to_string();
        let uid = self.table.row(index).uid;
        if !self.dates.borrow().contains_key(&uid) {
            self.dates.borrow_mut().insert(uid, measured.internal_date);
            (self.internal_dates.borrow_mut()).put(basename.clone(), measured.internal_date);
        }
        self.wire_sizes.put(basename, measured.wire_size as i64);
        Ok(measured.wire_size)
    }

    /// The CRLF size when the name, the index or the size cache knows it, without reading
    /// the file (for a message whose file is gone).
    pub fn wire_size_known(&mut self, index: usize) -> Option<u64> {
        self.check(index).ok()?;
        let basename = self.table.basename(index);
        if let Some(w) = wire_size_from_name(basename) {
            return Some(w);
        }
        let row = &self.table.row(index);
        if let Some(w) = row.record_in(self.table.base()).and_then(|r| r.wire_size) {
            return Some(w);
        }
        self.wire_sizes.get(&self.dir, basename).map(|w| w as u64)
    }

    fn blob_cache(&mut self, kind: &'static str) -> &mut BlobCache {
        let at = match self.blob_caches.iter().position(|(k, _)| *k == kind) {
            Some(at) => at,
            None => {
                let cache = BlobCache::new(&self.dir, kind);
                let cache = if self.read_only {
                    cache.without_writes()
                } else {
                    cache
                };
                self.blob_caches.push((kind, cache));
                self.blob_caches.len() - 1
            }
        };
        &mut self.blob_caches[at].1
    }

    /// Bytes the caller derived from this message earlier and kept under `kind` (e.g. a
    /// serialized ENVELOPE), so it need not read the message again.
    pub fn cached(&mut self, index: usize, kind: &'static str) -> Option<Vec<u8>> {
        self.check(index).ok()?;
        let basename = self.table.basename(index).to_string();
        self.blob_cache(kind).get(&basename).map(<[u8]>::to_vec)
    }

    /// [`Self::cached`] without the copy: `f` looks at the bytes in the mapped cache
    /// (a SORT reads the keys of every message of the folder this way).
    pub fn cached_with<R>(
        &mut self,
        index: usize,
        kind: &'static str,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        self.check(index).ok()?;
        self.blob_cache(kind);
        // Fields apart, so the name is borrowed from the table, not copied.
        let cache = &mut self.blob_caches.iter_mut().find(|(k, _)| *k == kind)?.1;
        cache.get(self.table.basename(index)).map(f)
    }

    /// Keeps `bytes` derived from this message under `kind`, for this and later sessions
    /// (written by [`Self::save_caches`]).
    pub fn cache(&mut self, index: usize, kind: &'static str, bytes: Vec<u8>) {
        if self.check(index).is_ok() {
            let basename = self.table.basename(index).to_string();
            self.blob_cache(kind).put(&basename, bytes);
        }
    }

    /// Saves the sizes and derived bytes computed this session, and lets go of the cache
    /// pages the command read. A failure costs only time, so it is logged, not returned.
    pub fn save_caches(&mut self) {
        for (_, cache) in &self.blob_caches {
            cache.release_pages();
        }
        if !self.read_only {
            self.write_caches();
        } else {
            // EXAMINE writes nothing, so what a command built would stay in memory up to
            // the spill threshold (5 MB after a FETCH 1:* ENVELOPE of 10,000 messages):
            // a little is kept for the next command, more is built again if asked.
            let mut dropped = false;
            for (_, cache) in &mut self.blob_caches {
                dropped |= cache.forget_unsaved_over(READ_ONLY_KEEP);
            }
            if dropped {
                crate::heap::give_back_after_command();
            }
        }
        // The names the command looked up in the index, likewise (after the writes, whose
        // list of the files present reads them all).
        if let Some(base) = self.table.base() {
            base.release_pages();
        }
    }

    /// The writing half of [`Mailbox::save_caches`].
    fn write_caches(&mut self) {
        // Built only if some cache has something to write (a FETCH that found all it
        // needed in the caches pays nothing per message of the folder).
        let table = &self.table;
        let present_names = std::cell::OnceCell::new();
        let present = |b: &str| {
            present_names
                .get_or_init(|| {
                    (0..table.len())
                        .map(|i| table.basename(i))
                        .collect::<HashSet<&str>>()
                })
                .contains(b)
        };
        self.wire_sizes.save(&self.dir, &present);
        self.internal_dates.borrow_mut().save(&self.dir, &present);
        let mut saved = false;
        for (kind, cache) in &mut self.blob_caches {
            saved |= cache.has_unsaved();
            if let Err(e) = cache.save(&present) {
                log::warn!("{}: cannot save the {kind} cache: {e}", self.dir.display());
            }
        }
        if saved {
            // What the command made for the caches is on disk now: once its buffers are
            // free, the session need not keep their pages.
            crate::heap::give_back_after_command();
        }
    }

    /// The whole message. The buffer is sized from the open file (std's `read_to_end` on
    /// a `File` reserves its length), not from `,S=` or the index: both are only claims,
    /// and a capacity taken from a damaged one aborted the process.
    pub fn read_message(&self, index: usize) -> Result<Vec<u8>> {
        let mut f = self.open_message(index)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)?;
        Ok(out)
    }

    /// What changed on disk since the last look. With `report_expunges` false, vanished
    /// messages stay in the list (see [`MessageEntry::is_gone`]) until a later call with
    /// true.
    pub fn refresh(&mut self, report_expunges: bool) -> Result<Changes> {
        if let Some(source) = &self.fs_shared {
            // What the sharable folder's owner and writers changed shows up as changes
            // of the private copy (as Courier syncs at every rescan).
            super::fs_shared::sync_for_refresh(&self.dir, source)?;
        }
        let changes = self.refresh_rows(report_expunges)?;
        let aligned = self
            .modseqs
            .as_ref()
            .is_some_and(|m| m.synced && m.values.len() == self.table.len());
        if changes != Changes::default() || !aligned {
            self.sync_modseqs_or_stop();
        }
        Ok(changes)
    }

    /// [`Mailbox::refresh`] without the mod-sequences.
    fn refresh_rows(&mut self, report_expunges: bool) -> Result<Changes> {
        let how = Reconcile::Refresh { report_expunges };
        if let Some(changes) = self.refresh_from_events(how, NewMail::Take) {
            return changes;
        }
        let stamp = DirStamp::take(&self.dir);
        let pending_expunges = report_expunges && self.table.any_gone();
        if stamp.is_some() && stamp == self.stamp && !pending_expunges {
            self.events_trusted = self.watcher.is_some();
            return Ok(Changes::default());
        }
        // Only new/ changed since a look whose cur/ and keywords had settled: list new/
        // alone (moving its files to cur/ makes the next refresh look at everything).
        let only_new = stamp.zip(self.looked).is_some_and(|(now, looked)| {
            now.same_cur_and_keywords(looked) && looked.slots_settled(&[CUR, KEYWORDS])
        });
        self.cur_listings += u32::from(!only_new);
        let look = Look::scan(&self.dir, !self.read_only, !only_new)?;
        let changes = self.reconcile(stamp, how, look)?;
        self.events_trusted = self.watcher.is_some();
        // The reconciliation looked up names in the whole index: those pages are page
        // cache, not this session's memory.
        if let Some(base) = self.table.base() {
            base.release_pages();
        }
        Ok(changes)
    }

    /// A refresh from the pending inotify events, when they say all that changed (see
    /// [`Mailbox::look_from_events`]). The stamp is taken after the events were read:
    /// when no event came in by the time it was taken, the rows the events bring are
    /// exact for it, as for a stamp taken before a full look, and can become the index.
    ///
    /// With [`NewMail::Leave`], deliveries the events name stay in new/, and the stamp
    /// leaves new/ unknown when one did (see [`DirStamp::without_new`]).
    fn refresh_from_events(
        &mut self,
        how: Reconcile,
        new_mail: NewMail,
    ) -> Option<Result<Changes>> {
        let look = self.look_from_events(new_mail)?;
        let left_in_new = look.left_in_new;
        let stamp = DirStamp::take(&self.dir)
            .filter(|_| self.watcher.as_ref().is_some_and(Watcher::quiet))
            .map(|s| if left_in_new { s.without_new() } else { s });
        let changes = self.reconcile(stamp, how, look);
        // The events are spent: what they said must be found by a full look instead.
        self.events_trusted &= changes.is_ok();
        Some(changes)
    }

    /// From now on, refreshes learn what changed from inotify events on the folder.
    /// When the rows are exact for a settled state that is still the one on disk, the
    /// events from here on are all that can change them; otherwise the next refresh
    /// still looks at all of it, to start from rows the events can build on. For IDLE:
    /// a delivery into a folder of any size is then found without a listing.
    pub fn watch(&mut self) -> io::Result<()> {
        if self.fs_shared.is_some() {
            // Its changes happen in the sharable folder and reach the copy only when a
            // refresh syncs it: IDLE polls.
            return Err(io::Error::other("a filesystem-shared folder is polled"));
        }
        if self.watcher.is_none() {
            self.watcher = Some(Watcher::new(&self.dir)?);
            self.trust_events_if_exact();
        }
        Ok(())
    }

    /// Trusts the events of a watch just set when the rows are exact for a settled state
    /// that is still the one on disk: the events are then all that can change them.
    fn trust_events_if_exact(&mut self) {
        let exact = self.looked.and_then(DirStamp::settled);
        self.events_trusted = exact.is_some() && DirStamp::take(&self.dir) == exact;
    }

    /// Before this session changes a large folder itself: its own renames and unlinks
    /// move cur/'s times, and without a watch the refresh that ends the command would
    /// list all of cur/ to find what it did. With the watch, the events name the files
    /// (see [`Mailbox::watch`]). Only large folders spend an inotify instance (a per-user
    /// resource) on it; where inotify refuses, the refreshes list as before.
    fn watch_own_changes(&mut self) {
        if self.watcher.is_none() && self.table.len() >= LARGE && self.start_watch() {
            self.trust_events_if_exact();
        }
    }

    /// Before the session waits for deliveries (IDLE): the folder's UID database is read
    /// now, so that numbering the first delivery reads only the lines added since, not
    /// the whole file (6.6 MB at 100,000 messages; see `uiddb::prepare_for_additions`).
    pub fn prepare_for_deliveries(&self) {
        if self.read_only || self.fs_shared.is_some() {
            return;
        }
        if let Err(e) = uiddb::prepare_for_additions(&self.dir) {
            log::debug!("{}: reading {} ahead: {e}", self.dir.display(), uiddb::FILE);
        }
    }

    /// Before this session APPENDs or COPYs into this folder through the Maildir: as for
    /// its own flag changes ([`Mailbox::watch_own_changes`]), the refresh that reports
    /// the new messages then finds them from inotify events, not from a listing of cur/.
    pub fn expect_own_additions(&mut self) {
        if !self.read_only {
            self.watch_own_changes();
        }
    }

    /// The session is about to end (LOGOUT) and drop the folder: when that drop will
    /// settle and save the index (see [`Mailbox::settle_own_changes`]), this takes the
    /// folder's [`RebuildLock`] first, so that a session opening the folder meanwhile
    /// waits for that index instead of listing the folder. Not waited for: a holder is
    /// already listing the folder for a new index.
    pub fn retire(&mut self) {
        if self.needs_settling() {
            self.retiring = RebuildLock::try_acquire(&self.dir);
        }
    }

    /// Whether [`Mailbox::settle_own_changes`] has something to do: rows kept exact by
    /// events, for a state not yet settled or since changed (by the session itself,
    /// typically).
    fn needs_settling(&self) -> bool {
        if self.read_only || !self.events_trusted || self.table.len() < LARGE {
            return false;
        }
        let Some(looked) = self.looked.and_then(DirStamp::settled) else {
            return true;
        };
        // Deliveries that came in since are the next opener's to move: the index already
        // written for `looked` sends it to new/ alone.
        !DirStamp::take(&self.dir).is_some_and(|now| {
            looked.holds_at(now) || (now.same_but_new(looked) && self.index_says(looked))
        })
    }

    /// An open of a large folder whose index still describes cur/ is about to move the
    /// deliveries from new/ into cur/: that move changes cur/, and without a watch the
    /// next open would list all of cur/ again. A watch set now, and trusted when cur/ is
    /// still as the index has it once the watch is on, lets the events say what moved
    /// and the session leave an exact index (see [`Mailbox::settle_own_changes`]).
    fn watch_from_index(&mut self, valid_for: index::Validity) {
        if self.watcher.is_none() && self.start_watch() {
            self.events_trusted = DirStamp::take(&self.dir).is_some_and(|s| s.cur_as_in(valid_for));
        }
    }

    /// A watch for what the session itself is about to change, asked for once (its
    /// events not trusted yet: the caller decides from what the rows are exact for).
    /// False when there is none.
    fn start_watch(&mut self) -> bool {
        if self.fs_shared.is_some() || self.own_watch_tried {
            return false;
        }
        self.own_watch_tried = true;
        match Watcher::new(&self.dir) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => log::debug!("{}: no watch: {e}", self.dir.display()),
        }
        self.watcher.is_some()
    }

    /// When the session ends after changing a large watched folder: its rows are exact
    /// (the events said everything) but for a state too recent to vouch for itself, so
    /// no index could be saved and the next session to open the folder would list it.
    /// Reading the last events and waiting out the clock tick (25 ms at most) lets
    /// [`Mailbox::save_index`] write the index for that state.
    fn settle_own_changes(&mut self) {
        if !self.needs_settling() {
            return;
        }
        // The session's last own events. A delivery they name stays in new/: moving it
        // now would change cur/ once more, after the last look, and leave the next
        // opener a listing of all of cur/ instead of new/.
        let how = Reconcile::Refresh {
            report_expunges: false,
        };
        if !matches!(self.refresh_from_events(how, NewMail::Leave), Some(Ok(_))) {
            return;
        }
        let Some(looked) = self.looked.take() else {
            return;
        };
        let Some(later) = DirStamp::settle(&self.dir, Some(looked)) else {
            return;
        };
        let Some(Ok(events)) = self.watcher.as_mut().map(Watcher::drain) else {
            return;
        };
        // Only new/ moved meanwhile, if anything (a delivery, typically, whose opener may
        // be waiting for this index on the lock of `retire`): the rows are still exact
        // for cur/, the keywords and the UID database as `looked` has them. An index
        // valid for `looked` is then never taken as exact for new/ (its times moved on,
        // and only move on, or `looked` leaves them unknown), and it tells an opener
        // that only new/ needs listing. Its times held until `later` was taken: that is
        // when they must have settled.
        let only_new = events.files.iter().all(|f| f.sub == Sub::New)
            && !events.keywords
            && !events.lost
            && later.same_but_new(looked);
        let held = DirStamp {
            taken: later.taken,
            ..looked
        };
        if only_new && held.settled().is_some() && !self.index_says(held) {
            self.write_index(held);
        }
    }

    /// The next refresh looks at the folder itself even while it is watched (a safety net
    /// for changes inotify cannot see, as on a network file system).
    pub fn look_again(&mut self) {
        self.events_trusted = false;
    }

    /// What to poll for the folder's events, while [`Mailbox::watch`] is on.
    pub fn watch_fd(&self) -> Option<BorrowedFd<'_>> {
        self.watcher.as_ref().map(|w| w.as_fd())
    }

    /// The files the pending events name, as a partial listing, when they say all that
    /// changed; None when a full look is needed (no watch yet, lost events, a message
    /// whose file left without arriving elsewhere: an expunge, or a rename whose second
    /// half is not read yet). Without trust the events are drained and dropped: the full
    /// look that follows sees what they describe.
    fn look_from_events(&mut self, new_mail: NewMail) -> Option<Look> {
        let watcher = self.watcher.as_mut()?;
        let events = match watcher.drain() {
            Ok(events) => events,
            Err(e) => {
                log::warn!(
                    "{}: inotify read failed, listing instead: {e}",
                    self.dir.display()
                );
                self.watcher = None;
                return None;
            }
        };
        if !self.events_trusted || events.lost {
            return None;
        }
        // Where each named file is after the events, in their order.
        let mut now: HashMap<String, Option<(Sub, String)>> = HashMap::default();
        for e in events.files {
            let base = split_info(&e.name).0.to_string();
            let slot = now.entry(base).or_insert(None);
            if e.arrived {
                *slot = Some((e.sub, e.name));
            } else if slot
                .as_ref()
                .is_none_or(|(sub, name)| *sub == e.sub && *name == e.name)
            {
                *slot = None;
            }
        }
        let mut look = Look {
            listing: Vec::with_capacity(now.len()),
            recent: HashSet::default(),
            whole: false,
            new_listed: false,
            keywords: events.keywords,
            left_in_new: false,
        };
        for (base, at) in now {
            let Some((sub, name)) = at else {
                if self.table.find(&base).is_some() {
                    return None;
                }
                continue;
            };
            let found = match sub {
                Sub::Cur => Some(Found {
                    file_name: name,
                    in_new: false,
                }),
                Sub::New if new_mail == NewMail::Leave => {
                    look.left_in_new = true;
                    None
                }
                Sub::New => take_from_new(&self.dir, name, !self.read_only, &mut look.recent),
            };
            look.listing.extend(found);
        }
        Some(look)
    }

    /// Brings the rows in line with a listing of the folder taken after `stamp`: flags
    /// from the names, vanished files marked gone, keywords, and new files with their UIDs.
    fn reconcile(
        &mut self,
        stamp: Option<DirStamp>,
        how: Reconcile,
        look: Look,
    ) -> Result<Changes> {
        self.stamp = None;
        let opening = matches!(how, Reconcile::Open);
        let Look {
            listing,
            recent,
            whole,
            new_listed,
            keywords: read_keywords,
            left_in_new: _,
        } = look;
        let mut changed: HashSet<usize> = HashSet::default();
        let mut seen = vec![false; self.table.len()];
        let mut fresh: HashMap<String, Found> = HashMap::default();
        // A file this look moved out of new/ has a row only if its name is in cur/ as
        // well, and then the UID database numbers it at or below the last row: such files
        // are looked up among the rows after the numbering, so that a delivery into a
        // large folder does not build a lookup table of every row's name. (Not while a
        // row's file is in new/: a partial look must find that one now.)
        let defer_moved = !self.read_only && !self.table.any_in_new();
        for f in listing {
            let base = split_info(&f.file_name).0;
            if defer_moved && !f.in_new && recent.contains(base) {
                fresh.insert(base.to_string(), f);
                continue;
            }
            match self.table.find(base) {
                Some(i) => {
                    seen[i] = true;
                    self.apply_listing(i, f, &mut changed);
                }
                None => {
                    fresh.insert(split_info(&f.file_name).0.to_string(), f);
                }
            }
        }
        if !whole {
            // Rows whose directory was not listed are taken as they were. Only rows in
            // new/ can be in a listed directory here, and those are rows this session
            // touched (the index has none): without any, no row needs reading.
            if new_listed && self.table.any_in_new() {
                for (seen, row) in seen.iter_mut().zip(self.table.rows()) {
                    *seen |= !row.has(IN_NEW);
                }
            } else {
                seen.fill(true);
            }
        }
        // Reads only the rows not seen (a refresh from the watch sees them all).
        let unseen = |seen: &[bool], table: &Table| {
            (seen.iter().enumerate()).any(|(i, s)| !s && !table.row(i).has(GONE))
        };
        if unseen(&seen, &self.table) {
            // A message renamed by another session (a flag change) can slip through one
            // directory listing; look again before calling it expunged.
            self.cur_listings += 1;
            let (again, _) = scan(&self.dir, false, true)?;
            for f in again {
                if let Some(i) = self.table.find(split_info(&f.file_name).0)
                    && !seen[i]
                {
                    seen[i] = true;
                    self.apply_listing(i, f, &mut changed);
                }
            }
        }
        for (i, seen) in seen.iter().enumerate() {
            if !seen {
                self.table.row_mut(i).set(GONE, true);
            }
        }
        // Keywords: only messages that have some, before or now, can have changed.
        let mut kw = if read_keywords {
            keywords::read(&self.dir, None)?
        } else {
            Default::default()
        };
        // Without keywords before or now (most folders), no row needs a look.
        let any_keywords = read_keywords && (!kw.is_empty() || self.table.has_keywords());
        for i in (0..self.table.len()).filter(|_| any_keywords) {
            let row = self.table.row(i);
            let had = self.table.keywords(i);
            if row.has(GONE) || (had.is_empty() && !kw.contains_key(self.table.basename(i))) {
                continue;
            }
            let basename = self.table.basename(i);
            let k = kw.remove(basename).unwrap_or_default();
            if !same_keywords(&k, had) {
                changed.insert(i);
            }
            self.table.set_keywords(i, k);
        }
        let mut new = 0;
        // False when a listed file is left out of the rows: they no longer describe the
        // folder at `stamp`, and must not become its index.
        let mut complete = true;
        if !fresh.is_empty() {
            // Only adds: files gone since the open keep their entries until the next open.
            let names: HashSet<&str> = fresh.keys().map(|s| s.as_str()).collect();
            let mut a = if names.iter().all(|n| recent.contains(*n)) {
                uiddb::sync_taken_from_new(&self.dir, &names)?
            } else {
                uiddb::sync(&self.dir, &names, None)?
            };
            if opening && a.uid_validity != self.uid_validity {
                // The database was made anew since the index was written.
                self.open_by_scan(stamp)?;
                return Ok(Changes::default());
            }
            let last = self.last_uid();
            self.find_skipped(last, &mut fresh, &mut a)?;
            if defer_moved {
                let numbered_before: Vec<String> = fresh
                    .keys()
                    .filter(|b| recent.contains(*b) && a.uids.get(*b).is_some_and(|&u| u <= last))
                    .cloned()
                    .collect();
                for base in numbered_before {
                    if let Some(i) = self.table.find(&base) {
                        let f = fresh.remove(&base).expect("a fresh name");
                        self.apply_listing(i, f, &mut changed);
                    }
                }
            }
            let mut add: Vec<(u32, &String)> = Vec::new();
            for base in fresh.keys() {
                let Some(&uid) = a.uids.get(base) else {
                    complete = false;
                    continue;
                };
                if uid <= last && !opening {
                    complete = false;
                    log::warn!(
                        "{}: {base} has UID {uid}, below the last UID shown ({last}); it appears at the next open",
                        self.dir.display()
                    );
                    continue;
                }
                add.push((uid, base));
            }
            add.sort_unstable_by_key(|a| a.0);
            let before = self.table.len();
            for (uid, base) in add {
                self.add_row(uid, base, &fresh[base], recent.contains(base));
                if let Some(k) = kw.remove(base.as_str()) {
                    self.table.set_keywords(self.table.len() - 1, k);
                }
            }
            new = self.table.len() - before;
            self.uid_next = self.uid_next.max(a.next_uid);
            self.uid_validity = a.uid_validity;
            if new > 0 && !opening {
                self.settle_recent(before);
            }
        }
        // A UID given out since the rows were taken whose message is gone again (appended
        // and expunged) shows only in the database's header; UIDNEXT must count it (RFC
        // 3501 §2.3.1.1: it changes when messages are added, "even if those new messages
        // are subsequently expunged"), as a full scan's does.
        if let Some((v, next)) = uiddb::header(&self.dir)
            && v == self.uid_validity
        {
            self.uid_next = self.uid_next.max(next);
        }
        let mut expunged = Vec::new();
        if opening {
            self.table.remove_gone();
            self.table.sort();
            changed.clear();
            new = 0;
        } else if matches!(
            how,
            Reconcile::Refresh {
                report_expunges: true
            }
        ) {
            expunged = self.remove_gone(&mut changed);
        }
        let mut flags_changed: Vec<usize> = changed.into_iter().collect();
        flags_changed.sort_unstable();
        self.looked = stamp.filter(|_| complete);
        self.stamp = stamp.and_then(DirStamp::settled);
        Ok(Changes {
            expunged,
            new,
            flags_changed,
        })
    }

    /// Takes what a directory listing says of message `i`: where its file is now and the
    /// flags in its name.
    fn apply_listing(&mut self, i: usize, f: Found, changed: &mut HashSet<usize>) {
        let flags = flags_of(&f.file_name);
        let row = self.table.row(i);
        if flags != row.flags || row.has(GONE) {
            changed.insert(i);
        }
        // Only a row that differs is written: the rows of the index stay unowned.
        if flags != row.flags || row.has(GONE) || row.has(IN_NEW) != f.in_new {
            let row = self.table.row_mut(i);
            row.flags = flags;
            row.set(IN_NEW, f.in_new);
            row.set(GONE, false);
        }
        self.table.rename(i, f.file_name);
    }

    /// Drops vanished entries; their sequence numbers, descending. `changed` (row numbers)
    /// is renumbered to match.
    fn remove_gone(&mut self, changed: &mut HashSet<usize>) -> Vec<u32> {
        let gone = self.table.gone();
        self.last_expunged = gone.iter().map(|&i| self.table.row(i).uid).collect();
        let mut out: Vec<u32> = gone.iter().map(|&i| i as u32 + 1).collect();
        if out.is_empty() {
            return out;
        }
        if !changed.is_empty() {
            // Each changed row moves down by the number of gone rows before it.
            *changed = changed
                .iter()
                .filter(|i| gone.binary_search(i).is_err())
                .map(|&i| i - gone.partition_point(|&g| g < i))
                .collect();
        }
        self.table.remove_gone();
        out.reverse();
        out
    }

    /// Gives one message these flags and keywords, as far as this session changes them:
    /// what differs from the session's view of the message is applied to its state on
    /// disk (see [`FlagChange`]), so changes other sessions made meanwhile stay.
    pub fn set_flags(&mut self, index: usize, flags: Flags, keywords: &[String]) -> Result<()> {
        self.check(index)?;
        let m = self.message(index);
        let change = FlagChange::between(m.flags, m.keywords, flags, keywords);
        self.change_flags(index, &change)
    }

    /// Applies `change` to one message's current state on disk; afterwards the entry holds
    /// that state (including what other sessions changed meanwhile).
    pub fn change_flags(&mut self, index: usize, change: &FlagChange) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let change = change.cleaned()?;
        self.check(index)?;
        if self.table.row(index).has(GONE) {
            return Err(StoreError::NoSuchMessage);
        }
        self.watch_own_changes();
        if let Some(m) = &mut self.modseqs {
            m.flags_changed = true;
        }
        self.store_system_flags(index, &change)?;
        if change.touches_keywords() {
            self.store_keywords(index, &change)?;
        }
        Ok(())
    }

    /// Renames the message file from the name it has now to the one with the changed
    /// flags. rename() from the old name is the compare-and-swap: it fails with ENOENT when
    /// another process (postern or Courier, which takes no lock for this either) renamed
    /// the file since this session last saw it; then the file is found again and the
    /// change applied to its new flags. An unchanged name is only checked to exist.
    fn store_system_flags(&mut self, index: usize, change: &FlagChange) -> Result<()> {
        let basename = self.table.basename(index).to_string();
        let mut file_name = self.table.file_name(index).to_string();
        let mut in_new = self.table.row(index).has(IN_NEW);
        let subdirs = self
            .subdirs
            .get_or_init(|| SubDirs::open(&self.dir))
            .as_ref();
        for _ in 0..RENAME_TRIES {
            let flags = change.apply_flags(flags_of(&file_name));
            let target = format!("{basename}:2,{}", flags.to_info());
            let result = match subdirs {
                Some(d) => {
                    let from_dir = if in_new { &d.new } else { &d.cur };
                    let done = if !in_new && target == file_name {
                        let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
                        nix::sys::stat::fstatat(from_dir, file_name.as_str(), nofollow).map(drop)
                    } else {
                        nix::fcntl::renameat(from_dir, file_name.as_str(), &d.cur, target.as_str())
                    };
                    done.map_err(io::Error::from)
                }
                None => {
                    let from = self
                        .dir
                        .join(if in_new { "new" } else { "cur" })
                        .join(&file_name);
                    if !in_new && target == file_name {
                        fs::symlink_metadata(&from).map(drop)
                    } else {
                        fs::rename(&from, self.dir.join("cur").join(&target))
                    }
                }
            };
            match result {
                Ok(()) => {
                    let row = self.table.row_mut(index);
                    row.set(IN_NEW, false);
                    row.flags = flags;
                    self.table.rename(index, target);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let Some(f) = locate(&self.dir, &basename)? else {
                        return Err(StoreError::NoSuchMessage);
                    };
                    (file_name, in_new) = (f.file_name, f.in_new);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::other(format!(
            "{}: {basename} keeps being renamed by others",
            self.dir.display()
        ))
        .into())
    }

    /// Applies the keyword part of `change` to the message's keyword set on disk (see
    /// [`KeywordWriter`]: two postern sessions never write from the same old set).
    fn store_keywords(&mut self, index: usize, change: &FlagChange) -> Result<()> {
        let basename = self.table.basename(index).to_string();
        let kw = self
            .keyword_writer
            .change(&self.dir, &basename, |now| change.apply_keywords(now))?;
        self.table.set_keywords(index, kw);
        Ok(())
    }

    /// Removes \Deleted messages (only those UIDs, if given) and, with them, any messages
    /// other sessions removed that were not reported yet. Returns the original sequence
    /// numbers of every removed message, descending.
    pub fn expunge(&mut self, only_uids: Option<&[u32]>) -> Result<Vec<u32>> {
        self.expunge_into(only_uids, None)
    }

    /// [`Mailbox::expunge`], but the \Deleted messages move into `trash` (a folder
    /// directory of the same Maildir) instead of being removed: Courier's
    /// IMAP_MOVE_EXPUNGE_TO_TRASH. As Courier, the moved message keeps its flags but
    /// \Deleted and leaves its keywords behind; it gets its UID in Trash from whichever
    /// session looks there next. Trash does not count toward the quota (as in Courier's
    /// maildirquota), so the quota goes down as for a removal.
    pub fn expunge_to_trash(
        &mut self,
        only_uids: Option<&[u32]>,
        trash: &Path,
    ) -> Result<Vec<u32>> {
        self.expunge_into(only_uids, Some(trash))
    }

    fn expunge_into(
        &mut self,
        only_uids: Option<&[u32]>,
        trash: Option<&Path>,
    ) -> Result<Vec<u32>> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        self.watch_own_changes();
        let only: Option<HashSet<u32>> = only_uids.map(|u| u.iter().copied().collect());
        let mut removed = Vec::new();
        let (mut bytes, mut count) = (0i64, 0i64);
        for i in 0..self.table.len() {
            let row = self.table.row(i);
            if row.has(GONE)
                || !row.flags.contains(Flags::DELETED)
                || only.as_ref().is_some_and(|o| !o.contains(&row.uid))
            {
                continue;
            }
            let mut path = self.path_of(i);
            let dispose = |path: &Path| match trash {
                Some(trash) => move_to_trash(path, trash).map(|()| true),
                None => self.remove_message_file(path),
            };
            let mut r = dispose(&path);
            if matches!(&r, Err(e) if e.kind() == io::ErrorKind::NotFound) {
                // Renamed by someone else: remove it only if it is still \Deleted.
                match locate(&self.dir, self.table.basename(i))? {
                    Some(f) if flags_of(&f.file_name).contains(Flags::DELETED) => {
                        path = self
                            .dir
                            .join(if f.in_new { "new" } else { "cur" })
                            .join(f.file_name);
                        r = dispose(&path);
                    }
                    Some(_) => continue,
                    None => {}
                }
            }
            match r {
                Ok(true) => {
                    bytes -= row.size as i64;
                    count -= 1;
                }
                // Kept by the sharable folder's permissions; its \Deleted went.
                Ok(false) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            removed.push(i);
        }
        if !removed.is_empty() {
            fsutil::fsync_dir(&self.dir.join("cur"))?;
            if let Some(trash) = trash {
                fsutil::fsync_dir(&trash.join("cur"))?;
            }
        }
        for &i in &removed {
            self.table.row_mut(i).set(GONE, true);
        }
        let gone: HashSet<&str> = (self.table.gone().into_iter())
            .map(|i| self.table.basename(i))
            .collect();
        if !gone.is_empty() {
            uiddb::update(&self.dir, |db| {
                db.entries.retain(|(_, n)| !gone.contains(n.as_str()));
                Ok(())
            })?;
            // The keyword files of the expunged messages stay: another session may have
            // listed a message before the unlink and read keywords after it, and would then
            // show (or announce) it without them. Readers' housekeeping drops the keywords
            // of messages that are gone when it folds old update files into `:list`.
        }
        if self.fs_shared.is_none() && quota::counts_folder(&self.dir) {
            quota::record(&self.root, bytes, count)?;
        }
        let expunged = self.remove_gone(&mut HashSet::default());
        if !expunged.is_empty() {
            self.sync_modseqs_or_stop();
        }
        Ok(expunged)
    }

    /// From now on this session keeps mod-sequences (RFC 7162): brings `postern-modseq`
    /// in line with the rows (see [`modseq::sync`]) and returns HIGHESTMODSEQ. `memory`
    /// is how many expunged UIDs the folder remembers for VANISHED.
    pub fn track_modseqs(&mut self, memory: usize) -> Result<u64> {
        if self.modseqs.is_none() {
            self.modseqs = Some(ModseqView {
                values: Vec::new(),
                highest: 0,
                memory,
                synced: false,
                flags_changed: false,
            });
        }
        if let Err(e) = self.sync_modseqs() {
            self.modseqs = None;
            return Err(e);
        }
        Ok(self.highest_modseq().unwrap_or(0))
    }

    /// [`Mailbox::sync_modseqs`] after a change whose report must not fail with it: a
    /// folder whose mod-sequences cannot be kept (`postern-modseq` not writable) stops
    /// keeping them, and the session then says NOMODSEQ where they are asked for.
    fn sync_modseqs_or_stop(&mut self) {
        if let Err(e) = self.sync_modseqs() {
            log::warn!("{}: mod-sequences no longer kept: {e}", self.dir.display());
            self.modseqs = None;
        }
    }

    pub fn tracks_modseqs(&self) -> bool {
        self.modseqs.is_some()
    }

    /// The lowest mod-sequence given to an expunge this session has seen but not
    /// reported yet (a vanished message still in the rows), when there is one.
    pub fn pending_expunge_modseq(&self) -> Option<u64> {
        let gone: HashSet<u32> = (self.table.gone().into_iter())
            .map(|i| self.table.row(i).uid)
            .collect();
        if gone.is_empty() || self.modseqs.is_none() {
            return None;
        }
        let state = modseq::read(&self.dir, self.uid_validity).ok().flatten()?;
        state
            .vanished
            .iter()
            .filter(|v| gone.contains(&v.0))
            .map(|v| v.1)
            .min()
    }

    /// The UIDs the last [`Mailbox::expunge`] or [`Mailbox::refresh`] reported as
    /// expunged, ascending.
    pub fn last_expunged_uids(&self) -> &[u32] {
        &self.last_expunged
    }

    /// Syncs the mod-sequences unless they are current for the rows (a refresh keeps
    /// them so; a flag change of this session leaves them to be synced).
    pub fn ensure_modseqs(&mut self) -> Result<()> {
        let current = self
            .modseqs
            .as_ref()
            .is_some_and(|m| m.synced && m.values.len() == self.table.len() && !m.flags_changed);
        if current {
            return Ok(());
        }
        self.sync_modseqs()
    }

    /// When mod-sequences are kept: gives the changes the rows show since the last sync
    /// their mod-sequences (a flag change this session made, or what a refresh found).
    pub fn sync_modseqs(&mut self) -> Result<()> {
        let Some(memory) = self.modseqs.as_ref().map(|m| m.memory) else {
            return Ok(());
        };
        let seen: Vec<modseq::Seen> = (0..self.table.len())
            .map(|i| {
                let row = self.table.row(i);
                modseq::Seen {
                    uid: row.uid,
                    fingerprint: (!row.has(GONE))
                        .then(|| modseq::fingerprint(row.flags, self.table.keywords(i))),
                }
            })
            .collect();
        let dir = self.dir.clone();
        // Asked only of UIDs above the rows' last (arrived since the look, or expunged
        // with the last messages): the database and one listing of the folder, taken once
        // on the first question, answer them all.
        let mut known: Option<(HashMap<u32, String>, HashSet<String>)> = None;
        let present = |uid: u32| {
            let (db, names) = known.get_or_insert_with(|| {
                let db = match uiddb::read(&dir) {
                    Ok(uiddb::DbState::Valid(db)) => db.entries.into_iter().collect(),
                    _ => HashMap::default(),
                };
                let names = ["cur", "new"]
                    .iter()
                    .flat_map(|sub| fsutil::list_names(&dir.join(sub)).unwrap_or_default())
                    .map(|n| split_info(&n).0.to_string())
                    .collect();
                (db, names)
            });
            db.get(&uid).is_some_and(|base| names.contains(base))
        };
        let synced = modseq::sync(&self.dir, self.uid_validity, &seen, memory, present)?;
        self.modseqs = Some(ModseqView {
            values: synced.modseqs,
            highest: synced.highest,
            memory,
            synced: true,
            flags_changed: false,
        });
        Ok(())
    }

    /// The MODSEQ of message `index` as of the last sync; `None` when mod-sequences are
    /// not kept (or the rows moved since: the caller syncs first).
    pub fn modseq(&self, index: usize) -> Option<u64> {
        let m = self.modseqs.as_ref()?;
        if !m.synced || m.values.len() != self.table.len() {
            return None;
        }
        m.values.get(index).copied()
    }

    /// HIGHESTMODSEQ as of the last sync, when mod-sequences are kept.
    pub fn highest_modseq(&self) -> Option<u64> {
        self.modseqs.as_ref().map(|m| m.highest)
    }

    /// The UIDs expunged after mod-sequence `since` (QRESYNC's VANISHED (EARLIER));
    /// `None` when the folder's memory of expunges does not reach back that far.
    pub fn vanished_since(&self, since: u64) -> Option<Vec<u32>> {
        modseq::vanished_since(&self.dir, self.uid_validity, since)
    }

    /// Removes one message file for EXPUNGE; false when it has to stay (a shared
    /// message this user may not remove, see [`super::fs_shared::unlink_message`]).
    fn remove_message_file(&self, path: &Path) -> io::Result<bool> {
        if self.fs_shared.is_some() {
            super::fs_shared::unlink_message(path)
        } else {
            fs::remove_file(path).map(|()| true)
        }
    }

    /// Copies messages into `target` of `maildir` (hard links where possible), keeping
    /// flags and keywords, and gives them UIDs there.
    pub fn copy_to(
        &mut self,
        indexes: &[usize],
        maildir: &Maildir,
        target: &str,
    ) -> Result<CopyResult> {
        let target_dir = maildir.existing_dir(target)?;
        if target_dir == self.dir {
            self.expect_own_additions();
        }
        let mut total = 0u64;
        for &i in indexes {
            self.check(i)?;
            total += self.table.row(i).size;
        }
        let counted = quota::counts_folder(&target_dir);
        if counted {
            quota::check(maildir.root(), total, indexes.len() as u64)?;
        }
        // A target without a UID database yet gets one first: made after the copies are
        // in cur/, it would number them by name (Courier's order), and names made in one
        // second do not sort in the order they were made (`M99999` after `M100000`), so
        // the copies would not keep the order of their sources.
        if !target_dir.join(uiddb::FILE).exists() {
            uiddb::update(&target_dir, |_| Ok(()))?;
        }
        let mut made: Vec<(u32, String, PathBuf)> = Vec::new();
        let r = (|| -> Result<()> {
            for &i in indexes {
                let m = self.message(i);
                // Expunged by another session: copy what still exists (the caller says
                // which were copied; RFC 2180 §4 would allow failing the COPY instead).
                let Some((src, meta)) = self.source_file(i)? else {
                    continue;
                };
                let fresh = UniqueName::new().final_name(
                    meta.dev(),
                    meta.ino(),
                    Some(m.size),
                    wire_size_from_name(m.basename),
                );
                // The copy keeps its source's EMAILID (RFC 8474 §5.1: required for MOVE,
                // allowed for COPY; see `objectid`).
                let base = super::objectid::with_email_id(&fresh, m.basename);
                if !m.keywords.is_empty() {
                    keyword_writer::record_new(&target_dir, &base, m.keywords)?;
                }
                let dest = target_dir
                    .join("cur")
                    .join(format!("{base}:2,{}", m.flags.to_info()));
                // A shared folder's message is a link: link() would copy the link itself.
                if self.fs_shared.is_some() || fs::hard_link(&src, &dest).is_err() {
                    let links = self.fs_shared.is_some();
                    match copy_file(&src, &target_dir, &dest, meta.modified().ok(), links) {
                        Err(StoreError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                            // Gone between the look and the copy.
                            let only: HashSet<&str> = std::iter::once(base.as_str()).collect();
                            let _ = keywords::forget(&target_dir, &only);
                            continue;
                        }
                        r => r?,
                    }
                }
                made.push((m.uid, base, dest));
            }
            Ok(())
        })();
        if let Err(e) = r {
            for (_, _, dest) in &made {
                let _ = fs::remove_file(dest);
            }
            let bases: HashSet<&str> = made.iter().map(|m| m.1.as_str()).collect();
            let _ = keywords::forget(&target_dir, &bases);
            return Err(e);
        }
        fsutil::fsync_dir(&target_dir.join("cur"))?;
        // Indexed now, as APPEND indexes, not at the target's next SEARCH.
        let placed: Vec<(&str, &Path)> = made
            .iter()
            .map(|(_, base, dest)| (base.as_str(), dest.as_path()))
            .collect();
        super::fts::added_many(maildir.root(), &target_dir, &placed);
        let (db, uids) = uiddb::update(&target_dir, |db| {
            let known: HashMap<&str, u32> =
                db.entries.iter().map(|(u, n)| (n.as_str(), *u)).collect();
            let mut uids = Vec::new();
            let mut add = Vec::new();
            for (src_uid, base, _) in &made {
                let uid = match known.get(base.as_str()) {
                    Some(u) => *u,
                    None => {
                        let u = db.next_uid + add.len() as u32;
                        add.push((u, base.clone()));
                        u
                    }
                };
                uids.push((*src_uid, uid));
            }
            db.next_uid += add.len() as u32;
            db.entries.extend(add);
            Ok(uids)
        })?;
        if let Some(first) = uids.iter().map(|(_, uid)| *uid).min() {
            recent::keep_unclaimed(&target_dir, db.uid_validity, first);
        }
        if counted {
            quota::record(maildir.root(), total as i64, made.len() as i64)?;
        }
        Ok(CopyResult {
            uid_validity: db.uid_validity,
            uids,
            names: made.into_iter().map(|(_, base, _)| base).collect(),
        })
    }

    /// The file of a message to copy and its metadata; `None` when another session
    /// expunged it.
    fn source_file(&self, index: usize) -> Result<Option<(PathBuf, fs::Metadata)>> {
        if self.table.row(index).has(GONE) {
            return Ok(None);
        }
        let src = match self.locate_path(index) {
            Ok(src) => src,
            Err(StoreError::NoSuchMessage) => return Ok(None),
            Err(e) => return Err(e),
        };
        // A link where a message should be is copied only where messages are links by
        // design (see `fsutil::open_message`); anywhere else it is no message.
        match message_metadata(&src, self.fs_shared.is_some()) {
            Ok(meta) if meta.is_file() => Ok(Some((src, meta))),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a regular file", src.display()),
            )
            .into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn locate_path(&self, index: usize) -> Result<PathBuf> {
        let p = self.path_of(index);
        if p.exists() {
            return Ok(p);
        }
        match locate(&self.dir, self.table.basename(index))? {
            Some(f) => Ok(self
                .dir
                .join(if f.in_new { "new" } else { "cur" })
                .join(f.file_name)),
            None => Err(StoreError::NoSuchMessage),
        }
    }

    /// Every keyword used by a message of this folder.
    pub fn keywords_in_use(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for set in self.table.with_keywords() {
            for k in set {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                    out.push(k.clone());
                }
            }
        }
        out
    }
}

/// How [`Mailbox::reconcile`] treats what it finds.
#[derive(Clone, Copy)]
enum Reconcile {
    /// Rows taken from an index at open: nothing is reported, vanished rows just go, new
    /// messages take their place by UID.
    Open,
    /// A session's look: changes are reported; new messages only at the end.
    Refresh { report_expunges: bool },
}

/// A session that leaves a folder it saw completely, in a state that has settled and is
/// still the state on disk, leaves an index for the next session (the check is a few
/// stats; the write happens only when the index it found was stale).
impl Drop for Mailbox {
    fn drop(&mut self) {
        self.settle_own_changes();
        self.save_index();
        self.save_index_after_own_changes();
    }
}

/// A message file's metadata: through a link only when `links` (see
/// `fsutil::open_message`), else a link's own.
fn message_metadata(path: &Path, links: bool) -> io::Result<fs::Metadata> {
    if links {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
}

/// Copies a message through the target's tmp/ when a hard link is not possible.
fn copy_file(
    src: &Path,
    target_dir: &Path,
    dest: &Path,
    mtime: Option<std::time::SystemTime>,
    links: bool,
) -> Result<()> {
    let (mut out, tmp) = fsutil::create_unique(&target_dir.join("tmp"), "")?;
    let r = (|| -> io::Result<()> {
        io::copy(&mut fsutil::open_message(src, links)?, &mut out)?;
        if let Some(t) = mtime {
            out.set_modified(t)?;
        }
        out.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(r?)
}
/// Moves one expunged message file into `trash`'s cur/, without \Deleted; a name taken
/// there already gets a fresh unique one (never overwritten). NotFound when the file is
/// gone (the caller looks for it under its new name).
fn move_to_trash(path: &Path, trash: &Path) -> io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("message file name is not UTF-8"))?;
    let (base, info) = split_info(name);
    let mut flags = Flags::from_info(info.unwrap_or(""));
    flags.remove(Flags::DELETED);
    let mut dest = trash
        .join("cur")
        .join(format!("{base}:2,{}", flags.to_info()));
    loop {
        match fs::hard_link(path, &dest) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::metadata(path)?;
                let fresh = UniqueName::new().final_name(
                    meta.dev(),
                    meta.ino(),
                    size_from_name(base),
                    wire_size_from_name(base),
                );
                // The same message in Trash: the same EMAILID (RFC 8474 §5.1).
                let fresh = super::objectid::with_email_id(&fresh, base);
                dest = trash
                    .join("cur")
                    .join(format!("{fresh}:2,{}", flags.to_info()));
            }
            Err(e) => return Err(e),
        }
    }
    // Renamed by another session meanwhile: undo, so that the caller's second try under
    // the new name leaves one copy in Trash, not two.
    fs::remove_file(path).inspect_err(|_| {
        let _ = fs::remove_file(&dest);
    })
}
