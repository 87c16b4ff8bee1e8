//! FETCH and UID FETCH (RFC 3501 §6.4.5): checks the set, then the FETCH engine
//! (`imap/fetch.rs`) writes one line per message; the output is flushed as it grows.

use crate::imap::command::{FetchItem, SequenceSet};
use crate::imap::fetch::{FetchPlan, FetchStats};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, flush_if_large};
use crate::imap::sets::{check_sequence_set, resolve_set};
use crate::store::StoreError;

impl Session<'_> {
    pub fn cmd_fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
    ) -> CommandResult {
        if items
            .iter()
            .any(|i| matches!(i, FetchItem::Binary { .. } | FetchItem::BinarySize { .. }))
        {
            return Err(Outcome::bad("BINARY is not supported"));
        }
        let mut stats = FetchStats::default();
        let outcome = self.fetch_messages(uid, set, items, &mut stats);
        self.fetched_bodies += stats.bodies;
        self.fetched_headers += stats.headers;
        outcome
    }

    fn fetch_messages(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        stats: &mut FetchStats,
    ) -> CommandResult {
        let parts = self.selected_parts()?;
        let mailbox = &mut parts.selected.mailbox;
        check_sequence_set(mailbox, set, uid)?;
        let plan = FetchPlan::new(items, uid, mailbox.read_only());
        let mut gone = 0usize;
        for index in resolve_set(mailbox, set, uid) {
            match plan.write_message(mailbox, index, parts.out, stats) {
                Ok(()) => {}
                // Expunged by another session; EXPUNGE may not be sent now.
                Err(StoreError::NoSuchMessage) => gone += 1,
                Err(err) => return Err(Outcome::from(&err)),
            }
            if let Err(err) = flush_if_large(parts.conn, parts.out) {
                log::debug!("client went away during FETCH: {err}");
                mailbox.save_caches();
                return Ok(Outcome::Done);
            }
        }
        mailbox.save_caches();
        if gone > 0 {
            return Err(Outcome::no(
                "[EXPUNGEISSUED] Some messages were expunged by another session",
            ));
        }
        Ok(Outcome::ok(if uid {
            "UID FETCH completed"
        } else {
            "FETCH completed"
        }))
    }
}
