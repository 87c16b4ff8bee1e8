//! Whom a root process becomes for an account: its own uid and gid, or the configured
//! virtual-mail owner's (`[auth] default_uid` / `default_gid`). Never the owner of some
//! directory: a path is the user's to point anywhere, an identity is not. Unprivileged
//! processes (the demo, tests) have nothing to switch to and serve their own uid only.

use nix::unistd::{Group, Uid, User, geteuid};

use crate::config::Auth;

/// Which supplementary groups the process keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// A system account: its groups from the group database (initgroups).
    System(String),
    /// A virtual account: its gid alone. A same-named system account's groups are not
    /// the virtual user's.
    PrimaryOnly,
}

/// The ids a root process switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Groups,
}

/// What a process does about identity for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switch {
    /// Running as root: become this.
    To(Identity),
    /// Running unprivileged as the account's own uid: nothing to switch.
    Stay,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "account {user} has no {which}, and [auth] default_{which} is not set: as root every \
         account needs an explicit non-zero uid and gid"
    )]
    Missing { user: String, which: &'static str },
    #[error("account {user} resolves to {which} 0 (root): refused")]
    Root { user: String, which: &'static str },
    #[error(
        "account {user} maps to uid {uid}, but this process runs as uid {running} and cannot switch"
    )]
    WrongUid {
        user: String,
        uid: u32,
        running: u32,
    },
    #[error("[auth] {key} = {value:?}: {why}")]
    Setting {
        key: &'static str,
        value: String,
        why: String,
    },
}

/// The configured virtual-mail owner, resolved to numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtualOwner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl VirtualOwner {
    /// `default_uid` is a number or a user name (whose primary group serves as the gid
    /// when `default_gid` is empty); `default_gid` a number or a group name.
    pub fn from_config(auth: &Auth) -> Result<VirtualOwner, IdentityError> {
        let mut owner = VirtualOwner::default();
        let uid_text = auth.default_uid.trim();
        if !uid_text.is_empty() {
            let (uid, gid) = user_ids(uid_text)?;
            owner.uid = Some(uid);
            owner.gid = gid;
        }
        let gid_text = auth.default_gid.trim();
        if !gid_text.is_empty() {
            owner.gid = Some(group_id(gid_text)?);
        }
        Ok(owner)
    }
}

fn setting(key: &'static str, value: &str, why: impl ToString) -> IdentityError {
    IdentityError::Setting {
        key,
        value: value.to_owned(),
        why: why.to_string(),
    }
}

/// A uid, and the user's primary gid when given as a name.
fn user_ids(text: &str) -> Result<(u32, Option<u32>), IdentityError> {
    if let Ok(uid) = text.parse::<u32>() {
        return Ok((uid, None));
    }
    match User::from_name(text) {
        Ok(Some(user)) => Ok((user.uid.as_raw(), Some(user.gid.as_raw()))),
        Ok(None) => Err(setting("default_uid", text, "no such user")),
        Err(e) => Err(setting("default_uid", text, e)),
    }
}

fn group_id(text: &str) -> Result<u32, IdentityError> {
    if let Ok(gid) = text.parse::<u32>() {
        return Ok(gid);
    }
    match Group::from_name(text) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(setting("default_gid", text, "no such group")),
        Err(e) => Err(setting("default_gid", text, e)),
    }
}

/// An account as [`resolve`] needs it.
pub struct Claim<'a> {
    pub user: &'a str,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// A system (PAM/NSS) account rather than a virtual one.
    pub system: bool,
}

/// Decides the switch for `claim` in a process running as `running`.
pub fn resolve_as(
    claim: &Claim<'_>,
    owner: VirtualOwner,
    running: Uid,
) -> Result<Switch, IdentityError> {
    let user = || claim.user.to_owned();
    if !running.is_root() {
        return match claim.uid {
            Some(uid) if uid != running.as_raw() => Err(IdentityError::WrongUid {
                user: user(),
                uid,
                running: running.as_raw(),
            }),
            _ => Ok(Switch::Stay),
        };
    }
    let uid = claim.uid.or(owner.uid).ok_or(IdentityError::Missing {
        user: user(),
        which: "uid",
    })?;
    let gid = claim.gid.or(owner.gid).ok_or(IdentityError::Missing {
        user: user(),
        which: "gid",
    })?;
    for (id, which) in [(uid, "uid"), (gid, "gid")] {
        if id == 0 {
            return Err(IdentityError::Root {
                user: user(),
                which,
            });
        }
    }
    let groups = if claim.system {
        Groups::System(claim.user.to_owned())
    } else {
        Groups::PrimaryOnly
    };
    Ok(Switch::To(Identity { uid, gid, groups }))
}

/// [`resolve_as`] for this process.
pub fn resolve(claim: &Claim<'_>, owner: VirtualOwner) -> Result<Switch, IdentityError> {
    resolve_as(claim, owner, geteuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: Uid = Uid::from_raw(0);

    fn claim(uid: Option<u32>, gid: Option<u32>, system: bool) -> Claim<'static> {
        Claim {
            user: "u",
            uid,
            gid,
            system,
        }
    }

    #[test]
    fn root_needs_explicit_ids() {
        let none = VirtualOwner::default();
        assert_eq!(
            resolve_as(&claim(None, None, false), none, ROOT),
            Err(IdentityError::Missing {
                user: "u".into(),
                which: "uid"
            })
        );
        assert!(matches!(
            resolve_as(&claim(Some(5), None, false), none, ROOT),
            Err(IdentityError::Missing { which: "gid", .. })
        ));
        assert!(matches!(
            resolve_as(&claim(None, Some(5), false), none, ROOT),
            Err(IdentityError::Missing { which: "uid", .. })
        ));
        let vmail = VirtualOwner {
            uid: Some(800),
            gid: Some(801),
        };
        assert_eq!(
            resolve_as(&claim(None, None, false), vmail, ROOT),
            Ok(Switch::To(Identity {
                uid: 800,
                gid: 801,
                groups: Groups::PrimaryOnly
            }))
        );
        // An account's own ids win over the default, each on its own.
        assert_eq!(
            resolve_as(&claim(Some(5), None, true), vmail, ROOT),
            Ok(Switch::To(Identity {
                uid: 5,
                gid: 801,
                groups: Groups::System("u".into())
            }))
        );
    }

    #[test]
    fn root_ids_are_refused_everywhere() {
        let root_owner = VirtualOwner {
            uid: Some(0),
            gid: Some(0),
        };
        assert!(matches!(
            resolve_as(&claim(Some(0), Some(5), true), root_owner, ROOT),
            Err(IdentityError::Root { which: "uid", .. })
        ));
        assert!(matches!(
            resolve_as(&claim(None, None, false), root_owner, ROOT),
            Err(IdentityError::Root { which: "uid", .. })
        ));
        assert!(matches!(
            resolve_as(&claim(Some(5), Some(0), false), root_owner, ROOT),
            Err(IdentityError::Root { which: "gid", .. })
        ));
        // Unprivileged, uid 0 is another uid: refused as such.
        assert!(matches!(
            resolve_as(
                &claim(Some(0), None, false),
                root_owner,
                Uid::from_raw(1000)
            ),
            Err(IdentityError::WrongUid { uid: 0, .. })
        ));
    }

    #[test]
    fn unprivileged_serves_its_own_uid() {
        let me = Uid::from_raw(1000);
        let none = VirtualOwner::default();
        assert_eq!(
            resolve_as(&claim(None, None, false), none, me),
            Ok(Switch::Stay)
        );
        assert_eq!(
            resolve_as(&claim(Some(1000), Some(7), false), none, me),
            Ok(Switch::Stay)
        );
        assert!(matches!(
            resolve_as(&claim(Some(1001), None, false), none, me),
            Err(IdentityError::WrongUid { .. })
        ));
    }

    #[test]
    fn owner_from_names_and_numbers() {
        let mut auth = Auth::default();
        assert_eq!(
            VirtualOwner::from_config(&auth).unwrap(),
            VirtualOwner::default()
        );
        auth.default_uid = "800".into();
        auth.default_gid = "801".into();
        let owner = VirtualOwner::from_config(&auth).unwrap();
        assert_eq!((owner.uid, owner.gid), (Some(800), Some(801)));
        // A user name brings its primary group unless default_gid says otherwise.
        auth.default_uid = "root".into();
        auth.default_gid = String::new();
        let owner = VirtualOwner::from_config(&auth).unwrap();
        assert_eq!((owner.uid, owner.gid), (Some(0), Some(0)));
        auth.default_gid = "800".into();
        assert_eq!(VirtualOwner::from_config(&auth).unwrap().gid, Some(800));
        auth.default_uid = "postern-no-such-user".into();
        assert!(matches!(
            VirtualOwner::from_config(&auth),
            Err(IdentityError::Setting {
                key: "default_uid",
                ..
            })
        ));
        auth.default_uid = String::new();
        auth.default_gid = "postern-no-such-group".into();
        assert!(matches!(
            VirtualOwner::from_config(&auth),
            Err(IdentityError::Setting {
                key: "default_gid",
                ..
            })
        ));
    }
}
