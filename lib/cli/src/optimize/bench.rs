//! `optimize bench-wfo`: the headline walk-forward benchmark — N assets × W windows × the full
//! grid of a grid strategy, on assets derived from the bundled BTC 1h candles
//! (`scalp_optimizer::bench::derive`; docs/OPTIMIZER.md, "Benchmarks").

use anyhow::{anyhow, bail};
use clap::Args;
use rayon::prelude::*;
use scalp_backtest::resolve;
use scalp_core::config::Config;
use scalp_core::{Candle, Timeframe};
use scalp_optimizer::bench::derive;
use scalp_optimizer::grid::Grid;
use scalp_optimizer::wfo::{self, EvalCtx, WfoSpec};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct BenchWfoArgs {
    /// Hourly candle CSV the assets are derived from.
    #[arg(long, default_value = "data/coinbase_btcusd_1h.csv")]
    pub data: PathBuf,
    #[arg(long, default_value = "grid_atr")]
    pub strategy: String,
    /// Grid (default: 700 combinations of grid_atr).
    #[arg(
        long,
        default_value = "ma_period=10|14|20|30|50,atr_start=1..4:0.5,atr_step=0.5..2:0.5,levels=1..5:1"
    )]
    pub grid: String,
    /// Number of derived assets (>= 1; five distinct series, then they repeat).
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    pub assets: usize,
    /// Walk-forward windows per asset (>= 1).
    #[arg(long, default_value_t = 20, value_parser = at_least_one)]
    pub windows: usize,
    #[arg(long, default_value_t = 90.0)]
    pub is_days: f64,
    #[arg(long, default_value_t = 30.0)]
    pub oos_days: f64,
    #[arg(long)]
    pub json: bool,
}

/// A count that must be at least 1 (`--assets 0` used to panic).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number >= 1")),
    }
}

pub fn bench_wfo_cmd(cfg: &Config, a: &BenchWfoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let spec_s = resolve::strategy_spec(&a.strategy)?;
    let grid = Grid::parse(&a.grid).map_err(|e| anyhow!("--grid: {}", e.0))?;
    grid.validate(&a.strategy, spec_s.params)
        .map_err(|e| anyhow!("{e}"))?;
    let src = scalp_core::csvdata::read_candles_csv(&a.data)?;
    if src.len() < 2 {
        bail!(
            "{}: no candles to derive the bench assets from",
            a.data.display()
        );
    }
    // The benchmark's windows are sized for hourly candles: verified, never assumed.
    let tf = Timeframe::H1;
    scalp_core::series::verify_timeframe(&a.data.display().to_string(), &src, tf)?;
    let spec = WfoSpec {
        is_days: a.is_days,
        oos_days: a.oos_days,
        step_days: a.oos_days,
        max_windows: a.windows,
        coarse_max: grid.len(),
        fine_radius: 0,
        min_trades: 1,
        grid: grid.clone(),
    };
    let assets: Vec<Vec<Candle>> = (0..a.assets).map(|k| derive(&src, k)).collect();
    let nwin = wfo::windows(&assets[0], &spec).len();
    if nwin < a.windows {
        bail!(
            "{}: only {nwin} windows of {}+{} days fit (wanted {})",
            a.data.display(),
            a.is_days,
            a.oos_days,
            a.windows
        );
    }
    let base = resolve::base_params(cfg, spec_s, "BENCH")?;
    let bt = scalp_optimizer::job::engine_settings(cfg, &a.strategy)?;
    let t0 = Instant::now();
    let results: Vec<Result<wfo::WfoResult, scalp_optimizer::Error>> = assets
        .par_iter()
        .enumerate()
        .map(|(k, c)| {
            let name = format!("D{k}");
            let ev = EvalCtx {
                strategy: &a.strategy,
                asset: &name,
                tf,
                bt: &bt,
            };
            wfo::run_wfo(c, &spec, &base, &ev, &|_, _| {})
        })
        .collect();
    let secs = t0.elapsed().as_secs_f64();
    let mut backtests = 0usize;
    let mut candles = 0usize;
    for (k, r) in results.iter().enumerate() {
        let r = r.as_ref().map_err(|e| anyhow!("asset D{k}: {e:#}"))?;
        for w in &r.windows {
            backtests += w.combos_tested + 1;
        }
        let is_len = (a.is_days * 24.0) as usize;
        let oos_len = (a.oos_days * 24.0) as usize;
        candles += r
            .windows
            .iter()
            .map(|w| w.combos_tested * is_len + oos_len)
            .sum::<usize>();
    }
    let v = serde_json::json!({
        "strategy": a.strategy, "assets": a.assets, "windows_per_asset": a.windows, "combos_per_window": grid.len(),
        "backtests": backtests, "candles_simulated": candles, "seconds": secs,
        "backtests_per_s": backtests as f64 / secs, "candles_per_s": candles as f64 / secs,
        "threads": rayon::current_num_threads(),
    });
    if a.json {
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "bench-wfo {}: {} assets × {} windows × {} combos = {} backtests ({:.3e} candles) in {:.2} s ({:.0} backtests/s, {:.3e} candles/s, {} threads)",
            a.strategy,
            a.assets,
            a.windows,
            grid.len(),
            backtests,
            candles as f64,
            secs,
            backtests as f64 / secs,
            candles as f64 / secs,
            rayon::current_num_threads()
        )?;
    }
    Ok(())
}
