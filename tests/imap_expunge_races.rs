//! Races with another session's EXPUNGE do not fail commands (issue 12, item 4): a FETCH,
//! STORE or COPY (and their UID forms) naming messages that another session expunged, but
//! that this session was not told about yet, answers OK with what it can — FLAGS and UID
//! from memory, NIL for the gone text (RFC 2180 §4.1.1/§4.1.3), flags stored and messages
//! copied for what still exists — and the EXPUNGEs come at the next command that may
//! carry them.

mod common;

use common::*;

fn msg(n: u32) -> Vec<u8> {
    message(
        "bob@example.org",
        &format!("m{n}"),
        &format!("body {n}\r\n"),
    )
}

/// Four messages; A and B have INBOX selected; B expunges 2 and 3 behind A's back.
fn expunged_behind(server: &mut TestServer) -> (Client, Client) {
    for n in 1..=4 {
        server.deliver(None, &msg(n));
    }
    server.make_folder("Other");
    let mut a = server.connect();
    a.login();
    assert_eq!(a.select("INBOX").exists(), [4]);
    // Something cached for message 2, so its ENVELOPE can still be answered.
    a.send("a0", "FETCH 2 ENVELOPE").assert_ok();
    let mut b = server.connect();
    b.login();
    b.select("INBOX");
    b.send("b1", "STORE 2:3 +FLAGS.SILENT (\\Deleted)")
        .assert_ok();
    let r = b.send("b2", "EXPUNGE");
    assert_eq!(r.expunged(), [3, 2], "{}", r.dump());
    (a, b)
}

#[test]
fn fetch_store_copy_of_expunged_messages_answer_ok() {
    let mut server = TestServer::new();
    let (mut a, b) = expunged_behind(&mut server);

    let r = a.send("a1", "FETCH 1:4 (UID FLAGS BODY[])");
    r.assert_ok();
    assert!(r.expunged().is_empty(), "{}", r.dump());
    for seq in [1, 4] {
        let body = r.fetch(seq).item("BODY[]").unwrap();
        assert!(body.starts_with(b"From: bob@example.org"), "{}", r.dump());
    }
    for seq in [2, 3] {
        // What is still known, and NIL for the text that is gone.
        let line = r.fetch(seq);
        assert_eq!(line.uid(), Some(seq), "{}", r.dump());
        // As A last knew them: it was never told of B's \Deleted.
        assert!(line.flags().is_some(), "{}", r.dump());
        assert!(line.text.contains("BODY[] NIL"), "{}", r.dump());
    }
    // A cached ENVELOPE outlives the file.
    let r = a.send("a2", "FETCH 2:3 (ENVELOPE BODY.PEEK[HEADER])");
    r.assert_ok();
    assert!(r.fetch(2).text.contains("ENVELOPE ("), "{}", r.dump());

    let r = a.send("a3", "STORE 1:4 +FLAGS (\\Flagged)");
    r.assert_ok();
    assert!(r.expunged().is_empty(), "{}", r.dump());
    for seq in [1, 4] {
        assert!(r.fetch(seq).flags().unwrap().contains(&"\\Flagged".into()));
    }
    assert!(
        r.fetches().iter().all(|l| l.seq() == 1 || l.seq() == 4),
        "{}",
        r.dump()
    );

    let r = a.send("a4", "COPY 1:4 INBOX.Other");
    r.assert_ok();
    assert!(r.code().unwrap().starts_with("COPYUID "), "{}", r.dump());
    let code = r.code().unwrap().to_string();
    assert!(code.ends_with(" 1,4 1:2"), "{code}");
    // COPY may carry the EXPUNGEs (RFC 3501 §7.4.1); if not, NOOP does.
    let mut expunged = r.expunged();
    let r = a.send("a5", "NOOP");
    r.assert_ok();
    expunged.extend(r.expunged());
    assert_eq!(expunged, [3, 2]);
    let r = a.send("a6", "FETCH 1:* (UID FLAGS)");
    assert_eq!(r.fetches().len(), 2, "{}", r.dump());
    assert_eq!(r.fetch(2).uid(), Some(4));

    let r = a.send("a7", "STATUS INBOX.Other (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 2, "{}", r.dump());
    a.logout();
    b.logout();
}

/// B expunges the message with this UID; A is not told.
fn expunge_uid(b: &mut Client, uid: u32) {
    b.send("bx", &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
        .assert_ok();
    b.send("by", &format!("UID EXPUNGE {uid}")).assert_ok();
}

#[test]
fn uid_fetch_store_copy_of_expunged_messages_answer_ok() {
    let server = TestServer::new();
    for n in 1..=6 {
        server.deliver(None, &msg(n));
    }
    server.make_folder("Other");
    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    // Each UID command may report the EXPUNGEs it found, so B strikes again before each.
    expunge_uid(&mut b, 2);
    let r = a.send("a1", "UID FETCH 1:3 (FLAGS BODY.PEEK[TEXT] RFC822.SIZE)");
    r.assert_ok();
    assert!(r.has("BODY[TEXT] NIL"), "{}", r.dump());
    assert_eq!(r.expunged(), [2], "{}", r.dump());

    expunge_uid(&mut b, 3);
    let r = a.send("a2", "UID STORE 1:4 +FLAGS (\\Flagged $Kept)");
    r.assert_ok();
    assert_eq!(r.expunged(), [2], "{}", r.dump());
    let stored: Vec<u32> = r.fetches().iter().filter_map(|l| l.uid()).collect();
    assert_eq!(stored, [1, 4], "{}", r.dump());

    expunge_uid(&mut b, 4);
    let r = a.send("a3", "UID COPY 1:5 INBOX.Other");
    r.assert_ok();
    assert!(r.code().unwrap().contains(" 1,5 "), "{}", r.dump());
    assert_eq!(r.expunged(), [2], "{}", r.dump());

    let r = a.send("a4", "UID FETCH 1:* FLAGS");
    let uids: Vec<u32> = r.fetches().iter().filter_map(|l| l.uid()).collect();
    assert_eq!(uids, [1, 5, 6], "{}", r.dump());
    assert!(r.fetch(1).flags().unwrap().contains(&"$Kept".into()));
    let r = a.send("a5", "STATUS INBOX.Other (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 2, "{}", r.dump());
    a.logout();
    b.logout();
}

#[test]
fn move_of_expunged_messages_moves_what_exists() {
    let mut server = TestServer::new();
    let (mut a, b) = expunged_behind(&mut server);
    let r = a.send("a1", "MOVE 1:4 INBOX.Other");
    r.assert_ok();
    // 1 and 4 moved, 2 and 3 were gone: every message of A's view is expunged.
    assert_eq!(r.expunged().len(), 4, "{}", r.dump());
    let r = a.send("a2", "STATUS INBOX.Other (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 2, "{}", r.dump());
    a.logout();
    b.logout();
}
