//! The user file: Dovecot's passwd-file format, one account per line:
//!
//! ```text
//! # user:{SCHEME}secret:uid:gid:(gecos):home:(shell):extra
//! alice:{SHA512-CRYPT}$6$...:1000:1000::/home/alice::disablepop3=1 group=staff
//! demo:{PLAIN}demo::::/srv/mail/demo::maildir=/srv/mail/demo/Maildir
//! ```
//!
//! Empty uid/gid mean the running user. `extra` is space-separated `key=value`:
//! `maildir=PATH` (relative to home, or absolute) overrides `[mail] maildir`; everything
//! else is an account option (`disableimap=1`, `group=x`, ...). Lines starting with `#`
//! and blank lines are ignored; short lines may leave out the trailing fields.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::password;

#[derive(Debug, Error)]
pub enum UserFileError {
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// One line of the user file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub user: String,
    /// `{SCHEME}secret` as stored.
    pub password: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Empty when the line gives none (then `maildir` must be absolute).
    pub home: PathBuf,
    /// The `maildir=` override, if any.
    pub maildir: Option<PathBuf>,
    /// Account options from the extra field, comma-separated in Courier's notation.
    pub options: String,
    /// Line number, for messages.
    pub line: usize,
}

fn id(field: &str, what: &str) -> Result<Option<u32>, String> {
    if field.is_empty() {
        return Ok(None);
    }
    field
        .parse()
        .map(Some)
        .map_err(|_| format!("{what} {field:?} is not a number"))
}

fn parse_line(text: &str) -> Result<UserEntry, String> {
    let fields: Vec<&str> = text.splitn(8, ':').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let user = field(0);
    if user.is_empty() {
        return Err("empty user name".into());
    }
    if user.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "user name {user:?} has white space or control characters"
        ));
    }
    if fields.len() < 2 {
        return Err(format!("{user}: no password field"));
    }
    let password = field(1).to_owned();
    password::split(&password).map_err(|e| format!("{user}: {e}"))?;
    let uid = id(field(2), "uid")?;
    let gid = id(field(3), "gid")?;
    let home = PathBuf::from(field(5));
    let mut maildir = None;
    let mut options = Vec::new();
    for item in field(7).split_whitespace() {
        match item.split_once('=') {
            Some(("maildir", path)) if !path.is_empty() => maildir = Some(PathBuf::from(path)),
            Some((name, _)) if !name.is_empty() => options.push(item),
            _ => return Err(format!("{user}: extra field {item:?} is not key=value")),
        }
    }
    if !home.as_os_str().is_empty() && !home.is_absolute() {
        return Err(format!("{user}: home {} is not absolute", home.display()));
    }
    let maildir_absolute = maildir.as_deref().is_some_and(Path::is_absolute);
    if home.as_os_str().is_empty() && !maildir_absolute {
        return Err(format!(
            "{user}: no home directory and no absolute maildir= path"
        ));
    }
    // Check the options now so that a typo is reported with its line.
    let options = options.join(",");
    crate::auth::account::AccountOptions::parse(&options).map_err(|e| format!("{user}: {e}"))?;
    Ok(UserEntry {
        user: user.to_owned(),
        password,
        uid,
        gid,
        home,
        maildir,
        options,
        line: 0,
    })
}

/// Parse the whole file; `path` only names it in messages.
pub fn parse(text: &str, path: &str) -> Result<Vec<UserEntry>, UserFileError> {
    let mut entries: Vec<UserEntry> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let syntax = |message: String| UserFileError::Syntax {
            path: path.to_owned(),
            line: number,
            message,
        };
        let mut entry = parse_line(line).map_err(syntax)?;
        entry.line = number;
        if let Some(first) = entries.iter().find(|e| e.user == entry.user) {
            return Err(syntax(format!(
                "{} appears again (first on line {})",
                entry.user, first.line
            )));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Read `path` and find `user` (the whole file is checked, so a broken file fails every
/// login loudly rather than some of them).
pub fn lookup(path: &Path, user: &str) -> Result<Option<UserEntry>, UserFileError> {
    Ok(read(path)?.into_iter().find(|e| e.user == user))
}

/// What a password login finds in the user file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginLookup {
    Known(UserEntry),
    /// No such user: check the password against `decoy` all the same (see [`decoy_secret`]).
    Unknown {
        decoy: Option<String>,
    },
}

/// [`lookup`] for a password login: an unknown user comes with the decoy secret of this
/// file, taken from the same read so that an unknown user costs no extra file access.
pub fn lookup_for_login(path: &Path, user: &str) -> Result<LoginLookup, UserFileError> {
    let mut entries = read(path)?;
    Ok(match entries.iter().position(|e| e.user == user) {
        Some(index) => LoginLookup::Known(entries.swap_remove(index)),
        None => LoginLookup::Unknown {
            decoy: decoy_secret(&entries),
        },
    })
}

/// How many accounts [`decoy_secret`] looks at: enough to see what is typical, and few
/// enough that the choice costs next to nothing beside reading the file, whatever its
/// size (a known user's login does not make it).
const DECOY_SAMPLE: usize = 100;

/// The secret to check an unknown user's password against, so that the answer takes as
/// long as for an account of this file: a [`password::decoy`] of the most common
/// scheme-and-cost among the first [`DECOY_SAMPLE`] accounts (the first such account's
/// salt; ties go to the one that comes first). With mixed schemes no single choice hides
/// every account; the most common one hides the most. `None` when no account has a
/// checkable secret.
pub fn decoy_secret(entries: &[UserEntry]) -> Option<String> {
    let mut counts: Vec<(String, usize, &UserEntry)> = Vec::new();
    for entry in entries.iter().take(DECOY_SAMPLE) {
        let Some(cost) = password::cost(&entry.password) else {
            continue;
        };
        match counts.iter_mut().find(|(c, _, _)| *c == cost) {
            Some((_, n, _)) => *n += 1,
            None => counts.push((cost, 1, entry)),
        }
    }
    // max_by_key keeps the last of equals: reversed, that is the first in the file.
    let (_, _, typical) = counts.iter().rev().max_by_key(|(_, n, _)| *n)?;
    password::decoy(&typical.password)
}

/// Read and parse the whole file at `path`.
fn read(path: &Path) -> Result<Vec<UserEntry>, UserFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| UserFileError::Io {
        path: name.clone(),
        source,
    })?;
    parse(&text, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# virtual users
alice:{SHA512-CRYPT}$6$salt$hash:1000:1000::/home/alice::disablepop3=1 group=staff

bob:{PLAIN}secret::::/srv/bob
carol:{PLAIN}x::::::maildir=/srv/mail/carol
dave:{CRYPT}$y$j9T$abc$def:5000:5000::/var/mail/dave::maildir=Mail/ disableimap=0
";

    #[test]
    fn parses_all_forms() {
        let e = parse(FILE, "users").unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].user, "alice");
        assert_eq!(e[0].password, "{SHA512-CRYPT}$6$salt$hash");
        assert_eq!((e[0].uid, e[0].gid), (Some(1000), Some(1000)));
        assert_eq!(e[0].home, Path::new("/home/alice"));
        assert_eq!(e[0].options, "disablepop3=1,group=staff");
        assert_eq!(e[0].line, 2);
        assert_eq!(
            (e[1].uid, e[1].gid, e[1].maildir.clone()),
            (None, None, None)
        );
        assert_eq!(e[2].home, Path::new(""));
        assert_eq!(e[2].maildir.as_deref(), Some(Path::new("/srv/mail/carol")));
        assert_eq!(e[3].maildir.as_deref(), Some(Path::new("Mail/")));
        assert_eq!(e[3].options, "disableimap=0");
    }

    #[test]
    fn errors_carry_line_numbers() {
        let cases = [
            ("ok:{PLAIN}x::::/h\nbad:{PLAIN}x:abc::::/h\n", 2, "uid"),
            ("\n\n:{PLAIN}x::::/h\n", 3, "empty user"),
            ("a:{PLAIN}x::::/h\na:{PLAIN}y::::/h\n", 2, "first on line 1"),
            ("a:{NTLM}x::::/h\n", 1, "NTLM"),
            ("a:{PLAIN}x::::relative\n", 1, "not absolute"),
            ("a:{PLAIN}x\n", 1, "no home"),
            ("a:{PLAIN}x::::/h::disableimap\n", 1, "key=value"),
            ("a:{PLAIN}x::::/h::disableimap=perhaps\n", 1, "disableimap"),
            ("justaname\n", 1, "no password"),
        ];
        for (text, line, needle) in cases {
            let err = parse(text, "users").unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("users:{line}: ")), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
    }

    /// The decoy for unknown users has the scheme and cost of the file's typical account.
    #[test]
    fn decoy_has_the_scheme_and_cost_of_the_typical_account() {
        let yescrypt = "$y$jBT$Ny03zDi1OpGEWxMdlBi9P.$64a2X2QtwQSB0ktmm39M7ZGUlRailW9ipJFQ1UxFcP3";
        let bcrypt = "$2b$11$vfhB65IUDIrgSgdurV6UZepmd3HN/B2xRmHTwr9Tw.b4HGvJYUWyW";
        let sha512 = "$6$rounds=20000$ryun/98ePimy9X1o$K0.Mle6RZfYNdGWpm.tVsY48V18McR72cF2RgKSC1F067usrhJikH3Ybx6I8jogJy2oqUqWbEcunTDRVOfnDv0";
        let line = |user: &str, secret: &str| format!("{user}:{secret}::::/home/{user}\n");
        let cases = [
            (format!("{{CRYPT}}{yescrypt}"), "CRYPT $y$jBT"),
            (format!("{{BLF-CRYPT}}{bcrypt}"), "BLF-CRYPT $2b$11"),
            (
                format!("{{SHA512-CRYPT}}{sha512}"),
                "SHA512-CRYPT $6$rounds=20000",
            ),
            (yescrypt.to_owned(), "CRYPT $y$jBT"),
        ];
        for (secret, want) in &cases {
            let file = format!("{}{}", line("a", secret), line("b", secret));
            let entries = parse(&file, "users").unwrap();
            let decoy = decoy_secret(&entries).unwrap();
            assert_eq!(password::cost(&decoy).as_deref(), Some(*want), "{decoy}");
            assert!(!entries.iter().any(|e| e.password == decoy), "{decoy}");
            assert_eq!(password::verify(&decoy, "pw"), Ok(false));
        }
        // Mixed: the most common scheme-and-cost wins; on a tie the first in the file.
        let mixed = format!(
            "{}{}{}{}",
            line("a", &format!("{{BLF-CRYPT}}{bcrypt}")),
            line("b", &format!("{{SHA512-CRYPT}}{sha512}")),
            line("c", "{PLAIN}x"),
            line("d", &format!("{{SHA512-CRYPT}}{sha512}")),
        );
        let decoy = decoy_secret(&parse(&mixed, "users").unwrap()).unwrap();
        assert_eq!(
            password::cost(&decoy).as_deref(),
            Some("SHA512-CRYPT $6$rounds=20000")
        );
        let tie = format!("{}{}", line("a", "{PLAIN}x"), line("b", yescrypt));
        let decoy = decoy_secret(&parse(&tie, "users").unwrap()).unwrap();
        assert_eq!(password::cost(&decoy).as_deref(), Some("PLAIN"));
        // Nothing checkable: no decoy (the caller has its own).
        let locked = parse(&line("a", "{CRYPT}!"), "users").unwrap();
        assert_eq!(decoy_secret(&locked), None);
        assert_eq!(decoy_secret(&[]), None);
    }

    #[test]
    fn lookup_for_login_gives_a_decoy_for_unknown_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, FILE).unwrap();
        match lookup_for_login(&path, "dave").unwrap() {
            LoginLookup::Known(e) => assert_eq!(e.user, "dave"),
            other => panic!("{other:?}"),
        }
        // PLAIN twice (bob, carol) beats SHA512-CRYPT and yescrypt once each.
        assert_eq!(
            lookup_for_login(&path, "nobody").unwrap(),
            LoginLookup::Unknown {
                decoy: Some("{PLAIN}......".into())
            }
        );
    }

    #[test]
    fn lookup_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, FILE).unwrap();
        assert_eq!(
            lookup(&path, "bob").unwrap().unwrap().password,
            "{PLAIN}secret"
        );
        assert!(lookup(&path, "nobody").unwrap().is_none());
        assert!(matches!(
            lookup(&dir.path().join("missing"), "bob"),
            Err(UserFileError::Io { .. })
        ));
    }
}
