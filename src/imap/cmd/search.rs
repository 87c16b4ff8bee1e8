//! SEARCH and UID SEARCH (RFC 3501 §6.4.4): converts the strings from the command's charset
//! to UTF-8 (or refuses a charset nothing here knows), then the SEARCH engine
//! (`imap/search.rs`) finds the messages. With `RETURN (...)` the answer is one ESEARCH
//! response (RFC 4731, PARTIAL from RFC 9394) and SAVE keeps the result for `$`
//! (RFC 5182), which [`Session::replace_last_result`] puts into the next commands.
//!
//! RFC 5182 §2.4 (a command using `$` pipelined after a SEARCH SAVE must see that
//! search's result) holds by construction: the session reads, runs and answers one
//! command at a time, and `$` is replaced only when its command is about to run.

use crate::imap::command::{CommandBody, SearchKey, SearchReturn, SeqNum, SeqRange, SequenceSet};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::search::{
    ResultOptions, ResultOrder, SearchCharset, esearch_response, partial_page, search,
};
use crate::imap::session::{Selected, Session};
use crate::imap::sets::resolve_set;

impl Session<'_> {
    pub fn cmd_search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<&str>,
        criteria: &SearchKey,
        returns: Option<&[SearchReturn]>,
    ) -> CommandResult {
        let saving = returns.is_some_and(|r| r.contains(&SearchReturn::Save));
        let result = self.run_search(tag, uid, charset, criteria, returns);
        // A SEARCH SAVE that fails leaves `$` empty, never the older result (RFC 5182 §2.1).
        if result.is_err() && saving {
            self.forget_search_result();
        }
        result
    }

    /// A SEARCH with SAVE whose arguments did not parse: BAD, and `$` is empty after it.
    /// RFC 5182 §2.1 empties the variable when a SEARCH SAVE fails, BAD as well as NO, so a
    /// command pipelined behind a mistyped SEARCH (`UID EXPUNGE $`) acts on nothing rather
    /// than on an older result. Dovecot 2.3 keeps the older result after a BAD; this
    /// follows the RFC (tests/imap_search_ext.rs `same_answers_as_dovecot`).
    pub fn cmd_search_save_failed(&mut self, reason: &str) -> CommandResult {
        self.forget_search_result();
        Err(Outcome::bad(reason.to_string()))
    }

    fn run_search(
        &mut self,
        tag: &str,
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
        // A bad option list is refused before any message is read.
        if let Some(list) = returns {
            ResultOptions::from_returns(list).map_err(Outcome::bad)?;
        }
        let by_modseq = uses_modseq(criteria);
        if by_modseq {
            // SEARCH MODSEQ is a CONDSTORE enabling command (RFC 7162 §3.1).
            self.enable_condstore();
            let mailbox = &mut self.selected_mut()?.mailbox;
            if !mailbox.tracks_modseqs() {
                return Err(Outcome::bad("[NOMODSEQ] No mod-sequences in this mailbox"));
            }
            mailbox.ensure_modseqs()?;
        }
        let hits = search(&mut self.selected_mut()?.mailbox, criteria, uid)?;
        // RFC 7162 §3.1.5: a SEARCH by MODSEQ that finds messages also says the highest
        // MODSEQ among them.
        let highest = if by_modseq {
            let mailbox = &self.selected()?.mailbox;
            hits.iter()
                .filter_map(|&n| {
                    let index = if uid {
                        mailbox.index_of_uid(n)?
                    } else {
                        n as usize - 1
                    };
                    mailbox.modseq(index)
                })
                .max()
        } else {
            None
        };
        // RFC 9051 §6.4.4: an IMAP4rev2 SEARCH is answered with ESEARCH, ALL when no
        // result option was given.
        let returns = match returns {
            None if self.rev2 => Some(&[SearchReturn::All][..]),
            other => other,
        };
        match returns {
            None => {
                let mut line = String::from("SEARCH");
                for n in hits {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let Some(m) = highest {
                    line.push_str(&format!(" (MODSEQ {m})"));
                }
                self.untagged(&line);
            }
            Some(list) => {
                let at = self.out.len();
                self.answer_returns(tag, uid, list, &hits, ResultOrder::Ascending)?;
                // The ESEARCH line, if one was written, gets `MODSEQ n` at its end.
                if let Some(m) = highest
                    && self.out.len() > at
                    && self.out.ends_with(b"\r\n")
                {
                    let end = self.out.len() - 2;
                    self.out
                        .splice(end..end, format!(" MODSEQ {m}").into_bytes());
                }
            }
        }
        Ok(Outcome::ok(if uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        }))
    }

    /// The answer of a command with `RETURN (...)` once its result is known: SAVE keeps
    /// its part for `$` (RFC 5182 §2.1), then one ESEARCH response unless SAVE was alone.
    /// `results` are UIDs for UID commands, sequence numbers otherwise, in `order`. SORT
    /// with ESORT (RFC 5267) answers through this too, with [`ResultOrder::Sorted`]; on its
    /// failure paths with SAVE it calls [`Self::forget_search_result`].
    pub fn answer_returns(
        &mut self,
        tag: &str,
        uid: bool,
        returns: &[SearchReturn],
        results: &[u32],
        order: ResultOrder,
    ) -> Result<(), Outcome> {
        let options = ResultOptions::from_returns(returns).map_err(Outcome::bad)?;
        if options.save {
            let kept = options.saved(results, order);
            save_result(self.selected_mut()?, &kept, uid);
        }
        if options.answers() {
            let line = esearch_response(tag, uid, &options, results, order);
            self.untagged(&line);
        }
        Ok(())
    }

    /// Empties `$` (a failed SEARCH or SORT with SAVE).
    pub fn forget_search_result(&mut self) {
        if let Ok(selected) = self.selected_mut() {
            selected.search_result.clear();
        }
    }

    /// `body` with `$` replaced (see [`Self::replace_last_result`]) and a UID FETCH
    /// PARTIAL turned into the UID FETCH of its page (RFC 9394 §3.2: the set's messages
    /// in UID order, at the range's positions; an empty page fetches nothing).
    pub fn resolve_sets(&self, body: CommandBody) -> CommandBody {
        match self.replace_last_result(body) {
            CommandBody::FetchPartial { set, items, range } => match self.selected() {
                Ok(selected) => {
                    let mailbox = &selected.mailbox;
                    let uids: Vec<u32> = resolve_set(mailbox, &set, true)
                        .into_iter()
                        .map(|index| mailbox.message(index).uid)
                        .collect();
                    CommandBody::Fetch {
                        uid: true,
                        set: set_of(partial_page(&uids, range)),
                        items,
                    }
                }
                Err(_) => CommandBody::FetchPartial { set, items, range },
            },
            other => other,
        }
    }

    /// `body` with every `$` replaced by the saved result's messages: UIDs for UID
    /// commands and in SEARCH keys, the messages' current sequence numbers otherwise.
    /// Messages expunged since the SAVE are left out (RFC 5182 §2.1); an empty result
    /// makes the command act on no message. Outside the selected state nothing changes
    /// (the command table refuses such commands first).
    pub fn replace_last_result(&self, body: CommandBody) -> CommandBody {
        use CommandBody::*;
        let Ok(selected) = self.selected() else {
            return body;
        };
        let set = |set: SequenceSet, uid: bool| {
            if set.is_last_result() {
                last_result_set(selected, uid)
            } else {
                set
            }
        };
        match body {
            Fetch { uid, set: s, items } => Fetch {
                uid,
                set: set(s, uid),
                items,
            },
            FetchPartial {
                set: s,
                items,
                range,
            } => FetchPartial {
                set: set(s, true),
                items,
                range,
            },
            Store {
                uid,
                set: s,
                mode,
                silent,
                flags,
            } => Store {
                uid,
                set: set(s, uid),
                mode,
                silent,
                flags,
            },
            FetchChangedSince {
                uid,
                set: s,
                items,
                changed_since,
                vanished,
            } => FetchChangedSince {
                uid,
                set: set(s, uid),
                items,
                changed_since,
                vanished,
            },
            StoreUnchangedSince {
                uid,
                set: s,
                mode,
                silent,
                flags,
                unchanged_since,
            } => StoreUnchangedSince {
                uid,
                set: set(s, uid),
                mode,
                silent,
                flags,
                unchanged_since,
            },
            Copy {
                uid,
                set: s,
                mailbox,
            } => Copy {
                uid,
                set: set(s, uid),
                mailbox,
            },
            Move {
                uid,
                set: s,
                mailbox,
            } => Move {
                uid,
                set: set(s, uid),
                mailbox,
            },
            Expunge { uids: Some(s) } => Expunge {
                uids: Some(set(s, true)),
            },
            Search {
                uid,
                charset,
                mut criteria,
                returns,
            } => {
                replace_last_result_in_key(&mut criteria, selected);
                Search {
                    uid,
                    charset,
                    criteria,
                    returns,
                }
            }
            Sort {
                uid,
                criteria,
                charset,
                mut search,
                returns,
            } => {
                replace_last_result_in_key(&mut search, selected);
                Sort {
                    uid,
                    criteria,
                    charset,
                    search,
                    returns,
                }
            }
            Thread {
                uid,
                algorithm,
                charset,
                mut search,
            } => {
                replace_last_result_in_key(&mut search, selected);
                Thread {
                    uid,
                    algorithm,
                    charset,
                    search,
                }
            }
            other => other,
        }
    }
}

/// Whether a key tree has a MODSEQ key.
fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        _ => false,
    }
}

/// Replaces `$` in a search key tree (as a sequence set or after `UID`) by `UID <saved>`:
/// the same messages whether the command counts in UIDs or sequence numbers. SORT's
/// criteria go through this too.
pub fn replace_last_result_in_key(key: &mut SearchKey, selected: &Selected) {
    match key {
        SearchKey::SequenceSet(set) | SearchKey::Uid(set) if set.is_last_result() => {
            *key = SearchKey::Uid(last_result_set(selected, true));
        }
        SearchKey::And(keys) => keys
            .iter_mut()
            .for_each(|k| replace_last_result_in_key(k, selected)),
        SearchKey::Not(k) => replace_last_result_in_key(k, selected),
        SearchKey::Or(a, b) => {
            replace_last_result_in_key(a, selected);
            replace_last_result_in_key(b, selected);
        }
        _ => {}
    }
}

/// The saved result as a UID set or as the current sequence numbers of its messages,
/// leaving out the ones no longer in the folder; [`SequenceSet::nothing`] when none is.
fn last_result_set(selected: &Selected, uid: bool) -> SequenceSet {
    let mailbox = &selected.mailbox;
    let numbers: Vec<u32> = selected
        .search_result
        .iter()
        .filter_map(|&u| {
            let index = mailbox.index_of_uid(u)?;
            Some(if uid { u } else { index as u32 + 1 })
        })
        .collect();
    set_of(&numbers)
}

/// Ascending numbers as a set of runs.
fn set_of(numbers: &[u32]) -> SequenceSet {
    let mut ranges: Vec<SeqRange> = Vec::new();
    for &n in numbers {
        if let Some(last) = ranges.last_mut()
            && let SeqNum::Value(end) = last.last
            && end.checked_add(1) == Some(n)
        {
            last.last = SeqNum::Value(n);
            continue;
        }
        ranges.push(SeqRange {
            first: SeqNum::Value(n),
            last: SeqNum::Value(n),
        });
    }
    SequenceSet::new(ranges).unwrap_or_else(SequenceSet::nothing)
}

/// Keeps `kept` (UIDs or sequence numbers, as the SEARCH counted) as UIDs for `$`.
fn save_result(selected: &mut Selected, kept: &[u32], uid: bool) {
    let mailbox = &selected.mailbox;
    let mut uids: Vec<u32> = if uid {
        kept.to_vec()
    } else {
        kept.iter()
            .filter_map(|&seq| {
                let index = (seq as usize).checked_sub(1)?;
                (index < mailbox.len()).then(|| mailbox.message(index).uid)
            })
            .collect()
    };
    uids.sort_unstable();
    selected.search_result = uids;
}
