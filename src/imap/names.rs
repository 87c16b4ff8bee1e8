//! Mailbox names between the wire and the store. On the wire a name is modified UTF-7
//! (or UTF-8 after `ENABLE UTF8=ACCEPT`); in the store it is UTF-8, `INBOX` or `INBOX.a.b`
//! (Courier's personal namespace `"INBOX."` with separator `.`).

use super::mutf7;

pub const SEPARATOR: char = '.';

/// A wire name as the store knows it: decoded, with any case of a leading `INBOX` made `INBOX`.
/// `None` when the name does not decode or lies outside the `INBOX.` namespace.
pub fn from_wire(wire: &str, utf8: bool) -> Option<String> {
    let name = if utf8 {
        wire.to_string()
    } else {
        mutf7::decode(wire).ok()?
    };
    canonical(&name)
}

/// `inbox` in any case -> `INBOX`, `inbox.x` -> `INBOX.x`; other names are outside the namespace.
pub fn canonical(name: &str) -> Option<String> {
    let head = name.get(..5)?;
    if !head.eq_ignore_ascii_case("INBOX") {
        return None;
    }
    match &name[5..] {
        "" => Some("INBOX".to_string()),
        rest if rest.starts_with(SEPARATOR) => Some(format!("INBOX{rest}")),
        _ => None,
    }
}

/// A store name as the client must see it.
pub fn to_wire(name: &str, utf8: bool) -> String {
    if utf8 {
        name.to_string()
    } else {
        mutf7::encode(name)
    }
}

/// LIST pattern matching (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the separator.
/// Both sides are store names (UTF-8), compared case-sensitively except a leading INBOX.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != SEPARATOR)
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = normalize_inbox(pattern).chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// A pattern or reference whose first five letters spell INBOX in any case, uppercased there.
fn normalize_inbox(s: &str) -> String {
    match s.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") => format!("INBOX{}", &s[5..]),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_is_case_insensitive_and_the_namespace_is_inbox_dot() {
        assert_eq!(canonical("inbox").as_deref(), Some("INBOX"));
        assert_eq!(canonical("Inbox.Sent").as_deref(), Some("INBOX.Sent"));
        assert_eq!(canonical("INBOXES"), None);
        assert_eq!(canonical("Sent"), None);
        assert_eq!(
            from_wire("INBOX.R&AOk-sum&AOk-", false).as_deref(),
            Some("INBOX.Résumé")
        );
        assert_eq!(to_wire("INBOX.Résumé", false), "INBOX.R&AOk-sum&AOk-");
        assert_eq!(to_wire("INBOX.Résumé", true), "INBOX.Résumé");
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "INBOX.a.b"));
        assert!(pattern_matches("INBOX.%", "INBOX.a"));
        assert!(!pattern_matches("INBOX.%", "INBOX.a.b"));
        assert!(pattern_matches("inbox", "INBOX"));
        assert!(pattern_matches("INBOX.*b", "INBOX.a.b"));
        assert!(!pattern_matches("%", "INBOX.a"));
        assert!(pattern_matches("%", "INBOX"));
    }
}
