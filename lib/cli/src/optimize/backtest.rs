//! `optimize backtest`, `optimize indicators`, `optimize lookahead` and `optimize strategies`:
//! arguments, resolution (`scalp_backtest::resolve`), printing.

use super::args::{DataArgs, EngineArgs};
use anyhow::{Context as _, anyhow};
use scalp_backtest::engine::{BacktestResult, run_backtest};
use scalp_backtest::lookahead::check_lookahead;
use scalp_backtest::report::{Report, console};
use scalp_backtest::resolve::{self, Loaded, Runner};
use scalp_backtest::store::{RunMeta, save_run};
use scalp_core::Timeframe;
use scalp_core::config::Config;
use scalp_strategy::Params;
use std::path::{Path, PathBuf};

/// Which strategy runs on which data (shared by `backtest` and `lookahead`).
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Strategy name (see `optimize strategies`).
    #[arg(long)]
    pub strategy: String,
    /// Parameter overrides `name=value,...` (numbers, true/false, or a choice's name).
    #[arg(long)]
    pub params: Option<String>,
    #[command(flatten)]
    pub data: DataArgs,
}

impl SourceArgs {
    /// Resolves strategy, params and candles (stored funding and open interest included).
    pub fn load(&self, cfg: &Config) -> anyhow::Result<Loaded> {
        let req = self.data.request(&self.strategy, self.params.as_deref());
        Ok(resolve::load(cfg, &req, None, true)?)
    }
}

/// `optimize backtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub src: SourceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Print JSON instead of the console table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Do not store the run in `backtest_runs`.
    #[arg(long)]
    pub no_store: bool,
}

/// `optimize indicators`.
#[derive(Debug, Clone, clap::Args)]
pub struct IndicatorsArgs {
    /// Candle CSV (`ts_ms,open,high,low,close,volume`).
    #[arg(long)]
    pub data: PathBuf,
    /// Columns to write, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Output CSV (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `optimize lookahead`.
#[derive(Debug, Clone, clap::Args)]
pub struct LookaheadArgs {
    #[command(flatten)]
    pub src: SourceArgs,
    /// Number of truncation points.
    #[arg(long, default_value_t = 20)]
    pub checkpoints: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs one backtest for the CLI: loads, runs, prints, stores. Returns the result.
pub fn run_backtest_cmd(cfg: &Config, a: &BacktestArgs) -> anyhow::Result<BacktestResult> {
    let src = a.src.load(cfg)?;
    let (ecfg, contract) = resolve::settings(
        cfg,
        Some(src.spec.name),
        Some(&src.asset),
        Runner::Trading,
        &a.engine.overrides(),
    )?;
    let contract = contract.unwrap_or_default();
    let mut strategy = src.build();
    let input = src.input(&strategy.timeframes());
    let res = run_backtest(&input, strategy.as_mut(), &ecfg)?;
    let params = src.params_json();
    let run_id = if a.no_store {
        None
    } else {
        let db = cfg.resolve(Path::new(&cfg.main.optimize.db));
        // Creates and migrates the database (migration 02-backtest-runs creates the table).
        let conn = scalp_store::open(&db)?;
        let meta = RunMeta {
            strategy: src.spec.name.to_string(),
            asset: src.asset.clone(),
            exchange: src.exchange.clone(),
            timeframe: src.timeframe.to_string(),
            params: params.clone(),
            created_at: scalp_core::types::fmt_ms(scalp_core::types::now_ms()),
        };
        Some(
            save_run(&conn, &meta, &ecfg, &res, &src.candles, src.timeframe.ms())
                .with_context(|| format!("{}: storing the run", db.display()))?,
        )
    };
    let tf = src.timeframe.to_string();
    let report = Report {
        strategy: src.spec.name,
        asset: &src.asset,
        exchange: &src.exchange,
        timeframe: &tf,
        params: &params,
        config: &ecfg,
        run_id,
        metrics: &res.metrics,
        killed: &res.killed,
        skipped_entries: res.skipped_entries,
        funding: res.funding,
        skipped_min_order: res.skipped_min_order,
        stopped: &res.stopped,
        contract: &contract,
        warnings: &src.warnings,
        trades: &res.trades,
    };
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &a.output {
        std::fs::write(out, &json).with_context(|| format!("{}: cannot write", out.display()))?;
    }
    if a.json {
        println!("{json}");
    } else {
        print!("{}", console(&report, &res));
    }
    Ok(res)
}

/// `optimize indicators`: writes the indicator table (what the strategies see) as CSV.
pub fn run_indicators_cmd(a: &IndicatorsArgs) -> anyhow::Result<()> {
    let candles = scalp_core::csvdata::read_candles_csv(&a.data)?;
    let only: Vec<&str> = a
        .only
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let table = scalp_indicators::table(&candles, (!only.is_empty()).then_some(only.as_slice()))
        .map_err(|e| anyhow!("--only: {e}"))?;
    match &a.output {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("{}: cannot create", p.display()))?;
            scalp_indicators::write_table_csv(std::io::BufWriter::new(f), &candles, &table)?;
        }
        None => scalp_indicators::write_table_csv(std::io::stdout().lock(), &candles, &table)?,
    }
    Ok(())
}

/// `optimize lookahead`: returns `Ok(true)` when bias was found (the binary exits non-zero).
pub fn run_lookahead_cmd(cfg: &Config, a: &LookaheadArgs) -> anyhow::Result<bool> {
    let src = a.src.load(cfg)?;
    // The same exchange minimums and lot step as `backtest` (the stop rule is causal too).
    let (ecfg, _) = resolve::settings(
        cfg,
        Some(src.spec.name),
        Some(&src.asset),
        Runner::Research,
        &Default::default(),
    )?;
    let tfs = src.build().timeframes();
    let input = src.input(&tfs);
    let make = || src.build();
    let rep = check_lookahead(&input, &make, &ecfg, a.checkpoints.max(1))?;
    if a.json {
        let mut v = serde_json::to_value(&rep)?;
        v["warnings"] = serde_json::json!(src.warnings);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for w in &src.warnings {
            println!("warning: {w}");
        }
        println!(
            "{} on {} {} ({} candles): {} decisions ({} intents) checked at {} truncation points",
            rep.strategy,
            src.asset,
            src.timeframe,
            rep.n_candles,
            rep.decisions,
            rep.intents,
            rep.checkpoints.len()
        );
        for m in rep.mismatches.iter().take(20) {
            println!(
                "  BIAS at candle {} ({}) with history cut at {}: full {:?} vs truncated {:?}",
                m.index,
                scalp_core::types::fmt_ms(m.time),
                m.checkpoint,
                m.full,
                m.truncated
            );
        }
        if rep.trade_mismatches > 0 {
            println!(
                "  BIAS: closed trades differ at {} truncation point(s)",
                rep.trade_mismatches
            );
        }
        println!(
            "{}",
            if rep.biased() {
                "look-ahead bias FOUND"
            } else {
                "no look-ahead bias found"
            }
        );
    }
    Ok(rep.biased())
}

/// `optimize strategies`: every registered strategy with its timeframes and required inputs.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StrategiesArgs {
    /// Print JSON (an array of objects).
    #[arg(long)]
    pub json: bool,
}

/// Lists every strategy: name, primary timeframe (strategies.toml, per-asset overrides aside),
/// higher timeframes it reads, whether it is enabled, the inputs besides candles it needs, and
/// what it does.
pub fn strategies_cmd(
    cfg: &Config,
    a: &StrategiesArgs,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for spec in scalp_strategy::registry::SPECS {
        let entry = cfg.strategies.strategies.get(spec.name);
        let tf = entry.map(|e| e.timeframe).unwrap_or(Timeframe::H1);
        let (table, _) = entry
            .map(|e| e.params_for(""))
            .unwrap_or_else(|| (toml::Table::new(), tf));
        let params = Params::from_toml(spec.name, spec.params, &table).map_err(|source| {
            resolve::ResolveError::Params {
                path: cfg.strategies_path(),
                source,
            }
        })?;
        let built = (spec.build)(&params, tf);
        let higher: Vec<String> = built
            .timeframes()
            .into_iter()
            .skip(1)
            .map(|t| t.to_string())
            .collect();
        let needs: Vec<&str> = spec.needs.iter().map(|i| i.describe()).collect();
        rows.push(serde_json::json!({
            "name": spec.name,
            "timeframe": tf.to_string(),
            "higher_timeframes": higher,
            "enabled": entry.is_some_and(|e| e.enabled),
            "needs": needs,
            "summary": spec.summary,
        }));
    }
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20} {:<4} {:<8} {:<8} {:<24} what it does",
        "strategy", "tf", "higher", "enabled", "needs besides candles"
    )?;
    for r in &rows {
        let list = |k: &str| {
            let v: Vec<&str> = r[k]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(
            out,
            "{:<20} {:<4} {:<8} {:<8} {:<24} {}",
            r["name"].as_str().unwrap_or(""),
            r["timeframe"].as_str().unwrap_or(""),
            list("higher_timeframes"),
            if r["enabled"] == true { "yes" } else { "no" },
            list("needs"),
            r["summary"].as_str().unwrap_or("")
        )?;
    }
    writeln!(
        out,
        "A strategy that needs funding-rate or open-interest history is refused where that history is missing (a backtest of --data FILE, a sweep, the walk-forward of `optimize run`)."
    )?;
    Ok(())
}
