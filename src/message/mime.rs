//! The MIME tree of a message as byte ranges into its CRLF text (RFC 2045, RFC 2046).
//! Parsing is lenient (anything is some tree) and bounded (depth and part count), so hostile
//! input costs no more than a linear scan per level.

use std::ops::Range;

use super::header::{self, Field, MimeValue};

/// Deeper multiparts / message/rfc822 parts are served as opaque application/octet-stream.
pub(crate) const MAX_DEPTH: usize = 32;
/// More parts than this in one multipart: the rest is folded into the last part.
pub(crate) const MAX_PARTS: usize = 5000;

#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The header block including its blank line (empty when the part has no header).
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub fields: Vec<Field>,
    pub ctype: ContentType,
    pub content: Content,
}

#[derive(Debug, Clone)]
pub(crate) enum Content {
    Leaf,
    Multipart(Vec<Part>),
    /// message/rfc822: the encapsulated message as a part of its own (its header is the
    /// message header, its body the message body).
    Message(Box<Part>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentType {
    pub mtype: Vec<u8>,
    pub subtype: Vec<u8>,
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ContentType {
    fn new(t: &[u8], s: &[u8]) -> ContentType {
        ContentType {
            mtype: t.to_vec(),
            subtype: s.to_vec(),
            params: Vec::new(),
        }
    }

    pub fn is(&self, t: &str, s: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(t.as_bytes())
            && (s == "*" || self.subtype.eq_ignore_ascii_case(s.as_bytes()))
    }

    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Default {
    TextPlain,
    MessageRfc822,
}

/// Parses the whole message `raw[0..]`.
pub(crate) fn parse_message(raw: &[u8]) -> Part {
    let mut budget = MAX_PARTS * 4;
    parse_part(raw, 0, raw.len(), Default::TextPlain, 0, &mut budget)
}

fn parse_part(
    raw: &[u8],
    start: usize,
    end: usize,
    default: Default,
    depth: usize,
    budget: &mut usize,
) -> Part {
    let header_end = match header::block_end(raw, start, end) {
        Some(e) => e,
        // No blank line: all header if it has fields, else all body.
        None if header::fields(raw, start, end).is_empty() => start,
        None => end,
    };
    let fields = header::fields(raw, start, header_end);
    let body = header_end..end;
    let declared = header::first(&fields, raw, b"Content-Type")
        .map(|f| header::parse_mime_value(&f.unfolded(raw)));
    let mut ctype = content_type(declared, default);

    let content = if ctype.is("multipart", "*") {
        match ctype.param("boundary").map(<[u8]>::to_vec) {
            Some(b) if !b.is_empty() && depth < MAX_DEPTH => {
                let child_default = if ctype.is("multipart", "digest") {
                    Default::MessageRfc822
                } else {
                    Default::TextPlain
                };
                let ranges = split_multipart(raw, body.clone(), &b);
                let mut children = Vec::with_capacity(ranges.len().min(64));
                for r in ranges {
                    if *budget == 0 {
                        break;
                    }
                    *budget -= 1;
                    children.push(parse_part(
                        raw,
                        r.start,
                        r.end,
                        child_default,
                        depth + 1,
                        budget,
                    ));
                }
                if children.is_empty() {
                    // No delimiter at all: show the whole body as one text part rather than
                    // hide it.
                    children.push(Part {
                        header: body.start..body.start,
                        body: body.clone(),
                        fields: Vec::new(),
                        ctype: text_plain(),
                        content: Content::Leaf,
                    });
                }
                Content::Multipart(children)
            }
            Some(b) if !b.is_empty() => {
                ctype = opaque();
                Content::Leaf
            }
            // RFC 2045 §5.2: an unusable Content-Type means text/plain.
            _ => {
                ctype = text_plain();
                Content::Leaf
            }
        }
    } else if ctype.is("message", "rfc822") {
        if depth < MAX_DEPTH && *budget > 0 {
            *budget -= 1;
            let inner = parse_part(
                raw,
                body.start,
                body.end,
                Default::TextPlain,
                depth + 1,
                budget,
            );
            Content::Message(Box::new(inner))
        } else {
            ctype = opaque();
            Content::Leaf
        }
    } else {
        Content::Leaf
    };

    Part {
        header: start..header_end,
        body,
        fields,
        ctype,
        content,
    }
}

fn text_plain() -> ContentType {
    ContentType::new(b"TEXT", b"PLAIN")
}

fn opaque() -> ContentType {
    ContentType::new(b"APPLICATION", b"OCTET-STREAM")
}

/// The declared type; the context's default when there is no Content-Type (message/rfc822
/// in a digest, RFC 2046 §5.1.5), but text/plain when there is one that does not parse,
/// wherever it is (RFC 2045 §5.2).
fn content_type(declared: Option<MimeValue>, default: Default) -> ContentType {
    let Some(v) = declared else {
        return match default {
            Default::TextPlain => text_plain(),
            Default::MessageRfc822 => ContentType::new(b"MESSAGE", b"RFC822"),
        };
    };
    match v.sub {
        Some(sub) if !v.main.is_empty() => ContentType {
            mtype: v.main,
            subtype: sub,
            params: v.params,
        },
        _ => text_plain(),
    }
}

/// The body ranges of the parts of a multipart body: from after a delimiter line to before
/// the CRLF that precedes the next one (RFC 2046 §5.1.1: that CRLF belongs to the delimiter).
/// A missing close delimiter ends the last part at the end of the body.
fn split_multipart(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut i = body.start;
    while i < body.end {
        let e = raw[i..body.end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.end, |p| i + p + 1);
        if let Some(close) = delimiter(&raw[i..e], boundary) {
            if let Some(s) = open.take() {
                let before = if i >= s + 2 && &raw[i - 2..i] == b"\r\n" {
                    i - 2
                } else if i > s && raw[i - 1] == b'\n' {
                    i - 1
                } else {
                    i
                };
                parts.push(s..before.max(s));
            }
            if close || parts.len() + 1 >= MAX_PARTS {
                if !close {
                    open = Some(e);
                }
                break;
            }
            open = Some(e);
        }
        i = e;
    }
    if let Some(s) = open {
        parts.push(s..body.end);
    }
    parts
}

/// `Some(is_close)` when `line` is `--boundary` or `--boundary--`, followed only by white space.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    rest.iter()
        .all(|b| b.is_ascii_whitespace())
        .then_some(close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_delimiters_only() {
        let raw = b"pre\r\n--b\r\nA\r\n--bx\r\n--b \r\nB\r\n--b--\r\nepi";
        let p = split_multipart(raw, 0..raw.len(), b"b");
        let got: Vec<&[u8]> = p.iter().map(|r| &raw[r.clone()]).collect();
        assert_eq!(got, vec![&b"A\r\n--bx"[..], &b"B"[..]]);
    }

    #[test]
    fn unterminated_and_empty_parts() {
        let raw = b"--b\r\n--b\r\nlast";
        let p = split_multipart(raw, 0..raw.len(), b"b");
        let got: Vec<&[u8]> = p.iter().map(|r| &raw[r.clone()]).collect();
        assert_eq!(got, vec![&b""[..], &b"last"[..]]);
    }
}
