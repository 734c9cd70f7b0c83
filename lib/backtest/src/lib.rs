//! Scalp Radar event-driven backtest engine.
//!
//! One runner = one strategy instance trading one asset with its own capital
//! ([`run_backtest`]). The engine turns the strategy's intents into fills with the rules in
//! `docs/BACKTEST.md` (fills, fees, slippage, funding, isolated margin and liquidation,
//! sizing, kill switch, regime) and computes the metrics in `docs/METRICS.md`.
//! Portable: no Linux-only dependency (used by `optimize` on Windows).

pub mod config;
pub mod engine;
pub mod input;
pub mod lookahead;
pub mod metrics;
pub mod regime;
pub mod report;
pub mod resolve;
pub mod store;
pub mod synth;
pub mod trade;

pub use config::{
    BacktestConfig, EndFill, FillMode, KillSwitch, RegimeConfig, SettingsError, Sizing,
};
pub use engine::{
    BacktestError, BacktestResult, Bar, Engine, EngineEvent, EngineState, KillEvent, LiveFill,
    Trade, check_timeframes, run_backtest,
};
pub use input::{BacktestInput, FundingPoint, OiPoint};
pub use metrics::{Metrics, TradeStats, compute_metrics};
pub use regime::Regime;
