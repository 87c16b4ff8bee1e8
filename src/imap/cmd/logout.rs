//! LOGOUT (RFC 3501 §6.1.3).

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_logout(&mut self) -> CommandResult {
        self.purge_old_messages("logout");
        self.untagged("BYE postern logging out");
        self.logout();
        Ok(Outcome::ok("LOGOUT completed"))
    }
}
