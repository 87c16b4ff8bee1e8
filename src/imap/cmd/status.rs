//! STATUS (RFC 3501 §6.3.10), also as LIST-STATUS's per-mailbox answer (RFC 5819).

use crate::imap::command::StatusItem;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_status(&mut self, wire: &str, items: &[StatusItem]) -> CommandResult {
        self.write_status(wire, items)?;
        Ok(Outcome::ok("STATUS completed"))
    }

    /// Writes `* STATUS <name> (...)` for the mailbox the client calls `wire`; the error
    /// is the command's answer when the mailbox cannot be read.
    pub(super) fn write_status(&mut self, wire: &str, items: &[StatusItem]) -> Result<(), Outcome> {
        let (name, status) = match self.fs_shared_name(wire) {
            Some(name) => {
                let status = self.fs_shared()?.status(&name)?;
                (name, status)
            }
            None => {
                let (place, _) = self.place_with(wire, 'r', "STATUS")?;
                let status = place.maildir.status(&place.folder)?;
                (place.name, status)
            }
        };
        let mut parts = Vec::new();
        for item in items {
            let (label, value) = match item {
                StatusItem::Messages => ("MESSAGES", status.messages),
                StatusItem::Recent => ("RECENT", status.recent),
                StatusItem::UidNext => ("UIDNEXT", status.uid_next),
                StatusItem::UidValidity => ("UIDVALIDITY", status.uid_validity),
                StatusItem::Unseen => ("UNSEEN", status.unseen),
                StatusItem::Size | StatusItem::Deleted => {
                    return Err(Outcome::bad(format!(
                        "STATUS item {item:?} is not supported"
                    )));
                }
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

/// Whether STATUS can answer `item` (checked before anything is written, so LIST-STATUS
/// refuses the whole command rather than failing halfway).
pub(super) fn status_item_supported(item: StatusItem) -> bool {
    !matches!(item, StatusItem::Size | StatusItem::Deleted)
}
