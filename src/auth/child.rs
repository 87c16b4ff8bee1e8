//! Lookups made in a short-lived child process before the privilege drop: the PAM
//! transaction and the user's group list. What answers them (PAM modules, and the NSS
//! modules they and a group lookup load, such as libnss_systemd with libm and libcap)
//! stays mapped for good in a process that loads it, and glibc never unloads NSS modules.
//! In a child, none of it is left in the session that goes on to serve the user's mail,
//! and a module that crashes takes only the child down.

use std::fs::File;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

/// Runs `lookup` in a child process and gives back the bytes it returned. An error when
/// the child could not be made or did not finish cleanly (a crash, a panic).
///
/// Only for a single-threaded process: the child calls into glibc (malloc, dlopen), which
/// is safe after fork only when no other thread could have held its locks. postern's
/// sessions run on one thread until and after login.
pub fn run<F: FnOnce() -> Vec<u8>>(lookup: F) -> io::Result<Vec<u8>> {
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

    #[test]
    fn a_child_that_dies_is_an_error() {
        let err = run(|| unsafe { nix::libc::_exit(3) }).unwrap_err();
        assert!(err.to_string().contains("Exited"), "{err}");
    }
}
