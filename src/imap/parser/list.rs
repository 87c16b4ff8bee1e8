//! Mailbox names and LIST / LSUB patterns (RFC 3501 §6.3.8-9, §9; RFC 5258 for
//! LIST-EXTENDED's selection and return options).

use super::strings::is_astring_char;
use super::{PResult, Parser};
use crate::imap::command::{CommandBody, ListReturn, ListSelect};

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials` (RFC 3501 §9).
fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl Parser {
    /// `mailbox = "INBOX" / astring` (RFC 3501 §9).
    pub(super) fn mailbox(&mut self) -> PResult<String> {
        self.astring_utf8("mailbox name")
    }

    /// `SP mailbox`.
    pub(super) fn sp_mailbox(&mut self) -> PResult<String> {
        self.sp()?;
        self.mailbox()
    }

    /// `list-mailbox = 1*list-char / string` (RFC 3501 §9).
    ///
    /// `list-mailbox`: like an astring, but `%` and `*` may stand unquoted.
    pub(super) fn list_mailbox(&mut self) -> PResult<String> {
        if self.peek() == Some(b'"') || self.at_literal() {
            let v = self.string()?;
            return Self::utf8(v, "mailbox pattern");
        }
        let a = self.take_while(is_list_char);
        if a.is_empty() {
            return Err("expected a mailbox pattern".into());
        }
        Self::utf8(a.to_vec(), "mailbox pattern")
    }

    /// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    ///        [SP list-return-opts]` (RFC 5258 §6), after the command name.
    pub(super) fn list(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let mut selection = Vec::new();
        if self.eat(b'(') {
            if !self.eat(b')') {
                loop {
                    selection.push(match self.keyword()?.as_str() {
                        "SUBSCRIBED" => ListSelect::Subscribed,
                        "REMOTE" => ListSelect::Remote,
                        "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                        "SPECIAL-USE" => ListSelect::SpecialUse,
                        other => ListSelect::Other(other.to_owned()),
                    });
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            self.sp()?;
        }
        let reference = self.mailbox()?;
        self.sp()?;
        let mut patterns = Vec::new();
        if self.eat(b'(') {
            loop {
                patterns.push(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            patterns.push(self.list_mailbox()?);
        }
        let mut returns = Vec::new();
        if self.eat(b' ') {
            if !self.eat_word_sp("RETURN") {
                return Err("expected RETURN".into());
            }
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    returns.push(match self.keyword()?.as_str() {
                        "SUBSCRIBED" => ListReturn::Subscribed,
                        "CHILDREN" => ListReturn::Children,
                        "SPECIAL-USE" => ListReturn::SpecialUse,
                        "STATUS" => {
                            self.sp()?;
                            ListReturn::Status(self.status_items()?)
                        }
                        other => ListReturn::Other(other.to_owned()),
                    });
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        Ok(CommandBody::List {
            selection,
            reference,
            patterns,
            returns,
        })
    }
}
