//! One module per strategy; rules in `docs/STRATEGIES.md`.
pub mod bollinger_mr;
pub mod common;
pub mod envelope_dca;
pub mod funding;
pub mod grid_atr;
pub mod grid_boltrend;
pub mod grid_funding;
pub mod grid_multi_tf;
pub mod grid_range_atr;
pub mod grid_trend;
pub mod liquidation;
pub mod momentum;
pub mod sma_cross;
pub mod vwap_rsi;
