//! Scripted POP3 sessions against the real binary in `--inetd` mode (stdin/stdout pipes):
//! every command and error path, pipelining, CRLF and byte-stuffing, SASL, the Courier
//! `courierpop3dsizelist`, the exclusive lock, UPDATE through the store, kill -9 in the
//! middle of QUIT, and the log lines.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::pop3::{self, Pop3};
use common::{base64 as b64, owner};

/// A temp dir with a user file, a config and alice's Maildir.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(config_extra: &str) -> Fixture {
        Fixture::with_users(
            config_extra,
            &[
                "alice:{PLAIN}secret::::HOME::",
                "bob:{PLAIN}pw::::HOMEB::disablepop3=1",
            ],
        )
    }

    fn with_users(config_extra: &str, users: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(dir.path());
        let home = dir.path().join("alice");
        let home_b = dir.path().join("bob");
        for h in [&home, &home_b] {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(h.join("Maildir").join(sub)).unwrap();
            }
            owner::give_to_mail_owner(h);
        }
        let users: String = users
            .iter()
            .map(|u| {
                u.replace("HOMEB", home_b.to_str().unwrap())
                    .replace("HOME", home.to_str().unwrap())
                    + "\n"
            })
            .collect();
        std::fs::write(dir.path().join("users"), users).unwrap();
        let config = format!(
            "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}{config_extra}\n",
            dir.path().join("users").display(),
            owner::owner_settings()
        );
        std::fs::write(dir.path().join("postern.toml"), config).unwrap();
        Fixture { dir }
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("alice/Maildir")
    }

    /// Deliver a message straight into new/, as an MTA would.
    fn add(&self, name: &str, body: &[u8]) {
        let tmp = self.maildir().join("tmp").join(name);
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, self.maildir().join("new").join(name)).unwrap();
    }

    /// Both homes to the mail owner (the test writes into them as root), then a session.
    fn start(&self) -> Pop3 {
        owner::give_to_mail_owner(&self.dir.path().join("alice"));
        owner::give_to_mail_owner(&self.dir.path().join("bob"));
        pop3::inetd(&self.dir.path().join("postern.toml"))
    }

    /// File names in cur/ and new/.
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["cur", "new"] {
            for e in std::fs::read_dir(self.maildir().join(sub)).unwrap() {
                out.push(e.unwrap().file_name().into_string().unwrap());
            }
        }
        out.sort();
        out
    }

    /// `(basename, contents)` of every message on disk.
    fn contents(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for sub in ["cur", "new"] {
            for e in std::fs::read_dir(self.maildir().join(sub)).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let base = name.split(':').next().unwrap().to_owned();
                out.push((base, std::fs::read(e.path()).unwrap()));
            }
        }
        out.sort();
        out
    }
}

/// The greeting, then `USER alice` and `PASS secret`; the answer to PASS.
fn greet_and_login(s: &mut Pop3) -> String {
    assert_eq!(s.greeting, "+OK postern POP3 ready.");
    assert_eq!(s.cmd("USER alice"), "+OK Password required.");
    let ok = s.cmd("PASS secret");
    assert!(ok.starts_with("+OK "), "{ok}");
    ok
}

fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!("From: a@example.org\nSubject: {subject}\n\n{body}").into_bytes()
}

/// The POP3 size of a bare-LF message: one CR more per line (and CRLF at the end if
/// the last line has none).
fn crlf_size(bytes: &[u8]) -> usize {
    let lf = bytes.iter().filter(|&&b| b == b'\n').count();
    bytes.len() + lf + if bytes.ends_with(b"\n") { 0 } else { 2 }
}

#[test]
fn authorization_state_capa_and_errors() {
    let f = Fixture::new("");
    let mut s = f.start();
    assert_eq!(s.greeting, "+OK postern POP3 ready.");
    assert_eq!(s.cmd("CAPA"), "+OK Capability list follows.");
    assert_eq!(
        s.lines(),
        [
            "TOP",
            "USER",
            "UIDL",
            "PIPELINING",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "SASL PLAIN LOGIN",
            "IMPLEMENTATION postern"
        ]
    );
    for c in [
        "STAT", "LIST", "UIDL", "RETR 1", "DELE 1", "TOP 1 1", "RSET", "NOOP",
    ] {
        assert!(s.cmd(c).starts_with("-ERR Log in first"), "{c}");
    }
    assert_eq!(s.cmd("PASS secret"), "-ERR Send USER first.");
    assert_eq!(s.cmd("XYZZY"), "-ERR Unknown command.");
    assert!(s.cmd("USER").starts_with("-ERR Syntax error"));
    assert!(s.cmd("STAT 1").starts_with("-ERR Syntax error"));
    assert!(s.cmd("").starts_with("-ERR"));
    assert_eq!(s.cmd("quit"), "+OK Bye.");
    let log = s.finish();
    assert!(log.contains("INFO: LOGOUT, rcvd="), "{log}");
}

#[test]
fn failed_logins_delay_limit_and_disabled_account() {
    let f = Fixture::new("max_failed_logins = 2");
    let mut s = f.start();
    s.cmd("USER alice");
    assert_eq!(
        s.cmd("PASS wrong"),
        "-ERR [AUTH] Invalid user name or password."
    );
    // USER must come again after a failed PASS.
    assert_eq!(s.cmd("PASS secret"), "-ERR Send USER first.");
    s.cmd("USER nobody");
    assert_eq!(
        s.cmd("PASS secret"),
        "-ERR [AUTH] Invalid user name or password."
    );
    assert_eq!(s.line(), "-ERR Too many failed logins.");
    let log = s.finish();
    assert!(log.contains("INFO: LOGIN FAILED, user=alice"), "{log}");
    assert!(log.contains("INFO: LOGIN FAILED, user=nobody"), "{log}");

    let mut s = f.start();
    s.cmd("USER bob");
    assert_eq!(
        s.cmd("PASS pw"),
        "-ERR [AUTH] POP3 access disabled for this account."
    );
    // A right password with POP3 disabled: still no entry.
    assert_eq!(s.cmd("STAT"), "-ERR Log in first (USER/PASS or AUTH).");
    s.cmd("QUIT");
    s.finish();

    // The delay is applied: 1 s per failure.
    let f = Fixture::new("");
    std::fs::write(
        f.dir.path().join("postern.toml"),
        std::fs::read_to_string(f.dir.path().join("postern.toml"))
            .unwrap()
            .replace("failed_login_delay = 0", "failed_login_delay = 1"),
    )
    .unwrap();
    let mut s = f.start();
    s.cmd("USER alice");
    let t = std::time::Instant::now();
    assert!(s.cmd("PASS nope").starts_with("-ERR [AUTH]"));
    assert!(t.elapsed() >= Duration::from_millis(900));
    s.cmd("QUIT");
    s.finish();
}

#[test]
fn transaction_commands_and_update() {
    let f = Fixture::new("");
    let m1 = msg("one", "first\n");
    let m2 = msg("two", "second\nline\n");
    let m3 = msg("three", "third\n");
    f.add("1700000001.M1P1.test", &m1);
    f.add("1700000002.M2P2.test", &m2);
    f.add("1700000003.M3P3.test", &m3);
    let total = crlf_size(&m1) + crlf_size(&m2) + crlf_size(&m3);

    let mut s = f.start();
    assert_eq!(greet_and_login(&mut s), "+OK Logged in.");
    // The login locked the maildrop and listed nothing: new mail is still in new/
    // (RFC 1939 §4 asks for the lock at PASS; the messages are numbered when first
    // needed, as Dovecot does).
    assert!(
        f.files().iter().all(|n| !n.contains(":2,")),
        "{:?}",
        f.files()
    );
    assert_eq!(s.cmd("NOOP"), "+OK");
    assert_eq!(s.cmd("STAT"), format!("+OK 3 {total}"));
    // Numbering the maildrop moved new mail to cur/.
    assert!(
        f.files().iter().all(|n| n.ends_with(":2,")),
        "{:?}",
        f.files()
    );
    assert_eq!(s.cmd("LIST"), format!("+OK 3 messages ({total} octets)."));
    assert_eq!(
        s.lines(),
        [
            format!("1 {}", crlf_size(&m1)),
            format!("2 {}", crlf_size(&m2)),
            format!("3 {}", crlf_size(&m3))
        ]
    );
    assert_eq!(s.cmd("LIST 2"), format!("+OK 2 {}", crlf_size(&m2)));
    assert_eq!(s.cmd("LIST 4"), "-ERR No such message.");
    assert_eq!(s.cmd("LIST 0"), "-ERR No such message.");
    assert_eq!(s.cmd("LIST 99999999999999999999"), "-ERR No such message.");
    assert!(s.cmd("LIST x").starts_with("-ERR Syntax error"));
    assert_eq!(s.cmd("UIDL"), "+OK Unique ids follow.");
    let uidls = s.lines();
    assert_eq!(uidls.len(), 3);
    let v = std::fs::read_to_string(f.maildir().join("courierpop3dsizelist")).unwrap();
    let uidv = v
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .nth(2)
        .unwrap()
        .to_owned();
    assert_eq!(uidls[0], format!("1 UID1-{uidv}"));
    assert_eq!(uidls[2], format!("3 UID3-{uidv}"));
    assert_eq!(s.cmd("UIDL 2"), format!("+OK 2 UID2-{uidv}"));

    assert_eq!(
        s.cmd("RETR 2"),
        format!("+OK {} octets follow.", crlf_size(&m2))
    );
    assert_eq!(
        s.multiline_raw(),
        String::from_utf8(m2.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes()
    );
    assert_eq!(s.cmd("TOP 3 0"), "+OK Top of message follows.");
    assert_eq!(
        s.multiline_raw(),
        b"From: a@example.org\r\nSubject: three\r\n\r\n".to_vec()
    );
    // RETR marks \Seen as Courier does, TOP does not.
    let files = f.files();
    assert!(
        files
            .iter()
            .any(|n| n.starts_with("1700000002") && n.ends_with(":2,S"))
    );
    assert!(
        files
            .iter()
            .any(|n| n.starts_with("1700000003") && n.ends_with(":2,"))
    );

    assert_eq!(s.cmd("DELE 1"), "+OK Message 1 deleted.");
    assert_eq!(s.cmd("DELE 1"), "-ERR Message 1 is deleted.");
    assert_eq!(s.cmd("RETR 1"), "-ERR Message 1 is deleted.");
    assert_eq!(s.cmd("TOP 1 1"), "-ERR Message 1 is deleted.");
    assert_eq!(s.cmd("LIST 1"), "-ERR Message 1 is deleted.");
    assert_eq!(s.cmd("UIDL 1"), "-ERR Message 1 is deleted.");
    assert_eq!(s.cmd("DELE 7"), "-ERR No such message.");
    let rest = total - crlf_size(&m1);
    assert_eq!(s.cmd("STAT"), format!("+OK 2 {rest}"));
    assert_eq!(s.cmd("LIST"), format!("+OK 2 messages ({rest} octets)."));
    assert_eq!(s.lines().len(), 2);
    assert_eq!(s.cmd("UIDL"), "+OK Unique ids follow.");
    assert_eq!(s.lines().len(), 2);
    assert_eq!(
        s.cmd("RSET"),
        format!("+OK Maildrop has 3 messages ({total} octets).")
    );
    assert_eq!(s.cmd("STAT"), format!("+OK 3 {total}"));
    assert_eq!(s.cmd("NOOP"), "+OK");
    assert_eq!(s.cmd("USER alice"), "-ERR Already logged in.");
    assert_eq!(s.cmd("PASS secret"), "-ERR Already logged in.");
    assert_eq!(s.cmd("AUTH PLAIN"), "-ERR Already logged in.");
    assert_eq!(s.cmd("CAPA"), "+OK Capability list follows.");
    assert_eq!(s.lines().len(), 8);
    assert!(s.cmd("RETR").starts_with("-ERR Syntax error"));
    assert!(s.cmd("TOP 1").starts_with("-ERR Syntax error"));
    assert!(s.cmd("TOP 1 x").starts_with("-ERR Syntax error"));
    assert!(s.cmd("NOOP 1").starts_with("-ERR Syntax error"));
    assert_eq!(s.cmd("DELE 1"), "+OK Message 1 deleted.");
    assert_eq!(s.cmd("DELE 3"), "+OK Message 3 deleted.");
    // Nothing is removed before QUIT.
    assert_eq!(f.files().len(), 3);
    assert_eq!(s.cmd("QUIT"), "+OK Bye, 2 messages deleted.");
    let log = s.finish();
    let files = f.files();
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with("1700000002"));
    // The store's UID database forgot them too (IMAP sees them expunged).
    let uiddb = std::fs::read_to_string(f.maildir().join("courierimapuiddb")).unwrap();
    assert!(!uiddb.contains("1700000001") && !uiddb.contains("1700000003"));
    assert!(uiddb.contains("1700000002"));

    assert!(
        log.contains("INFO: LOGIN, user=alice, protocol=POP3"),
        "{log}"
    );
    let logout = log
        .lines()
        .find(|l| l.starts_with("INFO: LOGOUT, user=alice"))
        .unwrap_or_else(|| panic!("{log}"));
    let retr = crlf_size(&m2);
    assert!(logout.contains(&format!("retr={retr}")), "{logout}");
    let top = b"From: a@example.org\r\nSubject: three\r\n\r\n".len();
    assert!(logout.contains(&format!("top={top},")), "{logout}");
    assert!(logout.contains(", deleted=2, deleted_bytes="), "{logout}");
    for field in ["rcvd=", "sent=", "time="] {
        assert!(logout.contains(field), "{logout}");
    }
}

#[test]
fn session_end_without_quit_deletes_nothing() {
    let f = Fixture::new("");
    f.add("1700000001.M1P1.test", &msg("one", "x\n"));
    let mut s = f.start();
    greet_and_login(&mut s);
    assert_eq!(s.cmd("DELE 1"), "+OK Message 1 deleted.");
    let log = s.finish();
    assert!(log.contains("INFO: DISCONNECTED, user=alice"), "{log}");
    assert_eq!(f.files().len(), 1);
}

#[test]
fn crlf_sizes_and_dot_stuffing() {
    let f = Fixture::new("");
    let bare = b"Subject: dots\n\n.\n..\n.leading\nplain\n.. two\nno newline at end".to_vec();
    let crlf = b"Subject: crlf\r\n\r\n.x\r\nbody\r\n".to_vec();
    f.add("1700000001.M1P1.test", &bare);
    f.add("1700000002.M2P2.test", &crlf);
    f.add("1700000003.M3P3.test", b"");
    let mut s = f.start();
    greet_and_login(&mut s);
    let bare_size = crlf_size(&bare);
    assert_eq!(s.cmd("LIST 1"), format!("+OK 1 {bare_size}"));
    assert_eq!(s.cmd("LIST 2"), format!("+OK 2 {}", crlf.len()));
    assert_eq!(s.cmd("LIST 3"), "+OK 3 0");
    assert_eq!(s.cmd("RETR 1"), format!("+OK {bare_size} octets follow."));
    let got = s.multiline_raw();
    assert_eq!(
        got,
        b"Subject: dots\r\n\r\n..\r\n...\r\n..leading\r\nplain\r\n... two\r\nno newline at end\r\n"
    );
    // Unstuffed, the bytes on the wire are exactly the advertised size.
    let unstuffed: Vec<u8> = String::from_utf8(got)
        .unwrap()
        .split_inclusive("\r\n")
        .map(|l| l.strip_prefix('.').unwrap_or(l).to_owned())
        .collect::<String>()
        .into_bytes();
    assert_eq!(unstuffed.len(), bare_size);
    assert_eq!(
        s.cmd("RETR 2"),
        format!("+OK {} octets follow.", crlf.len())
    );
    assert_eq!(s.multiline_raw(), b"Subject: crlf\r\n\r\n..x\r\nbody\r\n");
    assert_eq!(s.cmd("RETR 3"), "+OK 0 octets follow.");
    assert_eq!(s.multiline_raw(), b"");
    assert_eq!(s.cmd("TOP 1 2"), "+OK Top of message follows.");
    assert_eq!(s.multiline_raw(), b"Subject: dots\r\n\r\n..\r\n...\r\n");
    assert_eq!(s.cmd("TOP 1 100"), "+OK Top of message follows.");
    assert!(s.multiline_raw().ends_with(b"no newline at end\r\n"));
    s.cmd("QUIT");
    s.finish();
}

#[test]
fn pipelined_commands_in_one_write() {
    let f = Fixture::new("");
    f.add("1700000001.M1P1.test", &msg("one", "a\n"));
    f.add("1700000002.M2P2.test", &msg("two", "b\n"));
    let mut s = f.start();
    s.send(b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nTOP 2 0\r\nDELE 2\r\nNOOP\r\nBOGUS\r\nQUIT\r\n");
    assert_eq!(s.line(), "+OK Capability list follows.");
    assert_eq!(s.lines().len(), 8);
    assert_eq!(s.line(), "+OK Password required.");
    assert_eq!(s.line(), "+OK Logged in.");
    assert!(s.line().starts_with("+OK 2 "));
    assert!(s.line().starts_with("+OK 2 messages"));
    assert_eq!(s.lines().len(), 2);
    assert!(s.line().starts_with("+OK 1 UID1-"));
    assert!(s.line().ends_with("octets follow."));
    assert!(s.multiline_raw().ends_with(b"\r\na\r\n"));
    assert_eq!(s.line(), "+OK Top of message follows.");
    assert!(s.multiline_raw().ends_with(b"Subject: two\r\n\r\n"));
    assert_eq!(s.line(), "+OK Message 2 deleted.");
    assert_eq!(s.line(), "+OK");
    assert_eq!(s.line(), "-ERR Unknown command.");
    assert_eq!(s.line(), "+OK Bye, 1 messages deleted.");
    s.finish();
    assert_eq!(f.files().len(), 1);
}

#[test]
fn sasl_auth_plain_and_login() {
    let f = Fixture::new("max_failed_logins = 10");
    let mut s = f.start();
    assert_eq!(s.cmd("AUTH"), "+OK Mechanisms follow.");
    assert_eq!(s.lines(), ["PLAIN", "LOGIN"]);
    assert_eq!(
        s.cmd("AUTH CRAM-MD5"),
        "-ERR Unsupported authentication mechanism."
    );
    assert_eq!(s.cmd("AUTH PLAIN !!!"), "-ERR Invalid base64 data.");
    // Cancel with `*`.
    assert_eq!(s.cmd("AUTH PLAIN"), "+ ");
    assert_eq!(s.cmd("*"), "-ERR Authentication cancelled.");
    // Bad base64 in a response.
    assert_eq!(s.cmd("AUTH LOGIN"), format!("+ {}", b64(b"Username:")));
    assert_eq!(s.cmd("%%%"), "-ERR Invalid base64 data.");
    // Wrong password, then a malformed PLAIN message.
    let bad = b64(b"\0alice\0nope");
    assert_eq!(
        s.cmd(&format!("AUTH PLAIN {bad}")),
        "-ERR [AUTH] Invalid user name or password."
    );
    assert!(
        s.cmd(&format!("AUTH PLAIN {}", b64(b"alice")))
            .starts_with("-ERR [AUTH]")
    );
    // LOGIN with its two challenges.
    assert_eq!(s.cmd("AUTH LOGIN"), format!("+ {}", b64(b"Username:")));
    assert_eq!(s.cmd(&b64(b"alice")), format!("+ {}", b64(b"Password:")));
    assert!(s.cmd(&b64(b"secret")).starts_with("+OK Logged in"));
    assert_eq!(s.cmd("QUIT"), "+OK Bye, 0 messages deleted.");
    let log = s.finish();
    assert!(
        log.contains("LOGIN FAILED, user=alice, method=PLAIN"),
        "{log}"
    );

    // PLAIN with an initial response, and without.
    let mut s = f.start();
    let ok = s.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0secret")));
    assert!(ok.starts_with("+OK Logged in"), "{ok}");
    s.cmd("QUIT");
    s.finish();
    let mut s = f.start();
    assert_eq!(s.cmd("auth plain"), "+ ");
    assert!(
        s.cmd(&b64(b"alice\0alice\0secret"))
            .starts_with("+OK Logged in")
    );
    s.cmd("QUIT");
    s.finish();
    // Someone else's authorization identity is refused.
    let mut s = f.start();
    assert!(
        s.cmd(&format!("AUTH PLAIN {}", b64(b"bob\0alice\0secret")))
            .starts_with("-ERR [AUTH]")
    );
    s.cmd("QUIT");
    s.finish();
}

#[test]
fn over_long_lines_are_refused_and_the_session_goes_on() {
    let f = Fixture::new("[limits]\nmax_line_length = 1024");
    let mut s = f.start();
    let long = format!("USER {}\r\n", "x".repeat(5000));
    s.send(long.as_bytes());
    assert_eq!(s.line(), "-ERR Line too long.");
    // 255 octets, RFC 2449's limit, are fine.
    assert_eq!(
        s.cmd(&format!("USER {}", "y".repeat(250))),
        "+OK Password required."
    );
    s.cmd("USER alice");
    assert!(s.cmd("PASS secret").starts_with("+OK"));
    s.send(format!("NOOP {}\r\nNOOP\r\n", "z".repeat(3000)).as_bytes());
    assert_eq!(s.line(), "-ERR Line too long.");
    assert_eq!(s.line(), "+OK");
    s.cmd("QUIT");
    s.finish();
}

#[test]
fn preauth_timeout() {
    let f = Fixture::new("[limits]\npreauth_timeout = 1");
    let mut s = f.start();
    let t = std::time::Instant::now();
    assert_eq!(s.line(), "-ERR Disconnected for inactivity.");
    assert!(t.elapsed() >= Duration::from_millis(900));
    let log = s.finish();
    assert!(log.contains("INFO: TIMEOUT"), "{log}");
}

#[test]
fn second_session_gets_in_use() {
    let f = Fixture::new("");
    f.add("1700000001.M1P1.test", &msg("one", "x\n"));
    let mut a = f.start();
    greet_and_login(&mut a);
    let mut b = f.start();
    b.cmd("USER alice");
    assert_eq!(
        b.cmd("PASS secret"),
        "-ERR [IN-USE] Another POP3 session is using this maildrop."
    );
    // The process may already be alice's: the session ends there, as Courier's does
    // (RFC 1939 allows it), and the client tries again in a new one.
    b.assert_closed();
    let log = b.finish();
    assert!(log.contains("INFO: IN USE, user=alice"), "{log}");
    assert_eq!(a.cmd("DELE 1"), "+OK Message 1 deleted.");
    assert_eq!(a.cmd("QUIT"), "+OK Bye, 1 messages deleted.");
    a.finish();
    let mut b = f.start();
    b.cmd("USER alice");
    assert_eq!(b.cmd("PASS secret"), "+OK Logged in.");
    assert_eq!(b.cmd("STAT"), "+OK 0 0");
    b.cmd("QUIT");
    b.finish();

    // The lock dies with the process, even on kill -9.
    let mut c = f.start();
    greet_and_login(&mut c);
    c.child().kill().unwrap();
    c.child().wait().unwrap();
    let mut d = f.start();
    greet_and_login(&mut d);
    d.cmd("QUIT");
    d.finish();
}

/// The maildrop is locked at PASS and numbered at the first command that needs it: when
/// that fails, the command gets the reason's -ERR and the session ends (it cannot go on
/// without its messages). Here the size list cannot be read (a directory in its place).
#[test]
fn maildrop_that_cannot_be_numbered_ends_the_session_at_its_first_use() {
    let f = Fixture::new("");
    f.add("1700000001.M1P1.test", &msg("one", "a\n"));
    std::fs::create_dir(f.maildir().join("courierpop3dsizelist")).unwrap();
    let mut s = f.start();
    assert_eq!(greet_and_login(&mut s), "+OK Logged in.");
    assert_eq!(s.cmd("NOOP"), "+OK");
    assert_eq!(
        s.cmd("STAT"),
        "-ERR [SYS/TEMP] Cannot open the maildrop now; try again later."
    );
    s.assert_closed();
    let log = s.finish();
    assert!(log.contains("cannot open the maildrop"), "{log}");
}

#[test]
fn missing_maildir_is_a_permanent_error() {
    let f = Fixture::new("");
    std::fs::remove_dir_all(f.maildir()).unwrap();
    let mut s = f.start();
    s.cmd("USER alice");
    assert_eq!(
        s.cmd("PASS secret"),
        "-ERR [SYS/PERM] The maildrop cannot be opened."
    );
    // After the account's maildrop was tried, the session does not go back to
    // AUTHORIZATION: it ends.
    s.assert_closed();
    let log = s.finish();
    assert!(
        log.contains("cannot open the maildrop, user=alice"),
        "{log}"
    );
}

#[test]
fn courier_sizelist_keeps_its_uidls() {
    let f = Fixture::new("");
    let md = f.maildir();
    let a = msg("a", "old one\n");
    let b = msg("b", "old two\n");
    std::fs::write(md.join("cur/1600000000.M1P1.courier,S=40:2,S"), &a).unwrap();
    std::fs::write(md.join("cur/1600000001.M2P2.courier:2,"), &b).unwrap();
    // As Courier left it: b's flags changed since (no S then, `2,` now... and a was
    // recorded without flags), and an entry for a message that is gone.
    let fixture = format!(
        "/3 9 1555555555\n\
         1600000000.M1P1.courier,S=40:2, {} 7:1555555555:0\n\
         1599999999.M0P0.gone:2,S 10 6:1555555555:0\n\
         1600000001.M2P2.courier:2,S {} 8:1555555555:0\n",
        crlf_size(&a),
        crlf_size(&b)
    );
    std::fs::write(md.join("courierpop3dsizelist"), &fixture).unwrap();
    f.add("1700000000.M3P3.new", &msg("c", "new\n"));

    let mut s = f.start();
    greet_and_login(&mut s);
    assert_eq!(s.cmd("UIDL"), "+OK Unique ids follow.");
    assert_eq!(
        s.lines(),
        [
            "1 UID7-1555555555",
            "2 UID8-1555555555",
            "3 UID9-1555555555"
        ]
    );
    assert_eq!(s.cmd("LIST 2"), format!("+OK 2 {}", crlf_size(&b)));
    s.cmd("QUIT");
    s.finish();
    let written = std::fs::read_to_string(md.join("courierpop3dsizelist")).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "/3 10 1555555555");
    assert_eq!(lines.len(), 4, "{written}");
    assert!(
        lines.contains(
            &format!(
                "1600000000.M1P1.courier,S=40:2,S {} 7:1555555555:0",
                crlf_size(&a)
            )
            .as_str()
        ),
        "{written}"
    );
    assert!(lines[3].starts_with("1700000000.M3P3.new:2, "), "{written}");
    assert!(lines[3].ends_with(" 9:1555555555:0"), "{written}");

    // Nothing new: the file is left alone, and the UIDLs are the same.
    let before = std::fs::metadata(md.join("courierpop3dsizelist"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut s = f.start();
    greet_and_login(&mut s);
    assert_eq!(s.cmd("UIDL 3"), "+OK 3 UID9-1555555555");
    s.cmd("QUIT");
    s.finish();
    let after = std::fs::metadata(md.join("courierpop3dsizelist"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn older_sizelist_versions_keep_their_uidls() {
    for (list, want) in [
        (
            "/2 5 1444444444\n1600000000.M1P1.old:2,S 44 4:1444444444\n",
            "UID4-1444444444",
        ),
        ("/1 5\n1600000000.M1P1.old:2,S 44 4\n", "UID4"),
        ("1600000000.M1P1.old:2,S 44\n", "1600000000.M1P1.old"),
    ] {
        let f = Fixture::new("");
        std::fs::write(
            f.maildir().join("cur/1600000000.M1P1.old:2,S"),
            msg("x", "y\n"),
        )
        .unwrap();
        std::fs::write(f.maildir().join("courierpop3dsizelist"), list).unwrap();
        let mut s = f.start();
        greet_and_login(&mut s);
        assert_eq!(s.cmd("UIDL 1"), format!("+OK 1 {want}"));
        s.cmd("QUIT");
        s.finish();
        // Rewritten in the current format, and still the same UIDL next time.
        let text = std::fs::read_to_string(f.maildir().join("courierpop3dsizelist")).unwrap();
        assert!(text.starts_with("/3 "), "{text}");
        let mut s = f.start();
        greet_and_login(&mut s);
        assert_eq!(s.cmd("UIDL 1"), format!("+OK 1 {want}"));
        s.cmd("QUIT");
        s.finish();
    }
}

#[test]
fn deletions_reach_an_open_store_view_as_expunges() {
    let f = Fixture::new("");
    for i in 1..=3 {
        f.add(
            &format!("170000000{i}.M{i}P{i}.test"),
            &msg(&i.to_string(), "x\n"),
        );
    }
    let mut s = f.start();
    greet_and_login(&mut s);
    // An IMAP-like session holding the folder open meanwhile.
    let maildir = postern::store::Maildir::open(f.maildir()).unwrap();
    let mut view = maildir.open_mailbox("INBOX", false).unwrap();
    assert_eq!(view.len(), 3);
    s.cmd("DELE 2");
    assert_eq!(s.cmd("QUIT"), "+OK Bye, 1 messages deleted.");
    s.finish();
    let changes = view.refresh(true).unwrap();
    assert_eq!(changes.expunged, vec![2]);
    assert_eq!(view.len(), 2);
}

#[test]
fn kill_during_quit_loses_no_unmarked_message() {
    let f = Fixture::new("");
    let n = 300;
    for i in 0..n {
        f.add(
            &format!("{}.M{i}P1.test", 1_700_000_000 + i),
            &msg(&format!("m{i}"), &format!("id {i}\n")),
        );
    }
    let original = f.contents();
    let mut kept: std::collections::BTreeSet<String> =
        original.iter().map(|(b, _)| b.clone()).collect();
    for round in 0..6u64 {
        let mut s = f.start();
        greet_and_login(&mut s);
        s.cmd("UIDL");
        let listed = s.lines();
        let stat = s.cmd("STAT");
        let count: usize = stat.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(listed.len(), count);
        // Mark every other message.
        let mut cmds = String::new();
        for i in (1..=count).step_by(2) {
            cmds.push_str(&format!("DELE {i}\r\n"));
        }
        s.send(cmds.as_bytes());
        for _ in (1..=count).step_by(2) {
            assert!(s.line().starts_with("+OK"));
        }
        // Which messages were marked: read their subjects via TOP before QUIT.
        let mut unmarked = Vec::new();
        for i in (2..=count).step_by(2) {
            s.cmd(&format!("TOP {i} 0"));
            let head = String::from_utf8(s.multiline_raw()).unwrap();
            let subject = head
                .lines()
                .find_map(|l| l.strip_prefix("Subject: m"))
                .unwrap()
                .to_owned();
            unmarked.push(subject.parse::<u64>().unwrap());
        }
        s.send(b"QUIT\r\n");
        std::thread::sleep(Duration::from_micros(200 * round * round));
        s.kill();
        drop(s);
        let now: Vec<(String, Vec<u8>)> = f.contents();
        let present: std::collections::BTreeSet<String> =
            now.iter().map(|(b, _)| b.clone()).collect();
        for id in &unmarked {
            let base = format!("{}.M{id}P1.test", 1_700_000_000 + id);
            assert!(present.contains(&base), "round {round}: lost {base}");
        }
        // Contents are intact.
        for (b, bytes) in &now {
            let orig = &original.iter().find(|(ob, _)| ob == b).unwrap().1;
            assert_eq!(bytes, orig);
        }
        let flagged = f.files().iter().filter(|n| n.ends_with('T')).count();
        eprintln!(
            "round {round}: {count} listed, {} on disk after the kill ({flagged} flagged \\Deleted)",
            present.len()
        );
        kept = present;
    }
    // A last session still sees a consistent maildrop.
    let mut s = f.start();
    greet_and_login(&mut s);
    let stat = s.cmd("STAT");
    assert!(stat.starts_with(&format!("+OK {} ", kept.len())), "{stat}");
    s.cmd("QUIT");
    s.finish();
}

#[test]
fn quit_removes_only_what_pop3_deleted() {
    let f = Fixture::new("");
    f.add("1700000001.M1P1.test", &msg("one", "x\n"));
    f.add("1700000002.M2P2.test", &msg("two", "y\n"));
    let mut s = f.start();
    greet_and_login(&mut s);
    // Another session flags message 2 \Deleted without expunging it.
    let maildir = postern::store::Maildir::open(f.maildir()).unwrap();
    let mut view = maildir.open_mailbox("INBOX", false).unwrap();
    let flags = view.message(1).flags | postern::store::Flags::DELETED;
    view.set_flags(1, flags, &[]).unwrap();
    assert_eq!(s.cmd("DELE 1"), "+OK Message 1 deleted.");
    assert_eq!(s.cmd("QUIT"), "+OK Bye, 1 messages deleted.");
    s.finish();
    let files = f.files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("1700000002") && files[0].ends_with(":2,T"));
}

#[test]
fn sticky_home_locks_the_account() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("");
    let home = f.dir.path().join("alice");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o1700)).unwrap();
    let mut s = f.start();
    s.cmd("USER alice");
    assert_eq!(
        s.cmd("PASS secret"),
        "-ERR [SYS/TEMP] Your account is temporarily unavailable (+t bit set on home directory)."
    );
    s.cmd("QUIT");
    let log = s.finish();
    assert!(log.contains("INFO: LOCKED, user=alice"), "{log}");
}
