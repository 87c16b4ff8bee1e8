//! The IMAP server: `imapd` serves one session on an inherited connection.
//!
//! Framing and grammar (`framing`, `parser`, `command`) are apart from the session
//! (`session`, `cmd_*`), which drives the engines (`fetch`, `search`, `sync`, `idle`).

mod cmd;
pub mod command;
pub mod datetime;
pub mod fetch;
pub mod flags;
pub mod framing;
pub mod message_syntax;
pub mod mutf7;
pub mod names;
pub mod parser;
pub mod response;
pub mod search;
pub mod sequence;
pub mod session;
pub mod sets;
pub mod sync;
pub mod syntax;
pub mod table;
mod wire;

use crate::{config::Config, net::conn::Connection};

/// Serves one IMAP session until the client logs out or goes away.
pub fn run_session(config: &Config, conn: Connection) -> anyhow::Result<()> {
    session::Session::new(config, conn).run()
}
