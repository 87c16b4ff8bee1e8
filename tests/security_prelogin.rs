//! Issue 10, items 6 and 7, each attack reproduced against the real binary: what an
//! unauthenticated client can make one session cost in memory (a 60 MB APPEND literal,
//! a flood of empty `{0+}` literals: the session's peak RSS, VmHWM, stays small), how long
//! it can keep a session before login (a byte drip just inside the read timeout is cut off
//! at `preauth_timeout`), and how long a client that never reads can hold a session
//! (`write_timeout`), for IMAP and POP3, plain and TLS.
//!
//! Each session is `postern imapd|pop3d --inetd` on the server end of a real loopback TCP
//! connection (as inetd or systemd's Accept=yes start it), so the child process is the
//! session and /proc/PID/status is its memory. Timing checks are upper bounds only, a few
//! times the configured timeout.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{BIN, PASS, TestServer, USER};
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};

/// Peak RSS a pre-login session may reach, in kB: what the binary needs to start plus the
/// fixed per-command cap, far below what any of the floods here would take if kept.
const PEAK_RSS_LIMIT_KB: u64 = 30 * 1024;

/// The small timeouts the deadline tests configure, in seconds.
const SHORT: u64 = 2;

/// The bound within which a session must be gone once a timeout of `SHORT` applies.
const GONE_WITHIN: Duration = Duration::from_secs(3 * SHORT + 2);

/// One session process serving the server end of a loopback TCP connection.
struct Session {
    child: Child,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    stderr: PathBuf,
    started: Instant,
}

impl Session {
    /// `postern <args> --inetd --config ...` with the accepted socket as stdin and stdout.
    fn start(server: &TestServer, args: &[&str]) -> Session {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let stderr = server.dir.path().join(format!("{}.stderr", args.join("-")));
        let child = Command::new(BIN)
            .args(args)
            .arg("--inetd")
            .arg("--config")
            .arg(&server.config)
            .env_remove("POSTERN_CONFIG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::from(OwnedFd::from(accepted.try_clone().unwrap())))
            .stdout(Stdio::from(OwnedFd::from(accepted)))
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn postern");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Session {
            child,
            stream,
            reader,
            stderr,
            started: Instant::now(),
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// One line without CRLF; `None` at EOF (or a reset).
    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading from postern: {e}; stderr:\n{}", self.stderr()),
        }
    }

    #[track_caller]
    fn expect_line(&mut self) -> String {
        match self.line() {
            Some(l) => l,
            None => panic!("EOF from postern; stderr:\n{}", self.stderr()),
        }
    }

    /// Lines up to and including the one starting with `prefix`.
    #[track_caller]
    fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.expect_line();
            let done = l.starts_with(prefix);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Writes `data` from another thread (the server may stop reading), ignoring errors.
    fn send_in_background(&self, data: Vec<u8>) -> JoinHandle<()> {
        let mut w = self.stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        })
    }

    /// The session's peak resident set (VmHWM), in kB; the process must still be alive.
    #[track_caller]
    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the session process is alive");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// Whether the process ended within `within` from now.
    fn exits_within(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn login_imap(&mut self) {
        self.send(format!("L LOGIN {USER} {PASS}\r\n").as_bytes());
        let tagged = self.until("L ").pop().unwrap();
        assert!(tagged.starts_with("L OK"), "{tagged}");
    }

    fn login_pop3(&mut self) {
        self.send(format!("USER {USER}\r\nPASS {PASS}\r\n").as_bytes());
        assert!(self.expect_line().starts_with("+OK"));
        let l = self.expect_line();
        assert!(l.starts_with("+OK Logged in"), "{l}");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(overrides: &[(&'static str, &'static str, &str)]) -> TestServer {
    TestServer::with(overrides)
}

/// Peak RSS is a Linux /proc figure; elsewhere the memory tests say so and stop.
fn proc_status_available(test: &str) -> bool {
    if std::path::Path::new("/proc/self/status").exists() {
        return true;
    }
    eprintln!("SKIP: {test}: /proc/PID/status is not available");
    false
}

// ---- item 6: pre-login memory ----

#[test]
fn prelogin_append_of_60_mb_is_refused_without_a_continuation() {
    if !proc_status_available("prelogin_append_of_60_mb_is_refused_without_a_continuation") {
        return;
    }
    let s = server(&[]);
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    // Synchronizing: the server must answer at once, not with "+ ", so the client never
    // sends the 60 MB.
    c.send(b"a APPEND INBOX {62914560}\r\n");
    let answer = c.expect_line();
    assert!(
        answer.starts_with("a BAD") && answer.contains("log in"),
        "{answer}"
    );
    // LITERAL+: the client sends the 60 MB anyway; they are drained, not kept.
    let mut flood = b"b APPEND INBOX {62914560+}\r\n".to_vec();
    flood.resize(flood.len() + 62_914_560, b'x');
    flood.extend_from_slice(b"\r\nc NOOP\r\n");
    let writer = c.send_in_background(flood);
    let lines = c.until("c ");
    writer.join().unwrap();
    assert!(lines.iter().any(|l| l.starts_with("b BAD")), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("c OK"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with('+')), "{lines:?}");
    let peak = c.peak_rss_kb();
    eprintln!("peak RSS after a 60 MB pre-login APPEND: {peak} kB");
    assert!(peak < PEAK_RSS_LIMIT_KB, "VmHWM {peak} kB");
}

#[test]
fn prelogin_empty_literal_flood_stays_small() {
    if !proc_status_available("prelogin_empty_literal_flood_stays_small") {
        return;
    }
    let s = server(&[]);
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    // Half a million `{0+}` lines each way: in an APPEND (refused at its first literal)
    // and in a LOGIN, whose bookkeeping per line and literal meets max_command_size.
    let mut flood = Vec::new();
    for first in ["a APPEND INBOX {0+}\r\n", "b LOGIN {0+}\r\n"] {
        flood.extend_from_slice(first.as_bytes());
        for _ in 0..500_000 {
            flood.extend_from_slice(b"{0+}\r\n");
        }
        flood.extend_from_slice(b"x\r\n");
    }
    flood.extend_from_slice(b"c NOOP\r\n");
    let writer = c.send_in_background(flood);
    let lines = c.until("c ");
    writer.join().unwrap();
    assert!(lines.iter().any(|l| l.starts_with("a BAD")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("b NO [TOOBIG]")),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("c OK"), "{lines:?}");
    let peak = c.peak_rss_kb();
    eprintln!("peak RSS after 1M pre-login {{0+}} lines: {peak} kB");
    assert!(peak < PEAK_RSS_LIMIT_KB, "VmHWM {peak} kB");
}

#[test]
fn prelogin_sasl_and_pop3_lines_are_bounded() {
    if !proc_status_available("prelogin_sasl_and_pop3_lines_are_bounded") {
        return;
    }
    let s = server(&[]);
    let huge = "A".repeat(20 << 20);
    // An AUTHENTICATE continuation line of 20 MB.
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    c.send(b"a AUTHENTICATE PLAIN\r\n");
    assert!(c.expect_line().starts_with('+'));
    let writer = c.send_in_background(format!("{huge}\r\nb NOOP\r\n").into_bytes());
    let lines = c.until("b ");
    writer.join().unwrap();
    assert!(lines[0].starts_with("a BAD"), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("b OK"), "{lines:?}");
    let peak = c.peak_rss_kb();
    eprintln!("peak RSS after a 20 MB AUTHENTICATE line: {peak} kB");
    assert!(peak < PEAK_RSS_LIMIT_KB, "VmHWM {peak} kB");
    // POP3: a 20 MB command line, then an AUTH PLAIN response line of 20 MB.
    let mut c = Session::start(&s, &["pop3d"]);
    assert!(c.expect_line().starts_with("+OK"));
    let writer = c.send_in_background(
        format!("USER {huge}\r\nAUTH PLAIN\r\n{huge}\r\nNOOP\r\n").into_bytes(),
    );
    let lines: Vec<String> = (0..4).map(|_| c.expect_line()).collect();
    writer.join().unwrap();
    assert_eq!(lines[0], "-ERR Line too long.", "{lines:?}");
    assert!(lines[1].starts_with("+ "), "{lines:?}");
    assert_eq!(lines[2], "-ERR Line too long.", "{lines:?}");
    assert!(lines[3].starts_with("-ERR"), "NOOP before login: {lines:?}");
    let peak = c.peak_rss_kb();
    eprintln!("peak RSS after 20 MB POP3 lines: {peak} kB");
    assert!(peak < PEAK_RSS_LIMIT_KB, "VmHWM {peak} kB");
}

#[test]
fn literal_count_is_capped_after_login_too() {
    let s = server(&[("limits", "max_command_literals", "50")]);
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    c.login_imap();
    c.send(b"S SELECT INBOX\r\n");
    c.until("S OK");
    let mut cmd = b"a SEARCH".to_vec();
    for _ in 0..60 {
        cmd.extend_from_slice(b" TEXT {0+}\r\n");
    }
    cmd.extend_from_slice(b"\r\nb NOOP\r\n");
    c.send(&cmd);
    let lines = c.until("b ");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("a NO [TOOBIG] more than 50 literals")),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("b OK"), "{lines:?}");
    // An APPEND after login still works.
    c.send(b"c APPEND INBOX {5+}\r\nhello\r\n");
    let tagged = c.until("c ").pop().unwrap();
    assert!(tagged.starts_with("c OK"), "{tagged}");
}

// ---- item 7: deadlines ----

/// Sends `x` one byte every 0.3 s, reading in between, until the server closes; returns
/// what it said. Gives up after `limit`.
fn drip(stream: &mut dyn ReadWrite, set_timeout: &dyn Fn(Duration), limit: Duration) -> String {
    set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    let mut writing = true;
    while started.elapsed() < limit {
        if writing
            && stream
                .write_all(b"x")
                .and_then(|()| stream.flush())
                .is_err()
        {
            writing = false;
        }
        match stream.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&said).into_owned(),
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return String::from_utf8_lossy(&said).into_owned(),
        }
    }
    panic!(
        "still connected after {limit:?} of dripping; the server said {:?}",
        String::from_utf8_lossy(&said)
    )
}

impl Session {
    /// Drips bytes on the plain connection until the server hangs up, which must come
    /// with `farewell`, within [`GONE_WITHIN`] of the start, the process gone too.
    #[track_caller]
    fn drip_until_cut_off(&mut self, farewell: &str) {
        let mut stream = self.stream.try_clone().unwrap();
        let timeouts = stream.try_clone().unwrap();
        let said = drip(
            &mut stream,
            &|t| timeouts.set_read_timeout(Some(t)).unwrap(),
            GONE_WITHIN,
        );
        assert!(said.contains(farewell), "{said:?}");
        assert!(self.started.elapsed() < GONE_WITHIN);
        assert!(
            self.exits_within(GONE_WITHIN),
            "the session process is still there"
        );
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn short_preauth() -> TestServer {
    server(&[("limits", "preauth_timeout", &SHORT.to_string())])
}

#[test]
fn imap_prelogin_byte_drip_is_cut_off_at_preauth_timeout() {
    let s = short_preauth();
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    c.drip_until_cut_off("* BYE");
    assert!(c.stderr().contains("TIMEOUT"), "{}", c.stderr());
}

#[test]
fn pop3_prelogin_byte_drip_is_cut_off_at_preauth_timeout() {
    let s = short_preauth();
    let mut c = Session::start(&s, &["pop3d"]);
    assert!(c.expect_line().starts_with("+OK"));
    c.drip_until_cut_off("-ERR");
}

#[test]
fn imap_sasl_exchange_is_inside_the_login_deadline() {
    // AUTHENTICATE's continuation lines are read under the same deadline.
    let s = short_preauth();
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    c.send(b"a AUTHENTICATE PLAIN\r\n");
    assert!(c.expect_line().starts_with('+'));
    c.drip_until_cut_off("* BYE");
}

#[test]
fn login_ends_the_deadline() {
    // Logged in, the session outlives preauth_timeout.
    let s = short_preauth();
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    c.login_imap();
    std::thread::sleep(Duration::from_secs(SHORT + 1));
    c.send(b"n NOOP\r\n");
    assert!(c.until("n ").pop().unwrap().starts_with("n OK"));
}

/// A message of about `size` bytes.
fn big_message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nSubject: big\r\n\r\n".to_vec();
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789012\r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m
}

fn short_write_timeout() -> TestServer {
    let s = server(&[("limits", "write_timeout", &SHORT.to_string())]);
    s.put(
        "INBOX",
        "cur",
        "1700000000.M1P1.test",
        "",
        &big_message(2_000_000),
    );
    s
}

/// Sends `commands` without ever reading and checks that the session process is gone
/// within the bound once the server can no longer write.
fn never_reads(c: &mut Session, commands: Vec<u8>) {
    let writer = c.send_in_background(commands);
    let sent_at = Instant::now();
    // The writer may block for as long as the server still reads; the process must be
    // gone well within the bound either way.
    assert!(
        c.exits_within(GONE_WITHIN + Duration::from_secs(2)),
        "the session process is still there {:?} after the commands; stderr:\n{}",
        sent_at.elapsed(),
        c.stderr()
    );
    writer.join().unwrap();
    assert!(c.stderr().contains("TIMEOUT"), "{}", c.stderr());
}

#[test]
fn imap_client_that_never_reads_a_big_fetch_is_dropped() {
    let s = short_write_timeout();
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    c.login_imap();
    c.send(b"S SELECT INBOX\r\n");
    c.until("S OK");
    let commands = (0..20)
        .map(|i| format!("f{i} FETCH 1 BODY.PEEK[]\r\n"))
        .collect::<String>();
    never_reads(&mut c, commands.into_bytes());
}

#[test]
fn imap_prelogin_client_that_never_reads_is_dropped() {
    let s = short_write_timeout();
    let mut c = Session::start(&s, &["imapd"]);
    assert!(c.expect_line().starts_with("* OK"));
    let commands = "a CAPABILITY\r\n".repeat(50_000);
    never_reads(&mut c, commands.into_bytes());
}

#[test]
fn pop3_client_that_never_reads_a_big_retr_is_dropped() {
    let s = short_write_timeout();
    let mut c = Session::start(&s, &["pop3d"]);
    assert!(c.expect_line().starts_with("+OK"));
    c.login_pop3();
    never_reads(&mut c, "RETR 1\r\n".repeat(20).into_bytes());
}

#[test]
fn pop3_prelogin_client_that_never_reads_capa_is_dropped() {
    let s = short_write_timeout();
    let mut c = Session::start(&s, &["pop3d"]);
    assert!(c.expect_line().starts_with("+OK"));
    never_reads(&mut c, "CAPA\r\n".repeat(100_000).into_bytes());
}

// ---- the same over TLS ----

/// A server with a self-signed certificate made by `postern mkcert`.
fn tls_server(overrides: &[(&'static str, &'static str, &str)]) -> TestServer {
    let s = server(overrides);
    let cert = s.dir.path().join("cert.pem");
    let dh = s.dir.path().join("no-dhparams.pem");
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(&s.config)
        .unwrap();
    write!(
        config,
        "[tls]\ncertificate = \"{}\"\ndh_params = \"{}\"\n",
        cert.display(),
        dh.display()
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["mkcert", "--ec", "--hostname", "localhost", "--config"])
        .arg(&s.config)
        .env_remove("POSTERN_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mkcert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s
}

fn tls_connect(c: &Session) -> SslStream<TcpStream> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    b.build()
        .connect("localhost", c.stream.try_clone().unwrap())
        .expect("TLS handshake with postern")
}

fn tls_line(tls: &mut SslStream<TcpStream>) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
}

#[test]
fn tls_prelogin_byte_drip_is_cut_off_at_preauth_timeout() {
    let s = tls_server(&[("limits", "preauth_timeout", &SHORT.to_string())]);
    let c = Session::start(&s, &["imapd", "--tls"]);
    let mut tls = tls_connect(&c);
    assert!(tls_line(&mut tls).starts_with("* OK"));
    let timeouts = c.stream.try_clone().unwrap();
    // Every byte is its own TLS record.
    let said = drip(
        &mut tls,
        &|t| timeouts.set_read_timeout(Some(t)).unwrap(),
        GONE_WITHIN,
    );
    assert!(said.contains("* BYE"), "{said:?}");
    let mut c = c;
    assert!(c.started.elapsed() < GONE_WITHIN);
    assert!(
        c.exits_within(GONE_WITHIN),
        "the session process is still there"
    );
}

#[test]
fn tls_client_that_never_reads_is_dropped() {
    let s = tls_server(&[("limits", "write_timeout", &SHORT.to_string())]);
    s.put(
        "INBOX",
        "cur",
        "1700000000.M1P1.test",
        "",
        &big_message(2_000_000),
    );
    let mut c = Session::start(&s, &["pop3d", "--tls"]);
    let mut tls = tls_connect(&c);
    assert!(tls_line(&mut tls).starts_with("+OK"));
    tls.write_all(format!("USER {USER}\r\nPASS {PASS}\r\n").as_bytes())
        .unwrap();
    assert!(tls_line(&mut tls).starts_with("+OK"));
    assert!(tls_line(&mut tls).starts_with("+OK Logged in"));
    // The commands fit in the socket buffers at once; then nothing is ever read.
    tls.write_all("RETR 1\r\n".repeat(20).as_bytes()).unwrap();
    assert!(
        c.exits_within(GONE_WITHIN + Duration::from_secs(2)),
        "the session process is still there; stderr:\n{}",
        c.stderr()
    );
    assert!(c.stderr().contains("TIMEOUT"), "{}", c.stderr());
}
