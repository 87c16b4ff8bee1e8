//! The IMAP command grammar (RFC 3501 §9 and the extensions in [`super::command`]) over a
//! [`RawCommand`] that [`super::framing`] read: lines with their literals already taken off
//! the wire. A literal may stand wherever the grammar allows a `literal`, i.e. as a string.

use super::command::*;
use super::framing::{CommandError, RawCommand};
use super::syntax::is_atom_char;

/// Deepest nesting of search keys and parenthesized lists, so a hostile command cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 64;

type PResult<T> = Result<T, String>;

/// Whether `t` is a valid tag: 1*<ASTRING-CHAR except "+">.
pub fn is_tag(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|&b| is_astring_char(b) && b != b'+')
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// Parses one command; on error, the tag is set whenever it could be read.
pub fn parse_command(raw: RawCommand) -> Result<Command, CommandError> {
    let mut p = Parser::new(raw);
    let tag = match p.tag() {
        Ok(t) => t,
        Err(e) => return Err(CommandError::bad(None, e)),
    };
    let body = p
        .sp()
        .and_then(|_| p.command_body())
        .and_then(|b| p.end().map(|_| b));
    match body {
        Ok(body) => Ok(Command { tag, body }),
        Err(e) => Err(CommandError::bad(Some(&tag), e)),
    }
}

/// A cursor over the lines of a command; literals sit between consecutive lines.
struct Parser {
    lines: Vec<Vec<u8>>,
    literals: Vec<Option<LiteralData>>,
    seg: usize,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn new(raw: RawCommand) -> Parser {
        Parser {
            lines: raw.lines,
            literals: raw.literals.into_iter().map(Some).collect(),
            seg: 0,
            pos: 0,
            depth: 0,
        }
    }

    fn line(&self) -> &[u8] {
        self.lines.get(self.seg).map(Vec::as_slice).unwrap_or(&[])
    }

    fn peek(&self) -> Option<u8> {
        self.line().get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.line().get(self.pos + k).copied()
    }

    fn rest(&self) -> &[u8] {
        &self.line()[self.pos.min(self.line().len())..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.line().len()
    }

    /// Whether the whole command has been consumed.
    fn end(&self) -> PResult<()> {
        if self.seg + 1 == self.lines.len() && self.at_end() {
            Ok(())
        } else {
            Err("unexpected characters at end of command".into())
        }
    }

    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}'", b as char))
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
            .map_err(|_| "expected a space".to_string())
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `word` (case-insensitively) if the input starts with it.
    fn eat_word(&mut self, word: &str) -> bool {
        let r = self.rest();
        if r.len() >= word.len() && r[..word.len()].eq_ignore_ascii_case(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// Like [`Self::eat_word`] but only when followed by `SP` (consumed too).
    fn eat_word_sp(&mut self, word: &str) -> bool {
        let r = self.rest();
        let n = word.len();
        if r.len() > n && r[..n].eq_ignore_ascii_case(word.as_bytes()) && r[n] == b' ' {
            self.pos += n + 1;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &[u8] {
        let start = self.pos.min(self.line().len());
        let n = self.line()[start..].iter().take_while(|&&b| f(b)).count();
        self.pos = start + n;
        &self.lines[self.seg][start..start + n]
    }

    fn tag(&mut self) -> PResult<String> {
        let t = self
            .take_while(|b| is_astring_char(b) && b != b'+')
            .to_vec();
        if t.is_empty() || !matches!(self.peek(), Some(b' ') | None) {
            return Err("invalid tag".into());
        }
        Ok(String::from_utf8_lossy(&t).into_owned())
    }

    fn atom(&mut self) -> PResult<String> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err("expected an atom".into());
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    /// An atom, upper-cased, for keyword comparisons.
    fn keyword(&mut self) -> PResult<String> {
        Ok(self.atom()?.to_ascii_uppercase())
    }

    fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return Err("expected a number".into());
        }
        if d.len() > 20 {
            return Err("number too large".into());
        }
        let mut n: u64 = 0;
        for &c in d {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or("number too large")?;
        }
        Ok(n)
    }

    fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| "number too large".into())
    }

    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err("zero is not allowed here".into()),
            n => Ok(n),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err("nested too deeply".into())
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ----- strings -----

    /// `"..."` with `\"` and `\\` escapes. 8-bit bytes are let through (UTF-8 clients).
    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => match self.peek_at(1) {
                    Some(c @ (b'"' | b'\\')) => {
                        out.push(c);
                        self.pos += 2;
                    }
                    _ => return Err("invalid escape in quoted string".into()),
                },
                Some(0) => return Err("NUL in quoted string".into()),
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Whether a literal marker (`{n}`, `{n+}`, `~{n}`) that ends this line starts here.
    fn at_literal(&self) -> bool {
        matches!(self.peek(), Some(b'{'))
            || (self.peek() == Some(b'~') && self.peek_at(1) == Some(b'{'))
    }

    /// A literal: the marker must end the current line, and the data follows it.
    fn literal_data(&mut self, binary_ok: bool) -> PResult<(LiteralData, bool)> {
        let binary = self.eat(b'~');
        if binary && !binary_ok {
            return Err("literal8 is not allowed here".into());
        }
        self.expect(b'{')?;
        let len = self.number64()?;
        self.eat(b'+');
        self.expect(b'}')?;
        if !self.at_end() || self.seg + 1 >= self.lines.len() {
            return Err("literal must end the line".into());
        }
        let data = self
            .literals
            .get_mut(self.seg)
            .and_then(Option::take)
            .ok_or("missing literal")?;
        if data.len() != len {
            return Err("literal length mismatch".into());
        }
        self.seg += 1;
        self.pos = 0;
        Ok((data, binary))
    }

    fn literal(&mut self) -> PResult<Vec<u8>> {
        match self.literal_data(false)?.0 {
            LiteralData::Memory(v) => Ok(v),
            LiteralData::Spooled(_) => Err("unexpected message literal".into()),
        }
    }

    fn string(&mut self) -> PResult<Vec<u8>> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else if self.at_literal() {
            self.literal()
        } else {
            Err("expected a string".into())
        }
    }

    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            _ if self.at_literal() => self.literal(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("expected a string".into())
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.peek() != Some(b'"') && !self.at_literal() {
            let a = self.atom()?;
            if a.eq_ignore_ascii_case("NIL") {
                return Ok(None);
            }
            return Err("expected a string or NIL".into());
        }
        self.string().map(Some)
    }

    fn utf8(v: Vec<u8>, what: &str) -> PResult<String> {
        String::from_utf8(v).map_err(|_| format!("{what} is not valid UTF-8"))
    }

    fn astring_utf8(&mut self, what: &str) -> PResult<String> {
        let v = self.astring()?;
        Self::utf8(v, what)
    }

    fn mailbox(&mut self) -> PResult<String> {
        self.astring_utf8("mailbox name")
    }

    /// `list-mailbox`: like an astring, but `%` and `*` may stand unquoted.
    fn list_mailbox(&mut self) -> PResult<String> {
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

    // ----- commands -----

    fn command_body(&mut self) -> PResult<CommandBody> {
        let name = self.keyword()?;
        use CommandBody as C;
        Ok(match name.as_str() {
            "CAPABILITY" => C::Capability,
            "NOOP" => C::Noop,
            "LOGOUT" => C::Logout,
            "STARTTLS" => C::StartTls,
            "CHECK" => C::Check,
            "CLOSE" => C::Close,
            "UNSELECT" => C::Unselect,
            "EXPUNGE" => C::Expunge { uids: None },
            "IDLE" => C::Idle,
            "NAMESPACE" => C::Namespace,
            "ID" => {
                self.sp()?;
                C::Id(self.id_params()?)
            }
            "LOGIN" => {
                self.sp()?;
                let username = self.astring_utf8("user name")?;
                self.sp()?;
                let password = self.astring()?;
                C::Login { username, password }
            }
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.keyword()?;
                let initial_response = if self.eat(b' ') {
                    Some(self.initial_response()?)
                } else {
                    None
                };
                C::Authenticate {
                    mechanism,
                    initial_response,
                }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let params = self.select_params()?;
                if name == "SELECT" {
                    C::Select { mailbox, params }
                } else {
                    C::Examine { mailbox, params }
                }
            }
            "CREATE" => C::Create {
                mailbox: self.sp_mailbox()?,
            },
            "DELETE" => C::Delete {
                mailbox: self.sp_mailbox()?,
            },
            "SUBSCRIBE" => C::Subscribe {
                mailbox: self.sp_mailbox()?,
            },
            "UNSUBSCRIBE" => C::Unsubscribe {
                mailbox: self.sp_mailbox()?,
            },
            "RENAME" => {
                let from = self.sp_mailbox()?;
                let to = self.sp_mailbox()?;
                C::Rename { from, to }
            }
            "LIST" => self.list()?,
            "LSUB" => {
                let reference = self.sp_mailbox()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                C::Lsub { reference, pattern }
            }
            "STATUS" => {
                let mailbox = self.sp_mailbox()?;
                self.sp()?;
                C::Status {
                    mailbox,
                    items: self.status_items()?,
                }
            }
            "APPEND" => self.append()?,
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.eat(b' ') {
                    caps.push(self.atom()?);
                }
                if caps.is_empty() {
                    return Err("ENABLE needs at least one capability".into());
                }
                C::Enable(caps)
            }
            "GETQUOTA" => {
                self.sp()?;
                C::GetQuota {
                    root: self.astring_utf8("quota root")?,
                }
            }
            "GETQUOTAROOT" => C::GetQuotaRoot {
                mailbox: self.sp_mailbox()?,
            },
            "SETQUOTA" => {
                self.sp()?;
                let root = self.astring_utf8("quota root")?;
                self.sp()?;
                self.expect(b'(')?;
                let mut limits = Vec::new();
                if !self.eat(b')') {
                    loop {
                        let res = self.keyword()?;
                        self.sp()?;
                        limits.push((res, self.number64()?));
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                }
                C::SetQuota { root, limits }
            }
            "GETACL" => C::GetAcl {
                mailbox: self.sp_mailbox()?,
            },
            "MYRIGHTS" => C::MyRights {
                mailbox: self.sp_mailbox()?,
            },
            "SETACL" => {
                let mailbox = self.sp_mailbox()?;
                self.sp()?;
                let identifier = self.astring_utf8("identifier")?;
                self.sp()?;
                let rights = self.astring_utf8("rights")?;
                C::SetAcl {
                    mailbox,
                    identifier,
                    rights,
                }
            }
            "DELETEACL" | "LISTRIGHTS" => {
                let mailbox = self.sp_mailbox()?;
                self.sp()?;
                let identifier = self.astring_utf8("identifier")?;
                if name == "DELETEACL" {
                    C::DeleteAcl {
                        mailbox,
                        identifier,
                    }
                } else {
                    C::ListRights {
                        mailbox,
                        identifier,
                    }
                }
            }
            "SEARCH" => self.search(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" => self.copy_move(false, false)?,
            "MOVE" => self.copy_move(false, true)?,
            "UID" => {
                self.sp()?;
                let sub = self.keyword()?;
                match sub.as_str() {
                    "SEARCH" => self.search(true)?,
                    "FETCH" => self.fetch(true)?,
                    "STORE" => self.store(true)?,
                    "COPY" => self.copy_move(true, false)?,
                    "MOVE" => self.copy_move(true, true)?,
                    "EXPUNGE" => {
                        self.sp()?;
                        C::Expunge {
                            uids: Some(self.sequence_set()?),
                        }
                    }
                    _ => return Err(format!("unknown command UID {sub}")),
                }
            }
            _ => return Err(format!("unknown command {name}")),
        })
    }

    fn sp_mailbox(&mut self) -> PResult<String> {
        self.sp()?;
        self.mailbox()
    }

    fn initial_response(&mut self) -> PResult<String> {
        let r = self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if r == b"=" {
            return Ok(String::new());
        }
        let body = r.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
        if r.is_empty()
            || !r.len().is_multiple_of(4)
            || r.len() - body > 2
            || r[..body].contains(&b'=')
        {
            return Err("invalid base64 initial response".into());
        }
        Ok(String::from_utf8_lossy(r).into_owned())
    }

    fn id_params(&mut self) -> PResult<Option<IdParams>> {
        if !self.eat(b'(') {
            let a = self.atom()?;
            if a.eq_ignore_ascii_case("NIL") {
                return Ok(None);
            }
            return Err("expected ( or NIL".into());
        }
        let mut pairs = Vec::new();
        if self.eat(b')') {
            return Ok(Some(pairs));
        }
        loop {
            let field = String::from_utf8_lossy(&self.string()?).into_owned();
            self.sp()?;
            let value = self
                .nstring()?
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            if pairs.len() >= 30 {
                return Err("too many ID fields".into());
            }
            pairs.push((field, value));
            if self.eat(b')') {
                return Ok(Some(pairs));
            }
            self.sp()?;
        }
    }

    fn select_params(&mut self) -> PResult<Vec<SelectParam>> {
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

    /// Skips a `tagged-ext-val` (RFC 4466) whose meaning we don't use.
    fn skip_ext_value(&mut self) -> PResult<()> {
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

    fn list(&mut self) -> PResult<CommandBody> {
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

    fn status_items(&mut self) -> PResult<Vec<StatusItem>> {
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
                other => return Err(format!("unknown status item {other}")),
            });
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }

    // ----- flags and dates -----

    /// A flag in STORE/APPEND: `\Recent` and `\*` are refused.
    fn store_flag(&mut self) -> PResult<Flag> {
        let f = self.flag()?;
        if f == Flag::Recent {
            return Err("\\Recent cannot be set by a client".into());
        }
        Ok(f)
    }

    fn flag(&mut self) -> PResult<Flag> {
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

    fn flag_list(&mut self) -> PResult<Vec<Flag>> {
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

    fn month(&mut self) -> PResult<u8> {
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

    fn digits(&mut self, min: usize, max: usize) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.len() < min || d.len() > max {
            return Err("invalid date".into());
        }
        Ok(d.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0')))
    }

    /// `d-Mon-yyyy` without quotes.
    fn date_text(&mut self) -> PResult<Date> {
        let day = self.digits(1, 2)?;
        self.expect(b'-').map_err(|_| "invalid date")?;
        let month = self.month()?;
        self.expect(b'-').map_err(|_| "invalid date")?;
        let year = self.digits(4, 4)?;
        make_date(year, month, day)
    }

    /// A SEARCH date: `d-Mon-yyyy`, optionally quoted.
    fn date(&mut self) -> PResult<Date> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.expect(b'"')?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    /// APPEND's `"dd-Mon-yyyy hh:mm:ss +zzzz"` (a day below 10 may be ` 9` or `9` or `09`).
    fn date_time(&mut self) -> PResult<DateTime> {
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

    // ----- APPEND -----

    fn append(&mut self) -> PResult<CommandBody> {
        let mailbox = self.sp_mailbox()?;
        self.sp()?;
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
        let (message, utf8) = if self.eat_word_sp("UTF8") {
            self.expect(b'(')?;
            let (data, _) = self.literal_data(true)?;
            self.expect(b')')?;
            (data, true)
        } else {
            let (data, binary) = self.literal_data(false)?;
            debug_assert!(!binary);
            (data, false)
        };
        Ok(CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
            utf8,
        })
    }

    // ----- sequence sets -----

    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let t = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
        if t.is_empty() {
            return Err("expected a sequence set".into());
        }
        SequenceSet::parse(t).map_err(|e| e.to_string())
    }

    fn copy_move(&mut self, uid: bool, is_move: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        let mailbox = self.sp_mailbox()?;
        Ok(if is_move {
            CommandBody::Move { uid, set, mailbox }
        } else {
            CommandBody::Copy { uid, set, mailbox }
        })
    }

    // ----- STORE -----

    fn store(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
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
        Ok(CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
        })
    }

    // ----- FETCH -----

    fn fetch(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mut items = Vec::new();
        if self.eat(b'(') {
            loop {
                self.fetch_att(&mut items, false)?;
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            self.fetch_att(&mut items, true)?;
        }
        Ok(CommandBody::Fetch { uid, set, items })
    }

    fn fetch_att(&mut self, items: &mut Vec<FetchItem>, macros: bool) -> PResult<()> {
        use FetchItem as F;
        let name = self
            .take_while(|b| b.is_ascii_alphanumeric() || b == b'.')
            .to_ascii_uppercase();
        let name = String::from_utf8_lossy(&name).into_owned();
        let item = match name.as_str() {
            "ALL" | "FAST" | "FULL" if macros => {
                items.extend([F::Flags, F::InternalDate, F::Rfc822Size]);
                if name != "FAST" {
                    items.push(F::Envelope);
                }
                if name == "FULL" {
                    items.push(F::Body);
                }
                return Ok(());
            }
            "ENVELOPE" => F::Envelope,
            "FLAGS" => F::Flags,
            "INTERNALDATE" => F::InternalDate,
            "RFC822" => F::Rfc822,
            "RFC822.HEADER" => F::Rfc822Header,
            "RFC822.SIZE" => F::Rfc822Size,
            "RFC822.TEXT" => F::Rfc822Text,
            "UID" => F::Uid,
            "BODYSTRUCTURE" => F::BodyStructure,
            "BODY" if self.peek() != Some(b'[') => F::Body,
            "BODY" | "BODY.PEEK" => {
                let section = self.section()?;
                let partial = self.partial()?;
                F::BodySection {
                    peek: name == "BODY.PEEK",
                    section,
                    partial,
                }
            }
            "BINARY" | "BINARY.PEEK" => {
                let part = self.binary_section()?;
                let partial = self.partial()?;
                F::Binary {
                    peek: name == "BINARY.PEEK",
                    part,
                    partial,
                }
            }
            "BINARY.SIZE" => F::BinarySize {
                part: self.binary_section()?,
            },
            "" => return Err("expected a fetch item".into()),
            other => return Err(format!("unknown fetch item {other}")),
        };
        items.push(item);
        Ok(())
    }

    fn part_numbers(&mut self) -> PResult<Vec<u32>> {
        let mut part = Vec::new();
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            part.push(self.nz_number()?);
            if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(part)
    }

    fn section(&mut self) -> PResult<Section> {
        self.expect(b'[')?;
        let part = self.part_numbers()?;
        if !part.is_empty() && !self.eat(b'.') {
            self.expect(b']')?;
            return Ok(Section { part, text: None });
        }
        if part.is_empty() && self.eat(b']') {
            return Ok(Section::default());
        }
        let word = self
            .take_while(|b| b.is_ascii_alphabetic() || b == b'.')
            .to_ascii_uppercase();
        let text = match word.as_slice() {
            b"HEADER" => SectionText::Header,
            b"TEXT" => SectionText::Text,
            b"MIME" if !part.is_empty() => SectionText::Mime,
            b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
                self.sp()?;
                let names = self.header_list()?;
                if word.len() == b"HEADER.FIELDS".len() {
                    SectionText::HeaderFields(names)
                } else {
                    SectionText::HeaderFieldsNot(names)
                }
            }
            _ => return Err("invalid section".into()),
        };
        self.expect(b']')?;
        Ok(Section {
            part,
            text: Some(text),
        })
    }

    fn header_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(')?;
        let mut names = Vec::new();
        loop {
            let n = self.astring()?;
            if n.is_empty() || !n.iter().all(|&b| b.is_ascii_graphic() && b != b':') {
                return Err("invalid header field name".into());
            }
            names.push(String::from_utf8_lossy(&n).into_owned());
            if self.eat(b')') {
                return Ok(names);
            }
            self.sp()?;
        }
    }

    fn binary_section(&mut self) -> PResult<Vec<u32>> {
        self.expect(b'[')?;
        let part = self.part_numbers()?;
        self.expect(b']')?;
        Ok(part)
    }

    fn partial(&mut self) -> PResult<Option<Partial>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let offset = self.number()?;
        self.expect(b'.')?;
        let count = self.nz_number()?;
        self.expect(b'>')?;
        Ok(Some(Partial { offset, count }))
    }

    // ----- SEARCH -----

    fn search(&mut self, uid: bool) -> PResult<CommandBody> {
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

    fn search_key(&mut self) -> PResult<SearchKey> {
        self.enter()?;
        let k = self.search_key_inner();
        self.leave();
        k
    }

    fn search_key_inner(&mut self) -> PResult<SearchKey> {
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

    fn sp_astring(&mut self) -> PResult<Vec<u8>> {
        self.sp()?;
        self.astring()
    }

    fn sp_date(&mut self) -> PResult<Date> {
        self.sp()?;
        self.date()
    }
}

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

#[cfg(test)]
mod tests;
