//! COMPRESS=DEFLATE (RFC 4978) against the real binary: Python's zlib as a third-party
//! client over a plain socket and over TLS (compression inside TLS), a client through
//! flate2 whose every response is checked by imap-codec, COMPRESS twice
//! (`NO [COMPRESSIONACTIVE]`), STARTTLS after COMPRESS, the setting that turns it off,
//! and a decompression bomb that must not grow the session's memory.

// Both fixtures bring their own copy of tests/ports and tests/owner (no state).
#![allow(clippy::duplicate_mod)]

mod common;
mod tls_support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::server_pid_of;
use common::skip;
use common::{Client, PASS, TestServer, USER, message};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

const PY_CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/clients/compress_client.py"
);

fn show(out: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn python_zlib_client_over_a_plain_socket() {
    if !skip::require(&["python3"]) {
        return;
    }
    let mut server = TestServer::new();
    let port = server.start_serve();
    let out = Command::new("python3")
        .arg(PY_CLIENT)
        .args(["127.0.0.1", &port.to_string(), USER, PASS])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ALL OK"),
        "{}\n--- server\n{}",
        show(&out),
        server.serve_stderr()
    );
}

#[test]
fn python_zlib_client_inside_tls() {
    if !tls_support::tools_present() || !skip::require(&["python3"]) {
        return;
    }
    let s = tls_support::Server::start("", "", "");
    let out = Command::new("python3")
        .arg(PY_CLIENT)
        .args(["127.0.0.1", &s.imaps.to_string()])
        .args([tls_support::USER, tls_support::PASSWORD])
        .arg(&s.pki.ca)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ALL OK"),
        "{}\n--- server\n{}",
        show(&out),
        s.stderr()
    );
}

/// Reads one CRLF line of the uncompressed phase.
fn plain_line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

/// Logs in over `port` and sends COMPRESS DEFLATE; returns the socket right after the
/// tagged OK (nothing else may have been read).
fn compressed_socket(port: u16) -> TcpStream {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut w = tcp.try_clone().unwrap();
    // One byte at a time, so the reader never takes compressed bytes by mistake.
    let mut r = BufReader::with_capacity(1, tcp.try_clone().unwrap());
    assert!(plain_line(&mut r).starts_with("* OK"));
    w.write_all(format!("a LOGIN {USER} {PASS}\r\n").as_bytes())
        .unwrap();
    assert!(plain_line(&mut r).starts_with("a OK"));
    w.write_all(b"c COMPRESS DEFLATE\r\n").unwrap();
    let ok = plain_line(&mut r);
    assert_eq!(ok, "c OK DEFLATE active\r\n");
    tcp
}

/// The client side of the deflate layer: every flush is a sync flush.
struct SyncDeflate(DeflateEncoder<TcpStream>);

impl Write for SyncDeflate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A checked client (imap-codec on every response) through a flate2 deflate layer; the
/// greeting it needs is made up, the rest comes inflated from the server.
fn compressed_client(port: u16) -> Client {
    let tcp = compressed_socket(port);
    let read = io::Cursor::new(b"* OK compressed\r\n".to_vec())
        .chain(DeflateDecoder::new(tcp.try_clone().unwrap()));
    let write = SyncDeflate(DeflateEncoder::new(tcp, Compression::default()));
    Client::over(read, Box::new(write))
}

#[test]
fn compressed_session_responses_are_valid_imap() {
    let mut server = TestServer::new();
    server.deliver(
        None,
        &message("bob@example.org", "zipped", "compressed body\r\n"),
    );
    // Large enough to leave through the writer's high-water and write-through paths.
    let big_body = "0123456789 big line of text to deflate\r\n".repeat(50_000);
    let big = message("bob@example.org", "big", &big_body);
    server.deliver(None, &big);
    let port = server.start_serve();
    let mut c = compressed_client(port);
    let caps = c.send("k", "CAPABILITY");
    caps.assert_ok();
    assert!(caps.has("COMPRESS=DEFLATE"), "{}", caps.dump());
    c.select("INBOX");
    let r = c.send("f", "FETCH 1 (FLAGS BODY.PEEK[] BODYSTRUCTURE)");
    r.assert_ok();
    assert!(r.has("compressed body"), "{}", r.dump());
    let r = c.send("g", "FETCH 2 BODY.PEEK[]");
    r.assert_ok();
    assert_eq!(r.one("* 2 FETCH").literals, vec![big.clone()]);
    // RFC 4978 §3: a second COMPRESS is NO with COMPRESSIONACTIVE, and the session goes on.
    let r = c.send("z", "COMPRESS DEFLATE");
    r.assert_status("NO");
    assert_eq!(r.code(), Some("COMPRESSIONACTIVE"), "{}", r.dump());
    // STARTTLS after COMPRESS is refused (RFC 4978 §3; STARTTLS is a pre-login command).
    let r = c.send("t", "STARTTLS");
    r.assert_status("BAD");
    // Interactive use: each response arrives without more input from the client.
    for n in 0..5 {
        c.send(&format!("n{n}"), "NOOP").assert_ok();
    }
    // IDLE through compression: the continuation and DONE travel flushed.
    c.write(b"i IDLE\r\n");
    assert!(c.expect_response().is_continuation());
    c.write(b"DONE\r\n");
    c.read_reply("i", 0).assert_ok();
    c.logout();
}

#[test]
fn compress_before_login_and_unknown_mechanisms_are_refused() {
    let mut server = TestServer::new();
    let port = server.start_serve();
    let mut c = Client::connect(port);
    assert!(
        !c.greeting.text.contains("COMPRESS="),
        "{}",
        c.greeting.text
    );
    c.send("a", "COMPRESS DEFLATE").assert_status("BAD");
    c.login();
    let r = c.send("b", "COMPRESS LZ4");
    r.assert_status("NO");
    // Still uncompressed: the refusal changed nothing.
    c.send("c", "NOOP").assert_ok();
    c.logout();
}

#[test]
fn compress_can_be_turned_off() {
    let mut server = TestServer::with(&[("imap", "compress", "false")]);
    let port = server.start_serve();
    let mut c = Client::connect(port);
    c.login();
    let caps = c.send("k", "CAPABILITY");
    assert!(!caps.has("COMPRESS="), "{}", caps.dump());
    c.send("a", "COMPRESS DEFLATE").assert_status("BAD");
    c.send("b", "NOOP").assert_ok();
    c.logout();
}

/// `VmHWM` (peak resident memory) of `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_decompression_bomb_does_not_grow_memory() {
    let mut server = TestServer::new();
    let port = server.start_serve();
    let tcp = compressed_socket(port);
    let Some(pid) = server_pid_of(&tcp) else {
        skip::skip("cannot find the session process through /proc");
        return;
    };
    let before = peak_kib(pid);
    // 256 MiB of one line that never ends inflate from about 250 KiB of input.
    const BOMB: usize = 256 << 20;
    let mut z = DeflateEncoder::new(tcp.try_clone().unwrap(), Compression::best());
    z.write_all(b"b NOOP ").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..BOMB >> 20 {
        z.write_all(&chunk).unwrap();
    }
    z.write_all(b"\r\nd NOOP\r\n").unwrap();
    z.flush().unwrap();
    // The server refuses the line (it is longer than any limit) and goes on with the
    // next command, through the same compressed stream.
    let mut r = BufReader::new(DeflateDecoder::new(tcp.try_clone().unwrap()));
    tcp.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut got = String::new();
    while !got.contains("d OK") {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        got.push_str(&l);
    }
    assert!(got.contains("d OK"), "{got:?}\n{}", server.serve_stderr());
    assert!(!got.contains("b OK"), "{got:?}");
    let after = peak_kib(pid);
    eprintln!("session peak memory: {before} KiB before the bomb, {after} KiB after");
    // The inflated quarter GiB went through the fixed read buffer: the peak grew by far
    // less than the bomb (a few MiB of slack for the allocator and the deflate state).
    assert!(
        after < before + 16 * 1024,
        "peak memory grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn compressed_bytes_pipelined_after_the_command_are_kept() {
    let mut server = TestServer::new();
    let port = server.start_serve();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1, tcp.try_clone().unwrap());
    assert!(plain_line(&mut r).starts_with("* OK"));
    w.write_all(format!("a LOGIN {USER} {PASS}\r\n").as_bytes())
        .unwrap();
    assert!(plain_line(&mut r).starts_with("a OK"));
    // The command and the first compressed command in one write: the server has read
    // the compressed bytes with the command line and must inflate them, not drop them.
    let mut z = DeflateEncoder::new(Vec::new(), Compression::default());
    z.write_all(b"n NOOP\r\n").unwrap();
    z.flush().unwrap();
    let mut packet = b"c COMPRESS DEFLATE\r\n".to_vec();
    packet.extend_from_slice(z.get_ref());
    w.write_all(&packet).unwrap();
    assert_eq!(plain_line(&mut r), "c OK DEFLATE active\r\n");
    let mut inflated = BufReader::new(DeflateDecoder::new(tcp));
    let mut l = String::new();
    inflated.read_line(&mut l).unwrap();
    assert!(l.starts_with("n OK"), "{l:?}");
}

#[test]
fn input_that_is_not_deflate_ends_the_session() {
    let mut server = TestServer::new();
    let port = server.start_serve();
    let mut tcp = compressed_socket(port);
    // 0xff starts a block of the reserved type 3 (RFC 1951 §3.2.3): an error at once.
    tcp.write_all(&[0xff; 64]).unwrap();
    let mut rest = Vec::new();
    // The server closes the connection (EOF) instead of waiting for more input.
    let _ = tcp.read_to_end(&mut rest);
    assert!(rest.len() < 64, "{rest:?}");
    // And the next connection works.
    let mut c = Client::connect(port);
    c.login();
    c.logout();
}
