//! Dovecot 2.3 of Debian 12 as a test oracle (RFC semantics between clients): where its
//! unpacked packages are (`tests/dovecot/fetch-dovecot.sh`, `$POSTERN_DOVECOT_DIR`),
//! skipping loudly without them, and its `imap` as a PREAUTH session on pipes over a
//! Maildir of the test's. Shared by the differential tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::owner;
use crate::common::skip::skip;

pub struct Dovecot {
    pub root: PathBuf,
}

impl Dovecot {
    /// The unpacked tree when its `imap` runs here; `None` after a `SKIP:` line.
    pub fn find() -> Option<Dovecot> {
        let dir = std::env::var_os("POSTERN_DOVECOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-dovecot"));
        let d = Dovecot {
            root: dir.join("root"),
        };
        for f in [d.imap(), d.doveconf()] {
            if !f.is_file() {
                skip(&format!(
                    "{} is missing; run tests/dovecot/fetch-dovecot.sh (Debian 12 apt) or set \
                     POSTERN_DOVECOT_DIR",
                    f.display()
                ));
                return None;
            }
        }
        // The binaries must load and run here (wrong distribution or architecture: not).
        let probe = tempfile::tempdir().unwrap();
        let out = d
            .command(probe.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(b"a LOGOUT\r\n")?;
                child.wait_with_output()
            });
        match out {
            Ok(o) if String::from_utf8_lossy(&o.stdout).contains("* PREAUTH") => Some(d),
            Ok(o) => {
                skip(&format!(
                    "Dovecot's imap does not run here: status {}, stdout {:?}, stderr {:?}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ));
                None
            }
            Err(e) => {
                skip(&format!("cannot start Dovecot's imap: {e}"));
                None
            }
        }
    }

    pub fn imap(&self) -> PathBuf {
        self.root.join("usr/lib/dovecot/imap")
    }

    pub fn doveconf(&self) -> PathBuf {
        self.root.join("usr/bin/doveconf")
    }

    /// `doveconf -c CONF -e imap` in `home` (its Maildir, run directory, log and
    /// configuration are made there), as the mail owner when root.
    pub fn command(&self, home: &Path) -> Command {
        owner::open_to_mail_owner(home);
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        std::fs::create_dir_all(home.join("run")).unwrap();
        // Dovecot checks that its internal users exist; `nobody` does on every Debian.
        let conf = format!(
            "mail_location = maildir:{maildir}\n\
             base_dir = {home}/run\n\
             log_path = {home}/dovecot.log\n\
             ssl = no\n\
             protocols = imap\n\
             default_login_user = nobody\n\
             default_internal_user = nobody\n\
             default_internal_group = nogroup\n",
            maildir = maildir.display(),
            home = home.display()
        );
        let conf_path = home.join("dovecot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        owner::give_to_mail_owner(home);
        let mut c = Command::new(self.doveconf());
        if let Some((uid, gid)) = owner::mail_owner() {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env(
                "LD_LIBRARY_PATH",
                format!(
                    "{0}/usr/lib/dovecot:{0}/usr/lib/x86_64-linux-gnu",
                    self.root.display()
                ),
            )
            .env("USER", "alice")
            .env("HOME", home)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(self.imap());
        c
    }
}
