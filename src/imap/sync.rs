//! Turns what changed in the selected folder into untagged EXPUNGE, EXISTS, RECENT and
//! FETCH FLAGS responses: the one place that tells a client about other sessions' work.

use super::flags::write_flag_list;
use super::session::Session;
use crate::store::StoreError;

impl Session<'_> {
    /// Refreshes the selected folder and reports the changes. `expunges_allowed` is false
    /// while answering FETCH, STORE or SEARCH (RFC 3501 §7.4.1).
    pub fn sync(&mut self, expunges_allowed: bool) -> Result<(), StoreError> {
        let Some(selected) = self.selected.as_mut() else {
            return Ok(());
        };
        let changes = selected.mailbox.refresh(expunges_allowed)?;
        let mut out = std::mem::take(&mut self.out);
        for seq in &changes.expunged {
            out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
        }
        let messages = selected.mailbox.messages();
        if changes.new > 0 {
            let recent = messages.iter().filter(|m| m.recent).count();
            out.extend_from_slice(format!("* {} EXISTS\r\n", messages.len()).as_bytes());
            out.extend_from_slice(format!("* {recent} RECENT\r\n").as_bytes());
        }
        for &index in &changes.flags_changed {
            if let Some(entry) = messages.get(index) {
                out.extend_from_slice(format!("* {} FETCH (FLAGS ", index + 1).as_bytes());
                write_flag_list(&mut out, entry);
                out.extend_from_slice(b")\r\n");
            }
        }
        self.out = out;
        Ok(())
    }
}
