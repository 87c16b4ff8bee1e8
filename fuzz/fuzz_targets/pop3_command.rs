//! POP3 command lines: parsing any bytes never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern::pop3::command;

fuzz_target!(|data: &[u8]| {
    let _ = command::parse(data);
});
