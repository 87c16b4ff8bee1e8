//! IDLE (RFC 2177): wait on the socket and an inotify watch of the selected folder, and
//! report changes as they happen. Without inotify (e.g. the per-user instance limit is
//! reached) it polls every `[imap] idle_poll_interval` seconds instead.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::net::conn::{LineRead, Wait};
use crate::store::watch::Watcher;

/// Even with inotify, look again this often: a missed event must not stall a client.
const SAFETY_RESCAN: Duration = Duration::from_secs(60);

impl Session<'_> {
    pub fn cmd_idle(&mut self) -> CommandResult {
        let mut watcher = self.selected().ok().and_then(|s| {
            Watcher::new(s.mailbox.folder_dir())
                .map_err(|err| log::warn!("inotify unavailable, IDLE polls instead: {err}"))
                .ok()
        });
        let text = if watcher.is_some() {
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
        let idle_limit = Duration::from_secs(self.config.limits.idle_timeout);
        let poll_every = if watcher.is_some() {
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
            let waited = {
                let extra = watcher.as_ref().map(|w| w.as_fd());
                self.conn.wait(extra, poll_every.min(left))
            };
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
                Ok(Wait::Extra) => {
                    if let Some(w) = watcher.as_mut()
                        && let Err(err) = w.drain()
                    {
                        log::warn!("inotify read failed, IDLE polls instead: {err}");
                        watcher = None;
                    }
                    self.idle_report();
                }
                Ok(Wait::Timeout) => self.idle_report(),
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
