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

    /// Adds every higher timeframe in `tfs` by resampling the primary candles
    /// ([`scalp_core::resample::resample`], the one candle aggregator). A timeframe that is not
    /// a coarser multiple of the primary is left out: the engine then refuses the strategy
    /// ([`crate::BacktestError::NotHigher`]).
    pub fn with_aggregated(mut self, tfs: &[Timeframe]) -> Self {
        for &tf in tfs {
            let higher = tf.ms() > self.timeframe.ms() && tf.ms() % self.timeframe.ms() == 0;
            if higher && !self.higher.iter().any(|(t, _)| *t == tf) {
                let agg = scalp_core::resample::resample(self.candles, self.timeframe, tf);
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
