//! SORT and THREAD (RFC 5256 §5), DISPLAYFROM/DISPLAYTO (RFC 5957 §4). The search
//! criteria are SEARCH's keys, parsed by `search.rs`.

use super::{PResult, Parser};
use crate::imap::command::{CommandBody, SearchKey, SortCriterion, SortKey, ThreadAlgorithm};

impl Parser {
    /// `sort = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP
    /// search-criteria` (RFC 5256 §5, RETURN from ESORT, RFC 5267 §3.2), after the name;
    /// `sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"`. As for SEARCH, a
    /// SORT whose SAVE was read but whose rest fails becomes
    /// [`CommandBody::SearchSaveFailed`] (RFC 5182 §2.1: `$` is empty after it).
    pub(super) fn sort(&mut self, uid: bool) -> PResult<CommandBody> {
        let mut saving = false;
        match self.sort_rest(uid, &mut saving) {
            Err(reason) if saving => {
                self.skip_to_end();
                Ok(CommandBody::SearchSaveFailed { uid, reason })
            }
            other => other,
        }
    }

    fn sort_rest(&mut self, uid: bool, saving: &mut bool) -> PResult<CommandBody> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word_sp("RETURN") {
            returns = Some(self.search_return_opts(saving)?);
            self.sp()?;
        }
        self.expect(b'(')?;
        let mut criteria = vec![self.sort_criterion()?];
        while self.eat(b' ') {
            criteria.push(self.sort_criterion()?);
        }
        self.expect(b')')?;
        self.sp()?;
        let (charset, search) = self.search_criteria()?;
        // Checked here too, so that junk after the keys still empties `$` under SAVE.
        self.end()?;
        Ok(CommandBody::Sort {
            uid,
            criteria,
            charset,
            search,
            returns,
        })
    }

    /// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`, after the name;
    /// an algorithm postern does not serve is a syntax error (BAD), as for an unknown
    /// sort key.
    pub(super) fn thread(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let algorithm = match self.keyword()?.as_str() {
            "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            "REFERENCES" => ThreadAlgorithm::References,
            other => return Err(format!("unknown thread algorithm {other}")),
        };
        self.sp()?;
        let (charset, search) = self.search_criteria()?;
        Ok(CommandBody::Thread {
            uid,
            algorithm,
            charset,
            search,
        })
    }

    /// `sort-criterion = ["REVERSE" SP] sort-key`.
    fn sort_criterion(&mut self) -> PResult<SortCriterion> {
        let reverse = self.eat_word_sp("REVERSE");
        let key = match self.keyword()?.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            other => return Err(format!("unknown sort key {other}")),
        };
        Ok(SortCriterion { reverse, key })
    }

    /// `search-criteria = charset 1*(SP search-key)`; `charset = atom / quoted`.
    fn search_criteria(&mut self) -> PResult<(String, SearchKey)> {
        let charset = self.astring_utf8("charset")?;
        let mut keys = Vec::new();
        while self.eat(b' ') {
            keys.push(self.search_key()?);
        }
        let search = match keys.len() {
            0 => return Err("expected search criteria".into()),
            1 => keys.pop().unwrap_or(SearchKey::All),
            _ => SearchKey::And(keys),
        };
        Ok((charset, search))
    }
}

#[cfg(test)]
mod tests {
    use crate::imap::command::*;
    use crate::imap::parser::parse_command;
    use crate::imap::raw::RawCommand;

    fn parse(line: &str) -> Result<CommandBody, String> {
        let raw = RawCommand {
            lines: vec![line.as_bytes().to_vec()],
            literals: vec![],
        };
        parse_command(raw)
            .map(|c| c.body)
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn sort_and_thread_commands() {
        assert_eq!(
            parse("a UID SORT (REVERSE DATE subject DisplayFrom) UTF-8 ALL").unwrap(),
            CommandBody::Sort {
                uid: true,
                criteria: vec![
                    SortCriterion {
                        reverse: true,
                        key: SortKey::Date
                    },
                    SortCriterion {
                        reverse: false,
                        key: SortKey::Subject
                    },
                    SortCriterion {
                        reverse: false,
                        key: SortKey::DisplayFrom
                    },
                ],
                charset: "UTF-8".into(),
                search: SearchKey::All,
                returns: None,
            }
        );
        assert_eq!(
            parse("a SORT RETURN (SAVE MIN PARTIAL -1:-10) (ARRIVAL) UTF-8 UNSEEN").unwrap(),
            CommandBody::Sort {
                uid: false,
                criteria: vec![SortCriterion {
                    reverse: false,
                    key: SortKey::Arrival
                }],
                charset: "UTF-8".into(),
                search: SearchKey::Unseen,
                returns: Some(vec![
                    SearchReturn::Save,
                    SearchReturn::Min,
                    SearchReturn::Partial(PartialRange {
                        first: 1,
                        last: 10,
                        from_end: true
                    }),
                ]),
            }
        );
        // A SAVE whose SORT does not parse empties `$` (RFC 5182 §2.1).
        for bad_save in [
            "a SORT RETURN (SAVE) (NOSUCHKEY) UTF-8 ALL",
            "a SORT RETURN (SAVE) (DATE) UTF-8 NOSUCHKEY",
            "a SORT RETURN (SAVE) (DATE) UTF-8 ALL)",
        ] {
            assert!(
                matches!(parse(bad_save), Ok(CommandBody::SearchSaveFailed { .. })),
                "{bad_save}"
            );
        }
        assert_eq!(
            parse("a THREAD REFERENCES \"US-ASCII\" SEEN FROM x").unwrap(),
            CommandBody::Thread {
                uid: false,
                algorithm: ThreadAlgorithm::References,
                charset: "US-ASCII".into(),
                search: SearchKey::And(vec![SearchKey::Seen, SearchKey::From(b"x".to_vec())]),
            }
        );
        for bad in [
            "a SORT (FOO) UTF-8 ALL",
            "a SORT () UTF-8 ALL",
            "a SORT (REVERSE) UTF-8 ALL",
            "a SORT (DATE) UTF-8",
            "a SORT DATE UTF-8 ALL",
            "a SORT (DATE)  UTF-8 ALL",
            "a THREAD XYZ UTF-8 ALL",
            "a THREAD REFERENCES UTF-8",
            "a UID THREAD ORDEREDSUBJECT",
            "a SORT RETURN (FOO) (DATE) UTF-8 ALL",
            "a SORT RETURN (MIN) UTF-8 ALL",
            "a SORT (DATE) RETURN (MIN) UTF-8 ALL",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
