//! Keywords are announced before they are used (issue 12, item 3): whenever a keyword
//! appears in the selected folder — a STORE by this or another session, APPEND or COPY
//! with keywords, Courier's `courierimapkeywords/` — the session sends `* FLAGS (...)` and
//! `* OK [PERMANENTFLAGS (... \*)]` with it before any `* n FETCH (FLAGS (...))` that
//! shows it (RFC 3501 §7.2.6). `NIL` is a keyword like any other atom.

mod common;

use common::*;

/// Follows what a session was told, in order, and fails on a FETCH that shows a keyword
/// not announced in FLAGS and PERMANENTFLAGS before it.
#[derive(Default)]
struct Announcements {
    flags: Vec<String>,
    permanent: Vec<String>,
}

impl Announcements {
    /// Takes the untagged responses of `reply` in order.
    #[track_caller]
    fn follow(&mut self, reply: &Reply) {
        for line in &reply.untagged {
            self.line(line, &reply.dump());
        }
    }

    #[track_caller]
    fn line(&mut self, line: &Line, context: &str) {
        if let Some(f) = flag_list(&line.text, "* FLAGS (") {
            self.flags = f;
        } else if let Some(f) = flag_list(&line.text, "[PERMANENTFLAGS (") {
            self.permanent = f;
        } else if line.text.contains(" FETCH ")
            && let Some(flags) = line.flags()
        {
            for f in flags.iter().filter(|f| !f.starts_with('\\')) {
                let f = f.to_ascii_lowercase();
                assert!(
                    self.flags.contains(&f),
                    "keyword {f} in a FETCH before FLAGS announced it:\n{context}"
                );
                assert!(
                    self.permanent.contains(&f) && self.permanent.iter().any(|p| p == "\\*"),
                    "keyword {f} in a FETCH before PERMANENTFLAGS (... {f} \\*):\n{context}"
                );
            }
        }
    }

    fn knows(&self, keyword: &str) -> bool {
        self.flags.contains(&keyword.to_ascii_lowercase())
    }
}

fn msg(n: u32) -> Vec<u8> {
    message("bob@example.org", &format!("m{n}"), "x\r\n")
}

/// A session on INBOX (over `serve`) with its SELECT followed.
fn open(server: &mut TestServer, mailbox: &str) -> (Client, Announcements) {
    let mut c = server.connect();
    c.login();
    let r = c.select(mailbox);
    let mut seen = Announcements::default();
    seen.follow(&r);
    (c, seen)
}

/// Index of the first untagged line containing `needle`.
fn position(reply: &Reply, needle: &str) -> Option<usize> {
    reply.untagged.iter().position(|l| l.text.contains(needle))
}

#[test]
fn another_sessions_keyword_is_announced_before_its_fetch_at_noop() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    let (mut a, mut seen_a) = open(&mut server, "INBOX");
    let (mut b, mut seen_b) = open(&mut server, "INBOX");
    assert!(!seen_a.knows("$Fresh"));

    let r = b.send("b1", "STORE 2 +FLAGS ($Fresh)");
    r.assert_ok();
    seen_b.follow(&r);

    let r = a.send("a1", "NOOP");
    r.assert_ok();
    seen_a.follow(&r);
    let flags_at = position(&r, "* FLAGS (").expect("no FLAGS at NOOP");
    let fetch_at = position(&r, "* 2 FETCH").expect("no FETCH at NOOP");
    assert!(flags_at < fetch_at, "{}", r.dump());
    assert!(seen_a.knows("$Fresh"), "{}", r.dump());
    // Once is enough.
    let r = b.send("b2", "STORE 1 +FLAGS ($Fresh)");
    r.assert_ok();
    let r = a.send("a2", "NOOP");
    seen_a.follow(&r);
    assert!(position(&r, "* FLAGS (").is_none(), "{}", r.dump());
    a.logout();
    b.logout();
}

#[test]
fn keyword_is_announced_before_its_fetch_during_idle() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    let (mut a, mut seen_a) = open(&mut server, "INBOX");
    let (mut b, _) = open(&mut server, "INBOX");
    a.write(b"i1 IDLE\r\n");
    assert!(a.expect_response().is_continuation());
    b.send("b1", "STORE 1 +FLAGS (Idled)").assert_ok();
    let mut lines = Vec::new();
    loop {
        let l = a.expect_response();
        let done = l.text.contains(" FETCH ");
        lines.push(l);
        if done {
            break;
        }
    }
    let context: Vec<String> = lines.iter().map(|l| l.text.clone()).collect();
    for l in &lines {
        seen_a.line(l, &context.join("\n"));
    }
    assert!(seen_a.knows("Idled"), "{context:?}");
    a.write(b"DONE\r\n");
    a.read_reply("i1", 0).assert_ok();
    a.logout();
    b.logout();
}

#[test]
fn store_announces_its_own_keyword_even_when_silent() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    let (mut a, mut seen) = open(&mut server, "INBOX");
    let r = a.send("a1", "STORE 1 +FLAGS.SILENT (Quiet)");
    r.assert_ok();
    seen.follow(&r);
    assert!(seen.knows("Quiet"), "{}", r.dump());
    let r = a.send("a2", "STORE 1 +FLAGS (Loud)");
    r.assert_ok();
    seen.follow(&r);
    assert!(
        position(&r, "* FLAGS (").unwrap() < position(&r, "* 1 FETCH").unwrap(),
        "{}",
        r.dump()
    );
    let r = a.send("a3", "FETCH 1 FLAGS");
    seen.follow(&r);
    let flags = r.fetch(1).flags().unwrap();
    assert!(flags.contains(&"Quiet".into()) && flags.contains(&"Loud".into()));
    a.logout();
}

#[test]
fn nil_is_a_keyword() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    let (mut a, mut seen) = open(&mut server, "INBOX");
    let r = a.send("a1", "STORE 1 +FLAGS (NIL)");
    r.assert_ok();
    seen.follow(&r);
    assert!(seen.knows("NIL"), "{}", r.dump());
    assert!(r.fetch(1).flags().unwrap().contains(&"NIL".into()));
    a.logout();
    // A later session sees it at SELECT, in FLAGS and in the message's flags.
    let (mut c, mut seen) = open(&mut server, "INBOX");
    assert!(seen.knows("NIL"));
    let r = c.send("c1", "FETCH 1 FLAGS");
    seen.follow(&r);
    assert!(r.fetch(1).flags().unwrap().contains(&"NIL".into()));
    let r = c.send("c2", "STORE 1 -FLAGS (NIL)");
    r.assert_ok();
    assert!(!r.fetch(1).flags().unwrap().contains(&"NIL".into()));
    c.logout();
}

#[test]
fn append_with_keywords_is_announced_before_fetch() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    let (mut a, mut seen_a) = open(&mut server, "INBOX");
    let (mut b, _) = open(&mut server, "INBOX");
    // By this session, into the selected folder.
    let m = msg(2);
    let r = a.send_parts(
        "a1",
        &[Part::Text("APPEND INBOX (\\Seen Mine) "), Part::Literal(&m)],
    );
    r.assert_ok();
    seen_a.follow(&r);
    assert!(seen_a.knows("Mine"), "{}", r.dump());
    let r = a.send("a2", "FETCH 2 FLAGS");
    seen_a.follow(&r);
    // By another session.
    let m3 = msg(3);
    let r = b.send_parts(
        "b1",
        &[Part::Text("APPEND INBOX (Theirs) "), Part::Literal(&m3)],
    );
    r.assert_ok();
    let r = a.send("a3", "NOOP");
    seen_a.follow(&r);
    assert!(seen_a.knows("Theirs"), "{}", r.dump());
    let r = a.send("a4", "FETCH 1:* FLAGS");
    seen_a.follow(&r);
    assert!(r.fetch(3).flags().unwrap().contains(&"Theirs".into()));
    a.logout();
    b.logout();
}

#[test]
fn copy_into_the_selected_folder_announces_its_keywords() {
    let mut server = TestServer::new();
    server.make_folder("Other");
    server.deliver(None, &msg(1));
    server.deliver(Some("Other"), &msg(2));
    let (mut a, mut seen_a) = open(&mut server, "INBOX");
    let (mut b, _) = open(&mut server, "INBOX.Other");
    b.send("b1", "STORE 1 +FLAGS ($FromOther)").assert_ok();
    let r = b.send("b2", "COPY 1 INBOX");
    r.assert_ok();
    let r = a.send("a1", "NOOP");
    seen_a.follow(&r);
    assert_eq!(r.exists(), [2], "{}", r.dump());
    assert!(seen_a.knows("$FromOther"), "{}", r.dump());
    let r = a.send("a2", "FETCH 2 FLAGS");
    seen_a.follow(&r);
    assert!(r.fetch(2).flags().unwrap().contains(&"$FromOther".into()));
    // And this session copying within its own folder.
    b.send("b3", "STORE 1 +FLAGS (Second)").assert_ok();
    b.send("b4", "CLOSE").assert_ok();
    let r = a.send("a3", "COPY 2 INBOX");
    r.assert_ok();
    seen_a.follow(&r);
    let r = a.send("a4", "FETCH 1:* FLAGS");
    seen_a.follow(&r);
    a.logout();
    b.logout();
}

#[test]
fn courier_keyword_file_is_announced_before_fetch() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    let (mut a, mut seen_a) = open(&mut server, "INBOX");
    // As Courier (or another postern process) records a keyword change: a file named
    // after the message's basename holding its whole keyword set.
    let name = server.files("INBOX", "cur").pop().unwrap();
    let basename = name.split(':').next().unwrap();
    let dir = server.maildir.join("courierimapkeywords");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(basename), "$CourierSet\n").unwrap();
    server.give_homes_to_mail_owner();
    let r = a.send("a1", "NOOP");
    seen_a.follow(&r);
    assert!(seen_a.knows("$CourierSet"), "{}", r.dump());
    assert!(
        position(&r, "* FLAGS (").unwrap() < position(&r, "* 1 FETCH").unwrap(),
        "{}",
        r.dump()
    );
    a.logout();
}

#[test]
fn examine_announces_new_keywords_with_empty_permanentflags() {
    let mut server = TestServer::new();
    server.deliver(None, &msg(1));
    let mut a = server.connect();
    a.login();
    a.send("a1", "EXAMINE INBOX").assert_ok();
    let (mut b, _) = open(&mut server, "INBOX");
    b.send("b1", "STORE 1 +FLAGS (Looked)").assert_ok();
    let r = a.send("a2", "NOOP");
    let flags_at = position(&r, "* FLAGS (").expect("no FLAGS at NOOP");
    assert!(r.untagged[flags_at].text.contains("Looked"), "{}", r.dump());
    // Nothing is permanent in a read-only view (RFC 3501 §6.3.2).
    assert!(r.has("[PERMANENTFLAGS ()]"), "{}", r.dump());
    assert!(
        flags_at < position(&r, "* 1 FETCH").unwrap(),
        "{}",
        r.dump()
    );
    a.logout();
    b.logout();
}
