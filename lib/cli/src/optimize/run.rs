//! `optimize run` (walk-forward optimization of strategy × asset, `--regrade`, `--apply`),
//! `optimize grades` and `optimize purge-duplicates`: flags, orchestration of the jobs with
//! progress, printing. Each job is `scalp_optimizer::run::{plan, optimize_one, save}`.

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scalp_core::Timeframe;
use scalp_core::config::Config;
use scalp_optimizer::db::{self, Phase};
use scalp_optimizer::job::{db_path, load_stored, unmet_needs, wfo_spec};
use scalp_optimizer::run::{
    Outcome, Selection, add_warnings, assumed_funding_warning, optimize_one, other_exchange, plan,
    save,
};
use scalp_optimizer::wfo::WfoSpec;
use scalp_optimizer::{grade, wfo};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Strategy to optimize (a section of param_grids.toml).
    #[arg(long, required_unless_present_any = ["all", "regrade"])]
    pub strategy: Option<String>,
    /// Every strategy of param_grids.toml on every asset of assets.toml.
    #[arg(long, conflicts_with_all = ["strategy", "symbol", "symbols", "all_symbols"])]
    pub all: bool,
    /// One asset (BTC or BTCUSDT).
    #[arg(long, conflicts_with_all = ["symbols", "all_symbols"])]
    pub symbol: Option<String>,
    /// Several assets, comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with = "all_symbols")]
    pub symbols: Vec<String>,
    /// Every asset of assets.toml.
    #[arg(long)]
    pub all_symbols: bool,
    /// Assets to leave out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Exchange of the history (default `[optimize].exchange`); the other one validates.
    #[arg(long)]
    pub exchange: Option<scalp_core::Exchange>,
    /// Candle CSV for a single asset instead of the database (validation is skipped). Its
    /// timeframe is inferred from the open times, as in `backtest` and `sweep`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Timeframe for every asset instead of the strategy's (with --data: resampled from the
    /// file's timeframe when coarser, refused when finer).
    #[arg(long)]
    pub force_timeframe: Option<Timeframe>,
    /// Skip assets that already have a latest result for this strategy/timeframe.
    #[arg(long)]
    pub resume: bool,
    /// Recompute score and grade of the latest results from their stored OOS figures (no
    /// backtest); stores each as a new row.
    #[arg(long)]
    pub regrade: bool,
    /// Show what would run (strategy, asset, timeframe, windows, combos) and exit; with
    /// --apply, also the exact strategies.toml diff the stored results would make (nothing is
    /// written).
    #[arg(long)]
    pub dry_run: bool,
    /// Write per-asset params of live-eligible A/B results into strategies.toml (comments and
    /// layout kept), printing the diff first. Assets must be in assets.toml.
    #[arg(long)]
    pub apply: bool,
    /// Let --apply write even when assets disagree on the timeframe.
    #[arg(long)]
    pub ignore_tf_conflicts: bool,
    /// Let --apply change a strategy whose `live_eligible = true` in strategies.toml (never
    /// done without it; each such change is named).
    #[arg(long, requires = "apply")]
    pub apply_live: bool,
    /// Let --apply also write A/B results that fail the live gate (DSR floor, Monte Carlo,
    /// validation); each is named with the terms it fails.
    #[arg(long, requires = "apply")]
    pub accept_weak: bool,
    /// Data-quality findings (gaps, duplicates, disorder, bad OHLC, outlier wicks) fail the
    /// job instead of being warnings in its result.
    #[arg(long)]
    pub strict: bool,
    /// Print every result as JSON (one object per line).
    #[arg(long)]
    pub json: bool,
    /// More detail (per-window table).
    #[arg(short, long)]
    pub verbose: bool,
    /// Bar-permuted (no-edge) histories the whole walk-forward is re-run on to get the score's
    /// permutation p-value (A or B needs p ≤ 0.05, live p ≤ 0.01, which takes ≥ 99). Default
    /// `[optimize].null_permutations`; 0 skips the test and caps the grade at C.
    #[arg(long)]
    pub permutations: Option<usize>,
    /// Seed of the permuted histories (history k uses seed + k).
    #[arg(long, default_value_t = 1)]
    pub null_seed: u64,
}

impl RunArgs {
    /// The strategies and assets these flags select.
    pub fn selection(&self) -> Selection {
        Selection {
            strategy: self.strategy.clone(),
            all: self.all,
            symbol: self.symbol.clone(),
            symbols: self.symbols.clone(),
            all_symbols: self.all_symbols,
            exclude: self.exclude.clone(),
            data: self.data.clone(),
            force_timeframe: self.force_timeframe,
        }
    }
}

fn tracing_like(msg: &str) {
    if std::env::var_os("SCALP_OPTIMIZE_QUIET").is_none() {
        eprintln!("{msg}");
    }
}
/// The report path of a saved result; says what the push did (a skipped push — sync
/// disabled, no server URL — was said once when the run started).
fn saved((file, outcome): (PathBuf, scalp_sync::PushOutcome)) -> PathBuf {
    if !matches!(outcome, scalp_sync::PushOutcome::Skipped(_)) {
        tracing_like(&format!("push: {outcome:?}"));
    }
    file
}

fn apply_options(a: &RunArgs, dry_run: bool) -> scalp_optimizer::apply::ApplyOptions {
    scalp_optimizer::apply::ApplyOptions {
        exclude: a.exclude.clone(),
        ignore_tf_conflicts: a.ignore_tf_conflicts,
        accept_weak: a.accept_weak,
        dry_run,
        apply_live: a.apply_live,
    }
}

/// A series `optimize run` needed and found no candles of.
struct MissingSeries {
    asset: String,
    strategies: Vec<String>,
    /// Days of history the walk-forward of these strategies can use.
    days: f64,
}

/// Days of history a walk-forward uses: its in-sample window plus `max_windows` steps (the
/// last window's out-of-sample part included).
fn history_days(w: &WfoSpec) -> f64 {
    w.is_days + w.oos_days + w.step_days * (w.max_windows.max(1) - 1) as f64
}

/// `optimize run`.
pub fn run_cmd(cfg: &Config, a: &RunArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if a.regrade {
        let bad: Vec<&str> = [
            (a.resume, "--resume"),
            (a.dry_run, "--dry-run"),
            (a.force_timeframe.is_some(), "--force-timeframe"),
            (a.data.is_some(), "--data"),
            (a.exchange.is_some(), "--exchange"),
            (a.apply, "--apply"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        if !bad.is_empty() {
            bail!(
                "--regrade recomputes grades from stored results and cannot be combined with {}",
                bad.join(", ")
            );
        }
        return regrade_cmd(cfg, a, out);
    }
    // --data: read and verified once; its timeframe is the file's (inferred from the open
    // times), or --force-timeframe built by resampling — never a relabelling.
    let data = match &a.data {
        Some(p) => {
            let c = scalp_core::csvdata::read_candles_csv(p)?;
            Some(scalp_core::series::conform(
                &p.display().to_string(),
                c,
                a.force_timeframe,
            )?)
        }
        None => None,
    };
    let jobs = plan(cfg, &a.selection(), data.as_ref().map(|k| k.timeframe))?;
    let exchange = a.exchange.unwrap_or(cfg.main.optimize.exchange);
    let dbp = db_path(cfg);
    if a.dry_run {
        writeln!(
            out,
            "dry run: {} job(s), exchange {exchange}, db {}",
            jobs.len(),
            dbp.display()
        )?;
        for j in &jobs {
            let spec = wfo_spec(cfg, &j.strategy)?;
            writeln!(
                out,
                "  {} {} {}: IS {} d / OOS {} d / step {} d, up to {} windows, grid {} combos (coarse {}), fine radius {}",
                j.strategy,
                j.asset,
                j.tf,
                spec.is_days,
                spec.oos_days,
                spec.step_days,
                spec.max_windows,
                spec.grid.len(),
                spec.grid.coarse(spec.coarse_max).len(),
                spec.fine_radius
            )?;
        }
        if a.apply {
            // what --apply would write from the results stored now (read-only: nothing created)
            if !dbp.exists() {
                writeln!(
                    out,
                    "--apply --dry-run: {} does not exist: no stored result to apply",
                    dbp.display()
                )?;
                return Ok(());
            }
            let conn = rusqlite::Connection::open_with_flags(
                &dbp,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .with_context(|| format!("{}: cannot open read-only", dbp.display()))?;
            let strategies: std::collections::BTreeSet<String> =
                jobs.iter().map(|j| j.strategy.clone()).collect();
            for s in strategies {
                scalp_optimizer::apply::apply(cfg, &conn, &s, &apply_options(a, true), out)?;
            }
        }
        return Ok(());
    }
    if let Some(reason) = scalp_sync::SyncClient::from_config(cfg).skip_reason() {
        // Once, before any progress bar (not once per result inside it).
        tracing::info!("results are kept locally, not pushed: {reason}");
    }
    // before any row is `running`: from here a signal marks the run in progress failed
    scalp_optimizer::interrupt::watch_signals(|i| eprintln!("\n{i}"));
    let mut conn = db::open(&dbp)?;
    let stale = db::fail_stale_runs(
        &conn,
        scalp_core::types::now_ms(),
        scalp_optimizer::interrupt::STALE_AFTER_SECS,
    )?;
    if !stale.is_empty() {
        writeln!(
            out,
            "marked {} stale run(s) failed (running without progress for over {} min: their process was killed): id {}",
            stale.len(),
            scalp_optimizer::interrupt::STALE_AFTER_SECS / 60,
            stale
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let null_plan = scalp_optimizer::nulltest::NullPlan {
        permutations: a
            .permutations
            .unwrap_or(cfg.main.optimize.null_permutations),
        seed: a.null_seed,
    };
    let mut failures = 0usize;
    let mut missing: std::collections::BTreeMap<(String, String), MissingSeries> =
        std::collections::BTreeMap::new();
    for j in &jobs {
        let tfs = j.tf.to_string();
        if a.resume && db::has_latest(&conn, &j.strategy, &j.asset, &tfs)? {
            writeln!(
                out,
                "{} {} {}: skipped (--resume: a latest result exists)",
                j.strategy, j.asset, tfs
            )?;
            continue;
        }
        if let Some(why) = unmet_needs(&j.strategy) {
            writeln!(out, "{} {} {}: skipped: {why}", j.strategy, j.asset, tfs)?;
            continue;
        }
        let symbol = cfg.assets.symbol(&j.asset);
        let mut resampled_from = data.as_ref().and_then(|k| k.resampled_from);
        let (candles, validation) = if let Some(k) = &data {
            (k.candles.clone(), None)
        } else {
            let (c, from) = load_stored(&conn, exchange, &symbol, j.tf, None)?;
            resampled_from = from;
            let v = match other_exchange(exchange) {
                Some(o) => {
                    load_stored(
                        &conn,
                        o,
                        &symbol,
                        j.tf,
                        Some(cfg.main.optimize.validation_days),
                    )?
                    .0
                }
                None => Vec::new(),
            };
            (c, (!v.is_empty()).then_some(v))
        };
        if candles.is_empty() {
            // Said once per series after the loop, with the command that fetches it.
            let days = wfo_spec(cfg, &j.strategy).map_or(365.0, |w| history_days(&w));
            let m = missing
                .entry((symbol.clone(), tfs.clone()))
                .or_insert_with(|| MissingSeries {
                    asset: j.asset.clone(),
                    strategies: Vec::new(),
                    days: 0.0,
                });
            m.strategies.push(j.strategy.clone());
            m.days = m.days.max(days);
            failures += 1;
            continue;
        }
        let data_name = match &a.data {
            Some(p) => p.display().to_string(),
            None => format!("{}: {exchange} {symbol} {tfs}", dbp.display()),
        };
        let mut data_warnings =
            match scalp_core::quality::warnings_or_strict(&data_name, &candles, j.tf, a.strict) {
                Ok(w) => w,
                Err(e) => {
                    writeln!(out, "{} {} {}: FAILED: {e}", j.strategy, j.asset, tfs)?;
                    failures += 1;
                    continue;
                }
            };
        if let Some(from) = resampled_from {
            data_warnings.push(format!("{data_name}: {from} candles resampled to {tfs}"));
        }
        if let Some(w) = assumed_funding_warning(cfg, &j.strategy) {
            data_warnings.push(w);
        }
        let spec = wfo_spec(cfg, &j.strategy).ok();
        // The planned window count lets a viewer show "window 3/10" while rows arrive.
        let planned = spec.as_ref().map(|s| wfo::windows(&candles, s).len());
        let settings = json!({"exchange": exchange, "candles": candles.len(), "spec": spec, "planned_windows": planned});
        let run_id = db::start_run(
            &conn,
            &j.strategy,
            &j.asset,
            &tfs,
            exchange.as_str(),
            &settings,
        )?;
        scalp_optimizer::interrupt::set_current(&dbp, run_id);
        let pb = ProgressBar::new(100);
        pb.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos:>3}% {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        pb.set_prefix(format!("{} {} {}", j.strategy, j.asset, tfs));
        let t0 = Instant::now();
        let prog = |ph: Phase, f: f64| {
            let pct = ph.pct(f);
            pb.set_position(pct as u64);
            pb.set_message(ph.as_str());
            let _ = db::progress(&conn, run_id, ph, pct);
        };
        let res = optimize_one(
            cfg,
            &j.strategy,
            &j.asset,
            j.tf,
            exchange,
            &candles,
            validation.as_deref(),
            null_plan,
            &prog,
        );
        pb.finish_and_clear();
        let done = match res {
            Ok(mut o) => {
                add_warnings(&mut o, &data_warnings);
                let mut finish = || -> anyhow::Result<()> {
                    let file = saved(save(cfg, &mut conn, Some(run_id), &o, o.wfo.as_ref())?);
                    db::finish_run(
                        &conn,
                        run_id,
                        &o.result.created_at,
                        &file.display().to_string(),
                        t0.elapsed().as_secs_f64(),
                        &json!({
                            "wfo": o.report.get("wfo"),
                            "grade_detail": o.report.get("grade_detail"),
                            "live_eligible": o.report.get("live_eligible"),
                        }),
                    )?;
                    if a.json {
                        writeln!(out, "{}", o.result.to_payload())?;
                    } else {
                        print_outcome(out, &o, a.verbose)?;
                        writeln!(out, "  report: {}", file.display())?;
                    }
                    Ok(())
                };
                let r = finish();
                if let Err(e) = &r {
                    // Never leave the row `running`: the result could not be stored.
                    let _ =
                        db::fail_run(&conn, run_id, &format!("{e:#}"), t0.elapsed().as_secs_f64());
                }
                r
            }
            Err(e) => {
                let msg = format!("{e:#}");
                db::fail_run(&conn, run_id, &msg, t0.elapsed().as_secs_f64())?;
                writeln!(out, "{} {} {}: FAILED: {msg}", j.strategy, j.asset, tfs)?;
                failures += 1;
                Ok(())
            }
        };
        scalp_optimizer::interrupt::clear_current();
        done?;
    }
    for ((symbol, tf), m) in &missing {
        writeln!(
            out,
            "no {exchange} {symbol} {tf} candles in {}: {} job(s) not run ({}); fetch them with: optimize fetch-history --exchange {exchange} --symbols {} --timeframe {tf} --days {}",
            dbp.display(),
            m.strategies.len(),
            m.strategies.join(", "),
            m.asset,
            m.days.ceil() as u64
        )?;
    }
    if a.apply {
        let strategies: Vec<String> = jobs
            .iter()
            .map(|j| j.strategy.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for s in strategies {
            scalp_optimizer::apply::apply(cfg, &conn, &s, &apply_options(a, false), out)?;
        }
    }
    if failures > 0 {
        let want: usize = missing.values().map(|m| m.strategies.len()).sum();
        if want > 0 {
            bail!(
                "{failures} job(s) failed ({want} for want of candles: {} series, listed above)",
                missing.len()
            );
        }
        bail!("{failures} job(s) failed");
    }
    Ok(())
}

fn print_outcome(out: &mut dyn Write, o: &Outcome, verbose: bool) -> std::io::Result<()> {
    let p = &o.result.to_payload();
    writeln!(
        out,
        "{} {} {}: grade {} (score {:.1}){} | windows {} | OOS Sharpe {:.2} | OOS/IS {:.2} | consistency {:.0}% | DSR {:.3} | MC p {:.3}{} | stability {:.2} | params {}",
        p["strategy_name"].as_str().unwrap_or(""),
        p["asset"].as_str().unwrap_or(""),
        p["timeframe"].as_str().unwrap_or(""),
        o.grade.grade,
        o.grade.total_score,
        if o.grade.live_eligible {
            " live-eligible"
        } else {
            ""
        },
        p["n_windows"],
        p["oos_sharpe"].as_f64().unwrap_or(f64::NAN),
        p["oos_is_ratio"].as_f64().unwrap_or(f64::NAN),
        100.0 * p["consistency"].as_f64().unwrap_or(0.0),
        p["dsr"].as_f64().unwrap_or(0.0),
        p["monte_carlo_pvalue"].as_f64().unwrap_or(1.0),
        if p["mc_underpowered"].as_bool() == Some(true) {
            " (underpowered)"
        } else {
            ""
        },
        p["param_stability"].as_f64().unwrap_or(0.0),
        p["best_params"],
    )?;
    if let Some(ws) = p["warnings"].as_array() {
        for w in ws {
            writeln!(out, "  warning: {}", w.as_str().unwrap_or(""))?;
        }
    }
    if verbose && let Some(ws) = p["wfo_windows"].as_array() {
        {
            for w in ws {
                writeln!(
                    out,
                    "  window {:>2} OOS {} → {} {:<6} IS Sharpe {:>6.2} OOS Sharpe {:>6.2} OOS {:>7.2}% trades {:>3} params {}",
                    w["index"],
                    w["oos_start"].as_str().unwrap_or(""),
                    w["oos_end"].as_str().unwrap_or(""),
                    w["regime"].as_str().unwrap_or(""),
                    w["is_sharpe"].as_f64().unwrap_or(f64::NAN),
                    w["oos_sharpe"].as_f64().unwrap_or(f64::NAN),
                    w["oos_return_pct"].as_f64().unwrap_or(f64::NAN),
                    w["oos_trades"],
                    w["best_params"]
                )?;
            }
        }
    }
    Ok(())
}

/// `optimize run --regrade`: new row per latest result with the recomputed grade.
fn regrade_cmd(cfg: &Config, a: &RunArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut conn = db::open(&db_path(cfg))?;
    let rows = db::latest(&conn, a.strategy.as_deref())?;
    if rows.is_empty() {
        writeln!(out, "no latest results to regrade")?;
        return Ok(());
    }
    for r in rows {
        if !a.exclude.is_empty() && a.exclude.iter().any(|x| x.eq_ignore_ascii_case(&r.asset)) {
            continue;
        }
        let gi = r.grade_inputs();
        let g = grade::grade(&gi);
        let mut warnings: Vec<Value> = r
            .warnings_json()
            .and_then(|w| w.as_array().cloned())
            .unwrap_or_default();
        warnings.push(json!(format!(
            "regraded from the result of {}",
            r.created_at
        )));
        // The stored row with the recomputed grade: a new row, stamped after the old one.
        let result = scalp_sync::OptimizationResult {
            created_at: db::created_at_after(&r.created_at),
            duration_seconds: Some(0.0),
            grade: g.grade.to_string(),
            total_score: g.total_score,
            warnings: Some(Value::Array(warnings).to_string()),
            ..r.row.clone()
        };
        let changed = g.grade != r.grade || (g.total_score - r.total_score).abs() > 1e-9;
        let o = Outcome {
            report: json!({"result": result.to_payload(), "grade_detail": g, "grade_inputs": gi, "regraded_from": r.created_at}),
            result,
            grade: g,
            wfo: None,
        };
        saved(save(cfg, &mut conn, None, &o, None)?);
        writeln!(
            out,
            "{} {} {}: {} ({:.1}) -> {} ({:.1}){}",
            r.strategy_name,
            r.asset,
            r.timeframe,
            r.grade,
            r.total_score,
            o.grade.grade,
            o.grade.total_score,
            if changed { "" } else { " (unchanged)" }
        )?;
    }
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct GradesArgs {
    /// Only this strategy.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Local database (default `[optimize].db`).
    #[arg(long)]
    pub db_path: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn grades_cmd(cfg: &Config, a: &GradesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = a.db_path.clone().unwrap_or_else(|| db_path(cfg));
    let conn = db::open_readonly(&p)?;
    let rows = db::latest(&conn, a.strategy.as_deref())?;
    if a.json {
        serde_json::to_writer(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    // The family is every latest result, whatever --strategy shows (docs/OPTIMIZER.md "Family").
    let family = scalp_optimizer::apply::family_adjusted(&conn)?;
    writeln!(
        out,
        "{:<16} {:<6} {:<4} {:<5} {:>6} {:>8} {:>6} {:>7} {:>7} {:>7} {:<25} params",
        "strategy",
        "asset",
        "tf",
        "grade",
        "score",
        "oos_shp",
        "dsr",
        "mc_p",
        "null_p",
        "holm_p",
        "created_at"
    )?;
    for r in &rows {
        let gi = r.grade_inputs();
        let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
        writeln!(
            out,
            "{:<16} {:<6} {:<4} {:<5} {:>6.1} {:>8.2} {:>6.3} {:>7.3} {:>7} {:>7} {:<25} {}",
            r.strategy_name,
            r.asset,
            r.timeframe,
            r.grade,
            r.total_score,
            r.oos_sharpe.unwrap_or(f64::NAN),
            r.dsr.unwrap_or(f64::NAN),
            r.monte_carlo_pvalue.unwrap_or(f64::NAN),
            opt(gi.null_p),
            opt(family.get(&r.id).map(|f| f.0)),
            r.created_at,
            r.best_params
        )?;
    }
    if let Some((_, k)) = family.values().next() {
        writeln!(
            out,
            "holm_p: the null-test p adjusted over the family of all {k} latest result(s); --apply needs <= {}",
            scalp_optimizer::apply::FAMILY_P_MAX
        )?;
    }
    if rows.is_empty() {
        writeln!(out, "(no results in {})", p.display())?;
    }
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct PurgeArgs {
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Local database (default `[optimize].db`).
    #[arg(long)]
    pub db_path: Option<PathBuf>,
}

pub fn purge_cmd(cfg: &Config, a: &PurgeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let p = a.db_path.clone().unwrap_or_else(|| db_path(cfg));
    if !p.exists() {
        bail!("{}: database not found", p.display());
    }
    let mut conn = db::open(&p)?;
    let d = db::find_duplicates(&conn)?;
    for (id, s, asset, tf, created) in &d {
        writeln!(
            out,
            "{} duplicate: id {id} {s} {asset} {tf} {created}",
            if a.dry_run {
                "would delete"
            } else {
                "deleting"
            }
        )?;
    }
    if a.dry_run {
        writeln!(
            out,
            "{} duplicate(s) found (dry run, nothing deleted)",
            d.len()
        )?;
    } else {
        let n = db::delete_results(&mut conn, &d.iter().map(|x| x.0).collect::<Vec<_>>())?;
        writeln!(out, "{n} duplicate(s) deleted")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(dir: &std::path::Path) -> Config {
        scalp_core::config::Config::defaults(dir).unwrap()
    }

    fn dry(cfg: &Config, args: &[&str]) -> anyhow::Result<String> {
        let mut v = vec!["run", "--dry-run"];
        v.extend_from_slice(args);
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: RunArgs,
        }
        let a = <P as clap::Parser>::parse_from(v).a;
        let mut out = Vec::new();
        run_cmd(cfg, &a, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// `--strict` fails a job whose data has quality findings (before any backtest); without
    /// it they lead the result's `warnings`.
    #[test]
    fn strict_fails_the_job_and_warnings_lead_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let daily = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/coinbase_btcusd_1d.csv")
            .display()
            .to_string();
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: RunArgs,
        }
        let a = <P as clap::Parser>::parse_from([
            "run",
            "--strategy",
            "sma_cross",
            "--data",
            &daily,
            "--symbol",
            "BTC",
            "--strict",
        ])
        .a;
        let mut out = Vec::new();
        let e = run_cmd(&cfg, &a, &mut out).unwrap_err().to_string();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(e, "1 job(s) failed");
        assert!(
            out.starts_with("sma_cross BTC 1d: FAILED: ")
                && out.contains("1 outlier wick(s): 2017-04-15")
                && out.contains("--strict"),
            "{out}"
        );
    }

    /// `run --data` labels the job with the file's timeframe (it stored daily candles as `1h`);
    /// `--force-timeframe` resamples a coarser one and refuses a finer one.
    #[test]
    fn run_with_data_uses_the_files_timeframe() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let data = |f: &str| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../data")
                .join(f)
                .display()
                .to_string()
        };
        let daily = data("bitstamp_btcusd_1d.csv");
        let o = dry(
            &cfg,
            &[
                "--strategy",
                "grid_boltrend",
                "--data",
                &daily,
                "--symbol",
                "btcusdt",
            ],
        )
        .unwrap();
        assert!(o.contains("  grid_boltrend BTC 1d:"), "{o}");
        let hourly = data("coinbase_btcusd_1h.csv");
        let o = dry(
            &cfg,
            &[
                "--strategy",
                "grid_boltrend",
                "--data",
                &hourly,
                "--symbol",
                "BTC",
                "--force-timeframe",
                "1d",
            ],
        )
        .unwrap();
        assert!(o.contains("  grid_boltrend BTC 1d:"), "{o}");
        let e = dry(
            &cfg,
            &[
                "--strategy",
                "grid_boltrend",
                "--data",
                &hourly,
                "--force-timeframe",
                "5m",
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("the candles are 1h apart") && e.contains("asked is 5m"),
            "{e}"
        );
    }
}
