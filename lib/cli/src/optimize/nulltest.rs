//! `optimize null-test`: the walk-forward and grading re-run on bar-permuted histories
//! (`scalp_optimizer::nulltest`), printed, and the verdict `--apply` reads written.

use anyhow::{Context as _, bail};
use clap::Args;
use scalp_core::Timeframe;
use scalp_core::config::Config;
use scalp_optimizer::job::{self as run, Job};
use scalp_optimizer::nulltest::{
    Point, evaluate, permute_bars, verdict, verdict_path, write_verdict,
};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct NullTestArgs {
    /// Strategy (a section of param_grids.toml).
    #[arg(long)]
    pub strategy: String,
    /// Asset from the optimize database (BTC or BTCUSDT); with --data, the name the verdict is
    /// stored under (default: the file's stem).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Candle CSV instead of the database (timeframe inferred as in `optimize run`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Exchange of the history (default `[optimize].exchange`).
    #[arg(long)]
    pub exchange: Option<scalp_core::Exchange>,
    /// Number of permuted histories.
    #[arg(long, default_value_t = 40)]
    pub permutations: usize,
    /// Seed of the permutations (permutation k uses seed + k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
    /// One line per permuted history.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `optimize null-test`.
pub fn null_test_cmd(cfg: &Config, a: &NullTestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    scalp_backtest::resolve::strategy_spec(&a.strategy)?;
    if let Some(why) = run::unmet_needs(&a.strategy) {
        bail!("{}: {why}", a.strategy);
    }
    if a.permutations == 0 {
        bail!("--permutations must be at least 1");
    }
    let (asset, tf, candles, data_name) = match (&a.data, &a.symbol) {
        (Some(p), sym) => {
            let c = scalp_core::csvdata::read_candles_csv(p)?;
            let k = scalp_core::series::conform(&p.display().to_string(), c, None)?;
            let asset = match sym {
                Some(s) => cfg.assets.asset_of(s),
                None => p
                    .file_stem()
                    .map_or("DATA".into(), |s| s.to_string_lossy().to_string()),
            };
            (asset, k.timeframe, k.candles, p.display().to_string())
        }
        (None, Some(s)) => {
            let asset = cfg.assets.asset_of(s);
            let tf = cfg
                .strategies
                .strategies
                .get(&a.strategy)
                .map_or(Timeframe::H1, |e| e.params_for(&asset).1);
            let exchange = a.exchange.unwrap_or(cfg.main.optimize.exchange);
            let dbp = run::db_path(cfg);
            let conn = scalp_optimizer::db::open_readonly(&dbp)?;
            let symbol = cfg.assets.symbol(&asset);
            let (c, _) = run::load_stored(&conn, exchange, &symbol, tf, None)?;
            if c.is_empty() {
                bail!(
                    "no {exchange} {symbol} {tf} candles in {}: fetch them with optimize fetch-history",
                    dbp.display()
                );
            }
            (
                asset,
                tf,
                c,
                format!("{}: {exchange} {symbol} {tf}", dbp.display()),
            )
        }
        (None, None) => bail!("give --symbol A or --data FILE.csv"),
    };
    scalp_optimizer::interrupt::watch_signals(|i| eprintln!("\n{i}"));
    let job = Job::resolve(cfg, &a.strategy, &asset, tf)?;
    let real = evaluate(&job, &candles)?;
    writeln!(
        out,
        "null-test {} {asset} {tf}: real history: score {:.2} (the score alone: grade {}) stitched OOS Sharpe {:.2} return {:.2}% ({} trades; validation left out)",
        a.strategy,
        real.total_score,
        real.score_grade,
        real.stitched_oos_sharpe,
        real.stitched_return_pct,
        real.oos_trades
    )?;
    // One permuted history per worker thread at a time (each is a whole walk-forward).
    use rayon::prelude::*;
    let got: Vec<anyhow::Result<Point>> = (0..a.permutations)
        .into_par_iter()
        .map(|k| {
            let seed = a.seed.wrapping_add(k as u64);
            let perm = permute_bars(&candles, seed)?;
            evaluate(&job, &perm).with_context(|| format!("permutation {k} (seed {seed})"))
        })
        .collect();
    let mut null = Vec::with_capacity(a.permutations);
    for (k, p) in got.into_iter().enumerate() {
        let p = p?;
        let seed = a.seed.wrapping_add(k as u64);
        if a.verbose {
            writeln!(
                out,
                "  permutation {k:>3} (seed {seed}): score {:.2} (grade {} by the score alone) stitched Sharpe {:.2} return {:.2}%",
                p.total_score, p.score_grade, p.stitched_oos_sharpe, p.stitched_return_pct
            )?;
        }
        null.push(p);
    }
    let v = verdict(
        &a.strategy,
        &asset,
        tf,
        &data_name,
        &candles,
        a.seed,
        real,
        null,
    );
    let path = verdict_path(cfg, &a.strategy, &asset, &tf.to_string());
    write_verdict(&path, &v)?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
        return Ok(());
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in &v.null {
        *counts.entry(p.grade.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = ["A", "B", "C", "D", "F"]
        .iter()
        .map(|g| format!("{g} {}", counts.get(g).copied().unwrap_or(0)))
        .collect();
    let mut before: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in &v.null {
        *before.entry(p.score_grade.as_str()).or_default() += 1;
    }
    let before: Vec<String> = ["A", "B", "C", "D", "F"]
        .iter()
        .map(|g| format!("{g} {}", before.get(g).copied().unwrap_or(0)))
        .collect();
    writeln!(
        out,
        "  null ({} permuted histories, seed {}): the score alone grades {}: P(A or B) {:.3}",
        v.permutations,
        v.seed,
        before.join(", "),
        v.null_ab_rate_score
    )?;
    writeln!(
        out,
        "  with the null gate (each permuted history's p against the others): grades {}; P(A or B) {:.3}, P(live-eligible) {:.3}",
        counts.join(", "),
        v.null_ab_rate,
        v.null_live_rate
    )?;
    writeln!(
        out,
        "  null score 5/50/95 %: {:.2} / {:.2} / {:.2}; stitched OOS Sharpe 5/50/95 %: {:.2} / {:.2} / {:.2}",
        v.null_score_q[0],
        v.null_score_q[1],
        v.null_score_q[2],
        v.null_sharpe_q[0],
        v.null_sharpe_q[1],
        v.null_sharpe_q[2]
    )?;
    writeln!(
        out,
        "  real result: score p = {:.3}, stitched Sharpe p = {:.3} ((1 + #null ≥ real) / (1 + N)), grade {}: {}",
        v.p_score,
        v.p_stitched_sharpe,
        v.real.grade,
        if v.pass {
            "PASS (distinguishable from no-edge histories)"
        } else {
            "FAIL (indistinguishable from no-edge histories; --apply will not write it)"
        }
    )?;
    writeln!(out, "  verdict: {}", path.display())?;
    Ok(())
}
