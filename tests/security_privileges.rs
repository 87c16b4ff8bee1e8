//! Attacks on the privilege drop, each reproduced against the real binary: a session must
//! never stay root nor take the identity of whatever a path points to; deliveries as root
//! become the mailbox owner before touching the Maildir and follow no planted link;
//! virtual accounts get exactly their gid as groups; a failure after the drop ends the
//! session. Most need root (CI is root) and say SKIP otherwise.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{BIN, give_to_mail_owner, mail_owner, open_to_mail_owner};

/// The virtual-mail owner the root tests configure, and a second non-root identity.
const VMAIL: u32 = 65534;
const OTHER: u32 = 65533;

fn root_only(test: &str) -> bool {
    if mail_owner().is_none() {
        eprintln!("SKIP: {test} needs root (a privilege drop to test)");
        return false;
    }
    true
}

/// A temporary site: a user file, settings, and homes made on request.
struct Site {
    dir: tempfile::TempDir,
    users: String,
    auth: String,
    mail: String,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        open_to_mail_owner(dir.path());
        Site {
            dir,
            users: String::new(),
            auth: String::new(),
            mail: String::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A Maildir at `path` (parents made), given to `owner` (uid, gid) when set.
    fn maildir(&self, path: &Path, owner: Option<(u32, u32)>) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let out = Command::new(BIN)
            .arg("maildirmake")
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        if let Some((uid, gid)) = owner {
            chown_tree(path, uid, gid);
        }
    }

    /// A user file line: `user:{PLAIN}secret:uid:gid::home::`.
    fn user(&mut self, user: &str, uid: &str, gid: &str, home: &Path) {
        self.users.push_str(&format!(
            "{user}:{{PLAIN}}secret:{uid}:{gid}::{}::\n",
            home.display()
        ));
    }

    fn write(&self) -> PathBuf {
        std::fs::write(self.path("users"), &self.users).unwrap();
        let config = self.path("postern.toml");
        std::fs::write(
            &config,
            format!(
                "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}\n[mail]\n{}\n",
                self.path("users").display(),
                self.auth,
                self.mail
            ),
        )
        .unwrap();
        config
    }

    fn session(&self, protocol: &str) -> Session {
        Session::start(&self.write(), protocol)
    }

    /// `postern deliver TARGET` with `message` on stdin: the exit code and stderr.
    fn deliver(&self, target: &str, message: &[u8]) -> (i32, String) {
        let mut child = Command::new(BIN)
            .args(["deliver", "--config"])
            .arg(self.write())
            .arg(target)
            .env_remove("POSTERN_CONFIG")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A refusal may come before stdin is read.
        let _ = child.stdin.take().unwrap().write_all(message);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// One `imapd`/`pop3d --inetd` session on pipes; the process is the session.
struct Session {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    stderr: PathBuf,
}

impl Session {
    fn start(config: &Path, protocol: &str) -> Session {
        let stderr = config.with_file_name(format!(
            "{protocol}-{}.stderr",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(BIN)
            .args([protocol, "--inetd", "--config"])
            .arg(config)
            .env_remove("POSTERN_CONFIG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut s = Session {
            child,
            input,
            output,
            stderr,
        };
        s.line().expect("a greeting");
        s
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// One line, `None` at EOF.
    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.output.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end().to_owned()),
        }
    }

    /// Sends `command` and reads up to the line starting with `end` (or EOF).
    fn ask(&mut self, command: &str, end: &str) -> Vec<String> {
        let _ = self.input.write_all(format!("{command}\r\n").as_bytes());
        let mut lines = Vec::new();
        while let Some(l) = self.line() {
            let done = l.starts_with(end);
            lines.push(l);
            if done {
                break;
            }
        }
        lines
    }

    /// The process's `/proc/PID/status` line for `key` (e.g. "Uid"), whitespace-joined.
    fn status(&self, key: &str) -> String {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The session ended by itself: EOF on its output and the process gone.
    fn assert_ended(&mut self) {
        assert_eq!(self.line(), None, "the session went on");
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the session process is still running");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login(s: &mut Session) -> Vec<String> {
    s.ask("a LOGIN alice secret", "a ")
}

fn message(text: &str) -> Vec<u8> {
    format!("From: a@example.org\nSubject: {text}\n\n{text}\n").into_bytes()
}

// ---- 1. no root session, no identity from a path ----

#[test]
fn uid_less_account_as_root_is_refused_without_a_virtual_mail_owner() {
    if !root_only("uid_less_account_as_root_is_refused_without_a_virtual_mail_owner") {
        return;
    }
    // The attack: ~/Maildir is a root-owned Maildir made in a world-writable sticky
    // directory; the account has no uid, so the old code took the Maildir's owner: root.
    let mut site = Site::new();
    let sticky = site.path("tmp");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    site.maildir(&sticky.join("Maildir"), None);
    let home = site.path("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::symlink(sticky.join("Maildir"), home.join("Maildir")).unwrap();
    site.user("alice", "", "", &home);
    let mut s = site.session("imapd");
    let reply = login(&mut s);
    assert!(
        reply.last().unwrap().starts_with("a NO [UNAVAILABLE]"),
        "{reply:?}"
    );
    assert!(
        s.stderr().contains("default_uid is not set"),
        "{}",
        s.stderr()
    );
    // Refused before anything changed: the session is still there, unauthenticated.
    let reply = s.ask("b NOOP", "b ");
    assert!(reply.last().unwrap().starts_with("b OK"), "{reply:?}");

    // uid 0 is refused whoever names it: the account, or the virtual-mail owner.
    let mut site = Site::new();
    let home = site.path("home");
    site.maildir(&home.join("Maildir"), None);
    site.user("alice", "0", "0", &home);
    let mut s = site.session("imapd");
    assert!(login(&mut s).last().unwrap().starts_with("a NO"));
    assert!(s.stderr().contains("uid 0 (root)"), "{}", s.stderr());
    let mut site = Site::new();
    let home = site.path("home");
    site.maildir(&home.join("Maildir"), None);
    site.user("alice", "", "", &home);
    site.auth = "default_uid = \"0\"\ndefault_gid = \"0\"".into();
    let mut s = site.session("pop3d");
    s.ask("USER alice", "+OK");
    let reply = s.ask("PASS secret", "-ERR");
    assert!(reply.last().unwrap().starts_with("-ERR"), "{reply:?}");
    assert!(s.stderr().contains("uid 0 (root)"), "{}", s.stderr());
}

#[test]
fn root_sessions_run_as_the_virtual_mail_owner_with_its_gid_alone() {
    if !root_only("root_sessions_run_as_the_virtual_mail_owner_with_its_gid_alone") {
        return;
    }
    let mut site = Site::new();
    let home = site.path("home");
    site.maildir(&home.join("Maildir"), Some((VMAIL, VMAIL)));
    site.user("alice", "", "", &home);
    site.auth = format!("default_uid = \"{VMAIL}\"\ndefault_gid = \"{OTHER}\"");
    // The virtual account takes the Maildir's owner no more: the session is VMAIL.
    let mut s = site.session("imapd");
    assert!(login(&mut s).last().unwrap().starts_with("a OK"));
    assert_eq!(s.status("Uid"), format!("{VMAIL} {VMAIL} {VMAIL} {VMAIL}"));
    assert_eq!(s.status("Gid"), format!("{OTHER} {OTHER} {OTHER} {OTHER}"));
    assert_eq!(s.status("Groups"), OTHER.to_string());
    assert_eq!(s.status("CapEff"), "0000000000000000");
    assert_eq!(s.status("CapPrm"), "0000000000000000");
}

/// A system user with a supplementary group, removed again on drop.
struct SystemUser {
    name: String,
    group: String,
}

impl SystemUser {
    fn new() -> Option<SystemUser> {
        let tag = std::process::id() % 100_000;
        let (name, group) = (format!("pstg{tag}"), format!("pstx{tag}"));
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        if !ok(Command::new("groupadd").arg(&group)) {
            return None;
        }
        let user = SystemUser { name, group };
        ok(Command::new("useradd")
            .args(["-M", "-N", "-G"])
            .arg(&user.group)
            .arg(&user.name))
        .then_some(user)
    }

    fn ids(&self) -> (u32, u32) {
        let u = nix::unistd::User::from_name(&self.name).unwrap().unwrap();
        (u.uid.as_raw(), u.gid.as_raw())
    }

    fn group_id(&self) -> u32 {
        nix::unistd::Group::from_name(&self.group)
            .unwrap()
            .unwrap()
            .gid
            .as_raw()
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

#[test]
fn a_virtual_account_does_not_get_a_same_named_system_accounts_groups() {
    if !root_only("a_virtual_account_does_not_get_a_same_named_system_accounts_groups") {
        return;
    }
    let Some(system) = SystemUser::new() else {
        eprintln!("SKIP: useradd/groupadd failed");
        return;
    };
    let (uid, gid) = system.ids();
    let mut site = Site::new();
    let home = site.path("home");
    site.maildir(&home.join("Maildir"), Some((uid, gid)));
    site.users = format!(
        "{}:{{PLAIN}}secret:{uid}:{gid}::{}::\n",
        system.name,
        home.display()
    );
    let mut s = site.session("imapd");
    let reply = s.ask(&format!("a LOGIN {} secret", system.name), "a ");
    assert!(reply.last().unwrap().starts_with("a OK"), "{reply:?}");
    let groups = s.status("Groups");
    assert_eq!(groups, gid.to_string(), "initgroups gave {groups}");
    assert!(!groups.contains(&system.group_id().to_string()));
}

#[test]
fn a_maildir_linked_to_another_users_mail_is_refused() {
    if !root_only("a_maildir_linked_to_another_users_mail_is_refused") {
        return;
    }
    let mut site = Site::new();
    let bob = site.path("bob");
    site.maildir(&bob.join("Maildir"), Some((OTHER, OTHER)));
    std::fs::write(
        bob.join("Maildir/cur/1.x,S=40:2,"),
        message("bob's secret mail"),
    )
    .unwrap();
    chown_tree(&bob, OTHER, OTHER);
    let alice = site.path("alice");
    std::fs::create_dir(&alice).unwrap();
    std::os::unix::fs::symlink(bob.join("Maildir"), alice.join("Maildir")).unwrap();
    chown_tree(&alice, VMAIL, VMAIL);
    site.user("alice", "", "", &alice);
    site.auth = format!("default_uid = \"{VMAIL}\"\ndefault_gid = \"{VMAIL}\"");
    for protocol in ["imapd", "pop3d"] {
        let mut s = site.session(protocol);
        let reply = if protocol == "imapd" {
            let reply = login(&mut s);
            assert!(reply[0].starts_with("* BYE"), "{reply:?}");
            reply
        } else {
            s.ask("USER alice", "+OK");
            s.ask("PASS secret", "-ERR")
        };
        assert!(
            !reply
                .iter()
                .any(|l| l.contains("OK") && l.starts_with("a ")),
            "{reply:?}"
        );
        // A failure after the drop ends the session (item 4).
        s.assert_ended();
        assert!(s.stderr().contains("is a symbolic link"), "{}", s.stderr());
    }
    // The same link as root-owned mail, allowed links: the sanity check refuses.
    site.mail = "skip_symlink_checks = true".into();
    chown_tree(&bob, 0, 0);
    let mut s = site.session("imapd");
    assert!(login(&mut s)[0].starts_with("* BYE"));
    s.assert_ended();
    assert!(s.stderr().contains("is owned by uid 0"), "{}", s.stderr());
    // With both checks off (the administrator's choice), the session still is VMAIL: it
    // cannot even open root's Maildir (root could), and reads nothing of it.
    site.mail = "skip_symlink_checks = true\nsanity_check = false".into();
    let mut s = site.session("imapd");
    let reply = login(&mut s);
    assert!(reply[0].starts_with("* BYE"), "{reply:?}");
    assert!(reply.last().unwrap().starts_with("a NO"), "{reply:?}");
    s.assert_ended();
    assert!(s.stderr().contains("cannot be opened"), "{}", s.stderr());
}

// ---- symlinked directories inside the Maildir (root or not) ----

#[test]
fn linked_cur_and_folder_directories_are_not_served() {
    let mut site = Site::new();
    let home = site.path("home");
    let owner = mail_owner();
    site.maildir(&home.join("Maildir"), owner);
    site.maildir(&site.path("elsewhere/.Evil"), owner);
    std::fs::write(
        site.path("elsewhere/.Evil/cur/1.x,S=30:2,"),
        message("not yours"),
    )
    .unwrap();
    if let Some((uid, gid)) = owner {
        chown_tree(&site.path("elsewhere"), uid, gid);
        site.auth = format!("default_uid = \"{uid}\"\ndefault_gid = \"{gid}\"");
    }
    std::os::unix::fs::symlink(site.path("elsewhere/.Evil"), home.join("Maildir/.Evil")).unwrap();
    site.user("alice", "", "", &home);
    let mut s = site.session("imapd");
    assert!(login(&mut s).last().unwrap().starts_with("a OK"));
    let list = s.ask("b LIST \"\" *", "b ");
    assert!(!list.iter().any(|l| l.contains("Evil")), "{list:?}");
    let select = s.ask("c SELECT INBOX.Evil", "c ");
    assert!(select.last().unwrap().starts_with("c NO"), "{select:?}");
    let status = s.ask("d STATUS INBOX.Evil (MESSAGES)", "d ");
    assert!(status.last().unwrap().starts_with("d NO"), "{status:?}");
    drop(s);

    // A linked cur/ in INBOX: the login fails and the session ends.
    let cur = home.join("Maildir/cur");
    std::fs::remove_dir(&cur).unwrap();
    std::os::unix::fs::symlink(site.path("elsewhere/.Evil/cur"), &cur).unwrap();
    let mut s = site.session("imapd");
    let reply = login(&mut s);
    assert!(reply[0].starts_with("* BYE"), "{reply:?}");
    assert!(reply.last().unwrap().starts_with("a NO"), "{reply:?}");
    s.assert_ended();
    let mut s = site.session("pop3d");
    s.ask("USER alice", "+OK");
    let reply = s.ask("PASS secret", "-ERR");
    assert!(reply.last().unwrap().starts_with("-ERR"), "{reply:?}");
    s.assert_ended();
    // An administrator who allows links gets them served.
    site.mail = "skip_symlink_checks = true".into();
    let mut s = site.session("imapd");
    assert!(login(&mut s).last().unwrap().starts_with("a OK"));
    let list = s.ask("b LIST \"\" *", "b ");
    assert!(list.iter().any(|l| l.contains("INBOX.Evil")), "{list:?}");
    // ... and written: the first SELECT of each writes its UID database and makes the
    // linked directories' entries durable (an fsync through the link used to fail).
    for (tag, folder) in [("c", "INBOX"), ("d", "INBOX.Evil")] {
        let select = s.ask(&format!("{tag} SELECT {folder}"), &format!("{tag} "));
        assert!(
            select.last().unwrap().starts_with(&format!("{tag} OK")),
            "{select:?}"
        );
    }
    let append = s.ask("e APPEND INBOX {5+}\r\nhello", "e ");
    assert!(append.last().unwrap().starts_with("e OK"), "{append:?}");
}

// ---- 2. postern deliver as root ----

#[test]
fn deliver_by_name_as_root_becomes_the_owner_the_login_would() {
    if !root_only("deliver_by_name_as_root_becomes_the_owner_the_login_would") {
        return;
    }
    let mut site = Site::new();
    let (a, b, c) = (site.path("a"), site.path("b"), site.path("c"));
    site.maildir(&a.join("Maildir"), Some((VMAIL, VMAIL)));
    site.maildir(&b.join("Maildir"), Some((VMAIL, OTHER)));
    site.maildir(&c.join("Maildir"), Some((OTHER, VMAIL)));
    site.user("nouid", "", "", &a);
    site.user("uidonly", &VMAIL.to_string(), "", &b);
    site.user("gidonly", "", &VMAIL.to_string(), &c);
    // Without a virtual-mail owner, none of them may be delivered to as root.
    for user in ["nouid", "uidonly", "gidonly"] {
        let (code, err) = site.deliver(user, &message("hi"));
        assert_eq!(code, 75, "{user}: {err}");
        assert!(err.contains("default_"), "{user}: {err}");
    }
    for dir in [&a, &b, &c] {
        assert!(
            std::fs::read_dir(dir.join("Maildir/new"))
                .unwrap()
                .next()
                .is_none()
        );
    }
    // With one, each account's own ids win, the missing one comes from the default.
    site.auth = format!("default_uid = \"{OTHER}\"\ndefault_gid = \"{OTHER}\"");
    for (user, dir, ids) in [
        ("nouid", &a, (OTHER, OTHER)),
        ("uidonly", &b, (VMAIL, OTHER)),
        ("gidonly", &c, (OTHER, VMAIL)),
    ] {
        // Each Maildir belongs to exactly the identity the delivery must take.
        chown_tree(&dir.join("Maildir"), ids.0, ids.1);
        let (code, err) = site.deliver(user, &message("hi"));
        assert_eq!(code, 0, "{user}: {err}");
        let file = std::fs::read_dir(dir.join("Maildir/new"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!((meta.uid(), meta.gid()), ids, "{user}");
    }
}

#[test]
fn deliver_by_path_as_root_takes_the_directorys_owner_never_root() {
    if !root_only("deliver_by_path_as_root_takes_the_directorys_owner_never_root") {
        return;
    }
    let site = Site::new();
    let rooted = site.path("root-owned");
    site.maildir(&rooted, None);
    let (code, err) = site.deliver(rooted.to_str().unwrap(), &message("hi"));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("uid 0 (root)"), "{err}");
    assert!(
        std::fs::read_dir(rooted.join("new"))
            .unwrap()
            .next()
            .is_none()
    );

    let owned = site.path("owned");
    site.maildir(&owned, Some((OTHER, VMAIL)));
    let (code, err) = site.deliver(owned.to_str().unwrap(), &message("hi"));
    assert_eq!(code, 0, "{err}");
    let file = std::fs::read_dir(owned.join("new"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!((meta.uid(), meta.gid()), (OTHER, VMAIL));

    // A link named as the target is not followed to its owner.
    let link = site.path("link");
    std::os::unix::fs::symlink(&owned, &link).unwrap();
    let (code, err) = site.deliver(link.to_str().unwrap(), &message("hi"));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn deliver_follows_no_link_planted_in_the_maildir() {
    if !root_only("deliver_follows_no_link_planted_in_the_maildir") {
        return;
    }
    let site = Site::new();
    let maildir = site.path("Maildir");
    site.maildir(&maildir, Some((VMAIL, VMAIL)));
    // Targets the owner could write anyway, so only the refusal to follow stops it.
    let target_dir = site.path("target-dir");
    std::fs::create_dir(&target_dir).unwrap();
    chmod(&target_dir, 0o777);
    let target_file = site.path("target-file");
    std::fs::write(&target_file, "precious\n").unwrap();
    chmod(&target_file, 0o666);
    let path = maildir.to_str().unwrap();

    std::fs::remove_dir(maildir.join("new")).unwrap();
    std::os::unix::fs::symlink(&target_dir, maildir.join("new")).unwrap();
    let (code, err) = site.deliver(path, &message("hi"));
    assert_ne!(code, 0, "{err}");
    assert!(std::fs::read_dir(&target_dir).unwrap().next().is_none());
    std::fs::remove_file(maildir.join("new")).unwrap();
    std::fs::create_dir(maildir.join("new")).unwrap();
    chown_tree(&maildir, VMAIL, VMAIL);

    std::fs::remove_dir(maildir.join("tmp")).unwrap();
    std::os::unix::fs::symlink(&target_dir, maildir.join("tmp")).unwrap();
    let (code, err) = site.deliver(path, &message("hi"));
    assert_ne!(code, 0, "{err}");
    assert!(std::fs::read_dir(&target_dir).unwrap().next().is_none());
    std::fs::remove_file(maildir.join("tmp")).unwrap();
    std::fs::create_dir(maildir.join("tmp")).unwrap();
    chown_tree(&maildir, VMAIL, VMAIL);

    // maildirsize linked to a file: the quota is not read or appended through it.
    std::os::unix::fs::symlink(&target_file, maildir.join("maildirsize")).unwrap();
    let (code, err) = site.deliver(path, &message("hi"));
    assert_eq!(code, 75, "{err}");
    assert_eq!(std::fs::read_to_string(&target_file).unwrap(), "precious\n");
    assert!(
        std::fs::read_dir(maildir.join("new"))
            .unwrap()
            .next()
            .is_none()
    );
    std::fs::remove_file(maildir.join("maildirsize")).unwrap();
    // And with the links gone it delivers.
    let (code, err) = site.deliver(path, &message("hi"));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn deliver_unprivileged_keeps_its_meaning() {
    if mail_owner().is_some() {
        eprintln!("SKIP: deliver_unprivileged_keeps_its_meaning runs unprivileged only");
        return;
    }
    let site = Site::new();
    let maildir = site.path("Maildir");
    site.maildir(&maildir, None);
    let (code, err) = site.deliver(maildir.to_str().unwrap(), &message("hi"));
    assert_eq!(code, 0, "{err}");
    give_to_mail_owner(&maildir);
}
