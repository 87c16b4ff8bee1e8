//! One file per command (or small family): each takes the parsed arguments, checks what
//! the protocol asks of them, calls the store or an engine (`fetch`, `search`, `sync`)
//! and writes the answer. Commands import the layers below them (`sets`, `response`,
//! the engines, `store`), never each other, except the login steps in `auth`.

mod acl;
mod append;
mod auth;
mod capability;
mod compress;
mod condstore;
mod copy_move;
mod create;
mod delete;
mod enable;
mod expunge;
mod fetch;
mod fs_shared;
mod id;
mod idle;
mod list;
mod logout;
mod namespace;
mod noop;
pub mod prelogin;
mod quota;
mod rename;
mod search;
mod select;
mod sort;
mod starttls;
mod status;
mod store;
mod subscribe;
mod thread;

use super::command::{AppendMessage, CommandBody};
use super::names::{self, SEPARATOR};
use super::response::{CommandResult, Outcome};
use super::session::Session;
use super::syntax::write_astring;
use crate::store::acl::Rights;
use crate::store::places::{Login, Place, Places};
use crate::store::shared_index::{Index, Munging};

/// Refuses a command the rights do not allow. `right` is RFC 4314's letter; the text
/// names it as Courier's ACLs store it (`c` for creating, `d`-era rights as they are).
pub fn require(rights: Rights, right: char, verb: &str, wire: &str) -> Result<(), Outcome> {
    if rights.has(right) {
        return Ok(());
    }
    let shown = if right == 'k' { 'c' } else { right };
    Err(Outcome::no(format!(
        "[NOPERM] Access denied for {verb} on {wire} (ACL \"{shown}\" required)"
    )))
}

impl Session<'_> {
    /// Runs a command the command table allows in the current state: unpacks its
    /// arguments and calls its file's function. One arm per command.
    pub(super) fn run_command(&mut self, tag: &str, body: CommandBody) -> CommandResult {
        use CommandBody::*;
        match body {
            Capability => self.cmd_capability(),
            Noop => self.cmd_noop(),
            Check => self.cmd_check(),
            Logout => self.cmd_logout(),
            Id(fields) => self.cmd_id(fields),
            Enable(names) => self.cmd_enable(names),
            StartTls => self.cmd_starttls(tag),
            Login { username, password } => self.cmd_login(Some(tag), &username, &password),
            Authenticate {
                mechanism,
                initial_response,
            } => self.cmd_authenticate(Some(tag), &mechanism, initial_response),
            Select { mailbox, params } => self.cmd_select(&mailbox, &params, false),
            Examine { mailbox, params } => self.cmd_select(&mailbox, &params, true),
            Create { mailbox, uses } => self.cmd_create(&mailbox, &uses),
            Delete { mailbox } => self.cmd_delete(&mailbox),
            Rename { from, to } => self.cmd_rename(&from, &to),
            Subscribe { mailbox } => self.cmd_subscribe(&mailbox, true),
            Unsubscribe { mailbox } => self.cmd_subscribe(&mailbox, false),
            List {
                selection,
                reference,
                patterns,
                returns,
            } => self.cmd_list(&selection, &reference, &patterns, &returns),
            Lsub { reference, pattern } => self.cmd_lsub(&reference, &pattern),
            Status { mailbox, items } => self.cmd_status(&mailbox, &items),
            Append {
                mailbox,
                flags,
                date,
                message,
                utf8,
                binary,
                more,
            } => {
                let first = AppendMessage {
                    flags,
                    date,
                    message,
                    utf8,
                    binary,
                };
                self.cmd_append(&mailbox, first, more)
            }
            Idle => self.cmd_idle(),
            Namespace => self.cmd_namespace(),
            Compress(mechanism) => self.cmd_compress(tag, &mechanism),
            GetQuota { root } => self.cmd_getquota(&root),
            GetQuotaRoot { mailbox } => self.cmd_getquotaroot(&mailbox),
            SetQuota { .. } => self.cmd_setquota(),
            GetAcl { mailbox } => self.cmd_getacl(&mailbox),
            SetAcl {
                mailbox,
                identifier,
                rights,
            } => self.cmd_setacl(&mailbox, &identifier, &rights),
            DeleteAcl {
                mailbox,
                identifier,
            } => self.cmd_deleteacl(&mailbox, &identifier),
            ListRights {
                mailbox,
                identifier,
            } => self.cmd_listrights(&mailbox, &identifier),
            MyRights { mailbox } => self.cmd_myrights(&mailbox),
            Acl {
                verb,
                mailboxes,
                args,
            } => self.cmd_courier_acl(verb, &mailboxes, &args),
            Close => self.cmd_close(),
            Unselect => self.cmd_unselect(),
            Expunge { uids } => self.cmd_expunge(uids.as_ref()),
            Search {
                uid,
                charset,
                criteria,
                returns,
            } => self.cmd_search(tag, uid, charset.as_deref(), &criteria, returns.as_deref()),
            SearchSaveFailed { uid: _, reason } => self.cmd_search_save_failed(&reason),
            Fetch { uid, set, items } => self.cmd_fetch(uid, &set, &items),
            // `resolve_sets` made it a UID FETCH before; here only as a fallback.
            FetchPartial { set, items, .. } => self.cmd_fetch(true, &set, &items),
            Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => self.cmd_store(uid, &set, mode, silent, &flags),
            FetchChangedSince {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => self.cmd_fetch_changed_since(uid, &set, &items, changed_since, vanished),
            StoreUnchangedSince {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => self.cmd_store_unchanged_since(uid, &set, mode, silent, &flags, unchanged_since),
            Copy { uid, set, mailbox } => self.cmd_copy(uid, &set, &mailbox, false),
            Move { uid, set, mailbox } => self.cmd_copy(uid, &set, &mailbox, true),
            Sort {
                uid,
                criteria,
                charset,
                search,
                returns,
            } => self.cmd_sort(tag, uid, &criteria, &charset, &search, returns.as_deref()),
            Thread {
                uid,
                algorithm,
                charset,
                search,
            } => self.cmd_thread(uid, algorithm, &charset, &search),
        }
    }

    /// A wire name as the store knows it, or the NO to answer.
    pub fn folder_name(&self, wire: &str) -> Result<String, Outcome> {
        names::from_wire(wire, self.utf8).ok_or_else(|| {
            Outcome::no(format!(
                "[CANNOT] Invalid mailbox name: folders live under \"INBOX{SEPARATOR}\""
            ))
        })
    }

    /// The folders this login can name: its own and, unless `disableshared`, other
    /// accounts' through the shared index, with their ACLs.
    pub fn places(&self) -> Result<Places<'_>, Outcome> {
        let (account, own) = self
            .state
            .account_and_maildir()
            .ok_or_else(|| Outcome::bad("Log in first"))?;
        let mail = &self.config.mail;
        let munging = if mail.shared_munge_names {
            Munging::Escapes
        } else {
            Munging::Spaces
        };
        let shared_index = (!mail.shared_index.as_os_str().is_empty()).then(|| {
            Index::new(
                &mail.shared_index,
                account.options.shared_group.as_deref(),
                munging,
                mail.shared_index_max_depth,
            )
        });
        Ok(Places {
            own,
            login: Login {
                user: &account.user,
                groups: &account.options.groups,
                sharing: !account.options.disable_shared,
                shared_index,
            },
            follow_symlinks: self.config.mail.skip_symlink_checks,
        })
    }

    /// The folder a wire name leads to and the login's rights there.
    pub fn place(&self, wire: &str) -> Result<(Place, Rights), Outcome> {
        let name = self.folder_name(wire)?;
        let places = self.places()?;
        let place = places.resolve(&name)?;
        let rights = place.rights(&places.login)?;
        Ok((place, rights))
    }

    /// [`Session::place`] for a command that needs `right` (RFC 4314 §4): refused with
    /// NOPERM (RFC 5530) in Courier's words, which name the right by Courier's letter.
    pub fn place_with(
        &self,
        wire: &str,
        right: char,
        verb: &str,
    ) -> Result<(Place, Rights), Outcome> {
        let (place, rights) = self.place(wire)?;
        require(rights, right, verb, wire)?;
        Ok((place, rights))
    }

    /// Writes a mailbox name as an astring in the client's encoding.
    pub fn write_mailbox_name(&mut self, name: &str) {
        let wire = names::to_wire(name, self.utf8);
        write_astring(&mut self.out, wire.as_bytes());
    }
}
