//! `postern-recent`: which messages of a folder some session has already been shown as
//! \Recent, so that each is \Recent in exactly one session (RFC 3501 §2.3.2: "the first
//! session to be notified"), across processes.
//!
//! The state is one high-water mark: the first UID no session has claimed yet. A session
//! that selects the folder read-write (or learns of new mail while it has it selected)
//! claims every message from the mark up to the last UID it sees, by moving the mark past
//! them under the folder's [`DirFlock`]; EXAMINE and STATUS only read it. The mark is
//! written (tmp/ + rename) before the session tells its client anything, so a session
//! killed at any point can only make messages not recent, never recent twice. (Without
//! an fsync: a power loss may bring back an older mark, which is the price of not
//! syncing the disk at every SELECT.)
//!
//! Format: `postern-recent 1 <uidvalidity> <first unclaimed uid>`. A mark for another
//! UIDVALIDITY (the UID database was rebuilt, the folder renamed) or a missing file means
//! "unknown": the callers then count what is still in `new/`, as Courier does (moving a
//! file out of new/ succeeds for one session only, so that is exclusive too). The file is
//! started by the first APPEND, COPY or MOVE into the folder, whose mail never passes
//! through new/ ([`keep_unclaimed`]). Courier ignores it.

use std::io;
use std::path::Path;

use super::fsutil;
use super::lock::DirFlock;

pub const FILE: &str = "postern-recent";

/// The first unclaimed UID recorded for `uid_validity`, if any.
fn read_mark(folder_dir: &Path, uid_validity: u32) -> io::Result<Option<u32>> {
    let Some(bytes) = fsutil::read_optional(&folder_dir.join(FILE))? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let fields: Vec<&str> = text.trim_end_matches('\n').split(' ').collect();
    Ok(match fields.as_slice() {
        ["postern-recent", "1", v, mark] if v.parse() == Ok(uid_validity) => mark.parse().ok(),
        _ => None,
    })
}

fn write_mark(folder_dir: &Path, uid_validity: u32, mark: u32) -> io::Result<()> {
    let text = format!("postern-recent 1 {uid_validity} {mark}\n");
    fsutil::replace_cache(
        &folder_dir.join("tmp"),
        &folder_dir.join(FILE),
        text.as_bytes(),
    )
}

/// EXAMINE and STATUS: the first UID nobody has claimed, without claiming anything.
/// `None` when unknown (see the module documentation).
pub fn peek(folder_dir: &Path, uid_validity: u32) -> Option<u32> {
    read_mark(folder_dir, uid_validity).ok().flatten()
}

/// Claims for this session every unclaimed message with a UID below `up_to` (one past the
/// last UID the session shows). Returns the first UID claimed: messages from it up to
/// `up_to` are \Recent in this session and in no other. `None` when the mark is unknown:
/// then nothing is written (a Maildir only read stays as Courier left it) and the caller
/// counts the messages it moved out of new/ itself, which is exclusive too.
pub fn claim(folder_dir: &Path, uid_validity: u32, up_to: u32) -> io::Result<Option<u32>> {
    let _lock = DirFlock::acquire(folder_dir)?;
    let Some(first) = read_mark(folder_dir, uid_validity)? else {
        return Ok(None);
    };
    if first < up_to {
        write_mark(folder_dir, uid_validity, up_to)?;
    }
    Ok(Some(first.min(up_to)))
}

/// After APPEND, COPY or MOVE put a message with UID `uid` into the folder: when the mark
/// is unknown, starts it so that this message (which never passes through new/, what an
/// unknown mark falls back to) is unclaimed, and so are the messages still waiting in
/// new/ that already have a UID. A failure only costs messages their \Recent, so it is
/// logged.
pub fn keep_unclaimed(folder_dir: &Path, uid_validity: u32, uid: u32) {
    let r = (|| {
        let _lock = DirFlock::acquire(folder_dir)?;
        if read_mark(folder_dir, uid_validity)?.is_none() {
            let first = lowest_uid_in_new(folder_dir)?.map_or(uid, |u| u.min(uid));
            write_mark(folder_dir, uid_validity, first)?;
        }
        io::Result::Ok(())
    })();
    if let Err(e) = r {
        log::warn!("{}: cannot start {FILE}: {e}", folder_dir.display());
    }
}

/// The UID database got a new UIDVALIDITY with the same UIDs (RENAME): the mark goes
/// with it, so unclaimed mail stays unclaimed and claimed mail claimed.
pub fn renew(folder_dir: &Path, old: u32, new: u32) -> io::Result<()> {
    let _lock = DirFlock::acquire(folder_dir)?;
    if let Some(mark) = read_mark(folder_dir, old)? {
        write_mark(folder_dir, new, mark)?;
    }
    Ok(())
}

/// The lowest UID the database gives a file still in new/.
fn lowest_uid_in_new(folder_dir: &Path) -> io::Result<Option<u32>> {
    let waiting = fsutil::list_names(&folder_dir.join("new"))?;
    if waiting.is_empty() {
        return Ok(None);
    }
    let super::uiddb::DbState::Valid(db) = super::uiddb::read(folder_dir)? else {
        return Ok(None);
    };
    let waiting: std::collections::HashSet<&str> = waiting
        .iter()
        .map(|n| super::filename::split_info(n).0)
        .collect();
    Ok(db
        .entries
        .iter()
        .filter(|(_, name)| waiting.contains(name.as_str()))
        .map(|(u, _)| *u)
        .min())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_once_and_forgets_other_uidvalidity() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("tmp")).unwrap();
        assert_eq!(claim(d.path(), 7, 5).unwrap(), None);
        assert_eq!(
            peek(d.path(), 7),
            None,
            "an unknown mark is not started by a claim"
        );
        keep_unclaimed(d.path(), 7, 4);
        assert_eq!(claim(d.path(), 7, 5).unwrap(), Some(4));
        assert_eq!(peek(d.path(), 7), Some(5));
        assert_eq!(claim(d.path(), 7, 5).unwrap(), Some(5), "nothing new");
        assert_eq!(claim(d.path(), 7, 9).unwrap(), Some(5));
        assert_eq!(claim(d.path(), 7, 9).unwrap(), Some(9));
        assert_eq!(claim(d.path(), 7, 3).unwrap(), Some(3), "never moves back");
        assert_eq!(peek(d.path(), 7), Some(9));
        assert_eq!(peek(d.path(), 8), None);
        assert_eq!(claim(d.path(), 8, 2).unwrap(), None);
        keep_unclaimed(d.path(), 7, 2);
        assert_eq!(peek(d.path(), 7), Some(9), "a known mark stays");
    }
}
