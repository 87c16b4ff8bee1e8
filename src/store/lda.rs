//! `postern deliver` as the local delivery agent of an MTA (Postfix `mailbox_command`, an
//! Exim `pipe` transport): the envelope from arguments or the MTA's environment, the trace
//! lines an LDA prepends (without doubling the ones the MTA already wrote), the folder from
//! an address extension, and sysexits.h codes with one line on stderr for the bounce.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::cli::{
    EX_NOPERM, EX_NOUSER, EX_OK, EX_SOFTWARE, EX_TEMPFAIL, EX_USAGE, full_folder_name,
};
use super::{Maildir, StoreError, folder};

/// Most header bytes read into memory to look for the MTA's own trace lines; a header
/// longer than this is delivered as it is, only its first part examined.
const HEAD_LIMIT: usize = 64 * 1024;

/// The SMTP envelope of the message being delivered, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The envelope sender; `Some("")` is the null sender of a bounce (`<>`).
    pub sender: Option<String>,
    /// The final envelope recipient (the address this copy is delivered for).
    pub recipient: Option<String>,
    /// The address extension: "folder" of `user+folder@domain`, without the delimiter.
    pub extension: Option<String>,
}

impl Envelope {
    /// Arguments win; else what the MTA exports: Postfix's local(8) sets SENDER, RECIPIENT
    /// and EXTENSION; Exim's pipe transport SENDER, RECIPIENT and LOCAL_PART_SUFFIX (which
    /// keeps its delimiter, e.g. "+folder").
    pub fn from_args_or_env(
        sender: Option<String>,
        recipient: Option<String>,
        extension: Option<String>,
    ) -> Envelope {
        let env = |name: &str| std::env::var(name).ok();
        let suffix = || env("LOCAL_PART_SUFFIX").map(|s| without_delimiter(&s).to_owned());
        Envelope {
            sender: sender.or_else(|| env("SENDER")).map(|a| clean_address(&a)),
            recipient: recipient
                .or_else(|| env("RECIPIENT"))
                .map(|a| clean_address(&a))
                .filter(|a| !a.is_empty()),
            extension: extension
                .or_else(|| env("EXTENSION").filter(|e| !e.is_empty()))
                .or_else(suffix)
                .filter(|e| !e.is_empty()),
        }
    }
}

/// What the LDA adds and decides, from `[deliver]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub return_path: bool,
    pub delivered_to: bool,
    pub folder_from_extension: bool,
    /// Over quota: exit 77 (the MTA bounces) instead of 75 (it retries).
    pub quota_bounces: bool,
}

/// Exim's suffix "+folder" -> "folder": one leading delimiter character is dropped.
fn without_delimiter(suffix: &str) -> &str {
    match suffix.chars().next() {
        Some(c) if c.is_ascii_punctuation() => &suffix[c.len_utf8()..],
        _ => suffix,
    }
}

/// An address fit for a header line: no control characters (no header can be injected
/// through the environment) and no angle brackets (the caller adds its own).
fn clean_address(address: &str) -> String {
    address
        .chars()
        .filter(|c| !c.is_control() && *c != '<' && *c != '>')
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The start of the message: its header (or the first `HEAD_LIMIT` bytes of it) without
/// an mbox "From " envelope line, and the trace lines the MTA itself put on top.
#[derive(Debug, Default)]
struct Head {
    bytes: Vec<u8>,
    /// "\r\n" when the message's lines end so, else "\n": added lines match.
    line_end: &'static str,
    /// A Return-Path: above the first Received: (the delivering MTA wrote it).
    mta_return_path: bool,
    /// Delivered-To: addresses above the first Received:, lower-cased.
    mta_delivered_to: Vec<String>,
}

/// Reads the header. The first line is dropped when it is an mbox "From sender date"
/// line, which Postfix's local(8) and Exim's pipe transport prepend by default: it is no
/// header field (RFC 5322 3.6.8: a field name ends at the colon and has no space) and a
/// Maildir message has none.
fn read_head(input: &mut impl BufRead) -> io::Result<Head> {
    let mut head = Head {
        line_end: "\n",
        ..Head::default()
    };
    let mut line = Vec::new();
    let mut first = true;
    let mut above_received = true;
    while head.bytes.len() < HEAD_LIMIT {
        line.clear();
        // Bounded: a line without an end is read no further than the limit; the rest of
        // it follows unread, in order, behind what was read.
        let room = (HEAD_LIMIT - head.bytes.len()) as u64;
        if (&mut *input).take(room).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if first {
            first = false;
            if line.starts_with(b"From ") {
                continue;
            }
        }
        if head.bytes.is_empty() && line.ends_with(b"\r\n") {
            head.line_end = "\r\n";
        }
        head.bytes.extend_from_slice(&line);
        if line == b"\n" || line == b"\r\n" {
            break;
        }
        if above_received {
            above_received = note_trace_line(&mut head, &line);
        }
    }
    Ok(head)
}

/// Records a Return-Path: or Delivered-To: field; false at the first Received: (what is
/// below it was written before this MTA got the message).
fn note_trace_line(head: &mut Head, line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let Some((name, value)) = text.split_once(':') else {
        return true;
    };
    match name.to_ascii_lowercase().as_str() {
        "received" => return false,
        "return-path" => head.mta_return_path = true,
        "delivered-to" => head
            .mta_delivered_to
            .push(clean_address(value).to_ascii_lowercase()),
        _ => {}
    }
    true
}

/// The lines this LDA prepends: `Return-Path: <sender>` (RFC 5321 4.4) and
/// `Delivered-To: recipient`, each only when enabled, known and not already written by
/// the MTA (Postfix's local(8) writes both for a mailbox_command).
fn trace_lines(head: &Head, envelope: &Envelope, policy: &Policy) -> String {
    let mut lines = String::new();
    if policy.return_path
        && !head.mta_return_path
        && let Some(sender) = &envelope.sender
    {
        lines += &format!("Return-Path: <{sender}>{}", head.line_end);
    }
    if policy.delivered_to
        && let Some(recipient) = &envelope.recipient
        && !head
            .mta_delivered_to
            .contains(&recipient.to_ascii_lowercase())
    {
        lines += &format!("Delivered-To: {recipient}{}", head.line_end);
    }
    lines
}

/// The folder for `user+extension`: `INBOX.extension` when it exists (the same name in
/// another case when only that exists: MTAs may fold the local part to lower case), else
/// None (INBOX). A folder is never created by mail from outside, as maildrop does not.
fn extension_folder(maildir: &Maildir, extension: &str) -> Option<String> {
    let name = full_folder_name(Some(extension));
    folder::canonical_name(&name).ok()?;
    if maildir.existing_dir(&name).is_ok() {
        return Some(name);
    }
    let folders = maildir.list_folders().ok()?;
    folders
        .into_iter()
        .map(|f| f.name)
        .find(|f| f.eq_ignore_ascii_case(&name) && maildir.existing_dir(f).is_ok())
}

/// Delivers stdin into the Maildir at `target` (linked directories refused unless
/// `follow_symlinks`); returns the sysexits code and writes one line on stderr for any
/// failure. Over quota and missing folders start with an RFC 3463 status code, which
/// Postfix takes over the exit status and Exim shows in its bounce.
pub fn deliver(
    target: &Path,
    folder: Option<&str>,
    envelope: &Envelope,
    policy: &Policy,
    follow_symlinks: bool,
) -> u8 {
    let maildir = match Maildir::open_with(target, follow_symlinks) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("5.1.1 postern deliver: {e}");
            return EX_NOUSER;
        }
    };
    let name = match (folder, &envelope.extension) {
        (Some(f), _) => full_folder_name(Some(f)),
        (None, Some(ext)) if policy.folder_from_extension => {
            extension_folder(&maildir, ext).unwrap_or_else(|| full_folder_name(None))
        }
        (None, _) => full_folder_name(None),
    };
    let mut input = BufReader::new(io::stdin().lock());
    let head = match read_head(&mut input) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("postern deliver: reading the message: {e}");
            return EX_TEMPFAIL;
        }
    };
    let lines = trace_lines(&head, envelope, policy);
    let mut message = lines.as_bytes().chain(&head.bytes[..]).chain(input);
    match maildir.deliver(&name, &mut message as &mut dyn Read) {
        Ok(_) => EX_OK,
        Err(e) => failure(&name, &e, policy),
    }
}

/// The exit code for a failed delivery, after its line on stderr.
fn failure(name: &str, e: &StoreError, policy: &Policy) -> u8 {
    let (code, status) = match e {
        StoreError::OverQuota if policy.quota_bounces => (EX_NOPERM, "5.2.2 "),
        StoreError::OverQuota => (EX_TEMPFAIL, "4.2.2 "),
        StoreError::InvalidName(_) => (EX_USAGE, ""),
        StoreError::NoSuchFolder(_) => (EX_NOUSER, "5.1.1 "),
        StoreError::Io(_) | StoreError::Corrupt { .. } => (EX_TEMPFAIL, ""),
        _ => (EX_SOFTWARE, ""),
    };
    eprintln!("{status}postern deliver: {name}: {e}");
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        read_head(&mut text.as_bytes()).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            return_path: true,
            delivered_to: true,
            folder_from_extension: false,
            quota_bounces: false,
        }
    }

    fn envelope(sender: &str, recipient: &str) -> Envelope {
        Envelope {
            sender: Some(sender.into()),
            recipient: Some(recipient.into()),
            extension: None,
        }
    }

    #[test]
    fn mbox_from_line_is_dropped_and_from_field_kept() {
        let h = head("From a@x Sat Dec  5 10:00:00 2026\nFrom: a@x\n\nbody\n");
        assert_eq!(h.bytes, b"From: a@x\n\n");
        let h = head("From: a@x\nSubject: s\n\nbody\n");
        assert_eq!(h.bytes, b"From: a@x\nSubject: s\n\n");
    }

    #[test]
    fn lines_added_when_the_mta_wrote_none() {
        let h = head("Received: by x\nFrom: a@x\n\nbody\n");
        assert_eq!(
            trace_lines(&h, &envelope("a@x", "b@y"), &policy()),
            "Return-Path: <a@x>\nDelivered-To: b@y\n"
        );
    }

    #[test]
    fn lines_the_mta_wrote_are_not_doubled() {
        let h = head(
            "From a@x Sat Dec  5 10:00:00 2026\r\nReturn-Path: <a@x>\r\nX-Original-To: B@y\r\n\
             Delivered-To: B@y\r\nReceived: by x\r\n\r\n",
        );
        assert_eq!(h.line_end, "\r\n");
        assert_eq!(trace_lines(&h, &envelope("a@x", "b@y"), &policy()), "");
    }

    #[test]
    fn old_trace_lines_below_received_do_not_count() {
        let h = head("Received: by x\nReturn-Path: <old@z>\nDelivered-To: b@y\n\n");
        assert_eq!(
            trace_lines(&h, &envelope("", "b@y"), &policy()),
            "Return-Path: <>\nDelivered-To: b@y\n"
        );
    }

    #[test]
    fn nothing_added_when_unknown_or_off() {
        let h = head("Subject: s\n\n");
        assert_eq!(trace_lines(&h, &Envelope::default(), &policy()), "");
        let off = Policy {
            return_path: false,
            delivered_to: false,
            ..policy()
        };
        assert_eq!(trace_lines(&h, &envelope("a@x", "b@y"), &off), "");
    }

    #[test]
    fn a_huge_header_line_is_read_only_up_to_the_limit() {
        let text = format!("Subject: {}\n\nbody\n", "x".repeat(3 * HEAD_LIMIT));
        let mut input = text.as_bytes();
        let h = read_head(&mut input).unwrap();
        assert_eq!(h.bytes.len(), HEAD_LIMIT);
        assert_eq!(h.bytes.len() + input.len(), text.len());
    }

    #[test]
    fn addresses_cannot_inject_header_lines() {
        assert_eq!(clean_address("<a@x>\r\nBcc: evil"), "a@xBcc: evil");
        assert_eq!(without_delimiter("+Lists"), "Lists");
        assert_eq!(without_delimiter("Lists"), "Lists");
    }
}
