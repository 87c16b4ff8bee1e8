//! `courierimapuiddb`: Courier's UID database, one per folder.
//!
//! ```text
//! 1 <uidvalidity> <nextuid>
//! <uid> <basename>
//! ```
//! Basenames are file names without the `:2,` info. Known UIDs come first in ascending
//! order, then new messages sorted by delivery time and name. The file is only ever
//! replaced whole (tmp/ + fsync + rename + fsync of the folder) and only when something
//! changed; UIDs are assigned under the folder's dot-lock after re-reading the file, so
//! concurrent sessions and deliveries never hand out a UID twice.

// Keys are file names and keywords from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::filename::cmp_new;
use super::fsutil;
use super::lock::DotLock;
use super::{Result, StoreError};

pub const FILE: &str = "courierimapuiddb";
/// Courier-IMAP >= 4.10 subtracts this from the creation time to make UIDVALIDITY.
pub const IMAP_EPOCH: i64 = 1_000_000_000;

/// The parsed database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidDb {
    pub uid_validity: u32,
    pub next_uid: u32,
    /// (uid, basename), ascending by uid.
    pub entries: Vec<(u32, String)>,
}

impl UidDb {
    /// Parses Courier's format; an error says why the file cannot be trusted.
    pub fn parse(bytes: &[u8]) -> std::result::Result<UidDb, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let mut lines = text.split('\n');
        let header = lines.next().unwrap_or("");
        let fields: Vec<&str> = header.split(' ').collect();
        if fields.len() != 3 {
            return Err(format!("bad header {header:?}"));
        }
        if fields[0] != "1" {
            return Err(format!("unknown version {:?}", fields[0]));
        }
        let uid_validity: u32 = fields[1]
            .parse()
            .map_err(|_| format!("bad uidvalidity {:?}", fields[1]))?;
        let mut next_uid: u32 = fields[2]
            .parse()
            .map_err(|_| format!("bad nextuid {:?}", fields[2]))?;
        if next_uid == 0 {
            return Err("nextuid 0".into());
        }
        let mut entries = Vec::new();
        // Courier writes UIDs ascending: a set is needed only once one is out of order.
        let mut last_uid = 0u32;
        let mut seen_uids: Option<HashSet<u32>> = None;
        let mut seen_names = HashSet::default();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            let (uid, name) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {}: no separator", i + 2))?;
            let uid: u32 = uid
                .parse()
                .map_err(|_| format!("line {}: bad uid {uid:?}", i + 2))?;
            if uid == 0 || name.is_empty() || name.contains('/') || name.contains('\0') {
                return Err(format!("line {}: bad entry", i + 2));
            }
            if uid <= last_uid && seen_uids.is_none() {
                seen_uids = Some(entries.iter().map(|e: &(u32, String)| e.0).collect());
            }
            if let Some(seen) = seen_uids.as_mut()
                && !seen.insert(uid)
            {
                return Err(format!("line {}: uid {uid} twice", i + 2));
            }
            last_uid = last_uid.max(uid);
            if !seen_names.insert(name) {
                log::warn!("courierimapuiddb: {name} listed twice; keeping the first UID");
                continue;
            }
            if uid >= next_uid {
                // Never hand this UID out again.
                next_uid = uid.checked_add(1).ok_or("uid overflow")?;
            }
            entries.push((uid, name.to_string()));
        }
        entries.sort_by_key(|e| e.0);
        Ok(UidDb {
            uid_validity,
            next_uid,
            entries,
        })
    }

    /// Courier's exact text.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.entries.len() * 64);
        let _ = writeln!(out, "1 {} {}", self.uid_validity, self.next_uid);
        for (uid, name) in &self.entries {
            let _ = writeln!(out, "{uid} {name}");
        }
        out
    }
}

/// What is on disk.
#[derive(Debug)]
pub enum DbState {
    Missing,
    Valid(UidDb),
    Corrupt(String, Vec<u8>),
}

pub fn read(folder_dir: &Path) -> io::Result<DbState> {
    Ok(match fsutil::read_optional(&folder_dir.join(FILE))? {
        None => DbState::Missing,
        Some(bytes) => match UidDb::parse(&bytes) {
            Ok(db) => DbState::Valid(db),
            Err(why) => DbState::Corrupt(why, bytes),
        },
    })
}

/// Replaces the database atomically.
pub fn write(folder_dir: &Path, db: &UidDb) -> io::Result<()> {
    fsutil::atomic_write(
        &folder_dir.join("tmp"),
        &folder_dir.join(FILE),
        &db.to_bytes(),
    )
}

/// `postern-uidvalidity` in the Maildir's root: the last UIDVALIDITY given to any folder of
/// this Maildir. Courier ignores it.
pub const LAST_UID_VALIDITY: &str = "postern-uidvalidity";

/// The Maildir root a folder belongs to: its parent for a Maildir++ sub-folder (marked by
/// `maildirfolder`), the folder itself for INBOX.
fn maildir_root(folder_dir: &Path) -> &Path {
    match folder_dir.parent() {
        Some(parent) if folder_dir.join("maildirfolder").exists() => parent,
        _ => folder_dir,
    }
}

/// A UIDVALIDITY no folder of this Maildir had before and at least `at_least`:
/// max(at_least, last given + 1), recorded under the root's flock (tmp/ + rename + fsync)
/// before it is used. So a folder deleted and created again, or renamed away and back,
/// within one second gets a new, larger value (RFC 3501 §2.3.1.1) without Courier's
/// two-second sleep; Courier's own creation-time values are not consulted by it, which
/// only matters if both servers create the same folder name within seconds.
pub fn fresh_uid_validity(folder_dir: &Path, at_least: u32) -> io::Result<u32> {
    let root = maildir_root(folder_dir);
    let _lock = super::lock::DirFlock::acquire(root)?;
    let path = root.join(LAST_UID_VALIDITY);
    let last: Option<u32> =
        fsutil::read_optional(&path)?.and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok());
    let next = last.map_or(0, |l| l.saturating_add(1));
    let uid_validity = at_least.max(next).max(1);
    fsutil::atomic_write(
        &root.join("tmp"),
        &path,
        format!("{uid_validity}\n").as_bytes(),
    )?;
    Ok(uid_validity)
}

/// UIDVALIDITY from the clock, as Courier makes it.
fn clock_uid_validity(unix_secs: i64) -> u32 {
    (unix_secs - IMAP_EPOCH).clamp(1, u32::MAX as i64) as u32
}

/// Gives an existing database a fresh UIDVALIDITY (its UIDs stay): RENAME does this for
/// each moved folder, because the new name may have meant another mailbox before, whose
/// clients must see a larger value (RFC 3501 §2.3.1.1: UIDs that do not persist for a
/// name need a greater UIDVALIDITY). Courier and Dovecot keep the old value on RENAME,
/// which breaks that after RENAME A B, CREATE A, DELETE A, RENAME B A.
pub fn renew_uid_validity(folder_dir: &Path) -> Result<()> {
    let _lock = DotLock::acquire(folder_dir)?;
    if let DbState::Valid(mut db) = read(folder_dir)? {
        let old = db.uid_validity;
        db.uid_validity = fresh_uid_validity(folder_dir, clock_uid_validity(fsutil::now_secs()))?;
        write(folder_dir, &db)?;
        super::recent::renew(folder_dir, old, db.uid_validity)?;
    }
    Ok(())
}

/// Writes a brand-new database whose UIDVALIDITY comes from the new file's mtime, as
/// Courier does, raised above every value this Maildir gave before
/// ([`fresh_uid_validity`]); `at_least` keeps it above a value that must not repeat.
fn create(folder_dir: &Path, mut db: UidDb, at_least: Option<u32>) -> io::Result<UidDb> {
    let (mut f, tmp) = fsutil::create_unique(&folder_dir.join("tmp"), ".postern-tmp")?;
    let r = (|| {
        let mtime = f
            .metadata()?
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut uidv = clock_uid_validity(mtime);
        if let Some(min) = at_least {
            uidv = uidv.max(min);
        }
        db.uid_validity = fresh_uid_validity(folder_dir, uidv)?;
        f.write_all(&db.to_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, folder_dir.join(FILE))?;
        fsutil::fsync_dir(folder_dir)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map(|()| db)
}

/// UIDVALIDITY and UIDs of the files of a folder after [`sync`].
#[derive(Debug, Clone)]
pub struct Assigned {
    pub uid_validity: u32,
    pub next_uid: u32,
    pub uids: HashMap<String, u32>,
    /// False when the folder could not be written and UIDs live only in this process.
    pub persistent: bool,
}

impl Assigned {
    fn from_db(db: UidDb, persistent: bool) -> Assigned {
        Assigned::from_db_for(db, persistent, |_| true)
    }

    /// Only the UIDs of the names `wanted` asks for (a refresh wants just its new mail).
    fn from_db_for(db: UidDb, persistent: bool, wanted: impl Fn(&str) -> bool) -> Assigned {
        Assigned {
            uid_validity: db.uid_validity,
            next_uid: db.next_uid,
            uids: db
                .entries
                .into_iter()
                .filter(|(_, n)| wanted(n))
                .map(|(u, n)| (n, u))
                .collect(),
            persistent,
        }
    }
}

/// Makes sure every basename in `present` has a UID. Without work to do this reads the
/// database and nothing else. Otherwise it takes the folder lock, calls `rescan` for a
/// listing made under the lock, re-reads the database and assigns the missing UIDs in
/// delivery order. Entries whose file is in neither listing are dropped.
///
/// With `rescan`, entries of files that are gone are dropped (the directory is listed again
/// under the lock, so a file another process added meanwhile is not mistaken for gone).
/// Without it, entries are only added: a session's refresh that found new mail does not
/// pay for a second listing of a large folder, and stale entries wait for the next open.
pub fn sync(
    folder_dir: &Path,
    present: &HashSet<&str>,
    rescan: Option<&mut dyn FnMut() -> io::Result<Vec<String>>>,
) -> Result<Assigned> {
    if let DbState::Valid(db) = read(folder_dir)?
        && db.entries.len() == present.len()
        && db.entries.iter().all(|(_, n)| present.contains(n.as_str()))
    {
        return Ok(Assigned::from_db(db, true));
    }
    match locked_sync(folder_dir, present, rescan) {
        Ok(a) => Ok(a),
        Err(StoreError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            log::warn!(
                "{}: cannot update {FILE} ({e}); UIDs for this session only",
                folder_dir.display()
            );
            Ok(in_memory(folder_dir, present)?)
        }
        Err(e) => Err(e),
    }
}

fn in_memory(folder_dir: &Path, present: &HashSet<&str>) -> io::Result<Assigned> {
    let mut db = match read(folder_dir)? {
        DbState::Valid(db) => db,
        _ => UidDb {
            uid_validity: (fsutil::now_secs() - IMAP_EPOCH).clamp(1, u32::MAX as i64) as u32,
            next_uid: 1,
            entries: Vec::new(),
        },
    };
    let known: HashSet<String> = db.entries.iter().map(|e| e.1.clone()).collect();
    let mut fresh: Vec<&str> = present
        .iter()
        .copied()
        .filter(|n| !known.contains(*n))
        .collect();
    fresh.sort_by(|a, b| cmp_new(a, b));
    for n in fresh {
        db.entries.push((db.next_uid, n.to_string()));
        db.next_uid += 1;
    }
    Ok(Assigned::from_db(db, false))
}

fn locked_sync(
    folder_dir: &Path,
    present: &HashSet<&str>,
    rescan: Option<&mut dyn FnMut() -> io::Result<Vec<String>>>,
) -> Result<Assigned> {
    let _lock = DotLock::acquire(folder_dir)?;
    let prune = rescan.is_some();
    let second_names = match rescan {
        Some(rescan) => rescan()?,
        None => Vec::new(),
    };
    let second: HashSet<&str> = if prune {
        second_names.iter().map(|s| s.as_str()).collect()
    } else {
        present.clone()
    };
    let exists = |n: &str| !prune || present.contains(n) || second.contains(n);
    let (mut db, fresh_db, at_least) = match read(folder_dir)? {
        DbState::Valid(db) => (db, false, None),
        DbState::Missing => (empty_db(), true, None),
        DbState::Corrupt(why, bytes) => {
            let aside = folder_dir.join(format!("{FILE}.corrupt.{}", fsutil::now_secs()));
            log::error!(
                "{}: {why}; moved aside to {} and starting a new UID database (clients will resynchronise)",
                folder_dir.join(FILE).display(),
                aside.display()
            );
            fs::rename(folder_dir.join(FILE), &aside)?;
            (empty_db(), true, old_uid_validity(&bytes).map(|v| v + 1))
        }
    };
    let before = db.entries.len();
    db.entries.retain(|(_, n)| exists(n));
    let mut changed = db.entries.len() != before;
    let known: HashSet<&str> = db.entries.iter().map(|e| e.1.as_str()).collect();
    let mut fresh: Vec<&str> = second
        .iter()
        .copied()
        .filter(|n| !known.contains(n))
        .collect();
    fresh.sort_by(|a, b| cmp_new(a, b));
    let fresh: Vec<String> = fresh.into_iter().map(str::to_string).collect();
    for n in fresh {
        let uid = db.next_uid;
        db.next_uid = uid.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            path: folder_dir.join(FILE),
            reason: "UIDs exhausted".into(),
        })?;
        db.entries.push((uid, n));
        changed = true;
    }
    if fresh_db {
        db = create(folder_dir, db, at_least)?;
    } else if changed {
        write(folder_dir, &db)?;
    }
    if prune {
        Ok(Assigned::from_db(db, true))
    } else {
        Ok(Assigned::from_db_for(db, true, |n| present.contains(n)))
    }
}

fn empty_db() -> UidDb {
    UidDb {
        uid_validity: 0,
        next_uid: 1,
        entries: Vec::new(),
    }
}

fn old_uid_validity(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes.split(|b| *b == b'\n').next()?).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

/// Under the folder lock: applies `edit` to the current database and writes it if it
/// changed. Used by append, copy and expunge.
pub fn update<T>(
    folder_dir: &Path,
    edit: impl FnOnce(&mut UidDb) -> Result<T>,
) -> Result<(UidDb, T)> {
    update_inner(folder_dir, edit, true)
}

fn update_inner<T>(
    folder_dir: &Path,
    edit: impl FnOnce(&mut UidDb) -> Result<T>,
    first: bool,
) -> Result<(UidDb, T)> {
    let lock = DotLock::acquire(folder_dir)?;
    let (mut db, fresh) = match read(folder_dir)? {
        DbState::Valid(db) => (db, false),
        DbState::Missing | DbState::Corrupt(..) if first => {
            drop(lock);
            // Give the messages already there their UIDs first (and move a corrupt file
            // aside with its loud message), then try again.
            let names = fsutil::list_basenames(folder_dir)?;
            let present: HashSet<&str> = names.iter().map(|s| s.as_str()).collect();
            sync(
                folder_dir,
                &present,
                Some(&mut || fsutil::list_basenames(folder_dir)),
            )?;
            return update_inner(folder_dir, edit, false);
        }
        DbState::Missing => (empty_db(), true),
        DbState::Corrupt(why, _) => {
            return Err(StoreError::Corrupt {
                path: folder_dir.join(FILE),
                reason: why,
            });
        }
    };
    // Edits only add entries, drop them or raise nextuid: that is the change to look for
    // (a clone and a comparison of a large database would cost more than the edit).
    let before = (db.entries.len(), db.next_uid, db.uid_validity);
    let out = edit(&mut db)?;
    if fresh {
        db = create(folder_dir, db, None)?;
    } else if (db.entries.len(), db.next_uid, db.uid_validity) != before {
        write(folder_dir, &db)?;
    }
    Ok((db, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_courier_sample() {
        let text = b"1 795868689 3\n1 1700000000.M1P1.host,S=80\n2 1700000001.M2P2.host\n";
        let db = UidDb::parse(text).unwrap();
        assert_eq!(db.uid_validity, 795868689);
        assert_eq!(db.next_uid, 3);
        assert_eq!(db.entries[1], (2, "1700000001.M2P2.host".to_string()));
        assert_eq!(db.to_bytes(), text);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b""[..],
            b"2 1 1\n",
            b"1 x 2\n",
            b"1 5\n",
            b"1 5 2\nfoo\n",
            b"1 5 3\n1 a\n1 b\n",
            b"\xff\xfe",
        ] {
            assert!(UidDb::parse(bad).is_err(), "{bad:?}");
        }
        // A UID at or above nextuid raises nextuid so it is never handed out again.
        assert_eq!(UidDb::parse(b"1 5 2\n7 a\n").unwrap().next_uid, 8);
    }

    proptest! {
        #[test]
        fn round_trip(uidv in 1u32.., names in proptest::collection::btree_set("[0-9]{1,10}\\.[A-Za-z0-9_.,=]{1,30}", 0..20)) {
            let entries: Vec<(u32, String)> = names.into_iter().enumerate().map(|(i, n)| (i as u32 * 3 + 1, n)).collect();
            let next_uid = entries.last().map(|e| e.0 + 1).unwrap_or(1);
            let db = UidDb { uid_validity: uidv, next_uid, entries };
            let bytes = db.to_bytes();
            let back = UidDb::parse(&bytes).unwrap();
            prop_assert_eq!(&back, &db);
            prop_assert_eq!(back.to_bytes(), bytes);
        }
    }

    #[test]
    fn sync_assigns_in_order_and_moves_corrupt_aside() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let names = vec![
            "200.b".to_string(),
            "100.z".to_string(),
            "200.a".to_string(),
        ];
        let present: HashSet<&str> = names.iter().map(|s| s.as_str()).collect();
        let a = sync(d.path(), &present, Some(&mut || Ok(names.clone()))).unwrap();
        assert_eq!(a.uids["100.z"], 1);
        assert_eq!(a.uids["200.a"], 2);
        assert_eq!(a.uids["200.b"], 3);
        let now = fsutil::now_secs() - IMAP_EPOCH;
        assert!((a.uid_validity as i64 - now).abs() < 5);
        let before = fs::read(d.path().join(FILE)).unwrap();
        let b = sync(d.path(), &present, Some(&mut || panic!("no rescan needed"))).unwrap();
        assert_eq!(b.uids, a.uids);
        assert_eq!(fs::read(d.path().join(FILE)).unwrap(), before);
        fs::write(d.path().join(FILE), b"garbage\n").unwrap();
        let c = sync(d.path(), &present, Some(&mut || Ok(names.clone()))).unwrap();
        assert_eq!(c.uids.len(), 3);
        let aside: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("courierimapuiddb.corrupt.")
            })
            .collect();
        assert_eq!(aside.len(), 1);
    }
}
