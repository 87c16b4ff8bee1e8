//! kill -9 in the middle of deliveries, appends, expunges and UID database rewrites: no
//! message is lost or doubled, no UID is reused or changed, the database is never corrupt.
//!
//! The crashing processes are `postern deliver` and this test binary re-executed as a
//! helper (`POSTERN_STORE_HELPER` set), which loops over store operations until killed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postern::store::{AppendSource, Flags, Maildir};

#[path = "owner/mod.rs"]
mod owner;

const HELPER: &str = "POSTERN_STORE_HELPER";

struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t ^ (std::process::id() as u64) << 32 | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs in the re-executed child: `append`, `expunge` or `scan` until killed.
#[test]
fn helper() {
    let Ok(job) = std::env::var(HELPER) else {
        return;
    };
    let (what, dir) = job.split_once(':').unwrap();
    let md = Maildir::open(dir).unwrap();
    match what {
        "append" => {
            let pid = std::process::id();
            let mut ledger = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(Path::new(dir).join("ledger"))
                .unwrap();
            for n in 0.. {
                let id = format!("{pid}-{n}");
                let body = format!("Subject: {id}\r\n\r\nid={id}\r\n");
                md.append(
                    "INBOX",
                    AppendSource::Bytes(body.as_bytes()),
                    Flags::SEEN,
                    &["K".into()],
                    None,
                )
                .unwrap();
                ledger.write_all(format!("{id}\n").as_bytes()).unwrap();
                ledger.sync_data().unwrap();
            }
        }
        "expunge" => loop {
            let mut mb = md.open_mailbox("INBOX", false).unwrap();
            mb.expunge(None).unwrap();
        },
        "scan" => loop {
            // New mail keeps arriving, so every open rewrites the UID database.
            md.deliver("INBOX", &mut &b"Subject: s\r\n\r\nid=scan\r\n"[..])
                .unwrap();
            md.open_mailbox("INBOX", false).unwrap();
        },
        _ => panic!("unknown helper job"),
    }
}

fn spawn_helper(job: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["helper", "--exact", "--nocapture", "--test-threads=1"])
        .env(HELPER, format!("{job}:{}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Opens INBOX and checks UID invariants against what earlier rounds saw.
struct Checker {
    by_name: HashMap<String, u32>,
    by_uid: HashMap<u32, String>,
    uid_validity: Option<u32>,
}

impl Checker {
    fn new() -> Checker {
        Checker {
            by_name: HashMap::new(),
            by_uid: HashMap::new(),
            uid_validity: None,
        }
    }

    fn check(&mut self, md: &Maildir) -> postern::store::Mailbox {
        let mb = md.open_mailbox("INBOX", false).unwrap();
        if let Some(v) = self.uid_validity {
            assert_eq!(v, mb.uid_validity(), "UIDVALIDITY changed");
        }
        self.uid_validity = Some(mb.uid_validity());
        let mut last = 0;
        for m in mb.messages() {
            assert!(m.uid > last, "UIDs not ascending");
            last = m.uid;
            assert!(m.uid < mb.uid_next());
            if let Some(u) = self.by_name.insert(m.basename.to_owned(), m.uid) {
                assert_eq!(u, m.uid, "{} changed UID", m.basename);
            }
            if let Some(n) = self.by_uid.insert(m.uid, m.basename.to_owned()) {
                assert_eq!(n, m.basename, "UID {} reused", m.uid);
            }
        }
        let root = md.root();
        assert!(
            !fs::read_dir(root).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt.")),
            "the UID database was found corrupt"
        );
        mb
    }
}

fn ids_in(mb: &postern::store::Mailbox) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for i in 0..mb.len() {
        let body = String::from_utf8(mb.read_message(i).unwrap()).unwrap();
        let id = body.rsplit("id=").next().unwrap().trim().to_string();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

fn kill_after(child: &mut std::process::Child, ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn kill_during_appends_and_deliveries() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    // As root a delivery to a path runs as the Maildir's owner, who must not be root.
    owner::give_to_mail_owner(d.path());
    let bin = env!("CARGO_BIN_EXE_postern");
    let mut rng = Rng::new();
    let mut checker = Checker::new();
    let mut delivered = 0;
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 25 && start.elapsed() < Duration::from_secs(6) {
        rounds += 1;
        let mut app = spawn_helper("append", d.path());
        // A delivery killed at a random moment too.
        let mut del = Command::new(bin)
            .args(["deliver", d.path().to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = del.stdin.take().unwrap();
        let _ = stdin.write_all(format!("Subject: d\r\n\r\nid=deliver-{rounds}\r\n").as_bytes());
        let killed_delivery = rng.below(2) == 0;
        if killed_delivery {
            kill_after(&mut del, rng.below(5));
            drop(stdin);
        } else {
            drop(stdin);
            assert!(del.wait().unwrap().success());
            delivered += 1;
        }
        kill_after(&mut app, 20 + rng.below(60));
        let mb = checker.check(&md);
        let ids = ids_in(&mb);
        for (id, n) in &ids {
            assert_eq!(*n, 1, "{id} stored {n} times");
        }
        let ledger = fs::read_to_string(d.path().join("ledger")).unwrap_or_default();
        for id in ledger.lines() {
            assert!(ids.contains_key(id), "appended message {id} lost");
        }
        for m in mb.messages() {
            if !ids_in_one(&mb, m.uid).starts_with("deliver") {
                assert_eq!(m.keywords, ["K"], "keywords lost for uid {}", m.uid);
            }
        }
    }
    let ids = ids_in(&checker.check(&md));
    let deliveries = ids.keys().filter(|k| k.starts_with("deliver-")).count();
    assert!(deliveries >= delivered, "{deliveries} < {delivered}");
    eprintln!(
        "{rounds} rounds, {} messages, {deliveries} deliveries",
        ids.len()
    );
}

fn ids_in_one(mb: &postern::store::Mailbox, uid: u32) -> String {
    let i = mb.index_of_uid(uid).unwrap();
    let body = String::from_utf8(mb.read_message(i).unwrap()).unwrap();
    body.rsplit("id=").next().unwrap().trim().to_string()
}

#[test]
fn kill_during_expunge() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    let mut rng = Rng::new();
    let mut checker = Checker::new();
    let mut max_uid = 0;
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 15 && start.elapsed() < Duration::from_secs(6) {
        rounds += 1;
        let mut keep = HashSet::new();
        for n in 0..200 {
            let id = format!("{rounds}-{n}");
            let flags = if n % 2 == 0 {
                Flags::DELETED
            } else {
                Flags::SEEN
            };
            let r = md
                .append(
                    "INBOX",
                    AppendSource::Bytes(format!("id={id}\r\n").as_bytes()),
                    flags,
                    &[],
                    None,
                )
                .unwrap();
            assert!(r.uid > max_uid, "UID {} reused", r.uid);
            max_uid = r.uid;
            if n % 2 == 1 {
                keep.insert(id);
            }
        }
        let mut child = spawn_helper("expunge", d.path());
        kill_after(&mut child, 5 + rng.below(40));
        let mb = checker.check(&md);
        let ids = ids_in(&mb);
        for id in &keep {
            assert_eq!(ids.get(id), Some(&1), "kept message {id} lost");
        }
        drop(mb);
        let mut mb = md.open_mailbox("INBOX", false).unwrap();
        mb.expunge(None).unwrap();
        assert!(mb.messages().all(|m| !m.flags.contains(Flags::DELETED)));
    }
    let r = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"id=last\r\n"),
            Flags::default(),
            &[],
            None,
        )
        .unwrap();
    assert!(r.uid > max_uid);
    let q = postern::store::quota::count(md.root()).unwrap();
    assert_eq!(q.1 as usize, checker.check(&md).len());
}

#[test]
fn kill_during_uid_db_rewrites() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    // A large database makes each rewrite take a while.
    for n in 0..3000 {
        fs::write(
            d.path()
                .join(format!("new/{}.M{n}P1.fixture,S=9", 1_700_000_000 + n)),
            b"id=fixed\n",
        )
        .unwrap();
    }
    let mut rng = Rng::new();
    let mut checker = Checker::new();
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 20 && start.elapsed() < Duration::from_secs(6) {
        rounds += 1;
        let mut child = spawn_helper("scan", d.path());
        kill_after(&mut child, 10 + rng.below(80));
        checker.check(&md);
        let db = fs::read(d.path().join("courierimapuiddb")).unwrap();
        assert!(postern::store::uiddb::UidDb::parse(&db).is_ok());
    }
    let mb = checker.check(&md);
    assert!(mb.len() >= 3000);
    assert_eq!(
        mb.len(),
        fs::read_dir(d.path().join("cur")).unwrap().count()
    );
}
