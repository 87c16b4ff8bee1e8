//! Courier's filesystem shared folders ("old-style" sharing, `maildirmake -S/-s/--add`).
//!
//! A *sharable Maildir* belongs to one user and holds folders whose directory modes let
//! others in: `-s read` (0755) or `-s write` (01777, sticky like /tmp), or the `,group`
//! variants. A user who wants to see them names the sharable Maildir in their own
//! `shared-maildirs` file (`nick<TAB>/path`, written by `maildirmake --add`), or the
//! administrator names it for everyone in the global list (`[mail] maildirshared`, same
//! format). Clients then see `shared.<nick>.<folder>` for every folder of it they can read.
//!
//! SUBSCRIBE makes a private copy `shared-folders/<nick>/<folder>/` (tmp new cur, 0700;
//! no leading dot, as Courier's code makes it) with a symbolic link `shared` to
//! `<sharable>/.<folder>`. Opening it syncs the copy: its `cur/` holds one symbolic link
//! per message of the sharable folder's `cur/`, named with this user's own flags, so
//! flags are private; messages gone at the source go here too; `shared-timestamp` saves
//! the work when the source did not change. Access is the file system's: the session runs
//! as the user, a folder whose `cur/` it cannot write is read-only, and in a sticky folder
//! only a message's author or the sharable Maildir's owner can remove it (an EXPUNGE of
//! someone else's message keeps it and clears its `\Deleted`). Quota is not charged for
//! any of it.
//!
//! Links are Courier's design, so following them is confined: the `shared` link must be
//! exactly `<path>/.<folder>` for a nick that a list names now (a removed nick, or a
//! link pointing elsewhere, is no folder), the sharable folder itself (and its cur/ new/
//! tmp/) may not be a link unless `[mail] skip_symlink_checks`, only plain files of its
//! `cur/` are linked, and every message link of the copy must point straight into that
//! `cur/` (others are removed at every open, even when the timestamp spares the sync).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::time::SystemTime;

use super::filename::split_info;
use super::lock::DotLock;
use super::spool::{LineEnds, Spool};
use super::{
    AppendSource, Flags, FolderStatus, Mailbox, Result, StoreError, folder, fsutil, mailbox,
};

/// The list of sharable Maildirs in a user's Maildir.
pub const SHARED_MAILDIRS: &str = "shared-maildirs";
/// The private copies of subscribed shared folders, in a user's Maildir.
pub const SHARED_FOLDERS: &str = "shared-folders";
/// The first level of every filesystem-shared folder name: `shared.<nick>.<folder>`.
pub const PREFIX: &str = "shared";
/// The link from a private copy to its sharable folder.
const LINK: &str = "shared";
/// When the private copy was last synced.
const TIMESTAMP: &str = "shared-timestamp";

/// One sharable Maildir: a line of `shared-maildirs` or of the global list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharable {
    pub nick: String,
    pub path: PathBuf,
}

/// The lines of a `shared-maildirs` / `maildirshared` file as Courier reads them: `#`
/// starts a comment, the nick runs to the first white space, the path starts after the
/// white space that follows. Lines without both are skipped, and so are nicks postern
/// would refuse to write (see [`valid_nick`]).
pub fn parse_list(text: &[u8]) -> Vec<Sharable> {
    text.split(|&b| b == b'\n')
        .filter_map(parse_line)
        .filter(|s| valid_nick(&s.nick))
        .collect()
}

fn parse_line(line: &[u8]) -> Option<Sharable> {
    let line = match line.iter().position(|&b| b == b'#') {
        Some(i) => &line[..i],
        None => line,
    };
    let split = line.iter().position(|b| b.is_ascii_whitespace())?;
    let nick = std::str::from_utf8(&line[..split]).ok()?;
    let rest = line[split..].trim_ascii();
    if rest.is_empty() {
        return None;
    }
    Some(Sharable {
        nick: nick.to_string(),
        path: PathBuf::from(OsStr::from_bytes(rest)),
    })
}

/// A nick is one level of a folder name: not empty, without `.`, `/`, white space or
/// control characters (Courier's documentation; its `--add` only checks `.` and `/`).
pub fn valid_nick(nick: &str) -> bool {
    !nick.is_empty()
        && !nick
            .chars()
            .any(|c| c == '.' || c == '/' || c.is_whitespace() || c.is_control())
}

/// Whether a store name is in the filesystem-shared hierarchy (`shared` or below it).
pub fn is_shared_name(name: &str) -> bool {
    name == PREFIX
        || name
            .strip_prefix(PREFIX)
            .is_some_and(|r| r.starts_with(folder::SEPARATOR))
}

/// `shared.<nick>.<folder>` -> (nick, folder); the folder may have levels of its own.
/// Refused as Courier's `maildir_shareddir` refuses: no nick or folder, `/`, an empty
/// level; and control characters.
pub fn split_name(name: &str) -> Result<(&str, &str)> {
    let invalid = || StoreError::InvalidName(format!("{name:?}: not shared.<nick>.<folder>"));
    let rest = name
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix(folder::SEPARATOR))
        .ok_or_else(invalid)?;
    let (nick, folder) = rest.split_once(folder::SEPARATOR).ok_or_else(invalid)?;
    if !valid_nick(nick)
        || folder
            .split(folder::SEPARATOR)
            .any(|p| p.is_empty() || p.contains('/') || p.chars().any(char::is_control))
    {
        return Err(invalid());
    }
    Ok((nick, folder))
}

/// A user's view of the filesystem-shared folders.
#[derive(Debug, Clone)]
pub struct FsShared {
    /// The user's Maildir (INBOX).
    root: PathBuf,
    /// The administrator's list (`[mail] maildirshared`).
    global: PathBuf,
    /// `[mail] skip_symlink_checks`: serve a sharable folder that is a link.
    follow_symlinks: bool,
}

/// A subscribed folder whose link checked out: the private copy and the sharable folder.
struct Linked {
    private: PathBuf,
    source: PathBuf,
}

impl FsShared {
    pub fn new(root: &Path, global: &Path, follow_symlinks: bool) -> FsShared {
        FsShared {
            root: root.to_path_buf(),
            global: global.to_path_buf(),
            follow_symlinks,
        }
    }

    /// The sharable Maildirs this user sees: the global list first, then their own (as
    /// Courier looks them up); the first line for a nick wins.
    pub fn sharables(&self) -> Vec<Sharable> {
        let mut out: Vec<Sharable> = Vec::new();
        for file in [self.global.clone(), self.root.join(SHARED_MAILDIRS)] {
            let Ok(Some(text)) = fsutil::read_optional(&file) else {
                continue;
            };
            for s in parse_list(&text) {
                if !out.iter().any(|o| o.nick == s.nick) {
                    out.push(s);
                }
            }
        }
        out
    }

    fn sharable(&self, nick: &str) -> Option<Sharable> {
        self.sharables().into_iter().find(|s| s.nick == nick)
    }

    /// Every `shared.<nick>.<folder>` this user can read (its `cur/` can be looked at),
    /// sorted.
    pub fn list(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in self.sharables() {
            let Ok(rd) = fs::read_dir(&s.path) else {
                continue;
            };
            for ent in rd.flatten() {
                let Some(d) = ent.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let Some(inbox_name) = folder::name_of_dir(&d) else {
                    continue;
                };
                if self.servable(&ent.path()) {
                    let folder = &inbox_name[folder::INBOX.len() + 1..];
                    out.push(format!("{PREFIX}.{}.{folder}", s.nick));
                }
            }
        }
        out.sort();
        out
    }

    /// Whether a sharable folder may be served: this user can look into its `cur/`, and
    /// neither it nor its cur/ new/ tmp/ is a link unless links are followed.
    fn servable(&self, dir: &Path) -> bool {
        let linked =
            !self.follow_symlinks && (folder::is_symlink(dir) || folder::has_linked_dirs(dir));
        !linked && fs::metadata(dir.join("cur").join(".")).is_ok()
    }

    /// The subscribed shared folders (the private copies that exist), sorted.
    pub fn subscribed(&self) -> Vec<String> {
        let mut out = Vec::new();
        let base = self.root.join(SHARED_FOLDERS);
        for nick in fsutil::list_names(&base).unwrap_or_default() {
            for f in fsutil::list_names(&base.join(&nick)).unwrap_or_default() {
                out.push(format!("{PREFIX}.{nick}.{f}"));
            }
        }
        out.sort();
        out
    }

    /// The link a private copy of `nick`'s `folder` must hold: `<path>/.<folder>`, as
    /// Courier writes it (the path exactly as listed).
    fn link_value(s: &Sharable, folder: &str) -> PathBuf {
        let mut v = s.path.as_os_str().as_bytes().to_vec();
        v.extend_from_slice(format!("/.{folder}").as_bytes());
        PathBuf::from(OsStr::from_bytes(&v))
    }

    fn private_dir(&self, nick: &str, folder: &str) -> PathBuf {
        self.root.join(SHARED_FOLDERS).join(nick).join(folder)
    }

    /// Whether `shared-folders/`, its nick directory and the copy itself are real
    /// directories (links there are followed only with `skip_symlink_checks`, as for
    /// folders).
    fn copy_unlinked(&self, nick: &str, folder: &str) -> bool {
        let base = self.root.join(SHARED_FOLDERS);
        self.follow_symlinks
            || ![base.clone(), base.join(nick), base.join(nick).join(folder)]
                .iter()
                .any(|p| folder::is_symlink(p))
    }

    /// SUBSCRIBE: makes the private copy of a shared folder this user can read. Already
    /// subscribed is success.
    pub fn subscribe(&self, name: &str) -> Result<()> {
        let (nick, folder) = split_name(name)?;
        let s = self
            .sharable(nick)
            .ok_or_else(|| StoreError::NoSuchFolder(name.to_string()))?;
        let target = Self::link_value(&s, folder);
        // Courier links to a folder that does not exist; postern subscribes only to what
        // LIST shows (RFC 3501 §6.3.6 lets a server refuse).
        if !self.servable(&target) {
            return Err(StoreError::NoSuchFolder(name.to_string()));
        }
        if !self.copy_unlinked(nick, folder) {
            return Err(StoreError::NoSuchFolder(name.to_string()));
        }
        let private = self.private_dir(nick, folder);
        if private.join("cur").is_dir() {
            return Ok(());
        }
        let nick_dir = self.root.join(SHARED_FOLDERS).join(nick);
        fsutil::mkdir_0700(&self.root.join(SHARED_FOLDERS), true)?;
        fsutil::mkdir_0700(&nick_dir, true)?;
        // Built under a dot name (never listed) and renamed into place, so a half-made
        // copy is never seen.
        let (f, build) = fsutil::create_unique(&self.root.join("tmp"), ".subscribe")?;
        drop(f);
        fs::remove_file(&build)?;
        let build = nick_dir.join(format!(
            ".{}",
            build.file_name().unwrap_or_default().to_string_lossy()
        ));
        let r = (|| -> io::Result<()> {
            fsutil::mkdir_0700(&build, false)?;
            for sub in ["tmp", "cur", "new"] {
                fsutil::mkdir_0700(&build.join(sub), false)?;
            }
            std::os::unix::fs::symlink(&target, build.join(LINK))?;
            fs::rename(&build, &private)
        })();
        if let Err(e) = r {
            let _ = fs::remove_dir_all(&build);
            if !private.join("cur").is_dir() {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// UNSUBSCRIBE: removes the private copy (and the nick's directory when it was the
    /// last one). Not subscribed is success.
    pub fn unsubscribe(&self, name: &str) -> Result<()> {
        let (nick, folder) = split_name(name)?;
        let private = self.private_dir(nick, folder);
        if !self.copy_unlinked(nick, folder) {
            return Err(StoreError::NoSuchFolder(name.to_string()));
        }
        if !fs::symlink_metadata(&private).is_ok_and(|m| m.is_dir()) {
            // Courier: "OK Already unsubscribed."
            return Ok(());
        }
        let nick_dir = self.root.join(SHARED_FOLDERS).join(nick);
        let grave = nick_dir.join(format!(".unsubscribed.{}", std::process::id()));
        fs::rename(&private, &grave)?;
        // remove_dir_all does not follow the links inside.
        fs::remove_dir_all(&grave)?;
        let _ = fs::remove_dir(&nick_dir);
        Ok(())
    }

    /// The private copy of a subscribed folder and its sharable folder, after checking
    /// that the link is what the lists say it must be.
    fn linked(&self, name: &str) -> Result<Linked> {
        let (nick, folder) = split_name(name)?;
        let gone = || StoreError::NoSuchFolder(name.to_string());
        let private = self.private_dir(nick, folder);
        if !self.copy_unlinked(nick, folder) || folder::has_linked_dirs(&private) {
            return Err(gone());
        }
        let s = self.sharable(nick).ok_or_else(gone)?;
        let expected = Self::link_value(&s, folder);
        match fs::read_link(private.join(LINK)) {
            Ok(v) if v == expected => {}
            _ => return Err(gone()),
        }
        if !self.servable(&expected) || !private.join("cur").is_dir() {
            return Err(gone());
        }
        Ok(Linked {
            private,
            source: expected,
        })
    }

    /// SELECT/EXAMINE: syncs the private copy (subscribing first, as Courier does when a
    /// shared folder is opened) and opens it. A folder whose `cur/` this user cannot
    /// write is read-only.
    pub fn open_mailbox(&self, name: &str, read_only: bool) -> Result<Mailbox> {
        let (nick, folder) = split_name(name)?;
        if !self.private_dir(nick, folder).exists() {
            self.subscribe(name)?;
        }
        let l = self.linked(name)?;
        sync(&l.private, &l.source, true)?;
        let read_only = read_only || !writable(&l.source.join("cur"));
        Mailbox::open_fs_shared(
            self.root.clone(),
            l.private,
            name.to_string(),
            read_only,
            l.source,
        )
    }

    /// APPEND (and COPY) into a shared folder, as Courier does it: the message goes
    /// straight into the sharable folder's `cur/` with the given flags, readable by those
    /// who may read the folder; the private copies (this user's too) link it at their next
    /// sync, so no UID is known here. No keywords, no quota. A folder this user may not
    /// write refuses it.
    pub fn append(
        &self,
        name: &str,
        source: AppendSource<'_>,
        flags: Flags,
        internal_date: Option<SystemTime>,
    ) -> Result<()> {
        let l = self.linked(name)?;
        let cur = l.source.join("cur");
        if !writable(&cur) {
            return Err(StoreError::ReadOnly);
        }
        let staged = match source {
            AppendSource::Spooled(spooled) => spooled,
            AppendSource::Bytes(bytes) => {
                let mut spool = Spool::create(&l.source.join("tmp"), LineEnds::ToLf)?;
                spool.write_all(bytes)?;
                spool.finish()?
            }
        };
        // Spools are 0600; the folder's readers must be able to read it.
        let readers = fs::metadata(&cur)?.mode() & 0o044;
        fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o600 | readers))?;
        let file_name = format!("{}:2,{}", staged.basename(), flags.to_info());
        staged.place(&cur, &file_name, internal_date)?;
        Ok(())
    }

    /// STATUS: the counts of the synced private copy (subscribing first, as Courier's
    /// STATUS does).
    pub fn status(&self, name: &str) -> Result<FolderStatus> {
        let (nick, folder) = split_name(name)?;
        if !self.private_dir(nick, folder).exists() {
            self.subscribe(name)?;
        }
        let l = self.linked(name)?;
        sync(&l.private, &l.source, true)?;
        mailbox::status(&l.private)
    }

    /// STATUS SIZE and DELETED of a filesystem-shared folder (its private copy's links).
    pub fn usage(&self, name: &str) -> Result<super::FolderUsage> {
        let l = self.linked(name)?;
        mailbox::usage(&l.private, true)
    }
}

/// access(W_OK) for this process's ids: what the kernel will let the session do.
fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Brings a private copy in line with its sharable folder, as Courier's
/// `maildir_shared_sync` does: new mail of the source is moved to its `cur/` (when this
/// user may), then, unless `shared-timestamp` is newer than the source's `new/` and
/// `cur/`, every message link is checked against the source's `cur/`: links of messages
/// that are gone are removed, links pointing elsewhere are replaced, and each message
/// not linked yet gets a link in `new/` named `<basename>:2,` (so it is \Recent).
/// With `verify`, a sync the timestamp spares still removes links that point anywhere
/// but into the source's `cur/`.
fn sync(private: &Path, source: &Path, verify: bool) -> Result<()> {
    for n in fsutil::list_names(&source.join("new")).unwrap_or_default() {
        let target = if n.contains(':') {
            n.clone()
        } else {
            format!("{n}:2,")
        };
        // A sticky folder keeps others' new mail where it is; its owner's session moves it.
        let _ = fs::rename(source.join("new").join(&n), source.join("cur").join(target));
    }
    let cur_prefix = {
        let mut p = source.join("cur").into_os_string();
        p.push("/");
        p
    };
    if fresh(private, source) {
        if !verify {
            return Ok(());
        }
        // Nothing changed at the source; still, no link may point anywhere else.
        for sub in ["cur", "new"] {
            for n in fsutil::list_names(&private.join(sub))? {
                let path = private.join(sub).join(&n);
                if !points_into(&path, &cur_prefix) {
                    remove_quietly(&path);
                }
            }
        }
        return Ok(());
    }
    // Two sessions of this user syncing at once would both link a new message; under
    // the folder's lock the second finds the first one's link (new/ is listed before
    // cur/, so one a session moves meanwhile is not missed).
    let _lock = DotLock::acquire(private)?;
    touch_timestamp(private);
    let mut messages: HashMap<String, String> = HashMap::new();
    for ent in fs::read_dir(source.join("cur"))?.flatten() {
        let Some(n) = ent.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // Only plain files: a link planted in a writable shared folder is not followed.
        if n.starts_with('.') || !ent.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        messages.insert(split_info(&n).0.to_string(), n);
    }
    for sub in ["new", "cur"] {
        for n in fsutil::list_names(&private.join(sub))? {
            let path = private.join(sub).join(&n);
            let Some(full) = messages.remove(split_info(&n).0) else {
                remove_quietly(&path);
                continue;
            };
            let want = source.join("cur").join(&full);
            if fs::read_link(&path).ok().as_deref() != Some(want.as_path()) {
                relink(private, &want, &path)?;
            }
        }
    }
    for (base, full) in messages {
        let want = source.join("cur").join(&full);
        relink(
            private,
            &want,
            &private.join("new").join(format!("{base}:2,")),
        )?;
    }
    Ok(())
}

/// The sync of a refresh (NOOP, IDLE's rescans) of an open private copy: the links were
/// verified when it was opened, and the timestamp usually spares the rest.
pub(crate) fn sync_for_refresh(private: &Path, source: &Path) -> Result<()> {
    sync(private, source, false)
}

/// Whether `shared-timestamp` is newer than the source's `new/` and `cur/` (Courier
/// compares whole seconds, strictly).
fn fresh(private: &Path, source: &Path) -> bool {
    let Ok(stamp) = fs::symlink_metadata(private.join(TIMESTAMP)) else {
        return false;
    };
    ["new", "cur"]
        .iter()
        .all(|sub| fs::metadata(source.join(sub)).is_ok_and(|m| m.mtime() < stamp.mtime()))
}

/// Rewrites one byte of `shared-timestamp` (mode 0600), which sets its mtime to now.
fn touch_timestamp(private: &Path) {
    let r = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(private.join(TIMESTAMP))
        .and_then(|mut f| f.write_all(b"\0"));
    if let Err(e) = r {
        log::warn!("{}: cannot write {TIMESTAMP}: {e}", private.display());
    }
}

/// Whether `link` is a symbolic link straight to an entry of the source's `cur/`.
fn points_into(link: &Path, cur_prefix: &OsStr) -> bool {
    let Ok(v) = fs::read_link(link) else {
        return false;
    };
    let v = v.as_os_str().as_bytes();
    let Some(rest) = v.strip_prefix(cur_prefix.as_bytes()) else {
        return false;
    };
    !rest.is_empty() && rest != b"." && rest != b".." && !rest.contains(&b'/')
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        log::warn!("{}: cannot remove: {e}", path.display());
    }
}

/// Makes `at` a link to `to` in one step: the link is made in the copy's `tmp/` and
/// renamed over whatever `at` was.
fn relink(private: &Path, to: &Path, at: &Path) -> Result<()> {
    let (f, tmp) = fsutil::create_unique(&private.join("tmp"), ".link")?;
    drop(f);
    fs::remove_file(&tmp)?;
    let r = std::os::unix::fs::symlink(to, &tmp).and_then(|()| fs::rename(&tmp, at));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(r?)
}

/// EXPUNGE of one message of a private copy (`path` is its link), as Courier's
/// `maildir_unlinksharedmsg`: the message itself is removed from the sharable folder,
/// then the link. When the file system refuses (a sticky folder and someone else's
/// message, or a read-only folder) and the message is still there, the link stays and
/// loses its `T` flag instead: true when the message was removed.
pub(crate) fn unlink_message(path: &Path) -> io::Result<bool> {
    if let Ok(target) = fs::read_link(path)
        && fs::remove_file(&target).is_err()
        && fs::metadata(&target).is_ok()
    {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if let (base, Some(flags)) = split_info(&name) {
            let kept = format!("{base}:2,{}", flags.replace('T', ""));
            fs::rename(path, path.with_file_name(kept))?;
        }
        return Ok(false);
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(true),
    }
}

// -----------------------------------------------------------------------------------
// maildirmake -S / -s / --add / --del

/// Directory modes of `maildirmake -s MODE` (Courier's): the folder directory and its
/// tmp/ new/ cur/. `read` 0755/0755, `write` 01755/01777, `,group` takes the others'
/// bits away. None for a word that is neither.
pub fn shared_folder_modes(spec: &str) -> Option<(u32, u32)> {
    let mut perm = 0o755;
    for word in spec
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        match word.as_bytes()[0] {
            b'r' => perm = 0o755,
            b'w' => perm = 0o1777,
            b'g' => perm &= !0o007,
            _ => return None,
        }
    }
    Some((perm & !0o022, perm))
}

/// `maildirmake -S DIR`: a Maildir that can hold sharable folders: the root 0755 (others
/// may look for its folders), tmp/ new/ cur/ 0700.
pub fn make_sharable(dir: &Path) -> Result<()> {
    if fs::symlink_metadata(dir).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists).into());
    }
    DirBuilder::new().mode(0o700).create(dir)?;
    for sub in ["tmp", "new", "cur"] {
        fsutil::mkdir_0700(&dir.join(sub), false)?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// `maildirmake -s MODE -f NAME DIR` (or `-S -f`): the folder with Courier's modes,
/// `dir_mode` on its directory and `sub_mode` on tmp/ new/ cur/ (umask ignored), and an
/// empty `maildirfolder` (0600). Built in the Maildir's tmp/ and renamed into place.
pub fn make_shared_folder(root: &Path, name: &str, dir_mode: u32, sub_mode: u32) -> Result<()> {
    let dir = folder::dir_name(&folder::canonical_name(name)?)
        .ok_or_else(|| StoreError::FolderExists(name.to_string()))?;
    let target = root.join(&dir);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(StoreError::FolderExists(name.to_string()));
    }
    let (f, build) = fsutil::create_unique(&root.join("tmp"), ".newfolder")?;
    drop(f);
    fs::remove_file(&build)?;
    let r = (|| -> io::Result<()> {
        fsutil::mkdir_0700(&build, false)?;
        for sub in ["tmp", "new", "cur"] {
            fsutil::mkdir_0700(&build.join(sub), false)?;
            fs::set_permissions(build.join(sub), fs::Permissions::from_mode(sub_mode))?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(build.join(folder::MARKER))?;
        fs::set_permissions(&build, fs::Permissions::from_mode(dir_mode))?;
        fs::rename(&build, &target)
    })();
    if let Err(e) = r {
        let _ = fs::remove_dir_all(&build);
        return Err(e.into());
    }
    fsutil::fsync_dir(root)?;
    Ok(())
}

/// Why `--add` / `--del` failed, with Courier's exit status (2: the nick is taken).
#[derive(Debug)]
pub struct ListError {
    pub message: String,
    pub status: u8,
}

fn list_error(message: String) -> ListError {
    ListError { message, status: 1 }
}

/// `maildirmake --add NICK=PATH MAILDIR`: names a sharable Maildir in `shared-maildirs`.
/// Refused: no `=`, a relative path, a path this user cannot read, a bad nick, a nick
/// the global list or the file already has (status 2). The file is rewritten whole
/// through tmp/ and a rename.
pub fn add(maildir: &Path, spec: &str, global: &Path) -> std::result::Result<(), ListError> {
    let Some((nick, path)) = spec.split_once('=') else {
        return Err(list_error(format!("{spec}: expected NICK=/path")));
    };
    if !path.starts_with('/') {
        return Err(list_error(format!("{path}: the path must be absolute")));
    }
    if let Err(e) = nix::unistd::access(path, nix::unistd::AccessFlags::R_OK) {
        return Err(list_error(format!(
            "{path}: {}",
            io::Error::from_raw_os_error(e as i32)
        )));
    }
    if !valid_nick(nick) {
        return Err(list_error(format!("{nick}: invalid name")));
    }
    if let Ok(Some(text)) = fsutil::read_optional(global)
        && parse_list(&text).iter().any(|s| s.nick == nick)
    {
        return Err(ListError {
            message: format!(
                "{nick}: already defined as a sharable maildir in {}.",
                global.display()
            ),
            status: 2,
        });
    }
    let old = read_own_list(maildir, true)?;
    if parse_list(&old).iter().any(|s| s.nick == nick) {
        return Err(ListError {
            message: format!("{nick}: already defined as a sharable maildir."),
            status: 2,
        });
    }
    let mut new = old;
    if !new.is_empty() && !new.ends_with(b"\n") {
        new.push(b'\n');
    }
    new.extend_from_slice(format!("{nick}\t{path}\n").as_bytes());
    write_own_list(maildir, &new)
}

/// `maildirmake --del NICK MAILDIR`: drops the nick's lines from `shared-maildirs`
/// (other lines, comments included, stay as they are).
pub fn del(maildir: &Path, nick: &str) -> std::result::Result<(), ListError> {
    let old = read_own_list(maildir, false)?;
    let mut found = false;
    let mut new = Vec::with_capacity(old.len());
    for line in old.split_inclusive(|&b| b == b'\n') {
        let stripped = line.strip_suffix(b"\n").unwrap_or(line);
        if parse_line(stripped).is_some_and(|s| s.nick == nick) {
            found = true;
        } else {
            new.extend_from_slice(line);
        }
    }
    if !found {
        return Err(list_error(format!("{nick}: not found.")));
    }
    write_own_list(maildir, &new)
}

fn read_own_list(maildir: &Path, missing_ok: bool) -> std::result::Result<Vec<u8>, ListError> {
    if !maildir.join("tmp").is_dir() {
        return Err(list_error(format!(
            "{}: not a Maildir (no tmp/)",
            maildir.display()
        )));
    }
    let file = maildir.join(SHARED_MAILDIRS);
    match fsutil::read_optional(&file) {
        Ok(Some(t)) => Ok(t),
        Ok(None) if missing_ok => Ok(Vec::new()),
        Ok(None) => Err(list_error(format!(
            "{}: {}",
            file.display(),
            io::Error::from(io::ErrorKind::NotFound)
        ))),
        Err(e) => Err(list_error(format!("{}: {e}", file.display()))),
    }
}

/// Replaces `shared-maildirs` atomically. The new file keeps the old one's mode and
/// owner; a first one is 0644 (as Courier's, made under the usual umask) and, when root
/// writes it, belongs to the Maildir's owner.
fn write_own_list(maildir: &Path, contents: &[u8]) -> std::result::Result<(), ListError> {
    let file = maildir.join(SHARED_MAILDIRS);
    let fail = |e: io::Error| list_error(format!("{}: {e}", file.display()));
    let (meta_from, mode) = match fs::symlink_metadata(&file) {
        Ok(m) => (m.clone(), m.mode() & 0o7777),
        Err(_) => (fs::metadata(maildir).map_err(fail)?, 0o644),
    };
    let (mut f, tmp) =
        fsutil::create_unique(&maildir.join("tmp"), ".shared-maildirs").map_err(fail)?;
    let r = (|| -> io::Result<()> {
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::fchown(&f, Some(meta_from.uid()), Some(meta_from.gid()))?;
        }
        f.sync_all()?;
        fs::rename(&tmp, &file)?;
        fsutil::fsync_dir(maildir)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_as_courier_reads_them() {
        let text = b"# comment\nfirm\t/home/a/Maildir-shared\ntech   /srv/tech # note\n\
                     lonely\n bad /x\na.b /y\n";
        assert_eq!(
            parse_list(text),
            vec![
                Sharable {
                    nick: "firm".into(),
                    path: "/home/a/Maildir-shared".into()
                },
                Sharable {
                    nick: "tech".into(),
                    path: "/srv/tech".into()
                },
            ]
        );
    }

    #[test]
    fn names_split_like_maildir_shareddir() {
        assert_eq!(split_name("shared.firm.golf").unwrap(), ("firm", "golf"));
        assert_eq!(split_name("shared.firm.a.b").unwrap(), ("firm", "a.b"));
        for bad in [
            "shared",
            "shared.firm",
            "shared.firm.",
            "shared.firm..a",
            "shared..a",
            "shared.f/x.a",
            "shared.firm.a/b",
            "INBOX.a",
            "sharedx.firm.a",
        ] {
            assert!(split_name(bad).is_err(), "{bad}");
        }
        assert!(is_shared_name("shared.firm"));
        assert!(!is_shared_name("sharedx"));
    }

    #[test]
    fn modes_are_courier_s() {
        assert_eq!(shared_folder_modes("read"), Some((0o755, 0o755)));
        assert_eq!(shared_folder_modes("write"), Some((0o1755, 0o1777)));
        assert_eq!(shared_folder_modes("read,group"), Some((0o750, 0o750)));
        assert_eq!(shared_folder_modes("write,group"), Some((0o1750, 0o1770)));
        assert_eq!(shared_folder_modes("bogus"), None);
    }
}
