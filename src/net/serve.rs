//! The listener (placeholder contract).
pub fn run(_config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("serve is not built yet")
}
