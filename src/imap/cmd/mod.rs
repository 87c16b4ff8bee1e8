//! One file per command (or small family): each takes the parsed arguments, checks what
//! the protocol asks of them, calls the store or an engine (`fetch`, `search`, `sync`)
//! and writes the answer. Commands import the layers below them (`sets`, `response`,
//! the engines, `store`), never each other, except the login steps in `auth`.

mod acl;
mod append;
mod auth;
mod capability;
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
mod quota;
mod rename;
mod search;
mod select;
mod starttls;
mod status;
mod store;
mod subscribe;

use super::command::CommandBody;
use super::names::{self, SEPARATOR};
use super::response::{CommandResult, Outcome};
use super::session::Session;
use super::syntax::write_astring;

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
            Login { username, password } => self.cmd_login(&username, &password),
            Authenticate {
                mechanism,
                initial_response,
            } => self.cmd_authenticate(&mechanism, initial_response),
            Select { mailbox, params } => self.cmd_select(&mailbox, &params, false),
            Examine { mailbox, params } => self.cmd_select(&mailbox, &params, true),
            Create { mailbox } => self.cmd_create(&mailbox),
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
                utf8: _,
            } => self.cmd_append(&mailbox, &flags, date, message),
            Idle => self.cmd_idle(),
            Namespace => self.cmd_namespace(),
            GetQuota { root } => self.cmd_getquota(&root),
            GetQuotaRoot { mailbox } => self.cmd_getquotaroot(&mailbox),
            SetQuota { .. } => self.cmd_setquota(),
            GetAcl { .. }
            | SetAcl { .. }
            | DeleteAcl { .. }
            | ListRights { .. }
            | MyRights { .. } => acl::cmd_acl(body.name()),
            Close => self.cmd_close(),
            Unselect => self.cmd_unselect(),
            Expunge { uids } => self.cmd_expunge(uids.as_ref()),
            Search {
                uid,
                charset,
                criteria,
                returns,
            } => self.cmd_search(uid, charset.as_deref(), &criteria, returns.as_deref()),
            Fetch { uid, set, items } => self.cmd_fetch(uid, &set, &items),
            Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => self.cmd_store(uid, &set, mode, silent, &flags),
            Copy { uid, set, mailbox } => self.cmd_copy(uid, &set, &mailbox, false),
            Move { uid, set, mailbox } => self.cmd_copy(uid, &set, &mailbox, true),
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

    /// Writes a mailbox name as an astring in the client's encoding.
    pub fn write_mailbox_name(&mut self, name: &str) {
        let wire = names::to_wire(name, self.utf8);
        write_astring(&mut self.out, wire.as_bytes());
    }
}
