//! New mail: spooled into tmp/ under a unique name ([`super::spool`]), then renamed into
//! new/ (delivery) or cur/ (APPEND). Nothing half-written is ever visible in new/ or cur/,
//! and the spooled file is the one kept: the last step is a rename, never a copy.

use rustc_hash::FxHashSet as HashSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::spool::{LineEnds, Spool, Spooled};
use super::{AppendResult, AppendSource, Flags, Result, keyword_writer, keywords, quota, uiddb};

/// Delivery: tmp/ -> fsync -> new/, quota checked. Returns the new file's path.
pub(crate) fn deliver(root: &Path, folder_dir: &Path, source: &mut dyn Read) -> Result<PathBuf> {
    // Delivered bytes are kept as they come, as Courier's deliverquota keeps them.
    let mut spool = Spool::create(&folder_dir.join("tmp"), LineEnds::Keep)?;
    io::copy(source, &mut spool)?;
    let spooled = spool.finish()?;
    let size = spooled.size();
    let counted = quota::counts_folder(folder_dir);
    if counted {
        quota::check(root, size, 1)?;
    }
    let name = spooled.basename().to_string();
    let dest = spooled.place(&folder_dir.join("new"), &name, None)?;
    if counted {
        quota::record(root, size as i64, 1)?;
    }
    super::fts::added(root, folder_dir, &name, &dest);
    Ok(dest)
}

/// An APPEND message in tmp/: the caller's spool, or bytes spooled here (with LF line
/// ends, as Courier stores what it is given by APPEND).
fn spooled(folder_dir: &Path, source: AppendSource<'_>) -> io::Result<Spooled> {
    match source {
        AppendSource::Spooled(spooled) => Ok(spooled),
        AppendSource::Bytes(bytes) => {
            let mut spool = Spool::create(&folder_dir.join("tmp"), LineEnds::ToLf)?;
            spool.write_all(bytes)?;
            spool.finish()
        }
    }
}

/// APPEND: the spooled file gets the internal date (mtime) while still in tmp/, is
/// fsynced and renamed into cur/ with the flags, then gets a UID under the folder lock.
/// The source is consumed: on any failure its file is removed.
pub(crate) fn append(
    root: &Path,
    folder_dir: &Path,
    source: AppendSource<'_>,
    flags: Flags,
    keywords: &[String],
    internal_date: Option<SystemTime>,
) -> Result<AppendResult> {
    let kw = keywords::clean(keywords)?;
    let staged = spooled(folder_dir, source)?;
    let size = staged.size();
    // What this adds to the quota (nothing in Trash).
    let (bytes, count) = match quota::counts_folder(folder_dir) {
        true => (size, 1),
        false => (0, 0),
    };
    quota::check(root, bytes, count)?;
    let base = staged.basename().to_string();
    if !kw.is_empty() {
        keyword_writer::record_new(folder_dir, &base, &kw)?;
    }
    let file_name = format!("{base}:2,{}", flags.to_info());
    staged.place(&folder_dir.join("cur"), &file_name, internal_date)?;
    super::fts::added(
        root,
        folder_dir,
        &base,
        &folder_dir.join("cur").join(&file_name),
    );
    // Numbered by appending one line when the database allows it, else by a full update.
    let one: HashSet<&str> = [base.as_str()].into_iter().collect();
    let appended = uiddb::sync_few(folder_dir, &one, false)?
        .and_then(|a| Some((a.uid_validity, *a.uids.get(&base)?)));
    if let Some((uid_validity, uid)) = appended {
        quota::record(root, bytes as i64, count as i64)?;
        return Ok(AppendResult {
            uid_validity,
            uid,
            basename: base,
            charged: (bytes, count),
        });
    }
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
    quota::record(root, bytes as i64, count as i64)?;
    Ok(AppendResult {
        uid_validity: db.uid_validity,
        uid,
        basename: base,
        charged: (bytes, count),
    })
}
