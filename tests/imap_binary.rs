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
    let caps = c.capabilities();
    assert!(caps.iter().any(|w| w == "BINARY"), "{caps:?}");
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
    // Eight-bit content with CRLF line ends: a Maildir keeps it octet for octet.
    let message = b"Subject: eight\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\nab\xffcd\r\n";
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
        let r = c.send("F", &format!("FETCH {n} (BODY.PEEK[] BINARY.SIZE[1])"));
        r.assert_ok();
        let line = r.one(&format!("* {n} FETCH"));
        assert_eq!(line.literals, vec![message.to_vec()], "{}", r.dump());
        assert!(line.text.contains("BINARY.SIZE[1] 7"), "{}", r.dump());
    }
    // A literal8 anywhere but APPEND's message is a syntax error.
    let r = c.send_parts("L", &[Part::Text("SELECT ~{5}\r\nINBOX")]);
    r.assert_status("BAD");
}

/// Binary content a Maildir cannot give back as sent.
const UNKEEPABLE: [(&str, &[u8]); 3] = [
    (
        "a NUL",
        b"Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\nab\0cd\r\n",
    ),
    (
        "a bare LF",
        b"Subject: lf\r\nContent-Transfer-Encoding: binary\r\n\r\nab\ncd\r\n",
    ),
    ("LF line ends", b"Subject: lf\n\nbody\n"),
];

/// RFC 3516 §4.4: a literal8 message the mailbox cannot store as sent is refused with
/// UNKNOWN-CTE: a NUL (BODY[] could not carry it in a plain literal) or a LF without its
/// CR (the file keeps LF and serves CRLF, so it would come back changed). Nothing is stored,
/// in both literal forms and inside a MULTIAPPEND.
#[test]
fn append_literal8_refuses_what_a_maildir_cannot_keep() {
    let server = server_with(&[]);
    let (mut c, _) = server.session("INBOX");
    for (what, message) in UNKEEPABLE {
        for plus in ["", "+"] {
            let mut cmd = format!("A APPEND INBOX ~{{{}{plus}}}\r\n", message.len()).into_bytes();
            if plus.is_empty() {
                c.write(&cmd);
                let cont = c.expect_response();
                assert!(cont.is_continuation(), "{what}: {cont:?}");
                cmd.clear();
            }
            cmd.extend_from_slice(message);
            cmd.extend_from_slice(b"\r\n");
            c.write(&cmd);
            let r = c.read_reply("A", 0);
            r.assert_status("NO");
            assert_eq!(r.code(), Some("UNKNOWN-CTE"), "{what}: {}", r.dump());
        }
    }
    // MULTIAPPEND: a good message first, a bad one second: neither is stored.
    let good: &[u8] = b"Subject: ok\r\n\r\nfine\r\n";
    let bad = UNKEEPABLE[0].1;
    let mut cmd = format!("M APPEND INBOX ~{{{}+}}\r\n", good.len()).into_bytes();
    cmd.extend_from_slice(good);
    cmd.extend_from_slice(format!(" ~{{{}+}}\r\n", bad.len()).as_bytes());
    cmd.extend_from_slice(bad);
    cmd.extend_from_slice(b"\r\n");
    c.write(&cmd);
    let r = c.read_reply("M", 0);
    assert_eq!(r.code(), Some("UNKNOWN-CTE"), "{}", r.dump());
    let r = c.send("S", "STATUS INBOX (MESSAGES)");
    assert!(r.has("(MESSAGES 0)"), "{}", r.dump());
    assert!(server.files("INBOX", "cur").is_empty());
    assert!(server.files("INBOX", "tmp").is_empty());
    // The same octets in a plain literal are taken, as RFC 3501 clients send them.
    let r = c.send_parts(
        "P",
        &[Part::Text("APPEND INBOX "), Part::Literal(UNKEEPABLE[2].1)],
    );
    r.assert_ok();
}

// ---------------------------------------------------------------------------------------
// Differential test against Dovecot 2.3 (Debian 12), run as in tests/dovecot_views.rs: a
// PREAUTH `imap` on pipes through `doveconf -e`, unpacked by tests/dovecot/fetch-dovecot.sh
// into `$POSTERN_DOVECOT_DIR`; without it the test prints `SKIP: ...` and passes.

#[path = "dovecot/oracle.rs"]
mod dovecot;

/// Messages made for BINARY besides tests/dovecot/corpus: NULs, invalid base64
/// characters, QP with trailing white space and bad escapes, an unknown encoding, base64
/// inside message/rfc822, upper-case encoding names.
fn binary_corpus() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("b-mixed".into(), MIXED.to_vec()),
        (
            "b-base64-junk".into(),
            b"Subject: x\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: BASE64\r\n\r\nAA*EC\r\nAwQ F\r\n"
                .to_vec(),
        ),
        (
            "b-qp-odd".into(),
            b"Subject: x\r\nContent-Type: text/plain\r\n\
Content-Transfer-Encoding: Quoted-Printable\r\n\r\ntrailing   \r\nbad =ZZ escape =4\r\nlast=20\r\n"
                .to_vec(),
        ),
        (
            "b-nested".into(),
            b"Subject: outer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=O\r\n\r\n\
--O\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--O\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=I\r\n\r\n--I\r\nContent-Type: text/plain\r\n\r\nin\r\n\
--I\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUg==\r\n\
--I--\r\n\r\n--O--\r\n"
                .to_vec(),
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dovecot/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    for p in files {
        let lf = std::fs::read(&p).unwrap();
        let mut crlf = Vec::with_capacity(lf.len() + lf.len() / 20);
        for &b in &lf {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        out.push((p.file_stem().unwrap().to_string_lossy().into_owned(), crlf));
    }
    out
}

/// What one BINARY item answered: the tagged status with its response code, and the
/// value (the literal's bytes, or the number of BINARY.SIZE).
fn binary_answer(c: &mut Client, seq: usize, item: &str) -> (String, Vec<u8>) {
    let r = c.send("B", &format!("FETCH {seq} ({item})"));
    let status = format!("{} {}", r.status(), r.code().unwrap_or(""));
    let value = r
        .untagged
        .iter()
        .find(|l| l.text.contains(" FETCH ("))
        .map(|l| match l.literals.first() {
            Some(bytes) => bytes.clone(),
            None => l
                .text
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .trim_end_matches(')')
                .as_bytes()
                .to_vec(),
        })
        .unwrap_or_default();
    (status, value)
}

/// Why a sub-part of a leaf differs: RFC 3501 §6.4.5 numbers parts only inside a
/// multipart or a message/rfc822 (and part 1 of a non-multipart *message* is its body);
/// postern answers `1.1` of a leaf part with the empty string, as for BODY[1.1], where
/// Dovecot serves the leaf itself again.
const LEAF_SUBPART: &str = "RFC 3501 §6.4.5: no sub-parts in a leaf (as BODY[1.1])";
/// Why BINARY[] and BINARY[n] of a message/rfc822 part differ: RFC 3516 §4.2 asks for the
/// section "after performing CTE-related decoding" of the section, and the encoding of a
/// message or multipart is an identity (RFC 2045 §6.4), so postern sends its bytes as
/// they are; Dovecot also decodes every part inside and rewrites their
/// Content-Transfer-Encoding fields to `binary`, which no RFC asks for.
const WHOLE: &str = "RFC 3516 §4.2 + RFC 2045 §6.4: a message section is sent as is";
/// Why lenient decoding differs: RFC 2045 §6.8 says characters outside the base64
/// alphabet "are to be ignored", and §6.7 (note 1) suggests a robust reading of a `=`
/// that starts no valid escape (kept as it is); Dovecot answers NO [PARSE].
const LENIENT: &str = "RFC 2045 §6.7/§6.8: decoders ignore or keep what is not valid";

/// Differences that stay, as (message, section as in the item, why).
const BINARY_LISTED: &[(&str, &str, &str)] = &[
    ("12-multipart-lines", "[1.1]", LEAF_SUBPART),
    ("12-multipart-lines", "[2.1]", LEAF_SUBPART),
    ("13-nested", "[1.1]", LEAF_SUBPART),
    ("14-rfc2231", "[1.1]", LEAF_SUBPART),
    ("14-rfc2231", "[2.1]", LEAF_SUBPART),
    ("20-no-close-delimiter", "[1.1]", LEAF_SUBPART),
    ("20-no-close-delimiter", "[2.1]", LEAF_SUBPART),
    ("21-digest", "[2.1]", LEAF_SUBPART),
    ("33-mime-part-fields", "[1.1]", LEAF_SUBPART),
    ("33-mime-part-fields", "[2.1]", LEAF_SUBPART),
    ("b-mixed", "[1.1]", LEAF_SUBPART),
    ("b-mixed", "[2.1]", LEAF_SUBPART),
    ("b-nested", "[1.1]", LEAF_SUBPART),
    ("15-rfc2231-out-of-order", "[]", WHOLE),
    ("23-base64", "[]", WHOLE),
    ("24-quoted-printable", "[]", WHOLE),
    ("31-garbage-content-type", "[]", WHOLE),
    ("33-mime-part-fields", "[]", WHOLE),
    ("b-nested", "[]", WHOLE),
    ("b-nested", "[2]", WHOLE),
    // Dovecot decodes the whole message for BINARY[], so the unknown encoding of part 3
    // (and, oddly, for any part of that message) makes it answer NO [UNKNOWN-CTE]; RFC
    // 3516 §4.3 refuses only a section that cannot be decoded.
    (
        "b-mixed",
        "[]",
        "RFC 3516 §4.3: only the section asked for must be decodable",
    ),
    (
        "b-mixed",
        "[1]",
        "RFC 3516 §4.3: only the section asked for must be decodable",
    ),
    (
        "b-mixed",
        "[2]",
        "RFC 3516 §4.3: only the section asked for must be decodable",
    ),
    ("b-base64-junk", "[1]", LENIENT),
    ("b-base64-junk", "[]", LENIENT),
    ("b-qp-odd", "[1]", LENIENT),
    ("b-qp-odd", "[]", LENIENT),
    // RFC 2045 §5.2: a multipart without a usable boundary is text/plain (as listed in
    // tests/dovecot_views.rs for BODY[1]).
    ("18-multipart-without-boundary", "[1]", "RFC 2045 §5.2"),
    ("19-boundary-never-found", "[1]", "RFC 2045 §5.2"),
    // A message without header fields: its first line is body (RFC 5322 §2.2; as listed
    // for BODY[1] in tests/dovecot_views.rs).
    ("25-no-header", "[1]", "RFC 5322 §2.2"),
    // Dovecot 2.3's BINARY.SIZE[1] is 29 while its own BINARY[1] sends 33 octets; RFC 3516
    // §4.2 makes BINARY.SIZE the size of that decoded section.
    (
        "33-mime-part-fields",
        "BINARY.SIZE[1]",
        "RFC 3516 §4.2: the size BINARY[1] sends",
    ),
];

/// Whether a difference for `item` of message `name` is in [`BINARY_LISTED`].
fn binary_listed(name: &str, item: &str) -> bool {
    BINARY_LISTED.iter().any(|(m, section, _)| {
        *m == name
            && if section.starts_with('[') {
                // Every item of that section: `...[1]`, `...[1]<1.5>`.
                item.ends_with(section) || item.contains(&format!("{section}<"))
            } else {
                item == *section
            }
    })
}

#[test]
fn binary_matches_dovecot_or_is_listed() {
    let Some(dovecot) = dovecot::Dovecot::find() else {
        return;
    };
    let corpus = binary_corpus();
    let server = server_with(&[]);
    let (mut postern, _) = server.session("INBOX");
    let home = tempfile::tempdir().unwrap();
    let mut dc = Client::spawn(dovecot.command(home.path()), false);
    dc.send("s0", "SELECT INBOX").assert_ok();
    for (_, msg) in &corpus {
        for c in [&mut postern, &mut dc] {
            c.send_parts("A", &[Part::Text("APPEND INBOX "), Part::Literal(msg)])
                .assert_ok();
        }
    }
    postern.send("N", "NOOP").assert_ok();
    dc.send("N", "NOOP").assert_ok();
    let parts = ["", "1", "2", "3", "1.1", "2.1", "2.2", "2.2.2", "9"];
    let mut differences = Vec::new();
    let mut compared = 0;
    for (i, (name, _)) in corpus.iter().enumerate() {
        for part in parts {
            for item in [
                format!("BINARY.PEEK[{part}]"),
                format!("BINARY.SIZE[{part}]"),
                format!("BINARY.PEEK[{part}]<1.5>"),
            ] {
                if part.is_empty() && item.starts_with("BINARY.SIZE") {
                    // Dovecot 2.3 answers BINARY.SIZE[] with BAD; postern gives the size.
                    continue;
                }
                let ours = binary_answer(&mut postern, i + 1, &item);
                let theirs = binary_answer(&mut dc, i + 1, &item);
                compared += 1;
                // A refusal is compared by its status and code only.
                let same = ours == theirs || (ours.0.starts_with("NO") && ours.0 == theirs.0);
                if !same && !binary_listed(name, &item) {
                    differences.push(format!(
                        "{name} {item}:\n  postern {:?} {:?}\n  dovecot {:?} {:?}",
                        ours.0,
                        String::from_utf8_lossy(&ours.1),
                        theirs.0,
                        String::from_utf8_lossy(&theirs.1)
                    ));
                }
            }
        }
    }
    dc.send("L", "LOGOUT");
    assert!(compared > 300, "compared only {compared}");
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn a_message_gone_from_disk_answers_nil_and_no_size() {
    let server = server_with(&[MIXED]);
    let (mut c, _) = server.session("INBOX");
    for name in server.files("INBOX", "cur") {
        std::fs::remove_file(server.folder_dir("INBOX").join("cur").join(name)).unwrap();
    }
    // RFC 2180 §4.1.3: the FETCH succeeds with NIL for the text; BINARY.SIZE, which has
    // no NIL form, is left out, so the line stays valid IMAP (checked by imap-codec).
    let r = c.send("F", "FETCH 1 (UID BINARY.PEEK[2] BINARY.SIZE[2])");
    r.assert_ok();
    let line = r.one("* 1 FETCH");
    assert!(line.text.contains("BINARY[2] NIL"), "{}", r.dump());
    assert!(!line.text.contains("BINARY.SIZE"), "{}", r.dump());
}

/// What Dovecot 2.3 does with the same literal8 messages, for contrast: it takes them and
/// re-encodes the binary part (so its BODY[] holds no NUL), where postern, which keeps
/// Courier's files as sent, refuses them (RFC 3516 §4.4 allows either). Both give back
/// the decoded octets: Dovecot through BINARY, postern by never storing what it would
/// change.
#[test]
fn dovecot_reencodes_what_postern_refuses() {
    let Some(dovecot) = dovecot::Dovecot::find() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut dc = Client::spawn(dovecot.command(home.path()), false);
    dc.send("s0", "SELECT INBOX").assert_ok();
    let message = UNKEEPABLE[0].1;
    let mut cmd = format!("A APPEND INBOX ~{{{}+}}\r\n", message.len()).into_bytes();
    cmd.extend_from_slice(message);
    cmd.extend_from_slice(b"\r\n");
    dc.write(&cmd);
    dc.read_reply("A", 0).assert_ok();
    let r = dc.send("F", "FETCH 1 (BODY.PEEK[] BINARY.PEEK[1])");
    let line = r.one("* 1 FETCH");
    assert_eq!(line.literals.len(), 2, "{}", r.dump());
    assert!(!line.literals[0].contains(&0), "{}", r.dump());
    assert!(
        String::from_utf8_lossy(&line.literals[0]).contains("base64"),
        "{}",
        r.dump()
    );
    assert_eq!(line.literals[1], b"ab\0cd\r\n", "{}", r.dump());
    dc.send("L", "LOGOUT");
}
