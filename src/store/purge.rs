//! Removing old messages from a folder (Courier's IMAP_EMPTYTRASH): every message file
//! whose ctime is older than the folder's age goes. The ctime, not the mtime, because a
//! message moved into Trash keeps its mtime (the delivery time) while the rename sets its
//! ctime: the age is how long it has been in this folder, as in Courier.
//!
//! The work is bounded: one call looks at most at `budget` files (new/ renames count
//! too) and leaves a cursor (the last name it looked at) in `postern-purge` beside the
//! folder's UID database, so that the next login carries on after it instead of looking
//! at the same young files again.
//!
//! A whole pass that removed nothing leaves `postern-purge.checked`: cur/'s change time
//! (and inode) when the pass began, and the oldest ctime it kept. While cur/ still has
//! that change time, no entry was added, removed or renamed since, and a file's ctime
//! only ever moves forward; so until that oldest ctime is older than the age, no file
//! can be, and the next login and logout look at no file of cur/ (a Trash of 5,000
//! messages cost 5,000 stats at each of them). Only a change time older than the file
//! system clock's tick (`CurStamp::settled`) is recorded, so a change in the same tick as the
//! look cannot hide behind an equal time.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashSet as HashSet;

use super::filename::{size_from_name, split_info};
use super::{Result, fsutil, mailbox, quota, uiddb};

/// The cursor file in the folder directory.
pub const CURSOR_FILE: &str = "postern-purge";

/// What the last whole pass that removed nothing saw (see the module comment).
pub const CHECKED_FILE: &str = "postern-purge.checked";

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
    let checked_path = folder_dir.join(CHECKED_FILE);
    // Taken before the listing, so that whatever changes cur/ from here on changes it.
    let cur_before = CurStamp::take(&cur);
    if let Some(stamp) = cur_before
        && Checked::read(&checked_path).is_some_and(|c| c.cur == stamp && c.oldest >= cutoff)
    {
        report.complete = true;
        return Ok(report);
    }
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
    let mut oldest_kept = i64::MAX;
    for name in &names {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        report.examined += 1;
        last = Some(name);
        match remove_if_old(&cur.join(name), name, cutoff, &mut report, &mut removed) {
            Ok(Judged::Kept { ctime }) => oldest_kept = oldest_kept.min(ctime),
            Ok(Judged::Removed | Judged::NotMessage) => {}
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
        _ => remove_if_present(&cursor_path)?,
    }
    let quiet = cur_before.filter(|c| report.complete && removed.is_empty() && c.settled(now));
    match quiet {
        Some(cur) => {
            let checked = Checked {
                cur,
                oldest: oldest_kept,
            };
            fsutil::replace_cache(&folder_dir.join("tmp"), &checked_path, &checked.encode())?
        }
        None => remove_if_present(&checked_path)?,
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

/// Removes `path`; one that is gone already is no error.
fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What identifies cur/'s entries as they were: its inode and change time (ns). The
/// ctime, not the mtime, because utimes() can put an mtime back but never a ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CurStamp {
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_ns: i64,
}

impl CurStamp {
    fn take(cur: &Path) -> Option<CurStamp> {
        let meta = fs::symlink_metadata(cur).ok()?;
        Some(CurStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            ctime: meta.ctime(),
            ctime_ns: meta.ctime_nsec(),
        })
    }

    /// Whether the change time was already older than the file system clock's tick at
    /// `now` (the margin the folder's own stamps use): a change in the same tick could
    /// otherwise leave the same time.
    fn settled(self, now: SystemTime) -> bool {
        let Ok(now) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let changed = (self.ctime, self.ctime_ns);
        mailbox::nanos(changed) + mailbox::margin(changed) < now.as_nanos() as i128
    }
}

/// The content of [`CHECKED_FILE`]: one line `v1 DEV INO CTIME CTIME_NS OLDEST`.
#[derive(Debug, PartialEq, Eq)]
struct Checked {
    cur: CurStamp,
    /// The oldest ctime (s) among the files the pass kept; `i64::MAX` when it kept none.
    oldest: i64,
}

impl Checked {
    fn encode(&self) -> Vec<u8> {
        let c = &self.cur;
        format!(
            "v1 {} {} {} {} {}\n",
            c.dev, c.ino, c.ctime, c.ctime_ns, self.oldest
        )
        .into_bytes()
    }

    /// None when missing or not in the format (then cur/ is looked at, as without it).
    fn read(path: &Path) -> Option<Checked> {
        let bytes = fsutil::read_own_file(path, 256)?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let mut fields = text.strip_suffix('\n')?.split(' ');
        if fields.next()? != "v1" {
            return None;
        }
        let cur = CurStamp {
            dev: fields.next()?.parse().ok()?,
            ino: fields.next()?.parse().ok()?,
            ctime: fields.next()?.parse().ok()?,
            ctime_ns: fields.next()?.parse().ok()?,
        };
        let oldest = fields.next()?.parse().ok()?;
        fields.next().is_none().then_some(Checked { cur, oldest })
    }
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
            Ok(Judged::Removed) => continue,
            Ok(Judged::Kept { .. } | Judged::NotMessage) => {}
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

/// What [`remove_if_old`] did with a file.
enum Judged {
    Removed,
    /// Young: its ctime (s).
    Kept {
        ctime: i64,
    },
    /// Not a regular file: never touched.
    NotMessage,
}

/// Removes the message file `path` (named `name`) when its ctime is before `cutoff`.
/// Only regular files are touched.
fn remove_if_old(
    path: &Path,
    name: &str,
    cutoff: i64,
    report: &mut PurgeReport,
    removed: &mut HashSet<String>,
) -> io::Result<Judged> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Ok(Judged::NotMessage);
    }
    if meta.ctime() >= cutoff {
        return Ok(Judged::Kept {
            ctime: meta.ctime(),
        });
    }
    fs::remove_file(path)?;
    let base = split_info(name).0;
    report.removed += 1;
    report.bytes += size_from_name(base).unwrap_or(meta.len());
    removed.insert(base.to_owned());
    Ok(Judged::Removed)
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

    /// Sleeps past the file system clock's tick (see `CurStamp::settled`), so that what
    /// was just written counts as settled at the real clock.
    fn let_settle(dir: &Path) {
        let whole_seconds = fs::metadata(dir).unwrap().ctime_nsec() == 0;
        std::thread::sleep(Duration::from_millis(if whole_seconds { 2100 } else { 30 }));
    }

    /// One purge of `dir` with budget to spare.
    fn whole_pass(root: &Path, dir: &Path, age: Duration, now: SystemTime) -> PurgeReport {
        let mut budget = 100;
        purge(root, dir, age, now, &mut budget).unwrap()
    }

    #[test]
    fn an_unchanged_folder_is_not_looked_at_again_until_its_oldest_file_may_go() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let trash = folder(root, ".Trash");
        for i in 0..5 {
            put(&trash, "cur", &format!("{i}.x:2,"), "m");
        }
        let pass = |now| whole_pass(root, &trash, 7 * DAY, now);
        // cur/ changed just now: the pass looks at everything and vouches for nothing.
        let r = pass(SystemTime::now());
        assert_eq!((r.examined, r.removed, r.complete), (5, 0, true));
        assert!(!trash.join(CHECKED_FILE).exists());
        let_settle(&trash.join("cur"));
        assert_eq!(pass(SystemTime::now()).examined, 5);
        assert!(trash.join(CHECKED_FILE).exists());
        // Unchanged, nothing old enough yet, six days on included: no file looked at.
        for later in [SystemTime::now(), SystemTime::now() + 6 * DAY] {
            let r = pass(later);
            assert_eq!((r.examined, r.removed, r.complete), (0, 0, true));
        }
        // Eight days on the oldest may go: a whole pass, and all five go.
        let r = pass(SystemTime::now() + 8 * DAY);
        assert_eq!((r.examined, r.removed), (5, 5));
        assert!(!trash.join(CHECKED_FILE).exists());
    }

    #[test]
    fn any_change_to_cur_means_a_whole_pass_again() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let trash = folder(root, ".Trash");
        put(&trash, "cur", "1.a:2,", "m");
        put(&trash, "cur", "2.b:2,", "m");
        let pass = |now| whole_pass(root, &trash, DAY, now);
        let_settle(&trash.join("cur"));
        assert_eq!(pass(SystemTime::now()).examined, 2);
        assert_eq!(pass(SystemTime::now()).examined, 0);
        // A flag change (a rename within cur/), then a message moved in.
        fs::rename(trash.join("cur/1.a:2,"), trash.join("cur/1.a:2,S")).unwrap();
        assert_eq!(pass(SystemTime::now()).examined, 2);
        let_settle(&trash.join("cur"));
        assert_eq!(pass(SystemTime::now()).examined, 2);
        assert_eq!(pass(SystemTime::now()).examined, 0);
        put(&trash, "new", "3.c", "m");
        // new/ is always swept: the move into cur/ is a change, so cur/ is looked at.
        assert_eq!(pass(SystemTime::now()).examined, 1 + 3);
        // A damaged record is as none.
        let_settle(&trash.join("cur"));
        assert_eq!(pass(SystemTime::now()).examined, 3);
        fs::write(trash.join(CHECKED_FILE), "v1 1 2 x\n").unwrap();
        assert_eq!(pass(SystemTime::now()).examined, 3);
        assert_eq!(pass(SystemTime::now()).examined, 0);
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
