//! ENABLE (RFC 5161): UTF8=ACCEPT (RFC 6855), CONDSTORE and QRESYNC (RFC 7162 §3.1,
//! §3.2.3; QRESYNC implies CONDSTORE). The command table keeps it out of the
//! not-authenticated state.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_enable(&mut self, names: Vec<String>) -> CommandResult {
        let mut enabled = Vec::new();
        for name in names {
            if name.eq_ignore_ascii_case("UTF8=ACCEPT") && !self.utf8 {
                self.utf8 = true;
                enabled.push("UTF8=ACCEPT");
            } else if name.eq_ignore_ascii_case("CONDSTORE") && !self.condstore {
                self.enable_condstore();
                enabled.push("CONDSTORE");
            } else if name.eq_ignore_ascii_case("QRESYNC") && !self.qresync {
                self.enable_condstore();
                self.qresync = true;
                enabled.push("QRESYNC");
            }
        }
        let mut line = String::from("ENABLED");
        for e in enabled {
            line.push(' ');
            line.push_str(e);
        }
        self.untagged(&line);
        Ok(Outcome::ok("ENABLE completed"))
    }
}
