//! The FETCH engine: one `* n FETCH (...)` line per message, reading a message file only
//! for the items that need its bytes, and only its header when that is enough.

use std::borrow::Cow;
use std::io::Read;

use super::cmd_mailbox::store_failure;
use super::cmd_message::{check_sequence_set, resolve_set};
use super::command::{FetchItem, Partial, Section, SectionText, SequenceSet};
use super::datetime::format_internal_date;
use super::flags::write_flag_list;
use super::message_syntax as imap_encode;
use super::session::{Outcome, Session};
use super::syntax::{write_literal, write_string};
use crate::message::{self, Message, SectionKind};
use crate::store::{Flags, Mailbox, StoreError};

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
        FetchItem::Flags | FetchItem::InternalDate | FetchItem::Uid | FetchItem::Rfc822Size => {
            Need::Nothing
        }
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

/// What one `* n FETCH` line is built from.
#[derive(Clone, Copy)]
struct FetchLine<'a> {
    index: usize,
    uid: bool,
    message: Option<&'a Message>,
    /// RFC822.SIZE when the message was not read whole.
    wire_size: Option<u64>,
    /// ENVELOPE / BODY / BODYSTRUCTURE text, from the cache or just computed.
    blobs: &'a [(&'static str, Option<Vec<u8>>)],
    /// \Seen was just set implicitly: report FLAGS even if not asked.
    add_flags: bool,
}

/// Items whose IMAP text is kept in the folder's caches once computed, by cache kind.
fn cache_kind(item: &FetchItem) -> Option<&'static str> {
    match item {
        FetchItem::Envelope => Some("envelope"),
        FetchItem::Body => Some("body"),
        FetchItem::BodyStructure => Some("bodystructure"),
        _ => None,
    }
}

/// The IMAP text of a cacheable item, computed from the message.
fn encode_cacheable(kind: &str, message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    match kind {
        "envelope" => imap_encode::write_envelope(&mut out, &message.envelope()),
        extensible => imap_encode::write_body_structure(
            &mut out,
            &message.body_structure(),
            extensible == "bodystructure",
        ),
    }
    out
}

/// Whether fetching this item marks the message \Seen (RFC 3501 §6.4.5).
fn sets_seen(item: &FetchItem) -> bool {
    matches!(
        item,
        FetchItem::Rfc822 | FetchItem::Rfc822Text | FetchItem::BodySection { peek: false, .. }
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

impl Session<'_> {
    pub fn cmd_fetch(&mut self, uid: bool, set: &SequenceSet, items: &[FetchItem]) -> Outcome {
        if items
            .iter()
            .any(|i| matches!(i, FetchItem::Binary { .. } | FetchItem::BinarySize { .. }))
        {
            return Outcome::bad("BINARY is not supported");
        }
        let mut selected = self.selected.take().expect("selected state");
        let outcome = self.fetch_in(&mut selected.mailbox, uid, set, items);
        self.selected = Some(selected);
        outcome
    }

    fn fetch_in(
        &mut self,
        mailbox: &mut Mailbox,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
    ) -> Outcome {
        if let Err(o) = check_sequence_set(mailbox, set, uid) {
            return o;
        }
        // What the items need of the message, apart from those a cache may answer.
        let base_need = items
            .iter()
            .filter(|i| cache_kind(i).is_none())
            .map(need_of)
            .max()
            .unwrap_or(Need::Nothing);
        let cached_kinds: Vec<&'static str> = items.iter().filter_map(cache_kind).collect();
        let marks_seen = !mailbox.read_only() && items.iter().any(sets_seen);
        let wants_flags = items.contains(&FetchItem::Flags);
        let wants_size = items.contains(&FetchItem::Rfc822Size);
        let mut gone = 0usize;
        for index in resolve_set(mailbox, set, uid) {
            let mut message = None;
            let mut wire_size = None;
            let mut blobs: Vec<(&'static str, Option<Vec<u8>>)> = cached_kinds
                .iter()
                .map(|&kind| (kind, mailbox.cached(index, kind)))
                .collect();
            let need = blobs
                .iter()
                .filter(|(_, b)| b.is_none())
                .map(|(kind, _)| {
                    if *kind == "envelope" {
                        Need::Header
                    } else {
                        Need::Whole
                    }
                })
                .fold(base_need, Need::max);
            let loaded = (|| -> Result<(), StoreError> {
                if need > Need::Nothing {
                    message = Some(load(mailbox, index, need)?);
                }
                // A whole message knows its size; a header-only read does not.
                if wants_size && need < Need::Whole {
                    wire_size = Some(mailbox.wire_size(index)?);
                }
                Ok(())
            })();
            match loaded {
                Ok(()) => {}
                Err(StoreError::NoSuchMessage) => {
                    // Expunged by another session; EXPUNGE may not be sent now.
                    gone += 1;
                    continue;
                }
                Err(err) => return store_failure(&err),
            }
            for (kind, blob) in &mut blobs {
                if blob.is_none()
                    && let Some(m) = &message
                {
                    let bytes = encode_cacheable(kind, m);
                    mailbox.cache(index, kind, bytes.clone());
                    *blob = Some(bytes);
                }
            }
            let mut flags_changed = false;
            if marks_seen {
                let entry = &mailbox.messages()[index];
                if !entry.flags.contains(Flags::SEEN) {
                    let mut flags = entry.flags;
                    flags.insert(Flags::SEEN);
                    let keywords = entry.keywords.clone();
                    if let Err(err) = mailbox.set_flags(index, flags, &keywords) {
                        log::warn!("could not set \\Seen: {err}");
                    } else {
                        flags_changed = true;
                    }
                }
            }
            let line = FetchLine {
                index,
                uid,
                message: message.as_ref(),
                wire_size,
                blobs: &blobs,
                add_flags: flags_changed && !wants_flags,
            };
            self.write_fetch_line(mailbox, items, &line);
            if let Err(err) = self.flush_if_large() {
                log::debug!("client went away during FETCH: {err}");
                mailbox.save_caches();
                return Outcome::Done;
            }
        }
        mailbox.save_caches();
        if gone > 0 {
            return Outcome::no("[EXPUNGEISSUED] Some messages were expunged by another session");
        }
        Outcome::ok(if uid {
            "UID FETCH completed"
        } else {
            "FETCH completed"
        })
    }

    fn write_fetch_line(&mut self, mailbox: &Mailbox, items: &[FetchItem], line: &FetchLine<'_>) {
        let FetchLine {
            index,
            uid,
            message,
            wire_size,
            blobs,
            add_flags,
        } = *line;
        let blob = |kind: &str| -> &[u8] {
            blobs
                .iter()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, b)| b.as_deref())
                .unwrap_or(b"NIL")
        };
        let entry = &mailbox.messages()[index];
        let mut out = std::mem::take(&mut self.out);
        out.extend_from_slice(format!("* {} FETCH (", index + 1).as_bytes());
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b' ');
            }
            first = false;
        };
        if uid && !items.contains(&FetchItem::Uid) {
            sep(&mut out);
            out.extend_from_slice(format!("UID {}", entry.uid).as_bytes());
        }
        for item in items {
            sep(&mut out);
            match item {
                FetchItem::Uid => out.extend_from_slice(format!("UID {}", entry.uid).as_bytes()),
                FetchItem::Flags => {
                    out.extend_from_slice(b"FLAGS ");
                    write_flag_list(&mut out, entry);
                }
                FetchItem::InternalDate => {
                    out.extend_from_slice(b"INTERNALDATE ");
                    write_string(
                        &mut out,
                        format_internal_date(mailbox.internal_date(index)).as_bytes(),
                    );
                }
                FetchItem::Rfc822Size => {
                    let size = match (wire_size, message) {
                        (Some(w), _) => w,
                        (None, Some(m)) => m.raw().len() as u64,
                        (None, None) => entry.size,
                    };
                    out.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
                }
                FetchItem::Envelope => {
                    out.extend_from_slice(b"ENVELOPE ");
                    out.extend_from_slice(blob("envelope"));
                }
                FetchItem::Body => {
                    out.extend_from_slice(b"BODY ");
                    out.extend_from_slice(blob("body"));
                }
                FetchItem::BodyStructure => {
                    out.extend_from_slice(b"BODYSTRUCTURE ");
                    out.extend_from_slice(blob("bodystructure"));
                }
                FetchItem::Rfc822 => {
                    out.extend_from_slice(b"RFC822 ");
                    write_literal(&mut out, message.expect("loaded").raw());
                    self.fetched_bodies += 1;
                }
                FetchItem::Rfc822Header => {
                    out.extend_from_slice(b"RFC822.HEADER ");
                    write_literal(&mut out, message.expect("loaded").header());
                    self.fetched_headers += 1;
                }
                FetchItem::Rfc822Text => {
                    out.extend_from_slice(b"RFC822.TEXT ");
                    write_literal(&mut out, message.expect("loaded").text());
                    self.fetched_bodies += 1;
                }
                FetchItem::BodySection {
                    section, partial, ..
                } => {
                    out.extend_from_slice(section_label(section, *partial).as_bytes());
                    out.push(b' ');
                    let m = message.expect("loaded");
                    let bytes: Cow<'_, [u8]> = m
                        .section(&section.part, &section_kind(&section.text))
                        .unwrap_or(Cow::Borrowed(b""));
                    write_literal(&mut out, apply_partial(&bytes, *partial));
                    if matches!(
                        section.text,
                        Some(
                            SectionText::Header
                                | SectionText::HeaderFields(_)
                                | SectionText::HeaderFieldsNot(_)
                        )
                    ) {
                        self.fetched_headers += 1;
                    } else {
                        self.fetched_bodies += 1;
                    }
                }
                FetchItem::Binary { .. } | FetchItem::BinarySize { .. } => {}
            }
        }
        if add_flags {
            sep(&mut out);
            out.extend_from_slice(b"FLAGS ");
            write_flag_list(&mut out, entry);
        }
        out.extend_from_slice(b")\r\n");
        self.out = out;
    }
}
