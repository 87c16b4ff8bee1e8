//! Using a folder (smap.sgml, "Using Folders"): OPEN, SOPEN, CLOSE, NOOP, EXPUNGE and
//! IDLE/RESUME, and the single-line replies that report other sessions' changes
//! (`* EXPUNGE`, `* FETCH n FLAGS=...`, `* EXISTS`).
//!
//! Message numbers stay as the client knows them until a NOOP, EXPUNGE, IDLE or MOVE
//! reports the changes: the store's refresh keeps vanished messages in place until it is
//! asked to report them (`Mailbox::refresh(false)`), as smap.sgml's concurrency note asks.

use std::io;
use std::time::{Duration, Instant};

use super::snapshot::{Saved, Snapshots};
use super::words::{quoted, ranges};
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
    /// OPEN path, or SOPEN id path: the folder becomes the open one. SOPEN turns on
    /// snapshots ([`super::snapshot`]); with the id of a snapshot of this folder the
    /// client is told what changed since it (`* SNAPSHOTEXISTS`, then the changes), else
    /// it is answered as OPEN.
    pub(super) fn open(&mut self, path: &[String], snapshot: Option<String>) -> Reply {
        // The other folder is closed whether or not this OPEN succeeds.
        self.open = None;
        let (place, rights) = self.place_with(path, 'r')?;
        let read_only = !"stwie".chars().any(|r| rights.has(r));
        let mailbox = place
            .maildir
            .open_mailbox(&place.folder, read_only)
            .map_err(|e| format!("Cannot open the folder: {e}"))?;
        let mut snapshots = snapshot
            .as_ref()
            .map(|_| Snapshots::open(mailbox.folder_dir()));
        let restored = match (&mut snapshots, snapshot.as_deref()) {
            (Some(s), Some(id)) => s.restore(id, &mailbox).map(|saved| (id.to_owned(), saved)),
            _ => None,
        };
        let reply = match restored {
            Some((id, saved)) => {
                self.line(&format!("* SNAPSHOTEXISTS {}", quoted(&id)));
                for line in delta_lines(&saved, &mailbox, self.s.config.imap.keywords) {
                    self.line(&line);
                }
                "Folder updated"
            }
            None => {
                self.line(&format!("* EXISTS {}", mailbox.len()));
                "Folder opened"
            }
        };
        self.open = Some(Open {
            mailbox,
            name: place.folder,
            rights,
            snapshots,
        });
        Ok(reply.to_owned())
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

    /// NOOP: reports what changed; with snapshots on and nothing to report, saves a
    /// snapshot if the folder changed since the last one (`* SNAPSHOT id`).
    pub(super) fn noop(&mut self) -> Reply {
        if self.open.is_some() && !self.report_changes()? {
            let open = self.opened()?;
            if let Some(snapshots) = open.snapshots.as_mut().filter(|s| s.dirty) {
                match snapshots.save(&open.mailbox) {
                    Ok(id) => self.line(&format!("* SNAPSHOT {}", quoted(&id))),
                    Err(e) => log::warn!("SMAP snapshot not saved: {e}"),
                }
            }
        }
        Ok("Folder updated".to_owned())
    }

    /// Refreshes the open folder and writes what changed; whether anything did.
    pub(super) fn report_changes(&mut self) -> Result<bool, String> {
        let keywords = self.s.config.imap.keywords;
        let open = self.opened()?;
        let changes = open
            .mailbox
            .refresh(true)
            .map_err(|e| format!("Cannot update folder status: {e}"))?;
        let lines = change_lines(&open.mailbox, &changes, keywords);
        if lines.is_empty() {
            return Ok(false);
        }
        open.touched();
        for line in lines {
            self.line(&line);
        }
        Ok(true)
    }

    /// EXPUNGE [messages]: removes the messages marked DELETED (of those listed).
    pub(super) fn expunge(&mut self, words: &[String]) -> Reply {
        let open = self.opened()?;
        if !open.rights.has('e') {
            return Err("Access denied: ACL \"e\" is required".to_owned());
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
        if !expunged.is_empty() {
            open.touched();
        }
        for line in expunge_lines(&expunged) {
            self.line(&line);
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
        let poll = self
            .s
            .config
            .imap
            .idle_poll_interval()
            .max(Duration::from_secs(1));
        let max = self.s.config.limits.smap_max_line_length;
        // IDLE is silence too: `[limits] idle_timeout` ends it as it ends IMAP's IDLE
        // (the session then says BYE, as after any read timeout).
        let limit = Duration::from_secs(self.s.config.limits.idle_timeout);
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "IDLE too long"));
            }
            let woke = {
                let fd = self.open.as_ref().and_then(|o| o.mailbox.watch_fd());
                self.s.conn.wait(fd, poll.min(left))?
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

/// The replies for what a refresh found, in Courier's order: removed messages (by the
/// numbers the client knew), the new count, changed flags.
fn change_lines(mailbox: &Mailbox, changes: &Changes, keywords: bool) -> Vec<String> {
    let mut lines = expunge_lines(&changes.expunged);
    if changes.new > 0 {
        lines.push(format!("* EXISTS {}", mailbox.len()));
    }
    for &i in &changes.flags_changed {
        let m = mailbox.message(i);
        lines.push(flags_line(i, m.flags, m.keywords, keywords));
    }
    lines
}

/// `* EXPUNGE` lines for removed message numbers (any order), as ascending ranges.
fn expunge_lines(numbers: &[u32]) -> Vec<String> {
    let mut gone = numbers.to_vec();
    gone.sort_unstable();
    ranges(&gone)
        .chunks(100)
        .map(|words| format!("* EXPUNGE {}", words.join(" ")))
        .collect()
}

/// `* FETCH n FLAGS=... "KEYWORDS=..."` for the message at `index`.
fn flags_line(index: usize, flags: Flags, kws: &[String], keywords: bool) -> String {
    let mut line = format!("* FETCH {} FLAGS={}", index + 1, flags_list(flags));
    if keywords {
        line.push(' ');
        line.push_str(&quoted(&format!("KEYWORDS={}", kws.join(","))));
    }
    line
}

/// What changed between a snapshot and the folder now, as NOOP would report it to a
/// client that knows the snapshot: its removed messages, the new count if messages came,
/// the messages whose flags or keywords differ.
fn delta_lines(saved: &[Saved], mailbox: &Mailbox, keywords: bool) -> Vec<String> {
    let now: std::collections::HashMap<u32, usize> = mailbox
        .messages()
        .enumerate()
        .map(|(i, m)| (m.uid, i))
        .collect();
    let gone: Vec<u32> = saved
        .iter()
        .enumerate()
        .filter(|(_, s)| !now.contains_key(&s.uid))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let mut lines = expunge_lines(&gone);
    let known: std::collections::HashSet<u32> = saved.iter().map(|s| s.uid).collect();
    if mailbox.messages().any(|m| !known.contains(&m.uid)) {
        lines.push(format!("* EXISTS {}", mailbox.len()));
    }
    for s in saved {
        let Some(&i) = now.get(&s.uid) else {
            continue;
        };
        let m = mailbox.message(i);
        let mut kws: Vec<&String> = m.keywords.iter().collect();
        let mut was: Vec<&String> = s.keywords.iter().collect();
        kws.sort();
        was.sort();
        if m.flags != s.flags || (keywords && kws != was) {
            lines.push(flags_line(i, m.flags, m.keywords, keywords));
        }
    }
    lines
}

impl Open {
    /// The folder changed: the next quiet NOOP saves a snapshot.
    pub(super) fn touched(&mut self) {
        if let Some(s) = self.snapshots.as_mut() {
            s.dirty = true;
        }
    }
}
