//! APPEND into a large folder over IMAP: a session APPENDs small messages one at a time
//! into an INBOX of COUNT messages (first with INBOX not selected, then again with it
//! selected, so each APPEND is also announced to the session) and times every command.
//! Prints the total, median, p95 and max per APPEND and the size of `courierimapuiddb`,
//! which used to be rewritten whole for every APPEND.
//!
//! `cargo bench --bench append_large [-- COUNT [APPENDS]]` (default 100000 messages, 1000
//! APPENDs). `POSTERN_BIN=/path/to/postern` runs another build of the server (to compare
//! before and after a change).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
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

/// Reads lines until the one that starts with `tag`; panics on a server that closes or
/// answers other than OK.
fn wait_tagged(reader: &mut impl BufRead, tag: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "server closed");
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            assert!(rest.starts_with("OK"), "{tag}: {line}");
            return;
        }
    }
}

/// A Maildir whose INBOX holds `count` small messages in cur/, as a long-lived mailbox has.
fn generate(maildir: &std::path::Path, bin: &str, count: usize) {
    assert!(
        Command::new(bin)
            .arg("maildirmake")
            .arg(maildir)
            .status()
            .unwrap()
            .success()
    );
    let body = b"From: a@example.org\nSubject: bench\n\nhello\n";
    for n in 0..count {
        let name = format!(
            "{}.M{n}P1V0000000000000801I{n:016X}_0.bench,S={}:2,S",
            1_700_000_000 + n / 10,
            body.len()
        );
        fs::write(maildir.join("cur").join(name), body).unwrap();
    }
}

struct Session {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    literal_plus: bool,
    n: u32,
}

impl Session {
    fn command(&mut self, text: &str) {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.writer
            .write_all(format!("{tag} {text}\r\n").as_bytes())
            .unwrap();
        wait_tagged(&mut self.reader, &tag);
    }

    /// One APPEND, from the command line to its tagged OK.
    fn append(&mut self, message: &[u8]) -> Duration {
        self.n += 1;
        let tag = format!("t{}", self.n);
        let start = Instant::now();
        if self.literal_plus {
            let mut cmd = format!("{tag} APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
            cmd.extend_from_slice(message);
            cmd.extend_from_slice(b"\r\n");
            self.writer.write_all(&cmd).unwrap();
        } else {
            self.writer
                .write_all(format!("{tag} APPEND INBOX {{{}}}\r\n", message.len()).as_bytes())
                .unwrap();
            let mut line = String::new();
            while !line.starts_with('+') {
                line.clear();
                assert!(self.reader.read_line(&mut line).unwrap() > 0);
            }
            self.writer.write_all(message).unwrap();
            self.writer.write_all(b"\r\n").unwrap();
        }
        wait_tagged(&mut self.reader, &tag);
        start.elapsed()
    }
}

/// As root a session never stays root: the account runs as `nobody` (65534), which must
/// own the Maildir. `None` unprivileged.
fn mail_owner() -> Option<u32> {
    nix::unistd::geteuid().is_root().then_some(65534)
}

fn give_to(path: &std::path::Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id)).unwrap();
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            give_to(&entry.unwrap().path(), id);
        }
    }
}

fn report(label: &str, mut times: Vec<Duration>, uiddb_bytes: u64) {
    let total: Duration = times.iter().sum();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = times.len();
    println!(
        "{label}: {n} APPENDs in {:.2} s ({:.0}/s): median {:.2} ms, p95 {:.2} ms, max {:.2} ms; courierimapuiddb {uiddb_bytes} bytes",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        ms(times[n / 2]),
        ms(times[(n * 95 / 100).min(n - 1)]),
        ms(times[n - 1])
    );
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let count = args.next().unwrap_or(100_000);
    let appends = args.next().unwrap_or(1000);
    let bin = std::env::var("POSTERN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_postern").into());
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let maildir = home.join("Maildir");
    fs::create_dir_all(&home).unwrap();
    let t = Instant::now();
    generate(&maildir, &bin, count);
    println!("generated {count} messages in {:?}", t.elapsed());
    let users = d.path().join("users");
    fs::write(
        &users,
        format!("bench:{{PLAIN}}bench::::{}::\n", home.display()),
    )
    .unwrap();
    let mut owner_settings = String::new();
    if let Some(id) = mail_owner() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
        give_to(&home, id);
        owner_settings = format!("default_uid = \"{id}\"\ndefault_gid = \"{id}\"\n");
    }
    let port = free_port();
    let config = d.path().join("postern.toml");
    fs::write(
        &config,
        format!(
            "[serve]\nimap = [\"127.0.0.1:{port}\"]\npop3 = []\n[auth]\nuserfile = \"{}\"\n{owner_settings}",
            users.display()
        ),
    )
    .unwrap();
    let _server = Server(
        Command::new(&bin)
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(if std::env::var_os("BENCH_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap(),
    );
    let stream = (0..100)
        .find_map(|_| {
            TcpStream::connect(("127.0.0.1", port))
                .map_err(|_| std::thread::sleep(Duration::from_millis(50)))
                .ok()
        })
        .expect("serve did not start");
    stream.set_nodelay(true).unwrap();
    let mut greeting = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    reader.read_line(&mut greeting).unwrap();
    let mut s = Session {
        writer: stream,
        reader,
        literal_plus: greeting.to_ascii_uppercase().contains("LITERAL+"),
        n: 0,
    };
    s.command("LOGIN bench bench");
    // The first open numbers the generated messages and writes the UID database.
    let t = Instant::now();
    s.command("SELECT INBOX");
    s.command("CLOSE");
    println!("first SELECT + CLOSE: {:?}", t.elapsed());
    let uiddb = maildir.join("courierimapuiddb");
    let message = b"From: b@example.org\r\nSubject: appended\r\n\r\nhello again\r\n";
    let times: Vec<Duration> = (0..appends).map(|_| s.append(message)).collect();
    let size = fs::metadata(&uiddb).map(|m| m.len()).unwrap_or(0);
    report(
        &format!("APPEND into INBOX of {count}, not selected"),
        times,
        size,
    );
    s.command("SELECT INBOX");
    let times: Vec<Duration> = (0..appends).map(|_| s.append(message)).collect();
    let size = fs::metadata(&uiddb).map(|m| m.len()).unwrap_or(0);
    report(
        &format!("APPEND into INBOX of {count}, selected"),
        times,
        size,
    );
    s.command("LOGOUT");
}
