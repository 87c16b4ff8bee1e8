//! One IMAP session: the state machine (RFC 3501 §3), the command loop and the response
//! buffer. Commands live in `cmd/*.rs` as further `impl Session` blocks; the engines they
//! call (fetch, search, sync) live in their own modules.

use std::io;
use std::time::Instant;

use super::command::Command;
use super::framing::{self, FramingLimits};
use super::names;
use super::raw::{CommandError, ErrorKind as CommandErrorKind};
use super::sync;
use super::table::{self, Announce};
use crate::auth::Account;
use crate::config::Config;
use crate::log as plog;

/// A structured log field owned by the session (name, value).
pub type Field = (&'static str, String);

/// Logs an event with owned fields.
pub fn log_event(level: log::Level, message: &str, fields: &[Field]) {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    plog::event(level, message, &borrowed);
}
use crate::net::conn::Connection;
use crate::store::{Mailbox, Maildir};

/// What a command in the selected state works on at once: the folder, the Maildir it is
/// in, and the output (with the connection, for commands that stream).
pub struct SelectedParts<'s> {
    pub maildir: &'s Maildir,
    pub selected: &'s mut Selected,
    pub out: &'s mut Vec<u8>,
    pub conn: &'s mut Connection,
}

/// Where the session is in RFC 3501's state diagram, with what that state has: a
/// command can only reach the Maildir after login and the folder once one is selected.
pub enum State {
    NotAuthenticated,
    Authenticated {
        account: Account,
        maildir: Maildir,
    },
    Selected {
        account: Account,
        maildir: Maildir,
        /// Boxed: a folder's index is large next to the other states.
        selected: Box<Selected>,
    },
    /// The account is kept for the logout log line.
    Logout {
        account: Option<Account>,
    },
}

impl State {
    pub fn is_not_authenticated(&self) -> bool {
        matches!(self, State::NotAuthenticated)
    }

    fn account(&self) -> Option<&Account> {
        match self {
            State::Authenticated { account, .. } | State::Selected { account, .. } => Some(account),
            State::Logout { account } => account.as_ref(),
            State::NotAuthenticated => None,
        }
    }

    /// The account and its own Maildir, in every state after login.
    pub fn account_and_maildir(&self) -> Option<(&Account, &Maildir)> {
        match self {
            State::Authenticated { account, maildir }
            | State::Selected {
                account, maildir, ..
            } => Some((account, maildir)),
            _ => None,
        }
    }

    fn maildir(&self) -> Option<&Maildir> {
        match self {
            State::Authenticated { maildir, .. } | State::Selected { maildir, .. } => Some(maildir),
            _ => None,
        }
    }
}

pub use super::response::Outcome;

/// The selected folder and what the client has been told about it.
pub struct Selected {
    pub mailbox: Mailbox,
    /// Name as the client knows it (`INBOX.Sent`, `#shared.joe.Sent`).
    pub name: String,
    /// What the login may do in it (its ACL, read at SELECT; RFC 4314 §4 lets rights
    /// changed later take effect at the next SELECT).
    pub rights: crate::store::acl::Rights,
    /// The keywords the client was told about in `* FLAGS`.
    pub announced: sync::AnnouncedFlags,
    /// The last SEARCH RETURN (SAVE) result as UIDs, ascending: what `$` names (RFC 5182
    /// §2.1). Empty at SELECT/EXAMINE and gone with the folder at CLOSE/UNSELECT.
    pub search_result: Vec<u32>,
}

pub struct Session<'c> {
    pub config: &'c Config,
    pub conn: Connection,
    pub out: Vec<u8>,
    pub state: State,
    /// ENABLE UTF8=ACCEPT or IMAP4rev2 was given: names travel as UTF-8.
    pub utf8: bool,
    /// ENABLE IMAP4rev2 was given (RFC 9051): rev2's answers from then on.
    pub rev2: bool,
    /// ENABLE UTF8=ACCEPT itself was given (`utf8` may come from IMAP4rev2 alone).
    pub utf8_accept: bool,
    /// CONDSTORE is on (RFC 7162 §3.1: ENABLE, or the first command that uses
    /// mod-sequences): FETCH responses with FLAGS carry MODSEQ from now on.
    pub condstore: bool,
    /// ENABLE QRESYNC was given (RFC 7162 §3.2.3): VANISHED instead of EXPUNGE, and
    /// `[CLOSED]` when SELECT leaves a folder.
    pub qresync: bool,
    pub failed_logins: u32,
    pub started: Instant,
    /// Counters for the logout log line.
    pub fetched_bodies: u64,
    pub fetched_headers: u64,
    /// STARTTLS is on offer (until TLS is up).
    pub starttls: bool,
    /// How this process starts TLS and logs clients in; `None` in a session resumed
    /// after login (see [`super::cmd::prelogin`]).
    pub pre_login: Option<&'static super::cmd::prelogin::PreLogin>,
    /// The protocol the connection speaks, for the log (`IMAP`, or `SMAP1` after a
    /// `\SMAP1` first command: the session then serves SMAP through `crate::smap`).
    pub protocol: &'static str,
    /// What starts a SASL challenge line: IMAP's `+ ` (RFC 3501 §7.5), SMAP's `> `.
    pub sasl_prompt: &'static str,
}

/// Where a session's command loop starts.
#[derive(Debug, Clone, Copy)]
enum Opening {
    /// A new connection: a first command `\SMAP1` makes it an SMAP session.
    Fresh,
    /// Within an IMAP session (after a handoff).
    Imap,
    /// Within an SMAP session (after a handoff).
    Smap,
}

/// Responses are flushed when the buffer grows past this, so a FETCH of many messages
/// streams instead of piling up in memory.
const FLUSH_AT: usize = 64 * 1024;

impl<'c> Session<'c> {
    pub fn new(config: &'c Config, conn: Connection) -> Session<'c> {
        crate::store::fts::configure(config.fts.store_settings());
        Session {
            config,
            conn,
            out: Vec::with_capacity(8192),
            state: State::NotAuthenticated,
            utf8: false,
            rev2: false,
            utf8_accept: false,
            condstore: false,
            qresync: false,
            failed_logins: 0,
            started: Instant::now(),
            fetched_bodies: 0,
            fetched_headers: 0,
            starttls: crate::net::tls::starttls_configured(&config.tls),
            pre_login: None,
            protocol: "IMAP",
            sasl_prompt: "+ ",
        }
    }

    /// Serves until LOGOUT, EOF, a timeout or a fatal error.
    pub fn run(mut self) -> anyhow::Result<()> {
        log_event(log::Level::Debug, "Connection", &self.log_fields_base());
        self.conn
            .set_write_timeout(Some(self.config.limits.write_timeout()));
        self.apply_timeouts();
        let greeting = format!(
            "* OK [CAPABILITY {}] {}\r\n",
            self.capabilities(),
            self.config.imap.greeting
        );
        self.out.extend_from_slice(greeting.as_bytes());
        self.serve_to_end(Opening::Fresh)
    }

    /// Goes on after the TLS handshake `postern-login`'s client asked for (see
    /// [`crate::net::tls_handoff`]), in SMAP when the connection spoke SMAP.
    pub fn resume_after_starttls(mut self, smap: bool) -> anyhow::Result<()> {
        self.conn
            .set_write_timeout(Some(self.config.limits.write_timeout()));
        self.apply_timeouts();
        self.handshake_after_handoff();
        self.serve_to_end(if smap { Opening::Smap } else { Opening::Imap })
    }

    /// Goes on with a session the login process handed over (see
    /// [`crate::net::handoff`]): opens the Maildir, answers the login command, serves.
    pub fn resume(mut self, account: Account, tag: &str, verb: &str) -> anyhow::Result<()> {
        self.conn
            .set_write_timeout(Some(self.config.limits.write_timeout()));
        let outcome = self.open_mail(account, verb);
        self.tagged(tag, outcome);
        self.serve_to_end(Opening::Imap)
    }

    /// The login's last step, in whichever process serves the mail: open the Maildir,
    /// enter the authenticated state, and the login's answer.
    pub(crate) fn open_mail(&mut self, account: Account, verb: &str) -> Outcome {
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

    /// Sends what is queued, serves until the end, and logs how it ended.
    fn serve_to_end(mut self, opening: Opening) -> anyhow::Result<()> {
        let end = match self.flush().and_then(|()| self.serve(opening)) {
            Ok(end) => end,
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                // After a write timeout this goes nowhere at once; after a read timeout
                // or the login deadline it goes out if the client takes it.
                let bye = if self.state.is_not_authenticated() {
                    "* BYE Autologout; no login in time\r\n"
                } else {
                    "* BYE Autologout; idle for too long\r\n"
                };
                self.out.extend_from_slice(bye.as_bytes());
                let _ = self.flush();
                "TIMEOUT"
            }
            Err(err) if is_disconnect(&err) => "DISCONNECTED",
            Err(err) => return Err(err.into()),
        };
        self.log_logout(end);
        Ok(())
    }

    /// The command loop; says how the session ended.
    fn serve(&mut self, opening: Opening) -> io::Result<&'static str> {
        let smap = match opening {
            Opening::Fresh => {
                self.config.imap.smap
                    && self.state.is_not_authenticated()
                    && self.first_command_is_smap()?
            }
            Opening::Imap => false,
            Opening::Smap => true,
        };
        if smap {
            return crate::smap::serve(self);
        }
        loop {
            if matches!(self.state, State::Logout { .. }) {
                return Ok("LOGOUT");
            }
            let Some(command) = self.next_command()? else {
                return Ok("DISCONNECTED");
            };
            let tag = command.tag.clone();
            let outcome = self.dispatch(command);
            // Before the tagged answer: a client that sees it sees the session small.
            crate::heap::command_done();
            self.finish(&tag, outcome)?;
        }
    }

    /// Whether the first command's first word is `\SMAP1` (then the connection speaks
    /// SMAP; a backslash cannot start an IMAP tag, RFC 3501 §9 `tag`).
    fn first_command_is_smap(&mut self) -> io::Result<bool> {
        self.apply_timeouts();
        let head = match self.conn.peek(7) {
            Ok(head) => head,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(err) => return Err(err),
        };
        Ok(head.len() >= 7
            && head[..6].eq_ignore_ascii_case(b"\\SMAP1")
            && matches!(head[6], b' ' | b'\t' | b'\r' | b'\n'))
    }

    /// The clocks for the current state: before login, the silence allowed and a
    /// deadline for the whole phase (counted from the connection, so a client dripping
    /// bytes cannot stretch it); after login, only the silence allowed.
    pub fn apply_timeouts(&mut self) {
        let limits = &self.config.limits;
        if self.state.is_not_authenticated() {
            self.conn.set_read_timeout(Some(limits.preauth_timeout()));
            let deadline = self.conn.opened_at() + limits.preauth_timeout();
            self.conn.set_deadline(Some(deadline));
        } else {
            self.conn.set_read_timeout(Some(limits.idle_timeout()));
            self.conn.set_deadline(None);
        }
    }

    /// The framing limits for the current state: no APPEND before login.
    fn framing_limits(&self) -> FramingLimits {
        let limits = &self.config.limits;
        FramingLimits {
            max_line: limits.max_line_length,
            max_literal: limits.max_literal_size,
            max_append: limits.max_append_size,
            max_append_total: limits.max_multiappend_size,
            max_command: limits.max_command_size,
            max_literals: usize::try_from(limits.max_command_literals).unwrap_or(usize::MAX),
            append: !self.state.is_not_authenticated(),
        }
    }

    /// Reads the next command, answering framing and syntax errors itself.
    /// `None` at end of input.
    fn next_command(&mut self) -> io::Result<Option<Command>> {
        loop {
            self.apply_timeouts();
            let limits = self.framing_limits();
            // After login an APPEND's message goes straight into the store's spool, in
            // the named folder's tmp/ when the name is one.
            let maildir = self.state.maildir().cloned();
            let utf8 = self.utf8;
            let open_spool = maildir.as_ref().map(|m| {
                move |wire: Option<&[u8]>| {
                    let name = wire
                        .and_then(|w| std::str::from_utf8(w).ok())
                        .and_then(|w| names::from_wire(w, utf8));
                    m.spool(name.as_deref())
                }
            });
            let spool = open_spool.as_ref().map(|f| f as framing::SpoolOpener<'_>);
            match framing::read_command(&mut self.conn, &limits, spool) {
                Ok(command) => return Ok(Some(command)),
                Err(CommandError { tag, kind }) => {
                    let tag = tag.unwrap_or_else(|| "*".to_string());
                    match kind {
                        CommandErrorKind::Eof => return Ok(None),
                        CommandErrorKind::Io(err) => return Err(err),
                        CommandErrorKind::BadSyntax(msg) => {
                            self.out
                                .extend_from_slice(format!("{tag} BAD {msg}\r\n").as_bytes());
                        }
                        CommandErrorKind::TooBig(msg) => {
                            let code = if tag == "*" { "" } else { "[TOOBIG] " };
                            let word = if tag == "*" { "BAD" } else { "NO" };
                            self.out.extend_from_slice(
                                format!("{tag} {word} {code}{msg}\r\n").as_bytes(),
                            );
                        }
                    }
                    self.flush()?;
                }
            }
        }
    }

    /// Runs one command in the current state: its row in the command table says whether
    /// it may run now and what to report of other sessions' changes after it.
    fn dispatch(&mut self, command: Command) -> Outcome {
        let name = command.body.name();
        let Some(spec) = table::lookup(name) else {
            return Outcome::bad(format!("{name} is not supported"));
        };
        if !spec.allowed_in(&self.state) {
            return match self.state {
                State::NotAuthenticated => {
                    Outcome::bad(format!("{name} needs you to log in first"))
                }
                State::Authenticated { .. } => {
                    Outcome::bad(format!("{name} needs a selected mailbox"))
                }
                _ => Outcome::bad(format!("{name} is not valid now")),
            };
        }
        // `$` becomes the saved result's messages, and a UID FETCH PARTIAL the page's
        // UIDs, before the command sees its sets.
        let body = self.resolve_sets(command.body);
        let outcome = match self.run_command(&command.tag, body) {
            Ok(outcome) | Err(outcome) => outcome,
        };
        let expunges_allowed = match spec.announce {
            Announce::Nothing => return outcome,
            Announce::NoExpunge => false,
            Announce::All => true,
        };
        if let Err(err) = self.sync(expunges_allowed) {
            log::warn!("refreshing the mailbox failed: {err}");
        }
        outcome
    }

    /// Writes the tagged response and flushes.
    fn finish(&mut self, tag: &str, outcome: Outcome) -> io::Result<()> {
        self.tagged(tag, outcome);
        self.flush()
    }

    /// Queues the tagged answer.
    fn tagged(&mut self, tag: &str, outcome: Outcome) {
        let line = match outcome {
            Outcome::Ok(text) => format!("{tag} OK {text}\r\n"),
            Outcome::No(text) => format!("{tag} NO {text}\r\n"),
            Outcome::Bad(text) => format!("{tag} BAD {text}\r\n"),
            Outcome::Done => String::new(),
        };
        self.out.extend_from_slice(line.as_bytes());
    }

    /// Appends `* text\r\n`.
    pub fn untagged(&mut self, text: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.conn.write_all(&self.out)?;
            self.out.clear();
        }
        self.conn.flush()
    }

    /// Leaves the selected state, if in it.
    pub fn deselect(&mut self) {
        if let State::Selected { .. } = self.state
            && let State::Selected {
                account, maildir, ..
            } = self.take_state()
        {
            self.state = State::Authenticated { account, maildir };
        }
    }

    /// Enters the selected state (from the authenticated or the selected state).
    pub fn select(&mut self, selected: Selected) {
        self.state = match self.take_state() {
            State::Authenticated { account, maildir }
            | State::Selected {
                account, maildir, ..
            } => State::Selected {
                account,
                maildir,
                selected: Box::new(selected),
            },
            other => other,
        };
    }

    /// Enters the authenticated state after a successful login.
    pub fn authenticated(&mut self, account: Account, maildir: Maildir) {
        self.state = State::Authenticated { account, maildir };
        self.purge_old_messages("login");
    }

    /// Ends the session after this command.
    pub fn logout(&mut self) {
        let account = match self.take_state() {
            State::Authenticated { account, .. } => Some(account),
            State::Selected {
                account,
                mut selected,
                ..
            } => {
                // Closed before the tagged OK, as Dovecot closes it: closing may settle
                // and write the folder's index, and a client that hears LOGOUT completed
                // (a script that then moves or deletes the folder) must find the server
                // done with it. Openers meanwhile wait for that index (see `retire`).
                selected.mailbox.retire();
                drop(selected);
                Some(account)
            }
            State::Logout { account } => account,
            State::NotAuthenticated => None,
        };
        self.state = State::Logout { account };
    }

    /// The state, leaving `Logout` in its place until the caller puts the next one.
    fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Logout { account: None })
    }

    /// Refreshes the selected folder, if any, and reports what others changed.
    pub fn sync(&mut self, expunges_allowed: bool) -> Result<(), crate::store::StoreError> {
        match &mut self.state {
            State::Selected { selected, .. } => {
                let Selected {
                    mailbox, announced, ..
                } = &mut **selected;
                let reporting = sync::Reporting {
                    modseq: self.condstore,
                    vanished: self.qresync,
                };
                sync::sync(
                    mailbox,
                    announced,
                    &mut self.out,
                    expunges_allowed,
                    reporting,
                )
            }
            _ => Ok(()),
        }
    }

    /// The Maildir of the logged-in user (present in every state after login).
    pub fn maildir(&self) -> Result<&Maildir, Outcome> {
        self.state.maildir().ok_or_else(not_logged_in)
    }

    /// The selected folder.
    pub fn selected(&self) -> Result<&Selected, Outcome> {
        match &self.state {
            State::Selected { selected, .. } => Ok(&**selected),
            _ => Err(not_selected()),
        }
    }

    pub fn selected_mut(&mut self) -> Result<&mut Selected, Outcome> {
        match &mut self.state {
            State::Selected { selected, .. } => Ok(&mut **selected),
            _ => Err(not_selected()),
        }
    }

    /// The selected folder with the rest a command on it writes to.
    pub fn selected_parts(&mut self) -> Result<SelectedParts<'_>, Outcome> {
        match &mut self.state {
            State::Selected {
                maildir, selected, ..
            } => Ok(SelectedParts {
                maildir,
                selected,
                out: &mut self.out,
                conn: &mut self.conn,
            }),
            _ => Err(not_selected()),
        }
    }

    pub fn user(&self) -> &str {
        self.state.account().map(|a| a.user.as_str()).unwrap_or("")
    }

    /// Fields every log line of this session carries.
    pub fn log_fields_base(&self) -> Vec<Field> {
        let mut fields = Vec::new();
        if let Some(peer) = self.conn.peer_addr() {
            fields.push(("REMOTE_ADDR", peer.ip().to_string()));
            fields.push(("REMOTE_PORT", peer.port().to_string()));
        }
        fields.push(("PROTOCOL", self.protocol.to_string()));
        if let Some(tls) = self.conn.tls_description() {
            fields.push(("TLS", tls.to_string()));
        }
        if let Some(account) = self.state.account() {
            fields.push(("USER", account.user.clone()));
        }
        fields
    }

    fn log_logout(&self, how: &str) {
        let mut fields = self.log_fields_base();
        fields.push(("HEADERS", self.fetched_headers.to_string()));
        fields.push(("BODY", self.fetched_bodies.to_string()));
        fields.push(("RCVD", self.conn.bytes_read().to_string()));
        fields.push(("SENT", self.conn.bytes_written().to_string()));
        fields.push(("TIME", self.started.elapsed().as_secs().to_string()));
        log_event(log::Level::Info, how, &fields);
    }
}

/// Sends the buffer early when it is large, so a FETCH of many messages streams.
pub fn flush_if_large(conn: &mut Connection, out: &mut Vec<u8>) -> io::Result<()> {
    if out.len() >= FLUSH_AT {
        // Straight from `out`: a big body is not copied into the connection's queue too.
        conn.write_through(out)?;
        out.clear();
    }
    Ok(())
}

/// The answer when a command of the authenticated state arrives without a login; the
/// command table keeps such commands out, so this is the safe default, not a path.
fn not_logged_in() -> Outcome {
    Outcome::bad("Log in first")
}

/// As [`not_logged_in`], for commands of the selected state.
fn not_selected() -> Outcome {
    Outcome::bad("No mailbox selected")
}

fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}
