//! NAMESPACE (RFC 2342), as Courier announces it: the personal namespace `INBOX.`, no
//! other users' namespace, and two shared ones: `#shared.` (other accounts' folders
//! through the shared index and their ACLs) and `shared.` (filesystem-shared Maildirs).
//! A login with `disableshared` has no `#shared.`.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_namespace(&mut self) -> CommandResult {
        let sharing = self.places()?.login.sharing;
        let shared = if sharing {
            "((\"#shared.\" \".\")(\"shared.\" \".\"))"
        } else {
            "((\"shared.\" \".\"))"
        };
        self.untagged(&format!("NAMESPACE ((\"INBOX.\" \".\")) NIL {shared}"));
        Ok(Outcome::ok("NAMESPACE completed"))
    }
}
