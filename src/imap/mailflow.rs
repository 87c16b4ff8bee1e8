//! Where the session meets mail transport and housekeeping, as Courier's imapd does:
//! the Outbox folder (`[imap] outbox`: what is stored there is also sent, capability
//! XCOURIEROUTBOX), the magic Trash (`[imap] move_expunge_to_trash`, XMAGICTRASH) and
//! the purge of old messages at login and logout (`[mail] purge`). The commands call
//! these; the sending itself is `crate::outbox`, the file work `crate::store`.

use super::response::Outcome;
use super::session::{Session, State};
use crate::store::{Flags, Maildir, folder};

/// Courier's answer when a COPY would send several messages at once.
pub const ONLY_ONE: &str = "[ALERT] Only one message may be sent at a time.";

/// Courier's answer when the MTA failed; the stored copy is gone again.
pub const UNABLE_TO_SEND: &str = "[ALERT] Unable to send E-mail message.";

impl Session<'_> {
    /// Whether `name` (as the store knows it) is the Outbox.
    pub fn is_outbox(&self, name: &str) -> bool {
        let Some(outbox) = self.config.imap.outbox_folder() else {
            return false;
        };
        matches!(
            (folder::canonical_name(name), folder::canonical_name(&outbox)),
            (Ok(a), Ok(b)) if a == b
        )
    }

    /// The COPY/MOVE guard: several messages into the Outbox at once are refused unless
    /// `outbox_multiple_send` (Courier counts them before copying anything).
    pub fn check_outbox_count(&self, target: &str, count: usize) -> Result<(), Outcome> {
        if count > 1 && self.is_outbox(target) && !self.config.imap.outbox_multiple_send {
            return Err(Outcome::no(ONLY_ONE));
        }
        Ok(())
    }

    /// After a message landed in `target` with these UIDs: when `target` is the Outbox,
    /// each is sent. If one fails, every message this command stored there is removed
    /// again (RFC 3501 §6.3.11 and §6.4.7: an APPEND or COPY answered NO leaves the
    /// folder as it was) and the answer is Courier's alert.
    pub fn send_from_outbox(&mut self, target: &str, uids: &[u32]) -> Result<(), Outcome> {
        if uids.is_empty() || !self.is_outbox(target) {
            return Ok(());
        }
        let (State::Authenticated {
            account, maildir, ..
        }
        | State::Selected {
            account, maildir, ..
        }) = &self.state
        else {
            return Ok(());
        };
        let mut outbox = maildir.open_mailbox(target, false)?;
        let scratch = outbox.folder_dir().join("tmp");
        let mut failed = false;
        for &uid in uids {
            let sent = outbox
                .index_of_uid(uid)
                .ok_or_else(|| "the stored copy is gone".to_owned())
                .and_then(|index| outbox.open_message(index).map_err(|e| e.to_string()))
                .and_then(|mut file| {
                    crate::outbox::send(&self.config.imap, account, &mut file, &scratch)
                        .map_err(|f| f.0)
                });
            if let Err(why) = sent {
                log::warn!(
                    "user {}: Outbox message UID {uid} not sent: {why}",
                    crate::log::escape(&account.user)
                );
                failed = true;
                break;
            }
        }
        if !failed {
            return Ok(());
        }
        for &uid in uids {
            if let Some(index) = outbox.index_of_uid(uid) {
                let entry = outbox.message(index);
                let mut flags = entry.flags;
                flags.insert(Flags::DELETED);
                let keywords = entry.keywords.to_vec();
                let _ = outbox.set_flags(index, flags, &keywords);
            }
        }
        if let Err(err) = outbox.expunge(Some(uids)) {
            log::error!("removing the unsent Outbox copy failed: {err}");
        }
        Err(Outcome::no(UNABLE_TO_SEND))
    }

    /// The Trash folder's directory when EXPUNGE in `selected` (a store name) moves
    /// messages there instead (created if missing); `None` when it removes them: the
    /// setting is off, or this is Trash itself.
    pub fn magic_trash_for(&self, selected: &str) -> Result<Option<std::path::PathBuf>, Outcome> {
        if !self.config.imap.move_expunge_to_trash {
            return Ok(None);
        }
        // Shared folders (another account's, or filesystem-shared) expunge normally, as
        // Courier's do: their names are not the login's own INBOX names.
        if folder::canonical_name(selected).is_err() {
            return Ok(None);
        }
        let trash = format!("INBOX.{}", self.config.mail.trash);
        let same = matches!(
            (folder::canonical_name(selected), folder::canonical_name(&trash)),
            (Ok(a), Ok(b)) if a == b
        );
        if same {
            return Ok(None);
        }
        let maildir = self.maildir()?;
        match maildir.existing_dir(&trash) {
            Ok(dir) => Ok(Some(dir)),
            Err(_) => {
                maildir.create_folder(&trash)?;
                Ok(Some(maildir.existing_dir(&trash)?))
            }
        }
    }

    /// Courier's IMAP_EMPTYTRASH at login and logout: each `[mail] purge` folder loses
    /// its old messages, all of them sharing `[mail] purge_max_files` of work.
    pub fn purge_old_messages(&self, when: &str) {
        let Some(maildir) = self.state_maildir() else {
            return;
        };
        purge(maildir, &self.config.mail, self.user(), when);
    }

    fn state_maildir(&self) -> Option<&Maildir> {
        match &self.state {
            State::Authenticated { maildir, .. } | State::Selected { maildir, .. } => Some(maildir),
            _ => None,
        }
    }
}

/// The purge itself, logged when it removed something or failed.
fn purge(maildir: &Maildir, mail: &crate::config::Mail, user: &str, when: &str) {
    let mut budget = mail.purge_max_files;
    for (name, age) in &mail.purge {
        let Some(max_age) = age.duration() else {
            continue;
        };
        let folder = format!("INBOX.{name}");
        match maildir.purge(&folder, max_age, &mut budget) {
            Ok(report) if report.removed > 0 || !report.complete => log::info!(
                "user {}: purge at {when}: {folder}: {} of {} files looked at removed{}",
                crate::log::escape(user),
                report.removed,
                report.examined,
                if report.complete {
                    ""
                } else {
                    "; the rest at the next login"
                }
            ),
            Ok(_) => {}
            Err(err) => log::warn!(
                "user {}: purge at {when}: {folder}: {err}",
                crate::log::escape(user)
            ),
        }
        if budget == 0 {
            break;
        }
    }
}
