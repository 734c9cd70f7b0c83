use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `[executor]`: live trading, the same for every `scalp-executor@<strategy>` instance (each
/// strategy trades its own Bitget sub-account with its own keys; docs/EXECUTOR.md). Every key
/// has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Capital (USDT) each live strategy trades with, split equally between its assets. It must
    /// not exceed the sub-account's available balance (checked at start).
    pub capital: f64,
    /// `isolated` (the engine's margin model, default) or `crossed`; set on every symbol at start
    /// and sent on every UTA order (exchanges-private.md §6.1).
    pub margin_mode: MarginModeSetting,
    /// What to do at start when the exchange holds positions or orders the local state does not
    /// explain: `adopt` (take them over, re-arm the stop), `flatten` (close and cancel them),
    /// `halt` (stay up, trade nothing, alert until a reset).
    pub reconcile: ReconcilePolicy,
    /// A position the strategy gives no stop is protected by an exchange-side stop at this
    /// fraction of the way from its entry to the liquidation distance `1 / leverage`.
    pub protective_frac: f64,
    /// Session kill switch: flatten and halt when the strategy's equity fell this many percent
    /// below its highest value of the last `kill_window_hours`. 0 = off.
    pub kill_loss_pct: f64,
    pub kill_window_hours: f64,
    /// REST poll of orders, fills and positions while the WebSocket is quiet (also the
    /// fallback when it is down).
    pub poll_interval_ms: u64,
    /// Protection check (positions, orders, plans) of every runner without a WebSocket push,
    /// while the WebSocket is live; every `poll_interval_ms` while it is down.
    pub check_interval_ms: u64,
    /// Minimum interval between two writes of `state/executor-<strategy>.json`.
    pub state_interval_ms: u64,
    /// Per-request HTTP timeout towards Bitget.
    pub request_timeout_ms: u64,
    /// Attempts per request (429 / 5xx / timeouts), the first included.
    pub max_attempts: u32,
}

/// `[executor].margin_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginModeSetting {
    #[default]
    Isolated,
    Crossed,
}

/// `[executor].reconcile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcilePolicy {
    #[default]
    Adopt,
    Flatten,
    Halt,
}

impl ReconcilePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcilePolicy::Adopt => "adopt",
            ReconcilePolicy::Flatten => "flatten",
            ReconcilePolicy::Halt => "halt",
        }
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            capital: 1000.0,
            margin_mode: MarginModeSetting::Isolated,
            reconcile: ReconcilePolicy::Adopt,
            protective_frac: 0.8,
            kill_loss_pct: 10.0,
            kill_window_hours: 24.0,
            poll_interval_ms: 1000,
            check_interval_ms: 5000,
            state_interval_ms: 1000,
            request_timeout_ms: 10_000,
            max_attempts: 5,
        }
    }
}

impl ExecutorConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: String| ConfigError::invalid(file, Some(text), key, msg);
        if !(self.capital.is_finite() && self.capital > 0.0) {
            return Err(bad(
                "executor.capital",
                format!("must be > 0, got {}", self.capital),
            ));
        }
        if !(self.protective_frac.is_finite()
            && self.protective_frac > 0.0
            && self.protective_frac < 1.0)
        {
            return Err(bad(
                "executor.protective_frac",
                format!(
                    "must be in (0, 1): the stop must lie before the liquidation price, got {}",
                    self.protective_frac
                ),
            ));
        }
        if !(self.kill_loss_pct.is_finite() && (0.0..=100.0).contains(&self.kill_loss_pct)) {
            return Err(bad(
                "executor.kill_loss_pct",
                format!("must be in [0, 100] (0 = off), got {}", self.kill_loss_pct),
            ));
        }
        if !(self.kill_window_hours.is_finite() && self.kill_window_hours > 0.0) {
            return Err(bad(
                "executor.kill_window_hours",
                format!("must be > 0, got {}", self.kill_window_hours),
            ));
        }
        for (key, v) in [
            ("executor.poll_interval_ms", self.poll_interval_ms),
            ("executor.state_interval_ms", self.state_interval_ms),
            ("executor.check_interval_ms", self.check_interval_ms),
            ("executor.request_timeout_ms", self.request_timeout_ms),
            ("executor.max_attempts", self.max_attempts as u64),
        ] {
            if v == 0 {
                return Err(bad(key, "must be > 0".into()));
            }
        }
        Ok(())
    }
}
