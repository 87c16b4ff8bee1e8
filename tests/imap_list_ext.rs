//! LIST-EXTENDED (RFC 5258: selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH and
//! SPECIAL-USE, return options SUBSCRIBED, CHILDREN and SPECIAL-USE, several patterns,
//! CHILDINFO) and LIST-STATUS (RFC 5819), against the real binary, with the RFCs'
//! examples in Maildir++ names (`/` is `.`, folders sit below `INBOX.`). Every response
//! is held to imap-codec by `tests/common` (CHILDINFO is on its documented allow-list).
//!
//! `list_extended_matches_dovecot` sends the same LIST-EXTENDED and LIST-STATUS commands to
//! Dovecot 2.3 (the oracle of `tests/dovecot_views.rs`; SKIP when it is not unpacked) and
//! compares the answers: a subscribed parent of a subscribed name also carries CHILDINFO,
//! and RECURSIVEMATCH alone or with REMOTE only, an unknown selection option and an unknown
//! return option are BAD in both.

mod common;

use common::*;

/// The hierarchy of RFC 5258 §5's examples: `Fruit/Peach` is subscribed but does not
/// exist.
fn fruit_server() -> TestServer {
    let server = TestServer::new();
    for f in [
        "Fruit",
        "Fruit.Apple",
        "Fruit.Banana",
        "Tofu",
        "Vegetable",
        "Vegetable.Broccoli",
        "Vegetable.Corn",
    ] {
        server.make_folder(f);
    }
    std::fs::write(
        server.maildir.join("courierimapsubscribed"),
        "INBOX.Fruit.Banana\nINBOX.Fruit.Peach\nINBOX.Vegetable\nINBOX.Vegetable.Broccoli\n",
    )
    .unwrap();
    server.give_homes_to_mail_owner();
    server
}

/// The `* LIST` lines of a reply, as sent, in order.
fn list_lines(r: &Reply) -> Vec<String> {
    r.texts("* LIST ")
}

#[test]
fn subscribed_selection_lists_subscriptions_and_nonexistent_ones() {
    let server = fruit_server();
    let mut c = server.inetd();
    c.login();
    // RFC 5258 §5 example 4 (b).
    let r = c.send("A02", "LIST (SUBSCRIBED) \"\" \"*\"");
    r.assert_ok();
    assert_eq!(
        list_lines(&r),
        [
            "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX.Fruit.Banana",
            "* LIST (\\NonExistent \\Subscribed) \".\" INBOX.Fruit.Peach",
            "* LIST (\\HasChildren \\Subscribed) \".\" INBOX.Vegetable",
            "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX.Vegetable.Broccoli",
        ],
        "{}",
        r.dump()
    );
    // RFC 5258 §5 example 4 (c): RETURN (SUBSCRIBED) marks, but lists every name.
    let r = c.send("A03", "LIST () \"INBOX.\" \"%\" RETURN (SUBSCRIBED)");
    r.assert_ok();
    assert_eq!(
        list_lines(&r),
        [
            "* LIST (\\HasChildren) \".\" INBOX.Fruit",
            "* LIST (\\HasNoChildren) \".\" INBOX.Tofu",
            "* LIST (\\HasChildren \\Subscribed) \".\" INBOX.Vegetable",
        ],
        "{}",
        r.dump()
    );
    // REMOTE changes nothing here: there are no remote mailboxes (RFC 5258 §3.1).
    let plain = c.send("A04", "LIST \"\" \"*\"");
    let remote = c.send("A05", "LIST (REMOTE) \"\" \"*\"");
    remote.assert_ok();
    assert_eq!(list_lines(&plain), list_lines(&remote));
    c.logout();
}

#[test]
fn recursivematch_returns_parents_with_childinfo() {
    let server = fruit_server();
    // A subscription whose parent does not exist either.
    std::fs::write(
        server.maildir.join("courierimapsubscribed"),
        "INBOX.Fruit.Banana\nINBOX.Fruit.Peach\nINBOX.Vegetable\nINBOX.Vegetable.Broccoli\n\
         INBOX.Foo.Bar\n",
    )
    .unwrap();
    server.give_homes_to_mail_owner();
    let mut c = server.inetd();
    c.login();
    // RFC 5258 §5 example 5, the second and third commands.
    let r = c.send(
        "A04",
        "LIST (SUBSCRIBED RECURSIVEMATCH) \"INBOX.\" \"%\" RETURN (CHILDREN)",
    );
    r.assert_ok();
    assert_eq!(
        list_lines(&r),
        [
            "* LIST (\\NonExistent) \".\" INBOX.Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasChildren) \".\" INBOX.Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasChildren \\Subscribed) \".\" INBOX.Vegetable (\"CHILDINFO\" (\"SUBSCRIBED\"))",
        ],
        "{}",
        r.dump()
    );
    let r = c.send("A05", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"INBOX.F%\"");
    r.assert_ok();
    assert_eq!(
        list_lines(&r),
        [
            "* LIST (\\NonExistent) \".\" INBOX.Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasChildren) \".\" INBOX.Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))",
        ],
        "{}",
        r.dump()
    );
    // A name the pattern reaches itself needs no CHILDINFO below it.
    let r = c.send(
        "A06",
        "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"INBOX.Fruit.%\"",
    );
    r.assert_ok();
    assert_eq!(
        list_lines(&r),
        [
            "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX.Fruit.Banana",
            "* LIST (\\NonExistent \\Subscribed) \".\" INBOX.Fruit.Peach",
        ],
        "{}",
        r.dump()
    );
    // Without RECURSIVEMATCH, `%` stops at names that are not subscribed.
    let r = c.send("A07", "LIST (SUBSCRIBED) \"INBOX.\" \"%\"");
    assert_eq!(
        list_lines(&r),
        ["* LIST (\\HasChildren \\Subscribed) \".\" INBOX.Vegetable"],
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn unknown_and_incomplete_options_are_bad() {
    let server = fruit_server();
    let mut c = server.inetd();
    c.login();
    for (tag, cmd) in [
        // RFC 5258 §3: RECURSIVEMATCH alone, or with REMOTE only.
        ("b1", "LIST (RECURSIVEMATCH) \"\" \"*\""),
        ("b2", "LIST (REMOTE RECURSIVEMATCH) \"\" \"*\""),
        // An unknown selection option, and an unknown return option.
        ("b3", "LIST (FOO) \"\" \"*\""),
        ("b4", "LIST () \"\" \"*\" RETURN (FOO)"),
        ("b5", "LIST (SUBSCRIBED FOO) \"\" \"*\""),
        // STATUS items STATUS does not know.
        ("b6", "LIST \"\" \"*\" RETURN (STATUS (FOO))"),
    ] {
        let r = c.send(tag, cmd);
        r.assert_status("BAD");
        assert!(list_lines(&r).is_empty(), "{cmd}: {}", r.dump());
    }
    // Courier's own options stay accepted (tests/acl_courier.rs checks their data).
    let r = c.send("c1", "LIST (ACL MYRIGHTS POSTADDRESS) \"\" \"INBOX\"");
    r.assert_ok();
    assert!(r.has("(\"MYRIGHTS\" \""), "{}", r.dump());
    // And the session goes on.
    c.send("d1", "NOOP").assert_ok();
    c.logout();
}

#[test]
fn several_patterns_list_each_name_once() {
    let server = fruit_server();
    let mut c = server.inetd();
    c.login();
    // RFC 5258 §5 example 7's form, overlapping patterns: each name once, in order.
    let r = c.send(
        "A01",
        "LIST \"\" (\"INBOX\" \"INBOX.Tofu\" \"INBOX.Vegetable.%\" \"INBOX.Veg*\")",
    );
    r.assert_ok();
    assert_eq!(
        list_names(&r, "LIST"),
        [
            "INBOX",
            "INBOX.Tofu",
            "INBOX.Vegetable",
            "INBOX.Vegetable.Broccoli",
            "INBOX.Vegetable.Corn",
        ],
        "{}",
        r.dump()
    );
    assert_eq!(list_lines(&r).len(), 5, "{}", r.dump());
    // With a reference, each pattern is taken relative to it.
    let r = c.send(
        "A02",
        "LIST \"INBOX.Fruit.\" (\"Apple\" \"Banana\" \"Cherry\")",
    );
    r.assert_ok();
    assert_eq!(
        list_names(&r, "LIST"),
        ["INBOX.Fruit.Apple", "INBOX.Fruit.Banana"],
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn special_use_selection_and_return() {
    let server = TestServer::new();
    for f in ["Sent", "Drafts", "Trash", "Work"] {
        server.make_folder(f);
    }
    let mut c = server.inetd();
    c.login();
    // RFC 6154 §5.1 and §5.2.
    let r = c.send("t1", "LIST \"\" \"INBOX.%\" RETURN (SPECIAL-USE)");
    r.assert_ok();
    assert_eq!(
        list_lines(&r),
        [
            "* LIST (\\HasNoChildren \\Drafts) \".\" INBOX.Drafts",
            "* LIST (\\HasNoChildren \\Sent) \".\" INBOX.Sent",
            "* LIST (\\HasNoChildren \\Trash) \".\" INBOX.Trash",
            "* LIST (\\HasNoChildren) \".\" INBOX.Work",
        ],
        "{}",
        r.dump()
    );
    let r = c.send("t2", "LIST (SPECIAL-USE) \"\" \"*\"");
    r.assert_ok();
    assert_eq!(
        list_names(&r, "LIST"),
        ["INBOX.Drafts", "INBOX.Sent", "INBOX.Trash"],
        "{}",
        r.dump()
    );
    // With RECURSIVEMATCH, SPECIAL-USE is a selection it may refine: accepted.
    c.send("t3", "LIST (SPECIAL-USE RECURSIVEMATCH) \"\" \"*\"")
        .assert_ok();
    c.logout();
}

#[test]
fn list_status_follows_each_selectable_name() {
    let server = TestServer::new();
    server.make_folder("Sent");
    // `.Lists.Rust` without `.Lists`: INBOX.Lists is a \Noselect parent.
    let rust = server.maildir.join(".Lists.Rust");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(rust.join(sub)).unwrap();
    }
    std::fs::write(rust.join("maildirfolder"), "").unwrap();
    server.put("INBOX", "cur", "1000.a", "S", &message("a@x", "one", "1"));
    server.put("INBOX", "cur", "1001.b", "", &message("a@x", "two", "2"));
    server.put(
        "INBOX.Sent",
        "cur",
        "1002.c",
        "S",
        &message("a@x", "three", "3"),
    );
    server.put(
        "INBOX.Lists.Rust",
        "new",
        "1003.d",
        "",
        &message("a@x", "four", "4"),
    );
    std::fs::write(
        server.maildir.join("courierimapsubscribed"),
        "INBOX.Sent\nINBOX.Gone\n",
    )
    .unwrap();
    server.give_homes_to_mail_owner();
    let mut c = server.inetd();
    c.login();
    // RFC 5819 §3's example, in Maildir++ names.
    let r = c.send("A01", "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UNSEEN))");
    r.assert_ok();
    let lines: Vec<String> = r.untagged.iter().map(|l| l.text.clone()).collect();
    assert_eq!(
        lines,
        [
            "* LIST (\\HasChildren) \".\" INBOX",
            "* STATUS INBOX (MESSAGES 2 UNSEEN 1)",
            "* LIST (\\Noselect \\HasChildren) \".\" INBOX.Lists",
            "* LIST (\\HasNoChildren) \".\" INBOX.Lists.Rust",
            "* STATUS INBOX.Lists.Rust (MESSAGES 1 UNSEEN 1)",
            "* LIST (\\HasNoChildren \\Sent) \".\" INBOX.Sent",
            "* STATUS INBOX.Sent (MESSAGES 1 UNSEEN 0)",
        ],
        "{}",
        r.dump()
    );
    // With SUBSCRIBED: no STATUS for a \NonExistent name.
    let r = c.send(
        "A02",
        "LIST (SUBSCRIBED) \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY RECENT))",
    );
    r.assert_ok();
    let statuses = r.texts("* STATUS ");
    assert_eq!(statuses.len(), 1, "{}", r.dump());
    assert!(
        statuses[0].starts_with("* STATUS INBOX.Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "),
        "{}",
        r.dump()
    );
    assert!(
        r.has("* LIST (\\NonExistent \\Subscribed) \".\" INBOX.Gone"),
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn capabilities_name_list_extended_and_list_status() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    let r = c.send("c1", "CAPABILITY");
    let caps = r.one("* CAPABILITY ").text.clone();
    for cap in ["LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CHILDREN"] {
        assert!(caps.split(' ').any(|w| w == cap), "{cap}: {caps}");
    }
    c.logout();
}

/// `msg` with every line end made a bare LF, as a delivery agent may leave it on disk.
fn lf(msg: &[u8]) -> Vec<u8> {
    String::from_utf8(msg.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes()
}

#[test]
fn status_size_and_deleted_from_names_and_size_cache() {
    let server = TestServer::new();
    let a = lf(&message("a@x", "one", "first\nline\n"));
    let b = lf(&message("a@x", "two", "second"));
    let wire = |m: &[u8]| (m.len() + m.iter().filter(|&&c| c == b'\n').count()) as u64;
    server.put("INBOX", "cur", "1000.a", "S", &a);
    server.put("INBOX", "new", "1001.b", "", &b);
    // A name with `,W=`: its size is taken from the name, the file is not read.
    server.put("INBOX", "cur", "1002.c,W=5000", "ST", b"tiny\n");
    server.put("INBOX", "cur", "1003.d", "T", &a);
    server.give_homes_to_mail_owner();
    let expected = wire(&a) + wire(&b) + 5000 + wire(&a);
    let mut c = server.inetd();
    c.login();
    let caps = c.send("c0", "CAPABILITY").one("* CAPABILITY ").text.clone();
    assert!(caps.contains(" STATUS=SIZE"), "{caps}");
    // RFC 8438 §3's example form.
    let r = c.send("A1", "STATUS INBOX (MESSAGES SIZE DELETED)");
    r.assert_ok();
    let items = status_items(&r);
    assert_eq!(items["MESSAGES"], 4, "{}", r.dump());
    assert_eq!(items["SIZE"], expected, "{}", r.dump());
    assert_eq!(items["DELETED"], 2, "{}", r.dump());
    // Warm: the first STATUS SIZE put the sizes in the cache; a message file that changed behind the
    // server's back (which never happens to a Maildir message) is not read again.
    let cur = server.folder_dir("INBOX").join("cur");
    let a_file = std::fs::read_dir(&cur)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("1000.a"))
        .unwrap()
        .path();
    std::fs::write(&a_file, [a.as_slice(), b"more bytes\n".as_slice()].concat()).unwrap();
    let r = c.send("A4", "STATUS INBOX (SIZE)");
    assert_eq!(status_items(&r)["SIZE"], expected, "{}", r.dump());
    // SIZE is what FETCH RFC822.SIZE sums to.
    c.select("INBOX").assert_ok();
    let r = c.send("A2", "FETCH 1:* RFC822.SIZE");
    let sum: u64 = r
        .texts("* ")
        .iter()
        .map(|t| {
            t.rsplit(' ')
                .next()
                .unwrap()
                .trim_end_matches(')')
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(sum, expected, "{}", r.dump());
    c.send("A3", "UNSELECT").assert_ok();
    // An APPEND adds its literal's size.
    let m = message("b@x", "three", "third");
    let r = c.send_parts("A5", &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)]);
    r.assert_ok();
    let r = c.send("A6", "STATUS INBOX (SIZE DELETED)");
    assert_eq!(
        status_items(&r)["SIZE"],
        expected + m.len() as u64,
        "{}",
        r.dump()
    );
    assert_eq!(status_items(&r)["DELETED"], 2, "{}", r.dump());
    // And in LIST-STATUS.
    let r = c.send("A7", "LIST \"\" INBOX RETURN (STATUS (SIZE))");
    r.assert_ok();
    assert_eq!(
        r.texts("* STATUS "),
        [format!(
            "* STATUS INBOX (SIZE {})",
            expected + m.len() as u64
        )],
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn appendlimit_is_max_append_size() {
    let server = TestServer::with(&[("limits", "max_append_size", "1000")]);
    server.make_folder("Sent");
    let mut c = server.inetd();
    c.login();
    let caps = c.send("c0", "CAPABILITY").one("* CAPABILITY ").text.clone();
    assert!(caps.split(' ').any(|w| w == "APPENDLIMIT=1000"), "{caps}");
    // RFC 7889 §3: STATUS APPENDLIMIT per mailbox, the same limit everywhere here.
    for mailbox in ["INBOX", "INBOX.Sent"] {
        let r = c.send("s1", &format!("STATUS {mailbox} (APPENDLIMIT)"));
        r.assert_ok();
        assert_eq!(status_items(&r)["APPENDLIMIT"], 1000, "{}", r.dump());
    }
    // A message of exactly the limit goes in; one byte more is NO [TOOBIG] (RFC 7889 §4),
    // as a synchronizing literal (no `+ ` sent) and as LITERAL+ (drained).
    let mut m = message("a@x", "s", "");
    m.resize(1000, b'x');
    c.send_parts("a1", &[Part::Text("APPEND INBOX "), Part::Literal(&m)])
        .assert_ok();
    m.push(b'x');
    let r = c.send_parts("a2", &[Part::Text("APPEND INBOX "), Part::Literal(&m)]);
    r.assert_status("NO");
    assert_eq!(r.tagged.code(), Some("TOOBIG"), "{}", r.dump());
    assert_eq!(r.continuations, 0);
    let r = c.send_parts("a3", &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)]);
    r.assert_status("NO");
    assert_eq!(r.tagged.code(), Some("TOOBIG"), "{}", r.dump());
    let r = c.send("a4", "STATUS INBOX (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 1, "{}", r.dump());
    c.logout();
}

#[test]
fn create_special_use_is_kept_with_the_folder() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    let caps = c.send("c0", "CAPABILITY").one("* CAPABILITY ").text.clone();
    assert!(caps.split(' ').any(|w| w == "CREATE-SPECIAL-USE"), "{caps}");
    // RFC 6154 §5.3's example, below INBOX.
    c.send("t1", "CREATE INBOX.MySpecial (USE (\\Drafts \\Sent))")
        .assert_ok();
    let r = c.send("t2", "LIST \"\" INBOX.MySpecial");
    assert_eq!(
        list_lines(&r),
        ["* LIST (\\HasNoChildren \\Drafts \\Sent) \".\" INBOX.MySpecial"],
        "{}",
        r.dump()
    );
    let r = c.send("t3", "LIST (SPECIAL-USE) \"\" \"*\"");
    assert_eq!(list_names(&r, "LIST"), ["INBOX.MySpecial"], "{}", r.dump());
    // The use travels with the folder (RENAME) and goes with it (DELETE).
    c.send("t4", "RENAME INBOX.MySpecial INBOX.Renamed")
        .assert_ok();
    let r = c.send("t5", "LIST \"\" \"INBOX.%\" RETURN (SPECIAL-USE)");
    assert_eq!(
        list_lines(&r),
        ["* LIST (\\HasNoChildren \\Drafts \\Sent) \".\" INBOX.Renamed"],
        "{}",
        r.dump()
    );
    c.send("t6", "DELETE INBOX.Renamed").assert_ok();
    c.send("t7", "CREATE INBOX.Renamed").assert_ok();
    let r = c.send("t8", "LIST \"\" INBOX.Renamed");
    assert_eq!(
        list_lines(&r),
        ["* LIST (\\HasNoChildren) \".\" INBOX.Renamed"],
        "{}",
        r.dump()
    );
    // A use postern cannot give: NO [USEATTR], and no folder (RFC 6154 §3).
    let r = c.send("u1", "CREATE INBOX.Everything (USE (\\All))");
    r.assert_status("NO");
    assert_eq!(r.tagged.code(), Some("USEATTR"), "{}", r.dump());
    let r = c.send("u2", "CREATE INBOX.Odd (USE (\\Sent \\Whatever))");
    r.assert_status("NO");
    let r = c.send("u3", "LIST \"\" \"INBOX.*\"");
    assert_eq!(list_names(&r, "LIST"), ["INBOX.Renamed"], "{}", r.dump());
    // An empty USE list is a plain CREATE; an unknown CREATE parameter is BAD.
    c.send("v1", "CREATE INBOX.Plain (USE ())").assert_ok();
    c.send("v2", "CREATE INBOX.Other (FOO)")
        .assert_status("BAD");
    // Courier ignores the file: the folder is still a plain Maildir++ folder.
    assert!(server.folder_dir("INBOX.Plain").join("cur").is_dir());
    c.logout();
}

// ---------------------------------------------------------------------------------------
// Differential: the same LIST-EXTENDED and LIST-STATUS commands against Dovecot 2.3 (the
// oracle of tests/dovecot_views.rs, unpacked by tests/dovecot/fetch-dovecot.sh).

#[path = "dovecot/oracle.rs"]
mod dovecot_oracle;

/// Dovecot's `imap` as a PREAUTH session on pipes, on a Maildir in `home`; `None` (with
/// `SKIP:` on stderr) when it is not unpacked or does not run here.
fn dovecot(home: &std::path::Path) -> Option<Client> {
    let oracle = dovecot_oracle::Dovecot::find()?;
    Some(Client::spawn(oracle.command(home), false))
}

/// A reply as comparable entries: each LIST line (name without `INBOX.`, CHILDINFO's tag
/// unquoted, the children attributes dropped unless `children`) with the STATUS line that
/// follows it; INBOX itself left out (postern lists it outside `INBOX.*`).
fn comparable(r: &Reply, prefix: &str, children: bool) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut current: Option<String> = None;
    for l in &r.untagged {
        let text = l.text.replace("\"CHILDINFO\"", "CHILDINFO");
        if let Some(rest) = text.strip_prefix("* LIST (") {
            if let Some(c) = current.take() {
                out.insert(c);
            }
            let (attrs, rest) = rest.split_once(") ").unwrap();
            let mut attrs: Vec<&str> = attrs
                .split_whitespace()
                .filter(|a| {
                    children || !a.starts_with("\\HasChildren") && !a.starts_with("\\HasNoChildren")
                })
                .collect();
            attrs.sort();
            let rest = rest.replacen(&format!(" {prefix}"), " ", 1);
            if rest.trim_end() == "\".\" INBOX" {
                continue;
            }
            current = Some(format!("LIST ({}) {rest}", attrs.join(" ")));
        } else if let Some(rest) = text.strip_prefix("* STATUS ")
            && let Some(c) = current.as_mut()
        {
            c.push_str(" / STATUS ");
            c.push_str(rest.strip_prefix(prefix).unwrap_or(rest));
        }
    }
    out.extend(current);
    out
}

#[test]
fn list_extended_matches_dovecot() {
    let home = tempfile::tempdir().unwrap();
    let Some(mut dove) = dovecot(home.path()) else {
        return;
    };
    let server = TestServer::new();
    let mut ours = server.inetd();
    ours.login();
    let folders = [
        "Fruit",
        "Fruit.Apple",
        "Fruit.Banana",
        "Tofu",
        "Vegetable",
        "Vegetable.Broccoli",
        "Vegetable.Corn",
    ];
    for (c, prefix) in [(&mut ours, "INBOX."), (&mut dove, "")] {
        for f in folders {
            c.send("c", &format!("CREATE {prefix}{f}")).assert_ok();
        }
        for f in ["Fruit.Banana", "Vegetable", "Vegetable.Broccoli"] {
            c.send("s", &format!("SUBSCRIBE {prefix}{f}")).assert_ok();
        }
        for (f, flags) in [
            ("Fruit", "(\\Seen)"),
            ("Fruit", "()"),
            ("Vegetable.Corn", "()"),
        ] {
            let m = message("a@x", f, "body\r\n");
            c.send_parts(
                "a",
                &[
                    Part::Text(&format!("APPEND {prefix}{f} {flags} ")),
                    Part::Literal(&m),
                ],
            )
            .assert_ok();
        }
    }
    let commands = [
        ("LIST (SUBSCRIBED) {ref} \"*\"", false),
        (
            "LIST (SUBSCRIBED RECURSIVEMATCH) {ref} \"%\" RETURN (CHILDREN)",
            true,
        ),
        ("LIST (SUBSCRIBED RECURSIVEMATCH) {ref} \"%\"", false),
        ("LIST (SUBSCRIBED RECURSIVEMATCH) {ref} \"F%\"", false),
        ("LIST {ref} \"%\" RETURN (SUBSCRIBED CHILDREN)", true),
        (
            "LIST {ref} \"*\" RETURN (STATUS (MESSAGES UNSEEN SIZE))",
            false,
        ),
        (
            "LIST (SUBSCRIBED) {ref} \"*\" RETURN (STATUS (MESSAGES))",
            false,
        ),
        ("LIST {ref} (\"Fruit\" \"Veg*\")", false),
        ("LIST (REMOTE) {ref} \"%\"", false),
    ];
    for (template, children) in commands {
        let mine = ours.send("l", &template.replace("{ref}", "\"INBOX.\""));
        let theirs = dove.send("l", &template.replace("{ref}", "\"\""));
        assert_eq!(mine.status(), theirs.status(), "{template}");
        assert!(
            !comparable(&mine, "INBOX.", children).is_empty(),
            "{template}: {}",
            mine.dump()
        );
        assert_eq!(
            comparable(&mine, "INBOX.", children),
            comparable(&theirs, "", children),
            "{template}\npostern:\n{}\nDovecot:\n{}",
            mine.dump(),
            theirs.dump()
        );
    }
    for template in [
        "LIST (RECURSIVEMATCH) {ref} \"*\"",
        "LIST (REMOTE RECURSIVEMATCH) {ref} \"*\"",
        "LIST (FOO) {ref} \"*\"",
        "LIST () {ref} \"*\" RETURN (FOO)",
    ] {
        let mine = ours.send("b", &template.replace("{ref}", "\"INBOX.\""));
        let theirs = dove.send("b", &template.replace("{ref}", "\"\""));
        assert_eq!(mine.status(), "BAD", "{template}");
        assert_eq!(theirs.status(), "BAD", "{template}");
    }
    ours.logout();
}
