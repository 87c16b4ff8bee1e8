//! The client half of SCRAM-SHA-256 (RFC 5802, RFC 7677) for the integration tests,
//! written from the RFCs with OpenSSL primitives and nothing from postern's own SCRAM
//! code, so that the two check each other. Tampering knobs make the broken exchanges.

#![allow(dead_code)]

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

pub fn b64(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    openssl::base64::decode_block(text.trim()).expect("base64 from the server")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = PKey::hmac(key).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(data).unwrap();
    signer.sign_to_vec().unwrap()
}

/// `{SCRAM-SHA-256}i,salt,StoredKey,ServerKey` for a user file.
pub fn stored_secret(password: &str, salt: &[u8], iterations: usize) -> String {
    let salted = salted_password(password, salt, iterations);
    let stored = openssl::sha::sha256(&hmac(&salted, b"Client Key"));
    let server = hmac(&salted, b"Server Key");
    format!(
        "{{SCRAM-SHA-256}}{iterations},{},{},{}",
        b64(salt),
        b64(&stored),
        b64(&server)
    )
}

fn salted_password(password: &str, salt: &[u8], iterations: usize) -> [u8; 32] {
    let mut out = [0u8; 32];
    openssl::pkcs5::pbkdf2_hmac(
        password.as_bytes(),
        salt,
        iterations,
        MessageDigest::sha256(),
        &mut out,
    )
    .unwrap();
    out
}

/// What to break in the client-final message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// Change the last character of the combined nonce.
    Nonce,
    /// Flip a bit of the proof.
    Proof,
    /// `c=` for `y,,` though the client sent `n,,`.
    Binding,
}

pub struct ScramClient {
    pub user: String,
    pub password: String,
    /// `n,,` normally.
    pub gs2_header: String,
    pub nonce: String,
    /// The ServerSignature the server must send, once client-final is made.
    expected_server_final: Option<String>,
}

impl ScramClient {
    pub fn new(user: &str, password: &str) -> ScramClient {
        let mut random = [0u8; 18];
        openssl::rand::rand_bytes(&mut random).unwrap();
        ScramClient {
            user: user.to_owned(),
            password: password.to_owned(),
            gs2_header: "n,,".to_owned(),
            nonce: b64(&random),
            expected_server_final: None,
        }
    }

    fn bare(&self) -> String {
        let name = self.user.replace('=', "=3D").replace(',', "=2C");
        format!("n={name},r={}", self.nonce)
    }

    /// client-first-message.
    pub fn first(&self) -> String {
        format!("{}{}", self.gs2_header, self.bare())
    }

    /// client-final-message for `server_first`; panics if the server's nonce does not
    /// start with ours (a real client must refuse that).
    pub fn final_message(&mut self, server_first: &str, tamper: Tamper) -> String {
        let attr = |key: &str| -> String {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {server_first:?}"))
                .to_owned()
        };
        let mut nonce = attr("r=");
        assert!(
            nonce.starts_with(&self.nonce) && nonce.len() > self.nonce.len(),
            "server nonce {nonce:?} does not extend ours {:?}",
            self.nonce
        );
        let salt = unb64(&attr("s="));
        let iterations: usize = attr("i=").parse().unwrap();
        assert!(iterations >= 4096, "RFC 7677: at least 4096 iterations");
        if tamper == Tamper::Nonce {
            let last = if nonce.ends_with('A') { 'B' } else { 'A' };
            nonce.pop();
            nonce.push(last);
        }
        let header = if tamper == Tamper::Binding {
            "y,,".to_owned()
        } else {
            self.gs2_header.clone()
        };
        let without_proof = format!("c={},r={nonce}", b64(header.as_bytes()));
        let auth_message = format!("{},{server_first},{without_proof}", self.bare());
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = openssl::sha::sha256(&client_key);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let mut proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        if tamper == Tamper::Proof {
            proof[0] ^= 1;
        }
        let server_key = hmac(&salted, b"Server Key");
        self.expected_server_final = Some(format!(
            "v={}",
            b64(&hmac(&server_key, auth_message.as_bytes()))
        ));
        format!("{without_proof},p={}", b64(&proof))
    }

    /// Checks the server-final message (the server proves it knows ServerKey).
    #[track_caller]
    pub fn check_server_final(&self, server_final: &str) {
        assert_eq!(
            Some(server_final),
            self.expected_server_final.as_deref(),
            "wrong server signature"
        );
    }
}

/// RFC 7677 §3, to check this client itself.
#[test]
fn client_matches_rfc7677() {
    let mut c = ScramClient::new("user", "pencil");
    c.nonce = "rOprNGfwEbeRWgbNEkqO".into();
    assert_eq!(c.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    assert_eq!(
        c.final_message(server_first, Tamper::None),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    c.check_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}
