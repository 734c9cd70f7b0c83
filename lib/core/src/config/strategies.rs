use crate::Timeframe;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `strategies.toml`: one table per strategy, keyed by strategy name.
///
/// ```toml
/// [grid_atr]
/// enabled = true
/// live_eligible = false
/// leverage = 3.0
/// timeframe = "1h"
/// assets = ["BTC", "ETH"]          # empty = all of assets.toml
/// [grid_atr.params]
/// atr_period = 14
/// [grid_atr.per_asset.BTC]         # overrides of params (and timeframe) per asset
/// atr_period = 10
/// ```
/// The strategy crate validates `params` against each strategy's schema (names, types, ranges).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StrategiesConfig {
    pub strategies: BTreeMap<String, StrategyEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyEntry {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub live_eligible: bool,
    #[serde(default = "default_leverage")]
    pub leverage: f64,
    pub timeframe: Timeframe,
    #[serde(default)]
    pub assets: Vec<String>,
    #[serde(default)]
    pub params: toml::Table,
    #[serde(default)]
    pub per_asset: BTreeMap<String, toml::Table>,
}

fn default_leverage() -> f64 {
    1.0
}

impl StrategyEntry {
    /// Params for one asset: base params with that asset's overrides applied (the `timeframe`
    /// key in an override is returned separately).
    pub fn params_for(&self, asset: &str) -> (toml::Table, Timeframe) {
        let mut p = self.params.clone();
        let mut tf = self.timeframe;
        if let Some(o) = self.per_asset.get(asset) {
            for (k, v) in o {
                if k == "timeframe" {
                    if let Some(t) = v.as_str().and_then(|s| s.parse().ok()) {
                        tf = t;
                    }
                } else {
                    p.insert(k.clone(), v.clone());
                }
            }
        }
        (p, tf)
    }
}

/// `param_grids.toml`: per strategy, the optimizer's grid and walk-forward windows. Kept as raw
/// tables here; the schema and its validation are `scalp_strategy::grid::WfoSpec` and
/// `scalp_strategy::check`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParamGridsConfig {
    pub grids: BTreeMap<String, toml::Table>,
}
