//! SAVEDATE (RFC 8514) against the real binary: FETCH SAVEDATE from the leading seconds
//! of the Maildir unique name (kept across flag changes, new for a COPY, NIL where the
//! name has none), SEARCH SAVEDBEFORE / SAVEDON / SAVEDSINCE / SAVEDATESUPPORTED. Every
//! response is checked by tests/common (SAVEDATE by its own ABNF, imap-codec lacks it).

mod common;

use common::*;

/// 1000000000 is 2001-09-09 01:46:40 UTC.
const OLD_NAME: &str = "1000000000.M1P1.test";

fn savedate(c: &mut Client, seq: u32) -> String {
    let r = c.send("F", &format!("FETCH {seq} (SAVEDATE)"));
    r.assert_ok();
    let text = r.one(&format!("* {seq} FETCH")).text.clone();
    let at = text.find("SAVEDATE ").expect("SAVEDATE item") + "SAVEDATE ".len();
    let rest = &text[at..];
    if rest.starts_with("NIL") {
        "NIL".into()
    } else {
        rest[1..27].to_string()
    }
}

/// The leading seconds of the one file in `folder`'s cur/ (the copy's new name).
fn name_seconds(server: &TestServer, folder: &str) -> i64 {
    let files = server.files(folder, "cur");
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].split('.').next().unwrap().parse().unwrap()
}

#[test]
fn capability_lists_savedate() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let caps = c.capabilities();
    assert!(caps.iter().any(|w| w == "SAVEDATE"), "{caps:?}");
}

#[test]
fn savedate_comes_from_the_name_and_survives_flag_changes() {
    let server = TestServer::new();
    server.put("INBOX", "cur", OLD_NAME, "", &message("a@b", "old", "x"));
    server.put("INBOX", "cur", "nodate.test", "", &message("a@b", "x", "x"));
    // A name without a leading number sorts first (UIDs go by that number).
    let (mut c, _) = server.session("INBOX");
    assert_eq!(savedate(&mut c, 1), "NIL");
    assert_eq!(savedate(&mut c, 2), "09-Sep-2001 01:46:40 +0000");
    c.send("S", "STORE 2 +FLAGS (\\Seen \\Flagged)").assert_ok();
    c.send("S", "STORE 2 -FLAGS (\\Seen)").assert_ok();
    assert_eq!(savedate(&mut c, 2), "09-Sep-2001 01:46:40 +0000");
    // UID FETCH and FETCH ALL-style lists carry it too.
    let r = c.send("U", "UID FETCH 1:* (UID SAVEDATE FLAGS)");
    r.assert_ok();
    assert_eq!(r.lines("* ").len(), 2, "{}", r.dump());
}

#[test]
fn copy_and_append_get_the_time_they_were_saved() {
    let server = TestServer::new();
    server.put("INBOX", "cur", OLD_NAME, "", &message("a@b", "old", "x"));
    server.make_folder("Kept");
    server.make_folder("Moved");
    let (mut c, _) = server.session("INBOX");
    c.send("C", "COPY 1 INBOX.Kept").assert_ok();
    c.send_parts(
        "A",
        &[
            Part::Text("APPEND INBOX.Moved "),
            Part::Literal(&message("a@b", "new", "y")),
        ],
    )
    .assert_ok();
    for folder in ["INBOX.Kept", "INBOX.Moved"] {
        c.send("X", &format!("EXAMINE {folder}")).assert_ok();
        let expected = name_seconds(&server, folder);
        assert!(expected > 1_000_000_000, "{folder}: {expected}");
        let r = c.send("F", "FETCH 1 (SAVEDATE INTERNALDATE)");
        let line = r.one("* 1 FETCH").text.clone();
        let want = format!("SAVEDATE \"{}\"", format_date(expected));
        assert!(line.contains(&want), "{folder}: {line} vs {want}");
    }
    // The copy keeps its source's internal date; only the save date is new.
    let r = c.send("F", "FETCH 1 (INTERNALDATE)");
    r.assert_ok();
}

#[test]
fn search_by_save_date() {
    let server = TestServer::new();
    server.put("INBOX", "cur", OLD_NAME, "", &message("a@b", "old", "x"));
    server.put(
        "INBOX",
        "cur",
        "1600000000.M1P1.test",
        "",
        &message("a@b", "y", "y"),
    );
    // No save time in its name: searched by its internal date (the file's mtime, now).
    server.put("INBOX", "cur", "nodate.test", "", &message("a@b", "z", "z"));
    // Sequence 1 is the name without a number (it sorts first), 2 is 2001, 3 is 2020.
    let (mut c, _) = server.session("INBOX");
    let cases = [
        ("SAVEDBEFORE 1-Jan-2002", vec![2]),
        ("SAVEDON 9-Sep-2001", vec![2]),
        ("SAVEDON 13-Sep-2020", vec![3]),
        ("SAVEDSINCE 10-Sep-2001", vec![1, 3]),
        ("SAVEDSINCE 1-Jan-2021", vec![1]),
        ("SAVEDATESUPPORTED", vec![1, 2, 3]),
        ("NOT SAVEDATESUPPORTED", vec![]),
        ("OR SAVEDON 9-Sep-2001 SAVEDON 13-Sep-2020", vec![2, 3]),
    ];
    for (key, want) in cases {
        let r = c.send("S", &format!("SEARCH {key}"));
        r.assert_ok();
        assert_eq!(r.search(), want, "{key}: {}", r.dump());
    }
    let r = c.send("S", "UID SEARCH RETURN (COUNT) SAVEDBEFORE 1-Jan-2021");
    assert!(r.has("COUNT 2"), "{}", r.dump());
}

/// `dd-Mon-yyyy hh:mm:ss +0000` for a Unix time (UTC), as INTERNALDATE is written.
fn format_date(t: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%d-%b-%Y %H:%M:%S +0000"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[path = "dovecot/oracle.rs"]
mod dovecot;

/// The SAVEDATE of message `seq` as a Unix time (None for NIL), read back through `date`.
fn savedate_secs(c: &mut Client, seq: u32) -> Option<i64> {
    let text = savedate(c, seq);
    if text == "NIL" {
        return None;
    }
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &text.replacen('-', " ", 2), "+%s"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse().ok()
}

/// Dovecot 2.3 offers SAVEDATE too: the same session on both (APPEND, COPY, MOVE) gives
/// save dates that are known, no older than the test's start, a copy's no older than its
/// source's, and the same answers to the SAVED* keys and SAVEDATESUPPORTED.
#[test]
fn savedate_matches_dovecot() {
    let Some(dovecot) = dovecot::Dovecot::find() else {
        return;
    };
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let server = TestServer::new();
    server.make_folder("Work");
    let (mut pc, _) = server.session("INBOX");
    let home = tempfile::tempdir().unwrap();
    let mut dc = Client::spawn(dovecot.command(home.path()), false);
    dc.send("k", "CREATE INBOX.Work").assert_ok();
    dc.send("s", "SELECT INBOX").assert_ok();
    let today = format_date(start)[..11].to_string();
    for c in [&mut pc, &mut dc] {
        for n in 0..3 {
            let msg = message("a@b", &format!("m{n}"), "x");
            c.send_parts("A", &[Part::Text("APPEND INBOX "), Part::Literal(&msg)])
                .assert_ok();
        }
        c.send("N", "NOOP").assert_ok();
        c.send("C", "COPY 1 INBOX.Work").assert_ok();
        c.send("M", "MOVE 2 INBOX.Work").assert_ok();
        let source = savedate_secs(c, 1).expect("APPENDed: known");
        assert!(source >= start - 1, "{source} < {start}");
        c.send("X", "SELECT INBOX.Work").assert_ok();
        for seq in [1, 2] {
            let copy = savedate_secs(c, seq).expect("copied: known");
            assert!(copy >= source, "{copy} < {source}");
        }
    }
    for key in [
        "SAVEDATESUPPORTED".to_string(),
        format!("SAVEDSINCE {today}"),
        format!("SAVEDON {today}"),
        format!("SAVEDBEFORE {today}"),
        "SAVEDBEFORE 1-Jan-2000".to_string(),
        "NOT SAVEDSINCE 1-Jan-2000".to_string(),
    ] {
        let ours = pc.send("S", &format!("SEARCH {key}")).search();
        let theirs = dc.send("S", &format!("SEARCH {key}")).search();
        assert_eq!(ours, theirs, "{key}");
    }
    dc.send("L", "LOGOUT");
}
