//! `postern-cache.<kind>`: per-folder caches of bytes derived from a message file (the
//! protocol layer decides what: e.g. a serialized ENVELOPE). A message file never
//! changes, so an entry never goes stale; the file is only a cache, rebuilt by reading
//! the messages again when it is lost or broken. Courier ignores these files.
//!
//! Format: the line `postern-cache 1`, then per entry `<basename>\n<length>\n<bytes>\n`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap as HashMap;

const HEADER: &[u8] = b"postern-cache 1\n";

/// One kind of cached bytes for one folder, loaded on first use.
#[derive(Debug)]
pub struct BlobCache {
    path: PathBuf,
    entries: Option<HashMap<String, Vec<u8>>>,
    unsaved: bool,
}

impl BlobCache {
    /// `kind` names the file: letters, digits and `-` only.
    pub fn new(folder_dir: &Path, kind: &str) -> BlobCache {
        debug_assert!(kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        BlobCache {
            path: folder_dir.join(format!("postern-cache.{kind}")),
            entries: None,
            unsaved: false,
        }
    }

    fn loaded(&mut self) -> &mut HashMap<String, Vec<u8>> {
        let path = &self.path;
        self.entries.get_or_insert_with(|| load(path))
    }

    pub fn get(&mut self, basename: &str) -> Option<&[u8]> {
        self.loaded().get(basename).map(Vec::as_slice)
    }

    pub fn put(&mut self, basename: &str, bytes: Vec<u8>) {
        self.loaded().insert(basename.to_string(), bytes);
        self.unsaved = true;
    }

    /// Writes what was added, merged with what another session saved meanwhile, keeping
    /// only entries for `present` files; via tmp/ and rename, no fsync (a cache).
    pub fn save(&mut self, present: &dyn Fn(&str) -> bool) -> io::Result<()> {
        if !self.unsaved {
            return Ok(());
        }
        self.unsaved = false;
        let Some(ours) = self.entries.as_ref() else {
            return Ok(());
        };
        let mut merged = load(&self.path);
        for (k, v) in ours {
            merged.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut keys: Vec<&String> = merged.keys().filter(|k| present(k)).collect();
        keys.sort();
        let mut out = Vec::with_capacity(HEADER.len() + keys.len() * 256);
        out.extend_from_slice(HEADER);
        for k in keys {
            let v = &merged[k];
            out.extend_from_slice(k.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(v.len().to_string().as_bytes());
            out.push(b'\n');
            out.extend_from_slice(v);
            out.push(b'\n');
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        super::fsutil::replace_cache(&dir.join("tmp"), &self.path, &out)
    }
}

/// Reads a cache file; anything malformed ends the reading (what came before is kept).
fn load(path: &Path) -> HashMap<String, Vec<u8>> {
    let mut map = HashMap::default();
    let Ok(bytes) = fs::read(path) else {
        return map;
    };
    let Some(mut rest) = bytes.strip_prefix(HEADER) else {
        return map;
    };
    let line = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let l = rest[..end].to_vec();
        *rest = &rest[end + 1..];
        Some(l)
    };
    while !rest.is_empty() {
        let Some(name) = line(&mut rest).and_then(|n| String::from_utf8(n).ok()) else {
            break;
        };
        let Some(len) = line(&mut rest)
            .and_then(|l| String::from_utf8(l).ok())
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if rest.len() < len + 1 || rest[len] != b'\n' {
            break;
        }
        map.insert(name, rest[..len].to_vec());
        rest = &rest[len + 1..];
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_merge_and_damage() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut a = BlobCache::new(d.path(), "envelope");
        assert!(a.get("1.M1.h").is_none());
        a.put("1.M1.h", b"(\"x\"\n{3}\r\nabc)".to_vec());
        a.save(&|_| true).unwrap();
        let mut b = BlobCache::new(d.path(), "envelope");
        b.put("2.M2.h", b"".to_vec());
        b.save(&|n| n != "gone").unwrap();
        let mut c = BlobCache::new(d.path(), "envelope");
        assert_eq!(c.get("1.M1.h"), Some(&b"(\"x\"\n{3}\r\nabc)"[..]));
        assert_eq!(c.get("2.M2.h"), Some(&b""[..]));
        // A torn file keeps what is whole.
        let path = d.path().join("postern-cache.envelope");
        let whole = fs::read(&path).unwrap();
        fs::write(&path, &whole[..whole.len() - 3]).unwrap();
        let mut e = BlobCache::new(d.path(), "envelope");
        assert!(e.get("1.M1.h").is_some());
        assert!(e.get("2.M2.h").is_none());
    }
}
