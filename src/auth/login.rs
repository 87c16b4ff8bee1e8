//! What happens between "the password is right" and "serve the mailbox": become the
//! account's user, check the home and the Maildir, and run the account's loginexec.
//!
//! As root (systemd, `serve` started by root): refuse uid 0, drop to the account's uid,
//! gid and groups with no capabilities left (see [`privdrop`](super::privdrop)), chdir
//! home, refuse a Maildir the user does not own. Unprivileged (demo, tests): nothing to
//! drop, so only accounts of the running uid are served. Either way a home with the
//! sticky bit refuses the login (Courier's way for an administrator to lock an account
//! temporarily), and loginexec runs after everything else.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use nix::unistd::{Uid, geteuid};

use super::Account;
use super::account::Protocol;
use super::{loginexec, privdrop};
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    /// Running unprivileged, the session can only serve accounts of its own uid.
    #[error(
        "account {user} maps to uid {uid}, but this process runs as uid {running} and cannot switch"
    )]
    WrongUid {
        user: String,
        uid: u32,
        running: u32,
    },
    /// Running as root, the account names only one of uid and gid.
    #[error("account {0} has no uid and gid to switch to")]
    NoUid(String),
    #[error("account {user}: {err}")]
    Drop {
        user: String,
        err: privdrop::DropError,
    },
    /// The administrator set the sticky bit on the home directory.
    #[error("account {user}: home {home} has the sticky bit (+t) set: logins are suspended")]
    HomeSticky { user: String, home: PathBuf },
    #[error("account {user}: home {home}: {err}")]
    Home {
        user: String,
        home: PathBuf,
        err: std::io::Error,
    },
    /// Courier's IMAP_MAILBOX_SANITY_CHECK: the Maildir belongs to someone else.
    #[error("account {user}: Maildir {maildir} is owned by uid {owner}, not by uid {uid}")]
    MaildirOwner {
        user: String,
        maildir: PathBuf,
        owner: u32,
        uid: u32,
    },
}

impl EnterError {
    /// What the client may be told (the log gets the full error). `None`: only the
    /// generic "mailbox unavailable".
    pub fn client_message(&self) -> Option<&'static str> {
        match self {
            EnterError::HomeSticky { .. } => {
                Some("Your account is temporarily unavailable (+t bit set on home directory).")
            }
            _ => None,
        }
    }
}

/// The settings [`enter`] follows; one set per process (a process serves one connection
/// with one configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `[mail] sanity_check`: refuse a Maildir not owned by the account's uid.
    pub sanity_check: bool,
    /// `[mail] loginexec_timeout`.
    pub loginexec_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&Config::default())
    }
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            sanity_check: config.mail.sanity_check,
            loginexec_timeout: Duration::from_secs(config.mail.loginexec_timeout),
        }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Takes the login settings from `config` for this process. [`authenticate`]
/// (super::authenticate) calls it, so sessions need not; the first call wins.
pub fn configure(config: &Config) {
    let _ = SETTINGS.set(Settings::from_config(config));
}

fn settings() -> Settings {
    SETTINGS.get().cloned().unwrap_or_default()
}

/// Makes this process the account's user before any mail is read.
pub fn enter(account: &Account, _protocol: Protocol) -> Result<(), EnterError> {
    let settings = settings();
    let user = || account.user.clone();
    check_home(account)?;
    let running = geteuid();
    if running.is_root() {
        match target_ids(account)? {
            Some((uid, gid)) => privdrop::drop_to(&account.user, uid, gid)
                .map_err(|err| EnterError::Drop { user: user(), err })?,
            None => log::warn!(
                "account {}: no uid in the account and the Maildir {} is root's: the session \
                 stays root; give the account a uid and gid",
                account.user,
                account.maildir.display()
            ),
        }
        std::env::set_current_dir(&account.home).map_err(|err| EnterError::Home {
            user: user(),
            home: account.home.clone(),
            err,
        })?;
    } else if let Some(uid) = account.uid
        && Uid::from_raw(uid) != running
    {
        return Err(EnterError::WrongUid {
            user: user(),
            uid,
            running: running.as_raw(),
        });
    }
    if settings.sanity_check {
        // A Maildir that is missing is the session's to report (it opens it next).
        if let Ok(meta) = std::fs::metadata(&account.maildir) {
            let uid = geteuid().as_raw();
            if meta.uid() != uid {
                return Err(EnterError::MaildirOwner {
                    user: user(),
                    maildir: account.maildir.clone(),
                    owner: meta.uid(),
                    uid,
                });
            }
        }
    }
    loginexec::run(
        &account.user,
        &account.home,
        &account.maildir,
        settings.loginexec_timeout,
    );
    Ok(())
}

/// Whom a root process becomes: the account's uid and gid; for a virtual account without
/// them, the owner of its Maildir (the usual one-owner virtual mail store). `None`: that
/// owner is root too (a root-owned test setup), and nothing is dropped.
fn target_ids(account: &Account) -> Result<Option<(u32, u32)>, EnterError> {
    match (account.uid, account.gid) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        (Some(_), None) | (None, Some(_)) => Err(EnterError::NoUid(account.user.clone())),
        (None, None) => match std::fs::metadata(&account.maildir) {
            Ok(meta) if meta.uid() != 0 => Ok(Some((meta.uid(), meta.gid()))),
            // Root's, or missing (the session reports that when it opens the Maildir).
            Ok(_) | Err(_) => Ok(None),
        },
    }
}

fn check_home(account: &Account) -> Result<(), EnterError> {
    match std::fs::metadata(&account.home) {
        Ok(meta) if meta.permissions().mode() & 0o1000 != 0 => Err(EnterError::HomeSticky {
            user: account.user.clone(),
            home: account.home.clone(),
        }),
        Ok(_) => Ok(()),
        // A virtual user's "home" may exist only as the parent of an absolute Maildir;
        // as root the chdir reports a missing home.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(EnterError::Home {
            user: account.user.clone(),
            home: account.home.clone(),
            err,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AccountOptions;

    fn account(home: &std::path::Path) -> Account {
        Account {
            user: "u".into(),
            uid: None,
            gid: None,
            home: home.to_path_buf(),
            maildir: home.join("Maildir"),
            options: AccountOptions::default(),
        }
    }

    #[test]
    fn sticky_home_is_refused() {
        if geteuid().is_root() {
            // As root, enter() would drop privileges for the rest of the test process.
            eprintln!(
                "SKIP: sticky_home_is_refused runs unprivileged only (root: tests/pam_login.rs)"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1755)).unwrap();
        let err = enter(&account(dir.path()), Protocol::Imap).unwrap_err();
        assert!(matches!(err, EnterError::HomeSticky { .. }));
        assert!(err.client_message().unwrap().contains("+t bit"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        enter(&account(dir.path()), Protocol::Imap).unwrap();
    }

    #[test]
    fn sticky_check_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1700)).unwrap();
        assert!(matches!(
            check_home(&account(dir.path())),
            Err(EnterError::HomeSticky { .. })
        ));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_home(&account(dir.path())).unwrap();
        check_home(&account(&dir.path().join("missing"))).unwrap();
    }
}
