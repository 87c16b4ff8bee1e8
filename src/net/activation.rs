//! Descriptors we are started with: one connection (systemd `Accept=yes`,
//! `systemd-socket-activate --accept`, `postern serve`, inetd) or the listening sockets of
//! a daemon (`Accept=no`, matched by `FileDescriptorName=`).

use std::env;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{SockaddrStorage, getpeername, getsockname, getsockopt, sockopt};
use nix::sys::stat::fstat;

use super::conn::Connection;

/// `postern serve` hands each session its connection as this descriptor and names it in
/// [`CONNECTION_ENV`] (it cannot set `LISTEN_PID`: the pid is unknown before exec).
pub const CONNECTION_FD: RawFd = 3;
/// The environment variable `serve` sets to `3` for its sessions.
pub const CONNECTION_ENV: &str = "POSTERN_CONNECTION";

/// What a listening socket is for; the names are the socket units' `FileDescriptorName=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Imap,
    Imaps,
    Pop3,
    Pop3s,
}

impl Service {
    pub const ALL: [Service; 4] = [Service::Imap, Service::Imaps, Service::Pop3, Service::Pop3s];

    pub fn name(self) -> &'static str {
        match self {
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
        }
    }

    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// POP3 rather than IMAP.
    pub fn is_pop3(self) -> bool {
        matches!(self, Service::Pop3 | Service::Pop3s)
    }

    /// TLS from the first byte (ports 993 and 995).
    pub fn is_tls(self) -> bool {
        matches!(self, Service::Imaps | Service::Pop3s)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok()
}

/// Whether descriptor number `fd` is open, asked without borrowing it: nix's `fcntl`
/// takes only borrowed descriptors, and borrowing a number that may be closed is the
/// unsoundness this avoids. getsockname(2) takes a plain number and fails with EBADF
/// exactly when it is not open (a file or pipe gives ENOTSOCK, a socket succeeds).
pub fn is_open(fd: RawFd) -> bool {
    !matches!(getsockname::<SockaddrStorage>(fd), Err(Errno::EBADF))
}

/// Why descriptor `fd` cannot be the connection `what` says it is, or `Ok` when it is a
/// connected socket (getpeername(2) succeeds only for those).
fn check_connection(fd: RawFd, what: &str) -> anyhow::Result<()> {
    match getpeername::<SockaddrStorage>(fd) {
        Ok(_) => Ok(()),
        Err(Errno::EBADF) => {
            bail!("{what} says descriptor {fd} is our connection, but it is not open")
        }
        Err(Errno::ENOTSOCK) => bail!(
            "{what} says descriptor {fd} is our connection, but it is not a socket (a file or \
             a pipe); use --inetd for a connection on stdin/stdout"
        ),
        Err(Errno::ENOTCONN) => bail!(
            "{what} says descriptor {fd} is our connection, but it is not a connected socket: \
             a listening socket (the socket unit needs Accept=yes, or run `postern serve` for \
             Accept=no), or a connection the client already reset"
        ),
        Err(err) => bail!("{what}: descriptor {fd} is not a usable connection: {err}"),
    }
}

/// Why descriptor `fd` cannot be a socket passed by the service manager, or `Ok`.
fn check_socket(fd: RawFd, what: &str) -> anyhow::Result<()> {
    match getsockname::<SockaddrStorage>(fd) {
        Ok(_) => Ok(()),
        Err(Errno::EBADF) => bail!("{what} says descriptor {fd} is ours, but it is not open"),
        Err(Errno::ENOTSOCK) => bail!("{what} says descriptor {fd} is a socket, but it is not"),
        Err(err) => bail!("{what}: descriptor {fd} is not a usable socket: {err}"),
    }
}

/// The connection `what` handed us as descriptor `fd`, once it is known to be one.
fn take_connection(fd: RawFd, what: &str) -> anyhow::Result<OwnedFd> {
    check_connection(fd, what)?;
    take_fd(fd)
}

/// Take the descriptor `fd` we were started with, checked open by the caller.
fn take_fd(fd: RawFd) -> anyhow::Result<OwnedFd> {
    // SAFETY: the caller checked that the descriptor is an open socket, handed to this
    // process by whoever started it under the protocol it names, and nothing else in this
    // process owns it; every caller takes each descriptor once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // Programs we run later (loginexec) must not inherit it.
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .with_context(|| format!("descriptor {fd}"))?;
    Ok(owned)
}

fn is_listening(fd: BorrowedFd<'_>) -> anyhow::Result<bool> {
    getsockopt(&fd, sockopt::AcceptConn).context("not a socket")
}

fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// Point stdin/stdout at /dev/null so that the connection lives only in our
/// [`Connection`] (closing it then really hangs up) and a stray print cannot reach the
/// client.
fn detach_stdio(stdin: bool, stdout: bool) -> anyhow::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("/dev/null")?;
    if stdin {
        nix::unistd::dup2_stdin(&null).context("redirecting stdin")?;
    }
    if stdout {
        nix::unistd::dup2_stdout(&null).context("redirecting stdout")?;
    }
    Ok(())
}

/// `REMOTE_ADDR` / `REMOTE_PORT` as systemd sets them for `Accept=yes` services.
fn remote_from_env() -> Option<SocketAddr> {
    let ip: IpAddr = var("REMOTE_ADDR")?.parse().ok()?;
    let port = var("REMOTE_PORT").and_then(|p| p.parse().ok()).unwrap_or(0);
    Some(SocketAddr::new(ip.to_canonical(), port))
}

/// The connection this session serves: stdin/stdout with `inetd`, else descriptor 3 when
/// `LISTEN_FDS=1` and `LISTEN_PID` is our pid (systemd `Accept=yes`,
/// `systemd-socket-activate --accept`) or when `POSTERN_CONNECTION=3` (`postern serve`).
pub fn inherited_connection(inetd: bool) -> anyhow::Result<Connection> {
    let mut conn = if inetd {
        let input = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("stdin")?;
        let output = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("stdout")?;
        for fd in [&input, &output] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).context("stdio")?;
        }
        if matches!(is_listening(input.as_fd()), Ok(true)) {
            bail!(
                "--inetd: stdin is a listening socket, not a connection (use --accept with \
                 systemd-socket-activate, or Accept=yes)"
            );
        }
        detach_stdio(true, true)?;
        Connection::from_pair(input, output)
    } else {
        let fd = connection_fd()?;
        // systemd-socket-activate --accept also puts the connection on stdout.
        let on_stdout = same_file(fd.as_fd(), std::io::stdout().as_fd());
        let on_stdin = same_file(fd.as_fd(), std::io::stdin().as_fd());
        if on_stdout || on_stdin {
            detach_stdio(on_stdin, on_stdout)?;
        }
        Connection::from_socket(fd)
    };
    if conn.peer_addr().is_none() {
        conn.set_peer_addr(remote_from_env());
    }
    Ok(conn)
}

fn connection_fd() -> anyhow::Result<OwnedFd> {
    let pid = std::process::id();
    if let Some(value) = var(CONNECTION_ENV) {
        if value != CONNECTION_FD.to_string() {
            bail!("{CONNECTION_ENV}={value}: only {CONNECTION_FD} is supported");
        }
        return take_connection(CONNECTION_FD, CONNECTION_ENV);
    }
    match (var("LISTEN_FDS"), var("LISTEN_PID")) {
        (Some(fds), Some(listen_pid)) => {
            if listen_pid != pid.to_string() {
                bail!(
                    "LISTEN_PID={listen_pid} is not this process ({pid}): the descriptors are not ours"
                );
            }
            if fds != "1" {
                bail!(
                    "LISTEN_FDS={fds}: a session takes exactly one connection (Accept=yes); \
                     listening sockets are for `postern serve`"
                );
            }
            take_connection(CONNECTION_FD, "LISTEN_FDS")
        }
        (Some(fds), None) => bail!("LISTEN_FDS={fds} is set but LISTEN_PID is not"),
        (None, _) => bail!(
            "no connection to serve: expected --inetd (stdin/stdout), LISTEN_FDS=1 with \
             LISTEN_PID={pid} (systemd Accept=yes), or {CONNECTION_ENV}={CONNECTION_FD} \
             (postern serve); none of them is set"
        ),
    }
}

/// The failed-login report channel `postern serve` gives its sessions
/// ([`super::budget::REPORT_ENV`]), checked to be a connected socket before it is taken;
/// `None` when not started by `serve`.
pub fn failure_report() -> anyhow::Result<Option<OwnedFd>> {
    let env = super::budget::REPORT_ENV;
    let fd = super::budget::REPORT_FD;
    match var(env) {
        None => Ok(None),
        Some(value) if value == fd.to_string() => {
            check_connection(fd, env)?;
            take_fd(fd).map(Some)
        }
        Some(value) => bail!("{env}={value}: only {fd} is supported"),
    }
}

/// Whether the service manager passed us listening sockets (`LISTEN_PID` is our pid).
pub fn has_listen_fds() -> bool {
    var("LISTEN_PID").is_some_and(|p| p == std::process::id().to_string())
        && var("LISTEN_FDS").is_some()
}

/// The listening sockets passed by the service manager (`Accept=no`), each named by its
/// `FileDescriptorName=`: `imap`, `imaps`, `pop3` or `pop3s`.
pub fn listening_sockets() -> anyhow::Result<Vec<(Service, OwnedFd)>> {
    let fds: Vec<(RawFd, String)> = sd_notify::listen_fds_with_names()
        .with_context(|| {
            format!(
                "LISTEN_FDS={:?} LISTEN_FDNAMES={:?}",
                var("LISTEN_FDS").unwrap_or_default(),
                var("LISTEN_FDNAMES").unwrap_or_default()
            )
        })?
        .collect();
    if fds.is_empty() {
        bail!(
            "no listening sockets were passed (LISTEN_FDS={:?}, LISTEN_PID={:?}, our pid {})",
            var("LISTEN_FDS").unwrap_or_default(),
            var("LISTEN_PID").unwrap_or_default(),
            std::process::id()
        );
    }
    // Check every name before taking any descriptor.
    let mut named = Vec::new();
    for (fd, name) in &fds {
        let Some(service) = Service::from_name(name) else {
            bail!(
                "listening socket {fd} is named {name:?}; expected imap, imaps, pop3 or pop3s \
                 (FileDescriptorName= in the socket unit, or --fdname= for \
                 systemd-socket-activate)"
            );
        };
        named.push((*fd, service));
    }
    let mut sockets = Vec::new();
    for (fd, service) in named {
        check_socket(fd, "LISTEN_FDS")?;
        let owned = take_fd(fd)?;
        if !is_listening(owned.as_fd()).with_context(|| format!("socket {fd} ({service})"))? {
            bail!(
                "socket {fd} ({service}) is a connection, not a listening socket: \
                 `postern serve` needs Accept=no (use imapd/pop3d for Accept=yes)"
            );
        }
        sockets.push((service, owned));
    }
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_round_trip() {
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.name()), Some(s));
        }
        assert_eq!(Service::from_name("connection"), None);
        assert!(Service::Pop3s.is_pop3() && Service::Pop3s.is_tls());
        assert!(!Service::Imap.is_pop3() && !Service::Imap.is_tls());
    }
}
