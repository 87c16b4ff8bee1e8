//! CONDSTORE (RFC 7162 §3.1) against the real binary: the RFC's examples (with the
//! mod-sequence values postern gives, checked by their relations rather than the RFC's
//! numbers), every response checked by imap-codec with its `ext_condstore_qresync`
//! feature; changes made by another session, by a session that never enabled CONDSTORE
//! and by Courier's imapd are seen with new mod-sequences; the state survives the loss of
//! the index and its own loss never makes mod-sequences go backwards.

mod common;
#[path = "courier/oracle.rs"]
mod oracle;

use common::*;

/// sequence number -> MODSEQ of every FETCH line of the reply.
fn modseqs(r: &Reply) -> Vec<(u32, u64)> {
    r.untagged
        .iter()
        .filter(|l| l.text.contains(" FETCH "))
        .filter_map(|l| {
            let seq = l.text.split(' ').nth(1)?.parse().ok()?;
            Some((seq, modseq_in(&l.text)?))
        })
        .collect()
}

fn msg(n: u32) -> Vec<u8> {
    message("bob@example.org", &format!("m{n}"), "x\r\n")
}

fn session(server: &mut TestServer) -> Client {
    let mut c = server.connect();
    c.login();
    c
}

#[test]
fn condstore_is_advertised() {
    let mut server = TestServer::new();
    let mut c = session(&mut server);
    let r = c.send("C", "CAPABILITY");
    assert!(r.has(" CONDSTORE"), "{}", r.dump());
    c.logout();
}

/// RFC 7162 §3.1.2.1 and §3.1.4: SELECT (CONDSTORE) says HIGHESTMODSEQ; FETCH MODSEQ
/// gives each message's, none above it; a STORE raises one message's above it and its
/// answer carries the new MODSEQ; FETCH (CHANGEDSINCE) returns only that message.
#[test]
fn rfc_select_condstore_fetch_modseq_and_changedsince() {
    let mut server = server_with_delivered(3);
    let mut c = session(&mut server);
    let r = c.send("S", "SELECT INBOX (CONDSTORE)");
    r.assert_ok();
    let h = highest_modseq(&r);
    assert!(h > 0);
    let r = c.send("F1", "FETCH 1:* (FLAGS MODSEQ)");
    r.assert_ok();
    let before = modseqs(&r);
    assert_eq!(before.len(), 3, "{}", r.dump());
    assert!(before.iter().all(|&(_, m)| m <= h && m > 0));
    // RFC 7162 §3.1.3 example 1: the STORE answer carries MODSEQ.
    let r = c.send("ST", "STORE 2 +FLAGS (\\Seen)");
    r.assert_ok();
    let after = modseqs(&r);
    assert_eq!(after.len(), 1, "{}", r.dump());
    assert!(
        after[0].1 > h,
        "a change gets a mod-sequence above HIGHESTMODSEQ"
    );
    // §3.1.4.1: only what changed since h.
    let r = c.send("F2", "FETCH 1:* (FLAGS) (CHANGEDSINCE)");
    r.assert_status("BAD");
    let r = c.send("F3", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h})"));
    r.assert_ok();
    assert_eq!(modseqs(&r), after, "{}", r.dump());
    let r = c.send(
        "F4",
        &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {})", after[0].1),
    );
    r.assert_ok();
    assert!(modseqs(&r).is_empty(), "{}", r.dump());
    // CONDSTORE is on: a plain FETCH FLAGS carries MODSEQ too (RFC 7162 §3.1).
    let r = c.send("F5", "FETCH 2 (FLAGS)");
    assert_eq!(modseqs(&r), after, "{}", r.dump());
    // STATUS HIGHESTMODSEQ (§3.1.2.3) of the selected folder.
    let r = c.send("ST2", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)");
    r.assert_ok();
    assert!(
        r.has(&format!("HIGHESTMODSEQ {}", after[0].1)),
        "{}",
        r.dump()
    );
    c.logout();
}

/// RFC 7162 §3.1.3, examples 4-6: a conditional STORE changes the messages unchanged
/// since the given mod-sequence, names the others in `[MODIFIED]`, and with .SILENT
/// still reports the new MODSEQ; UNCHANGEDSINCE 0 always fails for existing messages.
#[test]
fn rfc_store_unchangedsince() {
    let mut server = server_with_delivered(3);
    let mut c = session(&mut server);
    let h = highest_modseq(&c.send("S", "SELECT INBOX (CONDSTORE)"));
    // Message 2 changes after the client learnt h.
    let r = c.send("A", "STORE 2 +FLAGS (\\Flagged)");
    let m2 = modseqs(&r)[0].1;
    let r = c.send(
        "B",
        &format!("STORE 1:3 (UNCHANGEDSINCE {h}) +FLAGS.SILENT (\\Deleted)"),
    );
    r.assert_ok();
    assert_eq!(r.code(), Some("MODIFIED 2"), "{}", r.dump());
    let silent = modseqs(&r);
    assert_eq!(
        silent.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 3],
        "{}",
        r.dump()
    );
    assert!(silent.iter().all(|s| s.1 > m2));
    assert!(
        r.untagged.iter().all(|l| !l.text.contains("FLAGS")),
        ".SILENT: MODSEQ only\n{}",
        r.dump()
    );
    let r = c.send("C", "FETCH 1:3 (FLAGS)");
    let flags: Vec<bool> = r
        .untagged
        .iter()
        .map(|l| l.text.contains("\\Deleted"))
        .collect();
    assert_eq!(flags, [true, false, true], "{}", r.dump());
    // UID STORE names UIDs; UNCHANGEDSINCE 0 fails for all (§3.1.3).
    let r = c.send("D", "UID STORE 1:* (UNCHANGEDSINCE 0) +FLAGS (\\Answered)");
    assert_eq!(r.code(), Some("MODIFIED 1:3"), "{}", r.dump());
    c.logout();
}

/// RFC 7162 §3.1.3 example 3: two clients that both know a message at the same
/// mod-sequence race to change it; the second one's STORE fails with [MODIFIED].
#[test]
fn rfc_two_clients_conditional_store() {
    let mut server = server_with_delivered(2);
    let mut a = session(&mut server);
    let mut b = session(&mut server);
    a.send("S", "SELECT INBOX (CONDSTORE)").assert_ok();
    b.send("S", "SELECT INBOX (CONDSTORE)").assert_ok();
    let known = modseqs(&b.send("F", "FETCH 1 (MODSEQ)"))[0].1;
    let r = a.send(
        "A",
        &format!("STORE 1 (UNCHANGEDSINCE {known}) +FLAGS (\\Seen)"),
    );
    assert_eq!(r.code(), None, "{}", r.dump());
    let r = b.send(
        "B",
        &format!("STORE 1 (UNCHANGEDSINCE {known}) +FLAGS (\\Deleted)"),
    );
    assert_eq!(r.code(), Some("MODIFIED 1"), "{}", r.dump());
    // B heard of A's change (with its MODSEQ) and did not store.
    assert!(
        r.untagged
            .iter()
            .any(|l| l.text.contains("\\Seen") && modseq_in(&l.text).is_some_and(|m| m > known)),
        "{}",
        r.dump()
    );
    let r = b.send("C", "FETCH 1 (FLAGS)");
    assert!(!r.has("\\Deleted"), "{}", r.dump());
    a.logout();
    b.logout();
}

/// RFC 7162 §3.1.5: SEARCH MODSEQ, with and without the entry name, answers with the
/// highest MODSEQ of what it found; ESEARCH carries it as `MODSEQ n`.
#[test]
fn rfc_search_modseq() {
    let mut server = server_with_delivered(4);
    let mut c = session(&mut server);
    assert!(!c.select("INBOX").has("HIGHESTMODSEQ"), "not enabled yet");
    // SEARCH MODSEQ is a CONDSTORE enabling command: first the HIGHESTMODSEQ.
    let r = c.send("E", "SEARCH MODSEQ 1");
    r.assert_ok();
    assert!(r.has("[HIGHESTMODSEQ "), "{}", r.dump());
    let h = highest_modseq(&r);
    let r = c.send("T", "STORE 2,4 +FLAGS (\\Draft)");
    let m = modseqs(&r).iter().map(|x| x.1).max().unwrap();
    let r = c.send(
        "A",
        &format!("SEARCH MODSEQ \"/flags/\\\\draft\" all {}", h + 1),
    );
    r.assert_ok();
    assert_eq!(r.texts("* SEARCH"), [format!("* SEARCH 2 4 (MODSEQ {m})")]);
    let r = c.send("B", &format!("UID SEARCH RETURN (ALL) MODSEQ {}", h + 1));
    r.assert_ok();
    assert!(
        r.texts("* ESEARCH")[0].ends_with(&format!("UID ALL 2,4 MODSEQ {m}")),
        "{}",
        r.dump()
    );
    let r = c.send("C", &format!("SEARCH MODSEQ {}", m + 1));
    assert_eq!(
        r.texts("* SEARCH"),
        ["* SEARCH"],
        "nothing found: no MODSEQ"
    );
    c.logout();
}

/// RFC 7162 §3.1 and §3.1.2.1: ENABLE CONDSTORE with a folder selected says
/// HIGHESTMODSEQ; from then on another session's changes arrive with MODSEQ, above it.
/// The other session never enabled CONDSTORE: its change is found at the sync.
#[test]
fn enable_while_selected_and_changes_of_a_plain_session() {
    let mut server = server_with_delivered(3);
    let mut a = session(&mut server);
    a.select("INBOX");
    let r = a.send("E", "ENABLE CONDSTORE");
    r.assert_ok();
    assert!(r.has("* ENABLED CONDSTORE"), "{}", r.dump());
    let h = highest_modseq(&r);
    let mut b = session(&mut server);
    b.select("INBOX");
    b.send("B1", "STORE 3 +FLAGS (\\Answered $Work)")
        .assert_ok();
    assert!(
        !b.send("B2", "FETCH 3 (FLAGS)").has("MODSEQ"),
        "plain session"
    );
    let r = a.send("N", "NOOP");
    let seen = modseqs(&r);
    assert_eq!(seen.len(), 1, "{}", r.dump());
    assert_eq!(seen[0].0, 3);
    assert!(seen[0].1 > h);
    // A new session sees the same value (it is the folder's, not the session's).
    let mut c = session(&mut server);
    let r = c.send("S", "EXAMINE INBOX (CONDSTORE)");
    assert_eq!(highest_modseq(&r), seen[0].1);
    let r = c.send("F", &format!("FETCH 1:* (UID) (CHANGEDSINCE {h})"));
    assert_eq!(modseqs(&r), seen, "{}", r.dump());
    // A keyword change alone is a change too.
    b.send("B3", "STORE 1 +FLAGS ($Later)").assert_ok();
    let r = c.send("N", "NOOP");
    let m = modseqs(&r);
    assert_eq!(m.len(), 1, "{}", r.dump());
    assert!(m[0].1 > seen[0].1);
    a.logout();
    b.logout();
    c.logout();
}

/// STATUS HIGHESTMODSEQ of a folder that is not selected follows APPEND, STORE and
/// EXPUNGE made by another session (RFC 7162 §3.1.2.3, §3.2: expunges too).
#[test]
fn status_highestmodseq_follows_every_kind_of_change() {
    let mut server = server_with_delivered(2);
    let mut a = session(&mut server);
    let mut b = session(&mut server);
    let status = |a: &mut Client| {
        let r = a.send("ST", "STATUS INBOX (HIGHESTMODSEQ)");
        r.assert_ok();
        let t = &r.texts("* STATUS")[0];
        t.rsplit(' ')
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse::<u64>()
            .unwrap()
    };
    let h0 = status(&mut a);
    b.select("INBOX");
    b.send("B1", "STORE 1 +FLAGS (\\Flagged)").assert_ok();
    let h1 = status(&mut a);
    assert!(h1 > h0);
    let m = msg(9);
    b.send_parts("B2", &[Part::Text("APPEND INBOX "), Part::LiteralPlus(&m)])
        .assert_ok();
    let h2 = status(&mut a);
    assert!(h2 > h1);
    b.send("B3", "STORE 2 +FLAGS (\\Deleted)").assert_ok();
    b.send("B4", "EXPUNGE").assert_ok();
    let h3 = status(&mut a);
    assert!(h3 > h2, "an expunge raises HIGHESTMODSEQ");
    assert_eq!(status(&mut a), h3, "nothing changed: the same");
    a.logout();
    b.logout();
}

/// The mod-sequences live in `postern-modseq`, not in the index: a lost index changes
/// nothing; a lost `postern-modseq` keeps UIDVALIDITY and gives every message a MODSEQ
/// above anything seen before (never backwards).
#[test]
fn state_survives_the_index_and_its_own_loss_never_goes_backwards() {
    let mut server = server_with_delivered(3);
    let mut c = session(&mut server);
    let r = c.send("S", "SELECT INBOX (CONDSTORE)");
    let uidvalidity = r.one("* OK [UIDVALIDITY").text.clone();
    c.send("T", "STORE 2 +FLAGS (\\Seen)").assert_ok();
    let r = c.send("F", "FETCH 1:* (MODSEQ)");
    let known = modseqs(&r);
    c.logout();
    let dir = server.folder_dir("INBOX");
    let _ = std::fs::remove_file(dir.join("postern-index"));
    let mut c = session(&mut server);
    c.send("S", "SELECT INBOX (CONDSTORE)").assert_ok();
    assert_eq!(modseqs(&c.send("F", "FETCH 1:* (MODSEQ)")), known);
    c.logout();
    std::fs::remove_file(dir.join("postern-modseq")).unwrap();
    let mut c = session(&mut server);
    let r = c.send("S", "SELECT INBOX (CONDSTORE)");
    assert_eq!(r.one("* OK [UIDVALIDITY").text, uidvalidity);
    let top = known.iter().map(|k| k.1).max().unwrap();
    assert!(highest_modseq(&r) > top);
    let again = modseqs(&c.send("F", "FETCH 1:* (MODSEQ)"));
    assert!(again.iter().all(|a| a.1 > top), "{again:?} vs {known:?}");
    c.logout();
}

/// A change Courier's imapd makes on the Maildir (it knows nothing of mod-sequences) is
/// found at postern's next sync and given a MODSEQ above what the client knew.
#[test]
fn courier_changes_get_new_modseqs() {
    let Some(courier) = oracle::Courier::find() else {
        return;
    };
    let mut server = server_with_delivered(3);
    server.give_homes_to_mail_owner();
    let mut a = session(&mut server);
    let h = highest_modseq(&a.send("S", "SELECT INBOX (CONDSTORE)"));
    let mut cur = Client::spawn(courier.imapd_command(&server.maildir), false);
    cur.send("C1", "SELECT INBOX").assert_ok();
    cur.send("C2", "STORE 1 +FLAGS (\\Flagged CourierKw)")
        .assert_ok();
    cur.send("C3", "STORE 3 +FLAGS (\\Deleted)").assert_ok();
    cur.send("C4", "EXPUNGE").assert_ok();
    cur.send("C5", "LOGOUT");
    let r = a.send("N", "NOOP");
    r.assert_ok();
    assert_eq!(r.expunged(), [3], "{}", r.dump());
    let seen = modseqs(&r);
    assert_eq!(seen.len(), 1, "{}", r.dump());
    assert!(seen[0].1 > h && r.has("CourierKw"), "{}", r.dump());
    let r = a.send("F", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h})"));
    assert_eq!(modseqs(&r), seen, "{}", r.dump());
    a.logout();
}

/// RFC 7162 §3.1.2.2: a folder whose mod-sequences cannot be kept (here `postern-modseq`
/// cannot be written: a directory is in its place) says NOMODSEQ; FETCH FLAGS still works,
/// without MODSEQ, and what needs mod-sequences is refused.
#[test]
fn nomodseq_when_the_state_cannot_be_kept() {
    let mut server = server_with_delivered(2);
    let dir = server.folder_dir("INBOX").join("postern-modseq");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep"), b"x").unwrap();
    let mut c = session(&mut server);
    let r = c.send("S", "SELECT INBOX (CONDSTORE)");
    r.assert_ok();
    assert!(
        r.has("* OK [NOMODSEQ]") && !r.has("HIGHESTMODSEQ"),
        "{}",
        r.dump()
    );
    let r = c.send("F", "FETCH 1:* (FLAGS)");
    r.assert_ok();
    assert!(!r.has("MODSEQ"), "{}", r.dump());
    c.send("M", "FETCH 1 (MODSEQ)").assert_status("BAD");
    c.send("U", "STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)")
        .assert_status("BAD");
    c.send("T", "STORE 1 +FLAGS (\\Seen)").assert_ok();
    c.logout();
}

/// A FETCH that sets \Seen implicitly (BODY[]) reports the flag change with MODSEQ, and
/// the mod-sequence the change got follows in an unsolicited FETCH before the tagged OK:
/// a client that keeps the last MODSEQ it heard has the right one.
#[test]
fn implicit_seen_gets_its_modseq_reported() {
    let mut server = server_with_delivered(2);
    let mut c = session(&mut server);
    let h = highest_modseq(&c.send("S", "SELECT INBOX (CONDSTORE)"));
    let r = c.send("F", "FETCH 2 BODY[]");
    r.assert_ok();
    assert!(r.has("\\Seen"), "{}", r.dump());
    let last = modseqs(&r).last().copied().unwrap();
    assert_eq!(last.0, 2);
    assert!(last.1 > h, "{}", r.dump());
    let r = c.send("M", "FETCH 2 (MODSEQ)");
    assert_eq!(modseqs(&r), [last]);
    let r = c.send("P", "FETCH 1 BODY.PEEK[]");
    assert_eq!(
        modseqs(&r).len(),
        0,
        "a peek reports no MODSEQ: {}",
        r.dump()
    );
    c.logout();
}
