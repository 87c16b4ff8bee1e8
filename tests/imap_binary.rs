//! BINARY (RFC 3516) against the real binary: FETCH BINARY[section]<partial>,
//! BINARY.PEEK, BINARY.SIZE with the transfer encoding undone by postern, `~{n}` literal8
//! answers when the decoded bytes hold a NUL, `NO [UNKNOWN-CTE]`, and APPEND with a
//! literal8 message. Every response is checked by imap-codec (it knows BINARY).

mod common;

use common::*;

/// A message shaped like RFC 3516's examples: a text part in quoted-printable, a binary
/// attachment in base64 (with a NUL in it), and one in an encoding nobody decodes.
const MIXED: &[u8] = b"From: Bob <bob@example.org>\r\n\
To: Alice <alice@example.org>\r\n\
Subject: binary\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=C3=BC=C3=9Fe, a soft =\r\n\
break and a=3Dsign\r\n\
--XX\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwQF/w==\r\n\
--XX\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 a\r\n\
end\r\n\
--XX--\r\n";

fn server_with(messages: &[&[u8]]) -> TestServer {
    let server = TestServer::new();
    for (n, m) in messages.iter().enumerate() {
        server.put("INBOX", "cur", &format!("100{n}.M1P1.test"), "", m);
    }
    server
}

fn fetch(c: &mut Client, what: &str) -> Reply {
    let r = c.send("F", &format!("FETCH 1 {what}"));
    r.assert_ok();
    r
}

#[test]
fn capability_lists_binary() {
    let server = server_with(&[]);
    let mut c = server.inetd();
    let r = c.send("C", "CAPABILITY");
    assert!(
        r.one("* CAPABILITY").text.split(' ').any(|w| w == "BINARY"),
        "{}",
        r.dump()
    );
}

#[test]
fn base64_part_is_decoded_and_nul_makes_a_literal8() {
    let server = server_with(&[MIXED]);
    let (mut c, _) = server.session("INBOX");
    let r = fetch(&mut c, "(BINARY.PEEK[2] BINARY.SIZE[2])");
    let line = r.one("* 1 FETCH");
    assert_eq!(line.literals, vec![vec![0u8, 1, 2, 3, 4, 5, 0xff]]);
    assert!(line.text.contains("BINARY[2] ~{7}"), "{}", r.dump());
    assert!(line.text.contains("BINARY.SIZE[2] 7"), "{}", r.dump());
}

#[test]
fn quoted_printable_part_is_decoded_with_crlf_line_ends() {
    let server = server_with(&[MIXED]);
    let (mut c, _) = server.session("INBOX");
    let r = fetch(&mut c, "(BINARY.PEEK[1] BINARY.SIZE[1])");
    let line = r.one("* 1 FETCH");
    // The CRLF before the boundary belongs to the boundary (RFC 2046 §5.1.1).
    let want = "Grüße, a soft break and a=sign".as_bytes();
    assert_eq!(line.literals, vec![want.to_vec()]);
    // No NUL: a plain literal, which any client reads.
    assert!(
        line.text.contains(&format!("BINARY[1] {{{}}}", want.len())),
        "{}",
        r.dump()
    );
    assert!(
        line.text
            .contains(&format!("BINARY.SIZE[1] {}", want.len())),
        "{}",
        r.dump()
    );
}

#[test]
fn partial_counts_decoded_octets() {
    let server = server_with(&[MIXED]);
    let (mut c, _) = server.session("INBOX");
    let r = fetch(&mut c, "BINARY.PEEK[2]<2.3>");
    let line = r.one("* 1 FETCH");
    assert!(line.text.contains("BINARY[2]<2> {3}"), "{}", r.dump());
    assert_eq!(line.literals, vec![vec![2u8, 3, 4]]);
    // Past the end: empty.
    let r = fetch(&mut c, "BINARY.PEEK[2]<100.3>");
    assert_eq!(r.one("* 1 FETCH").literals, vec![Vec::<u8>::new()]);
}

#[test]
fn binary_sets_seen_and_peek_does_not() {
    let server = server_with(&[MIXED]);
    let (mut c, _) = server.session("INBOX");
    let r = fetch(&mut c, "BINARY.PEEK[1]");
    assert!(!r.has("\\Seen"), "{}", r.dump());
    let r = fetch(&mut c, "FLAGS");
    assert!(!r.has("\\Seen"), "{}", r.dump());
    let r = fetch(&mut c, "BINARY[1]");
    assert!(r.one("* 1 FETCH").text.contains("\\Seen"), "{}", r.dump());
}

#[test]
fn unknown_encoding_is_no_unknown_cte() {
    let server = server_with(&[MIXED]);
    let (mut c, _) = server.session("INBOX");
    for item in ["BINARY[3]", "BINARY.PEEK[3]", "BINARY.SIZE[3]"] {
        let r = c.send("U", &format!("FETCH 1 ({item} FLAGS)"));
        r.assert_status("NO");
        assert_eq!(r.code(), Some("UNKNOWN-CTE"), "{}", r.dump());
        // Nothing of the message was sent, and BINARY[3] did not set \Seen.
        assert!(r.lines("* 1 FETCH").is_empty(), "{}", r.dump());
    }
    let r = fetch(&mut c, "FLAGS");
    assert!(!r.has("\\Seen"), "{}", r.dump());
    // BODY[3] still gives the encoded text.
    let r = fetch(&mut c, "BODY.PEEK[3]");
    assert_eq!(
        r.one("* 1 FETCH").literals,
        vec![b"begin 644 a\r\nend".to_vec()]
    );
}

#[test]
fn whole_message_and_multipart_and_missing_parts() {
    let single = b"Subject: one\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n";
    let server = server_with(&[MIXED, single]);
    let (mut c, _) = server.session("INBOX");
    // BINARY[] is the message as it is.
    let r = fetch(&mut c, "BINARY.PEEK[]");
    assert_eq!(r.one("* 1 FETCH").literals, vec![MIXED.to_vec()]);
    // Part 1 of a single-part message is its body, decoded.
    let r = c.send("F", "FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])");
    r.assert_ok();
    let line = r.one("* 2 FETCH");
    assert_eq!(line.literals, vec![b"hello".to_vec()]);
    assert!(line.text.contains("BINARY.SIZE[1] 5"), "{}", r.dump());
    // A part that does not exist: empty, as BODY[9] answers.
    let r = fetch(&mut c, "(BINARY.PEEK[9] BINARY.SIZE[9])");
    let line = r.one("* 1 FETCH");
    assert_eq!(line.literals, vec![Vec::<u8>::new()]);
    assert!(line.text.contains("BINARY.SIZE[9] 0"), "{}", r.dump());
}

#[test]
fn uid_fetch_and_several_messages() {
    let server = server_with(&[MIXED, MIXED]);
    let (mut c, _) = server.session("INBOX");
    let r = c.send("F", "UID FETCH 1:* (BINARY.SIZE[2])");
    r.assert_ok();
    let lines = r.lines("* ");
    assert_eq!(lines.len(), 2, "{}", r.dump());
    for l in lines {
        assert!(l.text.contains("UID "), "{}", r.dump());
        assert!(l.text.contains("BINARY.SIZE[2] 7"), "{}", r.dump());
    }
}

#[test]
fn append_takes_a_literal8_message() {
    let server = server_with(&[]);
    let (mut c, _) = server.session("INBOX");
    let message = b"Subject: nul\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\nab\0cd\r\n";
    // Synchronizing literal8: `+` first.
    c.write(format!("A APPEND INBOX ~{{{}}}\r\n", message.len()).as_bytes());
    let cont = c.expect_response();
    assert!(cont.is_continuation(), "{cont:?}");
    c.write(message);
    c.write(b"\r\n");
    let r = c.read_reply("A", 1);
    r.assert_ok();
    // LITERAL+ form `~{n+}` too.
    let mut cmd = format!("B APPEND INBOX (\\Seen) ~{{{}+}}\r\n", message.len()).into_bytes();
    cmd.extend_from_slice(message);
    cmd.extend_from_slice(b"\r\n");
    c.write(&cmd);
    c.read_reply("B", 0).assert_ok();
    let r = c.send("N", "NOOP");
    r.assert_ok();
    for n in [1, 2] {
        let r = c.send(
            "F",
            &format!("FETCH {n} (BINARY.PEEK[1] BINARY.SIZE[1] RFC822.SIZE)"),
        );
        r.assert_ok();
        let line = r.one(&format!("* {n} FETCH"));
        assert_eq!(line.literals, vec![b"ab\0cd\r\n".to_vec()], "{}", r.dump());
        assert!(line.text.contains("BINARY[1] ~{7}"), "{}", r.dump());
        assert!(
            line.text
                .contains(&format!("RFC822.SIZE {}", message.len())),
            "{}",
            r.dump()
        );
    }
    // A literal8 anywhere but APPEND's message is a syntax error.
    let r = c.send_parts("L", &[Part::Text("SELECT ~{5}\r\nINBOX")]);
    r.assert_status("BAD");
}
