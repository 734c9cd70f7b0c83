//! Indicators. Every indicator has a streaming form (`update` one value or candle at a time,
//! `None` during warm-up) and a batch form over a slice (`NaN` during warm-up); the batch form
//! drives the streaming form, so the two agree bit for bit. Streaming updates are O(1) (the
//! rolling max/min amortised O(1)) and never allocate.
//!
//! Conventions (TA-Lib's, with the few deliberate differences named) are in
//! `docs/INDICATORS.md`.

pub mod channel;
pub mod ma;
pub mod oscillators;
pub mod table;
pub mod trend;
pub mod volatility;
pub mod vwap;

pub use channel::{
    Channel, ChannelSeries, Donchian, RollingExtreme, RollingMax, RollingMin, donchian,
    rolling_max, rolling_min,
};
pub use ma::{Ema, Sma, ema, sma};
pub use oscillators::{Roc, Rsi, roc, rsi};
/// Resampling lives in scalp-core (the one candle aggregator, used by every candle reader).
pub use scalp_core::resample::{self, Resampler, resample};
pub use table::{TABLE_COLUMNS, Table, TableError, table, write_table_csv};
pub use trend::{
    Adx, Dmi, DmiSeries, Supertrend, SupertrendSeries, SupertrendValue, adx, supertrend,
};
pub use volatility::{
    Atr, BandSeries, Bands, Bollinger, Keltner, MeanStd, RollingStats, TrueRange, ZScore, atr,
    bollinger, keltner, true_range, zscore,
};
pub use vwap::{Vwap, VwapAnchor, vwap};
