//! The folder's SORT/THREAD key file (`postern-sortkeys`, one record per message in UID
//! order) against the real binary: a warm SORT takes every key from it; after a delivery
//! and an expunge only the new message is read, the expunged one leaves the file, and the
//! answers stay those of the messages' real headers.

mod common;

use common::*;

fn mail(subject: &str, day: u32) -> Vec<u8> {
    format!(
        "From: a{day}@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n\
         Date: {day} Jul 2023 10:00:00 +0000\r\nMessage-ID: <k{day}@example.org>\r\n\r\nbody\r\n"
    )
    .into_bytes()
}

/// The numbers of the one `* SORT` line, in order.
#[track_caller]
fn sorted(c: &mut Client, command: &str) -> Vec<u32> {
    let r = c.send("s", command);
    r.assert_ok();
    let line = &r.one("* SORT").text;
    line["* SORT".len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Every message file of INBOX gets `Subject: zzz` (same size class, same mtime): an
/// answer that still follows the old subjects did not read the files.
fn scribble_subjects(server: &TestServer, except: &str) {
    for sub in ["cur", "new"] {
        for name in server.files("INBOX", sub) {
            if name.starts_with(except) {
                continue;
            }
            let path = server.maildir.join(sub).join(&name);
            let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
            let changed: Vec<&str> = text
                .split("\r\n")
                .map(|l| {
                    if l.starts_with("Subject:") {
                        "Subject: zzz"
                    } else {
                        l
                    }
                })
                .collect();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            std::fs::write(&path, changed.join("\r\n")).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(modified).unwrap();
        }
    }
}

/// Removes the per-message key cache, so old keys can come only from the key file.
fn drop_message_cache(server: &TestServer) {
    let _ = std::fs::remove_file(server.maildir.join("postern-cache.sortkeys-1"));
}

#[test]
fn after_a_delivery_and_an_expunge_only_the_new_message_is_read() {
    let server = TestServer::new();
    // Subjects in UID order: delta echo alpha charlie; days 4 1 3 2.
    for (i, (subject, day)) in [("delta", 4), ("echo", 1), ("alpha", 3), ("charlie", 2)]
        .iter()
        .enumerate()
    {
        server.put(
            "INBOX",
            "cur",
            &format!("{}.M{i}P1.keyfile", 1_700_000_000 + i),
            "S",
            &mail(subject, *day),
        );
    }
    let (mut c, _) = server.session("INBOX");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), [3, 4, 1, 2]);
    c.logout();
    let keyfile = server.maildir.join("postern-sortkeys");
    assert!(keyfile.is_file(), "no postern-sortkeys after a SORT");

    // Warm: every key from the key file (files scribbled, per-message cache gone).
    scribble_subjects(&server, "");
    drop_message_cache(&server);
    let (mut c, _) = server.session("INBOX");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), [3, 4, 1, 2]);
    assert_eq!(sorted(&mut c, "SORT (DATE) UTF-8 ALL"), [2, 4, 3, 1]);
    // Expunge "echo" (message 2); deliver "bravo" (day 5) behind the session's back.
    c.send("d", "STORE 2 +FLAGS.SILENT (\\Deleted)").assert_ok();
    c.send("x", "EXPUNGE").assert_ok();
    c.logout();
    server.put(
        "INBOX",
        "new",
        "1700000099.M9P1.keyfile",
        "",
        &mail("bravo", 5),
    );
    drop_message_cache(&server);

    // Now: delta alpha charlie bravo (1..4). Only bravo's file is read; the others'
    // scribbled subjects must not show.
    let (mut c, _) = server.session("INBOX");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), [2, 4, 3, 1]);
    assert_eq!(
        sorted(&mut c, "SORT (REVERSE DATE) UTF-8 ALL"),
        [4, 1, 2, 3]
    );
    c.logout();

    // The file was written anew with bravo and without echo: scribble bravo too, drop
    // the per-message cache, and the answers stay.
    scribble_subjects(&server, "");
    drop_message_cache(&server);
    let (mut c, _) = server.session("INBOX");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), [2, 4, 3, 1]);
    let r = c.send("t", "THREAD ORDEREDSUBJECT UTF-8 ALL");
    r.assert_ok();
    assert_eq!(r.one("* THREAD").text, "* THREAD (3)(2)(1)(4)");
    c.logout();
    let bytes = std::fs::read(&keyfile).unwrap();
    let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    assert_eq!(count, 4, "records of the four messages left");
}

/// A damaged key file costs time, never a wrong answer: it is read as misses and the
/// keys come from the messages again.
#[test]
fn a_damaged_key_file_is_rebuilt() {
    let server = TestServer::new();
    for (i, (subject, day)) in [("delta", 4), ("echo", 1), ("alpha", 3)].iter().enumerate() {
        server.put(
            "INBOX",
            "cur",
            &format!("{}.M{i}P1.keyfile", 1_700_000_000 + i),
            "S",
            &mail(subject, *day),
        );
    }
    let (mut c, _) = server.session("INBOX");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), [3, 1, 2]);
    c.logout();
    let keyfile = server.maildir.join("postern-sortkeys");
    let good = std::fs::read(&keyfile).unwrap();
    for cut in [0, 5, 16, 40, good.len() - 3] {
        std::fs::write(&keyfile, &good[..cut]).unwrap();
        drop_message_cache(&server);
        let (mut c, _) = server.session("INBOX");
        assert_eq!(
            sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"),
            [3, 1, 2],
            "cut at {cut}"
        );
        assert_eq!(
            sorted(&mut c, "SORT (DATE) UTF-8 ALL"),
            [2, 3, 1],
            "cut at {cut}"
        );
        c.logout();
    }
}
