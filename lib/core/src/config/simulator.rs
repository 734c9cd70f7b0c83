//! `[simulator]` (paper trading) and `[risk]` (kill switches). Conventions: docs/SIMULATOR.md.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[simulator]`: paper capital and how the daemon runs. Every key has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Total paper capital (USDT), split between the runners.
    pub capital: f64,
    /// Relative weight of each strategy in the split (missing: 1.0). Each runner gets
    /// `capital × w(strategy) / Σ w(runner's strategy)` over all runners.
    pub weights: BTreeMap<String, f64>,
    /// Where a new runner (or a new epoch) starts trading: `now` (default: it warms its
    /// indicators on the stored history with entries blocked and trades from the next candle)
    /// or `first_candle` (it paper-trades the whole stored history first, then live — the
    /// bundled replay demo, and the backtest-parity check).
    pub start: StartMode,
    /// Minimum interval between two writes of `state/simulator.json` (coalesced).
    pub state_interval_ms: u64,
    /// Fallback poll of the database when no file notification arrives.
    pub poll_interval_ms: u64,
    /// The watchdog is pinged only while the newest stored candle has been processed within
    /// this many seconds of being committed.
    pub max_lag_s: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            capital: 10_000.0,
            weights: BTreeMap::new(),
            start: StartMode::Now,
            state_interval_ms: 1000,
            poll_interval_ms: 1000,
            max_lag_s: 120,
        }
    }
}

impl SimulatorConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if !(self.capital.is_finite() && self.capital > 0.0) {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "simulator.capital",
                format!("must be > 0, got {}", self.capital),
            ));
        }
        for (k, w) in &self.weights {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    &format!("simulator.weights.{k}"),
                    format!("must be >= 0, got {w}"),
                ));
            }
        }
        if self.state_interval_ms == 0 || self.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                if self.state_interval_ms == 0 {
                    "simulator.state_interval_ms"
                } else {
                    "simulator.poll_interval_ms"
                },
                "must be > 0",
            ));
        }
        Ok(())
    }
}

/// `[simulator].start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    #[default]
    Now,
    FirstCandle,
}

/// `[risk]`: kill switches, the same for backtest, paper and live (docs/SIMULATOR.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Per runner: stop trading (close the position, cancel orders) when equity has fallen this
    /// many percent below its peak. 0 = off.
    pub max_drawdown_pct: f64,
    /// Per runner: stop after this many consecutive losing trades. 0 = off.
    pub max_consecutive_losses: u32,
    /// Across all runners: stop new entries everywhere when the summed equity fell this many
    /// percent below its highest value of the last `window_hours`. 0 = off.
    pub global_kill_switch_pct: f64,
    pub window_hours: f64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            max_drawdown_pct: 0.0,
            max_consecutive_losses: 0,
            global_kill_switch_pct: 45.0,
            window_hours: 24.0,
        }
    }
}

impl RiskConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        for (key, v) in [
            ("risk.max_drawdown_pct", self.max_drawdown_pct),
            ("risk.global_kill_switch_pct", self.global_kill_switch_pct),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    key,
                    format!("must be in [0, 100] (0 = off), got {v}"),
                ));
            }
        }
        if !(self.window_hours.is_finite() && self.window_hours > 0.0) {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "risk.window_hours",
                format!("must be > 0, got {}", self.window_hours),
            ));
        }
        Ok(())
    }
}
