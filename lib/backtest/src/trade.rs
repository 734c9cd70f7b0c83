//! One closed position, the record the engine produces and the metrics read. Kept apart from
//! `engine` so that `metrics` does not depend on the engine (no module cycle).

use crate::regime::Regime;
use scalp_strategy::{ExitReason, Side};
use serde::{Deserialize, Serialize};

/// One closed position (flat → position → flat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub side: Side,
    /// Index of the primary candle during which (or at whose close) the first entry filled.
    pub entry_index: usize,
    /// Index of the primary candle during which (or at whose close) the exit filled.
    pub exit_index: usize,
    /// Time of the first entry fill (ms): the candle's open time for fills at the open or
    /// inside a candle, its close time (`open + tf`) for fills at the close.
    pub entry_time: i64,
    pub exit_time: i64,
    /// Volume-weighted average entry price (fill prices, slippage included).
    pub entry_price: f64,
    /// Exit fill price (slippage included; the liquidation price for liquidations).
    pub exit_price: f64,
    /// Base quantity closed.
    pub qty: f64,
    /// Entry fills that built the position.
    pub entries: u32,
    /// Largest isolated margin held by the position.
    pub margin: f64,
    /// Entry + exit fees (and the liquidation fee, see docs).
    pub fees: f64,
    /// Funding paid (> 0) or received (< 0) while open.
    pub funding: f64,
    /// Cost of slippage: Σ qty × |fill − reference price| over the trade's taker fills.
    pub slippage: f64,
    /// `qty × (exit − entry) × side` (fills include slippage; fees and funding excluded).
    pub gross_pnl: f64,
    /// `gross_pnl − fees − funding`.
    pub net_pnl: f64,
    pub exit_reason: ExitReason,
    pub regime: Regime,
}
