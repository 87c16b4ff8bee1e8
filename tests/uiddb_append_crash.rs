//! kill -9 of sessions while they append to `courierimapuiddb`: real `postern imapd
//! --inetd` sessions APPEND one message after another (each new UID appended to the
//! database in two steps, header then lines), another session refreshes a selected INBOX
//! (numbering deliveries the same way) while `postern deliver` runs, and all are killed at
//! random moments. After every round: each acknowledged APPENDUID still names its message,
//! no UID names two messages or changes, every message has one UID, UIDNEXT is above all,
//! and the database parses without being moved aside.
//!
//! INBOX starts with 990 messages, so the first rounds cross nextuid 1000 (a header that
//! grows a digit: whole rewrite) and the rest append in place.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
#[path = "rng/mod.rs"]
mod rng;

use rng::Rng;

use common::{Client, PASS, TestServer, USER, postern_command};

/// A `postern imapd --inetd` session on pipes, driven by a thread until it is killed.
fn session(server: &TestServer) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut child = postern_command("imapd", &server.config)
        .arg("--inetd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let input = child.stdin.take().unwrap();
    let output = BufReader::new(child.stdout.take().unwrap());
    (child, input, output)
}

/// Reads to the tagged line; `None` when the session died first.
fn tagged(output: &mut impl BufRead, tag: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if output.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.starts_with(&format!("{tag} ")) {
            return Some(line);
        }
    }
}

/// APPENDs until killed; every APPEND the server acknowledged goes into `acked` as
/// (message id, UID).
fn appender(server: &TestServer, round: u32, acked: Arc<Mutex<Vec<(String, u32)>>>) -> Child {
    let (child, mut input, mut output) = session(server);
    std::thread::spawn(move || {
        let _ = writeln!(input, "l LOGIN {USER} {PASS}\r");
        tagged(&mut output, "l")?;
        for n in 0.. {
            let id = format!("append-{round}-{n}");
            let msg = format!("Subject: {id}\r\n\r\nid={id}\r\n");
            let cmd = format!("a{n} APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len());
            input.write_all(cmd.as_bytes()).ok()?;
            let line = tagged(&mut output, &format!("a{n}"))?;
            assert!(line.contains(" OK "), "APPEND refused: {line}");
            let uid: u32 = line
                .split("[APPENDUID ")
                .nth(1)?
                .split([' ', ']'])
                .nth(1)?
                .parse()
                .ok()?;
            acked.lock().unwrap().push((id, uid));
        }
        Some(())
    });
    child
}

/// Keeps a selected INBOX refreshed (NOOP), so deliveries get their UIDs from this session.
fn refresher(server: &TestServer) -> Child {
    let (child, mut input, mut output) = session(server);
    std::thread::spawn(move || {
        let _ = writeln!(input, "l LOGIN {USER} {PASS}\r\ns SELECT INBOX\r");
        tagged(&mut output, "s")?;
        for n in 0.. {
            input.write_all(format!("n{n} NOOP\r\n").as_bytes()).ok()?;
            tagged(&mut output, &format!("n{n}"))?;
        }
        Some(())
    });
    child
}

fn kill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

/// What a fresh session shows: UIDVALIDITY, UIDNEXT and UID → message id.
fn view(server: &TestServer) -> (u64, u64, BTreeMap<u32, String>) {
    let mut c: Client = server.inetd();
    c.login();
    let sel = c.select("INBOX");
    let code = |name: &str| -> u64 {
        let l = sel
            .untagged
            .iter()
            .find(|l| l.text.contains(&format!("[{name} ")))
            .unwrap_or_else(|| panic!("no {name}: {}", sel.dump()));
        l.text
            .split(&format!("[{name} "))
            .nth(1)
            .unwrap()
            .split(']')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (uidvalidity, uidnext) = (code("UIDVALIDITY"), code("UIDNEXT"));
    let r = c.send("f", "UID FETCH 1:* (UID BODY.PEEK[TEXT])");
    r.assert_ok();
    let mut by_uid = BTreeMap::new();
    for l in &r.untagged {
        let Some(body) = l.literals.first() else {
            continue;
        };
        let uid = l.fetch_uid().expect("UID in FETCH");
        let body = String::from_utf8_lossy(body);
        let id = body.trim().trim_start_matches("id=").to_string();
        assert!(by_uid.insert(uid, id).is_none(), "UID {uid} listed twice");
    }
    c.logout();
    (uidvalidity, uidnext, by_uid)
}

#[test]
fn kill_during_uid_appends_never_loses_or_reuses_a_uid() {
    let server = TestServer::new();
    for n in 0..990 {
        let msg = format!("Subject: old-{n}\r\n\r\nid=old-{n}\r\n");
        server.put(
            "INBOX",
            "cur",
            &format!("{}.M{n}P1.crash", 1_700_000_000 + n),
            "S",
            msg.as_bytes(),
        );
    }
    let (uidvalidity, _, first) = view(&server);
    assert_eq!(first.len(), 990);
    let mut by_uid: HashMap<u32, String> = first.into_iter().collect();
    let mut by_id: HashMap<String, u32> = by_uid.iter().map(|(u, i)| (i.clone(), *u)).collect();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut rng = Rng::new();
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 20 && start.elapsed() < Duration::from_secs(25) {
        rounds += 1;
        let mut app = appender(&server, rounds, acked.clone());
        let mut refresh = refresher(&server);
        let mut deliver: Command = postern_command("deliver", &server.config);
        let mut deliver = deliver
            .arg(&server.maildir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = deliver.stdin.take().unwrap();
        let _ = write!(stdin, "Subject: d\r\n\r\nid=deliver-{rounds}\r\n");
        drop(stdin);
        std::thread::sleep(Duration::from_millis(30 + rng.below(120)));
        kill(&mut app);
        std::thread::sleep(Duration::from_millis(rng.below(20)));
        kill(&mut refresh);
        kill(&mut deliver);

        let (v, uidnext, now) = view(&server);
        assert_eq!(v, uidvalidity, "UIDVALIDITY changed");
        let mut ids: HashMap<&str, u32> = HashMap::new();
        for (uid, id) in &now {
            assert!(
                u64::from(*uid) < uidnext,
                "UID {uid} not below UIDNEXT {uidnext}"
            );
            if let Some(other) = ids.insert(id, *uid) {
                panic!("{id} stored twice (UIDs {other} and {uid})");
            }
            if let Some(was) = by_uid.insert(*uid, id.clone()) {
                assert_eq!(&was, id, "UID {uid} reused");
            }
            if let Some(was) = by_id.insert(id.clone(), *uid) {
                assert_eq!(was, *uid, "{id} changed its UID");
            }
        }
        for (id, uid) in acked.lock().unwrap().iter() {
            assert_eq!(
                ids.get(id.as_str()),
                Some(uid),
                "acknowledged APPENDUID {uid} of {id} lost or changed"
            );
        }
        // Every message seen so far is still there (nothing here expunges).
        assert_eq!(now.len(), by_uid.len(), "a message vanished");
        let aside = std::fs::read_dir(&server.maildir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".corrupt."));
        assert!(!aside, "the UID database was found corrupt");
    }
    let acked = acked.lock().unwrap().len();
    eprintln!(
        "{rounds} rounds, {acked} acknowledged APPENDs, {} messages",
        by_uid.len()
    );
    assert!(acked > 0, "no APPEND completed");
}
