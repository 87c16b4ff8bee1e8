//! OBJECTID (RFC 8474) against the real binary: MAILBOXID on CREATE, SELECT and STATUS,
//! kept by RENAME and new after DELETE + CREATE; EMAILID kept by flag changes, COPY and
//! MOVE; THREADID NIL; SEARCH EMAILID / THREADID; and the ids surviving Courier working on
//! the same Maildir. Every response is checked by tests/common (the OBJECTID items by
//! their own ABNF: imap-codec lacks them).

mod common;

#[path = "courier/oracle.rs"]
mod oracle;

use common::*;
use oracle::Courier;

/// The objectid inside `NAME (id)` in `text`.
fn id_after(text: &str, name: &str) -> String {
    let at = text
        .find(&format!("{name} ("))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let rest = &text[at + name.len() + 2..];
    rest[..rest.find(')').unwrap()].to_string()
}

fn status_id(c: &mut Client, mailbox: &str) -> String {
    let r = c.send("S", &format!("STATUS {mailbox} (MAILBOXID MESSAGES)"));
    r.assert_ok();
    id_after(&r.one("* STATUS").text, "MAILBOXID")
}

fn email_ids(c: &mut Client) -> Vec<String> {
    let r = c.send("F", "FETCH 1:* (EMAILID)");
    r.assert_ok();
    r.lines("* ")
        .iter()
        .filter(|l| l.text.contains(" FETCH "))
        .map(|l| id_after(&l.text, "EMAILID"))
        .collect()
}

#[test]
fn capability_lists_objectid() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let caps = c.capabilities();
    assert!(caps.iter().any(|w| w == "OBJECTID"), "{caps:?}");
}

/// RFC 8474 §4.1's example flow: CREATE answers the id, SELECT and STATUS repeat it,
/// RENAME keeps it, DELETE and a new CREATE of the same name give another.
#[test]
fn mailboxid_follows_rename_and_dies_with_delete() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    let r = c.send("C", "CREATE INBOX.foo");
    r.assert_ok();
    assert_eq!(r.code().map(|c| c.starts_with("MAILBOXID")), Some(true));
    let created = id_after(&r.tagged.text, "MAILBOXID");
    assert_eq!(status_id(&mut c, "INBOX.foo"), created);
    let r = c.send("X", "EXAMINE INBOX.foo");
    r.assert_ok();
    let line = r
        .lines("* OK")
        .into_iter()
        .find(|l| l.text.contains("[MAILBOXID"))
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert_eq!(id_after(&line.text, "MAILBOXID"), created);
    c.send("U", "UNSELECT").assert_ok();
    c.send("R", "RENAME INBOX.foo INBOX.bar").assert_ok();
    assert_eq!(status_id(&mut c, "INBOX.bar"), created);
    c.send("D", "DELETE INBOX.bar").assert_ok();
    let r = c.send("C", "CREATE INBOX.bar");
    let again = id_after(&r.tagged.text, "MAILBOXID");
    assert_ne!(again, created);
    // INBOX has one too, other than every folder's, and LIST-STATUS carries it.
    let inbox = status_id(&mut c, "INBOX");
    assert_ne!(inbox, again);
    let r = c.send("L", "LIST \"\" \"*\" RETURN (STATUS (MAILBOXID))");
    r.assert_ok();
    assert!(r.has(&format!("MAILBOXID ({inbox})")), "{}", r.dump());
    assert!(r.has(&format!("MAILBOXID ({again})")), "{}", r.dump());
}

#[test]
fn emailid_is_kept_by_flags_copy_and_move() {
    let server = TestServer::new();
    server.put(
        "INBOX",
        "cur",
        "1700000000.M1P1.test",
        "",
        &message("a@b", "one", "x"),
    );
    server.put(
        "INBOX",
        "cur",
        "1700000001.M1P1.test",
        "",
        &message("a@b", "two", "y"),
    );
    server.make_folder("Kept");
    server.make_folder("Moved");
    let (mut c, _) = server.session("INBOX");
    let ids = email_ids(&mut c);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    c.send("S", "STORE 1:2 +FLAGS (\\Seen $Work)").assert_ok();
    assert_eq!(email_ids(&mut c), ids);
    c.send("C", "COPY 1 INBOX.Kept").assert_ok();
    c.send("M", "UID MOVE 2 INBOX.Moved").assert_ok();
    // MOVE to Trash and back again: still the same message.
    c.send("X", "EXAMINE INBOX.Kept").assert_ok();
    assert_eq!(email_ids(&mut c), [ids[0].clone()]);
    c.send("X", "SELECT INBOX.Moved").assert_ok();
    assert_eq!(email_ids(&mut c), [ids[1].clone()]);
    c.send("M", "MOVE 1 INBOX").assert_ok();
    c.send("X", "SELECT INBOX").assert_ok();
    assert_eq!(email_ids(&mut c), ids);
    // SEARCH EMAILID finds it, THREADID is NIL and matches nothing.
    let r = c.send("S", &format!("UID SEARCH EMAILID {}", ids[1]));
    r.assert_ok();
    assert_eq!(r.search().len(), 1, "{}", r.dump());
    let r = c.send("F", "FETCH 1 (THREADID EMAILID)");
    assert!(
        r.one("* 1 FETCH").text.contains("THREADID NIL"),
        "{}",
        r.dump()
    );
    let r = c.send("S", "SEARCH THREADID T1");
    assert!(r.search().is_empty(), "{}", r.dump());
    c.send("S", "SEARCH EMAILID bad/id").assert_status("BAD");
}

/// Courier on the same Maildir: its flag changes and its RENAME keep what postern
/// answers, because both ids live in what Courier keeps (the basename, the directory).
#[test]
fn ids_survive_courier_on_the_same_maildir() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let server = TestServer::new();
    server.put(
        "INBOX",
        "cur",
        "1700000000.M1P1.test",
        "",
        &message("a@b", "one", "x"),
    );
    server.make_folder("Work");
    let (mut c, _) = server.session("INBOX");
    // A copy made by postern carries its EMAILID in its name.
    c.send("C", "COPY 1 INBOX.Work").assert_ok();
    let inbox_ids = email_ids(&mut c);
    let work_id = status_id(&mut c, "INBOX.Work");
    c.send("L", "LOGOUT");

    let mut cc = Client::spawn(courier.imapd_command(&server.maildir), false);
    let mut l = cc.greeting.text.clone();
    while !l.starts_with("* PREAUTH") {
        l = cc.expect_response().text;
    }
    cc.send("s", "SELECT INBOX.Work").assert_ok();
    cc.send("f", "STORE 1 +FLAGS (\\Flagged \\Seen)")
        .assert_ok();
    cc.send("u", "SELECT INBOX").assert_ok();
    cc.send("f", "STORE 1 +FLAGS (\\Answered)").assert_ok();
    cc.send("u", "CLOSE").assert_ok();
    cc.send("r", "RENAME INBOX.Work INBOX.Play").assert_ok();
    cc.send("l", "LOGOUT");

    let (mut c, _) = server.session("INBOX");
    assert_eq!(email_ids(&mut c), inbox_ids);
    assert_eq!(status_id(&mut c, "INBOX.Play"), work_id);
    c.send("X", "EXAMINE INBOX.Play").assert_ok();
    let r = c.send("F", "FETCH 1 (FLAGS EMAILID)");
    assert!(r.has("\\Flagged"), "Courier's change is seen: {}", r.dump());
    assert_eq!(email_ids(&mut c), inbox_ids);
}
