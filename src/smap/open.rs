//! Using a folder (smap.sgml, "Using Folders"): OPEN, SOPEN, CLOSE, NOOP, EXPUNGE and
//! IDLE/RESUME, and the single-line replies that report other sessions' changes
//! (`* EXPUNGE`, `* FETCH n FLAGS=...`, `* EXISTS`).
//!
//! Message numbers stay as the client knows them until a NOOP, EXPUNGE, IDLE or MOVE
//! reports the changes: the store's refresh keeps vanished messages in place until it is
//! asked to report them (`Mailbox::refresh(false)`), as smap.sgml's concurrency note asks.

use std::io;

use super::words::ranges;
use super::{Open, Reply, Smap};
use crate::net::conn::{LineRead, Wait};
use crate::store::{Changes, Flags, Mailbox};

/// SMAP's flag words, in the order Courier's imapd lists them (that of the Maildir
/// flag letters D F R S T).
const FLAG_WORDS: [(Flags, &str); 5] = [
    (Flags::DRAFT, "DRAFT"),
    (Flags::FLAGGED, "MARKED"),
    (Flags::ANSWERED, "REPLIED"),
    (Flags::SEEN, "SEEN"),
    (Flags::DELETED, "DELETED"),
];

/// `FLAGS=` list: comma-separated flag words.
pub(super) fn flags_list(flags: Flags) -> String {
    FLAG_WORDS
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, w)| *w)
        .collect::<Vec<_>>()
        .join(",")
}

/// The flags a comma-separated list names; words that name no flag are passed over, as
/// Courier's imapd does (smap.sgml: servers ignore attributes they do not know).
pub(super) fn parse_flags(list: &str) -> Flags {
    let mut flags = Flags::empty();
    for word in list.split(',') {
        if let Some((f, _)) = FLAG_WORDS
            .iter()
            .find(|(_, w)| w.eq_ignore_ascii_case(word))
        {
            flags.insert(*f);
        }
    }
    flags
}

impl Smap<'_, '_> {
    /// OPEN path, or SOPEN id path: the folder becomes the open one. Snapshots are not
    /// kept, so SOPEN answers as OPEN does, which smap.sgml allows ("If the server is
    /// unable to find the requested snapshot, it should respond just like to the OPEN
    /// command").
    pub(super) fn open(&mut self, path: &[String], _snapshot: Option<String>) -> Reply {
        // The other folder is closed whether or not this OPEN succeeds.
        self.open = None;
        let (place, rights) = self
            .place_with(path, 'r')
            .map_err(|e| format!("Cannot open the folder: {e}"))?;
        let read_only = !"stwie".chars().any(|r| rights.has(r));
        let mailbox = place
            .maildir
            .open_mailbox(&place.folder, read_only)
            .map_err(|e| format!("Cannot open the folder: {e}"))?;
        self.line(&format!("* EXISTS {}", mailbox.len()));
        self.open = Some(Open {
            mailbox,
            name: place.folder,
            rights,
        });
        Ok("Folder opened".to_owned())
    }

    pub(super) fn close(&mut self) -> Reply {
        self.open = None;
        Ok("Folder closed".to_owned())
    }

    /// The open folder, or the error a command that needs one answers.
    pub(super) fn opened(&mut self) -> Result<&mut Open, String> {
        // Courier's imapd answers so: without a folder the command does not parse.
        self.open.as_mut().ok_or_else(|| "Syntax error.".to_owned())
    }

    /// NOOP: reports what changed.
    pub(super) fn noop(&mut self) -> Reply {
        if self.open.is_some() {
            self.report_changes()?;
        }
        Ok("Folder updated".to_owned())
    }

    /// Refreshes the open folder and writes what changed.
    pub(super) fn report_changes(&mut self) -> Result<(), String> {
        let open = self.opened()?;
        let changes = open
            .mailbox
            .refresh(true)
            .map_err(|e| format!("Cannot update folder status: {e}"))?;
        let lines = change_lines(&open.mailbox, &changes);
        for line in lines {
            self.line(&line);
        }
        Ok(())
    }

    /// EXPUNGE [messages]: removes the messages marked DELETED (of those listed).
    pub(super) fn expunge(&mut self, words: &[String]) -> Reply {
        let open = self.opened()?;
        if !open.rights.has('e') {
            return Err("Access denied: ACL \"e\" is required.".to_owned());
        }
        let only = if words.is_empty() {
            None
        } else {
            let numbers = super::messages::message_numbers(words, open.mailbox.len())
                .ok_or("Syntax error.")?;
            Some(
                numbers
                    .iter()
                    .map(|&n| open.mailbox.message(n).uid)
                    .collect::<Vec<_>>(),
            )
        };
        let expunged = open
            .mailbox
            .expunge(only.as_deref())
            .map_err(|e| format!("Cannot update folder status: {e}"))?;
        let mut gone: Vec<u32> = expunged;
        gone.sort_unstable();
        for words in ranges(&gone).chunks(100) {
            self.line(&format!("* EXPUNGE {}", words.join(" ")));
        }
        self.report_changes()?;
        Ok("Folder updated".to_owned())
    }

    /// IDLE: reports changes as they happen until the client says RESUME.
    pub(super) fn idle(&mut self) -> io::Result<Option<Reply>> {
        self.line("+OK Entering idle mode...");
        if let Some(open) = self.open.as_mut()
            && let Err(err) = open.mailbox.watch()
        {
            log::debug!("IDLE: no inotify ({err}); polling");
        }
        let _ = self.report_changes();
        self.s.flush()?;
        let poll = self.s.config.imap.idle_poll_interval();
        let max = self.s.config.limits.smap_max_line_length;
        loop {
            let woke = {
                let fd = self.open.as_ref().and_then(|o| o.mailbox.watch_fd());
                self.s.conn.wait(fd, poll)?
            };
            match woke {
                Wait::Input => break,
                Wait::Extra | Wait::Timeout => {
                    if let Some(open) = self.open.as_mut() {
                        open.mailbox.look_again();
                    }
                    let _ = self.report_changes();
                    self.s.flush()?;
                }
            }
        }
        let reply = match self.s.conn.read_line(max)? {
            LineRead::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
            LineRead::Line(line)
                if super::words::parse_line(&line)
                    .is_ok_and(|w| w.len() == 1 && w[0].eq_ignore_ascii_case("RESUME")) =>
            {
                let _ = self.report_changes();
                Ok("Resumed...".to_owned())
            }
            _ => Err("RESUME is required to follow IDLE".to_owned()),
        };
        Ok(Some(reply))
    }
}

/// The replies for what a refresh found: removed messages (by the numbers the client
/// knew), changed flags, the new count.
fn change_lines(mailbox: &Mailbox, changes: &Changes) -> Vec<String> {
    let mut lines = Vec::new();
    if !changes.expunged.is_empty() {
        let mut gone = changes.expunged.clone();
        gone.sort_unstable();
        for words in ranges(&gone).chunks(100) {
            lines.push(format!("* EXPUNGE {}", words.join(" ")));
        }
    }
    for &i in &changes.flags_changed {
        let m = mailbox.message(i);
        lines.push(format!(
            "* FETCH {} FLAGS={} {}",
            i + 1,
            flags_list(m.flags),
            super::words::quoted(&format!("KEYWORDS={}", m.keywords.join(",")))
        ));
    }
    if changes.new > 0 {
        lines.push(format!("* EXISTS {}", mailbox.len()));
    }
    lines
}
