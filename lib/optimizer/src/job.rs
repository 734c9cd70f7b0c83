//! One walk-forward job's resolution — its spec, base parameters, engine settings, data and
//! paths — and its grade inputs: what `optimize run` and `optimize null-test` share. Kept apart
//! from `run` so that `nulltest` depends on this module, not on `run` (no module cycle).

use crate::Error;
use crate::grade::{self, GradeInputs};
use crate::stats;
use crate::wfo::{self, EvalCtx, WfoResult, WfoSpec};
use scalp_backtest::BacktestConfig;
use scalp_backtest::resolve::{self, ResolveError, Runner};
use scalp_core::config::Config;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_strategy::Params;
use std::path::{Path, PathBuf};

/// Monte Carlo simulations per result.
pub const MC_SIMS: usize = 2000;

/// WFO settings of a strategy from param_grids.toml ([`Error::NoGridSection`],
/// [`Error::GridSection`]).
pub fn wfo_spec(cfg: &Config, strategy: &str) -> Result<WfoSpec, Error> {
    let t = cfg
        .param_grids
        .grids
        .get(strategy)
        .ok_or_else(|| Error::NoGridSection {
            strategy: strategy.to_string(),
        })?;
    Ok(WfoSpec::from_table(strategy, t)?)
}

/// Local optimize database path (`[optimize].db`, relative to the config dir).
pub fn db_path(cfg: &Config) -> PathBuf {
    cfg.resolve(Path::new(&cfg.main.optimize.db))
}

pub fn reports_dir(cfg: &Config) -> PathBuf {
    cfg.resolve(Path::new(&cfg.main.optimize.reports_dir))
}

/// Candles of one asset (`<ASSET><quote>` symbol) from the local database: the stored `tf`
/// series, verified, or a finer stored one resampled (`scalp_backtest::resolve::stored_candles`,
/// the reader `backtest` and `sweep` use); with the timeframe resampled from.
pub fn load_stored(
    conn: &rusqlite::Connection,
    exchange: Exchange,
    symbol: &str,
    tf: Timeframe,
    days: Option<u32>,
) -> Result<(Vec<Candle>, Option<Timeframe>), ResolveError> {
    resolve::stored_candles(conn, "optimize database", exchange, symbol, tf, days)
}

/// Engine settings of a walk-forward of `strategy` on `asset` (with its contract): the one
/// settings builder (`scalp_backtest::resolve::settings`) for research — `[backtest]`, the
/// strategy's leverage, no kill switch — without each trade's market regime (the optimizer's
/// regime analysis classifies the OOS windows themselves; it never changes fills).
pub fn engine_settings_for(
    cfg: &Config,
    strategy: &str,
    asset: Option<&str>,
) -> Result<BacktestConfig, ResolveError> {
    let (mut bt, _) = resolve::settings(
        cfg,
        Some(strategy),
        asset,
        Runner::Research,
        &Default::default(),
    )?;
    bt.regime.enabled = false;
    Ok(bt)
}

/// [`engine_settings_for`] without an asset (no contract).
pub fn engine_settings(cfg: &Config, strategy: &str) -> Result<BacktestConfig, ResolveError> {
    engine_settings_for(cfg, strategy, None)
}

/// Base params of a strategy for one asset (strategies.toml, per-asset overrides included):
/// `scalp_backtest::resolve::base_params`.
pub fn base_params_for(cfg: &Config, strategy: &str, asset: &str) -> Result<Params, ResolveError> {
    resolve::base_params(cfg, resolve::strategy_spec(strategy)?, asset)
}

/// Overfitting statistics of a WFO result.
pub fn overfitting(w: &WfoResult) -> (stats::MonteCarlo, f64, f64, stats::Moments) {
    let mc = stats::monte_carlo(&w.oos_trade_returns, MC_SIMS, 0x5ca1_9ad4);
    let m = stats::moments(&w.oos_daily_returns);
    let sr = if m.std > 0.0 { m.mean / m.std } else { 0.0 };
    let t = w.oos_daily_returns.len();
    let psr = stats::psr(sr, 0.0, t, m.skew, m.kurt);
    let dsr = stats::dsr(
        sr,
        t,
        m.skew,
        m.kurt,
        w.n_distinct_combos.max(1),
        w.trial_sharpe_var,
    );
    (
        mc,
        if psr.is_nan() { 0.0 } else { psr },
        if dsr.is_nan() { 0.0 } else { dsr },
        m,
    )
}

/// The grade inputs of a walk-forward result, its Monte Carlo test and DSR; `transfer`: the
/// validation's transfer ratio, `None` when validation was skipped. `optimize run` and
/// `optimize null-test` grade through this one function.
pub fn grade_inputs_of(
    w: &WfoResult,
    mc: &stats::MonteCarlo,
    dsr: f64,
    transfer: Option<f64>,
    stress: Option<&wfo::StressResult>,
    // The null test: (permutation p, permutations).
    null: Option<(f64, usize)>,
    pbo: Option<f64>,
) -> GradeInputs {
    let rw: Vec<(f64, &str)> = w
        .windows
        .iter()
        .map(|x| (x.oos_return_pct, x.regime.as_str()))
        .collect();
    let (lowo_return_pct, loro_return_pct) = grade::leave_out(&rw);
    GradeInputs {
        lowo_return_pct,
        loro_return_pct,
        stitched_sharpe_lo: w
            .stitched_oos_sharpe_lo
            .is_finite()
            .then_some(w.stitched_oos_sharpe_lo),
        null_p: null.map(|n| n.0),
        null_permutations: null.map_or(0, |n| n.1),
        pbo,
        oos_sharpe: w.avg_oos_sharpe,
        consistency: w.consistency,
        oos_is_ratio: w.oos_is_ratio,
        dsr,
        param_stability: w.param_stability,
        mc_pvalue: mc.p_value,
        mc_underpowered: mc.underpowered,
        transfer_ratio: transfer,
        oos_trades: w.oos_n_trades,
        stitched_return_pct: w
            .oos_total_return_pct
            .is_finite()
            .then_some(w.oos_total_return_pct),
        stress_return_pct: stress
            .map(|s| s.stitched_return_pct)
            .filter(|r| r.is_finite()),
    }
}

/// Why `strategy` cannot be walked forward: it needs inputs (funding-rate or open-interest
/// history) that `optimize run` does not feed to the strategies (its walk-forward reads candles
/// only), so it would make no trade and be graded on nothing.
pub fn unmet_needs(strategy: &str) -> Option<String> {
    let spec = scalp_strategy::spec(strategy)?;
    let missing = scalp_strategy::registry::missing_inputs(spec, false, false);
    if missing.is_empty() {
        return None;
    }
    let what: Vec<&str> = missing.iter().map(|i| i.describe()).collect();
    Some(format!(
        "needs {}, which the walk-forward does not feed to strategies (it reads candles only); backtest it from the database instead (`{} …`, then `optimize backtest --strategy {strategy} --symbol ASSET`)",
        what.join(" and "),
        missing[0].fetch_command()
    ))
}

/// One strategy × asset resolved once: its walk-forward spec, base parameters and engine
/// settings with the asset's exchange minimums and lot step (docs/BACKTEST.md). `optimize run`
/// and `optimize null-test` evaluate the real history and every permuted one with the same job.
pub struct Job<'a> {
    pub strategy: &'a str,
    pub asset: &'a str,
    pub tf: Timeframe,
    pub spec: WfoSpec,
    pub base: Params,
    pub bt: BacktestConfig,
}

impl<'a> Job<'a> {
    pub fn resolve(
        cfg: &Config,
        strategy: &'a str,
        asset: &'a str,
        tf: Timeframe,
    ) -> Result<Job<'a>, Error> {
        let bt = engine_settings_for(cfg, strategy, Some(asset))?;
        Ok(Job {
            strategy,
            asset,
            tf,
            spec: wfo_spec(cfg, strategy)?,
            base: base_params_for(cfg, strategy, asset)?,
            bt,
        })
    }

    pub fn ev(&self) -> EvalCtx<'_> {
        EvalCtx {
            strategy: self.strategy,
            asset: self.asset,
            tf: self.tf,
            bt: &self.bt,
        }
    }
}
