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

use std::sync::atomic::{AtomicBool, Ordering};

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
