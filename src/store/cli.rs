//! `postern deliver` and `postern maildirmake` (placeholder contract).
use std::path::Path;
pub fn deliver(_config: &crate::config::Config, _folder: Option<&str>, _target: &str) -> u8 {
    75
}
pub fn maildirmake(_dir: &Path, _folder: Option<&str>, _quota: Option<&str>) -> anyhow::Result<()> {
    anyhow::bail!("maildirmake is not built yet")
}
