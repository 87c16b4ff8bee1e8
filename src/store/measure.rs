//! What the first FETCH of sizes and dates needs of a message file whose name carries no
//! `,W=`: its size with CRLF line ends (RFC822.SIZE) and its mtime (INTERNALDATE), both
//! from one open: `fstat` on the open descriptor gives the mtime and the file size, and one
//! bulk scan of the bytes counts the bare LFs (see [`WireCounter`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

use super::filename::WireCounter;

/// A message file's RFC822.SIZE and INTERNALDATE, measured together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// The size with every bare LF counted as CRLF.
    pub wire_size: u64,
    /// The file's mtime in Unix seconds (postern's INTERNALDATE).
    pub internal_date: i64,
}

/// Measures an open message file: `fstat` for the date, then the bytes in chunks through
/// the bulk LF counter (one reused buffer, see [`WireCounter::feed_all`]). Both come from
/// the descriptor the caller found the message by, so a rename by another session in
/// between cannot give the size of one file and the date of another, and a message costs
/// one open, one fstat and its reads instead of an open and a stat by path.
pub fn measure_file(file: &mut File) -> io::Result<Measured> {
    let meta = file.metadata()?;
    let mut counter = WireCounter::default();
    counter.feed_all(file)?;
    Ok(Measured {
        wire_size: counter.wire_size(),
        internal_date: meta.mtime(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn measured(bytes: &[u8]) -> Measured {
        use std::io::Seek;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        measure_file(&mut f).unwrap()
    }

    #[test]
    fn counts_bare_lf_and_reads_the_date() {
        assert_eq!(measured(b"").wire_size, 0);
        assert_eq!(measured(b"a\nb\r\nc\n").wire_size, 9);
        assert_eq!(measured(b"\r\n\r\n").wire_size, 4);
        assert_eq!(measured(b"\n\n\r").wire_size, 5);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((measured(b"x").internal_date - now).abs() < 60);
    }

    #[test]
    fn large_files_span_chunks() {
        // CR at the end of one chunk, LF at the start of the next.
        let mut bytes = vec![b'x'; 256 * 1024 - 1];
        bytes.extend_from_slice(b"\r\n");
        bytes.extend(std::iter::repeat_n(b"ab\n".as_slice(), 100_000).flatten());
        let expected = bytes.len() as u64 + 100_000;
        assert_eq!(measured(&bytes).wire_size, expected);
    }
}
