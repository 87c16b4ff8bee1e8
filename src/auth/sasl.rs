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
//!
//! Around the mechanisms, the one driver both protocols use: [`Offer`] decides what a
//! session advertises and accepts (by TLS state, backend and client certificate) and
//! [`Offer::run`] carries one AUTHENTICATE / AUTH to its [`Ending`] — base64, `*` to
//! cancel, the line limit, the initial response, EXTERNAL and the backend's verdict —
//! through the protocol's [`Channel`]. IMAP and POP3 keep only their framing and words.

use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use thiserror::Error;

use super::AuthError;
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
    let random = match crate::random::fill(&mut random) {
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
    fn hmac<D: Mac + hmac::digest::KeyInit>(secret: &str, challenge: &str) -> Vec<u8> {
        let mut mac =
            <D as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(challenge.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
    let mac = match mechanism {
        Mechanism::CramMd5 => hmac::<Hmac<md5::Md5>>(secret, challenge),
        Mechanism::CramSha256 => hmac::<Hmac<sha2::Sha256>>(secret, challenge),
        _ => return None,
    };
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
        _ => base64_decode(line).ok_or(SaslError::Base64),
    }
}

/// Encode a challenge for the wire (without the protocol's `+ ` prefix).
pub fn encode_challenge(challenge: &[u8]) -> String {
    base64_encode(challenge)
}

/// RFC 4648 base64 with padding. Unused low bits in the last character are accepted, as
/// OpenSSL's decoder (which this replaced) and Courier's accept them.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Padded base64; `None` if `text` is not that (whitespace included).
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    BASE64.decode(text).ok()
}

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

// ----- The driver both protocols share -----

/// The name of the mechanism that logs in as the verified client certificate's identity
/// (RFC 4422 appendix A); it has no [`Exchange`]: the identity comes from TLS.
pub const EXTERNAL: &str = "EXTERNAL";

/// What one session offers, from its TLS state and the authentication backend. The same
/// decision makes IMAP's `AUTH=` capabilities, POP3's `SASL` CAPA line and AUTH's list,
/// and which mechanism an AUTHENTICATE / AUTH may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Logins wait for TLS (`require_tls_*` and no TLS yet): nothing is on offer
    /// (IMAP answers with LOGINDISABLED, RFC 3501 §6.2.3).
    logins_disabled: bool,
    /// CRAM-MD5 and CRAM-SHA256 are advertised: configured, and the backend keeps the
    /// cleartext secrets they need (the user file; PAM never reveals a password).
    cram_advertised: bool,
    /// CRAM is configured: a client that tries it anyway with PAM gets a failed login
    /// (mechanism unavailable), not an unknown mechanism.
    cram_accepted: bool,
    /// Likewise for SCRAM-SHA-256.
    scram_advertised: bool,
    scram_accepted: bool,
    /// The login a verified client certificate names: EXTERNAL is on offer only then.
    external: Option<String>,
}

impl Offer {
    /// `logins_disabled`: the protocol requires TLS for logins and it is not up yet;
    /// `external`: the identity of a verified client certificate, if any.
    pub fn new(
        auth: &crate::config::Auth,
        logins_disabled: bool,
        external: Option<String>,
    ) -> Offer {
        Offer {
            logins_disabled,
            cram_advertised: auth.cram_offered(),
            cram_accepted: auth.cram,
            scram_advertised: auth.scram_offered(),
            scram_accepted: auth.scram,
            external,
        }
    }

    /// No mechanism at all until TLS is up.
    pub fn logins_disabled(&self) -> bool {
        self.logins_disabled
    }

    /// The mechanisms to advertise, in the order clients see them: PLAIN and LOGIN,
    /// then CRAM, SCRAM and EXTERNAL when each is usable.
    pub fn advertised(&self) -> Vec<&'static str> {
        if self.logins_disabled {
            return Vec::new();
        }
        let mut names = vec![Mechanism::Plain.name(), Mechanism::Login.name()];
        if self.cram_advertised {
            names.extend([Mechanism::CramMd5.name(), Mechanism::CramSha256.name()]);
        }
        if self.scram_advertised {
            names.push(Mechanism::ScramSha256.name());
        }
        if self.external.is_some() {
            names.push(EXTERNAL);
        }
        names
    }

    /// The mechanism `name` starts, if this session accepts it (EXTERNAL apart).
    fn accepts(&self, name: &str) -> Option<Mechanism> {
        if self.logins_disabled {
            return None;
        }
        Mechanism::from_name(name).filter(|m| match m {
            Mechanism::Plain | Mechanism::Login => true,
            Mechanism::CramMd5 | Mechanism::CramSha256 => self.cram_accepted,
            Mechanism::ScramSha256 => self.scram_accepted,
        })
    }

    /// Runs one AUTHENTICATE / AUTH exchange to its end: picks the mechanism, decodes
    /// the initial response, sends challenges and reads responses through `channel`,
    /// and asks `backend` about the credential the exchange produced.
    pub fn run<B: Backend, C: Channel>(
        &self,
        request: &Request<'_>,
        backend: &mut B,
        channel: &mut C,
    ) -> Ending<B::Account, C::Error> {
        if request.mechanism.eq_ignore_ascii_case(EXTERNAL) && !self.logins_disabled {
            return self.run_external(request, backend, channel);
        }
        let Some(mechanism) = self.accepts(request.mechanism) else {
            return Ending::NotOffered;
        };
        let initial = match request.initial.map(decode_response).transpose() {
            Ok(initial) => initial,
            Err(error) => {
                return Ending::BadResponse {
                    initial: true,
                    error,
                };
            }
        };
        let mut exchange = Exchange::new(mechanism, request.host);
        let mut step = exchange.start(initial.as_deref());
        let name = mechanism.name();
        loop {
            step = match step {
                Ok(Step::Challenge(challenge)) => {
                    match read_response(channel, &challenge, request.max_response) {
                        Ok(response) => exchange.step(&response),
                        Err(ending) => return ending,
                    }
                }
                Ok(Step::NeedKeys { user }) => match backend.scram_keys(&user) {
                    Ok(keys) => exchange.scram_keys(keys),
                    Err(err) => return Ending::verdict(name, user, Err(err)),
                },
                Ok(Step::Done { user, credential }) => {
                    let result = backend.check(&user, &credential);
                    return Ending::verdict(name, user, result);
                }
                Err(error) => {
                    return Ending::Refused {
                        mechanism: name,
                        error,
                    };
                }
            }
        }
    }

    /// EXTERNAL: the login is the certificate's identity; the client may send nothing
    /// or repeat it as its authorization identity, never name another user.
    fn run_external<B: Backend, C: Channel>(
        &self,
        request: &Request<'_>,
        backend: &mut B,
        channel: &mut C,
    ) -> Ending<B::Account, C::Error> {
        let Some(identity) = self.external.clone() else {
            return Ending::NeedsCertificate;
        };
        let authzid = match request.initial {
            Some(initial) => match decode_response(initial) {
                Ok(bytes) => bytes,
                Err(error) => {
                    return Ending::BadResponse {
                        initial: true,
                        error,
                    };
                }
            },
            None => match read_response(channel, b"", request.max_response) {
                Ok(bytes) => bytes,
                Err(ending) => return ending,
            },
        };
        if !authzid.is_empty() && authzid != identity.as_bytes() {
            let asked = String::from_utf8_lossy(&authzid).into_owned();
            return Ending::NotTheCertificate { asked };
        }
        let result = backend.account(&identity);
        Ending::verdict(EXTERNAL, identity, result)
    }
}

/// One AUTHENTICATE / AUTH as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The mechanism's name as the client wrote it (case-insensitive).
    pub mechanism: &'a str,
    /// The initial response as sent (base64, `=` for empty), if any (SASL-IR, RFC 4959;
    /// POP3 `AUTH mech resp`, RFC 5034).
    pub initial: Option<&'a [u8]>,
    /// Names this server in CRAM challenges.
    pub host: &'a str,
    /// The longest response line the client may send, without its line end.
    pub max_response: usize,
}

/// A response line as the protocol read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// One line without its line end.
    Line(Vec<u8>),
    /// Longer than allowed (and consumed up to its line end).
    TooLong,
    /// The client went away.
    Closed,
}

/// How a protocol carries challenges: IMAP's and POP3's `+ base64` continuation lines.
pub trait Channel {
    /// A failure of the connection, as the protocol wants to see it.
    type Error;
    /// Sends `challenge` (already base64) as a continuation and reads the answer line of
    /// at most `max` bytes.
    fn challenge(&mut self, challenge: &str, max: usize) -> Result<Reply, Self::Error>;
}

/// Who may log in: the authentication backend as the exchange needs it.
pub trait Backend {
    /// What a successful login yields.
    type Account;
    /// Whether `credential` proves `user`.
    fn check(&mut self, user: &str, credential: &Credential) -> Result<Self::Account, AuthError>;
    /// SCRAM: `user`'s keys (decoys for unknown users, so a failure says nothing more).
    fn scram_keys(&mut self, user: &str) -> Result<ScramLookup, AuthError>;
    /// EXTERNAL: the account named `user`, whose identity TLS already proved.
    fn account(&mut self, user: &str) -> Result<Self::Account, AuthError>;
}

/// The configured backend (user file or PAM) for one protocol and peer.
pub struct Accounts<'a> {
    pub config: &'a crate::config::Config,
    pub protocol: crate::auth::Protocol,
    pub remote: Option<std::net::IpAddr>,
}

impl Backend for Accounts<'_> {
    type Account = crate::auth::Account;

    fn check(&mut self, user: &str, credential: &Credential) -> Result<Self::Account, AuthError> {
        crate::auth::authenticate_credential(
            self.config,
            self.protocol,
            user,
            credential,
            self.remote,
        )
    }

    fn scram_keys(&mut self, user: &str) -> Result<ScramLookup, AuthError> {
        crate::auth::scram_lookup(self.config, user)
    }

    fn account(&mut self, user: &str) -> Result<Self::Account, AuthError> {
        crate::auth::lookup_account(self.config, self.protocol, user)
    }
}

/// How an exchange ended; the protocol turns it into its answer (tagged OK/NO/BAD, or
/// +OK/-ERR) and its log line.
#[derive(Debug)]
pub enum Ending<A, E> {
    /// The backend's verdict on `user`, who logged in with `mechanism`.
    Verdict {
        mechanism: &'static str,
        user: String,
        result: Result<A, AuthError>,
    },
    /// The mechanism is unknown or not on offer in this session.
    NotOffered,
    /// EXTERNAL without a verified client certificate.
    NeedsCertificate,
    /// A response (`initial`: the initial response) was `*` ([`SaslError::Cancelled`])
    /// or not base64 ([`SaslError::Base64`]).
    BadResponse { initial: bool, error: SaslError },
    /// A response line was longer than [`Request::max_response`].
    TooLong,
    /// The client closed the connection during the exchange.
    Closed,
    /// EXTERNAL: the client asked to act as `asked`, not as the certificate's identity.
    NotTheCertificate { asked: String },
    /// The mechanism refused what the client sent (malformed, another authzid, ...).
    Refused {
        mechanism: &'static str,
        error: SaslError,
    },
    /// The connection failed.
    Channel(E),
}

impl<A, E> Ending<A, E> {
    fn verdict(mechanism: &'static str, user: String, result: Result<A, AuthError>) -> Self {
        Ending::Verdict {
            mechanism,
            user,
            result,
        }
    }
}

/// Sends one challenge and decodes the answer, or says how the exchange ends.
fn read_response<A, C: Channel>(
    channel: &mut C,
    challenge: &[u8],
    max: usize,
) -> Result<Vec<u8>, Ending<A, C::Error>> {
    match channel.challenge(&encode_challenge(challenge), max) {
        Ok(Reply::Line(line)) => decode_response(&line).map_err(|error| Ending::BadResponse {
            initial: false,
            error,
        }),
        Ok(Reply::TooLong) => Err(Ending::TooLong),
        Ok(Reply::Closed) => Err(Ending::Closed),
        Err(err) => Err(Ending::Channel(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;

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
        let keys = scram::keys_from_plain("tim", "pw");
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
        let keys = scram::keys_from_plain("tim", "pw");
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
        // Padding is required and nothing may sit inside the text; spare low bits of
        // the last character are let through (as OpenSSL's decoder did).
        assert_eq!(decode_response(b"AHRpbQ"), Err(SaslError::Base64));
        assert_eq!(decode_response(b"AHRp bQ=="), Err(SaslError::Base64));
        assert_eq!(decode_response(b"AHRpbR==").unwrap(), b"\0tim");
        assert_eq!(encode_challenge(b"Username:"), "VXNlcm5hbWU6");
        assert_eq!(Mechanism::from_name("cram-md5"), Some(Mechanism::CramMd5));
        assert_eq!(Mechanism::from_name("SCRAM-SHA-1"), None);
        assert_eq!(
            Mechanism::from_name("scram-sha-256"),
            Some(Mechanism::ScramSha256)
        );
    }

    // ----- the driver -----

    use std::collections::VecDeque;

    /// Knows one user, `tim`, with the password `pw`.
    struct Tim;

    impl Backend for Tim {
        type Account = String;

        fn check(&mut self, user: &str, credential: &Credential) -> Result<String, AuthError> {
            let ok = user == "tim"
                && match credential {
                    Credential::Password(pw) => pw == "pw",
                    Credential::CramResponse {
                        mechanism,
                        challenge,
                        digest,
                    } => verify_cram(*mechanism, "pw", challenge, digest),
                    Credential::Scram(ScramVerdict(v)) => *v == Verdict::Proven,
                };
            if ok {
                Ok(user.to_owned())
            } else {
                Err(AuthError::Failed)
            }
        }

        fn scram_keys(&mut self, user: &str) -> Result<ScramLookup, AuthError> {
            Ok(lookup(scram::keys_from_plain(user, "pw"), None))
        }

        fn account(&mut self, user: &str) -> Result<String, AuthError> {
            Ok(user.to_owned())
        }
    }

    /// Answers each challenge with the next scripted reply and records the challenges
    /// (decoded) and the line limits it was given.
    #[derive(Default)]
    struct Script {
        replies: VecDeque<Reply>,
        challenges: Vec<Vec<u8>>,
        maxes: Vec<usize>,
    }

    impl Script {
        fn new(replies: &[&[u8]]) -> Script {
            Script {
                replies: replies
                    .iter()
                    .map(|r| Reply::Line(encode_challenge(r).into_bytes()))
                    .collect(),
                ..Script::default()
            }
        }

        fn raw(replies: Vec<Reply>) -> Script {
            Script {
                replies: replies.into(),
                ..Script::default()
            }
        }
    }

    impl Channel for Script {
        type Error = &'static str;

        fn challenge(&mut self, challenge: &str, max: usize) -> Result<Reply, &'static str> {
            self.challenges
                .push(openssl::base64::decode_block(challenge).unwrap());
            self.maxes.push(max);
            self.replies.pop_front().ok_or("connection lost")
        }
    }

    fn offer(cram: bool, scram: bool, external: Option<&str>) -> Offer {
        Offer {
            logins_disabled: false,
            cram_advertised: cram,
            cram_accepted: cram,
            scram_advertised: scram,
            scram_accepted: scram,
            external: external.map(str::to_owned),
        }
    }

    fn run(
        offer: &Offer,
        mechanism: &str,
        initial: Option<&str>,
        channel: &mut Script,
    ) -> Ending<String, &'static str> {
        let request = Request {
            mechanism,
            initial: initial.map(str::as_bytes),
            host: "mail.example",
            max_response: 100,
        };
        offer.run(&request, &mut Tim, channel)
    }

    fn logged_in(ending: Ending<String, &'static str>) -> (&'static str, String) {
        match ending {
            Ending::Verdict {
                mechanism,
                user,
                result: Ok(account),
            } => {
                assert_eq!(user, account);
                (mechanism, user)
            }
            other => panic!("not logged in: {other:?}"),
        }
    }

    #[test]
    fn offer_follows_tls_backend_and_certificate() {
        let mut auth = crate::config::Auth {
            cram: true,
            scram: true,
            ..Default::default()
        };
        let all = Offer::new(&auth, false, Some("tim".into()));
        assert_eq!(
            all.advertised(),
            [
                "PLAIN",
                "LOGIN",
                "CRAM-MD5",
                "CRAM-SHA256",
                "SCRAM-SHA-256",
                "EXTERNAL"
            ]
        );
        assert!(!all.logins_disabled());
        // Before TLS, when TLS is required: nothing, and nothing starts.
        let before_tls = Offer::new(&auth, true, None);
        assert!(before_tls.logins_disabled());
        assert!(before_tls.advertised().is_empty());
        for mech in ["PLAIN", "LOGIN", "EXTERNAL", "CRAM-MD5"] {
            let mut ch = Script::default();
            let ending = run(&before_tls, mech, Some("AHRpbQBwdw=="), &mut ch);
            assert!(matches!(ending, Ending::NotOffered), "{mech}: {ending:?}");
        }
        // PAM reveals no password: CRAM and SCRAM are not advertised, but a client that
        // tries them still gets an exchange (and the backend's verdict).
        auth.backend = crate::config::Backend::Pam;
        let pam = Offer::new(&auth, false, None);
        assert_eq!(pam.advertised(), ["PLAIN", "LOGIN"]);
        assert_eq!(pam.accepts("cram-md5"), Some(Mechanism::CramMd5));
        assert_eq!(pam.accepts("SCRAM-SHA-256"), Some(Mechanism::ScramSha256));
        // Not configured: not accepted either.
        let plain_only = Offer::new(&crate::config::Auth::default(), false, None);
        assert_eq!(plain_only.advertised(), ["PLAIN", "LOGIN"]);
        for mech in [
            "CRAM-MD5",
            "CRAM-SHA256",
            "SCRAM-SHA-256",
            "EXTERNAL",
            "GSSAPI",
        ] {
            let mut ch = Script::default();
            let ending = run(&plain_only, mech, None, &mut ch);
            assert!(
                matches!(ending, Ending::NotOffered | Ending::NeedsCertificate),
                "{mech}: {ending:?}"
            );
            assert!(ch.challenges.is_empty());
        }
    }

    #[test]
    fn driver_plain_with_and_without_initial_response() {
        let o = offer(false, false, None);
        let mut ch = Script::default();
        assert_eq!(
            logged_in(run(&o, "plain", Some("AHRpbQBwdw=="), &mut ch)),
            ("PLAIN", "tim".into())
        );
        assert!(ch.challenges.is_empty());

        let mut ch = Script::new(&[b"\0tim\0pw"]);
        assert_eq!(logged_in(run(&o, "PLAIN", None, &mut ch)).1, "tim");
        assert_eq!(ch.challenges, [Vec::<u8>::new()]);
        assert_eq!(ch.maxes, [100]);

        let mut ch = Script::new(&[b"\0tim\0wrong"]);
        assert!(matches!(
            run(&o, "PLAIN", None, &mut ch),
            Ending::Verdict {
                result: Err(AuthError::Failed),
                ..
            }
        ));
        // Acting as another user is the mechanism's refusal, not a verdict.
        let mut ch = Script::default();
        assert!(matches!(
            run(
                &o,
                "PLAIN",
                Some(&encode_challenge(b"admin\0tim\0pw")),
                &mut ch
            ),
            Ending::Refused {
                mechanism: "PLAIN",
                error: SaslError::Authzid(_)
            }
        ));
    }

    #[test]
    fn driver_login_asks_twice() {
        let mut ch = Script::new(&[b"tim", b"pw"]);
        let o = offer(false, false, None);
        assert_eq!(logged_in(run(&o, "LOGIN", None, &mut ch)).0, "LOGIN");
        assert_eq!(
            ch.challenges,
            [b"Username:".to_vec(), b"Password:".to_vec()]
        );
        // `=` is an empty initial response: LOGIN then asks for the user name.
        let mut ch = Script::new(&[b"tim", b"pw"]);
        assert_eq!(logged_in(run(&o, "LOGIN", Some("="), &mut ch)).1, "tim");
        assert_eq!(ch.challenges.len(), 2);
    }

    #[test]
    fn driver_cancel_base64_size_and_connection() {
        let o = offer(false, false, None);
        let bad = |ending| match ending {
            Ending::BadResponse { initial, error } => (initial, error),
            other => panic!("{other:?}"),
        };
        let mut ch = Script::raw(vec![Reply::Line(b"*".to_vec())]);
        assert_eq!(
            bad(run(&o, "PLAIN", None, &mut ch)),
            (false, SaslError::Cancelled)
        );
        let mut ch = Script::default();
        assert_eq!(
            bad(run(&o, "PLAIN", Some("*"), &mut ch)),
            (true, SaslError::Cancelled)
        );
        let mut ch = Script::raw(vec![Reply::Line(b"not base64!".to_vec())]);
        assert_eq!(
            bad(run(&o, "LOGIN", None, &mut ch)),
            (false, SaslError::Base64)
        );
        let mut ch = Script::default();
        assert_eq!(
            bad(run(&o, "PLAIN", Some("%%%%"), &mut ch)),
            (true, SaslError::Base64)
        );
        let mut ch = Script::raw(vec![Reply::TooLong]);
        assert!(matches!(run(&o, "PLAIN", None, &mut ch), Ending::TooLong));
        let mut ch = Script::raw(vec![Reply::Closed]);
        assert!(matches!(run(&o, "LOGIN", None, &mut ch), Ending::Closed));
        let mut ch = Script::default();
        assert!(matches!(
            run(&o, "LOGIN", None, &mut ch),
            Ending::Channel("connection lost")
        ));
    }

    #[test]
    fn driver_cram_and_scram() {
        let o = offer(true, true, None);
        // CRAM: the challenge names the host; the answer is `user hexdigest`.
        struct Cram(Script);
        impl Channel for Cram {
            type Error = &'static str;
            fn challenge(&mut self, challenge: &str, _: usize) -> Result<Reply, &'static str> {
                let ch = String::from_utf8(openssl::base64::decode_block(challenge).unwrap());
                let ch = ch.unwrap();
                assert!(ch.ends_with("@mail.example>"), "{ch}");
                self.0.challenges.push(ch.clone().into_bytes());
                let digest = cram_md5_digest("pw", &ch).unwrap();
                Ok(Reply::Line(
                    encode_challenge(format!("tim {digest}").as_bytes()).into_bytes(),
                ))
            }
        }
        let request = Request {
            mechanism: "CRAM-MD5",
            initial: None,
            host: "mail.example",
            max_response: 100,
        };
        let mut ch = Cram(Script::default());
        assert_eq!(logged_in(o.run(&request, &mut Tim, &mut ch)).0, "CRAM-MD5");
        assert_eq!(ch.0.challenges.len(), 1);

        // SCRAM: client-first as initial response, server-first, client-final,
        // server-final, an empty response.
        /// Holds the server-final message it expects once it has sent client-final.
        struct Scram(Option<String>);
        impl Channel for Scram {
            type Error = &'static str;
            fn challenge(&mut self, challenge: &str, _: usize) -> Result<Reply, &'static str> {
                let text = String::from_utf8(openssl::base64::decode_block(challenge).unwrap());
                let text = text.unwrap();
                let answer = match self.0.take() {
                    Some(expected_v) => {
                        assert_eq!(text, expected_v);
                        String::new()
                    }
                    None => {
                        let (final_msg, expected_v) =
                            scram_client("pw", "n=tim,r=clientnonce", &text);
                        self.0 = Some(expected_v);
                        final_msg
                    }
                };
                Ok(Reply::Line(
                    encode_challenge(answer.as_bytes()).into_bytes(),
                ))
            }
        }
        let first = encode_challenge(b"n,,n=tim,r=clientnonce");
        let request = Request {
            mechanism: "scram-sha-256",
            initial: Some(first.as_bytes()),
            host: "h",
            max_response: 1000,
        };
        let mut ch = Scram(None);
        assert_eq!(
            logged_in(o.run(&request, &mut Tim, &mut ch)),
            ("SCRAM-SHA-256", "tim".into())
        );
    }

    #[test]
    fn driver_external_is_the_certificate() {
        let o = offer(false, false, Some("tim"));
        // Nothing, `=` or the same identity as initial response: the certificate's login.
        for initial in [Some("="), Some("dGlt")] {
            let mut ch = Script::default();
            assert_eq!(
                logged_in(run(&o, "external", initial, &mut ch)),
                ("EXTERNAL", "tim".into())
            );
            assert!(ch.challenges.is_empty());
        }
        let mut ch = Script::new(&[b""]);
        assert_eq!(logged_in(run(&o, "EXTERNAL", None, &mut ch)).1, "tim");
        assert_eq!(ch.challenges, [Vec::<u8>::new()]);
        // Another user: refused as such.
        let mut ch = Script::new(&[b"admin"]);
        assert!(matches!(
            run(&o, "EXTERNAL", None, &mut ch),
            Ending::NotTheCertificate { asked } if asked == "admin"
        ));
        // No certificate: EXTERNAL is neither advertised nor started.
        let none = offer(false, false, None);
        assert!(!none.advertised().contains(&EXTERNAL));
        let mut ch = Script::new(&[b""]);
        assert!(matches!(
            run(&none, "EXTERNAL", Some("="), &mut ch),
            Ending::NeedsCertificate
        ));
        assert!(ch.challenges.is_empty());
    }
}
