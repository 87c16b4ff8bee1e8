//! Lookups made in a short-lived child process before the privilege drop: the PAM
//! transaction and the user's group list. What answers them (PAM modules, and the NSS
//! modules they and a group lookup load, such as libnss_systemd with libm and libcap)
//! stays mapped for good in a process that loads it, and glibc never unloads NSS modules.
//! In a child, none of it is left in the session that goes on to serve the user's mail,
//! and a module that crashes takes only the child down.
//!
//! A login that executes the mail session program right after (see
//! `crate::net::handoff`) makes its lookups in its own process instead ([`InProcess`]):
//! the exec discards whatever the modules left, and the fork, the child's copy-on-write
//! faults and its exit cost more than a millisecond a login (about a tenth of a whole
//! short session's CPU).

use std::fs::File;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

/// Runs `lookup` in a child process and gives back the bytes it returned. An error when
/// the child could not be made or did not finish cleanly (a crash, a panic).
///
/// Only for a single-threaded process: the child calls into glibc (malloc, dlopen), which
/// is safe after fork only when no other thread could have held its locks. postern's
/// sessions run on one thread until and after login.
pub fn run<F: FnOnce() -> Vec<u8>>(lookup: F) -> io::Result<Vec<u8>> {
    if IN_PROCESS.load(Ordering::Relaxed) {
        return catch_unwind(AssertUnwindSafe(lookup))
            .map_err(|_| io::Error::other("the lookup panicked"));
    }
    let (from_child, to_parent) = pipe()?;
    // SAFETY: the process is single-threaded (see above), and the child leaves with
    // _exit, never returning into the caller's frames.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(from_child);
            let written = catch_unwind(AssertUnwindSafe(|| {
                File::from(to_parent).write_all(&lookup()).is_ok()
            }));
            let code = if matches!(written, Ok(true)) { 0 } else { 1 };
            // SAFETY: ends the child without the parent's exit handlers or destructors.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(to_parent);
            let mut bytes = Vec::new();
            let read = File::from(from_child).read_to_end(&mut bytes);
            let status = waitpid(child, None)?;
            read?;
            if status != WaitStatus::Exited(child, 0) {
                return Err(io::Error::other(format!(
                    "the lookup's child process ended with {status:?}"
                )));
            }
            Ok(bytes)
        }
    }
}

static IN_PROCESS: AtomicBool = AtomicBool::new(false);

/// While it lives, `run` calls lookups in this process. Only for a login that executes
/// a fresh program once it has become the user, so that nothing the modules loaded or
/// left in memory outlives the exec.
#[must_use]
pub struct InProcess(bool);

impl InProcess {
    /// Lookups run here until the guard is dropped when `exec_follows`; otherwise the
    /// guard changes nothing.
    pub fn when(exec_follows: bool) -> InProcess {
        if exec_follows {
            IN_PROCESS.store(true, Ordering::Relaxed);
        }
        InProcess(exec_follows)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if self.0 {
            IN_PROCESS.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Unit tests run on many threads; these children only allocate (glibc makes malloc
    // usable in the child of a fork) and leave.

    #[test]
    fn the_childs_answer_comes_back() {
        let bytes = run(|| b"answer".to_vec()).unwrap();
        assert_eq!(bytes, b"answer");
    }

    fn pid_of_the_lookup() -> u32 {
        let bytes = run(|| std::process::id().to_ne_bytes().to_vec()).unwrap();
        u32::from_ne_bytes(bytes.try_into().unwrap())
    }

    // One test for the switch and for a child that dies (which must not run here): the
    // switch is process-wide, and unit tests run in parallel.
    #[test]
    fn lookups_run_here_only_while_an_exec_follows() {
        let err = run(|| unsafe { nix::libc::_exit(3) }).unwrap_err();
        assert!(err.to_string().contains("Exited"), "{err}");
        let here = std::process::id();
        assert_ne!(pid_of_the_lookup(), here);
        {
            let _not = InProcess::when(false);
            assert_ne!(pid_of_the_lookup(), here);
        }
        {
            let _guard = InProcess::when(true);
            assert_eq!(pid_of_the_lookup(), here);
            assert!(run(|| panic!("a module bug")).is_err());
        }
        assert_ne!(pid_of_the_lookup(), here);
    }
}
