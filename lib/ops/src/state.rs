//! `state/watchdog.json`: written only by scalp-watchdog (after every round of checks and at
//! stop), read back by it at start (cursor, anomalies, heartbeat mark) and by scalpctl / the
//! API later. Envelope (`version`, `seq`, `written_at`) by scalp-statefile.

use crate::anomaly::Tracker;
use serde::{Deserialize, Serialize};

/// Payload schema version of `watchdog.json`.
pub const STATE_VERSION: u32 = 1;
/// File name inside `[paths].state_dir`.
pub const STATE_FILE: &str = "watchdog.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchdogState {
    pub pid: u32,
    /// RFC 3339 UTC start time of this process.
    pub started_at: String,
    /// Wall time (ms) of the last completed round of checks.
    pub last_check_ms: Option<i64>,
    /// Current anomalies and the last alert time per `kind:subject`.
    pub anomalies: Tracker,
    /// Parts waiting in `<data_dir>/watchdog/outbox` after the last delivery attempt.
    pub outbox_depth: usize,
    /// `disabled` (no token or chat id: alerts only logged), `ok`, or the last delivery error.
    pub telegram: String,
    /// The last `sim_events.id` turned into a message and queued durably.
    pub last_event_id: i64,
    /// The last `live_events.id` turned into a message and queued durably (None in a state
    /// written before live trading: set to the newest at start, the history is not alerted).
    pub last_live_event_id: Option<i64>,
    pub last_heartbeat: Option<HeartbeatMark>,
    pub last_checkpoint: Option<CheckpointResult>,
    /// Daemons whose state file was seen at least once (only those can be `daemon_down`).
    pub seen_daemons: Vec<String>,
    /// Free space on the data directory's file system, percent, at the last check.
    pub disk_free_pct: Option<f64>,
    /// Size of `scalp.db-wal` at the last check.
    pub wal_bytes: Option<u64>,
    /// Size of `scalp.db` at the last check.
    pub db_bytes: Option<u64>,
    /// The newest backup (file name) and its age in seconds at the last check.
    pub last_backup: Option<BackupSeen>,
    /// Control requests sent to scalp-api by `/stop` and `/reset_killswitch`, not yet seen
    /// acknowledged in `state/simulator.json` (the answer follows when they are).
    pub pending_controls: Vec<PendingControl>,
    /// systemd `NRestarts` per daemon at the last round (a growth is reported as a restart).
    pub unit_restarts: std::collections::BTreeMap<String, u64>,
    pub rss_kb: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupSeen {
    pub name: String,
    pub age_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingControl {
    pub request_id: String,
    /// The command as typed (`/stop grid_atr`).
    pub command: String,
    pub sent_ms: i64,
}

/// What the last heartbeat reported (the next one reports the change since).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatMark {
    pub at_ms: i64,
    pub equity: f64,
    pub trades: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResult {
    pub at_ms: i64,
    /// `ok`, `busy` (a reader kept TRUNCATE from completing; the next one will) or the error.
    pub result: String,
    pub wal_bytes_before: u64,
    pub wal_bytes_after: u64,
}
