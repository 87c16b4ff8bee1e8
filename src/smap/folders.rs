//! The folder commands (smap.sgml, "Folders"): LIST, STATUS, CREATE, MKDIR, DELETE,
//! RMDIR, RENAME and the ACL commands. A folder is named by its path of words: `INBOX`
//! is the inbox, `INBOX a b` the store's `INBOX.a.b`, as Courier's imapd names them.

use super::words::quoted;
use super::{Reply, Smap};
use crate::store::acl::{self, Change, Rights};
use crate::store::places::Place;

/// The store's folder name of a path of words.
fn folder_name(path: &[String]) -> Result<String, String> {
    let (first, rest) = path
        .split_first()
        .ok_or_else(|| "Invalid folder: (none)".to_owned())?;
    if first != "INBOX" {
        return Err(format!("Invalid folder: {first}"));
    }
    let mut name = String::from("INBOX");
    for word in rest {
        // The store's separator cannot be part of a name (Courier's imapd encodes it;
        // postern refuses it, as it refuses IMAP names that would need it).
        if word.is_empty() || word.contains(['.', '/']) {
            return Err(format!("Invalid folder: {word}"));
        }
        name.push('.');
        name.push_str(word);
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
        let name = folder_name(path)?;
        let places = self.s.places().map_err(|o| o.text().to_owned())?;
        let place = places.resolve(&name).map_err(|e| e.to_string())?;
        let rights = place.rights(&places.login).map_err(|e| e.to_string())?;
        Ok((place, rights))
    }

    /// [`Smap::place`] for a command that needs `right`, refused in Courier's words.
    pub(super) fn place_with(
        &self,
        path: &[String],
        right: char,
    ) -> Result<(Place, Rights), String> {
        // Courier's "public" level holds no folder of its own: no right there.
        if path.first().is_some_and(|p| p == "public") {
            return Err(format!("Access denied: ACL \"{right}\" is required"));
        }
        let (place, rights) = self.place(path)?;
        if !rights.has(right) {
            return Err(format!("Access denied: ACL \"{right}\" is required"));
        }
        Ok((place, rights))
    }

    /// LIST [path]: the folders directly below `path`, or the top level.
    pub(super) fn list(&mut self, path: &[String]) -> Reply {
        if path.is_empty() {
            self.line("* LIST \"INBOX\" \"New Mail\" FOLDER");
            self.line("* LIST \"INBOX\" \"Folders\" DIRECTORY");
            self.line("* LIST \"public\" \"Public Folders\" DIRECTORY");
            return Ok("LIST completed".to_owned());
        }
        if path.len() == 1 && path[0] == "public" {
            return Ok("LIST completed".to_owned());
        }
        let parent = folder_name(path)?;
        let prefix = format!("{parent}.");
        let places = self.s.places().map_err(|o| o.text().to_owned())?;
        let folders = places.own.list_folders().map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        for folder in folders {
            let Some(child) = folder.name.strip_prefix(&prefix) else {
                continue;
            };
            if child.contains('.') {
                continue;
            }
            let kind = if folder.has_children {
                "FOLDER DIRECTORY"
            } else {
                "FOLDER"
            };
            lines.push(format!("* LIST {} {} {kind}", quoted(child), quoted(child)));
        }
        // Courier's order (its folder list sorted without regard to case).
        lines.sort_by_key(|l| l.to_lowercase());
        for line in lines {
            self.line(&line);
        }
        Ok("LIST completed".to_owned())
    }

    /// STATUS FULL|CHEAP path: the message and unseen counts.
    pub(super) fn status(&mut self, words: &[String]) -> Reply {
        let Some((_, path)) = words.split_first().filter(|(_, p)| !p.is_empty()) else {
            return Err("Cannot read folder status: Invalid argument".to_owned());
        };
        let (place, _) = self.place_with(path, 'r')?;
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
    pub(super) fn create(&mut self, path: &[String], directory: bool) -> Reply {
        if directory {
            // A Maildir++ folder holds messages and folders alike: a folder directory
            // comes with its first folder (smap.sgml lets MKDIR be a no-op; Courier's
            // imapd answers so and creates nothing).
            folder_name(path).map_err(|_| "Cannot create folder: Invalid argument")?;
            return Ok("Folder created".to_owned());
        }
        // Courier's words for a name outside INBOX.
        let name = folder_name(path).map_err(|_| "Cannot create folder: Invalid argument")?;
        if name == "INBOX" {
            return Err("Cannot create folder: File exists".to_owned());
        }
        let parent = &path[..path.len() - 1];
        let (place, _) = self.place_with(parent, 'c')?;
        let folder = format!("{}.{}", place.folder, path[path.len() - 1]);
        place.maildir.create_folder(&folder).map_err(|e| match e {
            crate::store::StoreError::FolderExists(_) => {
                "Cannot create folder: File exists".to_owned()
            }
            e => format!("Cannot create folder: {e}"),
        })?;
        Ok("Folder created".to_owned())
    }

    /// DELETE path / RMDIR path.
    pub(super) fn delete(&mut self, path: &[String], _directory: bool) -> Reply {
        let name = folder_name(path).map_err(|e| format!("Unable to delete folder: {e}"))?;
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
        Ok("Folder renamed.".to_owned())
    }

    /// ACL path: the login's rights.
    pub(super) fn acl(&mut self, path: &[String]) -> Reply {
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
