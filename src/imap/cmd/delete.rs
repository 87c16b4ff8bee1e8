//! DELETE (RFC 3501 §6.3.4), which needs the `x` right (RFC 4314 §4). Deleting the
//! selected folder deselects it first.

use super::create::acl_failure;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::store::acl;

impl Session<'_> {
    pub fn cmd_delete(&mut self, wire: &str) -> CommandResult {
        let name = self.folder_name(wire)?;
        if name == "INBOX" {
            return Err(Outcome::no("[CANNOT] INBOX cannot be deleted"));
        }
        let (place, _) = self.place_with(wire, 'x', "DELETE")?;
        if self.selected().is_ok_and(|s| s.name == place.name) {
            self.deselect();
        }
        place.maildir.delete_folder(&place.folder)?;
        acl::folder_deleted(place.maildir.root(), &place.folder).map_err(acl_failure)?;
        Ok(Outcome::ok("DELETE completed"))
    }
}
