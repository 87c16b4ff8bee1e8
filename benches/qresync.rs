//! Mod-sequences (RFC 7162) through the real binary on the large generated folder:
//! - the first CONDSTORE SELECT of a folder no session synced yet (`postern-modseq` made);
//! - SELECT INBOX plain and SELECT INBOX (CONDSTORE) on the unchanged folder, side by side
//!   (what keeping mod-sequences costs a session that asks for them);
//! - the QRESYNC resync after another session changed the flags of 100 messages: a fresh
//!   session's `SELECT INBOX (QRESYNC (uidvalidity modseq))`, timed to its tagged OK, with
//!   the count of untagged lines (100 FETCH lines and the SELECT's own);
//! - STORE of one flag on one message by a CONDSTORE session (the sync after a change).
//!
//! `cargo bench --bench qresync [-- SIZES [ROUNDS]]` (default 100000, 7 rounds). The
//! flags the bench sets (\Flagged) are taken off again at the end.

mod common;

use std::time::{Duration, Instant};

use common::{Args, Corpus, Figures, Server, Session, report, show};

/// Sends `command` and returns every line up to its tagged OK, and the time taken.
fn lines_of(s: &mut Session, command: &str) -> (Vec<String>, Duration) {
    let tag = s.next_tag();
    let t = Instant::now();
    s.send(format!("{tag} {command}\r\n").as_bytes());
    let mut out = Vec::new();
    loop {
        let line = show(&s.line());
        if line.starts_with(&format!("{tag} ")) {
            assert!(line[tag.len() + 1..].starts_with("OK"), "{command}: {line}");
            return (out, t.elapsed());
        }
        out.push(line);
    }
}

/// The number in `[NAME n]` among `lines`.
fn code(lines: &[String], name: &str) -> u64 {
    let key = format!("[{name} ");
    lines
        .iter()
        .find_map(|l| {
            let at = l.find(&key)? + key.len();
            l[at..].split(']').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

fn main() {
    let args = Args::parse();
    let sizes = if std::env::args().skip(1).any(|a| !a.starts_with('-')) {
        args.sizes.clone()
    } else {
        vec![100_000]
    };
    let rounds = args.number(0, 7).max(1);
    for count in sizes {
        let corpus = Corpus::get(count);
        let server = Server::start(&corpus.home);
        let state = corpus.maildir.join("postern-modseq");
        let _ = std::fs::remove_file(&state);
        // A plain session first leaves the index, as any SELECT does, and no \Flagged
        // (an interrupted run may have left some).
        let mut s = server.login();
        s.run("SELECT INBOX");
        s.run("UID STORE 1:* -FLAGS.SILENT (\\Flagged)");
        s.logout();
        corpus.settle();

        let mut s = server.login();
        let (lines, first) = lines_of(&mut s, "SELECT INBOX (CONDSTORE)");
        s.logout();
        report(
            "qresync",
            count,
            "first SELECT (CONDSTORE): postern-modseq made",
            format!("{:.2} ms", first.as_secs_f64() * 1000.0),
        );
        let uidvalidity = code(&lines, "UIDVALIDITY");
        assert!(code(&lines, "HIGHESTMODSEQ") > 0);

        let (mut plain, mut cond) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut s = server.login();
            plain.push(s.time("SELECT INBOX"));
            s.logout();
            let mut s = server.login();
            cond.push(s.time("SELECT INBOX (CONDSTORE)"));
            s.logout();
        }
        report(
            "qresync",
            count,
            "SELECT INBOX, unchanged",
            Figures::of(&plain),
        );
        report(
            "qresync",
            count,
            "SELECT INBOX (CONDSTORE), unchanged",
            Figures::of(&cond),
        );

        // The same without mod-sequences: a plain session's STOREs, and a plain SELECT
        // right after them (the listing a changed folder costs either way).
        let (mut plain_stores, mut plain_selects) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let mut w = server.login();
            w.run("SELECT INBOX");
            for k in 0..100 {
                let uid = 1 + (k * 991) % count;
                let sign = if round % 2 == 0 { '+' } else { '-' };
                let (_, t) = lines_of(&mut w, &format!("UID STORE {uid} {sign}FLAGS (\\Answered)"));
                plain_stores.push(t);
            }
            w.logout();
            let mut r = server.login();
            plain_selects.push(r.time("SELECT INBOX"));
            r.logout();
        }
        report(
            "qresync",
            count,
            "UID STORE of one flag (plain session)",
            Figures::of(&plain_stores),
        );
        report(
            "qresync",
            count,
            "SELECT INBOX after 100 flag changes",
            Figures::of(&plain_selects),
        );
        // Those changes count too: start the resync from here.
        let mut s = server.login();
        s.run("ENABLE CONDSTORE");
        let (lines, _) = lines_of(&mut s, "SELECT INBOX");
        let mut highest = code(&lines, "HIGHESTMODSEQ");
        s.logout();

        let mut times = Vec::new();
        let mut untagged = 0;
        let mut stores = Vec::new();
        for round in 0..rounds {
            // Another session changes 100 messages, spread over the folder.
            let mut w = server.login();
            w.run("ENABLE CONDSTORE");
            w.run("SELECT INBOX");
            for k in 0..100 {
                // The same messages each round, flagged and unflagged in turn.
                let uid = 1 + (k * 997) % count;
                let sign = if round % 2 == 0 { '+' } else { '-' };
                let (_, t) = lines_of(&mut w, &format!("UID STORE {uid} {sign}FLAGS (\\Flagged)"));
                stores.push(t);
            }
            w.logout();
            let mut r = server.login();
            r.run("ENABLE QRESYNC");
            let (lines, t) = lines_of(
                &mut r,
                &format!("SELECT INBOX (QRESYNC ({uidvalidity} {highest}))"),
            );
            r.logout();
            let fetched = lines.iter().filter(|l| l.contains(" FETCH ")).count();
            assert!(
                fetched >= 100,
                "{fetched} FETCH lines for 100 changes: {lines:?}"
            );
            untagged = lines.len();
            highest = code(&lines, "HIGHESTMODSEQ");
            times.push(t);
        }
        report(
            "qresync",
            count,
            "QRESYNC resync after 100 flag changes",
            format!("{} ({untagged} untagged lines)", Figures::of(&times)),
        );
        report(
            "qresync",
            count,
            "UID STORE of one flag (CONDSTORE session)",
            Figures::of(&stores),
        );
        let mut s = server.login();
        s.run("SELECT INBOX");
        s.run("UID STORE 1:* -FLAGS.SILENT (\\Flagged \\Answered)");
        s.logout();
        let _ = std::fs::remove_file(&state);
    }
}
