//! The full-text index (src/store/fts/): building it for a whole folder, its size against
//! the mail, the memory a build holds, and SEARCH TEXT / BODY with a warm index through
//! the real binary, beside the same SEARCH without the index (the scan).
//!
//! `cargo bench --bench fts_search [-- SIZES [ROUNDS]]` on the generated small-message
//! folders (default 10000, 5 rounds). `POSTERN_FTS_HOMES=/a/home,/b/home` runs on
//! existing homes instead (each `home/Maildir`'s INBOX, e.g. copies of
//! ../shared/bench/gen_maildir.py's realistic corpora, owned by nobody as root).
//!
//! Figures: build wall time, MB of mail per second of wall and of CPU (the build is one
//! thread: MB/s per CPU second is MB/s per core), index bytes / mail bytes, the peak RSS
//! the build added; index-only query time (store API) and candidates; SEARCH through the
//! server, warm, median of ROUNDS; the scan once.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Args, Corpus, Figures, Server, report};
use postern::store::Maildir;
use postern::store::fts;

const RARE: &str = "xylophonic";

fn cpu_seconds() -> f64 {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    t(u.user_time()) + t(u.system_time())
}

/// Time process `pid` (or this one) has run on a CPU (/proc/PID/schedstat): a
/// figure the other load of a shared machine does not inflate as it does wall time.
fn on_cpu(pid: Option<u32>) -> Duration {
    let Some(p) = pid else {
        // schedstat of a running thread lags; this clock does not.
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).unwrap();
        return Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32);
    };
    let path = format!("/proc/{p}/schedstat");
    let ns = fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn status_kb(field: &str) -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn give(path: &Path) {
    if let Some((uid, gid)) = common::mail_owner() {
        let _ = std::os::unix::fs::lchown(path, Some(uid), Some(gid));
    }
}

fn bench_home(home: &Path, rounds: usize) {
    let maildir = home.join("Maildir");
    for f in [fts::MAIN, fts::RECENT, "postern-cache.searchtext-1"] {
        let _ = fs::remove_file(maildir.join(f));
    }
    let md = Maildir::open(&maildir).unwrap();
    let mb = md.open_mailbox("INBOX", false).unwrap();
    let count = mb.len();
    let mail: u64 = mb.messages().map(|e| e.size).sum();
    // Peak RSS from here on (Linux: writing 5 to clear_refs resets VmHWM).
    let _ = fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kb("VmRSS:");
    let cpu = cpu_seconds();
    let t = Instant::now();
    let pre = fts::prefilter(&mb, &[RARE.as_bytes()]).expect("index");
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let peak = status_kb("VmHWM:").saturating_sub(rss_before);
    let index: u64 = [fts::MAIN, fts::RECENT]
        .iter()
        .filter_map(|f| fs::metadata(maildir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    let mbytes = mail as f64 / 1e6;
    report(
        "fts_search",
        count,
        "build (whole folder, one thread)",
        format!(
            "{wall:.2} s wall, {cpu:.2} s CPU: {:.1} MB/s wall, {:.1} MB/s per core of {mbytes:.0} MB",
            mbytes / wall,
            mbytes / cpu
        ),
    );
    report(
        "fts_search",
        count,
        "index size",
        format!(
            "{:.1} MB = {:.3} x the mail; build peak RSS +{:.1} MB",
            index as f64 / 1e6,
            index as f64 / mail as f64,
            peak as f64 / 1024.0
        ),
    );
    let _ = pre;
    for needle in [RARE, "meeting", "the"] {
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut cands = 0;
        for _ in 0..rounds {
            let (t, c) = (Instant::now(), on_cpu(None));
            let p = fts::prefilter(&mb, &[needle.as_bytes()]).expect("index");
            times.push(t.elapsed());
            cpu.push(on_cpu(None) - c);
            cands = p.candidates(needle.as_bytes()).unwrap_or(count);
        }
        report(
            "fts_search",
            count,
            &format!("index query {needle:?} ({cands} candidates)"),
            Figures::of(&times),
        );
        report(
            "fts_search",
            count,
            "  the same, CPU time",
            Figures::of(&cpu),
        );
    }
    drop(mb);
    // What the store API wrote here as root (index files, UID database, caches) goes back
    // to the mail owner; the message files were only read.
    for dir in [maildir.clone(), maildir.join("tmp")] {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            give(&e.path());
        }
    }
    let server = Server::start(home);
    let search = |server: &Server, cmd: &str, rounds: usize| -> (Vec<Duration>, String) {
        let mut s = server.login();
        s.run("SELECT INBOX");
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut hits = String::new();
        for _ in 0..rounds {
            let tag = s.next_tag();
            let c = on_cpu(s.pid);
            let t = Instant::now();
            s.send(format!("{tag} {cmd}\r\n").as_bytes());
            loop {
                let line = common::show(&s.line());
                if line.starts_with("* SEARCH") {
                    hits = line;
                } else if line.starts_with(&format!("{tag} ")) {
                    assert!(line.contains("OK"), "{cmd}: {line}");
                    break;
                }
            }
            times.push(t.elapsed());
            cpu.push(on_cpu(s.pid).saturating_sub(c));
        }
        if s.pid.is_some() {
            report(
                "fts_search",
                count,
                &format!("  {cmd}: session CPU time"),
                Figures::of(&cpu),
            );
        }
        s.logout();
        (times, hits)
    };
    let text = format!("SEARCH TEXT {RARE}");
    let (times, indexed_hits) = search(&server, &text, rounds);
    let n = indexed_hits.split(' ').count().saturating_sub(2);
    report(
        "fts_search",
        count,
        &format!("{text} warm index ({n} hits)"),
        Figures::of(&times),
    );
    // A common word: nearly every message is a candidate. The first search reads and
    // decodes them (and keeps their texts, `[fts] cache_text`); the later ones verify from
    // the kept texts.
    let (times, meeting_hits) = search(&server, "SEARCH BODY meeting", rounds.clamp(2, 4));
    report(
        "fts_search",
        count,
        "SEARCH BODY meeting warm index, first (texts not cached yet)",
        Figures::of(&times[..1]),
    );
    report(
        "fts_search",
        count,
        "SEARCH BODY meeting warm index and text cache",
        Figures::of(&times[1..]),
    );
    // The scan: the same server, new sessions with the index off.
    let config: PathBuf = server.dir.path().join("postern.toml");
    let mut settings = fs::read_to_string(&config).unwrap();
    settings.push_str("[fts]\nenabled = false\n");
    fs::write(&config, settings).unwrap();
    let (times, scan_hits) = search(&server, &text, 1);
    report(
        "fts_search",
        count,
        &format!("{text} scan (index off)"),
        Figures::of(&times),
    );
    assert_eq!(indexed_hits, scan_hits, "the index changed the answer");
    let (times, scan_hits) = search(&server, "SEARCH BODY meeting", 1);
    report(
        "fts_search",
        count,
        "SEARCH BODY meeting scan (index off)",
        Figures::of(&times),
    );
    assert_eq!(
        meeting_hits, scan_hits,
        "the index or text cache changed the answer"
    );
}

fn main() {
    let args = Args::parse();
    let rounds = args.number(0, 5);
    fts::configure(fts::Settings {
        catch_up_time: Duration::from_secs(3600),
        ..fts::Settings::default()
    });
    match std::env::var("POSTERN_FTS_HOMES") {
        Ok(homes) => {
            for home in homes.split(',') {
                bench_home(Path::new(home), rounds);
            }
        }
        Err(_) => {
            let sizes = if std::env::args()
                .skip(1)
                .any(|a| a.parse::<usize>().is_ok() || a.contains(','))
            {
                args.sizes.clone()
            } else {
                vec![10_000]
            };
            for size in sizes {
                let corpus = Corpus::get(size);
                bench_home(&corpus.home, rounds);
                corpus.give_back();
            }
        }
    }
}
