//! A real Postfix from Debian for tests (root only): local delivery and nothing else.
//!
//! [`Postfix::start`] writes a configuration of its own in a temporary directory (main.cf,
//! master.cf, queue, data, log) and runs `postfix -c DIR start`. It has no SMTP listener at
//! all (master.cf lists no inet service and `master_service_disable = inet`), sends nothing
//! off the machine (`default_transport` and `relay_transport` are `error:`, `relayhost` is
//! empty) and hands every local recipient to the `mailbox_command` the test gives, which
//! Postfix runs as the recipient. Mail goes in through Postfix's own `sendmail -C DIR`
//! ([`Postfix::sendmail`], [`Postfix::sendmail_as`]), picked up from the queue's maildrop.
//!
//! Postfix's set-gid `postdrop` and `postqueue` accept another configuration directory only
//! when the default `/etc/postfix/main.cf` lists it in `alternate_config_directories`, so
//! a user's sendmail (an Outbox's) can submit: the fixture adds that one line (creating the
//! file when Debian's "No configuration" left none) and puts the file back exactly as it
//! was, or removes it, when it is dropped. Fixtures take a lock for their whole life, so
//! only one runs at a time, across test processes too. Dropping stops Postfix (`postfix
//! stop`, then `abort` and SIGKILL to its master if it lingers) and removes the directory.
//!
//! [`MailUser`] is a real system user (`useradd -m`) with a Maildir made as that user,
//! removed with its home (`userdel -r`) when dropped.
//!
//! [`Exim`] is Debian's Exim 4 unpacked by `tests/mta/fetch-exim.sh` (`make oracles`; the
//! exim4 and postfix packages cannot both be installed), run with a configuration of its
//! own (`-C`, listed in `/etc/exim4/trusted_configs` while the fixture lives) and no
//! daemon: `exim -odi` delivers as it submits, through README's router and pipe transport
//! ([`EXIM_ROUTER_AND_TRANSPORT`]).
//!
//! Waiting is by polling, bounded by [`MTA_WAIT`]: [`wait_until`], [`Postfix::wait_log`],
//! [`Exim::wait_log`], [`MailUser::wait_messages`].
//!
//! A test file uses it with `mod common; mod mta;` (it calls `common::skip`).

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The mail domain of the test Postfix (`myhostname`, in `mydestination`): RFC 2606's
/// `.invalid`, so no address can ever leave the machine by accident.
pub const DOMAIN: &str = "postern-test.invalid";

/// The longest any wait for Postfix (start, delivery, a log line) may take.
pub const MTA_WAIT: Duration = Duration::from_secs(60);

const POSTFIX: &str = "/usr/sbin/postfix";
const SENDMAIL: &str = "/usr/sbin/sendmail";
const POSTQUEUE: &str = "/usr/sbin/postqueue";
const DEFAULT_MAIN_CF: &str = "/etc/postfix/main.cf";
const LOCK: &str = "/run/lock/postern-test-postfix.lock";

/// Polls `done` every 100 ms until it holds; panics naming `what` after [`MTA_WAIT`].
#[track_caller]
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < MTA_WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `log` until it has a line containing every one of `needles` and returns that
/// line; panics with the whole log after [`MTA_WAIT`].
#[track_caller]
fn wait_line(mta: &str, log: impl Fn() -> String, needles: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let text = log();
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_owned();
        }
        assert!(
            start.elapsed() < MTA_WAIT,
            "timed out waiting for a {mta} log line with {needles:?}; log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Why this machine cannot run a Postfix test, if it cannot (the caller says SKIP).
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("a real Postfix needs root (CI runs the tests as root)".into());
    }
    for tool in [POSTFIX, SENDMAIL, POSTQUEUE] {
        if !Path::new(tool).exists() {
            return Some(format!(
                "{tool} is missing: install Debian's postfix (`make deps` does)"
            ));
        }
    }
    for tool in ["useradd", "userdel", "setpriv"] {
        if !super::common::skip::have(tool) {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// A running Postfix with its own configuration directory; stopped when dropped.
pub struct Postfix {
    /// Everything of this instance: etc/ (main.cf, master.cf), queue/, data/, maillog.
    pub dir: tempfile::TempDir,
    /// `etc/`: for `sendmail -C`, `postqueue -c`, or `MAIL_CONFIG`.
    pub config_dir: PathBuf,
    main_cf: DefaultMainCf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// The default main.cf as it was before the fixture added its line.
struct DefaultMainCf {
    original: Option<Vec<u8>>,
}

impl DefaultMainCf {
    /// Lets set-gid postdrop/postqueue use `config_dir` (see the module comment).
    fn allow(config_dir: &Path) -> DefaultMainCf {
        let original = std::fs::read(DEFAULT_MAIN_CF).ok();
        let mut text = original.clone().unwrap_or_default();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        if original.is_none() {
            // Should the file outlive the test (a kill -9), a default Postfix started from
            // it still would not listen on the network.
            text.extend_from_slice(
                b"master_service_disable = inet\ninet_interfaces = loopback-only\n",
            );
        }
        text.extend_from_slice(
            format!(
                "# added by postern's test fixture (tests/mta), removed when the test ends\n\
                 alternate_config_directories = {}\n",
                config_dir.display()
            )
            .as_bytes(),
        );
        std::fs::create_dir_all("/etc/postfix").unwrap();
        std::fs::write(DEFAULT_MAIN_CF, text).unwrap();
        DefaultMainCf { original }
    }
}

impl Drop for DefaultMainCf {
    fn drop(&mut self) {
        let _ = match &self.original {
            Some(bytes) => std::fs::write(DEFAULT_MAIN_CF, bytes),
            None => std::fs::remove_file(DEFAULT_MAIN_CF),
        };
    }
}

/// The services local delivery needs, none of them listening on the network and none
/// chrooted (the queue is a temporary directory without the files a chroot would need).
const MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
postlog   unix-dgram n  -       n       -       1       postlogd
";

impl Postfix {
    /// Starts Postfix delivering every local recipient through `mailbox_command` (run by
    /// Postfix as the recipient, with SENDER, RECIPIENT, EXTENSION, USER, HOME... set;
    /// Postfix expands `$user`, `$extension`... in it). `None` after a loud SKIP when this
    /// machine cannot run it.
    pub fn start(mailbox_command: &str) -> Option<Postfix> {
        Postfix::start_with(mailbox_command, &[], "")
    }

    /// Like [`Postfix::start`], with more main.cf parameters (later ones win) and more
    /// master.cf services (e.g. a `pipe(8)` transport for virtual users).
    pub fn start_with(
        mailbox_command: &str,
        extra: &[(&str, &str)],
        services: &str,
    ) -> Option<Postfix> {
        if let Some(why) = unavailable() {
            super::common::skip::skip(&why);
            return None;
        }
        let lock = lock();
        let dir = tempfile::Builder::new()
            .prefix("postern-postfix.")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config_dir = root.join("etc");
        for sub in ["etc", "queue", "data"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        let postfix = nix::unistd::User::from_name("postfix")
            .unwrap()
            .expect("the postfix package made a postfix user");
        nix::unistd::chown(&root.join("data"), Some(postfix.uid), None).unwrap();
        std::fs::write(
            config_dir.join("master.cf"),
            format!("{MASTER_CF}{services}"),
        )
        .unwrap();
        std::fs::write(
            config_dir.join("main.cf"),
            main_cf(&root, mailbox_command, extra),
        )
        .unwrap();
        let main_cf = DefaultMainCf::allow(&config_dir);
        let fixture = Postfix {
            dir,
            config_dir,
            main_cf,
            _lock: lock,
        };
        fixture.postfix("check");
        fixture.postfix("start");
        let pickup = root.join("queue/public/pickup");
        wait_until("Postfix's pickup service", || pickup.exists());
        Some(fixture)
    }

    /// `postfix -c DIR <action>`, which must succeed (its log says why not).
    #[track_caller]
    fn postfix(&self, action: &str) {
        let status = Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.config_dir)
            .arg(action)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "postfix {action}: {status}; log:\n{}",
            self.log()
        );
    }

    /// The argument list of this instance's sendmail, e.g. for an Outbox's `sendmail`
    /// setting: `/usr/sbin/sendmail -C DIR`.
    pub fn sendmail_command(&self) -> Vec<String> {
        vec![
            SENDMAIL.to_owned(),
            "-C".to_owned(),
            self.config_dir.display().to_string(),
        ]
    }

    /// `sendmail -C DIR -oi ARGS < message` as root (e.g. `["-t", "-f", "a@x"]`).
    pub fn sendmail(&self, args: &[&str], message: &[u8]) -> Output {
        self.submit(None, args, message)
    }

    /// The same as `user` (through `setpriv`, with the user's groups), as an Outbox runs it.
    pub fn sendmail_as(&self, user: &MailUser, args: &[&str], message: &[u8]) -> Output {
        self.submit(Some(user), args, message)
    }

    fn submit(&self, user: Option<&MailUser>, args: &[&str], message: &[u8]) -> Output {
        let mut cmd = match user {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={}", u.uid))
                    .arg(format!("--regid={}", u.gid))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(SENDMAIL);
                c
            }
            None => Command::new(SENDMAIL),
        };
        cmd.arg("-C")
            .arg(&self.config_dir)
            .arg("-oi")
            .args(args)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), message).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Postfix's log so far (`maillog_file`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Waits until the log has a line containing every one of `needles`; returns it.
    #[track_caller]
    pub fn wait_log(&self, needles: &[&str]) -> String {
        wait_line("Postfix", || self.log(), needles)
    }

    /// `postqueue -p`: the queue listing ("Mail queue is empty" when empty).
    pub fn queue(&self) -> String {
        let out = Command::new(POSTQUEUE)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("-p")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `postqueue -f`: try every deferred message again now.
    pub fn flush(&self) -> ExitStatus {
        Command::new(POSTQUEUE)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("-f")
            .status()
            .unwrap()
    }

    /// The master's pid, from its pid file.
    fn master_pid(&self) -> Option<nix::unistd::Pid> {
        let text = std::fs::read_to_string(self.dir.path().join("queue/pid/master.pid")).ok()?;
        Some(nix::unistd::Pid::from_raw(text.trim().parse().ok()?))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let master = self.master_pid();
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("stop")
            .stdin(Stdio::null())
            .status();
        let Some(pid) = master else { return };
        let alive = || nix::sys::signal::kill(pid, None).is_ok();
        let start = Instant::now();
        while alive() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive() {
            let _ = Command::new(POSTFIX)
                .arg("-c")
                .arg(&self.config_dir)
                .arg("abort")
                .status();
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// The fixture's lock, held for its whole life.
fn lock() -> nix::fcntl::Flock<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .unwrap();
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

/// main.cf of a local-delivery-only instance rooted at `root`.
fn main_cf(root: &Path, mailbox_command: &str, extra: &[(&str, &str)]) -> String {
    let root = root.display();
    let mut text = format!(
        "compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {DOMAIN}
mydomain = {DOMAIN}
myorigin = $myhostname
mydestination = $myhostname, localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
master_service_disable = inet
relayhost =
default_transport = error:5.7.1 this test Postfix delivers locally only
relay_transport = error:5.7.1 this test Postfix delivers locally only
alias_maps =
alias_database =
recipient_delimiter = +
biff = no
append_dot_mydomain = no
mailbox_size_limit = 0
delay_warning_time = 0
syslog_name = postfix-postern-test
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mailbox_command = {mailbox_command}
"
    );
    for (k, v) in extra {
        text.push_str(&format!("{k} = {v}\n"));
    }
    text
}

/// A system user made for the test with `useradd -m` and a Maildir (`~/Maildir`, made as
/// the user); `userdel -r` when dropped.
pub struct MailUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub maildir: PathBuf,
}

impl MailUser {
    /// A new user named `pm<tag><unique>` (at most 32 characters). Root only: call after
    /// [`Postfix::start`] (which checks) or [`unavailable`].
    pub fn create(tag: &str) -> MailUser {
        let unique = format!(
            "{}{}",
            std::process::id() % 100000,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_micros()
                % 10000
        );
        let name = format!("pm{tag}{unique}");
        let status = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(status.success(), "useradd {name}");
        let pw = nix::unistd::User::from_name(&name).unwrap().unwrap();
        let user = MailUser {
            name,
            uid: pw.uid.as_raw(),
            gid: pw.gid.as_raw(),
            home: pw.dir.clone(),
            maildir: pw.dir.join("Maildir"),
        };
        let bin = env!("CARGO_BIN_EXE_postern");
        let out = user.run(&[bin, "maildirmake", &user.maildir.display().to_string()]);
        assert!(out.status.success(), "maildirmake: {out:?}");
        user
    }

    /// `name@DOMAIN`.
    pub fn address(&self) -> String {
        format!("{}@{DOMAIN}", self.name)
    }

    /// Runs `argv` as this user (setpriv, the user's groups), from `/`.
    pub fn run(&self, argv: &[&str]) -> Output {
        Command::new("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .args(argv)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The directory of `INBOX` or `INBOX.name`.
    pub fn folder_dir(&self, folder: &str) -> PathBuf {
        match folder.strip_prefix("INBOX.") {
            Some(name) => self.maildir.join(format!(".{name}")),
            None if folder == "INBOX" => self.maildir.clone(),
            None => self.maildir.join(format!(".{folder}")),
        }
    }

    /// Every message file of a folder (new/ and cur/), sorted by name.
    pub fn messages(&self, folder: &str) -> Vec<PathBuf> {
        let dir = self.folder_dir(folder);
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(dir.join(sub)).into_iter().flatten())
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
    }

    /// Waits until the folder holds at least `n` messages; returns their contents.
    #[track_caller]
    pub fn wait_messages(&self, folder: &str, n: usize) -> Vec<String> {
        wait_until(
            &format!("{n} message(s) in {}'s {folder}", self.name),
            || self.messages(folder).len() >= n,
        );
        self.messages(folder)
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect()
    }

    /// A user-file line for this user (password `pass`, its own uid, gid and home), for a
    /// postern IMAP session that logs in as it.
    pub fn userfile_line(&self, pass: &str) -> String {
        format!(
            "{}:{{PLAIN}}{pass}:{}:{}::{}::\n",
            self.name,
            self.uid,
            self.gid,
            self.home.display()
        )
    }
}

impl Drop for MailUser {
    fn drop(&mut self) {
        super::common::owner::remove_user(&self.name);
    }
}

/// Where `tests/mta/fetch-exim.sh` (run by `make oracles`) unpacks Debian's Exim.
fn exim_root() -> PathBuf {
    let dir = std::env::var_os("POSTERN_EXIM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/postern-test-exim"));
    dir.join("root")
}

/// Exim's list of configuration files that keep root privilege with `-C`.
const EXIM_TRUSTED_CONFIGS: &str = "/etc/exim4/trusted_configs";

/// The router and transport of README's "Delivery from Exim", `COMMAND` replaced.
pub const EXIM_ROUTER_AND_TRANSPORT: &str = "\
begin routers

postern_user:
  driver = accept
  domains = +local_domains
  check_local_user
  local_parts = ! root
  local_part_suffix = +*
  local_part_suffix_optional
  transport = postern_pipe

begin transports

postern_pipe:
  driver = pipe
  command = COMMAND
  message_prefix =
  return_fail_output
  log_output
  temp_errors = 75
";

/// Debian's Exim, unpacked (never installed), with a configuration of its own and no
/// daemon: every message is delivered by the `exim -odi` that submits it (or a queue run
/// the test starts), routed by [`EXIM_ROUTER_AND_TRANSPORT`] to local users only. Exim
/// keeps root with `-C` only for a file listed in `/etc/exim4/trusted_configs`: the
/// fixture writes that list and puts it back as it was (or removes it) when dropped.
pub struct Exim {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    binary: PathBuf,
    lib_path: String,
    _trusted: TrustedConfigs,
    _exim_user: EximUser,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Debian's Exim runs as the user `Debian-exim` it was built for (with `-C` it keeps its
/// privileges only as that user), which exim4-base makes when installed: the fixture
/// makes it when missing and removes it again.
struct EximUser {
    user: nix::unistd::User,
    made: bool,
}

impl EximUser {
    fn ensure() -> EximUser {
        let find = || nix::unistd::User::from_name(EXIM_USER).unwrap();
        if let Some(user) = find() {
            return EximUser { user, made: false };
        }
        let status = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
            .arg(EXIM_USER)
            .status()
            .unwrap();
        assert!(status.success(), "useradd {EXIM_USER}");
        EximUser {
            user: find().expect("the user just made"),
            made: true,
        }
    }
}

impl Drop for EximUser {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("userdel").arg(EXIM_USER).status();
        }
    }
}

const EXIM_USER: &str = "Debian-exim";

/// `/etc/exim4/trusted_configs` (and `/etc/exim4` itself) as they were.
struct TrustedConfigs {
    original: Option<Vec<u8>>,
    made_dir: bool,
}

impl Drop for TrustedConfigs {
    fn drop(&mut self) {
        let _ = match &self.original {
            Some(bytes) => std::fs::write(EXIM_TRUSTED_CONFIGS, bytes),
            None => std::fs::remove_file(EXIM_TRUSTED_CONFIGS),
        };
        if self.made_dir {
            let _ = std::fs::remove_dir("/etc/exim4");
        }
    }
}

/// Why this machine cannot run an Exim test, if it cannot.
pub fn exim_unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("Exim with its own configuration needs root (CI is root)".into());
    }
    if !exim_root().join("usr/sbin/exim4").exists() {
        return Some(format!(
            "no Exim unpacked in {} (`make oracles` runs tests/mta/fetch-exim.sh)",
            exim_root().display()
        ));
    }
    for tool in ["useradd", "userdel", "setpriv"] {
        if !super::common::skip::have(tool) {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

impl Exim {
    /// Exim whose pipe transport runs `command`; `None` after a loud SKIP.
    pub fn start(command: &str) -> Option<Exim> {
        if let Some(why) = exim_unavailable() {
            super::common::skip::skip(&why);
            return None;
        }
        let lock = lock();
        let dir = tempfile::Builder::new()
            .prefix("postern-exim.")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exim_user = EximUser::ensure();
        let (uid, gid) = (exim_user.user.uid, exim_user.user.gid);
        for sub in ["spool", "log"] {
            std::fs::create_dir(root.join(sub)).unwrap();
            nix::unistd::chown(&root.join(sub), Some(uid), Some(gid)).unwrap();
        }
        let unpacked = exim_root();
        let binary = unpacked.join("usr/sbin/exim4");
        let config = root.join("exim.conf");
        std::fs::write(&config, exim_conf(&root, &binary, command)).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let made_dir = !Path::new("/etc/exim4").exists();
        std::fs::create_dir_all("/etc/exim4").unwrap();
        let trusted = TrustedConfigs {
            original: std::fs::read(EXIM_TRUSTED_CONFIGS).ok(),
            made_dir,
        };
        std::fs::write(EXIM_TRUSTED_CONFIGS, format!("{}\n", config.display())).unwrap();
        std::fs::set_permissions(EXIM_TRUSTED_CONFIGS, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let lib_path = format!(
            "{0}/usr/lib:{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
            unpacked.display()
        );
        Some(Exim {
            dir,
            config,
            binary,
            lib_path,
            _trusted: trusted,
            _exim_user: exim_user,
            _lock: lock,
        })
    }

    /// `exim -C CONF ARGS` as root.
    pub fn exim(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = Command::new(&self.binary)
            .arg("-C")
            .arg(&self.config)
            .args(args)
            .env("LD_LIBRARY_PATH", &self.lib_path)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Submits and delivers at once (`-odi`) from `sender` to `recipients`.
    pub fn send(&self, sender: &str, recipients: &[&str], message: &[u8]) -> Output {
        let mut args = vec!["-odi", "-f", sender];
        args.extend_from_slice(recipients);
        self.exim(&args, message)
    }

    /// A queue run that tries every message again now (`-qff`).
    pub fn run_queue(&self) -> Output {
        self.exim(&["-qff"], b"")
    }

    /// `exim -bp`: the queue.
    pub fn queue(&self) -> String {
        String::from_utf8_lossy(&self.exim(&["-bp"], b"").stdout).into_owned()
    }

    /// Exim's main log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/mainlog")).unwrap_or_default()
    }

    /// Waits until the main log has a line containing every one of `needles`.
    #[track_caller]
    pub fn wait_log(&self, needles: &[&str]) -> String {
        wait_line("Exim", || self.log(), needles)
    }
}

/// An Exim configuration for local users of [`DOMAIN`] only, through postern.
fn exim_conf(root: &Path, binary: &Path, command: &str) -> String {
    let root = root.display();
    format!(
        "exim_path = {binary}
keep_environment = LD_LIBRARY_PATH
primary_hostname = {DOMAIN}
domainlist local_domains = {DOMAIN}
qualify_domain = {DOMAIN}
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
exim_user = {EXIM_USER}
exim_group = {EXIM_USER}
never_users = root

{}
begin retry

*   *   F,1d,10m
",
        EXIM_ROUTER_AND_TRANSPORT.replace("COMMAND", command),
        binary = binary.display(),
    )
}
