//! COPY (RFC 3501 §6.4.7) and MOVE (RFC 6851), with COPYUID (RFC 4315). A MOVE's copy
//! is complete before anything is expunged.

use crate::imap::command::SequenceSet;
use crate::imap::response::{CommandResult, Outcome, write_expunges};
use crate::imap::session::Session;
use crate::imap::sets::{check_sequence_set, resolve_set, uid_list};
use crate::store::{AppendSource, Flags, StoreError};

impl Session<'_> {
    pub fn cmd_copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        wire: &str,
        is_move: bool,
    ) -> CommandResult {
        let verb = if is_move { "MOVE" } else { "COPY" };
        if let Some(shared) = self.fs_shared_name(wire) {
            return self.copy_to_fs_shared(uid, set, &shared, is_move);
        }
        let (target, _) = self.place_with(wire, 'i', verb)?;
        let parts = self.selected_parts()?;
        // MOVE also expunges from the source: `t` and `e` there (RFC 6851 §4.1).
        if is_move {
            for right in ['t', 'e'] {
                super::require(parts.selected.rights, right, verb, "current mailbox")?;
            }
        }
        let mailbox = &mut parts.selected.mailbox;
        check_sequence_set(mailbox, set, uid)?;
        if is_move && mailbox.read_only() {
            return Err(Outcome::no("[READ-ONLY] Mailbox is read-only"));
        }
        let indexes = resolve_set(mailbox, set, uid);
        self.check_outbox_count(&target.name, indexes.len())?;
        let mailbox = &mut self.selected_parts()?.selected.mailbox;
        if indexes.is_empty() {
            return Ok(Outcome::ok(format!("{verb} completed (no messages)")));
        }
        let copied = mailbox
            .copy_to(&indexes, &target.maildir, &target.folder)
            .map_err(|err| match err {
                StoreError::NoSuchFolder(_) => {
                    Outcome::no("[TRYCREATE] No such mailbox; create it first")
                }
                err => Outcome::from(&err),
            })?;
        let source: Vec<u32> = copied.uids.iter().map(|(s, _)| *s).collect();
        // Messages another session expunged are skipped, not an error. RFC 2180 §4 allows a
        // NO that copies nothing; postern copies what still exists and answers OK, as it
        // does for FETCH and STORE: RFC 3501 §6.4.7 asks only that a COPY answered NO
        // leaves the target as it was, and the client, told of the EXPUNGE at its next
        // NOOP, could not tell which message made it fail.
        if source.is_empty() {
            // Nothing was copied: no COPYUID (its sets may not be empty).
            return Ok(Outcome::ok(format!(
                "[EXPUNGEISSUED] {verb} completed; the messages were expunged by another session"
            )));
        }
        let sent: Vec<u32> = copied.uids.iter().map(|(_, t)| *t).collect();
        // A MOVE whose message could not be sent leaves the source as it was.
        self.send_from_outbox(&target.name, &sent)?;
        let vanished = self.qresync;
        let parts = self.selected_parts()?;
        let mailbox = &mut parts.selected.mailbox;
        let code = format!(
            "[COPYUID {} {} {}]",
            copied.uid_validity,
            uid_list(&source),
            uid_list(&copied.uids.iter().map(|(_, t)| *t).collect::<Vec<_>>())
        );
        if !is_move {
            return Ok(Outcome::ok(format!("{code} COPY completed")));
        }
        for &index in &indexes {
            let entry = mailbox.message(index);
            if !source.contains(&entry.uid) {
                continue;
            }
            let mut flags = entry.flags;
            flags.insert(Flags::DELETED);
            let keywords = entry.keywords.to_vec();
            match mailbox.set_flags(index, flags, &keywords) {
                Ok(()) | Err(StoreError::NoSuchMessage) => {}
                Err(err) => return Err(Outcome::from(&err)),
            }
        }
        let gone = mailbox.expunge(Some(&source))?;
        parts
            .out
            .extend_from_slice(format!("* OK {code} Moved\r\n").as_bytes());
        write_expunges(parts.out, &gone, mailbox.last_expunged_uids(), vanished);
        Ok(Outcome::ok("MOVE completed"))
    }
}

impl Session<'_> {
    /// COPY or MOVE into a filesystem-shared folder: each message is appended there as
    /// Courier does, without COPYUID (its UIDs are assigned at the private copy's next
    /// sync; RFC 4315 §3 leaves the code out where UIDs are not known). A MOVE then
    /// expunges what was copied.
    fn copy_to_fs_shared(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        shared: &str,
        is_move: bool,
    ) -> CommandResult {
        let verb = if is_move { "MOVE" } else { "COPY" };
        let fs_shared = self.fs_shared()?;
        let vanished = self.qresync;
        let parts = self.selected_parts()?;
        let mailbox = &mut parts.selected.mailbox;
        check_sequence_set(mailbox, set, uid)?;
        if is_move && mailbox.read_only() {
            return Err(Outcome::no("[READ-ONLY] Mailbox is read-only"));
        }
        let mut copied = Vec::new();
        for index in resolve_set(mailbox, set, uid) {
            let flags = mailbox.message(index).flags;
            let bytes = match mailbox.read_message(index) {
                Ok(b) => b,
                Err(StoreError::NoSuchMessage) => continue,
                Err(err) => return Err(Outcome::from(&err)),
            };
            fs_shared.append(shared, AppendSource::Bytes(&bytes), flags, None)?;
            copied.push(index);
        }
        if is_move && !copied.is_empty() {
            let mut uids = Vec::new();
            for &index in &copied {
                let entry = mailbox.message(index);
                uids.push(entry.uid);
                let keywords = entry.keywords.to_vec();
                match mailbox.set_flags(index, entry.flags | Flags::DELETED, &keywords) {
                    Ok(()) | Err(StoreError::NoSuchMessage) => {}
                    Err(err) => return Err(Outcome::from(&err)),
                }
            }
            let gone = mailbox.expunge(Some(&uids))?;
            write_expunges(parts.out, &gone, mailbox.last_expunged_uids(), vanished);
        }
        Ok(Outcome::ok(format!("{verb} completed")))
    }
}
