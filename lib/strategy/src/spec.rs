//! What a strategy declares to the registry: its name, summary, the inputs it needs and its
//! parameters. Kept apart from `registry` (which lists the strategies) so that the strategies
//! depend on this module and the registry on them, without a cycle.

use crate::Strategy;
use crate::params::{ParamSpec, Params};
use scalp_core::Timeframe;

/// A market input beyond candles that a strategy cannot work without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Stored funding-rate history (`funding_rates`; `optimize fetch-funding`).
    FundingHistory,
    /// Stored open-interest history (`open_interest`; `optimize fetch-oi`).
    OpenInterest,
}

impl Input {
    /// What it is, for messages and `optimize strategies`.
    pub fn describe(self) -> &'static str {
        match self {
            Input::FundingHistory => "funding-rate history",
            Input::OpenInterest => "open-interest history",
        }
    }
    /// The command that stores it.
    pub fn fetch_command(self) -> &'static str {
        match self {
            Input::FundingHistory => "optimize fetch-funding",
            Input::OpenInterest => "optimize fetch-oi",
        }
    }
}

/// A registered strategy: its parameters and a constructor.
pub struct StrategySpec {
    pub name: &'static str,
    pub summary: &'static str,
    /// Inputs besides candles without which it cannot trade (it is refused when they are
    /// missing, instead of making no trade and being graded).
    pub needs: &'static [Input],
    pub params: &'static [ParamSpec],
    pub build: fn(&Params, Timeframe) -> Box<dyn Strategy>,
}

impl StrategySpec {
    /// A valid parameter set drawn from uniforms `u` in [0, 1), one per parameter: floats
    /// across their range, integers biased towards small values (`u³`, the range capped at
    /// `int_cap`) so that warm-ups fit a test sample, booleans and choices evenly. The sampler
    /// of the randomized strategy tests.
    pub fn sample_params(&self, u: &[f64], int_cap: f64) -> Params {
        use crate::params::ParamKind;
        let kv: Vec<(String, f64)> = self
            .params
            .iter()
            .zip(u)
            .map(|(p, &u)| {
                let x = match p.kind {
                    ParamKind::Float => p.min + u * (p.max - p.min),
                    ParamKind::Int => {
                        (p.min + (u * u * u * (p.max.min(int_cap) - p.min)).floor()).min(p.max)
                    }
                    ParamKind::Bool => (u < 0.5) as u8 as f64,
                    ParamKind::Choice => (u * p.choices.len() as f64).floor().min(p.max),
                };
                (p.name.to_string(), x)
            })
            .collect();
        Params::defaults(self.params)
            .with_overrides(self.name, self.params, &kv)
            .expect("sampled within the declared ranges")
    }
}
