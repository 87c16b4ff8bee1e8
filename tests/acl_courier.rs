//! ACLs and virtual shared folders against the real Courier-IMAP 5.0.13 (Debian 12) as
//! the oracle (tests/courier/oracle.rs; every test prints `SKIP:` without it):
//! - the same SETACL/DELETEACL script run through Courier on one copy of a Maildir and
//!   through postern on another leaves identical `courierimapacl` bytes in every folder;
//! - what one server set, the other reads: GETACL through postern after Courier wrote,
//!   and `#shared.` LIST/SELECT/MYRIGHTS through Courier after postern wrote, with the
//!   same folders visible to the same users through one shared index.

mod common;

#[path = "courier/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Client, Reply, TestServer, mail_owner};
use oracle::Courier;

/// Two accounts (alice, bob) and a shared index naming both, usable by both servers.
struct Pair {
    server: TestServer,
    alice_home: PathBuf,
    bob_home: PathBuf,
    index: PathBuf,
}

fn pair() -> Pair {
    let mut server = TestServer::new();
    let bob_maildir = server.add_user("bob", "pw-bob");
    let alice_home = server.home.clone();
    let bob_home = bob_maildir.parent().unwrap().to_path_buf();
    // Courier refuses uid or gid 0 in the index.
    let (uid, gid) = mail_owner().unwrap_or((
        nix::unistd::geteuid().as_raw().max(1),
        nix::unistd::getegid().as_raw().max(1),
    ));
    let index = server.dir.path().join("shared-index");
    std::fs::write(
        &index,
        format!(
            "alice\t{uid}\t{gid}\t{}\nbob\t{uid}\t{gid}\t{}\n",
            alice_home.display(),
            bob_home.display()
        ),
    )
    .unwrap();
    server.set(
        "mail",
        "shared_index",
        &format!("{:?}", index.display().to_string()),
    );
    for f in ["Pub", "Pub.Sub", "Private"] {
        server.make_folder(f);
    }
    server.put(
        "INBOX.Pub",
        "cur",
        "1700000000.M1P1.host",
        "",
        b"Subject: shared\n\nhello\n",
    );
    Pair {
        server,
        alice_home,
        bob_home,
        index,
    }
}

impl Pair {
    fn postern(&mut self, user: &str) -> Client {
        let mut c = self.server.connect();
        let pass = if user == "alice" {
            common::PASS
        } else {
            "pw-bob"
        };
        c.send("l", &format!("LOGIN {user} {pass}")).assert_ok();
        c
    }

    fn courier(&self, courier: &Courier, user: &str) -> Client {
        let home = if user == "alice" {
            &self.alice_home
        } else {
            &self.bob_home
        };
        let mut cmd = courier.imapd_as(&home.join("Maildir"), user, self.index.to_str().unwrap());
        cmd.current_dir(home);
        let mut c = Client::spawn(cmd, false);
        let mut l = c.greeting.text.clone();
        while !l.starts_with("* PREAUTH") {
            l = c.expect_response().text;
        }
        c
    }
}

/// Every folder's `courierimapacl` (folder directory → bytes).
fn acl_files(maildir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(maildir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = entry.path().join("courierimapacl");
        if let Ok(bytes) = std::fs::read(&file) {
            out.insert(name, bytes);
        }
    }
    if let Ok(bytes) = std::fs::read(maildir.join("courierimapacl")) {
        out.insert("INBOX".into(), bytes);
    }
    out
}

/// The script both servers run as alice.
const SCRIPT: &[&str] = &[
    "SETACL INBOX.Pub bob lr",
    "SETACL INBOX.Pub anyone l",
    "SETACL INBOX.Pub -bob w",
    "SETACL INBOX.Pub bob +s",
    "SETACL INBOX.Private group=staff lrsw",
    "DELETEACL INBOX.Pub anyone",
    "SETACL INBOX.Pub.Sub bob lrsi",
];

fn statuses(c: &mut Client) -> Vec<String> {
    SCRIPT
        .iter()
        .enumerate()
        .map(|(i, cmd)| c.send(&format!("s{i}"), cmd).status().to_string())
        .collect()
}

#[test]
fn the_same_changes_leave_the_same_acl_files() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let through_courier = pair();
    let mut c = through_courier.courier(&courier, "alice");
    let courier_status = statuses(&mut c);
    c.send("z", "LOGOUT");
    let mut through_postern = pair();
    let mut p = through_postern.postern("alice");
    let postern_status = statuses(&mut p);
    assert_eq!(postern_status, courier_status);
    let courier_files = acl_files(&through_courier.alice_home.join("Maildir"));
    let postern_files = acl_files(&through_postern.alice_home.join("Maildir"));
    assert!(!courier_files.is_empty());
    assert_eq!(
        postern_files.keys().collect::<Vec<_>>(),
        courier_files.keys().collect::<Vec<_>>()
    );
    for (folder, bytes) in &courier_files {
        assert_eq!(
            String::from_utf8_lossy(&postern_files[folder]),
            String::from_utf8_lossy(bytes),
            "{folder}"
        );
    }
}

/// The LIST lines of `#shared.*`, sorted, attributes and name only.
fn shared_list(c: &mut Client) -> Vec<String> {
    let r: Reply = c.send("ls", "LIST \"\" \"#shared.*\"");
    r.assert_ok();
    let mut v = r.list_lines_quoted();
    v.sort();
    v
}

#[test]
fn what_one_server_grants_the_other_honours() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let mut p = pair();
    // postern sets, Courier serves bob.
    let mut alice = p.postern("alice");
    alice.send("a", "SETACL INBOX.Pub bob lr").assert_ok();
    let mut cbob = p.courier(&courier, "bob");
    let mut pbob = p.postern("bob");
    let (seen_p, seen_c) = (shared_list(&mut pbob), shared_list(&mut cbob));
    assert!(!seen_c.is_empty(), "Courier shows bob nothing");
    assert_eq!(seen_p, seen_c);
    let sel = cbob.send("s", "SELECT #shared.alice.Pub");
    sel.assert_ok();
    assert!(sel.has("* 1 EXISTS"), "{}", sel.dump());
    let mine_c = cbob.send("m", "MYRIGHTS #shared.alice.Pub");
    mine_c.assert_ok();
    let mine_p = pbob.send("m", "MYRIGHTS #shared.alice.Pub");
    mine_p.assert_ok();
    assert_eq!(mine_p.texts("* MYRIGHTS"), mine_c.texts("* MYRIGHTS"));
    cbob.send("z", "LOGOUT");

    // Courier sets, postern reads.
    let mut calice = p.courier(&courier, "alice");
    calice.send("b", "SETACL INBOX.Private bob lrs").assert_ok();
    let getacl_c = calice.send("g", "GETACL INBOX.Private");
    getacl_c.assert_ok();
    let getacl_p = alice.send("g", "GETACL INBOX.Private");
    getacl_p.assert_ok();
    assert_eq!(getacl_p.texts("* ACL"), getacl_c.texts("* ACL"));
    calice.send("z", "LOGOUT");
    let after = shared_list(&mut pbob);
    assert!(
        after
            .iter()
            .any(|l| l.ends_with("\"#shared.alice.Private\"")),
        "{after:?}"
    );
}

/// Courier's own ACL2-draft forms, which its Cone client uses: `ACL STORE|SET|DELETE`
/// (identifiers as the file keeps them, groups included) and LIST's
/// `(ACL MYRIGHTS POSTADDRESS)` options: the same answers and the same files.
#[test]
fn courier_s_acl_command_and_list_options_match() {
    let Some(courier) = Courier::find() else {
        return;
    };
    let script = [
        "ACL STORE INBOX.Pub user=bob lrs",
        "ACL STORE (INBOX.Pub INBOX.Private) group=staff lr",
        "ACL DELETE INBOX.Private group=staff",
        "ACL SET INBOX.Pub.Sub owner aceilrstwx administrators aceilrstwx anyone l",
        "ACL SET INBOX.Pub.Sub anyone l",
        "LIST (ACL MYRIGHTS POSTADDRESS) \"\" \"*\"",
    ];
    let run = |c: &mut Client| -> Vec<(String, Vec<String>)> {
        script
            .iter()
            .enumerate()
            .map(|(i, cmd)| {
                let r = c.send(&format!("a{i}"), cmd);
                let mut lines: Vec<String> = r
                    .untagged
                    .iter()
                    // \Unmarked is optional (RFC 3501 §7.2.2); postern does not send it.
                    .map(|l| quote_list_name(&l.text).replace("\\Unmarked ", ""))
                    .collect();
                lines.sort();
                (r.status().to_string(), lines)
            })
            .collect()
    };
    let through_courier = pair();
    let mut c = through_courier.courier(&courier, "alice");
    let from_courier = run(&mut c);
    c.send("z", "LOGOUT");
    let mut through_postern = pair();
    let mut p = through_postern.postern("alice");
    let from_postern = run(&mut p);
    for (i, cmd) in script.iter().enumerate() {
        assert_eq!(from_postern[i], from_courier[i], "{cmd}");
    }
    assert_eq!(
        acl_files(&through_postern.alice_home.join("Maildir")),
        acl_files(&through_courier.alice_home.join("Maildir"))
    );
}

/// A LIST line with its mailbox name quoted, wherever the name stands before extended
/// data (postern writes an atom where it can, Courier always quotes).
fn quote_list_name(line: &str) -> String {
    let Some(rest) = line.strip_prefix("* LIST (") else {
        return line.to_string();
    };
    let Some((attrs, after)) = rest.split_once(") \".\" ") else {
        return line.to_string();
    };
    if after.starts_with('"') {
        return line.to_string();
    }
    let (name, tail) = after.split_once(' ').unwrap_or((after, ""));
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!(" {tail}")
    };
    format!("* LIST ({attrs}) \".\" \"{name}\"{tail}")
}
