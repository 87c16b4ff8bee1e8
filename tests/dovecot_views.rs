//! Differential test of the message views against Dovecot 2.3 of Debian 12: every message
//! of `tests/dovecot/corpus/*.eml` (unusual addresses, encodings, MIME structure, RFC 2231,
//! malformed headers, nested message/rfc822, missing boundaries, ...) is APPENDed to
//! postern and to Dovecot's `imap`, and ENVELOPE, BODY, BODYSTRUCTURE, RFC822.SIZE,
//! BODY[], BODY[HEADER], BODY[TEXT], BODY[1], BODY[1.MIME], BODY[2], HEADER.FIELDS and
//! HEADER.FIELDS.NOT of each, and a set of SEARCH queries (CHARSET ones included), are
//! compared after parsing the answers into trees (so quoted strings and literals, and the
//! case of MIME tokens, which RFC 2045 §5.1 makes case-insensitive, do not count).
//!
//! Every difference left is listed in [`LISTED`] with the clause that makes Dovecot's answer
//! wrong or the choice free; a difference not listed fails the test, and so does a listed
//! one that is gone (the table stays true).
//!
//! Dovecot is not installed: `tests/dovecot/fetch-dovecot.sh` unpacks the Debian packages
//! into `$POSTERN_DOVECOT_DIR` (default `/var/cache/postern-test-dovecot`), and this test
//! runs its `imap` binary as a PREAUTH session on stdin/stdout (through `doveconf -e`, which
//! hands it a minimal configuration; no daemon, no port), as the mail owner. Without that
//! tree, or when it does not run here, the test prints `SKIP: ...` to stderr and passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod common;

use common::{Client, Part, TestServer};

// ---------------------------------------------------------------------------------------
// The differences that stay, with the reason. `*` as message: every message (SEARCH rows
// name the query as item).

const LISTED: &[(&str, &str, &str)] = &[
    // RFC 9051 §7.5.2: servers SHOULD decode RFC 2231 continuations and charsets and return
    // the value as the plain parameter name, in UTF-8. Dovecot 2.3 joins the segments but
    // hands on `name*` = `utf-8''%E2%82%AC...` undecoded.
    (
        "14-rfc2231",
        "BODY",
        "RFC 9051 §7.5.2: RFC 2231 values decoded",
    ),
    (
        "14-rfc2231",
        "BODYSTRUCTURE",
        "RFC 9051 §7.5.2: RFC 2231 values decoded",
    ),
    // A joined `filename*0`/`*1` and a plain `filename`: Dovecot lists `filename` twice.
    // RFC 2231 §3 (and RFC 2045 §5.1) never give one name two values: postern keeps the
    // RFC 2231 one, so no client has to choose.
    (
        "15-rfc2231-out-of-order",
        "BODYSTRUCTURE",
        "RFC 2231 §3: one value per name",
    ),
    // multipart/* without a boundary is an invalid Content-Type (RFC 2046 §5.1.1: the
    // boundary parameter is required), and RFC 2045 §5.2 says to take an invalid one as
    // text/plain: postern shows and searches the body as text; Dovecot shows an empty
    // multipart and finds nothing in it.
    (
        "18-multipart-without-boundary",
        "BODY",
        "RFC 2045 §5.2: invalid type is text/plain",
    ),
    (
        "18-multipart-without-boundary",
        "BODYSTRUCTURE",
        "RFC 2045 §5.2",
    ),
    (
        "18-multipart-without-boundary",
        "BODY[1]",
        "RFC 2045 §5.2 (part 1 = the body)",
    ),
    (
        "18-multipart-without-boundary",
        "BODY[1.MIME]",
        "RFC 2045 §5.2 (part 1 = the message)",
    ),
    (
        "*",
        "SEARCH BODY \"find me\"",
        "RFC 2045 §5.2: messages 18 and 30 searched as text",
    ),
    // No delimiter of the declared boundary at all: RFC 2046 §5.1.1 gives no rule. Dovecot
    // shows one empty part; postern one part with the whole body, so nothing is hidden
    // (its text is searchable, its bytes fetchable).
    (
        "19-boundary-never-found",
        "BODY",
        "RFC 2046 §5.1.1 has no rule: free",
    ),
    (
        "19-boundary-never-found",
        "BODYSTRUCTURE",
        "RFC 2046 §5.1.1 has no rule: free",
    ),
    (
        "19-boundary-never-found",
        "BODY[1]",
        "RFC 2046 §5.1.1 has no rule: free",
    ),
    ("*", "SEARCH BODY plain", "messages 18 and 19: see above"),
    // A first block whose lines are no header fields (`just a body line`, blank line):
    // Dovecot takes it as the header; postern as a message without header (RFC 5322 §2.2:
    // a header field is `name:` value, and this block has none). Malformed input: free.
    (
        "25-no-header",
        "BODY",
        "RFC 5322 §2.2: no field, no header; free",
    ),
    ("25-no-header", "BODYSTRUCTURE", "RFC 5322 §2.2; free"),
    ("25-no-header", "BODY[1]", "RFC 5322 §2.2; free"),
    ("25-no-header", "BODY[1.MIME]", "RFC 5322 §2.2; free"),
    ("25-no-header", "BODY[HEADER]", "RFC 5322 §2.2; free"),
    ("25-no-header", "BODY[TEXT]", "RFC 5322 §2.2; free"),
    ("25-no-header", "HEADER.FIELDS.NOT", "RFC 5322 §2.2; free"),
    // `Content-Type: text` (no subtype) and `Content-Type: ;;;`: RFC 2045 §5.2 says an
    // invalid Content-Type means text/plain; us-ascii. Dovecot answers `"text" ""` and
    // `"" ""` (an empty subtype that no client can use) and does not search the text.
    ("30-invalid-content-type", "BODY", "RFC 2045 §5.2"),
    ("30-invalid-content-type", "BODYSTRUCTURE", "RFC 2045 §5.2"),
    ("31-garbage-content-type", "BODY", "RFC 2045 §5.2"),
    ("31-garbage-content-type", "BODYSTRUCTURE", "RFC 2045 §5.2"),
    ("*", "SEARCH BODY \"garbage = ok\"", "RFC 2045 §5.2"),
    // Two From and two Subject fields break RFC 5322 §3.6 (at most one each): Dovecot joins
    // the From lists and takes the last Subject; postern takes the first of each. Free.
    (
        "32-duplicate-fields",
        "ENVELOPE",
        "RFC 5322 §3.6: at most one; free",
    ),
    // A folded Content-Location: RFC 2557 §4.4.1 says the white space of the fold is not
    // part of the URI; Dovecot keeps it.
    (
        "33-mime-part-fields",
        "BODYSTRUCTURE",
        "RFC 2557 §4.4.1: fold removed from URI",
    ),
    // Unfolding removes only the CRLF (RFC 5322 §2.2.3): the tab and three spaces stay in
    // Subject, which Dovecot turns into single spaces; Dovecot's Message-ID keeps the
    // leading space of a value that starts with a fold, which is CFWS, not part of the
    // msg-id (RFC 5322 §3.6.4).
    ("35-folded-long", "ENVELOPE", "RFC 5322 §2.2.3, §3.6.4"),
    // Obsolete address syntax: `"a"."b"@c.test` and `x . y @ z . test` are valid
    // obs-local-part / obs-domain (RFC 5322 §4.4), which Dovecot fails to parse (it gives a
    // display name "a" and placeholders); an empty list element `, ,` is "not part of the
    // list" (RFC 5322 §4.4), which Dovecot turns into a placeholder address.
    ("39-obsolete-address-syntax", "ENVELOPE", "RFC 5322 §4.4"),
    // A message without a Date field has no sent date (RFC 3501 §6.4.4 defines SENT* by the
    // Date field only): postern matches none of them; Dovecot takes them as sent in 1970.
    (
        "*",
        "SEARCH SENTBEFORE 1-Jan-2000",
        "RFC 3501 §6.4.4: no Date, no sent date",
    ),
];

// ---------------------------------------------------------------------------------------
// Dovecot, unpacked (tests/dovecot/oracle.rs).

#[path = "dovecot/oracle.rs"]
mod dovecot_oracle;
use dovecot_oracle::Dovecot;

// ---------------------------------------------------------------------------------------
// Answers as trees.

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    Nil,
    /// An atom, number, quoted string or literal.
    S(Vec<u8>),
    L(Vec<V>),
}

impl V {
    fn show(&self) -> String {
        match self {
            V::Nil => "NIL".into(),
            V::S(s) => format!("{:?}", String::from_utf8_lossy(s)),
            V::L(l) => format!("({})", l.iter().map(V::show).collect::<Vec<_>>().join(" ")),
        }
    }

    fn lower(&self) -> V {
        match self {
            V::S(s) => V::S(s.to_ascii_lowercase()),
            other => other.clone(),
        }
    }
}

/// Parses the values of one response line (literals inline, as `Line::raw` has them).
fn parse_values(raw: &[u8]) -> Vec<V> {
    fn value(s: &[u8], i: &mut usize) -> Option<V> {
        while *i < s.len() && (s[*i] == b' ' || s[*i] == b'\r' || s[*i] == b'\n') {
            *i += 1;
        }
        let b = *s.get(*i)?;
        match b {
            b'(' => {
                *i += 1;
                let mut l = Vec::new();
                loop {
                    while *i < s.len() && s[*i] == b' ' {
                        *i += 1;
                    }
                    if *i >= s.len() {
                        return Some(V::L(l));
                    }
                    if s[*i] == b')' {
                        *i += 1;
                        return Some(V::L(l));
                    }
                    l.push(value(s, i)?);
                }
            }
            b')' => None,
            b'"' => {
                *i += 1;
                let mut out = Vec::new();
                while *i < s.len() && s[*i] != b'"' {
                    if s[*i] == b'\\' {
                        *i += 1;
                    }
                    out.push(s[*i]);
                    *i += 1;
                }
                *i += 1;
                Some(V::S(out))
            }
            b'{' => {
                let close = *i + s[*i..].iter().position(|&c| c == b'}')?;
                let n: usize = std::str::from_utf8(&s[*i + 1..close])
                    .ok()?
                    .trim_end_matches('+')
                    .parse()
                    .ok()?;
                let start = close + 3; // "}\r\n"
                *i = start + n;
                Some(V::S(s[start..start + n].to_vec()))
            }
            _ => {
                let start = *i;
                // An atom; `BODY[...]<n>` keeps its brackets (spaces inside them too).
                let mut depth = 0;
                while *i < s.len() {
                    let c = s[*i];
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' {
                        depth -= 1;
                    } else if depth == 0 && (c == b' ' || c == b'(' || c == b')' || c == b'\r') {
                        break;
                    }
                    *i += 1;
                }
                let atom = &s[start..*i];
                Some(if atom.eq_ignore_ascii_case(b"NIL") {
                    V::Nil
                } else {
                    V::S(atom.to_vec())
                })
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(v) = value(raw, &mut i) {
        out.push(v);
    }
    out
}

/// The value of the one item other than UID and FLAGS in `* n FETCH (...)`.
fn fetch_value(raw: &[u8]) -> Option<V> {
    let vals = parse_values(raw);
    let V::L(items) = vals.get(3)? else {
        return None;
    };
    items.chunks(2).find_map(|kv| match kv {
        [V::S(k), v] if !k.eq_ignore_ascii_case(b"UID") && !k.eq_ignore_ascii_case(b"FLAGS") => {
            Some(v.clone())
        }
        _ => None,
    })
}

/// A language list (or single language) in lower case; a list of one is that string
/// (RFC 3501 `body-fld-lang` allows either for one language).
fn lower_list(v: &V) -> V {
    match v {
        V::L(l) if l.len() == 1 => l[0].lower(),
        V::L(l) => V::L(l.iter().map(V::lower).collect()),
        other => other.lower(),
    }
}

/// A parameter list with the names (and a charset's value) in lower case.
fn norm_params(v: &V) -> V {
    match v {
        V::L(l) => V::L(
            l.chunks(2)
                .flat_map(|kv| {
                    let name = kv[0].lower();
                    let value = match (&name, kv.get(1)) {
                        (V::S(n), Some(v)) if n == b"charset" => v.lower(),
                        (_, Some(v)) => v.clone(),
                        (_, None) => V::Nil,
                    };
                    [name, value]
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `(type params)` of a disposition.
fn norm_disposition(v: &V) -> V {
    match v {
        V::L(l) if l.len() == 2 => V::L(vec![l[0].lower(), norm_params(&l[1])]),
        other => other.clone(),
    }
}

/// BODY / BODYSTRUCTURE with the case-insensitive tokens in lower case (RFC 2045 §5.1,
/// §6.1; RFC 2183 §2): types, subtypes, parameter names, charset values, encodings,
/// disposition types, languages.
fn norm_body(v: &V) -> V {
    let V::L(l) = v else {
        return v.clone();
    };
    let mut out = l.clone();
    if matches!(l.first(), Some(V::L(_))) {
        let n = l.iter().take_while(|x| matches!(x, V::L(_))).count();
        for x in &mut out[..n] {
            *x = norm_body(x);
        }
        let ext = |i: usize, out: &mut Vec<V>, f: fn(&V) -> V| {
            if let Some(x) = out.get_mut(n + i) {
                *x = f(x);
            }
        };
        ext(0, &mut out, V::lower);
        ext(1, &mut out, norm_params);
        ext(2, &mut out, norm_disposition);
        ext(3, &mut out, lower_list);
        return V::L(out);
    }
    for i in [0, 1, 5] {
        if let Some(x) = out.get_mut(i) {
            *x = x.lower();
        }
    }
    if let Some(x) = out.get_mut(2) {
        *x = norm_params(x);
    }
    let is = |i: usize, t: &[u8]| matches!(l.get(i), Some(V::S(s)) if s.eq_ignore_ascii_case(t));
    let ext_start = if is(0, b"message") && is(1, b"rfc822") {
        if let Some(x) = out.get_mut(8) {
            *x = norm_body(x);
        }
        10
    } else if is(0, b"text") {
        8
    } else {
        7
    };
    // md5, disposition, language, location
    if let Some(x) = out.get_mut(ext_start + 1) {
        *x = norm_disposition(x);
    }
    if let Some(x) = out.get_mut(ext_start + 2) {
        *x = lower_list(x);
    }
    V::L(out)
}

// ---------------------------------------------------------------------------------------
// Sessions.

struct Session {
    c: Client,
    tag: u32,
}

impl Session {
    fn cmd(&mut self, parts: &[Part]) -> common::Reply {
        self.tag += 1;
        let tag = format!("d{}", self.tag);
        self.c.send_parts(&tag, parts)
    }

    #[track_caller]
    fn append(&mut self, name: &str, msg: &[u8]) {
        let r = self.cmd(&[Part::Text("APPEND INBOX "), Part::Literal(msg)]);
        assert!(r.is_ok(), "APPEND {name}: {}", r.dump());
    }

    /// The one FETCH item's value, or the tagged answer when it failed.
    fn fetch(&mut self, seq: usize, item: &str) -> Result<V, String> {
        let r = self.cmd(&[Part::Text(&format!("FETCH {seq} ({item})"))]);
        if !r.is_ok() {
            return Err(r.tagged.text.clone());
        }
        r.untagged
            .iter()
            .filter(|l| l.text.contains(" FETCH ("))
            .find_map(|l| fetch_value(&l.raw))
            .ok_or_else(|| format!("no value in {}", r.dump()))
    }

    /// The SEARCH hits, or the tagged answer when it failed.
    fn search(&mut self, parts: &[Part]) -> Result<BTreeSet<u32>, String> {
        let r = self.cmd(parts);
        if !r.is_ok() {
            let text = &r.tagged.text;
            return Err(text.split_once(' ').map_or(text.as_str(), |x| x.1).into());
        }
        Ok(r.search().into_iter().collect())
    }
}

/// FETCH items compared for every message, with the name used in [`LISTED`].
const ITEMS: &[(&str, &str)] = &[
    ("ENVELOPE", "ENVELOPE"),
    ("BODY", "BODY"),
    ("BODYSTRUCTURE", "BODYSTRUCTURE"),
    ("RFC822.SIZE", "RFC822.SIZE"),
    ("BODY[]", "BODY.PEEK[]"),
    ("BODY[HEADER]", "BODY.PEEK[HEADER]"),
    ("BODY[TEXT]", "BODY.PEEK[TEXT]"),
    ("BODY[1]", "BODY.PEEK[1]"),
    ("BODY[1.MIME]", "BODY.PEEK[1.MIME]"),
    ("BODY[2]", "BODY.PEEK[2]"),
    ("BODY[2.HEADER]", "BODY.PEEK[2.HEADER]"),
    (
        "HEADER.FIELDS",
        "BODY.PEEK[HEADER.FIELDS (From Subject X-A Content-Type)]",
    ),
    (
        "HEADER.FIELDS.NOT",
        "BODY.PEEK[HEADER.FIELDS.NOT (From Subject Content-Type)]",
    ),
];

/// SEARCH queries: name (for [`LISTED`]) and the command's parts.
fn searches() -> Vec<(String, Vec<Vec<u8>>)> {
    let text = |name: &str, cmd: &str| (name.to_string(), vec![cmd.as_bytes().to_vec()]);
    // `CHARSET cs KEY` with the string as a literal in that charset.
    let lit = |name: &str, head: &str, bytes: Vec<u8>| {
        (name.to_string(), vec![head.as_bytes().to_vec(), bytes])
    };
    // "ハロー" in ISO-2022-JP, "ワールド" in Shift_JIS, "Привет" in KOI8-R.
    let jis = b"\x1b$B%O%m!<\x1b(B".to_vec();
    let sjis = b"\x83\x8f\x81[\x83\x8b\x83h".to_vec();
    let koi = b"\xf0\xd2\xc9\xd7\xc5\xd4".to_vec();
    vec![
        text("FROM user@example.org", "SEARCH FROM user@example.org"),
        text("FROM \"john q. public\"", "SEARCH FROM \"john q. public\""),
        text("FROM inner", "SEARCH FROM inner"),
        text("FROM nodomain", "SEARCH FROM nodomain"),
        text("TO \"John Doe\"", "SEARCH TO \"John Doe\""),
        text("TO undisclosed", "SEARCH TO undisclosed"),
        text("CC Team", "SEARCH CC Team"),
        text("FROM second", "SEARCH FROM second"),
        text("SUBJECT two", "SEARCH SUBJECT two"),
        text("SUBJECT folded", "SEARCH SUBJECT \"folded with a tab\""),
        lit(
            "CHARSET UTF-8 FROM Jörg",
            "SEARCH CHARSET UTF-8 FROM ",
            "Jörg".into(),
        ),
        lit(
            "CHARSET UTF-8 SUBJECT ハロー",
            "SEARCH CHARSET UTF-8 SUBJECT ",
            "ハロー".into(),
        ),
        lit(
            "CHARSET ISO-2022-JP SUBJECT ハロー",
            "SEARCH CHARSET ISO-2022-JP SUBJECT ",
            jis,
        ),
        lit(
            "CHARSET ISO-8859-1 SUBJECT café",
            "SEARCH CHARSET ISO-8859-1 SUBJECT ",
            b"caf\xe9".to_vec(),
        ),
        lit(
            "CHARSET ISO-8859-1 BODY crème",
            "SEARCH CHARSET ISO-8859-1 BODY ",
            b"cr\xe8me".to_vec(),
        ),
        lit(
            "CHARSET WINDOWS-1252 BODY “smart”",
            "SEARCH CHARSET WINDOWS-1252 BODY ",
            b"\x93smart\x94".to_vec(),
        ),
        lit(
            "CHARSET KOI8-R BODY Привет",
            "SEARCH CHARSET KOI8-R BODY ",
            koi,
        ),
        lit(
            "CHARSET SHIFT_JIS BODY ワールド",
            "SEARCH CHARSET SHIFT_JIS BODY ",
            sjis,
        ),
        lit(
            "CHARSET UTF-8 BODY Köln",
            "SEARCH CHARSET UTF-8 BODY ",
            "Köln".into(),
        ),
        lit(
            "CHARSET UTF-8 SUBJECT Grüße",
            "SEARCH CHARSET UTF-8 SUBJECT ",
            "Grüße".into(),
        ),
        text("SENTON 14-Mar-2017", "SEARCH SENTON 14-Mar-2017"),
        text("SENTSINCE 1-Jan-2017", "SEARCH SENTSINCE 1-Jan-2017"),
        text("SENTBEFORE 1-Jan-2000", "SEARCH SENTBEFORE 1-Jan-2000"),
        text("BODY \"find me\"", "SEARCH BODY \"find me\""),
        text("BODY \"hidden word\"", "SEARCH BODY \"hidden word\""),
        text("BODY \"garbage = ok\"", "SEARCH BODY \"garbage = ok\""),
        text("BODY \"deep body\"", "SEARCH BODY \"deep body\""),
        text("BODY bonjour", "SEARCH BODY bonjour"),
        text("BODY plain", "SEARCH BODY plain"),
        text("TEXT orig", "SEARCH TEXT orig"),
        text("TEXT \"John Doe\"", "SEARCH TEXT \"John Doe\""),
        text("HEADER X-A \"\"", "SEARCH HEADER X-A \"\""),
        text(
            "HEADER Message-ID folded",
            "SEARCH HEADER Message-ID folded",
        ),
    ]
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dovecot/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            // The files have LF line ends; mail travels with CRLF.
            let lf = std::fs::read(&p).unwrap();
            let mut crlf = Vec::with_capacity(lf.len() + lf.len() / 20);
            for &b in &lf {
                if b == b'\n' {
                    crlf.push(b'\r');
                }
                crlf.push(b);
            }
            (name, crlf)
        })
        .collect()
}

fn listed(message: &str, item: &str) -> bool {
    LISTED
        .iter()
        .any(|(m, i, _)| (*m == message || *m == "*") && *i == item)
}

#[test]
fn message_views_match_dovecot_or_are_listed() {
    let Some(dovecot) = Dovecot::find() else {
        return;
    };
    let corpus = corpus();
    let server = TestServer::new();
    let (pc, _) = server.session("INBOX");
    let mut postern = Session { c: pc, tag: 0 };
    let home = tempfile::tempdir().unwrap();
    let mut dc = Client::spawn(dovecot.command(home.path()), false);
    assert!(
        dc.greeting.text.starts_with("* PREAUTH"),
        "{}",
        dc.greeting.text
    );
    dc.send("s0", "SELECT INBOX").assert_ok();
    let mut dovecot_s = Session { c: dc, tag: 0 };

    for (name, msg) in &corpus {
        postern.append(name, msg);
        dovecot_s.append(name, msg);
    }
    // Both see the appended messages in order.
    postern.cmd(&[Part::Text("NOOP")]);
    dovecot_s.cmd(&[Part::Text("NOOP")]);

    let mut compared = 0usize;
    let mut differences: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, (name, _)) in corpus.iter().enumerate() {
        for (item, fetch) in ITEMS {
            compared += 1;
            let norm = |r: Result<V, String>| match r {
                Ok(v) if item.starts_with("BODY") && !item.contains('[') => Ok(norm_body(&v)),
                other => other,
            };
            let ours = norm(postern.fetch(i + 1, fetch));
            let theirs = norm(dovecot_s.fetch(i + 1, fetch));
            if ours != theirs {
                let show = |r: &Result<V, String>| match r {
                    Ok(v) => v.show(),
                    Err(e) => format!("error: {e}"),
                };
                differences.insert(
                    (name.clone(), item.to_string()),
                    format!("  postern: {}\n  dovecot: {}", show(&ours), show(&theirs)),
                );
            }
        }
    }
    let names: Vec<&str> = corpus.iter().map(|(n, _)| n.as_str()).collect();
    for (query, parts) in searches() {
        compared += 1;
        let parts: Vec<Part> = match parts.as_slice() {
            [one] => vec![Part::Bytes(one)],
            [head, lit] => vec![Part::Bytes(head), Part::Literal(lit)],
            _ => unreachable!(),
        };
        let ours = postern.search(&parts);
        let theirs = dovecot_s.search(&parts);
        if ours != theirs {
            let show = |r: &Result<BTreeSet<u32>, String>| match r {
                Ok(hits) => hits
                    .iter()
                    .map(|&n| names[n as usize - 1])
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(e) => format!("error: {e}"),
            };
            differences.insert(
                ("*".into(), format!("SEARCH {query}")),
                format!("  postern: {}\n  dovecot: {}", show(&ours), show(&theirs)),
            );
        }
    }

    let unlisted: Vec<String> = differences
        .iter()
        .filter(|((m, i), _)| !listed(m, i))
        .map(|((m, i), d)| format!("{m} × {i}:\n{d}"))
        .collect();
    let stale: Vec<String> = LISTED
        .iter()
        .filter(|(m, i, _)| !differences.contains_key(&(m.to_string(), i.to_string())))
        .map(|(m, i, _)| format!("{m} × {i}"))
        .collect();
    eprintln!(
        "dovecot_views: {} messages, {} items compared, {} differences, {} listed",
        corpus.len(),
        compared,
        differences.len(),
        LISTED.len()
    );
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "{} differences from Dovecot not in LISTED:\n{}\n\nlisted but no longer different: {:?}",
        unlisted.len(),
        unlisted.join("\n"),
        stale
    );
    postern.c.logout();
    dovecot_s.cmd(&[Part::Text("LOGOUT")]);
}
