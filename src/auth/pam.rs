//! System accounts through PAM: `pam_authenticate` then `pam_acct_mgmt` (so expired and
//! locked accounts are refused), with `PAM_RHOST` set to the client's address. The
//! account itself (uid, gid, home) then comes from NSS, as for any login program.
//!
//! PAM modules such as pam_unix read `/etc/shadow` only as uid 0: this runs before the
//! privilege drop, in the process that will become the user.

use std::ffi::{OsStr, OsString};
use std::net::IpAddr;
use std::path::PathBuf;

use nonstick::items::{Items, ItemsMut};
use nonstick::{
    AuthnFlags, ConversationAdapter, ErrorCode, PamShared, Result as PamResult, Transaction,
    TransactionBuilder,
};

use super::account::Protocol;
use crate::config::Auth;

/// The environment variable that overrides the configured service name for one listener
/// (Courier's `AUTHSERVICE<port>`): set it in a socket's service unit, e.g.
/// `Environment=POSTERN_PAM_SERVICE=imaps` in a drop-in for `postern-imaps@.service`.
pub const SERVICE_ENV: &str = "POSTERN_PAM_SERVICE";

/// Why PAM said no.
#[derive(Debug, thiserror::Error)]
pub enum PamError {
    /// The user or the password is wrong, or the account may not log in now (locked,
    /// expired, password must be changed): the client learns only "failed".
    #[error("{0}")]
    Refused(String),
    /// PAM itself is broken (no such service, module error, not running as root): a
    /// server problem.
    #[error("{0}")]
    Broken(String),
}

/// The system account PAM accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUser {
    /// The name after PAM (a module may have rewritten it).
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The local port this process's client connected to (set once at session start).
static LOCAL_PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

/// Records the local port of the connection, for `[auth] pam_service_by_port`.
pub fn set_local_port(port: u16) {
    let _ = LOCAL_PORT.set(port);
}

/// The PAM service for `protocol`: `$POSTERN_PAM_SERVICE` if set, else the one configured
/// for the local port, else the protocol's.
pub fn service_name(auth: &Auth, protocol: Protocol) -> String {
    if let Some(name) = std::env::var(SERVICE_ENV).ok().filter(|s| !s.is_empty()) {
        return name;
    }
    service_for(auth, protocol, LOCAL_PORT.get().copied())
}

fn service_for(auth: &Auth, protocol: Protocol, local_port: Option<u16>) -> String {
    if let Some(name) = local_port.and_then(|p| auth.pam_service_by_port.get(&p.to_string())) {
        return name.clone();
    }
    match protocol {
        Protocol::Imap => auth.pam_service_imap.clone(),
        Protocol::Pop3 => auth.pam_service_pop3.clone(),
    }
}

/// Answers PAM's prompts: the echoed one with the user name, the hidden one with the
/// password. Messages are logged, never shown to the client.
struct Answers {
    user: String,
    password: String,
}

impl ConversationAdapter for Answers {
    fn prompt(&self, _request: impl AsRef<OsStr>) -> PamResult<OsString> {
        Ok(OsString::from(&self.user))
    }

    fn masked_prompt(&self, _request: impl AsRef<OsStr>) -> PamResult<OsString> {
        Ok(OsString::from(&self.password))
    }

    fn error_msg(&self, message: impl AsRef<OsStr>) {
        log::info!(
            "PAM says for {}: {}",
            crate::log::escape(&self.user),
            message.as_ref().to_string_lossy()
        );
    }

    fn info_msg(&self, message: impl AsRef<OsStr>) {
        log::debug!(
            "PAM says for {}: {}",
            crate::log::escape(&self.user),
            message.as_ref().to_string_lossy()
        );
    }
}

/// Whether PAM's code means "this login is refused" rather than "PAM is broken".
fn is_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::AuthenticationError
            | ErrorCode::UserUnknown
            | ErrorCode::PermissionDenied
            | ErrorCode::AccountExpired
            | ErrorCode::NewAuthTokRequired
            | ErrorCode::AuthTokExpired
            | ErrorCode::CredentialsInsufficient
            | ErrorCode::MaxTries
    )
}

fn classify(step: &str, code: ErrorCode) -> PamError {
    let text = format!("{step}: {code}");
    if is_refusal(code) {
        PamError::Refused(text)
    } else if code == ErrorCode::AuthInfoUnavailable && !nix::unistd::geteuid().is_root() {
        PamError::Broken(format!(
            "{text} (PAM can check system passwords only when postern runs as root)"
        ))
    } else if code == ErrorCode::AuthInfoUnavailable {
        // pam_unix answers this for some unknown users.
        PamError::Refused(text)
    } else {
        PamError::Broken(text)
    }
}

/// Check `user` / `password` with the PAM service `service`, then look the account up in
/// NSS. Every refusal is logged here with the user and the client's address.
pub fn authenticate(
    service: &str,
    user: &str,
    password: &str,
    remote: Option<IpAddr>,
) -> Result<SystemUser, PamError> {
    let ip = remote.map(|ip| ip.to_string());
    let result = check(service, user, password, ip.as_deref());
    if let Err(err) = &result {
        let ip = ip.as_deref().unwrap_or("?");
        match err {
            PamError::Refused(why) => {
                let user = crate::log::escape(user);
                log::info!("PAM {service} refused user={user}, ip=[{ip}]: {why}")
            }
            PamError::Broken(why) => {
                let user = crate::log::escape(user);
                log::error!("PAM {service} failed for user={user}, ip=[{ip}]: {why}")
            }
        }
    }
    result
}

fn check(
    service: &str,
    user: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<SystemUser, PamError> {
    if service.is_empty() || service.contains(['/', '\0']) {
        return Err(PamError::Broken(format!(
            "{service:?} is not a PAM service name"
        )));
    }
    if user.is_empty() || user.contains('\0') || password.contains('\0') {
        return Err(PamError::Refused("malformed user name or password".into()));
    }
    // In a child (see `super::child`): the modules the stack loads stay out of the session.
    let answer = super::child::run(|| encode(transaction(service, user, password, ip)))
        .map_err(|e| PamError::Broken(format!("PAM {service}: {e}")))?;
    let name = decode(&answer)?;
    system_user(&name)?.ok_or_else(|| {
        PamError::Broken(format!(
            "PAM accepted {name}, but the user database (NSS) does not know it"
        ))
    })
}

/// The PAM transaction itself: authentication, the account check, and the user name PAM
/// settled on (a module may map the one given).
fn transaction(
    service: &str,
    user: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<String, PamError> {
    let answers = Answers {
        user: user.to_owned(),
        password: password.to_owned(),
    };
    let mut txn = TransactionBuilder::new_with_service(service)
        .username(user)
        .build(answers.into_conversation())
        .map_err(|code| PamError::Broken(format!("pam_start({service}): {code}")))?;
    if let Some(ip) = ip {
        txn.items_mut()
            .set_remote_host(Some(OsStr::new(ip)))
            .map_err(|code| PamError::Broken(format!("setting PAM_RHOST: {code}")))?;
    }
    txn.authenticate(AuthnFlags::empty())
        .map_err(|code| classify("authentication", code))?;
    txn.account_management(AuthnFlags::empty())
        .map_err(|code| classify("account check", code))?;
    match txn.items().user() {
        Ok(Some(name)) => name.into_string().map_err(|_| {
            PamError::Broken("PAM changed the user name to something not UTF-8".into())
        }),
        _ => Ok(user.to_owned()),
    }
}

/// A transaction's outcome as bytes for the parent: a kind byte, then the text.
fn encode(outcome: Result<String, PamError>) -> Vec<u8> {
    let (kind, text) = match outcome {
        Ok(name) => (b'O', name),
        Err(PamError::Refused(why)) => (b'R', why),
        Err(PamError::Broken(why)) => (b'B', why),
    };
    let mut bytes = vec![kind];
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Result<String, PamError> {
    let text = || String::from_utf8_lossy(&bytes[1..]).into_owned();
    match bytes.first() {
        Some(b'O') => Ok(text()),
        Some(b'R') => Err(PamError::Refused(text())),
        Some(b'B') => Err(PamError::Broken(text())),
        _ => Err(PamError::Broken(
            "PAM's child process gave no answer".into(),
        )),
    }
}

/// A system account from NSS (passwd), without PAM: for delivery and certificate logins.
pub fn system_user(name: &str) -> Result<Option<SystemUser>, PamError> {
    let entry = nix::unistd::User::from_name(name)
        .map_err(|e| PamError::Broken(format!("looking up {name} in the user database: {e}")))?;
    Ok(entry.map(|entry| SystemUser {
        name: name.to_owned(),
        uid: entry.uid.as_raw(),
        gid: entry.gid.as_raw(),
        home: entry.dir,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_per_protocol() {
        let auth = Auth::default();
        // The variable is not set in unit tests (nothing here sets it).
        if std::env::var_os(SERVICE_ENV).is_none() {
            assert_eq!(service_name(&auth, Protocol::Imap), "imap");
            assert_eq!(service_name(&auth, Protocol::Pop3), "pop3");
        }
        let mut auth = Auth::default();
        auth.pam_service_by_port
            .insert("993".into(), "imaps".into());
        assert_eq!(service_for(&auth, Protocol::Imap, Some(993)), "imaps");
        assert_eq!(service_for(&auth, Protocol::Imap, Some(143)), "imap");
        assert_eq!(service_for(&auth, Protocol::Pop3, None), "pop3");
        {}
    }

    #[test]
    fn bad_service_names_are_server_errors() {
        assert!(matches!(
            authenticate("../etc/passwd", "u", "p", None),
            Err(PamError::Broken(_))
        ));
        assert!(matches!(
            authenticate("imap", "", "p", None),
            Err(PamError::Refused(_))
        ));
    }

    #[test]
    fn refusals_are_not_server_errors() {
        assert!(is_refusal(ErrorCode::AuthenticationError));
        assert!(is_refusal(ErrorCode::AccountExpired));
        assert!(!is_refusal(ErrorCode::ServiceError));
    }
}
