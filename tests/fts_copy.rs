//! COPY and MOVE into a folder with a full-text index update that index at once (as
//! delivery and APPEND do), not at the target's next SEARCH: the copies' names are in the
//! target's `postern-fts.recent` right after the command, and SEARCH there answers as the
//! scan does.

mod common;

use std::fs;

use common::*;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn mail(i: usize) -> Vec<u8> {
    let word = ["otter", "heron", "badger", "lynx"][i % 4];
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: note {i}\r\n\
         Date: 3 Jul 2023 10:00:00 +0000\r\nMessage-ID: <c{i}@example.org>\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\
         \r\nthe {word} number {i} went to the river=\r\nbank and sang gr=C3=BC=C3=9Fe\r\n"
    )
    .into_bytes()
}

/// `UID SEARCH CHARSET UTF-8 <key> <needle as a literal>`.
fn uid_search(c: &mut Client, (key, needle): (&str, &str)) -> Vec<u32> {
    let r = c.send_parts(
        "S",
        &[
            Part::Text(&format!("UID SEARCH CHARSET UTF-8 {key} ")),
            Part::Literal(needle.as_bytes()),
        ],
    );
    r.assert_ok();
    r.search()
}

const QUERIES: [(&str, &str); 6] = [
    ("BODY", "otter"),
    ("BODY", "riverbank"),
    ("TEXT", "number 7"),
    ("BODY", "grüße"),
    ("TEXT", "lynx"),
    ("BODY", "absent-word"),
];

fn answers(server: &mut TestServer, folder: &str) -> Vec<Vec<u32>> {
    let mut c = server.connect();
    c.login();
    c.select(folder);
    let out = QUERIES.iter().map(|&q| uid_search(&mut c, q)).collect();
    c.logout();
    out
}

/// The names (without the `:2,` info) of the messages in a folder's cur/ and new/.
fn basenames(server: &TestServer, folder: &str) -> Vec<String> {
    let mut v = Vec::new();
    for sub in ["cur", "new"] {
        for n in server.files(folder, sub) {
            v.push(n.split(":2,").next().unwrap().to_string());
        }
    }
    v
}

/// FTS on, `count` messages in INBOX, and a logged-in session that created `folder`.
fn fts_server_with(count: usize, folder: &str) -> (TestServer, Client) {
    let mut server = TestServer::with(&[("fts", "enabled", "true")]);
    for i in 0..count {
        server.put(
            "INBOX",
            "cur",
            &format!("{}.M{i}P1.src", 1_700_000_000 + i),
            "S",
            &mail(i),
        );
    }
    let mut c = server.connect();
    c.login();
    c.send("c", &format!("CREATE {folder}")).assert_ok();
    (server, c)
}

#[test]
fn copies_and_moves_are_indexed_at_once() {
    let (mut server, mut c) = fts_server_with(12, "INBOX.Target");
    // The target gets its index from a first SEARCH (an index is made for folders that
    // are searched); then it holds one message of its own.
    c.send_parts(
        "a",
        &[
            Part::Text("APPEND INBOX.Target "),
            Part::Literal(&mail(100)),
        ],
    )
    .assert_ok();
    c.select("INBOX.Target");
    uid_search(&mut c, ("BODY", "otter"));
    let target = server.folder_dir("INBOX.Target");
    assert!(
        target.join("postern-fts").exists() || target.join("postern-fts.recent").exists(),
        "the target has no index after a SEARCH"
    );
    let before = basenames(&server, "INBOX.Target");
    c.select("INBOX");
    c.send("k", "COPY 1:6 INBOX.Target").assert_ok();
    c.send("m", "MOVE 7:9 INBOX.Target").assert_ok();
    c.logout();

    // No SEARCH in the target since: the copies must be in its recent segment already.
    let recent = fs::read(target.join("postern-fts.recent")).expect("postern-fts.recent");
    let copies: Vec<String> = basenames(&server, "INBOX.Target")
        .into_iter()
        .filter(|b| !before.contains(b))
        .collect();
    assert_eq!(copies.len(), 9, "{copies:?}");
    for b in &copies {
        assert!(
            contains(&recent, b.as_bytes()),
            "COPY/MOVE did not index {b}"
        );
    }

    // And the answers are the scan's.
    let indexed = answers(&mut server, "INBOX.Target");
    server.set("fts", "enabled", "false");
    let scanned = answers(&mut server, "INBOX.Target");
    server.set("fts", "enabled", "true");
    for ((q, a), b) in QUERIES.iter().zip(&indexed).zip(&scanned) {
        assert_eq!(a, b, "{q:?}");
    }
    assert!(
        !indexed[0].is_empty() && indexed[5].is_empty(),
        "{indexed:?}"
    );
}

/// Into a folder nobody searched (no index), a COPY makes none: mail nobody searches
/// costs no index.
#[test]
fn a_copy_into_a_folder_without_an_index_makes_none() {
    let (server, mut c) = fts_server_with(3, "INBOX.Plain");
    c.select("INBOX");
    c.send("k", "COPY 1:3 INBOX.Plain").assert_ok();
    c.logout();
    let dir = server.folder_dir("INBOX.Plain");
    assert!(!dir.join("postern-fts").exists() && !dir.join("postern-fts.recent").exists());
}
