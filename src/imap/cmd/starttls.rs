//! STARTTLS (RFC 3501 §6.2.1).

use crate::auth::Protocol;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, log_event};
use crate::net::tls::Acceptor;

impl Session<'_> {
    /// Answers `ready` and starts TLS (through [`super::prelogin::PRE_LOGIN`]).
    pub(super) fn begin_tls(&mut self, ready: &str) -> CommandResult {
        if self.conn.is_tls() {
            return Err(Outcome::bad("TLS is already active"));
        }
        if !self.starttls {
            return Err(Outcome::bad("STARTTLS is not available on this connection"));
        }
        let acceptor = match Acceptor::new(&self.config.tls, Protocol::Imap) {
            Ok(acceptor) => acceptor,
            Err(err) => {
                log::error!("STARTTLS: {err:#}");
                return Err(Outcome::no("[UNAVAILABLE] TLS is not available now"));
            }
        };
        self.out.extend_from_slice(ready.as_bytes());
        let result = self.flush().and_then(|()| self.conn.start_tls(&acceptor));
        if let Err(err) = result {
            let mut fields = self.log_fields_base();
            fields.push(("REASON", err.to_string()));
            log_event(log::Level::Info, "STARTTLS failed", &fields);
            self.logout();
        }
        self.starttls = false;
        Ok(Outcome::Done)
    }
}
