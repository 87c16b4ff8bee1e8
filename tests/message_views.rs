//! Message views through the binary, without an oracle (tests/dovecot_views.rs compares
//! them with Dovecot where it is there): SEARCH CHARSET in the charsets clients send,
//! encoded words in them, address search without comments, sent dates without seconds,
//! and BODY[HEADER.FIELDS.NOT] keeping lines that are no fields.

mod common;

use common::{Part, TestServer};

const JAPANESE: &str = "From: <user (c)@ (c) example.org>\r\n\
    Subject: =?ISO-2022-JP?B?GyRCJU8lbSE8GyhC?=\r\n\
    Date: Tue, 14 Mar 2017 09:26 EST\r\n\
    \r\n\
    body\r\n";

const LATIN1: &[u8] = b"From foo@bar Mon Jan  1 00:00:00 2024\r\n\
    From: a@example.com\r\n\
    bad line without colon\r\n\
    : empty name\r\n\
    Subject: latin\r\n\
    Content-Type: text/plain; charset=iso-8859-1\r\n\
    \r\n\
    cr\xe8me br\xfbl\xe9e\r\n";

fn appended(server: &TestServer) -> common::Client {
    let (mut c, _) = server.session("INBOX");
    for (i, m) in [JAPANESE.as_bytes(), LATIN1].iter().enumerate() {
        c.send_parts(
            &format!("A{i}"),
            &[Part::Text("APPEND INBOX "), Part::Literal(m)],
        )
        .assert_ok();
    }
    c.send("N", "NOOP").assert_ok();
    c
}

#[track_caller]
fn search(c: &mut common::Client, parts: &[Part]) -> Vec<u32> {
    let r = c.send_parts("S", parts);
    r.assert_ok();
    r.search()
}

#[test]
fn search_charset_accepts_the_charsets_clients_send() {
    let server = TestServer::new();
    let mut c = appended(&server);
    // "ハロー" in ISO-2022-JP finds the ISO-2022-JP encoded word.
    let jis = b"\x1b$B%O%m!<\x1b(B";
    assert_eq!(
        search(
            &mut c,
            &[
                Part::Text("SEARCH CHARSET ISO-2022-JP SUBJECT "),
                Part::Literal(jis)
            ]
        ),
        vec![1]
    );
    assert_eq!(
        search(
            &mut c,
            &[
                Part::Text("SEARCH CHARSET UTF-8 SUBJECT "),
                Part::Literal("ハロー".as_bytes())
            ]
        ),
        vec![1]
    );
    // "brûlée" in windows-1252 and "crème" in ISO-8859-1 find the Latin-1 body.
    assert_eq!(
        search(
            &mut c,
            &[
                Part::Text("SEARCH CHARSET WINDOWS-1252 BODY "),
                Part::Literal(b"br\xfbl\xe9e")
            ]
        ),
        vec![2]
    );
    for cs in [
        "ISO-8859-1",
        "KOI8-R",
        "SHIFT_JIS",
        "EUC-KR",
        "GB18030",
        "BIG5",
        "UTF-16",
    ] {
        let r = c.send("S", &format!("SEARCH CHARSET {cs} ALL"));
        assert!(r.is_ok(), "CHARSET {cs}: {}", r.dump());
    }
    let r = c.send("S", "SEARCH CHARSET X-NO-SUCH-CHARSET ALL");
    assert_eq!(r.status(), "NO", "{}", r.dump());
    assert!(
        r.code().is_some_and(|c| c.starts_with("BADCHARSET")),
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn from_without_comments_and_dates_without_seconds() {
    let server = TestServer::new();
    let mut c = appended(&server);
    assert_eq!(
        search(&mut c, &[Part::Text("SEARCH FROM user@example.org")]),
        vec![1]
    );
    assert_eq!(
        search(&mut c, &[Part::Text("SEARCH SENTON 14-Mar-2017")]),
        vec![1]
    );
    assert_eq!(
        search(&mut c, &[Part::Text("SEARCH SENTSINCE 15-Mar-2017")]),
        Vec::<u32>::new()
    );
    let r = c.send("F", "FETCH 1 (ENVELOPE)");
    r.assert_ok();
    assert!(
        r.has("((NIL NIL \"user\" \"example.org\"))"),
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn header_fields_not_keeps_malformed_lines() {
    let server = TestServer::new();
    let mut c = appended(&server);
    let r = c.send(
        "F",
        "FETCH 2 (BODY.PEEK[HEADER.FIELDS.NOT (Subject Content-Type)])",
    );
    r.assert_ok();
    let got = r
        .untagged
        .iter()
        .find_map(|l| l.literals.first().cloned())
        .expect("a literal");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "From foo@bar Mon Jan  1 00:00:00 2024\r\nFrom: a@example.com\r\n\
         bad line without colon\r\n: empty name\r\n\r\n"
    );
    c.logout();
}
