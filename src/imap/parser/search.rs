//! SEARCH (RFC 3501 §6.4.4, §9) with ESEARCH return options (RFC 4731) and WITHIN
//! (RFC 5032).

use super::{PResult, Parser};
use crate::imap::command::{CommandBody, Date, SearchKey, SearchReturn};

impl Parser {
    /// `search = "SEARCH" [search-return-opts] [SP "CHARSET" SP astring]
    ///          1*(SP search-key)` (RFC 3501 §9, RFC 4731 §3), after the name.
    pub(super) fn search(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word_sp("RETURN") {
            self.expect(b'(')?;
            let mut opts = Vec::new();
            if !self.eat(b')') {
                loop {
                    opts.push(match self.keyword()?.as_str() {
                        "MIN" => SearchReturn::Min,
                        "MAX" => SearchReturn::Max,
                        "ALL" => SearchReturn::All,
                        "COUNT" => SearchReturn::Count,
                        "SAVE" => SearchReturn::Save,
                        other => return Err(format!("unknown search return option {other}")),
                    });
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
            self.sp()?;
            returns = Some(opts);
        }
        let mut charset = None;
        if self.eat_word_sp("CHARSET") {
            charset = Some(self.astring_utf8("charset")?);
            self.sp()?;
        }
        let mut keys = vec![self.search_key()?];
        while self.eat(b' ') {
            keys.push(self.search_key()?);
        }
        let criteria = if keys.len() == 1 {
            keys.pop().unwrap_or(SearchKey::All)
        } else {
            SearchKey::And(keys)
        };
        Ok(CommandBody::Search {
            uid,
            charset,
            criteria,
            returns,
        })
    }

    /// `search-key` (RFC 3501 §9, `OLDER`/`YOUNGER` from RFC 5032), nested at most
    /// [`super::MAX_DEPTH`] deep.
    pub(super) fn search_key(&mut self) -> PResult<SearchKey> {
        self.enter()?;
        let k = self.search_key_inner();
        self.leave();
        k
    }

    pub(super) fn search_key_inner(&mut self) -> PResult<SearchKey> {
        use SearchKey as K;
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let mut keys = vec![self.search_key()?];
                while self.eat(b' ') {
                    keys.push(self.search_key()?);
                }
                self.expect(b')')?;
                return Ok(if keys.len() == 1 {
                    keys.pop().unwrap_or(K::All)
                } else {
                    K::And(keys)
                });
            }
            Some(b'0'..=b'9' | b'*') => return Ok(K::SequenceSet(self.sequence_set()?)),
            _ => {}
        }
        let name = self.keyword()?;
        Ok(match name.as_str() {
            "ALL" => K::All,
            "ANSWERED" => K::Answered,
            "DELETED" => K::Deleted,
            "DRAFT" => K::Draft,
            "FLAGGED" => K::Flagged,
            "NEW" => K::New,
            "OLD" => K::Old,
            "RECENT" => K::Recent,
            "SEEN" => K::Seen,
            "UNANSWERED" => K::Unanswered,
            "UNDELETED" => K::Undeleted,
            "UNDRAFT" => K::Undraft,
            "UNFLAGGED" => K::Unflagged,
            "UNSEEN" => K::Unseen,
            "BCC" => K::Bcc(self.sp_astring()?),
            "BODY" => K::Body(self.sp_astring()?),
            "CC" => K::Cc(self.sp_astring()?),
            "FROM" => K::From(self.sp_astring()?),
            "SUBJECT" => K::Subject(self.sp_astring()?),
            "TEXT" => K::Text(self.sp_astring()?),
            "TO" => K::To(self.sp_astring()?),
            "HEADER" => {
                let field = self.sp_astring()?;
                if field.is_empty() || !field.iter().all(|&b| b.is_ascii_graphic() && b != b':') {
                    return Err("invalid header field name".into());
                }
                let value = self.sp_astring()?;
                K::Header(String::from_utf8_lossy(&field).into_owned(), value)
            }
            "KEYWORD" | "UNKEYWORD" => {
                self.sp()?;
                let kw = self.atom()?;
                if name == "KEYWORD" {
                    K::Keyword(kw)
                } else {
                    K::Unkeyword(kw)
                }
            }
            "BEFORE" => K::Before(self.sp_date()?),
            "ON" => K::On(self.sp_date()?),
            "SINCE" => K::Since(self.sp_date()?),
            "SENTBEFORE" => K::SentBefore(self.sp_date()?),
            "SENTON" => K::SentOn(self.sp_date()?),
            "SENTSINCE" => K::SentSince(self.sp_date()?),
            "LARGER" => {
                self.sp()?;
                K::Larger(self.number()?)
            }
            "SMALLER" => {
                self.sp()?;
                K::Smaller(self.number()?)
            }
            "OLDER" => {
                self.sp()?;
                K::Older(self.nz_number()?)
            }
            "YOUNGER" => {
                self.sp()?;
                K::Younger(self.nz_number()?)
            }
            "UID" => {
                self.sp()?;
                K::Uid(self.sequence_set()?)
            }
            "NOT" => {
                self.sp()?;
                K::Not(Box::new(self.search_key()?))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key()?;
                self.sp()?;
                let b = self.search_key()?;
                K::Or(Box::new(a), Box::new(b))
            }
            other => return Err(format!("unknown search key {other}")),
        })
    }

    /// `SP date`.
    pub(super) fn sp_date(&mut self) -> PResult<Date> {
        self.sp()?;
        self.date()
    }
}
