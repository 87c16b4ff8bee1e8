//! Authenticated abuse and account probing (issue 10, items 9–11), each attack played
//! against the real binary:
//!
//! - LIST/LSUB patterns built to make a backtracking matcher take minutes (`*****b`
//!   against a 200-character folder name) answer at once, and correctly.
//! - Passwords that crypt(3) cannot take (600 bytes, a NUL byte) are plain failed logins
//!   over IMAP LOGIN, AUTHENTICATE PLAIN and POP3 USER/PASS and AUTH PLAIN: the answer of
//!   an unknown user, counted toward `max_failed_logins`, and no ERROR in the log.
//! - POP3 `USER` before `STLS` is forgotten (RFC 2595 §4), and IMAP keeps no SASL state
//!   across STARTTLS.

// Both fixtures bring their own copy of tests/ports (a free-port picker, no state).
#![allow(clippy::duplicate_mod)]

mod common;
mod tls_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pop3::Pop3;
use common::{Client, PASS, Part, TestServer, USER, base64, list_names};

// ---- item 9: LIST pattern matching ----

/// The old matcher needed seconds to minutes for each of these; a generous bound.
const LIST_BOUND: Duration = Duration::from_secs(2);

/// Sends `command` and asserts it completes OK within `LIST_BOUND`; returns the names.
#[track_caller]
fn timed_list(c: &mut Client, tag: &str, command: &str, kind: &str) -> Vec<String> {
    let started = Instant::now();
    let r = c.send(tag, command);
    let took = started.elapsed();
    r.assert_ok();
    assert!(
        took < LIST_BOUND,
        "{command} took {took:?} (bound {LIST_BOUND:?})"
    );
    list_names(&r, kind)
}

#[test]
fn list_patterns_with_many_wildcards_answer_at_once() {
    let server = TestServer::new();
    let long_a = "a".repeat(200);
    let long_b = format!("{}b", "a".repeat(199));
    for name in [long_a.as_str(), long_b.as_str(), "c.b"] {
        server.make_folder(name);
    }
    let mut c = server.inetd();
    c.login();
    for name in [&long_a, &long_b] {
        c.send("s", &format!("SUBSCRIBE INBOX.{name}")).assert_ok();
    }

    // `*` crosses the separator: the long name ending in b, and INBOX.c.b.
    let star = timed_list(&mut c, "l1", "LIST \"\" \"*****b\"", "LIST");
    assert_eq!(star, [format!("INBOX.{long_b}"), "INBOX.c.b".into()]);
    let star = timed_list(&mut c, "l2", "LIST \"\" \"*a*a*a*a*a*a*b\"", "LIST");
    assert_eq!(star, [format!("INBOX.{long_b}")]);
    // `%` does not: INBOX.c.b is one level too deep.
    let percent = timed_list(&mut c, "l3", "LIST \"INBOX.\" \"%%%%%%b\"", "LIST");
    assert_eq!(percent, [format!("INBOX.{long_b}")]);
    let percent = timed_list(&mut c, "l4", "LIST \"\" \"%%%%%%b\"", "LIST");
    assert!(percent.is_empty(), "{percent:?}");
    let percent = timed_list(&mut c, "l5", "LIST \"\" \"INBOX.%%%%%%a\"", "LIST");
    assert_eq!(percent, [format!("INBOX.{long_a}")]);
    // LSUB goes through the same matcher.
    let lsub = timed_list(&mut c, "l6", "LSUB \"\" \"*****b\"", "LSUB");
    assert_eq!(lsub, [format!("INBOX.{long_b}")]);
    let lsub = timed_list(&mut c, "l7", "LSUB \"INBOX.\" \"%%%%%%%a\"", "LSUB");
    assert_eq!(lsub, [format!("INBOX.{long_a}")]);
    c.logout();
}

// ---- item 10: passwords the hash function cannot take ----

/// A password crypt(3) refuses for its length (libxcrypt: 512 bytes and more).
fn long_password() -> Vec<u8> {
    vec![b'x'; 600]
}

const NUL_PASSWORD: &[u8] = b"sec\0ret";

/// A server whose accounts have crypt hashes (so the hash function is reached), alice's
/// password being `PASS`, and at most two failed logins per connection.
fn hashed_server() -> TestServer {
    let server = TestServer::with(&[("auth", "max_failed_logins", "2")]);
    let out = Command::new(common::BIN)
        .args(["pw", "-s", "SHA512-CRYPT"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{PASS}\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("postern pw");
    assert!(out.status.success());
    let hashed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hashed.starts_with("{SHA512-CRYPT}$6$"), "{hashed}");
    std::fs::write(
        &server.userfile,
        format!("{USER}:{hashed}::::{}::\n", server.home.display()),
    )
    .unwrap();
    server
}

/// The tagged text after the tag, e.g. `NO [AUTHENTICATIONFAILED] Authentication failed`.
fn after_tag(reply: &common::Reply) -> String {
    reply.tagged.text.split_once(' ').unwrap().1.to_owned()
}

/// How an unknown user with an ordinary password is answered.
fn unknown_user_answer(server: &TestServer) -> String {
    let mut c = server.inetd();
    let r = c.send("u1", "LOGIN nobody wrong");
    assert_eq!(r.code(), Some("AUTHENTICATIONFAILED"), "{}", r.dump());
    after_tag(&r)
}

/// `LOGIN user {password}` with the password as a literal.
fn imap_login(c: &mut Client, tag: &str, user: &str, password: &[u8]) -> common::Reply {
    c.send_parts(
        tag,
        &[
            Part::Text(&format!("LOGIN {user} ")),
            Part::Literal(password),
        ],
    )
}

/// `AUTHENTICATE PLAIN` with the credentials as initial response.
fn imap_plain(c: &mut Client, tag: &str, user: &str, password: &[u8]) -> common::Reply {
    let mut message = format!("\0{user}\0").into_bytes();
    message.extend_from_slice(password);
    c.send(tag, &format!("AUTHENTICATE PLAIN {}", base64(&message)))
}

/// Two attempts on one connection: both answered as for an unknown user, and the second
/// (max_failed_logins = 2) ends the session.
#[track_caller]
fn two_failures_then_bye(
    server: &TestServer,
    expected: &str,
    attempt: &dyn Fn(&mut Client, &str, &[u8]) -> common::Reply,
) {
    let mut c = server.inetd();
    for (tag, password) in [("a1", long_password()), ("a2", NUL_PASSWORD.to_vec())] {
        let r = attempt(&mut c, tag, &password);
        assert_eq!(after_tag(&r), expected, "{}", r.dump());
        if tag == "a2" {
            assert!(
                r.has("* BYE"),
                "no BYE after the second failure: {}",
                r.dump()
            );
        }
    }
    let rest = c.read_to_eof();
    assert!(rest.is_empty(), "after BYE: {rest:?}");
}

#[track_caller]
fn assert_no_error_lines(log: &str) {
    assert!(
        !log.lines().any(|l| l.starts_with("ERROR")),
        "an ERROR line for a client's bad password:\n{log}"
    );
    assert!(log.contains("LOGIN FAILED"), "{log}");
}

#[test]
fn unhashable_passwords_are_failed_imap_logins() {
    let server = hashed_server();
    let expected = unknown_user_answer(&server);
    // The account itself is fine.
    let mut c = server.inetd();
    c.login();
    c.logout();
    for user in [USER, "nobody"] {
        two_failures_then_bye(&server, &expected, &|c, tag, pw| {
            imap_login(c, tag, user, pw)
        });
        two_failures_then_bye(&server, &expected, &|c, tag, pw| {
            imap_plain(c, tag, user, pw)
        });
    }
    // AUTHENTICATE LOGIN carries the password alone, NUL and all.
    let mut c = server.inetd();
    c.write(b"a1 AUTHENTICATE LOGIN\r\n");
    assert!(c.expect_response().is_continuation());
    c.write(format!("{}\r\n", base64(USER.as_bytes())).as_bytes());
    assert!(c.expect_response().is_continuation());
    c.write(format!("{}\r\n", base64(NUL_PASSWORD)).as_bytes());
    let r = c.read_reply("a1", 2);
    assert_eq!(after_tag(&r), expected, "{}", r.dump());
    c.logout();
    assert_no_error_lines(&server.inetd_stderr());
}

#[test]
fn unhashable_passwords_are_failed_pop3_logins() {
    let server = hashed_server();
    let mut p = server.pop3d();
    assert!(p.greeting.starts_with("+OK"), "{}", p.greeting);
    assert_eq!(p.cmd("USER nobody"), "+OK Password required.");
    let expected = p.cmd("PASS wrong");
    assert!(expected.starts_with("-ERR [AUTH] "), "{expected}");

    let pass = |password: &[u8]| [b"PASS ".as_slice(), password].concat();
    let plain = |user: &str, password: &[u8]| {
        let mut message = format!("\0{user}\0").into_bytes();
        message.extend_from_slice(password);
        format!("AUTH PLAIN {}", base64(&message)).into_bytes()
    };
    for user in [USER, "nobody"] {
        // USER/PASS: a 600-byte password, then one with a NUL; the second hangs up.
        let mut p = server.pop3d();
        assert!(p.greeting.starts_with("+OK"), "{}", p.greeting);
        for (round, password) in [long_password(), NUL_PASSWORD.to_vec()].iter().enumerate() {
            assert_eq!(p.cmd(&format!("USER {user}")), "+OK Password required.");
            assert_eq!(
                p.cmd_bytes(&pass(password)),
                expected,
                "{user} round {round}"
            );
        }
        assert_eq!(p.line(), "-ERR Too many failed logins.");
        assert!(p.closed(), "still connected after two failures");
        // AUTH PLAIN, the same way.
        let mut p = server.pop3d();
        assert!(p.greeting.starts_with("+OK"), "{}", p.greeting);
        for (round, password) in [long_password(), NUL_PASSWORD.to_vec()].iter().enumerate() {
            assert_eq!(
                p.cmd_bytes(&plain(user, password)),
                expected,
                "{user} round {round}"
            );
        }
        assert_eq!(p.line(), "-ERR Too many failed logins.");
        assert!(p.closed(), "still connected after two failures");
    }
    // The account itself is fine.
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK Password required.");
    assert!(p.cmd(&format!("PASS {PASS}")).starts_with("+OK"));
    drop(p);
    let mut log = String::new();
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("pop3d")
        {
            log.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    assert_no_error_lines(&log);
}

// ---- item 11: nothing from before STLS / STARTTLS counts after it ----

#[test]
fn pop3_user_before_stls_is_forgotten() {
    if !tls_support::tools_present() {
        return;
    }
    let s = tls_support::Server::start("", "", "");
    let mut c = Pop3::connect(s.pop3);
    assert!(c.greeting.starts_with("+OK"));
    assert_eq!(
        c.cmd(&format!("USER {}", tls_support::USER)),
        "+OK Password required."
    );
    assert_eq!(c.cmd("STLS"), "+OK Begin TLS negotiation now.");
    c.start_tls(&s.pki.ca, None).unwrap();
    let answer = c.cmd(&format!("PASS {}", tls_support::PASSWORD));
    assert!(
        answer.starts_with("-ERR"),
        "PASS after STLS used the plaintext USER: {answer}"
    );
    let stat = c.cmd("STAT");
    assert!(
        stat.starts_with("-ERR"),
        "not logged in, yet STAT says {stat}"
    );
    // Given again under TLS, the same name and password log in.
    assert_eq!(
        c.cmd(&format!("USER {}", tls_support::USER)),
        "+OK Password required."
    );
    let answer = c.cmd(&format!("PASS {}", tls_support::PASSWORD));
    assert!(answer.starts_with("+OK"), "{answer}");
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

/// IMAP keeps no authentication state across STARTTLS: a SASL exchange lives inside one
/// AUTHENTICATE command, so a client cannot begin one in plaintext and finish it under
/// TLS, and STARTTLS sent as a SASL response is no STARTTLS.
#[test]
fn imap_sasl_does_not_span_starttls() {
    if !tls_support::tools_present() {
        return;
    }
    let s = tls_support::Server::start("", "", "");
    let mut c = tls_support::Client::connect(s.imap);
    assert!(c.line().starts_with("* OK"));
    let credentials =
        base64(format!("\0{}\0{}", tls_support::USER, tls_support::PASSWORD).as_bytes());
    c.send("a1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.line(), "+ ");
    // The plaintext exchange ends at its next line, whatever it says.
    c.send("a2 STARTTLS\r\n");
    let answer = c.until_tag("a1");
    assert!(answer.last().unwrap().starts_with("a1 BAD"), "{answer:?}");
    c.send("b1 STARTTLS\r\n");
    let answer = c.until_tag("b1");
    assert!(answer.last().unwrap().starts_with("b1 OK"), "{answer:?}");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    // The credentials the plaintext exchange waited for are no command under TLS.
    c.send(&format!("{credentials}\r\n"));
    let answer = c.line();
    assert!(answer.contains("BAD"), "{answer}");
    c.send("c1 SELECT INBOX\r\n");
    let answer = c.until_tag("c1");
    assert!(
        answer.last().unwrap().starts_with("c1 BAD"),
        "logged in? {answer:?}"
    );
    c.send(&format!("d1 AUTHENTICATE PLAIN {credentials}\r\n"));
    let answer = c.until_tag("d1");
    assert!(answer.last().unwrap().starts_with("d1 OK"), "{answer:?}");
    c.send("e1 LOGOUT\r\n");
    c.until_tag("e1");
}
