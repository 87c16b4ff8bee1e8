//! IMAP over TLS against the real binary: implicit TLS through `postern serve`,
//! STARTTLS (and its plaintext-injection guard), certificate login, and each `[tls]`
//! setting that changes behaviour, with `openssl s_client`, Python's imaplib and our
//! own OpenSSL client.

mod tls_support;

use openssl::ssl::SslVersion;
use tls_support::*;

const EXTERNAL: &str = "verify_peer = \"optional\"\nexternal_field = \"emailAddress\"\n";

#[test]
fn implicit_tls_and_starttls_with_s_client() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let out = s.s_client(
        s.imaps,
        &["-verify_return_error", "-servername", "localhost"],
        &format!("a LOGIN {USER} {PASSWORD}\r\nb SELECT INBOX\r\nc LOGOUT\r\n"),
    );
    let t = text(&out);
    assert!(t.contains("* OK [CAPABILITY IMAP4rev1"), "{t}");
    assert!(!t.contains(" STARTTLS"), "no STARTTLS on 993: {t}");
    assert!(t.contains("a OK"), "{t}");
    assert!(t.contains("b OK [READ-WRITE]"), "{t}");
    assert!(t.contains("c OK"), "{t}");

    let out = s.s_client(
        s.imap,
        &["-starttls", "imap", "-verify_return_error"],
        &format!("a CAPABILITY\r\nb LOGIN {USER} {PASSWORD}\r\nc LOGOUT\r\n"),
    );
    let t = text(&out);
    let caps = t
        .lines()
        .find(|l| l.starts_with("* CAPABILITY"))
        .unwrap_or("");
    assert!(caps.contains("AUTH=PLAIN"), "{t}");
    assert!(
        !caps.contains("STARTTLS"),
        "STARTTLS is gone after TLS: {t}"
    );
    assert!(t.contains("b OK"), "{t}");
    assert!(s.stderr().contains("tls=TLSv1."), "{}", s.stderr());
}

#[test]
fn starttls_drops_pipelined_plaintext() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.imap);
    let greeting = c.line();
    assert!(greeting.contains(" STARTTLS"), "{greeting}");
    // The injection: a command after STARTTLS in the same packet.
    c.send("a STARTTLS\r\nb CAPABILITY\r\n");
    assert_eq!(c.line(), "a OK Begin TLS negotiation now");
    c.start_tls(&s.pki.ca, None, None).unwrap();
    c.send("c CAPABILITY\r\n");
    let lines = c.until_tag("c");
    assert!(lines.iter().all(|l| !l.starts_with("b ")), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(!lines[0].contains("STARTTLS"), "{lines:?}");
    assert!(lines[1].starts_with("c OK"), "{lines:?}");
    c.send("d STARTTLS\r\n");
    assert!(c.line().starts_with("d BAD"));
}

#[test]
fn python_imaplib_ssl_and_starttls() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let out = s.python(
        r#"
import imaplib, os, ssl
ctx = ssl.create_default_context(cafile=os.environ["CA"])
m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["IMAPS"]), ssl_context=ctx)
print(m.login(os.environ["USER"], os.environ["PASSWORD"])[0])
print(m.select("INBOX")[0])
m.logout()
m = imaplib.IMAP4("127.0.0.1", int(os.environ["IMAP"]))
assert "STARTTLS" in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx)
assert "STARTTLS" not in m.capabilities, m.capabilities
print(m.login(os.environ["USER"], os.environ["PASSWORD"])[0])
m.logout()
print("done")
"#,
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK\nOK\nOK\ndone\n",
        "{t}"
    );
}

#[test]
fn external_login_needs_a_verified_certificate() {
    if !tools_present() {
        return;
    }
    let s = Server::start(EXTERNAL, "", "");
    let with_cert = |port: u16, cert: &std::path::Path, key: &std::path::Path, starttls: bool| {
        let mut args = vec![
            "-cert".to_owned(),
            cert.display().to_string(),
            "-key".to_owned(),
            key.display().to_string(),
        ];
        if starttls {
            args.extend(["-starttls".to_owned(), "imap".to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        text(&s.s_client(
            port,
            &args,
            "a CAPABILITY\r\nb AUTHENTICATE EXTERNAL =\r\nc LOGOUT\r\n",
        ))
    };
    // A CA-signed certificate: offered and works, on 993 and after STARTTLS.
    for (port, starttls) in [(s.imaps, false), (s.imap, true)] {
        let t = with_cert(port, &s.pki.client_cert, &s.pki.client_key, starttls);
        let caps = t
            .lines()
            .find(|l| l.starts_with("* CAPABILITY"))
            .unwrap_or("");
        assert!(caps.contains("AUTH=EXTERNAL"), "{t}");
        assert!(t.contains("b OK"), "{t}");
    }
    // A self-signed one with the same subject: the handshake is refused.
    let t = with_cert(s.imaps, &s.pki.rogue_cert, &s.pki.rogue_key, false);
    assert!(!t.contains("b OK"), "{t}");
    // No certificate: not offered, and refused.
    let t = text(&s.s_client(
        s.imaps,
        &[],
        "a CAPABILITY\r\nb AUTHENTICATE EXTERNAL =\r\nc LOGOUT\r\n",
    ));
    assert!(!t.contains("AUTH=EXTERNAL"), "{t}");
    assert!(t.contains("b NO [CANNOT]"), "{t}");
    // No EXTERNAL before TLS even when a certificate would be accepted.
    let mut c = Client::connect(s.imap);
    assert!(!c.line().contains("AUTH=EXTERNAL"));
    c.send("a AUTHENTICATE EXTERNAL =\r\n");
    assert!(c.line().starts_with("a NO"));
    // Asking to be someone else is refused.
    let mut c = Client::connect(s.imaps);
    c.start_tls(
        &s.pki.ca,
        Some((&s.pki.client_cert, &s.pki.client_key)),
        None,
    )
    .unwrap();
    c.line();
    let other = openssl::base64::encode_block(b"root");
    c.send(&format!("a AUTHENTICATE EXTERNAL {other}\r\n"));
    assert!(c.line().starts_with("a NO"));

    // imaplib with a client certificate.
    let out = s.python(
        r#"
import imaplib, os, ssl
ctx = ssl.create_default_context(cafile=os.environ["CA"])
ctx.load_cert_chain(os.environ["CLIENT_CERT"], os.environ["CLIENT_KEY"])
m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["IMAPS"]), ssl_context=ctx)
assert "AUTH=EXTERNAL" in m.capabilities, m.capabilities
print(m.authenticate("EXTERNAL", lambda challenge: b"")[0])
print(m.select("INBOX")[0])
m.logout()
"#,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK\nOK\n",
        "{}",
        text(&out)
    );
}

#[test]
fn require_tls_imap_disables_plaintext_login() {
    if !tools_present() {
        return;
    }
    let s = Server::start("require_tls_imap = true\n", "", "");
    let mut c = Client::connect(s.imap);
    let greeting = c.line();
    assert!(greeting.contains(" STARTTLS LOGINDISABLED"), "{greeting}");
    assert!(!greeting.contains("AUTH="), "{greeting}");
    c.send(&format!("a LOGIN {USER} {PASSWORD}\r\n"));
    assert!(c.line().starts_with("a NO [PRIVACYREQUIRED]"));
    c.send("b AUTHENTICATE PLAIN\r\n");
    assert!(c.line().starts_with("b NO [PRIVACYREQUIRED]"));
    c.send("c STARTTLS\r\n");
    assert!(c.line().starts_with("c OK"));
    c.start_tls(&s.pki.ca, None, None).unwrap();
    c.send("d CAPABILITY\r\n");
    let caps = c.line();
    assert!(caps.contains("AUTH=PLAIN"), "{caps}");
    assert!(
        !caps.contains("LOGINDISABLED") && !caps.contains("STARTTLS"),
        "{caps}"
    );
    c.line();
    c.send(&format!("e LOGIN {USER} {PASSWORD}\r\n"));
    assert!(c.line().starts_with("e OK"));
}

#[test]
fn disableinsecureimap_is_per_account() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "disableinsecureimap=1");
    let mut c = Client::connect(s.imap);
    assert!(!c.line().contains("LOGINDISABLED"));
    c.send(&format!("a LOGIN {USER} {PASSWORD}\r\n"));
    assert!(c.line().starts_with("a NO [PRIVACYREQUIRED]"));
    c.send("b STARTTLS\r\n");
    c.line();
    c.start_tls(&s.pki.ca, None, None).unwrap();
    c.send(&format!("c LOGIN {USER} {PASSWORD}\r\n"));
    assert!(c.line().starts_with("c OK"));
}

#[test]
fn verify_peer_required_refuses_clients_without_certificate() {
    if !tools_present() {
        return;
    }
    let s = Server::start("verify_peer = \"required\"\n", "", "");
    let mut c = Client::connect(s.imaps);
    let refused = c.start_tls(&s.pki.ca, None, None).is_err() || c.line().is_empty();
    assert!(refused, "a client without a certificate got a greeting");
    let mut c = Client::connect(s.imaps);
    c.start_tls(
        &s.pki.ca,
        Some((&s.pki.client_cert, &s.pki.client_key)),
        None,
    )
    .unwrap();
    assert!(c.line().starts_with("* OK [CAPABILITY"));
}

#[test]
fn min_protocol_tls13_refuses_tls12_clients() {
    if !tools_present() {
        return;
    }
    let s = Server::start("min_protocol = \"TLSv1.3\"\n", "", "");
    let mut c = Client::connect(s.imaps);
    assert!(
        c.start_tls(&s.pki.ca, None, Some(SslVersion::TLS1_2))
            .is_err()
    );
    let out = s.s_client(s.imaps, &["-tls1_2"], "a LOGOUT\r\n");
    assert!(!text(&out).contains("* OK"), "{}", text(&out));
    let out = s.s_client(s.imaps, &["-tls1_3"], "a LOGOUT\r\n");
    assert!(text(&out).contains("* OK [CAPABILITY"), "{}", text(&out));
}

#[test]
fn cram_is_offered_only_when_configured() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let mut c = Client::connect(s.imap);
    assert!(!c.line().contains("CRAM"));
    c.send("a AUTHENTICATE CRAM-MD5\r\n");
    assert!(c.line().starts_with("a NO"));
    drop(s);

    let s = Server::start("", "cram = true", "");
    for mech in ["CRAM-MD5", "CRAM-SHA256"] {
        let mut c = Client::connect(s.imap);
        let greeting = c.line();
        assert!(greeting.contains(&format!("AUTH={mech}")), "{greeting}");
        c.send(&format!("a AUTHENTICATE {mech}\r\n"));
        let challenge = c.line();
        let challenge = openssl::base64::decode_block(challenge.trim_start_matches("+ ")).unwrap();
        let challenge = String::from_utf8(challenge).unwrap();
        let m = postern::auth::sasl::Mechanism::from_name(mech).unwrap();
        let digest = postern::auth::sasl::cram_digest(m, PASSWORD, &challenge).unwrap();
        c.send(&format!(
            "{}\r\n",
            openssl::base64::encode_block(format!("{USER} {digest}").as_bytes())
        ));
        let answer = c.line();
        assert!(answer.starts_with("a OK"), "{mech}: {answer}");
    }
}

#[test]
fn sni_picks_the_per_host_certificate() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    // A second certificate for mail.example.test beside the default one.
    let out = postern(&[
        "--config",
        s.config.to_str().unwrap(),
        "mkcert",
        "--ec",
        "--hostname",
        "mail.example.test",
        "--force",
    ]);
    // mkcert wrote the default file; move it to the SNI name and put the original back.
    assert!(out.status.success(), "{}", text(&out));
    let sni = format!("{}.mail.example.test", s.pki.server.display());
    std::fs::rename(&s.pki.server, &sni).unwrap();
    let mut original = std::fs::read(s.pki.dir.join("srv.crt")).unwrap();
    original.extend(std::fs::read(s.pki.dir.join("srv.key")).unwrap());
    std::fs::write(&s.pki.server, original).unwrap();

    let subject = |name: &str| {
        let out = s.s_client(s.imaps, &["-servername", name], "a LOGOUT\r\n");
        text(&out)
    };
    assert!(subject("mail.example.test").contains("CN = mail.example.test"));
    assert!(subject("localhost").contains("CN = localhost"));
}
