//! Opening a folder of many messages, through the store API and as an IMAP SELECT of the
//! real binary over a socket:
//! - settled: the folder has not changed for more than a second (a quiet server's second
//!   open); opening must read the index/UID database, never a message (checked with the
//!   bytes this process read, `rchar` from /proc/self/io);
//! - after a change: one message was delivered into new/ just before the open, with no
//!   settling delay (the goal is that this costs no more than a settled open);
//! - a session's own flag changes: `UID STORE` of one flag (with the refresh that ends
//!   the command), the LOGOUT that leaves the index exact after them, and another
//!   session's SELECT right after.
//!
//! `cargo bench --bench open_folder [-- SIZES [ROUNDS]]`, SIZES a comma list (default
//! 10000,100000), ROUNDS per figure (default 7). Figures are the median of ROUNDS.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Args, Corpus, Figures, Server, report};
use postern::store::Maildir;

fn rchar() -> u64 {
    let io = fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Opens INBOX read-write through the store API; returns the time and bytes read.
fn open(md: &Maildir, count: usize) -> (Duration, u64) {
    let before = rchar();
    let t = Instant::now();
    let mb = md.open_mailbox("INBOX", false).unwrap();
    let elapsed = t.elapsed();
    let read = rchar() - before;
    assert!(mb.len() >= count, "messages missing");
    assert!(mb.uid_next() as usize > count, "uidnext {}", mb.uid_next());
    (elapsed, read)
}

fn store_opens(corpus: &Corpus, rounds: usize) {
    let n = corpus.count;
    let md = Maildir::open(&corpus.maildir).unwrap();
    if corpus.fresh {
        let (t, read) = open(&md, n);
        report(
            "open_folder",
            n,
            "store: first open (new UID database)",
            format!("{:.2} ms, read {read} bytes", t.as_secs_f64() * 1000.0),
        );
    }
    // One open to let it write whatever it keeps, then let the folder settle.
    open(&md, n);
    corpus.settle();
    let mut times = Vec::new();
    let mut most_read = 0;
    for _ in 0..rounds {
        let (t, read) = open(&md, n);
        times.push(t);
        most_read = most_read.max(read);
    }
    report(
        "open_folder",
        n,
        "store: open, settled folder",
        Figures::of(&times),
    );
    let message_bytes = (n * common::message(n, "bench").len()) as u64;
    report(
        "open_folder",
        n,
        "store: bytes read per settled open (max)",
        most_read,
    );
    assert!(
        most_read < message_bytes / 4,
        "a settled open read {most_read} bytes of {message_bytes}: message files were read"
    );
    let mut times = Vec::new();
    for round in 0..rounds {
        corpus.deliver(round);
        times.push(open(&md, n).0);
    }
    report(
        "open_folder",
        n,
        "store: open right after a delivery",
        Figures::of(&times),
    );
    // A client polling STATUS while deliveries wait in new/ (they stay there: STATUS
    // moves nothing, so each round has one more waiting).
    let mut times = Vec::new();
    for round in 0..rounds {
        corpus.deliver(rounds + round);
        let started = Instant::now();
        md.status("INBOX").unwrap();
        times.push(started.elapsed());
    }
    report(
        "open_folder",
        n,
        "store: STATUS right after a delivery",
        Figures::of(&times),
    );
    open(&md, n);
    corpus.remove_marked();
    corpus.give_back();
}

fn imap_selects(corpus: &Corpus, rounds: usize) {
    let n = corpus.count;
    let server = Server::start(&corpus.home);
    // A first session leaves the folder as a SELECT leaves it; then it settles.
    let mut s = server.login();
    s.run("SELECT INBOX");
    s.logout();
    corpus.settle();
    let mut times = Vec::new();
    for _ in 0..rounds {
        corpus.settle();
        let mut s = server.login();
        times.push(s.time("SELECT INBOX"));
        s.logout();
    }
    report(
        "open_folder",
        n,
        "imap: SELECT INBOX, settled folder",
        Figures::of(&times),
    );
    let mut times = Vec::new();
    for round in 0..rounds {
        let mut s = server.login();
        corpus.deliver(1000 + round);
        times.push(s.time("SELECT INBOX"));
        s.logout();
    }
    report(
        "open_folder",
        n,
        "imap: SELECT INBOX right after a delivery",
        Figures::of(&times),
    );
    corpus.remove_marked();
}

/// One session flags and unflags messages; each STORE's figure includes the refresh
/// that ends the command, and its LOGOUT brings the index up to date. Then a second
/// session SELECTs right after the first one's changes and logout.
fn imap_own_changes(corpus: &Corpus, rounds: usize) {
    let n = corpus.count;
    let server = Server::start(&corpus.home);
    corpus.settle();
    let mut stores = Vec::new();
    let mut logouts = Vec::new();
    let mut selects = Vec::new();
    for round in 0..rounds {
        let mut s = server.login();
        s.run("SELECT INBOX");
        for i in 0..10 {
            let uid = 1 + (round * 10 + i) % n;
            stores.push(s.time(&format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)")));
            stores.push(s.time(&format!("UID STORE {uid} -FLAGS.SILENT (\\Flagged)")));
        }
        let t = Instant::now();
        s.logout();
        logouts.push(t.elapsed());
        let mut s = server.login();
        selects.push(s.time("SELECT INBOX"));
        s.logout();
    }
    report(
        "open_folder",
        n,
        "imap: UID STORE of one flag, with its refresh",
        Figures::of(&stores),
    );
    report(
        "open_folder",
        n,
        // It waits out the file system's clock tick, then leaves the index exact (a
        // diff of it for a few rows, see src/store/index_diff.rs).
        "imap: LOGOUT after those 20 STOREs",
        Figures::of(&logouts),
    );
    report(
        "open_folder",
        n,
        "imap: SELECT right after another session's 20 STOREs",
        Figures::of(&selects),
    );
}

fn main() {
    let args = Args::parse();
    let rounds = args.number(0, 7).max(1);
    for &count in &args.sizes {
        let corpus = Corpus::get(count);
        store_opens(&corpus, rounds);
        imap_selects(&corpus, rounds);
        imap_own_changes(&corpus, rounds);
    }
}
