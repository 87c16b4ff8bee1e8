//! STARTTLS (RFC 3501 §6.2.1): in `postern`, the handshake in this process; in the
//! plaintext login program, `postern-login`, by executing `postern` (see
//! [`crate::net::tls_handoff`]).

use crate::auth::Protocol;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, log_event};
use crate::net::tls::Acceptor;
use crate::net::tls_handoff::{self, Asked, TlsRequest};

impl Session<'_> {
    /// Answers `ready` and starts TLS (through [`super::prelogin::PRE_LOGIN`]).
    pub(super) fn begin_tls(&mut self, ready: &str) -> CommandResult {
        self.tls_may_start()?;
        let acceptor = match Acceptor::new(&self.config.tls, Protocol::Imap) {
            Ok(acceptor) => acceptor,
            Err(err) => {
                log::error!("STARTTLS: {err:#}");
                return Err(Outcome::no("[UNAVAILABLE] TLS is not available now"));
            }
        };
        self.out.extend_from_slice(ready.as_bytes());
        if self.flush().is_err() {
            self.logout();
            return Ok(Outcome::Done);
        }
        self.handshake(&acceptor);
        Ok(Outcome::Done)
    }

    /// In `postern resume-tls`: the handshake the login program's client asked for,
    /// with the certificate loaded now (the ready line is out already, so a certificate
    /// that cannot be loaded ends the connection; `serve` checks it at startup).
    pub fn handshake_after_handoff(&mut self) {
        self.starttls = false;
        match Acceptor::new(&self.config.tls, Protocol::Imap) {
            Ok(acceptor) => self.handshake(&acceptor),
            Err(err) => {
                log::error!("STARTTLS: {err:#}");
                self.logout();
            }
        }
    }

    /// The TLS handshake after the ready line; a failure ends the session.
    fn handshake(&mut self, acceptor: &Acceptor) {
        if let Err(err) = self.conn.start_tls(acceptor) {
            let mut fields = self.log_fields_base();
            fields.push(("REASON", err.to_string()));
            log_event(log::Level::Info, "STARTTLS failed", &fields);
            self.logout();
        }
        self.starttls = false;
    }

    /// Answers `ready` and executes `postern` for the handshake (through
    /// [`super::prelogin::PLAINTEXT_PRE_LOGIN`]); returns only when that failed.
    pub(super) fn relay_tls(&mut self, ready: &str) -> CommandResult {
        self.tls_may_start()?;
        let (Some(program), Some(_)) = (tls_handoff::tls_program(), self.conn.plain_socket())
        else {
            log::error!(
                "STARTTLS: no {} beside this program to run TLS",
                tls_handoff::PROGRAM
            );
            return Err(Outcome::no("[UNAVAILABLE] TLS is not available now"));
        };
        self.out.extend_from_slice(ready.as_bytes());
        if self.flush().is_err() {
            self.logout();
            return Ok(Outcome::Done);
        }
        self.conn.discard_before_tls();
        let asked = if self.protocol == "SMAP1" {
            Asked::Smap
        } else {
            Asked::Imap
        };
        let request = TlsRequest::new(asked, &self.conn, self.failed_logins, self.config);
        if let Some(socket) = self.conn.plain_socket() {
            let err = tls_handoff::hand_over(&program, socket, &request);
            log::error!("STARTTLS: cannot start {}: {err}", program.display());
        }
        self.logout();
        Ok(Outcome::Done)
    }

    /// Whether STARTTLS may start now.
    fn tls_may_start(&self) -> Result<(), Outcome> {
        if self.conn.is_tls() {
            return Err(Outcome::bad("TLS is already active"));
        }
        if !self.starttls {
            return Err(Outcome::bad("STARTTLS is not available on this connection"));
        }
        Ok(())
    }
}
