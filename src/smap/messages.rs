//! The message commands (smap.sgml, "Reading message attributes" to "Searching
//! messages"): FETCH, STORE, COPY, MOVE and SEARCH on the open folder.
//!
//! Message contents come from `crate::message` (the MIME tree, header fields, decoding);
//! searching is the IMAP SEARCH engine (`crate::imap::search`) with the SMAP criterion
//! turned into its key.

use std::borrow::Cow;

use super::folders::split_at_empty;
use super::open::{flags_list, parse_flags};
use super::words::{quoted, range_list, ranges};
use super::{Reply, Smap};
use crate::imap::command::{Date, SearchKey};
use crate::imap::sequence::SequenceSet;
use crate::message::{Message, PartNode};
use crate::store::{FlagChange, Flags, Mailbox};

/// The 0-based indexes of the leading message-number words (`n`, `m-n`), ascending and
/// without duplicates; numbers past the end are left out (a message another session
/// removed, smap.sgml "More comments on concurrency"). `None` when a word is no number.
pub(super) fn message_numbers(words: &[String], len: usize) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for word in words {
        let (a, b) = super::words::message_range(word)?;
        for n in a..=b.min(len as u32) {
            out.push(n as usize - 1);
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Whether message ranges ascend without overlapping (`1-3 5`, not `5 1` or `1-3 2`), as
/// Courier's imapd wants them.
fn ascending(words: &[String]) -> bool {
    let mut last = 0;
    words.iter().all(|w| match super::words::message_range(w) {
        Some((a, b)) if a > last => {
            last = b;
            true
        }
        _ => false,
    })
}

/// How many leading words are message numbers.
fn count_numbers(words: &[String]) -> usize {
    words
        .iter()
        .take_while(|w| super::words::message_range(w).is_some())
        .count()
}

/// What one CONTENTS= asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Contents {
    /// HEADERS[id](names): unfolded header fields (all when `names` is empty).
    Headers(Option<String>, Vec<String>),
    /// MIME(names): the header fields of every part.
    Mime(Vec<String>),
    Body(Option<String>),
    All(Option<String>),
    Decoded(Option<String>),
}

/// Parses `HEADERS[1.2](A,B)`, `MIME(A)`, `BODY`, `BODY[1.1]`, `ALL`, `BODY.DECODED[...]`.
fn parse_contents(spec: &str) -> Option<Contents> {
    let upper = spec.to_ascii_uppercase();
    let (head, id, rest) = split_part_id(spec, &upper)?;
    let names = |rest: &str| -> Option<Vec<String>> {
        let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
        Some(
            inner
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    };
    match head.as_str() {
        "HEADERS" => Some(Contents::Headers(id, names(rest)?)),
        "MIME" if id.is_none() => Some(Contents::Mime(names(rest)?)),
        "BODY" if rest.is_empty() => Some(Contents::Body(id)),
        "ALL" if rest.is_empty() => Some(Contents::All(id)),
        "BODY.DECODED" if rest.is_empty() => Some(Contents::Decoded(id)),
        _ => None,
    }
}

/// `NAME[id]rest` into (NAME uppercased, id, rest).
fn split_part_id<'s>(spec: &'s str, upper: &str) -> Option<(String, Option<String>, &'s str)> {
    let end = spec.find(['[', '(']).unwrap_or(spec.len());
    let head = upper[..end].to_owned();
    let rest = &spec[end..];
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']')?;
        return Some((head, Some(after[..close].to_owned()), &after[close + 1..]));
    }
    Some((head, None, rest))
}

/// The header names `:ENVELOPE` stands for (smap.sgml).
const ENVELOPE: [&str; 11] = [
    "DATE",
    "SUBJECT",
    "FROM",
    "SENDER",
    "REPLY-TO",
    "TO",
    "CC",
    "BCC",
    "IN-REPLY-TO",
    "MESSAGE-ID",
    "REFERENCES",
];

/// Whether a header field named `name` is among `wanted` (empty: all of them).
fn header_wanted(name: &str, wanted: &[String]) -> bool {
    if wanted.is_empty() {
        return true;
    }
    wanted.iter().any(|w| {
        let w = w.to_ascii_uppercase();
        match w.as_str() {
            ":ENVELOPE" => ENVELOPE.iter().any(|e| name.eq_ignore_ascii_case(e)),
            ":MIME" => {
                ENVELOPE.iter().any(|e| name.eq_ignore_ascii_case(e))
                    || name.eq_ignore_ascii_case("MIME-VERSION")
                    || name.to_ascii_uppercase().starts_with("CONTENT-")
            }
            _ => name.eq_ignore_ascii_case(&w),
        }
    })
}

/// A header block's fields as `Name: value` lines, folds turned into single spaces.
fn unfolded_headers(block: &[u8], wanted: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = fields.last_mut() {
                let trimmed = trim_start(line);
                last.push(b' ');
                last.extend_from_slice(trimmed);
            }
            continue;
        }
        fields.push(line.to_vec());
    }
    for field in fields {
        let name = field.split(|&b| b == b':').next().unwrap_or(&[]);
        let name = String::from_utf8_lossy(name);
        if field.contains(&b':') && header_wanted(name.trim(), wanted) {
            out.extend_from_slice(&field);
            out.push(b'\n');
        }
    }
    out
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    &bytes[n..]
}

/// Courier's MIME section ids: the message is `1` (sent as the empty id), the n-th
/// child of section `x` is `x.n`, and the message a message/rfc822 part `x` carries is
/// `x.0`.
fn node_ids(nodes: &[PartNode]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let id = match node.parent {
            None => "1".to_owned(),
            Some(p) if node.encapsulated => format!("{}.0", ids[p]),
            Some(p) => format!("{}.{}", ids[p], node.ordinal),
        };
        ids.push(id);
    }
    ids
}

/// The id as the client sees it (`1` is the empty id).
fn shown_id(id: &str) -> &str {
    if id == "1" { "" } else { id }
}

/// One message read for FETCH CONTENTS, with what its file looked like.
struct Loaded {
    message: Message,
    /// The file had no CR: serve LF line ends as Courier does (it sends the file as is).
    lf: bool,
}

impl Loaded {
    fn read(mailbox: &Mailbox, index: usize) -> Option<Loaded> {
        let bytes = mailbox.read_message(index).ok()?;
        let lf = !bytes.contains(&b'\r');
        Some(Loaded {
            message: Message::new(bytes),
            lf,
        })
    }

    /// A range of the message as the file has it.
    fn bytes(&self, range: std::ops::Range<usize>) -> Cow<'_, [u8]> {
        self.served(Cow::Borrowed(&self.message.raw()[range]))
    }

    fn served<'a>(&self, bytes: Cow<'a, [u8]>) -> Cow<'a, [u8]> {
        if !self.lf || !bytes.contains(&b'\r') {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        Cow::Owned(out)
    }

    /// A node's body as Courier's imapd delimits it: a message/rfc822 part, and the
    /// message it carries, end after the line break before the next boundary.
    fn body_range(&self, node: &PartNode) -> std::ops::Range<usize> {
        let raw = self.message.raw();
        let mut r = node.body.clone();
        if (node.is_message || node.encapsulated) && raw[r.end..].starts_with(b"\r\n") {
            r.end += 2;
        }
        r
    }

    /// The node a client's id names (`""` or absent: the message).
    fn node(&self, nodes: &[PartNode], ids: &[String], id: Option<&str>) -> Option<usize> {
        let id = match id {
            None | Some("") => "1",
            Some(id) => id,
        };
        ids.iter()
            .position(|i| i == id)
            .filter(|&n| n < nodes.len())
    }
}

/// Appends a dot-stuffed reply (smap.sgml "Multiple line replies").
fn dot_stuffed(out: &mut Vec<u8>, first: &str, data: &[u8]) {
    out.extend_from_slice(first.as_bytes());
    out.push(b'\n');
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        if line.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(b".\n");
}

/// Largest binary chunk of a `{n/m}` reply (Courier's imapd sends 8192-byte chunks).
const CHUNK: usize = 8192;

/// Appends a binary reply (smap.sgml "Multiple line replies"): `{n/total} words`, the
/// first chunk, then for each further chunk a line with its size and the chunk, and an
/// empty line at the end.
fn binary(out: &mut Vec<u8>, estimate: usize, words: &str, data: &[u8]) {
    let mut chunks = data.chunks(CHUNK);
    let first = chunks.next().unwrap_or(&[]);
    out.extend_from_slice(format!("{{{}/{estimate}}} {words}\n", first.len()).as_bytes());
    out.extend_from_slice(first);
    for chunk in chunks {
        out.extend_from_slice(format!("{}\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
    }
    out.push(b'\n');
}

/// The size a body decodes to, as Courier's imapd estimates it before decoding: three
/// bytes for four of base64, else the encoded size.
fn decoded_estimate(encoded: usize, base64: bool) -> usize {
    if base64 { encoded / 4 * 3 } else { encoded }
}

impl Smap<'_, '_> {
    /// FETCH messages attributes...
    pub(super) fn fetch(&mut self, words: &[String]) -> Reply {
        let n = count_numbers(words);
        let (numbers, items) = words.split_at(n);
        if numbers.is_empty() || items.is_empty() {
            return Err("Syntax error.".to_owned());
        }
        let open = self.opened()?;
        let indexes = message_numbers(numbers, open.mailbox.len()).ok_or("Syntax error.")?;
        let mut attrs = Vec::new();
        let mut contents = Vec::new();
        for item in items {
            let upper = item.to_ascii_uppercase();
            if let Some(spec) = upper
                .strip_prefix("CONTENTS.PEEK=")
                .map(|_| (true, &item["CONTENTS.PEEK=".len()..]))
                .or_else(|| {
                    upper
                        .strip_prefix("CONTENTS=")
                        .map(|_| (false, &item["CONTENTS=".len()..]))
                })
            {
                let parsed = parse_contents(spec.1).ok_or("Syntax error.")?;
                contents.push((spec.0, parsed));
            } else if ["UID", "FLAGS", "KEYWORDS", "SIZE", "INTERNALDATE"].contains(&upper.as_str())
            {
                attrs.push(upper);
            } else {
                return Err("Syntax error.".to_owned());
            }
        }
        let mut seen_set = Vec::new();
        for &i in &indexes {
            for (peek, what) in &contents {
                if self.write_contents(i, what).is_err() {
                    return Err("Cannot retrieve message: Invalid argument".to_owned());
                }
                if !*peek && self.mark_seen(i) {
                    seen_set.push(i);
                }
            }
        }
        for &i in &indexes {
            let line = self.attribute_line(i, &attrs, seen_set.contains(&i));
            if let Some(line) = line {
                self.line(&line);
            }
        }
        // What was measured (dates, sizes) is kept for later sessions, as IMAP's FETCH
        // keeps it.
        if let Some(open) = self.open.as_mut() {
            open.mailbox.save_caches();
        }
        Ok("Message retrieved.".to_owned())
    }

    /// Sets SEEN after CONTENTS; true if it was not set before.
    fn mark_seen(&mut self, index: usize) -> bool {
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        let m = open.mailbox.message(index);
        if m.flags.contains(Flags::SEEN) || open.mailbox.read_only() || !open.rights.has('s') {
            return false;
        }
        let change = FlagChange {
            add: Flags::SEEN,
            ..FlagChange::default()
        };
        let changed = open.mailbox.change_flags(index, &change).is_ok();
        if changed {
            open.touched();
        }
        changed
    }

    /// `* FETCH n ...` with the attributes asked for (and FLAGS when CONTENTS set SEEN).
    fn attribute_line(&mut self, index: usize, attrs: &[String], seen: bool) -> Option<String> {
        // Without keywords (`[imap] keywords = false`, Courier's IMAP_KEYWORDS=0) there
        // are none to show.
        let keywords_on = self.s.config.imap.keywords;
        let open = self.open.as_mut()?;
        let mut words = Vec::new();
        let m = open.mailbox.message(index);
        let has = |a: &str| attrs.iter().any(|x| x == a);
        if has("FLAGS") || seen {
            words.push(format!("FLAGS={}", flags_list(m.flags)));
        }
        if has("KEYWORDS") && keywords_on {
            words.push(quoted(&format!("KEYWORDS={}", m.keywords.join(","))));
        }
        if has("UID") {
            words.push(quoted(&format!("UID={}", m.basename)));
        }
        let size = m.size;
        if has("SIZE") {
            words.push(format!("SIZE={size}"));
        }
        if has("INTERNALDATE") {
            let date = rfc2822_date(open.mailbox.internal_date(index));
            words.push(quoted(&format!("INTERNALDATE={date}")));
        }
        (!words.is_empty()).then(|| format!("* FETCH {} {}", index + 1, words.join(" ")))
    }

    /// Writes one CONTENTS reply for message `index`.
    fn write_contents(&mut self, index: usize, what: &Contents) -> Result<(), ()> {
        let open = self.open.as_mut().ok_or(())?;
        if open.mailbox.message(index).is_gone() {
            return Ok(());
        }
        let loaded = Loaded::read(&open.mailbox, index).ok_or(())?;
        let nodes = loaded.message.part_nodes();
        let ids = node_ids(&nodes);
        let n = index + 1;
        let out = &mut self.s.out;
        match what {
            Contents::Headers(id, names) => {
                let node = loaded.node(&nodes, &ids, id.as_deref()).ok_or(())?;
                let header = loaded.bytes(nodes[node].header.clone());
                let estimate = if id.is_some() { header.len() } else { 0 };
                let data = unfolded_headers(&header, names);
                dot_stuffed(out, &format!("{{.{estimate}}} FETCH {n} HEADERS"), &data);
            }
            Contents::Mime(names) => {
                for (k, node) in nodes.iter().enumerate() {
                    let header = loaded.bytes(node.header.clone());
                    let body = loaded.bytes(loaded.body_range(node));
                    // Lines are counted in the body without the extra line break.
                    let lines = loaded
                        .bytes(node.body.clone())
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count();
                    let mut first = format!(
                        "{{.{}}} FETCH {n} LINES={lines} SIZE={} {}",
                        header.len(),
                        body.len(),
                        quoted(&format!("MIME.ID={}", shown_id(&ids[k])))
                    );
                    if let Some(p) = node.parent {
                        first.push(' ');
                        first.push_str(&quoted(&format!("MIME.PARENT={}", shown_id(&ids[p]))));
                    }
                    dot_stuffed(out, &first, &unfolded_headers(&header, names));
                }
            }
            Contents::Body(id) | Contents::All(id) => {
                let node = loaded.node(&nodes, &ids, id.as_deref()).ok_or(())?;
                let body = loaded.body_range(&nodes[node]);
                let range = match what {
                    Contents::All(_) => nodes[node].header.start..body.end,
                    _ => body,
                };
                let data = loaded.bytes(range);
                binary(out, data.len(), &format!("FETCH {n} CONTENTS"), &data);
            }
            Contents::Decoded(id) => {
                let node = loaded.node(&nodes, &ids, id.as_deref()).ok_or(())?;
                let encoded = loaded.bytes(nodes[node].body.clone()).len();
                let decoded = loaded
                    .message
                    .decoded_node(&nodes[node].path)
                    .map_err(|_| ())?
                    .ok_or(())?;
                let base64 = is_base64(&loaded.message.raw()[nodes[node].header.clone()]);
                let data = loaded.served(decoded);
                let estimate = decoded_estimate(encoded, base64);
                binary(out, estimate, &format!("FETCH {n} CONTENTS"), &data);
            }
        }
        super::super::imap::session::flush_if_large(&mut self.s.conn, &mut self.s.out)
            .map_err(|_| ())
    }

    /// STORE messages changes...: FLAGS=, +FLAGS=, -FLAGS=, KEYWORDS= (and + -),
    /// INTERNALDATE=.
    pub(super) fn store(&mut self, words: &[String]) -> Reply {
        let n = count_numbers(words);
        let (numbers, items) = words.split_at(n);
        // Without keywords, a keyword change is no change (as in Courier's imapd).
        let keywords_on = self.s.config.imap.keywords;
        let open = self.opened()?;
        // Courier's imapd: ranges must ascend; a set that does not parse is an error, no
        // set at all stores nothing, and words that are no change are passed over.
        if !ascending(numbers)
            || items
                .first()
                .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err("Cannot update folder status: Invalid argument".to_owned());
        }
        let indexes = message_numbers(numbers, open.mailbox.len()).ok_or("Syntax error.")?;
        let changes: Vec<StoreItem> = items
            .iter()
            .filter_map(|i| parse_store(i))
            .filter(|c| keywords_on || !matches!(c, StoreItem::Keywords(..)))
            .collect();
        let denied = denied_flags(open.rights);
        let may_write = open.rights.has('w');
        let mut lines = Vec::new();
        // Item by item, each over every message, reporting as it goes (as Courier does).
        for change in &changes {
            for &i in &indexes {
                if open.mailbox.message(i).is_gone() {
                    continue;
                }
                let (flags, keywords) = {
                    let m = open.mailbox.message(i);
                    (m.flags, m.keywords.to_vec())
                };
                // What the rights do not allow is left as it is, as Courier's imapd
                // leaves it (the reply then shows it unchanged).
                let fc = match change {
                    StoreItem::Flags(mode, f) => {
                        let mut fc = flag_change(*mode, flags, *f);
                        fc.add = fc.add.without(denied);
                        fc.remove = fc.remove.without(denied);
                        fc
                    }
                    StoreItem::Keywords(..) if !may_write => FlagChange::default(),
                    StoreItem::Keywords(mode, k) => keyword_change(*mode, &keywords, k),
                    StoreItem::InternalDate(Some(date)) if may_write => {
                        open.mailbox
                            .set_internal_date(i, *date)
                            .map_err(|e| format!("Cannot update folder status: {e}"))?;
                        open.mailbox.save_caches();
                        continue;
                    }
                    // A new date is not reported (nor is it by Courier's imapd).
                    StoreItem::InternalDate(_) => continue,
                };
                // Nothing left to change (all denied, or already so): the folder is not
                // touched, and may be one the login only reads.
                if !(fc.add.is_empty()
                    && fc.remove.is_empty()
                    && fc.add_keywords.is_empty()
                    && fc.remove_keywords.is_empty()
                    && fc.keywords.is_none())
                {
                    open.mailbox
                        .change_flags(i, &fc)
                        .map_err(|e| format!("Cannot update folder status: {e}"))?;
                    open.touched();
                }
                let m = open.mailbox.message(i);
                let what = match change {
                    StoreItem::Flags(..) => format!("FLAGS={}", flags_list(m.flags)),
                    _ => quoted(&format!("KEYWORDS={}", m.keywords.join(","))),
                };
                lines.push(format!("* FETCH {} {what}", i + 1));
            }
        }
        for line in lines {
            self.line(&line);
        }
        Ok("Folder status updated".to_owned())
    }

    /// COPY messages "" folder, MOVE messages "" folder.
    pub(super) fn copy(&mut self, words: &[String], remove: bool) -> Reply {
        let (numbers, path) = split_at_empty(words).ok_or("Syntax error.")?;
        if numbers.is_empty() || count_numbers(numbers) != numbers.len() {
            return Err("Syntax error.".to_owned());
        }
        let (place, _) = self
            .place_with(path, 'i')
            .map_err(|e| format!("Cannot copy messages: {e}"))?;
        let open = self.opened()?;
        if remove && !open.rights.has('e') {
            return Err("Access denied: ACL \"e\" is required".to_owned());
        }
        let indexes = message_numbers(numbers, open.mailbox.len()).ok_or("Syntax error.")?;
        let indexes: Vec<usize> = indexes
            .into_iter()
            .filter(|&i| !open.mailbox.message(i).is_gone())
            .collect();
        let copied = open
            .mailbox
            .copy_to(&indexes, &place.maildir, &place.folder)
            .map_err(|e| format!("Cannot copy messages: {e}"))?;
        let mut lines = Vec::new();
        for ((src_uid, _), name) in copied.uids.iter().zip(&copied.names) {
            if let Some(i) = open.mailbox.index_of_uid(*src_uid) {
                lines.push(format!(
                    "* COPY {} {}",
                    i + 1,
                    quoted(&format!("NEWUID={name}"))
                ));
            }
        }
        if remove {
            let uids: Vec<u32> = indexes
                .iter()
                .map(|&i| open.mailbox.message(i).uid)
                .collect();
            for &i in &indexes {
                let change = FlagChange {
                    add: Flags::DELETED,
                    ..FlagChange::default()
                };
                open.mailbox
                    .change_flags(i, &change)
                    .map_err(|e| format!("Cannot copy messages: {e}"))?;
            }
            let mut gone = open
                .mailbox
                .expunge(Some(&uids))
                .map_err(|e| format!("Cannot copy messages: {e}"))?;
            gone.sort_unstable();
            open.touched();
            for words in ranges(&gone).chunks(100) {
                lines.push(format!("* EXPUNGE {}", words.join(" ")));
            }
        }
        for line in lines {
            self.line(&line);
        }
        Ok("Messages copied.".to_owned())
    }

    /// SEARCH set [NOT] criterion: `* SEARCH` with the matching message numbers.
    pub(super) fn search(&mut self, words: &[String]) -> Reply {
        let key = search_key(words).ok_or("SEARCH failed: Invalid argument")?;
        let open = self.opened()?;
        let found = crate::imap::search::search(&mut open.mailbox, &key, false)
            .map_err(|e| format!("SEARCH failed: {e}"))?;
        for words in ranges(&found).chunks(100) {
            self.line(&format!("* SEARCH {}", words.join(" ")));
        }
        Ok("Search completed.".to_owned())
    }
}

fn is_base64(header: &[u8]) -> bool {
    let text = String::from_utf8_lossy(header).to_ascii_lowercase();
    text.lines()
        .any(|l| l.starts_with("content-transfer-encoding:") && l.contains("base64"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreItem {
    Flags(Mode, Flags),
    Keywords(Mode, Vec<String>),
    /// `INTERNALDATE=`: the date, `None` when it does not parse (then, as in Courier's
    /// imapd, the item changes nothing and is no error).
    InternalDate(Option<i64>),
}

fn parse_store(item: &str) -> Option<StoreItem> {
    let (mode, rest) = match item.as_bytes().first() {
        Some(b'+') => (Mode::Add, &item[1..]),
        Some(b'-') => (Mode::Remove, &item[1..]),
        _ => (Mode::Set, item),
    };
    let (name, value) = rest.split_once('=')?;
    if mode == Mode::Set && name.eq_ignore_ascii_case("INTERNALDATE") {
        return Some(StoreItem::InternalDate(super::date::parse_rfc822(value)));
    }
    if name.eq_ignore_ascii_case("FLAGS") {
        return Some(StoreItem::Flags(mode, parse_flags(value)));
    }
    if name.eq_ignore_ascii_case("KEYWORDS") {
        let list = value
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        return Some(StoreItem::Keywords(mode, list));
    }
    None
}

/// The flags the login's rights do not let it change (smap.sgml, "Identifiers and
/// rights": `s` for SEEN, `t` for DELETED, `w` for the others and keywords; Courier's
/// imapd asks for no right to change a date, postern for `w`).
fn denied_flags(rights: crate::store::acl::Rights) -> Flags {
    let mut denied = Flags::empty();
    if !rights.has('s') {
        denied.insert(Flags::SEEN);
    }
    if !rights.has('t') {
        denied.insert(Flags::DELETED);
    }
    if !rights.has('w') {
        for f in [Flags::DRAFT, Flags::FLAGGED, Flags::PASSED, Flags::ANSWERED] {
            denied.insert(f);
        }
    }
    denied
}

fn flag_change(mode: Mode, now: Flags, f: Flags) -> FlagChange {
    let (add, remove) = match mode {
        Mode::Add => (f, Flags::empty()),
        Mode::Remove => (Flags::empty(), f),
        Mode::Set => (f.without(now), now.without(f)),
    };
    FlagChange {
        add,
        remove,
        ..FlagChange::default()
    }
}

fn keyword_change(mode: Mode, now: &[String], k: &[String]) -> FlagChange {
    match mode {
        Mode::Add => FlagChange {
            add_keywords: k.to_vec(),
            ..FlagChange::default()
        },
        Mode::Remove => FlagChange {
            remove_keywords: k.to_vec(),
            ..FlagChange::default()
        },
        Mode::Set => FlagChange::between(Flags::empty(), now, Flags::empty(), k),
    }
}

/// SEARCH's words as an IMAP SEARCH key: the message set, then `[NOT] criterion`.
fn search_key(words: &[String]) -> Option<SearchKey> {
    let (set, rest) = words.split_first()?;
    let set_key = match set.to_ascii_uppercase().as_str() {
        "ALL" => SearchKey::All,
        "MARKED" => SearchKey::Flagged,
        "UNMARKED" => SearchKey::Unflagged,
        _ => {
            let list = range_list(set)?;
            let text = list
                .iter()
                .map(|(a, b)| format!("{a}:{b}"))
                .collect::<Vec<_>>()
                .join(",");
            SearchKey::SequenceSet(SequenceSet::parse(text.as_bytes()).ok()?)
        }
    };
    let (not, rest) = match rest.split_first() {
        Some((w, r)) if w.eq_ignore_ascii_case("NOT") => (true, r),
        _ => (false, rest),
    };
    let criterion = criterion(rest)?;
    let criterion = if not {
        SearchKey::Not(Box::new(criterion))
    } else {
        criterion
    };
    Some(SearchKey::And(vec![set_key, criterion]))
}

fn criterion(words: &[String]) -> Option<SearchKey> {
    let (name, args) = words.split_first()?;
    let text = |i: usize| args.get(i).map(|s| s.as_bytes().to_vec());
    let date = |i: usize| args.get(i).and_then(|s| parse_date(s));
    let number = |i: usize| args.get(i).and_then(|s| s.parse::<u32>().ok());
    let key = match name.to_ascii_uppercase().as_str() {
        "REPLIED" => SearchKey::Answered,
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "SEEN" => SearchKey::Seen,
        "MARKED" => SearchKey::Flagged,
        "FROM" => SearchKey::From(text(0)?),
        "TO" => SearchKey::To(text(0)?),
        "CC" => SearchKey::Cc(text(0)?),
        "BCC" => SearchKey::Bcc(text(0)?),
        "SUBJECT" => SearchKey::Subject(text(0)?),
        "HEADER" => SearchKey::Header(args.first()?.clone(), text(1)?),
        "BODY" => SearchKey::Body(text(0)?),
        "TEXT" => SearchKey::Text(text(0)?),
        "BEFORE" => SearchKey::Before(date(0)?),
        "ON" => SearchKey::On(date(0)?),
        "SINCE" => SearchKey::Since(date(0)?),
        "SENTBEFORE" => SearchKey::SentBefore(date(0)?),
        "SENTON" => SearchKey::SentOn(date(0)?),
        "SENTSINCE" => SearchKey::SentSince(date(0)?),
        "LARGER" => SearchKey::Larger(number(0)?),
        "SMALLER" => SearchKey::Smaller(number(0)?),
        _ => return None,
    };
    Some(key)
}

/// `dd-Mon-yyyy`.
fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let day: u8 = parts.next()?.parse().ok()?;
    let month = crate::imap::datetime::month_number(parts.next()?)? as u8;
    let year: u16 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && (1..=31).contains(&day)).then_some(Date { year, month, day })
}

/// RFC 2822's date-time in UTC: `Sun, 06 Dec 2026 04:04:58 +0000`.
pub(super) fn rfc2822_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    let (y, m, d) = crate::imap::datetime::civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// FETCH's arguments parse (for the fuzz target).
pub(super) fn check_fetch(words: &[String]) {
    let n = count_numbers(words);
    let _ = message_numbers(&words[..n], 1000);
    for item in &words[n..] {
        if let Some((_, spec)) = item.split_once('=') {
            let _ = parse_contents(spec);
        }
    }
}

/// STORE's arguments parse (for the fuzz target).
pub(super) fn check_store(words: &[String]) {
    for item in &words[count_numbers(words)..] {
        let _ = parse_store(item);
    }
}

/// SEARCH's arguments parse (for the fuzz target).
pub(super) fn check_search(words: &[String]) {
    let _ = search_key(words);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_specs() {
        assert_eq!(
            parse_contents("HEADERS(FROM,to)"),
            Some(Contents::Headers(None, vec!["FROM".into(), "to".into()]))
        );
        assert_eq!(
            parse_contents("headers[1.2]()"),
            Some(Contents::Headers(Some("1.2".into()), vec![]))
        );
        assert_eq!(
            parse_contents("BODY.DECODED[1.1]"),
            Some(Contents::Decoded(Some("1.1".into())))
        );
        assert_eq!(parse_contents("ALL"), Some(Contents::All(None)));
        assert_eq!(parse_contents("BODY(x)"), None);
        assert_eq!(parse_contents("NOPE"), None);
    }

    #[test]
    fn unfolding() {
        let h = b"From: a\nSubject: x\n  y\n\tz\nTo: b\n\n";
        assert_eq!(
            unfolded_headers(h, &[]),
            b"From: a\nSubject: x y z\nTo: b\n"
        );
        assert_eq!(
            unfolded_headers(h, &["subject".into()]),
            b"Subject: x y z\n"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc2822_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc2822_date(1_796_529_898),
            "Sun, 06 Dec 2026 04:04:58 +0000"
        );
    }
}
