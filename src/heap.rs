//! Heap memory a session process gives back to the system.
//!
//! A session lives as long as its client does (IDLE for hours), and one large command
//! (a first `FETCH 1:* ENVELOPE` makes megabytes of cache entries) must not leave it that
//! much larger. glibc keeps freed heap memory for reuse, returns only a free top of the
//! heap by itself, and once a large block served by mmap is freed it raises the size
//! from which it uses mmap, so that later large blocks come from the heap and stay there
//! after they are freed too. Fixed thresholds and a trim after large commands keep a
//! session's private memory near what it holds. Other C libraries: nothing to do here.

/// Blocks from this size on are mapped on their own and unmapped when freed, and a free
/// top of the heap from this size on is given back: fixed, so glibc does not raise them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD: nix::libc::c_int = 256 * 1024;

/// Fixes glibc's thresholds (see the module comment); once, at the start of a process.
pub fn fix_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, THRESHOLD);
        nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

/// Gives the heap's free pages back to the system, wherever they are in it (after a
/// command that went through many messages; it costs a walk of the free lists).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks and frees only free pages.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
