//! `postern serve`: the standalone (and systemd `Accept=no`) listener. It binds the
//! `[serve]` addresses or takes named sockets from `LISTEN_FDS`, and for each connection
//! starts `postern-login imapd|pop3d` (plaintext) or `postern imapd|pop3d --tls`, with
//! `--config <same file>` and the connection as descriptor 3 (`POSTERN_CONNECTION=3`),
//! through posix_spawn (see `net::spawn`): it never forks. It enforces the limits
//! systemd would (`max_connections`, `max_connections_per_ip`, IPv6 clients grouped by
//! `ipv6_prefix`), refuses sources over their failed-login budget (see
//! [`super::budget`]), reloads on SIGHUP and drains on SIGTERM / SIGINT.
//!
//! Single-threaded: signals arrive through a signalfd polled with the listeners.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use log::{debug, error, info, warn};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{Backlog, SockFlag, accept4, listen};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use sd_notify::NotifyState;

use super::activation::{self, CONNECTION_ENV, CONNECTION_FD, Service};
use super::budget::{self, FailureBudget, REPORT_ENV, REPORT_FD};
use super::conn::socket_addrs;
use super::spawn::Spawn;
use crate::config::Config;

/// Programs run per connection instead of this binary (tests and debugging): the
/// program gets the same arguments and environment a session would.
pub const SESSION_PROGRAM_ENV: &str = "POSTERN_SESSION_PROGRAM";
/// The plaintext login program's file name, beside `postern`.
pub const LOGIN_PROGRAM: &str = "postern-login";

/// After the drain bound, sessions get SIGTERM and this long before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// Connections taken per listener per wakeup, so that one busy port cannot starve others.
const ACCEPT_BURST: usize = 16;

/// Serve until SIGTERM / SIGINT, then drain and return.
pub fn run(config: &Config) -> anyhow::Result<()> {
    crate::log::init("postern-serve");
    crate::log::set_level(config.log.level);
    let mut server = Server::new(config.clone())?;
    server.serve()
}

struct Listener {
    service: Service,
    /// The configured address; `None` for sockets from the service manager.
    addr: Option<SocketAddr>,
    fd: OwnedFd,
}

struct Session {
    pid: Pid,
    /// The client's source: its address grouped by `ipv4_prefix` / `ipv6_prefix`.
    source: Option<IpAddr>,
    service: Service,
    /// The daemon's end of the session's failed-login reports.
    reports: Option<OwnedFd>,
    /// Failures counted from this session so far.
    failures: u32,
}

struct Server {
    config: Config,
    /// The program of TLS connections (`postern imapd --tls`), and of plaintext ones
    /// when there is no `login_program`.
    program: PathBuf,
    /// `postern-login` beside this program, for plaintext connections (see
    /// [`super::tls_handoff`]).
    login_program: Option<PathBuf>,
    listeners: Vec<Listener>,
    from_service_manager: bool,
    sessions: Vec<Session>,
    per_ip: HashMap<IpAddr, u32>,
    failed_logins: FailureBudget,
    signals: SignalFd,
    draining: Option<Drain>,
}

struct Drain {
    deadline: Instant,
    killed: bool,
}

fn set_nonblocking(fd: &OwnedFd) -> anyhow::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn bind(service: Service, addr: SocketAddr, backlog: u32) -> anyhow::Result<Listener> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} ({service})"))?;
    // std listens with a backlog of 128; listen(2) again sets `[serve] listen_backlog`.
    let backlog =
        Backlog::new(i32::try_from(backlog).unwrap_or(i32::MAX)).unwrap_or(Backlog::MAXCONN);
    listen(&listener, backlog).with_context(|| format!("cannot listen on {addr} ({service})"))?;
    listener.set_nonblocking(true)?;
    Ok(Listener {
        service,
        addr: Some(addr),
        fd: listener.into(),
    })
}

fn bind_all(config: &Config, keep: &mut Vec<Listener>) -> anyhow::Result<Vec<Listener>> {
    let s = &config.serve;
    let wanted = [
        (Service::Imap, &s.imap),
        (Service::Imaps, &s.imaps),
        (Service::Pop3, &s.pop3),
        (Service::Pop3s, &s.pop3s),
    ];
    let mut out = Vec::new();
    for (service, addrs) in wanted {
        for &addr in addrs {
            if let Some(i) = keep
                .iter()
                .position(|l| l.service == service && l.addr == Some(addr))
            {
                out.push(keep.swap_remove(i));
            } else {
                out.push(bind(service, addr, config.serve.listen_backlog)?);
            }
        }
    }
    if out.is_empty() {
        bail!("[serve] lists no address to listen on");
    }
    Ok(out)
}

/// The certificate and key files must be usable before the first client comes (and
/// before new settings are taken on reload).
fn check_tls(config: &Config, listeners: &[Listener]) -> anyhow::Result<()> {
    let mut services: Vec<Service> = listeners.iter().map(|l| l.service).collect();
    if listeners.iter().any(|l| l.addr.is_some()) || listeners.is_empty() {
        let s = &config.serve;
        for (service, addrs) in [
            (Service::Imap, &s.imap),
            (Service::Imaps, &s.imaps),
            (Service::Pop3, &s.pop3),
            (Service::Pop3s, &s.pop3s),
        ] {
            if !addrs.is_empty() {
                services.push(service);
            }
        }
    }
    services.sort();
    services.dedup();
    super::tls::check_for_services(&config.tls, &services)
}

/// Descriptors 0-2 must be open, or an accepted connection could land there and be
/// overwritten in the child by its /dev/null stdin.
fn ensure_stdio_open() -> anyhow::Result<()> {
    for fd in 0..3 {
        if !activation::is_open(fd) {
            // open() takes the lowest free number, which is this one; keep it open forever.
            let null = std::fs::File::open("/dev/null").context("/dev/null")?;
            std::mem::forget(null);
        }
    }
    Ok(())
}

fn notify(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        warn!("sd_notify: {err}");
    }
}

impl Server {
    fn new(config: Config) -> anyhow::Result<Server> {
        ensure_stdio_open()?;
        let (program, login_program) = match std::env::var_os(SESSION_PROGRAM_ENV) {
            Some(p) => (PathBuf::from(p), None),
            None => {
                let program = std::env::current_exe().context("cannot find the running program")?;
                let login = super::handoff::program_beside(LOGIN_PROGRAM);
                if login.is_none() {
                    warn!(
                        "no {LOGIN_PROGRAM} beside {}: plaintext connections run it, \
                         each paying for loading OpenSSL",
                        program.display()
                    );
                }
                (program, login)
            }
        };
        let from_service_manager = activation::has_listen_fds();
        let listeners = if from_service_manager {
            let mut listeners = Vec::new();
            for (service, fd) in activation::listening_sockets()? {
                set_nonblocking(&fd)?;
                listeners.push(Listener {
                    service,
                    addr: None,
                    fd,
                });
            }
            listeners
        } else {
            bind_all(&config, &mut Vec::new())?
        };
        check_tls(&config, &listeners)?;

        let mut mask = SigSet::empty();
        for sig in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGCHLD,
        ] {
            mask.add(sig);
        }
        // Sessions get an empty mask back in `start_session`.
        mask.thread_block().context("blocking signals")?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("signalfd")?;

        for l in &listeners {
            match l.addr {
                Some(addr) => info!("listening on {addr} ({})", l.service),
                None => info!(
                    "listening on a socket from the service manager ({})",
                    l.service
                ),
            }
        }
        Ok(Server {
            config,
            program,
            login_program,
            listeners,
            from_service_manager,
            sessions: Vec::new(),
            per_ip: HashMap::new(),
            failed_logins: FailureBudget::new(),
            signals,
            draining: None,
        })
    }

    fn status(&self) -> String {
        let pop3 = self.sessions.iter().filter(|s| s.service.is_pop3()).count();
        let imap = self.sessions.len() - pop3;
        let state = if self.draining.is_some() {
            "draining"
        } else {
            "serving"
        };
        format!(
            "{state}: {} sessions ({imap} IMAP, {pop3} POP3)",
            self.sessions.len()
        )
    }

    fn notify_status(&self) {
        notify(&[NotifyState::Status(&self.status())]);
    }

    fn serve(&mut self) -> anyhow::Result<()> {
        notify(&[NotifyState::Ready, NotifyState::Status(&self.status())]);
        loop {
            self.reap();
            let mut timeout = Duration::from_secs(5);
            if let Some(drain) = &mut self.draining {
                if self.sessions.is_empty() {
                    break;
                }
                let now = Instant::now();
                if now >= drain.deadline {
                    if drain.killed {
                        warn!("sessions still running after SIGTERM; killing them");
                        for s in &self.sessions {
                            let _ = kill(s.pid, Signal::SIGKILL);
                        }
                        for s in &mut self.sessions {
                            let _ = waitpid(s.pid, None);
                        }
                        self.sessions.clear();
                        break;
                    }
                    warn!(
                        "{} sessions still open after the shutdown timeout; ending them",
                        self.sessions.len()
                    );
                    for s in &self.sessions {
                        let _ = kill(s.pid, Signal::SIGTERM);
                    }
                    drain.killed = true;
                    drain.deadline = now + KILL_GRACE;
                }
                timeout = timeout.min(drain.deadline.saturating_duration_since(now));
            }

            let ready = self.poll(timeout)?;
            if ready.signal {
                self.handle_signals()?;
            }
            // Reports before accepts: a client told "failed" has been counted before it
            // can connect again.
            for (i, hung_up) in ready.reports {
                self.count_reports(i);
                if hung_up && let Some(session) = self.sessions.get_mut(i) {
                    // The session closed its end (it logged in): nothing more will come.
                    session.reports = None;
                }
            }
            for i in ready.listeners {
                if self.draining.is_none() {
                    self.accept_from(i);
                }
            }
        }
        notify(&[NotifyState::Status("stopped")]);
        info!("all sessions ended; exiting");
        Ok(())
    }

    fn poll(&self, timeout: Duration) -> anyhow::Result<Ready> {
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        for l in &self.listeners {
            fds.push(PollFd::new(l.fd.as_fd(), PollFlags::POLLIN));
        }
        let first_report = fds.len();
        let mut report_of = Vec::new();
        for (i, s) in self.sessions.iter().enumerate() {
            if let Some(fd) = &s.reports {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                report_of.push(i);
            }
        }
        let ms = timeout.as_millis().max(1);
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        let is_ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        Ok(Ready {
            signal: is_ready(&fds[0]),
            listeners: (1..first_report)
                .filter(|&i| is_ready(&fds[i]))
                .map(|i| i - 1)
                .collect(),
            reports: (first_report..fds.len())
                .filter(|&i| is_ready(&fds[i]))
                .map(|i| {
                    let hung_up = fds[i].revents().is_some_and(|r| {
                        r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
                    });
                    (report_of[i - first_report], hung_up)
                })
                .collect(),
        })
    }

    fn handle_signals(&mut self) -> anyhow::Result<()> {
        while let Some(info) = self.signals.read_signal().context("reading signals")? {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT) => self.begin_drain(),
                Ok(Signal::SIGHUP) => self.reload(),
                _ => {} // SIGCHLD: reaped at the top of the loop
            }
        }
        Ok(())
    }

    fn begin_drain(&mut self) {
        match &mut self.draining {
            Some(drain) => {
                // A second request: do not wait any longer.
                info!("asked again to stop; ending sessions now");
                drain.deadline = Instant::now();
            }
            None => {
                let timeout = self.config.serve.shutdown_timeout();
                info!(
                    "stopping: no new connections; waiting up to {}s for {} sessions",
                    timeout.as_secs(),
                    self.sessions.len()
                );
                // Closing the listeners makes new clients see "connection refused" at once
                // instead of waiting in the backlog of a server that will not answer.
                self.listeners.clear();
                self.draining = Some(Drain {
                    deadline: Instant::now() + timeout,
                    killed: false,
                });
                notify(&[NotifyState::Stopping, NotifyState::Status(&self.status())]);
            }
        }
    }

    fn reload(&mut self) {
        if self.draining.is_some() {
            return;
        }
        let mut states = vec![NotifyState::Reloading];
        let now = NotifyState::monotonic_usec_now();
        if let Ok(now) = &now {
            states.push(now.clone());
        }
        notify(&states);
        match Config::load(self.config.path.as_deref()) {
            Ok(mut new) => {
                // Keep reading the same file even if the environment changed meanwhile.
                if new.path.is_none() {
                    new.path = self.config.path.clone();
                }
                let rebound = if self.from_service_manager {
                    Ok(None)
                } else {
                    let mut old = std::mem::take(&mut self.listeners);
                    match check_tls(&new, &old).and_then(|()| bind_all(&new, &mut old)) {
                        Ok(listeners) => Ok(Some(listeners)),
                        Err(err) => {
                            // Put back what we had (bind_all moved the kept ones out).
                            self.listeners = old;
                            Err(err)
                        }
                    }
                };
                match rebound {
                    Ok(listeners) => {
                        if let Some(listeners) = listeners {
                            self.listeners = listeners;
                        }
                        crate::log::set_level(new.log.level);
                        self.config = new;
                        info!("settings reloaded");
                    }
                    Err(err) => error!("reload failed, keeping the old settings: {err:#}"),
                }
            }
            Err(err) => error!("reload failed, keeping the old settings: {err:#}"),
        }
        notify(&[NotifyState::Ready, NotifyState::Status(&self.status())]);
    }

    /// Counts the failed logins session `index` reported, one per datagram, never more
    /// than the session itself allows (`[auth] max_failed_logins`): the report is the
    /// only thing taken from the session, and a broken one cannot inflate it.
    fn count_reports(&mut self, index: usize) {
        let limit = self.config.serve.max_failed_logins_per_ip;
        let per_session = self.config.auth.max_failed_logins;
        let Some(session) = self.sessions.get_mut(index) else {
            return;
        };
        let Some(fd) = &session.reports else {
            return;
        };
        let reported = budget::take_reports(fd);
        let counted = reported.min(per_session.saturating_sub(session.failures));
        session.failures += counted;
        if let Some(source) = session.source {
            let now = Instant::now();
            for _ in 0..counted {
                self.failed_logins.record(source, now, limit);
            }
        }
    }

    fn reap(&mut self) {
        let before = self.sessions.len();
        let window = self.config.serve.failed_logins_window();
        self.failed_logins.expire(Instant::now(), window);
        let mut i = 0;
        while i < self.sessions.len() {
            match waitpid(self.sessions[i].pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => i += 1,
                result => {
                    // What it reported just before it ended still counts.
                    self.count_reports(i);
                    let session = self.sessions.swap_remove(i);
                    match result {
                        Ok(WaitStatus::Exited(pid, code)) => {
                            debug!("session {pid} ended: exit status {code}")
                        }
                        Ok(WaitStatus::Signaled(pid, signal, _)) => {
                            debug!("session {pid} ended: {signal}")
                        }
                        _ => {}
                    }
                    if let Some(ip) = session.source
                        && let Some(n) = self.per_ip.get_mut(&ip)
                    {
                        *n -= 1;
                        if *n == 0 {
                            self.per_ip.remove(&ip);
                        }
                    }
                }
            }
        }
        if self.sessions.len() != before {
            self.notify_status();
        }
    }

    fn accept_from(&mut self, index: usize) {
        for _ in 0..ACCEPT_BURST {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let service = listener.service;
            match accept4(listener.fd.as_fd(), SockFlag::SOCK_CLOEXEC) {
                Ok(fd) => self.start_session(service, fd),
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR | Errno::ECONNABORTED | Errno::EPROTO) => continue,
                Err(e) => {
                    // Out of descriptors or memory: leave the rest in the backlog for now.
                    error!("accept ({service}): {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    return;
                }
            }
        }
    }

    fn start_session(&mut self, service: Service, fd: OwnedFd) {
        let (peer, _) = socket_addrs(fd.as_fd());
        let ip = peer.map(|p| p.ip());
        let ip_text = ip.map(|ip| ip.to_string()).unwrap_or_default();
        let port_text = peer.map(|p| p.port().to_string()).unwrap_or_default();
        let protocol = if service.is_pop3() { "POP3" } else { "IMAP" };
        let fields = [
            ("REMOTE_ADDR", ip_text.as_str()),
            ("REMOTE_PORT", port_text.as_str()),
            ("PROTOCOL", protocol),
        ];

        let serve = &self.config.serve;
        let source = ip.map(|ip| budget::source(ip, serve.ipv4_prefix, serve.ipv6_prefix));
        let from_source = source
            .and_then(|s| self.per_ip.get(&s))
            .copied()
            .unwrap_or(0);
        let too_many = self.sessions.len() >= serve.max_connections as usize
            || (serve.max_connections_per_ip > 0 && from_source >= serve.max_connections_per_ip);
        if too_many {
            crate::log::event(log::Level::Warn, "Too many connections", &fields);
            refuse(service, fd, Refusal::TooMany);
            return;
        }
        let over_budget = source.is_some_and(|s| {
            self.failed_logins.is_over(
                s,
                Instant::now(),
                serve.max_failed_logins_per_ip,
                serve.failed_logins_window(),
            )
        });
        if over_budget {
            crate::log::event(
                log::Level::Warn,
                "Too many failed logins from this address",
                &fields,
            );
            refuse(service, fd, Refusal::FailedLogins);
            return;
        }
        crate::log::event(log::Level::Debug, "Connection", &fields);
        let reports = if serve.max_failed_logins_per_ip > 0 {
            match budget::report_pair() {
                Ok(pair) => Some(pair),
                Err(err) => {
                    // The session still runs; only its failures go uncounted.
                    error!("cannot make a failed-login report channel: {err}");
                    None
                }
            }
        } else {
            None
        };

        let report = reports.as_ref().map(|(_, theirs)| theirs.as_fd());
        match self.spawn_session(service, peer, fd.as_fd(), report) {
            Ok(pid) => {
                if let Some(source) = source {
                    *self.per_ip.entry(source).or_insert(0) += 1;
                }
                self.sessions.push(Session {
                    pid,
                    source,
                    service,
                    reports: reports.map(|(ours, _)| ours),
                    failures: 0,
                });
                self.notify_status();
            }
            Err(err) => error!("cannot start a session: {err}"),
        }
        // `fd` (and the session's report end) close here: the session has its own copies.
    }

    /// Starts the session program for a connection of `service` (see [`super::spawn`]):
    /// the connection at descriptor 3, the report channel (if any) at 4.
    fn spawn_session(
        &self,
        service: Service,
        peer: Option<std::net::SocketAddr>,
        conn: BorrowedFd<'_>,
        report: Option<BorrowedFd<'_>>,
    ) -> std::io::Result<Pid> {
        let program = match &self.login_program {
            Some(login) if !service.is_tls() => login,
            _ => &self.program,
        };
        let in_program = |err: std::io::Error| {
            std::io::Error::new(err.kind(), format!("{}: {err}", program.display()))
        };
        let mut cmd = Spawn::new(program)?;
        cmd.arg(if service.is_pop3() { "pop3d" } else { "imapd" })?;
        if service.is_tls() {
            cmd.arg("--tls")?;
        }
        if let Some(path) = &self.config.path {
            cmd.arg("--config")?.arg(path)?;
        }
        cmd.env(CONNECTION_ENV, CONNECTION_FD.to_string());
        for inherited in [
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
        ] {
            cmd.env_remove(inherited);
        }
        if let Some((key, value)) = crate::heap::session_program_env() {
            cmd.env(key, value);
        }
        if let Some(peer) = peer {
            cmd.env("REMOTE_ADDR", peer.ip().to_string())
                .env("REMOTE_PORT", peer.port().to_string());
        }
        let mut placed = vec![(conn, CONNECTION_FD)];
        match report {
            Some(report) => {
                cmd.env(REPORT_ENV, REPORT_FD.to_string());
                placed.push((report, REPORT_FD));
            }
            None => {
                cmd.env_remove(REPORT_ENV);
            }
        }
        cmd.spawn(&placed).map_err(in_program)
    }
}

struct Ready {
    signal: bool,
    listeners: Vec<usize>,
    /// Sessions whose report channel has something to read, and whether it hung up.
    reports: Vec<(usize, bool)>,
}

/// Why a connection is turned away.
enum Refusal {
    TooMany,
    FailedLogins,
}

/// Tell the client why, without ever blocking on it, and hang up.
fn refuse(service: Service, fd: OwnedFd, why: Refusal) {
    let line: &[u8] = match (service.is_pop3(), why) {
        (true, Refusal::TooMany) => b"-ERR [SYS/TEMP] Too many connections\r\n",
        (false, Refusal::TooMany) => b"* BYE Too many connections\r\n",
        (true, Refusal::FailedLogins) => {
            b"-ERR [AUTH] Too many failed logins from your address; try again later\r\n"
        }
        (false, Refusal::FailedLogins) => {
            b"* BYE [UNAVAILABLE] Too many failed logins from your address; try again later\r\n"
        }
    };
    let _ = set_nonblocking(&fd);
    let _ = nix::unistd::write(&fd, line);
}
