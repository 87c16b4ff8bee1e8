//! LOGIN and AUTHENTICATE (RFC 3501 §6.2.2-3, SASL-IR, EXTERNAL), and what happens right
//! after a login succeeds or fails.

use std::time::Duration;

use crate::auth::sasl::{self, Ending, Reply, SaslError};
use crate::auth::{self, Account, AuthError, Protocol};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, log_event};
use crate::net::conn::LineRead;
use crate::net::handoff::{self, Handoff};

const PRIVACY_REQUIRED: &str =
    "[PRIVACYREQUIRED] Use STARTTLS first; logins without TLS are disabled";

impl Session<'_> {
    /// LOGIN; `tag` is the command's (none for SMAP's LOGIN).
    pub(super) fn password_login(
        &mut self,
        tag: Option<&str>,
        user: &str,
        password: &[u8],
    ) -> CommandResult {
        Ok(self.login(tag, user, password))
    }

    fn login(&mut self, tag: Option<&str>, user: &str, password: &[u8]) -> Outcome {
        if self.login_needs_tls() {
            return Outcome::no(PRIVACY_REQUIRED);
        }
        let Ok(password) = std::str::from_utf8(password) else {
            return self.login_failed(user, "password is not UTF-8");
        };
        let remote = self.conn.peer_addr().map(|a| a.ip());
        let _lookups = auth::InProcess::when(self.hands_over(tag));
        let result = auth::authenticate(self.config, Protocol::Imap, user, password, remote);
        self.auth_result(tag, user, result, "LOGIN")
    }

    /// Turns the backend's verdict into the session's next state and the tagged answer.
    fn auth_result(
        &mut self,
        tag: Option<&str>,
        user: &str,
        result: Result<Account, AuthError>,
        verb: &str,
    ) -> Outcome {
        match result {
            Ok(account) => self.login_as(tag, account, verb),
            Err(AuthError::Failed) => self.login_failed(user, "invalid credentials"),
            Err(AuthError::Disabled(_)) => {
                self.log_auth("LOGIN FAILED", user, Some("IMAP access disabled"));
                Outcome::no("[CONTACTADMIN] IMAP access disabled for this account.")
            }
            Err(AuthError::MechanismUnavailable) => {
                self.login_failed(user, "mechanism unavailable for this account")
            }
            Err(err) => {
                let user = crate::log::escape(user);
                log::error!("authentication backend failed for {user}: {err}");
                Outcome::no("[UNAVAILABLE] Authentication is unavailable; try again later")
            }
        }
    }

    /// AUTHENTICATE (RFC 3501 §6.2.2) with SASL-IR (RFC 4959).
    pub(super) fn sasl_login(
        &mut self,
        tag: Option<&str>,
        mechanism: &str,
        initial: Option<String>,
    ) -> CommandResult {
        Ok(self.authenticate(tag, mechanism, initial))
    }

    fn authenticate(
        &mut self,
        tag: Option<&str>,
        mechanism: &str,
        initial: Option<String>,
    ) -> Outcome {
        if self.login_needs_tls() {
            return Outcome::no(PRIVACY_REQUIRED);
        }
        let request = sasl::Request {
            mechanism,
            initial: initial.as_deref().map(str::as_bytes),
            host: "postern",
            max_response: self.config.limits.max_line_length,
        };
        let mut accounts = sasl::Accounts {
            config: self.config,
            protocol: Protocol::Imap,
            remote: self.conn.peer_addr().map(|a| a.ip()),
        };
        let _lookups = auth::InProcess::when(self.hands_over(tag));
        let ending = self.sasl_offer().run(&request, &mut accounts, self);
        match ending {
            Ending::Verdict { user, result, .. } => {
                self.auth_result(tag, &user, result, "AUTHENTICATE")
            }
            Ending::NotOffered => {
                Outcome::no(format!("[CANNOT] Mechanism {mechanism} is not offered"))
            }
            Ending::NeedsCertificate => {
                Outcome::no("[CANNOT] Mechanism EXTERNAL needs a verified client certificate")
            }
            Ending::BadResponse {
                initial: true,
                error,
            } => Outcome::bad(format!("Invalid initial response: {error}")),
            Ending::BadResponse {
                error: SaslError::Cancelled,
                ..
            } => Outcome::bad("AUTHENTICATE cancelled"),
            Ending::BadResponse { error, .. } => {
                Outcome::bad(format!("Invalid SASL response: {error}"))
            }
            Ending::TooLong => Outcome::bad("SASL response too long"),
            Ending::Closed => {
                self.logout();
                Outcome::Done
            }
            Ending::NotTheCertificate { asked } => {
                self.login_failed(&asked, "EXTERNAL: not the certificate's identity")
            }
            Ending::Refused {
                error: SaslError::Cancelled,
                ..
            } => Outcome::bad("AUTHENTICATE cancelled"),
            Ending::Refused { error, .. } => Outcome::bad(format!("AUTHENTICATE failed: {error}")),
            Ending::Channel(outcome) => outcome,
        }
    }

    /// Everything that follows a successful authentication. With the login command's
    /// `tag`, the connection is handed to the mail session program when it can be.
    fn login_as(&mut self, tag: Option<&str>, account: Account, verb: &str) -> Outcome {
        if account.options.disabled_for(Protocol::Imap) {
            self.log_auth("LOGIN FAILED", &account.user, Some("IMAP access disabled"));
            return Outcome::no("[CONTACTADMIN] IMAP access disabled for this account.");
        }
        if account.options.requires_tls_for(Protocol::Imap) && !self.conn.is_tls() {
            self.log_auth("LOGIN FAILED", &account.user, Some("account needs TLS"));
            return Outcome::no(
                "[PRIVACYREQUIRED] This account may log in only over TLS; use STARTTLS first",
            );
        }
        crate::net::budget::stop_reporting();
        if let Err(err) = auth::login::enter(&account, self.config) {
            if let Some(message) = err.client_message() {
                self.log_auth("LOCKED", &account.user, Some(&err.to_string()));
                return Outcome::no(format!("[UNAVAILABLE] {message}"));
            }
            log::error!(
                "user {}: cannot start the session: {err}",
                crate::log::escape(&account.user)
            );
            if err.ends_session() {
                return self.end_after_drop();
            }
            return Outcome::no(
                "[UNAVAILABLE] Your mailbox is unavailable; the administrator has details in the log",
            );
        }
        // From here on the process is the account's: a failure ends the session.
        let account = match tag {
            Some(tag) => match self.hand_over(tag, account, verb) {
                Ok(account) => account,
                Err(outcome) => return outcome,
            },
            None => account,
        };
        self.open_mail(account, verb)
    }

    /// Whether a login by the command tagged `tag` would go on in `postern-session`: its
    /// PAM and NSS lookups then run in this process (see [`auth::InProcess`]).
    fn hands_over(&self, tag: Option<&str>) -> bool {
        tag.is_some() && self.conn.plain_socket().is_some() && handoff::session_program().is_some()
    }

    /// Executes `postern-session` to go on with this connection (see
    /// [`crate::net::handoff`]); returns the account when the session goes on here
    /// instead (TLS, no session program), and the login's answer when the program could
    /// not be started.
    fn hand_over(&mut self, tag: &str, account: Account, verb: &str) -> Result<Account, Outcome> {
        if self.conn.plain_socket().is_none() {
            return Ok(account);
        }
        let Some(program) = handoff::session_program() else {
            log::warn!(
                "no {} beside this program: the session goes on in the login process",
                handoff::PROGRAM
            );
            return Ok(account);
        };
        if self.flush().is_err() {
            return Err(self.end_after_drop());
        }
        let Some(socket) = self.conn.plain_socket() else {
            return Ok(account);
        };
        let handoff = Handoff {
            tag: tag.to_owned(),
            verb: verb.to_owned(),
            session_id: crate::log::start_session().to_owned(),
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            peer: self.conn.peer_addr(),
            bytes_read: self.conn.bytes_read(),
            bytes_written: self.conn.bytes_written(),
            input: self.conn.buffered_input().to_vec(),
            account,
            config: self.config.clone(),
        };
        let err = handoff::hand_over(&program, socket, &handoff);
        log::error!("cannot start {}: {err}", program.display());
        Err(self.end_after_drop())
    }

    /// A login that failed after the process became the account's user: the session
    /// cannot go back to serving an unauthenticated client as that user.
    pub(crate) fn end_after_drop(&mut self) -> Outcome {
        self.untagged(
            "BYE [UNAVAILABLE] Your mailbox is unavailable; the administrator has details in the log",
        );
        self.logout();
        Outcome::no("[UNAVAILABLE] Login failed")
    }

    /// Counts a failed attempt, waits the configured delay, and hangs up after too many.
    pub fn login_failed(&mut self, user: &str, why: &str) -> Outcome {
        // Before the client hears NO, so its next connection already meets the budget.
        crate::net::budget::report_failed_login();
        self.failed_logins += 1;
        self.log_auth("LOGIN FAILED", user, Some(why));
        let _ = self.flush();
        std::thread::sleep(Duration::from_secs(self.config.auth.failed_login_delay));
        if self.failed_logins >= self.config.auth.max_failed_logins {
            self.untagged("BYE Too many failed logins");
            self.logout();
        }
        Outcome::no("[AUTHENTICATIONFAILED] Authentication failed")
    }

    pub(crate) fn log_auth(&self, event: &str, user: &str, reason: Option<&str>) {
        let mut fields = self.log_fields_base();
        fields.retain(|(k, _)| *k != "USER");
        fields.push(("USER", user.to_string()));
        if let Some(r) = reason {
            fields.push(("REASON", r.to_string()));
        }
        log_event(log::Level::Info, event, &fields);
    }
}

/// AUTHENTICATE's continuation lines (RFC 3501 §7.5): `+ base64`, one response line back.
/// A connection that fails here ends the session; the error is the command's last word.
impl sasl::Channel for Session<'_> {
    type Error = Outcome;

    fn challenge(&mut self, challenge: &str, max: usize) -> Result<Reply, Outcome> {
        self.out
            .extend_from_slice(format!("{}{challenge}\r\n", self.sasl_prompt).as_bytes());
        if self.flush().is_err() {
            self.logout();
            return Err(Outcome::Done);
        }
        match self.conn.read_line(max) {
            Ok(LineRead::Line(line)) => Ok(Reply::Line(line)),
            Ok(LineRead::TooLong) => Ok(Reply::TooLong),
            Ok(LineRead::Eof) => Ok(Reply::Closed),
            Err(err) => {
                // The login deadline (or the silence allowed) ran out inside the exchange.
                if err.kind() == std::io::ErrorKind::TimedOut {
                    self.untagged("BYE Autologout; no login in time");
                }
                self.logout();
                Err(Outcome::Done)
            }
        }
    }
}
