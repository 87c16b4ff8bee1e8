//! The SEARCH engine: evaluates a key tree per message, reading a message only when a key
//! needs its header or body, and only as much as needed.

use std::time::{SystemTime, UNIX_EPOCH};

use super::command::{Date, PartialRange, SearchKey, SearchReturn};
use super::datetime::days_from_civil;
use super::fetch::load_message;
use super::sets::resolve_set;
use crate::message::Message;
use crate::store::filename::save_time;
use crate::store::fts::Prefilter;
use crate::store::objectid;
use crate::store::{Flags, Mailbox, MessageEntry, StoreError};

/// How the strings of a `SEARCH CHARSET x` command become UTF-8, the text the engine
/// compares (RFC 3501 §6.4.4: a server should accept every charset it can convert).
#[derive(Clone, Copy)]
pub enum SearchCharset {
    /// UTF-8 and US-ASCII: the bytes as they are.
    Utf8,
    /// Any label encoding_rs knows (ISO-8859-*, windows-125x, KOI8-R/U, ISO-2022-JP,
    /// Shift_JIS, EUC-JP/KR, GB2312/GBK/GB18030, Big5, UTF-16LE/BE, ...).
    Encoding(&'static encoding_rs::Encoding),
    /// `UTF-16` without an order: its byte order mark, else big-endian (RFC 2781 §4.3).
    Utf16,
    /// What only mail-parser's decoders know (UTF-7, IBM850, ...).
    Other(mail_parser::decoders::charsets::DecoderFnc),
}

impl SearchCharset {
    /// The decoder for a charset name; `None` for a name nothing here knows.
    pub fn named(name: &str) -> Option<SearchCharset> {
        let n = name.trim();
        if n.eq_ignore_ascii_case("UTF-8") || n.eq_ignore_ascii_case("US-ASCII") {
            return Some(SearchCharset::Utf8);
        }
        if n.eq_ignore_ascii_case("UTF-16") {
            return Some(SearchCharset::Utf16);
        }
        if let Some(enc) = encoding_rs::Encoding::for_label(n.as_bytes()) {
            return Some(SearchCharset::Encoding(enc));
        }
        mail_parser::decoders::charsets::map::charset_decoder(n.as_bytes())
            .map(SearchCharset::Other)
    }

    fn decode(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            SearchCharset::Utf8 => bytes.to_vec(),
            SearchCharset::Encoding(enc) => enc
                .decode_without_bom_handling(bytes)
                .0
                .into_owned()
                .into_bytes(),
            SearchCharset::Utf16 => {
                let (enc, rest) = match bytes {
                    [0xff, 0xfe, rest @ ..] => (encoding_rs::UTF_16LE, rest),
                    [0xfe, 0xff, rest @ ..] => (encoding_rs::UTF_16BE, rest),
                    _ => (encoding_rs::UTF_16BE, bytes),
                };
                SearchCharset::Encoding(enc).decode(rest)
            }
            SearchCharset::Other(f) => f(bytes).into_bytes(),
        }
    }

    /// `key` with every search string converted to UTF-8.
    pub fn key_to_utf8(self, key: &SearchKey) -> SearchKey {
        use SearchKey::*;
        let d = |s: &Vec<u8>| self.decode(s);
        match key {
            And(keys) => And(keys.iter().map(|k| self.key_to_utf8(k)).collect()),
            Not(k) => Not(Box::new(self.key_to_utf8(k))),
            Or(a, b) => Or(Box::new(self.key_to_utf8(a)), Box::new(self.key_to_utf8(b))),
            Bcc(s) => Bcc(d(s)),
            Body(s) => Body(d(s)),
            Cc(s) => Cc(d(s)),
            From(s) => From(d(s)),
            Header(name, s) => Header(name.clone(), d(s)),
            Subject(s) => Subject(d(s)),
            Text(s) => Text(d(s)),
            To(s) => To(d(s)),
            other => other.clone(),
        }
    }
}

/// What a key needs of the message.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    Header,
    Whole,
}

fn need_of(key: &SearchKey) -> Need {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().map(need_of).max().unwrap_or(Need::Nothing),
        Not(k) => need_of(k),
        Or(a, b) => need_of(a).max(need_of(b)),
        Bcc(_) | Cc(_) | From(_) | To(_) | Subject(_) | Header(..) | SentBefore(_) | SentOn(_)
        | SentSince(_) => Need::Header,
        Body(_) | Text(_) => Need::Whole,
        _ => Need::Nothing,
    }
}

/// Header fields whose decoded values are kept in the folder's `searchfields` cache: the
/// ones clients search by. Other headers are read from the message.
const CACHED_FIELDS: [&str; 5] = ["From", "To", "Cc", "Bcc", "Subject"];

/// Whether every header a key tree looks at is one of [`CACHED_FIELDS`].
fn only_cached_fields(key: &SearchKey) -> bool {
    use SearchKey::*;
    let cached = |name: &str| CACHED_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
    match key {
        And(keys) => keys.iter().all(only_cached_fields),
        Not(k) => only_cached_fields(k),
        Or(a, b) => only_cached_fields(a) && only_cached_fields(b),
        Header(name, _) => cached(name),
        SentBefore(_) | SentOn(_) | SentSince(_) => false,
        _ => true,
    }
}

/// The decoded values of [`CACHED_FIELDS`], one list per field.
type Fields = Vec<Vec<String>>;

/// Cache text: a line `<field index> <value>` per value (line breaks in values folded).
fn encode_fields(message: &Message) -> Vec<u8> {
    let mut out = String::new();
    for (i, name) in CACHED_FIELDS.iter().enumerate() {
        for v in message.header_values(name) {
            out.push_str(&format!("{i} {}\n", v.replace(['\r', '\n'], " ")));
        }
    }
    out.into_bytes()
}

fn decode_fields(bytes: &[u8]) -> Fields {
    let mut fields: Fields = vec![Vec::new(); CACHED_FIELDS.len()];
    for line in String::from_utf8_lossy(bytes).lines() {
        if let Some((i, v)) = line.split_once(' ')
            && let Ok(i) = i.parse::<usize>()
            && i < fields.len()
        {
            fields[i].push(v.to_string());
        }
    }
    fields
}

/// Cache kind of a message's search texts (see [`Texts`]).
const TEXT_KIND: &str = "searchtext-1";

/// What BODY and TEXT compare of a message, lowercased as [`contains`] lowercases it: the
/// decoded header text and the decoded body text. Kept per message in the folder's
/// `postern-cache.searchtext-1` when `[fts] cache_text` is on, so verifying the full-text
/// index's candidates for a common word reads no message file and parses no MIME.
struct Texts {
    header: String,
    body: String,
}

impl Texts {
    fn of(message: &Message) -> Texts {
        Texts {
            header: message.search_header_text().to_lowercase(),
            body: message.search_body_text().to_lowercase(),
        }
    }

    /// `header length u32 LE, header, body`.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.header.len() + self.body.len());
        out.extend_from_slice(&(self.header.len() as u32).to_le_bytes());
        out.extend_from_slice(self.header.as_bytes());
        out.extend_from_slice(self.body.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Texts> {
        let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let header = bytes.get(4..4 + len)?;
        let body = &bytes[4 + len..];
        Some(Texts {
            header: String::from_utf8(header.to_vec()).ok()?,
            body: String::from_utf8(body.to_vec()).ok()?,
        })
    }
}

/// Whether the only keys of a tree that read the message are BODY and TEXT (what
/// [`Texts`] answers).
fn only_text_keys(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().all(only_text_keys),
        Not(k) => only_text_keys(k),
        Or(a, b) => only_text_keys(a) && only_text_keys(b),
        Body(_) | Text(_) => true,
        other => need_of(other) == Need::Nothing,
    }
}

/// Whether any key compares sizes (they need RFC822.SIZE, which may cost a read).
fn uses_size(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().any(uses_size),
        Not(k) => uses_size(k),
        Or(a, b) => uses_size(a) || uses_size(b),
        Larger(_) | Smaller(_) => true,
        _ => false,
    }
}

/// Case-insensitive substring search on decoded text (RFC 3501 §6.4.4).
fn contains(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(needle)
}

fn day_number(date: &Date) -> i64 {
    days_from_civil(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
}

/// Everything one message's evaluation may look at.
struct Candidate<'a> {
    seq: u32,
    count: u32,
    max_uid: u32,
    entry: MessageEntry<'a>,
    mailbox: &'a Mailbox,
    index: usize,
    message: Option<&'a Message>,
    /// From/To/Cc/Bcc/Subject from the cache, when the message was not read.
    fields: Option<&'a Fields>,
    /// BODY/TEXT texts from the cache or just made, lowercased.
    texts: Option<&'a Texts>,
    /// RFC822.SIZE, when a key needs it.
    wire_size: Option<u64>,
    now: i64,
}

impl Candidate<'_> {
    fn header_has(&self, name: &str, needle: &[u8]) -> bool {
        let needle = String::from_utf8_lossy(needle).to_lowercase();
        let cached = CACHED_FIELDS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
            .and_then(|i| Some(self.fields?[i].clone()));
        let values = match cached {
            Some(values) => values,
            None => self
                .message
                .map(|m| m.header_values(name))
                .unwrap_or_default(),
        };
        if needle.is_empty() {
            return !values.is_empty();
        }
        values.iter().any(|v| contains(v, &needle))
    }

    /// The save date's day (RFC 8514), UTC as INTERNALDATE's. A message whose name
    /// does not carry its save time is searched by its internal date instead: it was
    /// saved no later than postern first saw it, and a cleanup by SAVEDBEFORE must not
    /// pass over it forever.
    fn saved_day(&self) -> i64 {
        save_time(self.entry.basename)
            .unwrap_or_else(|| self.mailbox.internal_date(self.index))
            .div_euclid(86400)
    }

    fn sent_day(&self) -> Option<i64> {
        let (y, m, d) = self.message?.sent_date()?;
        Some(days_from_civil(y, m, d))
    }

    fn matches(&self, key: &SearchKey) -> bool {
        use SearchKey::*;
        let e = self.entry;
        let internal_date = || self.mailbox.internal_date(self.index);
        let internal_day = || internal_date().div_euclid(86400);
        match key {
            And(keys) => keys.iter().all(|k| self.matches(k)),
            Not(k) => !self.matches(k),
            Or(a, b) => self.matches(a) || self.matches(b),
            SequenceSet(set) => set.contains(self.seq, self.count),
            Uid(set) => set.contains(e.uid, self.max_uid),
            All => true,
            Answered => e.flags.contains(Flags::ANSWERED),
            Deleted => e.flags.contains(Flags::DELETED),
            Draft => e.flags.contains(Flags::DRAFT),
            Flagged => e.flags.contains(Flags::FLAGGED),
            Seen => e.flags.contains(Flags::SEEN),
            Unanswered => !e.flags.contains(Flags::ANSWERED),
            Undeleted => !e.flags.contains(Flags::DELETED),
            Undraft => !e.flags.contains(Flags::DRAFT),
            Unflagged => !e.flags.contains(Flags::FLAGGED),
            Unseen => !e.flags.contains(Flags::SEEN),
            Recent => e.recent,
            New => e.recent && !e.flags.contains(Flags::SEEN),
            Old => !e.recent,
            Keyword(k) => e.keywords.iter().any(|h| h.eq_ignore_ascii_case(k)),
            Unkeyword(k) => !e.keywords.iter().any(|h| h.eq_ignore_ascii_case(k)),
            Before(d) => internal_day() < day_number(d),
            On(d) => internal_day() == day_number(d),
            Since(d) => internal_day() >= day_number(d),
            Older(secs) => self.now - internal_date() >= i64::from(*secs),
            Younger(secs) => self.now - internal_date() <= i64::from(*secs),
            ModSeq(n) => self.mailbox.modseq(self.index).is_some_and(|m| m >= *n),
            SentBefore(d) => self.sent_day().is_some_and(|s| s < day_number(d)),
            SentOn(d) => self.sent_day().is_some_and(|s| s == day_number(d)),
            SentSince(d) => self.sent_day().is_some_and(|s| s >= day_number(d)),
            SavedBefore(d) => self.saved_day() < day_number(d),
            SavedOn(d) => self.saved_day() == day_number(d),
            SavedSince(d) => self.saved_day() >= day_number(d),
            // Every postern folder keeps save dates (in its file names).
            SaveDateSupported => true,
            EmailId(id) => objectid::email_id(e.basename) == *id,
            // No message has a THREADID (FETCH THREADID is NIL, RFC 8474 §5.2).
            ThreadId(_) => false,
            Larger(n) => self.size() > u64::from(*n),
            Smaller(n) => self.size() < u64::from(*n),
            From(s) => self.header_has("From", s),
            To(s) => self.header_has("To", s),
            Cc(s) => self.header_has("Cc", s),
            Bcc(s) => self.header_has("Bcc", s),
            Subject(s) => self.header_has("Subject", s),
            Header(name, s) => self.header_has(name, s),
            Body(s) => {
                let needle = String::from_utf8_lossy(s).to_lowercase();
                if let Some(t) = self.texts {
                    return needle.is_empty() || t.body.contains(&needle);
                }
                self.message
                    .is_some_and(|m| contains(&m.search_body_text(), &needle))
            }
            Text(s) => {
                let needle = String::from_utf8_lossy(s).to_lowercase();
                if let Some(t) = self.texts {
                    return needle.is_empty()
                        || t.header.contains(&needle)
                        || t.body.contains(&needle);
                }
                self.message.is_some_and(|m| {
                    contains(&m.search_header_text(), &needle)
                        || contains(&m.search_body_text(), &needle)
                })
            }
        }
    }

    fn size(&self) -> u64 {
        self.wire_size.unwrap_or(self.entry.size)
    }

    /// The key's value when it can be known without reading the message: substring keys
    /// the full-text index rules out are false (nothing else about them is known), keys
    /// on flags, dates and sizes are evaluated; `None` when the message must be read.
    fn decided(&self, key: &SearchKey, pre: &Prefilter) -> Option<bool> {
        use SearchKey::*;
        let ruled_out = |s: &[u8]| (!pre.may_contain(s, self.index)).then_some(false);
        match key {
            And(keys) => {
                let mut all = Some(true);
                for k in keys {
                    match self.decided(k, pre) {
                        Some(false) => return Some(false),
                        None => all = None,
                        Some(true) => {}
                    }
                }
                all
            }
            Or(a, b) => match (self.decided(a, pre), self.decided(b, pre)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Not(k) => self.decided(k, pre).map(|b| !b),
            Body(s) | Text(s) | From(s) | To(s) | Cc(s) | Bcc(s) | Subject(s) | Header(_, s) => {
                ruled_out(s)
            }
            SentBefore(_) | SentOn(_) | SentSince(_) => None,
            _ => Some(self.matches(key)),
        }
    }
}

/// Every search string of a substring key (BODY, TEXT, FROM, HEADER ...).
fn substrings(key: &SearchKey, out: &mut Vec<Vec<u8>>) {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().for_each(|k| substrings(k, out)),
        Not(k) => substrings(k, out),
        Or(a, b) => {
            substrings(a, out);
            substrings(b, out);
        }
        Body(s) | Text(s) | From(s) | To(s) | Cc(s) | Bcc(s) | Subject(s) | Header(_, s) => {
            out.push(s.clone())
        }
        _ => {}
    }
}

/// The full-text index's answer for the substring keys, when the search would otherwise
/// read message files for them (header keys on the cached fields are cheaper from the
/// cache).
fn index_prefilter(
    mailbox: &Mailbox,
    criteria: &SearchKey,
    need: Need,
    from_cache: bool,
) -> Option<Prefilter> {
    if need == Need::Nothing || from_cache {
        return None;
    }
    let mut needles = Vec::new();
    substrings(criteria, &mut needles);
    let needles: Vec<&[u8]> = needles.iter().map(Vec::as_slice).collect();
    crate::store::fts::prefilter(mailbox, &needles)
}

fn load(mailbox: &Mailbox, index: usize, need: Need) -> Result<Message, StoreError> {
    load_message(mailbox, index, need == Need::Header)
}

/// The messages that match `criteria`, as UIDs (`uid`) or sequence numbers, ascending.
/// Messages another session expunged meanwhile are skipped.
pub fn search(
    mailbox: &mut Mailbox,
    criteria: &SearchKey,
    uid: bool,
) -> Result<Vec<u32>, StoreError> {
    let need = need_of(criteria);
    let sized = uses_size(criteria);
    // Header keys on the usual fields are answered from the cache, not the files.
    let from_cache = need == Need::Header && only_cached_fields(criteria);
    // BODY/TEXT answered from the cached texts; messages up to this size get them cached.
    let text_cache = (need == Need::Whole && only_text_keys(criteria))
        .then(|| crate::store::fts::text_cache_room(mailbox))
        .flatten();
    let mut text_room = text_cache.map_or(0, |(room, _)| room);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let count = mailbox.len() as u32;
    let max_uid = mailbox.last_uid();
    // Narrow to a top-level UID or sequence set first, so `UID SEARCH UID 900:* ...`
    // does not read every message.
    let candidates: Vec<usize> = match criteria {
        SearchKey::And(keys) => keys
            .iter()
            .find_map(|k| match k {
                SearchKey::Uid(set) => Some(resolve_set(mailbox, set, true)),
                SearchKey::SequenceSet(set) => Some(resolve_set(mailbox, set, false)),
                _ => None,
            })
            .unwrap_or_else(|| (0..count as usize).collect()),
        _ => (0..count as usize).collect(),
    };
    let prefilter = index_prefilter(mailbox, criteria, need, from_cache);
    let mut hits = Vec::new();
    for index in candidates {
        let wire_size = if sized {
            match mailbox.wire_size(index) {
                Ok(w) => Some(w),
                Err(StoreError::NoSuchMessage) => continue,
                Err(err) => return Err(err),
            }
        } else {
            None
        };
        if let Some(pre) = &prefilter {
            let entry = mailbox.message(index);
            let known = Candidate {
                seq: index as u32 + 1,
                count,
                max_uid,
                entry,
                mailbox,
                index,
                message: None,
                fields: None,
                texts: None,
                wire_size,
                now,
            }
            .decided(criteria, pre);
            match known {
                Some(false) => continue,
                Some(true) if !entry.is_gone() => {
                    hits.push(if uid { entry.uid } else { index as u32 + 1 });
                    continue;
                }
                _ => {}
            }
        }
        let mut fields = None;
        let mut message = None;
        let mut texts = None;
        if let Some((_, largest)) = text_cache {
            texts = mailbox
                .cached(index, TEXT_KIND)
                .and_then(|b| Texts::decode(&b));
            if texts.is_none() {
                match load(mailbox, index, need) {
                    Ok(m) => {
                        let t = Texts::of(&m);
                        let bytes = t.encode();
                        if mailbox.message(index).size <= largest && bytes.len() as u64 <= text_room
                        {
                            text_room -= bytes.len() as u64;
                            mailbox.cache(index, TEXT_KIND, bytes);
                        }
                        texts = Some(t);
                    }
                    Err(StoreError::NoSuchMessage) => continue,
                    Err(err) => return Err(err),
                }
            }
        }
        if from_cache {
            fields = mailbox
                .cached(index, "searchfields-2")
                .map(|b| decode_fields(&b));
        }
        if need > Need::Nothing && fields.is_none() && texts.is_none() {
            match load(mailbox, index, need) {
                Ok(m) => {
                    if from_cache {
                        let encoded = encode_fields(&m);
                        fields = Some(decode_fields(&encoded));
                        mailbox.cache(index, "searchfields-2", encoded);
                    }
                    message = Some(m);
                }
                Err(StoreError::NoSuchMessage) => continue,
                Err(err) => return Err(err),
            }
        }
        let entry = mailbox.message(index);
        let candidate = Candidate {
            seq: index as u32 + 1,
            count,
            max_uid,
            entry,
            mailbox,
            index,
            message: message.as_ref(),
            fields: fields.as_ref(),
            texts: texts.as_ref(),
            wire_size,
            now,
        };
        if candidate.matches(criteria) {
            hits.push(if uid { entry.uid } else { index as u32 + 1 });
        }
    }
    mailbox.save_caches();
    Ok(hits)
}

// ---------------------------------------------------------------------------------------
// The result side: what SEARCH RETURN (...) asks for and the ESEARCH response that answers
// it (RFC 4731), what SAVE keeps (RFC 5182) and PARTIAL pages (RFC 9394). SORT's ESORT
// (RFC 5267) uses the same writer with its results in sort order.

/// The order of a result list the ESEARCH writer is given.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResultOrder {
    /// SEARCH: ascending numbers; MIN and MAX are the lowest and the highest.
    Ascending,
    /// SORT (ESORT, RFC 5267 §3.2): sort order, kept in ALL and PARTIAL; MIN and MAX are
    /// the first and the last message in that order (as Dovecot 2.3 answers
    /// `SORT RETURN (MIN MAX ALL) (DATE) UTF-8 ALL`: `MIN 4 MAX 1 ALL 4,3,2,1`).
    Sorted,
}

impl ResultOrder {
    /// The message MIN names.
    fn min(self, results: &[u32]) -> Option<u32> {
        match self {
            ResultOrder::Ascending => results.iter().min().copied(),
            ResultOrder::Sorted => results.first().copied(),
        }
    }

    /// The message MAX names.
    fn max(self, results: &[u32]) -> Option<u32> {
        match self {
            ResultOrder::Ascending => results.iter().max().copied(),
            ResultOrder::Sorted => results.last().copied(),
        }
    }
}

/// The return options of one command, gathered (RFC 4731 §3.1; SAVE RFC 5182 §2.1;
/// PARTIAL RFC 9394 §3.1).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ResultOptions {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    pub save: bool,
    pub partial: Option<PartialRange>,
}

impl ResultOptions {
    /// The options of a `RETURN (...)` list; `RETURN ()` means `RETURN (ALL)` (RFC 4731
    /// §3.1). PARTIAL with ALL is refused (RFC 9394 §3.1: they ask for the same list in
    /// two ways); the text is the BAD's.
    pub fn from_returns(list: &[SearchReturn]) -> Result<ResultOptions, String> {
        let mut o = ResultOptions::default();
        if list.is_empty() {
            o.all = true;
        }
        for r in list {
            match r {
                SearchReturn::Min => o.min = true,
                SearchReturn::Max => o.max = true,
                SearchReturn::All => o.all = true,
                SearchReturn::Count => o.count = true,
                SearchReturn::Save => o.save = true,
                SearchReturn::Partial(range) => o.partial = Some(*range),
            }
        }
        if o.all && o.partial.is_some() {
            return Err("PARTIAL and ALL cannot be combined".into());
        }
        Ok(o)
    }

    /// Whether an ESEARCH response is sent: always, except for SAVE alone, whose only
    /// answer is the tagged OK (RFC 5182 §2.1).
    pub fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some()
    }

    /// What SAVE keeps of `results` (RFC 5182 §2.1): with ALL or COUNT, or with SAVE
    /// alone, the whole result; otherwise only what the answer names: the MIN and/or MAX
    /// message and the PARTIAL page (RFC 9394 carries RFC 5182's MIN/MAX rule over to
    /// PARTIAL: a client paging with SAVE gets `$` = the page it was shown; Dovecot saves
    /// the same). Ascending, without duplicates, whatever the order of `results`.
    pub fn saved(&self, results: &[u32], order: ResultOrder) -> Vec<u32> {
        let narrowed = self.min || self.max || self.partial.is_some();
        let mut kept: Vec<u32> = if self.all || self.count || !narrowed {
            results.to_vec()
        } else {
            let mut kept = Vec::new();
            if self.min {
                kept.extend(order.min(results));
            }
            if self.max {
                kept.extend(order.max(results));
            }
            if let Some(range) = self.partial {
                kept.extend_from_slice(partial_page(results, range));
            }
            kept
        };
        kept.sort_unstable();
        kept.dedup();
        kept
    }
}

/// `* ESEARCH (TAG "tag") [UID] ...` for `results` (RFC 4731 §3.1 `esearch-response`),
/// without the CRLF. MIN, MAX and ALL are left out when nothing matched; COUNT is always
/// there when asked for (`COUNT 0`); PARTIAL says `NIL` for an empty page. Items come in
/// the order MIN MAX ALL PARTIAL COUNT.
pub fn esearch_response(
    tag: &str,
    uid: bool,
    opts: &ResultOptions,
    results: &[u32],
    order: ResultOrder,
) -> String {
    // A tag has neither `"` nor a backslash (RFC 3501 §9 `tag`: ASTRING-CHARs): quoted as is.
    let mut line = format!("ESEARCH (TAG \"{tag}\")");
    if uid {
        line.push_str(" UID");
    }
    if opts.min
        && let Some(n) = order.min(results)
    {
        line.push_str(&format!(" MIN {n}"));
    }
    if opts.max
        && let Some(n) = order.max(results)
    {
        line.push_str(&format!(" MAX {n}"));
    }
    if opts.all && !results.is_empty() {
        line.push_str(" ALL ");
        line.push_str(&result_set(results, order));
    }
    if let Some(range) = opts.partial {
        line.push(' ');
        line.push_str(&partial_item(results, range, order));
    }
    if opts.count {
        line.push_str(&format!(" COUNT {}", results.len()));
    }
    line
}

/// The ESEARCH `PARTIAL (range set-or-NIL)` item (RFC 9394 §3.1) for an ordered result:
/// the results at the range's positions (1-based; from the end for `-a:-b`), in the
/// result's order, as a sequence-set, or `NIL` when none is there. SORT calls this too.
pub fn partial_item(results: &[u32], range: PartialRange, order: ResultOrder) -> String {
    let page = partial_page(results, range);
    let set = if page.is_empty() {
        "NIL".to_string()
    } else {
        result_set(page, order)
    };
    let sign = if range.from_end { "-" } else { "" };
    format!("PARTIAL ({sign}{}:{sign}{} {set})", range.first, range.last)
}

/// The results at a PARTIAL range's positions; empty when the range lies past the end.
pub fn partial_page(results: &[u32], range: PartialRange) -> &[u32] {
    let n = results.len();
    // 0-based, half-open [start, end).
    let (start, end) = if range.from_end {
        // -1 is the last result: -k is index n - k.
        let start = n.saturating_sub(range.last as usize);
        let end = n.saturating_sub(range.first as usize - 1);
        (start, end)
    } else {
        let start = (range.first as usize - 1).min(n);
        let end = (range.last as usize).min(n);
        (start, end)
    };
    &results[start..end.max(start)]
}

/// A result list as a `sequence-set`: runs of consecutive ascending numbers become
/// `a:b`. The order of the list is kept (for SORT results a set's order is meaningful,
/// RFC 5267 §3.2), so only ascending runs are joined: `a:b` always reads as a..b.
pub fn result_set(results: &[u32], _order: ResultOrder) -> String {
    super::sets::uid_list(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(cs: &str, bytes: &[u8]) -> Vec<u8> {
        let decoder = SearchCharset::named(cs).unwrap_or_else(|| panic!("{cs} refused"));
        match decoder.key_to_utf8(&SearchKey::Subject(bytes.to_vec())) {
            SearchKey::Subject(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_charset_a_client_may_send_becomes_utf8() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("UTF-8", "Grüße".as_bytes(), "Grüße"),
            ("us-ascii", b"plain", "plain"),
            ("ISO-8859-1", b"caf\xe9", "café"),
            ("ISO-8859-15", b"\xa4", "€"),
            ("windows-1252", b"\x93q\x94", "“q”"),
            ("windows-1251", b"\xcf\xf0\xe8", "При"),
            ("KOI8-R", b"\xf0\xd2\xc9", "При"),
            ("KOI8-U", b"\xa6", "і"),
            ("ISO-2022-JP", b"\x1b$B%O%m!<\x1b(B", "ハロー"),
            ("Shift_JIS", b"\x83n\x83\x8d\x81[", "ハロー"),
            ("EUC-JP", b"\xa5\xcf\xa5\xed\xa1\xbc", "ハロー"),
            ("EUC-KR", b"\xbe\xc8\xb3\xe7", "안녕"),
            ("GB2312", b"\xc4\xe3\xba\xc3", "你好"),
            ("GBK", b"\xc4\xe3\xba\xc3", "你好"),
            ("GB18030", b"\xc4\xe3\xba\xc3", "你好"),
            ("Big5", b"\xa7A\xa6n", "你好"),
            ("UTF-16", b"\x00h\x00i", "hi"),
            ("UTF-16", b"\xff\xfeh\x00i\x00", "hi"),
            ("UTF-16LE", b"h\x00i\x00", "hi"),
            ("UTF-7", b"+AOk-t+AOk-", "été"),
        ];
        for (cs, bytes, want) in cases {
            assert_eq!(String::from_utf8(utf8(cs, bytes)).unwrap(), *want, "{cs}");
        }
        assert!(SearchCharset::named("X-NO-SUCH-CHARSET").is_none());
    }

    fn range(first: u32, last: u32, from_end: bool) -> PartialRange {
        PartialRange {
            first,
            last,
            from_end,
        }
    }

    #[test]
    fn esearch_answers_as_rfc_4731_shows() {
        let opts = |list: &[SearchReturn]| ResultOptions::from_returns(list).unwrap();
        use SearchReturn::*;
        let hits = [2, 10, 11];
        let asc = ResultOrder::Ascending;
        assert_eq!(
            esearch_response("A282", false, &opts(&[Min, Count]), &hits, asc),
            "ESEARCH (TAG \"A282\") MIN 2 COUNT 3"
        );
        assert_eq!(
            esearch_response("A283", false, &opts(&[]), &hits, asc),
            "ESEARCH (TAG \"A283\") ALL 2,10:11"
        );
        assert_eq!(
            esearch_response("A285", true, &opts(&[Min, Max]), &[7, 3800], asc),
            "ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800"
        );
        // Nothing found: no MIN, MAX or ALL, but COUNT 0 and a NIL page.
        let all = opts(&[Min, Max, All, Count]);
        assert_eq!(
            esearch_response("a", false, &all, &[], asc),
            "ESEARCH (TAG \"a\") COUNT 0"
        );
        let page = opts(&[Partial(range(1, 5, false))]);
        assert_eq!(
            esearch_response("a", true, &page, &[], asc),
            "ESEARCH (TAG \"a\") UID PARTIAL (1:5 NIL)"
        );
        assert!(!opts(&[Save]).answers());
        assert!(ResultOptions::from_returns(&[All, Partial(range(1, 2, false))]).is_err());
    }

    #[test]
    fn partial_pages_count_from_either_end() {
        let r: Vec<u32> = (1..=10).map(|n| n * 10).collect();
        let page = |a, b, e| partial_page(&r, range(a, b, e)).to_vec();
        assert_eq!(page(1, 3, false), [10, 20, 30]);
        assert_eq!(page(9, 20, false), [90, 100]);
        assert_eq!(page(11, 20, false), Vec::<u32>::new());
        assert_eq!(page(1, 1, true), [100]);
        assert_eq!(page(1, 3, true), [80, 90, 100]);
        assert_eq!(page(9, 20, true), [10, 20]);
        assert_eq!(page(11, 12, true), Vec::<u32>::new());
        assert_eq!(
            partial_item(&r, range(1, 3, true), ResultOrder::Ascending),
            "PARTIAL (-1:-3 80,90,100)"
        );
        // Sorted results keep their order; only ascending runs are joined.
        assert_eq!(
            partial_item(&[5, 4, 1, 2, 3], range(1, 5, false), ResultOrder::Sorted),
            "PARTIAL (1:5 5,4,1:3)"
        );
    }

    #[test]
    fn save_keeps_min_max_alone_else_everything() {
        use SearchReturn::*;
        let saved = |list: &[SearchReturn]| {
            ResultOptions::from_returns(list)
                .unwrap()
                .saved(&[9, 3, 5], ResultOrder::Ascending)
        };
        // ESORT: MIN and MAX are the first and last in sort order.
        let sorted = ResultOptions::from_returns(&[Save, Min]).unwrap();
        assert_eq!(sorted.saved(&[9, 3, 5], ResultOrder::Sorted), [9]);
        let all = ResultOptions::from_returns(&[Min, Max, All]).unwrap();
        assert_eq!(
            esearch_response("s", true, &all, &[4, 3, 2, 1], ResultOrder::Sorted),
            "ESEARCH (TAG \"s\") UID MIN 4 MAX 1 ALL 4,3,2,1"
        );
        assert_eq!(saved(&[Save]), [3, 5, 9]);
        assert_eq!(saved(&[Save, Min]), [3]);
        assert_eq!(saved(&[Save, Max]), [9]);
        assert_eq!(saved(&[Save, Min, Max]), [3, 9]);
        assert_eq!(saved(&[Save, Min, Count]), [3, 5, 9]);
        assert_eq!(saved(&[Save, Max, All]), [3, 5, 9]);
        // The page is taken in the result's order (here as the engine gave it).
        assert_eq!(saved(&[Save, Partial(range(1, 1, false))]), [9]);
        assert_eq!(saved(&[Save, Min, Partial(range(1, 1, true))]), [3, 5]);
        assert_eq!(
            saved(&[Save, Count, Partial(range(1, 1, false))]),
            [3, 5, 9]
        );
        assert_eq!(
            saved(&[Save, Partial(range(7, 8, false))]),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn every_string_of_a_key_tree_is_converted() {
        let latin1 = SearchCharset::named("ISO-8859-1").unwrap();
        let key = SearchKey::And(vec![
            SearchKey::Not(Box::new(SearchKey::From(b"\xe9".to_vec()))),
            SearchKey::Or(
                Box::new(SearchKey::Header("X-A".into(), b"\xe8".to_vec())),
                Box::new(SearchKey::Body(b"\xea".to_vec())),
            ),
            SearchKey::Seen,
        ]);
        let want = SearchKey::And(vec![
            SearchKey::Not(Box::new(SearchKey::From("é".into()))),
            SearchKey::Or(
                Box::new(SearchKey::Header("X-A".into(), "è".into())),
                Box::new(SearchKey::Body("ê".into())),
            ),
            SearchKey::Seen,
        ]);
        assert_eq!(latin1.key_to_utf8(&key), want);
    }
}
