//! EXPUNGE and UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1); the `e` right (RFC 4314 §4).

use crate::imap::command::SequenceSet;
use crate::imap::response::{CommandResult, Outcome, write_expunges};
use crate::imap::session::Session;
use crate::imap::sets::resolve_set;

impl Session<'_> {
    pub fn cmd_expunge(&mut self, uids: Option<&SequenceSet>) -> CommandResult {
        let trash = self.magic_trash_for(&self.selected()?.name)?;
        let vanished = self.qresync;
        let parts = self.selected_parts()?;
        if !parts.selected.rights.has('e') {
            return Err(Outcome::no(
                "[NOPERM] Access denied for EXPUNGE on current mailbox (ACL \"e\" required)",
            ));
        }
        let mailbox = &mut parts.selected.mailbox;
        if mailbox.read_only() {
            return Err(Outcome::no("[READ-ONLY] Mailbox is read-only"));
        }
        let only: Option<Vec<u32>> = uids.map(|set| {
            resolve_set(mailbox, set, true)
                .into_iter()
                .map(|i| mailbox.message(i).uid)
                .collect()
        });
        let gone = match &trash {
            Some(trash) => mailbox.expunge_to_trash(only.as_deref(), trash)?,
            None => mailbox.expunge(only.as_deref())?,
        };
        write_expunges(parts.out, &gone, mailbox.last_expunged_uids(), vanished);
        Ok(Outcome::ok("EXPUNGE completed"))
    }
}
