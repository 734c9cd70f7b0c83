//! `state/syncd.json`: scalp-syncd's state file (written only by scalp-syncd, through
//! scalp-statefile; read by `scalpctl status`). Envelope fields `version`, `seq`, `written_at`
//! are added by scalp-statefile; `written_at` is the heartbeat. Field reference:
//! `docs/STATEFILES.md`.

use serde::{Deserialize, Serialize};

/// Payload schema version of `syncd.json`.
pub const STATE_VERSION: u32 = 1;
/// File name inside `[paths].state_dir`.
pub const STATE_FILE: &str = "syncd.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncdState {
    pub pid: u32,
    /// RFC 3339 UTC start time of this process.
    pub started_at: String,
    /// The address it listens on (`[syncd].listen`, resolved).
    pub listen: String,
    /// `true` while the database thread answers (the watchdog pings only then).
    pub healthy: bool,
    /// Rows of `optimization_results` and `portfolio_backtests` at the last self-check.
    pub optimization_results: i64,
    pub portfolio_backtests: i64,
    /// Why the last self-check failed, cleared by the next that succeeds.
    pub last_error: Option<String>,
    /// `true` in the last write, made when the daemon stops cleanly.
    pub stopped: bool,
}
