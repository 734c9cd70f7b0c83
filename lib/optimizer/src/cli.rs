//! `optimize` subcommands owned by the optimizer (arguments + handlers; the binary only
//! dispatches).

use crate::grid::{Grid, fmt_kv};
use crate::sweep::{self, ComboResult, EnginePath, RankBy};
use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scalp_backtest::{BacktestConfig, EndFill, FillMode, Sizing};
use scalp_core::config::Config;
use scalp_core::{Candle, Timeframe};
use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Engine settings shared by the commands that backtest (defaults: `[backtest]` of
/// scalp.toml; the same flags as `optimize backtest`).
#[derive(Args, Debug, Clone, Default)]
pub struct ExecArgs {
    /// Initial capital (default `[backtest].initial_capital`).
    #[arg(long, allow_negative_numbers = true)]
    pub capital: Option<f64>,
    /// Leverage (default: the strategy's in strategies.toml, else `[backtest].leverage`).
    #[arg(long, allow_negative_numbers = true)]
    pub leverage: Option<f64>,
    /// One fee rate for maker and taker fills (e.g. 0.001 = 0.1 %); >= 0.
    #[arg(long, allow_negative_numbers = true, value_parser = scalp_backtest::cli::parse_fraction)]
    pub fee: Option<f64>,
    /// Slippage of taker fills, fraction of price.
    #[arg(long, allow_negative_numbers = true, value_parser = scalp_backtest::cli::parse_fraction)]
    pub slippage: Option<f64>,
    /// Market orders fill at the next candle's open (`next_open`) or the signal close (`close`).
    #[arg(long)]
    pub fill: Option<FillMode>,
    /// Position sizing: margin_frac, all_cash, or fixed:QTY.
    #[arg(long)]
    pub size: Option<Sizing>,
    /// Lot step override: quantities are rounded down to a multiple of it (0 = no rounding).
    /// Default: the asset's contract lot step (assets.toml [contracts], docs/BACKTEST.md).
    #[arg(long, allow_negative_numbers = true)]
    pub lot: Option<f64>,
    /// Where a position still open at the end is closed: last_close or last_open.
    #[arg(long)]
    pub end: Option<EndFill>,
    /// Funding rate per 8 h when no history covers a settlement (may be negative).
    #[arg(long, allow_negative_numbers = true)]
    pub funding_rate: Option<f64>,
    /// No funding payments at all.
    #[arg(long)]
    pub no_funding: bool,
}

impl ExecArgs {
    /// Engine settings: `[backtest]`, then the strategy's leverage, then these flags.
    pub fn settings(&self, cfg: &Config, strategy: &str) -> anyhow::Result<BacktestConfig> {
        let mut c = BacktestConfig::from_core(&cfg.main.backtest);
        let strat_lev = cfg.strategies.strategies.get(strategy).map(|e| e.leverage);
        c.leverage = self.leverage.or(strat_lev).unwrap_or(c.leverage);
        if let Some(x) = self.capital {
            c.capital = x;
        }
        if let Some(f) = self.fee {
            c.maker_fee = f;
            c.taker_fee = f;
        }
        if let Some(x) = self.slippage {
            c.slippage = x;
        }
        if let Some(x) = self.fill {
            c.fill = x;
        }
        if let Some(x) = self.size {
            c.sizing = x;
        }
        if let Some(x) = self.lot {
            c.lot_step = x;
        }
        if let Some(x) = self.end {
            c.end_fill = x;
        }
        if let Some(r) = self.funding_rate {
            c.funding_rate = Some(r);
        }
        if self.no_funding {
            c.funding_rate = None;
        }
        c.validate()
            .map_err(|e| anyhow!("backtest settings: {e}"))?;
        Ok(c)
    }
}

/// Where candles come from.
#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Asset or symbol (BTC or BTCUSDT): read from the store, or with --data only the asset the
    /// file is of (its per-asset params and contract spec apply), as in `backtest`.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Candle CSV (`ts_ms,open,high,low,close,volume`) instead of the store.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Timeframe (default: the strategy's in strategies.toml; inferred from a CSV).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Exchange of the stored history (default `[optimize].exchange`).
    #[arg(long)]
    pub exchange: Option<String>,
    /// Only the last N days.
    #[arg(long)]
    pub days: Option<u32>,
    /// Data-quality findings (gaps, duplicates, disorder, bad OHLC, outlier wicks) are errors
    /// instead of warnings.
    #[arg(long)]
    pub strict: bool,
}

/// Candles loaded by [`load_data`].
#[derive(Debug, Clone)]
pub struct LoadedData {
    pub candles: Vec<Candle>,
    pub timeframe: Timeframe,
    /// The CSV path or `exchange:symbol:tf`.
    pub label: String,
    /// Data-quality warnings (`scalp_core::quality`) and resampling notes.
    pub warnings: Vec<String>,
}

/// Loads candles for `strategy`: a CSV or the store, verified, then the data-quality pass.
pub fn load_data(cfg: &Config, strategy: &str, d: &DataArgs) -> anyhow::Result<LoadedData> {
    if let Some(spec) = scalp_strategy::spec(strategy)
        && let Some(why) =
            scalp_strategy::registry::refusal(spec, "a sweep (it reads candles only)", false, false)
    {
        bail!("{why}");
    }
    let mut notes = Vec::new();
    let (mut candles, tf, label) = if let Some(p) = &d.data {
        let c = scalp_core::csvdata::read_candles_csv(p)?;
        // The one timeframe rule (scalp_core::series): inferred, verified, resampled if coarser.
        let k = scalp_core::series::conform(&p.display().to_string(), c, d.timeframe)?;
        if let Some(from) = k.resampled_from {
            notes.push(format!(
                "{}: {from} candles resampled to {}",
                p.display(),
                k.timeframe
            ));
        }
        (k.candles, k.timeframe, p.display().to_string())
    } else if let Some(sym) = &d.symbol {
        let tf = d
            .timeframe
            .or_else(|| cfg.strategies.strategies.get(strategy).map(|e| e.timeframe))
            .unwrap_or(Timeframe::H1);
        let exchange = d
            .exchange
            .clone()
            .unwrap_or_else(|| cfg.main.optimize.exchange.clone());
        let c = crate::cli::load_store(cfg, &exchange, sym, tf)?;
        (c, tf, format!("{exchange}:{sym}:{tf}"))
    } else {
        bail!("give --symbol SYM or --data FILE.csv");
    };
    if let Some(days) = d.days {
        let last = candles.last().map(|c| c.open_time).unwrap_or(0);
        let from = last - i64::from(days) * 86_400_000;
        candles.retain(|c| c.open_time > from);
    }
    if candles.len() < 2 {
        bail!("{label}: not enough candles ({})", candles.len());
    }
    let mut warnings = scalp_core::quality::warnings_or_strict(&label, &candles, tf, d.strict)?;
    warnings.extend(notes);
    Ok(LoadedData {
        candles,
        timeframe: tf,
        label,
        warnings,
    })
}

/// Candles of one asset or symbol (`BTC`, `BTCUSDT`) from the optimize database
/// (`[optimize].db`), verified against `tf` (the same reader as `optimize backtest`).
pub fn load_store(
    cfg: &Config,
    exchange: &str,
    symbol: &str,
    tf: Timeframe,
) -> anyhow::Result<Vec<Candle>> {
    let db = crate::run::db_path(cfg);
    let symbol = cfg.assets.symbol(&cfg.assets.asset_of(symbol));
    Ok(scalp_backtest::cli::load_from_db(&db, exchange, &symbol, tf, None)?.candles)
}

/// The asset label of a data source, by the same rule as `optimize backtest`: `--symbol`
/// normalised by [`scalp_core::config::AssetsConfig::asset_of`], else the CSV's file stem.
pub fn data_asset(cfg: &Config, d: &DataArgs) -> String {
    match (&d.symbol, &d.data) {
        (Some(s), _) => cfg.assets.asset_of(s),
        (None, Some(p)) => p
            .file_stem()
            .map_or_else(|| "DATA".into(), |s| s.to_string_lossy().to_string()),
        (None, None) => "DATA".into(),
    }
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
    pub exec: ExecArgs,
    /// Ranking metric.
    #[arg(long, value_enum, default_value = "equity")]
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
    let mut exec = a.exec.settings(cfg, &a.strategy)?;
    let LoadedData {
        candles,
        timeframe: tf,
        label,
        warnings,
    } = load_data(cfg, &a.strategy, &a.data)?;
    let asset = data_asset(cfg, &a.data);
    // the one resolver of `backtest` and `run`: strategies.toml params with the asset's
    // per-asset overrides
    let base = crate::run::base_params_for(cfg, &a.strategy, &asset)?;
    // The asset's exchange minimums and lot step (`--lot` overrides the lot step).
    let contract = scalp_backtest::cli::apply_contract(cfg, &asset, a.exec.lot, &mut exec)?;
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
        use scalp_core::config::defaults;
        Config::from_texts(
            dir,
            defaults::SCALP_TOML,
            defaults::ASSETS_TOML,
            defaults::STRATEGIES_TOML,
            defaults::PARAM_GRIDS_TOML,
        )
        .unwrap()
    }

    fn bundled(f: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
        assert_eq!(data_asset(&cfg, &d(None)), "coinbase_btcusd_1h");
    }

    /// `bench-wfo` sizes its windows for hourly candles: daily data is refused, not relabelled.
    #[test]
    fn bench_wfo_verifies_hourly_data() {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: crate::bench::BenchWfoArgs,
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let daily = bundled("bitstamp_btcusd_1d.csv").display().to_string();
        let a = <P as clap::Parser>::parse_from(["x", "--data", &daily]).a;
        let e = crate::bench::bench_wfo_cmd(&cfg, &a, &mut Vec::new())
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
        let conn = scalp_store::open(&crate::run::db_path(&cfg)).unwrap();
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
            exchange: Some("binance".into()),
            ..Default::default()
        };
        let l = load_data(&cfg, "sma_cross", &d(Timeframe::H1)).unwrap();
        assert_eq!((l.candles.len(), l.timeframe), (500, Timeframe::H1));
        assert_eq!(l.label, "binance:btcusdt:1h");
        assert_eq!(data_asset(&cfg, &d(Timeframe::H1)), "BTC");
        let e = load_data(&cfg, "sma_cross", &d(Timeframe::H4))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("binance BTCUSDT 4h: the candles are 1d apart"),
            "{e}"
        );
    }
}
