//! The real Courier-IMAP 5.0.13 of Debian 12 as a test oracle: where its unpacked
//! packages are (`tests/courier/fetch-courier.sh`, `$POSTERN_COURIER_DIR`), skipping
//! loudly without them, and the command lines of its `imapd` (PREAUTH on stdin/stdout)
//! as the tests run it. Shared by the differential tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::skip::skip;
use crate::common::{USER, owner};

/// The unpacked Debian packages.
pub struct Courier {
    pub root: PathBuf,
}

impl Courier {
    /// The unpacked tree when it is there and its `imapd` runs; `None` after a `SKIP:` line.
    pub fn find() -> Option<Courier> {
        let dir = std::env::var_os("POSTERN_COURIER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-courier"));
        let root = dir.join("root");
        let c = Courier { root };
        for bin in [c.imapd(), c.pop3d()] {
            if !bin.is_file() {
                skip(&format!(
                    "{} is missing; run tests/courier/fetch-courier.sh (Debian 12 apt) \
                         or set POSTERN_COURIER_DIR",
                    bin.display()
                ));
                return None;
            }
        }
        // The binaries must load here (wrong distribution or architecture: they do not).
        let probe = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(probe.path());
        let md = probe.path().join("Maildir");
        maildir_dirs(&md);
        let out = c
            .imapd_command(&md)
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
                    "Courier's imapd does not run here: status {}, stdout {:?}, stderr {:?}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
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

    pub fn imapd(&self) -> PathBuf {
        self.root.join("usr/bin/imapd")
    }

    pub fn pop3d(&self) -> PathBuf {
        self.root.join("usr/lib/courier/courier/courierpop3d")
    }

    /// As root, Courier runs as the mail owner like postern (its imapd refuses a Maildir
    /// that is not its own).
    pub fn base(&self, bin: PathBuf) -> Command {
        let mut c = Command::new(bin);
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
            .env("TCPREMOTEPORT", "1");
        c
    }

    /// `imapd Maildir`: a PREAUTH session of the fixture's user on stdin/stdout.
    pub fn imapd_command(&self, maildir: &Path) -> Command {
        self.imapd_as(maildir, USER, "/nonexistent/courier/shared/index")
    }

    /// `imapd Maildir` for the login `user`, with `index` as its shared index
    /// (IMAP_SHAREDINDEXFILE).
    pub fn imapd_as(&self, maildir: &Path, user: &str, index: &str) -> Command {
        owner::give_to_mail_owner(maildir);
        let mut c = self.base(self.imapd());
        c.env("AUTHENTICATED", user);
        c.env(
            "IMAP_CAPABILITY",
            "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE",
        )
        .env("IMAP_KEYWORDS", "1")
        .env("IMAP_ACL", "1")
        .env("IMAP_USELOCKS", "0")
        .env("IMAP_ENHANCEDIDLE", "0")
        .env("IMAP_SHAREDINDEXFILE", index)
        .env("IMAP_TRASHFOLDERNAME", "Trash")
        .arg(maildir);
        c
    }
}

/// An empty Maildir's cur/ new/ tmp/.
pub fn maildir_dirs(md: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
}
