//! IDLE (RFC 2177): wait on the socket and an inotify watch of the selected folder, and
//! report changes as they happen. Without inotify (e.g. the per-user instance limit is
//! reached) it polls every `[imap] idle_poll_interval` seconds instead.
//!
//! The watch stays with the selected folder after DONE (a client that IDLEs once IDLEs
//! again), so later refreshes, NOOP included, also learn of changes from its events
//! instead of listing the folder.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, State};
use crate::net::conn::{LineRead, Wait};

/// Even with inotify, look again this often: a missed event (a folder on a network file
/// system, changed from another host) must not stall a client.
const SAFETY_RESCAN: Duration = Duration::from_secs(60);

/// The selected folder's inotify descriptor, when it is watched.
fn watch_fd(state: &State) -> Option<BorrowedFd<'_>> {
    match state {
        State::Selected { selected, .. } => selected.mailbox.watch_fd(),
        _ => None,
    }
}

impl Session<'_> {
    pub fn cmd_idle(&mut self) -> CommandResult {
        let watching = match self.selected_mut() {
            Ok(s) => match s.mailbox.watch() {
                Ok(()) => true,
                Err(err) => {
                    log::warn!("inotify unavailable, IDLE polls instead: {err}");
                    false
                }
            },
            Err(_) => false,
        };
        let text = if watching {
            "+ idling\r\n"
        } else {
            "+ idling (polling)\r\n"
        };
        self.out.extend_from_slice(text.as_bytes());
        if self.flush().is_err() {
            self.logout();
            return Err(Outcome::Done);
        }
        // Whatever arrived before the watch was in place.
        self.idle_report();
        if let Ok(s) = self.selected_mut() {
            s.mailbox.prepare_for_deliveries();
        }
        let idle_limit = Duration::from_secs(self.config.limits.idle_timeout);
        let poll_every = if watching {
            SAFETY_RESCAN
        } else {
            Duration::from_secs(self.config.imap.idle_poll_interval.max(1))
        };
        let started = Instant::now();
        loop {
            let left = idle_limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                self.untagged("BYE Autologout; idle for too long");
                let _ = self.flush();
                self.logout();
                return Err(Outcome::Done);
            }
            let waited = self.conn.wait(watch_fd(&self.state), poll_every.min(left));
            match waited {
                Ok(Wait::Input) => {
                    return Ok(
                        match self.conn.read_line(self.config.limits.max_line_length) {
                            Ok(LineRead::Line(line)) if line.eq_ignore_ascii_case(b"DONE") => {
                                Outcome::ok("IDLE terminated")
                            }
                            Ok(LineRead::Line(_)) | Ok(LineRead::TooLong) => {
                                Outcome::bad("Expected DONE to end IDLE")
                            }
                            Ok(LineRead::Eof) | Err(_) => {
                                self.logout();
                                Outcome::Done
                            }
                        },
                    );
                }
                // The refresh reads the events (and drops the watch if that fails).
                Ok(Wait::Extra) => self.idle_report(),
                Ok(Wait::Timeout) => {
                    if let Ok(s) = self.selected_mut() {
                        s.mailbox.look_again();
                    }
                    self.idle_report();
                }
                Err(err) => {
                    log::debug!("IDLE wait failed: {err}");
                    self.logout();
                    return Err(Outcome::Done);
                }
            }
        }
    }

    /// Sends what changed during IDLE right away.
    fn idle_report(&mut self) {
        if let Err(err) = self.sync(true) {
            log::warn!("refreshing the mailbox during IDLE failed: {err}");
        }
        if let Err(err) = self.flush() {
            log::debug!("client went away during IDLE: {err}");
        }
    }
}
