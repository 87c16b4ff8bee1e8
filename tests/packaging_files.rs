//! The packaging files against the tree they package: versions agree, the packaged
//! settings parse and name PAM services the packages ship, every unit and manual page is
//! installed, and the maintainer scripts are valid shell. Building, installing and
//! logging in through the packages is `.ci/packages`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use postern::config::{Backend, Config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files_in(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The settings file the packages install: etc/postern.toml through the sed script.
fn packaged_settings() -> String {
    let out = Command::new("sed")
        .arg("-f")
        .arg(root().join("packaging/postern.toml.sed"))
        .arg(root().join("etc/postern.toml"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run sed");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn versions_agree() {
    let cargo: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let version = cargo["package"]["version"].as_str().unwrap().to_owned();
    let changelog = read("packaging/debian/changelog");
    let first = changelog.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("postern ({version}")),
        "packaging/debian/changelog starts with {first:?}, Cargo.toml says {version}"
    );
    let spec = read("packaging/rpm/postern.spec");
    let spec_version = spec
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(str::trim);
    assert_eq!(spec_version, Some(version.as_str()), "postern.spec Version");
    assert!(
        spec.contains(&format!("- {version}-")),
        "postern.spec %changelog has no entry for {version}"
    );
}

#[test]
fn packaged_settings_parse_and_differ_only_where_meant() {
    let shipped = read("etc/postern.toml");
    let packaged = packaged_settings();
    let config = Config::parse(&packaged).unwrap();
    assert_eq!(config.auth.backend, Backend::Pam);
    assert_eq!(config.auth.pam_service_imap, "postern-imap");
    assert_eq!(config.auth.pam_service_pop3, "postern-pop3");
    // Everything else is the built-in default, like the file it came from.
    let mut rest = config.clone();
    let defaults = Config::default();
    rest.auth.backend = defaults.auth.backend;
    rest.auth.pam_service_imap = defaults.auth.pam_service_imap.clone();
    rest.auth.pam_service_pop3 = defaults.auth.pam_service_pop3.clone();
    assert_eq!(rest, defaults);
    // Every substitution matched a line (a renamed key in etc/postern.toml fails here).
    let changed = shipped
        .lines()
        .zip(packaged.lines().skip(1))
        .filter(|(a, b)| a != b)
        .count();
    let substitutions = read("packaging/postern.toml.sed")
        .lines()
        .filter(|l| l.starts_with("s|"))
        .count();
    assert_eq!(changed, substitutions, "packaged:\n{packaged}");
}

#[test]
fn packages_ship_the_pam_services_the_settings_name() {
    let config = Config::parse(&packaged_settings()).unwrap();
    let spec = read("packaging/rpm/postern.spec");
    let rules = read("packaging/debian/rules");
    for service in [&config.auth.pam_service_imap, &config.auth.pam_service_pop3] {
        let deb = format!("packaging/debian/postern.{service}.pam");
        assert!(root().join(&deb).is_file(), "{deb} is missing");
        assert!(
            rules.contains(&format!("dh_installpam --name={service}\n")),
            "debian/rules does not install {deb}"
        );
        let rpm_dest = format!("%{{buildroot}}%{{_sysconfdir}}/pam.d/{service}\n");
        assert!(
            spec.contains(&rpm_dest),
            "postern.spec does not install {service}"
        );
        assert!(
            spec.contains(&format!(
                "%config(noreplace) %{{_sysconfdir}}/pam.d/{service}\n"
            )),
            "postern.spec %files lacks {service}"
        );
    }
    for pam in files_in("packaging/rpm")
        .iter()
        .filter(|f| f.ends_with(".pam"))
    {
        assert!(
            spec.contains(&format!("packaging/rpm/{pam} ")),
            "packaging/rpm/{pam} is not installed by postern.spec"
        );
    }
}

/// Units with an [Install] section: the ones that can be enabled.
fn installable_units() -> Vec<String> {
    files_in("systemd")
        .into_iter()
        .filter(|u| read(&format!("systemd/{u}")).contains("\n[Install]\n"))
        .collect()
}

#[test]
fn every_unit_is_installed_and_handled() {
    let units = files_in("systemd");
    assert!(
        units.iter().any(|u| u == "postern-imap.socket"),
        "{units:?}"
    );
    // Both packages install systemd/*.socket, *.service and *.timer.
    for unit in &units {
        assert!(
            [".socket", ".service", ".timer"]
                .iter()
                .any(|ext| unit.ends_with(ext)),
            "systemd/{unit}: not a kind the packages install"
        );
        assert!(
            !read(&format!("systemd/{unit}")).contains("ExecStart=/usr/bin/postern"),
            "systemd/{unit}: the packages install /usr/sbin/postern"
        );
    }
    // Every unit that can be enabled gets the maintainer-script handling: debhelper's
    // snippets (enable/start, stop on removal, purge) and the spec's systemd macros.
    let rules = read("packaging/debian/rules");
    let dh_part = &rules[rules.find("override_dh_installsystemd:").unwrap()..];
    let dh_part = &dh_part[..dh_part.find("\n\n").unwrap_or(dh_part.len())];
    let spec = read("packaging/rpm/postern.spec");
    let spec_units = spec
        .lines()
        .find_map(|l| l.strip_prefix("%global postern_units "))
        .expect("%global postern_units in postern.spec");
    for unit in installable_units() {
        assert!(
            dh_part.contains(&unit),
            "debian/rules override_dh_installsystemd does not name {unit}"
        );
        assert!(
            spec_units.split_whitespace().any(|u| u == unit),
            "postern.spec postern_units lacks {unit}"
        );
    }
}

#[test]
fn every_manual_page_is_installed() {
    let manpages = read("packaging/debian/postern.manpages");
    let spec = read("packaging/rpm/postern.spec");
    for page in files_in("man") {
        let section = page.rsplit('.').next().unwrap();
        assert!(
            manpages.lines().any(|l| l == format!("man/*.{section}")),
            "man/{page}: packaging/debian/postern.manpages has no man/*.{section}"
        );
        assert!(
            spec.contains(&format!("%{{_mandir}}/man{section}/")),
            "man/{page}: postern.spec %files has no man{section}"
        );
    }
}

#[test]
fn maintainer_scripts_are_valid_shell() {
    for script in [
        "packaging/debian/postern.postinst",
        "packaging/debian/postern.postrm",
        "packaging/build-deb",
        "packaging/build-rpm",
        ".ci/packages",
    ] {
        let path = root().join(script);
        let shell = if read(script).starts_with("#!/bin/sh") {
            "sh"
        } else {
            "bash"
        };
        let status = Command::new(shell).arg("-n").arg(&path).status().unwrap();
        assert!(status.success(), "{shell} -n {script}");
    }
    for executable in [
        "packaging/debian/rules",
        "packaging/build-deb",
        "packaging/build-rpm",
        ".ci/packages",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root().join(executable))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{executable} is not executable");
    }
    // Both postinsts read their paths from the installed settings, not hard-coded.
    let postinst = read("packaging/debian/postern.postinst");
    let spec = read("packaging/rpm/postern.spec");
    for text in [&postinst, &spec] {
        assert!(text.contains(" config show tls.certificate"));
        assert!(text.contains(" config show tls.dh_params"));
    }
    assert!(postinst.contains("#DEBHELPER#"));
    assert!(Path::new(&root().join("packaging/debian/source/format")).is_file());
}
