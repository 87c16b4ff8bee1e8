//! COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951, no zlib header) in both
//! directions, between the IMAP bytes and the transport (so inside TLS when TLS is up).
//!
//! flate2 with its default pure-Rust backend (miniz_oxide) does the work: it is the
//! common, maintained deflate binding, its backend needs no C compiler nor build script,
//! and it adds about 3 s to a clean build on this machine (flate2, miniz_oxide, adler2,
//! crc32fast); the zlib backends (libz-sys, zlib-rs) would add a C or a larger Rust build
//! for no gain at IMAP's data rates.
//!
//! Memory is bounded in both directions: inflated input is written only into the
//! connection's fixed read buffer (so a "decompression bomb" of a few KiB that inflates
//! to gigabytes costs CPU in read-buffer-sized steps, each handed to the line and literal
//! limits, never memory), and compressed input is read in fixed chunks.

use std::io::{self, ErrorKind};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compressed bytes read from the transport at a time.
const INPUT_CHUNK: usize = 16 * 1024;

/// Both directions of one compressed connection.
pub struct Deflate {
    inflater: Decompress,
    deflater: Compress,
    /// Compressed input read from the transport and not yet inflated: `zin[start..end]`.
    zin: Box<[u8]>,
    start: usize,
    end: usize,
    /// The last inflate filled the space it was given: the inflater may hold more output
    /// (its window) even with no input left, so the next read asks it before the socket.
    maybe_more: bool,
    /// The client ended its deflate stream: no more input.
    finished: bool,
}

/// What [`Deflate::inflate`] needs next.
pub enum Inflated {
    /// This many bytes were written into the output buffer.
    Bytes(usize),
    /// The inflater needs more compressed input: read some with [`Deflate::input_space`].
    NeedInput,
    /// The client's deflate stream ended (or no byte will come again).
    End,
}

impl Deflate {
    /// Starts compression; `pending` is what the client sent after the COMPRESS command
    /// that was already read: its first compressed bytes.
    pub fn new(pending: &[u8]) -> Deflate {
        let mut zin = vec![0; INPUT_CHUNK.max(pending.len())].into_boxed_slice();
        zin[..pending.len()].copy_from_slice(pending);
        Deflate {
            inflater: Decompress::new(false),
            // Level 6, zlib's default: most of the gain at a fraction of level 9's CPU.
            deflater: Compress::new(Compression::default(), false),
            zin,
            start: 0,
            end: pending.len(),
            maybe_more: false,
            finished: false,
        }
    }

    /// Whether input is waiting in here (so polling the socket would be wrong).
    pub fn has_buffered_input(&self) -> bool {
        !self.finished && (self.start < self.end || self.maybe_more)
    }

    /// Where the next compressed bytes from the transport go; call [`Self::filled`] after.
    pub fn input_space(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        &mut self.zin[self.end..]
    }

    /// `n` compressed bytes were read into [`Self::input_space`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Inflates buffered input into `out` (at most `out.len()` bytes: the bound on what a
    /// read costs).
    pub fn inflate(&mut self, out: &mut [u8]) -> io::Result<Inflated> {
        if self.finished {
            return Ok(Inflated::End);
        }
        if self.start == self.end && !self.maybe_more {
            return Ok(Inflated::NeedInput);
        }
        let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
        let status = self
            .inflater
            .decompress(&self.zin[self.start..self.end], out, FlushDecompress::None)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, format!("COMPRESS: {e}")))?;
        self.start += (self.inflater.total_in() - in_before) as usize;
        let produced = (self.inflater.total_out() - out_before) as usize;
        self.maybe_more = produced == out.len() && !out.is_empty();
        if status == Status::StreamEnd {
            self.finished = true;
        }
        Ok(match produced {
            0 if self.finished => Inflated::End,
            0 => {
                self.maybe_more = false;
                Inflated::NeedInput
            }
            n => Inflated::Bytes(n),
        })
    }

    /// `bytes` deflated and sync-flushed (RFC 4978 §4: the client can act on every
    /// response as it arrives, so each batch of output ends in a flush).
    pub fn deflate(&mut self, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.deflater.total_in();
            self.deflater
                .compress_vec(&bytes[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| io::Error::other(format!("COMPRESS: {e}")))?;
            consumed += (self.deflater.total_in() - before) as usize;
            // The flush is complete when all input is in and output space was left over.
            if consumed == bytes.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_deflate(bytes: &[u8]) -> Vec<u8> {
        let mut d = Deflate::new(&[]);
        d.deflate(bytes).unwrap()
    }

    fn inflate_all(d: &mut Deflate, out_chunk: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = vec![0; out_chunk];
        loop {
            match d.inflate(&mut buf).unwrap() {
                Inflated::Bytes(n) => all.extend_from_slice(&buf[..n]),
                _ => return all,
            }
        }
    }

    #[test]
    fn round_trip_in_small_output_steps() {
        let text = b"a1 NOOP\r\n".repeat(1000);
        let z = raw_deflate(&text);
        let mut d = Deflate::new(&z);
        // Every step is bounded by the output space, however much the input inflates to.
        assert_eq!(inflate_all(&mut d, 7), text);
        assert!(!d.has_buffered_input());
    }

    #[test]
    fn input_arrives_in_pieces() {
        let text = b"a2 CAPABILITY\r\n".repeat(50);
        let z = raw_deflate(&text);
        let mut d = Deflate::new(&z[..3]);
        let mut got = inflate_all(&mut d, 1024);
        for chunk in z[3..].chunks(5) {
            d.input_space()[..chunk.len()].copy_from_slice(chunk);
            d.filled(chunk.len());
            got.extend(inflate_all(&mut d, 1024));
        }
        assert_eq!(got, text);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = Deflate::new(&[0xff; 32]);
        let mut buf = [0u8; 64];
        assert!(d.inflate(&mut buf).is_err());
    }
}
