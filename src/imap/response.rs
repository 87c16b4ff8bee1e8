//! How a command ends (the tagged response) and the untagged responses several commands
//! share, so each is written in one place.

use super::flags::write_flag_list;
use crate::store::{MessageEntry, StoreError};

/// How a command ended, for the tagged response.
#[derive(Debug)]
pub enum Outcome {
    Ok(String),
    No(String),
    Bad(String),
    /// The command wrote its own tagged line (or none is due, e.g. after BYE).
    Done,
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome::Ok(text.into())
    }
    pub fn no(text: impl Into<String>) -> Outcome {
        Outcome::No(text.into())
    }
    pub fn bad(text: impl Into<String>) -> Outcome {
        Outcome::Bad(text.into())
    }
    /// The text of the answer (empty for `Done`).
    pub fn text(&self) -> &str {
        match self {
            Outcome::Ok(t) | Outcome::No(t) | Outcome::Bad(t) => t,
            Outcome::Done => "",
        }
    }
}

/// What a command function returns: `Err` ends the command early with that answer, so
/// failures propagate with `?`.
pub type CommandResult = Result<Outcome, Outcome>;

/// The NO (with a response code, RFC 5530) for a storage error.
impl From<&StoreError> for Outcome {
    fn from(err: &StoreError) -> Outcome {
        match err {
            StoreError::InvalidName(n) => {
                Outcome::no(format!("[CANNOT] Invalid mailbox name: {n}"))
            }
            StoreError::NoSuchFolder(_) => Outcome::no("[NONEXISTENT] No such mailbox"),
            StoreError::FolderExists(_) => Outcome::no("[ALREADYEXISTS] Mailbox already exists"),
            StoreError::OverQuota => Outcome::no("[OVERQUOTA] Mailbox is over quota"),
            StoreError::ReadOnly => Outcome::no("[READ-ONLY] Mailbox is read-only"),
            StoreError::NoSuchMessage => Outcome::no("[EXPUNGEISSUED] Message was expunged"),
            other => {
                log::error!("storage error: {other}");
                Outcome::no(
                    "[SERVERBUG] Internal storage error; the administrator has details in the log",
                )
            }
        }
    }
}

/// So a command can write `store_call()?`.
impl From<StoreError> for Outcome {
    fn from(err: StoreError) -> Outcome {
        Outcome::from(&err)
    }
}

/// `* n EXPUNGE`: the one writer of it.
pub fn write_expunge(out: &mut Vec<u8>, seq: u32) {
    out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
}

/// `* n FETCH (FLAGS (...))`, with `UID u` first when the client asked by UID: the one
/// writer of a flag update, for STORE's answer and for changes other sessions made.
pub fn write_fetch_flags(out: &mut Vec<u8>, seq: usize, uid: Option<u32>, entry: MessageEntry<'_>) {
    write_fetch_flags_modseq(out, seq, uid, entry, None);
}

/// [`write_fetch_flags`] with `MODSEQ (n)` after the flags once CONDSTORE is on (RFC 7162
/// §3.1: every FETCH response that reports flags then carries the MODSEQ).
pub fn write_fetch_flags_modseq(
    out: &mut Vec<u8>,
    seq: usize,
    uid: Option<u32>,
    entry: MessageEntry<'_>,
    modseq: Option<u64>,
) {
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    if let Some(uid) = uid {
        out.extend_from_slice(format!("UID {uid} ").as_bytes());
    }
    out.extend_from_slice(b"FLAGS ");
    write_flag_list(out, entry);
    if let Some(m) = modseq {
        out.extend_from_slice(format!(" MODSEQ ({m})").as_bytes());
    }
    out.extend_from_slice(b")\r\n");
}

/// Expunges just made or found: `* n EXPUNGE` each (`seqs`, descending), or, once
/// QRESYNC is enabled, one `* VANISHED uid-set` of their `uids` (RFC 7162 §3.2.10).
pub fn write_expunges(out: &mut Vec<u8>, seqs: &[u32], uids: &[u32], vanished: bool) {
    if !vanished {
        seqs.iter().for_each(|&seq| write_expunge(out, seq));
    } else if !uids.is_empty() {
        out.extend_from_slice(format!("* VANISHED {}\r\n", super::sets::uid_list(uids)).as_bytes());
    }
}
