//! The strategy interface shared by the backtest engine, the paper simulator and the live
//! executor, so that the three can never disagree.
//!
//! A strategy instance trades one asset. It is a deterministic state machine:
//! `closed candle(s) + its own state + the engine's view of its position → intents`.
//! No clock, no I/O, no randomness inside a strategy. The engine turns intents into orders
//! and fills (backtest/paper) or exchange requests (live) and reports fills back.
//!
//! Sizing is relative: an entry's `margin_frac` is the fraction of the runner's allocated
//! capital used as margin for that order; notional = margin × leverage. The engine converts it
//! to a quantity with the exchange's lot step.

pub mod check;
pub mod grid;
pub mod params;
pub mod registry;
pub mod spec;
pub mod state;
pub mod strategies;

pub use params::{ParamError, ParamKind, ParamSpec, Params};
pub use registry::{Input, STRATEGY_NAMES, StrategySpec, build, spec};
pub use state::{Fingerprint, StateError};

use scalp_core::{Candle, Timeframe};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
}

impl Side {
    /// +1 for long, −1 for short.
    pub fn sign(self) -> f64 {
        match self {
            Side::Long => 1.0,
            Side::Short => -1.0,
        }
    }
    pub fn opposite(self) -> Side {
        match self {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        }
    }
}

/// Which sides a strategy may trade (`--sides long|short|both`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sides {
    Long,
    Short,
    #[default]
    Both,
}

impl Sides {
    pub fn allows(self, s: Side) -> bool {
        matches!(
            (self, s),
            (Sides::Both, _) | (Sides::Long, Side::Long) | (Sides::Short, Side::Short)
        )
    }
}

/// Why a position was closed (recorded on every trade).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Signal,
    TakeProfit,
    StopLoss,
    Liquidation,
    KillSwitch,
    EndOfData,
}

/// Identifier of a resting grid level, chosen by the strategy (stable across candles), so that
/// live clientOids can be derived from it.
pub type LevelId = u32;

/// What a strategy asks the engine to do after a closed candle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Intent {
    /// Rest a limit entry order (grid level). Replaces a level with the same id.
    /// Fills when a later candle trades through `price` (maker fee).
    PlaceLevel {
        id: LevelId,
        side: Side,
        price: f64,
        margin_frac: f64,
    },
    /// Remove a resting level (no-op if absent or already filled).
    CancelLevel {
        id: LevelId,
    },
    /// Cancel every resting level.
    CancelAllLevels,
    /// Enter at market: fills at the next candle's open ± slippage (taker fee).
    MarketEntry {
        side: Side,
        margin_frac: f64,
    },
    /// Close the whole position at market (next open ± slippage, taker fee).
    ClosePosition {
        reason: ExitReason,
    },
    /// Set/move the protective stop of the whole position (taker on trigger).
    SetStop {
        price: f64,
    },
    /// Set/move the take-profit of the whole position: a resting limit (maker on fill).
    SetTakeProfit {
        price: f64,
    },
    /// Remove stop and/or take-profit.
    ClearStop,
    ClearTakeProfit,
}

/// The engine's view of the strategy's position, passed on every candle.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PositionView {
    /// `None` when flat.
    pub side: Option<Side>,
    /// Base quantity (> 0 when in a position).
    pub qty: f64,
    /// Volume-weighted average entry price.
    pub avg_entry: f64,
    /// Number of entry fills that built the position (grid levels filled).
    pub entries: u32,
    /// Open time of the candle in which the position was opened.
    pub opened_at: i64,
    pub stop: Option<f64>,
    pub take_profit: Option<f64>,
}

impl PositionView {
    pub fn is_flat(&self) -> bool {
        self.side.is_none()
    }
}

/// A fill reported back to the strategy (optional hook: most strategies read `PositionView`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FillView {
    pub level: Option<LevelId>,
    pub side: Side,
    pub price: f64,
    pub qty: f64,
    pub is_exit: bool,
    pub time: i64,
}

/// Extra market inputs some strategies use. Values are the latest known *at or before* the
/// close of the current candle (never later).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MarketExtras {
    /// Funding rate per 8 h of the last settled funding at or before the candle close.
    pub funding_rate: Option<f64>,
    /// Open interest (base coin) at or before the candle close.
    pub open_interest: Option<f64>,
}

/// Everything a strategy sees when a candle of its primary timeframe closes.
pub struct Context<'a> {
    pub asset: &'a str,
    /// The primary timeframe's candles, oldest first; the last one is the candle that just
    /// closed. Only closed candles are ever in here.
    pub candles: &'a [Candle],
    /// Higher timeframes the strategy declared, each with its closed candles up to and
    /// including the last one that closed at or before the current candle's close.
    pub higher: &'a [(Timeframe, &'a [Candle])],
    pub position: PositionView,
    pub extras: MarketExtras,
}

impl Context<'_> {
    /// The candle that just closed.
    pub fn last(&self) -> &Candle {
        self.candles
            .last()
            .expect("context always holds the closed candle")
    }
}

/// A strategy instance for one asset.
///
/// # State and restarts
///
/// [`save_state`](Strategy::save_state) snapshots the whole strategy value (indicators,
/// level book, cursors, counters, cached values) and [`load_state`](Strategy::load_state)
/// replaces the whole value with a snapshot, so that a paper runner killed after any closed
/// candle continues with bit-identical intents: the engine saves after `on_candle` (and the
/// fills of the next candle, if any, are reported to the restored instance). A snapshot
/// carries a header (format version, registry name, [`Fingerprint`] of name + timeframe +
/// params, body length and checksum); `load_state` refuses with a [`StateError`], never a
/// panic, bytes that are corrupt or truncated, of another strategy, or of the same strategy
/// built with other params or another timeframe. See [`state`] and `docs/STRATEGIES.md`.
///
/// # Bounded history
///
/// The engine may cut older candles from the front of [`Context::candles`] (and of every
/// higher timeframe's slice in [`Context::higher`]). A strategy must emit the same intents
/// whatever is cut, as long as at least [`history_needed`](Strategy::history_needed) trailing
/// primary candles and [`higher_history_needed`](Strategy::higher_history_needed) trailing
/// candles of each higher timeframe are present. So it must not depend on `candles.len()`,
/// on absolute indices into the slices, or on how much older history happens to be there
/// (indicator state lives in the strategy, fed one candle at a time). A fresh instance still
/// needs [`warmup`](Strategy::warmup) candles fed through `on_candle` before its first intent.
pub trait Strategy: Send {
    /// Registry name (`grid_atr`, `sma_cross`, ...).
    fn name(&self) -> &'static str;
    /// Primary timeframe first, then any higher timeframes it reads from `Context::higher`.
    fn timeframes(&self) -> Vec<Timeframe>;
    /// Closed candles of the primary timeframe needed before the first intent can be emitted.
    fn warmup(&self) -> usize;
    /// Trailing primary candles `on_candle` reads from `Context::candles` (≥ 1: the closed
    /// candle). Any older candle may be cut without changing the intents.
    fn history_needed(&self) -> usize;
    /// Trailing candles of each higher timeframe `on_candle` reads from `Context::higher`
    /// (0 when it declares none). Any older higher candle may be cut without changing the
    /// intents.
    fn higher_history_needed(&self) -> usize;
    /// Called once per closed primary candle, in order. Push intents into `out`
    /// (cleared by the caller).
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>);
    /// Called for every fill of this strategy's orders, before the next `on_candle`.
    fn on_fill(&mut self, _fill: &FillView) {}
    /// A snapshot of the whole strategy state (header + CBOR body; bit-exact for `f64`).
    fn save_state(&self) -> Result<Vec<u8>, StateError>;
    /// Replaces the whole strategy value with the snapshot `bytes`. Refuses (leaving `self`
    /// untouched) corrupt or truncated bytes, a snapshot of another strategy, and a snapshot
    /// of this strategy built with other params or another timeframe.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), StateError>;
}
