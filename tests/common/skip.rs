//! Tests that need something this machine may lack (a tool, root, /proc) say so loudly
//! and return: a skipped test must never pass silently.
//!
//! Part of `common`, and also included on its own by tests that do not use the rest of it
//! (`#[path = "common/skip.rs"] mod skip;`).

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

/// Whether `tool` is on `PATH` (the shell's `command -v`; runs nothing of the tool).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", tool])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Says past the test harness's output capture that the running test did not run, and
/// why: `SKIP: <test>: <why>`.
pub fn skip(why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {}: {why}", test_name());
}

/// Whether every tool in `tools` is installed; the first one missing is said with
/// [`skip`].
pub fn require(tools: &[&str]) -> bool {
    match tools.iter().find(|tool| !have(tool)) {
        Some(tool) => {
            skip(&format!("`{tool}` is not installed"));
            false
        }
        None => true,
    }
}

/// The running test's name: libtest names each test's thread after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "this test".to_owned(),
    }
}
