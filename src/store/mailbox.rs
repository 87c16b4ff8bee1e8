//! The view of one open folder: messages in UID order built from one scan of new/ and cur/
//! plus the UID database, and everything a session does to it.

// Keys are file names and keywords from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::blobcache::BlobCache;
use super::filename::{UniqueName, WireCounter, size_from_name, split_info, wire_size_from_name};
use super::keyword_writer::{self, KeywordWriter};
use super::{
    Flags, Maildir, Result, StoreError, fsutil, index, keywords, quota, recent, sizecache, uiddb,
};

/// One message of an open folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntry {
    pub uid: u32,
    /// The file name without the `:2,` info.
    pub basename: String,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// Bytes on disk: from `,S=` when present, else stat.
    pub size: u64,
    /// Unix seconds (file mtime), read on first need: opening a folder stats no file
    /// whose name carries its size. See [`Mailbox::internal_date`].
    internal_date: std::cell::OnceCell<i64>,
    /// \Recent in this session: claimed by it in `postern-recent` (see [`recent`]), or,
    /// for a read-only view, claimed by no session yet.
    pub recent: bool,
    file_name: String,
    in_new: bool,
    gone: bool,
}

impl MessageEntry {
    /// The file's current name inside cur/ (or new/).
    pub fn file_name(&self) -> &str {
        &self.file_name
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

/// One open folder: sequence number n is `messages()[n-1]`; UIDs ascend.
#[derive(Debug)]
pub struct Mailbox {
    root: PathBuf,
    dir: PathBuf,
    name: String,
    read_only: bool,
    uid_validity: u32,
    uid_next: u32,
    messages: Vec<MessageEntry>,
    /// Directory times at the last complete scan, when they were settled enough to trust.
    stamp: Option<DirStamp>,
    /// CRLF sizes of messages without `,W=` (`postern-sizes`), loaded on first need.
    wire_sizes: NumberCache,
    /// INTERNALDATEs (`postern-dates`), loaded on first need; interior mutability because
    /// reading a date is a `&self` question.
    internal_dates: std::cell::RefCell<NumberCache>,
    /// Derived bytes the protocol layer keeps per message (see [`Mailbox::cached`]).
    blob_caches: Vec<(&'static str, BlobCache)>,
    /// Basename -> index in `messages`, kept across refreshes so a rescan of a large
    /// folder looks names up instead of rebuilding maps of all of them (indexes, not
    /// UIDs: a binary search per name over a large list misses the cache at every step).
    index_of: HashMap<String, usize>,
    /// Changes keyword sets (keeps a listing of `courierimapkeywords/` between changes).
    keyword_writer: KeywordWriter,
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

/// Modification times of `new/`, `cur/` and `courierimapkeywords/`: every delivery,
/// flag change, expunge and keyword update changes one of them, so when none moved a
/// rescan would find nothing — and NOOP or IDLE on a 100k-message folder stays cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirStamp([(i64, i64); 3]);

impl DirStamp {
    fn take(dir: &Path) -> Option<DirStamp> {
        let mut times = [(0, 0); 3];
        for (slot, sub) in times.iter_mut().zip(["new", "cur", "courierimapkeywords"]) {
            match std::fs::metadata(dir.join(sub)) {
                Ok(md) => *slot = (md.mtime(), md.mtime_nsec()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => return None,
            }
        }
        Some(DirStamp(times))
    }

    /// File system clocks are coarse: two changes within one tick can leave the same
    /// time, so only a stamp older than that window may vouch for "nothing changed".
    fn settled(self) -> Option<DirStamp> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let newest = self.0.iter().map(|t| t.0).max().unwrap_or(0);
        (newest < now - 1).then_some(self)
    }
}

struct Found {
    file_name: String,
    in_new: bool,
}

/// Lists the folder. When `move_new`, new/ files go to cur/ with `:2,` appended and their
/// basenames are returned as recent; otherwise new/ files are listed where they are.
fn scan(dir: &Path, move_new: bool) -> io::Result<(Vec<Found>, HashSet<String>)> {
    let mut found = Vec::new();
    let mut recent = HashSet::default();
    let new_dir = dir.join("new");
    let cur_dir = dir.join("cur");
    for n in fsutil::list_names(&new_dir)? {
        let base = split_info(&n).0.to_string();
        if move_new {
            let target = if n.contains(':') {
                n.clone()
            } else {
                format!("{n}:2,")
            };
            match fs::rename(new_dir.join(&n), cur_dir.join(&target)) {
                Ok(()) => {
                    recent.insert(base);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    log::warn!("{}: cannot move {n} to cur/: {e}", dir.display());
                    recent.insert(base);
                    found.push(Found {
                        file_name: n,
                        in_new: true,
                    });
                }
            }
        } else {
            recent.insert(base);
            found.push(Found {
                file_name: n,
                in_new: true,
            });
        }
    }
    for n in fsutil::list_names(&cur_dir)? {
        found.push(Found {
            file_name: n,
            in_new: false,
        });
    }
    Ok((found, recent))
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

fn entry(
    dir: &Path,
    uid: u32,
    basename: &str,
    f: &Found,
    keywords: Vec<String>,
    recent: bool,
) -> MessageEntry {
    let internal_date = std::cell::OnceCell::new();
    let size = match size_from_name(basename) {
        Some(size) => size,
        None => match fs::metadata(
            dir.join(if f.in_new { "new" } else { "cur" })
                .join(&f.file_name),
        ) {
            Ok(m) => {
                let _ = internal_date.set(m.mtime());
                m.len()
            }
            // Renamed or removed meanwhile: the next refresh sorts it out.
            Err(_) => 0,
        },
    };
    MessageEntry {
        uid,
        basename: basename.to_string(),
        flags: flags_of(&f.file_name),
        keywords,
        size,
        internal_date,
        recent,
        file_name: f.file_name.clone(),
        in_new: f.in_new,
        gone: false,
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

/// STATUS: counts without moving anything from new/.
pub(crate) fn status(dir: &Path) -> Result<super::FolderStatus> {
    let (listing, recent) = scan(dir, false)?;
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

impl Mailbox {
    pub(crate) fn open(
        root: PathBuf,
        dir: PathBuf,
        name: String,
        read_only: bool,
    ) -> Result<Mailbox> {
        let stamp = DirStamp::take(&dir);
        if let Some(settled) = stamp.and_then(DirStamp::settled)
            && let Some(mut mailbox) =
                Mailbox::open_from_index(&root, &dir, &name, read_only, settled)?
        {
            mailbox.settle_recent(0);
            return Ok(mailbox);
        }
        let (listing, recent) = scan(&dir, !read_only)?;
        let found = by_basename(listing);
        let present: HashSet<&str> = found.keys().map(|s| s.as_str()).collect();
        let assigned = uiddb::sync(&dir, &present, Some(&mut rescan_closure(&dir)))?;
        let mut kw = keywords::read(&dir, if read_only { None } else { Some(&present) })?;
        let mut messages: Vec<MessageEntry> = found
            .iter()
            .filter_map(|(base, f)| {
                let uid = *assigned.uids.get(base)?;
                let k = kw.remove(base).unwrap_or_default();
                Some(entry(&dir, uid, base, f, k, recent.contains(base)))
            })
            .collect();
        messages.sort_by_key(|m| m.uid);
        let settled = stamp.and_then(DirStamp::settled);
        let mut mailbox = Mailbox::assemble(
            root,
            dir,
            name,
            read_only,
            (assigned.uid_validity, assigned.next_uid),
            messages,
            settled,
        );
        if let Some(settled) = settled
            && !read_only
            && assigned.persistent
        {
            mailbox.save_index(settled);
        }
        mailbox.settle_recent(0);
        Ok(mailbox)
    }

    /// Decides which of the messages from `from` on are \Recent in this session: a
    /// writable session claims those no session has claimed yet (RFC 3501 §2.3.2), a
    /// read-only one only looks (§6.3.2: EXAMINE must not take \Recent away). When the
    /// claim state is unknown or cannot be written, the scan's answer stays: the messages
    /// this session moved out of new/ itself, which no other session can have moved.
    fn settle_recent(&mut self, from: usize) {
        let Some(last) = self.messages.last() else {
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
            let from = from.min(self.messages.len());
            for m in &mut self.messages[from..] {
                m.recent = m.uid >= first;
            }
        }
    }

    /// The open folder from its parts.
    fn assemble(
        root: PathBuf,
        dir: PathBuf,
        name: String,
        read_only: bool,
        (uid_validity, uid_next): (u32, u32),
        messages: Vec<MessageEntry>,
        stamp: Option<DirStamp>,
    ) -> Mailbox {
        let index_of = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.basename.clone(), i))
            .collect();
        Mailbox {
            root,
            dir,
            name,
            read_only,
            uid_validity,
            uid_next,
            messages,
            stamp,
            wire_sizes: NumberCache::new(sizecache::Kind::WireSize),
            internal_dates: std::cell::RefCell::new(NumberCache::new(
                sizecache::Kind::InternalDate,
            )),
            blob_caches: Vec::new(),
            index_of,
            keyword_writer: KeywordWriter::default(),
        }
    }

    /// What a postern-index is valid for, with these settled directory times.
    fn validity(dir: &Path, stamp: DirStamp) -> index::Validity {
        let [n, c, k] = stamp.0;
        let [db_len, db_s, db_ns] = index::uiddb_signature(dir);
        [n.0, n.1, c.0, c.1, k.0, k.1, db_len, db_s, db_ns, 0]
    }

    /// The folder from `postern-index`, when it was written for exactly the directory
    /// times (settled) and UID database there are now: no listing, no database parse.
    fn open_from_index(
        root: &Path,
        dir: &Path,
        name: &str,
        read_only: bool,
        settled: DirStamp,
    ) -> Result<Option<Mailbox>> {
        let Some(ix) = index::load(dir) else {
            return Ok(None);
        };
        if ix.valid_for != Mailbox::validity(dir, settled) {
            return Ok(None);
        }
        let mut kw = keywords::read(dir, None)?;
        let messages = ix
            .entries
            .into_iter()
            .map(|e| {
                let basename = split_info(&e.file_name).0.to_string();
                MessageEntry {
                    uid: e.uid,
                    flags: flags_of(&e.file_name),
                    keywords: kw.remove(&basename).unwrap_or_default(),
                    size: e.size,
                    internal_date: std::cell::OnceCell::new(),
                    recent: false,
                    basename,
                    file_name: e.file_name,
                    in_new: false,
                    gone: false,
                }
            })
            .collect();
        Ok(Some(Mailbox::assemble(
            root.to_path_buf(),
            dir.to_path_buf(),
            name.to_string(),
            read_only,
            (ix.uid_validity, ix.uid_next),
            messages,
            Some(settled),
        )))
    }

    /// Writes postern-index for the scan just made (valid only while `settled` holds). A
    /// failure costs only time: logged, not returned.
    fn save_index(&self, settled: DirStamp) {
        if self.messages.iter().any(|m| m.in_new) {
            return;
        }
        let ix = index::Index {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            valid_for: Mailbox::validity(&self.dir, settled),
            entries: self
                .messages
                .iter()
                .map(|m| index::Entry {
                    uid: m.uid,
                    size: m.size,
                    file_name: m.file_name.clone(),
                })
                .collect(),
        };
        if let Err(e) = index::save(&self.dir, &ix) {
            log::warn!("{}: cannot save {}: {e}", self.dir.display(), index::FILE);
        }
    }

    pub fn name(&self) -> &str {
        &self.name
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

    pub fn messages(&self) -> &[MessageEntry] {
        &self.messages
    }

    pub fn index_of_uid(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// So IDLE can watch it.
    pub fn folder_dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, m: &MessageEntry) -> PathBuf {
        self.dir
            .join(if m.in_new { "new" } else { "cur" })
            .join(&m.file_name)
    }

    fn entry_at(&self, index: usize) -> Result<&MessageEntry> {
        self.messages.get(index).ok_or(StoreError::NoSuchMessage)
    }

    /// INTERNALDATE: the file's mtime (APPEND and COPY set it in tmp/, before the file
    /// shows up in cur/), read once per session and kept in `postern-dates`.
    ///
    /// Another session may rename the file (a flag change) between our look at the
    /// directory and the stat; that is not the message going away, so the file is looked
    /// for again. Only a message that is really gone gets the delivery time from its name,
    /// and that stand-in is neither kept for this session nor written to the cache: a
    /// date, once answered from the file, never changes.
    pub fn internal_date(&self, index: usize) -> i64 {
        let Some(m) = self.messages.get(index) else {
            return 0;
        };
        if let Some(date) = m.internal_date.get() {
            return *date;
        }
        let mut dates = self.internal_dates.borrow_mut();
        if let Some(date) = dates.get(&self.dir, &m.basename) {
            let _ = m.internal_date.set(date);
            return date;
        }
        match self.file_mtime(m) {
            Some(date) => {
                dates.put(m.basename.clone(), date);
                let _ = m.internal_date.set(date);
                date
            }
            None => super::filename::leading_number(&m.basename) as i64,
        }
    }

    /// The mtime of a message's file wherever it is now; None when it is gone. A rename
    /// by another process can slip in between finding the name and the stat, so a
    /// vanished name is looked for again a few times.
    fn file_mtime(&self, m: &MessageEntry) -> Option<i64> {
        if let Ok(md) = fs::metadata(self.path_of(m)) {
            return Some(md.mtime());
        }
        for _ in 0..8 {
            let found = locate(&self.dir, &m.basename).ok()??;
            let sub = if found.in_new { "new" } else { "cur" };
            match fs::metadata(self.dir.join(sub).join(&found.file_name)) {
                Ok(md) => return Some(md.mtime()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// Opens a message file, finding it even if another process renamed it meanwhile.
    pub fn open_message(&self, index: usize) -> Result<File> {
        let m = self.entry_at(index)?;
        match File::open(self.path_of(m)) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
        }
        let Some(f) = locate(&self.dir, &m.basename)? else {
            return Err(StoreError::NoSuchMessage);
        };
        let sub = if f.in_new { "new" } else { "cur" };
        match File::open(self.dir.join(sub).join(&f.file_name)) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NoSuchMessage),
            Err(e) => Err(e.into()),
        }
    }

    /// The message's size with CRLF line ends (IMAP RFC822.SIZE): from `,W=` in the name,
    /// else from the folder's size cache, else by reading the file once.
    pub fn wire_size(&mut self, index: usize) -> Result<u64> {
        let m = self.entry_at(index)?;
        if let Some(w) = wire_size_from_name(&m.basename) {
            return Ok(w);
        }
        let basename = m.basename.clone();
        if let Some(w) = self.wire_sizes.get(&self.dir, &basename) {
            return Ok(w as u64);
        }
        let w = WireCounter::measure(&mut self.open_message(index)?)?;
        self.wire_sizes.put(basename, w as i64);
        Ok(w)
    }

    /// The CRLF size when the name or the size cache knows it, without reading the file
    /// (for a message whose file is gone).
    pub fn wire_size_known(&mut self, index: usize) -> Option<u64> {
        let m = self.entry_at(index).ok()?;
        if let Some(w) = wire_size_from_name(&m.basename) {
            return Some(w);
        }
        let basename = m.basename.clone();
        self.wire_sizes.get(&self.dir, &basename).map(|w| w as u64)
    }

    fn blob_cache(&mut self, kind: &'static str) -> &mut BlobCache {
        let at = match self.blob_caches.iter().position(|(k, _)| *k == kind) {
            Some(at) => at,
            None => {
                self.blob_caches
                    .push((kind, BlobCache::new(&self.dir, kind)));
                self.blob_caches.len() - 1
            }
        };
        &mut self.blob_caches[at].1
    }

    /// Bytes the caller derived from this message earlier and kept under `kind` (e.g. a
    /// serialized ENVELOPE), so it need not read the message again.
    pub fn cached(&mut self, index: usize, kind: &'static str) -> Option<Vec<u8>> {
        let basename = self.entry_at(index).ok()?.basename.clone();
        self.blob_cache(kind).get(&basename).map(<[u8]>::to_vec)
    }

    /// Keeps `bytes` derived from this message under `kind`, for this and later sessions
    /// (written by [`Self::save_caches`]).
    pub fn cache(&mut self, index: usize, kind: &'static str, bytes: Vec<u8>) {
        if let Ok(m) = self.entry_at(index) {
            let basename = m.basename.clone();
            self.blob_cache(kind).put(&basename, bytes);
        }
    }

    /// Saves the sizes and derived bytes computed this session. A failure costs only
    /// time, so it is logged, not returned.
    pub fn save_caches(&mut self) {
        if self.read_only {
            return;
        }
        let present: HashSet<&str> = self.messages.iter().map(|m| m.basename.as_str()).collect();
        self.wire_sizes.save(&self.dir, &|b| present.contains(b));
        self.internal_dates
            .borrow_mut()
            .save(&self.dir, &|b| present.contains(b));
        for (kind, cache) in &mut self.blob_caches {
            if let Err(e) = cache.save(&|b| present.contains(b)) {
                log::warn!("{}: cannot save the {kind} cache: {e}", self.dir.display());
            }
        }
    }

    pub fn read_message(&self, index: usize) -> Result<Vec<u8>> {
        let mut f = self.open_message(index)?;
        let mut out = Vec::with_capacity(self.messages[index].size as usize);
        f.read_to_end(&mut out)?;
        Ok(out)
    }

    /// What changed on disk since the last look. With `report_expunges` false, vanished
    /// messages stay in the list (see [`MessageEntry::is_gone`]) until a later call with
    /// true.
    pub fn refresh(&mut self, report_expunges: bool) -> Result<Changes> {
        let stamp = DirStamp::take(&self.dir);
        let pending_expunges = report_expunges && self.messages.iter().any(|m| m.gone);
        if stamp.is_some() && stamp == self.stamp && !pending_expunges {
            return Ok(Changes::default());
        }
        self.stamp = None;
        let (listing, recent) = scan(&self.dir, !self.read_only)?;
        let mut changed: HashSet<String> = HashSet::default();
        let mut seen = vec![false; self.messages.len()];
        let mut fresh: HashMap<String, Found> = HashMap::default();
        for f in listing {
            match self.lookup(split_info(&f.file_name).0) {
                Some(i) => {
                    seen[i] = true;
                    self.apply_listing(i, f, &mut changed);
                }
                None => {
                    fresh.insert(split_info(&f.file_name).0.to_string(), f);
                }
            }
        }
        if seen.iter().zip(&self.messages).any(|(s, m)| !s && !m.gone) {
            // A message renamed by another session (a flag change) can slip through one
            // directory listing; look again before calling it expunged.
            let (again, _) = scan(&self.dir, false)?;
            for f in again {
                if let Some(i) = self.lookup(split_info(&f.file_name).0)
                    && !seen[i]
                {
                    seen[i] = true;
                    self.apply_listing(i, f, &mut changed);
                }
            }
        }
        for (m, seen) in self.messages.iter_mut().zip(&seen) {
            if !seen {
                m.gone = true;
            }
        }
        // Keywords: only messages that have some, before or now, can have changed.
        let mut kw = keywords::read(&self.dir, None)?;
        for i in 0..self.messages.len() {
            let m = &self.messages[i];
            if m.gone || (m.keywords.is_empty() && !kw.contains_key(&m.basename)) {
                continue;
            }
            let k = kw.remove(&m.basename).unwrap_or_default();
            let m = &mut self.messages[i];
            if !same_keywords(&k, &m.keywords) {
                changed.insert(m.basename.clone());
            }
            m.keywords = k;
        }
        let fresh_names: Vec<&String> = fresh.keys().collect();
        let mut assigned = None;
        if !fresh_names.is_empty() {
            // Only adds: files gone since the open keep their entries until the next open.
            let names: HashSet<&str> = fresh_names.iter().map(|s| s.as_str()).collect();
            assigned = Some(uiddb::sync(&self.dir, &names, None)?);
        }
        let mut new = 0;
        if let Some(a) = assigned {
            let mut add: Vec<MessageEntry> = Vec::new();
            let last = self.messages.last().map(|m| m.uid).unwrap_or(0);
            for base in fresh_names {
                let Some(&uid) = a.uids.get(base) else {
                    continue;
                };
                if uid <= last {
                    log::warn!(
                        "{}: {base} has UID {uid}, below the last UID shown ({last}); it appears at the next open",
                        self.dir.display()
                    );
                    continue;
                }
                let k = kw.get(base).cloned().unwrap_or_default();
                add.push(entry(
                    &self.dir,
                    uid,
                    base,
                    &fresh[base],
                    k,
                    recent.contains(base),
                ));
            }
            add.sort_by_key(|m| m.uid);
            for (i, m) in add.iter().enumerate() {
                self.index_of
                    .insert(m.basename.clone(), self.messages.len() + i);
            }
            new = add.len();
            let before = self.messages.len();
            self.messages.extend(add);
            self.uid_next = self.uid_next.max(a.next_uid);
            self.uid_validity = a.uid_validity;
            if new > 0 {
                self.settle_recent(before);
            }
        }
        let mut expunged = Vec::new();
        if report_expunges {
            expunged = self.remove_gone();
        }
        let flags_changed = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| changed.contains(&m.basename))
            .map(|(i, _)| i)
            .collect();
        self.stamp = stamp.and_then(DirStamp::settled);
        Ok(Changes {
            expunged,
            new,
            flags_changed,
        })
    }

    /// The index of the message with this basename.
    fn lookup(&self, basename: &str) -> Option<usize> {
        self.index_of.get(basename).copied()
    }

    /// Takes what a directory listing says of message `i`: where its file is now and the
    /// flags in its name.
    fn apply_listing(&mut self, i: usize, f: Found, changed: &mut HashSet<String>) {
        let m = &mut self.messages[i];
        let flags = flags_of(&f.file_name);
        if flags != m.flags || m.gone {
            changed.insert(m.basename.clone());
        }
        m.flags = flags;
        if m.file_name != f.file_name {
            m.file_name = f.file_name;
        }
        m.in_new = f.in_new;
        m.gone = false;
    }

    /// Drops vanished entries; their sequence numbers, descending.
    fn remove_gone(&mut self) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.gone)
            .map(|(i, _)| i as u32 + 1)
            .collect();
        if out.is_empty() {
            return out;
        }
        for m in self.messages.iter().filter(|m| m.gone) {
            self.index_of.remove(&m.basename);
        }
        self.messages.retain(|m| !m.gone);
        for (i, m) in self.messages.iter().enumerate() {
            if let Some(slot) = self.index_of.get_mut(&m.basename) {
                *slot = i;
            }
        }
        out.reverse();
        out
    }

    /// Gives one message these flags and keywords, as far as this session changes them:
    /// what differs from the session's view of the message is applied to its state on
    /// disk (see [`FlagChange`]), so changes other sessions made meanwhile stay.
    pub fn set_flags(&mut self, index: usize, flags: Flags, keywords: &[String]) -> Result<()> {
        let m = self.entry_at(index)?;
        let change = FlagChange::between(m.flags, &m.keywords, flags, keywords);
        self.change_flags(index, &change)
    }

    /// Applies `change` to one message's current state on disk; afterwards the entry holds
    /// that state (including what other sessions changed meanwhile).
    pub fn change_flags(&mut self, index: usize, change: &FlagChange) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let change = change.cleaned()?;
        if self.entry_at(index)?.gone {
            return Err(StoreError::NoSuchMessage);
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
        let m = &self.messages[index];
        let basename = m.basename.clone();
        let (mut file_name, mut in_new) = (m.file_name.clone(), m.in_new);
        for _ in 0..RENAME_TRIES {
            let from = self
                .dir
                .join(if in_new { "new" } else { "cur" })
                .join(&file_name);
            let flags = change.apply_flags(flags_of(&file_name));
            let target = format!("{basename}:2,{}", flags.to_info());
            let result = if !in_new && target == file_name {
                fs::symlink_metadata(&from).map(drop)
            } else {
                fs::rename(&from, self.dir.join("cur").join(&target))
            };
            match result {
                Ok(()) => {
                    let e = &mut self.messages[index];
                    e.file_name = target;
                    e.in_new = false;
                    e.flags = flags;
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
        let basename = self.messages[index].basename.clone();
        let kw = self
            .keyword_writer
            .change(&self.dir, &basename, |now| change.apply_keywords(now))?;
        self.messages[index].keywords = kw;
        Ok(())
    }

    /// Removes \Deleted messages (only those UIDs, if given) and, with them, any messages
    /// other sessions removed that were not reported yet. Returns the original sequence
    /// numbers of every removed message, descending.
    pub fn expunge(&mut self, only_uids: Option<&[u32]>) -> Result<Vec<u32>> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let only: Option<HashSet<u32>> = only_uids.map(|u| u.iter().copied().collect());
        let mut removed = Vec::new();
        let (mut bytes, mut count) = (0i64, 0i64);
        for i in 0..self.messages.len() {
            let m = &self.messages[i];
            if m.gone
                || !m.flags.contains(Flags::DELETED)
                || only.as_ref().is_some_and(|o| !o.contains(&m.uid))
            {
                continue;
            }
            let mut path = self.path_of(m);
            let mut r = fs::remove_file(&path);
            if matches!(&r, Err(e) if e.kind() == io::ErrorKind::NotFound) {
                // Renamed by someone else: remove it only if it is still \Deleted.
                match locate(&self.dir, &m.basename)? {
                    Some(f) if flags_of(&f.file_name).contains(Flags::DELETED) => {
                        path = self
                            .dir
                            .join(if f.in_new { "new" } else { "cur" })
                            .join(f.file_name);
                        r = fs::remove_file(&path);
                    }
                    Some(_) => continue,
                    None => {}
                }
            }
            match r {
                Ok(()) => {
                    bytes -= m.size as i64;
                    count -= 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            removed.push(i);
        }
        if !removed.is_empty() {
            fsutil::fsync_dir(&self.dir.join("cur"))?;
        }
        for &i in &removed {
            self.messages[i].gone = true;
        }
        let gone: HashSet<&str> = self
            .messages
            .iter()
            .filter(|m| m.gone)
            .map(|m| m.basename.as_str())
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
        quota::record(&self.root, bytes, count)?;
        Ok(self.remove_gone())
    }

    /// Copies messages into `target` of `maildir` (hard links where possible), keeping
    /// flags and keywords, and gives them UIDs there.
    pub fn copy_to(
        &self,
        indexes: &[usize],
        maildir: &Maildir,
        target: &str,
    ) -> Result<CopyResult> {
        let target_dir = maildir.existing_dir(target)?;
        let mut total = 0u64;
        for &i in indexes {
            total += self.entry_at(i)?.size;
        }
        quota::check(maildir.root(), total, indexes.len() as u64)?;
        let mut made: Vec<(u32, String, PathBuf)> = Vec::new();
        let r = (|| -> Result<()> {
            for &i in indexes {
                let m = &self.messages[i];
                // Expunged by another session: copy what still exists (the caller says
                // which were copied; RFC 2180 §4 would allow failing the COPY instead).
                let Some((src, meta)) = self.source_file(m)? else {
                    continue;
                };
                let base = UniqueName::new().final_name(
                    meta.dev(),
                    meta.ino(),
                    Some(m.size),
                    wire_size_from_name(&m.basename),
                );
                if !m.keywords.is_empty() {
                    keyword_writer::record_new(&target_dir, &base, &m.keywords)?;
                }
                let dest = target_dir
                    .join("cur")
                    .join(format!("{base}:2,{}", m.flags.to_info()));
                if fs::hard_link(&src, &dest).is_err() {
                    match copy_file(&src, &target_dir, &dest, meta.modified().ok()) {
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
        quota::record(maildir.root(), total as i64, made.len() as i64)?;
        Ok(CopyResult {
            uid_validity: db.uid_validity,
            uids,
        })
    }

    /// The file of a message to copy and its metadata; `None` when another session
    /// expunged it.
    fn source_file(&self, m: &MessageEntry) -> Result<Option<(PathBuf, fs::Metadata)>> {
        if m.gone {
            return Ok(None);
        }
        let src = match self.locate_path(m) {
            Ok(src) => src,
            Err(StoreError::NoSuchMessage) => return Ok(None),
            Err(e) => return Err(e),
        };
        match fs::metadata(&src) {
            Ok(meta) => Ok(Some((src, meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn locate_path(&self, m: &MessageEntry) -> Result<PathBuf> {
        let p = self.path_of(m);
        if p.exists() {
            return Ok(p);
        }
        match locate(&self.dir, &m.basename)? {
            Some(f) => Ok(self
                .dir
                .join(if f.in_new { "new" } else { "cur" })
                .join(f.file_name)),
            None => Err(StoreError::NoSuchMessage),
        }
    }

    /// Every keyword used by a message of this folder, in first-seen order.
    pub fn keywords_in_use(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.messages {
            for k in &m.keywords {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                    out.push(k.clone());
                }
            }
        }
        out
    }
}

/// Copies a message through the target's tmp/ when a hard link is not possible.
fn copy_file(
    src: &Path,
    target_dir: &Path,
    dest: &Path,
    mtime: Option<std::time::SystemTime>,
) -> Result<()> {
    let (mut out, tmp) = fsutil::create_unique(&target_dir.join("tmp"), "")?;
    let r = (|| -> io::Result<()> {
        io::copy(&mut File::open(src)?, &mut out)?;
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
