//! `courierimapsubscribed`: subscribed folder names, one per line, in the Maildir root.
//! A leading "inbox" compares case-insensitively. Rewritten via tmp/ + rename under the
//! root's dot-lock so two sessions subscribing at once do not lose each other's change.

use std::path::Path;

use super::lock::DotLock;
use super::{Result, folder, fsutil};

pub const FILE: &str = "courierimapsubscribed";

/// Puts INBOX in capitals, leaving anything else (e.g. `#shared.` names) as it is.
fn normalise(name: &str) -> String {
    folder::canonical_name(name).unwrap_or_else(|_| name.to_string())
}

pub fn read(root: &Path) -> Result<Vec<String>> {
    let bytes = fsutil::read_optional(&root.join(FILE))?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes)
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn edit(root: &Path, f: impl FnOnce(&mut Vec<String>)) -> Result<()> {
    let _lock = DotLock::acquire(root)?;
    let before = read(root)?;
    let mut after = before.clone();
    f(&mut after);
    if after != before {
        let mut text = String::new();
        for l in &after {
            text.push_str(l);
            text.push('\n');
        }
        fsutil::atomic_write(&root.join("tmp"), &root.join(FILE), text.as_bytes())?;
    }
    Ok(())
}

/// Subscribes a folder: a name of the login's own (`INBOX…`) or of the virtual shared
/// namespace (`#shared.…`), which Courier keeps in the same file.
pub fn subscribe(root: &Path, name: &str) -> Result<()> {
    let name = if super::places::is_shared_name(name) {
        name.to_string()
    } else {
        folder::canonical_name(name)?
    };
    edit(root, |list| {
        if !list.iter().any(|l| normalise(l) == name) {
            list.push(name);
        }
    })
}

pub fn unsubscribe(root: &Path, name: &str) -> Result<()> {
    let name = normalise(name);
    edit(root, |list| list.retain(|l| normalise(l) != name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_unsubscribe() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("tmp")).unwrap();
        std::fs::write(d.path().join(FILE), "inbox.Sent\n#shared.x.y\n").unwrap();
        subscribe(d.path(), "INBOX.Sent").unwrap();
        assert_eq!(read(d.path()).unwrap(), ["inbox.Sent", "#shared.x.y"]);
        subscribe(d.path(), "INBOX.Drafts").unwrap();
        unsubscribe(d.path(), "INBOX.sent").unwrap();
        assert_eq!(
            read(d.path()).unwrap(),
            ["inbox.Sent", "#shared.x.y", "INBOX.Drafts"]
        );
        unsubscribe(d.path(), "INBOX.Sent").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join(FILE)).unwrap(),
            "#shared.x.y\nINBOX.Drafts\n"
        );
    }
}
