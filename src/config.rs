//! Settings from `postern.toml`: one serde struct per section, every key defaulted,
//! unknown keys refused so that a typo never silently means "the default".

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Where the settings are read from when neither `--config` nor `$POSTERN_CONFIG` says.
pub const DEFAULT_PATH: &str = "/etc/postern/postern.toml";

/// The environment variable that names the settings file.
pub const ENV_PATH: &str = "POSTERN_CONFIG";

/// Every setting, with defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub serve: Serve,
    pub imap: Imap,
    pub pop3: Pop3,
    pub tls: Tls,
    pub auth: Auth,
    pub mail: Mail,
    pub deliver: Deliver,
    pub limits: Limits,
    pub log: Log,
    pub fts: Fts,
    /// The file these settings came from (`None`: built-in defaults, no file). `serve`
    /// hands it to every session it spawns so that they read the same file.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// `[serve]`: the standalone listener (`postern serve`). Under systemd the socket units
/// own the addresses and these are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Serve {
    pub imap: Vec<SocketAddr>,
    pub pop3: Vec<SocketAddr>,
    pub imaps: Vec<SocketAddr>,
    pub pop3s: Vec<SocketAddr>,
    /// Courier MAXDAEMONS: sessions at once, over all listeners.
    pub max_connections: u32,
    /// Courier MAXPERIP: sessions at once from one client address (0 = no limit).
    pub max_connections_per_ip: u32,
    /// IPv6 clients in one network of this prefix length count as one address for the
    /// per-address limits: one subscriber usually holds a whole /64, so counting single
    /// addresses would let one client take every slot.
    pub ipv6_prefix: u8,
    /// The same for IPv4 (32 = each address on its own).
    pub ipv4_prefix: u8,
    /// Failed logins from one client address (grouped as above), over all sessions, after
    /// which its new connections are refused until `failed_logins_window` has passed since
    /// the oldest of them (0 = no limit). Each session already hangs up after
    /// `[auth] max_failed_logins`; this stops the reconnect-and-guess-again loop.
    pub max_failed_logins_per_ip: u32,
    /// Seconds a failed login counts toward `max_failed_logins_per_ip`.
    pub failed_logins_window: u64,
    /// Seconds to wait for sessions to end after SIGTERM before ending them.
    pub shutdown_timeout: u64,
    /// Connections the kernel keeps waiting for `serve` to take them (listen(2)'s
    /// backlog; net.core.somaxconn caps it). Past it a client's connection attempt is
    /// dropped and retried a second or more later: 128, the usual default, is overrun
    /// when a few hundred clients connect at once.
    pub listen_backlog: u32,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            imap: vec![SocketAddr::from(([127, 0, 0, 1], 1143))],
            pop3: vec![SocketAddr::from(([127, 0, 0, 1], 1110))],
            imaps: Vec::new(),
            pop3s: Vec::new(),
            max_connections: 40,
            max_connections_per_ip: 4,
            ipv6_prefix: 64,
            ipv4_prefix: 32,
            max_failed_logins_per_ip: 10,
            failed_logins_window: 600,
            shutdown_timeout: 30,
            listen_backlog: 1024,
        }
    }
}

impl Serve {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout)
    }
    pub fn failed_logins_window(&self) -> Duration {
        Duration::from_secs(self.failed_logins_window)
    }
}

/// `[imap]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Imap {
    /// Text after `* OK [CAPABILITY ...]` in the greeting.
    pub greeting: String,
    /// Seconds between mailbox checks in IDLE when inotify is unavailable
    /// (Courier IMAP_IDLE_TIMEOUT).
    pub idle_poll_interval: u64,
    /// SPECIAL-USE attribute (without the backslash) -> folder name below INBOX.
    pub special_use: BTreeMap<String, String>,
    /// Custom keywords (Courier IMAP_KEYWORDS).
    pub keywords: bool,
    /// Answer the ID command (Courier IMAP_ID_FIELDS).
    pub id_fields: bool,
    /// The Outbox folder below INBOX (Courier OUTBOX): a message APPENDed, COPYed or
    /// MOVEd into it is stored and also handed to `sendmail`; advertised as
    /// `XCOURIEROUTBOX=INBOX.<name>`. Empty: no Outbox.
    pub outbox: String,
    /// The program that sends an Outbox message, as an argument list (no shell ever runs
    /// it): the message arrives on its standard input, so it must take the recipients
    /// from the header (`-t`). `{sender}` in an argument becomes the account's address
    /// (Courier SENDMAIL, which always adds `-oi -t -f <sender>`).
    pub sendmail: Vec<String>,
    /// Submit Outbox mail over SMTP to this `host:port` (a local MTA) instead of running
    /// `sendmail`, recipients from the header as `-t` takes them. Needed with Postfix's
    /// or Exim's `sendmail`, which are setgid/setuid programs: a session cannot gain
    /// privileges through exec (no_new_privs). Empty: run `sendmail`.
    pub outbox_smtp: String,
    /// The account's address as sender of Outbox mail when the account has no
    /// `address=` option; `{user}` becomes the login name (Courier AUTHADDR, else the
    /// login).
    pub outbox_sender: String,
    /// A header naming the sender, put above the message handed to `sendmail` only (the
    /// stored copy stays as the client sent it); empty: none (Courier HEADERFROM).
    pub outbox_header_from: String,
    /// Let one COPY or MOVE send several messages (Courier OUTBOX_MULTIPLE_SEND); off:
    /// such a COPY is refused, as a guard against a client that files many messages
    /// into the wrong folder.
    pub outbox_multiple_send: bool,
    /// Seconds `sendmail` may run for one message before it is killed and the send
    /// counts as failed (also the time limit of an `outbox_smtp` submission).
    pub sendmail_timeout: u64,
    /// EXPUNGE (and CLOSE, and UID EXPUNGE) outside the Trash folder (`[mail] trash`)
    /// moves the `\Deleted` messages into Trash instead of removing them
    /// (Courier IMAP_MOVE_EXPUNGE_TO_TRASH); advertised as XMAGICTRASH.
    pub move_expunge_to_trash: bool,
    /// Offer COMPRESS=DEFLATE (RFC 4978) after login: less traffic for some CPU per
    /// connection (a few hundred KiB of deflate state while it is on).
    pub compress: bool,
    /// Advertise IMAP4rev2 (RFC 9051) beside IMAP4rev1: a client that sends ENABLE
    /// IMAP4rev2 gets rev2's answers (no \Recent, ESEARCH for SEARCH, UTF-8 names, a LIST
    /// line at SELECT). Off only for a client that turns rev2 on and then misbehaves.
    pub imap4rev2: bool,
    /// Speak Courier's SMAP1 ("Simple Mail Access Protocol") on the IMAP port too
    /// (Courier SMAP_CAPABILITY=SMAP1): advertised as `SMAP1` (with `KEYWORDS` when
    /// `keywords` is on), and a connection whose first command is tagged `\SMAP1` is
    /// served as SMAP from then on, through the same login, TLS and limits. Off, as in
    /// Courier: `\SMAP1` is then an IMAP tag like any other (and a bad one).
    pub smap: bool,
    /// How many expunged UIDs each folder remembers with the mod-sequence of their
    /// expunge (`postern-modseq`, 12 bytes each), so QRESYNC can answer VANISHED
    /// (EARLIER) exactly; a client resynchronising from further back gets every UID no
    /// longer in the folder instead (RFC 7162 §3.2.5.2 allows that superset).
    pub vanished_memory: u32,
}

impl Default for Imap {
    fn default() -> Self {
        let special_use = ["Sent", "Drafts", "Trash", "Junk", "Archive"]
            .into_iter()
            .map(|name| (name.to_owned(), name.to_owned()))
            .collect();
        Imap {
            greeting: "postern IMAP4rev1 ready.".to_owned(),
            idle_poll_interval: 60,
            special_use,
            keywords: true,
            id_fields: true,
            outbox: String::new(),
            sendmail: ["/usr/sbin/sendmail", "-oi", "-t", "-f", "{sender}"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            outbox_smtp: String::new(),
            outbox_sender: "{user}".to_owned(),
            outbox_header_from: "X-IMAP-Sender".to_owned(),
            outbox_multiple_send: false,
            sendmail_timeout: 120,
            move_expunge_to_trash: false,
            compress: true,
            imap4rev2: true,
            smap: false,
            vanished_memory: 100_000,
        }
    }
}

impl Imap {
    pub fn idle_poll_interval(&self) -> Duration {
        Duration::from_secs(self.idle_poll_interval)
    }
    pub fn sendmail_timeout(&self) -> Duration {
        Duration::from_secs(self.sendmail_timeout)
    }
    /// The Outbox's folder name (`INBOX.<outbox>`), when there is one.
    pub fn outbox_folder(&self) -> Option<String> {
        (!self.outbox.is_empty()).then(|| format!("INBOX.{}", self.outbox))
    }
}

/// `[pop3]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pop3 {
    /// Text after `+OK ` in the greeting.
    pub greeting: String,
    /// Seconds of silence after login before the session ends (RFC 1939 asks for at
    /// least 600; Courier uses 300).
    pub autologout_timeout: u64,
}

impl Default for Pop3 {
    fn default() -> Self {
        Pop3 {
            greeting: "postern POP3 ready.".to_owned(),
            autologout_timeout: 600,
        }
    }
}

impl Pop3 {
    pub fn autologout_timeout(&self) -> Duration {
        Duration::from_secs(self.autologout_timeout)
    }
}

/// When the server asks for and checks a client certificate (Courier TLS_VERIFYPEER).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyPeer {
    /// Never ask (NONE).
    #[default]
    None,
    /// Ask; a client may send none, but one it sends must verify (PEER).
    Optional,
    /// A verified certificate is needed for the handshake to succeed (REQUIREPEER).
    Required,
}

/// `[tls]`: OpenSSL settings for implicit TLS (993/995) and STARTTLS/STLS.
/// An empty path means "not set".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain, may hold the key too (Courier TLS_CERTFILE). A file
    /// `<certificate>.<hostname>` is used when a client asks for that name (SNI).
    pub certificate: PathBuf,
    /// PEM private key when not inside `certificate` (Courier TLS_PRIVATE_KEYFILE).
    pub private_key: PathBuf,
    /// PEM DH parameters, used when the file exists (Courier TLS_DHPARAMS).
    pub dh_params: PathBuf,
    /// Oldest protocol accepted: "TLSv1.2" or "TLSv1.3" (Courier TLS_PROTOCOL).
    pub min_protocol: String,
    /// OpenSSL cipher list for TLS 1.2 (Courier TLS_CIPHER_LIST); empty = built-in.
    pub ciphers: String,
    /// OpenSSL cipher suites for TLS 1.3; empty = built-in.
    pub ciphersuites: String,
    /// CA certificates that sign client certificates (Courier TLS_TRUSTCERTS).
    pub ca_file: PathBuf,
    /// Directory of hashed CA certificates (c_rehash), as `ca_file`.
    pub ca_path: PathBuf,
    /// Client certificates: "none", "optional" or "required" (Courier TLS_VERIFYPEER).
    pub verify_peer: VerifyPeer,
    /// Answer ALPN with "imap" / "pop3" (Courier TLS_ALPN).
    pub alpn: bool,
    /// Subject field of a verified client certificate that is the login for
    /// AUTHENTICATE EXTERNAL, e.g. "emailAddress" or "CN"; empty = off (Courier TLS_EXTERNAL).
    pub external_field: String,
    /// Offer STARTTLS (IMAP) and STLS (POP3) (Courier IMAPDSTARTTLS / POP3_STARTTLS).
    pub starttls: bool,
    /// No IMAP login before STARTTLS (Courier IMAP_TLS_REQUIRED).
    pub require_tls_imap: bool,
    /// No POP3 login before STLS (Courier POP3_TLS_REQUIRED).
    pub require_tls_pop3: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            certificate: PathBuf::from("/etc/postern/tls/postern.pem"),
            private_key: PathBuf::new(),
            dh_params: PathBuf::from("/etc/postern/tls/dhparams.pem"),
            min_protocol: "TLSv1.2".to_owned(),
            ciphers: String::new(),
            ciphersuites: String::new(),
            ca_file: PathBuf::new(),
            ca_path: PathBuf::new(),
            verify_peer: VerifyPeer::None,
            alpn: true,
            external_field: String::new(),
            starttls: true,
            require_tls_imap: false,
            require_tls_pop3: false,
        }
    }
}

/// Where accounts come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Virtual users in a Dovecot-style passwd file.
    #[default]
    Userfile,
    /// System accounts through PAM.
    Pam,
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub backend: Backend,
    pub userfile: PathBuf,
    pub pam_service_imap: String,
    pub pam_service_pop3: String,
    /// Local port -> PAM service, over the two above (Courier's AUTHSERVICE<port>), e.g.
    /// `{ "993" = "imaps" }`.
    pub pam_service_by_port: BTreeMap<String, String>,
    /// Courier DEFAULTOPTIONS: account options every account starts from.
    pub default_options: String,
    /// Seconds a session waits after a failed login before answering.
    pub failed_login_delay: u64,
    /// Failed logins after which a session hangs up.
    pub max_failed_logins: u32,
    /// Offer CRAM-MD5 and CRAM-SHA256; they work only for `{PLAIN}` secrets.
    pub cram: bool,
    /// Accept SCRAM-SHA-256, and offer it with the user file backend; it works for
    /// `{SCRAM-SHA-256}` and `{PLAIN}` secrets.
    pub scram: bool,
    /// The virtual-mail owner (a uid or user name) that accounts without a uid of their
    /// own run as when the server runs as root; empty: such accounts are refused.
    pub default_uid: String,
    /// Likewise the gid (a number or group name); empty: `default_uid`'s primary group
    /// when that is a user name.
    pub default_gid: String,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            backend: Backend::Userfile,
            userfile: PathBuf::from("/etc/postern/users"),
            pam_service_imap: "imap".to_owned(),
            pam_service_pop3: "pop3".to_owned(),
            pam_service_by_port: BTreeMap::new(),
            default_options: String::new(),
            failed_login_delay: 3,
            max_failed_logins: 3,
            cram: false,
            scram: false,
            default_uid: String::new(),
            default_gid: String::new(),
        }
    }
}

impl Auth {
    /// SCRAM-SHA-256 is advertised: configured, and the backend can reveal keys (PAM
    /// cannot; an attempt there fails as a login for which the mechanism is unavailable).
    pub fn scram_offered(&self) -> bool {
        self.scram && self.backend == Backend::Userfile
    }

    /// CRAM-MD5/CRAM-SHA256 are advertised: configured, and the backend can reveal the
    /// `{PLAIN}` secret they need (PAM never reveals a password).
    pub fn cram_offered(&self) -> bool {
        self.cram && self.backend == Backend::Userfile
    }

    pub fn failed_login_delay(&self) -> Duration {
        Duration::from_secs(self.failed_login_delay)
    }
}

/// `[mail]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    /// The Maildir, relative to the account's home (an absolute path is used as is).
    pub maildir: PathBuf,
    /// Name of the Trash folder below INBOX (Courier IMAP_TRASHFOLDERNAME): where
    /// `[imap] move_expunge_to_trash` puts expunged messages.
    pub trash: String,
    /// Folders below INBOX whose old messages are removed at every IMAP login and
    /// logout: folder name -> age, a number of days or a string such as "12h", "30m",
    /// "45s" (Courier IMAP_EMPTYTRASH, `Trash:7`). The age is the file's ctime, the time
    /// it arrived in the folder. Empty: nothing is purged.
    pub purge: BTreeMap<String, Age>,
    /// Most message files one login (and one logout) looks at for `purge`, so that a
    /// huge Trash does not hold up the login; the next one carries on where it stopped.
    pub purge_max_files: u64,
    /// Refuse a login whose Maildir is not owned by the account's uid (Courier
    /// IMAP_MAILBOX_SANITY_CHECK).
    pub sanity_check: bool,
    /// Seconds `Maildir/loginexec` may run after a login before it is killed.
    pub loginexec_timeout: u64,
    /// Serve a Maildir, or a `cur/`, `new/`, `tmp/` or folder directory in it, that is a
    /// symbolic link (Courier MAILDIR_SKIP_SYMLINK_CHECKS); off: such a login is refused.
    pub skip_symlink_checks: bool,
    /// Courier's virtual shared-folder index (IMAP_SHAREDINDEXFILE): which accounts'
    /// folders appear under `#shared.`; an account option `sharedgroup=X` reads this path
    /// with X appended. Sessions read it after the privilege drop, so it (and the group
    /// files it names) must be readable by every mail user. A missing file shares nothing.
    pub shared_index: PathBuf,
    /// Write `.` and `/` of index names as `\:` and `\;` (and `\` as `\\`) instead of
    /// spaces (Courier IMAP_SHAREDMUNGENAMES).
    pub shared_munge_names: bool,
    /// Deepest chain of group lines followed in the shared index (loops are never
    /// followed).
    pub shared_index_max_depth: usize,
    /// `postern sharedindex` with the PAM backend lists system accounts from this uid up
    /// (below it are system users, not mailboxes).
    pub shared_index_min_uid: u32,
    /// The administrator's list of sharable Maildirs every user sees as
    /// `shared.<nick>.<folder>` (Courier's `maildirshared`: `nick<TAB>/path` lines); a
    /// user's own `shared-maildirs` adds to it. A missing file is an empty list.
    pub maildirshared: PathBuf,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            maildir: PathBuf::from("Maildir"),
            trash: "Trash".to_owned(),
            purge: BTreeMap::from([("Trash".to_owned(), Age::Days(7))]),
            purge_max_files: 20000,
            sanity_check: true,
            loginexec_timeout: 30,
            skip_symlink_checks: false,
            shared_index: PathBuf::from("/etc/postern/shared/index"),
            shared_munge_names: false,
            shared_index_max_depth: 8,
            shared_index_min_uid: 1000,
            maildirshared: PathBuf::from("/etc/postern/maildirshared"),
        }
    }
}

/// How old a message must be to be purged: whole days (Courier's unit) or a string with
/// a unit (`s`, `m`, `h`, `d`), e.g. "36h".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Age {
    Days(u64),
    Text(String),
}

/// [`Age`] in a binary record (the session handoff's), where a value cannot be asked its
/// type: the variant is written down.
#[derive(Serialize, Deserialize)]
enum TaggedAge {
    Days(u64),
    Text(String),
}

/// In the settings file a bare number or a string, in a binary record tagged.
impl Serialize for Age {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, s.is_human_readable()) {
            (Age::Days(days), true) => s.serialize_u64(*days),
            (Age::Text(text), true) => s.serialize_str(text),
            (Age::Days(days), false) => TaggedAge::Days(*days).serialize(s),
            (Age::Text(text), false) => TaggedAge::Text(text.clone()).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Age, D::Error> {
        if !d.is_human_readable() {
            return Ok(match TaggedAge::deserialize(d)? {
                TaggedAge::Days(days) => Age::Days(days),
                TaggedAge::Text(text) => Age::Text(text),
            });
        }
        struct AgeVisitor;
        impl serde::de::Visitor<'_> for AgeVisitor {
            type Value = Age;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of days or a string such as \"36h\"")
            }
            fn visit_u64<E: serde::de::Error>(self, days: u64) -> Result<Age, E> {
                Ok(Age::Days(days))
            }
            fn visit_i64<E: serde::de::Error>(self, days: i64) -> Result<Age, E> {
                u64::try_from(days)
                    .map(Age::Days)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(days), &self))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Age, E> {
                Ok(Age::Text(text.to_owned()))
            }
        }
        d.deserialize_any(AgeVisitor)
    }
}

impl Age {
    /// The age as a duration; `None` for a string that is no number with a known unit.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Age::Days(days) => Some(Duration::from_secs(days.checked_mul(86400)?)),
            Age::Text(text) => {
                let text = text.trim();
                let split = text.find(|c: char| !c.is_ascii_digit())?;
                let (number, unit) = text.split_at(split);
                let number: u64 = number.parse().ok()?;
                let scale = match unit.trim() {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    "d" => 86400,
                    _ => return None,
                };
                Some(Duration::from_secs(number.checked_mul(scale)?))
            }
        }
    }
}

/// What `postern deliver` does when a Maildir++ quota would be exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaExceeded {
    /// Exit 75 (EX_TEMPFAIL): the MTA keeps the message and tries again, so mail waits
    /// while the owner makes room (until the MTA's queue lifetime ends).
    #[default]
    Defer,
    /// Exit 77 (EX_NOPERM), as Courier's deliverquota and dovecot-lda -e: the MTA returns
    /// the message to its sender at once.
    Bounce,
}

/// `[deliver]`: `postern deliver` as the local delivery agent of an MTA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deliver {
    /// Prepend `Return-Path: <sender>` when the envelope sender is known (-f or $SENDER)
    /// and the MTA did not prepend one itself (RFC 5321 4.4: the final delivery adds it).
    pub return_path: bool,
    /// Prepend `Delivered-To: <recipient>` when the recipient is known (-a or
    /// $RECIPIENT) and the MTA did not prepend the same line itself.
    pub delivered_to: bool,
    /// Deliver mail for `user+folder` into the folder `INBOX.folder` when it exists (else
    /// into INBOX; a folder is never created by mail from outside).
    pub folder_from_extension: bool,
    /// A delivery over the Maildir++ quota: "defer" (exit 75) or "bounce" (exit 77).
    pub quota_exceeded: QuotaExceeded,
}

impl Default for Deliver {
    fn default() -> Self {
        Deliver {
            return_path: true,
            delivered_to: true,
            folder_from_extension: false,
            quota_exceeded: QuotaExceeded::Defer,
        }
    }
}

/// `[limits]`: what one client may cost. Before login nothing grows with what the client
/// sends beyond `max_command_size`, and the whole phase ends at `preauth_timeout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest command line (IMAP, POP3, SASL responses), without literals.
    pub max_line_length: usize,
    /// Largest IMAP literal other than an APPEND message.
    pub max_literal_size: u64,
    /// Largest APPEND message (after login only; before login APPEND is refused before
    /// any literal is read).
    pub max_append_size: u64,
    /// Most bytes all messages of one APPEND may have together (MULTIAPPEND, RFC 3502):
    /// they wait in the Maildir's `tmp/` until the last has arrived. Never less than
    /// `max_append_size`.
    pub max_multiappend_size: u64,
    /// Most memory one IMAP command may hold: its lines and literals (an APPEND message
    /// goes to disk and does not count) plus 64 bytes of bookkeeping for each line and
    /// literal, so that floods of empty literals count too. At least
    /// `max_line_length + max_literal_size`.
    pub max_command_size: u64,
    /// Most literals in one IMAP command.
    pub max_command_literals: u32,
    /// Longest SMAP command line (smap.sgml: "SMAP servers should accept commands up to
    /// 8000 characters long"); an SMAP ADD upload is bounded by `max_append_size`.
    pub smap_max_line_length: usize,
    /// Seconds from the connection to a successful login, TLS handshake included: a
    /// client that has not logged in by then is cut off however it sends its bytes
    /// (Dovecot's and Courier's login timeouts). Also the longest silence before login.
    pub preauth_timeout: u64,
    /// Seconds a logged-in client may stay silent (IDLE included) before the session ends.
    pub idle_timeout: u64,
    /// Seconds a session waits for a client to take the bytes sent to it (before and
    /// after login, plain and TLS) before hanging up: a client that never reads its
    /// responses does not hold its slot for ever.
    pub write_timeout: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_length: 65536,
            max_literal_size: 65536,
            max_append_size: 64 * 1024 * 1024,
            max_multiappend_size: 256 * 1024 * 1024,
            max_command_size: 256 * 1024,
            max_command_literals: 1000,
            smap_max_line_length: 8000,
            preauth_timeout: 60,
            idle_timeout: 1800,
            write_timeout: 120,
        }
    }
}

impl Limits {
    pub fn preauth_timeout(&self) -> Duration {
        Duration::from_secs(self.preauth_timeout)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout)
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn to_filter(self) -> log::LevelFilter {
        match self {
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
            Level::Trace => log::LevelFilter::Trace,
        }
    }
}

/// `[fts]`: the full-text index postern keeps beside each folder (`postern-fts`,
/// `postern-fts.recent`) so that SEARCH BODY / TEXT / HEADER read only the messages that
/// may match. Answers are the same with or without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fts {
    /// Keep and use the index; off: every such SEARCH reads every message.
    pub enabled: bool,
    /// Folders indexed: `*` (all), a name (`INBOX`, `INBOX.Lists`), or `NAME.*` for the
    /// folders below one. A folder gets its index at its first SEARCH that reads bodies.
    pub folders: Vec<String>,
    /// Messages larger than this many bytes are not indexed (SEARCH reads them).
    pub max_message_size: u64,
    /// A folder's index stops growing at this many bytes (what it does not cover is read).
    pub max_index_size: u64,
    /// Most milliseconds one SEARCH spends indexing messages that arrived without postern
    /// (Courier, other tools) or before the index existed; the rest is read as without an
    /// index, and the next SEARCH carries on.
    pub catch_up_time_ms: u64,
    /// Bytes of memory an index build may hold before it writes a segment out.
    pub build_memory: u64,
    /// Keep the decoded, lowercased text of every message a BODY/TEXT SEARCH read in the
    /// folder's `postern-cache.searchtext-1` (messages up to `max_message_size`), so that
    /// checking the index's candidates for a common word reads no message file. Costs
    /// about the size of the mail's text on disk.
    pub cache_text: bool,
    /// A folder's text cache stops growing at this many bytes (what it does not hold is
    /// read by SEARCH).
    pub max_text_cache_size: u64,
}

impl Default for Fts {
    fn default() -> Self {
        Fts {
            enabled: true,
            folders: vec!["*".to_owned()],
            max_message_size: 10 << 20,
            max_index_size: 2 << 30,
            catch_up_time_ms: 3000,
            build_memory: 64 << 20,
            cache_text: true,
            max_text_cache_size: 256 << 20,
        }
    }
}

impl Fts {
    /// The store's view of these settings.
    pub fn store_settings(&self) -> crate::store::fts::Settings {
        crate::store::fts::Settings {
            enabled: self.enabled,
            folders: self.folders.clone(),
            max_message_size: self.max_message_size,
            max_index_size: self.max_index_size,
            catch_up_time: Duration::from_millis(self.catch_up_time_ms),
            build_memory: usize::try_from(self.build_memory).unwrap_or(usize::MAX),
            cache_text: self.cache_text,
            max_text_cache_size: self.max_text_cache_size,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    pub level: Level,
}

impl Config {
    /// Load from `path`, else `$POSTERN_CONFIG`, else `/etc/postern/postern.toml`.
    /// A file that was named (by argument or environment) must exist; a missing
    /// default file means every setting has its default.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let env = std::env::var_os(ENV_PATH).filter(|p| !p.is_empty());
        let (path, named) = match (path, env) {
            (Some(p), _) => (p.to_path_buf(), true),
            (None, Some(p)) => (PathBuf::from(p), true),
            (None, None) => (PathBuf::from(DEFAULT_PATH), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if !named && err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let mut config = Config::parse(&text).with_context(|| format!("in {}", path.display()))?;
        config.path = Some(path);
        Ok(config)
    }

    /// Parse and check settings text (no file, `path` stays `None`).
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text).map_err(|err| syntax_error(text, &err))?;
        if let Err(invalid) = config.check() {
            return Err(match key_line(text, invalid.key) {
                Some(line) => anyhow::anyhow!("line {line}: {invalid}"),
                None => anyhow::anyhow!("{invalid}"),
            });
        }
        Ok(config)
    }

    /// What is wrong with the Outbox settings, if anything.
    fn outbox_problem(&self) -> Option<String> {
        let imap = &self.imap;
        if imap.outbox.is_empty() {
            return None;
        }
        if crate::store::folder::canonical_name(&format!("INBOX.{}", imap.outbox)).is_err() {
            return Some(format!("{:?} is no folder name", imap.outbox));
        }
        match imap.sendmail.first() {
            Some(program) if Path::new(program).is_absolute() => None,
            _ => Some("needs `sendmail` to start with an absolute program path".into()),
        }
    }

    /// Values serde accepts but that make no sense.
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        let bad = |key: &'static str, message: String| Err(Invalid { key, message });
        for (key, value) in [
            ("imap.greeting", &self.imap.greeting),
            ("pop3.greeting", &self.pop3.greeting),
        ] {
            if value.contains(['\r', '\n']) {
                return bad(key, "must be a single line".into());
            }
        }
        let at_least = [
            (
                "serve.max_connections",
                u64::from(self.serve.max_connections),
                1,
            ),
            (
                "auth.max_failed_logins",
                u64::from(self.auth.max_failed_logins),
                1,
            ),
            (
                "limits.max_line_length",
                self.limits.max_line_length as u64,
                1024,
            ),
            ("mail.loginexec_timeout", self.mail.loginexec_timeout, 1),
            ("limits.preauth_timeout", self.limits.preauth_timeout, 1),
            ("limits.write_timeout", self.limits.write_timeout, 1),
            (
                "limits.max_command_literals",
                u64::from(self.limits.max_command_literals),
                1,
            ),
            ("imap.idle_poll_interval", self.imap.idle_poll_interval, 1),
            ("imap.sendmail_timeout", self.imap.sendmail_timeout, 1),
            ("mail.purge_max_files", self.mail.purge_max_files, 1),
        ];
        for (key, value, least) in at_least {
            if value < least {
                return bad(key, format!("must be at least {least}"));
            }
        }
        let one_line_and_literal =
            (self.limits.max_line_length as u64).saturating_add(self.limits.max_literal_size);
        if self.limits.max_command_size < one_line_and_literal {
            return bad(
                "limits.max_command_size",
                format!(
                    "must be at least max_line_length + max_literal_size \
                     ({one_line_and_literal})"
                ),
            );
        }
        if self.serve.ipv6_prefix > 128 {
            return bad("serve.ipv6_prefix", "must be at most 128".into());
        }
        if self.serve.ipv4_prefix > 32 {
            return bad("serve.ipv4_prefix", "must be at most 32".into());
        }
        if self.serve.max_failed_logins_per_ip > 0 && self.serve.failed_logins_window == 0 {
            return bad(
                "serve.failed_logins_window",
                "must be at least 1 when max_failed_logins_per_ip is set".into(),
            );
        }
        if let Some(port) = self
            .auth
            .pam_service_by_port
            .keys()
            .find(|p| p.parse::<u16>().map_or(true, |n| n == 0))
        {
            return bad(
                "auth.pam_service_by_port",
                format!("{port:?} is not a port number"),
            );
        }
        if !matches!(self.tls.min_protocol.as_str(), "TLSv1.2" | "TLSv1.3") {
            return bad(
                "tls.min_protocol",
                format!(
                    "{:?}: expected \"TLSv1.2\" or \"TLSv1.3\"",
                    self.tls.min_protocol
                ),
            );
        }
        if let Some(why) = self.outbox_problem() {
            return bad("imap.outbox", why);
        }
        if self
            .imap
            .outbox_header_from
            .contains(|c: char| c == ':' || c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return bad(
                "imap.outbox_header_from",
                "must be a header field name (no colon, space or control character)".into(),
            );
        }
        if let Some((folder, age)) = self.mail.purge.iter().find(|(_, a)| a.duration().is_none()) {
            return bad(
                "mail.purge",
                format!("{folder}: {age:?} is no age (days, or a number with s, m, h or d)"),
            );
        }
        if self.tls.certificate.as_os_str().is_empty() {
            return bad("tls.certificate", "must name a file".into());
        }
        for (attr, folder) in &self.imap.special_use {
            if folder.is_empty() || attr.is_empty() || attr.starts_with('\\') {
                return bad(
                    "imap.special_use",
                    format!(
                        "{attr:?} = {folder:?}: write the attribute without the backslash \
                         and a non-empty folder name"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// A value of the right type that makes no sense, with the key it belongs to.
#[derive(Debug)]
pub(crate) struct Invalid {
    /// `section.key`
    key: &'static str,
    message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// toml's error as one line that names the line, the column and the key (toml's own
/// message quotes the line but names the key only when it is unknown).
fn syntax_error(text: &str, err: &toml::de::Error) -> anyhow::Error {
    let Some(span) = err.span() else {
        return anyhow::anyhow!("{}", err.message());
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    match key_at(text, span.start) {
        Some(key) => anyhow::anyhow!("line {line}, column {column}: {key}: {}", err.message()),
        None => anyhow::anyhow!("line {line}, column {column}: {}", err.message()),
    }
}

/// The dotted key (`auth.backend`) whose name or value covers byte `offset` of `text`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (key, value) in table.iter() {
            let covers =
                |r: std::ops::Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
            if covers(key.span()) {
                path.push(key.get_ref().to_string());
                return true;
            }
            if covers(value.span()) {
                path.push(key.get_ref().to_string());
                if let Some(inner) = value.get_ref().as_table() {
                    walk(inner, offset, path);
                }
                return true;
            }
            if let Some(inner) = value.get_ref().as_table() {
                path.push(key.get_ref().to_string());
                if walk(inner, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path).then(|| path.join("."))
}

/// The line (from 1) on which `section.key` is set in `text`, if it is.
fn key_line(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.split_once('.')?;
    let doc = toml::de::DeTable::parse(text).ok()?;
    let (_, table) = doc.get_ref().iter().find(|(k, _)| k.get_ref() == section)?;
    let (name, _) = table
        .get_ref()
        .as_table()?
        .iter()
        .find(|(k, _)| k.get_ref() == key)?;
    let offset = name.span().start;
    Some(text[..offset].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_all_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.serve.imap, vec!["127.0.0.1:1143".parse().unwrap()]);
        assert_eq!(c.serve.pop3, vec!["127.0.0.1:1110".parse().unwrap()]);
        assert!(c.serve.imaps.is_empty() && c.serve.pop3s.is_empty());
        assert_eq!(
            (c.serve.max_connections, c.serve.max_connections_per_ip),
            (40, 4)
        );
        assert_eq!(c.imap.idle_poll_interval(), Duration::from_secs(60));
        assert_eq!(c.imap.special_use.len(), 5);
        assert_eq!(c.imap.special_use["Junk"], "Junk");
        assert_eq!(c.auth.backend, Backend::Userfile);
        assert_eq!(c.auth.failed_login_delay(), Duration::from_secs(3));
        assert_eq!(c.mail.maildir, Path::new("Maildir"));
        assert_eq!(c.limits.max_append_size, 67_108_864);
        assert_eq!(c.limits.idle_timeout(), Duration::from_secs(1800));
        assert_eq!(c.limits.write_timeout(), Duration::from_secs(120));
        assert_eq!(c.limits.max_command_size, 262_144);
        assert_eq!(c.limits.max_command_literals, 1000);
        assert_eq!(c.log.level, Level::Info);
        assert_eq!(c.path, None);
    }

    #[test]
    fn shipped_file_equals_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/postern.toml");
        let mut loaded = Config::load(Some(&path)).unwrap();
        assert_eq!(loaded.path.as_deref(), Some(path.as_path()));
        loaded.path = None;
        assert_eq!(loaded, Config::default());
    }

    #[test]
    fn shipped_file_spells_out_every_key() {
        // The file sets every key explicitly, so the test above checks each documented
        // default against the code.
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/postern.toml"))
                .unwrap();
        let shipped: toml::Table = toml::from_str(&text).unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        let keys = |t: &toml::Table| -> Vec<String> {
            t.iter()
                .flat_map(|(section, v)| {
                    v.as_table()
                        .unwrap()
                        .keys()
                        .map(move |k| format!("{section}.{k}"))
                })
                .collect()
        };
        assert_eq!(keys(&shipped), keys(&defaults));
        for key in keys(&defaults) {
            assert!(
                text.contains(&format!("\n{}", key.split('.').nth(1).unwrap())),
                "{key}"
            );
        }
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err =
            Config::parse("[imap]\ngreeting = \"hi\"\n\n[auth]\nbackedn = \"pam\"\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("auth.backedn: unknown field"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
    }

    #[test]
    fn bad_value_names_line() {
        let err = Config::parse("[serve]\nimap = [\"localhost\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        let err = Config::parse("[auth]\nbackend = \"ldap\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        let err = Config::parse("[log]\n[limits]\n\nidle_timeout = \"x\"\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with("line 4, column 16: limits.idle_timeout: "),
            "{msg}"
        );
        let err = Config::parse("imap = { special_use = { Sent = 3 } }\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("imap.special_use.Sent: "), "{msg}");
    }

    #[test]
    fn sections_override_keys() {
        let c = Config::parse(
            "[serve]\nimap = [\"[::1]:143\"]\nmax_connections = 7\n\
             [auth]\nbackend = \"pam\"\ndefault_options = \"disableimap=1\"\n\
             [imap.special_use]\nSent = \"Sent Items\"\n\
             [log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        assert_eq!(c.serve.imap, vec!["[::1]:143".parse().unwrap()]);
        assert_eq!(c.serve.max_connections, 7);
        assert_eq!(c.serve.max_connections_per_ip, 4);
        assert_eq!(c.auth.backend, Backend::Pam);
        assert_eq!(c.imap.special_use.len(), 1);
        assert_eq!(c.log.level.to_filter(), log::LevelFilter::Debug);
    }

    #[test]
    fn pam_service_by_port_takes_port_numbers() {
        let c = Config::parse("[auth]\npam_service_by_port = { \"993\" = \"imaps\" }\n").unwrap();
        assert_eq!(c.auth.pam_service_by_port["993"], "imaps");
        let err =
            Config::parse("[auth]\npam_service_by_port = { imaps = \"imaps\" }\n").unwrap_err();
        assert!(
            err.to_string().contains("auth.pam_service_by_port"),
            "{err}"
        );
    }

    #[test]
    fn source_grouping_and_failure_budget_settings() {
        let s = Config::default().serve;
        assert_eq!((s.ipv6_prefix, s.ipv4_prefix), (64, 32));
        assert_eq!(s.max_failed_logins_per_ip, 10);
        assert_eq!(s.failed_logins_window(), Duration::from_secs(600));
        for (text, key) in [
            ("[serve]\nipv6_prefix = 129\n", "serve.ipv6_prefix"),
            ("[serve]\nipv4_prefix = 33\n", "serve.ipv4_prefix"),
            (
                "[serve]\nfailed_logins_window = 0\n",
                "serve.failed_logins_window",
            ),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
        let off =
            Config::parse("[serve]\nmax_failed_logins_per_ip = 0\nfailed_logins_window = 0\n");
        assert!(
            off.is_ok(),
            "0 disables the budget, and then the window does not matter"
        );
    }

    #[test]
    fn nonsense_values_are_refused() {
        let err = Config::parse("[serve]\nmax_connections = 0\n").unwrap_err();
        assert!(err.to_string().contains("serve.max_connections"));
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err =
            Config::parse("[limits]\nidle_timeout = 5\n\nmax_line_length = 10\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 4: limits.max_line_length: must be at least 1024"
        );
        let err = Config::parse("[limits]\nmax_literal_size = 1000000\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "limits.max_command_size: must be at least max_line_length + \
             max_literal_size (1065536)"
        );
        let err = Config::parse("[limits]\nwrite_timeout = 0\n").unwrap_err();
        assert!(err.to_string().contains("limits.write_timeout"), "{err}");
        let err = Config::parse("imap = { greeting = \"a\\nb\" }\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: imap.greeting: must be a single line"
        );
        let err = Config::parse("[imap]\ngreeting = \"a\\r\\nb\"\n").unwrap_err();
        assert!(err.to_string().contains("imap.greeting"));
    }

    #[test]
    fn named_file_must_exist_default_need_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = Config::load(Some(&missing)).unwrap_err();
        assert!(format!("{err:#}").contains("nope.toml"));
    }
}
