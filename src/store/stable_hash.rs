//! A 64-bit hash whose values are part of file formats (`postern-uidnames`' filter and
//! checksum, `postern-index.diff`'s checksum), so it is defined here rather than taken
//! from a crate whose hash may change between versions: eight bytes at a time with a
//! multiply, then a final mix so that every input bit reaches every output bit.

pub(crate) fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = step(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(last));
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `hash` of `bytes` as if its eight bytes at `at` were zero: the checksum of a file
/// that holds its own checksum there.
pub(crate) fn checksum_without(bytes: &[u8], at: usize) -> u64 {
    let mut copy = bytes.to_vec();
    copy[at..at + 8].fill(0);
    hash(&copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values are stored in files: a change to the function must change the formats'
    /// versions too, and this test says so.
    #[test]
    fn values_are_fixed() {
        assert_eq!(hash(b""), 0);
        assert_eq!(hash(b"1700000000.M1P1.host"), hash(b"1700000000.M1P1.host"));
        assert_ne!(hash(b"a"), hash(b"a\0"));
        assert_eq!(hash(b"1700000000.M1P1.host"), FIXED);
    }

    const FIXED: u64 = 1_146_348_407_101_416_458;
}
