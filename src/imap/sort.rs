//! The SORT engine (RFC 5256 §3, RFC 5957): the SEARCH engine picks the messages, then
//! they are ordered by the keys, ties by sequence number.
//!
//! The keys of a message (`crate::message::SortKeys`) are kept in the folder's
//! `postern-cache.sortkeys-1` once computed, so a SORT of a folder whose caches are warm
//! reads no message file: ARRIVAL and SIZE come from the folder index and size cache,
//! everything else from that cache. THREAD (`thread.rs`) uses the same keys.

use std::cmp::Ordering;

use super::command::{SearchKey, SortCriterion, SortKey};
use super::fetch::load_message;
use super::search::search;
use crate::message::{SortKeys, Wanted};
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

/// The keys of the messages at `indexes` (ascending), leaving out those that are gone; of
/// the strings only those `wanted` (keys read from a message file have them all). Saves
/// what was computed to the caches.
pub fn keyed(
    mailbox: &mut Mailbox,
    indexes: &[usize],
    wanted: Wanted,
) -> Result<Vec<Keyed>, StoreError> {
    let mut out = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let Some(keys) = keys_of(mailbox, index, wanted)? else {
            continue;
        };
        let sent = keys.sent.unwrap_or_else(|| mailbox.internal_date(index));
        out.push(Keyed { index, keys, sent });
    }
    mailbox.save_caches();
    Ok(out)
}

/// The folder positions of the messages that match `criteria`, ascending.
pub fn matching(mailbox: &mut Mailbox, criteria: &SearchKey) -> Result<Vec<usize>, StoreError> {
    Ok(search(mailbox, criteria, false)?
        .into_iter()
        .map(|seq| seq as usize - 1)
        .collect())
}

/// One message as SORT orders it: only the keys the criteria need are filled in.
struct Row {
    index: usize,
    keys: Option<Keyed>,
    arrival: i64,
    size: u64,
}

fn compare(a: &Row, b: &Row, key: SortKey) -> Ordering {
    fn k(r: &Row) -> &Keyed {
        r.keys.as_ref().expect("keys were read")
    }
    match key {
        SortKey::Arrival => a.arrival.cmp(&b.arrival),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Date => k(a).sent.cmp(&k(b).sent),
        SortKey::Subject => k(a).keys.subject.cmp(&k(b).keys.subject),
        SortKey::From => k(a).keys.from.cmp(&k(b).keys.from),
        SortKey::To => k(a).keys.to.cmp(&k(b).keys.to),
        SortKey::Cc => k(a).keys.cc.cmp(&k(b).keys.cc),
        SortKey::DisplayFrom => k(a).keys.display_from.cmp(&k(b).keys.display_from),
        SortKey::DisplayTo => k(a).keys.display_to.cmp(&k(b).keys.display_to),
    }
}

/// SORT: the messages matching `criteria` ordered by `keys`, as UIDs (`uid`) or sequence
/// numbers. REVERSE turns one key's order round; messages equal in every key keep their
/// folder order (RFC 5256 §3: the implicit last key is the sequence number, ascending).
pub fn sort(
    mailbox: &mut Mailbox,
    keys: &[SortCriterion],
    criteria: &SearchKey,
    uid: bool,
) -> Result<Vec<u32>, StoreError> {
    let indexes = matching(mailbox, criteria)?;
    let uses = |wanted: fn(SortKey) -> bool| keys.iter().any(|c| wanted(c.key));
    let headers = uses(|k| !matches!(k, SortKey::Arrival | SortKey::Size));
    let arrival = uses(|k| k == SortKey::Arrival);
    let size = uses(|k| k == SortKey::Size);
    let mut rows: Vec<Row> = Vec::with_capacity(indexes.len());
    let wanted = Wanted {
        subject: uses(|k| k == SortKey::Subject),
        from: uses(|k| k == SortKey::From),
        to: uses(|k| k == SortKey::To),
        cc: uses(|k| k == SortKey::Cc),
        display_from: uses(|k| k == SortKey::DisplayFrom),
        display_to: uses(|k| k == SortKey::DisplayTo),
        ids: false,
    };
    let mut with_keys = if headers {
        keyed(mailbox, &indexes, wanted)?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        Vec::new()
    };
    // `keyed` left out messages that are gone; pair the rest up by position.
    let mut next_keyed = 0;
    for &index in &indexes {
        let mut row = Row {
            index,
            keys: None,
            arrival: 0,
            size: 0,
        };
        if headers {
            match with_keys.get_mut(next_keyed) {
                Some(k) if k.as_ref().is_some_and(|k| k.index == index) => {
                    row.keys = k.take();
                    next_keyed += 1;
                }
                _ => continue,
            }
        }
        if arrival {
            row.arrival = mailbox.internal_date(index);
        }
        if size {
            row.size = match mailbox.wire_size(index) {
                Ok(s) => s,
                Err(StoreError::NoSuchMessage) => continue,
                Err(e) => return Err(e),
            };
        }
        rows.push(row);
    }
    if size || arrival {
        mailbox.save_caches();
    }
    // Positions are sorted, not the rows: a row is a few hundred bytes, and moving 100,000
    // of them in every pass of the sort cost more than the comparisons.
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&rows[a as usize], &rows[b as usize]);
        keys.iter()
            .map(|c| {
                let o = compare(a, b, c.key);
                if c.reverse { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.index.cmp(&b.index))
    });
    Ok(order
        .iter()
        .map(|&at| {
            let r = &rows[at as usize];
            if uid {
                mailbox.message(r.index).uid
            } else {
                r.index as u32 + 1
            }
        })
        .collect())
}
