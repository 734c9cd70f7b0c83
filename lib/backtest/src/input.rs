//! What a backtest runs on: one asset's candles (primary timeframe, optional higher
//! timeframes), funding history and open interest.

use scalp_core::{Candle, Timeframe};

/// A funding settlement: time (ms, UTC) and the rate per 8 h (positive: longs pay shorts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FundingPoint {
    pub time: i64,
    pub rate: f64,
}

/// An open-interest observation: time (ms) and open interest (base coin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OiPoint {
    pub time: i64,
    pub value: f64,
}

/// Input of one runner (one strategy instance on one asset).
#[derive(Debug, Clone)]
pub struct BacktestInput<'a> {
    pub asset: String,
    /// Primary timeframe (the strategy's first declared timeframe).
    pub timeframe: Timeframe,
    /// Primary candles, strictly ascending open times, all closed.
    pub candles: &'a [Candle],
    /// Higher timeframes, each strictly ascending. A higher candle is visible to the strategy
    /// from the first primary candle whose close is at or after the higher candle's close.
    pub higher: Vec<(Timeframe, Vec<Candle>)>,
    /// Funding settlements, ascending (may be empty: the configured rate is used).
    pub funding: &'a [FundingPoint],
    /// Open interest, ascending (may be empty).
    pub open_interest: &'a [OiPoint],
}

impl<'a> BacktestInput<'a> {
    pub fn new(asset: &str, timeframe: Timeframe, candles: &'a [Candle]) -> BacktestInput<'a> {
        BacktestInput {
            asset: asset.to_string(),
            timeframe,
            candles,
            higher: Vec::new(),
            funding: &[],
            open_interest: &[],
        }
    }

    /// Adds every higher timeframe in `tfs` (other than the primary) by aggregating the
    /// primary candles (see [`aggregate`]).
    pub fn with_aggregated(mut self, tfs: &[Timeframe]) -> Self {
        for &tf in tfs {
            if tf != self.timeframe && !self.higher.iter().any(|(t, _)| *t == tf) {
                let agg = aggregate(self.candles, self.timeframe, tf);
                self.higher.push((tf, agg));
            }
        }
        self
    }

    /// Adds a higher timeframe loaded from storage (replaces an aggregated one).
    pub fn with_loaded(mut self, tf: Timeframe, candles: Vec<Candle>) -> Self {
        self.higher.retain(|(t, _)| *t != tf);
        self.higher.push((tf, candles));
        self
    }

    pub fn with_funding(mut self, f: &'a [FundingPoint]) -> Self {
        self.funding = f;
        self
    }

    pub fn with_open_interest(mut self, oi: &'a [OiPoint]) -> Self {
        self.open_interest = oi;
        self
    }
}

/// Builds `to` candles from `from` candles: a `to` candle covers the `from` candles whose open
/// time aligns to it (`to.align(open_time)`): open of the first, max high, min low, close of
/// the last, summed volume. Every group is emitted, including a trailing one whose period has
/// not ended yet: the engine only shows it once its close time (`open + to.ms()`) has passed,
/// so a group that is incomplete at the end of the data is never seen.
pub fn aggregate(candles: &[Candle], from: Timeframe, to: Timeframe) -> Vec<Candle> {
    debug_assert!(to.ms() >= from.ms());
    let mut out: Vec<Candle> =
        Vec::with_capacity(candles.len() / (to.ms() / from.ms()).max(1) as usize + 1);
    for c in candles {
        let t = to.align(c.open_time);
        match out.last_mut() {
            Some(last) if last.open_time == t => {
                last.high = last.high.max(c.high);
                last.low = last.low.min(c.low);
                last.close = c.close;
                last.volume += c.volume;
            }
            _ => out.push(Candle { open_time: t, ..*c }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_hours_into_4h() {
        let c = |t: i64, o: f64, h: f64, l: f64, cl: f64| Candle {
            open_time: t * 3_600_000,
            open: o,
            high: h,
            low: l,
            close: cl,
            volume: 1.0,
        };
        let hs = [
            c(0, 1.0, 2.0, 0.5, 1.5),
            c(1, 1.5, 3.0, 1.0, 2.0),
            c(2, 2.0, 2.5, 0.2, 1.0),
            c(3, 1.0, 1.1, 0.9, 1.05),
            c(4, 5.0, 6.0, 4.0, 5.5),
        ];
        let a = aggregate(&hs, Timeframe::H1, Timeframe::H4);
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[0],
            Candle {
                open_time: 0,
                open: 1.0,
                high: 3.0,
                low: 0.2,
                close: 1.05,
                volume: 4.0
            }
        );
        assert_eq!(a[1].open_time, 4 * 3_600_000);
    }
}
