//! Courier's virtual shared-folder index, read: which accounts' folders a login may find
//! under `#shared.`. One entry a line, `#` starts a comment:
//!
//! ```text
//! name<TAB>uid<TAB>gid<TAB>home[<TAB>maildir relative to home, default ./Maildir]
//! group<TAB>*<TAB>other-index-file        (a level `#shared.group.`, in the same dir)
//! ```
//!
//! Courier refuses uid or gid 0 and reads lines of at most its BUFSIZ; `.` and `/` in a
//! name become spaces on the wire (Courier's default munging). The account option
//! `sharedgroup=X` makes `<index>X` the login's root index.

use std::io;
use std::path::{Path, PathBuf};

/// How deep group lines may nest (a loop of group files stops here).
const MAX_DEPTH: usize = 8;

/// One account of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAccount {
    /// The account's name as the index gives it.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The account's Maildir.
    pub maildir: PathBuf,
    /// Its levels below `#shared` as the client names them: `[group…, name]`, munged.
    pub levels: Vec<String>,
}

/// One line of an index file.
enum Entry {
    Account {
        name: String,
        uid: u32,
        gid: u32,
        maildir: PathBuf,
    },
    Group {
        name: String,
        file: PathBuf,
    },
}

/// A name as a level of `#shared.`: `.` and `/` would split or escape it.
fn munge(name: &str) -> String {
    name.replace(['.', '/'], " ")
}

fn parse(text: &str, dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 3 || fields[0].is_empty() {
            continue;
        }
        if fields[1] == "*" {
            let file = fields[2];
            if file.is_empty() || file.contains('/') {
                continue;
            }
            out.push(Entry::Group {
                name: fields[0].to_string(),
                file: dir.join(file),
            });
            continue;
        }
        let (Ok(uid), Ok(gid)) = (fields[1].parse::<u32>(), fields[2].parse::<u32>()) else {
            continue;
        };
        let Some(home) = fields.get(3).filter(|h| !h.is_empty()) else {
            continue;
        };
        if uid == 0 || gid == 0 {
            continue;
        }
        let relative = fields
            .get(4)
            .filter(|m| !m.is_empty())
            .copied()
            .unwrap_or("./Maildir");
        out.push(Entry::Account {
            name: fields[0].to_string(),
            uid,
            gid,
            maildir: Path::new(home).join(relative),
        });
    }
    out
}

/// The login's root index: the configured file, or `<file><sharedgroup>`.
fn root_file(index: &Path, shared_group: Option<&str>) -> PathBuf {
    match shared_group {
        Some(g) if !g.is_empty() && !g.contains('/') => {
            let mut name = index.as_os_str().to_owned();
            name.push(g);
            PathBuf::from(name)
        }
        _ => index.to_path_buf(),
    }
}

fn read_entries(file: &Path) -> io::Result<Vec<Entry>> {
    let dir = file.parent().unwrap_or(Path::new("."));
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(parse(&text, dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Every account reachable from the login's root index, with its levels.
pub fn accounts(index: &Path, shared_group: Option<&str>) -> io::Result<Vec<SharedAccount>> {
    let mut out = Vec::new();
    walk(&root_file(index, shared_group), &[], 0, &mut out)?;
    Ok(out)
}

fn walk(
    file: &Path,
    above: &[String],
    depth: usize,
    out: &mut Vec<SharedAccount>,
) -> io::Result<()> {
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for entry in read_entries(file)? {
        match entry {
            Entry::Account {
                name,
                uid,
                gid,
                maildir,
            } => {
                let mut levels = above.to_vec();
                levels.push(munge(&name));
                out.push(SharedAccount {
                    name,
                    uid,
                    gid,
                    maildir,
                    levels,
                });
            }
            Entry::Group { name, file } => {
                let mut levels = above.to_vec();
                levels.push(munge(&name));
                walk(&file, &levels, depth + 1, out)?;
            }
        }
    }
    Ok(())
}

/// The account whose levels start `levels` (`#shared.` split at dots), and how many
/// levels it takes; None when no account matches.
pub fn lookup(
    index: &Path,
    shared_group: Option<&str>,
    levels: &[&str],
) -> io::Result<Option<(SharedAccount, usize)>> {
    let mut file = root_file(index, shared_group);
    for (depth, level) in levels.iter().enumerate().take(MAX_DEPTH) {
        let mut next = None;
        for entry in read_entries(&file)? {
            match entry {
                Entry::Account {
                    name,
                    uid,
                    gid,
                    maildir,
                } if munge(&name) == *level => {
                    let levels = levels[..=depth].iter().map(|l| l.to_string()).collect();
                    return Ok(Some((
                        SharedAccount {
                            name,
                            uid,
                            gid,
                            maildir,
                            levels,
                        },
                        depth + 1,
                    )));
                }
                Entry::Group { name, file } if munge(&name) == *level => {
                    next = Some(file);
                    break;
                }
                _ => {}
            }
        }
        match next {
            Some(f) => file = f,
            None => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_groups_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index"),
            "# comment\nalice\t1000\t1000\t/home/alice\nstaff\t*\tindex-staff\n\
             root\t0\t0\t/root\nbad line\njo.e\t1001\t100\t/home/joe\tmail\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("index-staff"),
            "bob\t1002\t100\t/home/bob\nloop\t*\tindex-staff\n",
        )
        .unwrap();
        let index = dir.path().join("index");
        let all = accounts(&index, None).unwrap();
        let names: Vec<String> = all.iter().map(|a| a.levels.join(".")).collect();
        assert!(names.contains(&"alice".to_string()), "{names:?}");
        assert!(names.contains(&"staff.bob".to_string()), "{names:?}");
        assert!(names.contains(&"jo e".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("root")), "{names:?}");
        let joe = all.iter().find(|a| a.name == "jo.e").unwrap();
        assert_eq!(joe.maildir, PathBuf::from("/home/joe/mail"));
        let (bob, used) = lookup(&index, None, &["staff", "bob", "Sent"])
            .unwrap()
            .unwrap();
        assert_eq!((bob.name.as_str(), used), ("bob", 2));
        assert_eq!(bob.maildir, PathBuf::from("/home/bob/./Maildir"));
        assert!(lookup(&index, None, &["staff"]).unwrap().is_none());
        assert!(lookup(&index, None, &["nobody"]).unwrap().is_none());
        assert!(accounts(&index, Some("x")).unwrap().is_empty());
    }
}
