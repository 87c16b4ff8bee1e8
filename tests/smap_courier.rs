//! SMAP1 (`[imap] smap = true`) against the real Courier-IMAP 5.0.13 (Debian 12) as the
//! oracle (tests/courier/oracle.rs; the differential tests print `SKIP:` without it).
//!
//! Courier's imapd runs pre-authenticated with `PROTOCOL=SMAP1` on stdin/stdout (as its
//! own `smaptestsuite` runs it) on one copy of a Maildir; postern runs `serve` with SMAP
//! on and is logged in over TCP with `\SMAP1 LOGIN` on another copy. The same script goes
//! to both, one command at a time, and every reply must be the same bytes, except where
//! the normalisation below names a free choice; afterwards the Maildirs must hold the
//! same messages (names and flags), keywords and UID database entries.
//!
//! The other tests need no Courier: `\SMAP1` with SMAP off, the capability, limits (long
//! lines, huge and malformed ADD uploads), over a real socket.

mod common;

#[path = "courier/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{PASS, TestServer, USER, give_to_mail_owner};
use oracle::Courier;

/// One SMAP connection: replies are read as SMAP frames them.
struct Smap {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: Box<dyn Write + Send>,
}

impl Smap {
    fn tcp(port: u16) -> Smap {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(common::WAIT)).unwrap();
        let r = s.try_clone().unwrap();
        Smap {
            reader: BufReader::new(Box::new(r)),
            writer: Box::new(s),
        }
    }

    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(!line.is_empty(), "connection closed");
        line
    }

    /// Sends one command line (LF added).
    fn send_line(&mut self, cmd: &str) {
        self.writer.write_all(cmd.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
        self.writer.flush().unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// Everything up to and including the status line (`+OK`, `-ERR`, or `>`).
    fn reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = self.line();
            out.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line).to_string();
            if text.starts_with("+OK") || text.starts_with("-ERR") || text.starts_with("> ") {
                return out;
            }
            if text.starts_with("{.") {
                loop {
                    let l = self.line();
                    out.extend_from_slice(&l);
                    if l.trim_ascii() == b"." {
                        break;
                    }
                }
            } else if let Some(n) = text
                .strip_prefix('{')
                .and_then(|t| t.split_once('/'))
                .and_then(|(n, _)| n.parse::<usize>().ok())
            {
                let mut n = n;
                loop {
                    let mut chunk = vec![0; n];
                    self.reader.read_exact(&mut chunk).unwrap();
                    out.extend_from_slice(&chunk);
                    let l = self.line();
                    out.extend_from_slice(&l);
                    let t = String::from_utf8_lossy(&l).trim().to_string();
                    if t.is_empty() {
                        break;
                    }
                    n = t.parse().unwrap();
                }
            }
        }
    }

    fn cmd(&mut self, cmd: &str) -> String {
        self.send_line(cmd);
        String::from_utf8_lossy(&self.reply()).into_owned()
    }
}

/// The test messages: (file name in cur/ or new/, bytes).
const MESSAGES: &[(&str, &str)] = &[
    (
        "cur/1000000001.M1P1.test:2,S",
        "From: Alice <alice@example.com>\nTo: Bob <bob@example.com>\nSubject: hello\n folded subject\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <one@example.com>\n\nbody line\n.dot line\n..two dots\n",
    ),
    (
        "cur/1000000002.M2P2.test:2,",
        "From: carol@example.com\nTo: alice@example.com\nSubject: two parts\nDate: Tue, 2 Jan 2024 11:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=BB\n\npreamble\n--BB\nContent-Type: text/plain; charset=us-ascii\n\npart one\nline two\n--BB\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n--BB\nContent-Type: message/rfc822\n\nSubject: inner\nFrom: dave@example.com\n\ninner body\n--BB--\n",
    ),
    (
        "new/1000000003.M3P3.test",
        "From: erin@example.com\nSubject: quoted\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 =3D ok\n",
    ),
    (
        "cur/1000000004.M4P4.test:2,FRT",
        "From: frank@example.com\nSubject: flagged\nDate: Wed, 3 Jan 2024 12:00:00 +0000\n\nflagged body\n",
    ),
];

/// A Maildir with the test messages (same names and mtimes every time) and one folder.
fn fill(md: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    for (i, (name, text)) in MESSAGES.iter().enumerate() {
        let path = md.join(name);
        std::fs::write(&path, text).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64 * 3600))
            .unwrap();
    }
    let sent = md.join(".Sent");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(sent.join(sub)).unwrap();
    }
    std::fs::write(sent.join("maildirfolder"), "").unwrap();
    give_to_mail_owner(md);
}

/// Replies with the free choices taken out: the UID a new message gets (its file name).
fn normalise(reply: &str) -> String {
    reply
        .lines()
        .map(|l| {
            if l.starts_with("* ADD ") {
                "* ADD \"UID=...\"".to_owned()
            } else if let Some(at) = l.find(" \"NEWUID=").filter(|_| l.starts_with("* COPY ")) {
                format!("{} \"NEWUID=...\"", &l[..at])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the two Maildirs' [`disk`] views differ, each way (a folder or entry only one
/// server made counts too), one text per difference. One free choice is let through: a
/// UID database only postern has written. Courier's ADD leaves a folder it never opened
/// unnumbered, postern numbers a folder when it stores into it, and either server reads
/// the other's database as it finds it.
fn disk_differences(courier: &Path, postern: &Path) -> Vec<String> {
    let (dc, dp) = (disk(courier), disk(postern));
    let keys: std::collections::BTreeSet<&String> = dc.keys().chain(dp.keys()).collect();
    keys.into_iter()
        .filter(|k| dc.get(*k) != dp.get(*k))
        .filter(|k| !k.ends_with(" uids") || dc.contains_key(*k))
        .map(|k| {
            format!(
                "disk {k}:\n--- courier\n{:?}\n--- postern\n{:?}\n",
                dc.get(k),
                dp.get(k)
            )
        })
        .collect()
}

/// What each server leaves on disk that must agree: every folder's messages (unique
/// name and flags), the UID database's entries (without its UIDVALIDITY header, which
/// is the time each server first looked), the keywords of each message, and the ACL
/// files: each folder's `courierimapacl` and every `courierimaphieracl/<level>`.
fn disk(md: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut folders = vec![(String::from("INBOX"), md.to_path_buf())];
    for e in std::fs::read_dir(md).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') && e.path().is_dir() {
            folders.push((n, e.path()));
        }
    }
    for (name, dir) in folders {
        let mut msgs = Vec::new();
        for sub in ["cur", "new"] {
            for e in std::fs::read_dir(dir.join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("1000000") {
                    // With its date: STORE INTERNALDATE= sets the file's mtime (and
                    // atime, which a read may move again, so it is not compared).
                    let mtime = e.metadata().unwrap().mtime();
                    msgs.push(format!("{n}@{mtime}"));
                } else {
                    // Added or copied: the name is the server's choice, the flags are not
                    // (nor whether a message without flags waits in new/ or cur/).
                    let flags = n.split_once(":2,").map_or("", |(_, f)| f);
                    msgs.push(format!("(new):2,{flags}"));
                }
            }
        }
        msgs.sort();
        out.insert(format!("{name} messages"), msgs.join(" "));
        if let Ok(db) = std::fs::read_to_string(dir.join("courierimapuiddb")) {
            let entries: Vec<&str> = db
                .lines()
                .skip(1)
                .filter(|l| l.contains(" 1000000"))
                .collect();
            out.insert(format!("{name} uids"), entries.join("|"));
        }
        out.insert(format!("{name} keywords"), keywords(&dir));
        if let Ok(acl) = std::fs::read_to_string(dir.join("courierimapacl")) {
            out.insert(format!("{name} acl"), acl);
        }
    }
    for e in std::fs::read_dir(md.join("courierimaphieracl"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        out.insert(format!("courierimaphieracl/{n}"), text);
    }
    out
}

/// Each message's keywords, read with the store's reader (it takes `:list` and the
/// update files alike, the two ways Courier's format keeps them).
fn keywords(dir: &Path) -> String {
    let map = postern::store::keywords::read(dir, None).unwrap_or_default();
    let mut out: Vec<String> = map
        .into_iter()
        .filter(|(_, k)| !k.is_empty())
        .map(|(file, mut k)| {
            k.sort();
            let file = if file.starts_with("1000000") {
                file
            } else {
                "(new)".to_owned()
            };
            format!("{file}={}", k.join(","))
        })
        .collect();
    out.sort();
    out.join(" ")
}

/// The script both servers run: every command postern serves, errors included.
const SCRIPT: &[&str] = &[
    "LIST",
    "LIST INBOX",
    "BOGUS",
    "FETCH 1 FLAGS",
    "STATUS FULL INBOX",
    "STATUS FULL INBOX Sent",
    "STATUS CHEAP INBOX",
    "STATUS FULL,CHEAP INBOX Sent",
    "STATUS",
    "LIST public",
    "OPEN public",
    "ACL INBOX Sent",
    "EXPUNGE",
    "OPEN INBOX",
    "FETCH 1-4 UID FLAGS SIZE INTERNALDATE KEYWORDS",
    "FETCH 1 CONTENTS.PEEK=HEADERS()",
    "FETCH 1 CONTENTS.PEEK=HEADERS(:ENVELOPE)",
    "FETCH 1 2 \"CONTENTS.PEEK=HEADERS(subject,from)\" SIZE",
    "FETCH 2 CONTENTS.PEEK=MIME()",
    "FETCH 2 CONTENTS.PEEK=MIME(content-type)",
    "FETCH 2 CONTENTS.PEEK=HEADERS[1.2](content-type)",
    "FETCH 2 CONTENTS.PEEK=HEADERS[1.3.0]()",
    "FETCH 1 CONTENTS.PEEK=BODY",
    "FETCH 2 CONTENTS.PEEK=BODY[1.1]",
    "FETCH 2 CONTENTS.PEEK=BODY[1.3]",
    "FETCH 2 CONTENTS.PEEK=BODY[1.3.0]",
    "FETCH 2 CONTENTS.PEEK=BODY[1.9]",
    "FETCH 2 CONTENTS.PEEK=ALL[1.2]",
    "FETCH 2 CONTENTS.PEEK=BODY.DECODED[1.2]",
    "FETCH 3 CONTENTS.PEEK=BODY.DECODED",
    "FETCH 1 CONTENTS.PEEK=ALL",
    "FETCH 9 FLAGS",
    "FETCH 2 CONTENTS=BODY",
    "FETCH 2 FLAGS",
    "STORE 1 +FLAGS=DELETED,MARKED",
    "STORE 2 FLAGS=REPLIED,DRAFT",
    "STORE 3 +KEYWORDS=alpha,beta",
    "STORE 3 -KEYWORDS=alpha",
    "STORE 4 KEYWORDS=gamma",
    "FETCH 1-4 FLAGS KEYWORDS",
    // INTERNALDATE= sets the file's times, read as Courier reads an RFC 822 date (a
    // comment's first letter is a military zone); a date that does not parse, or a
    // message that is not there, changes nothing and is no error.
    "STORE 1 \"INTERNALDATE=Mon, 1 Jan 2024 10:00:00 +0100\"",
    "STORE 2 \"INTERNALDATE=31 Dec 2023 19:00 EST\" +FLAGS=SEEN",
    "STORE 3 \"internaldate=1 jan 24 00:00:00 (x) -0000\"",
    "STORE 4 INTERNALDATE=garbage",
    "STORE 4 \"INTERNALDATE=1 January 2024 00:00:00\"",
    "STORE 9 \"INTERNALDATE=1 Jan 2020 00:00:00\"",
    "FETCH 1-4 INTERNALDATE",
    "STORE 1 +FLAGS=NOPE",
    // Item by item over every message; words that are no change are passed over; no set
    // stores nothing; ranges must ascend.
    "STORE 1-2 +FLAGS=SEEN +KEYWORDS=a,b",
    "STORE 1 BOGUS=1 -KEYWORDS=a +FLAGS=MARKED BOGUS",
    "STORE +FLAGS=SEEN",
    "STORE 2-1 +FLAGS=SEEN",
    "STORE 2 1 +FLAGS=SEEN",
    "STORE 3 -KEYWORDS=a,b -FLAGS=SEEN",
    "SEARCH ALL SEEN",
    "SEARCH ALL NOT SEEN",
    "SEARCH MARKED DELETED",
    "SEARCH ALL SUBJECT parts",
    "SEARCH 1-2,4 FROM frank",
    "SEARCH ALL LARGER 200",
    "SEARCH ALL BOGUS",
    "CREATE INBOX \"new one\"",
    "CREATE INBOX \"new one\"",
    "CREATE x",
    "MKDIR INBOX dir",
    "COPY 2-3 \"\" INBOX Sent",
    "NOOP",
    "EXPUNGE",
    "FETCH 1-3 UID FLAGS",
    "MOVE 1 \"\" INBOX \"new one\"",
    "NOOP",
    "LIST INBOX",
    "ACL INBOX",
    "GETACL INBOX",
    "SETACL INBOX Sent \"\" user=bob lr",
    "SETACL INBOX Sent \"\" user=bob +w",
    "DELETEACL INBOX Sent \"\" user=bob",
    "CLOSE",
    "FETCH 1 FLAGS",
    "OPEN INBOX Sent",
    "FETCH 1-3 FLAGS",
    "OPEN INBOX \"new one\"",
    // Courier's MOVE keeps the file name (the message's SMAP UID); postern's is a copy
    // and an expunge, with a new name: a free choice (smap.sgml: UIDs are opaque, and
    // MOVE reports the new one as NEWUID).
    "FETCH 1 FLAGS",
    "CLOSE",
    "DELETE INBOX \"new one\"",
    "DELETE INBOX",
    "LIST INBOX",
    "OPEN INBOX",
    "IDLE",
    "NOOP",
    "RSET",
];

fn courier_session(courier: &Courier, md: &Path) -> (Smap, std::process::Child) {
    courier_smap(courier.imapd_command(md), md)
}

/// Courier's imapd, pre-authenticated with SMAP on stdin/stdout, in the Maildir `md`.
fn courier_smap(mut cmd: std::process::Command, md: &Path) -> (Smap, std::process::Child) {
    cmd.env("PROTOCOL", "SMAP1")
        .current_dir(md)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let r = child.stdout.take().unwrap();
    let w = child.stdin.take().unwrap();
    let mut s = Smap {
        reader: BufReader::new(Box::new(r)),
        writer: Box::new(w),
    };
    let hello = String::from_utf8_lossy(&s.line()).into_owned();
    assert_eq!(hello, "+OK SMAP1 LOGIN Ok.\n");
    (s, child)
}

fn smap_server() -> TestServer {
    TestServer::with(&[("imap", "smap", "true")])
}

fn postern_session(server: &mut TestServer) -> Smap {
    server.give_homes_to_mail_owner();
    let port = match server.port {
        Some(p) => p,
        None => server.start_serve(),
    };
    let mut s = Smap::tcp(port);
    let greeting = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(greeting.contains(" SMAP1 "), "{greeting}");
    assert_eq!(
        s.cmd(&format!("\\SMAP1 LOGIN {USER} {PASS}")),
        "+OK SMAP1 LOGIN Ok.\n"
    );
    s
}

#[test]
fn the_same_script_gives_the_same_replies_and_disk_as_courier() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    fill(&cmd_md);
    let mut server = smap_server();
    fill(&server.maildir.clone());
    let (mut c, mut child) = courier_session(&courier, &cmd_md);
    let mut p = postern_session(&mut server);
    let mut diffs = Vec::new();
    for line in SCRIPT {
        let want = normalise(&c.cmd(line));
        let got = normalise(&p.cmd(line));
        if want != got {
            diffs.push(format!(
                "C: {line}\n--- courier\n{want}\n--- postern\n{got}\n"
            ));
        }
    }
    for s in [&mut c, &mut p] {
        s.send_line("LOGOUT");
    }
    let want = c.reply();
    let got = p.reply();
    assert_eq!(
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(&got)
    );
    let _ = child.wait();
    diffs.extend(disk_differences(&cmd_md, &server.maildir));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn add_stores_a_message_as_courier_does() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    fill(&cmd_md);
    let mut server = smap_server();
    fill(&server.maildir.clone());
    let (mut c, mut child) = courier_session(&courier, &cmd_md);
    let mut p = postern_session(&mut server);
    let mut diffs = Vec::new();
    let message = "Subject: added\nFrom: me@example.com\n\nbody\n";
    let stuffed = "Subject: added\nFrom: me@example.com\n\nbody\n.\n";
    let steps: &[(&str, Option<&[u8]>)] = &[
        // ADD's KEYWORDS= is left out: Courier's imapd 5.0.13 answers "KEYWORDS set"
        // but does not always keep them (see smap_add_unstuffs_one_dot_...).
        ("ADD FOLDER INBOX Sent \"\"", None),
        ("ADD {.4}", Some(b"abc\n.\n")),
        ("ADD FOLDER INBOX Sent \"\"", None),
        ("ADD FLAGS=SEEN,DRAFT", None),
        ("ADD INTERNALDATE=x", None),
        ("ADD \"INTERNALDATE=Tue, 2 Jan 2024 11:00:00 -0500\"", None),
        (
            &*Box::leak(format!("ADD {{.{}}}", message.len()).into_boxed_str()),
            Some(stuffed.as_bytes()),
        ),
        ("ADD FOLDER INBOX \"\" {.3}", Some(b"one line\n.\n")),
        ("RSET", None),
        ("OPEN INBOX Sent", None),
        ("FETCH 1-3 FLAGS KEYWORDS SIZE", None),
        ("FETCH 1-3 CONTENTS.PEEK=ALL", None),
        // The second was added with a date (the others have the time they were added).
        ("FETCH 2 INTERNALDATE", None),
    ];
    for (line, upload) in steps {
        if upload.is_some() {
            // Courier numbers new messages by name, and names made in one second do not
            // sort in the order they were made (`M99999` after `M100000`): one second
            // apart, both servers number them as they were added.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let mut replies = Vec::new();
        for s in [&mut c, &mut p] {
            let mut r = normalise(&s.cmd(line));
            if let Some(bytes) = upload
                && r.starts_with("> ")
            {
                s.send_raw(bytes);
                r = format!("> ...\n{}", normalise(&String::from_utf8_lossy(&s.reply())));
            }
            replies.push(r);
        }
        if replies[0] != replies[1] {
            diffs.push(format!(
                "C: {line}\n--- courier\n{}\n--- postern\n{}\n",
                replies[0], replies[1]
            ));
        }
    }
    c.send_line("LOGOUT");
    let _ = c.reply();
    let _ = child.wait();
    diffs.extend(disk_differences(&cmd_md, &server.maildir));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn smap_capability_and_login_over_a_socket() {
    let mut server = smap_server();
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    let greeting = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
    assert!(greeting.contains(" SMAP1 KEYWORDS ACL "), "{greeting}");
    assert!(greeting.ends_with("\r\n"));
    let caps = s.cmd("\\SMAP1 CAPABILITY");
    assert!(caps.starts_with("* CAPABILITY IMAP4rev1 "), "{caps}");
    assert!(
        caps.ends_with("+OK SMAP1 capability list complete.\n"),
        "{caps}"
    );
    assert!(
        s.cmd("LIST").starts_with("-ERR"),
        "commands need \\SMAP1 before login"
    );
    let bad = s.cmd(&format!("\\SMAP1 LOGIN {USER} wrong"));
    assert!(bad.starts_with("-ERR "), "{bad}");
    assert_eq!(
        s.cmd(&format!("\\SMAP1 LOGIN {USER} {PASS}")),
        "+OK SMAP1 LOGIN Ok.\n"
    );
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 0\n+OK Folder opened\n");
    assert_eq!(
        s.cmd("LOGOUT"),
        "* BYE Courier-SMAP server shutting down\n+OK LOGOUT completed\n"
    );
    drop(s);
    // The log names the protocol as Courier's does.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.serve_stderr().contains("SMAP1"),
        "{}",
        server.serve_stderr()
    );
}

#[test]
fn smap_authenticate_plain_uses_the_sasl_driver() {
    let mut server = smap_server();
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    s.line();
    let r = s.cmd("\\SMAP1 AUTHENTICATE PLAIN");
    assert_eq!(r, "> \r\n", "SMAP's challenge prompt");
    let resp = openssl::base64::encode_block(format!("\0{USER}\0{PASS}").as_bytes());
    assert_eq!(s.cmd(&resp), "+OK SMAP1 LOGIN Ok.\n");
    assert_eq!(s.cmd("NOOP"), "+OK Folder updated\n");
}

#[test]
fn with_smap_off_the_tag_is_an_imap_tag() {
    let mut server = TestServer::new();
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    let greeting = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(!greeting.contains("SMAP1"), "{greeting}");
    s.send_line(&format!("\\SMAP1 LOGIN {USER} {PASS}"));
    let r = String::from_utf8_lossy(&s.line()).into_owned();
    // A backslash cannot start an IMAP tag (RFC 3501 §9): BAD, as Courier answers NO
    // "Error in IMAP command"; no SMAP reply, no login.
    assert!(r.contains(" BAD ") || r.contains(" NO "), "{r}");
    assert!(!r.starts_with("+OK"), "{r}");
    s.send_line("a LOGOUT");
    let r = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(r.starts_with("* BYE"), "{r}");
}

#[test]
fn smap_second_command_tag_is_not_a_switch() {
    let mut server = smap_server();
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    s.line();
    s.send_line("a NOOP");
    assert_eq!(
        String::from_utf8_lossy(&s.line()),
        "a OK NOOP completed\r\n"
    );
    s.send_line("\\SMAP1 CAPABILITY");
    let r = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(r.contains("BAD"), "{r}");
}

#[test]
fn smap_limits_long_lines_and_uploads() {
    let mut server = smap_server();
    server.set("limits", "smap_max_line_length", "100");
    server.set("limits", "max_append_size", "1000");
    let mut s = postern_session(&mut server);
    // A line over the limit is read to its end and refused; the session goes on.
    let long = format!("LIST INBOX {}", "x".repeat(500));
    assert_eq!(s.cmd(&long), "-ERR Command line too long.\n");
    assert_eq!(s.cmd("NOOP"), "+OK Folder updated\n");
    // A binary upload declared larger than max_append_size is refused before `>`.
    assert_eq!(
        s.cmd("ADD FOLDER INBOX \"\" {5000/5000}"),
        "-ERR Message too large.\n"
    );
    // One that grows past it chunk by chunk is read off the wire, not stored.
    let r = s.cmd("ADD FOLDER INBOX \"\" {600/1200}");
    assert!(r.starts_with("> "), "{r}");
    s.send_raw(&[b'a'; 600]);
    s.send_raw(b"600\n");
    s.send_raw(&[b'b'; 600]);
    s.send_raw(b"\n");
    assert_eq!(
        String::from_utf8_lossy(&s.reply()),
        "-ERR Message too large.\n"
    );
    // A bad chunk size ends the upload with an error, nothing stored.
    let r = s.cmd("ADD FOLDER INBOX \"\" {3/3}");
    assert!(r.starts_with("> "), "{r}");
    s.send_raw(b"abcnot-a-number\n");
    assert_eq!(String::from_utf8_lossy(&s.reply()), "-ERR Syntax error.\n");
    // A dot-stuffed upload that grows too large is drained to its end.
    let r = s.cmd("ADD FOLDER INBOX \"\" {.2000}");
    assert!(r.starts_with("> "), "{r}");
    for _ in 0..30 {
        s.send_raw(format!("{}\n", "y".repeat(60)).as_bytes());
    }
    s.send_raw(b".\n");
    assert_eq!(
        String::from_utf8_lossy(&s.reply()),
        "-ERR Message too large.\n"
    );
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 0\n+OK Folder opened\n");
    // Unterminated quotes and control characters are syntax errors.
    assert_eq!(s.cmd("LIST \"INBOX"), "-ERR Syntax error.\n");
    assert_eq!(s.cmd("LIST \u{1}"), "-ERR Syntax error.\n");
}

#[test]
fn smap_idle_reports_a_delivery_and_resumes() {
    let mut server = smap_server();
    let mut s = postern_session(&mut server);
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 0\n+OK Folder opened\n");
    s.send_line("IDLE");
    assert_eq!(
        String::from_utf8_lossy(&s.line()),
        "+OK Entering idle mode...\n"
    );
    server.deliver(None, b"Subject: new\n\nhi\n");
    assert_eq!(String::from_utf8_lossy(&s.line()), "* EXISTS 1\n");
    assert_eq!(s.cmd("RESUME"), "+OK Resumed...\n");
    let _ = SystemTime::now();
}

#[test]
fn smap_add_unstuffs_one_dot_and_fetch_stuffs_it_again() {
    let mut server = smap_server();
    let mut s = postern_session(&mut server);
    assert_eq!(
        s.cmd("ADD FOLDER INBOX \"\""),
        "+OK Will add to this folder\n"
    );
    assert_eq!(s.cmd("ADD KEYWORDS=kw1,kw2"), "+OK KEYWORDS set\n");
    assert_eq!(s.cmd("ADD {.20}"), "> Go ahead\n");
    s.send_raw(b"Subject: d\n\n..x\n...y\n.\n");
    let r = String::from_utf8_lossy(&s.reply()).into_owned();
    assert!(
        r.starts_with("* ADD \"UID=") && r.ends_with("+OK Message saved\n"),
        "{r}"
    );
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 1\n+OK Folder opened\n");
    assert_eq!(
        s.cmd("FETCH 1 KEYWORDS"),
        "* FETCH 1 \"KEYWORDS=kw1,kw2\"\n+OK Message retrieved.\n"
    );
    assert_eq!(
        s.cmd("FETCH 1 CONTENTS.PEEK=BODY"),
        "{7/7} FETCH 1 CONTENTS\n.x\n..y\n\n+OK Message retrieved.\n"
    );
    assert_eq!(
        s.cmd("FETCH 1 CONTENTS.PEEK=HEADERS()"),
        "{.0} FETCH 1 HEADERS\nSubject: d\n.\n+OK Message retrieved.\n"
    );
    // Binary chunks (smap.sgml "Multiple line replies"): 3 bytes, the next chunk's size
    // on a line, 4 bytes, and an empty line.
    assert_eq!(s.cmd("ADD FOLDER INBOX \"\" {3/7}"), "> Go ahead\n");
    s.send_raw(b"abc4\ndefg\n");
    let r = String::from_utf8_lossy(&s.reply()).into_owned();
    assert!(r.ends_with("+OK Message saved\n"), "{r}");
    assert_eq!(s.cmd("NOOP"), "* EXISTS 2\n+OK Folder updated\n");
    assert_eq!(
        s.cmd("FETCH 2 CONTENTS.PEEK=ALL SIZE"),
        "{7/7} FETCH 2 CONTENTS\nabcdefg\n* FETCH 2 SIZE=7\n+OK Message retrieved.\n"
    );
    // RENAME (Courier's imapd 5.0.13 ends the session on it: no oracle) and DELETE.
    assert_eq!(s.cmd("CREATE INBOX a"), "+OK Folder created\n");
    assert_eq!(
        s.cmd("RENAME INBOX a \"\" INBOX b"),
        "+OK Folder renamed.\n"
    );
    assert_eq!(
        s.cmd("LIST INBOX"),
        "* LIST \"b\" \"b\" FOLDER\n+OK LIST completed\n"
    );
    assert_eq!(
        s.cmd("RENAME INBOX b \"\" INBOX"),
        "-ERR Invalid destination folder name\n"
    );
    assert_eq!(s.cmd("DELETE INBOX b"), "+OK Folder deleted\n");
    assert_eq!(s.cmd("LIST INBOX"), "+OK LIST completed\n");
}

/// A snapshot id in a reply, replaced (the name is made from the time and pid).
fn without_snapshot_ids(reply: &str) -> String {
    reply
        .lines()
        .map(|l| match l.split_once(" \"") {
            Some((head, _)) if head == "* SNAPSHOT" || head == "* SNAPSHOTEXISTS" => {
                format!("{head} \"...\"")
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The id in a `* SNAPSHOT "id"` reply.
fn snapshot_id(reply: &str) -> String {
    let line = reply
        .lines()
        .find(|l| l.starts_with("* SNAPSHOT \""))
        .unwrap_or_else(|| panic!("no snapshot in {reply:?}"));
    line["* SNAPSHOT \"".len()..line.len() - 1].to_owned()
}

/// What another client does to a Maildir between sessions: removes the first message,
/// flags the fourth, delivers a new one.
fn change_behind_the_back(md: &Path, round: u32) {
    let cur = md.join("cur");
    let mut names: Vec<String> = std::fs::read_dir(&cur)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    std::fs::remove_file(cur.join(&names[0])).unwrap();
    let last = names.last().unwrap();
    let base = last.split_once(":2,").map_or(last.as_str(), |(b, _)| b);
    std::fs::rename(cur.join(last), cur.join(format!("{base}:2,ST"))).unwrap();
    let new = md.join(format!("new/1000000{round}00.M9P9.test"));
    std::fs::write(&new, "Subject: later\n\nlater\n").unwrap();
    give_to_mail_owner(md);
}

/// `cp -a` of a Maildir (mtimes and owners kept), for a second server to look at.
fn copy_maildir(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn snapshots_are_made_and_resumed_across_the_two_servers() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let mut server = smap_server();
    let md = server.maildir.clone();
    fill(&md);
    // Courier makes a snapshot of INBOX.
    let (mut c, mut child) = courier_session(&courier, &md);
    assert_eq!(c.cmd("SOPEN \"\" INBOX"), "* EXISTS 4\n+OK Folder opened\n");
    let courier_id = snapshot_id(&c.cmd("NOOP"));
    assert_eq!(
        c.cmd("NOOP"),
        "+OK Folder updated\n",
        "no change, no new snapshot"
    );
    c.cmd("LOGOUT");
    let _ = child.wait();
    change_behind_the_back(&md, 1);
    // postern resumes it as Courier does, on a copy each.
    let copy = tmp.path().join("copy1");
    copy_maildir(&md, &copy);
    let (mut c, mut child) = courier_session(&courier, &copy);
    let want = c.cmd(&format!("SOPEN \"{courier_id}\" INBOX"));
    c.cmd("LOGOUT");
    let _ = child.wait();
    let mut p = postern_session(&mut server);
    let got = p.cmd(&format!("SOPEN \"{courier_id}\" INBOX"));
    assert_eq!(got, want);
    assert!(got.starts_with("* SNAPSHOTEXISTS"), "{got}");
    // postern makes the next one; Courier resumes it.
    let postern_id = snapshot_id(&p.cmd("NOOP"));
    assert_eq!(p.cmd("NOOP"), "+OK Folder updated\n");
    assert_eq!(
        without_snapshot_ids(&p.cmd("STORE 1 +FLAGS=MARKED")),
        "* FETCH 1 FLAGS=MARKED\n+OK Folder status updated"
    );
    let third = snapshot_id(&p.cmd("NOOP"));
    p.cmd("LOGOUT");
    change_behind_the_back(&md, 2);
    for id in [postern_id, third] {
        let copy = tmp.path().join(format!("copy-{id}"));
        copy_maildir(&md, &copy);
        let (mut c, mut child) = courier_session(&courier, &copy);
        let want = c.cmd(&format!("SOPEN \"{id}\" INBOX"));
        c.cmd("LOGOUT");
        let _ = child.wait();
        let mut p = postern_session(&mut server);
        let got = p.cmd(&format!("SOPEN \"{id}\" INBOX"));
        p.cmd("LOGOUT");
        assert_eq!(got, want, "resuming {id}");
        assert!(got.starts_with("* SNAPSHOTEXISTS"), "{got}");
    }
    // An unknown or malformed id is an OPEN.
    let mut p = postern_session(&mut server);
    assert_eq!(
        p.cmd("SOPEN \"nope\" INBOX"),
        "* EXISTS 4\n+OK Folder opened\n"
    );
    assert_eq!(
        p.cmd("SOPEN \"../x\" INBOX"),
        "* EXISTS 4\n+OK Folder opened\n"
    );
}

#[test]
fn snapshot_replies_match_courier() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    fill(&cmd_md);
    let mut server = smap_server();
    fill(&server.maildir.clone());
    let (mut c, mut child) = courier_session(&courier, &cmd_md);
    let mut p = postern_session(&mut server);
    let script = [
        "SOPEN \"\" INBOX",
        "NOOP",
        "NOOP",
        "STORE 3 +KEYWORDS=k1",
        "STORE 2 +FLAGS=SEEN",
        "NOOP",
        "NOOP",
        "FETCH 1 CONTENTS=BODY",
        "NOOP",
        "EXPUNGE 4",
        "STORE 4 +FLAGS=DELETED",
        "EXPUNGE",
        "NOOP",
        "CLOSE",
        "NOOP",
    ];
    let mut diffs = Vec::new();
    for line in script {
        let want = without_snapshot_ids(&c.cmd(line));
        let got = without_snapshot_ids(&p.cmd(line));
        if want != got {
            diffs.push(format!(
                "C: {line}\n--- courier\n{want}\n--- postern\n{got}\n"
            ));
        }
    }
    c.cmd("LOGOUT");
    let _ = child.wait();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A `sendmail` that records its arguments and input, and fails when `fail` exists.
const RECORDER: &str = r#"#!/bin/sh
d="@DIR@"
for a in "$@"; do printf '%s\n' "$a"; done > "$d/argv"
cat > "$d/stdin"
[ -e "$d/fail" ] && { echo "no such user" >&2; exit 1; }
exit 0
"#;

#[test]
fn smap_add_sends_through_the_outbox_sendmail_with_the_given_recipients() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let dir = tmp.path().join("calls");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = tmp.path().join("sendmail.sh");
    std::fs::write(
        &script,
        RECORDER.replace("@DIR@", &dir.display().to_string()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sendmail = format!(
        "[{:?}, \"-oi\", \"-t\", \"-f\", \"{{sender}}\"]",
        script.display().to_string()
    );
    let mut server = TestServer::with(&[
        ("imap", "smap", "true"),
        ("imap", "sendmail", &sendmail),
        ("imap", "sendmail_timeout", "5"),
    ]);
    server.make_folder("Sent");
    let mut s = postern_session(&mut server);
    assert_eq!(s.cmd("ADD RCPTTO=-oQ/tmp"), "-ERR Invalid recipient.\n");
    assert_eq!(s.cmd("ADD NOTIFY=SUCCESS;x"), "-ERR Invalid NOTIFY.\n");
    assert_eq!(s.cmd("ADD RCPTTO=bob@example.org"), "+OK RCPT TO set\n");
    assert_eq!(s.cmd("ADD RCPTTO=carol@example.org"), "+OK RCPT TO set\n");
    assert_eq!(
        s.cmd("ADD MAILFROM=mallory@example.org"),
        "+OK MAIL FROM set\n"
    );
    assert_eq!(s.cmd("ADD NOTIFY=SUCCESS,FAIL"), "+OK NOTIFY set\n");
    assert_eq!(
        s.cmd("ADD FOLDER INBOX Sent \"\""),
        "+OK Will add to this folder\n"
    );
    let message = "From: alice@example.org\nTo: bob@example.org\nBcc: carol@example.org\n\nhi\n";
    assert_eq!(
        s.cmd(&format!("ADD {{.{}}}", message.len())),
        "> Go ahead\n"
    );
    s.send_raw(format!("{message}.\n").as_bytes());
    let r = String::from_utf8_lossy(&s.reply()).into_owned();
    assert!(r.ends_with("+OK Message saved\n"), "{r}");
    let argv = std::fs::read_to_string(dir.join("argv")).unwrap();
    // The configured arguments without -t, the account's sender (not MAILFROM=), -N, and
    // the recipients given.
    assert_eq!(
        argv,
        format!("-oi\n-f\n{USER}\n-N\nSUCCESS,FAIL\nbob@example.org\ncarol@example.org\n")
    );
    assert_eq!(std::fs::read_to_string(dir.join("stdin")).unwrap(), message);
    assert_eq!(s.cmd("OPEN INBOX Sent"), "* EXISTS 1\n+OK Folder opened\n");
    // Only sent (no FOLDER), and a failing sendmail: -ERR, nothing stored.
    assert_eq!(s.cmd("ADD RCPTTO=dave@example.org"), "+OK RCPT TO set\n");
    assert_eq!(s.cmd("ADD {.4}"), "> Go ahead\n");
    s.send_raw(b"abc\n.\n");
    assert_eq!(String::from_utf8_lossy(&s.reply()), "+OK Message sent\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("argv"))
            .unwrap()
            .lines()
            .last(),
        Some("dave@example.org")
    );
    std::fs::write(dir.join("fail"), "").unwrap();
    assert_eq!(
        s.cmd("ADD FOLDER INBOX Sent \"\" RCPTTO=erin@example.org {.4}"),
        "> Go ahead\n"
    );
    s.send_raw(b"abc\n.\n");
    assert_eq!(
        String::from_utf8_lossy(&s.reply()),
        "-ERR Message send FAILED: see the log\n"
    );
    assert_eq!(
        s.cmd("NOOP"),
        "+OK Folder updated\n",
        "nothing stored in Sent"
    );
    // Neither FOLDER nor RCPTTO: nothing to do.
    assert_eq!(s.cmd("ADD {.4}"), "-ERR ADD needs a FOLDER or RCPTTO.\n");
}

#[test]
fn smap_login_honours_disableimap_as_imap_does() {
    let mut server = smap_server();
    let home = server.dir.path().join("home-ann");
    std::fs::create_dir(&home).unwrap();
    let md = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let mut users = std::fs::read_to_string(&server.userfile).unwrap();
    users.push_str(&format!(
        "ann:{{PLAIN}}pw-ann::::{}::disableimap=1\n",
        home.display()
    ));
    std::fs::write(&server.userfile, users).unwrap();
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    s.line();
    let r = s.cmd("\\SMAP1 LOGIN ann pw-ann");
    assert_eq!(r, "-ERR IMAP access disabled for this account.\n");
    assert!(s.cmd("LIST").starts_with("-ERR"), "still not logged in");
}

#[test]
fn smap_idle_ends_at_the_idle_timeout() {
    let mut server = smap_server();
    server.set("limits", "idle_timeout", "2");
    let mut s = postern_session(&mut server);
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 0\n+OK Folder opened\n");
    let started = std::time::Instant::now();
    s.send_line("IDLE");
    assert_eq!(
        String::from_utf8_lossy(&s.line()),
        "+OK Entering idle mode...\n"
    );
    let bye = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(bye.starts_with("* BYE Autologout"), "{bye}");
    // Cut off within twice the configured timeout.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_large_body_comes_in_the_same_chunks_as_courier_s() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let body: String = (0..4000)
        .map(|i| format!("line {i:06} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"))
        .collect();
    let message = format!("Subject: big\n\n{body}");
    let put = |md: &Path| {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).unwrap();
        }
        std::fs::write(md.join("cur/1000000001.M1P1.big:2,S"), &message).unwrap();
        give_to_mail_owner(md);
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    put(&cmd_md);
    let mut server = smap_server();
    put(&server.maildir.clone());
    let (mut c, mut child) = courier_session(&courier, &cmd_md);
    let mut p = postern_session(&mut server);
    for line in [
        "OPEN INBOX",
        "FETCH 1 CONTENTS.PEEK=BODY",
        "FETCH 1 CONTENTS.PEEK=ALL",
    ] {
        let want = c.cmd(line);
        let got = p.cmd(line);
        assert!(
            want == got,
            "{line}: replies differ ({} and {} bytes)",
            want.len(),
            got.len()
        );
    }
    assert!(
        c.cmd("FETCH 1 CONTENTS.PEEK=BODY")
            .starts_with("{8192/232000} ")
    );
    c.cmd("LOGOUT");
    let _ = child.wait();
}

#[test]
fn smap1_sits_in_the_capability_list_where_courier_puts_it() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let md = tmp.path().join("Maildir");
    fill(&md);
    let mut cmd = courier.imapd_command(&md);
    cmd.env("SMAP_CAPABILITY", "SMAP1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a CAPABILITY\r\nb LOGOUT\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let courier_caps = text
        .lines()
        .find(|l| l.starts_with("* CAPABILITY "))
        .unwrap_or_else(|| panic!("{text}"));
    // Courier: its IMAP_CAPABILITY list, then SMAP1 KEYWORDS, then ACL ACL2=UNION.
    assert!(
        courier_caps.contains(" IDLE SMAP1 KEYWORDS ACL ACL2=UNION"),
        "{courier_caps}"
    );
    let mut server = smap_server();
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    let greeting = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(
        greeting.contains(" SMAP1 KEYWORDS ACL ACL2=UNION "),
        "{greeting}"
    );
    // Without keywords, SMAP1 alone (Courier's IMAP_KEYWORDS=0).
    let mut server = TestServer::with(&[("imap", "smap", "true"), ("imap", "keywords", "false")]);
    let port = server.start_serve();
    let mut s = Smap::tcp(port);
    let greeting = String::from_utf8_lossy(&s.line()).into_owned();
    assert!(greeting.contains(" SMAP1 ACL ACL2=UNION "), "{greeting}");
}

#[test]
fn a_stored_internaldate_is_what_later_sessions_see() {
    let mut server = smap_server();
    server.deliver(None, b"Subject: one\n\nbody\n");
    server.deliver(None, b"Subject: two\n\nbody\n");
    // First sessions read the dates and leave them in the folder index and
    // postern-dates (once the folder's times have settled).
    server.give_homes_to_mail_owner();
    server.start_serve();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1100));
        let mut imap = server.connect();
        imap.login();
        imap.select("INBOX").assert_ok();
        imap.send("f", "FETCH 1:2 INTERNALDATE").assert_ok();
        imap.send("l", "LOGOUT");
    }
    std::thread::sleep(Duration::from_millis(300));
    let md = server.maildir.clone();
    for cache in ["postern-index", "postern-dates"] {
        assert!(md.join(cache).exists(), "{cache} is there");
    }
    let mut s = postern_session(&mut server);
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 2\n+OK Folder opened\n");
    let before = s.cmd("FETCH 1-2 INTERNALDATE");
    assert!(!before.contains("2001"), "{before}");
    s.cmd("LOGOUT");
    // A second changes one.
    let mut s = postern_session(&mut server);
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 2\n+OK Folder opened\n");
    assert_eq!(
        s.cmd("STORE 2 \"INTERNALDATE=Sat, 3 Feb 2001 04:05:06 +0000\""),
        "+OK Folder status updated\n"
    );
    assert_eq!(
        s.cmd("FETCH 2 INTERNALDATE"),
        "* FETCH 2 \"INTERNALDATE=Sat, 03 Feb 2001 04:05:06 +0000\"\n+OK Message retrieved.\n"
    );
    let uid = s.cmd("FETCH 2 UID");
    let uid = uid.split('"').nth(1).unwrap().strip_prefix("UID=").unwrap();
    s.cmd("LOGOUT");
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    // Found by name, not read (a read could move its atime).
    let file = std::fs::read_dir(md.join("cur"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(uid))
        .unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!((meta.mtime(), meta.atime()), (981_173_106, 981_173_106));
    // Later sessions, SMAP and IMAP, see the new date, the other one unchanged.
    let mut s = postern_session(&mut server);
    assert_eq!(s.cmd("OPEN INBOX"), "* EXISTS 2\n+OK Folder opened\n");
    let after = s.cmd("FETCH 1-2 INTERNALDATE");
    assert_eq!(
        after.lines().next(),
        before.lines().next(),
        "message 1 keeps its date"
    );
    assert!(
        after.contains("* FETCH 2 \"INTERNALDATE=Sat, 03 Feb 2001 04:05:06 +0000\""),
        "{after}"
    );
    s.cmd("LOGOUT");
    let mut imap = server.connect();
    imap.login();
    imap.select("INBOX").assert_ok();
    let r = imap.send("f", "FETCH 2 INTERNALDATE");
    assert!(
        r.dump().contains("03-Feb-2001 04:05:06 +0000"),
        "{}",
        r.dump()
    );
}

/// A LIST reply with its lines in one order (Courier's imapd lists in the order it found
/// the folders on disk, a free choice).
fn sorted_list(reply: &str) -> String {
    let mut lines: Vec<&str> = reply.lines().collect();
    let last = lines.pop();
    if lines.iter().all(|l| l.starts_with("* LIST ")) {
        lines.sort_unstable();
    }
    lines.extend(last);
    lines.join("\n")
}

/// The folder directories of a Maildir.
fn folder_dirs(md: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(md)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn folder_names_with_the_separator_are_encoded_as_courier_encodes_them() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    fill(&cmd_md);
    let mut server = smap_server();
    let pmd = server.maildir.clone();
    fill(&pmd);
    // Made by another client with characters SMAP would encode (`~` as such), and one
    // whose name has a backslash that is no escape.
    for md in [&cmd_md, &pmd] {
        for dir in [".x~y", ".raw\\x"] {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(md.join(dir).join(sub)).unwrap();
            }
            std::fs::write(md.join(dir).join("maildirfolder"), "").unwrap();
        }
        give_to_mail_owner(md);
    }
    let (mut c, mut child) = courier_session(&courier, &cmd_md);
    let mut p = postern_session(&mut server);
    let script = [
        "CREATE INBOX \"a.b\"",
        "CREATE INBOX \"c/d\"",
        "CREATE INBOX \"e~f\"",
        "CREATE INBOX \"g:h\"",
        "CREATE INBOX \"i&j\"",
        "CREATE INBOX \"k\u{e9}.x\"",
        "CREATE INBOX \"q\\r\"",
        "CREATE INBOX \"t\tab\"",
        "CREATE INBOX \"..\"",
        "CREATE INBOX \".dot\"",
        "CREATE INBOX \"a.b\" \"sub.1\"",
        "CREATE INBOX \"a.b\"",
        "LIST INBOX",
        "LIST INBOX \"a.b\"",
        "LIST INBOX \"c/d\"",
        "STATUS FULL INBOX \"a.b\" \"sub.1\"",
        "STATUS FULL INBOX x~y",
        "OPEN INBOX",
        "COPY 1-2 \"\" INBOX \"a.b\" \"sub.1\"",
        "COPY 3 \"\" INBOX x~y",
        "STATUS FULL INBOX \"a.b\" \"sub.1\"",
        "OPEN INBOX \"a.b\" \"sub.1\"",
        "FETCH 1-2 FLAGS",
        "OPEN INBOX x~y",
        "FETCH 1 FLAGS",
        "CLOSE",
        "DELETE INBOX \"e~f\"",
        "DELETE INBOX \"g:h\"",
        // (Not a folder that is not there: Courier's imapd answers +OK or -ERR by turns.)
        "LIST INBOX",
    ];
    let mut diffs = Vec::new();
    for line in script {
        let want = sorted_list(&normalise(&c.cmd(line)));
        let got = sorted_list(&normalise(&p.cmd(line)));
        if want != got {
            diffs.push(format!(
                "C: {line}\n--- courier\n{want}\n--- postern\n{got}\n"
            ));
        }
    }
    c.cmd("LOGOUT");
    let _ = child.wait();
    let (want, got) = (folder_dirs(&cmd_md), folder_dirs(&pmd));
    assert!(want.contains(&".a\\056b.sub\\0561".to_owned()), "{want:?}");
    if want != got {
        diffs.push(format!("folder directories:\n{want:?}\n{got:?}"));
    }
    diffs.extend(disk_differences(&cmd_md, &pmd));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// When Courier's imapd writes ACL files over SMAP, compared after every command: any
/// read of a folder's rights (LIST reads every folder's, whatever level it lists; ACL,
/// STATUS, OPEN, DELETE, RENAME the one named) writes the list a folder without its own
/// inherits; CREATE and MKDIR, once `c` on the parent is granted, read the new folder's
/// list before it exists, so it goes to `courierimaphieracl/`, where the folder goes on
/// reading it; DELETE leaves level files alone; RMDIR deletes nothing. (RENAME of a
/// folder with a level file is left out: Courier 5.0.13 renames the file and dies, "Not
/// a directory".)
#[test]
fn acl_files_are_written_when_courier_writes_them() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    fill(&cmd_md);
    let mut server = smap_server();
    let pmd = server.maildir.clone();
    fill(&pmd);
    for md in [&cmd_md, &pmd] {
        // `x` is a level without a folder; `p` a folder (with a message) with one below.
        for dir in [".x.y", ".p", ".p.q"] {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(md.join(dir).join(sub)).unwrap();
            }
            std::fs::write(md.join(dir).join("maildirfolder"), "").unwrap();
        }
        let kept = md.join(".p/cur/1000000009.M9P9.test:2,S");
        std::fs::write(&kept, "Subject: kept\n\nbody\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&kept)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .unwrap();
        give_to_mail_owner(md);
    }
    let (mut c, mut child) = courier_session(&courier, &cmd_md);
    let mut p = postern_session(&mut server);
    let script = [
        "LIST",
        "LIST INBOX x",
        "CREATE INBOX m",
        "MKDIR INBOX d",
        "CREATE INBOX x z",
        "CREATE INBOX Sent",
        "CREATE INBOX n o",
        "ACL INBOX m",
        "GETACL INBOX n o",
        "SETACL INBOX m \"\" user=bob lr",
        "GETACL INBOX m",
        "STATUS FULL INBOX n o",
        "DELETE INBOX m",
        // RMDIR checks `x` on the parent and deletes nothing (the folder, its messages
        // and sub-folders stay).
        "RMDIR INBOX p",
        "RMDIR INBOX c d e",
        "RMDIR INBOX",
        "RMDIR public",
        "STATUS FULL INBOX p",
        "DELETE INBOX p q",
        "RENAME INBOX p \"\" INBOX s",
        "SETACL INBOX \"\" owner al",
        "CREATE INBOX nope",
        "MKDIR INBOX nope",
        "RMDIR INBOX s",
        "LIST INBOX",
    ];
    let mut diffs = Vec::new();
    for line in script {
        let want = sorted_list(&normalise(&c.cmd(line)));
        let got = sorted_list(&normalise(&p.cmd(line)));
        if want != got {
            diffs.push(format!(
                "C: {line}\n--- courier\n{want}\n--- postern\n{got}\n"
            ));
        }
        for d in disk_differences(&cmd_md, &pmd) {
            diffs.push(format!("after {line}: {d}"));
        }
    }
    c.cmd("LOGOUT");
    let _ = child.wait();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn public_lists_and_opens_the_folders_other_accounts_share() {
    use common::mail_owner;
    let mut server = smap_server();
    let (uid, gid) = mail_owner().unwrap_or((
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    ));
    // alice (the server's user) shares INBOX.Pub and INBOX.Pub.Sub with bob; carol has
    // nothing bob may see; the index puts carol in a group.
    let bob_md = server.add_user("bob", "pw-bob");
    let carol_md = server.add_user("carol", "pw-carol");
    let mut index = format!("alice\t{uid}\t{gid}\t{}\n", server.home.display());
    index.push_str(&format!(
        "bob\t{uid}\t{gid}\t{}\n",
        bob_md.parent().unwrap().display()
    ));
    index.push_str("staff\t*\tgroup-staff\n");
    let index_path = server.dir.path().join("shared-index");
    std::fs::write(&index_path, index).unwrap();
    std::fs::write(
        server.dir.path().join("group-staff"),
        format!(
            "carol\t{uid}\t{gid}\t{}\n",
            carol_md.parent().unwrap().display()
        ),
    )
    .unwrap();
    server.set(
        "mail",
        "shared_index",
        &format!("{:?}", index_path.display().to_string()),
    );
    server.make_folder("Pub");
    server.make_folder("Pub.Sub");
    server.make_folder("Private");
    server.put(
        "INBOX.Pub",
        "cur",
        "1700000000.M1P1.host",
        "",
        b"Subject: shared\n\nhello\n",
    );
    server.give_homes_to_mail_owner();
    let port = server.start_serve();
    let mut alice = server.connect();
    alice.login();
    alice.send("a", "SETACL INBOX.Pub bob lr").assert_ok();
    alice.send("b", "SETACL INBOX.Pub.Sub bob lr").assert_ok();
    alice.send("z", "LOGOUT");
    let mut s = Smap::tcp(port);
    s.line();
    assert_eq!(s.cmd("\\SMAP1 LOGIN bob pw-bob"), "+OK SMAP1 LOGIN Ok.\n");
    assert_eq!(
        s.cmd("LIST public"),
        "* LIST \"alice\" \"alice\" DIRECTORY\n* LIST \"staff\" \"staff\" DIRECTORY\n+OK LIST completed\n",
        "alice's INBOX is not shared, her Pub is; bob is left out of his own public"
    );
    assert_eq!(
        s.cmd("LIST public alice"),
        "* LIST \"Pub\" \"Pub\" FOLDER DIRECTORY\n+OK LIST completed\n"
    );
    assert_eq!(
        s.cmd("LIST public alice Pub"),
        "* LIST \"Sub\" \"Sub\" FOLDER\n+OK LIST completed\n"
    );
    assert_eq!(s.cmd("LIST public staff"), "+OK LIST completed\n");
    assert_eq!(
        s.cmd("STATUS FULL public alice Pub"),
        "* STATUS EXISTS=1 UNSEEN=1\n+OK Folder status retrieved\n"
    );
    assert_eq!(
        s.cmd("ACL public alice Pub"),
        "* ACL \"lr\"\n+OK ACLs retrieved\n"
    );
    assert_eq!(
        s.cmd("OPEN public alice Pub"),
        "* EXISTS 1\n+OK Folder opened\n"
    );
    let r = s.cmd("FETCH 1 CONTENTS.PEEK=HEADERS(subject)");
    assert!(r.contains("Subject: shared\n"), "{r}");
    // lr only: a flag change is left undone, as Courier's imapd leaves it.
    assert_eq!(
        s.cmd("STORE 1 +FLAGS=MARKED +KEYWORDS=k \"INTERNALDATE=1 Jan 2001 00:00:00\""),
        "* FETCH 1 FLAGS=\n* FETCH 1 \"KEYWORDS=\"\n+OK Folder status updated\n"
    );
    assert_eq!(
        s.cmd("FETCH 1 FLAGS"),
        "* FETCH 1 FLAGS=\n+OK Message retrieved.\n"
    );
    assert!(!s.cmd("FETCH 1 INTERNALDATE").contains("2001"));
    assert_eq!(
        s.cmd("OPEN public alice Private"),
        "-ERR Access denied: ACL \"r\" is required\n"
    );
    assert_eq!(
        s.cmd("OPEN public staff"),
        "-ERR Access denied: ACL \"r\" is required\n"
    );
    assert_eq!(
        s.cmd("OPEN public"),
        "-ERR Access denied: ACL \"r\" is required\n"
    );
}

#[test]
fn public_folders_are_shown_as_courier_shows_them() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let mut server = smap_server();
    let (uid, gid) = common::mail_owner().unwrap_or((
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    ));
    let bob_md = server.add_user("bob", "pw-bob");
    let carol_md = server.add_user("carol", "pw-carol");
    let home = |md: &Path| md.parent().unwrap().display().to_string();
    let index_path = server.dir.path().join("shared-index");
    std::fs::write(
        &index_path,
        format!(
            "alice\t{uid}\t{gid}\t{}\nbob\t{uid}\t{gid}\t{}\nstaff\t*\tgroup-staff\n",
            server.home.display(),
            home(&bob_md)
        ),
    )
    .unwrap();
    std::fs::write(
        server.dir.path().join("group-staff"),
        format!("carol\t{uid}\t{gid}\t{}\n", home(&carol_md)),
    )
    .unwrap();
    server.set(
        "mail",
        "shared_index",
        &format!("{:?}", index_path.display().to_string()),
    );
    // alice's Pub and Pub.Sub grant bob lr (Courier's ACL file, written as its tools
    // write it); Private does not.
    for f in ["Pub", "Pub.Sub", "Private"] {
        server.make_folder(f);
    }
    for f in ["Pub", "Pub.Sub"] {
        std::fs::write(
            server.maildir.join(format!(".{f}/courierimapacl")),
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=bob lr\n",
        )
        .unwrap();
    }
    server.put(
        "INBOX.Pub",
        "cur",
        "1700000000.M1P1.host",
        "",
        b"Subject: shared\n\nhello\n",
    );
    server.give_homes_to_mail_owner();
    common::open_to_mail_owner(server.dir.path());
    let script = [
        "LIST public",
        "LIST public alice",
        "LIST public alice Pub",
        "LIST public staff",
        "LIST public bob",
        "STATUS FULL public alice Pub",
        "STATUS FULL public alice Private",
        "ACL public alice Pub",
        "ACL public staff",
        "ACL public",
        "OPEN public alice Pub",
        "FETCH 1 CONTENTS.PEEK=HEADERS(subject) FLAGS",
        "STORE 1 +FLAGS=MARKED",
        "FETCH 1 FLAGS",
        "OPEN public alice Pub Sub",
        "OPEN public alice Private",
        "OPEN public staff",
        "OPEN public",
    ];
    let (want, diffs, _) = as_bob_on_both(&courier, &mut server, &bob_md, &index_path, &script);
    assert!(
        want[0].contains("\"alice\" DIRECTORY"),
        "the fixture shares something: {}",
        want[0]
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Runs `script` as bob through the shared index at `index_path`, in Courier's imapd
/// first (it reads what postern will read), then in postern: Courier's replies (LIST
/// lines sorted), the differences, and postern's session for more.
fn as_bob_on_both(
    courier: &Courier,
    server: &mut TestServer,
    bob_md: &Path,
    index_path: &Path,
    script: &[&str],
) -> (Vec<String>, Vec<String>, Smap) {
    let cmd = courier.imapd_as(bob_md, "bob", &index_path.display().to_string());
    let (mut c, mut child) = courier_smap(cmd, bob_md);
    let want: Vec<String> = script.iter().map(|l| sorted_list(&c.cmd(l))).collect();
    c.cmd("LOGOUT");
    let _ = child.wait();
    let port = server.start_serve();
    let mut p = Smap::tcp(port);
    p.line();
    assert_eq!(p.cmd("\\SMAP1 LOGIN bob pw-bob"), "+OK SMAP1 LOGIN Ok.\n");
    let mut diffs = Vec::new();
    for (line, want) in script.iter().zip(&want) {
        let got = sorted_list(&p.cmd(line));
        if *want != got {
            diffs.push(format!(
                "C: {line}\n--- courier\n{want}\n--- postern\n{got}\n"
            ));
        }
    }
    (want, diffs, p)
}

/// Account and group names with the Maildir++ separator under `public`: Courier's imapd
/// shows the shared index's names as they are (`j.doe`, whatever
/// IMAP_SHAREDMUNGENAMES says; IMAP's `#shared.` shows them munged) and takes the same
/// word back, as one level; the munged spelling (`j doe`) names nothing there.
#[test]
fn public_account_names_with_a_dot_are_one_level_as_in_courier() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let mut server = smap_server();
    let (uid, gid) = common::mail_owner().unwrap_or((
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    ));
    let bob_md = server.add_user("bob", "pw-bob");
    let jdoe_md = server.add_user("j.doe", "pw-j");
    let kx_md = server.add_user("k.x", "pw-k");
    let home = |md: &Path| md.parent().unwrap().display().to_string();
    let index_path = server.dir.path().join("shared-index");
    std::fs::write(
        &index_path,
        format!(
            "j.doe\t{uid}\t{gid}\t{}\nst.aff\t*\tgroup-staff\n",
            home(&jdoe_md)
        ),
    )
    .unwrap();
    std::fs::write(
        server.dir.path().join("group-staff"),
        format!("k.x\t{uid}\t{gid}\t{}\n", home(&kx_md)),
    )
    .unwrap();
    server.set(
        "mail",
        "shared_index",
        &format!("{:?}", index_path.display().to_string()),
    );
    // Both accounts share INBOX and Pub with bob.
    let grant = "owner aceilrstwx\nadministrators aceilrstwx\nuser=bob lr\n";
    for md in [&jdoe_md, &kx_md] {
        let pub_dir = md.join(".Pub");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(pub_dir.join(sub)).unwrap();
        }
        std::fs::write(pub_dir.join("maildirfolder"), "").unwrap();
        std::fs::write(pub_dir.join("courierimapacl"), grant).unwrap();
        std::fs::write(md.join("courierimapacl"), grant).unwrap();
        std::fs::write(
            pub_dir.join("cur/1700000000.M1P1.host:2,S"),
            "Subject: shared\n\nhello\n",
        )
        .unwrap();
    }
    server.give_homes_to_mail_owner();
    common::open_to_mail_owner(server.dir.path());
    let script = [
        "LIST public",
        "LIST public \"j.doe\"",
        "LIST public \"st.aff\"",
        "LIST public \"st.aff\" \"k.x\"",
        "LIST public \"j doe\"",
        "LIST public j doe",
        "ACL public \"j.doe\"",
        "ACL public \"j.doe\" Pub",
        "ACL public \"st.aff\"",
        "STATUS FULL public \"j.doe\" Pub",
        "STATUS FULL public \"st.aff\" \"k.x\" Pub",
        "OPEN public \"j.doe\" Pub",
        "FETCH 1 FLAGS CONTENTS.PEEK=HEADERS(subject)",
        "OPEN public \"st.aff\" \"k.x\" Pub",
        "FETCH 1 FLAGS",
        "OPEN public \"j.doe\"",
        "FETCH 1 FLAGS",
    ];
    let (want, diffs, mut p) = as_bob_on_both(&courier, &mut server, &bob_md, &index_path, &script);
    assert!(
        want[0].contains("\"j.doe\" FOLDER DIRECTORY"),
        "the fixture shares j.doe: {}",
        want[0]
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // The munged spelling is no level (Courier answers with an errno text of no
    // meaning, "Invalid folder: Success"): postern says what is wrong.
    for line in ["ACL public \"j doe\" Pub", "OPEN public \"j doe\" Pub"] {
        let got = p.cmd(line);
        assert!(got.starts_with("-ERR "), "{line}: {got}");
    }
}

#[test]
fn without_keywords_there_are_none_as_in_courier() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    common::open_to_mail_owner(tmp.path());
    let cmd_md = tmp.path().join("Maildir");
    fill(&cmd_md);
    let mut server = TestServer::with(&[("imap", "smap", "true"), ("imap", "keywords", "false")]);
    fill(&server.maildir.clone());
    let mut cmd = courier.imapd_command(&cmd_md);
    cmd.env("IMAP_KEYWORDS", "0");
    let (mut c, mut child) = courier_smap(cmd, &cmd_md);
    let mut p = postern_session(&mut server);
    let script = [
        "OPEN INBOX",
        "FETCH 1-2 FLAGS KEYWORDS UID",
        "STORE 1 +KEYWORDS=a +FLAGS=MARKED KEYWORDS=b -KEYWORDS=c",
        "FETCH 1 KEYWORDS FLAGS",
        "ADD FOLDER INBOX \"\"",
        "ADD KEYWORDS=x",
        "ADD FLAGS=SEEN KEYWORDS=y",
        "RSET",
    ];
    let mut diffs = Vec::new();
    for line in script {
        let want = c.cmd(line);
        let got = p.cmd(line);
        if want != got {
            diffs.push(format!(
                "C: {line}\n--- courier\n{want}\n--- postern\n{got}\n"
            ));
        }
    }
    c.cmd("LOGOUT");
    let _ = child.wait();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
