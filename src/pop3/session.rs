//! One POP3 session: AUTHORIZATION (USER/PASS, AUTH), TRANSACTION, UPDATE at QUIT.
//!
//! Responses are queued and go out when no more input is buffered, so pipelined
//! commands (RFC 2449 PIPELINING) get their answers in one write.

use std::io::{self, ErrorKind};
use std::net::IpAddr;
use std::time::Instant;

use log::Level;

use super::command::{self, Command, MsgNum, ParseError};
use super::maildrop::{self, Locked, Maildrop, NumberError, OpenError, Removed};
use crate::auth::sasl::{self, Ending, Offer, Reply, SaslError};
use crate::auth::{self, Account, AuthError, Protocol};
use crate::config::Config;
use crate::net::conn::{Connection, LineRead};
use crate::net::tls_handoff::{Asked, TlsRequest};
use crate::store::StoreError;

/// What CAPA lists (RFC 2449), in every state.
pub const CAPABILITIES: &[&str] = &[
    "TOP",
    "USER",
    "UIDL",
    "PIPELINING",
    "RESP-CODES",
    "AUTH-RESP-CODE",
    "SASL PLAIN LOGIN",
    "IMPLEMENTATION postern",
];

enum Flow {
    Continue,
    /// End the session; the word names the end in the log (Courier's words).
    End(&'static str),
}

struct Login {
    user: String,
    /// Locked at PASS, numbered at the first command that needs the messages.
    locked: Option<Locked>,
    maildrop: Option<Maildrop>,
    since: Instant,
    removed: Removed,
}

struct Session<'a> {
    config: &'a Config,
    conn: Connection,
    ip: Option<IpAddr>,
    port: Option<u16>,
    /// The name from USER, waiting for PASS.
    user: Option<String>,
    login: Option<Login>,
    failures: u32,
    /// Bytes of message text sent by TOP and by RETR (Courier's `top=` and `retr=`).
    top_bytes: u64,
    retr_bytes: u64,
    /// STLS is on offer (until TLS is up).
    starttls: bool,
    /// How STLS starts TLS: [`Session::stls`] here, [`Session::relay_stls`] in the
    /// plaintext login program (so that it is not linked with OpenSSL).
    start_tls: fn(&mut Session<'_>) -> io::Result<Flow>,
}

/// Serve one POP3 session on `conn` until QUIT, a timeout or the client leaving.
pub fn run_session(config: &Config, conn: Connection) -> anyhow::Result<()> {
    Session::new(config, conn, |s| s.stls()).run(true);
    Ok(())
}

/// `postern-login`: [`run_session`] on a plaintext connection, with STLS run by
/// `postern` (see [`crate::net::tls_handoff`]).
pub fn run_plaintext_session(config: &Config, conn: Connection) -> anyhow::Result<()> {
    Session::new(config, conn, |s| s.relay_stls()).run(true);
    Ok(())
}

/// `postern resume-tls`: the handshake a client of `postern-login` asked for with STLS,
/// then the session as [`run_session`] would have gone on.
pub fn resume_after_stls(conn: Connection, request: TlsRequest) -> anyhow::Result<()> {
    crate::log::continue_session(&request.session_id);
    let config = &request.config;
    let mut session = Session::new(config, conn, |s| s.stls());
    session.failures = request.failed_logins;
    session.starttls = false;
    match crate::net::tls::Acceptor::new(&config.tls, Protocol::Pop3) {
        Ok(acceptor) => {
            session.apply_preauth_timeouts();
            match session.handshake(&acceptor) {
                Flow::Continue => session.run(false),
                Flow::End(end) => session.log_end(end),
            }
        }
        Err(err) => {
            let why = format!("{err:#}");
            session.log(Level::Error, "STLS unavailable", &[("REASON", &why)]);
            session.log_end("DISCONNECTED");
        }
    }
    Ok(())
}

impl<'c> Session<'c> {
    fn new(
        config: &'c Config,
        conn: Connection,
        start_tls: fn(&mut Session<'_>) -> io::Result<Flow>,
    ) -> Session<'c> {
        crate::log::init("postern-pop3d");
        crate::log::set_level(config.log.level);
        let peer = conn.peer_addr();
        Session {
            config,
            conn,
            ip: peer.map(|a| a.ip()),
            port: peer.map(|a| a.port()),
            user: None,
            login: None,
            failures: 0,
            top_bytes: 0,
            retr_bytes: 0,
            starttls: crate::net::tls::starttls_configured(&config.tls),
            start_tls,
        }
    }
}

impl Session<'_> {
    /// Serves until the end, after the greeting when `greet` (not after a handoff).
    fn run(&mut self, greet: bool) {
        if greet {
            self.log(Level::Debug, "Connection", &[]);
        }
        self.apply_preauth_timeouts();
        let greeting = format!("+OK {}", self.config.pop3.greeting);
        let greeted = if greet {
            self.reply(&greeting)
        } else {
            Ok(Flow::Continue)
        };
        let end = match greeted.and_then(|_| self.serve()) {
            Ok(reason) => reason,
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                let _ = self.reply("-ERR Disconnected for inactivity.");
                "TIMEOUT"
            }
            Err(e) => {
                log::debug!("connection: {e}");
                "DISCONNECTED"
            }
        };
        let _ = self.conn.flush();
        self.log_end(end);
    }

    /// The AUTHORIZATION state's clocks.
    fn apply_preauth_timeouts(&mut self) {
        let limits = &self.config.limits;
        self.conn.set_read_timeout(Some(limits.preauth_timeout()));
        self.conn.set_write_timeout(Some(limits.write_timeout()));
        // The whole AUTHORIZATION state has a deadline, so a client dripping bytes just
        // inside the read timeout cannot keep it open.
        let deadline = self.conn.opened_at() + limits.preauth_timeout();
        self.conn.set_deadline(Some(deadline));
    }

    fn serve(&mut self) -> io::Result<&'static str> {
        loop {
            if !self.conn.has_buffered_input() {
                self.conn.flush()?;
            }
            let line = match self.conn.read_line(self.config.limits.max_line_length)? {
                LineRead::Line(line) => line,
                LineRead::TooLong => {
                    self.reply("-ERR Line too long.")?;
                    continue;
                }
                LineRead::Eof => return Ok("DISCONNECTED"),
            };
            let flow = match command::parse(&line) {
                Ok(cmd) if self.login.is_some() => self.transaction(cmd)?,
                Ok(cmd) => self.authorization(cmd)?,
                Err(ParseError::Unknown) => self.reply("-ERR Unknown command.")?,
                Err(ParseError::Syntax(why)) => {
                    self.reply(&format!("-ERR Syntax error: {why}."))?
                }
            };
            if let Flow::End(reason) = flow {
                return Ok(reason);
            }
        }
    }

    fn reply(&mut self, line: &str) -> io::Result<Flow> {
        self.conn.write_all(line.as_bytes())?;
        self.conn.write_all(b"\r\n")?;
        Ok(Flow::Continue)
    }

    fn capa(&mut self) -> io::Result<Flow> {
        self.reply("+OK Capability list follows.")?;
        let before_login = self.login.is_none();
        for c in CAPABILITIES {
            if c.starts_with("SASL ") {
                if before_login && self.starttls && !self.conn.is_tls() {
                    self.reply("STLS")?;
                }
                let offer = self.sasl_offer();
                if !offer.logins_disabled() {
                    self.reply(&format!("SASL {}", offer.advertised().join(" ")))?;
                }
                continue;
            }
            if *c == "USER" && self.login_needs_tls() {
                continue;
            }
            self.reply(c)?;
        }
        self.reply(".")
    }

    // ---- TLS ----

    /// `[tls] require_tls_pop3` and TLS is not up yet.
    fn login_needs_tls(&self) -> bool {
        self.config.tls.require_tls_pop3 && !self.conn.is_tls()
    }

    /// The login a verified client certificate names (`[tls] external_field`).
    fn external_identity(&self) -> Option<String> {
        self.conn
            .peer_certificate()?
            .identity(&self.config.tls.external_field)
            .map(str::to_owned)
    }

    /// The SASL mechanisms this session offers (by TLS state, backend and certificate).
    fn sasl_offer(&self) -> Offer {
        Offer::new(
            &self.config.auth,
            self.login_needs_tls(),
            self.external_identity(),
        )
    }

    /// STLS (RFC 2595 §4): whatever the client pipelined after it is dropped, never run,
    /// and a USER given before it is forgotten: a name sent in plaintext (perhaps put
    /// there by someone on the path) must not pair with a PASS sent under TLS.
    fn stls(&mut self) -> io::Result<Flow> {
        if let Some(refused) = self.stls_refused() {
            return refused;
        }
        let acceptor = match crate::net::tls::Acceptor::new(&self.config.tls, Protocol::Pop3) {
            Ok(acceptor) => acceptor,
            Err(err) => {
                let why = format!("{err:#}");
                self.log(Level::Error, "STLS unavailable", &[("REASON", &why)]);
                return self.reply("-ERR [SYS/TEMP] TLS is not available now.");
            }
        };
        self.reply("+OK Begin TLS negotiation now.")?;
        Ok(self.handshake(&acceptor))
    }

    /// STLS in `postern-login`: the same answer, then `postern` runs the handshake (see
    /// [`crate::net::tls_handoff`]).
    fn relay_stls(&mut self) -> io::Result<Flow> {
        if let Some(refused) = self.stls_refused() {
            return refused;
        }
        let Some(program) = crate::net::tls_handoff::tls_program() else {
            let why = format!(
                "no {} beside this program",
                crate::net::tls_handoff::PROGRAM
            );
            self.log(Level::Error, "STLS unavailable", &[("REASON", &why)]);
            return self.reply("-ERR [SYS/TEMP] TLS is not available now.");
        };
        self.reply("+OK Begin TLS negotiation now.")?;
        self.conn.flush()?;
        self.conn.discard_before_tls();
        let request = TlsRequest::new(Asked::Pop3, &self.conn, self.failures, self.config);
        if let Some(socket) = self.conn.plain_socket() {
            let err = crate::net::tls_handoff::hand_over(&program, socket, &request);
            let why = format!("cannot start {}: {err}", program.display());
            self.log(Level::Error, "STLS failed", &[("REASON", &why)]);
        }
        Ok(Flow::End("DISCONNECTED"))
    }

    /// Why STLS cannot start now, answered; `None` when it can, and then a USER given
    /// before it is forgotten.
    fn stls_refused(&mut self) -> Option<io::Result<Flow>> {
        if self.conn.is_tls() || !self.starttls {
            return Some(self.reply("-ERR STLS is not available now."));
        }
        self.user = None;
        None
    }

    /// The TLS handshake after STLS's `+OK`; a failure ends the session.
    fn handshake(&mut self, acceptor: &crate::net::tls::Acceptor) -> Flow {
        if let Err(err) = self.conn.start_tls(acceptor) {
            let why = err.to_string();
            self.log(Level::Info, "STLS failed", &[("REASON", &why)]);
            return Flow::End("DISCONNECTED");
        }
        self.starttls = false;
        Flow::Continue
    }

    // ---- AUTHORIZATION ----

    fn authorization(&mut self, cmd: Command) -> io::Result<Flow> {
        let login = matches!(
            cmd,
            Command::User(_) | Command::Pass(_) | Command::Auth { .. }
        );
        if login && self.login_needs_tls() {
            return self.reply("-ERR [AUTH] Use STLS first; logins without TLS are disabled.");
        }
        match cmd {
            Command::Capa => self.capa(),
            Command::Stls => (self.start_tls)(self),
            Command::Quit => {
                self.reply("+OK Bye.")?;
                Ok(Flow::End("LOGOUT"))
            }
            Command::User(name) => {
                self.user = Some(name);
                self.reply("+OK Password required.")
            }
            Command::Pass(password) => {
                let Some(user) = self.user.take() else {
                    return self.reply("-ERR Send USER first.");
                };
                let result =
                    auth::authenticate(self.config, Protocol::Pop3, &user, &password, self.ip);
                self.finish_login(&user, result, None)
            }
            Command::Auth { mechanism, initial } => {
                self.user = None;
                self.auth(mechanism, initial)
            }
            _ => self.reply("-ERR Log in first (USER/PASS or AUTH)."),
        }
    }

    fn auth(&mut self, mechanism: Option<String>, initial: Option<String>) -> io::Result<Flow> {
        let offer = self.sasl_offer();
        let Some(name) = mechanism else {
            // RFC 1734's form, still used by clients to ask for the list.
            self.reply("+OK Mechanisms follow.")?;
            for name in offer.advertised() {
                self.reply(name)?;
            }
            return self.reply(".");
        };
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        let request = sasl::Request {
            mechanism: &name,
            initial: initial.as_deref().map(str::as_bytes),
            host: &host,
            max_response: self.config.limits.max_line_length,
        };
        let mut accounts = sasl::Accounts {
            config: self.config,
            protocol: Protocol::Pop3,
            remote: self.ip,
        };
        match offer.run(&request, &mut accounts, self) {
            Ending::Verdict {
                mechanism,
                user,
                result,
            } => self.finish_login(&user, result, Some(mechanism)),
            Ending::NotOffered => self.reply("-ERR Unsupported authentication mechanism."),
            Ending::NeedsCertificate => {
                self.reply("-ERR EXTERNAL needs a verified client certificate.")
            }
            Ending::BadResponse {
                error: SaslError::Cancelled,
                ..
            } => self.reply("-ERR Authentication cancelled."),
            Ending::BadResponse { .. } => self.reply("-ERR Invalid base64 data."),
            Ending::TooLong => self.reply("-ERR Line too long."),
            Ending::Closed => Ok(Flow::End("DISCONNECTED")),
            Ending::NotTheCertificate { asked } => self.failed_login(
                &asked,
                Some(sasl::EXTERNAL),
                "-ERR [AUTH] Not the certificate's identity.",
                true,
            ),
            Ending::Refused {
                mechanism,
                error: error @ (SaslError::Malformed { .. } | SaslError::Authzid(_)),
            } => {
                let text = format!("-ERR [AUTH] {error}.");
                self.failed_login("", Some(mechanism), &text, true)
            }
            Ending::Refused { error, .. } => {
                self.reply(&format!("-ERR Authentication failed: {error}."))
            }
            Ending::Channel(err) => Err(err),
        }
    }

    fn finish_login(
        &mut self,
        user: &str,
        result: Result<Account, AuthError>,
        method: Option<&str>,
    ) -> io::Result<Flow> {
        match result {
            Ok(account)
                if account.options.requires_tls_for(Protocol::Pop3) && !self.conn.is_tls() =>
            {
                self.failed_login(
                    user,
                    method,
                    "-ERR [AUTH] This account may log in only over TLS; use STLS first.",
                    false,
                )
            }
            Ok(account) => self.open_maildrop(account),
            Err(AuthError::Failed | AuthError::MechanismUnavailable) => self.failed_login(
                user,
                method,
                "-ERR [AUTH] Invalid user name or password.",
                true,
            ),
            // Only a right password learns this, so no delay is needed to slow guessing.
            Err(AuthError::Disabled(_)) => self.failed_login(
                user,
                method,
                "-ERR [AUTH] POP3 access disabled for this account.",
                false,
            ),
            Err(AuthError::Unavailable(why)) => {
                self.log(
                    Level::Error,
                    "authentication unavailable",
                    &[("USER", user), ("REASON", &why)],
                );
                self.reply("-ERR [SYS/TEMP] Authentication is temporarily unavailable.")
            }
        }
    }

    fn failed_login(
        &mut self,
        user: &str,
        method: Option<&str>,
        text: &str,
        delay: bool,
    ) -> io::Result<Flow> {
        // Before the client hears -ERR, so its next connection already meets the budget.
        crate::net::budget::report_failed_login();
        self.failures += 1;
        let mut fields = vec![("USER", user)];
        if let Some(m) = method {
            fields.push(("METHOD", m));
        }
        self.log(Level::Info, "LOGIN FAILED", &fields);
        if delay {
            self.conn.flush()?;
            std::thread::sleep(self.config.auth.failed_login_delay());
        }
        self.reply(text)?;
        if self.failures >= self.config.auth.max_failed_logins {
            self.reply("-ERR Too many failed logins.")?;
            return Ok(Flow::End("DISCONNECTED"));
        }
        Ok(Flow::Continue)
    }

    fn open_maildrop(&mut self, account: Account) -> io::Result<Flow> {
        let user = account.user.clone();
        crate::net::budget::stop_reporting();
        if let Err(err) = crate::auth::login::enter(&account, self.config) {
            if let Some(message) = err.client_message() {
                // A locked account (sticky home), as Courier says it.
                let reason = err.to_string();
                self.log(
                    Level::Info,
                    "LOCKED",
                    &[("USER", &user), ("REASON", &reason)],
                );
                return self.reply(&format!("-ERR [SYS/TEMP] {message}"));
            }
            self.log(
                Level::Error,
                &format!("cannot start the session: {err}"),
                &[("USER", &user)],
            );
            self.reply("-ERR [SYS/PERM] This server cannot serve this account.")?;
            if err.ends_session() {
                // The process has begun to become the account's user: it must not go
                // back to serving an unauthenticated client.
                return Ok(Flow::End("LOGIN FAILED AFTER PRIVILEGE DROP"));
            }
            return Ok(Flow::Continue);
        }
        // From here on the process is the account's: a failure ends the session.
        match Locked::take(&account.maildir, self.config.mail.skip_symlink_checks) {
            Ok(locked) => {
                self.log(
                    Level::Info,
                    "LOGIN",
                    &[("USER", &user), ("PROTOCOL", "POP3")],
                );
                self.login = Some(Login {
                    user,
                    locked: Some(locked),
                    maildrop: None,
                    since: Instant::now(),
                    removed: Removed::default(),
                });
                self.conn
                    .set_read_timeout(Some(self.config.pop3.autologout_timeout()));
                self.conn.set_deadline(None);
                // Courier's and Dovecot's words; the counts come with STAT.
                self.reply("+OK Logged in.")
            }
            Err(e) => {
                let refusal = self.refusal(&user, e);
                self.reply(refusal)?;
                Ok(Flow::End("MAILDROP UNAVAILABLE"))
            }
        }
    }

    /// Logs why the maildrop cannot be had and gives the answer for the client.
    fn refusal(&self, user: &str, e: OpenError) -> &'static str {
        match e {
            OpenError::InUse => {
                self.log(Level::Info, "IN USE", &[("USER", user)]);
                "-ERR [IN-USE] Another POP3 session is using this maildrop."
            }
            OpenError::Temporary(why) => {
                self.log(
                    Level::Error,
                    "cannot open the maildrop",
                    &[("USER", user), ("REASON", &why)],
                );
                "-ERR [SYS/TEMP] Cannot open the maildrop now; try again later."
            }
            OpenError::Permanent(why) => {
                self.log(
                    Level::Error,
                    "cannot open the maildrop",
                    &[("USER", user), ("REASON", &why)],
                );
                "-ERR [SYS/PERM] The maildrop cannot be opened."
            }
        }
    }

    /// Numbers the locked maildrop if that is not done yet; the end of the session when
    /// it cannot be (after the answer that says why).
    fn numbered(&mut self) -> io::Result<Option<Flow>> {
        let login = self.login.as_mut().expect("logged in");
        let Some(locked) = login.locked.take() else {
            return Ok(None);
        };
        match locked.number() {
            Ok(maildrop) => {
                login.maildrop = Some(maildrop);
                Ok(None)
            }
            Err(e) => {
                let user = login.user.clone();
                let refusal = self.refusal(&user, e);
                self.reply(refusal)?;
                Ok(Some(Flow::End("MAILDROP UNAVAILABLE")))
            }
        }
    }

    // ---- TRANSACTION ----

    /// The numbered maildrop: [`Self::transaction`] numbers it before any command that
    /// reaches here.
    fn maildrop(&mut self) -> &mut Maildrop {
        let login = self.login.as_mut().expect("logged in");
        login.maildrop.as_mut().expect("numbered")
    }

    fn number_error(&mut self, n: MsgNum, e: NumberError) -> io::Result<Flow> {
        match e {
            NumberError::NoSuchMessage => self.reply("-ERR No such message."),
            NumberError::Deleted => self.reply(&format!("-ERR Message {n} is deleted.")),
        }
    }

    fn transaction(&mut self, cmd: Command) -> io::Result<Flow> {
        let needs_messages = !matches!(
            cmd,
            Command::Capa
                | Command::Quit
                | Command::Noop
                | Command::User(_)
                | Command::Pass(_)
                | Command::Auth { .. }
                | Command::Stls
        );
        if needs_messages && let Some(end) = self.numbered()? {
            return Ok(end);
        }
        match cmd {
            Command::Capa => self.capa(),
            Command::Quit => self.quit(),
            Command::Stat => {
                let (n, size) = self.maildrop().stat();
                self.reply(&format!("+OK {n} {size}"))
            }
            Command::List(None) => {
                let (n, size) = self.maildrop().stat();
                let lines: Vec<String> = self
                    .maildrop()
                    .list()
                    .map(|(i, s)| format!("{i} {s}"))
                    .collect();
                self.reply(&format!("+OK {n} messages ({size} octets)."))?;
                for l in lines {
                    self.reply(&l)?;
                }
                self.reply(".")
            }
            Command::List(Some(n)) => match self.maildrop().size(n) {
                Ok(size) => self.reply(&format!("+OK {n} {size}")),
                Err(e) => self.number_error(n, e),
            },
            Command::Uidl(None) => {
                let lines: Vec<String> = self
                    .maildrop()
                    .uidls()
                    .map(|(i, u)| format!("{i} {u}"))
                    .collect();
                self.reply("+OK Unique ids follow.")?;
                for l in lines {
                    self.reply(&l)?;
                }
                self.reply(".")
            }
            Command::Uidl(Some(n)) => match self.maildrop().uidl(n) {
                Ok(uidl) => {
                    let line = format!("+OK {n} {uidl}");
                    self.reply(&line)
                }
                Err(e) => self.number_error(n, e),
            },
            Command::Retr(n) => self.send(n, None),
            Command::Top(n, lines) => self.send(n, Some(lines)),
            Command::Dele(n) => match self.maildrop().delete(n) {
                Ok(()) => self.reply(&format!("+OK Message {n} deleted.")),
                Err(e) => self.number_error(n, e),
            },
            Command::Noop => self.reply("+OK"),
            Command::Rset => {
                self.maildrop().reset();
                let (n, size) = self.maildrop().stat();
                self.reply(&format!("+OK Maildrop has {n} messages ({size} octets)."))
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } | Command::Stls => {
                self.reply("-ERR Already logged in.")
            }
        }
    }

    fn send(&mut self, n: MsgNum, top: Option<u64>) -> io::Result<Flow> {
        let size = match self.maildrop().size(n) {
            Ok(size) => size,
            Err(e) => return self.number_error(n, e),
        };
        let mut file = match self.maildrop().open_message(n) {
            Err(e) => return self.number_error(n, e),
            Ok(Ok(file)) => file,
            Ok(Err(StoreError::NoSuchMessage)) => {
                return self.reply(&format!("-ERR Message {n} was removed by another session."));
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                self.log(Level::Error, "cannot read a message", &[("REASON", &why)]);
                return self.reply(&format!("-ERR [SYS/TEMP] Cannot read message {n}."));
            }
        };
        if top.is_some() {
            self.reply("+OK Top of message follows.")?;
        } else {
            self.reply(&format!("+OK {size} octets follow."))?;
        }
        let conn = &mut self.conn;
        let mut conn_error = None;
        let result = maildrop::send_message(&mut file, top, &mut |bytes| {
            conn.write_all(bytes).inspect_err(|e| {
                conn_error = Some(e.kind());
            })
        });
        let sent = match result {
            Ok(sent) => sent,
            Err(e) if conn_error.is_some() => return Err(e),
            Err(e) => {
                // Half a message is out: there is no way to tell the client, so hang up.
                let why = e.to_string();
                self.log(
                    Level::Error,
                    "I/O error reading a message",
                    &[("REASON", &why)],
                );
                return Ok(Flow::End("DISCONNECTED"));
            }
        };
        self.reply(".")?;
        if top.is_some() {
            self.top_bytes += sent;
        } else {
            self.retr_bytes += sent;
            self.maildrop().mark_seen(n);
        }
        Ok(Flow::Continue)
    }

    fn quit(&mut self) -> io::Result<Flow> {
        let login = self.login.as_mut().expect("logged in");
        let Some(maildrop) = login.maildrop.as_mut() else {
            // Never numbered: nothing was marked, nothing to update.
            self.reply("+OK Bye, 0 messages deleted.")?;
            return Ok(Flow::End("LOGOUT"));
        };
        match maildrop.update() {
            Ok(removed) => {
                login.removed = removed;
                let text = format!("+OK Bye, {} messages deleted.", removed.messages);
                self.reply(&text)?;
            }
            Err((removed, e)) => {
                login.removed = removed;
                let why = e.to_string();
                self.log(
                    Level::Error,
                    "cannot remove deleted messages",
                    &[("REASON", &why)],
                );
                self.reply("-ERR [SYS/TEMP] Some deleted messages were not removed.")?;
            }
        }
        Ok(Flow::End("LOGOUT"))
    }

    // ---- logging ----

    /// Log with the connection's address fields added after `fields`' USER.
    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        let ip = self.ip.map(|ip| ip.to_string());
        let port = self.port.map(|p| p.to_string());
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 2);
        if let Some(user) = fields.iter().find(|(k, _)| *k == "USER") {
            all.push(*user);
        }
        if let Some(ip) = &ip {
            all.push(("REMOTE_ADDR", ip));
        }
        if let Some(port) = &port {
            all.push(("REMOTE_PORT", port));
        }
        all.extend(fields.iter().filter(|(k, _)| *k != "USER"));
        crate::log::event(level, message, &all);
    }

    fn log_end(&self, reason: &str) {
        let rcvd = self.conn.bytes_read().to_string();
        let sent = self.conn.bytes_written().to_string();
        match &self.login {
            Some(login) => {
                let top = self.top_bytes.to_string();
                let retr = self.retr_bytes.to_string();
                let time = login.since.elapsed().as_secs().to_string();
                let deleted = login.removed.messages.to_string();
                let deleted_bytes = login.removed.bytes.to_string();
                self.log(
                    Level::Info,
                    reason,
                    &[
                        ("USER", &login.user),
                        ("TOP", &top),
                        ("RETR", &retr),
                        ("RCVD", &rcvd),
                        ("SENT", &sent),
                        ("TIME", &time),
                        ("DELETED", &deleted),
                        ("DELETED_BYTES", &deleted_bytes),
                    ],
                );
            }
            None => self.log(Level::Info, reason, &[("RCVD", &rcvd), ("SENT", &sent)]),
        }
    }
}

/// AUTH's continuation lines (RFC 5034 §4): `+ base64`, one response line back.
impl sasl::Channel for Session<'_> {
    type Error = io::Error;

    fn challenge(&mut self, challenge: &str, max: usize) -> io::Result<Reply> {
        self.reply(&format!("+ {challenge}"))?;
        self.conn.flush()?;
        Ok(match self.conn.read_line(max)? {
            LineRead::Line(line) => Reply::Line(line),
            LineRead::TooLong => Reply::TooLong,
            LineRead::Eof => Reply::Closed,
        })
    }
}
