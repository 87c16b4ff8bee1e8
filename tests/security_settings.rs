//! The login settings reach every login path: a certificate login (AUTHENTICATE
//! EXTERNAL) follows `[mail] sanity_check` exactly as a password login does. The settings
//! used to reach the privilege-drop code through a process-wide value that only the
//! password path filled, so a certificate login ran with the defaults whatever the
//! administrator had configured.

mod tls_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tls_support::{Client, PASSWORD, Server, USER, tools_present};

const EXTERNAL: &str = "verify_peer = \"optional\"\nexternal_field = \"emailAddress\"\n";
/// A uid other than the one sessions run as (the fixture's mail owner, 65534).
const SOMEONE_ELSE: u32 = 65533;

/// Gives the Maildir to someone else, readable and writable by all, so that only
/// `sanity_check` stands between the session and it.
fn give_away(path: &Path) {
    std::os::unix::fs::lchown(path, Some(SOMEONE_ELSE), Some(SOMEONE_ELSE)).unwrap();
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
        for entry in std::fs::read_dir(path).unwrap() {
            give_away(&entry.unwrap().path());
        }
    }
}

/// The tagged answer to `command` after the greeting, over implicit TLS, with the
/// fixture's client certificate.
fn answer(s: &Server, command: &str) -> String {
    let mut c = Client::connect(s.imaps);
    c.start_tls(
        &s.pki.ca,
        Some((&s.pki.client_cert, &s.pki.client_key)),
        None,
    )
    .unwrap();
    c.line();
    c.send(&format!("a {command}\r\n"));
    c.until_tag("a").join("\n")
}

#[test]
fn certificate_logins_follow_the_configured_sanity_check() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "SKIP: certificate_logins_follow_the_configured_sanity_check needs root (a Maildir \
             owned by another uid)"
        );
        return;
    }
    if !tools_present() {
        return;
    }
    for (sanity_check, accepted) in [(true, false), (false, true)] {
        let s = Server::start(
            EXTERNAL,
            &format!("\n[mail]\nsanity_check = {sanity_check}\n"),
            "",
        );
        give_away(&s.dir.path().join("home/Maildir"));
        let password = answer(&s, &format!("LOGIN {USER} {PASSWORD}"));
        let certificate = answer(&s, "AUTHENTICATE EXTERNAL =");
        for (how, reply) in [("LOGIN", &password), ("EXTERNAL", &certificate)] {
            let ok = reply.lines().any(|l| l.starts_with("a OK"));
            assert_eq!(
                ok,
                accepted,
                "{how} with sanity_check = {sanity_check}: {reply}\n{}",
                s.stderr()
            );
        }
    }
}
