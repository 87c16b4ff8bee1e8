//! `postern-login`: the plaintext login program (IMAP on port 143, POP3 on 110). It
//! serves a connection up to its login as `postern imapd` / `postern pop3d` would, but
//! is not linked with OpenSSL: loading libcrypto and libssl costs each process about
//! 1.2 ms of CPU, more than a short session's own work, and a plaintext connection never
//! uses them. A client that asks for TLS (STARTTLS, STLS) goes on in `postern`, executed
//! in the same process (see `postern::net::tls_handoff`); after an IMAP login the
//! session goes on in `postern-session` as from `postern imapd`.
//!
//! Usage: `postern-login [--config FILE] imapd|pop3d`, with the connection on fd 3
//! (systemd `Accept=yes`, `postern serve`) as for `postern imapd`.

use std::path::PathBuf;
use std::process::ExitCode;

use postern::auth::Protocol;
use postern::config::Config;

fn main() -> ExitCode {
    let (config, protocol) = match arguments() {
        Ok(parsed) => parsed,
        Err(usage) => {
            eprintln!("postern-login: {usage}");
            eprintln!("usage: postern-login [--config FILE] imapd|pop3d");
            return ExitCode::from(2);
        }
    };
    match serve(config, protocol) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("postern-login: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The settings file (if given) and the protocol.
fn arguments() -> Result<(Option<PathBuf>, Protocol), String> {
    let mut args = std::env::args_os().skip(1);
    let mut config = None;
    let mut protocol = None;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") => {
                let path = args.next().ok_or("--config needs a file")?;
                config = Some(PathBuf::from(path));
            }
            Some("imapd") if protocol.is_none() => protocol = Some(Protocol::Imap),
            Some("pop3d") if protocol.is_none() => protocol = Some(Protocol::Pop3),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok((config, protocol.ok_or("imapd or pop3d?")?))
}

fn serve(config: Option<PathBuf>, protocol: Protocol) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    postern::log::init(match protocol {
        Protocol::Imap => "postern-imapd",
        Protocol::Pop3 => "postern-pop3d",
    });
    postern::log::set_level(config.log.level);
    postern::log::start_session();
    let conn = postern::net::activation::inherited_connection(false)?;
    if let Some(report) = postern::net::activation::failure_report()? {
        postern::net::budget::adopt(report);
    }
    if let Some(local) = conn.local_addr() {
        // [auth] pam_service_by_port picks the PAM service by the port dialled.
        postern::auth::pam::set_local_port(local.port());
    }
    match protocol {
        Protocol::Imap => postern::imap::run_plaintext_session(&config, conn),
        Protocol::Pop3 => postern::pop3::run_plaintext_session(&config, conn),
    }
}
