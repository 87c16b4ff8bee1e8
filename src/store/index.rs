//! `postern-index`: a folder's message list as the last complete scan saw it, with the
//! directory times and the UID database's size and time it was valid for. While none of
//! those changed, SELECT reads this one file instead of listing the folder and parsing the
//! UID database. It is only a cache: written via tmp/ and rename, ignored when anything
//! does not match, rebuilt by the next full scan. Courier ignores it.
//!
//! Format: `postern-index 1 <uidvalidity> <uidnext> <12 numbers of times and sizes>
//! <count>`, then per message `<uid> <size> <file name>`, ascending UIDs.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const FILE: &str = "postern-index";

/// What an index is valid for: the directory times (new/, cur/, keywords) and the UID
/// database's size and modification time.
pub type Validity = [i64; 10];

/// One message as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: u32,
    pub size: u64,
    pub file_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub valid_for: Validity,
    pub entries: Vec<Entry>,
}

/// Size and modification time of the UID database (zeros when it is missing).
pub fn uiddb_signature(folder_dir: &Path) -> [i64; 3] {
    match fs::metadata(folder_dir.join(super::uiddb::FILE)) {
        Ok(m) => [m.len() as i64, m.mtime(), m.mtime_nsec()],
        Err(_) => [0; 3],
    }
}

/// Reads the index; `None` when missing or not exactly well formed.
pub fn load(folder_dir: &Path) -> Option<Index> {
    let text = fs::read_to_string(folder_dir.join(FILE)).ok()?;
    let mut lines = text.split('\n');
    let header: Vec<&str> = lines.next()?.split(' ').collect();
    if header.len() != 15 || header[0] != "postern-index" || header[1] != "1" {
        return None;
    }
    let uid_validity = header[2].parse().ok()?;
    let uid_next = header[3].parse().ok()?;
    let mut valid_for = [0i64; 10];
    for (slot, field) in valid_for.iter_mut().zip(&header[4..14]) {
        *slot = field.parse().ok()?;
    }
    let count: usize = header[14].parse().ok()?;
    let mut entries = Vec::with_capacity(count);
    let mut last_uid = 0;
    for line in lines.by_ref().take(count) {
        let mut fields = line.splitn(3, ' ');
        let uid: u32 = fields.next()?.parse().ok()?;
        let size: u64 = fields.next()?.parse().ok()?;
        let file_name = fields.next()?;
        if uid <= last_uid || file_name.is_empty() || file_name.contains('/') {
            return None;
        }
        last_uid = uid;
        entries.push(Entry {
            uid,
            size,
            file_name: file_name.to_string(),
        });
    }
    // Exactly `count` entries and then only the final newline.
    if entries.len() != count || lines.next() != Some("") || lines.next().is_some() {
        return None;
    }
    Some(Index {
        uid_validity,
        uid_next,
        valid_for,
        entries,
    })
}

/// Writes the index via tmp/ and rename (no fsync: a cache). Names with a line break are
/// not representable, so such a folder gets no index.
pub fn save(folder_dir: &Path, index: &Index) -> io::Result<()> {
    if index.entries.iter().any(|e| e.file_name.contains('\n')) {
        return Ok(());
    }
    let mut out = String::with_capacity(64 + index.entries.len() * 80);
    out.push_str(&format!(
        "postern-index 1 {} {}",
        index.uid_validity, index.uid_next
    ));
    for v in index.valid_for {
        out.push_str(&format!(" {v}"));
    }
    out.push_str(&format!(" {}\n", index.entries.len()));
    for e in &index.entries {
        out.push_str(&format!("{} {} {}\n", e.uid, e.size, e.file_name));
    }
    super::fsutil::replace_cache(
        &folder_dir.join("tmp"),
        &folder_dir.join(FILE),
        out.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let index = Index {
            uid_validity: 795868689,
            uid_next: 4,
            valid_for: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            entries: vec![
                Entry {
                    uid: 1,
                    size: 80,
                    file_name: "1700000000.M1P1.host,S=80:2,S".into(),
                },
                Entry {
                    uid: 3,
                    size: 12,
                    file_name: "1700000001.M2P2.host odd name:2,".into(),
                },
            ],
        };
        save(d.path(), &index).unwrap();
        assert_eq!(load(d.path()), Some(index.clone()));
        let path = d.path().join(FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, &text[..text.len() - 5]).unwrap();
        assert_eq!(load(d.path()), None, "torn");
        fs::write(&path, text.replace("1 80 ", "1 x ")).unwrap();
        assert_eq!(load(d.path()), None, "garbage");
        fs::write(&path, text.replace("\n3 12", "\n1 12")).unwrap();
        assert_eq!(load(d.path()), None, "UIDs out of order");
    }
}
