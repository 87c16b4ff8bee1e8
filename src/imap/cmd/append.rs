//! APPEND (RFC 3501 §6.3.11, APPENDUID from UIDPLUS RFC 4315, MULTIAPPEND RFC 3502). After login the message
//! arrives already in the store's spool (the framing streamed it there); the store renames
//! that file into place, or removes it when the APPEND fails.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::imap::command::{AppendMessage, DateTime, LiteralData};
use crate::imap::datetime::days_from_civil;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, State};
use crate::imap::sets::{split_flags, uid_list};
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

/// The bytes a message takes on disk (line ends as LF, as the spool writes them).
fn stored_size(data: &LiteralData) -> u64 {
    match data {
        LiteralData::Spooled(spooled) => spooled.size(),
        LiteralData::Memory(bytes) => {
            let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
            (bytes.len() - crlf) as u64
        }
    }
}

/// The message, stored, will be served back octet for octet: no NUL and no LF without
/// its CR (see [`crate::store::Spooled::kept_exactly`]).
fn kept_exactly(data: &LiteralData) -> bool {
    match data {
        LiteralData::Spooled(spooled) => spooled.kept_exactly(),
        LiteralData::Memory(bytes) => {
            !bytes.contains(&0)
                && bytes
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b != b'\n' || (i > 0 && bytes[i - 1] == b'\r'))
        }
    }
}

/// One message of an APPEND, checked and ready to store.
struct Ready {
    system: Flags,
    keywords: Vec<String>,
    internal_date: Option<SystemTime>,
    data: LiteralData,
}

impl Session<'_> {
    /// APPEND with one or more messages (MULTIAPPEND, RFC 3502 §3): every message is
    /// checked before any is stored, and when storing one fails the ones stored before
    /// it are taken out again, so the mailbox gets all of them or none and no session
    /// announces any of them (they were never there when this one answers).
    pub fn cmd_append(
        &mut self,
        wire: &str,
        first: AppendMessage,
        more: Vec<AppendMessage>,
    ) -> CommandResult {
        // A filesystem-shared folder (its file modes decide), or a place with an ACL.
        let (target, rights) = match self.fs_shared_name(wire) {
            Some(shared) => (Err(shared), Rights::ALL),
            None => {
                let (place, rights) = self.place_with(wire, 'i', "APPEND")?;
                (Ok(place), rights)
            }
        };
        let mut ready = Vec::with_capacity(1 + more.len());
        for m in std::iter::once(first).chain(more) {
            ready.push(self.ready(m, rights)?);
        }
        let place = match target {
            Ok(place) => place,
            Err(shared) => {
                if ready.len() > 1 {
                    // Its messages get UIDs only at the private copy's next sync, so one
                    // stored cannot be found again to undo it.
                    return Err(Outcome::no(
                        "[CANNOT] Append to a filesystem-shared folder one message at a time",
                    ));
                }
                let m = ready.remove(0);
                let held: Vec<u8>;
                let source = match m.data {
                    LiteralData::Memory(bytes) => {
                        held = bytes;
                        AppendSource::Bytes(&held)
                    }
                    LiteralData::Spooled(spooled) => AppendSource::Spooled(spooled),
                };
                // RFC 4315 §3: no APPENDUID where UIDs are not known; the message gets its
                // UID in the private copy at its next sync, as in Courier.
                self.fs_shared()?
                    .append(&shared, source, m.system, m.internal_date)?;
                return Ok(Outcome::ok("APPEND completed"));
            }
        };
        if ready.len() > 1 {
            // The quota for all of them first: then only an I/O error can make a later
            // message fail after earlier ones were stored (and taken back).
            let bytes = ready.iter().map(|m| stored_size(&m.data)).sum();
            place
                .maildir
                .check_room(&place.folder, bytes, ready.len() as u64)
                .map_err(|err| match err {
                    StoreError::NoSuchFolder(_) => {
                        Outcome::no("[TRYCREATE] No such mailbox; create it first")
                    }
                    err => Outcome::from(&err),
                })?;
        }
        if let State::Selected { selected, .. } = &mut self.state
            && place
                .maildir
                .folder_dir(&place.folder)
                .is_ok_and(|dir| dir == selected.mailbox.folder_dir())
        {
            selected.mailbox.expect_own_additions();
        }
        let mut appended = Vec::with_capacity(ready.len());
        for m in ready {
            let held: Vec<u8>;
            let source = match m.data {
                LiteralData::Memory(bytes) => {
                    held = bytes;
                    AppendSource::Bytes(&held)
                }
                LiteralData::Spooled(spooled) => AppendSource::Spooled(spooled),
            };
            let result = place.maildir.append(
                &place.folder,
                source,
                m.system,
                &m.keywords,
                m.internal_date,
            );
            match result {
                Ok(a) => appended.push(a),
                Err(err) => {
                    // The messages not stored yet are dropped with `ready`, and their
                    // spool files with them.
                    for a in &appended {
                        if let Err(e) = place.maildir.undo_append(&place.folder, a) {
                            log::error!(
                                "{}: cannot take back appended UID {}: {e}",
                                place.name,
                                a.uid
                            );
                        }
                    }
                    return Err(match err {
                        StoreError::NoSuchFolder(_) => {
                            Outcome::no("[TRYCREATE] No such mailbox; create it first")
                        }
                        err => Outcome::from(&err),
                    });
                }
            }
        }
        let uids: Vec<u32> = appended.iter().map(|a| a.uid).collect();
        self.send_from_outbox(&place.name, &uids)?;
        Ok(Outcome::ok(format!(
            "[APPENDUID {} {}] APPEND completed",
            appended[0].uid_validity,
            uid_list(&uids)
        )))
    }

    /// One message's flags (those the rights allow), date and data, checked.
    fn ready(&self, m: AppendMessage, rights: Rights) -> Result<Ready, Outcome> {
        let (mut system, mut keywords) = split_flags(&m.flags)?;
        // Flags the login may not set are dropped, as STORE drops them (RFC 4314 §4).
        drop_unpermitted(&mut system, &mut keywords, rights);
        if !self.config.imap.keywords {
            keywords.clear();
        }
        if m.message.is_empty() {
            return Err(Outcome::no("[CANNOT] An empty message cannot be appended"));
        }
        if m.binary && !kept_exactly(&m.message) {
            // RFC 3516 §4.4: a mailbox that cannot store the binary content fails the
            // APPEND with UNKNOWN-CTE. A Maildir file keeps LF line ends and is served
            // with CRLF (as Courier does), so a bare LF would come back changed, and a
            // NUL could never be sent in the plain literal BODY[] uses.
            return Err(Outcome::no(
                "[UNKNOWN-CTE] Binary content with a bare LF or a NUL cannot be stored",
            ));
        }
        let internal_date = m.date.map(|d| {
            let secs = unix_time(&d);
            if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs as u64)
            } else {
                UNIX_EPOCH
            }
        });
        Ok(Ready {
            system,
            keywords,
            internal_date,
            data: m.message,
        })
    }
}
