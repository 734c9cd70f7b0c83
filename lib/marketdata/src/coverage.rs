//! What `optimize check-data` reports: the coverage, gaps and data-quality findings of every
//! stored series ([`coverage`]) and of a candle CSV ([`check_file`]).

use crate::{Error, Series};
use scalp_core::types::fmt_ms;
use scalp_core::{Exchange, Timeframe};
use serde::Serialize;

/// One series in the `check-data` report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coverage {
    pub exchange: Exchange,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub count: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Candles expected between first and last (inclusive).
    pub expected: u64,
    pub missing: u64,
    /// Percentage of expected candles present.
    pub coverage_pct: f64,
    /// First gaps `[start, end)` (RFC 3339) and their candle counts.
    pub gaps: Vec<GapInfo>,
    pub gap_count: usize,
    /// The data-quality pass over the stored candles (`scalp_core::quality`).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GapInfo {
    pub from: String,
    pub to: String,
    pub candles: u64,
}

/// Coverage of every stored series of a database.
pub fn coverage(
    conn: &crate::db::Conn,
    only: Option<Exchange>,
    max_gaps: usize,
) -> Result<Vec<Coverage>, scalp_store::StoreError> {
    let mut out = Vec::new();
    for info in scalp_store::candles::series(conn)? {
        if only.is_some_and(|e| e != info.exchange) {
            continue;
        }
        let s = Series::new(info.exchange, info.symbol.clone(), info.timeframe);
        let tf = info.timeframe.ms();
        let (expected, gaps) = match (info.first, info.last) {
            (Some(f), Some(l)) => (
                (l - f) / tf + 1,
                crate::db::missing_ranges(conn, &s, f, l + tf)?,
            ),
            _ => (0, Vec::new()),
        };
        let missing: i64 = gaps.iter().map(|(a, b)| (b - a) / tf).sum();
        let key = scalp_store::SeriesKey {
            exchange: info.exchange,
            symbol: &info.symbol,
            timeframe: info.timeframe,
        };
        let candles = scalp_store::candles::load(conn, &key, i64::MIN, i64::MAX)?;
        let warnings =
            scalp_core::quality::check(&candles, info.timeframe).warnings(&key.to_string());
        out.push(Coverage {
            exchange: info.exchange,
            symbol: info.symbol,
            timeframe: info.timeframe,
            count: info.count,
            first: info.first.map(fmt_ms),
            last: info.last.map(fmt_ms),
            expected: expected as u64,
            missing: missing as u64,
            coverage_pct: if expected > 0 {
                (info.count as f64 / expected as f64 * 10_000.0).round() / 100.0
            } else {
                0.0
            },
            gap_count: gaps.len(),
            gaps: gaps
                .iter()
                .take(max_gaps)
                .map(|(a, b)| GapInfo {
                    from: fmt_ms(*a),
                    to: fmt_ms(*b),
                    candles: ((b - a) / tf) as u64,
                })
                .collect(),
            warnings,
        });
    }
    Ok(out)
}

/// `check-data --data FILE` (also the `--json` output).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileCheck {
    pub file: String,
    pub timeframe: Timeframe,
    pub count: usize,
    pub first: String,
    pub last: String,
    pub quality: scalp_core::quality::Quality,
    pub warnings: Vec<String>,
}

/// Reads a candle CSV, infers and verifies its timeframe (`scalp_core::series`) and runs the
/// data-quality pass. The error is the CSV's ([`Error::Csv`]: file, line, field) or the
/// timeframe's ([`Error::Series`]).
pub fn check_file(path: &std::path::Path) -> Result<FileCheck, Error> {
    let name = path.display().to_string();
    let candles = scalp_core::csvdata::read_candles_csv(path)?;
    let k = scalp_core::series::conform(&name, candles, None)?;
    let quality = scalp_core::quality::check(&k.candles, k.timeframe);
    Ok(FileCheck {
        warnings: quality.warnings(&name),
        file: name,
        timeframe: k.timeframe,
        count: k.candles.len(),
        first: k
            .candles
            .first()
            .map(|c| fmt_ms(c.open_time))
            .unwrap_or_default(),
        last: k
            .candles
            .last()
            .map(|c| fmt_ms(c.open_time))
            .unwrap_or_default(),
        quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_core::Candle;

    #[test]
    fn coverage_counts_gaps() {
        let conn = scalp_store::open_in_memory().unwrap();
        let s = Series::new(Exchange::Binance, "BTCUSDT", Timeframe::H1);
        let h = Timeframe::H1.ms();
        let c = |i: i64| Candle {
            open_time: i * h,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 1.0,
        };
        let candles: Vec<Candle> = (0..10).filter(|i| ![3, 4, 7].contains(i)).map(c).collect();
        crate::db::upsert_candles(&conn, &s, &candles).unwrap();
        let cov = coverage(&conn, None, 10).unwrap();
        assert_eq!(cov.len(), 1);
        let x = &cov[0];
        assert_eq!((x.count, x.expected, x.missing, x.gap_count), (7, 10, 3, 2));
        assert_eq!(x.gaps[0].candles, 2);
        assert_eq!(x.gaps[0].from, fmt_ms(3 * h));
        assert_eq!(x.coverage_pct, 70.0);
        // the shared data-quality pass sees the same two gaps
        assert_eq!(x.warnings.len(), 1, "{:?}", x.warnings);
        assert!(
            x.warnings[0].starts_with("binance BTCUSDT 1h: 2 gap(s) (3 candles missing)"),
            "{:?}",
            x.warnings
        );
        assert!(
            coverage(&conn, Some(Exchange::Bitget), 10)
                .unwrap()
                .is_empty()
        );
    }
}
