//! PAM logins of a real system user (root only): `useradd`, `chpasswd`, a PAM service file
//! of the test's own, `postern imapd --inetd` started as root. After LOGIN the session
//! process must show the user's ids in every slot, the user's groups and no capability
//! (read from /proc/PID/status while the session is still open). Wrong passwords,
//! unknown users, locked accounts, `disableimap=1`, loginexec, a sticky home and a
//! Maildir owned by someone else are checked too. The user and the PAM file are removed
//! afterwards, also when a test fails.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const PASSWORD: &str = "Corr3ct-horse";

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

fn output(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[path = "common/skip.rs"]
mod skip;

#[path = "owner/mod.rs"]
mod owner;
use skip::have;

/// The test's user and PAM service, removed on drop.
struct TestUser {
    name: String,
    service: String,
    home: PathBuf,
    uid: u32,
    gid: u32,
    dir: tempfile::TempDir,
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.home, std::fs::Permissions::from_mode(0o755));
        owner::remove_user(&self.name);
        let _ = std::fs::remove_file(Path::new("/etc/pam.d").join(&self.service));
    }
}

impl TestUser {
    /// `None` (after a loud SKIP) when this machine cannot run the test.
    fn create(tag: &str) -> Option<TestUser> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: PAM tests need root (CI runs them as root)");
            return None;
        }
        for tool in ["useradd", "userdel", "usermod", "chpasswd"] {
            if !have(tool) {
                eprintln!("SKIP: {tool} is not installed (Debian package passwd)");
                return None;
            }
        }
        let unique = format!(
            "{}{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_micros()
                % 10000
        );
        let name = format!("pt{tag}{unique}");
        let service = format!("postern-test-{name}");
        // The guard exists before anything is created, so a failure cleans up.
        let mut user = TestUser {
            name: name.clone(),
            service: service.clone(),
            home: PathBuf::new(),
            uid: 0,
            gid: 0,
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(
            Path::new("/etc/pam.d").join(&service),
            "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
        )
        .unwrap();
        run("useradd", &["-m", "-s", "/bin/sh", &name]);
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(chpasswd.stdin.take().unwrap(), "{name}:{PASSWORD}").unwrap();
        assert!(chpasswd.wait().unwrap().success());
        let entry = nix::unistd::User::from_name(&name).unwrap().unwrap();
        user.home = entry.dir;
        user.uid = entry.uid.as_raw();
        user.gid = entry.gid.as_raw();
        let maildir = user.home.join("Maildir");
        run(BIN, &["maildirmake", maildir.to_str().unwrap()]);
        run(
            "chown",
            &["-R", &format!("{name}:"), maildir.to_str().unwrap()],
        );
        user.write_config("");
        Some(user)
    }

    /// Replaces the test's PAM service file with `stack`.
    fn set_pam_stack(&self, stack: &str) {
        std::fs::write(Path::new("/etc/pam.d").join(&self.service), stack).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("postern.toml")
    }

    fn write_config(&self, default_options: &str) {
        std::fs::write(
            self.config(),
            format!(
                "[auth]\nbackend = \"pam\"\npam_service_imap = \"{}\"\n\
                 default_options = \"{default_options}\"\nfailed_login_delay = 0\n\
                 max_failed_logins = 10\n\n[mail]\nloginexec_timeout = 10\n",
                self.service
            ),
        )
        .unwrap();
    }

    fn maildir(&self) -> PathBuf {
        self.home.join("Maildir")
    }
}

/// `postern imapd --inetd` as a child of this (root) test: its pid is the session's.
struct Session {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    stderr: PathBuf,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Session {
    fn start(user: &TestUser) -> Session {
        let stderr = user.dir.path().join("stderr");
        let mut child = Command::new(BIN)
            .args(["imapd", "--inetd", "--config"])
            .arg(user.config())
            .env_remove("POSTERN_CONFIG")
            .env_remove("POSTERN_PAM_SERVICE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let mut greeting = String::new();
        output.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting:?}");
        Session {
            child,
            input,
            output,
            stderr,
        }
    }

    /// Sends a tagged command; returns the tagged response line.
    fn command(&mut self, tag: &str, line: &str) -> String {
        write!(self.input, "{tag} {line}\r\n").unwrap();
        self.input.flush().unwrap();
        loop {
            let mut l = String::new();
            let n = self.output.read_line(&mut l).unwrap();
            assert!(n > 0, "EOF after {line:?}; log: {}", self.log());
            if l.starts_with(&format!("{tag} ")) {
                return l.trim_end().to_owned();
            }
        }
    }

    fn login(&mut self, user: &str, password: &str) -> String {
        self.command("a", &format!("LOGIN {user} \"{password}\""))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn status(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap()
    }
}

fn field<'a>(status: &'a str, name: &str) -> Vec<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc status"))
        .split_whitespace()
        .collect()
}

fn login_refused(user: &TestUser, name: &str, password: &str) -> (String, String) {
    let mut s = Session::start(user);
    let reply = s.login(name, password);
    assert!(reply.starts_with("a NO"), "{reply}; log: {}", s.log());
    (reply, s.log())
}

#[test]
fn pam_login_drops_to_the_user_completely() {
    let Some(user) = TestUser::create("drop") else {
        return;
    };
    // A supplementary group from the group database (userdel takes the user out again).
    run("usermod", &["-a", "-G", "users", &user.name]);
    let mut s = Session::start(&user);
    let reply = s.login(&user.name, PASSWORD);
    assert!(reply.starts_with("a OK"), "{reply}; log: {}", s.log());
    // The session is still open: its process is the user now.
    let status = s.status();
    // The groups were looked up in a child: the NSS modules that answered (such as
    // libnss_systemd where nsswitch.conf names it for `group`) are not mapped here.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", s.child.id())).unwrap();
    let nss: Vec<&str> = maps.lines().filter(|l| l.contains("libnss_")).collect();
    assert!(nss.is_empty(), "NSS modules left in the session: {nss:?}");
    let (uid, gid) = (user.uid.to_string(), user.gid.to_string());
    assert_eq!(field(&status, "Uid"), [uid.as_str(); 4], "{status}");
    assert_eq!(field(&status, "Gid"), [gid.as_str(); 4], "{status}");
    let mut groups: Vec<&str> = field(&status, "Groups");
    let id_groups = output("id", &["-G", &user.name]);
    let mut want: Vec<&str> = id_groups.split_whitespace().collect();
    groups.sort();
    want.sort();
    assert_eq!(groups, want, "{status}");
    for caps in ["CapPrm", "CapEff", "CapAmb", "CapInh", "CapBnd"] {
        assert_eq!(
            field(&status, caps),
            ["0000000000000000"],
            "{caps}: {status}"
        );
    }
    assert_eq!(field(&status, "NoNewPrivs"), ["1"], "{status}");
    let select = s.command("b", "SELECT INBOX");
    assert!(select.starts_with("b OK"), "{select}");
    let logout = s.command("c", "LOGOUT");
    assert!(logout.starts_with("c OK"), "{logout}");
    let log = s.log();
    assert!(log.contains(&user.name), "{log}");
}

/// Where the session goes on in the login process (here inetd's stdin/stdout), the PAM
/// stack runs in a child process: what its modules load stays out of the process that
/// goes on to serve the mail. pam_cap (in Debian's common-auth when libpam-cap is
/// installed) looks the user's groups up, which maps the NSS modules that answer
/// (libnss_systemd, with libm and libcap) for good in the process that asks.
#[test]
fn pam_modules_leave_nothing_in_the_session() {
    let dirs = [
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib64/security",
        "/usr/lib/security",
    ];
    if !dirs
        .iter()
        .any(|d| Path::new(d).join("pam_cap.so").exists())
    {
        eprintln!("SKIP: pam_cap.so is not installed (Debian package libpam-cap)");
        return;
    }
    let Some(user) = TestUser::create("mods") else {
        return;
    };
    user.set_pam_stack(
        "auth required pam_unix.so nodelay\nauth optional pam_cap.so\n\
         account required pam_unix.so\n",
    );
    let mut s = Session::start(&user);
    let reply = s.login(&user.name, PASSWORD);
    assert!(reply.starts_with("a OK"), "{reply}; log: {}", s.log());
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", s.child.id())).unwrap();
    let left: Vec<&str> = maps
        .lines()
        .filter(|l| l.contains("libnss_") || l.contains("/security/pam_"))
        .collect();
    assert!(
        left.is_empty(),
        "PAM's modules left in the session: {left:?}"
    );
    let logout = s.command("b", "LOGOUT");
    assert!(logout.starts_with("b OK"), "{logout}");
}

#[test]
fn pam_refusals() {
    let Some(user) = TestUser::create("no") else {
        return;
    };
    let (_, log) = login_refused(&user, &user.name, "wrong-password");
    assert!(
        log.contains(&user.name),
        "the failure names the user: {log}"
    );
    login_refused(&user, &format!("{}x", user.name), PASSWORD);

    run("usermod", &["-L", &user.name]);
    login_refused(&user, &user.name, PASSWORD);
    run("usermod", &["-U", &user.name]);

    user.write_config("disableimap=1");
    let (reply, _) = login_refused(&user, &user.name, PASSWORD);
    assert!(reply.contains("disabled"), "{reply}");
    user.write_config("");

    // Courier's way to suspend an account: +t on its home.
    std::fs::set_permissions(&user.home, std::fs::Permissions::from_mode(0o1755)).unwrap();
    let (_, log) = login_refused(&user, &user.name, PASSWORD);
    assert!(log.contains("sticky"), "{log}");
    std::fs::set_permissions(&user.home, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Courier's IMAP_MAILBOX_SANITY_CHECK: a Maildir the user does not own.
    run("chown", &["root:", user.maildir().to_str().unwrap()]);
    let (_, log) = login_refused(&user, &user.name, PASSWORD);
    assert!(log.contains("owned by uid 0"), "{log}");
    run(
        "chown",
        &[&format!("{}:", user.name), user.maildir().to_str().unwrap()],
    );

    // And after all that, the right password still works.
    let mut s = Session::start(&user);
    let reply = s.login(&user.name, PASSWORD);
    assert!(reply.starts_with("a OK"), "{reply}; log: {}", s.log());
}

fn install_loginexec(user: &TestUser, exit: u32) -> PathBuf {
    let path = user.maildir().join("loginexec");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nid -u >> loginexec-ran\necho ran as $(id -un)\nexit {exit}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    run(
        "chown",
        &[&format!("{}:", user.name), path.to_str().unwrap()],
    );
    path
}

#[test]
fn loginexec_runs_as_the_user() {
    let Some(user) = TestUser::create("lx") else {
        return;
    };
    let marker = user.maildir().join("loginexec-ran");

    let script = install_loginexec(&user, 1);
    let mut s = Session::start(&user);
    let reply = s.login(&user.name, PASSWORD);
    assert!(reply.starts_with("a OK"), "{reply}; log: {}", s.log());
    drop(s);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        user.uid.to_string()
    );
    assert!(script.exists(), "a failing loginexec stays");

    install_loginexec(&user, 0);
    let mut s = Session::start(&user);
    let reply = s.login(&user.name, PASSWORD);
    assert!(reply.starts_with("a OK"), "{reply}; log: {}", s.log());
    let log = s.log();
    drop(s);
    assert!(!script.exists(), "exit 0 removes it; log: {log}");
    assert!(log.contains(&format!("ran as {}", user.name)), "{log}");
    let runs = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&marker).unwrap().uid(), user.uid);
}

/// `[auth] pam_service_by_port` (Courier's AUTHSERVICE<port>): the PAM service is the one
/// named for the local port the client dialled. The IMAP default is a service that denies
/// everyone (pam_deny), so only the per-port one can let the user in.
#[test]
fn pam_service_chosen_by_local_port() {
    let Some(user) = TestUser::create("port") else {
        return;
    };
    if !have("systemd-socket-activate") {
        eprintln!("SKIP: systemd-socket-activate is not installed (Debian package systemd)");
        return;
    }
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let deny = format!("{}-deny", user.service);
    let _deny_file = Remove(Path::new("/etc/pam.d").join(&deny));
    std::fs::write(
        Path::new("/etc/pam.d").join(&deny),
        "auth required pam_deny.so\naccount required pam_deny.so\n",
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        user.config(),
        format!(
            "[auth]\nbackend = \"pam\"\npam_service_imap = \"{deny}\"\n\
             pam_service_by_port = {{ \"{port}\" = \"{}\" }}\nfailed_login_delay = 0\n",
            user.service
        ),
    )
    .unwrap();
    let mut activator = Command::new("systemd-socket-activate")
        .args([
            "--accept",
            "-l",
            &format!("127.0.0.1:{port}"),
            BIN,
            "imapd",
            "--config",
        ])
        .arg(user.config())
        .env_remove("POSTERN_PAM_SERVICE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reply = login_over_tcp(port, &user.name);
    let _ = activator.kill();
    let _ = activator.wait();
    assert!(
        reply.starts_with("a OK"),
        "LOGIN through the per-port service: {reply}"
    );
}

/// LOGIN over TCP on 127.0.0.1:`port`; the tagged reply.
fn login_over_tcp(port: u16, name: &str) -> String {
    login_on_connection(port, name).1
}

/// LOGIN over TCP on 127.0.0.1:`port`: the open connection and the tagged reply.
fn login_on_connection(port: u16, name: &str) -> (std::net::TcpStream, String) {
    let mut stream = (0..100)
        .find_map(|_| {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map_err(|_| std::thread::sleep(std::time::Duration::from_millis(50)))
                .ok()
        })
        .expect("systemd-socket-activate never listened");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    write!(stream, "a LOGIN {} {PASSWORD}\r\n", name).unwrap();
    let reply = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 || line.starts_with("a ") {
            break line.clone();
        }
    };
    (stream, reply)
}

/// A free loopback port.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent is the second field after the command name, which may hold spaces.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        if after.split_whitespace().nth(1) == Some(parent.to_string().as_str()) {
            pids.push(pid);
        }
    }
    pids
}

/// Over a plaintext socket the login process runs the PAM stack itself (no child: it
/// executes postern-session right after), so the exec is what must leave nothing of it:
/// the session, same pid, maps no PAM or NSS module and holds no descriptor under /etc.
#[test]
fn a_plaintext_login_leaves_nothing_of_pam_in_the_session_program() {
    let Some(user) = TestUser::create("exec") else {
        return;
    };
    if !have("systemd-socket-activate") {
        eprintln!("SKIP: systemd-socket-activate is not installed (Debian package systemd)");
        return;
    }
    let pam_cap = [
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/x86_64-linux-gnu/security",
    ]
    .iter()
    .any(|d| Path::new(d).join("pam_cap.so").exists());
    user.set_pam_stack(&format!(
        "auth required pam_unix.so nodelay\n{}account required pam_unix.so\n",
        if pam_cap {
            "auth optional pam_cap.so\n"
        } else {
            ""
        }
    ));
    let port = free_port();
    let mut activator = Command::new("systemd-socket-activate")
        .args([
            "--accept",
            "-l",
            &format!("127.0.0.1:{port}"),
            BIN,
            "imapd",
            "--config",
        ])
        .arg(user.config())
        .env_remove("POSTERN_PAM_SERVICE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stream, reply) = login_on_connection(port, &user.name);
    let sessions = children_of(activator.id());
    let checked = sessions
        .iter()
        .map(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
            let modules: Vec<String> = maps
                .lines()
                .filter(|l| {
                    l.contains("libnss_") || l.contains("/security/pam_") || l.contains("libpam")
                })
                .map(str::to_owned)
                .collect();
            let etc: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter(|target| target.starts_with("/etc"))
                .collect();
            (exe, modules, etc)
        })
        .collect::<Vec<_>>();
    drop(stream);
    let _ = activator.kill();
    let _ = activator.wait();
    assert!(reply.starts_with("a OK"), "LOGIN: {reply}");
    assert_eq!(
        checked.len(),
        1,
        "one session process under the activator: {checked:?}"
    );
    let (exe, modules, etc) = &checked[0];
    assert!(exe.ends_with("postern-session"), "the session runs {exe:?}");
    assert!(
        modules.is_empty(),
        "PAM/NSS modules in the session: {modules:?}"
    );
    assert!(
        etc.is_empty(),
        "descriptors under /etc in the session: {etc:?}"
    );
}
