//! Modified UTF-7: decoding never panics, and whatever decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::imap::mutf7;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(name) = mutf7::decode(s) {
            assert_eq!(mutf7::encode(&name), s);
        }
        let wire = mutf7::encode(s);
        assert_eq!(mutf7::decode(&wire).as_deref(), Ok(s));
    }
});
