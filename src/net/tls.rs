//! The OpenSSL server side: one acceptor built from `[tls]`, used for implicit TLS
//! (`imapd --tls`, `pop3d --tls`) and for STARTTLS / STLS.
//!
//! Files are read and checked when the acceptor is built, so a certificate without a
//! key, a key that belongs to another certificate or an unreadable DH file is an error
//! naming the file before any client connects, not a failed handshake later.
//!
//! What the client proved with its certificate is summed up in [`PeerCertificate`]
//! right after the handshake; the login for AUTHENTICATE EXTERNAL comes from it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use openssl::dh::Dh;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    AlpnError, NameType, SniError, SslAcceptor, SslAcceptorBuilder, SslAlert, SslContext,
    SslMethod, SslOptions, SslRef, SslSessionCacheMode, SslVerifyMode, SslVersion,
    select_next_proto,
};
use openssl::x509::{X509, X509VerifyResult};

use crate::auth::Protocol;
use crate::config::{Tls, VerifyPeer};

/// A ready server context for one protocol.
pub struct Acceptor {
    context: SslContext,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acceptor")
    }
}

fn is_set(path: &Path) -> bool {
    !path.as_os_str().is_empty()
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// The certificate chain and key from their files, checked against each other.
fn load_identity(cert_path: &Path, key_path: &Path) -> anyhow::Result<(Vec<X509>, PKey<Private>)> {
    let pem = read(cert_path, "TLS certificate")?;
    let chain = X509::stack_from_pem(&pem)
        .ok()
        .filter(|c| !c.is_empty())
        .with_context(|| {
            format!(
                "{}: no PEM certificate in this file ([tls] certificate)",
                cert_path.display()
            )
        })?;
    let (key_pem, key_file) = if is_set(key_path) {
        (read(key_path, "TLS private key")?, key_path)
    } else {
        (pem, cert_path)
    };
    let key = PKey::private_key_from_pem(&key_pem).map_err(|_| {
        if key_file == cert_path {
            anyhow::anyhow!(
                "{}: no private key in the certificate file (put it there, or name its file \
                 in [tls] private_key)",
                cert_path.display()
            )
        } else {
            anyhow::anyhow!(
                "{}: no PEM private key in this file ([tls] private_key)",
                key_file.display()
            )
        }
    })?;
    let matches = chain[0]
        .public_key()
        .map(|public| public.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        bail!(
            "{}: the private key does not belong to the certificate in {}",
            key_file.display(),
            cert_path.display()
        );
    }
    Ok((chain, key))
}

fn alpn_name(protocol: Protocol) -> &'static [u8] {
    match protocol {
        Protocol::Imap => b"\x04imap",
        Protocol::Pop3 => b"\x04pop3",
    }
}

/// A context with every setting but the certificate, which `cert_path` provides.
fn build_context(
    settings: &Tls,
    protocol: Protocol,
    cert_path: &Path,
    key_path: &Path,
) -> anyhow::Result<SslAcceptorBuilder> {
    let (chain, key) = load_identity(cert_path, key_path)?;
    // Mozilla's "intermediate" profile: TLS 1.2+, AEAD ciphers, ffdhe2048 for DHE.
    let mut ctx = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .context("OpenSSL cannot make a server context")?;
    ctx.set_certificate(&chain[0])
        .with_context(|| format!("{}: certificate refused by OpenSSL", cert_path.display()))?;
    for extra in &chain[1..] {
        ctx.add_extra_chain_cert(extra.clone())
            .with_context(|| format!("{}: chain certificate refused", cert_path.display()))?;
    }
    ctx.set_private_key(&key)
        .with_context(|| format!("{}: private key refused by OpenSSL", key_path.display()))?;
    ctx.check_private_key().with_context(|| {
        format!(
            "{}: the private key does not match the certificate",
            cert_path.display()
        )
    })?;

    if is_set(&settings.dh_params) && settings.dh_params.exists() {
        let pem = read(&settings.dh_params, "DH parameter file")?;
        let dh = Dh::params_from_pem(&pem).with_context(|| {
            format!(
                "{}: no PEM DH parameters in this file ([tls] dh_params)",
                settings.dh_params.display()
            )
        })?;
        ctx.set_tmp_dh(&dh).with_context(|| {
            format!(
                "{}: OpenSSL refuses these DH parameters (too small?)",
                settings.dh_params.display()
            )
        })?;
    }

    let min = match settings.min_protocol.as_str() {
        "TLSv1.3" => SslVersion::TLS1_3,
        _ => SslVersion::TLS1_2,
    };
    ctx.set_min_proto_version(Some(min))?;
    if !settings.ciphers.is_empty() {
        ctx.set_cipher_list(&settings.ciphers)
            .with_context(|| format!("[tls] ciphers = {:?}: no usable cipher", settings.ciphers))?;
    }
    if !settings.ciphersuites.is_empty() {
        ctx.set_ciphersuites(&settings.ciphersuites)
            .with_context(|| {
                format!(
                    "[tls] ciphersuites = {:?}: no usable suite",
                    settings.ciphersuites
                )
            })?;
    }
    // One process per connection: a session cache or ticket key would die with us, and
    // renegotiation started by the client only costs us CPU.
    ctx.set_session_cache_mode(SslSessionCacheMode::OFF);
    ctx.set_options(SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION);
    ctx.set_num_tickets(0)?;

    let ca_file = is_set(&settings.ca_file).then_some(settings.ca_file.as_path());
    let ca_path = is_set(&settings.ca_path).then_some(settings.ca_path.as_path());
    if ca_file.is_some() || ca_path.is_some() {
        for path in ca_file.iter().chain(ca_path.iter()) {
            std::fs::metadata(path)
                .with_context(|| format!("cannot read the CA certificates {}", path.display()))?;
        }
        ctx.load_verify_locations(ca_file, ca_path)
            .with_context(|| match ca_file {
                Some(f) => format!("{}: no PEM CA certificate in this file", f.display()),
                None => "cannot use [tls] ca_path".to_owned(),
            })?;
        if let Some(file) = ca_file {
            // Tell the client which CAs we accept, so it picks the right certificate.
            if let Ok(list) = openssl::x509::X509Name::load_client_ca_file(file) {
                ctx.set_client_ca_list(list);
            }
        }
    }
    match settings.verify_peer {
        VerifyPeer::None => ctx.set_verify(SslVerifyMode::NONE),
        VerifyPeer::Optional => ctx.set_verify(SslVerifyMode::PEER),
        VerifyPeer::Required => {
            ctx.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT)
        }
    }
    if settings.verify_peer != VerifyPeer::None && ca_file.is_none() && ca_path.is_none() {
        bail!(
            "[tls] verify_peer = asks for client certificates, but neither ca_file nor ca_path says who signs them"
        );
    }
    if settings.alpn {
        let ours = alpn_name(protocol);
        ctx.set_alpn_select_callback(move |_, client| {
            // A client that wants something else still gets served without ALPN.
            select_next_proto(ours, client).ok_or(AlpnError::NOACK)
        });
    }
    Ok(ctx)
}

/// `<certificate>.<hostname>` for an SNI name that is a plain DNS name.
fn sni_path(certificate: &Path, host: &str) -> Option<PathBuf> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let plain = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('.')
        && !host.contains("..")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !plain {
        return None;
    }
    let mut name = certificate.as_os_str().to_owned();
    name.push(".");
    name.push(&host);
    Some(PathBuf::from(name))
}

impl Acceptor {
    /// Build the context for `protocol` from `[tls]`, reading and checking every file.
    pub fn new(settings: &Tls, protocol: Protocol) -> anyhow::Result<Acceptor> {
        let mut ctx = build_context(
            settings,
            protocol,
            &settings.certificate,
            &settings.private_key,
        )?;
        // SNI: a per-name certificate file, loaded when a client first asks for it (once
        // per process, which is once per connection).
        let sni_settings = settings.clone();
        let loaded: Mutex<Option<(String, SslContext)>> = Mutex::new(None);
        ctx.set_servername_callback(move |ssl: &mut SslRef, _alert: &mut SslAlert| {
            let Some(host) = ssl.servername(NameType::HOST_NAME).map(str::to_owned) else {
                return Ok(());
            };
            let Some(path) = sni_path(&sni_settings.certificate, &host) else {
                return Ok(());
            };
            if !path.exists() {
                return Ok(());
            }
            let mut cache = loaded.lock().map_err(|_| SniError::ALERT_FATAL)?;
            if cache.as_ref().is_none_or(|(h, _)| *h != host) {
                let key = if is_set(&sni_settings.private_key) {
                    let mut k = sni_settings.private_key.as_os_str().to_owned();
                    k.push(".");
                    k.push(&host);
                    let k = PathBuf::from(k);
                    if k.exists() { k } else { PathBuf::new() }
                } else {
                    PathBuf::new()
                };
                match build_context(&sni_settings, protocol, &path, &key) {
                    Ok(built) => *cache = Some((host.clone(), built.build().into_context())),
                    Err(err) => {
                        log::error!("SNI {host}: {err:#}; using the default certificate");
                        return Ok(());
                    }
                }
            }
            if let Some((_, ctx)) = cache.as_ref() {
                ssl.set_ssl_context(ctx)
                    .map_err(|_| SniError::ALERT_FATAL)?;
            }
            Ok(())
        });
        Ok(Acceptor {
            context: ctx.build().into_context(),
        })
    }

    /// For STARTTLS / STLS on a plain connection: `None` when not offered (`starttls =
    /// false`, or no certificate file). A certificate file that exists but is unusable
    /// is an error.
    pub fn for_starttls(settings: &Tls, protocol: Protocol) -> anyhow::Result<Option<Acceptor>> {
        if !starttls_configured(settings) {
            return Ok(None);
        }
        Acceptor::new(settings, protocol).map(Some)
    }

    pub fn context(&self) -> &SslContext {
        &self.context
    }
}

/// Whether STARTTLS / STLS is to be offered: enabled and the certificate file exists.
/// (The file itself is read only when a client asks; `serve` checks it at startup.)
pub fn starttls_configured(settings: &Tls) -> bool {
    settings.starttls && settings.certificate.exists()
}

/// Check at startup what the listeners will need: a usable certificate for implicit-TLS
/// listeners, a usable one for STARTTLS when its file exists, and some way to log in
/// when TLS is required before login.
pub fn check_for_services(
    settings: &Tls,
    services: &[crate::net::activation::Service],
) -> anyhow::Result<()> {
    for service in services {
        let protocol = if service.is_pop3() {
            Protocol::Pop3
        } else {
            Protocol::Imap
        };
        if service.is_tls() {
            Acceptor::new(settings, protocol).with_context(|| format!("{service} listener"))?;
            continue;
        }
        let required = match protocol {
            Protocol::Imap => settings.require_tls_imap,
            Protocol::Pop3 => settings.require_tls_pop3,
        };
        if starttls_configured(settings) {
            Acceptor::new(settings, protocol)
                .with_context(|| format!("STARTTLS on the {service} listener"))?;
        } else if required {
            bail!(
                "{service} listener: [tls] require_tls_{} is set but STARTTLS is not offered \
                 (starttls = false, or {} does not exist), so nobody could log in",
                service.name(),
                settings.certificate.display()
            );
        }
    }
    Ok(())
}

/// What a client's certificate says, taken right after the handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Subject fields as (short name, value), e.g. ("CN", "Tim"), ("emailAddress", ...).
    pub subject: Vec<(String, String)>,
    /// The certificate chains to a trusted CA and we asked for it.
    pub verified: bool,
}

impl PeerCertificate {
    pub fn from_ssl(ssl: &SslRef) -> Option<PeerCertificate> {
        let cert = ssl.peer_certificate()?;
        let subject = cert
            .subject_name()
            .entries()
            .filter_map(|entry| {
                let nid = entry.object().nid();
                let name = nid
                    .short_name()
                    .or_else(|_| nid.long_name())
                    .ok()?
                    .to_owned();
                // Keeps interior NULs, so "tim\0.evil" cannot pass for "tim".
                let value = entry.data().to_string().ok()?;
                Some((name, value))
            })
            .collect();
        let asked = ssl.verify_mode().contains(SslVerifyMode::PEER);
        Some(PeerCertificate {
            subject,
            verified: asked && ssl.verify_result() == X509VerifyResult::OK,
        })
    }

    /// The value of subject field `field` (short or long name, any case) when the
    /// certificate is verified: the AUTHENTICATE EXTERNAL login.
    pub fn identity(&self, field: &str) -> Option<&str> {
        if !self.verified || field.is_empty() {
            return None;
        }
        fn long(short: &str) -> &str {
            match short {
                "CN" => "commonName",
                "UID" => "userId",
                "O" => "organizationName",
                "OU" => "organizationalUnitName",
                _ => short,
            }
        }
        self.subject
            .iter()
            .find(|(name, _)| {
                name.eq_ignore_ascii_case(field) || long(name).eq_ignore_ascii_case(field)
            })
            .map(|(_, value)| value.as_str())
            .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
    }
}

/// Read a PEM file as a certificate (used by tools and tests).
pub fn load_certificate(path: &Path) -> anyhow::Result<X509> {
    let pem = read(path, "certificate")?;
    X509::from_pem(&pem).with_context(|| format!("{}: no PEM certificate", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_names_are_plain() {
        let base = Path::new("/etc/postern/tls/postern.pem");
        assert_eq!(
            sni_path(base, "Mail.Example.org."),
            Some(PathBuf::from(
                "/etc/postern/tls/postern.pem.mail.example.org"
            ))
        );
        assert_eq!(sni_path(base, "../../etc/shadow"), None);
        assert_eq!(sni_path(base, "a/b"), None);
        assert_eq!(sni_path(base, ""), None);
    }

    #[test]
    fn identity_needs_verification_and_field() {
        let mut peer = PeerCertificate {
            subject: vec![
                ("CN".into(), "Tim".into()),
                ("emailAddress".into(), "tim@example.org".into()),
            ],
            verified: true,
        };
        assert_eq!(peer.identity("emailaddress"), Some("tim@example.org"));
        assert_eq!(peer.identity("commonName"), Some("Tim"));
        assert_eq!(peer.identity("CN"), Some("Tim"));
        assert_eq!(peer.identity("OU"), None);
        assert_eq!(peer.identity(""), None);
        peer.verified = false;
        assert_eq!(peer.identity("CN"), None);
    }
}
