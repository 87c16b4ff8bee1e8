//! What commands share about message sets and flag lists: resolving a sequence or UID set
//! to the folder's messages, checking it, splitting a flag list, writing a `uid-set`.
//! Below the commands and the engines; imports none of them.

use super::command::{Flag, SeqNum, SequenceSet};
use super::response::Outcome;
use crate::store::{Flags, Mailbox};

/// Indexes (0-based) of the messages a set names, ascending. For UID sets `*` is the
/// largest UID; UIDs that do not exist are skipped silently (RFC 3501 §6.4.8).
pub fn resolve_set(mailbox: &Mailbox, set: &SequenceSet, uid: bool) -> Vec<usize> {
    if !uid {
        return set
            .iter_resolved(mailbox.len() as u32)
            .map(|n| n as usize - 1)
            .collect();
    }
    let mut out = Vec::new();
    for range in set.resolved_ranges(mailbox.last_uid()) {
        let start = mailbox.first_index_from_uid(*range.start());
        let end = range
            .end()
            .checked_add(1)
            .map_or(mailbox.len(), |next| mailbox.first_index_from_uid(next));
        out.extend(start..end);
    }
    out
}

/// A sequence-number set that names messages that do not exist is an error
/// (RFC 3501 §9 "seq-number"); UID sets never are.
pub fn check_sequence_set(mailbox: &Mailbox, set: &SequenceSet, uid: bool) -> Result<(), Outcome> {
    if uid {
        return Ok(());
    }
    let count = mailbox.len() as u32;
    let too_high = set.ranges().iter().any(|r| {
        [r.first, r.last]
            .iter()
            .any(|n| matches!(n, SeqNum::Value(v) if *v > count))
    });
    if too_high || (count == 0 && set.has_star()) {
        return Err(Outcome::bad("Invalid message sequence number"));
    }
    Ok(())
}

/// System flags and keywords of a flag list; `\Recent` and unknown `\` flags are refused.
pub fn split_flags(flags: &[Flag]) -> Result<(Flags, Vec<String>), Outcome> {
    let mut system = Flags::default();
    let mut keywords: Vec<String> = Vec::new();
    for flag in flags {
        match flag {
            Flag::Seen => system.insert(Flags::SEEN),
            Flag::Answered => system.insert(Flags::ANSWERED),
            Flag::Flagged => system.insert(Flags::FLAGGED),
            Flag::Deleted => system.insert(Flags::DELETED),
            Flag::Draft => system.insert(Flags::DRAFT),
            Flag::Recent => return Err(Outcome::bad("\\Recent cannot be set")),
            Flag::Extension(name) => {
                return Err(Outcome::bad(format!("Unknown system flag \\{name}")));
            }
            Flag::Keyword(k) => keywords.push(k.clone()),
        }
    }
    let keywords = crate::store::keywords::clean(&keywords)
        .map_err(|_| Outcome::bad("Invalid keyword in the flag list"))?;
    Ok((system, keywords))
}

/// A UID list in `uid-set` form, compressed into ranges where they run.
pub fn uid_list(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}
