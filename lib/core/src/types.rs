//! Market-data types shared by every crate.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a candle series comes from. `Replay` is the bundled historical data replayed by the
/// collector through the live pipeline (see `config/scalp.toml` `[replay]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exchange {
    Binance,
    Bitget,
    Replay,
}

impl Exchange {
    pub const ALL: [Exchange; 3] = [Exchange::Binance, Exchange::Bitget, Exchange::Replay];
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Bitget => "bitget",
            Exchange::Replay => "replay",
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Exchange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "binance" => Ok(Exchange::Binance),
            "bitget" => Ok(Exchange::Bitget),
            "replay" => Ok(Exchange::Replay),
            other => Err(format!(
                "unknown exchange `{other}` (expected binance, bitget or replay)"
            )),
        }
    }
}

/// Candle timeframe. Open times are aligned to multiples of `ms()` since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timeframe {
    M1,
    M3,
    M5,
    M15,
    M30,
    H1,
    H2,
    H4,
    H6,
    H12,
    D1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 11] = [
        Timeframe::M1,
        Timeframe::M3,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H2,
        Timeframe::H4,
        Timeframe::H6,
        Timeframe::H12,
        Timeframe::D1,
    ];

    /// Canonical name used in config, database and CLI: `1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M3 => "3m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H2 => "2h",
            Timeframe::H4 => "4h",
            Timeframe::H6 => "6h",
            Timeframe::H12 => "12h",
            Timeframe::D1 => "1d",
        }
    }

    /// Length in milliseconds.
    pub fn ms(self) -> i64 {
        const MIN: i64 = 60_000;
        match self {
            Timeframe::M1 => MIN,
            Timeframe::M3 => 3 * MIN,
            Timeframe::M5 => 5 * MIN,
            Timeframe::M15 => 15 * MIN,
            Timeframe::M30 => 30 * MIN,
            Timeframe::H1 => 60 * MIN,
            Timeframe::H2 => 120 * MIN,
            Timeframe::H4 => 240 * MIN,
            Timeframe::H6 => 360 * MIN,
            Timeframe::H12 => 720 * MIN,
            Timeframe::D1 => 1440 * MIN,
        }
    }

    /// Binance interval string (`1m`, `1h`, `1d`, ...): same as the canonical name.
    pub fn binance_interval(self) -> &'static str {
        self.as_str()
    }

    /// Bitget v2 REST `granularity` (`1m`, `3m`, `5m`, `1H`, `4H`, `1D`, ...); `None` for 2h,
    /// which Bitget serves on neither REST nor WebSocket.
    pub fn bitget_granularity(self) -> Option<&'static str> {
        Some(match self {
            Timeframe::M1 => "1m",
            Timeframe::M3 => "3m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1H",
            Timeframe::H2 => return None,
            Timeframe::H4 => "4H",
            Timeframe::H6 => "6H",
            Timeframe::H12 => "12H",
            Timeframe::D1 => "1D",
        })
    }

    /// Bitget v2 public WS channel name (`candle1m`, `candle1H`, ...); `None` for 3m and 2h:
    /// the candle channels are `candle1m, 5m, 15m, 30m, 1H, 4H, 6H, 12H, 1D, …` (no `candle3m`,
    /// no `candle2H`; Bitget "Candlesticks Channel" page).
    pub fn bitget_channel(self) -> Option<String> {
        match self {
            Timeframe::M3 | Timeframe::H2 => None,
            tf => tf.bitget_granularity().map(|g| format!("candle{g}")),
        }
    }

    /// The timeframes Bitget serves by REST, for messages (`1m, 3m, 5m, …`).
    pub fn bitget_rest_list() -> String {
        Self::list(|tf| tf.bitget_granularity().is_some())
    }

    /// The timeframes Bitget streams on its public WebSocket, for messages.
    pub fn bitget_ws_list() -> String {
        Self::list(|tf| tf.bitget_channel().is_some())
    }

    fn list(keep: impl Fn(Timeframe) -> bool) -> String {
        Timeframe::ALL
            .into_iter()
            .filter(|tf| keep(*tf))
            .map(|tf| tf.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parses a Bitget granularity / channel suffix back (`1H` → `H1`).
    pub fn from_bitget(s: &str) -> Option<Timeframe> {
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.bitget_granularity() == Some(s))
    }

    /// Open time of the candle that contains `ts_ms`.
    pub fn align(self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.ms()) * self.ms()
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.as_str() == lower)
            .ok_or_else(|| {
                format!(
                    "unknown timeframe `{s}` (expected one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d)"
                )
            })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One closed OHLCV candle. `open_time` is the UTC open time in milliseconds; `volume` is in
/// the base coin. Prices are the exchange's decimal values converted to `f64` once, at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Candle {
    /// Basic sanity: finite, positive prices, low ≤ open/close ≤ high, volume ≥ 0.
    pub fn validate(&self) -> Result<(), String> {
        let vals = [self.open, self.high, self.low, self.close, self.volume];
        if vals.iter().any(|v| !v.is_finite()) {
            return Err("non-finite value".into());
        }
        if self.low <= 0.0 {
            return Err(format!("non-positive low {}", self.low));
        }
        if self.volume < 0.0 {
            return Err(format!("negative volume {}", self.volume));
        }
        if self.high < self.low
            || self.open > self.high
            || self.open < self.low
            || self.close > self.high
            || self.close < self.low
        {
            return Err(format!(
                "inconsistent OHLC o={} h={} l={} c={}",
                self.open, self.high, self.low, self.close
            ));
        }
        Ok(())
    }
}

/// `s` cut to at most `max` characters, with `…` appended when cut (log lines, error messages
/// quoting untrusted input). The one such helper of the project.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC rendering of a millisecond timestamp (for logs, reports, state files).
pub fn fmt_ms(ts_ms: i64) -> String {
    let nanos = (ts_ms as i128) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts_ms.to_string())
}

/// Resident set size of this process in kB (`VmRSS` of `/proc/self/status`), Linux only.
pub fn rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_roundtrip_and_bitget_names() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().unwrap(), tf);
            if let Some(g) = tf.bitget_granularity() {
                assert_eq!(Timeframe::from_bitget(g), Some(tf));
            }
        }
        assert_eq!(Timeframe::H1.bitget_channel().as_deref(), Some("candle1H"));
        // Bitget has no 2H anywhere and no candle3m channel (REST serves 3m)
        assert_eq!(Timeframe::H2.bitget_granularity(), None);
        assert_eq!(Timeframe::from_bitget("2H"), None);
        assert_eq!(Timeframe::M3.bitget_granularity(), Some("3m"));
        assert_eq!(Timeframe::M3.bitget_channel(), None);
        assert_eq!(
            Timeframe::bitget_ws_list(),
            "1m, 5m, 15m, 30m, 1h, 4h, 6h, 12h, 1d"
        );
        assert_eq!(Timeframe::M5.align(1_000 * 60 * 7 + 5), 1_000 * 60 * 5);
        assert!("2x".parse::<Timeframe>().is_err());
    }

    #[test]
    fn candle_validation() {
        let c = Candle {
            open_time: 0,
            open: 10.0,
            high: 12.0,
            low: 9.0,
            close: 11.0,
            volume: 1.0,
        };
        assert!(c.validate().is_ok());
        assert!(Candle { high: 8.0, ..c }.validate().is_err());
        assert!(
            Candle {
                volume: f64::NAN,
                ..c
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("éééé", 2), "éé…");
    }

    #[test]
    fn fmt_ms_is_rfc3339() {
        assert_eq!(fmt_ms(1498906800000), "2017-07-01T11:00:00Z");
    }
}
