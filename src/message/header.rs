//! Header blocks on raw bytes: where a block ends, its fields as byte ranges, unfolding, and
//! the MIME `value; name=value` syntax of Content-Type and Content-Disposition (RFC 2045).
//! Everything here works on byte offsets so sections and ENVELOPE can hand out the raw bytes.

use std::ops::Range;

/// One header field inside `raw`: `start..end` covers the name, the colon, the value and every
/// continuation line including the final line break (when there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub start: usize,
    pub name_end: usize,
    pub value_start: usize,
    pub end: usize,
}

impl Field {
    pub fn name<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        &raw[self.start..self.name_end]
    }

    pub fn is(&self, raw: &[u8], name: &[u8]) -> bool {
        self.name(raw).eq_ignore_ascii_case(name)
    }

    /// The value bytes as written: leading space, folds and the final line break included.
    pub fn raw_value<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        &raw[self.value_start..self.end]
    }

    /// The value with line breaks removed (a fold is CRLF + WSP, so the WSP stays) and
    /// surrounding white space trimmed: what ENVELOPE sends for Date, Subject, Message-ID.
    pub fn unfolded(&self, raw: &[u8]) -> Vec<u8> {
        unfold(self.raw_value(raw))
    }
}

pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    trim_wsp(&v).to_vec()
}

pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// The end of the line starting at `i`: the index after its `\n`, or `end`.
fn line_end(raw: &[u8], i: usize, end: usize) -> usize {
    raw[i..end]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(end, |p| i + p + 1)
}

fn is_blank_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// The length of a header field name at the start of `line` if the line opens a field
/// (`name:` with printable, non-space name bytes; WSP before the colon is obsolete but seen).
fn field_name_len(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let trimmed_len = name.iter().rposition(|&b| !is_wsp(b)).map_or(0, |p| p + 1);
    let valid = trimmed_len > 0
        && name[..trimmed_len]
            .iter()
            .all(|&b| (0x21..0x7f).contains(&b) && b != b':');
    valid.then_some(trimmed_len)
}

/// Where the header block that starts at `start` ends (just after its blank line), within
/// `raw[start..end]`. `Some(start)` when no line before the blank line is a header field
/// (a body without header; a stray first line such as an mbox `From ` line does not count as
/// that, as long as a field follows). `None` when no blank line comes.
pub(crate) fn block_end(raw: &[u8], start: usize, end: usize) -> Option<usize> {
    let mut any_field = false;
    let mut i = start;
    while i < end {
        let e = line_end(raw, i, end);
        let line = &raw[i..e];
        if is_blank_line(line) {
            return Some(if any_field || i == start { e } else { start });
        }
        any_field = any_field || field_name_len(line).is_some();
        i = e;
    }
    None
}

/// Splits the header block at `start..end` into fields: the [`lines`] that are fields.
/// Lines that are neither a field nor a continuation are skipped, and so are their
/// continuations.
pub(crate) fn fields(raw: &[u8], start: usize, end: usize) -> Vec<Field> {
    lines(raw, start, end)
        .into_iter()
        .filter_map(|(line, name)| {
            let name = name?;
            let colon = raw[line.clone()]
                .iter()
                .position(|&b| b == b':')
                .unwrap_or(name.end - line.start);
            Some(Field {
                start: line.start,
                name_end: name.end,
                value_start: line.start + colon + 1,
                end: line.end,
            })
        })
        .collect()
}

/// Every line of the header block at `start..end` with its continuation lines, in order, up
/// to the blank line: the fields (with their name's range) and the lines that are none (an
/// mbox `From ` line, a line without a colon, `: value` with no name), which
/// BODY[HEADER.FIELDS.NOT] must hand on (RFC 3501 §6.4.5: all header lines not named).
pub(crate) fn lines(
    raw: &[u8],
    start: usize,
    end: usize,
) -> Vec<(Range<usize>, Option<Range<usize>>)> {
    let mut out: Vec<(Range<usize>, Option<Range<usize>>)> = Vec::new();
    let mut i = start;
    while i < end {
        let e = line_end(raw, i, end);
        let line = &raw[i..e];
        if is_blank_line(line) {
            break;
        }
        match out.last_mut() {
            Some(last) if is_wsp(line[0]) => last.0.end = e,
            _ => out.push((i..e, field_name_len(line).map(|n| i..i + n))),
        }
        i = e;
    }
    out
}

pub(crate) fn first<'f>(fields: &'f [Field], raw: &[u8], name: &[u8]) -> Option<&'f Field> {
    fields.iter().find(|f| f.is(raw, name))
}

/// A value of the MIME form `token [/ token] *(; attribute = value)`, parameters kept as
/// written (case and RFC 2231 `*` names included) because BODYSTRUCTURE hands them on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MimeValue {
    pub main: Vec<u8>,
    pub sub: Option<Vec<u8>>,
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

#[cfg(test)]
impl MimeValue {
    pub fn param(&self, name: &[u8]) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tspecial(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_cfws(&mut self) {
        loop {
            match self.peek() {
                Some(b) if b.is_ascii_whitespace() => self.i += 1,
                Some(b'(') => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn skip_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7f || is_tspecial(b) {
                break;
            }
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn quoted(&mut self) -> Vec<u8> {
        // at the opening quote
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.i += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        out
    }

    /// A parameter value: a quoted string, or (leniently, since `boundary=--=_x` unquoted is
    /// common) everything up to `;`, white space or a comment (RFC 2045 §5.1: a comment is
    /// never part of a value).
    fn param_value(&mut self) -> Vec<u8> {
        if self.peek() == Some(b'"') {
            return self.quoted();
        }
        let start = self.i;
        while let Some(b) = self.peek() {
            if b == b';' || b == b'(' || b.is_ascii_whitespace() {
                break;
            }
            self.i += 1;
        }
        self.s[start..self.i].to_vec()
    }

    fn skip_past_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            if b == b'"' {
                self.quoted();
                continue;
            }
            self.i += 1;
            if b == b';' {
                return;
            }
        }
    }
}

/// Parses a Content-Type or Content-Disposition value. `main` is empty when there is no
/// leading token; `sub` is `None` when no `/token` follows it.
pub(crate) fn parse_mime_value(value: &[u8]) -> MimeValue {
    let mut lx = Lexer { s: value, i: 0 };
    let mut out = MimeValue::default();
    lx.skip_cfws();
    out.main = lx.token().to_vec();
    lx.skip_cfws();
    if lx.peek() == Some(b'/') {
        lx.i += 1;
        lx.skip_cfws();
        let sub = lx.token();
        if !sub.is_empty() {
            out.sub = Some(sub.to_vec());
        }
    }
    lx.skip_past_semicolon();
    while lx.peek().is_some() {
        lx.skip_cfws();
        let name = lx.token();
        lx.skip_cfws();
        if !name.is_empty() && lx.peek() == Some(b'=') {
            lx.i += 1;
            lx.skip_cfws();
            let v = lx.param_value();
            out.params.push((name.to_vec(), v));
        }
        lx.skip_past_semicolon();
    }
    out.params = join_rfc2231(out.params);
    out
}

/// The first token of a structured value with its comments and white space dropped
/// (RFC 2045 §6.1: `Content-Transfer-Encoding: 7bit (plain)` is `7bit`); empty when none.
pub(crate) fn leading_token(value: &[u8]) -> Vec<u8> {
    let mut lx = Lexer { s: value, i: 0 };
    lx.skip_cfws();
    lx.token().to_vec()
}

/// The Content-Transfer-Encoding mechanism of a header block without comments or white
/// space (`7bit (plain)` is `7bit`); `None` when the field is absent or holds no token.
pub(crate) fn transfer_encoding(raw: &[u8], fields: &[Field]) -> Option<Vec<u8>> {
    let f = first(fields, raw, b"Content-Transfer-Encoding")?;
    Some(leading_token(&f.unfolded(raw))).filter(|t| !t.is_empty())
}

/// The value without its comments (RFC 5322 §3.2.2), white space kept: for fields such as
/// Content-Language whose items are plain tokens (`en (English), de`).
pub(crate) fn without_comments(value: &[u8]) -> Vec<u8> {
    let mut lx = Lexer { s: value, i: 0 };
    let mut out = Vec::with_capacity(value.len());
    while let Some(b) = lx.peek() {
        match b {
            b'(' => lx.skip_comment(),
            b'"' => {
                let start = lx.i;
                lx.quoted();
                out.extend_from_slice(&value[start..lx.i]);
            }
            _ => {
                out.push(b);
                lx.i += 1;
            }
        }
    }
    out
}

/// One parameter as RFC 2231 names it: `name*n*` is segment `n`, extended (charset'lang'
/// prefix on segment 0, %XX escapes) when the name ends in `*`.
struct Rfc2231Name<'a> {
    base: &'a [u8],
    segment: Option<u32>,
    extended: bool,
}

fn rfc2231_name(name: &[u8]) -> Rfc2231Name<'_> {
    let (rest, extended) = match name.strip_suffix(b"*") {
        Some(r) => (r, true),
        None => (name, false),
    };
    if let Some(star) = rest.iter().rposition(|&b| b == b'*') {
        let digits = &rest[star + 1..];
        let number = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok());
        if let Some(n) = number {
            return Rfc2231Name {
                base: &rest[..star],
                segment: Some(n),
                extended,
            };
        }
    }
    Rfc2231Name {
        base: rest,
        segment: None,
        extended,
    }
}

/// `%XX` escapes undone (RFC 2231 §4); a `%` not followed by two hex digits stays.
fn percent_decode(v: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%'
            && let (Some(h), Some(l)) = (
                v.get(i + 1).copied().and_then(hex),
                v.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// Bytes in `charset` as UTF-8 (encoding_rs's WHATWG labels); the bytes as they are when the
/// charset is unknown or empty.
pub(crate) fn charset_to_utf8(bytes: &[u8], charset: &[u8]) -> Vec<u8> {
    match encoding_rs::Encoding::for_label(charset) {
        Some(enc) if enc != encoding_rs::UTF_8 => enc
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()
            .into_bytes(),
        _ => bytes.to_vec(),
    }
}

/// RFC 2231 parameters joined and decoded, as RFC 9051 §7.5.2 asks of BODYSTRUCTURE:
/// `name*0*=utf-8'en'a%20b; name*1=c` becomes `name` = `a bc` in UTF-8 (segments in
/// numeric order whatever their order in the header; the language tag is dropped; a
/// charset encoding_rs does not know leaves the bytes as they are). An extended parameter
/// replaces a plain one of the same name (RFC 2231 §4: senders give both for old readers).
/// Plain parameters are kept as written, in their order; a joined one takes the place of
/// its first segment.
fn join_rfc2231(params: Vec<Param>) -> Vec<Param> {
    if !params.iter().any(|(n, _)| n.contains(&b'*')) {
        return params;
    }
    // (base name as first written, segments (number, extended, value)) by first position.
    let mut groups: Vec<(Vec<u8>, Vec<Segment>)> = Vec::new();
    // Each parameter's place: a group's index, or a plain parameter.
    let mut order: Vec<Result<usize, Param>> = Vec::new();
    for (name, value) in params {
        let n = rfc2231_name(&name);
        if !n.extended && n.segment.is_none() {
            order.push(Err((name, value)));
            continue;
        }
        let seg = (n.segment.unwrap_or(0), n.extended, value);
        match groups
            .iter()
            .position(|(b, _)| b.eq_ignore_ascii_case(n.base))
        {
            Some(g) => groups[g].1.push(seg),
            None => {
                groups.push((n.base.to_vec(), vec![seg]));
                order.push(Ok(groups.len() - 1));
            }
        }
    }
    let joined: Vec<Param> = groups
        .into_iter()
        .map(|(base, mut segs)| {
            segs.sort_by_key(|s| s.0);
            (base, join_segments(&segs))
        })
        .collect();
    order
        .into_iter()
        .filter_map(|o| match o {
            Ok(g) => Some(joined[g].clone()),
            // The decoded extended value wins over a plain fallback of the same name.
            Err((name, _)) if joined.iter().any(|(b, _)| b.eq_ignore_ascii_case(&name)) => None,
            Err(plain) => Some(plain),
        })
        .collect()
}

/// A parameter as written: name and value.
type Param = (Vec<u8>, Vec<u8>);

/// One RFC 2231 segment: its number, whether it is extended, its value as written.
type Segment = (u32, bool, Vec<u8>);

/// The value of sorted RFC 2231 segments: the charset and language of segment 0 (when
/// extended) apply to the escaped bytes of every extended segment (RFC 2231 §4.1).
fn join_segments(segs: &[Segment]) -> Vec<u8> {
    let mut charset: &[u8] = b"";
    let mut bytes = Vec::new();
    for (i, (_, extended, value)) in segs.iter().enumerate() {
        if !extended {
            bytes.extend_from_slice(value);
            continue;
        }
        let mut v = value.as_slice();
        if i == 0 {
            let mut quotes = v
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\'')
                .map(|(i, _)| i);
            if let (Some(a), Some(b)) = (quotes.next(), quotes.next()) {
                charset = &value[..a];
                v = &value[b + 1..];
            }
        }
        bytes.extend_from_slice(&percent_decode(v));
    }
    charset_to_utf8(&bytes, charset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_end_finds_blank_line_or_body_only() {
        assert_eq!(block_end(b"A: b\r\n\r\nbody", 0, 12), Some(8));
        assert_eq!(block_end(b"\r\nbody", 0, 6), Some(2));
        assert_eq!(block_end(b"just text\r\n\r\nmore\r\n", 0, 19), Some(0));
        assert_eq!(block_end(b"just text\r\nmore\r\n", 0, 17), None);
        let mbox = b"From x Mon 1 00:00\r\nA: b\r\n\r\n";
        assert_eq!(block_end(mbox, 0, mbox.len()), Some(mbox.len()));
        assert_eq!(block_end(b"A: b\r\nC: d\r\n", 0, 12), None);
        assert_eq!(block_end(b"A: b\n\nx", 0, 7), Some(6));
        assert_eq!(block_end(b"Subj", 0, 4), None);
    }

    #[test]
    fn fields_with_folds_and_garbage() {
        let raw = b"Subject: a\r\n b\r\ngarbage line\r\n cont\r\nTo : x\r\n\r\n";
        let f = fields(raw, 0, raw.len());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name(raw), b"Subject");
        assert_eq!(f[0].raw_value(raw), b" a\r\n b\r\n");
        assert_eq!(f[0].unfolded(raw), b"a b");
        assert_eq!(f[1].name(raw), b"To");
        assert_eq!(f[1].unfolded(raw), b"x");
    }

    #[test]
    fn mime_values() {
        let v = parse_mime_value(b" Text/Plain ; charset=\"utf-8\" (c); Format=flowed");
        assert_eq!(v.main, b"Text");
        assert_eq!(v.sub.as_deref(), Some(&b"Plain"[..]));
        assert_eq!(
            v.params,
            vec![
                (b"charset".to_vec(), b"utf-8".to_vec()),
                (b"Format".to_vec(), b"flowed".to_vec())
            ]
        );
        let v = parse_mime_value(b"multipart/mixed;\r\n boundary=----=_Part_1");
        assert_eq!(v.param(b"BOUNDARY"), Some(&b"----=_Part_1"[..]));
        let v = parse_mime_value(b"attachment; filename=\"a \\\"b\\\".txt\"");
        assert_eq!(v.main, b"attachment");
        assert_eq!(v.sub, None);
        assert_eq!(v.param(b"filename"), Some(&b"a \"b\".txt"[..]));
        let v = parse_mime_value(b";;=;x");
        assert!(v.main.is_empty() && v.params.is_empty());
    }
}
