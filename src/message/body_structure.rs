//! The BODY / BODYSTRUCTURE view (RFC 3501 §7.4.2) of a parsed MIME tree.

use super::envelope::Envelope;
use super::header::{self, Field};
use super::mime::{Content, Part};

pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// The fields every non-multipart body has (`body-fields` plus its media type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields {
    /// Type and subtype as the header wrote them (defaults are `TEXT`/`PLAIN`).
    pub media_type: Vec<u8>,
    pub subtype: Vec<u8>,
    /// Parameters as written; text parts without a charset get `("CHARSET" "US-ASCII")`.
    pub params: Params,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding as written, `7BIT` when absent.
    pub encoding: Vec<u8>,
    /// Octets of the part body in the CRLF message.
    pub size: usize,
}

/// Extension data (BODYSTRUCTURE only). `md5` is never set for multiparts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extension {
    pub md5: Option<Vec<u8>>,
    /// Disposition type and its parameters.
    pub disposition: Option<(Vec<u8>, Params)>,
    /// Content-Language tags; empty means NIL.
    pub language: Vec<Vec<u8>>,
    pub location: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    Basic {
        fields: BodyFields,
        ext: Extension,
    },
    Text {
        fields: BodyFields,
        lines: usize,
        ext: Extension,
    },
    Message {
        fields: BodyFields,
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: usize,
        ext: Extension,
    },
    Multipart {
        parts: Vec<BodyStructure>,
        subtype: Vec<u8>,
        params: Params,
        ext: Extension,
    },
}

/// Lines of a body: the line ends inside its octets. A last line without a break adds
/// none: in a multipart the CRLF before the next delimiter belongs to the delimiter
/// (RFC 2046 §5.1.1), so a part `hello` CRLF `--b` is one unterminated line, 0 line ends.
pub(crate) fn count_lines(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

fn field_text(raw: &[u8], fields: &[Field], name: &[u8]) -> Option<Vec<u8>> {
    header::first(fields, raw, name).map(|f| f.unfolded(raw))
}

fn extension(raw: &[u8], fields: &[Field], with_md5: bool) -> Extension {
    let disposition = header::first(fields, raw, b"Content-Disposition")
        .map(|f| header::parse_mime_value(&f.unfolded(raw)))
        .filter(|v| !v.main.is_empty())
        .map(|v| (v.main, v.params));
    let language = field_text(raw, fields, b"Content-Language")
        .map(|v| header::without_comments(&v))
        .map(|v| {
            v.split(|&b| b == b',')
                .map(|t| header::trim_wsp(t).to_vec())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    // A folded URL must not keep the fold's white space.
    let location = field_text(raw, fields, b"Content-Location")
        .map(|v| v.into_iter().filter(|b| !header::is_wsp(*b)).collect());
    Extension {
        md5: if with_md5 {
            field_text(raw, fields, b"Content-MD5")
        } else {
            None
        },
        disposition,
        language,
        location,
    }
}

pub(crate) fn build(raw: &[u8], part: &Part) -> BodyStructure {
    let ct = &part.ctype;
    if let Content::Multipart(children) = &part.content {
        return BodyStructure::Multipart {
            parts: children.iter().map(|c| build(raw, c)).collect(),
            subtype: ct.subtype.clone(),
            params: ct.params.clone(),
            ext: extension(raw, &part.fields, false),
        };
    }
    let mut params = ct.params.clone();
    let is_text = ct.is("text", "*");
    if is_text && ct.param("charset").is_none() {
        params.insert(0, (b"CHARSET".to_vec(), b"US-ASCII".to_vec()));
    }
    let encoding = header::transfer_encoding(raw, &part.fields).unwrap_or_else(|| b"7BIT".to_vec());
    let body = &raw[part.body.clone()];
    let fields = BodyFields {
        media_type: ct.mtype.clone(),
        subtype: ct.subtype.clone(),
        params,
        id: field_text(raw, &part.fields, b"Content-ID"),
        description: field_text(raw, &part.fields, b"Content-Description"),
        encoding,
        size: body.len(),
    };
    let ext = extension(raw, &part.fields, true);
    match &part.content {
        Content::Message(inner) => BodyStructure::Message {
            fields,
            envelope: Box::new(Envelope::from_fields(raw, &inner.fields)),
            body: Box::new(build(raw, inner)),
            lines: count_lines(body),
            ext,
        },
        _ if is_text => BodyStructure::Text {
            fields,
            lines: count_lines(body),
            ext,
        },
        _ => BodyStructure::Basic { fields, ext },
    }
}
