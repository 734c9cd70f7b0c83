//! Every strategy by name, with its parameter declarations.

use crate::Strategy;
use crate::params::{ParamError, ParamKind, Params};
use crate::strategies;
// The spec types live in `spec` (which the strategies import), so that registry → strategies is
// the only edge between them: no module cycle.
pub use crate::spec::{Input, StrategySpec};
use scalp_core::Timeframe;
use scalp_core::config::{StrategiesConfig, StrategyEntry};

/// The inputs `spec` needs that the data lacks (`has_funding`: any stored funding-rate point;
/// `has_oi`: any open-interest point).
pub fn missing_inputs(spec: &StrategySpec, has_funding: bool, has_oi: bool) -> Vec<Input> {
    spec.needs
        .iter()
        .copied()
        .filter(|i| match i {
            Input::FundingHistory => !has_funding,
            Input::OpenInterest => !has_oi,
        })
        .collect()
}

/// Why `spec` cannot run on `source` (e.g. `data/x.csv`, `binance BTCUSDT 1h`), or `None`.
pub fn refusal(
    spec: &StrategySpec,
    source: &str,
    has_funding: bool,
    has_oi: bool,
) -> Option<String> {
    let missing = missing_inputs(spec, has_funding, has_oi);
    if missing.is_empty() {
        return None;
    }
    let what: Vec<&str> = missing.iter().map(|i| i.describe()).collect();
    let how: Vec<&str> = missing.iter().map(|i| i.fetch_command()).collect();
    Some(format!(
        "strategy `{}` needs {}, which {source} does not provide (without it the strategy makes no trade, and a grade of it would mean nothing): store it with {} and backtest from the database (`optimize backtest --strategy NAME --symbol ASSET`, no --data)",
        spec.name,
        what.join(" and "),
        how.join(" / ")
    ))
}

/// All strategies, in documentation order.
pub static SPECS: &[StrategySpec] = &[
    strategies::sma_cross::SPEC,
    strategies::vwap_rsi::SPEC,
    strategies::momentum::SPEC,
    strategies::bollinger_mr::SPEC,
    strategies::funding::SPEC,
    strategies::liquidation::SPEC,
    strategies::envelope_dca::SPEC,
    strategies::envelope_dca::SPEC_SHORT,
    strategies::grid_atr::SPEC,
    strategies::grid_range_atr::SPEC,
    strategies::grid_trend::SPEC,
    strategies::grid_boltrend::SPEC,
    strategies::grid_multi_tf::SPEC,
    strategies::grid_funding::SPEC,
];

/// Names of all registered strategies.
pub static STRATEGY_NAMES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| SPECS.iter().map(|s| s.name).collect());

pub fn spec(name: &str) -> Option<&'static StrategySpec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Builds a strategy from validated params for a primary timeframe.
pub fn build(name: &str, params: &Params, tf: Timeframe) -> Result<Box<dyn Strategy>, ParamError> {
    let s = spec(name).ok_or_else(|| ParamError::UnknownStrategy(name.into()))?;
    Ok((s.build)(params, tf))
}

/// Validated params and timeframe of a `strategies.toml` entry, for one asset (its
/// `per_asset` overrides applied) or for the base table (`asset = None`). Errors name the
/// strategy (and `per_asset.<ASSET>` when the override is at fault) and the parameter.
pub fn params_for(
    name: &str,
    entry: &StrategyEntry,
    asset: Option<&str>,
) -> Result<(Params, Timeframe), ParamError> {
    let s = spec(name).ok_or_else(|| ParamError::UnknownStrategy(name.into()))?;
    let base = Params::from_toml(name, s.params, &entry.params)?;
    let Some(asset) = asset else {
        return Ok((base, entry.timeframe));
    };
    let (table, tf) = entry.params_for(asset);
    if let Some(tf_val) = entry.per_asset.get(asset).and_then(|o| o.get("timeframe"))
        && tf_val
            .as_str()
            .and_then(|t| t.parse::<Timeframe>().ok())
            .is_none()
    {
        return Err(ParamError::Invalid {
            strategy: format!("{name} (per_asset.{asset})"),
            name: "timeframe".into(),
            msg: format!("`{tf_val}` is not a timeframe (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d)"),
        });
    }
    let table: toml::Table = table
        .into_iter()
        .filter(|(k, _)| k != "timeframe")
        .collect();
    let p = Params::from_toml(&format!("{name} (per_asset.{asset})"), s.params, &table)?;
    Ok((p, tf))
}

/// Validates every entry of a `strategies.toml`: known strategy names, every parameter of the
/// base table and of every `per_asset` override.
pub fn validate_config(cfg: &StrategiesConfig) -> Result<(), ParamError> {
    for (name, entry) in &cfg.strategies {
        params_for(name, entry, None)?;
        for asset in entry.per_asset.keys() {
            params_for(name, entry, Some(asset))?;
        }
    }
    Ok(())
}

fn fmt_num(kind: ParamKind, x: f64) -> String {
    match kind {
        ParamKind::Int => format!("{}", x as i64),
        ParamKind::Bool => (x != 0.0).to_string(),
        _ => format!("{x}"),
    }
}

/// The Markdown parameter table of a strategy (as in `docs/STRATEGIES.md`, which a test keeps
/// in sync with the declarations).
pub fn params_markdown(s: &StrategySpec) -> String {
    let mut out =
        String::from("| param | type | default | range | meaning |\n|---|---|---|---|---|\n");
    for p in s.params {
        let (kind, default, range) = match p.kind {
            ParamKind::Choice => (
                "choice",
                p.choices[p.default as usize].to_string(),
                p.choices.join(" \\| "),
            ),
            k => (
                match k {
                    ParamKind::Int => "int",
                    ParamKind::Float => "float",
                    _ => "bool",
                },
                fmt_num(k, p.default),
                format!("{} ..= {}", fmt_num(k, p.min), fmt_num(k, p.max)),
            ),
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {default} | {range} | {} |\n",
            p.name, p.doc
        ));
    }
    out
}
