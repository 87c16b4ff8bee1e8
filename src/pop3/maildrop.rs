//! The maildrop of one POP3 session: INBOX of the account's Maildir, held exclusively
//! against other POP3 sessions from login, numbered once at the first command that needs
//! the messages, with POP3 sizes and UIDLs from
//! `courierpop3dsizelist`, deletions kept in memory until QUIT.

// Keys are file names from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::crlf::{self, Encoder};
use super::sizelist::{self, Line, Lines};
use crate::store::{Flags, Mailbox, Maildir, StoreError};

/// The file whose flock() says "a POP3 session holds this maildrop". The kernel drops
/// the lock with the process, so nothing is ever left behind to clean up.
pub const LOCK_FILE: &str = "postern-pop3.lock";

/// Why the maildrop could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another POP3 session holds it.
    InUse,
    /// Worth trying again later (I/O trouble).
    Temporary(String),
    /// Will not get better by itself (no Maildir there).
    Permanent(String),
}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> OpenError {
        match e {
            StoreError::NoSuchFolder(m) => OpenError::Permanent(m),
            StoreError::InvalidName(m) => OpenError::Permanent(m),
            other => OpenError::Temporary(other.to_string()),
        }
    }
}

/// Why a message number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    NoSuchMessage,
    Deleted,
}

/// One message as the session numbers it.
#[derive(Debug, Clone)]
struct Message {
    /// Index in the mailbox view.
    index: usize,
    /// Size with CRLF line ends.
    size: u64,
    uidl: Uidl,
    /// Courier's mark for a header with 8-bit bytes, kept for a rewrite of the list.
    header_8bit: bool,
    deleted: bool,
}

/// What a message's UIDL is made from; the string itself is made only when a client
/// asks (UIDL), not at login for every message.
#[derive(Debug, Clone)]
enum Uidl {
    /// A size list entry's numbers (see [`sizelist::uidl`]).
    Listed { uid: u64, uid_validity: u64 },
    /// Courier's stand-in when the list cannot be saved.
    Fixed(Box<str>),
}

/// A message's UIDL as the client sees it, written straight into the response line.
pub enum UidlText<'a> {
    Numbered {
        uid: u64,
        uid_validity: u64,
    },
    /// A version 0 entry: the escaped basename.
    Basename(&'a str),
    Fixed(&'a str),
}

impl std::fmt::Display for UidlText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            UidlText::Numbered { uid, uid_validity } => {
                sizelist::write_uidl(f, "", uid, uid_validity)
            }
            UidlText::Basename(base) => sizelist::write_uidl(f, base, 0, 0),
            UidlText::Fixed(s) => f.write_str(s),
        }
    }
}

/// What QUIT did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub messages: u64,
    /// Bytes on disk that were freed.
    pub bytes: u64,
}

/// Fields drop in this order: the POP3 lock goes first, so a client that reconnects
/// right after QUIT is not refused while this session's folder writes its index.
pub struct Maildrop {
    _lock: File,
    mailbox: Mailbox,
    messages: Vec<Message>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Take the POP3 lock of the Maildir at `root`, without waiting.
fn lock(root: &Path) -> Result<File, OpenError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(root.join(LOCK_FILE))
        .map_err(|e| OpenError::Temporary(format!("{}: {e}", root.join(LOCK_FILE).display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(OpenError::InUse),
        Err(TryLockError::Error(e)) => Err(OpenError::Temporary(format!(
            "{}: {e}",
            root.join(LOCK_FILE).display()
        ))),
    }
}

/// A maildrop this session holds (RFC 1939 §4: the lock is what PASS answers for) but
/// has not numbered yet: that happens at the first command that needs the messages
/// ([`Locked::number`]), so a login costs the same whatever the maildrop holds, and a
/// client that only checks its password costs no listing at all.
pub struct Locked {
    root: PathBuf,
    maildir: Maildir,
    lock: File,
}

impl Locked {
    /// Takes the POP3 lock of the Maildir at `root`, without waiting. With
    /// `follow_symlinks`, linked Maildir directories are served too.
    pub fn take(root: &Path, follow_symlinks: bool) -> Result<Locked, OpenError> {
        let maildir = Maildir::open_with(root, follow_symlinks)?;
        let lock = lock(root)?;
        Ok(Locked {
            root: root.to_path_buf(),
            maildir,
            lock,
        })
    }

    /// Opens INBOX (new mail moves to cur/) and gives every message its POP3 size and
    /// UIDL, recording new ones in the size list. The list is rewritten only when it
    /// gained or lost an entry or is in an older version: a login to an unchanged
    /// maildrop reads it and writes nothing.
    pub fn number(self) -> Result<Maildrop, OpenError> {
        Maildrop::open_locked(&self.root, &self.maildir, self.lock)
    }
}

impl Maildrop {
    fn open_locked(root: &Path, maildir: &Maildir, lock: File) -> Result<Maildrop, OpenError> {
        let mailbox = maildir.open_mailbox("INBOX", false)?;
        let now = now();
        let bytes = sizelist::read_bytes(root)
            .map_err(|e| OpenError::Temporary(format!("{}: {e}", sizelist::FILE)))?;
        // Courier writes ASCII: the plain check is much faster than the lossy one.
        let text = bytes.as_deref().map(|b| match std::str::from_utf8(b) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(b),
        });
        let old = sizelist::parse_read(root, text.as_deref(), now);
        let mut changed = old.as_ref().is_none_or(|l| l.version != 3);
        let mut list = old.unwrap_or_else(|| Lines::new(now));
        let (found, unmatched) = match_lines(&mailbox, &list.lines);
        // Entries of messages that are gone.
        changed |= unmatched > 0;
        let mut messages = Vec::with_capacity(mailbox.len());
        let mut is_new = Vec::with_capacity(mailbox.len());
        for (index, line) in found.into_iter().enumerate() {
            let message = match line {
                // A flag change alone is no reason to rewrite the file (Courier matches by
                // basename too), but a rewrite records the current name (see `save`).
                Some(j) => {
                    let l = &list.lines[j as usize];
                    is_new.push(false);
                    Message {
                        index,
                        size: l.size,
                        uidl: Uidl::Listed {
                            uid: l.uid,
                            uid_validity: l.uid_validity,
                        },
                        header_8bit: l.header_8bit,
                        deleted: false,
                    }
                }
                None => {
                    let (size, header_8bit) = match measure(&mailbox, index) {
                        Ok(v) => v,
                        // Gone since the scan: another session removed it.
                        Err(StoreError::NoSuchMessage) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    changed = true;
                    is_new.push(true);
                    let uid = list.next_uid;
                    list.next_uid += 1;
                    Message {
                        index,
                        size,
                        uidl: Uidl::Listed {
                            uid,
                            uid_validity: list.uid_validity,
                        },
                        header_8bit,
                        deleted: false,
                    }
                }
            };
            messages.push(message);
        }
        if changed && let Err(e) = save(root, &mailbox, &messages, &list) {
            log::error!(
                "{}: cannot save {}: {e}; new messages stay hidden until it can be saved",
                root.display(),
                sizelist::FILE
            );
            fallback_without_new(&mailbox, &mut messages, &is_new);
        }
        Ok(Maildrop {
            mailbox,
            messages,
            _lock: lock,
        })
    }

    /// Messages not marked deleted, and their total size.
    pub fn stat(&self) -> (usize, u64) {
        self.messages
            .iter()
            .filter(|m| !m.deleted)
            .fold((0, 0), |(n, s), m| (n + 1, s + m.size))
    }

    /// `(number, size)` of each message not marked deleted.
    pub fn list(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (i + 1, m.size))
    }

    /// `(number, uidl)` of each message not marked deleted.
    pub fn uidls(&self) -> impl Iterator<Item = (usize, UidlText<'_>)> + '_ {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (i + 1, self.uidl_of(m)))
    }

    fn uidl_of<'a>(&'a self, m: &'a Message) -> UidlText<'a> {
        match m.uidl {
            // Only a version 0 entry needs the name (and only then is it looked up).
            Uidl::Listed { uid: 0, .. } => {
                UidlText::Basename(self.mailbox.message(m.index).basename)
            }
            Uidl::Listed { uid, uid_validity } => UidlText::Numbered { uid, uid_validity },
            Uidl::Fixed(ref s) => UidlText::Fixed(s),
        }
    }

    fn get(&self, number: u64) -> Result<&Message, NumberError> {
        let i = usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .ok_or(NumberError::NoSuchMessage)?;
        let m = self.messages.get(i).ok_or(NumberError::NoSuchMessage)?;
        if m.deleted {
            return Err(NumberError::Deleted);
        }
        Ok(m)
    }

    pub fn size(&self, number: u64) -> Result<u64, NumberError> {
        Ok(self.get(number)?.size)
    }

    pub fn uidl(&self, number: u64) -> Result<UidlText<'_>, NumberError> {
        Ok(self.uidl_of(self.get(number)?))
    }

    /// Open a message for RETR / TOP (checked number).
    pub fn open_message(&self, number: u64) -> Result<Result<File, StoreError>, NumberError> {
        let m = self.get(number)?;
        Ok(self.mailbox.open_message(m.index))
    }

    /// Courier marks a message \Seen once RETR has sent all of it (not for TOP).
    pub fn mark_seen(&mut self, number: u64) {
        let Ok(m) = self.get(number) else { return };
        let index = m.index;
        let entry = self.mailbox.message(index);
        if entry.flags.contains(Flags::SEEN) {
            return;
        }
        let (flags, keywords) = (entry.flags | Flags::SEEN, entry.keywords.to_vec());
        if let Err(e) = self.mailbox.set_flags(index, flags, &keywords) {
            log::debug!("cannot mark message {number} seen: {e}");
        }
    }

    pub fn delete(&mut self, number: u64) -> Result<(), NumberError> {
        self.get(number)?;
        self.messages[number as usize - 1].deleted = true;
        Ok(())
    }

    pub fn reset(&mut self) {
        for m in &mut self.messages {
            m.deleted = false;
        }
    }

    /// The UPDATE state: remove the messages marked deleted, through the store (so IMAP
    /// sessions see them expunged). Each is first flagged \Deleted, then expunged; a
    /// crash in between leaves flagged messages, never loses an unmarked one.
    pub fn update(&mut self) -> Result<Removed, (Removed, StoreError)> {
        let mut uids = Vec::new();
        let mut removed = Removed::default();
        let mut first_error = None;
        for m in self.messages.iter().filter(|m| m.deleted) {
            let entry = self.mailbox.message(m.index);
            let (uid, size) = (entry.uid, entry.size);
            if !entry.flags.contains(Flags::DELETED) {
                let (flags, keywords) = (entry.flags | Flags::DELETED, entry.keywords.to_vec());
                match self.mailbox.set_flags(m.index, flags, &keywords) {
                    Ok(()) => {}
                    // Someone else removed it already.
                    Err(StoreError::NoSuchMessage) => continue,
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue;
                    }
                }
            }
            uids.push(uid);
            removed.messages += 1;
            removed.bytes += size;
        }
        if !uids.is_empty()
            && let Err(e) = self.mailbox.expunge(Some(&uids))
        {
            return Err((Removed::default(), e));
        }
        match first_error {
            None => Ok(removed),
            Some(e) => Err((removed, e)),
        }
    }
}

/// For each message of the mailbox (by index), the list entry with its basename, and
/// how many entries (of basenames no message has) matched nothing.
///
/// When a basename is listed twice the first entry counts, as it always has. The list is
/// written in the mailbox's order, so the two are walked in step comparing names: an
/// entry that lines up with the message, with every entry before it taken, is the first
/// with that name. Only a list out of step (a message gone, a list Courier wrote) sends
/// the walk to a lookup by name, built once; an unchanged maildrop hashes no name.
fn match_lines(mailbox: &Mailbox, lines: &[Line]) -> (Vec<Option<u32>>, usize) {
    let mut walk = Walk {
        lines,
        used: vec![false; lines.len()],
        all_used_below: 0,
        by_name: None,
    };
    let mut next = 0;
    let found: Vec<Option<u32>> = mailbox
        .messages()
        .map(|m| {
            let in_step = next == walk.all_used_below
                && lines.get(next).is_some_and(|l| l.basename() == m.basename);
            let j = if in_step {
                next
            } else {
                walk.first_unused_named(m.basename)?
            };
            walk.take(j);
            next = j + 1;
            Some(j as u32)
        })
        .collect();
    let unmatched = if walk.all_used_below == lines.len() {
        0
    } else {
        (0..lines.len())
            .filter(|&j| !walk.used[j] && walk.names().get(lines[j].basename()) == Some(&j))
            .count()
    };
    (found, unmatched)
}

/// The state of [`match_lines`].
struct Walk<'l, 'a> {
    lines: &'l [Line<'a>],
    used: Vec<bool>,
    /// Every entry below this one is taken.
    all_used_below: usize,
    /// Basename -> its first entry, built on first need.
    by_name: Option<HashMap<&'l str, usize>>,
}

impl<'l> Walk<'l, '_> {
    fn names(&mut self) -> &HashMap<&'l str, usize> {
        let lines = self.lines;
        self.by_name.get_or_insert_with(|| {
            let mut names = HashMap::with_capacity_and_hasher(lines.len(), Default::default());
            for (j, l) in lines.iter().enumerate() {
                names.entry(l.basename()).or_insert(j);
            }
            names
        })
    }

    fn first_unused_named(&mut self, basename: &str) -> Option<usize> {
        let j = *self.names().get(basename)?;
        (!self.used[j]).then_some(j)
    }

    fn take(&mut self, j: usize) {
        self.used[j] = true;
        while self.used.get(self.all_used_below) == Some(&true) {
            self.all_used_below += 1;
        }
    }
}

/// Replace the list with one entry per message, under each message's current name.
fn save(root: &Path, mailbox: &Mailbox, messages: &[Message], list: &Lines) -> io::Result<()> {
    let entries = messages.iter().map(|m| {
        let (uid, uid_validity) = match m.uidl {
            Uidl::Listed { uid, uid_validity } => (uid, uid_validity),
            Uidl::Fixed(_) => (0, 0),
        };
        Line {
            file_name: mailbox.message(m.index).file_name(),
            size: m.size,
            uid,
            uid_validity,
            header_8bit: m.header_8bit,
        }
    });
    sizelist::write(
        root,
        &sizelist::render(list.next_uid, list.uid_validity, entries),
    )
}

fn measure(mailbox: &Mailbox, index: usize) -> Result<(u64, bool), StoreError> {
    let mut f = mailbox.open_message(index)?;
    Ok(crlf::measure(&mut f)?)
}

/// The size list could not be saved (disk full?): numbers handed out now would be
/// handed out again next time, so new messages stay hidden. If nothing would be left,
/// Courier shows the first message alone with an id made from its inode; so do we.
fn fallback_without_new(mailbox: &Mailbox, messages: &mut Vec<Message>, is_new: &[bool]) {
    let had_any = !messages.is_empty();
    let first = messages.first().cloned();
    let mut flags = is_new.iter();
    messages.retain(|_| !flags.next().copied().unwrap_or(true));
    if messages.is_empty() && had_any {
        let Some(mut first) = first else { return };
        let Ok(meta) = mailbox
            .open_message(first.index)
            .and_then(|f| Ok(f.metadata()?))
        else {
            return;
        };
        first.uidl = Uidl::Fixed(
            format!(
                "ENOMEM-{:X}-{:X}-{:X}",
                meta.mtime(),
                meta.dev(),
                meta.ino()
            )
            .into(),
        );
        messages.push(first);
    }
}

/// Stream a message (or its TOP) to `sink` as POP3 wire bytes, without the final `.`
/// line. Returns the bytes sent.
pub fn send_message(
    file: &mut File,
    top: Option<u64>,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut enc = Encoder::new(true, top);
    super::crlf::pump(file, &mut enc, sink)
}
