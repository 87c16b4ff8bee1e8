//! ADD (smap.sgml, "Adding messages to folders"): one or more ADD commands name the
//! folder and the message's flags, keywords and date; the last one carries `{.n}` (a
//! dot-stuffed upload) or `{n/m}` (binary chunks), and after the server's `>` the client
//! sends the message. It is spooled into the folder's `tmp/` as it arrives (no more than
//! `[limits] max_append_size`) and stored as IMAP APPEND stores it.
//!
//! With `RCPTTO=` the message is also sent, through the Outbox's `sendmail` program or
//! SMTP server (`crate::outbox::send_to`, with the recipients given instead of `-t`):
//! sent first, and stored (when a FOLDER is named) only once it was sent. The envelope
//! sender is the account's, as for the Outbox: `MAILFROM=` is taken and not used, so a
//! client cannot send as someone else. `NOTIFY=` becomes `sendmail -N`.

use std::io::{self, Write};

use super::folders::split_at_empty;
use super::open::parse_flags;
use super::words::quoted;
use super::{Reply, Smap};
use crate::net::conn::LineRead;
use crate::store::{AppendSource, Flags, Spool};

/// What the ADD commands so far have said.
#[derive(Debug, Default)]
pub(super) struct Pending {
    folder: Option<Vec<String>>,
    flags: Flags,
    keywords: Vec<String>,
    date: Option<i64>,
    recipients: Vec<String>,
    notify: Option<String>,
}

/// How the client sends the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upload {
    Dots,
    Chunks { first: u64 },
}

fn parse_upload(word: &str) -> Option<Upload> {
    let inner = word.strip_prefix('{')?.strip_suffix('}')?;
    if let Some(n) = inner.strip_prefix('.') {
        n.parse::<u64>().ok()?;
        return Some(Upload::Dots);
    }
    let (n, m) = inner.split_once('/')?;
    let first = n.parse::<u64>().ok()?;
    m.parse::<u64>().ok()?;
    Some(Upload::Chunks { first })
}

/// Why an upload was not stored.
enum Failed {
    Io(io::Error),
    TooBig,
    BadChunk,
}

impl Smap<'_, '_> {
    pub(super) fn add(&mut self, words: &[String]) -> io::Result<Option<Reply>> {
        let mut pending = self.add.take().unwrap_or_default();
        let mut upload = None;
        let mut said = "So far, so good...";
        let mut i = 0;
        while i < words.len() {
            let word = &words[i];
            let upper = word.to_ascii_uppercase();
            if upper == "FOLDER" {
                let Some((path, _)) = split_at_empty(&words[i + 1..]) else {
                    return Ok(Some(Err("Syntax error.".to_owned())));
                };
                pending.folder = Some(path.to_vec());
                said = "Will add to this folder";
                i += path.len() + 2;
                continue;
            }
            if let Some(value) = upper.strip_prefix("FLAGS=") {
                pending.flags = parse_flags(value);
                said = "FLAGS set";
            } else if upper.starts_with("KEYWORDS=") {
                // Without keywords the word is passed over (Courier's IMAP_KEYWORDS=0).
                if !self.s.config.imap.keywords {
                    i += 1;
                    continue;
                }
                pending.keywords = word["KEYWORDS=".len()..]
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                said = "KEYWORDS set";
            } else if upper.starts_with("INTERNALDATE=") {
                // A date that does not parse takes back an earlier one (as in Courier's
                // imapd, whose parser zeroes the date before it starts).
                pending.date = super::date::parse_rfc822(&word["INTERNALDATE=".len()..]);
                if pending.date.is_some() {
                    said = "INTERNALDATE set";
                }
            } else if upper.starts_with("RCPTTO=") {
                let rcpt = &word["RCPTTO=".len()..];
                if !crate::outbox::valid_recipient(rcpt) {
                    self.add = Some(pending);
                    return Ok(Some(Err("Invalid recipient.".to_owned())));
                }
                pending.recipients.push(rcpt.to_owned());
                said = "RCPT TO set";
            } else if upper.starts_with("MAILFROM=") {
                said = "MAIL FROM set";
            } else if let Some(list) = upper.strip_prefix("NOTIFY=") {
                if !crate::outbox::valid_notify(list) {
                    self.add = Some(pending);
                    return Ok(Some(Err("Invalid NOTIFY.".to_owned())));
                }
                pending.notify = Some(list.to_owned());
                said = "NOTIFY set";
            } else if let Some(u) = parse_upload(word).filter(|_| i + 1 == words.len()) {
                upload = Some(u);
            } else {
                self.add = Some(pending);
                return Ok(Some(Err("Syntax error.".to_owned())));
            }
            i += 1;
        }
        match upload {
            None => {
                self.add = Some(pending);
                Ok(Some(Ok(said.to_owned())))
            }
            Some(upload) => self.upload(pending, upload),
        }
    }

    /// Says `>`, reads the message, sends it (with RCPTTO=) and stores it (with FOLDER).
    fn upload(&mut self, pending: Pending, upload: Upload) -> io::Result<Option<Reply>> {
        let place = match pending.folder.as_deref() {
            Some(path) => match self.place_with(path, 'i') {
                Ok((place, _)) => Some(place),
                Err(e) => return Ok(Some(Err(e))),
            },
            None if pending.recipients.is_empty() => {
                return Ok(Some(Err("ADD needs a FOLDER or RCPTTO.".to_owned())));
            }
            None => None,
        };
        let limit = self.s.config.limits.max_append_size;
        if let Upload::Chunks { first } = upload
            && first > limit
        {
            return Ok(Some(Err("Message too large.".to_owned())));
        }
        // Spooled into the target folder's tmp/ (INBOX's when it is only sent).
        let spool = match self.s.maildir() {
            Ok(own) => match &place {
                Some(p) => p.maildir.spool(Some(&p.folder)),
                None => own.spool(None),
            },
            Err(o) => return Ok(Some(Err(o.text().to_owned()))),
        };
        let mut spool = match spool {
            Ok(s) => s,
            Err(e) => return Ok(Some(Err(format!("Cannot add message: {e}")))),
        };
        self.line("> Go ahead");
        self.s.flush()?;
        let read = match upload {
            Upload::Dots => self.read_dots(&mut spool, limit),
            Upload::Chunks { first } => self.read_chunks(&mut spool, first, limit),
        };
        match read {
            Ok(()) => {}
            Err(Failed::Io(e)) => return Err(e),
            Err(Failed::TooBig) => return Ok(Some(Err("Message too large.".to_owned()))),
            Err(Failed::BadChunk) => return Ok(Some(Err("Syntax error.".to_owned()))),
        }
        let spooled = spool.finish()?;
        if !pending.recipients.is_empty()
            && let Err(why) = self.send(&spooled, &pending)
        {
            return Ok(Some(Err(format!("Message send FAILED: {why}"))));
        }
        let Some(place) = place else {
            return Ok(Some(Ok("Message sent".to_owned())));
        };
        let date = pending
            .date
            .and_then(|d| u64::try_from(d).ok())
            .map(|d| std::time::UNIX_EPOCH + std::time::Duration::from_secs(d));
        match place.maildir.append(
            &place.folder,
            AppendSource::Spooled(spooled),
            pending.flags,
            &pending.keywords,
            date,
        ) {
            Ok(added) => {
                self.line(&format!(
                    "* ADD {}",
                    quoted(&format!("UID={}", added.basename))
                ));
                Ok(Some(Ok("Message saved".to_owned())))
            }
            Err(e) => Ok(Some(Err(format!("Cannot add message: {e}")))),
        }
    }

    /// Hands the spooled message to the Outbox's sender for the ADD's recipients.
    fn send(&mut self, spooled: &crate::store::Spooled, pending: &Pending) -> Result<(), String> {
        let Some((account, _)) = self.s.state.account_and_maildir() else {
            return Err("not logged in".to_owned());
        };
        let mut file = std::fs::File::open(spooled.path()).map_err(|e| e.to_string())?;
        crate::outbox::send_to(
            &self.s.config.imap,
            account,
            &mut file,
            &pending.recipients,
            pending.notify.as_deref(),
        )
        .map_err(|f| {
            log::warn!("SMAP ADD send failed: {}", f.0);
            "see the log".to_owned()
        })
    }

    /// A dot-stuffed upload: lines until a line of one dot.
    fn read_dots(&mut self, spool: &mut Spool, limit: u64) -> Result<(), Failed> {
        let max = self.s.config.limits.max_line_length;
        let mut total = 0u64;
        let mut too_big = false;
        loop {
            let line = match self.s.conn.read_line(max).map_err(Failed::Io)? {
                LineRead::Eof => return Err(Failed::Io(io::ErrorKind::UnexpectedEof.into())),
                LineRead::TooLong => {
                    too_big = true;
                    continue;
                }
                LineRead::Line(line) => line,
            };
            if line.first() == Some(&b'.') && line[1..].iter().all(|b| b.is_ascii_whitespace()) {
                return if too_big { Err(Failed::TooBig) } else { Ok(()) };
            }
            let data = line.strip_prefix(b".").unwrap_or(&line);
            total += data.len() as u64 + 1;
            if total > limit {
                too_big = true;
            }
            // One leading dot goes (smap.sgml, "Multiple line replies"). Courier's imapd
            // 5.0.13 drops both dots of `..x`, losing the message's own dot; postern keeps
            // it, as the format defines.
            if !too_big {
                spool.write_all(data).map_err(Failed::Io)?;
                spool.write_all(b"\n").map_err(Failed::Io)?;
            }
        }
    }

    /// A binary upload: chunks, each after a line with its size, until an empty line.
    fn read_chunks(&mut self, spool: &mut Spool, first: u64, limit: u64) -> Result<(), Failed> {
        let mut total = 0u64;
        let mut next = first;
        loop {
            total += next;
            if total > limit {
                // The declared size is known: take it off the wire, keep nothing.
                self.s.conn.discard(next).map_err(Failed::Io)?;
            } else {
                self.s
                    .conn
                    .read_exact_into(next, spool)
                    .map_err(Failed::Io)?;
            }
            let line = match self.s.conn.read_line(64).map_err(Failed::Io)? {
                LineRead::Eof => return Err(Failed::Io(io::ErrorKind::UnexpectedEof.into())),
                LineRead::TooLong => return Err(Failed::BadChunk),
                LineRead::Line(line) => line,
            };
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                return if total > limit {
                    Err(Failed::TooBig)
                } else {
                    Ok(())
                };
            }
            next = text.parse().map_err(|_| Failed::BadChunk)?;
        }
    }
}

/// ADD's upload words parse (for the fuzz target).
pub(super) fn check_add(words: &[String]) {
    for w in words {
        let _ = parse_upload(w);
    }
}
