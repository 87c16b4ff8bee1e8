//! `postern mkcert`, `postern mkdhparams`, and clear start-up errors for unusable
//! certificate files.

mod tls_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use tls_support::*;

fn settings(dir: &std::path::Path, tls: &str) -> std::path::PathBuf {
    let path = dir.join("postern.toml");
    std::fs::write(
        &path,
        format!(
            "[serve]\nimap = []\npop3 = []\nimaps = [\"127.0.0.1:{}\"]\n\
             [auth]\nuserfile = \"{}\"\n[tls]\n{tls}\n",
            free_port(),
            dir.join("users").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn mkcert_creates_refuses_and_forces() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls/postern.pem");
    let config = settings(dir.path(), &format!("certificate = \"{}\"", cert.display()));
    let cfg = config.to_str().unwrap();
    let out = postern(&["--config", cfg, "mkcert", "--hostname", "mail.example.org"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::metadata(&cert).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = std::fs::read(&cert).unwrap();
    let x509 = openssl::x509::X509::from_pem(&first).unwrap();
    let cn = x509
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .to_string()
        .unwrap();
    assert_eq!(cn, "mail.example.org");
    // The file loads as a server certificate (key inside, matching).
    let loaded = postern::config::Config::load(Some(&config)).unwrap();
    postern::net::tls::Acceptor::new(&loaded.tls, postern::auth::Protocol::Imap).unwrap();

    let out = postern(&["--config", cfg, "mkcert", "--pop3", "--ec"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read(&cert).unwrap(), first);

    let out = postern(&["--config", cfg, "mkcert", "--pop3", "--ec", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(std::fs::read(&cert).unwrap(), first);
    postern::net::tls::Acceptor::new(&loaded.tls, postern::auth::Protocol::Pop3).unwrap();
}

#[test]
fn mkdhparams_creates_skips_fresh_and_renews_old() {
    let dir = tempfile::tempdir().unwrap();
    let dh = dir.path().join("dhparams.pem");
    let config = settings(dir.path(), &format!("dh_params = \"{}\"", dh.display()));
    let cfg = config.to_str().unwrap();
    let run = || {
        let out = postern(&["--config", cfg, "mkdhparams", "--bits", "512"]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run().contains("created"));
    let first = std::fs::read(&dh).unwrap();
    assert!(openssl::dh::Dh::params_from_pem(&first).is_ok());
    assert!(run().contains("left as it is"));
    assert_eq!(std::fs::read(&dh).unwrap(), first);

    let old = SystemTime::now() - Duration::from_secs(26 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&dh)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert!(run().contains("renewed"));
    assert_ne!(std::fs::read(&dh).unwrap(), first);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn unusable_certificate_files_are_named_at_start() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let cert_only = dir.path().join("srv.crt");
    let cases = [
        // A key that belongs to another certificate.
        (
            format!(
                "certificate = \"{}\"\nprivate_key = \"{}\"",
                cert_only.display(),
                pki.other_key.display()
            ),
            "other.key",
            "does not belong",
        ),
        // No key at all.
        (
            format!("certificate = \"{}\"", cert_only.display()),
            "srv.crt",
            "no private key",
        ),
        // A missing file.
        (
            format!(
                "certificate = \"{}\"",
                dir.path().join("nope.pem").display()
            ),
            "nope.pem",
            "cannot read",
        ),
        // A DH file that is not one.
        (
            format!(
                "certificate = \"{}\"\ndh_params = \"{}\"",
                pki.server.display(),
                pki.ca.display()
            ),
            "ca.pem",
            "DH",
        ),
    ];
    for (tls, file, why) in cases {
        let config = settings(dir.path(), &tls);
        let cfg = config.to_str().unwrap();
        // `serve` with an imaps listener refuses to start.
        let out = postern(&["--config", cfg, "serve"]);
        let t = text(&out);
        assert!(!out.status.success(), "{t}");
        assert!(t.contains(file) && t.contains(why), "{tls}: {t}");
        // So does a single `imapd --tls`, before touching the connection.
        let out = postern(&["--config", cfg, "imapd", "--tls", "--inetd"]);
        let t = text(&out);
        assert!(!out.status.success(), "{t}");
        assert!(t.contains(file) && t.contains(why), "{tls}: {t}");
    }
}
