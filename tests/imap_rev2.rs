//! IMAP4rev2 (RFC 9051) against the real binary: advertised beside IMAP4rev1, switched on
//! per session by ENABLE IMAP4rev2, and then each change of RFC 9051 Appendix E that
//! applies: no \Recent (FLAGS, FETCH, RECENT responses, SEARCH RECENT/NEW/OLD), no UNSEEN
//! code at SELECT, a `* LIST` line at SELECT, `OK [CLOSED]` when another SELECT closes a
//! mailbox, SEARCH answered with ESEARCH, UTF-8 mailbox names; and what rev2 folded in
//! (UNSELECT, STATUS SIZE/DELETED, BINARY, LIST-EXTENDED, LSUB still there). Every
//! response is checked by tests/common. Dovecot 2.3 offers no IMAP4rev2, so the
//! comparison with it is limited to the ESEARCH answers rev2 takes from RFC 4731.

mod common;

#[path = "dovecot/oracle.rs"]
mod dovecot;

use common::*;

fn rev2_session(server: &TestServer, mailbox: &str) -> (Client, Reply) {
    let mut c = server.inetd();
    c.login();
    let r = c.send("E", "ENABLE IMAP4rev2");
    r.assert_ok();
    assert_eq!(
        r.one("* ENABLED").text,
        "* ENABLED IMAP4rev2",
        "{}",
        r.dump()
    );
    let r = c.send("S", &format!("SELECT {mailbox}"));
    r.assert_ok();
    (c, r)
}

/// Two messages, the second still in new/ (recent for the first session that looks).
fn server_with_mail() -> TestServer {
    let server = TestServer::new();
    server.put(
        "INBOX",
        "cur",
        "1700000000.M1P1.test",
        "S",
        &message("a@b", "one", "x"),
    );
    server.put(
        "INBOX",
        "new",
        "1700000001.M1P1.test",
        "",
        &message("a@b", "two", "y"),
    );
    server
}

#[test]
fn advertised_beside_rev1_and_enabled_once() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let r = c.send("C", "CAPABILITY");
    let caps = r.one("* CAPABILITY").text.clone();
    assert!(
        caps.starts_with("* CAPABILITY IMAP4rev1 IMAP4rev2 "),
        "{caps}"
    );
    c.login();
    let r = c.send("E", "ENABLE IMAP4rev2 UTF8=ACCEPT");
    assert_eq!(
        r.one("* ENABLED").text,
        "* ENABLED IMAP4rev2 UTF8=ACCEPT",
        "{}",
        r.dump()
    );
    // Enabled already: ENABLED names nothing (RFC 5161 §3.2).
    let r = c.send("E", "ENABLE IMAP4rev2 UTF8=ACCEPT");
    assert_eq!(r.one("* ENABLED").text, "* ENABLED", "{}", r.dump());
}

#[test]
fn setting_off_hides_it_and_enable_ignores_it() {
    let server = TestServer::with(&[("imap", "imap4rev2", "false")]);
    let mut c = server.inetd();
    let r = c.send("C", "CAPABILITY");
    assert!(!r.has("IMAP4rev2"), "{}", r.dump());
    c.login();
    let r = c.send("E", "ENABLE IMAP4rev2");
    assert_eq!(r.one("* ENABLED").text, "* ENABLED", "{}", r.dump());
    let r = c.select("INBOX");
    assert!(r.has("RECENT"), "rev1 answers: {}", r.dump());
}

/// RFC 9051 §6.3.2's SELECT example: EXISTS, UIDVALIDITY, UIDNEXT, FLAGS,
/// PERMANENTFLAGS and a LIST line; no RECENT and no UNSEEN.
#[test]
fn select_answers_as_rfc_9051_shows() {
    let server = server_with_mail();
    let (mut c, r) = rev2_session(&server, "INBOX");
    assert!(r.has("* 2 EXISTS"), "{}", r.dump());
    for code in ["[UIDVALIDITY ", "[UIDNEXT 3]", "[PERMANENTFLAGS ("] {
        assert!(r.has(code), "{code}: {}", r.dump());
    }
    assert!(!r.has("RECENT") && !r.has("[UNSEEN"), "{}", r.dump());
    assert!(!r.has("\\Recent"), "{}", r.dump());
    assert_eq!(
        r.texts("* LIST"),
        ["* LIST (\\HasNoChildren) \".\" INBOX"],
        "{}",
        r.dump()
    );
    assert_eq!(r.tagged.code(), Some("READ-WRITE"));
    // The message from new/ carries no \Recent, and the SEARCH keys see none.
    let r = c.send("F", "FETCH 1:* (FLAGS)");
    assert!(!r.has("\\Recent"), "{}", r.dump());
    for (key, want) in [
        ("RECENT", "* ESEARCH (TAG \"K\")"),
        ("NEW", "* ESEARCH (TAG \"K\")"),
        ("OLD", "* ESEARCH (TAG \"K\") ALL 1:2"),
    ] {
        let r = c.send("K", &format!("SEARCH {key}"));
        assert_eq!(r.texts("* ESEARCH"), [want], "{key}: {}", r.dump());
    }
    // A rev1 session opened after it sees the same folder the IMAP4rev1 way.
    server.put(
        "INBOX",
        "new",
        "1700000002.M1P1.test",
        "",
        &message("a@b", "3", "z"),
    );
    let (_c1, r) = server.session("INBOX");
    assert!(r.has("* 1 RECENT") && r.has("[UNSEEN 2]"), "{}", r.dump());
    assert!(r.texts("* LIST").is_empty(), "{}", r.dump());
    // New mail in the rev2 session: EXISTS without RECENT.
    let r = c.send("N", "NOOP");
    assert!(r.has("* 3 EXISTS") && !r.has("RECENT"), "{}", r.dump());
}

/// RFC 9051 §6.4.4's examples: SEARCH is answered by ESEARCH with the command's tag;
/// without RETURN as RETURN (ALL); UID SEARCH says UID; nothing found is a bare ESEARCH.
#[test]
fn search_is_answered_with_esearch() {
    let server = TestServer::new();
    for n in 0..12 {
        let flags = if [1, 9, 10].contains(&n) { "F" } else { "" };
        server.put(
            "INBOX",
            "cur",
            &format!("17000000{n:02}.M1P1.test"),
            flags,
            &message("a@b", &format!("m{n}"), "x"),
        );
    }
    let (mut c, _) = rev2_session(&server, "INBOX");
    let cases = [
        (
            "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3",
        ),
        (
            "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            "* ESEARCH (TAG \"A283\") ALL 2,10:11",
        ),
        (
            "A284 SEARCH TEXT \"string not in mailbox\"",
            "* ESEARCH (TAG \"A284\")",
        ),
        (
            "A285 SEARCH FLAGGED",
            "* ESEARCH (TAG \"A285\") ALL 2,10:11",
        ),
        (
            "A286 UID SEARCH FLAGGED",
            "* ESEARCH (TAG \"A286\") UID ALL 2,10:11",
        ),
        (
            "A287 UID SEARCH SUBJECT nothing",
            "* ESEARCH (TAG \"A287\") UID",
        ),
    ];
    for (command, want) in cases {
        let (tag, cmd) = command.split_once(' ').unwrap();
        let r = c.send(tag, cmd);
        r.assert_ok();
        assert_eq!(r.texts("* ESEARCH"), [want], "{command}: {}", r.dump());
        assert!(r.texts("* SEARCH").is_empty(), "{}", r.dump());
    }
}

#[test]
fn closed_marks_the_end_of_the_old_mailbox() {
    let server = server_with_mail();
    server.make_folder("Work");
    let (mut c, _) = rev2_session(&server, "INBOX");
    let r = c.send("X", "EXAMINE INBOX.Work");
    r.assert_ok();
    assert_eq!(
        r.untagged[0].text,
        "* OK [CLOSED] Previous mailbox closed",
        "{}",
        r.dump()
    );
    // Also when the new SELECT fails: the old mailbox is closed all the same.
    let r = c.send("Y", "SELECT INBOX.Nope");
    r.assert_status("NO");
    assert!(r.has("[CLOSED]"), "{}", r.dump());
    // Nothing selected: nothing to close.
    let r = c.send("Z", "SELECT INBOX");
    assert!(!r.has("[CLOSED]"), "{}", r.dump());
    c.send("U", "UNSELECT").assert_ok();
    let r = c.send("Z", "SELECT INBOX");
    assert!(!r.has("[CLOSED]"), "{}", r.dump());
    // IMAP4rev1 sessions never get it.
    let (mut c1, _) = server.session("INBOX");
    let r = c1.send("X", "EXAMINE INBOX.Work");
    assert!(!r.has("[CLOSED]"), "{}", r.dump());
}

/// RFC 9051 §5.1: mailbox names in UTF-8, where IMAP4rev1 uses modified UTF-7.
#[test]
fn mailbox_names_travel_in_utf8() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    c.send("E", "ENABLE IMAP4rev2").assert_ok();
    c.send("C", "CREATE \"INBOX.Grüße\"").assert_ok();
    // The name as UTF-8 (postern sends a non-ASCII name as a literal).
    let r = c.send("L", "LIST \"\" \"INBOX.*\"");
    assert_eq!(
        r.texts("* LIST"),
        ["* LIST (\\HasNoChildren) \".\" {13}\r\nINBOX.Grüße"],
        "{}",
        r.dump()
    );
    let r = c.send("S", "STATUS \"INBOX.Grüße\" (MESSAGES SIZE DELETED)");
    assert!(r.has("(MESSAGES 0 SIZE 0 DELETED 0)"), "{}", r.dump());
    let r = c.send("S", "SELECT \"INBOX.Grüße\"");
    assert!(
        r.has("* LIST (\\HasNoChildren) \".\" {13}\r\nINBOX.Grüße"),
        "{}",
        r.dump()
    );
    let mut c1 = server.inetd();
    c1.login();
    let r = c1.send("L", "LIST \"\" \"INBOX.*\"");
    assert!(r.has("INBOX.Gr&APwA3w-e"), "{}", r.dump());
}

/// What RFC 9051 folded in keeps working in a rev2 session, LSUB included (rev2 drops
/// it from the protocol; a server may still answer it).
#[test]
fn folded_in_extensions_and_lsub_work() {
    let server = server_with_mail();
    let (mut c, _) = rev2_session(&server, "INBOX");
    c.send("B", "FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])")
        .assert_ok();
    let r = c.send(
        "L",
        "LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))",
    );
    r.assert_ok();
    c.send("S", "SUBSCRIBE INBOX").assert_ok();
    let r = c.send("L", "LSUB \"\" \"*\"");
    assert!(r.has("* LSUB"), "{}", r.dump());
    c.send("U", "UNSELECT").assert_ok();
    let r = c.send("A", "STATUS INBOX (MESSAGES SIZE DELETED UIDNEXT)");
    r.assert_ok();
    // An APPEND of binary content the Maildir cannot keep (RFC 9051 §6.3.12, RFC 3516).
    let msg: &[u8] = b"Subject: x\r\n\r\na\0b\r\n";
    let mut cmd = format!("A APPEND INBOX ~{{{}+}}\r\n", msg.len()).into_bytes();
    cmd.extend_from_slice(msg);
    cmd.extend_from_slice(b"\r\n");
    c.write(&cmd);
    let r = c.read_reply("A", 0);
    assert_eq!(r.code(), Some("UNKNOWN-CTE"), "{}", r.dump());
}

/// Dovecot 2.3.19 does not offer IMAP4rev2 (checked: its CAPABILITY lacks it and its
/// ENABLE ignores it), so only the answers rev2 took from RFC 4731 are compared: the
/// ESEARCH lines for SEARCH RETURN (...), which a rev2 session of postern gives as a rev1
/// session of Dovecot does.
#[test]
fn esearch_answers_match_dovecot() {
    let Some(dovecot) = dovecot::Dovecot::find() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut dc = Client::spawn(dovecot.command(home.path()), false);
    let r = dc.send("c", "CAPABILITY");
    assert!(
        !r.has("IMAP4rev2"),
        "Dovecot offers IMAP4rev2 now: {}",
        r.dump()
    );
    let r = dc.send("e", "ENABLE IMAP4rev2");
    assert!(!r.has("ENABLED IMAP4rev2"), "{}", r.dump());
    let server = TestServer::new();
    let (mut pc, _) = rev2_session(&server, "INBOX");
    dc.send("s", "SELECT INBOX").assert_ok();
    for n in 0..6 {
        let msg = message("a@b", &format!("m{n}"), "x");
        for c in [&mut pc, &mut dc] {
            c.send_parts("A", &[Part::Text("APPEND INBOX "), Part::Literal(&msg)])
                .assert_ok();
        }
    }
    for c in [&mut pc, &mut dc] {
        c.send("N", "NOOP").assert_ok();
        c.send("F", "STORE 2,4:5 +FLAGS (\\Flagged)").assert_ok();
    }
    for cmd in [
        "SEARCH RETURN () FLAGGED",
        "SEARCH RETURN (MIN MAX COUNT) FLAGGED",
        "UID SEARCH RETURN (ALL) NOT FLAGGED",
        "SEARCH RETURN (COUNT) SUBJECT nothing",
        "UID SEARCH RETURN () SUBJECT nothing",
    ] {
        let ours = pc.send("T", cmd).texts("* ESEARCH");
        let theirs = dc.send("T", cmd).texts("* ESEARCH");
        assert_eq!(ours, theirs, "{cmd}");
    }
    dc.send("l", "LOGOUT");
}

/// Dovecot sends CLOSED when QRESYNC is on (RFC 7162 §3.2.11, where RFC 9051 took it
/// from): first of the new SELECT's responses, as postern's rev2 session does.
#[test]
fn closed_comes_first_as_in_dovecot() {
    let Some(dovecot) = dovecot::Dovecot::find() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut dc = Client::spawn(dovecot.command(home.path()), false);
    dc.send("e", "ENABLE QRESYNC").assert_ok();
    let server = TestServer::new();
    let (mut pc, _) = rev2_session(&server, "INBOX");
    dc.send("s", "SELECT INBOX").assert_ok();
    for c in [&mut pc, &mut dc] {
        let r = c.send("x", "EXAMINE INBOX");
        r.assert_ok();
        assert!(
            r.untagged[0].text.starts_with("* OK [CLOSED] "),
            "{}",
            r.dump()
        );
        assert_eq!(r.lines("* OK [CLOSED]").len(), 1, "{}", r.dump());
    }
    dc.send("l", "LOGOUT");
}

/// postern's command table takes ENABLE with a mailbox selected too: enabled then, the
/// selected mailbox loses \Recent at once.
#[test]
fn enable_while_selected_hides_recent_at_once() {
    let server = server_with_mail();
    let (mut c, r) = server.session("INBOX");
    assert!(r.has("* 1 RECENT"), "{}", r.dump());
    let r = c.send("F", "FETCH 2 (FLAGS)");
    assert!(r.has("\\Recent"), "{}", r.dump());
    c.send("E", "ENABLE IMAP4rev2").assert_ok();
    let r = c.send("F", "FETCH 2 (FLAGS)");
    assert!(!r.has("\\Recent"), "{}", r.dump());
    let r = c.send("S", "SEARCH RECENT");
    assert_eq!(
        r.texts("* ESEARCH"),
        ["* ESEARCH (TAG \"S\")"],
        "{}",
        r.dump()
    );
}

/// IMAP4rev2 beside CONDSTORE/QRESYNC: a SEARCH MODSEQ answered with ESEARCH ends in
/// `MODSEQ n` (RFC 7162 §3.1.5 with RFC 4731), and one `[CLOSED]` marks a SELECT's
/// boundary when both rev2 and QRESYNC ask for it.
#[test]
fn rev2_with_condstore_and_qresync() {
    let server = server_with_mail();
    server.make_folder("Work");
    let mut c = server.inetd();
    c.login();
    let r = c.send("E", "ENABLE IMAP4rev2 QRESYNC");
    assert_eq!(
        r.one("* ENABLED").text,
        "* ENABLED IMAP4rev2 QRESYNC",
        "{}",
        r.dump()
    );
    c.send("S", "SELECT INBOX").assert_ok();
    c.send("T", "STORE 2 +FLAGS (\\Flagged)").assert_ok();
    let r = c.send("F", "FETCH 2 (MODSEQ)");
    let line = r.one("* 2 FETCH").text.clone();
    let modseq = modseq_in(&line).unwrap_or_else(|| panic!("no MODSEQ in {line}"));
    let r = c.send("Q", &format!("SEARCH MODSEQ {modseq}"));
    r.assert_ok();
    assert_eq!(
        r.texts("* ESEARCH"),
        [format!("* ESEARCH (TAG \"Q\") ALL 2 MODSEQ {modseq}")],
        "{}",
        r.dump()
    );
    let r = c.send("X", "EXAMINE INBOX.Work");
    r.assert_ok();
    assert_eq!(r.lines("* OK [CLOSED]").len(), 1, "{}", r.dump());
    assert_eq!(
        r.untagged[0].text,
        "* OK [CLOSED] Previous mailbox closed",
        "{}",
        r.dump()
    );
}
