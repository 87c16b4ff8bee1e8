//! SORT and THREAD of postern side by side with the real Courier-IMAP 5.0.13 (Debian 12,
//! `tests/courier/fetch-courier.sh`) on one generated folder of a few hundred messages
//! with threads: reply chains, truncated References, In-Reply-To only, missing parents,
//! subject-only replies, `Re:`/`Fwd:`/`[list]`/`(fwd)` prefixes, encoded subjects and
//! names, equal and missing dates, several time zones. Courier serves the folder first
//! (its UID database is the one both use); then postern must answer every UID SORT and
//! UID THREAD the same, except where a comment below names the RFC clause that makes
//! postern differ. The same with Dovecot 2.3 of Debian 12 (`tests/dovecot/fetch-dovecot.sh`),
//! which also has DISPLAYFROM and DISPLAYTO; its UIDs are its own, so answers are compared
//! by message (Message-ID). Without either tree its test prints `SKIP:` and passes.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use common::*;

#[path = "courier/oracle.rs"]
mod oracle;
use oracle::Courier;

/// A small deterministic generator (the corpus is the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "budget",
    "release",
    "lunch",
    "meeting",
    "server",
    "outage",
    "party",
    "invoice",
    "travel",
    "report",
    "Backup",
    "deploy",
    "review",
    "holiday",
    "printer",
    "coffee",
    "Migration",
    "security",
    "hiring",
    "roadmap",
];

const PEOPLE: &[&str] = &[
    "Alice Able <alice@example.org>",
    "bob@example.com",
    "\"Carol C.\" <carol@example.net>",
    "=?UTF-8?Q?D=C3=A9sir=C3=A9e?= <desiree@example.org>",
    "<eve@example.org>",
    "Frank <frank@example.com>",
    "grace@example.net (Grace)",
    "Heidi <heidi@example.org>",
    "ivan@example.com",
    "Judy Jones <judy@example.org>",
];

/// Time zones as (text, offset in seconds).
const ZONES: &[(&str, i64)] = &[
    ("+0000", 0),
    ("+0200", 7200),
    ("-0700", -25200),
    ("+0530", 19800),
    ("-0000", 0),
    ("+1100", 39600),
];

struct Generated {
    id: String,
    references: Vec<String>,
    subject: String,
}

/// `Tue, 1 Aug 2023 12:00:00 +0200` for the UTC instant `utc` shown in `zone`.
fn date_header(utc: i64, zone: (&str, i64)) -> String {
    let local = utc + zone.1;
    let (days, secs) = (local.div_euclid(86400), local.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        zone.0
    )
}

/// The corpus: `count` messages, about a third new threads, the rest replies. Every sent
/// date, size and INTERNALDATE is distinct, so only string keys have ties.
fn corpus(count: usize) -> Vec<Vec<u8>> {
    let mut r = Lcg(0x005e_ed0f_50f7);
    let mut made: Vec<Generated> = Vec::new();
    let mut out = Vec::new();
    for i in 0..count {
        let id = format!("m{i}.{}@gen.example", r.next() % 1000);
        let (subject, references, in_reply_to) = if made.is_empty() || r.below(3) == 0 {
            let base = format!("{} {}", r.pick(WORDS), r.pick(WORDS));
            let subject = match r.below(6) {
                0 => format!("[team] {base}"),
                1 => format!("=?UTF-8?Q?{}?=", base.replace(' ', "_")),
                _ => base,
            };
            (subject, vec![], None)
        } else {
            let parent = &made[r.below(made.len())];
            let base = parent.subject.clone();
            let subject = match r.below(8) {
                0 => format!("Fwd: {base}"),
                1 => format!("Re: {base} (fwd)"),
                2 => format!("RE: [team] {base}"),
                3 => base.clone(),
                4 => format!("Re[2]: {base}"),
                _ => format!("Re: {base}"),
            };
            let mut refs = parent.references.clone();
            refs.push(parent.id.clone());
            match r.below(8) {
                // Truncated References: only the parent.
                0 => (subject, vec![parent.id.clone()], None),
                // In-Reply-To only.
                1 => (subject, vec![], Some(parent.id.clone())),
                // Subject only.
                2 => (subject, vec![], None),
                _ => (subject, refs, None),
            }
        };
        let mut h = vec![
            format!("From: {}", r.pick(PEOPLE)),
            format!("Subject: {subject}"),
        ];
        if r.below(12) != 0 {
            h.push(format!("To: {}", r.pick(PEOPLE)));
        }
        if r.below(3) == 0 {
            h.push(format!("Cc: {}", r.pick(PEOPLE)));
        }
        // A permutation of the positions, so dates are distinct and not in UID order.
        let slot = (i as i64 * 7919) % count as i64;
        let utc = 1_690_848_000 + slot * 611 + r.below(600) as i64;
        h.push(format!(
            "Date: {}",
            date_header(utc, ZONES[r.below(ZONES.len())])
        ));
        h.push(format!("Message-ID: <{id}>"));
        if !references.is_empty() {
            let list: Vec<String> = references.iter().map(|x| format!("<{x}>")).collect();
            h.push(format!("References: {}", list.join("\r\n ")));
        }
        if let Some(p) = in_reply_to {
            h.push(format!("In-Reply-To: <{p}>"));
        }
        let mut m = h.join("\r\n");
        m.push_str("\r\n\r\n");
        // A distinct size for every message.
        let size = 2000 + (i * 37 % count) * 11;
        while m.len() + 16 <= size {
            m.push_str("body text line\r\n");
        }
        while m.len() < size {
            m.push('.');
        }
        made.push(Generated {
            id,
            references,
            subject: subject.clone(),
        });
        out.push(m.into_bytes());
    }
    out
}

/// Writes the corpus into `cur/`, each with its own INTERNALDATE.
fn write_corpus(maildir: &Path, messages: &[Vec<u8>]) {
    for (i, m) in messages.iter().enumerate() {
        let name = format!("{}.M{i}P7.oracle,S={}:2,", 1_650_000_000 + i, m.len());
        let path = maildir.join("cur").join(name);
        std::fs::write(&path, m).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        // Arrival order is not UID order.
        let t = 1_690_000_000 + (i as u64 * 13) % 3901;
        f.set_modified(UNIX_EPOCH + Duration::from_secs(t)).unwrap();
    }
}

/// The text after `* NAME` of the one such line, trimmed.
fn answer(r: &Reply, name: &str, who: &str) -> String {
    let prefix = format!("* {name}");
    let lines: Vec<&Line> = r
        .untagged
        .iter()
        .filter(|l| l.text == prefix || l.text.starts_with(&format!("{prefix} ")))
        .collect();
    assert_eq!(lines.len(), 1, "{who}: one {prefix} in\n{}", r.dump());
    lines[0].text[prefix.len()..].trim().to_string()
}

/// SORT criteria compared: every key Courier has, alone and reversed, and combinations.
fn sort_criteria() -> Vec<Vec<(bool, &'static str)>> {
    let mut v = Vec::new();
    for key in ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO"] {
        v.push(vec![(false, key)]);
        v.push(vec![(true, key)]);
    }
    v.push(vec![(false, "SUBJECT"), (false, "DATE")]);
    v.push(vec![(false, "FROM"), (true, "DATE")]);
    v.push(vec![(true, "SUBJECT"), (false, "SIZE")]);
    v.push(vec![(false, "TO"), (false, "CC"), (false, "ARRIVAL")]);
    v.push(vec![(true, "CC"), (false, "FROM")]);
    v
}

fn sort_command(criteria: &[(bool, &str)], search: &str) -> String {
    let keys: Vec<String> = criteria
        .iter()
        .map(|(rev, k)| {
            if *rev {
                format!("REVERSE {k}")
            } else {
                k.to_string()
            }
        })
        .collect();
    format!("UID SORT ({}) UTF-8 {search}", keys.join(" "))
}

/// Courier's ORDEREDSUBJECT writes each thread as a chain, `(a b c d)`: every message the
/// child of the one before. RFC 5256 §3 says the second and later messages are all
/// children of the first ("there are no grandchildren in ORDEREDSUBJECT threading"),
/// which is `(a (b)(c)(d))`, as postern writes it. This turns Courier's form into that.
fn ordered_subject_as_rfc(courier: &str) -> String {
    let mut out = String::new();
    for thread in courier.split(')').filter(|t| !t.is_empty()) {
        let nums: Vec<&str> = thread.trim_start_matches('(').split(' ').collect();
        out.push('(');
        out.push_str(nums[0]);
        match nums.len() {
            1 => {}
            2 => {
                out.push(' ');
                out.push_str(nums[1]);
            }
            _ => {
                out.push(' ');
                for n in &nums[1..] {
                    out.push_str(&format!("({n})"));
                }
            }
        }
        out.push(')');
    }
    out
}

/// One session's answers to SORT and THREAD commands.
fn ask(c: &mut Client, who: &str, commands: &[(String, &'static str)]) -> Vec<String> {
    commands
        .iter()
        .enumerate()
        .map(|(i, (cmd, name))| {
            let r = c.send(&format!("q{i}"), cmd);
            r.assert_ok();
            answer(&r, name, who)
        })
        .collect()
}

fn reversed(list: &str) -> String {
    list.split(' ').rev().collect::<Vec<_>>().join(" ")
}

/// The differential test. Differences from Courier that RFC 5256 decides for postern, and
/// how the test allows for them:
/// * Ties (messages equal in every key): RFC 5256 §3 orders them by sequence number,
///   ascending; Courier orders them descending. So postern's answer to a SORT is
///   compared with Courier's answer to the same SORT with every REVERSE turned round,
///   read backwards (keys compared the same, ties as the RFC says). Keys without ties
///   (ARRIVAL, DATE, SIZE here) are also compared as they are.
/// * ORDEREDSUBJECT: Courier chains a thread's messages (see `ordered_subject_as_rfc`).
/// * Not in this corpus, covered by `tests/imap_sort_thread.rs` instead: a missing or
///   broken Date: is the INTERNALDATE (RFC 5256 §2.2), where Courier sorts it first as
///   if it were 1970; a top-level dummy with one child is replaced by that child
///   (RFC 5256 §3 REFERENCES step 3: "unless there is only one child"), where Courier
///   prunes before it has the root and keeps such dummies; and addr-mailbox compared
///   case-insensitively (RFC 5256 §3 with I18NLEVEL=1, RFC 5255 §4), where Courier
///   compares `FRANK` before `alice`. So every message here has a Date: and a
///   Message-ID, no reference names a message that is not in the folder, and every
///   local part is lower case.
#[test]
fn sort_and_thread_match_courier() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let server = TestServer::new();
    write_corpus(&server.maildir, &corpus(300));
    let mut commands: Vec<(String, &'static str)> = Vec::new();
    let mut flipped: Vec<(String, &'static str)> = Vec::new();
    // Whether the first key has no ties in this corpus, so Courier's order is ours as is.
    let mut without_ties = Vec::new();
    for criteria in sort_criteria() {
        for search in ["ALL", "NOT FROM bob"] {
            without_ties.push(["ARRIVAL", "DATE", "SIZE"].contains(&criteria[0].1));
            commands.push((sort_command(&criteria, search), "SORT"));
            let turned: Vec<(bool, &str)> = criteria.iter().map(|(r, k)| (!r, *k)).collect();
            flipped.push((sort_command(&turned, search), "SORT"));
        }
    }
    let threads: Vec<(String, &'static str)> = [
        "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8 NOT SUBJECT budget",
    ]
    .iter()
    .map(|c| (c.to_string(), "THREAD"))
    .collect();
    // Courier first: its UID database is the one postern then reads.
    let (theirs, theirs_flipped, their_threads) = {
        let mut c = Client::spawn(courier.imapd_command(&server.maildir), false);
        let mut l = c.greeting.text.clone();
        while !l.starts_with("* PREAUTH") {
            l = c.expect_response().text;
        }
        c.send("s", "SELECT INBOX").assert_ok();
        let out = (
            ask(&mut c, "courier", &commands),
            ask(&mut c, "courier", &flipped),
            ask(&mut c, "courier", &threads),
        );
        c.send("l", "LOGOUT");
        out
    };
    server.give_homes_to_mail_owner();
    let (mut c, _) = server.session("INBOX");
    let ours = ask(&mut c, "postern", &commands);
    let our_threads = ask(&mut c, "postern", &threads);
    c.logout();
    for (i, (cmd, _)) in commands.iter().enumerate() {
        assert!(ours[i].len() > 200, "{cmd}: {}", ours[i]);
    }
    let mut differences = Vec::new();
    for (i, (cmd, _)) in commands.iter().enumerate() {
        let unique = without_ties[i];
        let want = reversed(&theirs_flipped[i]);
        if ours[i] != want || (unique && ours[i] != theirs[i]) {
            differences.push(format!(
                "{cmd}\n  courier (same order of ties): {want}\n  courier as is: {}\n  postern: {}",
                theirs[i], ours[i]
            ));
        }
    }
    for (i, (cmd, _)) in threads.iter().enumerate() {
        let want = if cmd.contains("ORDEREDSUBJECT") {
            ordered_subject_as_rfc(&their_threads[i])
        } else {
            their_threads[i].clone()
        };
        if our_threads[i] != want {
            differences.push(format!(
                "{cmd}\n  courier: {want}\n  postern: {}",
                our_threads[i]
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} answers differ:\n{}",
        differences.len(),
        commands.len() + threads.len(),
        differences.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Dovecot 2.3 (Debian 12), unpacked by tests/dovecot/fetch-dovecot.sh; started as
// tests/dovecot_views.rs does (`doveconf -e imap`, PREAUTH on stdin/stdout).

#[path = "dovecot/oracle.rs"]
mod dovecot_oracle;
use dovecot_oracle::Dovecot;

/// UID → corpus position (1-based), from each message's Message-ID `<m{i}.…>`.
fn corpus_numbers(c: &mut Client) -> HashMap<u32, u32> {
    let r = c.send(
        "map",
        "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
    );
    r.assert_ok();
    let mut map = HashMap::new();
    for l in r.lines("* ") {
        let Some(uid) = l.fetch_uid() else { continue };
        let Some(at) = l.text.find("<m") else {
            continue;
        };
        let digits: String = l.text[at + 2..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        map.insert(uid, digits.parse::<u32>().unwrap() + 1);
    }
    map
}

/// An answer with every UID replaced by its corpus position.
fn by_message(answer: &str, map: &HashMap<u32, u32>) -> String {
    let mut out = String::new();
    let mut number = String::new();
    for ch in answer.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        if !number.is_empty() {
            out.push_str(&map[&number.parse::<u32>().unwrap()].to_string());
            number.clear();
        }
        out.push(ch);
    }
    out.pop();
    out
}

/// Dovecot and postern on the same corpus, compared by message. Ties: Dovecot, like
/// RFC 5256 §3, orders them by sequence number, and its sequence order is not postern's
/// (it numbers the files of a new Maildir in its own order), so SORTs whose first key has
/// ties are compared with ARRIVAL (distinct here) as a last key.
#[test]
fn sort_and_thread_match_dovecot() {
    let Some(dovecot) = Dovecot::find() else {
        return;
    };
    let messages = corpus(300);
    let server = TestServer::new();
    write_corpus(&server.maildir, &messages);
    let home = tempfile::tempdir().unwrap();
    let cmd = dovecot.command(home.path());
    write_corpus(&home.path().join("Maildir"), &messages);
    owner::give_to_mail_owner(home.path());
    let mut commands: Vec<(String, &'static str)> = Vec::new();
    for key in [
        "ARRIVAL",
        "CC",
        "DATE",
        "FROM",
        "SIZE",
        "SUBJECT",
        "TO",
        "DISPLAYFROM",
        "DISPLAYTO",
    ] {
        for reverse in [false, true] {
            let mut criteria = vec![(reverse, key)];
            if !["ARRIVAL", "DATE", "SIZE"].contains(&key) {
                criteria.push((false, "ARRIVAL"));
            }
            commands.push((sort_command(&criteria, "ALL"), "SORT"));
        }
    }
    commands.push((
        sort_command(&[(false, "SUBJECT"), (true, "DATE")], "NOT FROM bob"),
        "SORT",
    ));
    for t in [
        "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8 NOT SUBJECT budget",
    ] {
        commands.push((t.to_string(), "THREAD"));
    }
    let mut dc = Client::spawn(cmd, false);
    assert!(
        dc.greeting.text.starts_with("* PREAUTH"),
        "{}",
        dc.greeting.text
    );
    dc.send("s", "SELECT INBOX").assert_ok();
    let their_map = corpus_numbers(&mut dc);
    let theirs = ask(&mut dc, "dovecot", &commands);
    dc.send("l", "LOGOUT");
    let (mut c, _) = server.session("INBOX");
    let our_map = corpus_numbers(&mut c);
    let ours = ask(&mut c, "postern", &commands);
    c.logout();
    assert_eq!(their_map.len(), messages.len());
    for (i, (cmd, _)) in commands.iter().enumerate() {
        assert!(ours[i].len() > 200, "{cmd}: {}", ours[i]);
    }
    let mut differences = Vec::new();
    for (i, (cmd, _)) in commands.iter().enumerate() {
        let (t, o) = (
            by_message(&theirs[i], &their_map),
            by_message(&ours[i], &our_map),
        );
        if t != o {
            differences.push(format!("{cmd}\n  dovecot: {t}\n  postern: {o}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} answers differ (numbers are corpus positions):\n{}",
        differences.len(),
        commands.len(),
        differences.join("\n")
    );
}

/// The RFC 5256 clauses where postern parts from Courier (see the Courier test), on a
/// hand-made folder, against Dovecot: a missing and a broken Date: (INTERNALDATE), equal
/// dates (sequence order), an upper-case local part, a `(fwd)`-only reply, top-level
/// dummies with one child, and ORDEREDSUBJECT's one level. Dovecot answers as postern.
#[test]
fn rfc_cases_where_courier_differs_match_dovecot() {
    let Some(dovecot) = Dovecot::find() else {
        return;
    };
    let messages: Vec<Vec<u8>> = [
        (
            "From: Frank <FRANK@example.com>",
            "apple",
            "Date: Mon, 3 Jul 2023 10:00:00 +0000",
            "",
        ),
        ("From: alice@example.org", "Re: apple", "", ""),
        ("From: bob@example.org", "apple (fwd)", "Date: garbage", ""),
        (
            "From: carol@example.org",
            "pear",
            "Date: Mon, 3 Jul 2023 12:00:00 +0200",
            "References: <lost@x>",
        ),
        (
            "From: Dave <dave@example.org>",
            "Re: pear",
            "Date: Mon, 3 Jul 2023 11:00:00 +0000",
            "References: <lost@x> <m3.x@gen.example>",
        ),
        (
            "From: erin@example.org",
            "plum",
            "Date: Mon, 3 Jul 2023 12:00:00 +0000",
            "References: <lost2@x>",
        ),
        (
            "From: Frank <FRANK@example.com>",
            "plum",
            "Date: Mon, 3 Jul 2023 12:30:00 +0000",
            "",
        ),
        (
            "From: gil@example.org",
            "fig",
            "Date: Mon, 3 Jul 2023 13:00:00 +0000",
            "In-Reply-To: <nowhere@x>",
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (from, subject, date, refs))| {
        let mut h = vec![from.to_string(), format!("Subject: {subject}")];
        for extra in [date, refs] {
            if !extra.is_empty() {
                h.push(extra.to_string());
            }
        }
        h.push(format!("Message-ID: <m{i}.x@gen.example>"));
        format!("{}\r\n\r\nbody {i}\r\n", h.join("\r\n")).into_bytes()
    })
    .collect();
    let server = TestServer::new();
    write_corpus(&server.maildir, &messages);
    let home = tempfile::tempdir().unwrap();
    let cmd = dovecot.command(home.path());
    write_corpus(&home.path().join("Maildir"), &messages);
    owner::give_to_mail_owner(home.path());
    let commands: Vec<(String, &'static str)> = [
        ("UID SORT (DATE) UTF-8 ALL", "SORT"),
        ("UID SORT (REVERSE DATE) UTF-8 ALL", "SORT"),
        ("UID SORT (FROM) UTF-8 ALL", "SORT"),
        ("UID SORT (REVERSE FROM) UTF-8 ALL", "SORT"),
        ("UID SORT (CC) UTF-8 ALL", "SORT"),
        ("UID SORT (REVERSE CC) UTF-8 ALL", "SORT"),
        ("UID SORT (SUBJECT) UTF-8 ALL", "SORT"),
        ("UID THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD"),
        ("UID THREAD REFERENCES UTF-8 ALL", "THREAD"),
    ]
    .iter()
    .map(|(c, n)| (c.to_string(), *n))
    .collect();
    let mut dc = Client::spawn(cmd, false);
    assert!(dc.greeting.text.starts_with("* PREAUTH"));
    dc.send("s", "SELECT INBOX").assert_ok();
    let their_map = corpus_numbers(&mut dc);
    let theirs = ask(&mut dc, "dovecot", &commands);
    dc.send("l", "LOGOUT");
    let (mut c, _) = server.session("INBOX");
    let our_map = corpus_numbers(&mut c);
    let ours = ask(&mut c, "postern", &commands);
    c.logout();
    let mut differences = Vec::new();
    for (i, (cmd, _)) in commands.iter().enumerate() {
        let (t, o) = (
            by_message(&theirs[i], &their_map),
            by_message(&ours[i], &our_map),
        );
        if t != o {
            differences.push(format!("{cmd}\n  dovecot: {t}\n  postern: {o}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // What the RFC gives, spelled out (numbers are the messages above, 1-based).
    let our = |i: usize| by_message(&ours[i], &our_map);
    // INTERNALDATEs (22 Jul) are later than the Date:s (3 Jul): 2 and 3 come last; 1 and
    // 4 are the same instant, in sequence order.
    assert_eq!(
        our(0),
        "1 4 5 6 7 8 2 3",
        "missing/broken Date: is INTERNALDATE"
    );
    assert_eq!(
        our(1),
        "3 2 8 7 6 5 1 4",
        "REVERSE: the tie of 1 and 4 still in order"
    );
    assert_eq!(our(2), "2 3 4 5 6 1 7 8", "FRANK between erin and gil");
    assert_eq!(our(4), "1 2 3 4 5 6 7 8", "no Cc anywhere: sequence order");
    assert_eq!(
        our(5),
        "1 2 3 4 5 6 7 8",
        "REVERSE of equal keys: sequence order"
    );
    assert_eq!(our(7), "(1 (2)(3))(4 5)(6 7)(8)");
    assert_eq!(our(8), "(1 (2)(3))(4 5)((6)(7))(8)");
}
