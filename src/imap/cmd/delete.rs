//! DELETE (RFC 3501 §6.3.4). Deleting the selected folder deselects it first.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_delete(&mut self, wire: &str) -> CommandResult {
        let name = self.folder_name(wire)?;
        if name == "INBOX" {
            return Err(Outcome::no("[CANNOT] INBOX cannot be deleted"));
        }
        if self.selected().is_ok_and(|s| s.name == name) {
            self.deselect();
        }
        self.maildir()?.delete_folder(&name)?;
        Ok(Outcome::ok("DELETE completed"))
    }
}
