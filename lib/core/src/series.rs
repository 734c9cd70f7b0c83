//! The timeframe of a candle series: inferred from the open times by one rule, verified against
//! the timeframe asked for, and coarsened only by resampling (never by relabelling). Used by
//! every reader of candles (`optimize backtest`, `sweep`, `run`, `lookahead`, CSV or database).
//!
//! Rules (docs/BACKTEST.md "Candle data"):
//! - open times are Unix **milliseconds**; a value below [`MIN_MS`] (1973-03-03 in ms, year 5138
//!   in seconds) is seconds, one at or above [`MAX_MS`] is microseconds: both are refused;
//! - the inferred timeframe is the **most common** spacing of consecutive open times (ties: the
//!   smaller spacing), which must be one of the timeframes; gaps do not change it;
//! - every open time must be a multiple of the timeframe since the epoch (UTC);
//! - a timeframe asked for that equals the inferred one is used as is; a coarser one that is a
//!   multiple of it is built by [`crate::resample::resample`] (incomplete first and last buckets
//!   dropped); anything else is an error naming the data, the inferred spacing and the
//!   timeframe asked for.

use crate::resample::resample;
use crate::types::fmt_ms;
use crate::{Candle, Timeframe};

/// Smallest accepted millisecond open time (1973-03-03T09:46:40Z); below it a value is taken to
/// be seconds.
pub const MIN_MS: i64 = 100_000_000_000;
/// First rejected millisecond open time (year 5138); at or above it a value is taken to be
/// microseconds.
pub const MAX_MS: i64 = 100_000_000_000_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    #[error("{name}: fewer than 2 candles: cannot infer the timeframe")]
    TooFew { name: String },
    #[error(
        "{name}: cannot infer the timeframe: the most common spacing of open times is {} ({ms} ms), which is not a timeframe (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d)",
        fmt_span(*ms)
    )]
    UnknownSpacing { name: String, ms: i64 },
    #[error(
        "{name}: open time {time} ({}) is not aligned to {tf} (open times must be multiples of {tf} since the epoch, UTC)",
        fmt_ms(*time)
    )]
    Misaligned {
        name: String,
        time: i64,
        tf: Timeframe,
    },
    #[error(
        "{name}: the candles are {inferred} apart (inferred from the open times) but the timeframe asked is {asked}{}",
        mismatch_hint(*inferred, *asked)
    )]
    Mismatch {
        name: String,
        inferred: Timeframe,
        asked: Timeframe,
    },
}

fn mismatch_hint(inferred: Timeframe, asked: Timeframe) -> String {
    if asked.ms() < inferred.ms() {
        format!(
            ": finer candles cannot be made from {inferred} ones; use {asked} data or ask for {inferred} or coarser"
        )
    } else {
        format!(": {asked} is not a multiple of {inferred}, so it cannot be resampled from it")
    }
}

/// `3600000` → `1h`, `86400000` → `1d`, `3600` → `3.6s` (for messages).
pub fn fmt_span(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (u, s) in UNITS {
        if ms != 0 && ms % u == 0 {
            return format!("{}{s}", ms / u);
        }
    }
    if ms.abs() >= 1_000 {
        format!("{}s", ms as f64 / 1_000.0)
    } else {
        format!("{ms}ms")
    }
}

/// Checks that an open time is in milliseconds; the error says which unit it looks like.
pub fn check_ms(ts: i64) -> Result<(), String> {
    if ts < MIN_MS {
        Err(format!(
            "{ts} is not a Unix time in milliseconds (it looks like seconds: {}); ts_ms must be milliseconds (multiply by 1000)",
            fmt_ms(ts.saturating_mul(1_000))
        ))
    } else if ts >= MAX_MS {
        Err(format!(
            "{ts} is not a Unix time in milliseconds (it looks like microseconds: {}); ts_ms must be milliseconds (divide by 1000)",
            fmt_ms(ts / 1_000)
        ))
    } else {
        Ok(())
    }
}

/// The most common spacing of consecutive open times (ties: the smaller), or `None` with fewer
/// than 2 candles. Non-positive spacings (duplicates, disorder) are ignored.
pub fn common_spacing(candles: &[Candle]) -> Option<i64> {
    let mut counts: std::collections::HashMap<i64, usize> = Default::default();
    for w in candles.windows(2) {
        let d = w[1].open_time - w[0].open_time;
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(d, _)| d)
}

/// The timeframe of a series: its most common spacing, which must be a timeframe.
pub fn infer_timeframe(name: &str, candles: &[Candle]) -> Result<Timeframe, SeriesError> {
    let ms = common_spacing(candles).ok_or_else(|| SeriesError::TooFew { name: name.into() })?;
    Timeframe::ALL
        .into_iter()
        .find(|t| t.ms() == ms)
        .ok_or_else(|| SeriesError::UnknownSpacing {
            name: name.into(),
            ms,
        })
}

fn check_aligned(name: &str, candles: &[Candle], tf: Timeframe) -> Result<(), SeriesError> {
    match candles
        .iter()
        .find(|c| c.open_time.rem_euclid(tf.ms()) != 0)
    {
        Some(c) => Err(SeriesError::Misaligned {
            name: name.into(),
            time: c.open_time,
            tf,
        }),
        None => Ok(()),
    }
}

/// Verifies that `candles` are `tf` candles: aligned to `tf` and (with 2 or more candles) with
/// `tf` as their most common spacing. For series whose timeframe is known (database keys).
pub fn verify_timeframe(name: &str, candles: &[Candle], tf: Timeframe) -> Result<(), SeriesError> {
    if candles.len() >= 2 {
        let inferred = infer_timeframe(name, candles)?;
        if inferred != tf {
            return Err(SeriesError::Mismatch {
                name: name.into(),
                inferred,
                asked: tf,
            });
        }
    }
    check_aligned(name, candles, tf)
}

/// Candles in the timeframe asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Conformed {
    pub candles: Vec<Candle>,
    pub timeframe: Timeframe,
    /// The data's own timeframe when the candles were resampled from it.
    pub resampled_from: Option<Timeframe>,
}

/// Infers the timeframe of `candles` and brings them to `asked` (default: the inferred one):
/// as is when equal, resampled when `asked` is a coarser multiple (incomplete first and last
/// buckets are dropped), else [`SeriesError::Mismatch`].
pub fn conform(
    name: &str,
    candles: Vec<Candle>,
    asked: Option<Timeframe>,
) -> Result<Conformed, SeriesError> {
    let inferred = infer_timeframe(name, &candles)?;
    check_aligned(name, &candles, inferred)?;
    let tf = asked.unwrap_or(inferred);
    if tf == inferred {
        return Ok(Conformed {
            candles,
            timeframe: tf,
            resampled_from: None,
        });
    }
    if tf.ms() > inferred.ms() && tf.ms() % inferred.ms() == 0 {
        // An incomplete first bucket (data starting after its boundary) is dropped like an
        // incomplete last one: its open would not be the period's open.
        let first = candles
            .iter()
            .position(|c| c.open_time.rem_euclid(tf.ms()) == 0)
            .unwrap_or(candles.len());
        return Ok(Conformed {
            candles: resample(&candles[first..], inferred, tf),
            timeframe: tf,
            resampled_from: Some(inferred),
        });
    }
    Err(SeriesError::Mismatch {
        name: name.into(),
        inferred,
        asked: tf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Timeframe::{D1, H1, H4, M5};

    fn at(ts: &[i64]) -> Vec<Candle> {
        ts.iter()
            .map(|&t| Candle {
                open_time: t,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: 1.0,
            })
            .collect()
    }
    const H: i64 = 3_600_000;
    const T0: i64 = 1_500_000_000_000 / (24 * H) * (24 * H);

    #[test]
    fn most_common_spacing_wins_over_the_minimum() {
        // 1h data with a 9-hour hole and one 1h step among daily candles
        let c = at(&[T0, T0 + H, T0 + 2 * H, T0 + 11 * H, T0 + 12 * H]);
        assert_eq!(infer_timeframe("x", &c).unwrap(), H1);
        let c = at(&[T0, T0 + 24 * H, T0 + 48 * H, T0 + 49 * H, T0 + 72 * H]);
        assert_eq!(infer_timeframe("x", &c).unwrap(), D1);
        // tie: the smaller spacing
        let c = at(&[T0, T0 + H, T0 + 5 * H]);
        assert_eq!(infer_timeframe("x", &c).unwrap(), H1);
        let e = infer_timeframe("f.csv", &at(&[T0, T0 + 7 * H])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: cannot infer the timeframe: the most common spacing of open times is 7h (25200000 ms), which is not a timeframe (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d)"
        );
        assert!(matches!(
            infer_timeframe("x", &at(&[T0])),
            Err(SeriesError::TooFew { .. })
        ));
    }

    #[test]
    fn mismatch_names_data_inferred_and_asked() {
        let c = at(&(0..48).map(|i| T0 + i * H).collect::<Vec<_>>());
        let e = conform("data/x_1h.csv", c.clone(), Some(M5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data/x_1h.csv: the candles are 1h apart (inferred from the open times) but the timeframe asked is 5m: finer candles cannot be made from 1h ones; use 5m data or ask for 1h or coarser"
        );
        let e = verify_timeframe("binance:BTCUSDT:1d", &c, D1).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("binance:BTCUSDT:1d: the candles are 1h apart"),
            "{e}"
        );
        verify_timeframe("x", &c, H1).unwrap();
        verify_timeframe("x", &c[..1], H1).unwrap();
    }

    #[test]
    fn coarser_is_resampled_not_relabelled() {
        let c = at(&(0..50).map(|i| T0 + i * H).collect::<Vec<_>>());
        let k = conform("x", c.clone(), Some(D1)).unwrap();
        assert_eq!(k.timeframe, D1);
        assert_eq!(k.resampled_from, Some(H1));
        // 50 hours: two complete days, the incomplete third is dropped
        assert_eq!(k.candles.len(), 2);
        // data starting at 01:00: the incomplete first day is dropped too
        let k1 = conform("x", c[1..].to_vec(), Some(D1)).unwrap();
        assert_eq!(k1.candles, k.candles[1..]);
        assert_eq!(k.candles[1].open_time, T0 + 24 * H);
        assert_eq!(k.candles[0].volume, 24.0);
        let k = conform("x", c.clone(), Some(H4)).unwrap();
        assert_eq!(k.candles.len(), 12);
        let k = conform("x", c.clone(), None).unwrap();
        assert_eq!((k.timeframe, k.resampled_from, k.candles), (H1, None, c));
    }

    /// The exchange's own aggregation: Coinbase's daily candles vs the bundled Coinbase hourly
    /// ones resampled to 1d (open of the first hour, max high, min low, close of the last hour,
    /// UTC-midnight buckets; the incomplete first day 2017-07-01 starts at 11:00 and is
    /// dropped). 765 of the 825 full days agree exactly; the other 60 differ in the vendor's
    /// files themselves (e.g. 2017-09-22: daily close 3619.01, last hourly close 3627.21).
    #[test]
    fn resampled_hours_equal_the_exchange_daily_candles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let hours = crate::csvdata::read_candles_csv(&dir.join("coinbase_btcusd_1h.csv")).unwrap();
        let days = crate::csvdata::read_candles_csv(&dir.join("coinbase_btcusd_1d.csv")).unwrap();
        let k = conform("1h", hours.clone(), Some(D1)).unwrap();
        assert_eq!(
            k.candles[0].open_time, 1_498_953_600_000,
            "2017-07-02: first full day"
        );
        let last_full = hours.last().unwrap().open_time.div_euclid(D1.ms()) * D1.ms() - D1.ms();
        assert_eq!(
            k.candles.last().unwrap().open_time,
            last_full,
            "incomplete last day dropped"
        );
        let by_time: std::collections::HashMap<i64, &Candle> =
            days.iter().map(|d| (d.open_time, d)).collect();
        let (mut same, mut compared) = (0, 0);
        for c in &k.candles {
            if let Some(d) = by_time.get(&c.open_time) {
                compared += 1;
                same += usize::from(
                    (c.open, c.high, c.low, c.close) == (d.open, d.high, d.low, d.close),
                );
            }
        }
        assert_eq!((same, compared), (765, 825));
    }

    #[test]
    fn misaligned_and_second_timestamps_are_refused() {
        let c = at(&[T0 + 60_000, T0 + H + 60_000, T0 + 2 * H + 60_000]);
        let e = conform("x", c, None).unwrap_err().to_string();
        assert!(e.contains("is not aligned to 1h"), "{e}");
        let e = check_ms(1_498_906_800).unwrap_err();
        assert!(
            e.contains("looks like seconds: 2017-07-01T11:00:00Z"),
            "{e}"
        );
        assert!(
            check_ms(1_498_906_800_000_000)
                .unwrap_err()
                .contains("microseconds")
        );
        check_ms(1_498_906_800_000).unwrap();
        assert_eq!(fmt_span(3_600), "3.6s");
        assert_eq!(fmt_span(86_400_000), "1d");
    }
}
