//! Maildir++ quota: the `maildirsize` file in the Maildir root.
//!
//! Line 1 is the quota (`<n>S[,<n>C]`), every further line a `<bytes> <count>` delta,
//! written as two right-aligned 12-character fields like Courier does. The file is
//! recalculated from the folders when it grows past 5120 bytes, or when it says the user
//! is over quota and it has several deltas or is older than 15 minutes.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::filename::{size_from_name, split_info};
use super::flags::Flags;
use super::{Quota, Result, StoreError, fsutil};

pub const FILE: &str = "maildirsize";
const RECALC_SIZE: u64 = 5120;
const RECALC_AGE: Duration = Duration::from_secs(15 * 60);

/// The limits on line 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaSpec {
    pub bytes: Option<u64>,
    pub messages: Option<u64>,
}

impl QuotaSpec {
    /// Parses `10000000S,1000C` (either part optional, any order); None if malformed.
    pub fn parse(s: &str) -> Option<QuotaSpec> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let mut spec = QuotaSpec::default();
        for part in s.split(',') {
            let (num, unit) = part.split_at(part.len().checked_sub(1)?);
            let n: u64 = num.parse().ok()?;
            match unit {
                "S" => spec.bytes = Some(n),
                "C" => spec.messages = Some(n),
                _ => return None,
            }
        }
        Some(spec)
    }

    pub fn is_set(&self) -> bool {
        self.bytes.is_some() || self.messages.is_some()
    }
}

impl std::fmt::Display for QuotaSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes {
            parts.push(format!("{b}S"));
        }
        if let Some(c) = self.messages {
            parts.push(format!("{c}C"));
        }
        f.write_str(&parts.join(","))
    }
}

/// One delta line, as Courier writes it.
pub fn format_line(bytes: i64, count: i64) -> String {
    format!("{bytes:>12} {count:>12}\n")
}

/// The parsed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub spec: QuotaSpec,
    pub used_bytes: i64,
    pub used_messages: i64,
    /// Delta lines after line 1.
    pub lines: usize,
}

impl Usage {
    pub fn parse(bytes: &[u8]) -> Option<Usage> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let spec = QuotaSpec::parse(lines.next()?)?;
        let mut u = Usage {
            spec,
            used_bytes: 0,
            used_messages: 0,
            lines: 0,
        };
        for l in lines {
            let mut f = l.split_whitespace();
            let (Some(b), Some(c)) = (f.next(), f.next()) else {
                continue;
            };
            u.used_bytes += b.parse::<i64>().unwrap_or(0);
            u.used_messages += c.parse::<i64>().unwrap_or(0);
            u.lines += 1;
        }
        Some(u)
    }

    /// True when adding `bytes` and `count` would pass a limit.
    pub fn would_exceed(&self, bytes: i64, count: i64) -> bool {
        let over = |used: i64, add: i64, limit: Option<u64>| {
            limit.is_some_and(|l| add > 0 && used.saturating_add(add) > l as i64)
        };
        over(self.used_bytes, bytes, self.spec.bytes)
            || over(self.used_messages, count, self.spec.messages)
    }

    pub fn is_over(&self) -> bool {
        self.spec.bytes.is_some_and(|l| self.used_bytes > l as i64)
            || self
                .spec
                .messages
                .is_some_and(|l| self.used_messages > l as i64)
    }

    pub fn to_quota(self) -> Quota {
        Quota {
            limit_bytes: self.spec.bytes,
            limit_messages: self.spec.messages,
            used_bytes: self.used_bytes.max(0) as u64,
            used_messages: self.used_messages.max(0) as u64,
        }
    }
}

/// The quota and usage, recalculating the file when Courier's rules say so; None when
/// no quota is set.
pub fn current(root: &Path) -> io::Result<Option<Usage>> {
    let path = root.join(FILE);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(bytes) = fsutil::read_optional(&path)? else {
        return Ok(None);
    };
    let Some(u) = Usage::parse(&bytes) else {
        return Ok(None);
    };
    let old = meta
        .modified()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > RECALC_AGE);
    if bytes.len() as u64 >= RECALC_SIZE || (u.is_over() && (u.lines > 1 || old)) {
        return recalculate(root, u.spec).map(Some);
    }
    Ok(Some(u))
}

/// Counts the Maildir and rewrites `maildirsize` as line 1 plus one total line.
pub fn recalculate(root: &Path, spec: QuotaSpec) -> io::Result<Usage> {
    let (bytes, count) = count(root)?;
    let text = format!("{spec}\n{}", format_line(bytes as i64, count as i64));
    let (mut f, tmp) = fsutil::create_unique(&root.join("tmp"), "_NeWmAiLdIrSiZe")?;
    let r = (|| {
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, root.join(FILE))
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r?;
    Ok(Usage {
        spec,
        used_bytes: bytes as i64,
        used_messages: count as i64,
        lines: 1,
    })
}

/// Whether messages in the folder directory `folder_dir` count toward the quota: every
/// folder but `.Trash`, as Courier's maildirquota has it (messages moved to Trash free
/// their space). Adding, expunging and purging all go by this, as [`count`] does.
pub fn counts_folder(folder_dir: &Path) -> bool {
    folder_dir.file_name().is_none_or(|n| n != ".Trash")
}

/// Bytes and messages in new/ and cur/ of INBOX and every folder but `.Trash`, not
/// counting messages marked deleted; sizes from `,S=` else stat.
pub fn count(root: &Path) -> io::Result<(u64, u64)> {
    let mut dirs = vec![root.to_path_buf()];
    for ent in fs::read_dir(root)? {
        let ent = ent?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.')
            && name != "."
            && name != ".."
            && name != ".Trash"
            && ent.file_type()?.is_dir()
        {
            dirs.push(ent.path());
        }
    }
    let (mut bytes, mut count) = (0u64, 0u64);
    for d in dirs {
        for sub in ["new", "cur"] {
            let sd = d.join(sub);
            for name in fsutil::list_names(&sd)? {
                let (_, info) = split_info(&name);
                if info.is_some_and(|i| Flags::from_info(i).contains(Flags::DELETED)) {
                    continue;
                }
                let size = match size_from_name(&name) {
                    Some(s) => s,
                    None => match fs::metadata(sd.join(&name)) {
                        Ok(m) => m.len(),
                        Err(_) => continue,
                    },
                };
                bytes += size;
                count += 1;
            }
        }
    }
    Ok((bytes, count))
}

/// Refuses with OverQuota when adding `bytes` / `count` would pass the quota.
pub fn check(root: &Path, bytes: u64, count: u64) -> Result<()> {
    if let Some(u) = current(root)?
        && u.would_exceed(bytes as i64, count as i64)
    {
        return Err(StoreError::OverQuota);
    }
    Ok(())
}

/// Appends a delta line (one write, O_APPEND) when a quota is in force.
pub fn record(root: &Path, bytes: i64, count: i64) -> io::Result<()> {
    if bytes == 0 && count == 0 {
        return Ok(());
    }
    let opened = OpenOptions::new()
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(root.join(FILE));
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    f.write_all(format_line(bytes, count).as_bytes())
}

/// Installs a quota (maildirmake -q): a freshly counted `maildirsize`.
pub fn set(root: &Path, spec: &str) -> Result<()> {
    let spec = QuotaSpec::parse(spec)
        .filter(QuotaSpec::is_set)
        .ok_or_else(|| StoreError::InvalidName(format!("bad quota {spec:?}")))?;
    recalculate(root, spec)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn courier_sample() {
        let text = b"1000000S,100C\n           0            0\n          18            1\n";
        let u = Usage::parse(text).unwrap();
        assert_eq!(u.spec.bytes, Some(1_000_000));
        assert_eq!(u.spec.messages, Some(100));
        assert_eq!((u.used_bytes, u.used_messages, u.lines), (18, 1, 2));
        assert_eq!(format_line(18, 1), "          18            1\n");
        assert_eq!(format_line(-18, -1).len(), 26);
        assert!(!u.would_exceed(999_982, 1));
        assert!(u.would_exceed(999_983, 1));
        assert!(Usage::parse(b"100C\n 5 100\n").unwrap().would_exceed(1, 1));
        assert!(
            !Usage::parse(b"100C\n 5 100\n")
                .unwrap()
                .would_exceed(-1, -1)
        );
        assert_eq!(QuotaSpec::parse("5C,7S").unwrap().to_string(), "7S,5C");
        for bad in ["", "S", "12", "12X", "1S,", "-1S"] {
            assert_eq!(QuotaSpec::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn deltas_add_up(deltas in proptest::collection::vec((-10_000i64..10_000, -10i64..10), 0..50)) {
            let mut text = "1000S\n".to_string();
            for (b, c) in &deltas {
                let line = format_line(*b, *c);
                prop_assert_eq!(line.len(), 26);
                text.push_str(&line);
            }
            let u = Usage::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(u.used_bytes, deltas.iter().map(|d| d.0).sum::<i64>());
            prop_assert_eq!(u.used_messages, deltas.iter().map(|d| d.1).sum::<i64>());
        }
    }
}
