use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[paths]`: where data, state and the sibling config files live. Relative paths are taken
/// from the directory of `scalp.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    /// Root of all mutable data (`/var/lib/scalp-radar` under systemd's `StateDirectory=`).
    pub data_dir: PathBuf,
    /// SQLite database file, relative to `data_dir`.
    pub db: PathBuf,
    /// Daemon state files (`collector.json`, ...), relative to `data_dir`.
    pub state_dir: PathBuf,
    /// Control requests written by the API (`control/*.json`), relative to `data_dir`.
    pub control_dir: PathBuf,
    /// Optimizer JSON reports and backups, relative to `data_dir`.
    pub reports_dir: PathBuf,
    pub backups_dir: PathBuf,
    /// Sibling config files, relative to the directory of `scalp.toml`.
    pub assets: PathBuf,
    pub strategies: PathBuf,
    pub param_grids: PathBuf,
    /// Bundled market data (replay source, demo), relative to the config dir if not absolute.
    pub bundled_data_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        PathsConfig {
            data_dir: PathBuf::from("/var/lib/scalp-radar"),
            db: PathBuf::from("scalp.db"),
            state_dir: PathBuf::from("state"),
            control_dir: PathBuf::from("control"),
            reports_dir: PathBuf::from("reports"),
            backups_dir: PathBuf::from("backups"),
            assets: PathBuf::from("assets.toml"),
            strategies: PathBuf::from("strategies.toml"),
            param_grids: PathBuf::from("param_grids.toml"),
            bundled_data_dir: PathBuf::from("/usr/share/scalp-radar/data"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`: `level` is an `EnvFilter` directive (`info`, `scalp=debug,info`); `RUST_LOG`
/// overrides it. `--log-format` on the command line overrides `format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}
