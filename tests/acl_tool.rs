//! `postern maildiracl` against Courier's own `maildiracl` (5.0.13, Debian 12): the same
//! script of `-list`, `-set`, `-delete`, `-compute` and `-reset` runs on two copies of
//! one Maildir, and after every step the output, the messages, the exit code and every
//! file and directory (`courierimapacl`, `courierimaphieracl/`: names, modes, bytes) must
//! be the same. The script includes Courier's refusals: the owner losing `a` or `l`,
//! administrators losing a right, bad identifiers, rights and folder names.
//!
//! Courier is not installed: `tests/courier/fetch-courier.sh` unpacks it into
//! `$POSTERN_COURIER_DIR` (default `/var/cache/postern-test-courier`). Without it the
//! differential test prints `SKIP: ...` and returns; the checks of postern alone still run.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/skip.rs"]
mod skip;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// Courier's maildiracl when it is unpacked and runs here; None after a `SKIP:` line.
fn courier() -> Option<PathBuf> {
    let dir = std::env::var_os("POSTERN_COURIER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-courier"));
    let root = dir.join("root");
    let bin = root.join("usr/bin/maildiracl");
    if !bin.is_file() {
        skip::skip(&format!(
            "{} is missing; run tests/courier/fetch-courier.sh or set POSTERN_COURIER_DIR",
            bin.display()
        ));
        return None;
    }
    let probe = tempfile::tempdir().unwrap();
    let out = courier_cmd(&root, probe.path())
        .args(["-list", "md", "INBOX"])
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).starts_with("owner\t") => Some(root),
        other => {
            skip::skip(&format!(
                "Courier's maildiracl does not run here: {other:?}"
            ));
            None
        }
    }
}

fn courier_cmd(root: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(root.join("usr/bin/maildiracl"));
    c.current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(
            "LD_LIBRARY_PATH",
            format!(
                "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
                root.display()
            ),
        );
    c
}

fn postern_cmd(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd).arg("maildiracl");
    c
}

/// A Maildir `md` in `dir` with folders `.a`, `.a.b` and `.q.r` (no `.q`).
fn make_maildir(dir: &Path) {
    for f in ["", ".a", ".a.b", ".q.r"] {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join("md").join(f).join(sub)).unwrap();
        }
    }
}

/// Every file and directory below `md`: relative path -> (mode, bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for e in fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel + "/", (meta.mode() & 0o7777, Vec::new()));
                walk(base, &path, out);
            } else {
                out.insert(rel, (meta.mode() & 0o7777, fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("md"), &dir.join("md"), &mut out);
    out
}

/// What a run shows: exit code, stdout, stderr with the program's name made neutral.
fn shown(o: &Output, program: &str) -> (Option<i32>, String, String) {
    let err = String::from_utf8_lossy(&o.stderr).replace(program, "PROGRAM");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        err,
    )
}

fn args(line: &str) -> Vec<String> {
    // Words split on '|' so an argument may hold a space.
    line.split('|').map(str::to_string).collect()
}

/// The script: Courier's documented uses and its refusals.
const SCRIPT: &[&str] = &[
    "-list|md|INBOX",
    "-list|md|INBOX.a",
    "-set|md|INBOX|user=joe|lr",
    "-list|md|INBOX.a.b",
    "-set|md|INBOX.a|user=joe|+wd",
    "-set|md|INBOX.a|user=joe|-rx",
    "-set|md|INBOX.a|user=joe|-lwd",
    "-set|md|INBOX.a|owner|lr",
    "-set|md|INBOX.a|owner|-a",
    "-set|md|INBOX.a|administrators|lr",
    "-set|md|INBOX.a|-anyone|r",
    "-set|md|INBOX.a|-user=bob|r",
    "-set|md|INBOX.a|group=staff|+lrk",
    "-set|md|INBOX.a|group=administrators|l",
    "-list|md|INBOX.a",
    "-compute|md|INBOX.a|user=bob",
    "-compute|md|INBOX.a|owner",
    "-compute|md|INBOX.a|user=joe|group=staff",
    "-compute|md|INBOX.a|administrators",
    "-compute|md|INBOX.a|group=administrators",
    "-compute|md|INBOX.a|anyone",
    "-delete|md|INBOX.a|-user=bob",
    "-delete|md|INBOX.a|owner",
    "-delete|md|INBOX.a|nobody",
    "-set|md|INBOX.x.y|anyone|lr",
    "-list|md|INBOX.x",
    "-list|md|INBOX.q",
    "-list|md|Foo",
    "-list|md|inbox",
    "-list|md|INBOX.zz",
    "-list|md|INBOX.a/b",
    "-set|md|INBOX.a|bad id|r",
    "-set|md|INBOX.a|user=q|a b",
    "-set|md|INBOX.a|user=q",
    "-delete|md|INBOX.a",
    "-compute|md|INBOX.a",
    "-list",
    "-frob|md",
    "-list|md",
    "-set|nowhere|INBOX.a|user=q|lr",
    "-reset|md",
];

fn run_script(courier_root: &Path) {
    let c_dir = tempfile::tempdir().unwrap();
    let p_dir = tempfile::tempdir().unwrap();
    make_maildir(c_dir.path());
    make_maildir(p_dir.path());
    let c_prog = courier_root
        .join("usr/bin/maildiracl")
        .display()
        .to_string();
    for line in SCRIPT {
        let a = args(line);
        let c = courier_cmd(courier_root, c_dir.path())
            .args(&a)
            .output()
            .unwrap();
        let p = postern_cmd(p_dir.path()).args(&a).output().unwrap();
        assert_eq!(
            shown(&p, "postern maildiracl"),
            shown(&c, &c_prog),
            "maildiracl {line}: postern (left) and Courier (right) differ"
        );
        assert_eq!(
            snapshot(p_dir.path()),
            snapshot(c_dir.path()),
            "maildiracl {line}: the files differ"
        );
    }
    // -reset removes hierarchy ACLs that are an hour old and no folder needs (x, x.y,
    // zz), and keeps q (folder .q.r is below it).
    for dir in [c_dir.path(), p_dir.path()] {
        for name in fs::read_dir(dir.join("md/courierimaphieracl")).unwrap() {
            let status = Command::new("touch")
                .args(["-d", "2 hours ago"])
                .arg(name.unwrap().path())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    let c = courier_cmd(courier_root, c_dir.path())
        .args(["-reset", "md"])
        .output()
        .unwrap();
    let p = postern_cmd(p_dir.path())
        .args(["-reset", "md"])
        .output()
        .unwrap();
    assert_eq!(shown(&p, "postern maildiracl"), shown(&c, &c_prog));
    let names = |d: &Path| {
        let mut v: Vec<String> = fs::read_dir(d.join("md/courierimaphieracl"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(p_dir.path()), names(c_dir.path()));
    assert_eq!(names(p_dir.path()), ["q"]);
}

#[test]
fn maildiracl_matches_courier_step_by_step() {
    let Some(root) = courier() else { return };
    run_script(&root);
}

#[test]
fn reset_makes_the_hierarchy_directory_like_courier() {
    let Some(root) = courier() else { return };
    let c_dir = tempfile::tempdir().unwrap();
    let p_dir = tempfile::tempdir().unwrap();
    make_maildir(c_dir.path());
    make_maildir(p_dir.path());
    courier_cmd(&root, c_dir.path())
        .args(["-reset", "md"])
        .output()
        .unwrap();
    postern_cmd(p_dir.path())
        .args(["-reset", "md"])
        .output()
        .unwrap();
    assert_eq!(snapshot(p_dir.path()), snapshot(c_dir.path()));
}

/// Without the oracle: the owner's a/l rule and the refusal messages of postern alone.
#[test]
fn owner_cannot_lose_a_or_l() {
    let d = tempfile::tempdir().unwrap();
    make_maildir(d.path());
    let run = |a: &[&str]| postern_cmd(d.path()).args(a).output().unwrap();
    let o = run(&["-set", "md", "INBOX.a", "owner", "-l"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Trying to set invalid access rights for owner\n"
    );
    let o = run(&["-set", "md", "INBOX.a", "administrators", "r"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "md: Invalid argument\n");
    assert_eq!(
        fs::read_to_string(d.path().join("md/.a/courierimapacl")).unwrap(),
        "owner aceilrstwx\nadministrators aceilrstwx\n"
    );
    let o = run(&["-set", "md", "INBOX.a", "user=joe", "lr"]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&["-compute", "md", "INBOX.a", "user=joe"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "lr\n");
}

/// As root on a user's Maildir the tool works as that user: what it writes is the user's,
/// and a link the user planted for tmp/ is not followed as root (the write fails instead
/// of landing in a directory only root may write).
#[test]
fn as_root_it_works_as_the_maildir_owner() {
    if !nix::unistd::geteuid().is_root() {
        return skip::skip("needs root (CI runs as root)");
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        d.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    make_maildir(d.path());
    let md = d.path().join("md");
    let (uid, gid) = (65534, 65534);
    for entry in walk(&md) {
        std::os::unix::fs::lchown(&entry, Some(uid), Some(gid)).unwrap();
    }
    let o = postern_cmd(d.path())
        .args(["-set", "md", "INBOX.a", "user=joe", "lr"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let acl = md.join(".a/courierimapacl");
    assert_eq!(fs::metadata(&acl).unwrap().uid(), uid);

    // The user swaps a folder's tmp/ for a link to a directory only root may write.
    let root_only = d.path().join("root-only");
    fs::create_dir(&root_only).unwrap();
    std::fs::set_permissions(
        &root_only,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    fs::remove_dir(md.join(".a.b/tmp")).unwrap();
    std::os::unix::fs::symlink(&root_only, md.join(".a.b/tmp")).unwrap();
    std::os::unix::fs::lchown(md.join(".a.b/tmp"), Some(uid), Some(gid)).unwrap();
    let o = postern_cmd(d.path())
        .args(["-set", "md", "INBOX.a.b", "user=joe", "lr"])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(fs::read_dir(&root_only).unwrap().count(), 0);
}

/// Every path below `dir`, `dir` included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.is_dir() {
        for e in fs::read_dir(dir).unwrap().flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}
