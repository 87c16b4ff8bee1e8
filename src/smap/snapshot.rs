//! SMAP folder snapshots (smap.sgml, "Opening a folder" and "The NOOP command"), kept as
//! Courier's imapd keeps them, so a client resumes with either server what the other
//! saved: the folder's `courierimapsnapshots/` holds one file per snapshot, named like a
//! Maildir file (`<secs>.M<usecs>P<pid>_snapshot.<host>`), made in the folder's `tmp/`
//! and renamed into place. Its first line is `1 <messages> <uidvalidity> <nextuid>`, with
//! `:<previous snapshot>` when the session had one; then one `<uid>:2,<flags>` line per
//! message; then, when messages have keywords, the keyword names one per line, an empty
//! line and `<basename>:<index> <index>...` lines (the layout of `courierimapkeywords/:list`).
//! Only UIDs are saved: file names come from `courierimapuiddb` when a snapshot is read.
//!
//! A session keeps its current and previous snapshot and deletes the one before when it
//! saves a new one; opening a folder drops snapshots no later one names as its previous
//! (chains of three), and keeps at most [`MAX_SNAPSHOTS`].

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::{Flags, Mailbox};

/// The folder's snapshot directory (Courier's name).
pub const DIR: &str = "courierimapsnapshots";
/// The format Courier's imapd writes and reads.
const VERSION: u32 = 1;
/// Snapshots kept in one folder at most (Courier's cap).
const MAX_SNAPSHOTS: usize = 50;

/// One message of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub uid: u32,
    pub flags: Flags,
    pub keywords: Vec<String>,
}

/// The snapshot state of the open folder.
#[derive(Debug)]
pub struct Snapshots {
    dir: PathBuf,
    tmp: PathBuf,
    /// The snapshot the client last got (`* SNAPSHOT` or SOPEN).
    cur: Option<String>,
    /// The one before it (kept: the client may not have seen `cur`).
    last: Option<String>,
    /// The folder changed since `cur`.
    pub dirty: bool,
}

impl Snapshots {
    /// Snapshots for the folder at `folder_dir`: makes the directory and tidies it.
    pub fn open(folder_dir: &Path) -> Snapshots {
        let dir = folder_dir.join(DIR);
        let _ = fs::create_dir(&dir);
        tidy(&dir);
        Snapshots {
            dir,
            tmp: folder_dir.join("tmp"),
            cur: None,
            last: None,
            dirty: true,
        }
    }

    /// Reads snapshot `id` of `mailbox`'s folder; `None` if it is not there, not valid,
    /// or of another UIDVALIDITY. A snapshot taken is touched and becomes the current one.
    pub fn restore(&mut self, id: &str, mailbox: &Mailbox) -> Option<Vec<Saved>> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return None;
        }
        let path = self.dir.join(id);
        let text = fs::read_to_string(&path).ok()?;
        let (prev, saved) = parse(&text, mailbox)?;
        let now = fs::FileTimes::new().set_modified(SystemTime::now());
        let _ = fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_times(now));
        self.cur = Some(id.to_owned());
        self.last = prev;
        Some(saved)
    }

    /// Saves the folder's state as a new snapshot; its id.
    pub fn save(&mut self, mailbox: &Mailbox) -> std::io::Result<String> {
        let id = snapshot_name();
        let tmp = self.tmp.join(&id);
        let mut f = fs::File::create(&tmp)?;
        f.write_all(self.render(mailbox).as_bytes())?;
        f.sync_all()?;
        drop(f);
        if let Err(e) = fs::rename(&tmp, self.dir.join(&id)) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if let Some(last) = self.last.take() {
            let _ = fs::remove_file(self.dir.join(last));
        }
        self.last = self.cur.replace(id.clone());
        self.dirty = false;
        Ok(id)
    }

    fn render(&self, mailbox: &Mailbox) -> String {
        let mut out = format!(
            "{VERSION} {} {} {}",
            mailbox.len(),
            mailbox.uid_validity(),
            mailbox.uid_next()
        );
        if let Some(cur) = &self.cur {
            out.push(':');
            out.push_str(cur);
        }
        out.push('\n');
        let mut names: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut keyword_lines = String::new();
        for m in mailbox.messages() {
            out.push_str(&format!("{}:2,{}\n", m.uid, m.flags.to_info()));
            if m.keywords.is_empty() {
                continue;
            }
            keyword_lines.push_str(m.basename);
            keyword_lines.push(':');
            let idx: Vec<String> = m
                .keywords
                .iter()
                .map(|k| {
                    let n = *index.entry(k.as_str()).or_insert_with(|| {
                        names.push(k.as_str());
                        names.len() - 1
                    });
                    n.to_string()
                })
                .collect();
            keyword_lines.push_str(&idx.join(" "));
            keyword_lines.push('\n');
        }
        if !names.is_empty() {
            for n in names {
                out.push_str(n);
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&keyword_lines);
        }
        out
    }
}

/// A snapshot file's previous snapshot and messages, checked against the folder's UID
/// database (through the open mailbox: its UIDVALIDITY and the names of its messages).
fn parse(text: &str, mailbox: &Mailbox) -> Option<(Option<String>, Vec<Saved>)> {
    let mut lines = text.split('\n');
    let header = lines.next()?;
    let (numbers, prev) = match header.split_once(':') {
        Some((n, p)) => (n, Some(p.to_owned()).filter(|p| !p.is_empty())),
        None => (header, None),
    };
    let fields: Vec<u64> = numbers
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let [version, count, uidv, _next] = fields[..] else {
        return None;
    };
    if version != u64::from(VERSION) || uidv != u64::from(mailbox.uid_validity()) {
        return None;
    }
    let mut saved = Vec::new();
    for _ in 0..count {
        let line = lines.next()?;
        let (uid, info) = line.split_once(':')?;
        let flags = info
            .strip_prefix("2,")
            .map_or(Flags::empty(), Flags::from_info);
        saved.push(Saved {
            uid: uid.parse().ok()?,
            flags,
            keywords: Vec::new(),
        });
    }
    read_keywords(&mut lines, mailbox, &mut saved);
    Some((prev, saved))
}

/// The keyword part: names, an empty line, `<basename>:<indexes>` lines.
fn read_keywords<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    mailbox: &Mailbox,
    saved: &mut [Saved],
) {
    let mut names = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        names.push(line.to_owned());
    }
    let uid_of: HashMap<&str, u32> = mailbox.messages().map(|m| (m.basename, m.uid)).collect();
    let pos: HashMap<u32, usize> = saved.iter().enumerate().map(|(i, s)| (s.uid, i)).collect();
    for line in lines {
        let Some((name, idx)) = line.rsplit_once(':') else {
            continue;
        };
        let Some(i) = uid_of.get(name).and_then(|u| pos.get(u)) else {
            continue;
        };
        saved[*i].keywords = idx
            .split_whitespace()
            .filter_map(|n| names.get(n.parse::<usize>().ok()?).cloned())
            .collect();
    }
}

/// A new snapshot's name, made as Courier's imapd makes it (a Maildir name with
/// `_snapshot` after the pid).
fn snapshot_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
        .replace(['/', ':'], "_");
    format!(
        "{}.M{}P{}_snapshot.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    )
}

/// Drops what is no snapshot, snapshots two later ones have replaced, and the oldest
/// beyond [`MAX_SNAPSHOTS`].
fn tidy(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    // (name, previous, mtime)
    let mut list: Vec<(String, String, SystemTime)> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let header = fs::read_to_string(e.path())
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned));
        let version_ok = header
            .as_deref()
            .is_some_and(|h| h.split_whitespace().next() == Some(&VERSION.to_string()));
        if !version_ok {
            let _ = fs::remove_file(e.path());
            continue;
        }
        let prev = header
            .and_then(|h| h.split_once(':').map(|(_, p)| p.to_owned()))
            .unwrap_or_default();
        let mtime = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(UNIX_EPOCH);
        list.push((name, prev, mtime));
    }
    list.sort_by_key(|(_, _, t)| *t);
    let next_of = |name: &str, list: &[(String, String, SystemTime)]| -> Option<String> {
        list.iter()
            .find(|(_, p, _)| p == name)
            .map(|(n, _, _)| n.clone())
    };
    let mut keep = Vec::new();
    for entry in &list {
        let obsolete = next_of(&entry.0, &list).is_some_and(|n| next_of(&n, &list).is_some());
        if obsolete {
            let _ = fs::remove_file(dir.join(&entry.0));
        } else {
            keep.push(entry.0.clone());
        }
    }
    let excess = keep.len().saturating_sub(MAX_SNAPSHOTS);
    for name in keep.iter().take(excess) {
        let _ = fs::remove_file(dir.join(name));
    }
}
