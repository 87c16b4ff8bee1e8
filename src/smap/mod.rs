//! SMAP1, Courier's experimental "Simple Mail Access Protocol" (Courier's
//! `cone/cone/sgml/smap.sgml`), served on the IMAP port when `[imap] smap` is on: a
//! connection whose first command is tagged `\SMAP1` is handed here by the IMAP session
//! (`imap::session::Session::serve`) and speaks SMAP until it ends.
//!
//! SMAP is not a second server: it runs inside the IMAP [`Session`], so the login
//! (LOGIN, AUTHENTICATE through the shared SASL driver, account options such as
//! `disableimap`, the privilege drop), STARTTLS, timeouts, limits and log lines are the
//! IMAP session's own. Folders, messages, flags, keywords and ACLs come from `store`,
//! message views (headers, MIME parts, decoding) from `message`.
//!
//! # Layers
//!
//! - `words`: the command syntax (words, quoting, message ranges).
//! - this file: the loop (LF lines, the length limit, `\SMAP1` before login), the
//!   pre-login commands and the dispatch after login.
//! - `folders`: LIST, STATUS, CREATE, MKDIR, RMDIR, DELETE, RENAME and the ACL commands.
//! - `open`: OPEN, SOPEN, CLOSE, NOOP, IDLE/RESUME, EXPUNGE and the change reports;
//!   `snapshot`: SOPEN's snapshots in Courier's `courierimapsnapshots/` format.
//! - `messages`: FETCH, STORE, COPY, MOVE, SEARCH.
//! - `add`: ADD and RSET.
//!
//! Replies are written as Courier's imapd writes them (lines end in LF; every text word
//! quoted), so the differential test (`tests/smap_courier.rs`) compares them byte for
//! byte.

#![forbid(unsafe_code)]

mod add;
mod date;
mod folders;
mod messages;
mod open;
mod snapshot;
pub mod words;

use std::io;

use crate::imap::response::Outcome;
use crate::imap::session::{Session, State};
use crate::net::conn::LineRead;
use crate::store::Mailbox;
use crate::store::acl::Rights;

/// Serves the rest of the connection as SMAP; says how the session ended (for the log).
pub fn serve(imap: &mut Session<'_>) -> io::Result<&'static str> {
    imap.protocol = "SMAP1";
    imap.sasl_prompt = "> ";
    let mut smap = Smap {
        s: imap,
        open: None,
        add: None,
    };
    smap.run()
}

/// The SMAP side of a session: the open folder and a pending ADD.
struct Smap<'s, 'c> {
    s: &'s mut Session<'c>,
    open: Option<Open>,
    add: Option<add::Pending>,
}

/// The folder OPEN opened.
struct Open {
    mailbox: Mailbox,
    /// The store's name (`INBOX.a`).
    name: String,
    rights: Rights,
    /// Snapshots, after SOPEN.
    snapshots: Option<snapshot::Snapshots>,
}

/// A command's end: `+OK text` or `-ERR text`.
type Reply = Result<String, String>;

impl Smap<'_, '_> {
    fn run(&mut self) -> io::Result<&'static str> {
        loop {
            if matches!(self.s.state, State::Logout { .. }) {
                self.s.flush()?;
                return Ok("LOGOUT");
            }
            self.s.apply_timeouts();
            let max = self.s.config.limits.smap_max_line_length;
            let line = match self.s.conn.read_line(max)? {
                LineRead::Eof => return Ok("DISCONNECTED"),
                LineRead::TooLong => {
                    self.line("-ERR Command line too long.");
                    self.s.flush()?;
                    continue;
                }
                LineRead::Line(line) => line,
            };
            let reply = match words::parse_line(&line) {
                Ok(words) if words.is_empty() => continue,
                Ok(words) => self.command(words)?,
                Err(_) => Some(Err("Syntax error.".to_owned())),
            };
            crate::heap::command_done();
            match reply {
                Some(Ok(text)) => self.line(&format!("+OK {text}")),
                Some(Err(text)) => self.line(&format!("-ERR {text}")),
                None => {}
            }
            self.s.flush()?;
        }
    }

    /// Appends one reply line.
    fn line(&mut self, text: &str) {
        self.s.out.extend_from_slice(text.as_bytes());
        self.s.out.push(b'\n');
    }

    /// Runs one command; `None` when it wrote its own ending.
    fn command(&mut self, mut words: Vec<String>) -> io::Result<Option<Reply>> {
        if self.s.state.is_not_authenticated() {
            if !words[0].eq_ignore_ascii_case("\\SMAP1") {
                return Ok(Some(Err("Syntax error.".to_owned())));
            }
            words.remove(0);
            return self.pre_login(words);
        }
        let verb = words.remove(0).to_ascii_uppercase();
        // Any command but another ADD abandons an ADD in progress (smap.sgml, "Adding
        // messages to folders").
        if verb != "ADD" {
            self.add = None;
        }
        let reply = match verb.as_str() {
            "NOOP" => self.noop(),
            "LOGOUT" => return Ok(self.logout()),
            "RSET" => Ok("Reset".to_owned()),
            "LIST" => self.list(&words),
            "STATUS" => self.status(&words),
            "CREATE" => self.create(&words, false),
            "MKDIR" => self.create(&words, true),
            "DELETE" => self.delete(&words),
            "RMDIR" => self.rmdir(&words),
            "RENAME" => self.rename(&words),
            "ACL" => self.acl(&words),
            "GETACL" => self.getacl(&words),
            "SETACL" => self.setacl(&words),
            "DELETEACL" => self.deleteacl(&words),
            "OPEN" => self.open(&words, None),
            "SOPEN" if !words.is_empty() => {
                let id = words.remove(0);
                self.open(&words, Some(id))
            }
            "CLOSE" => self.close(),
            "EXPUNGE" => self.expunge(&words),
            "IDLE" => return self.idle(),
            "FETCH" => self.fetch(&words),
            "STORE" => self.store(&words),
            "COPY" => self.copy(&words, false),
            "MOVE" => self.copy(&words, true),
            "SEARCH" => self.search(&words),
            "ADD" => return self.add(&words),
            _ => Err("Syntax error.".to_owned()),
        };
        Ok(Some(reply))
    }

    /// `\SMAP1 CAPABILITY | STARTTLS | LANGUAGE | LOGIN | AUTHENTICATE` (smap.sgml, "SMAP
    /// connection negotiation").
    fn pre_login(&mut self, mut words: Vec<String>) -> io::Result<Option<Reply>> {
        if words.is_empty() {
            return Ok(Some(Err("Syntax error.".to_owned())));
        }
        let verb = words.remove(0).to_ascii_uppercase();
        let reply = match verb.as_str() {
            "CAPABILITY" => {
                let caps = self.s.capabilities();
                self.line(&format!("* CAPABILITY {caps}"));
                Ok("SMAP1 capability list complete.".to_owned())
            }
            "LANGUAGE" => match words.first() {
                // No LANG= is advertised: English is all there is.
                Some(lang)
                    if lang.eq_ignore_ascii_case("en")
                        || lang.to_ascii_lowercase().starts_with("en-") =>
                {
                    Ok("Language set.".to_owned())
                }
                _ => Err("Unsupported language.".to_owned()),
            },
            "STARTTLS" => return self.starttls(),
            "LOGIN" if words.len() == 2 => {
                let outcome = match self.s.cmd_login(None, &words[0], words[1].as_bytes()) {
                    Ok(o) | Err(o) => o,
                };
                return Ok(self.login_reply(outcome));
            }
            "AUTHENTICATE" if !words.is_empty() && words.len() <= 2 => {
                let initial = words.get(1).cloned();
                let outcome = match self.s.cmd_authenticate(None, &words[0], initial) {
                    Ok(o) | Err(o) => o,
                };
                return Ok(self.login_reply(outcome));
            }
            "LOGOUT" => return Ok(self.logout()),
            _ => Err("Syntax error.".to_owned()),
        };
        Ok(Some(reply))
    }

    /// The IMAP login's outcome in SMAP's words (the IMAP response codes dropped).
    fn login_reply(&mut self, outcome: Outcome) -> Option<Reply> {
        match outcome {
            Outcome::Ok(_) => Some(Ok("SMAP1 LOGIN Ok.".to_owned())),
            Outcome::No(text) | Outcome::Bad(text) => Some(Err(without_code(&text).to_owned())),
            Outcome::Done => None,
        }
    }

    fn starttls(&mut self) -> io::Result<Option<Reply>> {
        let outcome = self
            .s
            .start_tls("+OK Ready to accept an encrypted SMAP1 connection\n");
        Ok(match outcome {
            Ok(Outcome::Done) => None,
            Ok(o) | Err(o) => Some(Err(without_code(o.text()).to_owned())),
        })
    }

    fn logout(&mut self) -> Option<Reply> {
        self.open = None;
        self.line("* BYE Courier-SMAP server shutting down");
        self.s.logout();
        Some(Ok("LOGOUT completed".to_owned()))
    }
}

/// A folder level as Courier's imapd stores an SMAP word (`a.b` is `a\\056b`), and back
/// (`None` when the name is not one it could have made): for the fuzz target.
pub fn encode_folder_level(word: &str) -> String {
    folders::encode_level(word)
}

/// See [`encode_folder_level`].
pub fn decode_folder_level(level: &str) -> Option<String> {
    folders::decode_level(level)
}

/// IMAP response text without its leading `[CODE]`.
fn without_code(text: &str) -> &str {
    match text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
        Some((_, rest)) => rest,
        None => text,
    }
}

/// Runs every argument parser of SMAP over one command line, as the session would, and
/// says how many words it had: the entry point of the `smap_command` fuzz target (the
/// parsers are pure; nothing here touches a folder). `None` when the words do not parse.
pub fn parse_command_line(line: &[u8]) -> Option<usize> {
    let words = words::parse_line(line).ok()?;
    for word in &words {
        // Any word may be a date (INTERNALDATE=) or a folder level.
        let _ = date::parse_rfc822(word);
        let _ = folders::decode_level(word);
    }
    let (verb, args) = words.split_first()?;
    match verb.to_ascii_uppercase().as_str() {
        "FETCH" => messages::check_fetch(args),
        "STORE" => messages::check_store(args),
        "SEARCH" => messages::check_search(args),
        "ADD" => add::check_add(args),
        "COPY" | "MOVE" | "RENAME" | "SETACL" | "DELETEACL" => {
            folders::split_at_empty(args)?;
        }
        _ => {}
    }
    Some(words.len())
}
