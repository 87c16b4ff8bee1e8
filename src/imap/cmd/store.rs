//! STORE and UID STORE (RFC 3501 §6.4.6): each message's new flags, then its
//! `* n FETCH (FLAGS ...)` unless `.SILENT`.

use crate::imap::command::{Flag, SequenceSet, StoreMode};
use crate::imap::response::{CommandResult, Outcome, write_fetch_flags_modseq};
use crate::imap::session::Session;
use crate::imap::sets::{check_sequence_set, resolve_set, split_flags, uid_list};
use crate::store::acl::Rights;
use crate::store::{FlagChange, Flags, MessageEntry, StoreError};

/// The flags and keywords a message has after the STORE.
fn stored_flags(
    entry: &MessageEntry<'_>,
    mode: StoreMode,
    system: Flags,
    keywords: &[String],
) -> (Flags, Vec<String>) {
    let (mut new_flags, mut new_keywords) = (entry.flags, entry.keywords.to_vec());
    match mode {
        StoreMode::Replace => {
            // \Passed has no IMAP name; a replace must not drop it.
            new_flags = system;
            if entry.flags.contains(Flags::PASSED) {
                new_flags.insert(Flags::PASSED);
            }
            new_keywords = keywords.to_vec();
        }
        StoreMode::Add => {
            new_flags |= system;
            for k in keywords {
                if !new_keywords.iter().any(|h| h.eq_ignore_ascii_case(k)) {
                    new_keywords.push(k.clone());
                }
            }
        }
        StoreMode::Remove => {
            new_flags.remove(system);
            new_keywords.retain(|h| !keywords.iter().any(|k| k.eq_ignore_ascii_case(h)));
        }
    }
    (new_flags, new_keywords)
}

/// The STORE as a change applied to each message's flags as they are on disk.
fn flag_change(
    mode: StoreMode,
    system: Flags,
    keywords: &[String],
    keywords_on: bool,
) -> FlagChange {
    let keywords = if keywords_on {
        keywords.to_vec()
    } else {
        Vec::new()
    };
    match mode {
        StoreMode::Add => FlagChange {
            add: system,
            add_keywords: keywords,
            ..FlagChange::default()
        },
        StoreMode::Remove => FlagChange {
            remove: system,
            remove_keywords: keywords,
            ..FlagChange::default()
        },
        // \Passed has no IMAP name; a replace must not drop it.
        StoreMode::Replace => FlagChange {
            add: system,
            remove: (Flags::DRAFT
                | Flags::FLAGGED
                | Flags::ANSWERED
                | Flags::SEEN
                | Flags::DELETED)
                .without(system),
            keywords: keywords_on.then_some(keywords),
            ..FlagChange::default()
        },
    }
}

/// The part of a flag change the rights allow (RFC 4314 §4: `s` for \Seen, `t` for
/// \Deleted, `w` for the other flags and keywords); what is not allowed is silently left
/// out, as Courier does. None when nothing the client asked for is allowed.
fn allowed_change(mut change: FlagChange, rights: Rights) -> Option<FlagChange> {
    let asked = change.clone();
    let mut denied = Flags::empty();
    if !rights.has('s') {
        denied.insert(Flags::SEEN);
    }
    if !rights.has('t') {
        denied.insert(Flags::DELETED);
    }
    if !rights.has('w') {
        denied |= Flags::DRAFT | Flags::FLAGGED | Flags::ANSWERED;
        change.add_keywords.clear();
        change.remove_keywords.clear();
        change.keywords = None;
    }
    change.add.remove(denied);
    change.remove.remove(denied);
    let nothing_left = change.add.is_empty()
        && change.remove.is_empty()
        && change.add_keywords.is_empty()
        && change.remove_keywords.is_empty()
        && change.keywords.is_none();
    let asked_something = !(asked.add.is_empty()
        && asked.remove.is_empty()
        && asked.add_keywords.is_empty()
        && asked.remove_keywords.is_empty()
        && asked.keywords.as_ref().is_none_or(|k| k.is_empty()));
    if nothing_left && asked_something && denied != Flags::empty() {
        return None;
    }
    Some(change)
}

/// Keyword sets compare without regard to order or case.
fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|k| b.iter().any(|l| l.eq_ignore_ascii_case(k)))
}

impl Session<'_> {
    pub fn cmd_store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
    ) -> CommandResult {
        self.store_flags(uid, set, mode, silent, flags, None)
    }

    /// STORE, with UNCHANGEDSINCE when `unchanged_since` is given (RFC 7162 §3.1.3: a
    /// message whose MODSEQ is above it is left alone and named in `[MODIFIED ...]`; the
    /// caller synced the mod-sequences just before).
    pub(super) fn store_flags(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        unchanged_since: Option<u64>,
    ) -> CommandResult {
        let condstore = self.condstore;
        // With QRESYNC every flag update names its UID (see `sync::sync`).
        let with_uid = uid || self.qresync;
        let (system, keywords) = split_flags(flags)?;
        let keywords_on = self.config.imap.keywords;
        let parts = self.selected_parts()?;
        let rights = parts.selected.rights;
        let mailbox = &mut parts.selected.mailbox;
        check_sequence_set(mailbox, set, uid)?;
        let change = allowed_change(flag_change(mode, system, &keywords, keywords_on), rights)
            .ok_or_else(|| {
                Outcome::no(
                    "[NOPERM] Access denied for STORE on current mailbox \
                     (ACL \"s\", \"t\" or \"w\" required)",
                )
            })?;
        if mailbox.read_only() {
            return Err(Outcome::no("[READ-ONLY] Mailbox is read-only"));
        }
        // RFC 2180 §4 lets a server answer NO when some of the messages were expunged
        // by another session; postern, like Dovecot, stores what still exists, skips the
        // rest and answers OK (the EXPUNGEISSUED code, RFC 5530, says why some FETCH lines
        // are missing): the client learns of the expunge at its next NOOP, and a NO would
        // make it think the whole STORE failed.
        let mut gone = 0usize;
        let mut modified: Vec<u32> = Vec::new();
        // (index, whether FLAGS is reported) of the messages stored.
        let mut stored: Vec<(usize, bool)> = Vec::new();
        for index in resolve_set(mailbox, set, uid) {
            if let Some(since) = unchanged_since
                && mailbox.modseq(index).is_some_and(|m| m > since)
            {
                modified.push(if uid {
                    mailbox.message(index).uid
                } else {
                    index as u32 + 1
                });
                continue;
            }
            let entry = mailbox.message(index);
            let (expected, mut expected_keywords) = stored_flags(&entry, mode, system, &keywords);
            if !keywords_on {
                expected_keywords = entry.keywords.to_vec();
            }
            match mailbox.change_flags(index, &change) {
                Ok(()) => {}
                Err(StoreError::NoSuchMessage) => {
                    gone += 1;
                    continue;
                }
                Err(err) => return Err(Outcome::from(&err)),
            }
            // Even with .SILENT: the client may FETCH the flags later.
            parts
                .selected
                .announced
                .announce_messages(parts.out, mailbox, &[index]);
            let entry = mailbox.message(index);
            // Another session's change to the same message was folded in: even .SILENT
            // reports it (RFC 3501 §7: the server may send unilateral FETCH at any time).
            let others_changed =
                entry.flags != expected || !same_set(entry.keywords, &expected_keywords);
            stored.push((index, !silent || others_changed));
        }
        if condstore {
            // The new states get their mod-sequences before they are reported.
            mailbox.sync_modseqs()?;
        }
        for (index, with_flags) in stored {
            let entry = mailbox.message(index);
            let modseq = mailbox.modseq(index).filter(|_| condstore);
            if with_flags {
                write_fetch_flags_modseq(
                    parts.out,
                    index + 1,
                    with_uid.then_some(entry.uid),
                    entry,
                    modseq,
                );
            } else if let Some(m) = modseq {
                // .SILENT with CONDSTORE still tells the new MODSEQ (RFC 7162 §3.1.3).
                let uid_item = if with_uid {
                    format!("UID {} ", entry.uid)
                } else {
                    String::new()
                };
                parts.out.extend_from_slice(
                    format!("* {} FETCH ({uid_item}MODSEQ ({m}))\r\n", index + 1).as_bytes(),
                );
            }
        }
        if !modified.is_empty() {
            return Ok(Outcome::ok(format!(
                "[MODIFIED {}] Conditional STORE failed",
                uid_list(&modified)
            )));
        }
        Ok(Outcome::ok(if gone > 0 {
            "[EXPUNGEISSUED] STORE completed; some messages were expunged by another session"
        } else {
            "STORE completed"
        }))
    }
}
