//! SORT, UID SORT, THREAD and UID THREAD (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO)
//! against the real binary (`imapd --inetd`), on folders written straight into `cur/`:
//! every sort key with and without REVERSE, search criteria and charsets, base subjects
//! (`Re:`, `Fwd:`, `[list]`, `(fwd)`, `[fwd: ...]`, RFC 2047), sent dates (zones, missing
//! or broken Date:, equal dates), threads with missing parents, loops in References,
//! duplicate Message-IDs and subject-only threading; errors; and that a second SORT is
//! answered from the folder's cache, not from the message files.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::*;

/// 2023-07-03 09:00:00 UTC: the internal dates are this plus a few seconds.
const T: u64 = 1_688_374_800;

/// Writes message `i` (1-based, UID order) into INBOX's cur/ with INTERNALDATE `T + arrival`.
fn put(server: &TestServer, i: usize, arrival: u64, message: &[u8]) {
    let unique = format!("{}.M{i}P1.sorttest", 1_600_000_000 + i);
    server.put("INBOX", "cur", &unique, "S", message);
    let name = server
        .files("INBOX", "cur")
        .into_iter()
        .find(|n| n.starts_with(&unique))
        .unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(server.maildir.join("cur").join(name))
        .unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(T + arrival))
        .unwrap();
}

/// A message with the given header lines and a body of `body` bytes.
fn mail(headers: &[&str], body: usize) -> Vec<u8> {
    let mut m = String::new();
    for h in headers {
        m.push_str(h);
        m.push_str("\r\n");
    }
    m.push_str("\r\n");
    m.push_str(&"x".repeat(body));
    m.into_bytes()
}

/// The numbers of the one `* SORT` line, in order.
#[track_caller]
fn sorted(c: &mut Client, command: &str) -> Vec<u32> {
    let r = c.send("s", command);
    r.assert_ok();
    let line = &r.one("* SORT").text;
    line["* SORT".len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// The thread lists of the one `* THREAD` line.
#[track_caller]
fn threads(c: &mut Client, command: &str) -> String {
    let r = c.send("t", command);
    r.assert_ok();
    let line = &r.one("* THREAD").text;
    line["* THREAD".len()..].trim_start().to_string()
}

/// Five messages that differ in every sort key.
fn sort_folder() -> TestServer {
    let server = TestServer::new();
    put(
        &server,
        1,
        5,
        &mail(
            &[
                "From: Zed <zed@example.org>",
                "To: b@example.org",
                "Cc: c3@example.org",
                "Subject: Re: banana",
                "Date: Mon, 3 Jul 2023 10:00:00 +0000",
            ],
            1000,
        ),
    );
    put(
        &server,
        2,
        1,
        &mail(
            &[
                "From: =?UTF-8?Q?=C3=84rger?= <arg@example.org>",
                "To: Anna <z@example.org>",
                "Subject: [list] apple",
                // The same instant as message 1, in another zone.
                "Date: Mon, 3 Jul 2023 12:00:00 +0200",
            ],
            3000,
        ),
    );
    put(
        &server,
        3,
        3,
        &mail(
            &[
                "From: <mike@example.org>",
                "To: a@example.org",
                "Cc: c1@example.org",
                "Subject: =?ISO-8859-1?Q?Fwd:_cherry?=",
            ],
            2000,
        ),
    );
    put(
        &server,
        4,
        2,
        &mail(
            &[
                "From: Bob <bob@example.org>",
                "Cc: C2 <c2@example.org>",
                "Subject: apple (fwd)",
                "Date: Sun, 2 Jul 2023 23:59:59 -0700",
            ],
            5000,
        ),
    );
    put(
        &server,
        5,
        4,
        &mail(
            &[
                "From: alice@example.org",
                "To: Yves <y@example.org>",
                "Subject:",
                "Date: not a date",
            ],
            100,
        ),
    );
    server
}

#[test]
fn capabilities_name_sort_and_thread() {
    let server = TestServer::new();
    let mut c = server.inetd();
    let r = c.send("c", "CAPABILITY");
    let caps = &r.one("* CAPABILITY").text;
    for cap in [
        "SORT",
        "SORT=DISPLAY",
        "THREAD=ORDEREDSUBJECT",
        "THREAD=REFERENCES",
    ] {
        assert!(caps.split(' ').any(|w| w == cap), "{cap} in {caps}");
    }
}

#[test]
fn sort_by_every_key_with_and_without_reverse() {
    let server = sort_folder();
    let (mut c, _) = server.session("INBOX");
    let cases: &[(&str, &[u32])] = &[
        ("ARRIVAL", &[2, 4, 3, 5, 1]),
        ("REVERSE ARRIVAL", &[1, 5, 3, 4, 2]),
        // 4 is Jul 3 06:59:59 UTC; 3 has no Date: (INTERNALDATE 09:00:03), 5 a broken
        // one (09:00:04); 1 and 2 are both 10:00 UTC: sequence order.
        ("DATE", &[4, 3, 5, 1, 2]),
        ("REVERSE DATE", &[1, 2, 5, 3, 4]),
        // "", apple, apple, banana, cherry.
        ("SUBJECT", &[5, 2, 4, 1, 3]),
        ("REVERSE SUBJECT", &[3, 1, 2, 4, 5]),
        ("FROM", &[5, 2, 4, 3, 1]),
        ("REVERSE FROM", &[1, 3, 4, 2, 5]),
        // ALICE@EXAMPLE.ORG, BOB, MIKE@EXAMPLE.ORG, ZED, ÄRGER.
        ("DISPLAYFROM", &[5, 4, 3, 1, 2]),
        ("TO", &[4, 3, 1, 5, 2]),
        // "", A@EXAMPLE.ORG, ANNA, B@EXAMPLE.ORG, YVES.
        ("DISPLAYTO", &[4, 3, 2, 1, 5]),
        ("REVERSE DISPLAYTO", &[5, 1, 2, 3, 4]),
        ("CC", &[2, 5, 3, 4, 1]),
        ("REVERSE CC", &[1, 4, 3, 2, 5]),
        ("SIZE", &[5, 1, 3, 2, 4]),
        ("REVERSE SIZE", &[4, 2, 3, 1, 5]),
        ("SUBJECT REVERSE ARRIVAL", &[5, 4, 2, 1, 3]),
        ("SUBJECT SIZE", &[5, 2, 4, 1, 3]),
        ("REVERSE SUBJECT REVERSE SIZE", &[3, 1, 4, 2, 5]),
        ("CC DATE", &[5, 2, 3, 4, 1]),
    ];
    for (keys, want) in cases {
        assert_eq!(
            sorted(&mut c, &format!("SORT ({keys}) UTF-8 ALL")),
            *want,
            "SORT ({keys})"
        );
    }
    // Search criteria, charsets, and a set that matches nothing.
    assert_eq!(
        sorted(&mut c, "SORT (SUBJECT) UTF-8 NOT FROM alice"),
        [2, 4, 1, 3]
    );
    assert_eq!(
        sorted(&mut c, "SORT (FROM) ISO-8859-1 SUBJECT apple"),
        [2, 4]
    );
    assert_eq!(
        sorted(
            &mut c,
            "sort (reverse arrival) \"us-ascii\" 2:4 LARGER 2500"
        ),
        [4, 2]
    );
    assert_eq!(sorted(&mut c, "SORT (DATE) UTF-8 SUBJECT nothing"), []);
    let r = c.send("e", "SORT (DATE) UTF-8 SUBJECT nothing");
    assert!(r.has("* SORT") && r.one("* SORT").text == "* SORT");
    c.logout();
}

#[test]
fn uid_sort_and_uid_thread_answer_uids() {
    let server = sort_folder();
    let (mut c, _) = server.session("INBOX");
    c.send("d", "STORE 2 +FLAGS.SILENT (\\Deleted)").assert_ok();
    c.send("x", "EXPUNGE").assert_ok();
    // UIDs 1 3 4 5 are now sequence numbers 1 2 3 4.
    assert_eq!(sorted(&mut c, "UID SORT (SUBJECT) UTF-8 ALL"), [5, 4, 1, 3]);
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), [4, 3, 1, 2]);
    assert_eq!(
        sorted(&mut c, "UID SORT (REVERSE ARRIVAL) UTF-8 UID 3:*"),
        [5, 3, 4]
    );
    assert_eq!(
        threads(&mut c, "UID THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "(4)(3)(5)(1)"
    );
    assert_eq!(
        threads(&mut c, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "(3)(2)(4)(1)"
    );
    c.logout();
}

#[test]
fn errors_are_bad_or_badcharset() {
    let server = sort_folder();
    let mut c = server.inetd();
    c.login();
    // Not selected: refused before anything is read.
    let r = c.send("n", "SORT (DATE) UTF-8 ALL");
    assert_ne!(r.status(), "OK", "{}", r.dump());
    c.select("INBOX");
    for bad in [
        "SORT (NAME) UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT DATE UTF-8 ALL",
        "SORT (DATE) UTF-8",
        "SORT (DATE) UTF-8 NOSUCHKEY",
        "UID SORT (DATE)",
        "THREAD XTHREAD UTF-8 ALL",
        "THREAD REFERENCES UTF-8",
        "UID THREAD",
    ] {
        c.send("b", bad).assert_status("BAD");
    }
    let r = c.send("cs", "SORT (DATE) X-NO-SUCH-CHARSET ALL");
    r.assert_status("NO");
    assert!(
        r.code().unwrap_or("").starts_with("BADCHARSET"),
        "{}",
        r.dump()
    );
    let r = c.send("ct", "THREAD REFERENCES X-NO-SUCH-CHARSET ALL");
    r.assert_status("NO");
    assert!(
        r.code().unwrap_or("").starts_with("BADCHARSET"),
        "{}",
        r.dump()
    );
    // The session goes on.
    assert_eq!(sorted(&mut c, "SORT (ARRIVAL) UTF-8 ALL"), [2, 4, 3, 5, 1]);
    c.logout();
}

/// One threading test message: sent `minute` past 10:00 UTC.
fn thread_mail(minute: u32, subject: &str, id: &str, refs: &str, irt: &str) -> Vec<u8> {
    let mut h = vec![
        "From: t@example.org".to_string(),
        format!("Subject: {subject}"),
        format!("Date: Mon, 3 Jul 2023 10:{minute:02}:00 +0000"),
    ];
    if !id.is_empty() {
        h.push(format!("Message-ID: {id}"));
    }
    if !refs.is_empty() {
        h.push(format!("References: {refs}"));
    }
    if !irt.is_empty() {
        h.push(format!("In-Reply-To: {irt}"));
    }
    let h: Vec<&str> = h.iter().map(String::as_str).collect();
    mail(&h, 10)
}

#[test]
fn references_threads_missing_parents_loops_and_subjects() {
    let server = TestServer::new();
    let msgs: &[(u32, &str, &str, &str, &str)] = &[
        (10, "A", "<a@x>", "", ""),
        (20, "Re: A", "<b@x>", "<a@x>", ""),
        (30, "Re: A", "<c@x>", "<a@x> <b@x>", ""),
        // In-Reply-To only; the quoted form of <a@x>.
        (40, "Re: A", "<d@x>", "", "<\"a\"@x>"),
        // The parent never arrived: a dummy holds both.
        (50, "Re: B", "<e@x>", "<gone@x>", ""),
        (51, "Re: B", "<f@x>", "<gone@x>", ""),
        // A loop in References.
        (52, "C", "<g@x>", "<h@x> <g@x>", ""),
        (53, "Re: C", "<h@x>", "<g@x> <h@x>", ""),
        // Subject only, with list tags and an encoded reply prefix.
        (54, "[list] D", "<i@x>", "", ""),
        (55, "=?UTF-8?Q?Re:_[list]_D?=", "<j@x>", "", ""),
        // Same subject, neither a reply, and a duplicate Message-ID.
        (5, "E", "<k@x>", "", ""),
        (6, "E (fwd)", "<k@x>", "", ""),
        // One missing parent: its one child is promoted.
        (1, "F", "<l@x>", "<nowhere@x>", ""),
        // No subject, no Message-ID: never merged.
        (56, "", "", "", ""),
        (57, "", "", "", ""),
    ];
    for (i, (minute, subject, id, refs, irt)) in msgs.iter().enumerate() {
        put(
            &server,
            i + 1,
            i as u64,
            &thread_mail(*minute, subject, id, refs, irt),
        );
    }
    let (mut c, _) = server.session("INBOX");
    assert_eq!(
        threads(&mut c, "THREAD REFERENCES UTF-8 ALL"),
        "(13)(11 12)(1 (2 3)(4))((5)(6))(7 8)(9 10)(14)(15)"
    );
    // ORDEREDSUBJECT: by base subject only; the empty subject is one thread too.
    assert_eq!(
        threads(&mut c, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "(13)(11 12)(1 (2)(3)(4))(5 6)(7 8)(9 10)(14 15)"
    );
    // Search criteria narrow the messages first.
    assert_eq!(
        threads(&mut c, "THREAD REFERENCES UTF-8 1,3,5:6"),
        "(1 3)((5)(6))"
    );
    let r = c.send("n", "THREAD REFERENCES UTF-8 SUBJECT nothing");
    r.assert_ok();
    assert_eq!(r.one("* THREAD").text, "* THREAD");
    c.logout();
}

/// RFC 5256 §4's example shape `(2)(3 6 (4 23)(44 7 96))`, numbered 1..8 here.
#[test]
fn references_nesting_as_in_rfc_5256() {
    let server = TestServer::new();
    let msgs: &[(u32, &str, &str, &str)] = &[
        (1, "other", "<two@x>", ""),
        (2, "t", "<three@x>", ""),
        (4, "re: t", "<four@x>", "<three@x> <six@x>"),
        (3, "re: t", "<six@x>", "<three@x>"),
        (6, "re: t", "<seven@x>", "<three@x> <six@x> <forty4@x>"),
        (7, "re: t", "<twenty3@x>", "<three@x> <six@x> <four@x>"),
        (5, "re: t", "<forty4@x>", "<three@x> <six@x>"),
        (8, "re: t", "<ninety6@x>", "<seven@x>"),
    ];
    for (i, (minute, subject, id, refs)) in msgs.iter().enumerate() {
        put(
            &server,
            i + 1,
            i as u64,
            &thread_mail(*minute, subject, id, refs, ""),
        );
    }
    let (mut c, _) = server.session("INBOX");
    assert_eq!(
        threads(&mut c, "THREAD REFERENCES UTF-8 ALL"),
        "(1)(2 4 (3 6)(7 5 8))"
    );
    assert_eq!(
        threads(&mut c, "UID THREAD REFERENCES US-ASCII ALL"),
        "(1)(2 4 (3 6)(7 5 8))"
    );
    c.logout();
}

/// Once a SORT has read the headers, the keys sit in `postern-cache.sortkeys-1`: a later
/// session sorts and threads from there. Message files never change in a Maildir, so
/// rewriting their subjects behind the server's back shows where the answer came from.
#[test]
fn a_second_sort_reads_no_message_file() {
    let server = sort_folder();
    let (mut c, _) = server.session("INBOX");
    let first = sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL");
    c.logout();
    assert!(server.maildir.join("postern-cache.sortkeys-1").is_file());
    for name in server.files("INBOX", "cur") {
        let path = server.maildir.join("cur").join(&name);
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let changed: String = text
            .lines()
            .map(|l| {
                if l.starts_with("Subject:") {
                    "Subject: zzz\r"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, changed).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(modified).unwrap();
    }
    let (mut c, _) = server.session("INBOX");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), first);
    assert_eq!(
        threads(&mut c, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "(4 2)(3)(5)(1)"
    );
    c.logout();
}

/// SEARCHRES (RFC 5182 §2.1): `$` in SORT's and THREAD's criteria is the saved result.
#[test]
fn sort_and_thread_take_the_saved_search_result() {
    let server = sort_folder();
    let (mut c, _) = server.session("INBOX");
    c.send("v", "SEARCH RETURN (SAVE) 2:3").assert_ok();
    let mut all = sorted(&mut c, "SORT (ARRIVAL) UTF-8 $");
    all.sort();
    assert_eq!(all, [2, 3]);
    let mut rev = sorted(&mut c, "SORT (REVERSE ARRIVAL) UTF-8 $");
    rev.reverse();
    assert_eq!(rev, sorted(&mut c, "SORT (ARRIVAL) UTF-8 $"));
    let t = threads(&mut c, "THREAD ORDEREDSUBJECT UTF-8 $");
    assert!(
        t.contains('2') && t.contains('3') && !t.contains('1'),
        "{t}"
    );
    c.logout();
}
