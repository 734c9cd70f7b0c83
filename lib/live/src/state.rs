//! `state/executor-<strategy>.json`: the executor's readable summary (written atomically by
//! the executor, its only writer; read by scalpctl, scalp-watchdog and scalp-api), and the
//! reconciliation report it keeps.

use crate::exec::Counters;
use scalp_paper::state::ControlAck;
use serde::{Deserialize, Serialize};

/// Payload schema version of the state file.
pub const STATE_VERSION: u32 = 1;

pub fn state_file(strategy: &str) -> String {
    format!("executor-{strategy}.json")
}

/// One finding of the reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileItem {
    pub runner: Option<String>,
    /// position_ok | position_mismatch | foreign_order | orders | missing_stop |
    /// unanswered_request
    pub kind: String,
    pub detail: String,
}

/// The start-up diff of the local state against the exchange, and what was done about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub at: String,
    pub policy: String,
    /// Nothing the local state does not explain.
    pub consistent: bool,
    /// none | adopt | flatten | halt
    pub action: String,
    pub items: Vec<ReconcileItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionView {
    pub side: String,
    pub qty: f64,
    pub avg: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerView {
    pub id: String,
    pub symbol: String,
    pub timeframe: String,
    pub last_open_time: Option<i64>,
    pub equity: f64,
    /// The engine's position (booked from the exchange's fills).
    pub position: Option<PositionView>,
    /// The exchange's position at the last look.
    pub exchange_position: Option<PositionView>,
    pub stop: Option<f64>,
    pub take_profit: Option<f64>,
    pub levels: usize,
    pub trades: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KillView {
    pub active: bool,
    pub since: Option<String>,
    pub reason: Option<String>,
    /// The global rule's summed equity of the live strategies at the last look, and its
    /// window high (absent while the rule is off).
    pub global_equity: Option<f64>,
    pub global_high: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorState {
    pub strategy: String,
    /// classic | uta
    pub account_mode: String,
    /// Which environment variables the keys came from (names, never values).
    pub credentials: String,
    pub started_at: String,
    pub updated_at: String,
    pub healthy: bool,
    pub ws_live: bool,
    pub halted: Option<String>,
    pub kill_switch: KillView,
    pub reconcile: ReconcileReport,
    pub runners: Vec<RunnerView>,
    pub counters: Counters,
    pub last_error: Option<String>,
    pub control_acks: Vec<ControlAck>,
}
