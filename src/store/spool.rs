//! New messages on their way in: a [`Spool`] is a writer on a new, uniquely named file in a
//! folder's `tmp/`; [`Spool::finish`] turns it into a [`Spooled`] message that knows its
//! final basename (with `,S=` and `,W=`), and the store places that into `new/` or `cur/`
//! with one rename. Nothing half-written is ever visible in `new/` or `cur/`, and the file
//! in `tmp/` is removed whenever a `Spool` or `Spooled` is dropped before being placed — an
//! APPEND that fails, or a client that leaves in the middle of its literal, leaves no
//! litter.
//!
//! Messages from IMAP are spooled with [`LineEnds::ToLf`]: CRLF becomes LF as the bytes
//! stream through, so the spooled file is already the one to keep. Courier keeps Maildir
//! files with LF line ends and serves every LF as CRLF, so a file written with CRLF would
//! reach its clients with CR CR LF.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::filename::{UniqueName, WireCounter};
use super::fsutil;

/// How a spool treats line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnds {
    /// Every CRLF becomes LF (a CR alone stays): IMAP APPEND.
    ToLf,
    /// Bytes are kept as they come, as Courier's deliverquota keeps them: delivery.
    Keep,
}

/// Bytes gathered before each write to the file.
const BUFFER: usize = 64 * 1024;

/// A message being written into `tmp/`. Write it, then [`Spool::finish`]; dropped before
/// that, the file is removed.
#[derive(Debug)]
pub struct Spool {
    file: File,
    /// The file in tmp/; None once handed on.
    tmp: Option<PathBuf>,
    name: UniqueName,
    line_ends: LineEnds,
    /// A CR at the end of the last chunk, not yet written: it may be half of a CRLF whose
    /// LF starts the next chunk.
    pending_cr: bool,
    out: Vec<u8>,
    /// CRLF size of what is kept (every bare LF is served as CRLF).
    wire: WireCounter,
    /// Bytes given to the spool (for IMAP the literal's length).
    received: u64,
    /// The last byte given was a CR (to tell a bare LF from the end of a CRLF).
    last_cr: bool,
    /// What the file cannot give back as it was sent, see [`Spooled::kept_exactly`].
    altered: bool,
}

impl Spool {
    /// A new spool file in `tmp_dir`, through fsutil's one unique-name creator.
    pub(crate) fn create(tmp_dir: &Path, line_ends: LineEnds) -> io::Result<Spool> {
        let (file, tmp, name) = fsutil::create_unique_named(tmp_dir, "")?;
        Ok(Spool {
            file,
            tmp: Some(tmp),
            name,
            line_ends,
            pending_cr: false,
            out: Vec::with_capacity(BUFFER),
            wire: WireCounter::default(),
            received: 0,
            last_cr: false,
            altered: false,
        })
    }

    /// Notes a NUL or a bare LF in what was given ([`LineEnds::ToLf`] only): a LF alone
    /// would be served back as CRLF, and a NUL cannot be served in a plain literal.
    fn watch_octets(&mut self, data: &[u8]) {
        if self.line_ends != LineEnds::ToLf || self.altered || data.is_empty() {
            return;
        }
        let bare_lf = data.iter().enumerate().any(|(at, &b)| {
            b == b'\n'
                && !match at {
                    0 => self.last_cr,
                    _ => data[at - 1] == b'\r',
                }
        });
        self.altered = bare_lf || data.contains(&0);
        self.last_cr = data.last() == Some(&b'\r');
    }

    /// Writes what is buffered, a CR left at the very end included, and names the message.
    /// The file is not yet fsynced: that happens once, when it is placed.
    pub fn finish(mut self) -> io::Result<Spooled> {
        if self.pending_cr {
            self.pending_cr = false;
            self.out.push(b'\r');
        }
        self.write_out()?;
        let md = self.file.metadata()?;
        let basename = self.name.final_name(
            md.dev(),
            md.ino(),
            Some(md.len()),
            Some(self.wire.wire_size()),
        );
        Ok(Spooled {
            file: self.file.try_clone()?,
            tmp: self.tmp.take(),
            basename,
            size: md.len(),
            received: self.received,
            kept_exactly: !self.altered,
        })
    }

    /// Appends `data` to the output buffer, CRLF turned into LF when asked.
    fn convert(&mut self, data: &[u8]) {
        if self.line_ends == LineEnds::Keep {
            self.out.extend_from_slice(data);
            return;
        }
        let mut rest = data;
        if self.pending_cr && !rest.is_empty() {
            self.pending_cr = false;
            if rest.first() != Some(&b'\n') {
                self.out.push(b'\r');
            }
        }
        while let Some(at) = rest.iter().position(|&b| b == b'\r') {
            self.out.extend_from_slice(&rest[..at]);
            match rest.get(at + 1) {
                // CRLF: the CR goes, the LF is copied with what follows it.
                Some(b'\n') => {}
                Some(_) => self.out.push(b'\r'),
                None => self.pending_cr = true,
            }
            rest = &rest[at + 1..];
        }
        self.out.extend_from_slice(rest);
    }

    fn write_out(&mut self) -> io::Result<()> {
        self.wire.feed(&self.out);
        self.file.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.received += data.len() as u64;
        self.watch_octets(data);
        self.convert(data);
        if self.out.len() >= BUFFER {
            self.write_out()?;
        }
        Ok(data.len())
    }

    /// Writes the buffered bytes (a pending CR waits for [`Spool::finish`]).
    fn flush(&mut self) -> io::Result<()> {
        self.write_out()
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = self.tmp.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A whole message in `tmp/`, with its final basename. Dropped before it is placed, the
/// file is removed.
#[derive(Debug)]
pub struct Spooled {
    file: File,
    tmp: Option<PathBuf>,
    basename: String,
    size: u64,
    received: u64,
    kept_exactly: bool,
}

impl PartialEq for Spooled {
    fn eq(&self, other: &Spooled) -> bool {
        self.tmp == other.tmp && self.basename == other.basename
    }
}

impl Spooled {
    /// The basename it gets in `cur/` or `new/` (`,S=` and `,W=` included).
    pub fn basename(&self) -> &str {
        &self.basename
    }

    /// Bytes in the file (`,S=`; what the quota counts).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes the spool was given (for IMAP, the literal's length).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Served back (every LF as CRLF), the file gives exactly the octets the spool was
    /// given: there was no bare LF and no NUL. Always true for [`LineEnds::Keep`].
    pub fn kept_exactly(&self) -> bool {
        self.kept_exactly
    }

    /// Where the file is while it waits in `tmp/`.
    pub fn path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(Path::new(""))
    }

    /// The file's directory, `tmp/` of some folder.
    fn tmp_dir(&self) -> Option<&Path> {
        self.tmp.as_deref().and_then(Path::parent)
    }

    /// Makes the file final: the internal date (mtime) set while it is still in `tmp/`,
    /// fsync, one rename to `dir/file_name`, fsync of `dir`. No listing of `dir` can see
    /// the file before its date is right, so no cache can record another one.
    ///
    /// A file spooled in another folder's `tmp/` that cannot be renamed across file
    /// systems (a folder that is a link to another disk) is copied once into the
    /// target's `tmp/` first.
    pub(crate) fn place(
        mut self,
        dir: &Path,
        file_name: &str,
        internal_date: Option<SystemTime>,
    ) -> io::Result<PathBuf> {
        if let Some(t) = internal_date {
            self.file.set_modified(t)?;
        }
        // Spooled elsewhere (another Maildir's tmp/), it takes the target's sharing.
        fsutil::share_like_dir(&self.file, dir)?;
        self.file.sync_all()?;
        let dest = dir.join(file_name);
        let tmp = self.tmp.clone().unwrap_or_default();
        match fs::rename(&tmp, &dest) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
                return self.copy_across(dir, file_name, internal_date);
            }
            Err(e) => return Err(e),
        }
        self.tmp = None;
        fsutil::fsync_dir(dir)?;
        Ok(dest)
    }

    /// [`Spooled::place`] across file systems: a copy of the (already converted) file in
    /// the target folder's `tmp/`, placed from there.
    fn copy_across(
        mut self,
        dir: &Path,
        file_name: &str,
        internal_date: Option<SystemTime>,
    ) -> io::Result<PathBuf> {
        let target_tmp = dir
            .parent()
            .map(|folder| folder.join("tmp"))
            .unwrap_or_default();
        if self.tmp_dir() == Some(target_tmp.as_path()) {
            return Err(io::Error::from_raw_os_error(nix::libc::EXDEV));
        }
        let mut copy = Spool::create(&target_tmp, LineEnds::Keep)?;
        io::copy(&mut File::open(self.path())?, &mut copy)?;
        let mut copy = copy.finish()?;
        // The name stays the one given out (it may already be in the keywords file).
        copy.basename = std::mem::take(&mut self.basename);
        copy.received = self.received;
        copy.place(dir, file_name, internal_date)
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if let Some(p) = self.tmp.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Spools `chunks` (each one `write` call) and returns the file's bytes and its name.
    fn spool(chunks: &[&[u8]], line_ends: LineEnds) -> (Vec<u8>, Spooled) {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::create(d.path(), line_ends).unwrap();
        for c in chunks {
            assert_eq!(s.write(c).unwrap(), c.len());
        }
        let done = s.finish().unwrap();
        let mut bytes = Vec::new();
        File::open(done.path())
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        (bytes, done)
    }

    fn to_lf(chunks: &[&[u8]]) -> Vec<u8> {
        spool(chunks, LineEnds::ToLf).0
    }

    #[test]
    fn crlf_becomes_lf_and_lone_cr_stays() {
        assert_eq!(to_lf(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(to_lf(&[b"a\rb\n\r\r\n"]), b"a\rb\n\r\n");
        assert_eq!(to_lf(&[b"\r"]), b"\r");
        assert_eq!(to_lf(&[b"\r\r\r"]), b"\r\r\r");
        assert_eq!(to_lf(&[b""]), b"");
    }

    #[test]
    fn crlf_split_between_chunks() {
        // The CR ends one read, the LF starts the next.
        assert_eq!(to_lf(&[b"a\r", b"\nb\r"]), b"a\nb\r");
        assert_eq!(to_lf(&[b"a\r", b"\n"]), b"a\n");
        // A CR alone at a chunk's end stays when the next chunk does not start with LF.
        assert_eq!(to_lf(&[b"a\r", b"b"]), b"a\rb");
        assert_eq!(to_lf(&[b"a\r", b"\r", b"\n"]), b"a\r\n");
        // Empty chunks in between change nothing.
        assert_eq!(to_lf(&[b"a\r", b"", b"\nb"]), b"a\nb");
        assert_eq!(to_lf(&[b"\r", b"\n", b"\r", b"\n"]), b"\n\n");
    }

    #[test]
    fn every_split_of_a_message_gives_the_same_file() {
        let msg: &[u8] = b"Subject: x\r\n\r\nline\r\nlone\rcr\r\r\nbare\nend\r";
        let whole = to_lf(&[msg]);
        assert_eq!(whole, b"Subject: x\n\nline\nlone\rcr\r\nbare\nend\r");
        for i in 0..=msg.len() {
            for j in i..=msg.len() {
                let got = to_lf(&[&msg[..i], &msg[i..j], &msg[j..]]);
                assert_eq!(got, whole, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn kept_exactly_sees_bare_lf_and_nul_across_every_split() {
        let cases: [(&[u8], bool); 6] = [
            (b"a\r\nb\r\n", true),
            (b"a\rb\r\r\n\xff", true),
            (b"a\nb", false),
            (b"\n", false),
            (b"a\r\nb\0", false),
            (b"a\r\r\nb\r\n\n", false),
        ];
        for (msg, kept) in cases {
            for i in 0..=msg.len() {
                let (_, done) = spool(&[&msg[..i], &msg[i..]], LineEnds::ToLf);
                assert_eq!(done.kept_exactly(), kept, "{msg:?} split at {i}");
            }
        }
        let (_, done) = spool(&[b"a\n\0"], LineEnds::Keep);
        assert!(done.kept_exactly(), "delivery keeps every octet");
    }

    #[test]
    fn names_carry_file_and_wire_sizes() {
        let (bytes, done) = spool(&[b"a\r\nb\n", b"c\r"], LineEnds::ToLf);
        assert_eq!(bytes, b"a\nb\nc\r");
        assert_eq!(done.size(), 6);
        assert_eq!(done.received(), 7);
        // Served as a CRLF b CRLF c CR: 8 bytes.
        assert!(done.basename().ends_with(",S=6,W=8"), "{}", done.basename());

        let (bytes, done) = spool(&[b"a\r\nb\n"], LineEnds::Keep);
        assert_eq!(bytes, b"a\r\nb\n");
        assert!(done.basename().ends_with(",S=5,W=6"), "{}", done.basename());
    }

    #[test]
    fn dropped_spools_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spool::create(d.path(), LineEnds::ToLf).unwrap();
        s.write_all(&[b'x'; 100_000]).unwrap();
        drop(s);
        let mut s = Spool::create(d.path(), LineEnds::ToLf).unwrap();
        s.write_all(b"y\r\n").unwrap();
        drop(s.finish().unwrap());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn place_dates_then_renames() {
        let d = tempfile::tempdir().unwrap();
        for sub in ["tmp", "cur"] {
            fs::create_dir(d.path().join(sub)).unwrap();
        }
        let mut s = Spool::create(&d.path().join("tmp"), LineEnds::ToLf).unwrap();
        s.write_all(b"m\r\n").unwrap();
        let done = s.finish().unwrap();
        let name = format!("{}:2,S", done.basename());
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_203_674_400);
        let dest = done
            .place(&d.path().join("cur"), &name, Some(when))
            .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"m\n");
        assert_eq!(fs::metadata(&dest).unwrap().mtime(), 1_203_674_400);
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }
}
