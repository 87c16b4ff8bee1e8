//! APPEND into the INBOX of a folder of COUNT messages, through the real binary over a
//! socket (the goal: APPEND 1000 into the 100k INBOX itself costs no more than
//! Dovecot's):
//! - a batch of BATCH APPENDs pipelined with LITERAL+ when the server offers it (as
//!   `imapbench.py`'s append1000 does), else one at a time: total time and messages/s;
//! - BATCH/5 APPENDs one at a time with synchronizing literals, each timed from the
//!   command line to its tagged OK, by a session that has INBOX selected (as a mail
//!   client saving a draft does): median of them.
//!
//! What it appended is removed afterwards, so the generated folder keeps COUNT messages.
//!
//! `cargo bench --bench append_large [-- SIZES [BATCH]]`, SIZES a comma list (default
//! 10000,100000), BATCH default 1000.

mod common;

use std::io::Write;
use std::time::Instant;

use common::{Args, Corpus, Figures, Server, Session, message, report};

/// A message as it goes over the wire (CRLF line ends).
fn wire(n: usize) -> Vec<u8> {
    let lf = message(n, "appended");
    let mut out = Vec::with_capacity(lf.len() + 40);
    for line in lf.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// BATCH APPENDs, pipelined with LITERAL+ when offered; returns whether they were.
fn batch(s: &mut Session, batch: usize) -> (std::time::Duration, bool) {
    let literal_plus = s.has_capability("LITERAL+");
    let payloads: Vec<Vec<u8>> = (0..batch).map(wire).collect();
    let start = Instant::now();
    if literal_plus {
        let tags: Vec<String> = (0..batch).map(|_| s.next_tag()).collect();
        let mut writer = s.writer();
        let to_send: Vec<Vec<u8>> = tags
            .iter()
            .zip(&payloads)
            .map(|(t, p)| {
                let mut cmd = format!("{t} APPEND INBOX {{{}+}}\r\n", p.len()).into_bytes();
                cmd.extend_from_slice(p);
                cmd.extend_from_slice(b"\r\n");
                cmd
            })
            .collect();
        let sender = std::thread::spawn(move || {
            for chunk in to_send.chunks(16) {
                writer.write_all(&chunk.concat()).unwrap();
            }
        });
        for t in &tags {
            s.finish(t, "APPEND");
        }
        sender.join().unwrap();
    } else {
        for p in &payloads {
            append_synchronizing(s, p);
        }
    }
    (start.elapsed(), literal_plus)
}

/// One APPEND with a synchronizing literal: command, wait for "+", message, tagged OK.
fn append_synchronizing(s: &mut Session, payload: &[u8]) {
    let tag = s.next_tag();
    s.send(format!("{tag} APPEND INBOX {{{}}}\r\n", payload.len()).as_bytes());
    loop {
        let line = s.line();
        if line.starts_with(b"+") {
            break;
        }
        assert!(
            !line.starts_with(format!("{tag} ").as_bytes()),
            "APPEND refused: {}",
            common::show(&line)
        );
    }
    s.send(payload);
    s.send(b"\r\n");
    s.finish(&tag, "APPEND");
}

fn append(corpus: &Corpus, count: usize) {
    let n = corpus.count;
    let before = corpus.listing();
    let server = Server::start(&corpus.home);
    let mut s = server.login();
    let (took, pipelined) = batch(&mut s, count);
    let secs = took.as_secs_f64();
    report(
        "append_large",
        n,
        &format!(
            "APPEND {count} into INBOX ({})",
            if pipelined {
                "LITERAL+ pipelined"
            } else {
                "one at a time"
            }
        ),
        format!(
            "{:.1} ms total, {:.0} msgs/s",
            secs * 1000.0,
            count as f64 / secs
        ),
    );
    s.run("SELECT INBOX");
    let mut times = Vec::new();
    for i in 0..(count / 5).max(1) {
        let payload = wire(count + i);
        let start = Instant::now();
        append_synchronizing(&mut s, &payload);
        times.push(start.elapsed());
    }
    report(
        "append_large",
        n,
        "one APPEND into the selected INBOX",
        Figures::of(&times),
    );
    s.logout();
    drop(server);
    corpus.remove_added(&before);
}

fn main() {
    let args = Args::parse();
    let count = args.number(0, 1000).max(1);
    for &size in &args.sizes {
        append(&Corpus::get(size), count);
    }
}
