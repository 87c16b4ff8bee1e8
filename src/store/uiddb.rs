//! `courierimapuiddb`: Courier's UID database, one per folder.
//!
//! ```text
//! 1 <uidvalidity> <nextuid>
//! <uid> <basename>
//! ```
//! Basenames are file names without the `:2,` info. Known UIDs come first in ascending
//! order, then new messages sorted by delivery time and name. UIDs are assigned under the
//! folder's dot-lock after re-reading the file, so concurrent sessions and deliveries never
//! hand out a UID twice.
//!
//! New UIDs are appended; the file is replaced whole (tmp/ + fsync + rename + fsync of the
//! folder) only for a new file or UIDVALIDITY, when entries go, when nextuid grows a digit,
//! and when the file is not in Courier's exact form (a torn last line, a basename listed
//! twice, a header with stray spaces or zeros). Courier-IMAP's reader (5.0.13, checked with
//! the binary in tests/courier_uiddb_append.rs) takes every complete `<uid> <name>` line,
//! drops a last line without its `\n`, and takes the next UID from the header alone: it
//! never looks at the UIDs of the lines, so a header left behind the lines makes it hand
//! out a UID a line already has. It rewrites the file only when something changed, keeping
//! every UID it read. So an append is two steps, each made durable before the next:
//!
//! 1. the header is overwritten in place with the new nextuid (same length: a header that
//!    would grow a digit means a rewrite);
//! 2. the new lines are written after the last one.
//!
//! A crash after step 1 leaves UIDs that were never given to anyone skipped, not reused; a
//! crash in step 2 leaves complete lines (kept) and at most one torn last line, which both
//! Courier and [`UidDb::parse`] drop, its message getting a fresh UID above the header.
//!
//! Readers without the lock ([`read`]) can see the moment between the two steps: a nextuid
//! above lines not written yet. Shown as UIDNEXT, it would precede a message with a lower
//! UID, so [`read`] waits (briefly, bounded) for a writer at work before trusting a header
//! ahead of its lines. Read the file through [`read`], not directly.
//!
//! Numbering a few names ([`sync_few`]: a delivery seen by an IDLE session, an APPEND)
//! reads only the lines appended since this process, or another that saved what it read in
//! `postern-uidnames`, last read the file, when the file is still that file ([`known`]
//! says why that is safe).

// Keys are file names and keywords from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use super::filename::sort_new;
use super::fsutil;
use super::lock::DotLock;
use super::{Result, StoreError};

mod known;

pub const FILE: &str = "courierimapuiddb";
/// Courier-IMAP >= 4.10 subtracts this from the creation time to make UIDVALIDITY.
pub const IMAP_EPOCH: i64 = 1_000_000_000;
/// How long [`read`] waits for a writer between its two steps (two fdatasyncs take
/// milliseconds; a lock held longer belongs to other work, and its header is trusted).
const READ_WAIT: Duration = Duration::from_millis(100);

/// The parsed database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidDb {
    pub uid_validity: u32,
    pub next_uid: u32,
    /// (uid, basename), ascending by uid.
    pub entries: Vec<(u32, String)>,
}

/// What a parse learned about the file beyond the database: whether lines can be appended
/// to it as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Layout {
    /// Bytes of the header line with its `\n`.
    header_len: usize,
    /// The header is Courier's text of its own values, so another header of the same
    /// length can overwrite it in place.
    header_exact: bool,
    /// The nextuid the header says (the database's is never below a written UID).
    header_next_uid: u32,
    /// The highest UID of a complete line, 0 without lines.
    last_uid: u32,
    /// Bytes up to the last `\n`: less than `len` when the last line is torn.
    complete_len: usize,
    len: usize,
    /// Lines the database does not keep (a basename listed again).
    dropped: usize,
}

impl Layout {
    /// Lines appended after the last one and a header overwritten in place give Courier's
    /// exact text.
    fn appendable(&self) -> bool {
        self.header_exact && self.complete_len == self.len && self.dropped == 0
    }

    /// The header promises UIDs no line has: normal once the newest messages were
    /// expunged, but also what a reader sees while an append is between its two steps.
    fn header_ahead(&self) -> bool {
        self.header_next_uid > self.last_uid.saturating_add(1) || self.complete_len != self.len
    }
}

impl UidDb {
    /// Parses Courier's format; an error says why the file cannot be trusted.
    pub fn parse(bytes: &[u8]) -> std::result::Result<UidDb, String> {
        parse(bytes).map(|(db, _)| db)
    }

    /// Courier's exact text, formatted into one buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let names: usize = self.entries.iter().map(|(_, n)| n.len()).sum();
        let mut out = Vec::with_capacity(32 + names + self.entries.len() * 12);
        out.extend_from_slice(&header_line(self.uid_validity, self.next_uid));
        for (uid, name) in &self.entries {
            push_entry(&mut out, *uid, name);
        }
        out
    }
}

fn header_line(uid_validity: u32, next_uid: u32) -> Vec<u8> {
    format!("1 {uid_validity} {next_uid}\n").into_bytes()
}

/// `<uid> <name>\n`, without a formatter per line (a rewrite writes 100,000 of them).
fn push_entry(out: &mut Vec<u8>, uid: u32, name: &str) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = uid;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
}

fn parse(bytes: &[u8]) -> std::result::Result<(UidDb, Layout), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let (header, body, header_len) = match text.split_once('\n') {
        Some((h, b)) => (h, b, h.len() + 1),
        None => (text, "", text.len()),
    };
    let fields: Vec<&str> = header.split(' ').collect();
    if fields.len() != 3 {
        return Err(format!("bad header {header:?}"));
    }
    if fields[0] != "1" {
        return Err(format!("unknown version {:?}", fields[0]));
    }
    let uid_validity: u32 = fields[1]
        .parse()
        .map_err(|_| format!("bad uidvalidity {:?}", fields[1]))?;
    let header_next_uid: u32 = fields[2]
        .parse()
        .map_err(|_| format!("bad nextuid {:?}", fields[2]))?;
    if header_next_uid == 0 {
        return Err("nextuid 0".into());
    }
    // A last line without its '\n' was cut short by a crash in the middle of an append (or
    // is being written now): Courier's reader drops it, and so does this one.
    let (complete, torn) = match body.rfind('\n') {
        Some(i) => body.split_at(i + 1),
        None => ("", body),
    };
    let mut layout = Layout {
        header_len,
        header_exact: header_len > header.len()
            && header_line(uid_validity, header_next_uid)[..] == bytes[..header_len],
        header_next_uid,
        last_uid: 0,
        complete_len: if header_len > header.len() {
            header_len + complete.len()
        } else {
            0
        },
        len: bytes.len(),
        dropped: 0,
    };
    let mut next_uid = header_next_uid;
    let mut entries = Vec::with_capacity(complete.len() / 64);
    // Courier writes UIDs ascending: a set is needed only once one is out of order.
    let mut seen_uids: Option<HashSet<u32>> = None;
    let mut seen_names = HashSet::default();
    seen_names.reserve(complete.len() / 64);
    for (i, line) in complete.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let (uid, name) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {}: no separator", i + 2))?;
        let uid: u32 = uid
            .parse()
            .map_err(|_| format!("line {}: bad uid {uid:?}", i + 2))?;
        if uid == 0 || name.is_empty() || name.contains('/') || name.contains('\0') {
            return Err(format!("line {}: bad entry", i + 2));
        }
        if uid <= layout.last_uid && seen_uids.is_none() {
            seen_uids = Some(entries.iter().map(|e: &(u32, String)| e.0).collect());
        }
        if let Some(seen) = seen_uids.as_mut()
            && !seen.insert(uid)
        {
            return Err(format!("line {}: uid {uid} twice", i + 2));
        }
        layout.last_uid = layout.last_uid.max(uid);
        if uid >= next_uid {
            // Never hand this UID out again.
            next_uid = uid.checked_add(1).ok_or("uid overflow")?;
        }
        if !seen_names.insert(name) {
            log::warn!("courierimapuiddb: {name} listed twice; keeping the first UID");
            layout.dropped += 1;
            continue;
        }
        entries.push((uid, name.to_string()));
    }
    // The torn line's UID, when it got as far as its space, was meant for a message that
    // never got it; handing it out later is harmless but needless.
    if let Some((uid, _)) = torn.split_once(' ')
        && let Ok(uid) = uid.parse::<u32>()
        && uid >= next_uid
    {
        next_uid = uid.checked_add(1).ok_or("uid overflow")?;
    }
    if !entries.is_sorted_by_key(|e| e.0) {
        entries.sort_by_key(|e| e.0);
    }
    Ok((
        UidDb {
            uid_validity,
            next_uid,
            entries,
        },
        layout,
    ))
}

/// What is on disk.
#[derive(Debug)]
pub enum DbState {
    Missing,
    Valid(UidDb),
    Corrupt(String, Vec<u8>),
}

/// Reads the database without the folder lock. A header ahead of the lines while the lock
/// is held may be an append between its two steps (see the module comment): then this
/// waits up to [`READ_WAIT`] for the writer and reads again, so a caller does not show a
/// UIDNEXT above a message still being numbered.
pub fn read(folder_dir: &Path) -> io::Result<DbState> {
    let lock = folder_dir.join("tmp").join("courier.lock");
    let mut pause = Duration::from_millis(1);
    let mut waited = Duration::ZERO;
    for attempt in 0.. {
        let Some((file, bytes)) = read_file(&folder_dir.join(FILE), false)? else {
            return Ok(DbState::Missing);
        };
        let (db, layout) = match parse(&bytes) {
            Ok(parsed) => parsed,
            Err(why) => return Ok(DbState::Corrupt(why, bytes)),
        };
        if !layout.header_ahead() {
            return Ok(DbState::Valid(db));
        }
        // A writer that finished since has made the file longer; one still at work holds
        // the lock.
        let grew = file.metadata()?.len() != bytes.len() as u64;
        if (!grew && !lock.exists()) || waited >= READ_WAIT || attempt >= 30 {
            return Ok(DbState::Valid(db));
        }
        if !grew {
            std::thread::sleep(pause);
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(16));
        }
    }
    unreachable!("the loop returns")
}

/// The database file, opened for writing too when `write` asks and this process may; its
/// bytes. `None` when it does not exist. A symbolic link in its place is an error (ELOOP).
fn read_file(path: &Path, write: bool) -> io::Result<Option<(File, Vec<u8>)>> {
    let Some(mut file) = open_file(path, write)? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(file.metadata()?.len() as usize + 1);
    file.read_to_end(&mut bytes)?;
    Ok(Some((file, bytes)))
}

/// The database file, opened as [`read_file`] says; `None` when it does not exist.
fn open_file(path: &Path, write: bool) -> io::Result<Option<File>> {
    let open = |write: bool| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(path)
            .and_then(|file| super::fsutil::only_regular(file, path))
    };
    let opened = match open(write) {
        Err(e)
            if write
                && matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
        {
            open(false)
        }
        r => r,
    };
    match opened {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The database as read under the folder lock, with its open file for an append.
struct Locked {
    state: DbState,
    layout: Layout,
    file: Option<File>,
}

/// Reads the database; the caller holds the folder lock, so no writer is at work.
fn read_locked(folder_dir: &Path) -> io::Result<Locked> {
    let Some((file, bytes)) = read_file(&folder_dir.join(FILE), true)? else {
        return Ok(Locked {
            state: DbState::Missing,
            layout: Layout::default(),
            file: None,
        });
    };
    Ok(match parse(&bytes) {
        Ok((db, layout)) => Locked {
            state: DbState::Valid(db),
            layout,
            file: Some(file),
        },
        Err(why) => Locked {
            state: DbState::Corrupt(why, bytes),
            layout: Layout::default(),
            file: None,
        },
    })
}

/// Replaces the database atomically.
pub fn write(folder_dir: &Path, db: &UidDb) -> io::Result<()> {
    fsutil::atomic_write(
        &folder_dir.join("tmp"),
        &folder_dir.join(FILE),
        &db.to_bytes(),
    )
}

/// Under the folder lock: appends `db.entries[from..]` to the file `locked` read, in the
/// two steps of the module comment. False (nothing written) when the file must be
/// rewritten instead: its layout is not Courier's exact text, the new header is longer, or
/// the file cannot be written (a rewrite through the folder may still work).
///
/// Written with pwrite at offsets read under the lock rather than O_APPEND, because on
/// Linux a pwrite to an O_APPEND file appends, and the header is overwritten in place.
fn append_entries(locked: &Locked, db: &UidDb, from: usize) -> io::Result<bool> {
    let layout = &locked.layout;
    let header = header_line(db.uid_validity, db.next_uid);
    let Some(file) = locked.file.as_ref() else {
        return Ok(false);
    };
    if !layout.appendable() || header.len() != layout.header_len {
        return Ok(false);
    }
    if let Err(e) = file.write_all_at(&header, 0) {
        return match e.kind() {
            // Opened read-only after all (see read_file): the folder may still be writable.
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => Ok(false),
            _ => Err(e),
        };
    }
    file.sync_data()?;
    let new = &db.entries[from..];
    if !new.is_empty() {
        let names: usize = new.iter().map(|(_, n)| n.len()).sum();
        let mut lines = Vec::with_capacity(names + new.len() * 12);
        for (uid, name) in new {
            push_entry(&mut lines, *uid, name);
        }
        file.write_all_at(&lines, layout.len as u64)?;
        file.sync_data()?;
    }
    Ok(true)
}

/// What a database was before an edit: its UIDs (an edit never renames, so these tell
/// an append from anything else; a clone of a large database would cost more than the
/// edit), nextuid and UIDVALIDITY.
struct Before {
    uids: Vec<u32>,
    next_uid: u32,
    uid_validity: u32,
}

impl Before {
    fn of(db: &UidDb) -> Before {
        Before {
            uids: db.entries.iter().map(|e| e.0).collect(),
            next_uid: db.next_uid,
            uid_validity: db.uid_validity,
        }
    }
}

/// Under the folder lock, after `db` (read as `locked`) was edited: a database that was
/// `fresh` (none before) is created (with a UIDVALIDITY of at least `at_least`); else see
/// [`persist`]. Gives the database as written.
fn write_back(
    folder_dir: &Path,
    locked: &Locked,
    mut db: UidDb,
    before: &Before,
    fresh: bool,
    at_least: Option<u32>,
) -> io::Result<UidDb> {
    if fresh {
        return create(folder_dir, db, at_least);
    }
    persist(folder_dir, locked, &mut db, before)?;
    Ok(db)
}

/// Under the folder lock, after `db` (read as `locked`) was edited: writes nothing when it
/// is unchanged, appends when the edit only added entries after the old ones, and
/// rewrites the file for anything else.
fn persist(folder_dir: &Path, locked: &Locked, db: &mut UidDb, before: &Before) -> io::Result<()> {
    let old_uids = &before.uids;
    let kept_all = db.entries.len() >= old_uids.len()
        && db.entries.iter().zip(old_uids).all(|(e, uid)| e.0 == *uid);
    let added = &db.entries[old_uids.len().min(db.entries.len())..];
    if kept_all
        && added.is_empty()
        && db.next_uid == before.next_uid
        && db.uid_validity == before.uid_validity
    {
        return Ok(());
    }
    // The header must stay above every written UID: Courier takes the next one from it.
    if let Some(max) = db.entries.iter().map(|e| e.0).max()
        && max >= db.next_uid
    {
        db.next_uid = max.saturating_add(1);
    }
    if kept_all
        && db.uid_validity == before.uid_validity
        && append_entries(locked, db, old_uids.len())?
    {
        return Ok(());
    }
    write(folder_dir, db)
}

/// Reads the database whole now and keeps what [`known`] needs, names included, so that
/// the next names this process numbers read only the lines added since: for a session
/// about to wait for deliveries (IDLE), whose first one would otherwise pay for the whole
/// file. Nothing for a small file, or one this process knows already or finds saved.
pub fn prepare_for_additions(folder_dir: &Path) -> io::Result<()> {
    let path = folder_dir.join(FILE);
    let Some(file) = open_file(&path, false)? else {
        return Ok(());
    };
    let meta = file.metadata()?;
    if meta.len() < known::KNOWN_FROM || known::tail(&path, &file, &meta)?.is_some() {
        return Ok(());
    }
    look_whole(&path, file, meta, &HashSet::default())?;
    Ok(())
}

/// The UIDs of the database's lines above `after` and below `before`, ascending, read
/// from the file's end backwards: lines are in ascending UID order, so recent UIDs are in
/// its last bytes. Never the header; none when the file is missing.
pub fn uids_between(folder_dir: &Path, after: u32, before: u32) -> io::Result<Vec<u32>> {
    let Some(file) = open_file(&folder_dir.join(FILE), false)? else {
        return Ok(Vec::new());
    };
    let len = file.metadata()?.len();
    let mut chunk = 16 * 1024u64;
    loop {
        let start = len.saturating_sub(chunk);
        let mut bytes = vec![0u8; (len - start) as usize];
        file.read_exact_at(&mut bytes, start)?;
        // The first line of the chunk is cut (or the header, at the file's start).
        let Some(first_end) = memchr::memchr(b'\n', &bytes) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        let mut reached = false;
        for uid in bytes[first_end + 1..]
            .split(|&b| b == b'\n')
            .filter_map(line_uid)
        {
            reached |= uid <= after;
            if uid > after && uid < before {
                found.push(uid);
            }
        }
        if reached || start == 0 {
            found.sort_unstable();
            return Ok(found);
        }
        chunk *= 4;
    }
}

/// (UIDVALIDITY, next UID) from the database's first line, read without the rest of the
/// file (`None` when it is missing or the line is not Courier's).
pub fn header(folder_dir: &Path) -> Option<(u32, u32)> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let mut f = super::fsutil::open_regular(&folder_dir.join(FILE)).ok()?;
    let n = f.read(&mut head).ok()?;
    let line = head[..n].split(|&b| b == b'\n').next()?;
    let mut fields = std::str::from_utf8(line).ok()?.split(' ');
    match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some("1"), Some(v), Some(next), None) => Some((v.parse().ok()?, next.parse().ok()?)),
        _ => None,
    }
}

/// `postern-uidvalidity` in the Maildir's root: the last UIDVALIDITY given to any folder of
/// this Maildir. Courier ignores it.
pub const LAST_UID_VALIDITY: &str = "postern-uidvalidity";

/// The Maildir root a folder belongs to: its parent for a Maildir++ sub-folder (marked by
/// `maildirfolder`), the folder itself for INBOX.
fn maildir_root(folder_dir: &Path) -> &Path {
    match folder_dir.parent() {
        Some(parent) if folder_dir.join("maildirfolder").exists() => parent,
        _ => folder_dir,
    }
}

/// A UIDVALIDITY no folder of this Maildir had before and at least `at_least`:
/// max(at_least, last given + 1), recorded under the root's flock (tmp/ + rename + fsync)
/// before it is used. So a folder deleted and created again, or renamed away and back,
/// within one second gets a new, larger value (RFC 3501 §2.3.1.1) without Courier's
/// two-second sleep; Courier's own creation-time values are not consulted by it, which
/// only matters if both servers create the same folder name within seconds.
pub fn fresh_uid_validity(folder_dir: &Path, at_least: u32) -> io::Result<u32> {
    let root = maildir_root(folder_dir);
    let _lock = super::lock::DirFlock::acquire(root)?;
    let path = root.join(LAST_UID_VALIDITY);
    let last: Option<u32> =
        fsutil::read_optional(&path)?.and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok());
    let next = last.map_or(0, |l| l.saturating_add(1));
    let uid_validity = at_least.max(next).max(1);
    fsutil::atomic_write(
        &root.join("tmp"),
        &path,
        format!("{uid_validity}\n").as_bytes(),
    )?;
    Ok(uid_validity)
}

/// UIDVALIDITY from the clock, as Courier makes it.
fn clock_uid_validity(unix_secs: i64) -> u32 {
    (unix_secs - IMAP_EPOCH).clamp(1, u32::MAX as i64) as u32
}

/// Gives an existing database a fresh UIDVALIDITY (its UIDs stay): RENAME does this for
/// each moved folder, because the new name may have meant another mailbox before, whose
/// clients must see a larger value (RFC 3501 §2.3.1.1: UIDs that do not persist for a
/// name need a greater UIDVALIDITY). Courier and Dovecot keep the old value on RENAME,
/// which breaks that after RENAME A B, CREATE A, DELETE A, RENAME B A. A moved folder
/// without a database gets an empty one, as Courier's RENAME writes (observed with
/// 5.0.13's imapd, IMAP and SMAP: `1 <uidvalidity> 1` in every moved folder).
pub fn renew_uid_validity(folder_dir: &Path) -> Result<()> {
    let _lock = DotLock::acquire(folder_dir)?;
    match read_locked(folder_dir)?.state {
        DbState::Valid(mut db) => {
            let old = db.uid_validity;
            db.uid_validity =
                fresh_uid_validity(folder_dir, clock_uid_validity(fsutil::now_secs()))?;
            write(folder_dir, &db)?;
            super::recent::renew(folder_dir, old, db.uid_validity)?;
            super::modseq::renew(folder_dir, old, db.uid_validity)?;
        }
        DbState::Missing => {
            create(folder_dir, empty_db(), None)?;
        }
        DbState::Corrupt(..) => {}
    }
    Ok(())
}

/// Writes a brand-new database whose UIDVALIDITY comes from the new file's mtime, as
/// Courier does, raised above every value this Maildir gave before
/// ([`fresh_uid_validity`]); `at_least` keeps it above a value that must not repeat.
fn create(folder_dir: &Path, mut db: UidDb, at_least: Option<u32>) -> io::Result<UidDb> {
    let (mut f, tmp) = fsutil::create_unique(&folder_dir.join("tmp"), ".postern-tmp")?;
    let r = (|| {
        let mtime = f
            .metadata()?
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut uidv = clock_uid_validity(mtime);
        if let Some(min) = at_least {
            uidv = uidv.max(min);
        }
        db.uid_validity = fresh_uid_validity(folder_dir, uidv)?;
        f.write_all(&db.to_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, folder_dir.join(FILE))?;
        fsutil::fsync_dir(folder_dir)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map(|()| db)
}

/// UIDVALIDITY and UIDs of the files of a folder after [`sync`].
#[derive(Debug, Clone)]
pub struct Assigned {
    pub uid_validity: u32,
    pub next_uid: u32,
    pub uids: HashMap<String, u32>,
    /// False when the folder could not be written and UIDs live only in this process.
    pub persistent: bool,
}

impl Assigned {
    fn from_db(db: UidDb, persistent: bool) -> Assigned {
        Assigned::from_db_for(db, persistent, |_| true)
    }

    /// Only the UIDs of the names `wanted` asks for (a refresh wants just its new mail).
    fn from_db_for(db: UidDb, persistent: bool, wanted: impl Fn(&str) -> bool) -> Assigned {
        Assigned {
            uid_validity: db.uid_validity,
            next_uid: db.next_uid,
            uids: db
                .entries
                .into_iter()
                .filter(|(_, n)| wanted(n))
                .map(|(u, n)| (n, u))
                .collect(),
            persistent,
        }
    }
}

/// Makes sure every basename in `present` has a UID. Without work to do this reads the
/// database and nothing else. Otherwise it takes the folder lock, calls `rescan` for a
/// listing made under the lock, re-reads the database and assigns the missing UIDs in
/// delivery order. Entries whose file is in neither listing are dropped.
///
/// With `rescan`, entries of files that are gone are dropped (the directory is listed again
/// under the lock, so a file another process added meanwhile is not mistaken for gone).
/// Without it, entries are only added: a session's refresh that found new mail does not
/// pay for a second listing of a large folder, and stale entries wait for the next open.
pub fn sync(
    folder_dir: &Path,
    present: &HashSet<&str>,
    rescan: Option<&mut dyn FnMut() -> io::Result<Vec<String>>>,
) -> Result<Assigned> {
    if rescan.is_none()
        && present.len() <= FEW
        && let Some(assigned) = sync_few(folder_dir, present, true)?
    {
        return Ok(assigned);
    }
    if let DbState::Valid(db) = read(folder_dir)? {
        // Basenames in the database are unique, so counting the present ones among them
        // tells whether all are there.
        let known = db
            .entries
            .iter()
            .filter(|(_, n)| present.contains(n.as_str()))
            .count();
        if known == present.len() {
            if rescan.is_none() {
                return Ok(Assigned::from_db_for(db, true, |n| present.contains(n)));
            }
            if db.entries.len() == present.len() {
                return Ok(Assigned::from_db(db, true));
            }
        }
    }
    match locked_sync(folder_dir, present, rescan) {
        Ok(a) => Ok(a),
        Err(StoreError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            log::warn!(
                "{}: cannot update {FILE} ({e}); UIDs for this session only",
                folder_dir.display()
            );
            Ok(in_memory(folder_dir, present)?)
        }
        Err(e) => Err(e),
    }
}

/// An add-only [`sync`] of names this process has just taken out of new/: another
/// process has rarely numbered them yet, so the lookup without the lock that [`sync`]
/// tries first would almost always be a read of the file for nothing.
pub fn sync_taken_from_new(folder_dir: &Path, present: &HashSet<&str>) -> Result<Assigned> {
    if present.len() <= FEW
        && let Some(assigned) = sync_few(folder_dir, present, false)?
    {
        return Ok(assigned);
    }
    sync(folder_dir, present, None)
}

/// Up to this many names, an add-only [`sync`] looks them up in the file's bytes instead
/// of parsing it (a refresh that found a few new messages in a large folder).
const FEW: usize = 32;

/// The add-only sync of a few names without parsing the database: a name's line is found
/// as the bytes ` <name>\n` (a basename has no space and no newline, so only its own line
/// ends that way), its UID just before. Missing names are numbered under the lock and
/// appended as in [`append_entries`]. None — the caller takes the full path — whenever the
/// file is missing, not in Courier's exact appendable form (header text, a `\n` at the end),
/// or its header would grow a digit. `look_first`: try without the lock first (names
/// another session may have numbered already); an APPEND's own new file skips that.
pub(crate) fn sync_few(
    folder_dir: &Path,
    present: &HashSet<&str>,
    look_first: bool,
) -> Result<Option<Assigned>> {
    let path = folder_dir.join(FILE);
    if look_first {
        // Without the lock: a file in the middle of an append ends without its `\n` or
        // has a header ahead of its lines; neither is trusted beyond the names it holds.
        let Some(seen) = look(&path, present, false)? else {
            return Ok(None);
        };
        if seen.found.missing.is_empty() {
            let next_uid = seen.found.max_uid.saturating_add(1);
            return Ok(Some(seen.found.assigned(next_uid)));
        }
    }
    let _lock = DotLock::acquire(folder_dir)?;
    let Some(Looked {
        file,
        meta,
        end,
        mut found,
    }) = look(&path, present, true)?
    else {
        return Ok(None);
    };
    let mut next = found.header_next_uid.max(found.max_uid.saturating_add(1));
    if found.missing.is_empty() && next == found.header_next_uid {
        // Numbered already (by the delivery agent, or another session), and the header
        // above every line: nothing to write.
        return Ok(Some(found.assigned(next)));
    }
    let mut missing = std::mem::take(&mut found.missing);
    sort_new(&mut missing);
    let mut lines = Vec::new();
    for name in missing {
        push_entry(&mut lines, next, name);
        found.uids.insert(name.to_string(), next);
        next = next.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: path.clone(),
            reason: "UIDs exhausted".into(),
        })?;
    }
    let header = header_line(found.uid_validity, next);
    if header.len() != found.header_len {
        return Ok(None);
    }
    // The two steps of the module comment: the header first, then the lines.
    // A file this process could only open for reading (EBADF on the write), or any
    // other failure before a byte changed: the full path decides, and reports.
    if file.write_all_at(&header, 0).is_err() {
        return Ok(None);
    }
    file.sync_data()?;
    file.write_all_at(&lines, end)?;
    file.sync_data()?;
    known::extend(&path, &meta, end, &lines, next - 1);
    Ok(Some(found.assigned(next)))
}

#[cfg(test)]
thread_local! {
    /// Lookups that read the whole file, for tests that check the tail was enough.
    static FULL_LOOKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// What [`look`] found, with the file it looked in.
struct Looked<'p> {
    file: File,
    meta: fs::Metadata,
    /// The file's length as read.
    end: u64,
    found: FewLookup<'p>,
}

/// Looks `present` up in the database at `path` (opened for writing too with `write`):
/// in the lines appended since this process last read the file when it knows the rest
/// (see [`known`]), else in all of it. None when the file is missing or not in the form
/// [`FewLookup`] takes.
fn look<'p>(
    path: &Path,
    present: &HashSet<&'p str>,
    write: bool,
) -> io::Result<Option<Looked<'p>>> {
    let Some(file) = open_file(path, write)? else {
        return Ok(None);
    };
    let meta = file.metadata()?;
    if let Some(tail) = known::tail(path, &file, &meta)? {
        let known_part = |name: &str| known::lookup(path, name);
        let found = FewLookup::new(
            &tail.header,
            &tail.body,
            tail.max_uid,
            present,
            Some(&known_part),
        );
        if let Some(found) = found {
            known::extend(path, &meta, tail.from, &tail.body, found.max_uid);
            let end = tail.from + tail.body.len() as u64;
            return Ok(Some(Looked {
                file,
                meta,
                end,
                found,
            }));
        }
    }
    look_whole(path, file, meta, present)
}

/// [`look`] in the whole file (`meta` its metadata), remembered for later tail reads, its
/// names included (see [`known::read_whole`]).
fn look_whole<'p>(
    path: &Path,
    mut file: File,
    meta: fs::Metadata,
    present: &HashSet<&'p str>,
) -> io::Result<Option<Looked<'p>>> {
    #[cfg(test)]
    FULL_LOOKS.with(|n| n.set(n.get() + 1));
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.read_to_end(&mut bytes)?;
    let Some(header_len) = memchr::memchr(b'\n', &bytes).map(|i| i + 1) else {
        return Ok(None);
    };
    let (header, body) = bytes.split_at(header_len);
    let Some(found) = FewLookup::new(header, body, 0, present, None) else {
        return Ok(None);
    };
    known::read_whole(path, &meta, &bytes, header_len, found.max_uid);
    Ok(Some(Looked {
        file,
        meta,
        end: bytes.len() as u64,
        found,
    }))
}

/// What [`sync_few`] found in the file's bytes.
struct FewLookup<'p> {
    uid_validity: u32,
    header_next_uid: u32,
    header_len: usize,
    /// The highest UID of any line.
    max_uid: u32,
    uids: HashMap<String, u32>,
    missing: Vec<&'p str>,
}

impl<'p> FewLookup<'p> {
    /// Looks `present` up in `body`, lines that follow `header` (the first line, with its
    /// `\n`) or, with `known_part`, the lines after a part of the file read before, whose
    /// highest UID is `known_max`, and what that part says of a name not in `body`. A name
    /// it is unsure of makes the answer None, as does anything but Courier's exact text.
    fn new(
        header: &[u8],
        body: &[u8],
        known_max: u32,
        present: &HashSet<&'p str>,
        known_part: Option<&dyn Fn(&str) -> known::InKnown>,
    ) -> Option<FewLookup<'p>> {
        if header.last() != Some(&b'\n') || !body.is_empty() && body.last() != Some(&b'\n') {
            return None;
        }
        let header_len = header.len();
        let mut fields = std::str::from_utf8(&header[..header_len - 1])
            .ok()?
            .split(' ');
        let (Some("1"), Some(v), Some(n), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        let (uid_validity, header_next_uid): (u32, u32) = (v.parse().ok()?, n.parse().ok()?);
        if header_line(uid_validity, header_next_uid)[..] != *header {
            return None;
        }
        let mut max_uid = known_max;
        let mut line_start = 0;
        for end in memchr::memchr_iter(b'\n', body) {
            max_uid = max_uid.max(line_uid(&body[line_start..end])?);
            line_start = end + 1;
        }
        let mut uids = HashMap::default();
        let mut missing = Vec::new();
        for &name in present {
            let needle = format!(" {name}\n");
            // The body starts a line, so a match found at its start is preceded by one.
            // The match must begin at its line's first space: a name that ends another,
            // stranger name holding a space ("5 y x" for "x") is not taken for it.
            let hit = memchr::memmem::find(body, needle.as_bytes()).map(|at| {
                let start = memchr::memrchr(b'\n', &body[..at]).map_or(0, |i| i + 1);
                let line = &body[start..at + needle.len() - 1];
                line_uid(line).filter(|_| memchr::memchr(b' ', line) == Some(at - start))
            });
            match hit {
                Some(Some(uid)) => {
                    uids.insert(name.to_string(), uid);
                }
                Some(None) => return None,
                None => match known_part.map(|lookup| lookup(name)) {
                    None | Some(known::InKnown::Absent) => missing.push(name),
                    Some(known::InKnown::Numbered(uid)) => {
                        uids.insert(name.to_string(), uid);
                    }
                    Some(known::InKnown::Unsure) => return None,
                },
            }
        }
        Some(FewLookup {
            uid_validity,
            header_next_uid,
            header_len,
            max_uid,
            uids,
            missing,
        })
    }

    fn assigned(self, next_uid: u32) -> Assigned {
        Assigned {
            uid_validity: self.uid_validity,
            next_uid,
            uids: self.uids,
            persistent: true,
        }
    }
}

/// The UID of a `<uid> <name>` line (without its `\n`); None when it is not one.
///
/// Digits are read by hand: [`FewLookup::new`] reads every line of a large file.
fn line_uid(line: &[u8]) -> Option<u32> {
    let space = memchr::memchr(b' ', line)?;
    let digits = &line[..space];
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let uid = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let uid = u32::try_from(uid).ok()?;
    (uid > 0 && space + 1 < line.len()).then_some(uid)
}

fn in_memory(folder_dir: &Path, present: &HashSet<&str>) -> io::Result<Assigned> {
    let mut db = match read(folder_dir)? {
        DbState::Valid(db) => db,
        _ => UidDb {
            uid_validity: (fsutil::now_secs() - IMAP_EPOCH).clamp(1, u32::MAX as i64) as u32,
            next_uid: 1,
            entries: Vec::new(),
        },
    };
    let known: HashSet<String> = db.entries.iter().map(|e| e.1.clone()).collect();
    let mut fresh: Vec<&str> = present
        .iter()
        .copied()
        .filter(|n| !known.contains(*n))
        .collect();
    sort_new(&mut fresh);
    for n in fresh {
        db.entries.push((db.next_uid, n.to_string()));
        db.next_uid += 1;
    }
    Ok(Assigned::from_db(db, false))
}

fn locked_sync(
    folder_dir: &Path,
    present: &HashSet<&str>,
    rescan: Option<&mut dyn FnMut() -> io::Result<Vec<String>>>,
) -> Result<Assigned> {
    let _lock = DotLock::acquire(folder_dir)?;
    let prune = rescan.is_some();
    let second_names = match rescan {
        Some(rescan) => rescan()?,
        None => Vec::new(),
    };
    let second: HashSet<&str> = if prune {
        second_names.iter().map(|s| s.as_str()).collect()
    } else {
        present.clone()
    };
    let exists = |n: &str| !prune || present.contains(n) || second.contains(n);
    let mut locked = read_locked(folder_dir)?;
    let state = std::mem::replace(&mut locked.state, DbState::Missing);
    let (mut db, fresh_db, at_least) = match state {
        DbState::Valid(db) => (db, false, None),
        DbState::Missing => (empty_db(), true, None),
        DbState::Corrupt(why, bytes) => {
            let aside = folder_dir.join(format!("{FILE}.corrupt.{}", fsutil::now_secs()));
            log::error!(
                "{}: {why}; moved aside to {} and starting a new UID database (clients will resynchronise)",
                folder_dir.join(FILE).display(),
                aside.display()
            );
            fs::rename(folder_dir.join(FILE), &aside)?;
            (empty_db(), true, old_uid_validity(&bytes).map(|v| v + 1))
        }
    };
    let before = Before::of(&db);
    db.entries.retain(|(_, n)| exists(n));
    let known: HashSet<&str> = db.entries.iter().map(|e| e.1.as_str()).collect();
    let mut fresh: Vec<&str> = second
        .iter()
        .copied()
        .filter(|n| !known.contains(n))
        .collect();
    sort_new(&mut fresh);
    let fresh: Vec<String> = fresh.into_iter().map(str::to_string).collect();
    for n in fresh {
        let uid = db.next_uid;
        db.next_uid = uid.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: folder_dir.join(FILE),
            reason: "UIDs exhausted".into(),
        })?;
        db.entries.push((uid, n));
    }
    let db = write_back(folder_dir, &locked, db, &before, fresh_db, at_least)?;
    if prune {
        Ok(Assigned::from_db(db, true))
    } else {
        Ok(Assigned::from_db_for(db, true, |n| present.contains(n)))
    }
}

fn empty_db() -> UidDb {
    UidDb {
        uid_validity: 0,
        next_uid: 1,
        entries: Vec::new(),
    }
}

fn old_uid_validity(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes.split(|b| *b == b'\n').next()?).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

/// Under the folder lock: applies `edit` to the current database and writes it if it
/// changed. Used by append, copy and expunge.
pub fn update<T>(
    folder_dir: &Path,
    edit: impl FnOnce(&mut UidDb) -> Result<T>,
) -> Result<(UidDb, T)> {
    update_inner(folder_dir, edit, true)
}

fn update_inner<T>(
    folder_dir: &Path,
    edit: impl FnOnce(&mut UidDb) -> Result<T>,
    first: bool,
) -> Result<(UidDb, T)> {
    let lock = DotLock::acquire(folder_dir)?;
    let mut locked = read_locked(folder_dir)?;
    let state = std::mem::replace(&mut locked.state, DbState::Missing);
    let (mut db, fresh) = match state {
        DbState::Valid(db) => (db, false),
        DbState::Missing | DbState::Corrupt(..) if first => {
            drop(lock);
            // Give the messages already there their UIDs first (and move a corrupt file
            // aside with its loud message), then try again.
            let names = fsutil::list_basenames(folder_dir)?;
            let present: HashSet<&str> = names.iter().map(|s| s.as_str()).collect();
            sync(
                folder_dir,
                &present,
                Some(&mut || fsutil::list_basenames(folder_dir)),
            )?;
            return update_inner(folder_dir, edit, false);
        }
        DbState::Missing => (empty_db(), true),
        DbState::Corrupt(why, _) => {
            return Err(StoreError::Corrupt {
                path: folder_dir.join(FILE),
                reason: why,
            });
        }
    };
    let before = Before::of(&db);
    let out = edit(&mut db)?;
    let db = write_back(folder_dir, &locked, db, &before, fresh, None)?;
    Ok((db, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_courier_sample() {
        let text = b"1 795868689 3\n1 1700000000.M1P1.host,S=80\n2 1700000001.M2P2.host\n";
        let db = UidDb::parse(text).unwrap();
        assert_eq!(db.uid_validity, 795868689);
        assert_eq!(db.next_uid, 3);
        assert_eq!(db.entries[1], (2, "1700000001.M2P2.host".to_string()));
        assert_eq!(db.to_bytes(), text);
    }

    #[test]
    fn line_uids() {
        assert_eq!(line_uid(b"12 1700000000.M1P1.host"), Some(12));
        assert_eq!(line_uid(b"4294967295 x"), Some(u32::MAX));
        for bad in [
            &b"0 x"[..],
            b"4294967296 x",
            b"12 ",
            b"12",
            b" x",
            b"+1 x",
            b"1a x",
        ] {
            assert_eq!(line_uid(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// The add-only lookup of a few names: found ones keep their UIDs without a write,
    /// missing ones are appended above every UID in the file, a name that ends another
    /// name is not mistaken for it, and anything but Courier's exact form falls back.
    #[test]
    fn few_names_are_looked_up_and_appended_without_a_parse() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let path = d.path().join(FILE);
        let names = |n: &[&'static str]| n.iter().copied().collect::<HashSet<&str>>();
        fs::write(&path, "1 795868689 10\n3 100.M1.a\n8 x.100.M1.a\n").unwrap();
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        let a = sync_few(d.path(), &names(&["100.M1.a"]), true)
            .unwrap()
            .unwrap();
        assert_eq!(a.uids.get("100.M1.a"), Some(&3));
        // Without the lock, UIDNEXT comes from the lines (a header may be ahead of them).
        assert_eq!(a.next_uid, 9);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);

        let a = sync_few(
            d.path(),
            &names(&["200.M2.b", "100.M1.a", "150.M3.c"]),
            true,
        )
        .unwrap();
        let a = a.unwrap();
        assert_eq!(a.uids.len(), 3);
        assert_eq!(
            (a.uids["100.M1.a"], a.uids["150.M3.c"], a.uids["200.M2.b"]),
            (3, 10, 11)
        );
        assert_eq!(a.next_uid, 12);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "1 795868689 12\n3 100.M1.a\n8 x.100.M1.a\n10 150.M3.c\n11 200.M2.b\n"
        );
        let db = UidDb::parse(text.as_bytes()).unwrap();
        assert_eq!(db.next_uid, 12);

        // A header that lags behind its lines: numbering starts above the highest line.
        fs::write(&path, "1 795868689 2\n5 a\n").unwrap();
        let a = sync_few(d.path(), &names(&["b"]), false).unwrap().unwrap();
        assert_eq!(a.uids["b"], 6);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "1 795868689 7\n5 a\n6 b\n"
        );

        // Under the lock, names numbered already (by a delivery agent) write nothing;
        // a header behind its lines is still mended.
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let a = sync_taken_from_new(d.path(), &names(&["a", "b"])).unwrap();
        assert_eq!((a.uids["a"], a.uids["b"], a.next_uid), (5, 6, 7));
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        fs::write(
            &path,
            "1 795868689 5
5 a
",
        )
        .unwrap();
        let a = sync_taken_from_new(d.path(), &names(&["a"])).unwrap();
        assert_eq!((a.uids["a"], a.next_uid), (5, 6));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "1 795868689 6
5 a
"
        );

        // A name that ends another name holding a space is not that name's line; a
        // match that is not at its line's first space sends the lookup to the full path.
        fs::write(&path, "1 795868689 7\n5 y x\n6 x\n").unwrap();
        let a = sync_few(d.path(), &names(&["x"]), true).unwrap();
        assert!(a.is_none_or(|a| a.uids["x"] == 6));

        // Not appendable as it is: the full path decides.
        for text in [
            "1 795868689 9\n3 a\n4 b",    // torn last line
            "1  795868689 9\n3 a\n",      // stray space in the header
            "1 795868689 9\n3 a\nzz b\n", // a line that is not one
            "1 795868689 9\n3 a\n",       // nextuid grows a digit
        ] {
            fs::write(&path, text).unwrap();
            let wanted = names(&["b", "c"]);
            assert!(
                sync_few(d.path(), &wanted, true).unwrap().is_none(),
                "{text:?}"
            );
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
        // The full path from there (the last case) gives the same UIDs a lookup would.
        let a = sync(d.path(), &names(&["c", "b"]), None).unwrap();
        assert_eq!((a.uids["b"], a.uids["c"]), (9, 10));
        fs::remove_file(&path).unwrap();
        assert!(sync_few(d.path(), &names(&["b"]), false).unwrap().is_none());
    }

    /// A database this process has read is looked up in its tail alone: lines
    /// another process appended are found there, a name its filter rules out is numbered
    /// without a full read, a name in the known part still gets its own UID, and a file
    /// replaced or rewritten in place is read whole again.
    #[test]
    fn a_known_database_is_looked_up_in_its_tail() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let path = d.path().join(FILE);
        fn names<'a>(n: &[&'a str]) -> HashSet<&'a str> {
            n.iter().copied().collect()
        }
        let full_looks = || FULL_LOOKS.with(|n| n.get());
        let mut text = String::from("1 795868689 3001\n");
        for uid in 1..=3000 {
            text.push_str(&format!("{uid} 1700000000.M{uid}P1.host\n"));
        }
        assert!(text.len() as u64 > known::KNOWN_FROM);
        fs::write(&path, &text).unwrap();
        let before = full_looks();
        // The first read is whole and gathers the names.
        let a = sync_few(d.path(), &names(&["1700000000.M7P1.host"]), true).unwrap();
        assert_eq!(a.unwrap().uids["1700000000.M7P1.host"], 7);
        let a = sync_few(d.path(), &names(&["new.1"]), false)
            .unwrap()
            .unwrap();
        assert_eq!((a.uids["new.1"], a.next_uid), (3001, 3002));
        assert_eq!(full_looks(), before + 1);

        // Another process appends a line (as postern does, header first).
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"1 795868689 3003\n", 0).unwrap();
        let len = fs::metadata(&path).unwrap().len();
        file.write_all_at(b"3002 other.2\n", len).unwrap();
        let a = sync_few(d.path(), &names(&["other.2"]), true)
            .unwrap()
            .unwrap();
        assert_eq!((a.uids["other.2"], a.next_uid), (3002, 3003));
        let a = sync_few(d.path(), &names(&["new.3", "new.4"]), true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.uids["new.3"], a.uids["new.4"], a.next_uid),
            (3003, 3004, 3005)
        );
        assert_eq!(full_looks(), before + 1, "the tail was enough");
        // Names this process appended or read in a tail are known by their UIDs.
        let a = sync_few(d.path(), &names(&["new.1", "other.2"]), true)
            .unwrap()
            .unwrap();
        assert_eq!((a.uids["new.1"], a.uids["other.2"]), (3001, 3002));
        assert_eq!(full_looks(), before + 1, "known names read the file again");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("1 795868689 3005\n"));
        assert!(text.ends_with("3001 new.1\n3002 other.2\n3003 new.3\n3004 new.4\n"));

        // A name in the known part keeps its UID (its filter sends it to a full read).
        let a = sync_few(d.path(), &names(&["1700000000.M42P1.host"]), true).unwrap();
        assert_eq!(a.unwrap().uids["1700000000.M42P1.host"], 42);
        assert_eq!(full_looks(), before + 2);

        // Replaced (as Courier writes it): a new inode, read whole.
        let replaced = text.replace("3002 other.2\n", "3002 other.2\n3005 moved.5\n");
        let replaced = replaced.replacen("1 795868689 3005\n", "1 795868689 3006\n", 1);
        let tmp = d.path().join("tmp").join("db");
        fs::write(&tmp, &replaced).unwrap();
        fs::rename(&tmp, &path).unwrap();
        let a = sync_few(d.path(), &names(&["moved.5"]), true)
            .unwrap()
            .unwrap();
        assert_eq!(a.uids["moved.5"], 3005);
        assert_eq!(full_looks(), before + 3);

        // Rewritten in place, longer: the guard bytes differ, so it is read whole.
        let edited = replaced.replace("3005 moved.5\n", "3005 moved.5\n3006 edited.6\n");
        let edited = edited.replacen("1 795868689 3006\n", "1 795868689 3007\n", 1);
        fs::write(&path, &edited).unwrap();
        let a = sync_few(d.path(), &names(&["edited.6"]), true)
            .unwrap()
            .unwrap();
        assert_eq!(a.uids["edited.6"], 3006);
        assert!(full_looks() > before + 3);
    }

    /// What one process read is saved for the next (`postern-uidnames`): a process that
    /// never read the database numbers a delivery from its tail, and the saved file is
    /// passed over when it is damaged, or describes a file since replaced. Forgetting what
    /// this process knows stands for a new process.
    #[test]
    fn another_process_numbers_from_the_saved_knowledge() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let path = d.path().join(FILE);
        let saved = d.path().join(known::SAVED);
        let one = |name: &'static str| -> HashSet<&'static str> { [name].into_iter().collect() };
        let full_looks = || FULL_LOOKS.with(|n| n.get());
        let mut text = String::from("1 795868689 3001\n");
        for uid in 1..=3000 {
            text.push_str(&format!("{uid} 1700000000.M{uid}P1.host\n"));
        }
        fs::write(&path, &text).unwrap();
        let numbered = |name| sync_taken_from_new(d.path(), &one(name)).unwrap().uids[name];

        assert_eq!(numbered("new.1"), 3001);
        assert!(saved.exists(), "nothing saved after a full read");
        let before = full_looks();
        known::forget(&path);
        assert_eq!(numbered("new.2"), 3002);
        assert_eq!(full_looks(), before, "the saved knowledge was not used");
        // A name in the saved part keeps its UID (a full read tells).
        known::forget(&path);
        let a = sync_few(d.path(), &one("1700000000.M9P1.host"), true).unwrap();
        assert_eq!(a.unwrap().uids["1700000000.M9P1.host"], 9);
        assert_eq!(full_looks(), before + 1);

        // Damaged: one bit of the filter flipped; the checksum turns it away.
        let good = fs::read(&saved).unwrap();
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        fs::write(&saved, &bad).unwrap();
        known::forget(&path);
        assert_eq!(numbered("new.3"), 3003);
        assert_eq!(full_looks(), before + 2, "a damaged file was used");

        // Saved for a file replaced since (as Courier writes it): read whole.
        let tmp = d.path().join("tmp").join("db");
        fs::copy(&path, &tmp).unwrap();
        fs::rename(&tmp, &path).unwrap();
        fs::write(&saved, &good).unwrap();
        known::forget(&path);
        assert_eq!(numbered("new.4"), 3004);
        assert_eq!(
            full_looks(),
            before + 3,
            "knowledge of another file was used"
        );

        // Tails that grew by enough are saved again, so later tails stay short.
        let saved_len = |bytes: &[u8]| u64::from_le_bytes(bytes[40..48].try_into().unwrap());
        let at_first = saved_len(&fs::read(&saved).unwrap());
        for i in 5..1500 {
            let name: &'static str =
                Box::leak(format!("1700000001.M{i}P2.mail.example.org,S=1234").into_boxed_str());
            assert_eq!(numbered(name), 3000 + i);
        }
        // Only the filter's false hits (under 1% of names) take a full read.
        let in_loop = full_looks() - (before + 3);
        assert!(in_loop <= 15, "{in_loop} full reads for 1,495 names");
        let before = full_looks();
        let later = saved_len(&fs::read(&saved).unwrap());
        assert!(later > at_first + 64 * 1024, "{at_first} -> {later}");
        known::forget(&path);
        assert_eq!(numbered("new.last"), 4500);
        assert_eq!(full_looks(), before);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("4499 1700000001.M1499P2.mail.example.org,S=1234\n4500 new.last\n"));

        // A FIFO in its place (planted by someone who may write the folder) is passed
        // over, not waited on.
        fs::remove_file(&saved).unwrap();
        nix::unistd::mkfifo(&saved, nix::sys::stat::Mode::S_IRWXU).unwrap();
        known::forget(&path);
        assert_eq!(numbered("after.fifo"), 4501);
        assert_eq!(full_looks(), before + 1);
    }

    /// A session about to wait for deliveries reads the database beforehand: its first
    /// numbering then reads only the tail.
    #[test]
    fn prepared_for_additions_the_first_numbering_reads_the_tail() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut text = String::from("1 795868689 3001\n");
        for uid in 1..=3000 {
            text.push_str(&format!("{uid} 1700000000.M{uid}P1.host\n"));
        }
        fs::write(d.path().join(FILE), &text).unwrap();
        prepare_for_additions(d.path()).unwrap();
        let before = FULL_LOOKS.with(|n| n.get());
        let present: HashSet<&str> = ["delivered.1"].into_iter().collect();
        let a = sync_taken_from_new(d.path(), &present).unwrap();
        assert_eq!((a.uids["delivered.1"], a.next_uid), (3001, 3002));
        assert_eq!(
            FULL_LOOKS.with(|n| n.get()),
            before,
            "the whole file was read"
        );
    }

    /// The backward lookup of recent UIDs: near the end or far from it, never taken from
    /// the header, and not found once their lines are gone.
    #[test]
    fn uids_between_reads_lines_from_the_end() {
        let d = tempfile::tempdir().unwrap();
        let mut text = String::from("1 795868689 5001\n");
        for uid in (2..=5000).filter(|u| *u != 4990 && *u != 10) {
            text.push_str(&format!("{uid} 1700000000.M{uid}P1.host\n"));
        }
        fs::write(d.path().join(FILE), &text).unwrap();
        let between = |after, before| uids_between(d.path(), after, before).unwrap();
        assert_eq!(between(4987, 4993), [4988, 4989, 4991, 4992]);
        assert_eq!(between(4999, 6000), [5000]);
        assert_eq!(between(2, 5), [3, 4], "lines far from the end");
        assert_eq!(between(9, 11), [0u32; 0]);
        assert_eq!(between(0, 2), [0u32; 0], "the header is not a line");
        assert_eq!(between(5000, 6000), [0u32; 0]);
        assert!(
            uids_between(&d.path().join("missing"), 0, 9)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b""[..],
            b"2 1 1\n",
            b"1 x 2\n",
            b"1 5\n",
            b"1 5 2\nfoo\n",
            b"1 5 3\n1 a\n1 b\n",
            b"\xff\xfe",
        ] {
            assert!(UidDb::parse(bad).is_err(), "{bad:?}");
        }
        // A UID at or above nextuid raises nextuid so it is never handed out again.
        assert_eq!(UidDb::parse(b"1 5 2\n7 a\n").unwrap().next_uid, 8);
    }

    proptest! {
        #[test]
        fn round_trip(uidv in 1u32.., names in proptest::collection::btree_set("[0-9]{1,10}\\.[A-Za-z0-9_.,=]{1,30}", 0..20)) {
            let entries: Vec<(u32, String)> = names.into_iter().enumerate().map(|(i, n)| (i as u32 * 3 + 1, n)).collect();
            let next_uid = entries.last().map(|e| e.0 + 1).unwrap_or(1);
            let db = UidDb { uid_validity: uidv, next_uid, entries };
            let bytes = db.to_bytes();
            let back = UidDb::parse(&bytes).unwrap();
            prop_assert_eq!(&back, &db);
            prop_assert_eq!(back.to_bytes(), bytes);
        }
    }

    #[test]
    fn sync_assigns_in_order_and_moves_corrupt_aside() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let names = vec![
            "200.b".to_string(),
            "100.z".to_string(),
            "200.a".to_string(),
        ];
        let present: HashSet<&str> = names.iter().map(|s| s.as_str()).collect();
        let a = sync(d.path(), &present, Some(&mut || Ok(names.clone()))).unwrap();
        assert_eq!(a.uids["100.z"], 1);
        assert_eq!(a.uids["200.a"], 2);
        assert_eq!(a.uids["200.b"], 3);
        let now = fsutil::now_secs() - IMAP_EPOCH;
        assert!((a.uid_validity as i64 - now).abs() < 5);
        let before = fs::read(d.path().join(FILE)).unwrap();
        let b = sync(d.path(), &present, Some(&mut || panic!("no rescan needed"))).unwrap();
        assert_eq!(b.uids, a.uids);
        assert_eq!(fs::read(d.path().join(FILE)).unwrap(), before);
        fs::write(d.path().join(FILE), b"garbage\n").unwrap();
        let c = sync(d.path(), &present, Some(&mut || Ok(names.clone()))).unwrap();
        assert_eq!(c.uids.len(), 3);
        let aside: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("courierimapuiddb.corrupt.")
            })
            .collect();
        assert_eq!(aside.len(), 1);
    }

    use std::os::unix::fs::MetadataExt;

    /// A folder with a tmp/ (for the lock and rewrites) and `text` as its database.
    fn folder_with(text: &[u8]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        fs::write(d.path().join(FILE), text).unwrap();
        d
    }

    fn on_disk(d: &tempfile::TempDir) -> (Vec<u8>, u64) {
        let path = d.path().join(FILE);
        (fs::read(&path).unwrap(), fs::metadata(&path).unwrap().ino())
    }

    /// What deliver::append's edit does: a new name gets the next UID.
    fn add(d: &tempfile::TempDir, name: &str) -> u32 {
        update(d.path(), |db| {
            let uid = db.next_uid;
            db.next_uid += 1;
            db.entries.push((uid, name.to_string()));
            Ok(uid)
        })
        .unwrap()
        .1
    }

    #[test]
    fn new_uids_are_appended_in_place_in_courier_form() {
        let d = folder_with(b"1 795868689 3\n1 100.a\n2 100.b\n");
        let (_, ino) = on_disk(&d);
        assert_eq!(add(&d, "200.c"), 3);
        assert_eq!(add(&d, "200.d"), 4);
        let (text, ino_after) = on_disk(&d);
        assert_eq!(ino_after, ino, "appended, not replaced");
        assert_eq!(
            text, b"1 795868689 5\n1 100.a\n2 100.b\n3 200.c\n4 200.d\n",
            "Courier's exact text"
        );
        // The refresh of a session that found the new file adds nothing and writes nothing.
        let names = ["200.d"];
        let present: HashSet<&str> = names.into_iter().collect();
        let a = sync(d.path(), &present, None).unwrap();
        assert_eq!(a.uids["200.d"], 4);
        assert_eq!(a.next_uid, 5);
        // A session's refresh that finds a file without a UID appends it too.
        let names = ["300.e"];
        let present: HashSet<&str> = names.into_iter().collect();
        assert_eq!(sync(d.path(), &present, None).unwrap().uids["300.e"], 5);
        let (text, ino_after) = on_disk(&d);
        assert_eq!(ino_after, ino);
        assert!(text.starts_with(b"1 795868689 6\n") && text.ends_with(b"\n4 200.d\n5 300.e\n"));
    }

    #[test]
    fn rewrites_when_the_header_grows_entries_go_or_the_file_is_not_exact() {
        // nextuid 9 -> 10 does not fit in place.
        let d = folder_with(b"1 7 9\n8 100.a\n");
        let (_, ino) = on_disk(&d);
        assert_eq!(add(&d, "200.b"), 9);
        let (text, ino_after) = on_disk(&d);
        assert_ne!(ino_after, ino);
        assert_eq!(text, b"1 7 10\n8 100.a\n9 200.b\n");
        // An expunge drops a line: a rewrite.
        let (_, ino) = on_disk(&d);
        update(d.path(), |db| {
            db.entries.retain(|(_, n)| n != "100.a");
            Ok(())
        })
        .unwrap();
        let (text, ino_after) = on_disk(&d);
        assert_ne!(ino_after, ino);
        assert_eq!(text, b"1 7 10\n9 200.b\n");
        // A basename listed twice, or a header in a form Courier would not write.
        for odd in [
            &b"1 7 12\n10 100.a\n11 100.a\n"[..],
            b"1 7 012\n10 100.a\n11 100.b\n",
            b"1 07 12\n10 100.a\n11 100.b\n",
        ] {
            let d = folder_with(odd);
            let uid = add(&d, "200.c");
            assert_eq!(uid, 12, "{odd:?}");
            let (text, _) = on_disk(&d);
            let text = String::from_utf8(text).unwrap();
            assert!(text.starts_with("1 7 13\n10 100.a\n"), "{text}");
            assert!(text.ends_with("\n12 200.c\n"), "{text}");
            assert_eq!(
                text.lines().count(),
                1 + text.matches(".").count(),
                "{text}"
            );
        }
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_its_uid_never_reused() {
        // Courier drops a last line without '\n' too (tests/courier_uiddb_append.rs).
        let db = UidDb::parse(b"1 5 4\n1 100.a\n2 100.b\n3 100.c").unwrap();
        assert_eq!(db.entries.len(), 2);
        assert_eq!(db.next_uid, 4);
        // Cut inside the name, or inside the UID: dropped either way.
        for torn in [
            &b"1 5 3\n1 100.a\n2 100.b\n3 10"[..],
            b"1 5 3\n1 100.a\n2 100.b\n3",
        ] {
            let db = UidDb::parse(torn).unwrap();
            assert_eq!(db.entries.len(), 2, "{torn:?}");
            assert!(db.next_uid >= 3);
        }
        // Even behind a stale header, a UID that reached its space is not handed out.
        let db = UidDb::parse(b"1 5 3\n1 100.a\n2 100.b\n7 100.").unwrap();
        assert_eq!(db.next_uid, 8);
        // The next assignment rewrites the file without the torn line.
        let d = folder_with(b"1 5 4\n1 100.a\n2 100.b\n3 100.c");
        assert_eq!(add(&d, "100.c"), 4);
        assert_eq!(on_disk(&d).0, b"1 5 5\n1 100.a\n2 100.b\n4 100.c\n");
    }

    #[test]
    fn a_stale_header_is_raised_past_every_written_uid() {
        // Left by a writer that updated lines before the header (not postern): Courier
        // would hand out 2 again; postern never does and writes a header above them.
        let d = folder_with(b"1 5 2\n1 100.a\n4 100.b\n");
        assert_eq!(UidDb::parse(&on_disk(&d).0).unwrap().next_uid, 5);
        assert_eq!(add(&d, "200.c"), 5);
        assert_eq!(on_disk(&d).0, b"1 5 6\n1 100.a\n4 100.b\n5 200.c\n");
        // A header ahead of the lines (a crash after the header step) is kept: the UIDs in
        // between were never given out, and are skipped.
        let d = folder_with(b"1 5 9\n1 100.a\n");
        assert_eq!(add(&d, "200.c"), 9);
        assert_eq!(on_disk(&d).0, b"1 5 10\n1 100.a\n9 200.c\n");
    }

    #[test]
    fn every_cut_of_an_append_parses_and_never_reuses_a_written_uid() {
        let before = b"1 5 100\n98 100.a\n99 100.b\n".to_vec();
        let d = folder_with(&before);
        update(d.path(), |db| {
            for n in ["200.c", "200.d", "200.e"] {
                db.entries.push((db.next_uid, n.to_string()));
                db.next_uid += 1;
            }
            Ok(())
        })
        .unwrap();
        let (after, _) = on_disk(&d);
        assert_eq!(
            after,
            b"1 5 103\n98 100.a\n99 100.b\n100 200.c\n101 200.d\n102 200.e\n"
        );
        // A crash leaves the new header (made durable first) and a prefix of the lines.
        let mut header_first = after[..8].to_vec();
        header_first.extend_from_slice(&before[8..]);
        for cut in header_first.len()..=after.len() {
            let mut crashed = after[..8].to_vec();
            crashed.extend_from_slice(&after[8..cut]);
            let db = UidDb::parse(&crashed).unwrap();
            let written = db.entries.iter().map(|e| e.0).max().unwrap();
            assert!(db.next_uid > written && db.next_uid >= 103, "cut {cut}");
            let d = folder_with(&crashed);
            let uid = add(&d, "300.f");
            assert!(uid >= 103, "cut {cut}: {uid}");
            let again = UidDb::parse(&on_disk(&d).0).unwrap();
            assert!(again.next_uid > uid);
            assert!(again.entries.iter().all(|e| e.0 != uid || e.1 == "300.f"));
        }
    }

    #[test]
    fn read_waits_for_an_append_between_its_steps() {
        // The header step is done, the lines are not, and the writer holds the lock.
        let d = folder_with(b"1 5 4\n1 100.a\n2 100.b\n");
        let lock = DotLock::acquire(d.path()).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(d.path().join(FILE))
            .unwrap()
            .write_all_at(b"1 5 5\n", 0)
            .unwrap();
        let dir = d.path().to_path_buf();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(dir.join(FILE))
                .unwrap();
            f.write_all(b"3 100.c\n4 100.d\n").unwrap();
            drop(lock);
        });
        let DbState::Valid(db) = read(d.path()).unwrap() else {
            panic!("not valid")
        };
        writer.join().unwrap();
        assert_eq!(db.next_uid, 5);
        assert_eq!(db.entries.len(), 4, "read before the lines were written");
        // Without a writer at work, a header ahead of the lines (the newest messages were
        // expunged) is read at once.
        let d = folder_with(b"1 5 9\n1 100.a\n");
        let t = std::time::Instant::now();
        let DbState::Valid(db) = read(d.path()).unwrap() else {
            panic!("not valid")
        };
        assert_eq!(db.next_uid, 9);
        assert!(t.elapsed() < READ_WAIT);
    }

    #[test]
    fn a_refresh_of_known_names_does_not_take_the_lock() {
        let d = folder_with(b"1 5 3\n1 100.a\n2 100.b\n");
        let _held = DotLock::acquire(d.path()).unwrap();
        let dir = d.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let names = ["100.b"];
            let present: HashSet<&str> = names.into_iter().collect();
            let _ = tx.send(sync(&dir, &present, None).map(|a| a.uids["100.b"]).ok());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Some(2));
    }
}
