//! Virtual shared folders and ACLs (RFC 4314, Courier's `courierimapacl` and shared
//! index) through the real server: virtual users of the user file share one uid, so
//! they open each other's folders directly; what each may do is the folder's ACL.
//! Every refusal is checked from the refused user's own session.

mod common;

use std::path::{Path, PathBuf};

use common::{Client, TestServer, mail_owner};

/// alice (owner of the shared folders), bob, carol, dave (group staff) and eve
/// (disableshared), all in the user file, with a shared index naming them.
struct Site {
    server: TestServer,
    alice: PathBuf,
    index: PathBuf,
}

fn user_line(user: &str, home: &Path, extra: &str) -> String {
    format!("{user}:{{PLAIN}}pw-{user}::::{}::{extra}\n", home.display())
}

fn site() -> Site {
    let mut server = TestServer::new();
    let alice = server.maildir.clone();
    let (uid, gid) = mail_owner().unwrap_or((
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    ));
    let mut index = String::from("# shared index, Courier's format\n");
    index.push_str(&format!("alice\t{uid}\t{gid}\t{}\n", server.home.display()));
    let mut users = String::new();
    for (user, extra) in [
        ("bob", ""),
        ("carol", ""),
        ("dave", "group=staff"),
        ("eve", "disableshared=1"),
    ] {
        let maildir = server.add_user(user, "unused");
        let home = maildir.parent().unwrap().to_path_buf();
        users.push_str(&user_line(user, &home, extra));
        index.push_str(&format!("{user}\t{uid}\t{gid}\t{}\n", home.display()));
    }
    // The accounts again with their passwords and options (add_user's lines have none).
    let mut file = std::fs::read_to_string(&server.userfile).unwrap();
    file = file
        .lines()
        .filter(|l| l.starts_with("alice:"))
        .map(|l| format!("{l}\n"))
        .collect();
    file.push_str(&users);
    std::fs::write(&server.userfile, file).unwrap();
    let index_path = server.dir.path().join("shared-index");
    std::fs::write(&index_path, index).unwrap();
    server.set(
        "mail",
        "shared_index",
        &format!("{:?}", index_path.display().to_string()),
    );
    server.make_folder("Pub");
    server.make_folder("Pub.Sub");
    server.make_folder("Private");
    server.put(
        "INBOX.Pub",
        "cur",
        "1700000000.M1P1.host",
        "",
        b"Subject: shared\r\n\r\nhello\r\n",
    );
    Site {
        server,
        alice,
        index: index_path,
    }
}

impl Site {
    fn login(&mut self, user: &str) -> Client {
        let mut c = self.server.connect();
        let pass = if user == "alice" {
            common::PASS.to_string()
        } else {
            format!("pw-{user}")
        };
        c.send("l", &format!("LOGIN {user} {pass}")).assert_ok();
        c
    }

    fn acl_file(&self, folder: &str) -> String {
        std::fs::read_to_string(self.alice.join(format!(".{folder}")).join("courierimapacl"))
            .unwrap_or_default()
    }
}

/// The LIST lines of a pattern, each with its mailbox name quoted (as Courier writes
/// it; postern writes an atom where it can), so names compare by their ending.
fn listed(c: &mut Client, pattern: &str) -> Vec<String> {
    let r = c.send("ls", &format!("LIST \"\" {pattern}"));
    r.assert_ok();
    r.list_lines_quoted()
}

#[test]
fn acl_is_advertised_and_namespace_names_shared() {
    let mut s = site();
    let mut alice = s.login("alice");
    let caps = alice
        .send("c", "CAPABILITY")
        .assert_ok()
        .texts("* CAPABILITY");
    assert!(caps[0].contains(" ACL ACL2=UNION"), "{caps:?}");
    let ns = alice
        .send("n", "NAMESPACE")
        .assert_ok()
        .texts("* NAMESPACE");
    assert_eq!(
        ns[0],
        "* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))"
    );
    let mut eve = s.login("eve");
    let ns = eve.send("n", "NAMESPACE").assert_ok().texts("* NAMESPACE");
    assert!(!ns[0].contains("#shared"), "disableshared: {ns:?}");
}

#[test]
fn a_granted_reader_reads_but_cannot_change_and_loses_it_on_revoke() {
    let mut s = site();
    let mut alice = s.login("alice");
    alice.send("a1", "SETACL INBOX.Pub bob lr").assert_ok();
    // Courier's bytes: the inherited defaults written out, then the new entry.
    assert_eq!(
        s.acl_file("Pub"),
        "owner aceilrstwx\nadministrators aceilrstwx\nuser=bob lr\n"
    );
    let acl = alice.send("a2", "GETACL INBOX.Pub");
    acl.assert_ok();
    let line = acl.one("* ACL").text.clone();
    assert!(line.contains("\"bob\" \"lr\""), "{line}");

    let mut bob = s.login("bob");
    let names = listed(&mut bob, "\"#shared.*\"");
    assert!(
        names.iter().any(|l| l.ends_with("\"#shared.alice.Pub\"")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|l| l.contains("\\Noselect") && l.ends_with("\"#shared.alice\"")),
        "{names:?}"
    );
    assert!(!names.iter().any(|l| l.contains("Private")), "{names:?}");
    let sel = bob.send("s", "SELECT #shared.alice.Pub");
    sel.assert_ok();
    assert!(sel.tagged.text.contains("[READ-ONLY]"), "{}", sel.dump());
    assert!(sel.has("[MYRIGHTS \"lr\"]"), "{}", sel.dump());
    assert!(sel.has("* 1 EXISTS"), "{}", sel.dump());
    let body = bob.send("f", "FETCH 1 BODY.PEEK[]");
    body.assert_ok();
    assert!(body.has("hello"), "{}", body.dump());
    for (tag, cmd) in [
        ("st", "STORE 1 +FLAGS (\\Seen)"),
        ("ex", "EXPUNGE"),
        ("ap", "APPEND #shared.alice.Pub {5+}\r\nhello"),
        ("cr", "CREATE #shared.alice.Pub.New"),
        ("ga", "GETACL #shared.alice.Pub"),
        ("sa", "SETACL #shared.alice.Pub bob lrswi"),
        ("dl", "DELETE #shared.alice.Pub"),
    ] {
        let r = bob.send(tag, cmd);
        r.assert_status("NO");
        assert_eq!(r.code(), Some("NOPERM"), "{cmd}: {}", r.dump());
    }
    // alice's quota is not bob's business: no quota root for her folder.
    let q = bob.send("q", "GETQUOTAROOT #shared.alice.Pub");
    q.assert_ok();
    assert_eq!(q.texts("* QUOTAROOT"), ["* QUOTAROOT #shared.alice.Pub"]);
    assert!(q.texts("* QUOTA ").is_empty(), "{}", q.dump());
    let my = bob.send("m", "MYRIGHTS #shared.alice.Pub");
    my.assert_ok();
    assert!(
        my.has("* MYRIGHTS \"#shared.alice.Pub\" \"lr\""),
        "{}",
        my.dump()
    );
    // Nothing the refusals touched changed on disk.
    assert_eq!(s.server.files("INBOX.Pub", "cur").len(), 1);
    assert!(!s.alice.join(".Pub.New").exists());

    // carol was granted nothing: she sees nothing of alice's and cannot open it.
    let mut carol = s.login("carol");
    assert!(listed(&mut carol, "\"#shared.*\"").is_empty());
    let r = carol.send("s", "SELECT #shared.alice.Pub");
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());

    // Revoked: bob no longer sees it, and a new SELECT is refused.
    alice.send("a3", "DELETEACL INBOX.Pub bob").assert_ok();
    assert_eq!(
        s.acl_file("Pub"),
        "owner aceilrstwx\nadministrators aceilrstwx\n"
    );
    // Pub.Sub keeps bob's entry: it had no ACL of its own, so reading it (bob's LIST)
    // wrote Pub's list into it, as Courier does; revoking Pub does not reach it. Pub
    // itself is only a level above it now.
    let after = listed(&mut bob, "\"#shared.*\"");
    assert!(
        after
            .iter()
            .filter(|l| l.ends_with(" \"#shared.alice.Pub\""))
            .all(|l| l.contains("\\Noselect")),
        "{after:?}"
    );
    let r = bob.send("s2", "SELECT #shared.alice.Pub");
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());
}

#[test]
fn rights_decide_each_change() {
    let mut s = site();
    let mut alice = s.login("alice");
    // bob may see, read, set \Seen and insert; \Deleted and other flags are not his.
    alice.send("a", "SETACL INBOX.Pub bob lrsi").assert_ok();
    let mut bob = s.login("bob");
    let sel = bob.send("s", "SELECT #shared.alice.Pub");
    sel.assert_ok();
    assert!(sel.tagged.text.contains("[READ-WRITE]"), "{}", sel.dump());
    // \Seen is stored, \Flagged silently left out (Courier; RFC 4314 §4).
    let r = bob.send("st", "STORE 1 +FLAGS (\\Seen \\Flagged)");
    r.assert_ok();
    assert!(r.has("FLAGS (\\Seen)"), "{}", r.dump());
    let r = bob.send("st2", "STORE 1 +FLAGS (\\Deleted)");
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());
    let r = bob.send("ap", "APPEND #shared.alice.Pub (\\Flagged) {7+}\r\nappend!");
    r.assert_ok();
    assert!(r.tagged.text.contains("[APPENDUID"), "{}", r.dump());
    assert_eq!(s.server.files("INBOX.Pub", "cur").len(), 2);
    // COPY into a folder of his own works from a shared source (r there, his i here).
    bob.send("c", "COPY 1 INBOX").assert_ok();
    let r = bob.send("mv", "MOVE 1 INBOX");
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());
    let r = bob.send("e", "EXPUNGE");
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());

    // A negative right takes `r` away again.
    alice.send("n", "SETACL INBOX.Pub -bob r").assert_ok();
    let r = bob.send("s2", "SELECT #shared.alice.Pub");
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());
}

#[test]
fn groups_and_inheritance() {
    let mut s = site();
    let mut alice = s.login("alice");
    // SETACL takes no group identifiers (RFC 2086 has none; Courier refuses them too):
    // groups are given with Courier's ACL2 command, as its Cone client does.
    let r = alice.send("g", "SETACL INBOX.Pub group=staff lr");
    r.assert_status("NO");
    let r = alice.send("g2", "ACL STORE INBOX.Pub group=staff lr");
    r.assert_ok();
    assert!(r.has("(\"group=staff\" \"lr\")"), "{}", r.dump());
    let mut dave = s.login("dave");
    let names = listed(&mut dave, "\"#shared.*\"");
    // Pub.Sub has no ACL file: it inherits Pub's (Courier).
    assert!(
        names
            .iter()
            .any(|l| l.ends_with("\"#shared.alice.Pub.Sub\"")),
        "{names:?}"
    );
    dave.send("s", "EXAMINE #shared.alice.Pub.Sub").assert_ok();
    dave.send("st", "STATUS #shared.alice.Pub (MESSAGES)")
        .assert_ok();
    let mut bob = s.login("bob");
    assert!(listed(&mut bob, "\"#shared.*\"").is_empty());
    // A user without sharing sees no #shared at all.
    let mut eve = s.login("eve");
    assert!(listed(&mut eve, "*").iter().all(|l| !l.contains("#shared")));
    let r = eve.send("s", "SELECT #shared.alice.Pub");
    r.assert_status("NO");
}

#[test]
fn the_owner_keeps_a_and_l() {
    let mut s = site();
    let mut alice = s.login("alice");
    let r = alice.send("o", "SETACL INBOX.Pub owner lr");
    r.assert_status("NO");
    let r = alice.send("o2", "SETACL INBOX.Pub -owner a");
    r.assert_status("NO");
    // Nothing of the refused changes was written (reading it wrote the inherited list,
    // as Courier does).
    assert_eq!(
        s.acl_file("Pub"),
        "owner aceilrstwx\nadministrators aceilrstwx\n"
    );
    // The owner's own folders need no ACL file to be fully usable.
    let my = alice.send("m", "MYRIGHTS INBOX.Pub");
    my.assert_ok();
    assert!(my.has("* MYRIGHTS \"INBOX.Pub\""), "{}", my.dump());
    let sel = alice.send("s", "SELECT INBOX.Pub");
    sel.assert_ok();
    assert!(sel.tagged.text.contains("[READ-WRITE]"), "{}", sel.dump());
    // Asking about a folder that does not exist leaves no ACL file behind for it.
    alice.send("n", "SELECT INBOX.Nope").assert_status("NO");
    alice
        .send("n2", "STATUS INBOX.Nope.Deeper (MESSAGES)")
        .assert_status("NO");
    assert!(!s.alice.join("courierimaphieracl/Nope").exists());
    assert!(!s.alice.join("courierimaphieracl/Nope.Deeper").exists());
    let _ = &s.index;
}
