//! The CAPABILITY list: advertised only for what is complete.

use super::session::{Session, State};

/// Extensions served in every state.
const BASE: &str = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS NAMESPACE CHILDREN UNSELECT MOVE SPECIAL-USE QUOTA UTF8=ACCEPT";

impl Session<'_> {
    pub fn capabilities(&self) -> String {
        let mut caps = String::from(BASE);
        if self.state == State::NotAuthenticated {
            caps.push_str(" AUTH=PLAIN AUTH=LOGIN");
        }
        caps
    }
}
