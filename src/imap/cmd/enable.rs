//! ENABLE (RFC 5161): UTF8=ACCEPT (RFC 6855), IMAP4rev2 (RFC 9051 §6.3.1), CONDSTORE
//! and QRESYNC (RFC 7162 §3.1, §3.2.3; QRESYNC implies CONDSTORE). Only what is
//! advertised is enabled, and ENABLED names only what this command turned on. The command
//! table keeps it out of the not-authenticated state.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_enable(&mut self, names: Vec<String>) -> CommandResult {
        let mut enabled = Vec::new();
        for name in names {
            if name.eq_ignore_ascii_case("UTF8=ACCEPT") && !self.utf8_accept {
                self.utf8_accept = true;
                self.utf8 = true;
                enabled.push("UTF8=ACCEPT");
            } else if name.eq_ignore_ascii_case("IMAP4rev2")
                && self.config.imap.imap4rev2
                && !self.rev2
            {
                self.enable_rev2();
                enabled.push("IMAP4rev2");
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

    /// IMAP4rev2 from now on: mailbox names in UTF-8 (RFC 9051 §5.1), and no \Recent
    /// in the selected mailbox (RFC 9051 Appendix E: the flag and the RECENT response
    /// are gone).
    fn enable_rev2(&mut self) {
        self.rev2 = true;
        self.utf8 = true;
        if let Ok(selected) = self.selected_mut() {
            selected.mailbox.hide_recent();
        }
    }
}
