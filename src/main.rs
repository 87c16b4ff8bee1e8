//! The `postern` command: one binary, one subcommand per job.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use postern::auth::Protocol;
use postern::config::Config;
use postern::net::conn::Connection;
use postern::net::tls::Acceptor;
use postern::net::tls_tools;

mod config_cmd;
mod sharedindex_cmd;

#[derive(Parser)]
#[command(
    name = "postern",
    version,
    about = "IMAP and POP3 server for Maildir++ folders"
)]
struct Cli {
    /// Settings file (default: $POSTERN_CONFIG, else /etc/postern/postern.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen on the [serve] addresses (or sockets from systemd) and spawn one session per connection.
    Serve,
    /// Serve one IMAP session on an inherited connection (fd 3 from LISTEN_FDS, or stdin/stdout).
    Imapd {
        /// The connection is stdin/stdout (inetd style).
        #[arg(long)]
        inetd: bool,
        /// TLS from the first byte (port 993): handshake before the greeting.
        #[arg(long)]
        tls: bool,
    },
    /// Serve one POP3 session on an inherited connection (fd 3 from LISTEN_FDS, or stdin/stdout).
    Pop3d {
        /// The connection is stdin/stdout (inetd style).
        #[arg(long)]
        inetd: bool,
        /// TLS from the first byte (port 995): handshake before the greeting.
        #[arg(long)]
        tls: bool,
    },
    /// Internal: go on with a connection whose client asked postern-login for TLS
    /// (the connection at fd 3, the request at fd 5).
    #[command(hide = true)]
    ResumeTls,
    /// Make a self-signed certificate (with its key) in the [tls] certificate file.
    Mkcert {
        /// Name the certificate an IMAP server's (the default).
        #[arg(long, conflicts_with = "pop3")]
        imap: bool,
        /// Name the certificate a POP3 server's.
        #[arg(long)]
        pop3: bool,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// An EC P-256 key instead of RSA 2048.
        #[arg(long)]
        ec: bool,
        /// The name clients connect to (default: this host's name).
        #[arg(long)]
        hostname: Option<String>,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Renew the [tls] dh_params file if it is missing or older than 25 days (for a timer).
    Mkdhparams {
        /// Size of the DH prime.
        #[arg(long, default_value_t = 2048)]
        bits: u32,
    },
    /// Deliver one message from stdin into a Maildir, as an MTA's local delivery agent
    /// (exit codes from sysexits.h: 75 temporary failure, 67 unknown user, 77 bounce).
    Deliver {
        /// Folder to deliver into, e.g. "Lists.rust" (default INBOX, or the address
        /// extension's folder with [deliver] folder_from_extension).
        #[arg(long)]
        folder: Option<String>,
        /// Envelope sender for Return-Path: (default $SENDER, as Postfix and Exim set it).
        #[arg(short = 'f', long)]
        sender: Option<String>,
        /// Envelope recipient for Delivered-To: (default $RECIPIENT).
        #[arg(short = 'a', long)]
        recipient: Option<String>,
        /// Address extension ("folder" of user+folder; default $EXTENSION from Postfix, or
        /// $LOCAL_PART_SUFFIX from Exim without its delimiter).
        #[arg(long)]
        extension: Option<String>,
        /// A user name (user file, or system user with the PAM backend), or a Maildir
        /// path. Default, when not root: the running user's home's [mail] maildir.
        target: Option<String>,
    },
    /// Create a demo user with sample mail and serve it on 127.0.0.1:1143 (IMAP) and :1110 (POP3).
    Demo {
        /// Where the demo user's home, user file and settings live
        /// (default: $XDG_STATE_HOME/postern-demo).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check a settings file, or print the settings in effect.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Hash a password read from stdin for the user file (like doveadm pw).
    Pw {
        /// Scheme: SHA512-CRYPT, CRYPT (yescrypt), BLF-CRYPT, SCRAM-SHA-256 or PLAIN.
        #[arg(short = 's', long, default_value = "SHA512-CRYPT")]
        scheme: String,
    },
    /// Create a Maildir, or a folder inside one, as Courier's maildirmake does.
    Maildirmake {
        /// Create folder FOLDER inside the Maildir DIR.
        #[arg(short = 'f')]
        folder: Option<String>,
        /// Set the Maildir++ quota, e.g. "10000000S,1000C".
        #[arg(short = 'q')]
        quota: Option<String>,
        /// Make a sharable Maildir (mode 0755), to hold folders others may read.
        #[arg(short = 'S')]
        sharable: bool,
        /// With -f: make the folder sharable, "read" or "write" (sticky), ",group" for the
        /// group only (Courier's modes).
        #[arg(short = 's', requires = "folder")]
        share: Option<String>,
        /// Name the sharable Maildir PATH as NICK in DIR's shared-maildirs (NICK=PATH).
        #[arg(long = "add", value_name = "NICK=PATH", conflicts_with_all = ["del", "folder", "quota", "sharable", "share"])]
        add: Option<String>,
        /// Remove NICK from DIR's shared-maildirs.
        #[arg(long = "del", value_name = "NICK", conflicts_with_all = ["folder", "quota", "sharable", "share"])]
        del: Option<String>,
        dir: PathBuf,
    },
    /// Courier's maildiracl: -reset MAILDIR | -list MAILDIR FOLDER | -set MAILDIR FOLDER
    /// IDENTIFIER RIGHTS | -delete MAILDIR FOLDER IDENTIFIER | -compute MAILDIR FOLDER
    /// IDENTIFIER...
    Maildiracl {
        /// Courier's arguments, in Courier's order (see postern-maildiracl(1)).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Build the virtual shared-folder index ([mail] shared_index) from the configured
    /// accounts and install it atomically (Courier's authenumerate + sharedindexsplit +
    /// sharedindexinstall).
    Sharedindex {
        /// Write this index file instead of [mail] shared_index.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Split the index by the first N letters of the account names (group files).
        #[arg(long, default_value_t = 0)]
        split: usize,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Check a settings file and the files it names (user file, TLS certificate, key, DH
    /// and CA files); print the effective settings.
    Check {
        /// Print nothing but problems and warnings.
        #[arg(short, long)]
        quiet: bool,
        /// The file to check (default: --config, else $POSTERN_CONFIG, else
        /// /etc/postern/postern.toml).
        file: Option<PathBuf>,
    },
    /// Print the settings in effect as TOML, every key with defaults filled in.
    Show {
        /// Print only this section ("tls") or setting ("tls.certificate"); a string is
        /// printed bare.
        key: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("postern: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `postern deliver`: a path is a Maildir; a name is looked up through the configured
/// accounts; no target is the running user's own Maildir (an MTA such as Postfix runs its
/// mailbox_command as the recipient). As root the delivery first becomes the mailbox owner
/// (the account's ids or the virtual-mail owner's for a name, the directory's owner for a
/// path; never root), so every file it makes belongs to them and no link a user planted
/// is followed as root. Exit codes are sysexits, as MTAs expect.
fn deliver(
    config: &Config,
    folder: Option<&str>,
    envelope: &postern::store::lda::Envelope,
    target: Option<&str>,
) -> u8 {
    use postern::auth::login::{self, Settings};
    use postern::auth::{AuthError, mail_location};
    use postern::store::cli::{EX_NOUSER, EX_TEMPFAIL};
    let settings = match Settings::from_config(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("postern deliver: {e}");
            return EX_TEMPFAIL;
        }
    };
    let target = match target {
        Some(t) => t.to_owned(),
        None => match own_maildir(config) {
            Ok(path) => path,
            Err(code) => return code,
        },
    };
    let (maildir, entered) = if target.contains('/') {
        let path = std::path::PathBuf::from(&target);
        let entered = login::enter_for_delivery_to_path(&path, &settings);
        (path, entered)
    } else {
        let location = match mail_location(config, &target) {
            Ok(l) => l,
            Err(AuthError::Failed) => {
                eprintln!("5.1.1 postern deliver: {target}: no such user");
                return EX_NOUSER;
            }
            Err(e) => {
                eprintln!("postern deliver: {target}: {e}");
                return EX_TEMPFAIL;
            }
        };
        let entered = login::enter_for_delivery(&location, &settings);
        (location.maildir, entered)
    };
    if let Err(e) = entered {
        // The MTA keeps the message and retries: the fix is the administrator's.
        eprintln!("postern deliver: {target}: cannot become the mailbox owner: {e}");
        return EX_TEMPFAIL;
    }
    postern::store::fts::configure(config.fts.store_settings());
    let d = &config.deliver;
    let policy = postern::store::lda::Policy {
        return_path: d.return_path,
        delivered_to: d.delivered_to,
        folder_from_extension: d.folder_from_extension,
        quota_bounces: d.quota_exceeded == postern::config::QuotaExceeded::Bounce,
    };
    postern::store::lda::deliver(
        &maildir,
        folder,
        envelope,
        &policy,
        settings.skip_symlink_checks,
    )
}

/// The running user's Maildir (passwd home + [mail] maildir), as a path target. Root has
/// none: root's mail is never delivered as root (Postfix, too, never runs a command as
/// root), so root must name the user or Maildir.
fn own_maildir(config: &Config) -> Result<String, u8> {
    use postern::store::cli::{EX_TEMPFAIL, EX_USAGE};
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        eprintln!("postern deliver: run as root, a user or Maildir must be given");
        return Err(EX_USAGE);
    }
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => Ok(user.dir.join(&config.mail.maildir).display().to_string()),
        Ok(None) => {
            eprintln!("postern deliver: uid {uid} has no passwd entry");
            Err(EX_TEMPFAIL)
        }
        Err(e) => {
            eprintln!("postern deliver: uid {uid}: {e}");
            Err(EX_TEMPFAIL)
        }
    }
}

/// For admin tools run as root on a user's Maildir: become the directory's owner (as
/// `postern deliver` to a path does) unless root owns it; unprivileged, nothing changes.
fn become_maildir_owner(config: Option<PathBuf>, maildir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    match std::fs::symlink_metadata(maildir) {
        Ok(meta) if meta.uid() != 0 => {}
        _ => return Ok(()), // root's own, or missing (the tool says so)
    }
    let config = load_config(config)?;
    let settings = postern::auth::login::Settings::from_config(&config)?;
    postern::auth::login::enter_for_delivery_to_path(maildir, &settings)?;
    Ok(())
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Config::load(path.as_deref())
}

/// The connection a session serves; with `tls`, after the handshake. The certificate is
/// loaded before the connection is touched, so a bad file is an error naming it.
/// `None`: the handshake failed (logged; nothing to serve).
fn session_connection(
    config: &Config,
    inetd: bool,
    tls: bool,
    protocol: Protocol,
) -> anyhow::Result<Option<Connection>> {
    let acceptor = if tls {
        Some(Acceptor::new(&config.tls, protocol)?)
    } else {
        None
    };
    let mut conn = postern::net::activation::inherited_connection(inetd)?;
    if let Some(report) = postern::net::activation::failure_report()? {
        postern::net::budget::adopt(report);
    }
    if let Some(local) = conn.local_addr() {
        // [auth] pam_service_by_port picks the PAM service by the port dialled.
        postern::auth::pam::set_local_port(local.port());
    }
    if let Some(acceptor) = acceptor {
        conn.set_read_timeout(Some(config.limits.preauth_timeout()));
        if let Err(err) = conn.start_tls(&acceptor) {
            let ip = conn
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            postern::log::event(
                log::Level::Info,
                "TLS handshake failed",
                &[
                    ("REMOTE_ADDR", ip.as_str()),
                    ("PROTOCOL", protocol.name()),
                    ("REASON", err.to_string().as_str()),
                ],
            );
            return Ok(None);
        }
    }
    Ok(Some(conn))
}

/// `postern resume-tls` (see `postern::net::tls_handoff`).
fn resume_tls() -> anyhow::Result<()> {
    use postern::net::tls_handoff::{self, Asked};
    let (conn, request) = tls_handoff::receive()?;
    postern::log::init(if request.asked == Asked::Pop3 {
        "postern-pop3d"
    } else {
        "postern-imapd"
    });
    if let Some(report) = postern::net::activation::failure_report()? {
        postern::net::budget::adopt(report);
    }
    if let Some(local) = conn.local_addr() {
        postern::auth::pam::set_local_port(local.port());
    }
    match request.asked {
        Asked::Imap | Asked::Smap => postern::imap::resume_after_starttls(conn, request),
        Asked::Pop3 => postern::pop3::resume_after_stls(conn, request),
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve => {
            let config = load_config(cli.config)?;
            postern::net::serve::run(&config)?;
            Ok(0)
        }
        Command::Imapd { inetd, tls } => {
            let config = load_config(cli.config)?;
            postern::log::init("postern-imapd");
            postern::log::set_level(config.log.level);
            postern::log::start_session();
            if let Some(conn) = session_connection(&config, inetd, tls, Protocol::Imap)? {
                postern::imap::run_session(&config, conn)?;
            }
            Ok(0)
        }
        Command::Pop3d { inetd, tls } => {
            let config = load_config(cli.config)?;
            postern::log::init("postern-pop3d");
            postern::log::set_level(config.log.level);
            postern::log::start_session();
            if let Some(conn) = session_connection(&config, inetd, tls, Protocol::Pop3)? {
                postern::pop3::run_session(&config, conn)?;
            }
            Ok(0)
        }
        Command::ResumeTls => {
            resume_tls()?;
            Ok(0)
        }
        Command::Mkcert {
            imap: _,
            pop3,
            force,
            ec,
            hostname,
            days,
        } => {
            let config = load_config(cli.config)?;
            let req = tls_tools::CertRequest {
                hostname: hostname.unwrap_or_else(tls_tools::hostname),
                unit: if pop3 { "POP3 server" } else { "IMAP server" }.to_owned(),
                key: if ec {
                    tls_tools::KeyType::EcP256
                } else {
                    tls_tools::KeyType::Rsa2048
                },
                days,
            };
            let path = tls_tools::mkcert(&config.tls, &req, force)?;
            println!(
                "postern mkcert: wrote a self-signed certificate for {} to {}",
                req.hostname,
                path.display()
            );
            Ok(0)
        }
        Command::Mkdhparams { bits } => {
            let config = load_config(cli.config)?;
            let path = &config.tls.dh_params;
            let what = match tls_tools::mkdhparams(path, bits)? {
                tls_tools::DhOutcome::Created => "created",
                tls_tools::DhOutcome::Renewed => "renewed",
                tls_tools::DhOutcome::Fresh => "is less than 25 days old; left as it is",
            };
            println!("postern mkdhparams: {} {what}", path.display());
            Ok(0)
        }
        Command::Deliver {
            folder,
            sender,
            recipient,
            extension,
            target,
        } => {
            let config = load_config(cli.config)?;
            let envelope =
                postern::store::lda::Envelope::from_args_or_env(sender, recipient, extension);
            Ok(deliver(
                &config,
                folder.as_deref(),
                &envelope,
                target.as_deref(),
            ))
        }
        Command::Demo { dir } => {
            let dir = dir.unwrap_or_else(postern::demo::default_dir);
            let config_path = postern::demo::prepare(&dir)?;
            println!(
                "postern demo: user \"{user}\", password \"{pw}\", mail in {home}\n\
                 \n  IMAP: 127.0.0.1:1143   e.g. curl imap://{user}:{pw}@127.0.0.1:1143/INBOX -X 'FETCH 1 BODY[HEADER]'\n\
                 \n  POP3: 127.0.0.1:1110   e.g. curl pop3://{user}:{pw}@127.0.0.1:1110/1\n\
                 \n  Shared: user \"{team}\" (password \"{team_pw}\") shares INBOX.Projects with \
                 {user}, who sees it as #shared.{team}.Projects\n\
                 \nSettings: {cfg}. Stop with Ctrl-C.",
                user = postern::demo::DEMO_USER,
                pw = postern::demo::DEMO_PASSWORD,
                team = postern::demo::TEAM_USER,
                team_pw = postern::demo::TEAM_PASSWORD,
                home = dir.join("home").display(),
                cfg = config_path.display()
            );
            let config = Config::load(Some(&config_path))?;
            postern::net::serve::run(&config)?;
            Ok(0)
        }
        Command::Config { action } => match action {
            ConfigAction::Check { quiet, file } => config_cmd::check(file, cli.config, quiet),
            ConfigAction::Show { key } => config_cmd::show(cli.config, key.as_deref()),
        },
        Command::Pw { scheme } => {
            use postern::auth::password::{self, Scheme};
            let scheme = Scheme::from_name(&scheme)
                .ok_or_else(|| anyhow::anyhow!("unknown scheme {scheme:?}"))?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "no password on stdin");
            println!("{}", password::hash(scheme, password)?);
            Ok(0)
        }
        Command::Maildirmake {
            folder,
            quota,
            sharable,
            share,
            add,
            del,
            dir,
        } => {
            use postern::store::cli::{self as store_cli, Sharing};
            if add.is_some() || del.is_some() {
                let config = load_config(cli.config)?;
                return Ok(store_cli::shared_maildirs(
                    &dir,
                    add.as_deref(),
                    del.as_deref(),
                    &config.mail.maildirshared,
                ));
            }
            let sharing = match (share, sharable) {
                (Some(spec), _) => Sharing::Folder(spec),
                (None, true) => Sharing::Maildir,
                (None, false) => Sharing::Private,
            };
            store_cli::maildirmake(&dir, folder.as_deref(), quota.as_deref(), &sharing)?;
            Ok(0)
        }
        Command::Maildiracl { args } => {
            // As root, a user's Maildir is worked on as its owner: its folders, tmp/ and
            // courierimaphieracl/ are paths that user controls.
            if let Some(maildir) = args.get(1)
                && let Err(e) = become_maildir_owner(cli.config, Path::new(maildir))
            {
                eprintln!("{maildir}: cannot become the Maildir's owner: {e}");
                return Ok(1);
            }
            Ok(postern::store::acl_cli::run(&args))
        }
        Command::Sharedindex { output, split } => {
            let config = load_config(cli.config)?;
            sharedindex_cmd::run(&config, output, split)
        }
    }
}
