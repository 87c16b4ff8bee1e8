//! FETCH (RFC 3501 §6.4.5, §9) and its data items, sections and partials, with BINARY
//! (RFC 3516) and the PARTIAL modifier of UID FETCH (RFC 9394).

use super::{PResult, Parser};
use crate::imap::command::{CommandBody, FetchItem, Partial, Section, SectionText};

impl Parser {
    /// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
    ///         "(" fetch-att *(SP fetch-att) ")")` (RFC 3501 §9), after the name.
    pub(super) fn fetch(&mut self, uid: bool) -> PResult<CommandBody> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mut items = Vec::new();
        if self.eat(b'(') {
            loop {
                self.fetch_att(&mut items, false)?;
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            self.fetch_att(&mut items, true)?;
        }
        let items = once_each(items);
        if self.eat_word(" (") {
            // `fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"` (RFC 4466
            // §2.4); those served are `"PARTIAL" SP partial-range` (RFC 9394 §3.2), which
            // only UID FETCH may carry, and `CHANGEDSINCE n [SP "VANISHED"]` (RFC 7162).
            if self.eat_word_sp("CHANGEDSINCE") {
                return self.fetch_changed_since(uid, set, items);
            }
            if !self.eat_word_sp("PARTIAL") {
                return Err("unknown FETCH modifier".into());
            }
            if !uid {
                return Err("PARTIAL is a UID FETCH modifier (RFC 9394)".into());
            }
            let range = self.partial_range()?;
            self.expect(b')')?;
            return Ok(CommandBody::FetchPartial { set, items, range });
        }
        Ok(CommandBody::Fetch { uid, set, items })
    }

    /// After `CHANGEDSINCE `: `mod-sequence-value [SP "VANISHED"] ")"`, in either order
    /// (RFC 7162 §3.2.6 names VANISHED as its own modifier, valid only with CHANGEDSINCE
    /// and only in UID FETCH).
    fn fetch_changed_since(
        &mut self,
        uid: bool,
        set: crate::imap::command::SequenceSet,
        items: Vec<FetchItem>,
    ) -> PResult<CommandBody> {
        let changed_since = self.number64()?;
        let mut vanished = false;
        while self.eat(b' ') {
            if !self.eat_word("VANISHED") || vanished {
                return Err("unknown FETCH modifier".into());
            }
            vanished = true;
        }
        self.expect(b')')?;
        if vanished && !uid {
            return Err("VANISHED is a UID FETCH modifier (RFC 7162)".into());
        }
        Ok(CommandBody::FetchChangedSince {
            uid,
            set,
            items,
            changed_since,
            vanished,
        })
    }

    /// `fetch-att` (RFC 3501 §9, `BINARY` items from RFC 3516); with `macros`, also
    /// `ALL` / `FAST` / `FULL`, which stand only alone.
    pub(super) fn fetch_att(&mut self, items: &mut Vec<FetchItem>, macros: bool) -> PResult<()> {
        use FetchItem as F;
        let name = self
            .take_while(|b| b.is_ascii_alphanumeric() || b == b'.')
            .to_ascii_uppercase();
        let name = String::from_utf8_lossy(&name).into_owned();
        let item = match name.as_str() {
            "ALL" | "FAST" | "FULL" if macros => {
                items.extend([F::Flags, F::InternalDate, F::Rfc822Size]);
                if name != "FAST" {
                    items.push(F::Envelope);
                }
                if name == "FULL" {
                    items.push(F::Body);
                }
                return Ok(());
            }
            "ENVELOPE" => F::Envelope,
            "FLAGS" => F::Flags,
            "INTERNALDATE" => F::InternalDate,
            "RFC822" => F::Rfc822,
            "RFC822.HEADER" => F::Rfc822Header,
            "RFC822.SIZE" => F::Rfc822Size,
            "RFC822.TEXT" => F::Rfc822Text,
            "UID" => F::Uid,
            "MODSEQ" => F::ModSeq,
            "BODYSTRUCTURE" => F::BodyStructure,
            "BODY" if self.peek() != Some(b'[') => F::Body,
            "BODY" | "BODY.PEEK" => {
                let section = self.section()?;
                let partial = self.partial()?;
                F::BodySection {
                    peek: name == "BODY.PEEK",
                    section,
                    partial,
                }
            }
            "BINARY" | "BINARY.PEEK" => {
                let part = self.binary_section()?;
                let partial = self.partial()?;
                F::Binary {
                    peek: name == "BINARY.PEEK",
                    part,
                    partial,
                }
            }
            "BINARY.SIZE" => F::BinarySize {
                part: self.binary_section()?,
            },
            "PREVIEW" => F::Preview {
                lazy: self.preview_modifiers()?,
            },
            "SAVEDATE" => F::SaveDate,
            "EMAILID" => F::EmailId,
            "THREADID" => F::ThreadId,
            "" => return Err("expected a fetch item".into()),
            other => return Err(format!("unknown fetch item {other}")),
        };
        items.push(item);
        Ok(())
    }

    /// `section-part = nz-number *("." nz-number)` (RFC 3501 §9), possibly empty.
    pub(super) fn part_numbers(&mut self) -> PResult<Vec<u32>> {
        let mut part = Vec::new();
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            part.push(self.nz_number()?);
            if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(part)
    }

    /// `section = "[" [section-spec] "]"` (RFC 3501 §9).
    pub(super) fn section(&mut self) -> PResult<Section> {
        self.expect(b'[')?;
        let part = self.part_numbers()?;
        if !part.is_empty() && !self.eat(b'.') {
            self.expect(b']')?;
            return Ok(Section { part, text: None });
        }
        if part.is_empty() && self.eat(b']') {
            return Ok(Section::default());
        }
        let word = self
            .take_while(|b| b.is_ascii_alphabetic() || b == b'.')
            .to_ascii_uppercase();
        let text = match word.as_slice() {
            b"HEADER" => SectionText::Header,
            b"TEXT" => SectionText::Text,
            b"MIME" if !part.is_empty() => SectionText::Mime,
            b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
                self.sp()?;
                let names = self.header_list()?;
                if word.len() == b"HEADER.FIELDS".len() {
                    SectionText::HeaderFields(names)
                } else {
                    SectionText::HeaderFieldsNot(names)
                }
            }
            _ => return Err("invalid section".into()),
        };
        self.expect(b']')?;
        Ok(Section {
            part,
            text: Some(text),
        })
    }

    /// `header-list = "(" header-fld-name *(SP header-fld-name) ")"` (RFC 3501 §9).
    pub(super) fn header_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(')?;
        let mut names = Vec::new();
        loop {
            let n = self.astring()?;
            if n.is_empty() || !n.iter().all(|&b| b.is_ascii_graphic() && b != b':') {
                return Err("invalid header field name".into());
            }
            names.push(String::from_utf8_lossy(&n).into_owned());
            if self.eat(b')') {
                return Ok(names);
            }
            self.sp()?;
        }
    }

    /// `section-binary = "[" [section-part] "]"` (RFC 3516 §4.2).
    pub(super) fn binary_section(&mut self) -> PResult<Vec<u32>> {
        self.expect(b'[')?;
        let part = self.part_numbers()?;
        self.expect(b']')?;
        Ok(part)
    }

    /// `[SP "(" preview-mod *(SP preview-mod) ")"]` after PREVIEW, with
    /// `preview-mod = "LAZY"` (RFC 8970 formal syntax); true when LAZY was given.
    fn preview_modifiers(&mut self) -> PResult<bool> {
        if !(self.peek() == Some(b' ') && self.peek_at(1) == Some(b'(')) {
            return Ok(false);
        }
        self.pos += 2;
        loop {
            if self.keyword()? != "LAZY" {
                return Err("unknown PREVIEW modifier".into());
            }
            if self.eat(b')') {
                return Ok(true);
            }
            self.sp()?;
        }
    }

    /// `["<" number "." nz-number ">"]` after a section (RFC 3501 §9 `fetch-att`).
    pub(super) fn partial(&mut self) -> PResult<Option<Partial>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let offset = self.number()?;
        self.expect(b'.')?;
        let count = self.nz_number()?;
        self.expect(b'>')?;
        Ok(Some(Partial { offset, count }))
    }
}

/// The items in first-named order, each response item once: a client that names an item
/// twice (`INTERNALDATE INTERNALDATE`) gets it once per `* n FETCH`, as Dovecot answers
/// too; a client keeps one value per item name (RFC 3501 §7.4.2), so a repeat is only
/// noise, and a BODY[] named twice would be sent twice. A
/// section and its `.PEEK` answer as the same item; the one kept peeks only if every
/// naming did, so the \Seen a `BODY[...]` implies is not lost. Different section specs or
/// partials are different items.
fn once_each(items: Vec<FetchItem>) -> Vec<FetchItem> {
    let mut kept: Vec<FetchItem> = Vec::with_capacity(items.len());
    for item in items {
        match kept.iter_mut().find(|k| same_response_item(k, &item)) {
            Some(FetchItem::BodySection { peek, .. } | FetchItem::Binary { peek, .. }) => {
                *peek &= item_peeks(&item);
            }
            // LAZY only when every naming was lazy.
            Some(FetchItem::Preview { lazy }) => {
                *lazy &= matches!(item, FetchItem::Preview { lazy: true });
            }
            Some(_) => {}
            None => kept.push(item),
        }
    }
    kept
}

/// Whether `a` and `b` answer with the same item name and data (`.PEEK` aside).
fn same_response_item(a: &FetchItem, b: &FetchItem) -> bool {
    use FetchItem as F;
    match (a, b) {
        (
            F::BodySection {
                section: s1,
                partial: p1,
                ..
            },
            F::BodySection {
                section: s2,
                partial: p2,
                ..
            },
        ) => s1 == s2 && p1 == p2,
        (
            F::Binary {
                part: s1,
                partial: p1,
                ..
            },
            F::Binary {
                part: s2,
                partial: p2,
                ..
            },
        ) => s1 == s2 && p1 == p2,
        // LAZY or not, one PREVIEW item answers (RFC 8970).
        (F::Preview { .. }, F::Preview { .. }) => true,
        _ => a == b,
    }
}

fn item_peeks(item: &FetchItem) -> bool {
    matches!(
        item,
        FetchItem::BodySection { peek: true, .. } | FetchItem::Binary { peek: true, .. }
    )
}
