//! One message's views for IMAP FETCH and SEARCH: ENVELOPE, BODY/BODYSTRUCTURE,
//! BODY[section] bytes, decoded header values and texts, the sent date.
//!
//! The MIME tree is our own byte-range parse of the CRLF text (so every section and size is
//! exact and nothing is copied); mail-parser supplies the decoders (encoded words,
//! quoted-printable, base64, charsets, dates). Parsing is lenient and bounded: any bytes give
//! a well-formed ENVELOPE and BODYSTRUCTURE, never a panic.

#![forbid(unsafe_code)]

pub(crate) mod address;
mod body_structure;
mod decode;
mod envelope;
pub(crate) mod header;
mod mime;
mod sort_keys;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use body_structure::{BodyFields, BodyStructure, Extension, Params};
pub use decode::UnknownCte;
pub use envelope::{Address, Envelope};
pub use sort_keys::{SortKeys, Wanted, base_subject, fold};

use mime::{Content, Part};

/// Which bytes of a part BODY[section] names (RFC 3501 §6.4.5); the part numbers are
/// passed separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// No section text: the whole message, or the body of the numbered part.
    Full,
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Mime,
    Text,
}

/// One message, parsed once; all offsets refer to `raw()`, which always has CRLF line ends
/// (bare LF on disk is served as CRLF; RFC822.SIZE = raw().len()).
#[derive(Debug, Clone)]
pub struct Message {
    raw: Vec<u8>,
    /// The MIME tree, parsed on first need: BODY[] and RFC822 need only `raw`.
    root: std::cell::OnceCell<Part>,
}

/// How many LFs in `bytes` have no CR before them (what CRLF conversion adds). Counted in
/// bulk, LFs minus CRLF pairs, so it runs at memory speed on any mix of line ends.
pub fn bare_lf_count(bytes: &[u8]) -> usize {
    let lf = memchr::memchr_iter(b'\n', bytes).count();
    if lf == 0 {
        return 0;
    }
    // CRs are few (none in an LF-only file, one a line in a CRLF one): hop from CR to CR.
    let crlf = memchr::memchr_iter(b'\r', bytes)
        .filter(|&at| bytes.get(at + 1) == Some(&b'\n'))
        .count();
    lf - crlf
}

/// Appends `bytes` to `out` with every bare LF turned into CRLF: the runs between LFs are
/// copied whole. `cr_before` says whether the byte before `bytes` (in an earlier chunk)
/// was a CR.
pub fn extend_crlf(out: &mut Vec<u8>, bytes: &[u8], cr_before: bool) {
    let mut from = 0;
    for at in memchr::memchr_iter(b'\n', bytes) {
        let cr = if at == 0 {
            cr_before
        } else {
            bytes[at - 1] == b'\r'
        };
        if !cr {
            out.extend_from_slice(&bytes[from..at]);
            out.extend_from_slice(b"\r");
            from = at;
        }
    }
    out.extend_from_slice(&bytes[from..]);
}

/// `bytes` with every LF that has no CR before it turned into CRLF (borrowed when there is
/// none).
pub fn to_crlf(bytes: &[u8]) -> Cow<'_, [u8]> {
    let bare = bare_lf_count(bytes);
    if bare == 0 {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bare);
    extend_crlf(&mut out, bytes, false);
    Cow::Owned(out)
}

/// Where the top header block ends in `raw` (CRLF or bare LF): the offset just after its
/// blank line, `Some(0)` when the lines before the blank line hold no header field (a message
/// without header), `None` when no blank line comes in these bytes: read more, or, if these
/// are all the bytes, use them all. For ENVELOPE and BODY[HEADER...] a caller may read only
/// the first bytes of a file and build `Message::new(bytes[..end].to_vec())`: its envelope and
/// header sections are those of the whole message (its sizes and BODYSTRUCTURE are not).
pub fn header_end(raw: &[u8]) -> Option<usize> {
    header::block_end(raw, 0, raw.len())
}

fn wanted(name: &[u8], names: &[String]) -> bool {
    names
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

impl Message {
    /// Parses `bytes` (any bytes: never panics). Bare LFs are converted to CRLF first.
    pub fn new(bytes: Vec<u8>) -> Message {
        let raw = match to_crlf(&bytes) {
            Cow::Borrowed(_) => bytes,
            Cow::Owned(converted) => converted,
        };
        Message {
            raw,
            root: std::cell::OnceCell::new(),
        }
    }

    fn root(&self) -> &Part {
        self.root.get_or_init(|| mime::parse_message(&self.raw))
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The top header block including the blank line that ends it (empty when the message
    /// has no header; all of the message when no blank line ends it).
    pub fn header(&self) -> &[u8] {
        &self.raw[self.root().header.clone()]
    }

    /// The body after the header block.
    pub fn text(&self) -> &[u8] {
        &self.raw[self.root().body.clone()]
    }

    pub fn envelope(&self) -> Envelope {
        Envelope::from_fields(&self.raw, &self.root().fields)
    }

    pub fn body_structure(&self) -> BodyStructure {
        body_structure::build(&self.raw, self.root())
    }

    /// Finds the part a non-empty part number names (RFC 3501 §6.4.5): the parts of a
    /// multipart by position, of a message/rfc822 part those of its encapsulated message, and
    /// part 1 of a non-multipart message is that message itself.
    fn part(&self, path: &[u32]) -> Option<&Part> {
        fn of_message(msg: &Part, n: u32) -> Option<&Part> {
            match &msg.content {
                Content::Multipart(children) => children.get((n as usize).checked_sub(1)?),
                _ => (n == 1).then_some(msg),
            }
        }
        let (&first, rest) = path.split_first()?;
        let mut cur = of_message(self.root(), first)?;
        for &n in rest {
            cur = match &cur.content {
                Content::Multipart(children) => children.get((n as usize).checked_sub(1)?)?,
                Content::Message(inner) => of_message(inner, n)?,
                Content::Leaf => return None,
            };
        }
        Some(cur)
    }

    /// HEADER, HEADER.FIELDS[.NOT] of the header block of `msg`.
    fn header_section(&self, msg: &Part, kind: &SectionKind) -> Cow<'_, [u8]> {
        let (names, keep) = match kind {
            SectionKind::HeaderFields(n) => (n, true),
            SectionKind::HeaderFieldsNot(n) => (n, false),
            _ => return Cow::Borrowed(&self.raw[msg.header.clone()]),
        };
        let mut out = Vec::new();
        for (line, name) in header::lines(&self.raw, msg.header.start, msg.header.end) {
            // A line that is no field has no name to be asked for: only .NOT returns it.
            let named = name.is_some_and(|n| wanted(&self.raw[n], names));
            if named == keep {
                let bytes = &self.raw[line];
                out.extend_from_slice(bytes);
                if !bytes.ends_with(b"\n") {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        // RFC 3501 §6.4.5: the blank line is always included, except for a message with
        // no body and no blank line: a header block that runs to the end without one. (A
        // message without header gets it too; its body may not have been read, see
        // `header_end`.)
        let header = &self.raw[msg.header.clone()];
        if header.is_empty() || header.ends_with(b"\n\r\n") || header == b"\r\n" {
            out.extend_from_slice(b"\r\n");
        }
        Cow::Owned(out)
    }

    /// BODY[section] contents (without partial). `part` empty means the message itself.
    ///
    /// `None` when the section does not exist: an unknown part number, MIME without a part
    /// number, or HEADER/TEXT of a part that is not message/rfc822. RFC 3501 gives no rule
    /// for that case; answer with an empty string (`BODY[4] ""`), not NIL: every client
    /// parser takes a string there, while NIL for a requested section confuses some.
    pub fn section(&self, part: &[u32], kind: &SectionKind) -> Option<Cow<'_, [u8]>> {
        if part.is_empty() {
            return match kind {
                SectionKind::Full => Some(Cow::Borrowed(&self.raw[..])),
                SectionKind::Text => Some(Cow::Borrowed(self.text())),
                SectionKind::Mime => None,
                _ => Some(self.header_section(self.root(), kind)),
            };
        }
        let p = self.part(part)?;
        match kind {
            SectionKind::Full => Some(Cow::Borrowed(&self.raw[p.body.clone()])),
            SectionKind::Mime => Some(Cow::Borrowed(&self.raw[p.header.clone()])),
            _ => {
                let Content::Message(inner) = &p.content else {
                    return None;
                };
                match kind {
                    SectionKind::Text => Some(Cow::Borrowed(&self.raw[inner.body.clone()])),
                    _ => Some(self.header_section(inner, kind)),
                }
            }
        }
    }

    /// BINARY[part] contents (RFC 3516 §4.2, without partial): the part's body with its
    /// Content-Transfer-Encoding undone; an empty `part` is the whole message as it is
    /// (a message as a whole has no transfer encoding of its own). `Ok(None)` when the
    /// part does not exist, as for [`Message::section`].
    pub fn binary(&self, part: &[u32]) -> Result<Option<Cow<'_, [u8]>>, UnknownCte> {
        if part.is_empty() {
            return Ok(Some(Cow::Borrowed(&self.raw[..])));
        }
        match self.part(part) {
            None => Ok(None),
            Some(p) => decode::binary_body(&self.raw, p).map(Some),
        }
    }

    /// The preview text of RFC 8970 (see `decode::preview_text`).
    pub fn preview(&self) -> String {
        decode::preview_text(&self.raw, self.root())
    }

    /// Whether [`Message::binary`] can decode `part` (checks the encoding's name only).
    pub fn binary_decodable(&self, part: &[u32]) -> Result<(), UnknownCte> {
        match self.part(part) {
            Some(p) if !part.is_empty() => decode::binary_decodable(&self.raw, p),
            _ => Ok(()),
        }
    }

    /// Decoded values of every top-level header field with this name (encoded words
    /// decoded, unfolded), in message order — SEARCH HEADER/FROM/SUBJECT...
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.root()
            .fields
            .iter()
            .filter(|f| f.is(&self.raw, name.as_bytes()))
            .map(|f| decode::header_value(&self.raw, f))
            .collect()
    }

    /// Decoded text of the whole top header block (`Name: value` lines) — SEARCH TEXT.
    pub fn search_header_text(&self) -> String {
        let mut out = String::new();
        decode::header_text(&self.raw, &self.root().fields, &mut out);
        out
    }

    /// Decoded text of every text part (transfer encoding undone, charset converted to UTF-8,
    /// HTML reduced to text), including encapsulated messages' headers — SEARCH BODY / TEXT.
    pub fn search_body_text(&self) -> String {
        let mut out = String::new();
        decode::body_text(&self.raw, self.root(), &mut out);
        out
    }

    /// Every text a SEARCH key may compare, for the full-text index (`store::fts`): the
    /// header text (TEXT, and HEADER on any unstructured field), the body text (BODY,
    /// TEXT) and the address fields as HEADER/FROM/TO/... see them. Each is passed to
    /// `each` separately, so nothing spans two of them.
    pub fn search_index_texts(&self, each: &mut dyn FnMut(&str)) {
        each(&self.search_header_text());
        each(&self.search_body_text());
        for field in &self.root().fields {
            if decode::ADDRESS_FIELDS
                .iter()
                .any(|f| field.is(&self.raw, f.as_bytes()))
            {
                each(&decode::header_value(&self.raw, field));
            }
        }
    }

    /// The Date: header's calendar date in its own time zone (SEARCH SENTBEFORE/SENTON/
    /// SENTSINCE), as (year, month, day); `None` when absent or unparseable.
    pub fn sent_date(&self) -> Option<(i32, u32, u32)> {
        let f = header::first(&self.root().fields, &self.raw, b"Date")?;
        decode::date_of(&f.unfolded(&self.raw))
    }
}

/// One MIME part in a prefix walk of a message's tree ([`Message::part_nodes`]): what a
/// protocol that names parts its own way (SMAP's MIME section ids) needs. Ranges are
/// into [`Message::raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartNode {
    /// Index of the parent node in the walk; `None` for the message itself.
    pub parent: Option<usize>,
    /// 1-based position among its parent's children (1 for the message itself and for
    /// the message inside a message/rfc822 part).
    pub ordinal: usize,
    /// The message a message/rfc822 part carries (the part's only child).
    pub encapsulated: bool,
    /// A message/rfc822 part.
    pub is_message: bool,
    /// The header block including its blank line.
    pub header: std::ops::Range<usize>,
    pub body: std::ops::Range<usize>,
    /// Child positions from the root (multipart children by index, a message/rfc822
    /// part's message as 0): what [`Message::decoded_node`] walks.
    pub path: Vec<usize>,
}

impl Message {
    /// Every MIME part, parents before children and siblings in order. A message/rfc822
    /// part has one child: the message it carries.
    pub fn part_nodes(&self) -> Vec<PartNode> {
        fn walk(
            part: &Part,
            parent: Option<usize>,
            ordinal: usize,
            path: Vec<usize>,
            out: &mut Vec<PartNode>,
        ) {
            let me = out.len();
            let encapsulated = parent.is_some_and(|p| out[p].is_message);
            out.push(PartNode {
                parent,
                ordinal,
                encapsulated,
                is_message: matches!(part.content, Content::Message(_)),
                header: part.header.clone(),
                body: part.body.clone(),
                path: path.clone(),
            });
            match &part.content {
                Content::Leaf => {}
                Content::Multipart(children) => {
                    for (i, child) in children.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(i);
                        walk(child, Some(me), i + 1, p, out);
                    }
                }
                Content::Message(inner) => {
                    let mut p = path.clone();
                    p.push(0);
                    walk(inner, Some(me), 1, p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root(), None, 1, Vec::new(), &mut out);
        out
    }

    /// The body of a [`PartNode`] with its Content-Transfer-Encoding undone (as
    /// [`Message::binary`]); `Ok(None)` if the path leads nowhere.
    pub fn decoded_node(&self, path: &[usize]) -> Result<Option<Cow<'_, [u8]>>, UnknownCte> {
        let mut part = self.root();
        for &i in path {
            part = match &part.content {
                Content::Multipart(children) => match children.get(i) {
                    Some(c) => c,
                    None => return Ok(None),
                },
                Content::Message(inner) if i == 0 => inner,
                _ => return Ok(None),
            };
        }
        decode::binary_body(&self.raw, part).map(Some)
    }
}
