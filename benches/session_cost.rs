//! What one short IMAP session costs the server in CPU: imapbench's C=200 pattern
//! (connect, LOGIN, SELECT INBOX, FETCH 1:10 ENVELOPE, LOGOUT), one session after another
//! through `postern serve`, with the CPU of every process serve started (the login
//! process, whatever it forks, and `postern-session`, which runs in the same process
//! after the login) read from serve's own /proc/PID/stat: the user and system time of
//! the children it has reaped, and its own. Sessions per second under load are what
//! the machine's cores give divided by this, so a change to the per-session cost (an
//! exec, a fork, a library loaded) shows here without the noise of a concurrent run.
//!
//! Accounts come from a user file ({PLAIN}, no password hash), so the figure is the
//! process cost without PAM's. `cargo bench --bench session_cost [-- SIZES [BATCHES
//! [SESSIONS]]]`: SIZES a comma list (default 10000), BATCHES of SESSIONS each (5, 200);
//! the figures are the median batch.

mod common;

use std::time::{Duration, Instant};

use common::{Args, Corpus, Figures, Server, Session, report};

/// User plus system time of `pid` and of the children it has waited for, in seconds.
fn cpu_of_and_reaped(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("serve is alive");
    // The fields after the command name (which may hold spaces); utime, stime, cutime
    // and cstime are fields 14 to 17 of the whole line.
    let after = stat.rsplit_once(')').expect("a stat line").1;
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse::<u64>().expect("a number of clock ticks"))
        .sum();
    // SAFETY: sysconf only reads a system setting.
    let per_second = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / per_second
}

/// One session as imapbench's concurrency test runs it.
fn short_session(port: u16) {
    let mut s = Session::connect(port);
    s.run("LOGIN bench bench");
    s.run("SELECT INBOX");
    s.run("FETCH 1:10 ENVELOPE");
    s.logout();
}

/// Waits until serve has reaped every session (their CPU is counted only then).
fn all_reaped(server: &Server) {
    for _ in 0..500 {
        if server.sessions().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("sessions still running after 5 s");
}

fn cost(corpus: &Corpus, batches: usize, sessions: usize) {
    let n = corpus.count;
    let server = Server::start(&corpus.home);
    for _ in 0..20 {
        short_session(server.port);
    }
    all_reaped(&server);
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..batches {
        let before = cpu_of_and_reaped(server.pid());
        let start = Instant::now();
        for _ in 0..sessions {
            short_session(server.port);
        }
        let elapsed = start.elapsed();
        all_reaped(&server);
        let used = cpu_of_and_reaped(server.pid()) - before;
        cpu.push(Duration::from_secs_f64(used / sessions as f64));
        wall.push(elapsed / sessions as u32);
    }
    report(
        "session_cost",
        n,
        "server CPU per session (LOGIN..LOGOUT)",
        Figures::of(&cpu),
    );
    report(
        "session_cost",
        n,
        "wall time per session, one at a time",
        Figures::of(&wall),
    );
}

fn main() {
    let args = Args::parse();
    let sizes = if std::env::args().skip(1).any(|a| !a.starts_with('-')) {
        args.sizes.clone()
    } else {
        vec![10_000]
    };
    let batches = args.number(0, 5).max(1);
    let sessions = args.number(1, 200).max(1);
    for &count in &sizes {
        cost(&Corpus::get(count), batches, sessions);
    }
}
