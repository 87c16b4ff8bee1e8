//! The plaintext login program, `postern-login`, is not linked with OpenSSL: loading
//! libcrypto and libssl costs every process start about 1.2 ms of CPU (libcrypto's
//! 4,000 symbol bindings, its CPU probes, two more libraries to map), more than a short
//! session's own work, and a plaintext connection that logs in never uses them.
//!
//! When its client asks for TLS (IMAP and SMAP `STARTTLS`, POP3 `STLS`), the login
//! program answers that TLS may begin, then executes `postern resume-tls` in the same
//! process with the connection at [`SOCKET_FD`], the failed-login report channel of
//! `postern serve` (if any) at [`super::budget::REPORT_FD`], and a sealed memfd at
//! [`REQUEST_FD`] holding a [`TlsRequest`]: the settings, the session id, the client's
//! address, how long the connection has been open (the pre-login deadline goes on from
//! there), the byte counts and the failed logins so far. `postern` runs the handshake
//! and goes on with the session as if TLS had been started in one process.
//!
//! Nothing the client sent after its request goes along: it was sent in plaintext and
//! must never be read as if it came through TLS (RFC 3207 §4.2 and RFC 2595 §3.1 name
//! the attack), so the input buffer is left behind, unread, and the handshake reads
//! what the socket holds.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::budget::{REPORT_ENV, REPORT_FD};
use super::conn::Connection;
use super::handoff::{exec_with, record_memfd, take_record};
use crate::config::Config;

/// The connection, in `postern resume-tls`.
pub const SOCKET_FD: RawFd = 3;
/// The [`TlsRequest`], in `postern resume-tls`.
pub const REQUEST_FD: RawFd = 5;
/// The TLS program's file name, beside `postern-login`.
pub const PROGRAM: &str = "postern";

/// Which protocol asked for TLS, and so goes on after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Asked {
    Imap,
    /// An IMAP connection that became SMAP with its first command.
    Smap,
    Pop3,
}

/// What `postern resume-tls` needs to go on where the login program stopped.
#[derive(Debug, Serialize, Deserialize)]
pub struct TlsRequest {
    pub asked: Asked,
    pub session_id: String,
    /// Milliseconds since the connection was taken: the pre-login deadline counts from
    /// the connection, not from the exec.
    pub elapsed_ms: u64,
    pub peer: Option<SocketAddr>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub failed_logins: u32,
    pub config: Config,
}

impl TlsRequest {
    /// The request for `conn` as it stands now.
    pub fn new(asked: Asked, conn: &Connection, failed_logins: u32, config: &Config) -> Self {
        TlsRequest {
            asked,
            session_id: crate::log::start_session().to_owned(),
            elapsed_ms: u64::try_from(conn.opened_at().elapsed().as_millis()).unwrap_or(u64::MAX),
            peer: conn.peer_addr(),
            bytes_read: conn.bytes_read(),
            bytes_written: conn.bytes_written(),
            failed_logins,
            config: config.clone(),
        }
    }
}

/// The TLS program beside this one, if it is there.
pub fn tls_program() -> Option<PathBuf> {
    super::handoff::program_beside(PROGRAM)
}

/// Executes `program resume-tls` with the connection `socket` and `request`. Returns
/// only on failure, with descriptors 3 to 5 of this process replaced.
pub fn hand_over(program: &PathBuf, socket: BorrowedFd<'_>, request: &TlsRequest) -> io::Error {
    let memfd = match record_memfd(request) {
        Ok(fd) => fd,
        Err(err) => return err,
    };
    let mut cmd = Command::new(program);
    cmd.arg0(PROGRAM).arg("resume-tls");
    // It reports failed logins on the channel this process was started with.
    super::budget::with_report(|report| {
        let mut placed = vec![(socket, SOCKET_FD)];
        match report {
            Some(report) => {
                cmd.env(REPORT_ENV, REPORT_FD.to_string());
                placed.push((report, REPORT_FD));
            }
            None => {
                cmd.env_remove(REPORT_ENV);
            }
        }
        placed.push((memfd.as_fd(), REQUEST_FD));
        exec_with(cmd, &placed)
    })
}

/// In `postern resume-tls`: the connection, as the login program left it (not yet
/// TLS), and the request.
pub fn receive() -> anyhow::Result<(Connection, TlsRequest)> {
    let (socket, request): (OwnedFd, TlsRequest) = take_record(
        SOCKET_FD,
        REQUEST_FD,
        "`postern resume-tls` is started by postern-login when a client asks for TLS",
    )?;
    request
        .config
        .check()
        .map_err(|invalid| anyhow::anyhow!("{invalid}"))?;
    let mut conn = Connection::from_socket(socket);
    conn.resume(&[], request.bytes_read, request.bytes_written);
    if request.peer.is_some() {
        conn.set_peer_addr(request.peer);
    }
    conn.opened_earlier(Duration::from_millis(request.elapsed_ms));
    Ok((conn, request))
}
