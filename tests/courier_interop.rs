//! Differential tests against the real Courier-IMAP 5.0.13 of Debian 12, both directions:
//! Courier's `imapd` (PREAUTH on stdin/stdout) and `courierpop3d` work on a Maildir, then
//! postern serves the same Maildir and must show the same UIDVALIDITY, UIDs, flags,
//! keywords, folders, subscriptions and POP3 UIDLs, and must leave Courier's files alone
//! when nothing changed; and the other way round, with Courier going on where postern
//! stopped (no UID reused).
//!
//! Courier is not installed: `tests/courier/fetch-courier.sh` unpacks the Debian packages
//! into `$POSTERN_COURIER_DIR` (default `/var/cache/postern-test-courier`), and these tests
//! run the binaries from there with `LD_LIBRARY_PATH`. Without that tree (or when the
//! binaries do not run here) every test prints `SKIP: ...` to stderr and passes.
//!
//! Courier's environment: `IMAP_KEYWORDS=1` and `IMAP_ACL=1` as Debian ships them;
//! `IMAP_USELOCKS=0` because with locks every APPEND waits for the FAM/Gamin daemon that is
//! not running here (the on-disk formats are the same either way). Courier's "Filesystem
//! notification initialization error" alert at the start of a session is expected here.
//!
//! Differences these tests caught, now fixed in postern:
//! * `appended_messages_read_the_same_through_both_servers`: postern's APPEND stored the
//!   literal with CRLF line ends; Courier stores LF and serves every LF as CRLF, so it
//!   showed postern's messages with "\r\r\n" and too-large RFC822.SIZEs.
//! * `maildirsize_is_kept_by_both_servers`: GETQUOTA's STORAGE limit in KiB is rounded up by
//!   Courier (1000000 bytes → 977); postern rounded down (976).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::pop3::Pop3;
use common::{BIN, Client, PASS, Part, Reply, USER, owner};

// ---------------------------------------------------------------------------------------
// Where Courier is (tests/courier/oracle.rs), and sessions with it.

#[path = "courier/oracle.rs"]
mod oracle;
use oracle::{Courier, maildir_dirs};

impl Courier {
    fn imap(&self, maildir: &Path) -> Imap {
        let c = Client::spawn(self.imapd_command(maildir), false);
        let mut s = Imap {
            c,
            name: "courier-imapd",
            tag: 0,
        };
        // "* OK [ALERT] Filesystem notification ..." may come first.
        let mut l = s.c.greeting.text.clone();
        while !l.starts_with("* PREAUTH") {
            assert!(l.starts_with("* "), "Courier greeting: {l:?}");
            l = s.c.expect_response().text;
        }
        s
    }

    fn pop3(&self, maildir: &Path) -> Pop3 {
        owner::give_to_mail_owner(maildir);
        let mut c = self.base(self.pop3d());
        c.arg(maildir);
        let p = Pop3::spawn("courierpop3d", c, None);
        assert!(
            p.greeting.starts_with("+OK"),
            "courierpop3d greeting: {:?}",
            p.greeting
        );
        p
    }
}

// ---------------------------------------------------------------------------------------
// IMAP sessions with both servers through common's client: postern's responses checked
// with imap-codec, Courier's not (its harmless differences pass).

/// The number in a `[NAME n]` response code, tagged or untagged.
fn code_num(r: &Reply, name: &str) -> Option<u64> {
    let needle = format!("[{name} ");
    r.untagged
        .iter()
        .chain(std::iter::once(&r.tagged))
        .find_map(|l| {
            let l = &l.text;
            let rest = &l[l.find(&needle)? + needle.len()..];
            rest.split([' ', ']']).next()?.parse().ok()
        })
}

struct Imap {
    c: Client,
    name: &'static str,
    tag: u32,
}

/// A mailbox as the server shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    uidvalidity: u64,
    uidnext: u64,
    /// UID → flags and keywords (without `\Recent`, which belongs to one session).
    flags: BTreeMap<u32, BTreeSet<String>>,
}

impl Imap {
    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    fn session(&self) -> String {
        format!("{} session:\n{}", self.name, self.c.log.join("\n"))
    }

    fn cmd(&mut self, command: &str) -> Reply {
        let tag = self.next_tag();
        self.c.send(&tag, command)
    }

    #[track_caller]
    fn ok(&mut self, command: &str) -> Reply {
        let r = self.cmd(command);
        assert!(
            r.is_ok(),
            "{} refused {command:?}: {}; {}",
            self.name,
            r.tagged.text,
            self.session()
        );
        r
    }

    /// APPEND with a synchronizing literal; returns the APPENDUID's UID.
    #[track_caller]
    fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> u64 {
        let tag = self.next_tag();
        let command = format!("APPEND {mailbox} ({flags}) ");
        let r = self
            .c
            .send_parts(&tag, &[Part::Text(&command), Part::Literal(msg)]);
        assert_eq!(
            r.continuations,
            1,
            "no continuation for APPEND; {}",
            self.session()
        );
        assert!(r.is_ok(), "APPEND refused; {}", self.session());
        let code = r
            .tagged
            .text
            .split("[APPENDUID ")
            .nth(1)
            .unwrap_or_else(|| panic!("no APPENDUID: {}", r.tagged.text));
        code.split([' ', ']']).nth(1).unwrap().parse().unwrap()
    }

    /// SELECT, STATUS (UIDNEXT is not in Courier 5.0.13's SELECT) and UID FETCH FLAGS.
    #[track_caller]
    fn view(&mut self, mailbox: &str) -> View {
        let status = self.ok(&format!("STATUS {mailbox} (UIDNEXT UIDVALIDITY)"));
        let st = status
            .untagged
            .iter()
            .find(|l| l.text.starts_with("* STATUS "))
            .unwrap_or_else(|| panic!("no STATUS; {}", self.session()))
            .text
            .clone();
        let sel = self.ok(&format!("SELECT {mailbox}"));
        let uidvalidity = code_num(&sel, "UIDVALIDITY")
            .unwrap_or_else(|| panic!("no UIDVALIDITY; {}", self.session()));
        assert_eq!(
            Some(uidvalidity),
            item_num(&st, "UIDVALIDITY"),
            "{}: STATUS and SELECT disagree on UIDVALIDITY",
            self.name
        );
        let uidnext = item_num(&st, "UIDNEXT").expect("STATUS UIDNEXT");
        if let Some(n) = code_num(&sel, "UIDNEXT") {
            assert_eq!(
                n, uidnext,
                "{}: STATUS and SELECT disagree on UIDNEXT",
                self.name
            );
        }
        let fetch = self.ok("UID FETCH 1:* (UID FLAGS)");
        View {
            uidvalidity,
            uidnext,
            flags: fetch_flags(&fetch),
        }
    }

    /// UID → (RFC822.SIZE, BODY[] as sent) of the selected mailbox. Two commands, so that
    /// the item order of a server's FETCH response does not matter.
    #[track_caller]
    fn contents(&mut self) -> BTreeMap<u32, (u64, Vec<u8>)> {
        let sizes = self.ok("UID FETCH 1:* (UID RFC822.SIZE)");
        let bodies = self.ok("UID FETCH 1:* (UID BODY.PEEK[])");
        let mut out = BTreeMap::new();
        for l in &sizes.untagged {
            let l = &l.text;
            if let (Some(uid), Some(size)) = (after_word(l, "UID"), after_word(l, "RFC822.SIZE")) {
                out.insert(uid as u32, (size, Vec::new()));
            }
        }
        for l in &bodies.untagged {
            if let (Some(uid), Some(body)) = (after_word(&l.text, "UID"), l.literals.first()) {
                out.entry(uid as u32).or_insert((0, Vec::new())).1 = body.clone();
            }
        }
        out
    }

    fn logout(mut self) {
        let r = self.cmd("LOGOUT");
        assert!(r.is_ok(), "LOGOUT: {}", self.session());
        self.c.finish();
    }
}

/// The number after the word `name` (e.g. `UID 3`) in a FETCH line.
fn after_word(line: &str, name: &str) -> Option<u64> {
    let mut words = line.split([' ', '(', ')']);
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case(name) {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Readable differences between two servers' `contents`.
fn contents_diff(
    a_name: &str,
    a: &BTreeMap<u32, (u64, Vec<u8>)>,
    b_name: &str,
    b: &BTreeMap<u32, (u64, Vec<u8>)>,
) -> String {
    let mut s = String::new();
    for uid in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (a.get(uid), b.get(uid));
        if x != y {
            let show = |v: Option<&(u64, Vec<u8>)>| match v {
                Some((size, body)) => format!(
                    "RFC822.SIZE {size}, BODY[] {} bytes {:?}",
                    body.len(),
                    String::from_utf8_lossy(body)
                ),
                None => "missing".into(),
            };
            s.push_str(&format!(
                "UID {uid}:\n  {a_name}: {}\n  {b_name}: {}\n",
                show(x),
                show(y)
            ));
        }
    }
    s
}

/// The number after `name` in a STATUS line's item list.
fn item_num(line: &str, name: &str) -> Option<u64> {
    let items = &line[line.rfind('(')? + 1..];
    let mut words = items.trim_end_matches(')').split(' ');
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case(name) {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// UID → flags from `* n FETCH (UID u FLAGS (...))` lines, either item order.
fn fetch_flags(r: &Reply) -> BTreeMap<u32, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for l in &r.untagged {
        let l = &l.text;
        if !l.contains(" FETCH (") {
            continue;
        }
        let uid = common::fetch_uid(l).unwrap_or_else(|| panic!("no UID in {l:?}"));
        let flags = l
            .split("FLAGS (")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or_else(|| panic!("no FLAGS in {l:?}"));
        let set = flags
            .split(' ')
            .filter(|f| !f.is_empty() && !f.eq_ignore_ascii_case("\\Recent"))
            .map(str::to_string)
            .collect();
        out.insert(uid, set);
    }
    out
}

/// Mailbox names of `* LIST` / `* LSUB` lines, unquoted.
fn names(r: &Reply, kind: &str) -> BTreeSet<String> {
    let prefix = format!("* {kind} ");
    r.untagged
        .iter()
        .filter_map(|l| l.text.strip_prefix(&prefix))
        .map(|rest| {
            // (attrs) "." name
            let after = &rest[rest.find(')').unwrap() + 1..];
            let after = after.trim_start();
            let after = &after[after.find(' ').unwrap() + 1..];
            after.trim_matches('"').to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// postern's side.

/// A temporary home with a Maildir, a user file and a config for `postern`.
struct Account {
    dir: tempfile::TempDir,
}

impl Account {
    /// `create`: make the Maildir with `postern maildirmake` (else plain `mkdir`, as an MTA
    /// or Courier's own maildirmake leaves it: `cur new tmp`).
    fn new(create_with_postern: bool) -> Account {
        let dir = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(dir.path());
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let a = Account { dir };
        if create_with_postern {
            let st = Command::new(BIN)
                .arg("maildirmake")
                .arg(a.maildir())
                .status()
                .unwrap();
            assert!(st.success(), "postern maildirmake");
        } else {
            maildir_dirs(&a.maildir());
        }
        owner::give_to_mail_owner(&home);
        std::fs::write(
            a.dir.path().join("users"),
            format!("{USER}:{{PLAIN}}{PASS}::::{}::\n", home.display()),
        )
        .unwrap();
        std::fs::write(
            a.config(),
            format!(
                "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}\n[imap]\nkeywords = true\n",
                a.dir.path().join("users").display(),
                owner::owner_settings()
            ),
        )
        .unwrap();
        a
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("home/Maildir")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("postern.toml")
    }

    /// A `postern` command. As root, postern runs as the mail owner, so the home (with
    /// what Courier, run as root here, and the test wrote into it) is given to it first.
    fn postern(&self, sub: &str) -> Command {
        owner::give_to_mail_owner(&self.dir.path().join("home"));
        let mut c = Command::new(BIN);
        c.arg(sub)
            .arg("--config")
            .arg(self.config())
            .env_remove("POSTERN_CONFIG")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM");
        c
    }

    fn imap(&self) -> Imap {
        let mut c = self.postern("imapd");
        c.arg("--inetd");
        let mut s = Imap {
            c: Client::spawn(c, true),
            name: "postern-imapd",
            tag: 0,
        };
        let g = s.c.greeting.text.clone();
        assert!(g.starts_with("* OK"), "postern greeting: {g:?}");
        s.ok(&format!("LOGIN {USER} {PASS}"));
        s
    }

    fn pop3(&self) -> Pop3 {
        let mut c = self.postern("pop3d");
        c.arg("--inetd");
        let mut p = Pop3::spawn("postern pop3d", c, None);
        assert!(
            p.greeting.starts_with("+OK"),
            "postern pop3d greeting: {:?}",
            p.greeting
        );
        p.login(USER, PASS);
        p
    }

    /// `postern deliver [--folder F] Maildir < msg`.
    fn deliver(&self, folder: Option<&str>, msg: &[u8]) {
        let mut c = self.postern("deliver");
        if let Some(f) = folder {
            c.arg("--folder").arg(f);
        }
        let mut child = c.arg(self.maildir()).stdin(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(msg).unwrap();
        assert!(child.wait().unwrap().success(), "postern deliver");
    }

    /// A message dropped into `new/` as an MTA does it.
    fn drop_new(&self, name: &str, msg: &[u8]) {
        let tmp = self.maildir().join("tmp").join(name);
        std::fs::write(&tmp, msg).unwrap();
        std::fs::rename(&tmp, self.maildir().join("new").join(name)).unwrap();
    }
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{subject}@example.org>\r\n\
         \r\n{body}\r\n"
    )
    .into_bytes()
}

/// Every file under `root` (relative path → contents), `tmp/` directories left out.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                if e.file_name() != "tmp" {
                    walk(root, &p, out);
                }
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What differs between two trees, readable.
fn tree_diff(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> String {
    let mut s = String::new();
    for (k, v) in before {
        match after.get(k) {
            None => s.push_str(&format!("removed: {k}\n")),
            Some(w) if w != v => s.push_str(&format!(
                "changed: {k}\n  before: {:?}\n  after:  {:?}\n",
                String::from_utf8_lossy(v),
                String::from_utf8_lossy(w)
            )),
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            s.push_str(&format!("added: {k}\n"));
        }
    }
    s
}

/// Courier's state files in a tree (uiddb, keywords, subscriptions, POP3 list).
fn courier_state(t: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    t.iter()
        .filter(|(k, _)| {
            k.ends_with("courierimapuiddb")
                || k.contains("courierimapkeywords/")
                || k.ends_with("courierimapsubscribed")
                || k.ends_with("courierpop3dsizelist")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Every file of `before` is still there with the same bytes (message file names carry the
/// flags, so this covers flags too). Files that postern adds for itself are allowed, and
/// printed.
#[track_caller]
fn assert_untouched(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let diff = tree_diff(before, after);
    let bad: Vec<&str> = diff.lines().filter(|l| !l.starts_with("added: ")).collect();
    assert!(bad.is_empty(), "{what} changed Courier's Maildir:\n{diff}");
    if !diff.is_empty() {
        eprintln!("{what} added files (allowed):\n{diff}");
    }
}

fn flags(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// POP3.

/// UIDL and LIST of one session, then QUIT (nothing deleted).
fn pop3_listing(mut p: Pop3) -> (Vec<String>, Vec<String>) {
    let uidl = p.list("UIDL");
    let list = p.list("LIST");
    p.quit();
    (uidl, list)
}

// ---------------------------------------------------------------------------------------
// 1. Courier first, postern after.

#[test]
fn courier_first_then_postern_shows_the_same() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(false);
    let md = acct.maildir();
    // Two messages in INBOX's new/, as an MTA delivers them.
    let m = message("in1", "one");
    acct.drop_new(&format!("1700000000.M1P1.mx.example,S={}", m.len()), &m);
    acct.drop_new("1700000001.M2P2.mx.example", &message("in2", "two"));

    // Courier's session.
    let mut c = courier.imap(&md);
    c.ok("CREATE INBOX.Work");
    c.ok("CREATE INBOX.Archive");
    c.append("INBOX.Work", "\\Seen", &message("w1", "first"));
    c.append("INBOX.Work", "", &message("w2", "second"));
    c.append("INBOX.Work", "\\Draft", &message("w3", "third"));
    c.ok("SUBSCRIBE INBOX.Work");
    c.ok("SELECT INBOX.Work");
    c.ok("STORE 1 +FLAGS (\\Flagged $Label1 Custom1)");
    c.ok("STORE 3 +FLAGS (Custom2 $Label1)");
    c.ok("STORE 2 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    c.ok("SELECT INBOX");
    c.ok("STORE 2 +FLAGS (\\Answered $Forwarded)");
    c.ok("CLOSE");
    let courier_work = c.view("INBOX.Work");
    let courier_inbox = c.view("INBOX");
    let courier_archive = c.view("INBOX.Archive");
    let c_lsub = names(&c.ok("LSUB \"\" \"*\""), "LSUB");
    let c_list = names(&c.ok("LIST \"\" \"*\""), "LIST");
    c.logout();

    // Courier's own view, for the record of what it wrote.
    assert_eq!(
        courier_work.flags,
        BTreeMap::from([
            (1, flags(&["\\Seen", "\\Flagged", "$Label1", "Custom1"])),
            (3, flags(&["\\Draft", "$Label1", "Custom2"])),
        ]),
        "Courier's own flags (test premise)"
    );
    assert!(c_lsub.contains("INBOX.Work"), "Courier LSUB: {c_lsub:?}");

    let before = tree(&md);
    let kw_list = String::from_utf8_lossy(
        before
            .get(".Work/courierimapkeywords/:list")
            .map(Vec::as_slice)
            .unwrap_or(b"<no :list>"),
    )
    .into_owned();
    eprintln!("Courier's .Work/courierimapkeywords/:list:\n{kw_list}");

    // postern, read-only: SELECT + FETCH FLAGS + LIST/LSUB + LOGOUT.
    let mut p = acct.imap();
    let postern_work = p.view("INBOX.Work");
    let postern_inbox = p.view("INBOX");
    let postern_archive = p.view("INBOX.Archive");
    let p_lsub = names(&p.ok("LSUB \"\" \"*\""), "LSUB");
    let p_list = names(&p.ok("LIST \"\" \"*\""), "LIST");
    p.ok("EXAMINE INBOX.Work");
    let p_work_contents = p.contents();
    p.logout();
    let after = tree(&md);

    assert_eq!(postern_work, courier_work, "INBOX.Work: postern vs Courier");
    assert_eq!(postern_inbox, courier_inbox, "INBOX: postern vs Courier");
    assert_eq!(
        postern_archive, courier_archive,
        "INBOX.Archive (empty): postern vs Courier"
    );
    assert!(
        p_lsub.contains("INBOX.Work") && !p_lsub.contains("INBOX.Archive"),
        "postern LSUB {p_lsub:?}, Courier LSUB {c_lsub:?}"
    );
    for f in ["INBOX", "INBOX.Work", "INBOX.Archive"] {
        assert!(p_list.contains(f), "postern LIST {p_list:?} lacks {f}");
        assert!(c_list.contains(f), "Courier LIST {c_list:?} lacks {f}");
    }
    assert_eq!(
        courier_state(&after),
        courier_state(&before),
        "postern's read-only pass changed Courier's state files:\n{}",
        tree_diff(&courier_state(&before), &courier_state(&after))
    );
    // A SELECT of a settled folder may leave postern-index (a cache Courier ignores), and
    // the first SELECT or STATUS of a folder mints its MAILBOXID (RFC 8474) in
    // postern-mailboxid, which Courier ignores too; they are the files the pass may add.
    let after: BTreeMap<String, Vec<u8>> = after
        .into_iter()
        .filter(|(k, _)| !k.ends_with("postern-index") && !k.ends_with("postern-mailboxid"))
        .collect();
    assert!(
        before == after,
        "postern's read-only pass changed the Maildir:\n{}",
        tree_diff(&before, &after)
    );

    // Back to Courier (switching back during a migration): all as it was.
    let mut c = courier.imap(&md);
    assert_eq!(c.view("INBOX.Work"), courier_work, "Courier after postern");
    assert_eq!(c.view("INBOX"), courier_inbox, "Courier after postern");
    c.ok("EXAMINE INBOX.Work");
    let c_work_contents = c.contents();
    c.logout();
    assert!(
        p_work_contents == c_work_contents,
        "Courier's APPENDs served differently:\n{}",
        contents_diff("postern", &p_work_contents, "Courier", &c_work_contents)
    );
}

// ---------------------------------------------------------------------------------------
// 2. postern first, Courier after.

#[test]
fn postern_first_then_courier_shows_the_same() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(true);
    let md = acct.maildir();
    acct.deliver(None, &message("d1", "delivered one"));
    acct.deliver(None, &message("d2", "delivered two"));

    let mut p = acct.imap();
    p.ok("CREATE INBOX.Projects");
    p.ok("CREATE INBOX.Old");
    p.append("INBOX.Projects", "\\Seen Custom1", &message("p1", "a"));
    p.append("INBOX.Projects", "", &message("p2", "b"));
    p.append("INBOX.Projects", "\\Answered", &message("p3", "c"));
    p.append("INBOX.Old", "\\Seen", &message("o1", "old"));
    p.ok("SUBSCRIBE INBOX.Projects");
    p.ok("SUBSCRIBE INBOX.Old");
    p.ok("RENAME INBOX.Old INBOX.Archive");
    p.ok("SELECT INBOX.Projects");
    p.ok("STORE 2 +FLAGS (\\Flagged $Label2 Custom1)");
    p.ok("STORE 3 +FLAGS (\\Deleted)");
    p.ok("EXPUNGE");
    p.ok("STORE 1 +FLAGS (OnlyHere)");
    p.ok("STORE 1 -FLAGS (OnlyHere)");
    p.ok("SELECT INBOX");
    p.ok("STORE 1 +FLAGS (\\Seen $Junk)");
    p.ok("CLOSE");
    let postern_projects = p.view("INBOX.Projects");
    let postern_inbox = p.view("INBOX");
    let postern_archive = p.view("INBOX.Archive");
    let p_lsub = names(&p.ok("LSUB \"\" \"*\""), "LSUB");
    let p_list = names(&p.ok("LIST \"\" \"*\""), "LIST");
    p.logout();
    assert_eq!(
        postern_projects.flags,
        BTreeMap::from([
            (1, flags(&["\\Seen", "Custom1"])),
            (2, flags(&["\\Flagged", "$Label2", "Custom1"])),
        ]),
        "postern's own flags (test premise)"
    );
    eprintln!(
        "postern's files:\n{}",
        tree_diff(&BTreeMap::new(), &tree(&md))
    );

    // Courier reads what postern left.
    let mut c = courier.imap(&md);
    let courier_projects = c.view("INBOX.Projects");
    let courier_inbox = c.view("INBOX");
    let courier_archive = c.view("INBOX.Archive");
    let c_lsub = names(&c.ok("LSUB \"\" \"*\""), "LSUB");
    let c_list = names(&c.ok("LIST \"\" \"*\""), "LIST");
    assert_eq!(
        courier_projects, postern_projects,
        "INBOX.Projects: Courier vs postern"
    );
    assert_eq!(courier_inbox, postern_inbox, "INBOX: Courier vs postern");
    assert_eq!(
        courier_archive, postern_archive,
        "INBOX.Archive: Courier vs postern"
    );
    // RENAME leaves subscriptions alone in both servers (RFC 3501 6.3.6 does not ask for
    // more; Courier 5.0.13 keeps "INBOX.Old" subscribed, checked by hand). Courier's LSUB
    // "*" also shows the parent "INBOX" as \Noselect: not a subscription, left out here.
    let mut c_lsub_real = c_lsub.clone();
    c_lsub_real.remove("INBOX");
    assert_eq!(
        c_lsub_real,
        BTreeSet::from(["INBOX.Old", "INBOX.Projects"].map(String::from)),
        "Courier's LSUB of postern's subscriptions"
    );
    assert_eq!(p_lsub, c_lsub_real, "LSUB: postern vs Courier");
    assert_eq!(
        c_list,
        BTreeSet::from(["INBOX", "INBOX.Archive", "INBOX.Projects"].map(String::from)),
        "Courier's LIST"
    );
    assert_eq!(p_list, c_list, "LIST: postern vs Courier");

    // Courier goes on: its next UID is postern's UIDNEXT; postern then sees it.
    let uid = c.append(
        "INBOX.Projects",
        "\\Flagged",
        &message("c1", "from courier"),
    );
    assert_eq!(
        uid, postern_projects.uidnext,
        "Courier's APPENDUID after postern"
    );
    c.ok("SELECT INBOX");
    c.ok("STORE 2 +FLAGS (CourierKw)");
    c.logout();
    let mut p = acct.imap();
    let again = p.view("INBOX.Projects");
    let mut expect = postern_projects.flags.clone();
    expect.insert(uid as u32, flags(&["\\Flagged"]));
    assert_eq!(again.uidvalidity, postern_projects.uidvalidity);
    assert_eq!(again.flags, expect, "postern after Courier's APPEND");
    assert_eq!(
        again.uidnext,
        uid + 1,
        "postern's UIDNEXT after Courier's APPEND"
    );
    let uid2 = p.append("INBOX.Projects", "", &message("p4", "after courier"));
    assert_eq!(
        uid2,
        uid + 1,
        "postern's APPENDUID after Courier's (no UID reused)"
    );
    let inbox = p.view("INBOX");
    let mut expect = postern_inbox.flags.clone();
    expect.get_mut(&2).unwrap().insert("CourierKw".into());
    assert_eq!(inbox.flags, expect, "postern sees Courier's keyword");
    p.logout();
}

// ---------------------------------------------------------------------------------------
// 3. POP3 UIDLs.

fn pop3_fixture() -> Account {
    let acct = Account::new(false);
    acct.drop_new("1700000000.M1P1.mx.example", &message("m1", "one"));
    let m = message("m2", "two\r\nlines");
    acct.drop_new(&format!("1700000001.M2P2.mx.example,S={}", m.len()), &m);
    let cur = acct.maildir().join("cur/1700000002.M3P3.mx.example:2,S");
    std::fs::write(cur, message("m3", "seen already")).unwrap();
    acct
}

#[test]
fn pop3_courier_first_then_postern_same_uidls() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = pop3_fixture();
    let md = acct.maildir();
    let (c_uidl, c_list) = pop3_listing(courier.pop3(&md));
    assert_eq!(c_uidl.len(), 3, "Courier UIDL {c_uidl:?}");
    assert!(c_uidl[0].starts_with("1 UID1-"), "Courier UIDL {c_uidl:?}");
    let before = tree(&md);
    assert!(before.contains_key("courierpop3dsizelist"));

    let (p_uidl, p_list) = pop3_listing(acct.pop3());
    assert_eq!(p_uidl, c_uidl, "UIDL: postern vs Courier");
    assert_eq!(p_list, c_list, "LIST: postern vs Courier");
    assert_untouched(
        &before,
        &tree(&md),
        "postern's POP3 pass (UIDL, LIST, QUIT)",
    );

    // A new message: postern numbers it first, Courier must agree.
    acct.drop_new("1700000003.M4P4.mx.example", &message("m4", "four"));
    let (p_uidl, _) = pop3_listing(acct.pop3());
    assert_eq!(p_uidl.len(), 4);
    assert_eq!(p_uidl[..3], c_uidl[..], "old UIDLs kept by postern");
    let (c_uidl2, _) = pop3_listing(courier.pop3(&md));
    assert_eq!(
        c_uidl2, p_uidl,
        "UIDL: Courier after postern numbered a new message"
    );
}

#[test]
fn pop3_postern_first_then_courier_same_uidls() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = pop3_fixture();
    let md = acct.maildir();
    let (p_uidl, p_list) = pop3_listing(acct.pop3());
    assert_eq!(p_uidl.len(), 3, "postern UIDL {p_uidl:?}");
    let list = tree(&md);
    eprintln!(
        "postern's courierpop3dsizelist:\n{}",
        String::from_utf8_lossy(
            list.get("courierpop3dsizelist")
                .map(Vec::as_slice)
                .unwrap_or(b"<none>")
        )
    );
    let (c_uidl, c_list) = pop3_listing(courier.pop3(&md));
    assert_eq!(c_uidl, p_uidl, "UIDL: Courier vs postern");
    assert_eq!(c_list, p_list, "LIST: Courier vs postern");

    // Courier numbers a new message; postern must agree and keep the old ones.
    acct.drop_new("1700000003.M4P4.mx.example", &message("m4", "four"));
    let (c_uidl2, _) = pop3_listing(courier.pop3(&md));
    assert_eq!(c_uidl2.len(), 4);
    assert_eq!(c_uidl2[..3], p_uidl[..], "old UIDLs kept by Courier");
    let (p_uidl2, _) = pop3_listing(acct.pop3());
    assert_eq!(
        p_uidl2, c_uidl2,
        "UIDL: postern after Courier numbered a new message"
    );
}

// ---------------------------------------------------------------------------------------
// 4. IMAP and POP3 mixed: Courier's IMAP UIDs after postern's POP3, and the reverse.

#[test]
fn courier_and_postern_alternate_on_one_inbox() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(false);
    let md = acct.maildir();
    // new/ messages scanned first by postern's IMAP, then by Courier's, alternately.
    acct.drop_new("1700000000.M1P1.mx.example", &message("a1", "x"));
    let mut p = acct.imap();
    let v1 = p.view("INBOX");
    p.logout();
    acct.drop_new("1700000001.M2P2.mx.example", &message("a2", "y"));
    let mut c = courier.imap(&md);
    let v2 = c.view("INBOX");
    c.ok("STORE 2 +FLAGS (\\Seen Kw2)");
    c.logout();
    assert_eq!(
        v2.uidvalidity, v1.uidvalidity,
        "Courier keeps postern's UIDVALIDITY"
    );
    assert_eq!(v2.flags.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    acct.drop_new("1700000002.M3P3.mx.example", &message("a3", "z"));
    let mut p = acct.imap();
    let v3 = p.view("INBOX");
    p.ok("STORE 3 +FLAGS (Kw3)");
    p.logout();
    assert_eq!(v3.uidvalidity, v1.uidvalidity);
    assert_eq!(
        v3.flags,
        BTreeMap::from([
            (1, flags(&[])),
            (2, flags(&["\\Seen", "Kw2"])),
            (3, flags(&[])),
        ]),
        "postern after Courier"
    );
    let mut c = courier.imap(&md);
    let v4 = c.view("INBOX");
    c.logout();
    assert_eq!(v4.uidvalidity, v1.uidvalidity);
    assert_eq!(v4.uidnext, 4);
    assert_eq!(
        v4.flags,
        BTreeMap::from([
            (1, flags(&[])),
            (2, flags(&["\\Seen", "Kw2"])),
            (3, flags(&["Kw3"])),
        ]),
        "Courier after postern"
    );
}

/// Courier changes flags and keywords of a message while a postern session has it
/// selected with the old state; postern's later STORE applies its own change to what
/// Courier left, so neither change is lost (issue 12 item 1). Courier renames without a
/// lock and writes whole keyword sets, so only this direction is postern's to keep.
#[test]
fn postern_store_keeps_courier_changes_made_meanwhile() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(false);
    let md = acct.maildir();
    acct.drop_new("1700000000.M1P1.mx.example", &message("m1", "x"));
    let mut p = acct.imap();
    p.view("INBOX");
    let mut c = courier.imap(&md);
    c.view("INBOX");
    c.ok("STORE 1 +FLAGS (\\Flagged CourierKw)");
    c.logout();
    p.ok("STORE 1 +FLAGS (\\Seen PosternKw)");
    let v = p.view("INBOX");
    p.logout();
    let all = flags(&["\\Flagged", "\\Seen", "CourierKw", "PosternKw"]);
    assert_eq!(v.flags[&1], all, "postern");
    let mut c = courier.imap(&md);
    let v = c.view("INBOX");
    c.logout();
    assert_eq!(v.flags[&1], all, "Courier");
}

// ---------------------------------------------------------------------------------------
// 5. Message bytes: what a client reads through Courier from messages postern stored, and
// the other way round.

/// Courier stores an APPENDed message with bare LF line ends (the Maildir convention; its
/// `S=` is the LF size) and adds a CR to every LF when it serves a message, also when the
/// file already has CRLF. postern must store APPENDed messages the same way, or Courier
/// serves them with "\r\r\n" line ends and RFC822.SIZEs that are too big.
#[test]
fn appended_messages_read_the_same_through_both_servers() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(true);
    let md = acct.maildir();
    // An MTA hands `deliver` LF text (Courier's deliverquota, like postern's deliver,
    // stores the bytes it gets).
    acct.deliver(None, b"From: mta@example.org\nSubject: lf\n\nby the MTA\n");
    let mut c = courier.imap(&md);
    c.append("INBOX", "\\Seen", &message("c1", "stored by Courier"));
    c.logout();
    let mut p = acct.imap();
    p.append("INBOX", "\\Seen", &message("p1", "stored by postern"));
    p.ok("EXAMINE INBOX");
    let p_contents = p.contents();
    p.logout();
    let mut c = courier.imap(&md);
    c.ok("EXAMINE INBOX");
    let c_contents = c.contents();
    c.logout();
    // postern shows every message as RFC 5322 text with CRLF.
    for (uid, (size, body)) in &p_contents {
        assert_eq!(
            *size as usize,
            body.len(),
            "postern RFC822.SIZE of UID {uid}"
        );
        assert!(
            !body.windows(2).any(|w| w == b"\r\r"),
            "postern BODY[] of UID {uid}"
        );
    }
    // The file in cur/ that holds `needle`.
    let stored = |needle: &str| {
        std::fs::read_dir(md.join("cur"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .find(|(_, bytes)| String::from_utf8_lossy(bytes).contains(needle))
            .unwrap()
    };
    let (c_name, c_bytes) = stored("stored by Courier");
    assert!(!c_bytes.contains(&b'\r'), "Courier stores LF: {c_name}");
    let diff = contents_diff("postern", &p_contents, "Courier", &c_contents);
    let (p_name, p_bytes) = stored("stored by postern");
    assert!(
        diff.is_empty(),
        "the same Maildir read through postern and through Courier differs:\n{diff}\
         postern's APPEND stored {p_name} with CRLF line ends ({} CRs in {} bytes); \
         Courier's APPEND stored {c_name} with LF only",
        p_bytes.iter().filter(|&&b| b == b'\r').count(),
        p_bytes.len()
    );
}

// ---------------------------------------------------------------------------------------
// 6. Quota: `maildirsize` kept by both servers.

/// The `(STORAGE used limit MESSAGE used limit)` numbers of GETQUOTAROOT INBOX; the root's
/// name is left out (both servers call it "ROOT").
fn quota_numbers(s: &mut Imap) -> Vec<u64> {
    let r = s.ok("GETQUOTAROOT INBOX");
    let q = r
        .untagged
        .iter()
        .find(|l| l.text.starts_with("* QUOTA "))
        .map(|l| l.text.clone())
        .unwrap_or_else(|| panic!("no QUOTA; {}", s.session()));
    let items = &q[q.rfind('(').unwrap() + 1..];
    items
        .trim_end_matches(')')
        .split(' ')
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn maildirsize_is_kept_by_both_servers() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(false);
    let md = acct.maildir();
    std::fs::write(md.join("maildirsize"), "1000000S,100C\n").unwrap();
    let mut c = courier.imap(&md);
    c.append("INBOX", "", &message("q1", "one"));
    c.append("INBOX", "", &message("q2", "two"));
    c.logout();
    let mut p = acct.imap();
    p.append("INBOX", "", &message("q3", "three"));
    p.ok("SELECT INBOX");
    p.ok("STORE 1 +FLAGS (\\Deleted)");
    p.ok("EXPUNGE");
    let p_quota = quota_numbers(&mut p);
    p.logout();
    let text = std::fs::read_to_string(md.join("maildirsize")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1000000S,100C"), "maildirsize:\n{text}");
    let (mut bytes, mut count) = (0i64, 0i64);
    for l in lines {
        let mut w = l.split_whitespace();
        bytes += w.next().unwrap().parse::<i64>().unwrap();
        count += w.next().unwrap().parse::<i64>().unwrap();
    }
    let on_disk: i64 = std::fs::read_dir(md.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len() as i64)
        .sum();
    assert_eq!((bytes, count), (on_disk, 2), "maildirsize sums:\n{text}");
    let mut c = courier.imap(&md);
    let c_quota = quota_numbers(&mut c);
    c.logout();
    let text = format!(
        "after postern:\n{text}after Courier:\n{}",
        std::fs::read_to_string(md.join("maildirsize")).unwrap()
    );
    assert_eq!(
        p_quota, c_quota,
        "GETQUOTAROOT INBOX numbers (STORAGE used limit MESSAGE used limit): postern vs \
         Courier; maildirsize:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------
// 6. Courier writes while a postern session has INBOX open through postern-index.

/// Whether postern-index of the folder in `dir` is valid for the folder as it is now (the
/// times of new/, cur/, courierimapkeywords/ and the UID database's size and time equal
/// what it was saved for, see src/store/index.rs): then an open takes its list as it is.
/// `None` without a readable index.
fn index_exact(dir: &Path) -> Option<bool> {
    postern::store::mailbox::index_is_current(dir)
}

impl Courier {
    /// `deliverquota.courier Maildir < msg`: Courier's delivery agent.
    fn deliver(&self, maildir: &Path, msg: &[u8]) {
        owner::give_to_mail_owner(maildir);
        let mut child = self
            .base(self.root.join("usr/bin/deliverquota.courier"))
            .arg(maildir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(msg).unwrap();
        assert!(child.wait().unwrap().success(), "deliverquota.courier");
    }

    /// `maildirkw -a Maildir message keyword`: adds a keyword outside any IMAP session.
    fn add_keyword(&self, maildir: &Path, basename: &str, keyword: &str) {
        owner::give_to_mail_owner(maildir);
        let st = self
            .base(self.root.join("usr/bin/maildirkw"))
            .arg("-a")
            .arg(maildir)
            .arg(basename)
            .arg(keyword)
            .status()
            .unwrap();
        assert!(st.success(), "maildirkw");
    }
}

/// The untagged EXPUNGE sequence numbers, the last EXISTS, and FETCH FLAGS (sequence
/// number → flags without \Recent) of a reply.
fn unsolicited(r: &Reply) -> (Vec<u32>, Option<u32>, BTreeMap<u32, BTreeSet<String>>) {
    let (mut expunged, mut exists, mut fetched) = (Vec::new(), None, BTreeMap::new());
    for l in &r.untagged {
        let w: Vec<&str> = l.text.splitn(4, ' ').collect();
        match w.get(2).copied() {
            Some("EXPUNGE") => expunged.push(w[1].parse().unwrap()),
            Some("EXISTS") => exists = Some(w[1].parse().unwrap()),
            Some("FETCH") => {
                let flags = l
                    .text
                    .split("FLAGS (")
                    .nth(1)
                    .and_then(|s| s.split(')').next())
                    .unwrap_or_else(|| panic!("no FLAGS in {:?}", l.text));
                let set = flags
                    .split(' ')
                    .filter(|f| !f.is_empty() && !f.eq_ignore_ascii_case("\\Recent"))
                    .map(str::to_string)
                    .collect();
                fetched.insert(w[1].parse().unwrap(), set);
            }
            _ => {}
        }
    }
    (expunged, exists, fetched)
}

/// UID → Subject of the selected mailbox, as a server reads its messages.
fn subjects(s: &mut Imap) -> BTreeMap<u32, String> {
    s.contents()
        .into_iter()
        .map(|(uid, (_, body))| {
            let text = String::from_utf8_lossy(&body).into_owned();
            let subject = text
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .trim()
                .to_string();
            (uid, subject)
        })
        .collect()
}

/// A UID, once seen with a message, keeps it: no change, no reuse.
#[track_caller]
fn same_history(history: &mut BTreeMap<u32, String>, seen: &BTreeMap<u32, String>, who: &str) {
    for (uid, subject) in seen {
        let was = history.entry(*uid).or_insert_with(|| subject.clone());
        assert_eq!(was, subject, "{who}: UID {uid} now shows another message");
    }
}

/// Lets the folder settle and opens it with postern until an open saved postern-index for
/// it (the first open after a keyword change folds Courier's keyword updates, which moves
/// courierimapkeywords/'s time, so it saves none).
#[track_caller]
fn settle_index(acct: &Account) {
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let mut p = acct.imap();
        p.ok("SELECT INBOX");
        p.logout();
        if index_exact(&acct.maildir()) == Some(true) {
            return;
        }
    }
    panic!("no postern-index saved for the settled folder");
}

/// A postern session has INBOX of a settled folder selected through postern-index while
/// Courier's imapd appends, changes flags and keywords and expunges, Courier's
/// deliverquota delivers and its maildirkw adds a keyword. postern's NOOP reports exactly
/// those changes; a new postern session, which finds the index stale, shows what Courier
/// shows; then postern changes things while Courier has the folder selected, and
/// Courier's NOOP and a new Courier session show them. No UID ever names another message.
#[test]
fn courier_writes_while_postern_has_the_index_open() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(false);
    let md = acct.maildir();
    for n in 1..=6 {
        acct.drop_new(
            &format!("170000000{n}.M{n}P{n}.mx.example"),
            &message(&format!("m{n}"), "x"),
        );
    }
    // UIDs 1-6 and a keyword, then an index for the settled folder.
    let mut p = acct.imap();
    p.view("INBOX");
    p.ok("UID STORE 3 +FLAGS (\\Seen PKw)");
    p.logout();
    settle_index(&acct);

    let mut history = BTreeMap::new();
    let mut p = acct.imap();
    let before = p.view("INBOX");
    assert_eq!(index_exact(&md), Some(true), "SELECT changed the folder");
    same_history(&mut history, &subjects(&mut p), "postern");
    let mut c = courier.imap(&md);
    let cv0 = c.view("INBOX");
    assert_eq!(
        (cv0.uidvalidity, &cv0.flags),
        (before.uidvalidity, &before.flags),
        "Courier before its changes"
    );
    let appended = c.append("INBOX", "\\Seen CKw1", &message("c-append", "y"));
    assert_eq!(appended, 7);
    courier.deliver(&md, &message("c-deliver-1", "z"));
    c.ok("NOOP");
    c.ok("UID STORE 1 +FLAGS (\\Flagged CKw2)");
    c.ok("UID STORE 3 -FLAGS (\\Seen PKw)");
    c.ok("UID STORE 2 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    courier.add_keyword(&md, "1700000004.M4P4.mx.example", "CKw3");
    let cv1 = c.view("INBOX");
    same_history(&mut history, &subjects(&mut c), "Courier");
    c.logout();
    // Delivered after Courier looked: postern gives it its UID.
    courier.deliver(&md, &message("c-deliver-2", "w"));
    assert_eq!(
        cv1.flags.keys().copied().collect::<Vec<_>>(),
        [1, 3, 4, 5, 6, 7, 8],
        "Courier's UIDs"
    );

    let noop = p.ok("NOOP");
    let (expunged, exists, fetched) = unsolicited(&noop);
    let report = || format!("postern's NOOP:\n{}", p.session());
    assert_eq!(expunged, [2], "EXPUNGE; {}", report());
    assert_eq!(exists, Some(8), "EXISTS; {}", report());
    // Sequence numbers after the expunge: UID 1 → 1, 3 → 2, 4 → 3.
    let want = BTreeMap::from([
        (1, flags(&["\\Flagged", "CKw2"])),
        (2, flags(&[])),
        (3, flags(&["CKw3"])),
    ]);
    assert_eq!(fetched, want, "FETCH FLAGS; {}", report());
    let fetch = p.ok("UID FETCH 1:* (UID FLAGS)");
    let mut want_all = cv1.flags.clone();
    want_all.insert(9, flags(&[]));
    assert_eq!(fetch_flags(&fetch), want_all, "postern after NOOP");
    same_history(&mut history, &subjects(&mut p), "postern after NOOP");

    // A new postern session finds the index stale and must show what Courier shows.
    assert_eq!(
        index_exact(&md),
        Some(false),
        "the index should be stale now"
    );
    let mut p2 = acct.imap();
    let pv = p2.view("INBOX");
    let mut c2 = courier.imap(&md);
    let cv2 = c2.view("INBOX");
    assert_eq!(pv, cv2, "a new postern session and Courier");
    assert_eq!(pv.flags, want_all);
    same_history(&mut history, &subjects(&mut p2), "new postern session");
    same_history(&mut history, &subjects(&mut c2), "Courier");
    p2.logout();

    // postern changes things while Courier has INBOX selected.
    p.ok("UID STORE 1 -FLAGS (\\Flagged)");
    p.ok("UID STORE 7 +FLAGS (PKw2)");
    let p_appended = p.append("INBOX", "\\Draft", &message("p-append", "v"));
    assert_eq!(p_appended, 10);
    p.ok("UID STORE 5 +FLAGS (\\Deleted)");
    p.ok("EXPUNGE");
    p.logout();
    let mut want = want_all.clone();
    want.insert(1, flags(&["CKw2"]));
    want.insert(7, flags(&["\\Seen", "CKw1", "PKw2"]));
    want.insert(10, flags(&["\\Draft"]));
    want.remove(&5);
    let cnoop = c2.ok("NOOP");
    eprintln!(
        "Courier's NOOP after postern's changes:\n{}",
        cnoop
            .untagged
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let live = c2.ok("UID FETCH 1:* (UID FLAGS)");
    assert_eq!(fetch_flags(&live), want, "Courier's session after its NOOP");
    same_history(&mut history, &subjects(&mut c2), "Courier after NOOP");
    let cv3 = c2.view("INBOX");
    c2.logout();
    assert_eq!(
        (cv3.uidnext, &cv3.flags),
        (11, &want),
        "Courier after postern"
    );
    let mut p3 = acct.imap();
    let pv3 = p3.view("INBOX");
    same_history(&mut history, &subjects(&mut p3), "postern at the end");
    p3.logout();
    assert_eq!(pv3, cv3, "postern and Courier at the end");
}

/// One Courier change at a time to a folder whose postern-index is exactly valid, each
/// followed by a new postern session (which takes the index as a starting point: only
/// new/ is listed when only a delivery happened) and a new Courier session: both show the
/// same UIDs, flags and keywords, and no UID ever names another message.
#[test]
fn each_courier_change_to_an_indexed_folder() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let acct = Account::new(false);
    let md = acct.maildir();
    for n in 1..=4 {
        acct.drop_new(
            &format!("170000000{n}.M{n}P{n}.mx.example"),
            &message(&format!("m{n}"), "x"),
        );
    }
    let mut history = BTreeMap::new();
    let steps: [(&str, &dyn Fn()); 7] = [
        ("deliverquota", &|| {
            courier.deliver(&md, &message("d1", "y"))
        }),
        ("maildirkw", &|| {
            courier.add_keyword(&md, "1700000002.M2P2.mx.example", "ToolKw")
        }),
        ("imapd STORE", &|| {
            let mut c = courier.imap(&md);
            c.ok("SELECT INBOX");
            c.ok("UID STORE 1 +FLAGS (\\Answered ImapKw)");
            c.logout();
        }),
        ("imapd APPEND", &|| {
            let mut c = courier.imap(&md);
            c.append("INBOX", "\\Flagged", &message("c-append", "z"));
            c.logout();
        }),
        ("imapd EXPUNGE", &|| {
            let mut c = courier.imap(&md);
            c.ok("SELECT INBOX");
            c.ok("UID STORE 3 +FLAGS (\\Deleted)");
            c.ok("EXPUNGE");
            c.logout();
        }),
        ("imapd APPEND and EXPUNGE of the newest", &|| {
            let mut c = courier.imap(&md);
            c.append("INBOX", "\\Deleted", &message("c-gone", "u"));
            c.ok("SELECT INBOX");
            c.ok("EXPUNGE");
            c.logout();
        }),
        ("deliverquota twice", &|| {
            courier.deliver(&md, &message("d2", "v"));
            courier.deliver(&md, &message("d3", "w"));
        }),
    ];
    for (what, change) in steps {
        settle_index(&acct);
        change();
        let mut p = acct.imap();
        let pv = p.view("INBOX");
        same_history(&mut history, &subjects(&mut p), what);
        p.logout();
        let mut c = courier.imap(&md);
        let cv = c.view("INBOX");
        same_history(&mut history, &subjects(&mut c), what);
        c.logout();
        assert_eq!(pv, cv, "after Courier's {what}: postern and Courier");
    }
    let mut p = acct.imap();
    let v = p.view("INBOX");
    p.logout();
    assert_eq!(
        v.flags,
        BTreeMap::from([
            (1, flags(&["\\Answered", "ImapKw"])),
            (2, flags(&["ToolKw"])),
            (4, flags(&[])),
            (5, flags(&[])),
            (6, flags(&["\\Flagged"])),
            (8, flags(&[])),
            (9, flags(&[])),
        ])
    );
    assert_eq!(v.uidnext, 10);
}
