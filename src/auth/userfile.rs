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
    crate::auth::password::split(&password).map_err(|e| format!("{user}: {e}"))?;
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
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| UserFileError::Io {
        path: name.clone(),
        source,
    })?;
    Ok(parse(&text, &name)?.into_iter().find(|e| e.user == user))
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
