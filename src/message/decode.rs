//! Decoded text for SEARCH: RFC 2047 encoded words, transfer encodings and charsets, all
//! done by mail-parser's decoders on the byte ranges our own MIME tree found.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;
use mail_parser::{DateTime, HeaderValue};

use super::header::{self, Field};
use super::mime::{Content, Part};

/// An unstructured header value with folds removed and encoded words decoded.
pub(crate) fn header_value(raw: &[u8], field: &Field) -> String {
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
        out.push_str(&header_value(raw, f));
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
    let encoding = header::first(&part.fields, raw, b"Content-Transfer-Encoding")
        .map(|f| f.unfolded(raw))
        .unwrap_or_default();
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

/// The calendar date of a Date: value in its own zone.
pub(crate) fn date_of(value: &[u8]) -> Option<(i32, u32, u32)> {
    let text = String::from_utf8_lossy(value);
    let dt = DateTime::parse_rfc822(&text)?;
    let valid = (1..=12).contains(&dt.month) && (1..=31).contains(&dt.day) && dt.year > 0;
    valid.then_some((i32::from(dt.year), u32::from(dt.month), u32::from(dt.day)))
}
