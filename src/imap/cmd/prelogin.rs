//! The commands of the time before login (STARTTLS, LOGIN, AUTHENTICATE, and SMAP's
//! equivalents) are reached through a [`PreLogin`] table, which the login process gives
//! its session: `postern imapd` [`PRE_LOGIN`], the plaintext login program
//! `postern-login` [`PLAINTEXT_PRE_LOGIN`], whose STARTTLS executes `postern` for the
//! handshake (see [`crate::net::tls_handoff`]), so that it is not linked with OpenSSL.
//! A session resumed after login by `postern-session` (see [`crate::net::handoff`]) has
//! none: nothing in it names TLS, PAM or password hashing, so that program is not linked
//! with them. Its states refuse these commands before they get here anyway (the
//! command table).

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

/// How this process starts TLS and logs a client in.
pub struct PreLogin {
    /// Answers the given ready line, then runs the TLS handshake.
    pub start_tls: fn(&mut Session<'_>, &str) -> CommandResult,
    /// LOGIN with the command's tag (none for SMAP), the user name and the password.
    pub login: fn(&mut Session<'_>, Option<&str>, &str, &[u8]) -> CommandResult,
    /// AUTHENTICATE with the command's tag, the mechanism and an initial response.
    pub authenticate: fn(&mut Session<'_>, Option<&str>, &str, Option<String>) -> CommandResult,
}

/// `postern imapd`'s table.
pub static PRE_LOGIN: PreLogin = PreLogin {
    start_tls: |session, ready| session.begin_tls(ready),
    login: |session, tag, user, password| session.password_login(tag, user, password),
    authenticate: |session, tag, mechanism, initial| session.sasl_login(tag, mechanism, initial),
};

/// `postern-login`'s table: the same logins, TLS in `postern`.
pub static PLAINTEXT_PRE_LOGIN: PreLogin = PreLogin {
    start_tls: |session, ready| session.relay_tls(ready),
    ..PRE_LOGIN
};

impl Session<'_> {
    /// STARTTLS (RFC 3501 §6.2.1). Whatever the client sent after the command in the
    /// same packet is dropped, never run.
    pub fn cmd_starttls(&mut self, tag: &str) -> CommandResult {
        self.start_tls(&format!("{tag} OK Begin TLS negotiation now\r\n"))
    }

    /// Answers `ready` and starts TLS (IMAP STARTTLS and SMAP's `\SMAP1 STARTTLS`).
    pub fn start_tls(&mut self, ready: &str) -> CommandResult {
        let start_tls = self.pre_login.ok_or_else(logged_in)?.start_tls;
        start_tls(self, ready)
    }

    /// LOGIN (RFC 3501 §6.2.3); `tag` is none for SMAP's LOGIN.
    pub fn cmd_login(&mut self, tag: Option<&str>, user: &str, password: &[u8]) -> CommandResult {
        let login = self.pre_login.ok_or_else(logged_in)?.login;
        login(self, tag, user, password)
    }

    /// AUTHENTICATE (RFC 3501 §6.2.2) with SASL-IR (RFC 4959).
    pub fn cmd_authenticate(
        &mut self,
        tag: Option<&str>,
        mechanism: &str,
        initial: Option<String>,
    ) -> CommandResult {
        let authenticate = self.pre_login.ok_or_else(logged_in)?.authenticate;
        authenticate(self, tag, mechanism, initial)
    }
}

fn logged_in() -> Outcome {
    Outcome::bad("Already logged in")
}
