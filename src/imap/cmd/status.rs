//! STATUS (RFC 3501 §6.3.10), also as LIST-STATUS's per-mailbox answer (RFC 5819).

use crate::imap::command::StatusItem;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::store::FolderUsage;

impl Session<'_> {
    pub fn cmd_status(&mut self, wire: &str, items: &[StatusItem]) -> CommandResult {
        self.write_status(wire, items)?;
        Ok(Outcome::ok("STATUS completed"))
    }

    /// Writes `* STATUS <name> (...)` for the mailbox the client calls `wire`; the error
    /// is the command's answer when the mailbox cannot be read.
    pub(super) fn write_status(&mut self, wire: &str, items: &[StatusItem]) -> Result<(), Outcome> {
        let wants_usage = items
            .iter()
            .any(|i| matches!(i, StatusItem::Size | StatusItem::Deleted));
        let wants_id = items.contains(&StatusItem::MailboxId);
        let mut mailbox_id = None;
        let (name, status, usage) = match self.fs_shared_name(wire) {
            Some(name) => {
                let shared = self.fs_shared()?;
                let status = shared.status(&name)?;
                let usage = if wants_usage {
                    shared.usage(&name)?
                } else {
                    FolderUsage::default()
                };
                (name, status, usage)
            }
            None => {
                let (place, _) = self.place_with(wire, 'r', "STATUS")?;
                let status = place.maildir.status(&place.folder)?;
                if wants_id {
                    mailbox_id = Some(place.maildir.mailbox_id(&place.folder)?);
                }
                let usage = if wants_usage {
                    place.maildir.usage(&place.folder)?
                } else {
                    FolderUsage::default()
                };
                (place.name, status, usage)
            }
        };
        let highest_modseq = if items.contains(&StatusItem::HighestModSeq) {
            // A CONDSTORE enabling command (RFC 7162 §3.1); the folder is opened and its
            // mod-sequences synced, so changes since the last sync count.
            self.enable_condstore();
            Some(self.highest_modseq_of(wire)?)
        } else {
            None
        };
        let mut parts = Vec::new();
        for item in items {
            let (label, value) = match item {
                StatusItem::Messages => ("MESSAGES", u64::from(status.messages)),
                StatusItem::Recent => ("RECENT", u64::from(status.recent)),
                StatusItem::UidNext => ("UIDNEXT", u64::from(status.uid_next)),
                StatusItem::UidValidity => ("UIDVALIDITY", u64::from(status.uid_validity)),
                StatusItem::Unseen => ("UNSEEN", u64::from(status.unseen)),
                StatusItem::Size => ("SIZE", usage.size),
                StatusItem::Deleted => ("DELETED", u64::from(usage.deleted)),
                // The one limit APPEND applies to every mailbox (RFC 7889 §3).
                StatusItem::AppendLimit => ("APPENDLIMIT", self.config.limits.max_append_size),
                StatusItem::MailboxId => {
                    // A filesystem-shared folder has no postern file to keep one in: the
                    // item is left out, as for a server without an id for it.
                    if let Some(id) = &mailbox_id {
                        parts.push(format!("MAILBOXID ({id})"));
                    }
                    continue;
                }
                StatusItem::HighestModSeq => ("HIGHESTMODSEQ", highest_modseq.unwrap_or(0)),
            };
            parts.push(format!("{label} {value}"));
        }
        self.out.extend_from_slice(b"* STATUS ");
        self.write_mailbox_name(&name);
        self.out
            .extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        Ok(())
    }
}
