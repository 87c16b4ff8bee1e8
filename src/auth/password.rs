//! Stored passwords in Dovecot's `{SCHEME}secret` notation.
//!
//! - `{PLAIN}` (also `{CLEAR}`, `{CLEARTEXT}`): the password itself; the only scheme
//!   CRAM-MD5 can work with.
//! - `{SHA512-CRYPT}`: a `$6$` crypt(3) hash.
//! - `{BLF-CRYPT}`: a bcrypt `$2b$`/`$2y$` crypt(3) hash.
//! - `{SCRAM-SHA-256}`: Dovecot's `iterations,salt,StoredKey,ServerKey` (base64), the
//!   keys SCRAM-SHA-256 checks a proof with; PLAIN and LOGIN derive them from the
//!   password to compare (see `scram.rs`).
//! - `{CRYPT}` or no prefix: any hash the system's crypt(3) knows; Debian's libxcrypt
//!   includes yescrypt (`$y$`), which [`hash`] uses for `{CRYPT}`.
//!
//! crypt(3) comes from libxcrypt through `crypt_rn`, which keeps its state in a buffer
//! we pass (no static storage, so threads and tests may hash concurrently).

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_ulong, c_void};

use thiserror::Error;

use super::scram::ScramKeys;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("unknown password scheme {{{0}}}")]
    UnknownScheme(String),
    #[error("{0}: the stored hash does not match the scheme")]
    Mismatch(&'static str),
    #[error("crypt(3) cannot use this hash (unsupported method or malformed)")]
    Crypt,
    #[error("a password may not contain a NUL byte")]
    Nul,
}

/// The schemes we read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Plain,
    Sha512Crypt,
    BlfCrypt,
    /// Whatever crypt(3) understands; hashing uses yescrypt.
    Crypt,
    /// SCRAM-SHA-256 keys (RFC 5802/7677) in Dovecot's notation.
    ScramSha256,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Plain => "PLAIN",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Crypt => "CRYPT",
            Scheme::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    pub fn from_name(name: &str) -> Option<Scheme> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" | "CLEAR" | "CLEARTEXT" => Some(Scheme::Plain),
            "SHA512-CRYPT" => Some(Scheme::Sha512Crypt),
            "BLF-CRYPT" => Some(Scheme::BlfCrypt),
            "CRYPT" => Some(Scheme::Crypt),
            "SCRAM-SHA-256" => Some(Scheme::ScramSha256),
            _ => None,
        }
    }
}

/// Split `{SCHEME}secret`; no prefix means `{CRYPT}` (as in Dovecot's passwd-file).
pub fn split(stored: &str) -> Result<(Scheme, &str), PasswordError> {
    if let Some(rest) = stored.strip_prefix('{')
        && let Some(end) = rest.find('}')
    {
        let name = &rest[..end];
        let scheme =
            Scheme::from_name(name).ok_or_else(|| PasswordError::UnknownScheme(name.into()))?;
        return Ok((scheme, &rest[end + 1..]));
    }
    Ok((Scheme::Crypt, stored))
}

/// The cleartext when the stored password is `{PLAIN}` (for CRAM-MD5).
pub fn plain_secret(stored: &str) -> Option<&str> {
    match split(stored) {
        Ok((Scheme::Plain, secret)) => Some(secret),
        _ => None,
    }
}

/// Whether `password` matches `stored`. An empty stored secret never matches.
pub fn verify(stored: &str, password: &str) -> Result<bool, PasswordError> {
    let (scheme, secret) = split(stored)?;
    if secret.is_empty() {
        return Ok(false);
    }
    let expected = match scheme {
        Scheme::Plain => return Ok(constant_time_eq(secret.as_bytes(), password.as_bytes())),
        Scheme::ScramSha256 => {
            let keys = ScramKeys::parse(secret).ok_or(PasswordError::Mismatch("SCRAM-SHA-256"))?;
            return keys
                .matches_password(password.as_bytes())
                .map_err(|_| PasswordError::Crypt);
        }
        Scheme::Sha512Crypt if !secret.starts_with("$6$") => {
            return Err(PasswordError::Mismatch("SHA512-CRYPT"));
        }
        Scheme::BlfCrypt if !secret.starts_with("$2") => {
            return Err(PasswordError::Mismatch("BLF-CRYPT"));
        }
        _ => secret,
    };
    let computed = crypt(password, expected)?;
    Ok(constant_time_eq(computed.as_bytes(), expected.as_bytes()))
}

/// Hash `password` for storing, with the `{SCHEME}` prefix (tools and tests).
pub fn hash(scheme: Scheme, password: &str) -> Result<String, PasswordError> {
    let prefix = match scheme {
        Scheme::Plain => return Ok(format!("{{PLAIN}}{password}")),
        Scheme::ScramSha256 => {
            let keys =
                ScramKeys::generate(password.as_bytes()).map_err(|_| PasswordError::Crypt)?;
            return Ok(format!("{{SCRAM-SHA-256}}{}", keys.encode()));
        }
        Scheme::Sha512Crypt => "$6$",
        Scheme::BlfCrypt => "$2b$",
        Scheme::Crypt => "$y$",
    };
    let setting = gensalt(prefix)?;
    Ok(format!(
        "{{{}}}{}",
        scheme.name(),
        crypt(password, &setting)?
    ))
}

/// Compare without an early exit, so that timing does not tell how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

const CRYPT_DATA_SIZE: usize = 32768; // sizeof(struct crypt_data) in libxcrypt
const GENSALT_OUTPUT_SIZE: usize = 192;

#[link(name = "crypt")]
unsafe extern "C" {
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut c_void,
        size: c_int,
    ) -> *mut c_char;
    fn crypt_gensalt_rn(
        prefix: *const c_char,
        count: c_ulong,
        rbytes: *const c_char,
        nrbytes: c_int,
        output: *mut c_char,
        output_size: c_int,
    ) -> *mut c_char;
}

fn crypt(password: &str, setting: &str) -> Result<String, PasswordError> {
    let phrase = CString::new(password).map_err(|_| PasswordError::Nul)?;
    let setting = CString::new(setting).map_err(|_| PasswordError::Crypt)?;
    // Zeroed, as libxcrypt asks for a fresh struct crypt_data.
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    // SAFETY: both strings are NUL-terminated and outlive the call; `data` is a writable
    // buffer of exactly the size we pass, which is sizeof(struct crypt_data). crypt_rn
    // returns NULL or a NUL-terminated string inside `data`, read before `data` is freed.
    let hashed = unsafe {
        let out = crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            CRYPT_DATA_SIZE as c_int,
        );
        if out.is_null() {
            None
        } else {
            Some(CStr::from_ptr(out).to_string_lossy().into_owned())
        }
    };
    // The scratch area held key material.
    data.fill(0);
    match hashed {
        Some(h) if !h.starts_with('*') => Ok(h),
        _ => Err(PasswordError::Crypt),
    }
}

fn gensalt(prefix: &str) -> Result<String, PasswordError> {
    let prefix = CString::new(prefix).map_err(|_| PasswordError::Crypt)?;
    let mut out = vec![0u8; GENSALT_OUTPUT_SIZE];
    // SAFETY: `prefix` is NUL-terminated; a null `rbytes` makes libxcrypt take random
    // bytes from the OS; `out` is writable for the size passed. The result is NULL or a
    // NUL-terminated string inside `out`.
    let setting = unsafe {
        let p = crypt_gensalt_rn(
            prefix.as_ptr(),
            0,
            std::ptr::null(),
            0,
            out.as_mut_ptr().cast(),
            GENSALT_OUTPUT_SIZE as c_int,
        );
        if p.is_null() {
            return Err(PasswordError::Crypt);
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    Ok(setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        assert!(verify("{PLAIN}s3cret", "s3cret").unwrap());
        assert!(!verify("{PLAIN}s3cret", "s3cre").unwrap());
        assert!(verify("{cleartext}x", "x").unwrap());
        assert!(!verify("{PLAIN}", "").unwrap());
        assert_eq!(plain_secret("{PLAIN}abc"), Some("abc"));
        assert_eq!(plain_secret("{SHA512-CRYPT}$6$x$y"), None);
    }

    #[test]
    fn sha512_crypt_from_openssl_passwd() {
        let out = std::process::Command::new("openssl")
            .args(["passwd", "-6", "-salt", "postern", "correct horse"])
            .output()
            .expect("openssl passwd");
        assert!(out.status.success());
        let hashed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(hashed.starts_with("$6$postern$"));
        let stored = format!("{{SHA512-CRYPT}}{hashed}");
        assert!(verify(&stored, "correct horse").unwrap());
        assert!(!verify(&stored, "correct horse!").unwrap());
        // Without a prefix it is {CRYPT}, which takes any crypt(3) hash.
        assert!(verify(&hashed, "correct horse").unwrap());
    }

    #[test]
    fn hash_then_verify_every_scheme() {
        for scheme in [
            Scheme::Plain,
            Scheme::Sha512Crypt,
            Scheme::Crypt,
            Scheme::BlfCrypt,
            Scheme::ScramSha256,
        ] {
            let stored = match hash(scheme, "pässword") {
                Ok(s) => s,
                // bcrypt is optional in libxcrypt builds.
                Err(PasswordError::Crypt) if scheme == Scheme::BlfCrypt => continue,
                Err(e) => panic!("{scheme:?}: {e}"),
            };
            assert!(
                stored.starts_with(&format!("{{{}}}", scheme.name())),
                "{stored}"
            );
            assert!(verify(&stored, "pässword").unwrap(), "{stored}");
            assert!(!verify(&stored, "password").unwrap(), "{stored}");
        }
        assert!(hash(Scheme::Crypt, "x").unwrap().starts_with("{CRYPT}$y$"));
    }

    #[test]
    fn scram_secret_from_doveadm() {
        // `doveadm pw -s SCRAM-SHA-256` output for the password "pass".
        let stored = "{SCRAM-SHA-256}4096,kUUWnvu6LCpRsZ2kf2ET8Q==,\
                      gxa9gYcu7AKRFeHC78hBUcmzLXF1LXd0xJVbLnUT8RY=,\
                      P1Su/6jHm9awXwS3Y2RGr56KbooOKvcO7Jw6zNTx9k8=";
        assert!(verify(stored, "pass").unwrap());
        assert!(!verify(stored, "pass2").unwrap());
        assert_eq!(plain_secret(stored), None);
    }

    #[test]
    fn errors() {
        assert_eq!(
            verify("{MD5-CRYPT}$1$x", "x"),
            Err(PasswordError::UnknownScheme("MD5-CRYPT".into()))
        );
        assert_eq!(
            verify("{SHA512-CRYPT}$y$abc", "x"),
            Err(PasswordError::Mismatch("SHA512-CRYPT"))
        );
        assert_eq!(verify("{CRYPT}!locked", "x"), Err(PasswordError::Crypt));
        assert_eq!(verify("{PLAIN}a", "a\0b"), Ok(false));
        assert_eq!(
            verify("{SCRAM-SHA-256}4096,c2FsdA==,AAAA,AAAA", "x"),
            Err(PasswordError::Mismatch("SCRAM-SHA-256"))
        );
    }
}
