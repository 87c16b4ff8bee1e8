//! SEARCH and UID SEARCH (RFC 3501 §6.4.4): checks the charset, then the SEARCH engine
//! (`imap/search.rs`) finds the messages.

use crate::imap::command::{SearchKey, SearchReturn};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::search::search;
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_search(
        &mut self,
        uid: bool,
        charset: Option<&str>,
        criteria: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> CommandResult {
        if let Some(cs) = charset
            && !cs.eq_ignore_ascii_case("UTF-8")
            && !cs.eq_ignore_ascii_case("US-ASCII")
        {
            return Err(Outcome::no(
                "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset",
            ));
        }
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
