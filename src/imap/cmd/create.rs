//! CREATE (RFC 3501 §6.3.3). Creating needs the `k` right (Courier's `c`) on the parent
//! (RFC 4314 §4); the new folder's ACL then follows Courier's rules ([`acl::folder_created`]).

use crate::imap::names::SEPARATOR;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::store::acl;

impl Session<'_> {
    pub fn cmd_create(&mut self, wire: &str) -> CommandResult {
        // A trailing separator only says the client means to create children (RFC 3501 §6.3.3).
        let trimmed = wire.strip_suffix(SEPARATOR).unwrap_or(wire);
        let name = self.folder_name(trimmed)?;
        if name == "INBOX" {
            return Err(Outcome::no("[ALREADYEXISTS] INBOX always exists"));
        }
        let parent = trimmed.rsplit_once(SEPARATOR).map_or(trimmed, |(p, _)| p);
        self.place_with(parent, 'k', "CREATE")?;
        let (place, _) = self.place(trimmed)?;
        place.maildir.create_folder(&place.folder)?;
        acl::folder_created(place.maildir.root(), &place.folder).map_err(acl_failure)?;
        Ok(Outcome::ok("CREATE completed"))
    }
}

/// An ACL file that could not be written after the folder change itself succeeded.
pub(super) fn acl_failure(err: acl::AclError) -> Outcome {
    log::error!("ACL update failed: {err}");
    Outcome::no("[SERVERBUG] The folder changed but its ACL could not be updated; see the log")
}
