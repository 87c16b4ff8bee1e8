//! Handing an Outbox message to a mail transfer agent over SMTP (RFC 5321), with the
//! recipients taken from its header as `sendmail -t` takes them.
//!
//! Why not always the `sendmail` program: a session cannot gain privileges through exec
//! (no_new_privs, set at the privilege drop and by the systemd units), and the `sendmail`
//! of Postfix (setgid postdrop) and of Exim (setuid root) need exactly that. A local MTA's
//! SMTP port needs nothing: `[imap] outbox_smtp = "127.0.0.1:25"`.
//!
//! `-t` semantics: the recipients are the addresses of To, Cc and Bcc (or of Resent-To,
//! Resent-Cc and Resent-Bcc when the message has any Resent- recipient field); Bcc and
//! Resent-Bcc fields are removed from what is sent. Every recipient must be accepted,
//! else the transaction is reset and nothing is sent (the client hears of one failure,
//! not of a partial send).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::message::address::parse_list;
use crate::message::header;

/// How a submission went, for the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Submitted {
    pub recipients: usize,
    /// The server's answer to the end of DATA.
    pub reply: String,
}

/// Why it did not.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub String);

/// The header and body of a message (LF or CRLF line ends).
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    let end = header::block_end(message, 0, message.len()).unwrap_or(message.len());
    message.split_at(end)
}

/// The envelope recipients of `-t`, and the header as it is to be sent (Bcc removed).
pub fn recipients_and_header(header_block: &[u8]) -> (Vec<String>, Vec<u8>) {
    let fields = header::fields(header_block, 0, header_block.len());
    let resent = fields.iter().any(|f| {
        ["resent-to", "resent-cc", "resent-bcc"]
            .iter()
            .any(|n| f.is(header_block, n.as_bytes()))
    });
    let names: &[&str] = if resent {
        &["resent-to", "resent-cc", "resent-bcc"]
    } else {
        &["to", "cc", "bcc"]
    };
    let mut recipients: Vec<String> = Vec::new();
    let mut kept = Vec::with_capacity(header_block.len());
    let mut last = 0;
    for field in &fields {
        if names.iter().any(|n| field.is(header_block, n.as_bytes())) {
            for address in parse_list(&field.unfolded(header_block)) {
                let (Some(mailbox), Some(host)) = (address.mailbox, address.host) else {
                    continue; // group markers
                };
                let addr = format!(
                    "{}@{}",
                    String::from_utf8_lossy(&mailbox),
                    String::from_utf8_lossy(&host)
                );
                if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&addr)) {
                    recipients.push(addr);
                }
            }
        }
        let bcc = field.is(header_block, b"bcc") || field.is(header_block, b"resent-bcc");
        let (start, end) = (field.start, field.end);
        if bcc {
            kept.extend_from_slice(&header_block[last..start]);
            last = end;
        }
    }
    kept.extend_from_slice(&header_block[last..]);
    (recipients, kept)
}

/// A line of ours on the connection: nothing of the message may start a command, so a
/// line break or a control character in an address refuses the send.
fn command(text: &str) -> Result<String, Refused> {
    if text.chars().any(|c| c.is_control()) {
        return Err(Refused(format!("unsafe characters in {text:?}")));
    }
    Ok(format!("{text}\r\n"))
}

struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    deadline: Instant,
}

impl Smtp {
    fn connect(address: &str, timeout: Duration) -> Result<Smtp, Refused> {
        let deadline = Instant::now() + timeout;
        let failed = |e: io::Error| Refused(format!("{address}: {e}"));
        let target = address
            .to_socket_addrs()
            .map_err(failed)?
            .next()
            .ok_or_else(|| Refused(format!("{address}: no address")))?;
        let stream = TcpStream::connect_timeout(&target, timeout).map_err(failed)?;
        let writer = stream.try_clone().map_err(failed)?;
        Ok(Smtp {
            reader: BufReader::new(stream),
            writer,
            deadline,
        })
    }

    fn arm(&self) -> io::Result<()> {
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "time limit reached"))?;
        self.writer.set_write_timeout(Some(left))?;
        self.reader.get_ref().set_read_timeout(Some(left))
    }

    /// One reply (all its lines); its code must be one of `want`.
    fn expect(&mut self, want: &[u16], after: &str) -> Result<String, Refused> {
        let mut text = String::new();
        loop {
            self.arm().map_err(|e| Refused(format!("{after}: {e}")))?;
            let mut line = String::new();
            let n = (&mut self.reader)
                .take(1000)
                .read_line(&mut line)
                .map_err(|e| Refused(format!("{after}: {e}")))?;
            if n == 0 {
                return Err(Refused(format!(
                    "{after}: the server closed the connection"
                )));
            }
            let line = line.trim_end();
            text.push_str(line);
            let code: Option<u16> = line.get(..3).and_then(|c| c.parse().ok());
            let last = line.as_bytes().get(3) != Some(&b'-');
            if last {
                return match code {
                    Some(c) if want.contains(&c) => Ok(text),
                    _ => Err(Refused(format!("{after}: {text}"))),
                };
            }
            text.push_str(" / ");
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        self.arm()
            .and_then(|()| self.writer.write_all(bytes))
            .map_err(|e| Refused(format!("sending: {e}")))
    }

    fn say(&mut self, text: &str, want: &[u16]) -> Result<String, Refused> {
        let line = command(text)?;
        self.send(line.as_bytes())?;
        self.expect(want, text)
    }
}

/// The message as DATA: CRLF line ends, dot-stuffed, ended by `.`.
fn data(header_line: &[u8], header_block: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_line.len() + header_block.len() + body.len() + 64);
    for part in [header_line, header_block, body] {
        for line in part.split_inclusive(|&b| b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Submits `message` (with `header_line` above it, may be empty) from `sender` to the
/// recipients of its header, at `address`, within `timeout`.
pub fn submit(
    address: &str,
    sender: &str,
    header_line: &[u8],
    message: &[u8],
    timeout: Duration,
) -> Result<Submitted, Refused> {
    let (header_block, body) = split(message);
    let (recipients, header_block) = recipients_and_header(header_block);
    transaction(
        address,
        sender,
        &recipients,
        &data(header_line, &header_block, body),
        timeout,
    )
}

/// Submits `message` as it is (no header line, Bcc kept: the envelope is given, as
/// `sendmail` without `-t` takes it) from `sender` to `recipients` (SMAP's ADD RCPTTO=).
pub fn submit_to(
    address: &str,
    sender: &str,
    recipients: &[String],
    message: &[u8],
    timeout: Duration,
) -> Result<Submitted, Refused> {
    let (header_block, body) = split(message);
    transaction(
        address,
        sender,
        recipients,
        &data(b"", header_block, body),
        timeout,
    )
}

/// One SMTP transaction: every recipient accepted, or nothing sent.
fn transaction(
    address: &str,
    sender: &str,
    recipients: &[String],
    data: &[u8],
    timeout: Duration,
) -> Result<Submitted, Refused> {
    if recipients.is_empty() {
        return Err(Refused("the message names no recipient".into()));
    }
    let mut smtp = Smtp::connect(address, timeout)?;
    smtp.expect(&[220], "greeting")?;
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    smtp.say(&format!("EHLO {host}"), &[250])?;
    smtp.say(&format!("MAIL FROM:<{sender}>"), &[250])?;
    for rcpt in recipients {
        if let Err(refused) = smtp.say(&format!("RCPT TO:<{rcpt}>"), &[250, 251]) {
            let _ = smtp.say("RSET", &[250]);
            let _ = smtp.say("QUIT", &[221]);
            return Err(refused);
        }
    }
    smtp.say("DATA", &[354])?;
    smtp.send(data)?;
    let reply = smtp.expect(&[250], "end of DATA")?;
    let _ = smtp.say("QUIT", &[221]);
    Ok(Submitted {
        recipients: recipients.len(),
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_come_from_to_cc_bcc_and_bcc_is_removed() {
        let header = b"From: a@x\nTo: B <b@x>, c@x\nBcc: hidden@y,\n d@y\nCc: (group) team: e@z;\nSubject: s\n";
        let (rcpts, kept) = recipients_and_header(header);
        assert_eq!(rcpts, ["b@x", "c@x", "hidden@y", "d@y", "e@z"]);
        assert_eq!(
            String::from_utf8_lossy(&kept),
            "From: a@x\nTo: B <b@x>, c@x\nCc: (group) team: e@z;\nSubject: s\n"
        );
    }

    #[test]
    fn resent_fields_win_when_present() {
        let header = b"To: old@x\nResent-To: new@y\nResent-Bcc: quiet@z\n";
        let (rcpts, kept) = recipients_and_header(header);
        assert_eq!(rcpts, ["new@y", "quiet@z"]);
        assert_eq!(
            String::from_utf8_lossy(&kept),
            "To: old@x\nResent-To: new@y\n"
        );
    }

    #[test]
    fn data_is_dot_stuffed_with_crlf() {
        let out = data(b"X-S: a\n", b"To: b@x\n\n", b".hidden\nline\r\n..\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "X-S: a\r\nTo: b@x\r\n\r\n..hidden\r\nline\r\n...\r\n.\r\n"
        );
    }

    #[test]
    fn no_command_injection_through_addresses() {
        assert!(command("MAIL FROM:<a@x>\r\nRCPT TO:<evil@y>").is_err());
    }
}
