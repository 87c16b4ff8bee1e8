//! Third-party clients against `postern serve`: Python's imaplib (tests/clients/*.py) and
//! curl's imap:// URLs. A missing client skips its test loudly.

mod common;

use std::process::{Command, Output};

use common::*;

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn python_imaplib_session() {
    if !skip::require(&["python3"]) {
        return;
    }
    let mut server = TestServer::new();
    server.deliver(None, &message("bob@example.org", "first", "one\r\n"));
    server.deliver(None, &message("bob@example.org", "second", "two\r\n"));
    let port = server.start_serve();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/imaplib_session.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &port.to_string(), USER, PASS])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ALL OK"),
        "imaplib session failed: {}\n--- server\n{}",
        show(&out),
        server.serve_stderr()
    );
    // What imaplib did is on disk.
    let (mut c, sel) = server.session("INBOX.Archive");
    assert_eq!(sel.exists(), [3], "{}", sel.dump());
    let r = c.send("a1", "FETCH 1 FLAGS");
    let flags = r.fetch(1).flags().unwrap();
    assert!(
        flags.contains(&"\\Answered".into()) && flags.contains(&"$Label".into()),
        "{flags:?}"
    );
    c.logout();
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn curl_list_fetch_and_upload() {
    if !skip::require(&["curl"]) {
        return;
    }
    let mut server = TestServer::new();
    server.make_folder("Sent");
    let first = message("bob@example.org", "first", "fetched by curl\r\n");
    server.deliver(None, &first);
    let port = server.start_serve();
    let base = format!("imap://{USER}:{PASS}@127.0.0.1:{port}");

    let out = curl(&[&format!("{base}/")]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "list: {}", show(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("* LIST") && l.trim_end().ends_with("INBOX")),
        "list: {text}"
    );
    assert!(
        text.lines().any(|l| l.trim_end().ends_with("INBOX.Sent")),
        "list: {text}"
    );

    let out = curl(&[&format!("{base}/INBOX;UID=1")]);
    assert!(out.status.success(), "fetch: {}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&first),
        "fetch by UID"
    );

    let out = curl(&[&format!("{base}/INBOX"), "-X", "SEARCH FROM bob"]);
    assert!(out.status.success(), "search: {}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("* SEARCH 1"),
        "search: {}",
        show(&out)
    );

    let upload = message("carol@example.org", "uploaded", "sent with curl -T\r\n");
    let file = server.dir.path().join("upload.eml");
    std::fs::write(&file, &upload).unwrap();
    let out = curl(&["-T", file.to_str().unwrap(), &format!("{base}/INBOX.Sent")]);
    assert!(out.status.success(), "upload: {}", show(&out));

    let (mut c, sel) = server.session("INBOX.Sent");
    assert_eq!(sel.exists(), [1], "{}", sel.dump());
    let r = c.send("a1", "FETCH 1 BODY.PEEK[]");
    assert_eq!(r.fetch(1).item("BODY[]").unwrap(), upload);
    c.logout();

    // A wrong password is refused.
    let out = curl(&[&format!("imap://{USER}:wrong@127.0.0.1:{port}/")]);
    assert!(
        !out.status.success(),
        "wrong password accepted: {}",
        show(&out)
    );
}
