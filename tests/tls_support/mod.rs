//! Shared by the tls_* tests: certificates made with the `openssl` command (a CA, a
//! server certificate, client certificates), a `postern serve` on free loopback ports
//! with a test user, and small IMAP/TLS client helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslStream, SslVerifyMode, SslVersion};

pub const BIN: &str = env!("CARGO_BIN_EXE_postern");
pub const USER: &str = "tim@example.org";
pub const PASSWORD: &str = "secret";

/// Whether the outside tools exist; when not, the test says so loudly and passes.
pub fn tools_present() -> bool {
    skip::require(&["openssl", "python3"])
}

#[path = "../owner/mod.rs"]
mod owner;
#[path = "../ports/mod.rs"]
mod ports;
#[path = "../common/skip.rs"]
mod skip;
pub use ports::free_port;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Test certificates in `dir`.
pub struct Pki {
    pub dir: PathBuf,
    /// CA certificate.
    pub ca: PathBuf,
    /// Server certificate followed by its key (CN/SAN localhost, 127.0.0.1).
    pub server: PathBuf,
    /// A key that belongs to no certificate here.
    pub other_key: PathBuf,
    /// Client certificate signed by the CA: CN=Tim, emailAddress=tim@example.org.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Self-signed client certificate with the same subject (not verifiable).
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn ec_key(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    );
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        for k in ["ca.key", "srv.key", "other.key", "client.key", "rogue.key"] {
            ec_key(dir, k);
        }
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=postern test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(
            dir.join("srv.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, subject, ext) in [
            ("srv", "/CN=localhost", "srv.ext"),
            (
                "client",
                "/CN=Tim/emailAddress=tim@example.org",
                "client.ext",
            ),
        ] {
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    subject,
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "rogue.key",
                "-out",
                "rogue.crt",
                "-days",
                "2",
                "-subj",
                "/CN=Tim/emailAddress=tim@example.org",
            ],
        );
        let mut server = std::fs::read(dir.join("srv.crt")).unwrap();
        server.extend(std::fs::read(dir.join("srv.key")).unwrap());
        std::fs::write(dir.join("server.pem"), server).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            ca: dir.join("ca.pem"),
            server: dir.join("server.pem"),
            other_key: dir.join("other.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            rogue_cert: dir.join("rogue.crt"),
            rogue_key: dir.join("rogue.key"),
        }
    }
}

/// A running `postern serve` with plain and TLS listeners for both protocols.
pub struct Server {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub config: PathBuf,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings text for a server in `dir`.
pub fn config_text(
    dir: &Path,
    pki: &Pki,
    ports: [u16; 4],
    tls_extra: &str,
    auth_extra: &str,
) -> String {
    format!(
        "[serve]\nimap = [\"127.0.0.1:{}\"]\nimaps = [\"127.0.0.1:{}\"]\n\
         pop3 = [\"127.0.0.1:{}\"]\npop3s = [\"127.0.0.1:{}\"]\n\
         [auth]\nuserfile = \"{}\"\nfailed_login_delay = 0\nmax_failed_logins = 10\n{}{auth_extra}\n\
         [tls]\ncertificate = \"{}\"\nca_file = \"{}\"\ndh_params = \"{}\"\n{tls_extra}\n",
        ports[0],
        ports[1],
        ports[2],
        ports[3],
        dir.join("users").display(),
        owner::owner_settings(),
        pki.server.display(),
        pki.ca.display(),
        dir.join("dhparams.pem").display(),
    )
}

/// Make the test user (with account `options`) and its Maildir in `dir`, both the mail
/// owner's (as root), and let the owner through `dir`.
pub fn make_user(dir: &Path, options: &str) {
    owner::open_to_mail_owner(dir);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(BIN)
        .arg("maildirmake")
        .arg(home.join("Maildir"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    owner::give_to_mail_owner(&home);
    std::fs::write(
        dir.join("users"),
        format!(
            "{USER}:{{PLAIN}}{PASSWORD}::::{}::{options}\n",
            home.display()
        ),
    )
    .unwrap();
}

impl Server {
    pub fn start(tls_extra: &str, auth_extra: &str, user_options: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        make_user(dir.path(), user_options);
        let config = dir.path().join("postern.toml");
        let stderr_path = dir.path().join("stderr");
        // Free ports are picked by binding port 0 and letting go: a parallel test can take
        // one in between, so a start that fails with "in use" is tried again.
        let mut attempt = 0;
        let (child, ports) = loop {
            attempt += 1;
            let ports = [free_port(), free_port(), free_port(), free_port()];
            std::fs::write(
                &config,
                config_text(dir.path(), &pki, ports, tls_extra, auth_extra),
            )
            .unwrap();
            let mut child = Command::new(BIN)
                .args(["serve", "--config"])
                .arg(&config)
                .env_remove("LISTEN_FDS")
                .env_remove("LISTEN_PID")
                .env_remove("NOTIFY_SOCKET")
                .env_remove("POSTERN_CONFIG")
                .env_remove("POSTERN_SESSION_PROGRAM")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
                .spawn()
                .unwrap();
            let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let deadline = Instant::now() + Duration::from_secs(10);
            let started = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("serve exited ({status}): {}", stderr()));
                }
                if TcpStream::connect(("127.0.0.1", ports[3])).is_ok() {
                    break Ok(());
                }
                assert!(
                    Instant::now() < deadline,
                    "serve never listened: {}",
                    stderr()
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            match started {
                Ok(()) => break (child, ports),
                Err(why) if why.contains("in use") && attempt < 5 => continue,
                Err(why) => panic!("{why}"),
            }
        };
        Server {
            child,
            dir,
            pki,
            config,
            imap: ports[0],
            imaps: ports[1],
            pop3: ports[2],
            pop3s: ports[3],
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// `openssl s_client` with `args`, sending `input` after the handshake.
    pub fn s_client(&self, port: u16, args: &[&str], input: &str) -> Output {
        let mut child = Command::new("openssl")
            .arg("s_client")
            .arg("-connect")
            .arg(format!("127.0.0.1:{port}"))
            .args(["-quiet", "-CAfile"])
            .arg(&self.pki.ca)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Give the handshake a moment so the commands go through TLS after it.
        std::thread::sleep(Duration::from_millis(300));
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    pub fn python(&self, script: &str) -> Output {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("CA", &self.pki.ca)
            .env("CLIENT_CERT", &self.pki.client_cert)
            .env("CLIENT_KEY", &self.pki.client_key)
            .env("IMAP", self.imap.to_string())
            .env("IMAPS", self.imaps.to_string())
            .env("POP3", self.pop3.to_string())
            .env("POP3S", self.pop3s.to_string())
            .env("USER", USER)
            .env("PASSWORD", PASSWORD)
            .output()
            .unwrap()
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A client connection that starts plain and may switch to TLS.
pub enum Client {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
    Switching,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client::Plain(s)
    }

    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Client::Plain(s) => s,
            Client::Tls(s) => s.as_mut(),
            Client::Switching => unreachable!(),
        }
    }

    pub fn send(&mut self, bytes: &str) {
        self.stream().write_all(bytes.as_bytes()).unwrap();
    }

    /// One line without CRLF, read byte by byte so nothing past it is consumed.
    pub fn line(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.stream().read(&mut byte) {
                Ok(1) => {
                    line.push(byte[0]);
                    if line.ends_with(b"\r\n") {
                        line.truncate(line.len() - 2);
                        return String::from_utf8_lossy(&line).into_owned();
                    }
                }
                _ => return String::from_utf8_lossy(&line).into_owned(),
            }
        }
    }

    /// Lines up to and including the one that is `tag` or starts with `tag `.
    pub fn until_tag(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            let done = line == tag || line.starts_with(&format!("{tag} ")) || line.is_empty();
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Handshake as a client; `cert` is a (certificate, key) pair to present.
    pub fn start_tls(
        &mut self,
        ca: &Path,
        cert: Option<(&Path, &Path)>,
        max: Option<SslVersion>,
    ) -> Result<(), String> {
        let Client::Plain(tcp) = std::mem::replace(self, Client::Switching) else {
            panic!("not plain");
        };
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(ca).unwrap();
        b.set_verify(SslVerifyMode::PEER);
        if let Some((c, k)) = cert {
            b.set_certificate_file(c, SslFiletype::PEM).unwrap();
            b.set_private_key_file(k, SslFiletype::PEM).unwrap();
        }
        b.set_max_proto_version(max).unwrap();
        let tls = b
            .build()
            .connect("localhost", tcp)
            .map_err(|e| e.to_string())?;
        *self = Client::Tls(Box::new(tls));
        Ok(())
    }
}

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Run `postern` with `args` (stdin closed) and return its output.
pub fn postern(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("POSTERN_CONFIG")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}
