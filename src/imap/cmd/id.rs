//! ID (RFC 2971): logs what the client says it is (`[imap] id_fields`), says what we are.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::{Session, log_event};

impl Session<'_> {
    pub fn cmd_id(&mut self, fields: Option<Vec<(String, Option<String>)>>) -> CommandResult {
        if let Some(fields) = fields.filter(|_| self.config.imap.id_fields) {
            let summary: Vec<String> = fields
                .iter()
                .take(30)
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NIL")))
                .collect();
            let mut log_fields = self.log_fields_base();
            log_fields.push(("CLIENT_ID", summary.join(", ")));
            log_event(log::Level::Info, "ID", &log_fields);
        }
        self.untagged(&format!(
            "ID (\"name\" \"postern\" \"version\" \"{}\")",
            env!("CARGO_PKG_VERSION")
        ));
        Ok(Outcome::ok("ID completed"))
    }
}
