//! Courier's filesystem shared folders: `postern maildirmake -S / -s / --add / --del`
//! against Courier's own `maildirmake` (same directory modes, same `shared-maildirs`
//! bytes, same exit statuses), two real system users sharing a read and a sticky write
//! folder through `postern imapd` (root only), the confinement of the links, and a
//! layout made by Courier (its maildirmake and its imapd's SUBSCRIBE) served by postern
//! and the reverse.
//!
//! Courier's wire forms observed with its imapd 5.0.13 on the same layout (PREAUTH):
//! * `NAMESPACE` → `* NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))`
//!   (postern announces `(("shared." "."))`; `#shared.` is the virtual namespace's).
//! * `LIST "" "shared.*"` → `* LIST (\HasChildren) "." "shared.firm.r"`, `* LIST
//!   (\HasNoChildren) "." "shared.firm.w"`, `* LIST (\Noselect \HasChildren) "."
//!   "shared.firm"`; `LIST "" "%"` adds `* LIST (\Noselect \HasChildren) "." "shared"`.
//! * `SUBSCRIBE shared.firm.r` → `OK SUBSCRIBE completed.`; unknown nick → `NO Cannot
//!   subscribe to this folder.`; an unknown folder of a known nick is accepted by Courier
//!   (a dangling link), refused by postern.
//! * `SELECT shared.firm.r` (not writable) → `[PERMANENTFLAGS ()]`, `OK [READ-ONLY]`;
//!   `STORE` → `NO Current box is selected READ-ONLY.`
//! * In the sticky folder, `STORE 1 +FLAGS (\Deleted)` on the owner's message, `EXPUNGE`
//!   → `* 1 FETCH (FLAGS (\Flagged \Recent))` (the \Deleted is dropped, the message stays).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::skip::skip;
use common::{BIN, Client, Part, TestServer, message, owner};

// ---------------------------------------------------------------------------------------
// Helpers.

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run a command")
}

#[track_caller]
fn ok(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `postern maildirmake ARGS` with settings naming `global` as `[mail] maildirshared`.
fn postern_mm(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("maildirmake")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("POSTERN_CONFIG");
    c
}

fn write_config(dir: &Path, global: &Path) -> PathBuf {
    let config = dir.join("postern.toml");
    std::fs::write(
        &config,
        format!("[mail]\nmaildirshared = \"{}\"\n", global.display()),
    )
    .unwrap();
    config
}

/// Courier's unpacked binaries (tests/courier/fetch-courier.sh), or `None` after a SKIP.
fn courier_root() -> Option<PathBuf> {
    let dir = std::env::var_os("POSTERN_COURIER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-courier"));
    let root = dir.join("root");
    let mm = root.join("usr/bin/maildirmake.courier");
    if !mm.is_file() {
        skip(&format!(
            "{} is missing; run tests/courier/fetch-courier.sh",
            mm.display()
        ));
        return None;
    }
    let out = courier(&root, "usr/bin/maildirmake.courier")
        .arg("--bogus")
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("Usage") => Some(root),
        other => {
            skip(&format!(
                "Courier's maildirmake does not run here: {other:?}"
            ));
            None
        }
    }
}

fn courier(root: &Path, bin: &str) -> Command {
    let mut c = Command::new(root.join(bin));
    c.env_clear().env("PATH", "/usr/bin:/bin").env(
        "LD_LIBRARY_PATH",
        format!(
            "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
            root.display()
        ),
    );
    c
}

/// Path (relative to `dir`) → mode of everything below `dir` (links not followed).
fn modes(dir: &Path) -> BTreeMap<String, u32> {
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, u32>) {
        let m = std::fs::symlink_metadata(p).unwrap();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        out.insert(rel, m.mode() & 0o7777);
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(base, &e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs the `-S` / `-s` commands Courier's README describes through `tool` in `dir`.
fn make_sharable_tree(mut tool: impl FnMut(&[&str]) -> Output, dir: &Path) {
    let sh = dir.join("sh");
    let sh = sh.to_str().unwrap();
    for args in [
        vec!["-S", sh],
        vec!["-s", "read", "-f", "r", sh],
        vec!["-s", "write", "-f", "w", sh],
        vec!["-s", "read,group", "-f", "rg", sh],
        vec!["-s", "write,group", "-f", "wg", sh],
        vec!["-S", "-f", "sx", sh],
    ] {
        let out = tool(&args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
}

// ---------------------------------------------------------------------------------------
// maildirmake against Courier's.

#[test]
fn maildirmake_makes_courier_s_modes() {
    let Some(root) = courier_root() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (theirs, ours) = (tmp.path().join("courier"), tmp.path().join("postern"));
    std::fs::create_dir(&theirs).unwrap();
    std::fs::create_dir(&ours).unwrap();
    let config = write_config(tmp.path(), &tmp.path().join("no-global"));
    make_sharable_tree(
        |a| run(courier(&root, "usr/bin/maildirmake.courier").args(a)),
        &theirs,
    );
    make_sharable_tree(|a| run(postern_mm(&config, a).current_dir(&ours)), &ours);
    let (theirs, ours) = (modes(&theirs), modes(&ours));
    assert_eq!(ours, theirs, "postern's modes (left) differ from Courier's");
    // The modes the README promises, spelled out.
    assert_eq!(ours["sh"], 0o755);
    assert_eq!(ours["sh/cur"], 0o700);
    assert_eq!(ours["sh/.r"], 0o755);
    assert_eq!(ours["sh/.w"], 0o1755);
    assert_eq!(ours["sh/.w/cur"], 0o1777);
    assert_eq!(ours["sh/.rg/cur"], 0o750);
    assert_eq!(ours["sh/.wg/new"], 0o1770);
    assert_eq!(ours["sh/.w/maildirfolder"], 0o600);
}

#[test]
fn add_and_del_write_courier_s_shared_maildirs() {
    let Some(root) = courier_root() else { return };
    if Path::new("/etc/courier/maildirshared").exists() {
        skip("/etc/courier/maildirshared exists: Courier's --add would consult it");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let target = target.to_str().unwrap().to_string();
    let config = write_config(tmp.path(), &tmp.path().join("no-global"));
    let steps: Vec<Vec<String>> = [
        vec!["--add".to_string(), format!("firm={target}")],
        vec!["--add".into(), format!("tech={target}")],
        vec!["--add".into(), format!("firm={target}")],
        vec!["--add".into(), format!("a.b={target}")],
        vec!["--add".into(), format!("a/b={target}")],
        vec!["--add".into(), "rel=relative/path".into()],
        vec!["--add".into(), "gone=/nonexistent/postern-test".into()],
        vec!["--del".into(), "firm".into()],
        vec!["--add".into(), format!("third={target}")],
    ]
    .into();
    let mut statuses: [Vec<i32>; 2] = [Vec::new(), Vec::new()];
    let mut files = Vec::new();
    for (i, who) in ["courier", "postern"].iter().enumerate() {
        let md = tmp.path().join(format!("{who}-Maildir"));
        ok(Command::new(BIN).arg("maildirmake").arg(&md));
        for step in &steps {
            let mut args: Vec<&str> = step.iter().map(String::as_str).collect();
            args.push(md.to_str().unwrap());
            let out = if i == 0 {
                run(courier(&root, "usr/bin/maildirmake.courier").args(&args))
            } else {
                run(&mut postern_mm(&config, &args))
            };
            statuses[i].push(out.status.code().unwrap_or(-1));
        }
        // A nick that is not there: status 1 (Courier rewrites the same bytes).
        let mut args = vec!["--del", "nope", md.to_str().unwrap()];
        let out = if i == 0 {
            run(courier(&root, "usr/bin/maildirmake.courier").args(&args))
        } else {
            run(&mut postern_mm(&config, &args))
        };
        statuses[i].push(out.status.code().unwrap_or(-1));
        args.clear();
        let file = md.join("shared-maildirs");
        files.push((
            std::fs::read(&file).unwrap(),
            std::fs::metadata(&file).unwrap().mode() & 0o7777,
        ));
    }
    assert_eq!(statuses[1], statuses[0], "exit statuses: postern, Courier");
    assert_eq!(statuses[1], vec![0, 0, 2, 1, 1, 1, 1, 0, 0, 1]);
    assert_eq!(files[1], files[0], "shared-maildirs: postern, Courier");
    assert_eq!(
        String::from_utf8_lossy(&files[1].0),
        format!("tech\t{target}\nthird\t{target}\n")
    );
    // A nick the global list has is taken too (status 2).
    let global = tmp.path().join("global");
    std::fs::write(&global, format!("# global\nfirm {target}\n")).unwrap();
    let config = write_config(tmp.path(), &global);
    let md = tmp.path().join("postern-Maildir");
    let out = run(&mut postern_mm(
        &config,
        &["--add", &format!("firm={target}"), md.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already defined"));
}

// ---------------------------------------------------------------------------------------
// Sessions.

/// A logged-in `postern imapd --inetd` session as `user`.
fn login(server: &TestServer, user: &str, pass: &str) -> Client {
    let mut c = server.inetd();
    c.send("L1", &format!("LOGIN {user} {pass}")).assert_ok();
    c
}

fn append(c: &mut Client, tag: &str, mailbox: &str, msg: &[u8]) -> common::Reply {
    let head = format!("APPEND {mailbox} () ");
    c.send_parts(tag, &[Part::Text(&head), Part::Literal(msg)])
}

/// The names of `* LIST` / `* LSUB` lines, unquoted.
fn listed(r: &common::Reply, what: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .texts(&format!("* {what} "))
        .iter()
        .map(|t| t.rsplit(' ').next().unwrap().trim_matches('"').to_string())
        .collect();
    v.sort();
    v
}

/// Writes a message file into `folder/sub` as it would be delivered.
fn put_message(folder: &Path, sub: &str, name: &str, subject: &str) -> PathBuf {
    let p = folder.join(sub).join(name);
    std::fs::write(&p, message("owner@example.org", subject, "text\r\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

// ---------------------------------------------------------------------------------------
// Two real system users.

/// A system user made with useradd, removed (with its home) on drop.
struct SystemUser {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        common::owner::remove_user(&self.name);
    }
}

impl SystemUser {
    fn create(tag: &str) -> SystemUser {
        let name = format!("pfs{tag}{}", std::process::id() % 100000);
        let _ = Command::new("userdel").args(["-r", &name]).output();
        ok(Command::new("useradd").args(["-m", "-s", "/usr/sbin/nologin", &name]));
        let entry = nix::unistd::User::from_name(&name).unwrap().unwrap();
        // Others must be able to pass through the home to the sharable Maildir.
        std::fs::set_permissions(&entry.dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        SystemUser {
            name,
            uid: entry.uid.as_raw(),
            gid: entry.gid.as_raw(),
            home: entry.dir,
        }
    }

    /// `postern maildirmake ARGS` run as this user.
    fn maildirmake(&self, config: &Path, args: &[&str]) {
        ok(postern_mm(config, args)
            .uid(self.uid)
            .gid(self.gid)
            .current_dir(&self.home));
    }

    fn userfile_line(&self) -> String {
        format!(
            "{}:{{PLAIN}}pw:{}:{}::{}::\n",
            self.name,
            self.uid,
            self.gid,
            self.home.display()
        )
    }
}

#[test]
fn two_system_users_share_a_read_and_a_sticky_folder() {
    if !nix::unistd::geteuid().is_root() {
        skip("needs root to make two system users (CI runs as root)");
        return;
    }
    if !common::skip::require(&["useradd", "userdel"]) {
        return;
    }
    let a = SystemUser::create("a");
    let b = SystemUser::create("b");
    let server = TestServer::new();
    let config = server.config.clone();
    let mut users = std::fs::read_to_string(&server.userfile).unwrap();
    users.push_str(&a.userfile_line());
    users.push_str(&b.userfile_line());
    std::fs::write(&server.userfile, users).unwrap();

    // A: a Maildir, and a sharable one with a read and a sticky write folder.
    let shared = a.home.join("Maildir-shared");
    let shared_s = shared.to_str().unwrap();
    a.maildirmake(&config, &["Maildir"]);
    a.maildirmake(&config, &["-S", shared_s]);
    a.maildirmake(&config, &["-s", "read", "-f", "news", shared_s]);
    a.maildirmake(&config, &["-s", "write", "-f", "board", shared_s]);
    a.maildirmake(&config, &["-f", "private", shared_s]);
    for (folder, subject) in [(".news", "read me"), (".board", "by the owner")] {
        let p = put_message(&shared.join(folder), "cur", "1000.1.host:2,S", subject);
        std::os::unix::fs::lchown(&p, Some(a.uid), Some(a.gid)).unwrap();
    }
    // B: a Maildir with a small quota, and A's sharable Maildir as "firm".
    b.maildirmake(&config, &["Maildir"]);
    b.maildirmake(&config, &["-q", "100S", "Maildir"]);
    b.maildirmake(&config, &["--add", &format!("firm={shared_s}"), "Maildir"]);
    let b_md = b.home.join("Maildir");
    assert_eq!(
        std::fs::read_to_string(b_md.join("shared-maildirs")).unwrap(),
        format!("firm\t{shared_s}\n")
    );

    let mut cb = login(&server, &b.name, "pw");
    let r = cb.send("b1", "NAMESPACE");
    assert!(r.has("(\"shared.\" \".\"))"), "{}", r.dump());
    let r = cb.send("b2", "LIST \"\" \"shared.*\"");
    r.assert_ok();
    // Only what B may read: not A's private folder.
    assert_eq!(
        listed(&r, "LIST"),
        ["shared.firm", "shared.firm.board", "shared.firm.news"]
    );
    assert!(
        r.texts("* LIST ")
            .iter()
            .any(|t| t == "* LIST (\\Noselect \\HasChildren) \".\" shared.firm"),
        "{}",
        r.dump()
    );
    cb.send("b3", "SUBSCRIBE shared.firm.news").assert_ok();
    cb.send("b4", "SUBSCRIBE shared.firm.board").assert_ok();
    cb.send("b5", "SUBSCRIBE shared.nobody.news")
        .assert_status("NO");
    cb.send("b5a", "SUBSCRIBE shared.firm.private")
        .assert_status("NO");
    let r = cb.send("b6", "LSUB \"\" \"*\"");
    assert_eq!(
        listed(&r, "LSUB"),
        ["shared.firm.board", "shared.firm.news"]
    );
    // On disk: B's private copies, 0700, B's, linked to A's folders.
    for f in ["news", "board"] {
        let p = b_md.join("shared-folders/firm").join(f);
        for d in [p.clone(), p.join("cur"), p.join("new"), p.join("tmp")] {
            let m = std::fs::metadata(&d).unwrap();
            assert_eq!(m.mode() & 0o7777, 0o700, "{}", d.display());
            assert_eq!(m.uid(), b.uid, "{}", d.display());
        }
        assert_eq!(
            std::fs::read_link(p.join("shared")).unwrap(),
            shared.join(format!(".{f}"))
        );
    }
    assert!(!b_md.join("courierimapsubscribed").exists());

    // The read folder: readable, read-only.
    let r = cb.send("b7", "SELECT shared.firm.news");
    assert!(r.tagged.text.contains("[READ-ONLY]"), "{}", r.dump());
    assert!(r.has("[PERMANENTFLAGS ()]"), "{}", r.dump());
    let r = cb.send("b8", "FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])");
    r.assert_ok();
    assert!(r.dump().contains("read me"), "{}", r.dump());
    // Flags are B's own: A's \Seen does not show.
    assert!(!r.dump().contains("\\Seen"), "{}", r.dump());
    cb.send("b9", "STORE 1 +FLAGS (\\Deleted)")
        .assert_status("NO");
    append(
        &mut cb,
        "b10",
        "shared.firm.news",
        b"Subject: no\r\n\r\nx\r\n",
    )
    .assert_status("NO");

    // The sticky folder: B writes (no quota charged: 100S would refuse this).
    let big = message("b@example.org", "by b", &"y".repeat(300));
    append(&mut cb, "b11", "shared.firm.board", &big).assert_ok();
    let mine: Vec<_> = std::fs::read_dir(shared.join(".board/cur"))
        .unwrap()
        .flatten()
        .filter(|e| e.metadata().unwrap().uid() == b.uid)
        .collect();
    assert_eq!(mine.len(), 1, "B's message in A's folder");
    assert_eq!(mine[0].metadata().unwrap().mode() & 0o777, 0o644);
    let r = cb.send("b12", "SELECT shared.firm.board");
    assert!(r.tagged.text.contains("[READ-WRITE]"), "{}", r.dump());
    assert_eq!(r.exists(), vec![2], "{}", r.dump());
    let r = cb.send("b13", "FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let text = r.dump();
    let owner_seq = if text.find("by the owner").unwrap() < text.find("by b").unwrap() {
        1
    } else {
        2
    };
    let b_seq = 3 - owner_seq;
    // B flags A's message: private to B.
    cb.send("b14", &format!("STORE {owner_seq} +FLAGS (\\Flagged)"))
        .assert_ok();
    assert!(shared.join(".board/cur/1000.1.host:2,S").exists());
    // B cannot delete A's message: it stays, without \Deleted.
    cb.send("b15", &format!("STORE {owner_seq} +FLAGS (\\Deleted)"))
        .assert_ok();
    let r = cb.send("b16", "EXPUNGE");
    r.assert_ok();
    assert!(r.expunged().is_empty(), "{}", r.dump());
    assert!(shared.join(".board/cur/1000.1.host:2,S").exists());
    let r = cb.send("b17", &format!("FETCH {owner_seq} FLAGS"));
    assert!(!r.dump().contains("\\Deleted"), "{}", r.dump());
    assert!(r.dump().contains("\\Flagged"), "{}", r.dump());
    // B deletes its own.
    cb.send("b18", &format!("STORE {b_seq} +FLAGS (\\Deleted)"))
        .assert_ok();
    let r = cb.send("b19", "EXPUNGE");
    assert_eq!(r.expunged(), vec![b_seq as u32], "{}", r.dump());
    assert_eq!(
        std::fs::read_dir(shared.join(".board/cur"))
            .unwrap()
            .count(),
        1
    );
    // Nothing was charged to B's quota.
    let size = std::fs::read_to_string(b_md.join("maildirsize")).unwrap();
    let charged: i64 = size
        .lines()
        .skip(1)
        .flat_map(|l| l.split_whitespace())
        .map(|n| n.parse::<i64>().unwrap())
        .sum();
    assert_eq!(charged, 0, "{size}");

    // A message B wrote can be removed by A, the folder's owner.
    append(
        &mut cb,
        "b20",
        "shared.firm.board",
        b"Subject: again\r\n\r\nz\r\n",
    )
    .assert_ok();
    cb.send("b21", "UNSUBSCRIBE shared.firm.news").assert_ok();
    assert!(!b_md.join("shared-folders/firm/news").exists());
    assert!(b_md.join("shared-folders/firm/board").exists());
    cb.logout();
    a.maildirmake(&config, &["--add", &format!("mine={shared_s}"), "Maildir"]);
    let mut ca = login(&server, &a.name, "pw");
    let r = ca.send("a1", "SELECT shared.mine.board");
    assert_eq!(r.exists(), vec![2], "{}", r.dump());
    ca.send("a2", "STORE 1:2 +FLAGS (\\Deleted)").assert_ok();
    let r = ca.send("a3", "EXPUNGE");
    assert_eq!(r.expunged().len(), 2, "{}", r.dump());
    assert_eq!(
        std::fs::read_dir(shared.join(".board/cur"))
            .unwrap()
            .count(),
        0
    );
    ca.logout();
}

// ---------------------------------------------------------------------------------------
// Confinement of the links (one uid: the fixture's mail owner).

/// A server whose user `alice` names a sharable Maildir (`home-sharer/shared`, folders
/// `r` and `w`) as `firm`.
fn fixture(extra: &[(&'static str, &'static str, &str)]) -> (TestServer, PathBuf) {
    fixture_made_by(extra, None)
}

/// [`fixture`], made by Courier's maildirmake when `courier` is its unpacked tree.
fn fixture_made_by(
    extra: &[(&'static str, &'static str, &str)],
    courier_tree: Option<&Path>,
) -> (TestServer, PathBuf) {
    let global = "\"/nonexistent/postern-test/maildirshared\"";
    let mut overrides = vec![("mail", "maildirshared", global)];
    overrides.extend_from_slice(extra);
    let server = TestServer::with(&overrides);
    let sharer = server.dir.path().join("home-sharer");
    std::fs::create_dir(&sharer).unwrap();
    let shared = sharer.join("shared");
    let s = shared.to_str().unwrap();
    let config = server.config.clone();
    let maildirmake = |args: &[&str]| match courier_tree {
        Some(root) => ok(courier(root, "usr/bin/maildirmake.courier").args(args)),
        None => ok(&mut postern_mm(&config, args)),
    };
    maildirmake(&["-S", s]);
    maildirmake(&["-s", "read", "-f", "r", s]);
    maildirmake(&["-s", "write", "-f", "w", s]);
    put_message(&shared.join(".r"), "cur", "1000.1.host:2,", "first");
    put_message(&shared.join(".w"), "new", "1000.2.host", "second");
    maildirmake(&[
        "--add",
        &format!("firm={s}"),
        server.maildir.to_str().unwrap(),
    ]);
    server.give_homes_to_mail_owner();
    (server, shared)
}

#[test]
fn links_point_only_where_the_lists_say() {
    let (server, shared) = fixture(&[]);
    let private = server.maildir.join("shared-folders/firm/r");
    let mut c = server.inetd();
    c.login();
    c.send("a1", "SUBSCRIBE shared.firm.r").assert_ok();
    let r = c.send("a2", "EXAMINE shared.firm.r");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    c.send("a3", "CLOSE").assert_ok();

    // A message link planted to point elsewhere is removed, not followed.
    let secret = server.dir.path().join("home-secret");
    std::fs::write(&secret, "Subject: secret\r\n\r\nsecret\r\n").unwrap();
    owner::give_to_mail_owner(&secret);
    let planted = private.join("cur/9999.planted.host:2,");
    std::os::unix::fs::symlink(&secret, &planted).unwrap();
    let _ = std::os::unix::fs::lchown(
        &planted,
        owner::mail_owner().map(|o| o.0),
        owner::mail_owner().map(|o| o.1),
    );
    let r = c.send("a4", "EXAMINE shared.firm.r");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    let r = c.send("a5", "FETCH 1:* BODY[]");
    assert!(!r.dump().contains("secret"), "{}", r.dump());
    assert!(!planted.exists() && std::fs::symlink_metadata(&planted).is_err());
    c.send("a6", "CLOSE").assert_ok();

    // A `shared` link pointing anywhere but <listed path>/.r is no folder.
    let link = private.join("shared");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(server.maildir.join("."), &link).unwrap();
    c.send("a7", "EXAMINE shared.firm.r").assert_status("NO");
    c.send("a8", "STATUS shared.firm.r (MESSAGES)")
        .assert_status("NO");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(shared.join(".r"), &link).unwrap();
    c.send("a9", "EXAMINE shared.firm.r").assert_ok();
    c.send("a10", "CLOSE").assert_ok();

    // Nor is a private copy reached through a linked directory.
    let copies = server.maildir.join("shared-folders");
    let moved = server.maildir.join("elsewhere");
    std::fs::rename(&copies, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &copies).unwrap();
    c.send("a9a", "EXAMINE shared.firm.r").assert_status("NO");
    c.send("a9b", "SUBSCRIBE shared.firm.w").assert_status("NO");
    std::fs::remove_file(&copies).unwrap();
    std::fs::rename(&moved, &copies).unwrap();
    // A sharable folder that is itself a link is not served (skip_symlink_checks off).
    std::os::unix::fs::symlink(shared.join(".r"), shared.join(".linked")).unwrap();
    let r = c.send("a11", "LIST \"\" \"shared.*\"");
    assert_eq!(
        listed(&r, "LIST"),
        ["shared.firm", "shared.firm.r", "shared.firm.w"],
        "{}",
        r.dump()
    );
    c.send("a12", "SUBSCRIBE shared.firm.linked")
        .assert_status("NO");
    // Once the nick is gone from shared-maildirs, so are its folders.
    let out = run(&mut postern_mm(
        &server.config,
        &["--del", "firm", server.maildir.to_str().unwrap()],
    ));
    assert!(out.status.success(), "{out:?}");
    c.send("a13", "EXAMINE shared.firm.r").assert_status("NO");
    let r = c.send("a14", "LIST \"\" \"*\"");
    assert_eq!(listed(&r, "LIST"), ["INBOX"], "{}", r.dump());
    c.logout();
}

#[test]
fn sync_follows_the_source_and_keeps_flags_private() {
    let (server, shared) = fixture(&[]);
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "SELECT shared.firm.w");
    // Opening subscribes, as Courier's does; the source's new mail moved to its cur/.
    assert!(server.maildir.join("shared-folders/firm/w/shared").exists());
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    assert!(shared.join(".w/cur/1000.2.host:2,").exists());
    c.send("a2", "STORE 1 +FLAGS (\\Seen \\Answered)")
        .assert_ok();
    assert!(
        shared.join(".w/cur/1000.2.host:2,").exists(),
        "source flags untouched"
    );
    c.send("a3", "CLOSE").assert_ok();
    // The owner removes it and adds another: both show at the next open.
    std::fs::remove_file(shared.join(".w/cur/1000.2.host:2,")).unwrap();
    put_message(&shared.join(".w"), "cur", "1000.3.host:2,S", "third");
    // Past the timestamp's second.
    let stamp = server
        .maildir
        .join("shared-folders/firm/w/shared-timestamp");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&stamp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let r = c.send("a4", "SELECT shared.firm.w");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    let r = c.send("a5", "FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(r.dump().contains("third"), "{}", r.dump());
    // A copy out of a shared folder is the message, not its link.
    c.send("a5a", "COPY 1 INBOX").assert_ok();
    let inbox: Vec<_> = std::fs::read_dir(server.maildir.join("cur"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].file_type().unwrap().is_file(), "{inbox:?}");
    // While it is selected, what the owner adds shows at the next NOOP.
    put_message(&shared.join(".w"), "cur", "1000.4.host:2,", "fourth");
    let r = c.send("a6", "NOOP");
    assert_eq!(r.exists(), vec![2], "{}", r.dump());
    c.send("a7", "CLOSE").assert_ok();
    let r = c.send("a8", "STATUS shared.firm.w (MESSAGES)");
    assert!(r.has("MESSAGES 2"), "{}", r.dump());
    // STATUS subscribes, as Courier's does; UNSUBSCRIBE twice is fine, as there.
    let r = c.send("a9", "STATUS shared.firm.r (MESSAGES)");
    assert!(r.has("MESSAGES 1"), "{}", r.dump());
    assert!(server.maildir.join("shared-folders/firm/r/cur").is_dir());
    c.send("a10", "UNSUBSCRIBE shared.firm.r").assert_ok();
    c.send("a11", "UNSUBSCRIBE shared.firm.r").assert_ok();
    assert!(!server.maildir.join("shared-folders/firm/r").exists());
    // MOVE out of INBOX into the shared folder: copied there, expunged here.
    c.select("INBOX");
    let r = c.send("a12", "MOVE 1 shared.firm.w");
    r.assert_ok();
    assert_eq!(r.expunged(), vec![1], "{}", r.dump());
    let r = c.send("a13", "STATUS shared.firm.w (MESSAGES)");
    assert!(r.has("MESSAGES 3"), "{}", r.dump());
    c.logout();
}

// ---------------------------------------------------------------------------------------
// Differential: Courier's layout served by postern, and postern's by Courier.

/// Courier's imapd as the mail owner on `maildir` (PREAUTH), fed `commands`; its output.
fn courier_imapd(root: &Path, maildir: &Path, commands: &[&str]) -> String {
    let mut c = courier(root, "usr/bin/imapd");
    if let Some((uid, gid)) = owner::mail_owner() {
        c.uid(uid).gid(gid);
    }
    c.env("AUTHENTICATED", "alice")
        .env("TCPREMOTEIP", "127.0.0.1")
        .env("TCPREMOTEPORT", "1")
        .env("IMAP_KEYWORDS", "1")
        .env("IMAP_USELOCKS", "0")
        .env("IMAP_SHAREDINDEXFILE", "/nonexistent/courier/shared/index")
        .arg(maildir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("start Courier's imapd");
    let mut input = String::new();
    for (i, cmd) in commands.iter().enumerate() {
        input.push_str(&format!("c{i} {cmd}\r\n"));
    }
    input.push_str("z LOGOUT\r\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    out
}

/// Courier's unpacked tree with its imapd, or `None` after a SKIP.
fn courier_with_imapd() -> Option<PathBuf> {
    let root = courier_root()?;
    if !root.join("usr/bin/imapd").is_file() {
        skip("Courier's imapd is missing; run tests/courier/fetch-courier.sh");
        return None;
    }
    Some(root)
}

#[test]
fn courier_s_layout_is_served_by_postern() {
    let Some(root) = courier_with_imapd() else {
        return;
    };
    let (server, shared) = fixture_made_by(&[], Some(&root));
    // Courier lists, subscribes, reads and flags; postern then serves its copies.
    let out = courier_imapd(
        &root,
        &server.maildir,
        &[
            "LIST \"\" \"shared.*\"",
            "SUBSCRIBE shared.firm.r",
            "SUBSCRIBE shared.firm.w",
            "SELECT shared.firm.w",
            "STORE 1 +FLAGS (\\Flagged)",
            "FETCH 1 (UID FLAGS)",
        ],
    );
    for tag in ["c1", "c2", "c4"] {
        assert!(out.contains(&format!("{tag} OK")), "{out}");
    }
    let courier_names: Vec<String> = {
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("* LIST "))
            .map(|l| l.rsplit(' ').next().unwrap().trim_matches('"').to_string())
            .collect();
        v.sort();
        v
    };
    assert!(out.contains("* 1 FETCH (UID 1 FLAGS (\\Flagged"), "{out}");
    // Courier's private copy: no leading dot, the link, its own UID database.
    let copy = server.maildir.join("shared-folders/firm/w");
    assert_eq!(
        std::fs::read_link(copy.join("shared")).unwrap(),
        shared.join(".w")
    );
    assert!(copy.join("courierimapuiddb").is_file());
    owner::give_to_mail_owner(&server.maildir);
    let mut c = server.inetd();
    c.login();
    let r = c.send("p1", "LIST \"\" \"shared.*\"");
    assert_eq!(listed(&r, "LIST"), courier_names, "LIST: postern, Courier");
    let r = c.send("p2", "LSUB \"\" \"shared.*\"");
    assert_eq!(
        listed(&r, "LSUB"),
        ["shared.firm.r", "shared.firm.w"],
        "{}",
        r.dump()
    );
    let courier_uidv = out
        .lines()
        .find_map(|l| l.split("[UIDVALIDITY ").nth(1))
        .and_then(|r| r.split(']').next())
        .unwrap()
        .to_string();
    let r = c.send("p3", "SELECT shared.firm.w");
    assert!(
        r.has(&format!("[UIDVALIDITY {courier_uidv}]")),
        "same UIDVALIDITY as Courier's: {}",
        r.dump()
    );
    let r = c.send(
        "p4",
        "FETCH 1 (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    let text = r.dump();
    assert!(
        text.contains("UID 1 ") && text.contains("\\Flagged") && text.contains("second"),
        "{text}"
    );
    let r = c.send("p5", "EXAMINE shared.firm.r");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    c.logout();
}

#[test]
fn postern_s_layout_is_served_by_courier() {
    let Some(root) = courier_with_imapd() else {
        return;
    };
    let (server, shared) = fixture(&[]);
    let mut c = server.inetd();
    c.login();
    let r = c.send("p1", "LIST \"\" \"shared.*\"");
    let postern_names = listed(&r, "LIST");
    c.send("p2", "SUBSCRIBE shared.firm.w").assert_ok();
    let r = c.send("p3", "SELECT shared.firm.w");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    c.send("p4", "STORE 1 +FLAGS (\\Flagged)").assert_ok();
    append(
        &mut c,
        "p5",
        "shared.firm.w",
        b"Subject: from postern\r\n\r\nhi\r\n",
    )
    .assert_ok();
    c.logout();
    let out = courier_imapd(
        &root,
        &server.maildir,
        &[
            "LIST \"\" \"shared.*\"",
            "LSUB \"\" \"*\"",
            "SELECT shared.firm.w",
            "FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
        ],
    );
    let mut courier_names: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("* LIST "))
        .map(|l| l.rsplit(' ').next().unwrap().trim_matches('"').to_string())
        .collect();
    courier_names.sort();
    assert_eq!(postern_names, courier_names, "LIST: postern, Courier");
    assert!(
        out.contains("* LSUB (\\HasNoChildren) \".\" \"shared.firm.w\""),
        "{out}"
    );
    assert!(out.contains("* 2 EXISTS"), "{out}");
    assert!(
        out.contains("UID 1 FLAGS (\\Flagged"),
        "Courier keeps postern's private flags: {out}"
    );
    assert!(out.contains("from postern"), "{out}");
    assert!(shared.join(".w/cur/1000.2.host:2,").exists());
}

#[test]
fn linked_sharable_folders_are_served_with_skip_symlink_checks() {
    let (server, shared) = fixture(&[("mail", "skip_symlink_checks", "true")]);
    std::os::unix::fs::symlink(shared.join(".r"), shared.join(".linked")).unwrap();
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "LIST \"\" \"shared.firm.%\"");
    assert_eq!(
        listed(&r, "LIST"),
        ["shared.firm.linked", "shared.firm.r", "shared.firm.w"],
        "{}",
        r.dump()
    );
    let r = c.send("a2", "EXAMINE shared.firm.linked");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    c.logout();
}

#[test]
fn idle_in_a_shared_folder_sees_the_owner_s_new_mail() {
    let (server, shared) = fixture(&[("imap", "idle_poll_interval", "1")]);
    let mut c = server.inetd();
    c.login();
    let r = c.send("a1", "SELECT shared.firm.w");
    assert_eq!(r.exists(), vec![1], "{}", r.dump());
    c.write(b"a2 IDLE\r\n");
    let l = c.expect_response();
    assert!(l.is_continuation(), "{}", l.text);
    // Past IDLE's first look, so that only a later one can find it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    put_message(&shared.join(".w"), "cur", "1000.5.host:2,", "fifth");
    // Polled (the change is at the source, not in the copy inotify would watch).
    loop {
        let l = c.expect_response();
        assert!(l.text.starts_with("* "), "in IDLE: {}", l.text);
        if l.text == "* 2 EXISTS" {
            break;
        }
    }
    c.write(b"DONE\r\n");
    let mut l = c.expect_response();
    while l.text.starts_with("* ") {
        l = c.expect_response();
    }
    assert!(l.text.starts_with("a2 OK"), "{}", l.text);
    c.logout();
}
