//! CONDSTORE and QRESYNC (RFC 7162): turning them on, FETCH CHANGEDSINCE (with
//! VANISHED), STORE UNCHANGEDSINCE, SELECT's HIGHESTMODSEQ and QRESYNC resynchronisation,
//! and STATUS HIGHESTMODSEQ. The mod-sequences themselves are the store's
//! (`store/modseq.rs`): a session that never uses them never syncs them.

use crate::imap::command::{FetchItem, Flag, QResyncParam, SeqNum, SequenceSet, StoreMode};
use crate::imap::response::{CommandResult, Outcome, write_fetch_flags_modseq};
use crate::imap::session::{Session, State};
use crate::imap::sets::{resolve_set, uid_list};
use crate::store::Mailbox;

impl Session<'_> {
    /// The first CONDSTORE enabling command (RFC 7162 §3.1: ENABLE CONDSTORE or QRESYNC,
    /// SELECT/EXAMINE (CONDSTORE), STATUS HIGHESTMODSEQ, FETCH MODSEQ or CHANGEDSINCE,
    /// SEARCH MODSEQ, STORE UNCHANGEDSINCE) turns CONDSTORE on for the session. With a
    /// folder selected it starts keeping that folder's mod-sequences and says
    /// HIGHESTMODSEQ (or NOMODSEQ when they cannot be kept), which the client has not
    /// heard at its SELECT.
    pub fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        let memory = self.config.imap.vanished_memory as usize;
        if let State::Selected { selected, .. } = &mut self.state {
            let line = match selected.mailbox.track_modseqs(memory) {
                Ok(highest) => format!("OK [HIGHESTMODSEQ {highest}] Highest"),
                Err(err) => {
                    log::warn!("cannot keep mod-sequences: {err}");
                    "OK [NOMODSEQ] No mod-sequences in this mailbox".to_string()
                }
            };
            self.untagged(&line);
        }
    }

    /// At SELECT/EXAMINE with CONDSTORE on: starts the folder's mod-sequences and writes
    /// `* OK [HIGHESTMODSEQ n]`, or `[NOMODSEQ]` when they cannot be kept (RFC 7162
    /// §3.1.2.1-2).
    pub(super) fn announce_highest_modseq(&mut self, mailbox: &mut Mailbox) {
        let memory = self.config.imap.vanished_memory as usize;
        let line = match mailbox.track_modseqs(memory) {
            Ok(highest) => format!("OK [HIGHESTMODSEQ {highest}] Highest"),
            Err(err) => {
                log::warn!("{}: cannot keep mod-sequences: {err}", mailbox.name());
                "OK [NOMODSEQ] No mod-sequences in this mailbox".to_string()
            }
        };
        self.untagged(&line);
    }

    /// After a SELECT/EXAMINE with QRESYNC whose UIDVALIDITY is the folder's (RFC 7162
    /// §3.2.5): `* VANISHED (EARLIER)` for the known UIDs expunged since the client's
    /// mod-sequence, then a FETCH (UID FLAGS MODSEQ) of every known message changed since.
    pub(super) fn qresync_select(&mut self, p: &QResyncParam) -> Result<(), Outcome> {
        let parts = self.selected_parts()?;
        let mailbox = &mut parts.selected.mailbox;
        if p.uid_validity != mailbox.uid_validity() || !mailbox.tracks_modseqs() {
            return Ok(());
        }
        let known = p
            .known_uids
            .clone()
            .unwrap_or_else(|| SequenceSet::range(SeqNum::Value(1), SeqNum::Star));
        write_vanished_earlier(parts.out, mailbox, &known, p.modseq);
        for index in resolve_set(mailbox, &known, true) {
            if mailbox.modseq(index).is_some_and(|m| m > p.modseq) {
                let entry = mailbox.message(index);
                let modseq = mailbox.modseq(index);
                parts
                    .selected
                    .announced
                    .announce_messages(parts.out, mailbox, &[index]);
                write_fetch_flags_modseq(parts.out, index + 1, Some(entry.uid), entry, modseq);
            }
        }
        Ok(())
    }

    /// FETCH with CHANGEDSINCE, and for UID FETCH with VANISHED first the UIDs of the set
    /// expunged since (RFC 7162 §3.2.6; VANISHED needs QRESYNC enabled).
    pub fn cmd_fetch_changed_since(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: u64,
        vanished: bool,
    ) -> CommandResult {
        if vanished {
            if !self.qresync {
                return Err(Outcome::bad("VANISHED needs ENABLE QRESYNC first"));
            }
            // A look first, so expunges made since the last one (by a session or a tool
            // that keeps no mod-sequences) have theirs and are in the answer; they are
            // reported as VANISHED after the command too.
            self.sync(false)?;
            let parts = self.selected_parts()?;
            let mailbox = &mut parts.selected.mailbox;
            mailbox.ensure_modseqs()?;
            write_vanished_earlier(parts.out, mailbox, set, changed_since);
        }
        self.fetch_changed(uid, set, items, Some(changed_since))
    }

    /// STORE with UNCHANGEDSINCE (RFC 7162 §3.1.3). The folder is refreshed first (flag
    /// updates are reported, expunges wait), so the test compares with the state on disk
    /// now, not with the session's last look. A Maildir offers no compare-and-swap on a
    /// message's whole state, and Courier takes no lock for flag changes, so what another
    /// process changes between that look and the rename can still slip through; postern's
    /// own renames fail and retry on the new name in that window (see
    /// `Mailbox::change_flags`), which narrows it to the time of one rename.
    pub fn cmd_store_unchanged_since(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        unchanged_since: u64,
    ) -> CommandResult {
        self.enable_condstore();
        if !self.selected()?.mailbox.tracks_modseqs() {
            return Err(Outcome::bad("[NOMODSEQ] No mod-sequences in this mailbox"));
        }
        self.sync(false)?;
        self.store_flags(uid, set, mode, silent, flags, Some(unchanged_since))
    }

    /// HIGHESTMODSEQ of a folder for STATUS: the selected one's as the session knows it
    /// (after syncing it), another's from a look at it now.
    pub(super) fn highest_modseq_of(&mut self, wire: &str) -> Result<u64, Outcome> {
        let memory = self.config.imap.vanished_memory as usize;
        let name = self.folder_name(wire)?;
        if let Ok(selected) = self.selected_mut()
            && selected.name == name
        {
            return Ok(selected.mailbox.track_modseqs(memory)?);
        }
        let mut mailbox = match self.fs_shared_name(wire) {
            Some(name) => self.fs_shared()?.open_mailbox(&name, true)?,
            None => {
                let (place, _) = self.place_with(wire, 'r', "STATUS")?;
                place.maildir.open_mailbox(&place.folder, true)?
            }
        };
        Ok(mailbox.track_modseqs(memory)?)
    }
}

/// `* VANISHED (EARLIER) uid-set`: the UIDs of `set` expunged after mod-sequence `since`.
/// When the folder's memory of expunges does not reach back that far, every UID of `set`
/// up to the last UID given out that is not in the folder now: RFC 7162 §3.2.5.2 lets
/// the server answer with such a superset (a client ignores UIDs it never knew), and the
/// optional sequence-match data, only a hint for narrowing it, is not needed for it.
fn write_vanished_earlier(out: &mut Vec<u8>, mailbox: &Mailbox, set: &SequenceSet, since: u64) {
    let max = mailbox.uid_next().saturating_sub(1);
    let text = match mailbox.vanished_since(since) {
        Some(gone) => {
            let uids: Vec<u32> = gone
                .into_iter()
                .filter(|&u| {
                    set.contains(u, max)
                        && mailbox
                            .index_of_uid(u)
                            .is_none_or(|i| mailbox.message(i).is_gone())
                })
                .collect();
            uid_list(&uids)
        }
        None => absent_uids(mailbox, set, max),
    };
    if !text.is_empty() {
        out.extend_from_slice(format!("* VANISHED (EARLIER) {text}\r\n").as_bytes());
    }
}

/// The UIDs of `set` up to `max` that no message has, as a `uid-set` (in ranges: one
/// step per message present, never one per UID).
fn absent_uids(mailbox: &Mailbox, set: &SequenceSet, max: u32) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut gap = |a: u32, b: u32| {
        if a == b {
            parts.push(a.to_string());
        } else if a < b {
            parts.push(format!("{a}:{b}"));
        }
    };
    for range in set.resolved_ranges(max) {
        let (start, end) = (*range.start(), *range.end());
        let mut next = start;
        let mut i = mailbox.first_index_from_uid(start);
        while i < mailbox.len() && mailbox.message(i).uid <= end {
            let u = mailbox.message(i).uid;
            if u > next {
                gap(next, u - 1);
            }
            next = u.saturating_add(1);
            i += 1;
        }
        if next <= end {
            gap(next, end);
        }
    }
    parts.join(",")
}
