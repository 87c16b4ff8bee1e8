//! Delivery to `* n EXISTS` latency in IDLE, through the real binary over a socket: a
//! session IDLEs on a folder of COUNT messages while this process delivers (tmp/ then
//! rename into new/, as an MTA does) and times how long the untagged EXISTS takes to
//! arrive after the rename. The goal is 20 ms at 100,000 messages.
//!
//! Every fifth round first lets the folder settle (no change for over a second, as on a
//! quiet server); the others deliver right after the previous announcement.
//!
//! `cargo bench --bench idle_latency [-- SIZES [ROUNDS]]`, SIZES a comma list (default
//! 10000,100000), ROUNDS deliveries per size (default 20).

mod common;

use common::{Args, Corpus, Figures, Server, report};

fn idle(corpus: &Corpus, rounds: usize) {
    let server = Server::start(&corpus.home);
    let mut s = server.login();
    s.run("SELECT INBOX");
    let tag = s.next_tag();
    s.send(format!("{tag} IDLE\r\n").as_bytes());
    s.wait_for("+ ");
    let mut settled = Vec::new();
    let mut busy = Vec::new();
    for round in 0..rounds {
        let quiet = round % 5 == 0;
        if quiet {
            corpus.settle();
        }
        let start = corpus.deliver(round);
        s.wait_for(" EXISTS");
        let took = start.elapsed();
        if quiet { &mut settled } else { &mut busy }.push(took);
    }
    s.send(b"DONE\r\n");
    s.finish(&tag, "IDLE");
    s.logout();
    let n = corpus.count;
    let all: Vec<_> = settled.iter().chain(&busy).copied().collect();
    report(
        "idle_latency",
        n,
        "IDLE delivery -> EXISTS (all rounds)",
        Figures::of(&all),
    );
    report(
        "idle_latency",
        n,
        "  after a settled folder",
        Figures::of(&settled),
    );
    if !busy.is_empty() {
        report(
            "idle_latency",
            n,
            "  right after the previous delivery",
            Figures::of(&busy),
        );
    }
    drop(server);
    corpus.remove_marked();
}

fn main() {
    let args = Args::parse();
    let rounds = args.number(0, 20).max(1);
    for &count in &args.sizes {
        idle(&Corpus::get(count), rounds);
    }
}
