//! Opening a folder of many messages: the first open (scan + new UID database) and a
//! second open (scan + read the database). Prints wall time and the bytes this process
//! read (`rchar` from /proc/self/io); opening must read the database, never a message.
//!
//! `cargo bench --bench open_folder [-- COUNT]` (default 100000 messages).

use std::fs;
use std::time::Instant;

use postern::store::Maildir;

fn rchar() -> u64 {
    let io = fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let count: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    let body = vec![b'x'; 2000];
    let t = Instant::now();
    for n in 0..count {
        let name = format!(
            "{}.M{}P{}V0000000000000801I{:016X}_0.bench,S={}:2,S",
            1_700_000_000 + n / 10,
            n,
            4242,
            n,
            body.len()
        );
        fs::write(md.root().join("cur").join(name), &body).unwrap();
    }
    println!(
        "generated {count} messages of {} bytes in {:?}",
        body.len(),
        t.elapsed()
    );
    let message_bytes = count * body.len() as u64;

    for label in [
        "first open (assigns UIDs, writes courierimapuiddb)",
        "second open (reads courierimapuiddb)",
    ] {
        let before = rchar();
        let t = Instant::now();
        let mb = md.open_mailbox("INBOX", false).unwrap();
        let elapsed = t.elapsed();
        let read = rchar() - before;
        let db = fs::metadata(md.root().join("courierimapuiddb"))
            .unwrap()
            .len();
        println!(
            "{label}: {} messages, uidnext {}, {elapsed:?}, read {read} bytes (uid db {db} bytes)",
            mb.messages().len(),
            mb.uid_next()
        );
        assert_eq!(mb.messages().len() as u64, count);
        assert!(
            read < db * 2 + 1_000_000 && read < message_bytes / 10,
            "opening read {read} bytes: message files were read"
        );
    }
    let before = rchar();
    let t = Instant::now();
    let st = md.status("INBOX").unwrap();
    println!(
        "status: {} messages, {:?}, read {} bytes",
        st.messages,
        t.elapsed(),
        rchar() - before
    );
    println!(
        "no message file was read (bytes read stay at the size of the UID database, not {message_bytes})"
    );
}
