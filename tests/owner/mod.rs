//! Who owns the test Maildirs. As root (CI) a session never stays root: every account
//! needs an explicit non-zero uid and gid, so the fixtures' accounts run as a
//! virtual-mail owner (`[auth] default_uid`/`default_gid` = [`mail_owner`]) whose homes
//! belong to it. Unprivileged, sessions run as the test's own uid and nothing changes.

#![allow(dead_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Whom sessions become when the tests run as root (CI): as root every account needs an
/// explicit non-zero uid and gid, so the fixture's accounts run as this virtual-mail
/// owner (`[auth] default_uid`/`default_gid`) and their homes belong to it. `None`
/// unprivileged, where sessions run as the test's own uid.
pub fn mail_owner() -> Option<(u32, u32)> {
    nix::unistd::geteuid().is_root().then_some((65534, 65534))
}

/// Gives everything below `path` to [`mail_owner`] (nothing unprivileged): files the test
/// writes as root into a Maildir must be the owner's, as a delivery would make them.
pub fn give_to_mail_owner(path: &Path) {
    let Some((uid, gid)) = mail_owner() else {
        return;
    };
    // Only what is not the owner's yet: a chown moves the change time even when nothing
    // changes, and a folder whose directories' times moved is listed whole by the next
    // session, as after any change.
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if (meta.uid(), meta.gid()) != (uid, gid) {
        let _ = std::os::unix::fs::lchown(path, Some(uid), Some(gid));
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            give_to_mail_owner(&entry.path());
        }
    }
}

/// Lets the mail owner through `dir` (a root-made temporary directory is mode 0700).
pub fn open_to_mail_owner(dir: &Path) {
    if mail_owner().is_some() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// The `[auth]` lines that make the fixture's accounts run as [`mail_owner`] (empty
/// unprivileged), to append to a settings file.
pub fn owner_settings() -> String {
    match mail_owner() {
        Some((uid, gid)) => format!("default_uid = \"{uid}\"\ndefault_gid = \"{gid}\"\n"),
        None => String::new(),
    }
}

/// Removes a system user a test made (`userdel -r`), after ending whatever still runs as
/// it (a session or a program it started, when the test failed half-way): userdel refuses
/// a user with processes, and the user would be left behind.
pub fn remove_user(name: &str) {
    use std::process::{Command, Stdio};
    let _ = Command::new("pkill")
        .args(["-KILL", "-u", name])
        .stderr(Stdio::null())
        .status();
    for _ in 0..50 {
        let gone = Command::new("userdel")
            .args(["-r", name])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.code() != Some(8)); // 8: the user is logged in (has processes)
        if gone {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
