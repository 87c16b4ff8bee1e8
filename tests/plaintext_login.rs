//! Plaintext connections (IMAP 143, POP3 110) are served up to their login by
//! `postern-login`, which is not linked with OpenSSL; a client that asks for TLS
//! (STARTTLS, STLS) goes on in `postern`, executed in the same process with the
//! connection and what the session knew (src/net/tls_handoff.rs). Checked on the real
//! processes through /proc, under `postern serve`, with our OpenSSL client.

// Both fixtures bring their own copy of tests/ports (a free-port picker, no state).
#![allow(clippy::duplicate_mod)]

mod common;
mod tls_support;

use std::net::TcpStream;

use common::server_pid_of_port;
use tls_support::*;

fn program_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn maps_openssl(pid: u32) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.contains("libssl") || maps.contains("libcrypto")
}

/// The process serving `c` (still plaintext).
fn server_of(c: &Client) -> u32 {
    let Client::Plain(tcp) = c else {
        panic!("not plain")
    };
    server_pid(tcp)
}

/// The process serving `c`, checked to run `postern-login` without OpenSSL mapped.
fn served_by_the_login_program(c: &Client) -> u32 {
    let pid = server_of(c);
    assert!(
        program_of(pid).ends_with("/postern-login"),
        "{}",
        program_of(pid)
    );
    assert!(!maps_openssl(pid), "the plaintext login maps OpenSSL");
    pid
}

fn server_pid(tcp: &TcpStream) -> u32 {
    server_pid_of_port(tcp.local_addr().unwrap().port()).expect("the server's process")
}

#[test]
fn imap_starttls_goes_on_in_the_tls_program_in_the_same_process() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.imap);
    let greeting = c.line();
    assert!(greeting.contains(" STARTTLS"), "{greeting}");
    let pid = served_by_the_login_program(&c);

    c.send("a STARTTLS\r\n");
    assert_eq!(c.line(), "a OK Begin TLS negotiation now");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    assert!(program_of(pid).ends_with("/postern"), "{}", program_of(pid));
    assert!(maps_openssl(pid));
    c.send("b CAPABILITY\r\n");
    let caps = c.until_tag("b");
    assert!(caps[0].contains("AUTH=PLAIN"), "{caps:?}");
    assert!(!caps[0].contains("STARTTLS"), "{caps:?}");
    c.send(&format!("c LOGIN {USER} {PASSWORD}\r\nd SELECT INBOX\r\n"));
    assert!(c.until_tag("c").last().unwrap().starts_with("c OK"));
    assert!(
        c.until_tag("d")
            .last()
            .unwrap()
            .starts_with("d OK [READ-WRITE]")
    );
    c.send("e LOGOUT\r\n");
    assert!(c.until_tag("e").last().unwrap().starts_with("e OK"));

    // The log follows one session across the exec, with the TLS version learnt after it.
    let log = s.stderr();
    assert!(log.contains("tls=TLSv1."), "{log}");
}

#[test]
fn failed_logins_before_starttls_count_after_it() {
    if !tools_present() {
        return;
    }
    // The settings allow 10 failures per connection.
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.imap);
    c.line();
    for n in 0..9 {
        c.send(&format!("f{n} LOGIN {USER} wrong\r\n"));
        let answer = c.until_tag(&format!("f{n}"));
        assert!(
            answer.last().unwrap().contains("[AUTHENTICATIONFAILED]"),
            "{answer:?}"
        );
    }
    c.send("a STARTTLS\r\n");
    assert_eq!(c.line(), "a OK Begin TLS negotiation now");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    c.send(&format!("b LOGIN {USER} wrong\r\n"));
    let answer = c.until_tag("b");
    assert!(
        answer.iter().any(|l| l == "* BYE Too many failed logins"),
        "the tenth failure ends the connection: {answer:?}"
    );
}

/// `postern serve` counts failed logins per address (the settings allow 10): those after
/// STARTTLS are reported from `postern` on the channel `postern-login` was given.
#[test]
fn serve_counts_the_failed_logins_made_after_starttls() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.imap);
    c.line();
    let fail = |c: &mut Client, tag: &str| {
        c.send(&format!("{tag} LOGIN {USER} wrong\r\n"));
        c.until_tag(tag)
    };
    for n in 0..5 {
        fail(&mut c, &format!("p{n}"));
    }
    c.send("a STARTTLS\r\n");
    assert_eq!(c.line(), "a OK Begin TLS negotiation now");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    for n in 0..5 {
        fail(&mut c, &format!("t{n}"));
    }
    drop(c);
    // The daemon reads the reports as they come; give it a moment to see the last.
    let mut greeting = String::new();
    for _ in 0..50 {
        greeting = Client::connect(s.imap).line();
        if greeting.starts_with("* BYE") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        greeting.starts_with("* BYE [UNAVAILABLE] Too many failed logins"),
        "ten failures, five of them after STARTTLS, close the address: {greeting}"
    );
}

#[test]
fn the_prelogin_deadline_runs_on_across_starttls() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    std::fs::write(
        &s.config,
        std::fs::read_to_string(&s.config).unwrap() + "[limits]\npreauth_timeout = 4\n",
    )
    .unwrap();
    // The settings are read per connection, so this one gets 4 s before login.
    let mut c = Client::connect(s.imap);
    c.line();
    std::thread::sleep(std::time::Duration::from_millis(2000));
    c.send("a STARTTLS\r\n");
    assert_eq!(c.line(), "a OK Begin TLS negotiation now");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    let started = std::time::Instant::now();
    // Silent: the deadline, counted from the connection, ends it about 2 s later
    // (4 s if the exec had started it over).
    let bye = c.line();
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(3500),
        "the deadline started over at the exec: {:?}",
        started.elapsed()
    );
}

#[test]
fn pop3_stls_goes_on_in_the_tls_program_in_the_same_process() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.pop3);
    assert!(c.line().starts_with("+OK"));
    let pid = served_by_the_login_program(&c);
    c.send("STLS\r\n");
    assert_eq!(c.line(), "+OK Begin TLS negotiation now.");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    assert!(program_of(pid).ends_with("/postern"), "{}", program_of(pid));
    c.send(&format!(
        "USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nQUIT\r\n"
    ));
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK Logged in"));
    assert_eq!(c.line(), "+OK 0 0");
    assert!(c.line().starts_with("+OK"));
}

#[test]
fn a_plaintext_pop3_session_runs_in_the_login_program() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.pop3);
    assert!(c.line().starts_with("+OK"));
    c.send(&format!("USER {USER}\r\nPASS {PASSWORD}\r\n"));
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK Logged in"));
    served_by_the_login_program(&c);
    c.send("STLS\r\nQUIT\r\n");
    assert!(c.line().starts_with("-ERR"), "no STLS after login");
    assert!(c.line().starts_with("+OK"));
}

/// `postern-login` alone (no `postern` beside it), under `systemd-socket-activate
/// --accept` as the units run it: STARTTLS is refused with a response code and the
/// connection goes on in plaintext, never left waiting for a handshake no one runs.
#[test]
fn starttls_without_the_tls_program_is_refused_and_the_session_goes_on() {
    if !tools_present() {
        return;
    }
    if !common::skip::have("systemd-socket-activate") {
        eprintln!("SKIP: systemd-socket-activate is not installed (Debian package systemd)");
        return;
    }
    let s = Server::start("", "", "");
    let alone = tempfile::tempdir().unwrap();
    let program = alone.path().join("postern-login");
    std::fs::copy(env!("CARGO_BIN_EXE_postern-login"), &program).unwrap();
    let port = common::ports::free_port();
    let mut activator = std::process::Command::new("systemd-socket-activate")
        .args(["--accept", "-l", &format!("127.0.0.1:{port}")])
        .arg(&program)
        .arg("--config")
        .arg(&s.config)
        .arg("imapd")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let connected = (0..100).find_map(|_| {
        TcpStream::connect(("127.0.0.1", port))
            .map_err(|_| std::thread::sleep(std::time::Duration::from_millis(50)))
            .ok()
    });
    let mut c = match connected {
        Some(tcp) => {
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            Client::Plain(tcp)
        }
        None => {
            let _ = activator.kill();
            panic!("systemd-socket-activate never listened");
        }
    };
    let greeting = c.line();
    c.send(&format!(
        "a STARTTLS\r\nb LOGIN {USER} {PASSWORD}\r\nc LOGOUT\r\n"
    ));
    let starttls = c.until_tag("a");
    let login = c.until_tag("b");
    let logout = c.until_tag("c");
    let _ = activator.kill();
    let _ = activator.wait();
    assert!(greeting.contains(" STARTTLS"), "{greeting}");
    assert_eq!(
        starttls.last().unwrap(),
        "a NO [UNAVAILABLE] TLS is not available now",
        "{starttls:?}"
    );
    assert!(login.last().unwrap().starts_with("b OK"), "{login:?}");
    assert!(logout.last().unwrap().starts_with("c OK"), "{logout:?}");
}
