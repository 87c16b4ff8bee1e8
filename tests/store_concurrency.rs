//! Several processes and sessions in one folder at once: `postern deliver` processes,
//! appending threads and an expunging session. UIDs stay unique and increasing, every
//! observer agrees on them, and nothing that was not expunged is lost.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use postern::store::{AppendSource, Flags, Maildir};

#[path = "owner/mod.rs"]
mod owner;

#[test]
fn deliveries_appends_and_expunges_at_once() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    // As root a delivery to a path runs as the Maildir's owner, who must not be root.
    owner::give_to_mail_owner(d.path());
    let root = d.path().to_path_buf();
    // (uid, basename) as seen by anyone
    let seen: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
    let bin = env!("CARGO_BIN_EXE_postern");

    let deliverers: Vec<_> = (0..3)
        .map(|p| {
            let root = root.clone();
            std::thread::spawn(move || {
                for n in 0..15 {
                    let mut c = Command::new(bin)
                        .args(["deliver", root.to_str().unwrap()])
                        .stdin(Stdio::piped())
                        .spawn()
                        .unwrap();
                    c.stdin
                        .take()
                        .unwrap()
                        .write_all(format!("Subject: x\r\n\r\nkeep d{p}-{n}\r\n").as_bytes())
                        .unwrap();
                    assert!(c.wait().unwrap().success());
                }
            })
        })
        .collect();
    let appenders: Vec<_> = (0..2)
        .map(|t| {
            let md = md.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                for n in 0..40 {
                    // Every third message is for the expunger.
                    let (text, flags) = if n % 3 == 0 {
                        (format!("drop a{t}-{n}\r\n"), Flags::DELETED)
                    } else {
                        (format!("keep a{t}-{n}\r\n"), Flags::default())
                    };
                    let r = md
                        .append(
                            "INBOX",
                            AppendSource::Bytes(text.as_bytes()),
                            flags,
                            &[],
                            None,
                        )
                        .unwrap();
                    assert!(r.uid > last);
                    last = r.uid;
                }
            })
        })
        .collect();
    let expunger = {
        let md = md.clone();
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut mb = md.open_mailbox("INBOX", false).unwrap();
            for _ in 0..60 {
                mb.refresh(true).unwrap();
                let mut last = 0;
                for m in mb.messages() {
                    assert!(m.uid > last);
                    last = m.uid;
                    seen.lock().unwrap().push((m.uid, m.basename.to_owned()));
                }
                mb.expunge(None).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    for t in deliverers.into_iter().chain(appenders).chain([expunger]) {
        t.join().unwrap();
    }
    let mut mb = md.open_mailbox("INBOX", false).unwrap();
    mb.expunge(None).unwrap();
    let mut by_uid: HashMap<u32, String> = HashMap::new();
    let mut by_name: HashMap<String, u32> = HashMap::new();
    let final_view: Vec<(u32, String)> = mb
        .messages()
        .map(|m| (m.uid, m.basename.to_owned()))
        .collect();
    for (uid, name) in seen.lock().unwrap().iter().chain(final_view.iter()) {
        assert_eq!(
            by_uid.entry(*uid).or_insert_with(|| name.clone()),
            name,
            "UID {uid} given twice"
        );
        assert_eq!(
            by_name.entry(name.clone()).or_insert(*uid),
            uid,
            "{name} has two UIDs"
        );
    }
    let mut kept = Vec::new();
    for i in 0..mb.len() {
        let body = String::from_utf8(mb.read_message(i).unwrap()).unwrap();
        let line = body.lines().last().unwrap().to_string();
        assert!(line.starts_with("keep "), "{line}");
        kept.push(line);
    }
    kept.sort();
    kept.dedup();
    assert_eq!(kept.len(), 3 * 15 + 2 * 26, "a message was lost or doubled");
    assert_eq!(mb.len(), kept.len());
    // Every message on disk has its entry. An APPEND that numbers its message after
    // another session numbered and expunged it (the file is gone) can leave an entry for
    // a name that no longer exists: harmless (UIDs are never reused, the name never
    // comes back), and the next listing of the whole folder prunes it, as Courier's does.
    let db = std::fs::read_to_string(root.join("courierimapuiddb")).unwrap();
    let db = postern::store::uiddb::UidDb::parse(db.as_bytes()).unwrap();
    let on_disk: std::collections::HashSet<&str> =
        final_view.iter().map(|(_, n)| n.as_str()).collect();
    assert!(db.entries.len() >= kept.len());
    for (uid, name) in &final_view {
        assert!(
            db.entries.iter().any(|(u, n)| u == uid && n == name),
            "{name} ({uid}) has no entry"
        );
    }
    let stale = db
        .entries
        .iter()
        .filter(|(_, n)| !on_disk.contains(n.as_str()))
        .count();
    eprintln!("uid db entries for names gone: {stale}");
    drop(mb);
    let _ = std::fs::remove_file(root.join(postern::store::index::FILE));
    drop(md.open_mailbox("INBOX", false).unwrap());
    let db = std::fs::read_to_string(root.join("courierimapuiddb")).unwrap();
    let db = postern::store::uiddb::UidDb::parse(db.as_bytes()).unwrap();
    assert_eq!(db.entries.len(), kept.len(), "a full listing prunes them");
}
