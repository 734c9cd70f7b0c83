//! Control requests to the simulator: declarative JSON files under `[paths].control_dir`, one
//! file per requester so each file keeps one writer — `simulator-scalpctl.json` (scalpctl) and
//! `simulator-api.json` (scalp-api). A requester rewrites its file atomically with a new
//! `request_id`; the simulator applies a request once (it remembers the last applied id per file,
//! in `state/simulator.json` `control_acks`) and acknowledges it there. A request written while
//! the simulator is stopped is applied at its next start, before the first candle.

use serde::{Deserialize, Serialize};

/// Payload schema version of the control files.
pub const CONTROL_VERSION: u32 = 1;
/// Control files the simulator reads (in this order).
pub const CONTROL_FILES: &[&str] = &["simulator-scalpctl.json", "simulator-api.json"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// Unique per request (e.g. `<unix ms>-<pid>`): a new id is a new request.
    pub request_id: String,
    /// RFC 3339 UTC.
    pub requested_at: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A fresh start at the initial capital (a new epoch) for every runner of `strategy`, or all
    /// runners. Refused while a concerned runner holds a position, unless `force` (the position
    /// is then dropped from paper accounting, not closed at a price).
    Reset {
        strategy: Option<String>,
        #[serde(default)]
        force: bool,
    },
    /// Clears the global kill switch (`strategy: None`) or the kill switch of `strategy`'s
    /// runners.
    ResetKillSwitch { strategy: Option<String> },
    /// Halts new entries for every runner of `strategy` (open positions keep being managed: stops,
    /// take-profits and exits go on). Persisted across restarts until a `start`.
    Stop { strategy: String },
    /// Lifts a `stop` of `strategy`.
    Start { strategy: String },
    /// Executor only (`scalpctl reset executor`, control/executor-<s>-scalpctl.json): at its
    /// next start, the executor of `strategy` clears its local state (kill switch, session,
    /// book, positions), keeping a copy. Refused while the exchange shows positions or orders
    /// on its symbols, unless `force`.
    ResetExecutor {
        strategy: String,
        #[serde(default)]
        force: bool,
    },
}
