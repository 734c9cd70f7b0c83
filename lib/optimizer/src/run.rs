//! One `optimize run` job end to end: planning ([`plan`]: which strategy × asset × timeframe),
//! the walk-forward with its overfitting statistics, null test, validation on the second
//! exchange and grade ([`optimize_one`]), and persistence ([`save`]: JSON report, local
//! database, best-effort push to scalp-syncd). The command itself (flags, orchestration of
//! the jobs, printing) is `scalp_cli::optimize::run`.

use crate::db::{self, Phase};
use crate::grade;
use crate::stats;
// What `run` and `null-test` share: resolving one job and its grade inputs (`crate::job`).
use crate::Error;
pub use crate::job::{
    MC_SIMS, base_params_for, db_path, engine_settings, grade_inputs_of, load_stored, overfitting,
    reports_dir, unmet_needs, wfo_spec,
};
use crate::wfo::{self, WfoResult};
use scalp_core::config::Config;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_sync::OptimizationResult;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

/// Minimum median daily quote volume (USDT) on the validation exchange below which a warning
/// is emitted.
pub const MIN_DAILY_QUOTE_VOLUME: f64 = 5_000_000.0;
/// Bootstrap resamples for the validation Sharpe CI.
pub const BOOT_N: usize = 2000;
/// Which strategies and assets a run covers (the `optimize run` selection flags).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub strategy: Option<String>,
    /// Every strategy of param_grids.toml on every asset of assets.toml.
    pub all: bool,
    pub symbol: Option<String>,
    pub symbols: Vec<String>,
    pub all_symbols: bool,
    pub exclude: Vec<String>,
    /// The `--data` CSV (its stem names the asset when no symbol is given).
    pub data: Option<PathBuf>,
    pub force_timeframe: Option<Timeframe>,
}

/// The exchange that validates a result found on `e`.
pub fn other_exchange(e: Exchange) -> Option<Exchange> {
    match e {
        Exchange::Binance => Some(Exchange::Bitget),
        Exchange::Bitget => Some(Exchange::Binance),
        Exchange::Replay => None,
    }
}

/// One planned job: a strategy on an asset at a timeframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub strategy: String,
    pub asset: String,
    pub tf: Timeframe,
}

/// Jobs of a run. `data_tf`: the timeframe of the `--data` candles (inferred from the file, or
/// `--force-timeframe` after resampling), which every job then uses.
pub fn plan(
    cfg: &Config,
    a: &Selection,
    data_tf: Option<Timeframe>,
) -> Result<Vec<Planned>, Error> {
    let strategies: Vec<String> = if a.all {
        cfg.param_grids
            .grids
            .keys()
            .filter(|k| scalp_strategy::spec(k).is_some())
            .cloned()
            .collect()
    } else {
        let s = a.strategy.clone().ok_or(Error::NoStrategy)?;
        scalp_backtest::resolve::strategy_spec(&s)?;
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
        return Err(Error::NoAssets);
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
            jobs.push(Planned {
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
    /// The result row, in its one definition (what is inserted, pushed and validated).
    pub result: OptimizationResult,
    /// The JSON report written next to the database (`result` embedded, plus the detail).
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
    exchange: Exchange,
    candles: &[Candle],
    validation: Option<&[Candle]>,
    null_plan: crate::nulltest::NullPlan,
    progress: &dyn Fn(Phase, f64),
) -> Result<Outcome, Error> {
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
                warnings.push(format!("low volume on {}: median daily quote volume {median_vol:.0} < {MIN_DAILY_QUOTE_VOLUME:.0}", other_exchange(exchange).map_or_else(|| "?".to_string(), |e| e.to_string())));
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
                other_exchange(exchange)
                    .map_or_else(|| "second-exchange".to_string(), |e| e.to_string())
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
    let created_at = db::created_at_now();
    // Choices by name, booleans as booleans: what strategies.toml and `--apply` read.
    let best_params = scalp_backtest::resolve::params_json(
        scalp_strategy::spec(strategy).expect("checked"),
        &params,
    );
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
    let result = OptimizationResult {
        strategy_name: strategy.to_string(),
        asset: asset.to_string(),
        timeframe: tf.to_string(),
        created_at,
        duration_seconds: Some(t0.elapsed().as_secs_f64()),
        grade: g.grade.to_string(),
        total_score: g.total_score,
        oos_sharpe: finite(w.avg_oos_sharpe),
        consistency: finite(w.consistency),
        oos_is_ratio: finite(w.oos_is_ratio),
        dsr: finite(dsr),
        param_stability: finite(w.param_stability),
        monte_carlo_pvalue: finite(mc.p_value),
        mc_underpowered: mc.underpowered,
        n_windows: w.n_windows as i64,
        n_distinct_combos: Some(w.n_distinct_combos as i64),
        best_params: best_params.to_string(),
        wfo_windows: Some(Value::Array(windows_json).to_string()),
        monte_carlo_summary: Some(mc_summary.to_string()),
        validation_summary: Some(validation_summary.to_string()),
        warnings: Some(json!(warnings).to_string()),
        regime_analysis: Some(
            serde_json::to_string(&w.regime_analysis).map_err(Error::EncodeReport)?,
        ),
    };
    let report = json!({
        "result": result.to_payload(),
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
        result,
        report,
        grade: g,
        wfo: Some(w),
    })
}

/// The disclosure that every funding settlement of the walk-forward is charged the assumed
/// rate (`None` with funding off).
pub fn assumed_funding_warning(cfg: &Config, strategy: &str) -> Option<String> {
    let rate = engine_settings(cfg, strategy).ok()?.funding_rate?;
    Some(format!(
        "funding assumed: every 8 h settlement is charged {:.4} %/8 h ([backtest].default_funding_rate), not the stored history",
        rate * 100.0
    ))
}

/// Puts the data-quality warnings of the job's data first in the result's `warnings`.
pub fn add_warnings(o: &mut Outcome, data_warnings: &[String]) {
    if data_warnings.is_empty() {
        return;
    }
    let mut w: Vec<Value> = data_warnings.iter().map(|x| json!(x)).collect();
    if let Some(Ok(Value::Array(old))) = o
        .result
        .warnings
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        w.extend(old);
    }
    o.result.warnings = Some(Value::Array(w).to_string());
    o.report["result"] = o.result.to_payload();
}

fn fin(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Saves an outcome: JSON report file, local DB row (safe is_latest insert), windows/combos,
/// then the best-effort push. Returns the report path and what the push did.
pub fn save(
    cfg: &Config,
    conn: &mut rusqlite::Connection,
    run_id: Option<i64>,
    out: &Outcome,
    w_for_db: Option<&WfoResult>,
) -> Result<(PathBuf, scalp_sync::PushOutcome), Error> {
    let row = &out.result;
    row.validate()
        .map_err(|e| Error::InvalidResult(Box::new(e)))?;
    let dir = reports_dir(cfg);
    std::fs::create_dir_all(&dir).map_err(|source| Error::CreateReportsDir {
        dir: dir.clone(),
        source,
    })?;
    let stamp: String = row
        .created_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let file = dir.join(format!(
        "{}_{}_{}_{}.json",
        row.strategy_name, row.asset, row.timeframe, stamp
    ));
    let tmp = file.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(&out.report).map_err(Error::EncodeReport)?;
    std::fs::write(&tmp, json).map_err(|source| Error::WriteFile {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &file).map_err(|source| Error::RenameFile {
        path: file.clone(),
        source,
    })?;
    scalp_sync::db::insert_result(conn, row, scalp_sync::Source::Local)
        .map_err(Error::sqlite("insert into optimization_results"))?;
    if let (Some(id), Some(w)) = (run_id, w_for_db) {
        db::save_windows(conn, id, w).map_err(Error::sqlite("save windows"))?;
    }
    let outcome = scalp_sync::push_result(cfg, &row.to_payload());
    Ok((file, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> Config {
        scalp_core::config::Config::defaults(dir).unwrap()
    }

    /// The data's warnings lead the result's `warnings`.
    #[test]
    fn data_warnings_lead_the_result() {
        let mut o = Outcome {
            result: OptimizationResult::from_payload(&json!({
                "strategy_name": "sma_cross", "asset": "BTC", "timeframe": "1h",
                "created_at": "2026-11-21T10:00:00Z", "grade": "F", "total_score": 0.0,
                "n_windows": 1, "best_params": {"fast": 10}, "warnings": ["validation skipped"],
            }))
            .unwrap(),
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
            o.result.to_payload()["warnings"],
            json!(["x.csv: 1 gap(s)", "validation skipped"])
        );
        assert_eq!(o.report["result"], o.result.to_payload());
        o.result.validate().unwrap();
    }

    /// The walk-forward charges the assumed funding rate and says so; strategies that need
    /// inputs it does not feed are named (and `run` skips them).
    #[test]
    fn assumed_funding_is_disclosed_and_unmet_needs_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
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
}
