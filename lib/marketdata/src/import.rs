//! `optimize import --exchange E --symbol S --timeframe TF FILE.csv`: loads a candle CSV into the
//! local optimize database as the series (E, S, TF), so that `run`, `backtest` and `check-data`
//! work without an exchange.
//!
//! The file is verified before anything is written: the CSV rules of
//! [`scalp_core::csvdata::read_candles_csv`] (exact header, strictly increasing open times, sane
//! OHLC; a bad row is an error naming its line), then the timeframe against the timestamps:
//! every open time on the timeframe's grid and the smallest spacing equal to the timeframe
//! (a file of daily candles is refused as `1h`, never relabelled). Gaps are allowed and counted.

use scalp_core::{Candle, Timeframe};
use std::path::{Path, PathBuf};

/// What the timestamps say about the asked timeframe.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeframeCheck {
    /// Missing candles between the first and the last (holes of whole timeframes).
    pub missing: i64,
}

/// `1h`, `1d`, `90s`, ...: a spacing in a human unit.
fn fmt_spacing(ms: i64) -> String {
    if let Some(tf) = Timeframe::ALL.iter().find(|t| t.ms() == ms) {
        return tf.to_string();
    }
    match ms {
        m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{m} ms"),
    }
}

/// Why a candle file is not data of the asked timeframe. Every variant names the file (and the
/// line, when one candle is at fault: data rows start at line 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("{}: no candles", file.display())]
    NoCandles { file: PathBuf },
    /// The open time on `line` is not a multiple of the timeframe; `seconds`: the first open
    /// time is small enough to be in seconds (said in the message).
    #[error(
        "{}:{line}: open time {open_time} is not on the {timeframe} grid{}",
        file.display(),
        if *seconds { SECONDS_HINT } else { "" }
    )]
    OffGrid {
        file: PathBuf,
        line: usize,
        open_time: i64,
        timeframe: Timeframe,
        seconds: bool,
    },
    /// The smallest spacing of the open times (`spacing_ms`) is not the timeframe.
    #[error(
        "{}: the candles are {} apart, not {timeframe}: the file is not {timeframe} data (give --timeframe {}; a coarser timeframe is never made by relabelling)",
        file.display(),
        fmt_spacing(*spacing_ms),
        fmt_spacing(*spacing_ms)
    )]
    Spacing {
        file: PathBuf,
        spacing_ms: i64,
        timeframe: Timeframe,
    },
}

const SECONDS_HINT: &str = " (the timestamps look like seconds: ts_ms must be in milliseconds)";

/// Verifies that `candles` (read from `file`, data rows from line 2) are candles of `tf`.
pub fn check_timeframe(
    file: &Path,
    candles: &[Candle],
    tf: Timeframe,
) -> Result<TimeframeCheck, ImportError> {
    let step = tf.ms();
    let Some(first) = candles.first() else {
        return Err(ImportError::NoCandles {
            file: file.to_path_buf(),
        });
    };
    let seconds = first.open_time.abs() < 100_000_000_000;
    for (i, c) in candles.iter().enumerate() {
        if tf.align(c.open_time) != c.open_time {
            return Err(ImportError::OffGrid {
                file: file.to_path_buf(),
                line: i + 2,
                open_time: c.open_time,
                timeframe: tf,
                seconds,
            });
        }
    }
    let min_gap = candles
        .windows(2)
        .map(|w| w[1].open_time - w[0].open_time)
        .min();
    if let Some(g) = min_gap
        && g != step
    {
        return Err(ImportError::Spacing {
            file: file.to_path_buf(),
            spacing_ms: g,
            timeframe: tf,
        });
    }
    let last = candles.last().map_or(first.open_time, |c| c.open_time);
    let missing = (last - first.open_time) / step + 1 - candles.len() as i64;
    Ok(TimeframeCheck { missing })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: i64) -> Candle {
        Candle {
            open_time: t,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 1.0,
        }
    }

    #[test]
    fn timeframe_is_checked_against_the_timestamps() {
        let h = 3_600_000;
        let p = Path::new("x.csv");
        let hourly: Vec<Candle> = [0, 1, 2, 5]
            .iter()
            .map(|k| c(1_600_000_000_000 / h * h + k * h))
            .collect();
        assert_eq!(
            check_timeframe(p, &hourly, Timeframe::H1).unwrap().missing,
            2
        );
        let e = check_timeframe(p, &hourly, Timeframe::M5)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.csv: the candles are 1h apart, not 5m: the file is not 5m data (give --timeframe 1h; a coarser timeframe is never made by relabelling)"
        );
        assert_eq!(
            check_timeframe(p, &[], Timeframe::H1)
                .unwrap_err()
                .to_string(),
            "x.csv: no candles"
        );
        let e = check_timeframe(p, &hourly, Timeframe::D1)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.csv:2: open time") && e.contains("not on the 1d grid"),
            "{e}"
        );
        let secs: Vec<Candle> = (0..3)
            .map(|k| c(1_600_000_000 / 3600 * 3600 + k * 3600))
            .collect();
        let e = check_timeframe(p, &secs, Timeframe::H1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "x.csv:2: open time {} is not on the 1h grid (the timestamps look like seconds: ts_ms must be in milliseconds)",
                secs[0].open_time
            )
        );
    }
}
