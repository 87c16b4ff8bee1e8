//! `courierpop3dsizelist`: Courier's record of POP3 sizes and unique ids, in the Maildir
//! root, so that a client that leaves mail on the server never downloads it twice, even
//! across a switch between Courier and postern.
//!
//! Current format (version 3), one header line and one line per message:
//!
//! ```text
//! /3 <next uid> <uid validity>
//! <file name> <size with CRLF> <uid>:<uid validity>:<8-bit header 0|1>
//! ```
//!
//! Older files are read too: version 2 lacks `:<8-bit>`, version 1 has the header
//! `/1 <next uid>` and entries `<file> <size> <uid>` (UIDL `UID<n>`), and version 0 has no
//! header and entries `<file> <size>` (the UIDL is the escaped basename). Whatever is read
//! is written back as version 3 with each entry's own uid and validity, so the UIDL of
//! every message stays what it was. Entries are matched to messages by basename, since
//! the flags after `:2,` change.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::store::filename::{UniqueName, split_info};

pub const FILE: &str = "courierpop3dsizelist";
const VERSION: u32 = 3;

/// One message as the list remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full file name (with `:2,flags`) when it was recorded.
    pub file_name: String,
    pub size: u64,
    /// 0: a version 0 entry, whose UIDL is the escaped basename.
    pub uid: u64,
    /// 0: a version 1 entry, whose UIDL is `UID<n>`.
    pub uid_validity: u64,
    pub header_8bit: bool,
}

impl Entry {
    pub fn basename(&self) -> &str {
        split_info(&self.file_name).0
    }

    /// The UIDL string, exactly as Courier prints it for this entry.
    pub fn uidl(&self) -> String {
        uidl(self.basename(), self.uid, self.uid_validity)
    }

    fn as_line(&self) -> Line<'_> {
        Line {
            file_name: &self.file_name,
            size: self.size,
            uid: self.uid,
            uid_validity: self.uid_validity,
            header_8bit: self.header_8bit,
        }
    }
}

/// The UIDL Courier prints for an entry with this basename, uid and validity (uid 0: a
/// version 0 entry; validity 0: a version 1 entry). Made when a client asks, not kept
/// for every message.
pub fn uidl(basename: &str, uid: u64, uid_validity: u64) -> String {
    let mut out = String::new();
    let _ = write_uidl(&mut out, basename, uid, uid_validity);
    out
}

/// [`uidl`] written into `out` (a response line) without a string of its own.
pub fn write_uidl(
    out: &mut dyn std::fmt::Write,
    basename: &str,
    uid: u64,
    uid_validity: u64,
) -> std::fmt::Result {
    match (uid, uid_validity) {
        (0, _) => write_escaped_basename(out, basename),
        (n, 0) => write!(out, "UID{n}"),
        (n, v) => write!(out, "UID{n}-{v}"),
    }
}

/// One entry as read, its file name borrowed from the file's text: reading a list of
/// 10,000 entries at every login makes no string per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub file_name: &'a str,
    pub size: u64,
    pub uid: u64,
    pub uid_validity: u64,
    pub header_8bit: bool,
}

impl Line<'_> {
    pub fn basename(&self) -> &str {
        split_info(self.file_name).0
    }

    fn to_entry(self) -> Entry {
        Entry {
            file_name: self.file_name.to_owned(),
            size: self.size,
            uid: self.uid,
            uid_validity: self.uid_validity,
            header_8bit: self.header_8bit,
        }
    }
}

/// A whole list as read, borrowing from the file's text (see [`Line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines<'a> {
    /// The version the file was in (3 for new lists).
    pub version: u32,
    pub next_uid: u64,
    /// The validity new entries get: the time the list was first made.
    pub uid_validity: u64,
    pub lines: Vec<Line<'a>>,
}

impl<'a> Lines<'a> {
    /// A list for a Maildir that has none yet; `now` is the Unix time.
    pub fn new(now: u64) -> Lines<'a> {
        Lines {
            version: VERSION,
            next_uid: 1,
            uid_validity: now,
            lines: Vec::new(),
        }
    }

    /// Parse a file's text. `None` when the header is unusable (then, as Courier does,
    /// the list starts afresh with a new validity, so no old UIDL can come back for other
    /// mail). Lines that do not parse are skipped.
    pub fn parse(text: &'a str, now: u64) -> Option<Lines<'a>> {
        let (first, after_first) = text.split_once('\n').unwrap_or((text, ""));
        let first = first.trim_end_matches('\r');
        let mut list = Lines::new(now);
        let body = if let Some(header) = first.strip_prefix('/') {
            let mut words = header.split_ascii_whitespace();
            let version: u32 = words.next()?.parse().ok()?;
            if !(1..=VERSION).contains(&version) {
                return None;
            }
            list.version = version;
            list.next_uid = words.next()?.parse().ok()?;
            if version >= 2
                && let Some(v) = words.next()
            {
                list.uid_validity = v.parse().ok()?;
            }
            after_first
        } else if first.is_empty() {
            return None;
        } else {
            list.version = 0;
            text
        };
        list.lines.reserve(body.len() / 64);
        let mut from = 0;
        for end in memchr::memchr_iter(b'\n', body.as_bytes()).chain([body.len()]) {
            let line = body[from..end].trim_end_matches('\r');
            from = end + 1;
            if let Some(entry) = parse_entry(line, list.version) {
                list.lines.push(entry);
            }
        }
        // Never hand out a number twice, even if the header lags behind its entries.
        let highest = list.lines.iter().map(|e| e.uid).max().unwrap_or(0);
        list.next_uid = list.next_uid.max(highest + 1).max(1);
        Some(list)
    }
}

/// The file's bytes in the current version: the header, then one line per entry.
pub fn render<'a>(
    next_uid: u64,
    uid_validity: u64,
    entries: impl ExactSizeIterator<Item = Line<'a>>,
) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(32 + entries.len() * 80);
    let _ = writeln!(out, "/{VERSION} {next_uid} {uid_validity}");
    for e in entries {
        let _ = writeln!(
            out,
            "{} {} {}:{}:{}",
            e.file_name,
            e.size,
            e.uid,
            e.uid_validity,
            u8::from(e.header_8bit)
        );
    }
    out.into_bytes()
}

/// Courier's version 0 UIDL: the basename with bytes outside `!`..`~` and `'`, `"`, `+`
/// written as `+XX`.
fn write_escaped_basename(out: &mut dyn std::fmt::Write, base: &str) -> std::fmt::Result {
    for &b in base.as_bytes() {
        if !(0x21..=0x7e).contains(&b) || matches!(b, b'\'' | b'"' | b'+') {
            write!(out, "+{b:02X}")?;
        } else {
            out.write_char(b as char)?;
        }
    }
    Ok(())
}

/// The whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeList {
    /// The version the file was in (3 for new lists).
    pub version: u32,
    pub next_uid: u64,
    /// The validity new entries get: the time the list was first made.
    pub uid_validity: u64,
    pub entries: Vec<Entry>,
}

impl SizeList {
    /// A list for a Maildir that has none yet; `now` is the Unix time.
    pub fn new(now: u64) -> SizeList {
        SizeList {
            version: VERSION,
            next_uid: 1,
            uid_validity: now,
            entries: Vec::new(),
        }
    }

    /// Parse a file (see [`Lines::parse`]).
    pub fn parse(bytes: &[u8], now: u64) -> Option<SizeList> {
        let text = String::from_utf8_lossy(bytes);
        let lines = Lines::parse(&text, now)?;
        Some(SizeList {
            version: lines.version,
            next_uid: lines.next_uid,
            uid_validity: lines.uid_validity,
            entries: lines.lines.into_iter().map(Line::to_entry).collect(),
        })
    }

    /// Always the current version.
    pub fn to_bytes(&self) -> Vec<u8> {
        render(
            self.next_uid,
            self.uid_validity,
            self.entries.iter().map(Entry::as_line),
        )
    }

    /// A fresh entry for a message the list does not know.
    pub fn assign(&mut self, file_name: &str, size: u64, header_8bit: bool) -> Entry {
        let e = Entry {
            file_name: file_name.to_owned(),
            size,
            uid: self.next_uid,
            uid_validity: self.uid_validity,
            header_8bit,
        };
        self.next_uid += 1;
        e
    }
}

/// `text` split at its last `byte` (an ASCII byte, so both sides are whole characters).
fn rsplit_at(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = memchr::memrchr(byte, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

fn parse_entry(line: &str, version: u32) -> Option<Line<'_>> {
    let (rest, last) = rsplit_at(line, b' ')?;
    let (name, size, ids) = if version == 0 {
        (rest, last, None)
    } else {
        let (name, size) = rsplit_at(rest, b' ')?;
        (name, size, Some(last))
    };
    // Old lists may carry the `cur/` directory.
    let name = rsplit_at(name, b'/').map_or(name, |(_, n)| n);
    if name.is_empty() {
        return None;
    }
    let size: u64 = size.parse().ok()?;
    let (mut uid, mut uid_validity, mut header_8bit) = (0, 0, false);
    if let Some(ids) = ids {
        let mut parts = ids.split(':');
        uid = parts.next()?.parse().ok()?;
        if version >= 2 {
            uid_validity = parts.next()?.parse().ok()?;
        }
        if version >= 3 {
            header_8bit = parts.next()?.parse::<u8>().ok()? != 0;
        }
    }
    Some(Line {
        file_name: name,
        size,
        uid,
        uid_validity,
        header_8bit,
    })
}

/// The bytes of the list of the Maildir at `root`; `Ok(None)` when there is none.
pub fn read_bytes(root: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(root.join(FILE)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parse what [`read_bytes`] found; `None` when there is none or it is unusable (logged:
/// POP3 clients will see new UIDLs).
pub fn parse_read<'a>(root: &Path, text: Option<&'a str>, now: u64) -> Option<Lines<'a>> {
    let text = text?;
    let list = Lines::parse(text, now);
    if list.is_none() && !text.is_empty() {
        log::warn!(
            "{}: unreadable header, starting a new list (POP3 clients will see new UIDLs)",
            root.join(FILE).display()
        );
    }
    list
}

/// Replace the list: a new file in `tmp/`, fsync, rename over the old one, fsync of the
/// root, so a crash leaves the old list or the new one.
pub fn write(root: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = root
        .join("tmp")
        .join(format!("{}_pop3", UniqueName::new().tmp_name()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, root.join(FILE))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(root)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_3_round_trips_byte_for_byte() {
        let text = "/3 3 1795868708\n1700000000.M1P1.host,S=80:2,S 83 1:1795868708:0\n\
                    1700000001.M2P2.host:2, 12 2:1795868708:1\n";
        let list = SizeList::parse(text.as_bytes(), 5).unwrap();
        assert_eq!(list.version, 3);
        assert_eq!((list.next_uid, list.uid_validity), (3, 1795868708));
        assert_eq!(list.entries[0].basename(), "1700000000.M1P1.host,S=80");
        assert_eq!(list.entries[0].uidl(), "UID1-1795868708");
        assert!(list.entries[1].header_8bit);
        assert_eq!(String::from_utf8(list.to_bytes()).unwrap(), text);
    }

    #[test]
    fn version_2_1_and_0_keep_their_uidls() {
        let v2 = SizeList::parse(b"/2 8 1000\nm1:2,S 10 7:900\n", 5).unwrap();
        assert_eq!(v2.entries[0].uidl(), "UID7-900");
        assert_eq!((v2.next_uid, v2.uid_validity), (8, 1000));
        let again = SizeList::parse(&v2.to_bytes(), 5).unwrap();
        assert_eq!(again.entries[0].uidl(), "UID7-900");

        let v1 = SizeList::parse(b"/1 5\nm1:2, 10 4\n", 77).unwrap();
        assert_eq!(v1.entries[0].uidl(), "UID4");
        assert_eq!((v1.next_uid, v1.uid_validity), (5, 77));
        let again = SizeList::parse(&v1.to_bytes(), 5).unwrap();
        assert_eq!(again.entries[0].uidl(), "UID4");

        let v0 = SizeList::parse(b"cur/17.M1+x'y.host:2,S 10\n", 77).unwrap();
        assert_eq!(v0.version, 0);
        assert_eq!(v0.entries[0].uidl(), "17.M1+2Bx+27y.host");
        assert_eq!(v0.next_uid, 1);
        let again = SizeList::parse(&v0.to_bytes(), 5).unwrap();
        assert_eq!(again.entries[0].uidl(), "17.M1+2Bx+27y.host");
    }

    #[test]
    fn bad_headers_and_lines() {
        assert_eq!(SizeList::parse(b"", 1), None);
        assert_eq!(SizeList::parse(b"/9 1 1\n", 1), None);
        assert_eq!(SizeList::parse(b"/3 x 1\n", 1), None);
        let l = SizeList::parse(b"/3 2 50\ngarbage\nm 1 1:50:0\nn x 2:50:0\n", 1).unwrap();
        assert_eq!(l.entries.len(), 1);
        // The next uid never falls behind an entry.
        let l = SizeList::parse(b"/3 2 50\nm 1 9:50:0\n", 1).unwrap();
        assert_eq!(l.next_uid, 10);
    }

    #[test]
    fn assign_counts_up() {
        let mut l = SizeList::new(42);
        let a = l.assign("a:2,", 5, false);
        let b = l.assign("b:2,", 6, true);
        assert_eq!((a.uidl(), b.uidl()), ("UID1-42".into(), "UID2-42".into()));
        assert_eq!(l.next_uid, 3);
    }
}
