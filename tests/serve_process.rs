//! `postern serve` as a real process on ephemeral loopback ports: connection limits,
//! readiness and reload over a fake NOTIFY_SOCKET, SIGTERM draining, and socket names
//! from systemd-socket-activate. Sessions are a small shell script (via
//! POSTERN_SESSION_PROGRAM) that greets on descriptor 3 and holds the connection until
//! the client closes it, so these tests do not depend on the IMAP or POP3 code.

mod ports;
use ports::free_port;

use std::io::{BufRead, BufReader, Read};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const WAIT: Duration = Duration::from_secs(10);

/// A running `postern serve`, killed (by its pid) if a test ends early.
struct Serve {
    child: Child,
    dir: tempfile::TempDir,
    notify: UnixDatagram,
    config: PathBuf,
    imap: u16,
    pop3: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn write_config(path: &Path, imap: u16, pop3: u16, serve_extra: &str) {
    std::fs::write(
        path,
        format!(
            "[serve]\nimap = [\"127.0.0.1:{imap}\"]\npop3 = [\"127.0.0.1:{pop3}\"]\n{serve_extra}\n"
        ),
    )
    .unwrap();
}

fn session_script(dir: &Path) -> PathBuf {
    let path = dir.join("session.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         blk=$(awk '/^SigBlk/ {print $2}' /proc/$$/status)\n\
         printf '* OK session %s fd=%s blocked=%s\\r\\n' \"$*\" \"$POSTERN_CONNECTION\" \"$blk\" >&3\n\
         exec cat <&3 >/dev/null\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

impl Serve {
    fn start(serve_extra: &str) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let (imap, pop3) = (free_port(), free_port());
        let config = dir.path().join("postern.toml");
        write_config(&config, imap, pop3, serve_extra);
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify.set_read_timeout(Some(WAIT)).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env("POSTERN_SESSION_PROGRAM", session_script(dir.path()))
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("POSTERN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let serve = Serve {
            child,
            dir,
            notify,
            config,
            imap,
            pop3,
        };
        serve.expect_notify("READY=1");
        serve
    }

    /// Wait for a notification datagram containing `needle`; returns it.
    fn expect_notify(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let n = self
                .notify
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {needle} from serve: {e}; {}", self.stderr()));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.lines().any(|l| l.contains(needle)) {
                return msg;
            }
        }
        panic!("no {needle} from serve; {}", self.stderr());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit; {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Connect and read the first line the server sends.
fn greet(port: u16) -> (TcpStream, String) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    (stream, line)
}

/// After a session is closed its slot frees once serve reaps it; retry briefly.
fn greet_until_accepted(port: u16) -> (TcpStream, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (s, line) = greet(port);
        if line.starts_with("* OK") || Instant::now() > deadline {
            return (s, line);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn per_ip_limit_refuses_politely_in_each_protocol() {
    let serve = Serve::start("max_connections_per_ip = 2");
    let (first, line) = greet(serve.imap);
    assert!(line.starts_with("* OK session imapd --config"), "{line}");
    assert!(line.contains(serve.config.to_str().unwrap()), "{line}");
    assert!(line.contains(" fd=3 "), "{line}");
    // serve blocks the signals it reads from a signalfd; its sessions must not inherit that.
    assert!(
        line.trim_end().ends_with("blocked=0000000000000000"),
        "{line}"
    );
    let (_second, line) = greet(serve.pop3);
    assert!(line.starts_with("* OK session pop3d"), "{line}");

    let (mut third, line) = greet(serve.imap);
    assert_eq!(line, "* BYE Too many connections\r\n");
    // ... and then the connection is closed.
    let mut rest = Vec::new();
    third.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let (_, line) = greet(serve.pop3);
    assert_eq!(line, "-ERR [SYS/TEMP] Too many connections\r\n");
    assert!(
        serve
            .stderr()
            .contains("Too many connections, ip=[127.0.0.1]")
    );

    // Closing a session frees its slot.
    first.shutdown(Shutdown::Both).unwrap();
    drop(first);
    let (_again, line) = greet_until_accepted(serve.imap);
    assert!(line.starts_with("* OK session imapd"), "{line}");
}

/// The backlog of the listening socket on `port` (ss's Send-Q for a listener).
fn listen_backlog(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn listeners_keep_the_configured_backlog() {
    if which("ss").is_err() {
        eprintln!("SKIP: listeners_keep_the_configured_backlog: no ss (iproute2)");
        return;
    }
    // Past std's 128 (overrun when a few hundred clients connect at once); at most
    // net.core.somaxconn, which is 4096 on current kernels.
    let serve = Serve::start("listen_backlog = 700");
    assert_eq!(listen_backlog(serve.imap), Some(700));
    assert_eq!(listen_backlog(serve.pop3), Some(700));
    drop(serve);
    let serve = Serve::start("");
    assert_eq!(listen_backlog(serve.imap), Some(1024), "the default");
}

#[test]
fn global_limit() {
    let serve = Serve::start("max_connections = 1\nmax_connections_per_ip = 0");
    let (_first, line) = greet(serve.pop3);
    assert!(line.starts_with("* OK session pop3d"), "{line}");
    let msg = serve.expect_notify("STATUS=");
    assert!(msg.contains("1 sessions (0 IMAP, 1 POP3)"), "{msg}");
    let (_, line) = greet(serve.imap);
    assert_eq!(line, "* BYE Too many connections\r\n");
}

#[test]
fn sigterm_drains_then_exits_zero() {
    let mut serve = Serve::start("shutdown_timeout = 30");
    let (session, line) = greet(serve.imap);
    assert!(line.starts_with("* OK session imapd"), "{line}");

    serve.signal(Signal::SIGTERM);
    serve.expect_notify("STOPPING=1");
    // Listeners are closed at once: new clients are refused, not queued.
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", serve.imap)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The open session keeps serve alive ...
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "exited while a session was open"
    );
    // ... until it ends.
    drop(session);
    let status = serve.wait_exit();
    assert!(status.success(), "{status:?}; {}", serve.stderr());
}

#[test]
fn sigterm_bound_ends_stuck_sessions() {
    let mut serve = Serve::start("shutdown_timeout = 0");
    let (_session, line) = greet(serve.imap);
    assert!(line.starts_with("* OK session"), "{line}");
    serve.signal(Signal::SIGTERM);
    let status = serve.wait_exit();
    assert!(status.success(), "{status:?}; {}", serve.stderr());
    let stderr = serve.stderr();
    assert!(stderr.contains("after the shutdown timeout"), "{stderr}");
    // SIGTERM was enough; nothing needed SIGKILL.
    assert!(!stderr.contains("killing them"), "{stderr}");
}

#[test]
fn sighup_reloads_settings() {
    let serve = Serve::start("max_connections_per_ip = 4");
    let (_a, line) = greet(serve.imap);
    assert!(line.starts_with("* OK session"), "{line}");
    write_config(
        &serve.config,
        serve.imap,
        serve.pop3,
        "max_connections_per_ip = 1",
    );
    serve.signal(Signal::SIGHUP);
    serve.expect_notify("RELOADING=1");
    serve.expect_notify("READY=1");
    let (_, line) = greet(serve.imap);
    assert_eq!(line, "* BYE Too many connections\r\n");

    // A broken file keeps the old settings.
    std::fs::write(&serve.config, "[serve]\nmax_connectons = 9\n").unwrap();
    serve.signal(Signal::SIGHUP);
    serve.expect_notify("READY=1");
    assert!(
        serve.stderr().contains("max_connectons"),
        "{}",
        serve.stderr()
    );
    let (_, line) = greet(serve.imap);
    assert_eq!(line, "* BYE Too many connections\r\n");
}

#[test]
fn unknown_fdname_is_an_error_naming_it() {
    let Ok(activate) = which("systemd-socket-activate") else {
        eprintln!("SKIPPED unknown_fdname_is_an_error_naming_it: no systemd-socket-activate");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postern.toml");
    write_config(&config, free_port(), free_port(), "");
    let port = free_port();
    let stderr_path = dir.path().join("stderr");
    let mut child = Command::new(activate)
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--fdname=bogus")
        .arg(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    let killer = KillOnDrop(child.id());
    // systemd-socket-activate starts the program at the first connection.
    let deadline = Instant::now() + WAIT;
    let _client = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("activator not listening: {e}"),
        }
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not fail");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::mem::forget(killer);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("named \"bogus\""), "{stderr}");
}

#[test]
fn sessions_refuse_to_run_without_a_connection() {
    let out = Command::new(BIN)
        .arg("imapd")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("POSTERN_CONNECTION")
        .env("POSTERN_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no connection to serve"), "{stderr}");

    let out = Command::new(BIN)
        .arg("pop3d")
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .env_remove("POSTERN_CONNECTION")
        .env("POSTERN_CONFIG", "/dev/null")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LISTEN_PID=1 is not this process"),
        "{stderr}"
    );
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
    }
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}
