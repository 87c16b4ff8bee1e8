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
//! "unknown": the callers then count what is still in `new/`, as Courier does. Courier
//! ignores the file.

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
/// `up_to` are \Recent in this session and in no other. `None` when the mark was unknown;
/// it is started at `up_to` so the next session claims only later mail.
pub fn claim(folder_dir: &Path, uid_validity: u32, up_to: u32) -> io::Result<Option<u32>> {
    let _lock = DirFlock::acquire(folder_dir)?;
    let mark = read_mark(folder_dir, uid_validity)?;
    match mark {
        Some(first) if first >= up_to => Ok(Some(up_to)),
        _ => {
            write_mark(folder_dir, uid_validity, up_to)?;
            Ok(mark)
        }
    }
}

/// After APPEND, COPY or MOVE put a message with UID `uid` into the folder: when the mark
/// is unknown (no postern session has selected the folder yet), starts it at `uid`, so
/// the message is unclaimed (it never passes through new/, which is what an unknown mark
/// falls back to). A failure only costs the message its \Recent, so it is logged.
pub fn keep_unclaimed(folder_dir: &Path, uid_validity: u32, uid: u32) {
    let r = (|| {
        let _lock = DirFlock::acquire(folder_dir)?;
        if read_mark(folder_dir, uid_validity)?.is_none() {
            write_mark(folder_dir, uid_validity, uid)?;
        }
        io::Result::Ok(())
    })();
    if let Err(e) = r {
        log::warn!("{}: cannot start {FILE}: {e}", folder_dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_once_and_forgets_other_uidvalidity() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("tmp")).unwrap();
        assert_eq!(claim(d.path(), 7, 5).unwrap(), None);
        assert_eq!(peek(d.path(), 7), Some(5));
        assert_eq!(claim(d.path(), 7, 5).unwrap(), Some(5), "nothing new");
        assert_eq!(claim(d.path(), 7, 9).unwrap(), Some(5));
        assert_eq!(claim(d.path(), 7, 9).unwrap(), Some(9));
        assert_eq!(claim(d.path(), 7, 3).unwrap(), Some(3), "never moves back");
        assert_eq!(peek(d.path(), 7), Some(9));
        assert_eq!(peek(d.path(), 8), None);
        assert_eq!(claim(d.path(), 8, 2).unwrap(), None);
    }
}
