//! Grid evaluation on one data set: indicator arrays computed once per window and shared,
//! combinations in parallel (rayon), a dedicated kernel when one exists and the settings are
//! within what it models, else the event-driven engine once per combination.

use crate::grid::Grid;
use crate::kernels::sma_cross::{self, Inputs, KSizing, KernelCost};
use crate::kernels::{KMetrics, KTrade};
use crate::series::Series;
use anyhow::anyhow;
use rayon::prelude::*;
use scalp_backtest::{BacktestConfig, BacktestInput, EndFill, FillMode, Sizing};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::Params;
use serde::Serialize;

/// Result of one combination.
#[derive(Debug, Clone, Serialize)]
pub struct ComboResult {
    /// Index in the grid (row-major).
    pub idx: usize,
    pub params: Vec<(String, f64)>,
    pub metrics: KMetrics,
}

/// Which engine evaluated a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnginePath {
    /// A dedicated kernel over shared indicator arrays.
    Kernel,
    /// The event-driven engine, one run per combination (in parallel).
    Event,
}

/// Strategies with a dedicated kernel.
pub const KERNEL_STRATEGIES: &[&str] = &["sma_cross"];

/// The kernel's cost model for `series`, or `None` when the settings are outside what the
/// kernel models: funding payments, a kill switch, or a liquidation that the window's prices
/// could reach (checked conservatively: lowest low vs the liquidation price of an entry at the
/// highest possible fill price).
pub fn kernel_cost(bt: &BacktestConfig, series: &Series) -> Option<KernelCost> {
    if bt.funding_rate.is_some_and(|r| r != 0.0)
        || bt.kill_switch.max_drawdown_pct.is_some()
        || bt.kill_switch.max_consecutive_losses.is_some()
    {
        return None;
    }
    let liq_frac = 1.0 - 1.0 / bt.leverage + bt.maintenance_margin;
    if liq_frac > 0.0 {
        let max_px = series
            .open
            .iter()
            .chain(series.close.iter())
            .fold(0.0f64, |a, &b| a.max(b))
            * (1.0 + bt.slippage);
        let min_low = series.low.iter().fold(f64::INFINITY, |a, &b| a.min(b));
        if !(min_low > max_px * liq_frac * (1.0 + 1e-6)) {
            return None;
        }
    }
    Some(KernelCost {
        capital: bt.capital,
        leverage: bt.leverage,
        taker_fee: bt.taker_fee,
        slippage: bt.slippage,
        lot_step: bt.lot_step,
        next_open: bt.fill == FillMode::NextOpen,
        sizing: match bt.sizing {
            Sizing::MarginFrac => KSizing::MarginFrac,
            Sizing::AllCash => KSizing::AllCash,
            Sizing::Fixed(q) => KSizing::Fixed(q),
        },
        end_at_close: bt.end_fill == EndFill::LastClose,
        periods_per_year: scalp_backtest::metrics::DAYS_PER_YEAR,
    })
}

/// Precomputed SMA arrays for every distinct period of a grid (sma_cross kernel).
pub struct SmaTable {
    periods: Vec<usize>,
    arrays: Vec<Vec<f64>>,
}

impl SmaTable {
    pub fn build(close: &[f64], periods: &[usize]) -> SmaTable {
        let mut periods = periods.to_vec();
        periods.sort_unstable();
        periods.dedup();
        let arrays = periods
            .par_iter()
            .map(|&p| scalp_indicators::sma(close, p))
            .collect();
        SmaTable { periods, arrays }
    }
    pub fn get(&self, p: usize) -> &[f64] {
        let i = self.periods.binary_search(&p).expect("period precomputed");
        &self.arrays[i]
    }
}

fn axis_or_base(grid: &Grid, base: &Params, name: &str) -> Vec<f64> {
    grid.axis(name)
        .map(|a| a.values.clone())
        .unwrap_or_else(|| vec![base.get(name)])
}

/// Evaluates every combination of `grid` on `series` with the `sma_cross` kernel.
/// `full` computes the daily Sharpe and the drawdown as well.
pub fn sma_cross_grid(
    series: &Series,
    tf: Timeframe,
    grid: &Grid,
    base: &Params,
    cost: &KernelCost,
    full: bool,
) -> Vec<ComboResult> {
    let mut periods: Vec<usize> = axis_or_base(grid, base, "fast")
        .iter()
        .map(|&v| v as usize)
        .collect();
    periods.extend(axis_or_base(grid, base, "slow").iter().map(|&v| v as usize));
    let table = SmaTable::build(&series.close, &periods);
    let day_cum = series.day_end_cum(tf);
    let names = grid.names();
    let fi = names.iter().position(|n| *n == "fast");
    let si = names.iter().position(|n| *n == "slow");
    let mi = names.iter().position(|n| *n == "margin_frac");
    let (bf, bs, bm) = (base.get("fast"), base.get("slow"), base.get("margin_frac"));
    let mut res: Vec<ComboResult> = (0..grid.len())
        .into_par_iter()
        .map_init(
            || vec![0.0; names.len()],
            |vals, k| {
                grid.combo_into(k, vals);
                let f = fi.map_or(bf, |i| vals[i]) as usize;
                let s = si.map_or(bs, |i| vals[i]) as usize;
                let mf = mi.map_or(bm, |i| vals[i]);
                let inp = Inputs {
                    open: &series.open,
                    close: &series.close,
                    fast: table.get(f),
                    slow: table.get(s),
                    day_cum: &day_cum,
                };
                let metrics = if full {
                    sma_cross::run::<true>(inp, cost, mf, None)
                } else {
                    sma_cross::run::<false>(inp, cost, mf, None)
                };
                ComboResult {
                    idx: k,
                    params: Vec::new(),
                    metrics,
                }
            },
        )
        .collect();
    for r in &mut res {
        r.params = grid.combo_kv(r.idx);
    }
    res
}

/// Trades of one sma_cross parameter set with the kernel (parity tests, WFO OOS runs).
pub fn sma_cross_trades(
    series: &Series,
    tf: Timeframe,
    params: &Params,
    cost: &KernelCost,
) -> (KMetrics, Vec<KTrade>) {
    let f = scalp_indicators::sma(&series.close, params.usize("fast"));
    let s = scalp_indicators::sma(&series.close, params.usize("slow"));
    let day_cum = series.day_end_cum(tf);
    let mut trades = Vec::new();
    let inp = Inputs {
        open: &series.open,
        close: &series.close,
        fast: &f,
        slow: &s,
        day_cum: &day_cum,
    };
    let m = sma_cross::run::<true>(inp, cost, params.get("margin_frac"), Some(&mut trades));
    (m, trades)
}

/// Metrics of an event-engine result in the optimizer's shape.
pub fn kmetrics_of(r: &scalp_backtest::BacktestResult) -> KMetrics {
    let mut m = KMetrics {
        final_equity: r.metrics.final_equity,
        n_trades: r.trades.len() as u32,
        wins: 0,
        gross_profit: 0.0,
        gross_loss: 0.0,
        fees: 0.0,
        sharpe: r.metrics.sharpe.unwrap_or(0.0),
        max_dd: r.metrics.max_drawdown_pct / 100.0,
    };
    for t in &r.trades {
        m.fees += t.fees;
        if t.net_pnl > 0.0 {
            m.wins += 1;
            m.gross_profit += t.net_pnl;
        } else {
            m.gross_loss -= t.net_pnl;
        }
    }
    m
}

/// Runs the event engine for one parameter set.
pub fn event_run(
    strategy: &str,
    asset: &str,
    candles: &[Candle],
    tf: Timeframe,
    params: &Params,
    bt: &BacktestConfig,
) -> anyhow::Result<scalp_backtest::BacktestResult> {
    let mut s = scalp_strategy::build(strategy, params, tf).map_err(|e| anyhow!("{e}"))?;
    let input = BacktestInput::new(asset, tf, candles).with_aggregated(&s.timeframes());
    scalp_backtest::run_backtest(&input, s.as_mut(), bt)
        .map_err(|e| anyhow!("{strategy} {asset}: {e}"))
}

/// Evaluates every combination with the event engine (one run per combination, in parallel).
pub fn event_grid(
    strategy: &str,
    asset: &str,
    candles: &[Candle],
    tf: Timeframe,
    grid: &Grid,
    base: &Params,
    bt: &BacktestConfig,
) -> anyhow::Result<Vec<ComboResult>> {
    let spec =
        scalp_strategy::spec(strategy).ok_or_else(|| anyhow!("unknown strategy `{strategy}`"))?;
    (0..grid.len())
        .into_par_iter()
        .map(|k| {
            let kv = grid.combo_kv(k);
            let p = base
                .with_overrides(strategy, spec.params, &kv)
                .map_err(|e| anyhow!("{e}"))?;
            let r = event_run(strategy, asset, candles, tf, &p, bt)?;
            Ok(ComboResult {
                idx: k,
                params: kv,
                metrics: kmetrics_of(&r),
            })
        })
        .collect()
}

/// Evaluates a grid with the fastest exact path available.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    strategy: &str,
    asset: &str,
    candles: &[Candle],
    tf: Timeframe,
    grid: &Grid,
    base: &Params,
    bt: &BacktestConfig,
    full: bool,
) -> anyhow::Result<(Vec<ComboResult>, EnginePath)> {
    if strategy == "sma_cross" {
        let series = Series::from_candles(candles);
        if let Some(cost) = kernel_cost(bt, &series) {
            return Ok((
                sma_cross_grid(&series, tf, grid, base, &cost, full),
                EnginePath::Kernel,
            ));
        }
    }
    Ok((
        event_grid(strategy, asset, candles, tf, grid, base, bt)?,
        EnginePath::Event,
    ))
}

/// Ranking key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Final equity (what backtesting.py `maximize='Equity Final [$]'` ranks by).
    Equity,
    /// Annualised Sharpe of daily equity returns.
    Sharpe,
}

/// Sorts best first; ties broken by grid index (deterministic).
pub fn rank(results: &mut [ComboResult], by: RankBy) {
    let key = |r: &ComboResult| match by {
        RankBy::Equity => r.metrics.final_equity,
        RankBy::Sharpe => r.metrics.sharpe,
    };
    results.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.idx.cmp(&b.idx)));
}
