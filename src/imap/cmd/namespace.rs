//! NAMESPACE (RFC 2342): one personal namespace, Courier's `INBOX.`.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_namespace(&mut self) -> CommandResult {
        self.untagged("NAMESPACE ((\"INBOX.\" \".\")) NIL NIL");
        Ok(Outcome::ok("NAMESPACE completed"))
    }
}
