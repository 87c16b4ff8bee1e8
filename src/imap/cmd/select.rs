//! SELECT and EXAMINE (RFC 3501 §6.3.1-2), and leaving the selected state: CLOSE
//! (§6.4.2) and UNSELECT (RFC 3691).

use crate::imap::command::SelectParam;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Selected, Session};
use crate::imap::sync::AnnouncedFlags;
use crate::store::Flags;

impl Session<'_> {
    pub fn cmd_select(
        &mut self,
        wire: &str,
        params: &[SelectParam],
        read_only: bool,
    ) -> CommandResult {
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
        self.deselect();
        if let Some(p) = params.first() {
            return Err(Outcome::bad(format!(
                "{verb} parameter {p:?} is not supported"
            )));
        }
        let name = self.folder_name(wire)?;
        let mailbox = self.maildir()?.open_mailbox(&name, read_only)?;
        let keywords = mailbox.keywords_in_use();
        let exists = mailbox.len();
        let recent = mailbox.recent_count();
        let first_unseen = mailbox
            .messages()
            .position(|m| !m.flags.contains(Flags::SEEN))
            .map(|i| i + 1);
        let (uid_validity, uid_next) = (mailbox.uid_validity(), mailbox.uid_next());
        let announced = AnnouncedFlags::at_select(
            &mut self.out,
            keywords,
            read_only,
            self.config.imap.keywords,
        );
        self.untagged(&format!("{exists} EXISTS"));
        self.untagged(&format!("{recent} RECENT"));
        if let Some(n) = first_unseen {
            self.untagged(&format!("OK [UNSEEN {n}] First unseen"));
        }
        self.untagged(&format!("OK [UIDVALIDITY {uid_validity}] UIDs valid"));
        self.untagged(&format!("OK [UIDNEXT {uid_next}] Predicted next UID"));
        self.select(Selected {
            mailbox,
            name,
            announced,
        });
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        Ok(Outcome::ok(format!("[{mode}] {verb} completed")))
    }

    /// CLOSE: expunges silently (unless the folder was EXAMINEd), then deselects.
    pub fn cmd_close(&mut self) -> CommandResult {
        let trash = match self.selected() {
            Ok(selected) => self.magic_trash_for(&selected.name)?,
            Err(_) => None,
        };
        if let Ok(selected) = self.selected_mut()
            && !selected.mailbox.read_only()
        {
            let expunged = match &trash {
                Some(trash) => selected.mailbox.expunge_to_trash(None, trash),
                None => selected.mailbox.expunge(None),
            };
            if let Err(err) = expunged {
                log::error!("CLOSE could not expunge: {err}");
            }
        }
        self.deselect();
        Ok(Outcome::ok("CLOSE completed"))
    }

    pub fn cmd_unselect(&mut self) -> CommandResult {
        self.deselect();
        Ok(Outcome::ok("UNSELECT completed"))
    }
}
