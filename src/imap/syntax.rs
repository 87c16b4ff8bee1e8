//! Writing IMAP strings (RFC 3501 §4.3, §9): the one place that decides between atom,
//! quoted string and literal, so every response escapes the same way.

/// Bytes that may stand inside a quoted string (no CR, LF, NUL, 8-bit).
fn quotable(bytes: &[u8]) -> bool {
    bytes.len() < 1024
        && bytes
            .iter()
            .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
}

/// A string: quoted when it can be, else a synchronizing literal.
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    if quotable(bytes) {
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, bytes);
    }
}

/// A literal `{n}\r\n` followed by the bytes. NUL may not travel in a literal (RFC 3501
/// `CHAR8`); it becomes 0x80, which keeps every size and offset the client was told.
pub fn write_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    let start = out.len();
    out.extend_from_slice(bytes);
    replace_nul(&mut out[start..]);
}

/// NUL becomes 0x80 in literal bytes (see [`write_literal`]); a bulk scan finds the first,
/// since mail almost never has one.
pub fn replace_nul(bytes: &mut [u8]) {
    let Some(first) = memchr::memchr(0, bytes) else {
        return;
    };
    for b in &mut bytes[first..] {
        if *b == 0 {
            *b = 0x80;
        }
    }
}

/// An nstring: NIL or a string.
pub fn write_nstring(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => write_string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Characters allowed in an atom (RFC 3501 ATOM-CHAR).
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// An astring: a bare atom when possible (what clients expect for plain names), else a string.
pub fn write_astring(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty()
        && bytes.iter().all(|&b| is_atom_char(b))
        && !bytes.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(bytes);
    } else {
        write_string(out, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_choose_the_right_form() {
        assert_eq!(s(|o| write_string(o, b"a \"b\" \\")), r#""a \"b\" \\""#);
        assert_eq!(s(|o| write_string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(s(|o| write_string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        let mut v = Vec::new();
        write_literal(&mut v, b"a\0b");
        assert_eq!(v, b"{3}\r\na\x80b");
        assert_eq!(s(|o| write_nstring(o, None)), "NIL");
        assert_eq!(s(|o| write_astring(o, b"INBOX.Sent")), "INBOX.Sent");
        assert_eq!(s(|o| write_astring(o, b"a b")), "\"a b\"");
        assert_eq!(s(|o| write_astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| write_astring(o, b"")), "\"\"");
    }
}
