//! SMAP's `\SMAP1 STARTTLS` (smap.sgml, "Enabling encryption") over a real socket: the
//! IMAP session's STARTTLS engine, so the same certificate, the same handshake and the
//! same guard against commands pipelined before TLS. Driven by Python's ssl module
//! (`SKIP:` without python3 and openssl).

mod tls_support;

use std::process::Command;

use tls_support::*;

/// The client: plaintext greeting, STARTTLS with a LOGIN pipelined behind it (which must
/// be dropped), then TLS, LOGIN, OPEN and LOGOUT; prints every line it reads.
const CLIENT: &str = r#"
import socket, ssl, sys
port, ca, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
print("greeting:", f.readline().decode().rstrip())
s.sendall(("\\SMAP1 STARTTLS\n\\SMAP1 LOGIN %s %s\n" % (user, pw)).encode())
print("starttls:", f.readline().decode().rstrip())
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(s, server_hostname="localhost")
g = t.makefile("rb")
def cmd(line):
    t.sendall((line + "\n").encode())
    while True:
        l = g.readline().decode()
        print("reply:", l.rstrip("\n"))
        if l.startswith("+OK") or l.startswith("-ERR") or not l:
            return
cmd("\\SMAP1 CAPABILITY")
cmd("\\SMAP1 LOGIN %s %s" % (user, pw))
cmd("OPEN INBOX")
cmd("LOGOUT")
"#;

#[test]
fn smap_starttls_then_login() {
    if !tools_present() {
        return;
    }
    let s = Server::start("\n[imap]\nsmap = true\n", "", "");
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(s.imap.to_string())
        .arg(&s.pki.ca)
        .arg(USER)
        .arg(PASSWORD)
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].contains(" SMAP1 ") && lines[0].contains(" STARTTLS"),
        "{t}{err}"
    );
    assert_eq!(
        lines[1], "starttls: +OK Ready to accept an encrypted SMAP1 connection",
        "{t}{err}"
    );
    // The LOGIN sent with STARTTLS was dropped: the first reply after TLS is CAPABILITY's,
    // which no longer offers STARTTLS.
    assert!(lines[2].starts_with("reply: * CAPABILITY "), "{t}{err}");
    assert!(!lines[2].contains("STARTTLS"), "{t}{err}");
    assert_eq!(
        lines[3], "reply: +OK SMAP1 capability list complete.",
        "{t}{err}"
    );
    assert_eq!(lines[4], "reply: +OK SMAP1 LOGIN Ok.", "{t}{err}");
    assert_eq!(lines[5], "reply: * EXISTS 0", "{t}{err}");
    assert_eq!(lines[6], "reply: +OK Folder opened", "{t}{err}");
    assert!(s.stderr().contains("SMAP1"), "{}", s.stderr());
}
