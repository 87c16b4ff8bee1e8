//! Commands on folders as a whole: SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE
//! UNSUBSCRIBE LIST LSUB STATUS GETQUOTA GETQUOTAROOT.

use std::collections::{BTreeMap, BTreeSet};

use super::command::{ListReturn, ListSelect, SelectParam, StatusItem};
use super::flags::folder_flags;
use super::names::{self, SEPARATOR};
use super::session::{Outcome, Selected, Session, State};
use super::syntax::write_astring;
use crate::store::{Flags, StoreError};

/// The one quota root, the whole Maildir, by Courier's name for it.
const QUOTA_ROOT: &str = "ROOT";

/// LIST attributes of one name.
#[derive(Default)]
struct ListEntry {
    exists: bool,
    has_children: bool,
}

impl Session<'_> {
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

    pub fn cmd_select(&mut self, wire: &str, params: &[SelectParam], read_only: bool) -> Outcome {
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
        self.deselect();
        if let Some(p) = params.first() {
            return Outcome::bad(format!("{verb} parameter {p:?} is not supported"));
        }
        let name = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        let mailbox = match self.maildir().open_mailbox(&name, read_only) {
            Ok(m) => m,
            Err(err) => return store_failure(&err),
        };
        let keywords = mailbox.keywords_in_use();
        let messages = mailbox.messages();
        let exists = messages.len();
        let recent = messages.iter().filter(|m| m.recent).count();
        let first_unseen = messages
            .iter()
            .position(|m| !m.flags.contains(Flags::SEEN))
            .map(|i| i + 1);
        let (uid_validity, uid_next) = (mailbox.uid_validity(), mailbox.uid_next());
        self.untagged(&format!("FLAGS {}", folder_flags(&keywords, false)));
        if read_only {
            self.untagged("OK [PERMANENTFLAGS ()] Read-only mailbox");
        } else {
            let permanent = folder_flags(&keywords, self.config.imap.keywords);
            self.untagged(&format!("OK [PERMANENTFLAGS {permanent}] Limited"));
        }
        self.untagged(&format!("{exists} EXISTS"));
        self.untagged(&format!("{recent} RECENT"));
        if let Some(n) = first_unseen {
            self.untagged(&format!("OK [UNSEEN {n}] First unseen"));
        }
        self.untagged(&format!("OK [UIDVALIDITY {uid_validity}] UIDs valid"));
        self.untagged(&format!("OK [UIDNEXT {uid_next}] Predicted next UID"));
        self.selected = Some(Selected { mailbox, name });
        self.state = State::Selected;
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        Outcome::ok(format!("[{mode}] {verb} completed"))
    }

    pub fn cmd_create(&mut self, wire: &str) -> Outcome {
        // A trailing separator only says the client means to create children (RFC 3501 §6.3.3).
        let trimmed = wire.strip_suffix(SEPARATOR).unwrap_or(wire);
        let name = match self.folder_name(trimmed) {
            Ok(n) => n,
            Err(o) => return o,
        };
        if name == "INBOX" {
            return Outcome::no("[ALREADYEXISTS] INBOX always exists");
        }
        match self.maildir().create_folder(&name) {
            Ok(()) => Outcome::ok("CREATE completed"),
            Err(err) => store_failure(&err),
        }
    }

    pub fn cmd_delete(&mut self, wire: &str) -> Outcome {
        let name = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        if name == "INBOX" {
            return Outcome::no("[CANNOT] INBOX cannot be deleted");
        }
        if self.selected.as_ref().is_some_and(|s| s.name == name) {
            self.deselect();
        }
        match self.maildir().delete_folder(&name) {
            Ok(()) => Outcome::ok("DELETE completed"),
            Err(err) => store_failure(&err),
        }
    }

    pub fn cmd_rename(&mut self, from: &str, to: &str) -> Outcome {
        let (from, to) = match (self.folder_name(from), self.folder_name(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(o), _) | (_, Err(o)) => return o,
        };
        if to == "INBOX" {
            return Outcome::no("[ALREADYEXISTS] INBOX always exists");
        }
        match self.maildir().rename_folder(&from, &to) {
            Ok(()) => Outcome::ok("RENAME completed"),
            Err(err) => store_failure(&err),
        }
    }

    pub fn cmd_subscribe(&mut self, wire: &str, subscribe: bool) -> Outcome {
        let name = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        let result = if subscribe {
            self.maildir().subscribe(&name)
        } else {
            self.maildir().unsubscribe(&name)
        };
        match result {
            Ok(()) if subscribe => Outcome::ok("SUBSCRIBE completed"),
            Ok(()) => Outcome::ok("UNSUBSCRIBE completed"),
            Err(err) => store_failure(&err),
        }
    }

    /// Every folder plus the parents that only exist as a path (Maildir++ allows `.a.b`
    /// without `.a`); those are `\Noselect`.
    fn folder_tree(&self) -> Result<BTreeMap<String, ListEntry>, Outcome> {
        let folders = self
            .maildir()
            .list_folders()
            .map_err(|e| store_failure(&e))?;
        let mut tree: BTreeMap<String, ListEntry> = BTreeMap::new();
        for folder in folders {
            let mut parent = folder.name.as_str();
            while let Some(i) = parent.rfind(SEPARATOR) {
                parent = &parent[..i];
                tree.entry(parent.to_string()).or_default().has_children = true;
            }
            let entry = tree.entry(folder.name.clone()).or_default();
            entry.exists = true;
            entry.has_children |= folder.has_children;
        }
        Ok(tree)
    }

    /// The special-use attribute of a folder (RFC 6154), from `[imap] special_use`.
    fn special_use(&self, name: &str) -> Option<String> {
        let below = name.strip_prefix("INBOX.")?;
        self.config
            .imap
            .special_use
            .iter()
            .find(|(_, folder)| folder.as_str() == below)
            .map(|(attr, _)| format!("\\{attr}"))
    }

    pub fn cmd_list(
        &mut self,
        selection: &[ListSelect],
        reference: &str,
        patterns: &[String],
        returns: &[ListReturn],
    ) -> Outcome {
        if patterns.len() == 1 && patterns[0].is_empty() {
            // The hierarchy delimiter and root (RFC 3501 §6.3.8).
            self.untagged("LIST (\\Noselect) \".\" \"\"");
            return Outcome::ok("LIST completed");
        }
        let subscribed_only = selection.contains(&ListSelect::Subscribed);
        let special_only = selection.contains(&ListSelect::SpecialUse);
        let show_subscribed = subscribed_only || returns.contains(&ListReturn::Subscribed);
        let tree = match self.folder_tree() {
            Ok(t) => t,
            Err(o) => return o,
        };
        let subscriptions: BTreeSet<String> = match self.maildir().subscriptions() {
            Ok(s) => s.into_iter().collect(),
            Err(err) => return store_failure(&err),
        };
        let patterns: Vec<String> = match patterns
            .iter()
            .map(|p| self.decode_pattern(reference, p))
            .collect::<Option<Vec<_>>>()
        {
            Some(p) => p,
            None => return Outcome::bad("Invalid mailbox pattern"),
        };
        let matches = |name: &str| patterns.iter().any(|p| names::pattern_matches(p, name));
        let mut lines = Vec::new();
        for (name, entry) in &tree {
            if !matches(name) {
                continue;
            }
            let subscribed = subscriptions.contains(name);
            if subscribed_only && !subscribed {
                continue;
            }
            let special = self.special_use(name);
            if special_only && special.is_none() {
                continue;
            }
            let mut attrs: Vec<String> = Vec::new();
            if !entry.exists {
                attrs.push("\\Noselect".into());
            }
            attrs.push(
                if entry.has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .into(),
            );
            if let Some(s) = special {
                attrs.push(s);
            }
            if show_subscribed && subscribed {
                attrs.push("\\Subscribed".into());
            }
            lines.push((name.clone(), attrs));
        }
        if subscribed_only {
            // Subscribed names whose folder is gone are still listed (RFC 5258 §3.1).
            for name in &subscriptions {
                if !tree.contains_key(name) && matches(name) {
                    lines.push((
                        name.clone(),
                        vec!["\\NonExistent".into(), "\\Subscribed".into()],
                    ));
                }
            }
        }
        for (name, attrs) in lines {
            self.out
                .extend_from_slice(format!("* LIST ({}) \".\" ", attrs.join(" ")).as_bytes());
            self.write_mailbox_name(&name);
            self.out.extend_from_slice(b"\r\n");
        }
        Outcome::ok("LIST completed")
    }

    /// Reference + pattern as a store-side pattern (UTF-8, INBOX uppercased).
    fn decode_pattern(&self, reference: &str, pattern: &str) -> Option<String> {
        let joined = if reference.is_empty() || pattern.starts_with("INBOX") {
            pattern.to_string()
        } else {
            format!("{reference}{pattern}")
        };
        if self.utf8 {
            Some(joined)
        } else {
            super::mutf7::decode(&joined).ok()
        }
    }

    pub fn cmd_lsub(&mut self, reference: &str, pattern: &str) -> Outcome {
        let Some(pattern) = self.decode_pattern(reference, pattern) else {
            return Outcome::bad("Invalid mailbox pattern");
        };
        let subscriptions = match self.maildir().subscriptions() {
            Ok(s) => s,
            Err(err) => return store_failure(&err),
        };
        let tree = self.folder_tree().unwrap_or_default();
        for name in subscriptions {
            if !names::pattern_matches(&pattern, &name) {
                continue;
            }
            let attrs = if tree.get(&name).is_some_and(|e| e.exists) {
                ""
            } else {
                "\\Noselect"
            };
            self.out
                .extend_from_slice(format!("* LSUB ({attrs}) \".\" ").as_bytes());
            self.write_mailbox_name(&name);
            self.out.extend_from_slice(b"\r\n");
        }
        Outcome::ok("LSUB completed")
    }

    pub fn cmd_status(&mut self, wire: &str, items: &[StatusItem]) -> Outcome {
        let name = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        let status = match self.maildir().status(&name) {
            Ok(s) => s,
            Err(err) => return store_failure(&err),
        };
        let mut parts = Vec::new();
        for item in items {
            let (label, value) = match item {
                StatusItem::Messages => ("MESSAGES", status.messages),
                StatusItem::Recent => ("RECENT", status.recent),
                StatusItem::UidNext => ("UIDNEXT", status.uid_next),
                StatusItem::UidValidity => ("UIDVALIDITY", status.uid_validity),
                StatusItem::Unseen => ("UNSEEN", status.unseen),
                StatusItem::Size | StatusItem::Deleted => {
                    return Outcome::bad(format!("STATUS item {item:?} is not supported"));
                }
            };
            parts.push(format!("{label} {value}"));
        }
        self.out.extend_from_slice(b"* STATUS ");
        self.write_mailbox_name(&name);
        self.out
            .extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        Outcome::ok("STATUS completed")
    }

    /// `* QUOTA "ROOT" (STORAGE used limit MESSAGE used limit)` for the Maildir++ quota,
    /// named and rounded (KiB, up) as Courier does, so nothing changes for a client
    /// when a server is swapped for the other.
    fn write_quota(&mut self) -> Result<bool, Outcome> {
        let quota = self.maildir().quota().map_err(|e| store_failure(&e))?;
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

    pub fn cmd_getquotaroot(&mut self, wire: &str) -> Outcome {
        let name = match self.folder_name(wire) {
            Ok(n) => n,
            Err(o) => return o,
        };
        if let Err(err) = self.maildir().folder_dir(&name) {
            return store_failure(&err);
        }
        let has_quota = match self.maildir().quota() {
            Ok(q) => q.is_some(),
            Err(err) => return store_failure(&err),
        };
        self.out.extend_from_slice(b"* QUOTAROOT ");
        self.write_mailbox_name(&name);
        if has_quota {
            self.out
                .extend_from_slice(format!(" \"{QUOTA_ROOT}\"").as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        if let Err(o) = self.write_quota() {
            return o;
        }
        Outcome::ok("GETQUOTAROOT completed")
    }

    pub fn cmd_getquota(&mut self, root: &str) -> Outcome {
        // "" is accepted too: what earlier postern versions called the root.
        if !root.is_empty() && !root.eq_ignore_ascii_case(QUOTA_ROOT) {
            return Outcome::no(format!(
                "[NONEXISTENT] The only quota root is \"{QUOTA_ROOT}\""
            ));
        }
        match self.write_quota() {
            Ok(true) => Outcome::ok("GETQUOTA completed"),
            Ok(false) => Outcome::no("[NONEXISTENT] No quota is set"),
            Err(o) => o,
        }
    }
}

/// The NO (with a response code, RFC 5530) for a storage error.
pub fn store_failure(err: &StoreError) -> Outcome {
    match err {
        StoreError::InvalidName(n) => Outcome::no(format!("[CANNOT] Invalid mailbox name: {n}")),
        StoreError::NoSuchFolder(_) => Outcome::no("[NONEXISTENT] No such mailbox"),
        StoreError::FolderExists(_) => Outcome::no("[ALREADYEXISTS] Mailbox already exists"),
        StoreError::OverQuota => Outcome::no("[OVERQUOTA] Mailbox is over quota"),
        StoreError::ReadOnly => Outcome::no("[READ-ONLY] Mailbox is read-only"),
        StoreError::NoSuchMessage => Outcome::no("[EXPUNGEISSUED] Message was expunged"),
        other => {
            log::error!("storage error: {other}");
            Outcome::no(
                "[SERVERBUG] Internal storage error; the administrator has details in the log",
            )
        }
    }
}
