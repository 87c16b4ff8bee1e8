//! `postern config check` and `postern config show`: the settings as the server will see
//! them, and what can be checked of them without serving anybody.
//!
//! Both print the effective settings as TOML on standard output (every key, defaults
//! filled in), so the output is itself a valid settings file. Problems and warnings go to
//! standard error; `check` exits 1 when it found a problem.

use std::path::{Path, PathBuf};

use postern::auth::Protocol;
use postern::config::{Backend, Config};
use postern::net::activation::Service;
use postern::net::tls::{self, Acceptor};

/// What `check` found besides parse errors (those stop it at once).
#[derive(Debug, Default)]
pub struct Findings {
    /// The server would fail, or nobody could log in.
    pub problems: Vec<String>,
    /// Works, but probably not as meant.
    pub warnings: Vec<String>,
}

/// Load the settings the way every other subcommand does; `file` wins over `--config`.
fn load(file: Option<PathBuf>, global: Option<PathBuf>) -> anyhow::Result<Config> {
    Config::load(file.or(global).as_deref())
}

/// The settings as TOML, with a first line that says where they came from.
pub fn render(config: &Config) -> anyhow::Result<String> {
    let origin = match &config.path {
        Some(path) => format!(
            "# Effective settings from {} (defaults filled in).",
            path.display()
        ),
        None => format!(
            "# Built-in defaults: {} does not exist.",
            postern::config::DEFAULT_PATH
        ),
    };
    Ok(format!("{origin}\n\n{}", toml::to_string(config)?))
}

/// `postern config show [KEY]`: a string value bare (for shell scripts), anything else
/// (numbers, lists, a whole section) as TOML.
pub fn show(global: Option<PathBuf>, key: Option<&str>) -> anyhow::Result<u8> {
    let config = load(None, global)?;
    let Some(key) = key else {
        print!("{}", render(&config)?);
        return Ok(0);
    };
    let table = toml::Table::try_from(&config)?;
    let (section, name) = match key.split_once('.') {
        Some((section, name)) => (section, Some(name)),
        None => (key, None),
    };
    let unknown = || anyhow::anyhow!("no setting {key:?} (see postern.toml(5))");
    let section_table = table
        .get(section)
        .and_then(toml::Value::as_table)
        .ok_or_else(unknown)?;
    let Some(name) = name else {
        // Cut the section out of the whole text, which keeps the documented key order
        // (a toml::Table would sort the keys).
        let whole = toml::to_string(&config)?;
        let header = format!("[{section}]");
        let nested = format!("[{section}.");
        let lines: Vec<&str> = whole
            .lines()
            .skip_while(|l| *l != header)
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.starts_with('[') || l.starts_with(&nested))
            .map(|(_, l)| l)
            .collect();
        println!("{}", lines.join("\n").trim_end());
        return Ok(0);
    };
    match section_table.get(name).ok_or_else(unknown)? {
        toml::Value::String(s) => println!("{s}"),
        toml::Value::Table(t) => print!("{}", toml::to_string(t)?),
        other => println!("{other}"),
    }
    Ok(0)
}

/// `postern config check [FILE]`.
pub fn check(file: Option<PathBuf>, global: Option<PathBuf>, quiet: bool) -> anyhow::Result<u8> {
    let name = file
        .as_ref()
        .or(global.as_ref())
        .map(|p| p.display().to_string());
    let config = match load(file, global) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("postern config check: error: {err:#}");
            return Ok(1);
        }
    };
    let name = name
        .or_else(|| config.path.as_ref().map(|p| p.display().to_string()))
        .unwrap_or_else(|| {
            format!(
                "{} (missing: built-in defaults)",
                postern::config::DEFAULT_PATH
            )
        });
    if !quiet {
        print!("{}", render(&config)?);
    }
    let findings = inspect(&config);
    for warning in &findings.warnings {
        eprintln!("postern config check: warning: {warning}");
    }
    for problem in &findings.problems {
        eprintln!("postern config check: error: {problem}");
    }
    if findings.problems.is_empty() {
        if !quiet {
            eprintln!("postern config check: {name}: OK");
        }
        Ok(0)
    } else {
        eprintln!(
            "postern config check: {name}: {} problem(s)",
            findings.problems.len()
        );
        Ok(1)
    }
}

/// The files the settings name, checked as the server would use them.
pub fn inspect(config: &Config) -> Findings {
    let mut found = Findings::default();
    if let Err(err) = postern::auth::identity::VirtualOwner::from_config(&config.auth) {
        found.problems.push(err.to_string());
    }
    check_accounts(config, &mut found);
    check_tls(config, &mut found);
    found
}

fn check_accounts(config: &Config, found: &mut Findings) {
    let auth = &config.auth;
    match auth.backend {
        Backend::Userfile => {
            let path = &auth.userfile;
            let name = path.display().to_string();
            match std::fs::read_to_string(path) {
                Err(err) => found.problems.push(format!(
                    "[auth] userfile: cannot read {name}: {err} (backend = \"userfile\")"
                )),
                Ok(text) => match postern::auth::userfile::parse(&text, &name) {
                    Err(err) => found.problems.push(format!("[auth] userfile: {err}")),
                    Ok(entries) if entries.is_empty() => found
                        .warnings
                        .push(format!("[auth] userfile: {name} has no accounts")),
                    Ok(entries) => check_account_ids(config, &entries, &name, found),
                },
            }
        }
        Backend::Pam => {
            for (key, service) in [
                ("pam_service_imap", &auth.pam_service_imap),
                ("pam_service_pop3", &auth.pam_service_pop3),
            ] {
                let file = Path::new("/etc/pam.d").join(service);
                let vendor = Path::new("/usr/lib/pam.d").join(service);
                if service.is_empty() || service.contains('/') {
                    found.problems.push(format!(
                        "[auth] {key}: {service:?} is not a PAM service name"
                    ));
                } else if !file.exists() && !vendor.exists() {
                    found.warnings.push(format!(
                        "[auth] {key}: {} does not exist; PAM will use /etc/pam.d/other",
                        file.display()
                    ));
                }
            }
        }
    }
}

/// As root (how the packaged service runs) every account needs an explicit non-zero uid
/// and gid, its own or `[auth] default_uid`/`default_gid`: name the ones that would be
/// refused at login.
fn check_account_ids(
    config: &Config,
    entries: &[postern::auth::userfile::UserEntry],
    name: &str,
    found: &mut Findings,
) {
    use postern::auth::identity::{Claim, VirtualOwner, resolve_as};
    // A default that does not resolve is reported by [`inspect`].
    let owner = VirtualOwner::from_config(&config.auth).unwrap_or_default();
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    for entry in entries {
        let claim = Claim {
            user: &entry.user,
            uid: entry.uid,
            gid: entry.gid,
            system: false,
        };
        if let Err(err) = resolve_as(&claim, owner, nix::unistd::Uid::from_raw(0)) {
            found
                .warnings
                .push(format!("[auth] userfile: {name}:{}: {err}", entry.line));
        }
    }
}

fn check_tls(config: &Config, found: &mut Findings) {
    let settings = &config.tls;
    let serve = &config.serve;
    // The listeners `postern serve` opens from [serve] (under systemd the socket units
    // decide, and those are checked below through the certificate alone).
    let services: Vec<Service> = [
        (Service::Imap, &serve.imap),
        (Service::Imaps, &serve.imaps),
        (Service::Pop3, &serve.pop3),
        (Service::Pop3s, &serve.pop3s),
    ]
    .into_iter()
    .filter(|(_, addresses)| !addresses.is_empty())
    .map(|(service, _)| service)
    .collect();
    let before = found.problems.len();
    if let Err(err) = tls::check_for_services(settings, &services) {
        found.problems.push(format!("[serve] {err:#}"));
    }
    let certificate = &settings.certificate;
    if certificate.exists() {
        // What the per-connection units (imapd --tls, pop3d --tls, STARTTLS) will load;
        // already reported when a [serve] listener failed on the same files.
        let protocols = if found.problems.len() == before {
            &[Protocol::Imap, Protocol::Pop3][..]
        } else {
            &[]
        };
        for &protocol in protocols {
            if let Err(err) = Acceptor::new(settings, protocol) {
                let message = format!("[tls] {err:#}");
                if !found.problems.contains(&message) {
                    found.problems.push(message);
                }
            }
        }
        if !settings.dh_params.as_os_str().is_empty() && !settings.dh_params.exists() {
            found.warnings.push(format!(
                "[tls] dh_params: {} does not exist (postern mkdhparams makes it): TLS 1.2 \
                 offers no DHE cipher suites",
                settings.dh_params.display()
            ));
        }
    } else {
        let required = settings.require_tls_imap || settings.require_tls_pop3;
        if required && found.problems.len() == before {
            found.problems.push(format!(
                "[tls] require_tls_{} is set but {} does not exist, so nobody could log in",
                if settings.require_tls_imap {
                    "imap"
                } else {
                    "pop3"
                },
                certificate.display()
            ));
        } else if !required {
            found.warnings.push(format!(
                "[tls] certificate: {} does not exist (postern mkcert makes one): no \
                 STARTTLS/STLS, and the TLS ports (993, 995) cannot serve",
                certificate.display()
            ));
        }
    }
}
