//! New mail: written to tmp/ under a unique name, fsynced, then renamed into new/
//! (delivery) or cur/ (APPEND). Nothing half-written is ever visible in new/ or cur/.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::filename::{UniqueName, WireCounter};
use super::mailbox::clean_keywords;
use super::{AppendResult, AppendSource, Flags, Result, fsutil, keywords, quota, uiddb};

/// A message safely in tmp/, with its final basename.
struct Staged {
    tmp: PathBuf,
    basename: String,
    size: u64,
    file: File,
}

impl Staged {
    fn discard(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes to tmp/ under a unique name and fsyncs. With `to_lf`, CRLF line ends become LF
/// on the way: Courier keeps Maildir files with LF line ends and serves every LF as CRLF,
/// so a file written with CRLF would reach its clients with CR CR LF.
fn stage(folder_dir: &Path, source: &mut dyn Read, to_lf: bool) -> io::Result<Staged> {
    let tmp_dir = folder_dir.join("tmp");
    loop {
        let name = UniqueName::new();
        let tmp = tmp_dir.join(name.tmp_name());
        let mut file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let r = (|| -> io::Result<Staged> {
            let mut w = Counting {
                inner: io::BufWriter::with_capacity(64 * 1024, &mut file),
                counter: WireCounter::default(),
            };
            if to_lf {
                let mut lf = LfWriter::new(&mut w);
                io::copy(source, &mut lf)?;
                lf.finish()?;
            } else {
                io::copy(source, &mut w)?;
            }
            w.flush()?;
            let wire = w.counter.wire_size();
            drop(w);
            file.sync_all()?;
            let m = file.metadata()?;
            Ok(Staged {
                tmp: tmp.clone(),
                basename: name.final_name(m.dev(), m.ino(), Some(m.len()), Some(wire)),
                size: m.len(),
                file: file.try_clone()?,
            })
        })();
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        return r;
    }
}

/// Writes through with every CRLF turned into LF (a CR alone stays).
struct LfWriter<W: Write> {
    inner: W,
    pending_cr: bool,
    buf: Vec<u8>,
}

impl<W: Write> LfWriter<W> {
    fn new(inner: W) -> LfWriter<W> {
        LfWriter {
            inner,
            pending_cr: false,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Writes a CR left at the very end.
    fn finish(mut self) -> io::Result<()> {
        if self.pending_cr {
            self.inner.write_all(b"\r")?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Write for LfWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.clear();
        for &b in data {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    self.buf.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                self.buf.push(b);
            }
        }
        self.inner.write_all(&self.buf)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes through while counting the CRLF size, so the name can carry `,W=`.
struct Counting<W: Write> {
    inner: W,
    counter: WireCounter,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.counter.feed(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether a file holds a CRLF anywhere (then it must be rewritten with LF).
fn has_crlf(path: &Path) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut last_cr = false;
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        if (last_cr && chunk[0] == b'\n') || chunk[..n].windows(2).any(|w| w == b"\r\n") {
            return Ok(true);
        }
        last_cr = chunk[n - 1] == b'\r';
    }
}

/// Takes over a file the caller already wrote into tmp/.
fn adopt(path: PathBuf) -> io::Result<Staged> {
    let mut file = fs::OpenOptions::new().read(true).write(true).open(&path)?;
    // One pass over the (freshly written, cached) bytes for the CRLF size.
    let wire = WireCounter::measure(&mut file)?;
    file.sync_all()?;
    let m = file.metadata()?;
    let name = UniqueName::new();
    Ok(Staged {
        basename: name.final_name(m.dev(), m.ino(), Some(m.len()), Some(wire)),
        size: m.len(),
        tmp: path,
        file,
    })
}

/// Delivery: tmp/ -> fsync -> new/, quota checked. Returns the new file's path.
pub(crate) fn deliver(root: &Path, folder_dir: &Path, source: &mut dyn Read) -> Result<PathBuf> {
    // Delivered bytes are kept as they come, as Courier's deliverquota keeps them.
    let staged = stage(folder_dir, source, false)?;
    if let Err(e) = quota::check(root, staged.size, 1) {
        staged.discard();
        return Err(e);
    }
    let dest = folder_dir.join("new").join(&staged.basename);
    if let Err(e) = fs::rename(&staged.tmp, &dest) {
        staged.discard();
        return Err(e.into());
    }
    fsutil::fsync_dir(&folder_dir.join("new"))?;
    quota::record(root, staged.size as i64, 1)?;
    Ok(dest)
}

/// APPEND: tmp/ -> fsync -> mtime = internal date -> cur/ with the flags, then a UID under
/// the folder lock. The source is consumed (a TmpFile is removed on failure).
pub(crate) fn append(
    root: &Path,
    folder_dir: &Path,
    source: AppendSource<'_>,
    flags: Flags,
    keywords: &[String],
    internal_date: Option<SystemTime>,
) -> Result<AppendResult> {
    let kw = match clean_keywords(keywords) {
        Ok(k) => k,
        Err(e) => {
            if let AppendSource::TmpFile(p) = source {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
    };
    // IMAP sends CRLF; stored as LF, as Courier stores what it is given by APPEND.
    let staged = match source {
        AppendSource::Bytes(mut b) => stage(folder_dir, &mut b, true)?,
        AppendSource::TmpFile(p) => {
            let converted = has_crlf(&p).and_then(|crlf| {
                if crlf {
                    let staged = stage(folder_dir, &mut File::open(&p)?, true)?;
                    let _ = fs::remove_file(&p);
                    Ok(staged)
                } else {
                    adopt(p.clone())
                }
            });
            match converted {
                Ok(s) => s,
                Err(e) => {
                    let _ = fs::remove_file(p);
                    return Err(e.into());
                }
            }
        }
    };
    let prepared = (|| -> Result<()> {
        quota::check(root, staged.size, 1)?;
        if let Some(t) = internal_date {
            staged.file.set_modified(t)?;
        }
        if !kw.is_empty() {
            keywords::write_update(folder_dir, &staged.basename, &kw)?;
        }
        Ok(())
    })();
    if let Err(e) = prepared {
        staged.discard();
        return Err(e);
    }
    let dest = folder_dir
        .join("cur")
        .join(format!("{}:2,{}", staged.basename, flags.to_info()));
    if let Err(e) = fs::rename(&staged.tmp, &dest) {
        staged.discard();
        return Err(e.into());
    }
    fsutil::fsync_dir(&folder_dir.join("cur"))?;
    let base = staged.basename.clone();
    let (db, uid) = uiddb::update(folder_dir, |db| {
        // Another session's scan may have numbered the file already (it sits in cur/).
        let known = db.entries.iter().rev().find(|(_, n)| *n == base);
        Ok(match known {
            Some((u, _)) => *u,
            None => {
                let u = db.next_uid;
                db.next_uid += 1;
                db.entries.push((u, base.clone()));
                u
            }
        })
    })?;
    quota::record(root, staged.size as i64, 1)?;
    Ok(AppendResult {
        uid_validity: db.uid_validity,
        uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_lf(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = LfWriter::new(&mut out);
        for c in chunks {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap();
        out
    }

    #[test]
    fn crlf_becomes_lf_and_lone_cr_stays() {
        assert_eq!(to_lf(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(to_lf(&[b"a\r", b"\nb\r"]), b"a\nb\r");
        assert_eq!(to_lf(&[b"a\rb\n\r\r\n"]), b"a\rb\n\r\n");
    }
}
