//! `postern maildirmake` and `postern deliver` as a mail transfer agent calls them.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn deliver(args: &[&str], input: &[u8]) -> i32 {
    let mut c = Command::new(BIN)
        .arg("deliver")
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A refused delivery may exit before reading its input.
    let _ = c.stdin.take().unwrap().write_all(input);
    c.wait().unwrap().code().unwrap()
}

#[test]
fn maildirmake_and_deliver() {
    let d = tempfile::tempdir().unwrap();
    let md = d.path().join("Maildir");
    let m = md.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("maildirmake")
            .args(args)
            .status()
            .unwrap()
            .success()
    };
    assert!(run(&[m]));
    assert!(!run(&[m]), "an existing Maildir is refused");
    assert!(run(&["-f", "Lists", m]));
    assert!(md.join(".Lists/maildirfolder").exists());
    assert!(run(&["-q", "100S,2C", m]));
    assert_eq!(
        std::fs::read_to_string(md.join("maildirsize")).unwrap(),
        "100S,2C\n           0            0\n"
    );
    assert!(!run(&["-q", "lots", m]));

    assert_eq!(deliver(&[m], b"Subject: 1\r\n\r\n"), 0);
    assert_eq!(deliver(&["--folder", "Lists", m], b"Subject: 2\r\n\r\n"), 0);
    assert_eq!(
        deliver(&[m], b"Subject: 3\r\n\r\n"),
        75,
        "over the 2-message quota"
    );
    assert_eq!(deliver(&["--folder", "Nope", m], b"x"), 67);
    assert_eq!(deliver(&["--folder", "a..b", m], b"x"), 64);
    assert_eq!(deliver(&["someuser"], b"x"), 67);
    assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(md.join(".Lists/new")).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_dir(md.join("tmp")).unwrap().count(),
        0,
        "nothing left in tmp/"
    );
}
