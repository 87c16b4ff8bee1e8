//! The folder commands (smap.sgml, "Folders"): LIST, STATUS, CREATE, MKDIR, DELETE,
//! RMDIR, RENAME and the ACL commands. A folder is named by its path of words: `INBOX`
//! is the inbox, `INBOX a b` the store's `INBOX.a.b`, as Courier's imapd names them (a
//! word with the separator or another character Maildir++ names cannot hold is encoded
//! as Courier encodes it: `INBOX a.b` is `INBOX.a\056b`, directory `.a\056b`).

use super::words::quoted;
use super::{Reply, Smap};
use crate::store::acl::{self, Change, Rights};
use crate::store::places::{Place, SHARED_ROOT};

/// The store's folder name of a path of words, as Courier's imapd spells it on disk: each
/// word encoded ([`encode_level`]), joined with the separator.
fn folder_name(path: &[String]) -> Result<String, String> {
    let (first, rest) = path
        .split_first()
        .ok_or_else(|| "Invalid folder: (none)".to_owned())?;
    let mut name = match first.as_str() {
        "INBOX" => String::from("INBOX"),
        // Courier's `public` hierarchy is the virtual shared namespace, IMAP's `#shared`.
        "public" => String::from(SHARED_ROOT),
        _ => return Err(format!("Invalid folder: {first}")),
    };
    for word in rest {
        if word.is_empty() {
            return Err("Invalid folder: (empty)".to_owned());
        }
        name.push('.');
        name.push_str(&encode_level(word));
    }
    Ok(name)
}

/// One SMAP word as one level of a Maildir++ folder name, as Courier writes it (its
/// "modified UTF-8"): the separator `.`, `/`, `~`, `:`, the backslash and control
/// characters become a backslash and three octal digits (`a.b` is `a\056b`); all else
/// is kept.
pub(super) fn encode_level(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if (c as u32) < 0x20 || "./~:\\".contains(c) {
            out.push_str(&format!("\\{:03o}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The word of one level of a folder name ([`encode_level`] undone); `None` when a
/// backslash is not followed by three octal digits or the bytes are not UTF-8 (Courier's
/// imapd leaves such a folder out of its lists).
pub(super) fn decode_level(level: &str) -> Option<String> {
    let b = level.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let digits = b.get(i + 1..i + 4)?;
            if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                return None;
            }
            let v = digits
                .iter()
                .fold(0u8, |v, d| v.wrapping_shl(3) | (d - b'0'));
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What LIST found below a path: each next level, whether it is a folder, whether it
/// has folders below it.
#[derive(Default)]
struct Found(Vec<(String, bool, bool)>);

impl Found {
    fn mark(&mut self, child: &str, folder: bool, directory: bool) {
        let at = match self.0.iter().position(|(n, _, _)| n == child) {
            Some(at) => at,
            None => {
                self.0.push((child.to_owned(), false, false));
                self.0.len() - 1
            }
        };
        self.0[at].1 |= folder;
        self.0[at].2 |= directory;
    }

    /// A folder's words (below INBOX), if they are below `under`.
    fn add(&mut self, words: &[String], under: &[String]) {
        if words.len() > under.len() && words[..under.len()] == *under {
            let deeper = words.len() > under.len() + 1;
            self.mark(&words[under.len()], !deeper, deeper);
        }
    }
}

/// The words of a store folder name below INBOX (`INBOX.a\056b.c` is `a.b`, `c`).
fn levels(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix("INBOX")?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.strip_prefix('.')?
        .split('.')
        .map(decode_level)
        .collect()
}

/// The store's name of the words below `public`: the shared account whose levels (the
/// index's names as they are, a `.` in one included) begin the words, then the words
/// after them as that account's folders (`j.doe Pub` is `#shared.j doe.Pub` with the
/// index's default munging). Words that begin with no account's levels name nothing, as
/// in Courier's imapd (the munged `j doe` included).
fn public_name(places: &crate::store::places::Places, below: &[String]) -> Result<String, String> {
    let accounts = places.shared_accounts().map_err(|e| e.to_string())?;
    let (levels, _) = accounts
        .iter()
        .filter(|(levels, _)| below.starts_with(levels))
        .max_by_key(|(levels, _)| levels.len())
        .ok_or_else(|| {
            format!(
                "Invalid folder: no shared account is named public {}",
                below.join(" ")
            )
        })?;
    let mut name = places.shared_level_name(levels);
    for word in &below[levels.len()..] {
        name.push('.');
        name.push_str(&encode_level(word));
    }
    Ok(name)
}

/// Splits `a b "" c d` at its first empty word.
pub(super) fn split_at_empty(words: &[String]) -> Option<(&[String], &[String])> {
    let at = words.iter().position(String::is_empty)?;
    Some((&words[..at], &words[at + 1..]))
}

impl Smap<'_, '_> {
    /// The place of a path and the login's rights there.
    pub(super) fn place(&self, path: &[String]) -> Result<(Place, Rights), String> {
        let name = self.existing_name(path)?;
        let places = self.s.places().map_err(|o| o.text().to_owned())?;
        let place = places.resolve(&name).map_err(|e| e.to_string())?;
        let rights = place.rights(&places.login).map_err(|e| e.to_string())?;
        Ok((place, rights))
    }

    /// The store's name of a path: [`folder_name`], or when no folder has that name, the
    /// folder whose levels read as the path's words (one made over IMAP with a `~` or `:`
    /// in its name, which SMAP would have encoded), as Courier's imapd looks for it.
    pub(super) fn existing_name(&self, path: &[String]) -> Result<String, String> {
        let name = folder_name(path)?;
        let places = self.s.places().map_err(|o| o.text().to_owned())?;
        if path[0] == "public" {
            return public_name(&places, &path[1..]);
        }
        if name == "INBOX" || places.own.existing_dir(&name).is_ok() {
            return Ok(name);
        }
        let folders = places.own.list_folders().map_err(|e| e.to_string())?;
        Ok(folders
            .into_iter()
            .find(|f| levels(&f.name).is_some_and(|l| l[..] == path[1..]))
            .map_or(name, |f| f.name))
    }

    /// [`Smap::place`] for a command that needs `right`, refused in Courier's words.
    pub(super) fn place_with(
        &self,
        path: &[String],
        right: char,
    ) -> Result<(Place, Rights), String> {
        // Courier's "public" level, and a group of it, hold no folder: only `l` there.
        let level = || format!("Access denied: ACL \"{right}\" is required");
        if path.len() == 1 && path[0] == "public" {
            return Err(level());
        }
        let (place, rights) = match self.place(path) {
            Err(_) if path[0] == "public" && self.is_public_level(&path[1..]) => {
                return Err(level());
            }
            r => r?,
        };
        if !rights.has(right) {
            return Err(format!("Access denied: ACL \"{right}\" is required"));
        }
        Ok((place, rights))
    }

    /// Whether the words below `public` name a group of the shared index.
    fn is_public_level(&self, below: &[String]) -> bool {
        let Ok(places) = self.s.places() else {
            return false;
        };
        places.shared_accounts().is_ok_and(|accounts| {
            accounts
                .iter()
                .any(|(levels, _)| levels.len() > below.len() && levels[..below.len()] == *below)
        })
    }

    /// LIST public [words]: the groups and accounts of the shared index at that level
    /// (an account as a folder when its INBOX may be looked up, as a directory when one
    /// of its other folders may), or inside an account its folders, as Courier's imapd
    /// lists them. Accounts with nothing the login may look up are left out.
    fn list_public(&mut self, below: &[String]) -> Reply {
        let places = self.s.places().map_err(|o| o.text().to_owned())?;
        let accounts = places.shared_accounts().map_err(|e| e.to_string())?;
        let mut found = Found::default();
        for (levels, folders) in accounts {
            if levels.len() <= below.len() && levels[..] == below[..levels.len()] {
                // Inside this account: its INBOX is the account level.
                let sub = &below[levels.len()..];
                for folder in &folders {
                    if let Some(words) = self::levels(folder) {
                        found.add(&words, sub);
                    }
                }
            } else if levels.len() > below.len() && levels[..below.len()] == *below {
                let child = &levels[below.len()];
                if levels.len() > below.len() + 1 {
                    found.mark(child, false, true);
                } else {
                    let inbox = folders.iter().any(|f| f == "INBOX");
                    let deeper = folders.iter().any(|f| f != "INBOX");
                    if inbox || deeper {
                        found.mark(child, inbox, deeper);
                    }
                }
            }
        }
        self.write_found(found);
        Ok("LIST completed".to_owned())
    }

    /// Writes LIST lines, in one order (Courier's is the order its listing found them).
    fn write_found(&mut self, found: Found) {
        let mut lines = Vec::new();
        for (child, folder, directory) in found.0 {
            let kind = match (folder, directory) {
                (true, true) => "FOLDER DIRECTORY",
                (true, false) => "FOLDER",
                _ => "DIRECTORY",
            };
            lines.push(format!(
                "* LIST {} {} {kind}",
                quoted(&child),
                quoted(&child)
            ));
        }
        lines.sort_by_key(|l| l.to_lowercase());
        for line in lines {
            self.line(&line);
        }
    }

    /// LIST [path]: the folders directly below `path`, or the top level.
    pub(super) fn list(&mut self, path: &[String]) -> Reply {
        if path.is_empty() {
            self.line("* LIST \"INBOX\" \"New Mail\" FOLDER");
            self.line("* LIST \"INBOX\" \"Folders\" DIRECTORY");
            self.line("* LIST \"public\" \"Public Folders\" DIRECTORY");
            return Ok("LIST completed".to_owned());
        }
        if path[0] == "public" {
            return self.list_public(&path[1..]);
        }
        folder_name(path)?;
        let places = self.s.places().map_err(|o| o.text().to_owned())?;
        let folders = places.own.list_folders().map_err(|e| e.to_string())?;
        // As Courier's imapd lists: each folder below the path names the level after it,
        // a folder when it is that level, a directory when it is deeper (a level may be
        // both, or only a directory when Maildir++ has no folder for it). A folder whose
        // name does not decode is left out.
        let mut found = Found::default();
        for folder in folders {
            if let Some(words) = levels(&folder.name) {
                // Courier's LIST reads the ACL of every folder of the Maildir, whatever
                // the level listed, so each one without a list of its own gets its
                // inherited list written, as any read does ([`acl::load`]).
                if let Err(e) = acl::load(places.own.root(), &folder.name) {
                    log::warn!("{}: ACL: {e}", folder.name);
                }
                found.add(&words, &path[1..]);
            }
        }
        self.write_found(found);
        Ok("LIST completed".to_owned())
    }

    /// STATUS FULL|CHEAP path: the message and unseen counts.
    pub(super) fn status(&mut self, words: &[String]) -> Reply {
        let Some((_, path)) = words.split_first().filter(|(_, p)| !p.is_empty()) else {
            return Err("Cannot read folder status: Invalid argument".to_owned());
        };
        // Courier's imapd asks for `l` (lookup), not `r`.
        let (place, _) = self.place_with(path, 'l')?;
        let status = place
            .maildir
            .status(&place.folder)
            .map_err(|e| format!("Cannot read folder status: {e}"))?;
        self.line(&format!(
            "* STATUS EXISTS={} UNSEEN={}",
            status.messages, status.unseen
        ));
        Ok("Folder status retrieved".to_owned())
    }

    /// CREATE path (a folder) or MKDIR path (a folder directory).
    ///
    /// As Courier 5.0.13's imapd: `c` on the parent is checked first, then the new
    /// folder's ACL is read before the folder is made, so a list it inherits is written
    /// into `courierimaphieracl/` (the folder does not exist yet) and the folder reads it
    /// from there. MKDIR does the same and makes no folder; CREATE of a folder that is
    /// there reads (and writes) its list and then fails.
    pub(super) fn create(&mut self, path: &[String], directory: bool) -> Reply {
        // Courier's words for a name outside INBOX.
        let name = folder_name(path).map_err(|_| "Cannot create folder: Invalid argument")?;
        if name == "INBOX" {
            return Err("Cannot create folder: File exists".to_owned());
        }
        let parent = &path[..path.len() - 1];
        let (place, _) = self.place_with(parent, 'c')?;
        let folder = format!("{}.{}", place.folder, encode_level(&path[path.len() - 1]));
        acl::load(place.maildir.root(), &folder)
            .map_err(|e| format!("Cannot create folder: {e}"))?;
        if directory {
            // A Maildir++ folder holds messages and folders alike: a folder directory
            // comes with its first folder (smap.sgml lets MKDIR be a no-op; Courier's
            // imapd answers so and creates nothing).
            return Ok("Folder created".to_owned());
        }
        // Only the folder: a level above it that is no folder stays one (Courier).
        place
            .maildir
            .create_folder_leaf(&folder)
            .map_err(|e| match e {
                crate::store::StoreError::FolderExists(_) => {
                    "Cannot create folder: File exists".to_owned()
                }
                e => format!("Cannot create folder: {e}"),
            })?;
        Ok("Folder created".to_owned())
    }

    /// RMDIR path: a folder directory goes when its last folder does (Maildir++ keeps
    /// no directories), so this deletes nothing. As Courier 5.0.13's imapd: `x` on the
    /// parent is checked (its list read, as any check reads it), and the folder, its
    /// messages and its sub-folders stay (observed: `+OK Folder deleted`, all still there).
    pub(super) fn rmdir(&mut self, path: &[String]) -> Reply {
        let invalid = || "Cannot create folder: Invalid argument".to_owned();
        let name = folder_name(path).map_err(|_| invalid())?;
        if name == "INBOX" || path.len() < 2 {
            return Err(invalid());
        }
        let (parent, _) = self.place_with(&path[..path.len() - 1], 'x')?;
        // Courier reads the parent's own list, also where it is no folder (a level's
        // inherited list is written into `courierimaphieracl/`); `place_with` judged a
        // missing folder by the nearest one above it and wrote nothing for it.
        acl::load(parent.maildir.root(), &parent.folder)
            .map_err(|e| format!("Unable to delete folder: {e}"))?;
        Ok("Folder deleted".to_owned())
    }

    /// DELETE path.
    pub(super) fn delete(&mut self, path: &[String]) -> Reply {
        let name = self
            .existing_name(path)
            .map_err(|e| format!("Unable to delete folder: {e}"))?;
        if name == "INBOX" {
            return Err("INBOX may not be deleted".to_owned());
        }
        if self.open.as_ref().is_some_and(|o| o.name == name) {
            return Err("Cannot DELETE currently open folder.".to_owned());
        }
        let (place, _) = self.place_with(path, 'x')?;
        place
            .maildir
            .delete_folder(&place.folder)
            .map_err(|e| format!("Unable to delete folder: {e}"))?;
        Ok("Folder deleted".to_owned())
    }

    /// RENAME old "" new.
    pub(super) fn rename(&mut self, words: &[String]) -> Reply {
        let (from, to) = split_at_empty(words).ok_or("Syntax error.")?;
        let to_name = folder_name(to).map_err(|_| "Invalid destination folder name")?;
        if to_name == "INBOX" {
            return Err("Invalid destination folder name".to_owned());
        }
        let (place, _) = self.place_with(from, 'x')?;
        place
            .maildir
            .rename_folder(&place.folder, &to_name)
            .map_err(|e| format!("Internal error in RENAME: {e}"))?;
        // The levels' lists in `courierimaphieracl/` (where SMAP's CREATE leaves a
        // folder's list) follow the folders, as IMAP's RENAME does. Courier 5.0.13's
        // imapd renames the first such file and then dies ("Not a directory").
        acl::folder_renamed(place.maildir.root(), &place.folder, &to_name)
            .map_err(|e| format!("Internal error in RENAME: {e}"))?;
        Ok("Folder renamed.".to_owned())
    }

    /// ACL path: the login's rights.
    pub(super) fn acl(&mut self, path: &[String]) -> Reply {
        // A level of `public` (the root, a group): `anyone` may look it up (Courier).
        if path.first().is_some_and(|p| p == "public")
            && (path.len() == 1 || self.is_public_level(&path[1..]))
        {
            self.line("* ACL \"l\"");
            return Ok("ACLs retrieved".to_owned());
        }
        let (_, rights) = self.place(path)?;
        self.line(&format!("* ACL {}", quoted(&rights.to_stored())));
        Ok("ACLs retrieved".to_owned())
    }

    /// GETACL path: the whole list, identifiers as Courier stores them.
    pub(super) fn getacl(&mut self, path: &[String]) -> Reply {
        let (place, _) = self.place_with(path, 'a')?;
        self.write_getacl(&place)?;
        Ok("ACLs retrieved".to_owned())
    }

    fn write_getacl(&mut self, place: &Place) -> Result<(), String> {
        let list = acl::load(place.maildir.root(), &place.folder)
            .map_err(|e| format!("Unable to read existing ACLS: {e}"))?;
        let mut line = String::from("* GETACL");
        for (identifier, rights) in list.entries() {
            line.push(' ');
            line.push_str(&quoted(identifier));
            line.push(' ');
            line.push_str(&quoted(&rights.to_stored()));
        }
        self.line(&line);
        Ok(())
    }

    /// SETACL path "" identifier rights.
    pub(super) fn setacl(&mut self, words: &[String]) -> Reply {
        let (path, rest) = split_at_empty(words).ok_or("Syntax error.")?;
        let [identifier, rights] = rest else {
            return Err("Syntax error.".to_owned());
        };
        let change = Change::parse(rights, false).map_err(|e| format!("ACL update failed: {e}"))?;
        let (place, _) = self.place_with(path, 'a')?;
        let owner = place.owner.then(|| format!("user={}", self.s.user()));
        acl::modify(
            place.maildir.root(),
            &place.folder,
            identifier,
            change,
            true,
            owner.as_deref(),
        )
        .map_err(|e| format!("ACL update failed: {e}"))?;
        self.write_getacl(&place)?;
        Ok("Updated ACLs".to_owned())
    }

    /// DELETEACL path "" identifier.
    pub(super) fn deleteacl(&mut self, words: &[String]) -> Reply {
        let (path, rest) = split_at_empty(words).ok_or("Syntax error.")?;
        let [identifier] = rest else {
            return Err("Syntax error.".to_owned());
        };
        let (place, _) = self.place_with(path, 'a')?;
        let owner = place.owner.then(|| format!("user={}", self.s.user()));
        acl::delete_as(
            place.maildir.root(),
            &place.folder,
            identifier,
            owner.as_deref(),
        )
        .map_err(|e| format!("ACL update failed: {e}"))?;
        self.write_getacl(&place)?;
        Ok("Updated ACLs".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_encoded_as_courier_encodes_them() {
        assert_eq!(encode_level("a.b"), "a\\056b");
        assert_eq!(
            encode_level("c/d~e:f\\g\th"),
            "c\\057d\\176e\\072f\\134g\\011h"
        );
        assert_eq!(encode_level("ké & x-y \"q\""), "ké & x-y \"q\"");
        for word in ["a.b", "..", "c/d~e:f\\g\th", "ké.x", "plain"] {
            assert_eq!(decode_level(&encode_level(word)).as_deref(), Some(word));
        }
        assert_eq!(decode_level("raw\\x"), None);
        assert_eq!(decode_level("end\\05"), None);
        assert_eq!(decode_level("bad\\377"), None, "not UTF-8");
        assert_eq!(
            folder_name(&["INBOX".into(), "a.b".into(), "c".into()]),
            Ok("INBOX.a\\056b.c".to_owned())
        );
        assert!(folder_name(&["INBOX".into(), String::new()]).is_err());
        assert_eq!(
            levels("INBOX.a\\056b.c"),
            Some(vec!["a.b".to_owned(), "c".to_owned()])
        );
        assert_eq!(levels("INBOX"), Some(vec![]));
        assert_eq!(levels("INBOX.raw\\x"), None);
    }
}
