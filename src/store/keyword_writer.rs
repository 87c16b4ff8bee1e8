//! Changing one message's keyword set in `courierimapkeywords/` without losing another
//! postern session's change, and without listing the directory for every message of a
//! bulk STORE.
//!
//! Each change reads the message's current set and writes the whole new set as an update
//! file (the format Courier reads), holding an flock on `postern-keywords` in the folder.
//! That file also holds a generation number every writer increments, so a session can keep
//! one listing of the update files and one parse of `:list` (a [`Snapshot`]) for as long
//! as no other postern writer wrote: a 10 000-message `STORE +FLAGS ($Junk)` lists the
//! directory once, not 10 000 times. Readers that number or fold update files do not
//! write new content, and a file of the snapshot that vanished sends the writer back to a
//! fresh listing. Courier takes no lock for keywords (it writes whole sets as well), so
//! between Courier and postern the last whole set written wins, as between two Courier
//! sessions. Courier ignores `postern-keywords`.

// Keys are file names and keywords from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::fsutil;
use super::keywords::{self, DIR, KeywordList, LIST};

pub const LOCK: &str = "postern-keywords";
/// Fresh listings one change may take before it gives up (each means that files vanished
/// under it, i.e. busy readers).
const RELISTS: usize = 16;

/// What the keyword directory held at one generation.
#[derive(Debug)]
struct Snapshot {
    generation: u64,
    /// Basenames with a plain (unnumbered) update file.
    plain: HashSet<String>,
    /// Basename -> file name of its highest numbered update file.
    numbered: HashMap<String, String>,
    /// `:list` as basename -> keywords.
    list: HashMap<String, Vec<String>>,
}

impl Snapshot {
    fn take(folder_dir: &Path, generation: u64) -> io::Result<Snapshot> {
        let dir = folder_dir.join(DIR);
        let mut snap = Snapshot {
            generation,
            plain: HashSet::default(),
            numbered: HashMap::default(),
            list: HashMap::default(),
        };
        let mut highest: HashMap<String, i64> = HashMap::default();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(snap),
            Err(e) => return Err(e),
        };
        for ent in rd {
            let Ok(name) = ent?.file_name().into_string() else {
                continue;
            };
            if name.starts_with(':') {
                continue;
            }
            let Some(rest) = name.strip_prefix('.') else {
                snap.plain.insert(name);
                continue;
            };
            let Some((n, base)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<i64>() else { continue };
            if highest.get(base).is_none_or(|m| n > *m) {
                highest.insert(base.to_string(), n);
                snap.numbered.insert(base.to_string(), name.clone());
            }
        }
        let list = fsutil::read_optional(&dir.join(LIST))?.unwrap_or_default();
        snap.list = KeywordList::parse(&list).to_map();
        Ok(snap)
    }
}

/// A session's keyword writer for one folder (kept with the open folder).
#[derive(Debug, Default)]
pub struct KeywordWriter {
    snapshot: Option<Snapshot>,
}

impl KeywordWriter {
    /// Applies `edit` to the keyword set `basename` has on disk now and records the result
    /// when it differs; returns the set the message has afterwards.
    pub fn change(
        &mut self,
        folder_dir: &Path,
        basename: &str,
        edit: impl FnOnce(&[String]) -> Vec<String>,
    ) -> io::Result<Vec<String>> {
        let lock = lock_writers(folder_dir)?;
        let generation = read_generation(&lock)?;
        if self
            .snapshot
            .as_ref()
            .is_none_or(|s| s.generation != generation)
        {
            self.snapshot = Some(Snapshot::take(folder_dir, generation)?);
        }
        let now = self.current(folder_dir, basename, generation)?;
        let after = edit(&now);
        let same = after.len() == now.len()
            && after
                .iter()
                .all(|k| now.iter().any(|n| n.eq_ignore_ascii_case(k)));
        if !same {
            keywords::write_update(folder_dir, basename, &after)?;
            let next = generation.wrapping_add(1);
            write_generation(&lock, next)?;
            if let Some(s) = self.snapshot.as_mut() {
                s.generation = next;
                s.plain.insert(basename.to_string());
            }
        }
        Ok(after)
    }

    /// The message's set as [`keywords::read`] would find it: plain update file, else the
    /// highest numbered one, else `:list`. A file the snapshot knows that has vanished
    /// (numbered or folded by a reader meanwhile) means a fresh listing.
    fn current(
        &mut self,
        folder_dir: &Path,
        basename: &str,
        generation: u64,
    ) -> io::Result<Vec<String>> {
        let dir = folder_dir.join(DIR);
        for _ in 0..RELISTS {
            if let Some(b) = fsutil::read_optional(&dir.join(basename))? {
                return Ok(keywords::parse_update(&b));
            }
            let snap = self.snapshot.as_ref().expect("a snapshot is taken before");
            if !snap.plain.contains(basename) {
                match snap.numbered.get(basename) {
                    None => return Ok(snap.list.get(basename).cloned().unwrap_or_default()),
                    Some(file) => {
                        if let Some(b) = fsutil::read_optional(&dir.join(file))? {
                            return Ok(keywords::parse_update(&b));
                        }
                    }
                }
            }
            self.snapshot = Some(Snapshot::take(folder_dir, generation)?);
        }
        Err(io::Error::other(format!(
            "{}: the keywords of {basename} keep changing",
            dir.display()
        )))
    }
}

/// Records the keywords of a message that is about to appear (APPEND, COPY): written like
/// any change, under the writers' lock and with a new generation, so no session's snapshot
/// taken before takes the new message for one without keywords once readers have numbered
/// its update file.
pub fn record_new(folder_dir: &Path, basename: &str, keywords: &[String]) -> io::Result<()> {
    let lock = lock_writers(folder_dir)?;
    let generation = read_generation(&lock)?;
    keywords::write_update(folder_dir, basename, keywords)?;
    write_generation(&lock, generation.wrapping_add(1))
}

/// Opens `postern-keywords` and takes the writers' flock (released when the file closes).
fn lock_writers(folder_dir: &Path) -> io::Result<File> {
    let path = folder_dir.join(LOCK);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&path)?;
    let lock = super::fsutil::only_regular(lock, &path)?;
    lock.lock()?;
    Ok(lock)
}

/// The generation in the lock file; garbage (a write cut short) reads as a value no
/// snapshot has.
fn read_generation(lock: &File) -> io::Result<u64> {
    let mut buf = [0u8; 24];
    let n = lock.read_at(&mut buf, 0)?;
    let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
    Ok(match text.trim() {
        "" => 0,
        t => t.parse().unwrap_or(u64::MAX),
    })
}

fn write_generation(lock: &File, generation: u64) -> io::Result<()> {
    let text = format!("{generation}\n");
    lock.write_all_at(text.as_bytes(), 0)?;
    lock.set_len(text.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        d
    }

    fn add(k: &str) -> impl FnOnce(&[String]) -> Vec<String> + '_ {
        move |now: &[String]| {
            let mut v = now.to_vec();
            v.push(k.to_string());
            v
        }
    }

    #[test]
    fn two_writers_keep_both_changes_and_see_readers_work() {
        let d = folder();
        let (mut a, mut b) = (KeywordWriter::default(), KeywordWriter::default());
        a.change(d.path(), "m1", add("a")).unwrap();
        // b's snapshot is older than a's write: the generation tells it.
        b.change(d.path(), "m2", add("x")).unwrap();
        assert_eq!(b.change(d.path(), "m1", add("b")).unwrap(), ["a", "b"]);
        // A reader numbers the update files behind a's back.
        let live: HashSet<&str> = ["m1", "m2"].into_iter().collect();
        keywords::read(d.path(), Some(&live)).unwrap();
        assert!(!d.path().join(DIR).join("m1").exists());
        assert_eq!(a.change(d.path(), "m1", add("c")).unwrap(), ["a", "b", "c"]);
        assert_eq!(
            keywords::read(d.path(), None).unwrap()["m1"],
            ["a", "b", "c"]
        );
        // No change, no write.
        let gen_before = fs::read(d.path().join(LOCK)).unwrap();
        a.change(d.path(), "m1", |now| now.to_vec()).unwrap();
        assert_eq!(fs::read(d.path().join(LOCK)).unwrap(), gen_before);
    }
}
