//! NOOP and CHECK: nothing to do; the session's sync after the command reports changes.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_noop(&mut self) -> CommandResult {
        Ok(Outcome::ok("NOOP completed"))
    }

    /// CHECK (RFC 3501 §6.4.1): every change is on disk already.
    pub fn cmd_check(&mut self) -> CommandResult {
        Ok(Outcome::ok("CHECK completed"))
    }
}
