//! The IMAP syntax of ENVELOPE and BODY/BODYSTRUCTURE (RFC 3501 §7.4.2, §9 `envelope`,
//! `body`). Strings go through `imap::syntax`, so 8-bit or CR/LF bytes become literals.

use super::syntax;
use crate::message::{Address, BodyFields, BodyStructure, Envelope, Extension, Params};
use std::borrow::Cow;

/// NUL is the one byte no IMAP string may carry (not even a literal, RFC 3501 `CHAR8`);
/// header bytes are whatever the sender wrote, so drop it.
fn without_nul(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.contains(&0) {
        Cow::Owned(bytes.iter().copied().filter(|&b| b != 0).collect())
    } else {
        Cow::Borrowed(bytes)
    }
}

fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    syntax::write_string(out, &without_nul(bytes));
}

fn write_nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => write_string(out, b),
        None => nil(out),
    }
}

fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"NIL");
}

fn write_addresses(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        return nil(out);
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        write_nstring(out, a.name.as_deref());
        out.push(b' ');
        write_nstring(out, a.adl.as_deref());
        out.push(b' ');
        write_nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        write_nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
pub fn write_envelope(out: &mut Vec<u8>, env: &Envelope) {
    out.push(b'(');
    write_nstring(out, env.date.as_deref());
    out.push(b' ');
    write_nstring(out, env.subject.as_deref());
    for list in [
        &env.from,
        &env.sender,
        &env.reply_to,
        &env.to,
        &env.cc,
        &env.bcc,
    ] {
        out.push(b' ');
        write_addresses(out, list);
    }
    out.push(b' ');
    write_nstring(out, env.in_reply_to.as_deref());
    out.push(b' ');
    write_nstring(out, env.message_id.as_deref());
    out.push(b')');
}

fn write_params(out: &mut Vec<u8>, params: &Params) {
    if params.is_empty() {
        return nil(out);
    }
    out.push(b'(');
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, name);
        out.push(b' ');
        write_string(out, value);
    }
    out.push(b')');
}

fn write_fields(out: &mut Vec<u8>, f: &BodyFields) {
    write_string(out, &f.media_type);
    out.push(b' ');
    write_string(out, &f.subtype);
    out.push(b' ');
    write_params(out, &f.params);
    out.push(b' ');
    write_nstring(out, f.id.as_deref());
    out.push(b' ');
    write_nstring(out, f.description.as_deref());
    out.push(b' ');
    write_string(out, &f.encoding);
    out.push(b' ');
    out.extend_from_slice(f.size.to_string().as_bytes());
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc`, preceded by the MD5 for single parts.
fn write_extension(out: &mut Vec<u8>, ext: &Extension, single: bool) {
    if single {
        out.push(b' ');
        write_nstring(out, ext.md5.as_deref());
    }
    out.push(b' ');
    match &ext.disposition {
        Some((kind, params)) => {
            out.push(b'(');
            write_string(out, kind);
            out.push(b' ');
            write_params(out, params);
            out.push(b')');
        }
        None => nil(out),
    }
    out.push(b' ');
    match ext.language.as_slice() {
        [] => nil(out),
        [one] => write_string(out, one),
        many => {
            out.push(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, l);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    write_nstring(out, ext.location.as_deref());
}

/// BODYSTRUCTURE when `extensible`, else BODY (no extension data, multipart without params).
pub fn write_body_structure(out: &mut Vec<u8>, bs: &BodyStructure, extensible: bool) {
    out.push(b'(');
    match bs {
        BodyStructure::Basic { fields, ext } => {
            write_fields(out, fields);
            if extensible {
                write_extension(out, ext, true);
            }
        }
        BodyStructure::Text { fields, lines, ext } => {
            write_fields(out, fields);
            out.push(b' ');
            out.extend_from_slice(lines.to_string().as_bytes());
            if extensible {
                write_extension(out, ext, true);
            }
        }
        BodyStructure::Message {
            fields,
            envelope,
            body,
            lines,
            ext,
        } => {
            write_fields(out, fields);
            out.push(b' ');
            write_envelope(out, envelope);
            out.push(b' ');
            write_body_structure(out, body, extensible);
            out.push(b' ');
            out.extend_from_slice(lines.to_string().as_bytes());
            if extensible {
                write_extension(out, ext, true);
            }
        }
        BodyStructure::Multipart {
            parts,
            subtype,
            params,
            ext,
        } => {
            for p in parts {
                write_body_structure(out, p, extensible);
            }
            out.push(b' ');
            write_string(out, subtype);
            if extensible {
                out.push(b' ');
                write_params(out, params);
                write_extension(out, ext, false);
            }
        }
    }
    out.push(b')');
}
