//! `state/collector.json`: the collector's state file (written only by the collector, read by
//! the watchdog, the API and the simulator). Envelope fields `version`, `seq`, `written_at` are
//! added by scalp-statefile. Field reference: `docs/COLLECTOR.md`.

use scalp_core::{Exchange, Timeframe};
use serde::{Deserialize, Serialize};

/// Payload schema version of `collector.json`.
pub const STATE_VERSION: u32 = 1;
/// File name inside `[paths].state_dir`.
pub const STATE_FILE: &str = "collector.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorState {
    pub pid: u32,
    /// RFC 3339 UTC start time of this process.
    pub started_at: String,
    /// Sources configured in `[collector].sources`.
    pub sources: Vec<Exchange>,
    /// Candles written (inserted or corrected) by this process since it started.
    pub candles_stored_total: u64,
    pub funding_rates_stored_total: u64,
    pub open_interest_stored_total: u64,
    /// `true` while every stream is healthy or recovering for less than `max_unhealthy_s`
    /// (the watchdog pings only then).
    pub healthy: bool,
    /// Last database error, cleared by the next successful write.
    pub db_error: Option<String>,
    /// Resident memory of the process in kB (`VmRSS`), when known.
    pub rss_kb: Option<u64>,
    pub streams: Vec<StreamState>,
}

/// One (exchange, symbol, timeframe) stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub exchange: Exchange,
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Live: the WS connection carrying this stream is up. Replay: the source is running or
    /// has finished normally.
    pub connected: bool,
    /// Open time (ms, UTC) of the newest closed candle stored for this stream.
    pub last_closed_open_time: Option<i64>,
    /// Wall time (ms) at which that candle was stored.
    pub last_closed_stored_at: Option<i64>,
    /// Live only: ms between that candle's end (`open_time + timeframe`) and its storage.
    pub lag_ms: Option<i64>,
    /// Reconnects of the WS connection carrying this stream since start.
    pub reconnects: u64,
    /// Missing candles found in the store and filled by REST since start.
    pub gaps_repaired: u64,
    /// Candles refused by the closed-candle rules (forming, misaligned, invalid).
    pub rejected: u64,
    pub candles_stored: u64,
    pub last_error: Option<String>,
    /// Live: why the exchange refuses to stream it (e.g. Bitget subscribe error 30001), while it
    /// does; such a stream makes the collector unhealthy at once.
    #[serde(default)]
    pub failed: Option<String>,
    /// Bitget: closed candles whose REST values, re-fetched once after end + grace, differed from
    /// the last pushed ones and replaced them, since start.
    #[serde(default)]
    pub corrections: u64,
    /// Live: data-quality findings (outlier wicks, `scalp_core::quality`) among the candles
    /// stored since start, each also logged as `DATA QUALITY …`.
    #[serde(default)]
    pub quality_warnings: u64,
    /// Since when (ms) this stream is unhealthy (disconnected or no closed candle overdue).
    pub unhealthy_since: Option<i64>,
    /// Replay only: every candle of the file was emitted (no `repeat`).
    pub finished: bool,
}

pub use scalp_core::types::rss_kb;
