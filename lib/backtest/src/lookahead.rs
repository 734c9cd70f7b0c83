//! Look-ahead bias check (like freqtrade's lookahead analysis): a strategy that only uses
//! closed candles makes, on a truncated history `candles[..k]`, exactly the decisions it makes
//! on the full history for the candles before `k`. Any difference means the decision used a
//! future candle (or hidden global state).

use crate::config::BacktestConfig;
use crate::engine::{BacktestError, Trade, run_backtest};
use crate::input::BacktestInput;
use scalp_strategy::{ExitReason, Intent, Strategy};
use serde::Serialize;

/// A decision (the intents of one candle) that differs between the full and a truncated run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// Length of the truncated history.
    pub checkpoint: usize,
    pub index: usize,
    pub time: i64,
    pub full: Vec<String>,
    pub truncated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LookaheadReport {
    pub strategy: String,
    pub n_candles: usize,
    pub checkpoints: Vec<usize>,
    /// Candles with at least one intent in the full run.
    pub decisions: usize,
    pub intents: usize,
    pub mismatches: Vec<Mismatch>,
    /// Closed trades (not end-of-data) that differ between the full and a truncated run.
    pub trade_mismatches: usize,
}

impl LookaheadReport {
    pub fn biased(&self) -> bool {
        !self.mismatches.is_empty() || self.trade_mismatches > 0
    }
}

fn by_candle(intents: &[(usize, Intent)], limit: usize) -> Vec<(usize, Vec<String>)> {
    let mut out: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, x) in intents.iter().filter(|(i, _)| *i < limit) {
        match out.last_mut() {
            Some((j, v)) if j == i => v.push(format!("{x:?}")),
            _ => out.push((*i, vec![format!("{x:?}")])),
        }
    }
    out
}

fn closed_before(trades: &[Trade], k: usize) -> Vec<&Trade> {
    trades
        .iter()
        .filter(|t| t.exit_index < k && t.exit_reason != ExitReason::EndOfData)
        .collect()
}

/// Runs `make()` on the full input and on `n_checkpoints` truncated prefixes, comparing every
/// decision before each truncation point. The kill switch is disabled for the comparison.
pub fn check_lookahead(
    input: &BacktestInput<'_>,
    make: &dyn Fn() -> Box<dyn Strategy>,
    cfg: &BacktestConfig,
    n_checkpoints: usize,
) -> Result<LookaheadReport, BacktestError> {
    let mut cfg = cfg.clone();
    cfg.record_intents = true;
    cfg.kill_switch = Default::default();
    let n = input.candles.len();
    let mut s = make();
    let full = run_backtest(input, s.as_mut(), &cfg)?;
    let mut checkpoints: Vec<usize> = (1..=n_checkpoints)
        .map(|j| n * j / (n_checkpoints + 1))
        .filter(|&k| k >= 2)
        .collect();
    checkpoints.dedup();
    let mut report = LookaheadReport {
        strategy: s.name().to_string(),
        n_candles: n,
        checkpoints: checkpoints.clone(),
        decisions: by_candle(&full.intents, n).len(),
        intents: full.intents.len(),
        mismatches: Vec::new(),
        trade_mismatches: 0,
    };
    for &k in &checkpoints {
        let mut part = input.clone();
        part.candles = &input.candles[..k];
        let mut s = make();
        let res = run_backtest(&part, s.as_mut(), &cfg)?;
        let a = by_candle(&full.intents, k);
        let b = by_candle(&res.intents, k);
        let (mut ia, mut ib) = (0, 0);
        while ia < a.len() || ib < b.len() {
            let ka = a.get(ia).map_or(usize::MAX, |x| x.0);
            let kb = b.get(ib).map_or(usize::MAX, |x| x.0);
            let idx = ka.min(kb);
            let fa = if ka == idx {
                ia += 1;
                a[ia - 1].1.clone()
            } else {
                Vec::new()
            };
            let fb = if kb == idx {
                ib += 1;
                b[ib - 1].1.clone()
            } else {
                Vec::new()
            };
            if fa != fb {
                report.mismatches.push(Mismatch {
                    checkpoint: k,
                    index: idx,
                    time: input.candles[idx].open_time,
                    full: fa,
                    truncated: fb,
                });
            }
        }
        let ta = closed_before(&full.trades, k);
        let tb = closed_before(&res.trades, k);
        if ta.len() != tb.len() || ta.iter().zip(&tb).any(|(x, y)| x != y) {
            report.trade_mismatches += 1;
        }
    }
    Ok(report)
}
