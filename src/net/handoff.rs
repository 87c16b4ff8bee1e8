//! After an IMAP login, the login process (`postern-login` or `postern imapd`, linked
//! with PAM and password hashing, the latter with OpenSSL too) hands the connection to
//! `postern-session`, the mail session program, which is linked with none of them: the
//! code that then runs as the user is only the code that serves mail, and a session's
//! memory is its mail's (about 2 MB less resident per session than in `postern imapd`:
//! libcrypto alone is 1.4 MB of a plaintext session's pages).
//!
//! The login process has already become the user (privdrop, loginexec) when it hands
//! over. It executes `postern-session`, found beside its own program, with the socket
//! at descriptor [`SOCKET_FD`] and a sealed memfd at [`HANDOFF_FD`] holding a
//! [`Handoff`] (in postcard's binary form, see `record_memfd`): the settings it runs
//! with (the user need not be able to read the configuration file), the account, the
//! login command's tag, the client's address, the session id and byte counts, and the
//! bytes the client sent after the login command. The session program opens the
//! Maildir and answers the login command itself, so a Maildir that cannot be opened
//! ends the session as it did in one process.
//!
//! Only a plaintext socket is handed over: over TLS (or inetd's stdin/stdout) the
//! session goes on in the login process, and so it does when no `postern-session`
//! stands beside the program (a warning says so).

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::libc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::Account;
use crate::config::Config;

/// The connection, in the session program.
pub const SOCKET_FD: RawFd = 3;
/// The [`Handoff`] record, in the session program.
pub const HANDOFF_FD: RawFd = 4;
/// The session program's file name, beside `postern`.
pub const PROGRAM: &str = "postern-session";
/// A record larger than this is refused (settings, an account and one read buffer).
const MAX_RECORD: u64 = 1 << 20;

/// What the session program needs to go on where the login process stopped.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handoff {
    /// The login command's tag and verb (`LOGIN` / `AUTHENTICATE`), for its answer.
    pub tag: String,
    pub verb: String,
    pub session_id: String,
    /// Milliseconds since the connection was taken (the logout line's time).
    pub elapsed_ms: u64,
    pub peer: Option<SocketAddr>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// What the client sent after the login command (pipelined commands).
    pub input: Vec<u8>,
    pub account: Account,
    pub config: Config,
}

/// The session program beside this one, if it is there.
pub fn session_program() -> Option<PathBuf> {
    program_beside(PROGRAM)
}

/// The program `name` in this program's directory, if it is there.
pub(crate) fn program_beside(name: &str) -> Option<PathBuf> {
    let program = std::env::current_exe().ok()?.with_file_name(name);
    program.is_file().then_some(program)
}

/// Executes `program` with the connection `socket` and `handoff`. Returns only on
/// failure, with the descriptors 3 and 4 of this process replaced.
pub fn hand_over(program: &PathBuf, socket: BorrowedFd<'_>, handoff: &Handoff) -> io::Error {
    let memfd = match record_memfd(handoff) {
        Ok(fd) => fd,
        Err(err) => return err,
    };
    let mut cmd = Command::new(program);
    crate::heap::tune_session_program(&mut cmd);
    cmd.arg0(PROGRAM);
    exec_with(cmd, &[(socket, SOCKET_FD), (memfd.as_fd(), HANDOFF_FD)])
}

/// `record` in a sealed memfd, in postcard's compact binary form: reading it back takes
/// a few microseconds and little code, where TOML's reader alone was 350 kB of the
/// session program's text, most of it paged in by every session.
pub(crate) fn record_memfd(record: &impl Serialize) -> io::Result<File> {
    let bytes = postcard::to_allocvec(record)
        .map_err(|err| io::Error::other(format!("cannot write the handoff: {err}")))?;
    sealed_memfd(&bytes)
}

/// Executes `cmd` with each `(descriptor, number)` of `placed` open at its number
/// (numbers from 3 up, in increasing order), and no other descriptor past 2: a PAM
/// module's descriptor, say, does not go along, whoever opened it and however. Returns
/// only on failure, with those numbers of this process replaced.
pub(crate) fn exec_with(mut cmd: Command, placed: &[(BorrowedFd<'_>, RawFd)]) -> io::Error {
    let Some(&(_, last)) = placed.last() else {
        return io::Error::other("nothing to hand over");
    };
    // All out of the way of the target numbers first, then into place (dup2 clears
    // close-on-exec).
    let moved: io::Result<Vec<OwnedFd>> = placed
        .iter()
        .map(|(fd, _)| dup_above(fd.as_raw_fd(), last))
        .collect();
    let placed_all = moved.and_then(|moved| {
        moved
            .iter()
            .zip(placed)
            .try_for_each(|(fd, &(_, to))| place(fd.as_raw_fd(), to))
    });
    if let Err(err) = placed_all {
        return err;
    }
    // Every other number from 3 on is closed at exec.
    let mut from = 3;
    for &(_, to) in placed {
        if from < to
            && let Err(err) = close_at_exec(from, to - 1)
        {
            return err;
        }
        from = to + 1;
    }
    if let Err(err) = close_at_exec(from, libc::c_int::MAX) {
        return err;
    }
    cmd.exec()
}

/// In the session program: the connection and the record.
pub fn receive() -> anyhow::Result<(OwnedFd, Handoff)> {
    let started_by = format!("{PROGRAM} is started by the login program after a login");
    let (socket, handoff): (OwnedFd, Handoff) = take_record(SOCKET_FD, HANDOFF_FD, &started_by)?;
    handoff
        .config
        .check()
        .map_err(|invalid| anyhow::anyhow!("{invalid}"))?;
    Ok((socket, handoff))
}

/// The connection at `socket_fd` and the record at `record_fd`, as [`exec_with`] placed
/// them; `started_by` says how this program is meant to be started, for the error.
pub(crate) fn take_record<T: DeserializeOwned>(
    socket_fd: RawFd,
    record_fd: RawFd,
    started_by: &str,
) -> anyhow::Result<(OwnedFd, T)> {
    for fd in [socket_fd, record_fd] {
        // SAFETY: F_GETFD only asks whether the descriptor number is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            anyhow::bail!("descriptor {fd} is not open: {started_by}");
        }
    }
    // SAFETY: the process before the exec placed these two descriptors for this
    // program, which takes them once, at its start, before it opens anything.
    let (socket, record) = unsafe {
        (
            OwnedFd::from_raw_fd(socket_fd),
            File::from_raw_fd(record_fd),
        )
    };
    // Nothing this program runs later (loginexec, the outbox's sendmail) inherits it.
    // SAFETY: fcntl on a descriptor just taken.
    if unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error().into());
    }
    let mut bytes = Vec::new();
    record.take(MAX_RECORD).read_to_end(&mut bytes)?;
    Ok((socket, postcard::from_bytes(&bytes)?))
}

/// An anonymous file holding `bytes`, sealed against change, read from its start.
fn sealed_memfd(bytes: &[u8]) -> io::Result<File> {
    // SAFETY: a constant NUL-terminated name; the result is checked.
    let fd = unsafe {
        libc::memfd_create(
            c"postern-handoff".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just made and owned by no one else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    file.rewind()?;
    Ok(file)
}

/// Marks descriptors `first..=last` close-on-exec.
fn close_at_exec(first: RawFd, last: RawFd) -> io::Result<()> {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if done < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A close-on-exec copy of `fd` numbered above `floor`.
fn dup_above(fd: RawFd, floor: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on a descriptor number; the result is checked and then owned.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor + 1) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor no one else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Puts `from` at `to`, open across exec.
fn place(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on descriptor numbers; whatever was at `to` (the connection itself,
    // or the failure-report channel) is replaced.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::config::Age;

    /// Settings with something other than the default in every kind of value the record
    /// carries, read back through a sealed memfd as the session program reads it.
    #[test]
    fn a_handoff_comes_back_as_it_was_sent() {
        let mut config = Config::parse(
            "[serve]\nimap = [\"127.0.0.1:1143\", \"[::1]:1143\"]\n\
             [limits]\npreauth_timeout = 7\n\
             [mail]\npurge = { Trash = 3, Junk = \"36h\" }\n\
             [log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        config.path = None;
        assert_eq!(config.mail.purge["Junk"], Age::Text("36h".into()));
        let handoff = Handoff {
            tag: "a1".into(),
            verb: "LOGIN".into(),
            session_id: "0011223344556677".into(),
            elapsed_ms: 12,
            peer: Some("[2001:db8::1]:40000".parse().unwrap()),
            bytes_read: 30,
            bytes_written: 400,
            input: b"a2 SELECT INBOX\r\n".to_vec(),
            account: crate::auth::Account {
                user: "tim".into(),
                uid: Some(1000),
                gid: None,
                home: "/home/tim".into(),
                maildir: "/home/tim/Maildir".into(),
                options: Default::default(),
                system: true,
            },
            config: config.clone(),
        };
        let mut memfd = record_memfd(&handoff).unwrap();
        let mut bytes = Vec::new();
        memfd.read_to_end(&mut bytes).unwrap();
        let back: Handoff = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.config, config);
        assert_eq!(back.account, handoff.account);
        assert_eq!(
            (back.tag, back.verb, back.session_id, back.peer, back.input),
            (
                handoff.tag,
                handoff.verb,
                handoff.session_id,
                handoff.peer,
                handoff.input
            )
        );
        // Sealed: the receiver reads what was sent, whoever else holds the file.
        assert!(memfd.write_all(b"x").is_err());
    }
}
