//! Heap memory a session process gives back to the system.
//!
//! A session lives as long as its client does (IDLE for hours), and one large command
//! (a first `FETCH 1:* ENVELOPE` makes megabytes of cache entries) must not leave it that
//! much larger. glibc keeps freed heap memory for reuse and returns only a free top of
//! the heap by itself; and once a large block it had mapped on its own is freed, it
//! serves later large blocks from the heap too, where they stay after they are freed.
//! A trim once such a command is over gives all of that back; between trims, glibc
//! reuses freed pages for the next large buffer without faulting in new ones. Other C
//! libraries: nothing to do.
//!
//! The trim cannot give back a page that a live block sits on, and glibc's per-thread
//! cache keeps up to seven freed blocks of each small size out of the free lists: after
//! a command that made tens of thousands of small blocks, those few hundred cached ones
//! lie all over the heap and hold the pages around them (1.1 MB of a session after the
//! first FETCH 1:* ENVELOPE of a 10,000-message folder; 76 kB with the cache off). So
//! the programs that serve a session run with it off ([`MALLOC_TUNABLES`]); the free
//! lists glibc falls back on cost a first FETCH of a folder about 8% more time.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// glibc settings for a session program: no per-thread cache of freed blocks (see above).
pub const MALLOC_TUNABLES: &str = "glibc.malloc.tcache_count=0";

/// Gives `cmd`, a session program about to be started, [`MALLOC_TUNABLES`], unless this
/// process was started with GLIBC_TUNABLES of its own (an administrator's choice, which
/// goes on to the session as it is).
pub fn tune_session_program(cmd: &mut Command) {
    if let Some((key, value)) = session_program_env() {
        cmd.env(key, value);
    }
}

/// The variable [`tune_session_program`] sets, when it sets one.
pub fn session_program_env() -> Option<(&'static str, &'static str)> {
    std::env::var_os("GLIBC_TUNABLES")
        .is_none()
        .then_some(("GLIBC_TUNABLES", MALLOC_TUNABLES))
}

static WANTED: AtomicBool = AtomicBool::new(false);

/// Asks for a trim once the current command is over (when its buffers are free too):
/// for work that went through many messages.
pub fn give_back_after_command() {
    WANTED.store(true, Ordering::Relaxed);
}

/// At the end of every command: gives the heap's free pages back to the system,
/// wherever they are in it, if the command asked (it costs a walk of the free lists).
pub fn command_done() {
    if WANTED.swap(false, Ordering::Relaxed) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim takes the allocator's own locks and frees only free pages.
        unsafe {
            nix::libc::malloc_trim(0);
        }
    }
}
