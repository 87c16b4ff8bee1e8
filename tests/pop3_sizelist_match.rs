//! How a POP3 login matches `courierpop3dsizelist` to the maildrop (the list is read at
//! every login, so it is walked in step with the mailbox rather than hashed): an
//! unchanged maildrop, or one whose flags changed, leaves the file alone (same inode,
//! same mtime); a list out of the mailbox's order, with a basename listed twice or an
//! entry for a message that is gone, still gives every message the UIDL of the first
//! entry with its basename, as the list read into a map by name always did.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::owner;
use common::pop3::{self, Pop3};

const LIST: &str = "courierpop3dsizelist";

/// A temp dir with a user file, a config and alice's empty Maildir.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(dir.path());
        let home = dir.path().join("alice");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("users"),
            format!("alice:{{PLAIN}}secret::::{}::\n", home.display()),
        )
        .unwrap();
        let config = format!(
            "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}\n",
            dir.path().join("users").display(),
            owner::owner_settings()
        );
        std::fs::write(dir.path().join("postern.toml"), config).unwrap();
        Fixture { dir }
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("alice/Maildir")
    }

    fn start(&self) -> Pop3 {
        owner::give_to_mail_owner(&self.dir.path().join("alice"));
        pop3::inetd(&self.dir.path().join("postern.toml"))
    }

    /// A session: log in, the UIDL listing, then QUIT.
    fn uidls(&self) -> Vec<String> {
        let mut s = self.start();
        assert_eq!(s.cmd("USER alice"), "+OK Password required.");
        let ok = s.cmd("PASS secret");
        assert!(ok.starts_with("+OK "), "{ok}");
        assert_eq!(s.cmd("UIDL"), "+OK Unique ids follow.");
        let lines = s.lines();
        s.cmd("QUIT");
        s.finish();
        lines
    }

    fn list(&self) -> String {
        std::fs::read_to_string(self.maildir().join(LIST)).unwrap()
    }
}

/// A bare-LF message of exactly the size its `,S=` name would carry.
fn message(subject: &str) -> Vec<u8> {
    format!("From: a@example.org\nSubject: {subject}\n\nbody\n").into_bytes()
}

/// The POP3 size of a bare-LF message ending in LF: one CR more per line.
fn crlf_size(bytes: &[u8]) -> usize {
    bytes.len() + bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Inode and modification time (with nanoseconds) of the list.
fn identity(path: &Path) -> (u64, i64, i64) {
    let md = std::fs::metadata(path).unwrap();
    (md.ino(), md.mtime(), md.mtime_nsec())
}

#[test]
fn unchanged_or_only_reflagged_maildrop_leaves_the_list_alone() {
    let f = Fixture::new();
    let md = f.maildir();
    for i in 1..=5 {
        std::fs::write(
            md.join(format!("cur/170000000{i}.M{i}P{i}.test:2,")),
            message(&i.to_string()),
        )
        .unwrap();
    }
    let first = f.uidls();
    assert_eq!(first.len(), 5, "{first:?}");
    let written = f.list();
    let before = identity(&md.join(LIST));

    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(f.uidls(), first);
    assert_eq!(
        identity(&md.join(LIST)),
        before,
        "rewritten without a change"
    );

    // Another client flags a message: its file is renamed, the list still matches.
    std::fs::rename(
        md.join("cur/1700000003.M3P3.test:2,"),
        md.join("cur/1700000003.M3P3.test:2,FS"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(f.uidls(), first);
    assert_eq!(
        identity(&md.join(LIST)),
        before,
        "rewritten for a flag change"
    );
    assert_eq!(f.list(), written);
}

#[test]
fn list_out_of_order_with_a_duplicate_keeps_the_first_entry_of_each_name() {
    let f = Fixture::new();
    let md = f.maildir();
    let names = [
        "1700000001.M1P1.c",
        "1700000002.M2P2.c",
        "1700000003.M3P3.c",
    ];
    let bodies: Vec<Vec<u8>> = (1..=3).map(|i| message(&i.to_string())).collect();
    for (n, b) in names.iter().zip(&bodies) {
        std::fs::write(md.join(format!("cur/{n}:2,S")), b).unwrap();
    }
    let size = |i: usize| crlf_size(&bodies[i]);
    // As another writer may have left it: not in UID order, the second message listed
    // twice (the first entry is the one that counts, even though the second is the one
    // in step with the mailbox after the first message), nothing new and nothing gone.
    let list = format!(
        "/3 20 1555555555\n\
         {} {} 12:1555555555:0\n\
         {}:2, {} 11:1555555555:0\n\
         {}:2,S {} 19:1555555555:0\n\
         {}:2,S {} 13:1555555555:0\n",
        names[1],
        size(1),
        names[0],
        size(0),
        names[1],
        size(1),
        names[2],
        size(2),
    );
    std::fs::write(md.join(LIST), &list).unwrap();
    owner::give_to_mail_owner(&f.dir.path().join("alice"));
    let before = identity(&md.join(LIST));
    std::thread::sleep(Duration::from_millis(20));
    let want = [
        "1 UID11-1555555555",
        "2 UID12-1555555555",
        "3 UID13-1555555555",
    ];
    assert_eq!(f.uidls(), want);
    assert_eq!(
        identity(&md.join(LIST)),
        before,
        "rewritten without a change"
    );
    assert_eq!(f.list(), list);

    // The first message goes: the list is rewritten in the mailbox's order, the
    // duplicate dropped, and every UIDL stays.
    std::fs::remove_file(md.join(format!("cur/{}:2,S", names[0]))).unwrap();
    assert_eq!(f.uidls(), ["1 UID12-1555555555", "2 UID13-1555555555"]);
    assert_eq!(
        f.list(),
        format!(
            "/3 20 1555555555\n\
             {}:2,S {} 12:1555555555:0\n\
             {}:2,S {} 13:1555555555:0\n",
            names[1],
            size(1),
            names[2],
            size(2),
        )
    );
    assert_eq!(f.uidls(), ["1 UID12-1555555555", "2 UID13-1555555555"]);
}
