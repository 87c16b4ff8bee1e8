//! BODY.PEEK[] throughput and the first FETCH of sizes and dates, against the real binary
//! over a socket (as `../shared/bench/imapbench.py` measures them):
//!
//! - `FETCH <100 spread messages> BODY.PEEK[]` on a folder of COUNT LF-only messages of
//!   about 24 KB, ROUNDS times: median time and MB/s of response bytes;
//! - the first `UID FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE)` in a fresh session of a
//!   folder whose names carry `,S=` but not `,W=` (every CRLF size is measured once).
//!
//! `cargo bench --bench fetch_body [-- COUNT [ROUNDS]]` (default 10000 messages, 20 rounds).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A session's reader: counts the response bytes and the FETCH lines up to the tagged line.
struct Session {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Session {
    fn connect(port: u16) -> Session {
        let stream = (0..100)
            .find_map(|_| {
                TcpStream::connect(("127.0.0.1", port))
                    .map_err(|_| std::thread::sleep(Duration::from_millis(50)))
                    .ok()
            })
            .expect("serve did not start");
        let mut s = Session {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::with_capacity(256 * 1024, stream),
        };
        s.reply("*");
        s
    }

    /// Sends `tag command` and reads to the tagged reply: (bytes, FETCH lines).
    fn command(&mut self, tag: &str, command: &str) -> (u64, u64) {
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        self.reply(tag)
    }

    fn reply(&mut self, tag: &str) -> (u64, u64) {
        let (mut bytes, mut fetches) = (0u64, 0u64);
        let mut line = Vec::new();
        let mut literal = Vec::new();
        loop {
            line.clear();
            assert!(
                self.reader.read_until(b'\n', &mut line).unwrap() > 0,
                "server closed"
            );
            bytes += line.len() as u64;
            if line.starts_with(b"* ") && line.windows(7).any(|w| w == b" FETCH ") {
                fetches += 1;
            }
            if let Some(n) = literal_size(&line) {
                literal.resize(n, 0);
                self.reader.read_exact(&mut literal).unwrap();
                bytes += n as u64;
                // The rest of the line after the literal continues as a new line.
                continue;
            }
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                assert!(
                    line[tag.len() + 1..].starts_with(b"OK"),
                    "{}",
                    String::from_utf8_lossy(&line)
                );
                return (bytes, fetches);
            }
        }
    }
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}\r\n")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&body[open + 1..]).ok()?.parse().ok()
}

/// A message of about 24 KB with LF line ends, different per `n`.
fn message(n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{n}@example.org\nTo: bench@example.org\nSubject: message {n}\n\
         Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <{n}@example.org>\n\n"
    )
    .into_bytes();
    let lines = 300 + n % 200;
    for l in 0..lines {
        m.extend_from_slice(
            format!("line {l} of message {n}: the quick brown fox jumps over the lazy dog\n")
                .as_bytes(),
        );
    }
    m
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let count = args.next().unwrap_or(10_000);
    let rounds = args.next().unwrap_or(20).max(1);
    let bin = env!("CARGO_BIN_EXE_postern");
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let maildir = home.join("Maildir");
    fs::create_dir_all(&home).unwrap();
    assert!(
        Command::new(bin)
            .arg("maildirmake")
            .arg(&maildir)
            .status()
            .unwrap()
            .success()
    );
    for n in 0..count {
        let body = message(n);
        let name = format!(
            "{}.M{n}P1.bench,S={}:2,S",
            1_700_000_000 + n / 10,
            body.len()
        );
        fs::write(maildir.join("cur").join(name), body).unwrap();
    }
    let users = d.path().join("users");
    fs::write(
        &users,
        format!("bench:{{PLAIN}}bench::::{}::\n", home.display()),
    )
    .unwrap();
    // As root, serve refuses to act for root: the Maildir goes to nobody, who logs in.
    let owner = if nix::unistd::geteuid().is_root() {
        for path in [d.path(), home.as_path()] {
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(
            Command::new("chown")
                .args(["-R", "65534:65534"])
                .arg(&home)
                .status()
                .unwrap()
                .success()
        );
        "default_uid = \"65534\"\ndefault_gid = \"65534\"\n"
    } else {
        ""
    };
    let port = free_port();
    let config = d.path().join("postern.toml");
    fs::write(
        &config,
        format!(
            "[serve]\nimap = [\"127.0.0.1:{port}\"]\npop3 = []\n[auth]\nuserfile = \"{}\"\n{owner}",
            users.display()
        ),
    )
    .unwrap();
    let _server = Server(
        Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // A folder changed within the file system's clock tick is listed again by every
    // command until it settles; a generated folder has long settled when a client comes.
    std::thread::sleep(Duration::from_millis(2500));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut s = Session::connect(port);
    s.command("a", "LOGIN bench bench");
    s.command("b", "SELECT INBOX");
    let t = Instant::now();
    let (bytes, fetches) = s.command("c", "UID FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE)");
    println!(
        "first UID FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE), {count} messages without ,W=: \
         {:.1} ms ({fetches} lines, {bytes} bytes)",
        ms(t.elapsed())
    );
    assert_eq!(fetches, count as u64);

    let seqs: Vec<String> = if count >= 100 {
        let mut v: Vec<usize> = (0..100).map(|i| 1 + i * count / 100).collect();
        v.dedup();
        v.iter().map(usize::to_string).collect()
    } else {
        (1..=count).map(|n| n.to_string()).collect()
    };
    let command = format!("FETCH {} BODY.PEEK[]", seqs.join(","));
    s.command("w", &command); // page cache warm, as the measured rounds are
    let mut times = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for round in 0..rounds {
        let t = Instant::now();
        let (b, fetches) = s.command(&format!("r{round}"), &command);
        times.push(t.elapsed());
        assert_eq!(fetches, seqs.len() as u64);
        bytes = b;
    }
    times.sort();
    let median = times[rounds / 2];
    println!(
        "FETCH {} x BODY.PEEK[], {count} messages, {rounds} rounds: median {:.2} ms, min {:.2} ms, \
         {:.1} MB, {:.0} MB/s",
        seqs.len(),
        ms(median),
        ms(times[0]),
        bytes as f64 / 1e6,
        bytes as f64 / median.as_secs_f64() / 1e6
    );
    s.command("z", "LOGOUT");
}
