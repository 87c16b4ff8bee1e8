//! After an IMAP login over a plaintext socket, the login program (`postern-login` under
//! `postern serve`, as here; `postern imapd` elsewhere) executes
//! `postern-session` (same process id, now the mail session program) and hands it the
//! connection (src/net/handoff.rs). Checked on the real processes through /proc: the
//! program that serves the mail maps no OpenSSL, PAM or crypt library, holds nothing the
//! login opened but the connection, and serves what the client sent with its LOGIN.

mod common;

use std::path::Path;
use std::process::Command;

use common::{PASS, TestServer, USER, message, server_pid_of_port};

const SESSION_BIN: &str = env!("CARGO_BIN_EXE_postern-session");

fn program_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The shared libraries `pid` maps.
fn libraries_of(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the process lives");
    let mut libs: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(".so"))
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
        .collect();
    libs.dedup();
    libs
}

/// What the descriptors of `pid` lead to.
fn descriptors_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process lives")
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .map(|target| target.display().to_string())
        .collect()
}

#[test]
fn after_login_the_mail_session_program_serves_the_connection() {
    if !Path::new("/proc/self/maps").exists() {
        eprintln!("SKIP: after_login_the_mail_session_program_serves_the_connection: no /proc");
        return;
    }
    let mut server = TestServer::new();
    server.deliver(
        None,
        &message("a@example.org", "handed over", "the body\r\n"),
    );
    let mut c = server.connect();
    let pid = server_pid_of_port(c.local_port().unwrap()).expect("the session's process");
    assert!(
        program_of(pid).ends_with("/postern-login"),
        "{}",
        program_of(pid)
    );
    let before = libraries_of(pid);
    assert!(
        before.iter().any(|l| l.starts_with("libpam")),
        "the login process is linked with PAM: {before:?}"
    );

    c.login();
    assert_eq!(
        server_pid_of_port(c.local_port().unwrap()),
        Some(pid),
        "the same process goes on"
    );
    assert!(
        program_of(pid).ends_with("/postern-session"),
        "after LOGIN the process runs {}",
        program_of(pid)
    );
    let after = libraries_of(pid);
    for lib in ["libssl", "libcrypto", "libpam", "libcrypt.", "libaudit"] {
        assert!(
            !after.iter().any(|l| l.starts_with(lib)),
            "{lib} in the mail session: {after:?}"
        );
    }
    // The connection, stdio and nothing the login opened: no handoff record left open,
    // no file under /etc (the user file, PAM's files, a TLS key).
    let fds = descriptors_of(pid);
    assert!(
        !fds.iter()
            .any(|t| t.contains("postern-handoff") || t.starts_with("/etc/")),
        "descriptors of the mail session: {fds:?}"
    );

    let r = c.select("INBOX");
    assert_eq!(r.exists(), vec![1]);
    let r = c.send("f", "FETCH 1 (BODY[TEXT])");
    r.assert_ok();
    assert!(r.dump().contains("the body"), "{}", r.dump());
    c.logout();

    // One session in the log: the login process's id goes on in the session program.
    let log = server.serve_stderr();
    let id_of = |event: &str| {
        log.lines()
            .find(|l| l.contains(event) && l.contains("user=alice"))
            .and_then(|l| l.split("session_id=").nth(1))
            .map(|id| id.trim().to_owned())
    };
    let login = id_of("LOGIN,").expect("a LOGIN line");
    assert_eq!(id_of("LOGOUT,"), Some(login), "log:\n{log}");
}

#[test]
fn commands_sent_with_the_login_are_served_after_the_hand_over() {
    let mut server = TestServer::new();
    server.deliver(None, &message("a@example.org", "pipelined", "x\r\n"));
    let mut c = server.connect();
    // One write: the login process has read all three when it hands over.
    c.write(
        format!("p1 LOGIN {USER} {PASS}\r\np2 SELECT INBOX\r\np3 FETCH 1 (FLAGS)\r\n").as_bytes(),
    );
    c.read_reply("p1", 0).assert_ok();
    assert_eq!(c.read_reply("p2", 0).exists(), vec![1]);
    let r = c.read_reply("p3", 0);
    r.assert_ok();
    assert_eq!(r.fetches().len(), 1, "{}", r.dump());
    c.logout();
}

#[test]
fn the_session_program_is_not_a_way_in() {
    // Started by hand it has no connection and no record: it says so and serves nothing.
    let out = Command::new(SESSION_BIN)
        .output()
        .expect("run postern-session");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("after a login"), "{err}");

    // Nor does a descriptor 4 with a record of someone's making reach a session without
    // a connection at 3.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 4</dev/null; exec {SESSION_BIN}"))
        .output()
        .expect("run postern-session");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
