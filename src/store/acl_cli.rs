//! `postern maildiracl`: Courier's `maildiracl` tool, same arguments, output, messages and
//! exit codes, so admin scripts written for Courier keep working:
//!
//! ```text
//! maildiracl -reset   MAILDIR
//! maildiracl -list    MAILDIR INBOX[.folder]
//! maildiracl -set     MAILDIR INBOX[.folder] IDENTIFIER [+|-]RIGHTS
//! maildiracl -delete  MAILDIR INBOX[.folder] IDENTIFIER
//! maildiracl -compute MAILDIR INBOX[.folder] IDENTIFIER...
//! ```
//!
//! Identifiers and rights are the stored ones (`user=joe`, `aceilrstwx`); unlike SETACL,
//! `d` is stored as the letter `d` and an entry emptied by `-` stays (`user=joe `), as
//! Courier's tool does. Observed from Courier 5.0.13: `-list` prints
//! `owner\taceilrstwx`; `-compute` prints the stored letters (an empty line for none);
//! refusals print `Trying to set invalid access rights for owner` or
//! `MAILDIR: Invalid argument` and exit 1; a bad folder name `FOLDER: Invalid argument`.

use std::io::{self, Write};
use std::path::Path;

use super::acl::{self, AclError, Change};

/// What the tool calls itself in `perror`-style messages (Courier: its argv[0]).
const PROGRAM: &str = "postern maildiracl";

const USAGE: &str = "Usage: maildiracl [ options ] maildir [INBOX[.folder] [identifier rights]]";

/// Runs the tool on its arguments (after `maildiracl`); returns the exit code.
pub fn run(args: &[String]) -> u8 {
    let out = io::stdout();
    let mut out = out.lock();
    let code = run_to(args, &mut out);
    let _ = out.flush();
    code
}

fn usage(out: &mut dyn Write) -> u8 {
    let _ = writeln!(out, "{USAGE}");
    1
}

/// `strerror` text of an error, as `perror` prints it (no "(os error N)").
fn strerror(e: &AclError) -> String {
    match e {
        AclError::Io(io) => match io.raw_os_error() {
            Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
            None => io.to_string(),
        },
        _ => nix::errno::Errno::EINVAL.desc().to_string(),
    }
}

/// `perror(what)`.
fn perror(what: &str, e: &AclError) -> u8 {
    eprintln!("{what}: {}", strerror(e));
    1
}

/// A failed write: Courier names the identifier that would lose `a`/`l`, else the Maildir.
fn write_failed(maildir: &str, e: &AclError) -> u8 {
    match e {
        AclError::MinimumRights(who) => {
            eprintln!("Trying to set invalid access rights for {who}");
            1
        }
        e => perror(maildir, e),
    }
}

fn run_to(args: &[String], out: &mut dyn Write) -> u8 {
    let [cmd, maildir, rest @ ..] = args else {
        return usage(out);
    };
    let cmd = cmd.as_str();
    if !["-reset", "-list", "-set", "-delete", "-compute"].contains(&cmd) {
        return usage(out);
    }
    let root = Path::new(maildir);
    if cmd == "-reset" {
        // Courier's tool ignores what reset finds and always exits 0.
        let _ = acl::reset(root);
        return 0;
    }
    let [folder, rest @ ..] = rest else {
        return usage(out);
    };
    // Courier takes INBOX and INBOX.<x> only, in capitals.
    if folder != "INBOX" && !folder.starts_with("INBOX.") {
        return perror(folder, &AclError::InvalidFolder(folder.clone()));
    }
    match cmd {
        "-list" => list(root, maildir, folder, out),
        "-set" => match rest {
            [identifier, rights, ..] => set(root, maildir, folder, identifier, rights),
            _ => usage(out),
        },
        "-delete" => match rest {
            [identifier, ..] => delete(root, maildir, folder, identifier),
            _ => usage(out),
        },
        _ if rest.is_empty() => usage(out),
        _ => compute(root, maildir, folder, rest, out),
    }
}

fn list(root: &Path, maildir: &str, folder: &str, out: &mut dyn Write) -> u8 {
    match acl::load(root, folder) {
        Ok(l) => {
            for (identifier, rights) in l.entries() {
                let _ = writeln!(out, "{identifier}\t{}", rights.to_stored());
            }
            0
        }
        Err(e) => perror(maildir, &e),
    }
}

/// Read, change one entry (letters stored as given), write with the owner checks. Unlike
/// Courier's tool, this one takes the Maildir's dot-lock when it can, so that a change
/// made while a session runs SETACL is not lost; without it (no `tmp/`) it goes on and
/// fails as Courier's does.
fn set(root: &Path, maildir: &str, folder: &str, identifier: &str, rights: &str) -> u8 {
    let _lock = acl::lock(root).ok();
    let mut l = match acl::load(root, folder) {
        Ok(l) => l,
        Err(e) => return perror(maildir, &e),
    };
    let change = match Change::parse(rights, false) {
        Ok(c) => c,
        Err(e) => return perror(PROGRAM, &e),
    };
    let old = l.get(identifier).unwrap_or_default();
    let new = match change {
        Change::Add(r) => old.union(r),
        Change::Remove(r) => old.minus(r),
        Change::Replace(r) => r,
    };
    if let Err(e) = l.put(identifier, new) {
        return perror(PROGRAM, &e);
    }
    match acl::store(root, folder, &l, Some("owner")) {
        Ok(()) => 0,
        Err(e) => write_failed(maildir, &e),
    }
}

fn delete(root: &Path, maildir: &str, folder: &str, identifier: &str) -> u8 {
    let _lock = acl::lock(root).ok();
    let mut l = match acl::load(root, folder) {
        Ok(l) => l,
        Err(e) => return perror(maildir, &e),
    };
    l.remove(identifier);
    match acl::store(root, folder, &l, Some("owner")) {
        Ok(()) => 0,
        Err(e) => write_failed(maildir, &e),
    }
}

fn compute(
    root: &Path,
    maildir: &str,
    folder: &str,
    identifiers: &[String],
    out: &mut dyn Write,
) -> u8 {
    let l = match acl::load(root, folder) {
        Ok(l) => l,
        Err(e) => return perror(maildir, &e),
    };
    let ids: Vec<&str> = identifiers.iter().map(String::as_str).collect();
    let _ = writeln!(out, "{}", acl::compute(&l, &ids).to_stored());
    0
}
