//! `optimize backtest`, `optimize indicators` and `optimize lookahead`: arguments and logic
//! (the `optimize` binary only parses and calls [`run_backtest_cmd`] & co).

use crate::config::{BacktestConfig, EndFill, FillMode, Sizing};
use crate::engine::{BacktestResult, run_backtest};
use crate::input::{BacktestInput, FundingPoint, OiPoint};
use crate::lookahead::check_lookahead;
use crate::report::{Report, console};
use crate::store::{RunMeta, save_run};
use anyhow::{Context as _, anyhow, bail};
use scalp_core::config::Config;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::SeriesKey;
use scalp_strategy::{ParamKind, Params, Strategy, StrategySpec};
use std::path::{Path, PathBuf};

/// `--fee` / `--slippage`: a fraction of the notional in `[0, 0.5)`. The flags are declared
/// with `allow_negative_numbers` so that `--fee -0.01` reaches this check (instead of being
/// read as an unknown flag) and is refused with its reason.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !x.is_finite() || x < 0.0 {
        return Err(format!(
            "{x} is negative: a fee or slippage is a fraction of the notional >= 0 (e.g. 0.001 = 0.1 %); rebates are not modelled"
        ));
    }
    if x >= 0.5 {
        return Err(format!(
            "{x} is a fraction of the notional and must be below 0.5 (0.001 = 0.1 %)"
        ));
    }
    Ok(x)
}

/// Where candles come from and which strategy runs (shared by `backtest` and `lookahead`).
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Strategy name (see docs/STRATEGIES.md).
    #[arg(long)]
    pub strategy: String,
    /// Asset, e.g. BTC or BTCUSDT (with --data: only a label, default taken from the file name).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Exchange whose stored history is used (default `[optimize].exchange`).
    #[arg(long)]
    pub exchange: Option<String>,
    /// Days of history ending at the last stored candle (default: all).
    #[arg(long)]
    pub days: Option<u32>,
    /// Primary timeframe (default: the strategy's in strategies.toml; with --data: inferred).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Parameter overrides `name=value,...` (numbers, true/false, or a choice's name).
    #[arg(long)]
    pub params: Option<String>,
    /// Candle CSV (`ts_ms,open,high,low,close,volume`) instead of the optimize database.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Data-quality findings (gaps, duplicates, disorder, bad OHLC, outlier wicks) are errors
    /// instead of warnings.
    #[arg(long)]
    pub strict: bool,
}

/// `optimize backtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub src: SourceArgs,
    /// Initial capital (default `[backtest].initial_capital`).
    #[arg(long, allow_negative_numbers = true)]
    pub capital: Option<f64>,
    /// Leverage (default: the strategy's in strategies.toml, else `[backtest].leverage`).
    #[arg(long, allow_negative_numbers = true)]
    pub leverage: Option<f64>,
    /// One fee rate for maker and taker fills (e.g. 0.001), overriding `[backtest]`; >= 0.
    #[arg(long, allow_negative_numbers = true, value_parser = parse_fraction)]
    pub fee: Option<f64>,
    /// Slippage of taker fills, fraction of price (default `[backtest].slippage`).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_fraction)]
    pub slippage: Option<f64>,
    /// Market orders fill at the next candle's open or at the signal candle's close.
    #[arg(long, default_value = "next_open")]
    pub fill: FillMode,
    /// Position sizing: margin_frac (strategy's fractions), all_cash, or fixed:QTY.
    #[arg(long, default_value = "margin_frac")]
    pub size: Sizing,
    /// Lot step override: quantities are rounded down to a multiple of it (0 = no rounding).
    /// Default: the asset's contract lot step (assets.toml [contracts], docs/BACKTEST.md).
    #[arg(long, allow_negative_numbers = true)]
    pub lot: Option<f64>,
    /// Where a position still open at the end is closed: last_close or last_open.
    #[arg(long, default_value = "last_close")]
    pub end: EndFill,
    /// Funding rate per 8 h when no history covers a settlement (default
    /// `[backtest].default_funding_rate`; may be negative).
    #[arg(long, allow_negative_numbers = true)]
    pub funding_rate: Option<f64>,
    /// No funding payments at all.
    #[arg(long)]
    pub no_funding: bool,
    /// Kill switch: stop trading after this drawdown in percent.
    #[arg(long, allow_negative_numbers = true)]
    pub kill_dd: Option<f64>,
    /// Kill switch: stop trading after this many consecutive losing trades.
    #[arg(long)]
    pub kill_losses: Option<u32>,
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

/// A loaded source: candles, resolved strategy and parameters.
pub struct Loaded {
    pub spec: &'static StrategySpec,
    pub params: Params,
    pub asset: String,
    pub exchange: String,
    pub timeframe: Timeframe,
    pub candles: Vec<Candle>,
    /// Stored funding history (empty with --data: the configured rate applies).
    pub funding: Vec<FundingPoint>,
    /// Stored open interest (empty with --data).
    pub oi: Vec<OiPoint>,
    pub leverage: Option<f64>,
    /// Data-quality warnings (`scalp_core::quality`) and resampling notes.
    pub warnings: Vec<String>,
}

impl Loaded {
    pub fn build(&self) -> Box<dyn Strategy> {
        (self.spec.build)(&self.params, self.timeframe)
    }
    /// The engine input: primary candles, higher timeframes aggregated from them, funding, OI.
    pub fn input(&self, tfs: &[Timeframe]) -> BacktestInput<'_> {
        BacktestInput::new(&self.asset, self.timeframe, &self.candles)
            .with_aggregated(tfs)
            .with_funding(&self.funding)
            .with_open_interest(&self.oi)
    }
    /// Params as a JSON object `{name: value}` (choices by name).
    pub fn params_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for p in self.spec.params {
            let v = self.params.get(p.name);
            let j = match p.kind {
                ParamKind::Choice => {
                    serde_json::json!(p.choices.get(v as usize).copied().unwrap_or("?"))
                }
                ParamKind::Bool => serde_json::json!(v != 0.0),
                ParamKind::Int => serde_json::json!(v as i64),
                ParamKind::Float => serde_json::json!(v),
            };
            m.insert(p.name.to_string(), j);
        }
        serde_json::Value::Object(m)
    }
}

/// Parses `a=1,b=2.5,c=true,mode=atr` against the strategy's declarations.
pub fn parse_overrides(spec: &StrategySpec, s: &str) -> anyhow::Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow!("--params: `{part}` is not name=value"))?;
        let (k, v) = (k.trim(), v.trim());
        let decl = spec.params.iter().find(|p| p.name == k).ok_or_else(|| {
            anyhow!(
                "--params: strategy `{}` has no parameter `{k}` (known: {})",
                spec.name,
                spec.params
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let x = match (decl.kind, v) {
            (ParamKind::Bool, "true") => 1.0,
            (ParamKind::Bool, "false") => 0.0,
            (ParamKind::Choice, _) if decl.choices.contains(&v) => {
                decl.choices.iter().position(|c| *c == v).unwrap_or(0) as f64
            }
            _ => v
                .parse::<f64>()
                .map_err(|_| anyhow!("--params: `{k}`: `{v}` is not a valid {:?}", decl.kind))?,
        };
        out.push((k.to_string(), x));
    }
    Ok(out)
}

/// Resolves strategy, params and candles from `--data` or the optimize database.
pub fn load_source(cfg: &Config, a: &SourceArgs) -> anyhow::Result<Loaded> {
    let spec = scalp_strategy::spec(&a.strategy).ok_or_else(|| {
        anyhow!(
            "unknown strategy `{}` (known: {})",
            a.strategy,
            scalp_strategy::STRATEGY_NAMES.join(", ")
        )
    })?;
    let asset = match (&a.symbol, &a.data) {
        (Some(s), _) => cfg.assets.asset_of(s),
        (None, Some(p)) => p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "DATA".into()),
        (None, None) => bail!("--symbol is required without --data"),
    };
    let entry = cfg.strategies.strategies.get(spec.name);
    let (table, cfg_tf) = match entry {
        Some(e) => {
            let (t, tf) = e.params_for(&asset);
            (t, Some(tf))
        }
        None => (toml::Table::new(), None),
    };
    let base = Params::from_toml(spec.name, spec.params, &table)
        .map_err(|e| anyhow!("{}: {e}", cfg.strategies_path().display()))?;
    let kv = match &a.params {
        Some(s) => parse_overrides(spec, s)?,
        None => Vec::new(),
    };
    let params = base
        .with_overrides(spec.name, spec.params, &kv)
        .map_err(|e| anyhow!("--params: {e}"))?;

    let (mut funding, mut oi): (Vec<FundingPoint>, Vec<OiPoint>) = (Vec::new(), Vec::new());
    let mut warnings: Vec<String>;
    let (candles, timeframe, exchange) = if let Some(path) = &a.data {
        let candles = scalp_core::csvdata::read_candles_csv(path)?;
        let name = path.display().to_string();
        // The one timeframe rule: inferred from the open times, verified against --timeframe,
        // resampled when --timeframe is coarser (docs/BACKTEST.md "Candle data").
        let k = scalp_core::series::conform(&name, candles, a.timeframe)?;
        let candles = last_days(k.candles, a.days, k.timeframe);
        warnings = scalp_core::quality::warnings_or_strict(&name, &candles, k.timeframe, a.strict)?;
        if let Some(from) = k.resampled_from {
            warnings.push(format!(
                "{name}: {from} candles resampled to {}",
                k.timeframe
            ));
        }
        (candles, k.timeframe, "file".to_string())
    } else {
        let tf = a.timeframe.or(cfg_tf).unwrap_or(Timeframe::H1);
        let exchange = a
            .exchange
            .clone()
            .unwrap_or_else(|| cfg.main.optimize.exchange.clone());
        let db = cfg.resolve(Path::new(&cfg.main.optimize.db));
        let st = load_from_db(&db, &exchange, &cfg.assets.symbol(&asset), tf, a.days)?;
        warnings = scalp_core::quality::warnings_or_strict(
            &format!(
                "{}: {exchange} {} {tf}",
                db.display(),
                cfg.assets.symbol(&asset)
            ),
            &st.candles,
            tf,
            a.strict,
        )?;
        if let Some(from) = st.resampled_from {
            warnings.push(format!(
                "{}: no {tf} series stored: {from} candles resampled to {tf}",
                db.display()
            ));
        }
        funding = st.funding;
        oi = st.oi;
        (st.candles, tf, exchange)
    };
    if candles.is_empty() {
        bail!("no candles for {asset} {timeframe} in the requested period");
    }
    let source = match &a.data {
        Some(p) => p.display().to_string(),
        None => format!(
            "the stored {exchange} {} {timeframe} data",
            cfg.assets.symbol(&asset)
        ),
    };
    if let Some(why) =
        scalp_strategy::registry::refusal(spec, &source, !funding.is_empty(), !oi.is_empty())
    {
        bail!("{why}");
    }
    Ok(Loaded {
        spec,
        params,
        asset,
        exchange,
        timeframe,
        candles,
        funding,
        oi,
        leverage: entry.map(|e| e.leverage),
        warnings,
    })
}

fn last_days(candles: Vec<Candle>, days: Option<u32>, tf: Timeframe) -> Vec<Candle> {
    match (days, candles.last()) {
        (Some(d), Some(last)) => {
            let from = last.open_time + tf.ms() - i64::from(d) * 86_400_000;
            candles
                .into_iter()
                .filter(|c| c.open_time >= from)
                .collect()
        }
        _ => candles,
    }
}

/// Reads stored candles, funding rates and open interest of `exchange`/`symbol`/`tf` from the
/// optimize database (scalp-store tables); the candles' spacing is verified against `tf`.
pub fn load_from_db(
    db: &Path,
    exchange: &str,
    symbol: &str,
    tf: Timeframe,
    days: Option<u32>,
) -> anyhow::Result<Stored> {
    if !db.exists() {
        bail!(
            "{}: optimize database not found (fetch history first with `optimize fetch-history`, or pass --data FILE.csv)",
            db.display()
        );
    }
    let ex: Exchange = exchange
        .parse()
        .map_err(|e: String| anyhow!("--exchange: {e}"))?;
    let conn = scalp_store::open_readonly(db)?;
    let (candles, resampled_from) =
        stored_candles(&conn, &db.display().to_string(), ex, symbol, tf, days)?;
    let Some(last) = candles.last() else {
        bail!(
            "{}: no stored candles for {} (fetch them with `optimize fetch-history`)",
            db.display(),
            SeriesKey {
                exchange: ex,
                symbol,
                timeframe: tf,
            }
        );
    };
    let to = last.open_time + tf.ms();
    let from = days.map_or(i64::MIN, |d| to - i64::from(d) * 86_400_000);
    let funding =
        scalp_store::funding::load(&conn, ex, symbol, from.saturating_sub(8 * 3_600_000), to)?
            .into_iter()
            .map(|f| FundingPoint {
                time: f.time,
                rate: f.rate,
            })
            .collect();
    let oi = scalp_store::open_interest::load(&conn, ex, symbol, from, to)?
        .into_iter()
        .map(|o| OiPoint {
            time: o.time,
            value: o.oi,
        })
        .collect();
    Ok(Stored {
        candles,
        funding,
        oi,
        resampled_from,
    })
}

/// Candles of `tf` from the database `db_name`: the stored `tf` series, verified against `tf`;
/// or, when none is stored, the coarsest stored finer series of which `tf` is a multiple,
/// resampled to `tf` (`scalp_core::series::conform`, never relabelled) — its timeframe is
/// returned with them. `days`: only the last N days ending at the newest candle. Empty when
/// neither exists.
pub fn stored_candles(
    conn: &rusqlite::Connection,
    db_name: &str,
    exchange: Exchange,
    symbol: &str,
    tf: Timeframe,
    days: Option<u32>,
) -> anyhow::Result<(Vec<Candle>, Option<Timeframe>)> {
    let key = SeriesKey {
        exchange,
        symbol,
        timeframe: tf,
    };
    if let Some(last) = scalp_store::candles::last_open_time(conn, &key)? {
        let to = last + tf.ms();
        let from = days.map_or(i64::MIN, |d| to - i64::from(d) * 86_400_000);
        let candles = scalp_store::candles::load(conn, &key, from, to)?;
        scalp_core::series::verify_timeframe(&format!("{db_name}: {key}"), &candles, tf)?;
        return Ok((candles, None));
    }
    let base = scalp_store::candles::series(conn)?
        .into_iter()
        .filter(|s| {
            s.exchange == exchange
                && s.symbol == symbol
                && s.count > 0
                && s.timeframe.ms() < tf.ms()
                && tf.ms() % s.timeframe.ms() == 0
        })
        .map(|s| s.timeframe)
        .max_by_key(|t| t.ms());
    let Some(base) = base else {
        return Ok((Vec::new(), None));
    };
    let bkey = SeriesKey {
        timeframe: base,
        ..key
    };
    let name = format!("{db_name}: {bkey}");
    let stored = scalp_store::candles::load(conn, &bkey, i64::MIN, i64::MAX)?;
    scalp_core::series::verify_timeframe(&name, &stored, base)?;
    let mut candles = scalp_core::series::conform(&name, stored, Some(tf))?.candles;
    if let (Some(d), Some(last)) = (days, candles.last()) {
        let from = last.open_time + tf.ms() - i64::from(d) * 86_400_000;
        candles.retain(|c| c.open_time >= from);
    }
    Ok((candles, Some(base)))
}

/// What [`load_from_db`] read.
pub struct Stored {
    pub candles: Vec<Candle>,
    pub funding: Vec<FundingPoint>,
    pub oi: Vec<OiPoint>,
    /// The stored timeframe the candles were resampled from (none stored at the one asked).
    pub resampled_from: Option<Timeframe>,
}

/// Applies the contract spec of `asset` (lot step, minimum order) to `c`, `lot` overriding the
/// lot step; checks the leverage against the contract's maximum. Returns the one-line
/// description printed with the results.
pub fn apply_contract(
    cfg: &Config,
    asset: &str,
    lot: Option<f64>,
    c: &mut BacktestConfig,
) -> anyhow::Result<String> {
    let (spec, src) = cfg.assets.contract(asset);
    c.lot_step = lot.unwrap_or(spec.lot_step);
    c.min_qty = spec.min_qty;
    c.min_notional = spec.min_notional;
    if c.leverage > spec.max_leverage {
        bail!(
            "leverage {} exceeds {asset}'s maximum leverage {} ({src})",
            c.leverage,
            spec.max_leverage
        );
    }
    let lot_text = match lot {
        Some(0.0) => "lot 0 (--lot 0: no rounding)".to_string(),
        Some(x) => format!("lot {x} (--lot)"),
        None if spec.lot_step > 0.0 => format!("lot {}", spec.lot_step),
        None => "lot 0 (unknown: no rounding)".to_string(),
    };
    Ok(format!(
        "{asset}: {lot_text}, min qty {}, min notional {} USDT, max leverage {} ({src})",
        spec.min_qty, spec.min_notional, spec.max_leverage
    ))
}

/// Engine settings from `[backtest]` and the command line.
pub fn engine_config(
    cfg: &Config,
    a: &BacktestArgs,
    strategy_leverage: Option<f64>,
) -> anyhow::Result<BacktestConfig> {
    let mut c = BacktestConfig::from_core(&cfg.main.backtest);
    if let Some(x) = a.capital {
        c.capital = x;
    }
    c.leverage = a.leverage.or(strategy_leverage).unwrap_or(c.leverage);
    if let Some(f) = a.fee {
        c.maker_fee = f;
        c.taker_fee = f;
    }
    if let Some(s) = a.slippage {
        c.slippage = s;
    }
    c.fill = a.fill;
    c.sizing = a.size;
    c.lot_step = a.lot.unwrap_or(0.0);
    c.end_fill = a.end;
    if let Some(r) = a.funding_rate {
        c.funding_rate = Some(r);
    }
    if a.no_funding {
        c.funding_rate = None;
    }
    // The per-runner kill switch of `[risk]` unless given on the command line (as in paper).
    let risk = BacktestConfig::for_runner(cfg, None, None).map_err(|e| anyhow!("{e}"))?;
    c.kill_switch.max_drawdown_pct = a.kill_dd.or(risk.kill_switch.max_drawdown_pct);
    c.kill_switch.max_consecutive_losses =
        a.kill_losses.or(risk.kill_switch.max_consecutive_losses);
    c.validate()
        .map_err(|e| anyhow!("backtest settings: {e}"))?;
    Ok(c)
}

/// Runs one backtest for the CLI: loads, runs, prints, stores. Returns the result.
pub fn run_backtest_cmd(cfg: &Config, a: &BacktestArgs) -> anyhow::Result<BacktestResult> {
    let src = load_source(cfg, &a.src)?;
    let mut ecfg = engine_config(cfg, a, src.leverage)?;
    let contract = apply_contract(cfg, &src.asset, a.lot, &mut ecfg)?;
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
    let src = load_source(cfg, &a.src)?;
    let mut ecfg = BacktestConfig::from_core(&cfg.main.backtest);
    if let Some(l) = src.leverage {
        ecfg.leverage = l;
    }
    // The same exchange minimums and lot step as `backtest` (the stop rule is causal too).
    apply_contract(cfg, &src.asset, None, &mut ecfg)?;
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
        let params = Params::from_toml(spec.name, spec.params, &table)
            .map_err(|e| anyhow!("{}: {e}", cfg.strategies_path().display()))?;
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
