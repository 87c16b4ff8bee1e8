//! `postern deliver` as the local delivery agent of a real Postfix (tests/mta: Debian's
//! postfix with a configuration of its own, local delivery only, no listener; root only,
//! SKIP otherwise): To and Bcc recipients get their copies through `mailbox_command`, the
//! copies carry Return-Path and Delivered-To exactly once, an IDLE session sees the new
//! message, `user+folder` picks the folder, a full Maildir defers (or bounces, per
//! setting), an unknown account bounces with 5.1.1, and user-file accounts get mail
//! through a pipe(8) transport. The same with README's Exim router and transport in
//! Debian's Exim (unpacked, tests/mta). The envelope from arguments and from an
//! Exim-style environment is checked without an MTA.

mod common;
mod mta;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{BIN, Client, Line, postern_command};
use mta::{DOMAIN, Exim, MailUser, Postfix, wait_until};

const PASS: &str = "imap-secret";

/// postern's settings for the MTA's deliveries and the IDLE session: the user file lists
/// `users` (each with its own uid, gid and home).
struct Settings {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Settings {
    fn new(users: &[&MailUser], deliver: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        // Postfix runs `postern deliver` as the recipient, who must read both files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let userfile = dir.path().join("users");
        let lines: String = users.iter().map(|u| u.userfile_line(PASS)).collect();
        std::fs::write(&userfile, lines).unwrap();
        let config = dir.path().join("postern.toml");
        let settings = Settings { dir, config };
        settings.write(&userfile, deliver);
        settings
    }

    /// Rewrites the settings file with another `[deliver]` body.
    fn write(&self, userfile: &Path, deliver: &str) {
        std::fs::write(
            &self.config,
            format!(
                "[auth]\nbackend = \"userfile\"\nuserfile = \"{}\"\nfailed_login_delay = 0\n\
                 \n[deliver]\n{deliver}\n",
                userfile.display()
            ),
        )
        .unwrap();
        for f in [&self.config, userfile] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }

    /// Adds a settings section (e.g. `[imap]` lines) after the others.
    fn append(&self, text: &str) {
        let mut body = std::fs::read_to_string(&self.config).unwrap();
        body.push_str(text);
        std::fs::write(&self.config, body).unwrap();
    }

    fn userfile(&self) -> PathBuf {
        self.dir.path().join("users")
    }

    /// The mailbox_command: no target, so the running user's own ~/Maildir.
    fn mailbox_command(&self) -> String {
        format!("{BIN} --config {} deliver", self.config.display())
    }

    /// An IMAP session (`imapd --inetd`, started as root) logged in as `user`.
    fn imap(&self, user: &MailUser) -> Client {
        let mut cmd = postern_command("imapd", &self.config);
        cmd.arg("--inetd");
        let mut c = Client::spawn(cmd, true);
        c.send("l", &format!("LOGIN {} {PASS}", user.name))
            .assert_ok();
        c
    }
}

/// A message from `from` with the given header lines and a body.
fn message(from: &MailUser, headers: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {}\nSubject: {subject}\n{headers}Message-ID: <{}.{}@{DOMAIN}>\n\nbody of {subject}\n",
        from.address(),
        subject.replace(' ', "."),
        std::process::id()
    )
    .into_bytes()
}

/// The header block of a stored message.
fn header(message: &str) -> &str {
    message
        .split_once("\n\n")
        .or_else(|| message.split_once("\r\n\r\n"))
        .map_or(message, |(h, _)| h)
}

/// How many header lines start with `name:` (any case).
fn count_fields(message: &str, name: &str) -> usize {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    header(message)
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .count()
}

/// Reads responses in IDLE (bounded by the client's timeout) until one satisfies `pred`.
#[track_caller]
fn idle_until(c: &mut Client, what: &str, pred: impl Fn(&Line) -> bool) -> Line {
    loop {
        let l = c.expect_response();
        assert!(
            l.text.starts_with("* "),
            "waiting for {what} in IDLE: {}",
            l.text
        );
        if pred(&l) {
            return l;
        }
    }
}

#[track_caller]
fn assert_sent(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "sendmail: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn to_and_bcc_arrive_through_postfix_with_trace_lines_once_and_idle_sees_them() {
    if let Some(why) = mta::unavailable() {
        return common::skip::skip(&why);
    }
    let (a, b, c) = (
        MailUser::create("a"),
        MailUser::create("b"),
        MailUser::create("c"),
    );
    let settings = Settings::new(&[&a, &b, &c], "");
    let Some(postfix) = Postfix::start(&settings.mailbox_command()) else {
        return;
    };

    let mut idle = settings.imap(&b);
    idle.send("s", "SELECT INBOX").assert_ok();
    idle.write(b"i IDLE\r\n");
    assert!(idle.expect_response().is_continuation());

    let msg = message(
        &a,
        &format!("To: {}\nBcc: {}\n", b.address(), c.address()),
        "to and bcc",
    );
    assert_sent(&postfix.sendmail_as(&a, &["-t", "-f", &a.address()], &msg));

    idle_until(&mut idle, "EXISTS", |l| l.text == "* 1 EXISTS");
    idle.write(b"DONE\r\n");
    idle.read_reply("i", 1).assert_ok();

    for (user, copy) in [
        (&b, b.wait_messages("INBOX", 1)),
        (&c, c.wait_messages("INBOX", 1)),
    ] {
        assert_eq!(copy.len(), 1, "{}: {copy:?}", user.name);
        let copy = &copy[0];
        assert!(
            !copy.starts_with("From "),
            "an mbox From_ line was kept: {copy}"
        );
        assert_eq!(
            count_fields(copy, "Bcc"),
            0,
            "Bcc left in the copy:\n{copy}"
        );
        assert_eq!(count_fields(copy, "Return-Path"), 1, "{copy}");
        assert_eq!(count_fields(copy, "Delivered-To"), 1, "{copy}");
        assert!(
            header(copy).contains(&format!("Return-Path: <{}>", a.address())),
            "{copy}"
        );
        assert!(
            header(copy).contains(&format!("Delivered-To: {}", user.address())),
            "{copy}"
        );
        assert!(copy.contains("body of to and bcc"), "{copy}");
        // Written by the recipient (Postfix ran the command as them), never by root.
        let file = &user.messages("INBOX")[0];
        assert_eq!(std::fs::metadata(file).unwrap().uid(), user.uid);
    }
    let line = postfix.wait_log(&[&b.address(), "status=sent", "delivered to command"]);
    assert!(line.contains("dsn=2.0.0"), "{line}");
    let r = idle.send("f", "FETCH 1 BODY.PEEK[HEADER.FIELDS (Delivered-To)]");
    assert!(r.assert_ok().dump().contains(&b.address()), "{}", r.dump());
}

#[test]
fn address_extension_picks_an_existing_folder_else_inbox() {
    if let Some(why) = mta::unavailable() {
        return common::skip::skip(&why);
    }
    let (a, b) = (MailUser::create("a"), MailUser::create("b"));
    let out = b.run(&[
        BIN,
        "maildirmake",
        "-f",
        "Work",
        &b.maildir.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let settings = Settings::new(&[&a, &b], "folder_from_extension = true");
    let Some(postfix) = Postfix::start(&settings.mailbox_command()) else {
        return;
    };
    // Postfix folds the extension to lower case ($EXTENSION=work): the folder is found
    // in any case.
    let to_work = format!("{}+Work@{DOMAIN}", b.name);
    let to_none = format!("{}+nosuch@{DOMAIN}", b.name);
    for (to, subject) in [(&to_work, "for work"), (&to_none, "for no folder")] {
        let msg = message(&a, &format!("To: {to}\n"), subject);
        assert_sent(&postfix.sendmail_as(&a, &["-f", &a.address(), to], &msg));
    }
    let work = b.wait_messages("INBOX.Work", 1);
    let inbox = b.wait_messages("INBOX", 1);
    assert!(work[0].contains("Subject: for work"), "{work:?}");
    assert!(inbox[0].contains("Subject: for no folder"), "{inbox:?}");
    // Delivered-To is the full address, extension included (as Postfix wrote it).
    assert_eq!(count_fields(&work[0], "Delivered-To"), 1, "{}", work[0]);
    postfix.wait_log(&[&to_none, "status=sent"]);
    assert!(
        b.folder_dir("INBOX.nosuch").symlink_metadata().is_err(),
        "a folder was made"
    );
}

#[test]
fn full_maildir_defers_and_with_bounce_set_bounces_with_5_2_2() {
    if let Some(why) = mta::unavailable() {
        return common::skip::skip(&why);
    }
    let (a, b) = (MailUser::create("a"), MailUser::create("b"));
    let out = b.run(&[
        BIN,
        "maildirmake",
        "-q",
        "100S",
        &b.maildir.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let settings = Settings::new(&[&a, &b], "quota_exceeded = \"defer\"");
    let Some(postfix) = Postfix::start(&settings.mailbox_command()) else {
        return;
    };
    let msg = message(&a, &format!("To: {}\n", b.address()), "too big for b");
    assert_sent(&postfix.sendmail_as(&a, &["-t", "-f", &a.address()], &msg));

    let line = postfix.wait_log(&[&b.address(), "status=deferred"]);
    assert!(line.contains("dsn=4.2.2"), "{line}");
    assert!(line.contains("postern deliver"), "{line}");
    let queue = postfix.queue();
    assert!(queue.contains(&b.address()), "not queued: {queue}");
    assert!(b.messages("INBOX").is_empty());

    // The same message, tried again after the setting says "bounce", is returned to a.
    settings.write(&settings.userfile(), "quota_exceeded = \"bounce\"");
    assert!(postfix.flush().success());
    let line = postfix.wait_log(&[&b.address(), "status=bounced"]);
    assert!(line.contains("dsn=5.2.2"), "{line}");
    let bounce = a.wait_messages("INBOX", 1);
    assert!(bounce[0].contains("MAILER-DAEMON"), "{}", bounce[0]);
    assert!(bounce[0].contains("5.2.2"), "{}", bounce[0]);
    assert!(b.messages("INBOX").is_empty());
}

#[test]
fn account_unknown_to_postern_bounces_with_5_1_1() {
    if let Some(why) = mta::unavailable() {
        return common::skip::skip(&why);
    }
    // d is a system user (Postfix accepts it) missing from postern's user file.
    let (a, b, d) = (
        MailUser::create("a"),
        MailUser::create("b"),
        MailUser::create("d"),
    );
    let settings = Settings::new(&[&a, &b], "");
    // Here the account is named: Postfix hands a command with "$" to /bin/sh, which
    // expands $USER (Postfix exports the recipient's login name; it does no $name
    // expansion of its own in mailbox_command).
    let command = format!(
        "{BIN} --config {} deliver \"$USER\"",
        settings.config.display()
    );
    let Some(postfix) = Postfix::start(&command) else {
        return;
    };
    for to in [&d, &b] {
        let msg = message(
            &a,
            &format!("To: {}\n", to.address()),
            &format!("for {}", to.name),
        );
        assert_sent(&postfix.sendmail_as(&a, &["-t", "-f", &a.address()], &msg));
    }
    let line = postfix.wait_log(&[&d.address(), "status=bounced"]);
    assert!(line.contains("dsn=5.1.1"), "{line}");
    assert!(line.contains("no such user"), "{line}");
    let copy = b.wait_messages("INBOX", 1);
    assert_eq!(count_fields(&copy[0], "Delivered-To"), 1, "{}", copy[0]);
    let bounce = a.wait_messages("INBOX", 1);
    assert!(bounce[0].contains("5.1.1"), "{}", bounce[0]);
    assert!(d.messages("INBOX").is_empty());
}

/// Virtual users of the user file (no system account), delivered by a Postfix `pipe(8)`
/// transport that runs as the virtual-mail owner and passes the envelope as arguments.
#[test]
fn virtual_users_through_a_pipe_transport() {
    if let Some(why) = mta::unavailable() {
        return common::skip::skip(&why);
    }
    let a = MailUser::create("a");
    let vdomain = format!("virt.{DOMAIN}");
    let settings = Settings::new(&[], "folder_from_extension = true");
    // The virtual account: a home of its own owned by the mail owner (nobody, which the
    // pipe runs as), no uid in the user file: unprivileged, deliver stays that owner.
    let vhome = settings.dir.path().join("vhome");
    let vmaildir = vhome.join("Maildir");
    std::fs::create_dir(&vhome).unwrap();
    for args in [vec!["maildirmake"], vec!["maildirmake", "-f", "Lists"]] {
        let out = Command::new(BIN)
            .args(&args)
            .arg(&vmaildir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    common::owner::give_to_mail_owner(&vhome);
    let (uid, _) = common::owner::mail_owner().unwrap();
    std::fs::write(
        settings.userfile(),
        format!("vuser:{{PLAIN}}{PASS}::::{}::\n", vhome.display()),
    )
    .unwrap();
    let service = format!(
        "postern   unix  -       n       n       -       -       pipe\n  \
         user=nobody:nogroup null_sender= argv={BIN} --config {} deliver -f ${{sender}} \
         -a ${{recipient}} --extension ${{extension}} -- ${{user}}\n",
        settings.config.display()
    );
    let main = [
        ("virtual_mailbox_domains", vdomain.as_str()),
        ("virtual_mailbox_maps", "static:OK"),
        ("virtual_transport", "postern"),
        ("postern_destination_recipient_limit", "1"),
    ];
    let Some(postfix) = Postfix::start_with(&settings.mailbox_command(), &main, &service) else {
        return;
    };
    let to_inbox = format!("vuser@{vdomain}");
    let to_lists = format!("vuser+lists@{vdomain}");
    let to_nobody = format!("nosuch@{vdomain}");
    for to in [&to_inbox, &to_lists, &to_nobody] {
        let msg = message(&a, &format!("To: {to}\n"), &format!("for {to}"));
        assert_sent(&postfix.sendmail_as(&a, &["-f", &a.address(), to], &msg));
    }
    let line = postfix.wait_log(&[&to_nobody, "status=bounced"]);
    assert!(line.contains("dsn=5.1.1"), "{line}");
    let line = postfix.wait_log(&[&to_lists, "status=sent"]);
    assert!(line.contains("relay=postern"), "{line}");
    postfix.wait_log(&[&to_inbox, "status=sent"]);
    for (dir, to) in [
        (vmaildir.clone(), &to_inbox),
        (vmaildir.join(".Lists"), &to_lists),
    ] {
        let copy = only_message(&dir);
        assert!(
            copy.starts_with(&format!(
                "Return-Path: <{}>\nDelivered-To: {to}\n",
                a.address()
            )),
            "{copy}"
        );
        let file = std::fs::read_dir(dir.join("new"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(file.metadata().unwrap().uid(), uid);
    }
    let bounce = a.wait_messages("INBOX", 1);
    assert!(bounce[0].contains("5.1.1"), "{}", bounce[0]);

    // A message from the null sender (a bounce) keeps its empty Return-Path.
    let msg = message(&a, &format!("To: {to_inbox}\n"), "from nobody");
    assert_sent(&postfix.sendmail(&["-f", "", &to_inbox], &msg));
    wait_until("the null sender's message", || {
        std::fs::read_dir(vmaildir.join("new")).unwrap().count() == 2
    });
    let texts: Vec<String> = std::fs::read_dir(vmaildir.join("new"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let copy = texts.iter().find(|t| t.contains("from nobody")).unwrap();
    assert!(copy.starts_with("Return-Path: <>\n"), "{copy}");
}

/// README's Exim router and transport with Debian's Exim (unpacked, `-C`, no daemon):
/// To and Bcc, one Return-Path and Delivered-To each (Exim writes neither), no Bcc line,
/// `user+folder` into the folder.
#[test]
fn exim_pipe_transport_delivers_with_trace_lines_and_folders() {
    if let Some(why) = mta::exim_unavailable() {
        return common::skip::skip(&why);
    }
    let (a, b, c) = (
        MailUser::create("a"),
        MailUser::create("b"),
        MailUser::create("c"),
    );
    let out = b.run(&[
        BIN,
        "maildirmake",
        "-f",
        "Lists",
        &b.maildir.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let settings = Settings::new(&[&a, &b, &c], "folder_from_extension = true");
    let Some(exim) = Exim::start(&settings.mailbox_command()) else {
        return;
    };
    let msg = message(
        &a,
        &format!("To: {}\nBcc: {}\n", b.address(), c.address()),
        "exim to and bcc",
    );
    let out = exim.exim(&["-odi", "-t", "-f", &a.address()], &msg);
    assert!(out.status.success(), "exim: {out:?}");
    let to_lists = format!("{}+lists@{DOMAIN}", b.name);
    let msg = message(&a, &format!("To: {to_lists}\n"), "exim lists");
    let out = exim.send(&a.address(), &[&to_lists], &msg);
    assert!(out.status.success(), "exim: {out:?}");

    for (user, folder, to) in [
        (&b, "INBOX", b.address()),
        (&c, "INBOX", c.address()),
        (&b, "INBOX.Lists", to_lists.clone()),
    ] {
        let copy = user.wait_messages(folder, 1);
        let copy = &copy[0];
        assert_eq!(count_fields(copy, "Bcc"), 0, "{copy}");
        assert_eq!(count_fields(copy, "Return-Path"), 1, "{copy}");
        assert_eq!(count_fields(copy, "Delivered-To"), 1, "{copy}");
        assert!(
            copy.starts_with(&format!(
                "Return-Path: <{}>\nDelivered-To: {to}\n",
                a.address()
            )),
            "{copy}"
        );
        let file = &user.messages(folder)[0];
        assert_eq!(std::fs::metadata(file).unwrap().uid(), user.uid);
    }
    exim.wait_log(&[&to_lists, "T=postern_pipe"]);
}

/// Exim: 75 keeps the message queued (temp_errors), 77 bounces it with postern's line.
#[test]
fn exim_full_maildir_defers_then_bounces_when_set() {
    if let Some(why) = mta::exim_unavailable() {
        return common::skip::skip(&why);
    }
    let (a, b) = (MailUser::create("a"), MailUser::create("b"));
    let out = b.run(&[
        BIN,
        "maildirmake",
        "-q",
        "100S",
        &b.maildir.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let settings = Settings::new(&[&a, &b], "");
    let Some(exim) = Exim::start(&settings.mailbox_command()) else {
        return;
    };
    let msg = message(&a, &format!("To: {}\n", b.address()), "too big for exim");
    let out = exim.send(&a.address(), &[&b.address()], &msg);
    assert!(out.status.success(), "exim: {out:?}");
    let line = exim.wait_log(&["==", &b.address(), "defer"]);
    assert!(line.contains("75"), "{line}");
    assert!(exim.queue().contains(&b.address()), "{}", exim.queue());

    settings.write(&settings.userfile(), "quota_exceeded = \"bounce\"");
    let out = exim.run_queue();
    assert!(out.status.success(), "exim -qff: {out:?}");
    exim.wait_log(&["**", &b.address()]);
    let bounce = a.wait_messages("INBOX", 1);
    assert!(bounce[0].contains("5.2.2 postern deliver"), "{}", bounce[0]);
    assert!(b.messages("INBOX").is_empty());
}

/// `postern deliver` as an MTA without Postfix: `--config`, the args, the environment.
fn deliver(config: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(config).arg("deliver").args(args);
    for var in ["SENDER", "RECIPIENT", "EXTENSION", "LOCAL_PART_SUFFIX"] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A deliver that refuses at once (a usage error) may exit before reading its input.
    if let Err(e) = child.stdin.take().unwrap().write_all(input) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Maildir with a folder `Lists` in a temporary directory, owned by the mail owner
/// when root; with the settings file beside it.
fn local_maildir(deliver_settings: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    common::owner::open_to_mail_owner(dir.path());
    let md = dir.path().join("Maildir");
    for args in [vec!["maildirmake"], vec!["maildirmake", "-f", "Lists"]] {
        let out = Command::new(BIN).args(&args).arg(&md).output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    common::owner::give_to_mail_owner(&md);
    let config = dir.path().join("postern.toml");
    std::fs::write(&config, format!("[deliver]\n{deliver_settings}\n")).unwrap();
    (dir, md, config)
}

fn only_message(dir: &Path) -> String {
    let files: Vec<_> = std::fs::read_dir(dir.join("new"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1, "{}", dir.display());
    std::fs::read_to_string(files[0].path()).unwrap()
}

#[test]
fn envelope_from_arguments_adds_return_path_and_delivered_to() {
    let (_dir, md, config) = local_maildir("");
    let target = md.display().to_string();
    let (code, err) = deliver(
        &config,
        &["-f", "s@example.org", "-a", "r@example.org", &target],
        &[],
        b"Subject: args\n\nbody\n",
    );
    assert_eq!(code, 0, "{err}");
    let text = only_message(&md);
    assert!(
        text.starts_with(
            "Return-Path: <s@example.org>\nDelivered-To: r@example.org\nSubject: args\n"
        ),
        "{text}"
    );
}

/// What an Exim pipe transport hands over: a From_ line (its default message_prefix),
/// SENDER, RECIPIENT and LOCAL_PART_SUFFIX with its delimiter.
#[test]
fn exim_style_environment_and_from_line() {
    let (_dir, md, config) = local_maildir("folder_from_extension = true");
    let target = md.display().to_string();
    let input = b"From s@example.org Sun Dec  6 01:00:00 2026\nSubject: exim\n\nbody\n";
    let env = [
        ("SENDER", "s@example.org"),
        ("RECIPIENT", "r+lists@example.org"),
        ("LOCAL_PART_SUFFIX", "+lists"),
    ];
    let (code, err) = deliver(&config, &[&target], &env, input);
    assert_eq!(code, 0, "{err}");
    let text = only_message(&md.join(".Lists"));
    assert_eq!(
        text,
        "Return-Path: <s@example.org>\nDelivered-To: r+lists@example.org\nSubject: exim\n\nbody\n"
    );
}

#[test]
fn extension_is_ignored_by_default_and_null_sender_is_kept() {
    let (_dir, md, config) = local_maildir("");
    let target = md.display().to_string();
    let env = [("SENDER", ""), ("EXTENSION", "Lists")];
    let (code, err) = deliver(&config, &[&target], &env, b"Subject: bounce\n\nbody\n");
    assert_eq!(code, 0, "{err}");
    let text = only_message(&md);
    assert!(
        text.starts_with("Return-Path: <>\nSubject: bounce\n"),
        "{text}"
    );
}

#[test]
fn trace_lines_can_be_turned_off() {
    let (_dir, md, config) = local_maildir("return_path = false\ndelivered_to = false");
    let target = md.display().to_string();
    let env = [("SENDER", "s@example.org"), ("RECIPIENT", "r@example.org")];
    let (code, err) = deliver(&config, &[&target], &env, b"Subject: off\n\nbody\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(only_message(&md), "Subject: off\n\nbody\n");
}

#[test]
fn over_quota_exit_code_follows_the_setting() {
    for (setting, want, status) in [("defer", 75, "4.2.2 "), ("bounce", 77, "5.2.2 ")] {
        let (_dir, md, config) = local_maildir(&format!("quota_exceeded = \"{setting}\""));
        let out = Command::new(BIN)
            .args(["maildirmake", "-q", "10S"])
            .arg(&md)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        common::owner::give_to_mail_owner(&md);
        let target = md.display().to_string();
        let (code, err) = deliver(
            &config,
            &[&target],
            &[],
            b"Subject: big\n\nmore than ten bytes\n",
        );
        assert_eq!(code, want, "{setting}: {err}");
        assert!(err.starts_with(status), "{setting}: {err}");
        assert_eq!(err.lines().count(), 1, "one line for the bounce: {err}");
    }
}

#[test]
fn root_without_a_target_is_a_usage_error() {
    if !nix::unistd::geteuid().is_root() {
        return common::skip::skip("needs root");
    }
    let (_dir, _md, config) = local_maildir("");
    let (code, err) = deliver(&config, &[], &[], b"Subject: x\n\nbody\n");
    assert_eq!(code, 64, "{err}");
}

/// Issue 15's end-to-end path: A COPYs a message into INBOX.Outbox over IMAP; postern
/// submits it to Postfix (SMTP on loopback: a session cannot run Postfix's setgid
/// `sendmail`, see `[imap] outbox_smtp`), Postfix delivers it through `postern deliver`
/// to B (To) and C (Bcc), and B's IDLE session sees it arrive. The Bcc line is gone from
/// both copies, the LDA lines are there once, and A's Outbox keeps its copy. An MTA that
/// cannot be reached answers Courier's alert and leaves no stored copy.
#[test]
fn outbox_copy_is_sent_through_postfix_to_to_and_bcc() {
    if let Some(why) = mta::unavailable() {
        return common::skip::skip(&why);
    }
    let (a, b, c) = (
        MailUser::create("a"),
        MailUser::create("b"),
        MailUser::create("c"),
    );
    let settings = Settings::new(&[&a, &b, &c], "");
    let port = common::ports::free_port();
    let services = format!("127.0.0.1:{port} inet n - n - - smtpd\nanvil unix - - n - 1 anvil\n");
    let Some(postfix) = Postfix::start_with(
        &settings.mailbox_command(),
        &[("master_service_disable", "")],
        &services,
    ) else {
        return;
    };
    settings.append(&format!(
        "\n[imap]\noutbox = \"Outbox\"\noutbox_smtp = \"127.0.0.1:{port}\"\n\
         outbox_sender = \"{{user}}@{DOMAIN}\"\n"
    ));

    let mut idle = settings.imap(&b);
    idle.send("s", "SELECT INBOX").assert_ok();
    idle.write(b"i IDLE\r\n");
    assert!(idle.expect_response().is_continuation());

    let mut sender = settings.imap(&a);
    let caps = sender.send("c", "CAPABILITY");
    assert!(caps.has("XCOURIEROUTBOX=INBOX.Outbox"), "{}", caps.dump());
    sender.send("c1", "CREATE INBOX.Outbox").assert_ok();
    sender.send("c2", "CREATE INBOX.Drafts").assert_ok();
    let msg = String::from_utf8(message(
        &a,
        &format!("To: {}\nBcc: {}\n", b.address(), c.address()),
        "through the outbox",
    ))
    .unwrap()
    .replace('\n', "\r\n");
    let append = format!("APPEND INBOX.Drafts {{{}+}}\r\n{msg}", msg.len());
    sender.send("ap", &append).assert_ok();
    sender.send("s", "SELECT INBOX.Drafts").assert_ok();
    sender.send("cp", "COPY 1 INBOX.Outbox").assert_ok();

    idle_until(&mut idle, "EXISTS", |l| l.text == "* 1 EXISTS");
    idle.write(b"DONE\r\n");
    idle.read_reply("i", 1).assert_ok();
    let to_b = b.wait_messages("INBOX", 1);
    let to_c = c.wait_messages("INBOX", 1);
    for copy in [&to_b[0], &to_c[0]] {
        assert_eq!(count_fields(copy, "Bcc"), 0, "Bcc left:\n{copy}");
        assert_eq!(count_fields(copy, "Return-Path"), 1, "{copy}");
        assert_eq!(count_fields(copy, "Delivered-To"), 1, "{copy}");
        assert!(copy.contains("body of through the outbox"), "{copy}");
        assert!(
            header(copy).contains(&format!("X-IMAP-Sender: {}@{DOMAIN}", a.name)),
            "{copy}"
        );
        assert!(
            header(copy).contains(&format!("Return-Path: <{}@{DOMAIN}>", a.name)),
            "{copy}"
        );
    }
    assert_eq!(a.messages("INBOX.Outbox").len(), 1, "the sent copy is kept");
    postfix.wait_log(&[&c.address(), "status=sent"]);

    // An MTA that cannot be reached: Courier's alert, and the Outbox as it was.
    let closed = common::ports::free_port();
    let body = std::fs::read_to_string(&settings.config).unwrap().replace(
        &format!("outbox_smtp = \"127.0.0.1:{port}\""),
        &format!("outbox_smtp = \"127.0.0.1:{closed}\""),
    );
    std::fs::write(&settings.config, body).unwrap();
    let mut failing = settings.imap(&a);
    failing.send("s", "SELECT INBOX.Drafts").assert_ok();
    let r = failing.send("cp", "COPY 1 INBOX.Outbox");
    r.assert_status("NO");
    assert!(
        r.tagged
            .text
            .contains("[ALERT] Unable to send E-mail message."),
        "{}",
        r.dump()
    );
    assert_eq!(
        a.messages("INBOX.Outbox").len(),
        1,
        "no stored copy of the failure"
    );
}
