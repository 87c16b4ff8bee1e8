//! What happens between "the password is right" and "serve the mailbox": become the
//! account's user. (Privilege drop as root, Maildir sanity checks and loginexec are
//! filled in by the systemd/PAM work.)

use nix::unistd::{Uid, geteuid};

use super::Account;
use super::account::Protocol;

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
}

/// Makes this process the account's user before any mail is read.
pub fn enter(account: &Account, _protocol: Protocol) -> Result<(), EnterError> {
    let running = geteuid();
    if let Some(uid) = account.uid
        && Uid::from_raw(uid) != running
    {
        return Err(EnterError::WrongUid {
            user: account.user.clone(),
            uid,
            running: running.as_raw(),
        });
    }
    Ok(())
}
