//! SORT and THREAD on a folder of COUNT messages with threads, through the real binary:
//! - first: a fresh session on a folder whose sort keys are not cached yet
//!   (`postern-cache.sortkeys-1` and `postern-sortkeys` removed), `SORT (DATE)`: every
//!   header is read once;
//! - warm: `SORT` by ARRIVAL, DATE, SUBJECT, FROM, REVERSE SIZE, and `THREAD` by
//!   REFERENCES and ORDEREDSUBJECT, once the caches are there. A warm SORT must read no
//!   message file: the bytes the session process read (`rchar` of /proc/PID/io; the caches
//!   are mapped, not read) are reported and checked.
//!
//! The folder is its own (`target/tmp/bench-corpus/threads-COUNT`, account `bench`): about
//! a third of the messages start a thread, the others reply to an earlier one (References,
//! `Re:`/`Fwd:`/`[list]` subjects), every Date: distinct and in several zones.
//!
//! Side by side: when Dovecot 2.3 of Debian 12 is unpacked (`tests/dovecot/fetch-dovecot.sh`,
//! `$POSTERN_DOVECOT_DIR`), the same commands are timed in its `imap` (PREAUTH over a
//! pipe, its index and control files outside the folder): its first SORT (which builds its
//! index and cache) and its warm ones, each in a fresh process, as postern's.
//!
//! `cargo bench --bench sort_thread [-- SIZES [ROUNDS]]`, SIZES a comma list (default
//! 10000,100000), ROUNDS per figure (default 5). Figures are the median of ROUNDS.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Args, Figures, Server, mail_owner, report};

/// Bump when the generated messages change.
const VERSION: u32 = 1;

const WORDS: &[&str] = &[
    "budget",
    "release",
    "lunch",
    "meeting",
    "server",
    "outage",
    "party",
    "invoice",
    "travel",
    "report",
    "backup",
    "deploy",
    "review",
    "holiday",
    "printer",
    "coffee",
    "migration",
    "security",
    "hiring",
    "roadmap",
    "quarterly",
    "numbers",
    "office",
    "move",
];

fn give(path: &Path) {
    if let Some((uid, gid)) = mail_owner() {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// A deterministic pseudo-random number for message `n`, draw `k`.
fn rnd(n: usize, k: u64) -> usize {
    let mut x = (n as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(k.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 29)) as usize
}

/// Message `n` (LF line ends): a new thread or a reply to an earlier message.
fn message(n: usize, subjects: &mut Vec<String>) -> Vec<u8> {
    let (subject, refs) = if n == 0 || rnd(n, 1).is_multiple_of(3) {
        let base = format!(
            "{} {} {}",
            WORDS[rnd(n, 2) % WORDS.len()],
            WORDS[rnd(n, 3) % WORDS.len()],
            n % 997
        );
        (base, String::new())
    } else {
        let parent = n - 1 - rnd(n, 4) % n.min(500);
        let base = subjects[parent].clone();
        let subject = match rnd(n, 5) % 5 {
            0 => format!("Fwd: {base}"),
            1 => format!("[list] Re: {base}"),
            _ => format!("Re: {base}"),
        };
        let grand = parent.saturating_sub(1 + rnd(n, 6) % 50);
        (
            subject,
            format!("References: <t{grand}@bench.example>\n <t{parent}@bench.example>\n"),
        )
    };
    subjects.push(
        subject
            .trim_start_matches("Fwd: ")
            .trim_start_matches("[list] Re: ")
            .trim_start_matches("Re: ")
            .to_string(),
    );
    let minutes = (n * 7919) % 1_000_000;
    format!(
        "From: Sender {s} <sender{s}@example.org>\n\
         To: Bench User <bench@example.net>\n\
         Subject: {subject}\n\
         Date: {d} Nov 2023 {h:02}:{m:02}:{sec:02} {zone}\n\
         Message-ID: <t{n}@bench.example>\n\
         {refs}MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=us-ascii\n\
         \n\
         Hello,\n\
         this is message number {n}, part of a thread.\n",
        s = rnd(n, 7) % 397,
        d = 1 + minutes / 1440 % 28,
        h = minutes / 60 % 24,
        m = minutes % 60,
        sec = rnd(n, 8) % 60,
        zone = ["+0000", "+0100", "-0500", "+0900"][rnd(n, 9) % 4],
    )
    .into_bytes()
}

/// The threaded folder for `count` messages: its home, generated unless it is there.
fn corpus(count: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bench-corpus")
        .join(format!("threads-{count}"));
    let home = dir.join("home");
    let maildir = home.join("Maildir");
    let params = format!("version={VERSION} count={count} owner={:?}\n", mail_owner());
    if fs::read_to_string(dir.join(".bench-params")).is_ok_and(|p| p == params) {
        return home;
    }
    let t = Instant::now();
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&home).unwrap();
    for p in [dir.parent().unwrap(), &dir, &home] {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ok = std::process::Command::new(common::BIN)
        .arg("maildirmake")
        .arg(&maildir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "postern maildirmake failed");
    let mut subjects = Vec::with_capacity(count);
    for n in 0..count {
        let body = message(n, &mut subjects);
        let name = format!(
            "{}.M{n}P4243.bench,S={}:2,S",
            1_700_000_000 + n / 10,
            body.len()
        );
        let path = maildir.join("cur").join(name);
        fs::write(&path, &body).unwrap();
        give(&path);
    }
    for sub in ["", "cur", "new", "tmp"] {
        give(&maildir.join(sub));
    }
    give(&home);
    fs::write(dir.join(".bench-params"), params).unwrap();
    println!(
        "generated {count} threaded messages in {} in {:.1} s",
        maildir.display(),
        t.elapsed().as_secs_f64()
    );
    home
}

fn rchar(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The commands timed warm, on both servers.
const WARM: &[&str] = &[
    "SORT (ARRIVAL) UTF-8 ALL",
    "SORT (DATE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT (REVERSE SIZE) UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
];

/// Dovecot's `imap` as a PREAUTH session on a pipe, for the corpus in `home`.
struct Dovecot {
    root: PathBuf,
    state: tempfile::TempDir,
}

impl Dovecot {
    fn find() -> Option<Dovecot> {
        let root = std::env::var_os("POSTERN_DOVECOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-dovecot"))
            .join("root");
        if !root.join("usr/lib/dovecot/imap").is_file() {
            println!(
                "sort_thread: no Dovecot under {} (tests/dovecot/fetch-dovecot.sh)",
                root.display()
            );
            return None;
        }
        let state = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(state.path(), fs::Permissions::from_mode(0o777)).unwrap();
        }
        Some(Dovecot { root, state })
    }

    /// Forgets Dovecot's index, so the next session builds it.
    fn forget(&self) {
        let _ = fs::remove_dir_all(self.state.path().join("index"));
    }

    fn session(&self, home: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
        let st = self.state.path();
        for d in ["index", "control", "run"] {
            fs::create_dir_all(st.join(d)).unwrap();
            give(&st.join(d));
        }
        let conf = st.join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "mail_location = maildir:{}/Maildir:INDEX={s}/index:CONTROL={s}/control\n\
                 base_dir = {s}/run\nlog_path = {s}/dovecot.log\nssl = no\nprotocols = imap\n\
                 default_login_user = nobody\ndefault_internal_user = nobody\n\
                 default_internal_group = nogroup\n",
                home.display(),
                s = st.display()
            ),
        )
        .unwrap();
        let mut c = Command::new(self.root.join("usr/bin/doveconf"));
        if let Some((uid, gid)) = mail_owner() {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        let mut child = c
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env(
                "LD_LIBRARY_PATH",
                format!(
                    "{0}/usr/lib/dovecot:{0}/usr/lib/x86_64-linux-gnu",
                    self.root.display()
                ),
            )
            .env("USER", "bench")
            .env("HOME", home)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(self.root.join("usr/lib/dovecot/imap"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut greeting = String::new();
        out.read_line(&mut greeting).unwrap();
        assert!(greeting.contains("PREAUTH"), "Dovecot: {greeting}");
        (child, out)
    }

    /// Times each command in its own fresh session after SELECT INBOX.
    fn time(&self, home: &Path, command: &str) -> Duration {
        let (mut child, mut out) = self.session(home);
        let mut input = child.stdin.take().unwrap();
        let mut run = |tag: &str, cmd: &str| -> Duration {
            let t = Instant::now();
            input
                .write_all(format!("{tag} {cmd}\r\n").as_bytes())
                .unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                assert!(out.read_line(&mut line).unwrap() > 0, "Dovecot closed");
                if line.starts_with(&format!("{tag} ")) {
                    assert!(line.starts_with(&format!("{tag} OK")), "Dovecot: {line}");
                    return t.elapsed();
                }
            }
        };
        run("s", "SELECT INBOX");
        let took = run("c", command);
        run("l", "LOGOUT");
        drop(input);
        let _ = child.wait();
        took
    }
}

fn dovecot_side(home: &Path, count: usize, rounds: usize) {
    let Some(dovecot) = Dovecot::find() else {
        return;
    };
    let mut first = Vec::new();
    for _ in 0..rounds {
        dovecot.forget();
        first.push(dovecot.time(home, "SORT (DATE) UTF-8 ALL"));
    }
    report(
        "sort_thread",
        count,
        "Dovecot: first SORT (DATE), no index",
        Figures::of(&first),
    );
    for command in WARM {
        let times: Vec<Duration> = (0..rounds).map(|_| dovecot.time(home, command)).collect();
        let what = command.trim_end_matches(" UTF-8 ALL");
        report(
            "sort_thread",
            count,
            &format!("Dovecot: {what}, warm"),
            Figures::of(&times),
        );
    }
}

fn bench(count: usize, rounds: usize) {
    let home = corpus(count);
    let server = Server::start(&home);
    // A first session builds the folder index (SELECT is not what is measured here).
    let mut s = server.login();
    s.run("SELECT INBOX");
    s.run("FETCH 1:* (RFC822.SIZE INTERNALDATE)");
    s.logout();
    let mut first = Vec::new();
    for _ in 0..rounds {
        let _ = fs::remove_file(home.join("Maildir/postern-cache.sortkeys-1"));
        let _ = fs::remove_file(home.join("Maildir/postern-sortkeys"));
        let mut s = server.login();
        s.run("SELECT INBOX");
        first.push(s.time("SORT (DATE) UTF-8 ALL"));
        s.logout();
    }
    report(
        "sort_thread",
        count,
        "first SORT (DATE), no cached keys",
        Figures::of(&first),
    );
    for &command in WARM {
        let mut times = Vec::new();
        let mut read = Vec::new();
        for _ in 0..rounds {
            let mut s = server.login();
            s.run("SELECT INBOX");
            let pid = s.pid.expect("session process");
            let before = rchar(pid);
            times.push(s.time(command));
            read.push(rchar(pid) - before);
            s.logout();
        }
        read.sort_unstable();
        let most = read[read.len() - 1];
        // A message header is some 400 bytes: reading half of them shows here. (What is
        // read is the INTERNALDATE and size caches, some 45 bytes a message, for ARRIVAL
        // and SIZE; the sort keys are mapped.)
        assert!(
            most < (count as u64) * 200,
            "{command} read {most} bytes with warm caches"
        );
        let what = command.trim_end_matches(" UTF-8 ALL");
        report(
            "sort_thread",
            count,
            &format!("{what}, warm (read {} KB)", most / 1024),
            Figures::of(&times),
        );
    }
    drop(server);
    dovecot_side(&home, count, rounds);
}

fn main() {
    let args = Args::parse();
    let rounds = args.number(0, 5).max(1);
    for &count in &args.sizes {
        bench(count, rounds);
    }
}
