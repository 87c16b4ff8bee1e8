//! QRESYNC (RFC 7162 §3.2) against the real binary: the RFC's examples with postern's
//! values, every response checked by imap-codec (`ext_condstore_qresync`): ENABLE,
//! SELECT (QRESYNC ...) with VANISHED (EARLIER) and the changed messages, known-uids,
//! UID FETCH (CHANGEDSINCE n VANISHED), VANISHED instead of EXPUNGE (own EXPUNGE, MOVE,
//! and other sessions' expunges at NOOP and IDLE), [CLOSED], and the answer past the
//! end of the bounded expunge memory.

mod common;

use common::*;

/// The `* VANISHED ...` lines' texts.
fn vanished(r: &Reply) -> Vec<String> {
    r.texts("* VANISHED")
}

/// (UID, MODSEQ) of the FETCH lines.
fn changed(r: &Reply) -> Vec<(u32, u64)> {
    r.untagged
        .iter()
        .filter(|l| l.text.contains(" FETCH "))
        .filter_map(|l| Some((l.fetch_uid()?, modseq_in(&l.text)?)))
        .collect()
}

/// A logged-in session with QRESYNC enabled.
fn qresync_session(server: &mut TestServer) -> Client {
    let mut c = server.connect();
    c.login();
    let r = c.send("E", "ENABLE QRESYNC");
    r.assert_ok();
    assert_eq!(r.texts("* ENABLED"), ["* ENABLED QRESYNC"]);
    c
}

#[test]
fn qresync_is_advertised_and_needs_enable() {
    let mut server = server_with_delivered(1);
    let mut c = server.connect();
    c.login();
    assert!(c.send("C", "CAPABILITY").has(" QRESYNC"));
    // RFC 7162 §3.2.5: a QRESYNC parameter without ENABLE QRESYNC is an error.
    let r = c.send("S", "SELECT INBOX (QRESYNC (1 1))");
    r.assert_status("BAD");
    // ENABLE QRESYNC CONDSTORE: both named, each enabled once.
    let r = c.send("E", "ENABLE QRESYNC CONDSTORE");
    assert_eq!(r.texts("* ENABLED"), ["* ENABLED QRESYNC"], "{}", r.dump());
    c.logout();
}

/// RFC 7162 §3.2.5 example: the client knows the folder up to a mod-sequence; SELECT
/// (QRESYNC (uidvalidity modseq)) answers with the UIDs expunged since in VANISHED
/// (EARLIER) and a FETCH (UID FLAGS MODSEQ) of each message changed since, after
/// HIGHESTMODSEQ. A client with a stale UIDVALIDITY gets a plain SELECT.
#[test]
fn rfc_select_qresync_resynchronises() {
    let mut server = server_with_delivered(6);
    let mut c = qresync_session(&mut server);
    let r = c.send("S", "SELECT INBOX");
    let (v, h) = (
        ok_code_number(&r, "UIDVALIDITY").unwrap(),
        highest_modseq(&r),
    );
    c.send("L", "LOGOUT");
    // Another session (without CONDSTORE) changes flags and expunges.
    let mut other = server.connect();
    other.login();
    other.select("INBOX");
    other.send("O1", "STORE 2 +FLAGS (\\Flagged)").assert_ok();
    other.send("O2", "STORE 4,5 +FLAGS (\\Deleted)").assert_ok();
    other.send("O3", "EXPUNGE").assert_ok();
    other.send("O4", "STORE 1 +FLAGS ($Done)").assert_ok();
    other.logout();
    let mut c = qresync_session(&mut server);
    let r = c.send("S", &format!("SELECT INBOX (QRESYNC ({v} {h}))"));
    r.assert_ok();
    let at = |needle: &str| r.untagged.iter().position(|l| l.text.starts_with(needle));
    assert!(at("* OK [HIGHESTMODSEQ").unwrap() < at("* VANISHED").unwrap());
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 4:5"], "{}", r.dump());
    let ch = changed(&r);
    assert_eq!(
        ch.iter().map(|c| c.0).collect::<Vec<_>>(),
        [1, 2],
        "{}",
        r.dump()
    );
    assert!(ch.iter().all(|c| c.1 > h && c.1 <= highest_modseq(&r)));
    assert!(r.has("$Done"), "{}", r.dump());
    // known-uids narrows both answers (§3.2.5.1).
    let r = c.send("S2", &format!("EXAMINE INBOX (QRESYNC ({v} {h} 2:4))"));
    r.assert_ok();
    assert!(r.has("* OK [CLOSED]"), "reselect says CLOSED (§3.2.11)");
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 4"], "{}", r.dump());
    assert_eq!(changed(&r).iter().map(|c| c.0).collect::<Vec<_>>(), [2]);
    // With seq-match data (§3.2.5.2) the answer is the same.
    let r = c.send(
        "S3",
        &format!("EXAMINE INBOX (QRESYNC ({v} {h} 1:6 (1:4 1:3,6)))"),
    );
    r.assert_ok();
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 4:5"], "{}", r.dump());
    // A stale UIDVALIDITY: no VANISHED, no FETCH, just the SELECT (§3.2.5).
    let r = c.send("S4", &format!("SELECT INBOX (QRESYNC ({} {h}))", v + 1));
    r.assert_ok();
    assert!(
        vanished(&r).is_empty() && changed(&r).is_empty(),
        "{}",
        r.dump()
    );
    // Up to date: nothing to say.
    let now = highest_modseq(&r);
    let r = c.send("S5", &format!("SELECT INBOX (QRESYNC ({v} {now}))"));
    assert!(
        vanished(&r).is_empty() && changed(&r).is_empty(),
        "{}",
        r.dump()
    );
    c.logout();
}

/// RFC 7162 §3.2.6 example: UID FETCH (CHANGEDSINCE n VANISHED) first says which UIDs of
/// the set vanished since n, then FETCHes what changed.
#[test]
fn rfc_uid_fetch_changedsince_vanished() {
    let mut server = server_with_delivered(5);
    let mut c = qresync_session(&mut server);
    let h = highest_modseq(&c.send("S", "SELECT INBOX"));
    let mut other = server.connect();
    other.login();
    other.select("INBOX");
    other.send("O1", "STORE 1,3 +FLAGS (\\Deleted)").assert_ok();
    other.send("O2", "UID EXPUNGE 3").assert_ok();
    other.send("O3", "UID STORE 4 +FLAGS (\\Seen)").assert_ok();
    let r = c.send(
        "F",
        &format!("UID FETCH 2:5 (FLAGS) (CHANGEDSINCE {h} VANISHED)"),
    );
    r.assert_ok();
    let v = vanished(&r);
    assert_eq!(v[0], "* VANISHED (EARLIER) 3", "{}", r.dump());
    // The answer: UID 4; before it, the session's own look may report UID 1's \Deleted
    // (outside the set) as an unsolicited FETCH.
    let uids: Vec<u32> = changed(&r).iter().map(|c| c.0).collect();
    assert!(
        uids.contains(&4) && uids.iter().all(|u| [1, 4].contains(u)),
        "{}",
        r.dump()
    );
    // The expunge itself is then announced once (a UID command may, RFC 3501 §7.4.1),
    // as VANISHED rather than EXPUNGE (§3.2.10), here or at the next NOOP.
    let n = c.send("N", "NOOP");
    assert!(
        r.expunged().is_empty() && n.expunged().is_empty(),
        "{}",
        n.dump()
    );
    let mut live: Vec<String> = v[1..].to_vec();
    live.extend(vanished(&n));
    assert_eq!(live, ["* VANISHED 3"], "{}\n{}", r.dump(), n.dump());
    // VANISHED needs QRESYNC and a UID FETCH.
    let r = c.send("B", &format!("FETCH 1 (FLAGS) (CHANGEDSINCE {h} VANISHED)"));
    r.assert_status("BAD");
    other.logout();
    c.logout();
}

/// Once QRESYNC is on, expunges are VANISHED: of EXPUNGE, of MOVE, and of another
/// session's expunge during IDLE; flag updates carry UID and MODSEQ.
#[test]
fn vanished_replaces_expunge() {
    let mut server = server_with_delivered(5);
    server.make_folder("INBOX.Archive");
    let mut c = qresync_session(&mut server);
    c.select("INBOX");
    c.send("A", "STORE 2,3 +FLAGS (\\Deleted)").assert_ok();
    let r = c.send("B", "EXPUNGE");
    r.assert_ok();
    assert!(r.expunged().is_empty(), "{}", r.dump());
    assert_eq!(vanished(&r), ["* VANISHED 2:3"], "{}", r.dump());
    let r = c.send("M", "UID MOVE 5 INBOX.Archive");
    r.assert_ok();
    assert_eq!(vanished(&r), ["* VANISHED 5"], "{}", r.dump());
    let mut other = server.connect();
    other.login();
    other.select("INBOX");
    c.write(b"I IDLE\r\n");
    assert!(c.expect_response().is_continuation());
    other
        .send("O1", "STORE 1 +FLAGS (\\Deleted \\Seen)")
        .assert_ok();
    other.send("O2", "EXPUNGE").assert_ok();
    // A FETCH of the flags may come first; then the expunge, as VANISHED.
    let mut line = c.expect_response();
    while line.text.contains(" FETCH ") {
        line = c.expect_response();
    }
    assert_eq!(line.text, "* VANISHED 1", "{}", c.log.join("\n"));
    c.write(b"DONE\r\n");
    c.read_reply("I", 0).assert_ok();
    other.send("O3", "STORE 1 +FLAGS (\\Answered)").assert_ok();
    let r = c.send("N", "NOOP");
    let t = &r.texts("* 1 FETCH")[0];
    assert!(
        t.contains("UID 4 ") && modseq_in(t).is_some(),
        "{}",
        r.dump()
    );
    other.logout();
    c.logout();
}

/// The expunge memory is bounded (`[imap] vanished_memory`): a client resynchronising from
/// before the oldest remembered expunge gets every UID no longer in the folder (RFC 7162
/// §3.2.5.2: a superset the client filters), never fewer than were expunged; from within
/// the memory the answer is exact.
#[test]
fn past_the_expunge_memory_the_answer_is_a_superset() {
    let mut server = server_with_delivered(8);
    server.set("imap", "vanished_memory", "2");
    let mut c = qresync_session(&mut server);
    c.select("INBOX");
    c.send("D", "UID STORE 1 +FLAGS (\\Deleted)").assert_ok();
    c.send("X", "EXPUNGE").assert_ok();
    let r = c.send("S", "SELECT INBOX");
    let (v, h) = (
        ok_code_number(&r, "UIDVALIDITY").unwrap(),
        highest_modseq(&r),
    );
    let status = |c: &mut Client| {
        let r = c.send("ST", "STATUS INBOX (HIGHESTMODSEQ)");
        let t = r.texts("* STATUS")[0].clone();
        t.rsplit(' ')
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse::<u64>()
            .unwrap()
    };
    let mut after = Vec::new();
    for (i, uid) in [2, 4, 6].iter().enumerate() {
        c.send(
            &format!("D{i}"),
            &format!("UID STORE {uid} +FLAGS (\\Deleted)"),
        )
        .assert_ok();
        c.send(&format!("X{i}"), "EXPUNGE").assert_ok();
        after.push(status(&mut c));
    }
    // From before the memory: every absent UID, the one expunged before `h` too.
    let r = c.send("S2", &format!("SELECT INBOX (QRESYNC ({v} {h}))"));
    r.assert_ok();
    assert_eq!(
        vanished(&r),
        ["* VANISHED (EARLIER) 1:2,4,6"],
        "{}",
        r.dump()
    );
    // From within it: exact.
    let r = c.send("S3", &format!("SELECT INBOX (QRESYNC ({v} {}))", after[0]));
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 4,6"], "{}", r.dump());
    let r = c.send(
        "S4",
        &format!("SELECT INBOX (QRESYNC ({v} {} 5:*))", after[0]),
    );
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 6"], "{}", r.dump());
    c.logout();
}

/// The last messages of a folder expunged (by a session that keeps no mod-sequences, and
/// by one that does) are remembered too, though no message above them is left to show
/// where the folder ends; a message appended meanwhile by another session is not taken
/// for one.
#[test]
fn expunges_at_the_end_of_the_folder_are_remembered() {
    let mut server = server_with_delivered(6);
    let mut c = qresync_session(&mut server);
    let r = c.send("S", "SELECT INBOX");
    let (v, h) = (
        ok_code_number(&r, "UIDVALIDITY").unwrap(),
        highest_modseq(&r),
    );
    c.send("L", "LOGOUT");
    let mut plain = server.connect();
    plain.login();
    plain.select("INBOX");
    plain
        .send("P1", "UID STORE 5:6 +FLAGS (\\Deleted)")
        .assert_ok();
    plain.send("P2", "EXPUNGE").assert_ok();
    plain.logout();
    let mut c = qresync_session(&mut server);
    let r = c.send("S", &format!("SELECT INBOX (QRESYNC ({v} {h}))"));
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 5:6"], "{}", r.dump());
    let h2 = highest_modseq(&r);
    // A session with mod-sequences expunges the (new) last message while another
    // appends one it has not seen yet.
    c.send("D", "UID STORE 4 +FLAGS (\\Deleted)").assert_ok();
    let m = message("x@example.org", "late", "x\r\n");
    let mut other = server.connect();
    other.login();
    other
        .send_parts("A", &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)])
        .assert_ok();
    let r = c.send("X", "EXPUNGE");
    assert_eq!(vanished(&r), ["* VANISHED 4"], "{}", r.dump());
    other.logout();
    let mut d = qresync_session(&mut server);
    let r = d.send("S", &format!("EXAMINE INBOX (QRESYNC ({v} {h2}))"));
    assert_eq!(vanished(&r), ["* VANISHED (EARLIER) 4"], "{}", r.dump());
    assert_eq!(
        changed(&r).iter().map(|c| c.0).collect::<Vec<_>>(),
        [7],
        "the appended message is new, not gone: {}",
        r.dump()
    );
    c.logout();
    d.logout();
}
