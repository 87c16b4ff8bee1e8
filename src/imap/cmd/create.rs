//! CREATE (RFC 3501 §6.3.3).

use crate::imap::names::SEPARATOR;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_create(&mut self, wire: &str) -> CommandResult {
        // A trailing separator only says the client means to create children (RFC 3501 §6.3.3).
        let trimmed = wire.strip_suffix(SEPARATOR).unwrap_or(wire);
        let name = self.folder_name(trimmed)?;
        if name == "INBOX" {
            return Err(Outcome::no("[ALREADYEXISTS] INBOX always exists"));
        }
        self.maildir()?.create_folder(&name)?;
        Ok(Outcome::ok("CREATE completed"))
    }
}
