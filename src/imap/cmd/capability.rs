//! CAPABILITY (RFC 3501 §6.1.1) and the list itself: advertised only for what is
//! complete. The greeting and the login answers carry the same list.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

/// Extensions served in every state.
const BASE: &str = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS NAMESPACE CHILDREN UNSELECT MOVE SPECIAL-USE QUOTA UTF8=ACCEPT";

impl Session<'_> {
    pub fn cmd_capability(&mut self) -> CommandResult {
        let caps = self.capabilities();
        self.untagged(&format!("CAPABILITY {caps}"));
        Ok(Outcome::ok("CAPABILITY completed"))
    }

    pub fn capabilities(&self) -> String {
        let mut caps = String::from(BASE);
        if self.state.is_not_authenticated() {
            let tls = self.conn.is_tls();
            if self.starttls && !tls {
                caps.push_str(" STARTTLS");
            }
            if self.login_needs_tls() {
                // RFC 3501 §6.2.3: no login until STARTTLS, and no mechanism on offer.
                caps.push_str(" LOGINDISABLED");
            } else {
                caps.push_str(" AUTH=PLAIN AUTH=LOGIN");
                if self.config.auth.cram_offered() {
                    caps.push_str(" AUTH=CRAM-MD5 AUTH=CRAM-SHA256");
                }
                if self.config.auth.scram_offered() {
                    caps.push_str(" AUTH=SCRAM-SHA-256");
                }
                if self.external_identity().is_some() {
                    caps.push_str(" AUTH=EXTERNAL");
                }
            }
        }
        caps
    }

    /// `[tls] require_tls_imap` and TLS is not up yet.
    pub fn login_needs_tls(&self) -> bool {
        self.config.tls.require_tls_imap && !self.conn.is_tls()
    }

    /// The login a verified client certificate names (`[tls] external_field`).
    pub fn external_identity(&self) -> Option<String> {
        self.conn
            .peer_certificate()?
            .identity(&self.config.tls.external_field)
            .map(str::to_owned)
    }
}
