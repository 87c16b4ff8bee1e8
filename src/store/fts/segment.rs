//! One segment of the full-text index: the messages it covers (by basename) and, for every
//! trigram of their searchable text, which of them hold it.
//!
//! Layout (little-endian, offsets relative to the segment's start):
//!
//! ```text
//! header (32): doc_count u32, term_count u32, names_len u32, postings_len u32,
//!              check u64 (of the header's first 16 bytes, the doc table and the names),
//!              reserved u64
//! docs:    doc_count x (name_offset u32, name_len u16, flags u16)
//! names:   the basenames, one after the other
//! terms:   term_count x (trigram u32, postings_offset u32, postings_len u32, check u32),
//!          ascending by trigram; check covers the entry's first 12 bytes and its postings
//! postings: per term, a tag byte then either LEB128 gaps (tag 0: each doc number minus
//!          the one after the previous) or a bitmap of doc_count bits (tag 1), whichever
//!          is smaller
//! ```
//!
//! Every entry the reader uses is checked before it is believed: a damaged segment reads
//! as [`Damaged`], never as a wrong answer or a crash.

use rustc_hash::FxHashMap as HashMap;

/// A segment (or the file around it) failed a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

pub(crate) const HEADER: usize = 32;
const DOC: usize = 8;
const TERM: usize = 16;

/// A document that was too large to index: it may hold anything.
pub const UNINDEXED: u16 = 1;

/// A 64-bit check of byte strings (damage detection, not security): FNV-like over
/// 8-byte words, stable across versions of anything else.
pub fn check64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        let mut chunks = part.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = (h ^ part.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    h ^ (h >> 31)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, Damaged> {
    Ok(u32::from_le_bytes(
        b.get(at..at + 4).ok_or(Damaged)?.try_into().expect("4"),
    ))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Damaged> {
    Ok(u16::from_le_bytes(
        b.get(at..at + 2).ok_or(Damaged)?.try_into().expect("2"),
    ))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Damaged> {
    Ok(u64::from_le_bytes(
        b.get(at..at + 8).ok_or(Damaged)?.try_into().expect("8"),
    ))
}

/// Postings of one trigram while a segment is built.
#[derive(Default)]
struct Posting {
    /// The doc number after the last one added (gaps are counted from it).
    next: u32,
    count: u32,
    gaps: Vec<u8>,
}

impl Posting {
    fn push(&mut self, doc: u32) {
        let mut gap = doc - self.next;
        loop {
            let byte = (gap & 0x7f) as u8;
            gap >>= 7;
            if gap == 0 {
                self.gaps.push(byte);
                break;
            }
            self.gaps.push(byte | 0x80);
        }
        self.next = doc + 1;
        self.count += 1;
    }
}

/// A segment being built in memory; [`Builder::memory`] says what it holds, so the
/// caller can write it out before it grows past its budget.
#[derive(Default)]
pub struct Builder {
    docs: Vec<(String, u16)>,
    terms: HashMap<u32, Posting>,
    memory: usize,
}

/// Map overhead per distinct trigram (key, value, hashing slack), for the memory estimate.
const TERM_OVERHEAD: usize = 48;

impl Builder {
    pub fn doc_count(&self) -> usize {
        self.docs.len()
    }

    /// About how many bytes of memory the segment holds.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Adds a document with its distinct trigrams (any order, no duplicates).
    pub fn add(&mut self, basename: &str, trigrams: &[u32], flags: u16) {
        let doc = self.docs.len() as u32;
        self.memory += basename.len() + 32;
        self.docs.push((basename.to_string(), flags));
        for &t in trigrams {
            let p = self.terms.entry(t).or_insert_with(|| {
                self.memory += TERM_OVERHEAD;
                Posting::default()
            });
            let before = p.gaps.capacity();
            p.push(doc);
            self.memory += p.gaps.capacity() - before;
        }
    }

    /// Takes in the documents of `seg` that `keep` says are still wanted, after what this
    /// builder holds (used to fold the small `recent` segments into a new one).
    pub fn absorb(
        &mut self,
        seg: &Segment<'_>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(), Damaged> {
        let mut renumber = Vec::with_capacity(seg.doc_count());
        for i in 0..seg.doc_count() {
            let (name, flags) = seg.doc(i)?;
            if keep(name) {
                renumber.push(Some(self.docs.len() as u32));
                self.memory += name.len() + 32;
                self.docs.push((name.to_string(), flags));
            } else {
                renumber.push(None);
            }
        }
        for i in 0..seg.term_count() {
            let (trigram, postings) = seg.term(i)?;
            let mut docs = Vec::new();
            decode(postings, seg.doc_count(), &mut |d| docs.push(d))?;
            for d in docs {
                if let Some(Some(new)) = renumber.get(d as usize) {
                    let p = self.terms.entry(trigram).or_insert_with(|| {
                        self.memory += TERM_OVERHEAD;
                        Posting::default()
                    });
                    let before = p.gaps.capacity();
                    p.push(*new);
                    self.memory += p.gaps.capacity() - before;
                }
            }
        }
        Ok(())
    }

    /// The segment's bytes; the builder is left empty.
    pub fn finish(&mut self) -> Vec<u8> {
        let docs = std::mem::take(&mut self.docs);
        let terms = std::mem::take(&mut self.terms);
        self.memory = 0;
        let mut terms: Vec<(u32, Posting)> = terms.into_iter().collect();
        terms.sort_unstable_by_key(|t| t.0);
        let bitmap_len = docs.len().div_ceil(8);
        let mut doc_table = Vec::with_capacity(docs.len() * DOC);
        let mut names = Vec::new();
        for (name, flags) in &docs {
            doc_table.extend_from_slice(&(names.len() as u32).to_le_bytes());
            doc_table.extend_from_slice(&(name.len().min(u16::MAX as usize) as u16).to_le_bytes());
            doc_table.extend_from_slice(&flags.to_le_bytes());
            names.extend_from_slice(name.as_bytes());
        }
        let mut term_table = Vec::with_capacity(terms.len() * TERM);
        let mut postings = Vec::new();
        for (trigram, p) in &terms {
            let start = postings.len();
            if p.gaps.len() > bitmap_len {
                postings.push(1u8);
                let at = postings.len();
                postings.resize(at + bitmap_len, 0);
                decode_gaps(&p.gaps, &mut |d| {
                    postings[at + d as usize / 8] |= 1 << (d % 8)
                });
            } else {
                postings.push(0u8);
                postings.extend_from_slice(&p.gaps);
            }
            let len = postings.len() - start;
            let mut entry = [0u8; TERM];
            entry[0..4].copy_from_slice(&trigram.to_le_bytes());
            entry[4..8].copy_from_slice(&(start as u32).to_le_bytes());
            entry[8..12].copy_from_slice(&(len as u32).to_le_bytes());
            let check = check64(&[&entry[..12], &postings[start..]]) as u32;
            entry[12..16].copy_from_slice(&check.to_le_bytes());
            term_table.extend_from_slice(&entry);
        }
        let mut head = [0u8; HEADER];
        head[0..4].copy_from_slice(&(docs.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&(terms.len() as u32).to_le_bytes());
        head[8..12].copy_from_slice(&(names.len() as u32).to_le_bytes());
        head[12..16].copy_from_slice(&(postings.len() as u32).to_le_bytes());
        let check = check64(&[&head[..16], &doc_table, &names]);
        head[16..24].copy_from_slice(&check.to_le_bytes());
        let mut out = Vec::with_capacity(
            HEADER + doc_table.len() + names.len() + term_table.len() + postings.len(),
        );
        out.extend_from_slice(&head);
        out.extend_from_slice(&doc_table);
        out.extend_from_slice(&names);
        out.extend_from_slice(&term_table);
        out.extend_from_slice(&postings);
        out
    }
}

fn decode_gaps(gaps: &[u8], each: &mut dyn FnMut(u32)) -> Option<()> {
    let mut next: u64 = 0;
    let mut gap: u64 = 0;
    let mut shift = 0;
    for &b in gaps {
        if shift > 28 {
            return None;
        }
        gap |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let doc = next + gap;
            if doc > u64::from(u32::MAX) {
                return None;
            }
            each(doc as u32);
            next = doc + 1;
            gap = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(())
}

/// Calls `each` with every doc number of a term's postings (ascending), all below
/// `doc_count`.
pub fn decode(postings: &[u8], doc_count: usize, each: &mut dyn FnMut(u32)) -> Result<(), Damaged> {
    match postings.split_first() {
        Some((0, gaps)) => {
            let mut bad = false;
            decode_gaps(gaps, &mut |d| {
                if (d as usize) < doc_count {
                    each(d);
                } else {
                    bad = true;
                }
            })
            .ok_or(Damaged)?;
            if bad { Err(Damaged) } else { Ok(()) }
        }
        Some((1, bits)) if bits.len() == doc_count.div_ceil(8) => {
            for (i, &byte) in bits.iter().enumerate() {
                let mut b = byte;
                while b != 0 {
                    let d = i * 8 + b.trailing_zeros() as usize;
                    if d >= doc_count {
                        return Err(Damaged);
                    }
                    each(d as u32);
                    b &= b - 1;
                }
            }
            Ok(())
        }
        _ => Err(Damaged),
    }
}

/// A segment inside a mapped file, its header and doc table checked.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    docs: &'a [u8],
    names: &'a [u8],
    terms: &'a [u8],
    postings: &'a [u8],
}

impl<'a> Segment<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Segment<'a>, Damaged> {
        let doc_count = u32_at(bytes, 0)? as usize;
        let term_count = u32_at(bytes, 4)? as usize;
        let names_len = u32_at(bytes, 8)? as usize;
        let postings_len = u32_at(bytes, 12)? as usize;
        let check = u64_at(bytes, 16)?;
        let docs_end = HEADER + doc_count.checked_mul(DOC).ok_or(Damaged)?;
        let names_end = docs_end.checked_add(names_len).ok_or(Damaged)?;
        let terms_end = names_end
            .checked_add(term_count.checked_mul(TERM).ok_or(Damaged)?)
            .ok_or(Damaged)?;
        let end = terms_end.checked_add(postings_len).ok_or(Damaged)?;
        if end != bytes.len() {
            return Err(Damaged);
        }
        let seg = Segment {
            docs: &bytes[HEADER..docs_end],
            names: &bytes[docs_end..names_end],
            terms: &bytes[names_end..terms_end],
            postings: &bytes[terms_end..end],
        };
        if check64(&[&bytes[..16], seg.docs, seg.names]) != check {
            return Err(Damaged);
        }
        Ok(seg)
    }

    pub fn doc_count(&self) -> usize {
        self.docs.len() / DOC
    }

    pub fn term_count(&self) -> usize {
        self.terms.len() / TERM
    }

    /// Doc `i`'s basename and flags.
    pub fn doc(&self, i: usize) -> Result<(&'a str, u16), Damaged> {
        let at = i * DOC;
        let off = u32_at(self.docs, at)? as usize;
        let len = u16_at(self.docs, at + 4)? as usize;
        let flags = u16_at(self.docs, at + 6)?;
        let name = self.names.get(off..off + len).ok_or(Damaged)?;
        Ok((std::str::from_utf8(name).map_err(|_| Damaged)?, flags))
    }

    /// Term `i`: its trigram and postings, checked.
    pub fn term(&self, i: usize) -> Result<(u32, &'a [u8]), Damaged> {
        let entry = self.terms.get(i * TERM..i * TERM + TERM).ok_or(Damaged)?;
        let trigram = u32_at(entry, 0)?;
        let off = u32_at(entry, 4)? as usize;
        let len = u32_at(entry, 8)? as usize;
        let postings = self
            .postings
            .get(off..off.checked_add(len).ok_or(Damaged)?)
            .ok_or(Damaged)?;
        if check64(&[&entry[..12], postings]) as u32 != u32_at(entry, 12)? {
            return Err(Damaged);
        }
        Ok((trigram, postings))
    }

    /// The postings of `trigram`, `None` when no doc holds it. Every entry the binary
    /// search looks at is checked, so a damaged table cannot send it the wrong way
    /// unnoticed.
    pub fn find(&self, trigram: u32) -> Result<Option<&'a [u8]>, Damaged> {
        let (mut lo, mut hi) = (0, self.term_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (t, postings) = self.term(mid)?;
            match t.cmp(&trigram) {
                std::cmp::Ordering::Equal => return Ok(Some(postings)),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// The docs that hold every one of `trigrams`, as a bitmap over doc numbers.
    pub fn holding_all(&self, trigrams: &[u32]) -> Result<Vec<u64>, Damaged> {
        let n = self.doc_count();
        let mut lists = Vec::with_capacity(trigrams.len());
        for &t in trigrams {
            match self.find(t)? {
                Some(p) => lists.push(p),
                None => return Ok(vec![0; n.div_ceil(64)]),
            }
        }
        lists.sort_unstable_by_key(|p| p.len());
        let mut acc = vec![0u64; n.div_ceil(64)];
        let mut first = true;
        for p in lists {
            let mut these = vec![0u64; n.div_ceil(64)];
            decode(p, n, &mut |d| these[d as usize / 64] |= 1 << (d % 64))?;
            if first {
                acc = these;
                first = false;
            } else {
                for (a, b) in acc.iter_mut().zip(&these) {
                    *a &= b;
                }
            }
            if acc.iter().all(|w| *w == 0) {
                break;
            }
        }
        if first {
            // No trigram: every doc.
            for d in 0..n {
                acc[d / 64] |= 1 << (d % 64);
            }
        }
        Ok(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built() -> Vec<u8> {
        let mut b = Builder::default();
        for i in 0..300u32 {
            let mut t = vec![7, 1000 + i, 5_000_000];
            if i % 3 == 0 {
                t.push(42);
            }
            b.add(&format!("{i}.M.h"), &t, if i == 5 { UNINDEXED } else { 0 });
        }
        b.finish()
    }

    #[test]
    fn round_trip_both_encodings() {
        let bytes = built();
        let s = Segment::parse(&bytes).unwrap();
        assert_eq!(s.doc_count(), 300);
        assert_eq!(s.doc(5).unwrap(), ("5.M.h", UNINDEXED));
        let all = s.holding_all(&[7, 5_000_000]).unwrap();
        assert_eq!(all.iter().map(|w| w.count_ones()).sum::<u32>(), 300);
        let thirds = s.holding_all(&[42, 7]).unwrap();
        assert_eq!(thirds.iter().map(|w| w.count_ones()).sum::<u32>(), 100);
        let one = s.holding_all(&[1010, 7]).unwrap();
        assert_eq!(one[0], 1 << 10);
        assert!(s.holding_all(&[9]).unwrap().iter().all(|w| *w == 0));
        let mut again = Builder::default();
        again.absorb(&s, &|n| n != "0.M.h").unwrap();
        let bytes2 = again.finish();
        let s2 = Segment::parse(&bytes2).unwrap();
        assert_eq!(s2.doc_count(), 299);
        assert_eq!(s2.doc(0).unwrap().0, "1.M.h");
        let thirds = s2.holding_all(&[42]).unwrap();
        assert_eq!(thirds.iter().map(|w| w.count_ones()).sum::<u32>(), 99);
    }

    #[test]
    fn damage_is_detected_never_a_panic() {
        let bytes = built();
        for cut in 0..bytes.len() {
            assert!(Segment::parse(&bytes[..cut]).is_err());
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x24;
            let Ok(s) = Segment::parse(&bad) else {
                continue;
            };
            // Whatever still parses answers the truth or says Damaged.
            for t in [7u32, 42, 1010, 5_000_000, 9] {
                if let Ok(bits) = s.holding_all(&[t]) {
                    let good = Segment::parse(&bytes).unwrap().holding_all(&[t]).unwrap();
                    assert_eq!(bits, good, "flip at {at}, trigram {t}");
                }
            }
        }
    }
}
