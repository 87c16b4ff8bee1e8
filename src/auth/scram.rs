//! SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash), server side, without channel binding
//! (no `-PLUS` variant is offered, so a client that asks for binding with `p=` is refused).
//!
//! The exchange, as the SASL layer in `sasl.rs` drives it:
//!
//! 1. client-first `gs2-header n=user,r=cnonce[,ext]`: [`parse_client_first`];
//! 2. the caller looks the user's keys up (`auth::scram_lookup`) and we answer with
//!    server-first `r=cnonce+snonce,s=salt,i=iterations`: [`ServerFirst::new`];
//! 3. client-final `c=base64(gs2-header),r=nonce[,ext],p=ClientProof`:
//!    [`ServerFirst::verify`], which on success gives server-final `v=ServerSignature`;
//! 4. the client answers that with an empty response and the login completes.
//!
//! On a failed proof the exchange ends at once with the protocol's failure reply and no
//! server-final message (RFC 5802 §5.1 makes it optional on failure; an `e=` message would
//! cost a round trip that the client could cancel). The [`Final::Failed`] reason is the
//! RFC's `e=` value, for the log.
//!
//! Keys: SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i), ClientKey =
//! HMAC(SaltedPassword, "Client Key"), StoredKey = SHA-256(ClientKey), ServerKey =
//! HMAC(SaltedPassword, "Server Key"). Dovecot stores them as
//! `{SCRAM-SHA-256}i,base64(salt),base64(StoredKey),base64(ServerKey)`, which
//! [`ScramKeys::parse`] and [`ScramKeys::encode`] read and write.
//!
//! Passwords and user names are used as the client sends them (UTF-8 bytes), without
//! SASLprep: ASCII passwords are unaffected; a non-ASCII password works as long as client
//! and stored secret agree on its normalization.

use std::io;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::sasl::{SaslError, base64_decode, base64_encode};

/// The mechanism's name.
pub const NAME: &str = "SCRAM-SHA-256";
/// The iteration count for new secrets and for keys derived from `{PLAIN}` secrets
/// (RFC 7677 §4: at least 4096).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// More than this in a stored secret is taken for a typo (each login would burn seconds).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Bytes of random salt in new secrets.
pub const SALT_LEN: usize = 16;

const KEY_LEN: usize = 32;

/// What the server keeps for one account: enough to check a proof and sign the answer,
/// not enough to log in as the user.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; KEY_LEN],
    pub server_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .field("salt", &base64_encode(&self.salt))
            .finish_non_exhaustive()
    }
}

impl ScramKeys {
    /// The keys for `password` with `salt` and `iterations`.
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
        let mut salted = [0u8; KEY_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let server_key = hmac(&salted, b"Server Key");
        salted.fill(0);
        ScramKeys {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key,
        }
    }

    /// New keys for `password` with a random salt and [`DEFAULT_ITERATIONS`].
    pub fn generate(password: &[u8]) -> io::Result<ScramKeys> {
        let mut salt = [0u8; SALT_LEN];
        crate::random::fill(&mut salt)?;
        Ok(ScramKeys::derive(password, &salt, DEFAULT_ITERATIONS))
    }

    /// Dovecot's notation without the `{SCRAM-SHA-256}` prefix:
    /// `iterations,salt,StoredKey,ServerKey` (base64). `None` if malformed.
    pub fn parse(secret: &str) -> Option<ScramKeys> {
        let mut parts = secret.split(',');
        let (Some(i), Some(salt), Some(stored), Some(server), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let iterations: u32 = i.parse().ok()?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) || !i.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let salt = unb64(salt)?;
        if salt.is_empty() {
            return None;
        }
        Some(ScramKeys {
            iterations,
            salt,
            stored_key: unb64(stored)?.try_into().ok()?,
            server_key: unb64(server)?.try_into().ok()?,
        })
    }

    /// The inverse of [`ScramKeys::parse`].
    pub fn encode(&self) -> String {
        format!(
            "{},{},{},{}",
            self.iterations,
            base64_encode(&self.salt),
            base64_encode(&self.stored_key),
            base64_encode(&self.server_key)
        )
    }

    /// Whether `password` gives these keys (for PLAIN and LOGIN against a stored
    /// SCRAM secret). Costs one PBKDF2 run.
    pub fn matches_password(&self, password: &[u8]) -> bool {
        let other = ScramKeys::derive(password, &self.salt, self.iterations);
        super::password::constant_time_eq(&other.stored_key, &self.stored_key)
            & super::password::constant_time_eq(&other.server_key, &self.server_key)
    }
}

/// The salt for keys derived on the fly from a `{PLAIN}` secret, and for the decoy keys of
/// unknown users: the same for a user name every time, so that a client may cache its
/// SaltedPassword and an unknown user looks like a `{PLAIN}` one.
///
/// The trade-off: it is computable by anyone (no server secret goes in), so an attacker
/// can precompute for a given user name, and can tell an account with a stored
/// `{SCRAM-SHA-256}` secret (random salt) from the others. Store `{SCRAM-SHA-256}` secrets
/// to avoid both.
pub fn derived_salt(user: &str) -> Vec<u8> {
    let mut input = b"postern SCRAM-SHA-256 salt\0".to_vec();
    input.extend_from_slice(user.as_bytes());
    Sha256::digest(&input)[..SALT_LEN].to_vec()
}

/// Keys derived from a cleartext (`{PLAIN}`) secret: [`derived_salt`], 4096 iterations.
pub fn keys_from_plain(user: &str, password: &str) -> ScramKeys {
    ScramKeys::derive(password.as_bytes(), &derived_salt(user), DEFAULT_ITERATIONS)
}

/// Keys no proof matches (random password), at the cost of real ones, for users who
/// cannot log in with SCRAM: the exchange runs to the end and fails like a wrong password.
pub fn decoy_keys(user: &str) -> io::Result<ScramKeys> {
    let mut password = [0u8; 32];
    crate::random::fill(&mut password)?;
    Ok(ScramKeys::derive(
        &password,
        &derived_salt(user),
        DEFAULT_ITERATIONS,
    ))
}

/// Why an exchange must fail whatever the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown user, or no usable password: like a wrong password.
    Failed,
    /// The account's secret cannot do SCRAM (a crypt(3) hash).
    MechanismUnavailable,
}

/// The keys for one exchange, from `auth::scram_lookup`. Only the auth module makes these,
/// so that a protocol session cannot hand in keys of its own.
#[derive(Debug, Clone)]
pub struct ScramLookup {
    pub(in crate::auth) keys: ScramKeys,
    pub(in crate::auth) refusal: Option<Refusal>,
}

/// The parsed client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The login (`n=`, unescaped).
    pub user: String,
    /// `n,,` or `y,,` (or with `a=`), as sent: `c=` must repeat it.
    gs2_header: String,
    nonce: String,
    /// client-first-message-bare, as sent: part of AuthMessage.
    bare: String,
}

fn malformed(reason: &'static str) -> SaslError {
    SaslError::Malformed {
        mechanism: NAME,
        reason,
    }
}

/// `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is an error
/// (RFC 5802 `e=invalid-username-encoding`).
fn unescape_saslname(name: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3);
        match code {
            Some(c) if c.eq_ignore_ascii_case("2C") => out.push(','),
            Some(c) if c.eq_ignore_ascii_case("3D") => out.push('='),
            _ => {
                return Err(malformed(
                    "bad escape in a user name (invalid-username-encoding)",
                ));
            }
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A nonce is printable ASCII without `,`.
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Parse client-first (step 1).
pub fn parse_client_first(message: &[u8]) -> Result<ClientFirst, SaslError> {
    let message =
        std::str::from_utf8(message).map_err(|_| malformed("not UTF-8 (invalid-encoding)"))?;
    let mut parts = message.splitn(3, ',');
    let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(
            "expected a GS2 header and client-first-message-bare",
        ));
    };
    match flag {
        "n" | "y" => {}
        _ if flag.starts_with("p=") => {
            return Err(SaslError::ChannelBinding(flag[2..].to_owned()));
        }
        _ => return Err(malformed("bad channel binding flag in the GS2 header")),
    }
    let gs2_header = format!("{flag},{authzid},");
    let authzid = match authzid {
        "" => None,
        a => match a.strip_prefix("a=") {
            Some(name) => Some(unescape_saslname(name)?),
            None => return Err(malformed("bad authorization identity in the GS2 header")),
        },
    };
    let mut attrs = bare.split(',');
    let user = match attrs.next() {
        Some(m) if m.starts_with("m=") => {
            return Err(malformed(
                "mandatory extension not supported (extensions-not-supported)",
            ));
        }
        Some(n) => match n.strip_prefix("n=") {
            Some(name) => unescape_saslname(name)?,
            None => return Err(malformed("expected n=user")),
        },
        None => return Err(malformed("expected n=user")),
    };
    if user.is_empty() {
        return Err(malformed("empty user name"));
    }
    let nonce = match attrs.next().and_then(|r| r.strip_prefix("r=")) {
        Some(nonce) if valid_nonce(nonce) => nonce.to_owned(),
        _ => return Err(malformed("expected r=nonce (printable, no comma)")),
    };
    // Optional extensions after the nonce are ignored, as RFC 5802 §5.1 allows.
    if let Some(authzid) = authzid
        && authzid != user
    {
        return Err(SaslError::Authzid(authzid));
    }
    Ok(ClientFirst {
        user,
        gs2_header,
        nonce,
        bare: bare.to_owned(),
    })
}

/// The outcome of client-final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    /// The proof is right: send this server-final message (`v=...`).
    Proven(String),
    /// It is not; the RFC 5802 `e=` value that says why (for the log only).
    Failed(&'static str),
}

/// The server's side after server-first (step 2), waiting for client-final.
#[derive(Debug, Clone)]
pub struct ServerFirst {
    client: ClientFirst,
    /// Client nonce + server nonce.
    nonce: String,
    message: String,
    keys: ScramKeys,
}

impl ServerFirst {
    /// Server-first for `client` with a fresh random server nonce.
    pub fn new(client: ClientFirst, keys: ScramKeys) -> io::Result<ServerFirst> {
        let mut random = [0u8; 18];
        crate::random::fill(&mut random)?;
        Ok(ServerFirst::with_nonce(
            client,
            keys,
            &base64_encode(&random),
        ))
    }

    /// Server-first with a given server nonce (tests; [`ServerFirst::new`] otherwise).
    pub fn with_nonce(client: ClientFirst, keys: ScramKeys, server_nonce: &str) -> ServerFirst {
        let nonce = format!("{}{server_nonce}", client.nonce);
        let message = format!(
            "r={nonce},s={},i={}",
            base64_encode(&keys.salt),
            keys.iterations
        );
        ServerFirst {
            client,
            nonce,
            message,
            keys,
        }
    }

    /// The server-first message to send.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn user(&self) -> &str {
        &self.client.user
    }

    /// Check client-final (step 3). `Err` for a message that does not parse; a parsed one
    /// that fails (binding, nonce or proof) is `Ok(Final::Failed)`.
    pub fn verify(&self, message: &[u8]) -> Result<Final, SaslError> {
        let message =
            std::str::from_utf8(message).map_err(|_| malformed("not UTF-8 (invalid-encoding)"))?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("expected the proof p= last"))?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or_else(|| malformed("expected c=channel-binding first"))?;
        let nonce = attrs
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or_else(|| malformed("expected r=nonce second"))?;
        let binding = unb64(binding).ok_or_else(|| malformed("c= is not base64"))?;
        let proof = unb64(proof).ok_or_else(|| malformed("p= is not base64"))?;

        if binding != self.client.gs2_header.as_bytes() {
            return Ok(Final::Failed("channel-bindings-dont-match"));
        }
        if !super::password::constant_time_eq(nonce.as_bytes(), self.nonce.as_bytes()) {
            return Ok(Final::Failed("other-error"));
        }
        if proof.len() != KEY_LEN {
            return Ok(Final::Failed("invalid-proof"));
        }
        let auth_message = format!("{},{},{without_proof}", self.client.bare, self.message);
        let signature = hmac(&self.keys.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; KEY_LEN];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let stored: [u8; KEY_LEN] = Sha256::digest(client_key).into();
        if !super::password::constant_time_eq(&stored, &self.keys.stored_key) {
            return Ok(Final::Failed("invalid-proof"));
        }
        let server_signature = hmac(&self.keys.server_key, auth_message.as_bytes());
        Ok(Final::Proven(format!(
            "v={}",
            base64_encode(&server_signature)
        )))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Strict base64 (no whitespace); `None` if invalid.
fn unb64(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    base64_decode(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 §3: user "user", password "pencil".
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_keys() -> ScramKeys {
        ScramKeys::derive(b"pencil", &unb64(SALT).unwrap(), 4096)
    }

    fn rfc_server() -> ServerFirst {
        let client = parse_client_first(CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(client.user, "user");
        ServerFirst::with_nonce(client, rfc_keys(), SERVER_NONCE)
    }

    #[test]
    fn rfc7677_vector() {
        let server = rfc_server();
        assert_eq!(server.message(), SERVER_FIRST);
        assert_eq!(
            server.verify(CLIENT_FINAL.as_bytes()).unwrap(),
            Final::Proven(SERVER_FINAL.into())
        );
        // The same keys in Dovecot's notation (as `doveadm pw -s SCRAM-SHA-256` makes).
        let encoded = rfc_keys().encode();
        assert_eq!(
            encoded,
            "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,\
             wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
        assert_eq!(ScramKeys::parse(&encoded).unwrap(), rfc_keys());
        assert!(rfc_keys().matches_password(b"pencil"));
        assert!(!rfc_keys().matches_password(b"pencil "));
    }

    #[test]
    fn tampering_fails() {
        let server = rfc_server();
        // Another nonce (the client's part kept).
        let other_nonce = CLIENT_FINAL.replace("$k0", "$k1");
        assert_eq!(
            server.verify(other_nonce.as_bytes()).unwrap(),
            Final::Failed("other-error")
        );
        // A flipped proof bit.
        let bad_proof = CLIENT_FINAL.replace("p=dHzb", "p=dHzc");
        assert_eq!(
            server.verify(bad_proof.as_bytes()).unwrap(),
            Final::Failed("invalid-proof")
        );
        // c= claims "y,," while the client sent "n,,".
        let wrong_binding = CLIENT_FINAL.replace("c=biws", "c=eSws");
        assert_eq!(
            server.verify(wrong_binding.as_bytes()).unwrap(),
            Final::Failed("channel-bindings-dont-match")
        );
        // The wrong password's keys.
        let client = parse_client_first(CLIENT_FIRST.as_bytes()).unwrap();
        let keys = ScramKeys::derive(b"pencil2", &unb64(SALT).unwrap(), 4096);
        let server = ServerFirst::with_nonce(client, keys, SERVER_NONCE);
        assert_eq!(
            server.verify(CLIENT_FINAL.as_bytes()).unwrap(),
            Final::Failed("invalid-proof")
        );
        assert!(server.verify(b"c=biws,r=x").is_err());
        assert!(server.verify(b"r=x,c=biws,p=AAAA").is_err());
        assert!(server.verify(b"c=!!,r=x,p=AAAA").is_err());
    }

    #[test]
    fn client_first_forms() {
        let c = parse_client_first(b"y,,n=a=3Db=2Cc,r=abc,x=ext").unwrap();
        assert_eq!(c.user, "a=b,c");
        assert_eq!(c.gs2_header, "y,,");
        assert_eq!(c.bare, "n=a=3Db=2Cc,r=abc,x=ext");
        let c = parse_client_first(b"n,a=tim,n=tim,r=abc").unwrap();
        assert_eq!(c.gs2_header, "n,a=tim,");
        assert_eq!(
            parse_client_first(b"n,a=root,n=tim,r=abc"),
            Err(SaslError::Authzid("root".into()))
        );
        assert_eq!(
            parse_client_first(b"p=tls-unique,,n=tim,r=abc"),
            Err(SaslError::ChannelBinding("tls-unique".into()))
        );
        for bad in [
            &b""[..],
            b"n,,",
            b"n,,n=,r=abc",
            b"n,,n=tim",
            b"n,,n=tim,r=",
            b"n,,n=t=2Xm,r=abc",
            b"n,,m=ext,n=tim,r=abc",
            b"x,,n=tim,r=abc",
            b"n,,r=abc,n=tim",
            b"n,,n=tim,r=a\x01c",
            b"n,,n=\xff,r=abc",
        ] {
            assert!(
                matches!(parse_client_first(bad), Err(SaslError::Malformed { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn authzid_binding_round_trip() {
        // With a=, c= must be the base64 of "n,a=user,".
        let client = parse_client_first(b"n,a=user,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let server = ServerFirst::with_nonce(client, rfc_keys(), SERVER_NONCE);
        let plain = CLIENT_FINAL.replace("c=biws", &format!("c={}", base64_encode(b"n,a=user,")));
        // The proof was computed for other text, so it fails, but on the proof, not on c=.
        assert_eq!(
            server.verify(plain.as_bytes()).unwrap(),
            Final::Failed("invalid-proof")
        );
        assert_eq!(
            server.verify(CLIENT_FINAL.as_bytes()).unwrap(),
            Final::Failed("channel-bindings-dont-match")
        );
    }

    #[test]
    fn stored_secret_parsing() {
        // Dovecot's own test secret for the password "test".
        let keys = ScramKeys::parse(
            "4096,LfNGSFqiFykEZ1xDAYlnKQ==,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,\
             AQH0j7Hf8J12g8eNBadvzlNB2am3PxgNwFCFd3RxEaw=",
        )
        .unwrap();
        assert!(keys.matches_password(b"test"));
        for bad in [
            "",
            "4096,c2FsdA==,AAAA,AAAA",
            "0,c2FsdA==,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=",
            "+4096,c2FsdA==,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=",
            "4096,,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=",
            "4096,c2FsdA==,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=",
            "4096,c2FsdA==,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,x",
        ] {
            assert_eq!(ScramKeys::parse(bad), None, "{bad}");
        }
        let fresh = ScramKeys::generate(b"pw").unwrap();
        assert_eq!(fresh.salt.len(), SALT_LEN);
        assert_eq!(fresh.iterations, DEFAULT_ITERATIONS);
        assert_ne!(fresh.salt, ScramKeys::generate(b"pw").unwrap().salt);
        assert!(!format!("{fresh:?}").contains(&base64_encode(&fresh.stored_key)));
    }

    #[test]
    fn derived_keys_are_stable_per_user() {
        assert_eq!(keys_from_plain("tim", "pw"), keys_from_plain("tim", "pw"));
        assert_ne!(derived_salt("tim"), derived_salt("tom"));
        let decoy = decoy_keys("tim").unwrap();
        assert_eq!(decoy.salt, derived_salt("tim"));
        assert_ne!(decoy, keys_from_plain("tim", ""));
    }
}
