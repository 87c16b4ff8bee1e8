//! LIST and LSUB patterns over the whole `list-char` alphabet of RFC 3501 §9, LSUB's
//! `\Noselect` parents under `%` (RFC 3501 §6.3.9), and FETCH items named twice (each
//! appears once per response), against the real binary.

mod common;

use std::process::Command;

use common::*;

/// Every `list-char` that is not a letter (RFC 3501 §9: ATOM-CHAR, which has `[` and `}`,
/// list-wildcards and resp-specials), as the issue's client sent it.
const EVERY_LIST_CHAR: &str = "!#$&'+,-.0123456789:;<=>?@^_`|[}%*";

fn names(reply: &Reply, kind: &str) -> Vec<String> {
    list_entries(reply, kind)
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[test]
fn list_accepts_every_list_char() {
    let server = TestServer::new();
    server.make_folder("a");
    let mut c = server.inetd();
    c.login();
    // Unquoted: every list-char; nothing is named like that, so OK with no entry.
    let r = c.send("a1", &format!("LIST \"\" {EVERY_LIST_CHAR}"));
    r.assert_ok();
    assert!(names(&r, "LIST").is_empty(), "{}", r.dump());
    let r = c.send("a2", &format!("LSUB \"\" {EVERY_LIST_CHAR}"));
    r.assert_ok();
    // resp-specials and ATOM-CHARs a lazy parser misses, alone and with wildcards.
    for (tag, pattern) in [
        ("b1", "INBOX.a]"),
        ("b2", "INBOX.[a}"),
        ("b3", "]%"),
        ("b4", "*]*"),
        ("b5", "&-"),
        ("b6", "INBOX.%&'+,"),
    ] {
        let r = c.send(tag, &format!("LIST \"\" {pattern}"));
        r.assert_ok();
        assert!(names(&r, "LIST").is_empty(), "{pattern}: {}", r.dump());
    }
    // Quoted, with the quoted specials escaped: OK too.
    let r = c.send("c1", r#"LIST "" "INBOX.\"a\\b%""#);
    r.assert_ok();
    let r = c.send("c2", &format!("LIST \"\" \"{EVERY_LIST_CHAR}\""));
    r.assert_ok();
    // And what matches is still listed.
    let r = c.send("d1", "LIST \"\" INBOX.%");
    r.assert_ok();
    assert_eq!(names(&r, "LIST"), ["INBOX.a"], "{}", r.dump());
    let r = c.send("d2", "LIST \"\" \"INBOX.[a}%\"");
    r.assert_ok();
    c.logout();
}

#[test]
fn list_matches_names_with_list_chars() {
    let server = TestServer::new();
    server.make_folder("x[1}");
    server.make_folder("y]");
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "LIST \"\" INBOX.x[%");
    r.assert_ok();
    assert_eq!(names(&r, "LIST"), ["INBOX.x[1}"], "{}", r.dump());
    let r = c.send("a2", "LIST \"\" *]");
    r.assert_ok();
    assert_eq!(names(&r, "LIST"), ["INBOX.y]"], "{}", r.dump());
    c.logout();
}

#[test]
fn lsub_percent_returns_unsubscribed_parents_as_noselect() {
    let server = TestServer::new();
    for f in [
        "foo",
        "foo.bar",
        "foo.baz",
        "sub",
        "sub.child",
        "deep.er.still",
    ] {
        server.make_folder(f);
    }
    let mut c = server.inetd();
    c.login();
    for name in [
        "INBOX.foo.bar",
        "INBOX.foo.baz",
        "INBOX.sub",
        "INBOX.sub.child",
    ] {
        c.send("s", &format!("SUBSCRIBE {name}")).assert_ok();
    }
    c.send("s", "SUBSCRIBE INBOX.deep.er.still").assert_ok();

    // RFC 3501 §6.3.9: "foo/bar" subscribed, "foo" not: `%` returns foo, \Noselect.
    let r = c.send("a1", "LSUB \"\" INBOX.%");
    r.assert_ok();
    let entries = list_entries(&r, "LSUB");
    let got: Vec<(&str, bool)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.has("\\Noselect")))
        .collect();
    assert_eq!(
        got,
        [
            ("INBOX.foo", true),
            ("INBOX.sub", false),
            ("INBOX.deep", true)
        ],
        "{}",
        r.dump()
    );
    assert!(entries.iter().all(|e| e.delimiter == "."), "{entries:?}");

    // One level further down, the same.
    let r = c.send("a2", "LSUB \"\" INBOX.deep.%");
    r.assert_ok();
    let entries = list_entries(&r, "LSUB");
    assert_eq!(entries.len(), 1, "{}", r.dump());
    assert_eq!(entries[0].name, "INBOX.deep.er");
    assert!(entries[0].has("\\Noselect"));

    // With `%` at the top: INBOX itself is not subscribed, its children are.
    let r = c.send("a3", "LSUB \"\" %");
    r.assert_ok();
    let entries = list_entries(&r, "LSUB");
    assert_eq!(entries.len(), 1, "{}", r.dump());
    assert_eq!(entries[0].name, "INBOX");
    assert!(entries[0].has("\\Noselect"));

    // Without `%` a parent is named only by itself, and it is not subscribed.
    let r = c.send("a5", "LSUB \"\" INBOX.foo");
    r.assert_ok();
    assert!(names(&r, "LSUB").is_empty(), "{}", r.dump());

    // `*` reaches the subscribed names themselves: no made-up parents.
    let r = c.send("a4", "LSUB \"\" *");
    r.assert_ok();
    assert_eq!(
        names(&r, "LSUB"),
        [
            "INBOX.foo.bar",
            "INBOX.foo.baz",
            "INBOX.sub",
            "INBOX.sub.child",
            "INBOX.deep.er.still"
        ],
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn python_imaplib_list_and_lsub() {
    if !skip::require(&["python3"]) {
        return;
    }
    let mut server = TestServer::new();
    server.make_folder("foo");
    server.make_folder("foo.bar");
    let port = server.start_serve();
    let script = format!(
        r#"
import imaplib, sys
imap = imaplib.IMAP4("127.0.0.1", {port})
imap.login("{USER}", "{PASS}")
typ, data = imap.subscribe("INBOX.foo.bar")
assert typ == "OK", (typ, data)
typ, data = imap.list('""', sys.argv[1])
assert typ == "OK", ("list", typ, data)
typ, data = imap.lsub('""', "INBOX.%")
assert typ == "OK", ("lsub", typ, data)
assert data == [b'(\\Noselect) "." INBOX.foo'], data
typ, data = imap.list('""', "INBOX.%")
assert typ == "OK" and any(b"INBOX.foo" in d for d in data), data
imap.logout()
print("ALL OK")
"#
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(EVERY_LIST_CHAR)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ALL OK"),
        "imaplib: {}\n{}\n--- server\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.serve_stderr()
    );
}

/// How often `item` (followed by a space, as every item name is before its value) occurs
/// in the FETCH line of message 1, case-insensitively.
fn count(reply: &Reply, item: &str) -> usize {
    let text = reply.fetch(1).text.to_ascii_uppercase();
    text.matches(&format!("{} ", item.to_ascii_uppercase()))
        .count()
}

#[test]
fn fetch_names_each_item_once() {
    let server = TestServer::new();
    server.deliver(None, &message("bob@example.org", "twice", "hello\r\n"));
    let (mut c, sel) = server.session("INBOX");
    sel.assert_ok();
    let r = c.send("a1", "FETCH 1 (INTERNALDATE INTERNALDATE FLAGS FLAGS UID)");
    r.assert_ok();
    for item in ["INTERNALDATE", "FLAGS", "UID"] {
        assert_eq!(count(&r, item), 1, "{item}: {}", r.dump());
    }
    // First-named order is kept.
    let text = &r.fetch(1).text;
    let at = |item: &str| text.find(item).unwrap();
    assert!(
        at("INTERNALDATE") < at("FLAGS") && at("FLAGS") < at("UID"),
        "{text}"
    );

    // A macro and the items it stands for; UID FETCH adds UID once.
    let r = c.send("a2", "UID FETCH 1:* (UID FLAGS RFC822.SIZE FLAGS UID)");
    r.assert_ok();
    for item in ["UID", "FLAGS", "RFC822.SIZE"] {
        assert_eq!(count(&r, item), 1, "{item}: {}", r.dump());
    }
    let r = c.send("a3", "FETCH 1 (ENVELOPE RFC822.SIZE ENVELOPE RFC822.SIZE)");
    r.assert_ok();
    for item in ["ENVELOPE", "RFC822.SIZE"] {
        assert_eq!(count(&r, item), 1, "{item}: {}", r.dump());
    }

    // Sections: the same spec twice is one item; different specs (or partials) are not.
    let r = c.send(
        "a4",
        "FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[HEADER.FIELDS (Subject)] \
         BODY.PEEK[TEXT] BODY.PEEK[TEXT]<0.2> BODY.PEEK[1] BODY.PEEK[1] BODY.PEEK[TEXT] \
         BODY.PEEK[HEADER.FIELDS (From)])",
    );
    r.assert_ok();
    for (item, n) in [
        ("BODY[HEADER.FIELDS (SUBJECT)]", 1),
        ("BODY[HEADER.FIELDS (FROM)]", 1),
        ("BODY[TEXT]", 1),
        ("BODY[TEXT]<0>", 1),
        ("BODY[1]", 1),
    ] {
        assert_eq!(count(&r, item), n, "{item}: {}", r.dump());
    }
    assert!(!r.has("\\Seen"), "{}", r.dump());

    // A section and its .PEEK answer as one BODY[1]; the one without .PEEK still sets \Seen.
    let r = c.send("a5", "FETCH 1 (BODY.PEEK[1] BODY[1] BODY.PEEK[1])");
    r.assert_ok();
    assert_eq!(count(&r, "BODY[1]"), 1, "{}", r.dump());
    let r = c.send("a6", "FETCH 1 FLAGS");
    assert!(r.fetch(1).text.contains("\\Seen"), "{}", r.dump());
    c.logout();
}
