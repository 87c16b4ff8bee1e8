//! RENAME (RFC 3501 §6.3.5): `x` on the folder and `k` (Courier's `c`) on the new
//! parent (RFC 4314 §4), within one Maildir.

use super::create::acl_failure;
use crate::imap::names::SEPARATOR;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::store::acl;

impl Session<'_> {
    pub fn cmd_rename(&mut self, from_wire: &str, to_wire: &str) -> CommandResult {
        self.folder_name(from_wire)?;
        if self.folder_name(to_wire)? == "INBOX" {
            return Err(Outcome::no("[ALREADYEXISTS] INBOX always exists"));
        }
        let (source, _) = self.place_with(from_wire, 'x', "RENAME")?;
        let parent = to_wire.rsplit_once(SEPARATOR).map_or(to_wire, |(p, _)| p);
        self.place_with(parent, 'k', "RENAME")?;
        let (target, _) = self.place(to_wire)?;
        if source.maildir.root() != target.maildir.root() {
            return Err(Outcome::no(
                "[CANNOT] A folder cannot be renamed into another account's folders",
            ));
        }
        source
            .maildir
            .rename_folder(&source.folder, &target.folder)?;
        acl::folder_renamed(source.maildir.root(), &source.folder, &target.folder)
            .map_err(acl_failure)?;
        Ok(Outcome::ok("RENAME completed"))
    }
}
