//! Per-source limits of `postern serve` that span sessions: which clients count as one
//! source (IPv6 networks of `[serve] ipv6_prefix`), and the failed-login budget.
//!
//! Each session is its own process, so `[auth] max_failed_logins` alone costs a password
//! guesser only a reconnect. `serve` gives every session one end of a datagram socket pair
//! as descriptor [`REPORT_FD`]; the session sends one datagram per failed login, and the
//! daemon counts one failure against that session's source per datagram (whatever it
//! holds, at most `max_failed_logins` per session), then refuses new connections from a
//! source over budget until the window has passed. The session closes its end before
//! the privilege drop, so nothing running as the user can report anything.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};

/// The descriptor a session of `serve` reports failed logins on, named in [`REPORT_ENV`].
pub const REPORT_FD: RawFd = 4;
/// Set by `serve` to `4` for its sessions.
pub const REPORT_ENV: &str = "POSTERN_FAILURE_REPORT";

/// The source a client address counts as: IPv4 (also IPv4-mapped IPv6) masked to
/// `v4_prefix` bits, IPv6 to `v6_prefix` bits.
pub fn source(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4) & mask32(v4_prefix);
            IpAddr::V4(Ipv4Addr::from(bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & mask128(v6_prefix);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

fn mask128(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

/// Failed logins per source within a sliding window.
pub struct FailureBudget {
    failures: HashMap<IpAddr, VecDeque<Instant>>,
}

impl FailureBudget {
    pub fn new() -> FailureBudget {
        FailureBudget {
            failures: HashMap::new(),
        }
    }

    /// One failed login from `source` at `now`. Only the newest `limit` are kept: they
    /// alone decide whether the source is over budget.
    pub fn record(&mut self, source: IpAddr, now: Instant, limit: u32) {
        if limit == 0 {
            return;
        }
        let times = self.failures.entry(source).or_default();
        times.push_back(now);
        while times.len() > limit as usize {
            times.pop_front();
        }
    }

    /// Whether `source` had `limit` failed logins within `window` before `now`.
    pub fn is_over(&self, source: IpAddr, now: Instant, limit: u32, window: Duration) -> bool {
        if limit == 0 {
            return false;
        }
        self.failures.get(&source).is_some_and(|times| {
            times
                .iter()
                .filter(|&&t| now.saturating_duration_since(t) < window)
                .count()
                >= limit as usize
        })
    }

    /// Forget failures older than `window`, so that the table holds only live sources.
    pub fn expire(&mut self, now: Instant, window: Duration) {
        self.failures.retain(|_, times| {
            while times
                .front()
                .is_some_and(|&t| now.saturating_duration_since(t) >= window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
    }
}

impl Default for FailureBudget {
    fn default() -> Self {
        FailureBudget::new()
    }
}

/// A report channel for one session: (the daemon's end, the session's end). Both are
/// close-on-exec; the session's end is placed at [`REPORT_FD`] between fork and exec.
pub fn report_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Datagram,
        None,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )
}

/// Reads every pending report on the daemon's end: the number of datagrams, whatever
/// they hold.
pub fn take_reports(fd: &OwnedFd) -> u32 {
    let mut count = 0u32;
    let mut buf = [0u8; 16];
    loop {
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(_) => count = count.saturating_add(1),
            Err(Errno::EINTR) => continue,
            Err(_) => return count,
        }
    }
}

/// The session's end of the report channel, while it may still report.
static REPORT: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Keep the report channel a session was started with (`POSTERN_FAILURE_REPORT=4`).
pub fn adopt(fd: OwnedFd) {
    if let Ok(mut slot) = REPORT.lock() {
        *slot = Some(fd);
    }
}

/// Tell the daemon (if any) about one failed login. Never blocks: a full queue means the
/// daemon has plenty to count already.
pub fn report_failed_login() {
    if let Ok(slot) = REPORT.lock()
        && let Some(fd) = slot.as_ref()
    {
        let _ = send(
            fd.as_raw_fd(),
            b"F",
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        );
    }
}

/// Runs `f` with the report channel, if this session still has one (to hand it on to
/// the program it executes next).
pub fn with_report<R>(f: impl FnOnce(Option<BorrowedFd<'_>>) -> R) -> R {
    match REPORT.lock() {
        Ok(slot) => f(slot.as_ref().map(|fd| fd.as_fd())),
        Err(_) => f(None),
    }
}

/// Close the report channel: called once the login succeeded, before the privilege drop.
pub fn stop_reporting() {
    if let Ok(mut slot) = REPORT.lock() {
        *slot = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_of_one_prefix_are_one_source() {
        let a = source(ip("2001:db8:1:2::1"), 32, 64);
        let b = source(ip("2001:db8:1:2:ffff:ffff:ffff:fffe"), 32, 64);
        let other = source(ip("2001:db8:1:3::1"), 32, 64);
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, other);
        assert_ne!(
            source(ip("2001:db8::1"), 32, 128),
            source(ip("2001:db8::2"), 32, 128)
        );
        assert_eq!(source(ip("::1"), 32, 64), ip("::"));
        assert_eq!(source(ip("2001:db8::1"), 32, 0), ip("::"));
    }

    #[test]
    fn ipv4_stays_per_address_unless_asked() {
        assert_ne!(
            source(ip("192.0.2.1"), 32, 64),
            source(ip("192.0.2.2"), 32, 64)
        );
        assert_eq!(source(ip("192.0.2.1"), 24, 64), ip("192.0.2.0"));
        assert_eq!(source(ip("192.0.2.1"), 0, 64), ip("0.0.0.0"));
        // An IPv4 client on a dual-stack socket is the same IPv4 source.
        assert_eq!(source(ip("::ffff:192.0.2.1"), 32, 64), ip("192.0.2.1"));
    }

    #[test]
    fn budget_counts_within_the_window() {
        let mut budget = FailureBudget::new();
        let src = ip("192.0.2.1");
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        for _ in 0..2 {
            budget.record(src, t0, 3);
        }
        assert!(!budget.is_over(src, t0, 3, window));
        budget.record(src, t0, 3);
        assert!(budget.is_over(src, t0, 3, window));
        assert!(!budget.is_over(ip("192.0.2.2"), t0, 3, window));
        assert!(!budget.is_over(src, t0, 0, window), "0 = no limit");
        let later = t0 + window;
        assert!(!budget.is_over(src, later, 3, window));
        budget.expire(later, window);
        assert!(budget.failures.is_empty());
    }

    #[test]
    fn reports_are_counted_as_datagrams() {
        let (daemon, session) = report_pair().unwrap();
        adopt(session);
        report_failed_login();
        report_failed_login();
        assert_eq!(take_reports(&daemon), 2);
        stop_reporting();
        report_failed_login();
        assert_eq!(take_reports(&daemon), 0);
    }
}
