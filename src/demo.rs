//! `postern demo`: a demo user with a Maildir of realistic sample mail, served on loopback
//! without root or systemd — what a newcomer tries first.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;

use crate::store::{AppendSource, Flags, Maildir};

pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo";
/// A second account that shares its folder INBOX.Projects with `demo` (read and mark as
/// seen): `demo` finds it as `#shared.team.Projects`.
pub const TEAM_USER: &str = "team";
pub const TEAM_PASSWORD: &str = "team";

/// Where the demo lives unless `--dir` says otherwise. As root, a home directory such as
/// /root is closed to the demo account's owner, so the demo goes to the temporary
/// directory instead.
pub fn default_dir() -> PathBuf {
    if demo_owner().is_some() {
        return std::env::temp_dir().join("postern-demo");
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("postern-demo")
}

/// Creates (once) the demo home, Maildir, user file and settings; returns the settings path.
pub fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    let home = dir.join("home").join(DEMO_USER);
    let maildir_path = home.join("Maildir");
    fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    if !maildir_path.exists() {
        let maildir = Maildir::create(&maildir_path)?;
        fill(&maildir)?;
    }
    let team_home = dir.join("home").join(TEAM_USER);
    let team_maildir = team_home.join("Maildir");
    fs::create_dir_all(&team_home).with_context(|| format!("creating {}", team_home.display()))?;
    if !team_maildir.exists() {
        fill_team(&Maildir::create(&team_maildir)?)?;
    }
    let (ids, (uid, gid)) = match demo_owner() {
        Some((uid, gid)) => {
            give_to(&home, uid, gid)?;
            give_to(&team_home, uid, gid)?;
            check_the_way(&home)?;
            (format!("{uid}:{gid}"), (uid, gid))
        }
        None => (
            ":".to_owned(),
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            ),
        ),
    };
    let users = dir.join("users");
    fs::write(
        &users,
        format!(
            "# user:{{SCHEME}}secret:uid:gid::home::options (empty uid/gid: the running user;\n\
             # as root every account needs its own, never 0)\n\
             {DEMO_USER}:{{PLAIN}}{DEMO_PASSWORD}:{ids}::{}::\n\
             {TEAM_USER}:{{PLAIN}}{TEAM_PASSWORD}:{ids}::{}::\n",
            home.display(),
            team_home.display()
        ),
    )?;
    // Courier's shared index: both accounts, so each finds the other's shared folders
    // under #shared. (the virtual users share one uid, so they can open them).
    let index = dir.join("shared-index");
    fs::write(
        &index,
        format!(
            "{DEMO_USER}\t{uid}\t{gid}\t{}\n{TEAM_USER}\t{uid}\t{gid}\t{}\n",
            home.display(),
            team_home.display()
        ),
    )?;
    let config = dir.join("postern.toml");
    fs::write(
        &config,
        format!(
            "# Settings for `postern demo`; every other key keeps its default.\n\
             [serve]\nimap = [\"127.0.0.1:1143\"]\npop3 = [\"127.0.0.1:1110\"]\n\n\
             [auth]\nbackend = \"userfile\"\nuserfile = \"{}\"\nfailed_login_delay = 1\n\n\
             [mail]\nshared_index = \"{}\"\n",
            users.display(),
            index.display()
        ),
    )?;
    Ok(config)
}

/// The team account: a folder INBOX.Projects with two messages, shared with `demo`
/// through its ACL (`lrs`: see it, read it, mark it seen).
fn fill_team(maildir: &Maildir) -> anyhow::Result<()> {
    maildir.create_folder("INBOX.Projects")?;
    crate::store::acl::folder_created(maildir.root(), "INBOX.Projects")?;
    for (i, subject) in ["Project plan for Q1", "Minutes of the kick-off meeting"]
        .iter()
        .enumerate()
    {
        let date = 1_790_000_000i64 + i as i64 * 86_400;
        let bytes = format!(
            "From: Team <team@example.org>\r\nTo: Everyone <all@example.org>\r\n\
             Subject: {subject}\r\nDate: {}\r\nMessage-ID: <team-{i}@example.org>\r\n\r\n\
             Shared with demo through the folder's ACL (courierimapacl).\r\n",
            rfc2822_date(date)
        );
        let when = UNIX_EPOCH + Duration::from_secs(date as u64);
        maildir.append(
            "INBOX.Projects",
            AppendSource::Bytes(bytes.as_bytes()),
            Flags::default(),
            &[],
            Some(when),
        )?;
    }
    crate::store::acl::set(maildir.root(), "INBOX.Projects", "user=demo", "lrs")?;
    Ok(())
}

/// Whom the demo account runs as: started as root, `nobody` (a session never stays
/// root); unprivileged, the running user (`None`).
fn demo_owner() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    Some(match nix::unistd::User::from_name("nobody") {
        Ok(Some(u)) => (u.uid.as_raw(), u.gid.as_raw()),
        _ => (65534, 65534),
    })
}

/// Gives `path` and everything below it to `uid`/`gid`, links untouched.
fn give_to(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            give_to(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The demo's owner must reach its home: every directory above it must be searchable by
/// others; one that is closed, such as /root, is an error that says what to do.
fn check_the_way(home: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for dir in home.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(dir) else {
            continue;
        };
        if meta.permissions().mode() & 0o001 != 0 {
            continue;
        }
        anyhow::bail!(
            "{} is closed to others, so the demo account (run as nobody when started as \
             root) cannot reach its mail; choose another --dir, e.g. {}",
            dir.display(),
            std::env::temp_dir().join("postern-demo").display()
        );
    }
    Ok(())
}

struct Sample {
    from: &'static str,
    to: &'static str,
    subject: &'static str,
    body: &'static str,
}

const PEOPLE: [&str; 6] = [
    "Alice Martin <alice@example.org>",
    "Bob Keller <bob@example.net>",
    "\"Chen, Wei\" <wei.chen@example.com>",
    "=?UTF-8?Q?Zo=C3=A9_Dupr=C3=A9?= <zoe@example.fr>",
    "Release Bot <noreply@ci.example.com>",
    "Mailing List <rust-users@lists.example.org>",
];

const SUBJECTS: [&str; 12] = [
    "Quarterly report draft",
    "Lunch on Friday?",
    "Re: Server migration plan",
    "=?UTF-8?B?w5xiZXJwcsO8ZnVuZyBkZXIgUmVjaG51bmc=?=",
    "Build #4182 passed",
    "[rust-users] Borrow checker question",
    "Photos from the trip",
    "Invoice 2026-114",
    "Meeting notes: storage design",
    "Re: Re: Lunch on Friday?",
    "Your password expires soon",
    "Weekend hiking plan",
];

const BODIES: [&str; 4] = [
    "Hi,\n\nplease find the figures below. Revenue is up 4% on the quarter,\ncosts are flat. Comments welcome before Thursday.\n\nThanks,\n",
    "Hello!\n\nAre you free at noon? The new place on the corner has a\nlunch menu that looked good.\n\nCheers\n",
    "All checks passed on main.\n\n  tests: 412 passed, 0 failed\n  duration: 6m 12s\n",
    "Quick note from today's call:\n\n- keep UIDs stable across the migration\n- measure SELECT on 100k messages\n- ship the socket units first\n",
];

fn samples() -> Vec<Sample> {
    (0..30)
        .map(|i| Sample {
            from: PEOPLE[i % PEOPLE.len()],
            to: "Demo User <demo@example.org>",
            subject: SUBJECTS[i % SUBJECTS.len()],
            body: BODIES[i % BODIES.len()],
        })
        .collect()
}

/// A plain, multipart/alternative or attachment-carrying message, by position.
fn render(i: usize, s: &Sample, date: i64) -> Vec<u8> {
    let mut m = String::new();
    let _ = write!(
        m,
        "Return-Path: <bounce@example.org>\nFrom: {}\nTo: {}\nSubject: {}\nDate: {}\nMessage-ID: <demo.{i}@example.org>\nMIME-Version: 1.0\n",
        s.from,
        s.to,
        s.subject,
        rfc2822_date(date)
    );
    if i > 0 && s.subject.starts_with("Re:") {
        let _ = writeln!(m, "In-Reply-To: <demo.{}@example.org>", i - 1);
        let _ = writeln!(m, "References: <demo.{}@example.org>", i - 1);
    }
    match i % 3 {
        0 => {
            m.push_str(
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
            );
            m.push_str(s.body);
        }
        1 => {
            m.push_str("Content-Type: multipart/alternative; boundary=\"alt-b\"\n\nThis is a MIME message.\n--alt-b\nContent-Type: text/plain; charset=us-ascii\n\n");
            m.push_str(s.body);
            m.push_str("\n--alt-b\nContent-Type: text/html; charset=us-ascii\n\n<html><body><pre>");
            m.push_str(s.body);
            m.push_str("</pre></body></html>\n--alt-b--\n");
        }
        _ => {
            m.push_str("Content-Type: multipart/mixed; boundary=\"mix-b\"\n\n--mix-b\nContent-Type: text/plain; charset=us-ascii\n\n");
            m.push_str(s.body);
            m.push_str("\n--mix-b\nContent-Type: text/csv; name=\"figures.csv\"\nContent-Disposition: attachment; filename=\"figures.csv\"\nContent-Transfer-Encoding: base64\n\ncXVhcnRlcixyZXZlbnVlLGNvc3RzClExLDEwMCw4MApRMiwxMDQsODAK\n--mix-b--\n");
        }
    }
    m.into_bytes()
}

fn rfc2822_date(unix: i64) -> String {
    let imap = crate::imap::datetime::format_internal_date(unix);
    // "17-Jul-1996 08:44:25 +0000" -> "17 Jul 1996 08:44:25 +0000"
    imap.replacen('-', " ", 2)
}

/// Puts the sample mail into INBOX, Sent and Archive; some of it already read or flagged.
fn fill(maildir: &Maildir) -> anyhow::Result<()> {
    maildir.create_folder("INBOX.Sent")?;
    maildir.create_folder("INBOX.Archive")?;
    maildir.subscribe("INBOX.Sent")?;
    maildir.subscribe("INBOX.Archive")?;
    let start = 1_790_000_000i64;
    for (i, sample) in samples().iter().enumerate() {
        let date = start + i as i64 * 5400;
        let bytes = render(i, sample, date);
        let folder = match i % 10 {
            7 => "INBOX.Sent",
            8 => "INBOX.Archive",
            _ => "INBOX",
        };
        let mut flags = Flags::default();
        if i < 18 {
            flags.insert(Flags::SEEN);
        }
        if i % 9 == 4 {
            flags.insert(Flags::FLAGGED);
        }
        if i >= 25 && folder == "INBOX" {
            // The newest few arrive as new mail, as an MTA would deliver them.
            maildir.deliver(folder, &mut bytes.as_slice())?;
        } else {
            let when = UNIX_EPOCH + Duration::from_secs(date as u64);
            maildir.append(folder, AppendSource::Bytes(&bytes), flags, &[], Some(when))?;
        }
    }
    Ok(())
}
