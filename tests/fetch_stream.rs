//! Big message bodies through FETCH, byte for byte, against the real binary over plain TCP
//! and TLS: LF-only, CRLF and mixed-line-end files of several MB, whole (BODY.PEEK[],
//! RFC822) and in partial ranges that cross the 64 KB flush boundaries; and Python's
//! imaplib as a third-party client. What the file should give is computed here byte by
//! byte (every bare LF as CRLF, NUL as 0x80), independently of the server's bulk code.

mod tls_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslStream};
use tls_support::*;

/// What an IMAP server must send for these file bytes: bare LF as CRLF, NUL as 0x80.
fn wire(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(if b == 0 { 0x80 } else { b });
    }
    out
}

/// About `size` bytes of message with `eol` line ends, lines of varied length.
fn big_message(size: usize, eol: &[u8], seed: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size + 200);
    for h in [
        "From: big@example.org".to_string(),
        "To: tim@example.org".to_string(),
        format!("Subject: big {seed}"),
        String::new(),
    ] {
        m.extend_from_slice(h.as_bytes());
        m.extend_from_slice(eol);
    }
    let mut n = seed;
    while m.len() < size {
        n = n.wrapping_mul(1103515245).wrapping_add(12345);
        let len = (n >> 8) % 150;
        m.extend((0..len).map(|i| b'a' + ((n + i) % 26) as u8));
        m.extend_from_slice(eol);
    }
    m
}

/// Every kind of line end in one message, and the odd bytes: a bare CR, CR CR LF, a NUL,
/// LF right after the header, a CR as the very last byte.
fn mixed_message(size: usize) -> Vec<u8> {
    let mut m = b"From: mixed@example.org\r\nSubject: mixed\n\n".to_vec();
    let ends: [&[u8]; 5] = [b"\n", b"\r\n", b"\r\r\n", b"\r", b"\n\n"];
    let mut i = 0;
    while m.len() < size {
        m.extend_from_slice(format!("line {i} with some text").as_bytes());
        if i % 997 == 0 {
            m.push(0);
        }
        m.extend_from_slice(ends[i % ends.len()]);
        i += 1;
    }
    m.push(b'\r');
    m
}

/// The test messages: (file name in cur/, file bytes).
fn messages() -> Vec<(String, Vec<u8>)> {
    let bodies = [
        big_message(3 << 20, b"\n", 1),
        big_message(3 << 20, b"\r\n", 2),
        mixed_message(2 << 20),
        b"small\nmessage\n".to_vec(),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            (
                format!("{}.M{i}P1.test,S={}:2,", 1_700_000_000 + i, b.len()),
                b,
            )
        })
        .collect()
}

/// Puts the messages into the test user's INBOX (the mail owner's files, as root).
fn fill(dir: &Path) -> Vec<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let cur = dir.join("home/Maildir/cur");
    // The files belong to whoever owns the Maildir (the mail owner, when run as root).
    let owner = std::fs::metadata(&cur).unwrap();
    let mut files = Vec::new();
    for (name, bytes) in messages() {
        let path = cur.join(&name);
        std::fs::write(&path, &bytes).unwrap();
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
        files.push(bytes);
    }
    files
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A raw IMAP client that keeps literals as bytes.
struct Raw {
    reader: BufReader<Box<dyn Stream>>,
}

/// One response line with its literals.
struct Response {
    text: Vec<u8>,
    literals: Vec<Vec<u8>>,
}

impl Raw {
    fn new(stream: Box<dyn Stream>) -> Raw {
        let mut raw = Raw {
            reader: BufReader::with_capacity(1 << 16, stream),
        };
        let greeting = raw.response();
        assert!(greeting.text.starts_with(b"* OK"));
        raw
    }

    fn plain(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw::new(Box::new(s))
    }

    fn tls(port: u16, ca: &Path) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(ca).unwrap();
        let tls: SslStream<TcpStream> = b.build().connect("localhost", s).unwrap();
        Raw::new(Box::new(tls))
    }

    /// One response: a line, and for each literal its bytes and the rest of the line.
    fn response(&mut self) -> Response {
        let mut text = Vec::new();
        let mut literals = Vec::new();
        loop {
            let start = text.len();
            assert!(self.reader.read_until(b'\n', &mut text).unwrap() > 0, "EOF");
            let line = &text[start..];
            let Some(n) = literal_size(line) else {
                return Response { text, literals };
            };
            let mut literal = vec![0; n];
            self.reader.read_exact(&mut literal).unwrap();
            literals.push(literal);
        }
    }

    /// Sends `tag command`, returns the untagged responses; the tagged one must be OK.
    fn command(&mut self, tag: &str, command: &str) -> Vec<Response> {
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        stream.flush().unwrap();
        let mut untagged = Vec::new();
        loop {
            let r = self.response();
            if r.text.starts_with(format!("{tag} ").as_bytes()) {
                assert!(
                    r.text.starts_with(format!("{tag} OK").as_bytes()),
                    "{}",
                    String::from_utf8_lossy(&r.text)
                );
                return untagged;
            }
            untagged.push(r);
        }
    }

    /// The one literal of a FETCH of one item of message `n`.
    fn fetch_one(&mut self, n: usize, item: &str) -> Vec<u8> {
        let mut lines = self.command("f", &format!("FETCH {n} {item}"));
        lines.retain(|r| r.text.starts_with(format!("* {n} FETCH").as_bytes()));
        assert_eq!(lines.len(), 1);
        let mut r = lines.pop().unwrap();
        assert_eq!(r.literals.len(), 1, "{}", String::from_utf8_lossy(&r.text));
        r.literals.pop().unwrap()
    }
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}\r\n")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&body[open + 1..]).ok()?.parse().ok()
}

/// Ranges that start just before, at and after multiples of 64 KB, and run across them.
fn partials(len: usize) -> Vec<(usize, usize)> {
    let k64 = 1 << 16;
    vec![
        (0, k64 + 1),
        (k64 - 1, 2),
        (k64, k64),
        (3 * k64 - 7, 5 * k64 + 11),
        (len.saturating_sub(100), 1000),
        (len - 1, 1),
        (len, 10),
        (len + 5, 10),
    ]
}

/// Everything the test asks of each message, over one connection.
fn check_all(c: &mut Raw, files: &[Vec<u8>]) {
    c.command("l", &format!("LOGIN {USER} {PASSWORD}"));
    c.command("s", "SELECT INBOX");
    for (i, file) in files.iter().enumerate() {
        let n = i + 1;
        let expected = wire(file);
        let got = c.fetch_one(n, "BODY.PEEK[]");
        assert!(
            got == expected,
            "message {n}: BODY.PEEK[] differs from the file"
        );
        let size = c.command("z", &format!("FETCH {n} RFC822.SIZE"));
        let want = format!("* {n} FETCH (RFC822.SIZE {})", expected.len());
        assert!(
            size.iter().any(|r| r.text.starts_with(want.as_bytes())),
            "message {n}: no {want}"
        );
        for (offset, count) in partials(expected.len()) {
            let got = c.fetch_one(n, &format!("BODY.PEEK[]<{offset}.{count}>"));
            let start = offset.min(expected.len());
            let end = (offset + count).min(expected.len());
            assert!(
                got == expected[start..end],
                "message {n}: BODY.PEEK[]<{offset}.{count}> differs"
            );
        }
        // RFC822 is the same bytes and sets \Seen (RFC 3501 §6.4.5).
        let lines = c.command("r", &format!("FETCH {n} RFC822"));
        let line = lines
            .iter()
            .find(|r| r.text.starts_with(format!("* {n} FETCH").as_bytes()))
            .unwrap();
        assert!(line.literals[0] == expected, "message {n}: RFC822 differs");
        assert!(String::from_utf8_lossy(&line.text).contains("\\Seen"));
    }
    // All of them in one response, past every buffer.
    let lines = c.command("a", "FETCH 1:* BODY.PEEK[]");
    assert_eq!(lines.len(), files.len());
    for (r, file) in lines.iter().zip(files) {
        assert!(r.literals[0] == wire(file), "FETCH 1:* differs");
    }
    c.command("o", "LOGOUT");
}

#[test]
fn big_bodies_byte_exact_over_plain_tcp() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let files = fill(s.dir.path());
    check_all(&mut Raw::plain(s.imap), &files);
}

#[test]
fn big_bodies_byte_exact_over_tls() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let files = fill(s.dir.path());
    check_all(&mut Raw::tls(s.imaps, &s.pki.ca), &files);
}

#[test]
fn python_imaplib_reads_big_bodies_exactly() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let files = fill(s.dir.path());
    let out = s.python(&format!(
        r#"
import imaplib, os, re, ssl, sys
cur = {cur:?}
files = [open(os.path.join(cur, f), "rb").read() for f in sorted(os.listdir(cur))]
def wire(b):
    return re.sub(rb"(?<!\r)\n", b"\r\n", b).replace(b"\0", b"\x80")
ctx = ssl.create_default_context(cafile=os.environ["CA"])
for m in (imaplib.IMAP4("127.0.0.1", int(os.environ["IMAP"])),
          imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["IMAPS"]), ssl_context=ctx)):
    m.login(os.environ["USER"], os.environ["PASSWORD"])
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK", typ
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert len(bodies) == len(files), len(bodies)
    for i, (got, f) in enumerate(zip(bodies, files)):
        assert got == wire(f), "message %d differs" % (i + 1)
    typ, data = m.fetch("2", "(BODY.PEEK[]<65530.70000>)")
    assert data[0][1] == wire(files[1])[65530:65530 + 70000]
    m.logout()
print("done")
"#,
        cur = s.dir.path().join("home/Maildir/cur").display().to_string()
    ));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n", "{t}");
    assert_eq!(files.len(), 4);
}
