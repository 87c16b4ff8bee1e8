//! New mail: written to tmp/ under a unique name, fsynced, then renamed into new/
//! (delivery) or cur/ (APPEND). Nothing half-written is ever visible in new/ or cur/.

use std::collections::HashMap;
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

fn stage(folder_dir: &Path, source: &mut dyn Read) -> io::Result<Staged> {
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
            io::copy(source, &mut w)?;
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

/// Takes over a file the caller already wrote into tmp/.
fn adopt(path: PathBuf) -> io::Result<Staged> {
    let mut file = fs::OpenOptions::new().read(true).write(true).open(&path)?;
    // One pass over the (freshly written, cached) bytes for the CRLF size.
    let mut counter = WireCounter::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        counter.feed(&chunk[..n]);
    }
    file.sync_all()?;
    let m = file.metadata()?;
    let name = UniqueName::new();
    Ok(Staged {
        basename: name.final_name(m.dev(), m.ino(), Some(m.len()), Some(counter.wire_size())),
        size: m.len(),
        tmp: path,
        file,
    })
}

/// Delivery: tmp/ -> fsync -> new/, quota checked. Returns the new file's path.
pub(crate) fn deliver(root: &Path, folder_dir: &Path, source: &mut dyn Read) -> Result<PathBuf> {
    let staged = stage(folder_dir, source)?;
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
    let staged = match source {
        AppendSource::Bytes(mut b) => stage(folder_dir, &mut b)?,
        AppendSource::TmpFile(p) => match adopt(p.clone()) {
            Ok(s) => s,
            Err(e) => {
                let _ = fs::remove_file(p);
                return Err(e.into());
            }
        },
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
        let known: HashMap<&str, u32> = db.entries.iter().map(|(u, n)| (n.as_str(), *u)).collect();
        Ok(match known.get(base.as_str()) {
            Some(u) => *u,
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
