//! CREATE (RFC 3501 §6.3.3), with CREATE-SPECIAL-USE's `(USE (...))` (RFC 6154 §3).
//! Creating needs the `k` right (Courier's `c`) on the parent (RFC 4314 §4); the new
//! folder's ACL then follows Courier's rules ([`acl::folder_created`]).

use crate::imap::names::SEPARATOR;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::store::{acl, specialuse};

impl Session<'_> {
    pub fn cmd_create(&mut self, wire: &str, uses: &[String]) -> CommandResult {
        // A trailing separator only says the client means to create children (RFC 3501 §6.3.3).
        let trimmed = wire.strip_suffix(SEPARATOR).unwrap_or(wire);
        let name = self.folder_name(trimmed)?;
        if name == "INBOX" {
            return Err(Outcome::no("[ALREADYEXISTS] INBOX always exists"));
        }
        let parent = trimmed.rsplit_once(SEPARATOR).map_or(trimmed, |(p, _)| p);
        self.place_with(parent, 'k', "CREATE")?;
        let (place, _) = self.place(trimmed)?;
        let uses = creatable_uses(uses)?;
        if !uses.is_empty() && !place.owner {
            // Another account's folder: its uses are that account's to choose.
            return Err(Outcome::no(
                "[USEATTR] Special uses can be given to your own folders only",
            ));
        }
        place
            .maildir
            .create_folder_with_uses(&place.folder, &uses)?;
        acl::folder_created(place.maildir.root(), &place.folder).map_err(acl_failure)?;
        // RFC 8474 §4.1: the new folder's MAILBOXID in the tagged OK.
        match place.maildir.mailbox_id(&place.folder) {
            Ok(id) => Ok(Outcome::ok(format!("[MAILBOXID ({id})] CREATE completed"))),
            Err(err) => {
                log::error!("{}: no MAILBOXID: {err}", place.name);
                Ok(Outcome::ok("CREATE completed"))
            }
        }
    }
}

/// The uses as stored (RFC 6154's spelling, once each); `NO [USEATTR]` for one postern
/// cannot give (RFC 6154 §3: `\All` and `\Flagged` are virtual mailboxes it does not
/// have, and unknown attributes).
fn creatable_uses(uses: &[String]) -> Result<Vec<String>, Outcome> {
    let mut out: Vec<String> = Vec::new();
    for u in uses {
        let Some(known) = specialuse::CREATABLE
            .iter()
            .find(|c| c.eq_ignore_ascii_case(u))
        else {
            return Err(Outcome::no(format!(
                "[USEATTR] \\{u} cannot be given to a folder here"
            )));
        };
        if !out.iter().any(|o| o == known) {
            out.push((*known).to_owned());
        }
    }
    Ok(out)
}

/// An ACL file that could not be written after the folder change itself succeeded.
pub(super) fn acl_failure(err: acl::AclError) -> Outcome {
    log::error!("ACL update failed: {err}");
    Outcome::no("[SERVERBUG] The folder changed but its ACL could not be updated; see the log")
}
