//! How `postern serve` starts a session program: posix_spawn(3), not fork(2) and exec.
//! glibc runs the child on serve's own memory until the exec (`CLONE_VM | CLONE_VFORK`),
//! so serve's page tables are not copied for a process that throws them away at once,
//! and neither side takes copy-on-write faults meanwhile; nor does anything of serve's
//! (which has loaded OpenSSL) run in a forked copy.
//!
//! The session gets what `Command` gave it: the arguments, serve's environment with the
//! changes asked for, /dev/null as stdin and stdout, an empty signal mask (serve blocks
//! the signals its signalfd reads) and SIGPIPE back at its default (Rust ignores it),
//! and the descriptors asked for at their numbers; every other descriptor of serve is
//! close-on-exec.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::libc;
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

/// A program to start, with its arguments and environment.
pub struct Spawn {
    program: CString,
    args: Vec<CString>,
    env: BTreeMap<OsString, OsString>,
}

impl Spawn {
    /// `program` with this process's environment.
    pub fn new(program: &Path) -> io::Result<Spawn> {
        let program = c_string(program.as_os_str())?;
        Ok(Spawn {
            args: vec![program.clone()],
            program,
            env: std::env::vars_os().collect(),
        })
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> io::Result<&mut Spawn> {
        self.args.push(c_string(arg.as_ref())?);
        Ok(self)
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Spawn {
        self.env
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Spawn {
        self.env.remove(key.as_ref());
        self
    }

    /// Starts the program with each `(descriptor, number)` of `placed` open at its
    /// number (3 and up), and /dev/null as stdin and stdout.
    pub fn spawn(&self, placed: &[(BorrowedFd<'_>, RawFd)]) -> io::Result<Pid> {
        let above = placed.iter().map(|&(_, to)| to).max().unwrap_or(2);
        // Each source out of the way of every target number first, so that one dup2
        // cannot overwrite another's source; the copies close when this returns.
        let sources = placed
            .iter()
            .map(|(fd, _)| copy_above(fd.as_raw_fd(), above))
            .collect::<io::Result<Vec<OwnedFd>>>()?;
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        let mut actions = PosixSpawnFileActions::init()?;
        actions.add_dup2(null.as_raw_fd(), 0)?;
        actions.add_dup2(null.as_raw_fd(), 1)?;
        for (source, &(_, to)) in sources.iter().zip(placed) {
            actions.add_dup2(source.as_raw_fd(), to)?;
        }
        let mut attr = PosixSpawnAttr::init()?;
        attr.set_sigmask(&SigSet::empty())?;
        let mut defaults = SigSet::empty();
        defaults.add(Signal::SIGPIPE);
        attr.set_sigdefault(&defaults)?;
        attr.set_flags(
            PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
        )?;
        let env = self
            .env
            .iter()
            .map(|(key, value)| {
                let mut pair = key.clone().into_vec();
                pair.push(b'=');
                pair.extend_from_slice(value.as_bytes());
                CString::new(pair).map_err(|_| nul_in("an environment variable"))
            })
            .collect::<io::Result<Vec<CString>>>()?;
        Ok(posix_spawn(
            self.program.as_c_str(),
            &actions,
            &attr,
            &self.args,
            &env,
        )?)
    }
}

fn c_string(text: &OsStr) -> io::Result<CString> {
    CString::new(text.as_bytes()).map_err(|_| nul_in("an argument"))
}

fn nul_in(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("a NUL byte in {what}"))
}

/// A close-on-exec copy of `fd` numbered above `floor`.
fn copy_above(fd: RawFd, floor: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on a descriptor number; the result is checked and then owned.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor + 1) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor no one else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use nix::sys::wait::{WaitStatus, waitpid};

    /// The child sees the placed descriptors at their numbers (even when a source sits
    /// at another one's target number) and the environment asked for.
    #[test]
    fn the_child_gets_its_descriptors_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let (r, w) = nix::unistd::pipe().unwrap();
        let script = format!(
            "exec >{out}; readlink /proc/self/fd/3 /proc/self/fd/4; \
             echo \"$POSTERN_TEST_A|${{POSTERN_TEST_B-unset}}\"",
            out = out.display()
        );
        let mut spawn = Spawn::new(Path::new("/bin/sh")).unwrap();
        spawn.arg("-c").unwrap().arg(&script).unwrap();
        spawn
            .env("POSTERN_TEST_A", "a")
            .env("POSTERN_TEST_B", "b")
            .env_remove("POSTERN_TEST_B");
        let pid = spawn.spawn(&[(w.as_fd(), 3), (r.as_fd(), 4)]).unwrap();
        assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 0));
        let pipe = std::fs::read_link(format!("/proc/self/fd/{}", w.as_raw_fd())).unwrap();
        let pipe = pipe.display().to_string();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().collect::<Vec<_>>(), [&pipe, &pipe, "a|unset"]);
    }

    /// No signal blocked (serve blocks those its signalfd reads) and SIGPIPE at its
    /// default (Rust programs ignore it), as the program itself sees them.
    #[test]
    fn the_child_starts_with_no_signal_blocked_or_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("status");
        let mut spawn = Spawn::new(Path::new("/bin/cp")).unwrap();
        spawn.arg("/proc/self/status").unwrap().arg(&out).unwrap();
        let mut usr1 = SigSet::empty();
        usr1.add(Signal::SIGUSR1);
        usr1.thread_block().unwrap();
        let pid = spawn.spawn(&[]);
        usr1.thread_unblock().unwrap();
        let pid = pid.unwrap();
        assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 0));
        let text = std::fs::read_to_string(&out).unwrap();
        let mask = |name: &str| {
            let line = text.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{text}");
        assert_eq!(mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{text}");
    }
}
