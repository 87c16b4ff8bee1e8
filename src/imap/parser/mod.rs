//! The IMAP command grammar (RFC 3501 §9 and the extensions in [`super::command`]) over a
//! [`RawCommand`] that [`super::framing`] read: lines with their literals already taken off
//! the wire. A literal may stand wherever the grammar allows a `literal`, i.e. as a string.
//!
//! One method of `Parser` per ABNF rule, the rule in its doc comment, grouped by section
//! of the grammar: this file has the cursor, numbers, sequence sets and the command
//! dispatch; `strings` the string rules; `list` mailbox names and LIST patterns;
//! `mailbox` SELECT and STATUS arguments; `connection` AUTHENTICATE and ID;
//! `store_append` flags, dates, STORE and APPEND; `fetch` and `search` theirs; `acl`
//! Courier's ACL command; `sort_thread` SORT and THREAD (RFC 5256).

mod acl;
mod connection;
mod fetch;
mod list;
mod mailbox;
mod search;
mod sort_thread;
mod store_append;
mod strings;

use super::command::*;
use super::raw::{CommandError, RawCommand};
use super::syntax::is_atom_char;
use strings::is_astring_char;

/// Deepest nesting of search keys and parenthesized lists, so a hostile command cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 64;

type PResult<T> = Result<T, String>;

/// Whether `t` is a valid tag: 1*<ASTRING-CHAR except "+">.
pub fn is_tag(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|&b| is_astring_char(b) && b != b'+')
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

    /// `tag = 1*<any ASTRING-CHAR except "+">` (RFC 3501 §9).
    fn tag(&mut self) -> PResult<String> {
        let t = self
            .take_while(|b| is_astring_char(b) && b != b'+')
            .to_vec();
        if t.is_empty() || !matches!(self.peek(), Some(b' ') | None) {
            return Err("invalid tag".into());
        }
        Ok(String::from_utf8_lossy(&t).into_owned())
    }

    /// `atom = 1*ATOM-CHAR` (RFC 3501 §9).
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

    /// `number64 = 1*DIGIT` (RFC 9051 §9): unsigned, at most 2^63-1 there; we take
    /// what fits in a `u64` and let the callers bound it.
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

    /// `number = 1*DIGIT` (RFC 3501 §9): unsigned 32-bit.
    fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| "number too large".into())
    }

    /// `nz-number = digit-nz *DIGIT` (RFC 3501 §9): a non-zero `number`.
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
            // `compress = "COMPRESS" SP algorithm` (RFC 4978 §5).
            "COMPRESS" => {
                self.sp()?;
                C::Compress(self.keyword()?)
            }
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
                uses: self.create_params()?,
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
            "ACL" => self.courier_acl()?,
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
            "SORT" => self.sort(false)?,
            "THREAD" => self.thread(false)?,
            "FETCH" => self.fetch(false)?,
            "STORE" => self.store(false)?,
            "COPY" => self.copy_move(false, false)?,
            "MOVE" => self.copy_move(false, true)?,
            "UID" => {
                self.sp()?;
                let sub = self.keyword()?;
                match sub.as_str() {
                    "SEARCH" => self.search(true)?,
                    "SORT" => self.sort(true)?,
                    "THREAD" => self.thread(true)?,
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

    /// `sequence-set = (seq-number / seq-range) ["," sequence-set]` (RFC 3501 §9), or
    /// `seq-last-command = "$"` (RFC 5182 §4), the saved search result.
    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::last_result());
        }
        let t = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
        if t.is_empty() {
            return Err("expected a sequence set".into());
        }
        SequenceSet::parse(t).map_err(|e| e.to_string())
    }

    /// `copy = "COPY" SP sequence-set SP mailbox` (RFC 3501 §9) and
    /// `move = "MOVE" SP sequence-set SP mailbox` (RFC 6851 §3), after the name.
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
}

#[cfg(test)]
mod tests;
