//! SASL server mechanisms, protocol-neutral: IMAP `AUTHENTICATE` and POP3 `AUTH` carry
//! the base64 text; these step functions see decoded bytes and end with a user name and
//! a credential to check.
//!
//! - PLAIN (RFC 4616): `authzid NUL authcid NUL password`; we act as nobody else, so
//!   authzid must be empty or the same as authcid.
//! - LOGIN (draft-murchison-sasl-login): challenges `Username:` and `Password:`.
//! - CRAM-MD5 (RFC 2195): challenge `<random.time@host>`, response `user hexdigest`;
//!   needs the cleartext (`{PLAIN}`) secret to check. CRAM-SHA256 is the same exchange
//!   with HMAC-SHA256 (as Courier and Cyrus offer it).
//! - SCRAM-SHA-256 (RFC 5802, RFC 7677; see `scram.rs`): client-first, then
//!   [`Step::NeedKeys`] for the caller to look the user's keys up, server-first,
//!   client-final (the proof is checked here), server-final `v=`, an empty response.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use thiserror::Error;

use super::scram::{self, Final, Refusal, ScramLookup, ServerFirst};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SaslError {
    #[error("the client cancelled the exchange")]
    Cancelled,
    #[error("invalid base64")]
    Base64,
    #[error("malformed {mechanism} response: {reason}")]
    Malformed {
        mechanism: &'static str,
        reason: &'static str,
    },
    #[error("{0} does not take an initial response")]
    NoInitialResponse(&'static str),
    #[error("the exchange is already over")]
    Finished,
    #[error("channel binding ({0}) is not supported; use SCRAM without -PLUS")]
    ChannelBinding(String),
    #[error("the server cannot compute its SCRAM answer")]
    Internal,
    #[error(
        "authorization identity {0:?} differs from the login; acting as another user is not supported"
    )]
    Authzid(String),
}

/// The mechanisms we offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
    CramSha256,
    ScramSha256,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::CramSha256 => "CRAM-SHA256",
            Mechanism::ScramSha256 => scram::NAME,
        }
    }

    /// Mechanism names are case-insensitive.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::CramSha256,
            Mechanism::ScramSha256,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// What the client proved it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Password(String),
    /// CRAM-MD5 / CRAM-SHA256: the challenge we sent and the lowercase hex HMAC the
    /// client sent.
    CramResponse {
        mechanism: Mechanism,
        challenge: String,
        digest: String,
    },
    /// SCRAM-SHA-256: the exchange checked the proof itself, against keys from
    /// `auth::scram_lookup`.
    Scram(ScramVerdict),
}

/// How a SCRAM exchange ended. Only the auth module makes these: a protocol session can
/// pass one on but not claim a proof it did not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramVerdict(pub(in crate::auth) Verdict);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::auth) enum Verdict {
    Proven,
    /// A wrong proof, nonce or channel binding: RFC 5802's `e=` value.
    Failed(&'static str),
    Refused(Refusal),
}

/// What the server says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (the protocol base64-encodes it) and wait for a response.
    Challenge(Vec<u8>),
    /// The exchange is complete: check `credential` for `user`.
    Done {
        user: String,
        credential: Credential,
    },
    /// SCRAM: look `user`'s keys up with `auth::scram_lookup` and pass them to
    /// [`Exchange::scram_keys`], which gives the next step.
    NeedKeys { user: String },
}

#[derive(Debug)]
enum State {
    Start,
    PlainWaiting,
    LoginUser,
    LoginPassword(String),
    CramWaiting(String),
    ScramFirst,
    ScramKeys(scram::ClientFirst),
    ScramFinal(Box<ServerFirst>, Option<Refusal>),
    /// Server-final sent; the client's empty response completes the login.
    ScramAck(String),
    Finished,
}

/// One server-side exchange.
#[derive(Debug)]
pub struct Exchange {
    mechanism: Mechanism,
    host: String,
    state: State,
}

fn text(mechanism: &'static str, bytes: &[u8]) -> Result<String, SaslError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::Malformed {
        mechanism,
        reason: "not UTF-8",
    })
}

impl Exchange {
    /// `host` names us in the CRAM-MD5 challenge.
    pub fn new(mechanism: Mechanism, host: &str) -> Exchange {
        Exchange {
            mechanism,
            host: host.to_owned(),
            state: State::Start,
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The first step, with the client's initial response if it sent one (SASL-IR, or
    /// POP3 `AUTH mech resp`). An empty initial response is `Some(b"")`.
    pub fn start(&mut self, initial: Option<&[u8]>) -> Result<Step, SaslError> {
        if !matches!(self.state, State::Start) {
            return Err(SaslError::Finished);
        }
        match (self.mechanism, initial) {
            (Mechanism::Plain, Some(resp)) => self.plain(resp),
            (Mechanism::Plain, None) => {
                self.state = State::PlainWaiting;
                Ok(Step::Challenge(Vec::new()))
            }
            (Mechanism::Login, Some(user)) if !user.is_empty() => {
                let user = text("LOGIN", user)?;
                self.state = State::LoginPassword(user);
                Ok(Step::Challenge(b"Password:".to_vec()))
            }
            (Mechanism::Login, _) => {
                self.state = State::LoginUser;
                Ok(Step::Challenge(b"Username:".to_vec()))
            }
            (Mechanism::CramMd5 | Mechanism::CramSha256, Some(_)) => {
                self.state = State::Finished;
                Err(SaslError::NoInitialResponse(self.mechanism.name()))
            }
            (Mechanism::CramMd5 | Mechanism::CramSha256, None) => {
                let challenge = cram_challenge(&self.host);
                self.state = State::CramWaiting(challenge.clone());
                Ok(Step::Challenge(challenge.into_bytes()))
            }
            (Mechanism::ScramSha256, Some(first)) => self.scram_first(first),
            (Mechanism::ScramSha256, None) => {
                self.state = State::ScramFirst;
                Ok(Step::Challenge(Vec::new()))
            }
        }
    }

    fn scram_first(&mut self, message: &[u8]) -> Result<Step, SaslError> {
        self.state = State::Finished;
        let first = scram::parse_client_first(message)?;
        let user = first.user.clone();
        self.state = State::ScramKeys(first);
        Ok(Step::NeedKeys { user })
    }

    /// SCRAM: the keys [`Step::NeedKeys`] asked for; gives the server-first challenge.
    pub fn scram_keys(&mut self, lookup: ScramLookup) -> Result<Step, SaslError> {
        let State::ScramKeys(first) = std::mem::replace(&mut self.state, State::Finished) else {
            return Err(SaslError::Finished);
        };
        let server = ServerFirst::new(first, lookup.keys).map_err(|_| SaslError::Internal)?;
        let challenge = server.message().as_bytes().to_vec();
        self.state = State::ScramFinal(Box::new(server), lookup.refusal);
        Ok(Step::Challenge(challenge))
    }

    /// The client's (decoded) response to our last challenge.
    pub fn step(&mut self, response: &[u8]) -> Result<Step, SaslError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PlainWaiting => self.plain(response),
            State::LoginUser => {
                let user = text("LOGIN", response)?;
                self.state = State::LoginPassword(user);
                Ok(Step::Challenge(b"Password:".to_vec()))
            }
            State::LoginPassword(user) => Ok(Step::Done {
                user,
                credential: Credential::Password(text("LOGIN", response)?),
            }),
            State::CramWaiting(challenge) => {
                let name = self.mechanism.name();
                let response = text(name, response)?;
                let malformed = |reason| SaslError::Malformed {
                    mechanism: name,
                    reason,
                };
                let (user, digest) = response
                    .rsplit_once(' ')
                    .ok_or_else(|| malformed("expected `user digest`"))?;
                let hex_len = if self.mechanism == Mechanism::CramSha256 {
                    64
                } else {
                    32
                };
                if digest.len() != hex_len || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(malformed("the digest has the wrong length or is not hex"));
                }
                if user.is_empty() {
                    return Err(malformed("empty user name"));
                }
                Ok(Step::Done {
                    user: user.to_owned(),
                    credential: Credential::CramResponse {
                        mechanism: self.mechanism,
                        challenge,
                        digest: digest.to_ascii_lowercase(),
                    },
                })
            }
            State::ScramFirst => self.scram_first(response),
            State::ScramFinal(server, refusal) => {
                let verdict = match (server.verify(response)?, refusal) {
                    (_, Some(refusal)) => Verdict::Refused(refusal),
                    (Final::Failed(why), None) => Verdict::Failed(why),
                    (Final::Proven(server_final), None) => {
                        self.state = State::ScramAck(server.user().to_owned());
                        return Ok(Step::Challenge(server_final.into_bytes()));
                    }
                };
                Ok(Step::Done {
                    user: server.user().to_owned(),
                    credential: Credential::Scram(ScramVerdict(verdict)),
                })
            }
            State::ScramAck(user) => {
                if !response.is_empty() {
                    return Err(SaslError::Malformed {
                        mechanism: scram::NAME,
                        reason: "expected an empty response to the server signature",
                    });
                }
                Ok(Step::Done {
                    user,
                    credential: Credential::Scram(ScramVerdict(Verdict::Proven)),
                })
            }
            State::Start | State::Finished | State::ScramKeys(_) => Err(SaslError::Finished),
        }
    }

    fn plain(&mut self, message: &[u8]) -> Result<Step, SaslError> {
        self.state = State::Finished;
        let malformed = |reason| SaslError::Malformed {
            mechanism: "PLAIN",
            reason,
        };
        // RFC 4616 allows no NUL in the password; one there makes a password that no
        // account has (a failed login like any wrong password), not a malformed message.
        let mut parts = message.splitn(3, |&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected authzid NUL user NUL password"));
        };
        let user = text("PLAIN", authcid)?;
        let authzid = text("PLAIN", authzid)?;
        if user.is_empty() {
            return Err(malformed("empty user name"));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(SaslError::Authzid(authzid));
        }
        Ok(Step::Done {
            user,
            credential: Credential::Password(text("PLAIN", password)?),
        })
    }
}

fn cram_challenge(host: &str) -> String {
    let mut random = [0u8; 8];
    let random = match openssl::rand::rand_bytes(&mut random) {
        Ok(()) => random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        // Uniqueness matters more than secrecy here; the pid and time still differ.
        Err(_) => std::process::id().to_string(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("<{random}.{now}@{host}>")
}

/// HMAC-MD5 of `challenge` keyed with `secret`, lowercase hex.
pub fn cram_md5_digest(secret: &str, challenge: &str) -> Option<String> {
    cram_digest(Mechanism::CramMd5, secret, challenge)
}

/// The HMAC a CRAM mechanism's client sends, lowercase hex (`None` for non-CRAM).
pub fn cram_digest(mechanism: Mechanism, secret: &str, challenge: &str) -> Option<String> {
    let hash = match mechanism {
        Mechanism::CramMd5 => MessageDigest::md5(),
        Mechanism::CramSha256 => MessageDigest::sha256(),
        _ => return None,
    };
    let key = PKey::hmac(secret.as_bytes()).ok()?;
    let mut signer = Signer::new(hash, &key).ok()?;
    signer.update(challenge.as_bytes()).ok()?;
    let mac = signer.sign_to_vec().ok()?;
    Some(mac.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether a CRAM-MD5 `digest` answers `challenge` for the cleartext `secret`.
pub fn verify_cram_md5(secret: &str, challenge: &str, digest: &str) -> bool {
    verify_cram(Mechanism::CramMd5, secret, challenge, digest)
}

/// Whether a CRAM `digest` answers `challenge` for the cleartext `secret`.
pub fn verify_cram(mechanism: Mechanism, secret: &str, challenge: &str, digest: &str) -> bool {
    cram_digest(mechanism, secret, challenge).is_some_and(|expected| {
        crate::auth::password::constant_time_eq(
            expected.as_bytes(),
            digest.to_ascii_lowercase().as_bytes(),
        )
    })
}

/// Decode one client response line: base64, `=` for an empty initial response,
/// `*` to cancel.
pub fn decode_response(line: &[u8]) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_ascii();
    match line {
        b"*" => Err(SaslError::Cancelled),
        b"=" | b"" => Ok(Vec::new()),
        _ => {
            let text = std::str::from_utf8(line).map_err(|_| SaslError::Base64)?;
            openssl::base64::decode_block(text).map_err(|_| SaslError::Base64)
        }
    }
}

/// Encode a challenge for the wire (without the protocol's `+ ` prefix).
pub fn encode_challenge(challenge: &[u8]) -> String {
    openssl::base64::encode_block(challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(step: Step) -> (String, Credential) {
        match step {
            Step::Done { user, credential } => (user, credential),
            other => panic!("not done: {other:?}"),
        }
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let mut x = Exchange::new(Mechanism::Plain, "h");
        let (user, cred) = done(x.start(Some(b"\0tim\0tanstaaf")).unwrap());
        assert_eq!(user, "tim");
        assert_eq!(cred, Credential::Password("tanstaaf".into()));
        assert_eq!(x.step(b"again"), Err(SaslError::Finished));

        let mut x = Exchange::new(Mechanism::Plain, "h");
        assert_eq!(x.start(None).unwrap(), Step::Challenge(Vec::new()));
        let (user, _) = done(x.step(b"tim\0tim\0pw").unwrap());
        assert_eq!(user, "tim");

        let mut x = Exchange::new(Mechanism::Plain, "h");
        let (user, cred) = done(x.start(Some(b"\0tim\0pw\0more")).unwrap());
        assert_eq!(user, "tim");
        assert_eq!(cred, Credential::Password("pw\0more".into()));
    }

    #[test]
    fn plain_refusals() {
        let mut x = Exchange::new(Mechanism::Plain, "h");
        assert_eq!(
            x.start(Some(b"admin\0tim\0pw")),
            Err(SaslError::Authzid("admin".into()))
        );
        let mut x = Exchange::new(Mechanism::Plain, "h");
        assert!(matches!(
            x.start(Some(b"tim\0pw")),
            Err(SaslError::Malformed { .. })
        ));
        let mut x = Exchange::new(Mechanism::Plain, "h");
        assert!(matches!(
            x.start(Some(b"\0\0pw")),
            Err(SaslError::Malformed { .. })
        ));
    }

    #[test]
    fn login_two_challenges() {
        let mut x = Exchange::new(Mechanism::Login, "h");
        assert_eq!(
            x.start(None).unwrap(),
            Step::Challenge(b"Username:".to_vec())
        );
        assert_eq!(
            x.step(b"tim").unwrap(),
            Step::Challenge(b"Password:".to_vec())
        );
        let (user, cred) = done(x.step(b"pw").unwrap());
        assert_eq!(
            (user.as_str(), cred),
            ("tim", Credential::Password("pw".into()))
        );
        // A user name as initial response skips the first challenge.
        let mut x = Exchange::new(Mechanism::Login, "h");
        assert_eq!(
            x.start(Some(b"tim")).unwrap(),
            Step::Challenge(b"Password:".to_vec())
        );
    }

    #[test]
    fn cram_md5_rfc2195_vector() {
        let challenge = "<1896.697170952@postoffice.reston.mci.net>";
        assert_eq!(
            cram_md5_digest("tanstaaftanstaaf", challenge).unwrap(),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
        assert!(verify_cram_md5(
            "tanstaaftanstaaf",
            challenge,
            "B913A602C7EDA7A495B4E6E7334D3890"
        ));
        assert!(!verify_cram_md5(
            "tanstaaftanstaaX",
            challenge,
            "b913a602c7eda7a495b4e6e7334d3890"
        ));
    }

    #[test]
    fn cram_md5_exchange() {
        let mut x = Exchange::new(Mechanism::CramMd5, "mail.example");
        let Step::Challenge(ch) = x.start(None).unwrap() else {
            panic!()
        };
        let ch = String::from_utf8(ch).unwrap();
        assert!(
            ch.starts_with('<') && ch.ends_with("@mail.example>"),
            "{ch}"
        );
        let digest = cram_md5_digest("secret", &ch).unwrap();
        let (user, cred) = done(x.step(format!("tim {digest}").as_bytes()).unwrap());
        assert_eq!(user, "tim");
        let Credential::CramResponse {
            challenge, digest, ..
        } = cred
        else {
            panic!()
        };
        assert!(verify_cram_md5("secret", &challenge, &digest));

        let mut x = Exchange::new(Mechanism::CramMd5, "h");
        assert_eq!(
            x.start(Some(b"x")),
            Err(SaslError::NoInitialResponse("CRAM-MD5"))
        );
        let mut x = Exchange::new(Mechanism::CramMd5, "h");
        x.start(None).unwrap();
        assert!(matches!(
            x.step(b"tim nothex"),
            Err(SaslError::Malformed { .. })
        ));
    }

    #[test]
    fn cram_sha256_exchange() {
        // RFC 4231 test case 2 is HMAC-SHA256("Jefe", "what do ya want for nothing?").
        assert_eq!(
            cram_digest(
                Mechanism::CramSha256,
                "Jefe",
                "what do ya want for nothing?"
            )
            .unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut x = Exchange::new(Mechanism::CramSha256, "h");
        let Step::Challenge(ch) = x.start(None).unwrap() else {
            panic!()
        };
        let ch = String::from_utf8(ch).unwrap();
        let digest = cram_digest(Mechanism::CramSha256, "pw", &ch).unwrap();
        let (_, cred) = done(x.step(format!("tim {digest}").as_bytes()).unwrap());
        let Credential::CramResponse {
            mechanism,
            challenge,
            digest,
        } = cred
        else {
            panic!()
        };
        assert_eq!(mechanism, Mechanism::CramSha256);
        assert!(verify_cram(mechanism, "pw", &challenge, &digest));
        assert!(!verify_cram(Mechanism::CramMd5, "pw", &challenge, &digest));
        let mut x = Exchange::new(Mechanism::CramSha256, "h");
        x.start(None).unwrap();
        let md5_sized = "0".repeat(32);
        assert!(x.step(format!("tim {md5_sized}").as_bytes()).is_err());
    }

    /// The client's half of SCRAM-SHA-256, for driving an exchange: client-final for
    /// `server_first`, and the server-final the client should then expect.
    fn scram_client(password: &str, bare: &str, server_first: &str) -> (String, String) {
        let attr = |k: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(k))
                .unwrap()
                .to_owned()
        };
        let salt = openssl::base64::decode_block(&attr("s=")).unwrap();
        let iterations: usize = attr("i=").parse().unwrap();
        let mut salted = [0u8; 32];
        openssl::pkcs5::pbkdf2_hmac(
            password.as_bytes(),
            &salt,
            iterations,
            MessageDigest::sha256(),
            &mut salted,
        )
        .unwrap();
        let mac = |key: &[u8], data: &[u8]| {
            let key = PKey::hmac(key).unwrap();
            let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
            s.update(data).unwrap();
            s.sign_to_vec().unwrap()
        };
        let client_key = mac(&salted, b"Client Key");
        let stored = openssl::sha::sha256(&client_key);
        let without_proof = format!("c=biws,r={}", attr("r="));
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let signature = mac(&stored, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = mac(&salted, b"Server Key");
        (
            format!(
                "{without_proof},p={}",
                openssl::base64::encode_block(&proof)
            ),
            format!(
                "v={}",
                openssl::base64::encode_block(&mac(&server_key, auth_message.as_bytes()))
            ),
        )
    }

    fn lookup(keys: scram::ScramKeys, refusal: Option<Refusal>) -> ScramLookup {
        ScramLookup { keys, refusal }
    }

    fn verdict(step: Step) -> Verdict {
        match done(step) {
            (_, Credential::Scram(ScramVerdict(v))) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scram_exchange() {
        let keys = scram::keys_from_plain("tim", "pw").unwrap();
        for initial in [true, false] {
            let mut x = Exchange::new(Mechanism::ScramSha256, "h");
            let first = b"n,,n=tim,r=clientnonce";
            let step = if initial {
                x.start(Some(first)).unwrap()
            } else {
                assert_eq!(x.start(None).unwrap(), Step::Challenge(Vec::new()));
                x.step(first).unwrap()
            };
            assert_eq!(step, Step::NeedKeys { user: "tim".into() });
            let Step::Challenge(server_first) = x.scram_keys(lookup(keys.clone(), None)).unwrap()
            else {
                panic!()
            };
            let server_first = String::from_utf8(server_first).unwrap();
            assert!(server_first.starts_with("r=clientnonce"), "{server_first}");
            assert!(server_first.ends_with(",i=4096"), "{server_first}");
            let (final_msg, expected_v) = scram_client("pw", "n=tim,r=clientnonce", &server_first);
            assert_eq!(
                x.step(final_msg.as_bytes()).unwrap(),
                Step::Challenge(expected_v.into_bytes())
            );
            assert_eq!(verdict(x.step(b"").unwrap()), Verdict::Proven);
            assert_eq!(x.step(b""), Err(SaslError::Finished));
        }
    }

    #[test]
    fn scram_failures() {
        let keys = scram::keys_from_plain("tim", "pw").unwrap();
        let run = |password: &str, refusal: Option<Refusal>, tamper: &dyn Fn(String) -> String| {
            let mut x = Exchange::new(Mechanism::ScramSha256, "h");
            x.start(Some(b"n,,n=tim,r=abc")).unwrap();
            let Step::Challenge(sf) = x.scram_keys(lookup(keys.clone(), refusal)).unwrap() else {
                panic!()
            };
            let sf = String::from_utf8(sf).unwrap();
            let (final_msg, _) = scram_client(password, "n=tim,r=abc", &sf);
            x.step(tamper(final_msg).as_bytes())
        };
        let same = |m: String| m;
        assert_eq!(
            verdict(run("wrong", None, &same).unwrap()),
            Verdict::Failed("invalid-proof")
        );
        // A right proof does not help an account that may not use SCRAM.
        assert_eq!(
            verdict(run("pw", Some(Refusal::MechanismUnavailable), &same).unwrap()),
            Verdict::Refused(Refusal::MechanismUnavailable)
        );
        assert_eq!(
            verdict(run("pw", None, &|m| m.replacen("r=abc", "r=abd", 1)).unwrap()),
            Verdict::Failed("other-error")
        );
        assert!(matches!(
            run("pw", None, &|m| m.replace(",p=", ",q=")),
            Err(SaslError::Malformed { .. })
        ));
        // A non-empty answer to the server signature.
        let mut x = Exchange::new(Mechanism::ScramSha256, "h");
        x.start(Some(b"n,,n=tim,r=abc")).unwrap();
        let Step::Challenge(sf) = x.scram_keys(lookup(keys.clone(), None)).unwrap() else {
            panic!()
        };
        let (final_msg, _) = scram_client("pw", "n=tim,r=abc", &String::from_utf8(sf).unwrap());
        x.step(final_msg.as_bytes()).unwrap();
        assert!(matches!(x.step(b"x"), Err(SaslError::Malformed { .. })));
        // Channel binding asked for; keys given out of turn.
        let mut x = Exchange::new(Mechanism::ScramSha256, "h");
        assert_eq!(
            x.start(Some(b"p=tls-exporter,,n=tim,r=abc")),
            Err(SaslError::ChannelBinding("tls-exporter".into()))
        );
        let mut x = Exchange::new(Mechanism::ScramSha256, "h");
        assert_eq!(x.scram_keys(lookup(keys, None)), Err(SaslError::Finished));
    }

    #[test]
    fn wire_helpers() {
        assert_eq!(decode_response(b"*"), Err(SaslError::Cancelled));
        assert_eq!(decode_response(b"="), Ok(Vec::new()));
        assert_eq!(
            decode_response(b"AHRpbQB0YW5zdGFhZg==\r").unwrap(),
            b"\0tim\0tanstaaf"
        );
        assert_eq!(decode_response(b"!!!"), Err(SaslError::Base64));
        assert_eq!(encode_challenge(b"Username:"), "VXNlcm5hbWU6");
        assert_eq!(Mechanism::from_name("cram-md5"), Some(Mechanism::CramMd5));
        assert_eq!(Mechanism::from_name("SCRAM-SHA-1"), None);
        assert_eq!(
            Mechanism::from_name("scram-sha-256"),
            Some(Mechanism::ScramSha256)
        );
    }
}
