//! Decoded text for SEARCH: RFC 2047 encoded words, transfer encodings and charsets, all
//! done by mail-parser's decoders on the byte ranges our own MIME tree found.

use std::borrow::Cow;

use mail_parser::HeaderValue;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;

use super::address::{MISSING_DOMAIN, MISSING_MAILBOX, parse_list};
use super::envelope::Address;
use super::header::{self, Field};
use super::mime::{Content, Part};

/// The address fields of RFC 5322 §3.6.2–3.6.3 and §3.6.6.
pub(crate) const ADDRESS_FIELDS: [&str; 11] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Resent-From",
    "Resent-Sender",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
];

/// A header value as SEARCH sees it: address fields as their addresses written plainly
/// (`Name <local@domain>`, comments and folds gone, so `<user (c)@ (c) example.org>` is
/// found by `user@example.org`), other fields unfolded; encoded words decoded in both.
pub(crate) fn header_value(raw: &[u8], field: &Field) -> String {
    let name = field.name(raw);
    if ADDRESS_FIELDS
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
    {
        let plain = addresses_written(&parse_list(&field.unfolded(raw)));
        return unstructured(&plain)
            .unwrap_or_else(|| String::from_utf8_lossy(&plain).into_owned());
    }
    unstructured_value(raw, field)
}

/// Addresses as text: `Name <local@domain>` or `local@domain`, groups as `Group: ...;`,
/// placeholders for missing parts left out.
fn addresses_written(list: &[Address]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first = true;
    for a in list {
        let real = |v: &Option<Vec<u8>>, placeholder: &[u8]| {
            v.clone().filter(|v| v.as_slice() != placeholder)
        };
        let (mailbox, host) = (
            real(&a.mailbox, MISSING_MAILBOX),
            real(&a.host, MISSING_DOMAIN),
        );
        if a.host.is_none() {
            // A group's start (name) or end (all NIL) marker.
            match &a.mailbox {
                Some(group) => {
                    if !first {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(group);
                    out.extend_from_slice(b": ");
                    first = true;
                }
                None => {
                    out.push(b';');
                    first = false;
                }
            }
            continue;
        }
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        let spec = match (mailbox, host) {
            (Some(m), Some(h)) => [m, b"@".to_vec(), h].concat(),
            (Some(m), None) => m,
            (None, _) => Vec::new(),
        };
        match &a.name {
            Some(n) if spec.is_empty() => out.extend_from_slice(n),
            Some(n) => {
                out.extend_from_slice(n);
                out.extend_from_slice(b" <");
                out.extend_from_slice(&spec);
                out.push(b'>');
            }
            None => out.extend_from_slice(&spec),
        }
    }
    out
}

/// Encoded words of `value` (one unfolded line) decoded; `None` when the parser gives
/// nothing.
fn unstructured(value: &[u8]) -> Option<String> {
    let mut v = value.to_vec();
    v.extend_from_slice(b"\r\n");
    match MessageStream::new(&v).parse_unstructured() {
        HeaderValue::Text(t) if !t.is_empty() => Some(t.into_owned()),
        _ => None,
    }
}

/// An unstructured header value with folds removed and encoded words decoded.
fn unstructured_value(raw: &[u8], field: &Field) -> String {
    let mut value = field.raw_value(raw).to_vec();
    // The unstructured parser stops at a line break not followed by white space.
    value.extend_from_slice(b"\r\n");
    let decoded = match MessageStream::new(&value).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    };
    if decoded.is_empty() {
        // Fall back to the bytes themselves (e.g. 8-bit values the parser dropped).
        String::from_utf8_lossy(&header::unfold(field.raw_value(raw))).into_owned()
    } else {
        decoded
    }
}

/// Every field of a header block as `Name: decoded value` lines.
pub(crate) fn header_text(raw: &[u8], fields: &[Field], out: &mut String) {
    for f in fields {
        out.push_str(&String::from_utf8_lossy(f.name(raw)));
        out.push_str(": ");
        // As written (decoded): TEXT finds comments and display names alike.
        out.push_str(&unstructured_value(raw, f));
        out.push('\n');
    }
}

fn charset_to_utf8(bytes: &[u8], charset: Option<&[u8]>) -> String {
    match charset.and_then(charset_decoder) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The part body with its Content-Transfer-Encoding undone (as is when it does not decode).
pub(crate) fn transfer_decoded(raw: &[u8], part: &Part) -> Vec<u8> {
    let body = &raw[part.body.clone()];
    let encoding = header::transfer_encoding(raw, &part.fields).unwrap_or_default();
    let decoded = if encoding.eq_ignore_ascii_case(b"base64") {
        let compact: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64_decode(&compact)
    } else if encoding.eq_ignore_ascii_case(b"quoted-printable") {
        quoted_printable_decode(body)
    } else {
        None
    };
    decoded.unwrap_or_else(|| body.to_vec())
}

/// The text of every text/* leaf under `part` (HTML reduced to its text), and the headers
/// and texts of encapsulated messages, which are part of the body being searched.
pub(crate) fn body_text(raw: &[u8], part: &Part, out: &mut String) {
    match &part.content {
        Content::Multipart(children) => {
            for c in children {
                body_text(raw, c, out);
            }
        }
        Content::Message(inner) => {
            header_text(raw, &inner.fields, out);
            body_text(raw, inner, out);
        }
        Content::Leaf => {
            if !part.ctype.is("text", "*") {
                return;
            }
            let bytes = transfer_decoded(raw, part);
            let text = charset_to_utf8(&bytes, part.ctype.param("charset"));
            if part.ctype.is("text", "html") {
                out.push_str(&html_to_text(&text));
            } else {
                out.push_str(&text);
            }
            out.push('\n');
        }
    }
}

/// The calendar date of a Date: value in its own zone (time and zone are not needed, so
/// any of them parses): `[day-name ","] day month year ...` with comments anywhere, a
/// missing seconds field or an obsolete zone (`Tue, 14 Mar 2017 09:26 EST`), and 2- or
/// 3-digit years as RFC 5322 §4.3 reads them.
pub(crate) fn date_of(value: &[u8]) -> Option<(i32, u32, u32)> {
    let text = header::without_comments(value);
    let text = String::from_utf8_lossy(&text);
    let words: Vec<&str> = text
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(3).find_map(|w| {
        let day: u32 = w[0].parse().ok().filter(|d| (1..=31).contains(d))?;
        let month = month_number(w[1])?;
        let digits = w[2];
        if !(2..=4).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let y: i32 = digits.parse().ok()?;
        let year = match digits.len() {
            2 if y < 50 => 2000 + y,
            2 | 3 => 1900 + y,
            _ => y,
        };
        Some((year, month, day))
    })
}

/// `Jan`..`Dec` (case-insensitive, full names too) as 1..12.
fn month_number(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let w = word.get(..3)?.to_ascii_lowercase();
    MONTHS.iter().position(|m| *m == w).map(|i| i as u32 + 1)
}

/// A Content-Transfer-Encoding postern cannot undo (RFC 3516 §4.3 `UNKNOWN-CTE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCte(pub String);

/// The body of `part` with its Content-Transfer-Encoding undone, as FETCH BINARY sends it
/// (RFC 3516 §4.2). Identity encodings (7bit, 8bit, binary, none given) and multipart or
/// message/rfc822 parts (which may only have those, RFC 2045 §6.4) are the body as is;
/// base64 and quoted-printable are decoded leniently, as RFC 2045 §6.7 and §6.8 ask of
/// a decoder (characters outside the alphabet ignored, a stray `=` kept); any other
/// mechanism (x-uuencode, ...) is an [`UnknownCte`].
pub(crate) fn binary_body<'r>(raw: &'r [u8], part: &Part) -> Result<Cow<'r, [u8]>, UnknownCte> {
    let body = &raw[part.body.clone()];
    let encoding = header::transfer_encoding(raw, &part.fields).unwrap_or_default();
    let is = |name: &str| encoding.eq_ignore_ascii_case(name.as_bytes());
    if encoding.is_empty() || is("7bit") || is("8bit") || is("binary") {
        Ok(Cow::Borrowed(body))
    } else if !matches!(part.content, Content::Leaf) {
        // A multipart or message/rfc822 "encoded" otherwise is invalid (RFC 2045 §6.4):
        // its parts are what the tree shows, so its body is served as is.
        Ok(Cow::Borrowed(body))
    } else if is("base64") {
        Ok(Cow::Owned(base64_lenient(body)))
    } else if is("quoted-printable") {
        Ok(Cow::Owned(quoted_printable_lenient(body)))
    } else {
        Err(UnknownCte(String::from_utf8_lossy(&encoding).into_owned()))
    }
}

/// Whether [`binary_body`] can decode `part` (without decoding it).
pub(crate) fn binary_decodable(raw: &[u8], part: &Part) -> Result<(), UnknownCte> {
    let encoding = header::transfer_encoding(raw, &part.fields).unwrap_or_default();
    let known = ["7bit", "8bit", "binary", "base64", "quoted-printable"];
    if encoding.is_empty()
        || !matches!(part.content, Content::Leaf)
        || known
            .iter()
            .any(|k| encoding.eq_ignore_ascii_case(k.as_bytes()))
    {
        Ok(())
    } else {
        Err(UnknownCte(String::from_utf8_lossy(&encoding).into_owned()))
    }
}

/// Base64 (RFC 2045 §6.8): characters outside the alphabet are ignored, decoding stops at
/// the first `=` pad, and a final lone sextet (never a whole byte) is dropped.
pub(crate) fn base64_lenient(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` is the octet, `=` at a line end is a soft
/// break, trailing white space of a line is dropped (rule 3), hard line breaks stay CRLF,
/// and an `=` followed by anything else is kept as it is (the "robust" reading §6.7 (1)
/// suggests).
pub(crate) fn quoted_printable_lenient(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let (content, eol): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\r\n")
        } else {
            (line, b"")
        };
        let content = content.trim_ascii_end();
        let soft = content.ends_with(b"=");
        let content = if soft {
            &content[..content.len() - 1]
        } else {
            content
        };
        let mut i = 0;
        while i < content.len() {
            let c = content[i];
            let hex = |b: u8| (b as char).to_digit(16);
            if c == b'='
                && let (Some(h), Some(l)) = (
                    content.get(i + 1).and_then(|&b| hex(b)),
                    content.get(i + 2).and_then(|&b| hex(b)),
                )
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            out.push(c);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// Longest preview, in characters (RFC 8970: at most 256 characters).
pub(crate) const PREVIEW_CHARS: usize = 256;

/// The preview of a message (RFC 8970): the start of its first text part that is no
/// attachment (text/plain preferred inside multipart/alternative, HTML reduced to its
/// text), transfer encoding and charset undone, every run of white space (line breaks
/// included) one space, at most [`PREVIEW_CHARS`] characters. Empty when the message has
/// no such text.
pub(crate) fn preview_text(raw: &[u8], root: &Part) -> String {
    let Some(part) = preview_part(raw, root) else {
        return String::new();
    };
    let bytes = transfer_decoded(raw, part);
    let mut text = charset_to_utf8(&bytes, part.ctype.param("charset"));
    if part.ctype.is("text", "html") {
        text = html_to_text(&text);
    }
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        for (i, c) in [' '].into_iter().chain(word.chars()).enumerate() {
            if i == 0 && out.is_empty() {
                continue;
            }
            if chars == PREVIEW_CHARS {
                return out;
            }
            // Control characters are not text a client shows.
            out.push(if c.is_control() { ' ' } else { c });
            chars += 1;
        }
    }
    out
}

/// The part a preview is taken from (see [`preview_text`]).
fn preview_part<'p>(raw: &[u8], part: &'p Part) -> Option<&'p Part> {
    match &part.content {
        Content::Multipart(children) => {
            if part.ctype.is("multipart", "alternative")
                && let Some(plain) = children
                    .iter()
                    .find(|c| c.ctype.is("text", "plain") && !is_attachment(raw, c))
            {
                return Some(plain);
            }
            children.iter().find_map(|c| preview_part(raw, c))
        }
        // An attached message is not this message's text.
        Content::Message(_) => None,
        Content::Leaf => (part.ctype.is("text", "plain") || part.ctype.is("text", "html"))
            .then_some(part)
            .filter(|p| !is_attachment(raw, p)),
    }
}

/// `Content-Disposition: attachment` (RFC 2183 §2.2).
fn is_attachment(raw: &[u8], part: &Part) -> bool {
    header::first(&part.fields, raw, b"Content-Disposition").is_some_and(|f| {
        header::leading_token(&f.unfolded(raw)).eq_ignore_ascii_case(b"attachment")
    })
}
