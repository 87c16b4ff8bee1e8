//! Mailbox names between the wire and the store. On the wire a name is modified UTF-7
//! (or UTF-8 after `ENABLE UTF8=ACCEPT`); in the store it is UTF-8, `INBOX` or `INBOX.a.b`
//! (Courier's personal namespace `"INBOX."` with separator `.`).

use super::mutf7;

pub const SEPARATOR: char = '.';

/// A wire name as the store knows it: decoded, with any case of a leading `INBOX` made `INBOX`.
/// Names in the virtual shared namespace (`#shared.…`) are kept as they are.
/// `None` when the name does not decode or lies outside both namespaces.
pub fn from_wire(wire: &str, utf8: bool) -> Option<String> {
    let name = if utf8 {
        wire.to_string()
    } else {
        mutf7::decode(wire).ok()?
    };
    if crate::store::places::is_shared_name(&name) {
        return Some(name);
    }
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
///
/// The pattern is client-chosen, so matching must not backtrack: a dynamic programme over
/// (pattern position, name position) answers in O(|pattern| × |name|) time, and runs of
/// wildcards are collapsed first and a pattern with more literal characters than the name
/// is rejected outright, which bounds the pattern side by twice the name's length.
/// (A backtracking matcher took seconds per name for `*****b`, ×40 per extra `*`.)
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pattern = compile_pattern(&normalize_inbox(pattern));
    let literals = pattern
        .iter()
        .filter(|t| matches!(t, Token::Char(_)))
        .count();
    if literals > name.len() {
        return false;
    }
    match_tokens(&pattern, &name)
}

/// One element of a LIST pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters, the separator included.
    Any,
    /// `%`: any run of characters other than the separator.
    AnyInLevel,
    /// Itself, exactly.
    Char(char),
}

/// The pattern as tokens, each run of wildcards collapsed to one: a run with a `*` in it
/// matches exactly what `*` matches, a run of `%` what one `%` matches.
fn compile_pattern(pattern: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::with_capacity(pattern.len());
    for c in pattern.chars() {
        let token = match c {
            '*' => Token::Any,
            '%' => Token::AnyInLevel,
            c => Token::Char(c),
        };
        match (tokens.last_mut(), token) {
            (Some(last @ Token::AnyInLevel), Token::Any) => *last = Token::Any,
            (Some(Token::Any), Token::Any | Token::AnyInLevel)
            | (Some(Token::AnyInLevel), Token::AnyInLevel) => {}
            _ => tokens.push(token),
        }
    }
    tokens
}

/// Whether `tokens` match all of `name`. `row[j]` holds whether the tokens from the current
/// one to the end match `name[j..]`; rows are filled from the last token backwards.
fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    // The empty pattern matches only the end of the name.
    let mut row: Vec<bool> = (0..=name.len()).map(|j| j == name.len()).collect();
    for token in tokens.iter().rev() {
        let mut above = vec![false; name.len() + 1];
        for j in (0..=name.len()).rev() {
            above[j] = match *token {
                Token::Char(c) => j < name.len() && name[j] == c && row[j + 1],
                Token::Any => row[j] || (j < name.len() && above[j + 1]),
                Token::AnyInLevel => {
                    row[j] || (j < name.len() && name[j] != SEPARATOR && above[j + 1])
                }
            };
        }
        row = above;
    }
    row[0]
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

    #[test]
    fn wildcards_at_the_edges_and_in_runs() {
        assert!(pattern_matches("", ""));
        assert!(!pattern_matches("", "INBOX"));
        assert!(pattern_matches("*", ""));
        assert!(pattern_matches("%", ""));
        assert!(pattern_matches("INBOX*", "INBOX"));
        assert!(pattern_matches("INBOX.%%%", "INBOX.a"));
        assert!(!pattern_matches("INBOX.%%%", "INBOX.a.b"));
        assert!(pattern_matches("INBOX.%*%", "INBOX.a.b"));
        assert!(pattern_matches("%.%.%", "INBOX.a.b"));
        assert!(!pattern_matches("%.%", "INBOX.a.b"));
        assert!(pattern_matches("*.b", "INBOX.a.b"));
        assert!(!pattern_matches("*.b", "INBOX.a.bc"));
        assert!(pattern_matches("INBOX.R%sum%", "INBOX.Résumé"));
    }

    #[test]
    fn runs_of_wildcards_collapse() {
        use Token::*;
        assert_eq!(compile_pattern("**%*"), vec![Any]);
        assert_eq!(compile_pattern("%%%"), vec![AnyInLevel]);
        assert_eq!(compile_pattern("%%*%a%"), vec![Any, Char('a'), AnyInLevel]);
    }

    /// The shape that made the backtracking matcher take seconds: many wildcards and a
    /// final character the name does not end with.
    #[test]
    fn many_wildcards_against_a_long_name_answer_at_once() {
        let name = format!("INBOX.{}", "a".repeat(200));
        let started = std::time::Instant::now();
        for pattern in ["*****b", "%%%%%%b", "*%*%*%*%*%b", "*a*a*a*a*a*a*b"] {
            assert!(!pattern_matches(pattern, &name), "{pattern}");
        }
        assert!(pattern_matches("*****a", &name));
        assert!(pattern_matches("INBOX.%%%%%%a", &name));
        // Generous: the old matcher needed seconds for the first pattern alone.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The matcher this module had before: plain backtracking, obviously RFC 3501, and
    /// exponential in the number of wildcards. Kept as the oracle for the property test.
    fn backtracking_matches(pattern: &str, name: &str) -> bool {
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Small alphabets so that matches (and near misses) are common.
        #[test]
        fn same_answers_as_the_backtracking_matcher(
            pattern in "(INBOX|inbox)?[ab.*%]{0,8}",
            name in "(INBOX)?[ab.]{0,10}",
        ) {
            proptest::prop_assert_eq!(
                pattern_matches(&pattern, &name),
                backtracking_matches(&pattern, &name),
                "pattern {:?} name {:?}", pattern, name
            );
        }
    }
}
