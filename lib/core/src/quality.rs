//! The one data-quality pass over a candle series, shared by every reader (CSV, optimize
//! database, collector): gaps, duplicate and out-of-order candles, OHLC inconsistencies and
//! outlier wicks. Readers turn the findings into warnings (console and the `warnings` field of
//! every `--json`), or into an error with `--strict`.
//!
//! Outlier wick rule: a candle whose upper wick (`high − max(open, close)`) or lower wick
//! (`min(open, close) − low`) is more than [`WICK_ATR_K`] times the mean true range of the
//! [`WICK_ATR_PERIOD`] candles before it (skipped while that mean is 0 or not yet defined).
//! With k = 10 the bundled files have exactly one: Coinbase BTC-USD 2017-04-15 (low 0.06, a
//! wick 30 times the ATR).

use crate::types::fmt_ms;
use crate::{Candle, Timeframe};
use serde::Serialize;

/// k of the outlier-wick rule.
pub const WICK_ATR_K: f64 = 10.0;
/// Candles of the mean true range the outlier-wick rule compares with.
pub const WICK_ATR_PERIOD: usize = 14;
/// Examples kept per kind of finding.
pub const MAX_EXAMPLES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Gap,
    Duplicate,
    OutOfOrder,
    Ohlc,
    OutlierWick,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Gap => "gap(s)",
            Kind::Duplicate => "duplicate candle(s)",
            Kind::OutOfOrder => "out-of-order candle(s)",
            Kind::Ohlc => "inconsistent OHLC candle(s)",
            Kind::OutlierWick => "outlier wick(s)",
        }
    }
}

/// One finding: where (index and open time) and what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub index: usize,
    pub time: i64,
    pub detail: String,
}

/// Counts per kind and the first [`MAX_EXAMPLES`] findings of each.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    pub gaps: usize,
    /// Candles missing inside the gaps.
    pub missing_candles: u64,
    pub duplicates: usize,
    pub out_of_order: usize,
    pub ohlc: usize,
    pub outlier_wicks: usize,
    pub examples: Vec<Finding>,
}

impl Quality {
    pub fn is_clean(&self) -> bool {
        self.count(Kind::Gap) + self.duplicates + self.out_of_order + self.ohlc + self.outlier_wicks
            == 0
    }

    fn count(&self, k: Kind) -> usize {
        match k {
            Kind::Gap => self.gaps,
            Kind::Duplicate => self.duplicates,
            Kind::OutOfOrder => self.out_of_order,
            Kind::Ohlc => self.ohlc,
            Kind::OutlierWick => self.outlier_wicks,
        }
    }

    fn add(&mut self, f: Finding) {
        let n = match f.kind {
            Kind::Gap => &mut self.gaps,
            Kind::Duplicate => &mut self.duplicates,
            Kind::OutOfOrder => &mut self.out_of_order,
            Kind::Ohlc => &mut self.ohlc,
            Kind::OutlierWick => &mut self.outlier_wicks,
        };
        *n += 1;
        if *n <= MAX_EXAMPLES {
            self.examples.push(f);
        }
    }

    /// One warning line per kind found, naming the data: `NAME: 1 gap(s) (9 candles missing):
    /// 2019-01-01T03:00:00Z: 9 candles missing`.
    pub fn warnings(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for k in [
            Kind::Gap,
            Kind::Duplicate,
            Kind::OutOfOrder,
            Kind::Ohlc,
            Kind::OutlierWick,
        ] {
            let n = self.count(k);
            if n == 0 {
                continue;
            }
            let ex: Vec<String> = self
                .examples
                .iter()
                .filter(|f| f.kind == k)
                .map(|f| format!("{}: {}", fmt_ms(f.time), f.detail))
                .collect();
            let missing = if k == Kind::Gap {
                format!(" ({} candles missing)", self.missing_candles)
            } else {
                String::new()
            };
            let more = if n > ex.len() { "; …" } else { "" };
            out.push(format!(
                "{name}: {n} {}{missing}: {}{more}",
                k.label(),
                ex.join("; ")
            ));
        }
        out
    }
}

/// The findings of a `--strict` read: every warning line, as one error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} (--strict: data-quality findings are errors)", .0.join("; "))]
pub struct StrictError(pub Vec<String>);

/// What every reader calls: the pass's warning lines for `name`, or with `strict` an error
/// when there is any.
pub fn warnings_or_strict(
    name: &str,
    candles: &[Candle],
    tf: Timeframe,
    strict: bool,
) -> Result<Vec<String>, StrictError> {
    let w = check(candles, tf).warnings(name);
    if strict && !w.is_empty() {
        return Err(StrictError(w));
    }
    Ok(w)
}

/// Runs the pass over `candles` of timeframe `tf`, in the order given.
pub fn check(candles: &[Candle], tf: Timeframe) -> Quality {
    let mut q = Quality::default();
    let tf_ms = tf.ms();
    let mut trs: std::collections::VecDeque<f64> = Default::default();
    let mut tr_sum = 0.0;
    for (i, c) in candles.iter().enumerate() {
        let f = |kind, detail| Finding {
            kind,
            index: i,
            time: c.open_time,
            detail,
        };
        if let Some(p) = i.checked_sub(1).map(|j| &candles[j]) {
            let d = c.open_time - p.open_time;
            if d == 0 {
                q.add(f(
                    Kind::Duplicate,
                    "same open time as the previous candle".into(),
                ));
            } else if d < 0 {
                q.add(f(
                    Kind::OutOfOrder,
                    format!("before the previous candle ({})", fmt_ms(p.open_time)),
                ));
            } else if d > tf_ms {
                let missing = (d / tf_ms - 1).max(1) as u64;
                q.missing_candles += missing;
                q.add(Finding {
                    kind: Kind::Gap,
                    index: i,
                    time: p.open_time + tf_ms,
                    detail: format!("{missing} candles missing"),
                });
            }
        }
        if let Err(m) = c.validate() {
            q.add(f(Kind::Ohlc, m));
            continue;
        }
        if trs.len() == WICK_ATR_PERIOD && tr_sum > 0.0 {
            let atr = tr_sum / WICK_ATR_PERIOD as f64;
            let wick = (c.high - c.open.max(c.close)).max(c.open.min(c.close) - c.low);
            if wick > WICK_ATR_K * atr {
                q.add(f(
                    Kind::OutlierWick,
                    format!(
                        "wick {wick} is {:.1} × ATR({WICK_ATR_PERIOD}) {atr:.6} (o={} h={} l={} c={})",
                        wick / atr,
                        c.open,
                        c.high,
                        c.low,
                        c.close
                    ),
                ));
            }
        }
        let pc = i.checked_sub(1).map_or(c.close, |j| candles[j].close);
        let tr = (c.high - c.low)
            .max((c.high - pc).abs())
            .max((c.low - pc).abs());
        trs.push_back(tr);
        tr_sum += tr;
        if trs.len() > WICK_ATR_PERIOD {
            tr_sum -= trs.pop_front().unwrap_or(0.0);
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn k(i: i64, o: f64, h: f64, l: f64, c: f64) -> Candle {
        Candle {
            open_time: 1_500_000_000_000 / H * H + i * H,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: 1.0,
        }
    }

    #[test]
    fn finds_each_kind_once() {
        let mut cs: Vec<Candle> = (0..20).map(|i| k(i, 100.0, 101.0, 99.0, 100.0)).collect();
        cs.push(k(29, 100.0, 101.0, 99.0, 100.0)); // 20..=28 missing
        cs.push(k(29, 100.0, 101.0, 99.0, 100.0)); // duplicate
        cs.push(k(28, 100.0, 101.0, 99.0, 100.0)); // out of order
        cs.push(k(29, 100.0, 99.0, 101.0, 100.0)); // high < low
        cs.push(k(30, 100.0, 101.0, 99.0, 100.0));
        cs.extend((31..50).map(|i| k(i, 100.0, 101.0, 99.0, 100.0)));
        cs.push(k(50, 100.0, 101.0, 50.0, 100.0)); // wick 50 vs ATR 2
        cs.push(k(51, 100.0, 110.0, 99.0, 109.0)); // a big move, but its wick is 1
        let q = check(&cs, Timeframe::H1);
        assert_eq!(
            (
                q.gaps,
                q.missing_candles,
                q.duplicates,
                q.out_of_order,
                q.ohlc,
                q.outlier_wicks
            ),
            (1, 9, 1, 1, 1, 1)
        );
        let w = q.warnings("x.csv");
        assert_eq!(w.len(), 5);
        assert!(
            w[0].starts_with(
                "x.csv: 1 gap(s) (9 candles missing): 2017-07-14T22:00:00Z: 9 candles missing"
            ),
            "{}",
            w[0]
        );
        assert!(
            w[4].contains("outlier wick(s)") && w[4].contains("25.0 × ATR(14)"),
            "{}",
            w[4]
        );
        assert!(check(&cs[..20], Timeframe::H1).is_clean());
    }

    /// The bundled files: the one documented outlier (Coinbase 2017-04-15, low 0.06) and the
    /// 12 missing days (2019-03-20 → 2019-03-31) of the Coinbase daily file; the hourly file is clean.
    #[test]
    fn bundled_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let read = |f: &str| crate::csvdata::read_candles_csv(&dir.join(f)).unwrap();
        let q = check(&read("coinbase_btcusd_1d.csv"), Timeframe::D1);
        assert_eq!((q.gaps, q.missing_candles, q.outlier_wicks), (1, 12, 1));
        let wick = q
            .examples
            .iter()
            .find(|f| f.kind == Kind::OutlierWick)
            .unwrap();
        assert_eq!(fmt_ms(wick.time), "2017-04-15T00:00:00Z");
        assert!(check(&read("coinbase_btcusd_1h.csv"), Timeframe::H1).is_clean());
        assert!(check(&read("bitstamp_btcusd_1d.csv"), Timeframe::D1).outlier_wicks == 0);
    }
}
