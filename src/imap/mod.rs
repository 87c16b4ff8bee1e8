//! The IMAP server.
pub mod command;
pub mod framing;
pub mod mutf7;
pub mod parser;
pub mod sequence;
pub mod syntax;
use crate::{config::Config, net::conn::Connection};
pub fn run_session(_config: &Config, _conn: Connection) -> anyhow::Result<()> {
    anyhow::bail!("imapd is not built yet")
}
