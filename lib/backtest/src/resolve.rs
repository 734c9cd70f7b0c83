//! The one resolver of a run, shared by every command and daemon that backtests (`optimize
//! backtest|lookahead|sweep|run|null-test|bench-wfo`, scalp-simulator's runners): engine settings from
//! `[backtest]`, `[risk]`, the strategy's leverage, the asset's contract and explicit
//! overrides ([`settings`]); base parameters with the asset's per-asset overrides
//! ([`base_params`]); candles, funding and open interest from a CSV or the optimize database,
//! with the one timeframe rule and the data-quality pass ([`load`]). No command-line parsing
//! here: the command layer (`scalp-cli`) maps its flags onto [`Overrides`] and [`Request`].

use crate::config::{BacktestConfig, EndFill, FillMode, Sizing};
use crate::input::{BacktestInput, FundingPoint, OiPoint};
use scalp_core::config::Config;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::SeriesKey;
use scalp_strategy::{ParamKind, Params, Strategy, StrategySpec};
use std::path::{Path, PathBuf};

/// Why a run could not be resolved; each message names the file, flag or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown strategy `{name}` (known: {known})")]
    UnknownStrategy { name: String, known: String },
    #[error("--symbol is required without --data")]
    NoSource,
    /// strategies.toml parameters of the strategy do not validate.
    #[error("{path}: {source}")]
    Params {
        path: PathBuf,
        source: scalp_strategy::ParamError,
    },
    /// A `--params` override.
    #[error("--params: {0}")]
    Override(String),
    #[error(transparent)]
    Csv(#[from] scalp_core::csvdata::CsvError),
    #[error(transparent)]
    Series(#[from] scalp_core::series::SeriesError),
    #[error(transparent)]
    Strict(#[from] scalp_core::quality::StrictError),
    #[error(transparent)]
    Store(#[from] scalp_store::StoreError),
    #[error(
        "{}: optimize database not found (fetch history first with `optimize fetch-history`, or pass --data FILE.csv)",
        .0.display()
    )]
    NoDatabase(PathBuf),
    #[error("{}: no stored candles for {key} (fetch them with `optimize fetch-history`)", .db.display())]
    NoStoredCandles { db: PathBuf, key: String },
    #[error("no candles for {asset} {timeframe} in the requested period")]
    EmptyPeriod { asset: String, timeframe: Timeframe },
    /// The strategy needs an input (funding, open interest) this source lacks.
    #[error("{0}")]
    Refused(String),
    /// The asset's contract does not allow the leverage.
    #[error("leverage {leverage} exceeds {asset}'s maximum leverage {max} ({source_of})")]
    Leverage {
        leverage: f64,
        asset: String,
        max: f64,
        source_of: String,
    },
    /// The resolved settings are out of range (the message names the field).
    #[error("backtest settings: {0}")]
    Settings(#[from] crate::config::SettingsError),
}

/// Engine-setting overrides of one run (every field optional: `None` keeps the configured
/// value). The `optimize` engine flags map onto it one to one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub capital: Option<f64>,
    pub leverage: Option<f64>,
    /// One fee rate for maker and taker fills.
    pub fee: Option<f64>,
    pub slippage: Option<f64>,
    pub fill: Option<FillMode>,
    pub size: Option<Sizing>,
    /// Lot step instead of the contract's (0 = no rounding).
    pub lot: Option<f64>,
    pub end: Option<EndFill>,
    /// Funding rate per 8 h where no history covers a settlement.
    pub funding_rate: Option<f64>,
    /// No funding payments at all.
    pub no_funding: bool,
    pub kill_dd: Option<f64>,
    pub kill_losses: Option<u32>,
}

/// Which defaults a run starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// A trading runner (`optimize backtest`, scalp-simulator): `[risk]`'s per-runner kill
    /// switch applies unless overridden, so that paper trades are the backtest's trades.
    Trading,
    /// Research (sweep, walk-forward, null test, look-ahead check): no kill switch unless
    /// overridden — a grid is compared on what the strategy does, not on when it is stopped.
    Research,
}

/// The engine settings of `strategy` on `asset`: `[backtest]`, the strategy's leverage
/// (strategies.toml), `[risk]`'s kill switch for a [`Runner::Trading`], then `o`, validated;
/// then the asset's contract (lot step unless `o.lot`, minimum order, maximum leverage) when
/// an asset is given. Returns the settings and, with an asset, the one-line contract
/// description printed with results. The one settings builder of every run.
pub fn settings(
    cfg: &Config,
    strategy: Option<&str>,
    asset: Option<&str>,
    runner: Runner,
    o: &Overrides,
) -> Result<(BacktestConfig, Option<String>), ResolveError> {
    let mut c = BacktestConfig::from_core(&cfg.main.backtest);
    let strategy_leverage = strategy
        .and_then(|s| cfg.strategies.strategies.get(s))
        .map(|e| e.leverage);
    c.leverage = o.leverage.or(strategy_leverage).unwrap_or(c.leverage);
    if let Some(x) = o.capital {
        c.capital = x;
    }
    if let Some(f) = o.fee {
        c.maker_fee = f;
        c.taker_fee = f;
    }
    if let Some(x) = o.slippage {
        c.slippage = x;
    }
    if let Some(x) = o.fill {
        c.fill = x;
    }
    if let Some(x) = o.size {
        c.sizing = x;
    }
    if let Some(x) = o.lot {
        c.lot_step = x;
    }
    if let Some(x) = o.end {
        c.end_fill = x;
    }
    if let Some(r) = o.funding_rate {
        c.funding_rate = Some(r);
    }
    if o.no_funding {
        c.funding_rate = None;
    }
    let risk = &cfg.main.risk;
    if runner == Runner::Trading {
        if risk.max_drawdown_pct > 0.0 {
            c.kill_switch.max_drawdown_pct = Some(risk.max_drawdown_pct);
        }
        if risk.max_consecutive_losses > 0 {
            c.kill_switch.max_consecutive_losses = Some(risk.max_consecutive_losses);
        }
    }
    if o.kill_dd.is_some() {
        c.kill_switch.max_drawdown_pct = o.kill_dd;
    }
    if o.kill_losses.is_some() {
        c.kill_switch.max_consecutive_losses = o.kill_losses;
    }
    c.validate()?;
    let contract = match asset {
        Some(a) => Some(apply_contract(cfg, a, o.lot, &mut c)?),
        None => None,
    };
    Ok((c, contract))
}

/// Applies the contract spec of `asset` (lot step, minimum order) to `c`, `lot` overriding the
/// lot step; checks the leverage against the contract's maximum. Returns the one-line
/// description printed with the results.
pub fn apply_contract(
    cfg: &Config,
    asset: &str,
    lot: Option<f64>,
    c: &mut BacktestConfig,
) -> Result<String, ResolveError> {
    let (spec, src) = cfg.assets.contract(asset);
    c.lot_step = lot.unwrap_or(spec.lot_step);
    c.min_qty = spec.min_qty;
    c.min_notional = spec.min_notional;
    if c.leverage > spec.max_leverage {
        return Err(ResolveError::Leverage {
            leverage: c.leverage,
            asset: asset.to_string(),
            max: spec.max_leverage,
            source_of: src.to_string(),
        });
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

/// The registered strategy `name`, or an error listing the known ones.
pub fn strategy_spec(name: &str) -> Result<&'static StrategySpec, ResolveError> {
    scalp_strategy::spec(name).ok_or_else(|| ResolveError::UnknownStrategy {
        name: name.to_string(),
        known: scalp_strategy::STRATEGY_NAMES.join(", "),
    })
}

/// Base parameters of `spec` for `asset`: strategies.toml's table with the asset's per-asset
/// overrides, validated, defaults filled. The one base-parameter resolver.
pub fn base_params(cfg: &Config, spec: &StrategySpec, asset: &str) -> Result<Params, ResolveError> {
    let table = cfg
        .strategies
        .strategies
        .get(spec.name)
        .map(|e| e.params_for(asset).0)
        .unwrap_or_default();
    Params::from_toml(spec.name, spec.params, &table).map_err(|source| ResolveError::Params {
        path: cfg.strategies_path(),
        source,
    })
}

/// Parses `a=1,b=2.5,c=true,mode=atr` against the strategy's declarations.
pub fn parse_overrides(spec: &StrategySpec, s: &str) -> Result<Vec<(String, f64)>, ResolveError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| ResolveError::Override(format!("`{part}` is not name=value")))?;
        let (k, v) = (k.trim(), v.trim());
        let decl = spec.params.iter().find(|p| p.name == k).ok_or_else(|| {
            ResolveError::Override(format!(
                "strategy `{}` has no parameter `{k}` (known: {})",
                spec.name,
                spec.params
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let x = match (decl.kind, v) {
            (ParamKind::Bool, "true") => 1.0,
            (ParamKind::Bool, "false") => 0.0,
            (ParamKind::Choice, _) if decl.choices.contains(&v) => {
                decl.choices.iter().position(|c| *c == v).unwrap_or(0) as f64
            }
            _ => v.parse::<f64>().map_err(|_| {
                ResolveError::Override(format!("`{k}`: `{v}` is not a valid {:?}", decl.kind))
            })?,
        };
        out.push((k.to_string(), x));
    }
    Ok(out)
}

/// What a run reads: the strategy, where its candles come from, and parameter overrides.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub strategy: String,
    /// Asset or symbol (`BTC`, `BTCUSDT`); with `data`, only the asset the file is of
    /// (default: the file's stem).
    pub symbol: Option<String>,
    /// Exchange of the stored history (default `[optimize].exchange`).
    pub exchange: Option<Exchange>,
    /// Only the last N days, ending at the newest candle.
    pub days: Option<u32>,
    /// Primary timeframe (default: the strategy's; with `data`: inferred from the file).
    pub timeframe: Option<Timeframe>,
    /// `name=value,...` parameter overrides.
    pub params: Option<String>,
    /// A candle CSV instead of the optimize database.
    pub data: Option<PathBuf>,
    /// Data-quality findings are errors instead of warnings.
    pub strict: bool,
}

/// A resolved run: strategy, parameters, candles and the market inputs.
pub struct Loaded {
    pub spec: &'static StrategySpec,
    pub params: Params,
    pub asset: String,
    /// The exchange of stored data, `file` for a CSV.
    pub exchange: String,
    pub timeframe: Timeframe,
    pub candles: Vec<Candle>,
    /// Stored funding history (empty with a CSV: the configured rate applies).
    pub funding: Vec<FundingPoint>,
    /// Stored open interest (empty with a CSV).
    pub oi: Vec<OiPoint>,
    /// The CSV path, or `<db>: <exchange> <symbol> <tf>`: the name in warnings.
    pub label: String,
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
        params_json(self.spec, &self.params)
    }
}

/// `params` as a JSON object `{name: value}` (choices by name, booleans as booleans).
pub fn params_json(spec: &StrategySpec, params: &Params) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for p in spec.params {
        let v = params.get(p.name);
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

/// The asset of a request: `symbol` normalised by the config's quote, else the CSV's stem.
pub fn asset_of(cfg: &Config, symbol: Option<&str>, data: Option<&Path>) -> Option<String> {
    match (symbol, data) {
        (Some(s), _) => Some(cfg.assets.asset_of(s)),
        (None, Some(p)) => Some(
            p.file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "DATA".into()),
        ),
        (None, None) => None,
    }
}

/// Resolves strategy, params and candles from a CSV or the optimize database. `purpose`
/// names the consumer in a refusal (a strategy that needs funding or open-interest history
/// this source lacks); `reads_extras`: whether the consumer feeds stored funding and open
/// interest to the strategy (a sweep reads candles only).
pub fn load(
    cfg: &Config,
    a: &Request,
    purpose: Option<&str>,
    reads_extras: bool,
) -> Result<Loaded, ResolveError> {
    let spec = strategy_spec(&a.strategy)?;
    let asset =
        asset_of(cfg, a.symbol.as_deref(), a.data.as_deref()).ok_or(ResolveError::NoSource)?;
    let entry = cfg.strategies.strategies.get(spec.name);
    let cfg_tf = entry.map(|e| e.params_for(&asset).1);
    let base = base_params(cfg, spec, &asset)?;
    let kv = match &a.params {
        Some(s) => parse_overrides(spec, s)?,
        None => Vec::new(),
    };
    let params = base
        .with_overrides(spec.name, spec.params, &kv)
        .map_err(|e| ResolveError::Override(e.to_string()))?;

    let (mut funding, mut oi): (Vec<FundingPoint>, Vec<OiPoint>) = (Vec::new(), Vec::new());
    let mut warnings: Vec<String>;
    let label;
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
        label = name;
        (candles, k.timeframe, "file".to_string())
    } else {
        let tf = a.timeframe.or(cfg_tf).unwrap_or(Timeframe::H1);
        let exchange = a.exchange.unwrap_or(cfg.main.optimize.exchange);
        let db = cfg.resolve(Path::new(&cfg.main.optimize.db));
        let symbol = cfg.assets.symbol(&asset);
        let st = load_from_db(&db, exchange, &symbol, tf, a.days)?;
        label = format!("{}: {exchange} {symbol} {tf}", db.display());
        warnings = scalp_core::quality::warnings_or_strict(&label, &st.candles, tf, a.strict)?;
        if let Some(from) = st.resampled_from {
            warnings.push(format!(
                "{}: no {tf} series stored: {from} candles resampled to {tf}",
                db.display()
            ));
        }
        if reads_extras {
            funding = st.funding;
            oi = st.oi;
        }
        (st.candles, tf, exchange.to_string())
    };
    if candles.is_empty() {
        return Err(ResolveError::EmptyPeriod { asset, timeframe });
    }
    let source = match (purpose, &a.data) {
        (Some(p), _) => p.to_string(),
        (None, Some(p)) => p.display().to_string(),
        (None, None) => format!(
            "the stored {exchange} {} {timeframe} data",
            cfg.assets.symbol(&asset)
        ),
    };
    if let Some(why) =
        scalp_strategy::registry::refusal(spec, &source, !funding.is_empty(), !oi.is_empty())
    {
        return Err(ResolveError::Refused(why));
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
        label,
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

/// What [`load_from_db`] read.
pub struct Stored {
    pub candles: Vec<Candle>,
    pub funding: Vec<FundingPoint>,
    pub oi: Vec<OiPoint>,
    /// The stored timeframe the candles were resampled from (none stored at the one asked).
    pub resampled_from: Option<Timeframe>,
}

/// Reads stored candles, funding rates and open interest of `exchange`/`symbol`/`tf` from the
/// optimize database (scalp-store tables); the candles' spacing is verified against `tf`.
pub fn load_from_db(
    db: &Path,
    ex: Exchange,
    symbol: &str,
    tf: Timeframe,
    days: Option<u32>,
) -> Result<Stored, ResolveError> {
    if !db.exists() {
        return Err(ResolveError::NoDatabase(db.to_path_buf()));
    }
    let conn = scalp_store::open_readonly(db)?;
    let (candles, resampled_from) =
        stored_candles(&conn, &db.display().to_string(), ex, symbol, tf, days)?;
    let Some(last) = candles.last() else {
        return Err(ResolveError::NoStoredCandles {
            db: db.to_path_buf(),
            key: SeriesKey {
                exchange: ex,
                symbol,
                timeframe: tf,
            }
            .to_string(),
        });
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
) -> Result<(Vec<Candle>, Option<Timeframe>), ResolveError> {
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
