//! POP3 `AUTH SCRAM-SHA-256` (RFC 5034) against `postern pop3d --inetd`, with the test's
//! own SCRAM client: CAPA and AUTH lists, full exchanges, failures counted.

mod common;
mod scram_support;

use std::path::Path;
use std::process::Command;

use common::pop3::{self, Pop3};
use common::{BIN, owner};
use scram_support::*;

/// alice `{PLAIN}secret`, sam `{SCRAM-SHA-256}` for "sesame", cris a crypt hash.
fn fixture(auth_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    owner::open_to_mail_owner(dir.path());
    let mut users = String::new();
    for (user, secret) in [
        ("alice", "{PLAIN}secret".to_owned()),
        ("sam", stored_secret("sesame", b"0123456789abcdef", 4096)),
        ("cris", "{SHA512-CRYPT}$6$postern$x".to_owned()),
    ] {
        let home = dir.path().join(user);
        std::fs::create_dir(&home).unwrap();
        let status = Command::new(BIN)
            .arg("maildirmake")
            .arg(home.join("Maildir"))
            .status()
            .unwrap();
        assert!(status.success());
        owner::give_to_mail_owner(&home);
        users.push_str(&format!("{user}:{secret}::::{}::\n", home.display()));
    }
    std::fs::write(dir.path().join("users"), users).unwrap();
    std::fs::write(
        dir.path().join("postern.toml"),
        format!(
            "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}{auth_extra}\n",
            dir.path().join("users").display(),
            owner::owner_settings()
        ),
    )
    .unwrap();
    dir
}

/// `postern pop3d --inetd` with the fixture's settings, after a `+OK` greeting.
fn start(dir: &Path) -> Pop3 {
    let p = pop3::inetd(&dir.join("postern.toml"));
    assert!(p.greeting.starts_with("+OK"), "{}", p.greeting);
    p
}

/// One AUTH SCRAM-SHA-256 exchange (initial response or not); the final answer.
fn scram(p: &mut Pop3, user: &str, password: &str, initial: bool, tamper: Tamper) -> String {
    let mut c = ScramClient::new(user, password);
    let first = b64(c.first().as_bytes());
    let server_first = if initial {
        p.cmd(&format!("AUTH SCRAM-SHA-256 {first}"))
    } else {
        assert_eq!(p.cmd("AUTH SCRAM-SHA-256"), "+ ");
        p.cmd(&first)
    };
    let server_first = server_first
        .strip_prefix("+ ")
        .unwrap_or_else(|| panic!("{server_first}"));
    let server_first = String::from_utf8(unb64(server_first)).unwrap();
    let last = c.final_message(&server_first, tamper);
    let answer = p.cmd(&b64(last.as_bytes()));
    let Some(server_final) = answer.strip_prefix("+ ") else {
        return answer;
    };
    c.check_server_final(&String::from_utf8(unb64(server_final)).unwrap());
    p.cmd("")
}

#[test]
fn advertised_only_when_configured() {
    let dir = fixture("");
    let mut p = start(dir.path());
    assert!(!p.list("CAPA").iter().any(|l| l.contains("SCRAM")));
    assert_eq!(
        p.cmd("AUTH SCRAM-SHA-256"),
        "-ERR Unsupported authentication mechanism."
    );
    drop(p);

    let dir = fixture("scram = true");
    let mut p = start(dir.path());
    let capa = p.list("CAPA");
    assert!(
        capa.contains(&"SASL PLAIN LOGIN SCRAM-SHA-256".to_owned()),
        "{capa:?}"
    );
    assert_eq!(p.list("AUTH"), ["PLAIN", "LOGIN", "SCRAM-SHA-256"]);

    let dir = fixture("scram = true\ncram = true\nbackend = \"pam\"");
    let mut p = start(dir.path());
    let capa = p.list("CAPA");
    assert!(!capa.iter().any(|l| l.contains("SCRAM")), "{capa:?}");
    // Not offered with PAM; trying is a failed login.
    let first = b64(ScramClient::new("alice", "secret").first().as_bytes());
    assert_eq!(
        p.cmd(&format!("AUTH SCRAM-SHA-256 {first}")),
        "-ERR [AUTH] Invalid user name or password."
    );
    let log = p.quit();
    assert!(log.contains("LOGIN FAILED"), "{log}");
}

#[test]
fn exchanges_and_failures() {
    let dir = fixture("scram = true\nmax_failed_logins = 10");
    for (user, password, initial) in [
        ("alice", "secret", true),
        ("alice", "secret", false),
        ("sam", "sesame", true),
    ] {
        let mut p = start(dir.path());
        let ok = scram(&mut p, user, password, initial, Tamper::None);
        assert!(ok.starts_with("+OK"), "{user}: {ok}");
        assert!(p.cmd("STAT").starts_with("+OK 0 0"));
        let log = p.quit();
        assert!(log.contains(&format!("LOGIN, user={user}")), "{log}");
    }

    let mut p = start(dir.path());
    for (user, password, tamper) in [
        ("alice", "wrong", Tamper::None),
        ("sam", "wrong", Tamper::None),
        ("nobody", "x", Tamper::None),
        ("cris", "x", Tamper::None),
        ("alice", "secret", Tamper::Nonce),
        ("alice", "secret", Tamper::Proof),
        ("alice", "secret", Tamper::Binding),
    ] {
        assert_eq!(
            scram(&mut p, user, password, true, tamper),
            "-ERR [AUTH] Invalid user name or password.",
            "{user} {tamper:?}"
        );
    }
    // Channel binding asked for: refused before any credential is tried (not counted).
    let r = p.cmd(&format!(
        "AUTH SCRAM-SHA-256 {}",
        b64(b"p=tls-unique,,n=alice,r=abcdef")
    ));
    assert!(
        r.starts_with("-ERR") && r.contains("channel binding"),
        "{r}"
    );
    // Cancelled after server-first.
    assert!(
        p.cmd(&format!("AUTH SCRAM-SHA-256 {}", b64(b"n,,n=alice,r=abc")))
            .starts_with("+ ")
    );
    assert_eq!(p.cmd("*"), "-ERR Authentication cancelled.");
    // Still usable.
    assert!(scram(&mut p, "sam", "sesame", false, Tamper::None).starts_with("+OK"));
    let log = p.quit();
    assert_eq!(log.matches("LOGIN FAILED").count(), 7, "{log}");
    assert!(log.contains("method=SCRAM-SHA-256"), "{log}");
}
