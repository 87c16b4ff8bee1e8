//! POP3 over TLS: implicit TLS (995) and STLS with `openssl s_client` and poplib,
//! the STLS injection guard, AUTH EXTERNAL and require_tls_pop3.

// Both fixtures bring their own copy of tests/ports (a free-port picker, no state).
#![allow(clippy::duplicate_mod)]

mod common;
mod tls_support;

use common::pop3::Pop3;
use tls_support::*;

#[test]
fn pop3s_and_stls_with_s_client_and_poplib() {
    if !tools_present() {
        return;
    }
    let s = Server::start("", "", "");
    let out = s.s_client(
        s.pop3s,
        &["-verify_return_error"],
        &format!("USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nQUIT\r\n"),
    );
    let t = text(&out);
    assert!(t.contains("+OK Logged in"), "{t}");
    assert!(t.contains("+OK 0 0"), "{t}");

    let out = s.s_client(
        s.pop3,
        &["-starttls", "pop3", "-verify_return_error"],
        &format!("CAPA\r\nUSER {USER}\r\nPASS {PASSWORD}\r\nQUIT\r\n"),
    );
    let t = text(&out);
    assert!(t.contains("+OK Logged in"), "{t}");
    assert!(!t.contains("\nSTLS"), "no STLS after TLS: {t}");

    let out = s.python(
        r#"
import os, poplib, ssl
ctx = ssl.create_default_context(cafile=os.environ["CA"])
p = poplib.POP3_SSL("127.0.0.1", int(os.environ["POP3S"]), context=ctx)
p.user(os.environ["USER"]); p.pass_(os.environ["PASSWORD"])
print(p.stat())
p.quit()
p = poplib.POP3("127.0.0.1", int(os.environ["POP3"]))
assert "STLS" in p.capa(), p.capa()
p.stls(context=ctx)
p.user(os.environ["USER"]); p.pass_(os.environ["PASSWORD"])
print(p.stat())
p.quit()
"#,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(0, 0)\n(0, 0)\n",
        "{}",
        text(&out)
    );
}

#[test]
fn stls_drops_pipelined_plaintext_and_require_tls() {
    if !tools_present() {
        return;
    }
    let s = Server::start("require_tls_pop3 = true\n", "", "");
    let mut c = Pop3::connect(s.pop3);
    assert!(c.greeting.starts_with("+OK"));
    let capa = c.list("CAPA");
    assert!(capa.iter().any(|l| l == "STLS"), "{capa:?}");
    assert!(
        !capa.iter().any(|l| l.starts_with("SASL") || l == "USER"),
        "{capa:?}"
    );
    assert!(c.cmd(&format!("USER {USER}")).starts_with("-ERR [AUTH]"));
    c.send(format!("STLS\r\nUSER {USER}\r\n").as_bytes());
    assert_eq!(c.line(), "+OK Begin TLS negotiation now.");
    c.start_tls(&s.pki.ca, None).unwrap();
    // USER was sent in plaintext and dropped, so PASS has no user.
    assert_eq!(c.cmd(&format!("PASS {PASSWORD}")), "-ERR Send USER first.");
    c.send(format!("USER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes());
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK Logged in"));
}

#[test]
fn pop3_auth_external() {
    if !tools_present() {
        return;
    }
    let s = Server::start(
        "verify_peer = \"optional\"\nexternal_field = \"emailAddress\"\n",
        "",
        "",
    );
    let client = Some((s.pki.client_cert.as_path(), s.pki.client_key.as_path()));
    let mut c = Pop3::connect_tls(s.pop3s, &s.pki.ca, client);
    assert!(c.greeting.starts_with("+OK"));
    let capa = c.list("CAPA");
    assert!(
        capa.iter()
            .any(|l| l.starts_with("SASL") && l.ends_with(" EXTERNAL")),
        "{capa:?}"
    );
    assert!(c.cmd("AUTH EXTERNAL =").starts_with("+OK Logged in"));

    let mut c = Pop3::connect_tls(s.pop3s, &s.pki.ca, None);
    assert!(c.cmd("AUTH EXTERNAL =").starts_with("-ERR"));
}
