//! GETQUOTA GETQUOTAROOT SETQUOTA (RFC 9208) over the Maildir++ quota.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

/// The one quota root, the whole Maildir, by Courier's name for it.
const QUOTA_ROOT: &str = "ROOT";

impl Session<'_> {
    /// `* QUOTA "ROOT" (STORAGE used limit MESSAGE used limit)` for the Maildir++ quota,
    /// named and rounded (KiB, up) as Courier does, so nothing changes for a client
    /// when a server is swapped for the other.
    fn write_quota(&mut self) -> Result<bool, Outcome> {
        let quota = self.maildir()?.quota()?;
        let Some(q) = quota else { return Ok(false) };
        let mut resources = Vec::new();
        if let Some(limit) = q.limit_bytes {
            resources.push(format!(
                "STORAGE {} {}",
                q.used_bytes.div_ceil(1024),
                limit.div_ceil(1024)
            ));
        }
        if let Some(limit) = q.limit_messages {
            resources.push(format!("MESSAGE {} {}", q.used_messages, limit));
        }
        self.untagged(&format!("QUOTA \"{QUOTA_ROOT}\" ({})", resources.join(" ")));
        Ok(true)
    }

    pub fn cmd_getquotaroot(&mut self, wire: &str) -> CommandResult {
        let name = self.folder_name(wire)?;
        if let Some(shared) = self.fs_shared_name(wire) {
            // Filesystem-shared folders charge no quota (Courier): no root applies.
            self.out.extend_from_slice(b"* QUOTAROOT ");
            self.write_mailbox_name(&shared);
            self.out.extend_from_slice(b"\r\n");
            return Ok(Outcome::ok("GETQUOTAROOT completed"));
        }
        let place = self.places()?.resolve(&name)?;
        // Another account's folder is under that account's quota, which is not this
        // login's to see: no quota root (RFC 9208 §4.3 allows a mailbox without one).
        let has_quota = place.owner && self.maildir()?.quota()?.is_some();
        self.out.extend_from_slice(b"* QUOTAROOT ");
        self.write_mailbox_name(&name);
        if has_quota {
            self.out
                .extend_from_slice(format!(" \"{QUOTA_ROOT}\"").as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        if place.owner {
            self.write_quota()?;
        }
        Ok(Outcome::ok("GETQUOTAROOT completed"))
    }

    pub fn cmd_getquota(&mut self, root: &str) -> CommandResult {
        // "" is accepted too: what earlier postern versions called the root.
        if !root.is_empty() && !root.eq_ignore_ascii_case(QUOTA_ROOT) {
            return Err(Outcome::no(format!(
                "[NONEXISTENT] The only quota root is \"{QUOTA_ROOT}\""
            )));
        }
        if self.write_quota()? {
            Ok(Outcome::ok("GETQUOTA completed"))
        } else {
            Err(Outcome::no("[NONEXISTENT] No quota is set"))
        }
    }

    /// SETQUOTA (RFC 9208): parsed so it can be refused properly.
    pub fn cmd_setquota(&mut self) -> CommandResult {
        Err(Outcome::no("[NOPERM] Quota is set by the administrator"))
    }
}
