//! Shared folders between real system users with different uids (root only): `useradd`
//! two users and a group, log both in through PAM (`pam_unix`), and share one folder
//! of A's with B through its ACL and the group's file modes — the setup README's
//! "Shared folders" section documents. A grants B `lr`: B lists and reads, cannot STORE,
//! EXPUNGE or APPEND (`NO [NOPERM]`); A revokes, B loses LIST visibility. Files postern
//! writes in the shared folder stay group-readable and -writable, never world-writable.
//! Users, group and PAM file are removed afterwards, also when a test fails.

mod common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::skip::have;
use common::{BIN, Client, postern_command};

const PASSWORD: &str = "Sh4red-f0lders";

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

/// Two users, their group, the PAM service and the settings; removed on drop.
struct Pair {
    users: Vec<String>,
    group: String,
    service: String,
    dir: tempfile::TempDir,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for u in &self.users {
            common::owner::remove_user(u);
        }
        let _ = Command::new("groupdel")
            .arg(&self.group)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(Path::new("/etc/pam.d").join(&self.service));
    }
}

impl Pair {
    fn create() -> Option<Pair> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: system-user sharing tests need root (CI runs them as root)");
            return None;
        }
        for tool in ["useradd", "userdel", "groupadd", "groupdel", "chpasswd"] {
            if !have(tool) {
                eprintln!("SKIP: {tool} is not installed (Debian package passwd)");
                return None;
            }
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let unique = format!("{}{n}", std::process::id() % 10000);
        let mut pair = Pair {
            users: Vec::new(),
            group: format!("psh{unique}"),
            service: format!("postern-test-share{unique}"),
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(
            Path::new("/etc/pam.d").join(&pair.service),
            "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
        )
        .unwrap();
        run("groupadd", &[&pair.group]);
        for tag in ["a", "b"] {
            let name = format!("psh{tag}{unique}");
            pair.users.push(name.clone());
            run(
                "useradd",
                &["-m", "-s", "/bin/sh", "-G", &pair.group, &name],
            );
            let mut chpasswd = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            writeln!(chpasswd.stdin.take().unwrap(), "{name}:{PASSWORD}").unwrap();
            assert!(chpasswd.wait().unwrap().success());
            let maildir = pair.home(&name).join("Maildir");
            run(BIN, &["maildirmake", maildir.to_str().unwrap()]);
            run(
                "chown",
                &["-R", &format!("{name}:"), maildir.to_str().unwrap()],
            );
        }
        pair.write_settings();
        Some(pair)
    }

    fn home(&self, user: &str) -> PathBuf {
        nix::unistd::User::from_name(user).unwrap().unwrap().dir
    }

    fn ids(&self, user: &str) -> (u32, u32) {
        let u = nix::unistd::User::from_name(user).unwrap().unwrap();
        (u.uid.as_raw(), u.gid.as_raw())
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("postern.toml")
    }

    fn write_settings(&self) {
        let index = self.dir.path().join("index");
        let mut text = String::new();
        for u in &self.users {
            let (uid, gid) = self.ids(u);
            text.push_str(&format!("{u}\t{uid}\t{gid}\t{}\n", self.home(u).display()));
        }
        std::fs::write(&index, text).unwrap();
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            self.config(),
            format!(
                "[auth]\nbackend = \"pam\"\npam_service_imap = \"{}\"\nfailed_login_delay = 0\n\n\
                 [mail]\nshared_index = {:?}\n",
                self.service,
                index.display().to_string()
            ),
        )
        .unwrap();
    }

    fn session(&self, user: &str) -> Client {
        let mut cmd = postern_command("imapd", &self.config());
        cmd.arg("--inetd");
        let mut c = Client::spawn(cmd, true);
        c.send("l", &format!("LOGIN {user} \"{PASSWORD}\""))
            .assert_ok();
        c
    }

    /// What README documents for sharing a folder with a group: A's home and Maildir
    /// traversable by the group, the folder (and what is in it) the group's, setgid.
    fn share_with_group(&self, owner: &str, folder_dir: &Path) {
        let home = self.home(owner);
        run("chmod", &["0711", home.to_str().unwrap()]);
        let maildir = home.join("Maildir");
        run("chgrp", &[&self.group, maildir.to_str().unwrap()]);
        run("chmod", &["2750", maildir.to_str().unwrap()]);
        run("chgrp", &["-R", &self.group, folder_dir.to_str().unwrap()]);
        run("chmod", &["-R", "g+rwX", folder_dir.to_str().unwrap()]);
        run(
            "find",
            &[
                folder_dir.to_str().unwrap(),
                "-type",
                "d",
                "-exec",
                "chmod",
                "g+s",
                "{}",
                "+",
            ],
        );
    }
}

/// Every file below `dir`: group-readable and -writable, never world-writable.
fn assert_group_shared(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        let mode = meta.mode();
        assert_eq!(
            mode & 0o002,
            0,
            "{} is world-writable",
            entry.path().display()
        );
        assert_eq!(
            mode & 0o060,
            0o060,
            "{} ({mode:o}) is not the group's",
            entry.path().display()
        );
        if meta.is_dir() {
            assert_group_shared(&entry.path());
        }
    }
}

#[test]
fn a_folder_shared_through_group_modes_and_its_acl() {
    let Some(pair) = Pair::create() else {
        return;
    };
    let (a, b) = (pair.users[0].clone(), pair.users[1].clone());
    let mut alice = pair.session(&a);
    alice.send("c", "CREATE INBOX.Team").assert_ok();
    alice
        .send("ap", "APPEND INBOX.Team {13+}\r\nSubject: hi\r\n")
        .assert_ok();
    let folder = pair.home(&a).join("Maildir/.Team");
    pair.share_with_group(&a, &folder);
    alice
        .send("acl", &format!("SETACL INBOX.Team {b} lr"))
        .assert_ok();

    let mut bob = pair.session(&b);
    let list = bob
        .send("ls", "LIST \"\" \"#shared.*\"")
        .assert_ok()
        .list_lines_quoted();
    let shared = format!("\"#shared.{a}.Team\"");
    assert!(list.iter().any(|l| l.ends_with(&shared)), "{list:?}");
    let sel = bob.send("s", &format!("SELECT #shared.{a}.Team"));
    sel.assert_ok();
    assert!(sel.has("* 1 EXISTS"), "{}", sel.dump());
    bob.send("f", "FETCH 1 BODY.PEEK[HEADER]").assert_ok();
    for (tag, cmd) in [
        ("st", "STORE 1 +FLAGS (\\Flagged)".to_string()),
        ("ex", "EXPUNGE".to_string()),
        ("ap", format!("APPEND #shared.{a}.Team {{5+}}\r\nhello")),
    ] {
        let r = bob.send(tag, &cmd);
        assert_eq!(r.code(), Some("NOPERM"), "{cmd}: {}", r.dump());
    }
    // A's session keeps working on the folder B opened; what either wrote stays the
    // group's (uid db, index, caches, messages).
    alice.send("s", "SELECT INBOX.Team").assert_ok();
    alice
        .send("ap2", "APPEND INBOX.Team {14+}\r\nSubject: two\r\n")
        .assert_ok();
    assert_group_shared(&folder);
    let (uid_a, _) = pair.ids(&a);
    for entry in std::fs::read_dir(folder.join("cur")).unwrap().flatten() {
        assert_eq!(entry.metadata().unwrap().uid(), uid_a, "{entry:?}");
    }

    // Revoked: B no longer lists it nor opens it.
    alice
        .send("d", &format!("DELETEACL INBOX.Team {b}"))
        .assert_ok();
    let list = bob
        .send("ls2", "LIST \"\" \"#shared.*\"")
        .assert_ok()
        .list_lines_quoted();
    assert!(list.is_empty(), "{list:?}");
    let r = bob.send("s2", &format!("SELECT #shared.{a}.Team"));
    assert_eq!(r.code(), Some("NOPERM"), "{}", r.dump());
}

#[test]
fn file_modes_alone_keep_an_unshared_maildir_closed() {
    let Some(pair) = Pair::create() else {
        return;
    };
    let (a, b) = (pair.users[0].clone(), pair.users[1].clone());
    let mut alice = pair.session(&a);
    alice.send("c", "CREATE INBOX.Team").assert_ok();
    // The ACL says yes, the file modes (Debian's 0700 home, 0700 Maildir) say no: the
    // folder stays invisible and cannot be opened.
    alice
        .send("acl", &format!("SETACL INBOX.Team {b} lr"))
        .assert_ok();
    let mut bob = pair.session(&b);
    let list = bob
        .send("ls", "LIST \"\" \"#shared.*\"")
        .assert_ok()
        .list_lines_quoted();
    assert!(list.is_empty(), "{list:?}");
    bob.send("s", &format!("SELECT #shared.{a}.Team"))
        .assert_status("NO");
}

/// Every file below `dir` (links not followed) whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        if meta.is_dir() {
            found.extend(files_holding(&entry.path(), needle));
        } else if meta.is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(entry.path());
            }
        }
    }
    found
}

/// The attack: A, who may write the folder A shares with B, puts a symbolic link where a
/// message goes, pointing at a file only B may read. B's session must not read it
/// through the link: not into its answers, and not into the folder's caches, which A
/// reads (envelope, search texts, sizes and dates in the index).
#[test]
fn a_link_planted_as_a_message_reads_nothing_of_the_reader() {
    let Some(pair) = Pair::create() else {
        return;
    };
    let (a, b) = (pair.users[0].clone(), pair.users[1].clone());
    let mut alice = pair.session(&a);
    alice.send("c", "CREATE INBOX.Team").assert_ok();
    alice
        .send(
            "ap",
            "APPEND INBOX.Team {22+}\r\nSubject: hi\r\n\r\nhello\r\n",
        )
        .assert_ok();
    let folder = pair.home(&a).join("Maildir/.Team");
    pair.share_with_group(&a, &folder);
    alice
        .send("acl", &format!("SETACL INBOX.Team {b} lrswite"))
        .assert_ok();
    alice.send("lo", "LOGOUT").assert_ok();

    let secret = format!("Private-{}", std::process::id());
    let private = pair.home(&b).join("private.eml");
    std::fs::write(
        &private,
        format!("Subject: {secret}\r\nFrom: {secret}@example.org\r\n\r\n{secret} body\r\n"),
    )
    .unwrap();
    let (uid_b, gid_b) = pair.ids(&b);
    std::os::unix::fs::chown(&private, Some(uid_b), Some(gid_b)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = folder.join("cur/1800000000.M1P1.planted:2,");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    let (uid_a, _) = pair.ids(&a);
    std::os::unix::fs::lchown(&link, Some(uid_a), None).unwrap();

    let mut bob = pair.session(&b);
    let sel = bob.send("s", &format!("SELECT #shared.{a}.Team"));
    sel.assert_ok();
    let mut answers = sel.dump();
    for (tag, cmd) in [
        ("e", "FETCH 1:* (ENVELOPE RFC822.SIZE INTERNALDATE)"),
        ("b", "FETCH 1:* BODY.PEEK[]"),
        ("p", "FETCH 1:* PREVIEW"),
        ("t", &*format!("UID SEARCH TEXT {secret}")),
        ("h", &*format!("UID SEARCH HEADER Subject {secret}")),
        ("c", "COPY 1:* INBOX"),
    ] {
        answers.push_str(&bob.send(tag, cmd).dump());
    }
    bob.send("lo", "LOGOUT").assert_ok();
    assert!(
        !answers.contains(&secret),
        "B's session read B's file through A's link: {answers}"
    );
    assert_eq!(
        files_holding(&folder, secret.as_bytes()),
        Vec::<PathBuf>::new(),
        "files A can read hold what the link pointed at"
    );
}
