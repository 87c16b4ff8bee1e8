//! `postern-modseq`: a folder's mod-sequences (RFC 7162), kept by postern beside
//! Courier's files (Courier ignores it): per message the MODSEQ of its current flags and
//! keywords, the folder's HIGHESTMODSEQ, and a bounded memory of expunged UIDs with the
//! mod-sequence of their expunge (for QRESYNC's VANISHED).
//!
//! # Why its own file, and why changes are found by comparison
//!
//! `postern-index` is only a cache: it is rebuilt whenever it is missing or stale, which
//! would lose anything kept only there. Mod-sequences must outlive that, so they live in
//! this file, which no rebuild touches.
//!
//! Flags change in file names and keywords in `courierimapkeywords/`, by postern, by
//! Courier and by any other tool, none of which tells postern. So a change is not counted
//! when it is made but found when the state is next compared: each record keeps a
//! fingerprint of the flags and keywords its MODSEQ was given for, and a [`sync`] gives
//! every message whose state differs from its fingerprint (and every message new to the
//! file) a fresh mod-sequence, and every UID that left the folder a place in the expunge
//! memory. Only sessions that use mod-sequences (CONDSTORE or QRESYNC enabled, a SELECT
//! with CONDSTORE, STATUS HIGHESTMODSEQ) call it, so sessions that don't pay nothing;
//! their changes are found by the next session that does. A message changed and changed
//! back between two syncs keeps its MODSEQ, which is right: a client that knew that
//! MODSEQ knows its state.
//!
//! # Never backwards, never repeated
//!
//! A new mod-sequence is `max(HIGHESTMODSEQ + 1, now in microseconds since 1970)`. The
//! file is replaced (tmp/ + rename) under the folder's [`DirFlock`] before the caller
//! tells any client about the values, so a session killed at any point either left the
//! new file or told nobody. The clock floor covers what a rename cannot: a file lost or
//! damaged (or, after a power loss, an older one, since it is not fsynced) starts again
//! from the clock, above every value given out before (a burst of N changes runs at
//! most N microseconds ahead of the clock). So a lost file needs no new UIDVALIDITY: what
//! RFC 7162 needs of a mailbox's mod-sequences for one UIDVALIDITY is that they never go
//! back (a server that cannot promise that must change UIDVALIDITY), and here every
//! message gets a mod-sequence above anything a client saw; a client resynchronises its
//! flags, which is what losing the state costs. The expunge memory is then empty and
//! starts at that point (see below), so VANISHED (EARLIER) answers with the superset.
//!
//! # The expunge memory
//!
//! At most `memory` expunged UIDs are kept (newest last); `vanished_floor` is the highest
//! mod-sequence whose expunges may have been forgotten. VANISHED (EARLIER) for a
//! mod-sequence at or above the floor is exact; below it the caller answers as RFC 7162
//! §3.2.5.2 allows, with every UID that is not in the folder any more (a superset: the
//! client ignores UIDs it does not know).
//!
//! # Format (little-endian)
//!
//! ```text
//! header, 48 bytes:
//!   0 magic "PSTNMS\0\1"   8 uid_validity u32   12 count u32
//!   16 highest u64   24 vanished_floor u64   32 vanished_count u32   36..48 zero
//! count records, 20 bytes each, ascending UIDs: uid u32, fingerprint u64, modseq u64
//! vanished_count records, 12 bytes each, ascending modseq: uid u32, modseq u64
//! ```

use std::io;
use std::path::Path;

use super::Flags;
use super::fsutil;
use super::lock::DirFlock;

pub const FILE: &str = "postern-modseq";
const MAGIC: &[u8; 8] = b"PSTNMS\0\x01";
const HEADER: usize = 48;
const RECORD: usize = 20;
const VANISHED: usize = 12;

/// A folder's mod-sequence state as the file holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub uid_validity: u32,
    pub highest: u64,
    pub vanished_floor: u64,
    /// (uid, fingerprint, modseq), ascending UIDs.
    pub records: Vec<(u32, u64, u64)>,
    /// (uid, modseq of the expunge), ascending modseq.
    pub vanished: Vec<(u32, u64)>,
}

/// One message as a session sees it now, for [`sync`].
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub uid: u32,
    /// [`fingerprint`] of its flags and keywords; `None` when its file is gone.
    pub fingerprint: Option<u64>,
}

/// What [`sync`] found: one MODSEQ per [`Seen`], in order, and the folder's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub modseqs: Vec<u64>,
    pub highest: u64,
    pub vanished_floor: u64,
}

/// Flags and keywords as one number: a change to either changes it (keywords compare
/// without regard to case or order, as IMAP's do). FNV-1a: the same in every process.
pub fn fingerprint(flags: Flags, keywords: &[String]) -> u64 {
    let mut sorted: Vec<String> = keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(flags.bits());
    for k in &sorted {
        eat(0);
        k.bytes().for_each(&mut eat);
    }
    h
}

/// Microseconds since 1970: the floor of every new mod-sequence.
fn clock_floor() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The state on disk for `uid_validity`; `None` when missing, damaged or for another
/// UIDVALIDITY (all the same: start again from the clock).
pub fn read(folder_dir: &Path, uid_validity: u32) -> io::Result<Option<State>> {
    let Some(b) = fsutil::read_optional(&folder_dir.join(FILE))? else {
        return Ok(None);
    };
    Ok(parse(&b).filter(|s| s.uid_validity == uid_validity))
}

fn parse(b: &[u8]) -> Option<State> {
    if b.len() < HEADER || &b[..8] != MAGIC {
        return None;
    }
    let count = u32_at(b, 12) as usize;
    let vanished = u32_at(b, 32) as usize;
    if b.len() != HEADER + count * RECORD + vanished * VANISHED {
        return None;
    }
    let mut s = State {
        uid_validity: u32_at(b, 8),
        highest: u64_at(b, 16),
        vanished_floor: u64_at(b, 24),
        records: Vec::with_capacity(count),
        vanished: Vec::with_capacity(vanished),
    };
    let mut last = 0;
    for i in 0..count {
        let r = &b[HEADER + i * RECORD..HEADER + (i + 1) * RECORD];
        let (uid, fp, m) = (u32_at(r, 0), u64_at(r, 4), u64_at(r, 12));
        if uid <= last || m > s.highest {
            return None;
        }
        last = uid;
        s.records.push((uid, fp, m));
    }
    let at = HEADER + count * RECORD;
    for i in 0..vanished {
        let r = &b[at + i * VANISHED..at + (i + 1) * VANISHED];
        s.vanished.push((u32_at(r, 0), u64_at(r, 4)));
    }
    Some(s)
}

fn encode(s: &State) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER + s.records.len() * RECORD + s.vanished.len() * VANISHED);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&s.uid_validity.to_le_bytes());
    out.extend_from_slice(&(s.records.len() as u32).to_le_bytes());
    out.extend_from_slice(&s.highest.to_le_bytes());
    out.extend_from_slice(&s.vanished_floor.to_le_bytes());
    out.extend_from_slice(&(s.vanished.len() as u32).to_le_bytes());
    out.resize(HEADER, 0);
    for &(uid, fp, m) in &s.records {
        out.extend_from_slice(&uid.to_le_bytes());
        out.extend_from_slice(&fp.to_le_bytes());
        out.extend_from_slice(&m.to_le_bytes());
    }
    for &(uid, m) in &s.vanished {
        out.extend_from_slice(&uid.to_le_bytes());
        out.extend_from_slice(&m.to_le_bytes());
    }
    out
}

/// Brings the file in line with what a session sees (`seen`, ascending UIDs, taken by a
/// look at the folder just before) and returns each message's MODSEQ. Messages new to the
/// file or whose fingerprint differs get one fresh mod-sequence (shared by all changes
/// this call finds); UIDs the file has that are seen gone, or missing from `seen` below
/// its last UID, left the folder and join the expunge memory, of which at most `memory`
/// entries are kept. A missing UID above the last one seen may have arrived after the
/// look or have been expunged with the last messages: `present` says which. A UID once
/// remembered as expunged never comes back.
pub fn sync(
    folder_dir: &Path,
    uid_validity: u32,
    seen: &[Seen],
    memory: usize,
    mut present: impl FnMut(u32) -> bool,
) -> io::Result<Synced> {
    let _lock = DirFlock::acquire(folder_dir)?;
    let old = read(folder_dir, uid_validity)?;
    let fresh = old.is_none();
    let mut s = old.unwrap_or_default();
    let next = s.highest.saturating_add(1).max(clock_floor());
    if fresh {
        // Nothing is known of what went before: expunges before now are forgotten.
        s = State {
            uid_validity,
            highest: 0,
            vanished_floor: next,
            ..State::default()
        };
    }
    let last_seen = seen.iter().map(|m| m.uid).max().unwrap_or(0);
    // Built only when a UID new to the records shows up (an arrival, or an old look).
    let mut gone_before: Option<rustc_hash::FxHashSet<u32>> = None;
    let mut records = Vec::with_capacity(seen.len().max(s.records.len()));
    let mut modseqs = Vec::with_capacity(seen.len());
    let mut expunged = Vec::new();
    let mut changed = false;
    let mut old_iter = s.records.iter().peekable();
    for m in seen {
        // Records below this UID that the session does not see.
        while let Some(&&(uid, fp, ms)) = old_iter.peek() {
            if uid >= m.uid {
                break;
            }
            old_iter.next();
            if uid > last_seen && present(uid) {
                records.push((uid, fp, ms));
            } else {
                expunged.push(uid);
            }
        }
        let known = old_iter.next_if(|r| r.0 == m.uid).copied();
        match (m.fingerprint, known) {
            (None, Some((uid, _, ms))) => {
                expunged.push(uid);
                modseqs.push(ms);
            }
            (None, None) => modseqs.push(s.highest),
            (Some(_), None)
                if gone_before
                    .get_or_insert_with(|| s.vanished.iter().map(|v| v.0).collect())
                    .contains(&m.uid) =>
            {
                // A look older than another session's: it was expunged already.
                modseqs.push(s.highest);
            }
            (Some(fp), Some((uid, old_fp, ms))) if fp == old_fp => {
                records.push((uid, fp, ms));
                modseqs.push(ms);
            }
            (Some(fp), _) => {
                records.push((m.uid, fp, next));
                modseqs.push(next);
                changed = true;
            }
        }
    }
    for &(uid, fp, ms) in old_iter {
        if uid > last_seen && present(uid) {
            records.push((uid, fp, ms));
        } else {
            expunged.push(uid);
        }
    }
    if !expunged.is_empty() {
        changed = true;
        s.vanished.extend(expunged.iter().map(|&u| (u, next)));
        if s.vanished.len() > memory {
            let drop = s.vanished.len() - memory;
            let forgotten = s.vanished[drop - 1].1;
            s.vanished.drain(..drop);
            s.vanished_floor = s.vanished_floor.max(forgotten);
        }
    }
    if changed || fresh {
        s.records = records;
        s.highest = s.highest.max(next);
        if !changed {
            // Nothing at all in the folder: HIGHESTMODSEQ still starts from the clock.
            s.highest = next;
        }
        fsutil::replace_cache(&folder_dir.join("tmp"), &folder_dir.join(FILE), &encode(&s))?;
    }
    Ok(Synced {
        modseqs,
        highest: s.highest,
        vanished_floor: s.vanished_floor,
    })
}

/// The UIDs expunged with a mod-sequence above `since`, ascending; `None` when the memory
/// does not reach back that far (`since` below the floor) or the state is unknown.
pub fn vanished_since(folder_dir: &Path, uid_validity: u32, since: u64) -> Option<Vec<u32>> {
    let s = read(folder_dir, uid_validity).ok().flatten()?;
    if since < s.vanished_floor {
        return None;
    }
    let mut uids: Vec<u32> = s
        .vanished
        .iter()
        .filter(|v| v.1 > since)
        .map(|v| v.0)
        .collect();
    uids.sort_unstable();
    uids.dedup();
    Some(uids)
}

/// The UID database got a new UIDVALIDITY with the same UIDs (RENAME): the state goes
/// with it.
pub fn renew(folder_dir: &Path, old: u32, new: u32) -> io::Result<()> {
    let _lock = DirFlock::acquire(folder_dir)?;
    if let Some(mut s) = read(folder_dir, old)? {
        s.uid_validity = new;
        fsutil::replace_cache(&folder_dir.join("tmp"), &folder_dir.join(FILE), &encode(&s))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(uid: u32, fp: u64) -> Seen {
        Seen {
            uid,
            fingerprint: Some(fp),
        }
    }

    #[test]
    fn changes_get_higher_modseqs_and_expunges_are_remembered() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("tmp")).unwrap();
        let a = sync(d.path(), 7, &[seen(1, 10), seen(2, 20)], 2, |_| true).unwrap();
        assert_eq!(a.modseqs[0], a.modseqs[1]);
        assert_eq!(a.highest, a.modseqs[0]);
        assert!(a.highest > 1_600_000_000_000_000, "clock floor");
        let same = sync(d.path(), 7, &[seen(1, 10), seen(2, 20)], 2, |_| true).unwrap();
        assert_eq!(same, a, "nothing changed");
        let b = sync(
            d.path(),
            7,
            &[seen(1, 10), seen(2, 21), seen(3, 30)],
            2,
            |_| true,
        )
        .unwrap();
        assert_eq!(b.modseqs[0], a.modseqs[0]);
        assert!(b.modseqs[1] > a.highest && b.modseqs[2] == b.modseqs[1]);
        // A session that has not seen UID 3 yet does not expunge it.
        let c = sync(d.path(), 7, &[seen(2, 21)], 2, |u| u == 3).unwrap();
        assert!(c.highest > b.highest);
        assert_eq!(vanished_since(d.path(), 7, b.highest), Some(vec![1]));
        assert_eq!(vanished_since(d.path(), 7, a.highest).unwrap(), vec![1]);
        // An older look that still has UID 1 does not bring it back.
        let e = sync(
            d.path(),
            7,
            &[seen(1, 10), seen(2, 21), seen(3, 30)],
            2,
            |_| true,
        )
        .unwrap();
        assert_eq!(e.highest, c.highest);
        // The memory is bounded: forgetting raises the floor.
        sync(d.path(), 7, &[], 2, |_| false).unwrap();
        let s = read(d.path(), 7).unwrap().unwrap();
        assert_eq!(s.vanished.len(), 2);
        assert!(s.vanished_floor >= c.highest);
        assert_eq!(vanished_since(d.path(), 7, b.highest), None);
        // Another UIDVALIDITY starts again, above everything.
        let f = sync(d.path(), 8, &[seen(1, 10)], 2, |_| true).unwrap();
        assert!(f.highest > s.highest);
        assert_eq!(vanished_since(d.path(), 8, f.highest - 1), None);
        assert_eq!(vanished_since(d.path(), 8, f.highest), Some(vec![]));
        // A damaged file is a lost one: still never backwards.
        std::fs::write(d.path().join(FILE), b"PSTNMS\0\x01 torn").unwrap();
        let g = sync(d.path(), 8, &[seen(1, 10)], 2, |_| true).unwrap();
        assert!(g.highest > f.highest);
    }

    #[test]
    fn fingerprint_ignores_keyword_case_and_order() {
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = Flags::SEEN;
        assert_eq!(
            fingerprint(f, &k(&["$Junk", "Work"])),
            fingerprint(f, &k(&["work", "$junk"]))
        );
        assert_ne!(fingerprint(f, &[]), fingerprint(Flags::empty(), &[]));
        assert_ne!(fingerprint(f, &k(&["a"])), fingerprint(f, &k(&["b"])));
    }
}
