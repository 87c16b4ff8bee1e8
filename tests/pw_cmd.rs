//! `postern pw` makes user-file secrets that the server then accepts, for every scheme.

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

#[path = "owner/mod.rs"]
mod owner;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn pw(scheme: &str, password: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["pw", "--scheme", scheme])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "postern pw -s {scheme} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One `--inetd` session: LOGIN with `password`, then LOGOUT; the tagged LOGIN reply.
fn login(secret: &str, password: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    owner::open_to_mail_owner(d.path());
    let home = d.path().join("home");
    fs::create_dir(&home).unwrap();
    assert!(
        Command::new(BIN)
            .arg("maildirmake")
            .arg(home.join("Maildir"))
            .status()
            .unwrap()
            .success()
    );
    owner::give_to_mail_owner(&home);
    let users = d.path().join("users");
    fs::write(&users, format!("ann:{secret}::::{}::\n", home.display())).unwrap();
    let config = d.path().join("postern.toml");
    fs::write(
        &config,
        format!(
            "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}",
            users.display(),
            owner::owner_settings()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["imapd", "--inetd", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    write!(stdin, "a LOGIN ann \"{password}\"\r\nb LOGOUT\r\n").unwrap();
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    out.lines()
        .find(|l| l.starts_with("a "))
        .unwrap_or("")
        .to_string()
}

#[test]
fn every_scheme_round_trips_through_a_login() {
    for scheme in ["SHA512-CRYPT", "CRYPT", "SCRAM-SHA-256", "PLAIN"] {
        let secret = pw(scheme, "correct horse");
        assert!(secret.starts_with(&format!("{{{scheme}}}")), "{secret}");
        assert!(
            login(&secret, "correct horse").starts_with("a OK"),
            "{scheme}: {secret}"
        );
        assert!(
            login(&secret, "wrong horse").starts_with("a NO"),
            "{scheme}"
        );
    }
}

#[test]
fn unknown_schemes_and_empty_input_are_refused() {
    let status = Command::new(BIN)
        .args(["pw", "-s", "MD5-NOPE"])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let status = Command::new(BIN)
        .arg("pw")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}
