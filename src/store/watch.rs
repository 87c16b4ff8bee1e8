//! Wakes IDLE when a folder changes: inotify on new/, cur/ and courierimapkeywords/.
//! The descriptor is non-blocking; poll it with the session socket, then [`Watcher::drain`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::keywords;

#[derive(Debug)]
pub struct Watcher {
    inotify: Inotify,
    /// The watches of new/ and cur/, to tell which directory an event is in.
    new: WatchDescriptor,
    cur: WatchDescriptor,
}

/// Which of the watched directories an event names a file in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    New,
    Cur,
}

/// A file that appeared in (created or renamed into) or left (deleted or renamed out of)
/// new/ or cur/.
#[derive(Debug, PartialEq, Eq)]
pub struct FileEvent {
    pub sub: Sub,
    pub name: String,
    pub arrived: bool,
}

/// What the events read by one [`Watcher::drain`] say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// In the order they happened.
    pub files: Vec<FileEvent>,
    /// Something changed in courierimapkeywords/.
    pub keywords: bool,
    /// Events were lost (queue overflow) or a directory itself went: only a full look at
    /// the folder can tell what changed.
    pub lost: bool,
}

impl Events {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && !self.keywords && !self.lost
    }
}

impl Watcher {
    pub fn new(folder_dir: &Path) -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::CLOSE_WRITE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        let kw = folder_dir.join(keywords::DIR);
        if !kw.exists() {
            // Courier creates it for the watcher's sake; so do we (best effort).
            let _ = std::fs::create_dir(&kw);
        }
        let new = inotify.watches().add(folder_dir.join("new"), mask)?;
        let cur = inotify.watches().add(folder_dir.join("cur"), mask)?;
        inotify.watches().add(&kw, mask)?;
        Ok(Watcher { inotify, new, cur })
    }

    /// No event is waiting to be read (checked without reading any).
    pub fn quiet(&self) -> bool {
        let mut fds = [nix::poll::PollFd::new(
            self.inotify.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        matches!(
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO),
            Ok(0)
        )
    }

    /// Reads every pending event without blocking.
    pub fn drain(&mut self) -> io::Result<Events> {
        let mut buf = [0u8; 4096];
        let mut out = Events::default();
        loop {
            let events = match self.inotify.read_events(&mut buf) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) => return Err(e),
            };
            let mut n = 0;
            for e in events {
                n += 1;
                if e.mask.intersects(
                    EventMask::Q_OVERFLOW
                        | EventMask::IGNORED
                        | EventMask::DELETE_SELF
                        | EventMask::MOVE_SELF,
                ) {
                    out.lost = true;
                    continue;
                }
                let sub = if e.wd == self.new {
                    Sub::New
                } else if e.wd == self.cur {
                    Sub::Cur
                } else {
                    out.keywords = true;
                    continue;
                };
                let Some(name) = e.name.and_then(|n| n.to_str()) else {
                    continue;
                };
                // Dot files are not messages (Maildir spec); a name that is not UTF-8 is
                // skipped by a listing too.
                if name.starts_with('.') || e.mask.contains(EventMask::ISDIR) {
                    continue;
                }
                let arrived = e.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO);
                if arrived || e.mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                    let name = name.to_string();
                    out.files.push(FileEvent { sub, name, arrived });
                }
            }
            if n == 0 {
                return Ok(out);
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
        assert!(w.drain().unwrap().is_empty());
        md.deliver("INBOX", &mut &b"Subject: x\r\n\r\nhi\r\n"[..])
            .unwrap();
        let mut fds = [nix::poll::PollFd::new(
            w.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16)).unwrap();
        assert_eq!(n, 1);
        let events = w.drain().unwrap();
        assert_eq!(events.files.len(), 1, "{events:?}");
        assert!(events.files[0].arrived && events.files[0].sub == Sub::New);
        assert!(w.drain().unwrap().is_empty());
    }
}
