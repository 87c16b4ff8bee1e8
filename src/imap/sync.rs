//! Turns what changed in the selected folder into untagged EXPUNGE, EXISTS, RECENT and
//! FETCH FLAGS responses: the one place that tells a client about other sessions' work.

use super::response::{write_expunge, write_fetch_flags};
use crate::store::{Mailbox, StoreError};

/// Refreshes the selected folder and writes the changes to `out`. `expunges_allowed` is
/// false after a command that may not announce EXPUNGE (the command table says which).
pub fn sync(
    mailbox: &mut Mailbox,
    out: &mut Vec<u8>,
    expunges_allowed: bool,
) -> Result<(), StoreError> {
    let changes = mailbox.refresh(expunges_allowed)?;
    for &seq in &changes.expunged {
        write_expunge(out, seq);
    }
    let messages = mailbox.messages();
    if changes.new > 0 {
        let recent = messages.iter().filter(|m| m.recent).count();
        out.extend_from_slice(format!("* {} EXISTS\r\n", messages.len()).as_bytes());
        out.extend_from_slice(format!("* {recent} RECENT\r\n").as_bytes());
    }
    for &index in &changes.flags_changed {
        if let Some(entry) = messages.get(index) {
            write_fetch_flags(out, index + 1, None, entry);
        }
    }
    Ok(())
}
