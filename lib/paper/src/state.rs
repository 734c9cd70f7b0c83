//! `state/simulator.json`: written only by scalp-simulator (atomically, coalesced to at most one
//! write per `[simulator].state_interval_ms`, and at start and stop); read by scalpctl, later the
//! watchdog and the API. The envelope (`version`, `seq`, `written_at`) is scalp-statefile's.

use serde::{Deserialize, Serialize};

/// Payload schema version of `simulator.json`.
pub const STATE_VERSION: u32 = 1;
/// File name inside `[paths].state_dir`.
pub const STATE_FILE: &str = "simulator.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatorState {
    pub pid: u32,
    /// RFC 3339 UTC start time of this process.
    pub started_at: String,
    /// `true` while every runner has processed the newest stored candle of its stream within
    /// `[simulator].max_lag_s` (the watchdog pings only then).
    pub healthy: bool,
    /// Total paper capital (`[simulator].capital`).
    pub capital: f64,
    /// Σ runner equity (balance + unrealised P&L at the last close).
    pub equity: f64,
    pub global_kill_switch: GlobalKillSwitch,
    pub runners: Vec<RunnerState>,
    /// Runners ranked by the Arena score (docs/SIMULATOR.md "Arena"), best first.
    pub ranking: Vec<RankEntry>,
    /// The last control request applied from each control file.
    pub control_acks: Vec<ControlAck>,
    /// Strategies stopped by a control request (`stop`), sorted.
    #[serde(default)]
    pub halted_strategies: Vec<String>,
    /// Last database error, cleared by the next successful commit.
    pub db_error: Option<String>,
    pub rss_kb: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalKillSwitch {
    pub active: bool,
    /// Market time (ms) of the candle close at which it tripped.
    pub since: Option<i64>,
    pub reason: Option<String>,
    /// `[risk].global_kill_switch_pct` (0 = off) and `window_hours`.
    pub threshold_pct: f64,
    pub window_hours: f64,
    /// Current drawdown of the summed equity from its high of the window, percent.
    pub drawdown_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerState {
    /// `<strategy>:<asset>`.
    pub id: String,
    pub strategy: String,
    pub asset: String,
    pub exchange: String,
    pub timeframe: String,
    pub epoch: i64,
    /// Resolved params (per-asset overrides applied).
    pub params: serde_json::Value,
    pub leverage: f64,
    /// Initial paper capital of this epoch.
    pub capital: f64,
    pub equity: f64,
    /// Σ net P&L of the closed trades of this epoch.
    pub net_pnl: f64,
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub position: Option<PositionState>,
    pub levels: Vec<LevelState>,
    /// The runner's own kill switch (engine rule), or its stop for the minimum order.
    pub kill_switch: Option<KillState>,
    /// Open time (ms) of the last candle processed.
    pub last_open_time: Option<i64>,
    /// Open time of the first candle of this epoch.
    pub origin_open_time: i64,
    /// The strategy is stopped by a control request: no new entries, exits go on.
    #[serde(default)]
    pub halted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionState {
    /// `long` | `short`.
    pub side: String,
    pub qty: f64,
    pub avg_entry: f64,
    pub entries: u32,
    pub opened_at: i64,
    pub stop: Option<f64>,
    pub take_profit: Option<f64>,
    pub liquidation: Option<f64>,
    /// At the last close.
    pub unrealized_pnl: f64,
    pub margin: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelState {
    pub id: u32,
    pub side: String,
    pub price: f64,
    pub margin_frac: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillState {
    /// `kill_switch` (drawdown / losses / equity ≤ 0) or `stopped` (below the minimum order).
    pub kind: String,
    pub time: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankEntry {
    pub rank: u32,
    pub id: String,
    pub strategy: String,
    pub asset: String,
    pub score: f64,
    pub return_pct: f64,
    pub max_drawdown_pct: f64,
    pub trades: u64,
    /// `100 × wins / trades` (0 without trades), percent as in `backtest_runs`.
    pub win_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlAck {
    /// Control file name (`simulator-scalpctl.json`, `simulator-api.json`).
    pub file: String,
    pub request_id: String,
    /// RFC 3339 UTC.
    pub applied_at: String,
    /// `ok`, or why it was refused (e.g. `refused: positions open on … (use --force)`).
    pub result: String,
}
