//! Delivery to `* n EXISTS` latency in IDLE: a session IDLEs on a folder of COUNT messages
//! while this process delivers (tmp/ then rename into new/, as an MTA does) and times how
//! long the untagged EXISTS takes to arrive. Prints median, p95 and max over the rounds.
//!
//! `cargo bench --bench idle_latency [-- COUNT [ROUNDS]]` (default 10000 messages, 30 rounds).

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

fn read_until(reader: &mut impl BufRead, want: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "server closed");
        if line.contains(want) {
            return line;
        }
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let count = args.next().unwrap_or(10_000);
    let rounds = args.next().unwrap_or(30);
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
    let body = b"From: a@example.org\r\nSubject: bench\r\n\r\nhello\r\n";
    for n in 0..count {
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
    let port = free_port();
    let config = d.path().join("postern.toml");
    fs::write(
        &config,
        format!(
            "[serve]\nimap = [\"127.0.0.1:{port}\"]\npop3 = []\n[auth]\nuserfile = \"{}\"\n",
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
    let stream = (0..100)
        .find_map(|_| {
            TcpStream::connect(("127.0.0.1", port))
                .map_err(|_| std::thread::sleep(Duration::from_millis(50)))
                .ok()
        })
        .expect("serve did not start");
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    read_until(&mut reader, "* OK");
    writer
        .write_all(b"a LOGIN bench bench\r\nb SELECT INBOX\r\nc IDLE\r\n")
        .unwrap();
    read_until(&mut reader, "b OK");
    read_until(&mut reader, "+ ");
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Let the directory times settle now and then, as on a quiet server.
        if round % 5 == 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        let tmp = maildir.join("tmp").join(format!("bench{round}"));
        fs::write(&tmp, body).unwrap();
        let start = Instant::now();
        fs::rename(
            &tmp,
            maildir
                .join("new")
                .join(format!("{}.M{round}P2.bench", 1_800_000_000 + round)),
        )
        .unwrap();
        read_until(&mut reader, " EXISTS");
        times.push(start.elapsed());
    }
    writer.write_all(b"DONE\r\nd LOGOUT\r\n").unwrap();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "IDLE delivery -> EXISTS, {count} messages, {rounds} rounds: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(times[rounds / 2]),
        ms(times[(rounds * 95 / 100).min(rounds - 1)]),
        ms(times[rounds - 1])
    );
}
