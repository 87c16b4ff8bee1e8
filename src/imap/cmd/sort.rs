//! SORT and UID SORT (RFC 5256 §3, RFC 5957): the charset as SEARCH takes it, then the
//! SORT engine (`imap/sort.rs`) orders the messages.

use crate::imap::command::{SearchKey, SortCriterion};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::search::SearchCharset;
use crate::imap::session::Session;
use crate::imap::sort::sort;

/// `NO [BADCHARSET (...)]` for a charset nothing here converts (RFC 5256 §3, RFC 3501
/// §6.4.4), listing the usual ones SEARCH also takes.
pub fn bad_charset() -> Outcome {
    Outcome::no(
        "[BADCHARSET (UTF-8 US-ASCII ISO-8859-1 WINDOWS-1252 ISO-2022-JP SHIFT_JIS EUC-JP EUC-KR GB18030 BIG5 KOI8-R UTF-16)] Unsupported charset",
    )
}

/// The search criteria with their strings in UTF-8, or the NO for an unknown charset.
pub fn criteria_in_utf8(charset: &str, criteria: &SearchKey) -> Result<SearchKey, Outcome> {
    SearchCharset::named(charset)
        .map(|decoder| decoder.key_to_utf8(criteria))
        .ok_or_else(bad_charset)
}

impl Session<'_> {
    pub fn cmd_sort(
        &mut self,
        uid: bool,
        keys: &[SortCriterion],
        charset: &str,
        criteria: &SearchKey,
    ) -> CommandResult {
        let criteria = criteria_in_utf8(charset, criteria)?;
        let sorted = sort(&mut self.selected_mut()?.mailbox, keys, &criteria, uid)?;
        let mut line = String::from("SORT");
        for n in sorted {
            line.push(' ');
            line.push_str(&n.to_string());
        }
        self.untagged(&line);
        Ok(Outcome::ok(if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        }))
    }
}
