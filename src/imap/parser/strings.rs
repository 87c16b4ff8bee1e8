//! Strings (RFC 3501 §4.3, §9): atoms live with the cursor in the parent module; here are
//! quoted strings, literals (and literal8), `string`, `astring` and `nstring`.

use super::{PResult, Parser};
use crate::imap::command::LiteralData;
use crate::imap::syntax::is_atom_char;

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials` (RFC 3501 §9).
pub(super) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

impl Parser {
    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE` (RFC 3501 §9).
    ///
    /// `"..."` with `\"` and `\\` escapes. 8-bit bytes are let through (UTF-8 clients).
    pub(super) fn quoted(&mut self) -> PResult<Vec<u8>> {
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
    pub(super) fn at_literal(&self) -> bool {
        matches!(self.peek(), Some(b'{'))
            || (self.peek() == Some(b'~') && self.peek_at(1) == Some(b'{'))
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (RFC 9051 §9, `+` from RFC 7888)
    /// and, when `binary_ok`, `literal8 = "~{" number64 "}" CRLF *OCTET` (RFC 3516).
    ///
    /// A literal: the marker must end the current line, and the data follows it.
    pub(super) fn literal_data(&mut self, binary_ok: bool) -> PResult<(LiteralData, bool)> {
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

    /// `literal` (see [`Self::literal_data`]) held in memory.
    pub(super) fn literal(&mut self) -> PResult<Vec<u8>> {
        match self.literal_data(false)?.0 {
            LiteralData::Memory(v) => Ok(v),
            LiteralData::Spooled(_) => Err("unexpected message literal".into()),
        }
    }

    /// `string = quoted / literal` (RFC 3501 §9).
    pub(super) fn string(&mut self) -> PResult<Vec<u8>> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else if self.at_literal() {
            self.literal()
        } else {
            Err("expected a string".into())
        }
    }

    /// `astring = 1*ASTRING-CHAR / string` (RFC 3501 §9).
    pub(super) fn astring(&mut self) -> PResult<Vec<u8>> {
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

    /// `nstring = string / nil` (RFC 3501 §9).
    pub(super) fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.peek() != Some(b'"') && !self.at_literal() {
            let a = self.atom()?;
            if a.eq_ignore_ascii_case("NIL") {
                return Ok(None);
            }
            return Err("expected a string or NIL".into());
        }
        self.string().map(Some)
    }

    pub(super) fn utf8(v: Vec<u8>, what: &str) -> PResult<String> {
        String::from_utf8(v).map_err(|_| format!("{what} is not valid UTF-8"))
    }

    /// An `astring` that must be UTF-8 (`what` names it in the error).
    pub(super) fn astring_utf8(&mut self, what: &str) -> PResult<String> {
        let v = self.astring()?;
        Self::utf8(v, what)
    }

    /// `SP astring`.
    pub(super) fn sp_astring(&mut self) -> PResult<Vec<u8>> {
        self.sp()?;
        self.astring()
    }
}
