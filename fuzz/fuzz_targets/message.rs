//! One message's views (ENVELOPE, BODYSTRUCTURE, every section) from any bytes: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::imap::message_syntax::{write_body_structure, write_envelope};
use postern::message::{Message, SectionKind};

fuzz_target!(|data: &[u8]| {
    let m = Message::new(data.to_vec());
    let mut out = Vec::new();
    write_envelope(&mut out, &m.envelope());
    write_body_structure(&mut out, &m.body_structure(), true);
    for part in [&[][..], &[1], &[1, 1], &[2]] {
        for kind in [SectionKind::Full, SectionKind::Header, SectionKind::Text, SectionKind::Mime] {
            let _ = m.section(part, &kind);
        }
    }
    let _ = m.search_body_text();
});
