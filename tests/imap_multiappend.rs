//! MULTIAPPEND (RFC 3502): several messages in one APPEND, stored all or none, with
//! APPENDUID's uid-set (RFC 4315); the per-message APPENDLIMIT and the total limit of one
//! APPEND; non-synchronizing literals of LITERAL-'s size (RFC 7888 §5), against the real
//! binary. Every response is held to imap-codec by `tests/common`.

mod common;

use common::*;

/// Two messages in the style of RFC 3502 §6's example.
fn two_messages() -> (Vec<u8>, Vec<u8>) {
    (
        message(
            "Fred Foobar <foobar@Blurdybloop.example.COM>",
            "afternoon meeting",
            "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n",
        ),
        message(
            "Joe Mooch <mooch@OWaTaGu.example.net>",
            "afternoon meeting 2",
            "3:30 is fine with me.\r\n",
        ),
    )
}

#[test]
fn rfc3502_example_stores_both_with_a_uid_set() {
    let server = TestServer::new();
    server.make_folder("saved-messages");
    let (a, b) = two_messages();
    let mut c = server.inetd();
    c.login();
    let caps = c.send("c0", "CAPABILITY").one("* CAPABILITY ").text.clone();
    assert!(caps.split(' ').any(|w| w == "MULTIAPPEND"), "{caps}");
    // Synchronizing literals, as in the RFC: a `+` for each.
    let r = c.send_parts(
        "A003",
        &[
            Part::Text("APPEND INBOX.saved-messages (\\Seen) "),
            Part::Literal(&a),
            Part::Text(" (\\Seen) \" 1-Aug-2002 22:00:00 -0700\" "),
            Part::Literal(&b),
        ],
    );
    r.assert_ok();
    assert_eq!(r.continuations, 2);
    let code = r.tagged.code().unwrap().to_owned();
    let uidvalidity = {
        let s = c.send("s1", "STATUS INBOX.saved-messages (UIDVALIDITY MESSAGES)");
        let items = status_items(&s);
        assert_eq!(items["MESSAGES"], 2, "{}", s.dump());
        items["UIDVALIDITY"]
    };
    assert_eq!(code, format!("APPENDUID {uidvalidity} 1:2"));
    c.select("INBOX.saved-messages").assert_ok();
    let r = c.send("f1", "FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE)");
    let lines = r.texts("* ");
    assert!(lines[0].contains("\\Seen"), "{}", r.dump());
    // The date given, as the same instant (postern answers in UTC).
    assert!(
        lines[1].contains("INTERNALDATE \"02-Aug-2002 05:00:00 +0000\""),
        "{}",
        r.dump()
    );
    assert!(
        lines[1].contains(&format!("RFC822.SIZE {}", b.len())),
        "{}",
        r.dump()
    );
    // A MULTIAPPEND into the selected mailbox, with LITERAL+: three more, announced
    // together, with a uid-set of three.
    let r = c.send_parts(
        "A004",
        &[
            Part::Text("APPEND INBOX.saved-messages "),
            Part::LiteralPlus(&a),
            Part::Text(" "),
            Part::LiteralPlus(&b),
            Part::Text(" (\\Flagged) "),
            Part::LiteralPlus(&a),
        ],
    );
    r.assert_ok();
    assert_eq!(
        r.tagged.code(),
        Some(format!("APPENDUID {uidvalidity} 3:5").as_str())
    );
    // Announced in the APPEND's own answer or at the next NOOP, as one EXISTS.
    let mut exists = r.exists();
    exists.extend(c.send("n1", "NOOP").exists());
    assert_eq!(exists, [5], "{}", r.dump());
    c.logout();
}

#[test]
fn a_multiappend_over_quota_stores_none() {
    let server = TestServer::new();
    let out = std::process::Command::new(BIN)
        .args(["maildirmake", "-q", "3000S,100C"])
        .arg(&server.maildir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    server.give_homes_to_mail_owner();
    let quota_before = std::fs::read_to_string(server.maildir.join("maildirsize")).unwrap();
    let small = message("a@x", "fits", "small");
    let big = message("a@x", "too big", &"q".repeat(2900));
    // A second session watches the mailbox.
    let (mut watcher, _) = server.session("INBOX");
    let mut c = server.inetd();
    c.login();
    let before = status_items(&c.send("s0", "STATUS INBOX (UIDNEXT MESSAGES)"));
    // The first fits the quota, the second does not: neither is kept (the quota is
    // checked for both before either is stored).
    let r = c.send_parts(
        "A1",
        &[
            Part::Text("APPEND INBOX "),
            Part::LiteralPlus(&small),
            Part::Text(" "),
            Part::LiteralPlus(&big),
        ],
    );
    r.assert_status("NO");
    assert_eq!(r.tagged.code(), Some("OVERQUOTA"), "{}", r.dump());
    let after = status_items(&c.send("s1", "STATUS INBOX (UIDNEXT MESSAGES)"));
    assert_eq!(after["MESSAGES"], 0);
    assert!(after["UIDNEXT"] >= before["UIDNEXT"], "UIDs never go back");
    for sub in ["cur", "new", "tmp"] {
        assert!(
            server.files("INBOX", sub).is_empty(),
            "{sub}: {:?}",
            server.files("INBOX", sub)
        );
    }
    // The quota is charged with nothing: the lines added and taken back sum to zero.
    let sum = |text: &str| -> (i64, i64) {
        text.lines().skip(1).fold((0, 0), |(b, n), l| {
            let mut w = l.split_whitespace().map(|x| x.parse::<i64>().unwrap());
            (b + w.next().unwrap(), n + w.next().unwrap())
        })
    };
    let quota_after = std::fs::read_to_string(server.maildir.join("maildirsize")).unwrap();
    assert_eq!(sum(&quota_after), sum(&quota_before), "{quota_after}");
    // The watching session is told of nothing.
    let r = watcher.send("w1", "NOOP");
    assert!(r.exists().is_empty(), "{}", r.dump());
    // A message that cannot be appended at all (empty) fails the command before any is
    // stored.
    let r = c.send_parts(
        "A2",
        &[
            Part::Text("APPEND INBOX "),
            Part::LiteralPlus(&small),
            Part::Text(" "),
            Part::LiteralPlus(b""),
        ],
    );
    r.assert_status("NO");
    assert_eq!(
        status_items(&c.send("s2", "STATUS INBOX (MESSAGES)"))["MESSAGES"],
        0
    );
    // And an APPEND that fits still works, with a UID after the ones taken back.
    let r = c.send_parts(
        "A3",
        &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&small)],
    );
    r.assert_ok();
    let uid: u64 = r
        .tagged
        .code()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(uid >= after["UIDNEXT"], "{uid} reuses a UID");
    watcher.logout();
    c.logout();
}

#[test]
fn each_message_has_appendlimit_and_all_have_a_total() {
    let server = TestServer::with(&[
        ("limits", "max_append_size", "1000"),
        ("limits", "max_multiappend_size", "2500"),
    ]);
    let mut c = server.inetd();
    c.login();
    let mut m = message("a@x", "s", "");
    m.resize(900, b'x');
    // Two of 900 bytes: each under APPENDLIMIT=1000, 1800 in all: stored.
    let r = c.send_parts(
        "a1",
        &[
            Part::Text("APPEND INBOX "),
            Part::LiteralPlus(&m),
            Part::Text(" "),
            Part::LiteralPlus(&m),
        ],
    );
    r.assert_ok();
    // A third brings the total past 2500: NO [TOOBIG], as a synchronizing literal (no `+`
    // for it) and as LITERAL+ (drained); nothing of either command is stored.
    let r = c.send_parts(
        "a2",
        &[
            Part::Text("APPEND INBOX "),
            Part::Literal(&m),
            Part::Text(" "),
            Part::Literal(&m),
            Part::Text(" "),
            Part::Literal(&m),
        ],
    );
    r.assert_status("NO");
    assert_eq!(r.tagged.code(), Some("TOOBIG"), "{}", r.dump());
    assert_eq!(r.continuations, 2);
    let r = c.send_parts(
        "a3",
        &[
            Part::Text("APPEND INBOX "),
            Part::LiteralPlus(&m),
            Part::Text(" "),
            Part::LiteralPlus(&m),
            Part::Text(" "),
            Part::LiteralPlus(&m),
        ],
    );
    r.assert_status("NO");
    assert_eq!(r.tagged.code(), Some("TOOBIG"), "{}", r.dump());
    let r = c.send("s1", "STATUS INBOX (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 2, "{}", r.dump());
    assert!(server.files("INBOX", "tmp").is_empty());
    c.logout();
}

#[test]
fn literal_minus_sized_nonsync_literals_are_taken_everywhere() {
    // RFC 7888 §5: a LITERAL- client sends `{n+}` only up to 4096 bytes; postern takes
    // LITERAL+ of any size within its limits, so such a client is served as it expects.
    let server = TestServer::new();
    let (mut c, _) = server.session("INBOX");
    let text = "x".repeat(4096);
    let r = c.send_parts(
        "l1",
        &[
            Part::Text("SEARCH BODY "),
            Part::LiteralPlus(text.as_bytes()),
        ],
    );
    r.assert_ok();
    let mut m = message("a@x", "s", "");
    m.resize(4096, b'y');
    let r = c.send_parts("l2", &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)]);
    r.assert_ok();
    c.logout();
}

#[test]
fn undo_append_removes_the_message_and_its_quota_charge() {
    // The path a MULTIAPPEND takes when a later message fails after earlier ones were
    // stored (over IMAP the quota is checked for all first, so only an I/O error gets
    // there): the store's undo, checked directly.
    use postern::store::{AppendSource, Flags, Maildir};
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    std::fs::write(md.root().join("maildirsize"), b"100000S\n").unwrap();
    let a = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"Subject: a\r\n\r\nA\r\n"),
            Flags::SEEN,
            &["Work".into()],
            None,
        )
        .unwrap();
    assert_eq!(a.charged.1, 1);
    md.undo_append("INBOX", &a).unwrap();
    for sub in ["cur", "new", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(md.root().join(sub)).unwrap().collect();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
    let text = std::fs::read_to_string(md.root().join("maildirsize")).unwrap();
    let (bytes, count) = text.lines().skip(1).fold((0i64, 0i64), |(b, n), l| {
        let mut w = l.split_whitespace().map(|x| x.parse::<i64>().unwrap());
        (b + w.next().unwrap(), n + w.next().unwrap())
    });
    assert_eq!((bytes, count), (0, 0), "{text}");
    // The UID is not given again.
    let b = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"Subject: b\r\n\r\nB\r\n"),
            Flags::empty(),
            &[],
            None,
        )
        .unwrap();
    assert!(b.uid > a.uid, "{} after {}", b.uid, a.uid);
    assert_eq!(md.status("INBOX").unwrap().messages, 1);
}
