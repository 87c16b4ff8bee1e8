//! Real client commands (RFC 3501 examples, Thunderbird, Apple Mail, mutt, Outlook) and the
//! errors a broken or hostile client can produce.

use crate::imap::command::*;
use crate::imap::framing::{FramingLimits, MemoryWire, read_command};
use crate::imap::raw::{CommandError, ErrorKind};

fn parse(line: &str) -> Result<Command, CommandError> {
    let mut wire = MemoryWire::new(format!("{line}\r\n"));
    read_command(&mut wire, &FramingLimits::default(), None)
}

fn ok(line: &str) -> CommandBody {
    match parse(line) {
        Ok(c) => c.body,
        Err(e) => panic!("{line:?}: {e}"),
    }
}

fn set(s: &str) -> SequenceSet {
    SequenceSet::parse(s.as_bytes()).unwrap()
}

fn d(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn section(part: &[u32], text: Option<SectionText>) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

#[test]
fn every_real_client_command_parses() {
    use CommandBody as C;
    use FetchItem as F;
    use SearchKey as K;
    let s = String::from;
    let table: Vec<(&str, CommandBody)> = vec![
        ("a001 CAPABILITY", C::Capability),
        ("a002 noop", C::Noop),
        ("A023 LOGOUT", C::Logout),
        ("a001 STARTTLS", C::StartTls),
        ("a001 LOGIN SMITH SESAME", C::Login { username: s("SMITH"), password: b("SESAME") }),
        (
            r#"a001 LOGIN "fred@example.com" "p a\"s\\s""#,
            C::Login { username: s("fred@example.com"), password: b(r#"p a"s\s"#) },
        ),
        ("A1 AUTHENTICATE PLAIN", C::Authenticate { mechanism: s("PLAIN"), initial_response: None }),
        (
            "A1 AUTHENTICATE plain dGVzdAB0ZXN0AHRlc3Q=",
            C::Authenticate {
                mechanism: s("PLAIN"),
                initial_response: Some(s("dGVzdAB0ZXN0AHRlc3Q=")),
            },
        ),
        (
            "A1 AUTHENTICATE EXTERNAL =",
            C::Authenticate { mechanism: s("EXTERNAL"), initial_response: Some(s("")) },
        ),
        ("A142 SELECT INBOX", C::Select { mailbox: s("INBOX"), params: vec![] }),
        (
            "A142 SELECT \"INBOX.Sent Items\" (CONDSTORE)",
            C::Select { mailbox: s("INBOX.Sent Items"), params: vec![SelectParam::CondStore] },
        ),
        (
            "A142 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
            C::Select {
                mailbox: s("INBOX"),
                params: vec![SelectParam::QResync(QResyncParam {
                    uid_validity: 67890007,
                    modseq: 20050715194045000,
                    known_uids: Some(set("41,43:211,214:541")),
                    seq_match: None,
                })],
            },
        ),
        ("A932 EXAMINE blurdybloop", C::Examine { mailbox: s("blurdybloop"), params: vec![] }),
        ("A003 CREATE owatagusiam/", C::Create { mailbox: s("owatagusiam/"), uses: vec![] }),
        ("A004 CREATE \"Entw&APw-rfe\"", C::Create { mailbox: s("Entw&APw-rfe"), uses: vec![] }),
        // RFC 6154 §5.3.
        ("t1 CREATE MySpecialArchive (USE (\\Archive))", C::Create { mailbox: s("MySpecialArchive"), uses: vec![s("Archive")] }),
        ("t2 CREATE x (USE (\\Sent \\Junk))", C::Create { mailbox: s("x"), uses: vec![s("Sent"), s("Junk")] }),
        ("A683 DELETE blurdybloop", C::Delete { mailbox: s("blurdybloop") }),
        ("A683 RENAME blurdybloop sarasoop", C::Rename { from: s("blurdybloop"), to: s("sarasoop") }),
        ("A002 SUBSCRIBE #news.comp.mail.mime", C::Subscribe { mailbox: s("#news.comp.mail.mime") }),
        ("A002 UNSUBSCRIBE \"INBOX.a b\"", C::Unsubscribe { mailbox: s("INBOX.a b") }),
        (
            "A101 LIST \"\" \"\"",
            C::List { selection: vec![], reference: s(""), patterns: vec![s("")], returns: vec![] },
        ),
        (
            "A102 LIST #news.comp.mail.misc %",
            C::List {
                selection: vec![],
                reference: s("#news.comp.mail.misc"),
                patterns: vec![s("%")],
                returns: vec![],
            },
        ),
        (
            "A103 LIST \"\" INBOX.*",
            C::List { selection: vec![], reference: s(""), patterns: vec![s("INBOX.*")], returns: vec![] },
        ),
        (
            "A01 LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN SPECIAL-USE)",
            C::List {
                selection: vec![ListSelect::Subscribed],
                reference: s(""),
                patterns: vec![s("*")],
                returns: vec![ListReturn::Children, ListReturn::SpecialUse],
            },
        ),
        (
            "A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" \"Drafts\" %) RETURN (STATUS (MESSAGES UNSEEN))",
            C::List {
                selection: vec![ListSelect::Subscribed, ListSelect::RecursiveMatch],
                reference: s(""),
                patterns: vec![s("INBOX"), s("Drafts"), s("%")],
                returns: vec![ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen])],
            },
        ),
        (
            "A03 LIST () \"\" % RETURN ()",
            C::List { selection: vec![], reference: s(""), patterns: vec![s("%")], returns: vec![] },
        ),
        ("A002 LSUB #news. \"comp.mail.*\"", C::Lsub { reference: s("#news."), pattern: s("comp.mail.*") }),
        (
            "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
            C::Status { mailbox: s("blurdybloop"), items: vec![StatusItem::UidNext, StatusItem::Messages] },
        ),
        (
            "A043 status INBOX (messages recent uidnext uidvalidity unseen size deleted)",
            C::Status {
                mailbox: s("INBOX"),
                items: vec![
                    StatusItem::Messages,
                    StatusItem::Recent,
                    StatusItem::UidNext,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::Size,
                    StatusItem::Deleted,
                ],
            },
        ),
        ("FXXZ CHECK", C::Check),
        ("A341 CLOSE", C::Close),
        ("A342 UNSELECT", C::Unselect),
        ("A202 EXPUNGE", C::Expunge { uids: None }),
        ("A003 UID EXPUNGE 3000:3002", C::Expunge { uids: Some(set("3000:3002")) }),
        ("A004 IDLE", C::Idle),
        ("A005 NAMESPACE", C::Namespace),
        ("t1 ENABLE CONDSTORE UTF8=ACCEPT", C::Enable(vec![s("CONDSTORE"), s("UTF8=ACCEPT")])),
        ("a023 ID NIL", C::Id(None)),
        (
            "a023 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\" \"vendor\" NIL)",
            C::Id(Some(vec![
                (s("name"), Some(s("Thunderbird"))),
                (s("version"), Some(s("115.3.1"))),
                (s("vendor"), None),
            ])),
        ),
        ("G GETQUOTA \"\"", C::GetQuota { root: s("") }),
        ("G GETQUOTAROOT INBOX", C::GetQuotaRoot { mailbox: s("INBOX") }),
        (
            "S SETQUOTA \"\" (STORAGE 512 MESSAGE 1000)",
            C::SetQuota { root: s(""), limits: vec![(s("STORAGE"), 512), (s("MESSAGE"), 1000)] },
        ),
        ("A GETACL INBOX", C::GetAcl { mailbox: s("INBOX") }),
        (
            "A SETACL INBOX/Drafts Chris +cda",
            C::SetAcl { mailbox: s("INBOX/Drafts"), identifier: s("Chris"), rights: s("+cda") },
        ),
        ("A DELETEACL INBOX Fred", C::DeleteAcl { mailbox: s("INBOX"), identifier: s("Fred") }),
        ("A LISTRIGHTS ~/Mail/saved smith", C::ListRights { mailbox: s("~/Mail/saved"), identifier: s("smith") }),
        ("A MYRIGHTS INBOX", C::MyRights { mailbox: s("INBOX") }),
        // SEARCH
        (
            "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            C::Search {
                uid: false,
                charset: None,
                criteria: K::And(vec![
                    K::Flagged,
                    K::Since(d(1994, 2, 1)),
                    K::Not(Box::new(K::From(b("Smith")))),
                ]),
                returns: None,
            },
        ),
        (
            "A283 SEARCH TEXT \"string not in mailbox\"",
            C::Search { uid: false, charset: None, criteria: K::Text(b("string not in mailbox")), returns: None },
        ),
        (
            "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX",
            C::Search { uid: false, charset: Some(s("UTF-8")), criteria: K::Text(b("XXXXXX")), returns: None },
        ),
        (
            "A285 UID SEARCH 1:* NOT DELETED",
            C::Search {
                uid: true,
                charset: None,
                criteria: K::And(vec![K::SequenceSet(set("1:*")), K::Not(Box::new(K::Deleted))]),
                returns: None,
            },
        ),
        (
            "A286 UID SEARCH UID 100:* OR (SEEN FLAGGED) OR ANSWERED DRAFT",
            C::Search {
                uid: true,
                charset: None,
                criteria: K::And(vec![
                    K::Uid(set("100:*")),
                    K::Or(
                        Box::new(K::And(vec![K::Seen, K::Flagged])),
                        Box::new(K::Or(Box::new(K::Answered), Box::new(K::Draft))),
                    ),
                ]),
                returns: None,
            },
        ),
        (
            "A287 SEARCH RETURN (MIN COUNT) HEADER Message-ID <x@y> LARGER 1024 SMALLER 99999 KEYWORD $Junk UNKEYWORD $NotJunk",
            C::Search {
                uid: false,
                charset: None,
                criteria: K::And(vec![
                    K::Header(s("Message-ID"), b("<x@y>")),
                    K::Larger(1024),
                    K::Smaller(99999),
                    K::Keyword(s("$Junk")),
                    K::Unkeyword(s("$NotJunk")),
                ]),
                returns: Some(vec![SearchReturn::Min, SearchReturn::Count]),
            },
        ),
        (
            "A288 SEARCH RETURN () ALL",
            C::Search { uid: false, charset: None, criteria: K::All, returns: Some(vec![]) },
        ),
        (
            "A289 SEARCH BEFORE \"9-Mar-2024\" ON 29-Feb-2024 SENTBEFORE 01-Jan-2000 SENTON 2-Dec-1999 SENTSINCE 3-nov-1998 OLDER 3600 YOUNGER 60",
            C::Search {
                uid: false,
                charset: None,
                criteria: K::And(vec![
                    K::Before(d(2024, 3, 9)),
                    K::On(d(2024, 2, 29)),
                    K::SentBefore(d(2000, 1, 1)),
                    K::SentOn(d(1999, 12, 2)),
                    K::SentSince(d(1998, 11, 3)),
                    K::Older(3600),
                    K::Younger(60),
                ]),
                returns: None,
            },
        ),
        (
            "A290 SEARCH ANSWERED BCC b BODY x CC c DELETED DRAFT NEW OLD RECENT SEEN SUBJECT s TO t UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN 2,4:*",
            C::Search {
                uid: false,
                charset: None,
                criteria: K::And(vec![
                    K::Answered,
                    K::Bcc(b("b")),
                    K::Body(b("x")),
                    K::Cc(b("c")),
                    K::Deleted,
                    K::Draft,
                    K::New,
                    K::Old,
                    K::Recent,
                    K::Seen,
                    K::Subject(b("s")),
                    K::To(b("t")),
                    K::Unanswered,
                    K::Undeleted,
                    K::Undraft,
                    K::Unflagged,
                    K::Unseen,
                    K::SequenceSet(set("2,4:*")),
                ]),
                returns: None,
            },
        ),
        (
            "A291 SEARCH (OR FROM a (TO b CC c))",
            C::Search {
                uid: false,
                charset: None,
                criteria: K::Or(
                    Box::new(K::From(b("a"))),
                    Box::new(K::And(vec![K::To(b("b")), K::Cc(b("c"))])),
                ),
                returns: None,
            },
        ),
        // FETCH
        (
            "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
            C::Fetch {
                uid: false,
                set: set("2:4"),
                items: vec![
                    F::Flags,
                    F::BodySection {
                        peek: false,
                        section: section(&[], Some(SectionText::HeaderFields(vec![s("DATE"), s("FROM")]))),
                        partial: None,
                    },
                ],
            },
        ),
        (
            "A1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
            C::Fetch {
                uid: true,
                set: set("1:*"),
                items: vec![
                    F::Uid,
                    F::Rfc822Size,
                    F::Flags,
                    F::BodySection {
                        peek: true,
                        section: section(
                            &[],
                            Some(SectionText::HeaderFields(
                                "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To"
                                    .split(' ')
                                    .map(String::from)
                                    .collect(),
                            )),
                        ),
                        partial: None,
                    },
                ],
            },
        ),
        (
            "A2 UID FETCH 4827 (INTERNALDATE UID RFC822.SIZE FLAGS MODSEQ_ BODY.PEEK[])",
            C::Capability, // placeholder, replaced below: MODSEQ_ is unknown
        ),
        (
            "A3 FETCH 1 ALL",
            C::Fetch { uid: false, set: set("1"), items: vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope] },
        ),
        (
            "A4 FETCH 1 fast",
            C::Fetch { uid: false, set: set("1"), items: vec![F::Flags, F::InternalDate, F::Rfc822Size] },
        ),
        (
            "A5 FETCH * FULL",
            C::Fetch {
                uid: false,
                set: set("*"),
                items: vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope, F::Body],
            },
        ),
        (
            "A6 FETCH 1:3 (ENVELOPE INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE)",
            C::Fetch {
                uid: false,
                set: set("1:3"),
                items: vec![
                    F::Envelope,
                    F::InternalDate,
                    F::Rfc822,
                    F::Rfc822Header,
                    F::Rfc822Text,
                    F::Body,
                    F::BodyStructure,
                ],
            },
        ),
        (
            "A7 UID FETCH 9 (BODY.PEEK[1.2.MIME] BODY[3.TEXT]<0.2048> BODY[]<100.50> BODY[2] BODY.PEEK[HEADER] BODY[HEADER.FIELDS.NOT (Received)])",
            C::Fetch {
                uid: true,
                set: set("9"),
                items: vec![
                    F::BodySection { peek: true, section: section(&[1, 2], Some(SectionText::Mime)), partial: None },
                    F::BodySection {
                        peek: false,
                        section: section(&[3], Some(SectionText::Text)),
                        partial: Some(Partial { offset: 0, count: 2048 }),
                    },
                    F::BodySection {
                        peek: false,
                        section: section(&[], None),
                        partial: Some(Partial { offset: 100, count: 50 }),
                    },
                    F::BodySection { peek: false, section: section(&[2], None), partial: None },
                    F::BodySection { peek: true, section: section(&[], Some(SectionText::Header)), partial: None },
                    F::BodySection {
                        peek: false,
                        section: section(&[], Some(SectionText::HeaderFieldsNot(vec![s("Received")]))),
                        partial: None,
                    },
                ],
            },
        ),
        (
            "A8 FETCH 1 (BINARY.PEEK[1]<0.100> BINARY[] BINARY.SIZE[2.1])",
            C::Fetch {
                uid: false,
                set: set("1"),
                items: vec![
                    F::Binary { peek: true, part: vec![1], partial: Some(Partial { offset: 0, count: 100 }) },
                    F::Binary { peek: false, part: vec![], partial: None },
                    F::BinarySize { part: vec![2, 1] },
                ],
            },
        ),
        (
            // RFC 8970: PREVIEW with and without the LAZY modifier, named once.
            "A8p FETCH 1 (PREVIEW (LAZY) FLAGS PREVIEW)",
            C::Fetch {
                uid: false,
                set: set("1"),
                items: vec![F::Preview { lazy: false }, F::Flags],
            },
        ),
        (
            "A8q FETCH 1 preview (lazy)",
            C::Fetch {
                uid: false,
                set: set("1"),
                items: vec![F::Preview { lazy: true }],
            },
        ),
        (
            // RFC 8514 and RFC 8474's message items.
            "A8s FETCH 1:* (savedate EMAILID ThreadID)",
            C::Fetch {
                uid: false,
                set: set("1:*"),
                items: vec![F::SaveDate, F::EmailId, F::ThreadId],
            },
        ),
        (
            "A8t SEARCH SAVEDBEFORE 1-Jan-2002 SAVEDON \"9-Sep-2001\" SAVEDSINCE 2-Feb-2000 SAVEDATESUPPORTED EMAILID M6d99ebf8 THREADID T-1_x",
            C::Search {
                uid: false,
                charset: None,
                criteria: K::And(vec![
                    K::SavedBefore(d(2002, 1, 1)),
                    K::SavedOn(d(2001, 9, 9)),
                    K::SavedSince(d(2000, 2, 2)),
                    K::SaveDateSupported,
                    K::EmailId("M6d99ebf8".into()),
                    K::ThreadId("T-1_x".into()),
                ]),
                returns: None,
            },
        ),
        ("A8c compress deflate", C::Compress("DEFLATE".into())),
        (
            "A9 FETCH 5 body[header.fields (\"Subject\" X-Foo)]",
            C::Fetch {
                uid: false,
                set: set("5"),
                items: vec![F::BodySection {
                    peek: false,
                    section: section(&[], Some(SectionText::HeaderFields(vec![s("Subject"), s("X-Foo")]))),
                    partial: None,
                }],
            },
        ),
        // STORE
        (
            "A003 STORE 2:4 +FLAGS (\\Deleted)",
            C::Store { uid: false, set: set("2:4"), mode: StoreMode::Add, silent: false, flags: vec![Flag::Deleted] },
        ),
        (
            "A004 UID STORE 100:200 -FLAGS.SILENT (\\Seen $Junk)",
            C::Store {
                uid: true,
                set: set("100:200"),
                mode: StoreMode::Remove,
                silent: true,
                flags: vec![Flag::Seen, Flag::Keyword(s("$Junk"))],
            },
        ),
        (
            "A005 STORE 1 flags \\seen \\ANSWERED \\Flagged \\draft \\Foo NonJunk",
            C::Store {
                uid: false,
                set: set("1"),
                mode: StoreMode::Replace,
                silent: false,
                flags: vec![
                    Flag::Seen,
                    Flag::Answered,
                    Flag::Flagged,
                    Flag::Draft,
                    Flag::Extension(s("Foo")),
                    Flag::Keyword(s("NonJunk")),
                ],
            },
        ),
        ("A006 STORE 1 FLAGS ()", C::Store { uid: false, set: set("1"), mode: StoreMode::Replace, silent: false, flags: vec![] }),
        // COPY / MOVE
        ("A003 COPY 2:4 MEETING", C::Copy { uid: false, set: set("2:4"), mailbox: s("MEETING") }),
        ("A004 UID COPY 1,3:5 \"INBOX.Trash\"", C::Copy { uid: true, set: set("1,3:5"), mailbox: s("INBOX.Trash") }),
        ("a MOVE 1:3 Archive", C::Move { uid: false, set: set("1:3"), mailbox: s("Archive") }),
        ("a UID MOVE 42 {5}\r\nJunk!", C::Move { uid: true, set: set("42"), mailbox: s("Junk!") }),
    ];
    let mut n = 0;
    for (line, want) in table {
        if line.contains("MODSEQ_") {
            assert!(parse(line).is_err());
            continue;
        }
        let got = ok(line);
        assert_eq!(got, want, "{line:?}");
        n += 1;
    }
    assert!(n >= 70, "{n}");
}

#[test]
fn append_forms() {
    let cmd = ok("A003 APPEND saved-messages (\\Seen) {23}\r\nFrom: a\r\n\r\nHello you!\r\n");
    let CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
        utf8,
        binary,
        more,
    } = cmd
    else {
        panic!()
    };
    assert!(!binary);
    assert!(more.is_empty());
    assert_eq!(mailbox, "saved-messages");
    assert_eq!(flags, vec![Flag::Seen]);
    assert_eq!(date, None);
    assert_eq!(
        message,
        LiteralData::Memory(b("From: a\r\n\r\nHello you!\r\n"))
    );
    assert!(!utf8);

    let cmd = ok("A4 APPEND INBOX (\\Seen $Forwarded) \"05-Oct-2024 09:08:07 -0130\" {3+}\r\nabc");
    let CommandBody::Append { flags, date, .. } = cmd else {
        panic!()
    };
    assert_eq!(flags, vec![Flag::Seen, Flag::Keyword("$Forwarded".into())]);
    let date = date.unwrap();
    assert_eq!(date.date, d(2024, 10, 5));
    assert_eq!(
        (date.hour, date.minute, date.second, date.zone_minutes),
        (9, 8, 7, -90)
    );

    let cmd = ok("A5 APPEND INBOX \" 5-Oct-2024 23:59:60 +1400\" {1}\r\nx");
    let CommandBody::Append { date, .. } = cmd else {
        panic!()
    };
    assert_eq!(date.unwrap().zone_minutes, 14 * 60);

    let cmd = ok("A6 APPEND INBOX UTF8 (~{2}\r\nhi)");
    let CommandBody::Append { utf8, message, .. } = cmd else {
        panic!()
    };
    assert!(utf8);
    assert_eq!(message, LiteralData::Memory(b("hi")));

    // RFC 3516 §4.4: APPEND takes a literal8 message.
    let cmd = ok("A8 APPEND INBOX ~{3}\r\na\0b");
    let CommandBody::Append {
        utf8,
        binary,
        message,
        ..
    } = cmd
    else {
        panic!()
    };
    assert!(!utf8);
    assert!(binary, "the literal8 marker is carried to the command");
    assert_eq!(message, LiteralData::Memory(b"a\0b".to_vec()));

    let cmd = ok("A7 APPEND {5}\r\nDraft () {0}\r\n");
    let CommandBody::Append {
        mailbox, message, ..
    } = cmd
    else {
        panic!()
    };
    assert_eq!(mailbox, "Draft");
    assert!(message.is_empty());

    // MULTIAPPEND (RFC 3502 §6's example, shortened): each message with its own flags
    // and date, the third in RFC 6855's UTF8 form.
    let cmd = ok(
        "A8 APPEND saved-messages (\\Seen) {3}\r\nabc (\\Seen) \" 5-Oct-2024 23:59:60 +1400\" {2}\r\nde UTF8 (~{1}\r\nf)",
    );
    let CommandBody::Append { message, more, .. } = cmd else {
        panic!()
    };
    assert_eq!(message, LiteralData::Memory(b("abc")));
    assert_eq!(more.len(), 2);
    assert_eq!(more[0].flags, vec![Flag::Seen]);
    assert!(more[0].date.is_some());
    assert_eq!(more[0].message, LiteralData::Memory(b("de")));
    assert!(more[1].utf8);
    assert_eq!(more[1].message, LiteralData::Memory(b("f")));
}

#[test]
fn errors_keep_the_tag_and_say_why() {
    let cases = [
        ("A1 FROB", "unknown command"),
        ("A1 UID FROB 1", "unknown command"),
        ("A1 SELECT", "space"),
        ("A1 LOGIN user", "space"),
        ("A1 FETCH 0 FLAGS", "sequence"),
        ("A1 FETCH 1:0 FLAGS", "sequence"),
        ("A1 FETCH a FLAGS", "sequence"),
        ("A1 FETCH 1,,2 FLAGS", "sequence"),
        ("A1 FETCH 1 (FLAGS", "space"),
        ("A1 FETCH 1 FLAGS)", "end of command"),
        ("A1 FETCH 1 (ALL)", "fetch item"),
        ("A1 FETCH 1 (BODY[1.MIME.TEXT])", "section"),
        ("A1 FETCH 1 BODY[MIME]", "section"),
        ("A1 FETCH 1 BODY[]<1.0>", "zero"),
        ("A1 FETCH 1 BODY[0]", "zero"),
        ("A1 SEARCH SINCE 30-Feb-2024", "date"),
        ("A1 SEARCH SINCE 1-Foo-2024", "month"),
        ("A1 SEARCH SINCE 1-Jan-24", "date"),
        ("A1 SEARCH (SEEN", "')'"),
        ("A1 SEARCH SEEN)", "end of command"),
        ("A1 SEARCH FOO", "unknown search key"),
        ("A1 SEARCH OR SEEN", "space"),
        ("A1 SEARCH", "space"),
        ("A1 SEARCH RETURN (FOO) ALL", "return option"),
        ("A1 NOOP extra", "end of command"),
        ("A1 CAPABILITY ", "end of command"),
        ("A1  NOOP", "atom"),
        ("A1 STORE 1 +FLAGS (\\Recent)", "Recent"),
        ("A1 STORE 1 FLAGS \\*", "\\*"),
        ("A1 STORE 1 FOO (\\Seen)", "FLAGS"),
        ("A1 APPEND INBOX (\\Recent) {1}\r\nx", "Recent"),
        (
            "A1 APPEND INBOX \"5-Oct-2024 25:00:00 +0000\" {1}\r\nx",
            "time",
        ),
        ("A1 APPEND INBOX", "space"),
        ("A1 LOGIN ~{1}\r\nx y", "literal8"),
        ("A1 FETCH 1 (PREVIEW (FAST))", "PREVIEW"),
        ("A1 COMPRESS", "space"),
        ("A1 APPEND INBOX \"oops\" {1}\r\nx", "date"),
        ("A1 STATUS INBOX (FOO)", "status item"),
        ("A1 STATUS INBOX ()", "atom"),
        ("A1 LIST \"\"", "space"),
        ("A1 LIST \"\" % FOO (CHILDREN)", "RETURN"),
        ("A1 LOGIN \"unterminated", "unterminated"),
        ("A1 LOGIN \"a\\b\" c", "escape"),
        ("A1 AUTHENTICATE PLAIN abc", "base64"),
        ("A1 ENABLE", "at least one"),
        ("A1 SELECT {3}x", "end the line"),
        ("A1 UID EXPUNGE", "space"),
        ("A1 ID (\"a\")", "space"),
    ];
    let mut wrong = Vec::new();
    for (line, why) in cases {
        match parse(line) {
            Err(CommandError {
                tag,
                kind: ErrorKind::BadSyntax(msg),
            }) if tag.as_deref() == Some("A1") && msg.contains(why) => {}
            other => wrong.push(format!("{line:?} wants {why:?}, got {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let mut wire = MemoryWire::new(&b"A1 CREATE \"\xff\"\r\n"[..]);
    let e = read_command(&mut wire, &FramingLimits::default(), None).unwrap_err();
    assert!(e.to_string().contains("UTF-8"), "{e}");
    for line in ["", " NOOP", "+ NOOP", "A{ NOOP", "* NOOP", "A1"] {
        let e = parse(line).expect_err(line);
        if line == "A1" {
            assert_eq!(e.tag.as_deref(), Some("A1"));
        } else {
            assert_eq!(e.tag, None, "{line:?}");
        }
        assert!(e.is_recoverable());
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let line = format!("A1 SEARCH {}SEEN{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = parse(&line).unwrap_err();
    assert!(e.to_string().contains("deeply"), "{e}");
    let line = format!("A1 SEARCH {}SEEN", "NOT ".repeat(10_000));
    assert!(parse(&line).unwrap_err().to_string().contains("deeply"));
}

#[test]
fn fetch_items_named_twice_are_kept_once() {
    use FetchItem as F;
    let body = |peek, part: &[u32], partial| F::BodySection {
        peek,
        section: section(part, None),
        partial,
    };
    let CommandBody::Fetch { items, .. } = ok(
        "a FETCH 1 (INTERNALDATE INTERNALDATE FLAGS UID FLAGS BODY.PEEK[1] BODY[1] \
         BODY.PEEK[2] BODY.PEEK[2]<0.5> BODY.PEEK[2] BINARY.PEEK[1] BINARY[1])",
    ) else {
        panic!()
    };
    assert_eq!(
        items,
        [
            F::InternalDate,
            F::Flags,
            F::Uid,
            body(false, &[1], None),
            body(true, &[2], None),
            body(
                true,
                &[2],
                Some(Partial {
                    offset: 0,
                    count: 5
                })
            ),
            F::Binary {
                peek: false,
                part: vec![1],
                partial: None
            },
        ]
    );
}

/// ESEARCH / SEARCHRES / PARTIAL / WITHIN syntax (RFC 4731, 5182, 9394, 5032).
#[test]
fn search_extensions_parse() {
    use SearchKey as K;
    let p = |first, last, from_end| PartialRange {
        first,
        last,
        from_end,
    };
    let search = |line: &str| match ok(line) {
        CommandBody::Search {
            criteria, returns, ..
        } => (criteria, returns),
        other => panic!("{line}: {other:?}"),
    };
    assert_eq!(
        search("A1 SEARCH RETURN (SAVE MIN PARTIAL 1:100 COUNT) $ UNSEEN"),
        (
            K::And(vec![K::SequenceSet(SequenceSet::last_result()), K::Unseen]),
            Some(vec![
                SearchReturn::Save,
                SearchReturn::Min,
                SearchReturn::Partial(p(1, 100, false)),
                SearchReturn::Count,
            ])
        )
    );
    assert_eq!(
        search("A1 UID SEARCH RETURN (PARTIAL -1:-50) UID $").1,
        Some(vec![SearchReturn::Partial(p(1, 50, true))])
    );
    assert_eq!(
        search("A1 SEARCH RETURN (PARTIAL 9:3) ALL").1,
        Some(vec![SearchReturn::Partial(p(3, 9, false))])
    );
    for (line, set) in [
        ("A1 FETCH $ (FLAGS)", SequenceSet::last_result()),
        ("A1 UID STORE $ +FLAGS (\\Seen)", SequenceSet::last_result()),
    ] {
        match ok(line) {
            CommandBody::Fetch { set: s, .. } | CommandBody::Store { set: s, .. } => {
                assert_eq!(s, set, "{line}")
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    assert!(
        matches!(ok("A1 UID COPY $ Trash"), CommandBody::Copy { set, .. } if set.is_last_result())
    );
    assert!(
        matches!(ok("A1 UID EXPUNGE $"), CommandBody::Expunge { uids: Some(set) } if set.is_last_result())
    );
    assert_eq!(
        ok("A1 UID FETCH 1:* (FLAGS) (PARTIAL -1:-30)"),
        CommandBody::FetchPartial {
            set: set("1:*"),
            items: vec![FetchItem::Flags],
            range: p(1, 30, true),
        }
    );
    // A SEARCH SAVE that does not parse still reaches the session (to empty `$`).
    for line in [
        "A1 SEARCH RETURN (SAVE) FOO",
        "A1 SEARCH RETURN (SAVE BAR) ALL",
        "A1 UID SEARCH RETURN (SAVE) ALL)",
    ] {
        assert!(
            matches!(ok(line), CommandBody::SearchSaveFailed { .. }),
            "{line}"
        );
    }
    for (line, why) in [
        ("A1 SEARCH RETURN (PARTIAL 0:5) ALL", "zero"),
        ("A1 SEARCH RETURN (PARTIAL -1:5) ALL", "from the end"),
        ("A1 SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", "once"),
        ("A1 SEARCH RETURN (PARTIAL) ALL", "space"),
        ("A1 FETCH 1:* (FLAGS) (PARTIAL 1:5)", "UID FETCH"),
        ("A1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 FOO)", "modifier"),
        (
            "A1 FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)",
            "UID FETCH",
        ),
        ("A1 STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)", "modifier"),
        ("A1 FETCH $1 FLAGS", "space"),
    ] {
        match parse(line) {
            Err(CommandError {
                kind: ErrorKind::BadSyntax(msg),
                ..
            }) if msg.contains(why) => {}
            other => panic!("{line:?} wants {why:?}, got {other:?}"),
        }
    }
}

/// RFC 7162's syntax: the examples of §3.1 and §3.2.
#[test]
fn condstore_and_qresync_parse() {
    assert_eq!(
        ok("a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121231777) +FLAGS.SILENT (\\Deleted)"),
        CommandBody::StoreUnchangedSince {
            uid: true,
            set: set("6,4,8"),
            mode: StoreMode::Add,
            silent: true,
            flags: vec![Flag::Deleted],
            unchanged_since: 12121231777,
        }
    );
    assert_eq!(
        ok("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)"),
        CommandBody::FetchChangedSince {
            uid: true,
            set: set("1:*"),
            items: vec![FetchItem::Flags],
            changed_since: 12345,
            vanished: true,
        }
    );
    assert_eq!(
        ok("a FETCH 1:* (FLAGS MODSEQ)"),
        CommandBody::Fetch {
            uid: false,
            set: set("1:*"),
            items: vec![FetchItem::Flags, FetchItem::ModSeq]
        }
    );
    let CommandBody::Search { criteria, .. } =
        ok("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338")
    else {
        panic!()
    };
    assert_eq!(criteria, SearchKey::ModSeq(620162338));
    assert_eq!(
        ok("A042 STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)"),
        CommandBody::Status {
            mailbox: "blurdybloop".into(),
            items: vec![
                StatusItem::UidNext,
                StatusItem::Messages,
                StatusItem::HighestModSeq
            ],
        }
    );
    assert_eq!(
        ok("B202 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:7 41:47)))"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            params: vec![SelectParam::QResync(QResyncParam {
                uid_validity: 67890007,
                modseq: 90060115194045000,
                known_uids: Some(set("41:211,214:541")),
                seq_match: Some((set("1:7"), set("41:47"))),
            })],
        }
    );
    assert_eq!(
        ok("B SELECT INBOX (QRESYNC (5 7 (1 3)))"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            params: vec![SelectParam::QResync(QResyncParam {
                uid_validity: 5,
                modseq: 7,
                known_uids: None,
                seq_match: Some((set("1"), set("3"))),
            })],
        }
    );
}
