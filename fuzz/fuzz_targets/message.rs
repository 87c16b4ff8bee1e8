//! One message's views (ENVELOPE, BODYSTRUCTURE, every section kind of several parts,
//! header values, the search texts, the sent date) from any bytes: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::imap::message_syntax::{write_body_structure, write_envelope};
use postern::message::{Message, SectionKind};

fuzz_target!(|data: &[u8]| {
    let m = Message::new(data.to_vec());
    let mut out = Vec::new();
    write_envelope(&mut out, &m.envelope());
    write_body_structure(&mut out, &m.body_structure(), true);
    write_body_structure(&mut out, &m.body_structure(), false);
    let fields = vec!["Subject".to_owned(), "from".to_owned(), "X-Unknown".to_owned()];
    let kinds = [
        SectionKind::Full,
        SectionKind::Header,
        SectionKind::Text,
        SectionKind::Mime,
        SectionKind::HeaderFields(fields.clone()),
        SectionKind::HeaderFieldsNot(fields),
    ];
    for part in [&[][..], &[1], &[1, 1], &[1, 2], &[2], &[2, 1, 1], &[3]] {
        for kind in &kinds {
            let _ = m.section(part, kind);
        }
    }
    for name in ["Subject", "From", "Date", "Content-Type"] {
        let _ = m.header_values(name);
    }
    let _ = m.search_header_text();
    let _ = m.search_body_text();
    let _ = m.sent_date();
});
