//! Volume-weighted average price on the typical price `(h+l+c)/3`.

use scalp_core::Candle;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// Where the VWAP accumulation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VwapAnchor {
    /// Cumulative from the first bar fed.
    Cumulative,
    /// Reset at 00:00 UTC: the bar whose open time is the first of a new UTC day starts a new
    /// session.
    UtcDay,
}

/// VWAP = Σ(tp·v)/Σ(v) over the session, `tp = (h+l+c)/3`. `None` while the session volume
/// is exactly 0 (no trade yet: the average is undefined).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vwap {
    anchor: VwapAnchor,
    day: i64,
    pv: f64,
    vol: f64,
}

impl Vwap {
    pub fn new(anchor: VwapAnchor) -> Vwap {
        Vwap {
            anchor,
            day: i64::MIN,
            pv: 0.0,
            vol: 0.0,
        }
    }
    /// Cumulative VWAP from the first bar.
    pub fn cumulative() -> Vwap {
        Vwap::new(VwapAnchor::Cumulative)
    }
    /// Session VWAP reset at 00:00 UTC.
    pub fn utc_day() -> Vwap {
        Vwap::new(VwapAnchor::UtcDay)
    }
    #[inline]
    pub fn update(&mut self, c: &Candle) -> Option<f64> {
        if self.anchor == VwapAnchor::UtcDay {
            let d = c.open_time.div_euclid(DAY_MS);
            if d != self.day {
                self.day = d;
                self.pv = 0.0;
                self.vol = 0.0;
            }
        }
        let tp = (c.high + c.low + c.close) / 3.0;
        self.pv += tp * c.volume;
        self.vol += c.volume;
        (self.vol > 0.0).then(|| self.pv / self.vol)
    }
}

/// Batch VWAP (`NaN` while the session volume is 0).
pub fn vwap(candles: &[Candle], anchor: VwapAnchor) -> Vec<f64> {
    let mut s = Vwap::new(anchor);
    candles
        .iter()
        .map(|c| s.update(c).unwrap_or(f64::NAN))
        .collect()
}
