//! Arguments of the commands valid in any state: AUTHENTICATE's initial response
//! (RFC 4959) and ID's parameters (RFC 2971).

use super::{PResult, Parser};
use crate::imap::command::IdParams;

impl Parser {
    /// `initial-resp = (base64 / "=")` (RFC 4959 §7; `=` is an empty response).
    pub(super) fn initial_response(&mut self) -> PResult<String> {
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

    /// `id-params-list = "(" *(string SP nstring) ")" / nil` (RFC 2971 §4).
    pub(super) fn id_params(&mut self) -> PResult<Option<IdParams>> {
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
}
