//! APPEND through the store's spool: the message literal is streamed into one file in
//! `tmp/` (CRLF turned into LF on the way), dated there, and renamed into `cur/` — one file,
//! no second copy, nothing left in `tmp/` whatever happens to the command. And the
//! INTERNALDATE a client gave never changes, however many sessions work on the folder.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The date every APPEND of the concurrency test gives, as sent and as FETCH answers it.
const DATE: &str = "22-Feb-2008 10:00:00 +0000";

fn append_dated(c: &mut Client, tag: &str, n: u32) {
    let m = message("bob@example.org", &format!("dated {n}"), "x\r\n");
    let head = format!("APPEND INBOX (\\Seen) \"{DATE}\" ");
    let r = c.send_parts(tag, &[Part::Text(&head), Part::Literal(&m)]);
    r.assert_ok();
}

/// The `* n FETCH` lines of `r` with an INTERNALDATE (others are flag changes of other
/// sessions).
fn dated(r: &Reply) -> Vec<&Line> {
    r.fetches()
        .into_iter()
        .filter(|l| l.text.contains("INTERNALDATE"))
        .collect()
}

/// Every `* n FETCH` line of `r` whose INTERNALDATE is not [`DATE`].
fn wrong_dates(r: &Reply) -> Vec<String> {
    dated(r)
        .iter()
        .filter(|l| {
            l.item("INTERNALDATE")
                .is_none_or(|d| String::from_utf8_lossy(&d) != DATE)
        })
        .map(|l| l.text.clone())
        .collect()
}

/// Files in `dir` (a Maildir's cur/, new/ or tmp/).
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Issue 12 item 6: APPENDs with an explicit date while other sessions rename every file
/// (flag changes) and others read INTERNALDATE from fresh read-only views (EXAMINE saves
/// no date cache, so every round looks at the files again). Each INTERNALDATE anyone
/// sees, then and afterwards, is the date the client gave.
#[test]
fn internaldate_stays_under_concurrent_sessions() {
    let server = TestServer::new();
    let (mut seed, _) = server.session("INBOX");
    for n in 0..30 {
        append_dated(&mut seed, &format!("s{n}"), n);
    }
    seed.logout();

    let flipping = AtomicBool::new(true);
    let seen_wrong: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let mut flippers = Vec::new();
        for f in 0..2 {
            let (mut c, _) = server.session("INBOX");
            let flipping = &flipping;
            flippers.push(s.spawn(move || {
                let mut i = 0;
                while flipping.load(Ordering::Relaxed) {
                    let sign = if i % 2 == 0 { '+' } else { '-' };
                    // Two flippers race each other; whether a STORE that lost such a
                    // race answers OK is issue 12 item 1's business, not this test's.
                    let r = c.send(
                        &format!("f{f}x{i}"),
                        &format!("STORE 1:* {sign}FLAGS.SILENT (\\Flagged \\Answered)"),
                    );
                    assert!(r.is_ok() || r.status() == "NO", "{}", r.dump());
                    i += 1;
                }
                c.logout();
            }));
        }
        let mut workers = Vec::new();
        for a in 0..2 {
            let mut c = server.inetd();
            c.login();
            workers.push(s.spawn(move || {
                for n in 0..30 {
                    append_dated(&mut c, &format!("a{a}x{n}"), 100 * (a + 1) + n);
                }
                c.logout();
            }));
        }
        for r in 0..3 {
            let mut c = server.inetd();
            c.login();
            let seen_wrong = &seen_wrong;
            workers.push(s.spawn(move || {
                for round in 0..25 {
                    c.send(&format!("e{r}x{round}"), "EXAMINE INBOX")
                        .assert_ok();
                    let reply = c.send(&format!("g{r}x{round}"), "FETCH 1:* INTERNALDATE");
                    reply.assert_ok();
                    seen_wrong.lock().unwrap().extend(wrong_dates(&reply));
                }
                c.logout();
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
        flipping.store(false, Ordering::Relaxed);
        for f in flippers {
            f.join().unwrap();
        }
    });
    let wrong = seen_wrong.into_inner().unwrap();
    assert!(
        wrong.is_empty(),
        "{} INTERNALDATEs differ from {DATE}, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    // And afterwards, from the caches the sessions left behind.
    for round in 0..2 {
        let (mut c, sel) = server.session("INBOX");
        assert_eq!(sel.exists(), [90]);
        let r = c.send(&format!("z{round}"), "FETCH 1:* INTERNALDATE");
        assert_eq!(dated(&r).len(), 90);
        assert_eq!(wrong_dates(&r), Vec::<String>::new());
        c.logout();
    }
    // A session writes its caches after its last answer (LOGOUT's OK comes first), through
    // tmp/: wait (bounded) for the sessions to finish before looking for leftovers.
    let tmp = server.maildir.join("tmp");
    for _ in 0..100 {
        if names(&tmp).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(names(&tmp), Vec::<String>::new());
}

/// A 20 MB message: one file in `cur/` with LF line ends and the wire size in its name,
/// nothing in `tmp/`, and FETCH gives back exactly the bytes sent.
#[test]
fn big_append_leaves_exactly_one_file() {
    let server = TestServer::new();
    let mut m = message("bob@example.org", "big", "").to_vec();
    let line = format!("{}\r\n", "0123456789abcdef".repeat(4));
    while m.len() < 20 * 1024 * 1024 {
        m.extend_from_slice(line.as_bytes());
    }
    let (mut c, _) = server.session("INBOX");
    let r = c.send_parts("a1", &[Part::Text("APPEND INBOX () "), Part::Literal(&m)]);
    r.assert_ok();
    let cur = names(&server.maildir.join("cur"));
    assert_eq!(cur.len(), 1, "{cur:?}");
    assert!(names(&server.maildir.join("tmp")).is_empty());
    assert!(names(&server.maildir.join("new")).is_empty());
    let lines = m.iter().filter(|&&b| b == b'\n').count();
    let on_disk = std::fs::metadata(server.maildir.join("cur").join(&cur[0]))
        .unwrap()
        .len();
    assert_eq!(
        on_disk as usize,
        m.len() - lines,
        "stored with LF line ends"
    );
    assert!(
        cur[0].contains(&format!(",S={on_disk},W={}", m.len())),
        "{}",
        cur[0]
    );
    let r = c.send("a2", "FETCH 1 (RFC822.SIZE BODY.PEEK[])");
    let f = r.fetch(1);
    assert_eq!(f.item_text("RFC822.SIZE").unwrap(), m.len().to_string());
    assert!(
        f.item("BODY[]").unwrap() == m,
        "the message comes back byte for byte"
    );
    c.logout();
}

/// A client that leaves in the middle of its message literal leaves nothing in `tmp/`;
/// nor does an APPEND refused after the message arrived (no such folder, over quota).
#[test]
fn failed_or_cut_appends_leave_no_litter() {
    let server = TestServer::new();
    let tmp = server.maildir.join("tmp");
    let (mut c, _) = server.session("INBOX");
    let m = message("bob@example.org", "refused", "x\r\n");
    let r = c.send_parts(
        "a1",
        &[Part::Text("APPEND INBOX.nosuch "), Part::LiteralPlus(&m)],
    );
    assert_eq!(r.code(), Some("TRYCREATE"), "{}", r.dump());
    std::fs::write(server.maildir.join("maildirsize"), b"100S\n").unwrap();
    server.give_homes_to_mail_owner();
    let big = message("bob@example.org", "big", &"y\r\n".repeat(200));
    let r = c.send_parts(
        "a2",
        &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&big)],
    );
    r.assert_status("NO");
    assert!(names(&tmp).is_empty(), "{:?}", names(&tmp));
    assert!(names(&server.maildir.join("cur")).is_empty());

    // Half a literal, then the client goes away.
    c.write(b"a3 APPEND INBOX {1000000+}\r\n");
    c.write(&vec![b'z'; 300_000]);
    for _ in 0..200 {
        if !names(&tmp).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(names(&tmp).len(), 1, "the literal is being spooled in tmp/");
    drop(c);
    let mut left = names(&tmp);
    for _ in 0..200 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        left = names(&tmp);
    }
    assert!(left.is_empty(), "litter in tmp/: {left:?}");
    assert!(names(&server.maildir.join("cur")).is_empty());
}

/// A message whose CRLFs are cut between the client's writes (CR in one, LF in the next,
/// which the server reads apart): stored with LF line ends, a lone CR kept, served back
/// byte for byte.
#[test]
fn crlf_cut_between_writes() {
    let server = TestServer::new();
    let (mut c, _) = server.session("INBOX");
    let pieces: [&[u8]; 5] = [
        b"Subject: cut\r",
        b"\n\r",
        b"\nbody with a lone \r",
        b"cr\r",
        b"\n",
    ];
    let m = pieces.concat();
    c.write(format!("a1 APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes());
    for p in pieces {
        c.write(p);
        std::thread::sleep(Duration::from_millis(30));
    }
    c.write(b"\r\n");
    c.read_reply("a1", 0).assert_ok();
    let cur = names(&server.maildir.join("cur"));
    assert_eq!(cur.len(), 1);
    assert_eq!(
        std::fs::read(server.maildir.join("cur").join(&cur[0])).unwrap(),
        b"Subject: cut\n\nbody with a lone \rcr\n"
    );
    let r = c.send("a2", "FETCH 1 BODY.PEEK[]");
    assert_eq!(r.fetch(1).item("BODY[]").unwrap(), m);
    c.logout();
}

/// Writes the first half of an APPEND of `m` to `mailbox`, and waits until the server has
/// started spooling it: the spool file's directory is returned with the rest to send.
fn half_append(c: &mut Client, server: &TestServer, mailbox: &str, m: &[u8]) -> String {
    c.write(format!("h1 APPEND {mailbox} {{{}+}}\r\n", m.len()).as_bytes());
    c.write(&m[..m.len() / 2]);
    for _ in 0..200 {
        for folder in ["INBOX", "INBOX.Sub"] {
            if !names(&server.folder_dir(folder).join("tmp")).is_empty() {
                return folder.to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no spool file appeared");
}

/// The message is spooled in the target folder's `tmp/` (one rename within the folder);
/// for a folder that does not exist, in INBOX's, and removed when the APPEND is refused.
#[test]
fn append_spools_in_the_target_folder() {
    let server = TestServer::new();
    server.make_folder("Sub");
    let (mut c, _) = server.session("INBOX");
    let mut m = message("bob@example.org", "where", "");
    m.extend(std::iter::repeat_n(b'w', 400_000));
    m.extend_from_slice(b"\r\n");
    let rest = &m[m.len() / 2..];

    assert_eq!(half_append(&mut c, &server, "INBOX.Sub", &m), "INBOX.Sub");
    assert!(names(&server.maildir.join("tmp")).is_empty());
    c.write(rest);
    c.write(b"\r\n");
    c.read_reply("h1", 0).assert_ok();
    assert_eq!(names(&server.folder_dir("INBOX.Sub").join("cur")).len(), 1);
    assert!(names(&server.folder_dir("INBOX.Sub").join("tmp")).is_empty());

    assert_eq!(
        half_append(&mut c, &server, "\"INBOX.nosuch\"", &m),
        "INBOX"
    );
    c.write(rest);
    c.write(b"\r\n");
    let r = c.read_reply("h1", 0);
    assert_eq!(r.code(), Some("TRYCREATE"), "{}", r.dump());
    assert!(names(&server.maildir.join("tmp")).is_empty());
    assert!(names(&server.maildir.join("cur")).is_empty());
    c.logout();
}
