//! Two sessions and deliveries at once: what one session or a delivery does shows up in the
//! other session at the points IMAP allows (NOOP, IDLE), and never during FETCH, STORE or
//! SEARCH. Waits are bounded (the client's read timeout); nothing measures time.

mod common;

use common::*;

fn msg(n: u32) -> Vec<u8> {
    message("bob@example.org", &format!("m{n}"), "x\r\n")
}

#[test]
fn delivery_shows_as_exists_at_noop() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    // Over `serve`, to cover the listener path too.
    let mut a = server.connect();
    a.login();
    let sel = a.select("INBOX");
    assert_eq!(sel.exists(), [1]);
    let mut b = server.connect();
    b.login();
    b.select("INBOX");

    server.deliver(None, &msg(2));
    let r = a.send("a1", "NOOP");
    r.assert_ok();
    assert_eq!(r.exists(), [2], "{}", r.dump());
    let r = b.send("b1", "NOOP");
    assert_eq!(r.exists(), [2], "{}", r.dump());
    // Said once only.
    assert!(a.send("a2", "NOOP").exists().is_empty());
    let r = a.send("a3", "FETCH 2 (UID BODY.PEEK[])");
    assert_eq!(r.fetch(2).item("BODY[]").unwrap(), msg(2));
    a.logout();
    b.logout();
}

#[test]
fn expunge_waits_for_noop_not_fetch_store_search() {
    let server = TestServer::new();
    for n in 1..=3 {
        server.deliver(None, &msg(n));
    }
    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    a.send("a1", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        .assert_ok();
    let r = a.send("a2", "EXPUNGE");
    assert_eq!(r.expunged(), [2], "{}", r.dump());

    for (tag, cmd) in [
        ("b1", "FETCH 1:3 FLAGS"),
        ("b2", "STORE 1 +FLAGS (\\Seen)"),
        ("b3", "SEARCH ALL"),
        ("b4", "FETCH 3 BODY.PEEK[HEADER]"),
    ] {
        let r = b.send(tag, cmd);
        assert!(
            r.expunged().is_empty(),
            "EXPUNGE during {cmd}:\n{}",
            r.dump()
        );
        assert!(
            r.is_ok() || r.status() == "NO",
            "{cmd} while an expunge is pending:\n{}",
            r.dump()
        );
    }
    // Sequence numbers still count the expunged message until B is told.
    let r = b.send("b5", "FETCH 3 UID");
    assert_eq!(r.fetch(3).uid(), Some(3), "{}", r.dump());
    let r = b.send("b6", "NOOP");
    assert_eq!(r.expunged(), [2], "{}", r.dump());
    let r = b.send("b7", "FETCH 2 UID");
    assert_eq!(r.fetch(2).uid(), Some(3), "{}", r.dump());
    let r = b.send("b8", "UID SEARCH ALL");
    assert_eq!(r.search(), [1, 3]);
    a.logout();
    b.logout();
}

#[test]
fn flag_changes_arrive_as_fetch_flags() {
    let server = TestServer::new();
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    a.send("a1", "STORE 2 +FLAGS (\\Flagged $Important)")
        .assert_ok();
    let r = b.send("b1", "NOOP");
    r.assert_ok();
    let f = r.fetch(2);
    let flags = f.flags().unwrap_or_else(|| panic!("no FLAGS: {}", f.text));
    assert!(
        flags.contains(&"\\Flagged".into()) && flags.contains(&"$Important".into()),
        "{flags:?}"
    );
    assert!(
        r.fetches().iter().all(|f| f.seq() == 2),
        "unchanged messages reported:\n{}",
        r.dump()
    );
    a.send("a2", "STORE 2 -FLAGS (\\Flagged)").assert_ok();
    let r = b.send("b2", "NOOP");
    let flags = r.fetch(2).flags().unwrap();
    assert!(!flags.contains(&"\\Flagged".into()), "{flags:?}");
    a.logout();
    b.logout();
}

/// Reads (bounded by the client's timeout) until a response satisfies `pred`; the server
/// must not end IDLE on its own meanwhile.
#[track_caller]
fn idle_until(c: &mut Client, what: &str, pred: impl Fn(&Line) -> bool) -> Line {
    loop {
        let l = c.expect_response();
        assert!(
            l.text.starts_with("* "),
            "while waiting for {what} in IDLE: {}",
            l.text
        );
        if pred(&l) {
            return l;
        }
    }
}

#[test]
fn idle_wakes_on_delivery_flags_and_expunge() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    let mut a = server.connect();
    a.login();
    a.select("INBOX");
    let mut b = server.connect();
    b.login();
    b.select("INBOX");

    b.write(b"i1 IDLE\r\n");
    let cont = b.expect_response();
    assert!(cont.is_continuation(), "IDLE: {}", cont.text);

    server.deliver(None, &msg(3));
    idle_until(&mut b, "EXISTS", |l| l.text == "* 3 EXISTS");

    a.send("a1", "STORE 1 +FLAGS (\\Answered)").assert_ok();
    let l = idle_until(&mut b, "FETCH", |l| l.text.starts_with("* 1 FETCH"));
    assert!(
        l.flags().unwrap().contains(&"\\Answered".into()),
        "{}",
        l.text
    );

    a.send("a2", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        .assert_ok();
    a.send("a3", "EXPUNGE").assert_ok();
    idle_until(&mut b, "EXPUNGE", |l| l.text == "* 2 EXPUNGE");

    b.write(b"DONE\r\n");
    b.read_reply("i1", 1).assert_ok();
    let r = b.send("b1", "UID SEARCH ALL");
    assert_eq!(r.search(), [1, 3]);
    a.logout();
    b.logout();
}

#[test]
fn concurrent_appends_and_deliveries_get_distinct_uids() {
    let server = TestServer::new();
    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    std::thread::scope(|s| {
        let server = &server;
        let deliveries = s.spawn(move || {
            for n in 0..6 {
                server.deliver(None, &msg(100 + n));
            }
        });
        for n in 0..6 {
            let m = msg(200 + n);
            a.send_parts(
                &format!("a{n}"),
                &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)],
            )
            .assert_ok();
            let m = msg(300 + n);
            b.send_parts(
                &format!("b{n}"),
                &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)],
            )
            .assert_ok();
        }
        deliveries.join().unwrap();
    });
    a.send("a8", "NOOP").assert_ok();
    b.send("b8", "NOOP").assert_ok();
    let ua = a.send("a9", "UID SEARCH ALL").search();
    let ub = b.send("b9", "UID SEARCH ALL").search();
    assert_eq!(ua.len(), 18, "{ua:?}");
    let mut dedup = ua.clone();
    dedup.dedup();
    assert_eq!(dedup, ua, "duplicate UIDs");
    assert_eq!(ua, ub, "the two sessions disagree");
    // Both sessions see the same UID for the same message.
    let fa = a.send("a10", "UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    let fb = b.send("b10", "UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    let subjects = |r: &Reply| {
        let mut v: Vec<(u32, String)> = r
            .fetches()
            .iter()
            .map(|f| {
                (
                    f.uid().unwrap(),
                    f.text.split_once(" FETCH ").unwrap().1.to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(subjects(&fa), subjects(&fb));
    a.logout();
    b.logout();
}
