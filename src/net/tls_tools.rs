//! `postern mkcert` and `postern mkdhparams`: the files `[tls]` names, made with the
//! OpenSSL library (no `openssl` command needed).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::dh::Dh;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

use crate::config::Tls;

/// Courier's mkdhparams renews the file when it is older than this.
pub const DH_MAX_AGE: Duration = Duration::from_secs(25 * 24 * 3600);

/// The key type of a new certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa2048,
    EcP256,
}

/// What `mkcert` makes.
#[derive(Debug, Clone)]
pub struct CertRequest {
    /// CN and subjectAltName (DNS).
    pub hostname: String,
    /// Goes into the organizational unit, e.g. "IMAP server".
    pub unit: String,
    pub key: KeyType,
    pub days: u32,
}

/// The host's name, for the certificate.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn new_key(key: KeyType) -> anyhow::Result<PKey<Private>> {
    Ok(match key {
        KeyType::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?)?,
        KeyType::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)?
        }
    })
}

/// A self-signed server certificate and its key, as PEM.
pub fn self_signed(req: &CertRequest) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let key = new_key(req.key)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, &req.unit)?;
    name.append_entry_by_nid(Nid::COMMONNAME, &req.hostname)
        .with_context(|| format!("{:?} cannot be a certificate name", req.hostname))?;
    let name = name.build();

    let mut cert = X509::builder()?;
    cert.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    cert.set_serial_number(&serial)?;
    cert.set_subject_name(&name)?;
    cert.set_issuer_name(&name)?;
    cert.set_pubkey(&key)?;
    let (not_before, not_after) = (
        Asn1Time::days_from_now(0)?,
        Asn1Time::days_from_now(req.days)?,
    );
    cert.set_not_before(&not_before)?;
    cert.set_not_after(&not_after)?;
    cert.append_extension(BasicConstraints::new().critical().build()?)?;
    cert.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()?,
    )?;
    cert.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .dns(&req.hostname)
        .build(&cert.x509v3_context(None, None))?;
    cert.append_extension(san)?;
    cert.sign(&key, MessageDigest::sha256())?;
    let cert = cert.build();
    Ok((cert.to_pem()?, key.private_key_to_pem_pkcs8()?))
}

/// A temporary name beside `path` for an atomic replace.
fn temp_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp.{}", std::process::id()));
    PathBuf::from(name)
}

/// Write `bytes` to `path` with `mode` through a temporary file and rename, so that a
/// reader sees the old file or the new one, never half of one.
fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = temp_beside(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `postern mkcert`: write a self-signed certificate with its key into `[tls]
/// certificate` (or the key into `[tls] private_key` when that is set). An existing file
/// is kept unless `force`.
pub fn mkcert(settings: &Tls, req: &CertRequest, force: bool) -> anyhow::Result<PathBuf> {
    let cert_path = &settings.certificate;
    let key_path = (!settings.private_key.as_os_str().is_empty()).then_some(&settings.private_key);
    if !force {
        for path in std::iter::once(cert_path).chain(key_path) {
            if path.exists() {
                bail!(
                    "{} exists; not overwriting it (use --force to replace it)",
                    path.display()
                );
            }
        }
    }
    let (cert, key) = self_signed(req)?;
    match key_path {
        Some(key_path) => {
            replace_file(key_path, &key, 0o600)?;
            replace_file(cert_path, &cert, 0o644)?;
        }
        None => {
            let mut both = cert;
            both.extend_from_slice(&key);
            replace_file(cert_path, &both, 0o600)?;
        }
    }
    Ok(cert_path.clone())
}

/// What `mkdhparams` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhOutcome {
    Created,
    Renewed,
    /// The file is younger than [`DH_MAX_AGE`]; nothing was done.
    Fresh,
}

/// `postern mkdhparams`: generate `bits`-bit DH parameters into `path` when it is
/// missing or older than 25 days (by mtime), atomically.
pub fn mkdhparams(path: &Path, bits: u32) -> anyhow::Result<DhOutcome> {
    if path.as_os_str().is_empty() {
        bail!("[tls] dh_params names no file");
    }
    let existing = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.modified()?),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("{}", path.display())),
    };
    if let Some(modified) = existing {
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO);
        if age <= DH_MAX_AGE {
            return Ok(DhOutcome::Fresh);
        }
    }
    if !(512..=10_000).contains(&bits) {
        bail!("--bits {bits}: expected 512 to 10000");
    }
    let dh = Dh::generate_params(bits, 2).context("generating DH parameters")?;
    replace_file(path, &dh.params_to_pem()?, 0o644)?;
    Ok(if existing.is_some() {
        DhOutcome::Renewed
    } else {
        DhOutcome::Created
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_names_the_host() {
        let (cert, key) = self_signed(&CertRequest {
            hostname: "mail.example.org".into(),
            unit: "IMAP server".into(),
            key: KeyType::EcP256,
            days: 365,
        })
        .unwrap();
        let cert = X509::from_pem(&cert).unwrap();
        let key = PKey::private_key_from_pem(&key).unwrap();
        assert!(cert.public_key().unwrap().public_eq(&key));
        let cn = cert
            .subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .next()
            .unwrap();
        assert_eq!(cn.data().to_string().unwrap(), "mail.example.org");
        let sans = cert.subject_alt_names().unwrap();
        assert_eq!(sans.get(0).unwrap().dnsname(), Some("mail.example.org"));
    }
}
