//! Custom keywords in Courier's `courierimapkeywords/` directory.
//!
//! `:list` holds the keyword names one per line, a blank line, then `<basename>:<i> <j>…`
//! (indexes into the names) for each message that has keywords. A change to one message
//! is a file named after its basename holding its whole keyword set, one per line; readers
//! rename such a file to `.<N>.<basename>` (N = time/300) and, once it is older than 15
//! minutes, fold it into `:list` and remove it. For one message the plain update file wins,
//! then the highest N, then `:list`.

// Keys are file names and keywords from the user's own Maildir: a fast hash, no DoS concern.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs;
use std::io;
use std::path::Path;

use super::fsutil;
use super::lock::DotLock;
use super::{Result, StoreError};

pub const DIR: &str = "courierimapkeywords";
pub const LIST: &str = ":list";
const SLOT_SECS: i64 = 300;
const CONSOLIDATE_AFTER_SECS: i64 = 15 * 60;

/// The contents of `:list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeywordList {
    pub names: Vec<String>,
    /// (basename, indexes into `names`)
    pub entries: Vec<(String, Vec<usize>)>,
}

impl KeywordList {
    pub fn parse(bytes: &[u8]) -> KeywordList {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.split('\n');
        let mut names = Vec::new();
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            names.push(line.to_string());
        }
        let mut entries = Vec::new();
        for line in lines {
            let Some((base, idx)) = line.rsplit_once(':') else {
                continue;
            };
            let idx: Vec<usize> = idx
                .split(' ')
                .filter_map(|i| i.parse().ok())
                .filter(|i| *i < names.len())
                .collect();
            if !base.is_empty() && !idx.is_empty() {
                entries.push((base.to_string(), idx));
            }
        }
        KeywordList { names, entries }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for n in &self.names {
            out.push_str(n);
            out.push('\n');
        }
        out.push('\n');
        for (base, idx) in &self.entries {
            out.push_str(base);
            out.push(':');
            let idx: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
            out.push_str(&idx.join(" "));
            out.push('\n');
        }
        out.into_bytes()
    }

    /// basename -> keyword set.
    pub fn to_map(&self) -> HashMap<String, Vec<String>> {
        self.entries
            .iter()
            .map(|(b, idx)| {
                (
                    b.clone(),
                    idx.iter().map(|i| self.names[*i].clone()).collect(),
                )
            })
            .collect()
    }

    /// Builds a list from a map; names in order of first use over sorted basenames.
    pub fn from_map(map: &HashMap<String, Vec<String>>) -> KeywordList {
        let mut bases: Vec<&String> = map
            .iter()
            .filter(|(_, k)| !k.is_empty())
            .map(|(b, _)| b)
            .collect();
        bases.sort();
        let mut list = KeywordList::default();
        let mut index: HashMap<&str, usize> = HashMap::default();
        for b in bases {
            let mut idx = Vec::new();
            for k in &map[b] {
                let i = *index.entry(k.as_str()).or_insert_with(|| {
                    list.names.push(k.clone());
                    list.names.len() - 1
                });
                if !idx.contains(&i) {
                    idx.push(i);
                }
            }
            list.entries.push((b.clone(), idx));
        }
        list
    }
}

/// True for a keyword that can be stored (one line, no spaces or IMAP specials).
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with('\\')
        && k.chars().all(|c| {
            !c.is_control() && !c.is_whitespace() && !"(){%*\"]".contains(c) && c != '\u{7f}'
        })
}

/// The keywords of a flag list as they are stored: each valid ([`valid_keyword`]), each
/// once — keywords compare without regard to case, the first spelling wins. The one place
/// that cleans keywords: STORE, APPEND and the store's own writers all call it.
pub fn clean(keywords: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for k in keywords {
        if !valid_keyword(k) {
            return Err(StoreError::InvalidName(format!("bad keyword {k:?}")));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    Ok(out)
}

pub(crate) fn parse_update(bytes: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in String::from_utf8_lossy(bytes).split('\n') {
        if !l.is_empty() && !out.iter().any(|o| o == l) {
            out.push(l.to_string());
        }
    }
    out
}

/// Listings one read may take when update files vanish under it (another reader numbering
/// or folding them); the last one keeps what it found.
const RELISTS: usize = 16;

/// Reads every message's keywords. When `maintain` is given (the folder is writable), it
/// also does the readers' housekeeping: numbers new update files, removes superseded ones,
/// and folds old ones into `:list` (dropping messages not in the set it carries).
///
/// Another process's housekeeping renames and removes update files while this one reads:
/// a listed file that vanished before it was read means its content moved (to a numbered
/// name or into `:list`), so the directory is listed again rather than the message being
/// given an older set. `:list` is read after the update files, because housekeeping
/// writes the new `:list` before it removes the files it folded in.
pub fn read(
    folder_dir: &Path,
    maintain: Option<&HashSet<&str>>,
) -> io::Result<HashMap<String, Vec<String>>> {
    for pass in 1..=RELISTS {
        if let Some(map) = read_pass(folder_dir, maintain, pass == RELISTS)? {
            return Ok(map);
        }
    }
    unreachable!("the last pass always answers")
}

/// One listing of the keyword directory; `None` when a listed file vanished before it was
/// read (unless `last`).
fn read_pass(
    folder_dir: &Path,
    maintain: Option<&HashSet<&str>>,
    last: bool,
) -> io::Result<Option<HashMap<String, Vec<String>>>> {
    let dir = folder_dir.join(DIR);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if maintain.is_some() {
                fsutil::mkdir_like(&dir, folder_dir, true)?;
            }
            let list = match fsutil::read_optional(&dir.join(LIST))? {
                Some(b) => KeywordList::parse(&b),
                None => KeywordList::default(),
            };
            return Ok(Some(list.to_map()));
        }
        Err(e) => return Err(e),
    };
    let now = fsutil::now_secs();
    let slot = now / SLOT_SECS;
    // basename -> (N, file name) of the highest numbered update
    let mut numbered: HashMap<String, (i64, String)> = HashMap::default();
    let mut superseded = Vec::new();
    let mut plain = Vec::new();
    for ent in rd {
        let ent = ent?;
        let Ok(name) = ent.file_name().into_string() else {
            continue;
        };
        if name.starts_with(':') {
            continue;
        }
        if let Some(rest) = name.strip_prefix('.') {
            let Some((n, base)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<i64>() else { continue };
            match numbered.get(base) {
                Some((m, _)) if *m >= n => superseded.push(name.clone()),
                Some((_, old)) => {
                    superseded.push(old.clone());
                    numbered.insert(base.to_string(), (n, name));
                }
                None => {
                    numbered.insert(base.to_string(), (n, name));
                }
            }
        } else {
            plain.push(name);
        }
    }
    let mut updates: HashMap<String, Vec<String>> = HashMap::default();
    for (base, (_, file)) in &numbered {
        match fsutil::read_optional(&dir.join(file))? {
            Some(b) => {
                updates.insert(base.clone(), parse_update(&b));
            }
            None if last => continue,
            None => return Ok(None),
        }
    }
    let mut plain_read = Vec::with_capacity(plain.len());
    for base in &plain {
        match fsutil::read_optional(&dir.join(base))? {
            Some(b) => {
                updates.insert(base.clone(), parse_update(&b));
                plain_read.push(base);
            }
            None if last => continue,
            None => return Ok(None),
        }
    }
    let list = match fsutil::read_optional(&dir.join(LIST))? {
        Some(b) => KeywordList::parse(&b),
        None => KeywordList::default(),
    };
    let mut map = list.to_map();
    map.extend(updates);
    for base in plain_read {
        if maintain.is_some() {
            let n = numbered
                .get(base)
                .map(|(m, _)| (*m).max(slot))
                .unwrap_or(slot);
            let target = format!(".{n}.{base}");
            if let Some((_, old)) = numbered.get(base)
                && *old != target
            {
                superseded.push(old.clone());
            }
            match fs::rename(dir.join(base), dir.join(&target)) {
                Ok(()) => {
                    numbered.insert(base.clone(), (n, target));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    let Some(live) = maintain else {
        return Ok(Some(map));
    };
    for f in &superseded {
        let _ = fs::remove_file(dir.join(f));
    }
    let old: Vec<(String, String)> = numbered
        .iter()
        .filter(|(_, (n, _))| (n + 1) * SLOT_SECS + CONSOLIDATE_AFTER_SECS < now)
        .map(|(b, (_, f))| (b.clone(), f.clone()))
        .collect();
    let gone_in_list = list.entries.iter().any(|(b, _)| !live.contains(b.as_str()));
    if !old.is_empty() || gone_in_list {
        consolidate(folder_dir, &old, live)?;
    }
    map.retain(|b, k| live.contains(b.as_str()) && !k.is_empty());
    Ok(Some(map))
}

/// Folds update files into `:list` under the folder lock and removes them.
fn consolidate(
    folder_dir: &Path,
    old: &[(String, String)],
    live: &HashSet<&str>,
) -> io::Result<()> {
    let _lock = DotLock::acquire(folder_dir)?;
    let dir = folder_dir.join(DIR);
    let current = fsutil::read_optional(&dir.join(LIST))?.unwrap_or_default();
    let mut map = KeywordList::parse(&current).to_map();
    let mut folded = Vec::new();
    for (base, file) in old {
        if let Some(b) = fsutil::read_optional(&dir.join(file))? {
            map.insert(base.clone(), parse_update(&b));
            folded.push(file);
        }
    }
    // A message renamed by another session can be missing from one listing; only drop
    // what a second listing, made under the lock, does not show either.
    let relisted = fsutil::list_basenames(folder_dir)?;
    let relisted: HashSet<&str> = relisted.iter().map(|s| s.as_str()).collect();
    map.retain(|b, k| {
        (live.contains(b.as_str()) || relisted.contains(b.as_str())) && !k.is_empty()
    });
    let new = KeywordList::from_map(&map).to_bytes();
    if new != current {
        fsutil::atomic_write(&folder_dir.join("tmp"), &dir.join(LIST), &new)?;
    }
    for f in folded {
        let _ = fs::remove_file(dir.join(f));
    }
    Ok(())
}

/// Records the full keyword set of one message (empty = none) as an update file.
pub fn write_update(folder_dir: &Path, basename: &str, keywords: &[String]) -> io::Result<()> {
    let dir = folder_dir.join(DIR);
    fsutil::mkdir_like(&dir, folder_dir, true)?;
    let mut text = String::new();
    for k in keywords {
        text.push_str(k);
        text.push('\n');
    }
    fsutil::atomic_write(
        &folder_dir.join("tmp"),
        &dir.join(basename),
        text.as_bytes(),
    )
}

/// Removes the update files of an expunged message (`:list` is cleaned on the next
/// consolidation).
pub fn forget(folder_dir: &Path, basenames: &HashSet<&str>) -> io::Result<()> {
    let dir = folder_dir.join(DIR);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let name = ent?.file_name();
        let Some(name) = name.to_str() else { continue };
        let base = match name.strip_prefix('.') {
            Some(rest) => rest.split_once('.').map(|(_, b)| b).unwrap_or(""),
            None => name,
        };
        if basenames.contains(base) {
            let _ = fs::remove_file(dir.join(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn courier_sample() {
        let text = b"Custom1\n$Label1\n\n1700000000.M1P1.host,S=80:1 0\n";
        let l = KeywordList::parse(text);
        assert_eq!(l.names, ["Custom1", "$Label1"]);
        assert_eq!(
            l.to_map()["1700000000.M1P1.host,S=80"],
            ["$Label1", "Custom1"]
        );
        assert_eq!(l.to_bytes(), text);
    }

    proptest! {
        #[test]
        fn list_round_trip(map in proptest::collection::hash_map("[0-9]{1,5}\\.[a-z,=0-9]{1,12}", proptest::collection::vec("[$A-Za-z0-9]{1,8}", 1..4), 0..10)) {
            let map: HashMap<String, Vec<String>> = map.into_iter().map(|(b, mut k)| { k.dedup(); let mut seen = Vec::new(); k.retain(|x| if seen.contains(x) { false } else { seen.push(x.clone()); true }); (b, k) }).collect();
            let list = KeywordList::from_map(&map);
            let bytes = list.to_bytes();
            let back = KeywordList::parse(&bytes);
            prop_assert_eq!(&back, &list);
            prop_assert_eq!(back.to_map(), map);
        }
    }

    #[test]
    fn updates_merge_and_consolidate() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("tmp")).unwrap();
        let kw = d.path().join(DIR);
        fs::create_dir(&kw).unwrap();
        fs::write(kw.join(LIST), b"a\nb\n\nm1:0\nm2:1\ngone:0\n").unwrap();
        fs::write(kw.join(".5.m1"), b"x\n").unwrap(); // old numbered update: folded in
        fs::write(kw.join(".4.m1"), b"y\n").unwrap(); // superseded
        fs::write(kw.join("m2"), b"").unwrap(); // fresh plain update: no keywords
        let ro = read(d.path(), None).unwrap();
        assert_eq!(ro["m1"], ["x"]);
        assert!(ro.get("m2").is_none_or(|k| k.is_empty()));
        let live: HashSet<&str> = ["m1", "m2"].into_iter().collect();
        let rw = read(d.path(), Some(&live)).unwrap();
        assert_eq!(rw["m1"], ["x"]);
        assert!(!rw.contains_key("m2"));
        // m2's :list entry stays until its (newer, empty) update is folded in
        assert_eq!(fs::read(kw.join(LIST)).unwrap(), b"x\nb\n\nm1:0\nm2:1\n");
        let left = fsutil::list_names(&kw).unwrap();
        assert_eq!(left, [":list"]);
        // the renamed plain update remains until it is old
        assert!(
            fs::read_dir(&kw).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".m2"))
        );
    }
}
