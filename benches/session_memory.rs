//! Memory of one IMAP session on a folder of COUNT messages, through the real binary: the
//! resident set (VmRSS from /proc/PID/status) of the per-connection process `serve`
//! starts for the session, after LOGIN, after SELECT INBOX and after FETCH 1:*
//! ENVELOPE (the goals: after SELECT no more than Dovecot's session, after the
//! FETCH at most half of it). Also the peak (VmHWM) and the FETCH's time.
//!
//! `cargo bench --bench session_memory [-- SIZES [ROUNDS]]`, SIZES a comma list (default
//! 10000,100000); ROUNDS sessions per size (default 3), figures are their median.

mod common;

use std::time::Instant;

use common::{Args, Corpus, Figures, Server, report, status_kb};

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn memory(corpus: &Corpus, rounds: usize) {
    let n = corpus.count;
    let server = Server::start(&corpus.home);
    // One session first, so the rounds find the folder as a SELECT leaves it.
    let mut s = server.login();
    s.run("SELECT INBOX");
    s.logout();
    let (mut login, mut select, mut fetch, mut peak, mut times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut s = server.login();
        let pid = s
            .pid
            .expect("the session's process was not found under serve");
        login.push(s.rss_kb().unwrap());
        s.run("SELECT INBOX");
        select.push(s.rss_kb().unwrap());
        let start = Instant::now();
        let (untagged, _) = s.run("FETCH 1:* ENVELOPE");
        times.push(start.elapsed());
        assert!(
            untagged >= n,
            "FETCH answered {untagged} lines for {n} messages"
        );
        fetch.push(s.rss_kb().unwrap());
        peak.push(status_kb(pid, "VmHWM").unwrap());
        s.logout();
    }
    report(
        "session_memory",
        n,
        "session RSS after LOGIN",
        mb(median(login)),
    );
    report(
        "session_memory",
        n,
        "session RSS after SELECT INBOX",
        mb(median(select)),
    );
    report(
        "session_memory",
        n,
        "session RSS after FETCH 1:* ENVELOPE",
        mb(median(fetch)),
    );
    report(
        "session_memory",
        n,
        "session peak RSS (VmHWM)",
        mb(median(peak)),
    );
    report(
        "session_memory",
        n,
        "FETCH 1:* ENVELOPE time",
        Figures::of(&times),
    );
}

fn main() {
    let args = Args::parse();
    let rounds = args.number(0, 3).max(1);
    for &count in &args.sizes {
        memory(&Corpus::get(count), rounds);
    }
}
