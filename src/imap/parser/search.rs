//! SEARCH (RFC 3501 §6.4.4, §9) with ESEARCH return options (RFC 4731), SAVE and `$`
//! (RFC 5182), PARTIAL (RFC 9394) and WITHIN (RFC 5032).

use super::{PResult, Parser};
use crate::imap::command::{CommandBody, Date, PartialRange, SearchKey, SearchReturn};

impl Parser {
    /// `search = "SEARCH" [search-return-opts] [SP "CHARSET" SP astring]
    ///          1*(SP search-key)` (RFC 3501 §9, RFC 4731 §3), after the name.
    /// When `SAVE` was read and the rest fails, the command becomes
    /// [`CommandBody::SearchSaveFailed`]: its BAD also empties the saved result.
    pub(super) fn search(&mut self, uid: bool) -> PResult<CommandBody> {
        let mut saving = false;
        match self.search_rest(uid, &mut saving) {
            Err(reason) if saving => {
                self.skip_to_end();
                Ok(CommandBody::SearchSaveFailed { uid, reason })
            }
            other => other,
        }
    }

    fn search_rest(&mut self, uid: bool, saving: &mut bool) -> PResult<CommandBody> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word_sp("RETURN") {
            returns = Some(self.search_return_opts(saving)?);
            self.sp()?;
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
        // Checked here, not only by the caller, so that a SAVE with junk after its keys
        // still empties the saved result.
        self.end()?;
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

    /// `search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP
    /// search-return-opt)] ")"` (RFC 4731 §3), after `RETURN SP`; `PARTIAL
    /// partial-range` from RFC 9394 §3.1. `saving` is set as soon as `SAVE` is read.
    pub(super) fn search_return_opts(&mut self, saving: &mut bool) -> PResult<Vec<SearchReturn>> {
        self.expect(b'(')?;
        let mut opts = Vec::new();
        if self.eat(b')') {
            return Ok(opts);
        }
        loop {
            let opt = match self.keyword()?.as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => {
                    *saving = true;
                    SearchReturn::Save
                }
                "PARTIAL" => {
                    self.sp()?;
                    SearchReturn::Partial(self.partial_range()?)
                }
                other => return Err(format!("unknown search return option {other}")),
            };
            if matches!(opt, SearchReturn::Partial(_))
                && opts.iter().any(|o| matches!(o, SearchReturn::Partial(_)))
            {
                return Err("PARTIAL may be given once".into());
            }
            opts.push(opt);
            if self.eat(b')') {
                return Ok(opts);
            }
            self.sp()?;
        }
    }

    /// `partial-range = partial-range-first / partial-range-last`,
    /// `partial-range-first = nz-number ":" nz-number`,
    /// `partial-range-last = MINUS nz-number ":" MINUS nz-number` (RFC 9394 §3.1). Either
    /// order of the ends is taken (as for a `seq-range`); kept as low:high.
    pub(super) fn partial_range(&mut self) -> PResult<PartialRange> {
        let from_end = self.eat(b'-');
        let a = self.nz_number()?;
        self.expect(b':')?;
        if from_end {
            self.expect(b'-')
                .map_err(|_| "both ends of a PARTIAL range count from the end".to_string())?;
        }
        let b = self.nz_number()?;
        Ok(PartialRange {
            first: a.min(b),
            last: a.max(b),
            from_end,
        })
    }

    /// Skips whatever is left of the command (a failed SEARCH SAVE is answered as a whole).
    pub(super) fn skip_to_end(&mut self) {
        self.seg = self.lines.len().saturating_sub(1);
        self.pos = self.line().len();
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
            Some(b'0'..=b'9' | b'*' | b'$') => return Ok(K::SequenceSet(self.sequence_set()?)),
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
            "SAVEDBEFORE" => K::SavedBefore(self.sp_date()?),
            "SAVEDON" => K::SavedOn(self.sp_date()?),
            "SAVEDSINCE" => K::SavedSince(self.sp_date()?),
            "SAVEDATESUPPORTED" => K::SaveDateSupported,
            "EMAILID" | "THREADID" => {
                self.sp()?;
                let id = self.atom()?;
                if !crate::store::objectid::is_object_id(&id) {
                    return Err("invalid objectid".into());
                }
                if name == "EMAILID" {
                    K::EmailId(id)
                } else {
                    K::ThreadId(id)
                }
            }
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
            "MODSEQ" => {
                // `search-modseq = "MODSEQ" [SP entry-name SP entry-type-req] SP
                // mod-sequence-valzer` (RFC 7162 §7).
                self.sp()?;
                if self.peek() == Some(b'"') {
                    self.quoted()?;
                    self.sp()?;
                    let kind = self.keyword()?;
                    if !matches!(kind.as_str(), "PRIV" | "SHARED" | "ALL") {
                        return Err(format!("unknown MODSEQ entry type {kind}"));
                    }
                    self.sp()?;
                }
                K::ModSeq(self.number64()?)
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
