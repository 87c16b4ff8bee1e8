//! System flags as Maildir keeps them in the `:2,` info: letters D F P R S T, sorted.

use std::ops::{BitOr, BitOrAssign};

/// A set of system flags (\Recent is not one: it belongs to a session, not the file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

const LETTERS: [(char, Flags); 6] = [
    ('D', Flags::DRAFT),
    ('F', Flags::FLAGGED),
    ('P', Flags::PASSED),
    ('R', Flags::ANSWERED),
    ('S', Flags::SEEN),
    ('T', Flags::DELETED),
];

impl Flags {
    pub const DRAFT: Flags = Flags(1);
    pub const FLAGGED: Flags = Flags(2);
    /// Maildir "passed" (resent/forwarded); no IMAP system flag corresponds to it.
    pub const PASSED: Flags = Flags(4);
    /// \Answered, letter R ("replied").
    pub const ANSWERED: Flags = Flags(8);
    pub const SEEN: Flags = Flags(16);
    /// \Deleted, letter T ("trashed").
    pub const DELETED: Flags = Flags(32);

    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// The flags as one byte (the folder index stores them so).
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// Flags from [`Flags::bits`]; bits no flag uses are dropped.
    pub(crate) fn from_bits(bits: u8) -> Flags {
        Flags(bits & 63)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, f: Flags) -> bool {
        self.0 & f.0 == f.0
    }

    pub fn insert(&mut self, f: Flags) {
        self.0 |= f.0;
    }

    pub fn remove(&mut self, f: Flags) {
        self.0 &= !f.0;
    }

    /// The flags of `self` that are not in `other`.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Parses the letters after `:2,`; unknown letters (e.g. Dovecot's lowercase keyword
    /// letters) are ignored.
    pub fn from_info(s: &str) -> Flags {
        let mut f = Flags(0);
        for c in s.chars() {
            if let Some((_, flag)) = LETTERS.iter().find(|(l, _)| *l == c) {
                f.insert(*flag);
            }
        }
        f
    }

    /// The letters for `:2,`, sorted.
    pub fn to_info(self) -> String {
        LETTERS
            .iter()
            .filter(|(_, f)| self.contains(*f))
            .map(|(l, _)| *l)
            .collect()
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn letters() {
        let f = Flags::from_info("TSRa");
        assert!(f.contains(Flags::SEEN | Flags::DELETED | Flags::ANSWERED));
        assert!(!f.contains(Flags::DRAFT));
        assert_eq!(f.to_info(), "RST");
        assert_eq!(Flags::default().to_info(), "");
        let mut g = f;
        g.remove(Flags::SEEN);
        assert_eq!(g.to_info(), "RT");
    }

    proptest! {
        #[test]
        fn round_trip(bits in 0u8..64) {
            let f = Flags(bits);
            prop_assert_eq!(Flags::from_info(&f.to_info()), f);
            let info = f.to_info();
            let mut sorted: Vec<char> = info.chars().collect();
            sorted.sort();
            prop_assert_eq!(sorted.into_iter().collect::<String>(), info);
        }
    }
}
