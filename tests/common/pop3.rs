//! The one POP3 test client: a session over TCP (plain, implicit TLS, or switched to TLS by
//! STLS) or over the pipes of an `--inetd` child (postern's or Courier's), one line or one
//! multi-line answer at a time (RFC 1939 §3: a multi-line answer ends with `.`, and a line
//! that starts with `.` is sent with one more).
//!
//! Reads give up after `WAIT` so that a silent server fails a test instead of hanging it;
//! every line sent and received is kept for panic messages. A spawned child is killed when
//! the client is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode};

use super::{TimedReader, WAIT, postern_command, shorten};

/// What the session runs over.
enum Wire {
    /// An `--inetd` child's stdout and stdin (`None` once closed).
    Pipes(TimedReader, Option<ChildStdin>),
    Tcp(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
    /// Only while STLS swaps `Tcp` for `Tls`.
    Switching,
}

/// A POP3 session as a client sees it.
pub struct Pop3 {
    wire: Wire,
    /// Received and not yet taken.
    buf: Vec<u8>,
    child: Option<Child>,
    /// Where the child's stderr (the session's log) goes.
    stderr: Option<PathBuf>,
    /// The server's first line, without CRLF.
    pub greeting: String,
    /// Everything sent and received, for panic messages.
    pub log: Vec<String>,
}

impl Drop for Pop3 {
    fn drop(&mut self) {
        if let Wire::Tcp(s) = &self.wire {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(child) = &mut self.child
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `postern pop3d --inetd --config CONFIG` on pipes; its stderr goes to a new file beside
/// `config` (see [`Pop3::stderr`]).
pub fn inetd(config: &Path) -> Pop3 {
    static SESSIONS: AtomicU32 = AtomicU32::new(0);
    let n = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let stderr = config.with_file_name(format!("pop3d-{n}.stderr"));
    let mut cmd = postern_command("pop3d", config);
    cmd.arg("--inetd");
    Pop3::spawn("postern pop3d", cmd, Some(stderr))
}

/// `user` and `password` as an `AUTH PLAIN` initial response (RFC 4616).
pub fn plain(user: &str, password: &str) -> String {
    super::base64(format!("\0{user}\0{password}").as_bytes())
}

impl Pop3 {
    fn new(wire: Wire, child: Option<Child>, stderr: Option<PathBuf>) -> Pop3 {
        Pop3 {
            wire,
            buf: Vec::new(),
            child,
            stderr,
            greeting: String::new(),
            log: Vec::new(),
        }
    }

    /// Reads the greeting into `greeting`.
    fn greeted(mut self) -> Pop3 {
        self.greeting = self.line();
        self
    }

    /// `cmd` on pipes (its stderr to the file `stderr`, else discarded); after the greeting.
    pub fn spawn(name: &str, mut cmd: Command, stderr: Option<PathBuf>) -> Pop3 {
        let err = match &stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let out = TimedReader::new(child.stdout.take().unwrap());
        let wire = Wire::Pipes(out, child.stdin.take());
        Pop3::new(wire, Some(child), stderr).greeted()
    }

    /// A TCP session with `127.0.0.1:port`, after the greeting.
    pub fn connect(port: u16) -> Pop3 {
        Pop3::connect_to(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    pub fn connect_to(addr: SocketAddr) -> Pop3 {
        Pop3::tcp(addr).greeted()
    }

    /// Implicit TLS (port 995 style) with `127.0.0.1:port`, verified against `ca`,
    /// presenting `cert` (certificate, key) if given; after the greeting.
    pub fn connect_tls(port: u16, ca: &Path, cert: Option<(&Path, &Path)>) -> Pop3 {
        let mut p = Pop3::tcp(SocketAddr::from(([127, 0, 0, 1], port)));
        p.start_tls(ca, cert).expect("TLS handshake with postern");
        p.greeted()
    }

    fn tcp(addr: SocketAddr) -> Pop3 {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        s.set_read_timeout(Some(WAIT)).unwrap();
        Pop3::new(Wire::Tcp(s), None, None)
    }

    /// Handshakes as a TLS client on the plain TCP session (after `+OK` to STLS).
    pub fn start_tls(&mut self, ca: &Path, cert: Option<(&Path, &Path)>) -> Result<(), String> {
        assert!(
            self.buf.is_empty(),
            "plaintext after the STLS answer: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let Wire::Tcp(tcp) = std::mem::replace(&mut self.wire, Wire::Switching) else {
            panic!("TLS needs a plain TCP session");
        };
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(ca).unwrap();
        b.set_verify(SslVerifyMode::PEER);
        if let Some((c, k)) = cert {
            b.set_certificate_file(c, SslFiletype::PEM).unwrap();
            b.set_private_key_file(k, SslFiletype::PEM).unwrap();
        }
        let tls = b
            .build()
            .connect("localhost", tcp)
            .map_err(|e| e.to_string())?;
        self.log.push("-- TLS --".into());
        self.wire = Wire::Tls(Box::new(tls));
        Ok(())
    }

    /// Sends `bytes` as they are. A server that hung up makes this fail; reading then
    /// shows why.
    pub fn send(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for l in text.trim_end().split("\r\n") {
            self.log.push(format!("C: {}", shorten(l)));
        }
        let _ = match &mut self.wire {
            Wire::Pipes(_, Some(w)) => w.write_all(bytes).and_then(|()| w.flush()),
            Wire::Pipes(_, None) => panic!("stdin already closed"),
            Wire::Tcp(s) => s.write_all(bytes),
            Wire::Tls(s) => s.write_all(bytes),
            Wire::Switching => unreachable!(),
        };
    }

    /// More input into `buf`; `false` at EOF.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let got = match &mut self.wire {
            Wire::Pipes(r, _) => r.read(&mut chunk),
            Wire::Tcp(s) => s.read(&mut chunk),
            Wire::Tls(s) => s.read(&mut chunk),
            Wire::Switching => unreachable!(),
        };
        match got {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no answer in {WAIT:?}; session:\n{}", self.session())
            }
            // A reset (the server closed with input unread) or a TLS close is an end.
            Err(_) => false,
        }
    }

    /// The session so far, for panic messages.
    pub fn session(&self) -> String {
        self.log.join("\n")
    }

    /// One line as received (CRLF included); `None` at EOF. Bytes before an EOF that
    /// ends no line are returned as they are.
    pub fn raw_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&raw);
                self.log.push(format!("S: {}", shorten(text.trim_end())));
                return Some(raw);
            }
            if !self.fill() {
                return (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf));
            }
        }
    }

    /// One line without its CRLF, `None` at EOF; asserts the CRLF.
    #[track_caller]
    pub fn next_line(&mut self) -> Option<String> {
        let raw = self.raw_line()?;
        assert!(
            raw.ends_with(b"\r\n"),
            "line not ended by CRLF: {:?}; session:\n{}",
            String::from_utf8_lossy(&raw),
            self.session()
        );
        Some(String::from_utf8_lossy(&raw[..raw.len() - 2]).into_owned())
    }

    /// One line without its CRLF; asserts the CRLF and that there is one.
    #[track_caller]
    pub fn line(&mut self) -> String {
        match self.next_line() {
            Some(l) => l,
            None => panic!("EOF from the server; session:\n{}", self.session()),
        }
    }

    /// Sends `command` and CRLF; the first line of the answer.
    #[track_caller]
    pub fn cmd(&mut self, command: &str) -> String {
        self.cmd_bytes(command.as_bytes())
    }

    /// `cmd` for a command line that is not text (a NUL, a bare CR).
    #[track_caller]
    pub fn cmd_bytes(&mut self, command: &[u8]) -> String {
        self.send(&[command, b"\r\n"].concat());
        self.line()
    }

    /// `cmd`, asserting `+OK`.
    #[track_caller]
    pub fn ok(&mut self, command: &str) -> String {
        let answer = self.cmd(command);
        assert!(
            answer.starts_with("+OK"),
            "{command:?} refused: {answer}; session:\n{}",
            self.session()
        );
        answer
    }

    /// The rest of a multi-line answer as on the wire (still dot-stuffed, CRLFs kept),
    /// without the final `.` line.
    #[track_caller]
    pub fn multiline_raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let Some(l) = self.raw_line() else {
                panic!(
                    "EOF inside a multi-line answer; session:\n{}",
                    self.session()
                );
            };
            if l == b".\r\n" {
                return out;
            }
            out.extend_from_slice(&l);
        }
    }

    /// The rest of a multi-line answer, dot-unstuffed: the bytes the server meant.
    #[track_caller]
    pub fn multiline(&mut self) -> Vec<u8> {
        unstuff(&self.multiline_raw())
    }

    /// The rest of a multi-line answer as lines (dot-unstuffed, without CRLF).
    #[track_caller]
    pub fn lines(&mut self) -> Vec<String> {
        let body = self.multiline();
        String::from_utf8_lossy(&body)
            .split_terminator("\r\n")
            .map(str::to_owned)
            .collect()
    }

    /// A multi-line command's lines, asserting its `+OK`.
    #[track_caller]
    pub fn list(&mut self, command: &str) -> Vec<String> {
        self.ok(command);
        self.lines()
    }

    /// `USER` and `PASS`, both `+OK`; the answer to `PASS`.
    #[track_caller]
    pub fn login(&mut self, user: &str, password: &str) -> String {
        self.ok(&format!("USER {user}"));
        self.ok(&format!("PASS {password}"))
    }

    /// Whether the server closed the session with nothing more to say.
    pub fn closed(&mut self) -> bool {
        self.raw_line().is_none()
    }

    /// Asserts that the server has closed the session: no more lines, EOF.
    #[track_caller]
    pub fn assert_closed(&mut self) {
        if let Some(l) = self.raw_line() {
            panic!(
                "the session goes on: {:?}; session:\n{}",
                String::from_utf8_lossy(&l),
                self.session()
            );
        }
    }

    /// The spawned child's log so far (its stderr file).
    pub fn stderr(&self) -> String {
        self.stderr
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// The spawned child (e.g. to read its /proc entry).
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("a spawned session")
    }

    /// SIGKILL to the spawned child, reaped.
    pub fn kill(&mut self) {
        let child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Closes the client's side and waits for a spawned child to exit, which it must do
    /// successfully within `WAIT`; returns its log.
    #[track_caller]
    pub fn finish(mut self) -> String {
        match &mut self.wire {
            Wire::Pipes(_, stdin) => drop(stdin.take()),
            Wire::Tcp(s) => drop(s.shutdown(Shutdown::Write)),
            Wire::Tls(s) => drop(s.shutdown()),
            Wire::Switching => {}
        }
        let deadline = Instant::now() + WAIT;
        if let Some(child) = &mut self.child {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "exit status {status}");
                    break;
                }
                assert!(Instant::now() < deadline, "the session did not end");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.stderr()
    }

    /// `QUIT` (asserting `+OK`), then [`finish`](Pop3::finish): the log.
    #[track_caller]
    pub fn quit(mut self) -> String {
        self.ok("QUIT");
        self.finish()
    }
}

/// Removes the extra `.` of every line that starts with one (RFC 1939 §3).
pub fn unstuff(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    for line in wire.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}
