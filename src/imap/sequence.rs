//! Sequence sets (RFC 3501 §9 `sequence-set`): the same type serves message sequence numbers
//! and UIDs. `*` means "the largest number in use" and is resolved only against a concrete
//! mailbox, so the set is kept symbolic until then.

use std::ops::RangeInclusive;

/// One end of a range: a number, or `*` (the largest sequence number / UID in the mailbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNum {
    Value(u32),
    Star,
}

impl SeqNum {
    fn resolve(self, max: u32) -> u32 {
        match self {
            SeqNum::Value(n) => n,
            SeqNum::Star => max,
        }
    }
}

/// `a:b` as the client wrote it (either order is allowed: `5:2` is `2:5`); a single number
/// is a range with both ends equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqRange {
    pub first: SeqNum,
    pub last: SeqNum,
}

/// A non-empty list of ranges, in the order the client sent them; or `$`, the saved
/// search result (RFC 5182 §2.1), which the session replaces by the messages it names
/// before a command runs (then possibly with no ranges: the empty saved result).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet {
    ranges: Vec<SeqRange>,
    /// `$` as the client wrote it, not yet replaced.
    last_result: bool,
}

/// Why a sequence set did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sequence set: {0}")]
pub struct SequenceSetError(pub &'static str);

impl SequenceSet {
    /// A set from ranges; `None` when there are none (the grammar has no empty set).
    pub fn new(ranges: Vec<SeqRange>) -> Option<SequenceSet> {
        if ranges.is_empty() {
            None
        } else {
            Some(SequenceSet {
                ranges,
                last_result: false,
            })
        }
    }

    /// `$` (RFC 5182 `seq-last-command`): the saved search result, still unresolved.
    pub fn last_result() -> SequenceSet {
        SequenceSet {
            ranges: Vec::new(),
            last_result: true,
        }
    }

    /// Whether this is an unresolved `$`.
    pub fn is_last_result(&self) -> bool {
        self.last_result
    }

    /// The set with no numbers: what `$` becomes when the saved result is empty
    /// (RFC 5182 §2.1: the commands then act on no message). Never parsed from the wire.
    pub fn nothing() -> SequenceSet {
        SequenceSet {
            ranges: Vec::new(),
            last_result: false,
        }
    }

    /// The single number `n`.
    pub fn single(n: u32) -> SequenceSet {
        let v = SeqNum::Value(n);
        SequenceSet {
            ranges: vec![SeqRange { first: v, last: v }],
            last_result: false,
        }
    }

    /// `a:b`.
    pub fn range(first: SeqNum, last: SeqNum) -> SequenceSet {
        SequenceSet {
            ranges: vec![SeqRange { first, last }],
            last_result: false,
        }
    }

    /// The ranges as written.
    pub fn ranges(&self) -> &[SeqRange] {
        &self.ranges
    }

    /// Parses the wire form (`1,3:5,7:*`). Numbers are `nz-number`: 1..=4294967295.
    pub fn parse(text: &[u8]) -> Result<SequenceSet, SequenceSetError> {
        let mut ranges = Vec::new();
        for item in text.split(|&b| b == b',') {
            let mut ends = item.splitn(2, |&b| b == b':');
            let first = parse_num(ends.next().unwrap_or_default())?;
            let last = match ends.next() {
                Some(t) => parse_num(t)?,
                None => first,
            };
            ranges.push(SeqRange { first, last });
        }
        Ok(SequenceSet {
            ranges,
            last_result: false,
        })
    }

    /// The set as sorted, merged, inclusive ranges once `*` is `max` (the number of messages
    /// for sequence numbers, the largest UID for UIDs). Numbers above `max` are dropped, but
    /// a range reaching past `max` from below or from `*` keeps `max` itself: for UIDs,
    /// `n:*` with n > largest UID still names the largest UID (RFC 3501 §6.4.8). With
    /// `max == 0` (empty mailbox) the result is empty. Allocates one entry per range, never
    /// one per number.
    pub fn resolved_ranges(&self, max: u32) -> Vec<RangeInclusive<u32>> {
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for r in &self.ranges {
            let a = r.first.resolve(max);
            let b = r.last.resolve(max);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let lo = lo.max(1);
            let hi = hi.min(max);
            if lo <= hi {
                out.push((lo, hi));
            }
        }
        out.sort_unstable();
        let mut merged: Vec<RangeInclusive<u32>> = Vec::with_capacity(out.len());
        for (lo, hi) in out {
            if let Some(last) = merged.last_mut() {
                let (llo, lhi) = (*last.start(), *last.end());
                if lo <= lhi.saturating_add(1) {
                    *last = llo..=lhi.max(hi);
                    continue;
                }
            }
            merged.push(lo..=hi);
        }
        merged
    }

    /// Every number in the set, ascending, without duplicates (see [`Self::resolved_ranges`]).
    pub fn iter_resolved(&self, max: u32) -> impl Iterator<Item = u32> + use<> {
        self.resolved_ranges(max).into_iter().flatten()
    }

    /// Whether `n` is in the set once `*` is `max`. `n` above `max` is never contained.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        if n == 0 || n > max {
            return false;
        }
        self.ranges.iter().any(|r| {
            let a = r.first.resolve(max);
            let b = r.last.resolve(max);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            // hi may exceed max; n <= max already holds, which is the clamp.
            lo <= n && n <= hi
        })
    }

    /// Whether any range uses `*`.
    pub fn has_star(&self) -> bool {
        self.ranges.iter().any(r_has_star)
    }
}

fn r_has_star(r: &SeqRange) -> bool {
    r.first == SeqNum::Star || r.last == SeqNum::Star
}

fn parse_num(t: &[u8]) -> Result<SeqNum, SequenceSetError> {
    if t == b"*" {
        return Ok(SeqNum::Star);
    }
    if t.is_empty() {
        return Err(SequenceSetError("empty number"));
    }
    if t[0] == b'0' {
        return Err(SequenceSetError("numbers start at 1"));
    }
    if t.len() > 10 || !t.iter().all(u8::is_ascii_digit) {
        return Err(SequenceSetError("not a number"));
    }
    let mut n: u64 = 0;
    for &d in t {
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n)
        .map(SeqNum::Value)
        .map_err(|_| SequenceSetError("number too large"))
}

impl std::fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.last_result {
            return f.write_str("$");
        }
        let one = |n: SeqNum| match n {
            SeqNum::Value(v) => v.to_string(),
            SeqNum::Star => "*".to_string(),
        };
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&one(r.first))?;
            if r.first != r.last {
                write!(f, ":{}", one(r.last))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_and_prints() {
        for s in ["1", "1:*", "*", "2,4:7,9,12:*", "5:2", "4294967295"] {
            assert_eq!(set(s).to_string(), s);
        }
        for bad in [
            "",
            "0",
            "1:0",
            "01",
            "1,",
            ",1",
            "1::2",
            "a",
            "4294967296",
            "1:2:3",
            "-1",
            " 1",
        ] {
            assert!(SequenceSet::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resolves_like_the_rfc_says() {
        let v = |s: &str, max| set(s).iter_resolved(max).collect::<Vec<_>>();
        assert_eq!(v("1:*", 5), [1, 2, 3, 4, 5]);
        assert_eq!(v("*", 5), [5]);
        assert_eq!(v("*:3", 5), [3, 4, 5]);
        assert_eq!(v("5:2", 9), [2, 3, 4, 5]);
        assert_eq!(v("2,4:7,9,12:*", 15), [2, 4, 5, 6, 7, 9, 12, 13, 14, 15]);
        assert_eq!(v("1:3,2:4,4", 10), [1, 2, 3, 4]);
        // UIDs: n:* with n beyond the largest UID still names the largest.
        assert_eq!(v("100:*", 42), [42]);
        assert!(set("100:*").contains(42, 42));
        assert!(!set("100:*").contains(41, 42));
        assert_eq!(v("100:200", 42), Vec::<u32>::new());
        assert!(!set("100:200").contains(42, 42));
        assert_eq!(v("40:200", 42), [40, 41, 42]);
        assert_eq!(v("1:*", 0), Vec::<u32>::new());
        assert!(!set("*").contains(0, 0));
        assert!(set("3:5").contains(4, 10));
        assert!(!set("3:5").contains(6, 10));
        assert!(!set("3:5").contains(4, 3));
    }

    #[test]
    fn large_sets_are_cheap() {
        let s = set("1:*");
        assert_eq!(s.resolved_ranges(200_000), vec![1..=200_000]);
        assert_eq!(s.iter_resolved(200_000).count(), 200_000);
        assert_eq!(set("1:*").iter_resolved(u32::MAX).take(3).count(), 3);
    }

    proptest! {
        #[test]
        fn contains_agrees_with_iteration(
            ranges in proptest::collection::vec((0u32..30, 0u32..30), 1..5),
            max in 0u32..25,
        ) {
            let n = |x: u32| if x == 0 { SeqNum::Star } else { SeqNum::Value(x) };
            let s = SequenceSet::new(
                ranges.iter().map(|&(a, b)| SeqRange { first: n(a), last: n(b) }).collect(),
            ).unwrap();
            let listed: Vec<u32> = s.iter_resolved(max).collect();
            let mut sorted = listed.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(&listed, &sorted);
            for k in 0..=max + 1 {
                prop_assert_eq!(s.contains(k, max), listed.contains(&k), "k={} set={}", k, s);
            }
            prop_assert_eq!(SequenceSet::parse(s.to_string().as_bytes()).unwrap(), s);
        }
    }
}
