//! The maildrop of one POP3 session: INBOX of the account's Maildir, held exclusively
//! against other POP3 sessions, numbered once at login, with POP3 sizes and UIDLs from
//! `courierpop3dsizelist`, deletions kept in memory until QUIT.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::crlf::{self, Encoder};
use super::sizelist::{self, SizeList};
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
    uidl: String,
    deleted: bool,
}

/// What QUIT did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub messages: u64,
    /// Bytes on disk that were freed.
    pub bytes: u64,
}

pub struct Maildrop {
    mailbox: Mailbox,
    messages: Vec<Message>,
    _lock: File,
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

impl Maildrop {
    /// Lock and open INBOX of the Maildir at `root` (new mail moves to cur/), and give
    /// every message its POP3 size and UIDL, recording new ones in the size list.
    /// With `follow_symlinks`, linked Maildir directories are served too.
    pub fn open(root: &Path, follow_symlinks: bool) -> Result<Maildrop, OpenError> {
        let maildir = Maildir::open_with(root, follow_symlinks)?;
        let lock = lock(root)?;
        let mailbox = maildir.open_mailbox("INBOX", false)?;
        let now = now();
        let old = sizelist::read(root, now)
            .map_err(|e| OpenError::Temporary(format!("{}: {e}", sizelist::FILE)))?;
        let mut changed = old.as_ref().is_none_or(|l| l.version != 3);
        let mut list = old.unwrap_or_else(|| SizeList::new(now));
        let mut known: HashMap<String, sizelist::Entry> = HashMap::new();
        for e in std::mem::take(&mut list.entries) {
            known.entry(e.basename().to_owned()).or_insert(e);
        }
        let mut messages = Vec::with_capacity(mailbox.len());
        let mut is_new = Vec::with_capacity(mailbox.len());
        for (index, m) in mailbox.messages().enumerate() {
            let entry = match known.remove(m.basename) {
                Some(mut e) => {
                    // A flag change alone is no reason to rewrite the file (Courier
                    // matches by basename too), but a rewrite records the current name.
                    e.file_name = m.file_name().to_owned();
                    is_new.push(false);
                    e
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
                    list.assign(m.file_name(), size, header_8bit)
                }
            };
            messages.push(Message {
                index,
                size: entry.size,
                uidl: entry.uidl(),
                deleted: false,
            });
            list.entries.push(entry);
        }
        // Entries of messages that are gone.
        changed |= !known.is_empty();
        if changed && let Err(e) = sizelist::write(root, &list) {
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
    pub fn uidls(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| (i + 1, m.uidl.as_str()))
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

    pub fn uidl(&self, number: u64) -> Result<&str, NumberError> {
        Ok(&self.get(number)?.uidl)
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
        first.uidl = format!(
            "ENOMEM-{:X}-{:X}-{:X}",
            meta.mtime(),
            meta.dev(),
            meta.ino()
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
