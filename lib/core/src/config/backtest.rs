use serde::{Deserialize, Serialize};

/// `[backtest]`: defaults of the event-driven engine (fees as on Bitget USDT-M, VIP 0).
/// The exact conventions are in `docs/BACKTEST.md`; the engine crate owns their meaning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BacktestConfig {
    /// Maker fee rate (limit orders), fraction of notional.
    pub maker_fee: f64,
    /// Taker fee rate (market orders), fraction of notional.
    pub taker_fee: f64,
    /// Slippage applied to market orders, fraction of price (adverse).
    pub slippage: f64,
    /// Funding rate per 8 h used when no stored funding history covers the period.
    pub default_funding_rate: f64,
    pub initial_capital: f64,
    pub leverage: f64,
    /// Maintenance-margin rate of the isolated-margin liquidation price (Bitget's first tier
    /// for BTCUSDT is 0.4 %).
    pub maintenance_margin: f64,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            maker_fee: 0.0002,
            taker_fee: 0.0006,
            slippage: 0.0005,
            default_funding_rate: 0.0001,
            initial_capital: 1000.0,
            leverage: 3.0,
            maintenance_margin: 0.004,
        }
    }
}

impl BacktestConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), super::ConfigError> {
        let m = self.maintenance_margin;
        if !(m.is_finite() && (0.0..0.5).contains(&m)) {
            return Err(super::ConfigError::invalid(
                file,
                Some(text),
                "backtest.maintenance_margin",
                format!("must be in [0, 0.5), got {m}"),
            ));
        }
        Ok(())
    }
}

/// `[optimize]`: the optimizer's defaults (the optimizer crate owns their meaning).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizeConfig {
    /// Local SQLite used by `optimize` on the workstation (relative to the config dir).
    pub db: String,
    /// Directory of JSON reports (relative to the config dir).
    pub reports_dir: String,
    /// Days of the second exchange's recent data used for validation.
    pub validation_days: u32,
    /// Exchange the optimizer reads history from by default (`binance` or `bitget`; the other
    /// one validates).
    pub exchange: crate::Exchange,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Bar-permuted histories of `optimize run`'s null test (0 = skip it; grades are then at
    /// most C). At least 99 for the live gate's p ≤ 0.01.
    pub null_permutations: usize,
}

impl Default for OptimizeConfig {
    fn default() -> Self {
        OptimizeConfig {
            db: "optimize.db".into(),
            reports_dir: "reports".into(),
            validation_days: 90,
            exchange: crate::Exchange::Binance,
            threads: 0,
            null_permutations: 99,
        }
    }
}
