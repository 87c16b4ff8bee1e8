//! `postern maildirmake`, and what `postern deliver` ([`super::lda`]) shares with it.

use std::path::Path;

use super::{Maildir, folder, quota};

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

/// As Courier's maildirmake: `DIR` makes a Maildir (it must not exist yet), `-f FOLDER DIR`
/// a folder in it, `-q QUOTA DIR` installs a quota.
pub fn maildirmake(
    dir: &Path,
    folder: Option<&str>,
    quota_spec: Option<&str>,
) -> anyhow::Result<()> {
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
