//! System flags and keywords in IMAP syntax.

use crate::store::{Flags, MessageEntry};

/// The system flags IMAP knows, with their store bit.
pub const SYSTEM_FLAGS: [(&str, Flags); 5] = [
    ("\\Answered", Flags::ANSWERED),
    ("\\Flagged", Flags::FLAGGED),
    ("\\Deleted", Flags::DELETED),
    ("\\Seen", Flags::SEEN),
    ("\\Draft", Flags::DRAFT),
];

/// `(\Seen \Flagged kw \Recent)` for one message.
pub fn write_flag_list(out: &mut Vec<u8>, entry: MessageEntry<'_>) {
    out.push(b'(');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    for (name, flag) in SYSTEM_FLAGS {
        if entry.flags.contains(flag) {
            sep(out);
            out.extend_from_slice(name.as_bytes());
        }
    }
    for keyword in entry.keywords {
        sep(out);
        out.extend_from_slice(keyword.as_bytes());
    }
    if entry.recent {
        sep(out);
        out.extend_from_slice(b"\\Recent");
    }
    out.push(b')');
}

/// The system flag with this IMAP name (case-insensitive), if it is one we store.
pub fn system_flag(name: &str) -> Option<Flags> {
    SYSTEM_FLAGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
}

/// `FLAGS (...)` and `PERMANENTFLAGS (...)` content for a folder: system flags plus keywords in use.
pub fn folder_flags(keywords: &[String], permanent: bool) -> String {
    let mut s = String::from("(");
    for (i, (name, _)) in SYSTEM_FLAGS.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(name);
    }
    for k in keywords {
        s.push(' ');
        s.push_str(k);
    }
    if permanent {
        s.push_str(" \\*");
    }
    s.push(')');
    s
}
