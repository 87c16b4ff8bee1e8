//! Whoever may write a folder (its owner, or another login of a shared folder) can put a
//! FIFO where postern expects a message or one of its own files. Opening a FIFO for
//! reading waits for a writer: a session that did would hang, and with it every other
//! login that opens the shared folder. Each such open is made without waiting and only
//! a regular file is read; a FIFO message is refused, a FIFO cache is as good as none.
//! A session that waited would leave the client without an answer: the test client
//! gives up after `common::WAIT` and the test fails.

mod common;

use std::path::Path;

use common::{Client, TestServer, message};

/// The commands that open every cache postern keeps in a folder, and the messages.
fn use_every_cache(c: &mut Client) {
    c.select("INBOX");
    for command in [
        "FETCH 1:* (ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE PREVIEW)",
        "SORT (SUBJECT) UTF-8 ALL",
        "SEARCH TEXT planted",
        "FETCH 1:2 (BODY.PEEK[])",
    ] {
        c.send("c", command).assert_ok();
    }
}

fn make_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
}

#[test]
fn fifos_in_place_of_messages_and_caches_stall_no_session() {
    let mut server = TestServer::with(&[("fts", "cache_text", "true")]);
    for i in 0..3 {
        server.deliver(
            None,
            &message("a@example.org", &format!("planted {i}"), "text\r\n"),
        );
    }
    let mut c = server.connect();
    c.login();
    use_every_cache(&mut c);
    c.logout();

    // Every file of postern's own in the folder becomes a FIFO: as good as none.
    let mut planted = Vec::new();
    for entry in std::fs::read_dir(&server.maildir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("postern-") && entry.file_type().unwrap().is_file() {
            make_fifo(&entry.path());
            planted.push(name);
        }
    }
    assert!(
        planted.iter().any(|n| n.starts_with("postern-cache.")),
        "caches to replace: {planted:?}"
    );
    let mut c = server.connect();
    c.login();
    use_every_cache(&mut c);
    c.logout();

    // The third message becomes a FIFO under its own name: refused, and the session
    // goes on.
    let mut messages: Vec<_> = std::fs::read_dir(server.maildir.join("cur"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    messages.sort();
    assert_eq!(messages.len(), 3);
    make_fifo(&messages[2]);
    let mut c = server.connect();
    c.login();
    c.select("INBOX");
    let r = c.send("f", "FETCH 3 (BODY.PEEK[])");
    assert_ne!(r.status(), "OK", "{}", r.dump());
    c.send("s", "SEARCH TEXT planted");
    c.send("g", "FETCH 1:2 (BODY.PEEK[])").assert_ok();
    c.logout();
}
