//! One client connection: a socket (TCP or Unix) or stdin/stdout under inetd, with a
//! buffered line/literal reader, a buffered writer, inactivity timeouts done with poll(2)
//! (so they work on pipes too), and a wait for "input or another descriptor" for IDLE.
//!
//! Three clocks bound every blocking step: the read timeout (silence between bytes), the
//! write timeout (a peer that stops taking our bytes) and an optional deadline, an
//! instant after which no read waits at all (the pre-login phase: a client dripping one
//! byte just inside the read timeout still runs out of time). After a write fails (a
//! timeout included) the connection is dead for writing: nothing more is queued or
//! waited for, so the session ends at once instead of waiting out the timeout again for
//! its goodbye.
//!
//! The bytes go through an internal [`Transport`]: plain, or OpenSSL (whose decrypted
//! but unread bytes count as buffered input). [`Connection::start_tls`] drops the
//! buffered plaintext before the handshake, so nothing sent before STARTTLS is read as
//! if it had come through TLS. [`Connection::start_compress`] (RFC 4978) puts raw deflate
//! between the IMAP bytes and the transport, so inside TLS when both are on.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::deflate::{Deflate, Inflated};
use super::tls::{Acceptor, PeerCertificate};

const READ_CHUNK: usize = 16 * 1024;
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// The result of [`Connection::read_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineRead {
    /// One line without its CRLF or LF.
    Line(Vec<u8>),
    /// The line was longer than the limit; all of it, up to and including its LF, has
    /// been consumed and dropped, so the next read starts at the next line.
    TooLong,
    /// The peer closed the connection (a partial line without LF is dropped).
    Eof,
}

/// The result of [`Connection::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Input is available (or the peer closed: the next read says which).
    Input,
    /// The extra descriptor is readable.
    Extra,
    /// Neither within the timeout.
    Timeout,
}

/// The plain byte stream under everything (and under TLS).
pub(crate) enum Stream {
    /// A connected socket, both directions.
    Socket(File),
    /// inetd style: the connection is stdin (read) and stdout (write).
    Stdio { input: File, output: File },
}

impl Stream {
    pub(crate) fn read_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Socket(f) => f.as_fd(),
            Stream::Stdio { input, .. } => input.as_fd(),
        }
    }

    pub(crate) fn write_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Socket(f) => f.as_fd(),
            Stream::Stdio { output, .. } => output.as_fd(),
        }
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        for fd in [self.read_fd(), self.write_fd()] {
            let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
            fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        }
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Socket(f) => f.read(buf),
            Stream::Stdio { input, .. } => input.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Socket(f) => f.write(buf),
            Stream::Stdio { output, .. } => output.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How the bytes travel.
enum Transport {
    /// Non-blocking descriptors; every read and write is preceded by a poll with the timeout.
    Plain(Stream),
    /// TLS over non-blocking descriptors (OpenSSL, see [`super::tls`]): every wait for
    /// the socket is a poll with the timeout, so a peer sending half a record cannot hang us.
    Tls(Box<dyn TlsLayer>),
    /// A TLS handshake failed; nothing more travels.
    Closed,
}

impl Transport {
    fn read_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Transport::Plain(s) => Some(s.read_fd()),
            Transport::Tls(t) => Some(t.read_fd()),
            Transport::Closed => None,
        }
    }

    /// Bytes the transport holds already decoded (TLS records); none for plain sockets.
    fn pending(&self) -> usize {
        match self {
            Transport::Tls(t) => t.pending(),
            _ => 0,
        }
    }
}

/// The earlier of `now + timeout` and `deadline`; `None` when neither is set.
fn earliest(timeout: Option<Duration>, deadline: Option<Instant>) -> Option<Instant> {
    let after_timeout = timeout.map(|t| Instant::now() + t);
    match (after_timeout, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(ErrorKind::TimedOut, what.to_owned())
}

/// Whether a plain read or write that failed this way is tried again after the next
/// poll: a signal, or a descriptor that was not ready after all.
fn retry(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock)
}

/// Wait until `fd` is ready for `events`; `None` waits forever.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    until: Option<Instant>,
) -> io::Result<()> {
    loop {
        let timeout = match until {
            Some(until) => poll_timeout(until.saturating_duration_since(Instant::now())),
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(fd, events)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(io::Error::new(ErrorKind::TimedOut, "timed out")),
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// TLS over a [`Stream`], as [`super::tls`] makes it. A trait object, so that only the
/// code that starts TLS names OpenSSL: a process that never does (the mail session after
/// login, `postern-session`) is not linked with it.
pub(crate) trait TlsLayer {
    fn read_fd(&self) -> BorrowedFd<'_>;
    /// Bytes decoded from records already received but not read yet.
    fn pending(&self) -> usize;
    /// Reads, waiting for the socket at most until `until`; 0 at close_notify.
    fn read(&mut self, buf: &mut [u8], until: Option<Instant>) -> io::Result<usize>;
    /// Writes some of `buf`, waiting for the socket at most until `until`.
    fn write(&mut self, buf: &[u8], until: Option<Instant>) -> io::Result<usize>;
    /// One try at close_notify; the peer need not answer.
    fn shutdown(&mut self);
}

/// A client connection. Reads and writes block; timeouts are per blocking read or write,
/// the deadline (when set) bounds them all.
pub struct Connection {
    transport: Transport,
    inbuf: Box<[u8]>,
    start: usize,
    end: usize,
    outbuf: Vec<u8>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// No read waits past this instant (see the module docs).
    deadline: Option<Instant>,
    /// When this connection object was made: the start of the session's clocks.
    opened: Instant,
    /// Why a write failed; from then on every write fails the same way at once.
    write_failed: Option<ErrorKind>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    bytes_read: u64,
    bytes_written: u64,
    tls: Option<TlsState>,
    /// COMPRESS=DEFLATE, once started: every byte read is inflated, every byte sent deflated.
    deflate: Option<Box<Deflate>>,
}

/// What the handshake settled.
pub(crate) struct TlsState {
    /// e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384".
    pub(crate) description: String,
    pub(crate) peer: Option<PeerCertificate>,
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Peer and local address when `fd` is an IP socket. std refuses other socket
/// families and non-sockets, which is what we want; the descriptor is duplicated so
/// that std can own it for the question.
pub(crate) fn socket_addrs(fd: BorrowedFd<'_>) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let Ok(dup) = fd.try_clone_to_owned() else {
        return (None, None);
    };
    let probe = std::net::TcpStream::from(dup);
    (
        probe.peer_addr().ok().map(canonical),
        probe.local_addr().ok().map(canonical),
    )
}

/// Sets TCP_NODELAY on a TCP socket: responses are built whole and written in few large
/// writes, so Nagle's algorithm only holds back the short last one (a tagged OK after a
/// big FETCH) until the client's delayed ACK, up to 40 ms later.
fn no_delay(fd: BorrowedFd<'_>, peer: Option<SocketAddr>) {
    if peer.is_some()
        && let Err(err) =
            nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::TcpNoDelay, &true)
    {
        log::debug!("cannot set TCP_NODELAY: {err}");
    }
}

impl Connection {
    /// Plain descriptors are made non-blocking: poll(2) saying "writable" means room for
    /// some bytes, and a blocking write of a large buffer would then wait, without any
    /// timeout, for a peer that never reads. Each read and write is preceded by a poll.
    fn new(transport: Transport, peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        if let Transport::Plain(stream) = &transport
            && let Err(err) = stream.set_nonblocking()
        {
            log::warn!("the connection cannot be made non-blocking: {err}");
        }
        Connection {
            transport,
            inbuf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            outbuf: Vec::with_capacity(READ_CHUNK),
            read_timeout: None,
            write_timeout: None,
            deadline: None,
            opened: Instant::now(),
            write_failed: None,
            peer,
            local,
            bytes_read: 0,
            bytes_written: 0,
            tls: None,
            deflate: None,
        }
    }

    /// A connected socket (TCP or Unix). Addresses come from getpeername/getsockname.
    pub fn from_socket(fd: OwnedFd) -> Connection {
        let (peer, local) = socket_addrs(fd.as_fd());
        no_delay(fd.as_fd(), peer);
        Connection::new(
            Transport::Plain(Stream::Socket(File::from(fd))),
            peer,
            local,
        )
    }

    /// Separate read and write descriptors (inetd's stdin and stdout). Addresses come
    /// from the read side when it is a socket.
    pub fn from_pair(input: OwnedFd, output: OwnedFd) -> Connection {
        let (peer, local) = socket_addrs(input.as_fd());
        no_delay(output.as_fd(), peer);
        Connection::new(
            Transport::Plain(Stream::Stdio {
                input: File::from(input),
                output: File::from(output),
            }),
            peer,
            local,
        )
    }

    /// The client's address, when it is an IP socket (or was given by the environment).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Our address on this connection, when it is an IP socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Override the client's address (e.g. from `REMOTE_ADDR` when getpeername fails).
    pub fn set_peer_addr(&mut self, addr: Option<SocketAddr>) {
        self.peer = addr;
    }

    /// How long one blocking read may wait for data; `None` waits forever. A read that
    /// times out fails with [`ErrorKind::TimedOut`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// How long one blocking write may wait for the peer to take data. A write that times
    /// out fails with [`ErrorKind::TimedOut`], and so does every write after it.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// An instant after which reads fail with [`ErrorKind::TimedOut`] instead of waiting,
    /// however recently the last byte came, and writes wait no longer (they still go out
    /// when the peer takes them at once, so a goodbye line can). `None`: no deadline.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// When this connection was taken over: the pre-login deadline counts from here, so a
    /// TLS handshake before the session spends from the same budget.
    pub fn opened_at(&self) -> Instant {
        self.opened
    }

    /// Counts the connection as taken `elapsed` before now (it was, by the program that
    /// executed this one).
    pub fn opened_earlier(&mut self, elapsed: Duration) {
        self.opened = Instant::now().checked_sub(elapsed).unwrap_or(self.opened);
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Bytes received from the peer so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes sent to the peer so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Whether input is already buffered (so polling the socket would be wrong).
    pub fn has_buffered_input(&self) -> bool {
        self.start < self.end
            || self.transport.pending() > 0
            || self
                .deflate
                .as_ref()
                .is_some_and(|d| d.has_buffered_input())
    }

    /// The socket under this connection when nothing of the process's own stands between
    /// it and the client (no TLS, no compression, one descriptor for both directions):
    /// what another program can take over (see [`super::handoff`]).
    pub fn plain_socket(&self) -> Option<BorrowedFd<'_>> {
        match (&self.transport, &self.deflate) {
            (Transport::Plain(Stream::Socket(file)), None) => Some(file.as_fd()),
            _ => None,
        }
    }

    /// The bytes read from the client and not consumed yet.
    pub fn buffered_input(&self) -> &[u8] {
        &self.inbuf[self.start..self.end]
    }

    /// Goes on with a connection another process served: the bytes it had read and not
    /// consumed (at most one read buffer) come first, and its counts carry on.
    pub fn resume(&mut self, input: &[u8], bytes_read: u64, bytes_written: u64) {
        let n = input.len().min(self.inbuf.len());
        self.inbuf[..n].copy_from_slice(&input[..n]);
        self.start = 0;
        self.end = n;
        self.bytes_read = bytes_read;
        self.bytes_written = bytes_written;
    }

    /// Drop every buffered input byte and say how many there were (STARTTLS: nothing
    /// the client sent in plaintext may be read as if it came through TLS).
    pub fn discard_buffered_input(&mut self) -> usize {
        let n = self.end - self.start;
        self.start = 0;
        self.end = 0;
        n
    }

    /// Drops what the client sent in plaintext after asking for TLS (logged): none of it
    /// may be read as if it came through TLS.
    pub fn discard_before_tls(&mut self) {
        let dropped = self.discard_buffered_input();
        if dropped > 0 {
            log::info!("dropped {dropped} bytes the client sent before the TLS handshake");
        }
    }

    /// Read more input into the buffer; Ok(0) at end of input.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.inbuf.len() {
            self.inbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.deadline_passed() {
            return Err(timed_out("deadline passed"));
        }
        let until = earliest(self.read_timeout, self.deadline);
        let n = match &mut self.deflate {
            None => {
                let n = read_transport(&mut self.transport, &mut self.inbuf[self.end..], until)?;
                self.bytes_read += n as u64;
                n
            }
            Some(deflate) => loop {
                // At most the free part of the read buffer per step (the bomb bound).
                match deflate.inflate(&mut self.inbuf[self.end..])? {
                    Inflated::Bytes(n) => break n,
                    Inflated::End => break 0,
                    Inflated::NeedInput => {
                        let got =
                            read_transport(&mut self.transport, deflate.input_space(), until)?;
                        if got == 0 {
                            break 0;
                        }
                        deflate.filled(got);
                        self.bytes_read += got as u64;
                    }
                }
            },
        };
        self.end += n;
        Ok(n)
    }

    /// The buffered input, after reading until it holds `n` bytes, a line end, or the
    /// peer's end: lets a session look at the start of the first command (SMAP's
    /// `\SMAP1` tag) without taking it.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.inbuf[self.start..self.end].contains(&b'\n') {
            if self.end == self.inbuf.len() && self.start == 0 {
                break;
            }
            if self.fill()? == 0 {
                break;
            }
        }
        Ok(&self.inbuf[self.start..self.end])
    }

    /// Read one line of at most `max` bytes (not counting CRLF / LF).
    pub fn read_line(&mut self, max: usize) -> io::Result<LineRead> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            if self.start == self.end && self.fill()? == 0 {
                return Ok(LineRead::Eof);
            }
            let avail = &self.inbuf[self.start..self.end];
            let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], true),
                None => (avail, false),
            };
            // One byte of slack for the CR of CRLF, checked once the line is complete.
            if !too_long && line.len() + chunk.len() > max.saturating_add(1) {
                too_long = true;
                line = Vec::new();
            }
            if !too_long {
                line.extend_from_slice(chunk);
            }
            self.start += chunk.len() + usize::from(done);
            if done {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if too_long || line.len() > max {
                    return Ok(LineRead::TooLong);
                }
                return Ok(LineRead::Line(line));
            }
        }
    }

    /// Copy exactly `n` input bytes into `sink` (a literal). Fails with
    /// [`ErrorKind::UnexpectedEof`] if the peer closes first.
    pub fn read_exact_into(&mut self, n: u64, sink: &mut dyn Write) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            if self.start == self.end && self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed inside a literal",
                ));
            }
            let take = (self.end - self.start).min(usize::try_from(left).unwrap_or(usize::MAX));
            sink.write_all(&self.inbuf[self.start..self.start + take])?;
            self.start += take;
            left -= take as u64;
        }
        Ok(())
    }

    /// Read and drop exactly `n` input bytes (a literal that was refused).
    pub fn discard(&mut self, n: u64) -> io::Result<()> {
        self.read_exact_into(n, &mut io::sink())
    }

    /// Queue bytes for the peer; they go out on [`flush`](Self::flush) or when much is queued.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.check_writable()?;
        self.outbuf.extend_from_slice(bytes);
        if self.outbuf.len() >= WRITE_HIGH_WATER {
            self.flush()?;
        }
        Ok(())
    }

    /// After a failed write nothing more is queued: the peer is gone or not reading.
    fn check_writable(&mut self) -> io::Result<()> {
        match self.write_failed {
            Some(kind) => {
                self.outbuf.clear();
                Err(io::Error::new(kind, "an earlier write failed"))
            }
            None => Ok(()),
        }
    }

    /// Send everything queued. Each wait for the peer to take bytes ends at the write
    /// timeout (or the deadline); a failure is final (see [`set_write_timeout`]).
    ///
    /// [`set_write_timeout`]: Self::set_write_timeout
    pub fn flush(&mut self) -> io::Result<()> {
        self.check_writable()?;
        let result = self.send_queued();
        if let Err(e) = &result {
            self.write_failed = Some(e.kind());
            self.outbuf.clear();
        }
        result
    }

    fn send_queued(&mut self) -> io::Result<()> {
        if let Some(deflate) = &mut self.deflate {
            if self.outbuf.is_empty() {
                return Ok(());
            }
            let compressed = deflate.deflate(&self.outbuf)?;
            self.outbuf.clear();
            return self.send_bytes(&compressed).1;
        }
        let queued = std::mem::take(&mut self.outbuf);
        let (sent, result) = self.send_bytes(&queued);
        self.outbuf = queued;
        self.outbuf.drain(..sent);
        result
    }

    /// Sends what is queued and then `bytes` straight from the caller's buffer: a large
    /// response (FETCH of big bodies) goes out in the writes it was built in, without
    /// being copied into the queue first. Failures are final, as for [`flush`].
    ///
    /// [`flush`]: Self::flush
    pub fn write_through(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush()?;
        let (_, result) = match &mut self.deflate {
            Some(deflate) => match deflate.deflate(bytes) {
                Ok(compressed) => self.send_bytes(&compressed),
                Err(e) => (0, Err(e)),
            },
            None => self.send_bytes(bytes),
        };
        if let Err(e) = &result {
            self.write_failed = Some(e.kind());
        }
        result
    }

    /// Writes `bytes` until all are sent or a write fails; returns how many were sent.
    fn send_bytes(&mut self, bytes: &[u8]) -> (usize, io::Result<()>) {
        let mut sent = 0;
        let result = loop {
            if sent == bytes.len() {
                break Ok(());
            }
            let chunk = &bytes[sent..];
            let until = earliest(self.write_timeout, self.deadline);
            let written = match &mut self.transport {
                Transport::Plain(stream) => {
                    match wait_fd(stream.write_fd(), PollFlags::POLLOUT, until) {
                        Ok(()) => stream.write(chunk),
                        Err(e) => Err(e),
                    }
                }
                Transport::Tls(tls) => tls.write(chunk, until),
                Transport::Closed => Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    "the TLS handshake failed",
                )),
            };
            match written {
                Ok(0) => break Err(io::Error::new(ErrorKind::WriteZero, "connection closed")),
                Ok(n) => {
                    sent += n;
                    self.bytes_written += n as u64;
                }
                Err(e) if retry(&e) => {}
                Err(e) => break Err(e),
            }
        };
        (sent, result)
    }

    /// STARTTLS / implicit TLS: send what is queued (in plaintext), drop every buffered
    /// input byte, and run the server handshake within the read timeout (60 s when
    /// none is set). After a failed handshake the connection is dead.
    pub fn start_tls(&mut self, acceptor: &Acceptor) -> io::Result<()> {
        if self.deflate.is_some() {
            // RFC 4978 §3: TLS is never started under compression.
            return Err(io::Error::other("STARTTLS after COMPRESS"));
        }
        self.flush()?;
        self.discard_before_tls();
        let stream = match std::mem::replace(&mut self.transport, Transport::Closed) {
            Transport::Plain(stream) => stream,
            other => {
                self.transport = other;
                return Err(io::Error::other("TLS is already active"));
            }
        };
        stream.set_nonblocking()?;
        let timeout = self.read_timeout.unwrap_or(Duration::from_secs(60));
        let (tls, state) = acceptor.accept(stream, earliest(Some(timeout), self.deadline))?;
        self.tls = Some(state);
        self.transport = Transport::Tls(tls);
        Ok(())
    }

    /// COMPRESS=DEFLATE (RFC 4978): sends what is queued as it is (the command's tagged
    /// OK), then deflates every later byte; input buffered after the command line is the
    /// client's first compressed bytes and is inflated, not dropped.
    pub fn start_compress(&mut self) -> io::Result<()> {
        if self.deflate.is_some() {
            return Err(io::Error::other("compression is already active"));
        }
        self.flush()?;
        let pending = &self.inbuf[self.start..self.end];
        self.deflate = Some(Box::new(Deflate::new(pending)));
        self.start = 0;
        self.end = 0;
        Ok(())
    }

    /// Whether COMPRESS is active.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Whether the connection is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Protocol version and cipher, for logs.
    pub fn tls_description(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.description.as_str())
    }

    /// The client's certificate, when it sent one.
    pub fn peer_certificate(&self) -> Option<&PeerCertificate> {
        self.tls.as_ref().and_then(|t| t.peer.as_ref())
    }

    /// Flush, then wait until the client sends something, `extra` becomes readable, or
    /// `timeout` passes. Buffered input counts as input at once.
    pub fn wait(&mut self, extra: Option<BorrowedFd<'_>>, timeout: Duration) -> io::Result<Wait> {
        self.flush()?;
        if self.has_buffered_input() {
            return Ok(Wait::Input);
        }
        let Some(read_fd) = self.transport.read_fd() else {
            // Dead after a failed handshake: the next read says end of input.
            return Ok(Wait::Input);
        };
        let deadline = Instant::now() + timeout;
        loop {
            let mut fds = vec![PollFd::new(read_fd, PollFlags::POLLIN)];
            if let Some(fd) = extra {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match poll(&mut fds, poll_timeout(left)) {
                Ok(0) => return Ok(Wait::Timeout),
                Ok(_) => {
                    let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
                    if ready(&fds[0]) {
                        return Ok(Wait::Input);
                    }
                    return Ok(Wait::Extra);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// One read from the transport into `buf`, waiting at most `until`; Ok(0) at end of input.
fn read_transport(
    transport: &mut Transport,
    buf: &mut [u8],
    until: Option<Instant>,
) -> io::Result<usize> {
    match transport {
        Transport::Plain(stream) => loop {
            wait_fd(stream.read_fd(), PollFlags::POLLIN, until)?;
            match stream.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if retry(&e) => continue,
                Err(e) => return Err(e),
            }
        },
        Transport::Tls(tls) => tls.read(buf, until),
        Transport::Closed => Ok(0),
    }
}

fn poll_timeout(d: Duration) -> PollTimeout {
    // Round up so that a short remainder does not become a busy zero-timeout poll.
    let ms = d.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Best effort: whatever the session queued last (a BYE) should still go out,
        // unless writing already failed (a peer that does not read gets no second wait).
        if self.write_failed.is_some() {
            return;
        }
        if self.write_timeout.is_none() {
            self.write_timeout = Some(Duration::from_secs(5));
        }
        let _ = self.flush();
        if let Transport::Tls(tls) = &mut self.transport {
            tls.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Connection, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Connection::from_socket(a.into()), b)
    }

    #[test]
    fn lines_crlf_lf_and_eof() {
        let (mut c, mut peer) = pair();
        peer.write_all(b"a1 NOOP\r\nsecond\nthird-without-end")
            .unwrap();
        drop(peer);
        assert_eq!(
            c.read_line(100).unwrap(),
            LineRead::Line(b"a1 NOOP".to_vec())
        );
        assert_eq!(
            c.read_line(100).unwrap(),
            LineRead::Line(b"second".to_vec())
        );
        assert_eq!(c.read_line(100).unwrap(), LineRead::Eof);
        assert_eq!(c.bytes_read(), 33);
    }

    #[test]
    fn too_long_line_is_dropped_whole() {
        let (mut c, mut peer) = pair();
        let long = vec![b'x'; 40_000];
        peer.write_all(&long).unwrap();
        peer.write_all(b"\r\nnext\r\n").unwrap();
        assert_eq!(c.read_line(1000).unwrap(), LineRead::TooLong);
        assert_eq!(c.read_line(1000).unwrap(), LineRead::Line(b"next".to_vec()));
    }

    #[test]
    fn limit_is_exclusive_of_crlf() {
        let (mut c, mut peer) = pair();
        peer.write_all(b"abcd\r\nabcde\r\nabcd\n").unwrap();
        assert_eq!(c.read_line(4).unwrap(), LineRead::Line(b"abcd".to_vec()));
        assert_eq!(c.read_line(4).unwrap(), LineRead::TooLong);
        assert_eq!(c.read_line(4).unwrap(), LineRead::Line(b"abcd".to_vec()));
    }

    #[test]
    fn literal_then_line() {
        let (mut c, mut peer) = pair();
        let body = vec![b'm'; 50_000];
        peer.write_all(b"a APPEND INBOX {50000}\r\n").unwrap();
        let writer = std::thread::spawn({
            let mut peer = peer.try_clone().unwrap();
            let body = body.clone();
            move || {
                peer.write_all(&body).unwrap();
                peer.write_all(b" tail\r\nzzzz").unwrap();
            }
        });
        assert_eq!(
            c.read_line(100).unwrap(),
            LineRead::Line(b"a APPEND INBOX {50000}".to_vec())
        );
        let mut got = Vec::new();
        c.read_exact_into(50_000, &mut got).unwrap();
        assert_eq!(got, body);
        assert_eq!(c.read_line(100).unwrap(), LineRead::Line(b" tail".to_vec()));
        c.discard(2).unwrap();
        writer.join().unwrap();
        drop(peer);
        let mut rest = Vec::new();
        c.read_exact_into(2, &mut rest).unwrap();
        assert_eq!(rest, b"zz");
        let err = c.discard(1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }

    #[test]
    fn read_timeout() {
        let (mut c, _peer) = pair();
        c.set_read_timeout(Some(Duration::from_millis(50)));
        let err = c.read_line(10).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    }

    #[test]
    fn deadline_cuts_a_drip_that_beats_the_read_timeout() {
        let (mut c, peer) = pair();
        c.set_read_timeout(Some(Duration::from_secs(5)));
        c.set_deadline(Some(Instant::now() + Duration::from_millis(200)));
        let drip = std::thread::spawn(move || {
            let mut peer = peer;
            for _ in 0..40 {
                if peer.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        let err = c.read_line(1000).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(c);
        drip.join().unwrap();
    }

    #[test]
    fn a_write_timeout_is_final() {
        let (mut c, _peer) = pair();
        c.set_write_timeout(Some(Duration::from_millis(50)));
        // One buffer far larger than the socket takes: poll says "writable" when there is
        // room for some of it, and the write must not then block for the rest.
        let err = c.write_all(&vec![b'x'; 8 << 20]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        // Later writes fail at once, without another wait and without queueing.
        let started = Instant::now();
        assert_eq!(
            c.write_all(b"* BYE\r\n").unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        assert_eq!(c.flush().unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(c.outbuf.is_empty());
        assert!(started.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn after_the_deadline_writes_go_out_only_without_waiting() {
        let (mut c, mut peer) = pair();
        c.set_deadline(Some(Instant::now()));
        c.write_all(b"* BYE late\r\n").unwrap();
        c.flush().unwrap();
        let mut buf = [0u8; 64];
        let n = peer.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"* BYE late\r\n");
        assert_eq!(c.read_line(10).unwrap_err().kind(), ErrorKind::TimedOut);
    }

    #[test]
    fn writes_are_buffered_until_flush() {
        let (mut c, mut peer) = pair();
        c.write_all(b"* OK hi\r\n").unwrap();
        peer.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(peer.read(&mut buf).is_err());
        c.flush().unwrap();
        let n = peer.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"* OK hi\r\n");
        assert_eq!(c.bytes_written(), 9);
    }

    #[test]
    fn wait_sees_input_extra_and_timeout() {
        let (mut c, mut peer) = pair();
        let (extra_r, mut extra_w) = UnixStream::pair().unwrap();
        let t = Duration::from_millis(30);
        assert_eq!(c.wait(Some(extra_r.as_fd()), t).unwrap(), Wait::Timeout);
        extra_w.write_all(b"!").unwrap();
        assert_eq!(c.wait(Some(extra_r.as_fd()), t).unwrap(), Wait::Extra);
        peer.write_all(b"DONE\r\nNOOP\r\n").unwrap();
        assert_eq!(c.wait(None, t).unwrap(), Wait::Input);
        assert_eq!(c.read_line(10).unwrap(), LineRead::Line(b"DONE".to_vec()));
        // The second line is buffered now: input without polling.
        assert!(c.has_buffered_input());
        assert_eq!(c.wait(Some(extra_r.as_fd()), t).unwrap(), Wait::Input);
        assert_eq!(c.discard_buffered_input(), 6);
        assert!(!c.has_buffered_input());
    }

    #[test]
    fn tcp_addresses() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let c = Connection::from_socket(s.into());
        assert_eq!(c.peer_addr(), Some(client.local_addr().unwrap()));
        assert_eq!(c.local_addr(), Some(l.local_addr().unwrap()));
        let (u, _other) = UnixStream::pair().unwrap();
        assert_eq!(Connection::from_socket(u.into()).peer_addr(), None);
    }
}
