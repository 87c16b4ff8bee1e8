//! Per-folder caches of one number per message: `postern-sizes` (CRLF sizes of messages
//! whose names carry no `,W=`) and `postern-dates` (INTERNALDATE, the file's mtime, so a
//! later session need not stat every file). A message file never changes, so an entry
//! never goes stale; the files are only caches — lost or broken, they are rebuilt by
//! looking at the messages again. Courier ignores them.

use rustc_hash::FxHashMap as HashMap;
use std::io;
use std::path::Path;

/// A cache file larger than this is not read (about 80 bytes a message: 6 million).
const MAX_FILE: u64 = 512 << 20;

/// Which number a cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    WireSize,
    InternalDate,
}

impl Kind {
    pub fn file(self) -> &'static str {
        match self {
            Kind::WireSize => "postern-sizes",
            Kind::InternalDate => "postern-dates",
        }
    }

    fn header(self) -> String {
        format!("{} 1", self.file())
    }
}

/// Reads the cache; anything unreadable counts as empty.
pub fn load(folder_dir: &Path, kind: Kind) -> HashMap<String, i64> {
    let Some(text) = super::fsutil::read_own_file(&folder_dir.join(kind.file()), MAX_FILE)
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return HashMap::default();
    };
    let mut lines = text.lines();
    if lines.next() != Some(kind.header().as_str()) {
        return HashMap::default();
    }
    lines
        .filter_map(|line| {
            let (base, size) = line.rsplit_once(' ')?;
            Some((base.to_string(), size.parse().ok()?))
        })
        .collect()
}

/// Writes the entries for `present` basenames, merged with what another session may have
/// saved meanwhile, via tmp/ and rename (no fsync: losing it costs only time).
pub fn save(
    folder_dir: &Path,
    kind: Kind,
    ours: &HashMap<String, i64>,
    present: &dyn Fn(&str) -> bool,
) -> io::Result<()> {
    let mut merged = load(folder_dir, kind);
    merged.extend(ours.iter().map(|(k, v)| (k.clone(), *v)));
    let mut entries: Vec<(&String, &i64)> = merged.iter().filter(|(b, _)| present(b)).collect();
    entries.sort();
    let mut text = String::with_capacity(entries.len() * 64 + 16);
    text.push_str(&kind.header());
    text.push('\n');
    for (base, size) in entries {
        text.push_str(base);
        text.push(' ');
        text.push_str(&size.to_string());
        text.push('\n');
    }
    super::fsutil::replace_cache(
        &folder_dir.join("tmp"),
        &folder_dir.join(kind.file()),
        text.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn round_trip_and_merge() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let k = Kind::WireSize;
        assert!(load(d.path(), k).is_empty());
        let ours: HashMap<String, i64> = [("1.M1P1.h,S=5".to_string(), 7)].into_iter().collect();
        save(d.path(), k, &ours, &|_| true).unwrap();
        let theirs: HashMap<String, i64> = [("2.M2P2.h".to_string(), 9)].into_iter().collect();
        save(d.path(), k, &theirs, &|b| b != "gone").unwrap();
        let back = load(d.path(), k);
        assert_eq!(back.get("1.M1P1.h,S=5"), Some(&7));
        assert_eq!(back.get("2.M2P2.h"), Some(&9));
        assert!(load(d.path(), Kind::InternalDate).is_empty());
        fs::write(d.path().join(k.file()), "garbage\n1 2\n").unwrap();
        assert!(load(d.path(), k).is_empty());
    }
}
