//! Read-only memory maps of files postern itself replaces by rename (the folder index).
//!
//! The one unsafe step: a mapping is only sound while nobody truncates the file under it
//! (the kernel then raises SIGBUS on access). postern never truncates a mapped file: it
//! writes a new one in `tmp/` and renames it over the old, which leaves the mapped inode
//! intact for whoever still has it. Only the mailbox owner could truncate it, and that
//! can only stop that owner's own session, which runs with the owner's rights.

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
