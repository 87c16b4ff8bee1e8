//! Who the peer is: password checks against the configured backend, the account that
//! results, and its options. The failed-login delay and attempt limit belong to the
//! session (it knows the connection); nothing here sleeps.

pub mod account;
mod child;
pub mod identity;
pub mod login;
pub mod loginexec;
pub mod pam;
pub mod password;
pub mod privdrop;
pub mod sasl;
pub mod scram;
pub mod userfile;

use std::net::IpAddr;

use thiserror::Error;

pub use account::{Account, AccountOptions, Protocol};
pub use child::InProcess;
pub use sasl::Credential;

use crate::config::{Backend, Config};

#[derive(Debug, Error)]
pub enum AuthError {
    /// Unknown user or wrong password (the client must not learn which).
    #[error("authentication failed")]
    Failed,
    /// The password was right but the account may not use this protocol
    /// (`disableimap=1` / `disablepop3=1`).
    #[error("{0} access is disabled for this account")]
    Disabled(Protocol),
    /// The mechanism cannot be checked against this account (CRAM-MD5 without a
    /// `{PLAIN}` secret, SCRAM without a `{PLAIN}` or `{SCRAM-SHA-256}` one, either with
    /// the PAM backend).
    #[error("this authentication mechanism is not available for this account")]
    MechanismUnavailable,
    /// A server-side problem (unreadable or broken user file, unsupported backend): a
    /// temporary failure, logged in full, not the client's fault.
    #[error("{0}")]
    Unavailable(String),
}

/// The decoy for an unknown user when the user file has no account with a checkable
/// secret: a well-formed SHA512-CRYPT hash with the default rounds.
const UNKNOWN_USER_HASH: &str = "{SHA512-CRYPT}$6$postern.unknown$\
    ......................................................................................";

/// Check `user` / `password` for `protocol` and return the account.
pub fn authenticate(
    config: &Config,
    protocol: Protocol,
    user: &str,
    password: &str,
    remote: Option<IpAddr>,
) -> Result<Account, AuthError> {
    authenticate_credential(
        config,
        protocol,
        user,
        &Credential::Password(password.to_owned()),
        remote,
    )
}

/// [`authenticate`] for any SASL credential (CRAM-MD5 needs a `{PLAIN}` secret; a SCRAM
/// credential carries the verdict of an exchange that used [`scram_lookup`]'s keys).
pub fn authenticate_credential(
    config: &Config,
    protocol: Protocol,
    user: &str,
    credential: &Credential,
    remote: Option<IpAddr>,
) -> Result<Account, AuthError> {
    if config.auth.backend == Backend::Pam {
        return authenticate_pam(config, protocol, user, credential, remote);
    }
    log::debug!(
        "checking {} for {protocol} from {}",
        crate::log::escape(user),
        remote
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "?".into())
    );
    let found = userfile::lookup_for_login(&config.auth.userfile, user)
        .map_err(|e| AuthError::Unavailable(e.to_string()))?;
    let entry = match found {
        userfile::LoginLookup::Known(entry) => entry,
        userfile::LoginLookup::Unknown { decoy } => {
            // The same work as for an account of this file, so the time taken does not
            // tell which user names exist; the verdict is thrown away.
            if let Credential::Password(password) = credential {
                let decoy = decoy.as_deref().unwrap_or(UNKNOWN_USER_HASH);
                let _ = password::verify(decoy, password);
            }
            return Err(AuthError::Failed);
        }
    };
    let ok = match credential {
        Credential::Password(password) => match password::verify(&entry.password, password) {
            Ok(ok) => ok,
            Err(e) => {
                return Err(AuthError::Unavailable(format!(
                    "{}:{}: {user}: {e}",
                    config.auth.userfile.display(),
                    entry.line
                )));
            }
        },
        Credential::CramResponse {
            mechanism,
            challenge,
            digest,
        } => {
            let Some(secret) = password::plain_secret(&entry.password) else {
                return Err(AuthError::MechanismUnavailable);
            };
            sasl::verify_cram(*mechanism, secret, challenge, digest)
        }
        Credential::Scram(sasl::ScramVerdict(verdict)) => match verdict {
            sasl::Verdict::Proven => true,
            sasl::Verdict::Failed(why) => {
                let user = crate::log::escape(user);
                log::debug!("SCRAM-SHA-256 for {user} failed: {why}");
                false
            }
            sasl::Verdict::Refused(scram::Refusal::Failed) => false,
            sasl::Verdict::Refused(scram::Refusal::MechanismUnavailable) => {
                return Err(AuthError::MechanismUnavailable);
            }
        },
    };
    if !ok {
        return Err(AuthError::Failed);
    }
    account_from_entry(config, protocol, entry)
}

/// The SCRAM-SHA-256 keys to run an exchange with `user`: from a `{SCRAM-SHA-256}` secret,
/// or derived from a `{PLAIN}` one ([`scram::keys_from_plain`]). An unknown user, or one
/// whose secret is a crypt(3) hash, gets decoy keys and a refusal: the exchange goes on
/// and fails at the end like a wrong password, so the client cannot tell these apart
/// from an account with a `{PLAIN}` secret. The PAM backend never reveals a password:
/// [`AuthError::MechanismUnavailable`] at once.
pub fn scram_lookup(config: &Config, user: &str) -> Result<scram::ScramLookup, AuthError> {
    if config.auth.backend == Backend::Pam {
        return Err(AuthError::MechanismUnavailable);
    }
    let broken = |e: &dyn std::fmt::Display| AuthError::Unavailable(format!("SCRAM: {e}"));
    let entry = userfile::lookup(&config.auth.userfile, user)
        .map_err(|e| AuthError::Unavailable(e.to_string()))?;
    let (keys, refusal) = match &entry {
        None => (scram::decoy_keys(user), Some(scram::Refusal::Failed)),
        Some(entry) => match password::split(&entry.password) {
            Ok((password::Scheme::ScramSha256, secret)) => match scram::ScramKeys::parse(secret) {
                Some(keys) => (Ok(keys), None),
                None => {
                    return Err(AuthError::Unavailable(format!(
                        "{}:{}: {user}: malformed {{SCRAM-SHA-256}} secret",
                        config.auth.userfile.display(),
                        entry.line
                    )));
                }
            },
            Ok((password::Scheme::Plain, "")) => {
                (scram::decoy_keys(user), Some(scram::Refusal::Failed))
            }
            Ok((password::Scheme::Plain, secret)) => {
                (Ok(scram::keys_from_plain(user, secret)), None)
            }
            Ok(_) => (
                scram::decoy_keys(user),
                Some(scram::Refusal::MechanismUnavailable),
            ),
            Err(e) => {
                return Err(AuthError::Unavailable(format!(
                    "{}:{}: {user}: {e}",
                    config.auth.userfile.display(),
                    entry.line
                )));
            }
        },
    };
    Ok(scram::ScramLookup {
        keys: keys.map_err(|e| broken(&e))?,
        refusal,
    })
}

/// The account `user` without checking a password: for logins proven otherwise (a
/// verified TLS client certificate, AUTHENTICATE EXTERNAL). Unknown users fail.
pub fn lookup_account(
    config: &Config,
    protocol: Protocol,
    user: &str,
) -> Result<Account, AuthError> {
    match config.auth.backend {
        Backend::Userfile => account_from_entry(config, protocol, find_entry(config, user)?),
        Backend::Pam => system_account(config, protocol, find_system_user(user)?),
    }
}

/// The user file's line for `user`; unknown users fail.
fn find_entry(config: &Config, user: &str) -> Result<userfile::UserEntry, AuthError> {
    userfile::lookup(&config.auth.userfile, user)
        .map_err(|e| AuthError::Unavailable(e.to_string()))?
        .ok_or(AuthError::Failed)
}

/// The system account `user` from NSS; unknown users fail.
fn find_system_user(user: &str) -> Result<pam::SystemUser, AuthError> {
    pam::system_user(user)
        .map_err(|e| AuthError::Unavailable(e.to_string()))?
        .ok_or(AuthError::Failed)
}

/// A user-file account's Maildir: its `maildir=` option, else `[mail] maildir`, below home.
fn entry_maildir(config: &Config, entry: &userfile::UserEntry) -> std::path::PathBuf {
    match &entry.maildir {
        Some(path) => entry.home.join(path),
        None => entry.home.join(&config.mail.maildir),
    }
}

/// A system account with the configured default options (PAM has no per-account ones).
fn system_account(
    config: &Config,
    protocol: Protocol,
    system: pam::SystemUser,
) -> Result<Account, AuthError> {
    let options = account_options(config, protocol, "", "auth.default_options")?;
    let maildir = system.home.join(&config.mail.maildir);
    account(
        system.name,
        Some(system.uid),
        Some(system.gid),
        system.home,
        maildir,
        options,
    )
    .map(|account| Account {
        system: true,
        ..account
    })
}

/// Where `user`'s mail lives and who owns it, without a login and whatever the account's
/// options say (disableimap=1 does not stop mail arriving): for `postern deliver`.
pub struct MailLocation {
    /// The account name, or the Maildir's path for a delivery by path.
    pub user: String,
    pub home: std::path::PathBuf,
    pub maildir: std::path::PathBuf,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// A system account (keeps its supplementary groups).
    pub system: bool,
}

pub fn mail_location(config: &Config, user: &str) -> Result<MailLocation, AuthError> {
    match config.auth.backend {
        Backend::Userfile => {
            let entry = find_entry(config, user)?;
            Ok(MailLocation {
                maildir: entry_maildir(config, &entry),
                user: entry.user,
                home: entry.home,
                uid: entry.uid,
                gid: entry.gid,
                system: false,
            })
        }
        Backend::Pam => {
            let system = find_system_user(user)?;
            Ok(MailLocation {
                maildir: system.home.join(&config.mail.maildir),
                user: system.name,
                home: system.home,
                uid: Some(system.uid),
                gid: Some(system.gid),
                system: true,
            })
        }
    }
}

fn account_from_entry(
    config: &Config,
    protocol: Protocol,
    entry: userfile::UserEntry,
) -> Result<Account, AuthError> {
    let options = account_options(config, protocol, &entry.options, &entry.user)?;
    let maildir = entry_maildir(config, &entry);
    account(
        entry.user, entry.uid, entry.gid, entry.home, maildir, options,
    )
}

/// The account's options over the configured defaults; a protocol they disable refuses.
fn account_options(
    config: &Config,
    protocol: Protocol,
    own: &str,
    context: &str,
) -> Result<AccountOptions, AuthError> {
    let options = AccountOptions::resolve(&config.auth.default_options, own)
        .map_err(|e| AuthError::Unavailable(format!("{context}: {e}")))?;
    if options.disabled_for(protocol) {
        return Err(AuthError::Disabled(protocol));
    }
    Ok(options)
}

/// An account whose Maildir path is absolute (anything else is a configuration error).
fn account(
    user: String,
    uid: Option<u32>,
    gid: Option<u32>,
    home: std::path::PathBuf,
    maildir: std::path::PathBuf,
    options: AccountOptions,
) -> Result<Account, AuthError> {
    if !maildir.is_absolute() {
        return Err(AuthError::Unavailable(format!(
            "{user}: the Maildir {} is not an absolute path",
            maildir.display()
        )));
    }
    Ok(Account {
        user,
        uid,
        gid,
        home,
        maildir,
        options,
        system: false,
    })
}

/// The PAM branch: the password goes to PAM, the account comes from NSS, the options are
/// the configured defaults (PAM has no per-account options).
fn authenticate_pam(
    config: &Config,
    protocol: Protocol,
    user: &str,
    credential: &Credential,
    remote: Option<IpAddr>,
) -> Result<Account, AuthError> {
    let Credential::Password(password) = credential else {
        // PAM never reveals the password, so challenge-response cannot be checked.
        return Err(AuthError::MechanismUnavailable);
    };
    let service = pam::service_name(&config.auth, protocol);
    let system = match pam::authenticate(&service, user, password, remote) {
        Ok(system) => system,
        Err(pam::PamError::Refused(_)) => return Err(AuthError::Failed),
        Err(pam::PamError::Broken(why)) => {
            return Err(AuthError::Unavailable(format!(
                "PAM service {service}: {why}"
            )));
        }
    };
    system_account(config, protocol, system)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn setup(users: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, users).unwrap();
        let mut config = Config::default();
        config.auth.userfile = path;
        (dir, config)
    }

    #[test]
    fn userfile_logins() {
        let hashed = password::hash(password::Scheme::Sha512Crypt, "pw2").unwrap();
        let (_dir, mut config) = setup(&format!(
            "alice:{{PLAIN}}pw1:1000:1000::/home/alice::group=staff\n\
             bob:{hashed}::::/srv/bob::maildir=/srv/mail/bob disablepop3=1\n"
        ));
        let a = authenticate(&config, Protocol::Imap, "alice", "pw1", None).unwrap();
        assert_eq!(a.user, "alice");
        assert_eq!((a.uid, a.gid), (Some(1000), Some(1000)));
        assert_eq!(a.maildir, Path::new("/home/alice/Maildir"));
        assert_eq!(a.options.groups, ["staff"]);

        let b = authenticate(&config, Protocol::Imap, "bob", "pw2", None).unwrap();
        assert_eq!(b.maildir, Path::new("/srv/mail/bob"));
        assert_eq!(b.uid, None);
        assert!(matches!(
            authenticate(&config, Protocol::Pop3, "bob", "pw2", None),
            Err(AuthError::Disabled(Protocol::Pop3))
        ));
        // A wrong password does not reveal that POP3 is disabled.
        assert!(matches!(
            authenticate(&config, Protocol::Pop3, "bob", "nope", None),
            Err(AuthError::Failed)
        ));
        assert!(matches!(
            authenticate(&config, Protocol::Imap, "alice", "pw2", None),
            Err(AuthError::Failed)
        ));
        assert!(matches!(
            authenticate(&config, Protocol::Imap, "carol", "pw1", None),
            Err(AuthError::Failed)
        ));

        config.auth.default_options = "disableimap=1".into();
        assert!(matches!(
            authenticate(&config, Protocol::Imap, "alice", "pw1", None),
            Err(AuthError::Disabled(Protocol::Imap))
        ));
        config.auth.backend = Backend::Pam;
        config.auth.pam_service_imap = "postern-no-such-service/x".into();
        assert!(matches!(
            authenticate(&config, Protocol::Imap, "alice", "pw1", None),
            Err(AuthError::Unavailable(msg)) if msg.contains("PAM")
        ));
    }

    #[test]
    fn cram_needs_plain_secret() {
        let (_dir, config) = setup(
            "tim:{PLAIN}tanstaaftanstaaf::::/home/tim\n\
             ann:{SHA512-CRYPT}$6$a$b::::/home/ann\n",
        );
        let challenge = "<1896.697170952@postoffice.reston.mci.net>".to_owned();
        let cred = Credential::CramResponse {
            mechanism: sasl::Mechanism::CramMd5,
            challenge: challenge.clone(),
            digest: "b913a602c7eda7a495b4e6e7334d3890".into(),
        };
        let a = authenticate_credential(&config, Protocol::Imap, "tim", &cred, None).unwrap();
        assert_eq!(a.user, "tim");
        assert!(matches!(
            authenticate_credential(&config, Protocol::Imap, "ann", &cred, None),
            Err(AuthError::MechanismUnavailable)
        ));
    }

    #[test]
    fn scram_keys_by_secret() {
        let stored = password::hash(password::Scheme::ScramSha256, "pw3").unwrap();
        let crypt = password::hash(password::Scheme::Sha512Crypt, "pw4").unwrap();
        let (_dir, mut config) = setup(&format!(
            "tim:{{PLAIN}}pw1::::/home/tim\n\
             ann:{stored}::::/home/ann\n\
             bob:{crypt}::::/home/bob\n\
             eve:{{PLAIN}}::::/home/eve\n"
        ));
        let tim = scram_lookup(&config, "tim").unwrap();
        assert_eq!(tim.keys, scram::keys_from_plain("tim", "pw1"));
        assert_eq!(tim.refusal, None);
        let ann = scram_lookup(&config, "ann").unwrap();
        assert_eq!(
            format!("{{SCRAM-SHA-256}}{}", ann.keys.encode()),
            stored,
            "the stored keys as they are"
        );
        assert_eq!(ann.refusal, None);
        // Unknown and unusable accounts get keys with the derived salt, like `{PLAIN}` ones.
        for (user, refusal) in [
            ("bob", scram::Refusal::MechanismUnavailable),
            ("eve", scram::Refusal::Failed),
            ("nobody", scram::Refusal::Failed),
        ] {
            let l = scram_lookup(&config, user).unwrap();
            assert_eq!(l.refusal, Some(refusal), "{user}");
            assert_eq!(l.keys.salt, scram::derived_salt(user), "{user}");
            assert_eq!(l.keys.iterations, scram::DEFAULT_ITERATIONS);
        }
        // PLAIN/LOGIN against a stored SCRAM secret.
        assert!(authenticate(&config, Protocol::Imap, "ann", "pw3", None).is_ok());
        assert!(matches!(
            authenticate(&config, Protocol::Imap, "ann", "pw1", None),
            Err(AuthError::Failed)
        ));

        let verdict = |v| Credential::Scram(sasl::ScramVerdict(v));
        let check =
            |user, v| authenticate_credential(&config, Protocol::Imap, user, &verdict(v), None);
        assert_eq!(check("tim", sasl::Verdict::Proven).unwrap().user, "tim");
        assert!(matches!(
            check("tim", sasl::Verdict::Failed("invalid-proof")),
            Err(AuthError::Failed)
        ));
        assert!(matches!(
            check(
                "bob",
                sasl::Verdict::Refused(scram::Refusal::MechanismUnavailable)
            ),
            Err(AuthError::MechanismUnavailable)
        ));
        assert!(matches!(
            check("nobody", sasl::Verdict::Proven),
            Err(AuthError::Failed)
        ));

        std::fs::write(&config.auth.userfile, "tim:{SCRAM-SHA-256}4096,x::::/h\n").unwrap();
        assert!(matches!(
            scram_lookup(&config, "tim"),
            Err(AuthError::Unavailable(msg)) if msg.contains(":1:")
        ));
        config.auth.backend = Backend::Pam;
        assert!(matches!(
            scram_lookup(&config, "tim"),
            Err(AuthError::MechanismUnavailable)
        ));
    }

    #[test]
    fn lookup_without_password() {
        let (_dir, config) = setup(
            "tim@example.org:{SHA512-CRYPT}$6$a$b::::/home/tim\n\
             off:{PLAIN}x::::/home/off::disableimap=1\n",
        );
        let a = lookup_account(&config, Protocol::Imap, "tim@example.org").unwrap();
        assert_eq!(a.maildir, Path::new("/home/tim/Maildir"));
        assert!(matches!(
            lookup_account(&config, Protocol::Imap, "nobody"),
            Err(AuthError::Failed)
        ));
        assert!(matches!(
            lookup_account(&config, Protocol::Imap, "off"),
            Err(AuthError::Disabled(Protocol::Imap))
        ));
    }

    #[test]
    fn the_fallback_decoy_is_a_full_hash() {
        assert_eq!(
            password::decoy(UNKNOWN_USER_HASH).as_deref(),
            Some(UNKNOWN_USER_HASH)
        );
        assert_eq!(password::verify(UNKNOWN_USER_HASH, "x"), Ok(false));
    }

    /// Passwords that crypt(3) cannot take fail like wrong ones, for known and unknown
    /// users alike (not as a server error).
    #[test]
    fn unhashable_passwords_are_failed_logins() {
        let hashed = password::hash(password::Scheme::Sha512Crypt, "pw").unwrap();
        let (_dir, config) = setup(&format!("alice:{hashed}::::/home/alice\n"));
        for user in ["alice", "nobody"] {
            for pw in ["a".repeat(600), "p\0w".to_owned(), "pw\0".to_owned()] {
                assert!(
                    matches!(
                        authenticate(&config, Protocol::Imap, user, &pw, None),
                        Err(AuthError::Failed)
                    ),
                    "{user} {}",
                    pw.len()
                );
            }
        }
    }

    #[test]
    fn broken_user_file_is_a_server_error() {
        let (_dir, config) = setup("alice:{PLAIN}x:uid::::/h\n");
        assert!(matches!(
            authenticate(&config, Protocol::Imap, "alice", "x", None),
            Err(AuthError::Unavailable(msg)) if msg.contains(":1:")
        ));
    }
}
