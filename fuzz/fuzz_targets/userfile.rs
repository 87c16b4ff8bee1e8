//! The passwd-style user file: parsing any text never panics, nor does choosing the
//! unknown-user decoy from what parsed, nor reading a scheme's cost or making a decoy
//! from any stored-secret text (both slice hash strings by position).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::auth::{password, userfile};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entries) = userfile::parse(text, "fuzz") {
            let _ = userfile::decoy_secret(&entries);
        }
        let _ = password::cost(text);
        if let Some(decoy) = password::decoy(text) {
            assert_eq!(password::cost(&decoy), password::cost(text), "{text:?}");
        }
    }
});
