//! Read-only memory maps of files postern itself replaces by rename (the folder index and
//! the message caches).
//!
//! Two unsafe steps, both here. Mapping: a mapping is only sound while nobody truncates
//! the file under it (the kernel then raises SIGBUS on access). postern never truncates a
//! mapped file: it writes a new one in `tmp/` and renames it over the old, which leaves
//! the mapped inode intact for whoever still has it. Only the mailbox owner could
//! truncate it, and that can only stop that owner's own session, which runs with the
//! owner's rights. Releasing pages: MADV_DONTNEED, harmless on a shared read-only map
//! (see [`ReadOnlyMap::release_pages`]).

use std::fs::File;
use std::io;

/// The whole file, mapped read-only and shared with the page cache.
pub struct ReadOnlyMap(memmap2::Mmap);

impl ReadOnlyMap {
    pub fn new(file: &File) -> io::Result<ReadOnlyMap> {
        // SAFETY: see the module comment: the file is replaced by rename, never truncated
        // or written in place by postern.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(ReadOnlyMap(map))
    }
}

impl ReadOnlyMap {
    /// Gives back this process's hold on the pages it has read so far (they stay in the
    /// page cache for every other reader, and come back on the next access): after a
    /// pass over a large index, the session's resident size is what it keeps, not the
    /// whole file.
    pub fn release_pages(&self) {
        // SAFETY: MADV_DONTNEED on a shared, read-only file mapping only drops this
        // process's page table entries; the next access maps the same file pages again.
        // (It would discard data only in a private mapping that was written to.)
        if let Err(e) = unsafe { self.0.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) } {
            log::debug!("madvise(MADV_DONTNEED) failed: {e}");
        }
    }
}

impl std::ops::Deref for ReadOnlyMap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for ReadOnlyMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadOnlyMap({} bytes)", self.0.len())
    }
}
