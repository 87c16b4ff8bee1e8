//! Object identifiers (RFC 8474, OBJECTID): MAILBOXID for folders, EMAILID for messages.
//!
//! MAILBOXID is kept in a file `postern-mailboxid` in the folder's own directory (the
//! Maildir root for INBOX), made the first time it is asked for and never rewritten.
//! Kept there it follows the folder through RENAME (the directory is renamed, by postern
//! or by Courier) and goes with it at DELETE, so a folder made again under the old name
//! gets a new one (RFC 8474 §4). Courier ignores the file, as it ignores postern's other
//! per-folder files.
//!
//! EMAILID needs no file: it comes from the message's unique basename, which no flag
//! change alters. A COPY or MOVE makes a new basename for the copy, so the copy carries
//! its source's EMAILID in the name as `,E=<id>`; a name without `,E=` gets an EMAILID
//! derived from the basename itself. RFC 8474 §5.1 requires the same EMAILID on both
//! sides of a MOVE's COPYUID pairing; for COPY it only requires that messages sharing an
//! EMAILID share their immutable content, which a copy does, so a copy keeps it too and
//! a client need not fetch the copy again. Only postern's copies carry `,E=`: a copy
//! Courier makes gets a new name and so a new EMAILID, which RFC 8474 allows. Courier keeps unknown `,X=` fields of a name
//! through its flag renames, as it keeps `,W=`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::filename::split_info;
use super::fsutil;

/// The file in a folder's directory that holds its MAILBOXID.
pub const MAILBOX_FILE: &str = "postern-mailboxid";

/// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")` (RFC 8474 §7).
pub fn is_object_id(id: &str) -> bool {
    (1..=255).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The MAILBOXID of the folder whose directory is `folder_dir`, made now when it has
/// none. Two sessions asking at once agree: the new id is written to `tmp/` and linked
/// into place, and the one whose link loses reads the winner's.
pub fn mailbox_id(folder_dir: &Path) -> io::Result<String> {
    let path = folder_dir.join(MAILBOX_FILE);
    if let Some(id) = read_mailbox_id(&path)? {
        return Ok(id);
    }
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes)?;
    let id = format!("F{}", hex(&bytes));
    let (mut file, tmp) = fsutil::create_unique(&folder_dir.join("tmp"), ".postern-mailboxid")?;
    let linked = (|| {
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_all()?;
        fs::hard_link(&tmp, &path)
    })();
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            fsutil::fsync_dir(folder_dir)?;
            Ok(id)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_mailbox_id(&path)?
            .ok_or_else(|| io::Error::other(format!("{} holds no MAILBOXID", path.display()))),
        Err(e) => Err(e),
    }
}

/// The id in the file, `None` when there is no file (a file that holds no valid id is
/// an error: a new id would silently tell clients the folder is another one).
fn read_mailbox_id(path: &Path) -> io::Result<Option<String>> {
    let text = match fsutil::open_nofollow(path) {
        Ok(f) => io::read_to_string(f)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let id = text.trim();
    if is_object_id(id) {
        Ok(Some(id.to_owned()))
    } else {
        Err(io::Error::other(format!(
            "{} holds no valid MAILBOXID",
            path.display()
        )))
    }
}

/// The EMAILID of the message with this basename (a file name's `:2,` info is ignored):
/// its `,E=` field when it has a valid one, else `M` and 24 hex digits of the SHA-256 of
/// the basename (basenames are unique within a Maildir, so distinct messages get distinct
/// ids).
pub fn email_id(basename: &str) -> String {
    let basename = split_info(basename).0;
    if let Some(id) = carried_email_id(basename) {
        return id.to_owned();
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(basename.as_bytes());
    format!("M{}", hex(&digest[..12]))
}

/// The `,E=` field of a basename, if it holds a valid objectid.
fn carried_email_id(basename: &str) -> Option<&str> {
    let start = basename.find(",E=")? + 3;
    let id = basename[start..].split(',').next()?;
    is_object_id(id).then_some(id)
}

/// A copy's basename: `fresh` (just made for the copy) with the source's EMAILID added.
pub fn with_email_id(fresh: &str, source_basename: &str) -> String {
    format!("{fresh},E={}", email_id(source_basename))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_id_is_the_sha256_of_the_basename() {
        // Fixed forever: clients keep EMAILIDs (SHA-256("abc") is FIPS 180-2's example).
        assert_eq!(email_id("abc:2,S"), "Mba7816bf8f01cfea414140de");
    }

    #[test]
    fn email_id_is_kept_by_flags_and_copies() {
        let base = "1700000000.M1P2V3I4_1.host,S=10,W=12";
        let id = email_id(base);
        assert!(
            is_object_id(&id) && id.starts_with('M') && id.len() == 25,
            "{id}"
        );
        assert_eq!(email_id(&format!("{base}:2,FS")), id);
        let copy = with_email_id("1700000100.M9P9V3I5_1.host,S=10,W=12", base);
        assert_eq!(email_id(&copy), id);
        assert_eq!(email_id(&with_email_id("1.x,S=1", &copy)), id);
        assert_ne!(email_id("1700000000.M1P2V3I4_2.host,S=10"), id);
        // A field that is not an objectid is ignored.
        assert_eq!(email_id("1.x,E=a/b"), email_id("1.x,E=a/b"));
        assert_ne!(email_id("1.x,E=a/b"), "a/b");
    }

    #[test]
    fn mailbox_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tmp")).unwrap();
        let id = mailbox_id(dir.path()).unwrap();
        assert!(is_object_id(&id) && id.starts_with('F'), "{id}");
        assert_eq!(mailbox_id(dir.path()).unwrap(), id);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        fs::write(dir.path().join(MAILBOX_FILE), "not an id!\n").unwrap();
        assert!(mailbox_id(dir.path()).is_err());
    }
}
