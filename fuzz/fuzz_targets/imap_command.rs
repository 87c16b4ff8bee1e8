//! Feeds arbitrary bytes to the IMAP framing and grammar as one client's whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::imap::framing::{FramingLimits, MemoryWire, read_command};
use postern::imap::raw::ErrorKind;
use postern::store::Maildir;

fuzz_target!(|data: &[u8]| {
    let limits = FramingLimits {
        max_line: 1024,
        max_literal: 512,
        max_append: 4096,
        max_append_total: 8192,
        max_command: 2048,
        max_literals: 50,
        append: true,
    };
    let maildir = Maildir::create(std::env::temp_dir().join("postern-fuzz-spool"))
        .expect("a Maildir for the spool");
    let spool = |folder: Option<&[u8]>| {
        maildir.spool(folder.and_then(|f| std::str::from_utf8(f).ok()))
    };
    let mut wire = MemoryWire::new(data);
    // Every command consumes at least one byte or ends the input, so this terminates.
    for _ in 0..10_000 {
        match read_command(&mut wire, &limits, Some(&spool)) {
            Err(e) if matches!(e.kind, ErrorKind::Eof) => break,
            Err(e) => assert!(e.is_recoverable() || matches!(e.kind, ErrorKind::Io(_))),
            Ok(cmd) => {
                let _ = cmd.body.name();
            }
        }
    }
});
