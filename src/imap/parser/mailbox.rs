//! Arguments of the commands on one mailbox as a whole: SELECT/EXAMINE parameters
//! (RFC 4466) and STATUS items (RFC 3501 §6.3.10).

use super::{PResult, Parser};
use crate::imap::command::{QResyncParam, SelectParam, StatusItem};

impl Parser {
    /// `[SP "(" select-param *(SP select-param) ")"]` (RFC 4466 §2.1).
    pub(super) fn select_params(&mut self) -> PResult<Vec<SelectParam>> {
        let mut params = Vec::new();
        if !self.eat(b' ') {
            return Ok(params);
        }
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(params);
        }
        loop {
            let name = self.keyword()?;
            if name == "CONDSTORE" {
                params.push(SelectParam::CondStore);
            } else if name == "QRESYNC" {
                self.sp()?;
                params.push(SelectParam::QResync(self.qresync_param()?));
            } else {
                // RFC 4466: a value, if any, is a number, a set or a parenthesized list.
                if self.peek() == Some(b' ')
                    && matches!(self.peek_at(1), Some(b'(' | b'0'..=b'9' | b'*'))
                {
                    self.sp()?;
                    self.skip_ext_value()?;
                }
                params.push(SelectParam::Other(name));
            }
            if self.eat(b')') {
                return Ok(params);
            }
            self.sp()?;
        }
    }

    /// `"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`
    /// (RFC 7162 §7, `qresync-param`).
    fn qresync_param(&mut self) -> PResult<QResyncParam> {
        self.expect(b'(')?;
        let uid_validity = self.nz_number()?;
        self.sp()?;
        let modseq = self.number64()?;
        let mut known_uids = None;
        let mut seq_match = None;
        if self.eat(b' ') {
            if self.peek() != Some(b'(') {
                known_uids = Some(self.sequence_set()?);
            }
            if known_uids.is_none() || self.eat(b' ') {
                self.expect(b'(')?;
                let seqs = self.sequence_set()?;
                self.sp()?;
                let uids = self.sequence_set()?;
                self.expect(b')')?;
                seq_match = Some((seqs, uids));
            }
        }
        self.expect(b')')?;
        Ok(QResyncParam {
            uid_validity,
            modseq,
            known_uids,
            seq_match,
        })
    }

    /// Skips a `tagged-ext-val` (RFC 4466) whose meaning we don't use.
    pub(super) fn skip_ext_value(&mut self) -> PResult<()> {
        if self.eat(b'(') {
            self.enter()?;
            if !self.eat(b')') {
                loop {
                    self.skip_ext_value()?;
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            self.leave();
            Ok(())
        } else {
            self.astring().map(|_| ())
        }
    }

    /// `"(" status-att *(SP status-att) ")"` (RFC 3501 §9 `status`; `SIZE` and
    /// `DELETED` from RFC 9051).
    pub(super) fn status_items(&mut self) -> PResult<Vec<StatusItem>> {
        self.expect(b'(')?;
        let mut items = Vec::new();
        loop {
            items.push(match self.keyword()?.as_str() {
                "MESSAGES" => StatusItem::Messages,
                "RECENT" => StatusItem::Recent,
                "UIDNEXT" => StatusItem::UidNext,
                "UIDVALIDITY" => StatusItem::UidValidity,
                "UNSEEN" => StatusItem::Unseen,
                "SIZE" => StatusItem::Size,
                "DELETED" => StatusItem::Deleted,
                "APPENDLIMIT" => StatusItem::AppendLimit,
                "MAILBOXID" => StatusItem::MailboxId,
                "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                other => return Err(format!("unknown status item {other}")),
            });
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }

    /// `create-params = SP "(" create-param *(SP create-param) ")"` (RFC 4466 §2.2) with
    /// RFC 6154 §6's only parameter, `"USE" SP "(" [use-attr *(SP use-attr)] ")"`: the
    /// use attributes without their backslash. Another parameter is an error.
    pub(super) fn create_params(&mut self) -> PResult<Vec<String>> {
        let mut uses = Vec::new();
        if !self.eat(b' ') {
            return Ok(uses);
        }
        self.expect(b'(')?;
        loop {
            let name = self.keyword()?;
            if name != "USE" {
                return Err(format!("unknown CREATE parameter {name}"));
            }
            self.sp()?;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    self.expect(b'\\')?;
                    uses.push(self.atom()?);
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            if self.eat(b')') {
                return Ok(uses);
            }
            self.sp()?;
        }
    }
}
