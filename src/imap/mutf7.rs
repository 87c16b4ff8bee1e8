//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3): printable ASCII stands for itself, `&`
//! is written `&-`, and everything else is UTF-16BE in a base64 variant (`,` for `/`, no
//! padding) between `&` and `-`.
//!
//! [`decode`] accepts only the one canonical spelling of each name, so two different wire
//! names can never reach the same folder on disk.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a name is not canonical modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid modified UTF-7 mailbox name: {0}")]
pub struct Mutf7Error(pub &'static str);

fn printable(c: u32) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// Encodes a UTF-8 name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if printable(c as u32) {
            flush(&mut out, &mut run);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut run);
    out
}

fn flush(out: &mut String, run: &mut Vec<u16>) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for unit in run.drain(..) {
        for byte in unit.to_be_bytes() {
            bits = (bits << 8) | u32::from(byte);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(ALPHABET[((bits >> nbits) & 0x3f) as usize] as char);
            }
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize] as char);
    }
    out.push('-');
}

fn sextet(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|i| i as u32)
}

/// Decodes a wire name, refusing anything that [`encode`] would not have produced.
pub fn decode(wire: &str) -> Result<String, Mutf7Error> {
    let bytes = wire.as_bytes();
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    // Whether the previous item was a base64 run: two runs in a row should have been one.
    let mut after_run = false;
    while i < bytes.len() {
        let b = bytes[i];
        if !printable(u32::from(b)) {
            return Err(Mutf7Error("character outside printable ASCII"));
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            after_run = false;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'-') {
            out.push('&');
            i += 1;
            after_run = false;
            continue;
        }
        if after_run {
            return Err(Mutf7Error("two encoded runs in a row"));
        }
        let mut units: Vec<u16> = Vec::new();
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut bytes_seen: Vec<u8> = Vec::new();
        loop {
            match bytes.get(i) {
                None => return Err(Mutf7Error("unterminated encoded run")),
                Some(b'-') => {
                    i += 1;
                    break;
                }
                Some(&c) => {
                    let v = sextet(c).ok_or(Mutf7Error("invalid base64 character"))?;
                    bits = (bits << 6) | v;
                    nbits += 6;
                    if nbits >= 8 {
                        nbits -= 8;
                        bytes_seen.push((bits >> nbits) as u8);
                        bits &= (1 << nbits) - 1;
                    }
                    i += 1;
                }
            }
        }
        if bytes_seen.is_empty() {
            return Err(Mutf7Error("empty encoded run"));
        }
        if nbits >= 6 || bits != 0 || !bytes_seen.len().is_multiple_of(2) {
            return Err(Mutf7Error("encoded run has leftover bits"));
        }
        for pair in bytes_seen.chunks_exact(2) {
            units.push(u16::from_be_bytes([pair[0], pair[1]]));
        }
        for c in char::decode_utf16(units) {
            let c = c.map_err(|_| Mutf7Error("invalid UTF-16"))?;
            if printable(c as u32) {
                return Err(Mutf7Error("printable ASCII must not be encoded"));
            }
            out.push(c);
        }
        after_run = true;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_examples_and_common_names() {
        let pairs = [
            ("INBOX", "INBOX"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Gesendete Objekte", "Gesendete Objekte"),
            ("A&B", "A&-B"),
            ("&", "&-"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("😀", "&2D3eAA-"),
            ("tab\there", "tab&AAk-here"),
            ("", ""),
        ];
        for (utf8, wire) in pairs {
            assert_eq!(encode(utf8), wire, "{utf8:?}");
            assert_eq!(decode(wire).as_deref(), Ok(utf8), "{wire:?}");
        }
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for bad in [
            "&",             // unterminated
            "&-&",           // unterminated after an escape
            "&AGE-",         // "a" encoded
            "&AGEAYg-",      // "ab" encoded
            "&APw",          // no terminating '-'
            "&APx-",         // leftover bits not zero
            "&APwA-",        // leftover sextet
            "&AP-",          // odd byte count
            "&APw-&APw-",    // two runs where one would do
            "&2D0-",         // lone high surrogate
            "&3gA-",         // lone low surrogate
            "&AP w-",        // space in a run
            "&A/w-",         // '/' is not the modified alphabet
            "Entw\u{fc}rfe", // 8-bit on the wire
            "a\u{7f}",
        ] {
            assert!(decode(bad).is_err(), "{bad:?} -> {:?}", decode(bad));
        }
        assert_eq!(decode("&-AGE").as_deref(), Ok("&AGE"));
        assert_eq!(decode("&--").as_deref(), Ok("&-"));
        assert_eq!(decode("&APw-&-").as_deref(), Ok("ü&"));
    }

    proptest! {
        #[test]
        fn round_trip(s in "\\PC*|[a-z&\u{e9}\u{4e00}\u{1f600} .]{0,12}") {
            let wire = encode(&s);
            prop_assert!(wire.bytes().all(|b| (0x20..0x7f).contains(&b)));
            prop_assert_eq!(decode(&wire).unwrap(), s);
        }

        #[test]
        fn decode_is_canonical(s in "[A-Za-z0-9+,&\\- ]{0,16}") {
            if let Ok(d) = decode(&s) {
                prop_assert_eq!(encode(&d), s);
            }
        }
    }
}
