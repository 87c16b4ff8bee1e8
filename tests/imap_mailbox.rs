//! Mailbox commands over `imapd --inetd`: SELECT/EXAMINE, CREATE/DELETE/RENAME,
//! SUBSCRIBE/LSUB, LIST patterns and return options, STATUS, NAMESPACE, and names in
//! modified UTF-7 or, after ENABLE UTF8=ACCEPT, in UTF-8.

mod common;

use common::*;

fn msg(n: u32) -> Vec<u8> {
    message("bob@example.org", &format!("message {n}"), "hello\r\n")
}

#[test]
fn select_reports_the_mailbox() {
    let server = TestServer::new();
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    server.put("INBOX", "cur", "1700000000.M1P1.test", "S", &msg(3));
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "SELECT INBOX");
    r.assert_ok();
    assert_eq!(r.code(), Some("READ-WRITE"), "{}", r.dump());
    let flags = &r.one("* FLAGS ").text;
    for f in ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] {
        assert!(flags.contains(f), "{f} missing: {flags}");
    }
    let perm = r
        .untagged
        .iter()
        .find_map(|l| l.code().filter(|c| c.starts_with("PERMANENTFLAGS")))
        .unwrap_or_else(|| panic!("no PERMANENTFLAGS:\n{}", r.dump()));
    for f in [
        "\\Answered",
        "\\Flagged",
        "\\Deleted",
        "\\Seen",
        "\\Draft",
        "\\*",
    ] {
        assert!(perm.contains(f), "{f} missing: {perm}");
    }
    assert_eq!(r.exists(), vec![3], "{}", r.dump());
    assert_eq!(r.numbered("RECENT"), vec![2], "{}", r.dump());
    let validity = ok_code_number(&r, "UIDVALIDITY").expect("UIDVALIDITY");
    assert!(validity > 0);
    assert_eq!(ok_code_number(&r, "UIDNEXT"), Some(4), "{}", r.dump());
    if let Some(unseen) = ok_code_number(&r, "UNSEEN") {
        let f = c.send("a2", &format!("FETCH {unseen} FLAGS"));
        assert!(!f.has("\\Seen"), "UNSEEN {unseen} is seen:\n{}", f.dump());
    }
    c.logout();

    // The same UIDVALIDITY and UIDNEXT next time; EXAMINE is read-only.
    let mut c = server.inetd();
    c.login();
    let r = c.send("b1", "EXAMINE INBOX");
    r.assert_ok();
    assert_eq!(r.code(), Some("READ-ONLY"), "{}", r.dump());
    assert_eq!(r.exists(), vec![3]);
    assert_eq!(ok_code_number(&r, "UIDVALIDITY"), Some(validity));
    assert_eq!(ok_code_number(&r, "UIDNEXT"), Some(4));
    // Nothing may change in a read-only mailbox.
    let s = c.send("b2", "STORE 1 +FLAGS (\\Deleted)");
    assert_ne!(s.status(), "OK", "STORE in EXAMINE:\n{}", s.dump());
    c.send("b3", "FETCH 1 BODY[]").assert_ok();
    let f = c.send("b4", "FETCH 1:* FLAGS");
    assert_eq!(
        f.lines("* ")
            .iter()
            .filter(|l| l.text.contains("\\Seen"))
            .count(),
        1,
        "BODY[] set \\Seen in a read-only mailbox:\n{}",
        f.dump()
    );
    c.logout();
    assert!(server.maildir.join("courierimapuiddb").exists());
}

#[test]
fn select_errors_leave_no_mailbox_selected() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    c.send("a1", "SELECT INBOX").assert_ok();
    c.send("a2", "SELECT INBOX.nosuch").assert_status("NO");
    // A failed SELECT deselects (RFC 3501 6.3.1).
    c.send("a3", "FETCH 1 FLAGS").assert_status("BAD");
    let r = c.send("a4", "SELECT Elsewhere");
    r.assert_status("NO");
    c.send("a5", "SELECT inbox").assert_ok();
    c.logout();
}

#[test]
fn create_delete_rename_with_children() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    c.send("a1", "CREATE INBOX.a").assert_ok();
    c.send("a2", "CREATE INBOX.a.b").assert_ok();
    let dir = server.maildir.join(".a");
    assert!(dir.join("cur").is_dir() && dir.join("new").is_dir() && dir.join("tmp").is_dir());
    assert!(dir.join("maildirfolder").is_file());
    assert!(server.maildir.join(".a.b/maildirfolder").is_file());

    let r = c.send("a3", "CREATE INBOX.a");
    r.assert_status("NO");
    c.send("a4", "CREATE INBOX").assert_status("NO");
    let r = c.send("a5", "CREATE Outside");
    r.assert_status("NO");
    assert_eq!(r.code(), Some("CANNOT"), "{}", r.dump());

    // Messages and children move along.
    server.deliver(Some("a"), &msg(1));
    c.send("a6", "RENAME INBOX.a INBOX.c").assert_ok();
    assert!(!server.maildir.join(".a").exists());
    assert!(!server.maildir.join(".a.b").exists());
    assert!(server.maildir.join(".c.b/maildirfolder").is_file());
    let r = c.send("a7", "LIST \"\" *");
    assert_eq!(list_names(&r, "LIST"), ["INBOX", "INBOX.c", "INBOX.c.b"]);
    let r = c.send("a8", "STATUS INBOX.c (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 1);

    c.send("a9", "RENAME INBOX.nosuch INBOX.d")
        .assert_status("NO");
    c.send("a10", "CREATE INBOX.d").assert_ok();
    c.send("a11", "RENAME INBOX.d INBOX.c").assert_status("NO");
    c.send("a12", "RENAME INBOX.d Outside").assert_status("NO");

    c.send("b1", "DELETE INBOX.c.b").assert_ok();
    assert!(!server.maildir.join(".c.b").exists());
    c.send("b2", "DELETE INBOX.c").assert_ok();
    c.send("b3", "DELETE INBOX.c").assert_status("NO");
    c.send("b4", "DELETE INBOX").assert_status("NO");
    let r = c.send("b5", "LIST \"\" *");
    assert_eq!(list_names(&r, "LIST"), ["INBOX", "INBOX.d"]);
    // The selected mailbox can be deleted from another name's point of view too.
    c.send("b6", "SELECT INBOX.d").assert_ok();
    c.send("b7", "UNSELECT").assert_ok();
    c.send("b8", "DELETE INBOX.d").assert_ok();
    c.logout();
}

#[test]
fn subscribe_and_lsub() {
    let server = TestServer::new();
    server.make_folder("a");
    server.make_folder("b");
    let mut c = server.inetd();
    c.login();
    c.send("a1", "SUBSCRIBE INBOX.a").assert_ok();
    c.send("a2", "SUBSCRIBE INBOX").assert_ok();
    let r = c.send("a3", "LSUB \"\" *");
    r.assert_ok();
    assert_eq!(list_names(&r, "LSUB"), ["INBOX", "INBOX.a"]);
    let subs = std::fs::read_to_string(server.maildir.join("courierimapsubscribed")).unwrap();
    assert!(subs.lines().any(|l| l == "INBOX.a"), "{subs:?}");

    let r = c.send("a4", "LIST \"\" * RETURN (SUBSCRIBED)");
    r.assert_ok();
    let entries = list_entries(&r, "LIST");
    let a = entries.iter().find(|e| e.name == "INBOX.a").unwrap();
    let b = entries.iter().find(|e| e.name == "INBOX.b").unwrap();
    assert!(
        a.has("\\Subscribed") && !b.has("\\Subscribed"),
        "{entries:?}"
    );

    let r = c.send("a5", "LIST (SUBSCRIBED) \"\" *");
    r.assert_ok();
    let entries = list_entries(&r, "LIST");
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["INBOX", "INBOX.a"], "{}", r.dump());
    assert!(entries.iter().all(|e| e.has("\\Subscribed")), "{entries:?}");

    c.send("a6", "UNSUBSCRIBE INBOX.a").assert_ok();
    let r = c.send("a7", "LSUB \"\" *");
    assert_eq!(list_names(&r, "LSUB"), ["INBOX"]);
    c.logout();

    // Subscriptions last beyond the session.
    let mut c = server.inetd();
    c.login();
    let r = c.send("b1", "LSUB \"\" \"INBOX*\"");
    assert_eq!(list_names(&r, "LSUB"), ["INBOX"]);
    c.logout();
}

fn tree(server: &TestServer) {
    for f in ["Sent", "Drafts", "Trash", "a", "a.b", "a.b.c"] {
        server.make_folder(f);
    }
}

#[test]
fn list_patterns() {
    let server = TestServer::new();
    tree(&server);
    let mut c = server.inetd();
    c.login();

    let r = c.send("a1", "LIST \"\" *");
    r.assert_ok();
    assert_eq!(
        list_names(&r, "LIST"),
        [
            "INBOX",
            "INBOX.Drafts",
            "INBOX.Sent",
            "INBOX.Trash",
            "INBOX.a",
            "INBOX.a.b",
            "INBOX.a.b.c"
        ]
    );
    let entries = list_entries(&r, "LIST");
    assert!(entries.iter().all(|e| e.delimiter == "."), "{entries:?}");
    let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
    assert!(get("INBOX").has("\\HasChildren"), "{entries:?}");
    assert!(get("INBOX.a").has("\\HasChildren"), "{entries:?}");
    assert!(get("INBOX.a.b.c").has("\\HasNoChildren"), "{entries:?}");
    assert!(get("INBOX.Sent").has("\\HasNoChildren"), "{entries:?}");
    assert!(!get("INBOX.a").has("\\HasNoChildren"), "{entries:?}");

    let r = c.send("a2", "LIST \"\" %");
    assert_eq!(list_names(&r, "LIST"), ["INBOX"]);
    let r = c.send("a3", "LIST \"INBOX.\" %");
    assert_eq!(
        list_names(&r, "LIST"),
        ["INBOX.Drafts", "INBOX.Sent", "INBOX.Trash", "INBOX.a"]
    );
    let r = c.send("a4", "LIST \"\" INBOX.a.*");
    assert_eq!(list_names(&r, "LIST"), ["INBOX.a.b", "INBOX.a.b.c"]);
    let r = c.send("a5", "LIST \"\" INBOX.%.b");
    assert_eq!(list_names(&r, "LIST"), ["INBOX.a.b"]);
    let r = c.send("a6", "LIST \"\" inbox");
    assert_eq!(list_names(&r, "LIST"), ["INBOX"]);
    let r = c.send("a7", "LIST \"\" *Sen*");
    assert_eq!(list_names(&r, "LIST"), ["INBOX.Sent"]);
    let r = c.send("a8", "LIST \"\" INBOX.nosuch");
    r.assert_ok();
    assert!(r.lines("* LIST").is_empty(), "{}", r.dump());

    // The empty pattern asks for the delimiter and the root.
    let r = c.send("b1", "LIST \"\" \"\"");
    r.assert_ok();
    let e = list_entries(&r, "LIST");
    assert_eq!(e.len(), 1, "{}", r.dump());
    assert_eq!(e[0].delimiter, ".");
    assert!(e[0].has("\\Noselect"), "{e:?}");
    c.logout();
}

#[test]
fn list_special_use() {
    let server = TestServer::new();
    tree(&server);
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "LIST \"\" * RETURN (SPECIAL-USE)");
    r.assert_ok();
    let entries = list_entries(&r, "LIST");
    let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
    assert!(get("INBOX.Sent").has("\\Sent"), "{entries:?}");
    assert!(get("INBOX.Drafts").has("\\Drafts"), "{entries:?}");
    assert!(get("INBOX.Trash").has("\\Trash"), "{entries:?}");
    for plain in ["INBOX", "INBOX.a", "INBOX.a.b"] {
        let e = get(plain);
        for su in ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"] {
            assert!(!e.has(su), "{plain} has {su}: {e:?}");
        }
    }
    c.logout();
}

#[test]
fn status_of_other_mailboxes() {
    let server = TestServer::new();
    server.make_folder("Sent");
    server.deliver(Some("Sent"), &msg(1));
    server.deliver(Some("Sent"), &msg(2));
    server.put("INBOX.Sent", "cur", "1700000000.M9P9.test", "S", &msg(3));
    let mut c = server.inetd();
    c.login();
    let r = c.send(
        "a1",
        "STATUS INBOX.Sent (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)",
    );
    r.assert_ok();
    let s = status_items(&r);
    assert_eq!(s["MESSAGES"], 3, "{}", r.dump());
    assert_eq!(s["UNSEEN"], 2, "{}", r.dump());
    assert_eq!(s["UIDNEXT"], 4, "{}", r.dump());
    assert!(s["UIDVALIDITY"] > 0);
    assert!(s["RECENT"] <= 2, "{}", r.dump());
    // SELECT agrees with STATUS.
    let sel = c.send("a2", "EXAMINE INBOX.Sent");
    assert_eq!(ok_code_number(&sel, "UIDVALIDITY"), Some(s["UIDVALIDITY"]));
    assert_eq!(ok_code_number(&sel, "UIDNEXT"), Some(4));
    c.send("a3", "STATUS INBOX.nosuch (MESSAGES)")
        .assert_status("NO");
    c.send("a4", "STATUS Elsewhere (MESSAGES)")
        .assert_status("NO");
    c.logout();
}

#[test]
fn namespace_is_courier_s() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "NAMESPACE");
    r.assert_ok();
    let line = &r.one("* NAMESPACE ").text;
    assert!(
        line.starts_with("* NAMESPACE ((\"INBOX.\" \".\")) "),
        "personal namespace: {line}"
    );
    c.logout();
}

#[test]
fn modified_utf7_names_are_utf8_on_disk() {
    let server = TestServer::new();
    server.make_folder("Ünïcode");
    let mut c = server.inetd();
    c.login();
    c.send("a1", "CREATE INBOX.R&AOk-sum&AOk-").assert_ok();
    assert!(
        server.maildir.join(".Résumé/maildirfolder").is_file(),
        "{:?}",
        std::fs::read_dir(&server.maildir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    let r = c.send("a2", "LIST \"\" *");
    assert_eq!(
        list_names(&r, "LIST"),
        ["INBOX", "INBOX.&ANw-n&AO8-code", "INBOX.R&AOk-sum&AOk-"]
    );
    c.send("a3", "SELECT \"INBOX.&ANw-n&AO8-code\"").assert_ok();
    c.send("a4", "RENAME INBOX.R&AOk-sum&AOk- INBOX.&ZeVnLIqe-")
        .assert_ok();
    assert!(server.maildir.join(".日本語").is_dir());
    // Not valid modified UTF-7: refused, never created.
    let r = c.send("a5", "CREATE INBOX.&Jjo");
    assert_ne!(r.status(), "OK", "{}", r.dump());
    let r = c.send("a6", "CREATE \"INBOX.Ça\"");
    assert_ne!(
        r.status(),
        "OK",
        "raw UTF-8 before ENABLE UTF8=ACCEPT:\n{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn utf8_accept_names() {
    let server = TestServer::new();
    server.make_folder("Résumé");
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "ENABLE UTF8=ACCEPT");
    r.assert_ok();
    assert!(
        r.lines("* ENABLED")
            .iter()
            .any(|l| l.text.to_ascii_uppercase().contains("UTF8=ACCEPT")),
        "{}",
        r.dump()
    );
    let r = c.send("a2", "LIST \"\" *");
    assert_eq!(list_names(&r, "LIST"), ["INBOX", "INBOX.Résumé"]);
    c.send("a3", "SELECT \"INBOX.Résumé\"").assert_ok();
    c.send("a4", "CREATE \"INBOX.Ça\"").assert_ok();
    assert!(server.maildir.join(".Ça/maildirfolder").is_file());
    let r = c.send("a5", "STATUS \"INBOX.Ça\" (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 0);
    c.logout();
}

#[test]
fn delete_with_children_leaves_a_noselect_name() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    c.send("a1", "CREATE INBOX.p").assert_ok();
    c.send("a2", "CREATE INBOX.p.q").assert_ok();
    c.send("a3", "DELETE INBOX.p").assert_ok();
    let r = c.send("a4", "LIST \"\" *");
    let entries = list_entries(&r, "LIST");
    let p = entries
        .iter()
        .find(|e| e.name == "INBOX.p")
        .unwrap_or_else(|| panic!("INBOX.p gone with its child:\n{}", r.dump()));
    assert!(p.has("\\Noselect"), "{p:?}");
    assert!(entries.iter().any(|e| e.name == "INBOX.p.q"));
    c.send("a5", "SELECT INBOX.p").assert_status("NO");
    c.send("a6", "SELECT INBOX.p.q").assert_ok();
    // Deleting a \Noselect name that still has children is an error (RFC 3501 6.3.4).
    c.send("a7", "DELETE INBOX.p").assert_status("NO");
    c.send("a8", "CREATE INBOX.p").assert_ok();
    c.send("a9", "SELECT INBOX.p").assert_ok();
    c.logout();
}

#[test]
fn quota_from_maildirsize() {
    let server = TestServer::new();
    let out = std::process::Command::new(BIN)
        .args(["maildirmake", "-q", "3000S,100C"])
        .arg(&server.maildir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    server.deliver(None, &msg(1));
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "GETQUOTAROOT INBOX");
    r.assert_ok();
    let root = r.one("* QUOTAROOT ");
    let name = root.text.rsplit(' ').next().unwrap().to_owned();
    let q = r.one("* QUOTA ");
    assert!(
        q.text.contains("STORAGE 1 3 "),
        "limit rounded up, as Courier does: {}",
        q.text
    );
    assert!(q.text.contains("MESSAGE 1 100"), "{}", q.text);
    let r = c.send("a2", &format!("GETQUOTA {name}"));
    r.assert_ok();
    assert_eq!(r.one("* QUOTA ").text, q.text);
    // Over the quota: APPEND is refused with OVERQUOTA.
    let big = message("a@example.org", "big", &"q".repeat(4000));
    let r = c.send_parts("a3", &[Part::Text("APPEND INBOX "), Part::Literal(&big)]);
    r.assert_status("NO");
    assert_eq!(r.code(), Some("OVERQUOTA"), "{}", r.dump());
    c.logout();
}
