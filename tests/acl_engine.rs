//! postern's ACL engine (`store::acl`) against Courier's imapd 5.0.13: a script of RFC
//! 2086/4314 commands (SETACL, DELETEACL, GETACL, MYRIGHTS, LISTRIGHTS) runs through
//! Courier's imapd (PREAUTH as `alice` in her own Maildir, `IMAP_ACL=1`) and, on a copy
//! of the same Maildir, through the engine the way the IMAP side calls it; the answers
//! (untagged lines and tagged OK/NO texts) and the `courierimapacl` bytes after every
//! command must be the same. This pins the API's wire forms for the IMAP commands.
//!
//! Without Courier (`tests/courier/fetch-courier.sh`) the test prints `SKIP: ...`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use postern::store::acl::{self, Change, Viewer};

#[path = "common/skip.rs"]
mod skip;

const SCRIPT: &[&str] = &[
    "GETACL INBOX.Sent",
    "SETACL INBOX.Sent joe lr",
    "SETACL INBOX.Sent user=bob +lrw",
    "SETACL INBOX.Sent -anyone r",
    "SETACL INBOX.Sent owner lr",
    "SETACL INBOX.Sent owner -a",
    "SETACL INBOX.Sent joe cd",
    "SETACL INBOX.Sent joe +kt",
    "SETACL INBOX.Sent joe -c",
    "SETACL INBOX.Sent -joe lr",
    "SETACL INBOX.Sent anyone l",
    "SETACL INBOX.Sent alice -l",
    "SETACL INBOX.Sent -alice l",
    "SETACL INBOX.Sent -alice +l",
    "SETACL INBOX.Sent owner alrt",
    "MYRIGHTS INBOX.Sent",
    "SETACL INBOX.Sent owner +aceilrstwx",
    "DELETEACL INBOX.Sent joe",
    "DELETEACL INBOX.Sent owner",
    "SETACL INBOX.Sent administrators r",
    "SETACL INBOX.Sent anonymous lrs",
    "SETACL INBOX.Sent anonymous \"\"",
    "SETACL INBOX.Sent \"bad id\" r",
    "SETACL INBOX.Sent joe \"a b\"",
    "SETACL INBOX joe lr",
    "GETACL INBOX",
    "LISTRIGHTS INBOX.Sent joe",
    "LISTRIGHTS INBOX.Sent alice",
    "LISTRIGHTS INBOX.Sent -alice",
    "LISTRIGHTS INBOX.Sent -anyone",
    "LISTRIGHTS INBOX.Sent owner",
];

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

fn maildir(path: &Path) {
    for f in ["", ".Sent"] {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(path.join(f).join(sub)).unwrap();
        }
    }
}

/// Courier's answers, one Vec of lines per command (the session runs all at once).
fn courier_answers(courier: &Path, md: &Path, script: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut input = Vec::new();
    for (i, cmd) in script.iter().enumerate() {
        write!(input, "t{i} {cmd}\r\n").unwrap();
    }
    input.extend_from_slice(b"z LOGOUT\r\n");
    let mut child = Command::new(courier.join("usr/bin/imapd"))
        .current_dir(md)
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
        .env("IMAP_SHAREDINDEXFILE", "/nonexistent")
        .env("IMAP_BROKENUIDV", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(&input).ok()?;
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !text.contains("* PREAUTH") {
        skip::skip(&format!("Courier's imapd does not run here: {text:?}"));
        return None;
    }
    let mut answers = vec![Vec::new(); script.len()];
    let mut current = Vec::new();
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.starts_with("* PREAUTH") || line.starts_with("* OK [ALERT]") {
            continue;
        }
        current.push(line.to_string());
        if let Some(rest) = line.strip_prefix('t') {
            let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
            answers[n] = std::mem::take(&mut current);
        }
    }
    Some(answers)
}

/// Words of a command line, with "quoted" strings.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::new();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                w.push(c);
            }
            out.push(w);
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    out
}

/// The command answered through postern's engine, as the IMAP side would.
fn postern_answer(md: &Path, tag: &str, line: &str) -> Vec<String> {
    let w = words(line);
    let folder = w[1].as_str();
    let me = Some("user=alice");
    let updated = |r: Result<(), acl::AclError>, change: Option<Change>| match r {
        Ok(()) => format!("{tag} OK ACLs updated."),
        Err(e) => format!("{tag} NO {}", acl::setacl_error_text(change, &e)),
    };
    match w[0].as_str() {
        "SETACL" => {
            let id = match acl::identifier_from_wire(&w[2]) {
                Ok(id) => id,
                Err(e) => return vec![format!("{tag} NO {e}")],
            };
            let change = match Change::parse(&w[3], true) {
                Ok(c) => c,
                Err(e) => return vec![updated(Err(e), None)],
            };
            vec![updated(
                acl::modify(md, folder, &id, change, true, me),
                Some(change),
            )]
        }
        "DELETEACL" => {
            let id = acl::identifier_from_wire(&w[2]).unwrap();
            vec![updated(acl::delete_as(md, folder, &id, me), None)]
        }
        "GETACL" => {
            let l = acl::load(md, folder).unwrap();
            vec![
                format!("* ACL \"{folder}\"{}", acl::getacl_wire(&l)),
                format!("{tag} OK GETACL completed."),
            ]
        }
        "MYRIGHTS" => {
            let l = acl::load(md, folder).unwrap();
            let viewer = Viewer {
                user: "alice",
                groups: &[],
                owner: true,
            };
            vec![
                format!(
                    "* MYRIGHTS \"{folder}\" \"{}\"",
                    acl::rights(&l, &viewer).to_wire()
                ),
                format!("{tag} OK MYRIGHTS completed."),
            ]
        }
        "LISTRIGHTS" => vec![
            format!(
                "* LISTRIGHTS \"{folder}\" \"{}\" {}",
                w[2],
                acl::listrights_wire(&w[2], Some("alice"))
            ),
            format!("{tag} OK LISTRIGHTS completed."),
        ],
        other => panic!("{other}"),
    }
}

fn acl_files(md: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rel in ["courierimapacl", ".Sent/courierimapacl"] {
        if let Ok(t) = fs::read_to_string(md.join(rel)) {
            out.push((rel.to_string(), t));
        }
    }
    out
}

#[test]
fn engine_answers_and_files_match_courier_imapd() {
    let Some(courier) = courier_root() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let c_md = d.path().join("courier");
    let p_md = d.path().join("postern");
    maildir(&c_md);
    maildir(&p_md);
    acl::folder_created(&p_md, "INBOX.Sent").unwrap();
    // Courier runs command by command so the files can be compared after each.
    for (i, line) in SCRIPT.iter().enumerate() {
        let Some(theirs) = courier_answers(&courier, &c_md, &[line]) else {
            return;
        };
        let tag = format!("t{i}");
        let ours = postern_answer(&p_md, &tag, line);
        let theirs: Vec<String> = theirs[0]
            .iter()
            .map(|l| l.replacen("t0", &tag, 1))
            .collect();
        assert!(
            theirs
                .last()
                .is_some_and(|l| l.starts_with(&format!("{tag} "))),
            "{line}: no tagged answer from Courier: {theirs:?}"
        );
        assert_eq!(ours, theirs, "{line}: postern (left), Courier (right)");
        assert_eq!(
            acl_files(&p_md),
            acl_files(&c_md),
            "{line}: courierimapacl differs"
        );
    }
}

/// Every ACL file below a Maildir: relative path -> bytes.
fn all_acl_files(md: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir(md).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if name == "courierimaphieracl" {
            for h in fs::read_dir(e.path()).unwrap() {
                let h = h.unwrap();
                let n = h.file_name().into_string().unwrap();
                out.push((
                    format!("courierimaphieracl/{n}"),
                    fs::read_to_string(h.path()).unwrap(),
                ));
            }
        } else if let Ok(t) = fs::read_to_string(e.path().join("courierimapacl")) {
            out.push((format!("{name}/courierimapacl"), t));
        }
    }
    out.sort();
    out
}

/// DELETE of a folder with sub-folders keeps its list as a hierarchy level; CREATE
/// brings it back into the folder; RENAME moves folder and level lists: Courier's imapd
/// and postern's folder operations with the `folder_*` hooks leave the same files.
#[test]
fn folder_hooks_leave_the_files_courier_leaves() {
    let Some(courier) = courier_root() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let c_md = d.path().join("courier");
    let p_md = d.path().join("postern");
    for md in [&c_md, &p_md] {
        maildir(md);
        for f in [".a", ".a.b"] {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(md.join(f).join(sub)).unwrap();
            }
            fs::write(md.join(f).join("maildirfolder"), "").unwrap();
        }
        // Sub-folder with a list of its own: when DELETE's scan meets a sub-folder without
        // one, Courier writes it the list of INBOX (the deleted folder is gone and its
        // level file not yet written), for whichever sub-folder readdir() gives first;
        // postern leaves such sub-folders inheriting from the level, as Courier's others.
        fs::write(
            md.join(".a.b/courierimapacl"),
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=ann l\n",
        )
        .unwrap();
    }
    let store = postern::store::Maildir::open(&p_md).unwrap();
    let steps: &[(&str, &dyn Fn())] = &[
        ("SETACL INBOX.a joe lr", &|| {
            acl::set(&p_md, "INBOX.a", "user=joe", "lr").unwrap()
        }),
        ("DELETE INBOX.a", &|| {
            acl::folder_deleted(&p_md, "INBOX.a").unwrap();
            store.delete_folder("INBOX.a").unwrap();
        }),
        ("GETACL INBOX.a.b", &|| {
            acl::load(&p_md, "INBOX.a.b").unwrap();
        }),
        ("CREATE INBOX.a", &|| {
            store.create_folder("INBOX.a").unwrap();
            acl::folder_created(&p_md, "INBOX.a").unwrap();
        }),
        ("RENAME INBOX.a INBOX.c", &|| {
            store.rename_folder("INBOX.a", "INBOX.c").unwrap();
            acl::folder_renamed(&p_md, "INBOX.a", "INBOX.c").unwrap();
        }),
    ];
    for (line, ours) in steps {
        let Some(theirs) = courier_answers(&courier, &c_md, &[line]) else {
            return;
        };
        // Courier 5.0.13's RENAME moves the folders and then dies ("* BYE [ALERT] Fatal
        // error: Not a directory") on the level directory its CREATE left; the files it
        // leaves are still the ones to compare.
        let renamed_then_died = line.starts_with("RENAME");
        assert!(
            renamed_then_died || theirs[0].last().is_some_and(|l| l.starts_with("t0 OK")),
            "{line}: {theirs:?}"
        );
        ours();
        assert_eq!(
            all_acl_files(&p_md),
            all_acl_files(&c_md),
            "{line}: ACL files differ (postern left, Courier right)"
        );
    }
}
