//! Becoming the mailbox owner for good: supplementary groups, gid, uid (real, effective
//! and saved), no capabilities in any set, an empty bounding set and no_new_privs. Each
//! step is checked afterwards; a process that cannot prove it holds nothing more than
//! the user's rights must not serve mail.

use std::ffi::{CStr, CString};

use caps::CapSet;
use nix::unistd::{Gid, Uid};

use super::identity::{Groups, Identity};

#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("refusing to serve {0} as root (uid 0)")]
    Root(String),
    #[error("{step}: {err}")]
    Step { step: &'static str, err: String },
    /// A check after the drop found something left.
    #[error("privileges left after the drop: {0}")]
    Left(String),
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> DropError {
    move |err| DropError::Step {
        step,
        err: err.to_string(),
    }
}

const ALL_SETS: [CapSet; 5] = [
    CapSet::Effective,
    CapSet::Permitted,
    CapSet::Inheritable,
    CapSet::Ambient,
    CapSet::Bounding,
];

/// Switch this (root) process to `identity` for `user` and drop every capability.
pub fn drop_to(user: &str, identity: &Identity) -> Result<(), DropError> {
    if identity.uid == 0 || identity.gid == 0 {
        return Err(DropError::Root(user.to_owned()));
    }
    let (uid, gid) = (Uid::from_raw(identity.uid), Gid::from_raw(identity.gid));

    match &identity.groups {
        Groups::System(name) => {
            let name = CString::new(name.as_str()).map_err(step("user name"))?;
            let groups = group_list(&name, gid)?;
            nix::unistd::setgroups(&groups).map_err(step("setgroups"))?;
        }
        Groups::PrimaryOnly => nix::unistd::setgroups(&[gid]).map_err(step("setgroups"))?,
    }
    // Shrinking the bounding set needs CAP_SETPCAP, which setuid() below takes away.
    caps::clear(None, CapSet::Bounding).map_err(step("clearing the capability bounding set"))?;
    caps::clear(None, CapSet::Ambient).map_err(step("clearing ambient capabilities"))?;
    nix::sys::prctl::set_no_new_privs().map_err(step("PR_SET_NO_NEW_PRIVS"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(step("setresgid"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(step("setresuid"))?;
    // setuid() away from 0 empties the permitted and effective sets; the inheritable set
    // survives it, so clear explicitly (effective first: it must stay within permitted).
    for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
        caps::clear(None, set).map_err(step("clearing capabilities"))?;
    }
    verify(uid, gid, &identity.groups)
}

/// The groups `initgroups` would give `name` (with `gid`), looked up in a child process
/// (see [`super::child`]): the NSS modules that answer stay out of the session (or here,
/// when the session is a program executed after the drop).
fn group_list(name: &CStr, gid: Gid) -> Result<Vec<Gid>, DropError> {
    let bytes = super::child::run(|| match nix::unistd::getgrouplist(name, gid) {
        Ok(groups) => groups
            .iter()
            .flat_map(|g| g.as_raw().to_ne_bytes())
            .collect(),
        // No group list is not a valid answer: it has gid at least.
        Err(_) => Vec::new(),
    })
    .map_err(step("initgroups"))?;
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return Err(DropError::Step {
            step: "initgroups",
            err: format!("the group lookup for {name:?} failed"),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| Gid::from_raw(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

/// Proves the drop: every id is the user's, no capability in any set, no way back to 0.
fn verify(uid: Uid, gid: Gid, groups: &Groups) -> Result<(), DropError> {
    let ids = nix::unistd::getresuid().map_err(step("getresuid"))?;
    if [ids.real, ids.effective, ids.saved] != [uid; 3] {
        return Err(DropError::Left(format!(
            "uids {} {} {} (want {uid})",
            ids.real, ids.effective, ids.saved
        )));
    }
    let ids = nix::unistd::getresgid().map_err(step("getresgid"))?;
    if [ids.real, ids.effective, ids.saved] != [gid; 3] {
        return Err(DropError::Left(format!(
            "gids {} {} {} (want {gid})",
            ids.real, ids.effective, ids.saved
        )));
    }
    let held = nix::unistd::getgroups().map_err(step("getgroups"))?;
    if held.contains(&Gid::from_raw(0)) {
        return Err(DropError::Left("supplementary group 0 (root)".into()));
    }
    if *groups == Groups::PrimaryOnly && held.iter().any(|g| *g != gid) {
        return Err(DropError::Left(format!("supplementary groups {held:?}")));
    }
    for set in ALL_SETS {
        let held = caps::read(None, set).map_err(step("reading capabilities"))?;
        if !held.is_empty() {
            return Err(DropError::Left(format!("{set:?} capabilities {held:?}")));
        }
    }
    if !nix::sys::prctl::get_no_new_privs().map_err(step("PR_GET_NO_NEW_PRIVS"))? {
        return Err(DropError::Left("no_new_privs is not set".into()));
    }
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok()
        || nix::unistd::setgid(Gid::from_raw(0)).is_ok()
    {
        return Err(DropError::Left("the process can become root again".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_accounts_are_refused_before_anything_changes() {
        for (uid, gid) in [(0, 0), (0, 5), (5, 0)] {
            let identity = Identity {
                uid,
                gid,
                groups: Groups::PrimaryOnly,
            };
            assert!(matches!(
                drop_to("root", &identity),
                Err(DropError::Root(_))
            ));
        }
    }
}
