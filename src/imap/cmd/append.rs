//! APPEND (RFC 3501 §6.3.11, APPENDUID from UIDPLUS RFC 4315). After login the message
//! arrives already in the store's spool (the framing streamed it there); the store renames
//! that file into place, or removes it when the APPEND fails.

use std::time::{Duration, UNIX_EPOCH};

use crate::imap::command::{DateTime, Flag, LiteralData};
use crate::imap::datetime::days_from_civil;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::imap::sets::split_flags;
use crate::store::acl::Rights;
use crate::store::{AppendSource, Flags, StoreError};

fn unix_time(date: &DateTime) -> i64 {
    let days = days_from_civil(
        i32::from(date.date.year),
        u32::from(date.date.month),
        u32::from(date.date.day),
    );
    days * 86400
        + i64::from(date.hour) * 3600
        + i64::from(date.minute) * 60
        + i64::from(date.second)
        - i64::from(date.zone_minutes) * 60
}

/// Leaves out of an APPEND's flags those the rights do not allow: `s` for \Seen, `t` for
/// \Deleted, `w` for the rest and keywords.
pub(super) fn drop_unpermitted(system: &mut Flags, keywords: &mut Vec<String>, rights: Rights) {
    if !rights.has('s') {
        system.remove(Flags::SEEN);
    }
    if !rights.has('t') {
        system.remove(Flags::DELETED);
    }
    if !rights.has('w') {
        system.remove(Flags::DRAFT | Flags::FLAGGED | Flags::ANSWERED);
        keywords.clear();
    }
}

impl Session<'_> {
    pub fn cmd_append(
        &mut self,
        wire: &str,
        flags: &[Flag],
        date: Option<DateTime>,
        message: LiteralData,
    ) -> CommandResult {
        // A filesystem-shared folder (its file modes decide), or a place with an ACL.
        let (target, rights) = match self.fs_shared_name(wire) {
            Some(shared) => (Err(shared), Rights::ALL),
            None => {
                let (place, rights) = self.place_with(wire, 'i', "APPEND")?;
                (Ok(place), rights)
            }
        };
        let (mut system, mut keywords) = split_flags(flags)?;
        // Flags the login may not set are dropped, as STORE drops them (RFC 4314 §4).
        drop_unpermitted(&mut system, &mut keywords, rights);
        if !self.config.imap.keywords {
            keywords.clear();
        }
        if message.is_empty() {
            return Err(Outcome::no("[CANNOT] An empty message cannot be appended"));
        }
        let internal_date = date.map(|d| {
            let secs = unix_time(&d);
            if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs as u64)
            } else {
                UNIX_EPOCH
            }
        });
        let held: Vec<u8>;
        let source = match message {
            LiteralData::Memory(bytes) => {
                held = bytes;
                AppendSource::Bytes(&held)
            }
            LiteralData::Spooled(spooled) => AppendSource::Spooled(spooled),
        };
        let place = match target {
            Ok(place) => place,
            Err(shared) => {
                // RFC 4315 §3: no APPENDUID where UIDs are not known; the message gets its
                // UID in the private copy at its next sync, as in Courier.
                self.fs_shared()?
                    .append(&shared, source, system, internal_date)?;
                return Ok(Outcome::ok("APPEND completed"));
            }
        };
        let result = place
            .maildir
            .append(&place.folder, source, system, &keywords, internal_date);
        let appended = result.map_err(|err| match err {
            StoreError::NoSuchFolder(_) => {
                Outcome::no("[TRYCREATE] No such mailbox; create it first")
            }
            err => Outcome::from(&err),
        })?;
        self.send_from_outbox(&place.name, &[appended.uid])?;
        Ok(Outcome::ok(format!(
            "[APPENDUID {} {}] APPEND completed",
            appended.uid_validity, appended.uid
        )))
    }
}
