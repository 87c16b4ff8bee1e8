//! The folder dot-lock `tmp/courier.lock`, shared with Courier: taken by link()ing a
//! unique file onto the lock name, so it works on every file system including NFS.
//!
//! Courier breaks a lock whose mtime is more than 120 s old; we do the same for locks we
//! did not make. Our own lock files also carry an flock() held for the life of the lock,
//! so a lock left behind by a killed postern process is recognised as dead at once (the
//! kernel drops the flock with the process) instead of blocking everyone for two minutes.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::fsutil;

/// Courier's stale-lock age.
pub const STALE_AFTER: Duration = Duration::from_secs(120);
const MARK: &str = "postern ";
/// Give up after this long (a live Courier holder is broken after 120 s anyway).
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

/// A held `tmp/courier.lock`; released on drop.
#[derive(Debug)]
pub struct DotLock {
    path: PathBuf,
    file: File,
}

impl DotLock {
    /// Takes the lock of the folder at `folder_dir` (waiting for other holders).
    pub fn acquire(folder_dir: &Path) -> io::Result<DotLock> {
        let tmp_dir = folder_dir.join("tmp");
        let path = tmp_dir.join("courier.lock");
        let (mut file, tmp) = fsutil::create_unique(&tmp_dir, "_courierlock")?;
        let setup = (|| {
            file.try_lock().map_err(|e| match e {
                fs::TryLockError::Error(e) => e,
                fs::TryLockError::WouldBlock => io::Error::other("fresh lock file is locked"),
            })?;
            file.write_all(format!("{MARK}{}\n", std::process::id()).as_bytes())
        })();
        if let Err(e) = setup {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let result = loop {
            match fs::hard_link(&tmp, &path) {
                Ok(()) => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match break_if_stale(&path) {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => break Err(e),
                    }
                    if started.elapsed() > GIVE_UP_AFTER {
                        break Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("{} is held too long", path.display()),
                        ));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => break Err(e),
            }
        };
        let _ = fs::remove_file(&tmp);
        result?;
        Ok(DotLock { path, file })
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        // Remove the lock only if it is still ours (Courier may have broken it as stale).
        if let (Ok(ours), Ok(there)) = (self.file.metadata(), fs::symlink_metadata(&self.path))
            && ours.ino() == there.ino()
            && ours.dev() == there.dev()
        {
            let _ = fs::remove_file(&self.path);
        }
        // The flock goes with the descriptor, after the name is gone.
    }
}

/// An flock() on a folder directory itself: postern's own short lock for state only
/// postern keeps and changes read-modify-write (the \Recent claim mark, the Maildir's
/// UIDVALIDITY counter). Courier does not know that state, so its dot-lock is not needed,
/// and the kernel drops an flock with a killed process, so a crash never leaves it behind.
/// Never held while waiting for another lock.
#[derive(Debug)]
pub struct DirFlock {
    _dir: File,
}

impl DirFlock {
    /// Waits for and takes the exclusive flock on `dir`.
    pub fn acquire(dir: &Path) -> io::Result<DirFlock> {
        let file = File::open(dir)?;
        file.lock()?;
        Ok(DirFlock { _dir: file })
    }
}

/// Removes the lock at `path` if its holder is gone; true when the caller should retry.
fn break_if_stale(path: &Path) -> io::Result<bool> {
    let mut f = match super::fsutil::open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; 16];
    let n = f.read(&mut head).unwrap_or(0);
    if head[..n].starts_with(MARK.as_bytes()) {
        match f.try_lock() {
            Ok(()) => {
                // The holder died (or is releasing: then the name is already gone or is
                // another file). Nobody else can remove this inode while we hold its flock.
                let ours = f.metadata()?;
                match fs::symlink_metadata(path) {
                    Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {
                        log::warn!("{}: removing the lock of a dead process", path.display());
                        match fs::remove_file(path) {
                            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                            _ => {}
                        }
                    }
                    _ => {}
                }
                Ok(true)
            }
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    } else {
        let m = f.metadata()?;
        let age = m
            .modified()
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        if age > STALE_AFTER {
            log::warn!("{}: removing a stale lock ({age:?} old)", path.display());
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Barrier};

    fn folder() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        d
    }

    #[test]
    fn excludes_and_releases() {
        let d = folder();
        let inside = Arc::new(AtomicU32::new(0));
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let dir = d.path().to_path_buf();
                let inside = inside.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..50 {
                        let _l = DotLock::acquire(&dir).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!d.path().join("tmp/courier.lock").exists());
        assert_eq!(fsutil::list_names(&d.path().join("tmp")).unwrap().len(), 0);
    }

    #[test]
    fn breaks_dead_postern_lock_and_old_foreign_lock() {
        let d = folder();
        let lock = d.path().join("tmp/courier.lock");
        // A lock from a dead postern process: marked, nobody holds its flock.
        fs::write(&lock, "postern 99999999\n").unwrap();
        drop(DotLock::acquire(d.path()).unwrap());
        // A foreign (Courier) lock, old.
        fs::write(&lock, "12345\n").unwrap();
        let old = SystemTime::now() - Duration::from_secs(200);
        File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        drop(DotLock::acquire(d.path()).unwrap());
        assert!(!lock.exists());
    }

    #[test]
    fn respects_fresh_foreign_lock() {
        let d = folder();
        let lock = d.path().join("tmp/courier.lock");
        fs::write(&lock, "12345\n").unwrap();
        assert!(!break_if_stale(&lock).unwrap());
        assert!(lock.exists());
    }
}
