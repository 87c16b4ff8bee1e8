//! Logging: to journald when our stderr is the journal (`JOURNAL_STREAM` names it), else
//! one line per record on stderr. Events about a connection carry structured fields
//! (`USER`, `REMOTE_ADDR`, `REMOTE_PORT`, `PROTOCOL`, ...): journald keeps them as fields,
//! and on stderr they become Courier's familiar
//! `INFO: LOGIN, user=alice, ip=[192.0.2.7], port=[51234], protocol=IMAP`.

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
        match &self.sink {
            Sink::Journal(journal) => journal.log(record),
            Sink::Stderr => {
                let mut fields = Fields(Vec::new());
                let _ = record.key_values().visit(&mut fields);
                let line = format_line(record.level(), &record.args().to_string(), &fields.0);
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
        if openssl::rand::rand_bytes(&mut bytes).is_err() {
            // No randomness: the pid and the time still tell sessions apart.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            bytes = (now ^ u64::from(std::process::id()) << 40).to_be_bytes();
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
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

/// The stderr form of a record: `LEVEL: message, key=value, ...` with Courier's names
/// for the connection fields.
pub fn format_line<K: AsRef<str>, V: AsRef<str>>(
    level: Level,
    message: &str,
    fields: &[(K, V)],
) -> String {
    let word = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    };
    let mut line = format!("{word}: {message}");
    for (key, value) in fields {
        let (key, value) = (key.as_ref(), value.as_ref());
        match key {
            "USER" => line.push_str(&format!(", user={value}")),
            "REMOTE_ADDR" => line.push_str(&format!(", ip=[{value}]")),
            "REMOTE_PORT" => line.push_str(&format!(", port=[{value}]")),
            "PROTOCOL" => line.push_str(&format!(", protocol={value}")),
            other => line.push_str(&format!(", {}={value}", other.to_ascii_lowercase())),
        }
    }
    // A value from the network must not be able to forge a second line.
    let mut line: String = line
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    line.push('\n');
    line
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
        assert_eq!(line, "WARN: x, user=a??INFO: LOGIN\n");
    }

    #[test]
    fn event_without_logger_is_harmless() {
        event(Level::Info, "LOGIN", &[("USER", "u")]);
    }
}
