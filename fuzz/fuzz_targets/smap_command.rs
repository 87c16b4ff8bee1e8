//! Feeds arbitrary bytes to SMAP's command parsers (words, quoting, message ranges,
//! FETCH CONTENTS specs, STORE items, SEARCH criteria, ADD upload words), line by line
//! as a client's input arrives (dates and folder levels too), and checks that quoting a
//! parsed word, or encoding it as a folder level, gives it back.
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
                // A folder level encoded as Courier stores it reads back as the word.
                let level = postern::smap::encode_folder_level(w);
                assert!(!level.contains(['.', '/']));
                assert_eq!(postern::smap::decode_folder_level(&level).as_deref(), Some(w.as_str()));
            }
            let _ = words::ranges(&[1, 2, 3]);
        }
    }
});
