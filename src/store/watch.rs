//! Wakes IDLE when a folder changes: inotify on new/, cur/ and courierimapkeywords/.
//! The descriptor is non-blocking; poll it with the session socket, then [`Watcher::drain`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

use inotify::{Inotify, WatchMask};

use super::keywords;

pub struct Watcher {
    inotify: Inotify,
}

impl Watcher {
    pub fn new(folder_dir: &Path) -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::CLOSE_WRITE;
        for sub in ["new", "cur", keywords::DIR] {
            let p = folder_dir.join(sub);
            if sub == keywords::DIR && !p.exists() {
                // Courier creates it for the watcher's sake; so do we (best effort).
                let _ = std::fs::create_dir(&p);
            }
            inotify.watches().add(&p, mask)?;
        }
        Ok(Watcher { inotify })
    }

    /// Reads every pending event without blocking; true when there was any.
    pub fn drain(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        let mut any = false;
        loop {
            match self.inotify.read_events(&mut buf) {
                Ok(events) => {
                    let mut n = 0;
                    for _ in events {
                        n += 1;
                    }
                    if n == 0 {
                        return Ok(any);
                    }
                    any = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }
}

impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_delivery() {
        let d = tempfile::tempdir().unwrap();
        let md = crate::store::Maildir::create(d.path()).unwrap();
        let mut w = Watcher::new(md.root()).unwrap();
        assert!(!w.drain().unwrap());
        md.deliver("INBOX", &mut &b"Subject: x\r\n\r\nhi\r\n"[..])
            .unwrap();
        let mut fds = [nix::poll::PollFd::new(
            w.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16)).unwrap();
        assert_eq!(n, 1);
        assert!(w.drain().unwrap());
        assert!(!w.drain().unwrap());
    }
}
