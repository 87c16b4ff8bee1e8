//! Removing old messages from a folder (Courier's IMAP_EMPTYTRASH): every message file
//! whose ctime is older than the folder's age goes. The ctime, not the mtime, because a
//! message moved into Trash keeps its mtime (the delivery time) while the rename sets its
//! ctime: the age is how long it has been in this folder, as in Courier.
//!
//! The work is bounded: one call looks at most at `budget` files (new/ renames count
//! too) and leaves a cursor (the last name it looked at) in `postern-purge` beside the
//! folder's UID database, so that the next login carries on after it instead of looking
//! at the same young files again.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashSet as HashSet;

use super::filename::{size_from_name, split_info};
use super::{Result, fsutil, quota, uiddb};

/// The cursor file in the folder directory.
pub const CURSOR_FILE: &str = "postern-purge";

/// What one purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Files looked at (stat or rename), at most the budget.
    pub examined: u64,
    /// Message files removed.
    pub removed: u64,
    /// Their bytes (from `,S=` or the file size).
    pub bytes: u64,
    /// The whole folder was looked at (no cursor left for next time).
    pub complete: bool,
}

/// Purges `folder_dir` (a folder of the Maildir `root`) of messages older than `max_age`
/// at `now`, looking at no more than `*budget` files and taking what it used from it.
/// new/ is swept first (see [`sweep_new`]).
pub fn purge(
    root: &Path,
    folder_dir: &Path,
    max_age: Duration,
    now: SystemTime,
    budget: &mut u64,
) -> Result<PurgeReport> {
    let mut report = PurgeReport::default();
    let cutoff = now
        .checked_sub(max_age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(i64::MIN, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut removed: HashSet<String> = HashSet::default();
    sweep_new(folder_dir, cutoff, budget, &mut report, &mut removed)?;
    let cur = folder_dir.join("cur");
    let mut names = fsutil::list_names(&cur)?;
    names.sort_unstable();
    let cursor_path = folder_dir.join(CURSOR_FILE);
    let cursor = fsutil::read_own_file(&cursor_path, 4096)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    // Names after the cursor first, then from the start up to it.
    let split = names.partition_point(|n| n.as_str() <= cursor.as_str());
    names.rotate_left(split);
    let mut last = None;
    for name in &names {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        report.examined += 1;
        last = Some(name);
        match remove_if_old(&cur.join(name), name, cutoff, &mut report, &mut removed) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    let looked_at_cur = names
        .iter()
        .position(|n| Some(n) == last)
        .map_or(0, |i| i + 1);
    report.complete = looked_at_cur == names.len();
    // Stopping at the last name in order is as good as a full pass: start afresh.
    let at_end = last.is_some_and(|l| names.iter().max() == Some(l));
    match (report.complete || at_end, last) {
        (false, Some(last)) => {
            fsutil::atomic_write(&folder_dir.join("tmp"), &cursor_path, last.as_bytes())?
        }
        _ => match fs::remove_file(&cursor_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        },
    }
    if !removed.is_empty() {
        fsutil::fsync_dir(&cur)?;
        forget_uids(folder_dir, &removed)?;
        if quota::counts_folder(folder_dir) {
            quota::record(root, -(report.bytes as i64), -(report.removed as i64))?;
        }
    }
    Ok(report)
}

/// new/ first: an old file there goes at once, a young one moves to cur/ with `:2,`
/// appended (as Courier moves new/ to cur/ before it purges). Judging before the move
/// matters: the rename gives the file a fresh ctime, so a message that waited in new/
/// longer than the age would otherwise get a second full age in cur/. One look per file
/// from the budget.
fn sweep_new(
    folder_dir: &Path,
    cutoff: i64,
    budget: &mut u64,
    report: &mut PurgeReport,
    removed: &mut HashSet<String>,
) -> Result<()> {
    let new = folder_dir.join("new");
    for name in fsutil::list_names(&new)? {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        report.examined += 1;
        let path = new.join(&name);
        match remove_if_old(&path, &name, cutoff, report, removed) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        }
        let target = if name.contains(':') {
            name.clone()
        } else {
            format!("{name}:2,")
        };
        match fs::rename(&path, folder_dir.join("cur").join(target)) {
            Ok(()) => {}
            // Another session took it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Removes the message file `path` (named `name`) when its ctime is before `cutoff`;
/// true when it did. Only regular files are touched.
fn remove_if_old(
    path: &Path,
    name: &str,
    cutoff: i64,
    report: &mut PurgeReport,
    removed: &mut HashSet<String>,
) -> io::Result<bool> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_file() || meta.ctime() >= cutoff {
        return Ok(false);
    }
    fs::remove_file(path)?;
    let base = split_info(name).0;
    report.removed += 1;
    report.bytes += size_from_name(base).unwrap_or(meta.len());
    removed.insert(base.to_owned());
    Ok(true)
}

/// How long a file may sit in tmp/ before it counts as abandoned: Courier's 36 hours
/// (maildir_purgetmp), by ctime, so that a writer that set an old mtime on purpose (a
/// dated APPEND, a restore) is never cut off mid-write.
pub const TMP_MAX_AGE: Duration = Duration::from_secs(36 * 3600);

/// At most this many tmp/ entries are looked at per call, so a folder whose tmp/ was
/// flooded costs a bounded amount per open; the rest goes at later opens.
const TMP_BUDGET: usize = 1000;

/// Removes what killed writers left in `folder_dir/tmp/` (half-written deliveries, index
/// and cache saves cut off by kill -9): every non-directory entry whose ctime is older
/// than [`TMP_MAX_AGE`] at `now`. Courier does the same at every folder scan. Errors on
/// single entries (another user's file in a shared folder) are skipped. Returns how many
/// entries were removed.
pub fn stale_tmp(folder_dir: &Path, now: SystemTime) -> u64 {
    let cutoff = now
        .checked_sub(TMP_MAX_AGE)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(i64::MIN, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let Ok(entries) = fs::read_dir(folder_dir.join("tmp")) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.take(TMP_BUDGET).flatten() {
        let old = entry
            .metadata()
            .is_ok_and(|m| !m.is_dir() && m.ctime() < cutoff);
        if old && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Drops the removed messages from the UID database, as an expunge does; sessions that
/// have the folder open notice the files are gone and report EXPUNGE at their next look.
fn forget_uids(folder_dir: &Path, removed: &HashSet<String>) -> Result<()> {
    if uiddb::header(folder_dir).is_none() {
        return Ok(());
    }
    uiddb::update(folder_dir, |db| {
        db.entries.retain(|(_, n)| !removed.contains(n.as_str()));
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const DAY: Duration = Duration::from_secs(86400);

    fn folder(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        dir
    }

    fn put(dir: &Path, sub: &str, name: &str, body: &str) {
        fs::write(dir.join(sub).join(name), body).unwrap();
    }

    fn names(dir: &Path, sub: &str) -> Vec<String> {
        let mut n = fsutil::list_names(&dir.join(sub)).unwrap();
        n.sort();
        n
    }

    #[test]
    fn tmp_leftovers_go_after_36_hours_of_ctime_and_directories_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = folder(tmp.path(), ".F");
        put(&dir, "tmp", "123.cut-off-index-save", "x");
        fs::create_dir(dir.join("tmp").join("subdir")).unwrap();
        // Now, and 35 hours on: young.
        assert_eq!(stale_tmp(&dir, SystemTime::now()), 0);
        let hour = Duration::from_secs(3600);
        assert_eq!(stale_tmp(&dir, SystemTime::now() + 35 * hour), 0);
        assert_eq!(names(&dir, "tmp").len(), 2);
        // 37 hours on: the file goes, the directory stays.
        assert_eq!(stale_tmp(&dir, SystemTime::now() + 37 * hour), 1);
        assert_eq!(names(&dir, "tmp"), ["subdir"]);
        // A folder without tmp/ is no error.
        assert_eq!(stale_tmp(&tmp.path().join("none"), SystemTime::now()), 0);
    }

    #[test]
    fn only_files_older_than_the_age_go_and_young_new_ones_move_to_cur() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let trash = folder(root, ".Trash");
        put(&trash, "cur", "1.a,S=5:2,S", "hello");
        put(&trash, "new", "2.b,S=3", "abc");
        let mut budget = 100;
        // Now: nothing is a day old.
        let r = purge(root, &trash, DAY, SystemTime::now(), &mut budget).unwrap();
        assert_eq!((r.removed, r.examined, r.complete), (0, 3, true));
        assert_eq!(names(&trash, "cur"), ["1.a,S=5:2,S", "2.b,S=3:2,"]);
        assert!(names(&trash, "new").is_empty());
        // Eight days on (the injected clock), both are older than seven days.
        let later = SystemTime::now() + 8 * DAY;
        let r = purge(root, &trash, 7 * DAY, later, &mut budget).unwrap();
        assert_eq!((r.removed, r.bytes), (2, 8));
        assert!(names(&trash, "cur").is_empty());
        // Six days on, with seven days: nothing would have gone.
        put(&trash, "cur", "3.c:2,", "x");
        let r = purge(
            root,
            &trash,
            7 * DAY,
            SystemTime::now() + 6 * DAY,
            &mut budget,
        )
        .unwrap();
        assert_eq!(r.removed, 0);
    }

    #[test]
    fn the_budget_bounds_the_work_and_the_cursor_carries_on() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let trash = folder(root, ".Trash");
        for i in 0..25 {
            put(&trash, "cur", &format!("{i:03}.x:2,"), "m");
        }
        let later = SystemTime::now() + 2 * DAY;
        let mut left = 0;
        let mut rounds = 0;
        while !names(&trash, "cur").is_empty() {
            let mut budget = 10;
            let r = purge(root, &trash, DAY, later, &mut budget).unwrap();
            assert!(r.examined <= 10);
            assert_eq!(budget, 10 - r.examined);
            left += r.removed;
            rounds += 1;
            assert!(rounds < 10, "no progress");
        }
        assert_eq!((left, rounds), (25, 3));
        assert!(!trash.join(CURSOR_FILE).exists());
    }

    #[test]
    fn young_files_do_not_starve_old_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let sent = folder(root, ".Sent");
        for i in 0..6 {
            put(&sent, "cur", &format!("{i}.x:2,"), "m");
        }
        let now = SystemTime::now();
        // Budget 2 per round; at "now" nothing is old, the cursor still walks on.
        let mut seen = Vec::new();
        for _ in 0..3 {
            let mut budget = 2;
            purge(root, &sent, DAY, now, &mut budget).unwrap();
            seen.push(fs::read_to_string(sent.join(CURSOR_FILE)).unwrap_or_default());
        }
        assert_eq!(seen, ["1.x:2,", "3.x:2,", ""]);
    }

    #[test]
    fn uids_and_quota_follow() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        folder(root, "");
        let sent = folder(root, ".Sent");
        put(&sent, "cur", "1.a,S=10:2,", "0123456789");
        put(&sent, "cur", "2.b,S=4:2,", "0123");
        fs::write(
            root.join("maildirsize"),
            "1000S\n          14            2\n",
        )
        .unwrap();
        let db = uiddb::UidDb {
            uid_validity: 7,
            next_uid: 3,
            entries: vec![(1, "1.a,S=10".into()), (2, "2.b,S=4".into())],
        };
        uiddb::write(&sent, &db).unwrap();
        // Only the first is old: give the second a later clock by removing after.
        let mut budget = 10;
        let r = purge(root, &sent, DAY, SystemTime::now() + 2 * DAY, &mut budget).unwrap();
        assert_eq!(r.removed, 2);
        let usage = quota::current(root).unwrap().unwrap();
        assert_eq!((usage.used_bytes, usage.used_messages), (0, 0));
        let uiddb::DbState::Valid(db) = uiddb::read(&sent).unwrap() else {
            panic!("uid database unreadable");
        };
        assert!(db.entries.is_empty());
        assert_eq!((db.uid_validity, db.next_uid), (7, 3));
    }

    #[test]
    fn trash_does_not_count_toward_the_quota() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        folder(root, "");
        let trash = folder(root, ".Trash");
        put(&trash, "cur", "1.a,S=10:2,", "0123456789");
        fs::write(
            root.join("maildirsize"),
            "1000S\n           0            0\n",
        )
        .unwrap();
        let mut budget = 10;
        purge(root, &trash, DAY, SystemTime::now() + 2 * DAY, &mut budget).unwrap();
        let usage = quota::current(root).unwrap().unwrap();
        assert_eq!((usage.used_bytes, usage.used_messages), (0, 0));
    }
}
