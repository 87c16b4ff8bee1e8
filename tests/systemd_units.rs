//! The shipped systemd units, checked by systemd's own tools without a running systemd:
//! `systemd-analyze verify` on every unit (any output fails, not just the exit code), and
//! `systemd-socket-activate` driving `postern imapd` per connection (Accept=yes) and
//! `postern serve` as a daemon given a named listening socket (Accept=no) that reports
//! READY=1 over NOTIFY_SOCKET. Missing tools make a test say SKIP and return.

mod owner;
mod ports;
use ports::free_port;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const WAIT: Duration = Duration::from_secs(10);

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

#[path = "common/skip.rs"]
mod skip;
use skip::have;

fn unit_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(units_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("socket" | "service" | "timer")
            )
        })
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_unit_set_is_complete_and_consistent() {
    let names: Vec<String> = unit_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in ["imap", "imaps", "pop3", "pop3s"] {
        let socket = read(&units_dir().join(format!("postern-{name}.socket")));
        for line in [
            "Accept=yes",
            "MaxConnections=40",
            "MaxConnectionsPerSource=4",
        ] {
            assert!(socket.lines().any(|l| l == line), "{name}.socket: {line}");
        }
        assert!(socket.contains(&format!("Conflicts=postern-daemon-{name}.socket")));
        let service = read(&units_dir().join(format!("postern-{name}@.service")));
        let verb = if name.starts_with("imap") {
            "imapd"
        } else {
            "pop3d"
        };
        // Plaintext ports run the login program without OpenSSL (src/net/tls_handoff.rs).
        let command = if name.ends_with('s') {
            format!("postern {verb} --tls")
        } else {
            format!("postern-login {verb}")
        };
        assert!(
            service.contains(&format!("\nExecStart=/usr/sbin/{command}\n")),
            "{name}@.service"
        );
        for line in [
            "StandardInput=null",
            "StandardOutput=null",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "MemoryMax=512M",
        ] {
            assert!(
                service.lines().any(|l| l == line),
                "{name}@.service: {line}"
            );
        }
        let daemon = read(&units_dir().join(format!("postern-daemon-{name}.socket")));
        assert!(daemon.contains(&format!("\nFileDescriptorName={name}\n")));
        assert!(daemon.contains("\nService=postern.service\n"));
        assert!(!daemon.contains("Accept=yes"));
    }
    let daemon = read(&units_dir().join("postern.service"));
    for line in [
        "Type=notify",
        "ExecStart=/usr/sbin/postern serve",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(daemon.lines().any(|l| l == line), "postern.service: {line}");
    }
    let timer = read(&units_dir().join("postern-mkdhparams.timer"));
    assert!(timer.contains("OnCalendar=monthly") && timer.contains("Persistent=yes"));
    assert!(names.contains(&"postern-mkdhparams.service".to_owned()));
    assert_eq!(names.len(), 15, "{names:?}");
}

#[test]
fn systemd_analyze_verify_is_silent() {
    if !have("systemd-analyze") {
        eprintln!("SKIP: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for unit in unit_files() {
        // The units name the installed binary; point them at the one under test so that
        // verify's "is it executable" check has something real to look at.
        let text = read(&unit).replace("/usr/sbin/postern", BIN);
        let copy = dir.path().join(unit.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        copies.push(copy);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&copies)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys are only warnings with exit status 0: any output is a failure.
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

/// A virtual user, its Maildir and a settings file in a temporary directory.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    owner::open_to_mail_owner(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let status = Command::new(BIN)
        .arg("maildirmake")
        .arg(home.join("Maildir"))
        .status()
        .unwrap();
    assert!(status.success());
    owner::give_to_mail_owner(&home);
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        format!("tester:{{PLAIN}}secret::::{}::\n", home.display()),
    )
    .unwrap();
    let config = dir.path().join("postern.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\n{}",
            users.display(),
            owner::owner_settings()
        ),
    )
    .unwrap();
    Setup { dir, config }
}

/// A child process killed by its pid when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + WAIT;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(WAIT)).unwrap();
                return s;
            }
            Err(e) if Instant::now() > deadline => panic!("connect to {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Sends `line` and returns the response lines up to the tagged one.
fn command(reader: &mut BufReader<TcpStream>, tag: &str, line: &str) -> Vec<String> {
    reader
        .get_mut()
        .write_all(format!("{tag} {line}\r\n").as_bytes())
        .unwrap();
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        let n = reader.read_line(&mut l).unwrap();
        assert!(n > 0, "EOF after {line}: {lines:?}");
        let done = l.starts_with(&format!("{tag} "));
        lines.push(l.trim_end().to_owned());
        if done {
            return lines;
        }
    }
}

/// Greeting, LOGIN, SELECT, LOGOUT over one connection.
fn imap_login(port: u16) {
    let mut reader = BufReader::new(connect(port));
    let mut greeting = String::new();
    reader.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("* OK"), "greeting {greeting:?}");
    let login = command(&mut reader, "a", "LOGIN tester secret");
    assert!(login.last().unwrap().starts_with("a OK"), "{login:?}");
    let select = command(&mut reader, "b", "SELECT INBOX");
    assert!(select.last().unwrap().starts_with("b OK"), "{select:?}");
    let logout = command(&mut reader, "c", "LOGOUT");
    assert!(logout.iter().any(|l| l.starts_with("* BYE")), "{logout:?}");
}

#[test]
fn socket_activate_accept_runs_one_imapd_per_connection() {
    if !have("systemd-socket-activate") {
        eprintln!("SKIP: systemd-socket-activate is not installed (Debian package systemd)");
        return;
    }
    let s = setup();
    let port = free_port();
    let _activator = Killed(
        Command::new("systemd-socket-activate")
            .args(["--accept", "-l", &format!("127.0.0.1:{port}"), BIN, "imapd"])
            .arg("--config")
            .arg(&s.config)
            .env_remove("POSTERN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(s.dir.path().join("stderr")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    );
    imap_login(port);
    // A second connection gets a fresh process.
    imap_login(port);
}

#[test]
fn socket_activate_daemon_mode_says_ready_and_serves() {
    if !have("systemd-socket-activate") {
        eprintln!("SKIP: systemd-socket-activate is not installed (Debian package systemd)");
        return;
    }
    let s = setup();
    let port = free_port();
    let notify_path = s.dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let stderr = s.dir.path().join("stderr");
    let _activator = Killed(
        Command::new("systemd-socket-activate")
            .args(["-l", &format!("127.0.0.1:{port}"), "--fdname=imap", "-E"])
            .arg(format!("NOTIFY_SOCKET={}", notify_path.display()))
            .args([BIN, "serve", "--config"])
            .arg(&s.config)
            .env_remove("POSTERN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap(),
    );
    // The activator execs serve only once the first connection arrives; that connection
    // is then served like any other.
    let first = std::thread::spawn(move || imap_login(port));
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|m: &String| m.lines().any(|l| l == "READY=1"))
    {
        assert!(Instant::now() < deadline, "no READY=1: {seen:?}");
        let n = notify.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "no READY=1 ({e}); got {seen:?}; stderr: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    first.join().unwrap();
    imap_login(port);
}
