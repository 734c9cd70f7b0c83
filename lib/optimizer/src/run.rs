//! `optimize run`: walk-forward optimization of strategy × asset, overfitting statistics,
//! validation on the second exchange, grading, persistence (local db + JSON report) and the
//! best-effort push to scalp-syncd. Also `grades`, `purge-duplicates` and `--apply`.

use crate::db::{self, Phase};
use crate::grade;
use crate::stats;
// What `run` and `null-test` share: resolving one job and its grade inputs (`crate::job`).
pub use crate::job::{
    MC_SIMS, base_params_for, db_path, engine_settings, grade_inputs_of, load_stored, overfitting,
    reports_dir, unmet_needs, wfo_spec,
};
use crate::wfo::{self, WfoResult, WfoSpec};
use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use scalp_core::config::Config;
use scalp_core::{Candle, Timeframe};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Minimum median daily quote volume (USDT) on the validation exchange below which a warning
/// is emitted.
pub const MIN_DAILY_QUOTE_VOLUME: f64 = 5_000_000.0;
/// Bootstrap resamples for the validation Sharpe CI.
pub const BOOT_N: usize = 2000;

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
    pub exchange: Option<String>,
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

fn other_exchange(e: &str) -> Option<&'static str> {
    match e {
        "binance" => Some("bitget"),
        "bitget" => Some("binance"),
        _ => None,
    }
}

struct Job {
    strategy: String,
    asset: String,
    tf: Timeframe,
}

/// Jobs of a run. `data_tf`: the timeframe of the `--data` candles (inferred from the file, or
/// `--force-timeframe` after resampling), which every job then uses.
fn plan(cfg: &Config, a: &RunArgs, data_tf: Option<Timeframe>) -> anyhow::Result<Vec<Job>> {
    let strategies: Vec<String> = if a.all {
        cfg.param_grids
            .grids
            .keys()
            .filter(|k| scalp_strategy::spec(k).is_some())
            .cloned()
            .collect()
    } else {
        let s = a
            .strategy
            .clone()
            .ok_or_else(|| anyhow!("give --strategy S or --all"))?;
        if scalp_strategy::spec(&s).is_none() {
            bail!(
                "unknown strategy `{s}` (known: {})",
                scalp_strategy::STRATEGY_NAMES.join(", ")
            );
        }
        vec![s]
    };
    let assets: Vec<String> = if let Some(s) = &a.symbol {
        vec![cfg.assets.asset_of(s)]
    } else if !a.symbols.is_empty() {
        a.symbols.iter().map(|s| cfg.assets.asset_of(s)).collect()
    } else if a.all_symbols || a.all {
        cfg.assets.assets.clone()
    } else if a.data.is_some() {
        vec![
            a.data
                .as_ref()
                .and_then(|p| p.file_stem())
                .map_or("DATA".into(), |s| s.to_string_lossy().to_string()),
        ]
    } else {
        bail!("give --symbol A, --symbols A,B, --all-symbols or --all");
    };
    let exclude: Vec<String> = a.exclude.iter().map(|s| cfg.assets.asset_of(s)).collect();
    let mut jobs = Vec::new();
    for s in &strategies {
        let entry = cfg.strategies.strategies.get(s);
        for asset in assets.iter().filter(|x| !exclude.contains(x)) {
            let tf = data_tf
                .or(a.force_timeframe)
                .or_else(|| entry.map(|e| e.params_for(asset).1))
                .unwrap_or(Timeframe::H1);
            jobs.push(Job {
                strategy: s.clone(),
                asset: asset.clone(),
                tf,
            });
        }
    }
    Ok(jobs)
}

/// Everything computed for one strategy × asset.
pub struct Outcome {
    pub payload: Value,
    pub report: Value,
    pub grade: grade::Grade,
    /// The walk-forward detail (windows and combos for the DB); `None` for a regrade.
    pub wfo: Option<WfoResult>,
}

/// Runs one strategy × asset end to end (no DB writes; see [`save`]).
#[allow(clippy::too_many_arguments)]
pub fn optimize_one(
    cfg: &Config,
    strategy: &str,
    asset: &str,
    tf: Timeframe,
    exchange: &str,
    candles: &[Candle],
    validation: Option<&[Candle]>,
    null_plan: crate::nulltest::NullPlan,
    progress: &dyn Fn(Phase, f64),
) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let job = crate::job::Job::resolve(cfg, strategy, asset, tf)?;
    let (spec, base, bt) = (&job.spec, &job.base, &job.bt);
    let ev = job.ev();
    let w = wfo::run_wfo(candles, spec, base, &ev, &|d, n| {
        progress(Phase::Wfo, d as f64 / n as f64)
    })?;
    progress(Phase::Overfitting, 0.0);
    let (mc, psr, dsr, m) = overfitting(&w);
    let stress = wfo::stress_oos(candles, spec, &w, base, &ev)?;
    let pbo = wfo::pbo_cscv(candles, spec, base, &ev)?;
    progress(Phase::Overfitting, 1.0);
    // The null test: the score (validation left out on both sides) against the same
    // walk-forward on bar-permuted histories.
    let real_score =
        grade::grade_before_null(&grade_inputs_of(&w, &mc, dsr, None, None, None, None))
            .total_score;
    let null_test = crate::nulltest::null_scores(
        candles,
        null_plan,
        real_score,
        &|cs: &[Candle]| crate::nulltest::score_of(&job, cs),
        &|f| progress(Phase::Null, f),
    )?;
    progress(Phase::Validation, 0.0);
    let mut warnings: Vec<String> = Vec::new();
    // What goes live is what was tested: the last window's IS winner (docs/OPTIMIZER.md
    // "Deploy what was tested"), also what the validation runs.
    let mut params = base.clone();
    for (k, v) in &w.deployed {
        params.0.insert(k.clone(), *v);
    }
    let validation_summary = match validation {
        Some(vc) if vc.len() > 10 => {
            let det = ev.one(vc, &params)?;
            let rets = wfo::daily_returns(vc, &det.equity, tf, bt.capital);
            let sr = stats::sharpe(&rets) * scalp_backtest::metrics::DAYS_PER_YEAR.sqrt();
            let (lo, hi) = stats::bootstrap_sharpe_ci(&rets, BOOT_N, 0.95, 0xb007);
            let ann = scalp_backtest::metrics::DAYS_PER_YEAR.sqrt();
            let transfer = if w.avg_oos_sharpe > 0.0 {
                sr / w.avg_oos_sharpe
            } else {
                0.0
            };
            let mut daily: std::collections::BTreeMap<i64, f64> = Default::default();
            for c in vc {
                *daily.entry(c.open_time.div_euclid(86_400_000)).or_default() += c.volume * c.close;
            }
            let mut vols: Vec<f64> = daily.values().copied().collect();
            vols.sort_by(f64::total_cmp);
            let median_vol = vols.get(vols.len() / 2).copied().unwrap_or(0.0);
            if median_vol < MIN_DAILY_QUOTE_VOLUME {
                warnings.push(format!("low volume on {}: median daily quote volume {median_vol:.0} < {MIN_DAILY_QUOTE_VOLUME:.0}", other_exchange(exchange).unwrap_or("?")));
            }
            if transfer < 0.5 {
                warnings.push(format!("validation transfer ratio {transfer:.2} < 0.5"));
            }
            json!({
                "exchange": other_exchange(exchange), "candles": vc.len(), "days": vc.len() as f64 * tf.ms() as f64 / 86_400_000.0,
                "sharpe": sr, "sharpe_ci95": [lo * ann, hi * ann], "return_pct": det.metrics.return_pct(bt.capital),
                "n_trades": det.metrics.n_trades, "max_dd": det.metrics.max_dd, "transfer_ratio": transfer,
                "median_daily_quote_volume": median_vol, "skipped": false,
            })
        }
        _ => {
            let msg = format!(
                "validation skipped: no recent {} data for {asset} {tf}",
                other_exchange(exchange).unwrap_or("second-exchange")
            );
            warnings.push(msg.clone());
            json!({ "skipped": true, "reason": msg })
        }
    };
    progress(Phase::Validation, 1.0);
    if mc.underpowered {
        warnings.push(format!(
            "Monte Carlo underpowered: {} OOS trades (< {})",
            mc.n_trades,
            stats::MC_MIN_TRADES
        ));
    }
    if !w.cliff_params.is_empty() {
        warnings.push(format!("cliff parameters: {}", w.cliff_params.join(", ")));
    }
    if !w.divergent_params.is_empty() {
        warnings.push(format!(
            "divergent parameters: {}",
            w.divergent_params.join(", ")
        ));
    }
    let transfer = validation_summary
        .get("transfer_ratio")
        .and_then(Value::as_f64);
    let gi = grade_inputs_of(
        &w,
        &mc,
        dsr,
        transfer,
        Some(&stress),
        null_test.as_ref().map(|n| (n.p, n.permutations)),
        pbo.as_ref().map(|p| p.pbo),
    );
    if let Some(n) = &null_test
        && n.p > grade::NULL_P_AB
    {
        warnings.push(format!(
            "null test: the score {real_score:.1} is matched by {:.0}% of {} bar-permuted (no-edge) histories (p {:.3}): no edge shown",
            100.0 * (n.p * (n.permutations + 1) as f64 - 1.0) / n.permutations as f64,
            n.permutations,
            n.p
        ));
    }
    if let Some(p) = &pbo
        && p.pbo > grade::LIVE_PBO_MAX
    {
        warnings.push(format!(
            "PBO {:.2}: the in-sample best combination ranks below the OOS median in {:.0}% of {} CSCV splits",
            p.pbo,
            100.0 * p.pbo,
            p.splits
        ));
    }
    if stress.stitched_return_pct < 0.0 {
        warnings.push(format!(
            "cost/fill stress: the stitched OOS record loses {:.2}% with fees and slippage ×{} and limit fills trading through by {:.2}% (unstressed {:.2}%)",
            -stress.stitched_return_pct,
            wfo::STRESS_COST_MULT,
            wfo::STRESS_TRADE_THROUGH * 100.0,
            w.oos_total_return_pct
        ));
    }
    let g = grade::grade(&gi);
    let created_at = db::iso_now();
    let spec_ps = scalp_strategy::spec(strategy).expect("checked").params;
    let best_params: serde_json::Map<String, Value> = spec_ps
        .iter()
        .map(|p| {
            let v = params.get(p.name);
            let j = match p.kind {
                scalp_strategy::ParamKind::Int => json!(v as i64),
                scalp_strategy::ParamKind::Bool => json!(v != 0.0),
                scalp_strategy::ParamKind::Choice => {
                    json!(p.choices.get(v as usize).copied().unwrap_or("?"))
                }
                scalp_strategy::ParamKind::Float => json!(v),
            };
            (p.name.to_string(), j)
        })
        .collect();
    let mc_summary = json!({
        "n_trades": mc.n_trades, "n_sims": mc.n_sims, "p_value": mc.p_value, "underpowered": mc.underpowered,
        "observed_trade_sharpe": fin(mc.observed_sharpe), "observed_max_dd": mc.observed_max_dd,
        "shuffled_max_dd_p50": mc.shuffled_max_dd_p50, "shuffled_max_dd_p95": mc.shuffled_max_dd_p95,
        "psr": psr, "dsr": dsr, "n_trials": w.n_distinct_combos, "trial_sharpe_var_daily": w.trial_sharpe_var,
        "oos_days": w.oos_daily_returns.len(), "skew": fin(m.skew), "kurtosis": fin(m.kurt),
        "stitched_return_pct": fin(w.oos_total_return_pct),
        "stress_return_pct": fin(stress.stitched_return_pct),
        "stress_sharpe": fin(stress.stitched_sharpe),
        "stitched_sharpe_lo": fin(w.stitched_oos_sharpe_lo),
        "null_p": null_test.as_ref().map(|n| n.p),
        "null_permutations": null_test.as_ref().map_or(0, |n| n.permutations),
        "null_seed": null_test.as_ref().map(|n| n.seed),
        "null_score": real_score,
        "null_score_q": null_test.as_ref().map(|n| n.q),
        "null_score_ab_rate": null_test.as_ref().map(|n| n.score_ab_rate),
        "pbo": pbo.as_ref().map(|p| p.pbo),
        "pbo_splits": pbo.as_ref().map(|p| p.splits),
        "pbo_combos": pbo.as_ref().map(|p| p.combos),
    });
    let windows_json: Vec<Value> = w
        .windows
        .iter()
        .map(|x| {
            json!({
                "index": x.index, "is_start": db::iso_ms(x.is_start), "is_end": db::iso_ms(x.is_end),
                "oos_start": db::iso_ms(x.oos_start), "oos_end": db::iso_ms(x.oos_end), "best_params": x.best_params,
                "is_sharpe": fin(x.is_sharpe), "oos_sharpe": fin(x.oos_sharpe), "oos_return_pct": fin(x.oos_return_pct),
                "is_trades": x.is_trades, "oos_trades": x.oos_trades, "regime": x.regime, "cliff": x.cliff,
            })
        })
        .collect();
    let payload = json!({
        "strategy_name": strategy,
        "asset": asset,
        "timeframe": tf.to_string(),
        "created_at": created_at,
        "duration_seconds": t0.elapsed().as_secs_f64(),
        "grade": g.grade,
        "total_score": g.total_score,
        "oos_sharpe": fin(w.avg_oos_sharpe),
        "consistency": w.consistency,
        "oos_is_ratio": fin(w.oos_is_ratio),
        "dsr": dsr,
        "param_stability": w.param_stability,
        "monte_carlo_pvalue": mc.p_value,
        "mc_underpowered": mc.underpowered,
        "n_windows": w.n_windows,
        "n_distinct_combos": w.n_distinct_combos,
        "best_params": best_params,
        "wfo_windows": windows_json,
        "monte_carlo_summary": mc_summary,
        "validation_summary": validation_summary,
        "warnings": warnings,
        "regime_analysis": w.regime_analysis,
    });
    let report = json!({
        "result": payload,
        "grade_detail": g,
        "grade_inputs": gi,
        "live_eligible": g.live_eligible,
        "exchange": exchange,
        "candles": candles.len(),
        "wfo": {
            "spec": spec, "avg_is_sharpe": fin(w.avg_is_sharpe), "avg_oos_sharpe": fin(w.avg_oos_sharpe),
            "stitched_oos_sharpe": fin(w.stitched_oos_sharpe), "stitched_oos_sharpe_lo": fin(w.stitched_oos_sharpe_lo),
            "oos_total_return_pct": fin(w.oos_total_return_pct),
            "oos_n_trades": w.oos_n_trades, "convergence": w.convergence, "per_param_stability": w.per_param_stability,
            "cliff_params": w.cliff_params, "divergent_params": w.divergent_params, "median_of_winners": w.median_of_winners,
            "stress": stress,
            "deployed": {
                "rule": "IS winner of the last window (the rule the stitched OOS record measures)",
                "window": w.deployed_window, "params": w.deployed,
                "oos_sharpe": w.windows.last().map(|x| fin(x.oos_sharpe)),
                "oos_return_pct": w.windows.last().map(|x| fin(x.oos_return_pct)),
                "oos_trades": w.windows.last().map(|x| x.oos_trades),
            },
        },
        "engine_settings": bt,
    });
    Ok(Outcome {
        payload,
        report,
        grade: g,
        wfo: Some(w),
    })
}

/// The disclosure that every funding settlement of the walk-forward is charged the assumed
/// rate (`None` with funding off).
pub fn assumed_funding_warning(cfg: &Config, strategy: &str) -> Option<String> {
    let rate = engine_settings(cfg, strategy).funding_rate?;
    Some(format!(
        "funding assumed: every 8 h settlement is charged {:.4} %/8 h ([backtest].default_funding_rate), not the stored history",
        rate * 100.0
    ))
}

fn add_warnings(o: &mut Outcome, data_warnings: &[String]) {
    if data_warnings.is_empty() {
        return;
    }
    let mut w: Vec<Value> = data_warnings.iter().map(|x| json!(x)).collect();
    if let Some(Value::Array(old)) = o.payload.get("warnings") {
        w.extend(old.iter().cloned());
    }
    o.payload["warnings"] = Value::Array(w);
    o.report["result"] = o.payload.clone();
}

fn fin(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// Saves an outcome: JSON report file, local DB row (safe is_latest insert), windows/combos,
/// then the best-effort push. Returns the report path.
pub fn save(
    cfg: &Config,
    conn: &mut rusqlite::Connection,
    run_id: Option<i64>,
    out: &Outcome,
    w_for_db: Option<&WfoResult>,
) -> anyhow::Result<PathBuf> {
    let p = &out.payload;
    let dir = reports_dir(cfg);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("{}: cannot create reports dir", dir.display()))?;
    let stamp: String = p["created_at"]
        .as_str()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let file = dir.join(format!(
        "{}_{}_{}_{}.json",
        p["strategy_name"].as_str().unwrap_or("?"),
        p["asset"].as_str().unwrap_or("?"),
        p["timeframe"].as_str().unwrap_or("?"),
        stamp
    ));
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&out.report)?)
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("{}: cannot rename", file.display()))?;
    let row = scalp_sync::OptimizationResult::from_payload(p)
        .map_err(|e| anyhow!("result payload invalid: {e}"))?;
    scalp_sync::db::insert_result(conn, &row, scalp_sync::Source::Local)
        .context("insert into optimization_results")?;
    if let (Some(id), Some(w)) = (run_id, w_for_db) {
        db::save_windows(conn, id, w).context("save windows")?;
    }
    // A skipped push (sync disabled, no server URL) was said once when the run started.
    let outcome = scalp_sync::push_result(cfg, &row.to_payload());
    if !matches!(outcome, scalp_sync::PushOutcome::Skipped(_)) {
        tracing_like(&format!("push: {outcome:?}"));
    }
    Ok(file)
}

fn tracing_like(msg: &str) {
    if std::env::var_os("SCALP_OPTIMIZE_QUIET").is_none() {
        eprintln!("{msg}");
    }
}

fn apply_options(a: &RunArgs, dry_run: bool) -> crate::apply::ApplyOptions {
    crate::apply::ApplyOptions {
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
    let jobs = plan(cfg, a, data.as_ref().map(|k| k.timeframe))?;
    let exchange = a
        .exchange
        .clone()
        .unwrap_or_else(|| cfg.main.optimize.exchange.clone());
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
                crate::apply::apply(cfg, &conn, &s, &apply_options(a, true), out)?;
            }
        }
        return Ok(());
    }
    if let Some(reason) = scalp_sync::SyncClient::from_config(cfg).skip_reason() {
        // Once, before any progress bar (not once per result inside it).
        tracing::info!("results are kept locally, not pushed: {reason}");
    }
    // before any row is `running`: from here a signal marks the run in progress failed
    crate::interrupt::watch_signals();
    let mut conn = db::open(&dbp)?;
    let stale = db::fail_stale_runs(
        &conn,
        scalp_core::types::now_ms(),
        crate::interrupt::STALE_AFTER_SECS,
    )?;
    if !stale.is_empty() {
        writeln!(
            out,
            "marked {} stale run(s) failed (running without progress for over {} min: their process was killed): id {}",
            stale.len(),
            crate::interrupt::STALE_AFTER_SECS / 60,
            stale
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let null_plan = crate::nulltest::NullPlan {
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
            let (c, from) = load_stored(&conn, &exchange, &symbol, j.tf, None)?;
            resampled_from = from;
            let v = match other_exchange(&exchange) {
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
        let run_id = db::start_run(&conn, &j.strategy, &j.asset, &tfs, &exchange, &settings)?;
        crate::interrupt::set_current(&dbp, run_id);
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
            &exchange,
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
                    let file = save(cfg, &mut conn, Some(run_id), &o, o.wfo.as_ref())?;
                    db::finish_run(
                        &conn,
                        run_id,
                        o.payload["created_at"].as_str().unwrap_or(""),
                        &file.display().to_string(),
                        t0.elapsed().as_secs_f64(),
                        &json!({
                            "wfo": o.report.get("wfo"),
                            "grade_detail": o.report.get("grade_detail"),
                            "live_eligible": o.report.get("live_eligible"),
                        }),
                    )?;
                    if a.json {
                        writeln!(out, "{}", o.payload)?;
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
        crate::interrupt::clear_current();
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
            crate::apply::apply(cfg, &conn, &s, &apply_options(a, false), out)?;
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
    let p = &o.payload;
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
            .warnings
            .as_ref()
            .and_then(|w| w.as_array().cloned())
            .unwrap_or_default();
        warnings.push(json!(format!(
            "regraded from the result of {}",
            r.created_at
        )));
        let payload = json!({
            "strategy_name": r.strategy_name, "asset": r.asset, "timeframe": r.timeframe, "created_at": db::iso_now_after(&r.created_at),
            "duration_seconds": 0.0, "grade": g.grade, "total_score": g.total_score, "oos_sharpe": r.oos_sharpe,
            "consistency": r.consistency, "oos_is_ratio": r.oos_is_ratio, "dsr": r.dsr, "param_stability": r.param_stability,
            "monte_carlo_pvalue": r.monte_carlo_pvalue, "mc_underpowered": r.mc_underpowered, "n_windows": r.n_windows,
            "n_distinct_combos": r.n_distinct_combos, "best_params": r.best_params, "wfo_windows": r.wfo_windows,
            "monte_carlo_summary": r.monte_carlo_summary, "validation_summary": r.validation_summary, "warnings": warnings,
            "regime_analysis": r.regime_analysis,
        });
        let changed = g.grade != r.grade || (g.total_score - r.total_score).abs() > 1e-9;
        let o = Outcome {
            report: json!({"result": payload, "grade_detail": g, "grade_inputs": gi, "regraded_from": r.created_at}),
            payload,
            grade: g,
            wfo: None,
        };
        save(cfg, &mut conn, None, &o, None)?;
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
    let family = crate::apply::family_adjusted(&conn)?;
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
            crate::apply::FAMILY_P_MAX
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
        let cfg = crate::cli::tests::config(dir.path());
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
        let mut o = Outcome {
            payload: json!({"warnings": ["validation skipped"]}),
            report: json!({}),
            grade: grade::grade(&grade::GradeInputs {
                oos_sharpe: 0.0,
                consistency: 0.0,
                oos_is_ratio: 0.0,
                dsr: 0.0,
                param_stability: 0.0,
                mc_pvalue: 1.0,
                mc_underpowered: true,
                transfer_ratio: None,
                oos_trades: 0,
                stitched_return_pct: None,
                stress_return_pct: None,
                stitched_sharpe_lo: None,
                null_p: None,
                null_permutations: 0,
                pbo: None,
                lowo_return_pct: None,
                loro_return_pct: None,
            }),
            wfo: None,
        };
        add_warnings(&mut o, &["x.csv: 1 gap(s)".into()]);
        assert_eq!(
            o.payload["warnings"],
            json!(["x.csv: 1 gap(s)", "validation skipped"])
        );
        assert_eq!(o.report["result"], o.payload);
    }

    /// The walk-forward charges the assumed funding rate and says so; strategies that need
    /// inputs it does not feed are named (and `run` skips them).
    #[test]
    fn assumed_funding_is_disclosed_and_unmet_needs_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::cli::tests::config(dir.path());
        let w = assumed_funding_warning(&cfg, "sma_cross").expect("funding is on by default");
        assert!(
            w.starts_with("funding assumed: ") && w.contains("0.0100 %/8 h"),
            "{w}"
        );
        assert!(
            unmet_needs("liquidation")
                .unwrap()
                .contains("open-interest history")
        );
        assert!(
            unmet_needs("grid_funding")
                .unwrap()
                .contains("funding-rate history")
        );
        assert_eq!(unmet_needs("grid_atr"), None);
    }

    /// `run --data` labels the job with the file's timeframe (it stored daily candles as `1h`);
    /// `--force-timeframe` resamples a coarser one and refuses a finer one.
    #[test]
    fn run_with_data_uses_the_files_timeframe() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::cli::tests::config(dir.path());
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
