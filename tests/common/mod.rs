//! Shared fixture for the IMAP integration tests: a temporary account (user file, Maildir,
//! settings), the real `postern` binary started as `serve` on a free loopback port or as an
//! `imapd --inetd` child, and a raw IMAP client that reads whole responses (literals
//! included) and checks every one of them with imap-codec's response parser.
//!
//! Every process started here is stopped by `TestServer`'s `Drop`. Reads give up after
//! `WAIT` so that a silent server fails a test instead of hanging it; nothing here measures
//! time.

#![allow(dead_code)]

#[path = "../ports/mod.rs"]
pub mod ports;

#[path = "../owner/mod.rs"]
pub mod owner;
pub use owner::{give_to_mail_owner, mail_owner, open_to_mail_owner};

pub mod pop3;
pub mod skip;

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use imap_codec_next::decode::Decoder;
use imap_codec_next::{GreetingCodec, ResponseCodec};

pub const BIN: &str = env!("CARGO_BIN_EXE_postern");
pub const USER: &str = "alice";
pub const PASS: &str = "secret";
/// Longest a test waits for one server response or for a process to start or stop.
pub const WAIT: Duration = Duration::from_secs(30);

/// Responses that are valid IMAP but that imap-codec 2.0.0-alpha.10 cannot parse. Each
/// entry: a substring that identifies the response, and why it is allowed.
const CODEC_ALLOW_LIST: &[(&str, &str)] = &[
    (
        "(\"CHILDINFO\" (",
        "RFC 5258 mbox-list-extended item (CHILDINFO for LIST ... (SUBSCRIBED RECURSIVEMATCH)): \
         imap-codec 2.0.0-alpha.10 fails on the extended data after the mailbox name",
    ),
    (
        "APPENDLIMIT ",
        "RFC 7889 status-att APPENDLIMIT (STATUS ... (APPENDLIMIT n)): imap-codec \
         2.0.0-alpha.10 has no APPENDLIMIT extension",
    ),
    (
        "* ACL ",
        "RFC 4314 acl-data: imap-codec 2.0.0-alpha.10 has no ACL extension",
    ),
    (
        "* ESEARCH ",
        "RFC 4731 esearch-response (with RFC 9394 PARTIAL): imap-codec 2.0.0-alpha.10 has no \
         ESEARCH extension and no feature that enables one",
    ),
    (
        "* MYRIGHTS ",
        "RFC 4314 myrights-data: imap-codec has no ACL extension",
    ),
    (
        "* LISTRIGHTS ",
        "RFC 4314 listrights-data: imap-codec has no ACL extension",
    ),
    (
        "((\"ACL\" (",
        "Courier's ACL2-draft LIST data (LIST (ACL) / the ACL command's answer)",
    ),
    (
        "(\"MYRIGHTS\" \"",
        "Courier's ACL2-draft LIST data (LIST (MYRIGHTS))",
    ),
    (
        "(POSTADDRESS NIL)",
        "Courier's ACL2-draft LIST data (LIST (POSTADDRESS))",
    ),
    (
        "* RIGHTS-INFO ",
        "Courier's ACL2-draft refusal of an ACL change",
    ),
    (
        "* ACLFAILED ",
        "Courier's ACL2-draft refusal of an ACL change",
    ),
];

/// `true` when `raw` is one complete, valid response according to imap-codec (or is on the
/// allow-list); the panic message names the response otherwise.
pub fn check_response(raw: &[u8], greeting: bool) {
    let ok = if greeting {
        matches!(GreetingCodec::default().decode(raw), Ok((rest, _)) if rest.is_empty())
    } else {
        matches!(ResponseCodec::default().decode(raw), Ok((rest, _)) if rest.is_empty())
    };
    if ok || binary_origin_ok(raw) || preview_ok(raw) || object_items_ok(raw) {
        return;
    }
    let text = String::from_utf8_lossy(raw);
    if CODEC_ALLOW_LIST
        .iter()
        .any(|(needle, _)| text.contains(needle))
    {
        return;
    }
    panic!("imap-codec rejects this server response (invalid IMAP syntax?): {text:?}");
}

/// RFC 3516 §4.2 and RFC 9051 §7.5.2 answer a partial BINARY fetch as
/// `BINARY[section]<origin>`, as Dovecot does, but their ABNF (`"BINARY" section-binary SP
/// (nstring / literal8)`) leaves the `<origin>` out, and imap-codec follows the ABNF: the
/// response is checked again with every `BINARY[...]<n>` origin removed.
fn binary_origin_ok(raw: &[u8]) -> bool {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let mut changed = false;
    while i < raw.len() {
        if raw[i..].starts_with(b"BINARY[") {
            let close = raw[i..].iter().position(|&b| b == b']').map(|p| i + p);
            if let Some(close) = close {
                out.extend_from_slice(&raw[i..=close]);
                i = close + 1;
                let digits = raw[i..]
                    .iter()
                    .skip(1)
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if raw.get(i) == Some(&b'<') && digits > 0 && raw.get(i + 1 + digits) == Some(&b'>')
                {
                    i += digits + 2;
                    changed = true;
                }
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    changed && matches!(ResponseCodec::default().decode(&out), Ok((rest, _)) if rest.is_empty())
}

/// RFC 8970 `msg-att-static =/ "PREVIEW" SP nstring`, which imap-codec 2.0.0-alpha.10
/// does not know: the PREVIEW item's value is checked here (a quoted string without CR or
/// LF, a literal of the length it announces, or NIL) and the item is replaced by
/// `RFC822.SIZE 0` before the response is checked again.
fn preview_ok(raw: &[u8]) -> bool {
    let Some(at) = find_bytes(raw, b"PREVIEW ") else {
        return false;
    };
    let value = at + b"PREVIEW ".len();
    let rest = &raw[value..];
    let len = if rest.starts_with(b"NIL") {
        3
    } else if rest.first() == Some(&b'"') {
        let mut i = 1;
        loop {
            match rest.get(i) {
                Some(b'\\') => i += 2,
                Some(b'"') => break i + 1,
                Some(b'\r' | b'\n') | None => return false,
                Some(_) => i += 1,
            }
        }
    } else if rest.first() == Some(&b'{') {
        let Some(close) = rest.iter().position(|&b| b == b'}') else {
            return false;
        };
        let Ok(n) = String::from_utf8_lossy(&rest[1..close]).parse::<usize>() else {
            return false;
        };
        if !rest[close + 1..].starts_with(b"\r\n") || rest.len() < close + 3 + n {
            return false;
        }
        close + 3 + n
    } else {
        return false;
    };
    let mut out = raw[..at].to_vec();
    out.extend_from_slice(b"RFC822.SIZE 0");
    out.extend_from_slice(&raw[value + len..]);
    matches!(ResponseCodec::default().decode(&out), Ok((rest, _)) if rest.is_empty())
}

/// Items imap-codec 2.0.0-alpha.10 has no feature for, checked here by their own ABNF and
/// then replaced by an item it knows before the response is checked again:
/// RFC 8514 `msg-att-static =/ "SAVEDATE" SP (date-time / nil)` (the date-time is checked
/// by becoming an INTERNALDATE), and RFC 8474 `"EMAILID" SP "(" objectid ")"`,
/// `"THREADID" SP ("(" objectid ")" / nil)`, `status-att-val =/ "MAILBOXID" SP "("
/// objectid ")"` and `resp-text-code =/ "MAILBOXID" SP "(" objectid ")"`, with
/// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
fn object_items_ok(raw: &[u8]) -> bool {
    let mut text = String::from_utf8_lossy(raw).into_owned();
    let mut changed = false;
    while let Some(at) = text.find("SAVEDATE ") {
        let rest = &text[at + "SAVEDATE ".len()..];
        let (len, with) = if rest.starts_with("NIL") {
            (3, "RFC822.SIZE 0".to_string())
        } else if rest.starts_with('"') && rest.len() >= 28 && rest.as_bytes()[27] == b'"' {
            (28, format!("INTERNALDATE {}", &rest[..28]))
        } else {
            return false;
        };
        text.replace_range(at..at + "SAVEDATE ".len() + len, &with);
        changed = true;
    }
    for (name, with, nil_ok) in [
        ("[MAILBOXID ", "[ALERT", false),
        ("MAILBOXID ", "MESSAGES 0", false),
        ("EMAILID ", "RFC822.SIZE 0", false),
        ("THREADID ", "RFC822.SIZE 0", true),
    ] {
        while let Some(at) = text.find(name) {
            let rest = &text[at + name.len()..];
            let len = if nil_ok && rest.starts_with("NIL") {
                3
            } else if let Some(id) = rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
                let id = id.0;
                let valid = (1..=255).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !valid {
                    return false;
                }
                id.len() + 2
            } else {
                return false;
            };
            text.replace_range(at..at + name.len() + len, with);
            changed = true;
        }
    }
    changed
        && matches!(ResponseCodec::default().decode(text.as_bytes()), Ok((rest, _)) if rest.is_empty())
}

/// One complete server response: the line(s) as sent, with any literals inline.
#[derive(Clone, Debug)]
pub struct Line {
    pub raw: Vec<u8>,
    /// `raw` as text (lossy), without the final CRLF.
    pub text: String,
    /// The literals' contents, in order.
    pub literals: Vec<Vec<u8>>,
}

impl Line {
    /// For a tagged or untagged status response: `OK`, `NO`, `BAD`, `BYE`, `PREAUTH`.
    pub fn status(&self) -> &str {
        self.text.split(' ').nth(1).unwrap_or("")
    }
    /// The response code's text without brackets, e.g. `APPENDUID 3 4`.
    pub fn code(&self) -> Option<&str> {
        let rest = self.text.splitn(3, ' ').nth(2)?;
        let rest = rest.strip_prefix('[')?;
        Some(&rest[..rest.find(']')?])
    }
    pub fn is_continuation(&self) -> bool {
        self.text.starts_with('+')
    }
    /// The `UID n` of a FETCH response.
    pub fn fetch_uid(&self) -> Option<u32> {
        fetch_uid(&self.text)
    }
}

/// The `UID n` in the text of a FETCH response.
pub fn fetch_uid(text: &str) -> Option<u32> {
    text.split("UID ")
        .nth(1)?
        .split([' ', ')'])
        .next()?
        .parse()
        .ok()
}

/// What a command got back.
#[derive(Debug)]
pub struct Reply {
    pub untagged: Vec<Line>,
    pub tagged: Line,
    /// Continuation requests seen while the command was sent.
    pub continuations: usize,
}

impl Reply {
    pub fn status(&self) -> &str {
        self.tagged.status()
    }
    pub fn code(&self) -> Option<&str> {
        self.tagged.code()
    }
    pub fn is_ok(&self) -> bool {
        self.status() == "OK"
    }
    /// Everything, for panic messages.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for l in &self.untagged {
            s.push_str(&l.text);
            s.push('\n');
        }
        s.push_str(&self.tagged.text);
        s
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.is_ok(), "expected OK, got:\n{}", self.dump());
        self
    }
    #[track_caller]
    pub fn assert_status(&self, status: &str) -> &Self {
        assert_eq!(self.status(), status, "reply:\n{}", self.dump());
        self
    }
    /// Untagged lines whose text starts with `prefix` (e.g. `* LIST `).
    pub fn lines(&self, prefix: &str) -> Vec<&Line> {
        self.untagged
            .iter()
            .filter(|l| l.text.starts_with(prefix))
            .collect()
    }
    pub fn texts(&self, prefix: &str) -> Vec<String> {
        self.lines(prefix).iter().map(|l| l.text.clone()).collect()
    }
    /// The `* LIST` lines with each mailbox name quoted (Courier quotes every name,
    /// postern writes an atom where it can), so lines of both servers compare.
    pub fn list_lines_quoted(&self) -> Vec<String> {
        self.texts("* LIST")
            .into_iter()
            .map(|l| match l.rsplit_once(' ') {
                Some((head, name)) if !name.starts_with('"') => format!("{head} \"{name}\""),
                _ => l,
            })
            .collect()
    }

    /// The one untagged line starting with `prefix`.
    #[track_caller]
    pub fn one(&self, prefix: &str) -> &Line {
        let found = self.lines(prefix);
        assert_eq!(found.len(), 1, "one {prefix:?} wanted in:\n{}", self.dump());
        found[0]
    }
    pub fn has(&self, needle: &str) -> bool {
        self.untagged.iter().any(|l| l.text.contains(needle))
    }
    /// Untagged `* n EXISTS` counts, in order.
    pub fn exists(&self) -> Vec<u32> {
        self.numbered("EXISTS")
    }
    pub fn expunged(&self) -> Vec<u32> {
        self.numbered("EXPUNGE")
    }
    pub fn numbered(&self, what: &str) -> Vec<u32> {
        self.untagged
            .iter()
            .filter_map(|l| {
                let mut w = l.text.split(' ');
                (w.next() == Some("*")).then_some(())?;
                let n = w.next()?.parse().ok()?;
                (w.next() == Some(what)).then_some(n)
            })
            .collect()
    }
    /// Numbers of `* SEARCH` (one line expected).
    #[track_caller]
    pub fn search(&self) -> Vec<u32> {
        let line = self.one("* SEARCH");
        let mut v: Vec<u32> = line.text["* SEARCH".len()..]
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        v.sort_unstable();
        v
    }
}

/// Part of a command sent with `send_parts`.
pub enum Part<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
    /// A synchronizing literal `{n}`: waits for `+` before sending the bytes.
    Literal(&'a [u8]),
    /// A LITERAL+ literal `{n+}`: sent at once.
    LiteralPlus(&'a [u8]),
}

/// Reads from another thread so that every read can give up after `WAIT`.
struct TimedReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl TimedReader {
    fn new(mut source: impl Read + Send + 'static) -> TimedReader {
        let (tx, rx) = sync_channel::<Vec<u8>>(64);
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 16384];
            loop {
                match source.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(chunk[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        TimedReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for TimedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            match self.rx.recv_timeout(WAIT) {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer from the server",
                    ));
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A raw IMAP client over TCP or over the pipes of an `--inetd` child.
pub struct Client {
    reader: BufReader<TimedReader>,
    writer: Box<dyn Write + Send>,
    tcp: Option<TcpStream>,
    /// Whether every response is checked with imap-codec (not for another server).
    checked: bool,
    /// A session process this client started (see [`Client::spawn`]).
    child: Option<Child>,
    pub greeting: Line,
    /// Everything sent and received, for panic messages.
    pub log: Vec<String>,
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(s) = &self.tcp {
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

impl Client {
    fn new(
        read: impl Read + Send + 'static,
        writer: Box<dyn Write + Send>,
        tcp: Option<TcpStream>,
    ) -> Client {
        Client::with_checks(read, writer, tcp, None, true)
    }

    fn with_checks(
        read: impl Read + Send + 'static,
        writer: Box<dyn Write + Send>,
        tcp: Option<TcpStream>,
        child: Option<Child>,
        checked: bool,
    ) -> Client {
        let mut c = Client {
            reader: BufReader::new(TimedReader::new(read)),
            writer,
            tcp,
            checked,
            child,
            greeting: Line {
                raw: Vec::new(),
                text: String::new(),
                literals: Vec::new(),
            },
            log: Vec::new(),
        };
        let g = c
            .read_raw()
            .unwrap_or_else(|| panic!("no greeting from the server"));
        if checked {
            check_response(&g.raw, true);
        }
        c.greeting = g;
        c
    }

    /// A client over any pair of streams (e.g. through a COMPRESS layer a test puts in
    /// between); the first thing read must be a greeting. Responses are checked.
    pub fn over(read: impl Read + Send + 'static, writer: Box<dyn Write + Send>) -> Client {
        Client::new(read, writer, None)
    }

    /// A session with `cmd` on pipes (stderr discarded), killed when dropped; `checked`
    /// says whether its responses are held to imap-codec (postern's) or not (another
    /// server's, e.g. Courier's, with its harmless differences).
    pub fn spawn(mut cmd: Command, checked: bool) -> Client {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let inp = child.stdin.take().unwrap();
        Client::with_checks(out, Box::new(inp), None, Some(child), checked)
    }

    /// Closes the client's side and waits for a spawned session to end within `WAIT`.
    #[track_caller]
    pub fn finish(mut self) {
        self.writer = Box::new(io::sink());
        let Some(child) = &mut self.child else {
            return;
        };
        for _ in 0..(WAIT.as_millis() / 20) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the session did not end; session:\n{}", self.log.join("\n"));
    }

    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to postern");
        let r = s.try_clone().unwrap();
        let w = s.try_clone().unwrap();
        Client::new(r, Box::new(w), Some(s))
    }

    pub fn local_port(&self) -> Option<u16> {
        self.tcp.as_ref().map(|s| s.local_addr().unwrap().port())
    }

    /// Reads one response (line + literals) without checking it; `None` at EOF.
    fn read_raw(&mut self) -> Option<Line> {
        let mut raw = Vec::new();
        let mut literals = Vec::new();
        loop {
            let start = raw.len();
            match self.reader.read_until(b'\n', &mut raw) {
                Ok(0) if start == 0 => return None,
                Ok(0) => panic!("EOF inside a response: {:?}", String::from_utf8_lossy(&raw)),
                Ok(_) => {}
                Err(e) => panic!(
                    "reading from the server: {e}; so far {:?}; session:\n{}",
                    String::from_utf8_lossy(&raw),
                    self.log.join("\n")
                ),
            }
            assert!(
                raw.ends_with(b"\r\n"),
                "server line not ended by CRLF: {:?}",
                String::from_utf8_lossy(&raw)
            );
            match literal_len(&raw[start..]) {
                Some(n) => {
                    let mut lit = vec![0u8; n];
                    if let Err(e) = self.reader.read_exact(&mut lit) {
                        panic!("literal of {n} cut short: {e}");
                    }
                    raw.extend_from_slice(&lit);
                    literals.push(lit);
                }
                None => break,
            }
        }
        let text = String::from_utf8_lossy(&raw[..raw.len() - 2]).into_owned();
        self.log.push(format!("S: {}", shorten(&text)));
        Some(Line {
            raw,
            text,
            literals,
        })
    }

    /// Reads one response and checks its syntax; `None` at EOF.
    pub fn read_response(&mut self) -> Option<Line> {
        let line = self.read_raw()?;
        if self.checked {
            check_response(&line.raw, false);
        }
        Some(line)
    }

    #[track_caller]
    pub fn expect_response(&mut self) -> Line {
        match self.read_response() {
            Some(l) => l,
            None => panic!("EOF from the server; session:\n{}", self.log.join("\n")),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.log.push(format!(
            "C: {}",
            shorten(String::from_utf8_lossy(bytes).trim_end())
        ));
        // A server that hung up makes this fail; reading then shows why.
        let _ = self
            .writer
            .write_all(bytes)
            .and_then(|_| self.writer.flush());
    }

    /// Sends `tag cmd` and reads up to the tagged response.
    #[track_caller]
    pub fn send(&mut self, tag: &str, cmd: &str) -> Reply {
        self.write(format!("{tag} {cmd}\r\n").as_bytes());
        self.read_reply(tag, 0)
    }

    /// Sends a command made of parts (literals included) and reads up to the tagged
    /// response. A tagged response instead of `+` for a synchronizing literal ends the
    /// command there (the literal is not sent).
    #[track_caller]
    pub fn send_parts(&mut self, tag: &str, parts: &[Part]) -> Reply {
        let mut pending = format!("{tag} ").into_bytes();
        let mut continuations = 0;
        for part in parts {
            match part {
                Part::Text(t) => pending.extend_from_slice(t.as_bytes()),
                Part::Bytes(b) => pending.extend_from_slice(b),
                Part::LiteralPlus(b) => {
                    pending.extend_from_slice(format!("{{{}+}}\r\n", b.len()).as_bytes());
                    pending.extend_from_slice(b);
                }
                Part::Literal(b) => {
                    pending.extend_from_slice(format!("{{{}}}\r\n", b.len()).as_bytes());
                    self.write(&std::mem::take(&mut pending));
                    let mut untagged = Vec::new();
                    loop {
                        let l = self.expect_response();
                        if l.is_continuation() {
                            continuations += 1;
                            break;
                        }
                        if l.text.starts_with(&format!("{tag} ")) {
                            return Reply {
                                untagged,
                                tagged: l,
                                continuations,
                            };
                        }
                        untagged.push(l);
                    }
                    pending.extend_from_slice(b);
                }
            }
        }
        pending.extend_from_slice(b"\r\n");
        self.write(&pending);
        self.read_reply(tag, continuations)
    }

    /// Reads responses up to the one tagged `tag`.
    #[track_caller]
    pub fn read_reply(&mut self, tag: &str, mut continuations: usize) -> Reply {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let l = self.expect_response();
            if l.text.starts_with(&prefix) {
                return Reply {
                    untagged,
                    tagged: l,
                    continuations,
                };
            }
            if l.is_continuation() {
                continuations += 1;
            }
            untagged.push(l);
        }
    }

    /// Reads responses until the server closes the connection.
    pub fn read_to_eof(&mut self) -> Vec<Line> {
        let mut v = Vec::new();
        while let Some(l) = self.read_response() {
            v.push(l);
        }
        v
    }

    /// The words of the `* CAPABILITY` line a CAPABILITY command answers.
    #[track_caller]
    pub fn capabilities(&mut self) -> Vec<String> {
        let r = self.send("CAP", "CAPABILITY");
        r.assert_ok();
        let line = &r.one("* CAPABILITY").text;
        line.split(' ').skip(2).map(str::to_owned).collect()
    }

    #[track_caller]
    pub fn login(&mut self) {
        self.send("L1", &format!("LOGIN {USER} {PASS}")).assert_ok();
    }

    /// SELECT `mailbox`; the reply must be OK.
    #[track_caller]
    pub fn select(&mut self, mailbox: &str) -> Reply {
        let r = self.send("S1", &format!("SELECT {}", quote(mailbox)));
        r.assert_ok();
        r
    }

    #[track_caller]
    pub fn logout(mut self) {
        let r = self.send("LO", "LOGOUT");
        r.assert_ok();
        assert!(r.has("* BYE"), "LOGOUT without BYE:\n{}", r.dump());
        let rest = self.read_to_eof();
        assert!(rest.is_empty(), "after LOGOUT: {rest:?}");
    }
}

/// `{n}` or `{n+}` (server literals are never `+`, but accept it) at the end of a line.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn shorten(s: &str) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &s[..end], s.len())
    } else {
        s.to_owned()
    }
}

/// An IMAP quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Settings overrides: section -> key -> TOML value text.
pub type Settings = BTreeMap<&'static str, BTreeMap<&'static str, String>>;

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub maildir: PathBuf,
    pub config: PathBuf,
    pub userfile: PathBuf,
    /// The IMAP port of `serve`, once started.
    pub port: Option<u16>,
    settings: Settings,
    serve: Option<Child>,
    children: Mutex<Vec<Child>>,
    stderr_count: Mutex<u32>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut serve) = self.serve.take() {
            stop(&mut serve);
        }
        for mut c in self.children.lock().unwrap().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIGTERM, a bounded wait, then SIGKILL; always reaped.
fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl TestServer {
    /// An account `alice`/`secret` with an empty Maildir and the default test settings.
    pub fn new() -> TestServer {
        TestServer::with(&[])
    }

    /// Like `new`, with settings overrides like `("limits", "max_literal_size", "1000")`.
    pub fn with(overrides: &[(&'static str, &'static str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        open_to_mail_owner(dir.path());
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let maildir = home.join("Maildir");
        run_ok(Command::new(BIN).arg("maildirmake").arg(&maildir));
        give_to_mail_owner(&home);
        let userfile = dir.path().join("users");
        std::fs::write(
            &userfile,
            format!("{USER}:{{PLAIN}}{PASS}::::{}::\n", home.display()),
        )
        .unwrap();
        let mut settings = Settings::new();
        let mut set = |s: &'static str, k: &'static str, v: String| {
            settings.entry(s).or_default().insert(k, v);
        };
        set("auth", "backend", "\"userfile\"".into());
        set("auth", "userfile", toml_str(&userfile));
        set("auth", "failed_login_delay", "0".into());
        set("auth", "max_failed_logins", "3".into());
        set("limits", "max_line_length", "65536".into());
        set("limits", "max_literal_size", "65536".into());
        set("limits", "max_append_size", "67108864".into());
        set("limits", "preauth_timeout", "60".into());
        set("limits", "idle_timeout", "1800".into());
        set("imap", "keywords", "true".into());
        set("serve", "imap", "[]".into());
        set("serve", "pop3", "[]".into());
        if let Some((uid, gid)) = mail_owner() {
            set("auth", "default_uid", format!("\"{uid}\""));
            set("auth", "default_gid", format!("\"{gid}\""));
        }
        for (s, k, v) in overrides {
            set(s, k, v.to_string());
        }
        let config = dir.path().join("postern.toml");
        let server = TestServer {
            home,
            maildir,
            config,
            userfile,
            port: None,
            settings,
            serve: None,
            children: Mutex::new(Vec::new()),
            stderr_count: Mutex::new(0),
            dir,
        };
        server.write_config();
        server
    }

    fn write_config(&self) {
        let mut text = String::new();
        for (section, keys) in &self.settings {
            text.push_str(&format!("[{section}]\n"));
            for (k, v) in keys {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        std::fs::write(&self.config, text).unwrap();
    }

    /// Changes one setting (a TOML value text) and rewrites the settings file; a running
    /// `serve` sees it in the sessions it starts next.
    pub fn set(&mut self, section: &'static str, key: &'static str, value: &str) {
        self.settings
            .entry(section)
            .or_default()
            .insert(key, value.to_string());
        self.write_config();
    }

    /// Another account in the user file, with its own Maildir.
    pub fn add_user(&self, user: &str, pass: &str) -> PathBuf {
        let home = self.dir.path().join(format!("home-{user}"));
        std::fs::create_dir(&home).unwrap();
        run_ok(
            Command::new(BIN)
                .arg("maildirmake")
                .arg(home.join("Maildir")),
        );
        give_to_mail_owner(&home);
        let mut users = std::fs::read_to_string(&self.userfile).unwrap();
        users.push_str(&format!("{user}:{{PLAIN}}{pass}::::{}::\n", home.display()));
        std::fs::write(&self.userfile, users).unwrap();
        home.join("Maildir")
    }

    fn command(&self, sub: &str) -> Command {
        postern_command(sub, &self.config)
    }

    fn new_stderr(&self, name: &str) -> (PathBuf, std::fs::File) {
        let mut n = self.stderr_count.lock().unwrap();
        *n += 1;
        let path = self.dir.path().join(format!("{name}-{n}.stderr"));
        let f = std::fs::File::create(&path).unwrap();
        (path, f)
    }

    /// The stderr of `serve` (its sessions write there too).
    pub fn serve_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.stderr")).unwrap_or_default()
    }

    /// Starts `postern serve` on a free loopback port and waits until it accepts.
    pub fn start_serve(&mut self) -> u16 {
        assert!(self.serve.is_none(), "serve already started");
        self.give_homes_to_mail_owner();
        // A port found free may be taken by a parallel test before serve binds it: a start
        // that fails with "in use" is tried again on another port.
        for _attempt in 0..5 {
            let port = ports::free_port();
            self.settings
                .entry("serve")
                .or_default()
                .insert("imap", format!("[\"127.0.0.1:{port}\"]"));
            self.write_config();
            let stderr = std::fs::File::create(self.dir.path().join("serve.stderr")).unwrap();
            let child = self
                .command("serve")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn postern serve");
            self.serve = Some(child);
            self.port = Some(port);
            let mut exited = None;
            for _ in 0..600 {
                if let Some(status) = self.serve.as_mut().unwrap().try_wait().unwrap() {
                    exited = Some(status);
                    break;
                }
                // A connection that succeeds is a real session: say LOGOUT so it ends.
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = s.write_all(b"x LOGOUT\r\n");
                    let _ = s.shutdown(Shutdown::Write);
                    let _ = s.set_read_timeout(Some(WAIT));
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink);
                    return port;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let stderr = self.serve_stderr();
            match exited {
                Some(_) if stderr.contains("in use") => {
                    self.serve = None;
                    continue;
                }
                Some(status) => panic!("postern serve exited ({status}): {stderr}"),
                None => panic!("postern serve never accepted on port {port}: {stderr}"),
            }
        }
        panic!("postern serve found no free port in 5 tries")
    }

    /// A new TCP session with `serve` (started on first use).
    pub fn connect(&mut self) -> Client {
        self.give_homes_to_mail_owner();
        let port = match self.port {
            Some(p) => p,
            None => self.start_serve(),
        };
        Client::connect(port)
    }

    /// One `postern imapd --inetd` session on pipes; its stderr is returned by `stderr`.
    pub fn inetd(&self) -> Client {
        self.give_homes_to_mail_owner();
        let (_, stderr) = self.new_stderr("imapd");
        let mut child = self
            .command("imapd")
            .arg("--inetd")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn postern imapd --inetd");
        let out = child.stdout.take().unwrap();
        let inp = child.stdin.take().unwrap();
        self.children.lock().unwrap().push(child);
        Client::new(out, Box::new(inp), None)
    }

    /// The process id of the last `--inetd` session started.
    pub fn last_session_pid(&self) -> u32 {
        let children = self.children.lock().unwrap();
        children.last().expect("a session was started").id()
    }

    /// One `postern pop3d --inetd` session on pipes, after the greeting; its stderr is in
    /// `pop3d-N.stderr` of the fixture's directory ([`pop3::Pop3::stderr`]).
    pub fn pop3d(&self) -> pop3::Pop3 {
        self.give_homes_to_mail_owner();
        let (path, _) = self.new_stderr("pop3d");
        let mut cmd = self.command("pop3d");
        cmd.arg("--inetd");
        pop3::Pop3::spawn("postern pop3d", cmd, Some(path))
    }

    /// Every stderr of `--inetd` sessions so far, joined.
    pub fn inetd_stderr(&self) -> String {
        let mut s = String::new();
        for n in 1..=*self.stderr_count.lock().unwrap() {
            if let Ok(t) =
                std::fs::read_to_string(self.dir.path().join(format!("imapd-{n}.stderr")))
            {
                s.push_str(&t);
            }
        }
        s
    }

    /// A logged-in session (inetd) with `mailbox` selected.
    pub fn session(&self, mailbox: &str) -> (Client, Reply) {
        let mut c = self.inetd();
        c.login();
        let r = c.select(mailbox);
        (c, r)
    }

    /// `postern deliver` into INBOX (`None`) or a folder such as `Sent`.
    pub fn deliver(&self, folder: Option<&str>, message: &[u8]) {
        self.give_homes_to_mail_owner();
        let mut cmd = self.command("deliver");
        if let Some(f) = folder {
            cmd.arg("--folder").arg(f);
        }
        cmd.arg(&self.maildir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn postern deliver");
        child.stdin.take().unwrap().write_all(message).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "postern deliver failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `postern maildirmake -f NAME` (folder `INBOX.NAME`).
    pub fn make_folder(&self, name: &str) {
        run_ok(
            Command::new(BIN)
                .arg("maildirmake")
                .arg("-f")
                .arg(name)
                .arg(&self.maildir),
        );
        self.give_homes_to_mail_owner();
    }

    /// Every home of the fixture to [`mail_owner`] (tests write into Maildirs as root).
    pub fn give_homes_to_mail_owner(&self) {
        if mail_owner().is_none() {
            return;
        }
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("home") {
                give_to_mail_owner(&entry.path());
            }
        }
    }

    /// The directory of `INBOX` or `INBOX.name`.
    pub fn folder_dir(&self, folder: &str) -> PathBuf {
        if folder == "INBOX" {
            self.maildir.clone()
        } else {
            let name = folder.strip_prefix("INBOX.").unwrap_or(folder);
            self.maildir.join(format!(".{name}"))
        }
    }

    /// Writes a message file straight into `cur/` (with `flags` after `:2,`) or `new/`.
    pub fn put(&self, folder: &str, sub: &str, unique: &str, flags: &str, message: &[u8]) {
        let dir = self.folder_dir(folder).join(sub);
        let name = if sub == "cur" {
            format!("{unique},S={}:2,{flags}", message.len())
        } else {
            format!("{unique},S={}", message.len())
        };
        std::fs::write(dir.join(&name), message).unwrap();
        give_to_mail_owner(&dir.join(name));
    }

    /// The file names in `folder/sub`, sorted.
    pub fn files(&self, folder: &str, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.folder_dir(folder).join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// `postern SUB --config CONFIG`, with none of the caller's environment that would change
/// what it does (a config path, the journal, socket activation, a notify socket).
pub fn postern_command(sub: &str, config: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg(sub)
        .arg("--config")
        .arg(config)
        .env_remove("POSTERN_CONFIG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env_remove("NOTIFY_SOCKET");
    c
}

fn toml_str(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

#[track_caller]
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run postern");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small RFC 5322 message with CRLF line ends.
pub fn message(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Alice <alice@example.org>\r\nSubject: {subject}\r\n\
         Date: Mon, 3 Jul 2023 10:00:00 +0000\r\nMessage-ID: <{}@example.org>\r\n\r\n{body}",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

/// Seconds since the epoch of an IMAP date-time `dd-Mon-yyyy hh:mm:ss +zzzz`.
pub fn imap_datetime_epoch(s: &str) -> i64 {
    let s = s.trim().trim_matches('"').trim();
    let (date, rest) = s.split_once(' ').unwrap();
    let (time, zone) = rest.split_once(' ').unwrap();
    let d: Vec<&str> = date.split('-').collect();
    let day: i64 = d[0].trim().parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(d[1]))
    .unwrap() as i64
        + 1;
    let year: i64 = d[2].parse().unwrap();
    let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zh: i64 = zone[1..3].parse().unwrap();
    let zm: i64 = zone[3..5].parse().unwrap();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + t[0] * 3600 + t[1] * 60 + t[2] - sign * (zh * 3600 + zm * 60)
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn unbase64(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()) {
        let v = T.iter().position(|&t| t == c).expect("base64 character") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Polls `read` until `pred` holds for its text (bounded by `WAIT`); returns the last text.
pub fn wait_for(mut read: impl FnMut() -> String, pred: impl Fn(&str) -> bool) -> String {
    let mut text = read();
    for _ in 0..(WAIT.as_millis() / 50) {
        if pred(&text) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        text = read();
    }
    text
}

/// One `* LIST` / `* LSUB` entry: attributes (as sent) and the decoded mailbox name.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    pub attrs: Vec<String>,
    pub delimiter: String,
    pub name: String,
}

impl ListEntry {
    pub fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }
}

/// The `* LIST` (or `* LSUB`, per `kind`) entries of a reply.
pub fn list_entries(reply: &Reply, kind: &str) -> Vec<ListEntry> {
    reply
        .lines(&format!("* {kind} "))
        .iter()
        .map(|l| {
            let rest = &l.text[kind.len() + 3..];
            let close = rest.find(')').unwrap();
            let attrs = rest[1..close]
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            let rest = &rest[close + 2..];
            let (delimiter, rest) = if let Some(r) = rest.strip_prefix("NIL ") {
                (String::new(), r)
            } else {
                let end = rest[1..].find('"').unwrap() + 2;
                (rest[1..end - 1].replace("\\\\", "\\"), &rest[end + 1..])
            };
            let name = if let Some(q) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = q.chars();
                while let Some(ch) = chars.next() {
                    match ch {
                        '\\' => out.push(chars.next().unwrap()),
                        '"' => break,
                        c => out.push(c),
                    }
                }
                out
            } else if rest.starts_with('{') {
                String::from_utf8(l.literals[0].clone()).unwrap()
            } else {
                rest.split(' ').next().unwrap().to_owned()
            };
            ListEntry {
                attrs,
                delimiter,
                name,
            }
        })
        .collect()
}

/// The sorted mailbox names of `list_entries`.
pub fn list_names(reply: &Reply, kind: &str) -> Vec<String> {
    let mut v: Vec<String> = list_entries(reply, kind)
        .into_iter()
        .map(|e| e.name)
        .collect();
    v.sort();
    v
}

/// `STATUS` items as name -> number.
pub fn status_items(reply: &Reply) -> BTreeMap<String, u64> {
    let line = reply.one("* STATUS ");
    let open = line.text.rfind('(').unwrap();
    let inner = line.text[open + 1..].trim_end_matches(')');
    let words: Vec<&str> = inner.split_whitespace().collect();
    words
        .chunks(2)
        .map(|kv| (kv[0].to_ascii_uppercase(), kv[1].parse().unwrap()))
        .collect()
}

/// The number in an untagged `* OK [CODE n]` of a reply (UIDVALIDITY, UIDNEXT, UNSEEN).
pub fn ok_code_number(reply: &Reply, code: &str) -> Option<u64> {
    reply.untagged.iter().find_map(|l| {
        let c = l.code()?;
        let n = c.strip_prefix(code)?.strip_prefix(' ')?;
        n.parse().ok()
    })
}

/// The value of `MODSEQ (n)` in a FETCH line (RFC 7162 §3.1.4).
pub fn modseq_in(text: &str) -> Option<u64> {
    let at = text.find("MODSEQ (")? + "MODSEQ (".len();
    text[at..].split(')').next()?.parse().ok()
}

/// HIGHESTMODSEQ from `[HIGHESTMODSEQ n]` in an untagged OK or the tagged line.
pub fn highest_modseq(reply: &Reply) -> u64 {
    ok_code_number(reply, "HIGHESTMODSEQ")
        .or_else(|| {
            let n = reply.tagged.code()?.strip_prefix("HIGHESTMODSEQ ")?;
            n.parse().ok()
        })
        .unwrap_or_else(|| panic!("no HIGHESTMODSEQ:\n{}", reply.dump()))
}

/// A server whose INBOX holds `n` delivered messages, subjects `m1`..`mn`.
pub fn server_with_delivered(n: u32) -> TestServer {
    let server = TestServer::new();
    for i in 1..=n {
        server.deliver(None, &message("bob@example.org", &format!("m{i}"), "x\r\n"));
    }
    server
}

impl Reply {
    /// The untagged `* n FETCH` lines, in order.
    pub fn fetches(&self) -> Vec<&Line> {
        self.untagged
            .iter()
            .filter(|l| {
                let mut w = l.text.split(' ');
                w.next() == Some("*")
                    && w.next().is_some_and(|n| n.parse::<u32>().is_ok())
                    && w.next() == Some("FETCH")
            })
            .collect()
    }
    /// The one `* seq FETCH` line for `seq`.
    #[track_caller]
    pub fn fetch(&self, seq: u32) -> &Line {
        self.one(&format!("* {seq} FETCH "))
    }
}

impl Line {
    /// The sequence number of a `* n FETCH` line.
    pub fn seq(&self) -> u32 {
        self.text.split(' ').nth(1).unwrap().parse().unwrap()
    }
    /// The value of an nstring FETCH item such as `BODY[1]` or `BODY[]<0>`: the literal's
    /// or quoted string's bytes; `None` for NIL or a missing item.
    pub fn item(&self, key: &str) -> Option<Vec<u8>> {
        let needle = format!("{key} ");
        let raw = &self.raw;
        let pos = find_bytes(raw, needle.as_bytes())? + needle.len();
        let rest = &raw[pos..];
        if rest.starts_with(b"NIL") {
            return None;
        }
        if rest[0] == b'"' {
            let mut out = Vec::new();
            let mut i = 1;
            while rest[i] != b'"' {
                if rest[i] == b'\\' {
                    i += 1;
                }
                out.push(rest[i]);
                i += 1;
            }
            return Some(out);
        }
        assert_eq!(rest[0], b'{', "not an nstring after {key}: {}", self.text);
        let close = rest.iter().position(|&b| b == b'}').unwrap();
        let n: usize = std::str::from_utf8(&rest[1..close])
            .unwrap()
            .parse()
            .unwrap();
        let start = close + 3;
        Some(rest[start..start + n].to_vec())
    }
    /// The text of a parenthesized FETCH item such as `FLAGS`, `ENVELOPE`, `BODYSTRUCTURE`
    /// (balanced parentheses, quoted strings skipped), or an atom value (`UID 3`).
    pub fn item_text(&self, key: &str) -> Option<String> {
        let needle = format!(" {key} ");
        let text = self.text.replacen("FETCH (", "FETCH ( ", 1);
        let pos = text.find(&needle)? + needle.len();
        let rest = &text.as_bytes()[pos..];
        if rest[0] != b'(' {
            let end = rest
                .iter()
                .position(|&b| b == b' ' || b == b')')
                .unwrap_or(rest.len());
            return Some(String::from_utf8_lossy(&rest[..end]).into_owned());
        }
        let mut depth = 0;
        let mut i = 0;
        let mut quoted = false;
        while i < rest.len() {
            match rest[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(String::from_utf8_lossy(&rest[..=i]).into_owned());
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
    /// The flags of a FETCH line's `FLAGS (...)`.
    pub fn flags(&self) -> Option<Vec<String>> {
        let t = self.item_text("FLAGS")?;
        Some(
            t.trim_matches(['(', ')'])
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        )
    }
    pub fn uid(&self) -> Option<u32> {
        self.item_text("UID")?.parse().ok()
    }
}

pub fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The flags in `(...)` after `after` in `text`, lower-cased.
pub fn flag_list(text: &str, after: &str) -> Option<Vec<String>> {
    let start = text.find(after)? + after.len();
    let rest = &text[start..];
    let end = rest.find(')')?;
    Some(
        rest[..end]
            .split_whitespace()
            .map(|f| f.to_ascii_lowercase())
            .collect(),
    )
}

/// The pid of the process holding the server side of `tcp` (found through the socket's
/// inode in /proc/net/tcp and the processes' descriptors).
pub fn server_pid_of(tcp: &TcpStream) -> Option<u32> {
    server_pid_of_port(tcp.local_addr().ok()?.port())
}

/// The pid of the process holding the server side of the connection from our `local` port.
pub fn server_pid_of_port(local: u16) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    // A row in TIME_WAIT (inode 0) left by an earlier connection from the same client
    // port belongs to no process: only a live socket's row counts.
    let inode = table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let remote_port = u16::from_str_radix(f.get(2)?.rsplit(':').next()?, 16).ok()?;
        let inode = f.get(9).filter(|i| **i != "0")?;
        (remote_port == local).then(|| inode.to_string())
    })?;
    let target = format!("socket:[{inode}]");
    for proc in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = proc.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target) {
                return Some(pid);
            }
        }
    }
    None
}
