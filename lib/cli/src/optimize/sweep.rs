//! `optimize sweep`: one parameter grid on one data set (fast kernel or event engine in
//! parallel), ranked and printed.

use super::args::{DataArgs, EngineArgs};
use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scalp_backtest::BacktestConfig;
use scalp_backtest::resolve::{self, Runner};
use scalp_core::config::Config;
use scalp_core::{Candle, Timeframe};
use scalp_optimizer::grid::{Grid, fmt_kv};
use scalp_optimizer::sweep::{self, ComboResult, EnginePath, RankBy};
use std::io::IsTerminal;
use std::io::Write;
use std::time::Instant;

/// Candles of a sweep, resolved by the one resolver of `backtest` (`scalp_backtest::resolve`).
#[derive(Debug, Clone)]
pub struct LoadedData {
    pub candles: Vec<Candle>,
    pub timeframe: Timeframe,
    /// The CSV path or `<db>: <exchange> <symbol> <tf>`.
    pub label: String,
    /// The asset: `--symbol` normalised by the config's quote, else the CSV's file stem.
    pub asset: String,
    /// Base params of the strategy for the asset (per-asset overrides included).
    pub base: scalp_strategy::Params,
    /// Data-quality warnings (`scalp_core::quality`) and resampling notes.
    pub warnings: Vec<String>,
}

/// Loads candles for a sweep of `strategy`: a CSV or the store, verified, then the data-quality
/// pass. A sweep reads candles only: a strategy that needs funding or open-interest history
/// is refused.
pub fn load_data(cfg: &Config, strategy: &str, d: &DataArgs) -> anyhow::Result<LoadedData> {
    if d.symbol.is_none() && d.data.is_none() {
        bail!("give --symbol SYM or --data FILE.csv");
    }
    let l = resolve::load(
        cfg,
        &d.request(strategy, None),
        Some("a sweep (it reads candles only)"),
        false,
    )?;
    if l.candles.len() < 2 {
        bail!("{}: not enough candles ({})", l.label, l.candles.len());
    }
    Ok(LoadedData {
        candles: l.candles,
        timeframe: l.timeframe,
        label: l.label,
        asset: l.asset,
        base: l.params,
        warnings: l.warnings,
    })
}

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Strategy name (see `optimize strategies`).
    #[arg(long)]
    pub strategy: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Grid, e.g. `fast=2..40:2,slow=50..430:20` (default: the strategy's grid in param_grids.toml).
    #[arg(long)]
    pub grid: Option<String>,
    #[command(flatten)]
    pub exec: EngineArgs,
    /// Ranking metric: equity (final equity) or sharpe (annualised Sharpe of daily returns).
    #[arg(long, default_value = "equity")]
    pub rank: RankBy,
    /// Rows shown in the table.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON (every combination, ranked) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Grid of a strategy from `param_grids.toml` (`[name].grid`).
pub fn config_grid(cfg: &Config, strategy: &str) -> anyhow::Result<Grid> {
    let t = cfg
        .param_grids
        .grids
        .get(strategy)
        .ok_or_else(|| anyhow!("param_grids.toml has no [{strategy}] section; pass --grid"))?;
    let g = t
        .get("grid")
        .and_then(|v| v.as_table())
        .ok_or_else(|| anyhow!("param_grids.toml: key `{strategy}.grid` missing or not a table"))?;
    Grid::from_toml(g).map_err(|e| anyhow!("param_grids.toml: [{strategy}.grid]: {}", e.0))
}

/// Outcome of a sweep (also the `--json` output).
#[derive(Debug, serde::Serialize)]
pub struct SweepReport {
    pub strategy: String,
    pub data: String,
    pub timeframe: String,
    pub candles: usize,
    pub combos: usize,
    pub engine: EnginePath,
    pub settings: BacktestConfig,
    /// The contract spec applied (lot step, minimum order) and its source.
    pub contract: String,
    pub seconds: f64,
    pub candle_combos_per_s: f64,
    pub rank_by: RankBy,
    /// Data-quality warnings and resampling notes of the data.
    pub warnings: Vec<String>,
    pub results: Vec<ComboResult>,
}

/// Evaluates a whole grid on one data set and ranks it; returns the ranked results, the
/// engine path and the evaluation time in seconds (data loading excluded).
#[allow(clippy::too_many_arguments)]
pub fn run_sweep(
    strategy: &str,
    asset: &str,
    candles: &[Candle],
    tf: Timeframe,
    grid: &Grid,
    base: &scalp_strategy::Params,
    bt: &BacktestConfig,
    rank_by: RankBy,
) -> anyhow::Result<(Vec<ComboResult>, EnginePath, f64)> {
    let spec =
        scalp_strategy::spec(strategy).ok_or_else(|| anyhow!("unknown strategy `{strategy}`"))?;
    grid.validate(strategy, spec.params)
        .map_err(|e| anyhow!("{e}"))?;
    let full = rank_by != RankBy::Equity;
    // Size first (stderr: stdout is the data), then a progress bar when stderr is a terminal.
    let work = grid.len() as f64 * candles.len() as f64;
    let kernel = sweep::uses_kernel(strategy, bt, candles);
    if std::env::var_os("SCALP_OPTIMIZE_QUIET").is_none() {
        eprintln!(
            "sweep {strategy}: {} combos × {} candles = {work:.3e} candle·combos ({} engine)",
            grid.len(),
            candles.len(),
            if kernel { "fast kernel" } else { "event" }
        );
    }
    let pb = if std::io::stderr().is_terminal() {
        if kernel {
            let pb = ProgressBar::new_spinner();
            pb.set_message(format!("{} combos (fast kernel)", grid.len()));
            pb.enable_steady_tick(std::time::Duration::from_millis(200));
            pb
        } else {
            let pb = ProgressBar::new(grid.len() as u64);
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} combos, {per_sec}, eta {eta}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            pb.set_prefix(format!("sweep {strategy}"));
            pb
        }
    } else {
        ProgressBar::hidden()
    };
    let t0 = Instant::now();
    let done = || pb.inc(1);
    let r =
        sweep::evaluate_with_progress(strategy, asset, candles, tf, grid, base, bt, full, &done);
    pb.finish_and_clear();
    let (mut res, path) = r?;
    let secs = t0.elapsed().as_secs_f64();
    sweep::rank(&mut res, rank_by);
    Ok((res, path, secs))
}

pub fn sweep_cmd(cfg: &Config, a: &SweepArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let grid = match &a.grid {
        Some(g) => Grid::parse(g).map_err(|e| anyhow!("--grid: {}", e.0))?,
        None => config_grid(cfg, &a.strategy)?,
    };
    let LoadedData {
        candles,
        timeframe: tf,
        label,
        asset,
        base,
        warnings,
    } = load_data(cfg, &a.strategy, &a.data)?;
    // The one settings builder (with the asset's exchange minimums and lot step; `--lot`
    // overrides the lot step).
    let (exec, contract) = resolve::settings(
        cfg,
        Some(&a.strategy),
        Some(&asset),
        Runner::Research,
        &a.exec.overrides(),
    )?;
    let contract = contract.unwrap_or_default();
    let (results, engine, seconds) = run_sweep(
        &a.strategy,
        &asset,
        &candles,
        tf,
        &grid,
        &base,
        &exec,
        a.rank,
    )
    .with_context(|| format!("sweep of {} on {label}", a.strategy))?;
    let combos = results.len();
    let rep = SweepReport {
        strategy: a.strategy.clone(),
        data: label,
        timeframe: tf.to_string(),
        candles: candles.len(),
        combos,
        engine,
        settings: exec.clone(),
        contract,
        seconds,
        candle_combos_per_s: (candles.len() * combos) as f64 / seconds.max(1e-12),
        rank_by: a.rank,
        warnings,
        results,
    };
    if a.json {
        serde_json::to_writer(&mut *out, &rep)?;
        writeln!(out)?;
        return Ok(());
    }
    for w in &rep.warnings {
        writeln!(out, "warning: {w}")?;
    }
    writeln!(
        out,
        "{} on {} ({} candles, {}), {} combos, engine {:?}: {:.3} ms, {:.3e} candle·combos/s",
        rep.strategy,
        rep.data,
        rep.candles,
        rep.timeframe,
        combos,
        engine,
        seconds * 1e3,
        rep.candle_combos_per_s
    )?;
    writeln!(out, "contract {}", rep.contract)?;
    writeln!(
        out,
        "{:>4}  {:<32} {:>14} {:>9} {:>7} {:>8} {:>8}",
        "rank", "params", "final equity", "return %", "trades", "win %", "sharpe"
    )?;
    for (i, r) in rep.results.iter().take(a.top).enumerate() {
        let m = &r.metrics;
        let wr = if m.n_trades > 0 {
            100.0 * f64::from(m.wins) / f64::from(m.n_trades)
        } else {
            0.0
        };
        writeln!(
            out,
            "{:>4}  {:<32} {:>14.2} {:>9.2} {:>7} {:>8.1} {:>8}",
            i + 1,
            fmt_kv(&r.params),
            m.final_equity,
            m.return_pct(exec.capital),
            m.n_trades,
            wr,
            if m.sharpe.is_nan() {
                "-".to_string()
            } else {
                format!("{:.3}", m.sharpe)
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config(dir: &std::path::Path) -> Config {
        scalp_core::config::Config::defaults(dir).unwrap()
    }

    fn bundled(f: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data")
            .join(f)
    }

    /// One CSV gets one answer: `sweep` infers the timeframe by the same rule as `backtest`
    /// (most common spacing), verifies `--timeframe` and resamples a coarser one.
    #[test]
    fn load_data_verifies_and_resamples_like_backtest() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let d = |tf: Option<Timeframe>| DataArgs {
            data: Some(bundled("coinbase_btcusd_1h.csv")),
            timeframe: tf,
            ..Default::default()
        };
        let e = load_data(&cfg, "sma_cross", &d(Some(Timeframe::M5)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the candles are 1h apart") && e.contains("asked is 5m"),
            "{e}"
        );
        let l = load_data(&cfg, "sma_cross", &d(None)).unwrap();
        assert_eq!((l.candles.len(), l.timeframe), (20_111, Timeframe::H1));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let l = load_data(&cfg, "sma_cross", &d(Some(Timeframe::D1))).unwrap();
        assert_eq!((l.candles.len(), l.timeframe), (837, Timeframe::D1));
        assert!(l.warnings[0].ends_with("coinbase_btcusd_1h.csv: 1h candles resampled to 1d"));
        // The data-quality pass: warnings, or errors with --strict.
        let daily = |strict| DataArgs {
            data: Some(bundled("coinbase_btcusd_1d.csv")),
            strict,
            ..Default::default()
        };
        let l = load_data(&cfg, "sma_cross", &daily(false)).unwrap();
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert!(l.warnings[1].contains("outlier wick"), "{:?}", l.warnings);
        let e = load_data(&cfg, "sma_cross", &daily(true))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--strict") && e.contains("1 gap(s)"), "{e}");
        assert_eq!(
            load_data(&cfg, "sma_cross", &d(None)).unwrap().asset,
            "coinbase_btcusd_1h"
        );
    }

    /// `bench-wfo` sizes its windows for hourly candles: daily data is refused, not relabelled.
    #[test]
    fn bench_wfo_verifies_hourly_data() {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: super::super::bench::BenchWfoArgs,
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let daily = bundled("bitstamp_btcusd_1d.csv").display().to_string();
        let a = <P as clap::Parser>::parse_from(["x", "--data", &daily]).a;
        let e = super::super::bench::bench_wfo_cmd(&cfg, &a, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the candles are 1d apart") && e.contains("asked is 1h"),
            "{e}"
        );
    }

    /// `sweep --symbol` reads the optimize database (it used to always fail) and verifies the
    /// stored series; the symbol is normalised by the config's quote.
    #[test]
    fn load_data_reads_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let hours =
            scalp_core::csvdata::read_candles_csv(&bundled("coinbase_btcusd_1h.csv")).unwrap();
        let conn = scalp_store::open(&scalp_optimizer::job::db_path(&cfg)).unwrap();
        let key = |tf| scalp_store::SeriesKey {
            exchange: scalp_core::Exchange::Binance,
            symbol: "BTCUSDT",
            timeframe: tf,
        };
        scalp_store::candles::upsert(&conn, &key(Timeframe::H1), &hours[..500]).unwrap();
        let days =
            scalp_core::csvdata::read_candles_csv(&bundled("bitstamp_btcusd_1d.csv")).unwrap();
        scalp_store::candles::upsert(&conn, &key(Timeframe::H4), &days[..50]).unwrap();
        let d = |tf| DataArgs {
            symbol: Some("btcusdt".into()),
            timeframe: Some(tf),
            exchange: Some(scalp_core::Exchange::Binance),
            ..Default::default()
        };
        let l = load_data(&cfg, "sma_cross", &d(Timeframe::H1)).unwrap();
        assert_eq!((l.candles.len(), l.timeframe), (500, Timeframe::H1));
        assert!(l.label.ends_with("binance BTCUSDT 1h"), "{}", l.label);
        assert_eq!(l.asset, "BTC");
        let e = load_data(&cfg, "sma_cross", &d(Timeframe::H4))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("binance BTCUSDT 4h: the candles are 1d apart"),
            "{e}"
        );
    }
}
