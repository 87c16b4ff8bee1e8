//! `postern maildirmake`, and what `postern deliver` ([`super::lda`]) shares with it.

use std::path::Path;

use super::{Maildir, folder, fs_shared, quota};

/// sysexits.h codes a mail transfer agent understands.
pub const EX_OK: u8 = 0;
pub const EX_USAGE: u8 = 64;
pub const EX_NOUSER: u8 = 67;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_TEMPFAIL: u8 = 75;
pub const EX_NOPERM: u8 = 77;

/// "Lists.rust" -> "INBOX.Lists.rust"; INBOX-prefixed names stay as they are.
pub(crate) fn full_folder_name(folder: Option<&str>) -> String {
    match folder {
        None => folder::INBOX.to_string(),
        Some(f) if folder::canonical_name(f).is_ok() => f.to_string(),
        Some(f) => format!("{}.{f}", folder::INBOX),
    }
}

/// What `maildirmake` shares (Courier's `-S` and `-s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sharing {
    /// Neither: a private Maildir or folder (0700).
    Private,
    /// `-S`: a sharable Maildir (0755), or with `-f` a folder readable by all.
    Maildir,
    /// `-s MODE` (needs `-f`): `read` / `write`, `,group`.
    Folder(String),
}

/// As Courier's maildirmake: `DIR` makes a Maildir (it must not exist yet), `-f FOLDER DIR`
/// a folder in it, `-q QUOTA DIR` installs a quota; `-S` and `-s` make them sharable
/// with Courier's directory modes.
pub fn maildirmake(
    dir: &Path,
    folder: Option<&str>,
    quota_spec: Option<&str>,
    sharing: &Sharing,
) -> anyhow::Result<()> {
    if let Some(f) = folder
        && f.starts_with('.')
    {
        anyhow::bail!("Invalid folder name: {f}");
    }
    let modes = match sharing {
        Sharing::Private => None,
        Sharing::Maildir => Some((0o755, 0o755)),
        Sharing::Folder(spec) => Some(fs_shared::shared_folder_modes(spec).ok_or_else(|| {
            anyhow::anyhow!("{spec}: expected read or write, optionally with ,group")
        })?),
    };
    if quota_spec.is_none()
        && let Some((dir_mode, sub_mode)) = modes
    {
        match folder {
            Some(f) => {
                let maildir = Maildir::open(dir)?;
                let name = full_folder_name(Some(f));
                fs_shared::make_shared_folder(maildir.root(), &name, dir_mode, sub_mode)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            }
            None => fs_shared::make_sharable(dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?,
        }
        return Ok(());
    }
    if let Some(q) = quota_spec
        && quota::QuotaSpec::parse(q).is_none_or(|s| !s.is_set())
    {
        anyhow::bail!("{q}: invalid quota (expected e.g. 10000000S,1000C)");
    }
    let maildir = match (folder, quota_spec) {
        (None, None) => {
            if dir.exists() {
                anyhow::bail!("{}: already exists", dir.display());
            }
            Maildir::create(dir)?
        }
        (Some(_), _) => Maildir::open(dir)?,
        (None, Some(_)) => {
            if dir.exists() {
                Maildir::open(dir)?
            } else {
                Maildir::create(dir)?
            }
        }
    };
    if let Some(f) = folder {
        let name = full_folder_name(Some(f));
        maildir.create_folder(&name)?;
    }
    if let Some(q) = quota_spec {
        quota::set(maildir.root(), q)?;
    }
    Ok(())
}

/// `maildirmake --add NICK=PATH DIR` / `--del NICK DIR`: edits DIR's `shared-maildirs`.
/// Returns Courier's exit status (0; 1; 2 when the nick is taken), after saying why.
pub fn shared_maildirs(dir: &Path, add: Option<&str>, del: Option<&str>, global: &Path) -> u8 {
    let r = match (add, del) {
        (Some(spec), _) => fs_shared::add(dir, spec, global),
        (None, Some(nick)) => fs_shared::del(dir, nick),
        (None, None) => Ok(()),
    };
    match r {
        Ok(()) => EX_OK,
        Err(e) => {
            eprintln!("postern maildirmake: {}", e.message);
            e.status
        }
    }
}
