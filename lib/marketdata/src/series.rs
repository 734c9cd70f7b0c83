//! Owned series identity (exchange, symbol, timeframe).

use scalp_core::{Exchange, Timeframe};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One candle series: what the store keys candles by (with the open time).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Series {
    pub exchange: Exchange,
    pub symbol: String,
    pub timeframe: Timeframe,
}

impl Series {
    pub fn new(exchange: Exchange, symbol: impl Into<String>, timeframe: Timeframe) -> Self {
        Series {
            exchange,
            symbol: symbol.into(),
            timeframe,
        }
    }

    /// The store's borrowed key.
    pub fn key(&self) -> scalp_store::SeriesKey<'_> {
        scalp_store::SeriesKey {
            exchange: self.exchange,
            symbol: &self.symbol,
            timeframe: self.timeframe,
        }
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.exchange, self.symbol, self.timeframe)
    }
}
