//! What happens between "the password is right" and "serve the mailbox": become the
//! account's user, check the home and the Maildir, and run the account's loginexec.
//!
//! As root (systemd, `serve` started by root): the account's explicit uid and gid, or
//! the configured virtual-mail owner's ([`identity`]), never root and never whoever owns
//! a path; drop to them with no capabilities left (see [`privdrop`]), chdir home, then,
//! as the user, refuse a Maildir reached through a symbolic link or owned by someone
//! else. Unprivileged (demo, tests): nothing to drop, so only accounts of the running
//! uid are served. Either way a home with the sticky bit refuses the login (Courier's way
//! for an administrator to lock an account temporarily), and loginexec runs last.
//!
//! Errors before the drop leave the process as it was (the session may answer NO and go
//! on); from the drop on, the process is committed to the account, and an error ends the
//! session ([`EnterError::ends_session`]).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::geteuid;

use super::identity::{self, Claim, IdentityError, Switch, VirtualOwner};
use super::{Account, MailLocation};
use super::{loginexec, privdrop};
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    /// No identity the process may take for the account (or a bad `[auth] default_uid`).
    #[error(transparent)]
    Identity(#[from] IdentityError),
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
    /// A directory on the way to the Maildir is a symbolic link (Courier refuses these
    /// unless MAILDIR_SKIP_SYMLINK_CHECKS is set).
    #[error(
        "account {user}: {path} is a symbolic link: refused ([mail] skip_symlink_checks is off)"
    )]
    Symlink { user: String, path: PathBuf },
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

    /// The error came after the privilege drop had begun: the process is no longer the
    /// one that greeted the client and must not go on serving it.
    pub fn ends_session(&self) -> bool {
        !matches!(
            self,
            EnterError::Identity(_) | EnterError::HomeSticky { .. }
        )
    }
}

/// The settings [`enter`] follows, taken from the configuration by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `[mail] sanity_check`: refuse a Maildir not owned by the account's uid.
    pub sanity_check: bool,
    /// `[mail] skip_symlink_checks`.
    pub skip_symlink_checks: bool,
    /// `[mail] loginexec_timeout`.
    pub loginexec_timeout: Duration,
    /// `[auth] default_uid` / `default_gid`, resolved.
    pub owner: VirtualOwner,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, EnterError> {
        Ok(Settings {
            sanity_check: config.mail.sanity_check,
            skip_symlink_checks: config.mail.skip_symlink_checks,
            loginexec_timeout: Duration::from_secs(config.mail.loginexec_timeout),
            owner: VirtualOwner::from_config(&config.auth)?,
        })
    }
}

/// Makes this process the account's user, as `config` says, before any mail is read.
pub fn enter(account: &Account, config: &Config) -> Result<(), EnterError> {
    enter_with(account, &Settings::from_config(config)?)
}

/// [`enter`] with the settings already taken.
pub fn enter_with(account: &Account, settings: &Settings) -> Result<(), EnterError> {
    let user = || account.user.clone();
    check_home(account)?;
    let claim = Claim {
        user: &account.user,
        uid: account.uid,
        gid: account.gid,
        system: account.system,
    };
    if become_owner(&claim, settings.owner)? {
        std::env::set_current_dir(&account.home).map_err(|err| EnterError::Home {
            user: user(),
            home: account.home.clone(),
            err,
        })?;
    }
    if !settings.skip_symlink_checks
        && let Some(path) = symlink_on_the_way(&account.home, &account.maildir)
    {
        return Err(EnterError::Symlink { user: user(), path });
    }
    if settings.sanity_check {
        // A Maildir that is missing is the session's to report (it opens it next).
        // Through a link only when links are allowed: then it is the target that counts.
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
    // Unreachable as root (root always switches or refuses above); kept as the last
    // guard: whatever the Maildir holds is the user's to write, so never run it as root.
    if geteuid().is_root() {
        return Err(EnterError::Drop {
            user: user(),
            err: privdrop::DropError::Root(account.user.clone()),
        });
    }
    loginexec::run(
        &account.user,
        &account.home,
        &account.maildir,
        settings.loginexec_timeout,
    );
    Ok(())
}

/// `postern deliver` for a user: become the mailbox owner exactly as a login would (same
/// identity rules, same refusals of root and of linked directories), without the home's
/// sticky bit or loginexec, which concern logins only.
pub fn enter_for_delivery(location: &MailLocation, settings: &Settings) -> Result<(), EnterError> {
    let claim = Claim {
        user: &location.user,
        uid: location.uid,
        gid: location.gid,
        system: location.system,
    };
    become_owner(&claim, settings.owner)?;
    if !settings.skip_symlink_checks
        && let Some(path) = symlink_on_the_way(&location.home, &location.maildir)
    {
        return Err(EnterError::Symlink {
            user: location.user.clone(),
            path,
        });
    }
    Ok(())
}

/// `postern deliver` into a Maildir named by path: as root, become the directory's owner
/// as lstat sees it (never root, never through a link); unprivileged, stay.
pub fn enter_for_delivery_to_path(maildir: &Path, settings: &Settings) -> Result<(), EnterError> {
    let user = maildir.display().to_string();
    let meta = std::fs::symlink_metadata(maildir).map_err(|err| EnterError::Home {
        user: user.clone(),
        home: maildir.to_path_buf(),
        err,
    })?;
    if meta.file_type().is_symlink() && !settings.skip_symlink_checks {
        return Err(EnterError::Symlink {
            user,
            path: maildir.to_path_buf(),
        });
    }
    // Links allowed: the directory's owner counts, never the link's (anyone may own one).
    let meta = if meta.file_type().is_symlink() {
        std::fs::metadata(maildir).map_err(|err| EnterError::Home {
            user: user.clone(),
            home: maildir.to_path_buf(),
            err,
        })?
    } else {
        meta
    };
    // Unprivileged, the owner check is the file system's (we can only write our own).
    let root = geteuid().is_root();
    let claim = Claim {
        user: &user,
        uid: root.then_some(meta.uid()),
        gid: root.then_some(meta.gid()),
        system: false,
    };
    become_owner(&claim, VirtualOwner::default()).map(|_| ())
}

/// Resolves and, as root, takes the identity for `claim`; true when it switched.
fn become_owner(claim: &Claim<'_>, owner: VirtualOwner) -> Result<bool, EnterError> {
    match identity::resolve(claim, owner)? {
        Switch::To(target) => {
            privdrop::drop_to(claim.user, &target).map_err(|err| EnterError::Drop {
                user: claim.user.to_owned(),
                err,
            })?;
            Ok(true)
        }
        Switch::Stay => Ok(false),
    }
}

/// The first symbolic link among the Maildir and its parents below `home` (the Maildir
/// alone when it lies elsewhere), looked at with lstat. The home itself may be a link
/// (e.g. /home on another disk): it is the administrator's, not the user's.
fn symlink_on_the_way(home: &Path, maildir: &Path) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    let below_home = match maildir.strip_prefix(home) {
        Ok(rest) => {
            path.push(home);
            rest
        }
        Err(_) => {
            path.push(maildir.parent().unwrap_or(Path::new("/")));
            Path::new(maildir.file_name().unwrap_or_default())
        }
    };
    for part in below_home.components() {
        path.push(part);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(path);
        }
    }
    None
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
            system: false,
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
        let err = enter(&account(dir.path()), &Config::default()).unwrap_err();
        assert!(matches!(err, EnterError::HomeSticky { .. }));
        assert!(err.client_message().unwrap().contains("+t bit"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        enter(&account(dir.path()), &Config::default()).unwrap();
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

    #[test]
    fn symlinks_below_the_home_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("mail/Maildir")).unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        assert_eq!(symlink_on_the_way(&home, &home.join("mail/Maildir")), None);
        // A missing Maildir is for the session to report.
        assert_eq!(symlink_on_the_way(&home, &home.join("Maildir")), None);
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), home.join("Maildir")).unwrap();
        assert_eq!(
            symlink_on_the_way(&home, &home.join("Maildir")),
            Some(home.join("Maildir"))
        );
        std::os::unix::fs::symlink(home.join("mail"), home.join("link")).unwrap();
        assert_eq!(
            symlink_on_the_way(&home, &home.join("link/Maildir")),
            Some(home.join("link"))
        );
        // A linked home is the administrator's; what lies below it is checked.
        let linked_home = dir.path().join("linked-home");
        std::os::unix::fs::symlink(&home, &linked_home).unwrap();
        assert_eq!(
            symlink_on_the_way(&linked_home, &linked_home.join("mail/Maildir")),
            None
        );
        // A Maildir outside the home: the Maildir itself.
        assert_eq!(
            symlink_on_the_way(Path::new("/nonexistent"), &home.join("Maildir")),
            Some(home.join("Maildir"))
        );
    }
}
