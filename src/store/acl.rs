//! Access control lists exactly as Courier-IMAP keeps them (RFC 4314 with Courier's
//! `ACL2=UNION`), so a Maildir moves between Courier and postern with its sharing intact.
//!
//! On disk (facts from Courier's maildir library, checked against Courier 5.0.13):
//! * every folder may carry `courierimapacl` in its directory, INBOX's in the Maildir root;
//!   one entry a line, `<identifier> <rights>\n`, in the order they were added;
//! * identifiers: `owner`, `anyone`, `anonymous`, `authuser`, `administrators`,
//!   `user=<login>`, `group=<name>`, each possibly negated with a leading `-`;
//! * rights: a sorted set of characters without duplicates. Courier stores the letters
//!   `a c e i l r s t w x` (`c` is "create sub-folders", RFC 4314's `k`; `x` "delete the
//!   folder"; `t`/`e` "delete messages"/"expunge") and keeps any other printable letter it
//!   is given (SETACL `kt` is stored as `kt`);
//! * a folder without the file inherits its parent's ACL (`INBOX.a.b` <- `INBOX.a` <-
//!   INBOX) and the inherited list is written into the folder at once; INBOX without the
//!   file has the default `owner aceilrstwx` / `administrators aceilrstwx`, not written;
//! * a hierarchy level that is not a folder (`INBOX.x` when only `.x.y` exists) keeps its
//!   list in `courierimaphieracl/x` in the Maildir root; IMAP's CREATE copies it into
//!   the new folder, SMAP's CREATE writes the new folder's list there before it makes the
//!   folder, and a folder without its own file reads the level's file where it is;
//! * after reading, `administrators` (or `group=administrators` when that is present) is
//!   given every right and `-administrators` / `-group=administrators` are dropped;
//! * a list is only written when `owner` keeps `a` and `l` (also the folder owner's own
//!   `user=` identifier when one is given) and administrators keep every right.
//!
//! On the wire Courier shows RFC 2086 letters: GETACL and MYRIGHTS drop `e t x` and show
//! `d` in place of all three ([`Rights::to_wire`]); SELECT's `* OK [MYRIGHTS ...]` and
//! LIST's `(ACL ...)`/`(MYRIGHTS ...)` only rewrite when all three are present and show
//! the stored letters otherwise ([`Rights::to_wire_full`]). Observed from Courier 5.0.13
//! imapd (PREAUTH as `alice`, `IMAP_ACL=1`):
//!
//! ```text
//! a3 GETACL INBOX
//! * ACL "INBOX" "owner" "acdilrsw" "administrators" "acdilrsw"
//! a5 LISTRIGHTS INBOX joe
//! * LISTRIGHTS "INBOX" "joe" "" a c d i l p r s w
//! b1 SETACL INBOX.Sent joe lr          -> stored "user=joe lr"
//! b3 SETACL INBOX.Sent user=bob +lrw   -> "b3 NO Invalid ACL identifier."
//! b6 SETACL INBOX.Sent owner lr        -> "b6 NO Cannot modify ACLs on this mailbox."
//! b7 SETACL INBOX.Sent owner -a        -> "b7 NO Cannot modify ACLs as requested."
//! c1 SETACL INBOX.Sent joe xyz         -> GETACL shows "joe" "yz"
//! d8 SETACL INBOX.Sent joe kt          -> stored "user=joe kt", GETACL shows "k"
//! * OK [MYRIGHTS "acdilrsw"] ACL       (SELECT, before the tagged OK)
//! ```

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{folder, fsutil};

/// The per-folder ACL file.
pub const ACL_FILE: &str = "courierimapacl";
/// The directory, in the Maildir root, of ACLs for hierarchy levels that are not folders.
pub const HIER_DIR: &str = "courierimaphieracl";

/// Every right Courier stores, in its order.
const ALL_LETTERS: &str = "aceilrstwx";
/// The three rights RFC 2086's `d` stands for in Courier: delete folder, delete
/// messages, expunge.
const DELETE_LETTERS: &str = "xte";
/// What an owner always keeps (Courier refuses a list that takes them away).
const OWNER_MINIMUM: &str = "al";

/// What can go wrong with an ACL; `Display` is fit for an IMAP `NO` response.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    #[error("Invalid ACL identifier.")]
    InvalidIdentifier(String),
    #[error("Invalid access rights.")]
    InvalidRights(String),
    #[error("Invalid mailbox name.")]
    InvalidFolder(String),
    /// The change would take `a` or `l` from the owner (Courier's `err_failedrights`);
    /// carries the identifier that would lose them.
    #[error("Trying to set invalid access rights for {0}")]
    MinimumRights(String),
    /// The change would take a right from administrators (or the list is otherwise not
    /// one Courier would write).
    #[error("Cannot modify ACLs on this mailbox.")]
    Refused,
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl AclError {
    /// Whether this is a refusal of the request (bad identifier, rights or folder, or a
    /// list Courier would not write) rather than a failure of the disk.
    pub fn is_invalid(&self) -> bool {
        !matches!(self, AclError::Io(_))
    }
}

type Result<T> = std::result::Result<T, AclError>;

// ---------------------------------------------------------------------------------------
// Rights

/// A set of rights letters: one bit per printable ASCII character, so the letters
/// Courier keeps without knowing them (`k`, `p`, ...) survive a read and a write.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Rights(u128);

impl Rights {
    /// Every right Courier stores: `aceilrstwx`.
    pub const ALL: Rights = Rights::from_static(ALL_LETTERS);

    const fn from_static(letters: &str) -> Rights {
        let b = letters.as_bytes();
        let mut bits = 0u128;
        let mut i = 0;
        while i < b.len() {
            bits |= 1u128 << b[i];
            i += 1;
        }
        Rights(bits)
    }

    pub fn empty() -> Rights {
        Rights(0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a letter is stored (no RFC 2086 mapping).
    pub fn contains(self, letter: char) -> bool {
        letter.is_ascii_graphic() && self.0 & (1u128 << letter as u32) != 0
    }

    /// Whether the right is granted, in RFC 4314's letters: `k` is Courier's stored `c`
    /// (create sub-folders). The RFC 2086 letters stand for what Courier maps them to
    /// (RFC 4314 §2.1.1 lets a server tie `x` to either; Courier ties it to `d`): `c` is
    /// the stored `c` (= `k`), `d` is any of `x t e`.
    pub fn has(self, letter: char) -> bool {
        match letter {
            'k' => self.contains('c'),
            'd' => DELETE_LETTERS.chars().any(|l| self.contains(l)),
            l => self.contains(l),
        }
    }

    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub fn minus(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    /// The stored letters in ascending order.
    pub fn letters(self) -> impl Iterator<Item = char> {
        (0x21u8..0x7f)
            .filter(move |c| self.0 & (1u128 << c) != 0)
            .map(char::from)
    }

    /// Letters as Courier's lists take them: any printable character; a space, control or
    /// non-ASCII character makes the whole string invalid (Courier: EINVAL).
    fn parse_letters(text: &str) -> Result<Rights> {
        let mut bits = 0u128;
        for c in text.chars() {
            if !c.is_ascii_graphic() {
                return Err(AclError::InvalidRights(text.to_string()));
            }
            bits |= 1u128 << c as u32;
        }
        Ok(Rights(bits))
    }

    /// SETACL's rights (without `+`/`-`) as Courier's imapd takes them: RFC 2086 `d`
    /// becomes `x t e`; every other letter is kept as given.
    pub fn parse_wire(text: &str) -> Result<Rights> {
        let r = Rights::parse_letters(text)?;
        if r.contains('d') {
            Ok(r.minus(Rights::from_static("d"))
                .union(Rights::from_static(DELETE_LETTERS)))
        } else {
            Ok(r)
        }
    }

    /// As Courier's GETACL and MYRIGHTS commands print them: `e t x` never appear; `d`
    /// stands where all three were (`aceilrstwx` -> `acdilrsw`, `kt` -> `k`).
    pub fn to_wire(self) -> String {
        let all_three = DELETE_LETTERS.chars().all(|l| self.contains(l));
        self.letters()
            .filter_map(|c| match c {
                'e' if all_three => Some('d'),
                'e' | 't' | 'x' => None,
                c => Some(c),
            })
            .collect()
    }

    /// As Courier prints SELECT's `[MYRIGHTS ...]` and LIST's `ACL`/`MYRIGHTS` items: like
    /// [`Rights::to_wire`] when all of `e t x` are present, else the stored letters.
    pub fn to_wire_full(self) -> String {
        if DELETE_LETTERS.chars().all(|l| self.contains(l)) {
            self.to_wire()
        } else {
            self.to_stored()
        }
    }

    /// Rights as they appear after the identifier in `courierimapacl`.
    pub fn parse_stored(text: &str) -> Result<Rights> {
        Rights::parse_letters(text)
    }

    /// As Courier writes them: sorted, no duplicates.
    pub fn to_stored(self) -> String {
        self.letters().collect()
    }
}

// ---------------------------------------------------------------------------------------
// The list

/// One folder's ACL: identifiers with their rights, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    entries: Vec<(String, Rights)>,
}

impl Acl {
    /// Identifiers as stored (with `user=`/`group=` and a leading `-` for negative ones).
    pub fn entries(&self) -> impl Iterator<Item = (&str, Rights)> {
        self.entries.iter().map(|(i, r)| (i.as_str(), *r))
    }

    pub fn get(&self, identifier: &str) -> Option<Rights> {
        self.entries
            .iter()
            .find(|(i, _)| i == identifier)
            .map(|(_, r)| *r)
    }

    /// Sets an identifier's rights; an existing entry keeps its place (as Courier's list).
    pub fn put(&mut self, identifier: &str, rights: Rights) -> Result<()> {
        check_identifier(identifier)?;
        match self.entries.iter_mut().find(|(i, _)| i == identifier) {
            Some(e) => e.1 = rights,
            None => self.entries.push((identifier.to_string(), rights)),
        }
        Ok(())
    }

    pub fn remove(&mut self, identifier: &str) {
        self.entries.retain(|(i, _)| i != identifier);
    }

    /// INBOX's list when it has no file.
    fn inbox_default() -> Acl {
        let mut acl = Acl::default();
        acl.entries.push(("owner".into(), Rights::ALL));
        acl.force_administrators();
        acl
    }

    /// Parses a file; lines Courier would not take (no identifier, a control character,
    /// rights with a space) are skipped as Courier skips them.
    pub fn parse(text: &str) -> Acl {
        let mut acl = Acl::default();
        for line in text.split('\n') {
            let (ident, rights) = match line.find(' ') {
                Some(i) => (&line[..i], line[i..].trim_start_matches(' ')),
                None => (line, ""),
            };
            if let Ok(r) = Rights::parse_stored(rights) {
                let _ = acl.put(ident, r);
            }
        }
        acl.force_administrators();
        acl
    }

    /// The file's bytes: `<identifier> <rights>\n` per entry (an entry without rights
    /// keeps its space, as Courier writes it).
    pub fn to_file(&self) -> String {
        self.entries
            .iter()
            .map(|(i, r)| format!("{i} {}\n", r.to_stored()))
            .collect()
    }

    /// Administrators always have every right, and cannot be denied any.
    fn force_administrators(&mut self) {
        let admin = if self.get("group=administrators").is_some() {
            "group=administrators"
        } else {
            "administrators"
        };
        let old = self.get(admin).unwrap_or_default();
        let _ = self.put(admin, Rights::ALL.union(old));
        self.remove("-administrators");
        self.remove("-group=administrators");
    }

    /// Union of the positive entries `matches` accepts, minus the negative ones (the
    /// `anyone`/`anonymous` identifiers always match; `administrators` and
    /// `group=administrators` match each other).
    fn compute(&self, matches: &dyn Fn(&str) -> bool) -> Rights {
        let is = |ident: &str| {
            if ident == "anyone" || ident == "anonymous" {
                true
            } else if ident == "administrators" || ident == "group=administrators" {
                matches("administrators") || matches("group=administrators")
            } else {
                matches(ident)
            }
        };
        let mut r = Rights::empty();
        for (i, rights) in self.entries() {
            if !i.starts_with('-') && is(i) {
                r = r.union(rights);
            }
        }
        for (i, rights) in self.entries() {
            if let Some(pos) = i.strip_prefix('-')
                && is(pos)
            {
                r = r.minus(rights);
            }
        }
        r
    }

    /// Courier's checks before a list is written: `owner` (and `owner_identifier`, e.g.
    /// `user=alice`, when given) keep `a` and `l`; administrators keep every right.
    fn check_writable(&self, owner_identifier: Option<&str>) -> Result<()> {
        let minimum = Rights::from_static(OWNER_MINIMUM);
        let owner = self.compute(&|i| i == "owner");
        if owner.union(minimum) != owner {
            return Err(AclError::MinimumRights("owner".into()));
        }
        if let Some(me) = owner_identifier {
            let mine = self.compute(&|i| i == "owner" || i == me);
            if mine.union(minimum) != mine {
                return Err(AclError::MinimumRights(me.to_string()));
            }
        }
        let admin = self.compute(&|i| i == "administrators");
        if admin.union(Rights::ALL) != admin {
            return Err(AclError::Refused);
        }
        Ok(())
    }
}

/// Identifiers are words: not empty, no space or control character (Courier's rule).
fn check_identifier(identifier: &str) -> Result<()> {
    if identifier.is_empty() || identifier.chars().any(|c| c <= ' ' || c == '\u{7f}') {
        return Err(AclError::InvalidIdentifier(identifier.to_string()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Who is asking

/// Who is asking: the login name, its account groups (the names of the account's
/// `group=` options, without `group=`), and whether it owns the Maildir.
pub struct Viewer<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub owner: bool,
}

/// The viewer's rights (ACL2=UNION): the union of every entry that names the viewer
/// (`user=<login>`, `owner` for the Maildir's owner, `group=<name>` for each account
/// group, `anyone`, `anonymous`) minus the union of the negative entries that name it.
/// Administrators get every right from the list itself (it is forced on reading); the
/// owner always has `a` (Courier: "the owner always gets admin rights").
pub fn rights(acl: &Acl, viewer: &Viewer) -> Rights {
    let user = format!("user={}", viewer.user);
    let matches = |ident: &str| {
        ident == user
            || (viewer.owner && ident == "owner")
            || ident
                .strip_prefix("group=")
                .is_some_and(|g| viewer.groups.iter().any(|v| v == g))
    };
    let r = acl.compute(&matches);
    if viewer.owner {
        r.union(Rights::from_static("a"))
    } else {
        r
    }
}

/// The rights of whoever the given stored identifiers name (`maildiracl -compute`):
/// union minus negatives over the identifiers listed, plus `a` when `owner` is one of
/// them.
pub fn compute(acl: &Acl, identifiers: &[&str]) -> Rights {
    let r = acl.compute(&|i| identifiers.contains(&i));
    if identifiers.contains(&"owner") {
        r.union(Rights::from_static("a"))
    } else {
        r
    }
}

/// Courier's test for whether rights let their holder see a folder's rights at all
/// (MYRIGHTS, LISTRIGHTS, LIST's MYRIGHTS item): any of `l r i c x e a`.
pub fn can_list_rights(r: Rights) -> bool {
    "lricxea".chars().any(|l| r.contains(l))
}

/// An identifier of RFC 2086's SETACL/DELETEACL as Courier's imapd stores it: the special
/// names (`anyone`, `anonymous`, `authuser`, `owner`, `administrators`, negated or not)
/// as they are, a login `joe` as `user=joe` (`-joe` as `-user=joe`); anything else with
/// an `=` is refused ("NO Invalid ACL identifier.").
pub fn identifier_from_wire(identifier: &str) -> Result<String> {
    let (neg, bare) = match identifier.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", identifier),
    };
    let stored = match bare {
        "anyone" | "anonymous" | "authuser" | "owner" | "administrators" => identifier.to_string(),
        b if b.contains('=') => {
            return Err(AclError::InvalidIdentifier(identifier.to_string()));
        }
        b => format!("{neg}user={b}"),
    };
    // Spaces and the like are refused when the list is changed, as in Courier (whose
    // answer is then "Cannot modify ACLs on this mailbox.").
    Ok(stored)
}

/// How GETACL names a stored identifier: `user=joe` as `joe`, `-user=joe` as `-joe`,
/// the special names as they are; `None` for identifiers GETACL leaves out (`group=`
/// and any other `x=` form).
pub fn identifier_to_wire(identifier: &str) -> Option<String> {
    let (neg, bare) = match identifier.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", identifier),
    };
    if !bare.contains('=') {
        return Some(identifier.to_string());
    }
    bare.strip_prefix("user=").map(|u| format!("{neg}{u}"))
}

/// LISTRIGHTS: the rights always granted and the optional ones, as Courier answers for an
/// identifier that is not the folder owner's login (see [`list_rights_of`]).
pub fn list_rights(identifier: &str) -> (Rights, Vec<Rights>) {
    list_rights_of(identifier, None)
}

/// LISTRIGHTS as Courier answers it, given the login that owns the folder (the wire
/// identifier is compared with it): the owner's login always has `a l`; a negative
/// `-anyone`/`-anonymous`/`-<owner>` may only take `c d i p r s w`; everyone else may be
/// given any of `a c d i l p r s w` (`d` = `x t e`). [`listrights_wire`] prints it.
pub fn list_rights_of(identifier: &str, owner_login: Option<&str>) -> (Rights, Vec<Rights>) {
    let is_owner = |id: &str| owner_login.is_some_and(|o| o == id);
    let group = |letters: &str| -> Vec<Rights> {
        letters
            .chars()
            .map(|c| Rights::parse_wire(&c.to_string()).unwrap_or_default())
            .collect()
    };
    if let Some(neg) = identifier.strip_prefix('-')
        && (neg == "anyone" || neg == "anonymous" || is_owner(neg))
    {
        return (Rights::empty(), group("cdiprsw"));
    }
    if is_owner(identifier) {
        return (Rights::from_static(OWNER_MINIMUM), group("cdiprsw"));
    }
    (Rights::empty(), group("acdilprsw"))
}

/// The part of Courier's `* LISTRIGHTS "<mailbox>" "<identifier>" ...` line after the
/// identifier: `"" a c d i l p r s w` (observed from Courier 5.0.13 for `joe`, `owner`,
/// `anyone`, `administrators`), `"al" c d i p r s w` for the owner's login,
/// `"" c d i p r s w` for `-anyone`.
pub fn listrights_wire(identifier: &str, owner_login: Option<&str>) -> String {
    let (required, optional) = list_rights_of(identifier, owner_login);
    let mut out = format!("\"{}\"", required.to_wire());
    for r in optional {
        out.push(' ');
        out.push_str(&r.to_wire());
    }
    out
}

/// A quoted string as Courier's imapd writes it (`\` and `"` escaped).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What follows the mailbox in Courier's `* ACL "<mailbox>"` line (GETACL): each entry
/// as ` "<identifier>" "<rights>"` with [`identifier_to_wire`] and [`Rights::to_wire`];
/// `group=` entries are left out. Observed: ` "owner" "acdilrsw" "administrators"
/// "acdilrsw" "joe" "lr"`, and ` "-joe" "lr"` for `-user=joe lr`.
pub fn getacl_wire(acl: &Acl) -> String {
    let mut out = String::new();
    for (ident, rights) in acl.entries() {
        if let Some(name) = identifier_to_wire(ident) {
            out.push(' ');
            out.push_str(&quoted(&name));
            out.push(' ');
            out.push_str(&quoted(&rights.to_wire()));
        }
    }
    out
}

/// LIST's `("ACL" (...))` item as Courier writes it: stored identifiers, rights as
/// [`Rights::to_wire_full`]. Observed: `("ACL" (("owner" "acdilrsw")("administrators"
/// "acdilrsw")("user=joe" "lr")))`.
pub fn list_acl_wire(acl: &Acl) -> String {
    let mut out = String::from("(\"ACL\" (");
    for (ident, rights) in acl.entries() {
        out.push('(');
        out.push_str(&quoted(ident));
        out.push(' ');
        out.push_str(&quoted(&rights.to_wire_full()));
        out.push(')');
    }
    out.push_str("))");
    out
}

/// The text of Courier's tagged NO for a failed SETACL/DELETEACL: `Cannot modify ACLs as
/// requested.` only when a `+`/`-` change would take `a`/`l` from the owner; every other
/// refusal (a plain SETACL or DELETEACL included, whatever the reason) `Cannot modify
/// ACLs on this mailbox.` (observed from Courier 5.0.13).
pub fn setacl_error_text(change: Option<Change>, err: &AclError) -> &'static str {
    match (change, err) {
        (Some(Change::Add(_) | Change::Remove(_)), AclError::MinimumRights(_)) => {
            "Cannot modify ACLs as requested."
        }
        _ => "Cannot modify ACLs on this mailbox.",
    }
}

// ---------------------------------------------------------------------------------------
// Files

/// The directory name of a folder below the root (`INBOX.a.b` -> `.a.b`), None for INBOX.
fn folder_path(name: &str) -> Result<Option<String>> {
    let canonical =
        folder::canonical_name(name).map_err(|_| AclError::InvalidFolder(name.to_string()))?;
    Ok(folder::dir_name(&canonical))
}

/// The parent level of `.a.b` (`.a`), or None for a top-level folder (parent INBOX).
fn parent_path(path: &str) -> Option<&str> {
    let i = path.rfind('.')?;
    (i > 0).then(|| &path[..i])
}

fn folder_file(root: &Path, path: &str) -> PathBuf {
    root.join(path).join(ACL_FILE)
}

fn hier_file(root: &Path, path: &str) -> PathBuf {
    root.join(HIER_DIR).join(&path[1..])
}

fn read_text(path: &Path) -> Result<Option<String>> {
    match fsutil::read_optional(path)? {
        Some(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        None => Ok(None),
    }
}

/// A level's own list, None when it has none: the folder's file, else its hierarchy
/// file. A hierarchy file is read where it is, also when the folder exists: Courier
/// 5.0.13's imapd does not move it (observed: GETACL of a folder with only
/// `courierimaphieracl/<name>` shows that list and leaves both files as they were), and
/// its SMAP CREATE leaves every new folder's list there.
fn read_own(root: &Path, path: &str) -> Result<Option<Acl>> {
    if let Some(t) = read_text(&folder_file(root, path))? {
        return Ok(Some(Acl::parse(&t)));
    }
    Ok(read_text(&hier_file(root, path))?.map(|t| Acl::parse(&t)))
}

/// A level's effective list: its own, else its parent's (written back here, as Courier
/// does, so later changes to the parent no longer reach it).
fn read_path(root: &Path, path: Option<&str>) -> Result<Acl> {
    let Some(path) = path else {
        return Ok(match read_text(&root.join(ACL_FILE))? {
            Some(t) => Acl::parse(&t),
            None => Acl::inbox_default(),
        });
    };
    if let Some(acl) = read_own(root, path)? {
        return Ok(acl);
    }
    let inherited = read_path(root, parent_path(path))?;
    write_path(root, Some(path), &inherited, None)?;
    Ok(inherited)
}

/// The mode of a new ACL file: readable by all like Courier's (0644), and writable by
/// group or others exactly where the directory it lives in is, so folders shared by
/// several uids of one group stay writable for all of them and nothing becomes
/// world-writable unless its directory is.
fn file_mode(dir: &Path) -> u32 {
    let dir_mode = fs::metadata(dir).map(|m| m.mode()).unwrap_or(0o700);
    0o644 | (dir_mode & 0o022)
}

/// Writes a level's list after Courier's checks: into the folder when it exists, else
/// into `courierimaphieracl/` (made 0755, plus the root's group/other write bits).
/// Temporary file in the folder's (or root's) `tmp/`, fsync, rename, fsync of the
/// directory.
fn write_path(root: &Path, path: Option<&str>, acl: &Acl, owner: Option<&str>) -> Result<()> {
    acl.check_writable(owner)?;
    let (dir, target) = match path {
        None => (root.to_path_buf(), root.join(ACL_FILE)),
        Some(p) if root.join(p).join("tmp").is_dir() => (root.join(p), folder_file(root, p)),
        Some(p) => {
            let hier = root.join(HIER_DIR);
            if !hier.is_dir() {
                make_hier_dir(root)?;
            }
            (hier.clone(), hier_file(root, p))
        }
    };
    let tmp_dir = if target.starts_with(root.join(HIER_DIR)) {
        root.join("tmp")
    } else {
        dir.join("tmp")
    };
    let mode = file_mode(&dir);
    let (mut f, tmp) = fsutil::create_unique(&tmp_dir, ".acl")?;
    let r = (|| -> io::Result<()> {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(acl.to_file().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    fsutil::fsync_dir(&dir)?;
    Ok(())
}

fn make_hier_dir(root: &Path) -> io::Result<()> {
    let mode = 0o755 | (fs::metadata(root).map(|m| m.mode()).unwrap_or(0) & 0o022);
    match fs::DirBuilder::new().mode(mode).create(root.join(HIER_DIR)) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let _ = fs::set_permissions(root.join(HIER_DIR), fs::Permissions::from_mode(mode));
    Ok(())
}

/// The effective ACL of `folder` ("INBOX" or "INBOX.a.b"), inherited from its parents
/// when it has none (and then written into it, as Courier does).
pub fn load(root: &Path, folder: &str) -> Result<Acl> {
    let path = folder_path(folder)?;
    read_path(root, path.as_deref())
}

/// Writes a whole list for `folder` after Courier's checks (owner keeps `a l`, and so
/// does `owner_identifier` such as `user=alice` when given; administrators keep all).
pub fn store(root: &Path, folder: &str, acl: &Acl, owner_identifier: Option<&str>) -> Result<()> {
    let path = folder_path(folder)?;
    write_path(root, path.as_deref(), acl, owner_identifier)
}

/// Courier's lock around a change of a list (its imapd takes the Maildir's dot-lock,
/// `tmp/courier.lock` of the account's root, for SETACL/DELETEACL), so two changes at
/// once do not lose one. Held only for the read-modify-write; do not call with that lock
/// already held.
pub fn lock(root: &Path) -> io::Result<super::lock::DotLock> {
    super::lock::DotLock::acquire(root)
}

/// One change to one identifier's rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add(Rights),
    Remove(Rights),
    Replace(Rights),
}

impl Change {
    /// SETACL's (and `maildiracl -set`'s) rights argument: `+letters`, `-letters` or
    /// `letters`; `wire` maps RFC 2086 `d` as SETACL does (the tool stores letters as
    /// given).
    pub fn parse(text: &str, wire: bool) -> Result<Change> {
        let parse = |t: &str| {
            if wire {
                Rights::parse_wire(t)
            } else {
                Rights::parse_stored(t)
            }
        };
        Ok(match text.as_bytes().first() {
            Some(b'+') => Change::Add(parse(&text[1..])?),
            Some(b'-') => Change::Remove(parse(&text[1..])?),
            _ => Change::Replace(parse(text)?),
        })
    }
}

/// Applies a change to one entry and writes the list. With `drop_empty` (SETACL) an
/// entry left without rights is removed, as Courier's imapd does; without it (the
/// `maildiracl` tool) it stays as `<identifier> ` with no letters.
pub fn modify(
    root: &Path,
    folder: &str,
    identifier: &str,
    change: Change,
    drop_empty: bool,
    owner_identifier: Option<&str>,
) -> Result<()> {
    check_identifier(identifier)?;
    let path = folder_path(folder)?;
    let _lock = lock(root)?;
    let mut acl = read_path(root, path.as_deref())?;
    let old = acl.get(identifier).unwrap_or_default();
    let new = match change {
        Change::Add(r) => old.union(r),
        Change::Remove(r) => old.minus(r),
        Change::Replace(r) => r,
    };
    if new.is_empty() && drop_empty {
        acl.remove(identifier);
    } else {
        acl.put(identifier, new)?;
    }
    write_path(root, path.as_deref(), &acl, owner_identifier)
}

/// SETACL: `rights` is `[+|-]letters` in wire letters (`d` = `x t e`); `identifier` as
/// stored (see [`identifier_from_wire`]). Rights that end up empty remove the entry.
pub fn set(root: &Path, folder: &str, identifier: &str, rights: &str) -> Result<()> {
    let change = Change::parse(rights, true)?;
    modify(root, folder, identifier, change, true, None)
}

/// DELETEACL: removes an identifier's entry (refused when that takes `a`/`l` from the
/// owner or rights from administrators).
pub fn delete(root: &Path, folder: &str, identifier: &str) -> Result<()> {
    delete_as(root, folder, identifier, None)
}

/// [`delete`] with the folder owner's identifier checked too.
pub fn delete_as(
    root: &Path,
    folder: &str,
    identifier: &str,
    owner_identifier: Option<&str>,
) -> Result<()> {
    let path = folder_path(folder)?;
    let _lock = lock(root)?;
    let mut acl = read_path(root, path.as_deref())?;
    acl.remove(identifier);
    write_path(root, path.as_deref(), &acl, owner_identifier)
}

/// After CREATE made a folder's directory (call it for each folder made): the folder
/// takes its hierarchy ACL if it had one, else inherits its parent's, written into it.
pub fn folder_created(root: &Path, folder: &str) -> Result<()> {
    if let Some(path) = folder_path(folder)? {
        let hier = hier_file(root, &path);
        if let Some(text) = read_text(&hier)? {
            // As Courier's CREATE: the level's list is read (administrators forced) and
            // written into the new folder; a list that cannot be written is dropped and
            // the folder inherits instead. Courier 5.0.13 leaves the level's file behind
            // (observed; its delete is given the IMAP name and does nothing), and so do
            // we: the folder's own file wins from now on.
            let acl = Acl::parse(&text);
            if let Err(e) = write_path(root, Some(&path), &acl, None) {
                log::warn!("{folder}: the hierarchy ACL was not kept: {e}");
            }
        }
    }
    load(root, folder).map(|_| ())
}

/// After RENAME moved folder directories (their ACL files move with them): the
/// hierarchy ACLs of `from` and of the levels below it are renamed to match.
pub fn folder_renamed(root: &Path, from: &str, to: &str) -> Result<()> {
    let (Some(from), Some(to)) = (folder_path(from)?, folder_path(to)?) else {
        return Ok(());
    };
    let (from, to) = (&from[1..], &to[1..]);
    let hier = root.join(HIER_DIR);
    for name in fsutil::list_names(&hier)? {
        let rest = match name.strip_prefix(from) {
            Some(r) if r.is_empty() || r.starts_with('.') => r,
            _ => continue,
        };
        fs::rename(hier.join(&name), hier.join(format!("{to}{rest}")))?;
    }
    fsutil::fsync_dir(&hier).or_else(|e| match e.kind() {
        io::ErrorKind::NotFound => Ok(()),
        _ => Err(e),
    })?;
    Ok(())
}

/// Call just BEFORE a folder's directory is removed (DELETE): when sub-folders keep the
/// name alive as a hierarchy level, its ACL is kept in `courierimaphieracl/` (as
/// Courier's DELETE does), so the level shows the same rights and a later CREATE gets
/// them back. Called after the directory is gone it has nothing left to keep.
///
/// Sub-folders without a list of their own go on inheriting from the level. (Courier's
/// DELETE also scans for sub-folders after the directory is gone and before the level
/// file is written, and so writes INBOX's list into whichever sub-folder `readdir()`
/// returns first; postern does not reproduce that accident of ordering.)
pub fn folder_deleted(root: &Path, folder: &str) -> Result<()> {
    let Some(path) = folder_path(folder)? else {
        return Ok(());
    };
    if !root.join(&path).is_dir() || !has_subfolders(root, &path)? {
        return Ok(());
    }
    let acl = read_path(root, Some(&path))?;
    acl.check_writable(None)?;
    if !root.join(HIER_DIR).is_dir() {
        make_hier_dir(root)?;
    }
    let target = hier_file(root, &path);
    let (mut f, tmp) = fsutil::create_unique(&root.join("tmp"), ".acl")?;
    let r = (|| -> io::Result<()> {
        f.set_permissions(fs::Permissions::from_mode(file_mode(&root.join(HIER_DIR))))?;
        f.write_all(acl.to_file().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(())
}

fn has_subfolders(root: &Path, path: &str) -> Result<bool> {
    let prefix = format!("{path}.");
    Ok(fs::read_dir(root)?.filter_map(|e| e.ok()).any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
    }))
}

/// `maildiracl -reset`: removes hierarchy ACLs no folder needs any more (no folder below
/// the level exists) once they are an hour old (a CREATE may be on its way). Makes the
/// directory when it is missing, as Courier does.
pub fn reset(root: &Path) -> Result<()> {
    let hier = root.join(HIER_DIR);
    if !hier.is_dir() {
        make_hier_dir(root)?;
    }
    let folders: Vec<String> = fs::read_dir(root)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('.') && n != "." && n != "..")
        .collect();
    let now = std::time::SystemTime::now();
    for name in fsutil::list_names(&hier)? {
        let prefix = format!(".{name}.");
        if folders.iter().any(|f| f.starts_with(&prefix)) {
            continue;
        }
        let file = hier.join(&name);
        let old = fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age.as_secs() > 60 * 60);
        if old {
            let _ = fs::remove_file(&file);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Rights {
        Rights::parse_stored(s).unwrap()
    }

    fn maildir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(d.path().join(sub)).unwrap();
        }
        d
    }

    fn make_folder(root: &Path, dir: &str) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(dir).join(sub)).unwrap();
        }
    }

    fn file(root: &Path, rel: &str) -> String {
        fs::read_to_string(root.join(rel)).unwrap()
    }

    #[test]
    fn rights_print_as_courier_does() {
        // GETACL/MYRIGHTS (observed: "acdilrsw", "yz" for stored "xyz", "k" for "kt").
        assert_eq!(Rights::ALL.to_stored(), "aceilrstwx");
        assert_eq!(Rights::ALL.to_wire(), "acdilrsw");
        assert_eq!(r("xyz").to_wire(), "yz");
        assert_eq!(r("kt").to_wire(), "k");
        assert_eq!(r("lr").to_wire(), "lr");
        // SELECT's [MYRIGHTS] / LIST (MYRIGHTS): only all three collapse.
        assert_eq!(Rights::ALL.to_wire_full(), "acdilrsw");
        assert_eq!(r("lrt").to_wire_full(), "lrt");
        // Stored letters sort and lose duplicates.
        assert_eq!(r("wrlr").to_stored(), "lrw");
    }

    #[test]
    fn wire_d_is_x_t_e_and_the_rest_stays() {
        assert_eq!(Rights::parse_wire("cd").unwrap().to_stored(), "cetx");
        assert_eq!(Rights::parse_wire("kt").unwrap().to_stored(), "kt");
        assert_eq!(Rights::parse_wire("").unwrap(), Rights::empty());
        assert!(Rights::parse_wire("a b").is_err());
        assert!(Rights::parse_stored("l\tr").is_err());
        let rd = Rights::parse_wire("d").unwrap();
        assert!(rd.has('x') && rd.has('t') && rd.has('e') && rd.has('d'));
        assert!(r("c").has('k') && r("c").has('c') && !r("c").has('x'));
        assert!(!r("x").has('c') && !r("x").has('k') && r("x").has('d'));
        // A stored 'k' (SETACL from an RFC 4314 client) is kept but grants nothing
        // Courier checks: it looks at 'c'.
        assert!(!r("k").has('k'));
    }

    #[test]
    fn parse_and_print_round_trip_on_courier_files() {
        let text = "owner aceilrstwx\nadministrators aceilrstwx\nuser=joe lr\n";
        assert_eq!(Acl::parse(text).to_file(), text);
        // An entry without rights keeps its space (maildiracl -set user=joe -lwd).
        let text = "owner aceilrstwx\nadministrators aceilrstwx\nuser=joe \n-user=bob r\n";
        assert_eq!(Acl::parse(text).to_file(), text);
        // Administrators are forced to everything and appended when missing; negative
        // administrator entries and bad lines go.
        let acl = Acl::parse("owner al\n-administrators a\nbad\tid r\nuser=x l r\n\n");
        assert_eq!(acl.to_file(), "owner al\nadministrators aceilrstwx\n");
        let acl = Acl::parse("group=administrators l\n");
        assert_eq!(acl.to_file(), "group=administrators aceilrstwx\n");
    }

    #[test]
    fn inbox_default_is_not_written_and_folders_inherit_and_write_back() {
        let d = maildir();
        let root = d.path();
        let acl = load(root, "INBOX").unwrap();
        assert_eq!(
            acl.to_file(),
            "owner aceilrstwx\nadministrators aceilrstwx\n"
        );
        assert!(!root.join(ACL_FILE).exists());
        set(root, "INBOX", "user=joe", "lr").unwrap();
        make_folder(root, ".a");
        make_folder(root, ".a.b");
        load(root, "INBOX.a").unwrap();
        assert_eq!(
            file(root, ".a/courierimapacl"),
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=joe lr\n"
        );
        set(root, "INBOX.a", "user=joe", "-r").unwrap();
        // INBOX.a.b inherits from INBOX.a, not INBOX.
        assert_eq!(
            load(root, "INBOX.a.b").unwrap().to_file(),
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=joe l\n"
        );
        assert!(root.join(".a.b/courierimapacl").is_file());
    }

    #[test]
    fn hierarchy_levels_keep_their_list_in_hieracl_until_created() {
        let d = maildir();
        let root = d.path();
        set(root, "INBOX.x.y", "anyone", "lr").unwrap();
        assert_eq!(
            file(root, "courierimaphieracl/x"),
            "owner aceilrstwx\nadministrators aceilrstwx\n"
        );
        assert_eq!(
            file(root, "courierimaphieracl/x.y"),
            "owner aceilrstwx\nadministrators aceilrstwx\nanyone lr\n"
        );
        make_folder(root, ".x.y");
        // Read where it is (Courier 5.0.13 does not move it into the folder).
        assert_eq!(
            load(root, "INBOX.x.y").unwrap().get("anyone"),
            Some(r("lr"))
        );
        assert!(!root.join(".x.y/courierimapacl").exists());
        assert!(root.join("courierimaphieracl/x.y").is_file());
        // A hand-written level file without administrators gets them on CREATE.
        fs::write(root.join("courierimaphieracl/x.y"), "owner al\nanyone lr\n").unwrap();
        folder_created(root, "INBOX.x.y").unwrap();
        assert_eq!(
            file(root, ".x.y/courierimapacl"),
            "owner al\nanyone lr\nadministrators aceilrstwx\n"
        );
        assert!(root.join("courierimaphieracl/x.y").exists());
        // RENAME takes the hierarchy list along.
        folder_renamed(root, "INBOX.x", "INBOX.z").unwrap();
        assert!(root.join("courierimaphieracl/z").is_file());
        assert!(!root.join("courierimaphieracl/x").exists());
    }

    #[test]
    fn deleting_a_folder_with_children_keeps_its_list() {
        let d = maildir();
        let root = d.path();
        make_folder(root, ".a");
        make_folder(root, ".a.b");
        set(root, "INBOX.a", "user=joe", "lr").unwrap();
        folder_deleted(root, "INBOX.a").unwrap();
        fs::remove_dir_all(root.join(".a")).unwrap();
        assert!(file(root, "courierimaphieracl/a").ends_with("user=joe lr\n"));
        assert_eq!(
            load(root, "INBOX.a").unwrap().get("user=joe"),
            Some(r("lr"))
        );
    }

    #[test]
    fn owner_keeps_a_and_l_and_administrators_keep_everything() {
        let d = maildir();
        let root = d.path();
        make_folder(root, ".a");
        let before = load(root, "INBOX.a").unwrap().to_file();
        assert!(matches!(
            set(root, "INBOX.a", "owner", "lr"),
            Err(AclError::MinimumRights(_))
        ));
        assert!(matches!(
            set(root, "INBOX.a", "owner", "-a"),
            Err(AclError::MinimumRights(_))
        ));
        assert!(matches!(
            delete(root, "INBOX.a", "owner"),
            Err(AclError::MinimumRights(_))
        ));
        assert!(matches!(
            set(root, "INBOX.a", "administrators", "r"),
            Err(AclError::Refused)
        ));
        // "-anyone r" would take r from administrators too.
        assert!(matches!(
            set(root, "INBOX.a", "-anyone", "r"),
            Err(AclError::Refused)
        ));
        // The folder owner's own identifier is checked when given.
        assert!(matches!(
            modify(
                root,
                "INBOX.a",
                "-user=alice",
                Change::Replace(r("l")),
                true,
                Some("user=alice")
            ),
            Err(AclError::MinimumRights(who)) if who == "user=alice"
        ));
        assert_eq!(file(root, ".a/courierimapacl"), before);
        assert!(
            set(root, "INBOX.a", "bad id", "r")
                .unwrap_err()
                .is_invalid()
        );
    }

    #[test]
    fn setacl_forms_match_courier() {
        let d = maildir();
        let root = d.path();
        make_folder(root, ".Sent");
        set(root, "INBOX.Sent", "user=joe", "cd").unwrap();
        assert!(file(root, ".Sent/courierimapacl").ends_with("user=joe cetx\n"));
        set(root, "INBOX.Sent", "user=joe", "+lr").unwrap();
        set(root, "INBOX.Sent", "user=joe", "-cd").unwrap();
        assert!(file(root, ".Sent/courierimapacl").ends_with("user=joe lr\n"));
        // Emptied by "-" or set to "": the entry goes (imapd), unlike maildiracl.
        set(root, "INBOX.Sent", "user=joe", "-lr").unwrap();
        assert_eq!(
            file(root, ".Sent/courierimapacl"),
            "owner aceilrstwx\nadministrators aceilrstwx\n"
        );
        set(root, "INBOX.Sent", "user=joe", "lr").unwrap();
        set(root, "INBOX.Sent", "user=joe", "").unwrap();
        assert!(!file(root, ".Sent/courierimapacl").contains("joe"));
        modify(
            root,
            "INBOX.Sent",
            "user=joe",
            Change::parse("-x", false).unwrap(),
            false,
            None,
        )
        .unwrap();
        assert!(file(root, ".Sent/courierimapacl").ends_with("user=joe \n"));
    }

    #[test]
    fn union_minus_negatives() {
        let acl = Acl::parse(
            "owner aceilrstwx\nadministrators aceilrstwx\nanyone l\nuser=joe rs\n\
             group=staff w\n-group=interns s\n-user=joe w\n",
        );
        let none: Vec<String> = vec![];
        let staff = vec!["staff".to_string()];
        let both = vec!["staff".to_string(), "interns".to_string()];
        let admins = vec!["administrators".to_string()];
        let v = |user, groups, owner| Viewer {
            user,
            groups,
            owner,
        };
        assert_eq!(rights(&acl, &v("joe", &none, false)), r("lrs"));
        assert_eq!(rights(&acl, &v("joe", &staff, false)), r("lrs"));
        assert_eq!(rights(&acl, &v("ann", &staff, false)), r("lw"));
        assert_eq!(rights(&acl, &v("ann", &both, false)), r("lw"));
        assert_eq!(rights(&acl, &v("bob", &none, false)), r("l"));
        assert_eq!(rights(&acl, &v("alice", &none, true)), Rights::ALL);
        assert_eq!(rights(&acl, &v("root", &admins, false)), Rights::ALL);
        // The owner always has a, whatever the list says.
        let acl = Acl::parse("owner lr\n");
        assert!(rights(&acl, &v("alice", &none, true)).has('a'));
        assert!(!rights(&acl, &v("alice", &none, false)).has('a'));
    }

    #[test]
    fn identifiers_and_listrights_as_courier_shows_them() {
        assert_eq!(identifier_from_wire("joe").unwrap(), "user=joe");
        assert_eq!(identifier_from_wire("-joe").unwrap(), "-user=joe");
        assert_eq!(identifier_from_wire("-anyone").unwrap(), "-anyone");
        assert!(identifier_from_wire("user=bob").is_err());
        assert!(identifier_from_wire("group=staff").is_err());
        assert_eq!(identifier_to_wire("user=joe").as_deref(), Some("joe"));
        assert_eq!(identifier_to_wire("-user=joe").as_deref(), Some("-joe"));
        assert_eq!(identifier_to_wire("owner").as_deref(), Some("owner"));
        assert_eq!(identifier_to_wire("group=staff"), None);
        // Observed lines.
        assert_eq!(
            listrights_wire("joe", Some("alice")),
            "\"\" a c d i l p r s w"
        );
        assert_eq!(
            listrights_wire("owner", Some("alice")),
            "\"\" a c d i l p r s w"
        );
        assert_eq!(
            listrights_wire("-anyone", Some("alice")),
            "\"\" c d i p r s w"
        );
        assert_eq!(
            listrights_wire("alice", Some("alice")),
            "\"al\" c d i p r s w"
        );
        assert_eq!(list_rights("joe").1.len(), 9);
    }

    #[test]
    fn getacl_and_list_acl_lines() {
        let acl = Acl::parse(
            "owner aceilrstwx\nadministrators aceilrstwx\nuser=joe lr\ngroup=staff lrw\n-user=bob r\n",
        );
        assert_eq!(
            getacl_wire(&acl),
            " \"owner\" \"acdilrsw\" \"administrators\" \"acdilrsw\" \"joe\" \"lr\" \"-bob\" \"r\""
        );
        assert_eq!(
            list_acl_wire(&Acl::parse("owner alrt\nadministrators a\nuser=joe lr\n")),
            "(\"ACL\" ((\"owner\" \"alrt\")(\"administrators\" \"acdilrsw\")(\"user=joe\" \"lr\")))"
        );
        let min = AclError::MinimumRights("owner".into());
        assert_eq!(
            setacl_error_text(Some(Change::Remove(r("a"))), &min),
            "Cannot modify ACLs as requested."
        );
        assert_eq!(
            setacl_error_text(Some(Change::Replace(r("lr"))), &min),
            "Cannot modify ACLs on this mailbox."
        );
    }

    #[test]
    fn concurrent_changes_are_not_lost() {
        let d = maildir();
        let root = d.path().to_path_buf();
        make_folder(&root, ".a");
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let root = root.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        set(&root, "INBOX.a", &format!("user=u{t}x{i}"), "lr").unwrap();
                    }
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());
        let acl = load(&root, "INBOX.a").unwrap();
        assert_eq!(acl.entries().count(), 2 + 40);
    }

    #[test]
    fn file_mode_follows_the_folder() {
        let d = maildir();
        let root = d.path();
        make_folder(root, ".shared");
        fs::set_permissions(root.join(".shared"), fs::Permissions::from_mode(0o2770)).unwrap();
        make_folder(root, ".private");
        fs::set_permissions(root.join(".private"), fs::Permissions::from_mode(0o700)).unwrap();
        load(root, "INBOX.shared").unwrap();
        load(root, "INBOX.private").unwrap();
        let mode = |p: &str| fs::metadata(root.join(p)).unwrap().mode() & 0o777;
        assert_eq!(mode(".shared/courierimapacl"), 0o664);
        assert_eq!(mode(".private/courierimapacl"), 0o644);
    }
}
