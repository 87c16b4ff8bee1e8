//! A message as POP3 sends it: every line ends in CRLF whatever the file on disk uses
//! (bare LF, CRLF), lines that start with `.` get one more (RFC 1939 byte-stuffing), and
//! TOP stops after the header and a number of body lines.
//!
//! One state machine serves both the transfer and the size: the size of a message is
//! what [`Encoder`] produces without stuffing, which is also what Courier counts for a
//! bare-LF file (its bytes, plus one CR per line, plus CRLF when the last line has none).

use std::io::{self, Read};

/// Turns file bytes into POP3 wire bytes, a chunk at a time.
#[derive(Debug, Clone)]
pub struct Encoder {
    stuff: bool,
    at_line_start: bool,
    /// A CR was read; whether it ends the line depends on the next byte.
    pending_cr: bool,
    line_len: u64,
    in_header: bool,
    /// TOP: body lines still to send (None: all of them).
    body_lines_left: Option<u64>,
    stopped: bool,
    header_8bit: bool,
}

impl Encoder {
    /// `stuff`: byte-stuff lines starting with `.` (false when only measuring);
    /// `top`: stop after the header and this many body lines.
    pub fn new(stuff: bool, top: Option<u64>) -> Encoder {
        Encoder {
            stuff,
            at_line_start: true,
            pending_cr: false,
            line_len: 0,
            in_header: true,
            body_lines_left: top,
            stopped: false,
            header_8bit: false,
        }
    }

    /// True once TOP has sent everything it will send; further input is ignored.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether the header had a byte above 127 (Courier's `isutf8` mark).
    pub fn header_8bit(&self) -> bool {
        self.header_8bit
    }

    /// Encode `input`, appending to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.stopped {
                return;
            }
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    self.end_line(out);
                    continue;
                }
                // A CR not followed by LF is data.
                self.data(b'\r', out);
                if self.stopped {
                    return;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.end_line(out),
                _ => self.data(b, out),
            }
        }
    }

    /// The end of the file: a last line without a line end gets CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            self.data(b'\r', out);
        }
        if !self.at_line_start && !self.stopped {
            out.extend_from_slice(b"\r\n");
            self.at_line_start = true;
        }
    }

    /// Called before the first byte of every line; false when TOP has had enough.
    fn begin(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        if self.at_line_start {
            if !self.in_header && self.body_lines_left == Some(0) {
                self.stopped = true;
                return false;
            }
            self.at_line_start = false;
        }
        true
    }

    fn data(&mut self, b: u8, out: &mut Vec<u8>) {
        let first = self.at_line_start;
        if !self.begin() {
            return;
        }
        if first && b == b'.' && self.stuff {
            out.push(b'.');
        }
        if self.in_header && b >= 0x80 {
            self.header_8bit = true;
        }
        out.push(b);
        self.line_len += 1;
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        if !self.begin() {
            return;
        }
        out.extend_from_slice(b"\r\n");
        if self.in_header {
            if self.line_len == 0 {
                self.in_header = false;
            }
        } else if let Some(left) = &mut self.body_lines_left {
            *left -= 1;
        }
        self.line_len = 0;
        self.at_line_start = true;
    }
}

/// Size of a message as POP3 sends it (CRLF line ends, no stuffing), and whether its
/// header has 8-bit bytes. Reads the file in fixed chunks: memory does not grow with it.
///
/// What [`Encoder`] would produce, counted in bulk: every byte, one CR per bare LF, and a
/// CRLF after a last line without one. Only the header goes through the encoder (for the
/// 8-bit mark); the first login to a large maildrop measures every message, and the body
/// bytes are counted at memory speed rather than one at a time.
pub fn measure(reader: &mut dyn Read) -> io::Result<(u64, bool)> {
    let mut header = Encoder::new(false, None);
    let mut scratch = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut bytes, mut bare_lf, mut last) = (0u64, 0u64, None::<u8>);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        if header.in_header {
            feed_header(&mut header, chunk, &mut scratch);
        }
        // An LF first in the chunk pairs with a CR that ended the previous one.
        let joined = last == Some(b'\r') && chunk[0] == b'\n';
        bare_lf += crate::message::bare_lf_count(chunk) as u64 - u64::from(joined);
        bytes += n as u64;
        last = Some(chunk[n - 1]);
    }
    let unterminated = last.is_some_and(|b| b != b'\n');
    Ok((
        bytes + bare_lf + if unterminated { 2 } else { 0 },
        header.header_8bit(),
    ))
}

/// Feeds `chunk` to `enc` a line at a time until the header has ended.
fn feed_header(enc: &mut Encoder, chunk: &[u8], scratch: &mut Vec<u8>) {
    let mut from = 0;
    for end in memchr::memchr_iter(b'\n', chunk)
        .map(|at| at + 1)
        .chain([chunk.len()])
    {
        enc.feed(&chunk[from..end], scratch);
        scratch.clear();
        from = end;
        if !enc.in_header {
            return;
        }
    }
}

/// Feeds `reader` through `enc` in fixed chunks, handing each encoded piece to `sink`
/// (until the encoder stops, e.g. after TOP's lines); returns the bytes encoded.
pub fn pump(
    reader: &mut dyn Read,
    enc: &mut Encoder,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(2 * buf.len() + 2);
    let mut total = 0u64;
    while !enc.stopped() {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.clear();
        enc.feed(&buf[..n], &mut out);
        sink(&out)?;
        total += out.len() as u64;
    }
    out.clear();
    enc.finish(&mut out);
    sink(&out)?;
    total += out.len() as u64;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(input: &[u8], stuff: bool, top: Option<u64>) -> Vec<u8> {
        let mut e = Encoder::new(stuff, top);
        let mut out = Vec::new();
        e.feed(input, &mut out);
        e.finish(&mut out);
        out
    }

    /// Feeding one byte at a time gives the same bytes as one big chunk.
    fn encode_bytewise(input: &[u8], stuff: bool, top: Option<u64>) -> Vec<u8> {
        let mut e = Encoder::new(stuff, top);
        let mut out = Vec::new();
        for b in input {
            e.feed(std::slice::from_ref(b), &mut out);
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn bare_lf_becomes_crlf_and_dots_are_stuffed() {
        let msg = b"Subject: x\n\n.hidden\nok\n..two\n.\n";
        let want = b"Subject: x\r\n\r\n..hidden\r\nok\r\n...two\r\n..\r\n";
        assert_eq!(encode(msg, true, None), want);
        assert_eq!(encode_bytewise(msg, true, None), want);
        let (size, utf8) = measure(&mut &msg[..]).unwrap();
        assert_eq!(size, msg.len() as u64 + 6);
        assert!(!utf8);
    }

    #[test]
    fn crlf_files_stay_as_they_are() {
        let msg = b"A: b\r\n\r\nbody\r\n";
        assert_eq!(encode(msg, true, None), msg);
        assert_eq!(measure(&mut &msg[..]).unwrap().0, msg.len() as u64);
    }

    #[test]
    fn last_line_without_end_and_bare_cr() {
        assert_eq!(
            encode(b"A: b\n\nno end", true, None),
            b"A: b\r\n\r\nno end\r\n"
        );
        assert_eq!(encode(b"x\ry\n", true, None), b"x\ry\r\n");
        assert_eq!(encode(b"x\r", true, None), b"x\r\r\n");
        assert_eq!(encode(b"\r.x\n", true, None), b"\r.x\r\n");
        assert_eq!(encode(b"", true, None), b"");
        assert_eq!(measure(&mut &b""[..]).unwrap().0, 0);
        assert_eq!(measure(&mut &b"abc"[..]).unwrap().0, 5);
    }

    #[test]
    fn top_sends_header_blank_line_and_n_lines() {
        let msg = b"A: 1\nB: 2\n\nl1\n.l2\nl3\n";
        assert_eq!(encode(msg, true, Some(0)), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(
            encode(msg, true, Some(2)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n"
        );
        assert_eq!(
            encode_bytewise(msg, true, Some(2)),
            encode(msg, true, Some(2))
        );
        assert_eq!(encode(msg, true, Some(99)), encode(msg, true, None));
        // CRLF files count lines the same way.
        let crlf = b"A: 1\r\n\r\nl1\r\nl2\r\n";
        assert_eq!(encode(crlf, true, Some(1)), b"A: 1\r\n\r\nl1\r\n");
        // No blank line: everything is header.
        assert_eq!(encode(b"A: 1\nB: 2", true, Some(0)), b"A: 1\r\nB: 2\r\n");
    }

    #[test]
    fn eight_bit_header_is_noticed_body_is_not() {
        assert!(measure(&mut &b"Subject: \xc3\xa9\n\nx\n"[..]).unwrap().1);
        assert!(!measure(&mut &b"Subject: e\n\n\xc3\xa9\n"[..]).unwrap().1);
    }

    /// Hands out its bytes a few at a time, so chunk edges fall everywhere.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn bulk_measure_equals_the_encoder_on_any_mix_and_any_chunking() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = [b'\r', b'\n', b'a', b'.', 0xc3, b' '];
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let mut enc = Encoder::new(false, None);
            let mut want = Vec::new();
            enc.feed(&input, &mut want);
            enc.finish(&mut want);
            let chunk = 1 + (next() % 7) as usize;
            let got = measure(&mut Dribble(&input, chunk)).unwrap();
            assert_eq!(
                got,
                (want.len() as u64, enc.header_8bit()),
                "{input:?} in chunks of {chunk}"
            );
        }
    }

    #[test]
    fn measure_equals_unstuffed_encoding_for_odd_inputs() {
        let samples: [&[u8]; 6] = [
            b"\n\n\n",
            b"\r\r\r",
            b"\r\n\r\n.",
            b"a\rb\r\nc\n\rd",
            b".\n..\n...\r\n",
            b"x",
        ];
        for s in samples {
            let (size, _) = measure(&mut &s[..]).unwrap();
            assert_eq!(size, encode(s, false, None).len() as u64, "{s:?}");
            assert_eq!(encode(s, true, None), encode_bytewise(s, true, None));
        }
    }
}
