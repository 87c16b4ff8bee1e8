//! GETACL SETACL DELETEACL LISTRIGHTS MYRIGHTS (RFC 4314): parsed, not served yet.

use crate::imap::response::{CommandResult, Outcome};

pub fn cmd_acl(name: &str) -> CommandResult {
    Err(Outcome::bad(format!("{name} is not supported")))
}
