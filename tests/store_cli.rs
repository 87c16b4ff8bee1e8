//! `postern maildirmake` and `postern deliver` as a mail transfer agent calls them.

use std::io::Write;
use std::process::{Command, Stdio};

#[path = "owner/mod.rs"]
mod owner;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn deliver(args: &[&str], input: &[u8]) -> i32 {
    deliver_with(None, args, input)
}

fn deliver_with(config: Option<&std::path::Path>, args: &[&str], input: &[u8]) -> i32 {
    let mut cmd = Command::new(BIN);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let mut c = cmd
        .arg("deliver")
        .args(args)
        .env_remove("POSTERN_CONFIG")
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
    owner::open_to_mail_owner(d.path());
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
    // As root a delivery to a path runs as the Maildir's owner, who must not be root.
    owner::give_to_mail_owner(&md);

    assert_eq!(deliver(&[m], b"Subject: 1\r\n\r\n"), 0);
    assert_eq!(deliver(&["--folder", "Lists", m], b"Subject: 2\r\n\r\n"), 0);
    assert_eq!(
        deliver(&[m], b"Subject: 3\r\n\r\n"),
        75,
        "over the 2-message quota"
    );
    assert_eq!(deliver(&["--folder", "Nope", m], b"x"), 67);
    assert_eq!(deliver(&["--folder", "a..b", m], b"x"), 64);
    // A name needs accounts: none are configured here (no user file), a temporary failure.
    assert_eq!(deliver(&["someuser"], b"x"), 75);
    assert_eq!(std::fs::read_dir(md.join("new")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(md.join(".Lists/new")).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_dir(md.join("tmp")).unwrap().count(),
        0,
        "nothing left in tmp/"
    );
}

/// `postern deliver USER`: the name is looked up in the configured user file; as root the
/// delivery runs as the account's uid, so the new file is the owner's, not root's.
#[test]
fn deliver_by_user_name() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("ann");
    std::fs::create_dir(&home).unwrap();
    let md = home.join("Maildir");
    assert!(
        Command::new(BIN)
            .arg("maildirmake")
            .arg(&md)
            .status()
            .unwrap()
            .success()
    );
    let root = nix::unistd::geteuid().is_root();
    // As root the account is nobody's, and so is its Maildir; otherwise the running user's.
    let ids = if root {
        nix::unistd::chown(&home, Some(65534.into()), Some(65534.into())).unwrap();
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&md)
            .status()
            .unwrap();
        "65534:65534"
    } else {
        eprintln!("SKIP (part): not root, so the ownership of the delivered file is not checked");
        ":"
    };
    let users = d.path().join("users");
    std::fs::write(
        &users,
        format!("ann:{{PLAIN}}x:{ids}::{}::disableimap=1\n", home.display()),
    )
    .unwrap();
    let config = d.path().join("postern.toml");
    std::fs::write(
        &config,
        format!("[auth]\nuserfile = \"{}\"\n", users.display()),
    )
    .unwrap();
    assert_eq!(
        deliver_with(Some(&config), &["ann"], b"Subject: hi\n\nx\n"),
        0
    );
    assert_eq!(deliver_with(Some(&config), &["nobody-here"], b"x"), 67);
    let files: Vec<_> = std::fs::read_dir(md.join("new")).unwrap().collect();
    assert_eq!(files.len(), 1, "delivered despite disableimap=1");
    if root {
        use std::os::unix::fs::MetadataExt;
        let meta = files[0].as_ref().unwrap().metadata().unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
}
