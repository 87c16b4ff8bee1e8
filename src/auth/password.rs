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
            return Ok(keys.matches_password(password.as_bytes()));
        }
        Scheme::Sha512Crypt if !secret.starts_with("$6$") => {
            return Err(PasswordError::Mismatch("SHA512-CRYPT"));
        }
        Scheme::BlfCrypt if !secret.starts_with("$2") => {
            return Err(PasswordError::Mismatch("BLF-CRYPT"));
        }
        _ => secret,
    };
    if !crypt_can_take(password) {
        // The client's doing, not a broken hash: a wrong password like any other.
        return Ok(false);
    }
    let computed = crypt(password, expected)?;
    Ok(constant_time_eq(computed.as_bytes(), expected.as_bytes()))
}

/// libxcrypt refuses passphrases of this many bytes or more (`CRYPT_MAX_PASSPHRASE_SIZE`).
pub const CRYPT_MAX_PASSPHRASE_SIZE: usize = 512;

/// Whether crypt(3) can hash `password` at all: C strings end at NUL, and libxcrypt
/// refuses long passphrases. A password it cannot take matches no crypt hash, so
/// [`verify`] answers `false` for it instead of an error that would look like a broken
/// user file (and be logged as one on every attempt).
pub fn crypt_can_take(password: &str) -> bool {
    password.len() < CRYPT_MAX_PASSPHRASE_SIZE && !password.contains('\0')
}

/// The scheme and cost parameters of a stored secret: what decides how long checking a
/// password against it takes, e.g. `SHA512-CRYPT $6$rounds=10000`, `CRYPT $y$j9T`,
/// `BLF-CRYPT $2b$12`, `SCRAM-SHA-256 4096`, `PLAIN`. `None` when the secret is not one
/// this module can check.
pub fn cost(stored: &str) -> Option<String> {
    let (scheme, secret) = split(stored).ok()?;
    let parameters = match scheme {
        Scheme::Plain => return Some(scheme.name().to_owned()),
        Scheme::ScramSha256 => ScramKeys::parse(secret)?.iterations.to_string(),
        Scheme::Sha512Crypt | Scheme::BlfCrypt | Scheme::Crypt => crypt_cost(secret)?,
    };
    Some(format!("{} {parameters}", scheme.name()))
}

/// The method and cost fields of a crypt(3) hash (`$id$[params$]salt$hash`; bcrypt's
/// `$2b$NN$` carries salt and hash in one field; traditional DES has no fields at all).
fn crypt_cost(secret: &str) -> Option<String> {
    if secret.starts_with("$2") {
        let fields: Vec<&str> = secret.splitn(4, '$').collect();
        let well_formed = fields.len() == 4
            && fields[1].len() <= 2
            && fields[2].len() == 2
            && fields[2].bytes().all(|b| b.is_ascii_digit());
        return well_formed.then(|| format!("${}${}", fields[1], fields[2]));
    }
    if !secret.starts_with('$') {
        return (secret.len() == 13).then(|| "DES".to_owned());
    }
    let fields: Vec<&str> = secret.split('$').collect();
    // "", id, [params...], salt, hash
    if fields.len() < 4 || fields[1].is_empty() {
        return None;
    }
    let parameters = &fields[2..fields.len() - 2];
    Some(if parameters.is_empty() {
        format!("${}$", fields[1])
    } else {
        format!("${}${}", fields[1], parameters.join("$"))
    })
}

/// A stored secret that costs exactly what `stored` costs to check (same scheme, cost
/// parameters and salt) but holds no account's hash: the hash part is filler that no
/// password produces. Checking an unknown user's password against it makes a failed
/// login as slow as one for a real account. `None` when `stored` is not checkable.
pub fn decoy(stored: &str) -> Option<String> {
    let (scheme, secret) = split(stored).ok()?;
    cost(stored)?;
    // Hashes are ASCII; anything else is no hash (and must not be sliced by byte).
    if scheme != Scheme::Plain && !secret.is_ascii() {
        return None;
    }
    let filler = |kept: usize| format!("{}{}", &secret[..kept], ".".repeat(secret.len() - kept));
    let secret = match scheme {
        Scheme::Plain => ".".repeat(secret.len().max(1)),
        Scheme::ScramSha256 => {
            let mut keys = ScramKeys::parse(secret)?;
            keys.stored_key.fill(0);
            keys.server_key.fill(0);
            keys.encode()
        }
        // "$2b$NN$" and 22 characters of salt; the rest is the hash.
        _ if secret.starts_with("$2") => filler(secret.len().min(29)),
        _ if secret.starts_with('$') => filler(secret.rfind('$')? + 1),
        // Traditional DES: two characters of salt.
        _ => filler(2),
    };
    Some(format!("{{{}}}{secret}", scheme.name()))
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
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
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
    fn passwords_crypt_cannot_take_are_wrong_passwords() {
        let stored = hash(Scheme::Sha512Crypt, "x").unwrap();
        let long = "a".repeat(CRYPT_MAX_PASSPHRASE_SIZE);
        let just_fits = "a".repeat(CRYPT_MAX_PASSPHRASE_SIZE - 1);
        assert_eq!(verify(&stored, &long), Ok(false));
        assert_eq!(verify(&stored, &"a".repeat(600)), Ok(false));
        assert_eq!(verify(&stored, "x\0y"), Ok(false));
        assert_eq!(verify(&stored, "x\0"), Ok(false));
        assert_eq!(verify(&stored, &just_fits), Ok(false));
        let long_one = hash(Scheme::Crypt, &just_fits).unwrap();
        assert_eq!(verify(&long_one, &just_fits), Ok(true));
        // PLAIN and SCRAM take any password; a broken hash is still the server's error.
        assert_eq!(verify(&format!("{{PLAIN}}{long}"), &long), Ok(true));
        assert_eq!(verify("{CRYPT}!locked", "x"), Err(PasswordError::Crypt));
    }

    #[test]
    fn cost_names_scheme_and_parameters() {
        let cases = [
            ("{SHA512-CRYPT}$6$salt$hash", "SHA512-CRYPT $6$"),
            (
                "{SHA512-CRYPT}$6$rounds=20000$salt$hash",
                "SHA512-CRYPT $6$rounds=20000",
            ),
            ("$y$j9T$salt$hash", "CRYPT $y$j9T"),
            ("{CRYPT}$y$jBT$salt$hash", "CRYPT $y$jBT"),
            (
                "{BLF-CRYPT}$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz12345",
                "BLF-CRYPT $2b$12",
            ),
            ("{CRYPT}.hIXzQpfIsoRA", "CRYPT DES"),
            ("{PLAIN}x", "PLAIN"),
        ];
        for (stored, want) in cases {
            assert_eq!(cost(stored).as_deref(), Some(want), "{stored}");
        }
        assert_eq!(cost("{CRYPT}!locked"), None);
        assert_eq!(cost("{BLF-CRYPT}$2b$x$abc"), None);
        assert_eq!(cost("{NTLM}x"), None);
    }

    /// A decoy does the same work as the hash it imitates: crypt(3) with the decoy as
    /// setting gives the very hash of the account, so the parameters and salt are the
    /// same; and the decoy itself matches no password.
    #[test]
    fn decoys_cost_what_the_original_costs() {
        let mut stored: Vec<String> = ["$6$rounds=7000$", "$y$", "$2b$", "$5$", "$1$"]
            .iter()
            .filter_map(|prefix| {
                let setting = gensalt(prefix).ok()?;
                Some(format!("{{CRYPT}}{}", crypt("pw", &setting).ok()?))
            })
            .collect();
        assert!(stored.len() >= 3, "{stored:?}");
        stored.push(hash(Scheme::Sha512Crypt, "pw").unwrap());
        stored.push(hash(Scheme::ScramSha256, "pw").unwrap());
        for original in &stored {
            let decoy = decoy(original).unwrap();
            assert_eq!(cost(&decoy), cost(original), "{original} -> {decoy}");
            assert_eq!(decoy.len(), original.len(), "{decoy}");
            assert_ne!(&decoy, original);
            assert_eq!(verify(&decoy, "pw"), Ok(false), "{decoy}");
            let (scheme, secret) = split(original).unwrap();
            if scheme != Scheme::ScramSha256 {
                let (_, decoy_setting) = split(&decoy).unwrap();
                assert_eq!(crypt("pw", decoy_setting).unwrap(), secret, "{decoy}");
            }
        }
        assert_eq!(decoy("{PLAIN}abc").as_deref(), Some("{PLAIN}..."));
        assert_eq!(decoy("{CRYPT}!locked"), None);
        assert_eq!(decoy("{CRYPT}$2b$12$ééééééééééééééééééééééééééééééé"), None);
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
