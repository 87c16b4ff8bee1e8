//! RFC 5322 address lists turned into the address structures of an IMAP ENVELOPE
//! (RFC 3501 §7.4.2): raw bytes throughout (encoded words stay encoded), groups as the
//! start/end marker pair, comments used as the name only in the old `addr (Name)` form.

use super::envelope::Address;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A run of atom characters, or a domain literal, as written.
    Atom(Vec<u8>),
    /// A quoted string: `raw` with its quotes and escapes, `text` without.
    Quoted {
        raw: Vec<u8>,
        text: Vec<u8>,
    },
    Comment(Vec<u8>),
    Special(u8),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    space_before: bool,
}

fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b':' | b';' | b'@' | b'\\' | b',' | b'.' | b'"'
    )
}

fn lex(s: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut space = false;
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        let tok = match b {
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < s.len() {
                    let c = s[i];
                    i += 1;
                    match c {
                        b'\\' if i < s.len() => {
                            text.push(s[i]);
                            i += 1;
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(c);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(c),
                    }
                }
                Tok::Comment(text)
            }
            b'"' => {
                let start = i;
                let mut text = Vec::new();
                i += 1;
                while i < s.len() {
                    let c = s[i];
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' if i < s.len() => {
                            text.push(s[i]);
                            i += 1;
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(c),
                    }
                }
                let raw = s[start..i]
                    .iter()
                    .copied()
                    .filter(|&c| c != b'\r' && c != b'\n')
                    .collect();
                Tok::Quoted { raw, text }
            }
            b'[' => {
                let start = i;
                while i < s.len() && s[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(s.len());
                Tok::Atom(s[start..i].to_vec())
            }
            _ if is_special(b) => {
                i += 1;
                Tok::Special(b)
            }
            _ => {
                let start = i;
                while i < s.len() && !s[i].is_ascii_whitespace() && !is_special(s[i]) {
                    i += 1;
                }
                Tok::Atom(s[start..i].to_vec())
            }
        };
        out.push(Token {
            tok,
            space_before: space,
        });
        space = false;
    }
    out
}

fn is_sp(t: &Token, c: u8) -> bool {
    t.tok == Tok::Special(c)
}

/// A display name: words joined by single spaces where the header had white space,
/// quoted strings without their quotes, comments dropped.
fn phrase(tokens: &[Token]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in tokens {
        let bytes: &[u8] = match &t.tok {
            Tok::Atom(a) => a,
            Tok::Quoted { text, .. } => text,
            Tok::Special(c) => std::slice::from_ref(c),
            Tok::Comment(_) => continue,
        };
        if t.space_before && !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(bytes);
    }
    (!out.is_empty()).then_some(out)
}

/// Tokens glued as written, without white space or comments (source routes).
fn glue(tokens: &[Token]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in tokens {
        match &t.tok {
            Tok::Atom(a) => out.extend_from_slice(a),
            Tok::Quoted { raw, .. } => out.extend_from_slice(raw),
            Tok::Special(c) => out.push(*c),
            Tok::Comment(_) => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The mailbox of an address whose local part is missing or unreadable, as Dovecot writes
/// it: a NIL there would turn the address into a group marker (RFC 3501 §7.4.2).
pub(crate) const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
/// The host of an address without a domain (`user`, `user@`, `<>`), as Dovecot writes it.
pub(crate) const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";
/// The host of an address whose `<` is never closed, as Dovecot writes it.
pub(crate) const SYNTAX_ERROR: &[u8] = b"SYNTAX_ERROR";

/// The longest prefix of `tokens` of the form `word *("." word)` (comments skipped,
/// obsolete empty words between dots tolerated), glued: quoted strings without their quotes
/// and escapes (RFC 5322 §3.4.1: the quotes are not part of the local part's value), domain
/// literals as written. `quoted` says whether quoted strings count as words (local parts)
/// or end the run (domains).
fn dotted(tokens: &[Token], quoted: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut want_word = true;
    for t in tokens {
        match &t.tok {
            Tok::Comment(_) => {}
            Tok::Atom(a) if want_word => {
                out.extend_from_slice(a);
                want_word = false;
            }
            Tok::Quoted { text, .. } if want_word && quoted => {
                out.extend_from_slice(text);
                want_word = false;
            }
            Tok::Special(b'.') => {
                out.push(b'.');
                want_word = true;
            }
            _ => break,
        }
    }
    out
}

/// `local@domain` (comments anywhere dropped: `user (c)@ (c) example.org` is
/// `user@example.org`); each half that is empty or unreadable gets its placeholder.
fn addr_spec(tokens: &[Token]) -> (Vec<u8>, Vec<u8>) {
    let (local, domain) = match tokens.iter().position(|t| is_sp(t, b'@')) {
        Some(at) => (
            dotted(&tokens[..at], true),
            dotted(&tokens[at + 1..], false),
        ),
        None => (dotted(tokens, true), Vec::new()),
    };
    let or = |v: Vec<u8>, placeholder: &[u8]| {
        if v.is_empty() {
            placeholder.to_vec()
        } else {
            v
        }
    };
    (or(local, MISSING_MAILBOX), or(domain, MISSING_DOMAIN))
}

/// Whether `tokens` (comments aside) are one dot-atom written without white space: a bare
/// local part (`user`), as opposed to a display name alone (`John Doe`, `"John"`).
fn is_bare_local_part(tokens: &[Token]) -> bool {
    let words: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t.tok, Tok::Comment(_)))
        .collect();
    !words.is_empty()
        && words
            .iter()
            .all(|t| matches!(t.tok, Tok::Atom(_) | Tok::Special(b'.')))
        && words.iter().skip(1).all(|t| !t.space_before)
}

/// The first non-empty comment after the `@`: the display name of the old `addr (Name)`
/// form. A comment before the address (`(lead) k@x`) names nothing.
fn comment_name(tokens: &[Token]) -> Option<Vec<u8>> {
    let at = tokens.iter().position(|t| is_sp(t, b'@')).unwrap_or(0);
    tokens[at..].iter().find_map(|t| match &t.tok {
        Tok::Comment(c) if !c.is_empty() => Some(c.clone()),
        _ => None,
    })
}

/// One mailbox (`name <route:local@domain>` or `local@domain (comment)`); `None` when the
/// item holds nothing but white space and comments (RFC 5322 §4.4: empty list elements are
/// not part of the list). Never a NIL mailbox or host: what is missing or unreadable gets
/// Dovecot's placeholders, which clients already know.
fn mailbox(tokens: &[Token]) -> Option<Address> {
    if let Some(lt) = tokens.iter().position(|t| is_sp(t, b'<')) {
        let close = tokens[lt..].iter().position(|t| is_sp(t, b'>'));
        let inner = &tokens[lt + 1..close.map_or(tokens.len(), |p| lt + p)];
        let (adl, spec) = if inner.first().is_some_and(|t| is_sp(t, b'@')) {
            match inner.iter().position(|t| is_sp(t, b':')) {
                Some(colon) => (glue(&inner[..colon]), &inner[colon + 1..]),
                None => (None, inner),
            }
        } else {
            (None, inner)
        };
        let (mailbox, mut host) = addr_spec(spec);
        if close.is_none() {
            host = SYNTAX_ERROR.to_vec();
        }
        return Some(Address {
            name: phrase(&tokens[..lt]),
            adl,
            mailbox: Some(mailbox),
            host: Some(host),
        });
    }
    if tokens.iter().any(|t| is_sp(t, b'@')) || is_bare_local_part(tokens) {
        let (mailbox, host) = addr_spec(tokens);
        return Some(Address {
            name: comment_name(tokens),
            adl: None,
            mailbox: Some(mailbox),
            host: Some(host),
        });
    }
    // Words without an address: a display name whose address is missing.
    let name = phrase(tokens)?;
    Some(Address {
        name: Some(name),
        adl: None,
        mailbox: Some(MISSING_MAILBOX.to_vec()),
        host: Some(MISSING_DOMAIN.to_vec()),
    })
}

/// The index of the first token in `tokens` that is one of `stops` outside `<...>`.
fn find_top(tokens: &[Token], stops: &[u8]) -> Option<usize> {
    let mut in_angle = false;
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Special(b'<') => in_angle = true,
            Tok::Special(b'>') => in_angle = false,
            Tok::Special(c) if !in_angle && stops.contains(&c) => return Some(i),
            _ => {}
        }
    }
    None
}

/// Parses an unfolded address-list header value.
pub(crate) fn parse_list(value: &[u8]) -> Vec<Address> {
    let tokens = lex(value);
    let mut out = Vec::new();
    let mut rest = &tokens[..];
    while !rest.is_empty() {
        let stop = find_top(rest, b",:;");
        match stop {
            Some(i) if is_sp(&rest[i], b':') => {
                out.push(Address {
                    name: None,
                    adl: None,
                    mailbox: Some(glue_group_name(&rest[..i])),
                    host: None,
                });
                rest = &rest[i + 1..];
                loop {
                    let j = find_top(rest, b",;");
                    let item_end = j.unwrap_or(rest.len());
                    if let Some(a) = mailbox(&rest[..item_end]) {
                        out.push(a);
                    }
                    match j {
                        Some(j) if is_sp(&rest[j], b',') => rest = &rest[j + 1..],
                        Some(j) => {
                            rest = &rest[j + 1..];
                            break;
                        }
                        None => {
                            rest = &[];
                            break;
                        }
                    }
                }
                out.push(Address::default());
            }
            _ => {
                let end = stop.unwrap_or(rest.len());
                if let Some(a) = mailbox(&rest[..end]) {
                    out.push(a);
                }
                rest = &rest[(end + 1).min(rest.len())..];
            }
        }
    }
    out
}

fn glue_group_name(tokens: &[Token]) -> Vec<u8> {
    phrase(tokens).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, adl: Option<&str>, mb: Option<&str>, host: Option<&str>) -> Address {
        let f = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
        Address {
            name: f(name),
            adl: f(adl),
            mailbox: f(mb),
            host: f(host),
        }
    }

    #[test]
    fn plain_and_named() {
        assert_eq!(
            parse_list(b"\"Doe, John\" <john@example.com>, jane@example.org"),
            vec![
                a(Some("Doe, John"), None, Some("john"), Some("example.com")),
                a(None, None, Some("jane"), Some("example.org")),
            ]
        );
        assert_eq!(
            parse_list(b"John Q. Public <jqp@x.test>"),
            vec![a(Some("John Q. Public"), None, Some("jqp"), Some("x.test"))]
        );
        assert_eq!(
            parse_list(b"=?utf-8?q?J=C3=B6rg?= <j@x>"),
            vec![a(Some("=?utf-8?q?J=C3=B6rg?="), None, Some("j"), Some("x"))]
        );
    }

    #[test]
    fn old_comment_form_route_and_quoted_local() {
        assert_eq!(
            parse_list(b"jdoe@one.test (John Doe)"),
            vec![a(Some("John Doe"), None, Some("jdoe"), Some("one.test"))]
        );
        assert_eq!(
            parse_list(b"<@a.test,@b.test:x@c.test>"),
            vec![a(None, Some("@a.test,@b.test"), Some("x"), Some("c.test"))]
        );
        assert_eq!(
            parse_list(b"\"john doe\"@x.test"),
            vec![a(None, None, Some("john doe"), Some("x.test"))]
        );
    }

    #[test]
    fn groups_and_missing_host() {
        assert_eq!(
            parse_list(b"undisclosed-recipients:;"),
            vec![
                a(None, None, Some("undisclosed-recipients"), None),
                a(None, None, None, None)
            ]
        );
        assert_eq!(
            parse_list(b"A Group: a@x, B <b@y>; c@z"),
            vec![
                a(None, None, Some("A Group"), None),
                a(None, None, Some("a"), Some("x")),
                a(Some("B"), None, Some("b"), Some("y")),
                a(None, None, None, None),
                a(None, None, Some("c"), Some("z")),
            ]
        );
        assert_eq!(
            parse_list(b"localonly"),
            vec![a(None, None, Some("localonly"), Some("MISSING_DOMAIN"))]
        );
        assert_eq!(
            parse_list(b"<>, ,"),
            vec![a(
                None,
                None,
                Some("MISSING_MAILBOX"),
                Some("MISSING_DOMAIN")
            )]
        );
        // unterminated group is closed anyway
        assert_eq!(parse_list(b"g: a@b").len(), 3);
    }
}
