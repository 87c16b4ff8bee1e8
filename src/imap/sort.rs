//! The SORT engine (RFC 5256 §3, RFC 5957): the SEARCH engine picks the messages, then
//! they are ordered by the keys, ties by sequence number.
//!
//! The keys of a message (`crate::message::SortKeys`) are kept in the folder's
//! `postern-cache.sortkeys-1` once computed (by message file name), and all of them in
//! `postern-sortkeys` in UID order (`store/sortfile.rs`), so a SORT of a folder whose
//! caches are warm reads no message file and is one pass over that file plus the sort:
//! ARRIVAL and SIZE come from the folder index and size cache, everything else from the
//! key file. After a delivery or an expunge only the new messages' keys are derived
//! (from the per-message cache or the header) and the key file is written anew.
//! THREAD (`thread.rs`) uses the same keys.

use std::borrow::Cow;

use rustc_hash::FxHashMap as HashMap;

use super::command::{SearchKey, SortCriterion, SortKey};
use super::fetch::load_message;
use super::search::search;
use crate::message::{SortKeys, Wanted};
use crate::store::sortfile::{Entry, Record, SortFile, name_hash};
use crate::store::{Mailbox, StoreError};

/// The cache kind the keys are kept under; the number names the way they are computed
/// (bump it when `SortKeys` changes, and old caches are left unread).
const CACHE_KIND: &str = "sortkeys-1";

/// One message and what SORT or THREAD compares of it.
#[derive(Debug, Clone)]
pub struct Keyed {
    /// Position in the folder (sequence number - 1).
    pub index: usize,
    pub keys: SortKeys,
    /// The sent date (RFC 5256 §2.2): the Date: header in UTC, else INTERNALDATE.
    pub sent: i64,
}

/// The keys of one message: from the cache, else from its header, which is read once and
/// the result cached. `None` when the message is gone (expunged by another session).
fn keys_of(
    mailbox: &mut Mailbox,
    index: usize,
    wanted: Wanted,
) -> Result<Option<SortKeys>, StoreError> {
    if let Some(keys) = mailbox
        .cached_with(index, CACHE_KIND, |b| SortKeys::decode_some(b, wanted))
        .flatten()
    {
        return Ok(Some(keys));
    }
    let message = match load_message(mailbox, index, true) {
        Ok(m) => m,
        Err(StoreError::NoSuchMessage) => return Ok(None),
        Err(e) => return Err(e),
    };
    let keys = message.sort_keys();
    mailbox.cache(index, CACHE_KIND, keys.encode());
    Ok(Some(keys))
}

// The strings of a `postern-sortkeys` record (`store/sortfile.rs`), in this order.
const S_SUBJECT: usize = 0;
const S_FROM: usize = 1;
const S_TO: usize = 2;
const S_CC: usize = 3;
const S_DISPLAY_FROM: usize = 4;
const S_DISPLAY_TO: usize = 5;
const S_MESSAGE_ID: usize = 6;
const S_REFERENCES: usize = 7;
/// Record bits: the Date: header parsed (the number is the sent date); the subject was
/// a reply or forward.
const HAS_SENT: u32 = 1;
const IS_REPLY: u32 = 2;

/// A message's keys as a `postern-sortkeys` record.
fn entry_of(uid: u32, name_hash: u64, keys: &SortKeys) -> Entry<Vec<u8>> {
    let mut bits = 0;
    if keys.sent.is_some() {
        bits |= HAS_SENT;
    }
    if keys.subject_is_reply {
        bits |= IS_REPLY;
    }
    let strings = [
        &keys.subject,
        &keys.from,
        &keys.to,
        &keys.cc,
        &keys.display_from,
        &keys.display_to,
        keys.message_id.as_deref().unwrap_or(""),
        &keys.references.join(" "),
    ];
    Entry {
        uid,
        name_hash,
        bits,
        number: keys.sent.unwrap_or(0),
        strings: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
    }
}

/// The keys of a record, only the strings `wanted` filled in; `None` when damaged.
fn keys_of_record(r: &Record<'_>, wanted: Wanted) -> Option<SortKeys> {
    let text = |i: usize, want: bool| -> Option<String> {
        let s = r.string(i)?;
        Some(if want {
            String::from_utf8_lossy(s).into_owned()
        } else {
            String::new()
        })
    };
    let message_id = text(S_MESSAGE_ID, wanted.ids)?;
    Some(SortKeys {
        sent: (r.bits & HAS_SENT != 0).then_some(r.number),
        subject_is_reply: r.bits & IS_REPLY != 0,
        subject: text(S_SUBJECT, wanted.subject)?,
        from: text(S_FROM, wanted.from)?,
        to: text(S_TO, wanted.to)?,
        cc: text(S_CC, wanted.cc)?,
        display_from: text(S_DISPLAY_FROM, wanted.display_from)?,
        display_to: text(S_DISPLAY_TO, wanted.display_to)?,
        message_id: Some(message_id).filter(|s| !s.is_empty()),
        references: text(S_REFERENCES, wanted.ids)?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// The folder's `postern-sortkeys` and what a pass over it found missing.
struct KeyFile {
    file: SortFile,
    at: usize,
    fresh: Vec<Entry<Vec<u8>>>,
}

impl KeyFile {
    fn open(mailbox: &Mailbox) -> KeyFile {
        KeyFile {
            file: SortFile::open(mailbox.folder_dir(), mailbox.uid_validity()),
            at: 0,
            fresh: Vec::new(),
        }
    }

    /// The record of message `index`, when the file has it for this very message file.
    fn record<'f>(
        file: &'f SortFile,
        at: &mut usize,
        mailbox: &Mailbox,
        index: usize,
    ) -> Option<Record<'f>> {
        let e = mailbox.message(index);
        let hash = name_hash(e.basename);
        file.find(e.uid, at).filter(|r| r.name_hash == hash)
    }

    /// The keys of a message the file lacks, derived (cache or header) and noted for the
    /// rewrite; `None` when the message is gone.
    fn derive(
        fresh: &mut Vec<Entry<Vec<u8>>>,
        mailbox: &mut Mailbox,
        index: usize,
    ) -> Result<Option<SortKeys>, StoreError> {
        let Some(keys) = keys_of(mailbox, index, Wanted::ALL)? else {
            return Ok(None);
        };
        let e = mailbox.message(index);
        fresh.push(entry_of(e.uid, name_hash(e.basename), &keys));
        Ok(Some(keys))
    }

    /// Writes the file anew when something was missing: the records of messages still
    /// in the folder and the fresh ones. Also saves the other caches.
    fn finish(file: &SortFile, fresh: &[Entry<Vec<u8>>], mailbox: &mut Mailbox) {
        if fresh.is_empty() {
            return;
        }
        mailbox.save_caches();
        if mailbox.read_only() {
            return;
        }
        let keep = |uid: u32, hash: u64| {
            mailbox
                .index_of_uid(uid)
                .is_some_and(|i| name_hash(mailbox.message(i).basename) == hash)
        };
        if let Err(e) = file.rewrite(mailbox.uid_validity(), &keep, fresh) {
            log::warn!(
                "{}: cannot write {}: {e}",
                mailbox.folder_dir().display(),
                crate::store::sortfile::FILE_NAME
            );
        }
    }
}

/// The keys of the messages at `indexes` (ascending), leaving out those that are gone; of
/// the strings only those `wanted` (keys derived anew have them all). Keys come from the
/// folder's `postern-sortkeys` in one pass; what it lacks from the per-message cache or
/// the header, and the file is then written anew with them.
pub fn keyed(
    mailbox: &mut Mailbox,
    indexes: &[usize],
    wanted: Wanted,
) -> Result<Vec<Keyed>, StoreError> {
    let KeyFile {
        file,
        mut at,
        mut fresh,
    } = KeyFile::open(mailbox);
    let mut out = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let from_file = KeyFile::record(&file, &mut at, mailbox, index)
            .and_then(|r| keys_of_record(&r, wanted));
        let keys = match from_file {
            Some(keys) => keys,
            None => match KeyFile::derive(&mut fresh, mailbox, index)? {
                Some(keys) => keys,
                None => continue,
            },
        };
        let sent = keys.sent.unwrap_or_else(|| mailbox.internal_date(index));
        out.push(Keyed { index, keys, sent });
    }
    KeyFile::finish(&file, &fresh, mailbox);
    Ok(out)
}

/// The folder positions of the messages that match `criteria`, ascending.
pub fn matching(mailbox: &mut Mailbox, criteria: &SearchKey) -> Result<Vec<usize>, StoreError> {
    Ok(search(mailbox, criteria, false)?
        .into_iter()
        .map(|seq| seq as usize - 1)
        .collect())
}

/// The record string a sort key compares, for the keys that compare strings.
fn string_slot(key: SortKey) -> Option<usize> {
    match key {
        SortKey::Subject => Some(S_SUBJECT),
        SortKey::From => Some(S_FROM),
        SortKey::To => Some(S_TO),
        SortKey::Cc => Some(S_CC),
        SortKey::DisplayFrom => Some(S_DISPLAY_FROM),
        SortKey::DisplayTo => Some(S_DISPLAY_TO),
        SortKey::Arrival | SortKey::Size | SortKey::Date => None,
    }
}

/// The string of derived keys that record slot `slot` holds.
fn string_of(keys: &SortKeys, slot: usize) -> &str {
    match slot {
        S_SUBJECT => &keys.subject,
        S_FROM => &keys.from,
        S_TO => &keys.to,
        S_CC => &keys.cc,
        S_DISPLAY_FROM => &keys.display_from,
        _ => &keys.display_to,
    }
}

/// One message as SORT orders it: only the keys the criteria need are filled in; its
/// strings are `strings_at..` in the command's string list.
struct Row {
    index: usize,
    sent: i64,
    arrival: i64,
    size: u64,
    strings_at: usize,
}

/// How one criterion compares two rows.
#[derive(Clone, Copy)]
enum Compare {
    Arrival,
    Size,
    Date,
    /// The row's n-th string.
    String(usize),
}

/// SORT: the messages matching `criteria` ordered by `keys`, as UIDs (`uid`) or sequence
/// numbers. REVERSE turns one key's order round; messages equal in every key keep their
/// folder order (RFC 5256 §3: the implicit last key is the sequence number, ascending).
///
/// The keys come from the folder's `postern-sortkeys` in one pass in UID order, the
/// strings compared where they lie in its mapping; only messages it lacks are looked up
/// in the per-message cache or read, and the file is then written anew.
pub fn sort(
    mailbox: &mut Mailbox,
    keys: &[SortCriterion],
    criteria: &SearchKey,
    uid: bool,
) -> Result<Vec<u32>, StoreError> {
    let indexes = matching(mailbox, criteria)?;
    let uses = |wanted: fn(SortKey) -> bool| keys.iter().any(|c| wanted(c.key));
    let arrival = uses(|k| k == SortKey::Arrival);
    let size = uses(|k| k == SortKey::Size);
    let date = uses(|k| k == SortKey::Date);
    let mut slots: Vec<usize> = Vec::new();
    for slot in keys.iter().filter_map(|c| string_slot(c.key)) {
        if !slots.contains(&slot) {
            slots.push(slot);
        }
    }
    let compares: Vec<(Compare, bool)> = keys
        .iter()
        .map(|c| {
            let how = match c.key {
                SortKey::Arrival => Compare::Arrival,
                SortKey::Size => Compare::Size,
                SortKey::Date => Compare::Date,
                other => Compare::String(
                    slots
                        .iter()
                        .position(|&s| Some(s) == string_slot(other))
                        .unwrap_or(0),
                ),
            };
            (how, c.reverse)
        })
        .collect();
    let headers = date || !slots.is_empty();
    let KeyFile {
        file,
        mut at,
        mut fresh,
    } = if headers {
        KeyFile::open(mailbox)
    } else {
        KeyFile {
            file: SortFile::empty(),
            at: 0,
            fresh: Vec::new(),
        }
    };
    let mut strings: Vec<Cow<'_, [u8]>> = Vec::with_capacity(indexes.len() * slots.len());
    let mut rows: Vec<Row> = Vec::with_capacity(indexes.len());
    for &index in &indexes {
        let mut row = Row {
            index,
            sent: 0,
            arrival: 0,
            size: 0,
            strings_at: strings.len(),
        };
        if headers {
            let mut from_file = false;
            if let Some(r) = KeyFile::record(&file, &mut at, mailbox, index) {
                from_file = slots.iter().all(|&slot| match r.string(slot) {
                    Some(b) => {
                        strings.push(Cow::Borrowed(b));
                        true
                    }
                    None => false,
                });
                if from_file {
                    row.sent = if r.bits & HAS_SENT != 0 {
                        r.number
                    } else {
                        mailbox.internal_date(index)
                    };
                } else {
                    strings.truncate(row.strings_at);
                }
            }
            if !from_file {
                let Some(k) = KeyFile::derive(&mut fresh, mailbox, index)? else {
                    continue;
                };
                for &slot in &slots {
                    strings.push(Cow::Owned(string_of(&k, slot).as_bytes().to_vec()));
                }
                row.sent = k.sent.unwrap_or_else(|| mailbox.internal_date(index));
            }
        }
        if arrival {
            row.arrival = mailbox.internal_date(index);
        }
        if size {
            row.size = match mailbox.wire_size(index) {
                Ok(s) => s,
                Err(StoreError::NoSuchMessage) => {
                    strings.truncate(row.strings_at);
                    continue;
                }
                Err(e) => return Err(e),
            };
        }
        rows.push(row);
    }
    KeyFile::finish(&file, &fresh, mailbox);
    if size || arrival {
        mailbox.save_caches();
    }
    let compare = |a: &Row, b: &Row, how: Compare| match how {
        Compare::Arrival => a.arrival.cmp(&b.arrival),
        Compare::Size => a.size.cmp(&b.size),
        Compare::Date => a.sent.cmp(&b.sent),
        Compare::String(n) => strings[a.strings_at + n]
            .as_ref()
            .cmp(strings[b.strings_at + n].as_ref()),
    };
    // Sorted: (the first key as a number, row) pairs, so most comparisons are of two
    // integers in one compact array rather than of strings in the mapping. Numbers keep
    // their order with the sign bit flipped; a string becomes its rank among the distinct
    // strings of the command (the messages of one thread share their base subject, so
    // there are far fewer of them than messages); REVERSE inverts. Equal first keys fall
    // back to the other keys, then the sequence number.
    let first_key: Vec<u64> = match compares.first() {
        Some(&(Compare::String(n), _)) => {
            let mut ids: HashMap<&[u8], u32> = HashMap::default();
            let mut distinct: Vec<&[u8]> = Vec::new();
            let row_ids: Vec<u32> = rows
                .iter()
                .map(|r| {
                    let s: &[u8] = strings[r.strings_at + n].as_ref();
                    *ids.entry(s).or_insert_with(|| {
                        distinct.push(s);
                        distinct.len() as u32 - 1
                    })
                })
                .collect();
            let mut by_string: Vec<u32> = (0..distinct.len() as u32).collect();
            by_string.sort_unstable_by(|&a, &b| distinct[a as usize].cmp(distinct[b as usize]));
            let mut rank = vec![0u64; distinct.len()];
            for (r, &id) in by_string.iter().enumerate() {
                rank[id as usize] = r as u64;
            }
            row_ids.iter().map(|&id| rank[id as usize]).collect()
        }
        Some(&(how, _)) => {
            let signed = |n: i64| (n as u64) ^ (1 << 63);
            rows.iter()
                .map(|r| match how {
                    Compare::Arrival => signed(r.arrival),
                    Compare::Size => r.size,
                    _ => signed(r.sent),
                })
                .collect()
        }
        None => vec![0; rows.len()],
    };
    let reverse_first = compares.first().is_some_and(|&(_, reverse)| reverse);
    let mut order: Vec<(u64, u32)> = first_key
        .iter()
        .enumerate()
        .map(|(i, &k)| (if reverse_first { !k } else { k }, i as u32))
        .collect();
    order.sort_unstable_by(|&(ka, a), &(kb, b)| {
        ka.cmp(&kb).then_with(|| {
            let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
            compares
                .iter()
                .skip(1)
                .map(|&(how, reverse)| {
                    let o = compare(ra, rb, how);
                    if reverse { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                // Rows are in folder order: their positions order as sequence numbers.
                .unwrap_or_else(|| a.cmp(&b))
        })
    });
    Ok(order
        .iter()
        .map(|&(_, at)| {
            let r = &rows[at as usize];
            if uid {
                mailbox.message(r.index).uid
            } else {
                r.index as u32 + 1
            }
        })
        .collect())
}
