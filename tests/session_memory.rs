//! A session gives back what one large command used (issue 13, session memory). A first
//! FETCH 1:* ENVELOPE parses every message and fills the envelope cache; afterwards the
//! session's private memory is about what it was after SELECT, and the pages of the
//! folder's index it read are no longer part of it (they stay in the page cache).
//! Measured on the real session process through /proc/PID/smaps.

mod common;

use std::fs;
use std::time::Duration;

use common::{TestServer, message, server_pid_of_port};

/// What a session process holds, in kB.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// Private memory: heap, stacks, anonymous maps.
    anonymous: u64,
    /// Resident pages of its mapping of the folder's postern-index.
    index: u64,
}

fn held(pid: u32) -> Held {
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).expect("the session is alive");
    let (mut anonymous, mut index, mut in_index) = (0, 0, false);
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's first line: range, perms, offset, device, inode, path.
            // (The session may have replaced the file meanwhile: " (deleted)".)
            in_index = line
                .trim_end_matches(" (deleted)")
                .ends_with("/postern-index");
            continue;
        }
        let kb = || {
            words
                .clone()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match first {
            "Anonymous:" => anonymous += kb(),
            "Rss:" if in_index => index += kb(),
            _ => {}
        }
    }
    Held { anonymous, index }
}

#[test]
fn a_large_fetch_leaves_the_session_small() {
    large_fetch_leaves_the_session_small("SELECT");
}

/// EXAMINE writes no cache: what the FETCH built must not stay with the session either.
#[test]
fn a_large_fetch_in_a_read_only_session_leaves_it_small() {
    large_fetch_leaves_the_session_small("EXAMINE");
}

/// Through `postern serve`, where the session is `postern-session` (glibc's per-thread
/// cache off, see src/heap.rs), measured the moment the FETCH's tagged OK arrives: the
/// heap is given back before the answer, and the blocks the cache would keep no longer
/// hold the pages between them (with the cache on, 436 kB more stayed here; 88 without).
#[test]
fn a_large_fetch_leaves_a_handed_over_session_small() {
    if !std::path::Path::new("/proc/self/smaps").exists() {
        eprintln!("SKIP: a large FETCH in postern-session: no /proc/PID/smaps");
        return;
    }
    let mut server = folder_of_4000();
    let mut c = server.connect();
    c.login();
    let sel = c.send("s", "SELECT INBOX");
    assert_eq!(sel.exists(), [4000], "{}", sel.dump());
    let pid = server_pid_of_port(c.local_port().unwrap()).expect("the session's process");
    let before = held(pid);
    let r = c.send("f", "FETCH 1:* ENVELOPE");
    assert!(r.is_ok(), "{}", r.dump());
    let after = held(pid);
    assert!(
        server.maildir.join("postern-cache.envelope-2").exists(),
        "the FETCH built the cache"
    );
    assert!(
        after.anonymous <= before.anonymous + 160,
        "private memory after SELECT {before:?}, right after the FETCH {after:?}"
    );
    c.logout();
}

/// 4,000 messages with long envelopes in INBOX, numbered and indexed.
fn folder_of_4000() -> TestServer {
    let server = TestServer::new();
    let cur = server.maildir.join("cur");
    let long = "a subject long enough to make the envelope of each message take room ".repeat(3);
    for i in 0..4000 {
        let from = format!("Sender Number {i} <sender.{i}@long-domain-name.example.org>");
        let text = message(&from, &format!("{long}{i}"), "body\r\n");
        fs::write(cur.join(format!("1700000000.M{i}P1.host:2,S")), text).unwrap();
    }
    // The first session numbers the messages; once that has settled, the next one
    // leaves an index the measured session maps.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(100));
        let (earlier, _) = server.session("INBOX");
        earlier.logout();
    }
    assert!(server.maildir.join("postern-index").exists());
    server
}

fn large_fetch_leaves_the_session_small(verb: &str) {
    if !std::path::Path::new("/proc/self/smaps").exists() {
        eprintln!("SKIP: a large FETCH after {verb}: no /proc/PID/smaps");
        return;
    }
    let server = folder_of_4000();
    let mut c = server.inetd();
    c.login();
    let sel = c.send("s", &format!("{verb} INBOX"));
    assert_eq!(sel.exists(), [4000], "{}", sel.dump());
    let pid = server.last_session_pid();
    let before = held(pid);
    let r = c.send("f", "FETCH 1:* ENVELOPE");
    assert!(r.is_ok(), "{}", r.dump());
    assert_eq!(
        server.maildir.join("postern-cache.envelope-2").exists(),
        verb == "SELECT",
        "the cache is saved by a read-write session only"
    );
    let after = held(pid);
    assert!(
        after.anonymous <= before.anonymous + 1024,
        "private memory after {verb} {before:?}, after the FETCH {after:?}"
    );
    assert!(
        after.index <= 16,
        "index pages kept after the FETCH: {after:?}"
    );
    c.logout();
}
