//! Maildir++ storage engine, on-disk compatible with Courier-IMAP; knows no protocol.
//!
//! One job per module: folder names and the folder tree ([`folder`]), the UID database
//! ([`uiddb`]), system flags ([`flags`]) and keywords ([`keywords`]), subscriptions, quota
//! (`maildirsize`), the dot-lock shared with Courier ([`lock`]), the open-folder view
//! ([`mailbox`]), new messages on their way in through `tmp/` ([`spool`]), delivery and
//! APPEND ([`deliver`]), inotify ([`watch`]) and unique file names ([`filename`]).

#![forbid(unsafe_code)]

pub mod acl;
pub mod acl_cli;
pub mod blobcache;
pub mod cli;
pub mod deliver;
pub mod filename;
pub mod flags;
pub mod folder;
pub mod fs_shared;
mod fsutil;
pub mod fts;
pub mod index;
pub mod index_diff;
pub mod keyword_writer;
pub mod keywords;
pub mod lda;
pub mod lock;
pub mod mailbox;
pub mod measure;
pub mod modseq;
pub mod objectid;
pub mod places;
pub mod purge;
pub mod quota;
pub mod recent;
pub mod shared_index;
pub mod sizecache;
pub mod sortfile;
pub mod specialuse;
pub mod spool;
mod stable_hash;
pub mod subscriptions;
mod table;
pub mod uiddb;
pub mod watch;

use std::path::{Path, PathBuf};

pub use flags::Flags;
pub use mailbox::{
    Changes, CopyResult, FlagChange, Mailbox, MessageEntry, cur_listings_by_this_thread,
};
pub use spool::{Spool, Spooled};

/// Result of every storage operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What can go wrong in the store; protocols map these to their own answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid folder name: {0}")]
    InvalidName(String),
    #[error("no such folder: {0}")]
    NoSuchFolder(String),
    #[error("folder already exists: {0}")]
    FolderExists(String),
    #[error("folder has sub-folders: {0}")]
    HasChildren(String),
    #[error("over quota")]
    OverQuota,
    #[error("folder is read-only")]
    ReadOnly,
    #[error("no such message")]
    NoSuchMessage,
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A user's Maildir++ root (INBOX).
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    /// Serve directories that are symbolic links (Courier MAILDIR_SKIP_SYMLINK_CHECKS).
    follow_symlinks: bool,
}

/// One entry of [`Maildir::list_folders`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// "INBOX" or "INBOX.a.b", UTF-8.
    pub name: String,
    pub has_children: bool,
}

/// Counts for IMAP STATUS, computed without reading a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderStatus {
    pub messages: u32,
    pub recent: u32,
    pub unseen: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
}

/// STATUS SIZE and DELETED of a folder (RFC 8438, RFC 9051): asked for separately from
/// [`FolderStatus`] because they need every message's size, not only the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderUsage {
    /// The messages' RFC822.SIZE summed.
    pub size: u64,
    /// Messages flagged `\Deleted`.
    pub deleted: u32,
}

/// The Maildir++ quota and what is used of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit_bytes: Option<u64>,
    pub limit_messages: Option<u64>,
    pub used_bytes: u64,
    pub used_messages: u64,
}

/// Where an appended message comes from.
#[derive(Debug)]
pub enum AppendSource<'a> {
    Bytes(&'a [u8]),
    /// A message already spooled by [`Maildir::spool`] (the IMAP reader streams APPEND
    /// literals there); renamed into place, not copied.
    Spooled(Spooled),
}

/// UID of an appended message (for APPENDUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    pub uid_validity: u32,
    pub uid: u32,
    /// The message's basename, for [`Maildir::undo_append`].
    pub basename: String,
    /// Bytes and messages it added to the quota.
    pub charged: (u64, u64),
}

impl Maildir {
    /// Opens an existing Maildir; it must have cur/, new/ and tmp/, none of them (nor the
    /// root) a symbolic link.
    pub fn open(root: impl Into<PathBuf>) -> Result<Maildir> {
        Maildir::open_with(root, false)
    }

    /// [`Maildir::open`]; with `follow_symlinks`, linked directories are served too.
    pub fn open_with(root: impl Into<PathBuf>, follow_symlinks: bool) -> Result<Maildir> {
        let root = root.into();
        for sub in ["cur", "new", "tmp"] {
            if !root.join(sub).is_dir() {
                return Err(StoreError::NoSuchFolder(format!(
                    "{} is not a Maildir (no {sub}/)",
                    root.display()
                )));
            }
        }
        if !follow_symlinks && (folder::is_symlink(&root) || folder::has_linked_dirs(&root)) {
            return Err(StoreError::NoSuchFolder(format!(
                "{}: the Maildir or its cur/ new/ tmp/ is a symbolic link \
                 (refused without skip_symlink_checks)",
                root.display()
            )));
        }
        Ok(Maildir {
            root,
            follow_symlinks,
        })
    }

    /// Creates a Maildir (as maildirmake does): the root and its cur/ new/ tmp/, mode 0700.
    /// An existing Maildir is left as it is.
    pub fn create(root: impl Into<PathBuf>) -> Result<Maildir> {
        let root = root.into();
        fsutil::mkdir_0700(&root, true)?;
        for sub in ["tmp", "new", "cur"] {
            fsutil::mkdir_0700(&root.join(sub), true)?;
        }
        Ok(Maildir {
            root,
            follow_symlinks: false,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a folder: "INBOX" (any case) is the root, "INBOX.a.b" is root/.a.b.
    /// Validates the name; does not check that the folder exists.
    pub fn folder_dir(&self, name: &str) -> Result<PathBuf> {
        folder::folder_dir(&self.root, name)
    }

    /// The directory of a folder that exists (with cur/ new/ tmp/; linked ones only when
    /// this Maildir follows symbolic links).
    pub fn existing_dir(&self, name: &str) -> Result<PathBuf> {
        folder::existing_dir(&self.root, name, self.follow_symlinks)
    }

    /// Every folder including INBOX, sorted by name.
    pub fn list_folders(&self) -> Result<Vec<FolderInfo>> {
        folder::list(&self.root, self.follow_symlinks)
    }

    /// Creates a folder and any missing parents (RFC 3501 CREATE).
    pub fn create_folder(&self, name: &str) -> Result<()> {
        folder::create(&self.root, name)
    }

    /// Creates the folder alone, not the levels above it (see [`folder::create_leaf`]).
    pub fn create_folder_leaf(&self, name: &str) -> Result<()> {
        folder::create_leaf(&self.root, name)
    }

    /// Creates a folder with the special uses a client gave it (RFC 6154 §3): the folder,
    /// then its use file; when the file cannot be written the new, still empty folder is
    /// removed again, so CREATE does both or neither.
    pub fn create_folder_with_uses(&self, name: &str, uses: &[String]) -> Result<()> {
        folder::create(&self.root, name)?;
        if uses.is_empty() {
            return Ok(());
        }
        let dir = self.existing_dir(name)?;
        if let Err(e) = specialuse::write(&dir, uses) {
            let _ = folder::delete(&self.root, name);
            return Err(e.into());
        }
        Ok(())
    }

    /// The special uses a client gave `folder` at CREATE (see [`specialuse`]).
    pub fn special_uses(&self, folder: &str) -> Vec<String> {
        match self.folder_dir(folder) {
            Ok(dir) => specialuse::read(&dir),
            Err(_) => Vec::new(),
        }
    }

    /// Deletes a folder and its messages; sub-folders stay.
    pub fn delete_folder(&self, name: &str) -> Result<()> {
        folder::delete(&self.root, name)
    }

    /// Renames a folder with its sub-folders; renaming INBOX moves its messages into a new
    /// folder and leaves INBOX empty (RFC 3501).
    pub fn rename_folder(&self, from: &str, to: &str) -> Result<()> {
        folder::rename(&self.root, from, to)
    }

    /// Subscribed folder names, as stored in `courierimapsubscribed`.
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        subscriptions::read(&self.root)
    }

    pub fn subscribe(&self, name: &str) -> Result<()> {
        subscriptions::subscribe(&self.root, name)
    }

    pub fn unsubscribe(&self, name: &str) -> Result<()> {
        subscriptions::unsubscribe(&self.root, name)
    }

    /// The `maildirsize` quota, or None when none is set.
    pub fn quota(&self) -> Result<Option<Quota>> {
        Ok(quota::current(&self.root)?.map(|q| q.to_quota()))
    }

    /// Counts for STATUS; assigns UIDs to new messages but moves nothing and reads no body.
    pub fn status(&self, folder: &str) -> Result<FolderStatus> {
        let dir = self.existing_dir(folder)?;
        mailbox::status(&dir)
    }

    /// The folder's MAILBOXID (RFC 8474), made on first ask (see [`objectid`]).
    pub fn mailbox_id(&self, folder: &str) -> Result<String> {
        let dir = self.existing_dir(folder)?;
        Ok(objectid::mailbox_id(&dir)?)
    }

    /// STATUS SIZE and DELETED of `folder` (see [`FolderUsage`]).
    pub fn usage(&self, folder: &str) -> Result<FolderUsage> {
        let dir = self.existing_dir(folder)?;
        mailbox::usage(&dir, false)
    }

    /// Stores a message in `folder` (IMAP APPEND) and returns its UID. A spooled source
    /// is consumed: renamed into place, or removed if the APPEND fails.
    pub fn append(
        &self,
        folder: &str,
        source: AppendSource<'_>,
        flags: Flags,
        keywords: &[String],
        internal_date: Option<std::time::SystemTime>,
    ) -> Result<AppendResult> {
        let dir = self.existing_dir(folder)?;
        let appended = deliver::append(&self.root, &dir, source, flags, keywords, internal_date)?;
        recent::keep_unclaimed(&dir, appended.uid_validity, appended.uid);
        Ok(appended)
    }

    /// Whether `count` messages of `bytes` in all fit the quota in `folder` (nothing counts
    /// in Trash): a MULTIAPPEND asks before it stores the first, so the usual failure
    /// stores nothing at all.
    pub fn check_room(&self, folder: &str, bytes: u64, count: u64) -> Result<()> {
        let dir = self.existing_dir(folder)?;
        if quota::counts_folder(&dir) {
            quota::check(&self.root, bytes, count)?;
        }
        Ok(())
    }

    /// Takes an appended message out again (a MULTIAPPEND whose later message failed,
    /// RFC 3502 §3: all or none): its file goes, and what it added to the quota. Its
    /// UID stays used (UIDs are never reused); the UID database line names a file that is
    /// gone, which every scan already takes as an expunged message.
    pub fn undo_append(&self, folder: &str, appended: &AppendResult) -> Result<()> {
        let dir = self.existing_dir(folder)?;
        for sub in ["cur", "new"] {
            for n in fsutil::list_names(&dir.join(sub))? {
                if filename::split_info(&n).0 == appended.basename {
                    std::fs::remove_file(dir.join(sub).join(&n))?;
                }
            }
        }
        let (bytes, count) = appended.charged;
        quota::record(&self.root, -(bytes as i64), -(count as i64))?;
        Ok(())
    }

    /// A spool for one APPEND message into `folder`: a new file in the folder's `tmp/`
    /// that turns CRLF into LF as it is written, for [`Maildir::append`] to rename into
    /// `cur/`. Without a folder, or when it does not exist (the APPEND will answer so
    /// once its message is read), the spool is in INBOX's `tmp/`: Maildir++ folders sit
    /// below the root on the same file system, so placing it is still one rename (a
    /// folder linked to another disk gets one copy).
    pub fn spool(&self, folder: Option<&str>) -> Result<Spool> {
        let dir = folder
            .and_then(|f| self.existing_dir(f).ok())
            .unwrap_or_else(|| self.root.clone());
        Ok(Spool::create(&dir.join("tmp"), spool::LineEnds::ToLf)?)
    }

    /// Delivers a message into `folder`'s new/ (tmp -> fsync -> new/), quota checked.
    pub fn deliver(&self, folder: &str, source: &mut dyn std::io::Read) -> Result<PathBuf> {
        let dir = self.existing_dir(folder)?;
        deliver::deliver(&self.root, &dir, source)
    }

    /// Removes messages older than `max_age` (by ctime) from `folder`, looking at no
    /// more than `*budget` files (see [`purge::purge`]). A folder that does not exist has
    /// nothing to purge.
    pub fn purge(
        &self,
        folder: &str,
        max_age: std::time::Duration,
        budget: &mut u64,
    ) -> Result<purge::PurgeReport> {
        let dir = match self.existing_dir(folder) {
            Ok(dir) => dir,
            Err(StoreError::NoSuchFolder(_)) => {
                return Ok(purge::PurgeReport {
                    complete: true,
                    ..Default::default()
                });
            }
            Err(e) => return Err(e),
        };
        purge::purge(
            &self.root,
            &dir,
            max_age,
            std::time::SystemTime::now(),
            budget,
        )
    }

    /// Opens a folder: one scan of new/ and cur/ plus the UID database.
    pub fn open_mailbox(&self, folder: &str, read_only: bool) -> Result<Mailbox> {
        let name = folder::canonical_name(folder)?;
        let dir = self.existing_dir(folder)?;
        Mailbox::open(self.root.clone(), dir, name, read_only)
    }
}
