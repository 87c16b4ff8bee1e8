//! Many clients on one folder at once (issue 12, "Tests and tools"): each client does
//! random SELECT / FETCH / STORE (+/- flags and keywords) / COPY / EXPUNGE / APPEND / IDLE /
//! SEARCH on INBOX while `postern deliver` adds mail, and keeps its own view of the folder
//! built only from what the server told it (EXISTS, EXPUNGE, FETCH, FLAGS, PERMANENTFLAGS). It
//! checks, as the responses arrive:
//!
//! - no EXPUNGE, FETCH or shrinking EXISTS names a sequence number the client cannot have;
//! - a sequence number keeps its UID, UIDs ascend with sequence numbers, a client told of
//!   an EXPUNGE never sees that UID again (and no expunged UID exists at the end),
//!   APPENDUID/COPYUID never hand out a UID twice and always above every UID the client
//!   has seen, and a UID always names the same message;
//! - every keyword in a FETCH was announced in FLAGS and PERMANENTFLAGS before;
//! - no NO or BAD answers a command (every command sent is well-formed and valid);
//! - no flag change is lost: each client owns distinct flags of each message (its own two
//!   keywords everywhere; of the system flags, `\Answered`, `\Flagged`, `\Draft`, `\Seen`,
//!   `\Deleted` of UID u belong to client (u + k) mod N for k = 0..4), so it knows what
//!   they must be, and any FETCH FLAGS that disagrees — or, after everyone stopped, a fresh
//!   session's view — shows a change that another session lost.
//!
//! It prints the counts (commands by kind, NO, BAD, sessions, deliveries, violations by
//! kind with examples) and fails on any violation. CI runs a short run (8 clients, 8 s);
//! `POSTERN_STRESS_CLIENTS` and `POSTERN_STRESS_SECONDS` make it longer, e.g. as a
//! benchmark: `POSTERN_STRESS_CLIENTS=50 POSTERN_STRESS_SECONDS=60 cargo test --release
//! --test stress -- --nocapture`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// The system flags by owner offset k (see the module documentation).
const SYSTEM: [&str; 5] = ["\\answered", "\\flagged", "\\draft", "\\seen", "\\deleted"];
/// Above this many messages the clients expunge more than they add.
const TARGET_SIZE: usize = 60;
/// How many examples of each kind of violation are kept for the report.
const EXAMPLES_PER_KIND: usize = 3;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: enough randomness for choosing commands, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What all clients share: counts, violations, and the facts about UIDs that span
/// sessions.
#[derive(Default)]
struct Shared {
    commands: BTreeMap<&'static str, u64>,
    no: u64,
    bad: u64,
    sessions: u64,
    deliveries: u64,
    violations: BTreeMap<String, u64>,
    examples: BTreeMap<String, Vec<String>>,
    /// UIDs handed out by APPENDUID / COPYUID in INBOX.
    assigned: HashSet<u32>,
    /// UIDs some client was told were expunged, with who was told and by what.
    expunged: HashMap<u32, String>,
    /// UID -> Message-ID, from FETCHes and APPENDs.
    message_ids: HashMap<u32, String>,
}

impl Shared {
    fn violation(&mut self, kind: &str, detail: String) {
        *self.violations.entry(kind.to_string()).or_default() += 1;
        let examples = self.examples.entry(kind.to_string()).or_default();
        if examples.len() < EXAMPLES_PER_KIND {
            examples.push(detail);
        }
    }
}

/// A `uid-set` of a COPYUID code, expanded.
fn uid_set(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                out.extend(a.min(b)..=a.max(b));
            }
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

fn message_id_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let start = text.find('<')?;
    let end = text[start..].find('>')? + start;
    Some(text[start..=end].to_string())
}

/// The known state of the flags a client owns, per UID: flag (lower case) -> set?
type Known = HashMap<u32, HashMap<String, bool>>;

/// One client: its connection, its view of INBOX, and what it knows of its own flags.
struct Tester {
    id: usize,
    /// Of `serve`, for reconnecting.
    port: u16,
    clients: usize,
    client: Client,
    rng: Rng,
    /// Sequence number n is `view[n - 1]`; `None` until a FETCH told the UID.
    view: Vec<Option<u32>>,
    announced: HashSet<String>,
    permanent: HashSet<String>,
    known: Known,
    keywords: [String; 2],
    shared: Arc<Mutex<Shared>>,
    tags: u64,
    appended: u64,
    /// For reports: the command whose responses are being read.
    last_command: String,
    /// UIDs this client (in any of its sessions) was told were expunged.
    told_expunged: HashSet<u32>,
}

impl Tester {
    fn new(id: usize, clients: usize, port: u16, shared: Arc<Mutex<Shared>>) -> Tester {
        // Client 0 owns `NIL`, a valid keyword atom.
        let second = if id == 0 {
            "NIL".to_string()
        } else {
            format!("c{id}b")
        };
        let mut t = Tester {
            id,
            port,
            clients,
            client: Client::connect(port),
            rng: Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) * 0x1000_0001)),
            view: Vec::new(),
            announced: HashSet::new(),
            permanent: HashSet::new(),
            known: Known::new(),
            keywords: [format!("$c{id}a"), second],
            shared,
            tags: 0,
            appended: 0,
            last_command: String::new(),
            told_expunged: HashSet::new(),
        };
        t.start_session();
        t
    }

    fn start_session(&mut self) {
        self.shared.lock().unwrap().sessions += 1;
        self.run("LOGIN", &format!("LOGIN {USER} {PASS}"));
        self.select();
    }

    fn select(&mut self) {
        self.view.clear();
        self.announced.clear();
        self.permanent.clear();
        self.run("SELECT", "SELECT INBOX");
    }

    fn owner(&self, uid: u32, k: usize) -> usize {
        (uid as usize + k) % self.clients
    }

    fn next_tag(&mut self) -> String {
        self.tags += 1;
        format!("c{}t{}", self.id, self.tags)
    }

    /// Sends a command, follows its responses and checks its status.
    fn run(&mut self, verb: &'static str, command: &str) -> Reply {
        let tag = self.next_tag();
        let reply = self.client.send(&tag, command);
        self.finish(verb, command, reply)
    }

    fn finish(&mut self, verb: &'static str, command: &str, reply: Reply) -> Reply {
        self.client.log.clear();
        self.last_command = command.to_string();
        *self
            .shared
            .lock()
            .unwrap()
            .commands
            .entry(verb)
            .or_default() += 1;
        for line in &reply.untagged {
            self.untagged(line);
        }
        let status = reply.status().to_string();
        if status != "OK" {
            let mut shared = self.shared.lock().unwrap();
            if status == "NO" {
                shared.no += 1;
            } else {
                shared.bad += 1;
            }
            shared.violation(
                &format!("{status} to {verb}"),
                format!("client {}: {command} -> {}", self.id, reply.tagged.text),
            );
        }
        reply
    }

    fn violation(&self, kind: &str, detail: String) {
        self.shared
            .lock()
            .unwrap()
            .violation(kind, format!("client {}: {detail}", self.id));
    }

    /// Takes one untagged response into the view, checking it.
    fn untagged(&mut self, line: &Line) {
        let text = &line.text;
        let mut words = text.split(' ');
        if words.next() != Some("*") {
            return;
        }
        let (first, second) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let number: Option<usize> = first.parse().ok();
        match (number, second) {
            (Some(n), "EXISTS") => {
                if n < self.view.len() {
                    self.violation(
                        "EXISTS shrank without EXPUNGE",
                        format!("{text} with {} known", self.view.len()),
                    );
                    self.view.truncate(n);
                }
                self.view.resize(n, None);
            }
            (Some(n), "EXPUNGE") => {
                if n == 0 || n > self.view.len() {
                    self.violation(
                        "EXPUNGE of an unknown sequence number",
                        format!("{text} with {} messages", self.view.len()),
                    );
                    return;
                }
                if let Some(uid) = self.view.remove(n - 1) {
                    self.known.remove(&uid);
                    self.told_expunged.insert(uid);
                    let how = format!("client {} after {}", self.id, self.last_command);
                    self.shared.lock().unwrap().expunged.insert(uid, how);
                }
            }
            (Some(n), "FETCH") => self.fetch_line(n, line),
            (None, _) if first == "FLAGS" => {
                self.announced = flag_list(text, "FLAGS (")
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
            }
            _ if first == "OK" && text.contains("[PERMANENTFLAGS (") => {
                self.permanent = flag_list(text, "[PERMANENTFLAGS (")
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
            }
            _ if first == "NO" || first == "BAD" => {
                self.violation(&format!("untagged {first}"), text.clone());
            }
            _ => {}
        }
    }

    fn fetch_line(&mut self, n: usize, line: &Line) {
        if n == 0 || n > self.view.len() {
            self.violation(
                "FETCH of an unknown sequence number",
                format!("{} with {} messages", line.text, self.view.len()),
            );
            return;
        }
        if let Some(uid) = line.uid() {
            self.learn_uid(n, uid, &line.text);
        }
        let uid = self.view[n - 1];
        if let Some(flags) = line.flags() {
            let flags: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
            for f in flags.iter().filter(|f| !f.starts_with('\\')) {
                if !self.announced.contains(f) {
                    self.violation(
                        "keyword in FETCH before FLAGS announced it",
                        format!("{f}: {}", line.text),
                    );
                } else if !self.permanent.contains(f) || !self.permanent.contains("\\*") {
                    self.violation(
                        "keyword in FETCH before PERMANENTFLAGS announced it",
                        format!("{f}: {}", line.text),
                    );
                }
            }
            if let Some(uid) = uid
                && let Some(mine) = self.known.get(&uid)
            {
                for (flag, &set) in mine {
                    if flags.contains(flag) != set {
                        self.violation(
                            "flag change lost",
                            format!(
                                "UID {uid} {flag} should be {}: {}",
                                if set { "set" } else { "clear" },
                                line.text
                            ),
                        );
                    }
                }
            }
        }
        if let (Some(uid), Some(header)) = (uid, line.item("BODY[HEADER.FIELDS (MESSAGE-ID)]"))
            && let Some(id) = message_id_of(&header)
        {
            self.same_message(uid, id);
        }
    }

    /// A UID always names the same message.
    fn same_message(&self, uid: u32, id: String) {
        let mut shared = self.shared.lock().unwrap();
        match shared.message_ids.get(&uid) {
            Some(before) if *before != id => {
                let detail = format!("client {}: UID {uid} was {before}, now {id}", self.id);
                shared.violation("UID names another message", detail);
            }
            Some(_) => {}
            None => {
                shared.message_ids.insert(uid, id);
            }
        }
    }

    fn learn_uid(&mut self, n: usize, uid: u32, text: &str) {
        match self.view[n - 1] {
            Some(had) if had != uid => {
                self.violation(
                    "sequence number changed UID",
                    format!("{n} was UID {had}: {text}"),
                );
            }
            Some(_) => {}
            None => {
                let before = self.view[..n - 1].iter().rev().flatten().next();
                let after = self.view[n..].iter().flatten().next();
                if before.is_some_and(|&b| b >= uid) || after.is_some_and(|&a| a <= uid) {
                    self.violation(
                        "UIDs out of order",
                        format!("{text} between {before:?} and {after:?}"),
                    );
                }
                // Another session may still show a message expunged elsewhere until it is
                // told, but one told of the EXPUNGE never sees that UID again.
                if self.told_expunged.contains(&uid) {
                    let detail = format!("{text}; after the EXPUNGE of UID {uid}");
                    self.violation("UID came back after its EXPUNGE", detail);
                }
                self.view[n - 1] = Some(uid);
            }
        }
    }

    fn max_uid(&self) -> u32 {
        self.view.iter().flatten().copied().max().unwrap_or(0)
    }

    /// A new UID from APPENDUID or COPYUID: never handed out before, and above every UID
    /// this client has seen (those were all assigned before the command).
    fn assigned_uid(&self, uid: u32, command: &str) {
        let mut shared = self.shared.lock().unwrap();
        if !shared.assigned.insert(uid) {
            shared.violation(
                "UID assigned twice",
                format!("client {}: {uid} by {command}", self.id),
            );
        }
        if uid <= self.max_uid() {
            let detail = format!(
                "client {}: {uid} by {command}, seen {}",
                self.id,
                self.max_uid()
            );
            shared.violation("new UID not above the UIDs seen", detail);
        }
    }

    /// Sequence numbers with known UIDs where `pick` holds.
    fn candidates(&self, pick: impl Fn(u32) -> bool) -> Vec<(usize, u32)> {
        self.view
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.filter(|&u| pick(u)).map(|u| (i + 1, u)))
            .collect()
    }

    fn random_message(&mut self, pick: impl Fn(u32) -> bool) -> Option<(usize, u32)> {
        let c = self.candidates(pick);
        if c.is_empty() {
            return None;
        }
        Some(c[self.rng.below(c.len())])
    }

    /// One random step.
    fn step(&mut self) {
        if let Some(first) = self.view.iter().position(Option::is_none) {
            // Learn the UIDs of new messages first (FETCH by number keeps the numbers).
            let last = self.view.len();
            self.run("FETCH", &format!("FETCH {}:{last} (UID FLAGS)", first + 1));
            if self.view.iter().any(Option::is_none) {
                self.run("NOOP", "NOOP");
            }
            return;
        }
        let big = self.view.len() > TARGET_SIZE;
        let roll = self.rng.below(100);
        match roll {
            0..=7 => {
                self.run("NOOP", "NOOP");
            }
            8..=17 => self.fetch_flags(),
            18..=27 => self.fetch_body(),
            28..=32 => self.fetch_marking_seen(),
            33..=47 => self.store_keyword(),
            48..=62 => self.store_system_flag(),
            63..=72 => self.delete(big),
            73..=79 => self.copy(big),
            80..=87 => self.append(big),
            88..=92 => self.idle(),
            93..=95 => self.select(),
            96 => self.reconnect(),
            97 | 98 => self.search(),
            _ => {
                self.run("CHECK", "CHECK");
            }
        }
    }

    /// SEARCH by this client's keyword or by text: its numbers must be in the view.
    fn search(&mut self) {
        let criterion = if self.rng.chance(50) {
            format!("KEYWORD {}", self.keywords[self.rng.below(2)])
        } else {
            "OR TEXT appended UNKEYWORD $c0a".to_string()
        };
        if self.rng.chance(50) {
            self.run("UID SEARCH", &format!("UID SEARCH {criterion}"));
            return;
        }
        let r = self.run("SEARCH", &format!("SEARCH {criterion}"));
        let count = self.view.len();
        if let Some(bad) = r
            .search()
            .into_iter()
            .find(|&n| n == 0 || n as usize > count)
        {
            self.violation(
                "SEARCH of an unknown sequence number",
                format!("{bad} with {count} messages"),
            );
        }
    }

    fn fetch_flags(&mut self) {
        if self.view.is_empty() {
            return;
        }
        if self.rng.chance(50) {
            let a = self.rng.below(self.view.len()) + 1;
            let b = (a + self.rng.below(10)).min(self.view.len());
            self.run("FETCH", &format!("FETCH {a}:{b} (UID FLAGS)"));
        } else {
            let (_, uid) = self.view_uid_at_random();
            self.run("UID FETCH", &format!("UID FETCH {uid}:* (FLAGS)"));
        }
    }

    fn view_uid_at_random(&mut self) -> (usize, u32) {
        let i = self.rng.below(self.view.len());
        (i + 1, self.view[i].unwrap_or(1))
    }

    fn fetch_body(&mut self) {
        let Some((seq, uid)) = self.random_message(|_| true) else {
            return;
        };
        let items = "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] BODY.PEEK[TEXT] RFC822.SIZE)";
        if self.rng.chance(50) {
            self.run("FETCH", &format!("FETCH {seq} {items}"));
        } else {
            self.run("UID FETCH", &format!("UID FETCH {uid} {items}"));
        }
    }

    /// FETCH BODY[] sets \Seen: only on messages whose \Seen this client owns.
    fn fetch_marking_seen(&mut self) {
        let me = self.id;
        let clients = self.clients;
        let Some((seq, uid)) = self.random_message(|u| (u as usize + 3) % clients == me) else {
            return;
        };
        // Unknown while the FETCH runs: if the message was expunged meanwhile its line
        // shows the flags as they were, and nothing is marked.
        self.forget(uid, "\\seen");
        let r = self.run("FETCH", &format!("FETCH {seq} (UID FLAGS BODY[])"));
        let read = r
            .fetches()
            .iter()
            .any(|l| l.seq() as usize == seq && l.item("BODY[]").is_some());
        if read {
            self.known
                .entry(uid)
                .or_default()
                .insert("\\seen".into(), true);
        }
    }

    fn forget(&mut self, uid: u32, flag: &str) {
        if let Some(m) = self.known.get_mut(&uid) {
            m.remove(flag);
        }
    }

    /// STORE of one of this client's keywords on a few messages.
    fn store_keyword(&mut self) {
        if self.view.is_empty() {
            return;
        }
        let a = self.rng.below(self.view.len()) + 1;
        let b = (a + self.rng.below(3)).min(self.view.len());
        let keyword = self.keywords[self.rng.below(2)].clone();
        let set = self.rng.chance(50);
        let uids: Vec<u32> = self.view[a - 1..b].iter().flatten().copied().collect();
        let by_uid = self.rng.chance(30);
        let target = if by_uid {
            format!("UID STORE {}:{}", uids[0], uids[uids.len() - 1])
        } else {
            format!("STORE {a}:{b}")
        };
        self.store(&target, &uids, &keyword, set, by_uid);
    }

    /// STORE of a system flag this client owns on one message.
    fn store_system_flag(&mut self) {
        let (me, clients) = (self.id, self.clients);
        let owned = |u: u32| (0..4).any(|k| (u as usize + k) % clients == me);
        let Some((seq, uid)) = self.random_message(owned) else {
            return;
        };
        let mine: Vec<usize> = (0..4).filter(|&k| self.owner(uid, k) == me).collect();
        let flag = SYSTEM[mine[self.rng.below(mine.len())]];
        let set = self.rng.chance(50);
        let by_uid = self.rng.chance(30);
        let target = if by_uid {
            format!("UID STORE {uid}")
        } else {
            format!("STORE {seq}")
        };
        self.store(&target, &[uid], flag, set, by_uid);
    }

    /// Records the intended state first (the response's FETCH shows it), then stores; a
    /// message the STORE skipped (expunged) is forgotten.
    fn store(&mut self, target: &str, uids: &[u32], flag: &str, set: bool, by_uid: bool) {
        let flag_lower = flag.to_ascii_lowercase();
        for &u in uids {
            self.known
                .entry(u)
                .or_default()
                .insert(flag_lower.clone(), set);
        }
        let silent = self.rng.chance(30);
        let command = format!(
            "{target} {}FLAGS{} ({})",
            if set { "+" } else { "-" },
            if silent { ".SILENT" } else { "" },
            display_flag(flag)
        );
        let verb = if by_uid { "UID STORE" } else { "STORE" };
        let r = self.run(verb, &command);
        let stored: HashSet<u32> = if silent {
            if r.code() == Some("EXPUNGEISSUED") || !r.is_ok() {
                HashSet::new()
            } else {
                uids.iter().copied().collect()
            }
        } else {
            r.fetches()
                .iter()
                .filter_map(|l| self.view.get(l.seq() as usize - 1).copied().flatten())
                .collect()
        };
        for u in uids {
            if !stored.contains(u) {
                self.forget(*u, &flag_lower);
            }
        }
    }

    /// \Deleted on a message whose \Deleted this client owns, then EXPUNGE.
    fn delete(&mut self, big: bool) {
        if !big && self.rng.chance(50) {
            return;
        }
        let (me, clients) = (self.id, self.clients);
        let Some((seq, uid)) = self.random_message(|u| (u as usize + 4) % clients == me) else {
            return;
        };
        self.known
            .entry(uid)
            .or_default()
            .insert("\\deleted".into(), true);
        self.run("STORE", &format!("STORE {seq} +FLAGS.SILENT (\\Deleted)"));
        if self.rng.chance(70) {
            self.run("EXPUNGE", "EXPUNGE");
        } else {
            self.run("UID EXPUNGE", &format!("UID EXPUNGE {uid}"));
        }
    }

    fn copy(&mut self, big: bool) {
        if self.view.is_empty() {
            return;
        }
        let into_inbox = !big && self.rng.chance(60);
        let target = if into_inbox { "INBOX" } else { "INBOX.Other" };
        let a = self.rng.below(self.view.len()) + 1;
        let b = (a + self.rng.below(2)).min(self.view.len());
        let by_uid = self.rng.chance(40);
        let command = if by_uid {
            let (ua, ub) = (self.view[a - 1].unwrap(), self.view[b - 1].unwrap());
            format!("UID COPY {ua}:{ub} {target}")
        } else {
            format!("COPY {a}:{b} {target}")
        };
        let r = self.run(if by_uid { "UID COPY" } else { "COPY" }, &command);
        let Some(code) = r.code().filter(|c| c.starts_with("COPYUID ")) else {
            return;
        };
        if !into_inbox {
            return;
        }
        let parts: Vec<&str> = code.split(' ').collect();
        let (sources, targets) = (uid_set(parts[2]), uid_set(parts[3]));
        for (s, t) in sources.into_iter().zip(targets) {
            self.assigned_uid(t, &command);
            // This client's keywords travel with the copy.
            let mine: HashMap<String, bool> = self
                .known
                .get(&s)
                .map(|m| {
                    m.iter()
                        .filter(|(f, _)| !f.starts_with('\\'))
                        .map(|(f, v)| (f.clone(), *v))
                        .collect()
                })
                .unwrap_or_default();
            if !mine.is_empty() {
                self.known.insert(t, mine);
            }
        }
    }

    fn append(&mut self, big: bool) {
        if big && self.rng.chance(80) {
            return;
        }
        self.appended += 1;
        let id = format!("<c{}-{}@stress.example>", self.id, self.appended);
        let body = format!(
            "From: c{0}@example.org\r\nSubject: from client {0}\r\nMessage-ID: {id}\r\n\r\nappended\r\n",
            self.id
        );
        let with: Vec<bool> = (0..2).map(|_| self.rng.chance(50)).collect();
        let mut flags: Vec<String> = self
            .keywords
            .iter()
            .zip(&with)
            .filter(|(_, w)| **w)
            .map(|(k, _)| k.clone())
            .collect();
        if self.rng.chance(30) {
            flags.push("\\Seen".into());
        }
        let command = format!("APPEND INBOX ({}) ", flags.join(" "));
        let tag = self.next_tag();
        let reply = self.client.send_parts(
            &tag,
            &[Part::Text(&command), Part::Literal(body.as_bytes())],
        );
        let r = self.finish("APPEND", &command, reply);
        let Some(uid) = r
            .code()
            .and_then(|c| c.strip_prefix("APPENDUID "))
            .and_then(|c| c.split(' ').nth(1))
            .and_then(|u| u.parse().ok())
        else {
            return;
        };
        self.assigned_uid(uid, &command);
        self.same_message(uid, id);
        let mine = self.keywords.iter().zip(&with);
        let state = mine.map(|(k, w)| (k.to_ascii_lowercase(), *w)).collect();
        self.known.insert(uid, state);
    }

    fn idle(&mut self) {
        let tag = self.next_tag();
        self.client.write(format!("{tag} IDLE\r\n").as_bytes());
        let mut before = Vec::new();
        loop {
            let l = self.client.expect_response();
            if l.is_continuation() {
                break;
            }
            before.push(l);
        }
        std::thread::sleep(Duration::from_millis(self.rng.below(40) as u64));
        self.client.write(b"DONE\r\n");
        let mut reply = self.client.read_reply(&tag, 1);
        before.append(&mut reply.untagged);
        reply.untagged = before;
        self.finish("IDLE", "IDLE", reply);
    }

    fn reconnect(&mut self) {
        self.run("LOGOUT", "LOGOUT");
        self.client = Client::connect(self.port);
        self.start_session();
    }

    fn logout(mut self) -> Known {
        self.run("LOGOUT", "LOGOUT");
        self.known
    }
}

/// A flag as sent: system flags capitalized again.
fn display_flag(flag: &str) -> String {
    match flag.strip_prefix('\\') {
        Some(name) => {
            let mut c = name.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            format!("\\{first}{}", c.as_str())
        }
        None => flag.to_string(),
    }
}

/// Delivers with `postern deliver` until `stop`, as a mail server would.
fn deliver_until(server: &TestServer, stop: &AtomicBool, shared: &Mutex<Shared>, every: Duration) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let text = message("mta@example.org", &format!("delivery {n}"), "delivered\r\n");
        let mut child = postern_command("deliver", &server.config)
            .arg(&server.maildir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn postern deliver");
        child.stdin.take().unwrap().write_all(&text).unwrap();
        let out = child.wait_with_output().unwrap();
        let mut shared = shared.lock().unwrap();
        if out.status.success() {
            shared.deliveries += 1;
        } else {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            shared.violation("postern deliver failed", err);
        }
        drop(shared);
        std::thread::sleep(every);
    }
}

/// After everyone stopped: a fresh session's flags agree with what the owners know.
fn check_final(port: u16, clients: usize, known: &Known, shared: &Arc<Mutex<Shared>>) -> usize {
    let mut last = Tester::new(clients, clients + 1, port, shared.clone());
    let r = last.run("UID FETCH", "UID FETCH 1:* (FLAGS)");
    let mut survivors = 0;
    for line in r.fetches() {
        survivors += 1;
        let (Some(uid), Some(flags)) = (line.uid(), line.flags()) else {
            continue;
        };
        if let Some(how) = shared.lock().unwrap().expunged.get(&uid).cloned() {
            let detail = format!("UID {uid} exists at the end; its EXPUNGE went to {how}");
            shared
                .lock()
                .unwrap()
                .violation("EXPUNGE of a message that still exists", detail);
        }
        let flags: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
        for (flag, &set) in known.get(&uid).into_iter().flatten() {
            if flags.contains(flag) != set {
                shared.lock().unwrap().violation(
                    "flag change lost (final state)",
                    format!(
                        "UID {uid} {flag} should be {}: {}",
                        if set { "set" } else { "clear" },
                        line.text
                    ),
                );
            }
        }
    }
    last.logout();
    survivors
}

fn report(shared: &Shared, clients: usize, seconds: u64, survivors: usize) -> String {
    let total: u64 = shared.commands.values().sum();
    let mut s = format!(
        "stress: {clients} clients, {seconds} s: {total} commands, {} NO, {} BAD, {} sessions, \
         {} deliveries, {survivors} messages at the end\n  commands:",
        shared.no, shared.bad, shared.sessions, shared.deliveries
    );
    for (verb, n) in &shared.commands {
        s.push_str(&format!(" {verb}={n}"));
    }
    s.push('\n');
    if shared.violations.is_empty() {
        s.push_str("  violations: none\n");
    }
    for (kind, n) in &shared.violations {
        s.push_str(&format!("  violation: {kind}: {n}\n"));
        for e in &shared.examples[kind] {
            s.push_str(&format!("      e.g. {e}\n"));
        }
    }
    s
}

#[test]
fn many_clients_keep_a_consistent_view() {
    let clients = env_number("POSTERN_STRESS_CLIENTS", 8).max(1) as usize;
    let seconds = env_number("POSTERN_STRESS_SECONDS", 8);
    // Room for every client and its reconnects: a session that said LOGOUT still counts
    // until its process has exited.
    let room = (clients * 3 + 2).to_string();
    let mut server = TestServer::with(&[
        ("limits", "idle_timeout", "300"),
        ("serve", "max_connections", &room),
        ("serve", "max_connections_per_ip", &room),
    ]);
    server.make_folder("Other");
    for n in 0..20 {
        server.deliver(
            None,
            &message("seed@example.org", &format!("seed {n}"), "x\r\n"),
        );
    }
    let port = server.start_serve();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(seconds);

    let known: Known = std::thread::scope(|scope| {
        let deliverer =
            scope.spawn(|| deliver_until(&server, &stop, &shared, Duration::from_millis(100)));
        let workers: Vec<_> = (0..clients)
            .map(|id| {
                let shared = shared.clone();
                scope.spawn(move || {
                    let mut t = Tester::new(id, clients, port, shared);
                    while Instant::now() < deadline {
                        t.step();
                    }
                    t.logout()
                })
            })
            .collect();
        let mut known = Known::new();
        for (id, w) in workers.into_iter().enumerate() {
            match w.join() {
                Ok(k) => {
                    for (uid, flags) in k {
                        known.entry(uid).or_default().extend(flags);
                    }
                }
                Err(e) => {
                    let why = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    shared
                        .lock()
                        .unwrap()
                        .violation("client failed", format!("client {id}: {why}"));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        deliverer.join().unwrap();
        known
    });

    let survivors = check_final(port, clients, &known, &shared);
    let shared = shared.lock().unwrap();
    let text = report(&shared, clients, seconds, survivors);
    eprintln!("{text}");
    assert!(shared.violations.is_empty(), "{text}");
}
