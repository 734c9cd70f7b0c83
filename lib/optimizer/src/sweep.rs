//! Grid evaluation on one data set: indicator arrays computed once per window and shared,
//! combinations in parallel (rayon), a dedicated kernel when one exists and the settings are
//! within what it models, else the event-driven engine once per combination.

use crate::Error;
use crate::grid::Grid;
use crate::kernels::funding::{self, FundingSchedule};
use crate::kernels::sma_cross::{self, Combo, KSizing, KernelCost, Market};
use crate::kernels::{KMetrics, KTrade};
use rayon::prelude::*;
use scalp_backtest::engine::FUNDING_INTERVAL_MS;
use scalp_backtest::{BacktestConfig, BacktestInput, EndFill, FillMode, FundingPoint, Sizing};
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

/// The kernel's cost model for `candles` with the engine's funding — `bt.funding_rate` and
/// the stored history `funding` (pass what the event engine's `BacktestInput::funding` holds;
/// the kernel then needs the window's [`FundingSchedule`] built from the same two) —, or
/// `None` when the settings are outside what the kernel models: a kill switch, or a
/// liquidation that the window's prices could reach, funding included (checked
/// conservatively, [`liquidation_unreachable`]).
pub fn kernel_cost(
    bt: &BacktestConfig,
    candles: &[Candle],
    funding: &[FundingPoint],
) -> Option<KernelCost> {
    if bt.kill_switch.max_drawdown_pct.is_some() || bt.kill_switch.max_consecutive_losses.is_some()
    {
        return None;
    }
    if !liquidation_unreachable(bt, candles, funding) {
        return None;
    }
    Some(KernelCost {
        capital: bt.capital,
        leverage: bt.leverage,
        taker_fee: bt.taker_fee,
        slippage: bt.slippage,
        lot_step: bt.lot_step,
        min_qty: bt.min_qty,
        min_notional: bt.min_notional,
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

/// Whether no long position of the kernel can reach its liquidation price in `candles`
/// (docs/OPTIMIZER.md "When the kernel declines"). A long entered in candle `a` at a fill
/// price `≤ E_a = max(open_a, close_a) × (1 + slippage)` starts with the liquidation price
/// `avg × liq_frac`, `liq_frac = 1 − 1/leverage + maintenance_margin`; funding the free
/// balance cannot pay lowers its isolated margin, which raises that price by at most what
/// one unit paid since the entry, `P(a, b] = Σ close_c × max(rate, 0)` over the settlements
/// of candles `a < c ≤ b`. The kernel runs when every candle `b` has
/// `low_b > max over a ≤ b of (E_a × liq_frac + P(a, b]) × (1 + 1e-6)`. `P` charges every
/// settlement from a candle's open to the next candle's open (the last candle: to a day
/// after its open), a superset of the engine's (a settlement in a gap is not charged), so the
/// test needs no timeframe and [`uses_kernel`] and [`evaluate`] agree.
pub fn liquidation_unreachable(
    bt: &BacktestConfig,
    candles: &[Candle],
    funding: &[FundingPoint],
) -> bool {
    let liq_frac = 1.0 - 1.0 / bt.leverage + bt.maintenance_margin;
    let default = bt.funding_rate;
    let pays = default.is_some_and(|d| d > 0.0 || funding.iter().any(|p| p.rate > 0.0));
    if liq_frac <= 0.0 && !pays {
        // The liquidation price of a long is ≤ 0 and nothing lowers the margin.
        return true;
    }
    let last_span = Timeframe::ALL.iter().map(|t| t.ms()).max().unwrap_or(0);
    let mut next = candles.first().map_or(0, |c| {
        c.open_time.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
    });
    // p = P[b] (settlements of candles 0..=b); x = max over a ≤ b of E_a × liq_frac − P[a].
    let mut p = 0.0f64;
    let mut x = f64::NEG_INFINITY;
    for (b, c) in candles.iter().enumerate() {
        if let Some(d) = default.filter(|_| pays) {
            let end = candles
                .get(b + 1)
                .map_or(c.open_time + last_span, |n| n.open_time);
            while next < end {
                if next >= c.open_time {
                    let r = funding::rate_at(funding, next, d);
                    if r > 0.0 {
                        p += c.close * r;
                    }
                }
                next += FUNDING_INTERVAL_MS;
            }
        }
        let e = c.open.max(c.close) * (1.0 + bt.slippage);
        x = x.max(e * liq_frac - p);
        let bound = x + p;
        if bound > 0.0 && !(c.low > bound * (1.0 + 1e-6)) {
            return false;
        }
    }
    true
}

/// Evaluates sma_cross combinations with the kernel: tiles of the grid in parallel, each a
/// single time-blocked pass of `block` candles. `funding`: the window's settlements
/// ([`FundingSchedule::new`] from the same settings and history as the cost model).
pub fn sma_cross_combos(
    candles: &[Candle],
    tf: Timeframe,
    combos: &[Combo],
    cost: &KernelCost,
    funding: &FundingSchedule,
    full: bool,
    block: usize,
) -> Vec<KMetrics> {
    if combos.is_empty() {
        return Vec::new();
    }
    let day_cum = if full {
        crate::series::day_end_cum(candles, tf)
    } else {
        Vec::new()
    };
    let mk = Market {
        candles,
        day_cum: &day_cum,
        funding,
    };
    // Tiles of the (fast, slow) grid, one per core (more tiles would let a late core steal
    // work, but each tile computes its own SMAs: measured slower). A tile takes every a-th
    // fast and every b-th slow period by rank: each tile gets the same mix of short periods
    // (many crosses, more work) and long ones, and computes only fast/a + slow/b SMAs.
    let ranks = |get: fn(&Combo) -> usize| {
        let mut v: Vec<usize> = combos.iter().map(get).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (fasts, slows) = (ranks(|k| k.fast), ranks(|k| k.slow));
    let target = rayon::current_num_threads();
    let ta = ((target as f64).sqrt().round() as usize).clamp(1, fasts.len());
    let tb = target.div_ceil(ta).clamp(1, slows.len());
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ta * tb];
    for (k, combo) in combos.iter().enumerate() {
        let rf = fasts.binary_search(&combo.fast).expect("ranked");
        let rs = slows.binary_search(&combo.slow).expect("ranked");
        members[(rf % ta) * tb + rs % tb].push(k);
    }
    members.retain(|m| !m.is_empty());
    let parts: Vec<Vec<(usize, KMetrics)>> = members
        .par_iter()
        .map(|idx| {
            let group: Vec<Combo> = idx.iter().map(|&k| combos[k]).collect();
            let out = if full {
                sma_cross::run_group::<true>(mk, cost, &group, block, false)
            } else {
                sma_cross::run_group::<false>(mk, cost, &group, block, false)
            };
            idx.iter()
                .copied()
                .zip(out.into_iter().map(|r| r.0))
                .collect()
        })
        .collect();
    let mut res = vec![None; combos.len()];
    for (k, m) in parts.into_iter().flatten() {
        res[k] = Some(m);
    }
    res.into_iter()
        .map(|m| m.expect("every combination evaluated"))
        .collect()
}

/// Evaluates every combination of `grid` on `series` with the `sma_cross` kernel and the
/// window's funding settlements. `full` computes the daily Sharpe and the drawdown as well.
pub fn sma_cross_grid(
    candles: &[Candle],
    tf: Timeframe,
    grid: &Grid,
    base: &Params,
    cost: &KernelCost,
    funding: &FundingSchedule,
    full: bool,
) -> Vec<ComboResult> {
    let names = grid.names();
    let fi = names.iter().position(|n| *n == "fast");
    let si = names.iter().position(|n| *n == "slow");
    let mi = names.iter().position(|n| *n == "margin_frac");
    let (bf, bs, bm) = (base.get("fast"), base.get("slow"), base.get("margin_frac"));
    let mut vals = vec![0.0; names.len()];
    let combos: Vec<Combo> = (0..grid.len())
        .map(|k| {
            grid.combo_into(k, &mut vals);
            Combo {
                fast: fi.map_or(bf, |i| vals[i]) as usize,
                slow: si.map_or(bs, |i| vals[i]) as usize,
                margin_frac: mi.map_or(bm, |i| vals[i]),
            }
        })
        .collect();
    sma_cross_combos(candles, tf, &combos, cost, funding, full, sma_cross::BLOCK)
        .into_iter()
        .enumerate()
        .map(|(idx, metrics)| ComboResult {
            idx,
            params: grid.combo_kv(idx),
            metrics,
        })
        .collect()
}

/// Trades of one sma_cross parameter set with the kernel and the window's funding
/// settlements (the walk-forward's OOS runs, parity tests; the equity:
/// [`funding::equity_curve`]).
pub fn sma_cross_trades(
    candles: &[Candle],
    tf: Timeframe,
    params: &Params,
    cost: &KernelCost,
    funding: &FundingSchedule,
) -> (KMetrics, Vec<KTrade>) {
    let combo = Combo {
        fast: params.usize("fast"),
        slow: params.usize("slow"),
        margin_frac: params.get("margin_frac"),
    };
    let day_cum = crate::series::day_end_cum(candles, tf);
    let mk = Market {
        candles,
        day_cum: &day_cum,
        funding,
    };
    sma_cross::run_group::<true>(mk, cost, &[combo], sma_cross::BLOCK, true)
        .pop()
        .expect("one combination")
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
) -> Result<scalp_backtest::BacktestResult, Error> {
    let mut s = scalp_strategy::build(strategy, params, tf)?;
    let input = BacktestInput::new(asset, tf, candles).with_aggregated(&s.timeframes());
    scalp_backtest::run_backtest(&input, s.as_mut(), bt).map_err(|e| Error::Backtest {
        strategy: strategy.to_string(),
        asset: asset.to_string(),
        source: Box::new(e),
    })
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
) -> Result<Vec<ComboResult>, Error> {
    event_grid_with_progress(strategy, asset, candles, tf, grid, base, bt, &|| {})
}

/// [`event_grid`], calling `done` after each combination (from the worker threads).
#[allow(clippy::too_many_arguments)]
pub fn event_grid_with_progress(
    strategy: &str,
    asset: &str,
    candles: &[Candle],
    tf: Timeframe,
    grid: &Grid,
    base: &Params,
    bt: &BacktestConfig,
    done: &(dyn Fn() + Sync),
) -> Result<Vec<ComboResult>, Error> {
    let spec = scalp_strategy::spec(strategy).ok_or_else(|| Error::UnknownStrategy {
        name: strategy.to_string(),
    })?;
    (0..grid.len())
        .into_par_iter()
        .map(|k| {
            let kv = grid.combo_kv(k);
            let p = base.with_overrides(strategy, spec.params, &kv)?;
            let r = event_run(strategy, asset, candles, tf, &p, bt)?;
            done();
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
) -> Result<(Vec<ComboResult>, EnginePath), Error> {
    evaluate_with_progress(strategy, asset, candles, tf, grid, base, bt, full, &|| {})
}

/// Whether [`evaluate`] takes the fast kernel (which reports no per-combination progress).
pub fn uses_kernel(strategy: &str, bt: &BacktestConfig, candles: &[Candle]) -> bool {
    strategy == "sma_cross" && kernel_cost(bt, candles, &[]).is_some()
}

/// [`evaluate`], calling `done` after each combination run on the event engine.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_with_progress(
    strategy: &str,
    asset: &str,
    candles: &[Candle],
    tf: Timeframe,
    grid: &Grid,
    base: &Params,
    bt: &BacktestConfig,
    full: bool,
    done: &(dyn Fn() + Sync),
) -> Result<(Vec<ComboResult>, EnginePath), Error> {
    // The event path ([`event_run`]) runs without a stored funding history: the configured
    // rate on every settlement. The kernel gets the same.
    if strategy == "sma_cross"
        && let Some(cost) = kernel_cost(bt, candles, &[])
    {
        let funding = FundingSchedule::new(candles, tf, bt.funding_rate, &[]);
        return Ok((
            sma_cross_grid(candles, tf, grid, base, &cost, &funding, full),
            EnginePath::Kernel,
        ));
    }
    Ok((
        event_grid_with_progress(strategy, asset, candles, tf, grid, base, bt, done)?,
        EnginePath::Event,
    ))
}

/// Ranking key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Final equity (what backtesting.py `maximize='Equity Final [$]'` ranks by).
    Equity,
    /// Annualised Sharpe of daily equity returns.
    Sharpe,
}

impl std::str::FromStr for RankBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "equity" => Ok(RankBy::Equity),
            "sharpe" => Ok(RankBy::Sharpe),
            _ => Err(format!("`{s}` is not a ranking (equity, sharpe)")),
        }
    }
}

/// Sorts best first; ties broken by grid index (deterministic).
pub fn rank(results: &mut [ComboResult], by: RankBy) {
    let key = |r: &ComboResult| match by {
        RankBy::Equity => r.metrics.final_equity,
        RankBy::Sharpe => r.metrics.sharpe,
    };
    results.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.idx.cmp(&b.idx)));
}
