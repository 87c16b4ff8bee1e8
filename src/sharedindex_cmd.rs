//! `postern sharedindex`: builds Courier's virtual shared-folder index from the configured
//! accounts and installs it atomically, replacing Courier's `authenumerate -s` |
//! `sharedindexsplit` | `sharedindexinstall` chain.
//!
//! Which accounts:
//! * user file backend: every account of the user file except those whose options
//!   (over `[auth] default_options`) say `disableshared=1` (authenumerate -s); accounts
//!   without a uid/gid of their own are written with the virtual-mail owner's
//!   (`[auth] default_uid`/`default_gid`), else the running user's;
//! * PAM backend: the system accounts NSS enumerates (`getent passwd`, so LDAP or SSSD
//!   users count too), from `[mail] shared_index_min_uid` up (lower uids are daemons, not
//!   mailboxes) and only where the Maildir exists (no index entries for users who never
//!   got mail), unless `[auth] default_options` disables sharing for everyone.
//!
//! Accounts with a `sharedgroup=X` option go into the index `<file>X` (their own
//! "universe", as Courier's sharedindexsplit does without a letter count); the others
//! into `<file>`. `--split N` splits each of those by the first N letters of the names
//! (sharedindexsplit N).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use postern::auth::account::AccountOptions;
use postern::auth::identity::VirtualOwner;
use postern::auth::userfile;
use postern::config::{Backend, Config};
use postern::store::shared_index::{self, AccountLine};

/// One account on its way into the index, with its universe.
struct Listed {
    line: AccountLine,
    shared_group: String,
}

pub fn run(config: &Config, output: Option<PathBuf>, split: usize) -> anyhow::Result<u8> {
    let target = output.unwrap_or_else(|| config.mail.shared_index.clone());
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let root_name = target
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a file name", target.display()))?
        .to_string();
    let listed = match config.auth.backend {
        Backend::Userfile => from_userfile(config)?,
        Backend::Pam => from_nss(config)?,
    };
    let mut universes: std::collections::BTreeMap<String, Vec<AccountLine>> = Default::default();
    universes.entry(String::new()).or_default();
    let mut count = 0;
    for l in listed {
        if let Some(why) = l.line.problem() {
            eprintln!("postern sharedindex: {} left out: {why}", l.line.name);
            continue;
        }
        count += 1;
        universes.entry(l.shared_group).or_default().push(l.line);
    }
    for (group, accounts) in &universes {
        let files = shared_index::build(&format!("{root_name}{group}"), accounts, split);
        shared_index::install(&dir, &files)
            .with_context(|| format!("installing the shared index in {}", dir.display()))?;
    }
    println!(
        "postern sharedindex: {count} accounts in {}{}",
        target.display(),
        if universes.len() > 1 {
            format!(" and {} sharedgroup indexes", universes.len() - 1)
        } else {
            String::new()
        }
    );
    Ok(0)
}

/// The account's options over the defaults; None (with a message) when they do not parse.
fn options(config: &Config, user: &str, own: &str) -> Option<AccountOptions> {
    match AccountOptions::resolve(&config.auth.default_options, own) {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("postern sharedindex: {user} left out: {e}");
            None
        }
    }
}

fn from_userfile(config: &Config) -> anyhow::Result<Vec<Listed>> {
    let path = &config.auth.userfile;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the user file {}", path.display()))?;
    let entries = userfile::parse(&text, &path.display().to_string())?;
    let owner = VirtualOwner::from_config(&config.auth)?;
    let uid = owner.uid.unwrap_or_else(|| nix::unistd::geteuid().as_raw());
    let gid = owner.gid.unwrap_or_else(|| nix::unistd::getegid().as_raw());
    let mut out = Vec::new();
    for e in entries {
        let Some(opts) = options(config, &e.user, &e.options) else {
            continue;
        };
        if opts.disable_shared {
            continue;
        }
        let maildir = e
            .maildir
            .clone()
            .unwrap_or_else(|| config.mail.maildir.clone());
        let home = if e.home.as_os_str().is_empty() {
            PathBuf::from("/")
        } else {
            e.home.clone()
        };
        out.push(Listed {
            line: AccountLine {
                name: e.user,
                uid: e.uid.unwrap_or(uid),
                gid: e.gid.unwrap_or(gid),
                home,
                maildir: Some(maildir),
            },
            shared_group: opts.shared_group.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `getent passwd` lines: `name:x:uid:gid:gecos:home:shell`.
fn from_nss(config: &Config) -> anyhow::Result<Vec<Listed>> {
    let opts = options(config, "every account", "").unwrap_or_default();
    if opts.disable_shared {
        return Ok(Vec::new());
    }
    let out = Command::new("getent")
        .arg("passwd")
        .output()
        .context("running getent passwd")?;
    anyhow::ensure!(
        out.status.success() || out.status.code() == Some(2),
        "getent passwd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut listed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
            continue;
        };
        let home = Path::new(f[5]);
        if uid < config.mail.shared_index_min_uid || !home.join(&config.mail.maildir).is_dir() {
            continue;
        }
        if listed.iter().any(|l: &Listed| l.line.name == f[0]) {
            continue; // NSS may list a name twice (files, then LDAP): the first wins.
        }
        listed.push(Listed {
            line: AccountLine {
                name: f[0].to_string(),
                uid,
                gid,
                home: home.to_path_buf(),
                maildir: Some(config.mail.maildir.clone()),
            },
            shared_group: opts.shared_group.clone().unwrap_or_default(),
        });
    }
    Ok(listed)
}
