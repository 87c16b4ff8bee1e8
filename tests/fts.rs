//! The full-text index (`postern-fts`, `postern-fts.recent`, see src/store/fts/) against
//! the real binary: SEARCH answers with the index are the scan's (the same server with
//! `[fts] enabled = false`) on a generated corpus of encoded, multi-charset, HTML and
//! multipart mail; mail delivered behind the index's back, expunges, damaged files and
//! processes killed while they write the index never change an answer.

mod common;
#[path = "rng/mod.rs"]
mod rng;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::owner;
use common::*;

/// A fixed-seed xorshift, so the corpus is the same on every run.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const ASCII: &[&str] = &[
    "meeting",
    "quarterly",
    "report",
    "invoice",
    "kernel",
    "postern",
    "maildir",
    "trigram",
    "substring",
    "zebra",
    "xylophone",
    "onomatopoeia",
    "budget",
    "Lisbon",
    "Thursday",
    "migration",
    "deadline",
    "QUOTED",
    "printable",
];
/// Words ISO-8859-1 can carry.
const LATIN1: &[&str] = &[
    "café",
    "naïve",
    "Grüße",
    "Straße",
    "Köln",
    "résumé",
    "Ærøskøbing",
];
/// Words only UTF-8 carries (Greek final sigma and the dotted capital I fold specially).
const UTF8: &[&str] = &[
    "Привет",
    "日本語",
    "σοφία",
    "ΣΟΦΙΑΣ",
    "łódź",
    "İstanbul",
    "ẞTRASSE",
];

fn words(g: &mut Gen, pool: &[&[&str]], n: usize) -> String {
    let mut out = Vec::new();
    for _ in 0..n {
        let p = pool[g.below(pool.len())];
        out.push(p[g.below(p.len())].to_string());
    }
    out.join(" ")
}

/// Quoted-printable with a soft break every `width` characters: words (and UTF-8
/// sequences) are split across encoded lines.
fn qp(bytes: &[u8], width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in bytes {
        let piece = if b == b'\n' {
            out.push_str("\r\n");
            line = 0;
            continue;
        } else if b.is_ascii_graphic() && b != b'=' || b == b' ' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if line + piece.len() > width {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}

/// Message `i` of the corpus: plain, quoted-printable, base64 ISO-8859-1, HTML, multipart
/// with an attachment, an encapsulated message, encoded headers.
fn message(g: &mut Gen, i: usize) -> Vec<u8> {
    let all: &[&[&str]] = &[ASCII, LATIN1, UTF8];
    let text = format!("{} {}\n{}", words(g, all, 12), i, words(g, all, 20));
    let subject = words(g, &[ASCII], 3);
    let from = format!(
        "From: {} <user{}@example.org>\r\n",
        words(g, &[ASCII], 1),
        i % 17
    );
    let head = format!(
        "{from}To: list@example.org\r\nDate: Tue, 4 Jul 2023 12:30:00 +0200\r\nMessage-ID: <m{i}@example.org>\r\nX-Tag: tag{}\r\nMIME-Version: 1.0\r\n",
        i % 5
    );
    let m = match i % 7 {
        0 => format!(
            "{head}Subject: {subject}\r\n\r\n{}\r\n",
            words(g, &[ASCII], 30).replace('\n', "\r\n")
        ),
        1 => format!(
            "{head}Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n",
            qp(text.as_bytes(), 13 + i % 11)
        ),
        2 => {
            let t = format!("{} {}", words(g, &[ASCII, LATIN1], 25), i);
            format!(
                "{head}Subject: {subject}\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                b64(&latin1(&t))
            )
        }
        3 => {
            let w: Vec<String> = text.split(' ').map(String::from).collect();
            let html = w
                .iter()
                .map(|w| match w.len() {
                    // A tag in the middle of a word: the text has the word whole.
                    5.. if w.is_ascii() => format!("<b>{}</b>{}", &w[..2], &w[2..]),
                    _ => w.replace('é', "&eacute;"),
                })
                .collect::<Vec<_>>()
                .join(" <i>&amp;</i> ");
            format!(
                "{head}Subject: {subject}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{html}</p></body></html>\r\n"
            )
        }
        4 => format!(
            "{head}Subject: {subject}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\npreamble\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n--b{i}\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b{i}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b{i}--\r\n",
            qp(text.as_bytes(), 30),
            b64(b"secretattachmentword zebra"),
            b64(format!("<div>{}</div>", words(g, all, 8)).as_bytes())
        ),
        5 => format!(
            "{head}Subject: Fwd: {subject}\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.net\r\nSubject: inner {}\r\n\r\n{}\r\n",
            words(g, &[ASCII], 2),
            text.replace('\n', "\r\n")
        ),
        _ => {
            let t = words(g, &[UTF8, LATIN1], 2);
            format!(
                "{head}Subject: =?UTF-8?B?{}?= =?ISO-8859-1?Q?caf=E9_{}?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\n",
                b64(t.as_bytes()),
                words(g, &[ASCII], 1),
                text
            )
        }
    };
    m.into_bytes()
}

/// Writes `count` messages into `dir/cur` (as another tool would: no index update).
fn write_corpus(maildir: &Path, from: usize, count: usize) {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15 ^ from as u64);
    for i in from..from + count {
        let m = message(&mut g, i);
        let flags = if i % 3 == 0 { "S" } else { "" };
        let name = format!("{}.M{i}P1.fts,S={}:2,{flags}", 1_700_000_000 + i, m.len());
        fs::write(maildir.join("cur").join(name), m).unwrap();
    }
    owner::give_to_mail_owner(maildir);
}

/// The search keys the tests ask: every word in several cases, fragments, phrases,
/// short strings, and header, TEXT, NOT and OR forms.
fn queries() -> Vec<(String, Vec<u8>)> {
    let mut q: Vec<(String, Vec<u8>)> = Vec::new();
    for w in ASCII.iter().chain(LATIN1).chain(UTF8) {
        for key in ["BODY", "TEXT"] {
            q.push((key.into(), w.as_bytes().to_vec()));
        }
        q.push(("BODY".into(), w.to_uppercase().into_bytes()));
        q.push(("BODY".into(), w.to_lowercase().into_bytes()));
        let chars: Vec<char> = w.chars().collect();
        if chars.len() > 4 {
            q.push((
                "BODY".into(),
                chars[1..chars.len() - 1]
                    .iter()
                    .collect::<String>()
                    .into_bytes(),
            ));
        }
    }
    for s in [
        "meeting report",
        "report 1",
        "secretattachmentword",
        "zz",
        "é",
        "e",
        "",
        "nowhere-at-all",
        "user3@example.org",
        "&amp;",
        "<b>",
        "=C3",
        "inner",
        "fwd:",
        "caf",
        "9",
    ] {
        q.push(("BODY".into(), s.as_bytes().to_vec()));
        q.push(("TEXT".into(), s.as_bytes().to_vec()));
    }
    for (h, s) in [
        ("Subject", "budget"),
        ("X-Tag", "tag3"),
        ("Message-ID", "m4"),
        ("Subject", "café"),
        ("From", "user1"),
        ("To", ""),
    ] {
        q.push((format!("HEADER {h}"), s.as_bytes().to_vec()));
    }
    q.push(("NOT BODY".into(), b"zebra".to_vec()));
    q.push(("UNSEEN BODY".into(), b"kernel".to_vec()));
    q.push(("OR BODY invoice BODY".into(), "łódź".as_bytes().to_vec()));
    q.push(("NOT OR SEEN BODY".into(), b"deadline".to_vec()));
    q.push(("SUBJECT".into(), b"budget".to_vec()));
    q
}

fn search(c: &mut Client, key: &str, needle: &[u8]) -> Vec<u32> {
    let r = c.send_parts(
        "S",
        &[
            Part::Text(&format!("UID SEARCH CHARSET UTF-8 {key} ")),
            Part::Literal(needle),
        ],
    );
    r.assert_ok();
    r.search()
}

fn answers(server: &mut TestServer, qs: &[(String, Vec<u8>)]) -> Vec<Vec<u32>> {
    let mut c = server.connect();
    c.login();
    c.select("INBOX");
    let out = qs.iter().map(|(k, n)| search(&mut c, k, n)).collect();
    c.logout();
    out
}

/// The scan's answers: the same server with the index off.
fn scan_answers(server: &mut TestServer, qs: &[(String, Vec<u8>)]) -> Vec<Vec<u32>> {
    server.set("fts", "enabled", "false");
    let out = answers(server, qs);
    server.set("fts", "enabled", "true");
    out
}

fn assert_same(what: &str, qs: &[(String, Vec<u8>)], got: &[Vec<u32>], want: &[Vec<u32>]) {
    for ((q, g), w) in qs.iter().zip(got).zip(want) {
        assert_eq!(g, w, "{what}: {} {:?}", q.0, String::from_utf8_lossy(&q.1));
    }
}

fn fts_server(extra: &[(&'static str, &'static str, &str)]) -> TestServer {
    let mut settings = vec![("fts", "enabled", "true")];
    settings.extend_from_slice(extra);
    TestServer::with(&settings)
}

#[test]
fn index_answers_equal_the_scan_on_a_generated_corpus() {
    // A small build budget, so the index has several segments in postern-fts and a
    // recent one.
    let mut server = fts_server(&[("fts", "build_memory", "65536")]);
    write_corpus(&server.maildir, 0, 420);
    let qs = queries();
    let want = scan_answers(&mut server, &qs);
    assert!(
        !server.maildir.join("postern-fts").exists(),
        "the scan made an index"
    );
    let cold = answers(&mut server, &qs);
    assert!(
        server.maildir.join("postern-fts").exists(),
        "no index was built"
    );
    let warm = answers(&mut server, &qs);
    assert_same("first search (index built)", &qs, &cold, &want);
    assert_same("warm index", &qs, &warm, &want);
    // Not vacuous: words are found, and the index rules messages out.
    let found = want
        .iter()
        .filter(|w| !w.is_empty() && w.len() < 420)
        .count();
    assert!(found > qs.len() / 2, "only {found} selective queries");
    // The index is what answers: a message rewritten in place behind its back (which a
    // Maildir never does) is not read for a word the index says it lacks, while the scan
    // finds it.
    let victim = fs::read_dir(server.maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    fs::write(&victim, "Subject: x\r\n\r\nwordnotindexed\r\n").unwrap();
    owner::give_to_mail_owner(&victim);
    let probe = [("BODY".to_string(), b"wordnotindexed".to_vec())];
    assert!(answers(&mut server, &probe)[0].is_empty());
    assert_eq!(scan_answers(&mut server, &probe)[0].len(), 1);
    // The attachment is not text: BODY does not find what only it holds.
    let i = qs
        .iter()
        .position(|q| q.1 == b"secretattachmentword")
        .unwrap();
    assert!(want[i].is_empty());
}

#[test]
fn mail_that_arrives_without_the_index_and_expunges_change_no_answer() {
    let mut server = fts_server(&[]);
    write_corpus(&server.maildir, 0, 120);
    let qs = queries();
    answers(&mut server, &qs[..4]); // builds the index
    let md = server.maildir.clone();
    // Courier's delivery (new/) and another tool's file in cur/: the index never saw them.
    let late = |w: &str| format!("Subject: late\r\n\r\nthe {w} arrived\r\n");
    fs::write(
        md.join("new/1800000001.M1P1.courier"),
        late("latecomer-one"),
    )
    .unwrap();
    fs::write(
        md.join("cur/1800000002.M2P2.tool:2,S"),
        late("latecomer-two"),
    )
    .unwrap();
    owner::give_to_mail_owner(&md);
    // postern deliver and APPEND update postern-fts.recent themselves.
    let mut d = postern_command("deliver", &server.config)
        .arg(md.to_str().unwrap())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    d.stdin
        .take()
        .unwrap()
        .write_all(late("latecomer-three").as_bytes())
        .unwrap();
    assert!(d.wait().unwrap().success());
    let delivered = fs::read_dir(md.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| !n.contains("courier"))
        .unwrap();
    let recent = fs::read(md.join("postern-fts.recent")).unwrap();
    assert!(
        contains(&recent, delivered.as_bytes()),
        "deliver did not index {delivered}"
    );
    let mut c = server.connect();
    c.login();
    let m = late("latecomer-four");
    c.send_parts(
        "A",
        &[Part::Text("APPEND INBOX "), Part::Literal(m.as_bytes())],
    )
    .assert_ok();
    c.logout();
    let recent = fs::read(md.join("postern-fts.recent")).unwrap();
    let appended = fs::read_dir(md.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.contains(".fts,") && !n.contains(".tool"))
        .collect::<Vec<_>>();
    assert_eq!(appended.len(), 1, "{appended:?}");
    let base = appended[0].split(":2,").next().unwrap();
    assert!(
        contains(&recent, base.as_bytes()),
        "APPEND did not index {base}"
    );
    // A burst of APPENDs: each adds a segment to postern-fts.recent, merged every few.
    let mut c = server.connect();
    c.login();
    for i in 0..20 {
        let m = format!("Subject: burst\r\n\r\nburst-{i} body\r\n");
        c.send_parts(
            "B",
            &[Part::Text("APPEND INBOX "), Part::Literal(m.as_bytes())],
        )
        .assert_ok();
    }
    c.logout();
    let mut qs = qs;
    for i in [0, 7, 8, 13, 19] {
        qs.push(("BODY".into(), format!("burst-{i} ").into_bytes()));
    }
    for w in [
        "latecomer",
        "latecomer-one",
        "latecomer-two",
        "latecomer-three",
        "latecomer-four",
    ] {
        qs.push(("BODY".into(), w.as_bytes().to_vec()));
        qs.push(("TEXT".into(), w.as_bytes().to_vec()));
    }
    // No time to catch up: what the index does not cover is read.
    server.set("fts", "catch_up_time_ms", "0");
    let want = scan_answers(&mut server, &qs);
    let n = want[qs.len() - 10].len();
    assert_eq!(n, 4, "the four late messages");
    assert_same(
        "uncovered mail, no catch-up",
        &qs,
        &answers(&mut server, &qs),
        &want,
    );
    server.set("fts", "catch_up_time_ms", "3000");
    assert_same("after catch-up", &qs, &answers(&mut server, &qs), &want);
    // Expunged behind the index's back, and by EXPUNGE; then most of the folder.
    fs::remove_file(md.join("cur/1800000002.M2P2.tool:2,S")).unwrap();
    let mut c = server.connect();
    c.login();
    c.select("INBOX");
    c.send("E1", "SEARCH BODY latecomer-three").assert_ok();
    c.send("E2", "STORE 1:5 +FLAGS (\\Deleted)").assert_ok();
    c.send("E3", "EXPUNGE").assert_ok();
    c.logout();
    assert_same(
        "after expunges",
        &qs,
        &answers(&mut server, &qs),
        &scan_answers(&mut server, &qs),
    );
    let mut names: Vec<_> = fs::read_dir(md.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names
        .iter()
        .step_by(3)
        .chain(names.iter().skip(1).step_by(3))
    {
        fs::remove_file(p).unwrap();
    }
    assert_same(
        "most expunged",
        &qs,
        &answers(&mut server, &qs),
        &scan_answers(&mut server, &qs),
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_damaged_or_torn_index_never_gives_a_wrong_answer() {
    let mut server = fts_server(&[("fts", "build_memory", "65536")]);
    write_corpus(&server.maildir, 0, 200);
    let qs = queries();
    let want = scan_answers(&mut server, &qs);
    answers(&mut server, &qs[..2]);
    let md = server.maildir.clone();
    let main = md.join("postern-fts");
    let good = fs::read(&main).unwrap();
    let recent = md.join("postern-fts.recent");
    let good_recent = fs::read(&recent).ok();
    type Damage = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let damages: Vec<(&str, Damage)> = vec![
        ("cut in half", Box::new(|b| b[..b.len() / 2].to_vec())),
        ("cut by one", Box::new(|b| b[..b.len() - 1].to_vec())),
        ("empty", Box::new(|_| Vec::new())),
        ("garbage", Box::new(|b| vec![0x5a; b.len()])),
        ("byte flipped early", Box::new(|b| flip(b, 40))),
        (
            "byte flipped in the middle",
            Box::new(|b| flip(b, b.len() / 2)),
        ),
        ("byte flipped late", Box::new(|b| flip(b, b.len() * 9 / 10))),
        (
            "zeros in the postings",
            Box::new(|b| {
                let mut v = b.to_vec();
                let at = v.len() * 3 / 4;
                v[at..at + 64].fill(0);
                v
            }),
        ),
        ("doubled", Box::new(|b| [b, b].concat())),
    ];
    for (what, damage) in &damages {
        fs::write(&main, damage(&good)).unwrap();
        if let Some(r) = &good_recent {
            fs::write(&recent, r).unwrap();
        }
        owner::give_to_mail_owner(&md);
        assert_same(what, &qs, &answers(&mut server, &qs), &want);
        // And the next session (index rebuilt or still damaged) is exact too.
        assert_same(what, &qs, &answers(&mut server, &qs), &want);
        if let Some(r) = &good_recent {
            fs::write(&recent, damage(r)).unwrap();
            owner::give_to_mail_owner(&md);
            assert_same(what, &qs, &answers(&mut server, &qs), &want);
        }
    }
}

fn flip(b: &[u8], at: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    if let Some(x) = v.get_mut(at) {
        *x ^= 0x41;
    }
    v
}

/// kill -9 of sessions while they build the index and of deliveries while they update
/// it: afterwards every answer is still the scan's.
#[test]
fn killed_while_writing_the_index() {
    let mut server = fts_server(&[("fts", "build_memory", "262144")]);
    write_corpus(&server.maildir, 0, 1500);
    let qs: Vec<_> = queries().into_iter().step_by(7).collect();
    let mut rng = rng::Rng::new();
    server.give_homes_to_mail_owner();
    for round in 0..8 {
        // A session that starts building the index, killed at a random moment.
        let mut imapd = postern_command("imapd", &server.config)
            .arg("--inetd")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = imapd.stdin.take().unwrap();
        let _ = stdin.write_all(
            format!("a LOGIN {USER} {PASS}\r\nb SELECT INBOX\r\nc SEARCH BODY zebra{round}\r\n")
                .as_bytes(),
        );
        // Deliveries killed at random moments while they update postern-fts.recent.
        let mut d = postern_command("deliver", &server.config)
            .arg(server.maildir.to_str().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = d
            .stdin
            .take()
            .unwrap()
            .write_all(format!("Subject: k\r\n\r\nkilled{round} zebra\r\n").as_bytes());
        std::thread::sleep(Duration::from_millis(rng.below(40)));
        let _ = d.kill();
        let _ = d.wait();
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        imapd.kill().unwrap();
        imapd.wait().unwrap();
        drop(stdin);
        if round % 3 == 2 {
            // Removing an index file behind the index's back is a plain rebuild.
            let _ = fs::remove_file(server.maildir.join("postern-fts"));
        }
        let mut round_qs = qs.clone();
        round_qs.push(("BODY".into(), format!("killed{round}").into_bytes()));
        let want = scan_answers(&mut server, &round_qs);
        assert_same(
            &format!("round {round}"),
            &round_qs,
            &answers(&mut server, &round_qs),
            &want,
        );
    }
    // The sessions ran as the mail owner: so do the index files.
    if let Some((uid, _)) = owner::mail_owner() {
        use std::os::unix::fs::MetadataExt;
        for f in ["postern-fts", "postern-fts.recent"] {
            if let Ok(m) = fs::metadata(server.maildir.join(f)) {
                assert_eq!(m.uid(), uid, "{f}");
            }
        }
    }
}

/// Too-large messages are not indexed but still found; a folder left out of `folders`
/// gets no index; with the index off nothing is written.
#[test]
fn settings_limit_what_is_indexed() {
    let mut server = fts_server(&[
        ("fts", "max_message_size", "300"),
        ("fts", "folders", "[\"INBOX.Lists.*\"]"),
    ]);
    write_corpus(&server.maildir, 0, 30);
    let qs = queries();
    let want = scan_answers(&mut server, &qs);
    assert_same("INBOX not indexed", &qs, &answers(&mut server, &qs), &want);
    assert!(
        !server.maildir.join("postern-fts.recent").exists()
            && !server.maildir.join("postern-fts").exists()
    );
    server.set("fts", "folders", "[\"*\"]");
    assert_same(
        "large messages unindexed",
        &qs,
        &answers(&mut server, &qs),
        &want,
    );
    assert!(server.maildir.join("postern-fts.recent").exists());
    let _ = Command::new("true").status();
}
