//! POP3 `AUTH SCRAM-SHA-256` (RFC 5034) against `postern pop3d --inetd`, with the test's
//! own SCRAM client: CAPA and AUTH lists, full exchanges, failures counted.

#[path = "owner/mod.rs"]
mod owner;
mod scram_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use scram_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const WAIT: Duration = Duration::from_secs(30);

/// alice `{PLAIN}secret`, sam `{SCRAM-SHA-256}` for "sesame", cris a crypt hash.
fn fixture(auth_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    owner::open_to_mail_owner(dir.path());
    let mut users = String::new();
    for (user, secret) in [
        ("alice", "{PLAIN}secret".to_owned()),
        ("sam", stored_secret("sesame", b"0123456789abcdef", 4096)),
        ("cris", "{SHA512-CRYPT}$6$postern$x".to_owned()),
    ] {
        let home = dir.path().join(user);
        std::fs::create_dir(&home).unwrap();
        let status = Command::new(BIN)
            .arg("maildirmake")
            .arg(home.join("Maildir"))
            .status()
            .unwrap();
        assert!(status.success());
        owner::give_to_mail_owner(&home);
        users.push_str(&format!("{user}:{secret}::::{}::\n", home.display()));
    }
    std::fs::write(dir.path().join("users"), users).unwrap();
    std::fs::write(
        dir.path().join("postern.toml"),
        format!(
            "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}{auth_extra}\n",
            dir.path().join("users").display(),
            owner::owner_settings()
        ),
    )
    .unwrap();
    dir
}

struct Pop3 {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Drop for Pop3 {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Pop3 {
    fn start(dir: &Path) -> Pop3 {
        let mut child = Command::new(BIN)
            .args(["pop3d", "--inetd", "--config"])
            .arg(dir.join("postern.toml"))
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line.trim_end_matches('\r').to_owned()).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut p = Pop3 {
            child,
            stdin,
            lines: rx,
        };
        assert!(p.line().starts_with("+OK"));
        p
    }

    fn line(&mut self) -> String {
        self.lines.recv_timeout(WAIT).expect("no answer in time")
    }

    fn cmd(&mut self, line: &str) -> String {
        self.stdin
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }

    fn list(&mut self, command: &str) -> Vec<String> {
        assert!(self.cmd(command).starts_with("+OK"));
        let mut out = Vec::new();
        loop {
            let l = self.line();
            if l == "." {
                return out;
            }
            out.push(l);
        }
    }

    /// The session's stderr (the log), after QUIT.
    fn finish(mut self) -> String {
        let _ = self.stdin.write_all(b"QUIT\r\n");
        let _ = self.stdin.flush();
        let mut log = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut log);
        }
        log
    }

    /// One AUTH SCRAM-SHA-256 exchange (initial response or not); the final answer.
    fn scram(&mut self, user: &str, password: &str, initial: bool, tamper: Tamper) -> String {
        let mut c = ScramClient::new(user, password);
        let first = b64(c.first().as_bytes());
        let server_first = if initial {
            self.cmd(&format!("AUTH SCRAM-SHA-256 {first}"))
        } else {
            assert_eq!(self.cmd("AUTH SCRAM-SHA-256"), "+ ");
            self.cmd(&first)
        };
        let server_first = server_first
            .strip_prefix("+ ")
            .unwrap_or_else(|| panic!("{server_first}"));
        let server_first = String::from_utf8(unb64(server_first)).unwrap();
        let last = c.final_message(&server_first, tamper);
        let answer = self.cmd(&b64(last.as_bytes()));
        let Some(server_final) = answer.strip_prefix("+ ") else {
            return answer;
        };
        c.check_server_final(&String::from_utf8(unb64(server_final)).unwrap());
        self.cmd("")
    }
}

#[test]
fn advertised_only_when_configured() {
    let dir = fixture("");
    let mut p = Pop3::start(dir.path());
    assert!(!p.list("CAPA").iter().any(|l| l.contains("SCRAM")));
    assert_eq!(
        p.cmd("AUTH SCRAM-SHA-256"),
        "-ERR Unsupported authentication mechanism."
    );
    drop(p);

    let dir = fixture("scram = true");
    let mut p = Pop3::start(dir.path());
    let capa = p.list("CAPA");
    assert!(
        capa.contains(&"SASL PLAIN LOGIN SCRAM-SHA-256".to_owned()),
        "{capa:?}"
    );
    assert_eq!(p.list("AUTH"), ["PLAIN", "LOGIN", "SCRAM-SHA-256"]);

    let dir = fixture("scram = true\ncram = true\nbackend = \"pam\"");
    let mut p = Pop3::start(dir.path());
    let capa = p.list("CAPA");
    assert!(!capa.iter().any(|l| l.contains("SCRAM")), "{capa:?}");
    // Not offered with PAM; trying is a failed login.
    let first = b64(ScramClient::new("alice", "secret").first().as_bytes());
    assert_eq!(
        p.cmd(&format!("AUTH SCRAM-SHA-256 {first}")),
        "-ERR [AUTH] Invalid user name or password."
    );
    let log = p.finish();
    assert!(log.contains("LOGIN FAILED"), "{log}");
}

#[test]
fn exchanges_and_failures() {
    let dir = fixture("scram = true\nmax_failed_logins = 10");
    for (user, password, initial) in [
        ("alice", "secret", true),
        ("alice", "secret", false),
        ("sam", "sesame", true),
    ] {
        let mut p = Pop3::start(dir.path());
        let ok = p.scram(user, password, initial, Tamper::None);
        assert!(ok.starts_with("+OK"), "{user}: {ok}");
        assert!(p.cmd("STAT").starts_with("+OK 0 0"));
        let log = p.finish();
        assert!(log.contains(&format!("LOGIN, user={user}")), "{log}");
    }

    let mut p = Pop3::start(dir.path());
    for (user, password, tamper) in [
        ("alice", "wrong", Tamper::None),
        ("sam", "wrong", Tamper::None),
        ("nobody", "x", Tamper::None),
        ("cris", "x", Tamper::None),
        ("alice", "secret", Tamper::Nonce),
        ("alice", "secret", Tamper::Proof),
        ("alice", "secret", Tamper::Binding),
    ] {
        assert_eq!(
            p.scram(user, password, true, tamper),
            "-ERR [AUTH] Invalid user name or password.",
            "{user} {tamper:?}"
        );
    }
    // Channel binding asked for: refused before any credential is tried (not counted).
    let r = p.cmd(&format!(
        "AUTH SCRAM-SHA-256 {}",
        b64(b"p=tls-unique,,n=alice,r=abcdef")
    ));
    assert!(
        r.starts_with("-ERR") && r.contains("channel binding"),
        "{r}"
    );
    // Cancelled after server-first.
    assert!(
        p.cmd(&format!("AUTH SCRAM-SHA-256 {}", b64(b"n,,n=alice,r=abc")))
            .starts_with("+ ")
    );
    assert_eq!(p.cmd("*"), "-ERR Authentication cancelled.");
    // Still usable.
    assert!(
        p.scram("sam", "sesame", false, Tamper::None)
            .starts_with("+OK")
    );
    let log = p.finish();
    assert_eq!(log.matches("LOGIN FAILED").count(), 7, "{log}");
    assert!(log.contains("method=SCRAM-SHA-256"), "{log}");
}
