//! Courier's virtual shared-folder index: which accounts' folders appear under
//! `#shared.` (facts from Courier's maildir library and README.sharedfolders).
//!
//! The index is a text file, by default `/etc/postern/shared/index` (`[mail]
//! shared_index`, Courier's `IMAP_SHAREDINDEXFILE`); an account option `sharedgroup=X`
//! makes that login read `indexX` instead (a separate "universe"). Lines:
//!
//! ```text
//! # a comment (everything from '#' to the end of a line is dropped)
//! alice<TAB>1001<TAB>1001<TAB>/home/alice[<TAB>Maildir path relative to home, default ./Maildir]
//! a<TAB>*<TAB>indexa          a group: its accounts are listed in the file indexa,
//!                             found in the same directory as this file
//! ```
//!
//! An account line needs a uid and a gid other than 0 (Courier skips it otherwise);
//! other malformed lines are skipped with a warning. When two lines at one level have the
//! same name, the later one wins, as in Courier.
//!
//! IMAP names: `#shared.<group>...<account>.<folder...>`. Each level's name is the
//! index's name with `.` and `/` turned into spaces (or, with `[mail]
//! shared_munge_names`, Courier's `IMAP_SHAREDMUNGENAMES`, into `\:` and `\;`, with `\`
//! doubled). The session reads the index after its privilege drop, as the logged-in
//! user: the files must be readable by every mail user (the tool writes them 0644).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Default deepest chain of group lines followed (Courier has no limit and warns against
/// cycles; postern stops at cycles and at this depth).
pub const DEFAULT_MAX_DEPTH: usize = 8;

/// One account of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedAccount {
    /// The name as the index spells it (UTF-8, not munged).
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The account's Maildir: home joined with the line's Maildir path.
    pub maildir: PathBuf,
}

/// One line of an index file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A group: its accounts are in another index file (already resolved to a path).
    Group {
        name: String,
        index: PathBuf,
    },
    Account(SharedAccount),
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Group { name, .. } => name,
            Entry::Account(a) => &a.name,
        }
    }
}

/// How `.` and `/` in index names become IMAP-safe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Munging {
    /// Both become a space (Courier's default).
    #[default]
    Spaces,
    /// `.` -> `\:`, `/` -> `\;`, `\` -> `\\` (Courier's IMAP_SHAREDMUNGENAMES=1).
    Escapes,
}

/// An index name as one level of an IMAP name.
pub fn munge(name: &str, how: Munging) -> String {
    match how {
        Munging::Spaces => name.replace(['.', '/'], " "),
        Munging::Escapes => {
            let mut out = String::with_capacity(name.len());
            for c in name.chars() {
                match c {
                    '.' => out.push_str("\\:"),
                    '/' => out.push_str("\\;"),
                    '\\' => out.push_str("\\\\"),
                    c => out.push(c),
                }
            }
            out
        }
    }
}

/// The index a login reads: `base`, or `base` with the `sharedgroup=` value appended to
/// its file name (`index` + `12` = `index12`).
pub fn index_file(base: &Path, shared_group: Option<&str>) -> PathBuf {
    match shared_group.filter(|g| !g.is_empty()) {
        Some(g) => {
            let mut name = base.as_os_str().to_owned();
            name.push(g);
            PathBuf::from(name)
        }
        None => base.to_path_buf(),
    }
}

/// A group line's file: beside the index that names it. Only plain relative names are
/// followed (Courier pastes any text after the directory; a `..` or an absolute path
/// would leave the index directory, which the format does not mean to allow).
fn group_file(index: &Path, field: &str) -> Option<PathBuf> {
    let rel = Path::new(field);
    if field.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    Some(index.parent().unwrap_or(Path::new("")).join(rel))
}

/// Courier's `maildir_location`: an absolute Maildir path as it is, else below home.
fn location(home: &str, maildir: &str) -> PathBuf {
    if maildir.starts_with('/') {
        PathBuf::from(maildir)
    } else {
        let rel = maildir.strip_prefix("./").unwrap_or(maildir);
        Path::new(home).join(rel)
    }
}

/// An id field as Courier reads it: leading digits; 0 (or none) makes the line invalid.
fn id(field: &str) -> Option<u32> {
    let digits: String = field.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|&n| n != 0)
}

/// One line (without its newline), as Courier's reader takes it; None for blank,
/// comment-only and malformed lines.
fn parse_line(index: &Path, line: &str) -> Option<Entry> {
    let line = line.split('#').next().unwrap_or("");
    let mut fields = line.split('\t');
    let name = fields.next()?;
    let second = fields.next()?;
    if second.starts_with('*') {
        let file = fields.next()?;
        return Some(Entry::Group {
            name: name.to_string(),
            index: group_file(index, file)?,
        });
    }
    let uid = id(second)?;
    let gid = id(fields.next()?)?;
    let home = fields.next()?;
    let maildir = fields
        .next()
        .filter(|m| !m.is_empty())
        .unwrap_or("./Maildir");
    Some(Entry::Account(SharedAccount {
        name: name.to_string(),
        uid,
        gid,
        maildir: location(home, maildir),
    }))
}

/// The lines of one index file, in file order. A missing file is an empty index.
pub fn read(index: &Path) -> io::Result<Vec<Entry>> {
    let text = match fs::read(index) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match parse_line(index, line) {
            Some(e) if !e.name().is_empty() => out.push(e),
            Some(_) => {}
            None if line.split('#').next().is_some_and(|l| !l.is_empty()) => {
                log::warn!("{}({}): syntax error", index.display(), n + 1);
            }
            None => {}
        }
    }
    Ok(out)
}

/// A level below `#shared.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    /// The level's name in IMAP names (munged).
    pub name: String,
    pub entry: Entry,
}

/// What a name below `#shared.` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// `#shared.` itself or a group: a hierarchy level that holds no messages (Courier:
    /// `anyone` may look it up, nothing else).
    Level,
    /// A folder of an account.
    Folder {
        account: SharedAccount,
        /// The folder in the account's Maildir: `INBOX` or `INBOX.a.b`.
        folder: String,
        /// The IMAP name of the account level, e.g. `#shared.alice` (UTF-8).
        prefix: String,
        /// The folder owner's ACL identifier as Courier computes it: `user=<name of the
        /// last group level passed>`, or `vendor=courier.internal` when the account is
        /// at the top level. Courier thus never treats a `#shared.` viewer as `owner`
        /// (in a flat index); the IMAP side should pass `owner: false` for these.
        owner: String,
    },
    /// No such level (or a name Courier refuses: `/` or `..` in it).
    Unknown,
}

/// A login's view of the index.
#[derive(Clone, Debug)]
pub struct Index {
    root: PathBuf,
    munging: Munging,
    max_depth: usize,
}

impl Index {
    /// `base` is the configured index file; `shared_group` the login's `sharedgroup=`.
    pub fn new(
        base: &Path,
        shared_group: Option<&str>,
        munging: Munging,
        max_depth: usize,
    ) -> Index {
        Index {
            root: index_file(base, shared_group),
            munging,
            max_depth,
        }
    }

    /// The index file this login starts from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Children of an index file, later duplicates replacing earlier ones in place.
    fn children(&self, file: &Path) -> io::Result<Vec<Child>> {
        let mut out: Vec<Child> = Vec::new();
        for entry in read(file)? {
            let name = munge(entry.name(), self.munging);
            out.retain(|c| c.name != name);
            out.push(Child { name, entry });
        }
        Ok(out)
    }

    /// Follows group levels from the root; the file of the level named by `groups`
    /// (munged names), with the chain of files passed (for cycle checks). None when a
    /// name is not a group here or the chain is too deep or loops.
    fn group_path(&self, groups: &[&str]) -> io::Result<Option<(PathBuf, Vec<PathBuf>)>> {
        let mut file = self.root.clone();
        let mut chain = vec![file.clone()];
        for g in groups {
            let next = self.children(&file)?.into_iter().find(|c| c.name == *g);
            let Some(Child {
                entry: Entry::Group { index, .. },
                ..
            }) = next
            else {
                return Ok(None);
            };
            if !self.may_enter(&chain, &index) {
                return Ok(None);
            }
            chain.push(index.clone());
            file = index;
        }
        Ok(Some((file, chain)))
    }

    /// Whether a group file may be entered below `chain`: not one of its own ancestors,
    /// and not deeper than the limit.
    fn may_enter(&self, chain: &[PathBuf], next: &Path) -> bool {
        let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        };
        if chain.iter().any(|p| same(p, next)) {
            log::warn!(
                "{}: shared index group loops back; not followed",
                next.display()
            );
            return false;
        }
        if chain.len() > self.max_depth {
            log::warn!(
                "{}: shared index groups nest too deep; not followed",
                next.display()
            );
            return false;
        }
        true
    }

    /// The levels directly below a hierarchy level, given the munged group names that
    /// lead to it (`[]` for `#shared.` itself); None when that is not a group level.
    pub fn level(&self, groups: &[&str]) -> io::Result<Option<Vec<Child>>> {
        match self.group_path(groups)? {
            Some((file, _)) => self.children(&file).map(Some),
            None => Ok(None),
        }
    }

    /// Maps the part of a name after `#shared.` (UTF-8, levels separated by `.`) to a
    /// hierarchy level or an account's folder, as Courier's maildir_info_imap_find does.
    pub fn resolve(&self, name: &str) -> io::Result<Resolved> {
        if name.contains('/') || name.contains("..") {
            return Ok(Resolved::Unknown);
        }
        let mut file = self.root.clone();
        let mut chain = vec![file.clone()];
        let mut prefix = String::from("#shared");
        let mut last_group: Option<String> = None;
        let mut rest = name;
        while !rest.is_empty() {
            let (level, after) = match rest.find('.') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let Some(child) = self.children(&file)?.into_iter().find(|c| c.name == level) else {
                return Ok(Resolved::Unknown);
            };
            prefix.push('.');
            prefix.push_str(level);
            match child.entry {
                Entry::Group { name, index } => {
                    if !self.may_enter(&chain, &index) {
                        return Ok(Resolved::Unknown);
                    }
                    chain.push(index.clone());
                    file = index;
                    last_group = Some(name);
                    rest = after.strip_prefix('.').unwrap_or(after);
                }
                Entry::Account(account) => {
                    let owner = match last_group.filter(|g| !g.is_empty()) {
                        Some(g) => format!("user={g}"),
                        None => "vendor=courier.internal".to_string(),
                    };
                    return Ok(Resolved::Folder {
                        account,
                        folder: format!("INBOX{after}"),
                        prefix,
                        owner,
                    });
                }
            }
        }
        Ok(Resolved::Level)
    }

    /// Every account reachable from the root, groups followed depth first (each account
    /// once, by name and Maildir).
    pub fn accounts(&self) -> io::Result<Vec<SharedAccount>> {
        Ok(self
            .placed_accounts()?
            .into_iter()
            .map(|(_, a)| a)
            .collect())
    }

    /// [`Index::accounts`] with the levels each is listed under below `#shared`
    /// (munged group names, then the account's own munged name).
    pub fn placed_accounts(&self) -> io::Result<Vec<(Vec<String>, SharedAccount)>> {
        let mut out = Vec::new();
        self.collect(std::slice::from_ref(&self.root), &[], false, &mut out)?;
        Ok(out)
    }

    /// [`Index::placed_accounts`] with the levels named as the index spells them, not
    /// munged: Courier's SMAP `public` hierarchy shows and takes these names (a `.` in
    /// one is part of one level there, as `j.doe` in `public j.doe Pub`).
    pub fn placed_accounts_as_named(&self) -> io::Result<Vec<(Vec<String>, SharedAccount)>> {
        let mut out = Vec::new();
        self.collect(std::slice::from_ref(&self.root), &[], true, &mut out)?;
        Ok(out)
    }

    /// A name of the index as IMAP's `#shared.` levels spell it (this index's munging).
    pub fn munged(&self, name: &str) -> String {
        munge(name, self.munging)
    }

    fn collect(
        &self,
        chain: &[PathBuf],
        above: &[String],
        as_named: bool,
        out: &mut Vec<(Vec<String>, SharedAccount)>,
    ) -> io::Result<()> {
        let file = chain.last().expect("chain starts at the root");
        for child in self.children(file)? {
            let mut levels = above.to_vec();
            levels.push(if as_named {
                child.entry.name().to_owned()
            } else {
                child.name
            });
            match child.entry {
                Entry::Account(a) => {
                    if !out.iter().any(|(_, known)| *known == a) {
                        out.push((levels, a));
                    }
                }
                Entry::Group { index, .. } => {
                    if self.may_enter(chain, &index) {
                        let mut deeper = chain.to_vec();
                        deeper.push(index);
                        self.collect(&deeper, &levels, as_named, out)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The account named `name` (as the index spells it) anywhere below the login's root
/// index, with Courier's munging and the default depth limit.
pub fn lookup(
    base: &Path,
    shared_group: Option<&str>,
    name: &str,
) -> io::Result<Option<SharedAccount>> {
    Ok(accounts(base, shared_group)?
        .into_iter()
        .rev()
        .find(|a| a.name == name))
}

/// Every account below the login's root index (groups followed, no cycles, depth
/// bounded by [`DEFAULT_MAX_DEPTH`]).
pub fn accounts(base: &Path, shared_group: Option<&str>) -> io::Result<Vec<SharedAccount>> {
    Index::new(base, shared_group, Munging::Spaces, DEFAULT_MAX_DEPTH).accounts()
}

/// Courier hides an account from `#shared.` when its Maildir cannot be reached or is the
/// viewer's own (same device and inode).
pub fn suppressed(account_maildir: &Path, own_maildir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(account_maildir), fs::metadata(own_maildir)) {
        (Ok(a), Ok(o)) => a.dev() == o.dev() && a.ino() == o.ino(),
        (Err(_), _) => true,
        (Ok(_), Err(_)) => false,
    }
}

// ---------------------------------------------------------------------------------------
// Writing

/// An account line to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLine {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// Relative to home (absolute: used as is); None: Courier's default `./Maildir`.
    pub maildir: Option<PathBuf>,
}

impl AccountLine {
    /// Why the line cannot be written in Courier's format, if it cannot: a tab, newline or
    /// `#` (which starts a comment) in a field, an empty name, or a uid/gid of 0.
    pub fn problem(&self) -> Option<&'static str> {
        let bad = |s: &str| s.contains(['\t', '\n', '\r', '#']);
        let home = self.home.to_string_lossy();
        let maildir = self
            .maildir
            .as_deref()
            .map(|m| m.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.name.is_empty() {
            Some("empty name")
        } else if bad(&self.name) || bad(&home) || bad(&maildir) {
            Some("a tab, newline or '#' in the name or a path")
        } else if self.uid == 0 || self.gid == 0 {
            Some("uid or gid 0 (Courier's index refuses them)")
        } else if home.is_empty() {
            Some("no home directory")
        } else {
            None
        }
    }

    /// `name<TAB>uid<TAB>gid<TAB>home[<TAB>maildir]\n`.
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "{}\t{}\t{}\t{}",
            self.name,
            self.uid,
            self.gid,
            self.home.display()
        );
        if let Some(m) = &self.maildir {
            s.push('\t');
            s.push_str(&m.to_string_lossy());
        }
        s.push('\n');
        s
    }
}

/// The files of an index: the root index's file name -> contents; group files beside it.
pub type IndexFiles = Vec<(String, String)>;

/// Index files for `accounts` (sorted by name): one file `root_name`, or with
/// `split_letters` > 0 Courier's sharedindexsplit layout: accounts in `root_name<key>`
/// where key is their first N letters padded with `_`, and group files for every shorter
/// prefix down to `root_name` itself (`a<TAB>*<TAB>indexa`).
pub fn build(root_name: &str, accounts: &[AccountLine], split_letters: usize) -> IndexFiles {
    let mut accounts = accounts.to_vec();
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let header = "# Written by postern sharedindex; see postern-sharedindex(8).\n";
    if split_letters == 0 {
        let mut text = header.to_string();
        accounts.iter().for_each(|a| text.push_str(&a.to_line()));
        return vec![(root_name.to_string(), text)];
    }
    let key = |name: &str, n: usize| -> String {
        let mut k: String = name.chars().take(n).collect();
        while k.chars().count() < n {
            k.push('_');
        }
        k
    };
    let mut files: std::collections::BTreeMap<String, String> = Default::default();
    for a in &accounts {
        let k = key(&a.name, split_letters);
        files
            .entry(format!("{root_name}{k}"))
            .or_insert_with(|| header.to_string())
            .push_str(&a.to_line());
    }
    // Group files, from the longest prefixes up to the root.
    let mut keys: Vec<String> = accounts
        .iter()
        .map(|a| key(&a.name, split_letters))
        .collect();
    keys.dedup();
    for n in (0..split_letters).rev() {
        let mut parents: Vec<String> = Vec::new();
        for k in &keys {
            let parent: String = k.chars().take(n).collect();
            let text = files
                .entry(format!("{root_name}{parent}"))
                .or_insert_with(|| header.to_string());
            let line = format!("{k}\t*\t{root_name}{k}\n");
            if !text.contains(&line) {
                text.push_str(&line);
            }
            if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
        keys = parents;
    }
    if !files.contains_key(root_name) {
        files.insert(root_name.to_string(), header.to_string());
    }
    // The root last, so a reader never follows a new root into an old group file.
    let root = files.remove(root_name).unwrap_or_default();
    let mut out: IndexFiles = files.into_iter().collect();
    out.push((root_name.to_string(), root));
    out
}

/// Installs index files in `dir`, each atomically (a temporary file in `dir`, fsync,
/// rename), mode 0644 so every mail user's session can read them; in the given order
/// (the root index last, see [`build`]).
pub fn install(dir: &Path, files: &IndexFiles) -> io::Result<()> {
    for (name, text) in files {
        let target = dir.join(name);
        let tmp = dir.join(format!(".{name}.postern-tmp.{}", std::process::id()));
        let r = (|| -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(0o644))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &target)
        })();
        if let Err(e) = r {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    }
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn munging_as_courier() {
        assert_eq!(munge("a.b/c", Munging::Spaces), "a b c");
        assert_eq!(munge("a.b/c\\d", Munging::Escapes), "a\\:b\\;c\\\\d");
    }

    #[test]
    fn levels_munged_for_imap_and_as_named_for_smap() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("index");
        fs::write(&base, "st.aff\t*\tindexg\n").unwrap();
        fs::write(d.path().join("indexg"), "k.x\t1000\t1000\t/home/k\n").unwrap();
        let index = Index::new(&base, None, Munging::Spaces, DEFAULT_MAX_DEPTH);
        let levels = |v: Vec<(Vec<String>, SharedAccount)>| {
            v.into_iter().map(|(l, _)| l).collect::<Vec<_>>()
        };
        assert_eq!(
            levels(index.placed_accounts().unwrap()),
            [["st aff", "k x"]]
        );
        assert_eq!(
            levels(index.placed_accounts_as_named().unwrap()),
            [["st.aff", "k.x"]]
        );
        assert_eq!(index.munged("k.x"), "k x");
    }

    #[test]
    fn lines_as_courier_reads_them() {
        let idx = Path::new("/etc/x/index");
        assert_eq!(
            parse_line(idx, "alice\t1001\t100\t/home/alice"),
            Some(Entry::Account(SharedAccount {
                name: "alice".into(),
                uid: 1001,
                gid: 100,
                maildir: "/home/alice/Maildir".into()
            }))
        );
        let Some(Entry::Account(a)) = parse_line(idx, "bob\t1\t2\t/h\t/var/mail/bob # x") else {
            panic!()
        };
        assert_eq!(a.maildir, Path::new("/var/mail/bob "));
        assert_eq!(
            parse_line(idx, "g\t*\tindexg\textra"),
            Some(Entry::Group {
                name: "g".into(),
                index: "/etc/x/indexg".into()
            })
        );
        assert_eq!(parse_line(idx, "root\t0\t0\t/root"), None);
        assert_eq!(parse_line(idx, "g\t*\t../../etc/passwd"), None);
        assert_eq!(parse_line(idx, "# comment"), None);
        assert_eq!(parse_line(idx, "noTab"), None);
    }

    #[test]
    fn split_layout_matches_sharedindexsplit() {
        let line = |n: &str| AccountLine {
            name: n.into(),
            uid: 1000,
            gid: 1000,
            home: format!("/home/{n}").into(),
            maildir: None,
        };
        let files = build("index", &[line("bob"), line("al"), line("b")], 2);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.last(), Some(&"index"));
        let get = |n: &str| &files.iter().find(|(f, _)| f == n).unwrap().1;
        assert!(get("index").contains("a\t*\tindexa\n"));
        assert!(get("index").contains("b\t*\tindexb\n"));
        assert!(get("indexa").contains("al\t*\tindexal\n"));
        assert!(get("indexb").contains("b_\t*\tindexb_\n"));
        assert!(get("indexb").contains("bo\t*\tindexbo\n"));
        assert!(get("indexb_").contains("b\t1000\t1000\t/home/b\n"));
    }
}
