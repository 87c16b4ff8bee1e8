//! One IMAP session, scripted over `imapd --inetd` (and `serve` for the log lines): greeting,
//! capabilities, LOGIN and AUTHENTICATE, LOGOUT, state checks, bad input and the limits on
//! lines and literals.

mod common;

use common::*;

const CAPS: &[&str] = &[
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "UIDPLUS",
    "NAMESPACE",
    "CHILDREN",
    "UNSELECT",
    "MOVE",
    "SPECIAL-USE",
    "QUOTA",
    "UTF8=ACCEPT",
];

fn capabilities(c: &mut Client, tag: &str) -> Vec<String> {
    let r = c.send(tag, "CAPABILITY");
    r.assert_ok();
    let line = r.one("* CAPABILITY ");
    line.text["* CAPABILITY ".len()..]
        .split(' ')
        .map(|s| s.to_ascii_uppercase())
        .collect()
}

#[test]
fn greeting_and_capability() {
    let server = TestServer::new();
    let mut c = server.inetd();
    assert!(
        c.greeting.text.starts_with("* OK "),
        "greeting: {}",
        c.greeting.text
    );
    let caps = capabilities(&mut c, "a1");
    for want in CAPS.iter().chain(&["AUTH=PLAIN", "AUTH=LOGIN"]) {
        let want = want.to_ascii_uppercase();
        assert!(caps.contains(&want), "{want} missing from {caps:?}");
    }
    assert!(
        !caps.iter().any(|c| c == "LOGINDISABLED"),
        "LOGIN must be allowed: {caps:?}"
    );
    // The greeting's CAPABILITY code, if any, says the same.
    if let Some(list) = c
        .greeting
        .code()
        .and_then(|code| code.strip_prefix("CAPABILITY "))
    {
        let mut g: Vec<String> = list.split(' ').map(|s| s.to_ascii_uppercase()).collect();
        let mut cs = caps.clone();
        g.sort();
        cs.sort();
        assert_eq!(g, cs, "greeting and CAPABILITY disagree");
    }
    c.login();
    let after = capabilities(&mut c, "a2");
    for want in CAPS {
        let want = want.to_ascii_uppercase();
        assert!(
            after.contains(&want),
            "{want} missing after login: {after:?}"
        );
    }
    assert!(
        !after.iter().any(|c| c.starts_with("AUTH=")),
        "AUTH= after login: {after:?}"
    );
    c.logout();
}

#[test]
fn login_forms() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.send("a1", &format!("LOGIN \"{USER}\" \"{PASS}\""))
        .assert_ok();
    c.logout();

    let mut c = server.inetd();
    let r = c.send_parts(
        "a1",
        &[
            Part::Text("LOGIN "),
            Part::Literal(USER.as_bytes()),
            Part::Text(" "),
            Part::Literal(PASS.as_bytes()),
        ],
    );
    r.assert_ok();
    assert_eq!(r.continuations, 2, "{}", r.dump());
    c.logout();

    let mut c = server.inetd();
    let r = c.send_parts(
        "a1",
        &[
            Part::Text("LOGIN "),
            Part::LiteralPlus(USER.as_bytes()),
            Part::Text(" "),
            Part::LiteralPlus(PASS.as_bytes()),
        ],
    );
    r.assert_ok();
    assert_eq!(
        r.continuations,
        0,
        "LITERAL+ needs no continuation: {}",
        r.dump()
    );
    c.logout();
}

#[test]
fn login_bad_password_then_good() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let r = c.send("a1", &format!("LOGIN {USER} wrong"));
    r.assert_status("NO");
    assert_eq!(r.code(), Some("AUTHENTICATIONFAILED"), "{}", r.dump());
    // An unknown user gets the very same answer.
    let r = c.send("a2", "LOGIN nobody wrong");
    r.assert_status("NO");
    assert_eq!(r.code(), Some("AUTHENTICATIONFAILED"), "{}", r.dump());
    c.send("a3", &format!("LOGIN {USER} {PASS}")).assert_ok();
    c.send("a4", "SELECT INBOX").assert_ok();
    c.logout();
}

#[test]
fn three_failed_logins_end_the_session() {
    let server = TestServer::new();
    let mut c = server.inetd();
    for tag in ["a1", "a2"] {
        let r = c.send(tag, &format!("LOGIN {USER} wrong"));
        r.assert_status("NO");
    }
    c.write(format!("a3 LOGIN {USER} wrong\r\n").as_bytes());
    let rest = c.read_to_eof();
    let texts: Vec<&str> = rest.iter().map(|l| l.text.as_str()).collect();
    assert!(
        texts.iter().any(|t| t.starts_with("* BYE")),
        "no BYE after 3 failed logins: {texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.starts_with("a3 OK")),
        "third failure answered OK: {texts:?}"
    );
}

#[test]
fn authenticate_plain_with_initial_response() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let ir = base64(format!("\0{USER}\0{PASS}").as_bytes());
    let r = c.send("a1", &format!("AUTHENTICATE PLAIN {ir}"));
    r.assert_ok();
    assert_eq!(
        r.continuations,
        0,
        "SASL-IR needs no continuation: {}",
        r.dump()
    );
    c.send("a2", "SELECT INBOX").assert_ok();
    c.logout();

    let mut c = server.inetd();
    let ir = base64(format!("\0{USER}\0nope").as_bytes());
    let r = c.send("a1", &format!("AUTHENTICATE PLAIN {ir}"));
    r.assert_status("NO");
    assert_eq!(r.code(), Some("AUTHENTICATIONFAILED"), "{}", r.dump());
    c.logout();
}

#[test]
fn authenticate_plain_with_continuation() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.write(b"a1 AUTHENTICATE PLAIN\r\n");
    let cont = c.expect_response();
    assert!(cont.is_continuation(), "wanted '+', got {}", cont.text);
    c.write(format!("{}\r\n", base64(format!("\0{USER}\0{PASS}").as_bytes())).as_bytes());
    c.read_reply("a1", 1).assert_ok();
    c.send("a2", "SELECT INBOX").assert_ok();
    c.logout();

    // The client may cancel with "*".
    let mut c = server.inetd();
    c.write(b"b1 AUTHENTICATE PLAIN\r\n");
    assert!(c.expect_response().is_continuation());
    c.write(b"*\r\n");
    c.read_reply("b1", 1).assert_status("BAD");
    c.send("b2", "NOOP").assert_ok();
    c.send("b3", "SELECT INBOX").assert_status("BAD");
    c.login();
    c.logout();
}

#[test]
fn authenticate_login() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.write(b"a1 AUTHENTICATE LOGIN\r\n");
    let p1 = c.expect_response();
    assert!(p1.is_continuation(), "{}", p1.text);
    c.write(format!("{}\r\n", base64(USER.as_bytes())).as_bytes());
    let p2 = c.expect_response();
    assert!(p2.is_continuation(), "{}", p2.text);
    c.write(format!("{}\r\n", base64(PASS.as_bytes())).as_bytes());
    c.read_reply("a1", 2).assert_ok();
    c.logout();
}

#[test]
fn logout_before_and_after_login() {
    let server = TestServer::new();
    server.inetd().logout();
    let mut c = server.inetd();
    c.login();
    c.send("a1", "SELECT INBOX").assert_ok();
    c.logout();
}

/// LOGOUT's tagged OK comes once the session is done with its folder, as in Dovecot:
/// closing the folder may write its index, and a client or script that moves or deletes
/// the folder on hearing the OK must not race that write.
#[test]
fn logout_completes_after_the_folder_is_closed() {
    let server = TestServer::new();
    server.make_folder("Scratch");
    for i in 0..30 {
        let m = message("bob@example.org", &format!("m {i}"), "x\r\n");
        server.deliver(Some("INBOX.Scratch"), &m);
    }
    let folder = server.maildir.join(".Scratch");
    // The index, or the diff that brings it up to date (a few rows of a larger folder).
    let written = || {
        ["postern-index", "postern-index.diff"]
            .iter()
            .filter_map(|f| {
                std::fs::metadata(folder.join(f))
                    .and_then(|m| m.modified())
                    .ok()
            })
            .max()
    };
    for round in 0..3 {
        let (mut c, _) = server.session("INBOX.Scratch");
        c.send("s", &format!("STORE {} +FLAGS (\\Seen)", round + 1))
            .assert_ok();
        // Past the file system's clock tick, so the rows after the NOOP are worth an
        // index, which the close writes.
        std::thread::sleep(std::time::Duration::from_millis(60));
        let noop = std::time::SystemTime::now();
        c.send("n", "NOOP").assert_ok();
        let r = c.send("LO", "LOGOUT");
        r.assert_ok();
        let written = written();
        assert!(
            // File times come from the kernel's coarse clock, a tick behind; an index
            // from before the STORE would be 60 ms older.
            written.is_some_and(|t| t + std::time::Duration::from_millis(20) >= noop),
            "round {round}: the index was not written before LOGOUT completed: {written:?}\n{}",
            server.inetd_stderr()
        );
    }
}

#[test]
fn id_and_noop_before_login() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.send("a1", "NOOP").assert_ok();
    let r = c.send("a2", "ID (\"name\" \"postern-tests\" \"version\" \"1\")");
    r.assert_ok();
    r.one("* ID ");
    let r = c.send("a3", "ID NIL");
    r.assert_ok();
    c.logout();
}

#[test]
fn commands_in_the_wrong_state_are_bad() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let not_authenticated = [
        "SELECT INBOX",
        "EXAMINE INBOX",
        "CREATE INBOX.x",
        "LIST \"\" *",
        "STATUS INBOX (MESSAGES)",
        "APPEND INBOX {0+}\r\n",
        "ENABLE UTF8=ACCEPT",
        "NAMESPACE",
        "IDLE",
        "FETCH 1 FLAGS",
        "UNSELECT",
    ];
    for (i, cmd) in not_authenticated.iter().enumerate() {
        let tag = format!("n{i}");
        let r = c.send(&tag, cmd);
        r.assert_status("BAD");
    }
    c.login();
    let authenticated = [
        "FETCH 1 FLAGS",
        "UID FETCH 1 FLAGS",
        "STORE 1 +FLAGS (\\Seen)",
        "SEARCH ALL",
        "COPY 1 INBOX",
        "MOVE 1 INBOX",
        "EXPUNGE",
        "UID EXPUNGE 1",
        "CLOSE",
        "UNSELECT",
        "CHECK",
        &format!("LOGIN {USER} {PASS}"),
        "AUTHENTICATE PLAIN",
    ];
    for (i, cmd) in authenticated.iter().enumerate() {
        let tag = format!("a{i}");
        let r = c.send(&tag, cmd);
        r.assert_status("BAD");
    }
    c.send("z1", "SELECT INBOX").assert_ok();
    // An empty mailbox: "1:*" is BAD for sequence numbers (RFC 3501 9) but fine as UIDs.
    c.send("z2", "FETCH 1:* FLAGS").assert_status("BAD");
    c.send("z3", "UID FETCH 1:* FLAGS").assert_ok();
    c.logout();
}

/// Sends `input` (a whole line or more) and reads to the first BAD, tagged or untagged;
/// then checks the session still answers.
fn expect_bad_then_alive(c: &mut Client, input: &[u8], n: usize) {
    c.write(input);
    loop {
        let l = c.expect_response();
        assert_ne!(
            l.status(),
            "BYE",
            "session ended after {:?}",
            shorten_bytes(input)
        );
        assert!(
            !l.is_continuation(),
            "continuation for {:?}",
            shorten_bytes(input)
        );
        if l.status() == "BAD" {
            break;
        }
        assert!(
            l.text.starts_with("* "),
            "wanted BAD for {:?}, got {}",
            shorten_bytes(input),
            l.text
        );
    }
    c.send(&format!("alive{n}"), "NOOP").assert_ok();
}

fn shorten_bytes(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.chars().take(80).collect()
}

#[test]
fn malformed_commands_are_bad_and_the_session_goes_on() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let before_login: &[&[u8]] = &[
        b"a1 FROBNICATE\r\n",
        b"a2 NOOP extra\r\n",
        b"a3 LOGIN alice\r\n",
        b"a4 LOGIN\r\n",
        b"a5\r\n",
        b"\r\n",
        b"a6 LOGIN \"alice secret\r\n",
        b"a(7 NOOP\r\n",
        b"a8  NOOP\r\n",
        b"a9 CAPABILITY(\r\n",
    ];
    for (n, input) in before_login.iter().enumerate() {
        expect_bad_then_alive(&mut c, input, n);
    }
    c.login();
    server.deliver(None, &message("bob@example.org", "one", "body\r\n"));
    c.send("s", "SELECT INBOX").assert_ok();
    let selected: &[&[u8]] = &[
        b"b1 FETCH 1 (FLAGS\r\n",
        b"b2 FETCH 1 NOSUCHITEM\r\n",
        b"b3 FETCH x FLAGS\r\n",
        b"b4 FETCH 0 FLAGS\r\n",
        b"b5 STORE 1 FLAGS\r\n",
        b"b6 SEARCH NOSUCHKEY\r\n",
        b"b7 SEARCH (ALL\r\n",
        b"b8 SELECT\r\n",
        b"b9 UID\r\n",
        b"b10 UID FROB 1\r\n",
        b"b11 STATUS INBOX (NOSUCHITEM)\r\n",
        b"b12 LIST \"\"\r\n",
        b"b13 SEARCH CHARSET\r\n",
        b"b14 FETCH 1 BODY[1.x]\r\n",
        b"b15 FETCH 1 BODY[]<5.x>\r\n",
    ];
    for (n, input) in selected.iter().enumerate() {
        expect_bad_then_alive(&mut c, input, 100 + n);
    }
    c.logout();
}

#[test]
fn over_long_line_is_bad_and_the_session_goes_on() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let mut line = b"a1 LOGIN alice ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 70_000));
    line.extend_from_slice(b"\r\n");
    expect_bad_then_alive(&mut c, &line, 1);
    c.login();
    let mut line = b"a2 SEARCH SUBJECT ".to_vec();
    line.extend(std::iter::repeat_n(b'y', 200_000));
    line.extend_from_slice(b"\r\n");
    expect_bad_then_alive(&mut c, &line, 2);
    c.send("a3", "SELECT INBOX").assert_ok();
    c.logout();
}

#[test]
fn synchronizing_literal_too_big_gets_toobig_without_continuation() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let big = vec![b'x'; 70_000];
    let r = c.send_parts("a1", &[Part::Text("LOGIN alice "), Part::Literal(&big)]);
    assert_eq!(
        r.continuations,
        0,
        "'+' for a literal over the limit: {}",
        r.dump()
    );
    r.assert_status("NO");
    assert_eq!(r.code(), Some("TOOBIG"), "{}", r.dump());
    c.send("a2", "NOOP").assert_ok();
    c.login();
    c.logout();
}

#[test]
fn append_literal_over_max_append_size_gets_toobig() {
    let server = TestServer::with(&[("limits", "max_append_size", "1000")]);
    let mut c = server.inetd();
    c.login();
    let big = message("a@example.org", "big", &"z".repeat(2000));
    let r = c.send_parts("a1", &[Part::Text("APPEND INBOX "), Part::Literal(&big)]);
    assert_eq!(
        r.continuations,
        0,
        "'+' for a literal over the limit: {}",
        r.dump()
    );
    r.assert_status("NO");
    assert_eq!(r.code(), Some("TOOBIG"), "{}", r.dump());
    // Within the limit it works.
    let small = message("a@example.org", "small", "hi\r\n");
    c.send_parts("a2", &[Part::Text("APPEND INBOX "), Part::Literal(&small)])
        .assert_ok();
    let r = c.send("a3", "STATUS INBOX (MESSAGES)");
    r.assert_ok();
    assert!(r.has("MESSAGES 1"), "{}", r.dump());
    c.logout();
}

#[test]
fn literal_plus_too_big_is_drained_and_the_next_command_works() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let big = vec![b'x'; 70_000];
    let r = c.send_parts("a1", &[Part::Text("LOGIN alice "), Part::LiteralPlus(&big)]);
    assert_ne!(r.status(), "OK", "{}", r.dump());
    assert!(
        r.untagged.iter().all(|l| l.status() != "BYE"),
        "{}",
        r.dump()
    );
    c.send("a2", "NOOP").assert_ok();
    c.login();
    // An APPEND that is too big with LITERAL+ is drained too.
    drop(c);
    let server = TestServer::with(&[("limits", "max_append_size", "1000")]);
    let mut c = server.inetd();
    c.login();
    let big = message("a@example.org", "big", &"LOGOUT\r\n".repeat(500));
    let r = c.send_parts(
        "b1",
        &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&big)],
    );
    assert_ne!(r.status(), "OK", "{}", r.dump());
    c.send("b2", "NOOP").assert_ok();
    let r = c.send("b3", "STATUS INBOX (MESSAGES)");
    assert!(r.has("MESSAGES 0"), "{}", r.dump());
    c.logout();
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches(['[', ']']))
}

#[test]
fn log_lines_for_login_failed_login_and_logout() {
    let mut server = TestServer::new();
    server.start_serve();

    let mut c = server.connect();
    let port = c.local_port().unwrap();
    let mut sent = 0usize;
    let mut cmd = |c: &mut Client, tag: &str, text: &str| {
        sent += tag.len() + 1 + text.len() + 2;
        c.send(tag, text)
    };
    cmd(&mut c, "a1", &format!("LOGIN {USER} wrong")).assert_status("NO");
    cmd(&mut c, "a2", &format!("LOGIN {USER} {PASS}")).assert_ok();
    cmd(&mut c, "a3", "SELECT INBOX").assert_ok();
    cmd(&mut c, "a4", "LOGOUT").assert_ok();
    c.read_to_eof();
    drop(c);

    let log = wait_for(
        || server.serve_stderr(),
        |t| t.lines().any(|l| l.contains("LOGOUT") && l.contains(USER)),
    );
    let lines: Vec<&str> = log.lines().collect();
    let mine = |l: &&str| l.contains(&format!("user={USER}")) && l.contains("127.0.0.1");
    let failed: Vec<&&str> = lines
        .iter()
        .filter(|l| mine(l) && l.to_ascii_uppercase().contains("FAIL"))
        .collect();
    let login: Vec<&&str> = lines
        .iter()
        .filter(|l| mine(l) && l.contains("LOGIN") && !l.to_ascii_uppercase().contains("FAIL"))
        .collect();
    let logout: Vec<&&str> = lines
        .iter()
        .filter(|l| mine(l) && l.contains("LOGOUT"))
        .collect();
    assert_eq!(failed.len(), 1, "one failed-login line wanted in:\n{log}");
    assert_eq!(login.len(), 1, "one login line wanted in:\n{log}");
    assert_eq!(logout.len(), 1, "one logout line wanted in:\n{log}");
    for l in [failed[0], login[0], logout[0]] {
        assert_eq!(field(l, "ip"), Some("127.0.0.1"), "ip in {l}");
    }
    for l in [failed[0], login[0], logout[0]] {
        assert_eq!(
            field(l, "port"),
            Some(port.to_string().as_str()),
            "client port in {l}"
        );
    }
    assert!(
        login[0].contains("protocol=IMAP"),
        "protocol in {}",
        login[0]
    );
    // One session id ties the session's lines together (journald field SESSION_ID).
    let session =
        field(login[0], "session_id").unwrap_or_else(|| panic!("session_id in {}", login[0]));
    assert_eq!(session.len(), 16, "{}", login[0]);
    for l in [failed[0], logout[0]] {
        assert_eq!(
            field(l, "session_id"),
            Some(session),
            "same session id in {l}"
        );
    }
    let logout = logout[0];
    let rcvd: usize = field(logout, "rcvd")
        .unwrap_or_else(|| panic!("rcvd= in {logout}"))
        .parse()
        .unwrap();
    let sent_by_server: usize = field(logout, "sent")
        .unwrap_or_else(|| panic!("sent= in {logout}"))
        .parse()
        .unwrap();
    assert!(
        rcvd > 0 && rcvd <= sent,
        "rcvd={rcvd}, the client sent {sent} bytes: {logout}"
    );
    assert!(sent_by_server > 0, "{logout}");
}

#[test]
#[should_panic(expected = "imap-codec rejects")]
fn the_codec_check_is_real() {
    // A BODYSTRUCTURE without size and lines is not IMAP.
    check_response(
        b"* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\"))\r\n",
        false,
    );
}

#[test]
fn the_codec_check_accepts_what_the_server_needs() {
    for line in [
        &b"* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n"[..],
        b"a OK [COPYUID 9 1:2,4 7:9] done\r\n",
        b"* LIST (\\HasNoChildren \\Sent) \".\" \"INBOX.R\xc3\xa9sum\xc3\xa9\"\r\n",
        b"* 1 FETCH (UID 4 BODY[]<0> {3}\r\nabc FLAGS (\\Seen $Work))\r\n",
        b"+ idling\r\n",
    ] {
        check_response(line, false);
    }
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.write(
        format!("p1 NOOP\r\np2 LOGIN {USER} {PASS}\r\np3 SELECT INBOX\r\np4 CAPABILITY\r\n")
            .as_bytes(),
    );
    for tag in ["p1", "p2", "p3", "p4"] {
        c.read_reply(tag, 0).assert_ok();
    }
    c.logout();
}
