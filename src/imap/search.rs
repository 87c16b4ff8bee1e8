//! The SEARCH engine: evaluates a key tree per message, reading a message only when a key
//! needs its header or body, and only as much as needed.

use std::time::{SystemTime, UNIX_EPOCH};

use super::command::{Date, SearchKey};
use super::datetime::days_from_civil;
use super::fetch::load_message;
use super::sets::resolve_set;
use crate::message::Message;
use crate::store::fts::Prefilter;
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
            SentBefore(d) => self.sent_day().is_some_and(|s| s < day_number(d)),
            SentOn(d) => self.sent_day().is_some_and(|s| s == day_number(d)),
            SentSince(d) => self.sent_day().is_some_and(|s| s >= day_number(d)),
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
                self.message
                    .is_some_and(|m| contains(&m.search_body_text(), &needle))
            }
            Text(s) => {
                let needle = String::from_utf8_lossy(s).to_lowercase();
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
        if from_cache {
            fields = mailbox
                .cached(index, "searchfields-2")
                .map(|b| decode_fields(&b));
        }
        if need > Need::Nothing && fields.is_none() {
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
