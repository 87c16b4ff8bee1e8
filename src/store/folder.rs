//! Folder names and the folder tree: `INBOX` is the Maildir root, `INBOX.a.b` is the
//! directory `.a.b` beside cur/ new/ tmp/. Names are UTF-8 on disk.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::filename::split_info;
use super::{FolderInfo, Result, StoreError, fsutil, keywords, quota};

pub const SEPARATOR: char = '.';
pub const INBOX: &str = "INBOX";
/// The empty marker every non-root folder carries.
pub const MARKER: &str = "maildirfolder";

fn invalid(name: &str, why: &str) -> StoreError {
    StoreError::InvalidName(format!("{name:?}: {why}"))
}

/// Validates a name and spells INBOX in capitals: "inbox.a" -> "INBOX.a".
pub fn canonical_name(name: &str) -> Result<String> {
    let rest = match name.get(..INBOX.len()) {
        Some(head) if head.eq_ignore_ascii_case(INBOX) => &name[INBOX.len()..],
        _ => return Err(invalid(name, "folders live under INBOX.")),
    };
    if rest.is_empty() {
        return Ok(INBOX.to_string());
    }
    let Some(path) = rest.strip_prefix(SEPARATOR) else {
        return Err(invalid(name, "folders live under INBOX."));
    };
    for part in path.split(SEPARATOR) {
        if part.is_empty() {
            return Err(invalid(
                name,
                "empty level (leading, trailing or doubled '.')",
            ));
        }
        if part.contains('/') {
            return Err(invalid(name, "'/' is not allowed"));
        }
        if part.chars().any(|c| c.is_control()) {
            return Err(invalid(name, "control characters are not allowed"));
        }
    }
    if path.len() + 1 > 255 {
        return Err(invalid(name, "too long"));
    }
    Ok(format!("{INBOX}.{path}"))
}

/// The directory name under the root: "INBOX.a.b" -> ".a.b"; None for INBOX.
pub fn dir_name(canonical: &str) -> Option<String> {
    canonical
        .strip_prefix(INBOX)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// The folder name of a root entry: ".a.b" -> "INBOX.a.b"; None if it is not a valid one.
pub fn name_of_dir(dir: &str) -> Option<String> {
    if !dir.starts_with(SEPARATOR) || dir == "." || dir == ".." {
        return None;
    }
    let name = format!("{INBOX}{dir}");
    canonical_name(&name).ok().filter(|c| *c == name)
}

pub fn folder_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let canonical = canonical_name(name)?;
    Ok(match dir_name(&canonical) {
        None => root.to_path_buf(),
        Some(d) => root.join(d),
    })
}

/// The directory of a folder that exists (has cur/). Unless `follow_symlinks`, neither
/// the folder's directory nor its cur/ new/ tmp/ may be a symbolic link: a link planted
/// there would send reads and writes somewhere the Maildir's owner chose.
pub fn existing_dir(root: &Path, name: &str, follow_symlinks: bool) -> Result<PathBuf> {
    let dir = folder_dir(root, name)?;
    let linked = !follow_symlinks && ((dir != root && is_symlink(&dir)) || has_linked_dirs(&dir));
    if !linked && dir.join("cur").is_dir() {
        Ok(dir)
    } else {
        Err(StoreError::NoSuchFolder(name.to_string()))
    }
}

/// Whether `path` itself is a symbolic link (lstat).
pub fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Whether any of `dir`'s cur/ new/ tmp/ is a symbolic link.
pub fn has_linked_dirs(dir: &Path) -> bool {
    ["cur", "new", "tmp"]
        .iter()
        .any(|sub| is_symlink(&dir.join(sub)))
}

pub fn list(root: &Path, follow_symlinks: bool) -> Result<Vec<FolderInfo>> {
    let mut names = vec![INBOX.to_string()];
    for ent in fs::read_dir(root)? {
        let ent = ent?;
        let Ok(d) = ent.file_name().into_string() else {
            log::warn!(
                "{}: skipping a folder name that is not UTF-8",
                root.display()
            );
            continue;
        };
        let Some(name) = name_of_dir(&d) else {
            continue;
        };
        let linked = !follow_symlinks && ent.file_type().is_ok_and(|t| t.is_symlink());
        if !linked && ent.path().join("cur").is_dir() {
            names.push(name);
        }
    }
    names.sort();
    let mut parents = HashSet::new();
    for n in &names {
        let mut p = n.as_str();
        while let Some((parent, _)) = p.rsplit_once(SEPARATOR) {
            parents.insert(parent.to_string());
            p = parent;
        }
    }
    Ok(names
        .into_iter()
        .map(|name| FolderInfo {
            has_children: parents.contains(&name),
            name,
        })
        .collect())
}

/// Builds a complete folder in tmp/ and renames it into place, so a half-made folder is
/// never visible. False when it already existed.
fn make_folder(root: &Path, dir: &str) -> Result<bool> {
    let target = root.join(dir);
    if target.exists() {
        return Ok(false);
    }
    let (f, tmp_file) = fsutil::create_unique(&root.join("tmp"), ".newfolder")?;
    drop(f);
    fs::remove_file(&tmp_file)?;
    let build = tmp_file.clone();
    let r = (|| -> io::Result<()> {
        // Private (0700) like Courier's, even in a sharable Maildir: a folder is shared
        // only when the owner says so (maildirmake -s, or chmod for a group).
        fsutil::mkdir_0700(&build, false)?;
        for sub in ["tmp", "new", "cur", keywords::DIR] {
            fsutil::mkdir_0700(&build.join(sub), false)?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(build.join(MARKER))?;
        fs::rename(&build, &target)
    })();
    match r {
        Ok(()) => {
            fsutil::fsync_dir(root)?;
            Ok(true)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&build);
            if target.is_dir() {
                Ok(false)
            } else {
                Err(e.into())
            }
        }
    }
}

pub fn create(root: &Path, name: &str) -> Result<()> {
    let canonical = canonical_name(name)?;
    let Some(dir) = dir_name(&canonical) else {
        return Err(StoreError::FolderExists(canonical));
    };
    if root.join(&dir).exists() {
        return Err(StoreError::FolderExists(canonical));
    }
    let mut prefix = String::new();
    let parts: Vec<&str> = dir[1..].split(SEPARATOR).collect();
    for (i, part) in parts.iter().enumerate() {
        prefix.push(SEPARATOR);
        prefix.push_str(part);
        let made = make_folder(root, &prefix)?;
        if i + 1 == parts.len() && !made {
            return Err(StoreError::FolderExists(canonical));
        }
    }
    Ok(())
}

/// Creates the folder `name` only, leaving the levels above it that are not folders as
/// they are (`INBOX.a.b` makes `.a.b`, and `INBOX.a` stays a level without a folder), as
/// Courier's imapd creates folders. [`create`] makes the levels above folders too.
pub fn create_leaf(root: &Path, name: &str) -> Result<()> {
    let canonical = canonical_name(name)?;
    let Some(dir) = dir_name(&canonical) else {
        return Err(StoreError::FolderExists(canonical));
    };
    if !make_folder(root, &dir)? {
        return Err(StoreError::FolderExists(canonical));
    }
    Ok(())
}

pub fn delete(root: &Path, name: &str) -> Result<()> {
    let canonical = canonical_name(name)?;
    let Some(dir) = dir_name(&canonical) else {
        return Err(invalid(name, "INBOX cannot be deleted"));
    };
    let path = root.join(&dir);
    if !path.join("cur").is_dir() {
        return Err(StoreError::NoSuchFolder(canonical));
    }
    let (bytes, count) = if dir == ".Trash" {
        (0, 0)
    } else {
        folder_usage(&path)?
    };
    let (f, grave) = fsutil::create_unique(&root.join("tmp"), ".deleted")?;
    drop(f);
    fs::remove_file(&grave)?;
    fs::rename(&path, &grave)?;
    fsutil::fsync_dir(root)?;
    fs::remove_dir_all(&grave)?;
    quota::record(root, -(bytes as i64), -(count as i64))?;
    Ok(())
}

/// What one folder counts towards the quota.
fn folder_usage(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut bytes, mut count) = (0, 0);
    for sub in ["new", "cur"] {
        for n in fsutil::list_names(&dir.join(sub))? {
            let (_, info) = split_info(&n);
            if info.is_some_and(|i| i.contains('T')) {
                continue;
            }
            let size = super::filename::size_from_name(&n)
                .or_else(|| fs::metadata(dir.join(sub).join(&n)).ok().map(|m| m.len()));
            if let Some(s) = size {
                bytes += s;
                count += 1;
            }
        }
    }
    Ok((bytes, count))
}

pub fn rename(root: &Path, from: &str, to: &str) -> Result<()> {
    let from_c = canonical_name(from)?;
    let to_c = canonical_name(to)?;
    let Some(to_dir) = dir_name(&to_c) else {
        return Err(StoreError::FolderExists(to_c));
    };
    let Some(from_dir) = dir_name(&from_c) else {
        return rename_inbox(root, &to_c);
    };
    if !root.join(&from_dir).join("cur").is_dir() {
        return Err(StoreError::NoSuchFolder(from_c));
    }
    if to_c == from_c || to_c.starts_with(&format!("{from_c}.")) {
        return Err(invalid(to, "cannot rename a folder into itself"));
    }
    let mut moves = Vec::new();
    for ent in fs::read_dir(root)? {
        let Ok(d) = ent?.file_name().into_string() else {
            continue;
        };
        if d == from_dir || d.starts_with(&format!("{from_dir}.")) {
            let target = format!("{to_dir}{}", &d[from_dir.len()..]);
            if root.join(&target).exists() {
                return Err(StoreError::FolderExists(format!("{INBOX}{target}")));
            }
            moves.push((d, target));
        }
    }
    // Parents of the new name (not the new name itself) are created as real folders.
    let parts: Vec<&str> = to_dir[1..].split(SEPARATOR).collect();
    let mut prefix = String::new();
    for part in &parts[..parts.len() - 1] {
        prefix.push(SEPARATOR);
        prefix.push_str(part);
        make_folder(root, &prefix)?;
    }
    for (old, new) in &moves {
        fs::rename(root.join(old), root.join(new))?;
    }
    fsutil::fsync_dir(root)?;
    for (_, new) in &moves {
        // The move is done: a failure here leaves the old value, as Courier would.
        if let Err(e) = super::uiddb::renew_uid_validity(&root.join(new)) {
            log::warn!("{new}: cannot give the renamed folder a new UIDVALIDITY: {e}");
        }
    }
    Ok(())
}

/// RENAME INBOX: its messages move into the new folder (which gets its own UIDs); INBOX
/// stays, empty, with its sub-folders.
fn rename_inbox(root: &Path, to: &str) -> Result<()> {
    create(root, to)?;
    let target = folder_dir(root, to)?;
    let kw = keywords::read(root, None)?;
    for sub in ["new", "cur"] {
        for n in fsutil::list_names(&root.join(sub))? {
            let base = split_info(&n).0;
            if let Some(k) = kw.get(base).filter(|k| !k.is_empty()) {
                keywords::write_update(&target, base, k)?;
            }
            match fs::rename(root.join(sub).join(&n), target.join(sub).join(&n)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        fsutil::fsync_dir(&target.join(sub))?;
        fsutil::fsync_dir(&root.join(sub))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert_eq!(canonical_name("inbox").unwrap(), "INBOX");
        assert_eq!(canonical_name("Inbox.Sent").unwrap(), "INBOX.Sent");
        assert_eq!(
            canonical_name("INBOX.Résumé.2024").unwrap(),
            "INBOX.Résumé.2024"
        );
        for bad in [
            "",
            "Sent",
            "INBOXx",
            "INBOX.",
            "INBOX..a",
            "INBOX.a.",
            "INBOX..",
            "INBOX.a/b",
            "INBOX./",
            "\u{5d3}\u{5bc}\u{fb13}",
            "INBOX.a\tb",
            "INBOX.a\nb",
            "INBOX.\u{7f}",
            "..",
            "INBOX...",
        ] {
            assert!(
                matches!(canonical_name(bad), Err(StoreError::InvalidName(_))),
                "{bad:?}"
            );
        }
        let root = Path::new("/m");
        assert_eq!(folder_dir(root, "INBOX").unwrap(), root);
        assert_eq!(folder_dir(root, "INBOX.a.b").unwrap(), root.join(".a.b"));
        assert_eq!(name_of_dir(".a.b").as_deref(), Some("INBOX.a.b"));
        for bad in [".", "..", "...", ".a..b", ".a.", "cur", ""] {
            assert_eq!(name_of_dir(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn create_leaf_makes_no_levels_and_rename_numbers_what_it_moves() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(root.join(sub)).unwrap();
        }
        create_leaf(root, "INBOX.a.b").unwrap();
        assert!(root.join(".a.b/cur").is_dir());
        assert!(!root.join(".a").exists(), "the level stays no folder");
        assert!(matches!(
            create_leaf(root, "INBOX.a.b"),
            Err(StoreError::FolderExists(_))
        ));
        // Neither folder had a UID database; as Courier's RENAME, each moved one gets one.
        create(root, "INBOX.c").unwrap();
        create(root, "INBOX.c.d").unwrap();
        rename(root, "INBOX.c", "INBOX.e").unwrap();
        for dir in [".e", ".e.d"] {
            let text = fs::read_to_string(root.join(dir).join("courierimapuiddb")).unwrap();
            assert!(
                text.starts_with("1 ") && text.ends_with(" 1\n"),
                "{dir}: {text:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn name_dir_round_trip(parts in proptest::collection::vec("[^./\\x00-\\x1f\\x7f]{1,8}", 1..4)) {
            let name = format!("INBOX.{}", parts.join("."));
            prop_assume!(!name.chars().any(|c| c.is_control()));
            let dir = folder_dir(Path::new("/m"), &name).unwrap();
            let d = dir.file_name().unwrap().to_str().unwrap();
            prop_assert!(dir.parent() == Some(Path::new("/m")));
            prop_assert_eq!(name_of_dir(d), Some(name));
        }

        #[test]
        fn never_escapes(name in "\\PC{0,20}") {
            if let Ok(dir) = folder_dir(Path::new("/m"), &name) {
                prop_assert!(dir == Path::new("/m") || dir.parent() == Some(Path::new("/m")));
                let d = dir.file_name().unwrap().to_str().unwrap();
                prop_assert!(d == "m" || (d.starts_with('.') && d != "." && d != ".."));
            }
        }
    }
}
