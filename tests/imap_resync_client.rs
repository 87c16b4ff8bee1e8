//! A real client library that speaks CONDSTORE (Python's imapclient, from PyPI into
//! `target/pyenv` by `make pyclients`; SKIP without it) keeps a 10,000-message folder
//! cache current: the resync of an unchanged folder transfers only a few lines (counted
//! by a proxy between client and server), and changes made between syncs by another
//! session and by Courier's imapd all reach the cache, through a CONDSTORE resync
//! (CHANGEDSINCE) and a QRESYNC one (SELECT ... QRESYNC, VANISHED (EARLIER)).

mod common;
#[path = "courier/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

const MESSAGES: u32 = 10_000;

/// The Python with imapclient: `$POSTERN_IMAPCLIENT_PYTHON`, else `target/pyenv`.
fn python() -> Option<PathBuf> {
    let py = std::env::var_os("POSTERN_IMAPCLIENT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import imapclient"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip::skip(&format!(
            "{} has no imapclient; run `make pyclients` (a venv with imapclient from PyPI)",
            py.display()
        ));
        return None;
    }
    Some(py)
}

/// What the server sent through the proxy: bytes and lines.
struct Counted {
    bytes: Arc<AtomicU64>,
    lines: Arc<AtomicU64>,
}

/// A proxy for one connection to `port` that counts what the server sends.
fn counting_proxy(port: u16) -> (u16, Counted, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap().port();
    let bytes = Arc::new(AtomicU64::new(0));
    let lines = Arc::new(AtomicU64::new(0));
    let (b, l) = (bytes.clone(), lines.clone());
    let handle = std::thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c_read, &mut s_write);
            let _ = s_write.shutdown(std::net::Shutdown::Write);
        });
        let (mut s_read, mut c_write) = (server, client);
        let mut buf = [0u8; 16384];
        loop {
            let n = match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            b.fetch_add(n as u64, Ordering::Relaxed);
            l.fetch_add(
                buf[..n].iter().filter(|&&c| c == b'\n').count() as u64,
                Ordering::Relaxed,
            );
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = c_write.shutdown(std::net::Shutdown::Both);
        let _ = up.join();
    });
    (local, Counted { bytes, lines }, handle)
}

/// One run of the client script through a counting proxy: (bytes, lines) from the server.
fn sync(py: &Path, port: u16, state: &Path, mode: &str) -> (u64, u64) {
    let (proxy, counted, handle) = counting_proxy(port);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imapclient_resync.py");
    let out = Command::new(py)
        .arg(script)
        .args(["127.0.0.1", &proxy.to_string(), USER, PASS])
        .arg(state)
        .arg(mode)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{mode} sync failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    handle.join().unwrap();
    let r = (
        counted.bytes.load(Ordering::Relaxed),
        counted.lines.load(Ordering::Relaxed),
    );
    eprintln!(
        "{mode}: {} — {} bytes, {} lines from the server",
        String::from_utf8_lossy(&out.stdout).trim(),
        r.0,
        r.1
    );
    r
}

/// The folder as the server has it now: UID -> flags (without \Recent), sorted.
fn truth(server: &mut TestServer) -> BTreeMap<String, Vec<String>> {
    let mut c = server.connect();
    c.login();
    c.send("E", "EXAMINE INBOX").assert_ok();
    let r = c.send("F", "UID FETCH 1:* (FLAGS)");
    r.assert_ok();
    let mut out = BTreeMap::new();
    for l in r.lines("* ") {
        let Some(uid) = l.fetch_uid() else { continue };
        let mut flags: Vec<String> = l
            .flags()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .collect();
        flags.sort();
        out.insert(uid.to_string(), flags);
    }
    c.logout();
    out
}

/// The cache the script keeps, with flags compared case-insensitively as IMAP does.
fn cache(state: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(state).unwrap();
    let at = text.find("\"flags\": ").unwrap() + "\"flags\": ".len();
    let body = &text[at..text.len() - 1];
    let mut out = BTreeMap::new();
    // {"1": ["\\Seen"], "2": []}: a small reader for the shape json.dump writes.
    for item in body.trim_matches(|c| c == '{' || c == '}').split("], ") {
        let Some((k, v)) = item.split_once(": [") else {
            continue;
        };
        let mut flags: Vec<String> = v
            .trim_end_matches(']')
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_matches('"').replace("\\\\", "\\"))
            .collect();
        flags.sort();
        out.insert(k.trim_matches('"').to_string(), flags);
    }
    out
}

fn lowercase(m: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    m.iter()
        .map(|(k, v)| {
            let mut v: Vec<String> = v.iter().map(|f| f.to_ascii_lowercase()).collect();
            v.sort();
            (k.clone(), v)
        })
        .collect()
}

#[test]
fn imapclient_resynchronises_a_large_folder_cheaply_and_completely() {
    let Some(py) = python() else {
        return;
    };
    let mut server = TestServer::new();
    for i in 0..MESSAGES {
        let m = format!("From: a@example.org\r\nSubject: m{i}\r\n\r\nbody {i}\r\n");
        let flags = if i % 3 == 0 { "S" } else { "" };
        server.put(
            "INBOX",
            "cur",
            &format!("1700000000.M{i}P1.host"),
            flags,
            m.as_bytes(),
        );
    }
    let port = server.start_serve();
    let state = server.dir.path().join("cache.json");
    let (full_bytes, full_lines) = sync(&py, port, &state, "full");
    assert!(full_lines > MESSAGES as u64);
    assert_eq!(lowercase(&cache(&state)), lowercase(&truth(&mut server)));

    // Unchanged: a few lines, either way.
    for mode in ["condstore", "qresync"] {
        let (bytes, lines) = sync(&py, port, &state, mode);
        assert!(
            lines < 30 && bytes < 4096,
            "{mode} resync of an unchanged folder: {bytes} bytes, {lines} lines \
             (full sync: {full_bytes} bytes)"
        );
    }

    // Another session changes flags and keywords, expunges, and appends.
    let mut other = server.connect();
    other.login();
    other.select("INBOX");
    other
        .send("A", "UID STORE 10:19 +FLAGS (\\Flagged $Work)")
        .assert_ok();
    other.send("B", "UID STORE 3 -FLAGS (\\Seen)").assert_ok();
    other
        .send("C", "UID STORE 100:104 +FLAGS (\\Deleted)")
        .assert_ok();
    other.send("D", "EXPUNGE").assert_ok();
    let m = message("c@example.org", "new", "fresh\r\n");
    other
        .send_parts(
            "E",
            &[
                Part::Text("APPEND INBOX (\\Answered) "),
                Part::LiteralPlus(&m),
            ],
        )
        .assert_ok();
    other.logout();
    let (_, lines) = sync(&py, port, &state, "qresync");
    assert!(lines < 60, "{lines} lines for 17 changes");
    assert_eq!(
        lowercase(&cache(&state)),
        lowercase(&truth(&mut server)),
        "after QRESYNC"
    );

    // Courier's imapd changes the Maildir (it keeps no mod-sequences).
    if let Some(courier) = oracle::Courier::find() {
        server.give_homes_to_mail_owner();
        let mut c = Client::spawn(courier.imapd_command(&server.maildir), false);
        c.send("C1", "SELECT INBOX").assert_ok();
        c.send("C2", "UID STORE 500 +FLAGS (\\Answered Courierkw)")
            .assert_ok();
        c.send("C3", "UID STORE 600,601 +FLAGS (\\Deleted)")
            .assert_ok();
        c.send("C4", "EXPUNGE").assert_ok();
        c.send("C5", "LOGOUT");
    }
    let mut other = server.connect();
    other.login();
    other.select("INBOX");
    other.send("F", "UID STORE 20 +FLAGS (\\Draft)").assert_ok();
    other.logout();
    sync(&py, port, &state, "condstore");
    assert_eq!(
        lowercase(&cache(&state)),
        lowercase(&truth(&mut server)),
        "after CONDSTORE"
    );
    // And once more with QRESYNC from the CONDSTORE resync's HIGHESTMODSEQ: nothing new.
    let (_, lines) = sync(&py, port, &state, "qresync");
    assert!(lines < 30, "{lines}");
    assert_eq!(lowercase(&cache(&state)), lowercase(&truth(&mut server)));
}
