//! kill -9 in the middle of deliveries, appends, expunges and UID database rewrites: no
//! message is lost or doubled, no UID is reused or changed, the database is never corrupt.
//!
//! The crashing processes are `postern deliver` and this test binary re-executed as a
//! helper (`POSTERN_STORE_HELPER` set), which loops over store operations until killed.
//!
//! The folder index (`postern-index`, see `src/store/index.rs`) is covered too: killed
//! index writers, an index fooled by restored directory times, and damaged index files.
//! So are the mod-sequences (`postern-modseq`, `src/store/modseq.rs`): writers killed in
//! the middle of flag changes never make a MODSEQ go backwards or stand for two states.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postern::store::{AppendSource, Flags, Maildir};

#[path = "owner/mod.rs"]
mod owner;
#[path = "rng/mod.rs"]
mod rng;

use rng::Rng;

const HELPER: &str = "POSTERN_STORE_HELPER";

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
        w if w.starts_with("index") => index_worker(&md, w[5..].parse().unwrap()),
        "scan" => loop {
            // New mail keeps arriving, so every open rewrites the UID database.
            md.deliver("INBOX", &mut &b"Subject: s\r\n\r\nid=scan\r\n"[..])
                .unwrap();
            md.open_mailbox("INBOX", false).unwrap();
        },
        w if w.starts_with("modseq") => modseq_worker(&md, w[6..].parse().unwrap()),
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
        for id in whole_lines(&ledger) {
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

// ---------------------------------------------------------------------------------------
// The folder index (postern-index) under kill -9.

/// Printed by the index worker just before it drops a Mailbox whose drop saves the index.
const SAVING: &str = "postern-index-saving";
/// The index worker's ledger file.
const LEDGER: &str = "POSTERN_STORE_LEDGER";

/// Child: appends, deliveries, flag changes and expunges on INBOX, each followed by a
/// pause that lets the folder settle and an open whose drop saves postern-index (a
/// settled state that differs from the saved one). Flag changes and expunges touch only
/// messages whose UID has this worker's `parity`, so two workers never race on one
/// message. The ledger gets `F? …`/`X? …` before a change and `F …`/`X …`, `A …`, `D …`
/// once it is acknowledged.
fn index_worker(md: &Maildir, parity: u32) -> ! {
    let pid = std::process::id();
    let mut ledger = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(std::env::var(LEDGER).unwrap())
        .unwrap();
    let mut note = |line: String| {
        ledger.write_all(format!("{line}\n").as_bytes()).unwrap();
        ledger.sync_data().unwrap();
    };
    let mut rng = Rng::new();
    for n in 0.. {
        let id = format!("{pid}-{n}");
        let body = format!("Subject: {id}\r\n\r\nid={id}\r\n");
        match rng.below(4) {
            0 => {
                let r = md
                    .append(
                        "INBOX",
                        AppendSource::Bytes(body.as_bytes()),
                        Flags::empty(),
                        &[],
                        None,
                    )
                    .unwrap();
                note(format!("A {id} {}", r.uid));
            }
            1 => {
                md.deliver("INBOX", &mut body.as_bytes()).unwrap();
                note(format!("D {id}"));
            }
            op => {
                let mut mb = md.open_mailbox("INBOX", false).unwrap();
                let mine: Vec<usize> = (0..mb.len())
                    .filter(|&i| {
                        let m = mb.message(i);
                        m.uid % 2 == parity
                            && !m.is_gone()
                            && (op == 2 || !m.basename.contains("fixture"))
                    })
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let i = mine[rng.below(mine.len() as u64) as usize];
                let uid = mb.message(i).uid;
                if op == 2 {
                    let mut flags = Flags::empty();
                    for f in [Flags::SEEN, Flags::FLAGGED, Flags::ANSWERED] {
                        if rng.below(2) == 0 {
                            flags |= f;
                        }
                    }
                    let kw: Vec<String> = match rng.below(3) {
                        0 => vec![],
                        k => vec![format!("k{k}")],
                    };
                    let shown = format!("{uid} :{} {}", flags.to_info(), kw.join(","));
                    note(format!("F? {shown}"));
                    mb.set_flags(i, flags, &kw).unwrap();
                    note(format!("F {shown}"));
                } else {
                    let m = mb.message(i);
                    let (flags, kw) = (m.flags | Flags::DELETED, m.keywords.to_vec());
                    let id = message_id(&mb.read_message(i).unwrap());
                    note(format!("X? {uid} {id}"));
                    mb.set_flags(i, flags, &kw).unwrap();
                    mb.expunge(Some(&[uid])).unwrap();
                    note(format!("X {uid} {id}"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(110));
        let mb = md.open_mailbox("INBOX", false).unwrap();
        println!("{SAVING}");
        drop(mb);
    }
    unreachable!()
}

fn message_id(body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    body.rsplit("id=").next().unwrap().trim().to_string()
}

/// When to kill an index worker.
enum KillAt {
    /// This many milliseconds after the start.
    After(u64),
    /// This many microseconds after it announced its k-th index save.
    Saving(usize, u64),
}

fn spawn_index_worker(parity: u32, dir: &Path, ledger: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["helper", "--exact", "--nocapture", "--test-threads=1"])
        .env(HELPER, format!("index{parity}:{}", dir.display()))
        .env(LEDGER, ledger)
        .stdout(Stdio::piped())
        .stderr(fs::File::create(ledger.with_extension("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// Kills the worker at `at`; panics (with its stderr) when it died by itself.
fn kill_index_worker(mut child: std::process::Child, at: KillAt, ledger: &Path) {
    // Kept open until the kill, so the worker's next line cannot hit a closed pipe.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    match at {
        KillAt::After(ms) => std::thread::sleep(Duration::from_millis(ms)),
        KillAt::Saving(k, us) => {
            use std::io::BufRead;
            let mut seen = 0;
            let mut line = String::new();
            while seen < k {
                line.clear();
                if out.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                if line.trim_end() == SAVING {
                    seen += 1;
                }
            }
            std::thread::sleep(Duration::from_micros(us));
        }
    }
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "index worker ended by itself ({status}):\n{}",
            fs::read_to_string(ledger.with_extension("stderr")).unwrap_or_default()
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// One message as an open shows it, with everything the index can answer for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    uid: u32,
    basename: String,
    flags: String,
    keywords: BTreeSet<String>,
    size: u64,
    wire_size: u64,
    internal_date: i64,
    id: String,
}

/// (UIDVALIDITY, UIDNEXT, messages) of an open of INBOX.
type View = (u32, u32, Vec<Shown>);

fn view_of(md: &Maildir) -> View {
    view_opened(md, false)
}

/// The view of a writable open, or of a read-only one (EXAMINE), which saves no index.
fn view_opened(md: &Maildir, read_only: bool) -> View {
    let mut mb = md.open_mailbox("INBOX", read_only).unwrap();
    let mut out = Vec::with_capacity(mb.len());
    for i in 0..mb.len() {
        // A message whose file cannot be found shows as u64::MAX and "unreadable" (a
        // damaged index may name files that do not exist).
        let wire_size = mb.wire_size(i).unwrap_or(u64::MAX);
        let m = mb.message(i);
        assert!(!m.is_gone(), "{} gone right after the open", m.basename);
        out.push(Shown {
            uid: m.uid,
            basename: m.basename.to_string(),
            flags: m.flags.to_info(),
            keywords: m.keywords.iter().cloned().collect(),
            size: m.size,
            wire_size,
            internal_date: mb.internal_date(i),
            id: mb
                .read_message(i)
                .map_or("unreadable".into(), |b| message_id(&b)),
        });
    }
    (mb.uid_validity(), mb.uid_next(), out)
}

/// What `fields` of STATUS say (recent, messages, unseen, uidnext, uidvalidity).
fn status_of(md: &Maildir) -> [u32; 5] {
    let s = md.status("INBOX").unwrap();
    [s.recent, s.messages, s.unseen, s.uid_next, s.uid_validity]
}

/// postern-index is absent or a whole, sound index that agrees with the UID database.
fn check_index_file(dir: &Path) -> bool {
    let path = dir.join(postern::store::index::FILE);
    if !path.exists() {
        return false;
    }
    let ix = postern::store::index::Mapped::open(dir).unwrap_or_else(|| {
        panic!(
            "a torn or invalid postern-index is visible ({} bytes)",
            fs::metadata(&path).map_or(0, |m| m.len())
        )
    });
    let db = postern::store::uiddb::UidDb::parse(&fs::read(dir.join("courierimapuiddb")).unwrap())
        .unwrap();
    assert_eq!(ix.uid_validity(), db.uid_validity, "index UIDVALIDITY");
    assert!(
        ix.uid_next() <= db.next_uid,
        "index UIDNEXT ahead of the database"
    );
    let in_db: HashMap<&str, u32> = db.entries.iter().map(|(u, n)| (n.as_str(), *u)).collect();
    let mut last = 0;
    for i in 0..ix.len() {
        let r = ix.record(i);
        let name = ix.file_name(i).expect("index record without a file name");
        assert!(
            r.uid > last && r.uid < ix.uid_next(),
            "index UIDs out of order"
        );
        last = r.uid;
        let base = name.split(':').next().unwrap();
        if let Some(&u) = in_db.get(base) {
            assert_eq!(
                u, r.uid,
                "index gives {base} UID {}, the database {u}",
                r.uid
            );
        }
    }
    true
}

/// Moves postern-index aside, runs `f`, and puts it back unless `f` wrote a new one.
fn without_index<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    let path = dir.join(postern::store::index::FILE);
    let aside = dir.join("index-aside");
    let had = fs::rename(&path, &aside).is_ok();
    let out = f();
    if had && !path.exists() {
        fs::rename(&aside, &path).unwrap();
    } else {
        let _ = fs::remove_file(&aside);
    }
    out
}

/// What the ledgers of killed index workers promise about the folder.
#[derive(Default)]
struct IndexLedger {
    /// id → UID of acknowledged appends, and of acknowledged deliveries once seen (0 before).
    acked: HashMap<String, u32>,
    /// Messages (ids) whose expunge was acknowledged, or begun and found done.
    expunged: HashSet<String>,
    /// UIDs that are gone for good.
    gone: HashSet<u32>,
    /// UID → (flags, keywords) as last seen.
    flags: HashMap<u32, (String, BTreeSet<String>)>,
}

/// One UID's changes in one round: acknowledged and begun.
#[derive(Default)]
struct Touched {
    acked: Option<(String, BTreeSet<String>)>,
    pending: Option<(String, BTreeSet<String>)>,
    expunge_begun: bool,
    expunge_acked: bool,
}

impl IndexLedger {
    /// Checks the folder as `view` shows it against this round's ledger lines, then takes
    /// what it shows as the starting point of the next round.
    fn check(&mut self, lines: &[String], view: &View) {
        let mut touched: HashMap<u32, Touched> = HashMap::new();
        for l in lines {
            let w: Vec<&str> = l.split(' ').collect();
            let state = |w: &[&str]| {
                let kw = w.get(3).map_or(BTreeSet::new(), |k| {
                    k.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                });
                (w[2].trim_start_matches(':').to_string(), kw)
            };
            match w[0] {
                "A" => {
                    self.acked.insert(w[1].into(), w[2].parse().unwrap());
                }
                "D" => {
                    self.acked.insert(w[1].into(), 0);
                }
                "F?" => touched.entry(w[1].parse().unwrap()).or_default().pending = Some(state(&w)),
                "F" => {
                    let t = touched.entry(w[1].parse().unwrap()).or_default();
                    t.acked = Some(state(&w));
                    t.pending = None;
                }
                "X?" => {
                    touched
                        .entry(w[1].parse().unwrap())
                        .or_default()
                        .expunge_begun = true
                }
                "X" => {
                    touched
                        .entry(w[1].parse().unwrap())
                        .or_default()
                        .expunge_acked = true;
                    self.expunged.insert(w[2].into());
                }
                _ => panic!("ledger line {l:?}"),
            }
        }
        let by_uid: HashMap<u32, &Shown> = view.2.iter().map(|m| (m.uid, m)).collect();
        let by_id: HashMap<&str, &Shown> = view.2.iter().map(|m| (m.id.as_str(), m)).collect();
        for (uid, t) in &touched {
            if t.expunge_acked {
                assert!(!by_uid.contains_key(uid), "expunged UID {uid} is back");
            }
            if t.expunge_begun && !by_uid.contains_key(uid) {
                self.gone.insert(*uid);
            }
        }
        for l in lines {
            if let Some(rest) = l.strip_prefix("X? ") {
                let (uid, id) = rest.split_once(' ').unwrap();
                if !by_uid.contains_key(&uid.parse().unwrap()) {
                    self.expunged.insert(id.into());
                }
            }
        }
        for uid in &self.gone {
            assert!(!by_uid.contains_key(uid), "UID {uid} was gone and is back");
        }
        for (id, uid) in self.acked.iter_mut() {
            if self.expunged.contains(id) {
                continue;
            }
            let m = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("acknowledged message {id} (UID {uid}) lost"));
            if *uid == 0 {
                *uid = m.uid;
            }
            assert_eq!(m.uid, *uid, "acknowledged message {id} changed UID");
        }
        for m in &view.2 {
            let now = (m.flags.clone(), m.keywords.clone());
            let before = self.flags.get(&m.uid).cloned();
            match touched.get(&m.uid) {
                Some(t) if t.expunge_begun => {}
                Some(t) => {
                    let base = t.acked.clone().or(before);
                    let mut allowed: Vec<(String, BTreeSet<String>)> =
                        base.iter().cloned().collect();
                    if let Some(p) = &t.pending {
                        allowed.push(p.clone());
                        if let Some(b) = &base {
                            // Killed between the rename and the keyword update.
                            allowed.push((p.0.clone(), b.1.clone()));
                            allowed.push((b.0.clone(), p.1.clone()));
                        }
                    }
                    if base.is_some() || t.pending.is_none() {
                        assert!(
                            allowed.contains(&now),
                            "UID {}: flags {now:?}, allowed {allowed:?}",
                            m.uid
                        );
                    }
                }
                None => {
                    if let Some(b) = before {
                        assert_eq!(now, b, "UID {}: flags changed by nobody", m.uid);
                    }
                }
            }
            self.flags.insert(m.uid, now);
        }
    }
}

/// Files in a folder's tmp/.
fn tmp_litter(dir: &Path) -> Vec<String> {
    fs::read_dir(dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Two workers change INBOX and save its index over and over; each is killed at a random
/// moment, half the time right after it announced an index save (so inside the write of
/// tmp/, fsync, rename). After each round: postern-index is absent or whole and agrees
/// with the UID database; STATUS and an open through the index show exactly what they
/// show without it (a full scan); every acknowledged message is there with its UID, no
/// UID comes back or is reused, acknowledged flags and keywords hold; tmp/ holds at most
/// one leftover per killed process.
#[test]
fn kill_during_index_updates() {
    kill_during_index_updates_of(600);
}

/// The same with a folder large enough (5000 messages and more) that the sessions that
/// change it or move deliveries out of new/ watch it and save the index when they end.
#[test]
fn kill_during_index_updates_of_a_large_folder() {
    kill_during_index_updates_of(5100);
}

fn kill_during_index_updates_of(fixtures: u32) {
    let d = tempfile::tempdir().unwrap();
    let ledgers = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    let dir = d.path();
    // Enough messages that writing the index takes a moment; some without S= so that
    // sizes and dates come from the index or a stat.
    for n in 0..fixtures {
        let name = if n % 5 == 0 {
            format!("{}.M{n}P1.fixture:2,S", 1_700_000_000 + n)
        } else {
            format!("{}.M{n}P1.fixture,S=13:2,", 1_700_000_000 + n)
        };
        fs::write(dir.join("cur").join(name), format!("id=fixture-{n}\n")).unwrap();
    }
    let mut rng = Rng::new();
    let mut checker = Checker::new();
    let mut ledger = IndexLedger::default();
    ledger.check(&[], &view_of(&md));
    let start = Instant::now();
    let (mut rounds, mut kills, mut with_index, mut with_diff) = (0, 0, 0, 0);
    while rounds < 40 && start.elapsed() < Duration::from_secs(5) {
        rounds += 1;
        let paths: Vec<_> = (0..2)
            .map(|p| ledgers.path().join(format!("r{rounds}-{p}")))
            .collect();
        let workers: Vec<_> = (0..2)
            .map(|p| spawn_index_worker(p, dir, &paths[p as usize]))
            .collect();
        let plans: Vec<KillAt> = (0..2)
            .map(|_| {
                if rng.below(2) == 0 {
                    KillAt::After(20 + rng.below(300))
                } else {
                    KillAt::Saving(1 + rng.below(2) as usize, rng.below(4000))
                }
            })
            .collect();
        std::thread::scope(|s| {
            for ((w, at), path) in workers.into_iter().zip(plans).zip(&paths) {
                s.spawn(move || kill_index_worker(w, at, path));
            }
        });
        kills += 2;
        if check_index_file(dir) {
            with_index += 1;
        }
        // A diff that applies is checked with the index below: an open and STATUS go
        // through both, the full scans through neither.
        with_diff += usize::from(dir.join(postern::store::index_diff::FILE).exists());
        let status = status_of(&md);
        assert_eq!(
            status,
            without_index(dir, || status_of(&md)),
            "STATUS through the index"
        );
        let through_index = view_of(&md);
        check_index_file(dir);
        let scanned = without_index(dir, || view_of(&md));
        assert_eq!(
            through_index, scanned,
            "round {rounds}: an open through postern-index differs from a full scan"
        );
        checker.check(&md);
        let lines: Vec<String> = paths
            .iter()
            .flat_map(|p| {
                whole_lines(&fs::read_to_string(p).unwrap_or_default())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        ledger.check(&lines, &scanned);
        let litter = tmp_litter(dir);
        assert!(
            litter.len() <= kills,
            "tmp/ grows faster than processes are killed: {litter:?}"
        );
    }
    // Leftovers that begin like an index or a diff are writes cut short by a kill.
    let litter = tmp_litter(dir);
    let cut_index_writes = litter
        .iter()
        .filter(|n| {
            fs::read(dir.join("tmp").join(n))
                .is_ok_and(|b| b.is_empty() || b.starts_with(b"PSTNIX") || b.starts_with(b"PSTNID"))
        })
        .count();
    eprintln!(
        "{rounds} rounds, {kills} kills, index present after {with_index}, a diff of it after \
         {with_diff}, tmp/ leftovers {} ({cut_index_writes} of them index writes cut short or \
         empty)",
        litter.len()
    );
    assert!(
        with_diff > 0,
        "no round was checked with a diff of the index"
    );
}

// ---------------------------------------------------------------------------------------
// An index that is wrong although its stamp matches, and damaged index files.

/// The times postern-index is valid for: new/, cur/, courierimapkeywords/ and the UID
/// database (a missing one is skipped).
const STAMPED: [&str; 4] = ["new", "cur", "courierimapkeywords", "courierimapuiddb"];

fn stamped_times(dir: &Path) -> Vec<Option<std::time::SystemTime>> {
    STAMPED
        .iter()
        .map(|s| fs::metadata(dir.join(s)).and_then(|m| m.modified()).ok())
        .collect()
}

/// Puts the stamped mtimes back (utimes), as a restore would; the ctimes move anyway.
fn set_stamped_times(dir: &Path, times: &[Option<std::time::SystemTime>]) {
    for (s, t) in STAMPED.iter().zip(times) {
        if let Some(t) = t {
            fs::File::open(dir.join(s))
                .unwrap()
                .set_modified(*t)
                .unwrap();
        }
    }
}

/// A minute ago, with nanoseconds, so that a folder set to it counts as settled at once.
fn a_minute_ago() -> Vec<Option<std::time::SystemTime>> {
    let t =
        std::time::SystemTime::now() - Duration::from_secs(60) + Duration::from_nanos(123_456_789);
    vec![Some(t); STAMPED.len()]
}

/// A folder with flags, keywords, names with and without S=, and a saved index that is
/// exactly valid for it (all stamped times set to `at`).
fn indexed_folder(dir: &Path, at: &[Option<std::time::SystemTime>]) -> Maildir {
    let md = Maildir::create(dir).unwrap();
    for n in 0..30u32 {
        let flags = [
            Flags::empty(),
            Flags::SEEN,
            Flags::FLAGGED | Flags::ANSWERED,
        ][n as usize % 3];
        let kw: Vec<String> = if n % 4 == 0 {
            vec![format!("kw{n}")]
        } else {
            vec![]
        };
        md.append(
            "INBOX",
            AppendSource::Bytes(format!("Subject: {n}\r\n\r\nid=m{n}\r\n").as_bytes()),
            flags,
            &kw,
            None,
        )
        .unwrap();
    }
    for n in 0..5 {
        fs::write(
            dir.join("cur")
                .join(format!("1700000000.M{n}P9.nosize:2,S")),
            format!("id=plain{n}\n"),
        )
        .unwrap();
    }
    // Settle the folder (UIDs, keyword housekeeping), then save the index for `at`.
    drop(md.open_mailbox("INBOX", false).unwrap());
    let _ = fs::remove_file(dir.join(postern::store::index::FILE));
    set_stamped_times(dir, at);
    drop(md.open_mailbox("INBOX", false).unwrap());
    assert!(
        postern::store::index::Mapped::open(dir).is_some(),
        "no index saved for a settled folder"
    );
    md
}

/// A change made behind the index's back whose mtimes are put back with utimes (a
/// restore, `rsync -t`) is still seen: the stamp also holds the directories' ctimes,
/// which utimes cannot put back. The open shows exactly what a scan without the index
/// shows, no message changes UID, and the new file gets a UID never used before.
#[test]
fn stale_index_with_restored_times() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let md = indexed_folder(dir, &a_minute_ago());
    let before = view_of(&md);
    let saved = stamped_times(dir);
    let uid_of = |v: &View, base: &str| v.2.iter().find(|m| m.basename == base).map(|m| m.uid);
    // Behind its back: \Flagged for one message (a rename), one removed, one new file.
    let (b, c) = (&before.2[1], &before.2[2]);
    let cur = dir.join("cur");
    let file_of = |base: &str| {
        fs::read_dir(&cur)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| n.starts_with(base))
            .unwrap()
    };
    assert!(!b.flags.contains('F'));
    fs::rename(
        cur.join(file_of(&b.basename)),
        cur.join(format!("{}:2,F", b.basename)),
    )
    .unwrap();
    fs::remove_file(cur.join(file_of(&c.basename))).unwrap();
    fs::write(cur.join("1700000099.M1P1.behind:2,"), "id=behind\n").unwrap();
    set_stamped_times(dir, &saved);
    assert_eq!(stamped_times(dir), saved, "the mtimes were put back");

    let after = view_of(&md);
    assert_eq!(after, without_index(dir, || view_of(&md)));
    assert_eq!(uid_of(&after, &c.basename), None, "removed message listed");
    assert_eq!(
        after
            .2
            .iter()
            .find(|m| m.uid == b.uid)
            .map(|m| m.flags.as_str()),
        Some("F")
    );
    let behind = after
        .2
        .iter()
        .find(|m| m.id == "behind")
        .expect("new file listed");
    assert!(
        behind.uid >= before.1,
        "new file got a used UID {}",
        behind.uid
    );
    for m in &after.2 {
        if let Some(u) = uid_of(&before, &m.basename) {
            assert_eq!(u, m.uid, "{} changed UID", m.basename);
        }
    }
}

/// Where in postern-index a byte is, by the field it belongs to (see src/store/index.rs).
fn index_field(at: usize, count: usize) -> &'static str {
    const FIELDS: [(usize, &str); 9] = [
        (0, "magic"),
        (8, "uid_validity"),
        (12, "uid_next"),
        (16, "count/names_len"),
        (24, "valid_for"),
        (104, "unseen"),
        (108, "first unseen"),
        (112, "header reserved"),
        (128, ""),
    ];
    if at < 128 {
        return FIELDS.iter().rev().find(|f| f.0 <= at).unwrap().1;
    }
    if at >= 128 + count * 40 {
        return "names";
    }
    match (at - 128) % 40 {
        0..4 => "record uid",
        4..10 => "record name offset/len",
        10 => "record flags",
        11..16 => "record reserved",
        16..24 => "record size",
        24..32 => "record wire size",
        _ => "record date",
    }
}

/// Fields whose damage the format cannot see: the header fields and record values it
/// takes as they are (there is no checksum), and name bytes that still make a file name.
/// A flip there shows wrong data for as long as the index is exactly valid.
const TRUSTED: [&str; 9] = [
    "uid_validity",
    "uid_next",
    "unseen",
    "record uid",
    "record name offset/len",
    "record flags",
    "record size",
    "record wire size",
    "record date",
];

/// Damaged postern-index files never panic an open or STATUS. Damage to the shape
/// (truncated anywhere, wrong magic, names past the end, a count or names length larger
/// than the file) gives exactly the full-scan result; UIDs out of order or not below
/// UIDNEXT give it for an open (STATUS reads only the header and a binary search). Random
/// bit flips give the full-scan result unless they land in a field listed in `TRUSTED`
/// (counted and reported).
#[test]
fn damaged_index_files() {
    use postern::store::index::FILE;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let at = a_minute_ago();
    let md = indexed_folder(dir, &at);
    let truth = without_index(dir, || (status_of(&md), view_of(&md)));
    // The index that open saved is valid for the folder as it is now; the opens below
    // are read-only and move none of the times it was saved for (putting mtimes back
    // would move the ctimes, which the index also holds).
    assert_eq!(postern::store::mailbox::index_is_current(dir), Some(true));
    let good = fs::read(dir.join(FILE)).unwrap();
    let count = postern::store::index::Mapped::open(dir).unwrap().len();
    assert_eq!(count, 35);
    let open_with = |bytes: &[u8]| {
        fs::write(dir.join(FILE), bytes).unwrap();
        // Read-only, so that an open that rejects the damage does not save a new index
        // (and fsync it) every time.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (status_of(&md), view_opened(&md, true))
        }))
    };
    // The undamaged index is exactly valid: a changed flags byte is believed.
    let mut believed = good.clone();
    believed[128 + 10] ^= 1; // bit 0 is \Draft (src/store/flags.rs)
    assert_ne!(
        open_with(&believed).unwrap().1,
        truth.1,
        "index not used as exact"
    );
    assert_eq!(open_with(&good).unwrap(), truth, "the good index");

    let u32_at =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let names_len = u32::from_le_bytes(good[20..24].try_into().unwrap());
    let mut shaped: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in (0..good.len()).step_by(7).chain(good.len() - 3..good.len()) {
        shaped.push((format!("truncated at {cut}"), good[..cut].to_vec()));
    }
    for i in 0..8 {
        let mut b = good.clone();
        b[i] ^= 0x20;
        shaped.push((format!("magic byte {i}"), b));
    }
    let mut b = good.clone();
    b[7] = 1;
    shaped.push(("version 1 magic".into(), b));
    for (what, off, len) in [
        ("name offset at the end", names_len, 5u16),
        ("name offset past the end", names_len + 40, 5),
        ("name offset u32::MAX", u32::MAX, 5),
        ("name length past the end", 0, u16::MAX),
        ("empty name", 0, 0),
    ] {
        let mut b = good.clone();
        let r = 128 + 40 * (count / 2);
        u32_at(&mut b, r + 4, off);
        b[r + 8..r + 10].copy_from_slice(&len.to_le_bytes());
        shaped.push((what.into(), b));
    }
    for (what, field, v) in [
        ("count + 1", 16, count as u32 + 1),
        ("count u32::MAX", 16, u32::MAX),
        ("count - 1", 16, count as u32 - 1),
        ("names_len + 1", 20, names_len + 1),
        ("names_len u32::MAX", 20, u32::MAX),
    ] {
        let mut b = good.clone();
        u32_at(&mut b, field, v);
        shaped.push((what.into(), b));
    }
    let mut b = good.clone();
    b.extend_from_slice(&[0; 40]);
    shaped.push(("40 bytes more than count says".into(), b));
    let mut b = good.clone();
    let (r1, r2) = (128 + 40 * 3, 128 + 40 * 4);
    let first: Vec<u8> = b[r1..r1 + 4].to_vec();
    b.copy_within(r2..r2 + 4, r1);
    b[r2..r2 + 4].copy_from_slice(&first);
    let mut uids: Vec<(String, Vec<u8>)> = Vec::new();
    uids.push(("two UIDs swapped".into(), b));
    let mut b = good.clone();
    u32_at(
        &mut b,
        128 + 40 * (count - 1),
        u32::from_le_bytes(good[12..16].try_into().unwrap()),
    );
    uids.push(("last UID = UIDNEXT".into(), b));
    let mut b = good.clone();
    u32_at(&mut b, 128, 0);
    uids.push(("UID 0".into(), b));
    let mut b = good.clone();
    let nul = 128 + 40 * count + 3;
    b[nul] = b'/';
    shaped.push(("a '/' in a name".into(), b));
    let mut b = good.clone();
    b[nul] = 0xff;
    shaped.push(("a name that is not UTF-8".into(), b));
    for (what, bytes) in &shaped {
        match open_with(bytes) {
            Ok(seen) => assert_eq!(seen, truth, "{what}: not the full-scan result"),
            Err(_) => panic!("{what}: the open panicked"),
        }
    }
    // Damage to the record UIDs: an open checks every record and scans instead. STATUS
    // reads only the header and binary-searches the UIDs for \Recent, so such damage can
    // show in its RECENT count (reported, not asserted).
    for (what, bytes) in &uids {
        match open_with(bytes) {
            Ok(seen) => {
                assert_eq!(seen.1, truth.1, "{what}: not the full-scan result");
                if seen.0 != truth.0 {
                    eprintln!(
                        "{what}: STATUS (RECENT MESSAGES UNSEEN UIDNEXT UIDVALIDITY) {:?}, \
                         a full scan {:?}",
                        seen.0, truth.0
                    );
                }
            }
            Err(_) => panic!("{what}: the open panicked"),
        }
    }

    // Single bit flips anywhere.
    let mut rng = Rng::new();
    let mut undetected: BTreeMap<&str, usize> = BTreeMap::new();
    let flips = 400;
    for _ in 0..flips {
        let at = rng.below(good.len() as u64) as usize;
        let mut b = good.clone();
        b[at] ^= 1 << rng.below(8);
        let field = index_field(at, count);
        match open_with(&b) {
            Err(_) => panic!("bit flip at {at} ({field}): the open panicked"),
            Ok(seen) if seen == truth => {}
            Ok(_) => {
                let trusted = TRUSTED.contains(&field) || field == "names";
                assert!(
                    trusted,
                    "bit flip at {at} ({field}): not the full-scan result"
                );
                *undetected.entry(field).or_default() += 1;
            }
        }
    }
    eprintln!("{flips} bit flips; shown as if true (no checksum): {undetected:?}");
    // Still as the index saw it: no answer above was the scan's for the wrong reason.
    fs::write(dir.join(FILE), &good).unwrap();
    assert_eq!(postern::store::mailbox::index_is_current(dir), Some(true));

    // The whole check is made once per index file and recorded (postern-index.checked):
    // damage written after a check, even at once and of the same size, is not covered by
    // it, and a damaged index is never recorded as checked.
    use postern::store::index::CHECKED_FILE;
    fs::write(dir.join(FILE), &good).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let _ = fs::remove_file(dir.join(CHECKED_FILE));
    assert_eq!(view_opened(&md, false), truth.1);
    assert!(
        postern::store::index::Mapped::open(dir)
            .unwrap()
            .vouched(dir),
        "a writable open records its check of a settled index"
    );
    for (what, bytes) in shaped
        .iter()
        .chain(&uids)
        .filter(|s| s.1.len() == good.len())
    {
        match open_with(bytes) {
            Ok(seen) => assert_eq!(
                seen.1, truth.1,
                "{what} after a check: not the full-scan result"
            ),
            Err(_) => panic!("{what} after a check: the open panicked"),
        }
        std::thread::sleep(Duration::from_millis(30));
        drop(md.open_mailbox("INBOX", false).unwrap());
        assert!(
            postern::store::index::Mapped::open(dir).is_none_or(|m| !m.vouched(dir) || m.sound()),
            "{what}: a damaged index recorded as checked"
        );
    }
    fs::remove_file(dir.join(FILE)).unwrap();
}

/// SELECT's figures from an exactly valid index (no pass over the messages): the first
/// message without \Seen and the \Recent count agree with a pass over the rows, also
/// after this session changed the flags of the header's first unseen message, and in
/// the next session.
#[test]
fn select_figures_from_the_index() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let md = indexed_folder(dir, &a_minute_ago());
    let by_pass = |mb: &postern::store::Mailbox| {
        let unseen = mb.messages().position(|m| !m.flags.contains(Flags::SEEN));
        let recent = mb.messages().filter(|m| m.recent).count();
        (unseen, recent)
    };
    let mut mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.cur_listings(), 0, "not opened from the index alone");
    assert_eq!(mb.first_unseen(), Some(0));
    assert_eq!((mb.first_unseen(), mb.recent_count()), by_pass(&mb));
    mb.set_flags(0, Flags::SEEN, &[]).unwrap();
    assert_eq!(mb.first_unseen(), Some(2));
    mb.set_flags(1, Flags::empty(), &[]).unwrap();
    assert_eq!(mb.first_unseen(), Some(1));
    mb.set_flags(1, Flags::SEEN, &[]).unwrap();
    assert_eq!((mb.first_unseen(), mb.recent_count()), by_pass(&mb));
    // Expunges of index rows (few changes: the rows stay in the index): the rows after
    // them move down, as a fresh open shows.
    let uids = |mb: &postern::store::Mailbox| mb.messages().map(|m| m.uid).collect::<Vec<_>>();
    let before = uids(&mb);
    for i in [2, 5] {
        mb.set_flags(i, Flags::DELETED, &[]).unwrap();
    }
    assert_eq!(mb.expunge(None).unwrap(), [6, 3]);
    let left: Vec<u32> = (before.iter().enumerate())
        .filter(|(i, _)| ![2, 5].contains(i))
        .map(|(_, u)| *u)
        .collect();
    assert_eq!(uids(&mb), left);
    assert_eq!(mb.index_of_uid(left[5]), Some(5));
    assert_eq!((mb.first_unseen(), mb.recent_count()), by_pass(&mb));
    assert_eq!(mb.first_unseen(), Some(2), "the next unseen moved down");
    let view = view_of(&md);
    assert_eq!(view.2.iter().map(|m| m.uid).collect::<Vec<_>>(), left);
    for (i, m) in view.2.iter().enumerate() {
        assert_eq!(mb.message(i).basename, m.basename);
    }
    drop(mb);
    let r = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"id=new\r\n"),
            Flags::SEEN,
            &[],
            None,
        )
        .unwrap();
    let mut mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.last_uid(), r.uid);
    assert_eq!(mb.first_unseen(), Some(2));
    assert_eq!(mb.len(), 34);
    assert_eq!((mb.first_unseen(), mb.recent_count()), by_pass(&mb));
    assert_eq!(mb.recent_count(), 1, "the appended message");
    for i in 0..mb.len() {
        mb.set_flags(i, Flags::SEEN, &[]).unwrap();
    }
    assert_eq!(mb.first_unseen(), None);
}

/// A size claim far beyond the file (`,S=` in a name, or a damaged index record) must not
/// be taken as a buffer size: reading such a message aborted the process ("memory
/// allocation of 140737488355348 bytes failed").
#[test]
fn huge_size_claims_do_not_abort_a_read() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    fs::write(
        d.path()
            .join("cur/1700000000.M1P1.host,S=140737488355348:2,S"),
        "id=small\n",
    )
    .unwrap();
    let mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(
        mb.message(0).size,
        140737488355348,
        "the claim is shown as it is"
    );
    assert_eq!(mb.read_message(0).unwrap(), b"id=small\n");
}

/// UIDNEXT after the newest UID was used and expunged since the index was saved: an open
/// through the index must not announce a UIDNEXT that was already given out (RFC 3501
/// §2.3.1.1: it changes whenever new messages are added, "even if those new messages are
/// subsequently expunged").
#[test]
fn uidnext_through_the_index_counts_expunged_appends() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let md = indexed_folder(dir, &a_minute_ago());
    let r = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"id=gone\r\n"),
            Flags::DELETED,
            &[],
            None,
        )
        .unwrap();
    assert_eq!(r.uid, 36);
    let mut mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.expunge(None).unwrap().len(), 1);
    drop(mb);
    let through_index = view_of(&md);
    assert_eq!(through_index.1, 37, "UIDNEXT through the index");
    assert_eq!(status_of(&md)[3], 37, "STATUS UIDNEXT");
    assert_eq!(through_index, without_index(dir, || view_of(&md)));
}

// ---------------------------------------------------------------------------------------
// Mod-sequences (RFC 7162) under kill -9.

/// Changes flags and keywords of random messages and syncs the mod-sequences, as a
/// CONDSTORE session's STORE does, then writes to the ledger (synced) each state with the
/// MODSEQ it was given: what a client would have been told. Runs until killed.
fn modseq_worker(md: &Maildir, seed: u64) -> ! {
    let mut rng = Rng::new();
    let mut ledger = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(
            md.root()
                .join(format!("modseq-ledger-{seed}-{}", std::process::id())),
        )
        .unwrap();
    let mut mb = md.open_mailbox("INBOX", false).unwrap();
    mb.track_modseqs(1000).unwrap();
    loop {
        let n = mb.len();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(n as u64) as usize;
            let flag = [Flags::SEEN, Flags::FLAGGED, Flags::ANSWERED][rng.below(3) as usize];
            let kw = format!("k{}", rng.below(3));
            let change = if rng.below(2) == 0 {
                postern::store::FlagChange {
                    add: flag,
                    add_keywords: vec![kw],
                    ..Default::default()
                }
            } else {
                postern::store::FlagChange {
                    remove: flag,
                    remove_keywords: vec![kw],
                    ..Default::default()
                }
            };
            let _ = mb.change_flags(i, &change);
        }
        let _ = mb.refresh(true);
        mb.sync_modseqs().unwrap();
        let mut lines = String::new();
        for i in 0..mb.len() {
            let m = mb.message(i);
            let fp = postern::store::modseq::fingerprint(m.flags, m.keywords);
            lines.push_str(&format!("{} {} {fp}\n", m.uid, mb.modseq(i).unwrap()));
        }
        ledger.write_all(lines.as_bytes()).unwrap();
        ledger.sync_data().unwrap();
    }
}

/// The lines of a ledger that reached their `\n`. A writer killed during a write that
/// crosses a page of the page cache leaves the part before the boundary, and a torn
/// line may still parse (an id or a fingerprint cut short): it was never a promise.
fn whole_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
        .filter_map(|line| line.strip_suffix('\n'))
}

/// Every (uid, modseq, fingerprint) the ledgers say a client was told.
fn modseq_ledgers(dir: &Path) -> Vec<(u32, u64, u64)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if !e
            .file_name()
            .to_string_lossy()
            .starts_with("modseq-ledger-")
        {
            continue;
        }
        for line in whole_lines(&fs::read_to_string(e.path()).unwrap()) {
            let f: Vec<&str> = line.split(' ').collect();
            if let [u, m, fp] = f[..]
                && let (Ok(u), Ok(m), Ok(fp)) = (u.parse(), m.parse(), fp.parse())
            {
                out.push((u, m, fp));
            }
        }
    }
    out
}

#[test]
fn kill_during_stores_never_moves_modseqs_back() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    for n in 0..30 {
        md.append(
            "INBOX",
            AppendSource::Bytes(format!("id={n}\r\n").as_bytes()),
            Flags::default(),
            &[],
            None,
        )
        .unwrap();
    }
    let mut rng = Rng::new();
    let start = Instant::now();
    let mut rounds = 0;
    // On a loaded machine a helper (this test binary, started again) may not reach its
    // first STORE before the kill: until one has, the writers get more time each round.
    let mut grace = 0;
    while rounds < 20 && start.elapsed() < Duration::from_secs(8) {
        rounds += 1;
        // Two writers at once, killed at different moments.
        let mut a = spawn_helper(&format!("modseq{rounds}"), d.path());
        let mut b = spawn_helper(&format!("modseq{}", rounds + 100), d.path());
        kill_after(&mut a, grace + 10 + rng.below(60));
        kill_after(&mut b, grace + rng.below(30));
        let told = modseq_ledgers(d.path());
        if told.is_empty() {
            grace += 200;
        }
        // Never one MODSEQ for two states of a message.
        let mut state_of: HashMap<(u32, u64), u64> = HashMap::new();
        for &(uid, m, fp) in &told {
            if let Some(&other) = state_of.get(&(uid, m)) {
                assert_eq!(other, fp, "UID {uid}: MODSEQ {m} stood for two states");
            }
            state_of.insert((uid, m), fp);
        }
        // Now: at or above everything told, and equal only for the same state.
        let mut mb = md.open_mailbox("INBOX", false).unwrap();
        let highest = mb.track_modseqs(1000).unwrap();
        let mut now: HashMap<u32, (u64, u64)> = HashMap::new();
        for i in 0..mb.len() {
            let m = mb.message(i);
            let fp = postern::store::modseq::fingerprint(m.flags, m.keywords);
            now.insert(m.uid, (mb.modseq(i).unwrap(), fp));
        }
        for &(uid, m, fp) in &told {
            let (cur, cur_fp) = now[&uid];
            assert!(cur >= m, "UID {uid}: MODSEQ went back from {m} to {cur}");
            assert!(highest >= m, "HIGHESTMODSEQ {highest} below {m}");
            if cur == m {
                assert_eq!(
                    cur_fp, fp,
                    "UID {uid}: MODSEQ {m} now stands for another state"
                );
            }
        }
    }
    assert!(
        !modseq_ledgers(d.path()).is_empty(),
        "the writers told nothing in {rounds} rounds"
    );
    eprintln!(
        "{rounds} rounds, {} states told",
        modseq_ledgers(d.path()).len()
    );
}
