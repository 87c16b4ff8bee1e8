//! Many sessions on one Maildir (issue 12, "Between sessions"): flag and keyword changes
//! are applied to what is on disk, so none is lost; \Recent belongs to exactly one
//! session, the first to see a message; a folder name never gets a UIDVALIDITY again.
//! Each session is its own `postern imapd --inetd` process, as in production.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

fn msg(n: u32) -> Vec<u8> {
    message("bob@example.org", &format!("m{n}"), "x\r\n")
}

/// The FLAGS of message `seq` as a set, after a NOOP (so the session synced first).
fn flags_of(c: &mut Client, tag: &str, seq: u32) -> BTreeSet<String> {
    c.send(&format!("{tag}n"), "NOOP").assert_ok();
    let r = c.send(tag, &format!("FETCH {seq} FLAGS"));
    r.assert_ok();
    r.fetch(seq).flags().unwrap().into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn append(c: &mut Client, tag: &str, folder: &str, m: &[u8]) {
    c.send_parts(
        tag,
        &[Part::Text(&format!("APPEND {folder} ")), Part::Literal(m)],
    )
    .assert_ok();
}

// ---- 1. A flag change is never lost --------------------------------------------------

/// Both sessions STORE before either learns of the other's change: each delta lands on
/// the message as it is on disk, not on what the session saw at SELECT.
#[test]
fn concurrent_store_deltas_both_survive() {
    let server = TestServer::new();
    server.put("INBOX", "cur", "1700000000.M1P1.test", "S", &msg(1));
    let (mut setup, _) = server.session("INBOX");
    setup.send("s1", "STORE 1 +FLAGS.SILENT ($Old)").assert_ok();
    setup.logout();

    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    a.send("a1", "STORE 1 +FLAGS (\\Answered $A)").assert_ok();
    let r = b.send("b1", "STORE 1 -FLAGS (\\Seen $Old)");
    r.assert_ok();
    // b's own FETCH already shows a's change: it was applied to the state on disk.
    let shown: BTreeSet<String> = r.fetch(1).flags().unwrap().into_iter().collect();
    let expected = set(&["\\Answered", "$A"]);
    assert_eq!(shown, expected, "{}", r.dump());
    assert_eq!(flags_of(&mut a, "a2", 1), expected);
    assert_eq!(flags_of(&mut b, "b2", 1), expected);
    let (mut fresh, _) = server.session("INBOX");
    assert_eq!(flags_of(&mut fresh, "f1", 1), expected);
    for c in [a, b, fresh] {
        c.logout();
    }
}

/// `.SILENT` still reports flags another session changed, when this STORE folded them in.
#[test]
fn silent_store_reports_what_others_changed() {
    let server = TestServer::new();
    server.put("INBOX", "cur", "1700000000.M1P1.test", "", &msg(1));
    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    a.send("a1", "STORE 1 +FLAGS.SILENT (\\Flagged)")
        .assert_ok();
    let r = b.send("b1", "STORE 1 +FLAGS.SILENT (\\Seen)");
    r.assert_ok();
    let shown: BTreeSet<String> = r.fetch(1).flags().unwrap().into_iter().collect();
    assert_eq!(shown, set(&["\\Flagged", "\\Seen"]), "{}", r.dump());
    a.logout();
    b.logout();
}

/// STORE FLAGS replaces: the result is exactly the given set, whatever another session
/// added meanwhile (\Passed, which IMAP cannot name, stays).
#[test]
fn store_replace_is_exact_on_the_current_state() {
    let server = TestServer::new();
    server.put("INBOX", "cur", "1700000000.M1P1.test", "P", &msg(1));
    let (mut a, _) = server.session("INBOX");
    let (mut b, _) = server.session("INBOX");
    a.send("a1", "STORE 1 +FLAGS (\\Flagged $A)").assert_ok();
    b.send("b1", "STORE 1 FLAGS (\\Seen $B)").assert_ok();
    assert_eq!(flags_of(&mut a, "a2", 1), set(&["\\Seen", "$B"]));
    assert_eq!(
        server.files("INBOX", "cur"),
        ["1700000000.M1P1.test,S=".to_string() + &msg(1).len().to_string() + ":2,PS"]
    );
    a.logout();
    b.logout();
}

/// N sessions each toggle their own flag or keyword on the same messages K times, all at
/// once; at the end every message has exactly the flags of the sessions whose last
/// change was an add.
#[test]
fn hammer_distinct_flags_from_many_sessions() {
    const MESSAGES: u32 = 10;
    const ROUNDS: usize = 20;
    let names = [
        "\\Answered",
        "\\Flagged",
        "\\Draft",
        "\\Seen",
        "$k0",
        "$k1",
        "Label2",
        "Label3",
    ];
    let server = TestServer::new();
    for n in 1..=MESSAGES {
        server.put(
            "INBOX",
            "cur",
            &format!("17000000{n:02}.M{n}P1.test"),
            "",
            &msg(n),
        );
    }
    let clients: Vec<Client> = names.iter().map(|_| server.session("INBOX").0).collect();
    let barrier = Arc::new(Barrier::new(names.len()));
    let started = std::time::Instant::now();
    let results: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .zip(names)
            .enumerate()
            .map(|(i, (mut c, name))| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let (mut stores, mut refused) = (0, 0);
                    for round in 0..ROUNDS {
                        for (sign, what) in [("+", "add"), ("-", "remove")] {
                            let tag = format!("c{i}r{round}{what}");
                            let r = c.send(&tag, &format!("STORE 1:* {sign}FLAGS.SILENT ({name})"));
                            stores += 1;
                            if !r.is_ok() {
                                refused += 1;
                            }
                        }
                    }
                    // Even sessions end with their flag set, odd ones without.
                    if i % 2 == 0 {
                        let r = c.send(
                            &format!("c{i}last"),
                            &format!("STORE 1:* +FLAGS.SILENT ({name})"),
                        );
                        stores += 1;
                        if !r.is_ok() {
                            refused += 1;
                        }
                    }
                    c.logout();
                    (stores, refused)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let stores: usize = results.iter().map(|r| r.0).sum();
    let refused: usize = results.iter().map(|r| r.1).sum();
    let expected: BTreeSet<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let (mut check, _) = server.session("INBOX");
    let r = check.send("k1", &format!("FETCH 1:{MESSAGES} FLAGS"));
    r.assert_ok();
    let mut wrong = 0;
    for seq in 1..=MESSAGES {
        let got: BTreeSet<String> = r.fetch(seq).flags().unwrap().into_iter().collect();
        if got != expected {
            wrong += 1;
            eprintln!("message {seq}: {got:?}, expected {expected:?}");
        }
    }
    eprintln!(
        "hammer: {} sessions x {MESSAGES} messages, {stores} STOREs in {elapsed:?}, \
         {refused} refused, {wrong} messages with a lost change",
        names.len()
    );
    assert_eq!(refused, 0, "every STORE succeeds");
    assert_eq!(wrong, 0, "no change lost");
    check.logout();
}

// ---- 2. \Recent in exactly one session ---------------------------------------------

fn recent(r: &Reply) -> Vec<u32> {
    r.numbered("RECENT")
}

/// Delivered mail is \Recent in the first session that selects the folder, and mail that
/// arrives later in the first session that syncs, not in both.
#[test]
fn recent_belongs_to_the_first_session() {
    let server = TestServer::new();
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    let (mut a, sel) = server.session("INBOX");
    assert_eq!(recent(&sel), [2], "{}", sel.dump());
    assert_eq!(a.send("a1", "SEARCH RECENT").search(), [1, 2]);
    let (mut b, sel) = server.session("INBOX");
    assert_eq!(recent(&sel), [0], "{}", sel.dump());
    assert!(b.send("b1", "SEARCH RECENT").search().is_empty());
    assert_eq!(b.send("b2", "SEARCH OLD").search(), [1, 2]);

    server.deliver(None, &msg(3));
    let r = b.send("b3", "NOOP");
    assert_eq!((r.exists(), recent(&r)), (vec![3], vec![1]), "{}", r.dump());
    let r = a.send("a2", "NOOP");
    assert_eq!((r.exists(), recent(&r)), (vec![3], vec![2]), "{}", r.dump());
    assert_eq!(a.send("a3", "SEARCH RECENT").search(), [1, 2]);
    assert_eq!(a.send("a4", "SEARCH NEW").search(), [1, 2]);
    assert_eq!(b.send("b4", "SEARCH RECENT").search(), [3]);
    assert_eq!(b.send("b5", "SEARCH OLD").search(), [1, 2]);
    let r = b.send("b6", "FETCH 3 FLAGS");
    assert!(r.has("\\Recent"), "{}", r.dump());
    a.logout();
    b.logout();
}

/// EXAMINE and STATUS show unclaimed mail as recent without claiming it.
#[test]
fn examine_and_status_do_not_claim() {
    let server = TestServer::new();
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    let mut c = server.inetd();
    c.login();
    let status = |c: &mut Client, tag: &str| {
        let r = c.send(tag, "STATUS INBOX (MESSAGES RECENT)");
        r.assert_ok();
        status_items(&r)["RECENT"]
    };
    assert_eq!(status(&mut c, "s1"), 2);
    let r = c.send("e1", "EXAMINE INBOX");
    assert_eq!(recent(&r), [2], "{}", r.dump());
    assert_eq!(c.send("e2", "SEARCH RECENT").search(), [1, 2]);
    c.send("e3", "UNSELECT").assert_ok();
    assert_eq!(status(&mut c, "s2"), 2);
    let r = c.send("x1", "SELECT INBOX");
    assert_eq!(recent(&r), [2], "{}", r.dump());
    c.send("x2", "UNSELECT").assert_ok();
    assert_eq!(status(&mut c, "s3"), 0);
    let r = c.send("x3", "SELECT INBOX");
    assert_eq!(recent(&r), [0], "{}", r.dump());
    c.logout();
}

/// APPEND, COPY and MOVE into a folder by one session make the mail recent for the first
/// session that selects it: STATUS counts it until then.
#[test]
fn append_copy_move_are_recent_for_the_next_selector() {
    let server = TestServer::new();
    server.make_folder("Sub");
    server.deliver(None, &msg(1));
    server.deliver(None, &msg(2));
    let (mut a, _) = server.session("INBOX");
    let status = |c: &mut Client, tag: &str| {
        let r = c.send(tag, "STATUS INBOX.Sub (RECENT)");
        r.assert_ok();
        status_items(&r)["RECENT"]
    };
    append(&mut a, "a1", "INBOX.Sub", &msg(10));
    assert_eq!(status(&mut a, "a2"), 1);
    a.send("a3", "COPY 1 INBOX.Sub").assert_ok();
    assert_eq!(status(&mut a, "a4"), 2);
    a.send("a5", "MOVE 2 INBOX.Sub").assert_ok();
    assert_eq!(status(&mut a, "a6"), 3);
    let (mut b, sel) = server.session("INBOX.Sub");
    assert_eq!(recent(&sel), [3], "{}", sel.dump());
    assert_eq!(b.send("b1", "SEARCH RECENT").search(), [1, 2, 3]);
    assert_eq!(status(&mut a, "a7"), 0);
    // Mail appended to the folder b has selected is recent in b (it syncs first).
    append(&mut a, "a8", "INBOX.Sub", &msg(11));
    let r = b.send("b2", "NOOP");
    assert_eq!((r.exists(), recent(&r)), (vec![4], vec![4]), "{}", r.dump());
    let (_, sel) = server.session("INBOX.Sub");
    assert_eq!(recent(&sel), [0], "{}", sel.dump());
    a.logout();
    b.logout();
}

/// Many sessions select the folder at once: every message, delivered or APPENDed, is
/// \Recent in exactly one.
#[test]
fn recent_claimed_exactly_once_under_concurrent_selects() {
    const SESSIONS: usize = 8;
    const MESSAGES: u32 = 6;
    let server = TestServer::new();
    let mut appender = server.inetd();
    appender.login();
    for n in 1..=MESSAGES {
        if n % 2 == 0 {
            append(&mut appender, &format!("p{n}"), "INBOX", &msg(n));
        } else {
            server.deliver(None, &msg(n));
        }
    }
    appender.logout();
    let mut clients: Vec<Client> = (0..SESSIONS)
        .map(|_| {
            let mut c = server.inetd();
            c.login();
            c
        })
        .collect();
    let barrier = Arc::new(Barrier::new(SESSIONS));
    let seen: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let sel = c.send(&format!("s{i}"), "SELECT INBOX");
                    sel.assert_ok();
                    let ids = c.send(&format!("r{i}"), "SEARCH RECENT").search();
                    assert_eq!(recent(&sel), [ids.len() as u32], "{}", sel.dump());
                    ids
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u32> = seen.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=MESSAGES).collect::<Vec<_>>(),
        "each recent exactly once"
    );
    for c in clients {
        c.logout();
    }
}

/// A session killed right after its SELECT took the claim: no later session sees those
/// messages as recent again.
#[test]
fn killed_session_keeps_its_claim() {
    let server = TestServer::new();
    server.deliver(None, &msg(1));
    let (a, sel) = server.session("INBOX");
    assert_eq!(recent(&sel), [1]);
    drop(a); // kills the session process (SIGKILL)
    let (b, sel) = server.session("INBOX");
    assert_eq!(recent(&sel), [0], "{}", sel.dump());
    b.logout();
}

// ---- 5. UIDVALIDITY never repeats for a name ------------------------------------------

fn uid_validity(c: &mut Client, tag: &str, folder: &str) -> u64 {
    let r = c.send(tag, &format!("STATUS {folder} (UIDVALIDITY)"));
    r.assert_ok();
    status_items(&r)["UIDVALIDITY"]
}

#[test]
fn delete_create_loop_gives_new_larger_uidvalidity() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    let mut seen = Vec::new();
    for i in 0..6 {
        c.send(&format!("c{i}"), "CREATE INBOX.Again").assert_ok();
        seen.push(uid_validity(&mut c, &format!("s{i}"), "INBOX.Again"));
        c.send(&format!("d{i}"), "DELETE INBOX.Again").assert_ok();
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    c.logout();
}

#[test]
fn rename_away_and_back_gives_new_larger_uidvalidity() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    c.send("c0", "CREATE INBOX.A").assert_ok();
    let mut seen = vec![uid_validity(&mut c, "s0", "INBOX.A")];
    for i in 0..4 {
        c.send(&format!("r{i}"), "RENAME INBOX.A INBOX.B")
            .assert_ok();
        seen.push(uid_validity(&mut c, &format!("b{i}"), "INBOX.B"));
        // A new folder under the old name meanwhile gets its own value too.
        c.send(&format!("c{i}"), "CREATE INBOX.A").assert_ok();
        seen.push(uid_validity(&mut c, &format!("n{i}"), "INBOX.A"));
        c.send(&format!("d{i}"), "DELETE INBOX.A").assert_ok();
        c.send(&format!("k{i}"), "RENAME INBOX.B INBOX.A")
            .assert_ok();
        seen.push(uid_validity(&mut c, &format!("a{i}"), "INBOX.A"));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    // The file Courier reads keeps its format: `1 <uidvalidity> <nextuid>`.
    let db =
        std::fs::read_to_string(server.folder_dir("INBOX.A").join("courierimapuiddb")).unwrap();
    let header: Vec<&str> = db.lines().next().unwrap().split(' ').collect();
    assert_eq!(header.len(), 3);
    assert_eq!(header[0], "1");
    assert_eq!(header[1].parse::<u64>().unwrap(), *seen.last().unwrap());
    c.logout();
}

/// RENAME gives the folder a new UIDVALIDITY but keeps its UIDs, so what was unclaimed
/// stays unclaimed and what was claimed stays claimed.
#[test]
fn rename_keeps_recent_claims() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    c.send("c1", "CREATE INBOX.A").assert_ok();
    append(&mut c, "p1", "INBOX.A", &msg(1));
    let (a, sel) = server.session("INBOX.A");
    assert_eq!(recent(&sel), [1], "{}", sel.dump());
    a.logout();
    append(&mut c, "p2", "INBOX.A", &msg(2));
    c.send("r1", "RENAME INBOX.A INBOX.B").assert_ok();
    let r = c.send("s1", "STATUS INBOX.B (RECENT)");
    assert_eq!(status_items(&r)["RECENT"], 1, "{}", r.dump());
    let sel = c.send("x1", "SELECT INBOX.B");
    assert_eq!(recent(&sel), [1], "{}", sel.dump());
    assert_eq!(c.send("x2", "SEARCH RECENT").search(), [2]);
    c.logout();
}

// ---- A UID database read from its tail ----------------------------------------------

/// The UIDs `FETCH 1:* (UID)` gives, in sequence order.
fn all_uids(c: &mut Client, tag: &str) -> Vec<u32> {
    let r = c.send(tag, "FETCH 1:* (UID)");
    r.assert_ok();
    r.untagged.iter().filter_map(|l| l.fetch_uid()).collect()
}

/// `count` read messages in INBOX's cur/, with names long enough that their UID database
/// passes the size from which it is read from its tail (64 kB) at 2,000.
fn put_old_mail(server: &TestServer, count: u32) {
    for i in 0..count {
        let unique = format!("1700000000.M{i}P1.a-long-host-name-for-a-large-database");
        server.put("INBOX", "cur", &unique, "S", &msg(i));
    }
}

/// In a folder whose UID database is large enough that a session numbering new mail reads
/// only the lines added since it last read the file: one session taking deliveries out of
/// new/, another APPENDing, and deliveries landing, all at once, never give a UID twice
/// or leave a message out, and every session ends with a fresh session's view.
#[test]
fn sessions_reading_a_large_uid_database_from_its_tail_agree() {
    const OLD: u32 = 2000;
    const ROUNDS: u32 = 15;
    let server = TestServer::new();
    put_old_mail(&server, OLD);
    let (mut taker, sel) = server.session("INBOX");
    sel.assert_ok();
    let db_path = server.folder_dir("INBOX").join("courierimapuiddb");
    let db_len = std::fs::metadata(&db_path).unwrap().len();
    assert!(
        db_len > 64 * 1024,
        "too small to be read from its tail: {db_len}"
    );
    let (mut appender, _) = server.session("INBOX");

    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..ROUNDS {
                append(&mut appender, &format!("p{i}"), "INBOX", &msg(10_000 + i));
            }
        });
        scope.spawn(|| {
            for i in 0..ROUNDS {
                let unique = format!("1800000000.M{i}P2.delivered");
                server.put("INBOX", "new", &unique, "", &msg(20_000 + i));
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
        });
        for i in 0..2 * ROUNDS {
            taker.send(&format!("n{i}"), "NOOP").assert_ok();
        }
    });

    let (mut fresh, _) = server.session("INBOX");
    let expected = all_uids(&mut fresh, "f1");
    assert_eq!(expected.len(), (OLD + 2 * ROUNDS) as usize);
    assert!(expected.windows(2).all(|w| w[0] < w[1]), "{expected:?}");
    for (c, name) in [(&mut taker, "t"), (&mut appender, "a")] {
        c.send(&format!("{name}n"), "NOOP").assert_ok();
        let seen = all_uids(c, &format!("{name}f"));
        let missing: Vec<&u32> = expected.iter().filter(|u| !seen.contains(u)).collect();
        let extra: Vec<&u32> = seen.iter().filter(|u| !expected.contains(u)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: missing {missing:?}, extra {extra:?}"
        );
    }
    let db = std::fs::read_to_string(&db_path).unwrap();
    let mut lines = db.lines();
    let next: u32 = lines
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut uids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for line in lines {
        let (uid, name) = line.split_once(' ').unwrap();
        assert!(
            uids.insert(uid.parse::<u32>().unwrap()),
            "UID twice: {line}"
        );
        assert!(names.insert(name.to_string()), "name twice: {name}");
    }
    assert!(next > *uids.last().unwrap());
    for c in [taker, appender, fresh] {
        c.logout();
    }
}

/// Bytes a process has read through read(2) and its kind, from /proc/PID/io.
fn bytes_read_by(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("the session is alive");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar in /proc/PID/io")
}

/// A large folder with no index yet and a delivery waiting in new/: the session that
/// lists it whole moves the delivery and makes the UID database after its look, and
/// leaves an index all the same (checked by a second listing), so the next session does
/// not list it again. Without that, a folder that gets mail before every login was
/// listed whole by every session.
#[test]
fn the_first_listing_of_a_large_folder_leaves_an_index_despite_its_own_moves() {
    let server = TestServer::new();
    put_old_mail(&server, 6000);
    std::thread::sleep(std::time::Duration::from_millis(100));
    server.put(
        "INBOX",
        "new",
        "1800000000.M1P2.delivered",
        "",
        &msg(20_000),
    );
    let (first, sel) = server.session("INBOX");
    assert_eq!(sel.exists(), [6001], "{}", sel.dump());
    first.logout();
    let folder = server.folder_dir("INBOX");
    assert!(
        folder.join("postern-index").exists(),
        "no index after the first listing"
    );
    let (mut next, sel) = server.session("INBOX");
    assert_eq!(sel.exists(), [6001], "{}", sel.dump());
    let uids = all_uids(&mut next, "a");
    assert_eq!(uids.last(), Some(&6001));
    next.logout();
}

/// Each connection is a new process: one that opens a large folder right after a
/// delivery numbers the delivery from the end of the UID database, because what an
/// earlier process read of it is kept beside it (`postern-uidnames`), so it reads a small
/// part of the database's bytes, and the UIDs are the ones a fresh session agrees on.
#[test]
fn a_new_session_numbers_a_delivery_without_reading_the_whole_uid_database() {
    const OLD: u32 = 6000;
    const ROUNDS: u32 = 5;
    let server = TestServer::new();
    put_old_mail(&server, OLD);
    // The first session numbers the messages (making the UID database and the keyword
    // directory after its look, so it saves no index); once that has settled, the second
    // one leaves the index the rounds start from. Without it, each session that moves a
    // delivery out of new/ lists the folder whole again; only a slower machine's first
    // session, looking more than 25 ms after the last change, left one by itself.
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (first, sel) = server.session("INBOX");
        assert_eq!(sel.exists(), [OLD], "{}", sel.dump());
        first.logout();
    }
    assert!(server.folder_dir("INBOX").join("postern-index").exists());
    let folder = server.folder_dir("INBOX");
    let db_len = std::fs::metadata(folder.join("courierimapuiddb"))
        .unwrap()
        .len();
    assert!(
        db_len > 64 * 1024,
        "too small to be read from its tail: {db_len}"
    );

    // The first session lists the new folder whole and writes the database; the next
    // number given reads it whole and saves what it read; the processes after it read
    // its tail.
    for round in 1..=ROUNDS {
        // Mail arrives after the last session's changes have settled (a folder changed
        // within the file system's clock tick is listed whole, whatever it holds).
        std::thread::sleep(std::time::Duration::from_millis(100));
        let unique = format!("1800000000.M{round}P2.delivered");
        server.put("INBOX", "new", &unique, "", &msg(20_000 + round));
        let mut c = server.inetd();
        c.login();
        let pid = server.last_session_pid();
        let before = bytes_read_by(pid);
        let sel = c.select("INBOX");
        let read = bytes_read_by(pid) - before;
        assert_eq!(sel.exists(), [OLD + round], "{}", sel.dump());
        assert!(
            round <= 2 || read < db_len / 4,
            "round {round}: SELECT read {read} bytes, the UID database has {db_len}"
        );
        let r = c.send("f", &format!("FETCH {} UID", OLD + round));
        assert!(r.has(&format!("UID {}", OLD + round)), "{}", r.dump());
        c.logout();
    }
    let (mut fresh, _) = server.session("INBOX");
    let uids = all_uids(&mut fresh, "a");
    assert_eq!(uids.len(), (OLD + ROUNDS) as usize);
    assert_eq!(uids.last(), Some(&(OLD + ROUNDS)));
    fresh.logout();
}
