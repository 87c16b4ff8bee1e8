//! Feeds arbitrary bytes to SMAP's command parsers (words, quoting, message ranges,
//! FETCH CONTENTS specs, STORE items, SEARCH criteria, ADD upload words), line by line
//! as a client's input arrives, and checks that quoting a parsed word gives it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::smap::{parse_command_line, words};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n').take(1000) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let _ = parse_command_line(line);
        if let Ok(parsed) = words::parse_line(line) {
            for w in &parsed {
                assert_eq!(words::parse_line(words::quoted(w).as_bytes()).unwrap(), [w.clone()]);
            }
            let _ = words::ranges(&[1, 2, 3]);
        }
    }
});
