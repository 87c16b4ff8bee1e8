//! LOGIN and AUTHENTICATE (RFC 3501 §6.2.2-3, SASL-IR, EXTERNAL), and what happens right
//! after a login succeeds or fails.

use std::time::Duration;

use crate::auth::sasl::{self, Exchange, Mechanism, SaslError, Step};
use crate::auth::{self, Account, AuthError, Protocol};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, log_event};
use crate::net::conn::LineRead;
use crate::store::Maildir;

const PRIVACY_REQUIRED: &str =
    "[PRIVACYREQUIRED] Use STARTTLS first; logins without TLS are disabled";

impl Session<'_> {
    pub fn cmd_login(&mut self, user: &str, password: &[u8]) -> CommandResult {
        Ok(self.login(user, password))
    }

    fn login(&mut self, user: &str, password: &[u8]) -> Outcome {
        if self.login_needs_tls() {
            return Outcome::no(PRIVACY_REQUIRED);
        }
        let Ok(password) = std::str::from_utf8(password) else {
            return self.login_failed(user, "password is not UTF-8");
        };
        let remote = self.conn.peer_addr().map(|a| a.ip());
        let result = auth::authenticate(self.config, Protocol::Imap, user, password, remote);
        self.auth_result(user, result, "LOGIN")
    }

    /// Turns the backend's verdict into the session's next state and the tagged answer.
    fn auth_result(
        &mut self,
        user: &str,
        result: Result<Account, AuthError>,
        verb: &str,
    ) -> Outcome {
        match result {
            Ok(account) => self.login_as(account, verb),
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
    pub fn cmd_authenticate(&mut self, mechanism: &str, initial: Option<String>) -> CommandResult {
        Ok(self.authenticate(mechanism, initial))
    }

    fn authenticate(&mut self, mechanism: &str, initial: Option<String>) -> Outcome {
        if self.login_needs_tls() {
            return Outcome::no(PRIVACY_REQUIRED);
        }
        if mechanism.eq_ignore_ascii_case("EXTERNAL") {
            return self.authenticate_external(initial);
        }
        let mech = match Mechanism::from_name(mechanism) {
            Some(m @ (Mechanism::Plain | Mechanism::Login)) => m,
            Some(m @ (Mechanism::CramMd5 | Mechanism::CramSha256)) if self.config.auth.cram => m,
            Some(m @ Mechanism::ScramSha256) if self.config.auth.scram => m,
            _ => return Outcome::no(format!("[CANNOT] Mechanism {mechanism} is not offered")),
        };
        let mut exchange = Exchange::new(mech, "postern");
        let initial = match initial
            .as_deref()
            .map(|text| sasl::decode_response(text.as_bytes()))
        {
            None => None,
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(err)) => return Outcome::bad(format!("Invalid initial response: {err}")),
        };
        let mut step = exchange.start(initial.as_deref());
        loop {
            match step {
                Ok(Step::Done { user, credential }) => {
                    let remote = self.conn.peer_addr().map(|a| a.ip());
                    let result = auth::authenticate_credential(
                        self.config,
                        Protocol::Imap,
                        &user,
                        &credential,
                        remote,
                    );
                    return self.auth_result(&user, result, "AUTHENTICATE");
                }
                Ok(Step::NeedKeys { user }) => {
                    step = match auth::scram_lookup(self.config, &user) {
                        Ok(keys) => exchange.scram_keys(keys),
                        Err(err) => return self.auth_result(&user, Err(err), "AUTHENTICATE"),
                    };
                }
                Ok(Step::Challenge(challenge)) => {
                    step = match self.sasl_round(&challenge) {
                        Ok(bytes) => exchange.step(&bytes),
                        Err(outcome) => return outcome,
                    };
                }
                Err(SaslError::Cancelled) => return Outcome::bad("AUTHENTICATE cancelled"),
                Err(err) => return Outcome::bad(format!("AUTHENTICATE failed: {err}")),
            }
        }
    }

    /// Sends one SASL challenge and returns the decoded answer, or how the command ends.
    fn sasl_round(&mut self, challenge: &[u8]) -> Result<Vec<u8>, Outcome> {
        let line = format!("+ {}\r\n", sasl::encode_challenge(challenge));
        self.out.extend_from_slice(line.as_bytes());
        if self.flush().is_err() {
            self.logout();
            return Err(Outcome::Done);
        }
        let response = match self.conn.read_line(self.config.limits.max_line_length) {
            Ok(LineRead::Line(line)) => line,
            Ok(LineRead::TooLong) => return Err(Outcome::bad("SASL response too long")),
            Ok(LineRead::Eof) => {
                self.logout();
                return Err(Outcome::Done);
            }
            Err(err) => {
                // The login deadline (or the silence allowed) ran out inside the exchange.
                if err.kind() == std::io::ErrorKind::TimedOut {
                    self.untagged("BYE Autologout; no login in time");
                }
                self.logout();
                return Err(Outcome::Done);
            }
        };
        match sasl::decode_response(&response) {
            Ok(bytes) => Ok(bytes),
            Err(SaslError::Cancelled) => Err(Outcome::bad("AUTHENTICATE cancelled")),
            Err(err) => Err(Outcome::bad(format!("Invalid SASL response: {err}"))),
        }
    }

    /// AUTHENTICATE EXTERNAL (RFC 4422 appendix A): the login is what the verified client
    /// certificate names; the client may only repeat it as authorization identity.
    fn authenticate_external(&mut self, initial: Option<String>) -> Outcome {
        let Some(identity) = self.external_identity() else {
            return Outcome::no("[CANNOT] Mechanism EXTERNAL needs a verified client certificate");
        };
        let authzid = match initial {
            Some(text) => match sasl::decode_response(text.as_bytes()) {
                Ok(bytes) => bytes,
                Err(err) => return Outcome::bad(format!("Invalid initial response: {err}")),
            },
            None => match self.sasl_round(b"") {
                Ok(bytes) => bytes,
                Err(outcome) => return outcome,
            },
        };
        if !authzid.is_empty() && authzid != identity.as_bytes() {
            let asked = String::from_utf8_lossy(&authzid).into_owned();
            return self.login_failed(&asked, "EXTERNAL: not the certificate's identity");
        }
        let result = auth::lookup_account(self.config, Protocol::Imap, &identity);
        self.auth_result(&identity, result, "AUTHENTICATE")
    }

    /// Everything that follows a successful authentication.
    pub fn login_as(&mut self, account: Account, verb: &str) -> Outcome {
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
        let maildir =
            match Maildir::open_with(&account.maildir, self.config.mail.skip_symlink_checks) {
                Ok(m) => m,
                Err(err) => {
                    log::error!(
                        "user {}: Maildir {} cannot be opened: {err}",
                        crate::log::escape(&account.user),
                        account.maildir.display()
                    );
                    return self.end_after_drop();
                }
            };
        self.log_auth("LOGIN", &account.user, None);
        self.authenticated(account, maildir);
        // The login deadline is over: the tagged OK must not be cut short by it.
        self.apply_timeouts();
        Outcome::ok(format!(
            "[CAPABILITY {}] {verb} completed",
            self.capabilities()
        ))
    }

    /// A login that failed after the process became the account's user: the session
    /// cannot go back to serving an unauthenticated client as that user.
    fn end_after_drop(&mut self) -> Outcome {
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

    fn log_auth(&self, event: &str, user: &str, reason: Option<&str>) {
        let mut fields = self.log_fields_base();
        fields.retain(|(k, _)| *k != "USER");
        fields.push(("USER", user.to_string()));
        if let Some(r) = reason {
            fields.push(("REASON", r.to_string()));
        }
        log_event(log::Level::Info, event, &fields);
    }
}
