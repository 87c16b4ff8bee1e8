//! postern appends new UIDs to `courierimapuiddb` instead of rewriting it (header first,
//! then the lines; see src/store/uiddb.rs); these tests check that form against the real
//! Courier-IMAP 5.0.13 of Debian 12 (unpacked by tests/courier/fetch-courier.sh, as for
//! tests/courier_interop.rs; without it every test prints `SKIP: ...` and passes):
//!
//! * on a folder of thousands of messages, postern APPENDs one by one (the file keeps its
//!   inode: appended, not replaced), Courier shows the same UIDs and UIDNEXT and APPENDs
//!   its own, postern shows Courier's, several times over;
//! * the states a crash in the middle of an append leaves (header written, lines not; a
//!   torn last line) are read by Courier and postern alike, without a UID reused;
//! * the fact the order rests on: Courier takes the next UID from the header alone, so a
//!   header behind the lines would make it hand out a UID a line already has.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::skip::skip;
use common::{Client, Part, Reply, TestServer, USER, owner};

/// The unpacked Debian packages of Courier-IMAP.
struct Courier {
    root: PathBuf,
}

impl Courier {
    /// The unpacked tree when its `imapd` runs here; `None` after a `SKIP:` line.
    fn find() -> Option<Courier> {
        let dir = std::env::var_os("POSTERN_COURIER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-courier"));
        let c = Courier {
            root: dir.join("root"),
        };
        if !c.imapd().is_file() {
            skip(&format!(
                "{} is missing; run tests/courier/fetch-courier.sh (Debian 12 apt) or set \
                 POSTERN_COURIER_DIR",
                c.imapd().display()
            ));
            return None;
        }
        let probe = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(probe.path());
        let md = probe.path().join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        let out = c
            .command(&md)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(b"a LOGOUT\r\n")?;
                child.wait_with_output()
            });
        match out {
            Ok(o) if String::from_utf8_lossy(&o.stdout).contains("* PREAUTH") => Some(c),
            Ok(o) => {
                skip(&format!(
                    "Courier's imapd does not run here: status {}, stderr {:?}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                ));
                None
            }
            Err(e) => {
                skip(&format!("cannot start Courier's imapd: {e}"));
                None
            }
        }
    }

    fn imapd(&self) -> PathBuf {
        self.root.join("usr/bin/imapd")
    }

    /// `imapd Maildir`, a PREAUTH session on stdin/stdout as the mail owner, in the
    /// environment of tests/courier_interop.rs (no locks: no FAM daemon here).
    fn command(&self, maildir: &Path) -> Command {
        owner::give_to_mail_owner(maildir);
        let mut c = Command::new(self.imapd());
        if let Some((uid, gid)) = owner::mail_owner() {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env(
                "LD_LIBRARY_PATH",
                format!(
                    "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
                    self.root.display()
                ),
            )
            .env("AUTHENTICATED", USER)
            .env("TCPREMOTEIP", "127.0.0.1")
            .env("TCPREMOTEPORT", "1")
            .env("IMAP_CAPABILITY", "IMAP4rev1 UIDPLUS")
            .env("IMAP_KEYWORDS", "1")
            .env("IMAP_USELOCKS", "0")
            .env("IMAP_ENHANCEDIDLE", "0")
            .env("IMAP_SHAREDINDEXFILE", "/nonexistent/courier/shared/index")
            .arg(maildir);
        c
    }

    fn session(&self, maildir: &Path) -> Client {
        let mut c = Client::spawn(self.command(maildir), false);
        // "* OK [ALERT] Filesystem notification ..." may come first.
        let mut l = c.greeting.text.clone();
        while !l.starts_with("* PREAUTH") {
            assert!(l.starts_with("* "), "Courier greeting: {l:?}");
            l = c.expect_response().text;
        }
        c
    }
}

/// UIDVALIDITY, UIDNEXT (from STATUS: Courier 5.0.13's SELECT has none) and UID → Subject.
#[derive(Debug, PartialEq, Eq)]
struct View {
    uidvalidity: u64,
    uidnext: u64,
    subjects: BTreeMap<u32, String>,
}

fn status_item(r: &Reply, name: &str) -> u64 {
    let line = r
        .untagged
        .iter()
        .find(|l| l.text.starts_with("* STATUS "))
        .unwrap_or_else(|| panic!("no STATUS: {}", r.dump()));
    let items = &line.text[line.text.rfind('(').unwrap() + 1..];
    let mut words = items.trim_end_matches(')').split(' ');
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case(name) {
            return words.next().unwrap().parse().unwrap();
        }
    }
    panic!("no {name} in {}", line.text)
}

fn view(c: &mut Client) -> View {
    let st = c.send("v1", "STATUS INBOX (UIDNEXT UIDVALIDITY)");
    assert!(st.is_ok(), "{}", st.dump());
    let sel = c.send("v2", "SELECT INBOX");
    assert!(sel.is_ok(), "{}", sel.dump());
    let f = c.send(
        "v3",
        "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    assert!(f.is_ok(), "{}", f.dump());
    let mut subjects = BTreeMap::new();
    for l in &f.untagged {
        let Some(header) = l.literals.first() else {
            continue;
        };
        let uid = l.fetch_uid().expect("UID in FETCH");
        let subject = String::from_utf8_lossy(header)
            .trim()
            .trim_start_matches("Subject: ")
            .to_string();
        assert!(subjects.insert(uid, subject).is_none(), "UID {uid} twice");
    }
    let close = c.send("v4", "CLOSE");
    assert!(close.is_ok(), "{}", close.dump());
    View {
        uidvalidity: status_item(&st, "UIDVALIDITY"),
        uidnext: status_item(&st, "UIDNEXT"),
        subjects,
    }
}

/// One APPEND with a synchronizing literal; the UID of its APPENDUID.
fn append(c: &mut Client, tag: &str, subject: &str) -> u32 {
    let msg = format!("Subject: {subject}\r\n\r\nbody of {subject}\r\n");
    let r = c.send_parts(
        tag,
        &[
            Part::Text("APPEND INBOX (\\Seen) "),
            Part::Literal(msg.as_bytes()),
        ],
    );
    assert!(r.is_ok(), "{}", r.dump());
    r.tagged
        .text
        .split("[APPENDUID ")
        .nth(1)
        .and_then(|s| s.split([' ', ']']).nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no APPENDUID: {}", r.tagged.text))
}

/// `count` APPENDs by `who` (`postern` or `courier`) in `round`, each of which must get
/// the next UID; `expected` follows them.
fn append_in_turn(c: &mut Client, who: &str, round: u32, count: u32, expected: &mut View) {
    for n in 0..count {
        let subject = format!("{who}-{round}-{n}");
        let uid = append(c, &format!("{}{round}{n}", &who[..1]), &subject);
        assert_eq!(u64::from(uid), expected.uidnext, "{subject}");
        expected.subjects.insert(uid, subject);
        expected.uidnext += 1;
    }
}

fn uiddb_inode(server: &TestServer) -> u64 {
    std::fs::metadata(server.maildir.join("courierimapuiddb"))
        .unwrap()
        .ino()
}

/// A folder of `count` messages in cur/, numbered by a first postern SELECT.
fn large_inbox(server: &TestServer, count: u32) -> View {
    for n in 0..count {
        let msg = format!("Subject: old-{n}\r\n\r\nbody\r\n");
        server.put(
            "INBOX",
            "cur",
            &format!("{}.M{n}P1.interop", 1_700_000_000 + n),
            "S",
            msg.as_bytes(),
        );
    }
    let mut c = server.inetd();
    c.login();
    let v = view(&mut c);
    c.logout();
    assert_eq!(v.subjects.len(), count as usize);
    v
}

#[test]
fn postern_and_courier_append_in_turn_to_a_large_folder() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let server = TestServer::new();
    let mut expected = large_inbox(&server, 3000);
    assert_eq!(expected.uidnext, 3001);
    for round in 0..3 {
        // postern: one APPEND after another, each appended to the database in place.
        let inode = uiddb_inode(&server);
        let mut p = server.inetd();
        p.login();
        append_in_turn(&mut p, "postern", round, 4, &mut expected);
        assert_eq!(
            uiddb_inode(&server),
            inode,
            "round {round}: postern replaced courierimapuiddb instead of appending"
        );
        assert_eq!(view(&mut p), expected, "postern, round {round}");
        p.logout();

        // Courier sees postern's UIDs and UIDNEXT, and goes on from there.
        let mut c = courier.session(&server.maildir);
        assert_eq!(view(&mut c), expected, "Courier, round {round}");
        append_in_turn(&mut c, "courier", round, 2, &mut expected);
        assert_eq!(
            view(&mut c),
            expected,
            "Courier after its APPENDs, round {round}"
        );
        drop(c);

        // postern sees Courier's.
        let mut p = server.inetd();
        p.login();
        assert_eq!(
            view(&mut p),
            expected,
            "postern after Courier, round {round}"
        );
        p.logout();
    }
}

/// One postern session stays logged in while Courier appends and expunges in between:
/// after its first APPENDs it reads only the tail of the large database
/// (src/store/uiddb/known.rs), and that must end when Courier replaces the file (here
/// also without a line in its middle). Each of its later APPENDs gets the UID after
/// Courier's, and its view and Courier's stay the same.
#[test]
fn a_postern_session_appending_between_couriers_writes() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let server = TestServer::new();
    let mut expected = large_inbox(&server, 3000);
    let mut p = server.inetd();
    p.login();
    for round in 0..3 {
        append_in_turn(&mut p, "postern", round, 4, &mut expected);
        let inode = uiddb_inode(&server);
        let mut c = courier.session(&server.maildir);
        append_in_turn(&mut c, "courier", round, 2, &mut expected);
        // An old message expunged: Courier's file loses a line in the middle.
        let gone = 100 + round;
        flag_and_expunge(&mut c, None, gone);
        expected.subjects.remove(&gone);
        assert_eq!(view(&mut c), expected, "Courier, round {round}");
        drop(c);
        assert_ne!(
            uiddb_inode(&server),
            inode,
            "Courier wrote the database in place: the tail reading rests on it replacing it"
        );
    }
    assert_eq!(view(&mut p), expected, "the long postern session");
    p.logout();
}

/// The database after postern appended `subject` to a folder of three messages, and the
/// byte offset where that last line starts.
fn after_one_append(server: &TestServer, subject: &str) -> (Vec<u8>, usize) {
    large_inbox(server, 3);
    let mut p = server.inetd();
    p.login();
    assert_eq!(append(&mut p, "a1", subject), 4);
    p.logout();
    let text = std::fs::read(server.maildir.join("courierimapuiddb")).unwrap();
    let last = text[..text.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    assert!(text.starts_with(b"1 ") && text[last..].starts_with(b"4 "));
    (text, last)
}

#[test]
fn courier_and_postern_read_a_crashed_append_alike() {
    let Some(courier) = Courier::find() else {
        return;
    };
    // The states a kill -9 between or in the two steps leaves: the header says 5, the line
    // of UID 4 is missing or cut short. UID 4 was never acknowledged; the message gets 5.
    for (cut_name, keep) in [("line missing", 0usize), ("line torn", 5)] {
        for courier_first in [true, false] {
            let server = TestServer::new();
            let (text, last) = after_one_append(&server, "crashed");
            let path = server.maildir.join("courierimapuiddb");
            std::fs::write(&path, &text[..last + keep]).unwrap();
            owner::give_to_mail_owner(&path);
            let mut views = Vec::new();
            for courier_turn in [courier_first, !courier_first] {
                let mut s = if courier_turn {
                    courier.session(&server.maildir)
                } else {
                    let mut p = server.inetd();
                    p.login();
                    p
                };
                views.push(view(&mut s));
            }
            let what = format!("{cut_name}, Courier first: {courier_first}");
            assert_eq!(views[0], views[1], "{what}");
            let v = &views[0];
            assert_eq!(v.uidnext, 6, "{what}");
            assert_eq!(
                v.subjects.get(&5).map(String::as_str),
                Some("crashed"),
                "{what}"
            );
            assert!(!v.subjects.contains_key(&4), "{what}");
        }
    }
}

/// `text` with its header's nextuid put back from 5 to 4, behind the line of UID 4.
fn stale_header(text: &[u8]) -> Vec<u8> {
    let header_end = text.iter().position(|b| *b == b'\n').unwrap();
    let header = String::from_utf8(text[..header_end].to_vec()).unwrap();
    assert!(header.ends_with(" 5"), "{header}");
    let mut bytes = format!("{}4", &header[..header.len() - 1]).into_bytes();
    bytes.extend_from_slice(&text[header_end..]);
    bytes
}

#[test]
fn courier_takes_the_next_uid_from_the_header_alone() {
    let Some(courier) = Courier::find() else {
        return;
    };
    // Lines written before their header (what postern must never leave): Courier's APPEND
    // hands out UID 4 again, though a line has it. Hence header first, then lines.
    for courier_turn in [true, false] {
        let server = TestServer::new();
        let (text, _) = after_one_append(&server, "appended");
        let path = server.maildir.join("courierimapuiddb");
        std::fs::write(&path, stale_header(&text)).unwrap();
        owner::give_to_mail_owner(&path);
        if courier_turn {
            let mut c = courier.session(&server.maildir);
            assert_eq!(
                append(&mut c, "c1", "courier"),
                4,
                "Courier now takes the next UID from the lines too"
            );
        } else {
            // postern never hands 4 out again: it takes the highest line into account.
            let mut p = server.inetd();
            p.login();
            assert_eq!(append(&mut p, "a2", "postern"), 5);
            p.logout();
        }
    }
}

/// The FLAGS of one UID in a fresh SELECT of INBOX.
fn flags_of(c: &mut Client, uid: u32) -> String {
    let sel = c.send("g1", "SELECT INBOX");
    assert!(sel.is_ok(), "{}", sel.dump());
    let r = c.send("g2", &format!("UID FETCH {uid} FLAGS"));
    assert!(r.is_ok(), "{}", r.dump());
    let line = r.untagged.iter().find(|l| l.fetch_uid() == Some(uid));
    line.map(|l| l.text.clone()).unwrap_or_default()
}

/// In a SELECT of INBOX: `flag` set on its UID when given, then `gone` expunged (CLOSE).
fn flag_and_expunge(c: &mut Client, flag: Option<(u32, &str)>, gone: u32) {
    let mut commands = vec!["SELECT INBOX".to_string()];
    commands.extend(flag.map(|(uid, f)| format!("UID STORE {uid} +FLAGS.SILENT ({f})")));
    commands.push(format!("UID STORE {gone} +FLAGS.SILENT (\\Deleted)"));
    commands.push("CLOSE".to_string());
    for (n, cmd) in commands.iter().enumerate() {
        let r = c.send(&format!("x{n}"), cmd);
        assert!(r.is_ok(), "{cmd}: {}", r.dump());
    }
}

/// postern leaves its index up to date with a diff (a few rows of a large folder, see
/// src/store/index_diff.rs) and Courier then changes flags and expunges: postern's next
/// session sees Courier's changes, and Courier postern's. Three rounds, so that later
/// diffs build on the earlier ones.
#[test]
fn courier_changes_after_a_diff_of_the_index_are_seen() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let server = TestServer::new();
    // Large enough (5,000 and more) that a session changing it watches it, and leaves
    // the index exact as it ends.
    let mut expected = large_inbox(&server, 5100);
    let diff = server.maildir.join("postern-index.diff");
    for round in 0..3u32 {
        // Past the clock tick of the last change, as between two sessions of a user.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (flagged, gone_by_postern) = (10 + round, 20 + round);
        let mut p = server.inetd();
        p.login();
        flag_and_expunge(&mut p, Some((flagged, "\\Flagged")), gone_by_postern);
        p.logout();
        expected.subjects.remove(&gone_by_postern);
        assert!(
            diff.exists(),
            "round {round}: postern wrote no diff of its index"
        );

        let mut c = courier.session(&server.maildir);
        assert_eq!(view(&mut c), expected, "Courier, round {round}");
        assert!(
            flags_of(&mut c, flagged).contains("\\Flagged"),
            "round {round}"
        );
        let (answered, gone_by_courier) = (30 + round, 40 + round);
        flag_and_expunge(&mut c, Some((answered, "\\Answered")), gone_by_courier);
        drop(c);
        expected.subjects.remove(&gone_by_courier);

        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut p = server.inetd();
        p.login();
        assert_eq!(
            view(&mut p),
            expected,
            "postern after Courier, round {round}"
        );
        assert!(
            flags_of(&mut p, answered).contains("\\Answered"),
            "round {round}"
        );
        assert!(
            flags_of(&mut p, flagged).contains("\\Flagged"),
            "round {round}"
        );
        p.logout();
    }
}
