//! NAMESPACE (RFC 2342): one personal namespace, Courier's `INBOX.`, and the shared
//! namespace of filesystem-shared folders, `shared.` (Courier also announces `#shared.`
//! there, for its virtual shared folders).

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_namespace(&mut self) -> CommandResult {
        self.untagged("NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"shared.\" \".\"))");
        Ok(Outcome::ok("NAMESPACE completed"))
    }
}
