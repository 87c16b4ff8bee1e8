//! RENAME (RFC 3501 §6.3.5).

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_rename(&mut self, from: &str, to: &str) -> CommandResult {
        let (from, to) = match (self.folder_name(from), self.folder_name(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(o), _) | (_, Err(o)) => return Err(o),
        };
        if to == "INBOX" {
            return Err(Outcome::no("[ALREADYEXISTS] INBOX always exists"));
        }
        self.maildir()?.rename_folder(&from, &to)?;
        Ok(Outcome::ok("RENAME completed"))
    }
}
