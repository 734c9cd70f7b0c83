//! Every strategy by name, with its parameter declarations.

use crate::params::{ParamError, ParamSpec, Params};
use crate::strategies;
use crate::Strategy;
use scalp_core::Timeframe;

/// A registered strategy: its parameters and a constructor.
pub struct StrategySpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    pub build: fn(&Params, Timeframe) -> Box<dyn Strategy>,
}

/// All strategies, in documentation order.
pub static SPECS: &[StrategySpec] = &[strategies::sma_cross::SPEC];

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
