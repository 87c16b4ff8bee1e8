//! Maildir file names: unique names `<sec>.M<usec>P<pid>V<dev>I<ino>_<n>.<host>,S=<size>`,
//! the `,S=` size, and the `:2,` info that carries the flags.

use std::cmp::Ordering;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Splits a file name into its basename (everything before the first `:`) and the info
/// after `:2,` (None when there is no `:2,` part).
pub fn split_info(filename: &str) -> (&str, Option<&str>) {
    match filename.split_once(':') {
        Some((base, rest)) => (base, rest.strip_prefix("2,")),
        None => (filename, None),
    }
}

/// The `,S=<size>` value in a basename (Maildir++ size), if present.
pub fn size_from_name(basename: &str) -> Option<u64> {
    name_number(basename, ",S=")
}

/// The `,W=<size>` value in a basename: the size with CRLF line ends, which IMAP's
/// RFC822.SIZE and POP3's LIST report (the convention Dovecot uses too).
pub fn wire_size_from_name(basename: &str) -> Option<u64> {
    name_number(basename, ",W=")
}

fn name_number(basename: &str, key: &str) -> Option<u64> {
    let basename = split_info(basename).0;
    let start = basename.find(key)? + key.len();
    let digits: &str = basename[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    if digits.is_empty() {
        None
    } else {
        digits.parse().ok()
    }
}

/// The leading decimal number of a name (its delivery time), 0 when there is none.
pub fn leading_number(name: &str) -> u64 {
    let end = name
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(name.len());
    name[..end].parse().unwrap_or(0)
}

/// When the message was saved into its folder (RFC 8514's save date): the leading
/// seconds of its unique name, `None` when the name does not start with them.
///
/// Every way a message enters a folder makes a new name at that moment: delivery and
/// APPEND name the file in `tmp/` as it is written, and COPY and MOVE (postern's and
/// Courier's) give the copy a fresh name. Flag changes keep the name (only the `:2,` info
/// changes), so the date survives them, and it needs no file of its own.
pub fn save_time(basename: &str) -> Option<i64> {
    let digits = basename.split_once('.')?.0;
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&t| t > 0)
}

/// The order in which new messages get UIDs, as Courier's scan gives them: by leading
/// number (the delivery second), then the names bytewise up to the `:` of the info.
///
/// Bytewise is only as fine as the names are: postern writes the microseconds with six
/// digits (see [`UniqueName`]) so that its own same-second names sort by time here and in
/// Courier alike.
pub fn cmp_new(a: &str, b: &str) -> Ordering {
    leading_number(a)
        .cmp(&leading_number(b))
        .then_with(|| split_info(a).0.as_bytes().cmp(split_info(b).0.as_bytes()))
}

/// Sorts `names` in [`cmp_new`]'s order, working each name's key out once: the first
/// listing of a folder numbers all of its names, and parsing both names at every
/// comparison was a sixth of a cold SELECT of 10,000 messages.
pub fn sort_new(names: &mut [&str]) {
    names.sort_by_cached_key(|n| (leading_number(n), split_info(n).0));
}

/// The host part of unique names, with the characters that would break the name escaped
/// as the Maildir convention says (`/` and `:` as octal; `,` too, for `,S=` parsing).
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string());
        let mut out = String::new();
        for c in raw.chars() {
            match c {
                '/' => out.push_str("\\057"),
                ':' => out.push_str("\\072"),
                ',' => out.push_str("\\054"),
                c if c.is_control() || c == ' ' => {}
                c => out.push(c),
            }
        }
        if out.is_empty() {
            out.push_str("localhost");
        }
        out
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The parts of a unique name known before the file exists; the device and inode are
/// added once the file has been created in tmp/.
///
/// The microseconds are written with six digits (`M042017`, not `M42017`): new messages
/// are numbered in name order, bytewise within a second (Courier's order too), and a
/// shorter number would put a later delivery or copy of the same second first.
#[derive(Debug, Clone)]
pub struct UniqueName {
    pub sec: u64,
    pub usec: u32,
    pub pid: u32,
    pub n: u64,
}

impl UniqueName {
    pub fn new() -> UniqueName {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UniqueName {
            sec: now.as_secs(),
            usec: now.subsec_micros(),
            pid: std::process::id(),
            n: COUNTER.fetch_add(1, AtomicOrdering::Relaxed),
        }
    }

    /// The name used in tmp/ before device and inode are known.
    pub fn tmp_name(&self) -> String {
        format!(
            "{}.M{:06}P{}_{}.{}",
            self.sec,
            self.usec,
            self.pid,
            self.n,
            host()
        )
    }

    /// The final basename, with the file's device and inode and, when known, its size
    /// and its size with CRLF line ends.
    pub fn final_name(&self, dev: u64, ino: u64, size: Option<u64>, wire: Option<u64>) -> String {
        let mut s = format!(
            "{}.M{:06}P{}V{:016X}I{:016X}_{}.{}",
            self.sec,
            self.usec,
            self.pid,
            dev,
            ino,
            self.n,
            host()
        );
        if let Some(size) = size {
            s.push_str(&format!(",S={size}"));
        }
        if let Some(wire) = wire {
            s.push_str(&format!(",W={wire}"));
        }
        s
    }
}

impl Default for UniqueName {
    fn default() -> Self {
        UniqueName::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_size() {
        let n = "1795868689.M552785P29812V000000000000FE00I000000000099DD8E_0.vm,S=18:2,S";
        let (base, info) = split_info(n);
        assert_eq!(
            base,
            "1795868689.M552785P29812V000000000000FE00I000000000099DD8E_0.vm,S=18"
        );
        assert_eq!(info, Some("S"));
        assert_eq!(size_from_name(n), Some(18));
        assert_eq!(size_from_name("1.M1P1.host"), None);
        assert_eq!(size_from_name("1.M1P1.host,S=12,W=14"), Some(12));
        assert_eq!(wire_size_from_name("1.M1P1.host,S=12,W=14:2,S"), Some(14));
        assert_eq!(wire_size_from_name("1.M1P1.host,S=12"), None);
        assert_eq!(size_from_name("1.M1P1.host,S="), None);
        assert_eq!(split_info("a"), ("a", None));
        assert_eq!(split_info("a:2,"), ("a", Some("")));
        assert_eq!(split_info("a:1,x"), ("a", None));
    }

    #[test]
    fn ordering() {
        assert_eq!(cmp_new("99.x", "100.a"), Ordering::Less);
        assert_eq!(cmp_new("100.b", "100.a"), Ordering::Greater);
        assert_eq!(leading_number("abc"), 0);
        // The info is not part of the order, as in Courier's scan.
        assert_eq!(cmp_new("100.a:2,S", "100.a,S=5"), Ordering::Less);
        let mut names = vec![
            "100.b",
            "99.x:2,S",
            "100.a,S=5",
            "x.y",
            "100.a:2,",
            "7.q",
            "99.w",
        ];
        let mut by_cmp = names.clone();
        by_cmp.sort_by(|a, b| cmp_new(a, b));
        sort_new(&mut names);
        assert_eq!(names, by_cmp);
    }

    #[test]
    fn same_second_names_sort_by_microsecond() {
        let name = |usec, pid| {
            UniqueName {
                sec: 1_700_000_000,
                usec,
                pid,
                n: 0,
            }
            .final_name(1, 2, Some(10), None)
        };
        // A later delivery by another process, whose microseconds have more digits.
        let (earlier, later) = (name(99_999, 900), name(100_000, 100));
        assert!(earlier.contains(".M099999P900"), "{earlier}");
        assert_eq!(cmp_new(&earlier, &later), Ordering::Less);
        assert_eq!(cmp_new(&name(7, 1), &name(10, 1)), Ordering::Less);
    }

    #[test]
    fn unique_names_differ_and_parse() {
        let a = UniqueName::new();
        let b = UniqueName::new();
        assert_ne!(a.tmp_name(), b.tmp_name());
        let f = a.final_name(0xFE00, 0x99DD8E, Some(18), None);
        assert!(f.contains("V000000000000FE00I000000000099DD8E_"));
        assert_eq!(size_from_name(&f), Some(18));
        assert!(!f.contains(':') && !f.contains('/'));
    }
}

/// Counts what a message's size becomes with every bare LF sent as CRLF, fed in chunks.
#[derive(Debug, Default, Clone, Copy)]
pub struct WireCounter {
    bytes: u64,
    bare_lf: u64,
    last_was_cr: bool,
}

impl WireCounter {
    pub fn feed(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else {
            return;
        };
        self.bytes += chunk.len() as u64;
        // An LF first in the chunk pairs with a CR that ended the previous one.
        let joined = self.last_was_cr && chunk[0] == b'\n';
        self.bare_lf += crate::message::bare_lf_count(chunk) as u64 - u64::from(joined);
        self.last_was_cr = last == b'\r';
    }

    pub fn wire_size(&self) -> u64 {
        self.bytes + self.bare_lf
    }

    /// Feeds everything `source` still has, through one buffer per thread: measuring the
    /// sizes of a whole folder allocates (and page-faults in) no buffer per message.
    pub fn feed_all(&mut self, source: &mut dyn std::io::Read) -> std::io::Result<()> {
        thread_local! {
            static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        CHUNK.with_borrow_mut(|chunk| {
            chunk.resize(256 * 1024, 0);
            loop {
                match source.read(chunk) {
                    Ok(0) => return Ok(()),
                    Ok(n) => self.feed(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        })
    }
}

#[cfg(test)]
mod wire_tests {
    use super::WireCounter;

    #[test]
    fn counts_bare_lf_across_chunks() {
        let mut c = WireCounter::default();
        c.feed(b"a\r");
        c.feed(b"\nb\n\nc");
        assert_eq!(c.wire_size(), 9);
        let mut whole = WireCounter::default();
        whole.feed(b"a\r\nb\n\nc");
        assert_eq!(whole.wire_size(), c.wire_size());
    }

    #[test]
    fn bulk_count_matches_byte_by_byte() {
        fn slow(bytes: &[u8]) -> u64 {
            let bare = (0..bytes.len())
                .filter(|&i| bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
                .count();
            (bytes.len() + bare) as u64
        }
        let sample = b"\n\r\n\r\r\nab\n\n\rx\r\n\n".repeat(7);
        for split in 0..sample.len() {
            let mut c = WireCounter::default();
            c.feed(&sample[..split]);
            c.feed(&[]);
            c.feed(&sample[split..]);
            assert_eq!(c.wire_size(), slow(&sample), "split at {split}");
        }
    }
}
