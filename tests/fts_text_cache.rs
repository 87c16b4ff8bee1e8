//! `[fts] cache_text`: a BODY/TEXT SEARCH keeps each message's decoded, lowercased text in
//! the folder's `postern-cache.searchtext-1`, and later searches verify the index's
//! candidates from it instead of reading and decoding the message again. (Answers equal
//! to the scan on a generated corpus: tests/fts.rs, whose index runs use this cache.)

mod common;

use common::*;

fn mail(i: usize) -> Vec<u8> {
    // Quoted-printable with a soft line break inside "meeting", and a charset.
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: Agenda {i}\r\n\
         Date: 3 Jul 2023 10:00:00 +0000\r\nMessage-ID: <t{i}@example.org>\r\n\
         Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         The MEET=\r\nING about caf=E9 number {i}\r\n"
    )
    .into_bytes()
}

fn uid_search(c: &mut Client, query: &str) -> Vec<u32> {
    let r = c.send("S", &format!("UID SEARCH {query}"));
    r.assert_ok();
    r.search()
}

/// Replaces every message body of INBOX by one without the words, keeping name and mtime:
/// an answer that still finds them did not read the files.
fn blank_bodies(server: &TestServer) {
    for name in server.files("INBOX", "cur") {
        let path = server.maildir.join("cur").join(&name);
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, format!("{head}\r\n\r\nnothing here\r\n")).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(modified).unwrap();
    }
}

#[test]
fn later_searches_verify_from_the_cached_text() {
    let mut server = TestServer::with(&[("fts", "enabled", "true")]);
    for i in 0..6 {
        server.put(
            "INBOX",
            "cur",
            &format!("{}.M{i}P1.txt", 1_700_000_000 + i),
            "S",
            &mail(i),
        );
    }
    let queries = [
        "BODY meeting",
        "TEXT \"CAF\"",
        "TEXT \"NUMBER 3\"",
        "TEXT agenda",
        "BODY nothing",
    ];
    let mut c = server.connect();
    c.login();
    c.select("INBOX");
    let first: Vec<Vec<u32>> = queries.iter().map(|q| uid_search(&mut c, q)).collect();
    c.logout();
    assert_eq!(first[0].len(), 6, "{first:?}");
    assert_eq!(first[2].len(), 1, "{first:?}");
    assert!(first[4].is_empty());
    assert!(server.maildir.join("postern-cache.searchtext-1").is_file());

    blank_bodies(&server);
    let mut c = server.connect();
    c.login();
    c.select("INBOX");
    let again: Vec<Vec<u32>> = queries.iter().map(|q| uid_search(&mut c, q)).collect();
    c.logout();
    assert_eq!(again, first, "answered from the cached texts");

    // Without the cache the (changed) files are read.
    server.set("fts", "cache_text", "false");
    let mut c = server.connect();
    c.login();
    c.select("INBOX");
    assert!(uid_search(&mut c, "BODY meeting").is_empty());
    c.logout();
}
