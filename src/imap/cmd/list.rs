//! LIST (RFC 3501 §6.3.8, LIST-EXTENDED RFC 5258 selection and return options,
//! SPECIAL-USE RFC 6154) and LSUB (§6.3.9).

use std::collections::{BTreeMap, BTreeSet};

use crate::imap::command::{ListReturn, ListSelect, StatusItem};
use crate::imap::names::{self, SEPARATOR};
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::store::acl;

/// LIST attributes of one name.
#[derive(Default)]
struct ListEntry {
    exists: bool,
    has_children: bool,
}

impl Session<'_> {
    /// Every folder plus the parents that only exist as a path (Maildir++ allows `.a.b`
    /// without `.a`); those are `\Noselect`. Other accounts' folders (`#shared.`) are
    /// looked up only when `want_shared`: a pattern that cannot reach them costs no
    /// reading of the shared index and of their ACLs.
    fn folder_tree(&self, want_shared: bool) -> Result<BTreeMap<String, ListEntry>, Outcome> {
        let folders = self.places()?.list(want_shared)?;
        let mut tree: BTreeMap<String, ListEntry> = BTreeMap::new();
        for folder in folders {
            if folder.no_select {
                let entry = tree.entry(folder.name.clone()).or_default();
                entry.has_children |= folder.has_children;
                continue;
            }
            let mut parent = folder.name.as_str();
            while let Some(i) = parent.rfind(SEPARATOR) {
                parent = &parent[..i];
                // The shared namespace's root is announced by NAMESPACE, not listed
                // (as Courier does).
                if parent == crate::store::places::SHARED_ROOT {
                    break;
                }
                tree.entry(parent.to_string()).or_default().has_children = true;
            }
            let entry = tree.entry(folder.name.clone()).or_default();
            entry.exists = true;
            entry.has_children |= folder.has_children;
        }
        // Filesystem-shared folders, with `shared` and `shared.<nick>` as \Noselect
        // parents, as Courier lists them.
        for name in self.fs_shared()?.list() {
            let mut parent = name.as_str();
            while let Some(i) = parent.rfind(SEPARATOR) {
                parent = &parent[..i];
                tree.entry(parent.to_string()).or_default().has_children = true;
            }
            tree.entry(name).or_default().exists = true;
        }
        Ok(tree)
    }

    /// `courierimapsubscribed`, then the subscribed filesystem-shared folders.
    fn all_subscriptions(&self) -> Result<Vec<String>, Outcome> {
        let mut subscriptions = self.maildir()?.subscriptions()?;
        subscriptions.extend(self.fs_shared()?.subscribed());
        Ok(subscriptions)
    }

    /// The special-use attributes of a folder (RFC 6154): from `[imap] special_use`, then
    /// those a client gave it at CREATE (kept in the folder, see `store::specialuse`).
    /// Only the login's own folders have any.
    fn special_use(&self, name: &str) -> Vec<String> {
        let Some(below) = name.strip_prefix("INBOX.") else {
            return Vec::new();
        };
        let mut uses: Vec<String> = self
            .config
            .imap
            .special_use
            .iter()
            .filter(|(_, folder)| folder.as_str() == below)
            .map(|(attr, _)| attr.clone())
            .collect();
        if let Ok(maildir) = self.maildir() {
            for u in maildir.special_uses(name) {
                if !uses.contains(&u) {
                    uses.push(u);
                }
            }
        }
        uses.into_iter().map(|u| format!("\\{u}")).collect()
    }

    pub fn cmd_list(
        &mut self,
        selection: &[ListSelect],
        reference: &str,
        patterns: &[String],
        returns: &[ListReturn],
    ) -> CommandResult {
        let options = ListOptions::new(selection, returns)?;
        if patterns.len() == 1 && patterns[0].is_empty() {
            // The hierarchy delimiter and root (RFC 3501 §6.3.8).
            self.untagged("LIST (\\Noselect) \".\" \"\"");
            return Ok(Outcome::ok("LIST completed"));
        }
        let want_shared = patterns.iter().any(|p| reaches_shared(reference, p));
        let tree = self.folder_tree(want_shared)?;
        let subscriptions: BTreeSet<String> = self.all_subscriptions()?.into_iter().collect();
        let patterns: Vec<String> = patterns
            .iter()
            .filter_map(|p| self.decode_pattern(reference, p))
            .collect();
        let matches = |name: &str| patterns.iter().any(|p| names::pattern_matches(p, name));
        // Names with a subscribed name below them: RECURSIVEMATCH's CHILDINFO.
        let parents_of_subscribed: BTreeSet<&str> = if options.recursive_match {
            subscriptions.iter().flat_map(|s| ancestors(s)).collect()
        } else {
            BTreeSet::new()
        };
        let mut candidates: BTreeSet<&str> = tree.keys().map(String::as_str).collect();
        if options.subscribed_only {
            // Subscribed names whose folder is gone are still listed (RFC 5258 §3.1),
            // and so are their parents when RECURSIVEMATCH asks for them.
            candidates.extend(subscriptions.iter().map(String::as_str));
            candidates.extend(parents_of_subscribed.iter().copied());
        }
        let mut lines = Vec::new();
        for name in candidates {
            if !matches(name) {
                continue;
            }
            let subscribed = subscriptions.contains(name);
            let childinfo = parents_of_subscribed.contains(name);
            if options.subscribed_only && !subscribed && !childinfo {
                continue;
            }
            let special = self.special_use(name);
            if options.special_use_only && special.is_empty() {
                continue;
            }
            let attrs = list_attributes(
                tree.get(name),
                special,
                options.show_subscribed && subscribed,
            );
            lines.push(ListLine {
                name: name.to_owned(),
                attrs,
                childinfo: options.subscribed_only && childinfo,
            });
        }
        for line in lines {
            self.write_list_line(&line, &options);
        }
        Ok(Outcome::ok("LIST completed"))
    }

    /// The `* LIST` line of one mailbox by its exact name (IMAP4rev2's SELECT answer);
    /// nothing when the folder list cannot be read.
    pub(super) fn write_list_of(&mut self, name: &str) {
        let want_shared = name.starts_with(crate::store::places::SHARED_ROOT);
        let Ok(tree) = self.folder_tree(want_shared) else {
            return;
        };
        let attrs = list_attributes(tree.get(name), self.special_use(name), false);
        self.out
            .extend_from_slice(format!("* LIST ({}) \".\" ", attrs.join(" ")).as_bytes());
        self.write_mailbox_name(name);
        self.out.extend_from_slice(b"\r\n");
    }

    /// One `* LIST` line with its extended data, then the mailbox's `* STATUS` when
    /// LIST-STATUS asked for it (RFC 5819 §2: not for `\NoSelect` or `\NonExistent`
    /// names; a mailbox whose status cannot be read, e.g. without the `r` right, gets
    /// no STATUS line rather than failing the LIST).
    fn write_list_line(&mut self, line: &ListLine, options: &ListOptions) {
        let selectable = !line
            .attrs
            .iter()
            .any(|a| a == "\\Noselect" || a == "\\NonExistent");
        let extra = if !options.courier_items.is_empty() {
            // Courier's own LIST data replaces RFC 5258's extended data: its clients
            // never ask for RECURSIVEMATCH, and the two forms do not combine.
            if selectable {
                self.courier_list_data(&line.name, &options.courier_items)
            } else {
                String::new()
            }
        } else if line.childinfo {
            " (\"CHILDINFO\" (\"SUBSCRIBED\"))".to_owned()
        } else {
            String::new()
        };
        self.out
            .extend_from_slice(format!("* LIST ({}) \".\" ", line.attrs.join(" ")).as_bytes());
        self.write_mailbox_name(&line.name);
        self.out.extend_from_slice(extra.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        if let Some(items) = &options.status
            && selectable
        {
            let wire = names::to_wire(&line.name, self.utf8);
            let _ = self.write_status(&wire, items);
        }
    }

    /// Courier's LIST data for its options `(ACL MYRIGHTS POSTADDRESS)` (the ACL2 draft
    /// Courier's Cone uses): ` (("ACL" (...))("MYRIGHTS" "...")(POSTADDRESS NIL))`, each
    /// item only where the login may see it (ACL needs `a`, MYRIGHTS any right).
    fn courier_list_data(&self, name: &str, items: &[&str]) -> String {
        let Ok(places) = self.places() else {
            return String::new();
        };
        let Ok(place) = places.resolve(name) else {
            return String::new();
        };
        let Ok(rights) = place.rights(&places.login) else {
            return String::new();
        };
        let mut out = String::new();
        for item in items {
            match *item {
                "ACL" if rights.has('a') => {
                    if let Ok(list) = acl::load(place.maildir.root(), &place.folder) {
                        out.push_str(&acl::list_acl_wire(&list));
                    }
                }
                "MYRIGHTS" if acl::can_list_rights(rights) => {
                    out.push_str(&format!("(\"MYRIGHTS\" \"{}\")", rights.to_wire_full()));
                }
                "POSTADDRESS" => out.push_str("(POSTADDRESS NIL)"),
                _ => {}
            }
        }
        if out.is_empty() {
            out
        } else {
            format!(" ({out})")
        }
    }

    /// Reference + pattern as a store-side pattern (UTF-8, INBOX uppercased); `None` for
    /// a pattern that is not modified UTF-7. Mailbox names travel in modified UTF-7
    /// (RFC 3501 §5.1.3), so such a pattern (every `list-char` may stand in one, RFC 3501
    /// §9: `LIST "" &'+,`) matches no name: LIST and LSUB answer OK with nothing for it.
    fn decode_pattern(&self, reference: &str, pattern: &str) -> Option<String> {
        let joined = if reference.is_empty() || pattern.starts_with("INBOX") {
            pattern.to_string()
        } else {
            format!("{reference}{pattern}")
        };
        if self.utf8 {
            Some(joined)
        } else {
            crate::imap::mutf7::decode(&joined).ok()
        }
    }

    /// LSUB (RFC 3501 §6.3.9): the subscribed names that match, and, where `%` stops
    /// above a subscribed name, its parent that is not subscribed itself, flagged
    /// `\Noselect` ("foo/bar" subscribed, "foo" not: `LSUB "" %` returns foo).
    pub fn cmd_lsub(&mut self, reference: &str, pattern: &str) -> CommandResult {
        let Some(pattern) = self.decode_pattern(reference, pattern) else {
            return Ok(Outcome::ok("LSUB completed"));
        };
        let subscriptions = self.all_subscriptions()?;
        let subscribed: BTreeSet<&str> = subscriptions.iter().map(String::as_str).collect();
        let tree = self
            .folder_tree(reaches_shared(reference, &pattern))
            .unwrap_or_default();
        let mut listed: BTreeSet<String> = BTreeSet::new();
        let mut lines: Vec<(String, &str)> = Vec::new();
        for name in &subscriptions {
            if names::pattern_matches(&pattern, name) {
                let attrs = if tree.get(name).is_some_and(|e| e.exists) {
                    ""
                } else {
                    "\\Noselect"
                };
                if listed.insert(name.clone()) {
                    lines.push((name.clone(), attrs));
                }
                continue;
            }
            let parent = lsub_parent(&pattern, name)
                .filter(|p| !subscribed.contains(p) && !listed.contains(*p));
            if let Some(parent) = parent {
                listed.insert(parent.to_owned());
                lines.push((parent.to_owned(), "\\Noselect"));
            }
        }
        for (name, attrs) in lines {
            self.out
                .extend_from_slice(format!("* LSUB ({attrs}) \".\" ").as_bytes());
            self.write_mailbox_name(&name);
            self.out.extend_from_slice(b"\r\n");
        }
        Ok(Outcome::ok("LSUB completed"))
    }
}

/// One name LIST answers with.
struct ListLine {
    name: String,
    attrs: Vec<String>,
    /// `("CHILDINFO" ("SUBSCRIBED"))`: a subscribed name lies below (RFC 5258 §3.5).
    childinfo: bool,
}

/// What LIST's selection and return options (RFC 5258 §3) ask for, checked.
struct ListOptions {
    subscribed_only: bool,
    special_use_only: bool,
    recursive_match: bool,
    show_subscribed: bool,
    /// LIST-STATUS's items (RFC 5819).
    status: Option<Vec<StatusItem>>,
    courier_items: Vec<&'static str>,
}

impl ListOptions {
    /// BAD for what RFC 5258 §3 makes an error: an unknown selection option (except
    /// Courier's own `ACL`, `MYRIGHTS` and `POSTADDRESS`), RECURSIVEMATCH without a
    /// selection option it could refine (alone, or with REMOTE only), and an unknown
    /// return option.
    fn new(selection: &[ListSelect], returns: &[ListReturn]) -> Result<ListOptions, Outcome> {
        let courier_items = courier_items(selection);
        for s in selection {
            if let ListSelect::Other(o) = s
                && !courier_items.iter().any(|c| c.eq_ignore_ascii_case(o))
            {
                return Err(Outcome::bad(format!("unknown LIST selection option {o}")));
            }
        }
        for r in returns {
            if let ListReturn::Other(o) = r {
                return Err(Outcome::bad(format!("unknown LIST return option {o}")));
            }
        }
        let subscribed_only = selection.contains(&ListSelect::Subscribed);
        let special_use_only = selection.contains(&ListSelect::SpecialUse);
        let recursive_match = selection.contains(&ListSelect::RecursiveMatch);
        if recursive_match && !subscribed_only && !special_use_only {
            return Err(Outcome::bad(
                "RECURSIVEMATCH needs another selection option (RFC 5258 section 3)",
            ));
        }
        let mut status = None;
        for r in returns {
            if let ListReturn::Status(items) = r {
                status = Some(items.clone());
            }
        }
        Ok(ListOptions {
            subscribed_only,
            special_use_only,
            recursive_match,
            show_subscribed: subscribed_only || returns.contains(&ListReturn::Subscribed),
            status,
            courier_items,
        })
    }
}

/// The mailbox attributes of a name: `\NonExistent` when there is nothing by that name
/// (only subscriptions list such names), `\Noselect` for a parent that exists only as a
/// path, the children attribute (always: RFC 5258 §3.4 allows it without CHILDREN), the
/// special use (RFC 6154 allows it without SPECIAL-USE), and `\Subscribed`.
fn list_attributes(
    entry: Option<&ListEntry>,
    special: Vec<String>,
    subscribed: bool,
) -> Vec<String> {
    let mut attrs: Vec<String> = Vec::new();
    match entry {
        None => attrs.push("\\NonExistent".into()),
        Some(entry) => {
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
            attrs.extend(special);
        }
    }
    if subscribed {
        attrs.push("\\Subscribed".into());
    }
    attrs
}

/// The names above `name` in the hierarchy, nearest first.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    let mut parent = name;
    std::iter::from_fn(move || {
        let i = parent.rfind(SEPARATOR)?;
        parent = &parent[..i];
        Some(parent)
    })
}

/// Courier's LIST options among the selection options, in Courier's order.
fn courier_items(selection: &[ListSelect]) -> Vec<&'static str> {
    ["ACL", "MYRIGHTS", "POSTADDRESS"]
        .into_iter()
        .filter(|item| {
            selection
                .iter()
                .any(|s| matches!(s, ListSelect::Other(o) if o.eq_ignore_ascii_case(item)))
        })
        .collect()
}

/// Whether a LIST pattern can match a name under `#shared` (its text before the first
/// wildcard is a start of `#shared.` or goes below it).
fn reaches_shared(reference: &str, pattern: &str) -> bool {
    let joined = format!("{reference}{pattern}");
    let literal = joined.split(['*', '%']).next().unwrap_or("");
    let root = format!("{}{SEPARATOR}", crate::store::places::SHARED_ROOT);
    root.starts_with(literal)
        || literal.starts_with(&root)
        || literal == crate::store::places::SHARED_ROOT
}

/// The nearest parent of the subscribed `name` that `pattern` matches, when `pattern`
/// does not match `name` itself (it stopped at a hierarchy delimiter with `%`).
/// Only `%` does that: a pattern without it that matches the parent names the parent
/// itself, which is not subscribed, and `*` reaches the subscribed name.
fn lsub_parent<'a>(pattern: &str, name: &'a str) -> Option<&'a str> {
    if !pattern.contains('%') {
        return None;
    }
    let mut parent = name;
    while let Some(i) = parent.rfind(SEPARATOR) {
        parent = &parent[..i];
        if names::pattern_matches(pattern, parent) {
            return Some(parent);
        }
    }
    None
}
