//! SORT and UID SORT (RFC 5256 §3, RFC 5957): the charset as SEARCH takes it, then the
//! SORT engine (`imap/sort.rs`) orders the messages. With `RETURN (...)` (ESORT, RFC 5267
//! §3.2) the answer is one ESEARCH response in sort order, SAVE keeps the result for `$`
//! (RFC 5182) and PARTIAL pages through the sorted list (RFC 9394 §3.1).

use crate::imap::command::{SearchKey, SearchReturn, SortCriterion};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::search::{ResultOptions, ResultOrder, SearchCharset};
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
        tag: &str,
        uid: bool,
        keys: &[SortCriterion],
        charset: &str,
        criteria: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> CommandResult {
        let saving = returns.is_some_and(|r| r.contains(&SearchReturn::Save));
        let result = self.run_sort(tag, uid, keys, charset, criteria, returns);
        // A SORT SAVE that fails leaves `$` empty, as a SEARCH SAVE does (RFC 5182 §2.1,
        // RFC 5267 §3.2 carries SAVE over to SORT).
        if result.is_err() && saving {
            self.forget_search_result();
        }
        result
    }

    fn run_sort(
        &mut self,
        tag: &str,
        uid: bool,
        keys: &[SortCriterion],
        charset: &str,
        criteria: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> CommandResult {
        let criteria = criteria_in_utf8(charset, criteria)?;
        // A bad option list is refused before any message is read.
        if let Some(list) = returns {
            ResultOptions::from_returns(list).map_err(Outcome::bad)?;
        }
        let sorted = sort(&mut self.selected_mut()?.mailbox, keys, &criteria, uid)?;
        match returns {
            // ESORT (RFC 5267 §3.2): one ESEARCH response, ALL and PARTIAL in sort order,
            // MIN and MAX the first and the last message in that order.
            Some(list) => self.answer_returns(tag, uid, list, &sorted, ResultOrder::Sorted)?,
            None => {
                let mut line = String::from("SORT");
                for n in sorted {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                self.untagged(&line);
            }
        }
        Ok(Outcome::ok(if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        }))
    }
}
