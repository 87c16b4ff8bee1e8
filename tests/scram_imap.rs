//! AUTHENTICATE SCRAM-SHA-256 against the real binary (`postern imapd --inetd`), driven by
//! the test's own SCRAM client: offered only when configured, full exchanges with
//! `{PLAIN}` and `{SCRAM-SHA-256}` secrets (SASL-IR and not), and every way to fail.

mod common;
mod scram_support;

use std::process::Command;

use common::*;
use scram_support::*;

/// Dovecot's `doveadm pw -s SCRAM-SHA-256` output for the password "pass".
const DOVEADM_PASS: &str = "{SCRAM-SHA-256}4096,kUUWnvu6LCpRsZ2kf2ET8Q==,\
                            gxa9gYcu7AKRFeHC78hBUcmzLXF1LXd0xJVbLnUT8RY=,\
                            P1Su/6jHm9awXwS3Y2RGr56KbooOKvcO7Jw6zNTx9k8=";

/// alice `{PLAIN}secret` (the fixture's), sam with a SCRAM secret made here for "sesame",
/// dove with doveadm's for "pass", cris with a SHA512-CRYPT hash of "crypt".
fn server(extra: &[(&'static str, &'static str, &str)]) -> TestServer {
    let mut settings = vec![("auth", "scram", "true")];
    settings.extend_from_slice(extra);
    let s = TestServer::with(&settings);
    let crypt = Command::new("openssl")
        .args(["passwd", "-6", "-salt", "postern", "crypt"])
        .output()
        .unwrap();
    let crypt = String::from_utf8(crypt.stdout).unwrap().trim().to_owned();
    let mut users = std::fs::read_to_string(&s.userfile).unwrap();
    for (user, secret) in [
        ("sam", stored_secret("sesame", b"sam's own salt!!", 4096)),
        ("dove", DOVEADM_PASS.to_owned()),
        ("cris", format!("{{SHA512-CRYPT}}{crypt}")),
    ] {
        let home = s.dir.path().join(format!("home-{user}"));
        std::fs::create_dir(&home).unwrap();
        let status = Command::new(BIN)
            .arg("maildirmake")
            .arg(home.join("Maildir"))
            .status()
            .unwrap();
        assert!(status.success());
        users.push_str(&format!("{user}:{secret}::::{}::\n", home.display()));
    }
    std::fs::write(&s.userfile, users).unwrap();
    s
}

/// One AUTHENTICATE SCRAM-SHA-256 exchange; returns the tagged reply.
fn authenticate(
    c: &mut Client,
    user: &str,
    password: &str,
    sasl_ir: bool,
    tamper: Tamper,
) -> Reply {
    let mut scram = ScramClient::new(user, password);
    if sasl_ir {
        c.write(
            format!(
                "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
                b64(scram.first().as_bytes())
            )
            .as_bytes(),
        );
    } else {
        c.write(b"a AUTHENTICATE SCRAM-SHA-256\r\n");
        let go = c.expect_response();
        assert_eq!(go.text, "+ ", "an empty challenge first");
        c.write(format!("{}\r\n", b64(scram.first().as_bytes())).as_bytes());
    }
    let server_first = c.expect_response();
    assert!(server_first.is_continuation(), "{}", server_first.text);
    let server_first = String::from_utf8(unb64(&server_first.text[2..])).unwrap();
    let client_final = scram.final_message(&server_first, tamper);
    c.write(format!("{}\r\n", b64(client_final.as_bytes())).as_bytes());
    let next = c.expect_response();
    if !next.is_continuation() {
        // A failed proof ends the exchange at once (RFC 5802 §5.1 allows it).
        assert!(next.text.starts_with("a "), "{}", next.text);
        return Reply {
            untagged: Vec::new(),
            tagged: next,
            continuations: 2,
        };
    }
    let server_final = String::from_utf8(unb64(&next.text[2..])).unwrap();
    scram.check_server_final(&server_final);
    c.write(b"\r\n");
    c.read_reply("a", 3)
}

#[test]
fn offered_only_when_configured() {
    let s = TestServer::new();
    let mut c = s.inetd();
    assert!(!c.greeting.text.contains("SCRAM"), "{}", c.greeting.text);
    let r = c.send("a", "AUTHENTICATE SCRAM-SHA-256");
    assert_eq!(r.code(), Some("CANNOT"), "{}", r.dump());
    drop(c);

    let s = server(&[]);
    let mut c = s.inetd();
    assert!(
        c.greeting.text.contains(" AUTH=SCRAM-SHA-256"),
        "{}",
        c.greeting.text
    );
    let r = c.send("b", "CAPABILITY");
    assert!(r.has("AUTH=SCRAM-SHA-256"), "{}", r.dump());
    // After the login it is gone, with the other AUTH= capabilities.
    c.login();
    let r = c.send("c", "CAPABILITY");
    assert!(!r.has("AUTH="), "{}", r.dump());

    // PAM cannot reveal keys: not offered, and an attempt is a failed login.
    let s = server(&[("auth", "backend", "\"pam\"")]);
    let mut c = s.inetd();
    assert!(!c.greeting.text.contains("SCRAM"), "{}", c.greeting.text);
    let first = ScramClient::new(USER, PASS).first();
    let r = c.send(
        "d",
        &format!("AUTHENTICATE SCRAM-SHA-256 {}", b64(first.as_bytes())),
    );
    assert_eq!(r.code(), Some("AUTHENTICATIONFAILED"), "{}", r.dump());
    assert!(
        s.inetd_stderr().contains("mechanism unavailable"),
        "{}",
        s.inetd_stderr()
    );

    // Nor CRAM, which needs the cleartext secret just as much.
    let s = TestServer::with(&[("auth", "backend", "\"pam\""), ("auth", "cram", "true")]);
    let c = s.inetd();
    assert!(!c.greeting.text.contains("CRAM"), "{}", c.greeting.text);
}

#[test]
fn full_exchanges() {
    let s = server(&[]);
    for (user, password) in [(USER, PASS), ("sam", "sesame"), ("dove", "pass")] {
        for sasl_ir in [true, false] {
            let mut c = s.inetd();
            let r = authenticate(&mut c, user, password, sasl_ir, Tamper::None);
            r.assert_ok();
            assert!(
                r.tagged.text.contains("AUTHENTICATE completed"),
                "{}",
                r.dump()
            );
            c.select("INBOX");
            c.logout();
        }
    }
    // The SCRAM-only secrets work with LOGIN too.
    for (user, password) in [("sam", "sesame"), ("dove", "pass")] {
        let mut c = s.inetd();
        c.send("l", &format!("LOGIN {user} {password}")).assert_ok();
    }
    let log = s.inetd_stderr();
    assert!(log.contains("sam"), "{log}");
}

#[test]
fn keys_from_a_plain_secret_are_stable() {
    // The salt for a {PLAIN} secret is the same every time, so a client may cache.
    let s = server(&[]);
    // Cancel after server-first: the tagged reply ends it.
    let mut c = s.inetd();
    let scram = ScramClient::new(USER, PASS);
    c.write(
        format!(
            "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
            b64(scram.first().as_bytes())
        )
        .as_bytes(),
    );
    let one = c.expect_response();
    c.write(b"*\r\n");
    let r = c.read_reply("a", 1);
    assert_eq!(r.status(), "BAD", "{}", r.dump());
    let mut c2 = s.inetd();
    c2.write(
        format!(
            "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
            b64(scram.first().as_bytes())
        )
        .as_bytes(),
    );
    let two = c2.expect_response();
    let s_attr = |l: &Line| {
        String::from_utf8(unb64(&l.text[2..]))
            .unwrap()
            .split(',')
            .find(|a| a.starts_with("s="))
            .unwrap()
            .to_owned()
    };
    assert_eq!(s_attr(&one), s_attr(&two));
    // Different server nonces each time.
    assert_ne!(one.text, two.text);
}

#[test]
fn failures_are_failed_logins() {
    let s = server(&[("auth", "max_failed_logins", "10")]);
    let mut c = s.inetd();
    for (user, password, tamper) in [
        (USER, "wrong", Tamper::None),
        ("sam", "wrong", Tamper::None),
        ("nobody", "x", Tamper::None),
        // The right password, but the account's secret is a crypt hash.
        ("cris", "crypt", Tamper::None),
        (USER, PASS, Tamper::Nonce),
        (USER, PASS, Tamper::Proof),
        (USER, PASS, Tamper::Binding),
        ("sam", "sesame", Tamper::Proof),
    ] {
        let r = authenticate(&mut c, user, password, true, tamper);
        assert_eq!(r.status(), "NO", "{user} {tamper:?}: {}", r.dump());
        assert_eq!(
            r.code(),
            Some("AUTHENTICATIONFAILED"),
            "{user} {tamper:?}: {}",
            r.dump()
        );
        assert_eq!(r.continuations, 2, "no server-final after a failure");
    }
    // Still not logged in; a good exchange still works on the same connection.
    authenticate(&mut c, "sam", "sesame", false, Tamper::None).assert_ok();
    let log = s.inetd_stderr();
    assert_eq!(log.matches("LOGIN FAILED").count(), 8, "{log}");
    assert!(log.contains("mechanism unavailable"), "{log}");
}

#[test]
fn protocol_errors() {
    let s = server(&[]);
    let mut c = s.inetd();
    // Channel binding asked for: there is no -PLUS.
    let r = c.send(
        "a",
        &format!(
            "AUTHENTICATE SCRAM-SHA-256 {}",
            b64(b"p=tls-server-end-point,,n=alice,r=abcdef")
        ),
    );
    assert_ne!(r.status(), "OK", "{}", r.dump());
    assert!(r.tagged.text.contains("channel binding"), "{}", r.dump());
    // Another authorization identity.
    let r = c.send(
        "b",
        &format!(
            "AUTHENTICATE SCRAM-SHA-256 {}",
            b64(b"n,a=sam,n=alice,r=abcdef")
        ),
    );
    assert_ne!(r.status(), "OK", "{}", r.dump());
    // Malformed client-first, and an empty initial response.
    for bad in ["bixzb21l", "="] {
        let r = c.send("c", &format!("AUTHENTICATE SCRAM-SHA-256 {bad}"));
        assert_ne!(r.status(), "OK", "{}", r.dump());
    }
    // A non-empty answer to server-final.
    let mut scram = ScramClient::new(USER, PASS);
    c.write(
        format!(
            "d AUTHENTICATE SCRAM-SHA-256 {}\r\n",
            b64(scram.first().as_bytes())
        )
        .as_bytes(),
    );
    let first = c.expect_response();
    let first = String::from_utf8(unb64(&first.text[2..])).unwrap();
    let last = scram.final_message(&first, Tamper::None);
    c.write(format!("{}\r\n", b64(last.as_bytes())).as_bytes());
    let fin = c.expect_response();
    scram.check_server_final(&String::from_utf8(unb64(&fin.text[2..])).unwrap());
    c.write(format!("{}\r\n", b64(b"more")).as_bytes());
    let r = c.read_reply("d", 3);
    assert_ne!(r.status(), "OK", "{}", r.dump());
    // Nothing above logged in.
    let r = c.send("e", "SELECT INBOX");
    assert_ne!(r.status(), "OK", "{}", r.dump());
}

#[test]
fn python_imaplib_client() {
    let have_python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_python {
        eprintln!("\n*** SKIPPED python_imaplib_client: `python3` is not installed ***\n");
        return;
    }
    let mut s = server(&[]);
    let port = s.start_serve();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/scram_imaplib.py"
    );
    for (user, password) in [(USER, PASS), ("sam", "sesame"), ("dove", "pass")] {
        let out = Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port.to_string(), user, password])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("ALL OK"),
            "{user}: {text}"
        );
    }
}
