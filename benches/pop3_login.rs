//! POP3 login on a maildrop of COUNT messages through the real binary: `postern pop3d
//! --inetd` on pipes (the program `serve` starts per connection), timed from the spawn to
//! the `+OK` of PASS, as imapbench's "connect+USER/PASS" is, and to the answer of the
//! STAT that follows (the maildrop is locked at PASS but numbered at the first command
//! that needs it, so the second figure holds the numbering); then QUIT.
//! - settled: nothing changed since the last session (index and size list both current);
//! - after a flag change: another client renamed one message in cur/ just before, so the
//!   folder index must be reconciled with a listing (imapbench's loop, which RETRs every
//!   message and puts the names back, always logs in to such a folder).
//!
//! The first login of a run that finds no `courierpop3dsizelist` measures every message
//! once (as Courier does) and is reported apart.
//!
//! `cargo bench --bench pop3_login [-- SIZES [ROUNDS]]`, SIZES a comma list (default
//! 10000,100000), ROUNDS per figure (default 30). `POSTERN_BENCH_BIN=PATH` times another
//! build of postern (e.g. one from before a change) on the same folder.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Args, BIN, Corpus, Figures, Server, report};

/// The times of one session (see the module comment).
struct Times {
    login: Duration,
    login_stat: Duration,
}

/// One session: spawn, USER/PASS (timed), STAT (timed), QUIT. Returns the times and the
/// STAT answer.
fn login(config: &Path) -> (Times, String) {
    let bin = std::env::var_os("POSTERN_BENCH_BIN")
        .filter(|b| !b.is_empty())
        .unwrap_or(BIN.into());
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(["pop3d", "--inetd", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut exchange = |command: &str| {
        if !command.is_empty() {
            input
                .write_all(format!("{command}\r\n").as_bytes())
                .unwrap();
        }
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{command}: {line}");
        line.trim_end().to_owned()
    };
    exchange("");
    exchange("USER bench");
    exchange("PASS bench");
    let login = start.elapsed();
    let stat = exchange("STAT");
    let login_stat = start.elapsed();
    exchange("QUIT");
    child.wait().unwrap();
    (Times { login, login_stat }, stat)
}

/// The name in cur/ of the message whose basename is `base`.
fn current_name(corpus: &Corpus, base: &str) -> String {
    std::fs::read_dir(corpus.maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.split(':').next() == Some(base))
        .unwrap()
}

/// Toggles \Flagged of message `base` in cur/ by a rename, as another client's STORE.
fn toggle_flagged(corpus: &Corpus, base: &str) {
    let name = current_name(corpus, base);
    let (_, flags) = name.split_once(":2,").unwrap_or((&name, ""));
    let mut flags: Vec<char> = flags.chars().collect();
    match flags.iter().position(|&c| c == 'F') {
        Some(at) => {
            flags.remove(at);
        }
        None => flags.push('F'),
    }
    flags.sort_unstable();
    let renamed = format!("{base}:2,{}", flags.into_iter().collect::<String>());
    let cur = corpus.maildir.join("cur");
    std::fs::rename(cur.join(&name), cur.join(renamed)).unwrap();
}

fn logins(corpus: &Corpus, rounds: usize) {
    let n = corpus.count;
    // Only its settings are used: a user file and the mail owner for sessions.
    let server = Server::start(&corpus.home);
    let config = server.dir.path().join("postern.toml");
    let list = corpus.maildir.join("courierpop3dsizelist");
    let first_ever = !list.exists();
    let (first, stat) = login(&config);
    assert!(stat.starts_with(&format!("+OK {n} ")), "{stat}");
    if first_ever {
        report(
            "pop3_login",
            n,
            "first login (sizes measured, list written)",
            format!("{:.2} ms", first.login_stat.as_secs_f64() * 1000.0),
        );
    }
    corpus.settle();
    // One session to leave an index for the settled state.
    login(&config);
    let times: Vec<Times> = (0..rounds).map(|_| login(&config).0).collect();
    report_times(n, "settled maildrop", &times);

    let first_name = std::fs::read_dir(corpus.maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .min()
        .unwrap();
    let base = first_name.split(':').next().unwrap().to_owned();
    let mut times = Vec::new();
    for _ in 0..rounds {
        toggle_flagged(corpus, &base);
        times.push(login(&config).0);
    }
    report_times(n, "right after a flag change", &times);
    // Leave the message as the corpus had it.
    let cur = corpus.maildir.join("cur");
    std::fs::rename(cur.join(current_name(corpus, &base)), cur.join(&first_name)).unwrap();
}

fn report_times(n: usize, state: &str, times: &[Times]) {
    let login: Vec<Duration> = times.iter().map(|t| t.login).collect();
    report(
        "pop3_login",
        n,
        &format!("login, {state}"),
        Figures::of(&login),
    );
    let stat: Vec<Duration> = times.iter().map(|t| t.login_stat).collect();
    report(
        "pop3_login",
        n,
        &format!("login+STAT, {state}"),
        Figures::of(&stat),
    );
}

fn main() {
    let args = Args::parse();
    let rounds = args.number(0, 30).max(1);
    for &count in &args.sizes {
        let corpus = Corpus::get(count);
        logins(&corpus, rounds);
    }
}
