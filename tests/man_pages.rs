//! The manual pages in `man/` against the binary: every flag a subcommand's `--help`
//! lists is documented in that subcommand's page, every subcommand has a page, and every
//! page passes `mandoc -Tlint` without errors, and every setting of `etc/postern.toml` is in
//! postern.toml(5).
//!
//! Subcommands are taken from the binary's own `--help`, so a page written ahead of its
//! subcommand (say `mkcert` on a branch without TLS) does not fail the test.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

/// Every page the packages install.
const PAGES: &[&str] = &[
    "postern.8",
    "postern-imapd.8",
    "postern-session.8",
    "postern-login.8",
    "postern-pop3d.8",
    "postern-serve.8",
    "postern-config.8",
    "postern-deliver.8",
    "postern-maildirmake.1",
    "postern-maildiracl.1",
    "postern-sharedindex.8",
    "postern-mkcert.8",
    "postern-mkdhparams.8",
    "postern-pw.8",
    "postern.toml.5",
];

/// Subcommands documented in postern(8) rather than in a page of their own.
const IN_MAIN_PAGE: &[&str] = &["demo", "help"];

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--help")
        .output()
        .expect("run postern");
    assert!(
        out.status.success(),
        "postern {args:?} --help failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The lines of one `Heading:` block of clap's help, up to the next blank line.
fn block<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| l.trim_end() != heading)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// Subcommand names from `postern --help`.
fn subcommands() -> Vec<String> {
    let top = help(&[]);
    let names: Vec<String> = block(&top, "Commands:")
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.iter().any(|n| n == "imapd"),
        "no subcommands found in:\n{top}"
    );
    names
}

/// `-x` and `--long` flags from the `Options:` block: the leading tokens of each
/// entry, before its value name and description.
fn flags(help: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for line in block(help, "Options:") {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue; // continuation of a description
        }
        for token in line.split_whitespace() {
            let token = token.trim_end_matches(',');
            let token = token.split('=').next().unwrap_or(token);
            if !token.starts_with('-') {
                break;
            }
            flags.push(token.to_owned());
        }
    }
    flags
}

/// The page's source with roff escapes for hyphens and fonts removed, so that
/// `\fB\-\-force\fR` reads `--force`.
fn page_text(name: &str) -> String {
    let path = man_dir().join(name);
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = source.replace("\\-", "-").replace("\\(hy", "-");
    for font in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        text = text.replace(font, "");
    }
    text
}

/// Whether `flag` occurs in `text` as a whole word: `-f` does not match `--force`.
fn mentions(text: &str, flag: &str) -> bool {
    let part_of_flag = |c: char| c.is_ascii_alphanumeric() || c == '-';
    text.match_indices(flag).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + flag.len()..].chars().next();
        !before.is_some_and(part_of_flag) && !after.is_some_and(part_of_flag)
    })
}

/// The page that documents `sub`: `postern-SUB.8` or `.1`, else postern(8).
fn page_for(sub: &str) -> String {
    ["8", "1"]
        .iter()
        .map(|section| format!("postern-{sub}.{section}"))
        .find(|name| man_dir().join(name).is_file())
        .unwrap_or_else(|| "postern.8".to_owned())
}

#[test]
fn every_page_exists() {
    for page in PAGES {
        assert!(man_dir().join(page).is_file(), "man/{page} is missing");
    }
}

#[test]
fn every_subcommand_has_a_page() {
    let main = page_text("postern.8");
    for sub in subcommands() {
        assert!(
            mentions(&main, &sub),
            "postern.8 does not mention subcommand {sub}"
        );
        if IN_MAIN_PAGE.contains(&sub.as_str()) {
            continue;
        }
        let page = page_for(&sub);
        assert_ne!(
            page, "postern.8",
            "subcommand {sub} has no man/postern-{sub}.8 or .1"
        );
        assert!(PAGES.contains(&page.as_str()), "man/{page} is not in PAGES");
    }
}

#[test]
fn global_flags_are_in_postern_8() {
    let text = page_text("postern.8");
    let top = flags(&help(&[]));
    assert!(
        top.iter().any(|f| f == "--config"),
        "no --config in {top:?}"
    );
    for flag in top {
        assert!(mentions(&text, &flag), "postern.8 does not document {flag}");
    }
}

#[test]
fn every_flag_is_in_its_page() {
    let global = flags(&help(&[]));
    let mut missing = Vec::new();
    for sub in subcommands() {
        if sub == "help" {
            continue;
        }
        let page = page_for(&sub);
        let text = page_text(&page);
        let sub_flags = flags(&help(&[&sub]));
        assert!(
            sub_flags.iter().any(|f| f == "--help"),
            "no flags parsed for {sub}"
        );
        for flag in sub_flags {
            // Global flags (--config) are documented in postern.8, checked above.
            if global.contains(&flag) && !matches!(flag.as_str(), "-h" | "--help") {
                continue;
            }
            if !mentions(&text, &flag) {
                missing.push(format!("{sub} {flag} (man/{page})"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented flags: {missing:#?}");
}

#[test]
fn mandoc_lint_finds_no_errors() {
    if Command::new("mandoc").arg("-h").output().is_err() {
        eprintln!(
            "SKIP mandoc_lint_finds_no_errors: mandoc is not installed (apt-get install mandoc)"
        );
        return;
    }
    let mut errors = Vec::new();
    for page in PAGES {
        let out = Command::new("mandoc")
            .arg("-Tlint")
            .arg(man_dir().join(page))
            .output()
            .expect("run mandoc");
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        errors.extend(
            report
                .lines()
                .filter(|l| l.contains(": ERROR:") || l.contains(": UNSUPP:"))
                .map(str::to_owned),
        );
    }
    assert!(errors.is_empty(), "mandoc -Tlint: {errors:#?}");
}

/// Every key of the shipped settings file is documented in postern.toml(5), under its
/// section.
#[test]
fn every_setting_is_in_postern_toml_5() {
    let etc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/postern.toml"))
            .unwrap();
    let page = std::fs::read_to_string(man_dir().join("postern.toml.5")).unwrap();
    let mut section = String::new();
    let mut missing = Vec::new();
    for line in etc.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            assert!(
                page.contains(&format!(".SS [{section}]")),
                "[{section}] has no .SS"
            );
            continue;
        }
        if line.starts_with('#') || !line.contains('=') {
            continue;
        }
        let key = line.split('=').next().unwrap().trim();
        // The page's section for this key: from its .SS [section] to the next .SS.
        let start = page.find(&format!(".SS [{section}]")).unwrap();
        let rest = &page[start + 4..];
        let end = rest.find(".SS ").unwrap_or(rest.len());
        if !rest[..end].contains(&format!(".B {key} ")) {
            missing.push(format!("[{section}] {key}"));
        }
    }
    assert!(missing.is_empty(), "not in postern.toml(5): {missing:?}");
}
