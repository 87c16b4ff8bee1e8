//! The `postern` command: one binary, one subcommand per job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use postern::config::Config;

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
    },
    /// Serve one POP3 session on an inherited connection (fd 3 from LISTEN_FDS, or stdin/stdout).
    Pop3d {
        /// The connection is stdin/stdout (inetd style).
        #[arg(long)]
        inetd: bool,
    },
    /// Deliver one message from stdin into a Maildir (exit 75 on temporary failure).
    Deliver {
        /// Folder to deliver into, e.g. "Lists.rust" (default INBOX).
        #[arg(long)]
        folder: Option<String>,
        /// A user name from the user file, or a Maildir path.
        target: String,
    },
    /// Create a demo user with sample mail and serve it on 127.0.0.1:1143 (IMAP) and :1110 (POP3).
    Demo {
        /// Where the demo user's home, user file and settings live
        /// (default: $XDG_STATE_HOME/postern-demo).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Create a Maildir, or a folder inside one, as Courier's maildirmake does.
    Maildirmake {
        /// Create folder FOLDER inside the Maildir DIR.
        #[arg(short = 'f')]
        folder: Option<String>,
        /// Set the Maildir++ quota, e.g. "10000000S,1000C".
        #[arg(short = 'q')]
        quota: Option<String>,
        dir: PathBuf,
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

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Config::load(path.as_deref())
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve => {
            let config = load_config(cli.config)?;
            postern::net::serve::run(&config)?;
            Ok(0)
        }
        Command::Imapd { inetd } => {
            let config = load_config(cli.config)?;
            postern::log::init("postern-imapd");
            postern::log::set_level(config.log.level);
            let conn = postern::net::activation::inherited_connection(inetd)?;
            postern::imap::run_session(&config, conn)?;
            Ok(0)
        }
        Command::Pop3d { inetd } => {
            let config = load_config(cli.config)?;
            postern::log::init("postern-pop3d");
            postern::log::set_level(config.log.level);
            let conn = postern::net::activation::inherited_connection(inetd)?;
            postern::pop3::run_session(&config, conn)?;
            Ok(0)
        }
        Command::Deliver { folder, target } => {
            let config = load_config(cli.config)?;
            Ok(postern::store::cli::deliver(
                &config,
                folder.as_deref(),
                &target,
            ))
        }
        Command::Demo { dir } => {
            let dir = dir.unwrap_or_else(postern::demo::default_dir);
            let config_path = postern::demo::prepare(&dir)?;
            println!(
                "postern demo: user \"{user}\", password \"{pw}\", mail in {home}\n\
                 \n  IMAP: 127.0.0.1:1143   e.g. curl imap://{user}:{pw}@127.0.0.1:1143/INBOX -X 'FETCH 1 BODY[HEADER]'\n\
                 \n  POP3: 127.0.0.1:1110   e.g. curl pop3://{user}:{pw}@127.0.0.1:1110/1\n\
                 \nSettings: {cfg}. Stop with Ctrl-C.",
                user = postern::demo::DEMO_USER,
                pw = postern::demo::DEMO_PASSWORD,
                home = dir.join("home").display(),
                cfg = config_path.display()
            );
            let config = Config::load(Some(&config_path))?;
            postern::net::serve::run(&config)?;
            Ok(0)
        }
        Command::Maildirmake { folder, quota, dir } => {
            postern::store::cli::maildirmake(&dir, folder.as_deref(), quota.as_deref())?;
            Ok(0)
        }
    }
}
