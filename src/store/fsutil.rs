//! Small file-system helpers: atomic replace, directory fsync, listings.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::libc;

use super::filename::UniqueName;

/// mkdir with mode 0700.
pub(crate) fn mkdir_0700(path: &Path, ok_if_exists: bool) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(path) {
        Err(e) if ok_if_exists && e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
            Ok(())
        }
        r => r,
    }
}

/// The group and other bits a file made in `dir` gets: a folder shared with a group
/// through its directory's mode shares what is written in it (read, and write for the
/// uid db that is appended to in place), so several uids can work on one folder; a
/// folder others may read gives readable files. Never write for others, not even in a
/// world-writable (sticky, /tmp-like) folder: there every writer's files stay its own.
/// A private directory (the usual 0700) gives 0600 files.
pub(crate) fn sharing_bits(dir: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir).map_or(0, |m| m.permissions().mode());
    let group_write = if mode & 0o002 == 0 { mode & 0o020 } else { 0 };
    (mode & 0o044) | group_write
}

/// Gives an open file the mode a file in `dir` should have ([`sharing_bits`]). Set
/// explicitly, so the process umask does not take a shared folder's group bits away; a
/// private folder costs only the one `stat`.
pub(crate) fn share_like_dir(file: &File, dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bits = sharing_bits(dir);
    if bits != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600 | bits))?;
    }
    Ok(())
}

/// mkdir of a directory inside `parent`, private (0700) unless `parent` is shared: then
/// with its group/other bits, so a folder or keyword directory made by one user of a
/// shared Maildir stays usable by the others.
pub(crate) fn mkdir_like(path: &Path, parent: &Path, ok_if_exists: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bits = fs::metadata(parent).map_or(0, |m| m.permissions().mode() & 0o077);
    mkdir_0700(path, ok_if_exists)?;
    if bits != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700 | bits))?;
    }
    Ok(())
}

/// Makes a directory's entries durable (after rename/link/unlink in it). Links are
/// followed: the change being made durable already went through the same path, and where
/// links are refused the folder was checked when it was opened; with `[mail]
/// skip_symlink_checks` a linked Maildir or cur/ is served, so its fsync must work too.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)?
        .sync_all()
}

/// Opens an existing file for reading without following a symbolic link in its place,
/// and, as [`open_regular`], without waiting on a FIFO.
pub(crate) fn open_nofollow(path: &Path) -> io::Result<File> {
    open_for_reading(path, libc::O_NOFOLLOW).map(|(file, _)| file)
}

/// Opens a file others who may write the folder could have put in place (a lock,
/// Courier's UID database; messages go through [`open_message`]), following a link as
/// before but never waiting on a FIFO or a device: anything but a regular file is an
/// error (InvalidData).
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    open_for_reading(path, 0).map(|(file, _)| file)
}

/// Opens a message file for reading: never waiting on a FIFO (as [`open_regular`]), and
/// through a symbolic link only when `links` says the folder's messages are links by
/// design (the private copy of a filesystem-shared folder, whose links are checked when
/// it is synced). Anywhere else a link in a message's place is refused (ELOOP): in a
/// folder others may write, it would have this user's session read a file of their
/// choosing that only this user may read, and keep what it found in the folder's caches,
/// where those others can read it.
pub(crate) fn open_message(path: &Path, links: bool) -> io::Result<File> {
    let flags = if links { 0 } else { libc::O_NOFOLLOW };
    open_for_reading(path, flags).map(|(file, _)| file)
}

/// Opens one of postern's own files in a folder (an index, a cache) as a file others
/// who may write the folder could have put there: not through a symbolic link, without
/// waiting on a FIFO, and only when it is a regular file; with its metadata. None when
/// it is missing or anything else.
pub(crate) fn open_own_file(path: &Path) -> Option<(File, fs::Metadata)> {
    open_for_reading(path, libc::O_NOFOLLOW).ok()
}

/// `file` when it is a regular file (opened with O_NONBLOCK: a FIFO or a device opened
/// so is refused here, before anything waits on it).
pub(crate) fn only_regular(file: File, path: &Path) -> io::Result<File> {
    regular(file, path).map(|(file, _)| file)
}

/// Opens `path` for reading with O_NONBLOCK and `flags`; a regular file only.
fn open_for_reading(path: &Path, flags: libc::c_int) -> io::Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(path)?;
    regular(file, path)
}

fn regular(file: File, path: &Path) -> io::Result<(File, fs::Metadata)> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok((file, meta))
}

/// [`open_own_file`] and its bytes, when there are at most `most` of them.
pub(crate) fn read_own_file(path: &Path, most: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let (file, meta) = open_own_file(path)?;
    if meta.len() > most {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len()).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Creates a new file (O_EXCL, mode 0600) in `tmp_dir` with a unique name.
pub(crate) fn create_unique(tmp_dir: &Path, tag: &str) -> io::Result<(File, PathBuf)> {
    create_unique_named(tmp_dir, tag).map(|(file, path, _)| (file, path))
}

/// The one place that makes a new file in a `tmp/`: O_EXCL, mode 0600 (plus the
/// [`sharing_bits`] of a shared `tmp/`), named
/// `<unique name><tag>`; a name that exists already (another process, a clock step) just
/// means another try. Returns the name too, so a message keeps it as its basename.
pub(crate) fn create_unique_named(
    tmp_dir: &Path,
    tag: &str,
) -> io::Result<(File, PathBuf, UniqueName)> {
    loop {
        let name = UniqueName::new();
        let path = tmp_dir.join(format!("{}{tag}", name.tmp_name()));
        match OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                share_like_dir(&f, tmp_dir)?;
                return Ok((f, path, name));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Replaces `target` with `contents`: a temporary file in `tmp_dir`, fsync, rename, fsync
/// of the target's directory. Readers see the old or the new file, never a mix.
pub(crate) fn atomic_write(tmp_dir: &Path, target: &Path, contents: &[u8]) -> io::Result<()> {
    replace(tmp_dir, target, contents, Sync::FileAndDir)
}

/// [`atomic_write`] with the file's fsync but not the directory's, for a cache that
/// readers map: after a crash they find the old file or the whole new one, and losing
/// the rename costs only a rebuild.
pub(crate) fn replace_synced(tmp_dir: &Path, target: &Path, contents: &[u8]) -> io::Result<()> {
    replace(tmp_dir, target, contents, Sync::File)
}

/// [`atomic_write`] without the fsyncs, for caches: a crash may lose the new file, never
/// leave a torn one.
pub(crate) fn replace_cache(tmp_dir: &Path, target: &Path, contents: &[u8]) -> io::Result<()> {
    replace(tmp_dir, target, contents, Sync::Nothing)
}

#[derive(PartialEq)]
enum Sync {
    Nothing,
    File,
    FileAndDir,
}

fn replace(tmp_dir: &Path, target: &Path, contents: &[u8], sync: Sync) -> io::Result<()> {
    let (mut f, tmp) = create_unique(tmp_dir, ".postern-tmp")?;
    let r = (|| {
        f.write_all(contents)?;
        if sync != Sync::Nothing {
            f.sync_all()?;
        }
        fs::rename(&tmp, target)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r?;
    if sync == Sync::FileAndDir
        && let Some(parent) = target.parent()
    {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// File names in `dir` that do not start with a dot. A missing directory is empty.
pub(crate) fn list_names(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent?;
        let Ok(name) = ent.file_name().into_string() else {
            log::warn!("{}: skipping a file name that is not UTF-8", dir.display());
            continue;
        };
        if !name.starts_with('.') {
            out.push(name);
        }
    }
    Ok(out)
}

/// Reads a whole file; None when it does not exist. A symbolic link in its place is an
/// error (ELOOP), never followed.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let read = open_nofollow(path).and_then(|mut f| {
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
    });
    match read {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Basenames of every message in a folder's cur/ and new/ (no moving, no stat).
pub(crate) fn list_basenames(folder_dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        for n in list_names(&folder_dir.join(sub))? {
            out.push(super::filename::split_info(&n).0.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_share_what_their_directory_shares_but_never_world_write() {
        let d = tempfile::tempdir().unwrap();
        for (dir_mode, file_mode) in [
            (0o700, 0o600),
            (0o2770, 0o660),
            (0o2750, 0o640),
            (0o755, 0o644),
            (0o1777, 0o644),
        ] {
            fs::set_permissions(d.path(), fs::Permissions::from_mode(dir_mode)).unwrap();
            let (f, path) = create_unique(d.path(), ".t").unwrap();
            drop(f);
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, file_mode, "in a {dir_mode:o} directory");
            fs::remove_file(path).unwrap();
        }
    }
}
