//! RFC822.SIZE counts CRLF line ends whatever is on disk, whichever FETCH items come with
//! it, and SEARCH LARGER/SMALLER agree with it; sizes learned by reading a file are kept in
//! the folder's `postern-sizes` cache, and our own deliveries carry `,W=` in the name.

mod common;

use common::TestServer;

/// Header of 3 lines + blank + 2 body lines, bare LF: 6 LFs more on the wire.
const LF_MESSAGE: &[u8] =
    b"From: a@example.org\nSubject: sizes\nTo: b@example.org\n\nline one\nline two\n";

fn size_of(reply: &common::Reply) -> u64 {
    let text = reply.dump();
    let at = text.find("RFC822.SIZE ").expect("RFC822.SIZE in the reply") + 12;
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn rfc822_size_is_the_crlf_size_with_any_other_item() {
    let server = TestServer::new();
    server.put("INBOX", "cur", "1700000000.M1P1.test", "S", LF_MESSAGE);
    let wire = LF_MESSAGE.len() as u64 + 6;
    let (mut c, _) = server.session("INBOX");
    for (tag, items) in [
        ("a", "(RFC822.SIZE)"),
        ("b", "(ENVELOPE RFC822.SIZE)"),
        ("c", "ALL"),
        ("d", "(RFC822.SIZE BODY.PEEK[HEADER])"),
        ("e", "(RFC822.SIZE BODY.PEEK[])"),
    ] {
        let r = c.send(tag, &format!("FETCH 1 {items}"));
        r.assert_ok();
        assert_eq!(size_of(&r), wire, "FETCH {items}: {}", r.dump());
    }
    let larger = c.send("f", &format!("SEARCH LARGER {}", wire - 1));
    assert_eq!(larger.search(), vec![1], "{}", larger.dump());
    let not_larger = c.send("g", &format!("SEARCH LARGER {wire}"));
    assert!(not_larger.search().is_empty(), "{}", not_larger.dump());
    c.logout();
    let cache = std::fs::read_to_string(server.folder_dir("INBOX").join("postern-sizes")).unwrap();
    assert!(
        cache.contains(&format!(
            "1700000000.M1P1.test,S={} {wire}",
            LF_MESSAGE.len()
        )),
        "{cache}"
    );
}

#[test]
fn deliveries_and_appends_name_their_crlf_size() {
    let server = TestServer::new();
    server.deliver(None, LF_MESSAGE);
    let names = server.files("INBOX", "new");
    let wire = LF_MESSAGE.len() + 6;
    assert!(
        names[0].contains(&format!(",S={},W={wire}", LF_MESSAGE.len())),
        "{names:?}"
    );
    let (mut c, _) = server.session("INBOX");
    let r = c.send("a", "FETCH 1 (RFC822.SIZE)");
    assert_eq!(size_of(&r), wire as u64);
    c.logout();
    assert!(
        !server.folder_dir("INBOX").join("postern-sizes").exists(),
        "no cache needed when the name says it"
    );
}

/// ENVELOPE and BODYSTRUCTURE are computed once and then served from the folder's cache,
/// by later sessions too, without reading the message.
#[test]
fn envelope_and_bodystructure_come_from_the_cache_once_computed() {
    let server = TestServer::new();
    let message = b"From: Ann <ann@example.org>\r\nSubject: cached\r\n\r\nbody\r\n";
    server.put("INBOX", "cur", "1700000000.M1P1.test", "S", message);
    let (mut c, _) = server.session("INBOX");
    let first = c.send("a", "FETCH 1 (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)");
    first.assert_ok();
    assert_eq!(
        c.send("s1", "SEARCH FROM ann SUBJECT cached").search(),
        vec![1]
    );
    c.logout();
    assert!(server.folder_dir("INBOX").join("postern-dates").exists());
    for kind in ["envelope-2", "bodystructure-2", "body-2"] {
        let cache = server
            .folder_dir("INBOX")
            .join(format!("postern-cache.{kind}"));
        assert!(cache.exists(), "{} missing", cache.display());
    }
    // Message files never change; if one did, the cache would show it is not read again.
    let file = server
        .folder_dir("INBOX")
        .join("cur")
        .join(&server.files("INBOX", "cur")[0]);
    std::fs::write(
        &file,
        b"From: Bob <bob@example.org>\r\nSubject: other\r\nX-Mark: fresh\r\n\r\nx\r\n",
    )
    .unwrap();
    let (mut c, _) = server.session("INBOX");
    let again = c.send("b", "FETCH 1 (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)");
    assert_eq!(
        first.dump().replacen("a OK", "", 1).lines().next(),
        again.dump().replacen("b OK", "", 1).lines().next()
    );
    assert!(again.has("cached"), "{}", again.dump());
    // SEARCH on the usual header fields answers from the cache too...
    assert_eq!(
        c.send("s2", "SEARCH FROM ann SUBJECT cached").search(),
        vec![1]
    );
    // ...while other headers are read from the file.
    assert_eq!(c.send("s3", "SEARCH HEADER X-Mark fresh").search(), vec![1]);
    c.logout();
}
