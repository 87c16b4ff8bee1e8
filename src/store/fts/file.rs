//! The index files: `postern-fts` (the large segments, rewritten rarely) and
//! `postern-fts.recent` (small segments with the latest messages, rewritten at each
//! delivery). Both have the same layout (little-endian):
//!
//! ```text
//! magic "PSTNFTS\x01" (8)
//! segments, one after the other (see segment.rs)
//! directory: seg_count x (offset u64, len u64)
//! trailer (32): seg_count u64, file_len u64, check u64 (of the directory and the two
//!               numbers before it), magic "PSTNFTE\x01"
//! ```
//!
//! The trailer is written last, so a file cut short has none and reads as damaged. Files
//! are written whole in `tmp/` and renamed into place (a mapping stays sound, see
//! src/mapped.rs); a damaged or missing file is an index that covers nothing, and is
//! replaced by the next update.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::segment::{Damaged, Segment, check64};
use crate::mapped::ReadOnlyMap;
use crate::store::fsutil;

/// The magic also versions the text the index was built from: a change in what SEARCH
/// compares (decoding, case folding) must change it, so old files are rebuilt.
const MAGIC: &[u8; 8] = b"PSTNFTS\x01";
const END_MAGIC: &[u8; 8] = b"PSTNFTE\x01";
const TRAILER: usize = 32;

pub const MAIN: &str = "postern-fts";
pub const RECENT: &str = "postern-fts.recent";

/// A mapped index file with its segment directory checked.
pub struct IndexFile {
    map: ReadOnlyMap,
    segments: Vec<(usize, usize)>,
}

impl IndexFile {
    /// `Ok(None)`: no file. `Err(Damaged)`: a file that fails a check.
    pub fn open(path: &Path) -> Result<Option<IndexFile>, Damaged> {
        let file = match crate::store::fsutil::open_own_file(path) {
            Some((f, _)) => f,
            // Missing, or not a regular file of ours (a link, a FIFO): damaged.
            None if std::fs::symlink_metadata(path).is_err() => return Ok(None),
            None => return Err(Damaged),
        };
        let map = ReadOnlyMap::new(&file).map_err(|_| Damaged)?;
        let segments = directory(&map)?;
        Ok(Some(IndexFile { map, segments }))
    }

    /// The file's size in bytes.
    pub fn size(&self) -> usize {
        self.map.len()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The raw bytes of segment `i` (for copying into a new file).
    pub fn segment_bytes(&self, i: usize) -> &[u8] {
        let (off, len) = self.segments[i];
        &self.map[off..off + len]
    }

    pub fn segment(&self, i: usize) -> Result<Segment<'_>, Damaged> {
        Segment::parse(self.segment_bytes(i))
    }

    pub fn release_pages(&self) {
        self.map.release_pages();
    }
}

fn directory(map: &[u8]) -> Result<Vec<(usize, usize)>, Damaged> {
    let n = map.len();
    if n < MAGIC.len() + TRAILER || &map[..8] != MAGIC || &map[n - 8..] != END_MAGIC {
        return Err(Damaged);
    }
    let t = n - TRAILER;
    let word = |at: usize| u64::from_le_bytes(map[at..at + 8].try_into().expect("8"));
    let count = word(t) as usize;
    if word(t + 8) != n as u64 {
        return Err(Damaged);
    }
    let dir_len = count.checked_mul(16).ok_or(Damaged)?;
    let dir_start = t.checked_sub(dir_len).ok_or(Damaged)?;
    if dir_start < MAGIC.len() {
        return Err(Damaged);
    }
    let dir = &map[dir_start..t];
    if check64(&[dir, &map[t..t + 16]]) != word(t + 16) {
        return Err(Damaged);
    }
    let mut segments = Vec::with_capacity(count);
    let mut at = MAGIC.len();
    for i in 0..count {
        let off = word(dir_start + 16 * i) as usize;
        let len = word(dir_start + 16 * i + 8) as usize;
        // Segments follow each other in order, between the magic and the directory.
        if off != at || off.checked_add(len).is_none_or(|e| e > dir_start) {
            return Err(Damaged);
        }
        segments.push((off, len));
        at = off + len;
    }
    if at != dir_start {
        return Err(Damaged);
    }
    Ok(segments)
}

/// A new index file being written in `tmp/`, segment by segment, so a build never holds
/// more than one segment in memory; [`Writer::commit`] renames it into place.
pub struct Writer {
    file: io::BufWriter<File>,
    tmp: PathBuf,
    target: PathBuf,
    directory: Vec<(u64, u64)>,
    at: u64,
}

impl Writer {
    pub fn create(folder_dir: &Path, name: &str) -> io::Result<Writer> {
        let (file, tmp) = fsutil::create_unique(&folder_dir.join("tmp"), ".postern-fts")?;
        let mut file = io::BufWriter::with_capacity(1 << 20, file);
        file.write_all(MAGIC)?;
        Ok(Writer {
            file,
            tmp,
            target: folder_dir.join(name),
            directory: Vec::new(),
            at: MAGIC.len() as u64,
        })
    }

    pub fn add(&mut self, segment: &[u8]) -> io::Result<()> {
        self.file.write_all(segment)?;
        self.directory.push((self.at, segment.len() as u64));
        self.at += segment.len() as u64;
        Ok(())
    }

    /// Writes the directory and trailer and renames the file into place (no fsync: the
    /// index is a cache; after a crash it is the old file, the new one, or a damaged one
    /// that is detected and rebuilt).
    pub fn commit(mut self) -> io::Result<()> {
        let r = (|| {
            let mut dir = Vec::with_capacity(self.directory.len() * 16);
            for (off, len) in &self.directory {
                dir.extend_from_slice(&off.to_le_bytes());
                dir.extend_from_slice(&len.to_le_bytes());
            }
            let file_len = self.at + dir.len() as u64 + TRAILER as u64;
            let mut head = Vec::with_capacity(16);
            head.extend_from_slice(&(self.directory.len() as u64).to_le_bytes());
            head.extend_from_slice(&file_len.to_le_bytes());
            let check = check64(&[&dir, &head]);
            self.file.write_all(&dir)?;
            self.file.write_all(&head)?;
            self.file.write_all(&check.to_le_bytes())?;
            self.file.write_all(END_MAGIC)?;
            self.file.flush()?;
            fs::rename(&self.tmp, &self.target)
        })();
        if r.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::super::segment::Builder;
    use super::*;

    #[test]
    fn write_open_and_every_cut() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let mut w = Writer::create(d.path(), MAIN).unwrap();
        for s in 0..3 {
            let mut b = Builder::default();
            b.add(&format!("{s}.a"), &[1, 2, 3 + s], 0);
            b.add(&format!("{s}.b"), &[2], 0);
            w.add(&b.finish()).unwrap();
        }
        w.commit().unwrap();
        let path = d.path().join(MAIN);
        let f = IndexFile::open(&path).unwrap().unwrap();
        assert_eq!(f.segment_count(), 3);
        assert_eq!(f.segment(2).unwrap().doc(1).unwrap().0, "2.b");
        let whole = fs::read(&path).unwrap();
        for cut in 0..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            assert!(IndexFile::open(&path).is_err(), "cut at {cut}");
        }
        fs::remove_file(&path).unwrap();
        assert!(IndexFile::open(&path).unwrap().is_none());
    }
}
