//! SUBSCRIBE and UNSUBSCRIBE (RFC 3501 §6.3.6-7), in Courier's subscription file.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_subscribe(&mut self, wire: &str, subscribe: bool) -> CommandResult {
        let name = self.folder_name(wire)?;
        if subscribe {
            self.maildir()?.subscribe(&name)?;
            Ok(Outcome::ok("SUBSCRIBE completed"))
        } else {
            self.maildir()?.unsubscribe(&name)?;
            Ok(Outcome::ok("UNSUBSCRIBE completed"))
        }
    }
}
