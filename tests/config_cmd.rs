//! `postern config check` and `postern config show`, run as the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use postern::config::Config;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// A temporary directory with a valid user file and a settings file naming it.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("users"),
            "# test accounts\ntester:{PLAIN}secret::::/nonexistent::\n",
        )
        .unwrap();
        let setup = Setup { dir };
        setup.write("postern.toml", "");
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a settings file: `extra` plus [auth] userfile and [tls] paths inside the
    /// directory, so nothing under /etc is looked at.
    fn write(&self, name: &str, extra: &str) -> PathBuf {
        let text = format!(
            "{extra}\n[auth]\nuserfile = \"{}\"\n",
            self.path("users").display()
        );
        let text = if extra.contains("[tls]") {
            text
        } else {
            format!(
                "{text}\n[tls]\ncertificate = \"{}\"\ndh_params = \"{}\"\n",
                self.path("cert.pem").display(),
                self.path("dh.pem").display()
            )
        };
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env_remove("POSTERN_CONFIG")
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_fails(out: &Output, needles: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn check_prints_every_key_and_round_trips() {
    let s = Setup::new();
    let file = s.write("postern.toml", "[imap]\ngreeting = \"hello\"\n");
    let out = s.run(&["config", "check", p(&file)]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(": OK"), "{stderr}");
    // No certificate in the directory: a warning, not an error.
    assert!(stderr.contains("warning: [tls] certificate"), "{stderr}");
    assert!(
        stdout.starts_with(&format!("# Effective settings from {}", file.display())),
        "{stdout}"
    );
    // The output is a settings file that means exactly what the input meant.
    let printed = Config::parse(&stdout).unwrap();
    let mut loaded = Config::load(Some(&file)).unwrap();
    loaded.path = None;
    assert_eq!(printed, loaded);
    assert_eq!(printed.imap.greeting, "hello");
    // Every key of every section is spelled out, defaults included.
    let table: toml::Table = toml::from_str(&stdout).unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    for (section, keys) in &defaults {
        for key in keys.as_table().unwrap().keys() {
            assert!(
                table[section].as_table().unwrap().contains_key(key),
                "{section}.{key} missing from:\n{stdout}"
            );
        }
    }
}

#[test]
fn unknown_key_is_an_error_naming_key_and_line() {
    let s = Setup::new();
    let file = s.path("typo.toml");
    std::fs::write(
        &file,
        "[imap]\nkeywords = true\n\n[auth]\nbackedn = \"pam\"\n",
    )
    .unwrap();
    let out = s.run(&["config", "check", p(&file)]);
    assert_fails(&out, &["auth.backedn", "line 5", "typo.toml"]);
    assert!(out.stdout.is_empty(), "settings printed for a broken file");
}

#[test]
fn wrong_type_is_an_error_naming_key_and_line() {
    let s = Setup::new();
    let file = s.path("type.toml");
    std::fs::write(&file, "[limits]\n\nidle_timeout = \"long\"\n").unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["line 3", "limits.idle_timeout", "invalid type"],
    );
    std::fs::write(&file, "[serve]\nimap = [\"localhost\"]\n").unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["line 2", "serve.imap"],
    );
}

#[test]
fn nonsense_value_is_an_error_naming_key_and_line() {
    let s = Setup::new();
    let file = s.path("zero.toml");
    std::fs::write(
        &file,
        "[serve]\nshutdown_timeout = 1\nmax_connections = 0\n",
    )
    .unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["line 3: serve.max_connections: must be at least 1"],
    );
}

#[test]
fn user_file_must_be_readable_and_valid() {
    let s = Setup::new();
    let file = s.write("postern.toml", "");
    std::fs::remove_file(s.path("users")).unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["[auth] userfile", "cannot read", p(&s.path("users"))],
    );
    std::fs::write(
        s.path("users"),
        "ok:{PLAIN}x::::/h::\nbroken:{PLAIN}x:notanumber\n",
    )
    .unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &[&format!("{}:2:", s.path("users").display())],
    );
    // With PAM the user file is not needed; a missing PAM service is only a warning.
    let pam = s.path("pam.toml");
    std::fs::write(
        &pam,
        format!(
            "[auth]\nbackend = \"pam\"\npam_service_imap = \"postern-test-no-such-service\"\n\
             [tls]\ncertificate = \"{}\"\n",
            s.path("cert.pem").display()
        ),
    )
    .unwrap();
    let out = s.run(&["config", "check", p(&pam)]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("warning: [auth] pam_service_imap: /etc/pam.d/postern-test-no-such-service"),
        "{stderr}"
    );
}

#[test]
fn tls_files_are_loaded_when_present() {
    let s = Setup::new();
    let file = s.write("postern.toml", "");
    // A certificate file that is not one.
    std::fs::write(s.path("cert.pem"), "not a certificate\n").unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["[tls]", p(&s.path("cert.pem")), "no PEM certificate"],
    );
    // A real one, made by mkcert: clean.
    std::fs::remove_file(s.path("cert.pem")).unwrap();
    let made = s.run(&[
        "--config",
        p(&file),
        "mkcert",
        "--ec",
        "--hostname",
        "mail.example.org",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let out = s.run(&["config", "check", p(&file)]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("[tls] certificate"), "{stderr}");
    assert!(stderr.contains("warning: [tls] dh_params"), "{stderr}");
    // A DH file that is not one.
    std::fs::write(s.path("dh.pem"), "garbage\n").unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &[p(&s.path("dh.pem"))],
    );
}

#[test]
fn tls_listeners_and_required_tls_need_a_certificate() {
    let s = Setup::new();
    let file = s.write("imaps.toml", "[serve]\nimaps = [\"127.0.0.1:1993\"]\n");
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["imaps listener", p(&s.path("cert.pem"))],
    );
    let file = s.write("required.toml", "[serve]\npop3 = []\nimap = []\n");
    let text_now = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text_now}require_tls_imap = true\n")).unwrap();
    assert_fails(
        &s.run(&["config", "check", p(&file)]),
        &["require_tls_imap", "nobody could log in"],
    );
}

#[test]
fn file_argument_wins_over_config_and_environment() {
    let s = Setup::new();
    let good = s.write("good.toml", "[log]\nlevel = \"debug\"\n");
    let bad = s.path("bad.toml");
    std::fs::write(&bad, "[nope]\n").unwrap();
    // --config names the bad one, the argument the good one.
    let out = s.run(&["--config", p(&bad), "config", "check", p(&good)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without the argument --config is checked ...
    assert_fails(&s.run(&["config", "check", "--config", p(&bad)]), &["nope"]);
    // ... and without either, $POSTERN_CONFIG.
    let out = Command::new(BIN)
        .args(["config", "check", "--quiet"])
        .env("POSTERN_CONFIG", &bad)
        .output()
        .unwrap();
    assert_fails(&out, &["bad.toml"]);
    let out = Command::new(BIN)
        .args(["config", "check", "-q"])
        .env("POSTERN_CONFIG", &good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // --quiet: nothing at all on success (the warning about the certificate aside).
    assert!(out.stdout.is_empty());
    // A named file that does not exist is an error.
    assert_fails(
        &s.run(&["config", "check", p(&s.path("missing.toml"))]),
        &["missing.toml"],
    );
}

#[test]
fn show_prints_settings_sections_and_single_values() {
    let s = Setup::new();
    let file = s.write("postern.toml", "[pop3]\nautologout_timeout = 900\n");
    let show = |args: &[&str]| {
        let mut all = vec!["--config", p(&file), "config", "show"];
        all.extend_from_slice(args);
        let out = s.run(&all);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let whole = show(&[]);
    assert_eq!(Config::parse(&whole).unwrap().pop3.autologout_timeout, 900);
    // `show` checks no files: the missing certificate is not mentioned.
    assert_eq!(show(&["pop3.autologout_timeout"]), "900\n");
    assert_eq!(
        show(&["tls.certificate"]),
        format!("{}\n", s.path("cert.pem").display())
    );
    assert_eq!(show(&["serve.imap"]), "[\"127.0.0.1:1143\"]\n");
    let section = show(&["imap"]);
    assert!(section.starts_with("[imap]\ngreeting = "), "{section}");
    assert!(section.contains("[imap.special_use]\n"), "{section}");
    assert!(!section.contains("[pop3]"), "{section}");
    let out = s.run(&["--config", p(&file), "config", "show", "tls.no_such_key"]);
    assert_fails(&out, &["tls.no_such_key"]);
}

/// As root every account needs a non-zero uid and gid, its own or the virtual-mail
/// owner's: `config check` run as root names the user-file accounts a login would refuse,
/// and a default that names nobody is an error wherever it runs.
#[test]
fn accounts_without_ids_are_named_when_run_as_root() {
    let s = Setup::new();
    std::fs::write(
        s.path("users"),
        "tester:{PLAIN}secret::::/nonexistent::\n\
         uidonly:{PLAIN}secret:1000:::/nonexistent::\n\
         rooted:{PLAIN}secret:0:0::/nonexistent::\n\
         full:{PLAIN}secret:1000:1000::/nonexistent::\n",
    )
    .unwrap();
    let file = s.write("postern.toml", "");
    let out = s.run(&["config", "check", p(&file)]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let root = nix::unistd::geteuid().is_root();
    for (line, user) in [(1, "tester"), (2, "uidonly"), (3, "rooted")] {
        let named = stderr.contains(&format!(":{line}: account {user} "));
        assert_eq!(named, root, "{user} (root: {root}): {stderr}");
    }
    assert!(!stderr.contains("account full "), "{stderr}");

    // With a virtual-mail owner only the root account is left.
    let with_owner = |owner: &str| {
        let path = s.path("owner.toml");
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("[auth]\n", &format!("[auth]\n{owner}\n"));
        std::fs::write(&path, text).unwrap();
        s.run(&["config", "check", p(&path)])
    };
    let out = with_owner("default_uid = \"5000\"\ndefault_gid = \"5000\"");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("account tester "), "{stderr}");
    assert!(!stderr.contains("account uidonly "), "{stderr}");
    assert_eq!(stderr.contains("account rooted "), root, "{stderr}");

    let out = with_owner("default_uid = \"postern-no-such-user\"");
    assert_fails(&out, &["default_uid", "no such user"]);
}
