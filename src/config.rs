//! Settings from `postern.toml` (owned by the platform work; this is the placeholder contract).

use std::path::Path;

/// Every setting, with defaults.
#[derive(Debug, Clone, Default)]
pub struct Config {}

impl Config {
    /// Load from `path`, else `$POSTERN_CONFIG`, else `/etc/postern/postern.toml`.
    pub fn load(_path: Option<&Path>) -> anyhow::Result<Config> {
        Ok(Config::default())
    }
}
