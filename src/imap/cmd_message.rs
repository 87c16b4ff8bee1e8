//! Commands that change messages: APPEND STORE EXPUNGE CLOSE COPY MOVE, and the sequence
//! set resolution they share with FETCH and SEARCH.

use std::time::{Duration, UNIX_EPOCH};

use super::cmd_mailbox::store_failure;
use super::command::{DateTime, Flag, LiteralData, SequenceSet, StoreMode};
use super::datetime::days_from_civil;
use super::flags::write_flag_list;
use super::session::{Outcome, Session};
use crate::store::{AppendSource, Flags, Mailbox, StoreError};

/// Indexes (0-based) of the messages a set names, ascending. For UID sets `*` is the
/// largest UID; UIDs that do not exist are skipped silently (RFC 3501 §6.4.8).
pub fn resolve_set(mailbox: &Mailbox, set: &SequenceSet, uid: bool) -> Vec<usize> {
    let messages = mailbox.messages();
    if !uid {
        return set
            .iter_resolved(messages.len() as u32)
            .map(|n| n as usize - 1)
            .collect();
    }
    let max_uid = messages.last().map_or(0, |m| m.uid);
    let mut out = Vec::new();
    for range in set.resolved_ranges(max_uid) {
        let start = messages.partition_point(|m| m.uid < *range.start());
        let end = messages.partition_point(|m| m.uid <= *range.end());
        out.extend(start..end);
    }
    out
}

/// A sequence-number set that names messages that do not exist is an error
/// (RFC 3501 §9 "seq-number"); UID sets never are.
pub fn check_sequence_set(mailbox: &Mailbox, set: &SequenceSet, uid: bool) -> Result<(), Outcome> {
    if uid {
        return Ok(());
    }
    let count = mailbox.messages().len() as u32;
    let too_high = set.ranges().iter().any(|r| {
        [r.first, r.last]
            .iter()
            .any(|n| matches!(n, super::command::SeqNum::Value(v) if *v > count))
    });
    if too_high || (count == 0 && set.has_star()) {
        return Err(Outcome::bad("Invalid message sequence number"));
    }
    Ok(())
}

/// System flags and keywords of a flag list; `\Recent` and unknown `\` flags are refused.
pub fn split_flags(flags: &[Flag]) -> Result<(Flags, Vec<String>), Outcome> {
    let mut system = Flags::default();
    let mut keywords: Vec<String> = Vec::new();
    for flag in flags {
        match flag {
            Flag::Seen => system.insert(Flags::SEEN),
            Flag::Answered => system.insert(Flags::ANSWERED),
            Flag::Flagged => system.insert(Flags::FLAGGED),
            Flag::Deleted => system.insert(Flags::DELETED),
            Flag::Draft => system.insert(Flags::DRAFT),
            Flag::Recent => return Err(Outcome::bad("\\Recent cannot be set")),
            Flag::Extension(name) => {
                return Err(Outcome::bad(format!("Unknown system flag \\{name}")));
            }
            Flag::Keyword(k) => {
                if !keywords.iter().any(|have| have.eq_ignore_ascii_case(k)) {
                    keywords.push(k.clone());
                }
            }
        }
    }
    Ok((system, keywords))
}

fn unix_time(date: &DateTime) -> i64 {
    let days = days_from_civil(
        i32::from(date.date.year),
        u32::from(date.date.month),
        u32::from(date.date.day),
    );
    days * 86400
        + i64::from(date.hour) * 3600
        + i64::from(date.minute) * 60
        + i64::from(date.second)
        - i64::from(date.zone_minutes) * 60
}

impl Session<'_> {
    pub fn cmd_append(
        &mut self,
        wire: &str,
        flags: &[Flag],
        date: Option<DateTime>,
        message: LiteralData,
    ) -> Outcome {
        let name = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        let (system, mut keywords) = match split_flags(flags) {
            Ok(f) => f,
            Err(o) => return o,
        };
        if !self.config.imap.keywords {
            keywords.clear();
        }
        if message.is_empty() {
            return Outcome::no("[CANNOT] An empty message cannot be appended");
        }
        let internal_date = date.map(|d| {
            let secs = unix_time(&d);
            if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs as u64)
            } else {
                UNIX_EPOCH
            }
        });
        let result = match message {
            LiteralData::Memory(bytes) => self.maildir().append(
                &name,
                AppendSource::Bytes(&bytes),
                system,
                &keywords,
                internal_date,
            ),
            LiteralData::Spooled(file) => {
                // The store renames the spooled file into place; if it fails the file is
                // still ours to remove.
                let path = file.path().to_path_buf();
                let result = self.maildir().append(
                    &name,
                    AppendSource::TmpFile(path.clone()),
                    system,
                    &keywords,
                    internal_date,
                );
                if result.is_ok() {
                    file.keep();
                }
                result
            }
        };
        match result {
            Ok(r) => Outcome::ok(format!(
                "[APPENDUID {} {}] APPEND completed",
                r.uid_validity, r.uid
            )),
            Err(StoreError::NoSuchFolder(_)) => {
                Outcome::no("[TRYCREATE] No such mailbox; create it first")
            }
            Err(err) => store_failure(&err),
        }
    }

    pub fn cmd_store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
    ) -> Outcome {
        let (system, keywords) = match split_flags(flags) {
            Ok(f) => f,
            Err(o) => return o,
        };
        let keywords_on = self.config.imap.keywords;
        let selected = self.selected.as_mut().expect("selected state");
        if let Err(o) = check_sequence_set(&selected.mailbox, set, uid) {
            return o;
        }
        if selected.mailbox.read_only() {
            return Outcome::no("[READ-ONLY] Mailbox is read-only");
        }
        let indexes = resolve_set(&selected.mailbox, set, uid);
        let mut out = std::mem::take(&mut self.out);
        let mut failed = None;
        for index in indexes {
            let entry = &selected.mailbox.messages()[index];
            let (mut new_flags, mut new_keywords) = (entry.flags, entry.keywords.clone());
            match mode {
                StoreMode::Replace => {
                    // \Passed has no IMAP name; a replace must not drop it.
                    new_flags = system;
                    if entry.flags.contains(Flags::PASSED) {
                        new_flags.insert(Flags::PASSED);
                    }
                    new_keywords = keywords.clone();
                }
                StoreMode::Add => {
                    new_flags |= system;
                    for k in &keywords {
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
            if !keywords_on {
                new_keywords = entry.keywords.clone();
            }
            let changed = new_flags != entry.flags || new_keywords != entry.keywords;
            if changed && let Err(err) = selected.mailbox.set_flags(index, new_flags, &new_keywords)
            {
                failed = Some(err);
                continue;
            }
            if !silent {
                let entry = &selected.mailbox.messages()[index];
                out.extend_from_slice(format!("* {} FETCH (", index + 1).as_bytes());
                if uid {
                    out.extend_from_slice(format!("UID {} ", entry.uid).as_bytes());
                }
                out.extend_from_slice(b"FLAGS ");
                write_flag_list(&mut out, entry);
                out.extend_from_slice(b")\r\n");
            }
        }
        self.out = out;
        match failed {
            None => Outcome::ok("STORE completed"),
            Some(StoreError::NoSuchMessage) => {
                Outcome::no("[EXPUNGEISSUED] Some messages were expunged meanwhile")
            }
            Some(err) => store_failure(&err),
        }
    }

    pub fn cmd_expunge(&mut self, uids: Option<&SequenceSet>) -> Outcome {
        let selected = self.selected.as_mut().expect("selected state");
        if selected.mailbox.read_only() {
            return Outcome::no("[READ-ONLY] Mailbox is read-only");
        }
        let only: Option<Vec<u32>> = uids.map(|set| {
            resolve_set(&selected.mailbox, set, true)
                .into_iter()
                .map(|i| selected.mailbox.messages()[i].uid)
                .collect()
        });
        match selected.mailbox.expunge(only.as_deref()) {
            Ok(gone) => {
                for seq in gone {
                    self.untagged(&format!("{seq} EXPUNGE"));
                }
                Outcome::ok("EXPUNGE completed")
            }
            Err(err) => store_failure(&err),
        }
    }

    pub fn cmd_close(&mut self) -> Outcome {
        if let Some(selected) = self.selected.as_mut()
            && !selected.mailbox.read_only()
            && let Err(err) = selected.mailbox.expunge(None)
        {
            log::error!("CLOSE could not expunge: {err}");
        }
        self.deselect();
        Outcome::ok("CLOSE completed")
    }

    /// COPY and MOVE (RFC 6851): the copy is complete before anything is expunged.
    pub fn cmd_copy(&mut self, uid: bool, set: &SequenceSet, wire: &str, is_move: bool) -> Outcome {
        let verb = if is_move { "MOVE" } else { "COPY" };
        let target = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        let maildir = self.maildir.take().expect("selected state has a Maildir");
        let outcome = self.copy_into(&maildir, uid, set, &target, is_move, verb);
        self.maildir = Some(maildir);
        outcome
    }

    fn copy_into(
        &mut self,
        maildir: &crate::store::Maildir,
        uid: bool,
        set: &SequenceSet,
        target: &str,
        is_move: bool,
        verb: &str,
    ) -> Outcome {
        let selected = self.selected.as_mut().expect("selected state");
        if let Err(o) = check_sequence_set(&selected.mailbox, set, uid) {
            return o;
        }
        if is_move && selected.mailbox.read_only() {
            return Outcome::no("[READ-ONLY] Mailbox is read-only");
        }
        let indexes = resolve_set(&selected.mailbox, set, uid);
        if indexes.is_empty() {
            return Outcome::ok(format!("{verb} completed (no messages)"));
        }
        let copied = match selected.mailbox.copy_to(&indexes, maildir, target) {
            Ok(c) => c,
            Err(StoreError::NoSuchFolder(_)) => {
                return Outcome::no("[TRYCREATE] No such mailbox; create it first");
            }
            Err(err) => return store_failure(&err),
        };
        let source: Vec<u32> = copied.uids.iter().map(|(s, _)| *s).collect();
        let code = format!(
            "[COPYUID {} {} {}]",
            copied.uid_validity,
            uid_list(&source),
            uid_list(&copied.uids.iter().map(|(_, t)| *t).collect::<Vec<_>>())
        );
        if !is_move {
            return Outcome::ok(format!("{code} COPY completed"));
        }
        for &index in &indexes {
            let entry = &selected.mailbox.messages()[index];
            let mut flags = entry.flags;
            flags.insert(Flags::DELETED);
            let keywords = entry.keywords.clone();
            if let Err(err) = selected.mailbox.set_flags(index, flags, &keywords) {
                return store_failure(&err);
            }
        }
        match selected.mailbox.expunge(Some(&source)) {
            Ok(gone) => {
                self.untagged(&format!("OK {code} Moved"));
                for seq in gone {
                    self.untagged(&format!("{seq} EXPUNGE"));
                }
                Outcome::ok("MOVE completed")
            }
            Err(err) => store_failure(&err),
        }
    }
}

/// A UID list in `uid-set` form, compressed into ranges where they run.
pub fn uid_list(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}
