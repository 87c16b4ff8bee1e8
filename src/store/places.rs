//! Where a folder name leads, and what the login may do there.
//!
//! A login's own folders are `INBOX` and `INBOX.a.b` in its own Maildir. Other accounts'
//! folders are reached through Courier's virtual shared namespace: `#shared.<account>.a.b`
//! (with group levels of the shared index before the account: `#shared.<group>.<account>`)
//! is `INBOX.a.b` in that account's Maildir, `#shared.<account>` its INBOX. Who may do
//! what to a folder is its ACL (`courierimapacl`, [`super::acl`]) read for this login.
//! With the account option `disableshared` there are no ACLs and no `#shared.` for the
//! login, as in Courier: its own folders allow everything.
//!
//! The process runs as the login's user when any of this is read (after the privilege
//! drop), so another account's Maildir is opened only as far as file modes allow: one
//! uid for all virtual users, or a group and group-writable folders for system users.

use std::path::PathBuf;

use super::acl::{self, Rights, Viewer};
use super::folder::{self, INBOX, SEPARATOR};
use super::shared_index::{Index, Resolved, SharedAccount, suppressed};
use super::{Maildir, Result, StoreError};

/// The root of the virtual shared namespace (Courier's NEWSHARED, without its dot).
pub const SHARED_ROOT: &str = "#shared";

/// Who is logged in, as ACLs name it.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    /// The login name (`user=<name>` in an ACL).
    pub user: &'a str,
    /// The account's `group=` options (`group=<name>` in an ACL).
    pub groups: &'a [String],
    /// ACLs and `#shared.` are in force (false for `disableshared=1`).
    pub sharing: bool,
    /// The login's view of the shared index (its `sharedgroup=` applied); None: no
    /// `#shared.` namespace.
    pub shared_index: Option<Index>,
}

/// A folder a name leads to.
#[derive(Debug, Clone)]
pub struct Place {
    /// The Maildir the folder is in: the login's own, or a shared account's.
    pub maildir: Maildir,
    /// The folder inside that Maildir: `INBOX` or `INBOX.a.b`.
    pub folder: String,
    /// The name as the client uses it: `INBOX.a.b` or `#shared.joe.a.b`.
    pub name: String,
    /// The login owns the Maildir (its own folders).
    pub owner: bool,
}

impl Place {
    /// What the login may do here: the folder's ACL for this login, or everything when
    /// ACLs are off for it.
    pub fn rights(&self, login: &Login<'_>) -> Result<Rights> {
        if !login.sharing {
            return Ok(Rights::ALL);
        }
        // A folder that does not exist (CREATE's target, a mistyped SELECT) is judged by
        // the nearest folder above it that does: reading the ACL of a name that is not a
        // folder would write a hierarchy-level list for it, as Courier's library does.
        let mut folder = self.folder.as_str();
        while folder != INBOX && self.maildir.existing_dir(folder).is_err() {
            folder = folder.rsplit_once(SEPARATOR).map_or(INBOX, |(up, _)| up);
        }
        let acl = acl::load(self.maildir.root(), folder).map_err(acl_error)?;
        Ok(acl::rights(
            &acl,
            &Viewer {
                user: login.user,
                groups: login.groups,
                owner: self.owner,
            },
        ))
    }

    /// Whether this is a folder of another account.
    pub fn is_shared(&self) -> bool {
        !self.owner
    }
}

fn acl_error(err: acl::AclError) -> StoreError {
    StoreError::Corrupt {
        path: PathBuf::from("courierimapacl"),
        reason: err.to_string(),
    }
}

/// One entry of [`Places::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// As the client names it.
    pub name: String,
    pub has_children: bool,
    /// A hierarchy level only (`#shared`, a group, an account whose INBOX the login
    /// may not look up): `\Noselect`.
    pub no_select: bool,
}

/// The folders a login can name: its own Maildir and, through the shared index,
/// other accounts'.
pub struct Places<'a> {
    pub own: &'a Maildir,
    pub login: Login<'a>,
    pub follow_symlinks: bool,
}

impl<'a> Places<'a> {
    /// The place of a name as the client gave it (decoded from the wire; `inbox` in any
    /// case already made `INBOX`). A name under `#shared.` that leads to no account is
    /// [`StoreError::NoSuchFolder`]; one that is not valid is [`StoreError::InvalidName`].
    pub fn resolve(&self, name: &str) -> Result<Place> {
        if !is_shared_name(name) {
            let folder = folder::canonical_name(name)?;
            return Ok(Place {
                maildir: self.own.clone(),
                name: folder.clone(),
                folder,
                owner: true,
            });
        }
        let rest = name[SHARED_ROOT.len()..].trim_start_matches(SEPARATOR);
        let resolved = match self.shared_index() {
            Some(index) => index.resolve(rest).map_err(StoreError::Io)?,
            None => Resolved::Unknown,
        };
        let Resolved::Folder {
            account, folder, ..
        } = resolved
        else {
            // A hierarchy level (`#shared`, a group) holds no messages.
            return Err(StoreError::NoSuchFolder(name.to_string()));
        };
        if self.is_own(&account) {
            return Err(StoreError::NoSuchFolder(name.to_string()));
        }
        let maildir = self.open_shared(&account)?;
        Ok(Place {
            maildir,
            folder: folder::canonical_name(&folder)?,
            name: name.to_string(),
            owner: false,
        })
    }

    fn shared_index(&self) -> Option<&Index> {
        self.login
            .shared_index
            .as_ref()
            .filter(|_| self.login.sharing)
    }

    /// Courier leaves the login's own Maildir, and Maildirs it cannot reach, out of
    /// `#shared.`: its own folders are under `INBOX.` already.
    fn is_own(&self, account: &SharedAccount) -> bool {
        account.name == self.login.user || suppressed(&account.maildir, self.own.root())
    }

    fn open_shared(&self, account: &SharedAccount) -> Result<Maildir> {
        Maildir::open_with(&account.maildir, self.follow_symlinks)
    }

    /// Every name the login can see: its own folders, then the `#shared.` hierarchy with
    /// the folders whose ACL grants it `l` (and the levels above them as `\Noselect`).
    /// `want_shared` false skips the shared index (the pattern cannot match it).
    pub fn list(&self, want_shared: bool) -> Result<Vec<Listed>> {
        let mut out: Vec<Listed> = self
            .own
            .list_folders()?
            .into_iter()
            .map(|f| Listed {
                name: f.name,
                has_children: f.has_children,
                no_select: false,
            })
            .collect();
        if want_shared && let Some(index) = self.shared_index() {
            let accounts = index.placed_accounts().map_err(StoreError::Io)?;
            let mut shared = Vec::new();
            for (levels, account) in accounts.iter().filter(|(_, a)| !self.is_own(a)) {
                self.list_account(levels, account, &mut shared);
            }
            if !shared.is_empty() {
                out.extend(with_levels(shared));
            }
        }
        Ok(out)
    }

    /// Every account of the shared index but the login's own, by its levels (groups,
    /// then the account, named as the index spells them, not munged), with the folders
    /// (`INBOX`, `INBOX.a`) the login may look up there (SMAP's `public` hierarchy).
    pub fn shared_accounts(&self) -> Result<Vec<(Vec<String>, Vec<String>)>> {
        let Some(index) = self.shared_index() else {
            return Ok(Vec::new());
        };
        let accounts = index.placed_accounts_as_named().map_err(StoreError::Io)?;
        Ok(accounts
            .iter()
            .filter(|(_, a)| !self.is_own(a))
            .map(|(levels, account)| (levels.clone(), self.visible_folders(account)))
            .collect())
    }

    /// The `#shared.` name of the levels [`Places::shared_accounts`] gives (each level
    /// munged as the index munges it): `["st.aff", "k.x"]` is `#shared.st aff.k x`.
    pub fn shared_level_name(&self, levels: &[String]) -> String {
        let mut name = String::from(SHARED_ROOT);
        for level in levels {
            name.push(SEPARATOR);
            match self.shared_index() {
                Some(index) => name.push_str(&index.munged(level)),
                None => name.push_str(level),
            }
        }
        name
    }

    /// The folders of one shared account the login may look up. An account whose
    /// Maildir cannot be opened (file modes, gone) has none, as Courier has it.
    fn visible_folders(&self, account: &SharedAccount) -> Vec<String> {
        let Ok(maildir) = self.open_shared(account) else {
            return Vec::new();
        };
        let Ok(folders) = maildir.list_folders() else {
            return Vec::new();
        };
        folders
            .into_iter()
            .filter(|f| {
                let place = Place {
                    maildir: maildir.clone(),
                    folder: f.name.clone(),
                    name: String::new(),
                    owner: false,
                };
                place.rights(&self.login).is_ok_and(|r| r.has('l'))
            })
            .map(|f| f.name)
            .collect()
    }

    /// The folders of one shared account the login may look up, as IMAP names them.
    fn list_account(&self, levels: &[String], account: &SharedAccount, out: &mut Vec<Listed>) {
        let prefix = format!("{SHARED_ROOT}{SEPARATOR}{}", levels.join("."));
        for name in self.visible_folders(account) {
            let name = match name.strip_prefix(INBOX) {
                Some("") => prefix.clone(),
                Some(rest) => format!("{prefix}{rest}"),
                None => continue,
            };
            out.push(Listed {
                name,
                has_children: false,
                no_select: false,
            });
        }
    }
}

/// The shared entries with every level above them (`#shared`, groups, an account whose
/// INBOX is not visible) as `\Noselect`, and `has_children` set from what is listed.
fn with_levels(mut found: Vec<Listed>) -> Vec<Listed> {
    let mut names: std::collections::BTreeMap<String, Listed> = std::collections::BTreeMap::new();
    for entry in found.drain(..) {
        let mut parent = entry.name.as_str();
        // The namespace root itself is announced by NAMESPACE, not listed (Courier).
        while let Some((up, _)) = parent.rsplit_once(SEPARATOR)
            && up != SHARED_ROOT
        {
            names
                .entry(up.to_string())
                .or_insert_with(|| Listed {
                    name: up.to_string(),
                    has_children: true,
                    no_select: true,
                })
                .has_children = true;
            parent = up;
        }
        let had_children = names.get(&entry.name).is_some_and(|e| e.has_children);
        names.insert(
            entry.name.clone(),
            Listed {
                has_children: had_children,
                ..entry
            },
        );
    }
    names.into_values().collect()
}

/// Whether a name is in the virtual shared namespace (`#shared` or below; exact case,
/// as Courier compares it).
pub fn is_shared_name(name: &str) -> bool {
    name.strip_prefix(SHARED_ROOT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_names() {
        assert!(is_shared_name("#shared"));
        assert!(is_shared_name("#shared.joe.Sent"));
        assert!(!is_shared_name("#sharedx"));
        assert!(!is_shared_name("#SHARED.joe"));
        assert!(!is_shared_name("INBOX.#shared"));
    }

    #[test]
    fn levels_above_shared_folders_are_noselect() {
        let listed = with_levels(vec![
            Listed {
                name: "#shared.joe.Pub".into(),
                has_children: false,
                no_select: false,
            },
            Listed {
                name: "#shared.joe.Pub.Sub".into(),
                has_children: false,
                no_select: false,
            },
        ]);
        let names: Vec<(&str, bool, bool)> = listed
            .iter()
            .map(|l| (l.name.as_str(), l.has_children, l.no_select))
            .collect();
        assert_eq!(
            names,
            vec![
                ("#shared.joe", true, true),
                ("#shared.joe.Pub", true, false),
                ("#shared.joe.Pub.Sub", false, false),
            ]
        );
    }
}
