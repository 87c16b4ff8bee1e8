//! The IMAP side of Courier's filesystem shared folders (`shared.<nick>.<folder>`, see
//! `store::fs_shared`): which wire names belong there, and the user's view of them.
//! Commands that serve such names branch here first and keep their own path otherwise.

use crate::imap::mutf7;
use crate::imap::response::Outcome;
use crate::imap::session::Session;
use crate::store::fs_shared::{self, FsShared};

impl Session<'_> {
    /// The store name of a wire name in the `shared.` hierarchy (decoded like any mailbox
    /// name); `None` for every other name.
    pub(super) fn fs_shared_name(&self, wire: &str) -> Option<String> {
        let name = if self.utf8 {
            wire.to_string()
        } else {
            mutf7::decode(wire).ok()?
        };
        fs_shared::is_shared_name(&name).then_some(name)
    }

    /// The logged-in user's filesystem-shared folders.
    pub(super) fn fs_shared(&self) -> Result<FsShared, Outcome> {
        Ok(FsShared::new(
            self.maildir()?.root(),
            &self.config.mail.maildirshared,
            self.config.mail.skip_symlink_checks,
        ))
    }
}
