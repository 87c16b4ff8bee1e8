//! Courier's `loginexec`: an owner-executable file `loginexec` in the Maildir runs once
//! after a login, as the user, in the Maildir, with no arguments. Exit status 0 removes
//! it (a one-shot job, e.g. a migration); anything else leaves it for the next login.
//! The session goes on either way. It never sees the client connection: stdin is
//! /dev/null and what it writes goes to our log, line by line. It gets a bounded time,
//! then its whole process group is killed.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The file's name inside the Maildir.
pub const FILE_NAME: &str = "loginexec";

/// What became of a loginexec run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// There is no owner-executable `loginexec`.
    Absent,
    /// Exit status 0: the file was removed.
    Done,
    /// It failed or was killed; the file stays.
    Failed(String),
}

/// Descriptors and variables of ours the program must not get.
const PRIVATE_ENV: [&str; 6] = [
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "POSTERN_CONNECTION",
];

/// Longest output line we log, and how much output in all.
const MAX_LINE: usize = 1000;
const MAX_LOGGED: usize = 16 * 1024;

/// Runs `<maildir>/loginexec` for `user` if it is there and executable by its owner.
/// A link in its place is not followed. The caller never calls it as root.
pub fn run(user: &str, home: &Path, maildir: &Path, timeout: Duration) -> Outcome {
    let path = maildir.join(FILE_NAME);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o100 != 0 => {}
        _ => return Outcome::Absent,
    }
    let outcome = match execute(user, home, maildir, &path, timeout) {
        Ok(status) if status.success() => match std::fs::remove_file(&path) {
            Ok(()) => Outcome::Done,
            Err(err) => Outcome::Failed(format!("exit 0, but removing it failed: {err}")),
        },
        Ok(status) => Outcome::Failed(describe(status)),
        Err(err) => Outcome::Failed(err),
    };
    match &outcome {
        Outcome::Done => log::info!("user {user}: {} ran and was removed", path.display()),
        Outcome::Failed(why) => log::warn!("user {user}: {}: {why}; kept", path.display()),
        Outcome::Absent => {}
    }
    outcome
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

fn execute(
    user: &str,
    home: &Path,
    maildir: &Path,
    path: &Path,
    timeout: Duration,
) -> Result<ExitStatus, String> {
    let (mut reader, writer) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let writer2 = writer.try_clone().map_err(|e| format!("pipe: {e}"))?;
    let mut cmd = Command::new(path);
    cmd.current_dir(maildir)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .env("HOME", home)
        .env("USER", user)
        .env("LOGNAME", user)
        .env("MAILDIR", maildir)
        // Its own process group, so that a timeout ends whatever it started too.
        .process_group(0);
    for name in PRIVATE_ENV {
        cmd.env_remove(name);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    drop(cmd); // closes our copies of the pipe's write end
    let pgid = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;

    // Log its output until it closes the pipe or time is up.
    let mut pending = Vec::new();
    let mut logged = 0usize;
    let mut buf = [0u8; 4096];
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    log_line(user, &line, &mut logged);
                }
                if pending.len() > MAX_LINE {
                    let line = std::mem::take(&mut pending);
                    log_line(user, &line, &mut logged);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading its output: {e}")),
        }
    }
    if !pending.is_empty() {
        log_line(user, &pending, &mut logged);
    }
    // The output is closed (or time is up); wait for the exit within the same deadline.
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            // Anything it left running in its group goes too.
            let _ = killpg(pgid, Signal::SIGKILL);
            return Ok(status);
        }
        if timed_out || Instant::now() >= deadline {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
            return Err(format!(
                "still running after {} s, killed",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn log_line(user: &str, line: &[u8], logged: &mut usize) {
    if *logged >= MAX_LOGGED {
        return;
    }
    let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
    let text = text.trim_end();
    *logged += text.len() + 1;
    log::info!("user {user}: loginexec: {text}");
    if *logged >= MAX_LOGGED {
        log::info!("user {user}: loginexec: (further output not logged)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn script(dir: &Path, body: &str, mode: u32) {
        let path = dir.join(FILE_NAME);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn exit_zero_removes_it_and_runs_in_the_maildir() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "echo hello; pwd > ran; test -z \"$LISTEN_FDS\"",
            0o700,
        );
        let out = run("u", dir.path(), dir.path(), Duration::from_secs(10));
        assert_eq!(out, Outcome::Done);
        assert!(!dir.path().join(FILE_NAME).exists());
        let ran = fs::read_to_string(dir.path().join("ran")).unwrap();
        assert_eq!(
            Path::new(ran.trim()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn failure_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "echo oops >&2; exit 3", 0o700);
        let out = run("u", dir.path(), dir.path(), Duration::from_secs(10));
        assert_eq!(out, Outcome::Failed("exit status 3".into()));
        assert!(dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn not_owner_executable_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "touch ran", 0o644);
        assert_eq!(
            run("u", dir.path(), dir.path(), Duration::from_secs(10)),
            Outcome::Absent
        );
        assert!(!dir.path().join("ran").exists());
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            run("u", empty.path(), empty.path(), Duration::from_secs(1)),
            Outcome::Absent
        );
    }

    #[test]
    fn too_slow_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        // The background sleep holds the output pipe open; the group kill must end it.
        script(dir.path(), "sleep 30 & sleep 30", 0o700);
        let start = Instant::now();
        let out = run("u", dir.path(), dir.path(), Duration::from_secs(1));
        assert!(
            matches!(out, Outcome::Failed(ref why) if why.contains("killed")),
            "{out:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn stdin_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "cat > got", 0o700);
        assert_eq!(
            run("u", dir.path(), dir.path(), Duration::from_secs(5)),
            Outcome::Done
        );
        assert_eq!(fs::read(dir.path().join("got")).unwrap(), b"");
    }
}
