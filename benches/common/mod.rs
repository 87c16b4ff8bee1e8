//! What the benches share: a generated folder of COUNT small messages kept under
//! `target/tmp/` between runs, a `postern serve` on a port the OS picks, an IMAP
//! session over a socket, the session process's memory, and figures (median of N).
//!
//! The generated folder is reused while its parameters match (`.bench-params`) and it
//! still holds exactly COUNT messages once the benches' own additions are taken away:
//! every message a bench delivers has `benchadd` in its name, and messages a bench
//! APPENDs through the server are removed by comparing listings (see
//! [`Corpus::remove_added`]). Anything else (an interrupted APPEND run) makes it
//! generate the folder again.

#![allow(dead_code)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::lchown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The postern binary cargo built for this bench.
pub const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// Bump when the generated messages change, so old folders are not reused.
const CORPUS_VERSION: u32 = 1;

/// Sizes the benches run when none are given on the command line.
pub const DEFAULT_SIZES: [usize; 2] = [10_000, 100_000];

/// Positional bench arguments: the first is a comma list of message counts, the
/// others are numbers (rounds) in order. Flags cargo passes (`--bench`) are ignored.
pub struct Args {
    pub sizes: Vec<usize>,
    pub numbers: Vec<usize>,
}

impl Args {
    pub fn parse() -> Args {
        let positional: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let sizes = positional
            .first()
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .filter(|v: &Vec<usize>| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_SIZES.to_vec());
        let numbers = positional
            .iter()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        Args { sizes, numbers }
    }

    /// The `i`th number after the sizes, or `default`.
    pub fn number(&self, i: usize, default: usize) -> usize {
        self.numbers.get(i).copied().unwrap_or(default)
    }
}

/// Who owns the Maildir: as root a session never stays root, so the account runs as
/// nobody (65534) and the files are its; unprivileged, the bench's own uid.
pub fn mail_owner() -> Option<(u32, u32)> {
    nix::unistd::geteuid().is_root().then_some((65534, 65534))
}

fn give(path: &Path) {
    if let Some((uid, gid)) = mail_owner() {
        lchown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// One small synthetic message (LF line ends, as stored in a Maildir), about 600 bytes.
pub fn message(n: usize, tag: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender{s}@example.org>\n\
         Received: from mx.example.org by mail.example.net; Tue, 14 Nov 2023 22:13:20 +0000\n\
         From: Sender {s} <sender{s}@example.org>\n\
         To: Bench User <bench@example.net>\n\
         Subject: {tag} message {n} about topic {t}\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\n\
         Message-ID: <{tag}.{n}@example.org>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=us-ascii\n\
         \n\
         Hello,\n\
         this is {tag} message number {n}. It is small on purpose: the benches measure\n\
         the cost of the folder's size in messages, not of their bytes.\n\
         \n\
         -- \n\
         sender {s}\n",
        s = n % 397,
        t = n % 1009,
    )
    .into_bytes()
}

/// A generated folder of `count` messages in `home/Maildir` (INBOX).
pub struct Corpus {
    pub count: usize,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub maildir: PathBuf,
    /// Whether this run generated it (so its first open is a real first open).
    pub fresh: bool,
}

impl Corpus {
    /// The folder for `count` messages, generated unless a matching one is there.
    pub fn get(count: usize) -> Corpus {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("bench-corpus")
            .join(format!("small-{count}"));
        let home = dir.join("home");
        let maildir = home.join("Maildir");
        let params = format!(
            "version={CORPUS_VERSION} count={count} owner={:?}\n",
            mail_owner()
        );
        let mut corpus = Corpus {
            count,
            dir: dir.clone(),
            home,
            maildir,
            fresh: false,
        };
        let matches = fs::read_to_string(dir.join(".bench-params")).is_ok_and(|p| p == params);
        if matches {
            corpus.remove_marked();
            if corpus.listing().len() == count {
                return corpus;
            }
            eprintln!(
                "{}: not {count} messages any more, generating again",
                dir.display()
            );
        }
        corpus.generate(&params);
        corpus
    }

    fn generate(&mut self, params: &str) {
        let t = Instant::now();
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir).unwrap();
        }
        fs::create_dir_all(&self.home).unwrap();
        // nobody must get through target/tmp to its home.
        for p in [self.dir.parent().unwrap(), &self.dir, &self.home] {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let ok = Command::new(BIN)
            .arg("maildirmake")
            .arg(&self.maildir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "postern maildirmake failed");
        let cur = self.maildir.join("cur");
        let mut bytes = 0;
        for n in 0..self.count {
            let body = message(n, "bench");
            bytes += body.len();
            // Maildir++ names with the LF size (,S=) but no CRLF size, like a real
            // delivery agent's; every tenth message is unread.
            let flags = if n % 10 == 0 { "" } else { "S" };
            let name = format!(
                "{}.M{n}P4242V0000000000000801I{n:08X}.bench,S={}:2,{flags}",
                1_700_000_000 + n / 10,
                body.len()
            );
            let path = cur.join(name);
            fs::write(&path, &body).unwrap();
            give(&path);
        }
        for sub in ["", "cur", "new", "tmp"] {
            give(&self.maildir.join(sub));
        }
        give(&self.home);
        fs::write(self.dir.join(".bench-params"), params).unwrap();
        self.fresh = true;
        println!(
            "generated {} messages ({:.1} MB) in {} in {:.1} s",
            self.count,
            bytes as f64 / 1e6,
            self.maildir.display(),
            t.elapsed().as_secs_f64()
        );
    }

    /// Message file names in cur/ and new/.
    pub fn listing(&self) -> HashSet<String> {
        let mut names = HashSet::new();
        for sub in ["cur", "new"] {
            for e in fs::read_dir(self.maildir.join(sub)).unwrap().flatten() {
                names.insert(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
        names
    }

    /// Gives the mail owner what this process wrote through the store API as root
    /// (UID database, indexes, caches), so the server's sessions can write them too.
    /// Message files are given as they are delivered, so cur/, new/, tmp/ are not walked.
    pub fn give_back(&self) {
        fn walk(path: &Path, top: bool) {
            give(path);
            if !fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                return;
            }
            for e in fs::read_dir(path).unwrap().flatten() {
                let name = e.file_name();
                if top && ["cur", "new", "tmp"].iter().any(|s| name == *s) {
                    give(&e.path());
                } else {
                    walk(&e.path(), false);
                }
            }
        }
        if mail_owner().is_some() {
            walk(&self.maildir, true);
        }
    }

    /// Removes what the benches delivered (names with `benchadd`) from cur/, new/, tmp/.
    pub fn remove_marked(&self) {
        for sub in ["cur", "new", "tmp"] {
            for e in fs::read_dir(self.maildir.join(sub)).unwrap().flatten() {
                if e.file_name().to_string_lossy().contains("benchadd") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }

    /// Removes messages not in `before` (what an APPEND run added), and marked ones.
    pub fn remove_added(&self, before: &HashSet<String>) {
        let before_names: HashSet<&str> = before
            .iter()
            .map(|n| base_name(n.split_once('/').unwrap().1))
            .collect();
        for name in self.listing() {
            let file = name.split_once('/').unwrap().1;
            if !before_names.contains(base_name(file)) {
                let _ = fs::remove_file(self.maildir.join(&name));
            }
        }
        self.remove_marked();
    }

    /// Delivers one message as an MTA does (tmp/ then rename into new/); returns the
    /// instant right after the rename.
    pub fn deliver(&self, round: usize) -> Instant {
        let name = format!("{}.M{round}P9999.benchadd", 1_800_000_000 + round);
        let tmp = self.maildir.join("tmp").join(&name);
        fs::write(&tmp, message(round, "benchadd")).unwrap();
        give(&tmp);
        fs::rename(&tmp, self.maildir.join("new").join(&name)).unwrap();
        Instant::now()
    }

    /// Waits until new/ and cur/ were last changed more than a second ago: the state of
    /// a quiet server, where a folder counts as settled.
    pub fn settle(&self) {
        loop {
            let newest = ["new", "cur"]
                .iter()
                .filter_map(|s| fs::metadata(self.maildir.join(s)).ok()?.modified().ok())
                .max()
                .unwrap();
            let age = newest.elapsed().unwrap_or_default();
            if age > Duration::from_millis(2100) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2100) - age);
        }
    }
}

/// A Maildir file name without its `:2,flags` info part.
fn base_name(file: &str) -> &str {
    file.split_once(':').map_or(file, |(b, _)| b)
}

/// `postern serve` for one account `bench`/`bench` whose home is the corpus's.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts serve on a free loopback port (any number of sessions from 127.0.0.1).
    pub fn start(home: &Path) -> Server {
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            // Sessions that run as the mail owner still find their settings.
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let users = dir.path().join("users");
        fs::write(
            &users,
            format!("bench:{{PLAIN}}bench::::{}::\n", home.display()),
        )
        .unwrap();
        let owner = match mail_owner() {
            Some((uid, gid)) => format!("default_uid = \"{uid}\"\ndefault_gid = \"{gid}\"\n"),
            None => String::new(),
        };
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("postern.toml");
            fs::write(
                &config,
                format!(
                    "[serve]\nimap = [\"127.0.0.1:{port}\"]\npop3 = []\n\
                     max_connections = 1000\nmax_connections_per_ip = 0\n\
                     [auth]\nbackend = \"userfile\"\nuserfile = \"{}\"\nfailed_login_delay = 0\n{owner}",
                    users.display()
                ),
            )
            .unwrap();
            let stderr = fs::File::create(dir.path().join("serve.stderr")).unwrap();
            let mut child = Command::new(BIN)
                .args(["serve", "--config"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap();
            for _ in 0..200 {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Server { child, port, dir };
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = fs::read_to_string(dir.path().join("serve.stderr")).unwrap_or_default();
        panic!("postern serve did not start: {log}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The serve process's children (one per connection).
    pub fn sessions(&self) -> HashSet<u32> {
        children(self.pid())
    }

    /// A logged-in IMAP session, with the pid of the process that serves it.
    pub fn login(&self) -> Session {
        let before = self.sessions();
        let mut s = Session::connect(self.port);
        s.run("LOGIN bench bench");
        let pid = (0..100).find_map(|_| {
            let new: Vec<u32> = self.sessions().difference(&before).copied().collect();
            if new.len() == 1 {
                Some(new[0])
            } else {
                std::thread::sleep(Duration::from_millis(10));
                None
            }
        });
        s.pid = pid;
        s
    }
}

/// The children of `pid`, from /proc.
pub fn children(pid: u32) -> HashSet<u32> {
    let mut out = HashSet::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(t.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// A field of /proc/PID/status in kB (VmRSS, VmHWM, RssAnon, ...).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// A plain IMAP client over a socket: commands are tagged, responses read up to the
/// tagged completion (literals are read by length, so message text cannot end a reply).
pub struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    pub pid: Option<u32>,
}

impl Session {
    pub fn connect(port: u16) -> Session {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(600)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut s = Session {
            reader: BufReader::with_capacity(1 << 16, stream),
            writer,
            tag: 0,
            pid: None,
        };
        let greeting = s.line();
        assert!(
            greeting.starts_with(b"* OK"),
            "greeting: {}",
            show(&greeting)
        );
        s
    }

    /// One response line, with any literals it announces read into it.
    pub fn line(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            let n = self.reader.read_until(b'\n', &mut out).unwrap();
            assert!(n > 0, "server closed the connection");
            let line = &out[start..];
            let Some(len) = literal_length(line) else {
                return out;
            };
            let mut lit = vec![0; len];
            std::io::Read::read_exact(&mut self.reader, &mut lit).unwrap();
            out.extend_from_slice(&lit);
        }
    }

    /// Another handle on the socket, for a thread that writes while this one reads.
    pub fn writer(&self) -> TcpStream {
        self.writer.try_clone().unwrap()
    }

    /// Whether CAPABILITY lists `cap`.
    pub fn has_capability(&mut self, cap: &str) -> bool {
        let tag = self.next_tag();
        self.send(format!("{tag} CAPABILITY\r\n").as_bytes());
        let mut found = false;
        let prefix = format!("{tag} ");
        loop {
            let line = show(&self.line());
            if line.starts_with(&prefix) {
                return found;
            }
            found |= line.starts_with("* CAPABILITY") && line.split(' ').any(|c| c == cap);
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    pub fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Sends `command`, reads to its tagged completion, asserts OK; returns the count of
    /// untagged lines and the completion line.
    pub fn run(&mut self, command: &str) -> (usize, String) {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.finish(&tag, command)
    }

    /// Reads to the completion of `tag` (sent already), asserting OK.
    pub fn finish(&mut self, tag: &str, what: &str) -> (usize, String) {
        let mut untagged = 0;
        let prefix = format!("{tag} ");
        loop {
            let line = self.line();
            if line.starts_with(prefix.as_bytes()) {
                let text = show(&line);
                assert!(line[prefix.len()..].starts_with(b"OK"), "{what}: {text}");
                return (untagged, text);
            }
            untagged += 1;
        }
    }

    /// Reads lines until one contains `want`.
    pub fn wait_for(&mut self, want: &str) -> String {
        loop {
            let line = show(&self.line());
            if line.contains(want) {
                return line;
            }
        }
    }

    /// Times `command` to its tagged OK.
    pub fn time(&mut self, command: &str) -> Duration {
        let t = Instant::now();
        self.run(command);
        t.elapsed()
    }

    /// VmRSS of the session process in kB.
    pub fn rss_kb(&self) -> Option<u64> {
        status_kb(self.pid?, "VmRSS")
    }

    pub fn logout(mut self) {
        let tag = self.next_tag();
        self.send(format!("{tag} LOGOUT\r\n").as_bytes());
        let _ = self.finish(&tag, "LOGOUT");
    }
}

/// `{n}` or `{n+}` at the end of a response line.
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").or(line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

pub fn show(line: &[u8]) -> String {
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// Median, p95 and max of a set of durations, in milliseconds.
pub struct Figures {
    pub median: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Figures {
    pub fn of(times: &[Duration]) -> Figures {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = ms.len();
        assert!(n > 0, "no samples");
        Figures {
            median: if n % 2 == 1 {
                ms[n / 2]
            } else {
                (ms[n / 2 - 1] + ms[n / 2]) / 2.0
            },
            p95: ms[(n * 95).div_ceil(100).saturating_sub(1).min(n - 1)],
            min: ms[0],
            max: ms[n - 1],
            n,
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:.2} ms (min {:.2}, p95 {:.2}, max {:.2}; n={})",
            self.median, self.min, self.p95, self.max, self.n
        )
    }
}

/// Prints one result line in a fixed shape: `bench | count | what | figures`.
pub fn report(bench: &str, count: usize, what: &str, figures: impl std::fmt::Display) {
    println!("{bench:<14} {count:>7} msgs  {what:<44} {figures}");
}
