//! SELECT and EXAMINE (RFC 3501 §6.3.1-2), and leaving the selected state: CLOSE
//! (§6.4.2) and UNSELECT (RFC 3691).

use crate::imap::command::SelectParam;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Selected, Session};
use crate::imap::sync::AnnouncedFlags;

impl Session<'_> {
    pub fn cmd_select(
        &mut self,
        wire: &str,
        params: &[SelectParam],
        read_only: bool,
    ) -> CommandResult {
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
        let was_selected = self.selected().is_ok();
        self.deselect();
        if was_selected && (self.rev2 || self.qresync) {
            // The boundary between the old mailbox's responses and the new one's, said
            // before anything about the next one (RFC 9051 §7.1 CLOSED, RFC 7162 §3.2.11).
            self.untagged("OK [CLOSED] Previous mailbox closed");
        }
        let mut qresync = None;
        for p in params {
            match p {
                SelectParam::CondStore => self.enable_condstore(),
                // RFC 7162 §3.2.5: a QRESYNC parameter without ENABLE QRESYNC is BAD.
                SelectParam::QResync(q) if self.qresync => qresync = Some(q),
                SelectParam::QResync(_) => {
                    return Err(Outcome::bad(format!(
                        "{verb} with QRESYNC needs ENABLE QRESYNC first"
                    )));
                }
                other => {
                    return Err(Outcome::bad(format!(
                        "{verb} parameter {other:?} is not supported"
                    )));
                }
            }
        }
        let mut mailbox_id = None;
        let (name, mailbox, rights) = match self.fs_shared_name(wire) {
            // A filesystem-shared folder: its file modes decide, not an ACL (Courier);
            // one the user may not write opens read-only.
            Some(name) => {
                let mailbox = self.fs_shared()?.open_mailbox(&name, read_only)?;
                (name, mailbox, crate::store::acl::Rights::ALL)
            }
            None => {
                let (place, rights) = self.place_with(wire, 'r', "SELECT/EXAMINE")?;
                // Without a right that changes the folder it is opened read-only, as
                // Courier does (RFC 4314 §4 lists the rights each change needs).
                let read_only = read_only || !"stwie".chars().any(|r| rights.has(r));
                let mailbox = place.maildir.open_mailbox(&place.folder, read_only)?;
                mailbox_id = place.maildir.mailbox_id(&place.folder).ok();
                (place.name, mailbox, rights)
            }
        };
        let mut mailbox = mailbox;
        if self.rev2 {
            mailbox.hide_recent();
        }
        let read_only = mailbox.read_only();
        let sharing = self.places()?.login.sharing;
        let keywords = mailbox.keywords_in_use();
        let exists = mailbox.len();
        let recent = mailbox.recent_count();
        let first_unseen = mailbox.first_unseen().map(|i| i + 1);
        let (uid_validity, uid_next) = (mailbox.uid_validity(), mailbox.uid_next());
        let announced = AnnouncedFlags::at_select(
            &mut self.out,
            keywords,
            read_only,
            self.config.imap.keywords,
        );
        self.untagged(&format!("{exists} EXISTS"));
        // RFC 9051 §6.3.2 lists neither RECENT nor UNSEEN among rev2's SELECT answers.
        if !self.rev2 {
            self.untagged(&format!("{recent} RECENT"));
            if let Some(n) = first_unseen {
                self.untagged(&format!("OK [UNSEEN {n}] First unseen"));
            }
        }
        self.untagged(&format!("OK [UIDVALIDITY {uid_validity}] UIDs valid"));
        self.untagged(&format!("OK [UIDNEXT {uid_next}] Predicted next UID"));
        if let Some(id) = mailbox_id {
            // RFC 8474 §4.1.
            self.untagged(&format!("OK [MAILBOXID ({id})] Ok"));
        }
        if self.rev2 {
            // RFC 9051 §6.3.2: a LIST response for the mailbox, with its attributes.
            self.write_list_of(&name);
        }
        if sharing {
            self.untagged(&format!("OK [MYRIGHTS \"{}\"] ACL", rights.to_wire_full()));
        }
        if self.condstore {
            self.announce_highest_modseq(&mut mailbox);
        }
        // The index pages the answer touched (the kernel may map whole large folios of
        // the file) are page cache, not this session's memory.
        mailbox.save_caches();
        self.select(Selected {
            mailbox,
            name,
            rights,
            announced,
            search_result: Vec::new(),
        });
        if let Some(q) = qresync {
            self.qresync_select(q)?;
        }
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        Ok(Outcome::ok(format!("[{mode}] {verb} completed")))
    }

    /// CLOSE: expunges silently (unless the folder was EXAMINEd, or the login lacks the
    /// `e` right: RFC 4314 §4 makes CLOSE then just deselect), then deselects.
    pub fn cmd_close(&mut self) -> CommandResult {
        let trash = match self.selected() {
            Ok(selected) => self.magic_trash_for(&selected.name)?,
            Err(_) => None,
        };
        if let Ok(selected) = self.selected_mut()
            && !selected.mailbox.read_only()
            && selected.rights.has('e')
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
