//! Turns what changed in the selected folder into untagged EXPUNGE, EXISTS, RECENT and
//! FETCH FLAGS responses: the one place that tells a client about other sessions' work.
//! It also keeps the keywords the client was told about (`* FLAGS`), so that a keyword is
//! announced before any `* n FETCH (FLAGS ...)` shows it.

use super::flags::folder_flags;
use super::response::{write_expunges, write_fetch_flags_modseq};
use crate::store::{Mailbox, StoreError};

/// The keywords announced to the client in `* FLAGS` and `* OK [PERMANENTFLAGS ...]`.
///
/// RFC 3501 §7.2.6: FLAGS lists "the flags that are applicable for this mailbox", and a
/// client may treat a flag outside that list as an error (several ignore or drop it), so a
/// keyword that appears in the folder (a STORE of this or another session, APPEND or COPY
/// with keywords, Courier's `courierimapkeywords/`) is announced with an updated FLAGS
/// before the first FETCH that carries it, as Dovecot does. The list only grows during a
/// session: a keyword no message uses any more stays defined, which is harmless.
#[derive(Debug, Default)]
pub struct AnnouncedFlags {
    keywords: Vec<String>,
    /// EXAMINE: PERMANENTFLAGS is `()`.
    read_only: bool,
    /// `[imap] keywords`: PERMANENTFLAGS ends with `\*`.
    keywords_on: bool,
}

impl AnnouncedFlags {
    /// What SELECT or EXAMINE announces, written to `out`.
    pub fn at_select(
        out: &mut Vec<u8>,
        keywords: Vec<String>,
        read_only: bool,
        keywords_on: bool,
    ) -> AnnouncedFlags {
        let announced = AnnouncedFlags {
            keywords,
            read_only,
            keywords_on,
        };
        announced.write(out);
        announced
    }

    /// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` for the keywords announced so far.
    fn write(&self, out: &mut Vec<u8>) {
        let flags = folder_flags(&self.keywords, false);
        out.extend_from_slice(format!("* FLAGS {flags}\r\n").as_bytes());
        let line = if self.read_only {
            "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n".to_string()
        } else {
            let permanent = folder_flags(&self.keywords, self.keywords_on);
            format!("* OK [PERMANENTFLAGS {permanent}] Limited\r\n")
        };
        out.extend_from_slice(line.as_bytes());
    }

    /// The FLAGS and PERMANENTFLAGS responses that announce whichever of `keywords` the
    /// client has not been told of yet (nothing when it knows them all).
    pub fn announcement<'k>(&mut self, keywords: impl IntoIterator<Item = &'k String>) -> Vec<u8> {
        let mut added = false;
        for k in keywords {
            if !self
                .keywords
                .iter()
                .any(|have| have.eq_ignore_ascii_case(k))
            {
                self.keywords.push(k.clone());
                added = true;
            }
        }
        let mut out = Vec::new();
        if added {
            self.write(&mut out);
        }
        out
    }

    /// Announces the keywords of the messages at `indexes` by writing to `out`.
    pub fn announce_messages(&mut self, out: &mut Vec<u8>, mailbox: &Mailbox, indexes: &[usize]) {
        let keywords = indexes
            .iter()
            .filter(|&&i| i < mailbox.len())
            .flat_map(|&i| mailbox.message(i).keywords);
        let text = self.announcement(keywords);
        out.extend_from_slice(&text);
    }
}

/// How the client asked to hear of changes (RFC 7162).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reporting {
    /// CONDSTORE: flag updates carry MODSEQ.
    pub modseq: bool,
    /// QRESYNC: expunges as `* VANISHED`.
    pub vanished: bool,
}

/// Refreshes the selected folder and writes the changes to `out`, announcing new keywords
/// first. `expunges_allowed` is false after a command that may not announce EXPUNGE (the
/// command table says which).
pub fn sync(
    mailbox: &mut Mailbox,
    announced: &mut AnnouncedFlags,
    out: &mut Vec<u8>,
    expunges_allowed: bool,
    reporting: Reporting,
) -> Result<(), StoreError> {
    let changes = mailbox.refresh(expunges_allowed)?;
    write_expunges(
        out,
        &changes.expunged,
        if changes.expunged.is_empty() {
            &[]
        } else {
            mailbox.last_expunged_uids()
        },
        reporting.vanished,
    );
    let arrived = mailbox.len() - changes.new..mailbox.len();
    let touched: Vec<usize> = arrived
        .chain(changes.flags_changed.iter().copied())
        .collect();
    announced.announce_messages(out, mailbox, &touched);
    if changes.new > 0 {
        let recent = mailbox.recent_count();
        out.extend_from_slice(format!("* {} EXISTS\r\n", mailbox.len()).as_bytes());
        // IMAP4rev2 has no RECENT response (RFC 9051 Appendix E).
        if !mailbox.recent_hidden() {
            out.extend_from_slice(format!("* {recent} RECENT\r\n").as_bytes());
        }
    }
    for &index in &changes.flags_changed {
        if index < mailbox.len() {
            let modseq = mailbox.modseq(index).filter(|_| reporting.modseq);
            let entry = mailbox.message(index);
            // With QRESYNC the UID comes along, so the client can file the change
            // without knowing sequence numbers (as Dovecot does).
            let uid = reporting.vanished.then_some(entry.uid);
            write_fetch_flags_modseq(out, index + 1, uid, entry, modseq);
        }
    }
    if reporting.vanished
        && !expunges_allowed
        && let Some(m) = mailbox.pending_expunge_modseq()
    {
        // RFC 7162 §3.2: an expunge that may not be reported yet has a mod-sequence; a
        // client that noted a higher MODSEQ from this command's FETCH lines and lost the
        // connection would resynchronise past it. HIGHESTMODSEQ below it says where to
        // resume.
        out.extend_from_slice(
            format!("* OK [HIGHESTMODSEQ {}] Expunges pending\r\n", m - 1).as_bytes(),
        );
    }
    Ok(())
}
