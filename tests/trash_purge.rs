//! Trash that empties itself (`[mail] purge`, Courier's IMAP_EMPTYTRASH) and the magic
//! Trash (`[imap] move_expunge_to_trash`, Courier's IMAP_MOVE_EXPUNGE_TO_TRASH,
//! capability XMAGICTRASH), against the real binary.
//!
//! The purge goes by ctime, which no test can set back: the ages here are seconds
//! ("2s", a form the setting takes for everyone) and the test waits them out once per
//! case. The day arithmetic and the clock are covered by the unit tests in
//! `src/store/purge.rs`, which inject the time.

use std::time::Duration;

mod common;

use common::{Client, TestServer, message, owner};

/// A logged-in session that, unlike the fixture's, does not first hand the homes to the
/// mail owner again: that chown would give every file a fresh ctime. (Files are given
/// to the owner once, before they age.)
fn aged_session(server: &TestServer) -> Client {
    let mut cmd = common::postern_command("imapd", &server.config);
    cmd.arg("--inetd");
    let mut c = Client::spawn(cmd, true);
    c.login();
    c
}

/// Waits long enough for a "2s" age to pass (ctime has whole seconds).
fn age_out() {
    std::thread::sleep(Duration::from_millis(3200));
}

/// (bytes, messages) of `maildirsize`: the sum of every line after the first.
fn quota_used(server: &TestServer) -> (i64, i64) {
    let text = std::fs::read_to_string(server.maildir.join("maildirsize")).unwrap();
    text.lines().skip(1).fold((0, 0), |(b, c), line| {
        let mut it = line.split_whitespace().map(|n| n.parse::<i64>().unwrap());
        (b + it.next().unwrap(), c + it.next().unwrap())
    })
}

fn with_quota(server: &TestServer) {
    let path = server.maildir.join("maildirsize");
    std::fs::write(&path, "10000000S\n           0            0\n").unwrap();
    owner::give_to_mail_owner(&path);
}

fn uiddb(server: &TestServer, folder: &str) -> Vec<String> {
    std::fs::read_to_string(server.folder_dir(folder).join("courierimapuiddb"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn count(server: &TestServer, folder: &str) -> usize {
    server.files(folder, "cur").len() + server.files(folder, "new").len()
}

#[test]
fn login_purges_old_messages_and_other_sessions_see_expunges() {
    let server = TestServer::with(&[("mail", "purge", "{ Trash = \"2s\", Sent = \"2s\" }")]);
    server.make_folder("Trash");
    server.make_folder("Sent");
    with_quota(&server);
    let m = message("bob@example.org", "old", "old one\r\n");
    server.deliver(Some("Trash"), &m);
    server.deliver(Some("Trash"), &m);
    server.deliver(Some("Sent"), &m);
    let size = std::fs::metadata(
        server
            .folder_dir("INBOX.Sent")
            .join("new")
            .join(&server.files("INBOX.Sent", "new")[0]),
    )
    .unwrap()
    .len() as i64;
    // A session that watches Trash (its SELECT moves new/ to cur/ and gives UIDs).
    let (mut watcher, sel) = server.session("INBOX.Trash");
    assert_eq!(sel.exists(), [2], "{}", sel.dump());
    let uidnext_before = uiddb(&server, "INBOX.Trash")[0].clone();
    let used_before = quota_used(&server);
    age_out();
    let young = message("bob@example.org", "young", "new\r\n");
    server.put("INBOX.Trash", "cur", "9999.M1P1.young", "", &young);

    // The next login purges (a session that leaves the ctimes alone).
    let mut c = aged_session(&server);
    let sel = c.select("INBOX.Trash");
    assert_eq!(sel.exists(), [1], "{}", sel.dump());
    let r = c.send("f", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert!(r.has("young"), "{}", r.dump());
    assert_eq!(count(&server, "INBOX.Sent"), 0);
    // The UID database lost the two, kept its header (no new UIDVALIDITY).
    let db = uiddb(&server, "INBOX.Trash");
    assert_eq!(db[0], uidnext_before.replace(" 3", " 4"), "{db:?}");
    assert_eq!(db.len(), 2, "{db:?}");
    assert!(db[1].starts_with("3 "), "{db:?}");
    // Only Sent counted toward the quota (Trash does not, as in Courier).
    assert_eq!(
        quota_used(&server),
        (used_before.0 - size, used_before.1 - 1)
    );
    // The watcher hears of the purge as expunges at its next look.
    let r = watcher.send("n", "NOOP");
    assert_eq!(r.expunged(), [2, 1], "{}", r.dump());
    assert_eq!(r.exists(), [1], "{}", r.dump());
    watcher.logout();
    c.logout();
}

#[test]
fn logout_purges_too() {
    let server = TestServer::with(&[("mail", "purge", "{ Trash = \"2s\" }")]);
    server.make_folder("Trash");
    let mut c = server.inetd();
    c.login();
    server.put(
        "INBOX.Trash",
        "cur",
        "1.M1P1.old",
        "S",
        b"Subject: old\n\nx\n",
    );
    age_out();
    assert_eq!(count(&server, "INBOX.Trash"), 1);
    c.logout();
    assert_eq!(count(&server, "INBOX.Trash"), 0);
}

#[test]
fn default_purge_keeps_a_week() {
    let server = TestServer::new();
    server.make_folder("Trash");
    server.deliver(Some("Trash"), &message("bob@example.org", "old", "x\r\n"));
    age_out();
    let mut c = server.inetd();
    c.login();
    c.logout();
    assert_eq!(count(&server, "INBOX.Trash"), 1);
}

#[test]
fn a_huge_trash_is_purged_a_bounded_part_per_login() {
    let server = TestServer::with(&[
        ("mail", "purge", "{ Trash = \"2s\" }"),
        ("mail", "purge_max_files", "10"),
    ]);
    server.make_folder("Trash");
    for i in 0..25 {
        server.put(
            "INBOX.Trash",
            "cur",
            &format!("{i:04}.M1P1.host"),
            "S",
            b"x\n",
        );
    }
    server.give_homes_to_mail_owner();
    age_out();
    let c = aged_session(&server);
    assert_eq!(count(&server, "INBOX.Trash"), 15, "one login: ten files");
    c.logout();
    assert_eq!(count(&server, "INBOX.Trash"), 5, "its logout: ten more");
    let c = aged_session(&server);
    assert_eq!(count(&server, "INBOX.Trash"), 0);
    c.logout();
}

#[test]
fn magic_trash_moves_expunged_messages_with_their_flags() {
    let server = TestServer::with(&[("imap", "move_expunge_to_trash", "true")]);
    with_quota(&server);
    for s in ["one", "two", "three"] {
        server.deliver(None, &message("bob@example.org", s, "body\r\n"));
    }
    let used = quota_used(&server);
    let (mut c, _) = server.session("INBOX");
    let caps = c.send("c", "CAPABILITY");
    assert!(caps.has(" XMAGICTRASH"), "{}", caps.dump());
    c.send("a", "STORE 1 +FLAGS (\\Deleted \\Flagged)")
        .assert_ok();
    // Trash does not exist yet: EXPUNGE makes it.
    let r = c.send("b", "EXPUNGE");
    r.assert_ok();
    assert_eq!(r.expunged(), [1], "{}", r.dump());
    assert_eq!(count(&server, "INBOX.Trash"), 1);
    // UID EXPUNGE and CLOSE move too.
    c.send("d", "STORE 1:2 +FLAGS (\\Deleted)").assert_ok();
    let r = c.send("e", "UID EXPUNGE 2");
    assert_eq!(r.expunged(), [1], "{}", r.dump());
    c.send("f", "CLOSE").assert_ok();
    assert_eq!(count(&server, "INBOX"), 0);
    assert_eq!(count(&server, "INBOX.Trash"), 3);
    // Trash does not count toward the quota: the quota went down as for a removal.
    let after = quota_used(&server);
    assert_eq!(after.1, used.1 - 3, "{after:?} {used:?}");
    assert!(after.0 < used.0);
    // In Trash: \Flagged kept, \Deleted not; one UID each.
    let sel = c.select("INBOX.Trash");
    assert_eq!(sel.exists(), [3], "{}", sel.dump());
    let r = c.send("g", "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let one = r
        .fetches()
        .into_iter()
        .find(|l| l.text.contains("Subject: one"))
        .expect("message one in Trash");
    assert!(one.text.contains("\\Flagged"), "{}", r.dump());
    assert!(!r.has("\\Deleted"), "{}", r.dump());
    // Trash itself expunges for real.
    c.send("h", "STORE 1 +FLAGS (\\Deleted)").assert_ok();
    let r = c.send("i", "EXPUNGE");
    assert_eq!(r.expunged(), [1], "{}", r.dump());
    assert_eq!(count(&server, "INBOX.Trash"), 2);
    c.logout();
}

#[test]
fn without_the_setting_expunge_removes() {
    let server = TestServer::new();
    server.deliver(None, &message("bob@example.org", "one", "body\r\n"));
    let (mut c, _) = server.session("INBOX");
    let caps = c.send("c", "CAPABILITY");
    assert!(!caps.has("XMAGICTRASH"), "{}", caps.dump());
    c.send("a", "STORE 1 +FLAGS (\\Deleted)").assert_ok();
    c.send("b", "EXPUNGE").assert_ok();
    assert_eq!(count(&server, "INBOX"), 0);
    assert!(!server.folder_dir("INBOX.Trash").exists());
    c.logout();
}

/// Courier's pop3d knows nothing of the magic Trash: DELE removes.
#[test]
fn pop3_dele_is_not_moved_to_trash() {
    let server = TestServer::with(&[("imap", "move_expunge_to_trash", "true")]);
    server.make_folder("Trash");
    server.deliver(None, &message("bob@example.org", "one", "body\r\n"));
    let mut p = server.pop3d();
    p.login(common::USER, common::PASS);
    p.ok("DELE 1");
    p.quit();
    assert_eq!(count(&server, "INBOX"), 0);
    assert_eq!(count(&server, "INBOX.Trash"), 0);
}

/// Trash never counts toward the quota, however a message gets there or leaves it: what
/// `maildirsize` adds up to stays what is really outside Trash.
#[test]
fn the_quota_stays_true_through_trash() {
    let server = TestServer::with(&[("mail", "purge", "{ Trash = \"2s\" }")]);
    server.make_folder("Trash");
    with_quota(&server);
    server.deliver(None, &message("bob@example.org", "keep", "kept\r\n"));
    server.deliver(None, &message("bob@example.org", "drop", "dropped\r\n"));
    let (mut c, _) = server.session("INBOX");
    let r = c.send("a", "FETCH 1:2 RFC822.SIZE");
    assert!(r.is_ok(), "{}", r.dump());
    c.send("b", "MOVE 2 INBOX.Trash").assert_ok();
    let kept = std::fs::metadata(
        server
            .folder_dir("INBOX")
            .join("cur")
            .join(&server.files("INBOX", "cur")[0]),
    )
    .unwrap()
    .len() as i64;
    assert_eq!(quota_used(&server), (kept, 1));
    let r = c.send_parts(
        "c",
        &[
            common::Part::Text("APPEND INBOX.Trash "),
            common::Part::Literal(b"Subject: x\r\n\r\ny\r\n"),
        ],
    );
    r.assert_ok();
    c.send("d", "COPY 1 INBOX.Trash").assert_ok();
    assert_eq!(quota_used(&server), (kept, 1));
    c.logout();
    server.give_homes_to_mail_owner();
    age_out();
    let c = aged_session(&server);
    assert_eq!(count(&server, "INBOX.Trash"), 0);
    assert_eq!(quota_used(&server), (kept, 1));
    c.logout();
}

/// Courier's imapd with IMAP_MOVE_EXPUNGE_TO_TRASH=1 (PREAUTH on stdin) runs `script` on
/// `maildir`; its stdout, or `None` after a SKIP line when it is not there.
fn courier_magic_trash(maildir: &std::path::Path, script: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = std::env::var_os("POSTERN_COURIER_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/var/cache/postern-test-courier".into());
    let root = dir.join("root");
    let imapd = root.join("usr/bin/imapd");
    if !imapd.is_file() {
        common::skip::skip(&format!(
            "{} is missing; run tests/courier/fetch-courier.sh",
            imapd.display()
        ));
        return None;
    }
    owner::give_to_mail_owner(maildir);
    let mut cmd = Command::new(imapd);
    if let Some((uid, gid)) = owner::mail_owner() {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(
            "LD_LIBRARY_PATH",
            format!(
                "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
                root.display()
            ),
        )
        .env("AUTHENTICATED", common::USER)
        .env("TCPREMOTEIP", "127.0.0.1")
        .env("TCPREMOTEPORT", "1")
        .env("IMAP_CAPABILITY", "IMAP4rev1 UIDPLUS")
        .env("IMAP_KEYWORDS", "1")
        .env("IMAP_USELOCKS", "0")
        .env("IMAP_ENHANCEDIDLE", "0")
        .env("IMAP_TRASHFOLDERNAME", "Trash")
        .env("IMAP_EMPTYTRASH", "Trash:7")
        .env("IMAP_MOVE_EXPUNGE_TO_TRASH", "1")
        .arg(maildir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = String::from_utf8_lossy(&child.wait_with_output().ok()?.stdout).into_owned();
    if !out.contains("* PREAUTH") {
        common::skip::skip(&format!("Courier's imapd does not run here: {out:?}"));
        return None;
    }
    Some(out)
}

/// The flags (after `:2,`) of the files in `folder`'s cur/, sorted.
fn trash_flags(server: &TestServer) -> Vec<String> {
    let mut v: Vec<String> = server
        .files("INBOX.Trash", "cur")
        .iter()
        .map(|n| n.rsplit_once(":2,").map_or("", |(_, f)| f).to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn courier_moves_to_trash_the_same_way() {
    let server = TestServer::with(&[("imap", "move_expunge_to_trash", "true")]);
    server.make_folder("Trash");
    server.deliver(None, &message("bob@example.org", "one", "body\r\n"));
    server.deliver(None, &message("bob@example.org", "two", "body\r\n"));
    let script = "c CAPABILITY\r\ns SELECT INBOX\r\n\
                  f STORE 1 +FLAGS (\\Deleted \\Flagged \\Seen)\r\nx EXPUNGE\r\nz LOGOUT\r\n";
    let Some(courier) = courier_magic_trash(&server.maildir, script) else {
        return;
    };
    assert!(courier.contains(" XMAGICTRASH"), "{courier}");
    let courier_expunge = courier
        .lines()
        .find(|l| l.starts_with("x "))
        .unwrap()
        .to_owned();
    let courier_flags = trash_flags(&server);
    assert_eq!(courier_flags, ["FS"], "{courier}");

    // postern does the same to the other message.
    let (mut c, _) = server.session("INBOX");
    let caps = c.send("c", "CAPABILITY");
    assert!(caps.has(" XMAGICTRASH"), "{}", caps.dump());
    c.send("f", "STORE 1 +FLAGS (\\Deleted \\Flagged \\Seen)")
        .assert_ok();
    let r = c.send("x", "EXPUNGE");
    assert_eq!(r.tagged.text, courier_expunge);
    assert_eq!(r.expunged(), [1]);
    c.logout();
    assert_eq!(trash_flags(&server), ["FS", "FS"]);
    assert_eq!(count(&server, "INBOX"), 0);
}
