use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `[sync]`: the `optimize` side. The key is `SCALP_SYNC_API_KEY` (env), never in this file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    pub enabled: bool,
    /// e.g. `http://192.168.1.20:8787` (empty = push disabled).
    pub server_url: String,
    /// Whole-request timeout of one push, seconds (≤ 10).
    pub timeout_s: u64,
    /// Optional file holding the key (Windows convenience), relative to the config dir.
    /// Used only when `SCALP_SYNC_API_KEY` is unset.
    pub key_file: String,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: false,
            server_url: String::new(),
            timeout_s: 10,
            key_file: String::new(),
        }
    }
}

impl SyncConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if self.timeout_s == 0 || self.timeout_s > 10 {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "sync.timeout_s",
                "must be 1..=10 seconds",
            ));
        }
        Ok(())
    }
}

/// `[syncd]`: the receiving daemon. Its key is `SCALP_SYNC_API_KEY` in `secrets.env`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncdConfig {
    /// Listen address; keep 127.0.0.1 unless exposed on the LAN behind a firewall.
    pub listen: String,
    pub max_body_bytes: usize,
}

impl Default for SyncdConfig {
    fn default() -> Self {
        SyncdConfig {
            listen: "127.0.0.1:8787".into(),
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}
