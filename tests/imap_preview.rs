//! PREVIEW (RFC 8970) against the real binary: FETCH PREVIEW and PREVIEW (LAZY) from the
//! first text part (quoted-printable, charsets and HTML undone, white space collapsed, at
//! most 256 characters), empty for a message without text, kept in the folder's cache.
//! imap-codec has no PREVIEW: tests/common checks its value and the rest of the line.

mod common;

use common::*;

fn server_with(messages: &[&[u8]]) -> TestServer {
    let server = TestServer::new();
    for (n, m) in messages.iter().enumerate() {
        server.put("INBOX", "cur", &format!("100{n}.M1P1.test"), "", m);
    }
    server
}

/// The PREVIEW value of `* seq FETCH`: a quoted string or a literal.
fn preview(c: &mut Client, seq: u32, item: &str) -> String {
    let r = c.send("P", &format!("FETCH {seq} ({item})"));
    r.assert_ok();
    let line = r.one(&format!("* {seq} FETCH"));
    if let Some(lit) = line.literals.first() {
        return String::from_utf8(lit.clone()).unwrap();
    }
    let at = line
        .text
        .find("PREVIEW \"")
        .unwrap_or_else(|| panic!("{}", r.dump()))
        + 9;
    let mut out = String::new();
    let mut chars = line.text[at..].chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => out.push(chars.next().unwrap()),
            '"' => break,
            other => out.push(other),
        }
    }
    out
}

const ALTERNATIVE: &[u8] = b"Subject: a\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=B\r\n\r\n\
--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML <b>version</b></p>\r\n\
--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
Gr=FC=DFe aus   K=F6ln,\r\n\r\n  \"the\" plain =\r\nversion.\r\n--B--\r\n";

const HTML_ONLY: &[u8] = b"Subject: h\r\nContent-Type: text/html\r\n\r\n\
<html><body><p>Hello <i>there</i></p><p>second</p></body></html>\r\n";

const ATTACHMENT_ONLY: &[u8] = b"Subject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=M\r\n\r\n\
--M\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n\
not the body\r\n--M\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgo=\r\n--M--\r\n";

#[test]
fn capability_lists_preview() {
    let server = server_with(&[]);
    let mut c = server.inetd();
    let caps = c.capabilities();
    assert!(caps.iter().any(|w| w == "PREVIEW"), "{caps:?}");
}

#[test]
fn preview_of_plain_html_and_alternative_text() {
    let long = format!("Subject: long\r\n\r\n{}\r\n", "word ".repeat(100) + "tail");
    let server = server_with(&[ALTERNATIVE, HTML_ONLY, ATTACHMENT_ONLY, long.as_bytes()]);
    let (mut c, _) = server.session("INBOX");
    // text/plain is preferred in multipart/alternative; QP and ISO-8859-1 undone, white
    // space collapsed, a quote escaped.
    assert_eq!(
        preview(&mut c, 1, "PREVIEW"),
        "Grüße aus Köln, \"the\" plain version."
    );
    let html = preview(&mut c, 2, "PREVIEW");
    assert!(html.starts_with("Hello there"), "{html:?}");
    assert!(html.contains("second") && !html.contains('<'), "{html:?}");
    // Only an attachment and an image: no preview text, an empty string.
    assert_eq!(preview(&mut c, 3, "PREVIEW"), "");
    // At most 256 characters.
    let p = preview(&mut c, 4, "PREVIEW");
    assert_eq!(p.chars().count(), 256, "{p:?}");
    assert!(p.starts_with("word word"), "{p:?}");
}

#[test]
fn lazy_is_answered_too_and_the_flags_stay() {
    let server = server_with(&[ALTERNATIVE]);
    let (mut c, _) = server.session("INBOX");
    assert_eq!(
        preview(&mut c, 1, "PREVIEW (LAZY)"),
        "Grüße aus Köln, \"the\" plain version."
    );
    // Named twice, answered once; PREVIEW never sets \Seen.
    let r = c.send("F", "FETCH 1 (PREVIEW PREVIEW (LAZY) FLAGS)");
    r.assert_ok();
    let line = r.one("* 1 FETCH");
    assert_eq!(line.text.matches("PREVIEW").count(), 1, "{}", r.dump());
    assert!(!line.text.contains("\\Seen"), "{}", r.dump());
    c.send("B", "FETCH 1 PREVIEW (FAST)").assert_status("BAD");
}

#[test]
fn preview_is_cached_for_later_sessions() {
    let server = server_with(&[ALTERNATIVE]);
    let (mut c, _) = server.session("INBOX");
    let first = preview(&mut c, 1, "PREVIEW");
    c.logout();
    // A cache file beside the folder now holds it: with the message file's text replaced
    // in place (same name), a new session still answers the cached preview.
    let dir = server.folder_dir("INBOX");
    let name = server.files("INBOX", "cur").pop().unwrap();
    let cache_files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("preview"))
        .collect();
    assert!(
        !cache_files.is_empty(),
        "no preview cache in {}",
        dir.display()
    );
    let path = dir.join("cur").join(&name);
    let mut changed = ALTERNATIVE.to_vec();
    let at = find_bytes(&changed, b"Gr=FC").unwrap();
    changed[at..at + 2].copy_from_slice(b"XX");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (mut c, _) = server.session("INBOX");
    assert_eq!(preview(&mut c, 1, "PREVIEW"), first);
    // The body itself is the new one: the answer above came from the cache.
    let r = c.send("B", "FETCH 1 BODY.PEEK[2]");
    assert!(r.has("XX=FC"), "{}", r.dump());
}
