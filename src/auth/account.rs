//! Who a login is once authenticated: the account and its Courier-style options.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// The protocol a login is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Pop3,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An authenticated account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub user: String,
    /// `None`: the running user (unprivileged setups).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: PathBuf,
    /// Absolute path of the Maildir.
    pub maildir: PathBuf,
    pub options: AccountOptions,
    /// A system account (PAM/NSS: it keeps its supplementary groups); false for a
    /// virtual account of the user file.
    pub system: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("account option {option:?}: {reason}")]
pub struct OptionsError {
    pub option: String,
    pub reason: &'static str,
}

/// Courier's account options (courier-authlib `OPTIONS`), e.g.
/// `disableimap=1,group=staff,mailhost=backend1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountOptions {
    pub disable_imap: bool,
    pub disable_pop3: bool,
    /// Refuse IMAP logins that are not protected by TLS.
    pub disable_insecure_imap: bool,
    /// Refuse POP3 logins that are not protected by TLS.
    pub disable_insecure_pop3: bool,
    /// No ACLs and no virtual shared folders for this login.
    pub disable_shared: bool,
    /// ACL groups (`group=` may repeat).
    pub groups: Vec<String>,
    pub shared_group: Option<String>,
    /// The host that really holds this mailbox (proxying).
    pub mail_host: Option<String>,
    /// Options we do not act on (e.g. `disablewebmail`), kept for whoever does.
    pub other: BTreeMap<String, String>,
}

/// `name=value` pairs in order; separators are commas or white space.
fn pairs(text: &str) -> Result<Vec<(String, String)>, OptionsError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                Ok((name.to_ascii_lowercase(), value.to_owned()))
            }
            _ => Err(OptionsError {
                option: item.to_owned(),
                reason: "expected name=value",
            }),
        })
        .collect()
}

fn flag(name: &str, value: &str) -> Result<bool, OptionsError> {
    match value {
        "1" | "yes" | "true" => Ok(true),
        "0" | "no" | "false" | "" => Ok(false),
        _ => Err(OptionsError {
            option: format!("{name}={value}"),
            reason: "expected 1 or 0",
        }),
    }
}

impl AccountOptions {
    /// Options of one account (`account`) over the configured defaults (`defaults`,
    /// Courier DEFAULTOPTIONS): an option the account names replaces the default of that
    /// name entirely (so `disableimap=0` undoes a default `disableimap=1`, and the
    /// account's `group=` list replaces the default groups).
    pub fn resolve(defaults: &str, account: &str) -> Result<AccountOptions, OptionsError> {
        let account = pairs(account)?;
        let mut merged: Vec<(String, String)> = pairs(defaults)?
            .into_iter()
            .filter(|(name, _)| !account.iter().any(|(n, _)| n == name))
            .collect();
        merged.extend(account);
        let mut options = AccountOptions::default();
        for (name, value) in merged {
            match name.as_str() {
                "disableimap" => options.disable_imap = flag(&name, &value)?,
                "disablepop3" => options.disable_pop3 = flag(&name, &value)?,
                "disableinsecureimap" => options.disable_insecure_imap = flag(&name, &value)?,
                "disableinsecurepop3" => options.disable_insecure_pop3 = flag(&name, &value)?,
                "disableshared" => options.disable_shared = flag(&name, &value)?,
                "group" => options.groups.push(value),
                "sharedgroup" => options.shared_group = Some(value).filter(|v| !v.is_empty()),
                "mailhost" => options.mail_host = Some(value).filter(|v| !v.is_empty()),
                _ => {
                    options.other.insert(name, value);
                }
            }
        }
        Ok(options)
    }

    /// Parse one options string with no defaults.
    pub fn parse(text: &str) -> Result<AccountOptions, OptionsError> {
        AccountOptions::resolve("", text)
    }

    /// Whether the account may not use `protocol` at all.
    pub fn disabled_for(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Imap => self.disable_imap,
            Protocol::Pop3 => self.disable_pop3,
        }
    }

    /// Whether the account may use `protocol` only over TLS.
    pub fn requires_tls_for(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Imap => self.disable_insecure_imap,
            Protocol::Pop3 => self.disable_insecure_pop3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_courier_list() {
        let o = AccountOptions::parse(
            "disableimap=1,disableinsecurepop3=1,group=staff,group=admins,sharedgroup=eu,\
             mailhost=mx2,disablewebmail=1",
        )
        .unwrap();
        assert!(o.disabled_for(Protocol::Imap));
        assert!(!o.disabled_for(Protocol::Pop3));
        assert!(o.requires_tls_for(Protocol::Pop3));
        assert!(!o.requires_tls_for(Protocol::Imap));
        assert_eq!(o.groups, ["staff", "admins"]);
        assert_eq!(o.shared_group.as_deref(), Some("eu"));
        assert_eq!(o.mail_host.as_deref(), Some("mx2"));
        assert_eq!(o.other["disablewebmail"], "1");
    }

    #[test]
    fn account_overrides_defaults_per_name() {
        let defaults = "disableimap=1,disablepop3=1,group=everyone";
        let o = AccountOptions::resolve(defaults, "disableimap=0 group=staff").unwrap();
        assert!(!o.disabled_for(Protocol::Imap));
        assert!(o.disabled_for(Protocol::Pop3));
        assert_eq!(o.groups, ["staff"]);
        let o = AccountOptions::resolve(defaults, "").unwrap();
        assert!(o.disabled_for(Protocol::Imap) && o.disabled_for(Protocol::Pop3));
        assert_eq!(o.groups, ["everyone"]);
        assert_eq!(
            AccountOptions::resolve("", "").unwrap(),
            AccountOptions::default()
        );
    }

    #[test]
    fn bad_options() {
        assert_eq!(
            AccountOptions::parse("disableimap").unwrap_err().option,
            "disableimap"
        );
        assert_eq!(
            AccountOptions::parse("disablepop3=maybe")
                .unwrap_err()
                .option,
            "disablepop3=maybe"
        );
    }
}
