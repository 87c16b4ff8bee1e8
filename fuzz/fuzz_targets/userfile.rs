//! The passwd-style user file: parsing any text never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::auth::userfile;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = userfile::parse(text, "fuzz");
    }
});
