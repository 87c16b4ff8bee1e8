//! The FETCH engine: one `* n FETCH (...)` line per message, reading a message file only
//! for the items that need its bytes, and only its header when that is enough.
//!
//! `cmd/fetch.rs` checks the arguments, builds a [`FetchPlan`] and calls
//! [`FetchPlan::write_message`] per message; the message views (envelope, body structure,
//! sections) come from `crate::message`, their IMAP syntax from `message_syntax`.

use std::borrow::Cow;
use std::io::Read;

use super::command::{FetchItem, Partial, Section, SectionText};
use super::datetime::format_internal_date;
use super::flags::write_flag_list;
use super::message_syntax as imap_encode;
use super::syntax::{write_literal, write_string};
use crate::message::{self, Message, SectionKind};
use crate::store::filename::save_time;
use crate::store::objectid;
use crate::store::{Flags, Mailbox, MessageEntry, StoreError};

/// How much of a message the requested items need.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    Header,
    Whole,
}

fn need_of(item: &FetchItem) -> Need {
    match item {
        // RFC822.SIZE comes from the name or the size cache (Mailbox::wire_size).
        FetchItem::Flags
        | FetchItem::InternalDate
        | FetchItem::Uid
        | FetchItem::Rfc822Size
        | FetchItem::SaveDate
        | FetchItem::EmailId
        | FetchItem::ThreadId => Need::Nothing,
        FetchItem::Envelope | FetchItem::Rfc822Header => Need::Header,
        FetchItem::BodySection { section, .. } if section.part.is_empty() => match section.text {
            Some(SectionText::Header)
            | Some(SectionText::HeaderFields(_))
            | Some(SectionText::HeaderFieldsNot(_)) => Need::Header,
            _ => Need::Whole,
        },
        _ => Need::Whole,
    }
}

/// Items whose IMAP text is kept in the folder's caches once computed, by cache kind. The
/// `-2` names the second way of computing them (RFC 2231 parameters, no comments, address
/// placeholders, line counts): caches of the first are left unread rather than served.
fn cache_kind(item: &FetchItem) -> Option<&'static str> {
    match item {
        FetchItem::Envelope => Some("envelope-2"),
        FetchItem::Body => Some("body-2"),
        FetchItem::BodyStructure => Some("bodystructure-2"),
        FetchItem::Preview { .. } => Some("preview-1"),
        _ => None,
    }
}

/// The IMAP text of a cacheable item, computed from the message.
fn encode_cacheable(kind: &str, message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    match kind {
        "envelope-2" => imap_encode::write_envelope(&mut out, &message.envelope()),
        "preview-1" => write_string(&mut out, message.preview().as_bytes()),
        extensible => imap_encode::write_body_structure(
            &mut out,
            &message.body_structure(),
            extensible == "bodystructure-2",
        ),
    }
    out
}

/// Whether fetching this item marks the message \Seen (RFC 3501 §6.4.5).
fn sets_seen(item: &FetchItem) -> bool {
    matches!(
        item,
        FetchItem::Rfc822
            | FetchItem::Rfc822Text
            | FetchItem::BodySection { peek: false, .. }
            | FetchItem::Binary { peek: false, .. }
    )
}

/// Reads a message file, or only up to the end of its header.
fn load(mailbox: &Mailbox, index: usize, need: Need) -> Result<Message, StoreError> {
    load_message(mailbox, index, need < Need::Whole)
}

/// Reads a message, or with `header_only` just its header block (reading stops at the
/// blank line, so SEARCH FROM or FETCH ENVELOPE cost a few KiB per message, not its size).
pub fn load_message(
    mailbox: &Mailbox,
    index: usize,
    header_only: bool,
) -> Result<Message, StoreError> {
    if !header_only {
        return Ok(Message::new(mailbox.read_message(index)?));
    }
    let mut file = mailbox.open_message(index)?;
    let mut bytes = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(end) = message::header_end(&bytes) {
            bytes.truncate(end);
            break;
        }
    }
    Ok(Message::new(bytes))
}

/// The section as the response names it: `BODY[1.HEADER.FIELDS (FROM TO)]<0>`.
fn section_label(section: &Section, partial: Option<Partial>) -> String {
    let mut label = String::from("BODY[");
    let parts: Vec<String> = section.part.iter().map(u32::to_string).collect();
    label.push_str(&parts.join("."));
    if let Some(text) = &section.text {
        if !parts.is_empty() {
            label.push('.');
        }
        match text {
            SectionText::Header => label.push_str("HEADER"),
            SectionText::Text => label.push_str("TEXT"),
            SectionText::Mime => label.push_str("MIME"),
            SectionText::HeaderFields(f) => {
                label.push_str(&format!("HEADER.FIELDS ({})", quote_fields(f)))
            }
            SectionText::HeaderFieldsNot(f) => {
                label.push_str(&format!("HEADER.FIELDS.NOT ({})", quote_fields(f)))
            }
        }
    }
    label.push(']');
    if let Some(p) = partial {
        label.push_str(&format!("<{}>", p.offset));
    }
    label
}

fn quote_fields(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            let mut v = Vec::new();
            super::syntax::write_astring(&mut v, f.as_bytes());
            String::from_utf8_lossy(&v).into_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn section_kind(text: &Option<SectionText>) -> SectionKind {
    match text {
        None => SectionKind::Full,
        Some(SectionText::Header) => SectionKind::Header,
        Some(SectionText::Text) => SectionKind::Text,
        Some(SectionText::Mime) => SectionKind::Mime,
        Some(SectionText::HeaderFields(f)) => SectionKind::HeaderFields(f.clone()),
        Some(SectionText::HeaderFieldsNot(f)) => SectionKind::HeaderFieldsNot(f.clone()),
    }
}

fn apply_partial(bytes: &[u8], partial: Option<Partial>) -> &[u8] {
    match partial {
        None => bytes,
        Some(p) => {
            let start = (p.offset as usize).min(bytes.len());
            let end = start.saturating_add(p.count as usize).min(bytes.len());
            &bytes[start..end]
        }
    }
}

/// An item answered from the folder's index or caches, never from the message text
/// itself (a cache miss computes the text once from the message).
#[derive(Clone, Copy)]
enum Meta {
    Uid,
    Flags,
    InternalDate,
    Rfc822Size,
    /// SAVEDATE (RFC 8514), from the file name.
    SaveDate,
    /// EMAILID and THREADID (RFC 8474), from the file name.
    EmailId,
    ThreadId,
    /// MODSEQ (RFC 7162 §3.1.4).
    ModSeq,
    /// ENVELOPE, BODY or BODYSTRUCTURE by cache kind.
    Cached(&'static str),
}

/// An item answered from the message's bytes.
#[derive(Clone, Copy)]
enum Content<'i> {
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    Section {
        section: &'i Section,
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` (RFC 3516).
    Binary {
        part: &'i [u32],
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516).
    BinarySize {
        part: &'i [u32],
    },
}

#[derive(Clone, Copy)]
enum Planned<'i> {
    Meta(Meta),
    Content(Content<'i>),
}

/// The items of a FETCH, sorted by what answers them. When no item needs the message's
/// bytes the plan holds only [`Meta`] items, so a line written without the message cannot
/// ask for them: the message is there by construction whenever it is needed.
enum Lines<'i> {
    Meta(Vec<Meta>),
    WithContent { items: Vec<Planned<'i>>, need: Need },
}

fn plan_item(item: &FetchItem) -> Option<Planned<'_>> {
    Some(match item {
        FetchItem::Uid => Planned::Meta(Meta::Uid),
        FetchItem::Flags => Planned::Meta(Meta::Flags),
        FetchItem::InternalDate => Planned::Meta(Meta::InternalDate),
        FetchItem::Rfc822Size => Planned::Meta(Meta::Rfc822Size),
        FetchItem::SaveDate => Planned::Meta(Meta::SaveDate),
        FetchItem::EmailId => Planned::Meta(Meta::EmailId),
        FetchItem::ThreadId => Planned::Meta(Meta::ThreadId),
        FetchItem::ModSeq => Planned::Meta(Meta::ModSeq),
        // PREVIEW (LAZY) is answered like PREVIEW: RFC 8970 lets the server send
        // the preview it can compute ("MAY" return NIL), and the cache makes the next
        // answer cheap.
        FetchItem::Envelope
        | FetchItem::Body
        | FetchItem::BodyStructure
        | FetchItem::Preview { .. } => Planned::Meta(Meta::Cached(cache_kind(item)?)),
        FetchItem::Rfc822 => Planned::Content(Content::Rfc822),
        FetchItem::Rfc822Header => Planned::Content(Content::Rfc822Header),
        FetchItem::Rfc822Text => Planned::Content(Content::Rfc822Text),
        FetchItem::BodySection {
            section, partial, ..
        } => Planned::Content(Content::Section {
            section,
            partial: *partial,
        }),
        FetchItem::Binary { part, partial, .. } => Planned::Content(Content::Binary {
            part,
            partial: *partial,
        }),
        FetchItem::BinarySize { part } => Planned::Content(Content::BinarySize { part }),
    })
}

/// What [`FetchPlan::write_message`] could write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Whole,
    /// The file was gone: only what the session still knew (see `write_remnant`).
    Remnant,
    /// A BINARY item names a part whose Content-Transfer-Encoding postern cannot undo:
    /// nothing was written for this message and the command ends with
    /// `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
    UnknownCte(message::UnknownCte),
}

/// Counters for the logout log line.
#[derive(Default)]
pub struct FetchStats {
    pub bodies: u64,
    pub headers: u64,
}

/// What a FETCH asks of each message, worked out once for all of them.
pub struct FetchPlan<'i> {
    lines: Lines<'i>,
    /// UID FETCH: the UID leads the line even when not asked for.
    uid_first: bool,
    cached_kinds: Vec<&'static str>,
    marks_seen: bool,
    wants_flags: bool,
    wants_size: bool,
}

/// One message's values for the [`Meta`] items.
struct MetaValues<'a> {
    mailbox: &'a Mailbox,
    index: usize,
    entry: MessageEntry<'a>,
    size: Option<u64>,
    blobs: &'a [(&'static str, Option<Vec<u8>>)],
}

impl<'i> FetchPlan<'i> {
    /// `uid` for UID FETCH; `read_only` when the folder was EXAMINEd (no implicit \Seen).
    pub fn new(items: &'i [FetchItem], uid: bool, read_only: bool) -> FetchPlan<'i> {
        // What the items need of the message, apart from those a cache may answer.
        let need = items
            .iter()
            .filter(|i| cache_kind(i).is_none())
            .map(need_of)
            .max()
            .unwrap_or(Need::Nothing);
        let planned: Vec<Planned<'i>> = items.iter().filter_map(plan_item).collect();
        let lines = if need > Need::Nothing {
            Lines::WithContent {
                items: planned,
                need,
            }
        } else {
            Lines::Meta(
                planned
                    .into_iter()
                    .filter_map(|p| match p {
                        Planned::Meta(m) => Some(m),
                        Planned::Content(_) => None,
                    })
                    .collect(),
            )
        };
        FetchPlan {
            lines,
            uid_first: uid && !items.contains(&FetchItem::Uid),
            cached_kinds: items.iter().filter_map(cache_kind).collect(),
            marks_seen: !read_only && items.iter().any(sets_seen),
            wants_flags: items.contains(&FetchItem::Flags),
            wants_size: items.contains(&FetchItem::Rfc822Size),
        }
    }

    /// The plan with MODSEQ in every line (once CONDSTORE is on, a FETCH that reports
    /// FLAGS reports MODSEQ too, RFC 7162 §3.1; CHANGEDSINCE always does, §3.1.4.1).
    pub fn with_modseq(mut self) -> FetchPlan<'i> {
        let has = |m: &Meta| matches!(m, Meta::ModSeq);
        match &mut self.lines {
            Lines::Meta(items) if !items.iter().any(has) => items.push(Meta::ModSeq),
            Lines::WithContent { items, .. }
                if !items
                    .iter()
                    .any(|p| matches!(p, Planned::Meta(m) if has(m))) =>
            {
                items.push(Planned::Meta(Meta::ModSeq))
            }
            _ => {}
        }
        self
    }

    /// Writes the `* n FETCH (...)` line of the message at `index`, setting \Seen first
    /// when an item implies it. When another session expunged the message (its file is
    /// gone) the line carries what is still known: see [`FetchPlan::write_remnant`].
    pub fn write_message(
        &self,
        mailbox: &mut Mailbox,
        index: usize,
        out: &mut Vec<u8>,
        stats: &mut FetchStats,
    ) -> Result<Written, StoreError> {
        match self.write_whole(mailbox, index, out, stats) {
            Ok(written) => Ok(written),
            Err(StoreError::NoSuchMessage) if index < mailbox.len() => {
                self.write_remnant(mailbox, index, out);
                Ok(Written::Remnant)
            }
            Err(err) => Err(err),
        }
    }

    /// The line of a message whose file is gone (expunged by another session that this
    /// one has not reported yet), from what the session still holds: UID, FLAGS and
    /// INTERNALDATE from memory, RFC822.SIZE and ENVELOPE/BODY/BODYSTRUCTURE when a name
    /// or a cache knows them, and NIL for the message's text.
    ///
    /// RFC 2180 §4.1 lists four ways to answer a FETCH of such a message: keep the data
    /// until the EXPUNGE can be reported (4.1.1), answer NO (4.1.2), answer "NIL FETCH
    /// responses" and OK (4.1.3), or refuse the EXPUNGE (4.1.4). A Maildir cannot keep a
    /// file another process unlinked, and a NO makes clients treat the whole FETCH as
    /// failed (Mark Crispin, the editor of RFC 3501, called NO to FETCH broken); so postern
    /// does 4.1.1 as far as it can and 4.1.3 for the rest, with a tagged OK, as Dovecot does.
    /// A section is `NIL` (a valid nstring) rather than left out, so a client that asked
    /// for it sees an answer; an item with no valid NIL form and nothing cached is left out.
    fn write_remnant(&self, mailbox: &mut Mailbox, index: usize, out: &mut Vec<u8>) {
        let blobs: Vec<(&'static str, Option<Vec<u8>>)> = self
            .cached_kinds
            .iter()
            .map(|&kind| (kind, mailbox.cached(index, kind)))
            .collect();
        let size = if self.wants_size {
            mailbox.wire_size_known(index)
        } else {
            None
        };
        let values = MetaValues {
            mailbox,
            index,
            entry: mailbox.message(index),
            size,
            blobs: &blobs,
        };
        let start = out.len();
        let mut sep = self.start_line(out, &values);
        let items: Vec<Planned<'_>> = match &self.lines {
            Lines::Meta(items) => items.iter().map(|&m| Planned::Meta(m)).collect(),
            Lines::WithContent { items, .. } => items.clone(),
        };
        for item in items {
            match item {
                Planned::Meta(Meta::Rfc822Size) if size.is_none() => {}
                Planned::Meta(Meta::Cached(kind))
                    if !blobs.iter().any(|(k, b)| *k == kind && b.is_some()) => {}
                Planned::Meta(meta) => {
                    sep.write(out);
                    write_meta(out, meta, &values);
                }
                // A size has no NIL form (RFC 3516 §9 `number`): left out like RFC822.SIZE.
                Planned::Content(Content::BinarySize { .. }) => {}
                Planned::Content(content) => {
                    sep.write(out);
                    out.extend_from_slice(content_label(content).as_bytes());
                    out.extend_from_slice(b" NIL");
                }
            }
        }
        if sep.started {
            out.extend_from_slice(b")\r\n");
        } else {
            // Nothing left to say about it: no line (an empty FETCH list is not IMAP).
            out.truncate(start);
        }
    }

    /// The line when the message's file can be read.
    fn write_whole(
        &self,
        mailbox: &mut Mailbox,
        index: usize,
        out: &mut Vec<u8>,
        stats: &mut FetchStats,
    ) -> Result<Written, StoreError> {
        let mut blobs: Vec<(&'static str, Option<Vec<u8>>)> = self
            .cached_kinds
            .iter()
            .map(|&kind| (kind, mailbox.cached(index, kind)))
            .collect();
        let miss_need = blobs
            .iter()
            .filter(|(_, b)| b.is_none())
            .map(|(kind, _)| {
                if *kind == "envelope-2" {
                    Need::Header
                } else {
                    Need::Whole
                }
            })
            .max()
            .unwrap_or(Need::Nothing);
        match &self.lines {
            Lines::Meta(items) => {
                let message = match miss_need {
                    Need::Nothing => None,
                    need => Some(load(mailbox, index, need)?),
                };
                let head = self.prepare(mailbox, index, message.as_ref(), miss_need, &mut blobs)?;
                let values = head.values(mailbox, index, &blobs);
                let mut sep = self.start_line(out, &values);
                for &item in items {
                    sep.write(out);
                    write_meta(out, item, &values);
                }
                self.end_line(out, sep, head.flags_changed, &values);
            }
            Lines::WithContent { items, need } => {
                let need = miss_need.max(*need);
                let message = load(mailbox, index, need)?;
                // Before \Seen is set and before any byte of the line is written.
                if let Err(unknown) = binary_decodable(items, &message) {
                    return Ok(Written::UnknownCte(unknown));
                }
                let head = self.prepare(mailbox, index, Some(&message), need, &mut blobs)?;
                let values = head.values(mailbox, index, &blobs);
                let mut sep = self.start_line(out, &values);
                for &item in items {
                    sep.write(out);
                    match item {
                        Planned::Meta(meta) => write_meta(out, meta, &values),
                        Planned::Content(content) => write_content(out, content, &message, stats),
                    }
                }
                self.end_line(out, sep, head.flags_changed, &values);
            }
        }
        Ok(Written::Whole)
    }

    /// Everything before the line is written: the size, the cache texts a miss computes
    /// from `message`, and the implicit \Seen.
    fn prepare(
        &self,
        mailbox: &mut Mailbox,
        index: usize,
        message: Option<&Message>,
        need: Need,
        blobs: &mut [(&'static str, Option<Vec<u8>>)],
    ) -> Result<Prepared, StoreError> {
        let size = match (message, self.wants_size) {
            (_, false) => None,
            (Some(m), true) if need == Need::Whole => Some(m.raw().len() as u64),
            // A header-only read does not know the size: the name or the size cache does.
            (_, true) => Some(mailbox.wire_size(index)?),
        };
        if let Some(m) = message {
            for (kind, blob) in blobs.iter_mut().filter(|(_, b)| b.is_none()) {
                let bytes = encode_cacheable(kind, m);
                mailbox.cache(index, kind, bytes.clone());
                *blob = Some(bytes);
            }
        }
        let flags_changed = self.marks_seen && mark_seen(mailbox, index);
        Ok(Prepared {
            size,
            flags_changed,
        })
    }

    /// `* n FETCH (` and, for UID FETCH, the UID.
    fn start_line(&self, out: &mut Vec<u8>, values: &MetaValues<'_>) -> Separator {
        out.extend_from_slice(format!("* {} FETCH (", values.index + 1).as_bytes());
        let mut sep = Separator::default();
        if self.uid_first {
            sep.write(out);
            write_meta(out, Meta::Uid, values);
        }
        sep
    }

    /// FLAGS when \Seen was just set and not asked for, and `)`.
    fn end_line(
        &self,
        out: &mut Vec<u8>,
        mut sep: Separator,
        flags_changed: bool,
        values: &MetaValues<'_>,
    ) {
        if flags_changed && !self.wants_flags {
            sep.write(out);
            write_meta(out, Meta::Flags, values);
        }
        out.extend_from_slice(b")\r\n");
    }
}

/// Whether every BINARY item of the plan names a part whose encoding can be undone.
fn binary_decodable(items: &[Planned<'_>], message: &Message) -> Result<(), message::UnknownCte> {
    items.iter().try_for_each(|item| match item {
        Planned::Content(Content::Binary { part, .. } | Content::BinarySize { part }) => {
            message.binary_decodable(part)
        }
        _ => Ok(()),
    })
}

/// What [`FetchPlan::prepare`] found out about one message.
struct Prepared {
    size: Option<u64>,
    flags_changed: bool,
}

impl Prepared {
    fn values<'a>(
        &self,
        mailbox: &'a Mailbox,
        index: usize,
        blobs: &'a [(&'static str, Option<Vec<u8>>)],
    ) -> MetaValues<'a> {
        MetaValues {
            mailbox,
            index,
            entry: mailbox.message(index),
            size: self.size,
            blobs,
        }
    }
}

/// Sets \Seen implicitly; true when the flags changed (so FLAGS is reported).
fn mark_seen(mailbox: &mut Mailbox, index: usize) -> bool {
    let entry = mailbox.message(index);
    if entry.flags.contains(Flags::SEEN) {
        return false;
    }
    let mut flags = entry.flags;
    flags.insert(Flags::SEEN);
    let keywords = entry.keywords.to_vec();
    match mailbox.set_flags(index, flags, &keywords) {
        Ok(_) => true,
        Err(err) => {
            log::warn!("could not set \\Seen: {err}");
            false
        }
    }
}

/// The space between items of a FETCH line.
#[derive(Default)]
struct Separator {
    started: bool,
}

impl Separator {
    fn write(&mut self, out: &mut Vec<u8>) {
        if self.started {
            out.push(b' ');
        }
        self.started = true;
    }
}

fn write_meta(out: &mut Vec<u8>, item: Meta, values: &MetaValues<'_>) {
    let entry = values.entry;
    match item {
        Meta::Uid => out.extend_from_slice(format!("UID {}", entry.uid).as_bytes()),
        Meta::Flags => {
            out.extend_from_slice(b"FLAGS ");
            write_flag_list(out, entry);
        }
        Meta::InternalDate => {
            out.extend_from_slice(b"INTERNALDATE ");
            let date = values.mailbox.internal_date(values.index);
            write_string(out, format_internal_date(date).as_bytes());
        }
        Meta::SaveDate => {
            // RFC 8514 §3: NIL where the save date cannot be known (a name without
            // its leading time).
            out.extend_from_slice(b"SAVEDATE ");
            match save_time(entry.basename) {
                Some(t) => write_string(out, format_internal_date(t).as_bytes()),
                None => out.extend_from_slice(b"NIL"),
            }
        }
        Meta::EmailId => {
            let id = objectid::email_id(entry.basename);
            out.extend_from_slice(format!("EMAILID ({id})").as_bytes());
        }
        // RFC 8474 §5.2: a server that does not thread answers THREADID NIL. postern's
        // THREAD command threads on request, per folder; a THREADID must stay the same
        // for a message across folders and sessions, which needs a store of its own.
        Meta::ThreadId => out.extend_from_slice(b"THREADID NIL"),
        Meta::Rfc822Size => {
            let size = values.size.unwrap_or(entry.size);
            out.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
        }
        Meta::ModSeq => {
            // The values of the last sync: a \Seen this FETCH just set gets its own
            // mod-sequence at the next sync, which a later CHANGEDSINCE then reports.
            let m = values.mailbox.modseq(values.index);
            let m = m.or(values.mailbox.highest_modseq()).unwrap_or(1).max(1);
            out.extend_from_slice(format!("MODSEQ ({m})").as_bytes());
        }
        Meta::Cached(kind) => {
            let label: &[u8] = match kind {
                "envelope-2" => b"ENVELOPE ",
                "body-2" => b"BODY ",
                "preview-1" => b"PREVIEW ",
                _ => b"BODYSTRUCTURE ",
            };
            out.extend_from_slice(label);
            let blob = values
                .blobs
                .iter()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, b)| b.as_deref())
                .unwrap_or(b"NIL");
            out.extend_from_slice(blob);
        }
    }
}

/// How the response names a content item: `RFC822`, `BODY[1.TEXT]<0>`...
fn content_label(item: Content<'_>) -> String {
    match item {
        Content::Rfc822 => "RFC822".to_string(),
        Content::Rfc822Header => "RFC822.HEADER".to_string(),
        Content::Rfc822Text => "RFC822.TEXT".to_string(),
        Content::Section { section, partial } => section_label(section, partial),
        Content::Binary { part, partial } => binary_label("BINARY", part, partial),
        Content::BinarySize { part } => binary_label("BINARY.SIZE", part, None),
    }
}

/// `BINARY[1.2]<0>` / `BINARY.SIZE[1]` (RFC 3516 §9 `msg-att-static`).
fn binary_label(name: &str, part: &[u32], partial: Option<Partial>) -> String {
    let parts: Vec<String> = part.iter().map(u32::to_string).collect();
    let mut label = format!("{name}[{}]", parts.join("."));
    if let Some(p) = partial {
        label.push_str(&format!("<{}>", p.offset));
    }
    label
}

/// The decoded part, empty when the part does not exist (as [`Message::section`] answers
/// for BODY). An unknown encoding was refused before the line began, so it cannot occur.
fn binary_bytes<'m>(message: &'m Message, part: &[u32]) -> Cow<'m, [u8]> {
    message
        .binary(part)
        .ok()
        .flatten()
        .unwrap_or(Cow::Borrowed(b""))
}

/// A literal for decoded bytes: `literal8` (`~{n}`) when they hold a NUL, which a plain
/// literal may not carry (RFC 3516 §4.2, RFC 3501 §4.3), a plain literal otherwise, so
/// clients without literal8 parsing see nothing new for text parts.
fn write_literal8(out: &mut Vec<u8>, bytes: &[u8]) {
    if memchr::memchr(0, bytes).is_some() {
        out.extend_from_slice(format!("~{{{}}}\r\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
    } else {
        write_literal(out, bytes);
    }
}

fn write_content(out: &mut Vec<u8>, item: Content<'_>, message: &Message, stats: &mut FetchStats) {
    match item {
        Content::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            write_literal(out, message.raw());
            stats.bodies += 1;
        }
        Content::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            write_literal(out, message.header());
            stats.headers += 1;
        }
        Content::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            write_literal(out, message.text());
            stats.bodies += 1;
        }
        Content::Section { section, partial } => {
            out.extend_from_slice(section_label(section, partial).as_bytes());
            out.push(b' ');
            let bytes: Cow<'_, [u8]> = message
                .section(&section.part, &section_kind(&section.text))
                .unwrap_or(Cow::Borrowed(b""));
            write_literal(out, apply_partial(&bytes, partial));
            if matches!(
                section.text,
                Some(
                    SectionText::Header
                        | SectionText::HeaderFields(_)
                        | SectionText::HeaderFieldsNot(_)
                )
            ) {
                stats.headers += 1;
            } else {
                stats.bodies += 1;
            }
        }
        Content::Binary { part, partial } => {
            out.extend_from_slice(binary_label("BINARY", part, partial).as_bytes());
            out.push(b' ');
            write_literal8(out, apply_partial(&binary_bytes(message, part), partial));
            stats.bodies += 1;
        }
        Content::BinarySize { part } => {
            let size = binary_bytes(message, part).len();
            out.extend_from_slice(binary_label("BINARY.SIZE", part, None).as_bytes());
            out.extend_from_slice(format!(" {size}").as_bytes());
        }
    }
}
