//! Reading one IMAP command off the wire: a line, and for every `{n}`, `{n+}` (LITERAL+,
//! RFC 7888) or `~{n}` (literal8, RFC 3516) at its end, a literal and the next line. This
//! knows no grammar beyond the tag, the command name (to recognise APPEND) and the literal
//! markers; [`super::parser`] turns the pieces into a [`Command`].
//!
//! Limits are enforced before anything is buffered: a synchronizing literal that is too
//! large is refused without sending `+ ` (so the client never sends it), a LITERAL+ that is
//! too large is read and thrown away (the client sends it anyway) together with the rest of
//! its command, and in both cases the caller gets an error carrying the tag so it can answer
//! and go on with the next command.
//!
//! What one command holds in memory is bounded by [`FramingLimits::max_command`] however
//! the client splits it: every line and literal costs [`PIECE_COST`] besides its bytes and
//! the number of literals is capped, so floods of empty `{0+}` literals count too. Before
//! login an APPEND is refused at its first literal (nothing of its message is read or
//! kept), and after login its message is streamed into the store's spool (a file in the
//! Maildir's `tmp/`, CRLF turned into LF on the way), at most `max_append` bytes per
//! command; the store later renames that very file into place.
//!
//! Lines outside commands — the `DONE` that ends IDLE and the base64 lines of an
//! AUTHENTICATE exchange — are read by the session with [`Wire::read_line`] directly.

use std::io::{self, Write};

use super::command::{Command, LiteralData};
use super::parser;
use super::raw::{CommandError, ErrorKind, RawCommand};
use crate::net::conn::LineRead;
use crate::store::{self, Spool, Spooled};

/// The connection as the framing needs it. The session adapts the real connection (TLS or
/// not, with its timeouts) to this.
pub trait Wire {
    /// Reads one line of at most `max` bytes (not counting the line end).
    fn read_line(&mut self, max: usize) -> io::Result<LineRead>;
    /// Copies exactly `n` bytes into `sink`; EOF before that is `UnexpectedEof`.
    fn read_exact_into(&mut self, n: u64, sink: &mut dyn Write) -> io::Result<()>;
    /// Reads and drops exactly `n` bytes; EOF before that is `UnexpectedEof`.
    fn discard(&mut self, n: u64) -> io::Result<()>;
    /// Writes `+ text\r\n` and flushes.
    fn send_continuation(&mut self, text: &str) -> io::Result<()>;
}

/// Memory charged for each line and literal of a command beyond its bytes: the vector
/// that holds it and its slot in the command. Without this a flood of `{0+}` lines, each
/// holding no byte, would cost nothing against the limit while taking ~100 bytes each.
pub const PIECE_COST: u64 = 64;

/// Size limits for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingLimits {
    /// Longest line, without its line end.
    pub max_line: usize,
    /// Largest literal outside APPEND's message (mailbox names, search strings, passwords).
    pub max_literal: u64,
    /// Largest APPEND message (APPENDLIMIT).
    pub max_append: u64,
    /// Most bytes all messages of one APPEND may have together (MULTIAPPEND); at least
    /// `max_append` counts.
    pub max_append_total: u64,
    /// Most memory one command may hold: its lines, its in-memory literals, and
    /// [`PIECE_COST`] for each line and literal (an APPEND message held in memory, without
    /// a spool directory, may add `max_append`).
    pub max_command: u64,
    /// Most literals in one command (spooled ones included).
    pub max_literals: usize,
    /// Whether an APPEND may send its message. Before login it may not: the command is
    /// refused at its first literal, before any `+ ` and before any byte of it is kept.
    pub append: bool,
}

impl Default for FramingLimits {
    fn default() -> Self {
        FramingLimits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append: 64 * 1024 * 1024,
            max_append_total: 256 * 1024 * 1024,
            max_command: 256 * 1024,
            max_literals: 1000,
            append: true,
        }
    }
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralMarker {
    pub len: u64,
    /// `{n+}`: the client sends the data without waiting for `+ `.
    pub non_sync: bool,
    /// `~{n}`.
    pub binary: bool,
}

/// Why a trailing `{...}` is not a usable literal marker.
enum MarkerError {
    None,
    Overflow,
}

/// The literal marker at the end of `line`, if any.
pub fn literal_marker(line: &[u8]) -> Option<LiteralMarker> {
    marker(line).ok()
}

fn marker(line: &[u8]) -> Result<LiteralMarker, MarkerError> {
    let body = line.strip_suffix(b"}").ok_or(MarkerError::None)?;
    let open = body
        .iter()
        .rposition(|&b| b == b'{')
        .ok_or(MarkerError::None)?;
    let mut digits = &body[open + 1..];
    let non_sync = digits.last() == Some(&b'+');
    if non_sync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(MarkerError::None);
    }
    let mut len: u64 = 0;
    for &d in digits {
        len = len
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(MarkerError::Overflow)?;
    }
    let binary = open > 0 && body[open - 1] == b'~';
    Ok(LiteralMarker {
        len,
        non_sync,
        binary,
    })
}

/// The tag at the start of a line, if it is a valid one (RFC 3501 `tag`).
pub fn line_tag(line: &[u8]) -> Option<String> {
    let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let tag = &line[..end];
    parser::is_tag(tag).then(|| String::from_utf8_lossy(tag).into_owned())
}

fn is_append(first_line: &[u8]) -> bool {
    let mut words = first_line.split(|&b| b == b' ');
    words.next();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
}

/// Opens the store's spool for one APPEND message (after login, `Maildir::spool`), given
/// the mailbox the command names as sent (see [`append_mailbox`]).
pub type SpoolOpener<'a> = &'a dyn Fn(Option<&[u8]>) -> store::Result<Spool>;

/// Reads one complete command and parses it. See the module docs for the limits. With
/// `spool`, an APPEND's message literal is streamed into a spool from it and arrives as
/// [`LiteralData::Spooled`]; without it, in memory.
pub fn read_command(
    wire: &mut dyn Wire,
    limits: &FramingLimits,
    spool: Option<SpoolOpener<'_>>,
) -> Result<Command, CommandError> {
    let raw = read_raw_command(wire, limits, spool)?;
    parser::parse_command(raw)
}

/// Reads the pieces of one command without parsing them (see [`read_command`]).
pub fn read_raw_command(
    wire: &mut dyn Wire,
    limits: &FramingLimits,
    spool: Option<SpoolOpener<'_>>,
) -> Result<RawCommand, CommandError> {
    let first = match wire.read_line(limits.max_line)? {
        LineRead::Line(l) => l,
        LineRead::TooLong => {
            return Err(CommandError::new(
                None,
                ErrorKind::TooBig("command line too long".into()),
            ));
        }
        LineRead::Eof => return Err(CommandError::new(None, ErrorKind::Eof)),
    };
    let mut budget = Budget::new(&first, limits, spool.is_some());
    let tag = line_tag(&first);
    let mut raw = RawCommand {
        lines: vec![first],
        literals: Vec::new(),
    };
    let err = |kind| CommandError::new(tag.clone(), kind);
    loop {
        let line = raw.lines.last().map(Vec::as_slice).unwrap_or_default();
        let m = match marker(line) {
            Ok(m) => m,
            Err(MarkerError::None) => return Ok(raw),
            Err(MarkerError::Overflow) => {
                return Err(err(ErrorKind::BadSyntax(
                    "literal size out of range".into(),
                )));
            }
        };
        // In an APPEND, the message is every literal but a mailbox name given as a literal
        // right after the command name.
        let is_message =
            budget.append && (m.binary || !(raw.literals.is_empty() && words(&raw.lines[0]) == 3));
        let spooling = is_message && spool.is_some();
        if let Some(refusal) = budget.refuse(&m, is_message, spooling, raw.literals.len()) {
            if m.non_sync {
                drain_rest(wire, limits, m.len)?;
            }
            return Err(err(refusal));
        }
        if !m.non_sync {
            wire.send_continuation("Ready")?;
        }
        let data = match spool.filter(|_| spooling) {
            Some(open) => {
                let mailbox = append_mailbox(&raw);
                let spooled = spool_literal(wire, || open(mailbox.as_deref()), m.len);
                LiteralData::Spooled(spooled.map_err(|e| err(io_kind(e)))?)
            }
            None => {
                // The length was checked against the limits, so this buffer is bounded.
                let mut buf = Vec::with_capacity(usize::try_from(m.len).unwrap_or(0));
                wire.read_exact_into(m.len, &mut buf)
                    .map_err(|e| err(io_kind(e)))?;
                LiteralData::Memory(buf)
            }
        };
        budget.take_literal(m.len, spooling);
        raw.literals.push(data);
        let line = match wire.read_line(limits.max_line)? {
            LineRead::Line(l) => l,
            LineRead::TooLong => {
                return Err(err(ErrorKind::TooBig("command line too long".into())));
            }
            LineRead::Eof => return Err(err(ErrorKind::Eof)),
        };
        if !budget.fits_line(&line) {
            // The line was read whole, so a LITERAL+ at its end can still be drained.
            if let Some(m) = literal_marker(&line).filter(|m| m.non_sync) {
                drain_rest(wire, limits, m.len)?;
            }
            return Err(err(ErrorKind::TooBig("command too long".into())));
        }
        budget.take_line(&line);
        raw.lines.push(line);
    }
}

/// A failed literal read as the command's error: EOF is the client leaving.
fn io_kind(e: io::Error) -> ErrorKind {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ErrorKind::Eof
    } else {
        ErrorKind::Io(e)
    }
}

/// What one command may still take, and what it holds so far.
struct Budget {
    limits: FramingLimits,
    /// The command is an APPEND.
    append: bool,
    /// Most memory the command may hold.
    memory_cap: u64,
    /// Memory held: bytes of lines and in-memory literals, plus [`PIECE_COST`] each.
    held: u64,
    /// Bytes of APPEND message written to the spool directory.
    spooled: u64,
}

impl Budget {
    fn new(first: &[u8], limits: &FramingLimits, spool: bool) -> Budget {
        let append = is_append(first);
        // Without a spool directory an APPEND message is held in memory (tests, fuzzing).
        let memory_cap = if append && !spool && limits.append {
            limits.max_command.saturating_add(limits.max_append)
        } else {
            limits.max_command
        };
        Budget {
            limits: *limits,
            append,
            memory_cap,
            held: PIECE_COST + first.len() as u64,
            spooled: 0,
        }
    }

    /// Why the literal `m` may not be read, if it may not; checked before `+ ` is sent
    /// and before any byte of it is read.
    fn refuse(
        &self,
        m: &LiteralMarker,
        is_message: bool,
        spooling: bool,
        literals: usize,
    ) -> Option<ErrorKind> {
        if self.append && !self.limits.append {
            return Some(ErrorKind::BadSyntax(
                "APPEND needs you to log in first".into(),
            ));
        }
        if literals >= self.limits.max_literals {
            return Some(ErrorKind::TooBig(format!(
                "more than {} literals in one command",
                self.limits.max_literals
            )));
        }
        let (limit, what) = if is_message {
            (self.limits.max_append, "message")
        } else {
            (self.limits.max_literal, "literal")
        };
        let over = if spooling {
            // Each message against APPENDLIMIT (RFC 7889 §3 limits one message), and all
            // of a MULTIAPPEND's together against the total.
            let total = self.limits.max_append_total.max(self.limits.max_append);
            m.len > limit || m.len > total.saturating_sub(self.spooled)
        } else {
            m.len > limit || self.held + PIECE_COST + m.len > self.memory_cap
        };
        over.then(|| {
            ErrorKind::TooBig(format!(
                "{what} of {} bytes is larger than the limit",
                m.len
            ))
        })
    }

    fn take_literal(&mut self, len: u64, spooled: bool) {
        self.held += PIECE_COST;
        if spooled {
            self.spooled += len;
        } else {
            self.held += len;
        }
    }

    /// Whether the command still has room for `line`.
    fn fits_line(&self, line: &[u8]) -> bool {
        self.held + PIECE_COST + line.len() as u64 <= self.memory_cap
    }

    fn take_line(&mut self, line: &[u8]) {
        self.held += PIECE_COST + line.len() as u64;
    }
}

/// Number of space-separated words in a line.
fn words(line: &[u8]) -> usize {
    line.split(|&b| b == b' ').count()
}

/// After an oversized LITERAL+: drops it and the rest of the command, which the client sends
/// without waiting. Later LITERAL+ literals are dropped too; a synchronizing one ends the
/// command (the client waits for `+ ` it won't get and sees the tagged answer instead).
fn drain_rest(wire: &mut dyn Wire, limits: &FramingLimits, first: u64) -> io::Result<()> {
    let mut n = first;
    loop {
        wire.discard(n)?;
        match wire.read_line(limits.max_line)? {
            LineRead::Line(l) => match marker(&l) {
                Ok(m) if m.non_sync => n = m.len,
                _ => return Ok(()),
            },
            LineRead::TooLong | LineRead::Eof => return Ok(()),
        }
    }
}

/// The mailbox an APPEND names, as sent, so its message can be spooled in that folder's
/// `tmp/`: the literal right after the command name, or the atom or quoted string there.
/// Only a hint — the parser has the last word on the command, and a message spooled
/// elsewhere in the Maildir still gets into place — so anything unusual is `None`.
fn append_mailbox(raw: &RawCommand) -> Option<Vec<u8>> {
    if words(&raw.lines[0]) == 3 && raw.lines.len() > 1 {
        return match raw.literals.first()? {
            LiteralData::Memory(name) => Some(name.clone()),
            LiteralData::Spooled(_) => None,
        };
    }
    let mut rest = raw.lines[0].splitn(3, |&b| b == b' ').nth(2)?;
    let Some(quoted) = rest.strip_prefix(b"\"") else {
        let end = rest.iter().position(|&b| b == b' ')?;
        return Some(rest[..end].to_vec());
    };
    rest = quoted;
    let mut name = Vec::new();
    loop {
        match rest {
            [b'\\', c, tail @ ..] => {
                name.push(*c);
                rest = tail;
            }
            [b'"', ..] => return Some(name),
            [c, tail @ ..] => {
                name.push(*c);
                rest = tail;
            }
            [] => return None,
        }
    }
}

/// Streams the next `len` bytes into a new spool. Any failure (the client leaving, a
/// full disk) drops the spool, which removes its file.
fn spool_literal(
    wire: &mut dyn Wire,
    open: impl FnOnce() -> store::Result<Spool>,
    len: u64,
) -> io::Result<Spooled> {
    let mut spool = open().map_err(|e| match e {
        store::StoreError::Io(e) => e,
        other => io::Error::other(other),
    })?;
    wire.read_exact_into(len, &mut spool)?;
    spool.finish()
}

/// An in-memory [`Wire`] over a byte string, for tests and fuzzing: lines end at LF (a CR
/// before it is dropped); continuations are recorded in `sent`.
#[derive(Debug, Default)]
pub struct MemoryWire {
    pub input: Vec<u8>,
    pub pos: usize,
    pub sent: Vec<u8>,
}

impl MemoryWire {
    pub fn new(input: impl Into<Vec<u8>>) -> MemoryWire {
        MemoryWire {
            input: input.into(),
            pos: 0,
            sent: Vec::new(),
        }
    }

    /// What has not been read yet.
    pub fn rest(&self) -> &[u8] {
        &self.input[self.pos..]
    }

    fn take(&mut self, n: u64) -> io::Result<&[u8]> {
        let avail = (self.input.len() - self.pos) as u64;
        if n > avail {
            self.pos = self.input.len();
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.input[start..self.pos])
    }
}

impl Wire for MemoryWire {
    fn read_line(&mut self, max: usize) -> io::Result<LineRead> {
        let rest = &self.input[self.pos..];
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            self.pos = self.input.len();
            return Ok(LineRead::Eof);
        };
        self.pos += lf + 1;
        let line = rest[..lf].strip_suffix(b"\r").unwrap_or(&rest[..lf]);
        if line.len() > max {
            return Ok(LineRead::TooLong);
        }
        Ok(LineRead::Line(line.to_vec()))
    }

    fn read_exact_into(&mut self, n: u64, sink: &mut dyn Write) -> io::Result<()> {
        let data = self.take(n)?;
        sink.write_all(data)
    }

    fn discard(&mut self, n: u64) -> io::Result<()> {
        self.take(n).map(|_| ())
    }

    fn send_continuation(&mut self, text: &str) -> io::Result<()> {
        self.sent.extend_from_slice(b"+ ");
        self.sent.extend_from_slice(text.as_bytes());
        self.sent.extend_from_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::command::CommandBody;
    use crate::store::spool::LineEnds;
    use proptest::prelude::*;
    use std::path::Path;

    /// A spool opener over a bare directory (a folder's `tmp/` in the server).
    fn spool_in(dir: &Path) -> impl Fn(Option<&[u8]>) -> store::Result<Spool> + '_ {
        move |_| Ok(Spool::create(dir, LineEnds::ToLf)?)
    }

    fn limits() -> FramingLimits {
        FramingLimits {
            max_line: 200,
            max_literal: 100,
            max_append: 1000,
            max_append_total: 1500,
            max_command: 1000,
            max_literals: 20,
            append: true,
        }
    }

    fn before_login() -> FramingLimits {
        FramingLimits {
            append: false,
            ..limits()
        }
    }

    fn next(wire: &mut MemoryWire) -> Result<Command, CommandError> {
        read_command(wire, &limits(), None)
    }

    #[test]
    fn synchronizing_literal_gets_a_continuation() {
        let mut w = MemoryWire::new(&b"a LOGIN {4}\r\nfred {6}\r\nse\r\nre\r\nb NOOP\r\n"[..]);
        let c = next(&mut w).unwrap();
        assert_eq!(
            c.body,
            CommandBody::Login {
                username: "fred".into(),
                password: b"se\r\nre".to_vec()
            }
        );
        assert_eq!(w.sent, b"+ Ready\r\n+ Ready\r\n");
        assert_eq!(next(&mut w).unwrap().body, CommandBody::Noop);
    }

    #[test]
    fn literal_plus_gets_none() {
        let mut w = MemoryWire::new(&b"a LOGIN {4+}\r\nfred {2+}\r\npw\r\n"[..]);
        assert!(matches!(
            next(&mut w).unwrap().body,
            CommandBody::Login { .. }
        ));
        assert!(w.sent.is_empty());
    }

    #[test]
    fn oversized_sync_literal_is_refused_before_reading() {
        // The client waits for "+" and sends nothing more: the next line is a new command.
        let mut w = MemoryWire::new(&b"a LOGIN {101}\r\nb NOOP\r\n"[..]);
        let e = next(&mut w).unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("a"));
        assert!(matches!(e.kind, ErrorKind::TooBig(_)), "{e:?}");
        assert!(w.sent.is_empty());
        assert_eq!(w.rest(), b"b NOOP\r\n");
        assert_eq!(next(&mut w).unwrap().tag, "b");
    }

    #[test]
    fn oversized_literal_plus_is_drained_in_sync() {
        let big = "x".repeat(150);
        let input = format!("a LOGIN {{150+}}\r\n{big} {{3+}}\r\nabc\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input);
        let e = next(&mut w).unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("a"));
        assert!(matches!(e.kind, ErrorKind::TooBig(_)));
        assert!(e.is_recoverable());
        assert!(w.sent.is_empty());
        assert_eq!(next(&mut w).unwrap().body, CommandBody::Noop);
    }

    #[test]
    fn append_uses_its_own_limit_and_spools() {
        let dir = tempfile::tempdir().unwrap();
        let msg = "m".repeat(500);
        let input = format!("a APPEND {{5}}\r\nINBOX (\\Seen) {{500}}\r\n{msg}\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input);
        let c = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap();
        let CommandBody::Append {
            mailbox, message, ..
        } = c.body
        else {
            panic!()
        };
        assert_eq!(mailbox, "INBOX");
        assert_eq!(w.sent, b"+ Ready\r\n+ Ready\r\n");
        let LiteralData::Spooled(file) = message else {
            panic!("not spooled")
        };
        assert_eq!(file.received(), 500);
        assert!(file.path().starts_with(dir.path()));
        assert_eq!(std::fs::read(file.path()).unwrap(), msg.as_bytes());
        let path = file.path().to_owned();
        drop(file);
        assert!(!path.exists(), "dropped spool file must be removed");
        assert_eq!(next(&mut w).unwrap().body, CommandBody::Noop);

        // The message is spooled with LF line ends (every split of the reads is tried in
        // the store's spool tests).
        let mut w = MemoryWire::new(&b"a APPEND INBOX {9}\r\na\r\nb\r\n\r\r\n\r\n"[..]);
        let c = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap();
        let CommandBody::Append {
            message: LiteralData::Spooled(file),
            ..
        } = c.body
        else {
            panic!()
        };
        assert_eq!(std::fs::read(file.path()).unwrap(), b"a\nb\n\r\n");
        assert_eq!(file.received(), 9);
        drop(file);

        // Too big for APPEND: refused before reading, nothing spooled.
        let mut w = MemoryWire::new(&b"a APPEND INBOX {1001}\r\nb NOOP\r\n"[..]);
        let e = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TooBig(_)));
        assert_eq!(next(&mut w).unwrap().tag, "b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        // A parse error after spooling leaves nothing behind.
        let mut w = MemoryWire::new(&b"a APPEND INBOX {3}\r\nabc junk\r\n"[..]);
        assert!(read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).is_err());
        // EOF in the middle of the message, too.
        let mut w = MemoryWire::new(&b"a APPEND INBOX {30}\r\nabc"[..]);
        let e = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Eof), "{e:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn append_without_spool_stays_in_memory() {
        let mut w = MemoryWire::new(&b"a APPEND INBOX {300}\r\n"[..]);
        w.input.extend(std::iter::repeat_n(b'x', 300));
        w.input.extend_from_slice(b"\r\n");
        let c = next(&mut w).unwrap();
        let CommandBody::Append { message, .. } = c.body else {
            panic!()
        };
        assert_eq!(message.len(), 300);
        assert!(matches!(message, LiteralData::Memory(_)));
        // 300 bytes would be too big anywhere but in APPEND.
        let mut w = MemoryWire::new(&b"a LOGIN u {300}\r\n"[..]);
        assert!(matches!(
            next(&mut w).unwrap_err().kind,
            ErrorKind::TooBig(_)
        ));
    }

    #[test]
    fn long_lines_and_eof() {
        let mut w = MemoryWire::new(format!("a NOOP {}\r\nb NOOP\r\n", "x".repeat(300)));
        let e = next(&mut w).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TooBig(_)) && e.tag.is_none());
        assert_eq!(next(&mut w).unwrap().tag, "b");
        assert!(matches!(next(&mut w).unwrap_err().kind, ErrorKind::Eof));
        let mut w = MemoryWire::new(&b"a LOGIN {4}\r\nfr"[..]);
        let e = next(&mut w).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Eof) && !e.is_recoverable());
        let mut w = MemoryWire::new(&b"a LOGIN {99999999999999999999999}\r\n"[..]);
        assert!(next(&mut w).is_err());
    }

    #[test]
    fn many_small_literals_are_bounded() {
        // Each literal is small, but together they exceed what one command may hold.
        let mut input = b"a ID (".to_vec();
        for _ in 0..100 {
            input.extend_from_slice(b"{90+}\r\n");
            input.extend(std::iter::repeat_n(b'k', 90));
            input.extend_from_slice(b" NIL ");
        }
        input.extend_from_slice(b"\"x\" NIL)\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input);
        let e = next(&mut w).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TooBig(_)), "{e:?}");
        assert_eq!(next(&mut w).unwrap().tag, "b");
    }

    #[test]
    fn append_before_login_is_refused_before_any_continuation() {
        // Synchronizing: no "+", so the client never sends the 60 MB.
        let mut w = MemoryWire::new(&b"a APPEND INBOX {62914560}\r\nb NOOP\r\n"[..]);
        let e = read_command(&mut w, &before_login(), None).unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("a"));
        assert!(
            matches!(&e.kind, ErrorKind::BadSyntax(m) if m.contains("log in")),
            "{e:?}"
        );
        assert!(w.sent.is_empty());
        assert_eq!(next(&mut w).unwrap().tag, "b");
        // LITERAL+: the bytes come anyway and are drained, never kept.
        let mut input = b"a APPEND INBOX {5000+}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input);
        assert!(read_command(&mut w, &before_login(), None).is_err());
        assert!(w.sent.is_empty());
        assert_eq!(next(&mut w).unwrap().tag, "b");
    }

    #[test]
    fn empty_literal_flood_is_bounded_by_bookkeeping_and_count() {
        // `{0+}` lines hold no bytes, but each costs PIECE_COST twice (line and literal).
        let mut input = b"a LOGIN {0+}\r\n".to_vec();
        for _ in 0..10_000 {
            input.extend_from_slice(b"{0+}\r\n");
        }
        input.extend_from_slice(b"x\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input.clone());
        let lots = FramingLimits {
            max_literals: usize::MAX,
            ..limits()
        };
        let e = read_command(&mut w, &lots, None).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TooBig(_)), "{e:?}");
        assert_eq!(next(&mut w).unwrap().tag, "b");
        // With room to spare in bytes, the number of literals is capped.
        let roomy = FramingLimits {
            max_command: 1 << 30,
            ..limits()
        };
        let mut w = MemoryWire::new(input);
        let e = read_command(&mut w, &roomy, None).unwrap_err();
        assert!(
            matches!(&e.kind, ErrorKind::TooBig(m) if m.contains("more than 20 literals")),
            "{e:?}"
        );
        assert_eq!(next(&mut w).unwrap().tag, "b");
    }

    #[test]
    fn spooled_append_messages_have_a_total_limit() {
        // MULTIAPPEND: each message up to max_append, all together up to
        // max_append_total.
        let dir = tempfile::tempdir().unwrap();
        let msg = "m".repeat(600);
        let input = format!("a APPEND INBOX {{600+}}\r\n{msg} {{600+}}\r\n{msg}\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input);
        {
            let c = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap();
            let CommandBody::Append { more, .. } = c.body else {
                panic!("{c:?}")
            };
            assert_eq!(more.len(), 1);
        }
        assert_eq!(next(&mut w).unwrap().tag, "b");
        // A third brings the total past 1500: refused, drained, nothing left behind.
        let input = format!(
            "a APPEND INBOX {{600+}}\r\n{msg} {{600+}}\r\n{msg} {{600+}}\r\n{msg}\r\nb NOOP\r\n"
        );
        let mut w = MemoryWire::new(input);
        let e = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TooBig(_)), "{e:?}");
        assert_eq!(next(&mut w).unwrap().tag, "b");
        // One message past max_append, though the total has room.
        let big = "m".repeat(1001);
        let input = format!("a APPEND INBOX {{1001+}}\r\n{big}\r\nb NOOP\r\n");
        let mut w = MemoryWire::new(input);
        let e = read_command(&mut w, &limits(), Some(&spool_in(dir.path()))).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::TooBig(_)), "{e:?}");
        assert_eq!(next(&mut w).unwrap().tag, "b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn append_mailbox_hint() {
        let raw = |lines: &[&str], literals: &[&str]| RawCommand {
            lines: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
            literals: literals
                .iter()
                .map(|l| LiteralData::Memory(l.as_bytes().to_vec()))
                .collect(),
        };
        let hint = |lines: &[&str], literals: &[&str]| {
            append_mailbox(&raw(lines, literals)).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(
            hint(&["a APPEND INBOX.x {5}"], &[]).as_deref(),
            Some("INBOX.x")
        );
        assert_eq!(
            hint(
                &["a APPEND inbox (\\Seen) \"1-Jan-2020 00:00:00 +0000\" {5}"],
                &[]
            )
            .as_deref(),
            Some("inbox")
        );
        assert_eq!(
            hint(&[r#"a APPEND "INBOX.a \"b\" \\c" {5}"#], &[]).as_deref(),
            Some(r#"INBOX.a "b" \c"#)
        );
        assert_eq!(
            hint(&["a APPEND {7}", " {5}"], &["INBOX.y"]).as_deref(),
            Some("INBOX.y")
        );
        assert_eq!(hint(&["a APPEND ~{5}"], &[]), None);
        assert_eq!(hint(&["a APPEND \"unterminated {5}"], &[]), None);
    }

    #[test]
    fn markers() {
        let m = |s: &str| literal_marker(s.as_bytes());
        assert_eq!(
            m("a {5}"),
            Some(LiteralMarker {
                len: 5,
                non_sync: false,
                binary: false
            })
        );
        assert_eq!(
            m("a ~{0+}").map(|m| (m.non_sync, m.binary)),
            Some((true, true))
        );
        for none in ["a {}", "a {+}", "a {5", "a 5}", "a {x}", "a {5}x", ""] {
            assert_eq!(m(none), None, "{none:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut w = MemoryWire::new(input);
            for _ in 0..50 {
                if matches!(read_command(&mut w, &limits(), None), Err(CommandError { kind: ErrorKind::Eof, .. })) {
                    break;
                }
            }
        }

        #[test]
        fn command_like_input_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("a ".to_string()), Just("UID ".to_string()), Just("FETCH ".to_string()),
                    Just("SEARCH ".to_string()), Just("APPEND ".to_string()), Just("(".to_string()),
                    Just(")".to_string()), Just("{3}\r\n".to_string()), Just("{2+}\r\n".to_string()),
                    Just("~{1}\r\n".to_string()), Just("\"".to_string()), Just("1:*".to_string()),
                    Just("BODY[".to_string()), Just("]".to_string()), Just("<0.1>".to_string()),
                    Just("\r\n".to_string()), Just(" ".to_string()), Just("NOT ".to_string()),
                    Just("LIST ".to_string()), Just("STORE ".to_string()), Just("\\Seen".to_string()),
                    "[a-zA-Z0-9.*%:,-]{1,8}",
                ],
                0..40,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut w = MemoryWire::new(parts.concat());
            for _ in 0..50 {
                if matches!(read_command(&mut w, &limits(), Some(&spool_in(dir.path()))), Err(CommandError { kind: ErrorKind::Eof, .. })) {
                    break;
                }
            }
            prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }
}
