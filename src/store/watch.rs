//! Wakes IDLE when a folder changes: inotify on new/, cur/ and courierimapkeywords/.
//! The descriptor is non-blocking; poll it with the session socket, then [`Watcher::drain`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::keywords;

/// The events of new/ and cur/ that name a file: entries made, removed or renamed. Only
/// events of the directory itself: asking for one that happens to a file inside (such as
/// IN_CLOSE_WRITE) makes the kernel mark every cached entry of the directory as the
/// watch is added, 10 ms for a cur/ of 100,000 messages, paid again by each session
/// that watches it, and sends every later open and close of a message there through
/// the watch. A
/// message is renamed into place whole (the Maildir rule), so those events say nothing
/// more. The keyword directory, small, is also watched for files written in place.
const MESSAGE_DIR_EVENTS: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF);

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
        let kw = folder_dir.join(keywords::DIR);
        if !kw.exists() {
            // Courier creates it for the watcher's sake; so do we (best effort).
            let _ = std::fs::create_dir(&kw);
        }
        let new = inotify
            .watches()
            .add(folder_dir.join("new"), MESSAGE_DIR_EVENTS)?;
        let cur = inotify
            .watches()
            .add(folder_dir.join("cur"), MESSAGE_DIR_EVENTS)?;
        inotify
            .watches()
            .add(&kw, MESSAGE_DIR_EVENTS | WatchMask::CLOSE_WRITE)?;
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

    /// The events a watch asks for, from the kernel's own account of it
    /// (`/proc/self/fdinfo`), by the inode of the directory watched.
    fn watched_masks(w: &Watcher) -> Vec<(u64, u32)> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", w.as_raw_fd())).unwrap();
        info.lines()
            .filter(|l| l.starts_with("inotify "))
            .map(|l| {
                let field = |key: &str| {
                    l.split(' ')
                        .find_map(|f| f.strip_prefix(key))
                        .unwrap()
                        .to_string()
                };
                let ino = u64::from_str_radix(&field("ino:"), 16).unwrap();
                (ino, u32::from_str_radix(&field("mask:"), 16).unwrap())
            })
            .collect()
    }

    #[test]
    fn message_directories_are_watched_for_their_entries_only() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let md = crate::store::Maildir::create(d.path()).unwrap();
        let w = Watcher::new(md.root()).unwrap();
        let ino = |sub: &str| std::fs::metadata(md.root().join(sub)).unwrap().ino();
        let masks = watched_masks(&w);
        assert_eq!(masks.len(), 3, "{masks:?}");
        // IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_OPEN: the
        // events of files inside a directory, which make adding the watch walk it.
        const ON_CHILDREN: u32 = 0x3f;
        // IN_MOVED_TO: a delivery.
        for sub in ["new", "cur"] {
            let (_, mask) = masks.iter().find(|(i, _)| *i == ino(sub)).unwrap();
            assert_eq!(mask & ON_CHILDREN, 0, "{sub}: mask {mask:#x}");
            assert_ne!(mask & 0x80, 0, "{sub}: mask {mask:#x}");
        }
    }
}
