//! The Outbox folder (`[imap] outbox`, Courier's OUTBOX / XCOURIEROUTBOX): a message
//! APPENDed, COPYed or MOVEd there is stored and handed to `[imap] sendmail`.
//!
//! `sendmail` here is a small recording script (not an MTA: the pipe is what is tested;
//! the end-to-end test with Postfix lives elsewhere). It stores its arguments, its
//! initial environment (from /proc, not the shell's), its uid and its standard input, and
//! then does what the file `mode` in its directory says: succeed, fail (exit 1), kill
//! itself, or hang past the time limit.
//!
//! Also the differential check with Courier 5.0.13's imapd on the same settings (same
//! capability token, same answers for a single COPY, a multiple COPY and a failed send),
//! skipped loudly without the unpacked Courier tree (tests/courier/fetch-courier.sh).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::skip::{self, skip};
use common::{Part, Reply, TestServer, USER, owner};

/// The recording `sendmail` and its directory.
struct Recorder {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    script: PathBuf,
}

const SCRIPT: &str = r#"#!/bin/sh
d="@DIR@"
n=$(ls "$d" | grep -c '^call')
c="$d/call$n"
mkdir "$c"
for a in "$@"; do printf '%s\n' "$a"; done > "$c/argv"
tr '\0' '\n' < /proc/$$/environ > "$c/env"
id -u > "$c/uid"
cat > "$c/stdin"
echo "recorded call $n"
mode=$(cat "$d/mode" 2>/dev/null)
case "$mode" in
  fail) echo "no such user here" >&2; exit 1 ;;
  kill) kill -KILL $$ ;;
  hang) sleep 60 ;;
esac
exit 0
"#;

impl Recorder {
    fn new() -> Recorder {
        let tmp = tempfile::tempdir().unwrap();
        owner::open_to_mail_owner(tmp.path());
        let dir = tmp.path().join("sendmail-calls");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let script = tmp.path().join("sendmail.sh");
        std::fs::write(&script, SCRIPT.replace("@DIR@", &dir.display().to_string())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Recorder {
            _tmp: tmp,
            dir,
            script,
        }
    }

    fn mode(&self, mode: &str) {
        let path = self.dir.join("mode");
        std::fs::write(&path, mode).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    fn calls(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("call")
            })
            .count()
    }

    fn read(&self, call: usize, what: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("call{call}")).join(what)).unwrap()
    }

    fn argv(&self, call: usize) -> Vec<String> {
        self.read(call, "argv").lines().map(str::to_owned).collect()
    }
}

/// A server with the Outbox on and the recorder as `sendmail` (`-oi -t -f {sender}`).
fn outbox_server(extra: &[(&'static str, &'static str, &str)]) -> (TestServer, Recorder) {
    let recorder = Recorder::new();
    let sendmail = format!(
        "[{:?}, \"-oi\", \"-t\", \"-f\", \"{{sender}}\"]",
        recorder.script.display().to_string()
    );
    let mut settings: Vec<(&'static str, &'static str, &str)> = vec![
        ("imap", "outbox", "\"Outbox\""),
        ("imap", "sendmail", &sendmail),
        ("imap", "sendmail_timeout", "2"),
    ];
    settings.extend_from_slice(extra);
    let server = TestServer::with(&settings);
    server.make_folder("Outbox");
    (server, recorder)
}

const MESSAGE: &[u8] = b"From: alice@example.org\r\nTo: bob@example.org\r\nBcc: carol@example.org\r\nSubject: out\r\n\r\nHello Bob.\r\n";

/// What the store keeps of [`MESSAGE`]: LF line ends.
fn stored() -> String {
    String::from_utf8_lossy(MESSAGE).replace("\r\n", "\n")
}

fn append(c: &mut common::Client, tag: &str, folder: &str, message: &[u8]) -> Reply {
    c.send_parts(
        tag,
        &[
            Part::Text(&format!("APPEND {folder} ")),
            Part::Literal(message),
        ],
    )
}

fn outbox_files(server: &TestServer) -> Vec<String> {
    let mut v = server.files("INBOX.Outbox", "cur");
    v.extend(server.files("INBOX.Outbox", "new"));
    v
}

#[test]
fn capability_names_the_outbox_only_when_set() {
    let (server, _rec) = outbox_server(&[("imap", "move_expunge_to_trash", "true")]);
    let mut c = server.inetd();
    let pre = c.send("a", "CAPABILITY");
    assert!(pre.has("XCOURIEROUTBOX=INBOX.Outbox"), "{}", pre.dump());
    assert!(pre.has(" XMAGICTRASH"), "{}", pre.dump());
    c.login();
    let post = c.send("b", "CAPABILITY");
    assert!(post.has("XCOURIEROUTBOX=INBOX.Outbox"), "{}", post.dump());
    c.logout();

    let plain = TestServer::new();
    let mut c = plain.inetd();
    let r = c.send("a", "CAPABILITY");
    assert!(
        !r.has("XCOURIEROUTBOX") && !r.has("XMAGICTRASH"),
        "{}",
        r.dump()
    );
    c.logout();
}

#[test]
fn append_sends_the_stored_message_with_the_sender_line() {
    let (server, rec) = outbox_server(&[]);
    let mut c = server.inetd();
    c.login();
    let r = append(&mut c, "a", "INBOX.Outbox", MESSAGE);
    r.assert_ok();
    assert!(r.tagged.text.contains("[APPENDUID "), "{}", r.dump());
    assert_eq!(rec.calls(), 1);
    // Arguments: the configured ones, the sender filled in, nothing of the message.
    assert_eq!(rec.argv(0), ["-oi", "-t", "-f", USER]);
    // Standard input: the sender line, then the message as stored, Bcc untouched (the
    // MTA's -t removes it).
    assert_eq!(
        rec.read(0, "stdin"),
        format!("X-IMAP-Sender: {USER}\n{}", stored())
    );
    // A clean environment.
    let env = rec.read(0, "env");
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["HOME", "LOGNAME", "PATH", "USER"], "{env}");
    assert!(env.contains(&format!("USER={USER}\n")), "{env}");
    assert!(
        env.contains(&format!("HOME={}\n", server.home.display())),
        "{env}"
    );
    // The logged-in user, never root.
    let uid: u32 = rec.read(0, "uid").trim().parse().unwrap();
    match owner::mail_owner() {
        Some((owner_uid, _)) => assert_eq!(uid, owner_uid),
        None => assert_eq!(uid, nix::unistd::getuid().as_raw()),
    }
    // The stored copy has no sender line.
    let files = outbox_files(&server);
    assert_eq!(files.len(), 1, "{files:?}");
    let kept = std::fs::read_to_string(
        server
            .folder_dir("INBOX.Outbox")
            .join("cur")
            .join(&files[0]),
    )
    .unwrap();
    assert_eq!(kept, stored());
    // An APPEND elsewhere sends nothing.
    append(&mut c, "b", "INBOX", MESSAGE).assert_ok();
    assert_eq!(rec.calls(), 1);
    c.logout();
    // The log has the send.
    let log = server.inetd_stderr();
    assert!(log.contains("OUTBOX SENT"), "{log}");
    assert!(log.contains("recorded call 0"), "{log}");
}

#[test]
fn without_the_header_setting_the_message_goes_as_stored() {
    let (server, rec) = outbox_server(&[
        ("imap", "outbox_header_from", "\"\""),
        ("imap", "outbox_sender", "\"{user}@example.org\""),
    ]);
    let mut c = server.inetd();
    c.login();
    append(&mut c, "a", "INBOX.Outbox", MESSAGE).assert_ok();
    assert_eq!(rec.read(0, "stdin"), stored());
    assert_eq!(rec.argv(0), ["-oi", "-t", "-f", "alice@example.org"]);
    c.logout();
}

#[test]
fn copy_sends_one_message_and_refuses_several() {
    let (server, rec) = outbox_server(&[]);
    let mut c = server.inetd();
    c.login();
    append(&mut c, "a", "INBOX", MESSAGE).assert_ok();
    append(&mut c, "b", "INBOX", MESSAGE).assert_ok();
    c.select("INBOX");
    let r = c.send("c", "COPY 1 INBOX.Outbox");
    r.assert_ok();
    assert!(r.tagged.text.contains("[COPYUID "), "{}", r.dump());
    assert_eq!(rec.calls(), 1);
    let r = c.send("d", "COPY 1:2 INBOX.Outbox");
    assert_eq!(
        r.tagged.text,
        "d NO [ALERT] Only one message may be sent at a time."
    );
    let r = c.send("e", "UID MOVE 1:* INBOX.Outbox");
    assert_eq!(
        r.tagged.text,
        "e NO [ALERT] Only one message may be sent at a time."
    );
    assert_eq!(rec.calls(), 1);
    assert_eq!(outbox_files(&server).len(), 1);
    // MOVE of one: sent, and gone from INBOX.
    let r = c.send("f", "MOVE 2 INBOX.Outbox");
    r.assert_ok();
    assert_eq!(r.expunged(), [2], "{}", r.dump());
    assert_eq!(rec.calls(), 2);
    assert_eq!(outbox_files(&server).len(), 2);
    c.logout();
}

#[test]
fn several_may_be_sent_when_the_setting_allows() {
    let (server, rec) = outbox_server(&[("imap", "outbox_multiple_send", "true")]);
    let mut c = server.inetd();
    c.login();
    for tag in ["a", "b", "c"] {
        append(&mut c, tag, "INBOX", MESSAGE).assert_ok();
    }
    c.select("INBOX");
    c.send("d", "COPY 1:3 INBOX.Outbox").assert_ok();
    assert_eq!(rec.calls(), 3);
    assert_eq!(outbox_files(&server).len(), 3);
    c.logout();
}

/// One failing send of each kind: APPEND, COPY and MOVE answer Courier's alert, keep no
/// copy in the Outbox, and a MOVE keeps its source.
fn failure_case(mode: &str) {
    let (server, rec) = outbox_server(&[]);
    rec.mode(mode);
    let mut c = server.inetd();
    c.login();
    let started = Instant::now();
    let r = append(&mut c, "a", "INBOX.Outbox", MESSAGE);
    assert_eq!(
        r.tagged.text, "a NO [ALERT] Unable to send E-mail message.",
        "{mode}"
    );
    if mode == "hang" {
        // Killed at the 2 s limit (generous bound: twice that).
        assert!(started.elapsed() < Duration::from_secs(4), "{mode}");
    }
    assert!(outbox_files(&server).is_empty(), "{mode}");
    append(&mut c, "b", "INBOX", MESSAGE).assert_ok();
    c.select("INBOX");
    let r = c.send("c", "COPY 1 INBOX.Outbox");
    assert_eq!(r.tagged.text, "c NO [ALERT] Unable to send E-mail message.");
    let r = c.send("d", "MOVE 1 INBOX.Outbox");
    assert_eq!(r.tagged.text, "d NO [ALERT] Unable to send E-mail message.");
    assert!(r.expunged().is_empty(), "{}", r.dump());
    assert!(outbox_files(&server).is_empty(), "{mode}");
    let r = c.send("e", "STATUS INBOX.Outbox (MESSAGES)");
    assert!(r.has("(MESSAGES 0)"), "{}", r.dump());
    let r = c.send("f", "FETCH 1 FLAGS");
    assert!(!r.has("\\Deleted"), "{}", r.dump());
    assert_eq!(rec.calls(), 3);
    c.logout();
    let log = server.inetd_stderr();
    assert!(log.contains("OUTBOX SEND FAILED"), "{log}");
    if mode == "fail" {
        assert!(log.contains("no such user here"), "{log}");
    }
}

#[test]
fn an_mta_that_exits_1_is_a_failure() {
    failure_case("fail");
}

#[test]
fn an_mta_killed_by_a_signal_is_a_failure() {
    failure_case("kill");
}

#[test]
fn an_mta_past_the_time_limit_is_killed() {
    failure_case("hang");
}

#[test]
fn python_imaplib_appends_into_the_outbox() {
    if !skip::require(&["python3"]) {
        return;
    }
    let (mut server, rec) = outbox_server(&[]);
    let port = server.start_serve();
    let script = format!(
        r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("{USER}", "{pass}")
assert "XCOURIEROUTBOX=INBOX.OUTBOX" in m.capabilities, m.capabilities
typ, data = m.append("INBOX.Outbox", None, None, b"To: bob@example.org\r\nSubject: py\r\n\r\nhi\r\n")
assert typ == "OK", (typ, data)
m.logout()
print("ALL OK")
"#,
        pass = common::PASS
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ALL OK"),
        "{}{}\n--- server\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.serve_stderr()
    );
    assert_eq!(rec.calls(), 1);
    assert_eq!(
        rec.read(0, "stdin"),
        format!("X-IMAP-Sender: {USER}\nTo: bob@example.org\nSubject: py\n\nhi\n")
    );
}

// ---------------------------------------------------------------------------------------
// The differential check with Courier's imapd.

/// Courier's imapd from the unpacked Debian packages, when it is there.
fn courier_imapd() -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("POSTERN_COURIER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-courier"));
    let root = dir.join("root");
    let imapd = root.join("usr/bin/imapd");
    if !imapd.is_file() {
        skip(&format!(
            "{} is missing; run tests/courier/fetch-courier.sh",
            imapd.display()
        ));
        return None;
    }
    Some((root, imapd))
}

/// Runs `script` through Courier's imapd (PREAUTH) on `maildir` with the Outbox
/// settings, returning its stdout.
fn run_courier(root: &Path, imapd: &Path, maildir: &Path, sendmail: &Path, script: &str) -> String {
    owner::give_to_mail_owner(maildir);
    let mut cmd = Command::new(imapd);
    if let Some((uid, gid)) = owner::mail_owner() {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(
            "LD_LIBRARY_PATH",
            format!(
                "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
                root.display()
            ),
        )
        .env("AUTHENTICATED", USER)
        .env("TCPREMOTEIP", "127.0.0.1")
        .env("TCPREMOTEPORT", "1")
        .env("IMAP_CAPABILITY", "IMAP4rev1 UIDPLUS")
        .env("IMAP_KEYWORDS", "1")
        .env("IMAP_USELOCKS", "0")
        .env("IMAP_ENHANCEDIDLE", "0")
        .env("IMAP_TRASHFOLDERNAME", "Trash")
        .env("OUTBOX", ".Outbox")
        .env("SENDMAIL", sendmail)
        .env("HEADERFROM", "X-IMAP-Sender")
        .arg(maildir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tagged line for `tag` in a transcript.
fn tagged<'a>(transcript: &'a str, tag: &str) -> &'a str {
    transcript
        .lines()
        .find(|l| l.starts_with(&format!("{tag} ")))
        .unwrap_or_else(|| panic!("no {tag} line in {transcript}"))
}

#[test]
fn courier_answers_the_same() {
    let Some((root, imapd)) = courier_imapd() else {
        return;
    };
    let (server, rec) = outbox_server(&[]);
    // Two messages in INBOX, made by postern.
    let mut c = server.inetd();
    c.login();
    append(&mut c, "a", "INBOX", MESSAGE).assert_ok();
    append(&mut c, "b", "INBOX", MESSAGE).assert_ok();
    c.logout();

    let script = "c CAPABILITY\r\ns SELECT INBOX\r\none COPY 1 INBOX.Outbox\r\n\
                  two COPY 1:2 INBOX.Outbox\r\nz LOGOUT\r\n";
    let courier = run_courier(&root, &imapd, &server.maildir, &rec.script, script);
    if !courier.contains("* PREAUTH") {
        skip(&format!("Courier's imapd does not run here: {courier:?}"));
        return;
    }
    assert_eq!(rec.calls(), 1, "Courier sent the single COPY");
    let token = |t: &str| {
        t.split_whitespace()
            .find(|w| w.starts_with("XCOURIEROUTBOX="))
            .map(str::to_owned)
    };
    let mut c = server.inetd();
    c.login();
    let caps = c.send("c", "CAPABILITY");
    assert_eq!(token(&caps.dump()), token(&courier));
    assert_eq!(
        token(&courier).as_deref(),
        Some("XCOURIEROUTBOX=INBOX.Outbox")
    );
    c.select("INBOX");
    let one = c.send("one", "COPY 1 INBOX.Outbox");
    // Same status and response code; the UIDs differ (Courier's copy came first).
    assert!(
        tagged(&courier, "one").starts_with("one OK [COPYUID "),
        "{courier}"
    );
    assert!(
        one.tagged.text.starts_with("one OK [COPYUID "),
        "{}",
        one.dump()
    );
    let two = c.send("two", "COPY 1:2 INBOX.Outbox");
    assert_eq!(two.tagged.text, tagged(&courier, "two"));
    c.logout();
    assert_eq!(rec.calls(), 2);

    // A failing MTA: Courier answers APPEND with the same alert and keeps no copy.
    rec.mode("fail");
    let before = outbox_files(&server).len();
    let courier = run_courier(
        &root,
        &imapd,
        &server.maildir,
        &rec.script,
        "s SELECT INBOX\r\nf COPY 1 INBOX.Outbox\r\nz LOGOUT\r\n",
    );
    let courier_append = run_courier(
        &root,
        &imapd,
        &server.maildir,
        &rec.script,
        "g APPEND INBOX.Outbox {12}\r\nSubject: x\r\n\r\nz LOGOUT\r\n",
    );
    assert_eq!(outbox_files(&server).len(), before, "Courier kept no copy");
    let mut c = server.inetd();
    c.login();
    let r = append(&mut c, "g", "INBOX.Outbox", b"Subject: x\r\n");
    assert_eq!(r.tagged.text, tagged(&courier_append, "g"));
    c.select("INBOX");
    let f = c.send("f", "COPY 1 INBOX.Outbox");
    // Courier's COPY says "[ALERT] COPY failed - no write permission or out of disk
    // space." here, which blames the wrong thing; postern says what happened, with the
    // same status and response code (RFC 3501 §7.1: the text is for humans).
    assert!(
        tagged(&courier, "f").starts_with("f NO [ALERT] "),
        "{courier}"
    );
    assert_eq!(f.tagged.text, "f NO [ALERT] Unable to send E-mail message.");
    c.logout();
    assert_eq!(outbox_files(&server).len(), before);
}
