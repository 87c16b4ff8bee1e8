//! SEARCH and UID SEARCH (RFC 3501 §6.4.4): converts the strings from the command's charset
//! to UTF-8 (or refuses a charset nothing here knows), then the SEARCH engine
//! (`imap/search.rs`) finds the messages.

use crate::imap::command::{SearchKey, SearchReturn};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::search::{SearchCharset, search};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_search(
        &mut self,
        uid: bool,
        charset: Option<&str>,
        criteria: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> CommandResult {
        // Every string is compared as UTF-8: convert the client's charset first.
        let converted;
        let criteria = match charset {
            None => criteria,
            Some(cs) => match SearchCharset::named(cs) {
                Some(decoder) => {
                    converted = decoder.key_to_utf8(criteria);
                    &converted
                }
                None => {
                    return Err(Outcome::no(
                        "[BADCHARSET (UTF-8 US-ASCII ISO-8859-1 WINDOWS-1252 ISO-2022-JP SHIFT_JIS EUC-JP EUC-KR GB18030 BIG5 KOI8-R UTF-16)] Unsupported charset",
                    ));
                }
            },
        };
        if returns.is_some() {
            return Err(Outcome::bad("SEARCH RETURN (ESEARCH) is not supported"));
        }
        let hits = search(&mut self.selected_mut()?.mailbox, criteria, uid)?;
        let mut line = String::from("SEARCH");
        for n in hits {
            line.push(' ');
            line.push_str(&n.to_string());
        }
        self.untagged(&line);
        Ok(Outcome::ok(if uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        }))
    }
}
