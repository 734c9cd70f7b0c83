//! Walk-forward optimization: rolling in-sample (IS) / out-of-sample (OOS) windows, a coarse
//! then a fine pass per window, best parameters per window, stitched OOS results and the
//! robustness diagnostics of docs/OPTIMIZER.md.

use crate::Error;
use crate::grid::Grid;
use crate::kernels::KMetrics;
use crate::kernels::funding::{self, FundingSchedule};
use crate::stats;
use crate::sweep::{self, ComboResult};
use scalp_backtest::BacktestConfig;
use scalp_core::{Candle, Timeframe};
use scalp_strategy::Params;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// What the walk-forward needs from an engine: a grid evaluation and one detailed run.
pub struct EvalCtx<'a> {
    pub strategy: &'a str,
    pub asset: &'a str,
    pub tf: Timeframe,
    pub bt: &'a BacktestConfig,
}

/// One parameter set run in detail.
#[derive(Debug, Clone)]
pub struct RunDetail {
    pub metrics: KMetrics,
    /// Net P&L of each trade as a fraction of the equity before its entry.
    pub trade_returns: Vec<f64>,
    /// Equity after each candle (the engine's `equity`).
    pub equity: Vec<f64>,
}

impl EvalCtx<'_> {
    /// Every combination of `grid` on `candles` (the fastest exact path, [`sweep::evaluate`]).
    pub fn grid(
        &self,
        candles: &[Candle],
        grid: &Grid,
        base: &Params,
    ) -> Result<Vec<ComboResult>, Error> {
        Ok(sweep::evaluate(
            self.strategy,
            self.asset,
            candles,
            self.tf,
            grid,
            base,
            self.bt,
            true,
        )?
        .0)
    }

    /// One parameter set on `candles` in detail (the kernel when it models the settings, else
    /// the event engine; both charge the configured funding rate, as [`sweep::event_run`]).
    pub fn one(&self, candles: &[Candle], params: &Params) -> Result<RunDetail, Error> {
        if self.strategy == "sma_cross"
            && let Some(cost) = sweep::kernel_cost(self.bt, candles, &[])
        {
            let fs = FundingSchedule::new(candles, self.tf, self.bt.funding_rate, &[]);
            let (m, trades) = sweep::sma_cross_trades(candles, self.tf, params, &cost, &fs);
            return Ok(RunDetail {
                metrics: m,
                trade_returns: trades.iter().map(|t| t.ret).collect(),
                equity: funding::equity_curve(candles, &trades, self.bt.capital, &fs),
            });
        }
        let r = sweep::event_run(self.strategy, self.asset, candles, self.tf, params, self.bt)?;
        let trade_returns = r
            .trades
            .iter()
            .map(|t| {
                let before = if t.entry_index == 0 {
                    self.bt.capital
                } else {
                    r.equity[t.entry_index - 1]
                };
                if before > 0.0 {
                    t.net_pnl / before
                } else {
                    0.0
                }
            })
            .collect();
        Ok(RunDetail {
            metrics: sweep::kmetrics_of(&r),
            trade_returns,
            equity: r.equity,
        })
    }
}

/// Daily returns of an equity curve, sampled like the engine's Sharpe (equity at the last
/// candle of each UTC day; the first return is relative to `capital`).
pub fn daily_returns(candles: &[Candle], equity: &[f64], tf: Timeframe, capital: f64) -> Vec<f64> {
    let mut rets = Vec::new();
    let mut prev = capital;
    let mut day_eq: Option<(i64, f64)> = None;
    for (i, &e) in equity.iter().enumerate() {
        let day = (candles[i].open_time + tf.ms() - 1).div_euclid(86_400_000);
        match day_eq {
            Some((d, v)) if d != day => {
                rets.push(v / prev - 1.0);
                prev = v;
                day_eq = Some((day, e));
            }
            _ => day_eq = Some((day, e)),
        }
    }
    if let Some((_, v)) = day_eq {
        rets.push(v / prev - 1.0);
    }
    rets
}

/// Walk-forward settings of a strategy (`param_grids.toml`, `[<strategy>]`); the schema is
/// in scalp-strategy so that every `--check-config` validates it.
pub use scalp_strategy::grid::{SectionError, WfoSpec};

/// A combination tested in IS: (pass `coarse`/`fine`, params, metrics, capital).
pub type TestedCombo = (&'static str, Vec<(String, f64)>, KMetrics, f64);

/// One walk-forward window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowResult {
    pub index: usize,
    pub is_start: i64,
    pub is_end: i64,
    pub oos_start: i64,
    pub oos_end: i64,
    pub best_params: BTreeMap<String, f64>,
    pub is_sharpe: f64,
    pub is_trades: u32,
    pub oos_sharpe: f64,
    pub oos_return_pct: f64,
    pub oos_trades: u32,
    pub oos_max_dd: f64,
    pub combos_tested: usize,
    /// The price action of the OOS window ([`classify_regime`]).
    pub regime: WindowRegime,
    /// Parameters whose one-step neighbours lose more than half of the IS Sharpe.
    pub cliff: Vec<String>,
    /// Every combination tested in IS: (pass, params, metrics, capital).
    #[serde(skip)]
    pub combos: Vec<TestedCombo>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RegimeStats {
    pub windows: usize,
    pub avg_oos_sharpe: f64,
    pub avg_oos_return_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WfoResult {
    pub windows: Vec<WindowResult>,
    pub n_windows: usize,
    pub avg_is_sharpe: f64,
    pub avg_oos_sharpe: f64,
    /// avg OOS Sharpe / avg IS Sharpe (0 when the IS average is ≤ 0).
    pub oos_is_ratio: f64,
    /// Fraction of windows with a positive OOS return.
    pub consistency: f64,
    pub n_distinct_combos: usize,
    /// Mean over parameters of `1 − std(best values) / (axis max − axis min)`, in [0, 1].
    pub param_stability: f64,
    pub per_param_stability: BTreeMap<String, f64>,
    /// Fraction of windows whose best combo is within one grid step of the recommendation on
    /// every axis.
    pub convergence: f64,
    pub cliff_params: Vec<String>,
    pub divergent_params: Vec<String>,
    pub regime_analysis: BTreeMap<String, RegimeStats>,
    /// Per axis: the median of the windows' best values, snapped to the grid. A diagnostic
    /// only (what `convergence` is measured against): such a combination may have won no window
    /// and was never tested out of sample, so it is not what is deployed.
    pub median_of_winners: BTreeMap<String, f64>,
    /// What is deployed: the IS winner of the last window — the output of the deployment rule
    /// (“trade the IS winner of the last `is_days`”) whose record is the stitched OOS, tested
    /// out of sample in the last OOS window (docs/OPTIMIZER.md "Deploy what was tested").
    pub deployed: BTreeMap<String, f64>,
    /// Index of the window whose IS winner is deployed (the last).
    pub deployed_window: usize,
    /// Stitched OOS: annualised Sharpe of the concatenated daily OOS returns.
    pub stitched_oos_sharpe: f64,
    /// The same Sharpe annualised with Lo's (2002) correction for autocorrelated daily returns
    /// instead of √365 ([`crate::stats::lo_annualisation`]).
    pub stitched_oos_sharpe_lo: f64,
    pub oos_total_return_pct: f64,
    pub oos_n_trades: usize,
    #[serde(skip)]
    pub oos_trade_returns: Vec<f64>,
    #[serde(skip)]
    pub oos_daily_returns: Vec<f64>,
    /// Variance of the daily (non-annualised) IS Sharpes of every combination tested.
    pub trial_sharpe_var: f64,
    pub periods_per_year: f64,
}

/// The market regime of a walk-forward window, from its prices (`bull`, `bear`, `range`,
/// `crash`). Distinct from [`scalp_backtest::Regime`], the regime of a *trade* at its entry
/// (ADX/ATR: `RANGING`, `TRENDING_UP`, …): two vocabularies for two questions, with two names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowRegime {
    Bull,
    Bear,
    Range,
    Crash,
}

impl WindowRegime {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowRegime::Bull => "bull",
            WindowRegime::Bear => "bear",
            WindowRegime::Range => "range",
            WindowRegime::Crash => "crash",
        }
    }
}

impl std::fmt::Display for WindowRegime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Regime of a price window (thresholds in docs/OPTIMIZER.md).
pub fn classify_regime(c: &[Candle]) -> WindowRegime {
    let (Some(first), Some(last)) = (c.first(), c.last()) else {
        return WindowRegime::Range;
    };
    let ret = last.close / first.open - 1.0;
    let (mut peak, mut mdd) = (first.open, 0.0f64);
    for x in c {
        peak = peak.max(x.high);
        mdd = mdd.max(1.0 - x.low / peak);
    }
    if mdd >= 0.30 && ret < 0.0 {
        WindowRegime::Crash
    } else if ret >= 0.10 {
        WindowRegime::Bull
    } else if ret <= -0.10 {
        WindowRegime::Bear
    } else {
        WindowRegime::Range
    }
}

fn rank_key(r: &ComboResult, min_trades: u32) -> (bool, f64) {
    let s = if r.metrics.sharpe.is_finite() {
        r.metrics.sharpe
    } else {
        f64::NEG_INFINITY
    };
    (r.metrics.n_trades >= min_trades, s)
}

fn best_of(res: &[ComboResult], min_trades: u32) -> Option<&ComboResult> {
    res.iter().max_by(|a, b| {
        let (ka, kb) = (rank_key(a, min_trades), rank_key(b, min_trades));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(b.idx.cmp(&a.idx))
    })
}

fn key_of(params: &[(String, f64)]) -> Vec<u64> {
    params.iter().map(|(_, v)| v.to_bits()).collect()
}

/// Stability of one axis: `clamp(1 − std(winners) / std_random, 0, 1)`, `std_random` being the
/// population standard deviation of the axis's grid values (winners drawn at random score ≈ 0,
/// identical winners 1; docs/OPTIMIZER.md "Parameter stability").
pub fn axis_stability(winners: &[f64], axis_values: &[f64]) -> f64 {
    let (lo, hi) = axis_values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let m = stats::moments(winners);
    let sd = if winners.len() > 1 { m.std } else { 0.0 };
    let k = axis_values.len() as f64;
    let mean = axis_values.iter().sum::<f64>() / k;
    let sd_random = (axis_values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / k).sqrt();
    if hi - lo > 0.0 && sd_random > 0.0 {
        (1.0 - sd / sd_random).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Window boundaries `(is_start_idx, is_end_idx, oos_end_idx)` (half-open index ranges).
pub fn windows(candles: &[Candle], spec: &WfoSpec) -> Vec<(usize, usize, usize)> {
    let day = 86_400_000.0;
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return vec![];
    };
    let idx = |t: i64| candles.partition_point(|c| c.open_time < t);
    let (is, oos, step) = (
        (spec.is_days * day) as i64,
        (spec.oos_days * day) as i64,
        (spec.step_days * day) as i64,
    );
    let mut out = Vec::new();
    // Anchored to the end of the data: the last OOS window ends at the last candle, so the
    // most recent history is always tested; the (span − IS − OOS) mod step days left over are
    // at the start, before the first IS window (docs/OPTIMIZER.md "Windows").
    // The data end at the last candle's close (its open + the candle spacing).
    let tf = candles
        .windows(2)
        .map(|w| w[1].open_time - w[0].open_time)
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(1);
    let end = last.open_time + tf;
    let span = end - first.open_time;
    let spare = if step > 0 && span >= is + oos {
        (span - is - oos) % step
    } else {
        0
    };
    let mut t = first.open_time + spare;
    while t + is + oos <= end {
        out.push((idx(t), idx(t + is), idx(t + is + oos)));
        t += step;
    }
    if out.len() > spec.max_windows {
        out.drain(..out.len() - spec.max_windows);
    }
    out.retain(|(a, b, c)| b > a && c > b);
    out
}

/// Runs the walk-forward optimization. `progress(done, total)` is called after each window.
pub fn run_wfo(
    candles: &[Candle],
    spec: &WfoSpec,
    base: &Params,
    ev: &EvalCtx<'_>,
    progress: &dyn Fn(usize, usize),
) -> Result<WfoResult, Error> {
    let tf = ev.tf;
    let wins = windows(candles, spec);
    if wins.is_empty() {
        return Err(Error::NotEnoughHistory {
            is_days: spec.is_days,
            oos_days: spec.oos_days,
            span_days: candles.last().zip(candles.first()).map_or(0.0, |(l, f)| {
                (l.open_time - f.open_time) as f64 / 86_400_000.0
            }),
        });
    }
    let ppy = scalp_backtest::metrics::DAYS_PER_YEAR;
    let coarse = spec.grid.coarse(spec.coarse_max);
    let names: Vec<String> = spec.grid.names().into_iter().map(String::from).collect();
    let mut distinct: HashSet<Vec<u64>> = HashSet::new();
    let mut trial_sharpes: Vec<f64> = Vec::new();
    let mut out_w = Vec::new();
    let mut oos_trade_returns = Vec::new();
    let mut oos_daily_returns = Vec::new();
    let mut best_vals: Vec<Vec<f64>> = Vec::new();
    for (wi, &(a, b, c)) in wins.iter().enumerate() {
        let is = &candles[a..b];
        let oos = &candles[b..c];
        let rc = ev.grid(is, &coarse, base)?;
        let bc = best_of(&rc, spec.min_trades).ok_or(Error::EmptyGrid { window: wi })?;
        let center: Vec<f64> = bc.params.iter().map(|(_, v)| *v).collect();
        let rf = if spec.fine_radius == 0 {
            Vec::new()
        } else {
            ev.grid(is, &spec.grid.fine_around(&center, spec.fine_radius), base)?
        };
        for r in rc.iter().chain(rf.iter()) {
            if distinct.insert(key_of(&r.params)) && r.metrics.sharpe.is_finite() {
                trial_sharpes.push(r.metrics.sharpe / ppy.sqrt());
            }
        }
        let all: Vec<ComboResult> = rc.iter().chain(rf.iter()).cloned().collect();
        let best = best_of(&all, spec.min_trades).expect("non-empty").clone();
        // cliffs: neighbours (one step on one axis) in the fine pass
        let mut cliff = Vec::new();
        for (ai, axis) in spec.grid.axes.iter().enumerate() {
            let pos = axis.values.iter().position(|v| *v == best.params[ai].1);
            let Some(pos) = pos else { continue };
            let neigh: Vec<f64> = [pos.checked_sub(1), Some(pos + 1)]
                .into_iter()
                .flatten()
                .filter_map(|p| axis.values.get(p))
                .filter_map(|nv| {
                    rf.iter()
                        .find(|r| {
                            r.params.iter().enumerate().all(|(j, (_, v))| {
                                if j == ai {
                                    v == nv
                                } else {
                                    *v == best.params[j].1
                                }
                            })
                        })
                        .map(|r| r.metrics.sharpe)
                })
                .collect();
            let bs = best.metrics.sharpe;
            if bs > 0.0 && neigh.iter().any(|&s| s < 0.5 * bs) {
                cliff.push(axis.name.clone());
            }
        }
        let mut kv = base.clone();
        for (k, v) in &best.params {
            kv.0.insert(k.clone(), *v);
        }
        let det = ev.one(oos, &kv)?;
        let om = det.metrics;
        let cap = ev.bt.capital;
        oos_trade_returns.extend_from_slice(&det.trade_returns);
        oos_daily_returns.extend(daily_returns(oos, &det.equity, tf, cap));
        best_vals.push(best.params.iter().map(|(_, v)| *v).collect());
        out_w.push(WindowResult {
            index: wi,
            is_start: is[0].open_time,
            is_end: is[is.len() - 1].open_time,
            oos_start: oos[0].open_time,
            oos_end: oos[oos.len() - 1].open_time,
            best_params: best.params.iter().cloned().collect(),
            is_sharpe: best.metrics.sharpe,
            is_trades: best.metrics.n_trades,
            oos_sharpe: om.sharpe,
            oos_return_pct: (om.final_equity / cap - 1.0) * 100.0,
            oos_trades: om.n_trades,
            oos_max_dd: om.max_dd,
            combos_tested: rc.len() + rf.len(),
            regime: classify_regime(oos),
            cliff,
            combos: rc
                .iter()
                .map(|r| ("coarse", r.params.clone(), r.metrics, cap))
                .chain(
                    rf.iter()
                        .map(|r| ("fine", r.params.clone(), r.metrics, cap)),
                )
                .collect(),
        });
        progress(wi + 1, wins.len());
    }
    let n = out_w.len() as f64;
    let avg_is = out_w.iter().map(|w| w.is_sharpe).sum::<f64>() / n;
    let avg_oos = out_w.iter().map(|w| w.oos_sharpe).sum::<f64>() / n;
    let consistency = out_w.iter().filter(|w| w.oos_return_pct > 0.0).count() as f64 / n;
    // stability, recommendation, divergence
    let mut per_param_stability = BTreeMap::new();
    let mut median_of_winners = BTreeMap::new();
    let mut divergent = Vec::new();
    for (ai, axis) in spec.grid.axes.iter().enumerate() {
        let vals: Vec<f64> = best_vals.iter().map(|v| v[ai]).collect();
        let (lo, hi) = axis
            .values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        let range = hi - lo;
        let stab = axis_stability(&vals, &axis.values);
        per_param_stability.insert(axis.name.clone(), stab);
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        let med = sorted[sorted.len() / 2];
        let snapped = *axis
            .values
            .iter()
            .min_by(|x, y| (*x - med).abs().total_cmp(&(*y - med).abs()))
            .expect("non-empty");
        median_of_winners.insert(axis.name.clone(), snapped);
        let span = sorted.last().unwrap_or(&0.0) - sorted.first().unwrap_or(&0.0);
        if range > 0.0 && span > 0.5 * range {
            divergent.push(axis.name.clone());
        }
    }

    let within_one_step = |v: &[f64]| {
        spec.grid.axes.iter().enumerate().all(|(ai, axis)| {
            let r = median_of_winners[&axis.name];
            let p = axis.values.iter().position(|x| *x == r).unwrap_or(0) as i64;
            let q = axis.values.iter().position(|x| *x == v[ai]).unwrap_or(0) as i64;
            (p - q).abs() <= 1
        })
    };
    let convergence = best_vals.iter().filter(|v| within_one_step(v)).count() as f64 / n;
    let cliff_params: Vec<String> = names
        .iter()
        .filter(|nm| {
            out_w.iter().filter(|w| w.cliff.contains(nm)).count() * 2 >= out_w.len().max(1)
        })
        .filter(|nm| out_w.iter().any(|w| w.cliff.contains(nm)))
        .cloned()
        .collect();
    // The score's stability: per axis, halved for a cliff parameter, 0 for a divergent one.
    let param_stability = if per_param_stability.is_empty() {
        1.0
    } else {
        per_param_stability
            .iter()
            .map(|(name, st)| {
                if divergent.contains(name) {
                    0.0
                } else if cliff_params.contains(name) {
                    0.5 * st
                } else {
                    *st
                }
            })
            .sum::<f64>()
            / per_param_stability.len() as f64
    };
    let mut regime_analysis: BTreeMap<String, RegimeStats> = BTreeMap::new();
    for w in &out_w {
        let e = regime_analysis.entry(w.regime.to_string()).or_default();
        e.windows += 1;
        e.avg_oos_sharpe += w.oos_sharpe;
        e.avg_oos_return_pct += w.oos_return_pct;
    }
    for e in regime_analysis.values_mut() {
        e.avg_oos_sharpe /= e.windows as f64;
        e.avg_oos_return_pct /= e.windows as f64;
    }
    let stitched = stats::sharpe(&oos_daily_returns) * ppy.sqrt();
    let total = oos_daily_returns.iter().fold(1.0, |acc, r| acc * (1.0 + r));
    let tv = stats::moments(&trial_sharpes);
    let deployed = out_w
        .last()
        .map(|w| w.best_params.clone())
        .unwrap_or_default();
    Ok(WfoResult {
        n_windows: out_w.len(),
        windows: out_w,
        avg_is_sharpe: avg_is,
        avg_oos_sharpe: avg_oos,
        oos_is_ratio: if avg_is > 0.0 { avg_oos / avg_is } else { 0.0 },
        consistency,
        n_distinct_combos: distinct.len(),
        param_stability,
        per_param_stability,
        convergence,
        cliff_params,
        divergent_params: divergent,
        regime_analysis,
        median_of_winners,
        deployed,
        deployed_window: n as usize - 1,
        stitched_oos_sharpe: stitched,
        stitched_oos_sharpe_lo: stats::sharpe(&oos_daily_returns)
            * stats::lo_annualisation(&oos_daily_returns, ppy),
        oos_total_return_pct: (total - 1.0) * 100.0,
        oos_n_trades: oos_trade_returns.len(),
        oos_trade_returns,
        oos_daily_returns,
        trial_sharpe_var: if tv.n > 1 { tv.std * tv.std } else { 0.0 },
        periods_per_year: ppy,
    })
}

/// Fees (maker and taker) and slippage multiplier of the cost/fill stress.
pub const STRESS_COST_MULT: f64 = 2.0;
/// Trade-through margin of the cost/fill stress: a resting buy (sell) limit at `L` fills only
/// when the low (high) reaches `L·(1 − m)` (`L·(1 + m)`), not on the touch.
pub const STRESS_TRADE_THROUGH: f64 = 0.001;

/// The stitched OOS record re-run under the cost and fill stress.
#[derive(Debug, Clone, Serialize)]
pub struct StressResult {
    pub cost_mult: f64,
    pub trade_through: f64,
    pub stitched_sharpe: f64,
    pub stitched_return_pct: f64,
    pub n_trades: usize,
}

/// Candles whose wicks are pulled in so that the engine's touch rule becomes a trade-through
/// rule: `low' = min(low / (1 − m), open, close)`, `high' = max(high / (1 + m), open, close)`.
/// A buy limit at `L` then fills iff `low ≤ L·(1 − m)` (or the body reaches it: prices the
/// market traded at); a sell limit likewise with the high.
pub fn trade_through(candles: &[Candle], m: f64) -> Vec<Candle> {
    candles
        .iter()
        .map(|c| Candle {
            low: (c.low / (1.0 - m)).min(c.open).min(c.close),
            high: (c.high / (1.0 + m)).max(c.open).max(c.close),
            ..*c
        })
        .collect()
}

/// Each window's IS winner re-run on its OOS window with fees and slippage ×
/// [`STRESS_COST_MULT`] and trade-through fills ([`trade_through`]), the daily returns stitched
/// as in [`run_wfo`] (docs/OPTIMIZER.md "Cost and fill stress").
pub fn stress_oos(
    candles: &[Candle],
    spec: &WfoSpec,
    w: &WfoResult,
    base: &Params,
    ev: &EvalCtx<'_>,
) -> Result<StressResult, Error> {
    let mut bt = ev.bt.clone();
    bt.maker_fee *= STRESS_COST_MULT;
    bt.taker_fee *= STRESS_COST_MULT;
    bt.slippage *= STRESS_COST_MULT;
    let sev = EvalCtx {
        strategy: ev.strategy,
        asset: ev.asset,
        tf: ev.tf,
        bt: &bt,
    };
    let wins = windows(candles, spec);
    if wins.len() != w.windows.len() {
        return Err(Error::StressWindows {
            stress: wins.len(),
            wfo: w.windows.len(),
        });
    }
    let mut daily = Vec::new();
    let mut n_trades = 0;
    for (&(_, b, c), win) in wins.iter().zip(&w.windows) {
        let oos = trade_through(&candles[b..c], STRESS_TRADE_THROUGH);
        let mut kv = base.clone();
        for (k, v) in &win.best_params {
            kv.0.insert(k.clone(), *v);
        }
        let det = sev.one(&oos, &kv)?;
        n_trades += det.trade_returns.len();
        daily.extend(daily_returns(&oos, &det.equity, ev.tf, bt.capital));
    }
    let total = daily.iter().fold(1.0, |acc, r| acc * (1.0 + r));
    Ok(StressResult {
        cost_mult: STRESS_COST_MULT,
        trade_through: STRESS_TRADE_THROUGH,
        stitched_sharpe: stats::sharpe(&daily) * w.periods_per_year.sqrt(),
        stitched_return_pct: (total - 1.0) * 100.0,
        n_trades,
    })
}

/// The Probability of Backtest Overfitting of the grid ([`stats::cscv`]).
#[derive(Debug, Clone, Serialize)]
pub struct Pbo {
    pub pbo: f64,
    pub splits: usize,
    pub combos: usize,
    /// The OOS windows used as CSCV blocks (the most recent, an even number, at most 16).
    pub blocks: usize,
}

/// Most CSCV blocks (C(16, 8) = 12,870 splits).
pub const PBO_MAX_BLOCKS: usize = 16;

/// PBO of the coarse grid: every coarse combination is run on each OOS window (non-overlapping:
/// `step ≥ oos` is enforced), its Sharpe there (the walk-forward's selection measure; 0 without
/// a trade) is its block performance, and [`stats::cscv`]
/// runs over the most recent even number (≤ [`PBO_MAX_BLOCKS`]) of windows. `None` with fewer
/// than 4 windows or 2 combinations.
pub fn pbo_cscv(
    candles: &[Candle],
    spec: &WfoSpec,
    base: &Params,
    ev: &EvalCtx<'_>,
) -> Result<Option<Pbo>, Error> {
    let wins = windows(candles, spec);
    let s = wins.len().min(PBO_MAX_BLOCKS) / 2 * 2;
    let coarse = spec.grid.coarse(spec.coarse_max);
    if s < 4 || coarse.len() < 2 {
        return Ok(None);
    }
    let mut m: Vec<Vec<f64>> = Vec::with_capacity(s);
    let mut keys: Option<Vec<Vec<u64>>> = None;
    for &(_, b, c) in &wins[wins.len() - s..] {
        let mut rc = ev.grid(&candles[b..c], &coarse, base)?;
        rc.sort_by_key(|r| key_of(&r.params));
        let k: Vec<Vec<u64>> = rc.iter().map(|r| key_of(&r.params)).collect();
        if let Some(prev) = &keys
            && *prev != k
        {
            return Err(Error::PboCombos);
        }
        keys = Some(k);
        m.push(
            rc.iter()
                .map(|r| {
                    // The walk-forward picks by Sharpe: CSCV measures that choice the same way.
                    let x = r.metrics.sharpe;
                    if x.is_finite() { x } else { 0.0 }
                })
                .collect(),
        );
    }
    Ok(stats::cscv(&m).map(|(pbo, splits, _)| Pbo {
        pbo,
        splits,
        combos: m[0].len(),
        blocks: s,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_strategy::grid::Grid;

    fn spec(is: f64, oos: f64, step: f64, max: usize) -> WfoSpec {
        WfoSpec {
            is_days: is,
            oos_days: oos,
            step_days: step,
            max_windows: max,
            coarse_max: 200,
            fine_radius: 1,
            min_trades: 3,
            grid: Grid::from_toml(&toml::from_str("fast = \"2..4:1\"").unwrap()).unwrap(),
        }
    }

    fn hours(days: i64) -> Vec<Candle> {
        (0..days * 24)
            .map(|i| Candle {
                open_time: 1_600_000_000_000 + i * 3_600_000,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: 1.0,
            })
            .collect()
    }

    #[test]
    fn stability_of_random_winners_is_near_zero_and_of_identical_ones_one() {
        let axis: Vec<f64> = (2..=40).map(f64::from).collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut total = 0.0;
        let trials = 2000;
        for _ in 0..trials {
            let picks: Vec<f64> = (0..10)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    axis[(x % axis.len() as u64) as usize]
                })
                .collect();
            total += axis_stability(&picks, &axis);
        }
        let mean = total / trials as f64;
        assert!(mean < 0.15, "random winners must score ≈ 0, got {mean}");
        assert_eq!(axis_stability(&[10.0; 10], &axis), 1.0);
        assert!(axis_stability(&[10.0, 11.0, 10.0, 12.0, 11.0], &axis) > 0.8);
    }

    #[test]
    fn trade_through_needs_the_margin_and_keeps_the_body() {
        let c = [Candle {
            open_time: 0,
            open: 100.0,
            high: 110.0,
            low: 90.0,
            close: 105.0,
            volume: 1.0,
        }];
        let t = trade_through(&c, 0.01);
        // buy limit at 91: the low 90 trades through 91·0.99 = 90.09 → fills (low' ≤ 91);
        // at 90.5 it was touched but not traded through by 1 % (90 > 89.595) → no fill
        assert!(t[0].low <= 91.0 && t[0].low > 90.5, "{:?}", t[0]);
        // sell limit at 108: 110 ≥ 108·1.01 = 109.08 → fills; at 109.5 touched only → no fill
        assert!(t[0].high >= 108.0 && t[0].high < 109.5, "{:?}", t[0]);
        // a wick smaller than the margin disappears into the body, never past it
        let c = [Candle {
            low: 99.95,
            high: 105.01,
            ..c[0]
        }];
        let t = trade_through(&c, 0.01);
        assert_eq!((t[0].low, t[0].high), (100.0, 105.0));
    }

    #[test]
    fn windows_end_at_the_last_candle_and_keep_the_most_recent() {
        // 100 days, IS 30 + OOS 10, step 10: (100 − 40) mod 10 = 0 → windows from the start.
        let c = hours(100);
        let w = windows(&c, &spec(30.0, 10.0, 10.0, 50));
        assert_eq!(w.len(), 7);
        assert_eq!(w[0].0, 0);
        assert_eq!(w.last().unwrap().2, c.len());
        // 103 days: 3 spare days go to the start, the last OOS still ends at the last candle.
        let c = hours(103);
        let w = windows(&c, &spec(30.0, 10.0, 10.0, 50));
        assert_eq!(w.len(), 7);
        assert_eq!(w[0].0, 3 * 24);
        assert_eq!(w.last().unwrap().2, c.len());
        for pair in w.windows(2) {
            assert_eq!(pair[0].2, pair[1].1, "OOS windows abut without overlap");
        }
        // max_windows keeps the most recent.
        let w2 = windows(&c, &spec(30.0, 10.0, 10.0, 3));
        assert_eq!(w2, w[w.len() - 3..].to_vec());
    }
}
