//! FETCH and UID FETCH (RFC 3501 §6.4.5): checks the set, then the FETCH engine
//! (`imap/fetch.rs`) writes one line per message; the output is flushed as it grows.

use crate::imap::command::{FetchItem, SequenceSet};
use crate::imap::fetch::{FetchPlan, FetchStats, Written};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, flush_if_large};
use crate::imap::sets::{check_sequence_set, resolve_set};
use crate::store::Flags;

impl Session<'_> {
    pub fn cmd_fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
    ) -> CommandResult {
        self.fetch_changed(uid, set, items, None)
    }

    /// FETCH, only of the messages whose MODSEQ is above `changed_since` when given
    /// (RFC 7162 §3.1.4.1).
    pub(super) fn fetch_changed(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
    ) -> CommandResult {
        // FETCH MODSEQ and CHANGEDSINCE are CONDSTORE enabling commands (RFC 7162 §3.1).
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.enable_condstore();
        }
        // MODSEQ or CHANGEDSINCE asked of a folder without mod-sequences is an error
        // (RFC 7162 §3.1.2.2, NOMODSEQ); FLAGS alone just comes without MODSEQ there.
        let asked = changed_since.is_some() || items.contains(&FetchItem::ModSeq);
        // FLAGS, asked for or set implicitly by a body item, comes with MODSEQ.
        let may_set_seen = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::Rfc822
                    | FetchItem::Rfc822Text
                    | FetchItem::BodySection { peek: false, .. }
                    | FetchItem::Binary { peek: false, .. }
            )
        });
        let with_modseq =
            self.condstore && (asked || may_set_seen || items.contains(&FetchItem::Flags));
        let mut stats = FetchStats::default();
        let outcome = self.fetch_messages(
            uid,
            set,
            items,
            &mut stats,
            (with_modseq, asked),
            changed_since,
        );
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
        (with_modseq, modseq_asked): (bool, bool),
        changed_since: Option<u64>,
    ) -> CommandResult {
        let qresync = self.qresync;
        let parts = self.selected_parts()?;
        // Without the `s` right a body FETCH does not set \Seen (RFC 4314 §4).
        let may_mark_seen = parts.selected.rights.has('s');
        let mailbox = &mut parts.selected.mailbox;
        check_sequence_set(mailbox, set, uid)?;
        let mut plan = FetchPlan::new(items, uid, mailbox.read_only() || !may_mark_seen);
        if with_modseq && !mailbox.tracks_modseqs() && modseq_asked {
            return Err(Outcome::bad("[NOMODSEQ] No mod-sequences in this mailbox"));
        }
        if with_modseq && mailbox.tracks_modseqs() {
            mailbox.ensure_modseqs()?;
            plan = plan.with_modseq();
        }
        let mut gone = 0usize;
        // Messages this FETCH gave \Seen while MODSEQ is reported: their lines carry the
        // MODSEQ from before, so their new one follows once the FETCH is done.
        let mut seen_now: Vec<usize> = Vec::new();
        let tracked = plan_has_modseq(with_modseq, mailbox);
        for index in resolve_set(mailbox, set, uid) {
            if let Some(since) = changed_since
                && mailbox.modseq(index).is_some_and(|m| m <= since)
            {
                continue;
            }
            // Only asked when MODSEQ is reported: a message's view reads its name from
            // the index and looks up its keywords, a cost plain FETCH lines do not need.
            let was_seen = tracked && mailbox.message(index).flags.contains(Flags::SEEN);
            let line_at = parts.out.len();
            // Expunged by another session: EXPUNGE may not be sent now, and the command
            // still succeeds (RFC 2180 §4.1; see `FetchPlan::write_remnant`).
            match plan.write_message(mailbox, index, parts.out, stats)? {
                Written::Whole => {}
                Written::Remnant => gone += 1,
                Written::UnknownCte(cte) => {
                    // RFC 3516 §4.3: the FETCH fails; the lines already sent stand.
                    mailbox.save_caches();
                    return Err(Outcome::no(format!(
                        "[UNKNOWN-CTE] cannot decode the {} content transfer encoding",
                        cte.0
                    )));
                }
            }
            if tracked
                && !was_seen
                && index < mailbox.len()
                && mailbox.message(index).flags.contains(Flags::SEEN)
            {
                seen_now.push(index);
            }
            // An implicit \Seen may have picked up keywords set meanwhile: FLAGS first.
            let news = parts.selected.announced.announcement(
                if index < mailbox.len() {
                    mailbox.message(index).keywords
                } else {
                    &[]
                }
                .iter(),
            );
            parts.out.splice(line_at..line_at, news);
            if let Err(err) = flush_if_large(parts.conn, parts.out) {
                log::debug!("client went away during FETCH: {err}");
                mailbox.save_caches();
                return Ok(Outcome::Done);
            }
        }
        mailbox.save_caches();
        if !seen_now.is_empty() {
            // RFC 7162 §3.1: a flag change reported with MODSEQ; an unsolicited FETCH
            // (RFC 3501 §7) brings the mod-sequence the implicit \Seen got.
            mailbox.sync_modseqs()?;
            for index in seen_now {
                let entry = mailbox.message(index);
                let uid_item = if uid || qresync {
                    format!("UID {} ", entry.uid)
                } else {
                    String::new()
                };
                if let Some(m) = mailbox.modseq(index) {
                    parts.out.extend_from_slice(
                        format!("* {} FETCH ({uid_item}MODSEQ ({m}))\r\n", index + 1).as_bytes(),
                    );
                }
            }
        }
        let verb = if uid { "UID FETCH" } else { "FETCH" };
        Ok(Outcome::ok(if gone > 0 {
            format!(
                "[EXPUNGEISSUED] {verb} completed; some messages were expunged by another session"
            )
        } else {
            format!("{verb} completed")
        }))
    }
}

/// Whether the lines of this FETCH carry MODSEQ (CONDSTORE on and the folder keeps them).
fn plan_has_modseq(with_modseq: bool, mailbox: &crate::store::Mailbox) -> bool {
    with_modseq && mailbox.tracks_modseqs()
}
