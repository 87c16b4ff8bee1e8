//! Whole-message tests: exact ENVELOPE / BODYSTRUCTURE strings and section bytes, and
//! property tests that any bytes give well-formed IMAP.

use super::*;
use crate::imap::message_syntax::{write_body_structure, write_envelope};

fn msg(s: &str) -> Message {
    Message::new(s.as_bytes().to_vec())
}

fn env(m: &Message) -> String {
    let mut out = Vec::new();
    write_envelope(&mut out, &m.envelope());
    String::from_utf8(out).unwrap()
}

fn bs(m: &Message, extensible: bool) -> String {
    let mut out = Vec::new();
    write_body_structure(&mut out, &m.body_structure(), extensible);
    String::from_utf8(out).unwrap()
}

fn sec(m: &Message, part: &[u32], kind: SectionKind) -> Option<String> {
    m.section(part, &kind)
        .map(|c| String::from_utf8(c.into_owned()).unwrap())
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const SIMPLE: &str = "From: \"Doe, John\" <john@example.com>\r\n\
To: jane@example.org, Bob <bob@example.net>\r\n\
Subject: Hello\r\n world\r\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
Message-ID: <1@example.com>\r\n\
\r\n\
Line one\r\nLine two\r\n";

#[test]
fn simple_text_message() {
    let m = msg(SIMPLE);
    let john = "((\"Doe, John\" NIL \"john\" \"example.com\"))";
    assert_eq!(
        env(&m),
        format!(
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Hello world\" {john} {john} {john} \
             ((NIL NIL \"jane\" \"example.org\")(\"Bob\" NIL \"bob\" \"example.net\")) \
             NIL NIL NIL \"<1@example.com>\")"
        )
    );
    assert_eq!(
        bs(&m, true),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2 NIL NIL NIL NIL)"
    );
    assert_eq!(
        bs(&m, false),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2)"
    );
    let header_len = SIMPLE.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(m.header(), &SIMPLE.as_bytes()[..header_len]);
    assert_eq!(header_end(SIMPLE.as_bytes()), Some(header_len));
    assert_eq!(m.text(), b"Line one\r\nLine two\r\n");
    assert_eq!(sec(&m, &[], SectionKind::Full).unwrap(), SIMPLE);
    assert_eq!(
        sec(&m, &[], SectionKind::Header).unwrap(),
        &SIMPLE[..header_len]
    );
    assert_eq!(
        sec(&m, &[], SectionKind::Text).unwrap(),
        "Line one\r\nLine two\r\n"
    );
    assert_eq!(
        sec(&m, &[1], SectionKind::Full).unwrap(),
        "Line one\r\nLine two\r\n"
    );
    assert_eq!(
        sec(&m, &[1], SectionKind::Mime).unwrap(),
        &SIMPLE[..header_len]
    );
    assert_eq!(sec(&m, &[2], SectionKind::Full), None);
    assert_eq!(sec(&m, &[0], SectionKind::Full), None);
    assert_eq!(sec(&m, &[1, 1], SectionKind::Full), None);
    assert_eq!(sec(&m, &[1], SectionKind::Header), None);
    assert_eq!(sec(&m, &[], SectionKind::Mime), None);
    assert_eq!(
        sec(
            &m,
            &[],
            SectionKind::HeaderFields(fields(&["SUBJECT", "from", "X-None"]))
        )
        .unwrap(),
        "From: \"Doe, John\" <john@example.com>\r\nSubject: Hello\r\n world\r\n\r\n"
    );
    assert_eq!(
        sec(
            &m,
            &[],
            SectionKind::HeaderFieldsNot(fields(&["to", "FROM", "subject"]))
        )
        .unwrap(),
        "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.com>\r\n\r\n"
    );
    assert_eq!(
        sec(&m, &[], SectionKind::HeaderFields(fields(&["x-absent"]))).unwrap(),
        "\r\n"
    );
    assert_eq!(m.sent_date(), Some((1994, 2, 7)));
    assert_eq!(m.header_values("subject"), vec!["Hello world".to_string()]);
    assert_eq!(m.raw().len(), SIMPLE.len());
}

const ALTERNATIVE: &str = "From: a@b.c\r\n\
Subject: =?iso-8859-1?q?Gr=FC=DFe?= aus Berlin\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=FC=DFe Welt\r\n\
--XX\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hallo <b>Welt</b></p>\r\n\
--XX--\r\n\
epilogue\r\n";

#[test]
fn multipart_alternative() {
    let m = msg(ALTERNATIVE);
    assert_eq!(
        bs(&m, true),
        "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 14 0 \
         NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 24 0 \
         NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"XX\") NIL NIL NIL)"
    );
    assert_eq!(
        bs(&m, false),
        "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 14 0)\
         (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 24 0) \"alternative\")"
    );
    assert_eq!(sec(&m, &[1], SectionKind::Full).unwrap(), "Gr=FC=DFe Welt");
    assert_eq!(
        sec(&m, &[2], SectionKind::Mime).unwrap(),
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    );
    assert_eq!(sec(&m, &[3], SectionKind::Full), None);
    assert!(
        sec(&m, &[], SectionKind::Text)
            .unwrap()
            .starts_with("preamble\r\n--XX")
    );
    // encoded words decoded for SEARCH, raw in ENVELOPE
    assert_eq!(
        m.header_values("SUBJECT"),
        vec!["Grüße aus Berlin".to_string()]
    );
    assert!(env(&m).contains("\"=?iso-8859-1?q?Gr=FC=DFe?= aus Berlin\""));
    let body = m.search_body_text();
    assert!(body.contains("Grüße Welt"), "{body}");
    assert!(body.contains("Hallo") && !body.contains("<b>"), "{body}");
    assert!(
        m.search_header_text()
            .contains("Subject: Grüße aus Berlin\n")
    );
}

const MIXED: &str = "From: x@y.z\r\n\
Content-Type: multipart/mixed; boundary=b1\r\n\
\r\n\
--b1\r\n\
\r\n\
Just text.\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"r.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <pdf@x>\r\n\
Content-Description: A report\r\n\
Content-Disposition: attachment;\r\n filename=\"r.pdf\"\r\n\
Content-Language: en, de\r\n\
Content-Location: http://x/\r\n r.pdf\r\n\
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\
\r\n\
SGVsbG8=\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: inline\r\n\
Content-Language: fr\r\n\
\r\n\
w6l0w6kgZmluZA==\r\n\
--b1--\r\n";

#[test]
fn multipart_mixed_with_attachment() {
    let m = msg(MIXED);
    assert_eq!(
        bs(&m, true),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)\
         (\"application\" \"pdf\" (\"name\" \"r.pdf\") \"<pdf@x>\" \"A report\" \"base64\" 8 \
         \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"r.pdf\")) (\"en\" \"de\") \
         \"http://x/r.pdf\")\
         (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 16 0 NIL (\"inline\" NIL) \
         \"fr\" NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)"
    );
    assert_eq!(
        bs(&m, false),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0)\
         (\"application\" \"pdf\" (\"name\" \"r.pdf\") \"<pdf@x>\" \"A report\" \"base64\" 8)\
         (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 16 0) \"mixed\")"
    );
    assert_eq!(sec(&m, &[1], SectionKind::Mime).unwrap(), "\r\n");
    assert_eq!(sec(&m, &[1], SectionKind::Full).unwrap(), "Just text.");
    assert_eq!(sec(&m, &[2], SectionKind::Full).unwrap(), "SGVsbG8=");
    assert!(
        sec(&m, &[2], SectionKind::Mime)
            .unwrap()
            .starts_with("Content-Type: application/pdf")
    );
    assert!(
        sec(&m, &[2], SectionKind::Mime)
            .unwrap()
            .ends_with("==\r\n\r\n")
    );
    assert_eq!(sec(&m, &[2, 1], SectionKind::Full), None);
    assert_eq!(sec(&m, &[2], SectionKind::Header), None);
    assert_eq!(sec(&m, &[2], SectionKind::Text), None);
    assert_eq!(sec(&m, &[4], SectionKind::Full), None);
    let body = m.search_body_text();
    assert!(body.contains("Just text."));
    assert!(body.contains("été find"), "{body}");
    assert!(!body.contains("Hello"), "attachments are not text: {body}");
}

const NESTED: &str = "From: outer@x\r\n\
Subject: fwd\r\n\
Content-Type: multipart/mixed; boundary=o\r\n\
\r\n\
--o\r\n\
Content-Type: text/plain\r\n\
\r\n\
see below\r\n\
--o\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: Inner Person <inner@y>\r\n\
Subject: orig\r\n\
Date: Tue, 1 Jan 2019 23:30:00 -1100\r\n\
Content-Type: multipart/alternative; boundary=i\r\n\
\r\n\
--i\r\n\
\r\n\
plain\r\n\
--i\r\n\
Content-Type: text/html\r\n\
\r\n\
<b>secret</b>\r\n\
--i--\r\n\
--o--\r\n";

#[test]
fn nested_message_rfc822() {
    let m = msg(NESTED);
    let inner_start = NESTED.find("From: Inner").unwrap();
    let inner_end = NESTED.find("\r\n--o--").unwrap();
    let inner = &NESTED[inner_start..inner_end];
    let inner_header_len = inner.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(inner.len(), 200);
    assert_eq!(inner.matches('\n').count() + 1, 13);
    let p = "(\"Inner Person\" NIL \"inner\" \"y\")";
    let inner_env = format!(
        "(\"Tue, 1 Jan 2019 23:30:00 -1100\" \"orig\" ({p}) ({p}) ({p}) NIL NIL NIL NIL NIL)"
    );
    assert_eq!(
        bs(&m, true),
        format!(
            "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 0 NIL NIL NIL NIL)\
             (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 200 {inner_env} \
             ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL)\
             (\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL) \
             \"alternative\" (\"boundary\" \"i\") NIL NIL NIL) 12 NIL NIL NIL NIL) \
             \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)"
        )
    );
    assert_eq!(
        bs(&m, false),
        format!(
            "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 0)\
             (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 200 {inner_env} \
             ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0)\
             (\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 0) \
             \"alternative\") 12) \"mixed\")"
        )
    );
    assert_eq!(sec(&m, &[2], SectionKind::Full).unwrap(), inner);
    assert_eq!(
        sec(&m, &[2], SectionKind::Mime).unwrap(),
        "Content-Type: message/rfc822\r\n\r\n"
    );
    assert_eq!(
        sec(&m, &[2], SectionKind::Header).unwrap(),
        &inner[..inner_header_len]
    );
    assert_eq!(
        sec(&m, &[2], SectionKind::Text).unwrap(),
        &inner[inner_header_len..]
    );
    assert_eq!(
        sec(&m, &[2], SectionKind::HeaderFields(fields(&["Subject"]))).unwrap(),
        "Subject: orig\r\n\r\n"
    );
    assert_eq!(sec(&m, &[2, 1], SectionKind::Full).unwrap(), "plain");
    assert_eq!(sec(&m, &[2, 1], SectionKind::Mime).unwrap(), "\r\n");
    assert_eq!(
        sec(&m, &[2, 2], SectionKind::Full).unwrap(),
        "<b>secret</b>"
    );
    assert_eq!(
        sec(&m, &[2, 2], SectionKind::Mime).unwrap(),
        "Content-Type: text/html\r\n\r\n"
    );
    assert_eq!(sec(&m, &[2, 3], SectionKind::Full), None);
    assert_eq!(sec(&m, &[2, 1, 1], SectionKind::Full), None);
    // outer header only for the top-level views
    assert_eq!(m.header_values("subject"), vec!["fwd".to_string()]);
    assert_eq!(m.sent_date(), None);
    let body = m.search_body_text();
    assert!(body.contains("see below") && body.contains("plain") && body.contains("secret"));
    assert!(
        body.contains("Subject: orig"),
        "nested headers are body text: {body}"
    );
}

#[test]
fn non_multipart_message_rfc822_at_top() {
    let raw = "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nhi\r\n";
    let m = msg(raw);
    assert_eq!(
        sec(&m, &[1], SectionKind::Full).unwrap(),
        "Subject: in\r\n\r\nhi\r\n"
    );
    assert_eq!(
        sec(&m, &[1], SectionKind::Header).unwrap(),
        "Subject: in\r\n\r\n"
    );
    assert_eq!(sec(&m, &[1, 1], SectionKind::Full).unwrap(), "hi\r\n");
    assert_eq!(
        sec(&m, &[1, 1], SectionKind::Mime).unwrap(),
        "Subject: in\r\n\r\n"
    );
    assert_eq!(
        bs(&m, false),
        "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 19 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) \
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1) 3)"
    );
}

#[test]
fn groups_encoded_words_and_defaults() {
    let m = msg("From: =?utf-8?q?J=C3=B6rg?= <joerg@x.de>\r\n\
                 To: undisclosed-recipients:;\r\n\
                 Cc: Team: a@x, \"B b\" <b@x>;, c@y\r\n\
                 Bcc: <@r1,@r2:d@z>\r\n\
                 Reply-To: \r\n\
                 Sender: <>\r\n\
                 Subject:\r\n\
                 In-Reply-To: <p@x>\r\n\
                 \r\n");
    let j = "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"x.de\"))";
    assert_eq!(
        env(&m),
        format!(
            "(NIL \"\" {j} ((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) {j} ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \
             ((NIL NIL \"Team\" NIL)(NIL NIL \"a\" \"x\")(\"B b\" NIL \"b\" \"x\")(NIL NIL NIL NIL)\
             (NIL NIL \"c\" \"y\")) ((NIL \"@r1,@r2\" \"d\" \"z\")) \"<p@x>\" NIL)"
        )
    );
    assert_eq!(
        m.header_values("From"),
        vec!["Jörg <joerg@x.de>".to_string()]
    );
    assert_eq!(m.header_values("x-nothing"), Vec::<String>::new());
}

#[test]
fn bare_lf_served_as_crlf() {
    let m = Message::new(b"Subject: a\nFrom: b@c\n\nline\n".to_vec());
    assert_eq!(m.raw(), b"Subject: a\r\nFrom: b@c\r\n\r\nline\r\n");
    assert_eq!(m.raw().len(), 31);
    assert_eq!(m.header(), b"Subject: a\r\nFrom: b@c\r\n\r\n");
    assert_eq!(
        bs(&m, false),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)"
    );
    assert_eq!(
        to_crlf(b"a\r\nb"),
        std::borrow::Cow::Borrowed(&b"a\r\nb"[..])
    );
    assert_eq!(to_crlf(b"\na\n\r\n").as_ref(), b"\r\na\r\n\r\n");
    assert_eq!(header_end(b"A: b\n\nbody"), Some(6));
}

#[test]
fn no_header_empty_and_unterminated() {
    let m = msg("hello world\r\nsecond\r\n");
    assert_eq!(m.header(), b"");
    assert_eq!(m.text(), b"hello world\r\nsecond\r\n");
    assert_eq!(env(&m), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert_eq!(
        bs(&m, true),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 21 2 NIL NIL NIL NIL)"
    );
    assert_eq!(sec(&m, &[], SectionKind::Header).unwrap(), "");
    assert_eq!(
        sec(&m, &[], SectionKind::HeaderFields(fields(&["a"]))).unwrap(),
        "\r\n"
    );

    let m = msg("");
    assert_eq!(env(&m), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert_eq!(
        bs(&m, false),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
    );

    // a header with no blank line: all header, empty body, and no blank line in
    // HEADER.FIELDS either (RFC 3501 §6.4.5)
    let m = msg("Subject: only\r\nTo: a@b");
    assert_eq!(m.text(), b"");
    assert_eq!(header_end(m.raw()), None);
    assert_eq!(
        sec(&m, &[], SectionKind::HeaderFields(fields(&["to"]))).unwrap(),
        "To: a@b\r\n"
    );
    assert!(env(&m).starts_with("(NIL \"only\" NIL NIL NIL ((NIL NIL \"a\" \"b\"))"));
}

#[test]
fn broken_boundaries() {
    // boundary never appears: the whole body becomes one text part
    let m = msg("Content-Type: multipart/mixed; boundary=zz\r\n\r\nsome text\r\n");
    assert_eq!(
        bs(&m, true),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) \
         \"mixed\" (\"boundary\" \"zz\") NIL NIL NIL)"
    );
    assert_eq!(sec(&m, &[1], SectionKind::Full).unwrap(), "some text\r\n");

    // no close delimiter
    let m = msg(
        "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nabc",
    );
    assert_eq!(
        bs(&m, false),
        "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0) \"mixed\")"
    );

    // no boundary parameter: RFC 2045 says text/plain
    let m = msg("Content-Type: multipart/mixed\r\n\r\n--zz\r\nabc\r\n");
    assert_eq!(
        bs(&m, false),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 2)"
    );

    // garbage content type
    let m = msg("Content-Type: ;;;\r\n\r\nx");
    assert_eq!(
        bs(&m, false),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0)"
    );
}

#[test]
fn digest_parts_default_to_message_rfc822() {
    let m = msg(
        "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s\r\n\r\nb\r\n--d--\r\n",
    );
    assert_eq!(
        bs(&m, false),
        "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 15 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) \
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) 2) \"digest\")"
    );
}

#[test]
fn eight_bit_and_nul_bytes_become_valid_strings() {
    let m = Message::new(b"Subject: caf\xe9 \"q\"\r\nFrom: N\x00ul <a@b>\r\n\r\nx".to_vec());
    let mut e = Vec::new();
    write_envelope(&mut e, &m.envelope());
    // 8-bit goes out as a literal, NUL (not allowed in any IMAP string) is dropped
    assert!(e.starts_with(b"(NIL {8}\r\ncaf\xe9 \"q\" ((\"Nul\" NIL \"a\" \"b\"))"));
    assert!(!e.contains(&0));
}

fn paren_depth(s: &str) -> usize {
    let (mut d, mut max) = (0usize, 0usize);
    for c in s.chars() {
        if c == '(' {
            d += 1;
            max = max.max(d);
        } else if c == ')' {
            d -= 1;
        }
    }
    max
}

#[test]
fn deep_nesting_is_bounded() {
    let mut raw = String::new();
    for i in 0..200 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("\r\ndeep\r\n");
    let m = msg(&raw);
    let s = bs(&m, true);
    assert!(
        paren_depth(&s) <= mime::MAX_DEPTH + 2,
        "{}",
        paren_depth(&s)
    );
    assert!(s.contains("\"APPLICATION\" \"OCTET-STREAM\""));

    let mut raw = String::new();
    for _ in 0..200 {
        raw.push_str("Content-Type: message/rfc822\r\n\r\n");
    }
    let m = msg(&raw);
    let s = bs(&m, true);
    assert!(s.starts_with("(\"message\" \"rfc822\""));
    assert!(s.contains("\"APPLICATION\" \"OCTET-STREAM\""));
}

#[test]
fn huge_header_and_many_parts() {
    let mut raw = format!("Subject: {}\r\n", "x".repeat(200_000));
    raw.push_str("Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for _ in 0..(mime::MAX_PARTS + 100) {
        raw.push_str("--p\r\n\r\na\r\n");
    }
    let m = msg(&raw);
    let BodyStructure::Multipart { parts, .. } = m.body_structure() else {
        panic!("not multipart")
    };
    assert_eq!(parts.len(), mime::MAX_PARTS);
    assert_eq!(m.envelope().subject.unwrap().len(), 200_000);
}

mod properties {
    use super::*;
    use imap_codec::ResponseCodec;
    use imap_codec::decode::Decoder;
    use proptest::prelude::*;

    /// Parenthesis depth never below zero and back to zero at the end, skipping quoted
    /// strings and literals; also checks every literal's length is really there.
    fn balanced(s: &[u8]) -> bool {
        let mut depth = 0i64;
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth < 0 {
                        return false;
                    }
                }
                b'"' => {
                    i += 1;
                    while i < s.len() && s[i] != b'"' {
                        if s[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    if i >= s.len() {
                        return false;
                    }
                }
                b'{' => {
                    let Some(close) = s[i..].iter().position(|&b| b == b'}') else {
                        return false;
                    };
                    let Ok(n) = std::str::from_utf8(&s[i + 1..i + close])
                        .unwrap_or("x")
                        .parse::<usize>()
                    else {
                        return false;
                    };
                    i += close + 3 + n;
                    if i > s.len() {
                        return false;
                    }
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        depth == 0
    }

    fn depth(bs: &BodyStructure) -> usize {
        match bs {
            BodyStructure::Multipart { parts, .. } => {
                1 + parts.iter().map(depth).max().unwrap_or(0)
            }
            BodyStructure::Message { body, .. } => 1 + depth(body),
            _ => 1,
        }
    }

    fn size_of(bs: &BodyStructure) -> Option<usize> {
        match bs {
            BodyStructure::Basic { fields, .. }
            | BodyStructure::Text { fields, .. }
            | BodyStructure::Message { fields, .. } => Some(fields.size),
            BodyStructure::Multipart { .. } => None,
        }
    }

    /// Every part BODYSTRUCTURE lists can be fetched, and its size is the section's length.
    fn walk(m: &Message, bs: &BodyStructure, path: Vec<u32>) {
        let full = m
            .section(&path, &SectionKind::Full)
            .expect("listed part exists");
        assert!(m.section(&path, &SectionKind::Mime).is_some());
        if let Some(size) = size_of(bs) {
            assert_eq!(full.len(), size, "size of part {path:?}");
        }
        match bs {
            BodyStructure::Multipart { parts, .. } => {
                for (i, p) in parts.iter().enumerate() {
                    let mut q = path.clone();
                    q.push(i as u32 + 1);
                    walk(m, p, q);
                }
            }
            BodyStructure::Message { body, .. } => {
                assert!(m.section(&path, &SectionKind::Header).is_some());
                assert!(m.section(&path, &SectionKind::Text).is_some());
                walk_message(m, body, path);
            }
            _ => assert!(m.section(&path, &SectionKind::Header).is_none()),
        }
    }

    fn walk_message(m: &Message, body: &BodyStructure, path: Vec<u32>) {
        match body {
            BodyStructure::Multipart { parts, .. } => {
                for (i, p) in parts.iter().enumerate() {
                    let mut q = path.clone();
                    q.push(i as u32 + 1);
                    walk(m, p, q);
                }
            }
            _ => {
                let mut q = path;
                q.push(1);
                walk(m, body, q);
            }
        }
    }

    fn check(bytes: Vec<u8>) {
        let m = Message::new(bytes.clone());
        assert_eq!(to_crlf(&bytes).as_ref(), m.raw());
        assert_eq!([m.header(), m.text()].concat(), m.raw());
        let env_bytes = {
            let mut v = Vec::new();
            write_envelope(&mut v, &m.envelope());
            v
        };
        assert!(
            balanced(&env_bytes),
            "{:?}",
            String::from_utf8_lossy(&env_bytes)
        );
        let structure = m.body_structure();
        for extensible in [true, false] {
            let mut b = Vec::new();
            write_body_structure(&mut b, &structure, extensible);
            assert!(balanced(&b), "{:?}", String::from_utf8_lossy(&b));
            // imap-codec stops at 8 nested bodies; check the syntax where it can.
            if depth(&structure) <= 6 {
                let item = if extensible { "BODYSTRUCTURE" } else { "BODY" };
                let mut line = b"* 1 FETCH (ENVELOPE ".to_vec();
                line.extend_from_slice(&env_bytes);
                line.extend_from_slice(format!(" {item} ").as_bytes());
                line.extend_from_slice(&b);
                line.extend_from_slice(b")\r\n");
                let parsed = ResponseCodec::default().decode(&line);
                assert!(
                    matches!(parsed, Ok((rest, _)) if rest.is_empty()),
                    "imap-codec rejects {:?}: {parsed:?}",
                    String::from_utf8_lossy(&line)
                );
            }
        }
        walk_message(&m, &structure, Vec::new());
        let _ = m.section(&[], &SectionKind::HeaderFields(vec!["from".into()]));
        let _ = m.section(&[9, 9, 9], &SectionKind::Text);
        let _ = m.header_values("from");
        let _ = m.search_header_text();
        let _ = m.search_body_text();
        let _ = m.sent_date();
        if let Some(end) = header_end(m.raw()) {
            assert_eq!(&m.raw()[..end], m.header());
        }
    }

    const PIECES: &[&str] = &[
        "\r\n",
        "\n",
        "\r\n\r\n",
        "--b\r\n",
        "--b--\r\n",
        "--c\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n",
        "Content-Type: multipart/alternative; boundary=\"c\"\r\n",
        "Content-Type: message/rfc822\r\n",
        "Content-Type: multipart/digest; boundary=b\r\n",
        "Content-Type: text/html; charset=iso-8859-1\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "Content-Disposition: attachment; filename=\"x\"\r\n",
        "Content-Language: en, de\r\n",
        "From: A <a@b>, g: c@d, \"q\\\" q\" <e@f>;\r\n",
        "To: (c) x@y (Z), <@r:s@t>\r\n",
        "Subject: =?utf-8?b?w6k=?= =?x?q?=ZZ?=\r\n",
        "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n",
        " folded\r\n",
        "=E9=\r\n",
        "w6k=\r\n",
        "(",
        ")",
        "\"",
        "<",
        ">",
        ":",
        ";",
        ",",
        "@",
        "\\",
        "\u{e9}",
        "\0",
    ];

    fn mimeish() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                4 => (0..PIECES.len()).prop_map(|i| PIECES[i].as_bytes().to_vec()),
                1 => proptest::collection::vec(any::<u8>(), 0..8),
            ],
            0..60,
        )
        .prop_map(|v| v.concat())
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Insert(usize, Vec<u8>),
        Delete(usize, usize),
        Replace(usize, u8),
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..6))
                .prop_map(|(p, b)| Mutation::Insert(p, b)),
            (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Delete(p, n)),
            (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Replace(p, b)),
            any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    fn mutate(base: &str, muts: &[Mutation]) -> Vec<u8> {
        let mut v = base.as_bytes().to_vec();
        for m in muts {
            let len = v.len().max(1);
            match m {
                Mutation::Insert(p, b) => {
                    let p = p % (v.len() + 1);
                    v.splice(p..p, b.iter().copied());
                }
                Mutation::Delete(p, n) => {
                    let p = p % len;
                    let e = (p + n).min(v.len());
                    if p < e {
                        v.drain(p..e);
                    }
                }
                Mutation::Replace(p, b) => {
                    if !v.is_empty() {
                        let p = p % v.len();
                        v[p] = *b;
                    }
                }
                Mutation::Truncate(p) => v.truncate(p % len),
            }
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            check(bytes);
        }

        #[test]
        fn mime_like_soup(bytes in mimeish()) {
            check(bytes);
        }

        #[test]
        fn mutated_valid_messages(
            which in 0usize..4,
            muts in proptest::collection::vec(mutation(), 1..6),
        ) {
            let base = [SIMPLE, ALTERNATIVE, MIXED, NESTED][which];
            check(mutate(base, &muts));
        }
    }

    #[test]
    fn the_hand_written_messages_pass_the_checks() {
        for base in [SIMPLE, ALTERNATIVE, MIXED, NESTED] {
            check(base.as_bytes().to_vec());
        }
    }
}

#[test]
fn imap_codec_is_a_real_check() {
    use imap_codec::ResponseCodec;
    use imap_codec::decode::Decoder;
    let bad = b"* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\"))\r\n";
    assert!(ResponseCodec::default().decode(bad).is_err());
    let mut good = b"* 1 FETCH (BODYSTRUCTURE ".to_vec();
    write_body_structure(&mut good, &msg(NESTED).body_structure(), true);
    good.extend_from_slice(b")\r\n");
    assert!(ResponseCodec::default().decode(&good).is_ok());
}

#[test]
fn header_only_path_gives_the_same_envelope_and_header_sections() {
    for base in [SIMPLE, ALTERNATIVE, MIXED, NESTED] {
        let full = msg(base);
        let end = header_end(base.as_bytes()).unwrap();
        let head = Message::new(base.as_bytes()[..end].to_vec());
        assert_eq!(head.envelope(), full.envelope());
        assert_eq!(head.header(), full.header());
        let kind = SectionKind::HeaderFields(fields(&["subject", "content-type"]));
        assert_eq!(head.section(&[], &kind), full.section(&[], &kind));
        assert_eq!(head.header_values("subject"), full.header_values("subject"));
        assert_eq!(head.sent_date(), full.sent_date());
    }
}

#[test]
fn sent_date_in_its_own_zone() {
    let d = |v: &str| msg(&format!("Date: {v}\r\n\r\n")).sent_date();
    assert_eq!(d("Tue, 1 Jan 2019 23:30:00 -1100"), Some((2019, 1, 1)));
    assert_eq!(d("1 Jan 2019 00:10:00 +1400"), Some((2019, 1, 1)));
    assert_eq!(d("Sat, 29 Feb 2020 12:00:00 GMT"), Some((2020, 2, 29)));
    assert_eq!(d("not a date"), None);
    assert_eq!(msg("Subject: x\r\n\r\n").sent_date(), None);
}

#[test]
fn stray_first_line_does_not_hide_the_header() {
    let m = msg("From someone Mon Jan  1 00:00:00 2024\r\nSubject: s\r\n\r\nbody\r\n");
    assert_eq!(m.text(), b"body\r\n");
    assert_eq!(m.header_values("subject"), vec!["s".to_string()]);
    let m = msg("Dear Bob,\r\n\r\nHello: there\r\n");
    assert_eq!(m.header(), b"");
    assert_eq!(env(&m), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

// ---------------------------------------------------------------------------------------
// Message views to the RFCs (issue 12, items 8–13).

#[test]
fn lines_count_line_ends_and_the_crlf_before_a_delimiter_is_the_delimiters() {
    let m = msg("Content-Type: multipart/mixed; boundary=b\r\n\r\n\
                 --b\r\n\r\nhello\r\n--b\r\n\r\nline1\r\nline2\r\n\r\n--b--\r\n");
    // `hello` has no line end of its own (RFC 2046 §5.1.1); the second part is
    // `line1 CRLF line2 CRLF`: 14 octets, 2 line ends.
    assert_eq!(
        bs(&m, false),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0)\
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2) \"mixed\")"
    );
    assert_eq!(sec(&m, &[1], SectionKind::Full).unwrap(), "hello");
    // A whole message whose last line has no line end.
    let m = msg("Subject: x\r\n\r\nhello");
    assert_eq!(
        bs(&m, false),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0)"
    );
}

#[test]
fn rfc2231_parameters_are_joined_and_decoded() {
    let m = msg(
        "Content-Type: text/plain; name*2=c; name*0=a; name*1*=%41;\r\n \
                 title*=iso-8859-1'en'%E9t%E9; x*0*=utf-8'de'%C3%A4; x*1*=%C3%B6\r\n\
                 Content-Disposition: attachment; filename*0*=utf-8''a%20b;\r\n \
                 filename*1=\"c.txt\"; filename=\"fallback.txt\"; size=3\r\n\
                 \r\nbody\r\n",
    );
    assert_eq!(
        bs(&m, true),
        "(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\" \"name\" \"aAc\" \"title\" {5}\r\nété \
         \"x\" {4}\r\näö) NIL NIL \"7BIT\" 6 1 NIL \
         (\"attachment\" (\"filename\" \"a bc.txt\" \"size\" \"3\")) NIL NIL)"
    );
    // A boundary given in RFC 2231 segments still splits the parts.
    let m = msg(
        "Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=cd\r\n\r\n\
                 --abcd\r\n\r\none\r\n--abcd--\r\n",
    );
    assert_eq!(
        bs(&m, false),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0) \"mixed\")"
    );
}

#[test]
fn structured_values_lose_their_comments() {
    let m = msg(
        "Content-Type: text/plain (c1); charset=us-ascii(c2); format=flowed (c3)\r\n\
                 Content-Transfer-Encoding: 7bit (plain)\r\n\
                 Content-Disposition: inline (c); filename=a.txt (c)\r\n\
                 Content-Language: en (English), (none) de\r\n\
                 \r\nbody\r\n",
    );
    assert_eq!(
        bs(&m, true),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"format\" \"flowed\") NIL NIL \"7bit\" 6 1 \
         NIL (\"inline\" (\"filename\" \"a.txt\")) (\"en\" \"de\") NIL)"
    );
    // The transfer encoding with a comment is still undone for SEARCH BODY.
    let m = msg("Content-Transfer-Encoding: base64 (encoded)\r\n\r\naGlkZGVuIHdvcmQ=\r\n");
    assert!(m.search_body_text().contains("hidden word"));
}

#[test]
fn envelope_addresses_never_give_a_nil_host_outside_groups() {
    let m = msg(
        "From: \"john q. public\"@x, \"a\\\\b\\\"c\"@y, nodomain, <>, \
                 <user (c)@ (c) example.org>, @b, a@, foo <a@b\r\n\
                 To: g: nd, \"q\" <x@y>;, , (only a comment), Just A Name\r\n\r\n",
    );
    let e = env(&m);
    let from = "((NIL NIL \"john q. public\" \"x\")(NIL NIL \"a\\\\b\\\"c\" \"y\")\
                (NIL NIL \"nodomain\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")\
                (NIL NIL \"user\" \"example.org\")(NIL NIL \"MISSING_MAILBOX\" \"b\")\
                (NIL NIL \"a\" \"MISSING_DOMAIN\")(\"foo\" NIL \"a\" \"SYNTAX_ERROR\"))";
    let to = "((NIL NIL \"g\" NIL)(NIL NIL \"nd\" \"MISSING_DOMAIN\")(\"q\" NIL \"x\" \"y\")(NIL NIL NIL NIL)\
              (\"Just A Name\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))";
    assert_eq!(
        e,
        format!("(NIL NIL {from} {from} {from} {to} NIL NIL NIL NIL)")
    );
    // SEARCH FROM sees the addresses without comments.
    let v = m.header_values("From").join(", ");
    assert!(v.contains("user@example.org"), "{v}");
    assert!(v.contains("john q. public@x"), "{v}");
}

#[test]
fn header_fields_not_keeps_lines_that_are_no_fields() {
    let raw = "From foo@bar Mon Jan  1 00:00:00 2024\r\n\
               From: a@b\r\n\
               bad line no colon\r\n\
               : empty name\r\n\
               X-A: 1\r\n \
               folded\r\n\
               Subject: s\r\n\
               \r\nbody\r\n";
    let m = msg(raw);
    assert_eq!(
        sec(&m, &[], SectionKind::HeaderFieldsNot(fields(&["x-a"]))).unwrap(),
        "From foo@bar Mon Jan  1 00:00:00 2024\r\nFrom: a@b\r\nbad line no colon\r\n\
         : empty name\r\nSubject: s\r\n\r\n"
    );
    assert_eq!(
        sec(
            &m,
            &[],
            SectionKind::HeaderFields(fields(&["X-A", "subject"]))
        )
        .unwrap(),
        "X-A: 1\r\n folded\r\nSubject: s\r\n\r\n"
    );
}

#[test]
fn encoded_words_in_any_charset_are_searched_as_utf8() {
    // ISO-2022-JP "ハロー" as an encoded word, and an EUC-KR body.
    let m = msg("Subject: =?ISO-2022-JP?B?GyRCJU8lbSE8GyhC?=\r\n\
                 Content-Type: text/plain; charset=euc-kr\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nvsiz58fPvLy/5A==\r\n");
    assert_eq!(m.header_values("Subject"), vec!["ハロー".to_string()]);
    assert!(m.search_body_text().contains("안녕하세요"));
}

#[test]
fn sent_dates_without_seconds_and_with_obsolete_zones() {
    for (date, want) in [
        ("Tue, 14 Mar 2017 09:26 EST", (2017, 3, 14)),
        ("14 Mar 17 09:26:01 GMT", (2017, 3, 14)),
        ("Tue,14 Mar 2017 (comment) 23:59 -0000", (2017, 3, 14)),
        ("Sun, 1 Jan 99 00:00 PDT", (1999, 1, 1)),
        ("Wed, 03 Jun 105 12:00 +0000", (2005, 6, 3)),
    ] {
        let m = msg(&format!("Date: {date}\r\n\r\n"));
        assert_eq!(m.sent_date(), Some(want), "{date}");
    }
    assert_eq!(msg("Date: yesterday\r\n\r\n").sent_date(), None);
}

#[test]
fn an_unparseable_content_type_in_a_digest_is_text_plain_too() {
    // No Content-Type in a digest: message/rfc822 (RFC 2046 §5.1.5); one that does not
    // parse: text/plain, there as anywhere (RFC 2045 §5.2).
    let m = msg("Content-Type: multipart/digest; boundary=d\r\n\r\n\
                 --d\r\nContent-Type: text\r\n\r\nfind me\r\n--d--\r\n");
    assert_eq!(
        bs(&m, false),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 0) \"digest\")"
    );
    assert!(m.search_body_text().contains("find me"));
}

#[test]
fn header_fields_of_a_message_without_blank_line_have_none() {
    // RFC 3501 §6.4.5: the blank line is always included, except for a message with no
    // body and no blank line.
    let m = msg("From: a@b\r\nSubject: only");
    assert_eq!(
        sec(&m, &[], SectionKind::HeaderFields(fields(&["subject"]))).unwrap(),
        "Subject: only\r\n"
    );
    assert_eq!(
        sec(
            &m,
            &[],
            SectionKind::HeaderFieldsNot(fields(&["subject", "from"]))
        )
        .unwrap(),
        ""
    );
    let m = msg("From: a@b\r\n\r\n");
    assert_eq!(
        sec(&m, &[], SectionKind::HeaderFields(fields(&["from"]))).unwrap(),
        "From: a@b\r\n\r\n"
    );
}

#[test]
fn an_unparseable_content_type_is_searched_as_text_plain() {
    for ct in [
        "text",
        "/plain",
        "text/",
        "\"text/plain\"",
        "t e x t",
        "image png; charset=utf-8",
    ] {
        let m = msg(&format!("Content-Type: {ct}\r\n\r\nfind me\r\n"));
        assert!(m.search_body_text().contains("find me"), "{ct}");
        assert!(
            bs(&m, false).starts_with("(\"TEXT\" \"PLAIN\""),
            "{ct}: {}",
            bs(&m, false)
        );
    }
}

#[test]
fn bulk_crlf_conversion_matches_byte_by_byte() {
    fn slow(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }
    for sample in [
        &b""[..],
        b"\n",
        b"\r",
        b"a\nb\r\nc\r\r\n\n\nd",
        b"\r\n\r\n",
        b"no line end",
    ] {
        assert_eq!(super::to_crlf(sample).as_ref(), slow(sample).as_slice());
        assert_eq!(
            super::bare_lf_count(sample),
            slow(sample).len() - sample.len()
        );
        // Split anywhere: the CR before the split carries over.
        for split in 0..=sample.len() {
            let mut out = Vec::new();
            super::extend_crlf(&mut out, &sample[..split], false);
            let cr = split > 0 && sample[split - 1] == b'\r';
            super::extend_crlf(&mut out, &sample[split..], cr);
            assert_eq!(out, slow(sample), "split at {split}");
        }
    }
}
