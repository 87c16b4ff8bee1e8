//! The server side of a TLS connection over a [`Stream`]: the handshake
//! ([`Acceptor::accept`]) and OpenSSL's reads and writes on non-blocking descriptors,
//! where every WANT_READ / WANT_WRITE becomes a poll bounded by the caller's instant.

use std::io::{self, ErrorKind};
use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::poll::PollFlags;
use openssl::ssl::{ErrorCode, Ssl, SslStream};

use super::conn::{Stream, TlsLayer, TlsState, wait_fd};
use super::tls::{Acceptor, PeerCertificate};

impl Acceptor {
    /// Runs the server handshake on `stream` (non-blocking), waiting at most `until`.
    pub(crate) fn accept(
        &self,
        stream: Stream,
        until: Option<Instant>,
    ) -> io::Result<(Box<dyn TlsLayer>, TlsState)> {
        let ssl = Ssl::new(self.context()).map_err(io::Error::other)?;
        let mut tls = SslStream::new(ssl, stream).map_err(io::Error::other)?;
        tls_op(&mut tls, until, |t| t.accept())?;
        let ssl = tls.ssl();
        let state = TlsState {
            description: format!(
                "{} {}",
                ssl.version_str(),
                ssl.current_cipher().map(|c| c.name()).unwrap_or("?")
            ),
            peer: PeerCertificate::from_ssl(ssl),
        };
        Ok((Box::new(tls), state))
    }
}

impl TlsLayer for SslStream<Stream> {
    fn read_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().read_fd()
    }

    fn pending(&self) -> usize {
        self.ssl().pending()
    }

    fn read(&mut self, buf: &mut [u8], until: Option<Instant>) -> io::Result<usize> {
        match tls_op(self, until, |t| t.ssl_read(buf)) {
            // close_notify is the orderly end of input.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }

    fn write(&mut self, buf: &[u8], until: Option<Instant>) -> io::Result<usize> {
        tls_op(self, until, |t| t.ssl_write(buf))
    }

    fn shutdown(&mut self) {
        let _ = SslStream::shutdown(self);
    }
}

/// Runs one OpenSSL operation to completion on non-blocking descriptors, waiting for the
/// socket at most `until`.
fn tls_op<T>(
    tls: &mut SslStream<Stream>,
    until: Option<Instant>,
    mut op: impl FnMut(&mut SslStream<Stream>) -> Result<T, openssl::ssl::Error>,
) -> io::Result<T> {
    loop {
        let err = match op(tls) {
            Ok(v) => return Ok(v),
            Err(err) => err,
        };
        match err.code() {
            ErrorCode::WANT_READ => wait_fd(tls.get_ref().read_fd(), PollFlags::POLLIN, until)?,
            ErrorCode::WANT_WRITE => wait_fd(tls.get_ref().write_fd(), PollFlags::POLLOUT, until)?,
            ErrorCode::ZERO_RETURN => {
                return Err(io::Error::new(ErrorKind::UnexpectedEof, "TLS closed"));
            }
            _ => {
                return Err(match err.into_io_error() {
                    Ok(io) if io.kind() == ErrorKind::Interrupted => continue,
                    Ok(io) => io,
                    Err(err) => {
                        // A protocol failure, or the peer vanished without close_notify.
                        io::Error::new(ErrorKind::ConnectionAborted, format!("TLS: {err}"))
                    }
                });
            }
        }
    }
}
