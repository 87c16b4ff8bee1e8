//! Special uses given to a folder when it is created (RFC 6154 §3, CREATE-SPECIAL-USE).
//!
//! `[imap] special_use` names the special folders of every account; a use a client asks
//! for at CREATE belongs to one user's folder, so it is kept with that folder: a file
//! `postern-specialuse` in the folder's directory, one attribute a line (without the
//! backslash). Courier has no per-folder use and ignores the file. Kept in the folder's own
//! directory, the use follows the folder through RENAME (the directory is renamed) and
//! goes with it at DELETE (the directory is removed), with nothing else to update.

use std::io;
use std::path::Path;

use super::fsutil;

/// The file in a folder's directory.
pub const FILE: &str = "postern-specialuse";

/// The uses a client may give at CREATE: RFC 6154 §2's attributes for folders that hold
/// messages of their own. `\All` and `\Flagged` name virtual mailboxes postern does not
/// have.
pub const CREATABLE: &[&str] = &["Archive", "Drafts", "Junk", "Sent", "Trash"];

/// The attributes (without backslash) kept for the folder in `folder_dir`; none when the
/// file is missing or unreadable.
pub fn read(folder_dir: &Path) -> Vec<String> {
    let text = super::fsutil::read_own_file(&folder_dir.join(FILE), 4096)
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match text {
        Some(text) => text
            .lines()
            .filter(|l| CREATABLE.contains(l))
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    }
}

/// Records `uses` for the folder in `folder_dir` (written to its `tmp/`, synced, renamed).
pub fn write(folder_dir: &Path, uses: &[String]) -> io::Result<()> {
    let mut text = String::new();
    for u in uses {
        text.push_str(u);
        text.push('\n');
    }
    fsutil::replace_synced(
        &folder_dir.join("tmp"),
        &folder_dir.join(FILE),
        text.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_lines_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        assert!(read(dir.path()).is_empty());
        write(dir.path(), &["Sent".into(), "Archive".into()]).unwrap();
        assert_eq!(read(dir.path()), ["Sent", "Archive"]);
        std::fs::write(dir.path().join(FILE), "Sent\nAll\n\\Trash\n").unwrap();
        assert_eq!(read(dir.path()), ["Sent"]);
    }
}
