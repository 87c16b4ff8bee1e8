//! Sending a message stored in the Outbox folder (Courier's OUTBOX / XCOURIEROUTBOX): the
//! stored file is handed to the configured `sendmail` on its standard input.
//!
//! The program runs as the logged-in user (the session dropped its privileges at login),
//! in its own process group, with a clean environment (PATH, HOME, USER, LOGNAME), and no
//! shell: the settings give the argument list, and only the configured sender reaches
//! it, never anything of the message. What it writes goes to the log. It gets
//! `[imap] sendmail_timeout`; then the whole group is killed and the send has failed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::auth::Account;
use crate::config::Imap;

/// The PATH the program gets.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Most of the program's output kept for the log.
const MAX_OUTPUT: usize = 2000;

/// Why a send failed (for the log; the client hears only that it failed).
#[derive(Debug, PartialEq, Eq)]
pub struct Failure(pub String);

/// The sender of the account's Outbox mail: its `address=` option, else
/// `[imap] outbox_sender` with `{user}` as the login name.
pub fn sender(imap: &Imap, account: &Account) -> String {
    match account.options.other.get("address") {
        Some(address) if !address.is_empty() => address.clone(),
        _ => imap.outbox_sender.replace("{user}", &account.user),
    }
}

/// The argument list with `{sender}` filled in (program first).
pub fn command_line(imap: &Imap, sender: &str) -> Vec<String> {
    imap.sendmail
        .iter()
        .map(|arg| arg.replace("{sender}", sender))
        .collect()
}

/// Hands `message` (the stored file, LF line ends) to `sendmail`, with the
/// `outbox_header_from` line above it when that is set. `scratch` is a directory of the
/// same Maildir (a folder's tmp/) for the copy with that line. Logs the outcome.
pub fn send(
    imap: &Imap,
    account: &Account,
    message: &mut File,
    scratch: &Path,
) -> Result<(), Failure> {
    let sender = sender(imap, account);
    let size = message.metadata().map(|m| m.len()).unwrap_or(0);
    if !imap.outbox_smtp.is_empty() {
        return submit_smtp(imap, account, &sender, size, message);
    }
    let result = stdin_for(imap, &sender, message, scratch)
        .map_err(|e| Failure(format!("cannot prepare the message: {e}")))
        .and_then(|stdin| run(imap, account, &sender, stdin));
    log_send(account, &sender, size, &result);
    result.and_then(|ran| match ran.status.success() {
        true => Ok(()),
        false => Err(Failure(describe(ran.status))),
    })
}

/// Whether an envelope recipient can go on a `sendmail` command line or into `RCPT TO:`
/// as it is: `local@domain`, no white space, control character or angle bracket, and
/// not starting with `-` (it would be an option).
pub fn valid_recipient(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 320
        && !address.starts_with('-')
        && address.contains('@')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
}

/// Whether a NOTIFY list (RFC 3461 §4.1) is one `sendmail -N` takes: NEVER, or some of
/// SUCCESS, FAILURE (Courier's FAIL too) and DELAY, comma-separated.
pub fn valid_notify(list: &str) -> bool {
    let words: Vec<String> = list.split(',').map(|w| w.to_ascii_uppercase()).collect();
    words == ["NEVER"]
        || words
            .iter()
            .all(|w| matches!(w.as_str(), "SUCCESS" | "FAILURE" | "FAIL" | "DELAY"))
}

/// Sends `message` (LF line ends, as stored) to `recipients` rather than to those of its
/// header: SMAP's `ADD RCPTTO=`. The same program or SMTP server as [`send`], from the
/// same sender; `sendmail` gets the configured arguments without `-t`, then the
/// recipients; no sender header line is added (the client wrote the header it wants).
pub fn send_to(
    imap: &Imap,
    account: &Account,
    message: &mut File,
    recipients: &[String],
    notify: Option<&str>,
) -> Result<(), Failure> {
    if let Some(bad) = recipients.iter().find(|r| !valid_recipient(r)) {
        return Err(Failure(format!("invalid recipient {bad:?}")));
    }
    let sender = sender(imap, account);
    let size = message.metadata().map(|m| m.len()).unwrap_or(0);
    if !imap.outbox_smtp.is_empty() {
        let mut bytes = Vec::with_capacity(size as usize);
        message
            .seek(SeekFrom::Start(0))
            .and_then(|_| message.read_to_end(&mut bytes))
            .map_err(|e| Failure(format!("cannot read the message: {e}")))?;
        let result = crate::submit::submit_to(
            &imap.outbox_smtp,
            &sender,
            recipients,
            &bytes,
            imap.sendmail_timeout(),
        )
        .map(|_| ())
        .map_err(|refused| Failure(refused.0));
        let mut fields = vec![
            ("USER", account.user.clone()),
            ("SENDER", sender.clone()),
            ("SIZE", size.to_string()),
            ("RECIPIENTS", recipients.len().to_string()),
        ];
        let (level, what) = match &result {
            Ok(()) => (log::Level::Info, "SMAP SENT"),
            Err(Failure(why)) => {
                fields.push(("STATUS", why.clone()));
                (log::Level::Warn, "SMAP SEND FAILED")
            }
        };
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::log::event(level, what, &borrowed);
        return result;
    }
    let mut argv: Vec<String> = command_line(imap, &sender)
        .into_iter()
        .filter(|a| a != "-t")
        .collect();
    // Delivery status notifications (RFC 3461) as sendmail's `-N`; over SMTP they are
    // not asked for (the submission would need the server's DSN extension).
    if let Some(list) = notify {
        argv.push("-N".to_owned());
        argv.push(list.to_owned());
    }
    argv.extend(recipients.iter().cloned());
    let result = message
        .seek(SeekFrom::Start(0))
        .and_then(|_| message.try_clone())
        .map_err(|e| Failure(format!("cannot prepare the message: {e}")))
        .and_then(|stdin| run_argv(imap, account, argv, stdin));
    log_send(account, &sender, size, &result);
    result.and_then(|ran| match ran.status.success() {
        true => Ok(()),
        false => Err(Failure(describe(ran.status))),
    })
}

/// [`send`] through `[imap] outbox_smtp` ([`crate::submit`]), logged the same way with
/// the number of recipients and the server's last answer.
fn submit_smtp(
    imap: &Imap,
    account: &Account,
    sender: &str,
    size: u64,
    message: &mut File,
) -> Result<(), Failure> {
    let mut bytes = Vec::with_capacity(size as usize);
    let read = message
        .seek(SeekFrom::Start(0))
        .and_then(|_| message.read_to_end(&mut bytes));
    let header_line = match imap.outbox_header_from.as_str() {
        "" => String::new(),
        name => {
            let clean: String = sender.chars().filter(|c| !c.is_control()).collect();
            format!("{name}: {clean}\n")
        }
    };
    let result = read
        .map_err(|e| Failure(format!("cannot read the message: {e}")))
        .and_then(|_| {
            crate::submit::submit(
                &imap.outbox_smtp,
                sender,
                header_line.as_bytes(),
                &bytes,
                imap.sendmail_timeout(),
            )
            .map_err(|refused| Failure(refused.0))
        });
    let mut fields = vec![
        ("USER", account.user.clone()),
        ("SENDER", sender.to_owned()),
        ("SIZE", size.to_string()),
    ];
    let (level, what) = match &result {
        Ok(done) => {
            fields.push(("RECIPIENTS", done.recipients.to_string()));
            fields.push(("STATUS", done.reply.clone()));
            (log::Level::Info, "OUTBOX SENT")
        }
        Err(Failure(why)) => {
            fields.push(("STATUS", why.clone()));
            (log::Level::Warn, "OUTBOX SEND FAILED")
        }
    };
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::log::event(level, what, &borrowed);
    result.map(|_| ())
}

/// The program's standard input: the stored file itself, or an unlinked copy in
/// `scratch` with the sender header line above it.
fn stdin_for(imap: &Imap, sender: &str, message: &mut File, scratch: &Path) -> io::Result<File> {
    message.seek(SeekFrom::Start(0))?;
    let name = &imap.outbox_header_from;
    if name.is_empty() {
        return message.try_clone();
    }
    let mut copy = unnamed_file(scratch)?;
    // A sender with a line break would start a header of its own.
    let sender: String = sender.chars().filter(|c| !c.is_control()).collect();
    copy.write_all(format!("{name}: {sender}\n").as_bytes())?;
    io::copy(message, &mut copy)?;
    copy.seek(SeekFrom::Start(0))?;
    Ok(copy)
}

/// A new file in `dir` that has no name (O_TMPFILE), or one unlinked at once where the
/// file system cannot do that: it goes when the last descriptor closes.
fn unnamed_file(dir: &Path) -> io::Result<File> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;
    let unnamed = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_TMPFILE)
        .open(dir);
    if let Ok(file) = unnamed {
        return Ok(file);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let path = dir.join(format!("{stamp}.P{}.outbox", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// What the program did: its exit status and what it wrote.
struct Ran {
    status: ExitStatus,
    output: String,
}

fn run(imap: &Imap, account: &Account, sender: &str, stdin: File) -> Result<Ran, Failure> {
    run_argv(imap, account, command_line(imap, sender), stdin)
}

fn run_argv(
    imap: &Imap,
    account: &Account,
    argv: Vec<String>,
    stdin: File,
) -> Result<Ran, Failure> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Failure("no sendmail program is configured".into()))?;
    let (mut reader, writer) = io::pipe().map_err(|e| Failure(format!("pipe: {e}")))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| Failure(format!("pipe: {e}")))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", &account.home)
        .env("USER", &account.user)
        .env("LOGNAME", &account.user)
        .current_dir("/")
        .stdin(Stdio::from(stdin))
        .stdout(writer)
        .stderr(writer2)
        // Its own process group, so that a timeout ends whatever it started too.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure(format!("cannot start {program}: {e}")))?;
    drop(cmd); // our copies of the pipe's write end and of stdin
    let pgid = Pid::from_raw(child.id() as i32);
    let timeout = imap.sendmail_timeout();
    let deadline = Instant::now() + timeout;
    let output = read_output(&mut reader, deadline);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let _ = killpg(pgid, Signal::SIGKILL);
                return Ok(Ran { status, output });
            }
            Ok(None) => {}
            Err(e) => return Err(Failure(format!("wait: {e}"))),
        }
        if Instant::now() >= deadline {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
            return Err(Failure(format!(
                "{program} still running after {} s, killed{}",
                timeout.as_secs(),
                if output.is_empty() {
                    String::new()
                } else {
                    format!("; it said: {output}")
                }
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The program's output until it closes it or the deadline, the first [`MAX_OUTPUT`]
/// bytes kept (line breaks as " / ").
fn read_output(reader: &mut io::PipeReader, deadline: Instant) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&kept);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// One log line per send: SENT or SEND FAILED with the user, sender, size, status and
/// what the program said.
fn log_send(account: &Account, sender: &str, size: u64, result: &Result<Ran, Failure>) {
    let mut fields = vec![
        ("USER", account.user.clone()),
        ("SENDER", sender.to_owned()),
        ("SIZE", size.to_string()),
    ];
    let (level, what) = match result {
        Ok(ran) => {
            fields.push(("STATUS", describe(ran.status)));
            if !ran.output.is_empty() {
                fields.push(("OUTPUT", ran.output.clone()));
            }
            if ran.status.success() {
                (log::Level::Info, "OUTBOX SENT")
            } else {
                (log::Level::Warn, "OUTBOX SEND FAILED")
            }
        }
        Err(Failure(why)) => {
            fields.push(("STATUS", why.clone()));
            (log::Level::Warn, "OUTBOX SEND FAILED")
        }
    };
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::log::event(level, what, &borrowed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::account::AccountOptions;

    fn account(options: &str) -> Account {
        Account {
            user: "alice".into(),
            uid: None,
            gid: None,
            home: "/nonexistent".into(),
            maildir: "/nonexistent/Maildir".into(),
            options: AccountOptions::parse(options).unwrap(),
            system: false,
        }
    }

    #[test]
    fn sender_is_the_address_option_else_the_template() {
        let mut imap = Imap::default();
        assert_eq!(sender(&imap, &account("")), "alice");
        imap.outbox_sender = "{user}@example.org".into();
        assert_eq!(sender(&imap, &account("")), "alice@example.org");
        assert_eq!(
            sender(&imap, &account("address=a.b@example.net")),
            "a.b@example.net"
        );
    }

    #[test]
    fn the_default_command_is_courier_s() {
        let imap = Imap::default();
        assert_eq!(
            command_line(&imap, "alice"),
            ["/usr/sbin/sendmail", "-oi", "-t", "-f", "alice"]
        );
    }

    #[test]
    fn header_line_only_in_the_copy_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msg");
        std::fs::write(&path, "Subject: hi\n\nbody\n").unwrap();
        let mut file = File::open(&path).unwrap();
        let mut imap = Imap::default();
        let mut out = String::new();
        stdin_for(&imap, "a\nb", &mut file, dir.path())
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "X-IMAP-Sender: ab\nSubject: hi\n\nbody\n");
        imap.outbox_header_from.clear();
        out.clear();
        stdin_for(&imap, "a", &mut file, dir.path())
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "Subject: hi\n\nbody\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
