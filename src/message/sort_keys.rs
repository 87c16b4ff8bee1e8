//! What SORT and THREAD (RFC 5256, RFC 5957) compare of one message, computed once from
//! its header and small enough to keep in a folder cache: the base subject (§2.1), the
//! sent date (§2.2), the first addresses and display names, and the Message-ID and
//! references the REFERENCES algorithm links by.
//!
//! Strings are kept as comparison keys, already case-folded: every SORT and THREAD
//! comparison of them is case-insensitive (RFC 5256 §3 via I18NLEVEL=1), so folding once
//! here saves folding 100,000 strings on every command.

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, HeaderValue::DateTime};

use super::Message;
use super::address::{MISSING_DOMAIN, MISSING_MAILBOX, parse_list};
use super::decode;
use super::envelope::Address;
use super::header::{self, Field};

/// The sort and thread keys of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortKeys {
    /// The Date: header as UTC seconds (RFC 5256 §2.2); `None` when it is missing or does
    /// not parse, and the caller uses INTERNALDATE.
    pub sent: Option<i64>,
    /// The base subject (RFC 5256 §2.1), case-folded.
    pub subject: String,
    /// Whether extracting the base subject removed a `Re:`/`Fwd:` leader, a `(fwd)`
    /// trailer or a `[fwd: ...]` wrapper: THREAD=REFERENCES step 5 prefers the thread
    /// whose subject is no reply or forward.
    pub subject_is_reply: bool,
    /// addr-mailbox of the first From, To and Cc address (RFC 5256 §3), case-folded.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// The decoded display name of the first From/To address, else its addr-spec
    /// (RFC 5957 §3), case-folded.
    pub display_from: String,
    pub display_to: String,
    /// The normalized Message-ID (`local@domain`, no brackets or quotes), if valid.
    pub message_id: Option<String>,
    /// The References msg-ids, oldest first; the first In-Reply-To msg-id when References
    /// holds none (RFC 5256 §3, REFERENCES step 1).
    pub references: Vec<String>,
}

/// A string as SORT and THREAD compare it: Unicode upper case (a close stand-in for
/// i;unicode-casemap's title case; exact for ASCII, as i;ascii-casemap).
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_uppercase()
    } else {
        s.to_uppercase()
    }
}

/// The base subject of a decoded Subject value (RFC 5256 §2.1, steps 1 to 7), not yet
/// folded, and whether a reply or forward marker was removed.
pub fn base_subject(decoded: &str) -> (String, bool) {
    let mut reply = false;
    // (1) Tabs and line breaks become spaces; runs of spaces become one.
    let mut text = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && text.ends_with(' ') {
            continue;
        }
        text.push(c);
    }
    let mut s = text.as_str();
    loop {
        // (2) Trailers: "(fwd)" and white space, as long as there are any.
        loop {
            if let Some(rest) = s.strip_suffix(' ') {
                s = rest;
            } else if ends_with_ignore_case(s, "(fwd)") {
                s = &s[..s.len() - 5];
                reply = true;
            } else {
                break;
            }
        }
        // (3) to (5): leaders, and blobs that leave something behind, until none is left.
        loop {
            let mut found = false;
            if let Some(rest) = strip_leader(s, &mut reply) {
                s = rest;
                found = true;
            }
            if let Some(rest) = strip_blob(s)
                && !rest.is_empty()
            {
                s = rest;
                found = true;
            }
            if !found {
                break;
            }
        }
        // (6) "[fwd: ...]" around everything: remove it and start again at (2).
        if starts_with_ignore_case(s, "[fwd:") && s.len() > 5 && s.ends_with(']') {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_string(), reply)
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// `suffix` is ASCII, so a match starts on a character boundary.
fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP` at the start of `s`: the text after it.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if rest.as_bytes()[end] != b']' {
        return None;
    }
    Some(rest[end + 1..].trim_start_matches(' '))
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP` at the start of `s`: the text after it.
/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn strip_leader<'a>(s: &'a str, reply: &mut bool) -> Option<&'a str> {
    if let Some(rest) = s.strip_prefix(' ') {
        return Some(rest);
    }
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    let t = if starts_with_ignore_case(t, "re") {
        &t[2..]
    } else if starts_with_ignore_case(t, "fwd") {
        &t[3..]
    } else if starts_with_ignore_case(t, "fw") {
        &t[2..]
    } else {
        return None;
    };
    let t = t.trim_start_matches(' ');
    let t = strip_blob(t).unwrap_or(t);
    let rest = t.strip_prefix(':')?;
    *reply = true;
    Some(rest)
}

/// The msg-ids (`<local@domain>`) in a header value, normalized: brackets, quotes, white
/// space and comments dropped, so `<"a"@b>` and `<a@b>` are the same (RFC 5256 §3).
/// Tokens without `@` are no msg-id and are left out.
pub fn msg_ids(value: &[u8]) -> Vec<String> {
    let text = header::without_comments(value);
    let mut out = Vec::new();
    let mut rest = &text[..];
    while let Some(open) = rest.iter().position(|&b| b == b'<') {
        let after = &rest[open + 1..];
        let Some(close) = after.iter().position(|&b| b == b'>') else {
            break;
        };
        let inner = &after[..close];
        // A '<' inside starts a new id: "<junk <a@b>".
        let inner = match inner.iter().rposition(|&b| b == b'<') {
            Some(at) => &inner[at + 1..],
            None => inner,
        };
        let id: Vec<u8> = inner
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace() && *b != b'"' && *b != b'\\')
            .collect();
        let at = id.iter().position(|&b| b == b'@');
        if at.is_some_and(|at| at > 0 && at + 1 < id.len()) {
            out.push(String::from_utf8_lossy(&id).into_owned());
        }
        rest = &after[close + 1..];
    }
    out
}

/// A display name with its encoded words decoded.
fn decoded_name(name: &[u8]) -> String {
    let mut v = name.to_vec();
    v.extend_from_slice(b"\r\n");
    match MessageStream::new(&v).parse_unstructured() {
        HeaderValue::Text(t) if !t.is_empty() => t.into_owned(),
        _ => String::from_utf8_lossy(name).into_owned(),
    }
}

/// The first address of a list that is a mailbox (not a group marker).
fn first_mailbox(list: &[Address]) -> Option<&Address> {
    list.iter().find(|a| a.host.is_some())
}

fn real(part: &Option<Vec<u8>>, placeholder: &[u8]) -> String {
    match part {
        Some(v) if v != placeholder => String::from_utf8_lossy(v).into_owned(),
        _ => String::new(),
    }
}

/// addr-mailbox of the first address (RFC 5256 §3 FROM, TO, CC).
fn mailbox_key(list: &[Address]) -> String {
    first_mailbox(list).map_or_else(String::new, |a| fold(&real(&a.mailbox, MISSING_MAILBOX)))
}

/// RFC 5957 §3: the decoded display name of the first address when it is not empty,
/// else its addr-spec (`mailbox@host`); empty when there is no address.
fn display_key(list: &[Address]) -> String {
    let Some(a) = first_mailbox(list) else {
        return String::new();
    };
    if let Some(name) = &a.name {
        let decoded = decoded_name(name);
        let trimmed = decoded.trim();
        if !trimmed.is_empty() {
            return fold(trimmed);
        }
    }
    let (mailbox, host) = (
        real(&a.mailbox, MISSING_MAILBOX),
        real(&a.host, MISSING_DOMAIN),
    );
    if host.is_empty() {
        fold(&mailbox)
    } else {
        fold(&format!("{mailbox}@{host}"))
    }
}

/// A Date: value as UTC seconds, when it parses as a valid date.
fn sent_seconds(value: &[u8]) -> Option<i64> {
    let mut v = header::unfold(value);
    v.extend_from_slice(b"\r\n");
    match MessageStream::new(&v).parse_date() {
        DateTime(d) if d.is_valid() => Some(d.to_timestamp()),
        _ => None,
    }
}

impl SortKeys {
    /// The keys of a header block (`fields` inside `raw`).
    pub(crate) fn from_fields(raw: &[u8], fields: &[Field]) -> SortKeys {
        let first = |name: &[u8]| header::first(fields, raw, name);
        let addresses = |name: &[u8]| {
            first(name)
                .map(|f| parse_list(&f.unfolded(raw)))
                .unwrap_or_default()
        };
        let (subject, subject_is_reply) = match first(b"Subject") {
            Some(f) => base_subject(&decode::header_value(raw, f)),
            None => (String::new(), false),
        };
        let (from, to, cc) = (addresses(b"From"), addresses(b"To"), addresses(b"Cc"));
        let mut references = first(b"References")
            .map(|f| msg_ids(f.raw_value(raw)))
            .unwrap_or_default();
        if references.is_empty()
            && let Some(id) =
                first(b"In-Reply-To").and_then(|f| msg_ids(f.raw_value(raw)).into_iter().next())
        {
            references.push(id);
        }
        SortKeys {
            sent: first(b"Date").and_then(|f| sent_seconds(f.raw_value(raw))),
            subject: fold(&subject),
            subject_is_reply,
            from: mailbox_key(&from),
            to: mailbox_key(&to),
            cc: mailbox_key(&cc),
            display_from: display_key(&from),
            display_to: display_key(&to),
            message_id: first(b"Message-ID")
                .and_then(|f| msg_ids(f.raw_value(raw)).into_iter().next()),
            references,
        }
    }

    /// The cache form: one line per field in a fixed order (line breaks in values become
    /// spaces; msg-ids hold no white space).
    pub fn encode(&self) -> Vec<u8> {
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let lines = [
            self.sent.map_or_else(|| "-".to_string(), |s| s.to_string()),
            if self.subject_is_reply { "r" } else { "" }.to_string(),
            clean(&self.subject),
            clean(&self.from),
            clean(&self.to),
            clean(&self.cc),
            clean(&self.display_from),
            clean(&self.display_to),
            self.message_id.clone().unwrap_or_default(),
            self.references.join(" "),
        ];
        let mut out = lines.join("\n");
        out.push('\n');
        out.into_bytes()
    }

    /// The keys from their cache form; `None` for bytes that are not one.
    pub fn decode(bytes: &[u8]) -> Option<SortKeys> {
        SortKeys::decode_some(bytes, Wanted::ALL)
    }

    /// Like [`SortKeys::decode`], but only the strings `wanted` names are filled in (the
    /// others stay empty): a SORT of 100,000 messages by one key then allocates 100,000
    /// strings, not a million. The sent date and the reply flag are always there.
    pub fn decode_some(bytes: &[u8], wanted: Wanted) -> Option<SortKeys> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut l = text.split('\n');
        let sent = match l.next()? {
            "-" => None,
            n => Some(n.parse().ok()?),
        };
        let reply = l.next()? == "r";
        let mut take = |want: bool| {
            l.next()
                .map(|v| if want { v.to_string() } else { String::new() })
        };
        let keys = SortKeys {
            sent,
            subject_is_reply: reply,
            subject: take(wanted.subject)?,
            from: take(wanted.from)?,
            to: take(wanted.to)?,
            cc: take(wanted.cc)?,
            display_from: take(wanted.display_from)?,
            display_to: take(wanted.display_to)?,
            message_id: Some(take(wanted.ids)?).filter(|s| !s.is_empty()),
            references: take(wanted.ids)?
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        };
        (l.next()?.is_empty()).then_some(keys)
    }
}

/// Which strings of [`SortKeys`] a command compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub subject: bool,
    pub from: bool,
    pub to: bool,
    pub cc: bool,
    pub display_from: bool,
    pub display_to: bool,
    /// Message-ID and References.
    pub ids: bool,
}

impl Wanted {
    pub const ALL: Wanted = Wanted {
        subject: true,
        from: true,
        to: true,
        cc: true,
        display_from: true,
        display_to: true,
        ids: true,
    };
}

impl Message {
    /// The SORT and THREAD keys of this message (its top header block).
    pub fn sort_keys(&self) -> SortKeys {
        SortKeys::from_fields(self.raw(), &self.root().fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        base_subject(s)
    }

    #[test]
    fn base_subject_follows_rfc_5256_2_1() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", false),
            ("Hello", "Hello", false),
            ("Re: Hello", "Hello", true),
            ("RE:Hello", "Hello", true),
            ("re : Hello", "Hello", true),
            ("Fwd: Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("FWD:  Re: fw: Hello", "Hello", true),
            ("Re[2]: Hello", "Hello", true),
            ("Re [list]: Hello", "Hello", true),
            ("[list] Re: Hello", "Hello", true),
            ("[list] Hello", "Hello", false),
            ("[list][other] Hello", "Hello", false),
            ("[list]", "[list]", false),
            ("Re: [list]", "[list]", true),
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD) (fwd)  ", "Hello", true),
            ("[Fwd: Hello]", "Hello", true),
            ("[fwd: Re: [x] Hello (fwd)]", "Hello", true),
            ("\tHello \t  world  ", "Hello world", false),
            ("Rerun", "Rerun", false),
            ("Re", "Re", false),
            ("Fwd:", "", true),
            ("[a[b] Hello", "[a[b] Hello", false),
            ("Réponse: x", "Réponse: x", false),
            ("[liste] Re: Grüße", "Grüße", true),
        ];
        for (input, want, reply) in cases {
            assert_eq!(base(input), (want.to_string(), *reply), "{input:?}");
        }
    }

    #[test]
    fn msg_ids_are_normalized() {
        assert_eq!(
            msg_ids(b" <\"01KF8JCEOCBS0045PS\"@xxx.yyy.com> (c) <a@b>\r\n\t<c@d>"),
            ["01KF8JCEOCBS0045PS@xxx.yyy.com", "a@b", "c@d"]
        );
        assert_eq!(msg_ids(b"<nope> <@x> <x@> junk <a @ b>"), ["a@b"]);
        assert!(msg_ids(b"").is_empty());
    }

    #[test]
    fn keys_of_a_header_and_their_cache_form() {
        let m = Message::new(
            b"From: =?UTF-8?Q?J=C3=BCrgen?= <JUERGEN@example.org>, b@c\r\n\
              To: undisclosed:;, \"\" <to@Example.org>\r\n\
              Subject: =?ISO-8859-1?Q?Re:_[liste]_caf=E9?=\r\n\
              Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
              Message-ID: <m1@x>\r\n\
              In-Reply-To: <m0@x>\r\n\r\nbody"
                .to_vec(),
        );
        let k = m.sort_keys();
        assert_eq!(k.sent, Some(760686745));
        assert_eq!((k.subject.as_str(), k.subject_is_reply), ("CAFÉ", true));
        assert_eq!(k.from, "JUERGEN");
        assert_eq!(k.display_from, "JÜRGEN");
        assert_eq!(k.to, "TO");
        assert_eq!(k.display_to, "TO@EXAMPLE.ORG");
        assert_eq!(k.cc, "");
        assert_eq!(k.message_id.as_deref(), Some("m1@x"));
        assert_eq!(k.references, ["m0@x"]);
        assert_eq!(SortKeys::decode(&k.encode()), Some(k.clone()));
        let none = Message::new(b"X: y\r\n\r\n".to_vec()).sort_keys();
        assert_eq!(none, SortKeys::default());
        assert_eq!(SortKeys::decode(&none.encode()), Some(none));
        assert_eq!(SortKeys::decode(b"garbage"), None);
        let some = SortKeys::decode_some(
            &k.encode(),
            Wanted {
                from: true,
                ..Wanted::default()
            },
        )
        .unwrap();
        assert_eq!(
            (some.from.as_str(), some.sent, some.subject.as_str()),
            ("JUERGEN", k.sent, "")
        );
        assert!(some.references.is_empty() && some.message_id.is_none());
    }
}
