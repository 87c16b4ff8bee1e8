//! Courier's virtual shared-folder index: postern's reader on hand-written indexes (group
//! lines, `sharedgroup=` universes, munged names, loops, depth), `postern sharedindex` on
//! a user file (and on NSS accounts as root), and the reader's view against what
//! Courier's own imapd (5.0.13, PREAUTH, `IMAP_SHAREDINDEXFILE`) lists under `#shared.`
//! for the same index and Maildirs.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use postern::store::shared_index::{self, Entry, Index, Munging, Resolved};

#[path = "common/skip.rs"]
mod skip;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn maildir(path: &Path, folders: &[&str]) {
    for f in [""].iter().chain(folders) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(path.join(f).join(sub)).unwrap();
        }
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

/// `root/etc/index` (alice, bob, group "g.x" -> indexg with carol), `root/etc/index12`
/// (universe 12: dave), and their Maildirs; every INBOX lets anyone look (`anyone lr`).
fn fixture(root: &Path) -> PathBuf {
    let etc = root.join("etc");
    fs::create_dir_all(&etc).unwrap();
    for (user, folders) in [
        ("alice", &[][..]),
        ("bob", &[".Sent", ".Priv"][..]),
        ("carol", &[".x.y"][..]),
        ("dave", &[][..]),
    ] {
        let md = root.join(user).join("Maildir");
        maildir(&md, folders);
        write(
            &md.join("courierimapacl"),
            "owner aceilrstwx\nadministrators aceilrstwx\nanyone lr\n",
        );
    }
    // bob's Priv shows nothing to others.
    write(
        &root.join("bob/Maildir/.Priv/courierimapacl"),
        "owner aceilrstwx\nadministrators aceilrstwx\n",
    );
    let r = root.display();
    write(
        &etc.join("index"),
        &format!(
            "# accounts\nalice\t1000\t1000\t{r}/alice\nbob\t1000\t1000\t{r}/bob\t./Maildir\n\
             g.x\t*\tindexg\nbroken line\nroot\t0\t0\t/root\n"
        ),
    );
    write(
        &etc.join("indexg"),
        // A comment ends a line anywhere (a space before it would be part of the path).
        &format!("carol\t1000\t1000\t{r}/carol# trailing comment\n"),
    );
    write(
        &etc.join("index12"),
        &format!("dave\t1000\t1000\t{r}/dave\n"),
    );
    etc.join("index")
}

#[test]
fn reader_follows_groups_universes_and_munging() {
    let d = tempfile::tempdir().unwrap();
    let index = fixture(d.path());
    let root = d.path();

    let names = |v: Vec<shared_index::SharedAccount>| -> Vec<String> {
        v.into_iter().map(|a| a.name).collect()
    };
    assert_eq!(
        names(shared_index::accounts(&index, None).unwrap()),
        ["alice", "bob", "carol"]
    );
    assert_eq!(
        names(shared_index::accounts(&index, Some("12")).unwrap()),
        ["dave"]
    );
    let bob = shared_index::lookup(&index, None, "bob").unwrap().unwrap();
    assert_eq!(bob.maildir, root.join("bob/Maildir"));
    assert_eq!((bob.uid, bob.gid), (1000, 1000));
    assert!(
        shared_index::lookup(&index, None, "root")
            .unwrap()
            .is_none()
    );
    assert!(
        shared_index::lookup(&index, None, "dave")
            .unwrap()
            .is_none()
    );

    let idx = Index::new(&index, None, Munging::Spaces, 8);
    let top: Vec<String> = idx
        .level(&[])
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(top, ["alice", "bob", "g x"]);
    assert!(matches!(
        &idx.level(&["g x"]).unwrap().unwrap()[0].entry,
        Entry::Account(a) if a.name == "carol"
    ));
    assert!(idx.level(&["bob"]).unwrap().is_none());
    assert_eq!(idx.resolve("").unwrap(), Resolved::Level);
    assert_eq!(idx.resolve("g x").unwrap(), Resolved::Level);
    match idx.resolve("g x.carol.x.y").unwrap() {
        Resolved::Folder {
            account,
            folder,
            prefix,
            owner,
        } => {
            assert_eq!(account.maildir, root.join("carol/Maildir"));
            assert_eq!(folder, "INBOX.x.y");
            assert_eq!(prefix, "#shared.g x.carol");
            // Courier's owner identifier: the last group's name.
            assert_eq!(owner, "user=g.x");
        }
        other => panic!("{other:?}"),
    }
    match idx.resolve("bob").unwrap() {
        Resolved::Folder { folder, owner, .. } => {
            assert_eq!(folder, "INBOX");
            assert_eq!(owner, "vendor=courier.internal");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(idx.resolve("nobody.Sent").unwrap(), Resolved::Unknown);
    assert_eq!(idx.resolve("g.x.carol").unwrap(), Resolved::Unknown);
    assert_eq!(idx.resolve("bob..Sent").unwrap(), Resolved::Unknown);

    let escaped = Index::new(&index, None, Munging::Escapes, 8);
    assert!(matches!(
        escaped.resolve("g\\:x.carol").unwrap(),
        Resolved::Folder { .. }
    ));
    assert_eq!(escaped.resolve("g x.carol").unwrap(), Resolved::Unknown);
}

#[test]
fn later_duplicates_win_and_loops_and_depth_are_bounded() {
    let d = tempfile::tempdir().unwrap();
    let etc = d.path();
    write(
        &etc.join("index"),
        "bob\t1000\t1000\t/old\nbob\t1000\t1000\t/new\nloop\t*\tindexa\n",
    );
    // indexa -> index (a loop back to the root) and -> indexb -> indexc (deeper); found
    // depth first.
    write(
        &etc.join("indexa"),
        "back\t*\tindex\nb\t*\tindexb\nann\t1000\t1000\t/a\n",
    );
    write(&etc.join("indexb"), "c\t*\tindexc\nbea\t1000\t1000\t/b\n");
    write(&etc.join("indexc"), "cid\t1000\t1000\t/c\n");
    let index = etc.join("index");
    let idx = Index::new(&index, None, Munging::Spaces, 8);
    let found: Vec<(String, PathBuf)> = idx
        .accounts()
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.maildir))
        .collect();
    assert_eq!(
        found,
        [
            ("bob".to_string(), PathBuf::from("/new/Maildir")),
            ("cid".to_string(), PathBuf::from("/c/Maildir")),
            ("bea".to_string(), PathBuf::from("/b/Maildir")),
            ("ann".to_string(), PathBuf::from("/a/Maildir")),
        ]
    );
    assert_eq!(idx.resolve("loop.back.bob").unwrap(), Resolved::Unknown);
    assert!(matches!(
        idx.resolve("loop.b.c.cid").unwrap(),
        Resolved::Folder { .. }
    ));
    // Depth 2: the root and two group levels; indexc is a third.
    let shallow = Index::new(&index, None, Munging::Spaces, 2);
    assert_eq!(shallow.resolve("loop.b.c.cid").unwrap(), Resolved::Unknown);
    assert!(shallow.accounts().unwrap().iter().all(|a| a.name != "cid"));
}

fn config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("postern.toml");
    write(&path, body);
    path
}

#[test]
fn sharedindex_builds_the_index_from_the_user_file() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    fs::create_dir_all(dir.join("shared")).unwrap();
    write(
        &dir.join("users"),
        "alice:{PLAIN}a:2001:2001::/home/alice::\n\
         bob:{PLAIN}b:2002:2002::/home/bob::maildir=Mail\n\
         carol:{PLAIN}c:2003:2003::/home/carol::disableshared=1\n\
         dave:{PLAIN}d:2004:2004::/home/dave::sharedgroup=12\n\
         erin:{PLAIN}e::::::maildir=/var/mail/erin\n",
    );
    let cfg = config(
        dir,
        &format!(
            "[auth]\nbackend = \"userfile\"\nuserfile = \"{0}/users\"\n\
             default_uid = \"3000\"\ndefault_gid = \"3000\"\n\
             [mail]\nshared_index = \"{0}/shared/index\"\n",
            dir.display()
        ),
    );
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("sharedindex")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let index = fs::read_to_string(dir.join("shared/index")).unwrap();
    let lines: Vec<&str> = index.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "alice\t2001\t2001\t/home/alice\tMaildir",
            "bob\t2002\t2002\t/home/bob\tMail",
            "erin\t3000\t3000\t/\t/var/mail/erin",
        ]
    );
    assert_eq!(
        fs::read_to_string(dir.join("shared/index12"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["dave\t2004\t2004\t/home/dave\tMaildir"]
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(dir.join("shared/index")).unwrap().mode() & 0o777,
        0o644
    );
    // The reader sees what the tool wrote.
    let erin = shared_index::lookup(&dir.join("shared/index"), None, "erin")
        .unwrap()
        .unwrap();
    assert_eq!(erin.maildir, Path::new("/var/mail/erin"));
    // No temporary files are left beside the index.
    let left: Vec<String> = fs::read_dir(dir.join("shared"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // --split 1 --output: group files by first letter, readable through the groups.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["sharedindex", "--split", "1", "--output"])
        .arg(dir.join("shared/split"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let top = fs::read_to_string(dir.join("shared/split")).unwrap();
    assert!(top.contains("a\t*\tsplita\n") && top.contains("b\t*\tsplitb\n"));
    let idx = Index::new(&dir.join("shared/split"), None, Munging::Spaces, 8);
    assert!(matches!(
        idx.resolve("b.bob.Sent").unwrap(),
        Resolved::Folder { folder, .. } if folder == "INBOX.Sent"
    ));
}

#[test]
fn sharedindex_lists_system_accounts_with_a_maildir() {
    if !nix::unistd::geteuid().is_root() {
        skip::skip("needs root to add a system user");
        return;
    }
    if !skip::require(&["useradd", "userdel", "getent"]) {
        return;
    }
    let name = format!("pshix{}", std::process::id() % 100000);
    let ok = Command::new("useradd")
        .args(["-m", "-K", "UID_MIN=1000", "-s", "/bin/sh", &name])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip::skip("useradd failed");
        return;
    }
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("userdel").args(["-r", &self.0]).status();
        }
    }
    let _cleanup = Cleanup(name.clone());
    let user = nix::unistd::User::from_name(&name).unwrap().unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        &format!(
            "[auth]\nbackend = \"pam\"\n[mail]\nshared_index = \"{}/index\"\n",
            d.path().display()
        ),
    );
    let run = || {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .arg("sharedindex")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        fs::read_to_string(d.path().join("index")).unwrap()
    };
    // No Maildir yet: not listed.
    assert!(!run().contains(&format!("{name}\t")));
    maildir(&user.dir.join("Maildir"), &[]);
    let line = format!(
        "{name}\t{}\t{}\t{}\tMaildir\n",
        user.uid,
        user.gid,
        user.dir.display()
    );
    let index = run();
    assert!(index.contains(&line), "{index}");
    assert!(!index.contains("root\t0\t"));
}

// ---------------------------------------------------------------------------------------
// Against Courier's imapd.

fn courier_root() -> Option<PathBuf> {
    let dir = std::env::var_os("POSTERN_COURIER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-courier"));
    let root = dir.join("root");
    if !root.join("usr/bin/imapd").is_file() {
        skip::skip(&format!(
            "{}/usr/bin/imapd is missing; run tests/courier/fetch-courier.sh",
            root.display()
        ));
        return None;
    }
    Some(root)
}

/// Courier's `LIST "" "#shared.*"` as alice (PREAUTH in her Maildir).
fn courier_list(courier: &Path, root: &Path, index: &Path, munge: bool) -> Option<Vec<String>> {
    let mut c = Command::new(courier.join("usr/bin/imapd"));
    c.current_dir(root.join("alice/Maildir"))
        .arg(".")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(
            "LD_LIBRARY_PATH",
            format!(
                "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
                courier.display()
            ),
        )
        .env("AUTHENTICATED", "alice")
        .env("TCPREMOTEIP", "127.0.0.1")
        .env("TCPREMOTEPORT", "1")
        .env("IMAP_ACL", "1")
        .env("IMAP_USELOCKS", "0")
        .env("IMAP_SHAREDINDEXFILE", index)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if munge {
        c.env("IMAP_SHAREDMUNGENAMES", "1");
    }
    let mut child = c.spawn().ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a LIST \"\" \"#shared.*\"\r\nb LOGOUT\r\n")
        .ok()?;
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !text.contains("a OK LIST") {
        skip::skip(&format!("Courier's imapd does not run here: {text:?}"));
        return None;
    }
    Some(
        text.lines()
            .filter(|l| l.starts_with("* LIST"))
            .map(|l| {
                let name = l.trim_end().rsplit(" \"").next().unwrap();
                name.trim_end_matches('"').replace("\\\\", "\\")
            })
            .collect(),
    )
}

/// Every name Courier lists resolves, in postern's reader, to a hierarchy level or to a
/// folder that exists in the right account's Maildir; and every group and account level
/// postern's reader finds is one Courier lists.
fn compare(courier: &Path, munge: bool) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let index = fixture(root);
    let Some(listed) = courier_list(courier, root, &index, munge) else {
        return;
    };
    let how = if munge {
        Munging::Escapes
    } else {
        Munging::Spaces
    };
    let idx = Index::new(&index, None, how, 8);
    for name in &listed {
        let below = name.strip_prefix("#shared.").unwrap();
        match idx.resolve(below).unwrap() {
            Resolved::Level => {}
            Resolved::Folder {
                account, folder, ..
            } => {
                let dir = match folder.strip_prefix("INBOX") {
                    Some("") => account.maildir.clone(),
                    Some(rest) => account.maildir.join(rest),
                    None => panic!("{folder}"),
                };
                // Courier lists a level that is not a folder itself (carol's INBOX.x) as
                // \Noselect; its sub-folder exists.
                let exists = dir.is_dir()
                    || fs::read_dir(&account.maildir).unwrap().any(|e| {
                        let n = e.unwrap().file_name().into_string().unwrap();
                        n.starts_with(&format!("{}.", &folder["INBOX".len()..]))
                    });
                assert!(exists, "{name} -> {}", dir.display());
            }
            Resolved::Unknown => panic!("Courier lists {name}, postern cannot resolve it"),
        }
    }
    // The group and account levels postern sees (alice is the viewer: Courier hides her).
    let mut ours = BTreeSet::new();
    for top in idx.level(&[]).unwrap().unwrap() {
        match &top.entry {
            Entry::Group { .. } => {
                ours.insert(format!("#shared.{}", top.name));
                for c in idx.level(&[&top.name]).unwrap().unwrap() {
                    ours.insert(format!("#shared.{}.{}", top.name, c.name));
                }
            }
            Entry::Account(a) => {
                if !shared_index::suppressed(&a.maildir, &root.join("alice/Maildir")) {
                    ours.insert(format!("#shared.{}", top.name));
                }
            }
        }
    }
    let theirs: BTreeSet<String> = listed.iter().cloned().collect();
    assert!(
        ours.is_subset(&theirs),
        "postern's levels {ours:?} are not all in Courier's LIST {theirs:?}"
    );
    assert!(!theirs.iter().any(|n| n.contains("alice")), "{theirs:?}");
    assert!(!theirs.iter().any(|n| n.contains("Priv")), "{theirs:?}");
}

#[test]
fn reader_agrees_with_courier_list_of_shared() {
    let Some(courier) = courier_root() else {
        return;
    };
    compare(&courier, false);
}

#[test]
fn reader_agrees_with_courier_munged_names() {
    let Some(courier) = courier_root() else {
        return;
    };
    compare(&courier, true);
}
