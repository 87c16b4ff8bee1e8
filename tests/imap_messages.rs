//! Message commands over `imapd --inetd`: APPEND, FETCH (every item), STORE, SEARCH,
//! COPY/MOVE, EXPUNGE, CLOSE/UNSELECT and \Recent.

mod common;

use common::*;

const MIXED: &[u8] = b"From: Bob Example <bob@example.org>\r\n\
To: Alice <alice@example.org>\r\n\
Cc: carol@example.org\r\n\
Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\r\n\
Date: Tue, 4 Jul 2023 12:30:00 +0200\r\n\
Message-ID: <m1@example.org>\r\n\
X-Custom: orange\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n\
second line\r\n\
--XX\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\n\
\r\n\
AAECAwQF\r\n\
--XX--\r\n";

fn header_end(m: &[u8]) -> usize {
    find_bytes(m, b"\r\n\r\n").unwrap() + 4
}

/// APPENDs `m` with `flags` and `date`; returns the APPENDUID (uidvalidity, uid).
fn append(
    c: &mut Client,
    tag: &str,
    mailbox: &str,
    flags: &str,
    date: &str,
    m: &[u8],
) -> (u64, u32) {
    let head = format!("APPEND {mailbox} {flags}{date}");
    let r = c.send_parts(tag, &[Part::Text(&head), Part::Literal(m)]);
    r.assert_ok();
    let code = r
        .code()
        .unwrap_or_else(|| panic!("no APPENDUID: {}", r.dump()));
    let mut w = code.split(' ');
    assert_eq!(w.next(), Some("APPENDUID"), "{}", r.dump());
    let v = w.next().unwrap().parse().unwrap();
    let u = w.next().unwrap().parse().unwrap();
    (v, u)
}

#[test]
fn append_then_fetch_back_byte_exact() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    let date = "\"14-Jul-2023 02:44:25 +0200\" ";
    let (v, uid) = append(
        &mut c,
        "a1",
        "INBOX",
        "(\\Seen \\Flagged $Work) ",
        date,
        MIXED,
    );
    let plain = message("x@example.org", "plain", "just text\r\n");
    let (v2, uid2) = append(&mut c, "a2", "INBOX", "", "", &plain);
    assert_eq!(v, v2);
    assert!(uid2 > uid);
    let r = c.send("a3", "STATUS INBOX (UIDVALIDITY UIDNEXT MESSAGES)");
    let s = status_items(&r);
    assert_eq!(s["UIDVALIDITY"], v);
    assert_eq!(s["MESSAGES"], 2);
    assert!(s["UIDNEXT"] > uid2 as u64);

    c.select("INBOX");
    let r = c.send(
        "a4",
        &format!("UID FETCH {uid} (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"),
    );
    r.assert_ok();
    let f = r.fetch(1);
    assert_eq!(f.uid(), Some(uid));
    assert_eq!(f.item("BODY[]").unwrap(), MIXED, "BODY[] differs");
    assert_eq!(f.item_text("RFC822.SIZE").unwrap(), MIXED.len().to_string());
    let flags = f.flags().unwrap();
    for want in ["\\Seen", "\\Flagged", "$Work"] {
        assert!(flags.iter().any(|x| x == want), "{want} not in {flags:?}");
    }
    let idate = f.item("INTERNALDATE").unwrap();
    assert_eq!(
        imap_datetime_epoch(std::str::from_utf8(&idate).unwrap()),
        imap_datetime_epoch("14-Jul-2023 02:44:25 +0200"),
        "INTERNALDATE {}",
        String::from_utf8_lossy(&idate)
    );
    let r = c.send("a5", &format!("UID FETCH {uid2} (BODY.PEEK[] FLAGS)"));
    let f = r.fetch(2);
    assert_eq!(f.item("BODY[]").unwrap(), plain);
    assert!(!f.flags().unwrap().iter().any(|x| x == "\\Seen"));

    // APPEND to the selected mailbox shows up as EXISTS, at the latest at NOOP.
    let (_, uid3) = append(&mut c, "a6", "INBOX", "", "", &plain);
    c.send("a7", "NOOP").assert_ok();
    let r = c.send("a9", "FETCH 3 UID");
    assert_eq!(r.fetch(3).uid(), Some(uid3), "{}", r.dump());

    // Nowhere to append: TRYCREATE.
    let r = c.send_parts(
        "b1",
        &[Part::Text("APPEND INBOX.nosuch "), Part::Literal(&plain)],
    );
    r.assert_status("NO");
    assert_eq!(r.code(), Some("TRYCREATE"), "{}", r.dump());
    c.logout();
}

#[test]
fn fetch_every_item() {
    let server = TestServer::new();
    server.deliver(None, MIXED);
    let (mut c, _) = server.session("INBOX");
    let he = header_end(MIXED);

    let r = c.send("a1", "FETCH 1 (ENVELOPE)");
    r.assert_ok();
    assert_eq!(
        r.fetch(1).item_text("ENVELOPE").unwrap(),
        "(\"Tue, 4 Jul 2023 12:30:00 +0200\" \"=?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\" \
         ((\"Bob Example\" NIL \"bob\" \"example.org\")) \
         ((\"Bob Example\" NIL \"bob\" \"example.org\")) \
         ((\"Bob Example\" NIL \"bob\" \"example.org\")) \
         ((\"Alice\" NIL \"alice\" \"example.org\")) \
         ((NIL NIL \"carol\" \"example.org\")) NIL NIL \"<m1@example.org>\")"
    );

    let r = c.send("a2", "FETCH 1 BODYSTRUCTURE");
    let bs = r
        .fetch(1)
        .item_text("BODYSTRUCTURE")
        .unwrap()
        .to_ascii_uppercase();
    let part1_len = "Gr\u{fc}\u{df}e aus K\u{f6}ln\r\nsecond line".len();
    for want in [
        format!("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\") NIL NIL \"8BIT\" {part1_len} "),
        "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"A.BIN\") NIL NIL \"BASE64\" 8".to_owned(),
        "\"MIXED\" (\"BOUNDARY\" \"XX\")".to_owned(),
        "(\"ATTACHMENT\" (\"FILENAME\" \"A.BIN\"))".to_owned(),
    ] {
        assert!(bs.contains(&want), "{want} not in {bs}");
    }
    // BODY is BODYSTRUCTURE without extension data.
    let r = c.send("a3", "FETCH 1 BODY");
    let body = r.fetch(1).item_text("BODY").unwrap().to_ascii_uppercase();
    assert!(body.contains("\"MIXED\")"), "{body}");
    assert!(!body.contains("BOUNDARY"), "{body}");

    let sections: &[(&str, &str, &[u8])] = &[
        ("BODY.PEEK[HEADER]", "BODY[HEADER]", &MIXED[..he]),
        ("BODY.PEEK[TEXT]", "BODY[TEXT]", &MIXED[he..]),
        (
            "BODY.PEEK[HEADER.FIELDS (from SUBJECT x-nosuch)]",
            "BODY[HEADER.FIELDS (",
            b"From: Bob Example <bob@example.org>\r\n\
              Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\r\n\r\n",
        ),
        (
            "BODY.PEEK[1]",
            "BODY[1]",
            b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\nsecond line",
        ),
        (
            "BODY.PEEK[1.MIME]",
            "BODY[1.MIME]",
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        ),
        ("BODY.PEEK[2]", "BODY[2]", b"AAECAwQF"),
        ("BODY.PEEK[]<0.10>", "BODY[]<0>", &MIXED[..10]),
        (
            "BODY.PEEK[TEXT]<2.6>",
            "BODY[TEXT]<2>",
            &MIXED[he + 2..he + 8],
        ),
        (
            "BODY.PEEK[1]<5.100000>",
            "BODY[1]<5>",
            b"\x9fe aus K\xc3\xb6ln\r\nsecond line",
        ),
        ("RFC822.HEADER", "RFC822.HEADER", &MIXED[..he]),
    ];
    for (i, (ask, key, want)) in sections.iter().enumerate() {
        let r = c.send(&format!("s{i}"), &format!("FETCH 1 ({ask})"));
        r.assert_ok();
        let f = r.fetch(1);
        let key = if key.ends_with('(') {
            // The server names the fields as it likes; find the item by its value.
            let start = f
                .text
                .find(key)
                .unwrap_or_else(|| panic!("{key}: {}", f.text));
            let close = f.text[start..].find(")]").unwrap() + start + 2;
            f.text[start..close].to_owned()
        } else {
            key.to_string()
        };
        let got = f
            .item(&key)
            .unwrap_or_else(|| panic!("no {key} in {}", f.text));
        assert!(
            got == *want,
            "{ask}: got {:?}, want {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want)
        );
    }
    // A partial past the end is empty; a missing part is empty too.
    let r = c.send("p1", "FETCH 1 BODY.PEEK[]<100000.10>");
    assert_eq!(r.fetch(1).item("BODY[]<100000>").unwrap_or_default(), b"");
    let r = c.send("p2", "FETCH 1 BODY.PEEK[7]");
    if r.is_ok() {
        assert_eq!(r.fetch(1).item("BODY[7]").unwrap_or_default(), b"");
    }

    // Nothing so far set \Seen.
    let r = c.send("f1", "FETCH 1 FLAGS");
    assert!(!r.fetch(1).flags().unwrap().contains(&"\\Seen".to_owned()));

    // Macros.
    let r = c.send("m1", "FETCH 1 FAST");
    let f = r.fetch(1);
    for item in ["FLAGS", "INTERNALDATE", "RFC822.SIZE"] {
        assert!(
            f.item_text(item).is_some(),
            "{item} missing from FAST: {}",
            f.text
        );
    }
    assert!(f.item_text("ENVELOPE").is_none());
    let r = c.send("m2", "FETCH 1 ALL");
    let f = r.fetch(1);
    for item in ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"] {
        assert!(
            f.item_text(item).is_some(),
            "{item} missing from ALL: {}",
            f.text
        );
    }
    let r = c.send("m3", "FETCH 1 FULL");
    let f = r.fetch(1);
    for item in ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"] {
        assert!(
            f.item_text(item).is_some(),
            "{item} missing from FULL: {}",
            f.text
        );
    }
    assert_eq!(f.item_text("RFC822.SIZE").unwrap(), MIXED.len().to_string());

    // RFC822.TEXT and RFC822 set \Seen.
    let r = c.send("r1", "FETCH 1 RFC822.TEXT");
    let f = r.fetch(1);
    assert_eq!(f.item("RFC822.TEXT").unwrap(), &MIXED[he..]);
    let r = c.send("r2", "FETCH 1 (FLAGS RFC822)");
    let f = r.fetch(1);
    assert_eq!(f.item("RFC822").unwrap(), MIXED);
    assert!(
        f.flags().unwrap().contains(&"\\Seen".to_owned()),
        "{}",
        f.text
    );
    c.logout();
}

#[test]
fn body_sets_seen_but_peek_does_not() {
    let server = TestServer::new();
    server.deliver(None, &message("bob@example.org", "one", "text\r\n"));
    server.deliver(None, &message("bob@example.org", "two", "text\r\n"));
    let (mut c, _) = server.session("INBOX");
    c.send("a1", "FETCH 1 BODY.PEEK[]").assert_ok();
    c.send("a2", "FETCH 1 RFC822.HEADER").assert_ok();
    let r = c.send("a3", "FETCH 1:2 FLAGS");
    for f in r.fetches() {
        assert!(
            !f.flags().unwrap().contains(&"\\Seen".to_owned()),
            "{}",
            f.text
        );
    }
    // BODY[] sets \Seen and says so in the same response.
    let r = c.send("a4", "FETCH 2 BODY[TEXT]");
    let flags: Vec<String> = r
        .fetches()
        .iter()
        .filter(|f| f.seq() == 2)
        .filter_map(|f| f.flags())
        .flatten()
        .collect();
    assert!(flags.contains(&"\\Seen".to_owned()), "{}", r.dump());
    c.logout();
    let (mut c, _) = server.session("INBOX");
    let r = c.send("b1", "FETCH 1:2 FLAGS");
    assert!(!r.fetch(1).flags().unwrap().contains(&"\\Seen".to_owned()));
    assert!(r.fetch(2).flags().unwrap().contains(&"\\Seen".to_owned()));
    assert!(
        server
            .files("INBOX", "cur")
            .iter()
            .any(|f| f.ends_with(":2,S")),
        "{:?}",
        server.files("INBOX", "cur")
    );
    c.logout();
}

#[test]
fn store_flags_and_keywords() {
    let server = TestServer::new();
    for n in 1..=3 {
        server.deliver(None, &message("bob@example.org", &format!("m{n}"), "x\r\n"));
    }
    let (mut c, _) = server.session("INBOX");
    let r = c.send("a1", "STORE 1 +FLAGS (\\Flagged $Label1)");
    r.assert_ok();
    let fl = r.fetch(1).flags().unwrap();
    assert!(
        fl.contains(&"\\Flagged".into()) && fl.contains(&"$Label1".into()),
        "{fl:?}"
    );

    let r = c.send("a2", "STORE 1 -FLAGS (\\Flagged)");
    let fl = r.fetch(1).flags().unwrap();
    assert!(
        !fl.contains(&"\\Flagged".into()) && fl.contains(&"$Label1".into()),
        "{fl:?}"
    );

    let r = c.send("a3", "STORE 2 FLAGS (\\Answered \\Draft)");
    let fl = r.fetch(2).flags().unwrap();
    assert!(
        fl.contains(&"\\Answered".into()) && fl.contains(&"\\Draft".into()),
        "{fl:?}"
    );

    let r = c.send("a4", "STORE 2:3 +FLAGS.SILENT (\\Seen)");
    r.assert_ok();
    assert!(
        r.fetches().is_empty(),
        "FLAGS.SILENT answered:\n{}",
        r.dump()
    );
    let r = c.send("a5", "FETCH 3 FLAGS");
    assert!(r.fetch(3).flags().unwrap().contains(&"\\Seen".into()));

    let r = c.send("a6", "UID STORE 1:* -FLAGS ($Label1)");
    r.assert_ok();
    for f in r.fetches() {
        assert!(f.uid().is_some(), "UID STORE without UID: {}", f.text);
    }
    let r = c.send("a7", "STORE 1 FLAGS ($Other \\Seen)");
    let fl = r.fetch(1).flags().unwrap();
    assert!(!fl.contains(&"$Label1".into()), "{fl:?}");
    c.logout();

    // Flags and keywords are on disk: a new session sees them, and FLAGS lists the keyword.
    let (mut c, sel) = server.session("INBOX");
    assert!(
        sel.one("* FLAGS ").text.contains("$Other"),
        "{}",
        sel.dump()
    );
    let r = c.send("b1", "FETCH 1:3 FLAGS");
    let f1 = r.fetch(1).flags().unwrap();
    assert!(
        f1.contains(&"$Other".into()) && f1.contains(&"\\Seen".into()),
        "{f1:?}"
    );
    let f2 = r.fetch(2).flags().unwrap();
    for want in ["\\Answered", "\\Draft", "\\Seen"] {
        assert!(f2.contains(&want.into()), "{want} not in {f2:?}");
    }
    assert!(
        server
            .files("INBOX", "cur")
            .iter()
            .any(|f| f.ends_with(":2,DRS")),
        "{:?}",
        server.files("INBOX", "cur")
    );
    c.logout();
}

/// Four messages with known dates, sizes, flags and text, appended in order (UIDs 1-4).
fn search_fixture(c: &mut Client) {
    let m1 = b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n\
Subject: lunch plans\r\nDate: Mon, 2 Jan 2023 09:00:00 +0000\r\nX-Mood: happy\r\n\r\n\
shall we eat pizza today?\r\n";
    let m2 = b"From: Carol <carol@example.org>\r\nTo: alice@example.org\r\n\
Cc: bob@example.org\r\nSubject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= for review\r\n\
Date: Wed, 15 Feb 2023 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe, here is my CV\r\n";
    let big_body = "filler line of text\r\n".repeat(200);
    let m3 = format!(
        "From: Dave <dave@example.net>\r\nTo: alice@example.org\r\n\
Subject: big report\r\nDate: Fri, 10 Mar 2023 09:00:00 +0000\r\n\r\n{big_body}"
    );
    let m4 = b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n\
Subject: re: lunch plans\r\nDate: Sat, 1 Apr 2023 09:00:00 +0000\r\n\r\nyes, pizza\r\n";
    append(
        c,
        "f1",
        "INBOX",
        "(\\Seen) ",
        "\"02-Jan-2023 09:00:00 +0000\" ",
        m1,
    );
    append(
        c,
        "f2",
        "INBOX",
        "(\\Flagged $Work) ",
        "\"15-Feb-2023 09:00:00 +0000\" ",
        m2,
    );
    append(
        c,
        "f3",
        "INBOX",
        "(\\Deleted) ",
        "\"10-Mar-2023 09:00:00 +0000\" ",
        m3.as_bytes(),
    );
    append(
        c,
        "f4",
        "INBOX",
        "(\\Answered \\Seen) ",
        "\"01-Apr-2023 09:00:00 +0000\" ",
        m4,
    );
}

#[test]
fn search_keys() {
    let server = TestServer::new();
    let mut c = server.inetd();
    c.login();
    search_fixture(&mut c);
    c.select("INBOX");
    let cases: &[(&str, &[u32])] = &[
        ("ALL", &[1, 2, 3, 4]),
        ("SEEN", &[1, 4]),
        ("UNSEEN", &[2, 3]),
        ("FLAGGED", &[2]),
        ("UNFLAGGED", &[1, 3, 4]),
        ("DELETED", &[3]),
        ("UNDELETED", &[1, 2, 4]),
        ("ANSWERED", &[4]),
        ("UNANSWERED", &[1, 2, 3]),
        ("DRAFT", &[]),
        ("KEYWORD $Work", &[2]),
        ("UNKEYWORD $Work", &[1, 3, 4]),
        ("FROM bob", &[1, 4]),
        ("FROM \"Carol\"", &[2]),
        ("TO alice", &[1, 2, 3, 4]),
        ("CC bob", &[2]),
        ("SUBJECT lunch", &[1, 4]),
        ("SUBJECT \"LUNCH PLANS\"", &[1, 4]),
        ("BODY pizza", &[1, 4]),
        ("BODY lunch", &[]),
        ("TEXT lunch", &[1, 4]),
        ("TEXT pizza", &[1, 4]),
        ("HEADER X-Mood happy", &[1]),
        ("HEADER X-Mood \"\"", &[1]),
        ("LARGER 2000", &[3]),
        ("SMALLER 2000", &[1, 2, 4]),
        ("BEFORE 15-Feb-2023", &[1]),
        ("ON 15-Feb-2023", &[2]),
        ("SINCE 15-Feb-2023", &[2, 3, 4]),
        ("SENTBEFORE 10-Mar-2023", &[1, 2]),
        ("SENTON 10-Mar-2023", &[3]),
        ("SENTSINCE 10-Mar-2023", &[3, 4]),
        ("OR FLAGGED ANSWERED", &[2, 4]),
        ("NOT SEEN", &[2, 3]),
        ("NOT OR SEEN DELETED", &[2]),
        ("FROM bob SUBJECT re", &[4]),
        ("(FROM bob) (OR SEEN FLAGGED)", &[1, 4]),
        ("2:3", &[2, 3]),
        ("3:*", &[3, 4]),
        ("1,4", &[1, 4]),
        ("UID 2:3", &[2, 3]),
        ("UID 4:*", &[4]),
        ("UID 10:*", &[4]),
    ];
    for (i, (key, want)) in cases.iter().enumerate() {
        let r = c.send(&format!("s{i}"), &format!("SEARCH {key}"));
        r.assert_ok();
        assert_eq!(r.search(), *want, "SEARCH {key}");
    }
    let r = c.send("u1", "UID SEARCH FLAGGED");
    assert_eq!(r.search(), [2]);

    // UTF-8 terms, with CHARSET and as a literal.
    let term = "Résumé".as_bytes();
    let r = c.send_parts(
        "c1",
        &[
            Part::Text("SEARCH CHARSET UTF-8 SUBJECT "),
            Part::Literal(term),
        ],
    );
    r.assert_ok();
    assert_eq!(r.search(), [2], "SUBJECT Résumé");
    let r = c.send_parts(
        "c2",
        &[
            Part::Text("SEARCH CHARSET UTF-8 BODY "),
            Part::Literal("grüße".as_bytes()),
        ],
    );
    r.assert_ok();
    assert_eq!(r.search(), [2], "BODY grüße");
    let r = c.send("c3", "SEARCH CHARSET X-NOSUCH SUBJECT x");
    r.assert_status("NO");
    assert!(
        r.code().is_some_and(|c| c.starts_with("BADCHARSET")),
        "{}",
        r.dump()
    );
    c.logout();
}

/// A uid-set such as `1:3,7` as a list.
fn expand(set: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for range in set.split(',') {
        match range.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                v.extend(a.min(b)..=a.max(b));
            }
            None => v.push(range.parse().unwrap()),
        }
    }
    v
}

/// COPYUID's validity and the two uid sets, expanded.
fn copyuid(code: &str) -> (u64, Vec<u32>, Vec<u32>) {
    let mut w = code.split(' ');
    assert_eq!(w.next(), Some("COPYUID"), "{code}");
    (
        w.next().unwrap().parse().unwrap(),
        expand(w.next().unwrap()),
        expand(w.next().unwrap()),
    )
}

#[test]
fn copy_and_move_with_copyuid() {
    let server = TestServer::new();
    server.make_folder("Sent");
    for n in 1..=4 {
        server.deliver(None, &message("bob@example.org", &format!("m{n}"), "x\r\n"));
    }
    let (mut c, _) = server.session("INBOX");
    c.send("a0", "STORE 2 +FLAGS (\\Flagged $Keep)").assert_ok();
    let r = c.send("a1", "COPY 1:2 INBOX.Sent");
    r.assert_ok();
    let (v, src, dst) = copyuid(r.code().unwrap_or_else(|| panic!("{}", r.dump())));
    assert_eq!((src, dst), (vec![1, 2], vec![1, 2]));
    let st = c.send("a2", "STATUS INBOX.Sent (MESSAGES UIDVALIDITY)");
    let st = status_items(&st);
    assert_eq!(st["MESSAGES"], 2);
    assert_eq!(st["UIDVALIDITY"], v);

    let r = c.send("a3", "COPY 1 INBOX.nosuch");
    r.assert_status("NO");
    assert_eq!(r.code(), Some("TRYCREATE"), "{}", r.dump());

    // MOVE: COPYUID untagged, then EXPUNGE, then OK.
    let r = c.send("a4", "UID MOVE 3 INBOX.Sent");
    r.assert_ok();
    let cu = r
        .untagged
        .iter()
        .find_map(|l| l.code().filter(|c| c.starts_with("COPYUID")))
        .unwrap_or_else(|| panic!("no COPYUID:\n{}", r.dump()));
    let (_, src, dst) = copyuid(cu);
    assert_eq!((src, dst), (vec![3], vec![3]));
    assert_eq!(r.expunged(), [3], "{}", r.dump());
    let r = c.send("a5", "MOVE 1 INBOX.Sent");
    r.assert_ok();
    assert_eq!(r.expunged(), [1], "{}", r.dump());
    let r = c.send("a6", "UID SEARCH ALL");
    assert_eq!(r.search(), [2, 4]);
    let r = c.send("a7", "UID COPY 4 INBOX.Sent");
    let (_, src, dst) = copyuid(r.code().unwrap());
    assert_eq!((src, dst), (vec![4], vec![5]));

    // Flags travel with a copy.
    c.send("a8", "SELECT INBOX.Sent").assert_ok();
    let r = c.send(
        "a9",
        "UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    assert_eq!(r.fetches().len(), 5, "{}", r.dump());
    let two = r
        .fetches()
        .into_iter()
        .find(|f| f.uid() == Some(2))
        .unwrap();
    let fl = two.flags().unwrap();
    assert!(
        fl.contains(&"\\Flagged".into()) && fl.contains(&"$Keep".into()),
        "{fl:?}"
    );
    c.logout();
}

/// Applies `* n EXPUNGE` responses, in order, to a list of UIDs.
fn apply_expunges(mut uids: Vec<u32>, r: &Reply) -> Vec<u32> {
    for n in r.expunged() {
        assert!(n as usize <= uids.len(), "EXPUNGE {n} of {}", uids.len());
        uids.remove(n as usize - 1);
    }
    uids
}

#[test]
fn expunge_and_uid_expunge() {
    let server = TestServer::new();
    for n in 1..=5 {
        server.deliver(None, &message("bob@example.org", &format!("m{n}"), "x\r\n"));
    }
    let (mut c, _) = server.session("INBOX");
    c.send("a1", "STORE 1,3,4 +FLAGS.SILENT (\\Deleted)")
        .assert_ok();
    let r = c.send("a2", "UID EXPUNGE 3:4,9");
    r.assert_ok();
    let uids = apply_expunges(vec![1, 2, 3, 4, 5], &r);
    assert_eq!(uids, [1, 2, 5], "{}", r.dump());
    let r = c.send("a3", "EXPUNGE");
    r.assert_ok();
    let uids = apply_expunges(uids, &r);
    assert_eq!(uids, [2, 5], "{}", r.dump());
    let r = c.send("a4", "UID SEARCH ALL");
    assert_eq!(r.search(), [2, 5]);
    assert_eq!(server.files("INBOX", "cur").len(), 2);
    c.logout();
}

#[test]
fn close_expunges_silently_but_unselect_does_not() {
    let server = TestServer::new();
    for n in 1..=3 {
        server.deliver(None, &message("bob@example.org", &format!("m{n}"), "x\r\n"));
    }
    let (mut c, _) = server.session("INBOX");
    c.send("a1", "STORE 1 +FLAGS (\\Deleted)").assert_ok();
    let r = c.send("a2", "UNSELECT");
    r.assert_ok();
    assert!(r.expunged().is_empty());
    c.send("a3", "FETCH 1 FLAGS").assert_status("BAD");
    let r = c.send("a4", "STATUS INBOX (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 3);

    // CLOSE in a read-only mailbox expunges nothing.
    c.send("a5", "EXAMINE INBOX").assert_ok();
    c.send("a6", "CLOSE").assert_ok();
    let r = c.send("a7", "STATUS INBOX (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 3);

    c.send("a8", "SELECT INBOX").assert_ok();
    let r = c.send("a9", "CLOSE");
    r.assert_ok();
    assert!(r.expunged().is_empty(), "CLOSE sent EXPUNGE:\n{}", r.dump());
    c.send("a10", "FETCH 1 FLAGS").assert_status("BAD");
    let r = c.send("a11", "STATUS INBOX (MESSAGES)");
    assert_eq!(status_items(&r)["MESSAGES"], 2);
    c.logout();
}

#[test]
fn recent_belongs_to_one_session() {
    let server = TestServer::new();
    server.deliver(None, &message("bob@example.org", "m1", "x\r\n"));
    server.deliver(None, &message("bob@example.org", "m2", "x\r\n"));
    let (mut a, sel_a) = server.session("INBOX");
    assert_eq!(sel_a.numbered("RECENT"), [2], "{}", sel_a.dump());
    let r = a.send("a1", "FETCH 1:2 FLAGS");
    for f in r.fetches() {
        assert!(
            f.flags().unwrap().contains(&"\\Recent".into()),
            "{}",
            f.text
        );
    }
    assert_eq!(a.send("a2", "SEARCH RECENT").search(), [1, 2]);
    assert_eq!(a.send("a3", "SEARCH NEW").search(), [1, 2]);

    let (mut b, sel_b) = server.session("INBOX");
    assert_eq!(sel_b.numbered("RECENT"), [0], "{}", sel_b.dump());
    assert_eq!(b.send("b1", "SEARCH RECENT").search(), Vec::<u32>::new());
    let r = b.send("b2", "FETCH 1:2 FLAGS");
    for f in r.fetches() {
        assert!(
            !f.flags().unwrap().contains(&"\\Recent".into()),
            "{}",
            f.text
        );
    }

    // A later delivery is recent for one of the two sessions only.
    server.deliver(None, &message("bob@example.org", "m3", "x\r\n"));
    let ra = a.send("a4", "NOOP");
    let rb = b.send("b3", "NOOP");
    assert_eq!(ra.exists(), [3], "{}", ra.dump());
    assert_eq!(rb.exists(), [3], "{}", rb.dump());
    let recent_a = a.send("a5", "SEARCH RECENT").search();
    let recent_b = b.send("b4", "SEARCH RECENT").search();
    let mut all = [recent_a.clone(), recent_b.clone()].concat();
    all.sort();
    assert_eq!(all, [1, 2, 3], "A: {recent_a:?}, B: {recent_b:?}");
    a.logout();
    b.logout();

    let (c, sel_c) = server.session("INBOX");
    assert_eq!(sel_c.numbered("RECENT"), [0], "{}", sel_c.dump());
    c.logout();
}
