//! Third-party POP3 clients against `postern serve` on a loopback port: Python's poplib
//! and curl. A test whose tool is missing says so on stderr and passes.

mod owner;
mod ports;
#[path = "common/skip.rs"]
mod skip;
use ports::free_port;
use skip::require;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// `postern serve` with one POP3 listener and alice's Maildir; stopped on drop.
struct Server {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(dir.path());
        let home = dir.path().join("alice");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
        }
        owner::give_to_mail_owner(&home);
        std::fs::write(
            dir.path().join("users"),
            format!("alice:{{PLAIN}}secret::::{}::\n", home.display()),
        )
        .unwrap();
        let port = free_port();
        let config = dir.path().join("postern.toml");
        std::fs::write(
            &config,
            format!(
                "[serve]\nimap = []\npop3 = [\"127.0.0.1:{port}\"]\n\
                 [auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}",
                dir.path().join("users").display(),
                owner::owner_settings()
            ),
        )
        .unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Server { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "serve did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("alice/Maildir")
    }

    /// A message straight into new/, the mail owner's as a delivery would make it.
    fn add(&self, name: &str, body: &[u8]) {
        let path = self.maildir().join("new").join(name);
        std::fs::write(&path, body).unwrap();
        owner::give_to_mail_owner(&path);
    }

    fn message_count(&self) -> usize {
        ["cur", "new"]
            .iter()
            .map(|s| std::fs::read_dir(self.maildir().join(s)).unwrap().count())
            .sum()
    }
}

/// POP3 size of a bare-LF message that ends in LF.
fn crlf_size(bytes: &[u8]) -> usize {
    bytes.len() + bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Run a client (each has its own time limit: curl --max-time, poplib's timeout).
fn run(cmd: &mut Command) -> (bool, Vec<u8>, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POPLIB_SCRIPT: &str = r#"
import json, poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=10)
out = {"welcome": p.getwelcome().decode()}
out["capa"] = sorted(p.capa().keys())
p.user("alice")
p.pass_("secret")
out["stat"] = list(p.stat())
resp, lines, _ = p.list()
out["list"] = [l.decode() for l in lines]
resp, lines, _ = p.uidl()
out["uidl"] = [l.decode() for l in lines]
out["uidl1"] = p.uidl(1).decode()
resp, lines, octets = p.retr(1)
out["retr"] = [l.decode() for l in lines]
out["retr_octets"] = octets
resp, lines, _ = p.top(2, 0)
out["top"] = [l.decode() for l in lines]
out["dele"] = p.dele(1).decode()
out["quit"] = p.quit().decode()
print(json.dumps(out))
"#;

#[test]
fn python_poplib() {
    if !require(&["python3"]) {
        return;
    }
    let server = Server::start();
    let m1 = b"From: a@example.org\nSubject: one\n\n.dotted\nbody\n";
    let m2 = b"From: a@example.org\nSubject: two\n\nsecond\n";
    server.add("1700000001.M1P1.test", m1);
    server.add("1700000002.M2P2.test", m2);
    let (ok, stdout, stderr) = run(Command::new("python3")
        .arg("-c")
        .arg(POPLIB_SCRIPT)
        .arg(server.port.to_string()));
    assert!(ok, "{stderr}");
    let text = String::from_utf8(stdout).unwrap();
    let get = |key: &str| -> String {
        // A tiny look-up in the JSON line without a JSON crate: the value after "key":.
        let start = text.find(&format!("\"{key}\": ")).unwrap() + key.len() + 4;
        let rest = &text[start..];
        let end = if rest.starts_with('[') {
            rest.find(']').unwrap() + 1
        } else if let Some(quoted) = rest.strip_prefix('"') {
            quoted.find('"').unwrap() + 2
        } else {
            rest.find([',', '}']).unwrap()
        };
        rest[..end].to_owned()
    };
    assert_eq!(get("welcome"), "\"+OK postern POP3 ready.\"");
    for cap in ["TOP", "UIDL", "USER", "SASL", "PIPELINING", "RESP-CODES"] {
        assert!(get("capa").contains(&format!("\"{cap}\"")), "{text}");
    }
    let (size1, size2) = (crlf_size(m1), crlf_size(m2));
    assert_eq!(get("stat"), format!("[2, {}]", size1 + size2), "{text}");
    assert_eq!(
        get("list"),
        format!("[\"1 {size1}\", \"2 {size2}\"]"),
        "{text}"
    );
    assert!(get("uidl").starts_with("[\"1 UID1-"), "{text}");
    assert!(get("uidl1").starts_with("\"+OK 1 UID1-"), "{text}");
    assert_eq!(
        get("retr"),
        "[\"From: a@example.org\", \"Subject: one\", \"\", \".dotted\", \"body\"]",
        "{text}"
    );
    assert_eq!(
        get("top"),
        "[\"From: a@example.org\", \"Subject: two\", \"\"]",
        "{text}"
    );
    assert_eq!(get("dele"), "\"+OK Message 1 deleted.\"");
    assert_eq!(get("quit"), "\"+OK Bye, 1 messages deleted.\"");
    assert_eq!(server.message_count(), 1);
}

fn curl(port: u16, path: &str, extra: &[&str]) -> (bool, Vec<u8>, String) {
    run(Command::new("curl")
        .args(["-s", "-S", "--max-time", "20"])
        .args(extra)
        .arg(format!("pop3://alice:secret@127.0.0.1:{port}/{path}")))
}

#[test]
fn curl_list_retr_dele() {
    if !require(&["curl"]) {
        return;
    }
    let server = Server::start();
    let m1 = b"From: a@example.org\nSubject: one\n\n..two dots\nbody\n";
    server.add("1700000001.M1P1.test", m1);
    let m2 = b"Subject: two\n\nx\n";
    server.add("1700000002.M2P2.test", m2);
    let (ok, out, err) = curl(server.port, "", &[]);
    assert!(ok, "{err}");
    let (s1, s2) = (crlf_size(m1), crlf_size(m2));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("1 {s1}\r\n2 {s2}\r\n")
    );
    let (ok, out, err) = curl(server.port, "1", &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        b"From: a@example.org\r\nSubject: one\r\n\r\n..two dots\r\nbody\r\n"
    );
    let (ok, _, err) = curl(server.port, "1", &["-X", "DELE", "-I"]);
    assert!(ok, "{err}");
    assert_eq!(server.message_count(), 1);
    let (ok, out, err) = curl(server.port, "", &[]);
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8(out).unwrap(), format!("1 {s2}\r\n"));
    // A wrong password is an error for curl, not a hang.
    let (ok, _, _) = run(Command::new("curl")
        .args(["-s", "--max-time", "20"])
        .arg(format!("pop3://alice:nope@127.0.0.1:{}/", server.port)));
    assert!(!ok);
}
