//! THREAD and UID THREAD (RFC 5256 §3): the search criteria pick the messages, the
//! THREAD engine (`imap/thread.rs`) builds the threads, written as RFC 5256 §4's
//! `thread-list`s.

use super::sort::criteria_in_utf8;
use crate::imap::command::{SearchKey, ThreadAlgorithm};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::imap::sort::{keyed, matching};
use crate::imap::thread::{ordered_subject, references};
use crate::message::Wanted;

impl Session<'_> {
    pub fn cmd_thread(
        &mut self,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: &str,
        criteria: &SearchKey,
    ) -> CommandResult {
        let criteria = criteria_in_utf8(charset, criteria)?;
        let mailbox = &mut self.selected_mut()?.mailbox;
        let indexes = matching(mailbox, &criteria)?;
        let wanted = Wanted {
            subject: true,
            ids: algorithm == ThreadAlgorithm::References,
            ..Wanted::default()
        };
        let msgs = keyed(mailbox, &indexes, wanted)?;
        let mb = &*mailbox;
        let numbers = |k: &crate::imap::sort::Keyed| {
            if uid {
                mb.message(k.index).uid
            } else {
                k.index as u32 + 1
            }
        };
        let threads = match algorithm {
            ThreadAlgorithm::OrderedSubject => ordered_subject(&msgs, &numbers),
            ThreadAlgorithm::References => references(&msgs, &numbers),
        };
        if threads.is_empty() {
            self.untagged("THREAD");
        } else {
            self.untagged(&format!("THREAD {threads}"));
        }
        Ok(Outcome::ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        }))
    }
}
