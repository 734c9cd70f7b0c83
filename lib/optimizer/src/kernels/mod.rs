//! Dedicated fast kernels. A kernel evaluates parameter combinations without allocating in
//! its loop and must produce exactly the trades of the event-driven engine (`scalp-backtest`)
//! for the same candles, parameters and engine settings — checked by the property tests in
//! `lib/optimizer/tests/parity.rs`. Settings a kernel does not model make it decline
//! ([`crate::sweep::kernel_cost`] returns `None`), and the optimizer falls back to the event
//! engine for that run (parity by construction).

pub mod funding;
pub mod sma_cross;

use serde::Serialize;

/// One closed trade as produced by a kernel (indices into the window's candles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KTrade {
    pub entry_idx: u32,
    pub exit_idx: u32,
    pub entry_price: f64,
    pub exit_price: f64,
    pub qty: f64,
    /// Fee paid on entry.
    pub entry_fee: f64,
    /// Fees paid on entry + exit.
    pub fees: f64,
    /// Funding paid (> 0) or received (< 0) while open (the engine's `Trade::funding`).
    pub funding: f64,
    /// Net P&L (after fees and funding: the engine's `gross − fees − funding`).
    pub pnl: f64,
    /// Net P&L as a fraction of the equity before the entry.
    pub ret: f64,
}

/// Metrics of one combination over one window. `sharpe` and `max_dd` are only computed by
/// the full-metrics variant of a kernel (else NaN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KMetrics {
    pub final_equity: f64,
    pub n_trades: u32,
    pub wins: u32,
    pub gross_profit: f64,
    pub gross_loss: f64,
    pub fees: f64,
    /// Annualised Sharpe of daily equity returns (the engine's definition, docs/METRICS.md).
    pub sharpe: f64,
    /// Max drawdown of the per-candle equity (marked at the close), fraction of the peak.
    pub max_dd: f64,
}

impl KMetrics {
    pub fn return_pct(&self, capital: f64) -> f64 {
        (self.final_equity / capital - 1.0) * 100.0
    }
}
