//! A per-folder full-text index for SEARCH BODY / TEXT / header substrings.
//!
//! What it answers: for a search string, which messages *cannot* contain it. SEARCH then
//! reads only the others and matches them exactly as without the index, so results are
//! the scan's (RFC 3501 §6.4.4: case-insensitive substring of the decoded text).
//!
//! Why trigrams: a substring of the text holds every 3-byte window of itself, so a
//! message whose text lacks one of the needle's trigrams cannot match; nothing about
//! words or tokenizing can be wrong for languages without spaces, for addresses or for
//! part-words. The text indexed is exactly the text SEARCH compares
//! ([`crate::message::Message::search_index_texts`]), lowercased as SEARCH lowercases it,
//! with CR and LF read as spaces on both sides (the header cache folds line breaks so).
//! Positions are not kept (they would make the index larger than the mail), so every
//! candidate is verified by reading it; needles shorter than three bytes are not
//! narrowed at all.
//!
//! Files beside the folder (see [`file`]): `postern-fts` holds large segments,
//! `postern-fts.recent` a few small segments that delivery and APPEND rewrite. A message is
//! known by its basename (a delivery has no UID yet). Messages in the folder that no
//! segment covers (arrived by Courier or another tool, or while the index was off) are
//! indexed at the next SEARCH within `[fts] catch_up_time_ms`, and whatever is left is
//! simply read, as without the index. Expunged messages are ignored when the folder's
//! listing is mapped onto the index, and dropped when more than half of a segment is
//! gone.

mod file;
pub mod segment;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use file::Writer;
pub use file::{IndexFile, MAIN, RECENT};
use segment::{Builder, Damaged, Segment, UNINDEXED};

use super::Mailbox;
use crate::message::Message;

/// `[fts]` as the store sees it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub enabled: bool,
    /// Folder names (`INBOX`, `INBOX.Lists`, `INBOX.Lists.*` for a folder's subfolders,
    /// `*` for all).
    pub folders: Vec<String>,
    /// Larger messages are not indexed (always read by SEARCH).
    pub max_message_size: u64,
    /// The index of one folder stops growing at this size (the rest is read).
    pub max_index_size: u64,
    /// Most time one SEARCH spends bringing the index up to date.
    pub catch_up_time: Duration,
    /// A segment is written out when it holds this much memory.
    pub build_memory: usize,
    /// Keep each searched message's decoded, lowercased text (`postern-cache.searchtext-1`)
    /// so that verifying candidates reads no message file.
    pub cache_text: bool,
    /// The text cache of one folder stops growing at this size.
    pub max_text_cache_size: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            folders: vec!["*".into()],
            max_message_size: 10 << 20,
            max_index_size: 2 << 30,
            catch_up_time: Duration::from_millis(3000),
            build_memory: 64 << 20,
            cache_text: true,
            max_text_cache_size: 256 << 20,
        }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the process's settings (once: a process serves one configuration).
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

impl Settings {
    /// Whether the folder named `name` (`INBOX`, `INBOX.a.b`) is indexed.
    pub fn covers(&self, name: &str) -> bool {
        self.enabled
            && self.folders.iter().any(|f| {
                f == "*"
                    || f.eq_ignore_ascii_case(name)
                    || f.strip_suffix(".*").is_some_and(|p| {
                        name.len() > p.len() + 1
                            && name.starts_with(p)
                            && name.as_bytes()[p.len()] == b'.'
                    })
            })
    }
}

/// For the folder `mailbox`: how many more bytes of search texts SEARCH may add to its
/// cache, or `None` when it keeps none (`[fts] cache_text` off, or the folder not
/// indexed), and the largest message whose texts it keeps.
pub fn text_cache_room(mailbox: &Mailbox) -> Option<(u64, u64)> {
    let s = settings();
    if !(s.cache_text && s.covers(mailbox.name())) {
        return None;
    }
    let used = std::fs::metadata(mailbox.folder_dir().join("postern-cache.searchtext-1"))
        .map_or(0, |m| m.len());
    Some((
        s.max_text_cache_size.saturating_sub(used),
        s.max_message_size,
    ))
}

/// The recent segment is folded into `postern-fts` once it holds this much.
fn recent_limit(s: &Settings) -> usize {
    (s.build_memory / 16).max(1 << 20)
}

/// A text as the index and the search compare it: lowercased as SEARCH lowercases it,
/// CR and LF as spaces.
fn folded(text: &str) -> Vec<u8> {
    let mut bytes = text.to_lowercase().into_bytes();
    for b in &mut bytes {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    bytes
}

fn push_trigrams(bytes: &[u8], out: &mut Vec<u32>) {
    out.extend(
        bytes
            .windows(3)
            .map(|w| u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2])),
    );
}

/// The distinct trigrams of a search string (as SEARCH lowercases it); empty when it is
/// shorter than three bytes (then nothing is narrowed).
pub fn needle_trigrams(needle: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    push_trigrams(&folded(&String::from_utf8_lossy(needle)), &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

/// The distinct trigrams of everything SEARCH may compare in this message.
pub fn message_trigrams(raw: Vec<u8>) -> Vec<u32> {
    let message = Message::new(raw);
    let mut out = Vec::new();
    message.search_index_texts(&mut |text| push_trigrams(&folded(text), &mut out));
    out.sort_unstable();
    out.dedup();
    out
}

/// Both files, as found (a damaged one counts as absent and is replaced by the next
/// update).
struct Files {
    main: Option<IndexFile>,
    recent: Option<IndexFile>,
}

impl Files {
    fn open(dir: &Path) -> Files {
        let open = |name| match IndexFile::open(&dir.join(name)) {
            Ok(f) => f,
            Err(Damaged) => {
                log::warn!(
                    "{}: damaged full-text index, rebuilding",
                    dir.join(name).display()
                );
                None
            }
        };
        Files {
            main: open(MAIN),
            recent: open(RECENT),
        }
    }

    /// Every segment: main's, then recent's (a damaged segment makes the whole file
    /// count as absent).
    fn segments(&self) -> Result<Vec<Segment<'_>>, Damaged> {
        let mut out = Vec::new();
        for f in [&self.main, &self.recent].into_iter().flatten() {
            for i in 0..f.segment_count() {
                out.push(f.segment(i)?);
            }
        }
        Ok(out)
    }

    fn size(&self) -> u64 {
        [&self.main, &self.recent]
            .into_iter()
            .flatten()
            .map(|f| f.size() as u64)
            .sum()
    }

    fn release_pages(&self) {
        for f in [&self.main, &self.recent].into_iter().flatten() {
            f.release_pages();
        }
    }
}

const NONE: u32 = u32::MAX;

/// How the folder's messages map onto the index.
struct Coverage {
    /// Per segment: doc number -> message index (or NONE: expunged).
    docs: Vec<Vec<u32>>,
    /// Per segment: how many of its docs are gone.
    gone: Vec<usize>,
    /// Messages some doc covers.
    covered: Vec<u64>,
    /// Messages that may hold anything (too large to index).
    unindexed: Vec<u64>,
}

fn set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn get(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

fn cover(
    segments: &[Segment<'_>],
    by_name: &HashMap<&str, u32>,
    count: usize,
) -> Result<Coverage, Damaged> {
    let words = count.div_ceil(64);
    let mut c = Coverage {
        docs: Vec::with_capacity(segments.len()),
        gone: Vec::with_capacity(segments.len()),
        covered: vec![0; words],
        unindexed: vec![0; words],
    };
    for seg in segments {
        let mut docs = Vec::with_capacity(seg.doc_count());
        let mut gone = 0;
        for d in 0..seg.doc_count() {
            let (name, flags) = seg.doc(d)?;
            match by_name.get(name) {
                Some(&i) => {
                    set(&mut c.covered, i as usize);
                    if flags & UNINDEXED != 0 {
                        set(&mut c.unindexed, i as usize);
                    }
                    docs.push(i);
                }
                None => {
                    gone += 1;
                    docs.push(NONE);
                }
            }
        }
        c.docs.push(docs);
        c.gone.push(gone);
    }
    Ok(c)
}

/// Which messages may contain each search string: the answer of the index for one
/// SEARCH command.
pub struct Prefilter {
    needles: Vec<(Vec<u8>, Vec<u64>)>,
}

impl Prefilter {
    /// False only when message `index` cannot contain `needle` (one of the strings the
    /// prefilter was made for; any other string gives true).
    pub fn may_contain(&self, needle: &[u8], index: usize) -> bool {
        match self.needles.iter().find(|(n, _)| n == needle) {
            Some((_, bits)) => bits
                .get(index / 64)
                .is_none_or(|w| w & (1 << (index % 64)) != 0),
            None => true,
        }
    }

    /// How many messages may contain `needle` (for the benchmarks and logs).
    pub fn candidates(&self, needle: &[u8]) -> Option<usize> {
        let (_, bits) = self.needles.iter().find(|(n, _)| n == needle)?;
        Some(bits.iter().map(|w| w.count_ones() as usize).sum())
    }
}

/// The index's answer for `needles` on this folder, after bringing the index up to date
/// within `[fts] catch_up_time_ms`. `None`: no index is kept for this folder, or none
/// could be read (SEARCH reads every message, as without one).
pub fn prefilter(mailbox: &Mailbox, needles: &[&[u8]]) -> Option<Prefilter> {
    let s = settings();
    if !s.covers(mailbox.name()) {
        return None;
    }
    let dir = mailbox.folder_dir();
    let count = mailbox.len();
    let by_name: HashMap<&str, u32> = mailbox
        .messages()
        .enumerate()
        .map(|(i, e)| (e.basename, i as u32))
        .collect();
    let files = Files::open(dir);
    let answered = {
        let segments = files.segments();
        let coverage = segments
            .as_ref()
            .map_err(|d| *d)
            .and_then(|segs| cover(segs, &by_name, count));
        let wrote =
            !mailbox.read_only() && catch_up(mailbox, &by_name, s, &files, coverage.as_ref().ok());
        // Unless the index was just rewritten, what was read for the catch-up answers.
        (!wrote).then(|| answer(&segments?, &coverage?, count, needles))
    };
    files.release_pages();
    let answered = answered.unwrap_or_else(|| {
        let files = Files::open(dir);
        let segments = files.segments();
        let a = segments
            .and_then(|segs| answer(&segs, &cover(&segs, &by_name, count)?, count, needles));
        files.release_pages();
        a
    });
    match answered {
        Ok(p) => Some(p),
        Err(Damaged) => {
            log::warn!("{}: damaged full-text index, rebuilding", dir.display());
            if !mailbox.read_only() {
                let _ = std::fs::remove_file(dir.join(MAIN));
                let _ = std::fs::remove_file(dir.join(RECENT));
            }
            None
        }
    }
}

fn answer(
    segments: &[Segment<'_>],
    c: &Coverage,
    count: usize,
    needles: &[&[u8]],
) -> Result<Prefilter, Damaged> {
    let mut out = Vec::new();
    for &needle in needles {
        let trigrams = needle_trigrams(needle);
        if trigrams.is_empty() || out.iter().any(|(n, _): &(Vec<u8>, _)| n == needle) {
            continue;
        }
        // Not covered or not indexed: may hold it.
        let mut maybe: Vec<u64> = c
            .covered
            .iter()
            .zip(&c.unindexed)
            .map(|(cov, un)| !cov | un)
            .collect();
        for (seg, docs) in segments.iter().zip(&c.docs) {
            let bits = seg.holding_all(&trigrams)?;
            for (w, &word) in bits.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let d = w * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    if let Some(&i) = docs.get(d)
                        && i != NONE
                    {
                        set(&mut maybe, i as usize);
                    }
                }
            }
        }
        if let Some(last) = maybe.last_mut()
            && !count.is_multiple_of(64)
        {
            *last &= (1u64 << (count % 64)) - 1;
        }
        out.push((needle.to_vec(), maybe));
    }
    Ok(Prefilter { needles: out })
}

/// Indexes the folder's messages no segment covers (as many as the time allows) and
/// drops segments that are mostly expunged; `coverage` is `None` for a damaged index
/// (then every old segment goes). Returns whether it (tried to) write the index.
fn catch_up(
    mailbox: &Mailbox,
    by_name: &HashMap<&str, u32>,
    s: &Settings,
    files: &Files,
    coverage: Option<&Coverage>,
) -> bool {
    let dir = mailbox.folder_dir();
    let empty = vec![0; mailbox.len().div_ceil(64)];
    let (covered, gone): (&[u64], Vec<bool>) = match coverage {
        Some(c) => (
            &c.covered,
            c.gone
                .iter()
                .zip(&c.docs)
                .map(|(g, docs)| *g * 2 > docs.len())
                .collect(),
        ),
        // Start over: nothing is covered.
        None => (&empty, Vec::new()),
    };
    let missing: Vec<usize> = (0..mailbox.len()).filter(|&i| !get(covered, i)).collect();
    let main_segments = files.main.as_ref().map_or(0, IndexFile::segment_count);
    let drop_main: Vec<bool> = (0..main_segments)
        .map(|i| gone.get(i).copied().unwrap_or(true))
        .collect();
    let recent_gone = gone.iter().skip(main_segments).any(|g| *g);
    let must_write = drop_main.contains(&true) || recent_gone;
    if missing.is_empty() && !must_write {
        return false;
    }
    let deadline = Instant::now() + s.catch_up_time;
    let room = s.max_index_size.saturating_sub(files.size());
    let mut next = missing.into_iter();
    let mut added: usize = 0;
    let mut feed = |b: &mut Builder| -> bool {
        while b.memory() < s.build_memory {
            if Instant::now() >= deadline || added as u64 >= room {
                return false;
            }
            let Some(i) = next.next() else { return false };
            let e = mailbox.message(i);
            let before = b.memory();
            if e.size > s.max_message_size {
                b.add(e.basename, &[], UNINDEXED);
            } else {
                match mailbox.read_message(i) {
                    Ok(raw) => b.add(e.basename, &message_trigrams(raw), 0),
                    // Gone meanwhile, or unreadable: left to the scan.
                    Err(_) => continue,
                }
            }
            added += b.memory() - before;
        }
        true
    };
    let keep = |name: &str| by_name.contains_key(name);
    let plan = Plan {
        drop_main: &drop_main,
        keep: &keep,
        fold_recent: true,
        must_write,
    };
    if let Err(e) = update(dir, files, &plan, &mut feed, s) {
        log::warn!("{}: cannot update the full-text index: {e}", dir.display());
    }
    true
}

/// What an [`update`] keeps of the index as it is.
#[derive(Clone, Copy)]
struct Plan<'a> {
    /// Segments of `postern-fts` to leave out (mostly expunged, or damaged).
    drop_main: &'a [bool],
    /// Which documents of folded recent segments stay (the folder still has them).
    keep: &'a dyn Fn(&str) -> bool,
    /// Merge the recent segments into the new one instead of copying them.
    fold_recent: bool,
    /// Write even when `feed` added nothing (segments to drop).
    must_write: bool,
}

/// Most segments `postern-fts.recent` holds before they are merged into one: a delivery
/// adds its message as a segment of its own (a copy of a small file, no merge), so a
/// burst of APPENDs does not re-encode the recent messages each time.
const RECENT_SEGMENTS: usize = 8;

/// Writes the index with what `feed` adds (it returns false when it has no more).
/// With `fold_recent`, the recent segments are read back into the new documents
/// (keeping those `keep` wants); otherwise they are copied as they are. Full segments go
/// to `postern-fts` (whose segments flagged in `drop_main` go), and what is left is
/// added to `postern-fts.recent`.
fn update(
    dir: &Path,
    files: &Files,
    plan: &Plan<'_>,
    feed: &mut dyn FnMut(&mut Builder) -> bool,
    s: &Settings,
) -> std::io::Result<()> {
    let Plan {
        drop_main,
        keep,
        fold_recent,
        must_write,
    } = *plan;
    let mut b = Builder::default();
    let mut kept_recent: Vec<&[u8]> = Vec::new();
    if let Some(recent) = &files.recent {
        for i in 0..recent.segment_count() {
            let Ok(seg) = recent.segment(i) else { continue };
            if !fold_recent {
                kept_recent.push(recent.segment_bytes(i));
            } else if b.absorb(&seg, keep).is_err() {
                // Damaged postings: what was absorbed is dropped, the rest caught up later.
                b = Builder::default();
            }
        }
    }
    let absorbed = b.doc_count();
    let mut main: Option<Writer> = None;
    let open_main = |main: &mut Option<Writer>| -> std::io::Result<()> {
        if main.is_none() {
            let mut w = Writer::create(dir, MAIN)?;
            if let Some(old) = &files.main {
                for i in 0..old.segment_count() {
                    if !drop_main.get(i).copied().unwrap_or(true) {
                        w.add(old.segment_bytes(i))?;
                    }
                }
            }
            *main = Some(w);
        }
        Ok(())
    };
    let mut fed = false;
    loop {
        let more = feed(&mut b);
        fed |= b.doc_count() > absorbed;
        if b.memory() >= s.build_memory {
            open_main(&mut main)?;
            main.as_mut().expect("opened").add(&b.finish())?;
        }
        if !more {
            break;
        }
    }
    if !fed && !must_write {
        // Nothing could be read (files gone meanwhile): the index stays as it is.
        return Ok(());
    }
    if b.memory() >= recent_limit(s) {
        open_main(&mut main)?;
        main.as_mut().expect("opened").add(&b.finish())?;
    }
    if main.is_none() && drop_main.contains(&true) {
        open_main(&mut main)?;
    }
    if let Some(w) = main {
        w.commit()?;
    }
    if b.doc_count() == 0 && kept_recent.is_empty() {
        match std::fs::remove_file(dir.join(RECENT)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    } else {
        let mut w = Writer::create(dir, RECENT)?;
        for seg in kept_recent {
            w.add(seg)?;
        }
        if b.doc_count() > 0 {
            w.add(&b.finish())?;
        }
        w.commit()?;
    }
    Ok(())
}

/// The folder's name (`INBOX`, `INBOX.a.b`) from its directory in the Maildir `root`.
fn folder_name(root: &Path, dir: &Path) -> String {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(n) if dir != root && n.starts_with('.') => format!("INBOX{n}"),
        _ => "INBOX".to_string(),
    }
}

/// A message just delivered or appended (file `path`) into the folder at `dir` of the
/// Maildir `root`: indexed into the recent segment, if the folder has an index (one is
/// made by the first SEARCH that needs it, not for mail nobody searches). Failures are
/// only logged: the next SEARCH catches up.
pub fn added(root: &Path, dir: &Path, basename: &str, path: &Path) {
    added_many(root, dir, &[(basename, path)]);
}

/// Messages just placed into the folder at `dir` (COPY, MOVE: `(basename, file)`), indexed
/// as [`added`] indexes one, all into one new recent segment, within `[fts]
/// catch_up_time_ms` (a large COPY leaves the rest to the next SEARCH's catch-up).
pub fn added_many(root: &Path, dir: &Path, messages: &[(&str, &Path)]) {
    let s = settings();
    if messages.is_empty() || !s.covers(&folder_name(root, dir)) {
        return;
    }
    let files = Files::open(dir);
    if files.main.is_none() && files.recent.is_none() {
        return;
    }
    if files.size() >= s.max_index_size {
        return;
    }
    let deadline = Instant::now() + s.catch_up_time;
    let room = s.max_index_size - files.size();
    let mut next = messages.iter();
    let mut added: usize = 0;
    let mut feed = |b: &mut Builder| -> bool {
        while b.memory() < s.build_memory {
            if Instant::now() >= deadline || added as u64 >= room {
                return false;
            }
            let Some(&(basename, path)) = next.next() else {
                return false;
            };
            let before = b.memory();
            // A link is not read here (see `fsutil::open_message`): left to the scan,
            // which reads it only where messages are links by design.
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.is_symlink() || m.len() > s.max_message_size => {
                    b.add(basename, &[], UNINDEXED)
                }
                Ok(_) => {
                    let raw = crate::store::fsutil::open_message(path, false).and_then(|mut f| {
                        let mut raw = Vec::new();
                        std::io::Read::read_to_end(&mut f, &mut raw).map(|_| raw)
                    });
                    if let Ok(raw) = raw {
                        b.add(basename, &message_trigrams(raw), 0);
                    }
                }
                Err(_) => {}
            }
            added += b.memory() - before;
        }
        true
    };
    let no_drop: Vec<bool> = (0..files.main.as_ref().map_or(0, IndexFile::segment_count))
        .map(|_| false)
        .collect();
    let fold = files
        .recent
        .as_ref()
        .is_some_and(|r| r.segment_count() >= RECENT_SEGMENTS);
    let plan = Plan {
        drop_main: &no_drop,
        keep: &|_| true,
        fold_recent: fold,
        must_write: false,
    };
    if let Err(e) = update(dir, &files, &plan, &mut feed, s) {
        log::warn!("{}: cannot update the full-text index: {e}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_selection() {
        let s = Settings {
            folders: vec!["INBOX".into(), "INBOX.Lists.*".into()],
            ..Settings::default()
        };
        assert!(s.covers("INBOX"));
        assert!(s.covers("INBOX.Lists.rust"));
        assert!(!s.covers("INBOX.Lists"));
        assert!(!s.covers("INBOX.Listsx.a"));
        assert!(!s.covers("INBOX.Sent"));
        assert!(Settings::default().covers("INBOX.Sent"));
        assert!(
            !Settings {
                enabled: false,
                ..Settings::default()
            }
            .covers("INBOX")
        );
    }

    #[test]
    fn needles_fold_as_search_does() {
        assert_eq!(needle_trigrams(b"ab"), Vec::<u32>::new());
        assert_eq!(needle_trigrams(b"ABC"), needle_trigrams(b"abc"));
        assert_eq!(needle_trigrams(b"a\r\nb"), needle_trigrams(b"a  b"));
        // Every trigram of a needle found in a text is a trigram of that text.
        let raw = b"Subject: Gr=C3=BC=C3=9Fe\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\nSch=C3=96ne Gr=\r\n=C3=BC=C3=9Fe\r\n";
        let t = message_trigrams(raw.to_vec());
        for needle in ["schöne grüße", "SCHÖNE", "ne gr"] {
            for n in needle_trigrams(needle.as_bytes()) {
                assert!(t.binary_search(&n).is_ok(), "{needle}");
            }
        }
    }
}
