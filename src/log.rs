//! Logging: to journald when our stderr is the journal (`JOURNAL_STREAM` names it), else
//! one line per record on stderr. Events about a connection carry structured fields
//! (`USER`, `REMOTE_ADDR`, `REMOTE_PORT`, `PROTOCOL`, ...): journald keeps them as fields,
//! and on stderr they become Courier's familiar
//! `INFO: LOGIN, user=alice, ip=[192.0.2.7], port=[51234], protocol=IMAP`. The journal's
//! `MESSAGE` carries the same text (without the level word), because log watchers such as
//! fail2ban's `journald` backend read only `MESSAGE`, never the other fields.
//!
//! Field values come from the client (user names, ID strings): they are escaped (see
//! [`escape`]) so that a value can neither end its field, start a forged `ip=[...]` one,
//! nor begin a second line.

use std::borrow::Cow;

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};
use systemd_journal_logger::JournalLog;

use crate::config;

enum Sink {
    Journal(JournalLog),
    Stderr,
}

struct Logger {
    sink: Sink,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut fields = Fields(Vec::new());
        let _ = record.key_values().visit(&mut fields);
        let text = format_text(&record.args().to_string(), &fields.0);
        match &self.sink {
            Sink::Journal(journal) => journal.log(
                &Record::builder()
                    .level(record.level())
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .args(format_args!("{text}"))
                    .key_values(record.key_values())
                    .build(),
            ),
            Sink::Stderr => {
                let line = format!("{}: {text}\n", level_word(record.level()));
                // One write per line, so that lines of concurrent processes do not mix.
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

struct Fields(Vec<(String, String)>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0.push((key.to_string(), value.to_string()));
        Ok(())
    }
}

/// Install the logger for this process, named `program` in the journal
/// (`SYSLOG_IDENTIFIER`). A second call does nothing. The level starts at `info`.
pub fn init(program: &str) {
    let sink = if systemd_journal_logger::connected_to_journal() {
        match JournalLog::new() {
            Ok(journal) => Sink::Journal(journal.with_syslog_identifier(program.to_owned())),
            Err(_) => Sink::Stderr,
        }
    } else {
        Sink::Stderr
    };
    if log::set_boxed_logger(Box::new(Logger { sink })).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

/// Apply `[log] level`.
pub fn set_level(level: config::Level) {
    log::set_max_level(level.to_filter());
}

/// This process's session, named once (see [`start_session`]).
static SESSION_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the session this process serves: every later [`event`] carries it as
/// `SESSION_ID`, so all lines of one connection can be found together
/// (`journalctl SESSION_ID=...`). Returns the id (16 hex digits).
pub fn start_session() -> &'static str {
    SESSION_ID.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if crate::random::fill(&mut bytes).is_err() {
            // No randomness: the pid and the time still tell sessions apart.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            bytes = (now ^ u64::from(std::process::id()) << 40).to_be_bytes();
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// Goes on with a session another process started (`postern-session` after login):
/// its lines carry the same `SESSION_ID`. Returns false if this process had one already.
pub fn continue_session(id: &str) -> bool {
    SESSION_ID.set(id.to_owned()).is_ok()
}

/// Log `message` with structured `fields` (journald field names: upper case, digits, `_`).
pub fn event(level: Level, message: &str, fields: &[(&str, &str)]) {
    if level > log::max_level() {
        return;
    }
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    if let Some(id) = SESSION_ID.get() {
        all.push(("SESSION_ID", id));
    }
    log::logger().log(
        &Record::builder()
            .level(level)
            .target("postern")
            .args(format_args!("{message}"))
            .key_values(&all)
            .build(),
    );
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// Whether `c` may not appear as itself in a logged value: the field syntax (`,` `=`
/// `[` `]`), the escape character, and anything that breaks or hides a line (control
/// characters, Unicode line and paragraph separators).
fn needs_escape(c: char) -> bool {
    matches!(c, ',' | '=' | '[' | ']' | '\\' | '\u{2028}' | '\u{2029}') || c.is_control()
}

/// Client-chosen text made safe for one log field: the characters of [`needs_escape`]
/// become `\xNN` (ASCII and C1) or `\u{N}`, so `x ip=[6.6.6.6], user=root` is logged as
/// `x ip\x3d\x5b6.6.6.6\x5d\x2c user\x3droot` and cannot pose as another field. Call it
/// for user names put into free-text messages; [`event`] fields are escaped already.
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.chars().any(needs_escape) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// `message, key=value, ...` with Courier's names for the connection fields and every
/// value escaped. The message is ours, but may quote client text: its control characters
/// are escaped too, so no record spans two lines.
pub fn format_text<K: AsRef<str>, V: AsRef<str>>(message: &str, fields: &[(K, V)]) -> String {
    let mut text = String::with_capacity(message.len() + 64);
    for c in message.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            text.push_str(&escape(c.encode_utf8(&mut [0u8; 4])));
        } else {
            text.push(c);
        }
    }
    for (key, value) in fields {
        let value = escape(value.as_ref());
        match key.as_ref() {
            "USER" => text.push_str(&format!(", user={value}")),
            "REMOTE_ADDR" => text.push_str(&format!(", ip=[{value}]")),
            "REMOTE_PORT" => text.push_str(&format!(", port=[{value}]")),
            "PROTOCOL" => text.push_str(&format!(", protocol={value}")),
            other => text.push_str(&format!(", {}={value}", other.to_ascii_lowercase())),
        }
    }
    text
}

/// The stderr form of a record: `LEVEL: message, key=value, ...` (see [`format_text`]).
pub fn format_line<K: AsRef<str>, V: AsRef<str>>(
    level: Level,
    message: &str,
    fields: &[(K, V)],
) -> String {
    format!("{}: {}\n", level_word(level), format_text(message, fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courier_style_login_line() {
        let line = format_line(
            Level::Info,
            "LOGIN",
            &[
                ("USER", "alice"),
                ("REMOTE_ADDR", "192.0.2.7"),
                ("REMOTE_PORT", "51234"),
                ("PROTOCOL", "IMAP"),
                ("STARTTLS", "1"),
            ],
        );
        assert_eq!(
            line,
            "INFO: LOGIN, user=alice, ip=[192.0.2.7], port=[51234], protocol=IMAP, starttls=1\n"
        );
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let line = format_line(Level::Warn, "x", &[("USER", "a\r\nINFO: LOGIN")]);
        assert_eq!(line, "WARN: x, user=a\\x0d\\x0aINFO: LOGIN\n");
        let line = format_line::<&str, &str>(Level::Info, "PAM says\nINFO: LOGIN", &[]);
        assert_eq!(line, "INFO: PAM says\\x0aINFO: LOGIN\n");
    }

    #[test]
    fn user_names_cannot_forge_fields() {
        let line = format_line(
            Level::Info,
            "LOGIN FAILED",
            &[
                ("REMOTE_ADDR", "127.0.0.1"),
                ("USER", "x ip=[6.6.6.6], user=root"),
            ],
        );
        assert_eq!(
            line,
            "INFO: LOGIN FAILED, ip=[127.0.0.1], user=x ip\\x3d\\x5b6.6.6.6\\x5d\\x2c user\\x3droot\n"
        );
        assert_eq!(line.matches("ip=[").count(), 1);
    }

    #[test]
    fn escape_is_reversible_and_leaves_plain_names() {
        assert!(matches!(escape("alice@example.org"), Cow::Borrowed(_)));
        assert_eq!(escape("ünï côdé"), "ünï côdé");
        assert_eq!(escape("a\\x3d"), "a\\x5cx3d");
        assert_eq!(escape("\u{85}\u{2028}"), "\\x85\\u{2028}");
    }

    #[test]
    fn event_without_logger_is_harmless() {
        event(Level::Info, "LOGIN", &[("USER", "u")]);
    }
}
