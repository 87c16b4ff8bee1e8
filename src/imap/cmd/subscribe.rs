//! SUBSCRIBE and UNSUBSCRIBE (RFC 3501 §6.3.6-7), in Courier's subscription file.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_subscribe(&mut self, wire: &str, subscribe: bool) -> CommandResult {
        if let Some(name) = self.fs_shared_name(wire) {
            // Courier keeps these out of courierimapsubscribed: the private copy in
            // shared-folders/ is the subscription.
            let shared = self.fs_shared()?;
            return if subscribe {
                shared.subscribe(&name)?;
                Ok(Outcome::ok("SUBSCRIBE completed"))
            } else {
                shared.unsubscribe(&name)?;
                Ok(Outcome::ok("UNSUBSCRIBE completed"))
            };
        }
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
