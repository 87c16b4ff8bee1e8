//! Flags, dates and the STORE and APPEND commands (RFC 3501 §6.4.6, §6.3.11, §9).

use super::{PResult, Parser};
use crate::imap::command::{AppendMessage, CommandBody, Date, DateTime, Flag, StoreMode};

impl Parser {
    /// `flag` of STORE and APPEND (RFC 3501 §9), which has no `\Recent`.
    ///
    /// A flag in STORE/APPEND: `\Recent` and `\*` are refused.
    pub(super) fn store_flag(&mut self) -> PResult<Flag> {
        let f = self.flag()?;
        if f == Flag::Recent {
            return Err("\\Recent cannot be set by a client".into());
        }
        Ok(f)
    }

    /// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
    ///        flag-keyword / flag-extension` (RFC 3501 §9), plus `\Recent`.
    pub(super) fn flag(&mut self) -> PResult<Flag> {
        if self.eat(b'\\') {
            if self.peek() == Some(b'*') {
                return Err("\\* is not a flag".into());
            }
            let a = self.atom()?;
            Ok(match a.to_ascii_uppercase().as_str() {
                "SEEN" => Flag::Seen,
                "ANSWERED" => Flag::Answered,
                "FLAGGED" => Flag::Flagged,
                "DELETED" => Flag::Deleted,
                "DRAFT" => Flag::Draft,
                "RECENT" => Flag::Recent,
                _ => Flag::Extension(a),
            })
        } else {
            Ok(Flag::Keyword(self.atom()?))
        }
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"` (RFC 3501 §9).
    pub(super) fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.store_flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// `date-month = "Jan" / "Feb" / ... / "Dec"` (RFC 3501 §9, case-insensitive).
    pub(super) fn month(&mut self) -> PResult<u8> {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        for (i, m) in MONTHS.iter().enumerate() {
            if self.eat_word(m) {
                return Ok(i as u8 + 1);
            }
        }
        Err("invalid month".into())
    }

    /// `min` to `max` DIGITs (`date-day`, `date-year`, `time`, `zone`).
    pub(super) fn digits(&mut self, min: usize, max: usize) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.len() < min || d.len() > max {
            return Err("invalid date".into());
        }
        Ok(d.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0')))
    }

    /// `date-text = date-day "-" date-month "-" date-year` (RFC 3501 §9).
    ///
    /// `d-Mon-yyyy` without quotes.
    pub(super) fn date_text(&mut self) -> PResult<Date> {
        let day = self.digits(1, 2)?;
        self.expect(b'-').map_err(|_| "invalid date")?;
        let month = self.month()?;
        self.expect(b'-').map_err(|_| "invalid date")?;
        let year = self.digits(4, 4)?;
        make_date(year, month, day)
    }

    /// `date = date-text / DQUOTE date-text DQUOTE` (RFC 3501 §9).
    ///
    /// A SEARCH date: `d-Mon-yyyy`, optionally quoted.
    pub(super) fn date(&mut self) -> PResult<Date> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.expect(b'"')?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    /// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone
    /// DQUOTE` (RFC 3501 §9).
    ///
    /// APPEND's `"dd-Mon-yyyy hh:mm:ss +zzzz"` (a day below 10 may be ` 9` or `9` or `09`).
    pub(super) fn date_time(&mut self) -> PResult<DateTime> {
        self.expect(b'"')?;
        self.eat(b' ');
        let date = self.date_text()?;
        self.sp()?;
        let hour = self.digits(2, 2)?;
        self.expect(b':')?;
        let minute = self.digits(2, 2)?;
        self.expect(b':')?;
        let second = self.digits(2, 2)?;
        self.sp()?;
        let sign: i16 = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err("invalid time zone".into()),
        };
        self.pos += 1;
        let zone = self.digits(4, 4)?;
        self.expect(b'"')?;
        if hour > 23 || minute > 59 || second > 60 || zone / 100 > 23 || zone % 100 > 59 {
            return Err("invalid time".into());
        }
        Ok(DateTime {
            date,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            zone_minutes: sign * ((zone / 100 * 60 + zone % 100) as i16),
        })
    }

    /// `append = "APPEND" SP mailbox 1*append-message` with
    /// `append-message = SP [flag-list SP] [date-time SP] append-data` (RFC 3502 §6,
    /// MULTIAPPEND; RFC 3501 §9 for one message), where the data is a literal, a
    /// `literal8` (RFC 3516 §4.4) or `"UTF8" SP "(" literal8 ")"` (RFC 6855 §4), after the
    /// command name.
    pub(super) fn append(&mut self) -> PResult<CommandBody> {
        let mailbox = self.sp_mailbox()?;
        self.sp()?;
        let first = self.append_message()?;
        let mut more = Vec::new();
        while self.eat(b' ') {
            more.push(self.append_message()?);
        }
        Ok(CommandBody::Append {
            mailbox,
            flags: first.flags,
            date: first.date,
            message: first.message,
            utf8: first.utf8,
            binary: first.binary,
            more,
        })
    }

    /// One `append-message` after its leading SP (RFC 3502 §6).
    fn append_message(&mut self) -> PResult<AppendMessage> {
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            date = Some(self.date_time()?);
            self.sp()?;
        }
        let (message, utf8, binary) = if self.eat_word_sp("UTF8") {
            self.expect(b'(')?;
            let (data, binary) = self.literal_data(true)?;
            self.expect(b')')?;
            (data, true, binary)
        } else {
            let (data, binary) = self.literal_data(true)?;
            (data, false, binary)
        };
        Ok(AppendMessage {
            flags,
            date,
            message,
            utf8,
            binary,
        })
    }

    /// `store = "STORE" SP sequence-set SP store-att-flags` (RFC 3501 §9), with
    /// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`.
    pub(super) fn store(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        // `store-modifiers` (RFC 4466 §2.5): the one served is `UNCHANGEDSINCE n`
        // (RFC 7162 §3.1.3).
        let mut unchanged_since = None;
        if self.eat_word("(") {
            if !self.eat_word_sp("UNCHANGEDSINCE") {
                return Err("unknown STORE modifier".into());
            }
            unchanged_since = Some(self.number64()?);
            self.expect(b')')?;
            self.sp()?;
        }
        let mode = if self.eat(b'+') {
            StoreMode::Add
        } else if self.eat(b'-') {
            StoreMode::Remove
        } else {
            StoreMode::Replace
        };
        let what = self.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
        let silent = if what.eq_ignore_ascii_case(b"FLAGS") {
            false
        } else if what.eq_ignore_ascii_case(b"FLAGS.SILENT") {
            true
        } else {
            return Err("expected FLAGS or FLAGS.SILENT".into());
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut flags = vec![self.store_flag()?];
            while self.eat(b' ') {
                flags.push(self.store_flag()?);
            }
            flags
        };
        Ok(match unchanged_since {
            Some(unchanged_since) => CommandBody::StoreUnchangedSince {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            },
            None => CommandBody::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            },
        })
    }
}

/// A `date-day` / `date-month` / `date-year` triple that names a real day.
fn make_date(year: u32, month: u8, day: u32) -> PResult<Date> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days {
        return Err("invalid date".into());
    }
    Ok(Date {
        year: year as u16,
        month,
        day: day as u8,
    })
}
