//! Inherited sockets (placeholder contract).
use super::conn::Connection;
pub fn inherited_connection(_inetd: bool) -> anyhow::Result<Connection> {
    anyhow::bail!("socket activation is not built yet")
}
