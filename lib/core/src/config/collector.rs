use super::ConfigError;
use crate::{Exchange, Timeframe};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[collector]`: what `scalp-collector` streams and how it repairs history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    /// Sources to run: `replay` (bundled data, default), `binance`, `bitget`.
    pub sources: Vec<Exchange>,
    /// Days of history fetched by REST at start-up (and kept gap-free afterwards).
    pub backfill_days: u32,
    /// Seconds between gap scans of the stored series.
    pub gap_check_interval_s: u64,
    /// Bitget has no "closed" flag: a candle whose end passed this many ms ago without a newer
    /// one arriving is confirmed by REST before being stored.
    pub bitget_close_grace_ms: u64,
    /// Seconds between funding-rate and open-interest polls.
    pub funding_poll_s: u64,
    pub open_interest_poll_s: u64,
    /// Reconnect backoff: first delay and cap (exponential with full jitter).
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// A stream with no message for this long is considered stalled and reconnected.
    pub stall_timeout_s: u64,
    /// The watchdog is pinged only while every stream is healthy or recovering for less than this.
    pub max_unhealthy_s: u64,
    /// Seconds between writes of `state/collector.json`.
    pub state_interval_s: u64,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            sources: vec![Exchange::Replay],
            backfill_days: 30,
            gap_check_interval_s: 300,
            bitget_close_grace_ms: 5_000,
            funding_poll_s: 3_600,
            open_interest_poll_s: 300,
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 60_000,
            stall_timeout_s: 90,
            max_unhealthy_s: 600,
            state_interval_s: 5,
        }
    }
}

impl CollectorConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if self.sources.is_empty() {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "collector.sources",
                "at least one source",
            ));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "collector.reconnect_min_ms",
                "must be > 0 and ≤ reconnect_max_ms",
            ));
        }
        Ok(())
    }
}

/// `[replay]`: the bundled real candles replayed through the live pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// CSV file (`ts_ms,open,high,low,close,volume`); relative paths resolve against
    /// `paths.bundled_data_dir`.
    pub file: PathBuf,
    /// Symbol the replayed candles are stored under (exchange `replay`).
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Candles emitted per second of wall time (0 = as fast as possible).
    pub candles_per_second: f64,
    /// Start again from the first candle after the last one (open times shifted forward).
    pub repeat: bool,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            file: PathBuf::from("coinbase_btcusd_1h.csv"),
            symbol: "BTCUSDT".into(),
            timeframe: Timeframe::H1,
            candles_per_second: 20.0,
            repeat: false,
        }
    }
}

impl ReplayConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        if !self.candles_per_second.is_finite() || self.candles_per_second < 0.0 {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "replay.candles_per_second",
                "must be a finite number ≥ 0",
            ));
        }
        Ok(())
    }
}
